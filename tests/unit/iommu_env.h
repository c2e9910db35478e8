/* SPDX-License-Identifier: MIT */
/*
 * What tests/unit/iommu_env.c offers a test of an IOMMU driver: a pmm that
 * tracks (and can refuse) the driver's allocations, a recorder of the
 * faults it reports, and table memory for its domains' page tables.
 */
#ifndef KEEL_UNIT_IOMMU_ENV_H
#define KEEL_UNIT_IOMMU_ENV_H

#include <keel/iommu.h>
#include <keel/types.h>

/* pmm_alloc() of exactly this size fails (0: none does). */
extern u64 fake_pmm_fail_size;
/* Free everything the driver still holds; how many allocations it holds. */
void fake_pmm_free_all(void);
u32 fake_pmm_count(void);

/* iommu_fault_report()'s calls: the first FAULT_REPORTS kept, all counted. */
struct fault_report {
	u16 rid;
	u64 addr;
	bool write;
	const char *why;
};
#define FAULT_REPORTS 16u
extern struct fault_report reports[FAULT_REPORTS];
extern u32 report_n;

/* A zeroed page table of @bytes for struct pt, and its release. */
hpa_t fake_table_alloc(void *ctx, u64 bytes);
void fake_table_free(void *ctx, hpa_t table, u64 bytes);

#endif /* KEEL_UNIT_IOMMU_ENV_H */
