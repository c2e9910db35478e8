/* SPDX-License-Identifier: MIT */
/*
 * Intel VT-d behind struct iommu_ops: legacy-mode root and context tables
 * (a requester with no context entry is blocked), second-level page tables
 * through core/pt.c, queued or register-based invalidation, and interrupt
 * remapping with every entry absent, so no device interrupt gets through.
 */
#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/iommu.h>
#include <keel/lib.h>
#include <keel/pmm.h>
#include <keel/pt.h>

#define VTD_BIT32(n) (1u << (n))

/* ---- Registers: offsets from the unit's base ------------------------------ */

#define VTD_VER 0x000 /* u32 */
#define VTD_CAP 0x008
#define VTD_ECAP 0x010
#define VTD_GCMD 0x018 /* u32, write-only */
#define VTD_GSTS 0x01c /* u32 */
#define VTD_RTADDR 0x020
#define VTD_CCMD 0x028
#define VTD_FSTS 0x034 /* u32 */
#define VTD_FECTL 0x038 /* u32 */
#define VTD_FEDATA 0x03c /* u32 */
#define VTD_FEADDR 0x040 /* u32 */
#define VTD_FEUADDR 0x044 /* u32 */
#define VTD_PMEN 0x064 /* u32 */
#define VTD_IQH 0x080
#define VTD_IQT 0x088
#define VTD_IQA 0x090
#define VTD_IRTA 0x0b8
/* The IOTLB registers, at ECAP.IRO * 16 (register-based invalidation). */
#define VTD_IVA 0x0
#define VTD_IOTLB 0x8
/* Each 16-byte fault recording register, at CAP.FRO * 16 + i * 16. */
#define VTD_FRCD_LO 0x0 /* the faulting page (or interrupt index) */
#define VTD_FRCD_HI 0x8
#define VTD_FRCD_HI32 0xc /* its upper half, where F is written to clear it */
#define VTD_FRCD_SIZE 16u

#define VTD_VER_MAJOR(v) (((v) >> 4) & 0xfu)
#define VTD_VER_MINOR(v) ((v)&0xfu)

/* CAP */
#define VTD_CAP_ND 0x7ull /* 2^(4 + 2 * ND) domain IDs */
#define VTD_CAP_ND_MAX 6u
#define VTD_CAP_RWBF BIT(4) /* writes to the tables need a write-buffer flush */
#define VTD_CAP_PLMR BIT(5)
#define VTD_CAP_PHMR BIT(6)
#define VTD_CAP_CM BIT(7) /* caching mode: not-present entries may be cached */
#define VTD_CAP_SAGAW_39 BIT(9) /* 3-level second-level tables */
#define VTD_CAP_SAGAW_48 BIT(10) /* 4-level */
#define VTD_CAP_SAGAW_SHIFT 8
#define VTD_CAP_SAGAW_MASK 0x1full
#define VTD_CAP_MGAW_SHIFT 16
#define VTD_CAP_MGAW_MASK 0x3full
#define VTD_CAP_FRO_SHIFT 24 /* 10 bits, in 16-byte units */
#define VTD_CAP_FRO_MASK 0x3ffull
#define VTD_CAP_SLLPS_2M BIT(34)
#define VTD_CAP_SLLPS_1G BIT(35)
#define VTD_CAP_PSI BIT(39) /* page-selective IOTLB invalidation */
#define VTD_CAP_NFR_SHIFT 40 /* 8 bits: fault recording registers - 1 */
#define VTD_CAP_NFR_MASK 0xffull
#define VTD_CAP_MAMV_SHIFT 48 /* 6 bits: largest address mask of a PSI */
#define VTD_CAP_MAMV_MASK 0x3full
#define VTD_CAP_DWD BIT(54) /* write draining */
#define VTD_CAP_DRD BIT(55) /* read draining */

/* ECAP */
#define VTD_ECAP_C BIT(0) /* table walks snoop the CPU caches */
#define VTD_ECAP_QI BIT(1)
#define VTD_ECAP_IR BIT(3)
#define VTD_ECAP_EIM BIT(4) /* 32-bit APIC IDs: FEUADDR is used */
#define VTD_ECAP_IRO_SHIFT 8 /* 10 bits, in 16-byte units */
#define VTD_ECAP_IRO_MASK 0x3ffull

/* GCMD / GSTS: a command bit and its status bit share a position. */
#define VTD_GCMD_TE VTD_BIT32(31) /* translation enable */
#define VTD_GCMD_SRTP VTD_BIT32(30) /* set root table pointer (one-shot) */
#define VTD_GCMD_WBF VTD_BIT32(27) /* write-buffer flush (one-shot) */
#define VTD_GCMD_QIE VTD_BIT32(26) /* queued invalidation enable */
#define VTD_GCMD_IRE VTD_BIT32(25) /* interrupt remapping enable */
#define VTD_GCMD_SIRTP VTD_BIT32(24) /* set interrupt remapping table pointer (one-shot) */
#define VTD_GCMD_CFI VTD_BIT32(23) /* compatibility-format interrupts pass */
/*
 * The status bits of one-shot commands (RTPS, FLS, WBFS, IRTPS). A GCMD
 * write carries GSTS without them, so it re-issues no one-shot command and
 * keeps every persistent enable as it is (the spec's GSTS & 0x96ffffff).
 */
#define VTD_GSTS_ONESHOT 0x69000000u

/* CCMD (register-based context-cache invalidation) */
#define VTD_CCMD_ICC BIT(63) /* set to start, cleared by the unit when done */
#define VTD_CCMD_CIRG_SHIFT 61
#define VTD_CCMD_CAIG_SHIFT 59 /* granularity performed; 0: not performed */
#define VTD_CCMD_SID_SHIFT 16

/* IOTLB register (register-based IOTLB invalidation) */
#define VTD_IOTLB_IVT BIT(63)
#define VTD_IOTLB_IIRG_SHIFT 60
#define VTD_IOTLB_IAIG_SHIFT 57
#define VTD_IOTLB_DR BIT(49)
#define VTD_IOTLB_DW BIT(48)
#define VTD_IOTLB_DID_SHIFT 32

/* Invalidation granularities (the same codes in registers and descriptors). */
#define VTD_GRAN_GLOBAL 1u
#define VTD_GRAN_DOMAIN 2u
#define VTD_GRAN_DEVICE 3u /* context cache: one source-id of a domain */
#define VTD_GRAN_PAGE 3u /* IOTLB: 2^AM aligned pages of a domain */
#define VTD_GRAN_MASK 3u

