/* SPDX-License-Identifier: MIT */
/*
 * Host PCI enumeration (vfio/pci.c) on a fake config space, and the ECAM
 * windows (vfio/ecam.c) on a plain array: requester IDs, aliases, groups,
 * bus mastering, and hostile capability lists, bridges and windows.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/abi.h>
#include <keel/boot_info.h>
#include <keel/hmap.h>
#include <keel/pci.h>

#include "unit.h"

extern char unit_log[];
extern size_t unit_log_len;

/* ---- a fake config space: the functions present, each with its 4 KiB ---- */

#define FAKE_MAX 48

struct fake_fn {
	u16 bdf;
	u8 cfg[PCI_CFG_SIZE];
};

static struct fake_fn fake_fns[FAKE_MAX];
static u32 fake_n;
static u8 fake_lo, fake_hi; /* buses the scan may touch */
static u32 fake_outside; /* accesses to other buses */
static u32 fake_bad_writes; /* writes anywhere but a command register */
static u32 fake_reads[256]; /* per bus */

static void fake_reset(u8 lo, u8 hi)
{
	memset(fake_fns, 0, sizeof(fake_fns));
	fake_n = 0;
	fake_lo = lo;
	fake_hi = hi;
	fake_outside = fake_bad_writes = 0;
	memset(fake_reads, 0, sizeof(fake_reads));
	unit_log_len = 0;
	unit_log[0] = 0;
}

static struct fake_fn *fake_find(u16 bdf)
{
	for (u32 i = 0; i < fake_n; i++)
		if (fake_fns[i].bdf == bdf)
			return &fake_fns[i];
	return NULL;
}

static u32 fake_read(void *ctx, u16 bdf, u16 off, u32 size)
{
	struct fake_fn *f = fake_find(bdf);
	u32 v = 0;

	CHECK(ctx == &fake_fns);
	CHECK(size == 1 || size == 2 || size == 4);
	CHECK(off % size == 0 && off + size <= PCI_CFG_SIZE);
	fake_reads[PCI_BDF_BUS(bdf)]++;
	if (PCI_BDF_BUS(bdf) < fake_lo || PCI_BDF_BUS(bdf) > fake_hi)
		fake_outside++;
	if (!f || off + size > PCI_CFG_SIZE)
		return size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
	memcpy(&v, f->cfg + off, size);
	return v;
}

static void fake_write(void *ctx, u16 bdf, u16 off, u32 size, u32 val)
{
	struct fake_fn *f = fake_find(bdf);

	if (off != PCI_COMMAND || size != 2 || !f) {
		fake_bad_writes++;
		return;
	}
	memcpy(f->cfg + off, &val, size);
}

static const struct pci_cfg_ops fake_ops = { .read = fake_read, .write = fake_write };

static void put16(struct fake_fn *f, u32 off, u16 v)
{
	memcpy(f->cfg + off, &v, 2);
}

static void put32(struct fake_fn *f, u32 off, u32 v)
{
	memcpy(f->cfg + off, &v, 4);
}

static u16 get16(const struct fake_fn *f, u32 off)
{
	u16 v;

	memcpy(&v, f->cfg + off, 2);
	return v;
}

static struct fake_fn *fake_add(u8 bus, u8 dev, u8 fn, u16 vendor, u16 device, u32 class, u8 hdr,
				u16 cmd)
{
	struct fake_fn *f = &fake_fns[fake_n++];

	if (fake_n > FAKE_MAX)
		abort();
	f->bdf = PCI_BDF(bus, dev, fn);
	put16(f, PCI_VENDOR_ID, vendor);
	put16(f, PCI_DEVICE_ID, device);
	put32(f, PCI_CLASS_REV, class << 8 | 0x01);
	f->cfg[PCI_HEADER_TYPE] = hdr;
	put16(f, PCI_COMMAND, cmd);
	return f;
}

static struct fake_fn *fake_endpoint(u8 bus, u8 dev, u8 fn, u16 cmd)
{
	return fake_add(bus, dev, fn, 0x1234, (u16)(0x1000 | bus << 4 | dev), 0x020000, 0, cmd);
}

static struct fake_fn *fake_bridge(u8 bus, u8 dev, u8 fn, u8 sec, u8 sub, u16 cmd)
{
	struct fake_fn *f = fake_add(bus, dev, fn, 0x8086, 0x2448, 0x060400, 1, cmd);

	f->cfg[0x18] = bus;
	f->cfg[PCI_SECONDARY_BUS] = sec;
	f->cfg[PCI_SUBORDINATE_BUS] = sub;
	return f;
}

/* Append a standard capability @id at @at to @f's list. */
static void fake_cap(struct fake_fn *f, u8 at, u8 id)
{
	u8 *link = &f->cfg[PCI_CAP_PTR];

	put16(f, PCI_STATUS, get16(f, PCI_STATUS) | PCI_STATUS_CAP_LIST);
	while (*link)
		link = &f->cfg[*link + 1];
	*link = at;
	f->cfg[at] = id;
	f->cfg[at + 1] = 0;
}

static void fake_pcie(struct fake_fn *f, u8 at, u8 type)
{
	fake_cap(f, at, PCI_CAP_ID_EXP);
	put16(f, at + PCI_EXP_FLAGS, (u16)(type << 4 | 2));
}

static void fake_ext(struct fake_fn *f, u16 at, u16 id, u16 next)
{
	put32(f, at, (u32)next << 20 | 1u << 16 | id);
}

static void fake_acs(struct fake_fn *f, u16 at, u16 next, u16 caps, u16 ctrl)
{
	fake_ext(f, at, PCI_EXT_CAP_ID_ACS, next);
	put16(f, at + PCI_ACS_CAP, caps);
	put16(f, at + PCI_ACS_CTRL, ctrl);
}

#define ACS_PORT (PCI_ACS_SV | PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF)
#define ACS_MF (PCI_ACS_RR | PCI_ACS_CR)

