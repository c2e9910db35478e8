/* SPDX-License-Identifier: MIT */
/*
 * The VT-d driver (vfio/vtd.c): its second-level format through core/pt.c,
 * and enable / attach / detach / flush / faults against a fake register
 * block. The fake acts when the driver reads the clock: the driver writes a
 * command, starts its timeout with arch_time_ns(), then polls, so the fake
 * has answered by the first poll, as a real unit answers before the next
 * register read.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/abi.h>
#include <keel/iommu.h>
#include <keel/pt.h>

#include "unit.h"

extern char unit_log[];
extern size_t unit_log_len;

/* ---- VT-d facts the fake needs (spec register layout) ---- */

#define R_VER 0x000
#define R_CAP 0x008
#define R_ECAP 0x010
#define R_GCMD 0x018
#define R_GSTS 0x01c
#define R_RTADDR 0x020
#define R_CCMD 0x028
#define R_FSTS 0x034
#define R_FECTL 0x038
#define R_FEDATA 0x03c
#define R_FEADDR 0x040
#define R_FEUADDR 0x044
#define R_PMEN 0x064
#define R_IQH 0x080
#define R_IQT 0x088
#define R_IQA 0x090
#define R_IRTA 0x0b8

#define G_TE (1u << 31)
#define G_SRTP (1u << 30)
#define G_WBF (1u << 27)
#define G_QIE (1u << 26)
#define G_IRE (1u << 25)
#define G_SIRTP (1u << 24)
#define G_CFI (1u << 23)
#define G_PERSIST (G_TE | G_QIE | G_IRE | G_CFI)
#define G_ONESHOT (G_SRTP | G_WBF | G_SIRTP | (1u << 29))

/* CAP fields */
#define C_ND(n) ((u64)(n))
#define C_RWBF (1ull << 4)
#define C_PLMR (1ull << 5)
#define C_CM (1ull << 7)
#define C_SAGAW39 (1ull << 9)
#define C_SAGAW48 (1ull << 10)
#define C_MGAW(n) ((u64)(n) << 16)
#define C_FRO(n) ((u64)(n) << 24)
#define C_2M (1ull << 34)
#define C_1G (1ull << 35)
#define C_PSI (1ull << 39)
#define C_NFR(n) ((u64)(n) << 40)
#define C_MAMV(n) ((u64)(n) << 48)
#define C_DRAIN ((1ull << 54) | (1ull << 55))
/* ECAP fields */
#define E_C (1ull << 0)
#define E_QI (1ull << 1)
#define E_IR (1ull << 3)
#define E_EIM (1ull << 4)
#define E_IRO(n) ((u64)(n) << 8)

/* QEMU's intel-iommu, roughly: 39-bit, 256 domains, records at 0x220, IOTLB at 0xf00. */
#define QEMU_CAP                                                                           \
	(C_ND(2) | C_SAGAW39 | C_MGAW(38) | C_FRO(0x22) | C_2M | C_1G | C_PSI | C_NFR(0) | \
	 C_MAMV(18) | C_DRAIN)
#define QEMU_ECAP (E_QI | E_IR | E_EIM | E_IRO(0xf0))
#define FRO 0x220u
#define IRO 0xf00u

#define F_PTE_R 1ull
#define F_PTE_W 2ull
#define F_PTE_PS (1ull << 7)
#define F_ADDR 0x000ffffffffff000ull

/* ---- host memory for the driver and the walker ---- */

#define ALLOC_MAX 256
static void *allocs[ALLOC_MAX];
static int pmm_fail_in = -1; /* fail the n-th allocation from now (0: the next) */

hpa_t pmm_alloc(u64 size, u64 align)
{
	void *p;

	if (pmm_fail_in == 0) {
		pmm_fail_in = -1;
		return 0;
	}
	if (pmm_fail_in > 0)
		pmm_fail_in--;
	p = aligned_alloc(align, size);
	memset(p, 0, size);
	for (int i = 0; i < ALLOC_MAX; i++)
		if (!allocs[i]) {
			allocs[i] = p;
			return hva_to_hpa(p);
		}
	abort();
}

void pmm_free(hpa_t base, u64 size)
{
	(void)size;
	for (int i = 0; i < ALLOC_MAX; i++)
		if (allocs[i] == hpa_to_hva(base)) {
			free(allocs[i]);
			allocs[i] = NULL;
			return;
		}
	abort();
}

static int allocs_live(void)
{
	int n = 0;

	for (int i = 0; i < ALLOC_MAX; i++)
		n += allocs[i] != NULL;
	return n;
}

static void allocs_free_all(void)
{
	for (int i = 0; i < ALLOC_MAX; i++) {
		free(allocs[i]);
		allocs[i] = NULL;
	}
}

static int tables_live;

static hpa_t tbl_alloc(void *ctx, u64 bytes)
{
	void *p = aligned_alloc(PAGE_SIZE, bytes);

	(void)ctx;
	memset(p, 0, bytes);
	tables_live++;
	return hva_to_hpa(p);
}

static void tbl_free(void *ctx, hpa_t t, u64 bytes)
{
	(void)ctx;
	(void)bytes;
	tables_live--;
	free(hpa_to_hva(t));
}

/* ---- the fake unit ---- */

static u8 fake_regs[0x4000] __aligned(4096);

struct fake {
	bool frozen; /* answers nothing */
	bool lazy; /* performs register-based invalidations as "not performed" */
	u32 bad_gcmd; /* writes that changed two things or dropped a persistent bit */
	u32 bad_desc;
	u64 root, irta;
	u32 cc[4], iotlb[4], iec, waits, wbf;
	u16 cc_did, cc_sid, iotlb_did;
	u64 iotlb_addr;
	u32 iotlb_am;
	bool iotlb_drain;
	u32 iqh;
	char events[64]; /* Q/q QIE on/off, R SRTP, I SIRTP, E IRE, f CFI off, T TE,
			  * c/t context/IOTLB global, e IEC, w wait */
	u32 nev;
};

