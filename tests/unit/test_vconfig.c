/* SPDX-License-Identifier: MIT */
/*
 * Config-space virtualization of an assigned function (vfio/vconfig.c) on a
 * fake device that sizes its BARs and logs every write Keel makes: the guest's
 * view, what reaches the device, events, hostile layouts and hostile accesses.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/abi.h>
#include <keel/pci.h>
#include <keel/vconfig.h>

#include "unit.h"

extern char unit_log[];
extern size_t unit_log_len;

#define BDF PCI_BDF(3, 0, 0)
#define LOG_MAX 4096u

/* The fake's layout: capabilities and BARs. */
#define C_PM 0x40
#define C_VNDR 0x48 /* hidden */
#define C_MSI 0x50 /* 64-bit, per-vector masking: 24 bytes */
#define C_VPD 0x68 /* hidden */
#define C_EXP 0x70 /* v2: 0x3c bytes */
#define C_MSIX 0xb0
#define C_AF 0xc0 /* hidden */

#define HOST_CMD 0x0547u /* I/O, memory, master, parity, SERR, INTx disable */
#define HOST_DEVCTL 0x2831u /* MRRS 512, no snoop, MPS 256, relaxed ordering, CE reporting */
#define BASE_CMD 0x0143u /* what Keel keeps on: decode, parity, SERR */

struct wlog {
	u16 off;
	u8 size;
	u32 val;
};

static struct fake {
	u8 cfg[PCI_CFG_SIZE];
	u32 wmask[PCI_CFG_SIZE / 4]; /* per dword: bits a write changes (BARs: sizing) */
	struct wlog log[LOG_MAX];
	u32 nlog;
	u32 bad; /* accesses not aligned, out of range, or to another function */
	u32 zero_sized; /* bitmap over dwords: all ones written reads back 0 (broken BARs) */
} fk;

static struct vconfig vc;
static struct vconfig_events ev;

static void log_clear(void)
{
	unit_log_len = 0;
	unit_log[0] = 0;
}

static u32 fk_get(u32 off, u32 size)
{
	u32 v = 0;

	memcpy(&v, fk.cfg + off, size);
	return v;
}

static void fk_put(u32 off, u32 size, u32 v)
{
	memcpy(fk.cfg + off, &v, size);
}

static u32 fake_read(void *ctx, u16 bdf, u16 off, u32 size)
{
	if (ctx != &fk || bdf != BDF || (size != 1 && size != 2 && size != 4) || off % size ||
	    off + size > PCI_CFG_SIZE) {
		fk.bad++;
		return 0xffffffffu;
	}
	return fk_get(off, size);
}

/* A write: logged; BAR dwords keep their read-only bits; status and device status clear. */
static void fake_write(void *ctx, u16 bdf, u16 off, u32 size, u32 val)
{
	u32 d = off & ~3u, sh = (off & 3u) * 8, old;

	if (ctx != &fk || bdf != BDF || (size != 1 && size != 2 && size != 4) || off % size ||
	    off + size > PCI_CFG_SIZE) {
		fk.bad++;
		return;
	}
	if (fk.nlog < LOG_MAX)
		fk.log[fk.nlog++] = (struct wlog){ off, (u8)size, val };
	if (off == PCI_STATUS || off == C_EXP + 0xa) {
		fk_put(off, 2, fk_get(off, 2) & ~val);
		return;
	}
	old = fk_get(d, 4);
	if ((fk.zero_sized & (1u << (d / 4 % 32))) && d < 0x40 && val == 0xffffffffu) {
		fk_put(d, 4, 0);
		return;
	}
	val = size == 4 ? val : (old & ~(((1u << (8 * size)) - 1) << sh)) | (val << sh);
	fk_put(d, 4, (old & ~fk.wmask[d / 4]) | (val & fk.wmask[d / 4]));
}

static const struct pci_cfg_ops fake_ops = { .read = fake_read, .write = fake_write };

static void cap(u32 at, u8 id, u8 next)
{
	fk.cfg[at] = id;
	fk.cfg[at + 1] = next;
}

/*
 * BAR0: 32-bit, 128 KiB at 0xfe000000. BAR1-2: 64-bit prefetchable, 16 MiB
 * at 0x8_0000_0000. BAR3: 32 ports at 0xe000. BAR4: 16 KiB at 0xfe020000
 * (MSI-X table at 0, PBA at 0x2000). BAR5: none. Capabilities PM, vendor,
 * MSI, VPD, PCIe, MSI-X, AF; AER at 0x100.
 */
static void fake_build(void)
{
	memset(&fk, 0, sizeof(fk));
	for (u32 i = 0; i < ARRAY_SIZE(fk.wmask); i++)
		fk.wmask[i] = 0xffffffffu;
	fk_put(0x00, 4, 0x10d38086);
	fk_put(PCI_COMMAND, 2, HOST_CMD);
	fk_put(PCI_STATUS, 2, 0x0010);
	fk_put(PCI_CLASS_REV, 4, 0x02000001);
	fk_put(0x0c, 4, 0x80802010); /* BIST capable, multifunction, latency 0x20, cache line */
	fk_put(0x10, 4, 0xfe000000);
	fk.wmask[4] = 0xfffe0000u;
	fk_put(0x14, 4, 0x0000000c);
	fk.wmask[5] = 0xff000000u;
	fk_put(0x18, 4, 0x00000008);
	fk.wmask[6] = 0xffffffffu;
	fk_put(0x1c, 4, 0x0000e001);
	fk.wmask[7] = 0xffffffe0u;
	fk_put(0x20, 4, 0xfe020000);
	fk.wmask[8] = 0xffffc000u;
	fk.wmask[9] = 0;
	fk_put(0x28, 4, 0x00001234);
	fk_put(0x2c, 4, 0x11001af4);
	fk_put(0x30, 4, 0xfeb00001);
	fk.wmask[12] = 0xfffff801u;
	fk_put(0x34, 1, C_PM);
	fk_put(0x3c, 4, 0x0201010b); /* max lat, min gnt, pin A, line 11 */

	cap(C_PM, 0x01, C_VNDR);
	fk_put(C_PM + 2, 2, 0xfa03); /* PME from D0, D3hot, D3cold; D1; version 3 */
	fk_put(C_PM + 4, 2, 0x0108); /* PME enable, no soft reset, D0 */
	cap(C_VNDR, 0x09, C_MSI);
	fk_put(C_VNDR + 2, 2, 0xbeef);
	cap(C_MSI, 0x05, C_VPD);
	fk_put(C_MSI + 2, 2, 0x0186); /* maskable, 64-bit, 8 vectors capable */
	fk_put(C_MSI + 0x14, 4, 0x5); /* pending */
	cap(C_VPD, 0x03, C_EXP);
	cap(C_EXP, 0x10, C_MSIX);
	fk_put(C_EXP + 2, 2, 0x0002); /* v2 endpoint */
	fk_put(C_EXP + 4, 4, 0x10008001); /* FLR, MPS 256 */
	fk_put(C_EXP + 8, 2, HOST_DEVCTL);
	fk_put(C_EXP + 0xa, 2, 0x0021); /* transactions pending, correctable error */
	fk_put(C_EXP + 0xc, 4, 0x00400c41);
	fk_put(C_EXP + 0x10, 2, 0x0040);
	fk_put(C_EXP + 0x12, 2, 0x1011);
	fk_put(C_EXP + 0x28, 2, 0x0400);
	cap(C_MSIX, 0x11, C_AF);
	fk_put(C_MSIX + 2, 2, 0x000f); /* 16 entries */
	fk_put(C_MSIX + 4, 4, 0x00000004);
	fk_put(C_MSIX + 8, 4, 0x00002004);
	cap(C_AF, 0x13, 0);
	fk_put(0x100, 4, 0x14010001); /* AER */
}

