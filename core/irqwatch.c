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

/* arch_vcpu_irq_describe's text: with the rest of a report line, under CONSOLE_LINE_MAX. */
#define IRQWATCH_DESCRIBE_MAX 256

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

enum irqwatch_timer irqwatch_timer_step(struct irqwatch *w, bool armed, u64 deadline_ns, u64 ipis,
					u64 now_ns)
{
	if (!armed || now_ns <= deadline_ns) {
		w->timer_deadline_ns = 0;
		return IRQWATCH_TIMER_OK;
	}
	if (w->timer_deadline_ns != deadline_ns) {
		w->timer_deadline_ns = deadline_ns;
		w->timer_ipis = ipis;
		w->timer_said = 0;
		return IRQWATCH_TIMER_DUE;
	}
	if (w->timer_said || now_ns - deadline_ns < IRQWATCH_STALL_NS)
		return IRQWATCH_TIMER_OK;
	w->timer_said = 1;
	return ipis != w->timer_ipis ? IRQWATCH_TIMER_LOST : IRQWATCH_TIMER_STARVED;
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

/*
 * @v's timer model, due IRQWATCH_STALL_NS ago and not fired: said once per
 * deadline. Its core is kicked when the timer is first seen due; whether it
 * answered tells a timer Keel lost (an error) from a core that does not run
 * at all (an info line: the machine under Keel did not run it).
 */
static void irqwatch_check_timer(struct partition *part, struct vcpu *v, u64 now)
{
	struct pcpu *core = READ_ONCE(v->pcpu);
	u64 deadline = 0, ipis, ran;
	bool armed = arch_vcpu_timer_armed(v, &deadline);
	u32 cpu = core ? core->id : 0;
	char regs[IRQWATCH_DESCRIBE_MAX];

	if (!core)
		return;
	ipis = __atomic_load_n(&core->ipi_count, __ATOMIC_ACQUIRE);
	switch (irqwatch_timer_step(&v->irqwatch, armed, deadline, ipis, now)) {
	case IRQWATCH_TIMER_DUE:
		pcpu_kick(core); /* this CPU too: it takes the IPI once this handler returns */
		break;
	case IRQWATCH_TIMER_LOST:
		ran = __atomic_load_n(&core->timers_ran_ns, __ATOMIC_RELAXED);
		arch_vcpu_irq_describe(v, regs, sizeof(regs));
		pr_err("partition '%s': vCPU %u on cpu %u: its timer is %llu ms overdue, though "
		       "that core answers IPIs: a timer Keel lost; that core last ran its timers "
		       "%llu ms ago; %s; %s",
		       part->desc.h.name, v->index, cpu,
		       (unsigned long long)((now - deadline) / 1000000),
		       (unsigned long long)(now > ran ? (now - ran) / 1000000 : 0),
		       irqwatch_where(__atomic_load_n(&v->where, __ATOMIC_ACQUIRE)), regs);
		break;
	case IRQWATCH_TIMER_STARVED:
		pr_info("partition '%s': vCPU %u on cpu %u: its timer is %llu ms overdue and that "
			"core made no exit since: the core does not run (the machine under Keel "
			"starves it)",
			part->desc.h.name, v->index, cpu,
			(unsigned long long)((now - deadline) / 1000000));
		break;
	default:
		break;
	}
}

/* Part of part_each_running(): its state is held, so its vCPUs stay. */
static void irqwatch_part(struct partition *part, void *arg)
{
	u64 now = *(const u64 *)arg, taken = 0, exits;
	char regs[IRQWATCH_DESCRIBE_MAX];

	for (u32 i = 0; i < part->vcpu_count; i++) {
		struct vcpu *v = part->vcpus[i];
		bool waiting;

		if (__atomic_load_n(&v->state, __ATOMIC_ACQUIRE) != VCPU_RUNNABLE)
			continue;
		waiting = arch_vcpu_irq_waiting(v, &taken);
		exits = irqwatch_exits(v);
		irqwatch_check_timer(part, v, now);
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
	char regs[IRQWATCH_DESCRIBE_MAX];

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