static struct fake fk;
static u64 fake_now;

static u32 r32(u32 off)
{
	u32 v;

	memcpy(&v, fake_regs + off, 4);
	return v;
}

static u64 r64(u32 off)
{
	u64 v;

	memcpy(&v, fake_regs + off, 8);
	return v;
}

static void w32(u32 off, u32 v)
{
	memcpy(fake_regs + off, &v, 4);
}

static void w64(u32 off, u64 v)
{
	memcpy(fake_regs + off, &v, 8);
}

static void event(char c)
{
	if (fk.nev + 1 < sizeof(fk.events))
		fk.events[fk.nev++] = c;
}

/* One GCMD write: exactly one change, every other persistent bit carried. */
static void fake_gcmd(u32 cmd)
{
	u32 gsts = r32(R_GSTS);
	u32 diff = (cmd ^ gsts) & G_PERSIST;
	u32 shots = cmd & G_ONESHOT;
	u32 next = (cmd & G_PERSIST) | (gsts & (G_SRTP | G_SIRTP)); /* RTPS, IRTPS stay */

	if (__builtin_popcount(diff) + __builtin_popcount(shots) > 1)
		fk.bad_gcmd++; /* a write that changes nothing is harmless */
	if (cmd & G_SRTP) {
		fk.root = r64(R_RTADDR);
		next |= G_SRTP;
		event('R');
	}
	if (cmd & G_SIRTP) {
		fk.irta = r64(R_IRTA);
		next |= G_SIRTP;
		event('I');
	}
	if (cmd & G_WBF)
		fk.wbf++;
	if (diff & G_QIE) {
		if (cmd & G_QIE) {
			if (r64(R_IQT) != 0)
				fk.bad_gcmd++;
			fk.iqh = 0;
			w64(R_IQH, 0);
		}
		event(cmd & G_QIE ? 'Q' : 'q');
	}
	if (diff & G_IRE)
		event(cmd & G_IRE ? 'E' : 'e');
	if ((diff & G_CFI) && !(cmd & G_CFI))
		event('f');
	if ((diff & G_TE) && (cmd & G_TE))
		event('T');
	w32(R_GSTS, next);
}

static void fake_desc(u64 lo, u64 hi)
{
	switch (lo & 0xf) {
	case 1:
		fk.cc[(lo >> 4) & 3]++;
		fk.cc_did = (u16)(lo >> 16);
		fk.cc_sid = (u16)(lo >> 32);
		if (((lo >> 4) & 3) == 1)
			event('c');
		break;
	case 2:
		fk.iotlb[(lo >> 4) & 3]++;
		fk.iotlb_did = (u16)(lo >> 16);
		fk.iotlb_addr = hi & ~0xfffull;
		fk.iotlb_am = (u32)(hi & 0x3f);
		fk.iotlb_drain = (lo & 0xc0) == 0xc0;
		if (((lo >> 4) & 3) == 1)
			event('t');
		break;
	case 4:
		fk.iec++;
		event('e');
		break;
	case 5:
		fk.waits++;
		event('w');
		if (lo & (1ull << 5))
			*(u32 *)hpa_to_hva(hi & ~3ull) = (u32)(lo >> 32);
		break;
	default:
		fk.bad_desc++;
	}
}

static void fake_queue(void)
{
	const u64 *q = hpa_to_hva(r64(R_IQA) & F_ADDR);
	u32 tail = (u32)(r64(R_IQT) >> 4);

	while (fk.iqh != tail) {
		fake_desc(q[2 * fk.iqh], q[2 * fk.iqh + 1]);
		fk.iqh = (fk.iqh + 1) % 256;
	}
	w64(R_IQH, (u64)fk.iqh << 4);
}

static void fake_registers(void)
{
	u64 ccmd = r64(R_CCMD), iotlb = r64(IRO + 8);

	if (ccmd & (1ull << 63)) {
		u32 g = (u32)(ccmd >> 61) & 3;

		fk.cc[g]++;
		fk.cc_did = (u16)ccmd;
		fk.cc_sid = (u16)(ccmd >> 16);
		if (g == 1)
			event('c');
		w64(R_CCMD, (ccmd & ~(1ull << 63) & ~(3ull << 59)) | (fk.lazy ? 0 : (u64)g << 59));
	}
	if (iotlb & (1ull << 63)) {
		u32 g = (u32)(iotlb >> 60) & 3;

		fk.iotlb[g]++;
		fk.iotlb_did = (u16)(iotlb >> 32);
		fk.iotlb_addr = r64(IRO) & ~0xfffull;
		fk.iotlb_am = (u32)(r64(IRO) & 0x3f);
		fk.iotlb_drain = (iotlb & (3ull << 48)) == (3ull << 48);
		if (g == 1)
			event('t');
		w64(IRO + 8, (iotlb & ~(1ull << 63) & ~(3ull << 57)) | (u64)g << 57);
	}
}

/* What the unit does between the driver's register accesses. */
static void fake_step(void)
{
	u32 gcmd = r32(R_GCMD);

	if (fk.frozen)
		return;
	if (gcmd) {
		w32(R_GCMD, 0); /* write-only: 0 marks "no new write" */
		fake_gcmd(gcmd);
	}
	fake_registers();
	if (r32(R_GSTS) & G_QIE)
		fake_queue();
	if (!(r32(R_PMEN) & (1u << 31)))
		w32(R_PMEN, 0); /* PRS follows EPM */
}

u64 arch_time_ns(void)
{
	fake_step();
	fake_now += 1000000; /* 1 ms per look at the clock */
	return fake_now;
}

static bool msi_ok = true;
static u64 msi_addr = 0xfee00000ull;

