/* SPDX-License-Identifier: MIT */
/*
 * The ACPI IVRS parser (arch/x86_64/ivrs.c) on QEMU's table and on hostile
 * ones: truncations, lying lengths, dangling ranges, too many units.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/abi.h>
#include <keel/iommu.h>

#include "acpi_iommu.h"
#include "unit.h"

extern char unit_log[];
extern size_t unit_log_len;

/* ---- what the parser hands to the registry ------------------------------ */

#define REC_MAX 16

static struct iommu_unit rec_units[REC_MAX];
static u32 rec_unit_n;
static struct iommu_reserved rec_res[REC_MAX];
static u32 rec_res_n;

int iommu_add(const struct keel_boot_info *bi, const struct iommu_unit *desc)
{
	CHECK(desc->kind == IOMMU_AMDVI);
	CHECK(desc->scope_count <= IOMMU_MAX_SCOPES);
	if (rec_unit_n >= IOMMU_MAX_UNITS)
		return -KEEL_ENOSPC;
	rec_units[rec_unit_n++] = *desc;
	return 0;
}

/* IOAPIC requester IDs handed to arch/x86_64/ioapic.c. */
static u32 rec_ioapic_n;
static u8 rec_ioapic_id;
static u16 rec_ioapic_rid;

void x86_ioapic_source(u8 ioapic_id, u16 seg, u16 rid, hpa_t unit_base)
{
	CHECK_EQ(unit_base, 0xfed80000ull);
	CHECK_EQ(seg, 0);
	rec_ioapic_n++;
	rec_ioapic_id = ioapic_id;
	rec_ioapic_rid = rid;
}

int iommu_add_reserved(const struct iommu_reserved *r)
{
	if (rec_res_n >= REC_MAX)
		return -KEEL_ENOSPC;
	rec_res[rec_res_n++] = *r;
	return 0;
}

static void reset(void)
{
	memset(rec_units, 0, sizeof(rec_units));
	memset(rec_res, 0, sizeof(rec_res));
	rec_unit_n = rec_res_n = rec_ioapic_n = 0;
	unit_log_len = 0;
	unit_log[0] = 0;
}

static bool logged(const char *s)
{
	return strstr(unit_log, s) != NULL;
}

/* Parse @len bytes of @src from a buffer of exactly that size (ASan sees any overread). */
static u32 parse(const u8 *src, u32 len)
{
	u8 *copy = malloc(len ? len : 1);
	u32 n;

	memcpy(copy, src, len);
	n = ivrs_parse(NULL, copy, len);
	free(copy);
	return n;
}

/* ---- building tables ----------------------------------------------------- */

struct tb {
	u8 b[4096];
	u32 n;
};

static void put(struct tb *t, u64 v, u32 bytes)
{
	for (u32 i = 0; i < bytes; i++)
		t->b[t->n++] = i < 8 ? (u8)(v >> (8 * i)) : 0;
}

static void patch16(struct tb *t, u32 off, u32 v)
{
	t->b[off] = (u8)v;
	t->b[off + 1] = (u8)(v >> 8);
}

static void ivrs_begin(struct tb *t, u32 ivinfo)
{
	memset(t, 0, sizeof(*t));
	memcpy(t->b, "IVRS", 4);
	t->b[8] = 2; /* revision */
	t->n = 36;
	put(t, ivinfo, 4);
	put(t, 0, 8);
}

static void ivrs_end(struct tb *t)
{
	u8 sum = 0;

	t->b[4] = (u8)t->n;
	t->b[5] = (u8)(t->n >> 8);
	t->b[9] = 0;
	for (u32 i = 0; i < t->n; i++)
		sum = (u8)(sum + t->b[i]);
	t->b[9] = (u8)-sum;
}

