// SPDX-License-Identifier: MIT
/*
 * A boot_source on the volume keel.efi was loaded from, through the
 * firmware's Simple File System protocol (FAT on a stick, an ESP, a disk).
 */
#include <arch/types.h>
#include <keel/lib.h>

#include "config.h"
#include "loader.h"
#include "source.h"

#define FILE_CHUNK (1u << 20) /* bytes per Read() call, hashed as they come */

static EFI_GUID loaded_image_guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
static EFI_GUID simple_fs_guid = EFI_SIMPLE_FILE_SYSTEM_PROTOCOL_GUID;
static EFI_GUID file_info_guid = EFI_FILE_INFO_ID;

static EFI_FILE_HANDLE volume_root;

/* Open @dir@path (ASCII, '/' or '\' separators) from the volume root. */
static EFI_STATUS volume_open(const char *dir, const char *path, EFI_FILE_HANDLE *f)
{
	CHAR16 name[SOURCE_DIR_MAX + CFG_PATH_MAX];
	size_t d = strnlen(dir, SOURCE_DIR_MAX), n = strnlen(path, CFG_PATH_MAX), i;

	if (d == SOURCE_DIR_MAX || n == CFG_PATH_MAX)
		return EFI_INVALID_PARAMETER;
	/* dir ends in a separator; a path's own leading one is dropped. */
	if (n && (path[0] == '/' || path[0] == '\\'))
		path++, n--;
	for (i = 0; i < d; i++)
		name[i] = (CHAR16)(u8)dir[i];
	for (i = 0; i < n; i++)
		name[d + i] = path[i] == '/' ? L'\\' : (CHAR16)(u8)path[i];
	name[d + n] = 0;
	return volume_root->Open(volume_root, f, name, EFI_FILE_MODE_READ, 0);
}

/* The size of an open regular file; EFI_ACCESS_DENIED for a directory. */
static EFI_STATUS volume_file_size(EFI_FILE_HANDLE f, u64 *size)
{
	u64 buf[1024 / 8]; /* the info and a leaf name of up to 255 UCS-2 chars */
	UINTN len = sizeof(buf);
	EFI_FILE_INFO *info = (EFI_FILE_INFO *)buf;
	EFI_STATUS st;

	st = f->GetInfo(f, &file_info_guid, &len, info);
	if (EFI_ERROR(st))
		return st;
	if (info->Attribute & EFI_FILE_DIRECTORY)
		return EFI_ACCESS_DENIED;
	*size = info->FileSize;
	return EFI_SUCCESS;
}

static EFI_STATUS volume_size(struct boot_source *src, const char *path, u64 *size)
{
	EFI_FILE_HANDLE f;
	EFI_STATUS st;

	st = volume_open(src->dir, path, &f);
	if (EFI_ERROR(st))
		return st;
	st = volume_file_size(f, size);
	f->Close(f);
	return st;
}

static EFI_STATUS volume_read(struct boot_source *src, const char *path, void *buf, u64 size,
			      struct sha256 *hash)
{
	EFI_FILE_HANDLE f;
	EFI_STATUS st;
	u64 done = 0;

	st = volume_open(src->dir, path, &f);
	if (EFI_ERROR(st))
		return st;
	while (done < size) {
		UINTN n = (UINTN)MIN(size - done, (u64)FILE_CHUNK);

		st = f->Read(f, &n, (u8 *)buf + done);
		if (EFI_ERROR(st))
			break;
		if (n == 0) {
			st = EFI_END_OF_FILE;
			break;
		}
		sha256_update(hash, (u8 *)buf + done, n);
		done += n;
	}
	f->Close(f);
	return st;
}

static void volume_close(struct boot_source *src)
{
	if (volume_root)
		volume_root->Close(volume_root);
	volume_root = NULL;
}

/* "\<arch>\" if it holds a keel.cfg, else the root. */
static void volume_pick_dir(struct boot_source *src)
{
	static const char arch_dir[] = "\\" KEEL_ARCH_NAME "\\";
	u64 size;

	memcpy(src->dir, arch_dir, sizeof(arch_dir));
	if (volume_size(src, "keel.cfg", &size) == EFI_SUCCESS)
		return;
	memcpy(src->dir, "\\", 2);
}

bool source_volume_open(struct boot_source *src)
{
	EFI_SIMPLE_FILE_SYSTEM_PROTOCOL *fs;
	EFI_LOADED_IMAGE *li;
	EFI_STATUS st;

	memset(src, 0, sizeof(*src));
	st = efi_bs->HandleProtocol(efi_image, &loaded_image_guid, (void **)&li);
	if (!EFI_ERROR(st))
		st = efi_bs->HandleProtocol(li->DeviceHandle, &simple_fs_guid, (void **)&fs);
	if (EFI_ERROR(st))
		return false; /* not loaded from a volume: perhaps from the network */
	st = fs->OpenVolume(fs, &volume_root);
	if (EFI_ERROR(st)) {
		efi_printf("keel: loader: error: cannot open the volume keel.efi was loaded "
			   "from: %s\n",
			   efi_strerror(st));
		return false;
	}
	memcpy(src->where, "the boot volume", sizeof("the boot volume"));
	src->size = volume_size;
	src->read = volume_read;
	src->close = volume_close;
	volume_pick_dir(src);
	return true;
}
