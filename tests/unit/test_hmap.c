/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of Keel's own address space (core/hmap.c) over core/pt.c, on a
 * 4-level test format whose leaves are numbers the test never dereferences:
 * hiding and giving back partition memory, the audit, the per-CPU top levels,
 * the stacks area and the windows.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/abi.h>
#include <keel/hmap.h>
#include <keel/pcpu.h>
#include <keel/pt.h>

#include "pt_format.h"
#include "unit.h"

#define RAM_SIZE (4ull << 30) /* the "machine": RAM at 0..4 GiB, in 2 MiB leaves */
#define OLD_MAX_HIDDEN 128u /* slots of the range list the bitmap replaced */

struct pcpu pcpus[KEEL_MAX_CPUS];
bool pcpus_ready = true;
struct platform platform;

static long tables_allocated, tables_freed, flushes;

/* What arch_window_set was last asked to do, and how often. */
static u64 *win_last_pte;
static u64 win_last_val, win_last_va;
static long win_sets;

void arch_window_set(u64 *pte, u64 val, u64 va)
{
	*pte = val;
	win_last_pte = pte;
	win_last_val = val;
	win_last_va = va;
	win_sets++;
}

/* Keel's host formats: no leaves above 2 MiB, so hiding never splits a live table. */
static struct pt_format host_fmt;

static hpa_t t_alloc(void *ctx, u64 bytes)
{
	void *p = aligned_alloc(4096, bytes);

	if (!p)
		return 0;
	memset(p, 0, bytes);
	tables_allocated++;
	return (hpa_t)(uintptr_t)p;
}

static void t_free(void *ctx, hpa_t table, u64 bytes)
{
	tables_freed++;
	free((void *)(uintptr_t)table);
}

static void t_sync(void *ctx, u64 va, u64 size)
{
	flushes++;
}

static struct pt shared = {
	.fmt = &host_fmt,
	.alloc_table = t_alloc,
	.free_table = t_free,
	.sync = t_sync,
};

static u64 audit_hidden(void)
{
	u64 hidden, exposed;

	hmap_audit(&hidden, &exposed);
	CHECK_EQ(exposed, 0);
	return hidden;
}

/* Boot: the arch's map of RAM, then hmap takes it over and makes the boot CPU's top level. */
static void test_init(void)
{
	u64 *root, *mine;

	CHECK_EQ(pt_init(&shared), 0);
	CHECK_EQ(pt_map(&shared, 0, 0, RAM_SIZE, PT_READ | PT_WRITE), 0);
	unit_this_pcpu = &pcpus[0];
	CHECK_EQ(hmap_init(&shared, RAM_SIZE), 0);
	CHECK(pcpus[0].root != 0 && pcpus[0].root != shared.root);
	root = (u64 *)(uintptr_t)shared.root;
	mine = (u64 *)(uintptr_t)pcpus[0].root;
	/* Everything but the window is the shared tables' own entries. */
	CHECK(memcmp(root, mine, HMAP_ROOT_WINDOW * sizeof(u64)) == 0);
	CHECK(unit_pt_is_table(mine[HMAP_ROOT_STACKS], 0));
	CHECK(unit_pt_is_table(mine[HMAP_ROOT_WINDOW], 0) && !root[HMAP_ROOT_WINDOW]);
	CHECK_EQ(pt_mapped_bytes(&shared, 0, RAM_SIZE), RAM_SIZE);
	CHECK_EQ(audit_hidden(), 0);
}

/*
 * Device pages at boot (PCI MSI-X tables): mapped where the shared tables had
 * no top-level entry yet, and the boot CPU's copy of the top level gains it.
 * Refused once other CPUs run, misaligned, or where the stacks live.
 */
