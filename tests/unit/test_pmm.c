/* SPDX-License-Identifier: MIT */
/* Unit tests of the physical memory manager (core/pmm.c) over a host buffer. */
#include <stdlib.h>
#include <string.h>

#include <keel/pmm.h>

#include "unit.h"

#define POOL (64ull << 20)

static u8 *pool;

static hpa_t at(u64 off)
{
	return (hpa_t)(uintptr_t)(pool + off);
}

static bool all_zero(hpa_t pa, u64 size)
{
	const u8 *p = (const u8 *)(uintptr_t)pa;

	for (u64 i = 0; i < size; i++)
		if (p[i])
			return false;
	return true;
}

static void test_alloc_align_zero(void)
{
	hpa_t a, b, c;

	pmm_reset();
	memset(pool, 0xa5, POOL);
	CHECK_EQ(pmm_add(at(0x1000), POOL - 0x1000), 0);
	CHECK_EQ(pmm_free_bytes(), POOL - 0x1000);
	a = pmm_alloc(0x3000, 0x1000);
	CHECK_EQ(a, at(0x1000));
	CHECK(all_zero(a, 0x3000));
	b = pmm_alloc(2 << 20, 2 << 20);
	CHECK(b != 0 && (b & ((2 << 20) - 1)) == 0);
	CHECK(all_zero(b, 2 << 20));
	/* Bad requests. */
	CHECK_EQ(pmm_alloc(0, 0x1000), 0);
	CHECK_EQ(pmm_alloc(0x1800, 0x1000), 0);
	CHECK_EQ(pmm_alloc(0x1000, 0x3000), 0);
	CHECK_EQ(pmm_alloc(POOL * 2, 0x1000), 0);
	/* Scrubbed on free, merged back. */
	memset((void *)(uintptr_t)a, 0x5a, 0x3000);
	pmm_free(a, 0x3000);
	c = pmm_alloc(0x3000, 0x1000);
	CHECK_EQ(c, a);
	CHECK(all_zero(c, 0x3000));
	pmm_free(c, 0x3000);
	pmm_free(b, 2 << 20);
	CHECK_EQ(pmm_free_bytes(), POOL - 0x1000);
	CHECK_EQ(pmm_largest_free(0x1000), POOL - 0x1000);
}

static void test_fragmentation(void)
{
	hpa_t p[16];
	int i;

	pmm_reset();
	CHECK_EQ(pmm_add(at(0), 16 * 0x1000), 0);
	for (i = 0; i < 16; i++)
		p[i] = pmm_alloc(0x1000, 0x1000);
	CHECK(p[15] != 0);
	CHECK_EQ(pmm_alloc(0x1000, 0x1000), 0);
	for (i = 0; i < 16; i += 2)
		pmm_free(p[i], 0x1000);
	CHECK_EQ(pmm_free_bytes(), 8 * 0x1000);
	CHECK_EQ(pmm_largest_free(0x1000), 0x1000);
	CHECK_EQ(pmm_alloc(0x2000, 0x1000), 0);
	for (i = 1; i < 16; i += 2)
		pmm_free(p[i], 0x1000);
	CHECK_EQ(pmm_largest_free(0x1000), 16 * 0x1000);
	CHECK_EQ(pmm_alloc(16 * 0x1000, 0x1000), p[0]);
}

static void test_add_trims(void)
{
	pmm_reset();
	/* Unaligned ends are trimmed to whole pages; page 0 is never handed out. */
	CHECK_EQ(pmm_add(at(0x10) , 0x2000), 0);
	CHECK_EQ(pmm_free_bytes(), 0x1000);
	CHECK_EQ(pmm_add(0, 0x2000), 0);
	CHECK_EQ(pmm_free_bytes(), 0x2000);
	CHECK_EQ(pmm_add(~0ull - 0x1000, 0x3000), -KEEL_EINVAL);
}

int main(void)
{
	pool = aligned_alloc(2 << 20, POOL);
	test_alloc_align_zero();
	test_fragmentation();
	test_add_trims();
	free(pool);
	return unit_done("test_pmm");
}
