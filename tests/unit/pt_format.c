/* SPDX-License-Identifier: MIT */
/* The host tests' page-table format (pt_format.h). */
#include "pt_format.h"

#define T_PRESENT 1ull
#define T_TABLE 2ull
#define T_ADDR 0x000ffffffffff000ull

static u64 t_table_entry(hpa_t next)
{
	return next | T_PRESENT | T_TABLE;
}

u64 unit_pt_leaf_entry(hpa_t pa, u32 level, u32 attrs)
{
	return pa | T_PRESENT | ((u64)attrs << 52);
}

static bool t_is_present(u64 e)
{
	return e & T_PRESENT;
}

bool unit_pt_is_table(u64 e, u32 level)
{
	return level < 3 && (e & (T_PRESENT | T_TABLE)) == (T_PRESENT | T_TABLE);
}

static hpa_t t_entry_addr(u64 e, u32 level)
{
	return e & T_ADDR;
}

static u32 t_entry_attrs(u64 e, u32 level)
{
	return (u32)(e >> 52) & 0xff;
}

const struct pt_format unit_pt_format = {
	.name = "test",
	.levels = 4,
	.root_entries = 512,
	.shift = { 39, 30, 21, 12 },
	.leaf_levels = (1u << 1) | (1u << 2) | (1u << 3),
	.table_entry = t_table_entry,
	.leaf_entry = unit_pt_leaf_entry,
	.is_present = t_is_present,
	.is_table = unit_pt_is_table,
	.entry_addr = t_entry_addr,
	.entry_attrs = t_entry_attrs,
};