/* FSTS: PFO, IQE, ICE, ITE are write-1-to-clear. */
#define VTD_FSTS_PFO VTD_BIT32(0) /* a fault was lost: every record was full */
#define VTD_FSTS_PPF VTD_BIT32(1) /* a record has F set (read-only) */
#define VTD_FSTS_IQE VTD_BIT32(4) /* the queue stopped at a bad descriptor */
#define VTD_FSTS_ICE VTD_BIT32(5)
#define VTD_FSTS_ITE VTD_BIT32(6)
#define VTD_FSTS_CLEAR (VTD_FSTS_PFO | VTD_FSTS_IQE | VTD_FSTS_ICE | VTD_FSTS_ITE)

#define VTD_FECTL_IM VTD_BIT32(31) /* fault interrupt masked */

/* Fault recording register, upper 64 bits. */
#define VTD_FRCD_F BIT(63) /* a fault is recorded; write 1 to clear */
#define VTD_FRCD_T BIT(62) /* 1: read request, 0: write */
#define VTD_FRCD_FR_SHIFT 32 /* 8 bits: the fault reason */
#define VTD_FRCD_SID_MASK 0xffffull
#define VTD_FRCD_F_HI32 VTD_BIT32(31) /* F, seen from the upper 32-bit half */
#define VTD_FRCD_IDX_SHIFT 48 /* interrupt faults: the index, in the address field */
#define VTD_FR_INTR_FIRST 0x20u /* reasons from here on are interrupt-remapping faults */

#define VTD_PMEN_EPM VTD_BIT32(31) /* protected memory regions on */
#define VTD_PMEN_PRS VTD_BIT32(0) /* ... and in force */

/* Invalidation queue: one page of 256 16-byte descriptors (IQA.QS = 0). */
#define VTD_QI_ENTRIES 256u
#define VTD_IQ_SHIFT 4 /* IQH/IQT hold a descriptor's byte offset */
#define VTD_INV_CC 0x1ull /* context-cache invalidate */
#define VTD_INV_IOTLB 0x2ull
#define VTD_INV_IEC 0x4ull /* interrupt entry cache, global (G = 0) */
#define VTD_INV_WAIT 0x5ull
#define VTD_INV_G_SHIFT 4
#define VTD_INV_IOTLB_DW BIT(6)
#define VTD_INV_IOTLB_DR BIT(7)
#define VTD_INV_DID_SHIFT 16
#define VTD_INV_SID_SHIFT 32
#define VTD_INV_WAIT_SW BIT(5) /* write the status data when done */
#define VTD_INV_WAIT_DATA_SHIFT 32

/* Interrupt remapping table: one page of 256 16-byte entries, all absent. */
#define VTD_IRTA_S_256 7ull /* 2^(S + 1) entries */
/* An entry (VT-d 3.4, 9.10), remapped format: present, physical, edge, fixed. */
#define VTD_IRTE_P BIT(0)
#define VTD_IRTE_VECTOR_SHIFT 16
#define VTD_IRTE_DEST_XAPIC_SHIFT 40 /* EIME 0: the 8-bit APIC ID in bits 47:40 */
#define VTD_IRTE_SVT_SID (1ull << 18) /* high half: verify the requester against SID */
/* The MSI address of a remappable interrupt: format bit, handle 14:0 in bits 19:5. */
#define VTD_MSI_BASE 0xfee00000ull
#define VTD_MSI_REMAPPABLE BIT(4)
#define VTD_MSI_HANDLE_SHIFT 5

/* Root and context entries (128 bits each, legacy mode). */
#define VTD_ENTRY_P BIT(0)
#define VTD_ENTRY_ADDR 0x000ffffffffff000ull
#define VTD_CTX_AW_39 1ull /* upper half: 3-level tables */
#define VTD_CTX_AW_48 2ull /* 4-level */
#define VTD_CTX_AW_MASK 7ull
#define VTD_CTX_DID_SHIFT 8
#define VTD_CTX_DID_MASK 0xffffull
/* Translation type 00 in bits 3:2: untranslated requests through second level. */

/* Second-level page-table entries. */
#define VTD_PTE_R BIT(0)
#define VTD_PTE_W BIT(1)
#define VTD_PTE_PS BIT(7) /* a 2 MiB or 1 GiB leaf */
#define VTD_PTE_RW (VTD_PTE_R | VTD_PTE_W)
#define VTD_PTE_ADDR 0x000ffffffffff000ull

/* ---- Second-level tables as a pt_format ----------------------------------- */

/* Address bits of a leaf at @level of a table whose 4 KiB level is @last. */
static u64 vtd_leaf_mask(u32 level, u32 last)
{
	return VTD_PTE_ADDR & ~((1ull << (PAGE_SHIFT + 9 * (last - level))) - 1);
}

/* A table entry grants R and W: the effective rights are those of the leaf. */
static u64 vtd_table_entry(hpa_t next)
{
	return (next & VTD_PTE_ADDR) | VTD_PTE_RW;
}

/* PT_EXEC and PT_DEVICE mean nothing to a DMA remapper; R or W makes it present. */
static u64 vtd_leaf(hpa_t pa, u32 level, u32 attrs, u32 last)
{
	u64 e = pa & vtd_leaf_mask(level, last);

	if (attrs & PT_READ)
		e |= VTD_PTE_R;
	if (attrs & PT_WRITE)
		e |= VTD_PTE_W;
	if (!(e & VTD_PTE_RW))
		return 0;
	if (level < last)
		e |= VTD_PTE_PS;
	return e;
}

static bool vtd_present(u64 e)
{
	return e & VTD_PTE_RW;
}

static bool vtd_is_table(u64 e, u32 level, u32 last)
{
	return (e & VTD_PTE_RW) && level < last && !(e & VTD_PTE_PS);
}

static hpa_t vtd_addr(u64 e, u32 level, u32 last)
{
	if (vtd_is_table(e, level, last))
		return e & VTD_PTE_ADDR;
	return e & vtd_leaf_mask(level, last);
}

static u32 vtd_attrs(u64 e, u32 level)
{
	u32 a = 0;

	if (e & VTD_PTE_R)
		a |= PT_READ;
	if (e & VTD_PTE_W)
		a |= PT_WRITE;
	return a;
}

/* 3 levels (39-bit): level 2 holds 4 KiB pages; 4 levels (48-bit): level 3. */
static u64 vtd3_leaf(hpa_t pa, u32 level, u32 attrs)
{
	return vtd_leaf(pa, level, attrs, 2);
}

static bool vtd3_is_table(u64 e, u32 level)
{
	return vtd_is_table(e, level, 2);
}

static hpa_t vtd3_addr(u64 e, u32 level)
{
	return vtd_addr(e, level, 2);
}

static u64 vtd4_leaf(hpa_t pa, u32 level, u32 attrs)
{
	return vtd_leaf(pa, level, attrs, 3);
}

static bool vtd4_is_table(u64 e, u32 level)
{
	return vtd_is_table(e, level, 3);
}