static struct pci_func funcs[64];

static struct pci_scan scan_of(u16 seg, u8 lo, u8 hi)
{
	struct pci_scan s = {
		.ops = &fake_ops,
		.ctx = &fake_fns,
		.seg = seg,
		.start_bus = lo,
		.end_bus = hi,
		.funcs = funcs,
		.max_funcs = ARRAY_SIZE(funcs),
	};

	memset(funcs, 0, sizeof(funcs));
	return s;
}

static const struct pci_func *rec(const struct pci_scan *s, u8 bus, u8 dev, u8 fn)
{
	for (u32 i = 0; i < s->count; i++)
		if (s->funcs[i].bdf == PCI_BDF(bus, dev, fn))
			return &s->funcs[i];
	return NULL;
}

/* @line was logged as a whole line: the next line (all start "pci") or the end follows. */
#define CHECK_LOG(line) CHECK_LOGGED(unit_log, line, "pci")
#define logged(line) unit_logged(unit_log, line, "pci")

static u16 cmd_of(u8 bus, u8 dev, u8 fn)
{
	return get16(fake_find(PCI_BDF(bus, dev, fn)), PCI_COMMAND);
}

/* ---- a host with every kind of bridge and device Keel distinguishes ---- */

static void build_host(void)
{
	struct fake_fn *f;

	fake_reset(0, 15);
	fake_add(0, 0, 0, 0x8086, 0x29c0, 0x060000, 0, 0x0006); /* host bridge */
	/* Root port without ACS, an endpoint behind it. */
	f = fake_bridge(0, 1, 0, 1, 1, 0x0007);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_ROOT_PORT);
	f = fake_endpoint(1, 0, 0, 0x0006);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_ENDPOINT);
	/* Root port with ACS, an endpoint behind it. */
	f = fake_bridge(0, 2, 0, 2, 2, 0x0004);
	fake_cap(f, 0x50, 0x05); /* MSI first: the PCIe capability is found further on */
	fake_pcie(f, 0x60, PCI_EXP_TYPE_ROOT_PORT);
	fake_ext(f, 0x100, 0x0001, 0x140); /* AER, then ACS */
	fake_acs(f, 0x140, 0, ACS_PORT | BIT(1), ACS_PORT);
	f = fake_endpoint(2, 0, 0, 0x0004);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_ENDPOINT);
	/* PCIe-to-PCI bridge: conventional devices and a conventional bridge behind it. */
	f = fake_bridge(0, 3, 0, 3, 4, 0x0004);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_PCI_BRIDGE);
	fake_endpoint(3, 1, 0, 0x0004);
	fake_endpoint(3, 2, 0, 0x0000);
	fake_bridge(3, 3, 0, 4, 4, 0x0004);
	fake_endpoint(4, 0, 0, 0x0004);
	/* Multifunction without ACS (function 2 missing): one group. */
	f = fake_endpoint(0, 4, 0, 0x0004);
	f->cfg[PCI_HEADER_TYPE] |= PCI_HEADER_MULTI;
	fake_pcie(f, 0x40, PCI_EXP_TYPE_RC_END);
	f = fake_endpoint(0, 4, 1, 0);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_RC_END);
	fake_endpoint(0, 4, 3, 0);
	/* Multifunction with ACS redirecting on every function: a group each. */
	for (u8 fn = 0; fn < 2; fn++) {
		f = fake_endpoint(0, 5, fn, 0);
		f->cfg[PCI_HEADER_TYPE] |= fn ? 0 : PCI_HEADER_MULTI;
		fake_pcie(f, 0x40, PCI_EXP_TYPE_RC_END);
		fake_acs(f, 0x100, 0, ACS_MF, ACS_MF);
	}
	/* Multifunction where one function has ACS but leaves it off: one group. */
	for (u8 fn = 0; fn < 2; fn++) {
		f = fake_endpoint(0, 6, fn, 0);
		f->cfg[PCI_HEADER_TYPE] |= fn ? 0 : PCI_HEADER_MULTI;
		fake_pcie(f, 0x40, PCI_EXP_TYPE_RC_END);
		fake_acs(f, 0x100, 0, ACS_MF, fn ? 0 : ACS_MF);
	}
	/* Conventional PCI bridge on the root bus: it DMAs as itself for what is below. */
	fake_bridge(0, 7, 0, 5, 5, 0x0004);
	fake_endpoint(5, 0, 0, 0);
	/* A switch behind an ACS root port: one downstream port with ACS, one without. */
	f = fake_bridge(0, 8, 0, 6, 9, 0x0004);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_ROOT_PORT);
	fake_acs(f, 0x100, 0, ACS_PORT, ACS_PORT);
	f = fake_bridge(6, 0, 0, 7, 9, 0x0004);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_UPSTREAM);
	f = fake_bridge(7, 0, 0, 8, 8, 0x0004);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_DOWNSTREAM);
	fake_acs(f, 0x100, 0, ACS_PORT, ACS_PORT);
	f = fake_endpoint(8, 0, 0, 0);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_ENDPOINT);
	f = fake_bridge(7, 1, 0, 9, 9, 0x0004);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_DOWNSTREAM);
	f = fake_endpoint(9, 0, 0, 0x0006);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_ENDPOINT);
	/* An endpoint with bus mastering already off. */
	fake_add(0, 0x1f, 0, 0x8086, 0x2918, 0x060100, 0, 0x0003);
	/* A second root bus (a host bridge of its own): behind no bridge. */
	fake_endpoint(12, 0, 0, 0x0004);
}

