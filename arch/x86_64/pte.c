/* SPDX-License-Identifier: MIT */
/*
 * The two x86_64 4-level page-table formats core's walker builds: the
 * hypervisor's own tables and AMD nested page tables (NPT). Same layout; NPT
 * treats every guest access as a user access, so U=1 at every level.
 */
#include <keel/pt.h>

#include "x86.h"

#define PTE_P BIT(0)
#define PTE_RW BIT(1)
#define PTE_US BIT(2)
#define PTE_PWT BIT(3)
#define PTE_PCD BIT(4)
#define PTE_PS BIT(7)
#define PTE_G BIT(8)
#define PTE_NX BIT(63)
#define PTE_ADDR 0x000ffffffffff000ull

/* Level 0 = PML4, 1 = PDPT (1 GiB leaves), 2 = PD (2 MiB), 3 = PT (4 KiB). */
static u64 pte_leaf_mask(u32 level)
{
	if (level == 1)
		return PTE_ADDR & ~(SZ_1G - 1);
	if (level == 2)
		return PTE_ADDR & ~(SZ_2M - 1);
	return PTE_ADDR;
}

static u64 pte_leaf(hpa_t pa, u32 level, u32 attrs, u64 extra)
{
	u64 e = (pa & pte_leaf_mask(level)) | PTE_P | extra;

	if (level < 3)
		e |= PTE_PS;
	if (attrs & PT_WRITE)
		e |= PTE_RW;
	if (!(attrs & PT_EXEC))
		e |= PTE_NX;
	if (attrs & PT_DEVICE)
		e |= PTE_PCD | PTE_PWT; /* UC with the default PAT */
	if (attrs & PT_GLOBAL)
		e |= PTE_G;
	return e;
}

static u64 host_table(hpa_t next)
{
	return (next & PTE_ADDR) | PTE_P | PTE_RW; /* leaves decide W and X */
}

static u64 host_leaf(hpa_t pa, u32 level, u32 attrs)
{
	return pte_leaf(pa, level, attrs & ~PT_GLOBAL, 0);
}

static u64 npt_table(hpa_t next)
{
	return (next & PTE_ADDR) | PTE_P | PTE_RW | PTE_US;
}

static u64 npt_leaf(hpa_t pa, u32 level, u32 attrs)
{
	return pte_leaf(pa, level, attrs & ~PT_GLOBAL, PTE_US);
}

static bool pte_present(u64 e)
{
	return e & PTE_P;
}

static bool pte_is_table(u64 e, u32 level)
{
	return (e & PTE_P) && level < 3 && !(level > 0 && (e & PTE_PS));
}

static hpa_t pte_addr(u64 e, u32 level)
{
	if (pte_is_table(e, level))
		return e & PTE_ADDR;
	return e & pte_leaf_mask(level);
}

static u32 pte_attrs(u64 e, u32 level)
{
	u32 a = PT_READ;

	if (e & PTE_RW)
		a |= PT_WRITE;
	if (!(e & PTE_NX))
		a |= PT_EXEC;
	if (e & PTE_PCD)
		a |= PT_DEVICE;
	if (e & PTE_G)
		a |= PT_GLOBAL;
	return a;
}

#define X86_PT_FORMAT(nm, tbl, leaf, leaves)                                                 \
	{                                                                                    \
		.name = nm, .levels = 4, .root_entries = 512, .shift = { 39, 30, 21, 12 },   \
		.leaf_levels = (leaves), .table_entry = tbl, .leaf_entry = leaf,             \
		.is_present = pte_present, .is_table = pte_is_table, .entry_addr = pte_addr, \
		.entry_attrs = pte_attrs,                                                    \
	}

/* Keel's own map: 2 MiB leaves at most, so hiding partition memory never splits one. */
static const struct pt_format x86_host_2m = X86_PT_FORMAT("x86", host_table, host_leaf, 0xc);
static const struct pt_format x86_npt_1g = X86_PT_FORMAT("npt", npt_table, npt_leaf, 0xe);
static const struct pt_format x86_npt_2m = X86_PT_FORMAT("npt", npt_table, npt_leaf, 0xc);

const struct pt_format *x86_host_format(void)
{
	return &x86_host_2m;
}

const struct pt_format *x86_npt_format(void)
{
	return x86_has_1g_pages() ? &x86_npt_1g : &x86_npt_2m;
}
