/* SPDX-License-Identifier: MIT */
/*
 * Spectre-BHB choice per CPU (bhb.h). In order of preference: a CPU that
 * keeps guest history from the hypervisor (CSV2 >= 3, or ECBHB) needs
 * nothing; FEAT_CLRBHB clears it with one instruction; the cores Arm lists as
 * affected get a loop of taken branches as long as their history (Arm's
 * published counts); any other core gets the firmware's workaround where the
 * firmware says it has one, and nothing where neither knows it to be affected.
 */
#include <keel/lib.h>

#include "bhb.h"

#define MIDR_IMPLEMENTER(m) (((m) >> 24) & 0xff)
#define MIDR_PARTNUM(m) (((m) >> 4) & 0xfff)
#define PFR0_CSV2(p) (((p) >> 56) & 0xf)
#define MMFR1_ECBHB(m) (((m) >> 60) & 0xf)
#define ISAR2_CLRBHB(i) (((i) >> 28) & 0xf)

#define IMPL_ARM 0x41u
#define IMPL_AMPERE 0xc0u

struct bhb_core {
	u8 implementer;
	u16 part;
	u8 loops;
	const char *name;
};

static const struct bhb_core bhb_loop_cores[] = {
	{ IMPL_ARM, 0xd07, 8, "Cortex-A57" },	{ IMPL_ARM, 0xd08, 8, "Cortex-A72" },
	{ IMPL_ARM, 0xd0b, 24, "Cortex-A76" },	{ IMPL_ARM, 0xd0c, 24, "Neoverse-N1" },
	{ IMPL_ARM, 0xd0d, 24, "Cortex-A77" },	{ IMPL_ARM, 0xd40, 32, "Neoverse-V1" },
	{ IMPL_ARM, 0xd41, 32, "Cortex-A78" },	{ IMPL_ARM, 0xd42, 32, "Cortex-A78AE" },
	{ IMPL_ARM, 0xd44, 32, "Cortex-X1" },	{ IMPL_ARM, 0xd47, 32, "Cortex-A710" },
	{ IMPL_ARM, 0xd48, 32, "Cortex-X2" },	{ IMPL_ARM, 0xd49, 32, "Neoverse-N2" },
	{ IMPL_ARM, 0xd4b, 32, "Cortex-A78C" }, { IMPL_AMPERE, 0xac3, 11, "Ampere-1" },
};

static const struct bhb_core *bhb_core_of(u64 midr)
{
	for (u32 i = 0; i < ARRAY_SIZE(bhb_loop_cores); i++)
		if (bhb_loop_cores[i].implementer == MIDR_IMPLEMENTER(midr) &&
		    bhb_loop_cores[i].part == MIDR_PARTNUM(midr))
			return &bhb_loop_cores[i];
	return NULL;
}

static bool bhb_unaffected(const struct bhb_cpu *c)
{
	return PFR0_CSV2(c->pfr0) >= 3 || MMFR1_ECBHB(c->mmfr1) >= 1;
}

u64 bhb_choose(const struct bhb_cpu *c)
{
	const struct bhb_core *core;

	if (bhb_unaffected(c))
		return BHB_NONE;
	if (ISAR2_CLRBHB(c->isar2) >= 1)
		return BHB_CLRBHB;
	core = bhb_core_of(c->midr);
	if (core)
		return core->loops;
	return c->firmware_wa3 ? BHB_FIRMWARE : BHB_NONE;
}

const char *bhb_describe(u64 choice, const struct bhb_cpu *c, char *buf, u32 size)
{
	const struct bhb_core *core = bhb_core_of(c->midr);

	if (choice == BHB_CLRBHB)
		snprintf(buf, size, "CLRBHB on every guest exit");
	else if (choice == BHB_FIRMWARE)
		snprintf(buf, size, "the firmware's WORKAROUND_3 on every guest exit");
	else if (choice && core)
		snprintf(buf, size, "a branch loop of %u on every guest exit (%s)",
			 (unsigned)choice, core->name);
	else if (bhb_unaffected(c))
		snprintf(buf, size, "not needed (%s)", MMFR1_ECBHB(c->mmfr1) ? "ECBHB" : "CSV2.3");
	else
		snprintf(buf, size, "not needed (core not known to be affected)");
	return buf;
}
