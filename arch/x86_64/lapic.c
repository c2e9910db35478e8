/* SPDX-License-Identifier: MIT */
/*
 * The local APIC: x2APIC through MSRs when the CPU has it, else xAPIC MMIO.
 * Enable with the spurious vector, EOI, the IPIs Keel sends (the hypervisor
 * IPI, INIT and STARTUP for secondary CPUs), and its one-shot timer as the
 * hypervisor timer (arch_timer_program).
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/iommu.h>
#include <keel/pcpu.h>
#include <keel/timer.h>

#include "x86.h"

/* Register offsets of the xAPIC page; x2APIC MSR = 0x800 + offset / 16. */
#define LAPIC_ID 0x020
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_ICR 0x380
#define LAPIC_TIMER_CCR 0x390
#define LAPIC_TIMER_DCR 0x3e0
#define LAPIC_DCR_DIV1 0xb
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_SVR_ENABLE BIT(8)
#define LAPIC_LVT_MASKED BIT(16)
#define LAPIC_ICR_BUSY BIT(12)
#define LAPIC_ICR_LEVEL_ASSERT BIT(14)
#define LAPIC_DM_FIXED (0u << 8)
#define LAPIC_DM_INIT (5u << 8)
#define LAPIC_DM_STARTUP (6u << 8)

static bool lapic_x2;

bool lapic_is_x2apic(void)
{
	return lapic_x2;
}

static volatile u32 *lapic_mmio(u32 reg)
{
	return hpa_to_hva(x86_acpi.lapic_base + reg);
}

static u32 lapic_read(u32 reg)
{
	if (lapic_x2)
		return (u32)x86_rdmsr(0x800 + reg / 16);
	return *lapic_mmio(reg);
}

static void lapic_write(u32 reg, u32 val)
{
	if (lapic_x2)
		x86_wrmsr(0x800 + reg / 16, val);
	else
		*lapic_mmio(reg) = val;
}

/* Per CPU: the same mode everywhere, timer and LINTs masked, then enabled. */
void lapic_init_cpu(void)
{
	u64 base = x86_rdmsr(MSR_APIC_BASE);

	lapic_x2 = x86_has_x2apic();
	/* Disabled -> x2APIC is not a legal transition: go through xAPIC. */
	if (!(base & MSR_APIC_BASE_EN)) {
		base |= MSR_APIC_BASE_EN;
		x86_wrmsr(MSR_APIC_BASE, base);
	}
	if (lapic_x2 && !(base & MSR_APIC_BASE_EXTD))
		x86_wrmsr(MSR_APIC_BASE, base | MSR_APIC_BASE_EXTD);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_LVT_LINT0, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_LVT_LINT1, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_LVT_ERROR, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | X86_VEC_SPURIOUS);
}

u32 lapic_self_id(void)
{
	if (lapic_x2)
		return lapic_read(LAPIC_ID);
	return lapic_read(LAPIC_ID) >> 24;
}

/*
 * The IOMMUs' fault interrupt: a fixed, edge-triggered message to the boot
 * CPU in physical destination mode. An 8-bit destination field cannot name
 * an APIC ID above 255; faults are then found only when something asks.
 */
bool arch_iommu_fault_msi(struct iommu_msi *msi)
{
	u64 dest = pcpus[0].hwid;

	if (dest > 0xff)
		return false;
	msi->addr = 0xfee00000ull | (dest << 12);
	msi->data = X86_VEC_IOMMU;
	return true;
}

/* x86 IOMMUs signal faults by MSI (above): no wired interrupt to route. */
bool arch_iommu_fault_irq(u32 irq)
{
	(void)irq;
	return false;
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

static void lapic_icr(u32 apic_id, u32 lo)
{
	if (lapic_x2) {
		x86_wrmsr(0x800 + LAPIC_ICR_LO / 16, ((u64)apic_id << 32) | lo);
		return;
	}
	/* xAPIC: one sender at a time per CPU; wait for the previous to leave. */
	for (u32 i = 0; i < 1000000 && (lapic_read(LAPIC_ICR_LO) & LAPIC_ICR_BUSY); i++)
		arch_cpu_relax();
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, lo);
}

