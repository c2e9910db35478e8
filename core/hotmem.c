/* SPDX-License-Identifier: MIT */
/*
 * Hot-pluggable partition memory: the block table and the protocol that
 * changes it (keel/hotmem.h). Plugged memory is taken from the pool in runs
 * as long as the pool allows, so a large plug is mapped with large pages;
 * unplugged memory is scrubbed once and goes straight back to the pool.
 */
#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/hmap.h>
#include <keel/hotmem.h>
#include <keel/lib.h>
#include <keel/mgmt_watch.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/vfio.h>

/* Every arch maps at least 40 bits of guest-physical space (aarch64's least IPA size). */
#define HOTMEM_GPA_LIMIT (1ull << 40)
#define HOTMEM_WAIT_WARN_NS 1000000000ull

static u64 *hotmem_table(const struct hotmem *hm)
{
	return hpa_to_hva(hm->table);
}

static gpa_t hotmem_block_gpa(const struct hotmem *hm, u64 index)
{
	return hm->base + index * KEEL_HOTMEM_BLOCK;
}

gpa_t hotmem_base(gpa_t ram_end)
{
	return MAX(ALIGN_UP(ram_end, SZ_1G), (gpa_t)KEEL_GUEST_HOTMEM_MIN);
}

int hotmem_init(struct partition *part, u64 size)
{
	struct hotmem *hm = &part->hotmem;
	gpa_t base = hotmem_base(KEEL_GUEST_RAM_BASE + pdesc_ram_size(&part->desc));
	u64 blocks = size / KEEL_HOTMEM_BLOCK;
	u64 bytes = ALIGN_UP(blocks * sizeof(u64), PAGE_SIZE);
	u64 requested = hm->requested; /* the operator's RESIZE outlives a restart */
	hpa_t table;

	memset(hm, 0, sizeof(*hm));
	hm->requested = requested;
	if (!size)
		return 0;
	if (size > KEEL_HOTMEM_MAX || base + size > HOTMEM_GPA_LIMIT)
		return -KEEL_EINVAL;
	table = pmm_alloc(bytes, PAGE_SIZE);
	if (!table)
		return -KEEL_ENOMEM;
	*hm = (struct hotmem){ .base = base,
			       .blocks = blocks,
			       .table = table,
			       .table_bytes = bytes,
			       .requested = MIN(requested, size) };
	/* Last: readers look at the table only once size says there is one. */
	__atomic_store_n(&hm->size, size, __ATOMIC_RELEASE);
	return 0;
}

void hotmem_wait_readers(void)
{
	struct pcpu *self = pcpu_this();

	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* the unpublish before the reads below */
	for (u32 i = 0; i < platform.cpu_count && i < KEEL_MAX_CPUS; i++) {
		struct pcpu *cpu = &pcpus[i];
		u64 start = arch_time_ns();
		bool warned = false;
		u32 left;

		if (cpu == self || !__atomic_load_n(&cpu->gmem_depth, __ATOMIC_ACQUIRE))
			continue;
		left = __atomic_load_n(&cpu->gmem_left, __ATOMIC_ACQUIRE);
		while (__atomic_load_n(&cpu->gmem_depth, __ATOMIC_ACQUIRE) &&
		       __atomic_load_n(&cpu->gmem_left, __ATOMIC_ACQUIRE) == left) {
			arch_cpu_relax();
			if (!warned && arch_time_ns() - start > HOTMEM_WAIT_WARN_NS) {
				/* Never freed under it: waiting is the only safe answer. */
				pr_warn("hotmem: cpu %u has been in one guest-memory access for 1 s",
					cpu->id);
				warned = true;
			}
		}
	}
}

/* Blocks [first, first + count) in the region, or false. */
static bool hotmem_range(const struct hotmem *hm, gpa_t gpa, u64 count, u64 *first)
{
	u64 off = gpa - hm->base;

	if (!hm->size || !count || gpa < hm->base || off >= hm->size ||
	    !IS_ALIGNED(off, KEEL_HOTMEM_BLOCK))
		return false;
	*first = off / KEEL_HOTMEM_BLOCK;
	return count <= hm->blocks - *first;
}

static u64 hotmem_count_plugged(const struct hotmem *hm, u64 first, u64 count)
{
	const u64 *table = hotmem_table(hm);
	u64 n = 0;

	for (u64 i = first; i < first + count; i++)
		n += table[i] != 0;
	return n;
}

int hotmem_state(const struct partition *part, gpa_t gpa, u64 count)
{
	u64 first, n;

	if (!hotmem_range(&part->hotmem, gpa, count, &first))
		return -KEEL_EINVAL;
	n = hotmem_count_plugged(&part->hotmem, first, count);
	return n == count ? HOTMEM_PLUGGED : n ? HOTMEM_MIXED : HOTMEM_UNPLUGGED;
}

