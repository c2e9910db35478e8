/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor's own EL2 stage-1 translation (TTBR0_EL2, 4 KiB granule,
 * 48-bit VA): the descriptor format for core's walker, the identity map of
 * RAM (2 MiB leaves at most), the image W^X and the device windows, and the
 * switch to it. Core's hmap (keel/hmap.h) takes the tables over and gives
 * each CPU its own top level. Their flush is the architecture's: broadcast
 * TLBI by VA (or all of EL2) and DSB ISH, which completes on every CPU.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/hmap.h>
#include <keel/iommu.h>
#include <keel/pci.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/pt.h>

#include "aarch64.h"

/* Stage-1 descriptor bits (EL2, one VA range). */
#define S1_VALID BIT(0)
#define S1_TABLE BIT(1) /* table at levels 0-2, page at level 3 */
#define S1_ATTRIDX(i) ((u64)(i) << 2)
#define S1_AP_RW (1ull << 6) /* AP[1] is RES1 at EL2 */
#define S1_AP_RO (3ull << 6)
#define S1_SH_INNER (3ull << 8)
#define S1_AF BIT(10)
#define S1_XN BIT(54)
#define PTE_ADDR_MASK 0x0000fffffffff000ull
#define MMU_TLBI_MAX 32u /* pages; a larger flush drops all of EL2 */

#define TCR_EL2_RES1 (BIT(31) | BIT(23))
#define TCR_T0SZ(bits) (64ull - (bits))
#define TCR_IRGN0_WBWA (1ull << 8)
#define TCR_ORGN0_WBWA (1ull << 10)
#define TCR_SH0_INNER (3ull << 12)
#define TCR_PS_SHIFT 16

void el2_mmu_switch(u64 ttbr0, u64 tcr, u64 mair, u64 sctlr);

extern char __image_start[], __image_end[];
extern char __text_start[], __text_end[];
extern char __rodata_start[], __rodata_end[];
extern char __data_start[], __bss_end[];
extern char __boot_stack_guard[];

static u64 s1_table_entry(hpa_t next)
{
	return (next & PTE_ADDR_MASK) | S1_VALID | S1_TABLE;
}

static u64 s1_leaf_entry(hpa_t pa, u32 level, u32 attrs)
{
	u64 e = (pa & PTE_ADDR_MASK) | S1_VALID | S1_AF;

	e |= level == 3 ? S1_TABLE : 0; /* page vs block */
	if (attrs & PT_DEVICE)
		e |= S1_ATTRIDX(MT_DEVICE_nGnRnE);
	else
		e |= S1_ATTRIDX(MT_NORMAL) | S1_SH_INNER;
	e |= (attrs & PT_WRITE) ? S1_AP_RW : S1_AP_RO;
	if (!(attrs & PT_EXEC) || (attrs & PT_DEVICE))
		e |= S1_XN;
	return e;
}

static bool s1_is_present(u64 e)
{
	return e & S1_VALID;
}

static bool s1_is_table(u64 e, u32 level)
{
	return level < 3 && (e & (S1_VALID | S1_TABLE)) == (S1_VALID | S1_TABLE);
}

static hpa_t s1_entry_addr(u64 e, u32 level)
{
	return e & PTE_ADDR_MASK;
}

static u32 s1_entry_attrs(u64 e, u32 level)
{
	u32 a = PT_READ;

	if ((e & (3ull << 6)) == S1_AP_RW)
		a |= PT_WRITE;
	if (!(e & S1_XN))
		a |= PT_EXEC;
	if (((e >> 2) & 7) == MT_DEVICE_nGnRnE)
		a |= PT_DEVICE;
	return a;
}

static const struct pt_format el2_s1_format = {
	.name = "el2-stage1",
	.levels = 4,
	.root_entries = 512,
	.shift = { 39, 30, 21, 12 },
	/* No 1 GiB blocks: partition memory is hidden 2 MiB at a time, never split live. */
	.leaf_levels = BIT(2) | BIT(3),
	.bbm = true,
	.table_entry = s1_table_entry,
	.leaf_entry = s1_leaf_entry,
	.is_present = s1_is_present,
	.is_table = s1_is_table,
	.entry_addr = s1_entry_addr,
	.entry_attrs = s1_entry_attrs,
};

/*
 * Until the switch, the CPU walks the firmware's tables, which live in
 * boot-services memory that pmm already counts as free (and zeroes when it
 * hands it out). So the boot map takes its tables from this pool in .bss;
 * pmm supplies tables only once the firmware's are dead.
 */
#define MMU_BOOT_POOL_PAGES 64

static u8 mmu_boot_pool[MMU_BOOT_POOL_PAGES][PAGE_SIZE] __aligned(PAGE_SIZE);
static u32 mmu_boot_pool_used;
static bool el2_mmu_on;

