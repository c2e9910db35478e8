/* SPDX-License-Identifier: MIT */
/*
 * Timers: the guest's EL1 virtual timer (CNTV; CNTVOFF_EL2 is 0 so guest
 * virtual time is the physical counter) and EL1 physical timer (CNTP, which
 * CNTHCTL_EL2 lets it use), both used directly; and the hypervisor's own
 * one-shot timer on the EL2 physical timer (CNTHP) behind keel/timer.h.
 *
 * The guest timers' PPIs 27 and 30 stay enabled at the physical GIC, and so
 * does the PMU's overflow PPI 23 (guests own the PMU where it can be kept
 * from counting at EL2, scrub.c): the same path serves all three. When
 * one fires, EL2 only drops its priority and hands the line to the vGIC as a
 * hardware interrupt (LR.HW, pINTID = the same PPI): the physical one stays
 * active, so it cannot fire again, until the guest deactivates the virtual
 * one. The line is level-sensitive, as the timer's output is: the vGIC
 * samples that output at every exit (vtimer_output) and drops a pending
 * interrupt whose timer the guest has since disabled or masked, deactivating
 * the physical one so the timer can fire again. A halted vCPU is woken by
 * the same physical interrupt (WFI at EL2 sees it), so no core timer is
 * needed for its deadline.
 */
#include <keel/arch.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/timer.h>

#include "aarch64.h"
#include "vplat.h"

#define CNT_CTL_ENABLE BIT(0)
#define CNT_CTL_IMASK BIT(1)
#define CNT_CTL_ISTATUS BIT(2)

#define PMCR_E BIT(0)

static u64 vtimer_ctl(u32 intid)
{
	return intid == GIC_PPI_VTIMER ? read_sysreg(cntv_ctl_el0) : read_sysreg(cntp_ctl_el0);
}

static void vtimer_silence(u32 intid)
{
	if (intid == GIC_PPI_VTIMER)
		write_sysreg(cntv_ctl_el0, CNT_CTL_IMASK);
	else if (intid == GIC_PPI_PHYS_TIMER)
		write_sysreg(cntp_ctl_el0, CNT_CTL_IMASK);
	else
		write_sysreg(pmintenclr_el1, 0xffffffffull);
	isb();
}

/*
 * The PMU's overflow request: a counter that is enabled, has overflowed and
 * may interrupt, with the PMU on (PMCR_EL0.E).
 */
static bool vtimer_pmu_output(void)
{
	if (!(read_sysreg(pmcr_el0) & PMCR_E))
		return false;
	return read_sysreg(pmovsset_el0) & read_sysreg(pmcntenset_el0) &
	       read_sysreg(pmintenset_el1);
}

/*
 * The output line behind guest PPI @intid (27, 30: a timer enabled, its
 * condition met, not masked; 23: the PMU's overflow request) on this CPU.
 * Only meaningful on the CPU the vCPU runs on, where its registers live.
 */
bool vtimer_output(u32 intid)
{
	u64 ctl;

	if (intid == GIC_PPI_PMU)
		return vtimer_pmu_output();
	ctl = vtimer_ctl(intid);
	return (ctl & (CNT_CTL_ENABLE | CNT_CTL_IMASK | CNT_CTL_ISTATUS)) ==
	       (CNT_CTL_ENABLE | CNT_CTL_ISTATUS);
}

/*
 * PPI @intid (a guest timer or the PMU) fired at EL2. Returns true if it was handed to
 * the guest (the caller must then leave it active), false if the caller
 * deactivates it.
 */
bool vtimer_irq(u32 intid)
{
	struct vcpu *v = READ_ONCE(pcpu_this()->vcpu);

	if (!v || READ_ONCE(v->state) == VCPU_OFF || !v->arch_ready) {
		/* Left armed by a vCPU that is gone: silence it. */
		vtimer_silence(intid);
		return false;
	}
	vgic_inject_timer(v, intid);
	return true;
}

/* A vCPU starts on this CPU: its timers off, no interrupt left active. */
void vtimer_vcpu_reset(void)
{
	write_sysreg(cntv_ctl_el0, 0);
	write_sysreg(cntv_cval_el0, 0);
	write_sysreg(cntp_ctl_el0, 0);
	write_sysreg(cntp_cval_el0, 0);
	write_sysreg(cntvoff_el2, 0);
	isb();
	gic_ppi_deactivate(GIC_PPI_VTIMER);
	gic_ppi_deactivate(GIC_PPI_PHYS_TIMER);
	gic_ppi_deactivate(GIC_PPI_PMU); /* the PMU itself is scrubbed with the vCPU (scrub.c) */
}

void hyp_timer_irq(void)
{
	write_sysreg(cnthp_ctl_el2, 0);
	isb();
	timer_run_expired();
}

void arch_timer_program(u64 deadline_ns)
{
	if (!deadline_ns) {
		write_sysreg(cnthp_ctl_el2, 0);
		isb();
		return;
	}
	write_sysreg(cnthp_cval_el2, time_ns_to_ticks(deadline_ns));
	write_sysreg(cnthp_ctl_el2, CNT_CTL_ENABLE);
	isb();
}
