/* SPDX-License-Identifier: MIT */
/*
 * Host stand-in for an arch's <arch/inline.h>, so a fuzzer can build the
 * arch's device models with their real <arch/types.h> (its state layouts):
 * no interrupt masking, one CPU, a core per CPU.
 */
#ifndef KEEL_FUZZ_HOST_INLINE_H
#define KEEL_FUZZ_HOST_INLINE_H

#include <keel/types.h>

struct pcpu;
extern struct pcpu *fuzz_this_pcpu;

static inline u64 arch_cpu_core_of(u64 hwid)
{
	return hwid;
}

static inline void arch_cpu_relax(void)
{
}

static inline unsigned long arch_irq_save(void)
{
	return 0;
}

static inline void arch_irq_restore(unsigned long flags)
{
	(void)flags;
}

static inline struct pcpu *arch_pcpu_this(void)
{
	return fuzz_this_pcpu;
}

#endif /* KEEL_FUZZ_HOST_INLINE_H */