static struct vconfig_setup setup(void)
{
	return (struct vconfig_setup){
		.ops = &fake_ops,
		.ctx = &fk,
		.seg = 0,
		.bdf = BDF,
		.mmio_base = 0xc0000000,
		.mmio_size = 0x30000000,
		.io_base = 0x1000,
		.io_size = 0xf000,
	};
}

static int init(void)
{
	struct vconfig_setup s = setup();

	log_clear();
	return vconfig_init(&vc, &s);
}

static u32 count(const char *s)
{
	u32 n = 0;

	for (const char *p = unit_log; (p = strstr(p, s)); p++)
		n++;
	return n;
}

static bool logged(const char *s)
{
	bool ok = strstr(unit_log, s) != NULL;

	if (!ok)
		fprintf(stderr, "  not logged: %s\n  log: %s\n", s, unit_log);
	return ok;
}

static u32 rd(u32 off, u32 size)
{
	return vconfig_read(&vc, off, size);
}

static void wr(u32 off, u32 size, u32 val)
{
	vconfig_write(&vc, off, size, val, &ev);
}

/*
 * Since the last fk.nlog = 0: every write went to command, status, device
 * control or device status, 16 bits wide, and carried only what may pass.
 */
static bool writes_allowed(void)
{
	for (u32 i = 0; i < fk.nlog; i++) {
		const struct wlog *w = &fk.log[i];
		bool ok = w->size == 2;

		if (w->off == PCI_COMMAND)
			ok = ok && (w->val & ~0x0404u) == BASE_CMD;
		else if (w->off == PCI_STATUS)
			ok = ok && !(w->val & ~0xf900u);
		else if (w->off == C_EXP + 8)
			ok = ok && !(w->val & 0x8100u) && (w->val & 0x7000u) <= 0x2000u &&
			     (w->val & 0x02efu) == (HOST_DEVCTL & 0x02efu);
		else if (w->off == C_EXP + 0xa)
			ok = ok && !(w->val & ~0xfu);
		else
			ok = false;
		if (!ok) {
			fprintf(stderr, "  write 0x%x/%u = 0x%x not allowed\n", w->off, w->size,
				w->val);
			return false;
		}
	}
	return true;
}

/* ---- init: what the guest sees, what the device keeps ---- */

static void test_init(void)
{
	u8 before[PCI_CFG_SIZE];

	fake_build();
	memcpy(before, fk.cfg, sizeof(before));
	CHECK_EQ(init(), 0);
	CHECK(logged("vconfig 0000:03:00.0 8086:10d3: 4 BARs, MSI MSI-X PCIe PM 3 capabilities "
		     "hidden"));
	CHECK_EQ(fk.bad, 0);
	/* Every BAR sized and put back; decode on, bus mastering off, INTx quiet. */
	CHECK(memcmp(fk.cfg + 0x10, before + 0x10, 0x18) == 0);
	CHECK_EQ(fk_get(PCI_COMMAND, 2), BASE_CMD | 0x0400);
	CHECK_EQ(fk.log[0].off, PCI_COMMAND);
	CHECK_EQ(fk.log[0].val, HOST_CMD & ~0x0007u); /* decode and master off first */
	for (u32 i = 1; i + 1 < fk.nlog; i++)
		CHECK(fk.log[i].off >= 0x10 && fk.log[i].off < 0x28 && fk.log[i].size == 4);
	CHECK_EQ(fk.log[fk.nlog - 1].off, PCI_COMMAND);
	CHECK(memcmp(fk.cfg + 0x28, before + 0x28, PCI_CFG_SIZE - 0x28) == 0);

	CHECK_EQ(vc.bar[0].type, VCONFIG_BAR_MEM32);
	CHECK_EQ(vc.bar[0].hpa, 0xfe000000);
	CHECK_EQ(vc.bar[0].size, 0x20000);
	CHECK(!vc.bar[0].prefetch);
	CHECK_EQ(vc.bar[1].type, VCONFIG_BAR_MEM64);
	CHECK_EQ(vc.bar[1].hpa, 0x800000000ull);
	CHECK_EQ(vc.bar[1].size, 0x1000000);
	CHECK(vc.bar[1].prefetch);
	CHECK_EQ(vc.bar[2].type, VCONFIG_BAR_HIGH);
	CHECK_EQ(vc.bar[3].type, VCONFIG_BAR_IO);
	CHECK_EQ(vc.bar[3].hpa, 0xe000);
	CHECK_EQ(vc.bar[3].size, 32);
	CHECK_EQ(vc.bar[4].type, VCONFIG_BAR_MEM32);
	CHECK_EQ(vc.bar[4].size, 0x4000);
	CHECK_EQ(vc.bar[5].type, VCONFIG_BAR_NONE);
	CHECK(vc.msi == C_MSI && vc.msix == C_MSIX && vc.pcie == C_EXP && vc.pm == C_PM);
	CHECK(vc.msi_64 && vc.msi_maskable && vc.msi_size == 24);
	CHECK(vc.msix_entries == 16 && vc.msix_table_bar == 4 && vc.msix_table_off == 0);
	CHECK(vc.msix_pba_bar == 4 && vc.msix_pba_off == 0x2000);
	CHECK(vc.pm_no_soft_reset);

	/* The header as the guest reads it. */
	CHECK_EQ(rd(0x00, 4), 0x10d38086);
	CHECK_EQ(rd(0x02, 2), 0x10d3);
	CHECK_EQ(rd(0x04, 4), 0x00100000); /* command 0; status: the capability list */
	CHECK_EQ(rd(0x08, 4), 0x02000001);
	CHECK_EQ(rd(0x0c, 4), 0x00002000); /* cache line 0, latency, single function, no BIST */
	CHECK_EQ(rd(0x10, 4), 0x00000000);
	CHECK_EQ(rd(0x14, 4), 0x0000000c);
	CHECK_EQ(rd(0x18, 4), 0x00000000);
	CHECK_EQ(rd(0x1c, 4), 0x00000001);
	CHECK_EQ(rd(0x24, 4), 0x00000000);
	CHECK_EQ(rd(0x28, 4), 0); /* CIS */
	CHECK_EQ(rd(0x2c, 4), 0x11001af4);
	CHECK_EQ(rd(0x30, 4), 0); /* ROM hidden */
	CHECK_EQ(rd(0x34, 4), C_PM);
	CHECK_EQ(rd(0x3c, 4), 0x02010100); /* line 0 (guest's), pin A */
	/* The chain: PM, MSI, PCIe, MSI-X; the rest reads 0. */
	CHECK_EQ(rd(C_PM, 2), 0x5001);
	CHECK_EQ(rd(C_MSI, 2), 0x7005);
	CHECK_EQ(rd(C_EXP, 2), 0xb010);
	CHECK_EQ(rd(C_MSIX, 2), 0x0011);
	for (u32 o = C_VNDR; o < C_MSI; o++)
		CHECK_EQ(rd(o, 1), 0);
	for (u32 o = C_VPD; o < C_EXP; o++)
		CHECK_EQ(rd(o, 1), 0);
	for (u32 o = C_AF; o < 0x100; o += 4)
		CHECK_EQ(rd(o, 4), 0);
	CHECK_EQ(rd(0xac, 4), 0); /* between PCIe and MSI-X */
	CHECK_EQ(rd(0x100, 4), 0);
	CHECK_EQ(rd(0xffc, 4), 0);
	CHECK_EQ(fk.bad, 0);
}

/* ---- BARs: the sizing protocol on each kind, guest addresses, the window ---- */

