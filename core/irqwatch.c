/* SPDX-License-Identifier: MIT */
/*
 * The interrupt-delivery watch. Every IRQWATCH_PERIOD_NS the boot CPU looks
 * at each running vCPU through its arch's interrupt controller model. A vCPU
 * that holds a requested interrupt with interrupts enabled, and has taken
 * none for IRQWATCH_STALL_NS, lost an interrupt or a wake-up in Keel: the
 * guest cannot refuse an interrupt it has enabled (it can only mask it, and
 * a masked one is not "waiting"). Its state goes to the console once per
 * wait, as an error, with what tells the causes apart: where the vCPU is
 * (halted, or in the guest), whether it still exits, and the controller's
 * registers. This is a check for Keel's own bugs (issue 11's lost IPI and
 * lost timer); a guest that behaves never triggers it.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/irqwatch.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/timer.h>
#include <keel/virtio.h>

static struct timer irqwatch_timer;

bool irqwatch_step(struct irqwatch *w, u64 run, bool waiting, u64 taken, u64 exits, u64 now_ns)
{
	/* A new run, a wait that ended, or an interrupt taken: start over. */
	if (w->run != run || !waiting || taken != w->taken || !w->since_ns) {
		w->run = run;
		w->since_ns = waiting ? now_ns : 0;
		w->taken = taken;
		w->exits = exits;
		w->said = 0;
		return false;
	}
	if (w->said || now_ns - w->since_ns < IRQWATCH_STALL_NS)
		return false;
	w->said = 1;
	return true;
}

static u64 irqwatch_exits(const struct vcpu *v)
{
	u64 n = 0;

	for (u32 i = 0; i < EXIT_KINDS; i++)
		n += READ_ONCE(v->exits[i]);
	return n;
}

static const char *irqwatch_where(u32 where)
{
	return where == VCPU_HALTED   ? "halted in Keel"
	       : where == VCPU_PARKED ? "parked"
				      : "in the guest or an exit";
}

/* Part of part_each_running(): its state is held, so its vCPUs stay. */
static void irqwatch_part(struct partition *part, void *arg)
{
	u64 now = *(const u64 *)arg, taken = 0, exits;
	char regs[200];

	for (u32 i = 0; i < part->vcpu_count; i++) {
		struct vcpu *v = part->vcpus[i];
		bool waiting;

		if (__atomic_load_n(&v->state, __ATOMIC_ACQUIRE) != VCPU_RUNNABLE)
			continue;
		waiting = arch_vcpu_irq_waiting(v, &taken);
		exits = irqwatch_exits(v);
		if (!irqwatch_step(&v->irqwatch, part->run, waiting, taken, exits, now))
			continue;
		arch_vcpu_irq_describe(v, regs, sizeof(regs));
		pr_err("partition '%s': vCPU %u on cpu %u has waited %llu s for an interrupt it has "
		       "enabled, a delivery Keel lost; %s, %llu exits since; %s",
		       part->desc.h.name, v->index, READ_ONCE(v->pcpu) ? READ_ONCE(v->pcpu)->id : 0,
		       (unsigned long long)((now - v->irqwatch.since_ns) / 1000000000ull),
		       irqwatch_where(__atomic_load_n(&v->where, __ATOMIC_ACQUIRE)),
		       (unsigned long long)(exits - v->irqwatch.exits), regs);
	}
}

/*
 * What a guest that does not answer looks like from Keel, for the report
 * that goes with its forced stop (irqwatch_report): each vCPU, then each
 * virtio device. Info lines: the stop is the news; these tell a hung guest
 * apart from an interrupt or a request Keel lost.
 */
static void irqwatch_report_part(struct partition *part, void *arg)
{
	const char *why = arg;
	char regs[200];

	for (u32 i = 0; i < part->vcpu_count; i++) {
		struct vcpu *v = part->vcpus[i];

		arch_vcpu_irq_describe(v, regs, sizeof(regs));
		if (READ_ONCE(v->state) != VCPU_RUNNABLE) {
			pr_info("partition '%s' %s: vCPU %u off", part->desc.h.name, why, v->index);
			continue;
		}
		pr_info("partition '%s' %s: vCPU %u %s, %llu exits; %s", part->desc.h.name, why,
			v->index, irqwatch_where(__atomic_load_n(&v->where, __ATOMIC_ACQUIRE)),
			(unsigned long long)irqwatch_exits(v), regs);
	}
	virtio_report(part, why);
}

void irqwatch_report(struct partition *part, u64 run, const char *why)
{
	part_if_running(part, run, irqwatch_report_part, (void *)why);
}

static void irqwatch_fire(struct timer *t)
{
	u64 now = arch_time_ns();

	part_each_running(irqwatch_part, &now);
	timer_arm(t, now + IRQWATCH_PERIOD_NS);
}

void irqwatch_start(void)
{
	irqwatch_timer.fn = irqwatch_fire;
	timer_arm(&irqwatch_timer, arch_time_ns() + IRQWATCH_PERIOD_NS);
}
