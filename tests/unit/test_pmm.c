/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the physical memory manager (core/pmm.c) over a host buffer:
 * alignment, the metadata pool, scrubbing exactly once, fragmentation that
 * a range list could not have kept track of, and 10,000 random sequences
 * with every byte accounted for.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <keel/pmm.h>

#include "unit.h"

#define POOL (64ull << 20)
#define BIG_POOL (3ull << 30) /* 1 GiB runs under fragmentation */
#define MIB (1ull << 20)

static u8 *pool;

static hpa_t at(u64 off)
{
	return (hpa_t)(uintptr_t)(pool + off);
}

static bool all_zero(hpa_t pa, u64 size)
{
	static const u8 zero[0x10000];
	const u8 *p = (const u8 *)(uintptr_t)pa;

	for (u64 off = 0; off < size; off += sizeof(zero))
		if (memcmp(p + off, zero, MIN(sizeof(zero), size - off)))
			return false;
	return true;
}

static void fill(hpa_t pa, u64 size, int byte)
{
	memset((void *)(uintptr_t)pa, byte, size);
}

/* A pool of @size at offset @off into the buffer, every byte dirty; its free bytes. */
static u64 start_pool(u64 off, u64 size)
{
	pmm_reset();
	fill(at(off), size, 0xa5);
	CHECK_EQ(pmm_add(at(off), size), 0);
	CHECK_EQ(pmm_start(), 0);
	return pmm_free_bytes();
}

static void test_alloc_align_zero(void)
{
	u64 total = start_pool(0x1000, POOL - 0x1000);
	struct pmm_stats st;
	hpa_t a, b, c;

	pmm_get_stats(&st);
	/* The bitmaps are the only bookkeeping, a few pages for 64 MiB. */
	CHECK(st.bookkeeping > 0 && st.bookkeeping <= 0x2000);
	CHECK_EQ(total, POOL - 0x1000 - st.bookkeeping);
	a = pmm_alloc(0x3000, 0x1000);
	CHECK(a != 0 && all_zero(a, 0x3000));
	b = pmm_alloc(2 * MIB, 2 * MIB);
	CHECK(b != 0 && (b & (2 * MIB - 1)) == 0);
	CHECK(all_zero(b, 2 * MIB));
	/* Bad requests. */
	CHECK_EQ(pmm_alloc(0, 0x1000), 0);
	CHECK_EQ(pmm_alloc(0x1800, 0x1000), 0);
	CHECK_EQ(pmm_alloc(0x1000, 0x3000), 0);
	CHECK_EQ(pmm_alloc(POOL * 2, 0x1000), 0);
	CHECK_EQ(pmm_alloc(0x1000, 1ull << 63), 0);
	/* Scrubbed on free, the same pages come back zeroed (once out of the quarantine). */
	fill(a, 0x3000, 0x5a);
	pmm_free(a, 0x3000);
	c = pmm_alloc(0x3000, 0x1000);
	CHECK(c != 0 && c != a);
	pmm_free(c, 0x3000);
	pmm_quarantine_flush();
	c = pmm_alloc(0x3000, 0x1000);
	CHECK_EQ(c, a);
	CHECK(all_zero(c, 0x3000));
	pmm_free(c, 0x3000);
	pmm_free(b, 2 * MIB);
	CHECK_EQ(pmm_free_bytes(), total);
}

/* Small requests come from pool chunks; a 2 MiB one never lands among them. */
static void test_metadata_pool(void)
{
	u64 total = start_pool(0, POOL);
	hpa_t small[40], big;
	struct pmm_stats st;
	int i;

	for (i = 0; i < 40; i++) {
		small[i] = pmm_alloc(0x1000 << (i % 3), 0x1000);
		CHECK(small[i] != 0);
	}
	pmm_get_stats(&st);
	CHECK_EQ(st.meta_total, 2 * MIB); /* 40 small requests: one chunk */
	for (i = 0; i < 40; i++)
		CHECK_EQ(small[i] & ~(2 * MIB - 1), small[0] & ~(2 * MIB - 1));
	big = pmm_alloc(4 * MIB, 2 * MIB);
	CHECK(big != 0);
	CHECK(!ranges_overlap(big, 4 * MIB, small[0] & ~(2 * MIB - 1), 2 * MIB));
	/* Free is free in either tier: the figure comes back whole. */
	for (i = 0; i < 40; i++)
		pmm_free(small[i], 0x1000 << (i % 3));
	pmm_free(big, 4 * MIB);
	CHECK_EQ(pmm_free_bytes(), total);
	pmm_get_stats(&st);
	CHECK_EQ(st.meta_total, 2 * MIB); /* one spare chunk stays */
	CHECK_EQ(st.ram_free + st.meta_free, total);
}