static void test_bars(void)
{
	u8 bars[0x18];

	fake_build();
	CHECK_EQ(init(), 0);
	memcpy(bars, fk.cfg + 0x10, sizeof(bars));
	fk.nlog = 0;

	/* 32-bit memory. */
	wr(0x10, 4, 0xffffffffu);
	CHECK_EQ(rd(0x10, 4), 0xfffe0000u);
	CHECK_EQ(ev.mask, VCONFIG_EV_BAR);
	CHECK_EQ(ev.bars_moved, 1);
	CHECK_EQ(ev.bars_unmappable, 1);
	CHECK_EQ(ev.bar_gpa[0], 0xfffe0000u);
	wr(0x10, 4, 0xc0000000u);
	CHECK_EQ(rd(0x10, 4), 0xc0000000u);
	CHECK_EQ(ev.bars_moved, 1);
	CHECK_EQ(ev.bars_unmappable, 0);
	CHECK(vc.bar[0].mappable && vc.bar[0].gpa == 0xc0000000u);
	wr(0x10, 4, 0xc0000000u); /* the same place: no event */
	CHECK_EQ(ev.mask, 0);
	wr(0x13, 1, 0xd0); /* a byte: the top of the address */
	CHECK_EQ(ev.bar_gpa[0], 0xd0000000u);
	wr(0x10, 2, 0xffff); /* low bits are not address bits */
	CHECK_EQ(ev.mask, 0);
	CHECK_EQ(rd(0x10, 4), 0xd0000000u);
	wr(0x11, 2, 0xffff); /* misaligned: dropped */
	CHECK_EQ(rd(0x10, 4), 0xd0000000u);
	CHECK_EQ(rd(0x11, 2), 0xffff);

	/* 64-bit prefetchable: the type bits stay, both halves size. */
	wr(0x14, 4, 0xffffffffu);
	CHECK_EQ(rd(0x14, 4), 0xff00000cu);
	CHECK_EQ(ev.bars_moved, 2);
	CHECK_EQ(ev.bar_gpa[1], 0xff000000u);
	wr(0x18, 4, 0xffffffffu);
	CHECK_EQ(rd(0x18, 4), 0xffffffffu);
	CHECK_EQ(ev.bars_moved, 2); /* reported by the low slot */
	CHECK_EQ(ev.bar_gpa[1], 0xffffffffff000000ull);
	CHECK_EQ(ev.bars_unmappable, 2);
	wr(0x18, 4, 0);
	wr(0x14, 4, 0xc1000000u);
	CHECK_EQ(ev.bar_gpa[1], 0xc1000000u);
	CHECK_EQ(ev.bars_unmappable, 0);
	wr(0x18, 4, 1); /* above the window */
	CHECK_EQ(ev.bar_gpa[1], 0x1c1000000ull);
	CHECK_EQ(ev.bars_unmappable, 2);
	wr(0x18, 4, 0);
	CHECK(vc.bar[1].mappable);
	wr(0x14, 4, 0xf0000000u); /* just past the window */
	CHECK_EQ(ev.bars_unmappable, 2);
	wr(0x14, 4, 0xc1000000u);

	/* I/O: 32 ports. */
	wr(0x1c, 4, 0xffffffffu);
	CHECK_EQ(rd(0x1c, 4), 0xffffffe1u);
	CHECK_EQ(ev.bars_moved, 8);
	CHECK_EQ(ev.bars_unmappable, 8);
	wr(0x1c, 4, 0x2000);
	CHECK_EQ(rd(0x1c, 4), 0x2001);
	CHECK_EQ(ev.bar_gpa[3], 0x2000);
	CHECK_EQ(ev.bars_unmappable, 0);
	wr(0x1c, 4, 0x0800); /* below the I/O window */
	CHECK_EQ(ev.bars_unmappable, 8);
	wr(0x1c, 4, 0x2000);

	/* Nothing in BAR5, nor the expansion ROM. */
	wr(0x24, 4, 0xffffffffu);
	CHECK_EQ(rd(0x24, 4), 0);
	CHECK_EQ(ev.mask, 0);
	wr(0x30, 4, 0xffffffffu);
	CHECK_EQ(rd(0x30, 4), 0);
	CHECK_EQ(ev.mask, 0);
	wr(0x20, 4, 0xc2000000u);
	wr(0x10, 4, 0xc0000000u);

	/* Decode: the guest's memory and I/O enable decide what the caller maps. */
	CHECK(!vconfig_bar_live(&vc, 0));
	wr(PCI_COMMAND, 2, 0x0002);
	CHECK_EQ(ev.mask, VCONFIG_EV_DECODE);
	CHECK_EQ(ev.cmd, 0x0002);
	CHECK(vconfig_bar_live(&vc, 0) && vconfig_bar_live(&vc, 1) && vconfig_bar_live(&vc, 4));
	CHECK(!vconfig_bar_live(&vc, 2) && !vconfig_bar_live(&vc, 3) && !vconfig_bar_live(&vc, 5));
	CHECK(!vconfig_bar_live(&vc, 6) && !vconfig_bar_live(&vc, 1000));
	wr(PCI_COMMAND, 2, 0x0003);
	CHECK_EQ(ev.mask, VCONFIG_EV_DECODE);
	CHECK(vconfig_bar_live(&vc, 3));
	wr(PCI_COMMAND, 2, 0x0003);
	CHECK_EQ(ev.mask, 0);
	wr(0x10, 4, 0xffffffffu); /* sized while decoded: unmapped */
	CHECK(!vconfig_bar_live(&vc, 0));

	/* The device's BARs never moved. */
	CHECK(memcmp(fk.cfg + 0x10, bars, sizeof(bars)) == 0);
	CHECK(writes_allowed());
	CHECK_EQ(fk.bad, 0);
}

/* ---- command and status ---- */

static void test_command(void)
{
	fake_build();
	CHECK_EQ(init(), 0);
	fk.nlog = 0;

	wr(PCI_COMMAND, 2, 0xffff);
	CHECK_EQ(rd(PCI_COMMAND, 2), 0x0547); /* I/O, memory, master, parity, SERR, INTx */
	CHECK_EQ(ev.mask, VCONFIG_EV_DECODE);
	CHECK_EQ(fk.nlog, 1);
	CHECK_EQ(fk_get(PCI_COMMAND, 2), BASE_CMD | 0x0404);
	wr(PCI_COMMAND, 2, 0);
	CHECK_EQ(rd(PCI_COMMAND, 2), 0);
	CHECK_EQ(fk_get(PCI_COMMAND, 2), BASE_CMD);
	wr(PCI_COMMAND + 1, 1, 0x04); /* INTx disable by its byte */
	CHECK_EQ(fk_get(PCI_COMMAND, 2), BASE_CMD | 0x0400);
	CHECK_EQ(ev.mask, 0);
	wr(PCI_COMMAND, 1, 0x44); /* master, parity response: only master reaches the device */
	CHECK_EQ(rd(PCI_COMMAND, 2), 0x0444);
	CHECK_EQ(fk_get(PCI_COMMAND, 2), BASE_CMD | 0x0404);
	CHECK_EQ(fk.nlog, 4);
	wr(PCI_COMMAND, 2, 0x0444); /* unchanged: no write */
	CHECK_EQ(fk.nlog, 4);

	/* Status: the device's, the list bit from the guest's chain; error bits clear. */
	fk_put(PCI_STATUS, 2, 0x4008); /* signaled system error, interrupt; no list bit */
	CHECK_EQ(rd(PCI_STATUS, 2), 0x4018);
	CHECK_EQ(rd(PCI_COMMAND, 4), 0x40180444u);
	CHECK_EQ(rd(PCI_STATUS + 1, 1), 0x40);
	CHECK_EQ(rd(PCI_STATUS, 1), 0x18);
	fk.nlog = 0;
	wr(PCI_COMMAND, 4, 0xffff0444u); /* command unchanged, every status bit written */
	CHECK_EQ(fk.nlog, 1);
	CHECK_EQ(fk.log[0].off, PCI_STATUS);
	CHECK_EQ(fk.log[0].val, 0xf900);
	CHECK_EQ(rd(PCI_STATUS, 2), 0x0018);
	wr(PCI_STATUS, 2, 0x06ff); /* no error bit: nothing written */
	CHECK_EQ(fk.nlog, 1);
	wr(PCI_STATUS + 1, 1, 0x80);
	CHECK_EQ(fk.log[1].val, 0x8000);
	CHECK(writes_allowed());

	/* Read-only fields stay. */
	wr(0x00, 4, 0);
	wr(0x08, 4, 0);
	wr(0x2c, 4, 0);
	wr(0x0c, 4, 0xffffffffu);
	wr(0x3c, 4, 0xffffffffu);
	wr(0x34, 1, 0x48);
	CHECK_EQ(rd(0x00, 4), 0x10d38086);
	CHECK_EQ(rd(0x08, 4), 0x02000001);
	CHECK_EQ(rd(0x2c, 4), 0x11001af4);
	CHECK_EQ(rd(0x0c, 4), 0x000020ff); /* cache line size is the guest's */
	CHECK_EQ(rd(0x3c, 4), 0x020101ff); /* so is the interrupt line */
	CHECK_EQ(rd(0x34, 1), C_PM);
	CHECK_EQ(fk.nlog, 2);
}

