/* SPDX-License-Identifier: MIT */
/*
 * The SMMUv3 driver (vfio/smmuv3.c) against a fake unit that runs its
 * commands: the enable sequence, the stream table (blocked, attached, and
 * the path between through abort), the context descriptors and stage-2
 * entries, both page-table formats through the one walker, refused
 * commands, timeouts, and the event decoder on hostile queue contents.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/iommu.h>
#include <keel/pmm.h>
#include <keel/pt.h>

#include "iommu_env.h"
#include "unit.h"

extern char unit_log[];
extern size_t unit_log_len;

/* The spec's values, written out here independently of the driver. */
#define R_IDR0 0x0000
#define R_IDR1 0x0004
#define R_IDR5 0x0014
#define R_CR0 0x0020
#define R_CR0ACK 0x0024
#define R_CR1 0x0028
#define R_CR2 0x002c
#define R_GBPA 0x0044
#define R_IRQ_CTRL 0x0050
#define R_IRQ_CTRLACK 0x0054
#define R_GERROR 0x0060
#define R_GERRORN 0x0064
#define R_STRTAB 0x0080
#define R_STRTAB_CFG 0x0088
#define R_CMDQ 0x0090
#define R_CMDQ_PROD 0x0098
#define R_CMDQ_CONS 0x009c
#define R_EVTQ 0x00a0
#define R_EVTQ_PROD 0x100a8
#define R_EVTQ_CONS 0x100ac
#define REGS_SIZE 0x20000u
#define QADDR 0x000fffffffffffe0ull
/* IDR0: S2P, S1P, TTF (AArch64 = 0b10), COHACC, TTENDIAN little (0b10) */
#define IDR0_S1 (BIT(1) | 2u << 2 | BIT(4) | 2u << 21)
#define IDR0_S2 (IDR0_S1 | BIT(0))
#define IDR1_QEMU (16u | 19u << 16 | 19u << 21) /* SIDSIZE 16, EVENTQS, CMDQS 19 */
#define IDR5_QEMU (4u | BIT(4)) /* OAS 44 bits, 4 KiB granule */
#define OP_CFGI_STE 0x03
#define OP_CFGI_ALL 0x04
#define OP_CFGI_CD_ALL 0x06
#define OP_TLBI_NH_ASID 0x11
#define OP_TLBI_S12_VMALL 0x28
#define OP_TLBI_NSNH_ALL 0x30
#define OP_SYNC 0x46
#define STE_ABORT 0x1ull /* V, Config 000 */
#define CTXPTR 0x000fffffffffffc0ull
#define TTB 0x000ffffffffffff0ull
#define EDU_RID 0x28

/* ---- the environment the driver links against ---------------------------- */

static bool irq_ok = true;
static u32 irq_asked;

bool arch_iommu_fault_irq(u32 irq)
{
	irq_asked = irq;
	return irq_ok;
}

/* ---- a fake unit: registers in memory, commands run when time is read ---- */

static u8 *regs;
static bool stall; /* the fake runs no command */
static bool no_ack; /* CR0ACK never follows CR0 */
static u32 refuse_op; /* the fake refuses commands with this opcode (0: none) */
static u64 now_ns;

struct cmd {
	u32 op;
	u64 d0, d1;
	u64 ste0; /* CFGI_STE: dword 0 of that stream's entry when it ran */
};
#define CMD_LOG 64
static struct cmd cmds[CMD_LOG];
static u32 cmd_n;

static u32 reg32(u32 off)
{
	u32 v;

	memcpy(&v, regs + off, 4);
	return v;
}

static u64 reg64(u32 off)
{
	u64 v;

	memcpy(&v, regs + off, 8);
	return v;
}

static void reg32_set(u32 off, u32 v)
{
	memcpy(regs + off, &v, 4);
}

static const u64 *ste(u32 sid)
{
	const u64 *t = hpa_to_hva(reg64(R_STRTAB) & QADDR);

	return t + 8 * (u64)sid;
}

static void fake_run(u64 d0, u64 d1)
{
	u32 op = (u32)(d0 & 0xff);

	if (cmd_n < CMD_LOG)
		cmds[cmd_n] = (struct cmd){ op, d0, d1, op == OP_CFGI_STE ? ste(d0 >> 32)[0] : 0 };
	cmd_n++;
}