static void test_host(void)
{
	struct pci_scan s;
	const struct pci_func *f;
	static const struct {
		u8 bus, dev, fn;
		u32 group;
		u16 dma_rid;
	} want[] = {
		{ 0, 0, 0, 0, 0x0000 },	 { 0, 1, 0, 1, 0x0008 },     { 1, 0, 0, 1, 0x0100 },
		{ 0, 2, 0, 2, 0x0010 },	 { 2, 0, 0, 3, 0x0200 },     { 0, 3, 0, 4, 0x0018 },
		{ 3, 1, 0, 4, 0x0300 },	 { 3, 2, 0, 4, 0x0300 },     { 3, 3, 0, 4, 0x0300 },
		{ 4, 0, 0, 4, 0x0300 },	 { 0, 4, 0, 5, 0x0020 },     { 0, 4, 1, 5, 0x0021 },
		{ 0, 4, 3, 5, 0x0023 },	 { 0, 5, 0, 6, 0x0028 },     { 0, 5, 1, 7, 0x0029 },
		{ 0, 6, 0, 8, 0x0030 },	 { 0, 6, 1, 8, 0x0031 },     { 0, 7, 0, 9, 0x0038 },
		{ 5, 0, 0, 9, 0x0038 },	 { 0, 8, 0, 10, 0x0040 },    { 6, 0, 0, 11, 0x0600 },
		{ 7, 0, 0, 12, 0x0700 }, { 8, 0, 0, 13, 0x0800 },    { 7, 1, 0, 14, 0x0708 },
		{ 9, 0, 0, 14, 0x0900 }, { 0, 0x1f, 0, 15, 0x00f8 }, { 12, 0, 0, 16, 0x0c00 },
	};

	build_host();
	s = scan_of(0, 0, 15);
	CHECK_EQ(pci_scan(&s), 0);
	CHECK_EQ(s.found, ARRAY_SIZE(want));
	CHECK_EQ(s.count, ARRAY_SIZE(want));
	CHECK_EQ(s.next_group, 17);
	/* Records come in depth-first order. */
	for (u32 i = 0; i < ARRAY_SIZE(want) && i < s.count; i++) {
		f = &s.funcs[i];
		CHECK_EQ(f->bdf, PCI_BDF(want[i].bus, want[i].dev, want[i].fn));
		CHECK_EQ(f->group, want[i].group);
		CHECK_EQ(f->dma_rid, want[i].dma_rid);
		CHECK_EQ(f->seg, 0);
		CHECK(!(f->flags & (PCI_F_BAD_CAPS | PCI_F_REFUSED)));
	}
	CHECK_EQ(fake_outside, 0);
	CHECK_EQ(fake_bad_writes, 0);

	/* What each function is. */
	f = rec(&s, 0, 0, 0);
	CHECK(f && f->vendor == 0x8086 && f->device == 0x29c0 && f->class == 0x060000);
	CHECK(f && f->hdr_type == PCI_HEADER_NORMAL && f->pcie_type == PCI_NOT_PCIE);
	CHECK(f && f->parent == PCI_NONE);
	f = rec(&s, 0, 2, 0);
	CHECK(f && f->pcie_cap == 0x60 && f->pcie_type == PCI_EXP_TYPE_ROOT_PORT);
	CHECK(f && f->acs_cap == 0x140 && f->acs_ctrl == ACS_PORT && (f->flags & PCI_F_ACS));
	CHECK(f && f->sec_bus == 2 && f->sub_bus == 2 && f->hdr_type == PCI_HEADER_BRIDGE);
	f = rec(&s, 2, 0, 0);
	CHECK(f && f->parent == 3 && !(f->flags & PCI_F_ALIASED));
	f = rec(&s, 4, 0, 0);
	CHECK(f && f->parent == 8 && (f->flags & PCI_F_ALIASED) && f->pcie_type == PCI_NOT_PCIE);
	f = rec(&s, 3, 3, 0);
	CHECK(f && (f->flags & PCI_F_ALIASED)); /* the bridge below is tagged by the one above */
	f = rec(&s, 0, 3, 0);
	CHECK(f && !(f->flags & PCI_F_ALIASED) && f->pcie_type == PCI_EXP_TYPE_PCI_BRIDGE);
	f = rec(&s, 0, 4, 3);
	CHECK(f && (f->flags & PCI_F_MULTI));
	f = rec(&s, 0, 0x1f, 0);
	CHECK(f && !(f->flags & PCI_F_MULTI));

	/*
	 * Bus mastering off and INTx disabled on endpoints, other command bits
	 * kept; bridges and the host bridge untouched.
	 */
	CHECK_EQ(s.master_off, 7);
	CHECK_EQ(cmd_of(0, 0, 0), 0x0006);
	CHECK_EQ(cmd_of(0, 1, 0), 0x0007);
	CHECK_EQ(cmd_of(1, 0, 0), 0x0402);
	CHECK_EQ(cmd_of(0, 2, 0), 0x0004);
	CHECK_EQ(cmd_of(2, 0, 0), 0x0400);
	CHECK_EQ(cmd_of(0, 3, 0), 0x0004);
	CHECK_EQ(cmd_of(3, 1, 0), 0x0400);
	CHECK_EQ(cmd_of(3, 3, 0), 0x0004);
	CHECK_EQ(cmd_of(4, 0, 0), 0x0400);
	CHECK_EQ(cmd_of(0, 4, 0), 0x0400);
	CHECK_EQ(cmd_of(9, 0, 0), 0x0402);
	CHECK_EQ(cmd_of(0, 0x1f, 0), 0x0403);
	CHECK_EQ(cmd_of(12, 0, 0), 0x0400);

	/* The boot log: a line per function, then the summary. */
	CHECK_LOG("pci 0000:00:00.0 8086:29c0 class 060000 group 0");
	CHECK_LOG("pci 0000:00:01.0 8086:2448 class 060400 group 1 bridge 01-01");
	CHECK_LOG("pci 0000:01:00.0 1234:1010 class 020000 group 1");
	CHECK_LOG("pci 0000:03:01.0 1234:1031 class 020000 group 4 alias 03:00.0");
	CHECK_LOG("pci 0000:03:03.0 8086:2448 class 060400 group 4 bridge 04-04 alias 03:00.0");
	CHECK_LOG("pci 0000:05:00.0 1234:1050 class 020000 group 9 alias 00:07.0");
	CHECK_LOG("pci 0000:00:1f.0 8086:2918 class 060100 group 15");
	CHECK_LOG("pci 0000:0c:00.0 1234:10c0 class 020000 group 16");
	CHECK_LOG("pci: 27 functions on segment 0000, bus master turned off on 7");
	CHECK(strstr(unit_log, "ignored") == NULL && strstr(unit_log, "not followed") == NULL);

	/* A second window continues the records and the group numbers. */
	{
		struct pci_scan s2 = s;

		fake_reset(0, 0);
		fake_endpoint(0, 0, 0, 0x0004);
		s2.seg = 1;
		s2.start_bus = s2.end_bus = 0;
		s2.first_group = s.next_group;
		CHECK_EQ(pci_scan(&s2), 0);
		CHECK_EQ(s2.count, s.count + 1);
		CHECK_EQ(s2.funcs[s.count].seg, 1);
		CHECK_EQ(s2.funcs[s.count].group, 17);
		CHECK_EQ(s2.next_group, 18);
		CHECK_LOG("pci 0001:00:00.0 1234:1000 class 020000 group 17");
		CHECK_LOG("pci: 1 functions on segment 0001, bus master turned off on 1");
	}
}

