/* SPDX-License-Identifier: MIT */
/*
 * The lab bench's (labbench.c) x86_64 parts: the timer-interrupt latency of
 * the x2APIC timer in TSC-deadline mode, waited for in HLT as an idle kernel
 * waits, each sample the TSC at the handler's first lines minus the deadline.
 */
#include "cpu.h"
#include "guest.h"

#define MSR_APIC_BASE 0x1bu
#define MSR_TSC_DEADLINE 0x6e0u
#define MSR_X2APIC_EOI 0x80bu
#define MSR_X2APIC_SVR 0x80fu
#define MSR_X2APIC_LVT_TIMER 0x832u
#define APIC_BASE_X2APIC (3u << 10) /* EN and EXTD */
#define SVR_ENABLE 0x100u
#define LVT_TSC_DEADLINE (2u << 17)
#define TIMER_VECTOR 0x40u
#define CPUID1_ECX_TSC_DEADLINE (1u << 24)

const char *arch_lab_name(void)
{
	return "x86_64";
}

static volatile uint64_t fired_at;
static volatile bool fired;

/* Every vector from 32 up comes here as 32 (traps.S); only the timer is unmasked. */
static bool timer_irq(struct trap *t)
{
	uint64_t now = arch_clock();

	if (t->vector != 32)
		return false;
	fired_at = now;
	fired = true;
	wrmsr(MSR_X2APIC_EOI, 0);
	return true;
}

/* Paging is on from the start (docs/guest-abi.md), RAM write-back. */
void arch_caches_on(uint64_t ram_base, uint64_t ram_size)
{
	(void)ram_base;
	(void)ram_size;
}

static bool timer_setup(void)
{
	static bool done;

	if (done)
		return true;
	if (!(cpuid(1, 0).c & CPUID1_ECX_TSC_DEADLINE)) {
		printf("labbench: no TSC-deadline timer\n");
		return false;
	}
	trap_install(timer_irq);
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_X2APIC);
	wrmsr(MSR_X2APIC_SVR, SVR_ENABLE | 0xff);
	wrmsr(MSR_X2APIC_LVT_TIMER, LVT_TSC_DEADLINE | TIMER_VECTOR);
	done = true;
	return true;
}

/* Halted until the timer due at @deadline fired; the TSC its handler read. */
static uint64_t sleep_until(uint64_t deadline)
{
	fired = false;
	wrmsr(MSR_TSC_DEADLINE, deadline);
	/* STI's shadow covers HLT: an interrupt due already still wakes it. */
	while (!fired)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	return fired_at;
}

bool arch_timer_latency(uint32_t n, uint64_t period, uint32_t *lat)
{
	uint32_t i;

	if (!timer_setup())
		return false;
	for (i = 0; i < n; i++) {
		uint64_t deadline = arch_clock() + period;

		lat[i] = bench_ticks32(sleep_until(deadline), deadline);
	}
	return true;
}

void arch_idle_until(uint64_t when)
{
	if (!timer_setup()) {
		while (arch_clock() < when)
			__asm__ volatile("pause");
		return;
	}
	if (arch_clock() < when)
		sleep_until(when);
}
