/* SPDX-License-Identifier: MIT */
/*
 * The lab bench's (labbench.c) aarch64 parts: caches on, and the timer-
 * interrupt latency of the EL1 virtual timer (PPI 27) through the vGICv3,
 * waited for in WFI as an idle kernel waits, each sample CNTVCT at the
 * handler's first lines minus the compare value.
 */
#include "gic.h"

#define BLOCK_1G (1ull << 30)
#define DESC_BLOCK 1ull
#define DESC_AF (1ull << 10)
#define DESC_ISH (3ull << 8)
#define DESC_ATTR(i) ((uint64_t)(i) << 2)
#define DESC_XN (3ull << 53) /* PXN and UXN */
#define MAIR_DEVICE_NGNRNE 0x00ull /* attribute 0 */
#define MAIR_NORMAL_WB 0xffull /* attribute 1 */
/* T0SZ 25 (39-bit VA, walks start at level 1), WBWA inner/outer, inner shareable, 4K, EPD1, 40-bit IPS. */
#define TCR_VALUE (25ull | 1ull << 8 | 1ull << 10 | 3ull << 12 | 1ull << 23 | 2ull << 32)
#define SCTLR_M 1ull
#define SCTLR_C (1ull << 2)
#define SCTLR_I (1ull << 12)

static uint64_t level1[512] __attribute__((aligned(4096)));

/*
 * With the MMU off every data access is Device memory, uncached: a bandwidth
 * figure would say nothing. An identity map in 1 GiB blocks, the partition's
 * RAM Normal write-back, everything else Device-nGnRnE and never executable.
 */
void arch_caches_on(uint64_t ram_base, uint64_t ram_size)
{
	uint64_t i, sctlr;

	for (i = 0; i < 512; i++) {
		uint64_t pa = i * BLOCK_1G;
		bool ram = pa + BLOCK_1G > ram_base && pa < ram_base + ram_size;

		level1[i] = pa | DESC_BLOCK | DESC_AF |
			    (ram ? DESC_ATTR(1) | DESC_ISH : DESC_ATTR(0) | DESC_XN);
	}
	__asm__ volatile(
		"msr mair_el1, %0; msr tcr_el1, %1; msr ttbr0_el1, %2; isb; "
		"tlbi vmalle1; dsb nsh; isb" ::"r"(MAIR_DEVICE_NGNRNE | MAIR_NORMAL_WB << 8),
		"r"(TCR_VALUE), "r"((uintptr_t)level1)
		: "memory");
	__asm__ volatile("mrs %0, sctlr_el1" : "=r"(sctlr));
	__asm__ volatile("msr sctlr_el1, %0; isb" ::"r"(sctlr | SCTLR_M | SCTLR_C | SCTLR_I)
			 : "memory");
}

#define CTL_ENABLE 1ull
#define CTL_IMASK 2ull
#define PPI_VIRT 27u

const char *arch_lab_name(void)
{
	return "aarch64";
}

static volatile uint64_t fired_at;
static volatile bool fired;

/* Masks the timer (its output is a level), then ends the interrupt. */
static bool timer_irq(struct trap *t)
{
	uint64_t now = arch_clock(), iar;

	if (t->vector != 0x101) /* IRQ */
		return false;
	iar = gic_ack();
	if ((iar & 0xffffff) == PPI_VIRT) {
		__asm__ volatile("msr cntv_ctl_el0, %0; isb" ::"r"(CTL_ENABLE | CTL_IMASK));
		fired_at = now;
		fired = true;
	}
	gic_eoi(iar);
	return true;
}

/* In WFI until the virtual timer due at @due fired; CNTVCT as its handler read it. */
static uint64_t sleep_until(uint64_t due)
{
	fired = false;
	__asm__ volatile("msr cntv_cval_el0, %0; msr cntv_ctl_el0, %1; isb" ::"r"(due),
			 "r"(CTL_ENABLE));
	/* WFI with IRQs masked still wakes on a pending one; then take it. */
	while (!fired) {
		__asm__ volatile("wfi" ::: "memory");
		irqs(true);
		irqs(false);
	}
	return fired_at;
}

static void timer_setup(void)
{
	static bool done;

	if (!done)
		gic_guest_init(1u << PPI_VIRT, timer_irq);
	done = true;
}

bool arch_timer_latency(uint32_t n, uint64_t period, uint32_t *lat)
{
	uint32_t i;

	timer_setup();
	for (i = 0; i < n; i++) {
		uint64_t due = arch_clock() + period;

		lat[i] = bench_ticks32(sleep_until(due), due);
	}
	return true;
}

void arch_idle_until(uint64_t when)
{
	timer_setup();
	if (arch_clock() < when)
		sleep_until(when);
}