/* ---- hostile capability lists ---- */

static void test_caps(void)
{
	struct fake_fn *f;
	struct pci_scan s;
	const struct pci_func *r;

	fake_reset(0, 0);
	f = fake_endpoint(0, 0, 0, 0); /* a standard list that loops */
	fake_cap(f, 0x40, 0x05);
	fake_cap(f, 0x50, 0x11);
	f->cfg[0x51] = 0x40;
	f = fake_endpoint(0, 1, 0, 0); /* a pointer into the header, low bits set */
	fake_cap(f, 0x40, 0x05);
	f->cfg[0x41] = 0x23;
	f = fake_endpoint(0, 2, 0, 0); /* a v2 PCIe capability that runs past 0xff */
	fake_pcie(f, 0xf0, PCI_EXP_TYPE_ENDPOINT);
	f = fake_endpoint(0, 3, 0, 0); /* an extended pointer below 0x100 */
	fake_pcie(f, 0x40, PCI_EXP_TYPE_ENDPOINT);
	fake_ext(f, 0x100, 0x0001, 0x080);
	f = fake_endpoint(0, 4, 0, 0); /* an extended list that loops */
	fake_pcie(f, 0x40, PCI_EXP_TYPE_ENDPOINT);
	fake_ext(f, 0x100, 0x0001, 0x200);
	fake_ext(f, 0x200, 0x0002, 0x100);
	f = fake_endpoint(0, 5, 0, 0); /* ACS that runs past 0xfff */
	fake_pcie(f, 0x40, PCI_EXP_TYPE_ENDPOINT);
	fake_ext(f, 0x100, 0x0001, 0xffc);
	fake_ext(f, 0xffc, PCI_EXT_CAP_ID_ACS, 0);
	f = fake_endpoint(0, 6, 0, 0); /* an extended header of all ones midway */
	fake_pcie(f, 0x40, PCI_EXP_TYPE_ENDPOINT);
	fake_ext(f, 0x100, 0x0001, 0x200);
	put32(f, 0x200, 0xffffffffu);
	f = fake_endpoint(0, 7, 0, 0); /* conventional: its extended space is not read */
	fake_ext(f, 0x100, PCI_EXT_CAP_ID_ACS, 0x100);
	f = fake_endpoint(0, 8, 0, 0); /* a capability list bit without a list */
	put16(f, PCI_STATUS, PCI_STATUS_CAP_LIST);
	f = fake_add(0, 10, 0, 0x1234, 0x5678, 0x020000, 0x05, 0x0006); /* unknown layout */
	fake_cap(f, 0x40, 0x05);
	f->cfg[0x41] = 0x40;

	s = scan_of(0, 0, 0);
	CHECK_EQ(pci_scan(&s), 0);
	CHECK_EQ(s.count, 10);
	/* A layout Keel does not know: recorded, its list not read, bus mastering off. */
	CHECK_LOG("pci 0000:00:0a.0: header type 0x05 is unknown; capabilities not read");
	CHECK(rec(&s, 0, 10, 0) && rec(&s, 0, 10, 0)->hdr_type == 5);
	CHECK(rec(&s, 0, 10, 0) && !(rec(&s, 0, 10, 0)->flags & PCI_F_BAD_CAPS));
	CHECK_EQ(cmd_of(0, 10, 0), 0x0402);
	CHECK_EQ(s.master_off, 1);
	for (u8 dev = 0; dev <= 6; dev++) {
		r = rec(&s, 0, dev, 0);
		CHECK(r && (r->flags & PCI_F_BAD_CAPS));
	}
	CHECK(rec(&s, 0, 7, 0) && !(rec(&s, 0, 7, 0)->flags & PCI_F_BAD_CAPS));
	CHECK(rec(&s, 0, 8, 0) && !(rec(&s, 0, 8, 0)->flags & PCI_F_BAD_CAPS));
	CHECK_EQ(rec(&s, 0, 2, 0)->pcie_cap, 0);
	CHECK_EQ(rec(&s, 0, 2, 0)->pcie_type, PCI_NOT_PCIE);
	CHECK_EQ(rec(&s, 0, 3, 0)->pcie_cap, 0x40); /* what was found before the break stays */
	CHECK_EQ(rec(&s, 0, 5, 0)->acs_cap, 0);
	CHECK_EQ(rec(&s, 0, 7, 0)->acs_cap, 0);
	CHECK_LOG(
		"pci 0000:00:00.0: capability list loops at 0x40; the list is ignored from there");
	CHECK_LOG("pci 0000:00:01.0: capability pointer 0x20 is below 0x40; the list is ignored "
		  "from there");
	CHECK_LOG("pci 0000:00:02.0: PCIe capability at 0xf0 runs past 0xff; ignored");
	CHECK_LOG("pci 0000:00:03.0: extended capability pointer 0x080 is below 0x100; the list "
		  "is ignored from there");
	CHECK_LOG("pci 0000:00:04.0: extended capability list loops at 0x100; the list is "
		  "ignored from there");
	CHECK_LOG("pci 0000:00:05.0: ACS capability at 0xffc runs past 0xfff; ignored");
	CHECK_LOG("pci 0000:00:06.0: extended capability at 0x200 reads as all ones; the list is "
		  "ignored from there");
	CHECK_EQ(fake_bad_writes, 0);

	/* The lookups later steps use. */
	CHECK_EQ(pci_cap_find(&fake_ops, &fake_fns, 0, PCI_BDF(0, 0, 0), 0x05), 0x40);
	CHECK_EQ(pci_cap_find(&fake_ops, &fake_fns, 0, PCI_BDF(0, 0, 0), 0x11), 0x50);
	CHECK_EQ(pci_cap_find(&fake_ops, &fake_fns, 0, PCI_BDF(0, 0, 0), 0x10), -KEEL_EINVAL);
	CHECK_EQ(pci_cap_find(&fake_ops, &fake_fns, 0, PCI_BDF(0, 8, 0), 0x10), 0);
	CHECK_EQ(pci_cap_find(&fake_ops, &fake_fns, 0, PCI_BDF(0, 9, 0), 0x10), 0); /* absent */
	CHECK_EQ(pci_ext_cap_find(&fake_ops, &fake_fns, 0, PCI_BDF(0, 4, 0), 0x0002), 0x200);
	CHECK_EQ(pci_ext_cap_find(&fake_ops, &fake_fns, 0, PCI_BDF(0, 4, 0), 0x0003), -KEEL_EINVAL);
	CHECK_EQ(pci_ext_cap_find(&fake_ops, &fake_fns, 0, PCI_BDF(0, 5, 0), PCI_EXT_CAP_ID_ACS),
		 0xffc);
	CHECK_EQ(pci_ext_cap_find(&fake_ops, &fake_fns, 0, PCI_BDF(0, 8, 0), 0x0001), 0);
}

