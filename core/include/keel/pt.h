/* SPDX-License-Identifier: MIT */
/*
 * One page-table walker for every radix format Keel builds: the hypervisor's
 * own tables, NPT, EPT, arm64 stage-1 (EL2) and stage-2, IOMMU tables later.
 * A format describes its levels and encodes entries; memory comes from the
 * caller, so the walker builds and runs on the host in unit tests.
 */
#ifndef KEEL_PT_H
#define KEEL_PT_H

#include <keel/types.h>

#define PT_MAX_LEVELS 5

/* Generic attributes of a leaf mapping; each format encodes them its own way. */
#define PT_READ (1u << 0)
#define PT_WRITE (1u << 1)
#define PT_EXEC (1u << 2)
#define PT_DEVICE (1u << 3) /* uncached device memory */
#define PT_GLOBAL (1u << 4) /* hypervisor tables: global TLB entry */
/* pt_map option, not an attribute: map inside existing tables, never replace one. */
#define PT_KEEP_TABLES (1u << 5)

struct pt_format {
	const char *name;
	u32 levels; /* number of levels; level 0 is the root */
	u32 root_entries; /* entries in the root table (stage-2 may concatenate) */
	u8 shift[PT_MAX_LEVELS]; /* address bit where each level's index starts */
	u32 leaf_levels; /* bit n set: a leaf (block/page) may sit at level n */
	/*
	 * Break-before-make (arm64): a valid entry in tables in use is replaced
	 * only through invalid, with a flush in between.
	 */
	bool bbm;
	/* Encoders / decoders of one 64-bit entry. */
	u64 (*table_entry)(hpa_t next_table);
	/*
	 * Optional, used instead of @table_entry when set: for formats whose
	 * table entry names the level of the table it points to (AMD-Vi's Next
	 * Level). @level is the entry's own level; its table is at level + 1.
	 */
	u64 (*table_entry_at)(hpa_t next_table, u32 level);
	u64 (*leaf_entry)(hpa_t pa, u32 level, u32 attrs);
	bool (*is_present)(u64 entry);
	bool (*is_table)(u64 entry, u32 level); /* present and points to a table */
	hpa_t (*entry_addr)(u64 entry, u32 level); /* table or output address */
	u32 (*entry_attrs)(u64 entry, u32 level); /* PT_* of a leaf */
};

struct pt {
	const struct pt_format *fmt;
	hpa_t root;
	/* A zeroed table of @bytes (a page, or more for a concatenated root). */
	hpa_t (*alloc_table)(void *ctx, u64 bytes);
	void (*free_table)(void *ctx, hpa_t table, u64 bytes);
	/*
	 * The synchronous flush of tables in use, NULL while nothing walks them:
	 * returns once no CPU (or device) holds a translation, or a cached walk,
	 * of [va, va + size) made before the call. With it set, the walker does
	 * all TLB maintenance itself: an entry that was valid changes only with a
	 * flush after it (before it too, for @fmt->bbm), and a table that leaves
	 * the tree is freed only after the flush that covers it. Without it, TLB
	 * maintenance is the caller's.
	 */
	void (*sync)(void *ctx, u64 va, u64 size);
	void *ctx;
};

/* Allocate an empty root. Returns 0 or -KEEL_ENOMEM. */
int pt_init(struct pt *pt);

/*
 * Map [va, va + size) to [pa, pa + size) with @attrs, each piece with the
 * largest leaf the format allows where va and pa are both aligned and the
 * rest of the range covers it. Existing leaves in the range are replaced
 * (a larger leaf is split first); so are tables, unless @attrs has
 * PT_KEEP_TABLES, which maps inside them with smaller leaves instead. All
 * three page aligned. Returns 0, or -KEEL_EINVAL / -KEEL_ENOMEM (then part
 * of the range may be mapped).
 *
 * On a @fmt->bbm format with @sync set, a split or a replaced entry is
 * invalid for a moment: only for ranges no other CPU is using then.
 */
int pt_map(struct pt *pt, u64 va, u64 pa, u64 size, u32 attrs);

/* Remove [va, va + size); larger leaves that straddle an end are split. */
int pt_unmap(struct pt *pt, u64 va, u64 size);

/*
 * pt_unmap, and then every table in the range that is left empty leaves the
 * tree too (freed after the flush): for tables whose unmapped parts are not
 * mapped again soon (a partition's stage 2 after memory is unplugged). Not
 * for tables that must be there to map into without allocating (PT_KEEP_TABLES).
 */
int pt_unmap_prune(struct pt *pt, u64 va, u64 size);

/*
 * Translate @va. Returns true with *pa, *attrs and *leaf_size if mapped.
 * Any of the out pointers may be NULL.
 */
bool pt_lookup(const struct pt *pt, u64 va, u64 *pa, u32 *attrs, u64 *leaf_size);

/* Bytes of [va, va + size) that translate to something (an audit). */
u64 pt_mapped_bytes(const struct pt *pt, u64 va, u64 size);

/* Free every table, the root included (nothing walks them any more). */
void pt_destroy(struct pt *pt);

/* Size a leaf at @level covers. */
static inline u64 pt_level_size(const struct pt_format *fmt, u32 level)
{
	return 1ull << fmt->shift[level];
}

#endif /* KEEL_PT_H */