static hpa_t mmu_alloc_table(void *ctx, u64 bytes)
{
	if (bytes > PAGE_SIZE)
		return 0; /* the EL2 format has no concatenated root */
	if (el2_mmu_on)
		return hva_to_hpa(pmm_alloc_page());
	if (mmu_boot_pool_used >= MMU_BOOT_POOL_PAGES)
		return 0;
	/* .bss is zero already. */
	return hva_to_hpa(mmu_boot_pool[mmu_boot_pool_used++]);
}

static bool mmu_in_boot_pool(hpa_t table)
{
	return table >= hva_to_hpa(mmu_boot_pool) &&
	       table < hva_to_hpa(mmu_boot_pool) + sizeof(mmu_boot_pool);
}

static void mmu_free_table(void *ctx, hpa_t table, u64 bytes)
{
	/* Pool pages are not reused: the pool only serves the boot map. */
	if (!mmu_in_boot_pool(table))
		pmm_free_page(hpa_to_hva(table));
}

/* pt.sync: on return no CPU in the inner shareable domain translates the range as before. */
static void mmu_sync(void *ctx, u64 va, u64 size)
{
	dsb(ishst);
	if (!el2_mmu_on) {
		/* Only this CPU runs, on the firmware's tables: nothing cached of ours. */
		return;
	}
	if (size > (u64)MMU_TLBI_MAX * PAGE_SIZE) {
		__asm__ volatile("tlbi alle2is" ::: "memory");
	} else {
		for (u64 off = 0; off < size; off += PAGE_SIZE)
			__asm__ volatile("tlbi vae2is, %0" : : "r"((va + off) >> 12) : "memory");
	}
	dsb(ish);
	isb();
}

static struct pt el2_pt = {
	.fmt = &el2_s1_format,
	.alloc_table = mmu_alloc_table,
	.free_table = mmu_free_table,
	.sync = mmu_sync,
};

/* What every CPU loads: filled once by arch_mmu_init. */
static u64 el2_ttbr0, el2_tcr, el2_sctlr;

/* PARange field to a TCR/VTCR PS value, capped at 48 bits. */
u32 mmu_pa_bits_enc(void);
u32 mmu_pa_bits_enc(void)
{
	u32 pa = read_sysreg(id_aa64mmfr0_el1) & 0xf;

	return pa > 5 ? 5 : pa;
}

static int mmu_map(u64 base, u64 size, u32 attrs, const char *what)
{
	u64 start = ALIGN_DOWN(base, PAGE_SIZE);
	u64 end = ALIGN_UP(base + size, PAGE_SIZE);
	int ret;

	if (end <= start)
		return 0;
	ret = pt_map(&el2_pt, start, start, end - start, attrs);
	if (ret)
		pr_err("mmu: cannot map %s 0x%llx-0x%llx: %d", what, (unsigned long long)start,
		       (unsigned long long)end, ret);
	return ret;
}

static bool mmu_mem_is_ram(u32 type)
{
	return type == KEEL_MEM_FREE || type == KEEL_MEM_KEEL || type == KEEL_MEM_ACPI;
}

