// SPDX-License-Identifier: MIT
/*
 * A boot_source on the TFTP server keel.efi was PXE-booted from, through the
 * firmware's PXE base code (EFI_PXE_BASE_CODE_PROTOCOL.Mtftp). The server
 * and the boot file come from the DHCP (or proxy DHCP) answer the firmware
 * booted with; keel.cfg and the paths in it are read from the boot file's
 * directory ("x86_64/keel.efi" -> "x86_64/keel.cfg").
 *
 * A file's size comes first (TFTP's tsize option), so the buffer is
 * allocated once; a transfer that ends short of it is a truncated file.
 */
#include <arch/types.h>
#include <keel/lib.h>

#include "config.h"
#include "loader.h"
#include "source.h"

#define TFTP_BLOCK 1468u /* fits a 1500-byte MTU with IP, UDP and TFTP headers */
#define TFTP_NAME_MAX (SOURCE_DIR_MAX + CFG_PATH_MAX)
#define TFTP_LARGE (4u << 20) /* files at least this big are announced before the transfer */

static EFI_GUID loaded_image_guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
static EFI_GUID pxe_guid = EFI_PXE_BASE_CODE_PROTOCOL_GUID;

static EFI_PXE_BASE_CODE_PROTOCOL *pxe;
static EFI_IP_ADDRESS server;

/* @src's dir + @path ('\' -> '/', a leading separator dropped), NUL-terminated. */
static bool tftp_name(const struct boot_source *src, const char *path, UINT8 *out)
{
	size_t d = strnlen(src->dir, SOURCE_DIR_MAX), n = strnlen(path, CFG_PATH_MAX), i;

	if (d == SOURCE_DIR_MAX || n == CFG_PATH_MAX)
		return false;
	if (n && (path[0] == '/' || path[0] == '\\'))
		path++, n--;
	memcpy(out, src->dir, d);
	for (i = 0; i < n; i++)
		out[d + i] = path[i] == '\\' ? '/' : (UINT8)path[i];
	out[d + n] = 0;
	return true;
}

/*
 * A TFTP error: code 1 ("file not found") as EFI_NOT_FOUND; any other the
 * server's own words in src->error, for the loader's message.
 */
static EFI_STATUS tftp_status(struct boot_source *src, EFI_STATUS st)
{
	const EFI_PXE_BASE_CODE_TFTP_ERROR *e = &pxe->Mode->TftpError;

	src->error[0] = 0;
	if (st != EFI_TFTP_ERROR || !pxe->Mode->TftpErrorReceived)
		return st;
	if (e->ErrorCode == 1)
		return EFI_NOT_FOUND;
	snprintf(src->error, sizeof(src->error), "the server answered '%.*s' (TFTP error %u)",
		 (int)strnlen((const char *)e->ErrorString, sizeof(e->ErrorString)),
		 (const char *)e->ErrorString, e->ErrorCode);
	for (char *c = src->error; *c; c++) /* the console gets no control bytes */
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	return st;
}

static EFI_STATUS tftp_size(struct boot_source *src, const char *path, u64 *size)
{
	UINT8 name[TFTP_NAME_MAX];
	UINT64 n = 0;
	EFI_STATUS st;

	if (!tftp_name(src, path, name))
		return EFI_INVALID_PARAMETER;
	st = pxe->Mtftp(pxe, EFI_PXE_BASE_CODE_TFTP_GET_FILE_SIZE, NULL, FALSE, &n, NULL, &server,
			name, NULL, FALSE);
	if (EFI_ERROR(st))
		return tftp_status(src, st);
	*size = n;
	return EFI_SUCCESS;
}

static EFI_STATUS tftp_read(struct boot_source *src, const char *path, void *buf, u64 size,
			    struct sha256 *hash)
{
	UINT8 name[TFTP_NAME_MAX];
	UINTN block = TFTP_BLOCK;
	UINT64 got = size;
	EFI_STATUS st;