/* The pool gives back chunks once they are all free again, keeping one. */
static void test_pool_shrinks(void)
{
	u64 total = start_pool(0, POOL);
	hpa_t p[1100];
	struct pmm_stats st;
	int i;

	for (i = 0; i < 1100; i++)
		CHECK((p[i] = pmm_alloc(0x1000, 0x1000)) != 0);
	pmm_get_stats(&st);
	CHECK_EQ(st.meta_total, 3 * 2 * MIB); /* 1100 pages: three chunks */
	for (i = 0; i < 1100; i++)
		pmm_free(p[i], 0x1000);
	pmm_get_stats(&st);
	CHECK_EQ(st.meta_total, 2 * 2 * MIB); /* the quarantine's pages keep one */
	pmm_quarantine_flush();
	pmm_get_stats(&st);
	CHECK_EQ(st.meta_total, 2 * MIB);
	CHECK_EQ(pmm_free_bytes(), total);
	/* Above the spare chunk (the fourth: the first holds the bitmaps), to the top. */
	CHECK_EQ(pmm_largest_free(2 * MIB), POOL - 4 * 2 * MIB);
}

static struct pmm_stats stats(void)
{
	struct pmm_stats st;

	pmm_get_stats(&st);
	return st;
}

/* @size at 2 MiB, checked zeroed. */
static hpa_t alloc_zeroed(u64 size)
{
	hpa_t pa = pmm_alloc(size, 2 * MIB);

	CHECK(pa != 0 && all_zero(pa, size));
	return pa;
}

/* Every page is scrubbed once: at first use after boot, then on each release. */
static void test_scrub_once(void)
{
	hpa_t a;

	start_pool(0, POOL);
	a = alloc_zeroed(8 * MIB);
	CHECK_EQ(stats().scrubbed_first_use, 8 * MIB);
	CHECK_EQ(stats().scrubbed_release, 0);
	fill(a, 8 * MIB, 0x77);
	pmm_free(a, 8 * MIB);
	CHECK_EQ(stats().scrubbed_release, 8 * MIB);
	/* Handed out again: already clean, not zeroed a second time. */
	CHECK_EQ(alloc_zeroed(8 * MIB), a);
	CHECK_EQ(stats().scrubbed_first_use, 8 * MIB);
	/* The caller scrubbed it (hmap_scrub): counted, not done again. */
	pmm_free_clean(a, 8 * MIB, true);
	CHECK_EQ(stats().scrubbed_release, 16 * MIB);
	/* A run over clean and never-used pages scrubs only the latter. */
	CHECK_EQ(alloc_zeroed(12 * MIB), a);
	CHECK_EQ(stats().scrubbed_first_use, 12 * MIB);
	pmm_free(a, 12 * MIB);
}

