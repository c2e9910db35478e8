/* SPDX-License-Identifier: MIT */
/*
 * The Arm SMMUv3 driver: a linear stream table in which every stream is
 * blocked until it is attached to a domain, the command and event queues,
 * and the two page-table formats a domain may use.
 *
 * Which stage: stage 2 where the unit has it (IDR0.S2P), since its tables
 * are the CPU's stage-2 format and a domain is tagged by VMID; else stage 1
 * (QEMU 7.2's SMMUv3 has no other), with Keel's own tables, IOVA =
 * guest-physical, one context descriptor per domain tagged by ASID. Either
 * way the tables are Keel's: a partition never reaches the SMMU.
 *
 * Blocked: a stream no partition owns translates through an empty table
 * (stage 1: a context descriptor of its own; stage 2: VMID 0), with fault
 * recording on, so a DMA it attempts is refused *and* logged with its
 * address. A stream beyond the table is refused by the unit (C_BAD_STREAMID);
 * with the unit off, the global bypass attribute aborts everything (GBPA).
 */
#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/iommu.h>
#include <keel/lib.h>
#include <keel/pmm.h>

/* Registers: page 0, and page 1 (64 KiB on) for the event queue's indices. */
#define SMMU_IDR0 0x0000
#define SMMU_IDR1 0x0004
#define SMMU_IDR5 0x0014
#define SMMU_CR0 0x0020
#define SMMU_CR0ACK 0x0024
#define SMMU_CR1 0x0028
#define SMMU_CR2 0x002c
#define SMMU_GBPA 0x0044
#define SMMU_IRQ_CTRL 0x0050
#define SMMU_IRQ_CTRLACK 0x0054
#define SMMU_GERROR 0x0060
#define SMMU_GERRORN 0x0064
#define SMMU_GERROR_IRQ_CFG0 0x0068
#define SMMU_STRTAB_BASE 0x0080
#define SMMU_STRTAB_BASE_CFG 0x0088
#define SMMU_CMDQ_BASE 0x0090
#define SMMU_CMDQ_PROD 0x0098
#define SMMU_CMDQ_CONS 0x009c
#define SMMU_EVTQ_BASE 0x00a0
#define SMMU_EVTQ_IRQ_CFG0 0x00b0
#define SMMU_EVTQ_PROD 0x100a8
#define SMMU_EVTQ_CONS 0x100ac
#define SMMU_REGS_MIN 0x20000u /* both pages */

#define IDR0_S2P BIT(0)
#define IDR0_S1P BIT(1)
#define IDR0_TTF_AA64 BIT(3) /* TTF: 0b10 or 0b11 */
#define IDR0_COHACC BIT(4)
#define IDR0_HYP BIT(9)
#define IDR0_TTENDIAN_SHIFT 21
#define IDR0_TTENDIAN_BE 3u
#define IDR1_SIDSIZE_MASK 0x3fu
#define IDR1_EVTQS_SHIFT 16
#define IDR1_CMDQS_SHIFT 21
#define IDR1_QS_MASK 0x1fu
#define IDR5_OAS_MASK 7u
#define IDR5_GRAN4K BIT(4)

#define CR0_SMMUEN BIT(0)
#define CR0_EVTQEN BIT(2)
#define CR0_CMDQEN BIT(3)
/* CR1: queues and tables inner-shareable write-back where the unit snoops. */
#define CR1_WB_ISH 0xd75u /* TABLE_SH=3 OC=1 IC=1, QUEUE_SH=3 OC=1 IC=1 */
#define CR2_RECINVSID BIT(1) /* record C_BAD_STREAMID */
#define CR2_PTM BIT(2) /* Keel's commands alone maintain its TLBs */
#define GBPA_ABORT BIT(20)
#define GBPA_UPDATE BIT(31)
#define IRQ_CTRL_GERROR BIT(0)
#define IRQ_CTRL_EVTQ BIT(2)
#define GERROR_CMDQ_ERR BIT(0)
#define GERROR_EVTQ_ABT BIT(2)
#define GERROR_SFM BIT(8)

#define BASE_RA BIT(62) /* read-allocate (CMDQ, STRTAB); write-allocate (EVTQ) */
#define BASE_ADDR_MASK 0x000fffffffffffe0ull
#define Q_OVFLG BIT(31) /* EVTQ_PROD: overflow; EVTQ_CONS: its acknowledgement */
#define CMDQ_CONS_ERR_SHIFT 24
#define CMDQ_CONS_ERR_MASK 0x7fu

/* Stream table entry: 8 dwords. */
#define STE_DWORDS 8u
#define STE_BYTES (STE_DWORDS * 8u)
#define STE_V BIT(0)
#define STE_CFG_SHIFT 1
#define STE_CFG_ABORT 0ull
#define STE_CFG_S1 5ull
#define STE_CFG_S2 6ull
#define STE_CTXPTR_MASK 0x000fffffffffffc0ull
#define STE1_SHCFG_INCOMING (1ull << 44)
#define STE2_VTCR_SHIFT 32
#define STE2_S2AA64 BIT(51)
#define STE2_S2R BIT(58) /* record faults */
#define STE3_S2TTB_MASK 0x000ffffffffffff0ull
/* VTCR fields in dword 2 (above STE2_VTCR_SHIFT): 48-bit IPA, 4 KiB, start at level 0. */
#define VTCR_T0SZ_48 16ull
#define VTCR_SL0_L0 (2ull << 6)
#define VTCR_WB_ISH (1ull << 8 | 1ull << 10 | 3ull << 12)
#define VTCR_PS_SHIFT 16

