/* SPDX-License-Identifier: MIT */
/*
 * The AMD-Vi driver (vfio/amdvi.c): its page-table format through the one
 * walker (core/pt.c), and the driver against a fake unit that runs its
 * commands: the blocked and attached device table entries, invalidations,
 * completion waits, timeouts, the MSI set-up and the event log.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/abi.h>
#include <keel/iommu.h>
#include <keel/pci.h>
#include <keel/pmm.h>
#include <keel/pt.h>

#include "iommu_env.h"
#include "unit.h"

extern char unit_log[];
extern size_t unit_log_len;

/* The spec's values, written out here independently of the driver. */
#define R_DEVTAB 0x0000
#define R_CMDBUF 0x0008
#define R_EVTLOG 0x0010
#define R_CONTROL 0x0018
#define R_EFR 0x0030
#define R_CMD_HEAD 0x2000
#define R_CMD_TAIL 0x2008
#define R_EVT_HEAD 0x2010
#define R_EVT_TAIL 0x2018
#define R_STATUS 0x2020
#define ADDR_MASK 0x000ffffffffff000ull
#define C_IOMMU_EN BIT(0)
#define C_HT_TUN_EN BIT(1)
#define C_EVTLOG_EN BIT(2)
#define C_EVT_INT_EN BIT(3)
#define C_COHERENT BIT(10)
#define C_CMDBUF_EN BIT(12)
#define S_OVERFLOW BIT(0)
#define S_EVT_INT BIT(1)
#define S_EVT_RUN BIT(3)
#define OP_CW 1u
#define OP_INV_DEVTAB 2u
#define OP_INV_PAGES 3u
#define OP_INV_ALL 8u
#define OP_INV_INT 5u
#define PTE_PR BIT(0)
#define PTE_IR BIT(61)
#define PTE_IW BIT(62)
#define PTE_NL(e) (((e) >> 9) & 7)
#define IOMMU_RID 0x10
#define MSI_CAP 0x54

/* ---- the environment the driver links against ---------------------------- */

/* The IOMMU's own PCI function (00:02.0): its capability, then MSI. */
static u8 cfg[256];

u32 pci_cfg_read(u16 seg, u16 bdf, u16 off, u32 size)
{
	u32 v = 0;

	CHECK(off + size <= sizeof(cfg));
	if (seg != 0 || bdf != IOMMU_RID)
		return size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
	memcpy(&v, cfg + off, size);
	return v;
}

void pci_cfg_write(u16 seg, u16 bdf, u16 off, u32 size, u32 val)
{
	CHECK(seg == 0 && bdf == IOMMU_RID);
	CHECK(off + size <= sizeof(cfg));
	memcpy(cfg + off, &val, size);
}

int pci_cap_find(const struct pci_cfg_ops *ops, void *ctx, u16 seg, u16 bdf, u8 id)
{
	u32 p = ops->read(ctx, bdf, PCI_CAP_PTR, 1);

	for (u32 hops = 0; p && p < 0xff && hops < 48; hops++) {
		if (ops->read(ctx, bdf, (u16)p, 1) == id)
			return (int)p;
		p = ops->read(ctx, bdf, (u16)(p + 1), 1);
	}
	return 0;
}

static void cfg_reset(bool efr_sup, bool msi)
{
	u32 hdr = 0x0f | 0x54 << 8 | 3u << 16 | (efr_sup ? 1u << 27 : 0);

	memset(cfg, 0, sizeof(cfg));
	cfg[PCI_STATUS] = PCI_STATUS_CAP_LIST;
	cfg[PCI_CAP_PTR] = 0x40;
	memcpy(cfg + 0x40, &hdr, 4);
	if (!msi)
		cfg[0x41] = 0;
	cfg[MSI_CAP] = 0x05;
	cfg[MSI_CAP + 2] = 0x80; /* 64-bit addresses */
}

static bool msi_ok = true;

bool arch_iommu_fault_msi(struct iommu_msi *msi)
{
	msi->addr = 0xfee00000ull;
	msi->data = 0x41;
	return msi_ok;
}

