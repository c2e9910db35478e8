/* SPDX-License-Identifier: MIT */
/*
 * The only way the hypervisor reaches a partition's memory: every access is
 * checked against the partition's regions first; nothing else is mapped.
 */
#ifndef KEEL_GUEST_MEM_H
#define KEEL_GUEST_MEM_H

#include <keel/types.h>

struct partition;

/* Copy @len bytes from guest-physical @gpa. Returns 0 or -KEEL_EFAULT. */
int guest_copy_from(const struct partition *part, void *dst, gpa_t gpa, u64 len);

/* Copy @len bytes to guest-physical @gpa. Returns 0 or -KEEL_EFAULT. */
int guest_copy_to(struct partition *part, gpa_t gpa, const void *src, u64 len);

/*
 * Copy @len bytes from @src's guest-physical @src_gpa straight to @dst's
 * @dst_gpa: one memcpy per piece, no bounce buffer (a frame from one
 * partition's buffers into another's). Both ranges are checked first; 0, or
 * -KEEL_EFAULT with nothing copied.
 */
int guest_copy_between(struct partition *dst, gpa_t dst_gpa, const struct partition *src,
		       gpa_t src_gpa, u64 len);

/* Fill guest-physical [gpa, gpa + len) with zeroes. Returns 0 or -KEEL_EFAULT. */
int guest_zero(struct partition *part, gpa_t gpa, u64 len);

/*
 * Single-copy-atomic 16-bit load / store at a 2-byte aligned guest-physical
 * address (shared ring indices the guest updates concurrently). Returns 0,
 * or -KEEL_EFAULT if it is not RAM or not aligned.
 */
int guest_load_u16(const struct partition *part, gpa_t gpa, u16 *val);
int guest_store_u16(struct partition *part, gpa_t gpa, u16 val);

/* true if every byte of [gpa, gpa + len) is partition RAM. */
bool guest_range_is_ram(const struct partition *part, gpa_t gpa, u64 len);

#endif /* KEEL_GUEST_MEM_H */
