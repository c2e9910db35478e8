/* SPDX-License-Identifier: MIT */
/*
 * Hypervisor GDT, per-CPU TSS (IST stacks for #DF, NMI, #MC) and the IDT,
 * and the C side of every exception and interrupt taken in the hypervisor.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/iommu.h>
#include <keel/pcpu.h>
#include <keel/timer.h>

#include "x86.h"

#define X86_GDT_ENTRIES 5 /* null, code64, data, TSS (two slots) */

struct x86_tss {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3;
	u16 iomap_base;
} __packed;

struct x86_idt_gate {
	u16 offset_lo;
	u16 selector;
	u8 ist;
	u8 type_attr;
	u16 offset_mid;
	u32 offset_hi;
	u32 reserved;
} __packed;

struct x86_desc_ptr {
	u16 limit;
	u64 base;
} __packed;

struct x86_cpu_tables {
	u64 gdt[X86_GDT_ENTRIES];
	struct x86_tss tss;
} __aligned(64);

static struct x86_cpu_tables x86_cpu_tables[KEEL_MAX_CPUS];
static struct x86_idt_gate x86_idt[256] __aligned(16);
static u8 x86_boot_ist[X86_IST_COUNT][X86_IST_SIZE] __aligned(16);

extern const char x86_trap_stubs[];
void x86_trap(struct arch_regs *regs);

static const char *const x86_exc_names[32] = {
	"#DE divide error",
	"#DB debug",
	"NMI",
	"#BP breakpoint",
	"#OF overflow",
	"#BR bound range",
	"#UD invalid opcode",
	"#NM no FPU",
	"#DF double fault",
	"coprocessor overrun",
	"#TS invalid TSS",
	"#NP segment not present",
	"#SS stack fault",
	"#GP general protection",
	"#PF page fault",
	"reserved 15",
	"#MF x87 error",
	"#AC alignment check",
	"#MC machine check",
	"#XM SIMD error",
	"#VE virtualization",
	"#CP control protection",
	"reserved 22",
	"reserved 23",
	"reserved 24",
	"reserved 25",
	"reserved 26",
	"reserved 27",
	"#HV hypervisor injection",
	"#VC VMM communication",
	"#SX security",
	"reserved 31",
};

static void x86_idt_set(u32 vec, u8 ist)
{
	u64 addr = (u64)(uintptr_t)x86_trap_stubs + vec * 16;
	struct x86_idt_gate *g = &x86_idt[vec];

	g->offset_lo = (u16)addr;
	g->selector = X86_SEL_CODE;
	g->ist = ist;
	g->type_attr = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
	g->offset_mid = (u16)(addr >> 16);
	g->offset_hi = (u32)(addr >> 32);
	g->reserved = 0;
}

/* One IDT for all CPUs: gates are the same everywhere, only the TSS differs. */
void x86_trap_init_idt(void)
{
	for (u32 v = 0; v < 256; v++)
		x86_idt_set(v, 0);
	/* Exceptions that may hit on a broken stack get their own. */
	x86_idt_set(X86_VEC_DF, X86_IST_DF);
	x86_idt_set(X86_VEC_NMI, X86_IST_NMI);
	x86_idt_set(X86_VEC_MC, X86_IST_MC);
}

void x86_trap_boot_ist(u64 ist_top[X86_IST_COUNT])
{
	for (u32 i = 0; i < X86_IST_COUNT; i++)
		ist_top[i] = (u64)(uintptr_t)&x86_boot_ist[i][X86_IST_SIZE];
}

static void x86_gdt_fill(struct x86_cpu_tables *t)
{
	u64 tss = (u64)(uintptr_t)&t->tss;
	u64 limit = sizeof(t->tss) - 1;

	t->gdt[0] = 0;
	t->gdt[1] = 0x00af9b000000ffffull; /* code: 64-bit, DPL 0 */
	t->gdt[2] = 0x00cf93000000ffffull; /* data: flat, writable */
	/* 64-bit available TSS (type 9), 16 bytes wide. */
	t->gdt[3] = (limit & 0xffff) | ((tss & 0xffffff) << 16) | (0x89ull << 40) |
		    (((limit >> 16) & 0xf) << 48) | (((tss >> 24) & 0xff) << 56);
	t->gdt[4] = tss >> 32;
}

