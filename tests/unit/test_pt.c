/* SPDX-License-Identifier: MIT */
/* Unit tests of the generic page-table walker (core/pt.c) on a 4-level test format. */
#include <stdlib.h>
#include <string.h>

#include <keel/abi.h>
#include <keel/pt.h>

#include "pt_format.h"
#include "unit.h"

static long tables_live;
static void live_on_free(hpa_t table);
static void live_on_alloc(hpa_t table);

static hpa_t t_alloc(void *ctx, u64 bytes)
{
	void *p = aligned_alloc(4096, bytes);

	if (!p)
		return 0;
	memset(p, 0, bytes);
	tables_live++;
	live_on_alloc((hpa_t)(uintptr_t)p);
	return (hpa_t)(uintptr_t)p;
}

static void t_free(void *ctx, hpa_t table, u64 bytes)
{
	tables_live--;
	live_on_free(table);
	free((void *)(uintptr_t)table);
}

static struct pt new_pt(void)
{
	struct pt pt = { .fmt = &unit_pt_format, .alloc_table = t_alloc, .free_table = t_free };

	CHECK_EQ(pt_init(&pt), 0);
	return pt;
}

static u64 leaf_at(struct pt *pt, u64 va, u64 *pa)
{
	u64 size = 0;

	if (!pt_lookup(pt, va, pa, NULL, &size))
		return 0;
	return size;
}

static void test_largest_pages(void)
{
	struct pt pt = new_pt();
	u64 pa;

	/* 1 GiB aligned both sides: one 1 GiB leaf. */
	CHECK_EQ(pt_map(&pt, 1ull << 30, 5ull << 30, 1ull << 30, PT_READ | PT_WRITE), 0);
	CHECK_EQ(leaf_at(&pt, (1ull << 30) + 12345, &pa), 1ull << 30);
	CHECK_EQ(pa, (5ull << 30) + 12345);
	/* 2 MiB + 4 KiB starting 2 MiB aligned: one 2 MiB leaf and one 4 KiB leaf. */
	CHECK_EQ(pt_map(&pt, 0x40000000ull * 4, 0x200000, 0x201000, PT_READ), 0);
	CHECK_EQ(leaf_at(&pt, 0x40000000ull * 4, &pa), 0x200000);
	CHECK_EQ(pa, 0x200000);
	CHECK_EQ(leaf_at(&pt, 0x40000000ull * 4 + 0x200000, &pa), 0x1000);
	CHECK_EQ(pa, 0x400000);
	CHECK_EQ(leaf_at(&pt, 0x40000000ull * 4 + 0x201000, &pa), 0);
	/* va and pa aligned differently: only 4 KiB leaves can be used. */
	CHECK_EQ(pt_map(&pt, 0x600000, 0x1001000, 0x200000, PT_READ), 0);
	CHECK_EQ(leaf_at(&pt, 0x600000, &pa), 0x1000);
	CHECK_EQ(leaf_at(&pt, 0x7ff000, &pa), 0x1000);
	CHECK_EQ(pa, 0x1001000 + 0x1ff000);
	pt_destroy(&pt);
	CHECK_EQ(tables_live, 0);
}

static void test_split_on_unmap(void)
{
	struct pt pt = new_pt();
	u32 attrs = 0;
	u64 pa;

	CHECK_EQ(pt_map(&pt, 0, 0x40000000, 0x40000000, PT_READ | PT_EXEC), 0);
	CHECK_EQ(leaf_at(&pt, 0x123000, &pa), 1ull << 30);
	/* Take one 4 KiB page out of the middle: the 1 GiB leaf is split twice. */
	CHECK_EQ(pt_unmap(&pt, 0x345000, 0x1000), 0);
	CHECK_EQ(leaf_at(&pt, 0x345000, &pa), 0);
	CHECK_EQ(leaf_at(&pt, 0x344000, &pa), 0x1000);
	CHECK_EQ(pa, 0x40344000);
	CHECK_EQ(leaf_at(&pt, 0x346000, &pa), 0x1000);
	CHECK_EQ(leaf_at(&pt, 0x400000, &pa), 0x200000);
	CHECK_EQ(leaf_at(&pt, 0x3ff00000, &pa), 0x200000);
	CHECK_EQ(pa, 0x7ff00000);
	CHECK(pt_lookup(&pt, 0x346000, NULL, &attrs, NULL));
	CHECK_EQ(attrs, PT_READ | PT_EXEC);
	/* Unmapping what is not mapped is fine. */
	CHECK_EQ(pt_unmap(&pt, 0x80000000ull, 0x40000000), 0);
	pt_destroy(&pt);
	CHECK_EQ(tables_live, 0);
}

