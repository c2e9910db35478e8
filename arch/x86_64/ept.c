/* SPDX-License-Identifier: MIT */
/*
 * Intel EPT as a format for core's page-table walker: 4 levels, R/W/X bits
 * instead of a present bit, write-back memory type in every leaf (uncached
 * for device memory), 1 GiB / 2 MiB leaves where the CPU allows them.
 */
#include <keel/pt.h>

#include "vmx.h"
#include "x86.h"

#define EPT_R BIT(0)
#define EPT_W BIT(1)
#define EPT_X BIT(2)
#define EPT_RWX (EPT_R | EPT_W | EPT_X)
#define EPT_MT_SHIFT 3
#define EPT_MT_UC 0ull
#define EPT_MT_WB 6ull
#define EPT_LARGE BIT(7)
#define EPT_ADDR 0x000ffffffffff000ull

static u32 ept_leaves = 0xc; /* 2 MiB and 4 KiB until ept_set_caps() says more */

/* Level 0 = PML4, 1 = PDPT (1 GiB leaves), 2 = PD (2 MiB), 3 = PT (4 KiB). */
static u64 ept_leaf_mask(u32 level)
{
	if (level == 1)
		return EPT_ADDR & ~(SZ_1G - 1);
	if (level == 2)
		return EPT_ADDR & ~(SZ_2M - 1);
	return EPT_ADDR;
}

static u64 ept_table(hpa_t next)
{
	return (next & EPT_ADDR) | EPT_RWX; /* leaves decide the rights */
}

static u64 ept_leaf(hpa_t pa, u32 level, u32 attrs)
{
	u64 e = pa & ept_leaf_mask(level);

	/* Writable but not readable is a misconfiguration in EPT: W implies R. */
	if (attrs & (PT_READ | PT_WRITE))
		e |= EPT_R;
	if (attrs & PT_WRITE)
		e |= EPT_W;
	if (attrs & PT_EXEC)
		e |= EPT_X;
	if (!(e & EPT_RWX))
		return 0; /* no access at all: not present */
	e |= ((attrs & PT_DEVICE) ? EPT_MT_UC : EPT_MT_WB) << EPT_MT_SHIFT;
	if (level < 3)
		e |= EPT_LARGE;
	return e;
}

static bool ept_present(u64 e)
{
	return e & EPT_RWX;
}

static bool ept_is_table(u64 e, u32 level)
{
	return (e & EPT_RWX) && level < 3 && !(level > 0 && (e & EPT_LARGE));
}

static hpa_t ept_addr(u64 e, u32 level)
{
	if (ept_is_table(e, level))
		return e & EPT_ADDR;
	return e & ept_leaf_mask(level);
}

static u32 ept_attrs(u64 e, u32 level)
{
	u32 a = 0;

	if (e & EPT_R)
		a |= PT_READ;
	if (e & EPT_W)
		a |= PT_WRITE;
	if (e & EPT_X)
		a |= PT_EXEC;
	if (((e >> EPT_MT_SHIFT) & 7) == EPT_MT_UC)
		a |= PT_DEVICE;
	return a;
}

#define EPT_FORMAT(leaves)                                                                    \
	{                                                                                     \
		.name = "ept", .levels = 4, .root_entries = 512, .shift = { 39, 30, 21, 12 }, \
		.leaf_levels = (leaves), .table_entry = ept_table, .leaf_entry = ept_leaf,    \
		.is_present = ept_present, .is_table = ept_is_table, .entry_addr = ept_addr,  \
		.entry_attrs = ept_attrs,                                                     \
	}

static const struct pt_format ept_1g = EPT_FORMAT(0xe);
static const struct pt_format ept_2m = EPT_FORMAT(0xc);

/* Called once by the VMX probe, which has checked that 2 MiB leaves exist. */
void ept_set_caps(u64 ept_vpid_cap)
{
	ept_leaves = (ept_vpid_cap & EPT_CAP_1G) ? 0xe : 0xc;
}

const struct pt_format *ept_format(void)
{
	return ept_leaves == 0xe ? &ept_1g : &ept_2m;
}

/* The EPT pointer of a root table: write-back walks, 4 levels, no A/D bits. */
u64 ept_pointer(hpa_t root)
{
	return (root & EPT_ADDR) | EPTP_WALK4 | EPTP_WB;
}
