/* SPDX-License-Identifier: MIT */
/*
 * Keel's own address space, the arch-neutral part (keel/hmap.h): per-CPU top
 * levels, the stacks area, hiding partition memory from the shared tables,
 * and the per-CPU windows. The arch builds the shared tables, flushes them
 * (their pt.sync) and writes a window entry (arch_window_set).
 *
 * Changes to the shared tables take hmap_lock. They only ever clear or
 * restore leaves of hidden ranges (PT_KEEP_TABLES, 2 MiB aligned on a map
 * whose leaves are at most 2 MiB), add stack pages under a top-level entry
 * made at init, so no table is split or freed while CPUs run on them, and
 * no top-level entry changes after the per-CPU copies are made.
 */
#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/hmap.h>
#include <keel/lib.h>
#include <keel/pcpu.h>
#include <keel/spinlock.h>

#define HMAP_RAM_ATTRS (PT_READ | PT_WRITE)
#define HMAP_WINDOW_LEVEL 2u /* 2 MiB leaves in a 4-level format */

/* What is hidden now, range by range: the audit walks exactly these. */
#define HMAP_MAX_HIDDEN (KEEL_MAX_PARTITIONS * KEEL_MAX_MEM_REGIONS)

struct hmap_range {
	hpa_t pa;
	u64 size; /* 0: unused */
};

static struct pt *hmap_pt;
static struct spinlock hmap_lock = SPINLOCK_INIT;
static u64 hmap_hidden;
static struct hmap_range hmap_ranges[HMAP_MAX_HIDDEN];

/* The slot that records [pa, pa + size), or with @size 0 a free one. */
static struct hmap_range *hmap_range_find(hpa_t pa, u64 size)
{
	for (u32 i = 0; i < HMAP_MAX_HIDDEN; i++)
		if (hmap_ranges[i].size == size && (!size || hmap_ranges[i].pa == pa))
			return &hmap_ranges[i];
	return NULL;
}

static u64 *hmap_table(hpa_t pa)
{
	return hpa_to_hva(pa);
}

static bool hmap_format_ok(const struct pt_format *fmt)
{
	return fmt->levels == 4 && fmt->root_entries == 512 && fmt->shift[0] == 39 &&
	       fmt->shift[HMAP_WINDOW_LEVEL] == 21 && (fmt->leaf_levels & BIT(HMAP_WINDOW_LEVEL)) &&
	       !(fmt->leaf_levels & 3u);
}

int hmap_init(struct pt *shared)
{
	const struct pt_format *fmt = shared->fmt;
	u64 *root = hmap_table(shared->root);
	hpa_t stacks;

	if (!hmap_format_ok(fmt)) {
		pr_err("hmap: the %s format cannot hold per-CPU windows", fmt->name);
		return -KEEL_EINVAL;
	}
	if (fmt->is_present(root[HMAP_ROOT_STACKS]) || fmt->is_present(root[HMAP_ROOT_WINDOW])) {
		pr_err("hmap: RAM or a device at 0x%llx or above: no room for stacks and windows",
		       (unsigned long long)HMAP_STACKS_VA);
		return -KEEL_EINVAL;
	}
	stacks = shared->alloc_table(shared->ctx, PAGE_SIZE);
	if (!stacks)
		return -KEEL_ENOMEM;
	WRITE_ONCE(root[HMAP_ROOT_STACKS], fmt->table_entry(stacks));
	hmap_pt = shared;
	return hmap_cpu_init(&pcpus[0]);
}

int hmap_cpu_init(struct pcpu *cpu)
{
	const struct pt_format *fmt = hmap_pt->fmt;
	hpa_t root = 0, l1 = 0, l2 = 0;
	unsigned long flags;

	if (cpu->root)
		return 0;
	root = hmap_pt->alloc_table(hmap_pt->ctx, PAGE_SIZE);
	l1 = root ? hmap_pt->alloc_table(hmap_pt->ctx, PAGE_SIZE) : 0;
	l2 = l1 ? hmap_pt->alloc_table(hmap_pt->ctx, PAGE_SIZE) : 0;
	if (!l2) {
		hmap_pt->free_table(hmap_pt->ctx, l1, PAGE_SIZE);
		hmap_pt->free_table(hmap_pt->ctx, root, PAGE_SIZE);
		return -KEEL_ENOMEM;
	}
	hmap_table(l1)[0] = fmt->table_entry(l2);
	flags = spin_lock_irqsave(&hmap_lock);
	memcpy(hmap_table(root), hmap_table(hmap_pt->root), HMAP_ROOT_WINDOW * sizeof(u64));
	hmap_table(root)[HMAP_ROOT_WINDOW] = fmt->table_entry(l1);
	cpu->win_pte = hmap_table(l2);
	for (u32 i = 0; i < HMAP_WINDOW_SLOTS; i++)
		cpu->win_frame[i] = HMAP_NO_FRAME;
	cpu->win_owner = NULL;
	cpu->win_depth = 0;
	WRITE_ONCE(cpu->root, root);
	spin_unlock_irqrestore(&hmap_lock, flags);
	return 0;
}

