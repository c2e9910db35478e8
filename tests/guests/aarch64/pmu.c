/* SPDX-License-Identifier: MIT */
/*
 * The PMU's overflow interrupt (PPI 23) as the architecture defines it: the
 * cycle counter, set just below its 32-bit overflow, raises the interrupt
 * when it wraps with PMINTENSET on; with PMINTENSET off it overflows (the
 * status bit says so) and nothing arrives; an overflow whose interrupt is
 * disabled before the CPU takes it is no longer pending; and afterwards the
 * next overflow arrives again. Waits are bounded: a missing interrupt fails
 * the check instead of hanging the guest.
 */
#include "gic.h"

#define PPI_PMU 23u
#define CYCLES 31u /* PMCNTEN/PMINTEN/PMOVS bit of the cycle counter */
#define PMCR_E 1ull
#define PMCR_C 4ull /* reset the cycle counter */
#define NEAR_WRAP 0xfffff000ull /* 4096 cycles below the 32-bit overflow (PMCR.LC = 0) */
#define WAIT_MS 50u

static volatile uint32_t taken;
static uint64_t hz;

static uint64_t ovs(void)
{
	uint64_t v;

	__asm__ volatile("mrs %0, pmovsset_el0" : "=r"(v));
	return v & (1ull << CYCLES);
}

/* The handler clears the overflow (the line drops), then ends the interrupt. */
static bool pmu_trap(struct trap *t)
{
	uint64_t iar;

	if (t->vector != 0x101) /* IRQ */
		return false;
	iar = gic_ack();
	if ((iar & 0xffffff) == PPI_PMU) {
		__asm__ volatile("msr pmovsclr_el0, %0; isb" ::"r"(1ull << CYCLES));
		taken++;
	}
	gic_eoi(iar);
	return true;
}

/* Start the cycle counter just below its overflow, counting. */
static void arm_counter(bool interrupt)
{
	__asm__ volatile("msr pmcntenclr_el0, %0; msr pmovsclr_el0, %0; isb" ::"r"(1ull << CYCLES));
	if (interrupt)
		__asm__ volatile("msr pmintenset_el1, %0" ::"r"(1ull << CYCLES));
	else
		__asm__ volatile("msr pmintenclr_el1, %0" ::"r"(1ull << CYCLES));
	__asm__ volatile("msr pmccntr_el0, %0" ::"r"(NEAR_WRAP));
	__asm__ volatile("msr pmcr_el0, %0; msr pmcntenset_el0, %1; isb" ::"r"(PMCR_E),
			 "r"(1ull << CYCLES));
}

/* With interrupts masked: until the counter has overflowed, at most WAIT_MS. */
static bool overflowed(void)
{
	uint64_t end = arch_clock() + hz / 1000 * WAIT_MS;

	while (!ovs() && arch_clock() < end)
		__asm__ volatile("" ::: "memory");
	return ovs();
}

static bool arrives(uint32_t before, uint32_t ms)
{
	return irq_arrives(&taken, before, ms);
}

static bool check(const char *what, bool ok)
{
	printf("pmu: %-56s %s\n", what, ok ? "ok" : "WRONG");
	return ok;
}

bool arch_pmu_conformance(void)
{
	uint64_t dfr0;
	uint32_t before;
	bool ok = true;

	__asm__ volatile("mrs %0, id_aa64dfr0_el1" : "=r"(dfr0));
	if (!check("ID_AA64DFR0_EL1 says there is a PMUv3", ((dfr0 >> 8) & 0xf) >= 1 &&
							       ((dfr0 >> 8) & 0xf) != 0xf))
		return false;
	hz = arch_clock_hz();
	gic_guest_init(1u << PPI_PMU, pmu_trap);

	before = taken;
	arm_counter(true);
	ok &= check("overflow with PMINTENSET: the interrupt arrives", arrives(before, WAIT_MS));

	before = taken;
	arm_counter(false);
	ok &= check("overflow with PMINTENSET off: status set", overflowed());
	ok &= check("overflow with PMINTENSET off: not pending",
		    !gic_ppi_pending(PPI_PMU));
	ok &= check("overflow with PMINTENSET off: never taken", !arrives(before, 10));

	arm_counter(true);
	ok &= check("overflow with PSTATE.I set: status set", overflowed());
	hc(KEEL_HC_YIELD, 0, 0, 0); /* an exit, as any trap would give */
	ok &= check("overflow with PSTATE.I set: pending", gic_ppi_pending(PPI_PMU));
	__asm__ volatile("msr pmintenclr_el1, %0; isb" ::"r"(1ull << CYCLES));
	hc(KEEL_HC_YIELD, 0, 0, 0);
	ok &= check("interrupt disabled before taken: not pending",
		    !gic_ppi_pending(PPI_PMU));
	ok &= check("interrupt disabled before taken: never taken", !arrives(before, 10));

	arm_counter(true);
	ok &= check("the next overflow arrives again", arrives(before, WAIT_MS));
	__asm__ volatile("msr pmcntenclr_el0, %0; msr pmintenclr_el1, %0; isb" ::"r"(1ull << CYCLES));
	printf("pmu: overflow interrupts taken: %u\n", taken);
	return ok;
}
