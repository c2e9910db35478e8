/* SPDX-License-Identifier: MIT */
/*
 * Stage-2 translation: the descriptor format for core's walker, VTCR_EL2,
 * and each partition's tables tagged with its VMID. 4 KiB granule; the IPA
 * size follows the CPU's physical address range (40 to 48 bits).
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/partition.h>
#include <keel/pmm.h>
#include <keel/pt.h>

#include "aarch64.h"

#define S2_VALID BIT(0)
#define S2_TABLE BIT(1) /* table at inner levels, page at the last */
#define S2_MEMATTR_NORMAL_WB (0xfull << 2)
#define S2_MEMATTR_DEVICE (0x0ull << 2)
#define S2_AP_R (1ull << 6)
#define S2_AP_W (1ull << 7)
#define S2_SH_INNER (3ull << 8)
#define S2_AF BIT(10)
#define S2_XN BIT(54)
#define PTE_ADDR_MASK 0x0000fffffffff000ull

#define VTCR_RES1 BIT(31)
#define VTCR_IRGN0_WBWA (1ull << 8)
#define VTCR_ORGN0_WBWA (1ull << 10)
#define VTCR_SH0_INNER (3ull << 12)
#define VTCR_PS_SHIFT 16
#define VTCR_SL0_SHIFT 6

u32 mmu_pa_bits_enc(void);

/* The format is finished at run time (levels depend on the IPA size). */
static struct pt_format s2_format;
static u32 s2_ipa_bits;

static u64 s2_table_entry(hpa_t next)
{
	return (next & PTE_ADDR_MASK) | S2_VALID | S2_TABLE;
}

static u64 s2_leaf_entry(hpa_t pa, u32 level, u32 attrs)
{
	u64 e = (pa & PTE_ADDR_MASK) | S2_VALID | S2_AF;

	if (level == s2_format.levels - 1)
		e |= S2_TABLE; /* page descriptor */
	if (attrs & PT_DEVICE)
		e |= S2_MEMATTR_DEVICE;
	else
		e |= S2_MEMATTR_NORMAL_WB | S2_SH_INNER;
	if (attrs & PT_READ)
		e |= S2_AP_R;
	if (attrs & PT_WRITE)
		e |= S2_AP_W;
	if (!(attrs & PT_EXEC))
		e |= S2_XN;
	return e;
}

static bool s2_is_present(u64 e)
{
	return e & S2_VALID;
}

static bool s2_is_table(u64 e, u32 level)
{
	return level < s2_format.levels - 1 && (e & (S2_VALID | S2_TABLE)) == (S2_VALID | S2_TABLE);
}

static hpa_t s2_entry_addr(u64 e, u32 level)
{
	return e & PTE_ADDR_MASK;
}

static u32 s2_entry_attrs(u64 e, u32 level)
{
	u32 a = 0;

	if (e & S2_AP_R)
		a |= PT_READ;
	if (e & S2_AP_W)
		a |= PT_WRITE;
	if (!(e & S2_XN))
		a |= PT_EXEC;
	if ((e & (0xfull << 2)) == S2_MEMATTR_DEVICE)
		a |= PT_DEVICE;
	return a;
}

/* Pick the IPA size and build the format; idempotent. */
static void s2_format_init(void)
{
	static const u8 pa_bits[] = { 32, 36, 40, 42, 44, 48 };
	u32 enc = mmu_pa_bits_enc();

	if (s2_ipa_bits)
		return;
	s2_ipa_bits = enc < ARRAY_SIZE(pa_bits) ? pa_bits[enc] : 48;
	if (s2_ipa_bits < 40)
		s2_ipa_bits = 40; /* arch_virt_probe refuses such CPUs */
	s2_format.name = "stage2";
	s2_format.table_entry = s2_table_entry;
	s2_format.leaf_entry = s2_leaf_entry;
	s2_format.is_present = s2_is_present;
	s2_format.is_table = s2_is_table;
	s2_format.entry_addr = s2_entry_addr;
	s2_format.entry_attrs = s2_entry_attrs;
	/*
	 * Start at level 1 with up to 16 concatenated root tables: that reaches
	 * 43 bits. A 44-bit CPU (Cortex-A72) starts at level 0, like 48 bits.
	 */
	if (s2_ipa_bits <= 43) {
		s2_format.levels = 3;
		s2_format.root_entries = 1u << (s2_ipa_bits - 30);
		s2_format.shift[0] = 30;
		s2_format.shift[1] = 21;
		s2_format.shift[2] = 12;
		s2_format.leaf_levels = BIT(0) | BIT(1) | BIT(2);
	} else {
		s2_format.levels = 4;
		s2_format.root_entries = 1u << (s2_ipa_bits - 39);
		s2_format.shift[0] = 39;
		s2_format.shift[1] = 30;
		s2_format.shift[2] = 21;
		s2_format.shift[3] = 12;
		s2_format.leaf_levels = BIT(1) | BIT(2) | BIT(3);
	}
}