u64 hmap_map_stack(u32 cpu, hpa_t pa, u64 size)
{
	u64 va = HMAP_STACKS_VA + (u64)cpu * HMAP_STACK_STRIDE + HMAP_STACK_STRIDE - size;
	unsigned long flags;
	int ret;

	/* Everything below the stack in its stride stays unmapped: the guard. */
	if (cpu >= KEEL_MAX_CPUS || size > HMAP_STACK_STRIDE - PAGE_SIZE)
		return 0;
	flags = spin_lock_irqsave(&hmap_lock);
	ret = pt_map(hmap_pt, va, pa, size, HMAP_RAM_ATTRS);
	spin_unlock_irqrestore(&hmap_lock, flags);
	return ret ? 0 : va + size;
}

static bool hmap_range_ok(hpa_t pa, u64 size)
{
	return size && IS_ALIGNED(pa | size, SZ_2M) && !range_overflows(pa, size) &&
	       pa + size <= HMAP_STACKS_VA;
}

int hmap_hide(hpa_t pa, u64 size)
{
	struct hmap_range *slot;
	unsigned long flags;
	int ret;

	if (!hmap_range_ok(pa, size))
		return -KEEL_EINVAL;
	flags = spin_lock_irqsave(&hmap_lock);
	slot = hmap_range_find(0, 0);
	ret = slot ? pt_unmap(hmap_pt, pa, size) : -KEEL_ENOMEM;
	if (!ret) {
		*slot = (struct hmap_range){ pa, size };
		hmap_hidden += size;
	}
	spin_unlock_irqrestore(&hmap_lock, flags);
	return ret;
}

void hmap_unhide(hpa_t pa, u64 size)
{
	struct hmap_range *r;
	unsigned long flags;
	int ret;

	flags = spin_lock_irqsave(&hmap_lock);
	r = size ? hmap_range_find(pa, size) : NULL;
	if (!r) {
		spin_unlock_irqrestore(&hmap_lock, flags);
		panic("hmap: unhide of 0x%llx+0x%llx, which is not hidden", (unsigned long long)pa,
		      (unsigned long long)size);
	}
	/* Into the tables that held it: nothing is split or freed. */
	ret = pt_map(hmap_pt, pa, pa, size, HMAP_RAM_ATTRS | PT_KEEP_TABLES);
	*r = (struct hmap_range){ 0, 0 };
	hmap_hidden -= size;
	spin_unlock_irqrestore(&hmap_lock, flags);
	if (ret)
		panic("hmap: cannot map 0x%llx+0x%llx back: %d", (unsigned long long)pa,
		      (unsigned long long)size, ret);
}

void hmap_scrub(hpa_t pa, u64 size)
{
	for (u64 off = 0; off < size; off += HMAP_WINDOW_SIZE) {
		void *p = hmap_window_get(NULL, pa + off, NULL);

		memset(p, 0, HMAP_WINDOW_SIZE);
		hmap_window_put();
		arch_cpu_relax(); /* GiBs take a while: take any flush another CPU waits for */
	}
	hmap_window_reset();
}

void hmap_audit(u64 *hidden, u64 *exposed)
{
	unsigned long flags = spin_lock_irqsave(&hmap_lock);
	u64 n = 0;

	for (u32 i = 0; i < HMAP_MAX_HIDDEN; i++)
		if (hmap_ranges[i].size)
			n += pt_mapped_bytes(hmap_pt, hmap_ranges[i].pa, hmap_ranges[i].size);
	*hidden = hmap_hidden;
	*exposed = n;
	spin_unlock_irqrestore(&hmap_lock, flags);
}

static void hmap_window_clear(struct pcpu *cpu, u32 slot)
{
	if (cpu->win_frame[slot] == HMAP_NO_FRAME)
		return;
	arch_window_set(&cpu->win_pte[slot], 0, HMAP_WINDOW_VA + (u64)slot * HMAP_WINDOW_SIZE);
	cpu->win_frame[slot] = HMAP_NO_FRAME;
}

void *hmap_window_get(const void *owner, hpa_t pa, u64 *avail)
{
	struct pcpu *cpu = pcpu_this();
	hpa_t frame = ALIGN_DOWN(pa, HMAP_WINDOW_SIZE);
	u64 va;
	u32 slot;

	if (cpu->win_depth == 0 && cpu->win_owner != owner) {
		hmap_window_reset();
		cpu->win_owner = owner;
	}
	slot = cpu->win_depth++;
	if (slot >= HMAP_WINDOW_SLOTS)
		panic("hmap: cpu %u: windows nested deeper than %u", cpu->id, HMAP_WINDOW_SLOTS);
	va = HMAP_WINDOW_VA + (u64)slot * HMAP_WINDOW_SIZE;
	if (cpu->win_frame[slot] != frame) {
		arch_window_set(&cpu->win_pte[slot],
				hmap_pt->fmt->leaf_entry(frame, HMAP_WINDOW_LEVEL, HMAP_RAM_ATTRS),
				va);
		cpu->win_frame[slot] = frame;
	}
	if (avail)
		*avail = frame + HMAP_WINDOW_SIZE - pa;
	return (u8 *)(uintptr_t)va + (pa - frame);
}

void hmap_window_put(void)
{
	struct pcpu *cpu = pcpu_this();

	if (cpu->win_depth == 0)
		panic("hmap: cpu %u: window put without a get", cpu->id);
	cpu->win_depth--;
}

void hmap_window_reset(void)
{
	struct pcpu *cpu = pcpu_this();

	if (!cpu->win_pte)
		return;
	for (u32 i = cpu->win_depth; i < HMAP_WINDOW_SLOTS; i++)
		hmap_window_clear(cpu, i);
	if (cpu->win_depth == 0)
		cpu->win_owner = NULL;
}
