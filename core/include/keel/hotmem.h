/* SPDX-License-Identifier: MIT */
/*
 * A partition's hot-pluggable memory: a region of guest-physical space above
 * its RAM, in KEEL_HOTMEM_BLOCK blocks, each backed by host memory (plugged)
 * or not. virtio-mem (virtio/mem.c) plugs and unplugs blocks at the guest's
 * request; the checked helpers (keel/guest_mem.h) reach plugged blocks
 * through the block table.
 *
 * The table changes through one protocol, so no CPU can use a block after it
 * is given back:
 *   plug:   take host memory, hide it from Keel's map, map it in stage 2,
 *           then publish each block's address (release);
 *   unplug: unpublish each block, wait until every CPU that may have read the
 *           table before has left its guest-memory access (hotmem_wait_readers),
 *           unmap it from stage 2 (a synchronous flush on every CPU), and only
 *           then scrub it and return it to the pool.
 * Plug and unplug run one at a time per partition (the device lock); readers
 * take no lock.
 */
#ifndef KEEL_HOTMEM_H
#define KEEL_HOTMEM_H

#include <keel/abi.h>
#include <keel/lib.h>
#include <keel/types.h>

struct partition;

enum hotmem_state { HOTMEM_PLUGGED = 0, HOTMEM_UNPLUGGED = 1, HOTMEM_MIXED = 2 };

struct hotmem {
	gpa_t base; /* guest-physical start; size 0: the partition has none */
	u64 size;
	u64 blocks;
	hpa_t table; /* blocks x u64 in Keel's memory: a block's host address, or 0 */
	u64 table_bytes;
	u64 plugged; /* bytes plugged now (under the device lock; read with atomics) */
	u64 requested; /* bytes the operator asked for (RESIZE); atomics only */
	u64 plugs, unplugs; /* blocks plugged and unplugged, ever */
};

/* Where the region of a partition with @ram_end (guest-physical) begins. */
gpa_t hotmem_base(gpa_t ram_end);

/*
 * Give @part an empty region of @size bytes at hotmem_base(its RAM end).
 * 0, -KEEL_ENOMEM (the table), or -KEEL_EINVAL (beyond the guest-physical
 * space Keel maps).
 */
int hotmem_init(struct partition *part, u64 size);

/*
 * Unplug everything and free the table: the partition's vCPUs and devices
 * are gone (its teardown). Memory is scrubbed and returned to the pool.
 */
void hotmem_destroy(struct partition *part);

/*
 * Plug @count blocks from @gpa. 0; -KEEL_EINVAL if the range is not block
 * aligned, leaves the region, or has a plugged block; -KEEL_ENOMEM if the
 * host has too little free memory. On error nothing changed.
 */
int hotmem_plug(struct partition *part, gpa_t gpa, u64 count);

/* Unplug @count blocks from @gpa, all plugged. 0, or -KEEL_EINVAL and nothing changed. */
int hotmem_unplug(struct partition *part, gpa_t gpa, u64 count);

/* Unplug every plugged block. */
void hotmem_unplug_all(struct partition *part);

/* enum hotmem_state of @count blocks from @gpa, or -KEEL_EINVAL (as for plug). */
int hotmem_state(const struct partition *part, gpa_t gpa, u64 count);

/*
 * The host address of guest-physical @gpa if it is in a plugged block (else
 * 0), and in *avail the bytes from there to the block's end. Only inside a
 * guest-memory access (guest_access_begin/end in core/guest_mem.c): the
 * block stays plugged until that access ends.
 */
static inline hpa_t hotmem_lookup(const struct hotmem *hm, gpa_t gpa, u64 *avail)
{
	const u64 *table = hpa_to_hva(hm->table);
	u64 off = gpa - hm->base;
	hpa_t block;

	if (gpa < hm->base || off >= hm->size)
		return 0;
	block = __atomic_load_n(&table[off / KEEL_HOTMEM_BLOCK], __ATOMIC_ACQUIRE);
	if (!block)
		return 0;
	*avail = KEEL_HOTMEM_BLOCK - off % KEEL_HOTMEM_BLOCK;
	return block + off % KEEL_HOTMEM_BLOCK;
}

/*
 * Wait until every other CPU that was inside a guest-memory access of a
 * partition with hot-pluggable memory when this was called has left it.
 */
void hotmem_wait_readers(void);

#endif /* KEEL_HOTMEM_H */