static hpa_t vtd4_addr(u64 e, u32 level)
{
	return vtd_addr(e, level, 3);
}

#define VTD3_FORMAT(nm, leaves)                                                                   \
	{                                                                                         \
		.name = nm, .levels = 3, .root_entries = 512, .shift = { 30, 21, 12 },            \
		.leaf_levels = (leaves), .table_entry = vtd_table_entry, .leaf_entry = vtd3_leaf, \
		.is_present = vtd_present, .is_table = vtd3_is_table, .entry_addr = vtd3_addr,    \
		.entry_attrs = vtd_attrs,                                                         \
	}

#define VTD4_FORMAT(nm, leaves)                                                                   \
	{                                                                                         \
		.name = nm, .levels = 4, .root_entries = 512, .shift = { 39, 30, 21, 12 },        \
		.leaf_levels = (leaves), .table_entry = vtd_table_entry, .leaf_entry = vtd4_leaf, \
		.is_present = vtd_present, .is_table = vtd4_is_table, .entry_addr = vtd4_addr,    \
		.entry_attrs = vtd_attrs,                                                         \
	}

/* Indexed by large-page support: none, 2 MiB, 2 MiB and 1 GiB (CAP.SLLPS). */
static const struct pt_format vtd3_formats[] = {
	VTD3_FORMAT("vt-d 3-level", 0x4),
	VTD3_FORMAT("vt-d 3-level 2M", 0x6),
	VTD3_FORMAT("vt-d 3-level 1G", 0x7),
};

static const struct pt_format vtd4_formats[] = {
	VTD4_FORMAT("vt-d 4-level", 0x8),
	VTD4_FORMAT("vt-d 4-level 2M", 0xc),
	VTD4_FORMAT("vt-d 4-level 1G", 0xe),
};

/* ---- The driver's state per unit ------------------------------------------ */

struct vtd {
	bool enabled;
	u64 cap, ecap;
	const struct pt_format *fmt;
	hpa_t root; /* root table: 256 entries, one per bus */
	hpa_t queue; /* invalidation queue, or 0: register-based invalidation */
	hpa_t irt; /* interrupt remapping table, or 0 */
	u32 fro, nfr; /* first fault record's offset, how many */
	u32 iro; /* IOTLB registers' offset */
	u32 domains; /* domain IDs the unit can tag */
	u32 qtail; /* next free descriptor */
	u32 wait_seq; /* status data of the last wait descriptor */
	u32 wait_status; /* the unit writes wait_seq here (a DMA write) */
};

static struct vtd vtd_units[IOMMU_MAX_UNITS];

static struct vtd *vtd_of(const struct iommu_unit *u)
{
	struct vtd *v = u->priv;

	return v && v->enabled ? v : NULL;
}

static bool vtd_coherent(const struct vtd *v)
{
	return v->ecap & VTD_ECAP_C;
}

/* Make a table write visible to a unit that does not snoop the CPU caches. */
static void vtd_clean(const struct vtd *v, const void *p, u64 size)
{
	if (!vtd_coherent(v))
		arch_dma_clean(p, size);
}

/* ---- Register access and waits -------------------------------------------- */

static volatile u8 *vtd_reg(const struct iommu_unit *u, u32 off)
{
	return (volatile u8 *)u->regs + off;
}

static u32 vtd_read32(const struct iommu_unit *u, u32 off)
{
	return *(volatile u32 *)vtd_reg(u, off);
}

static u64 vtd_read64(const struct iommu_unit *u, u32 off)
{
	return *(volatile u64 *)vtd_reg(u, off);
}

static void vtd_write32(const struct iommu_unit *u, u32 off, u32 val)
{
	*(volatile u32 *)vtd_reg(u, off) = val;
}

static void vtd_write64(const struct iommu_unit *u, u32 off, u64 val)
{
	*(volatile u64 *)vtd_reg(u, off) = val;
}

static u64 vtd_read(const struct iommu_unit *u, u32 off, bool wide)
{
	return wide ? vtd_read64(u, off) : vtd_read32(u, off);
}

/* A register (64-bit if @wide) and what it must read under a mask: vtd_wait()'s goal. */
struct vtd_reg_want {
	u32 off;
	bool wide;
	u64 mask, want;
};

static int vtd_reg_reads(const struct iommu_unit *u, const void *arg)
{
	const struct vtd_reg_want *w = arg;

	return (vtd_read(u, w->off, w->wide) & w->mask) == w->want;
}

/*
 * Wait until the register at @off (64-bit if @wide) has (value & @mask) ==
 * @want. The clock starts after the command was written (iommu_poll's timeout).
 */
static int vtd_wait(const struct iommu_unit *u, u32 off, bool wide, u64 mask, u64 want,
		    const char *what)
{
	const struct vtd_reg_want w = { off, wide, mask, want };

	return iommu_poll(u, vtd_reg_reads, &w, what);
}

/*
 * Set (@on) or clear @bit in GCMD, keeping every other persistent enable as
 * GSTS reports it, then wait until GSTS shows @bit as @want_set. For a
 * persistent enable @want_set is @on; SRTP and SIRTP wait for their status
 * bit to be set, WBF for its status bit to clear.
 */
static int vtd_gcmd(const struct iommu_unit *u, u32 bit, bool on, bool want_set, const char *what)
{
	u32 cmd = vtd_read32(u, VTD_GSTS) & ~VTD_GSTS_ONESHOT;

	vtd_write32(u, VTD_GCMD, on ? cmd | bit : cmd & ~bit);
	return vtd_wait(u, VTD_GSTS, false, bit, want_set ? bit : 0, what);
}

/* Empty the write buffer where the unit has one (CAP.RWBF). */
static int vtd_write_buffer_flush(const struct iommu_unit *u, const struct vtd *v)
{
	if (!(v->cap & VTD_CAP_RWBF))
		return 0;
	return vtd_gcmd(u, VTD_GCMD_WBF, true, false, "complete the write-buffer flush");
}

/* ---- Invalidation: queued, or through registers without ECAP.QI ------------ */

/*
 * Put one descriptor in the queue; the unit sees it at the next
 * vtd_inval_wait(), which every caller ends with.
 */
static int vtd_qi_push(const struct iommu_unit *u, struct vtd *v, u64 lo, u64 hi)
{
	u32 next = (v->qtail + 1) % VTD_QI_ENTRIES;
	u32 head = (u32)((vtd_read64(u, VTD_IQH) >> VTD_IQ_SHIFT) % VTD_QI_ENTRIES);
	u64 *d = (u64 *)hpa_to_hva(v->queue) + 2 * v->qtail;

	if (next == head) {
		pr_err("iommu %u (VT-d): the invalidation queue is full", u->index);
		return -KEEL_EIO;
	}
	WRITE_ONCE(d[0], lo);
	WRITE_ONCE(d[1], hi);
	vtd_clean(v, d, 2 * sizeof(u64));
	v->qtail = next;
	return 0;
}