static void test_map_device(void)
{
	hpa_t dev = 0x9000001000ull; /* 576 GiB: a top-level entry RAM did not need */
	u64 *root = (u64 *)(uintptr_t)shared.root, *mine = (u64 *)(uintptr_t)pcpus[0].root;
	u32 slot = (u32)(dev >> 39);

	pcpus_ready = false;
	CHECK(!root[slot] && !mine[slot]);
	CHECK_EQ(hmap_map_device(dev, 0x3000), 0);
	CHECK_EQ(pt_mapped_bytes(&shared, dev, 0x3000), 0x3000);
	CHECK_EQ(pt_mapped_bytes(&shared, dev - 0x1000, 0x1000), 0);
	CHECK(root[slot] && mine[slot] == root[slot]);
	CHECK_EQ(hmap_map_device(dev + 0x10, 0x1000), -KEEL_EINVAL);
	CHECK_EQ(hmap_map_device(dev, 0), -KEEL_EINVAL);
	CHECK_EQ(hmap_map_device(HMAP_STACKS_VA, 0x1000), -KEEL_EINVAL);
	CHECK_EQ(hmap_map_device(HMAP_STACKS_VA - 0x1000, 0x2000), -KEEL_EINVAL);
	pcpus_ready = true;
	CHECK_EQ(hmap_map_device(dev + 0x10000, 0x1000), -KEEL_EBUSY);
	CHECK_EQ(pt_mapped_bytes(&shared, dev + 0x10000, 0x1000), 0);
	CHECK_EQ(audit_hidden(), 0);
}

static void test_init_refuses(void)
{
	struct pt busy = { .fmt = &host_fmt, .alloc_table = t_alloc, .free_table = t_free };
	struct pt high = { .fmt = &host_fmt, .alloc_table = t_alloc, .free_table = t_free };
	struct pt_format big = unit_pt_format;
	struct pt gig = { .fmt = &big, .alloc_table = t_alloc, .free_table = t_free };
	long allocated;

	/* A device window where the stacks go leaves no room: refused, nothing changed. */
	CHECK_EQ(pt_init(&busy), 0);
	CHECK_EQ(pt_map(&busy, HMAP_STACKS_VA, HMAP_STACKS_VA, SZ_2M, PT_READ | PT_DEVICE), 0);
	CHECK_EQ(hmap_init(&busy, RAM_SIZE), -KEEL_EINVAL);
	/* So does RAM that reaches the stacks, mapped there or not. */
	CHECK_EQ(pt_init(&high), 0);
	allocated = tables_allocated;
	CHECK_EQ(hmap_init(&high, HMAP_STACKS_VA + SZ_2M), -KEEL_EINVAL);
	CHECK_EQ(tables_allocated, allocated);
	/* 1 GiB leaves could not be hidden 2 MiB at a time without splitting live tables. */
	CHECK_EQ(pt_init(&gig), 0);
	CHECK_EQ(hmap_init(&gig, RAM_SIZE), -KEEL_EINVAL);
	pt_destroy(&busy);
	pt_destroy(&high);
	pt_destroy(&gig);
}

static void test_hide_unhide(void)
{
	long allocated = tables_allocated, freed = tables_freed, flushed = flushes;

	CHECK_EQ(hmap_hide(SZ_1G, 64ull << 20), 0);
	CHECK(flushes > flushed); /* hidden means no CPU still translates it */
	CHECK_EQ(pt_mapped_bytes(&shared, SZ_1G, 64ull << 20), 0);
	CHECK_EQ(pt_mapped_bytes(&shared, 0, RAM_SIZE), RAM_SIZE - (64ull << 20));
	CHECK_EQ(audit_hidden(), 64ull << 20);
	hmap_unhide(SZ_1G, 64ull << 20);
	CHECK_EQ(pt_mapped_bytes(&shared, 0, RAM_SIZE), RAM_SIZE);
	CHECK_EQ(audit_hidden(), 0);
	/* The tables CPUs walk stayed where they were: nothing split, nothing freed. */
	CHECK_EQ(tables_allocated, allocated);
	CHECK_EQ(tables_freed, freed);
}