static int mmu_build(const struct keel_boot_info *bi)
{
	const struct pci_ecam *w;
	const struct iommu_unit *u;
	int ret = 0;

	u64 run_base = 0, run_end = 0;

	/* Adjacent RAM ranges as one run: fewer, larger blocks, fewer tables. */
	for (u32 i = 0; i <= bi->mem_count && i < KEEL_BOOT_MAX_MEM && !ret; i++) {
		const struct keel_boot_mem *m = i < bi->mem_count ? &bi->mem[i] : NULL;

		if (m && (!mmu_mem_is_ram(m->type) || range_overflows(m->base, m->size)))
			m = NULL;
		if (m && m->base == run_end && run_end) {
			run_end += m->size;
			continue;
		}
		if (run_end > run_base)
			ret = mmu_map(run_base, run_end - run_base, PT_READ | PT_WRITE, "RAM");
		run_base = m ? m->base : 0;
		run_end = m ? m->base + m->size : 0;
	}
	if (!ret && run_end > run_base)
		ret = mmu_map(run_base, run_end - run_base, PT_READ | PT_WRITE, "RAM");
	/* The image, section by section, over the RAM map. */
	if (!ret)
		ret = mmu_map((u64)__text_start, (u64)(__text_end - __text_start),
			      PT_READ | PT_EXEC | PT_GLOBAL, ".text");
	if (!ret)
		ret = mmu_map((u64)__rodata_start, (u64)(__rodata_end - __rodata_start),
			      PT_READ | PT_GLOBAL, ".rodata");
	if (!ret)
		ret = mmu_map((u64)__data_start, (u64)(__bss_end - __data_start),
			      PT_READ | PT_WRITE | PT_GLOBAL, ".data/.bss");
	/* Devices the hypervisor drives itself. */
	if (!ret)
		ret = mmu_map(aa64_plat.uart_base, PAGE_SIZE, PT_READ | PT_WRITE | PT_DEVICE,
			      "UART");
	if (!ret)
		ret = mmu_map(aa64_plat.gicd_base, aa64_plat.gicd_size,
			      PT_READ | PT_WRITE | PT_DEVICE, "GICD");
	for (u32 i = 0; i < aa64_plat.gicr_count && !ret; i++)
		ret = mmu_map(aa64_plat.gicr_base[i], aa64_plat.gicr_size[i],
			      PT_READ | PT_WRITE | PT_DEVICE, "GICR");
	if (!ret && aa64_plat.its_base)
		ret = mmu_map(aa64_plat.its_base, aa64_plat.its_size,
			      PT_READ | PT_WRITE | PT_DEVICE, "GIC ITS");
	/* What platform discovery recorded (dt_pci.c), checked by pci_ecam_add and iommu_add. */
	for (u32 i = 0; !ret && (w = pci_ecam_window(i)); i++)
		ret = mmu_map(pci_ecam_start(w), pci_ecam_end(w) - pci_ecam_start(w),
			      PT_READ | PT_WRITE | PT_DEVICE, "PCI ECAM");
	for (u32 i = 0; !ret && (u = iommu_unit_at(i)); i++)
		ret = mmu_map(u->base, u->size, PT_READ | PT_WRITE | PT_DEVICE, "IOMMU");
	if (!ret)
		ret = pt_unmap(&el2_pt, (u64)__boot_stack_guard, PAGE_SIZE);
	return ret;
}

/* The end of the highest RAM mmu_build maps: hmap can hide memory below it. */
static u64 mmu_ram_top(const struct keel_boot_info *bi)
{
	u64 top = 0;

	for (u32 i = 0; i < bi->mem_count && i < KEEL_BOOT_MAX_MEM; i++) {
		const struct keel_boot_mem *m = &bi->mem[i];

		if (mmu_mem_is_ram(m->type) && !range_overflows(m->base, m->size))
			top = MAX(top, m->base + m->size);
	}
	return top;
}

int arch_mmu_init(const struct keel_boot_info *bi, const struct platform *plat)
{
	int ret;

	ret = pt_init(&el2_pt);
	if (ret)
		return ret;
	ret = mmu_build(bi);
	if (ret)
		return ret;

	ret = hmap_init(&el2_pt, mmu_ram_top(bi));
	if (ret)
		return ret;

	el2_ttbr0 = pcpus[0].root;
	el2_tcr = TCR_EL2_RES1 | TCR_T0SZ(48) | TCR_IRGN0_WBWA | TCR_ORGN0_WBWA | TCR_SH0_INNER |
		  ((u64)mmu_pa_bits_enc() << TCR_PS_SHIFT);
	el2_sctlr = SCTLR_EL2_RES1 | SCTLR_M | SCTLR_C | SCTLR_SA | SCTLR_I | SCTLR_WXN;
	mmu_enable_this_cpu();
	el2_mmu_on = true;
	pr_info("mmu: own EL2 tables at 0x%llx (image 0x%llx-0x%llx W^X, guard page unmapped)",
		(unsigned long long)el2_pt.root, (unsigned long long)(u64)__image_start,
		(unsigned long long)(u64)__image_end);
	return 0;
}

void mmu_enable_this_cpu(void)
{
	dsb(ish);
	el2_mmu_switch(el2_ttbr0, el2_tcr, MAIR_EL2_VALUE, el2_sctlr);
}

void mmu_fill_boot_ctx(struct el2_boot_ctx *ctx, const struct pcpu *cpu)
{
	ctx->ttbr0 = cpu->root;
	ctx->tcr = el2_tcr;
	ctx->mair = MAIR_EL2_VALUE;
	ctx->sctlr = el2_sctlr;
}

/*
 * This CPU's window entry: only this CPU walks it, so a local TLBI will do,
 * with break-before-make as the architecture asks when an entry is replaced.
 */
void arch_window_set(u64 *pte, u64 val, u64 va)
{
	if (READ_ONCE(*pte)) {
		WRITE_ONCE(*pte, 0);
		dsb(nshst);
		__asm__ volatile("tlbi vae2, %0" : : "r"(va >> 12) : "memory");
		dsb(nsh);
	}
	WRITE_ONCE(*pte, val);
	dsb(ishst);
	isb();
}

/* The broadcast TLBI completes on every CPU before mmu_sync returns: nothing to catch up. */
void arch_mmu_catch_up(void)
{
}