/* Whether the wait descriptor wrote number *@seq; a queue stopped at a bad one fails. */
static int vtd_wait_written(const struct iommu_unit *u, const void *seq)
{
	const struct vtd *v = u->priv;
	u32 fsts;

	if (READ_ONCE(v->wait_status) == *(const u32 *)seq)
		return 1;
	fsts = vtd_read32(u, VTD_FSTS);
	if (fsts & VTD_FSTS_IQE) {
		pr_err("iommu %u (VT-d): the invalidation queue stopped at a bad descriptor (FSTS 0x%x)",
		       u->index, fsts);
		return -KEEL_EIO;
	}
	return 0;
}

/*
 * Queued: hand the unit what was pushed and a wait descriptor that writes a
 * new sequence number into wait_status, and poll for it. Register-based
 * invalidations complete as they are issued, so there is nothing to wait for.
 */
static int vtd_inval_wait(const struct iommu_unit *u, struct vtd *v)
{
	u32 seq;
	int ret;

	if (!v->queue)
		return 0;
	seq = ++v->wait_seq ? v->wait_seq : ++v->wait_seq; /* never 0, the initial value */
	ret = vtd_qi_push(u, v,
			  VTD_INV_WAIT | VTD_INV_WAIT_SW | (u64)seq << VTD_INV_WAIT_DATA_SHIFT,
			  hva_to_hpa(&v->wait_status));
	if (ret)
		return ret;
	vtd_write64(u, VTD_IQT, (u64)v->qtail << VTD_IQ_SHIFT);
	return iommu_poll(u, vtd_wait_written, &seq, "complete an invalidation wait");
}

/* After a register-based invalidation: the granularity it reports, 0 if none. */
static int vtd_inval_performed(const struct iommu_unit *u, u32 off, u32 shift, const char *what)
{
	if ((vtd_read64(u, off) >> shift) & VTD_GRAN_MASK)
		return 0;
	pr_err("iommu %u (VT-d): the unit did not perform the %s", u->index, what);
	return -KEEL_EIO;
}

/* Invalidate context entries: all, one domain's, or one source-id's (@sid). */
static int vtd_inval_context(const struct iommu_unit *u, struct vtd *v, u32 gran, u16 did, u16 sid)
{
	int ret;

	if (v->queue)
		return vtd_qi_push(u, v,
				   VTD_INV_CC | (u64)gran << VTD_INV_G_SHIFT |
					   (u64)did << VTD_INV_DID_SHIFT |
					   (u64)sid << VTD_INV_SID_SHIFT,
				   0);
	vtd_write64(u, VTD_CCMD,
		    VTD_CCMD_ICC | (u64)gran << VTD_CCMD_CIRG_SHIFT |
			    (u64)sid << VTD_CCMD_SID_SHIFT | did);
	ret = vtd_wait(u, VTD_CCMD, true, VTD_CCMD_ICC, 0, "complete a context-cache invalidation");
	return ret ? ret
		   : vtd_inval_performed(u, VTD_CCMD, VTD_CCMD_CAIG_SHIFT,
					 "context-cache invalidation");
}

/*
 * Invalidate the IOTLB (and the paging-structure caches: IH is 0): all, one
 * domain's, or 2^@am pages at @addr of one domain. DMA in flight is drained
 * where the unit can (CAP.DRD, CAP.DWD), so none still uses what was removed.
 */
static int vtd_inval_iotlb(const struct iommu_unit *u, struct vtd *v, u32 gran, u16 did, u64 addr,
			   u32 am)
{
	bool dr = v->cap & VTD_CAP_DRD, dw = v->cap & VTD_CAP_DWD;
	u32 reg = v->iro + VTD_IOTLB;
	int ret;

	if (v->queue)
		return vtd_qi_push(
			u, v,
			VTD_INV_IOTLB | (u64)gran << VTD_INV_G_SHIFT | (dr ? VTD_INV_IOTLB_DR : 0) |
				(dw ? VTD_INV_IOTLB_DW : 0) | (u64)did << VTD_INV_DID_SHIFT,
			gran == VTD_GRAN_PAGE ? addr | am : 0);
	if (gran == VTD_GRAN_PAGE)
		vtd_write64(u, v->iro + VTD_IVA, addr | am);
	vtd_write64(u, reg,
		    VTD_IOTLB_IVT | (u64)gran << VTD_IOTLB_IIRG_SHIFT | (dr ? VTD_IOTLB_DR : 0) |
			    (dw ? VTD_IOTLB_DW : 0) | (u64)did << VTD_IOTLB_DID_SHIFT);
	ret = vtd_wait(u, reg, true, VTD_IOTLB_IVT, 0, "complete an IOTLB invalidation");
	return ret ? ret : vtd_inval_performed(u, reg, VTD_IOTLB_IAIG_SHIFT, "IOTLB invalidation");
}

/* Every cached context entry and translation: after a new root table. */
static int vtd_inval_all(const struct iommu_unit *u, struct vtd *v)
{
	int ret = vtd_inval_context(u, v, VTD_GRAN_GLOBAL, 0, 0);

	if (!ret)
		ret = vtd_inval_iotlb(u, v, VTD_GRAN_GLOBAL, 0, 0, 0);
	return ret ? ret : vtd_inval_wait(u, v);
}

/* ---- Enable ---------------------------------------------------------------- */

/* Read the capabilities; pick the table depth; check the registers are mapped. */
static int vtd_probe(const struct iommu_unit *u, struct vtd *v)
{
	u32 nd, sllps;

	v->cap = vtd_read64(u, VTD_CAP);
	v->ecap = vtd_read64(u, VTD_ECAP);
	if (v->cap == ~0ull || v->ecap == ~0ull) {
		pr_err("iommu %u (VT-d): the registers at 0x%llx read all ones", u->index,
		       (unsigned long long)u->base);
		return -KEEL_EIO;
	}
	sllps = (v->cap & VTD_CAP_SLLPS_2M) ? ((v->cap & VTD_CAP_SLLPS_1G) ? 2 : 1) : 0;
	if (v->cap & VTD_CAP_SAGAW_48) {
		v->fmt = &vtd4_formats[sllps];
	} else if (v->cap & VTD_CAP_SAGAW_39) {
		v->fmt = &vtd3_formats[sllps];
	} else {
		pr_err("iommu %u (VT-d): supports neither 4-level nor 3-level tables (SAGAW 0x%llx)",
		       u->index,
		       (unsigned long long)((v->cap >> VTD_CAP_SAGAW_SHIFT) & VTD_CAP_SAGAW_MASK));
		return -KEEL_EINVAL;
	}
	nd = (u32)(v->cap & VTD_CAP_ND);
	if (nd > VTD_CAP_ND_MAX) {
		pr_err("iommu %u (VT-d): reports a reserved domain count (ND %u)", u->index, nd);
		return -KEEL_EINVAL;
	}
	v->domains = 1u << (4 + 2 * nd);
	v->fro = (u32)((v->cap >> VTD_CAP_FRO_SHIFT) & VTD_CAP_FRO_MASK) * 16;
	v->nfr = (u32)((v->cap >> VTD_CAP_NFR_SHIFT) & VTD_CAP_NFR_MASK) + 1;
	v->iro = (u32)((v->ecap >> VTD_ECAP_IRO_SHIFT) & VTD_ECAP_IRO_MASK) * 16;
	if ((u64)v->fro + (u64)v->nfr * VTD_FRCD_SIZE > u->size ||
	    (!(v->ecap & VTD_ECAP_QI) && (u64)v->iro + 16 > u->size)) {
		pr_err("iommu %u (VT-d): its fault (0x%x) or IOTLB (0x%x) registers lie beyond its %llu-byte register block",
		       u->index, v->fro, v->iro, (unsigned long long)u->size);
		return -KEEL_EINVAL;
	}
	return 0;
}