static void test_hide_refuses(void)
{
	CHECK_EQ(hmap_hide(SZ_1G + PAGE_SIZE, SZ_2M), -KEEL_EINVAL);
	CHECK_EQ(hmap_hide(SZ_1G, SZ_2M + PAGE_SIZE), -KEEL_EINVAL);
	CHECK_EQ(hmap_hide(SZ_1G, 0), -KEEL_EINVAL);
	CHECK_EQ(hmap_hide(HMAP_STACKS_VA, SZ_2M), -KEEL_EINVAL);
	CHECK_EQ(hmap_hide(~0ull & ~(SZ_2M - 1), SZ_2M), -KEEL_EINVAL);
	/* Past the top of RAM there are no bits to record it in. */
	CHECK_EQ(hmap_hide(RAM_SIZE, SZ_2M), -KEEL_EINVAL);
	CHECK_EQ(hmap_hide(RAM_SIZE - SZ_2M, 2 * SZ_2M), -KEEL_EINVAL);
	CHECK_EQ(pt_mapped_bytes(&shared, 0, RAM_SIZE), RAM_SIZE);
	CHECK_EQ(audit_hidden(), 0);
	/* The last frame below it is fine. */
	CHECK_EQ(hmap_hide(RAM_SIZE - SZ_2M, SZ_2M), 0);
	CHECK_EQ(audit_hidden(), SZ_2M);
	hmap_unhide(RAM_SIZE - SZ_2M, SZ_2M);
	CHECK_EQ(audit_hidden(), 0);
}

/* virtio-mem: a plug hides one run, the guest unplugs it a few blocks at a time. */
static void test_partial_unhide(void)
{
	long allocated = tables_allocated, freed = tables_freed;
	hpa_t run = SZ_1G;

	CHECK_EQ(hmap_hide(run, 16ull << 20), 0);
	CHECK_EQ(audit_hidden(), 16ull << 20);
	hmap_unhide(run + (6ull << 20), SZ_2M);
	CHECK_EQ(audit_hidden(), 14ull << 20);
	CHECK_EQ(pt_mapped_bytes(&shared, run, 16ull << 20), SZ_2M);
	CHECK_EQ(pt_mapped_bytes(&shared, run + (6ull << 20), SZ_2M), SZ_2M);
	hmap_unhide(run, 6ull << 20);
	CHECK_EQ(audit_hidden(), 8ull << 20);
	CHECK_EQ(pt_mapped_bytes(&shared, run, 16ull << 20), 8ull << 20);
	hmap_unhide(run + (8ull << 20), 8ull << 20);
	CHECK_EQ(audit_hidden(), 0);
	CHECK_EQ(pt_mapped_bytes(&shared, 0, RAM_SIZE), RAM_SIZE);
	CHECK_EQ(tables_allocated, allocated);
	CHECK_EQ(tables_freed, freed);
}

/* A frame hidden twice would be given back while its other owner still has it. */
static void test_double_hide(void)
{
	CHECK_EQ(hmap_hide(SZ_1G, 8ull << 20), 0);
	CHECK_EQ(hmap_hide(SZ_1G, 8ull << 20), -KEEL_EINVAL);
	CHECK_EQ(hmap_hide(SZ_1G + (6ull << 20), 4ull << 20), -KEEL_EINVAL);
	CHECK_EQ(hmap_hide(SZ_1G - SZ_2M, 4ull << 20), -KEEL_EINVAL);
	/* Refused means nothing changed: the frames around it are still mapped. */
	CHECK_EQ(audit_hidden(), 8ull << 20);
	CHECK_EQ(pt_mapped_bytes(&shared, SZ_1G - SZ_2M, SZ_2M), SZ_2M);
	CHECK_EQ(pt_mapped_bytes(&shared, SZ_1G + (8ull << 20), 2 * SZ_2M), 2 * SZ_2M);
	/* Its neighbour may be hidden, and both given back in one go. */
	CHECK_EQ(hmap_hide(SZ_1G + (8ull << 20), SZ_2M), 0);
	CHECK_EQ(audit_hidden(), 10ull << 20);
	hmap_unhide(SZ_1G, 10ull << 20);
	CHECK_EQ(audit_hidden(), 0);
	CHECK_EQ(pt_mapped_bytes(&shared, 0, RAM_SIZE), RAM_SIZE);
}

struct range {
	hpa_t pa;
	u64 size;
};

static void unhide(void *arg)
{
	const struct range *r = arg;

	hmap_unhide(r->pa, r->size);
}

