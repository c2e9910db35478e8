/* SPDX-License-Identifier: MIT */
/*
 * Keel's own address space, the arch-neutral part (keel/hmap.h): per-CPU top
 * levels, the stacks area, hiding partition memory from the shared tables,
 * and the per-CPU windows. The arch builds the shared tables, flushes them
 * (their pt.sync) and writes a window entry (arch_window_set).
 *
 * Changes to the shared tables take hmap_lock. They only ever clear or
 * restore leaves of hidden frames (PT_KEEP_TABLES, 2 MiB aligned on a map
 * whose leaves are at most 2 MiB), add stack pages under a top-level entry
 * made at init, and, while the boot CPU is alone, map device pages
 * (hmap_map_device), so no table is split or freed while CPUs run on them,
 * and no top-level entry changes after the per-CPU copies are made.
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

/*
 * What is hidden now: one bit per 2 MiB frame of [0, hmap_frames * 2 MiB),
 * the RAM the arch mapped. A bitmap rather than a list of ranges, so any
 * number of ranges can be hidden and any 2 MiB-aligned part of one given
 * back on its own (virtio-mem unplugs a block at a time). Its pages are
 * taken one at a time and need not be contiguous: aarch64's alloc_table
 * gives no more than a page before its tables are live (a boot pool).
 */
#define HMAP_BITS_PER_PAGE (PAGE_SIZE * 8)
#define HMAP_MAX_FRAMES (HMAP_STACKS_VA / SZ_2M)
#define HMAP_MAP_PAGES (ALIGN_UP(HMAP_MAX_FRAMES, HMAP_BITS_PER_PAGE) / HMAP_BITS_PER_PAGE)

static struct pt *hmap_pt;
static struct spinlock hmap_lock = SPINLOCK_INIT;
static u64 hmap_hidden;
static u64 hmap_frames;
static u64 *hmap_map[HMAP_MAP_PAGES];

static u64 *hmap_table(hpa_t pa)
{
	return hpa_to_hva(pa);
}

/* The bitmap word that holds @frame's bit. */
static u64 *hmap_word(u64 frame)
{
	return &hmap_map[frame / HMAP_BITS_PER_PAGE][frame % HMAP_BITS_PER_PAGE / 64];
}

/* The first frame of [frame, end) that is hidden (@hidden) or not, or @end. */
static u64 hmap_find(u64 frame, u64 end, bool hidden)
{
	while (frame < end) {
		u64 word = *hmap_word(frame) ^ (hidden ? 0 : ~0ull);

		word &= ~0ull << (frame % 64);
		if (word)
			return MIN(ALIGN_DOWN(frame, 64) + (u64)__builtin_ctzll(word), end);
		frame = ALIGN_DOWN(frame, 64) + 64;
	}
	return end;
}

/* Mark [frame, end) hidden or not, a word at a time. */
static void hmap_mark(u64 frame, u64 end, bool hidden)
{
	while (frame < end) {
		u64 n = MIN(64 - frame % 64, end - frame);
		u64 mask = (n == 64 ? ~0ull : BIT(n) - 1) << (frame % 64);
		u64 *word = hmap_word(frame);

		*word = hidden ? *word | mask : *word & ~mask;
		frame += n;
	}
}

/* Give the bitmap's pages back: hmap_init failed after taking them. */
static void hmap_map_free(struct pt *shared)
{
	for (u32 i = 0; i < HMAP_MAP_PAGES && hmap_map[i]; i++) {
		shared->free_table(shared->ctx, hva_to_hpa(hmap_map[i]), PAGE_SIZE);
		hmap_map[i] = NULL;
	}
	hmap_frames = 0;
}

/* A zeroed bitmap of the frames below @ram_top (at most HMAP_STACKS_VA). */
static int hmap_map_alloc(struct pt *shared, hpa_t ram_top)
{
	u64 frames = ALIGN_UP(ram_top, SZ_2M) / SZ_2M;
	u64 pages = ALIGN_UP(frames, HMAP_BITS_PER_PAGE) / HMAP_BITS_PER_PAGE;

	for (u64 i = 0; i < pages; i++) {
		hpa_t page = shared->alloc_table(shared->ctx, PAGE_SIZE);

		if (!page) {
			hmap_map_free(shared);
			return -KEEL_ENOMEM;
		}
		hmap_map[i] = hpa_to_hva(page);
	}
	hmap_frames = frames;
	return 0;
}

static bool hmap_format_ok(const struct pt_format *fmt)
{
	return fmt->levels == 4 && fmt->root_entries == 512 && fmt->shift[0] == 39 &&
	       fmt->shift[HMAP_WINDOW_LEVEL] == 21 && (fmt->leaf_levels & BIT(HMAP_WINDOW_LEVEL)) &&
	       !(fmt->leaf_levels & 3u);
}