static void fake_step(void)
{
	u64 base = reg64(R_CMDQ);
	u32 log2 = (u32)(base & 0x1f), mask = (2u << log2) - 1;
	u32 prod = reg32(R_CMDQ_PROD) & mask, cons = reg32(R_CMDQ_CONS) & mask;
	const u64 *q = hpa_to_hva(base & QADDR);

	if (!no_ack)
		reg32_set(R_CR0ACK, reg32(R_CR0));
	reg32_set(R_GBPA, reg32(R_GBPA) & ~BIT(31));
	reg32_set(R_IRQ_CTRLACK, reg32(R_IRQ_CTRL));
	if (stall || !(reg32(R_CR0) & BIT(3)) || ((reg32(R_GERROR) ^ reg32(R_GERRORN)) & 1))
		return;
	while (cons != prod) {
		const u64 *c = q + 2 * (cons & ((1u << log2) - 1));

		if ((c[0] & 0xff) == refuse_op) {
			reg32_set(R_CMDQ_CONS, cons | 1u << 24); /* CERROR_ILL */
			reg32_set(R_GERROR, reg32(R_GERROR) ^ 1);
			refuse_op = 0;
			return;
		}
		fake_run(c[0], c[1]);
		cons = (cons + 1) & mask;
	}
	reg32_set(R_CMDQ_CONS, cons);
}

u64 arch_time_ns(void)
{
	fake_step();
	now_ns += 1000;
	return now_ns;
}

static struct iommu_unit unit;

static void fake_reset(u32 idr0, u32 idr1, u32 idr5)
{
	fake_pmm_free_all();
	if (!regs)
		regs = aligned_alloc(4096, REGS_SIZE);
	memset(regs, 0, REGS_SIZE);
	reg32_set(R_IDR0, idr0);
	reg32_set(R_IDR1, idr1);
	reg32_set(R_IDR5, idr5);
	stall = no_ack = false;
	refuse_op = 0;
	cmd_n = report_n = 0;
	fake_pmm_fail_size = 0;
	irq_ok = true;
	irq_asked = 0;
	unit_log_len = 0;
	unit_log[0] = 0;
	/* QEMU virt's layout: every requester of segment 0, stream = requester ID. */
	unit = (struct iommu_unit){ .kind = IOMMU_SMMUV3,
				    .ops = &smmuv3_ops,
				    .base = 0x9050000,
				    .size = REGS_SIZE,
				    .irq = 106,
				    .scope_count = 1,
				    .regs = regs };
	unit.scopes[0] =
		(struct iommu_scope){ .kind = IOMMU_SCOPE_RANGE, .first = 0, .last = 0xffff };
}

static bool logged(const char *s)
{
	return strstr(unit_log, s) != NULL;
}

static u32 count_op(u32 op)
{
	u32 n = 0;

	for (u32 i = 0; i < cmd_n && i < CMD_LOG; i++)
		n += cmds[i].op == op;
	return n;
}

/* The context descriptor a stage-1 entry points at. */
static const u64 *cd_of(const u64 *e)
{
	return hpa_to_hva(e[0] & CTXPTR);
}

static bool table_empty(hpa_t t)
{
	const u64 *p = hpa_to_hva(t);

	for (u32 i = 0; i < 512; i++)
		if (p[i])
			return false;
	return true;
}

/* Blocked at stage 1: translated through an empty table, faults recorded, ASID 0. */
static bool ste_blocked_s1(u32 sid)
{
	const u64 *e = ste(sid), *cd;

	if (e[0] != (0xbull | (e[0] & CTXPTR)) || e[2] || e[3])
		return false;
	cd = cd_of(e);
	return (cd[0] >> 31 & 1) && (cd[0] >> 45 & 3) == 3 && cd[0] >> 48 == 0 &&
	       table_empty(cd[1] & TTB);
}

/* ---- page tables for the tests -------------------------------------------- */

static struct pt new_pt(void)
{
	struct pt pt = { .fmt = smmuv3_ops.format(&unit),
			 .alloc_table = fake_table_alloc,
			 .free_table = fake_table_free };

	CHECK_EQ(pt_init(&pt), 0);
	return pt;
}

