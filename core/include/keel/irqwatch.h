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
	u32 pad;
};

/*
 * One look at a vCPU: @waiting (an interrupt requested that it could take
 * now), @taken (interrupts taken so far). True exactly once per wait, when
 * it has waited IRQWATCH_STALL_NS with no interrupt taken.
 */
bool irqwatch_step(struct irqwatch *w, u64 run, bool waiting, u64 taken, u64 exits, u64 now_ns);

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
