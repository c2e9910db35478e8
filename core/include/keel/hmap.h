/* SPDX-License-Identifier: MIT */
/*
 * Keel's own address space (docs/internals.md, "What Keel maps").
 *
 * One set of shared tables maps what the hypervisor may touch at any time:
 * the RAM that is free or Keel's own (identity, leaves of at most 2 MiB), the
 * image, device windows, and the CPU stacks (each below an unmapped guard).
 * Memory a partition owns is taken out of the shared tables for as long as
 * the partition owns it. Each CPU runs on its own top-level table, a copy of
 * the shared one plus one entry only it has: its window, through which the
 * checked helpers (keel/guest_mem.h) reach partition memory one 2 MiB frame
 * at a time. So a CPU maps no partition's memory but, for the moment it is
 * being served, the one it is working for.
 */
#ifndef KEEL_HMAP_H
#define KEEL_HMAP_H

#include <keel/pt.h>
#include <keel/types.h>

struct pcpu;

/* Top-level entries the hypervisor keeps for itself (4-level, 512 GiB each). */
#define HMAP_ROOT_STACKS 254u
#define HMAP_ROOT_WINDOW 255u
#define HMAP_STACKS_VA ((u64)HMAP_ROOT_STACKS << 39)
#define HMAP_WINDOW_VA ((u64)HMAP_ROOT_WINDOW << 39)
#define HMAP_STACK_STRIDE (64u * 1024u) /* per CPU: guard gap, then the stack */
#define HMAP_WINDOW_SLOTS 4u
#define HMAP_WINDOW_SIZE SZ_2M
#define HMAP_NO_FRAME (~0ull)

/*
 * Take over @shared, the tables the arch built (RAM, image, devices), and
 * make the boot CPU's own top level. @ram_top is the end of the highest RAM
 * the arch mapped: only memory below it can be hidden (one bit per 2 MiB
 * frame, taken from @shared's alloc_table a page at a time). Refuses if RAM
 * or a device sits where the stacks or the windows go. Returns 0 or
 * -KEEL_E*.
 */
int hmap_init(struct pt *shared, hpa_t ram_top);

/* Give @cpu its own top-level table and window (before it starts). */
int hmap_cpu_init(struct pcpu *cpu);

/* Map @cpu's stack, @size bytes at @pa, below a guard gap; returns its top, or 0. */
u64 hmap_map_stack(u32 cpu, hpa_t pa, u64 size);

/*
 * Device registers Keel itself uses after boot (the pages of PCI functions'
 * MSI-X tables): mapped uncached at their physical address. Boot only, while
 * the boot CPU is the only one (-KEEL_EBUSY after), so the top level may
 * still gain an entry. The caller keeps the range's 2 MiB frames clear of
 * RAM, so hiding RAM never meets one of its tables. 0 or -KEEL_E*.
 */
int hmap_map_device(hpa_t pa, u64 size);

/*
 * Take [pa, pa + size) (2 MiB aligned, below ram_top) out of the shared
 * tables: on return no CPU translates it any more (the flush of keel/pt.h).
 * Returns 0, or -KEEL_EINVAL with nothing changed for a bad range or one
 * that holds a frame hidden already. Any number of ranges may be hidden.
 */
int hmap_hide(hpa_t pa, u64 size);

/*
 * Put [pa, pa + size) back in the shared tables once it is scrubbed: any
 * 2 MiB-aligned range of hidden frames, a whole hidden range or part of one
 * (virtio-mem gives memory back a block at a time). Panics, naming the
 * address, if a frame of it is not hidden: a broken invariant of Keel's.
 */
void hmap_unhide(hpa_t pa, u64 size);

/* Zero [pa, pa + size) (hidden, 2 MiB aligned) through this CPU's window. */
void hmap_scrub(hpa_t pa, u64 size);

/*
 * The audit behind keelctl info: *hidden gets the bytes hidden now, and
 * *exposed the bytes of them the shared tables still translate (0 unless
 * Keel is broken), both read at one moment.
 */
void hmap_audit(u64 *hidden, u64 *exposed);

/*
 * Map the 2 MiB frame holding @pa into this CPU's next window slot, for
 * @owner (a partition; windows of another owner are dropped first when none
 * is in use). Returns the address of @pa; *avail gets the bytes from there
 * to the end of the frame. Every get is paired with hmap_window_put(), in
 * stack order (an interrupt may nest its own pair).
 */
void *hmap_window_get(const void *owner, hpa_t pa, u64 *avail);
void hmap_window_put(void);

/*
 * hmap_window_put() that also unmaps the slot: for a window of another
 * owner nested in one's own (a copy between two partitions), so it does not
 * outlive the copy on this CPU.
 */
void hmap_window_put_drop(void);

/* Drop every window of this CPU (its next partition finds nothing of the last). */
void hmap_window_reset(void);

/*
 * Partition memory went back to the pool: every CPU drops its windows at
 * its next hmap_window_get or hmap_window_catch_up, so no window outlives
 * what it showed by more than the work a CPU was doing when it was called
 * (no code reads through a window of memory its partition no longer has).
 */
void hmap_windows_forget(void);
void hmap_window_catch_up(void);
/*
 * hmap_windows_forget() calls so far (atomics only). The exit path compares
 * it with its CPU's win_epoch and calls hmap_window_catch_up() only when it
 * moved: a load and a compare on every exit rather than a call.
 */
extern u32 hmap_window_epoch;

#endif /* KEEL_HMAP_H */
