/* SPDX-License-Identifier: MIT */
/* Unit tests of the generic page-table walker (core/pt.c) on a 4-level test format. */
#include <stdlib.h>
#include <string.h>

#include <keel/abi.h>
#include <keel/pt.h>

#include "unit.h"

#define T_PRESENT 1ull
#define T_TABLE 2ull
#define T_ADDR 0x000ffffffffff000ull

static long tables_live;

static u64 t_table_entry(hpa_t next)
{
	return next | T_PRESENT | T_TABLE;
}

static u64 t_leaf_entry(hpa_t pa, u32 level, u32 attrs)
{
	return pa | T_PRESENT | ((u64)attrs << 52);
}

static bool t_is_present(u64 e)
{
	return e & T_PRESENT;
}

static bool t_is_table(u64 e, u32 level)
{
	return (e & (T_PRESENT | T_TABLE)) == (T_PRESENT | T_TABLE);
}

static hpa_t t_entry_addr(u64 e, u32 level)
{
	return e & T_ADDR;
}

static u32 t_entry_attrs(u64 e, u32 level)
{
	return (u32)(e >> 52) & 0xff;
}

static const struct pt_format test_fmt = {
	.name = "test",
	.levels = 4,
	.root_entries = 512,
	.shift = { 39, 30, 21, 12 },
	.leaf_levels = (1u << 1) | (1u << 2) | (1u << 3),
	.table_entry = t_table_entry,
	.leaf_entry = t_leaf_entry,
	.is_present = t_is_present,
	.is_table = t_is_table,
	.entry_addr = t_entry_addr,
	.entry_attrs = t_entry_attrs,
};

static hpa_t t_alloc(void *ctx, u64 bytes)
{
	void *p = aligned_alloc(4096, bytes);

	if (!p)
		return 0;
	memset(p, 0, bytes);
	tables_live++;
	return (hpa_t)(uintptr_t)p;
}

static void t_free(void *ctx, hpa_t table, u64 bytes)
{
	tables_live--;
	free((void *)(uintptr_t)table);
}

static struct pt new_pt(void)
{
	struct pt pt = { .fmt = &test_fmt, .alloc_table = t_alloc, .free_table = t_free };

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

int main(void)
{
	test_largest_pages();
	test_split_on_unmap();
	test_remap_frees_tables();
	test_bad_ranges();
	return unit_done("test_pt");
}
