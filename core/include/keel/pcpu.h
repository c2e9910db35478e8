/* SPDX-License-Identifier: MIT */
/* Physical CPUs: identity, stacks, the vCPU each runs, cross-CPU requests. */
#ifndef KEEL_PCPU_H
#define KEEL_PCPU_H

#include <arch/types.h>
#include <keel/abi.h>
#include <keel/hmap.h>
#include <keel/types.h>

struct vcpu;

enum pcpu_state {
	PCPU_ABSENT = 0, /* not found, or not started */
	PCPU_STARTING,
	PCPU_ONLINE, /* in virtualization mode, idle or running a vCPU */
	PCPU_FAILED, /* did not come up; owned by nobody */
};

#define PCPU_STACK_SIZE (16u * 1024u) /* plus one unmapped guard page below */

struct pcpu {
	u32 id; /* logical number: 0 = boot CPU, as keel.cfg counts */
	u32 state; /* enum pcpu_state */
	u64 hwid; /* x86_64: APIC ID; aarch64: MPIDR affinity bits */
	u64 stack_top; /* hypervisor address of its stack's top */
	struct vcpu *vcpu; /* the one vCPU pinned here, or NULL */
	/*
	 * The vCPU this CPU's loop holds (a hazard pointer): set before it uses
	 * the vCPU it read from @vcpu, checked again after. A partition's vCPUs
	 * are freed only once no CPU holds them (part_free_vcpus).
	 */
	struct vcpu *held;
	u32 ipi_count; /* IPIs received (self-test and statistics) */
	u32 pad0;
	u64 timers_ran_ns; /* when it last ran its expired timers (core/timer.c; for reports) */
	u32 win_depth; /* window slots in use (keel/hmap.h) */
	hpa_t root; /* this CPU's own top-level table */
	u64 *win_pte; /* its window's leaf entries */
	hpa_t win_frame[HMAP_WINDOW_SLOTS]; /* what each slot maps, or HMAP_NO_FRAME */
	const void *win_owner; /* whose memory the window shows */
	u32 win_epoch; /* the hmap_windows_forget() its windows are newer than */
	/*
	 * Guest-memory accesses of a partition with hot-pluggable memory (core/
	 * guest_mem.c): how deep this CPU is in them, and how many it has left
	 * (outermost). Written by this CPU only; hotmem_wait_readers reads them.
	 */
	u32 gmem_depth;
	u32 gmem_left;
	struct pcpu_arch arch;
};

/* Everything the hypervisor itself needs to know about the machine. */
struct platform {
	u32 cpu_count;
	u32 pad;
	u64 cpu_hwid[KEEL_MAX_CPUS]; /* [0] is the boot CPU */
};

extern struct pcpu pcpus[KEEL_MAX_CPUS];
/* Set once the boot CPU's per-CPU pointer works (pcpu_this() is usable). */
extern bool pcpus_ready;
extern struct platform platform;

/* This CPU's struct pcpu (set by arch_cpu_init). */
static inline struct pcpu *pcpu_this(void)
{
	return arch_pcpu_this();
}

/*
 * Entered by each secondary CPU from its arch entry, on its own stack, once
 * arch_cpu_init() succeeded there (if it fails, the arch leaves the CPU
 * halted and core reports it as not online).
 */
void __noreturn pcpu_secondary_main(struct pcpu *cpu);

/* Called by the arch's interrupt path when the hypervisor IPI arrives. */
void pcpu_ipi_handler(void);

/* The per-CPU loop: wait for a vCPU, run it, repeat. Never returns. */
void __noreturn pcpu_loop(void);

/* Start every secondary CPU of the platform, test IPIs, log the summary. */
void pcpu_start_all(void);

/* Kick @cpu out of its guest or idle so it looks at its requests. */
void pcpu_kick(struct pcpu *cpu);

/* After a panic: ask every other online CPU to halt. */
void pcpu_stop_others(void);

/* This CPU's logical number, safe before the per-CPU pointer is set. */
u32 console_cpu_id(void);

/* Report for an unexpected exception in the hypervisor itself, then stop. */
struct arch_regs;
void __noreturn panic_exception(const char *what, const struct arch_regs *regs);

#endif /* KEEL_PCPU_H */