/* Context descriptor: 8 dwords; one per domain (stage 1). */
#define CD_DWORDS 8u
#define CD_BYTES (CD_DWORDS * 8u)
#define CD0_T0SZ_48 16ull
#define CD0_WB_ISH (1ull << 8 | 1ull << 10 | 3ull << 12) /* IR0, OR0, SH0 */
#define CD0_EPD1 BIT(30)
#define CD0_V BIT(31)
#define CD0_IPS_SHIFT 32
#define CD0_AFFD BIT(35)
#define CD0_AA64 BIT(41)
#define CD0_R BIT(45)
#define CD0_A BIT(46)
#define CD0_ASET BIT(47)
#define CD0_ASID_SHIFT 48
#define CD1_TTB0_MASK 0x000ffffffffffff0ull
/* Attribute 0: normal, write-back; 1: Device-nGnRE (an MSI doorbell). */
#define MAIR_WB_DEV (0xffull | 0x04ull << 8)
#define PTE_S1_ATTR_DEV (1ull << 2) /* AttrIndx 1 */

/* Commands: 2 dwords, the opcode in bits 7:0. */
#define CMD_DWORDS 2u
#define CMD_CFGI_STE 0x03ull
#define CMD_CFGI_CD_ALL 0x06ull
#define CMD_CFGI_ALL 0x04ull
#define CMD_TLBI_NH_ASID 0x11ull
#define CMD_TLBI_EL2_ALL 0x20ull
#define CMD_TLBI_S12_VMALL 0x28ull
#define CMD_TLBI_NSNH_ALL 0x30ull
#define CMD_SYNC 0x46ull
#define CMD_SID_SHIFT 32
#define CMD_VMID_SHIFT 32
#define CMD_ASID_SHIFT 48
#define CMD_CFGI_RANGE_ALL 31ull /* CFGI_ALL: dword 1, every stream */

/* Events: 4 dwords (8 words). */
#define EVT_DWORDS 4u
#define EVT_F_UUT 0x01u
#define EVT_C_BAD_STREAMID 0x02u
#define EVT_F_STE_FETCH 0x03u
#define EVT_C_BAD_STE 0x04u
#define EVT_F_BAD_ATS_TREQ 0x05u
#define EVT_F_STREAM_DISABLED 0x06u
#define EVT_F_TRANSL_FORBIDDEN 0x07u
#define EVT_C_BAD_SUBSTREAMID 0x08u
#define EVT_F_CD_FETCH 0x09u
#define EVT_C_BAD_CD 0x0au
#define EVT_F_WALK_EABT 0x0bu
#define EVT_F_TRANSLATION 0x10u
#define EVT_F_ADDR_SIZE 0x11u
#define EVT_F_ACCESS 0x12u
#define EVT_F_PERMISSION 0x13u
#define EVT1_RNW BIT(35)

/* Page-table entries (both stages, 4 KiB granule). */
#define PTE_VALID BIT(0)
#define PTE_TABLE BIT(1) /* levels 0-2: a table; level 3: a page */
#define PTE_ADDR_MASK 0x0000fffffffff000ull
#define PTE_S1_AP_RW (1ull << 6) /* AP = 01: read/write, any privilege */
#define PTE_S1_AP_RO (3ull << 6)
#define PTE_S1_NG BIT(11) /* tagged by ASID */
#define PTE_S2_MEMATTR_WB (0xfull << 2)
#define PTE_S2_MEMATTR_DEV (0x1ull << 2) /* Device-nGnRE */
#define PTE_S2_MEMATTR (0xfull << 2)
#define PTE_S2_READ BIT(6)
#define PTE_S2_WRITE BIT(7)
#define PTE_SH_INNER (3ull << 8)
#define PTE_AF BIT(10)
#define PTE_XN (3ull << 53) /* stage 1: PXN and UXN; stage 2: XN */

/*
 * Sizes. The stream table is linear, as long as the streams the firmware
 * names need (at most 2^16 entries, 4 MiB); the queues take at most 256
 * commands and 512 events (Keel waits for every batch of a few commands;
 * an event overflow loses log lines, never a blocked DMA).
 */
#define SMMU_MAX_SID_BITS 16u
#define SMMU_CMDQ_LOG2_MAX 8u
#define SMMU_EVTQ_LOG2_MAX 9u
#define SMMU_DOMAINS 256u /* context descriptors: domain IDs 1..255, 0 blocks */
#define SMMU_LEVELS 4u

struct smmuv3 {
	u64 *strtab;
	u32 sid_bits; /* the table holds 2^sid_bits entries */
	u64 *cmdq;
	u32 cmdq_log2;
	u32 cmd_prod; /* index and wrap bit of the next command */
	bool cmd_refused; /* a command since the last CMD_SYNC was refused */
	u64 *evtq;
	u32 evtq_log2;
	u64 *cds; /* SMMU_DOMAINS context descriptors (stage 1) */
	hpa_t empty; /* an empty top-level table: blocked streams translate through it */
	bool stage2; /* domains use stage 2 */
	bool coherent; /* its table and queue accesses snoop the CPUs' caches */
	bool irq; /* its event interrupt is on */
	u32 oas; /* output address size, the IDR5 encoding */
	/* The last fault reported: a run of events continuing it is the same DMA. */
	struct {
		u32 sid, id;
		bool write;
		u64 addr;
	} run;
};

static struct smmuv3 smmuv3_units[IOMMU_MAX_UNITS];

static u32 smmuv3_read(const struct iommu_unit *u, u32 off)
{
	return *(const volatile u32 *)((const volatile u8 *)u->regs + off);
}

static void smmuv3_write(const struct iommu_unit *u, u32 off, u32 val)
{
	*(volatile u32 *)((volatile u8 *)u->regs + off) = val;
}

static void smmuv3_write64(const struct iommu_unit *u, u32 off, u64 val)
{
	*(volatile u64 *)((volatile u8 *)u->regs + off) = val;
}

/* The driver's writes of [p, p + size) reach a unit that does not snoop. */
static void smmuv3_clean(const struct smmuv3 *s, const void *p, u64 size)
{
	if (!s->coherent)
		arch_dma_clean(p, size);
}

/* A register and the value it must read under a mask: what smmuv3_wait_reg() waits for. */
struct smmuv3_reg_want {
	u32 off, mask, want;
};

