/* SPDX-License-Identifier: MIT */
/*
 * The aarch64 inline helpers of <arch/types.h>: interrupt masking, the
 * per-CPU pointer, the physical core of a CPU. Host fuzzers and tests put
 * their own <arch/inline.h> first on the include path.
 */
#ifndef KEEL_ARCH_AARCH64_INLINE_H
#define KEEL_ARCH_AARCH64_INLINE_H

#include <keel/types.h>

struct pcpu;

/*
 * The physical core of the CPU with MPIDR affinity @hwid: where this CPU's
 * MPIDR_EL1.MT says Aff0 counts threads, the ID without Aff0. Same answer
 * in loader and core.
 */
static inline u64 arch_cpu_core_of(u64 hwid)
{
	u64 mpidr;

	__asm__ volatile("mrs %0, mpidr_el1" : "=r"(mpidr));
	return (mpidr & (1ull << 24)) ? hwid >> 8 : hwid;
}

static inline void arch_cpu_relax(void)
{
	__asm__ volatile("yield" ::: "memory");
}

/*
 * For a device that reads and writes memory without snooping the caches (an
 * SMMU that is not coherent): this CPU's writes to [va, va + size) reach it,
 * and no copy of those lines stays in the caches, so what the device writes
 * there next is what this CPU reads (its event queue), and no dirty line
 * (from zeroing the memory) is written back over it later. DC CIVAC per
 * line to the point of coherency, then DSB: as x86's CLFLUSH does.
 */
static inline void arch_dma_clean(const void *va, u64 size)
{
	u64 ctr, line, a, end = (u64)(uintptr_t)va + size;

	__asm__ volatile("mrs %0, ctr_el0" : "=r"(ctr));
	line = 4ull << ((ctr >> 16) & 0xf);
	for (a = (u64)(uintptr_t)va & ~(line - 1); a < end; a += line)
		__asm__ volatile("dc civac, %0" : : "r"(a) : "memory");
	__asm__ volatile("dsb sy" ::: "memory");
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

#endif /* KEEL_ARCH_AARCH64_INLINE_H */
