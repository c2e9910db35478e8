/* SPDX-License-Identifier: MIT */
/*
 * A 4-level page-table format for host tests of core/pt.c and what builds on
 * it: 512 entries a level, leaves at 1 GiB, 2 MiB and 4 KiB, the attributes
 * kept in bits 52-59 so a test can read them back.
 */
#ifndef KEEL_UNIT_PT_FORMAT_H
#define KEEL_UNIT_PT_FORMAT_H

#include <keel/pt.h>

extern const struct pt_format unit_pt_format;

u64 unit_pt_leaf_entry(hpa_t pa, u32 level, u32 attrs);
bool unit_pt_is_table(u64 e, u32 level);

#endif /* KEEL_UNIT_PT_FORMAT_H */
