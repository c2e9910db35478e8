/* SPDX-License-Identifier: MIT */
/*
 * The generic page-table walker: map, unmap, look up and free radix tables of
 * any format described by struct pt_format. Leaves are as large as alignment
 * and length allow; a larger leaf is split when part of it changes.
 *
 * Tables in use (pt->sync set) change by one protocol: an entry that was
 * valid is rewritten and the range is flushed before the operation returns;
 * on break-before-make formats it is made invalid and flushed first. A table
 * that leaves the tree goes on the operation's deferred-free list, released
 * only after the flush that covers it, so no walker can still be using a
 * page when the allocator hands it out again.
 */
#include <keel/abi.h>
#include <keel/pt.h>

#define PT_ENTRIES 512u
#define PT_DEFERRED_MAX 8u

/* What one operation owes: a range to flush and the tables freed after it. */
struct pt_batch {
	u64 lo, hi; /* range to flush; empty when lo >= hi */
	u32 deferred;
	u64 entry[PT_DEFERRED_MAX]; /* table entries that left the tree */
	u32 level[PT_DEFERRED_MAX];
};

static u64 *pt_table(hpa_t pa)
{
	return hpa_to_hva(pa);
}

/* The entry at @level that points to @table (at level + 1). */
static u64 pt_table_entry(const struct pt_format *fmt, hpa_t table, u32 level)
{
	return fmt->table_entry_at ? fmt->table_entry_at(table, level) : fmt->table_entry(table);
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

static void pt_batch_add(struct pt_batch *b, u64 va, u64 size)
{
	if (b->lo >= b->hi) {
		b->lo = va;
		b->hi = va + size;
		return;
	}
	b->lo = MIN(b->lo, va);
	b->hi = MAX(b->hi, va + size);
}

/* Flush what @b owes, then free the tables it holds. */
static void pt_batch_sync(struct pt *pt, struct pt_batch *b)
{
	if (pt->sync && b->lo < b->hi)
		pt->sync(pt->ctx, b->lo, b->hi - b->lo);
	for (u32 i = 0; i < b->deferred; i++)
		pt_free_subtree(pt, b->entry[i], b->level[i]);
	b->lo = b->hi = 0;
	b->deferred = 0;
}

/*
 * Replace the entry *slot (at @level, covering @va) with @val by the
 * protocol above. A table that @val replaces is freed after the flush.
 */
static void pt_set(struct pt *pt, struct pt_batch *b, u64 *slot, u32 level, u64 va, u64 val)
{
	const struct pt_format *fmt = pt->fmt;
	u64 sz = pt_level_size(fmt, level);
	u64 old = *slot;

	va = ALIGN_DOWN(va, sz);
	if (!fmt->is_present(old) || !pt->sync) {
		/* Nothing can hold what was not valid, or nothing walks these tables. */
		WRITE_ONCE(*slot, val);
	} else if (fmt->bbm && fmt->is_present(val)) {
		WRITE_ONCE(*slot, 0);
		pt->sync(pt->ctx, va, sz);
		WRITE_ONCE(*slot, val);
	} else {
		WRITE_ONCE(*slot, val);
		pt_batch_add(b, va, sz);
	}
	if (!fmt->is_present(old) || !fmt->is_table(old, level))
		return;
	if (!pt->sync || (fmt->bbm && fmt->is_present(val))) {
		pt_free_subtree(pt, old, level); /* flushed already, or never walked */
		return;
	}
	if (b->deferred == PT_DEFERRED_MAX)
		pt_batch_sync(pt, b);
	b->entry[b->deferred] = old;
	b->level[b->deferred++] = level;
}

/*
 * Replace the leaf *slot at @level with a table of next-level leaves that map
 * the same range with the same attributes.
 */
static int pt_split(struct pt *pt, struct pt_batch *b, u64 *slot, u32 level, u64 va)
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
	pt_set(pt, b, slot, level, va, pt_table_entry(fmt, table, level));
	return 0;
}

/*
 * The slot for @va at @level, creating tables (or splitting larger leaves) on
 * the way down. Returns NULL on allocation failure.
 */
