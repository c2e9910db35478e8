/* SPDX-License-Identifier: MIT */
/*
 * Per-CPU one-shot timers: a list sorted by deadline on each CPU, the earliest
 * programmed into the arch's hypervisor timer. Only the owning CPU touches its
 * list, with interrupts off, so no lock is needed.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/pcpu.h>
#include <keel/timer.h>

static struct timer *timer_lists[KEEL_MAX_CPUS];

static void timer_unlink(struct timer *t)
{
	struct timer **pp = &timer_lists[t->cpu];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->next = NULL;
	t->armed = 0;
}

static void timer_program_head(u32 cpu)
{
	arch_timer_program(timer_lists[cpu] ? timer_lists[cpu]->deadline_ns : 0);
}

/*
 * An armed timer belongs to the list of the CPU that armed it: another CPU
 * would unlink it from a list it does not own, racing that CPU, and program
 * its own hardware timer with the other's deadline (a timer lost on both).
 * No caller does that; if one ever does, it is named rather than hidden.
 */
static bool timer_on_this_cpu(const struct timer *t, u32 cpu, const char *what)
{
	if (!t->armed || t->cpu == cpu)
		return true;
	pr_err("timer: %s on cpu %u of a timer armed on cpu %u (fn %p): refused", what, cpu, t->cpu,
	       (void *)t->fn);
	return false;
}

void timer_arm(struct timer *t, u64 deadline_ns)
{
	unsigned long flags = arch_irq_save();
	u32 cpu = pcpu_this()->id;
	struct timer **pp;

	if (!timer_on_this_cpu(t, cpu, "arm")) {
		arch_irq_restore(flags);
		return;
	}
	if (t->armed)
		timer_unlink(t);
	t->cpu = cpu;
	t->deadline_ns = deadline_ns ? deadline_ns : 1;
	for (pp = &timer_lists[cpu]; *pp && (*pp)->deadline_ns <= t->deadline_ns; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	t->armed = 1;
	timer_program_head(cpu);
	arch_irq_restore(flags);
}

void timer_cancel(struct timer *t)
{
	unsigned long flags = arch_irq_save();

	if (t->armed && timer_on_this_cpu(t, pcpu_this()->id, "cancel")) {
		timer_unlink(t);
		timer_program_head(t->cpu);
	}
	arch_irq_restore(flags);
}

bool timer_listed(const struct timer *t)
{
	unsigned long flags = arch_irq_save();
	const struct timer *p = timer_lists[pcpu_this()->id];

	while (p && p != t)
		p = p->next;
	arch_irq_restore(flags);
	return p != NULL;
}

void timer_run_expired(void)
{
	unsigned long flags = arch_irq_save();
	u32 cpu = pcpu_this()->id;
	struct timer *t;

	__atomic_store_n(&pcpu_this()->timers_ran_ns, arch_time_ns(), __ATOMIC_RELAXED);
	while ((t = timer_lists[cpu]) && t->deadline_ns <= arch_time_ns()) {
		timer_lists[cpu] = t->next;
		t->next = NULL;
		t->armed = 0;
		t->fn(t); /* may re-arm itself */
	}
	timer_program_head(cpu);
	arch_irq_restore(flags);
}
