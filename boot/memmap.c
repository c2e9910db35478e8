/* SPDX-License-Identifier: MIT */
/*
 * The firmware memory map turned into keel_boot_info.mem: KEEL_MEM_* kinds,
 * sorted, merged, page-aligned. Runs between GetMemoryMap and
 * ExitBootServices, so it allocates nothing.
 */
#include <keel/lib.h>

#include "loader.h"

#define MEMMAP_DESC_MAX 256u /* the largest descriptor size we accept */

u32 memmap_keel_type(u32 efi_type)
{
	switch (efi_type) {
	case EfiConventionalMemory:
	case EfiBootServicesCode:
	case EfiBootServicesData:
	case EfiLoaderCode:
	case EfiLoaderData:
		return KEEL_MEM_FREE;
	case (u32)EFI_KEEL_MEMORY_TYPE:
		return KEEL_MEM_KEEL;
	case EfiRuntimeServicesCode:
	case EfiRuntimeServicesData:
		return KEEL_MEM_RUNTIME;
	case EfiACPIReclaimMemory:
		return KEEL_MEM_ACPI;
	case EfiACPIMemoryNVS:
		return KEEL_MEM_NVS;
	case EfiMemoryMappedIO:
	case EfiMemoryMappedIOPortSpace:
		return KEEL_MEM_MMIO;
	default:
		return KEEL_MEM_RESERVED;
	}
}

static EFI_MEMORY_DESCRIPTOR *memmap_desc(void *map, UINTN desc_size, UINTN i)
{
	return (EFI_MEMORY_DESCRIPTOR *)((u8 *)map + i * desc_size);
}

/* Insertion sort by PhysicalStart: the map is a few hundred entries at most. */
static void memmap_sort(void *map, UINTN n, UINTN desc_size)
{
	u8 tmp[MEMMAP_DESC_MAX];
	UINTN i, j;

	for (i = 1; i < n; i++) {
		memcpy(tmp, memmap_desc(map, desc_size, i), desc_size);
		j = i;
		while (j > 0 && memmap_desc(map, desc_size, j - 1)->PhysicalStart >
					((EFI_MEMORY_DESCRIPTOR *)tmp)->PhysicalStart) {
			memcpy(memmap_desc(map, desc_size, j), memmap_desc(map, desc_size, j - 1),
			       desc_size);
			j--;
		}
		memcpy(memmap_desc(map, desc_size, j), tmp, desc_size);
	}
}

/* Append [base, base + size) of @type, merging with the last entry. */
static int memmap_add(struct keel_boot_info *bi, u64 base, u64 size, u32 type)
{
	struct keel_boot_mem *last = bi->mem_count ? &bi->mem[bi->mem_count - 1] : NULL;

	if (last) {
		u64 end = last->base + last->size;

		if (base < end) { /* overlapping firmware entries: keep the first */
			if (base + size <= end)
				return 0;
			size -= end - base;
			base = end;
		}
		if (base == end && last->type == type) {
			last->size += size;
			return 0;
		}
	}
	if (bi->mem_count == KEEL_BOOT_MAX_MEM)
		return -KEEL_E2BIG;
	bi->mem[bi->mem_count].base = base;
	bi->mem[bi->mem_count].size = size;
	bi->mem[bi->mem_count].type = type;
	bi->mem_count++;
	return 0;
}

static bool memmap_sane(UINTN map_size, UINTN desc_size)
{
	return desc_size >= sizeof(EFI_MEMORY_DESCRIPTOR) && desc_size <= MEMMAP_DESC_MAX &&
	       desc_size % 8 == 0 && map_size % desc_size == 0;
}

int memmap_convert(void *map, UINTN map_size, UINTN desc_size, struct keel_boot_info *bi)
{
	UINTN i, n;
	int ret;

	if (!memmap_sane(map_size, desc_size))
		return -KEEL_EINVAL;
	n = map_size / desc_size;
	memmap_sort(map, n, desc_size);
	memset(bi->mem, 0, sizeof(bi->mem));
	bi->mem_count = 0;
	for (i = 0; i < n; i++) {
		EFI_MEMORY_DESCRIPTOR *d = memmap_desc(map, desc_size, i);
		u64 size = d->NumberOfPages << PAGE_SHIFT;

		if (d->NumberOfPages == 0 || d->NumberOfPages > (1ull << 40) ||
		    !IS_ALIGNED(d->PhysicalStart, PAGE_SIZE) ||
		    range_overflows(d->PhysicalStart, size))
			continue;
		ret = memmap_add(bi, d->PhysicalStart, size, memmap_keel_type(d->Type));
		if (ret)
			return ret;
	}
	return 0;
}

u64 memmap_free_bytes(const void *map, UINTN map_size, UINTN desc_size)
{
	u64 total = 0;
	UINTN i;

	if (!memmap_sane(map_size, desc_size))
		return 0;
	for (i = 0; i < map_size / desc_size; i++) {
		const EFI_MEMORY_DESCRIPTOR *d =
			(const EFI_MEMORY_DESCRIPTOR *)((const u8 *)map + i * desc_size);

		if (memmap_keel_type(d->Type) == KEEL_MEM_FREE && d->NumberOfPages < (1ull << 40))
			total += d->NumberOfPages << PAGE_SHIFT;
	}
	return total;
}
