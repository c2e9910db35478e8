/* SPDX-License-Identifier: MIT */
/*
 * The timed wait every IOMMU driver uses for its unit (a register, a
 * completion word in memory): keel/poll.h's, with a console line naming the
 * unit when it never answers. Its own file, so the drivers' host unit tests
 * link it as it is.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/iommu.h>
#include <keel/poll.h>

/* What poll_until hands back to the unit's check. */
struct iommu_poll_ctx {
	const struct iommu_unit *u;
	int (*check)(const struct iommu_unit *u, const void *arg);
	const void *arg;
};

static int iommu_poll_check(const void *p)
{
	const struct iommu_poll_ctx *c = p;

	return c->check(c->u, c->arg);
}

int iommu_poll(const struct iommu_unit *u,
	       int (*check)(const struct iommu_unit *u, const void *arg), const void *arg,
	       const char *what)
{
	struct iommu_poll_ctx c = { .u = u, .check = check, .arg = arg };
	int ret = poll_until(iommu_poll_check, &c, IOMMU_TIMEOUT_NS);

	if (ret)
		return ret < 0 ? ret : 0;
	pr_err("iommu %u (%s): did not %s within %llu ms", u->index, u->ops->name, what,
	       (unsigned long long)(IOMMU_TIMEOUT_NS / 1000000));
	return -KEEL_ETIMEDOUT;
}
