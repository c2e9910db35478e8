/* SPDX-License-Identifier: MIT */
/*
 * Physical memory manager: a sorted array of free host-physical ranges,
 * first fit from the lowest address, merged on free. Allocations are zeroed
 * and freed memory is scrubbed, so no data passes between owners.
 */
#include <keel/abi.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/pmm.h>
#include <keel/spinlock.h>

struct pmm_range {
	hpa_t base;
	u64 size;
};

static struct pmm_range pmm_ranges[PMM_MAX_RANGES];
static u32 pmm_count;
static struct spinlock pmm_lock = SPINLOCK_INIT;

void pmm_reset(void)
{
	pmm_count = 0;
}

static void pmm_remove_at(u32 i)
{
	memmove(&pmm_ranges[i], &pmm_ranges[i + 1], (pmm_count - i - 1) * sizeof(pmm_ranges[0]));
	pmm_count--;
}

static int pmm_insert_at(u32 i, hpa_t base, u64 size)
{
	if (pmm_count == PMM_MAX_RANGES)
		return -KEEL_ENOSPC;
	memmove(&pmm_ranges[i + 1], &pmm_ranges[i], (pmm_count - i) * sizeof(pmm_ranges[0]));
	pmm_ranges[i].base = base;
	pmm_ranges[i].size = size;
	pmm_count++;
	return 0;
}

/* Insert [base, base + size) in order, merging with its neighbours. Lock held. */
static int pmm_insert(hpa_t base, u64 size)
{
	u32 i = 0;

	while (i < pmm_count && pmm_ranges[i].base < base)
		i++;
	if (i > 0 && ranges_overlap(pmm_ranges[i - 1].base, pmm_ranges[i - 1].size, base, size))
		panic("pmm: range 0x%llx+0x%llx freed twice", (unsigned long long)base,
		      (unsigned long long)size);
	if (i < pmm_count && ranges_overlap(pmm_ranges[i].base, pmm_ranges[i].size, base, size))
		panic("pmm: range 0x%llx+0x%llx freed twice", (unsigned long long)base,
		      (unsigned long long)size);
	if (i > 0 && pmm_ranges[i - 1].base + pmm_ranges[i - 1].size == base) {
		pmm_ranges[i - 1].size += size;
		if (i < pmm_count && base + size == pmm_ranges[i].base) {
			pmm_ranges[i - 1].size += pmm_ranges[i].size;
			pmm_remove_at(i);
		}
		return 0;
	}
	if (i < pmm_count && base + size == pmm_ranges[i].base) {
		pmm_ranges[i].base = base;
		pmm_ranges[i].size += size;
		return 0;
	}
	return pmm_insert_at(i, base, size);
}

int pmm_add(hpa_t base, u64 size)
{
	hpa_t start, end;
	unsigned long flags;
	int ret;

	if (range_overflows(base, size))
		return -KEEL_EINVAL;
	start = ALIGN_UP(base, PAGE_SIZE);
	end = ALIGN_DOWN(base + size, PAGE_SIZE);
	/* Page 0 stays out: a null pointer must never be valid memory. */
	if (start == 0)
		start = PAGE_SIZE;
	if (end <= start)
		return 0;
	flags = spin_lock_irqsave(&pmm_lock);
	ret = pmm_insert(start, end - start);
	spin_unlock_irqrestore(&pmm_lock, flags);
	return ret;
}

int pmm_init(const struct keel_boot_info *bi)
{
	u32 i;
	int ret;

	for (i = 0; i < bi->mem_count && i < KEEL_BOOT_MAX_MEM; i++) {
		if (bi->mem[i].type != KEEL_MEM_FREE)
			continue;
		ret = pmm_add(bi->mem[i].base, bi->mem[i].size);
		if (ret)
			return ret;
	}
	return 0;
}