static int smmuv3_reg_reads(const struct iommu_unit *u, const void *arg)
{
	const struct smmuv3_reg_want *w = arg;

	return (smmuv3_read(u, w->off) & w->mask) == w->want;
}

/* Wait until register @off reads @want under @mask (iommu_poll's timeout). */
static int smmuv3_wait_reg(struct iommu_unit *u, u32 off, u32 mask, u32 want, const char *what)
{
	const struct smmuv3_reg_want w = { off, mask, want };

	return iommu_poll(u, smmuv3_reg_reads, &w, what);
}

/* CR0 to @val, and wait for CR0ACK to say so. */
static int smmuv3_cr0(struct iommu_unit *u, u32 val, const char *what)
{
	smmuv3_write(u, SMMU_CR0, val);
	return smmuv3_wait_reg(u, SMMU_CR0ACK, ~0u, val, what);
}

/* ---- Commands ------------------------------------------------------------ */

/* Index and wrap bit of a queue of 2^@log2 entries. */
static u32 q_wrap_idx(u32 v, u32 log2)
{
	return v & ((2u << log2) - 1);
}

static u32 q_idx(u32 v, u32 log2)
{
	return v & ((1u << log2) - 1);
}

static bool q_full(u32 prod, u32 cons, u32 log2)
{
	return (q_wrap_idx(prod, log2) ^ q_wrap_idx(cons, log2)) == 1u << log2;
}

/*
 * A command the unit refused (GERROR.CMDQ_ERR): named on the console,
 * replaced by a CMD_SYNC so the queue moves on, and acknowledged.
 */
static void smmuv3_cmd_error(const struct iommu_unit *u, struct smmuv3 *s)
{
	u32 cons = smmuv3_read(u, SMMU_CMDQ_CONS);
	u64 *slot = &s->cmdq[q_idx(cons, s->cmdq_log2) * CMD_DWORDS];

	pr_err("iommu %u (SMMUv3): command 0x%02llx refused (error %u)", u->index,
	       (unsigned long long)(READ_ONCE(slot[0]) & 0xff),
	       (cons >> CMDQ_CONS_ERR_SHIFT) & CMDQ_CONS_ERR_MASK);
	s->cmd_refused = true;
	WRITE_ONCE(slot[0], CMD_SYNC);
	WRITE_ONCE(slot[1], 0);
	smmuv3_clean(s, slot, CMD_DWORDS * 8);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	smmuv3_write(u, SMMU_GERRORN, smmuv3_read(u, SMMU_GERRORN) ^ GERROR_CMDQ_ERR);
}

static bool smmuv3_cmd_failed(const struct iommu_unit *u)
{
	return (smmuv3_read(u, SMMU_GERROR) ^ smmuv3_read(u, SMMU_GERRORN)) & GERROR_CMDQ_ERR;
}

/*
 * Whether the unit has consumed every command queued (empty queue), or, with
 * *@room, whether one more fits. A refused command is reported and skipped
 * here (the next smmuv3_sync() fails).
 */
static int smmuv3_cmdq_ready(const struct iommu_unit *u, const void *room)
{
	struct smmuv3 *s = u->priv;
	u32 cons = smmuv3_read(u, SMMU_CMDQ_CONS);

	if (smmuv3_cmd_failed(u)) {
		smmuv3_cmd_error(u, s);
		return 0;
	}
	if (*(const bool *)room)
		return !q_full(s->cmd_prod, cons, s->cmdq_log2);
	return q_wrap_idx(cons, s->cmdq_log2) == q_wrap_idx(s->cmd_prod, s->cmdq_log2);
}

static int smmuv3_cmd_wait(struct iommu_unit *u, bool room)
{
	return iommu_poll(u, smmuv3_cmdq_ready, &room,
			  room ? "make room in its command queue"
			       : "complete its commands (CMD_SYNC)");
}