static hpa_t vtd_alloc_page(const struct vtd *v)
{
	hpa_t pa = pmm_alloc(PAGE_SIZE, PAGE_SIZE); /* zeroed */

	if (pa)
		vtd_clean(v, hpa_to_hva(pa), PAGE_SIZE);
	return pa;
}

/*
 * The root table (every entry absent: every requester blocked), the queue
 * (with ECAP.QI) and the interrupt remapping table (with ECAP.IR, which the
 * spec pairs with QI: its cache is invalidated only through the queue).
 */
static int vtd_alloc(const struct iommu_unit *u, struct vtd *v)
{
	bool qi = v->ecap & VTD_ECAP_QI, ir = v->ecap & VTD_ECAP_IR;

	if (ir && !qi)
		pr_warn("iommu %u (VT-d): interrupt remapping without queued invalidation; left off",
			u->index);
	v->root = vtd_alloc_page(v);
	v->queue = qi ? vtd_alloc_page(v) : 0;
	v->irt = ir && qi ? vtd_alloc_page(v) : 0;
	if (v->root && (v->queue || !qi) && (v->irt || !(ir && qi)))
		return 0;
	if (v->root)
		pmm_free(v->root, PAGE_SIZE);
	if (v->queue)
		pmm_free(v->queue, PAGE_SIZE);
	if (v->irt)
		pmm_free(v->irt, PAGE_SIZE);
	pr_err("iommu %u (VT-d): no memory for its tables", u->index);
	return -KEEL_ENOMEM;
}

/* Clear what earlier software left in the fault records; returns how many. */
static u32 vtd_faults_discard(const struct iommu_unit *u, const struct vtd *v)
{
	u32 n = 0;

	for (u32 i = 0; i < v->nfr; i++) {
		u32 off = v->fro + i * VTD_FRCD_SIZE;

		if (vtd_read64(u, off + VTD_FRCD_HI) & VTD_FRCD_F) {
			vtd_write32(u, off + VTD_FRCD_HI32, VTD_FRCD_F_HI32);
			n++;
		}
	}
	vtd_write32(u, VTD_FSTS, vtd_read32(u, VTD_FSTS) & VTD_FSTS_CLEAR);
	return n;
}

/* The fault interrupt: the arch's message, or masked (faults are then polled). */
static void vtd_fault_irq_setup(const struct iommu_unit *u, const struct vtd *v)
{
	struct iommu_msi msi = { 0 };
	u32 hi;

	if (!arch_iommu_fault_msi(&msi)) {
		vtd_write32(u, VTD_FECTL, VTD_FECTL_IM);
		pr_info("iommu %u (VT-d): no fault interrupt; faults are logged when polled",
			u->index);
		return;
	}
	hi = (u32)(msi.addr >> 32);
	if (hi && !(v->ecap & VTD_ECAP_EIM)) {
		vtd_write32(u, VTD_FECTL, VTD_FECTL_IM);
		pr_warn("iommu %u (VT-d): fault interrupt address 0x%llx needs 32-bit APIC IDs; masked",
			u->index, (unsigned long long)msi.addr);
		return;
	}
	vtd_write32(u, VTD_FEDATA, msi.data);
	vtd_write32(u, VTD_FEADDR, (u32)msi.addr);
	if (v->ecap & VTD_ECAP_EIM)
		vtd_write32(u, VTD_FEUADDR, hi);
	vtd_write32(u, VTD_FECTL, 0);
}

/*
 * Queued invalidation on, with an empty queue. If earlier software left it
 * on, wait until the unit has read all it was given, and turn it off first:
 * IQA may only change while QI is off.
 */
static int vtd_qi_start(const struct iommu_unit *u, struct vtd *v)
{
	int ret;

	if (vtd_read32(u, VTD_GSTS) & VTD_GCMD_QIE) {
		u64 tail = vtd_read64(u, VTD_IQT);

		ret = vtd_wait(u, VTD_IQH, true, ~0ull, tail, "drain the firmware's queue");
		if (!ret)
			ret = vtd_gcmd(u, VTD_GCMD_QIE, false, false,
				       "turn queued invalidation off");
		if (ret)
			return ret;
	}
	vtd_write64(u, VTD_IQT, 0);
	vtd_write64(u, VTD_IQA, v->queue); /* QS = 0: one page; DW = 0: 128-bit descriptors */
	v->qtail = 0;
	return vtd_gcmd(u, VTD_GCMD_QIE, true, true, "turn queued invalidation on");
}

/* The root table in, then nothing cached from the tables before it. */
static int vtd_root_start(const struct iommu_unit *u, struct vtd *v)
{
	int ret;

	if (vtd_read32(u, VTD_GSTS) & VTD_GCMD_TE)
		pr_info("iommu %u (VT-d): translation was on; the firmware's tables are replaced",
			u->index);
	vtd_write64(u, VTD_RTADDR, v->root); /* TTM 00: legacy-mode root table */
	ret = vtd_gcmd(u, VTD_GCMD_SRTP, true, true, "set the root table pointer");
	return ret ? ret : vtd_inval_all(u, v);
}

/*
 * Interrupt remapping on with a table whose every entry is absent, and
 * compatibility-format interrupts blocked (CFI clear): every interrupt a
 * device sends faults until Keel routes it.
 */