/* ---- MSI ---- */

static void test_msi(void)
{
	u8 before[PCI_CFG_SIZE];

	fake_build();
	CHECK_EQ(init(), 0);
	memcpy(before, fk.cfg, sizeof(before));
	fk.nlog = 0;

	CHECK_EQ(rd(C_MSI + 2, 2), 0x0180); /* one message; 64-bit; maskable */
	wr(C_MSI + 2, 2, 0xffff);
	CHECK_EQ(rd(C_MSI + 2, 2), 0x0181);
	CHECK_EQ(ev.mask, VCONFIG_EV_MSI);
	CHECK(ev.msi_enabled && ev.msi_addr == 0 && ev.msi_data == 0 && !ev.msi_masked);
	wr(C_MSI + 4, 4, 0xfee01007u);
	CHECK_EQ(rd(C_MSI + 4, 4), 0xfee01004u);
	CHECK_EQ(ev.mask, VCONFIG_EV_MSI);
	CHECK_EQ(ev.msi_addr, 0xfee01004u);
	wr(C_MSI + 8, 4, 0x12);
	CHECK_EQ(ev.msi_addr, 0x12fee01004ull);
	wr(C_MSI + 0xc, 4, 0xffff4041u); /* data, and the hidden extended data */
	CHECK_EQ(rd(C_MSI + 0xc, 4), 0x4041);
	CHECK_EQ(ev.msi_data, 0x4041);
	wr(C_MSI + 0xc, 2, 0x4041);
	CHECK_EQ(ev.mask, 0);
	wr(C_MSI + 0x10, 4, 0xffffffffu); /* one vector: one mask bit */
	CHECK_EQ(rd(C_MSI + 0x10, 4), 1);
	CHECK(ev.mask == VCONFIG_EV_MSI && ev.msi_masked && ev.msi_enabled);
	CHECK_EQ(rd(C_MSI + 0x14, 4), 0); /* pending: not shown */
	wr(C_MSI + 0x14, 4, 0xffffffffu);
	CHECK_EQ(ev.mask, 0);
	wr(C_MSI + 2, 1, 0);
	CHECK(ev.mask == VCONFIG_EV_MSI && !ev.msi_enabled && ev.msi_data == 0x4041);
	wr(C_MSI, 2, 0xffff); /* the header is read-only */
	CHECK_EQ(rd(C_MSI, 2), 0x7005);
	/* The device's MSI registers were never written. */
	CHECK_EQ(fk.nlog, 0);
	CHECK(memcmp(fk.cfg, before, sizeof(before)) == 0);

	/* 32-bit, not maskable: 10 bytes; data at +8. */
	fake_build();
	fk_put(C_MSI + 2, 2, 0x0000);
	CHECK_EQ(init(), 0);
	CHECK(vc.msi_size == 10 && !vc.msi_64);
	wr(C_MSI + 8, 4, 0xffffffffu);
	CHECK_EQ(rd(C_MSI + 8, 4), 0xffff);
	CHECK_EQ(ev.msi_data, 0xffff);
	wr(C_MSI + 0xc, 4, 0xffffffffu); /* past the capability */
	CHECK_EQ(rd(C_MSI + 0xc, 4), 0);
	CHECK_EQ(ev.mask, 0);
}

/* ---- MSI-X: capability and table ---- */

static void test_msix(void)
{
	const struct vconfig_msix_entry *e;
	unsigned long long state = 0x9e3779b97f4a7c15ull;

	fake_build();
	CHECK_EQ(init(), 0);
	fk.nlog = 0;

	CHECK_EQ(rd(C_MSIX + 2, 2), 0x000f);
	CHECK_EQ(rd(C_MSIX + 4, 4), 0x00000004);
	CHECK_EQ(rd(C_MSIX + 8, 4), 0x00002004);
	wr(C_MSIX + 4, 4, 0);
	CHECK_EQ(rd(C_MSIX + 4, 4), 0x00000004);
	wr(C_MSIX + 2, 2, 0xffff);
	CHECK_EQ(rd(C_MSIX + 2, 2), 0xc00f);
	CHECK(ev.mask == VCONFIG_EV_MSIX_CTRL && ev.msix_enabled && ev.msix_masked);
	wr(C_MSIX + 3, 1, 0x80);
	CHECK(ev.mask == VCONFIG_EV_MSIX_CTRL && ev.msix_enabled && !ev.msix_masked);
	wr(C_MSIX + 2, 1, 0x00); /* table size is read-only */
	CHECK_EQ(ev.mask, 0);
	CHECK_EQ(rd(C_MSIX + 2, 2), 0x800f);

	/* Entries start masked. */
	for (u32 i = 0; i < 16; i++)
		CHECK_EQ(vconfig_msix_table_read(&vc, i * 16 + 12, 4), 1);
	vconfig_msix_table_write(&vc, 0x10, 4, 0xfee00003u, &ev);
	CHECK(ev.mask == VCONFIG_EV_MSIX_ENTRY && ev.msix_changed == 2 && !ev.msix_unmasked);
	CHECK_EQ(vconfig_msix_table_read(&vc, 0x10, 4), 0xfee00000u);
	vconfig_msix_table_write(&vc, 0x18, 4, 0x31, &ev);
	vconfig_msix_table_write(&vc, 0x1c, 4, 0xfffffffeu, &ev); /* unmask; reserved bits */
	CHECK(ev.msix_changed == 2 && ev.msix_unmasked == 2);
	CHECK_EQ(vconfig_msix_table_read(&vc, 0x1c, 4), 0);
	vconfig_msix_table_write(&vc, 0x1c, 4, 0, &ev);
	CHECK_EQ(ev.mask, 0);
	e = vconfig_msix_entry(&vc, 1);
	CHECK(e && e->addr_lo == 0xfee00000u && e->data == 0x31 && e->ctrl == 0);
	CHECK(vconfig_msix_entry(&vc, 16) == NULL);
	/* Qwords: address, then data and control. */
	vconfig_msix_table_write(&vc, 0xf0, 8, 0x00000001fee0000cull, &ev);
	CHECK_EQ(ev.msix_changed, BIT(15));
	CHECK_EQ(vconfig_msix_table_read(&vc, 0xf0, 8), 0x00000001fee0000cull);
	vconfig_msix_table_write(&vc, 0xf8, 8, 0x0000000000000042ull, &ev);
	CHECK(ev.msix_changed == BIT(15) && ev.msix_unmasked == BIT(15));
	CHECK_EQ(vconfig_msix_table_read(&vc, 0xf8, 8), 0x42);
	CHECK_EQ(vconfig_msix_table_read(&vc, 0xfc, 4), 0);

	/* Hostile: every offset and size in and past the table. */
	log_clear();
	for (u64 off = 0; off < 0x140; off++) {
		for (u32 size = 0; size <= 9; size++) {
			bool ok = (size == 4 || size == 8) && off % size == 0 && off < 0x100;
			u64 r = vconfig_msix_table_read(&vc, off, size);

			if (!ok)
				CHECK(r == (size >= 4 ? (size == 8 ? ~0ull : 0xffffffffu)
						      : (1ull << (8 * size)) - 1));
			vconfig_msix_table_write(&vc, off, size, unit_rand(&state), &ev);
			if (!ok)
				CHECK_EQ(ev.mask, 0);
		}
	}
	CHECK(logged("MSI-X table access of"));
	CHECK_EQ(vconfig_msix_table_read(&vc, ~0ull - 7, 8), ~0ull);
	CHECK_EQ(vconfig_msix_table_read(&vc, 1ull << 40, 4), 0xffffffffu);
	vconfig_msix_table_write(&vc, 1ull << 40, 4, 0, &ev);
	CHECK_EQ(ev.mask, 0);
	for (u32 i = 0; i < 16; i++) { /* reserved bits stay 0 whatever was written */
		CHECK_EQ(vconfig_msix_table_read(&vc, i * 16, 4) & 3, 0);
		CHECK_EQ(vconfig_msix_table_read(&vc, i * 16 + 12, 4) & ~1u, 0);
	}
	CHECK_EQ(fk.nlog, 0);

	/* 2048 entries: the model keeps VCONFIG_MSIX_MAX. */
	fake_build();
	fk_put(C_MSIX + 2, 2, 0x07ff);
	fk.wmask[8] = 0xffff8000u; /* BAR4: 32 KiB: the table, then the PBA */
	fk_put(C_MSIX + 8, 4, 0x00000000); /* the PBA in BAR0 */
	CHECK_EQ(init(), 0);
	CHECK_EQ(vc.msix_entries, 2048);
	log_clear();
	vconfig_msix_table_write(&vc, VCONFIG_MSIX_MAX * 16 - 16, 4, 0xfee00000u, &ev);
	CHECK_EQ(ev.msix_changed, BIT(VCONFIG_MSIX_MAX - 1));
	CHECK_EQ(vconfig_msix_table_read(&vc, VCONFIG_MSIX_MAX * 16, 4), 0xffffffffu);
	vconfig_msix_table_write(&vc, VCONFIG_MSIX_MAX * 16, 4, 0, &ev);
	CHECK_EQ(ev.mask, 0);
	CHECK_EQ(vconfig_msix_table_read(&vc, 2047 * 16 + 8, 8), ~0ull);
	CHECK(logged("vconfig 0000:03:00.0: MSI-X entries from 64 on (of 2048) are not kept"));
	CHECK_EQ(count("not kept"), 1);
	CHECK(vconfig_msix_entry(&vc, VCONFIG_MSIX_MAX) == NULL);
	CHECK(vconfig_msix_entry(&vc, VCONFIG_MSIX_MAX - 1) != NULL);
}

