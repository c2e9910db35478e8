/* SPDX-License-Identifier: MIT */
/* The interrupt-delivery watch's decision (core/irqwatch.c): when a wait is a loss. */
#include <keel/irqwatch.h>
#include <keel/partition.h>
#include <keel/timer.h>
#include <keel/virtio.h>

#include "unit.h"

#define S 1000000000ull

/* irqwatch.c's other callers, not exercised here. */
void part_each_running(void (*fn)(struct partition *part, void *arg), void *arg)
{
	(void)fn;
	(void)arg;
}
bool part_if_running(struct partition *part, u64 run, void (*fn)(struct partition *part, void *arg),
		     void *arg)
{
	(void)part;
	(void)run;
	(void)fn;
	(void)arg;
	return false;
}
void virtio_report(struct partition *part, const char *why)
{
	(void)part;
	(void)why;
}
bool arch_vcpu_timer_armed(struct vcpu *vcpu, u64 *deadline_ns)
{
	(void)vcpu;
	(void)deadline_ns;
	return false;
}
void pcpu_kick(struct pcpu *cpu)
{
	(void)cpu;
}
bool arch_vcpu_irq_waiting(struct vcpu *vcpu, u64 *taken)
{
	(void)vcpu;
	*taken = 0;
	return false;
}
void arch_vcpu_irq_describe(struct vcpu *vcpu, char *buf, u32 len)
{
	(void)vcpu;
	(void)buf;
	(void)len;
}
void timer_arm(struct timer *t, u64 deadline_ns)
{
	(void)t;
	(void)deadline_ns;
}
u64 arch_time_ns(void)
{
	return 0;
}

static void test_reported_once_after_the_stall(void)
{
	struct irqwatch w = { 0 };
	u64 t = 100 * S;

	CHECK(!irqwatch_step(&w, 1, true, 7, 50, t));
	CHECK(!irqwatch_step(&w, 1, true, 7, 60, t + IRQWATCH_STALL_NS - 1));
	CHECK(irqwatch_step(&w, 1, true, 7, 70, t + IRQWATCH_STALL_NS));
	CHECK_EQ(w.since_ns, t);
	CHECK_EQ(w.exits, 50); /* exits counted from the start of the wait */
	/* Said once for this wait, however long it lasts. */
	CHECK(!irqwatch_step(&w, 1, true, 7, 80, t + 3 * IRQWATCH_STALL_NS));
	/* Taken at last: a new wait can be reported again. */
	CHECK(!irqwatch_step(&w, 1, true, 8, 90, t + 4 * IRQWATCH_STALL_NS));
	CHECK(!w.said);
	CHECK(irqwatch_step(&w, 1, true, 8, 95, t + 5 * IRQWATCH_STALL_NS));
}

static void test_taking_interrupts_is_not_a_loss(void)
{
	struct irqwatch w = { 0 };

	/* Always something waiting (a busy guest), but one taken between looks. */
	for (u64 i = 0; i < 20; i++)
		CHECK(!irqwatch_step(&w, 1, true, i, i, i * IRQWATCH_PERIOD_NS));
}

static void test_a_gap_restarts_the_wait(void)
{
	struct irqwatch w = { 0 };
	u64 t = 5 * S;

	CHECK(!irqwatch_step(&w, 1, true, 3, 0, t));
	/* Nothing waiting at one look (masked, or delivered and nothing new). */
	CHECK(!irqwatch_step(&w, 1, false, 3, 0, t + IRQWATCH_PERIOD_NS));
	CHECK_EQ(w.since_ns, 0);
	CHECK(!irqwatch_step(&w, 1, true, 3, 0, t + 2 * IRQWATCH_PERIOD_NS));
	CHECK(!irqwatch_step(&w, 1, true, 3, 0,
			     t + 2 * IRQWATCH_PERIOD_NS + IRQWATCH_STALL_NS - 1));
	CHECK(irqwatch_step(&w, 1, true, 3, 0, t + 2 * IRQWATCH_PERIOD_NS + IRQWATCH_STALL_NS));
}

static void test_a_new_run_restarts_the_wait(void)
{
	struct irqwatch w = { 0 };

	CHECK(!irqwatch_step(&w, 1, true, 4, 0, S));
	/* The guest rebooted (a new run) with its count back to the same value. */
	CHECK(!irqwatch_step(&w, 2, true, 4, 0, S + IRQWATCH_STALL_NS));
	CHECK_EQ(w.run, 2);
	CHECK(irqwatch_step(&w, 2, true, 4, 0, S + 2 * IRQWATCH_STALL_NS));
}

/* A timer model past its deadline: first DUE (kick), then one verdict per deadline. */
static void test_timer_overdue(void)
{
	struct irqwatch w = { 0 };
	u64 d = 50 * S;

	/* Not armed, or not due yet: nothing. */
	CHECK_EQ(irqwatch_timer_step(&w, false, d, 3, d + S), IRQWATCH_TIMER_OK);
	CHECK_EQ(irqwatch_timer_step(&w, true, d, 3, d), IRQWATCH_TIMER_OK);
	/* Due: kick once; late but under the stall: nothing more. */
	CHECK_EQ(irqwatch_timer_step(&w, true, d, 3, d + 1), IRQWATCH_TIMER_DUE);
	CHECK_EQ(irqwatch_timer_step(&w, true, d, 4, d + IRQWATCH_STALL_NS - 1), IRQWATCH_TIMER_OK);
	/* Its core answered (IPIs 3 -> 4): a timer Keel lost, said once. */
	CHECK_EQ(irqwatch_timer_step(&w, true, d, 4, d + IRQWATCH_STALL_NS), IRQWATCH_TIMER_LOST);
	CHECK_EQ(irqwatch_timer_step(&w, true, d, 5, d + 3 * IRQWATCH_STALL_NS), IRQWATCH_TIMER_OK);
	/* Fired at last: a later deadline starts over; this core never answers. */
	CHECK_EQ(irqwatch_timer_step(&w, false, 0, 5, d + 4 * IRQWATCH_STALL_NS),
		 IRQWATCH_TIMER_OK);
	d += 5 * IRQWATCH_STALL_NS;
	CHECK_EQ(irqwatch_timer_step(&w, true, d, 9, d + 1), IRQWATCH_TIMER_DUE);
	CHECK_EQ(irqwatch_timer_step(&w, true, d, 9, d + 2 * IRQWATCH_STALL_NS),
		 IRQWATCH_TIMER_STARVED);
	CHECK_EQ(irqwatch_timer_step(&w, true, d, 9, d + 3 * IRQWATCH_STALL_NS), IRQWATCH_TIMER_OK);
	/* Re-armed for another deadline while still due: a new wait. */
	CHECK_EQ(irqwatch_timer_step(&w, true, d + 1, 9, d + 3 * IRQWATCH_STALL_NS),
		 IRQWATCH_TIMER_DUE);
}

int main(void)
{
	test_timer_overdue();
	test_reported_once_after_the_stall();
	test_taking_interrupts_is_not_a_loss();
	test_a_gap_restarts_the_wait();
	test_a_new_run_restarts_the_wait();
	return unit_done("test_irqwatch");
}