/* An IVHD header; returns its offset (the length is patched by block_end). */
static u32 ivhd_begin(struct tb *t, u8 type, u8 flags, u16 devid, u64 base)
{
	u32 off = t->n;

	put(t, type, 1);
	put(t, flags, 1);
	put(t, 0, 2);
	put(t, devid, 2);
	put(t, 0x40, 2); /* capability offset */
	put(t, base, 8);
	put(t, 0, 2); /* segment */
	put(t, 0, 2); /* IOMMU info */
	put(t, 0, 4); /* feature reporting / attributes */
	if (type != 0x10) {
		put(t, 0x246, 8); /* EFR image */
		put(t, 0, 8);
	}
	return off;
}

static void block_end(struct tb *t, u32 off)
{
	patch16(t, off + 2, t->n - off);
}

static void dev4(struct tb *t, u8 type, u16 id)
{
	put(t, type, 1);
	put(t, id, 2);
	put(t, 0, 1);
}

static void dev8(struct tb *t, u8 type, u16 id, u16 alias)
{
	dev4(t, type, id);
	put(t, 0, 1);
	put(t, alias, 2);
	put(t, 0, 1);
}

static void ivmd(struct tb *t, u8 type, u16 first, u16 last, u64 base, u64 size)
{
	put(t, type, 1);
	put(t, 0x1, 1); /* unity mapping */
	put(t, 32, 2);
	put(t, first, 2);
	put(t, last, 2);
	put(t, 0, 8);
	put(t, base, 8);
	put(t, size, 8);
}

static bool has_range(const struct iommu_unit *u, u16 first, u16 last, bool aliased, u16 alias)
{
	for (u32 i = 0; i < u->scope_count; i++) {
		const struct iommu_scope *s = &u->scopes[i];

		if (s->kind == IOMMU_SCOPE_RANGE && s->first == first && s->last == last &&
		    s->aliased == aliased && (!aliased || s->alias == alias))
			return true;
	}
	return false;
}

/* ---- QEMU's table -------------------------------------------------------- */

/*
 * QEMU 7.2, q35 with amd-iommu at 00:02.0 and edu at 00:03.0: IVinfo
 * 0x2800, one IVHD type 0x10 (flags 0xd1, base 0xfed80000) with a SELECT
 * entry per function on bus 0.
 */
static const u8 qemu_select[] = {
	'I', 'V', 'R', 'S', 0x64, 0, 0, 0, 1, 0, 'B', 'O', 'C', 'H', 'S', ' ', 'B', 'X', 'P', 'C',
	' ', ' ', ' ', ' ', 1, 0, 0, 0, 'B', 'X', 'P', 'C', 1, 0, 0, 0,
	/* IVinfo, reserved */
	0x00, 0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* IVHD 0x10, flags 0xd1, length 0x34, devid 0x0010, cap 0x40 */
	0x10, 0xd1, 0x34, 0x00, 0x10, 0x00, 0x40, 0x00,
	/* base 0xfed80000, segment 0, info 0, feature reporting 0x44 */
	0x00, 0x00, 0xd8, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0x44, 0, 0, 0,
	/* SELECT 00:00.0 00:01.0 00:02.0 00:03.0 00:1f.0 00:1f.2 00:1f.3 */
	0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x00, 0x02, 0x10, 0x00, 0x00, 0x02, 0x18, 0x00,
	0x00, 0x02, 0xf8, 0x00, 0x00, 0x02, 0xfa, 0x00, 0x00, 0x02, 0xfb, 0x00, 0x00
};

/* The same machine with no functions walked (QEMU's fallback) and intremap=on. */
static const u8 qemu_all[] = { 'I', 'V', 'R', 'S', 0x54, 0, 0, 0, 1, 0, 'B', 'O', 'C', 'H', 'S',
			       ' ', 'B', 'X', 'P', 'C', ' ', ' ', ' ', ' ', 1, 0, 0, 0, 'B', 'X',
			       'P', 'C', 1, 0, 0, 0, 0x00, 0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
			       0xd1, 0x24, 0x00, 0x10, 0x00, 0x40, 0x00, 0x00, 0x00, 0xd8, 0xfe, 0,
			       0, 0, 0, 0, 0, 0, 0, 0x44, 0, 0, 0,
			       /* ALL, then SPECIAL: IOAPIC, handle 0, source 00:14.0 */
			       0x01, 0x00, 0x00, 0x00, 0x48, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x00,
			       0x01 };