/* ---- PCIe ---- */

static void test_pcie(void)
{
	fake_build();
	CHECK_EQ(init(), 0);
	fk.nlog = 0;

	CHECK_EQ(rd(C_EXP + 2, 2), 0x0002);
	CHECK_EQ(rd(C_EXP + 4, 4), 0x10008001);
	CHECK_EQ(rd(C_EXP + 8, 2), HOST_DEVCTL);
	/* All the guest may set: the device keeps the host's value. */
	wr(C_EXP + 8, 2, 0x7fff);
	CHECK_EQ(rd(C_EXP + 8, 2), 0x7dff);
	CHECK_EQ(fk.nlog, 0);
	CHECK_EQ(ev.mask, 0);
	/* Off: relaxed ordering, no snoop and read request size follow; MPS, reporting do not. */
	wr(C_EXP + 8, 2, 0);
	CHECK_EQ(rd(C_EXP + 8, 2), 0);
	CHECK_EQ(fk.nlog, 1);
	CHECK_EQ(fk_get(C_EXP + 8, 2), 0x0021);
	wr(C_EXP + 8, 2, 0x1110); /* MRRS 256, extended tags (the host has none), relaxed */
	CHECK_EQ(fk_get(C_EXP + 8, 2), 0x1031);
	wr(C_EXP + 8, 2, 0x5810); /* MRRS 2048: clamped to the host's 512 */
	CHECK_EQ(fk_get(C_EXP + 8, 2), 0x2831);
	CHECK_EQ(rd(C_EXP + 8, 2), 0x5810);
	wr(C_EXP + 8, 2, 0x7810); /* reserved size encodings: the host's too */
	CHECK_EQ(fk_get(C_EXP + 8, 2), 0x2831);

	/* FLR: an event, never the device's. */
	fk.nlog = 0;
	wr(C_EXP + 8, 2, 0x8000 | 0x2831);
	CHECK_EQ(ev.mask, VCONFIG_EV_FLR);
	CHECK_EQ(rd(C_EXP + 8, 2), 0x2831);
	wr(C_EXP + 9, 1, 0x80);
	CHECK_EQ(ev.mask, VCONFIG_EV_FLR);
	wr(C_EXP + 8, 4, 0xffff8000u); /* with device status */
	CHECK_EQ(ev.mask, VCONFIG_EV_FLR);
	wr(C_EXP + 8, 1, 0x80); /* bit 7, not 15 */
	CHECK(!(ev.mask & VCONFIG_EV_FLR));
	CHECK(writes_allowed());

	/* Device status: the device's; error bits clear on the device. */
	fk_put(C_EXP + 0xa, 2, 0x0021);
	fk.nlog = 0;
	CHECK_EQ(rd(C_EXP + 0xa, 2), 0x0021);
	CHECK_EQ(rd(C_EXP + 8, 4) >> 16, 0x0021);
	wr(C_EXP + 0xa, 2, 0xffff);
	CHECK_EQ(fk.nlog, 1);
	CHECK_EQ(fk.log[0].val, 0x000f);
	CHECK_EQ(rd(C_EXP + 0xa, 2), 0x0020);

	/* Link status is live, link control read-only; the rest a snapshot. */
	fk_put(C_EXP + 0x12, 2, 0x1012);
	CHECK_EQ(rd(C_EXP + 0x12, 2), 0x1012);
	CHECK_EQ(rd(C_EXP + 0x10, 4), 0x10120040);
	CHECK_EQ(rd(C_EXP + 0x13, 1), 0x10);
	fk.nlog = 0;
	wr(C_EXP + 0x10, 4, 0xffffffffu);
	wr(C_EXP + 0x28, 2, 0xffff);
	CHECK_EQ(rd(C_EXP + 0x10, 2), 0x0040);
	CHECK_EQ(rd(C_EXP + 0x28, 2), 0x0400);
	CHECK_EQ(fk.nlog, 0);

	/* No FLR capability: the bit is ignored. */
	fake_build();
	fk_put(C_EXP + 4, 4, 0x00008001);
	CHECK_EQ(init(), 0);
	wr(C_EXP + 8, 2, 0x8000 | HOST_DEVCTL);
	CHECK_EQ(ev.mask, 0);

	/* Version 1: 0x24 bytes. */
	fake_build();
	fk_put(C_EXP + 2, 2, 0x0001);
	fk_put(C_EXP + 0x24, 4, 0xffffffffu);
	CHECK_EQ(init(), 0);
	CHECK_EQ(vc.pcie_size, 0x24);
	CHECK_EQ(rd(C_EXP + 0x24, 4), 0);
}

/* ---- power management ---- */