/* ---- a fake unit: registers in memory, commands run when time is read ---- */

static u8 *regs;
static bool stall; /* the fake runs no command */
static u64 now_ns, tick_ns = 1000;

struct cmd {
	u32 op;
	u64 lo, hi;
};
#define CMD_LOG 64
static struct cmd cmds[CMD_LOG];
static u32 cmd_n;
static u32 devtab_in_order; /* INVALIDATE_DEVTAB_ENTRY commands seen for 0, 1, 2, ... */

static u64 reg(u32 off)
{
	u64 v;

	memcpy(&v, regs + off, 8);
	return v;
}

static void reg_set(u32 off, u64 v)
{
	memcpy(regs + off, &v, 8);
}

static void fake_run(u64 lo, u64 hi)
{
	u32 op = (u32)(lo >> 60);

	if (cmd_n < CMD_LOG)
		cmds[cmd_n] = (struct cmd){ op, lo, hi };
	cmd_n++;
	if (op == OP_INV_DEVTAB && (lo & 0xffff) == devtab_in_order)
		devtab_in_order++;
	if (op == OP_CW && (lo & 1)) {
		u64 *p = hpa_to_hva(lo & 0x000ffffffffffff8ull);

		*p = hi;
	}
}

static void fake_step(void)
{
	u64 base = reg(R_CMDBUF);
	u32 bytes = 16u << ((base >> 56) & 0xf);
	u32 head = (u32)reg(R_CMD_HEAD), tail = (u32)reg(R_CMD_TAIL);
	const u8 *buf = hpa_to_hva(base & ADDR_MASK);

	reg_set(R_STATUS,
		(reg(R_STATUS) & ~S_EVT_RUN) | (reg(R_CONTROL) & C_EVTLOG_EN ? S_EVT_RUN : 0));
	if (stall || !(reg(R_CONTROL) & C_CMDBUF_EN))
		return;
	CHECK(tail % 16 == 0 && tail < bytes);
	while (head != tail) {
		u64 c[2];

		memcpy(c, buf + head, 16);
		fake_run(c[0], c[1]);
		head = (head + 16) % bytes;
	}
	reg_set(R_CMD_HEAD, head);
}

u64 arch_time_ns(void)
{
	fake_step();
	now_ns += tick_ns;
	return now_ns;
}

static struct iommu_unit unit;

static void fake_reset(u16 flags, u64 efr, bool efr_sup, bool msi)
{
	fake_pmm_free_all();
	if (!regs)
		regs = aligned_alloc(4096, 0x4000);
	memset(regs, 0, 0x4000);
	reg_set(R_EFR, efr);
	cfg_reset(efr_sup, msi);
	stall = false;
	tick_ns = 1000;
	cmd_n = devtab_in_order = 0;
	report_n = 0;
	fake_pmm_fail_size = 0;
	msi_ok = true;
	unit_log_len = 0;
	unit_log[0] = 0;
	unit = (struct iommu_unit){ .kind = IOMMU_AMDVI,
				    .ops = &amdvi_ops,
				    .rid = IOMMU_RID,
				    .flags = flags,
				    .base = 0xfed80000,
				    .size = 0x4000,
				    .regs = regs };
}

static bool logged(const char *s)
{
	return strstr(unit_log, s) != NULL;
}

static const u64 *dte(u16 rid)
{
	const u64 *t = hpa_to_hva(reg(R_DEVTAB) & ADDR_MASK);

	return t + 4 * (u32)rid;
}

static bool dte_is_blocked(u16 rid)
{
	const u64 *e = dte(rid);

	/* V, TV, mode 0, IR = IW = 0; IV with IntCtl = 00b (abort), no pass-through. */
	return e[0] == 0x3 && e[1] == 0 && e[2] == 0x1 && e[3] == 0;
}

/* ---- page tables for the tests -------------------------------------------- */

static u64 *tbl(u64 e)
{
	return hpa_to_hva(e & ADDR_MASK);
}

static struct pt new_pt(void)
{
	struct pt pt = { .fmt = amdvi_ops.format(&unit),
			 .alloc_table = fake_table_alloc,
			 .free_table = fake_table_free };