int hmap_init(struct pt *shared, hpa_t ram_top)
{
	const struct pt_format *fmt = shared->fmt;
	u64 *root = hmap_table(shared->root);
	hpa_t stacks;
	int ret;

	if (!hmap_format_ok(fmt)) {
		pr_err("hmap: the %s format cannot hold per-CPU windows", fmt->name);
		return -KEEL_EINVAL;
	}
	if (ram_top > HMAP_STACKS_VA || fmt->is_present(root[HMAP_ROOT_STACKS]) ||
	    fmt->is_present(root[HMAP_ROOT_WINDOW])) {
		pr_err("hmap: RAM or a device at 0x%llx or above: no room for stacks and windows",
		       (unsigned long long)HMAP_STACKS_VA);
		return -KEEL_EINVAL;
	}
	ret = hmap_map_alloc(shared, ram_top);
	if (ret)
		return ret;
	stacks = shared->alloc_table(shared->ctx, PAGE_SIZE);
	if (!stacks) {
		hmap_map_free(shared);
		return -KEEL_ENOMEM;
	}
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

/* 2 MiB aligned, not empty, and inside the RAM the bitmap covers (in frames: no wrap). */
static bool hmap_range_ok(hpa_t pa, u64 size)
{
	return size && IS_ALIGNED(pa | size, SZ_2M) && pa / SZ_2M < hmap_frames &&
	       size / SZ_2M <= hmap_frames - pa / SZ_2M;
}

int hmap_hide(hpa_t pa, u64 size)
{
	u64 first = pa / SZ_2M, end = first + size / SZ_2M;
	unsigned long flags;
	int ret = -KEEL_EINVAL;

	if (!hmap_range_ok(pa, size))
		return -KEEL_EINVAL;
	flags = spin_lock_irqsave(&hmap_lock);
	/* A frame hidden twice would be given back while its other owner still has it. */
	if (hmap_find(first, end, true) == end)
		ret = pt_unmap(hmap_pt, pa, size);
	if (!ret) {
		hmap_mark(first, end, true);
		hmap_hidden += size;
	}
	spin_unlock_irqrestore(&hmap_lock, flags);
	return ret;
}

void hmap_unhide(hpa_t pa, u64 size)
{
	bool ok;
	hpa_t bad;
	unsigned long flags;
	int ret;

	flags = spin_lock_irqsave(&hmap_lock);
	ok = hmap_range_ok(pa, size);
	bad = ok ? hmap_find(pa / SZ_2M, (pa + size) / SZ_2M, false) * SZ_2M : pa;
	if (!ok || bad != pa + size) {
		spin_unlock_irqrestore(&hmap_lock, flags);
		panic("hmap: unhide of 0x%llx+0x%llx: 0x%llx is not hidden", (unsigned long long)pa,
		      (unsigned long long)size, (unsigned long long)bad);
	}
	/* Into the tables that held it: nothing is split or freed. */
	ret = pt_map(hmap_pt, pa, pa, size, HMAP_RAM_ATTRS | PT_KEEP_TABLES);
	hmap_mark(pa / SZ_2M, (pa + size) / SZ_2M, false);
	hmap_hidden -= size;
	spin_unlock_irqrestore(&hmap_lock, flags);
	if (ret)
		panic("hmap: cannot map 0x%llx+0x%llx back: %d", (unsigned long long)pa,
		      (unsigned long long)size, ret);
}

int hmap_map_device(hpa_t pa, u64 size)
{
	unsigned long flags;
	int ret;

	if (READ_ONCE(pcpus_ready) || !hmap_pt || !pcpus[0].root)
		return -KEEL_EBUSY;
	if (!size || !IS_ALIGNED(pa | size, PAGE_SIZE) || pa >= HMAP_STACKS_VA ||
	    size > HMAP_STACKS_VA - pa)
		return -KEEL_EINVAL;
	flags = spin_lock_irqsave(&hmap_lock);
	ret = pt_map(hmap_pt, pa, pa, size, PT_READ | PT_WRITE | PT_DEVICE);
	/* The boot CPU runs on a copy of the top level: it gets any entry this made. */
	if (!ret)
		memcpy(hmap_table(pcpus[0].root), hmap_table(hmap_pt->root),
		       HMAP_ROOT_WINDOW * sizeof(u64));
	spin_unlock_irqrestore(&hmap_lock, flags);
	return ret;
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
	u64 n = 0, run = hmap_find(0, hmap_frames, true);

	/* One walk of the tables per run of hidden frames, not one per frame. */
	while (run < hmap_frames) {
		u64 end = hmap_find(run, hmap_frames, false);

		n += pt_mapped_bytes(hmap_pt, run * SZ_2M, (end - run) * SZ_2M);
		run = hmap_find(end, hmap_frames, true);
	}
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

u32 hmap_window_epoch; /* hmap_windows_forget() calls so far; atomics only */

void hmap_windows_forget(void)
{
	__atomic_add_fetch(&hmap_window_epoch, 1, __ATOMIC_RELEASE);
}

/* Drop this CPU's windows if memory went back since they were made (none in use). */
static void hmap_window_epoch_check(struct pcpu *cpu)
{
	u32 epoch = __atomic_load_n(&hmap_window_epoch, __ATOMIC_ACQUIRE);

	if (cpu->win_epoch == epoch || cpu->win_depth)
		return;
	hmap_window_reset();
	cpu->win_epoch = epoch;
}

void hmap_window_catch_up(void)
{
	hmap_window_epoch_check(pcpu_this());
}

void *hmap_window_get(const void *owner, hpa_t pa, u64 *avail)
{
	struct pcpu *cpu = pcpu_this();
	hpa_t frame = ALIGN_DOWN(pa, HMAP_WINDOW_SIZE);
	u64 va;
	u32 slot;

	hmap_window_epoch_check(cpu);
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

void hmap_window_put_drop(void)
{
	struct pcpu *cpu = pcpu_this();

	hmap_window_put();
	hmap_window_clear(cpu, cpu->win_depth);
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