static int vtd_ir_start(const struct iommu_unit *u, struct vtd *v)
{
	int ret;

	vtd_write64(u, VTD_IRTA, v->irt | VTD_IRTA_S_256); /* EIME 0: nothing is routed yet */
	ret = vtd_gcmd(u, VTD_GCMD_SIRTP, true, true, "set the interrupt remapping table");
	if (!ret)
		ret = vtd_qi_push(u, v, VTD_INV_IEC, 0);
	if (!ret)
		ret = vtd_inval_wait(u, v);
	if (!ret && (vtd_read32(u, VTD_GSTS) & VTD_GCMD_CFI))
		ret = vtd_gcmd(u, VTD_GCMD_CFI, false, false, "block compatibility interrupts");
	return ret ? ret : vtd_gcmd(u, VTD_GCMD_IRE, true, true, "turn interrupt remapping on");
}

/* The firmware's protected memory ranges off, now that translation guards all. */
static int vtd_pmen_off(const struct iommu_unit *u, const struct vtd *v)
{
	int ret;

	if (!(v->cap & (VTD_CAP_PLMR | VTD_CAP_PHMR)) || !(vtd_read32(u, VTD_PMEN) & VTD_PMEN_EPM))
		return 0;
	vtd_write32(u, VTD_PMEN, 0);
	ret = vtd_wait(u, VTD_PMEN, false, VTD_PMEN_PRS, 0, "turn protected memory off");
	if (!ret)
		pr_info("iommu %u (VT-d): the firmware's protected memory ranges are off",
			u->index);
	return ret;
}

/* Program the unit: fault reporting, QI, root table, IR, translation, PMEN. */
static int vtd_start(const struct iommu_unit *u, struct vtd *v)
{
	u32 stale = vtd_faults_discard(u, v);
	int ret = 0;

	if (stale)
		pr_info("iommu %u (VT-d): cleared %u fault records from before Keel", u->index,
			stale);
	vtd_fault_irq_setup(u, v);
	if (v->queue)
		ret = vtd_qi_start(u, v);
	if (!ret)
		ret = vtd_root_start(u, v);
	if (!ret && v->irt)
		ret = vtd_ir_start(u, v);
	if (!ret)
		ret = vtd_gcmd(u, VTD_GCMD_TE, true, true, "turn translation on");
	return ret ? ret : vtd_pmen_off(u, v);
}

static void vtd_report(const struct iommu_unit *u, const struct vtd *v)
{
	u32 ver = vtd_read32(u, VTD_VER);

	pr_info("iommu %u (VT-d): on at 0x%llx, version %u.%u: %s tables, MGAW %u, %u domain IDs, %s invalidation, interrupt remapping %s%s%s",
		u->index, (unsigned long long)u->base, VTD_VER_MAJOR(ver), VTD_VER_MINOR(ver),
		v->fmt->name, (u32)((v->cap >> VTD_CAP_MGAW_SHIFT) & VTD_CAP_MGAW_MASK) + 1,
		v->domains, v->queue ? "queued" : "register", v->irt ? "on" : "off",
		vtd_coherent(v) ? "" : ", non-coherent walks",
		(v->cap & VTD_CAP_CM) ? ", caching mode" : "");
	if (!v->irt)
		pr_warn("iommu %u (VT-d): without interrupt remapping, a device's interrupt messages are not confined",
			u->index);
}

/*
 * Tables are allocated first; once a register points at one, nothing is
 * freed on failure (the unit may still read it), and the unit is left with
 * whatever it reached, all of it blocking.
 */
static int vtd_enable(struct iommu_unit *u)
{
	struct vtd *v;
	int ret;

	if (u->index >= IOMMU_MAX_UNITS || !u->regs)
		return -KEEL_EINVAL;
	v = &vtd_units[u->index];
	memset(v, 0, sizeof(*v));
	u->priv = v;
	ret = vtd_probe(u, v);
	if (!ret)
		ret = vtd_alloc(u, v);
	if (!ret)
		ret = vtd_start(u, v);
	if (ret)
		return ret;
	v->enabled = true;
	vtd_report(u, v);
	return 0;
}

static const struct pt_format *vtd_format(const struct iommu_unit *u)
{
	const struct vtd *v = vtd_of(u);

	return v ? v->fmt : NULL;
}

/* ---- Context entries -------------------------------------------------------- */

/*
 * Write every table of @pt in [va, va + size) back to memory, whole tables
 * (a new table's untouched entries are zeroes in the CPU cache, and the
 * unit must read those zeroes, not what the page held before).
 */
static void vtd_clean_walk(const struct pt_format *fmt, hpa_t table, u32 level, u64 va, u64 end)
{
	const u64 *t = hpa_to_hva(table);
	u64 sz = pt_level_size(fmt, level);

	arch_dma_clean(t, PAGE_SIZE);
	if (level + 1 == fmt->levels)
		return;
	while (va < end) {
		u64 e = t[(va >> fmt->shift[level]) & 511];
		u64 next = ALIGN_DOWN(va, sz) + sz;

		if (fmt->is_table(e, level))
			vtd_clean_walk(fmt, fmt->entry_addr(e, level), level + 1, va,
				       MIN(end, next));
		va = next;
	}
}

static void vtd_clean_tables(const struct vtd *v, const struct pt *pt, u64 va, u64 size)
{
	u64 limit = pt_level_size(pt->fmt, 0) * pt->fmt->root_entries;

	if (vtd_coherent(v) || va >= limit)
		return;
	vtd_clean_walk(pt->fmt, pt->root, 0, va, size > limit - va ? limit : va + size);
}

static bool vtd_ctx_present(const u64 *ce)
{
	return READ_ONCE(ce[0]) & VTD_ENTRY_P;
}

static u16 vtd_ctx_did(const u64 *ce)
{
	return (u16)((READ_ONCE(ce[1]) >> VTD_CTX_DID_SHIFT) & VTD_CTX_DID_MASK);
}

/*
 * The context entry of @rid: its bus's context table is allocated on first
 * use (*@new_bus then set) if @new_bus is non-NULL. NULL if absent or out of
 * memory.
 */
static u64 *vtd_context_slot(const struct iommu_unit *u, struct vtd *v, u16 rid, bool *new_bus)
{
	u64 *re = (u64 *)hpa_to_hva(v->root) + 2 * (rid >> 8);
	hpa_t ct = READ_ONCE(re[0]) & VTD_ENTRY_ADDR;

	if (!(READ_ONCE(re[0]) & VTD_ENTRY_P)) {
		if (!new_bus)
			return NULL;
		ct = vtd_alloc_page(v);
		if (!ct) {
			pr_err("iommu %u (VT-d): no memory for the context table of bus %02x",
			       u->index, rid >> 8);
			return NULL;
		}
		WRITE_ONCE(re[1], 0);
		WRITE_ONCE(re[0], ct | VTD_ENTRY_P);
		vtd_clean(v, re, 2 * sizeof(u64));
		*new_bus = true;
	}
	return (u64 *)hpa_to_hva(ct) + 2 * (rid & 0xff);
}