static void test_qemu(void)
{
	const u16 ids[] = { 0x00, 0x08, 0x10, 0x18, 0xf8, 0xfa, 0xfb };
	const struct iommu_unit *u = &rec_units[0];

	reset();
	CHECK_EQ(parse(qemu_select, sizeof(qemu_select)), 1);
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(u->kind, IOMMU_AMDVI);
	CHECK_EQ(u->base, 0xfed80000ull);
	CHECK_EQ(u->size, 0x4000);
	CHECK_EQ(u->seg, 0);
	CHECK_EQ(u->rid, 0x10);
	CHECK_EQ(u->flags, 0xd1);
	CHECK_EQ(u->scope_count, 7);
	for (u32 i = 0; i < 7; i++)
		CHECK(has_range(u, ids[i], ids[i], false, 0));
	CHECK(logged("acpi: IVRS: IVinfo 0x2800: 40-bit physical, 0-bit virtual addresses"));
	CHECK(!logged("ignored") && !logged("dropped"));

	reset();
	CHECK_EQ(parse(qemu_all, sizeof(qemu_all)), 1);
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_units[0].scope_count, 1);
	CHECK(has_range(&rec_units[0], 0, 0xffff, false, 0));
	CHECK(!logged("ignored") && !logged("dropped"));
	/* The SPECIAL entry: IOAPIC 0's interrupts come from 00:14.0. */
	CHECK_EQ(rec_ioapic_n, 1);
	CHECK_EQ(rec_ioapic_id, 0);
	CHECK_EQ(rec_ioapic_rid, 0xa0);
}

/* One IOMMU described by 0x10 and 0x11 (either order), and by 0x40 too. */
static void test_best_type(void)
{
	struct tb t;
	u32 o;

	for (int order = 0; order < 2; order++) {
		ivrs_begin(&t, 0x2800);
		for (int k = 0; k < 2; k++) {
			bool legacy = (k == 0) == (order == 0);

			o = ivhd_begin(&t, legacy ? 0x10 : 0x11, legacy ? 0xd1 : 0x11, 0x10,
				       0xfed80000);
			dev4(&t, 0x02, legacy ? 0x08 : 0x18);
			block_end(&t, o);
		}
		ivrs_end(&t);
		reset();
		CHECK_EQ(parse(t.b, t.n), 1);
		CHECK_EQ(rec_unit_n, 1);
		CHECK_EQ(rec_units[0].flags, 0x11); /* the 0x11 block's */
		CHECK(has_range(&rec_units[0], 0x18, 0x18, false, 0));
		CHECK_EQ(rec_units[0].scope_count, 1);
	}

	/* 0x40 wins over both; its ACPI-HID entry is skipped by its length. */
	ivrs_begin(&t, 0x2801);
	o = ivhd_begin(&t, 0x10, 0x01, 0x10, 0xfed80000);
	dev4(&t, 0x01, 0);
	block_end(&t, o);
	o = ivhd_begin(&t, 0x40, 0x40, 0x10, 0xfed80000);
	put(&t, 0xf0, 1);
	put(&t, 0x00a0, 2);
	put(&t, 0, 1);
	put(&t, 0x3130444d41ull, 8); /* HID "AMD01" */
	put(&t, 0, 8); /* CID */
	put(&t, 2, 1); /* UID: a string */
	put(&t, 5, 1); /* of 5 bytes */
	put(&t, 0x3433323130ull, 5);
	dev4(&t, 0x02, 0x0123);
	block_end(&t, o);
	o = ivhd_begin(&t, 0x11, 0x11, 0x10, 0xfed80000);
	dev4(&t, 0x01, 0);
	block_end(&t, o);
	/* A second IOMMU of its own. */
	o = ivhd_begin(&t, 0x10, 0x01, 0x20, 0xfed90000);
	dev4(&t, 0x02, 0x0200);
	block_end(&t, o);
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), 2);
	CHECK_EQ(rec_unit_n, 2);
	CHECK_EQ(rec_units[0].flags, 0x40);
	CHECK_EQ(rec_units[0].scope_count, 1);
	CHECK(has_range(&rec_units[0], 0x0123, 0x0123, false, 0));
	CHECK_EQ(rec_units[1].rid, 0x20);
	CHECK_EQ(rec_units[1].base, 0xfed90000ull);
	CHECK(logged("EFR images valid"));

	/* The same type twice for one IOMMU: the first stands. */
	ivrs_begin(&t, 0);
	for (int k = 0; k < 2; k++) {
		o = ivhd_begin(&t, 0x11, (u8)k, 0x10, 0xfed80000);
		dev4(&t, 0x01, 0);
		block_end(&t, o);
	}
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), 1);
	CHECK_EQ(rec_units[0].flags, 0);
	CHECK(logged("again; it is ignored"));
}

