/* SPDX-License-Identifier: MIT */
/* Stand-ins the x86_64 bzImage loader needs beside tests/fuzz/kernel_env.c. */
#include <keel/arch.h>

u64 x86_tsc_khz(void);

u64 x86_tsc_khz(void)
{
	return 2000000;
}

int arch_part_prepare(struct partition *part)
{
	return 0;
}