/* ---- hostile bridges and absent functions ---- */

static void test_bridges(void)
{
	struct fake_fn *f;
	struct pci_scan s;
	const struct pci_func *r;

	fake_reset(0, 3);
	fake_bridge(0, 0, 0, 8, 8, 0x0004); /* outside the window */
	fake_bridge(0, 1, 0, 1, 2, 0x0004); /* followed */
	fake_bridge(1, 0, 0, 1, 1, 0x0004); /* back to its own bus */
	fake_bridge(1, 1, 0, 0, 0, 0x0004); /* never set up */
	fake_bridge(1, 2, 0, 2, 3, 0x0004); /* beyond its parent's buses */
	fake_bridge(1, 3, 0, 2, 1, 0x0004); /* reverse order */
	fake_bridge(1, 4, 0, 2, 2, 0x0000); /* followed */
	fake_endpoint(2, 0, 0, 0x0004);
	fake_bridge(1, 5, 0, 2, 2, 0x0004); /* bus 2 is scanned already */
	fake_add(1, 6, 0, 0x104c, 0xac56, 0x060700, 2, 0x0004); /* CardBus: not followed */
	fake_endpoint(3, 0, 0, 0x0004); /* behind a refused bridge only */
	/* Absent: vendor all ones or zero, whatever else reads back. */
	fake_add(0, 8, 0, 0xffff, 0x1234, 0x020000, 0x81, 0x0004);
	fake_add(0, 8, 1, 0x1234, 0x1234, 0x020000, 0, 0x0004);
	fake_add(0, 9, 0, 0x0000, 0x1234, 0x020000, 0, 0x0004);
	fake_add(0, 10, 1, 0x1234, 0x1234, 0x020000, 0, 0x0004); /* no function 0 */
	fake_endpoint(0, 11, 0, 0x0004);
	fake_endpoint(0, 11, 1, 0x0004); /* function 0 is not multifunction */

	s = scan_of(0, 0, 3);
	CHECK_EQ(pci_scan(&s), 0);
	CHECK_EQ(s.count, 11);
	CHECK_EQ(s.found, 11);
	CHECK_EQ(fake_outside, 0);
	CHECK_EQ(fake_bad_writes, 0);
	CHECK_EQ(fake_reads[3], 0); /* bus 3 is only named by refused bridges */
	CHECK(rec(&s, 3, 0, 0) == NULL && rec(&s, 0, 8, 0) == NULL && rec(&s, 0, 8, 1) == NULL);
	CHECK(rec(&s, 0, 9, 0) == NULL && rec(&s, 0, 10, 1) == NULL && rec(&s, 0, 11, 1) == NULL);
	CHECK_EQ(cmd_of(0, 8, 1), 0x0004);
	CHECK_EQ(cmd_of(0, 11, 1), 0x0004);
	CHECK_EQ(cmd_of(3, 0, 0), 0x0004);

	/* Refused bridges: flagged, bus mastering off; followed ones keep theirs. */
	CHECK_LOG("pci 0000:00:00.0: bridge to buses 08-08 leads outside the window; not followed");
	CHECK_LOG("pci 0000:01:00.0: bridge to buses 01-01 loops back to a bus scanned already; "
		  "not followed");
	CHECK_LOG("pci 0000:01:01.0: bridge to buses 00-00 has no bus numbers; not followed");
	CHECK_LOG("pci 0000:01:02.0: bridge to buses 02-03 leads outside its parent's buses; "
		  "not followed");
	CHECK_LOG("pci 0000:01:03.0: bridge to buses 02-01 has its bus numbers in reverse order; "
		  "not followed");
	CHECK_LOG("pci 0000:01:05.0: bridge to buses 02-02 loops back to a bus scanned already; "
		  "not followed");
	CHECK_LOG("pci 0000:01:06.0: bridge to buses 00-00 is a CardBus bridge; not followed");
	CHECK_LOG("pci 0000:00:00.0 8086:2448 class 060400 group 0 bridge 08-08 (not followed)");
	for (u8 dev = 0; dev <= 6; dev++) {
		if (dev == 4)
			continue;
		r = rec(&s, 1, dev, 0);
		CHECK(r && (r->flags & PCI_F_REFUSED));
		CHECK_EQ(cmd_of(1, dev, 0), PCI_COMMAND_INTX_OFF);
	}
	CHECK(rec(&s, 0, 0, 0) && (rec(&s, 0, 0, 0)->flags & PCI_F_REFUSED));
	CHECK_EQ(cmd_of(0, 0, 0), PCI_COMMAND_INTX_OFF);
	CHECK(rec(&s, 0, 1, 0) && !(rec(&s, 0, 1, 0)->flags & PCI_F_REFUSED));
	CHECK_EQ(cmd_of(0, 1, 0), 0x0004);
	CHECK(rec(&s, 2, 0, 0) && rec(&s, 2, 0, 0)->parent != PCI_NONE);
	CHECK_EQ(cmd_of(2, 0, 0), PCI_COMMAND_INTX_OFF);
	CHECK_EQ(cmd_of(0, 11, 0), PCI_COMMAND_INTX_OFF);
	/* 0:0.0, 1:0.0, 1:1.0, 1:2.0, 1:3.0, 1:5.0, 1:6.0, 2:0.0, 0:b.0 */
	CHECK_EQ(s.master_off, 9);
	CHECK_LOG("pci: 11 functions on segment 0000, bus master turned off on 9");

	/* Siblings naming the same buses, from the same root bus or another one. */
	fake_reset(0, 7);
	f = fake_bridge(0, 0, 0, 4, 6, 0x0004); /* buses 5 and 6 stay empty */
	fake_pcie(f, 0x40, PCI_EXP_TYPE_ROOT_PORT);
	fake_endpoint(4, 0, 0, 0);
	f = fake_bridge(0, 1, 0, 6, 6, 0x0004);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_ROOT_PORT);
	fake_endpoint(2, 0, 0, 0); /* a second root bus */
	f = fake_bridge(2, 1, 0, 5, 5, 0x0004);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_ROOT_PORT);
	s = scan_of(0, 0, 7);
	CHECK_EQ(pci_scan(&s), 0);
	CHECK_EQ(s.count, 5);
	CHECK_LOG("pci 0000:00:01.0: bridge to buses 06-06 overlaps another bridge's buses; "
		  "not followed");
	CHECK_LOG("pci 0000:02:01.0: bridge to buses 05-05 overlaps another bridge's buses; "
		  "not followed");
	CHECK(rec(&s, 4, 0, 0) && rec(&s, 4, 0, 0)->parent == 0);
	CHECK(rec(&s, 2, 0, 0) && rec(&s, 2, 0, 0)->parent == PCI_NONE);
	CHECK_EQ(cmd_of(0, 0, 0), 0x0004);
	CHECK_EQ(cmd_of(0, 1, 0), PCI_COMMAND_INTX_OFF);
	CHECK_EQ(cmd_of(2, 1, 0), PCI_COMMAND_INTX_OFF);
	CHECK_EQ(fake_reads[5] + fake_reads[6], 0); /* only secondary buses are scanned */
	CHECK_EQ(fake_reads[3], 32); /* empty and named by no bridge: swept as a root bus */
	CHECK_EQ(fake_reads[7], 32);
	CHECK_EQ(fake_outside, 0);

	/* A chain of bridges deeper than Keel follows. */
	fake_reset(0, 40);
	for (u8 b = 0; b < 30; b++)
		fake_bridge(b, 0, 0, (u8)(b + 1), 40, 0);
	s = scan_of(0, 0, 40);
	CHECK_EQ(pci_scan(&s), 0);
	CHECK_EQ(s.count, PCI_MAX_DEPTH);
	CHECK_LOG("pci 0000:17:00.0: bridge to buses 18-28 is nested too deep; not followed");
	CHECK_EQ(fake_reads[24], 0);
	CHECK_EQ(fake_bad_writes, 0);

	/* Bad windows are refused before any access. */
	fake_reset(0, 0);
	s = scan_of(0, 4, 3);
	CHECK_EQ(pci_scan(&s), -KEEL_EINVAL);
	s = scan_of(0, 0, 0);
	s.count = s.max_funcs + 1;
	CHECK_EQ(pci_scan(&s), -KEEL_EINVAL);
	s = scan_of(0, 0, 0);
	s.ops = NULL;
	CHECK_EQ(pci_scan(&s), -KEEL_EINVAL);
	CHECK_EQ(fake_reads[0], 0);
}