	CHECK_EQ(pt_init(&pt), 0);
	return pt;
}

/* ---- the format ----------------------------------------------------------- */

static void test_format(void)
{
	struct pt pt;
	u64 *root, *l1, *l2, *l3, pa, size;
	u32 attrs;

	fake_reset(0, 0, false, false);
	pt = new_pt();
	CHECK_EQ(pt.fmt->levels, 4);

	/* 4 KiB: every directory names the level of the table below it. */
	CHECK_EQ(pt_map(&pt, 0x1000, 0x7000000, PAGE_SIZE, PT_READ | PT_WRITE), 0);
	root = hpa_to_hva(pt.root);
	CHECK(root[0] & PTE_PR);
	CHECK_EQ(PTE_NL(root[0]), 3);
	CHECK((root[0] & (PTE_IR | PTE_IW)) == (PTE_IR | PTE_IW));
	l1 = tbl(root[0]);
	CHECK_EQ(PTE_NL(l1[0]), 2);
	l2 = tbl(l1[0]);
	CHECK_EQ(PTE_NL(l2[0]), 1);
	l3 = tbl(l2[0]);
	CHECK_EQ(l3[1], 0x7000000ull | PTE_PR | PTE_IR | PTE_IW);
	CHECK_EQ(l3[0], 0);
	CHECK(pt_lookup(&pt, 0x1234, &pa, &attrs, &size));
	CHECK_EQ(pa, 0x7000234);
	CHECK_EQ(attrs, PT_READ | PT_WRITE);
	CHECK_EQ(size, PAGE_SIZE);

	/* 2 MiB, read only: a page at level 2 has Next Level 0. */
	CHECK_EQ(pt_map(&pt, 0x200000, 0x40200000, SZ_2M, PT_READ), 0);
	CHECK_EQ(l2[1], 0x40200000ull | PTE_PR | PTE_IR);
	CHECK(pt_lookup(&pt, 0x3fffff, &pa, &attrs, &size));
	CHECK_EQ(pa, 0x403fffff);
	CHECK_EQ(attrs, PT_READ);
	CHECK_EQ(size, SZ_2M);

	/* 1 GiB, write only, with attributes that mean nothing here. */
	CHECK_EQ(pt_map(&pt, 0x80000000, 0xc0000000, SZ_1G, PT_WRITE | PT_EXEC | PT_DEVICE), 0);
	CHECK_EQ(l1[2], 0xc0000000ull | PTE_PR | PTE_IW);
	CHECK(pt_lookup(&pt, 0x80000000 + 0x12345678, &pa, &attrs, &size));
	CHECK_EQ(pa, 0xc0000000ull + 0x12345678);
	CHECK_EQ(attrs, PT_WRITE);
	CHECK_EQ(size, SZ_1G);

	/* A mapping high in the 48-bit space, and none beyond it. */
	CHECK_EQ(pt_map(&pt, 0xffffffe00000ull, 0x200000, SZ_2M, PT_READ), 0);
	CHECK_EQ(PTE_NL(root[511]), 3);
	CHECK(pt_lookup(&pt, 0xffffffe00000ull, &pa, NULL, &size));
	CHECK_EQ(size, SZ_2M);
	CHECK_EQ(pt_map(&pt, 1ull << 48, 0, PAGE_SIZE, PT_READ), -KEEL_EINVAL);
	CHECK(!pt_lookup(&pt, 1ull << 48, NULL, NULL, NULL));

	/* Unmapping a page inside the 2 MiB page splits it: a table of pages. */
	CHECK_EQ(pt_unmap(&pt, 0x201000, PAGE_SIZE), 0);
	CHECK_EQ(PTE_NL(l2[1]), 1);
	CHECK((l2[1] & (PTE_IR | PTE_IW)) == (PTE_IR | PTE_IW));
	l3 = tbl(l2[1]);
	CHECK_EQ(l3[0], 0x40200000ull | PTE_PR | PTE_IR);
	CHECK_EQ(l3[1], 0);
	CHECK_EQ(l3[2], 0x40202000ull | PTE_PR | PTE_IR);
	CHECK(!pt_lookup(&pt, 0x201000, NULL, NULL, NULL));
	CHECK(pt_lookup(&pt, 0x202000, &pa, &attrs, &size));
	CHECK_EQ(pa, 0x40202000);
	CHECK_EQ(size, PAGE_SIZE);
	CHECK_EQ(pt_mapped_bytes(&pt, 0, 1ull << 32), PAGE_SIZE + SZ_2M - PAGE_SIZE + SZ_1G);
	pt_destroy(&pt);
}