static void test_pm(void)
{
	fake_build();
	CHECK_EQ(init(), 0);
	fk.nlog = 0;

	CHECK_EQ(rd(C_PM + 2, 2), 0x0203); /* no PME; D1; version 3 */
	CHECK_EQ(rd(C_PM + 4, 4), 0x0008); /* D0, no soft reset, PME enable hidden */
	wr(C_PM + 4, 2, 0x0103); /* D3hot, PME enable */
	CHECK_EQ(rd(C_PM + 4, 2), 0x000b);
	CHECK_EQ(ev.mask, 0);
	wr(C_PM + 4, 2, 0x8000); /* D0, PME status */
	CHECK_EQ(ev.mask, VCONFIG_EV_D3_D0);
	CHECK_EQ(rd(C_PM + 4, 2), 0x0008);
	wr(C_PM + 4, 1, 0);
	CHECK_EQ(ev.mask, 0); /* D0 to D0 */
	wr(C_PM + 4, 1, 1); /* D1: supported */
	CHECK_EQ(rd(C_PM + 4, 1), 0x09);
	wr(C_PM + 4, 1, 2); /* D2: not supported, the write changes nothing */
	CHECK_EQ(rd(C_PM + 4, 1), 0x09);
	wr(C_PM + 4, 1, 0);
	CHECK_EQ(ev.mask, 0); /* D1 to D0 */
	wr(C_PM + 4, 4, 0xffffffffu);
	CHECK_EQ(rd(C_PM + 4, 4), 0x000b);
	wr(C_PM + 6, 2, 0xffff);
	CHECK_EQ(rd(C_PM + 4, 4), 0x000b);
	wr(C_PM + 4, 1, 0);
	CHECK_EQ(ev.mask, VCONFIG_EV_D3_D0);
	wr(C_PM + 2, 2, 0xffff);
	CHECK_EQ(rd(C_PM + 2, 2), 0x0203);
	CHECK_EQ(fk.nlog, 0);
	CHECK_EQ(fk_get(C_PM + 4, 2), 0x0108);
}

/* ---- every offset and size ---- */

/*
 * A vendor-specific capability of a sane length is shown as the device had
 * it at assignment (virtio's), chained in list order, read-only; one too
 * long for Keel to show (the fake's usual 0xef bytes) stays hidden.
 */
static void test_vendor(void)
{
	fake_build();
	fk_put(C_VNDR + 2, 1, 8);
	fk_put(C_VNDR + 3, 1, 0x11);
	fk_put(C_VNDR + 4, 4, 0xcafef00du);
	CHECK_EQ(init(), 0);
	CHECK(logged("vconfig 0000:03:00.0 8086:10d3: 4 BARs, MSI MSI-X PCIe PM 2 capabilities "
		     "hidden"));
	CHECK(vc.vndr_count == 1 && vc.vndr[0] == C_VNDR && vc.vndr_size[0] == 8);
	CHECK_EQ(rd(C_PM + 1, 1), C_VNDR);
	CHECK_EQ(rd(C_VNDR, 4), 0x11080009u | (C_MSI << 8));
	CHECK_EQ(rd(C_VNDR + 4, 4), 0xcafef00du);
	fk.nlog = 0;
	wr(C_VNDR + 4, 4, 0);
	wr(C_VNDR + 2, 1, 0x40);
	CHECK_EQ(fk.nlog, 0); /* nothing reached the device */
	CHECK_EQ(rd(C_VNDR, 4), 0x11080009u | (C_MSI << 8));
	CHECK_EQ(rd(C_VNDR + 4, 4), 0xcafef00du);
	fk_put(C_VNDR + 4, 4, 1); /* the device's own value moves: the guest's does not */
	CHECK_EQ(rd(C_VNDR + 4, 4), 0xcafef00du);

	fake_build(); /* 0xef bytes: past what Keel shows */
	CHECK_EQ(init(), 0);
	CHECK_EQ(vc.vndr_count, 0);
	CHECK_EQ(rd(C_PM + 1, 1), C_MSI);
}

static void test_sweep(void)
{
	static const u32 vals[] = { 0xffffffffu, 0, 0x5a5a5a5au, 0xa5a5a5a5u };
	u8 before[PCI_CFG_SIZE];

	fake_build();
	CHECK_EQ(init(), 0);
	memcpy(before, fk.cfg, sizeof(before));
	fk.nlog = 0;
	for (u32 off = 0; off < PCI_CFG_SIZE; off++) {
		for (u32 size = 0; size <= 8; size++) {
			bool ok = (size == 1 || size == 2 || size == 4) && off % size == 0;
			u32 r = rd(off, size);

			if (!ok)
				CHECK_EQ(r, size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1);
			else if (off >= 0x100)
				CHECK_EQ(r, 0);
		}
	}
	for (u32 k = 0; k < ARRAY_SIZE(vals); k++)
		for (u32 off = 0; off < PCI_CFG_SIZE + 8; off++)
			for (u32 size = 0; size <= 8; size++)
				wr(off, size, vals[k] ^ off);
	CHECK(writes_allowed());
	CHECK_EQ(fk.bad, 0);
	CHECK(fk.nlog > 0 && fk.nlog < LOG_MAX);
	/* The device changed only in command, status, device control and status. */
	for (u32 o = 0; o < PCI_CFG_SIZE; o++) {
		if ((o >= 4 && o < 8) || (o >= C_EXP + 8 && o < C_EXP + 0xc))
			continue;
		if (fk.cfg[o] != before[o]) {
			fprintf(stderr, "  device byte 0x%x changed\n", o);
			CHECK(false);
			break;
		}
	}
	/* IDs, chain and read-only registers as they were. */
	CHECK_EQ(rd(0, 4), 0x10d38086);
	CHECK_EQ(rd(0x34, 1), C_PM);
	CHECK_EQ(rd(C_PM, 2), 0x5001);
	CHECK_EQ(rd(C_MSI, 2), 0x7005);
	CHECK_EQ(rd(C_EXP, 2), 0xb010);
	CHECK_EQ(rd(C_MSIX, 2), 0x0011);
	CHECK_EQ(rd(C_MSIX + 4, 4), 4);
	CHECK_EQ(rd(C_VNDR, 4), 0);
	CHECK_EQ(rd(0x100, 4), 0);
	CHECK_EQ(rd(0x30, 4), 0);
}

/* ---- refused and odd devices ---- */

static void expect_refused(const char *line)
{
	CHECK_EQ(init(), -KEEL_EINVAL);
	CHECK(logged(line));
	CHECK_EQ(fk_get(PCI_COMMAND, 2) & 0x0007, 0); /* left off */
	CHECK_EQ(fk.bad, 0);
}