static void test_remap_frees_tables(void)
{
	struct pt pt = new_pt();
	long before;
	u64 pa;

	CHECK_EQ(pt_map(&pt, 0, 0x10000000, 0x1000, PT_READ), 0);
	before = tables_live; /* root + 3 levels */
	CHECK_EQ(before, 4);
	/* A 1 GiB leaf over the same place replaces the tables below it. */
	CHECK_EQ(pt_map(&pt, 0, 0x80000000ull, 1ull << 30, PT_READ | PT_WRITE), 0);
	CHECK_EQ(tables_live, 2);
	CHECK_EQ(leaf_at(&pt, 0, &pa), 1ull << 30);
	CHECK_EQ(pa, 0x80000000ull);
	pt_destroy(&pt);
	CHECK_EQ(tables_live, 0);
}

static void test_bad_ranges(void)
{
	struct pt pt = new_pt();

	CHECK_EQ(pt_map(&pt, 0x1001, 0, 0x1000, PT_READ), -KEEL_EINVAL);
	CHECK_EQ(pt_map(&pt, 0x1000, 0x10, 0x1000, PT_READ), -KEEL_EINVAL);
	CHECK_EQ(pt_map(&pt, 0x1000, 0, 0x800, PT_READ), -KEEL_EINVAL);
	CHECK_EQ(pt_map(&pt, 0x1000, 0, 0, PT_READ), -KEEL_EINVAL);
	/* Past the 48-bit space the format covers, or wrapping. */
	CHECK_EQ(pt_map(&pt, 1ull << 48, 0, 0x1000, PT_READ), -KEEL_EINVAL);
	CHECK_EQ(pt_map(&pt, (1ull << 48) - 0x1000, 0, 0x2000, PT_READ), -KEEL_EINVAL);
	CHECK_EQ(pt_map(&pt, 0, ~0xfffull, 0x2000, PT_READ), -KEEL_EINVAL);
	CHECK_EQ(pt_unmap(&pt, ~0xfffull, 0x2000), -KEEL_EINVAL);
	CHECK(!pt_lookup(&pt, 1ull << 50, NULL, NULL, NULL));
	CHECK_EQ(tables_live, 1);
	pt_destroy(&pt);
	CHECK_EQ(tables_live, 0);
}

/*
 * Tables in use, against a fake TLB. Every entry reachable at a flush is
 * recorded (by level and address); between two flushes, and at the end of
 * each operation, an entry that was valid may have changed only inside the
 * range the flush covered, and on a break-before-make format only through
 * invalid. A table may be freed only if it existed at the last flush and
 * was no longer reachable then. A shadow of the mapping, page by page,
 * checks what the tables translate.
 */
#define LIVE_SPAN (64ull << 20)
#define LIVE_PAGES (LIVE_SPAN >> 12)
#define LIVE_MAX_ENTRIES 65536u

struct live_entry {
	u64 key; /* va | level */
	u64 val;
};

static struct {
	bool on;
	const struct pt_format *fmt;
	struct pt *pt;
	struct live_entry seen[LIVE_MAX_ENTRIES]; /* at the last flush or operation end */
	u32 seen_count;
	hpa_t tables_at_sync[LIVE_MAX_ENTRIES]; /* reachable at the last flush */
	u32 tables_at_sync_count;
	hpa_t born[LIVE_MAX_ENTRIES]; /* allocated since the last flush */
	u32 born_count;
	u64 syncs, violations;
} live;

static void live_violation(const char *what, u64 va, u32 level)
{
	if (live.violations++ < 10)
		fprintf(stderr, "live: %s at va 0x%llx level %u\n", what, (unsigned long long)va,
			level);
}