/*
 * Make the present context entry @ce of @rid absent, and wait until the unit
 * holds nothing cached through it: its context entry and, since a domain's
 * IOTLB entries are not tagged by requester, the whole domain's IOTLB.
 */
static int vtd_context_block(const struct iommu_unit *u, struct vtd *v, u64 *ce, u16 rid)
{
	u16 did = vtd_ctx_did(ce);
	int ret;

	WRITE_ONCE(ce[0], 0);
	vtd_clean(v, ce, 2 * sizeof(u64));
	ret = vtd_inval_context(u, v, VTD_GRAN_DEVICE, did, rid);
	if (!ret)
		ret = vtd_inval_iotlb(u, v, VTD_GRAN_DOMAIN, did, 0, 0);
	if (!ret)
		ret = vtd_inval_wait(u, v);
	WRITE_ONCE(ce[1], 0);
	vtd_clean(v, ce, 2 * sizeof(u64));
	return ret;
}

/* Whether @d can be attached here: a usable domain ID and a table of this unit. */
static int vtd_domain_check(const struct iommu_unit *u, const struct vtd *v,
			    const struct iommu_domain *d, const struct pt *pt)
{
	if (d->id >= v->domains || ((v->cap & VTD_CAP_CM) && d->id == 0)) {
		/* With caching mode, the unit tags not-present entries with ID 0. */
		pr_err("iommu %u (VT-d): domain ID %u is not usable (IDs below %u%s)", u->index,
		       d->id, v->domains, (v->cap & VTD_CAP_CM) ? ", not 0" : "");
		return -KEEL_EINVAL;
	}
	if (pt->fmt != v->fmt || !pt->root || !IS_ALIGNED(pt->root, PAGE_SIZE)) {
		pr_err("iommu %u (VT-d): domain %u has no table in this unit's format", u->index,
		       d->id);
		return -KEEL_EINVAL;
	}
	return 0;
}

/*
 * After an absent context entry became present: with caching mode the unit
 * may have cached it as absent (under domain ID 0), and a new bus's root
 * entry with it, so that goes; then the domain's IOTLB, waited for.
 */
static int vtd_context_sync_new(const struct iommu_unit *u, struct vtd *v, u16 rid, u16 did,
				bool new_bus)
{
	u16 cc_did = (v->cap & VTD_CAP_CM) ? 0 : did;
	int ret = vtd_write_buffer_flush(u, v);

	if (!ret)
		ret = vtd_inval_context(u, v, new_bus ? VTD_GRAN_GLOBAL : VTD_GRAN_DEVICE, cc_did,
					rid);
	if (!ret)
		ret = vtd_inval_iotlb(u, v, VTD_GRAN_DOMAIN, did, 0, 0);
	return ret ? ret : vtd_inval_wait(u, v);
}

static int vtd_attach(struct iommu_unit *u, struct iommu_domain *d, u16 rid)
{
	struct vtd *v = vtd_of(u);
	const struct pt *pt;
	bool new_bus = false;
	u64 *ce;
	int ret;

	if (!v)
		return -KEEL_EINVAL;
	pt = &d->pt[u->index];
	ret = vtd_domain_check(u, v, d, pt);
	if (ret)
		return ret;
	ce = vtd_context_slot(u, v, rid, &new_bus);
	if (!ce)
		return -KEEL_ENOMEM;
	if (vtd_ctx_present(ce)) {
		if (vtd_ctx_did(ce) == d->id && (READ_ONCE(ce[0]) & VTD_ENTRY_ADDR) == pt->root)
			return 0; /* attached already */
		ret = vtd_context_block(u, v, ce, rid);
		if (ret)
			return ret;
	}
	/* Every table the unit may walk from here on, in memory first. */
	vtd_clean_tables(v, pt, 0, ~0ull);
	/* The upper half first: the unit reads nothing of an entry without P. */
	WRITE_ONCE(ce[1], (v->fmt->levels == 4 ? VTD_CTX_AW_48 : VTD_CTX_AW_39) |
				  (u64)d->id << VTD_CTX_DID_SHIFT);
	WRITE_ONCE(ce[0], (pt->root & VTD_ENTRY_ADDR) | VTD_ENTRY_P); /* TT 00 */
	vtd_clean(v, ce, 2 * sizeof(u64));
	ret = vtd_context_sync_new(u, v, rid, d->id, new_bus);
	if (ret)
		vtd_context_block(u, v, ce, rid); /* failed: back to blocked, as far as it goes */
	return ret;
}

static int vtd_detach(struct iommu_unit *u, struct iommu_domain *d, u16 rid)
{
	struct vtd *v = vtd_of(u);
	u64 *ce;

	if (!v)
		return -KEEL_EINVAL;
	ce = vtd_context_slot(u, v, rid, NULL);
	if (!ce || !vtd_ctx_present(ce))
		return 0; /* blocked already */
	if (vtd_ctx_did(ce) != d->id)
		pr_warn("iommu %u (VT-d): %02x:%02x.%u detached from domain %u is in domain %u; blocked anyway",
			u->index, rid >> 8, (rid >> 3) & 0x1f, rid & 7, d->id, vtd_ctx_did(ce));
	return vtd_context_block(u, v, ce, rid);
}

/* ---- Flush -------------------------------------------------------------------- */

/*
 * The address mask of a page-selective invalidation covering [iova, iova +
 * size): the smallest aligned power-of-two block of pages around it. False
 * if the unit has no PSI or the block is beyond its largest mask (CAP.MAMV).
 */
static bool vtd_psi_mask(const struct vtd *v, u64 iova, u64 size, u32 *am)
{
	u64 first = iova >> PAGE_SHIFT, last = (iova + size - 1) >> PAGE_SHIFT;
	u32 mamv = (u32)((v->cap >> VTD_CAP_MAMV_SHIFT) & VTD_CAP_MAMV_MASK);
	u32 order = 0;

	if (!(v->cap & VTD_CAP_PSI) || range_overflows(iova, size))
		return false;
	while (order < 52 && (first >> order) != (last >> order))
		order++;
	if (order > mamv)
		return false;
	*am = order;
	return true;
}

/*
 * A non-coherent unit gets the tables of the range written back first (whole
 * tables, see vtd_clean_walk), then the IOTLB entries of the range go:
 * page-selective where the unit can, else the whole domain's.
 */
/* Write IRTE @index and drop every cached copy of the interrupt entries (global IEC). */
static int vtd_irte_write(struct iommu_unit *u, struct vtd *v, u32 index, u64 lo, u64 hi)
{
	u64 *e = (u64 *)hpa_to_hva(v->irt) + 2 * index;
	int ret;

	/* The entry is dead (P = 0) while its halves change. */
	WRITE_ONCE(e[0], 0);
	WRITE_ONCE(e[1], hi);
	WRITE_ONCE(e[0], lo);
	vtd_clean(v, e, 16);
	ret = vtd_qi_push(u, v, VTD_INV_IEC, 0);
	return ret ? ret : vtd_inval_wait(u, v);
}

