/* SPDX-License-Identifier: MIT OR GPL-2.0 */
/* The per-arch half of keel.ko: Keel's hypercall instruction and its detection. */
#ifndef KEEL_CONDUIT_H
#define KEEL_CONDUIT_H

#include <linux/types.h>

struct keel_hc_result {
	long status; /* 0 or -errno (Keel's numbers are Linux's) */
	u64 r[3]; /* extra results r1..r3 */
};

/* True when this kernel runs as a Keel partition; sets up keel_hypercall(). */
bool keel_detect(void);

/* One hypercall: function @nr with arguments a0..a2 (a3..a5 = 0). */
void keel_hypercall(u64 nr, u64 a0, u64 a1, u64 a2, struct keel_hc_result *res);

#endif /* KEEL_CONDUIT_H */
