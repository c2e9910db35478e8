/* SPDX-License-Identifier: MIT */
/*
 * Per-CPU one-shot timers on the hypervisor's own timer (x86_64: LAPIC timer;
 * aarch64: the EL2 physical timer). Callbacks run on the timer's CPU with
 * interrupts off, from the timer interrupt or the vCPU loop.
 */
#ifndef KEEL_TIMER_H
#define KEEL_TIMER_H

#include <keel/types.h>

struct timer;
typedef void (*timer_fn)(struct timer *t);

struct timer {
	u64 deadline_ns; /* arch_time_ns() value; 0 = not armed */
	timer_fn fn;
	void *data;
	struct timer *next; /* in its CPU's list, sorted by deadline */
	u32 cpu; /* the CPU whose list holds it */
	u32 armed;
};

/*
 * Arm @t on the calling CPU to run @t->fn at @deadline_ns (re-arms if armed).
 * A timer armed on another CPU is that CPU's: arming or cancelling it here
 * is refused with an error line.
 */
void timer_arm(struct timer *t, u64 deadline_ns);

/* Disarm @t (on the CPU it was armed on). */
void timer_cancel(struct timer *t);

/* Whether @t, armed on this CPU, is in this CPU's list (a check for lost wake-ups). */
bool timer_listed(const struct timer *t);

/* Run the expired timers of this CPU and program the next deadline. */
void timer_run_expired(void);

#endif /* KEEL_TIMER_H */
