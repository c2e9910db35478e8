/* SPDX-License-Identifier: MIT */
/*
 * The x86_64 inline helpers of <arch/types.h>: interrupt masking, the per-CPU
 * pointer, the physical core of a CPU. Host fuzzers and tests put their own
 * <arch/inline.h> first on the include path.
 */
#ifndef KEEL_ARCH_X86_64_INLINE_H
#define KEEL_ARCH_X86_64_INLINE_H

#include <keel/types.h>

struct pcpu;

/*
 * The physical core a CPU of APIC ID @hwid sits on: the ID without its SMT
 * bits (CPUID leaf 0xB, level 0, where its type is SMT). Two CPUs on one
 * core share its caches and buffers (L1TF, MDS). Same answer in loader and core.
 */
static inline u64 arch_cpu_core_of(u64 hwid)
{
	u32 eax, ebx, ecx, edx, max;

	__asm__ volatile("cpuid" : "=a"(max), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(0), "c"(0));
	if (max < 0xb)
		return hwid;
	__asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(0xb), "c"(0));
	if (((ecx >> 8) & 0xff) != 1) /* level 0 is not SMT: no threads */
		return hwid;
	return hwid >> (eax & 0x1f);
}

/* Bumped by every flush of the hypervisor's shared tables (arch/x86_64/mmu.c). */
extern u64 x86_hmap_gen;
void arch_mmu_catch_up(void);

/*
 * A CPU that waits (for a lock, another CPU, time) may be what a flush of
 * the shared tables waits for, with its interrupts off: it takes the flush
 * here.
 */
static inline void arch_cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
	if (__atomic_load_n(&x86_hmap_gen, __ATOMIC_RELAXED))
		arch_mmu_catch_up();
}

/*
 * Make this CPU's writes to [va, va + size) visible to a device that reads
 * memory without snooping the caches (an IOMMU walking its tables when its
 * capabilities say it does not snoop): CLFLUSH per line, then a fence.
 */
static inline void arch_dma_clean(const void *va, u64 size)
{
	u64 a = (u64)(uintptr_t)va & ~63ull, end = (u64)(uintptr_t)va + size;

	for (; a < end; a += 64)
		__asm__ volatile("clflush (%0)" : : "r"(a) : "memory");
	__asm__ volatile("mfence" ::: "memory");
}

static inline unsigned long arch_irq_save(void)
{
	unsigned long flags;

	__asm__ volatile("pushfq; popq %0; cli" : "=r"(flags) : : "memory");
	return flags;
}

static inline void arch_irq_restore(unsigned long flags)
{
	if (flags & (1ul << 9))
		__asm__ volatile("sti" ::: "memory");
}

static inline struct pcpu *arch_pcpu_this(void)
{
	struct pcpu *p;

	__asm__ volatile("movq %%gs:0, %0" : "=r"(p));
	return p;
}

#endif /* KEEL_ARCH_X86_64_INLINE_H */