/* More functions than room: the rest are counted and still lose bus mastering. */
static void test_table_full(void)
{
	struct pci_scan s;

	fake_reset(0, 0);
	for (u8 dev = 0; dev < 5; dev++)
		fake_endpoint(0, dev, 0, 0x0004);
	s = scan_of(0, 0, 0);
	s.max_funcs = 3;
	CHECK_EQ(pci_scan(&s), 0);
	CHECK_EQ(s.count, 3);
	CHECK_EQ(s.found, 5);
	CHECK_EQ(s.master_off, 5);
	CHECK_EQ(cmd_of(0, 4, 0), PCI_COMMAND_INTX_OFF);
	CHECK_EQ(funcs[3].vendor, 0); /* nothing written past the room given */
	CHECK_LOG("pci: 2 functions on segment 0000 not recorded: Keel keeps 3");
	CHECK_LOG("pci: 5 functions on segment 0000, bus master turned off on 5");
}

/* ---- ECAM windows: checks, then boot enumeration through a plain array ---- */

/* What pci_init() asked Keel to map for MSI-X tables. */
static u64 map_pa[8], map_size[8];
static u32 map_n;

int hmap_map_device(hpa_t pa, u64 size)
{
	if (map_n < 8) {
		map_pa[map_n] = pa;
		map_size[map_n] = size;
	}
	map_n++;
	return 0;
}

