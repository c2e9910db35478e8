/* SPDX-License-Identifier: MIT */
/*
 * Private x86_64 definitions shared by the files of arch/x86_64: register
 * and MSR numbers, CPU instruction wrappers, and the interfaces between the
 * arch files (mmu, lapic, acpi, smp, virt). Never included by core.
 */
#ifndef KEEL_X86_H
#define KEEL_X86_H

#include <arch/types.h>
#include <keel/boot_info.h>
#include <keel/types.h>

/* Hypervisor GDT selectors. */
#define X86_SEL_CODE 0x08
#define X86_SEL_DATA 0x10
#define X86_SEL_TSS 0x18

/* Interrupt vectors. */
#define X86_VEC_NMI 2
#define X86_VEC_DF 8
#define X86_VEC_PF 14
#define X86_VEC_MC 18
#define X86_VEC_MSI_BASE 0x40 /* MSIs of partitions' PCI functions (msi.c) */
#define X86_MSI_VECTORS 64u
#define X86_VEC_INTX_BASE 0x80 /* INTx of PCI functions: GSI 16 + n (ioapic.c) */
#define X86_INTX_GSIS 64u
_Static_assert(X86_VEC_MSI_BASE + X86_MSI_VECTORS <= X86_VEC_INTX_BASE, "MSI below INTx vectors");
#define X86_VEC_IOMMU 0xee /* the IOMMUs' fault events, to the boot CPU */
#define X86_VEC_TIMER 0xef /* the hypervisor's one-shot LAPIC timer */
#define X86_VEC_IPI 0xf0
#define X86_VEC_SPURIOUS 0xff

/* IST slots in the TSS (1-based, as the IDT gate encodes them). */
#define X86_IST_DF 1
#define X86_IST_NMI 2
#define X86_IST_MC 3
#define X86_IST_COUNT 3
#define X86_IST_SIZE 8192u

/* The 64-bit Linux entry's GDT in guest memory (bzimage.c, svm.c). */
#define X86_LINUX_GDT 0x1e00ull
#define X86_LINUX_CS 0x10
#define X86_LINUX_DS 0x18

/* Control register bits. */
#define X86_CR0_PE BIT(0)
#define X86_CR0_MP BIT(1)
#define X86_CR0_ET BIT(4)
#define X86_CR0_NE BIT(5)
#define X86_CR0_WP BIT(16)
#define X86_CR0_PG BIT(31)
#define X86_CR4_PAE BIT(5)
#define X86_CR4_PGE BIT(7)
#define X86_CR4_SMEP BIT(20)
#define X86_CR4_SMAP BIT(21)
#define X86_RFLAGS_TF BIT(8)
#define X86_DR6_BS BIT(14) /* single step */
#define X86_RFLAGS_IF BIT(9)
#define X86_RFLAGS_DF BIT(10)
#define X86_RFLAGS_AC BIT(18)

/* MSRs. */
#define MSR_APIC_BASE 0x1b
#define MSR_APIC_BASE_EXTD BIT(10)
#define MSR_APIC_BASE_EN BIT(11)
#define MSR_PAT 0x277
#define MSR_SPEC_CTRL 0x48
#define MSR_PRED_CMD 0x49
#define MSR_ARCH_CAPABILITIES 0x10a
#define MSR_FLUSH_CMD 0x10b
#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SFMASK 0xc0000084
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX 0xc0000103
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_VM_CR 0xc0010114
#define MSR_VM_CR_SVMDIS BIT(4)
#define MSR_VM_HSAVE_PA 0xc0010117
#define EFER_SCE BIT(0)
#define EFER_LME BIT(8)
#define EFER_LMA BIT(10)
#define EFER_NXE BIT(11)
#define EFER_SVME BIT(12)

/* ---- Instruction wrappers ------------------------------------------------ */

struct x86_cpuid {
	u32 eax, ebx, ecx, edx;
};

static inline struct x86_cpuid x86_cpuid(u32 leaf, u32 subleaf)
{
	struct x86_cpuid r;

	__asm__ volatile("cpuid"
			 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
			 : "a"(leaf), "c"(subleaf));
	return r;
}

static inline u64 x86_rdmsr(u32 msr)
{
	u32 lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}

static inline void x86_wrmsr(u32 msr, u64 val)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((u32)val), "d"((u32)(val >> 32)) : "memory");
}