/* Ranges: plain, aliased, extended; and START/END mistakes. */
static void test_ranges(void)
{
	struct tb t;
	const struct iommu_unit *u = &rec_units[0];
	u32 o;

	ivrs_begin(&t, 0);
	o = ivhd_begin(&t, 0x10, 0, 0x10, 0xfed80000);
	dev4(&t, 0x03, 0x0100); /* START 01:00.0 */
	dev4(&t, 0x04, 0x01ff); /* END */
	dev8(&t, 0x42, 0x0300, 0x0018); /* ALIAS SELECT 03:00.0 as 00:03.0 */
	dev8(&t, 0x43, 0x0400, 0x0020); /* ALIAS START 04:00.0 as 00:04.0 */
	dev4(&t, 0x04, 0x05ff); /* END */
	dev8(&t, 0x46, 0x0600, 0); /* EXT SELECT */
	dev8(&t, 0x47, 0x0700, 0); /* EXT START */
	dev4(&t, 0x04, 0x0707);
	dev4(&t, 0x00, 0); /* padding */
	dev4(&t, 0x3f, 0x0900); /* reserved type: skipped */
	dev8(&t, 0x7f, 0x0a00, 0); /* reserved type: skipped */
	dev8(&t, 0x48, 0, 0x00a0); /* SPECIAL */
	block_end(&t, o);
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), 1);
	CHECK_EQ(u->scope_count, 5);
	CHECK(has_range(u, 0x0100, 0x01ff, false, 0));
	CHECK(has_range(u, 0x0300, 0x0300, true, 0x0018));
	CHECK(has_range(u, 0x0400, 0x05ff, true, 0x0020));
	CHECK(has_range(u, 0x0600, 0x0600, false, 0));
	CHECK(has_range(u, 0x0700, 0x0707, false, 0));
	CHECK(!logged("dropped") && !logged("ignored"));

	/* END without START, START after START, reversed, START without END. */
	ivrs_begin(&t, 0);
	o = ivhd_begin(&t, 0x10, 0, 0x10, 0xfed80000);
	dev4(&t, 0x04, 0x00ff); /* END without START */
	dev4(&t, 0x03, 0x0100); /* START ... */
	dev4(&t, 0x03, 0x0200); /* ... START again: the first is dropped */
	dev4(&t, 0x04, 0x02ff);
	dev4(&t, 0x03, 0x0500); /* reversed */
	dev4(&t, 0x04, 0x04ff);
	dev4(&t, 0x02, 0x0042);
	dev4(&t, 0x03, 0x0600); /* no END */
	block_end(&t, o);
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), 1);
	CHECK_EQ(u->scope_count, 2);
	CHECK(has_range(u, 0x0200, 0x02ff, false, 0));
	CHECK(has_range(u, 0x0042, 0x0042, false, 0));
	CHECK(logged("END at offset 0x48 has no START"));
	CHECK(logged("device range at offset 0x4c is followed by another START"));
	CHECK(logged("device range at offset 0x58 ends before it starts"));
	CHECK(logged("device range at offset 0x64 has no END"));
}

