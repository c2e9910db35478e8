/* SPDX-License-Identifier: MIT */
/*
 * The interrupt-delivery watch (core/irqwatch.c): a vCPU that could take an
 * interrupt its controller model holds, and takes none for a long time, is
 * an interrupt or wake-up Keel lost. It is reported once, with its state.
 */
#ifndef KEEL_IRQWATCH_H
#define KEEL_IRQWATCH_H

#include <keel/types.h>

#define IRQWATCH_PERIOD_NS 5000000000ull /* how often the boot CPU looks */
#define IRQWATCH_STALL_NS 10000000000ull /* waiting this long is not the guest being slow */

/* One vCPU's watch, written only by the watching CPU. */
struct irqwatch {
	u64 run; /* the partition's run it was last seen in */
	u64 since_ns; /* when it was first seen waiting with @taken (0: not waiting) */
	u64 taken; /* interrupts it had taken then */
	u64 exits; /* exits it had made then */
	u32 said; /* reported for this wait */
	u32 timer_said; /* the timer deadline below was reported */
	u64 timer_deadline_ns; /* the vCPU's timer model deadline last seen due (0: none) */
	u64 timer_ipis; /* its core's IPI count when first seen due (and kicked) */
};

/* irqwatch_timer_step()'s verdict on a timer model that is due. */
enum irqwatch_timer {
	IRQWATCH_TIMER_OK, /* not due, not late enough, or said already */
	IRQWATCH_TIMER_DUE, /* first seen due: kick its core, whose answer tells the cases apart */
	IRQWATCH_TIMER_LOST, /* its core answered the kick, yet the timer did not fire */
	IRQWATCH_TIMER_STARVED, /* its core never answered: it does not run at all */
};

/*
 * One look at a vCPU: @waiting (an interrupt requested that it could take
 * now), @taken (interrupts taken so far). True exactly once per wait, when
 * it has waited IRQWATCH_STALL_NS with no interrupt taken.
 */
bool irqwatch_step(struct irqwatch *w, u64 run, bool waiting, u64 taken, u64 exits, u64 now_ns);

/*
 * One look at a vCPU's timer model: @armed with @deadline_ns; @ipis, the
 * IPIs its core has taken so far. DUE the first time it is seen past its
 * deadline (the caller kicks the core). Then once per deadline, when it is
 * IRQWATCH_STALL_NS past and has not fired: LOST if the core took an IPI
 * since (it runs and takes interrupts, but this timer did not fire),
 * STARVED if it took none (the core itself does not run: under TCG, the
 * host not running that vCPU's thread).
 */
enum irqwatch_timer irqwatch_timer_step(struct irqwatch *w, bool armed, u64 deadline_ns, u64 ipis,
					u64 now_ns);

/*
 * Put @part's interrupt and virtio queue state on the console (info lines,
 * each naming the partition and @why), if it is RUNNING in run @run: for a
 * guest that did not do what it was asked, such as power off. Any CPU.
 */
struct partition;
void irqwatch_report(struct partition *part, u64 run, const char *why);

/* Start the watch on this CPU (the boot CPU, once partitions are up). */
void irqwatch_start(void);

#endif /* KEEL_IRQWATCH_H */
