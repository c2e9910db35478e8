/* SPDX-License-Identifier: MIT */
/*
 * Timers: the guest's EL1 virtual timer (CNTV, used directly; CNTVOFF_EL2 is
 * 0 so guest virtual time is the physical counter) and the hypervisor's own
 * one-shot timer on the EL2 physical timer (CNTHP) behind keel/timer.h.
 *
 * The vtimer's PPI 27 stays enabled at the physical GIC. When it fires, EL2
 * only drops its priority and injects virtual INTID 27 as a hardware
 * interrupt (LR.HW, pINTID 27): the physical one stays active, so it cannot
 * fire again, until the guest deactivates the virtual one. A halted vCPU is
 * woken by the same physical interrupt (WFI at EL2 sees it), so no core timer
 * is needed for its deadline.
 */
#include <keel/arch.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/timer.h>

#include "aarch64.h"
#include "vplat.h"

#define CNT_CTL_ENABLE BIT(0)
#define CNT_CTL_IMASK BIT(1)

/*
 * PPI 27 fired at EL2. Returns true if it was handed to the guest (the caller
 * must then leave it active), false if the caller deactivates it.
 */
bool vtimer_irq(void)
{
	struct vcpu *v = READ_ONCE(pcpu_this()->vcpu);

	if (!v || READ_ONCE(v->state) == VCPU_OFF || !v->arch_ready) {
		/* Left armed by a vCPU that is gone: silence it. */
		write_sysreg(cntv_ctl_el0, CNT_CTL_IMASK);
		isb();
		return false;
	}
	vgic_inject_vtimer(v);
	return true;
}

/* A vCPU starts on this CPU: its timer off, no interrupt left active. */
void vtimer_vcpu_reset(void)
{
	write_sysreg(cntv_ctl_el0, 0);
	write_sysreg(cntv_cval_el0, 0);
	write_sysreg(cntvoff_el2, 0);
	isb();
	gic_ppi_deactivate(GIC_PPI_VTIMER);
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