/* ---- enable --------------------------------------------------------------- */

static bool all_blocked(void)
{
	for (u32 rid = 0; rid < 0x10000; rid++)
		if (!dte_is_blocked((u16)rid))
			return false;
	return true;
}

static void test_enable(void)
{
	u64 ctl;
	u32 v;

	/* QEMU's unit: IVHD flags 0xd1 (not coherent), EFR with IA and HATS 2, MSI. */
	fake_reset(0xd1, 0x2000 | BIT(6) | 0x20000, true, true);
	CHECK_EQ(amdvi_ops.enable(&unit), 0);
	CHECK(unit.priv != NULL);
	CHECK_EQ(reg(R_DEVTAB) & 0xfff, 0x1ff); /* 512 pages: 64K entries */
	CHECK(reg(R_DEVTAB) & ADDR_MASK);
	CHECK_EQ(reg(R_CMDBUF) >> 56, 8);
	CHECK_EQ(reg(R_EVTLOG) >> 56, 9);
	ctl = reg(R_CONTROL);
	CHECK(ctl & C_IOMMU_EN);
	CHECK(ctl & C_CMDBUF_EN);
	CHECK(ctl & C_EVTLOG_EN);
	CHECK(ctl & C_EVT_INT_EN);
	CHECK(ctl & C_HT_TUN_EN);
	CHECK(!(ctl & C_COHERENT));
	CHECK(all_blocked());
	/* INVALIDATE_IOMMU_ALL, then a completion wait that stored to memory. */
	CHECK_EQ(cmd_n, 2);
	CHECK_EQ(cmds[0].op, OP_INV_ALL);
	CHECK_EQ(cmds[0].lo, 8ull << 60);
	CHECK_EQ(cmds[0].hi, 0);
	CHECK_EQ(cmds[1].op, OP_CW);
	CHECK_EQ(cmds[1].lo & 0x0ff0000000000006ull, 0); /* no interrupt, no flush, no reserved */
	CHECK_EQ(*(u64 *)hpa_to_hva(cmds[1].lo & 0x000ffffffffffff8ull), cmds[1].hi);
	/* The MSI: 64-bit address, data, one vector, enabled; bus mastering on. */
	memcpy(&v, cfg + MSI_CAP + 4, 4);
	CHECK_EQ(v, 0xfee00000u);
	memcpy(&v, cfg + MSI_CAP + 8, 4);
	CHECK_EQ(v, 0);
	CHECK_EQ(cfg[MSI_CAP + 12], 0x41);
	CHECK_EQ(cfg[MSI_CAP + 2] & 0x71, 0x01);
	CHECK(cfg[PCI_COMMAND] & PCI_COMMAND_MASTER);
	CHECK(logged("iommu 0 (AMD-Vi): EFR 0x22040, 4-level tables, not coherent, event "
		     "interrupt on"));
	CHECK_EQ(fake_pmm_count(), 4);

	/* Coherent, no EFR capability bit: every entry invalidated one by one. */
	fake_reset(BIT(5), BIT(6), false, true);
	msi_ok = false;
	CHECK_EQ(amdvi_ops.enable(&unit), 0);
	ctl = reg(R_CONTROL);
	CHECK(ctl & C_COHERENT);
	CHECK(!(ctl & C_EVT_INT_EN));
	CHECK(!(ctl & C_HT_TUN_EN));
	CHECK_EQ(devtab_in_order, 0x10000);
	CHECK_EQ(cmd_n, 0x10000 + 2);
	CHECK(all_blocked());
	CHECK_EQ(cfg[MSI_CAP + 2] & 1, 0);
	CHECK(logged("EFR 0x0, 4-level tables, coherent, event interrupt off"));

	/* No MSI capability at all. */
	fake_reset(0, BIT(6), true, false);
	CHECK_EQ(amdvi_ops.enable(&unit), 0);
	CHECK(!(reg(R_CONTROL) & C_EVT_INT_EN));

	/* A unit that cannot translate. */
	fake_reset(0, 3ull << 10, true, true);
	CHECK_EQ(amdvi_ops.enable(&unit), -KEEL_EINVAL);
	CHECK(logged("iommu 0 (AMD-Vi): its EFR says it cannot translate"));
	CHECK_EQ(fake_pmm_count(), 0);

	/* No memory for the device table: nothing kept. */
	fake_reset(0, BIT(6), true, true);
	fake_pmm_fail_size = 2ull << 20;
	CHECK_EQ(amdvi_ops.enable(&unit), -KEEL_ENOMEM);
	CHECK(logged("iommu 0 (AMD-Vi): no memory"));
	CHECK_EQ(fake_pmm_count(), 0);
}

