/* SPDX-License-Identifier: MIT */
/*
 * The one aarch64 header core may include: arch state embedded in core objects
 * and the few inline helpers core needs on hot paths.
 */
#ifndef KEEL_ARCH_AARCH64_TYPES_H
#define KEEL_ARCH_AARCH64_TYPES_H

#include <keel/pt.h>
#include <keel/types.h>

#define KEEL_ARCH_NAME "aarch64"
#define KEEL_GUEST_RAM_BASE 0x40000000ull

struct pcpu;

struct pcpu_arch {
	u64 mpidr;
	u32 gicr_index; /* redistributor frame of this CPU */
	u32 pad;
};

struct vcpu_arch {
	u64 x[31]; /* guest general registers, saved on exit */
	u64 elr, spsr; /* guest PC and PSTATE */
};

struct part_arch {
	struct pt s2; /* stage-2 tables */
	u64 vttbr; /* VMID and root, as loaded into VTTBR_EL2 */
};

/* Register state saved by the hypervisor's exception entry. */
struct arch_regs {
	u64 x[31];
	u64 sp, elr, spsr, esr, far;
};

static inline void arch_cpu_relax(void)
{
	__asm__ volatile("yield" ::: "memory");
}

static inline unsigned long arch_irq_save(void)
{
	unsigned long flags;

	__asm__ volatile("mrs %0, daif; msr daifset, #3" : "=r"(flags) : : "memory");
	return flags;
}

static inline void arch_irq_restore(unsigned long flags)
{
	__asm__ volatile("msr daif, %0" : : "r"(flags) : "memory");
}

static inline struct pcpu *arch_pcpu_this(void)
{
	struct pcpu *p;

	__asm__ volatile("mrs %0, tpidr_el2" : "=r"(p));
	return p;
}

#endif /* KEEL_ARCH_AARCH64_TYPES_H */
