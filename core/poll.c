/* SPDX-License-Identifier: MIT */
/* The timed wait of keel/poll.h. */
#include <keel/arch.h>
#include <keel/poll.h>

int poll_until(int (*check)(const void *ctx), const void *ctx, u64 timeout_ns)
{
	u64 start = arch_time_ns();

	for (;;) {
		/* Read the clock first: the last check comes after the deadline. */
		bool late = arch_time_ns() - start > timeout_ns;
		int ret = check(ctx);

		if (ret || late)
			return ret;
		arch_cpu_relax();
	}
}