static void test_timeouts(void)
{
	/* The completion wait never completes. */
	fake_reset(0, BIT(6), true, true);
	stall = true;
	tick_ns = 10000000;
	CHECK_EQ(amdvi_ops.enable(&unit), -KEEL_ETIMEDOUT);
	CHECK(logged("iommu 0 (AMD-Vi): did not complete its commands (COMPLETION_WAIT) "
		     "within 1000 ms"));
	/* The unit may be walking them: the tables stay. */
	CHECK_EQ(fake_pmm_count(), 4);

	/* The command buffer never drains. */
	fake_reset(0, 0, false, true);
	stall = true;
	tick_ns = 10000000;
	CHECK_EQ(amdvi_ops.enable(&unit), -KEEL_ETIMEDOUT);
	CHECK(logged("iommu 0 (AMD-Vi): did not make room in its command buffer within 1000 ms"));
}

/* ---- attach, detach, flush ----------------------------------------------- */

struct sync_ctx {
	struct iommu_domain *d;
};

static void t_sync(void *ctx, u64 va, u64 size)
{
	struct sync_ctx *s = ctx;

	amdvi_ops.flush(&unit, s->d, va, size);
}

static u64 inv_addr_of(u32 i)
{
	return cmds[i].hi & ~3ull;
}

