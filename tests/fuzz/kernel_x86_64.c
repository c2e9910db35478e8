/* SPDX-License-Identifier: MIT */
/* Stand-ins the x86_64 bzImage loader needs beside tests/fuzz/kernel_env.c. */
#include <keel/arch.h>
#include <keel/vfio.h>

u64 x86_tsc_khz(void);

u64 x86_tsc_khz(void)
{
	return 2000000;
}

int arch_part_prepare(struct partition *part)
{
	return 0;
}

/* The fuzzed partition has no PCI functions: no INTx routes for its _PRT. */
u32 vfio_intx_routes(const struct partition *part, struct vfio_intx_route *out, u32 max)
{
	return 0;
}
