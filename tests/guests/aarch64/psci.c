/* SPDX-License-Identifier: MIT */
/*
 * PSCI as a conformance suite would exercise it: vCPU 1 is turned on, turns
 * itself off, and AFFINITY_INFO must follow it (OFF, then ON or ON_PENDING,
 * then OFF again), round after round. CPU_SUSPEND: supported, RES0 bits and
 * a bad powerdown entry point refused, and a standby that returns SUCCESS
 * once the virtual timer's interrupt is pending (PSTATE.I set: a wake-up
 * event, not a taken interrupt).
 */
#include "gic.h"

#define PSCI_CPU_SUSPEND_64 0xc4000001u
#define PSCI_FEATURES 0x8400000au
#define PSCI_INVALID_ADDRESS (-9)
#define PPI_VTIMER 27u
#define PSCI_CPU_ON_64 0xc4000003u
#define PSCI_AFFINITY_INFO_64 0xc4000004u
#define PSCI_ALREADY_ON (-4)
#define PSCI_INVALID_PARAMS (-2)
#define AFF_ON 0
#define AFF_OFF 1
#define AFF_ON_PENDING 2
#define MPIDR_OF(index) ((index) % 16u | ((index) / 16u) << 8)
#define POLLS 2000000u

/* vCPU 1's whole life: CPU_OFF at once (no stack, no memory: MMU and caches are off). */
__asm__(".text\n"
	".global psci_secondary\n"
	"psci_secondary:\n"
	"	movz	w0, #0x0002\n"
	"	movk	w0, #0x8400, lsl #16\n"
	"	hvc	#0\n"
	"1:	wfi\n"
	"	b	1b\n");
void psci_secondary(void);

static long psci(uint64_t fn, uint64_t a, uint64_t b, uint64_t c)
{
	return arch_hypercall(fn, a, b, c).status;
}

static long affinity(uint32_t index)
{
	return psci(PSCI_AFFINITY_INFO_64, MPIDR_OF(index), 0, 0);
}

/* Poll vCPU 1 until AFFINITY_INFO says OFF; false if it never does. */
static bool wait_off(uint32_t round)
{
	long st = -1;

	for (uint32_t i = 0; i < POLLS; i++) {
		st = affinity(1);
		if (st == AFF_OFF)
			return true;
		if (st != AFF_ON && st != AFF_ON_PENDING)
			break;
	}
	printf("psci: round %u: AFFINITY_INFO of cpu 1 stuck at %ld after its CPU_OFF\n", round, st);
	return false;
}

static bool no_irq(struct trap *t)
{
	return false; /* PSTATE.I stays set: nothing is taken */
}

/*
 * Standby until the virtual timer, due in 2 ms, wakes the vCPU; true if it
 * slept until the timer's deadline (not just 2 ms after t0: the host may
 * hold this vCPU's thread between programming the timer and reading t0).
 */
static bool suspend_until_timer(void)
{
	uint64_t hz = arch_clock_hz(), t0, t1, cval;
	long st;

	gic_guest_init(1u << PPI_VTIMER, no_irq);
	__asm__ volatile("msr cntv_tval_el0, %0; msr cntv_ctl_el0, %1; isb" ::"r"(hz / 500),
			 "r"(1ull));
	__asm__ volatile("mrs %0, cntv_cval_el0" : "=r"(cval));
	t0 = arch_clock();
	st = psci(PSCI_CPU_SUSPEND_64, 0 /* standby, state 0 */, 0, 0);
	t1 = arch_clock();
	__asm__ volatile("msr cntv_ctl_el0, %0; isb" ::"r"(0ull));
	printf("psci: CPU_SUSPEND standby returned %ld after %lu us, %s the timer's deadline\n",
	       st, (t1 - t0) * 1000000 / hz, t1 >= cval ? "at or after" : "BEFORE");
	return st == 0 && t1 >= cval && t1 - t0 < hz;
}

static bool cpu_suspend_checks(void)
{
	bool ok = true;

	ok &= expect(psci(PSCI_FEATURES, PSCI_CPU_SUSPEND_64, 0, 0) == 0);
	ok &= expect(psci(PSCI_CPU_SUSPEND_64, 1ull << 31, 0, 0) == PSCI_INVALID_PARAMS);
	ok &= expect(psci(PSCI_CPU_SUSPEND_64, 1ull << 16, 3, 0) == PSCI_INVALID_ADDRESS);
	ok &= expect(suspend_until_timer());
	return ok;
}

bool arch_psci_cycles(uint32_t rounds)
{
	bool ok = cpu_suspend_checks();
	uint32_t r;

	ok &= expect(affinity(0) == AFF_ON);
	ok &= expect(affinity(1) == AFF_OFF); /* not started yet */
	ok &= expect(affinity(40) == PSCI_INVALID_PARAMS);
	ok &= expect(psci(PSCI_CPU_ON_64, MPIDR_OF(0), (uintptr_t)psci_secondary, 0) ==
		     PSCI_ALREADY_ON);
	for (r = 0; r < rounds && ok; r++) {
		ok &= expect(psci(PSCI_CPU_ON_64, MPIDR_OF(1), (uintptr_t)psci_secondary, r) == 0);
		ok &= wait_off(r);
	}
	printf("psci: %u rounds of CPU_ON, CPU_OFF and AFFINITY_INFO\n", r);
	return ok;
}
