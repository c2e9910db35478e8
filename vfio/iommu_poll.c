/* SPDX-License-Identifier: MIT */
/*
 * The one timed wait every IOMMU driver uses for its unit (a register, a
 * completion word in memory): a unit that never answers costs one second and
 * a console line naming it, never a hung CPU. Its own file, so the drivers'
 * host unit tests link it as it is.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/iommu.h>

int iommu_poll(const struct iommu_unit *u,
	       int (*check)(const struct iommu_unit *u, const void *arg), const void *arg,
	       const char *what)
{
	u64 start = arch_time_ns();

	for (;;) {
		/* Read the clock first: the last check comes after the deadline. */
		bool late = arch_time_ns() - start > IOMMU_TIMEOUT_NS;
		int ret = check(u, arg);

		if (ret)
			return ret < 0 ? ret : 0;
		if (late)
			break;
		arch_cpu_relax();
	}
	pr_err("iommu %u (%s): did not %s within %llu ms", u->index, u->ops->name, what,
	       (unsigned long long)(IOMMU_TIMEOUT_NS / 1000000));
	return -KEEL_ETIMEDOUT;
}