/* Back blocks [first, first + n) with [hpa, ...): hide, map, then publish. */
static int hotmem_back(struct partition *part, u64 first, u64 n, hpa_t hpa)
{
	struct hotmem *hm = &part->hotmem;
	u64 bytes = n * KEEL_HOTMEM_BLOCK;
	u64 *table = hotmem_table(hm);
	int ret;

	ret = hmap_hide(hpa, bytes);
	if (ret)
		return ret;
	ret = arch_s2_map(part, hotmem_block_gpa(hm, first), hpa, bytes, S2_RWX);
	if (ret) {
		hmap_unhide(hpa, bytes);
		return ret;
	}
	ret = vfio_dma_map(part, hotmem_block_gpa(hm, first), hpa, bytes); /* its devices' DMA */
	if (ret) {
		arch_s2_unmap(part, hotmem_block_gpa(hm, first), bytes);
		hmap_unhide(hpa, bytes);
		return ret;
	}
	for (u64 i = 0; i < n; i++)
		__atomic_store_n(&table[first + i], hpa + i * KEEL_HOTMEM_BLOCK, __ATOMIC_RELEASE);
	return 0;
}

/*
 * The largest free run for up to @n blocks at guest-physical @gpa: 1 GiB
 * aligned where a 1 GiB page could map it, else block aligned; *n is cut to
 * what was found. 0 if not even one block is free.
 */
static hpa_t hotmem_take(gpa_t gpa, u64 *n)
{
	for (;;) {
		u64 bytes = *n * KEEL_HOTMEM_BLOCK;
		hpa_t hpa = 0;

		if (bytes >= SZ_1G && IS_ALIGNED(gpa, SZ_1G))
			hpa = pmm_alloc(bytes, SZ_1G);
		if (!hpa)
			hpa = pmm_alloc(bytes, KEEL_HOTMEM_BLOCK);
		if (hpa || *n == 1)
			return hpa;
		*n = (*n + 1) / 2;
	}
}

/*
 * Give back blocks [first, first + count), all plugged, one run of
 * contiguous host memory at a time, by the protocol of keel/hotmem.h.
 */
static void hotmem_release(struct partition *part, u64 first, u64 count)
{
	struct hotmem *hm = &part->hotmem;
	u64 *table = hotmem_table(hm);
	u64 i = first, end = first + count;

	while (i < end) {
		hpa_t hpa = table[i];
		u64 n = 1, bytes;

		while (i + n < end && table[i + n] == hpa + n * KEEL_HOTMEM_BLOCK)
			n++;
		bytes = n * KEEL_HOTMEM_BLOCK;
		for (u64 j = i; j < i + n; j++)
			__atomic_store_n(&table[j], 0, __ATOMIC_RELAXED);
		hotmem_wait_readers();
		arch_s2_unmap(part, hotmem_block_gpa(hm, i), bytes);
		vfio_dma_unmap(part, hotmem_block_gpa(hm, i), bytes); /* no device reaches it */
		hmap_scrub(hpa, bytes);
		hmap_windows_forget(); /* other CPUs' windows may still show it */
		hmap_unhide(hpa, bytes);
		pmm_free_clean(hpa, bytes, true);
		i += n;
	}
}

int hotmem_plug(struct partition *part, gpa_t gpa, u64 count)
{
	struct hotmem *hm = &part->hotmem;
	u64 first, done = 0;

	if (!hotmem_range(hm, gpa, count, &first) || hotmem_count_plugged(hm, first, count))
		return -KEEL_EINVAL;
	while (done < count) {
		u64 n = count - done;
		hpa_t hpa = hotmem_take(hotmem_block_gpa(hm, first + done), &n);

		if (!hpa || hotmem_back(part, first + done, n, hpa)) {
			if (hpa)
				pmm_free(hpa, n * KEEL_HOTMEM_BLOCK);
			hotmem_release(part, first, done);
			return -KEEL_ENOMEM;
		}
		done += n;
	}
	__atomic_store_n(&hm->plugged, hm->plugged + count * KEEL_HOTMEM_BLOCK, __ATOMIC_RELAXED);
	hm->plugs += count;
	mgmt_watch_event(part); /* keelctl resize waits for this */
	return 0;
}

int hotmem_unplug(struct partition *part, gpa_t gpa, u64 count)
{
	struct hotmem *hm = &part->hotmem;
	u64 first;

	if (!hotmem_range(hm, gpa, count, &first) ||
	    hotmem_count_plugged(hm, first, count) != count)
		return -KEEL_EINVAL;
	hotmem_release(part, first, count);
	__atomic_store_n(&hm->plugged, hm->plugged - count * KEEL_HOTMEM_BLOCK, __ATOMIC_RELAXED);
	hm->unplugs += count;
	mgmt_watch_event(part);
	return 0;
}

void hotmem_unplug_all(struct partition *part)
{
	struct hotmem *hm = &part->hotmem;
	const u64 *table = hotmem_table(hm);
	u64 i = 0;

	while (hm->size && i < hm->blocks) {
		u64 n = 0;

		while (i + n < hm->blocks && table[i + n])
			n++;
		if (n)
			hotmem_unplug(part, hotmem_block_gpa(hm, i), n);
		i += n ? n : 1;
	}
}

void hotmem_destroy(struct partition *part)
{
	struct hotmem *hm = &part->hotmem;

	if (!hm->size)
		return;
	hotmem_unplug_all(part);
	__atomic_store_n(&hm->size, 0, __ATOMIC_RELEASE);
	pmm_free(hm->table, hm->table_bytes);
	hm->table = 0;
}