/* More ranges than a unit keeps: merged when they touch, else the unit is refused. */
static void test_scope_overflow(void)
{
	struct tb t;
	u32 o;

	/* 40 adjacent functions, alternately SELECT and ranges: one range once merged. */
	ivrs_begin(&t, 0);
	o = ivhd_begin(&t, 0x10, 0, 0x10, 0xfed80000);
	for (u16 i = 0; i < 40; i++)
		dev4(&t, 0x02, (u16)(0x0300 + i));
	dev8(&t, 0x42, 0x0500, 0x0018);
	block_end(&t, o);
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), 1);
	CHECK(rec_units[0].scope_count <= IOMMU_MAX_SCOPES);
	CHECK(has_range(&rec_units[0], 0x0300, 0x0300 + 39, false, 0));
	CHECK(has_range(&rec_units[0], 0x0500, 0x0500, true, 0x0018));

	/* 40 functions with gaps between them: cannot be merged, so no unit. */
	ivrs_begin(&t, 0);
	o = ivhd_begin(&t, 0x10, 0, 0x10, 0xfed80000);
	for (u16 i = 0; i < 40; i++)
		dev4(&t, 0x02, (u16)(0x0300 + 2 * i));
	block_end(&t, o);
	o = ivhd_begin(&t, 0x10, 0, 0x20, 0xfed90000);
	dev4(&t, 0x01, 0);
	block_end(&t, o);
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), 1);
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_units[0].rid, 0x20);
	CHECK(logged("names more than 32 device ranges, even merged"));
}

static void test_too_many_units(void)
{
	struct tb t;
	u32 o;

	ivrs_begin(&t, 0);
	for (u16 i = 0; i < IOMMU_MAX_UNITS + 2; i++) {
		o = ivhd_begin(&t, 0x10, 0, (u16)(0x10 + 8 * i), 0xfed80000ull + 0x10000ull * i);
		dev4(&t, 0x02, (u16)(0x100 * (i + 1)));
		block_end(&t, o);
	}
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), IOMMU_MAX_UNITS);
	CHECK_EQ(rec_unit_n, IOMMU_MAX_UNITS);
	CHECK(logged("more than 8 IOMMUs; it is ignored"));
	for (u32 i = 0; i < IOMMU_MAX_UNITS; i++)
		CHECK_EQ(rec_units[i].rid, 0x10 + 8 * i);
}

static void test_ivmd(void)
{
	struct tb t;

	ivrs_begin(&t, 0);
	ivmd(&t, 0x20, 0, 0, 0x80000000, 0x100000);
	ivmd(&t, 0x21, 0x0119, 0, 0x90000000, 0x1000);
	ivmd(&t, 0x22, 0x0200, 0x0200, 0xa0000000, 0x2000);
	ivmd(&t, 0x22, 0x0300, 0x03ff, 0xb0000000, 0x3000);
	ivmd(&t, 0x21, 0x0001, 0, 0xc0000000, 0); /* empty */
	ivmd(&t, 0x21, 0x0001, 0, 0xfffffffffffff000ull, 0x2000); /* wraps */
	ivmd(&t, 0x22, 0x0400, 0x03ff, 0xd0000000, 0x1000); /* reversed */
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), 0);
	CHECK_EQ(rec_res_n, 4);
	CHECK_EQ(rec_res[0].base, 0x80000000);
	CHECK_EQ(rec_res[0].size, 0x100000);
	CHECK_EQ(rec_res[0].path_len, 0);
	CHECK_EQ(rec_res[1].start_bus, 1);
	CHECK_EQ(rec_res[1].path_len, 1);
	CHECK_EQ(rec_res[1].path[0][0], 3);
	CHECK_EQ(rec_res[1].path[0][1], 1);
	CHECK_EQ(rec_res[2].start_bus, 2);
	CHECK_EQ(rec_res[2].path_len, 1);
	CHECK_EQ(rec_res[3].base, 0xb0000000);
	CHECK_EQ(rec_res[3].path_len, 0); /* a range of several: every device */
	CHECK(logged("names devices 0300-03ff; kept as for every device"));
	CHECK(logged("is empty, wraps or is reversed"));
}

