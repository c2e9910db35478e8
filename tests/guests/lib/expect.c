/* SPDX-License-Identifier: MIT */
/*
 * The register-leak probe's tally, shared by both arches' regs.c: each
 * register read is counted, and one not at its reset value is printed so
 * the test names exactly what crossed over.
 */
#include "guest.h"

unsigned int reg_checked, reg_bad;

void reg_tally_reset(void)
{
	reg_checked = 0;
	reg_bad = 0;
}

bool reg_expect_planted; /* regs_check(true): a miss is a lost marker, not a leak */

void expect_reg(const char *name, uint64_t got, uint64_t want)
{
	reg_checked++;
	if (got == want)
		return;
	if (reg_expect_planted)
		printf("keep: LOST %s = 0x%lx (planted 0x%lx)\n", name, got, want);
	else
		printf("probe: LEAK %s = 0x%lx (reset value 0x%lx)\n", name, got, want);
	reg_bad++;
}