static void test_fragmentation(void)
{
	hpa_t p[16];
	int i;

	/* Fewer than a chunk: small requests take pages anywhere. */
	pmm_reset();
	CHECK_EQ(pmm_add(at(0), 17 * 0x1000), 0);
	CHECK_EQ(pmm_start(), 0);
	CHECK_EQ(pmm_free_bytes(), 16 * 0x1000);
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

/*
 * 8,192 free holes at once, far beyond what the old 256-entry range list
 * could hold: nothing is lost, and every hole merges back on free.
 */
static void test_many_holes(void)
{
	enum { N = 16384 };
	static hpa_t p[N];
	u64 total = start_pool(0, POOL), held = 0;
	int i;

	for (i = 0; i < N; i++)
		held += (p[i] = pmm_alloc(0x1000, 0x1000)) ? 0x1000 : 0;
	CHECK(held >= 16000 * 0x1000ull);
	CHECK_EQ(pmm_free_bytes(), total - held);
	for (i = 0; i < N; i += 2) {
		held -= p[i] ? 0x1000 : 0;
		pmm_free(p[i], 0x1000);
	}
	CHECK_EQ(pmm_free_bytes(), total - held);
	for (i = 1; i < N; i += 2)
		pmm_free(p[i], 0x1000);
	CHECK_EQ(pmm_free_bytes(), total);
}

/* Adding: trimmed to whole pages; overlaps, wraps and late adds refused. */
static void test_add(void)
{
	pmm_reset();
	CHECK_EQ(pmm_add(at(0x10), 0x2000), 0); /* one whole page: 0x1000-0x2000 */
	CHECK_EQ(pmm_add(at(0x1000), 0x2000), -KEEL_EINVAL); /* overlaps the first */
	CHECK_EQ(pmm_add(~0ull - 0x1000, 0x3000), -KEEL_EINVAL);
	CHECK_EQ(pmm_add(at(0x100000), 0x800), 0); /* less than a page: nothing */
	CHECK_EQ(pmm_add(at(0x3000), 0x4000), 0);
	CHECK_EQ(pmm_start(), 0);
	/* Four pages less the one the bitmaps took. */
	CHECK_EQ(pmm_free_bytes(), 4 * 0x1000);
	CHECK_EQ(pmm_add(at(0x10000), 0x1000), -KEEL_EINVAL);
	/* A pool whose bookkeeping does not fit anywhere. */
	pmm_reset();
	CHECK_EQ(pmm_add(at(0x1000), 0x1000), 0);
	CHECK_EQ(pmm_add(at(POOL - 0x1000), 0x1000), 0);
	/* 64 MiB of span takes two pages of bitmaps: neither range holds them. */
	CHECK_EQ(pmm_start(), -KEEL_ENOMEM);
	pmm_reset();
}

/* 10,000 random alloc/free steps: contents, overlaps and the free figure checked. */
static void test_random(void)
{
	enum { SLOTS = 64 };
	struct {
		hpa_t pa;
		u64 size;
	} live[SLOTS] = { 0 };
	u64 total = start_pool(0, POOL), held = 0;
	unsigned int seed = 12345;

	for (int step = 0; step < 10000; step++) {
		int s = rand_r(&seed) % SLOTS;

		if (live[s].pa) {
			CHECK(((u8 *)(uintptr_t)live[s].pa)[0] == (u8)s);
			pmm_free(live[s].pa, live[s].size);
			held -= live[s].size;
			live[s].pa = 0;
		} else {
			u64 pages = rand_r(&seed) % 8 ? 1 + rand_r(&seed) % 24
						      : 512 + rand_r(&seed) % 512;
			u64 align = 0x1000ull << (rand_r(&seed) % 10);
			hpa_t pa = pmm_alloc(pages * 0x1000, align);

			if (!pa)
				continue;
			CHECK(IS_ALIGNED(pa, align));
			CHECK(all_zero(pa, pages * 0x1000));
			for (int o = 0; o < SLOTS; o++)
				if (live[o].pa)
					CHECK(!ranges_overlap(pa, pages * 0x1000, live[o].pa,
							      live[o].size));
			fill(pa, pages * 0x1000, s);
			live[s].pa = pa;
			live[s].size = pages * 0x1000;
			held += pages * 0x1000;
		}
		CHECK_EQ(pmm_free_bytes() + held, total);
	}
	for (int s = 0; s < SLOTS; s++)
		if (live[s].pa)
			pmm_free(live[s].pa, live[s].size);
	CHECK_EQ(pmm_free_bytes(), total);
}

struct range {
	hpa_t pa;
	u64 size;
};

static void free_range(void *arg)
{
	const struct range *r = arg;

	pmm_free(r->pa, r->size);
}

static void flush(void *arg)
{
	(void)arg;
	pmm_quarantine_flush();
}

/*
 * A small release is held before it is handed out again, counted free
 * meanwhile; a large one is free at once; an allocation that finds nothing
 * else takes the held pages.
 */
static void test_quarantine(void)
{
	u64 total = start_pool(0, POOL);
	hpa_t a = pmm_alloc(0x1000, 0x1000), b, big, p[PMM_QUARANTINE];
	u32 i;

	pmm_free(a, 0x1000);
	CHECK_EQ(pmm_free_bytes(), total);
	/* Held for the next PMM_QUARANTINE - 1 releases, then reused first (first fit). */
	for (i = 0; i < PMM_QUARANTINE; i++)
		CHECK((p[i] = pmm_alloc(0x1000, 0x1000)) != a);
	for (i = 0; i < PMM_QUARANTINE - 1; i++)
		pmm_free(p[i], 0x1000);
	b = pmm_alloc(0x1000, 0x1000);
	CHECK(b != a);
	pmm_free(p[PMM_QUARANTINE - 1], 0x1000);
	CHECK_EQ(pmm_alloc(0x1000, 0x1000), a);
	pmm_free(a, 0x1000);
	pmm_free(b, 0x1000);
	/* Larger than the quarantine takes: free at once. */
	big = pmm_alloc((PMM_QUARANTINE_PAGES + 1) * 0x1000, 0x1000);
	pmm_free(big, (PMM_QUARANTINE_PAGES + 1) * 0x1000);
	CHECK_EQ(pmm_alloc((PMM_QUARANTINE_PAGES + 1) * 0x1000, 0x1000), big);
	pmm_free(big, (PMM_QUARANTINE_PAGES + 1) * 0x1000);
	pmm_quarantine_flush();
	CHECK_EQ(pmm_free_bytes(), total);

	/* Memory so short that only held pages are left: they are handed out. */
	pmm_reset();
	CHECK_EQ(pmm_add(at(0), 5 * 0x1000), 0);
	CHECK_EQ(pmm_start(), 0);
	for (i = 0; i < 4; i++)
		CHECK((p[i] = pmm_alloc(0x1000, 0x1000)) != 0);
	for (i = 0; i < 4; i++)
		pmm_free(p[i], 0x1000);
	CHECK_EQ(pmm_largest_free(0x1000), 4 * 0x1000);
	CHECK_EQ(pmm_alloc(4 * 0x1000, 0x1000), p[0]);
}

/*
 * A second free is caught before anything is scrubbed, naming the pages:
 * while the first is still held (both callers named), while another CPU
 * scrubs it (held too), and once it is free.
 */
static void test_double_free(void)
{
	u64 total = start_pool(0, POOL);
	hpa_t a = pmm_alloc(0x2000, 0x1000), b = pmm_alloc(2 * MIB, 2 * MIB);
	struct range held = { a, 0x2000 }, part = { a + 0x1000, 0x1000 }, large = { b, 2 * MIB };
	char msg[96];

	pmm_free(a, 0x2000);
	snprintf(msg, sizeof(msg), "pmm: 0x%llx+0x2000 freed twice: by ", (unsigned long long)a);
	CHECK(unit_panics(free_range, &held, msg));
	CHECK(unit_panics(free_range, &part, "freed twice"));
	pmm_free(b, 2 * MIB);
	snprintf(msg, sizeof(msg), "pmm: 0x%llx+0x200000 freed by ", (unsigned long long)b);
	CHECK(unit_panics(free_range, &large, msg));
	CHECK(unit_panics(free_range, &large, "is free already"));
	pmm_quarantine_flush();
	CHECK(unit_panics(free_range, &held, "is free already"));
	/* Nothing in the parent changed. */
	CHECK_EQ(pmm_free_bytes(), total);
	CHECK(all_zero(a, 0x2000) && all_zero(b, 2 * MIB));
	/*
	 * A stale free over a new owner's page and a free one: refused before the
	 * scrub, so the owner's data is intact (the pool is shared with the child).
	 */
	CHECK_EQ(pmm_alloc(0x1000, 0x1000), a);
	fill(a, 0x1000, 0x77);
	CHECK(unit_panics(free_range, &held, "is free already"));
	CHECK(((u8 *)(uintptr_t)a)[0] == 0x77 && ((u8 *)(uintptr_t)a)[0xfff] == 0x77);
	fill(a, 0x1000, 0);
	pmm_free(a, 0x1000);
}

/* A write through a stale pointer is caught when the pages leave the quarantine. */
static void test_write_after_free(void)
{
	hpa_t a, b;
	char msg[96];

	start_pool(0, POOL);
	a = pmm_alloc(0x3000, 0x1000);
	b = pmm_alloc(0x1000, 0x1000);
	pmm_free(a, 0x3000);
	pmm_free(b, 0x1000);
	((u8 *)(uintptr_t)a)[0x2008] = 0x42;
	snprintf(msg, sizeof(msg), "pmm: 0x%llx+0x3000 written after it was freed by ",
		 (unsigned long long)a);
	CHECK(unit_panics(flush, NULL, msg));
	CHECK(unit_panics(flush, NULL, "(at +0x2008: 0x42)"));
	/* The write is undone: the pages leave clean. */
	((u8 *)(uintptr_t)a)[0x2008] = 0;
	pmm_quarantine_flush();
	CHECK_EQ(pmm_alloc(0x3000, 0x1000), a);
}

/* A 1 GiB aligned run is still found with small allocations scattered around it. */
static void test_gib_under_fragmentation(void)
{
	enum { N = 3000 };
	static hpa_t p[N];
	u8 *big = aligned_alloc(1ull << 30, BIG_POOL);
	hpa_t g1, g2;
	int i;

	CHECK(big != NULL);
	if (!big)
		return;
	pmm_reset();
	/* Not zeroed by the test: the allocator scrubs what it hands out. */
	/* Two ranges, as a firmware map has: the bitmaps go at the bottom of the lower one. */
	CHECK_EQ(pmm_add((hpa_t)(uintptr_t)big + 0x1000, MIB - 0x1000), 0);
	CHECK_EQ(pmm_add((hpa_t)(uintptr_t)big + MIB, BIG_POOL - MIB), 0);
	CHECK_EQ(pmm_start(), 0);
	for (i = 0; i < N; i++)
		p[i] = pmm_alloc(0x1000 << (i % 4), 0x1000);
	for (i = 0; i < N; i += 3)
		pmm_free(p[i], 0x1000 << (i % 4));
	/* The small ones sit in pool chunks low in the first GiB: both GiBs above are whole. */
	g1 = pmm_alloc(1ull << 30, 1ull << 30);
	CHECK_EQ(g1, (hpa_t)(uintptr_t)big + (1ull << 30));
	g2 = pmm_alloc(1ull << 30, 1ull << 30);
	CHECK_EQ(g2, (hpa_t)(uintptr_t)big + (2ull << 30));
	CHECK(pmm_alloc(512ull << 20, 2 * MIB) != 0);
	pmm_reset();
	free(big);
}

/*
 * The boot footprint: every byte of the firmware's usable RAM is in one of
 * its parts, and a map that does not add up gives zeros, never a wrapped figure.
 */
static void test_footprint(void)
{
	static struct keel_boot_info bi;
	struct pmm_footprint fp;
	hpa_t taken;

	memset(&bi, 0, sizeof(bi));
	bi.mem_count = 3;
	bi.mem[0] = (struct keel_boot_mem){ at(0), 16 * MIB, KEEL_MEM_FREE, 0 };
	bi.mem[1] = (struct keel_boot_mem){ at(16 * MIB), 8 * MIB, KEEL_MEM_KEEL, 0 };
	bi.mem[2] = (struct keel_boot_mem){ at(24 * MIB), 4 * MIB, KEEL_MEM_RESERVED, 0 };
	bi.core_size = 2 * MIB;
	bi.module_count = 2;
	bi.modules[0].size = 5 * MIB + 1; /* page-rounded */
	bi.modules[1].size = 100;
	pmm_reset();
	CHECK_EQ(pmm_init(&bi), 0);
	taken = pmm_alloc(MIB, 0x1000);
	CHECK(taken != 0);
	pmm_footprint(&bi, &fp);
	CHECK_EQ(fp.ram, 24 * MIB);
	CHECK_EQ(fp.core, 2 * MIB);
	CHECK_EQ(fp.images, 5 * MIB + 0x2000);
	CHECK_EQ(fp.loader, 8 * MIB - 2 * MIB - (5 * MIB + 0x2000));
	CHECK_EQ(fp.free, pmm_free_bytes());
	CHECK_EQ(fp.allocated + fp.free, 16 * MIB);
	CHECK(fp.allocated >= MIB); /* the 1 MiB taken, the pool chunk and the bitmaps */
	CHECK_EQ(fp.core + fp.loader + fp.images + fp.allocated + fp.free, fp.ram);
	/* Images larger than the loader's ranges, hostile counts: clamped, in bounds. */
	bi.modules[0].size = 64 * MIB;
	bi.module_count = 0xffffffffu;
	bi.mem_count = 0xffffffffu;
	pmm_footprint(&bi, &fp);
	CHECK_EQ(fp.loader, 0);
	CHECK_EQ(fp.ram, 24 * MIB);
	pmm_reset();
}

int main(void)
{
	/* Shared with the children unit_panics runs: what a panicking free wrote shows here. */
	u8 *map = mmap(NULL, POOL + 2 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		       0);

	if (map == MAP_FAILED)
		return 1;
	pool = (u8 *)ALIGN_UP((uintptr_t)map, 2 * MIB);
	test_alloc_align_zero();
	test_metadata_pool();
	test_pool_shrinks();
	test_scrub_once();
	test_fragmentation();
	test_many_holes();
	test_add();
	test_random();
	test_quarantine();
	test_double_free();
	test_write_after_free();
	test_gib_under_fragmentation();
	test_footprint();
	munmap(map, POOL + 2 * MIB);
	return unit_done("test_pmm");
}