/* A composite table cut at every length: never a read past it, never a partial unit. */
static void test_truncated(void)
{
	struct tb t;
	u32 o, full_units;

	ivrs_begin(&t, 0x2800);
	o = ivhd_begin(&t, 0x10, 0xd1, 0x10, 0xfed80000);
	dev4(&t, 0x02, 0x0008);
	dev4(&t, 0x03, 0x0100);
	dev4(&t, 0x04, 0x01ff);
	block_end(&t, o);
	o = ivhd_begin(&t, 0x11, 0x11, 0x10, 0xfed80000);
	dev8(&t, 0x42, 0x0300, 0x0018);
	dev4(&t, 0x02, 0x0008);
	block_end(&t, o);
	o = ivhd_begin(&t, 0x40, 0x40, 0x20, 0xfed90000);
	put(&t, 0xf0, 1);
	put(&t, 0, 3);
	put(&t, 0, 16);
	put(&t, 0, 1);
	put(&t, 3, 1);
	put(&t, 0x414243, 3);
	dev4(&t, 0x01, 0);
	block_end(&t, o);
	ivmd(&t, 0x21, 0x0008, 0, 0x90000000, 0x1000);
	ivrs_end(&t);

	reset();
	full_units = parse(t.b, t.n);
	CHECK_EQ(full_units, 2);
	CHECK_EQ(rec_res_n, 1);
	CHECK(!logged("ignored") && !logged("dropped"));
	for (u32 len = 0; len < t.n; len++) {
		reset();
		CHECK(parse(t.b, len) <= full_units);
		for (u32 i = 0; i < rec_unit_n; i++) {
			const struct iommu_unit *u = &rec_units[i];

			CHECK(u->scope_count >= 1);
			for (u32 s = 0; s < u->scope_count; s++)
				CHECK(u->scopes[s].first <= u->scopes[s].last);
		}
		CHECK(len >= 48 || rec_unit_n == 0);
		CHECK(logged("acpi: IVRS:"));
	}
}