static int vtd_irte_set(struct iommu_unit *u, u16 rid, u32 index, u32 apic_id, u32 vector,
			struct iommu_msi *msi)
{
	struct vtd *v = vtd_of(u);
	int ret;

	if (!v || !v->irt || index >= IOMMU_IRTES || apic_id > 0xff || vector > 0xff)
		return -KEEL_EINVAL;
	ret = vtd_irte_write(u, v, index,
			     VTD_IRTE_P | (u64)vector << VTD_IRTE_VECTOR_SHIFT |
				     (u64)apic_id << VTD_IRTE_DEST_XAPIC_SHIFT,
			     VTD_IRTE_SVT_SID | rid);
	msi->addr = VTD_MSI_BASE | VTD_MSI_REMAPPABLE | (u64)index << VTD_MSI_HANDLE_SHIFT;
	msi->data = 0;
	return ret;
}

static void vtd_irte_clear(struct iommu_unit *u, u16 rid, u32 index)
{
	struct vtd *v = vtd_of(u);

	(void)rid;
	if (v && v->irt && index < IOMMU_IRTES && vtd_irte_write(u, v, index, 0, 0))
		pr_err("iommu %u (VT-d): interrupt entry %u may still be cached", u->index, index);
}

static void vtd_flush(struct iommu_unit *u, struct iommu_domain *d, u64 iova, u64 size)
{
	struct vtd *v = vtd_of(u);
	const struct pt *pt;
	u32 am;
	int ret;

	if (!v || !size)
		return;
	pt = &d->pt[u->index];
	if (pt->fmt == v->fmt && pt->root)
		vtd_clean_tables(v, pt, iova, size);
	ret = vtd_write_buffer_flush(u, v);
	if (!ret && vtd_psi_mask(v, iova, size, &am))
		ret = vtd_inval_iotlb(u, v, VTD_GRAN_PAGE, d->id, ALIGN_DOWN(iova, PAGE_SIZE << am),
				      am);
	else if (!ret)
		ret = vtd_inval_iotlb(u, v, VTD_GRAN_DOMAIN, d->id, 0, 0);
	if (!ret)
		ret = vtd_inval_wait(u, v);
	if (ret)
		pr_err("iommu %u (VT-d): domain %u: the flush of 0x%llx+0x%llx failed", u->index,
		       d->id, (unsigned long long)iova, (unsigned long long)size);
}

/* ---- Faults ----------------------------------------------------------------- */

struct vtd_reason {
	u8 code;
	const char *text;
};

static const struct vtd_reason vtd_reasons[] = {
	{ 0x01, "root entry not present" },
	{ 0x02, "context entry not present" },
	{ 0x03, "context entry invalid" },
	{ 0x04, "address beyond the address width" },
	{ 0x05, "write to a page not mapped writable" },
	{ 0x06, "read from a page not mapped readable" },
	{ 0x07, "page table unreadable" },
	{ 0x08, "root table unreadable" },
	{ 0x09, "context table unreadable" },
	{ 0x0a, "reserved bits set in a root entry" },
	{ 0x0b, "reserved bits set in a context entry" },
	{ 0x0c, "reserved bits set in a page-table entry" },
	{ 0x0d, "request type blocked by the context entry" },
	{ 0x20, "interrupt: reserved bits set in the request" },
	{ 0x21, "interrupt: index beyond the remapping table" },
	{ 0x22, "interrupt: remapping entry not present" },
	{ 0x23, "interrupt: remapping table unreadable" },
	{ 0x24, "interrupt: reserved bits set in the remapping entry" },
	{ 0x25, "interrupt: compatibility format blocked" },
	{ 0x26, "interrupt: source-id not allowed by the remapping entry" },
};

static const char *vtd_fault_reason(u32 code)
{
	for (u32 i = 0; i < ARRAY_SIZE(vtd_reasons); i++)
		if (vtd_reasons[i].code == code)
			return vtd_reasons[i].text;
	return "unknown fault reason";
}

/* One fault record: for an interrupt fault, @addr is the interrupt index. */
static void vtd_fault_log(struct iommu_unit *u, u64 lo, u64 hi)
{
	u32 reason = (u32)(hi >> VTD_FRCD_FR_SHIFT) & 0xff;
	u16 rid = (u16)(hi & VTD_FRCD_SID_MASK);
	bool write = !(hi & VTD_FRCD_T);
	u64 addr = lo & ~(PAGE_SIZE - 1);

	if (reason >= VTD_FR_INTR_FIRST) {
		addr = lo >> VTD_FRCD_IDX_SHIFT;
		write = false;
	}
	iommu_fault_report(u, rid, addr, write, vtd_fault_reason(reason));
}

/* Clear FSTS's sticky bits, saying what they meant. */
static void vtd_fsts_clear(const struct iommu_unit *u)
{
	u32 fsts = vtd_read32(u, VTD_FSTS);

	if (fsts & VTD_FSTS_PFO)
		pr_warn("iommu %u (VT-d): the fault records overflowed; faults were lost",
			u->index);
	if (fsts & (VTD_FSTS_IQE | VTD_FSTS_ICE | VTD_FSTS_ITE))
		pr_err("iommu %u (VT-d): invalidation error (FSTS 0x%x)", u->index, fsts);
	if (fsts & VTD_FSTS_CLEAR)
		vtd_write32(u, VTD_FSTS, fsts & VTD_FSTS_CLEAR);
}

static u32 vtd_faults(struct iommu_unit *u)
{
	const struct vtd *v = vtd_of(u);
	u32 n = 0;

	if (!v)
		return 0;
	for (u32 i = 0; i < v->nfr; i++) {
		u32 off = v->fro + i * VTD_FRCD_SIZE;
		u64 hi = vtd_read64(u, off + VTD_FRCD_HI), lo;

		if (!(hi & VTD_FRCD_F))
			continue;
		lo = vtd_read64(u, off + VTD_FRCD_LO);
		vtd_write32(u, off + VTD_FRCD_HI32, VTD_FRCD_F_HI32); /* write 1 to clear */
		vtd_fault_log(u, lo, hi);
		n++;
	}
	vtd_fsts_clear(u);
	return n;
}

const struct iommu_ops vtd_ops = {
	.name = "VT-d",
	.enable = vtd_enable,
	.format = vtd_format,
	.attach = vtd_attach,
	.detach = vtd_detach,
	.flush = vtd_flush,
	.faults = vtd_faults,
	.irte_set = vtd_irte_set,
	.irte_clear = vtd_irte_clear,
};
