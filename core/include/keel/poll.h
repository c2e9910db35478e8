/* SPDX-License-Identifier: MIT */
/*
 * The one timed wait Keel's drivers use for hardware that answers in a
 * register or in memory (the IOMMUs, the GIC's ITS): a unit that never
 * answers costs the timeout, never a hung CPU. Its own file (core/poll.c),
 * so drivers' host unit tests link it as it is.
 */
#ifndef KEEL_POLL_H
#define KEEL_POLL_H

#include <keel/types.h>

/*
 * Call @check(@ctx) until it answers (non-zero) or @timeout_ns has passed:
 * its answer, or 0 for a timeout. The clock is read before each check, so
 * the last check comes after the deadline: a unit that answers just in time
 * is not called late.
 */
int poll_until(int (*check)(const void *ctx), const void *ctx, u64 timeout_ns);

#endif /* KEEL_POLL_H */