void lapic_send_ipi(u32 apic_id, u8 vector)
{
	unsigned long flags = arch_irq_save();

	lapic_icr(apic_id, LAPIC_DM_FIXED | LAPIC_ICR_LEVEL_ASSERT | vector);
	arch_irq_restore(flags);
}

void lapic_send_init(u32 apic_id)
{
	lapic_icr(apic_id, LAPIC_DM_INIT | LAPIC_ICR_LEVEL_ASSERT);
}

void lapic_send_sipi(u32 apic_id, u8 page)
{
	lapic_icr(apic_id, LAPIC_DM_STARTUP | LAPIC_ICR_LEVEL_ASSERT | page);
}

void arch_ipi_send(const struct pcpu *cpu)
{
	lapic_send_ipi((u32)cpu->hwid, X86_VEC_IPI);
}

/* Timer ticks per millisecond at divide-by-1, measured once against the TSC. */
static u64 lapic_timer_khz;

/*
 * Count over ~1 ms, bracketed by TSC reads right at the start and the read:
 * a host that deschedules this (virtual) CPU stretches both sides alike.
 */
static u64 lapic_timer_measure(void)
{
	u64 t0, t1;
	u32 left;

	lapic_write(LAPIC_TIMER_DCR, LAPIC_DCR_DIV1);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
	t0 = x86_rdtsc();
	lapic_write(LAPIC_TIMER_ICR, 0xffffffffu);
	x86_udelay(1000);
	left = lapic_read(LAPIC_TIMER_CCR);
	t1 = x86_rdtsc();
	lapic_write(LAPIC_TIMER_ICR, 0);
	if (t1 <= t0)
		return 0;
	return (u64)(0xffffffffu - left) * 1000000ull / x86_tsc_to_ns(t1 - t0);
}

void lapic_timer_calibrate(void)
{
	u64 best, m[3];

	if (lapic_timer_khz)
		return;
	/* The median of three: one disturbed run does not skew it. */
	for (u32 i = 0; i < 3; i++)
		m[i] = lapic_timer_measure();
	best = MAX(MIN(m[0], m[1]), MIN(MAX(m[0], m[1]), m[2]));
	lapic_timer_khz = best ? best : 1000000; /* nothing measured: assume 1 GHz */
	pr_info("x86: TSC %llu kHz, %s; LAPIC timer %llu kHz", (unsigned long long)x86_tsc_khz(),
		x86_tsc_invariant() ? "invariant (guests can run on tsc)"
				    : "not stated invariant by the CPU (guests run on kvm-clock)",
		(unsigned long long)lapic_timer_khz);
}

/*
 * One-shot on this CPU at @deadline_ns (0 stops it). A deadline beyond the
 * 32-bit counter fires early; timer_run_expired() then programs the rest.
 */
void x86_lapic_timer_state(u32 *lvt, u32 *count)
{
	*lvt = lapic_read(LAPIC_LVT_TIMER);
	*count = lapic_read(LAPIC_TIMER_CCR);
}

void arch_timer_program(u64 deadline_ns)
{
	u64 now = arch_time_ns(), ticks;

	if (!deadline_ns) {
		lapic_write(LAPIC_TIMER_ICR, 0);
		return;
	}
	ticks = deadline_ns > now ? (deadline_ns - now) * lapic_timer_khz / 1000000 : 1;
	if (deadline_ns > now && (deadline_ns - now) > (1ull << 40))
		ticks = 0xffffffffu; /* far away (and no overflow in the product above) */
	ticks = MIN(MAX(ticks, 1), 0xffffffffull);
	lapic_write(LAPIC_TIMER_DCR, LAPIC_DCR_DIV1);
	lapic_write(LAPIC_LVT_TIMER, X86_VEC_TIMER); /* one-shot, unmasked */
	lapic_write(LAPIC_TIMER_ICR, (u32)ticks);
}