	if (!tftp_name(src, path, name))
		return EFI_INVALID_PARAMETER;
	if (size >= TFTP_LARGE)
		efi_printf("keel: loader: fetching %s (%llu KiB) from %s ...\n", (char *)name,
			   (unsigned long long)(size >> 10), src->where);
	st = pxe->Mtftp(pxe, EFI_PXE_BASE_CODE_TFTP_READ_FILE, buf, FALSE, &got, &block, &server,
			name, NULL, FALSE);
	/* A file longer than it said does not fit: the same as one that changed. */
	if (st == EFI_BUFFER_TOO_SMALL)
		return EFI_END_OF_FILE;
	if (EFI_ERROR(st))
		return tftp_status(src, st);
	if (got != size)
		return EFI_END_OF_FILE;
	sha256_update(hash, buf, size);
	return EFI_SUCCESS;
}

static void tftp_close(struct boot_source *src)
{
	pxe = NULL;
}

/* The DHCP answer that named the boot file: a PXE or proxy reply first, then the ack. */
static const EFI_PXE_BASE_CODE_DHCPV4_PACKET *tftp_boot_packet(void)
{
	const EFI_PXE_BASE_CODE_MODE *m = pxe->Mode;

	if (m->PxeReplyReceived && m->PxeReply.Dhcpv4.BootpBootFile[0])
		return &m->PxeReply.Dhcpv4;
	if (m->ProxyOfferReceived && m->ProxyOffer.Dhcpv4.BootpBootFile[0])
		return &m->ProxyOffer.Dhcpv4;
	return m->DhcpAckReceived ? &m->DhcpAck.Dhcpv4 : NULL;
}

/* The boot file's directory ("x86_64/"), or "" when it has none. */
static bool tftp_boot_dir(const UINT8 *file, char *dir)
{
	size_t n = strnlen((const char *)file, 128), last = 0, i;

	for (i = 0; i < n; i++)
		if (file[i] == '/' || file[i] == '\\')
			last = i + 1;
	if (last >= SOURCE_DIR_MAX)
		return false;
	for (i = 0; i < last; i++)
		dir[i] = file[i] == '\\' ? '/' : (char)file[i];
	dir[last] = 0;
	/* A leading separator: TFTP servers take names relative to their root. */
	if (dir[0] == '/')
		memmove(dir, dir + 1, last);
	return true;
}

bool source_tftp_open(struct boot_source *src)
{
	const EFI_PXE_BASE_CODE_DHCPV4_PACKET *p;
	EFI_LOADED_IMAGE *li;
	const UINT8 *ip;

	memset(src, 0, sizeof(*src));
	if (EFI_ERROR(efi_bs->HandleProtocol(efi_image, &loaded_image_guid, (void **)&li)) ||
	    EFI_ERROR(efi_bs->HandleProtocol(li->DeviceHandle, &pxe_guid, (void **)&pxe)))
		return false;
	if (!pxe->Mode->Started || pxe->Mode->UsingIpv6) {
		efi_printf("keel: loader: error: network boot over %s is not supported\n",
			   pxe->Mode->Started ? "IPv6" : "a stopped PXE stack");
		return false;
	}
	p = tftp_boot_packet();
	if (!p) {
		efi_printf(
			"keel: loader: error: PXE-booted, but the firmware kept no DHCP answer\n");
		return false;
	}
	if (!tftp_boot_dir(p->BootpBootFile, src->dir)) {
		efi_printf(
			"keel: loader: error: the boot file's directory is longer than %u bytes\n",
			SOURCE_DIR_MAX - 1);
		return false;
	}
	ip = p->BootpSiAddr;
	memset(&server, 0, sizeof(server));
	memcpy(server.v4.Addr, ip, 4);
	snprintf(src->where, sizeof(src->where), "tftp://%u.%u.%u.%u/%s", ip[0], ip[1], ip[2],
		 ip[3], src->dir);
	src->size = tftp_size;
	src->read = tftp_read;
	src->close = tftp_close;
	src->network = true;
	return true;
}
