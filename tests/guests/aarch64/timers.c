/* SPDX-License-Identifier: MIT */
/*
 * The EL1 virtual (PPI 27) and physical (PPI 30) timers as the architecture
 * and the GICv3 define them, checked the way a conformance suite does: each
 * fires when enabled and due; an interrupt masked at the timer never
 * arrives; a timer the guest disables, masks or clear-pends after it fired
 * but before the CPU took it is no longer pending (its output is a level);
 * and afterwards it fires again. Waits are bounded, so a timer whose
 * interrupt never comes fails the check instead of hanging the guest.
 */
#include "gic.h"

#define CTL_ENABLE 1ull
#define CTL_IMASK 2ull
#define PPI_VIRT 27u
#define PPI_PHYS 30u
#define WAIT_MS 50u

static volatile uint32_t taken[32];
static uint64_t hz;

static void set_ctl(uint32_t ppi, uint64_t v)
{
	if (ppi == PPI_VIRT)
		__asm__ volatile("msr cntv_ctl_el0, %0; isb" ::"r"(v));
	else
		__asm__ volatile("msr cntp_ctl_el0, %0; isb" ::"r"(v));
}

/* Due @ticks from now (0: already due). */
static void set_due(uint32_t ppi, uint64_t ticks)
{
	uint64_t now;

	__asm__ volatile("isb; mrs %0, cntpct_el0" : "=r"(now));
	if (ppi == PPI_VIRT)
		__asm__ volatile("msr cntv_cval_el0, %0; isb" ::"r"(now + ticks));
	else
		__asm__ volatile("msr cntp_cval_el0, %0; isb" ::"r"(now + ticks));
}

/* The handler masks the timer (as Linux does), then ends the interrupt. */
static bool timer_trap(struct trap *t)
{
	uint64_t iar;

	if (t->vector != 0x101) /* IRQ */
		return false;
	iar = gic_ack();
	if ((iar & 0xffffff) == PPI_VIRT || (iar & 0xffffff) == PPI_PHYS)
		set_ctl((uint32_t)(iar & 0xffffff), CTL_ENABLE | CTL_IMASK);
	if ((iar & 0xffffff) < 32)
		taken[iar & 0xffffff]++;
	gic_eoi(iar);
	return true;
}

static void spin_ms(uint32_t ms)
{
	uint64_t end = arch_clock() + hz / 1000 * ms;

	while (arch_clock() < end)
		__asm__ volatile("" ::: "memory");
}

/* With interrupts unmasked, did @ppi arrive within @ms (counted from @before)? */
static bool arrives(uint32_t ppi, uint32_t before, uint32_t ms)
{
	return irq_arrives(&taken[ppi], before, ms);
}

static bool pending(uint32_t ppi)
{
	return gic_ppi_pending(ppi);
}

static bool check(const char *timer, const char *what, bool ok)
{
	printf("timers: %s timer: %-52s %s\n", timer, what, ok ? "ok" : "WRONG");
	return ok;
}

/* Fire @ppi with interrupts masked and wait until the GIC holds it pending. */
static bool fire_masked(uint32_t ppi)
{
	uint64_t end;

	set_due(ppi, 0);
	set_ctl(ppi, CTL_ENABLE);
	end = arch_clock() + hz / 1000 * WAIT_MS;
	while (!pending(ppi) && arch_clock() < end)
		spin_ms(1);
	return pending(ppi);
}

static bool timer_checks(uint32_t ppi)
{
	const char *name = ppi == PPI_VIRT ? "virtual" : "physical";
	uint32_t before;
	bool ok = true;

	irqs(false);
	/* 1. Due in 1 ms and enabled: it arrives (a WFI would wait for it). */
	before = taken[ppi];
	set_due(ppi, hz / 1000);
	set_ctl(ppi, CTL_ENABLE);
	ok &= check(name, "fires when enabled and due", arrives(ppi, before, WAIT_MS));

	/* 2. Masked at the timer (IMASK) while due: nothing pending, nothing taken. */
	before = taken[ppi];
	set_due(ppi, 0);
	set_ctl(ppi, CTL_ENABLE | CTL_IMASK);
	spin_ms(5);
	ok &= check(name, "masked at the timer: not pending", !pending(ppi));
	ok &= check(name, "masked at the timer: never taken", !arrives(ppi, before, 10));

	/* 3. Fired, then disabled before the CPU took it: no longer pending. */
	before = taken[ppi];
	ok &= check(name, "fired with PSTATE.I set: pending", fire_masked(ppi));
	set_ctl(ppi, 0);
	hc(KEEL_HC_YIELD, 0, 0, 0); /* an exit, as any trap would give */
	ok &= check(name, "disabled before taken: not pending", !pending(ppi));
	ok &= check(name, "disabled before taken: never taken", !arrives(ppi, before, 10));

	/* 4. The same with IMASK. */
	ok &= check(name, "fired again: pending", fire_masked(ppi));
	set_ctl(ppi, CTL_ENABLE | CTL_IMASK);
	hc(KEEL_HC_YIELD, 0, 0, 0);
	ok &= check(name, "masked before taken: not pending", !pending(ppi));
	ok &= check(name, "masked before taken: never taken", !arrives(ppi, before, 10));

	/* 5. Clear-pending, then masked: gone. */
	ok &= check(name, "fired a third time: pending", fire_masked(ppi));
	set_ctl(ppi, CTL_ENABLE | CTL_IMASK);
	gic_ppi_clear_pending(ppi);
	ok &= check(name, "clear-pending: not pending", !pending(ppi));
	ok &= check(name, "clear-pending: never taken", !arrives(ppi, before, 10));

	/* 6. Nothing was left stuck: unmasked and due, it arrives again. */
	set_ctl(ppi, CTL_ENABLE);
	ok &= check(name, "fires again afterwards", arrives(ppi, before, WAIT_MS));
	set_ctl(ppi, 0);
	return ok;
}

bool arch_timer_conformance(void)
{
	bool ok = true;

	hz = arch_clock_hz();
	gic_guest_init(1u << PPI_VIRT | 1u << PPI_PHYS, timer_trap);
	ok &= timer_checks(PPI_VIRT);
	ok &= timer_checks(PPI_PHYS);
	printf("timers: virtual taken %u times, physical %u times\n", taken[PPI_VIRT],
	       taken[PPI_PHYS]);
	return ok;
}
