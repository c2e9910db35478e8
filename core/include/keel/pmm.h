/* SPDX-License-Identifier: MIT */
/*
 * Physical memory manager: free host-physical ranges from the firmware map,
 * handed out as contiguous, aligned runs. Memory is zeroed when allocated and
 * scrubbed when freed, so nothing passes from one owner to the next.
 */
#ifndef KEEL_PMM_H
#define KEEL_PMM_H

#include <keel/boot_info.h>
#include <keel/types.h>

#define PMM_MAX_RANGES 256u

/* Forget everything (host tests). */
void pmm_reset(void);

/* Add a free range; it is trimmed to whole pages. Returns 0 or -KEEL_ENOSPC. */
int pmm_add(hpa_t base, u64 size);

/* Every KEEL_MEM_FREE range of @bi. */
int pmm_init(const struct keel_boot_info *bi);

/*
 * @size bytes (page multiple) at an @align boundary (power of two, >= page),
 * zeroed. Returns the host-physical base, or 0 if no free run fits.
 */
hpa_t pmm_alloc(u64 size, u64 align);

/* Give back what pmm_alloc returned; it is scrubbed first. */
void pmm_free(hpa_t base, u64 size);

/* The same, for memory the caller has scrubbed already if @zeroed (hmap_scrub). */
void pmm_free_clean(hpa_t base, u64 size, bool zeroed);

/* One zeroed page, as a hypervisor pointer, or NULL. */
void *pmm_alloc_page(void);
void pmm_free_page(void *page);

u64 pmm_free_bytes(void);

/* Largest run that pmm_alloc(size, align) could return now. */
u64 pmm_largest_free(u64 align);

#endif /* KEEL_PMM_H */