bool arch_iommu_fault_msi(struct iommu_msi *msi)
{
	msi->addr = msi_addr;
	msi->data = 0x4041;
	return msi_ok;
}

struct report {
	u16 rid;
	u64 addr;
	bool write;
	const char *why;
};
static struct report reports[8];
static u32 nreports;

void iommu_fault_report(struct iommu_unit *u, u16 rid, u64 addr, bool write, const char *why)
{
	(void)u;
	if (nreports < ARRAY_SIZE(reports))
		reports[nreports] = (struct report){ rid, addr, write, why };
	nreports++;
}

/* ---- helpers ---- */

static struct iommu_unit unit;

static void log_reset(void)
{
	unit_log_len = 0;
	unit_log[0] = 0;
}

static bool logged(const char *s)
{
	return strstr(unit_log, s) != NULL;
}

/* A fresh unit at 0xfed90000 with these capabilities, nothing enabled. */
static void unit_reset(u64 cap, u64 ecap, u64 size)
{
	memset(fake_regs, 0, sizeof(fake_regs));
	memset(&fk, 0, sizeof(fk));
	w32(R_VER, 0x10);
	w64(R_CAP, cap);
	w64(R_ECAP, ecap);
	memset(&unit, 0, sizeof(unit));
	unit.kind = IOMMU_VTD;
	unit.base = 0xfed90000ull;
	unit.size = size;
	unit.regs = fake_regs;
	unit.ops = &vtd_ops;
	msi_ok = true;
	msi_addr = 0xfee00000ull;
	nreports = 0;
	log_reset();
}

static bool page_zero(hpa_t pa)
{
	const u8 *p = hpa_to_hva(pa);

	for (u32 i = 0; i < PAGE_SIZE; i++)
		if (p[i])
			return false;
	return true;
}

static void dom_sync(void *ctx, u64 va, u64 size)
{
	vtd_ops.flush(&unit, ctx, va, size);
}

static void dom_init(struct iommu_domain *d, u16 id)
{
	memset(d, 0, sizeof(*d));
	d->id = id;
	d->pt[0].fmt = vtd_ops.format(&unit);
	d->pt[0].alloc_table = tbl_alloc;
	d->pt[0].free_table = tbl_free;
	d->pt[0].ctx = d;
	CHECK(d->pt[0].fmt != NULL);
	CHECK_EQ(pt_init(&d->pt[0]), 0);
}

static const u64 *table_at(u64 entry)
{
	return hpa_to_hva(entry & F_ADDR);
}

/* The context entry of @rid in the unit's root table, or NULL. */
static const u64 *ctx_entry(u16 rid)
{
	const u64 *root = hpa_to_hva(fk.root);

	if (!(root[2 * (rid >> 8)] & 1))
		return NULL;
	return table_at(root[2 * (rid >> 8)]) + 2 * (rid & 0xff);
}

/* ---- tests ---- */

static void test_enable_qemu(void)
{
	const struct pt_format *fmt;

	unit_reset(QEMU_CAP, QEMU_ECAP, PAGE_SIZE);
	CHECK(vtd_ops.format(&unit) == NULL); /* nothing before enable */
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	CHECK_EQ(fk.bad_gcmd, 0);
	CHECK_EQ(fk.bad_desc, 0);
	CHECK(strcmp(fk.events, "QRctwIewET") == 0);
	CHECK_EQ(r32(R_GSTS) & G_PERSIST, G_TE | G_QIE | G_IRE);
	/* Every requester blocked: the root table is all absent. */
	CHECK(fk.root != 0 && IS_ALIGNED(fk.root, PAGE_SIZE));
	CHECK(page_zero(fk.root));
	/* Every interrupt blocked: 256 absent entries, compatibility format off. */
	CHECK_EQ(fk.irta & 0xfff, 7);
	CHECK(page_zero(fk.irta & F_ADDR));
	CHECK_EQ(fk.iec, 1);
	CHECK_EQ(fk.cc[1], 1);
	CHECK_EQ(fk.iotlb[1], 1);
	/* The fault interrupt, unmasked. */
	CHECK_EQ(r32(R_FECTL), 0);
	CHECK_EQ(r32(R_FEDATA), 0x4041);
	CHECK_EQ(r32(R_FEADDR), 0xfee00000u);
	CHECK_EQ(r32(R_FEUADDR), 0);
	fmt = vtd_ops.format(&unit);
	CHECK(fmt != NULL);
	CHECK_EQ(fmt->levels, 3);
	CHECK_EQ(fmt->leaf_levels, 0x7);
	CHECK(logged(
		"iommu 0 (VT-d): on at 0xfed90000, version 1.0: vt-d 3-level 1G tables, MGAW 39, 256 domain IDs, queued invalidation, interrupt remapping on, non-coherent walks"));
	CHECK(!logged("without interrupt remapping"));
	allocs_free_all();
}

