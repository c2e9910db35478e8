/* SPDX-License-Identifier: MIT */
/* The timed loops the benchmark guests share (mode=hcbench, labbench.c). */
#include "guest.h"

/*
 * The reference loop's body: the same call and argument registers as a
 * hypercall, but no trapping instruction.
 */
static struct hc_result __attribute__((noinline))
bench_nop(uint64_t fn, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct hc_result r;

	__asm__ volatile("" : "+r"(fn), "+r"(a0), "+r"(a1), "+r"(a2) : : "memory");
	r.status = (long)fn;
	r.r1 = a0;
	r.r2 = a1;
	r.r3 = a2;
	return r;
}

/* guest.h */
uint64_t bench_hypercalls(bool call, uint64_t n, uint64_t batch, uint64_t *best, long *bad)
{
	uint64_t fn = arch_hc_fn(KEEL_HC_VERSION), done, total = 0;

	*best = ~0ull;
	for (done = 0; done < n; done += batch) {
		uint64_t i, m = n - done < batch ? n - done : batch, t0, t1;

		if (call) {
			t0 = arch_clock();
			for (i = 0; i < m; i++)
				*bad |= arch_hypercall(fn, 0, 0, 0).status;
			t1 = arch_clock();
		} else {
			t0 = arch_clock();
			for (i = 0; i < m; i++)
				*bad |= bench_nop(0, 0, 0, 0).status;
			t1 = arch_clock();
		}
		total += t1 - t0;
		if (m == batch && t1 - t0 < *best)
			*best = t1 - t0;
	}
	return total;
}