/*
 * Load this CPU's GDT, reload every segment register, load its TSS and the
 * shared IDT. Leaves GS base at 0: the caller sets the per-CPU pointer after.
 */
void x86_trap_load(u32 cpu, const u64 ist_top[X86_IST_COUNT])
{
	struct x86_cpu_tables *t = &x86_cpu_tables[cpu];
	struct x86_desc_ptr gdtr = { sizeof(t->gdt) - 1, (u64)(uintptr_t)t->gdt };
	struct x86_desc_ptr idtr = { sizeof(x86_idt) - 1, (u64)(uintptr_t)x86_idt };

	for (u32 i = 0; i < X86_IST_COUNT; i++)
		t->tss.ist[i] = ist_top[i];
	t->tss.iomap_base = sizeof(t->tss); /* no I/O bitmap */
	x86_gdt_fill(t);

	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "movl %2, %%eax\n\t"
			 "movl %%eax, %%ds\n\t"
			 "movl %%eax, %%es\n\t"
			 "movl %%eax, %%ss\n\t"
			 "xorl %%eax, %%eax\n\t"
			 "movl %%eax, %%fs\n\t"
			 "movl %%eax, %%gs\n\t"
			 "ltr %w3\n\t"
			 "lidt %4"
			 :
			 : "m"(gdtr), "i"((u64)X86_SEL_CODE), "i"(X86_SEL_DATA), "r"(X86_SEL_TSS),
			   "m"(idtr)
			 : "rax", "memory");
}

/* NMIs are not expected; count them instead of printing (the console lock may be held). */
static u64 x86_nmi_count;

void x86_trap(struct arch_regs *regs)
{
	u64 vec = regs->vector;

	if (vec == X86_VEC_NMI) {
		__atomic_fetch_add(&x86_nmi_count, 1, __ATOMIC_RELAXED);
		return;
	}
	if (vec < 32)
		panic_exception(x86_exc_names[vec], regs);
	if (vec == X86_VEC_SPURIOUS)
		return; /* no EOI for the spurious vector */
	if (vec == X86_VEC_IPI) {
		pcpu_ipi_handler();
		lapic_eoi();
		return;
	}
	if (vec == X86_VEC_TIMER) {
		lapic_eoi();
		timer_run_expired();
		return;
	}
	if (vec == X86_VEC_IOMMU) {
		iommu_fault_event();
		lapic_eoi();
		return;
	}
	if (vec >= X86_VEC_INTX_BASE && vec < X86_VEC_INTX_BASE + X86_INTX_GSIS) {
		x86_intx_irq(vec);
		lapic_eoi();
		return;
	}
	if (vec >= X86_VEC_MSI_BASE && vec < X86_VEC_MSI_BASE + X86_MSI_VECTORS) {
		x86_msi_irq(vec);
		lapic_eoi();
		return;
	}
	lapic_eoi();
	pr_warn_once("x86: unexpected interrupt vector %llu", (unsigned long long)vec);
}

void arch_regs_dump(const struct arch_regs *r)
{
	pr_err("  rip %016llx cs %04llx rflags %016llx vector %llu error %llx",
	       (unsigned long long)r->rip, (unsigned long long)r->cs, (unsigned long long)r->rflags,
	       (unsigned long long)r->vector, (unsigned long long)r->error_code);
	pr_err("  rsp %016llx ss %04llx cr2 %016llx cr3 %016llx", (unsigned long long)r->rsp,
	       (unsigned long long)r->ss, (unsigned long long)x86_read_cr2(),
	       (unsigned long long)x86_read_cr3());
	pr_err("  rax %016llx rbx %016llx rcx %016llx rdx %016llx", (unsigned long long)r->rax,
	       (unsigned long long)r->rbx, (unsigned long long)r->rcx, (unsigned long long)r->rdx);
	pr_err("  rsi %016llx rdi %016llx rbp %016llx r8  %016llx", (unsigned long long)r->rsi,
	       (unsigned long long)r->rdi, (unsigned long long)r->rbp, (unsigned long long)r->r8);
	pr_err("  r9  %016llx r10 %016llx r11 %016llx r12 %016llx", (unsigned long long)r->r9,
	       (unsigned long long)r->r10, (unsigned long long)r->r11, (unsigned long long)r->r12);
	pr_err("  r13 %016llx r14 %016llx r15 %016llx", (unsigned long long)r->r13,
	       (unsigned long long)r->r14, (unsigned long long)r->r15);
}