/* Lengths that lie. */
static void test_hostile_lengths(void)
{
	struct tb t;
	u32 o;

	/* A block of length 0: the parse stops (and does not spin). */
	ivrs_begin(&t, 0);
	o = ivhd_begin(&t, 0x10, 0, 0x10, 0xfed80000);
	dev4(&t, 0x01, 0);
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), 0);
	CHECK(logged("block type 0x10 at offset 0x30 (length 0) has length 0"));

	/* Shorter than its header. */
	patch16(&t, o + 2, 20);
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), 0);
	CHECK(logged("is shorter than its header"));

	/* Longer than the table. */
	patch16(&t, o + 2, t.n - o + 4);
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), 0);
	CHECK(logged("runs past the table's end"));

	/* An unknown block of length 0 stops the parse too; known ones before stay. */
	ivrs_begin(&t, 0);
	o = ivhd_begin(&t, 0x10, 0, 0x10, 0xfed80000);
	dev4(&t, 0x01, 0);
	block_end(&t, o);
	put(&t, 0x55, 1);
	put(&t, 0, 3);
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), 1);
	CHECK(logged("block type 0x55 at offset 0x4c (length 0) has length 0"));

	/* An unknown block with a good length is skipped. */
	ivrs_begin(&t, 0);
	put(&t, 0x55, 1);
	put(&t, 0, 1);
	put(&t, 8, 2);
	put(&t, 0, 4);
	o = ivhd_begin(&t, 0x10, 0, 0x10, 0xfed80000);
	dev4(&t, 0x01, 0);
	block_end(&t, o);
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), 1);

	/* An 8-byte entry cut by its block's end. */
	ivrs_begin(&t, 0);
	o = ivhd_begin(&t, 0x10, 0, 0x10, 0xfed80000);
	dev4(&t, 0x02, 0x0008);
	dev8(&t, 0x42, 0x0300, 0x0018);
	patch16(&t, o + 2, t.n - o - 4);
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), 0);
	CHECK(logged("device entry type 0x42 at offset 0x4c runs past its block"));

	/* An ACPI-HID entry whose UID length runs past the block. */
	ivrs_begin(&t, 0);
	o = ivhd_begin(&t, 0x40, 0, 0x10, 0xfed80000);
	put(&t, 0xf0, 1);
	put(&t, 0, 3);
	put(&t, 0, 16);
	put(&t, 0, 1);
	put(&t, 200, 1);
	put(&t, 0, 4);
	block_end(&t, o);
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), 0);
	CHECK(logged("device entry type 0xf0 at offset 0x58 runs past its block"));

	/* One cut before its UID length. */
	ivrs_begin(&t, 0);
	o = ivhd_begin(&t, 0x40, 0, 0x10, 0xfed80000);
	put(&t, 0xf0, 1);
	put(&t, 0, 15);
	block_end(&t, o);
	ivrs_end(&t);
	reset();
	CHECK_EQ(parse(t.b, t.n), 0);
	CHECK(logged("runs past its block"));

	/* ACPI-HID outside a type 0x40 block, and other variable-length types. */
	for (int k = 0; k < 2; k++) {
		ivrs_begin(&t, 0);
		o = ivhd_begin(&t, 0x11, 0, 0x10, 0xfed80000);
		put(&t, k ? 0xf0 : 0x80, 1);
		put(&t, 0, 23);
		block_end(&t, o);
		ivrs_end(&t);
		reset();
		CHECK_EQ(parse(t.b, t.n), 0);
		CHECK(logged("has no size Keel knows"));
	}

	/* Shorter than the IVRS header. */
	reset();
	CHECK_EQ(parse(t.b, 47), 0);
	CHECK(logged("shorter than its header (48)"));
}

/* Random tables behind a valid header and block framing: no crash, no overread. */
static void test_random(void)
{
	unsigned long long seed = 0x1f2e3d4c5b6a7988ull;
	struct tb t;

	for (int iter = 0; iter < 3000; iter++) {
		u32 blocks = (u32)(unit_rand(&seed) % 4) + 1;

		ivrs_begin(&t, (u32)unit_rand(&seed));
		for (u32 b = 0; b < blocks && t.n < 3000; b++) {
			static const u8 types[] = { 0x10, 0x11, 0x40, 0x20, 0x21, 0x22, 0x33 };
			u8 type = types[unit_rand(&seed) % sizeof(types)];
			u32 o = ivhd_begin(&t, type, (u8)unit_rand(&seed),
					   (u16)(unit_rand(&seed) % 4), 0xfed80000);
			u32 body = (u32)(unit_rand(&seed) % 64);

			for (u32 i = 0; i < body; i++) {
				u8 v = (u8)unit_rand(&seed);

				/* Bias towards entry types the parser knows. */
				if (i % 4 == 0 && (v & 1))
					v = (u8)(v % 5);
				put(&t, v, 1);
			}
			if (unit_rand(&seed) % 8)
				block_end(&t, o);
			else
				patch16(&t, o + 2, (u32)unit_rand(&seed));
		}
		ivrs_end(&t);
		reset();
		parse(t.b, t.n);
		CHECK(rec_unit_n <= IOMMU_MAX_UNITS);
	}
}

int main(void)
{
	test_qemu();
	test_best_type();
	test_ranges();
	test_scope_overflow();
	test_too_many_units();
	test_ivmd();
	test_truncated();
	test_hostile_lengths();
	test_random();
	return unit_done("test_ivrs");
}