/* The entry for @va at @level, walking the tables from @root. */
static u64 walk(hpa_t root, u64 va, u32 level)
{
	const u64 *t = hpa_to_hva(root);
	u64 e = 0;

	for (u32 l = 0; l <= level; l++) {
		e = t[(va >> (39 - 9 * l)) & 511];
		t = hpa_to_hva(e & 0x0000fffffffff000ull);
	}
	return e;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_enable(void)
{
	const u64 *cd;

	fake_reset(IDR0_S1, IDR1_QEMU, IDR5_QEMU);
	CHECK_EQ(smmuv3_ops.enable(&unit), 0);
	CHECK_EQ(reg32(R_CR0), BIT(0) | BIT(2) | BIT(3));
	CHECK(reg32(R_GBPA) & BIT(20)); /* off: everything aborted */
	CHECK_EQ(reg32(R_CR1), 0xd75);
	CHECK_EQ(reg32(R_CR2), BIT(1) | BIT(2));
	CHECK_EQ(reg32(R_STRTAB_CFG), 16); /* linear, 2^16 streams */
	CHECK_EQ(reg64(R_CMDQ) & 0x1f, 8);
	CHECK_EQ(reg64(R_EVTQ) & 0x1f, 9);
	CHECK(reg64(R_STRTAB) & BIT(62));
	CHECK(ste_blocked_s1(0) && ste_blocked_s1(EDU_RID) && ste_blocked_s1(0xffff));
	cd = cd_of(ste(0));
	CHECK_EQ(cd[0] & 0x3f, 16); /* T0SZ: 48-bit input */
	CHECK(cd[0] & BIT(30)); /* TTB1 walks off */
	CHECK(cd[0] & BIT(41)); /* AArch64 tables */
	CHECK_EQ((cd[0] >> 32) & 7, 4); /* IPS = OAS */
	CHECK_EQ(cd[3], 0x4ff); /* MAIR: 0 normal write-back, 1 Device-nGnRE */
	/* Everything cached before dropped, and waited for. */
	CHECK_EQ(cmd_n, 3);
	CHECK_EQ(cmds[0].op, OP_CFGI_ALL);
	CHECK_EQ(cmds[0].d1, 31);
	CHECK_EQ(cmds[1].op, OP_TLBI_NSNH_ALL);
	CHECK_EQ(cmds[2].op, OP_SYNC);
	CHECK_EQ(reg32(R_IRQ_CTRL), BIT(0) | BIT(2));
	CHECK_EQ(irq_asked, 106);
	CHECK(logged("iommu 0 (SMMUv3): stage 1, 16-bit stream table (linear), 256 commands, "
		     "512 events, coherent, event interrupt on"));

	/* No wire the arch can route: the interrupt stays off. */
	fake_reset(IDR0_S1, IDR1_QEMU, IDR5_QEMU);
	irq_ok = false;
	CHECK_EQ(smmuv3_ops.enable(&unit), 0);
	CHECK_EQ(reg32(R_IRQ_CTRL), 0);
	CHECK(logged("event interrupt off"));

	/* A table as large as the streams the scopes name, no larger. */
	fake_reset(IDR0_S1, IDR1_QEMU, IDR5_QEMU);
	unit.scopes[0] = (struct iommu_scope){
		.kind = IOMMU_SCOPE_RANGE, .first = 0x100, .last = 0x1ff, .stream = 0x40
	};
	CHECK_EQ(smmuv3_ops.enable(&unit), 0);
	CHECK_EQ(reg32(R_STRTAB_CFG), 9); /* streams 0x40..0x13f */

	/* More streams than the unit's SIDSIZE: capped, and said. */
	fake_reset(IDR0_S1, (IDR1_QEMU & ~0x3fu) | 8, IDR5_QEMU);
	CHECK_EQ(smmuv3_ops.enable(&unit), 0);
	CHECK_EQ(reg32(R_STRTAB_CFG), 8);
	CHECK(logged("iommu 0 (SMMUv3): streams above 0xff are outside its stream table"));
	fake_pmm_free_all();
}

static void test_unsuitable(void)
{
	static const struct {
		u32 idr0, idr5;
		u64 size;
		const char *why;
	} bad[] = {
		{ IDR0_S1 & ~BIT(1), IDR5_QEMU, REGS_SIZE, "it translates at neither stage" },
		{ IDR0_S1 & ~(3u << 2), IDR5_QEMU, REGS_SIZE, "it has no AArch64 table format" },
		{ IDR0_S1 | 3u << 21, IDR5_QEMU, REGS_SIZE, "its tables are big-endian only" },
		{ IDR0_S1, 4, REGS_SIZE, "it has no 4 KiB granule" },
		{ IDR0_S1, IDR5_QEMU, 0x10000, "smaller than its two 64 KiB pages" },
	};

	for (u32 i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fake_reset(bad[i].idr0, IDR1_QEMU, bad[i].idr5);
		unit.size = bad[i].size;
		CHECK_EQ(smmuv3_ops.enable(&unit), -KEEL_ENOTSUP);
		CHECK(logged(bad[i].why));
		CHECK_EQ(reg32(R_CR0), 0);
		CHECK_EQ(fake_pmm_count(), 0);
	}

	/* No memory: refused, nothing kept. */
	fake_reset(IDR0_S1, IDR1_QEMU, IDR5_QEMU);
	fake_pmm_fail_size = 64ull << 16;
	CHECK_EQ(smmuv3_ops.enable(&unit), -KEEL_ENOMEM);
	CHECK_EQ(fake_pmm_count(), 0);
	CHECK(logged("iommu 0 (SMMUv3): no memory for its stream table and queues"));
	CHECK_EQ(reg32(R_CR0), 0);
}

static void test_timeouts(void)
{
	fake_reset(IDR0_S1, IDR1_QEMU, IDR5_QEMU);
	no_ack = true;
	reg32_set(R_CR0ACK, BIT(0)); /* left on by the firmware, and it never says off */
	CHECK_EQ(smmuv3_ops.enable(&unit), -KEEL_ETIMEDOUT);
	CHECK(logged("iommu 0 (SMMUv3): did not turn off within 1000 ms"));

	fake_reset(IDR0_S1, IDR1_QEMU, IDR5_QEMU);
	stall = true;
	CHECK_EQ(smmuv3_ops.enable(&unit), -KEEL_ETIMEDOUT);
	CHECK(logged("did not complete its commands (CMD_SYNC) within 1000 ms"));
	CHECK_EQ(reg32(R_CR0) & BIT(0), 0); /* never turned on half-ready */
	fake_pmm_free_all();
}

static void test_format(void)
{
	struct pt pt;
	u64 pa, size, e;
	u32 attrs;

	fake_reset(IDR0_S1, IDR1_QEMU, IDR5_QEMU);
	CHECK_EQ(smmuv3_ops.enable(&unit), 0);
	pt = new_pt();
	CHECK_EQ(pt_map(&pt, 0x40000000, 0x80000000, 0x200000, PT_READ | PT_WRITE), 0);
	CHECK_EQ(pt_map(&pt, 0x40200000, 0x90000000, 0x1000, PT_READ), 0);
	CHECK(pt_lookup(&pt, 0x40001234, &pa, &attrs, &size));
	CHECK_EQ(pa, 0x80001234);
	CHECK_EQ(size, 0x200000);
	CHECK_EQ(attrs, PT_READ | PT_WRITE);
	CHECK(pt_lookup(&pt, 0x40200000, &pa, &attrs, &size));
	CHECK_EQ(attrs, PT_READ);
	CHECK_EQ(size, 0x1000);
	/* A 2 MiB block: descriptor 01; AP 01 (read/write), inner shareable, AF, nG, PXN, UXN. */
	e = walk(pt.root, 0x40000000, 2);
	CHECK_EQ(e, 0x80000000ull | 1 | 1 << 6 | 3 << 8 | 1 << 10 | 1 << 11 | 3ull << 53);
	/* A 4 KiB page: descriptor 11, AP 11 (read-only). */
	e = walk(pt.root, 0x40200000, 3);
	CHECK_EQ(e, 0x90000000ull | 3 | 3 << 6 | 3 << 8 | 1 << 10 | 1 << 11 | 3ull << 53);
	CHECK_EQ(walk(pt.root, 0x40000000, 1) & 3, 3); /* a table */
	pt_destroy(&pt);

	/* Stage 2: S2AP read/write bits, MemAttr write-back. */
	fake_reset(IDR0_S2, IDR1_QEMU, IDR5_QEMU);
	CHECK_EQ(smmuv3_ops.enable(&unit), 0);
	pt = new_pt();
	CHECK_EQ(pt_map(&pt, 0x40000000, 0x80000000, 0x1000, PT_READ | PT_WRITE), 0);
	CHECK_EQ(pt_map(&pt, 0x40001000, 0x80001000, 0x1000, PT_READ), 0);
	CHECK_EQ(walk(pt.root, 0x40000000, 3),
		 0x80000000ull | 3 | 0xf << 2 | 3 << 6 | 3 << 8 | 1 << 10 | 3ull << 53);
	CHECK(pt_lookup(&pt, 0x40001000, NULL, &attrs, NULL));
	CHECK_EQ(attrs, PT_READ);
	/* A doorbell page: MemAttr Device-nGnRE, no shareability (device memory is). */
	CHECK_EQ(pt_map(&pt, 0x08090000, 0x08090000, 0x1000, PT_READ | PT_WRITE | PT_DEVICE), 0);
	CHECK_EQ(walk(pt.root, 0x08090000, 3),
		 0x08090000ull | 3 | 1 << 2 | 3 << 6 | 1 << 10 | 3ull << 53);
	CHECK(pt_lookup(&pt, 0x08090040, NULL, &attrs, NULL));
	CHECK_EQ(attrs, PT_READ | PT_WRITE | PT_DEVICE);
	pt_destroy(&pt);

	/* Stage 1's doorbell: AttrIndx 1, read/write. */
	fake_reset(IDR0_S1, IDR1_QEMU, IDR5_QEMU);
	CHECK_EQ(smmuv3_ops.enable(&unit), 0);
	pt = new_pt();
	CHECK_EQ(pt_map(&pt, 0x08090000, 0x08090000, 0x1000, PT_READ | PT_WRITE | PT_DEVICE), 0);
	CHECK_EQ(walk(pt.root, 0x08090000, 3),
		 0x08090000ull | 3 | 1 << 2 | 1 << 6 | 1 << 10 | 1 << 11 | 3ull << 53);
	CHECK(pt_lookup(&pt, 0x08090000, NULL, &attrs, NULL));
	CHECK_EQ(attrs, PT_READ | PT_WRITE | PT_DEVICE);
	pt_destroy(&pt);
	fake_pmm_free_all();
}

/* ---- interrupt remapping: the ITS's, through arch_msi_remap ---------------- */

static int remap_ret;
static u32 remap_n, unmap_n;
static u16 remap_rid;
static u32 remap_event;
static struct arch_msi_target remap_t;

int arch_msi_remap(u16 rid, u32 event, const struct arch_msi_target *t, struct iommu_msi *msi)
{
	remap_n++;
	remap_rid = rid;
	remap_event = event;
	remap_t = *t;
	if (remap_ret)
		return remap_ret;
	msi->addr = 0x08090040;
	msi->data = event;
	return 0;
}

void arch_msi_unmap(u16 rid, u32 event)
{
	unmap_n++;
	remap_rid = rid;
	remap_event = event;
}

/*
 * The SMMUv3 has no interrupt table of its own: each entry is handed, with
 * its requester, to the interrupt controller's remapping, and its answer
 * is what the device writes. Entries beyond the table never get there.
 */
static void test_irte(void)
{
	struct iommu_msi m = { 0 };

	fake_reset(IDR0_S1, IDR1_QEMU, IDR5_QEMU);
	CHECK_EQ(smmuv3_ops.enable(&unit), 0);
	CHECK_EQ(smmuv3_ops.irte_set(&unit, EDU_RID, 7, 2, 8192 + 2 * 64 + 5, &m), 0);
	CHECK_EQ(remap_n, 1);
	CHECK_EQ(remap_rid, EDU_RID);
	CHECK_EQ(remap_event, 7);
	CHECK_EQ(remap_t.cpu, 2);
	CHECK_EQ(remap_t.apic_id, 2);
	CHECK_EQ(remap_t.vector, 8192 + 2 * 64 + 5);
	CHECK_EQ(m.addr, 0x08090040);
	CHECK_EQ(m.data, 7);
	remap_ret = -KEEL_ENOSPC;
	CHECK_EQ(smmuv3_ops.irte_set(&unit, EDU_RID, 8, 2, 8193, &m), -KEEL_ENOSPC);
	remap_ret = 0;
	CHECK_EQ(smmuv3_ops.irte_set(&unit, EDU_RID, IOMMU_IRTES, 2, 8193, &m), -KEEL_EINVAL);
	CHECK_EQ(remap_n, 2);
	smmuv3_ops.irte_clear(&unit, EDU_RID, 7);
	CHECK_EQ(unmap_n, 1);
	CHECK_EQ(remap_event, 7);
	smmuv3_ops.irte_clear(&unit, EDU_RID, IOMMU_IRTES);
	CHECK_EQ(unmap_n, 1);
	fake_pmm_free_all();
}

static void test_attach_stage1(void)
{
	static struct iommu_domain d = { .id = 7 };
	const u64 *e, *cd;

	fake_reset(IDR0_S1, IDR1_QEMU, IDR5_QEMU);
	CHECK_EQ(smmuv3_ops.enable(&unit), 0);
	d.pt[0] = new_pt();

	cmd_n = 0;
	CHECK_EQ(smmuv3_ops.attach(&unit, &d, EDU_RID), 0);
	e = ste(EDU_RID);
	CHECK_EQ(e[0] & 0xf, 0xb); /* V, stage 1 translate */
	CHECK_EQ(e[1], 1ull << 44); /* SHCFG: incoming */
	cd = cd_of(e);
	CHECK(cd != cd_of(ste(0)));
	CHECK_EQ(cd[1] & TTB, d.pt[0].root);
	CHECK_EQ(cd[0] >> 48, 7); /* ASID = domain ID */
	CHECK(cd[0] & BIT(31));
	CHECK(ste_blocked_s1(EDU_RID - 1) && ste_blocked_s1(EDU_RID + 1));
	/* The domain's ASID dropped, then the entry through abort: the unit told each time. */
	CHECK_EQ(cmds[0].op, OP_TLBI_NH_ASID);
	CHECK_EQ(cmds[0].d0 >> 48, 7);
	CHECK_EQ(cmds[1].op, OP_CFGI_STE);
	CHECK_EQ(cmds[1].d0 >> 32, EDU_RID);
	CHECK_EQ(cmds[1].ste0, STE_ABORT);
	CHECK_EQ(cmds[2].op, OP_CFGI_CD_ALL);
	CHECK_EQ(cmds[3].op, OP_SYNC);
	CHECK_EQ(cmds[4].op, OP_CFGI_STE);
	CHECK_EQ(cmds[4].ste0, e[0]);
	CHECK_EQ(cmds[cmd_n - 1].op, OP_SYNC);

	/* Flush: the whole ASID, waited for. */
	cmd_n = 0;
	smmuv3_ops.flush(&unit, &d, 0x40000000, 0x1000);
	CHECK_EQ(cmd_n, 2);
	CHECK_EQ(cmds[0].op, OP_TLBI_NH_ASID);
	CHECK_EQ(cmds[1].op, OP_SYNC);

	/* Detach: blocked again, the ASID dropped after. */
	cmd_n = 0;
	CHECK_EQ(smmuv3_ops.detach(&unit, &d, EDU_RID), 0);
	CHECK(ste_blocked_s1(EDU_RID));
	CHECK_EQ(count_op(OP_TLBI_NH_ASID), 1);
	CHECK_EQ(cmds[cmd_n - 1].op, OP_SYNC);

	/* Refused: a requester no scope names, a stream past the table, a bad domain. */
	unit.scopes[0].last = 0xff;
	CHECK_EQ(smmuv3_ops.attach(&unit, &d, 0x100), -KEEL_ENODEV);
	unit.scopes[0] = (struct iommu_scope){
		.kind = IOMMU_SCOPE_RANGE, .first = 0, .last = 0xffff, .stream = 0x10000
	};
	CHECK_EQ(smmuv3_ops.attach(&unit, &d, 0), -KEEL_ENODEV);
	unit.scopes[0].stream = 0;
	d.id = 0;
	CHECK_EQ(smmuv3_ops.attach(&unit, &d, EDU_RID), -KEEL_EINVAL);
	d.id = 7;
	CHECK(ste_blocked_s1(EDU_RID) && ste_blocked_s1(0) && ste_blocked_s1(0x100));

	/* A command the unit refuses: named, skipped, the caller told; the queue moves on. */
	refuse_op = OP_CFGI_CD_ALL;
	unit_log_len = 0;
	unit_log[0] = 0;
	CHECK_EQ(smmuv3_ops.attach(&unit, &d, EDU_RID), -KEEL_EIO);
	CHECK(logged("iommu 0 (SMMUv3): command 0x06 refused (error 1)"));
	CHECK_EQ(reg32(R_GERROR), reg32(R_GERRORN));
	CHECK_EQ(smmuv3_ops.attach(&unit, &d, EDU_RID), 0);
	CHECK_EQ(ste(EDU_RID)[0] & 0xf, 0xb);
	pt_destroy(&d.pt[0]);
	fake_pmm_free_all();
}

static void test_attach_stage2(void)
{
	static struct iommu_domain d = { .id = 9 };
	const u64 *e;
	u64 vtcr;

	fake_reset(IDR0_S2, IDR1_QEMU, IDR5_QEMU);
	CHECK_EQ(smmuv3_ops.enable(&unit), 0);
	CHECK(logged("iommu 0 (SMMUv3): stage 2,"));
	e = ste(EDU_RID);
	CHECK_EQ(e[0], 0xdull); /* V, stage 2 translate */
	CHECK_EQ(e[2] & 0xffff, 0); /* VMID 0: blocked */
	CHECK(table_empty(e[3] & TTB));
	CHECK(e[2] & BIT(58)); /* faults recorded */

	d.pt[0] = new_pt();
	cmd_n = 0;
	CHECK_EQ(smmuv3_ops.attach(&unit, &d, EDU_RID), 0);
	CHECK_EQ(e[0], 0xdull);
	CHECK_EQ(e[2] & 0xffff, 9);
	CHECK_EQ(e[3] & TTB, d.pt[0].root);
	vtcr = e[2] >> 32 & 0x7ffff;
	CHECK_EQ(vtcr & 0x3f, 16); /* T0SZ */
	CHECK_EQ(vtcr >> 6 & 3, 2); /* SL0: start at level 0 */
	CHECK_EQ(vtcr >> 14 & 3, 0); /* 4 KiB */
	CHECK_EQ(vtcr >> 16 & 7, 4); /* PS = OAS */
	CHECK(e[2] & BIT(51)); /* AArch64 tables */
	CHECK_EQ(cmds[0].op, OP_TLBI_S12_VMALL);
	CHECK_EQ(cmds[0].d0 >> 32 & 0xffff, 9);
	CHECK_EQ(cmds[1].ste0, STE_ABORT);

	CHECK_EQ(smmuv3_ops.detach(&unit, &d, EDU_RID), 0);
	CHECK_EQ(e[2] & 0xffff, 0);
	CHECK(table_empty(e[3] & TTB));
	pt_destroy(&d.pt[0]);
	fake_pmm_free_all();
}

/* Put @n events in the queue at its consumer index. */
static void evt_put(const u64 (*ev)[4], u32 n)
{
	u64 *q = hpa_to_hva(reg64(R_EVTQ) & QADDR);
	u32 log2 = (u32)(reg64(R_EVTQ) & 0x1f);
	u32 prod = reg32(R_EVTQ_PROD);

	for (u32 i = 0; i < n; i++) {
		memcpy(q + 4 * (prod & ((1u << log2) - 1)), ev[i], 32);
		prod = (prod & BIT(31)) | ((prod + 1) & ((2u << log2) - 1));
	}
	reg32_set(R_EVTQ_PROD, prod);
}

static void test_faults(void)
{
	const u64 ev[][4] = {
		/* F_TRANSLATION, stream 0x28, a write (RnW 0) at 0x4000_0000 */
		{ 0x10 | (u64)EDU_RID << 32, 0, 0x40000000, 0 },
		/* F_PERMISSION, a read (RnW 1) */
		{ 0x13 | (u64)EDU_RID << 32, BIT(35), 0x41000000, 0 },
		/* C_BAD_STREAMID for a stream no scope maps */
		{ 0x02 | 0x12345ull << 32, 0, 0, 0 },
		/* an event Keel does not know */
		{ 0x7f | 1ull << 32, 0xdead, 0xbeef, 0 },
	};

	fake_reset(IDR0_S1, IDR1_QEMU, IDR5_QEMU);
	unit.scopes[0].last = 0xff;
	CHECK_EQ(smmuv3_ops.enable(&unit), 0);
	evt_put(ev, 4);
	unit_log_len = 0;
	unit_log[0] = 0;
	CHECK_EQ(smmuv3_ops.faults(&unit), 4);
	CHECK_EQ(report_n, 2);
	CHECK_EQ(reports[0].rid, EDU_RID);
	CHECK_EQ(reports[0].addr, 0x40000000);
	CHECK(reports[0].write);
	CHECK(!strcmp(reports[0].why, "address not mapped"));
	CHECK(!reports[1].write);
	CHECK(!strcmp(reports[1].why, "access not permitted"));
	CHECK(logged("iommu 0 (SMMUv3): DMA write at 0x0 by stream 0x12345 (no PCI function Keel "
		     "knows) blocked: stream outside the stream table"));
	CHECK(logged("iommu 0 (SMMUv3): event 0x7f for stream 0x1: "));
	CHECK_EQ(reg32(R_EVTQ_CONS), reg32(R_EVTQ_PROD));
	CHECK_EQ(smmuv3_ops.faults(&unit), 0); /* consumed */

	/*
	 * A 64-byte DMA recorded beat by beat (4 bytes each, as QEMU does): one
	 * report. The same DMA again (from the start) is a second one; so is one
	 * by another stream, or to the next page.
	 */
	{
		u64 beats[20][4];

		for (u32 i = 0; i < 16; i++) {
			beats[i][0] = 0x10 | (u64)EDU_RID << 32;
			beats[i][1] = 0;
			beats[i][2] = 0x40900000 + 4 * i;
			beats[i][3] = 0;
		}
		memcpy(beats[16], beats[0], 32);
		memcpy(beats[17], beats[1], 32);
		beats[17][0] = 0x10 | (u64)(EDU_RID + 8) << 32;
		memcpy(beats[18], beats[0], 32);
		beats[18][2] = 0x40901000;
		memcpy(beats[19], beats[18], 32);
		beats[19][1] = BIT(35); /* a read now */
		report_n = 0;
		evt_put((const u64(*)[4])beats, 20);
		CHECK_EQ(smmuv3_ops.faults(&unit), 20);
		CHECK_EQ(report_n, 5);
		CHECK_EQ(reports[0].addr, 0x40900000);
		CHECK_EQ(reports[1].addr, 0x40900000);
		CHECK_EQ(reports[2].rid, EDU_RID + 8);
		CHECK_EQ(reports[3].addr, 0x40901000);
		CHECK(!reports[4].write);
	}

	/* A full queue (producer one lap ahead): every entry read once, no more. */
	report_n = 0;
	reg32_set(R_EVTQ_PROD, reg32(R_EVTQ_CONS) ^ 512);
	CHECK_EQ(smmuv3_ops.faults(&unit), 512);
	CHECK_EQ(reg32(R_EVTQ_CONS), reg32(R_EVTQ_PROD));

	/* An overflow: said, acknowledged. */
	reg32_set(R_EVTQ_PROD, reg32(R_EVTQ_PROD) ^ BIT(31));
	unit_log_len = 0;
	unit_log[0] = 0;
	CHECK_EQ(smmuv3_ops.faults(&unit), 0);
	CHECK(logged("iommu 0 (SMMUv3): event queue overflowed, events were lost"));
	CHECK_EQ(reg32(R_EVTQ_CONS) & BIT(31), reg32(R_EVTQ_PROD) & BIT(31));

	/* Garbage in the producer's upper bits: only its index and wrap count. */
	reg32_set(R_EVTQ_PROD,
		  (reg32(R_EVTQ_PROD) & BIT(31)) | 0x7ffffc00 | (reg32(R_EVTQ_CONS) & 0x3ff));
	CHECK_EQ(smmuv3_ops.faults(&unit), 0);

	/* A global error: named and acknowledged. */
	reg32_set(R_GERROR, BIT(2));
	unit_log_len = 0;
	unit_log[0] = 0;
	smmuv3_ops.faults(&unit);
	CHECK(logged("iommu 0 (SMMUv3): global error 0x4 (its event queue could not be written)"));
	CHECK_EQ(reg32(R_GERRORN), BIT(2));

	/* A random queue: whatever it holds, the decoder reads each entry once. */
	{
		unsigned long long seed = 0x5eed;
		u64(*rnd)[4] = malloc(512 * sizeof(*rnd));

		for (u32 i = 0; i < 512; i++)
			for (u32 w = 0; w < 4; w++)
				rnd[i][w] = unit_rand(&seed);
		for (u32 i = 0; i < 512; i += 2)
			rnd[i][0] = (rnd[i][0] & ~0xffull) | 0x10; /* half of them faults */
		evt_put((const u64(*)[4])rnd, 100);
		CHECK_EQ(smmuv3_ops.faults(&unit), 100);
		free(rnd);
	}
	fake_pmm_free_all();
}

int main(void)
{
	test_enable();
	test_unsuitable();
	test_timeouts();
	test_format();
	test_irte();
	test_attach_stage1();
	test_attach_stage2();
	test_faults();
	fake_pmm_free_all();
	free(regs);
	return unit_done("test_smmuv3");
}