/* Take [base, base + size) out of range i (the caller checked it fits). */
static int pmm_carve(u32 i, hpa_t base, u64 size)
{
	struct pmm_range r = pmm_ranges[i];
	u64 head = base - r.base;
	u64 tail = r.base + r.size - (base + size);

	if (head && tail) {
		pmm_ranges[i].size = head;
		return pmm_insert_at(i + 1, base + size, tail);
	}
	if (head) {
		pmm_ranges[i].size = head;
	} else if (tail) {
		pmm_ranges[i].base = base + size;
		pmm_ranges[i].size = tail;
	} else {
		pmm_remove_at(i);
	}
	return 0;
}

static bool pmm_size_ok(u64 size, u64 align)
{
	return size && IS_ALIGNED(size, PAGE_SIZE) && align >= PAGE_SIZE &&
	       (align & (align - 1)) == 0;
}

hpa_t pmm_alloc(u64 size, u64 align)
{
	unsigned long flags;
	hpa_t found = 0;
	u32 i;

	if (!pmm_size_ok(size, align))
		return 0;
	flags = spin_lock_irqsave(&pmm_lock);
	for (i = 0; i < pmm_count; i++) {
		hpa_t base = ALIGN_UP(pmm_ranges[i].base, align);
		u64 end = pmm_ranges[i].base + pmm_ranges[i].size;

		if (base < pmm_ranges[i].base || base >= end || end - base < size)
			continue;
		if (pmm_carve(i, base, size) == 0)
			found = base;
		break;
	}
	spin_unlock_irqrestore(&pmm_lock, flags);
	if (found)
		memset(hpa_to_hva(found), 0, size);
	return found;
}

void pmm_free(hpa_t base, u64 size)
{
	if (!base || !size)
		return;
	pmm_free_clean(base, size, false);
}

void pmm_free_clean(hpa_t base, u64 size, bool zeroed)
{
	unsigned long flags;
	int ret;

	if (!IS_ALIGNED(base, PAGE_SIZE) || !IS_ALIGNED(size, PAGE_SIZE) ||
	    range_overflows(base, size))
		panic("pmm: bad free of 0x%llx+0x%llx", (unsigned long long)base,
		      (unsigned long long)size);
	/* Scrub before anyone else can get it. */
	if (!zeroed)
		memset(hpa_to_hva(base), 0, size);
	flags = spin_lock_irqsave(&pmm_lock);
	ret = pmm_insert(base, size);
	spin_unlock_irqrestore(&pmm_lock, flags);
	if (ret)
		pr_warn("pmm: free list full, 0x%llx bytes at 0x%llx lost",
			(unsigned long long)size, (unsigned long long)base);
}

void *pmm_alloc_page(void)
{
	hpa_t pa = pmm_alloc(PAGE_SIZE, PAGE_SIZE);

	return pa ? hpa_to_hva(pa) : NULL;
}

void pmm_free_page(void *page)
{
	if (page)
		pmm_free(hva_to_hpa(page), PAGE_SIZE);
}

u64 pmm_free_bytes(void)
{
	unsigned long flags;
	u64 total = 0;
	u32 i;

	flags = spin_lock_irqsave(&pmm_lock);
	for (i = 0; i < pmm_count; i++)
		total += pmm_ranges[i].size;
	spin_unlock_irqrestore(&pmm_lock, flags);
	return total;
}

u64 pmm_largest_free(u64 align)
{
	unsigned long flags;
	u64 best = 0;
	u32 i;

	if (!pmm_size_ok(PAGE_SIZE, align))
		return 0;
	flags = spin_lock_irqsave(&pmm_lock);
	for (i = 0; i < pmm_count; i++) {
		hpa_t base = ALIGN_UP(pmm_ranges[i].base, align);
		u64 end = pmm_ranges[i].base + pmm_ranges[i].size;

		if (base >= pmm_ranges[i].base && base < end)
			best = MAX(best, ALIGN_DOWN(end - base, PAGE_SIZE));
	}
	spin_unlock_irqrestore(&pmm_lock, flags);
	return best;
}