static u8 ecam[2u << PCI_ECAM_BUS_SHIFT] __aligned(1u << PCI_ECAM_BUS_SHIFT);
static struct keel_boot_info bi;

static void ecam_put(u8 bus, u8 dev, u8 fn, u32 off, const void *v, u32 len)
{
	memcpy(ecam + ((u32)PCI_BDF(bus, dev, fn) << 12) + off, v, len);
}

static void ecam_fn(u8 bus, u8 dev, u8 fn, u32 id, u32 class, u8 hdr, u16 cmd)
{
	u32 cr = class << 8;

	ecam_put(bus, dev, fn, PCI_VENDOR_ID, &id, 4);
	ecam_put(bus, dev, fn, PCI_CLASS_REV, &cr, 4);
	ecam_put(bus, dev, fn, PCI_HEADER_TYPE, &hdr, 1);
	ecam_put(bus, dev, fn, PCI_COMMAND, &cmd, 2);
}

static u16 ecam_cmd(u8 bus, u8 dev, u8 fn)
{
	u16 v;

	memcpy(&v, ecam + ((u32)PCI_BDF(bus, dev, fn) << 12) + PCI_COMMAND, 2);
	return v;
}

/* An MSI-X capability at 0x40: 4 entries, table at 0x1000 and PBA at 0x3000 of BAR0 (32-bit). */
static void ecam_msix(u8 bus, u8 dev, u8 fn, u32 bar0)
{
	u16 st = PCI_STATUS_CAP_LIST, ctrl = 3;
	u8 ptr = 0x40, cap[2] = { 0x11, 0 };
	u32 tab = 0x1000, pba = 0x3000;

	ecam_put(bus, dev, fn, PCI_STATUS, &st, 2);
	ecam_put(bus, dev, fn, PCI_CAP_PTR, &ptr, 1);
	ecam_put(bus, dev, fn, 0x40, cap, 2);
	ecam_put(bus, dev, fn, 0x42, &ctrl, 2);
	ecam_put(bus, dev, fn, 0x44, &tab, 4);
	ecam_put(bus, dev, fn, 0x48, &pba, 4);
	ecam_put(bus, dev, fn, 0x10, &bar0, 4);
}

static int add(u64 base, u16 seg, u8 lo, u8 hi)
{
	struct pci_ecam w = { .base = base, .seg = seg, .start_bus = lo, .end_bus = hi };

	return pci_ecam_add(&bi, &w);
}