u64 s2_vtcr(void)
{
	u64 sl0;

	s2_format_init();
	sl0 = s2_format.levels == 4 ? 2 : 1; /* start level 0 or 1 */
	return VTCR_RES1 | (64ull - s2_ipa_bits) | (sl0 << VTCR_SL0_SHIFT) | VTCR_IRGN0_WBWA |
	       VTCR_ORGN0_WBWA | VTCR_SH0_INNER | ((u64)mmu_pa_bits_enc() << VTCR_PS_SHIFT);
}

void s2_setup_cpu(void)
{
	s2_format_init();
	write_sysreg(vtcr_el2, s2_vtcr());
	isb();
}

static hpa_t s2_alloc_table(void *ctx, u64 bytes)
{
	u64 size = ALIGN_UP(bytes, PAGE_SIZE);

	/* A concatenated root must be aligned to its own size. */
	return size == PAGE_SIZE ? hva_to_hpa(pmm_alloc_page()) : pmm_alloc(size, size);
}

static void s2_free_table(void *ctx, hpa_t table, u64 bytes)
{
	u64 size = ALIGN_UP(bytes, PAGE_SIZE);

	if (size == PAGE_SIZE)
		pmm_free_page(hpa_to_hva(table));
	else
		pmm_free(table, size);
}

/*
 * Invalidate every stage-1 and stage-2 TLB entry of @part's VMID on all
 * CPUs: the TLBI uses the VMID in VTTBR_EL2, so load it for the moment.
 */
static void s2_flush(struct partition *part)
{
	unsigned long flags = arch_irq_save();
	u64 old = read_sysreg(vttbr_el2);

	dsb(ishst);
	write_sysreg(vttbr_el2, part->arch.vttbr);
	isb();
	__asm__ volatile("tlbi vmalls12e1is" ::: "memory");
	dsb(ish);
	write_sysreg(vttbr_el2, old);
	isb();
	arch_irq_restore(flags);
}

/* pt.sync of a partition's stage 2: the broadcast TLBI completes on every CPU. */
static void s2_sync(void *ctx, u64 ipa, u64 size)
{
	s2_flush(ctx);
}

int arch_s2_init(struct partition *part)
{
	int ret;

	s2_format_init();
	/* VMID = partition id (1..KEEL_MAX_PARTITIONS); 0 is never a guest's. */
	if (!part->id || part->id > 255)
		return -KEEL_EINVAL;
	part->arch.s2.fmt = &s2_format;
	part->arch.s2.alloc_table = s2_alloc_table;
	part->arch.s2.free_table = s2_free_table;
	part->arch.s2.sync = s2_sync;
	part->arch.s2.ctx = part;
	ret = pt_init(&part->arch.s2);
	if (ret)
		return ret;
	part->arch.vttbr = ((u64)part->id << 48) | (part->arch.s2.root & PTE_ADDR_MASK);
	/* A previous partition in this slot may have left entries behind. */
	s2_flush(part);
	return 0;
}

int arch_s2_map(struct partition *part, gpa_t gpa, hpa_t hpa, u64 size, u32 attrs)
{
	int ret;

	if (!IS_ALIGNED(gpa | hpa | size, PAGE_SIZE) || !size || range_overflows(gpa, size) ||
	    range_overflows(hpa, size) || gpa + size - 1 >= (1ull << s2_ipa_bits))
		return -KEEL_EINVAL;
	/* A leaf that replaces a valid one is flushed by the walker (s2_sync). */
	ret = pt_map(&part->arch.s2, gpa, hpa, size, attrs);
	if (ret) {
		/* "On error nothing is mapped." */
		pt_unmap(&part->arch.s2, gpa, size);
	}
	return ret;
}

void arch_s2_unmap(struct partition *part, gpa_t gpa, u64 size)
{
	if (!part->arch.s2.root || !size || range_overflows(gpa, size))
		return;
	/* Flushed (s2_sync) before any table it cuts loose is freed. */
	pt_unmap_prune(&part->arch.s2, ALIGN_DOWN(gpa, PAGE_SIZE),
		       ALIGN_UP(gpa + size, PAGE_SIZE) - ALIGN_DOWN(gpa, PAGE_SIZE));
}

void arch_s2_destroy(struct partition *part)
{
	if (!part->arch.s2.root)
		return;
	s2_flush(part);
	pt_destroy(&part->arch.s2);
	part->arch.s2.root = 0;
	part->arch.vttbr = 0;
}
