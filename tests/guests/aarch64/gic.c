/* SPDX-License-Identifier: MIT */
/* The guest side of the vGICv3 for the arm64 conformance guests: set-up, ack, EOI, pending. */
#include "gic.h"

#define GICD_BASE 0x08000000ull
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
