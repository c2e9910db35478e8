/* SPDX-License-Identifier: MIT */
/*
 * The lab bench's (labbench.c) x86_64 parts: the timer-interrupt latency of
 * the x2APIC timer in TSC-deadline mode, waited for in HLT as an idle kernel
 * waits, each sample the TSC at the handler's first lines minus the deadline;
 * and the latency of a fixed IPI from vCPU 0 to vCPU 1 (started by INIT,
 * SIPI into lab_ap.S), the TSC at vCPU 1's handler minus the TSC before the
 * ICR write.
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
#define MSR_X2APIC_ICR 0x830u
#define ICR_INIT 0x4500u /* INIT, level assert */
#define ICR_SIPI 0x4600u /* start-up, the vector in bits 7:0 */
#define ICR_TO_VCPU1 (1ull << 32) /* x2APIC ID 1 */
#define IPI_VECTOR 0x41u
#define AP_PAGE 0x10000ull /* below 1 MiB, in RAM, clear of the guest-info and table pages */
#define WAIT_POLLS 100000000u

/* lab_ap.S: the real-mode start of vCPU 1 and the slots filled in its copy. */
extern const char lab_ap_tramp[], lab_ap_tramp_end[], lab_ap_gdtr[], lab_ap_far[], lab_ap_cr3[],
	lab_ap_stack[], lab_ap_entry[];

const char *arch_lab_name(void)
{
	return "x86_64";
}

static volatile uint64_t fired_at;
static void (*ipi_received)(uint64_t now);
static volatile bool fired, ap_ready;
static uint8_t ap_stack[8192] __attribute__((aligned(16)));
static struct {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed)) idtr;

static bool on_vcpu1(void)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);

	return sp >= (uintptr_t)ap_stack && sp < (uintptr_t)ap_stack + sizeof(ap_stack);
}

/*
 * Every vector from 32 up comes here as 32 (traps.S). vCPU 0 takes only its
 * timer, vCPU 1 (on its own stack) only the IPI.
 */
static bool timer_irq(struct trap *t)
{
	uint64_t now = arch_clock();

	if (t->vector != 32)
		return false;
	if (on_vcpu1()) {
		ipi_received(now);
	} else {
		fired_at = now;
		fired = true;
	}
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

void lab_ap_main(void) __attribute__((noreturn));

/* vCPU 1 in 64-bit mode: vCPU 0's IDT, its x2APIC on, then idle in HLT for good. */
void lab_ap_main(void)
{
	__asm__ volatile("lidt %0" ::"m"(idtr));
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_X2APIC);
	wrmsr(MSR_X2APIC_SVR, SVR_ENABLE | 0xff);
	__atomic_store_n(&ap_ready, true, __ATOMIC_RELEASE);
	for (;;)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
}

/* Where lab_ap.S's symbol @sym is in the copy at AP_PAGE. */
static void *ap_slot(const char *sym)
{
	return (void *)(uintptr_t)(AP_PAGE + (uintptr_t)(sym - lab_ap_tramp));
}

/* INIT, SIPI to vCPU 1 with the trampoline copied and its slots filled. */
static bool start_vcpu1(void)
{
	uint64_t cr3;
	uint32_t i;

	__asm__ volatile("sidt %0; mov %%cr3, %1" : "=m"(idtr), "=r"(cr3));
	memcpy((void *)(uintptr_t)AP_PAGE, lab_ap_tramp, (size_t)(lab_ap_tramp_end - lab_ap_tramp));
	*(uint32_t *)ap_slot(lab_ap_gdtr + 2) += (uint32_t)AP_PAGE;
	*(uint32_t *)ap_slot(lab_ap_far) += (uint32_t)AP_PAGE;
	*(uint64_t *)ap_slot(lab_ap_cr3) = cr3;
	*(uint64_t *)ap_slot(lab_ap_stack) = (uintptr_t)ap_stack + sizeof(ap_stack);
	*(uint64_t *)ap_slot(lab_ap_entry) = (uintptr_t)lab_ap_main;
	wrmsr(MSR_X2APIC_ICR, ICR_TO_VCPU1 | ICR_INIT);
	wrmsr(MSR_X2APIC_ICR, ICR_TO_VCPU1 | ICR_SIPI | (uint32_t)(AP_PAGE >> 12));
	for (i = 0; i < WAIT_POLLS; i++)
		if (__atomic_load_n(&ap_ready, __ATOMIC_ACQUIRE))
			return true;
	return false;
}

bool arch_lab_vcpu1_start(void (*on_ipi)(uint64_t now))
{
	ipi_received = on_ipi;
	return timer_setup() && start_vcpu1();
}

void arch_lab_ipi_send(void)
{
	wrmsr(MSR_X2APIC_ICR, ICR_TO_VCPU1 | IPI_VECTOR); /* fixed delivery */
}