static void test_refused(void)
{
	struct vconfig_setup s = setup();

	fake_build();
	fk_put(0, 4, 0xffffffffu);
	CHECK_EQ(init(), -KEEL_EINVAL);
	CHECK(logged("vconfig 0000:03:00.0: no function answers there; not assigned"));

	fake_build();
	fk.cfg[PCI_HEADER_TYPE] = 0x81;
	CHECK_EQ(init(), -KEEL_EINVAL);
	CHECK(logged("vconfig 0000:03:00.0: header type 0x01 is not 0; not assigned"));

	fake_build();
	fk.cfg[C_MSIX + 1] = C_MSI; /* loops */
	expect_refused("vconfig 0000:03:00.0: its capability list is broken; not assigned");
	CHECK(logged("pci 0000:03:00.0: capability list loops at 0x50"));

	fake_build();
	fk.cfg[C_VPD + 1] = 0x3c; /* into the header */
	expect_refused("vconfig 0000:03:00.0: its capability list is broken; not assigned");
	CHECK(logged("capability pointer 0x3c is below 0x40"));

	fake_build();
	fk.cfg[C_AF + 1] = 0xf0; /* an MSI capability that runs past 0xff */
	cap(0xf0, 0x05, 0);
	fk_put(0xf2, 2, 0x0180); /* 64-bit, maskable: 24 bytes */
	fk.cfg[C_MSI] = 0x09; /* the first one is a vendor capability now */
	expect_refused("vconfig 0000:03:00.0: MSI capability at 0xf0 runs past 0xff; not assigned");

	fake_build();
	fk.cfg[C_MSIX + 1] = 0xf0;
	fk.cfg[C_EXP] = 0x09;
	cap(0xf0, 0x10, 0);
	fk_put(0xf2, 2, 0x0002); /* version 2, and not even Link Status below 0x100 */
	expect_refused(
		"vconfig 0000:03:00.0: PCIe capability at 0xf0 runs past 0xff; not assigned");

	/* QEMU's e1000e: version 2 at 0xe0. Shown up to 0xff; the rest reads 0. */
	fake_build();
	fk.cfg[C_MSIX + 1] = 0xe0;
	fk.cfg[C_EXP] = 0x09;
	cap(0xe0, 0x10, 0);
	fk_put(0xe2, 2, 0x0002);
	fk_put(0xe4, 4, 0x10008001); /* FLR, MPS 256 */
	CHECK_EQ(init(), 0);
	CHECK(vc.pcie == 0xe0 && vc.pcie_size == 0x20);
	CHECK_EQ(rd(0xe0, 2), 0x0010);
	CHECK_EQ(rd(0xe4, 4), 0x10008001);
	CHECK_EQ(rd(0x104, 4), 0); /* Device Capabilities 2: not there */

	fake_build();
	fk.cfg[C_MSIX + 1] = 0xa8; /* PM inside the PCIe capability (0x70-0xab) */
	cap(0xa8, 0x01, 0);
	fk.cfg[C_PM] = 0x09;
	expect_refused("vconfig 0000:03:00.0: power management capability at 0xa8 overlaps another "
		       "one; not assigned");

	fake_build();
	fk_put(0x24, 4, 0x4);
	fk.wmask[9] = 0xfff00000u;
	expect_refused("vconfig 0000:03:00.0: BAR5 is a 64-bit BAR: it has no upper half");

	fake_build();
	fk.wmask[4] = 0xfff0f000u;
	expect_refused("vconfig 0000:03:00.0: BAR0 sizes to 0xf1000, not a power of two");

	fake_build();
	fk.zero_sized = 1u << 4;
	expect_refused("vconfig 0000:03:00.0: BAR0 (0xfe000000) reads back no address bits when "
		       "sized");

	fake_build();
	fk.zero_sized = 1u << 7;
	expect_refused("vconfig 0000:03:00.0: BAR3 (0x0000e001) reads back no address bits when "
		       "sized");

	fake_build();
	fk_put(0x24, 4, 0x2); /* memory type 01 */
	expect_refused("vconfig 0000:03:00.0: BAR5 has the reserved memory type 1");

	fake_build();
	fk_put(C_MSIX + 4, 4, 0x3); /* the I/O BAR */
	expect_refused("vconfig 0000:03:00.0: its MSI-X table is in BAR3, not a memory BAR");
	fake_build();
	fk_put(C_MSIX + 8, 4, 0x2005); /* nothing in BAR5 */
	expect_refused("vconfig 0000:03:00.0: its MSI-X PBA is in BAR5, not a memory BAR");
	fake_build();
	fk_put(C_MSIX + 4, 4, 0x7);
	expect_refused("vconfig 0000:03:00.0: its MSI-X table is in BAR7, not a memory BAR");
	fake_build();
	fk_put(C_MSIX + 4, 4, 0x2);
	expect_refused("vconfig 0000:03:00.0: its MSI-X table is in BAR2, not a memory BAR");
	fake_build();
	fk_put(C_MSIX + 4, 4, 0x3f0c); /* 16 entries from 0x3f08: past 16 KiB */
	expect_refused("vconfig 0000:03:00.0: its MSI-X table at 0x3f08 runs past BAR4");
	fake_build();
	fk_put(C_MSIX + 8, 4, 0x4004);
	expect_refused("vconfig 0000:03:00.0: its MSI-X PBA at 0x4000 runs past BAR4");
	fake_build();
	fk_put(C_MSIX + 8, 4, 0xfffffff8 | 4);
	expect_refused("vconfig 0000:03:00.0: its MSI-X PBA at 0xfffffff8 runs past BAR4");

	/* Bad setups: no access. */
	fake_build();
	s.ops = NULL;
	CHECK_EQ(vconfig_init(&vc, &s), -KEEL_EINVAL);
	CHECK_EQ(vconfig_init(&vc, NULL), -KEEL_EINVAL);
	CHECK_EQ(fk.nlog, 0);
}

static void test_odd(void)
{
	/* A chain of hidden capabilities only: no list for the guest. */
	fake_build();
	fk.cfg[PCI_CAP_PTR] = C_VNDR;
	fk.cfg[C_VNDR + 1] = C_VPD;
	fk.cfg[C_VPD + 1] = C_AF;
	fk_put(PCI_STATUS, 2, 0x0010);
	CHECK_EQ(init(), 0);
	CHECK_EQ(rd(PCI_CAP_PTR, 1), 0);
	CHECK_EQ(rd(PCI_STATUS, 2), 0);
	CHECK(!vc.msi && !vc.msix && !vc.pcie && !vc.pm);
	CHECK(logged("4 BARs, 3 capabilities hidden"));
	for (u32 o = 0x40; o < 0x100; o++)
		CHECK_EQ(rd(o, 1), 0);
	vconfig_msix_table_write(&vc, 0, 4, 0, &ev);
	CHECK_EQ(ev.mask, 0);
	CHECK_EQ(vconfig_msix_table_read(&vc, 0, 4), 0xffffffffu);
	CHECK(vconfig_msix_entry(&vc, 0) == NULL);

	/* No list at all; the status bit says so. */
	fake_build();
	fk_put(PCI_STATUS, 2, 0);
	CHECK_EQ(init(), 0);
	CHECK_EQ(rd(PCI_CAP_PTR, 1), 0);
	CHECK(logged("4 BARs, 0 capabilities hidden"));

	/* A second MSI capability is hidden; the first one wins. */
	fake_build();
	fk.cfg[C_AF] = 0x05;
	CHECK_EQ(init(), 0);
	CHECK_EQ(vc.msi, C_MSI);
	CHECK_EQ(rd(C_MSIX + 1, 1), 0);
	CHECK_EQ(rd(C_AF, 4), 0);

	/* A BAR the firmware left at 0 is hidden; a 256-byte one is never mappable. */
	fake_build();
	fk_put(0x10, 4, 0);
	fk.wmask[7] = 0x0000ffe0u; /* 16-bit I/O decode */
	CHECK_EQ(init(), 0);
	CHECK(logged("vconfig 0000:03:00.0: BAR0 is not assigned by the firmware; hidden"));
	CHECK_EQ(vc.bar[0].type, VCONFIG_BAR_NONE);
	wr(0x10, 4, 0xffffffffu);
	CHECK_EQ(rd(0x10, 4), 0);
	CHECK_EQ(ev.mask, 0);
	wr(0x1c, 4, 0xffffffffu);
	CHECK_EQ(rd(0x1c, 4), 0x0000ffe1);
	CHECK_EQ(vc.bar[3].size, 32);

	fake_build();
	fk.wmask[4] = 0xffffff00u;
	CHECK_EQ(init(), 0);
	CHECK(logged("vconfig 0000:03:00.0: BAR0 has 256 bytes, less than a page; never mapped"));
	CHECK(vc.bar[0].sub_page && vc.bar[0].size == 256);
	wr(0x10, 4, 0xc0000000u);
	CHECK_EQ(ev.bars_unmappable, 1);
	wr(PCI_COMMAND, 2, 2);
	CHECK(!vconfig_bar_live(&vc, 0));

	/* No I/O BAR: I/O space enable reads 0, and the device does not decode I/O. */
	fake_build();
	fk_put(0x1c, 4, 0);
	fk.wmask[7] = 0;
	CHECK_EQ(init(), 0);
	CHECK_EQ(vc.bar[3].type, VCONFIG_BAR_NONE);
	CHECK_EQ(fk_get(PCI_COMMAND, 2), (BASE_CMD & ~1u) | 0x0400);
	wr(PCI_COMMAND, 2, 0xffff);
	CHECK_EQ(rd(PCI_COMMAND, 2), 0x0546);
	CHECK_EQ(fk_get(PCI_COMMAND, 2), (BASE_CMD & ~1u) | 0x0404);

	/* An unassigned 64-bit BAR hides both halves. */
	fake_build();
	fk_put(0x14, 4, 0x0000000c);
	fk_put(0x18, 4, 0);
	CHECK_EQ(init(), 0);
	CHECK(vc.bar[1].type == VCONFIG_BAR_NONE && vc.bar[2].type == VCONFIG_BAR_NONE);
	wr(0x14, 4, 0xffffffffu);
	wr(0x18, 4, 0xffffffffu);
	CHECK_EQ(rd(0x14, 4), 0);
	CHECK_EQ(rd(0x18, 4), 0);
	/* A 64-bit BAR of 8 GiB: the low dword has no address bits. */
	fake_build();
	fk.wmask[5] = 0;
	fk.wmask[6] = 0xfffffffeu;
	fk_put(0x18, 4, 0x4);
	CHECK_EQ(init(), 0);
	CHECK_EQ(vc.bar[1].size, 0x200000000ull);
	CHECK_EQ(vc.bar[1].hpa, 0x400000000ull);
	wr(0x14, 4, 0xffffffffu);
	wr(0x18, 4, 0xffffffffu);
	CHECK_EQ(rd(0x14, 4), 0x0000000c);
	CHECK_EQ(rd(0x18, 4), 0xfffffffeu);
}

