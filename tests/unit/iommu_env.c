/* SPDX-License-Identifier: MIT */
/* The environment an IOMMU driver links against in host unit tests (iommu_env.h). */
#include <stdlib.h>
#include <string.h>

#include <keel/pmm.h>

#include "iommu_env.h"
#include "unit.h"

#define ALLOC_MAX 64u

static void *allocs[ALLOC_MAX];
u64 fake_pmm_fail_size;
struct fault_report reports[FAULT_REPORTS];
u32 report_n;

hpa_t pmm_alloc(u64 size, u64 align)
{
	void *p;

	if (size == fake_pmm_fail_size)
		return 0;
	p = aligned_alloc(align < PAGE_SIZE ? PAGE_SIZE : align, size);
	memset(p, 0, size);
	for (u32 i = 0; i < ALLOC_MAX; i++) {
		if (!allocs[i]) {
			allocs[i] = p;
			return hva_to_hpa(p);
		}
	}
	CHECK(!"too many allocations");
	free(p);
	return 0;
}

void pmm_free(hpa_t base, u64 size)
{
	(void)size;
	for (u32 i = 0; i < ALLOC_MAX; i++) {
		if (allocs[i] == hpa_to_hva(base)) {
			free(allocs[i]);
			allocs[i] = NULL;
			return;
		}
	}
	CHECK(!"pmm_free of something not allocated");
}

void fake_pmm_free_all(void)
{
	for (u32 i = 0; i < ALLOC_MAX; i++) {
		free(allocs[i]);
		allocs[i] = NULL;
	}
}

u32 fake_pmm_count(void)
{
	u32 n = 0;

	for (u32 i = 0; i < ALLOC_MAX; i++)
		n += allocs[i] != NULL;
	return n;
}

void iommu_fault_report(struct iommu_unit *u, u16 rid, u64 addr, bool write, const char *why)
{
	(void)u;
	if (report_n < FAULT_REPORTS)
		reports[report_n] = (struct fault_report){ rid, addr, write, why };
	report_n++;
}

hpa_t fake_table_alloc(void *ctx, u64 bytes)
{
	void *p = aligned_alloc(PAGE_SIZE, bytes);

	(void)ctx;
	memset(p, 0, bytes);
	return hva_to_hpa(p);
}

void fake_table_free(void *ctx, hpa_t table, u64 bytes)
{
	(void)ctx;
	(void)bytes;
	free(hpa_to_hva(table));
}