static void test_ecam(void)
{
	u64 base = (u64)(uintptr_t)ecam;
	const struct pci_func *f;

	unit_log_len = 0;
	unit_log[0] = 0;
	bi.mem_count = 2;
	bi.mem[0] = (struct keel_boot_mem){ 0x100000, 0x3ff00000, KEEL_MEM_FREE, 0 };
	bi.mem[1] = (struct keel_boot_mem){ 0xc0000000, 0x10000000, KEEL_MEM_MMIO, 0 };

	/* Hostile windows. */
	CHECK_EQ(add(0xb0000000, 0, 5, 4), -KEEL_EINVAL);
	CHECK_EQ(add(0xb0080000, 0, 0, 0), -KEEL_EINVAL);
	CHECK_EQ(add(0, 0, 0, 0), -KEEL_EINVAL);
	CHECK_EQ(add(0xfffffffff0000000ull, 0, 0, 0xff), -KEEL_EINVAL);
	CHECK_EQ(add(HMAP_STACKS_VA - (1ull << 20), 0, 0, 1), -KEEL_EINVAL);
	CHECK_EQ(add(0x3ff00000, 0, 0, 1), -KEEL_EINVAL); /* reaches into RAM */
	CHECK_EQ(add(0x3fe00000, 0, 1, 1), -KEEL_EINVAL); /* its bus 1 is RAM */
	CHECK_LOG("pci: ECAM window of segment 0000, buses 05-04 at 0xb0000000 ignored: its bus "
		  "numbers are in reverse order");
	CHECK_LOG("pci: ECAM window of segment 0000, buses 00-00 at 0xb0080000 ignored: its base "
		  "is not 1 MiB aligned");
	CHECK_LOG("pci: ECAM window of segment 0000, buses 00-ff at 0xfffffffff0000000 ignored: it "
		  "reaches past the address space Keel maps");
	CHECK_LOG("pci: ECAM window of segment 0000, buses 00-01 at 0x3ff00000 ignored: it "
		  "overlaps RAM");
	CHECK(pci_ecam_window(0) == NULL);

	/* Buses 0-1 of segment 0 in a plain array. */
	memset(ecam, 0xff, sizeof(ecam));
	ecam_fn(0, 0, 0, 0x29c08086, 0x060000, 0, 0x0006);
	ecam_fn(0, 1, 0, 0x11111234, 0x030000, 0, 0x0003);
	ecam_fn(0, 0x1f, 0, 0x29188086, 0x060100, 0x80, 0x0007);
	ecam_fn(0, 0x1f, 2, 0x29228086, 0x010601, 0, 0x0007);
	ecam_fn(0, 0x1f, 3, 0x29308086, 0x0c0500, 0, 0x0003);
	ecam_fn(1, 0, 0, 0x11e81234, 0x00ff00, 0, 0x0004); /* a second root bus */
	CHECK_EQ(add(base, 0, 0, 1), 0);
	CHECK_EQ(add(base + (2u << 20), 0, 1, 1), -KEEL_EINVAL); /* same segment, same bus */
	CHECK_EQ(add(base, 1, 0, 0), -KEEL_EINVAL); /* same memory */
	CHECK(strstr(unit_log, "pci: ECAM window of segment 0000, buses 01-01 at 0x") != NULL);
	CHECK(strstr(unit_log, "ignored: it overlaps another window") != NULL);
	CHECK(pci_ecam_window(0) && pci_ecam_window(0)->base == base);
	CHECK_EQ(pci_ecam_start(pci_ecam_window(0)), base);
	CHECK_EQ(pci_ecam_end(pci_ecam_window(0)), base + (2u << 20));
	CHECK(pci_ecam_window(1) == NULL);

	/* Config access through the window, checked. */
	CHECK_EQ(pci_cfg_read(0, PCI_BDF(0, 0, 0), PCI_VENDOR_ID, 4), 0x29c08086);
	CHECK_EQ(pci_cfg_read(0, PCI_BDF(0, 0, 0), PCI_DEVICE_ID, 2), 0x29c0);
	CHECK_EQ(pci_cfg_read(0, PCI_BDF(0, 0x1f, 0), PCI_HEADER_TYPE, 1), 0x80);
	CHECK_EQ(pci_cfg_read(0, PCI_BDF(2, 0, 0), PCI_VENDOR_ID, 2), 0xffff); /* outside */
	CHECK_EQ(pci_cfg_read(1, PCI_BDF(0, 0, 0), PCI_VENDOR_ID, 4), 0xffffffffu);
	CHECK_EQ(pci_cfg_read(0, PCI_BDF(0, 0, 0), 0x1, 2), 0xffff); /* misaligned */
	CHECK_EQ(pci_cfg_read(0, PCI_BDF(0, 0, 0), 0xffe, 4), 0xffffffffu);
	CHECK_EQ(pci_cfg_read(0, PCI_BDF(0, 0, 0), 0, 3), 0xffffff);
	pci_cfg_write(0, PCI_BDF(0, 0, 0), 0x1000, 4, 0); /* past the function: dropped */
	pci_cfg_write(0, PCI_BDF(2, 0, 0), 0, 4, 0);
	CHECK_EQ(ecam[(2u << 20) - 1], 0xff);

	/*
	 * MSI-X: 01:00.0 has 4 entries, table at 0x1000 and PBA at 0x3000 of its
	 * 32-bit BAR0 (one range, both pages and the one between); 00:1f.3 has
	 * its table in a BAR that shares 2 MiB with RAM (refused, nothing mapped).
	 */
	ecam_msix(1, 0, 0, 0xfe000000u);
	ecam_msix(0, 0x1f, 3, 0x3fe00000u);
	unit_log_len = 0;
	unit_log[0] = 0;
	pci_init(&bi);
	CHECK_EQ(map_n, 1);
	CHECK_EQ(map_pa[0], 0xfe001000u);
	CHECK_EQ(map_size[0], 0x3000);
	f = pci_func_find(0, PCI_BDF(1, 0, 0));
	CHECK(f && f->msix_lo[0] == 0xfe001000u && f->msix_hi[0] == 0xfe004000u);
	CHECK(f && f->msix_lo[1] == 0 && f->msix_hi[1] == 0);
	f = pci_func_find(0, PCI_BDF(0, 0x1f, 3));
	CHECK(f && f->msix_lo[0] == 0 && f->msix_hi[0] == 0);
	CHECK_LOG("pci 0000:00:1f.3: MSI-X pages in BAR0 not mapped: it shares 2 MiB with RAM; "
		  "no partition gets its MSI-X");
	CHECK_EQ(pci_func_count(), 6);
	CHECK_LOG("pci 0000:00:00.0 8086:29c0 class 060000 group 0");
	CHECK_LOG("pci 0000:00:01.0 1234:1111 class 030000 group 1");
	CHECK_LOG("pci 0000:00:1f.0 8086:2918 class 060100 group 2");
	CHECK_LOG("pci 0000:00:1f.2 8086:2922 class 010601 group 2");
	CHECK_LOG("pci 0000:00:1f.3 8086:2930 class 0c0500 group 2");
	CHECK_LOG("pci 0000:01:00.0 1234:11e8 class 00ff00 group 3");
	CHECK_LOG("pci: 6 functions on segment 0000, bus master turned off on 3");
	CHECK_EQ(ecam_cmd(0, 0, 0), 0x0006);
	CHECK_EQ(ecam_cmd(0, 0x1f, 0), 0x0403);
	CHECK_EQ(ecam_cmd(0, 0x1f, 2), 0x0403);
	CHECK_EQ(ecam_cmd(1, 0, 0), 0x0400);
	f = pci_func_find(0, PCI_BDF(0, 0x1f, 2));
	CHECK(f && f->device == 0x2922 && f->group == 2 && f->dma_rid == PCI_BDF(0, 0x1f, 2));
	CHECK(pci_func_find(1, PCI_BDF(0, 0x1f, 2)) == NULL);
	CHECK(pci_func_at(0) && pci_func_at(0)->device == 0x29c0);
	CHECK(pci_func_at(6) == NULL);

	/* At most PCI_MAX_WINDOWS (these are never read: enumeration is over). */
	CHECK_EQ(add(0xe0000000, 1, 0, 0), 0);
	CHECK_EQ(add(0xe0100000, 2, 0, 0), 0);
	CHECK_EQ(add(0xe0200000, 3, 0, 0), 0);
	CHECK_EQ(add(0xe0300000, 4, 0, 0), -KEEL_ENOSPC);
	CHECK_LOG("pci: more than 4 ECAM windows; segment 0004, buses 00-00 ignored");
}

int main(void)
{
	test_host();
	test_caps();
	test_bridges();
	test_table_full();
	test_ecam();
	return unit_done("test_pci");
}