/* True if hmap_unhide(pa, size) panics printing @msg (in a child: see unit_panics). */
static bool unhide_panics(hpa_t pa, u64 size, const char *msg)
{
	struct range r = { pa, size };

	return unit_panics(unhide, &r, msg);
}

/* Giving back what is not hidden is Keel's own bug: a panic naming the frame. */
static void test_unhide_not_hidden(void)
{
	CHECK_EQ(hmap_hide(SZ_1G, 4ull << 20), 0);
	CHECK(unhide_panics(SZ_1G, 6ull << 20, "0x40400000 is not hidden"));
	CHECK(unhide_panics(2ull << 30, SZ_2M, "0x80000000 is not hidden"));
	CHECK(unhide_panics(SZ_1G, 0, "0x40000000 is not hidden"));
	CHECK(unhide_panics(RAM_SIZE, SZ_2M, "0x100000000 is not hidden"));
	/* The parent's bookkeeping is as it was. */
	CHECK_EQ(audit_hidden(), 4ull << 20);
	hmap_unhide(SZ_1G, 4ull << 20);
	CHECK_EQ(audit_hidden(), 0);
}

/*
 * Restarts hide and give back memory forever: the bookkeeping must not run
 * out (it once did, after ~100 lives), and any number of ranges can be
 * hidden at once (a list once held 128).
 */
static void test_many_lives(void)
{
	u32 ranges = 4 * OLD_MAX_HIDDEN;

	for (u32 life = 0; life < 10 * OLD_MAX_HIDDEN; life++) {
		hpa_t pa = SZ_1G + (u64)(life % 7) * (16ull << 20);

		CHECK_EQ(hmap_hide(pa, 16ull << 20), 0);
		hmap_unhide(pa, 16ull << 20);
	}
	/* A frame apart, so each is a run of its own for the audit. */
	for (u32 i = 0; i < ranges; i++)
		CHECK_EQ(hmap_hide((u64)i * 2 * SZ_2M, SZ_2M), 0);
	CHECK_EQ(audit_hidden(), (u64)ranges * SZ_2M);
	CHECK_EQ(pt_mapped_bytes(&shared, 0, RAM_SIZE), RAM_SIZE - (u64)ranges * SZ_2M);
	for (u32 i = 0; i < ranges; i++)
		hmap_unhide((u64)i * 2 * SZ_2M, SZ_2M);
	CHECK_EQ(audit_hidden(), 0);
	CHECK_EQ(pt_mapped_bytes(&shared, 0, RAM_SIZE), RAM_SIZE);
}

/* The audit reads the tables, not the bookkeeping: a leaf left behind is found. */
static void test_audit_finds_exposure(void)
{
	u64 hidden, exposed;

	CHECK_EQ(hmap_hide(SZ_1G, 8ull << 20), 0);
	/* As a buggy change would: map one 2 MiB frame of it back behind hmap's back. */
	CHECK_EQ(pt_map(&shared, SZ_1G + SZ_2M, SZ_1G + SZ_2M, SZ_2M, PT_READ | PT_WRITE), 0);
	hmap_audit(&hidden, &exposed);
	CHECK_EQ(hidden, 8ull << 20);
	CHECK_EQ(exposed, SZ_2M);
	CHECK_EQ(pt_unmap(&shared, SZ_1G + SZ_2M, SZ_2M), 0);
	hmap_unhide(SZ_1G, 8ull << 20);
	CHECK_EQ(audit_hidden(), 0);
}

