/* SPDX-License-Identifier: MIT */
/*
 * The generic page-table walker: map, unmap, look up and free radix tables of
 * any format described by struct pt_format. Leaves are as large as alignment
 * and length allow; a larger leaf is split when part of it changes. TLB
 * maintenance is the caller's (it knows which TLB caches the format).
 */
#include <keel/abi.h>
#include <keel/pt.h>

#define PT_ENTRIES 512u

static u64 *pt_table(hpa_t pa)
{
	return hpa_to_hva(pa);
}

static u32 pt_entries(const struct pt_format *fmt, u32 level)
{
	return level == 0 ? fmt->root_entries : PT_ENTRIES;
}

static u64 pt_table_bytes(const struct pt_format *fmt, u32 level)
{
	return (u64)pt_entries(fmt, level) * sizeof(u64);
}

static u32 pt_index(const struct pt_format *fmt, u32 level, u64 va)
{
	return (u32)((va >> fmt->shift[level]) & (pt_entries(fmt, level) - 1));
}

static bool pt_leaf_allowed(const struct pt_format *fmt, u32 level)
{
	return (fmt->leaf_levels >> level) & 1;
}

/* Highest address the format translates, plus one (0 if the full 64 bits). */
static u64 pt_va_limit(const struct pt_format *fmt)
{
	u32 bits = fmt->shift[0] + (u32)__builtin_ctz(fmt->root_entries);

	return bits >= 64 ? 0 : 1ull << bits;
}

static bool pt_range_ok(const struct pt *pt, u64 va, u64 size)
{
	u64 limit = pt_va_limit(pt->fmt);

	if (!size || !IS_ALIGNED(va, PAGE_SIZE) || !IS_ALIGNED(size, PAGE_SIZE))
		return false;
	if (range_overflows(va, size))
		return false;
	return limit == 0 || (va < limit && size <= limit - va);
}

int pt_init(struct pt *pt)
{
	pt->root = pt->alloc_table(pt->ctx, pt_table_bytes(pt->fmt, 0));
	return pt->root ? 0 : -KEEL_ENOMEM;
}

/* Free the tables below @entry (a table entry at @level), then the table itself. */
static void pt_free_subtree(struct pt *pt, u64 entry, u32 level)
{
	const struct pt_format *fmt = pt->fmt;
	hpa_t table = fmt->entry_addr(entry, level);
	u64 *t = pt_table(table);
	u32 i;

	if (level + 1 < fmt->levels) {
		for (i = 0; i < PT_ENTRIES; i++)
			if (fmt->is_table(t[i], level + 1))
				pt_free_subtree(pt, t[i], level + 1);
	}
	pt->free_table(pt->ctx, table, PT_ENTRIES * sizeof(u64));
}

/*
 * Replace the leaf *slot at @level with a table of next-level leaves that map
 * the same range with the same attributes.
 */
static int pt_split(struct pt *pt, u64 *slot, u32 level)
{
	const struct pt_format *fmt = pt->fmt;
	u64 old = *slot;
	hpa_t pa = fmt->entry_addr(old, level);
	u32 attrs = fmt->entry_attrs(old, level);
	u64 step = pt_level_size(fmt, level + 1);
	hpa_t table;
	u64 *t;
	u32 i;

	if (level + 1 >= fmt->levels || !pt_leaf_allowed(fmt, level + 1))
		return -KEEL_EINVAL;
	table = pt->alloc_table(pt->ctx, PT_ENTRIES * sizeof(u64));
	if (!table)
		return -KEEL_ENOMEM;
	t = pt_table(table);
	for (i = 0; i < PT_ENTRIES; i++)
		t[i] = fmt->leaf_entry(pa + i * step, level + 1, attrs);
	WRITE_ONCE(*slot, fmt->table_entry(table));
	return 0;
}

/*
 * The slot for @va at @level, creating tables (or splitting larger leaves) on
 * the way down. Returns NULL on allocation failure.
 */
static u64 *pt_walk_create(struct pt *pt, u64 va, u32 level)
{
	const struct pt_format *fmt = pt->fmt;
	u64 *t = pt_table(pt->root);
	u32 l;

	for (l = 0; l < level; l++) {
		u64 *slot = &t[pt_index(fmt, l, va)];

		if (!fmt->is_present(*slot)) {
			hpa_t table = pt->alloc_table(pt->ctx, PT_ENTRIES * sizeof(u64));

			if (!table)
				return NULL;
			WRITE_ONCE(*slot, fmt->table_entry(table));
		} else if (!fmt->is_table(*slot, l)) {
			if (pt_split(pt, slot, l))
				return NULL;
		}
		t = pt_table(fmt->entry_addr(*slot, l));
	}
	return &t[pt_index(fmt, level, va)];
}

