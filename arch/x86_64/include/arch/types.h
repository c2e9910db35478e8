/* SPDX-License-Identifier: MIT */
/*
 * The one x86_64 header core may include: arch state embedded in core objects
 * and the few inline helpers core needs on hot paths.
 */
#ifndef KEEL_ARCH_X86_64_TYPES_H
#define KEEL_ARCH_X86_64_TYPES_H

#include <keel/pt.h>
#include <keel/types.h>

#define KEEL_ARCH_NAME "x86_64"
#define KEEL_GUEST_RAM_BASE 0x0ull

struct pcpu;

struct pcpu_arch {
	struct pcpu *self; /* at %gs:0, so arch_pcpu_this() is one load */
	u32 apic_id;
	u32 pad;
	hpa_t host_save_area; /* SVM VM_HSAVE_PA page / VMXON region */
};

struct vcpu_arch {
	hpa_t vmcb; /* SVM VMCB (or VMCS) page */
	u64 gprs[16]; /* guest GPRs not kept in the VMCB, by x86 register number */
};

struct part_arch {
	struct pt npt; /* nested page tables */
};

/* Register state saved by the hypervisor's exception entry. */
struct arch_regs {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error_code;
	u64 rip, cs, rflags, rsp, ss;
};

static inline void arch_cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
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

#endif /* KEEL_ARCH_X86_64_TYPES_H */
