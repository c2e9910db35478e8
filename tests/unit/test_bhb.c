/* SPDX-License-Identifier: MIT */
/* Unit tests of the aarch64 Spectre-BHB choice (arch/aarch64/bhb.c) over real ID values. */
#include <string.h>

#include "../../arch/aarch64/bhb.h"
#include "unit.h"

#define MIDR(impl, part) (((u64)(impl) << 24) | (0xfull << 16) | ((u64)(part) << 4))
#define CSV2(v) ((u64)(v) << 56)
#define ECBHB(v) ((u64)(v) << 60)
#define CLRBHB(v) ((u64)(v) << 28)

static u64 choose(u64 midr, u64 pfr0, u64 mmfr1, u64 isar2, bool fw)
{
	struct bhb_cpu c = { .midr = midr, .pfr0 = pfr0, .mmfr1 = mmfr1, .isar2 = isar2,
			     .firmware_wa3 = fw };

	return bhb_choose(&c);
}

static void test_loop_counts(void)
{
	/* Arm's published history lengths, whatever the variant and revision. */
	CHECK_EQ(choose(MIDR(0x41, 0xd07), CSV2(1), 0, 0, false), 8);	/* A57 */
	CHECK_EQ(choose(MIDR(0x41, 0xd08), 0, 0, 0, false), 8);		/* A72 */
	CHECK_EQ(choose(MIDR(0x41, 0xd08) | (3u << 20) | 2, 0, 0, 0, true), 8);
	CHECK_EQ(choose(MIDR(0x41, 0xd0b), CSV2(1), 0, 0, false), 24);	/* A76 */
	CHECK_EQ(choose(MIDR(0x41, 0xd0c), CSV2(1), 0, 0, false), 24);	/* N1 */
	CHECK_EQ(choose(MIDR(0x41, 0xd0d), CSV2(1), 0, 0, false), 24);	/* A77 */
	CHECK_EQ(choose(MIDR(0x41, 0xd41), CSV2(1), 0, 0, false), 32);	/* A78 */
	CHECK_EQ(choose(MIDR(0x41, 0xd49), CSV2(2), 0, 0, false), 32);	/* N2 */
	CHECK_EQ(choose(MIDR(0x41, 0xd40), CSV2(2), 0, 0, false), 32);	/* V1 */
	CHECK_EQ(choose(MIDR(0xc0, 0xac3), CSV2(1), 0, 0, false), 11);	/* Ampere-1 */
	/* Same part number, another implementer: not that core. */
	CHECK_EQ(choose(MIDR(0x51, 0xd08), 0, 0, 0, false), BHB_NONE);
}

static void test_preferences(void)
{
	/* The CPU keeps the history apart itself: nothing, even on a listed core. */
	CHECK_EQ(choose(MIDR(0x41, 0xd41), CSV2(3), 0, 0, true), BHB_NONE);
	CHECK_EQ(choose(MIDR(0x41, 0xd41), CSV2(1), ECBHB(1), 0, true), BHB_NONE);
	/* One instruction beats a loop. */
	CHECK_EQ(choose(MIDR(0x41, 0xd41), CSV2(1), 0, CLRBHB(1), true), BHB_CLRBHB);
	/* A core Keel has no count for: the firmware's call where it has one, else nothing. */
	CHECK_EQ(choose(MIDR(0x41, 0xd09), CSV2(1), 0, 0, true), BHB_FIRMWARE); /* A73 */
	CHECK_EQ(choose(MIDR(0x41, 0xd03), 0, 0, 0, false), BHB_NONE);	    /* A53 */
	/* QEMU's "max" CPU (implementer 0) with ECBHB. */
	CHECK_EQ(choose(0x000f0510, CSV2(2), ECBHB(1), 0, false), BHB_NONE);
}

static void test_describe(void)
{
	struct bhb_cpu a76 = { .midr = MIDR(0x41, 0xd0b), .pfr0 = CSV2(1) };
	struct bhb_cpu ecbhb = { .midr = 0x000f0510, .mmfr1 = ECBHB(1) };
	struct bhb_cpu a53 = { .midr = MIDR(0x41, 0xd03) };
	char buf[96];

	CHECK(!strcmp(bhb_describe(bhb_choose(&a76), &a76, buf, sizeof(buf)),
		      "a branch loop of 24 on every guest exit (Cortex-A76)"));
	CHECK(!strcmp(bhb_describe(bhb_choose(&ecbhb), &ecbhb, buf, sizeof(buf)),
		      "not needed (ECBHB)"));
	CHECK(!strcmp(bhb_describe(bhb_choose(&a53), &a53, buf, sizeof(buf)),
		      "not needed (core not known to be affected)"));
	CHECK(!strcmp(bhb_describe(BHB_FIRMWARE, &a53, buf, sizeof(buf)),
		      "the firmware's WORKAROUND_3 on every guest exit"));
}

int main(void)
{
	test_loop_counts();
	test_preferences();
	test_describe();
	return unit_done("test_bhb");
}