static int live_cmp(const void *a, const void *b)
{
	const struct live_entry *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

static u32 live_walk(u64 *t, u32 level, u64 base, struct live_entry *out, u32 n, hpa_t *tables,
		     u32 *ntables)
{
	const struct pt_format *fmt = live.fmt;
	u32 entries = level == 0 ? fmt->root_entries : 512;

	for (u32 i = 0; i < entries; i++) {
		u64 va = base + ((u64)i << fmt->shift[level]);

		if (!fmt->is_present(t[i]))
			continue;
		if (n < LIVE_MAX_ENTRIES)
			out[n++] = (struct live_entry){ va | level, t[i] };
		if (fmt->is_table(t[i], level)) {
			if (*ntables < LIVE_MAX_ENTRIES)
				tables[(*ntables)++] = fmt->entry_addr(t[i], level);
			n = live_walk((u64 *)(uintptr_t)fmt->entry_addr(t[i], level), level + 1, va,
				      out, n, tables, ntables);
		}
	}
	return n;
}

static struct live_entry live_now[LIVE_MAX_ENTRIES];
static hpa_t live_now_tables[LIVE_MAX_ENTRIES];

/* Compare with what was seen last; @lo/@hi: the range this flush covers (none at an end). */
static void live_observe(u64 lo, u64 hi, bool at_sync)
{
	u32 ntables = 0;
	u32 n = live_walk((u64 *)(uintptr_t)live.pt->root, 0, 0, live_now, 0, live_now_tables,
			  &ntables);

	qsort(live_now, n, sizeof(live_now[0]), live_cmp);
	for (u32 i = 0; i < live.seen_count; i++) {
		const struct live_entry *was = &live.seen[i];
		struct live_entry *now = bsearch(was, live_now, n, sizeof(live_now[0]), live_cmp);
		u32 level = (u32)(was->key & 7);
		u64 va = was->key & ~7ull, sz = pt_level_size(live.fmt, level);

		if (now && now->val == was->val)
			continue;
		if (!(va >= lo && va + sz <= hi))
			live_violation("a valid entry changed with no flush covering it", va,
				       level);
		else if (live.fmt->bbm && now)
			live_violation("a valid entry was replaced without break-before-make", va,
				       level);
	}
	memcpy(live.seen, live_now, n * sizeof(live_now[0]));
	live.seen_count = n;
	if (at_sync) {
		memcpy(live.tables_at_sync, live_now_tables, ntables * sizeof(hpa_t));
		live.tables_at_sync_count = ntables;
		live.born_count = 0;
	}
}

static void live_sync(void *ctx, u64 va, u64 size)
{
	live.syncs++;
	live_observe(va, va + size, true);
}

static void live_on_alloc(hpa_t table)
{
	if (live.on && live.born_count < LIVE_MAX_ENTRIES)
		live.born[live.born_count++] = table;
}

static void live_on_free(hpa_t table)
{
	if (!live.on)
		return;
	for (u32 i = 0; i < live.born_count; i++)
		if (live.born[i] == table)
			live_violation("a table made since the last flush was freed before one", 0,
				       9);
	for (u32 i = 0; i < live.tables_at_sync_count; i++)
		if (live.tables_at_sync[i] == table)
			live_violation("a table still reachable at the last flush was freed", 0, 9);
}

static u64 live_shadow[LIVE_PAGES]; /* pa | 1, or 0 */

static void live_shadow_check(void)
{
	u64 bad = 0, pages = 0;

	for (u64 i = 0; i < LIVE_PAGES; i++) {
		u64 pa = 0;
		bool mapped = pt_lookup(live.pt, i << 12, &pa, NULL, NULL);

		if (mapped != !!live_shadow[i] || (mapped && (pa | 1) != live_shadow[i]))
			bad++;
		pages += mapped;
	}
	CHECK_EQ(bad, 0);
	/* The audit counts what the lookups found, over the whole span and a ragged piece. */
	CHECK_EQ(pt_mapped_bytes(live.pt, 0, LIVE_SPAN), pages << 12);
	pages = 0;
	for (u64 i = 3; i < LIVE_PAGES / 2 + 5; i++)
		pages += !!live_shadow[i];
	CHECK_EQ(pt_mapped_bytes(live.pt, 3 << 12, (LIVE_PAGES / 2 + 2) << 12), pages << 12);
}

static u64 live_rand(u64 *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

static void test_live_tables(const char *name, bool bbm)
{
	struct pt_format fmt = unit_pt_format;
	struct pt pt;
	u64 seed = bbm ? 0x9e3779b97f4a7c15ull : 0x2545f4914f6cdd1dull;

	fmt.bbm = bbm;
	pt = (struct pt){ .fmt = &fmt, .alloc_table = t_alloc, .free_table = t_free };
	CHECK_EQ(pt_init(&pt), 0);
	memset(&live, 0, sizeof(live));
	memset(live_shadow, 0, sizeof(live_shadow));
	live.fmt = &fmt;
	live.pt = &pt;
	live.on = true;
	pt.sync = live_sync;
	for (u32 op = 0; op < 2000; op++) {
		u64 r = live_rand(&seed);
		/* Mostly 2 MiB-sized pieces, so large leaves come and go. */
		u64 unit = (r & 3) ? (2ull << 20) : 4096;
		u64 va = (live_rand(&seed) % (LIVE_SPAN / unit)) * unit;
		u64 size = (1 + live_rand(&seed) % 8) * unit;
		u64 pa = ((live_rand(&seed) % 64) << 21) + ((r >> 8) & 1 ? 0 : 4096 * (r >> 9 & 7));
		u32 kind = (r >> 4) % 3;

		size = MIN(size, LIVE_SPAN - va);
		if (kind == 2) {
			/* Half the unmaps also take emptied tables out: the same protocol. */
			CHECK_EQ(((r >> 12) & 1 ? pt_unmap_prune : pt_unmap)(&pt, va, size), 0);
			for (u64 o = 0; o < size; o += 4096)
				live_shadow[(va + o) >> 12] = 0;
		} else {
			u32 attrs = PT_READ | (kind ? PT_KEEP_TABLES : 0);

			CHECK_EQ(pt_map(&pt, va, pa, size, attrs), 0);
			for (u64 o = 0; o < size; o += 4096)
				live_shadow[(va + o) >> 12] = (pa + o) | 1;
		}
		live_observe(0, 0, false); /* the operation has returned: nothing owed */
		if (op % 500 == 0)
			live_shadow_check();
	}
	live_shadow_check();
	printf("%s: %llu flushes, %llu violations\n", name, (unsigned long long)live.syncs,
	       (unsigned long long)live.violations);
	CHECK(live.syncs > 0);
	CHECK_EQ(live.violations, 0);
	live.on = false;
	pt_destroy(&pt);
	CHECK_EQ(tables_live, 0);
}

/* PT_KEEP_TABLES maps inside an existing table instead of replacing it. */
static void test_keep_tables(void)
{
	struct pt pt = new_pt();
	long before;
	u64 pa;

	CHECK_EQ(pt_map(&pt, 0, 0, 0x200000, PT_READ), 0);
	CHECK_EQ(pt_unmap(&pt, 0x3000, 0x1000), 0); /* the 2 MiB leaf becomes a table */
	before = tables_live;
	CHECK_EQ(pt_map(&pt, 0, 0x400000, 0x200000, PT_READ | PT_KEEP_TABLES), 0);
	CHECK_EQ(tables_live, before);
	CHECK_EQ(leaf_at(&pt, 0x3000, &pa), 0x1000);
	CHECK_EQ(pa, 0x403000);
	/* Without it, the table goes and one 2 MiB leaf takes its place. */
	CHECK_EQ(pt_map(&pt, 0, 0x600000, 0x200000, PT_READ), 0);
	CHECK_EQ(tables_live, before - 1);
	CHECK_EQ(leaf_at(&pt, 0x3000, &pa), 0x200000);
	pt_destroy(&pt);
	CHECK_EQ(tables_live, 0);
}

/* pt_unmap_prune: a table that holds nothing any more leaves the tree; one in use stays. */
static void test_prune(void)
{
	struct pt pt = new_pt();
	u64 base = 5ull << 30, pa;

	CHECK_EQ(tables_live, 1);
	CHECK_EQ(pt_map(&pt, base, 0x200000, 0x200000, PT_READ), 0);
	CHECK_EQ(pt_map(&pt, base + 0x400000, 0x600000, 0x200000, PT_READ), 0);
	CHECK_EQ(tables_live, 3); /* root, 1 GiB-level table, 2 MiB-level table */
	CHECK_EQ(pt_unmap_prune(&pt, base, 0x200000), 0);
	CHECK_EQ(tables_live, 3); /* its neighbour still uses the table */
	CHECK_EQ(leaf_at(&pt, base + 0x400000, &pa), 0x200000);
	CHECK_EQ(pt_unmap_prune(&pt, base + 0x400000, 0x200000), 0);
	CHECK_EQ(tables_live, 1);
	/* A 4 KiB page out of a 2 MiB leaf: split, and the rest stays mapped. */
	CHECK_EQ(pt_map(&pt, base, 0x200000, 0x200000, PT_READ), 0);
	CHECK_EQ(pt_unmap_prune(&pt, base + 0x1000, 0x1000), 0);
	CHECK_EQ(leaf_at(&pt, base, &pa), 0x1000);
	CHECK_EQ(leaf_at(&pt, base + 0x1000, &pa), 0);
	CHECK_EQ(tables_live, 4);
	CHECK_EQ(pt_unmap_prune(&pt, base, 0x200000), 0);
	CHECK_EQ(tables_live, 1);
	CHECK_EQ(pt_unmap_prune(&pt, ~0xfffull, 0x2000), -KEEL_EINVAL);
	pt_destroy(&pt);
	CHECK_EQ(tables_live, 0);
}

int main(void)
{
	test_largest_pages();
	test_prune();
	test_split_on_unmap();
	test_remap_frees_tables();
	test_bad_ranges();
	test_keep_tables();
	test_live_tables("live tables, flush after", false);
	test_live_tables("live tables, break-before-make", true);
	return unit_done("test_pt");
}
