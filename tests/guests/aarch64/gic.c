/* SPDX-License-Identifier: MIT */
/* The guest side of the vGICv3 for the arm64 test guests: set-up, SPIs, ack, EOI, pending. */
#include "gic.h"

#define GICD_BASE 0x08000000ull
#define GICD_IGROUPR (GICD_BASE + 0x080) /* these three: one bit per INTID */
#define GICD_ISENABLER (GICD_BASE + 0x100)
#define GICD_ICENABLER (GICD_BASE + 0x180)
#define GICD_IPRIORITYR (GICD_BASE + 0x400) /* one byte per INTID */
#define GICD_ICFGR (GICD_BASE + 0xc00) /* two bits per INTID: 2 = edge, 0 = level */
#define GICD_IROUTER (GICD_BASE + 0x6000) /* 64 bits per INTID: affinity, IRM (bit 31) */
#define GICD_CTLR_ON 0x12u /* ARE and EnableGrp1NS, as gic_guest_init() sets them */
#define MPIDR_AFF 0xff00ffffffull /* Aff3, Aff2, Aff1, Aff0, as IROUTER takes them */
#define GICR_BASE 0x080a0000ull /* vCPU 0's redistributor */
#define GICR_WAKER (GICR_BASE + 0x14)
#define GICR_SGI (GICR_BASE + 0x10000)
#define GICR_IGROUPR0 (GICR_SGI + 0x080)
#define GICR_ISENABLER0 (GICR_SGI + 0x100)
#define GICR_ISPENDR0 (GICR_SGI + 0x200)
#define GICR_ICPENDR0 (GICR_SGI + 0x280)
#define GICR_WAKER_SLEEP 2u
#define GICR_STRIDE 0x20000ull /* one RD_base + SGI_base frame per vCPU */

static void mmio_w32(uint64_t a, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)a = v;
}

static uint32_t mmio_r32(uint64_t a)
{
	return *(volatile uint32_t *)(uintptr_t)a;
}

/* Bit @intid of the one-bit-per-INTID register array at @reg. */
static uint64_t bit_reg(uint64_t reg, uint32_t intid)
{
	return reg + intid / 32 * 4;
}

static uint32_t bit_of(uint32_t intid)
{
	return 1u << (intid % 32);
}

void gic_cpu_init(uint32_t cpu, uint32_t mask)
{
	uint64_t rd = (uint64_t)cpu * GICR_STRIDE;

	mmio_w32(GICR_WAKER + rd, mmio_r32(GICR_WAKER + rd) & ~GICR_WAKER_SLEEP);
	mmio_w32(GICR_IGROUPR0 + rd, 0xffffffffu);
	mmio_w32(GICR_ISENABLER0 + rd, mask);
	__asm__ volatile("msr s3_0_c4_c6_0, %0" ::"r"(0xffull)); /* ICC_PMR_EL1 */
	__asm__ volatile("msr s3_0_c12_c12_7, %0; isb" ::"r"(1ull)); /* ICC_IGRPEN1_EL1 */
	irqs(false);
}

void gic_guest_init(uint32_t ppi_mask, bool (*handler)(struct trap *t))
{
	trap_install(handler);
	mmio_w32(GICD_BASE, 0x13); /* ARE, both groups */
	gic_cpu_init(0, ppi_mask);
}

uint64_t gic_affinity(void)
{
	uint64_t mpidr;

	__asm__ volatile("mrs %0, mpidr_el1" : "=r"(mpidr));
	return mpidr & MPIDR_AFF;
}

bool gic_spi_enable(uint32_t intid, uint8_t prio)
{
	uint64_t cfg = GICD_ICFGR + intid / 16 * 4, route = GICD_IROUTER + 8ull * intid;
	volatile uint64_t *router = (volatile uint64_t *)(uintptr_t)route;
	uint32_t edge = 2u << (2 * (intid % 16));
	uint64_t aff = gic_affinity();

	mmio_w32(bit_reg(GICD_IGROUPR, intid),
		 mmio_r32(bit_reg(GICD_IGROUPR, intid)) | bit_of(intid));
	*(volatile uint8_t *)(uintptr_t)(GICD_IPRIORITYR + intid) = prio;
	mmio_w32(cfg, mmio_r32(cfg) & ~edge);
	*router = aff; /* IRM = 0: this vCPU only */
	mmio_w32(bit_reg(GICD_ISENABLER, intid), bit_of(intid));
	return (mmio_r32(GICD_BASE) & GICD_CTLR_ON) == GICD_CTLR_ON &&
	       (mmio_r32(bit_reg(GICD_IGROUPR, intid)) & bit_of(intid)) &&
	       *(volatile uint8_t *)(uintptr_t)(GICD_IPRIORITYR + intid) == prio &&
	       !(mmio_r32(cfg) & edge) && *router == aff &&
	       (mmio_r32(bit_reg(GICD_ISENABLER, intid)) & bit_of(intid));
}

void gic_spi_disable(uint32_t intid)
{
	mmio_w32(bit_reg(GICD_ICENABLER, intid), bit_of(intid));
}

uint64_t gic_ack(void)
{
	uint64_t iar;

	__asm__ volatile("mrs %0, s3_0_c12_c12_0" : "=r"(iar)); /* ICC_IAR1_EL1 */
	return iar;
}

void gic_eoi(uint64_t iar)
{
	if ((iar & 0xffffff) < 1020)
		__asm__ volatile("msr s3_0_c12_c12_1, %0; isb" ::"r"(iar)); /* ICC_EOIR1_EL1 */
}

bool gic_ppi_pending(uint32_t ppi)
{
	return mmio_r32(GICR_ISPENDR0) & (1u << ppi);
}

void gic_ppi_clear_pending(uint32_t ppi)
{
	mmio_w32(GICR_ICPENDR0, 1u << ppi);
}

void irqs(bool on)
{
	if (on)
		__asm__ volatile("msr daifclr, #2; isb" ::: "memory");
	else
		__asm__ volatile("msr daifset, #2; isb" ::: "memory");
}

bool irq_arrives(volatile uint32_t *count, uint32_t before, uint32_t ms)
{
	uint64_t end = arch_clock() + arch_clock_hz() / 1000 * ms;

	irqs(true);
	while (*count == before && arch_clock() < end)
		__asm__ volatile("" ::: "memory");
	irqs(false);
	return *count != before;
}