/* ---- FLR and reset ---- */

static void test_reset(void)
{
	u8 bars[0x18];

	fake_build();
	CHECK_EQ(init(), 0);
	memcpy(bars, fk.cfg + 0x10, sizeof(bars));
	wr(0x10, 4, 0xc0000000u);
	wr(0x14, 4, 0xc1000000u);
	wr(0x3c, 1, 11);
	wr(PCI_COMMAND, 2, 0x0006);
	wr(C_MSI + 2, 2, 1);
	wr(C_MSIX + 2, 2, 0x8000);
	vconfig_msix_table_write(&vc, 0x2c, 4, 0, &ev);
	wr(C_EXP + 8, 2, 0x0000);
	wr(C_PM + 4, 2, 3);
	wr(C_EXP + 8, 2, 0x8000);
	CHECK_EQ(ev.mask, VCONFIG_EV_FLR);

	/* The caller resets the function: its BARs' addresses and command are 0 after. */
	for (u32 d = 4; d < 10; d++)
		fk_put(d * 4, 4, fk_get(d * 4, 4) & ~fk.wmask[d]);
	fk_put(PCI_COMMAND, 2, 0);
	fk_put(C_EXP + 8, 2, 0x2810);
	fk.nlog = 0;
	vconfig_reset(&vc, &ev);
	CHECK_EQ(ev.mask, VCONFIG_EV_DECODE | VCONFIG_EV_BAR | VCONFIG_EV_MSI |
				  VCONFIG_EV_MSIX_CTRL | VCONFIG_EV_MSIX_ENTRY);
	CHECK_EQ(ev.bars_moved, 3);
	CHECK_EQ(ev.bar_gpa[0], 0);
	CHECK_EQ(ev.msix_changed, BIT(2));
	CHECK(!ev.msi_enabled && !ev.msix_enabled && ev.cmd == 0);
	CHECK(memcmp(fk.cfg + 0x10, bars, sizeof(bars)) == 0);
	CHECK_EQ(fk_get(PCI_COMMAND, 2), BASE_CMD | 0x0400);
	CHECK_EQ(fk_get(C_EXP + 8, 2), HOST_DEVCTL);
	CHECK_EQ(rd(PCI_COMMAND, 2), 0);
	CHECK_EQ(rd(0x10, 4), 0);
	CHECK_EQ(rd(0x3c, 1), 11);
	CHECK_EQ(rd(C_PM + 4, 1), 0x08);
	CHECK_EQ(rd(C_EXP + 8, 2), HOST_DEVCTL);
	CHECK_EQ(vconfig_msix_table_read(&vc, 0x2c, 4), 1);
	CHECK_EQ(fk.bad, 0);
	/* Unchanged state: nothing to report. */
	vconfig_reset(&vc, &ev);
	CHECK_EQ(ev.mask, 0);
}

/* ---- a few thousand random accesses ---- */

static void test_random(void)
{
	unsigned long long st = 0x243f6a8885a308d3ull;
	u8 before[PCI_CFG_SIZE];

	fake_build();
	CHECK_EQ(init(), 0);
	memcpy(before, fk.cfg, sizeof(before));
	fk.nlog = 0;
	for (u32 n = 0; n < 20000; n++) {
		u64 r = unit_rand(&st);
		u32 size = (r & 0xf) < 12 ? 1u << (r & 3) % 3 : (u32)(r & 7);
		u32 off = (r >> 8) & 0xf ? (u32)(r >> 16) & 0xff : (u32)(r >> 16) & 0x1fff;
		u32 val = (u32)(unit_rand(&st) >> 7);

		if (fk.nlog > LOG_MAX - 16)
			fk.nlog = 0;
		switch ((r >> 4) & 7) {
		case 0:
		case 1:
		case 2:
			wr(off, size, val);
			break;
		case 3:
			vconfig_msix_table_write(&vc, (r >> 32) & 0x1ff, size, unit_rand(&st), &ev);
			break;
		case 4:
			(void)vconfig_msix_table_read(&vc, (r >> 32) & 0x1ff, size);
			break;
		case 5:
			if ((r >> 40) % 64 == 0) {
				vconfig_reset(&vc, &ev);
				fk.nlog = 0; /* BARs written back: compared at the end */
			}
			break;
		default:
			(void)rd(off, size);
			break;
		}
		if (!writes_allowed()) {
			CHECK(false);
			break;
		}
	}
	CHECK_EQ(fk.bad, 0);
	CHECK(memcmp(fk.cfg + 0x10, before + 0x10, 0x18) == 0);
	CHECK(memcmp(fk.cfg + C_MSI, before + C_MSI, 24) == 0);
	CHECK(memcmp(fk.cfg + C_MSIX, before + C_MSIX, 12) == 0);
	CHECK(memcmp(fk.cfg + C_PM, before + C_PM, 8) == 0);
	CHECK_EQ(rd(0, 4), 0x10d38086);
	CHECK_EQ(rd(0x34, 1), C_PM);
	CHECK_EQ(rd(C_MSIX + 1, 1), 0);
	CHECK_EQ(rd(PCI_HEADER_TYPE, 1), 0);
	for (u32 i = 0; i < 16; i++) {
		CHECK_EQ(vconfig_msix_table_read(&vc, i * 16, 4) & 3, 0);
		CHECK_EQ(vconfig_msix_table_read(&vc, i * 16 + 12, 4) & ~1u, 0);
	}
}

int main(void)
{
	test_init();
	test_bars();
	test_command();
	test_msi();
	test_msix();
	test_pcie();
	test_pm();
	test_vendor();
	test_sweep();
	test_refused();
	test_odd();
	test_reset();
	test_random();
	return unit_done("test_vconfig");
}