/* Largest leaf level usable at @va -> @pa for a range of @left bytes. */
static u32 pt_pick_level(const struct pt_format *fmt, u64 va, u64 pa, u64 left)
{
	u32 level;

	for (level = 0; level < fmt->levels; level++) {
		u64 sz = pt_level_size(fmt, level);

		if (pt_leaf_allowed(fmt, level) && IS_ALIGNED(va, sz) && IS_ALIGNED(pa, sz) &&
		    left >= sz)
			return level;
	}
	return fmt->levels - 1;
}

int pt_map(struct pt *pt, u64 va, u64 pa, u64 size, u32 attrs)
{
	const struct pt_format *fmt = pt->fmt;

	if (!pt_range_ok(pt, va, size) || !IS_ALIGNED(pa, PAGE_SIZE) ||
	    range_overflows(pa, size))
		return -KEEL_EINVAL;
	while (size) {
		u32 level = pt_pick_level(fmt, va, pa, size);
		u64 sz = pt_level_size(fmt, level);
		u64 *slot = pt_walk_create(pt, va, level);

		if (!slot)
			return -KEEL_ENOMEM;
		if (fmt->is_table(*slot, level))
			pt_free_subtree(pt, *slot, level);
		WRITE_ONCE(*slot, fmt->leaf_entry(pa, level, attrs));
		va += sz;
		pa += sz;
		size -= sz;
	}
	return 0;
}

int pt_unmap(struct pt *pt, u64 va, u64 size)
{
	const struct pt_format *fmt = pt->fmt;

	if (!pt_range_ok(pt, va, size))
		return -KEEL_EINVAL;
	while (size) {
		u64 *t = pt_table(pt->root);
		u64 step = 0;
		u32 l;

		for (l = 0; l < fmt->levels; l++) {
			u64 *slot = &t[pt_index(fmt, l, va)];
			u64 sz = pt_level_size(fmt, l);
			u64 to_end = sz - (va & (sz - 1));

			if (!fmt->is_present(*slot)) {
				step = MIN(to_end, size);
				break;
			}
			if (fmt->is_table(*slot, l)) {
				t = pt_table(fmt->entry_addr(*slot, l));
				continue;
			}
			if (IS_ALIGNED(va, sz) && size >= sz) {
				WRITE_ONCE(*slot, 0);
				step = sz;
				break;
			}
			/* Only part of this leaf goes: split it and look again. */
			if (pt_split(pt, slot, l))
				return -KEEL_ENOMEM;
			t = pt_table(fmt->entry_addr(*slot, l));
		}
		if (!step)
			return -KEEL_EINVAL;
		va += step;
		size -= step;
	}
	return 0;
}

bool pt_lookup(const struct pt *pt, u64 va, u64 *pa, u32 *attrs, u64 *leaf_size)
{
	const struct pt_format *fmt = pt->fmt;
	u64 limit = pt_va_limit(fmt);
	u64 *t = pt_table(pt->root);
	u32 l;

	if (limit && va >= limit)
		return false;
	for (l = 0; l < fmt->levels; l++) {
		u64 e = t[pt_index(fmt, l, va)];
		u64 sz = pt_level_size(fmt, l);

		if (!fmt->is_present(e))
			return false;
		if (fmt->is_table(e, l)) {
			t = pt_table(fmt->entry_addr(e, l));
			continue;
		}
		if (pa)
			*pa = fmt->entry_addr(e, l) + (va & (sz - 1));
		if (attrs)
			*attrs = fmt->entry_attrs(e, l);
		if (leaf_size)
			*leaf_size = sz;
		return true;
	}
	return false;
}

void pt_destroy(struct pt *pt)
{
	const struct pt_format *fmt = pt->fmt;
	u64 *t;
	u32 i;

	if (!pt->root)
		return;
	t = pt_table(pt->root);
	for (i = 0; i < fmt->root_entries; i++)
		if (fmt->is_table(t[i], 0))
			pt_free_subtree(pt, t[i], 0);
	pt->free_table(pt->ctx, pt->root, pt_table_bytes(fmt, 0));
	pt->root = 0;
}