/* Another CPU: its own top level, the same shared entries, a window of its own. */
static void test_cpu_and_stack(void)
{
	u64 *root, *other, top;
	hpa_t stack = 3ull << 30;

	pcpus[1].id = 1;
	CHECK_EQ(hmap_cpu_init(&pcpus[1]), 0);
	root = (u64 *)(uintptr_t)pcpus[0].root;
	other = (u64 *)(uintptr_t)pcpus[1].root;
	CHECK(memcmp(root, other, HMAP_ROOT_WINDOW * sizeof(u64)) == 0);
	CHECK(root[HMAP_ROOT_WINDOW] != other[HMAP_ROOT_WINDOW]);
	CHECK(pcpus[1].win_pte != pcpus[0].win_pte);

	/* A 16 KiB stack at the top of its 64 KiB slot; the rest of the slot is the guard. */
	top = hmap_map_stack(1, stack, 16384);
	CHECK_EQ(top, HMAP_STACKS_VA + 2 * HMAP_STACK_STRIDE);
	CHECK_EQ(pt_mapped_bytes(&shared, top - 16384, 16384), 16384);
	CHECK_EQ(pt_mapped_bytes(&shared, HMAP_STACKS_VA + HMAP_STACK_STRIDE,
				 HMAP_STACK_STRIDE - 16384),
		 0);
	/* Every CPU sees it: the stacks table hangs off an entry all top levels share. */
	CHECK(root[HMAP_ROOT_STACKS] == other[HMAP_ROOT_STACKS]);
	CHECK_EQ(hmap_map_stack(KEEL_MAX_CPUS, stack, 16384), 0);
	CHECK_EQ(hmap_map_stack(2, stack, HMAP_STACK_STRIDE), 0); /* no room for a guard */
}

static void test_windows(void)
{
	static const int part_a = 1, part_b = 2;
	struct pcpu *cpu = &pcpus[0];
	hpa_t pa = (2ull << 30) + 0x1234;
	u64 avail = 0;
	long sets;
	u8 *p, *q;

	/* The frame holding pa, in slot 0: the address keeps pa's offset in its frame. */
	p = hmap_window_get(&part_a, pa, &avail);
	CHECK_EQ((u64)(uintptr_t)p, HMAP_WINDOW_VA + 0x1234);
	CHECK_EQ(avail, SZ_2M - 0x1234);
	CHECK(win_last_pte == &cpu->win_pte[0]);
	CHECK_EQ(win_last_val, unit_pt_leaf_entry(2ull << 30, 2, PT_READ | PT_WRITE));
	CHECK_EQ(win_last_va, HMAP_WINDOW_VA);
	/* A nested get takes the next slot. */
	q = hmap_window_get(&part_a, pa + SZ_2M, NULL);
	CHECK_EQ((u64)(uintptr_t)q, HMAP_WINDOW_VA + HMAP_WINDOW_SIZE + 0x1234);
	CHECK_EQ(cpu->win_depth, 2);
	hmap_window_put();
	hmap_window_put();
	CHECK_EQ(cpu->win_depth, 0);

	/* The same partition again: the slot still holds the frame, no entry is written. */
	sets = win_sets;
	p = hmap_window_get(&part_a, pa + 8, NULL);
	hmap_window_put();
	CHECK_EQ(win_sets, sets);
	CHECK_EQ((u64)(uintptr_t)p, HMAP_WINDOW_VA + 0x123c);

	/* Another partition: every slot of the last one is dropped first. */
	p = hmap_window_get(&part_b, SZ_1G, NULL);
	CHECK_EQ(cpu->win_pte[1], 0);
	CHECK_EQ(cpu->win_pte[0], unit_pt_leaf_entry(SZ_1G, 2, PT_READ | PT_WRITE));
	hmap_window_put();

	/* Leaving the core: nothing of the partition stays mapped. */
	hmap_window_reset();
	for (u32 i = 0; i < HMAP_WINDOW_SLOTS; i++)
		CHECK_EQ(cpu->win_pte[i], 0);
	CHECK(cpu->win_owner == NULL);
	/* The shared tables never see a window. */
	CHECK_EQ(pt_mapped_bytes(&shared, HMAP_WINDOW_VA, HMAP_WINDOW_SLOTS * HMAP_WINDOW_SIZE), 0);
}

int main(void)
{
	host_fmt = unit_pt_format;
	host_fmt.leaf_levels = (1u << 2) | (1u << 3);
	test_init_refuses();
	test_init();
	test_map_device();
	test_hide_unhide();
	test_hide_refuses();
	test_partial_unhide();
	test_double_hide();
	test_unhide_not_hidden();
	test_many_lives();
	test_audit_finds_exposure();
	test_cpu_and_stack();
	test_windows();
	return unit_done("test_hmap");
}
