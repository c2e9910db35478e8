/* SPDX-License-Identifier: MIT */
/*
 * The lab bench's (labbench.c) aarch64 parts: caches on; the timer-interrupt
 * latency of the EL1 virtual timer (PPI 27) through the vGICv3, waited for in
 * WFI as an idle kernel waits, each sample CNTVCT at the handler's first
 * lines minus the compare value; and the latency of an SGI from vCPU 0 to
 * vCPU 1 (started with PSCI CPU_ON), CNTVCT at vCPU 1's handler minus CNTVCT
 * before the send.
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
#define CTL_ENABLE 1ull
#define CTL_IMASK 2ull
#define PPI_VIRT 27u
#define SGI_IPI 1u
#define PSCI_CPU_ON_64 0xc4000003u
#define WAIT_POLLS 100000000u

static uint64_t level1[512] __attribute__((aligned(4096)));

/*
 * With the MMU off every data access is Device memory, uncached: a bandwidth
 * figure would say nothing. An identity map in 1 GiB blocks, the partition's
 * RAM Normal write-back, everything else Device-nGnRnE and never executable.
 */
static void mmu_on(void)
{
	uint64_t sctlr;

	__asm__ volatile(
		"msr mair_el1, %0; msr tcr_el1, %1; msr ttbr0_el1, %2; isb; "
		"tlbi vmalle1; dsb nsh; isb" ::"r"(MAIR_DEVICE_NGNRNE | MAIR_NORMAL_WB << 8),
		"r"(TCR_VALUE), "r"((uintptr_t)level1)
		: "memory");
	__asm__ volatile("mrs %0, sctlr_el1" : "=r"(sctlr));
	__asm__ volatile("msr sctlr_el1, %0; isb" ::"r"(sctlr | SCTLR_M | SCTLR_C | SCTLR_I)
			 : "memory");
}

void arch_caches_on(uint64_t ram_base, uint64_t ram_size)
{
	uint64_t i;

	for (i = 0; i < 512; i++) {
		uint64_t pa = i * BLOCK_1G;
		bool ram = pa + BLOCK_1G > ram_base && pa < ram_base + ram_size;

		level1[i] = pa | DESC_BLOCK | DESC_AF |
			    (ram ? DESC_ATTR(1) | DESC_ISH : DESC_ATTR(0) | DESC_XN);
	}
	mmu_on();
}

const char *arch_lab_name(void)
{
	return "aarch64";
}

static volatile uint64_t fired_at;
static void (*ipi_received)(uint64_t now);
static volatile bool fired, ap_ready;
static uint8_t ap_stack[8192] __attribute__((aligned(16)));

/* The timer: masked (its output is a level). The IPI: counted. Then the end of the interrupt. */
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
	} else if ((iar & 0xffffff) == SGI_IPI) {
		ipi_received(now);
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

/* vCPU 1 starts here (PSCI CPU_ON, MMU off) with x0 = its stack's top. */
__asm__(".text\n"
	".global lab_ap_entry\n"
	"lab_ap_entry:\n"
	"	mov	sp, x0\n"
	"	b	lab_ap_main\n");
void lab_ap_entry(void);
void lab_ap_main(void) __attribute__((noreturn));

/* vCPU 1: the same map and vectors as vCPU 0, the IPI enabled, then idle in WFI for good. */
void lab_ap_main(void)
{
	mmu_on();
	trap_install(timer_irq);
	gic_cpu_init(1, 1u << SGI_IPI);
	__atomic_store_n(&ap_ready, true, __ATOMIC_RELEASE);
	for (;;) {
		__asm__ volatile("wfi" ::: "memory");
		irqs(true);
		irqs(false);
	}
}

static bool wait_for(volatile bool *flag)
{
	for (uint32_t i = 0; i < WAIT_POLLS; i++)
		if (__atomic_load_n(flag, __ATOMIC_ACQUIRE))
			return true;
	return false;
}

bool arch_lab_vcpu1_start(void (*on_ipi)(uint64_t now))
{
	ipi_received = on_ipi;
	timer_setup(); /* the distributor on */
	return arch_hypercall(PSCI_CPU_ON_64, 1, (uintptr_t)lab_ap_entry,
			      (uintptr_t)ap_stack + sizeof(ap_stack))
			       .status == 0 &&
	       wait_for(&ap_ready);
}

void arch_lab_ipi_send(void)
{
	/* ICC_SGI1R_EL1: INTID SGI_IPI to Aff0 1 (vCPU 1) of cluster 0. */
	__asm__ volatile("msr s3_0_c12_c11_5, %0; isb" ::"r"((uint64_t)SGI_IPI << 24 | 1u << 1));
}