static void test_attach(void)
{
	static struct iommu_domain d = { .id = 5 };
	struct sync_ctx sc = { &d };
	const u64 *e;

	fake_reset(0xd1, BIT(6), true, true);
	CHECK_EQ(amdvi_ops.enable(&unit), 0);
	d.pt[0] = new_pt();
	d.pt[0].ctx = &sc;

	cmd_n = 0;
	CHECK_EQ(amdvi_ops.attach(&unit, &d, 0x18), 0);
	e = dte(0x18);
	CHECK_EQ(e[0], 0x3ull | 4ull << 9 | d.pt[0].root | PTE_IR | PTE_IW);
	CHECK_EQ(e[1], 5);
	CHECK_EQ(e[2], 0x1); /* interrupts still blocked */
	CHECK_EQ(e[3], 0);
	CHECK(dte_is_blocked(0x17) && dte_is_blocked(0x19));
	CHECK_EQ(cmd_n, 3);
	CHECK_EQ(cmds[0].op, OP_INV_DEVTAB);
	CHECK_EQ(cmds[0].lo, 2ull << 60 | 0x18);
	CHECK_EQ(cmds[1].op, OP_INV_PAGES);
	CHECK_EQ(cmds[1].lo, 3ull << 60 | 5ull << 32);
	CHECK_EQ(cmds[1].hi, 0x7ffffffffffff000ull | 3); /* all of it, directories too */
	CHECK_EQ(cmds[2].op, OP_CW);

	/* Straight to another domain: through blocked, and the old domain flushed. */
	d.id = 6;
	cmd_n = 0;
	CHECK_EQ(amdvi_ops.attach(&unit, &d, 0x18), 0);
	CHECK_EQ(cmd_n, 6);
	CHECK_EQ(cmds[1].lo, 3ull << 60 | 5ull << 32);
	CHECK_EQ(cmds[2].op, OP_CW);
	CHECK_EQ(cmds[4].lo, 3ull << 60 | 6ull << 32);
	CHECK_EQ(dte(0x18)[1], 6);

	/* Range flushes, through the walker's sync. */
	d.pt[0].sync = t_sync;
	CHECK_EQ(pt_map(&d.pt[0], 0x1000, 0x9000000, 0x4000, PT_READ | PT_WRITE), 0);
	CHECK_EQ(pt_map(&d.pt[0], 0x200000, 0x40200000, SZ_2M, PT_READ | PT_WRITE), 0);
	cmd_n = 0;
	CHECK_EQ(pt_unmap(&d.pt[0], 0x1000, PAGE_SIZE), 0); /* one page */
	CHECK_EQ(cmds[0].op, OP_INV_PAGES);
	CHECK_EQ(cmds[0].hi, 0x1000ull | 2);
	CHECK_EQ(cmds[1].op, OP_CW);
	cmd_n = 0;
	CHECK_EQ(pt_unmap(&d.pt[0], 0x2000, 0x2000), 0); /* an aligned 8 KiB block */
	CHECK_EQ(inv_addr_of(0), 0x2000);
	CHECK_EQ(cmds[0].hi & 1, 1);
	cmd_n = 0;
	CHECK_EQ(pt_unmap(&d.pt[0], 0x200000, SZ_2M), 0);
	CHECK_EQ(inv_addr_of(0), 0x2ff000);
	CHECK_EQ(cmds[0].hi & 1, 1);
	cmd_n = 0;
	amdvi_ops.flush(&unit, &d, 0x1000, 0x2000); /* [0x1000, 0x3000): the 16 KiB at 0 */
	CHECK_EQ(inv_addr_of(0), 0x1000);
	CHECK_EQ(cmds[0].hi & 1, 1);
	cmd_n = 0;
	amdvi_ops.flush(&unit, &d, 0xfffffffffffff000ull, 0x2000); /* wraps: all */
	CHECK_EQ(inv_addr_of(0), 0x7ffffffffffff000ull);
	CHECK_EQ(cmds[0].hi & 1, 1);
	cmd_n = 0;
	amdvi_ops.flush(&unit, &d, 0, 0);
	CHECK_EQ(inv_addr_of(0), 0x7ffffffffffff000ull);

	/* Detach: back to exactly the blocked entry. */
	cmd_n = 0;
	CHECK_EQ(amdvi_ops.detach(&unit, &d, 0x18), 0);
	CHECK(dte_is_blocked(0x18));
	CHECK_EQ(cmd_n, 3);
	CHECK_EQ(cmds[0].lo, 2ull << 60 | 0x18);
	CHECK_EQ(cmds[1].lo, 3ull << 60 | 6ull << 32);
	CHECK_EQ(cmds[2].op, OP_CW);

	/* A table that is not this unit's format, or no table. */
	d.pt[0].sync = NULL;
	d.pt[1] = d.pt[0];
	d.pt[0].fmt = NULL;
	CHECK_EQ(amdvi_ops.attach(&unit, &d, 0x18), -KEEL_EINVAL);
	d.pt[0] = d.pt[1];
	d.pt[1] = (struct pt){ 0 };
	CHECK(dte_is_blocked(0x18));
	pt_destroy(&d.pt[0]);
	CHECK_EQ(amdvi_ops.attach(&unit, &d, 0x18), -KEEL_EINVAL);
	CHECK(dte_is_blocked(0x18));
}

/* ---- the event log --------------------------------------------------------- */

static void put_event(u32 slot, u32 w0, u32 w1, u64 addr)
{
	u32 *ev = (u32 *)hpa_to_hva(reg(R_EVTLOG) & ADDR_MASK) + 4 * slot;

	ev[0] = w0;
	ev[1] = w1;
	ev[2] = (u32)addr;
	ev[3] = (u32)(addr >> 32);
}