static void test_format_3level(void)
{
	struct iommu_domain d;
	const u64 *t0, *t1, *t2;
	u64 pa, size;
	u32 attrs;
	struct pt *pt = &d.pt[0];

	unit_reset(QEMU_CAP, QEMU_ECAP | E_C, PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	dom_init(&d, 5);

	CHECK_EQ(pt_map(pt, 0x1000, 0x12345000ull, PAGE_SIZE, PT_READ | PT_WRITE), 0);
	CHECK_EQ(pt_map(pt, SZ_1G + SZ_2M, 0x80200000ull, SZ_2M, PT_READ), 0);
	CHECK_EQ(pt_map(pt, 2 * SZ_1G, 0x100000000ull, SZ_1G, PT_WRITE | PT_EXEC | PT_DEVICE), 0);

	t0 = hpa_to_hva(pt->root);
	/* Tables grant R and W, never PS. */
	CHECK_EQ(t0[0] & ~F_ADDR, F_PTE_R | F_PTE_W);
	t1 = table_at(t0[0]);
	CHECK_EQ(t1[0] & ~F_ADDR, F_PTE_R | F_PTE_W);
	t2 = table_at(t1[0]);
	CHECK_EQ(t2[1], 0x12345000ull | F_PTE_R | F_PTE_W); /* 4 KiB: no PS */
	t1 = table_at(t0[1]);
	CHECK_EQ(t1[1], 0x80200000ull | F_PTE_R | F_PTE_PS); /* 2 MiB, read-only */
	CHECK_EQ(t0[2], 0x100000000ull | F_PTE_W | F_PTE_PS); /* 1 GiB, write-only */

	CHECK(pt_lookup(pt, 0x1abc, &pa, &attrs, &size));
	CHECK_EQ(pa, 0x12345abcull);
	CHECK_EQ(attrs, PT_READ | PT_WRITE);
	CHECK_EQ(size, PAGE_SIZE);
	CHECK(pt_lookup(pt, SZ_1G + SZ_2M + 0x5000, &pa, &attrs, &size));
	CHECK_EQ(pa, 0x80205000ull);
	CHECK_EQ(attrs, PT_READ);
	CHECK_EQ(size, SZ_2M);
	CHECK(pt_lookup(pt, 2 * SZ_1G + 0x123000, &pa, &attrs, &size));
	CHECK_EQ(pa, 0x100123000ull);
	CHECK_EQ(attrs, PT_WRITE); /* EXEC and DEVICE mean nothing here */
	CHECK_EQ(size, SZ_1G);

	/* No R, no W: nothing the unit would use. */
	CHECK_EQ(pt_map(pt, 3 * SZ_1G, 0x200000000ull, PAGE_SIZE, PT_EXEC), 0);
	CHECK(!pt_lookup(pt, 3 * SZ_1G, NULL, NULL, NULL));

	/* 3 levels translate 39 bits: 512 GiB and up is refused. */
	CHECK_EQ(pt_map(pt, 512 * SZ_1G, 0x1000, PAGE_SIZE, PT_READ), -KEEL_EINVAL);
	CHECK_EQ(pt_map(pt, 512 * SZ_1G - PAGE_SIZE, 0x1000, 2 * PAGE_SIZE, PT_READ), -KEEL_EINVAL);
	CHECK(!pt_lookup(pt, 512 * SZ_1G, NULL, NULL, NULL));
	CHECK_EQ(pt_map(pt, 512 * SZ_1G - PAGE_SIZE, 0x7000, PAGE_SIZE, PT_READ), 0);
	CHECK(pt_lookup(pt, 512 * SZ_1G - 1, &pa, NULL, NULL));
	CHECK_EQ(pa, 0x7fffull);

	/* Unmap one page inside the 2 MiB leaf: it is split, its neighbours stay. */
	CHECK_EQ(pt_unmap(pt, SZ_1G + SZ_2M + PAGE_SIZE, PAGE_SIZE), 0);
	CHECK(!pt_lookup(pt, SZ_1G + SZ_2M + PAGE_SIZE, NULL, NULL, NULL));
	CHECK(pt_lookup(pt, SZ_1G + SZ_2M, &pa, &attrs, &size));
	CHECK_EQ(size, PAGE_SIZE);
	CHECK_EQ(attrs, PT_READ);
	CHECK_EQ(t1[1] & (F_PTE_R | F_PTE_W | F_PTE_PS), F_PTE_R | F_PTE_W);
	CHECK_EQ(pt_mapped_bytes(pt, SZ_1G + SZ_2M, SZ_2M), SZ_2M - PAGE_SIZE);

	pt_destroy(pt);
	CHECK_EQ(tables_live, 0);
	allocs_free_all();
}

static void test_format_4level(void)
{
	struct iommu_domain d;
	const u64 *t0;
	u64 size;
	struct pt *pt = &d.pt[0];

	/* Both widths: 4 levels preferred; no large pages: 4 KiB leaves only. */
	unit_reset(C_ND(6) | C_SAGAW39 | C_SAGAW48 | C_MGAW(47) | C_FRO(0x22), QEMU_ECAP,
		   PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	CHECK_EQ(vtd_ops.format(&unit)->levels, 4);
	CHECK_EQ(vtd_ops.format(&unit)->leaf_levels, 0x8);
	dom_init(&d, 0xffff);
	CHECK_EQ(pt_map(pt, 512 * SZ_1G, 0x40000000ull, SZ_2M, PT_READ | PT_WRITE), 0);
	CHECK(pt_lookup(pt, 512 * SZ_1G + SZ_2M - 1, NULL, NULL, &size));
	CHECK_EQ(size, PAGE_SIZE);
	t0 = hpa_to_hva(pt->root);
	CHECK_EQ(t0[0], 0);
	CHECK_EQ(t0[1] & ~F_ADDR, F_PTE_R | F_PTE_W);
	CHECK_EQ(pt_map(pt, 512ull * 512 * SZ_1G, 0, PAGE_SIZE, PT_READ), -KEEL_EINVAL);
	pt_destroy(pt);
	CHECK_EQ(tables_live, 0);

	/* 2 MiB leaves only. */
	unit_reset(C_ND(6) | C_SAGAW48 | C_FRO(0x22) | C_2M, QEMU_ECAP, PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	CHECK_EQ(vtd_ops.format(&unit)->leaf_levels, 0xc);
	dom_init(&d, 1);
	CHECK_EQ(pt_map(pt, SZ_1G, SZ_1G, SZ_1G, PT_READ), 0);
	CHECK(pt_lookup(pt, SZ_1G, NULL, NULL, &size));
	CHECK_EQ(size, SZ_2M);
	t0 = hpa_to_hva(pt->root);
	CHECK_EQ(table_at(table_at(t0[0])[1])[0] & F_PTE_PS, F_PTE_PS);
	pt_destroy(pt);
	CHECK_EQ(tables_live, 0);
	allocs_free_all();
}

static void test_attach_detach(void)
{
	struct iommu_domain d5, d6, bad;
	const u64 *ce;

	unit_reset(QEMU_CAP, QEMU_ECAP, PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	dom_init(&d5, 5);
	dom_init(&d6, 6);
	CHECK_EQ(pt_map(&d5.pt[0], 0, 0x40000000ull, SZ_2M, PT_READ | PT_WRITE), 0);
	CHECK(ctx_entry(0x0010) == NULL);

	/* First device of bus 0: a context table, a global context invalidation. */
	memset(fk.cc, 0, sizeof(fk.cc));
	memset(fk.iotlb, 0, sizeof(fk.iotlb));
	fk.waits = 0;
	CHECK_EQ(vtd_ops.attach(&unit, &d5, 0x0010), 0);
	ce = ctx_entry(0x0010);
	CHECK(ce != NULL);
	CHECK_EQ(ce[0], d5.pt[0].root | 1); /* P, TT 00 */
	CHECK_EQ(ce[1], 1 | (5 << 8)); /* AW 39-bit, DID 5 */
	CHECK_EQ(fk.cc[1], 1);
	CHECK_EQ(fk.iotlb[2], 1);
	CHECK_EQ(fk.iotlb_did, 5);
	CHECK(fk.iotlb_drain);
	CHECK_EQ(fk.waits, 1);

	/* Again: nothing to do. */
	CHECK_EQ(vtd_ops.attach(&unit, &d5, 0x0010), 0);
	CHECK_EQ(fk.waits, 1);

	/* A second function of bus 0: device-selective. */
	CHECK_EQ(vtd_ops.attach(&unit, &d5, 0x0011), 0);
	CHECK_EQ(fk.cc[3], 1);
	CHECK_EQ(fk.cc_sid, 0x0011);
	CHECK_EQ(fk.cc_did, 5);
	CHECK_EQ(ctx_entry(0x0011)[1] >> 8, 5);

	/* Moved to domain 6: blocked and flushed under 5 first, then 6. */
	CHECK_EQ(vtd_ops.attach(&unit, &d6, 0x0010), 0);
	ce = ctx_entry(0x0010);
	CHECK_EQ(ce[0], d6.pt[0].root | 1);
	CHECK_EQ(ce[1], 1 | (6 << 8));
	CHECK_EQ(fk.cc[3], 3);
	CHECK_EQ(fk.iotlb[2], 4);
	CHECK_EQ(fk.iotlb_did, 6);

	/* Detach: absent again, its caches gone. */
	CHECK_EQ(vtd_ops.detach(&unit, &d6, 0x0010), 0);
	CHECK_EQ(ce[0], 0);
	CHECK_EQ(ce[1], 0);
	CHECK_EQ(fk.cc_did, 6);
	CHECK_EQ(fk.cc_sid, 0x0010);
	CHECK_EQ(fk.iotlb_did, 6);
	fk.waits = 0;
	CHECK_EQ(vtd_ops.detach(&unit, &d6, 0x0010), 0);
	CHECK_EQ(vtd_ops.detach(&unit, &d6, 0x0300), 0); /* a bus never used */
	CHECK_EQ(fk.waits, 0);

	/* Detached from the wrong domain: blocked all the same, with a line. */
	log_reset();
	CHECK_EQ(vtd_ops.detach(&unit, &d6, 0x0011), 0);
	CHECK_EQ(ctx_entry(0x0011)[0], 0);
	CHECK(logged(
		"iommu 0 (VT-d): 00:02.1 detached from domain 6 is in domain 5; blocked anyway"));

	/* A domain ID beyond the unit's 256, and a table of another format. */
	log_reset();
	dom_init(&bad, 256);
	CHECK_EQ(vtd_ops.attach(&unit, &bad, 0x0018), -KEEL_EINVAL);
	CHECK(logged("iommu 0 (VT-d): domain ID 256 is not usable (IDs below 256)"));
	bad.id = 7;
	bad.pt[0].fmt = &(struct pt_format){ 0 };
	CHECK_EQ(vtd_ops.attach(&unit, &bad, 0x0018), -KEEL_EINVAL);
	CHECK(ctx_entry(0x0018)[0] == 0);
	bad.pt[0].fmt = d5.pt[0].fmt;
	CHECK_EQ(fk.bad_desc, 0);
	CHECK_EQ(fk.bad_gcmd, 0);

	pt_destroy(&d5.pt[0]);
	pt_destroy(&d6.pt[0]);
	pt_destroy(&bad.pt[0]);
	CHECK_EQ(tables_live, 0);
	allocs_free_all();
}

static void test_caching_mode(void)
{
	struct iommu_domain d0, d3;

	unit_reset(QEMU_CAP | C_CM | C_RWBF, QEMU_ECAP, PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	CHECK(logged(", caching mode"));
	dom_init(&d0, 0);
	dom_init(&d3, 3);
	log_reset();
	CHECK_EQ(vtd_ops.attach(&unit, &d0, 0x0100), -KEEL_EINVAL);
	CHECK(logged("domain ID 0 is not usable (IDs below 256, not 0)"));
	memset(fk.cc, 0, sizeof(fk.cc));
	fk.wbf = 0;
	CHECK_EQ(vtd_ops.attach(&unit, &d3, 0x0100), 0);
	CHECK_EQ(fk.cc[1], 1); /* a new bus: its absent root entry may be cached */
	CHECK_EQ(fk.wbf, 1);
	CHECK_EQ(vtd_ops.attach(&unit, &d3, 0x0108), 0);
	CHECK_EQ(fk.cc[3], 1);
	CHECK_EQ(fk.cc_did, 0); /* absent entries are cached under ID 0 */
	CHECK_EQ(fk.cc_sid, 0x0108);
	CHECK_EQ(fk.iotlb_did, 3);
	CHECK_EQ(fk.bad_gcmd, 0);
	pt_destroy(&d0.pt[0]);
	pt_destroy(&d3.pt[0]);
	allocs_free_all();
}

static void test_flush(void)
{
	struct iommu_domain d;
	u32 psi;

	unit_reset(QEMU_CAP, QEMU_ECAP, PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	dom_init(&d, 9);
	CHECK_EQ(pt_map(&d.pt[0], 0, 0x40000000ull, SZ_2M, PT_READ | PT_WRITE), 0);

	vtd_ops.flush(&unit, &d, 0x3000, PAGE_SIZE);
	CHECK_EQ(fk.iotlb[3], 1);
	CHECK_EQ(fk.iotlb_did, 9);
	CHECK_EQ(fk.iotlb_addr, 0x3000);
	CHECK_EQ(fk.iotlb_am, 0);
	CHECK(fk.iotlb_drain);
	/* Pages 3 and 4: the aligned block of 8 pages at 0 covers both. */
	vtd_ops.flush(&unit, &d, 0x3000, 2 * PAGE_SIZE);
	CHECK_EQ(fk.iotlb[3], 2);
	CHECK_EQ(fk.iotlb_addr, 0);
	CHECK_EQ(fk.iotlb_am, 3);
	vtd_ops.flush(&unit, &d, SZ_2M, SZ_2M);
	CHECK_EQ(fk.iotlb_addr, SZ_2M);
	CHECK_EQ(fk.iotlb_am, 9);
	/* Beyond the largest mask (18): the whole domain. */
	vtd_ops.flush(&unit, &d, 0, 1ull << 32);
	CHECK_EQ(fk.iotlb[2], 1);
	CHECK_EQ(fk.iotlb_did, 9);

	/* The walker's sync: an unmap flushes what it changed (the split 2 MiB leaf). */
	d.pt[0].sync = dom_sync;
	psi = fk.iotlb[3];
	CHECK_EQ(pt_unmap(&d.pt[0], 0x5000, PAGE_SIZE), 0);
	CHECK_EQ(fk.iotlb[3], psi + 1);
	CHECK_EQ(fk.iotlb_addr, 0);
	CHECK_EQ(fk.iotlb_am, 9);
	CHECK_EQ(pt_unmap(&d.pt[0], 0x6000, PAGE_SIZE), 0);
	CHECK_EQ(fk.iotlb_addr, 0x6000);
	CHECK_EQ(fk.iotlb_am, 0);

	/* Without PSI: always the domain. */
	unit_reset(QEMU_CAP & ~C_PSI, QEMU_ECAP, PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	vtd_ops.flush(&unit, &d, 0x3000, PAGE_SIZE);
	CHECK_EQ(fk.iotlb[3], 0);
	CHECK_EQ(fk.iotlb[2], 1);
	CHECK_EQ(fk.bad_desc, 0);
	pt_destroy(&d.pt[0]);
	allocs_free_all();
}

static void test_register_invalidation(void)
{
	struct iommu_domain d;

	unit_reset(QEMU_CAP, E_IRO(0xf0) | E_IR, PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	CHECK(strcmp(fk.events, "RctT") == 0);
	CHECK_EQ(r32(R_GSTS) & G_PERSIST, G_TE);
	CHECK(logged("iommu 0 (VT-d): interrupt remapping without queued invalidation; left off"));
	CHECK(logged("register invalidation, interrupt remapping off"));
	CHECK(logged(
		"iommu 0 (VT-d): without interrupt remapping, a device's interrupt messages are not confined"));
	dom_init(&d, 2);
	CHECK_EQ(vtd_ops.attach(&unit, &d, 0x0208), 0);
	CHECK_EQ(fk.cc[1], 2); /* enable, then a new bus */
	CHECK_EQ(fk.iotlb[2], 1);
	CHECK_EQ(fk.iotlb_did, 2);
	CHECK(fk.iotlb_drain);
	CHECK_EQ(vtd_ops.attach(&unit, &d, 0x0209), 0);
	CHECK_EQ(fk.cc[3], 1);
	CHECK_EQ(fk.cc_sid, 0x0209);
	CHECK_EQ(fk.cc_did, 2);
	vtd_ops.flush(&unit, &d, 0x10000, 4 * PAGE_SIZE);
	CHECK_EQ(fk.iotlb[3], 1);
	CHECK_EQ(fk.iotlb_addr, 0x10000);
	CHECK_EQ(fk.iotlb_am, 2);

	/* A unit that does not perform the invalidation: an error, not silence. */
	fk.lazy = true;
	log_reset();
	CHECK_EQ(vtd_ops.attach(&unit, &d, 0x0210), -KEEL_EIO);
	CHECK(logged("iommu 0 (VT-d): the unit did not perform the context-cache invalidation"));

	/* The IOTLB registers must lie inside the mapped block. */
	unit_reset(QEMU_CAP, E_IRO(0x100), PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), -KEEL_EINVAL);
	CHECK(logged("lie beyond its 4096-byte register block"));
	pt_destroy(&d.pt[0]);
	allocs_free_all();
}

static void test_faults(void)
{
	u64 cap = (QEMU_CAP & ~C_NFR(0xff)) | C_NFR(2); /* 3 records */

	/* A record left from before Keel is cleared at enable. */
	unit_reset(cap, QEMU_ECAP, PAGE_SIZE);
	w64(FRO + 8, (1ull << 63) | (1ull << 32) | 0x00f8);
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	CHECK_EQ(r32(FRO + 12), 0x80000000u);
	CHECK(logged("iommu 0 (VT-d): cleared 1 fault records from before Keel"));
	w64(FRO + 8, 0); /* the unit clears F on that write */
	CHECK_EQ(vtd_ops.faults(&unit), 0);
	CHECK_EQ(nreports, 0);

	w64(FRO + 0, 0x12345000ull);
	w64(FRO + 8, (1ull << 63) | (1ull << 62) | (2ull << 32) | 0x0010); /* read */
	w64(FRO + 16, 7ull << 48);
	w64(FRO + 24, (1ull << 63) | (1ull << 62) | (0x22ull << 32) | 0x00f8);
	w64(FRO + 32, 0xabc000ull);
	w64(FRO + 40, (1ull << 63) | (5ull << 32) | 0x0108); /* write */
	w32(R_FSTS, 0x3); /* overflow, pending */
	log_reset();
	CHECK_EQ(vtd_ops.faults(&unit), 3);
	CHECK_EQ(nreports, 3);
	CHECK_EQ(reports[0].rid, 0x0010);
	CHECK_EQ(reports[0].addr, 0x12345000ull);
	CHECK(!reports[0].write);
	CHECK(strcmp(reports[0].why, "context entry not present") == 0);
	CHECK_EQ(reports[1].rid, 0x00f8);
	CHECK_EQ(reports[1].addr, 7); /* the interrupt index */
	CHECK(strcmp(reports[1].why, "interrupt: remapping entry not present") == 0);
	CHECK_EQ(reports[2].rid, 0x0108);
	CHECK_EQ(reports[2].addr, 0xabc000ull);
	CHECK(reports[2].write);
	CHECK(strcmp(reports[2].why, "write to a page not mapped writable") == 0);
	/* F written as 1 (cleared) in each, the overflow bit written back. */
	CHECK_EQ(r32(FRO + 12), 0x80000000u);
	CHECK_EQ(r32(FRO + 28), 0x80000000u);
	CHECK_EQ(r32(FRO + 44), 0x80000000u);
	CHECK_EQ(r32(R_FSTS), 0x1);
	CHECK(logged("iommu 0 (VT-d): the fault records overflowed; faults were lost"));

	/* An unknown reason still reports. */
	w64(FRO + 24, 0);
	w64(FRO + 40, 0);
	w64(FRO + 8, (1ull << 63) | (0x77ull << 32) | 0x0001);
	nreports = 0;
	CHECK_EQ(vtd_ops.faults(&unit), 1);
	CHECK(strcmp(reports[0].why, "unknown fault reason") == 0);
	allocs_free_all();
}

static void test_timeouts(void)
{
	struct iommu_domain d;

	/* A unit that never answers: enable gives up with a line. */
	unit_reset(QEMU_CAP, QEMU_ECAP, PAGE_SIZE);
	fk.frozen = true;
	CHECK_EQ(vtd_ops.enable(&unit), -KEEL_ETIMEDOUT);
	CHECK(logged("iommu 0 (VT-d): did not turn queued invalidation on within 1000 ms"));
	CHECK(vtd_ops.format(&unit) == NULL);
	CHECK_EQ(vtd_ops.attach(&unit, &(struct iommu_domain){ 0 }, 0x10), -KEEL_EINVAL);

	/* One that stops answering later: attach gives up at the queue wait. */
	unit_reset(QEMU_CAP, QEMU_ECAP, PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	dom_init(&d, 4);
	fk.frozen = true;
	log_reset();
	CHECK_EQ(vtd_ops.attach(&unit, &d, 0x0010), -KEEL_ETIMEDOUT);
	CHECK(logged("iommu 0 (VT-d): did not complete an invalidation wait within 1000 ms"));
	vtd_ops.flush(&unit, &d, 0, PAGE_SIZE);
	CHECK(logged("iommu 0 (VT-d): domain 4: the flush of 0x0+0x1000 failed"));

	/* Register-based: the context command never completes. */
	unit_reset(QEMU_CAP, E_IRO(0xf0), PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	fk.frozen = true;
	log_reset();
	CHECK_EQ(vtd_ops.attach(&unit, &d, 0x0010), -KEEL_ETIMEDOUT);
	CHECK(logged(
		"iommu 0 (VT-d): did not complete a context-cache invalidation within 1000 ms"));
	pt_destroy(&d.pt[0]);
	allocs_free_all();
}

static void test_refusals(void)
{
	struct iommu_domain d;

	unit_reset(C_ND(2) | C_FRO(0x22), QEMU_ECAP, PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), -KEEL_EINVAL);
	CHECK(logged("iommu 0 (VT-d): supports neither 4-level nor 3-level tables (SAGAW 0x0)"));

	unit_reset(C_ND(7) | C_SAGAW39 | C_FRO(0x22), QEMU_ECAP, PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), -KEEL_EINVAL);
	CHECK(logged("reports a reserved domain count (ND 7)"));

	unit_reset(QEMU_CAP & ~C_FRO(0x3ff), QEMU_ECAP, PAGE_SIZE);
	w64(R_CAP, (QEMU_CAP & ~C_FRO(0x3ff)) | C_FRO(0xff) | C_NFR(1));
	CHECK_EQ(vtd_ops.enable(&unit), -KEEL_EINVAL);
	CHECK(logged(
		"iommu 0 (VT-d): its fault (0xff0) or IOTLB (0xf00) registers lie beyond its 4096-byte register block"));
	unit.size = 2 * PAGE_SIZE; /* a larger block (DRHD size field) holds them */
	CHECK_EQ(vtd_ops.enable(&unit), 0);

	unit_reset(~0ull, ~0ull, PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), -KEEL_EIO);
	CHECK(logged("iommu 0 (VT-d): the registers at 0xfed90000 read all ones"));

	/* Out of memory for the third table: the first two go back. */
	unit_reset(QEMU_CAP, QEMU_ECAP, PAGE_SIZE);
	allocs_free_all();
	pmm_fail_in = 2;
	CHECK_EQ(vtd_ops.enable(&unit), -KEEL_ENOMEM);
	CHECK_EQ(allocs_live(), 0);
	CHECK(logged("iommu 0 (VT-d): no memory for its tables"));
	CHECK_EQ(r32(R_GSTS), 0); /* nothing programmed */

	/* A context table that cannot be had. */
	unit_reset(QEMU_CAP, QEMU_ECAP, PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	dom_init(&d, 1);
	pmm_fail_in = 0;
	CHECK_EQ(vtd_ops.attach(&unit, &d, 0x0500), -KEEL_ENOMEM);
	CHECK(logged("iommu 0 (VT-d): no memory for the context table of bus 05"));
	pt_destroy(&d.pt[0]);
	allocs_free_all();
}

/* What the firmware may leave on: translation, QI, CFI, protected memory. */
static void test_firmware_state(void)
{
	unit_reset(QEMU_CAP | C_PLMR, QEMU_ECAP, PAGE_SIZE);
	w32(R_GSTS, G_TE | G_QIE | G_CFI | G_SRTP);
	w64(R_IQH, 0x20);
	w64(R_IQT, 0x20);
	fk.iqh = 2;
	w32(R_PMEN, (1u << 31) | 1);
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	CHECK(strcmp(fk.events, "qQRctwIewfE") == 0); /* TE never went off */
	CHECK_EQ(fk.bad_gcmd, 0);
	CHECK_EQ(r32(R_GSTS) & G_PERSIST, G_TE | G_QIE | G_IRE);
	CHECK_EQ(r32(R_PMEN), 0);
	CHECK(logged("iommu 0 (VT-d): translation was on; the firmware's tables are replaced"));
	CHECK(logged("iommu 0 (VT-d): the firmware's protected memory ranges are off"));
	allocs_free_all();

	/* A queue the firmware never drained: refused rather than reprogrammed under it. */
	unit_reset(QEMU_CAP, QEMU_ECAP, PAGE_SIZE);
	w32(R_GSTS, G_QIE);
	w64(R_IQH, 0x20);
	w64(R_IQT, 0x40);
	fk.iqh = 2;
	fk.frozen = true;
	CHECK_EQ(vtd_ops.enable(&unit), -KEEL_ETIMEDOUT);
	CHECK(logged("did not drain the firmware's queue within 1000 ms"));
	allocs_free_all();
}

static void test_fault_msi(void)
{
	unit_reset(QEMU_CAP, QEMU_ECAP, PAGE_SIZE);
	msi_ok = false;
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	CHECK_EQ(r32(R_FECTL), 1u << 31);
	CHECK(logged("iommu 0 (VT-d): no fault interrupt; faults are logged when polled"));
	allocs_free_all();

	/* An x2APIC destination above 255 needs FEUADDR (ECAP.EIM). */
	unit_reset(QEMU_CAP, QEMU_ECAP & ~E_EIM, PAGE_SIZE);
	msi_addr = 0x100fee00000ull;
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	CHECK_EQ(r32(R_FECTL), 1u << 31);
	CHECK(logged("needs 32-bit APIC IDs; masked"));
	allocs_free_all();
	unit_reset(QEMU_CAP, QEMU_ECAP, PAGE_SIZE);
	msi_addr = 0x100fee00000ull;
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	CHECK_EQ(r32(R_FECTL), 0);
	CHECK_EQ(r32(R_FEUADDR), 0x100);
	allocs_free_all();
}

/*
 * Interrupt remapping: an entry present, physical, edge, fixed, with the
 * vector, the 8-bit APIC ID in bits 47:40 and the requester verified
 * (SVT 01b, SQ 0, SID); the MSI address in remappable format with the
 * handle; the interrupt entry cache invalidated and waited for. Cleared:
 * the entry is all zero again, and the cache invalidated again.
 */
static void test_irte(void)
{
	struct iommu_msi m = { 0 };
	const u64 *irt;

	unit_reset(QEMU_CAP, QEMU_ECAP, PAGE_SIZE);
	CHECK_EQ(vtd_ops.enable(&unit), 0);
	irt = hpa_to_hva(fk.irta & F_ADDR);
	fk.iec = fk.waits = 0;
	CHECK_EQ(vtd_ops.irte_set(&unit, 0x28, 5, 0x02, 0x41, &m), 0);
	CHECK_EQ(irt[10], 0x1ull | 0x41ull << 16 | 0x02ull << 40);
	CHECK_EQ(irt[11], 1ull << 18 | 0x28);
	CHECK_EQ(m.addr, 0xfee00000ull | 1u << 4 | 5u << 5);
	CHECK_EQ(m.data, 0);
	CHECK_EQ(fk.iec, 1);
	CHECK_EQ(fk.waits, 1);
	CHECK_EQ(irt[8], 0); /* its neighbours untouched */
	CHECK_EQ(irt[12], 0);
	vtd_ops.irte_clear(&unit, 0x28, 5);
	CHECK_EQ(irt[10], 0);
	CHECK_EQ(irt[11], 0);
	CHECK_EQ(fk.iec, 2);
	CHECK_EQ(fk.waits, 2);
	CHECK_EQ(vtd_ops.irte_set(&unit, 0x28, IOMMU_IRTES, 0, 0x41, &m), -KEEL_EINVAL);
	CHECK_EQ(vtd_ops.irte_set(&unit, 0x28, 1, 0x100, 0x41, &m), -KEEL_EINVAL);
	/* An LPI number (aarch64's vectors) is no x86 vector. */
	CHECK_EQ(vtd_ops.irte_set(&unit, 0x28, 1, 0x02, 0x2000, &m), -KEEL_EINVAL);
	CHECK(page_zero(fk.irta & F_ADDR));
	CHECK_EQ(fk.bad_desc, 0);
	allocs_free_all();
}

int main(void)
{
	test_enable_qemu();
	test_format_3level();
	test_format_4level();
	test_attach_detach();
	test_caching_mode();
	test_flush();
	test_register_invalidation();
	test_faults();
	test_timeouts();
	test_refusals();
	test_firmware_state();
	test_fault_msi();
	test_irte();
	return unit_done("test_vtd");
}
