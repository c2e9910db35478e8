/* SPDX-License-Identifier: MIT */
/*
 * The per-CPU timer lists (core/timer.c): sorted, the earliest programmed,
 * expired ones run, and a timer another CPU armed never touched (refused,
 * and said) rather than unlinked from a list this CPU does not own.
 */
#include <string.h>

#include <keel/arch.h>
#include <keel/pcpu.h>
#include <keel/timer.h>

#include "unit.h"

extern char unit_log[];
extern size_t unit_log_len;

struct pcpu pcpus[KEEL_MAX_CPUS];
static u64 now_ns, programmed[2];
static u32 fired[4];

u64 arch_time_ns(void)
{
	return now_ns;
}

void arch_timer_program(u64 deadline_ns)
{
	programmed[pcpu_this()->id] = deadline_ns;
}

static void fire(struct timer *t)
{
	fired[(uintptr_t)t->data]++;
}

static void on_cpu(u32 id)
{
	pcpus[id].id = id;
	unit_this_pcpu = &pcpus[id];
}

int main(void)
{
	struct timer t[4];

	memset(t, 0, sizeof(t));
	for (uintptr_t i = 0; i < 4; i++) {
		t[i].fn = fire;
		t[i].data = (void *)i;
	}
	on_cpu(0);
	timer_arm(&t[0], 300);
	timer_arm(&t[1], 100);
	CHECK_EQ(programmed[0], 100); /* the earliest */
	on_cpu(1);
	timer_arm(&t[2], 50);
	CHECK_EQ(programmed[1], 50);
	CHECK_EQ(programmed[0], 100);

	/* Cpu 1 may not cancel or re-arm cpu 0's timer: refused, said, both lists intact. */
	timer_cancel(&t[1]);
	timer_arm(&t[0], 10);
	CHECK(strstr(unit_log, "timer: cancel on cpu 1 of a timer armed on cpu 0") != NULL);
	CHECK(strstr(unit_log, "timer: arm on cpu 1 of a timer armed on cpu 0") != NULL);
	CHECK_EQ(programmed[1], 50);
	CHECK(t[0].armed && t[0].cpu == 0 && t[0].deadline_ns == 300);
	CHECK(t[1].armed && t[1].cpu == 0);

	/* Cpu 0 runs what expired, in order, and programs the next. */
	on_cpu(0);
	now_ns = 150;
	timer_run_expired();
	CHECK_EQ(fired[1], 1);
	CHECK_EQ(fired[0], 0);
	CHECK_EQ(programmed[0], 300);
	CHECK(timer_listed(&t[0]) && !timer_listed(&t[1]));
	/* Its own cancel: off the list, nothing programmed. */
	timer_cancel(&t[0]);
	CHECK_EQ(programmed[0], 0);
	CHECK(!t[0].armed);
	/* A timer no longer armed may be armed anywhere. */
	on_cpu(1);
	timer_arm(&t[0], 60);
	CHECK(t[0].armed && t[0].cpu == 1);
	CHECK_EQ(programmed[1], 50);
	now_ns = 70;
	timer_run_expired();
	CHECK(fired[2] == 1 && fired[0] == 1);
	CHECK_EQ(programmed[1], 0);
	return unit_done("test_timer");
}