static void test_faults(void)
{
	u64 ctl;

	fake_reset(0xd1, BIT(6), true, true);
	CHECK_EQ(amdvi_ops.enable(&unit), 0);
	ctl = reg(R_CONTROL);
	reg_set(R_STATUS, 0); /* the fake does not clear what enable wrote 1 to */
	CHECK_EQ(amdvi_ops.faults(&unit), 0);
	CHECK(!logged("overflowed"));

	/* A write fault, an illegal entry, an illegal command, something unknown. */
	put_event(0, 0x0018, 2u << 28 | BIT(21) | BIT(22) | 5, 0x123456789000ull);
	put_event(1, 0x0020, 1u << 28, 0x5000);
	put_event(2, 0, 5u << 28, 0xabc0);
	put_event(3, 0x1, 0xfu << 28 | 0x77, 0);
	reg_set(R_EVT_TAIL, 4 * 16);
	reg_set(R_STATUS, S_EVT_INT | S_EVT_RUN);
	unit_log_len = 0;
	CHECK_EQ(amdvi_ops.faults(&unit), 4);
	CHECK_EQ(reg(R_EVT_HEAD), 4 * 16);
	CHECK_EQ(reg(R_STATUS), S_EVT_INT); /* written back: cleared */
	CHECK_EQ(report_n, 2);
	CHECK_EQ(reports[0].rid, 0x18);
	CHECK_EQ(reports[0].addr, 0x123456789000ull);
	CHECK(reports[0].write);
	CHECK(!strcmp(reports[0].why, "access not permitted"));
	CHECK_EQ(reports[1].rid, 0x20);
	CHECK(!reports[1].write);
	CHECK(!strcmp(reports[1].why, "illegal device table entry"));
	CHECK(logged("iommu 0 (AMD-Vi): illegal command at 0xabc0"));
	CHECK(logged("iommu 0 (AMD-Vi): event 00000001 f0000077 00000000 00000000"));

	/* Reads, interrupts and unmapped pages in words; around the end of the log. */
	report_n = 0;
	reg_set(R_EVT_HEAD, 511 * 16);
	put_event(511, 0x0030, 2u << 28 | BIT(20) | BIT(22), 0x1000);
	put_event(0, 0x0031, 2u << 28, 0x2000);
	put_event(1, 0x0032, 2u << 28 | BIT(19), 0xfee00000);
	reg_set(R_EVT_TAIL, 2 * 16);
	CHECK_EQ(amdvi_ops.faults(&unit), 3);
	CHECK_EQ(reg(R_EVT_HEAD), 2 * 16);
	CHECK_EQ(report_n, 3);
	CHECK(!reports[0].write);
	CHECK(!strcmp(reports[0].why, "access not permitted"));
	CHECK(!strcmp(reports[1].why, "address not mapped"));
	CHECK(!strcmp(reports[2].why, "interrupt blocked"));

	/* Overflow: drained, then the log restarted from empty. */
	report_n = 0;
	put_event(2, 0x0040, 3u << 28, 0x7000);
	reg_set(R_EVT_TAIL, 3 * 16);
	reg_set(R_STATUS, S_OVERFLOW | S_EVT_INT | S_EVT_RUN);
	unit_log_len = 0;
	CHECK_EQ(amdvi_ops.faults(&unit), 1);
	CHECK_EQ(report_n, 1);
	CHECK(logged("iommu 0 (AMD-Vi): event log overflowed"));
	CHECK(!logged("did not"));
	CHECK_EQ(reg(R_STATUS), S_OVERFLOW); /* the last write: overflow cleared */
	CHECK_EQ(reg(R_EVT_HEAD), 0);
	CHECK_EQ(reg(R_EVT_TAIL), 0);
	CHECK_EQ(reg(R_CONTROL), ctl);

	/* A tail beyond the log is taken modulo its size, never read past. */
	reg_set(R_EVT_HEAD, 0);
	reg_set(R_EVT_TAIL, 0x7fff0);
	CHECK(amdvi_ops.faults(&unit) <= 512);
}