static inline u64 x86_rdtsc(void)
{
	u32 lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

#define X86_CR_ACCESSORS(n)                                              \
	static inline u64 x86_read_cr##n(void)                           \
	{                                                                \
		u64 v;                                                   \
		__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));        \
		return v;                                                \
	}                                                                \
	static inline void x86_write_cr##n(u64 v)                        \
	{                                                                \
		__asm__ volatile("mov %0, %%cr" #n ::"r"(v) : "memory"); \
	}
X86_CR_ACCESSORS(0)
X86_CR_ACCESSORS(2)
X86_CR_ACCESSORS(3)
X86_CR_ACCESSORS(4)
#undef X86_CR_ACCESSORS

static inline void x86_outb(u16 port, u8 v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}

static inline void x86_outw(u16 port, u16 v)
{
	__asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}

static inline u8 x86_inb(u16 port)
{
	u8 v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void x86_invlpg(u64 va)
{
	__asm__ volatile("invlpg (%0)" ::"r"(va) : "memory");
}

static inline u64 x86_read_rflags(void)
{
	u64 f;

	__asm__ volatile("pushfq; popq %0" : "=r"(f));
	return f;
}

/* ---- Between the arch files --------------------------------------------- */

/* trap.c: per-CPU GDT/TSS/IDT; @ist_stacks: X86_IST_COUNT stacks' tops. */
void x86_trap_init_idt(void);
void x86_trap_load(u32 cpu, const u64 ist_top[X86_IST_COUNT]);
/* Stacks for the boot CPU's IST entries (no pmm yet at early init). */
void x86_trap_boot_ist(u64 ist_top[X86_IST_COUNT]);

/* uart.c */
void uart_init(void);
void x86_time_init(u64 tsc_hz);
u64 x86_tsc_to_ns(u64 ticks);
u64 x86_tsc_khz(void);

/* CPUID 0x80000007 EDX[8]: the TSC runs at a fixed rate in every P-, C- and T-state. */
static inline bool x86_tsc_invariant(void)
{
	return x86_cpuid(0x80000000u, 0).eax >= 0x80000007u &&
	       (x86_cpuid(0x80000007u, 0).edx & BIT(8));
}
void x86_udelay(u64 us);

/* acpi.c: what the hypervisor keeps from the ACPI tables. */
struct x86_acpi_info {
	hpa_t lapic_base; /* from the MADT (xAPIC MMIO), 0 if none */
	u32 ioapic_count;
	u32 pm1a_cnt; /* FADT PM1a control port, 0 if none */
	u32 pm1b_cnt;
	u16 slp_typ_s5a; /* \_S5 sleep types */
	u16 slp_typ_s5b;
	bool s5_found; /* \_S5 came from the DSDT (else the q35 fallback) */
	bool reset_io; /* FADT reset register is an I/O port */
	u16 reset_port;
	u8 reset_value;
	hpa_t ioapic_base[8];
	u32 ioapic_gsi_base[8]; /* the GSI of each one's pin 0 */
	u8 ioapic_id[8];
};
extern struct x86_acpi_info x86_acpi;

/*
 * ioapic.c: the host's IOAPICs: every pin masked (after the MADT is read and
 * mapped); the handler of the INTx vectors.
 */
void x86_ioapic_init(void);
void x86_intx_irq(u64 vector);

/* pte.c: page-table formats for core's walker. */
struct pt_format;
const struct pt_format *x86_host_format(void);
const struct pt_format *x86_npt_format(void);

/* mmu.c: the hypervisor's own tables; table pages for any struct pt. */
extern hpa_t x86_host_cr3;
/* mmu.c: host table flushes so far; a CPU behind it runs arch_mmu_catch_up (atomics) */
extern u64 x86_hmap_gen;
void x86_mmu_enable_cpu(hpa_t root);
/* cpu.c: point %gs at @cpu (pcpu_this()). */
void x86_set_pcpu(struct pcpu *cpu);
void x86_mmu_boot_map(void);
hpa_t x86_pt_alloc(void *ctx, u64 bytes);
void x86_pt_free(void *ctx, hpa_t table, u64 bytes);

/* lapic.c */
void lapic_init_cpu(void);
u32 lapic_self_id(void);
void lapic_eoi(void);
/* The host LAPIC timer as it stands (diagnostics of lost wake-ups). */
void x86_lapic_timer_state(u32 *lvt, u32 *count);
/* msi.c: host vector @vec (X86_VEC_MSI_BASE..) arrived: the guest MSI it stands for. */
void x86_msi_irq(u64 vec);
void lapic_send_ipi(u32 apic_id, u8 vector);
void lapic_send_init(u32 apic_id);
void lapic_send_sipi(u32 apic_id, u8 page);
bool lapic_is_x2apic(void);
void lapic_timer_calibrate(void);

/* smp.c: the C entry of a secondary CPU (called by the trampoline). */
void __noreturn x86_ap_entry(struct pcpu *cpu);

/* trampoline.S: the real-mode start-up blob, copied below 1 MiB. */
extern const char x86_tramp_start[], x86_tramp_end[];
extern const char x86_tramp_gdtr[], x86_tramp_far32[], x86_tramp_far64[];
extern const char x86_tramp_cr3[], x86_tramp_params[], x86_tramp_entry[];
void x86_tramp_install(hpa_t page);

/* cpu.c */
bool x86_has_1g_pages(void);
bool x86_has_x2apic(void);

#endif /* KEEL_X86_H */