/* Queue one command (waiting for room) and tell the unit. */
static int smmuv3_cmd(struct iommu_unit *u, u64 d0, u64 d1)
{
	struct smmuv3 *s = u->priv;
	u64 *slot;
	int ret = smmuv3_cmd_wait(u, true);

	if (ret)
		return ret;
	slot = &s->cmdq[q_idx(s->cmd_prod, s->cmdq_log2) * CMD_DWORDS];
	WRITE_ONCE(slot[0], d0);
	WRITE_ONCE(slot[1], d1);
	smmuv3_clean(s, slot, CMD_DWORDS * 8);
	/* The command is in memory before the producer index says it is there. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	s->cmd_prod = q_wrap_idx(s->cmd_prod + 1, s->cmdq_log2);
	smmuv3_write(u, SMMU_CMDQ_PROD, s->cmd_prod);
	return 0;
}

/*
 * CMD_SYNC: returns once the unit has done every command queued before;
 * -KEEL_EIO if it refused one of them (named on the console).
 */
static int smmuv3_sync(struct iommu_unit *u)
{
	struct smmuv3 *s = u->priv;
	int ret = smmuv3_cmd(u, CMD_SYNC, 0);

	if (!ret)
		ret = smmuv3_cmd_wait(u, false);
	if (!ret && s->cmd_refused)
		ret = -KEEL_EIO;
	s->cmd_refused = false;
	return ret;
}

/* The unit forgets what it cached of stream @sid's entry and its context descriptors. */
static int smmuv3_cfgi_stream(struct iommu_unit *u, u32 sid)
{
	int ret = smmuv3_cmd(u, CMD_CFGI_STE | (u64)sid << CMD_SID_SHIFT, 0);

	return ret ? ret : smmuv3_cmd(u, CMD_CFGI_CD_ALL | (u64)sid << CMD_SID_SHIFT, 0);
}

/* ... and every translation tagged with domain @id (its ASID or VMID). */
static int smmuv3_tlbi_domain(struct iommu_unit *u, u16 id)
{
	const struct smmuv3 *s = u->priv;

	if (s->stage2)
		return smmuv3_cmd(u, CMD_TLBI_S12_VMALL | (u64)id << CMD_VMID_SHIFT, 0);
	return smmuv3_cmd(u, CMD_TLBI_NH_ASID | (u64)id << CMD_ASID_SHIFT, 0);
}

/* ---- Stream table and context descriptors -------------------------------- */

/*
 * The context descriptor of domain @id (stage 1): its table at @root, 48-bit
 * input, 4 KiB granule, TTB1 off, faults recorded and aborted, ASID @id.
 */
static void smmuv3_cd_build(u64 *cd, hpa_t root, u16 id, u32 oas)
{
	memset(cd, 0, CD_BYTES);
	cd[0] = CD0_T0SZ_48 | CD0_WB_ISH | CD0_EPD1 | CD0_V | (u64)oas << CD0_IPS_SHIFT | CD0_AFFD |
		CD0_AA64 | CD0_R | CD0_A | CD0_ASET | (u64)id << CD0_ASID_SHIFT;
	cd[1] = root & CD1_TTB0_MASK;
	cd[3] = MAIR_WB_DEV;
}

/*
 * A stream table entry that translates through domain @id: stage 1 by its
 * context descriptor at @cd, or stage 2 by the table at @root in VMID @id.
 * Attributes of the incoming transaction are kept (SHCFG).
 */
static void smmuv3_ste_build(u64 *ste, const struct smmuv3 *s, hpa_t cd, hpa_t root, u16 id)
{
	memset(ste, 0, STE_BYTES);
	ste[1] = STE1_SHCFG_INCOMING;
	if (s->stage2) {
		ste[0] = STE_V | STE_CFG_S2 << STE_CFG_SHIFT;
		ste[2] = id |
			 (VTCR_T0SZ_48 | VTCR_SL0_L0 | VTCR_WB_ISH | (u64)s->oas << VTCR_PS_SHIFT)
				 << STE2_VTCR_SHIFT |
			 STE2_S2AA64 | STE2_S2R;
		ste[3] = root & STE3_S2TTB_MASK;
	} else {
		ste[0] = STE_V | STE_CFG_S1 << STE_CFG_SHIFT | (cd & STE_CTXPTR_MASK);
	}
}

static u64 *smmuv3_cd_of(const struct smmuv3 *s, u16 id)
{
	return &s->cds[(u32)id * CD_DWORDS];
}

/* A blocked stream: domain 0, whose table is empty. */
static void smmuv3_ste_blocked(u64 *ste, const struct smmuv3 *s)
{
	smmuv3_ste_build(ste, s, hva_to_hpa(smmuv3_cd_of(s, 0)), s->empty, 0);
}

/*
 * Replace stream @sid's entry with @ste. The unit may read an entry at
 * any time, and an entry is 8 dwords: it first becomes "abort" (one
 * store of dword 0), which the unit is told of, then gets the new dwords
 * with dword 0 last, and the unit is told again. Whatever it reads in
 * between is the old entry, abort, or the new one.
 */
static int smmuv3_ste_store(struct iommu_unit *u, u32 sid, const u64 *ste)
{
	struct smmuv3 *s = u->priv;
	u64 *e = &s->strtab[(u64)sid * STE_DWORDS];
	int ret;

	WRITE_ONCE(e[0], STE_V | STE_CFG_ABORT << STE_CFG_SHIFT);
	smmuv3_clean(s, e, 8);
	ret = smmuv3_cfgi_stream(u, sid);
	if (!ret)
		ret = smmuv3_sync(u);
	if (ret)
		return ret; /* left at abort: nothing passes */
	for (u32 i = 1; i < STE_DWORDS; i++)
		WRITE_ONCE(e[i], ste[i]);
	smmuv3_clean(s, &e[1], STE_BYTES - 8);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	WRITE_ONCE(e[0], ste[0]);
	smmuv3_clean(s, e, 8);
	ret = smmuv3_cfgi_stream(u, sid);
	return ret ? ret : smmuv3_sync(u);
}

/*
 * Requester @rid's stream ID on @u (its iommu-map entry), or -1 if no
 * scope names it or the table does not reach it.
 */
static s64 smmuv3_sid_of(const struct iommu_unit *u, u16 rid)
{
	const struct smmuv3 *s = u->priv;

	for (u32 i = 0; i < u->scope_count && i < IOMMU_MAX_SCOPES; i++) {
		const struct iommu_scope *sc = &u->scopes[i];
		u64 sid;

		if (sc->kind != IOMMU_SCOPE_RANGE || rid < sc->first || rid > sc->last)
			continue;
		sid = (u64)sc->stream + (rid - sc->first);
		return sid < (1ull << s->sid_bits) ? (s64)sid : -1;
	}
	return -1;
}

/* The requester ID of stream @sid on @u, or -1 if no scope maps to it. */
static s32 smmuv3_rid_of(const struct iommu_unit *u, u32 sid)
{
	for (u32 i = 0; i < u->scope_count && i < IOMMU_MAX_SCOPES; i++) {
		const struct iommu_scope *sc = &u->scopes[i];

		if (sc->kind == IOMMU_SCOPE_RANGE && sc->first <= sc->last && sid >= sc->stream &&
		    (u64)sid - sc->stream <= (u64)(sc->last - sc->first))
			return (s32)(sc->first + (sid - sc->stream));
	}
	return -1;
}

/* ---- Page-table formats -------------------------------------------------- */

static u64 smmuv3_pte_table(hpa_t next)
{
	return (next & PTE_ADDR_MASK) | PTE_TABLE | PTE_VALID;
}

static u64 smmuv3_pte_leaf_bits(u32 level)
{
	return level == SMMU_LEVELS - 1 ? PTE_TABLE | PTE_VALID : PTE_VALID;
}

/*
 * Stage 1: normal write-back memory (device memory for PT_DEVICE: an MSI
 * doorbell), tagged by ASID, never executable.
 */
static u64 smmuv3_s1_leaf(hpa_t pa, u32 level, u32 attrs)
{
	u64 e = (pa & PTE_ADDR_MASK) | smmuv3_pte_leaf_bits(level) | PTE_AF | PTE_S1_NG | PTE_XN;

	e |= attrs & PT_DEVICE ? PTE_S1_ATTR_DEV : PTE_SH_INNER;
	return e | (attrs & PT_WRITE ? PTE_S1_AP_RW : PTE_S1_AP_RO);
}

static u32 smmuv3_s1_attrs(u64 e, u32 level)
{
	(void)level;
	return PT_READ | ((e & (1ull << 7)) ? 0u : PT_WRITE) | /* AP[2]: read-only */
	       ((e & (7ull << 2)) == PTE_S1_ATTR_DEV ? PT_DEVICE : 0u);
}

/* Stage 2: normal write-back memory (or device memory), read and write as asked. */
static u64 smmuv3_s2_leaf(hpa_t pa, u32 level, u32 attrs)
{
	u64 e = (pa & PTE_ADDR_MASK) | smmuv3_pte_leaf_bits(level) | PTE_AF | PTE_XN;

	e |= attrs & PT_DEVICE ? PTE_S2_MEMATTR_DEV : PTE_S2_MEMATTR_WB | PTE_SH_INNER;
	if (attrs & PT_READ)
		e |= PTE_S2_READ;
	if (attrs & PT_WRITE)
		e |= PTE_S2_WRITE;
	return e;
}

static u32 smmuv3_s2_attrs(u64 e, u32 level)
{
	(void)level;
	return (e & PTE_S2_READ ? PT_READ : 0u) | (e & PTE_S2_WRITE ? PT_WRITE : 0u) |
	       ((e & PTE_S2_MEMATTR) == PTE_S2_MEMATTR_DEV ? PT_DEVICE : 0u);
}

static bool smmuv3_pte_present(u64 e)
{
	return e & PTE_VALID;
}

static bool smmuv3_pte_is_table(u64 e, u32 level)
{
	return level + 1 < SMMU_LEVELS && (e & (PTE_TABLE | PTE_VALID)) == (PTE_TABLE | PTE_VALID);
}

static hpa_t smmuv3_pte_addr(u64 e, u32 level)
{
	(void)level;
	return e & PTE_ADDR_MASK;
}

/*
 * Both stages: 48-bit input, 4 KiB granule, blocks of 1 GiB and 2 MiB,
 * pages of 4 KiB; they differ in a leaf's attribute bits only.
 */
#define SMMUV3_FORMAT(title, leaf, attrs)                                                          \
	{                                                                                          \
		.name = title, .levels = SMMU_LEVELS, .root_entries = 512,                         \
		.shift = { 39, 30, 21, 12 }, .leaf_levels = BIT(1) | BIT(2) | BIT(3), .bbm = true, \
		.table_entry = smmuv3_pte_table, .leaf_entry = leaf,                               \
		.is_present = smmuv3_pte_present, .is_table = smmuv3_pte_is_table,                 \
		.entry_addr = smmuv3_pte_addr, .entry_attrs = attrs,                               \
	}

static const struct pt_format smmuv3_s1_format =
	SMMUV3_FORMAT("SMMUv3 stage 1", smmuv3_s1_leaf, smmuv3_s1_attrs);
static const struct pt_format smmuv3_s2_format =
	SMMUV3_FORMAT("SMMUv3 stage 2", smmuv3_s2_leaf, smmuv3_s2_attrs);

static const struct pt_format *smmuv3_format_of(const struct iommu_unit *u)
{
	const struct smmuv3 *s = u->priv;

	return s && s->stage2 ? &smmuv3_s2_format : &smmuv3_s1_format;
}

/* ---- Enable -------------------------------------------------------------- */

/* Why the unit's ID registers rule it out for Keel, or NULL. */
static const char *smmuv3_unsuitable(const struct iommu_unit *u, u32 idr0, u32 idr5)
{
	if (u->size < SMMU_REGS_MIN)
		return "its register block is smaller than its two 64 KiB pages";
	if (!(idr0 & (IDR0_S1P | IDR0_S2P)))
		return "it translates at neither stage";
	if (!(idr0 & IDR0_TTF_AA64))
		return "it has no AArch64 table format";
	if (((idr0 >> IDR0_TTENDIAN_SHIFT) & 3u) == IDR0_TTENDIAN_BE)
		return "its tables are big-endian only";
	if (!(idr5 & IDR5_GRAN4K))
		return "it has no 4 KiB granule";
	return NULL;
}

/*
 * Bits of stream ID the table must cover: the highest stream any scope
 * names, capped by the unit's SIDSIZE and Keel's SMMU_MAX_SID_BITS.
 */
static u32 smmuv3_sid_bits(const struct iommu_unit *u, u32 sidsize)
{
	u64 top = 0;
	u32 bits = 1;

	for (u32 i = 0; i < u->scope_count && i < IOMMU_MAX_SCOPES; i++) {
		const struct iommu_scope *sc = &u->scopes[i];

		if (sc->kind == IOMMU_SCOPE_RANGE && sc->first <= sc->last)
			top = MAX(top, (u64)sc->stream + (sc->last - sc->first));
	}
	while (bits < 32 && top >> bits)
		bits++;
	bits = MIN(bits, MIN(sidsize, SMMU_MAX_SID_BITS));
	if (top >> bits)
		pr_warn("iommu %u (SMMUv3): streams above 0x%llx are outside its stream table; "
			"their devices can never be assigned",
			u->index, (unsigned long long)((1ull << bits) - 1));
	return MAX(bits, 1u);
}

static void smmuv3_free(struct smmuv3 *s)
{
	if (s->strtab)
		pmm_free(hva_to_hpa(s->strtab), (u64)STE_BYTES << s->sid_bits);
	if (s->cmdq)
		pmm_free(hva_to_hpa(s->cmdq), (u64)CMD_DWORDS * 8 << s->cmdq_log2);
	if (s->evtq)
		pmm_free(hva_to_hpa(s->evtq), (u64)EVT_DWORDS * 8 << s->evtq_log2);
	if (s->cds)
		pmm_free(hva_to_hpa(s->cds), (u64)SMMU_DOMAINS * CD_BYTES);
	if (s->empty)
		pmm_free(s->empty, PAGE_SIZE);
	s->strtab = s->cmdq = s->evtq = s->cds = NULL;
	s->empty = 0;
}

static void *smmuv3_alloc_one(u64 bytes)
{
	hpa_t p = pmm_alloc(MAX(bytes, (u64)PAGE_SIZE), MAX(bytes, (u64)PAGE_SIZE));

	return p ? hpa_to_hva(p) : NULL;
}

/* The stream table (every entry blocked), queues, descriptors and the empty table. */
static int smmuv3_alloc(struct iommu_unit *u, struct smmuv3 *s)
{
	hpa_t empty = pmm_alloc(PAGE_SIZE, PAGE_SIZE);
	u64 blocked[STE_DWORDS];

	s->strtab = smmuv3_alloc_one((u64)STE_BYTES << s->sid_bits);
	s->cmdq = smmuv3_alloc_one((u64)CMD_DWORDS * 8 << s->cmdq_log2);
	s->evtq = smmuv3_alloc_one((u64)EVT_DWORDS * 8 << s->evtq_log2);
	s->cds = smmuv3_alloc_one((u64)SMMU_DOMAINS * CD_BYTES);
	s->empty = empty;
	if (!s->strtab || !s->cmdq || !s->evtq || !s->cds || !empty) {
		smmuv3_free(s);
		pr_err("iommu %u (SMMUv3): no memory for its stream table and queues", u->index);
		return -KEEL_ENOMEM;
	}
	smmuv3_cd_build(smmuv3_cd_of(s, 0), empty, 0, s->oas);
	smmuv3_ste_blocked(blocked, s);
	for (u64 i = 0; i < 1ull << s->sid_bits; i++)
		memcpy(&s->strtab[i * STE_DWORDS], blocked, STE_BYTES);
	smmuv3_clean(s, s->cds, CD_BYTES);
	smmuv3_clean(s, hpa_to_hva(empty), PAGE_SIZE);
	smmuv3_clean(s, s->strtab, (u64)STE_BYTES << s->sid_bits);
	return 0;
}

/*
 * Off, aborting everything while off (GBPA), then pointed at the new
 * tables and queues. Bus mastering is off on every PCI function since
 * pci_init(), and the base registers change only while the unit is off.
 */
static int smmuv3_program(struct iommu_unit *u, const struct smmuv3 *s)
{
	int ret = smmuv3_cr0(u, 0, "turn off");

	if (ret)
		return ret;
	smmuv3_write(u, SMMU_GBPA, GBPA_ABORT | GBPA_UPDATE);
	ret = smmuv3_wait_reg(u, SMMU_GBPA, GBPA_UPDATE, 0, "take GBPA.ABORT");
	if (ret)
		return ret;
	smmuv3_write(u, SMMU_IRQ_CTRL, 0);
	smmuv3_write(u, SMMU_CR1, s->coherent ? CR1_WB_ISH : 0);
	smmuv3_write(u, SMMU_CR2, CR2_RECINVSID | CR2_PTM);
	smmuv3_write64(u, SMMU_STRTAB_BASE, BASE_RA | (hva_to_hpa(s->strtab) & BASE_ADDR_MASK));
	smmuv3_write(u, SMMU_STRTAB_BASE_CFG, s->sid_bits); /* FMT 0: linear */
	smmuv3_write64(u, SMMU_CMDQ_BASE,
		       BASE_RA | (hva_to_hpa(s->cmdq) & BASE_ADDR_MASK) | s->cmdq_log2);
	smmuv3_write(u, SMMU_CMDQ_PROD, 0);
	smmuv3_write(u, SMMU_CMDQ_CONS, 0);
	smmuv3_write64(u, SMMU_EVTQ_BASE,
		       BASE_RA | (hva_to_hpa(s->evtq) & BASE_ADDR_MASK) | s->evtq_log2);
	smmuv3_write(u, SMMU_EVTQ_PROD, 0);
	smmuv3_write(u, SMMU_EVTQ_CONS, 0);
	/* Wired interrupts, not messages. */
	smmuv3_write64(u, SMMU_EVTQ_IRQ_CFG0, 0);
	smmuv3_write64(u, SMMU_GERROR_IRQ_CFG0, 0);
	return 0;
}

/* Drop everything the unit cached before Keel. */
static int smmuv3_invalidate_all(struct iommu_unit *u, u32 idr0)
{
	int ret = smmuv3_cmd(u, CMD_CFGI_ALL, CMD_CFGI_RANGE_ALL);

	if (!ret)
		ret = smmuv3_cmd(u, CMD_TLBI_NSNH_ALL, 0);
	if (!ret && (idr0 & IDR0_HYP))
		ret = smmuv3_cmd(u, CMD_TLBI_EL2_ALL, 0);
	return ret ? ret : smmuv3_sync(u);
}

/* The event and global-error interrupts, where the arch routes the wire. */
static bool smmuv3_irq_setup(struct iommu_unit *u)
{
	if (!u->irq || !arch_iommu_fault_irq(u->irq))
		return false;
	smmuv3_write(u, SMMU_IRQ_CTRL, IRQ_CTRL_EVTQ | IRQ_CTRL_GERROR);
	return !smmuv3_wait_reg(u, SMMU_IRQ_CTRLACK, IRQ_CTRL_EVTQ | IRQ_CTRL_GERROR,
				IRQ_CTRL_EVTQ | IRQ_CTRL_GERROR, "turn its interrupts on");
}

static int smmuv3_enable(struct iommu_unit *u)
{
	struct smmuv3 *s;
	u32 idr0, idr1, idr5;
	const char *why;
	int ret;

	if (u->index >= IOMMU_MAX_UNITS)
		return -KEEL_EINVAL;
	idr0 = smmuv3_read(u, SMMU_IDR0);
	idr1 = smmuv3_read(u, SMMU_IDR1);
	idr5 = smmuv3_read(u, SMMU_IDR5);
	why = smmuv3_unsuitable(u, idr0, idr5);
	if (why) {
		pr_err("iommu %u (SMMUv3): %s (IDR0 0x%x, IDR5 0x%x)", u->index, why, idr0, idr5);
		return -KEEL_ENOTSUP;
	}
	s = &smmuv3_units[u->index];
	*s = (struct smmuv3){
		.stage2 = idr0 & IDR0_S2P,
		.coherent = idr0 & IDR0_COHACC,
		.oas = MIN(idr5 & IDR5_OAS_MASK, 5u), /* 48 bits is all Keel's tables use */
		.cmdq_log2 = MIN((idr1 >> IDR1_CMDQS_SHIFT) & IDR1_QS_MASK, SMMU_CMDQ_LOG2_MAX),
		.evtq_log2 = MIN((idr1 >> IDR1_EVTQS_SHIFT) & IDR1_QS_MASK, SMMU_EVTQ_LOG2_MAX),
	};
	s->sid_bits = smmuv3_sid_bits(u, idr1 & IDR1_SIDSIZE_MASK);
	u->priv = s;
	ret = smmuv3_alloc(u, s);
	if (!ret)
		ret = smmuv3_program(u, s);
	if (!ret)
		ret = smmuv3_cr0(u, CR0_CMDQEN, "turn its command queue on");
	/* On failure the tables stay: the unit may read them, and they block everything. */
	if (!ret)
		ret = smmuv3_invalidate_all(u, idr0);
	if (ret)
		return ret;
	s->irq = smmuv3_irq_setup(u);
	ret = smmuv3_cr0(u, CR0_CMDQEN | CR0_EVTQEN | CR0_SMMUEN, "turn translation on");
	if (ret)
		return ret;
	pr_info("iommu %u (SMMUv3): stage %u, %u-bit stream table (linear), %u commands, %u "
		"events, %scoherent, event interrupt %s",
		u->index, s->stage2 ? 2 : 1, s->sid_bits, 1u << s->cmdq_log2, 1u << s->evtq_log2,
		s->coherent ? "" : "not ", s->irq ? "on" : "off");
	return 0;
}

/* ---- Attach, detach, flush ----------------------------------------------- */

static int smmuv3_attach(struct iommu_unit *u, struct iommu_domain *d, u16 rid)
{
	struct smmuv3 *s = u->priv;
	const struct pt *pt = &d->pt[u->index];
	s64 sid = smmuv3_sid_of(u, rid);
	u64 ste[STE_DWORDS];
	int ret;

	if (sid < 0)
		return -KEEL_ENODEV;
	if (pt->fmt != smmuv3_format_of(u) || !pt->root || !IS_ALIGNED(pt->root, PAGE_SIZE) ||
	    d->id == 0 || d->id >= SMMU_DOMAINS)
		return -KEEL_EINVAL;
	if (!s->stage2) {
		u64 *cd = smmuv3_cd_of(s, d->id);

		smmuv3_cd_build(cd, pt->root, d->id, s->oas);
		smmuv3_clean(s, cd, CD_BYTES);
	}
	/* Nothing of an earlier domain with this ID may be used. */
	ret = smmuv3_tlbi_domain(u, d->id);
	if (ret)
		return ret;
	smmuv3_ste_build(ste, s, hva_to_hpa(smmuv3_cd_of(s, d->id)), pt->root, d->id);
	return smmuv3_ste_store(u, (u32)sid, ste);
}

static int smmuv3_detach(struct iommu_unit *u, struct iommu_domain *d, u16 rid)
{
	struct smmuv3 *s = u->priv;
	s64 sid = smmuv3_sid_of(u, rid);
	u64 ste[STE_DWORDS];
	int ret;

	if (sid < 0)
		return -KEEL_ENODEV;
	smmuv3_ste_blocked(ste, s);
	ret = smmuv3_ste_store(u, (u32)sid, ste);
	if (!ret)
		ret = smmuv3_tlbi_domain(u, d->id);
	return ret ? ret : smmuv3_sync(u);
}

/*
 * The unit holds no translation of the domain made before: the whole
 * ASID (VMID) is dropped, whatever the range. Domains change only when
 * a device is assigned or a partition's memory is plugged, never on a
 * DMA path, so one command beats a loop of per-page ones.
 */
static void smmuv3_flush(struct iommu_unit *u, struct iommu_domain *d, u64 iova, u64 size)
{
	(void)iova;
	(void)size;
	/* A timeout has its console line already; nothing more can be done here. */
	if (!smmuv3_tlbi_domain(u, d->id))
		smmuv3_sync(u);
}

/* ---- Faults -------------------------------------------------------------- */

/* What a fault event means, in words; NULL for an event that is not a device's fault. */
static const char *smmuv3_fault_why(u32 id)
{
	switch (id) {
	case EVT_F_TRANSLATION:
		return "address not mapped";
	case EVT_F_ADDR_SIZE:
		return "address beyond the domain's range";
	case EVT_F_ACCESS:
		return "access flag clear";
	case EVT_F_PERMISSION:
		return "access not permitted";
	case EVT_F_WALK_EABT:
		return "external abort walking the I/O page tables";
	case EVT_F_UUT:
		return "unsupported upstream transaction";
	case EVT_F_BAD_ATS_TREQ:
		return "translation request (ATS) refused";
	case EVT_F_STREAM_DISABLED:
		return "stream disabled";
	case EVT_F_TRANSL_FORBIDDEN:
		return "translation forbidden";
	case EVT_C_BAD_STREAMID:
		return "stream outside the stream table";
	case EVT_F_STE_FETCH:
		return "its stream table entry could not be read";
	case EVT_C_BAD_STE:
		return "its stream table entry is invalid";
	case EVT_C_BAD_SUBSTREAMID:
		return "substream not allowed";
	case EVT_F_CD_FETCH:
		return "its context descriptor could not be read";
	case EVT_C_BAD_CD:
		return "its context descriptor is invalid";
	default:
		return NULL;
	}
}

/*
 * Whether a fault continues the last one reported: the same stream, kind
 * and direction, a higher address in the same page. A unit may record a
 * burst beat by beat (QEMU's does, 4 bytes each): that is one blocked DMA,
 * reported once, and counted once by the fault policy.
 */
static bool smmuv3_fault_continues(struct smmuv3 *s, u32 sid, u32 id, bool write, u64 addr)
{
	bool same = s->run.sid == sid && s->run.id == id && s->run.write == write &&
		    addr > s->run.addr && addr >> PAGE_SHIFT == s->run.addr >> PAGE_SHIFT;

	s->run.sid = sid;
	s->run.id = id;
	s->run.write = write;
	s->run.addr = addr;
	return same;
}

/*
 * One event record: a device's fault to the registry (which names the
 * partition and applies the policy), anything else to the console. Every
 * field is the unit's and is checked: an unknown stream is named by number.
 */
static void smmuv3_event(struct iommu_unit *u, const u64 *ev)
{
	u32 id = (u32)(ev[0] & 0xff), sid = (u32)(ev[0] >> 32);
	const char *why = smmuv3_fault_why(id);
	bool write = !(ev[1] & EVT1_RNW);
	s32 rid = smmuv3_rid_of(u, sid);
	u64 addr = ev[2];

	if (!why) {
		pr_err("iommu %u (SMMUv3): event 0x%02x for stream 0x%x: %016llx %016llx %016llx "
		       "%016llx",
		       u->index, id, sid, (unsigned long long)ev[0], (unsigned long long)ev[1],
		       (unsigned long long)ev[2], (unsigned long long)ev[3]);
		return;
	}
	if (smmuv3_fault_continues(u->priv, sid, id, write, addr))
		return;
	if (rid < 0) {
		pr_err("iommu %u (SMMUv3): DMA %s at 0x%llx by stream 0x%x (no PCI function "
		       "Keel knows) blocked: %s",
		       u->index, write ? "write" : "read", (unsigned long long)addr, sid, why);
		u->faults++;
		return;
	}
	iommu_fault_report(u, (u16)rid, addr, write, why);
}

/* A global error the unit raised (other than a refused command): logged and acknowledged. */
static void smmuv3_gerror(struct iommu_unit *u)
{
	u32 active = (smmuv3_read(u, SMMU_GERROR) ^ smmuv3_read(u, SMMU_GERRORN)) &
		     ~(u32)GERROR_CMDQ_ERR;

	if (!active)
		return;
	pr_err("iommu %u (SMMUv3): global error 0x%x%s%s", u->index, active,
	       active & GERROR_EVTQ_ABT ? " (its event queue could not be written)" : "",
	       active & GERROR_SFM ? " (service failure mode: it stopped translating)" : "");
	smmuv3_write(u, SMMU_GERRORN, smmuv3_read(u, SMMU_GERRORN) ^ active);
}

static u32 smmuv3_faults(struct iommu_unit *u)
{
	struct smmuv3 *s = u->priv;
	u32 prod = smmuv3_read(u, SMMU_EVTQ_PROD), cons = smmuv3_read(u, SMMU_EVTQ_CONS);
	u32 n = 0, log2 = s->evtq_log2;

	smmuv3_gerror(u);
	while (q_wrap_idx(cons, log2) != q_wrap_idx(prod, log2) && n < (1u << log2)) {
		const u64 *ev = &s->evtq[q_idx(cons, log2) * EVT_DWORDS];
		u64 rec[EVT_DWORDS];

		smmuv3_clean(s, ev, EVT_DWORDS * 8);
		for (u32 i = 0; i < EVT_DWORDS; i++)
			rec[i] = READ_ONCE(ev[i]);
		smmuv3_event(u, rec);
		cons = (cons & Q_OVFLG) | q_wrap_idx(cons + 1, log2);
		n++;
	}
	if ((prod ^ cons) & Q_OVFLG) {
		pr_warn("iommu %u (SMMUv3): event queue overflowed, events were lost", u->index);
		cons ^= Q_OVFLG; /* acknowledged */
	}
	smmuv3_write(u, SMMU_EVTQ_CONS, cons);
	return n;
}

/*
 * The SMMUv3 does not remap interrupts: the GIC's ITS does (arch_msi_remap).
 * Entry @index is the ITS event of requester @rid; @apic_id is the host
 * core (and ITS collection), @vector its LPI, as arch_msi_route chose.
 */
static int smmuv3_irte_set(struct iommu_unit *u, u16 rid, u32 index, u32 apic_id, u32 vector,
			   struct iommu_msi *msi)
{
	struct arch_msi_target t = { .cpu = apic_id, .apic_id = apic_id, .vector = vector };

	(void)u;
	if (index >= IOMMU_IRTES)
		return -KEEL_EINVAL;
	return arch_msi_remap(rid, index, &t, msi);
}

static void smmuv3_irte_clear(struct iommu_unit *u, u16 rid, u32 index)
{
	(void)u;
	if (index < IOMMU_IRTES)
		arch_msi_unmap(rid, index);
}

const struct iommu_ops smmuv3_ops = {
	.name = "SMMUv3",
	.enable = smmuv3_enable,
	.format = smmuv3_format_of,
	.attach = smmuv3_attach,
	.detach = smmuv3_detach,
	.flush = smmuv3_flush,
	.irte_set = smmuv3_irte_set,
	.irte_clear = smmuv3_irte_clear,
	.faults = smmuv3_faults,
};