static u64 *pt_walk_create(struct pt *pt, struct pt_batch *b, u64 va, u32 level)
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
			WRITE_ONCE(*slot, pt_table_entry(fmt, table, l));
		} else if (!fmt->is_table(*slot, l)) {
			if (pt_split(pt, b, slot, l, va))
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

/* Clear every leaf in [va, va + size), splitting those that straddle an end. */
static int pt_clear(struct pt *pt, struct pt_batch *b, u64 va, u64 size)
{
	const struct pt_format *fmt = pt->fmt;

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
				pt_set(pt, b, slot, l, va, 0);
				step = sz;
				break;
			}
			/* Only part of this leaf goes: split it and look again. */
			if (pt_split(pt, b, slot, l, va))
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

int pt_map(struct pt *pt, u64 va, u64 pa, u64 size, u32 attrs)
{
	const struct pt_format *fmt = pt->fmt;
	bool keep_tables = attrs & PT_KEEP_TABLES;
	struct pt_batch b = { 0 };
	int ret = 0;

	attrs &= ~PT_KEEP_TABLES;
	if (!pt_range_ok(pt, va, size) || !IS_ALIGNED(pa, PAGE_SIZE) || range_overflows(pa, size))
		return -KEEL_EINVAL;
	if (fmt->bbm && pt->sync) {
		/* Break the whole range with one flush, rather than leaf by leaf. */
		ret = pt_clear(pt, &b, va, size);
		pt_batch_sync(pt, &b);
		if (ret)
			return ret;
	}
	while (size) {
		u32 level = pt_pick_level(fmt, va, pa, size);
		u64 *slot = pt_walk_create(pt, &b, va, level);

		/* Smaller leaves inside a table than the table's whole range. */
		while (slot && keep_tables && fmt->is_table(*slot, level) &&
		       level + 1 < fmt->levels)
			slot = pt_walk_create(pt, &b, va, ++level);
		if (!slot) {
			ret = -KEEL_ENOMEM;
			break;
		}
		pt_set(pt, &b, slot, level, va, fmt->leaf_entry(pa, level, attrs));
		va += pt_level_size(fmt, level);
		pa += pt_level_size(fmt, level);
		size -= pt_level_size(fmt, level);
	}
	pt_batch_sync(pt, &b);
	return ret;
}

static bool pt_table_empty(const struct pt_format *fmt, const u64 *t, u32 level)
{
	for (u32 i = 0; i < pt_entries(fmt, level); i++)
		if (fmt->is_present(t[i]))
			return false;
	return true;
}

/*
 * Take out of the tree every table under @t (at @level) that reaches into
 * [va, end) and holds nothing once its own empty tables are gone, deepest
 * first. Each is freed after the flush (pt_set).
 */
static void pt_prune(struct pt *pt, struct pt_batch *b, u64 *t, u32 level, u64 va, u64 end)
{
	const struct pt_format *fmt = pt->fmt;
	u64 sz = pt_level_size(fmt, level);

	while (va < end) {
		u64 *slot = &t[pt_index(fmt, level, va)];
		u64 next = ALIGN_DOWN(va, sz) + sz;

		if (fmt->is_present(*slot) && fmt->is_table(*slot, level)) {
			u64 *child = pt_table(fmt->entry_addr(*slot, level));

			pt_prune(pt, b, child, level + 1, va, MIN(end, next));
			if (pt_table_empty(fmt, child, level + 1))
				pt_set(pt, b, slot, level, va, 0);
		}
		if (next <= va)
			break; /* the top of the address space */
		va = next;
	}
}

static int pt_unmap_range(struct pt *pt, u64 va, u64 size, bool prune)
{
	struct pt_batch b = { 0 };
	int ret;

	if (!pt_range_ok(pt, va, size))
		return -KEEL_EINVAL;
	ret = pt_clear(pt, &b, va, size);
	if (!ret && prune)
		pt_prune(pt, &b, pt_table(pt->root), 0, va, va + size);
	pt_batch_sync(pt, &b);
	return ret;
}

int pt_unmap_prune(struct pt *pt, u64 va, u64 size)
{
	return pt_unmap_range(pt, va, size, true);
}

int pt_unmap(struct pt *pt, u64 va, u64 size)
{
	return pt_unmap_range(pt, va, size, false);
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

u64 pt_mapped_bytes(const struct pt *pt, u64 va, u64 size)
{
	const struct pt_format *fmt = pt->fmt;
	u64 total = 0;

	if (!pt_range_ok(pt, va, size))
		return 0;
	while (size) {
		u64 *t = pt_table(pt->root);
		u64 step = size;
		u32 l;

		for (l = 0; l < fmt->levels; l++) {
			u64 e = t[pt_index(fmt, l, va)];
			u64 sz = pt_level_size(fmt, l);

			step = MIN(sz - (va & (sz - 1)), size);
			if (!fmt->is_present(e))
				break;
			if (fmt->is_table(e, l)) {
				t = pt_table(fmt->entry_addr(e, l));
				continue;
			}
			total += step;
			break;
		}
		va += step;
		size -= step;
	}
	return total;
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
