/* SPDX-License-Identifier: MIT */
/*
 * memset and memcpy for the aarch64 core, in place of picolibc's byte-loop
 * stubs (Debian's build): partition memory is zeroed, scrubbed and loaded
 * through them, hundreds of MiB per partition. Aligned 8-byte accesses only
 * (-mstrict-align: they also run before the MMU is on), DC ZVA for zeroing.
 */
#include <keel/lib.h>
#include <keel/types.h>

#include "aarch64.h"

#define DCZID_DZP BIT(4)
#define SCTLR_EL2_M BIT(0)

/* The DC ZVA block size, or 0 if it must not be used now (MMU off: Device memory). */
static u64 memops_zva_block(void)
{
	u64 dczid = read_sysreg(dczid_el0);

	if ((dczid & DCZID_DZP) || !(read_sysreg(sctlr_el2) & SCTLR_EL2_M))
		return 0;
	return 4ull << (dczid & 0xf);
}

static u8 *memops_zero_blocks(u8 *d, size_t *n)
{
	u64 block = *n >= 4096 ? memops_zva_block() : 0;

	if (!block || ((uintptr_t)d & (block - 1)))
		return d;
	for (; *n >= block; *n -= block, d += block)
		__asm__ volatile("dc zva, %0" : : "r"(d) : "memory");
	return d;
}

void *memset(void *dst, int c, size_t n)
{
	u8 *d = dst;
	u64 pattern = 0x0101010101010101ull * (u8)c;

	for (; n && ((uintptr_t)d & 7); n--)
		*d++ = (u8)c;
	if (!pattern) {
		/* 8-byte stores up to a block boundary, then whole blocks. */
		for (; n >= 8 && ((uintptr_t)d & 63); n -= 8, d += 8)
			*(volatile u64 *)d = 0;
		d = memops_zero_blocks(d, &n);
	}
	for (; n >= 8; n -= 8, d += 8)
		*(volatile u64 *)d = pattern;
	while (n--)
		*(volatile u8 *)d++ = (u8)c;
	return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	u8 *d = dst;
	const u8 *s = src;

	if ((((uintptr_t)d ^ (uintptr_t)s) & 7) == 0) {
		for (; n && ((uintptr_t)d & 7); n--)
			*d++ = *s++;
		for (; n >= 16; n -= 16, d += 16, s += 16) {
			u64 a = ((const u64 *)s)[0], b = ((const u64 *)s)[1];

			((volatile u64 *)d)[0] = a;
			((volatile u64 *)d)[1] = b;
		}
	}
	while (n--)
		*(volatile u8 *)d++ = *s++;
	return dst;
}
