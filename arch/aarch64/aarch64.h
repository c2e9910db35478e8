/* SPDX-License-Identifier: MIT */
/*
 * Private aarch64 definitions shared by the files of arch/aarch64: system
 * register access, register bit fields, and the functions the files call in
 * each other. Core never includes this header.
 */
#ifndef KEEL_ARCH_AARCH64_PRIV_H
#define KEEL_ARCH_AARCH64_PRIV_H

#include <arch/types.h>
#include <keel/boot_info.h>
#include <keel/types.h>

#define read_sysreg(r)                                      \
	({                                                  \
		u64 v_;                                     \
		__asm__ volatile("mrs %0, " #r : "=r"(v_)); \
		v_;                                         \
	})

#define write_sysreg(r, v)                                                 \
	do {                                                               \
		u64 w_ = (u64)(v);                                         \
		__asm__ volatile("msr " #r ", %0" : : "r"(w_) : "memory"); \
	} while (0)

/* Registers the assembler of binutils 2.40 may not know by name. */
#define ICC_SRE_EL2 s3_4_c12_c9_5
#define ICC_SRE_EL1 s3_0_c12_c12_5
#define ICC_PMR_EL1 s3_0_c4_c6_0
#define ICC_IAR1_EL1 s3_0_c12_c12_0
#define ICC_EOIR1_EL1 s3_0_c12_c12_1
#define ICC_DIR_EL1 s3_0_c12_c11_1
#define ICC_CTLR_EL1 s3_0_c12_c12_4
#define ICC_IGRPEN1_EL1 s3_0_c12_c12_7
#define ICC_SGI1R_EL1 s3_0_c12_c11_5
#define ICH_HCR_EL2 s3_4_c12_c11_0
#define ICH_VTR_EL2 s3_4_c12_c11_1
#define ICH_VMCR_EL2 s3_4_c12_c11_7
#define ICH_AP0R0_EL2 s3_4_c12_c8_0
#define ICH_AP1R0_EL2 s3_4_c12_c9_0

#ifdef __aarch64__
#define isb() __asm__ volatile("isb" ::: "memory")
#define dsb(opt) __asm__ volatile("dsb " #opt ::: "memory")
#else /* host unit tests of aarch64 sources: ordering the compiler keeps */
#define isb() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#define dsb(opt) __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif

/* HCR_EL2 */
#define HCR_VM BIT(0)
#define HCR_SWIO BIT(1)
#define HCR_FMO BIT(3)
#define HCR_IMO BIT(4)
#define HCR_AMO BIT(5)
#define HCR_FB BIT(9)
#define HCR_BSU_IS (1ull << 10)
#define HCR_TWI BIT(13)
#define HCR_TWE BIT(14)
#define HCR_TID3 BIT(18)
#define HCR_TSC BIT(19)
#define HCR_TACR BIT(21)
#define HCR_TSW BIT(22)
#define HCR_TGE BIT(27)
#define HCR_RW BIT(31)
#define HCR_APK BIT(40)
#define HCR_API BIT(41)

/* SCTLR_ELx */
#define SCTLR_M BIT(0)
#define SCTLR_A BIT(1)
#define SCTLR_C BIT(2)
#define SCTLR_SA BIT(3)
#define SCTLR_I BIT(12)
#define SCTLR_WXN BIT(19)
#define SCTLR_EL2_RES1 \
	(BIT(4) | BIT(5) | BIT(11) | BIT(16) | BIT(18) | BIT(22) | BIT(23) | BIT(28) | BIT(29))
#define SCTLR_EL1_RESET 0x30d00800ull /* RES1 bits only: MMU, caches off, little endian */

/* PSTATE as seen in SPSR_EL2 */
#define SPSR_EL1H 0x5ull
#define SPSR_DAIF (0xfull << 6)

/* ESR_ELx */
#define ESR_EC(esr) (((esr) >> 26) & 0x3f)
#define ESR_IL BIT(25)
#define ESR_ISS(esr) ((esr)&0x1ffffff)
#define EC_UNKNOWN 0x00
#define EC_WFX 0x01
#define EC_FP 0x07 /* FP/SIMD trapped by CPTR_EL2.TFP */
#define EC_SVE 0x19
#define EC_HVC64 0x16
#define EC_SMC64 0x17
#define EC_SYSREG 0x18
#define EC_IABT_LOW 0x20
#define EC_IABT_CUR 0x21
#define EC_DABT_LOW 0x24
#define EC_DABT_CUR 0x25
#define FSC_SEA 0x10 /* synchronous external abort, not on a table walk */

/* Memory attribute indexes in MAIR_EL2 (and the values programmed there). */
#define MT_DEVICE_nGnRnE 0
#define MT_NORMAL 1
#define MAIR_EL2_VALUE (0x00ull << (8 * MT_DEVICE_nGnRnE) | 0xffull << (8 * MT_NORMAL))

/* Secondary CPU start: what entry.S reads from the context PSCI hands it. */
struct el2_boot_ctx {
	u64 stack_top; /* offset 0 */
	u64 pcpu; /* offset 8 */
	u64 ttbr0; /* offset 16: the hypervisor's tables */
	u64 tcr; /* offset 24 */
	u64 mair; /* offset 32 */
	u64 sctlr; /* offset 40 */
};

/* What platform discovery found that the arch itself uses. */
struct aa64_platform {
	hpa_t uart_base;
	hpa_t gicd_base;
	u64 gicd_size;
	hpa_t gicr_base[4]; /* redistributor regions */
	u64 gicr_size[4];
	u32 gicr_count;
	hpa_t its_base; /* the first GICv3 ITS (0: none) */
	u64 its_size;
	bool psci_hvc; /* conduit: true = HVC, false = SMC */
	bool psci_found;
};

extern struct aa64_platform aa64_plat;

/* entry.S / vectors.S */
extern char el2_vectors[];
void el2_secondary_entry(void);
void el2_set_tls(void);

/* uart.c */
u64 time_ns_to_ticks(u64 ns); /* an arch_time_ns() value as a counter value */
void uart_init(hpa_t base);
void uart_putc_raw(char c);
void uart_puts_raw(const char *s);

/* mmu.c */
void mmu_enable_this_cpu(void);
void mmu_fill_boot_ctx(struct el2_boot_ctx *ctx, const struct pcpu *cpu);

/* gic.c */
int gic_init(void);
int gic_cpu_init(struct pcpu *cpu);
void gic_handle_irq(void);
void gic_ppi_deactivate(u32 intid);

/* Registers of the devices Keel drives itself (the GIC's), by physical address. */
static inline u32 mmio_read32(hpa_t a)
{
	return *(volatile u32 *)hpa_to_hva(a);
}

static inline u64 mmio_read64(hpa_t a)
{
	return *(volatile u64 *)hpa_to_hva(a);
}

static inline void mmio_write32(hpa_t a, u32 v)
{
	*(volatile u32 *)hpa_to_hva(a) = v;
}

static inline void mmio_write8(hpa_t a, u8 v)
{
	*(volatile u8 *)hpa_to_hva(a) = v;
}

static inline void mmio_write64(hpa_t a, u64 v)
{
	*(volatile u64 *)hpa_to_hva(a) = v;
}

/* LPIs: from INTID 8192; Keel configures 14 ID bits (INTIDs below 16384). */
#define GIC_LPI_FIRST 8192u
#define GIC_LPI_ID_BITS 14u

/* msi.c: guests' PCI MSIs through the host ITS (gic.c calls these) */
void msi_init(void);
void msi_cpu_init(u32 cpu, hpa_t gicr);
void msi_lpi_fired(u32 intid);
bool msi_ready(void);

/* psci.c */
u64 psci_call(u64 fn, u64 a1, u64 a2, u64 a3);
u64 smccc_smc(u64 fn, u64 a1, u64 a2, u64 a3);
u64 smccc_hvc(u64 fn, u64 a1, u64 a2, u64 a3);

/* s2.c */
u64 s2_vtcr(void);
void s2_setup_cpu(void);

/* exceptions.c: C side of the vectors */
struct arch_regs;
void el2_sync_handler(struct arch_regs *regs);
void el2_sync_current(struct arch_regs *regs);
void el2_serror_handler(struct arch_regs *regs);
void el2_irq_handler(struct arch_regs *regs);
const char *esr_class_name(u64 esr);

/*
 * CPTR_EL2 (without VHE): the RES1 bits and TZ (SVE and SME trapped, hidden
 * from guests); TFP traps FP/SIMD at EL0, EL1 and EL2 alike.
 */
#define CPTR_EL2_BASE 0x33ffull
#define CPTR_EL2_TFP BIT(10)

/* vcpu.c: the guest FP/SIMD registers, live in the CPU until Keel needs them */
void el2_fp_flush(void);

#endif /* KEEL_ARCH_AARCH64_PRIV_H */