/*
 * Interrupt remapping: a requester's first entry gets it a table of its own
 * in its DTE (IntCtl remapped, 2^8 entries), the MSI data names the entry,
 * and the caches are invalidated before it returns; its last entry out
 * aborts its interrupts again and frees the table.
 */
static void test_irte(void)
{
	struct iommu_msi m = { 0 };
	const u32 *t;
	u64 w2;

	fake_reset(0xd1, BIT(6), true, true);
	CHECK_EQ(amdvi_ops.enable(&unit), 0);
	cmd_n = 0;
	CHECK_EQ(amdvi_ops.irte_set(&unit, 0x28, 3, 0x02, 0x41, &m), 0);
	CHECK_EQ(m.addr, 0xfee00000ull);
	CHECK_EQ(m.data, 3);
	w2 = dte(0x28)[2];
	CHECK_EQ(w2 & 0x1, 1); /* IV */
	CHECK_EQ((w2 >> 60) & 3, 2); /* IntCtl: remapped */
	CHECK_EQ((w2 >> 1) & 0xf, 8); /* IntTabLen: 256 entries */
	t = hpa_to_hva(w2 & 0x000fffffffffffc0ull);
	CHECK_EQ(t[3], 0x1u | 0x02u << 8 | 0x41u << 16); /* RemapEn, destination, vector */
	CHECK_EQ(t[2], 0);
	CHECK(dte_is_blocked(0x27) && dte_is_blocked(0x29));
	CHECK_EQ(cmd_n, 3);
	CHECK_EQ(cmds[0].op, OP_INV_DEVTAB);
	CHECK_EQ(cmds[1].op, OP_INV_INT);
	CHECK_EQ(cmds[1].lo & 0xffff, 0x28);
	CHECK_EQ(cmds[2].op, OP_CW);

	/* A second requester: a table of its own (no device can name another's entry). */
	CHECK_EQ(amdvi_ops.irte_set(&unit, 0x30, 4, 0x01, 0x42, &m), 0);
	CHECK((dte(0x30)[2] & 0x000fffffffffffc0ull) != (w2 & 0x000fffffffffffc0ull));
	CHECK_EQ(amdvi_ops.irte_set(&unit, 0x28, 5, 0x00, 0x43, &m), 0);
	CHECK_EQ(t[5], 0x1u | 0x43u << 16);

	/* Cleared one at a time; the last one out aborts again. */
	cmd_n = 0;
	amdvi_ops.irte_clear(&unit, 0x28, 3);
	CHECK_EQ(t[3], 0);
	CHECK_EQ(dte(0x28)[2], w2);
	CHECK_EQ(cmds[0].op, OP_INV_INT);
	amdvi_ops.irte_clear(&unit, 0x28, 5);
	CHECK(dte_is_blocked(0x28));
	amdvi_ops.irte_clear(&unit, 0x30, 4);
	CHECK(dte_is_blocked(0x30));
	amdvi_ops.irte_clear(&unit, 0x30, 4); /* nothing there any more: nothing happens */
	CHECK(dte_is_blocked(0x30));
	/* Out of range: refused, nothing written. */
	CHECK_EQ(amdvi_ops.irte_set(&unit, 0x28, IOMMU_IRTES, 0, 0x41, &m), -KEEL_EINVAL);
	CHECK_EQ(amdvi_ops.irte_set(&unit, 0x28, 0, 0x100, 0x41, &m), -KEEL_EINVAL);
	/* An LPI number (aarch64's vectors) is no x86 vector. */
	CHECK_EQ(amdvi_ops.irte_set(&unit, 0x28, 0, 0x01, 0x2000, &m), -KEEL_EINVAL);
	CHECK(dte_is_blocked(0x28));
}

int main(void)
{
	test_format();
	test_enable();
	test_timeouts();
	test_attach();
	test_irte();
	test_faults();
	fake_pmm_free_all();
	free(regs);
	return unit_done("test_amdvi");
}
