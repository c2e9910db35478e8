/* SPDX-License-Identifier: MIT */
/*
 * Where the loader's files come from. keel.cfg and every image it names are
 * read through one struct boot_source, so parsing and checking do not care
 * whether a file came from a USB stick, a disk or (next) the network.
 *
 * A source has a directory: keel.cfg is read from it, and the paths in
 * keel.cfg are relative to it. On a volume that is \<arch>\ when
 * \<arch>\keel.cfg exists (one stick for both arches), else the root.
 */
#ifndef KEEL_BOOT_SOURCE_H
#define KEEL_BOOT_SOURCE_H

#include <efi.h>

#include <keel/sha256.h>
#include <keel/types.h>

#define SOURCE_DIR_MAX 32u

struct boot_source;

/*
 * The size of the regular file @path (relative to the source's directory).
 * EFI_NOT_FOUND if there is none, EFI_ACCESS_DENIED for a directory.
 */
typedef EFI_STATUS source_size_fn(struct boot_source *src, const char *path, u64 *size);

/*
 * Read exactly @size bytes of @path into @buf and feed them to @hash as they
 * arrive. EFI_END_OF_FILE if the file is shorter.
 */
typedef EFI_STATUS source_read_fn(struct boot_source *src, const char *path, void *buf, u64 size,
				  struct sha256 *hash);

struct boot_source {
	/* For messages: "the boot volume", "tftp://10.0.2.2/x86_64/", "http://.../x86_64/". */
	char where[96];
	char dir[SOURCE_DIR_MAX]; /* "\\" or "\\x86_64\\": keel.cfg's directory */
	bool network; /* its errors name the server (where) */
	char error[192]; /* what the server said about the last failed call, or "" */
	source_size_fn *size;
	source_read_fn *read;
	void (*close)(struct boot_source *src);
	void *priv;
};

/*
 * The volume keel.efi was loaded from (a USB stick, a disk), with its
 * directory chosen as above. False if keel.efi did not come from a volume
 * (quietly) or it cannot be opened (with a message).
 */
bool source_volume_open(struct boot_source *src);

/*
 * The TFTP server keel.efi was PXE-booted from, the boot file's directory
 * as the source's. False if it was not PXE-booted (quietly) or the boot
 * cannot be followed (with a message).
 */
bool source_tftp_open(struct boot_source *src);

/*
 * The web server keel.efi was HTTP-booted from (the URL in its device's
 * path), the boot file's directory as the source's. False if it was not
 * HTTP-booted (quietly) or the boot cannot be followed (with a message).
 */
bool source_http_open(struct boot_source *src);

#endif /* KEEL_BOOT_SOURCE_H */
