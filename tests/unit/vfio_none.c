/* SPDX-License-Identifier: MIT */
/* For tests of hot memory without PCI passthrough: no partition has a DMA domain. */
#include <keel/vfio.h>

int vfio_dma_map(struct partition *part, gpa_t gpa, hpa_t hpa, u64 size)
{
	(void)part;
	(void)gpa;
	(void)hpa;
	(void)size;
	return 0;
}

void vfio_dma_unmap(struct partition *part, gpa_t gpa, u64 size)
{
	(void)part;
	(void)gpa;
	(void)size;
}
