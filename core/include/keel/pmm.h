/* SPDX-License-Identifier: MIT */
/*
 * Physical memory manager: the free host-physical memory from the firmware
 * map, handed out as contiguous, aligned runs. Requests under 2 MiB come from
 * a metadata pool of whole 2 MiB chunks, so they never fragment partition
 * memory. Free memory is kept clean: it is scrubbed when it is given back
 * (and, for what the firmware handed over, at its first use), never twice.
 */
#ifndef KEEL_PMM_H
#define KEEL_PMM_H

#include <keel/boot_info.h>
#include <keel/types.h>

/* Ranges pmm_add takes before pmm_start (the firmware map's free entries). */
#define PMM_MAX_RANGES 256u

/* Forget everything (host tests). */
void pmm_reset(void);

/*
 * Add a free range; it is trimmed to whole pages. Returns 0, -KEEL_EINVAL (it
 * wraps, overlaps one added before, or pmm_start ran) or -KEEL_ENOSPC.
 */
int pmm_add(hpa_t base, u64 size);

/*
 * Build the bookkeeping for the ranges added (a few bits per page, carved
 * from them) and make them allocatable. Returns 0 or -KEEL_ENOMEM.
 */
int pmm_start(void);

/* pmm_add of every KEEL_MEM_FREE range of @bi, then pmm_start. */
int pmm_init(const struct keel_boot_info *bi);

/*
 * @size bytes (page multiple) at an @align boundary (power of two, >= page),
 * zeroed. Returns the host-physical base, or 0 if no free run fits.
 */
hpa_t pmm_alloc(u64 size, u64 align);

/*
 * Give back what pmm_alloc returned; it is scrubbed first (in 2 MiB steps).
 * Pages that are free already, or were given back and are still held, are
 * Keel's own bug: a panic naming the pages and both callers, before a byte
 * is touched. Small releases (up to PMM_QUARANTINE_PAGES) then wait in a
 * quarantine of the last PMM_QUARANTINE before they are handed out again:
 * a second free meanwhile is caught, and so is a write after the free (the
 * pages must still be zero when they leave). Held pages count as free, and an
 * allocation that finds nothing else takes them.
 */
void pmm_free(hpa_t base, u64 size);

#define PMM_QUARANTINE 256u
#define PMM_QUARANTINE_PAGES 16u

/* The same, for memory the caller has scrubbed already if @zeroed (hmap_scrub). */
void pmm_free_clean(hpa_t base, u64 size, bool zeroed);

/* Let every quarantined release be handed out again now (host tests). */
void pmm_quarantine_flush(void);

/* One zeroed page, as a hypervisor pointer, or NULL. */
void *pmm_alloc_page(void);
void pmm_free_page(void *page);

/*
 * Whether [start, end) meets memory @bi's map lists as RAM of any kind (free,
 * Keel's, ACPI, runtime): a device window there would alias memory.
 */
bool boot_mem_hits_ram(const struct keel_boot_info *bi, hpa_t start, hpa_t end);

/* Free bytes, in the pool and out of it. */
u64 pmm_free_bytes(void);

/* Largest run outside the pool that pmm_alloc(size, align) could return now. */
u64 pmm_largest_free(u64 align);

struct pmm_stats {
	u64 ram_free; /* free bytes outside the metadata pool */
	u64 meta_free; /* free bytes in the pool */
	u64 meta_total; /* the pool's size */
	u64 bookkeeping; /* bytes the bitmaps take */
	u64 scrubbed_first_use; /* scrubbed at their first use after boot */
	u64 scrubbed_release; /* scrubbed when given back */
};

void pmm_get_stats(struct pmm_stats *st);

/*
 * What Keel holds of the RAM the firmware gave it (its KEEL_MEM_FREE and
 * KEEL_MEM_KEEL ranges in @bi), by what holds it: Keel's own footprint is
 * core + loader + allocated. Meant for the boot, before any partition takes
 * memory: afterwards "allocated" includes the partitions' RAM.
 */
struct pmm_footprint {
	u64 ram; /* the firmware's usable RAM */
	u64 images; /* the boot modules (partitions' images), page-rounded */
	u64 core; /* the core image */
	u64 loader; /* the rest the loader set aside: boot info, AP trampoline */
	u64 allocated; /* taken from the allocator: its bitmaps, pool, tables, stacks */
	u64 free; /* pmm_free_bytes() */
};

void pmm_footprint(const struct keel_boot_info *bi, struct pmm_footprint *fp);

#endif /* KEEL_PMM_H */
