/* SPDX-License-Identifier: MIT */
/*
 * The ACPI DMAR parser (arch/x86_64/dmar.c) on QEMU's q35 table built byte
 * by byte, and on hostile tables: truncated at every length, zero and
 * oversized lengths, scopes that overrun, empty or long paths, too many
 * scopes or units, RMRRs good and bad, random bytes.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/abi.h>
#include <keel/iommu.h>

#include "acpi_iommu.h"
#include "unit.h"

extern char unit_log[];
extern size_t unit_log_len;

/* ---- what the parser hands over ---- */

#define REC_MAX 16

static struct iommu_unit rec_units[REC_MAX];
static u32 rec_unit_calls, rec_unit_accepted;
static struct iommu_reserved rec_res[REC_MAX];
static u32 rec_res_calls;

int iommu_add(const struct keel_boot_info *bi, const struct iommu_unit *desc)
{
	(void)bi;
	if (rec_unit_calls < REC_MAX)
		rec_units[rec_unit_calls] = *desc;
	rec_unit_calls++;
	if (!IS_ALIGNED(desc->base, PAGE_SIZE))
		return -KEEL_EINVAL;
	if (rec_unit_accepted == IOMMU_MAX_UNITS)
		return -KEEL_ENOSPC;
	rec_unit_accepted++;
	return 0;
}

int iommu_add_reserved(const struct iommu_reserved *r)
{
	if (rec_res_calls < REC_MAX)
		rec_res[rec_res_calls] = *r;
	rec_res_calls++;
	return 0;
}

/* IOAPIC requester IDs handed to arch/x86_64/ioapic.c. */
static u32 rec_ioapic_calls;
static u8 rec_ioapic_id;
static u16 rec_ioapic_seg, rec_ioapic_rid;

void x86_ioapic_source(u8 ioapic_id, u16 seg, u16 rid, hpa_t unit_base)
{
	CHECK_EQ(unit_base, 0xfed90000ull);
	rec_ioapic_calls++;
	rec_ioapic_id = ioapic_id;
	rec_ioapic_seg = seg;
	rec_ioapic_rid = rid;
}

static void rec_reset(void)
{
	rec_ioapic_calls = 0;
	memset(rec_units, 0, sizeof(rec_units));
	memset(rec_res, 0, sizeof(rec_res));
	rec_unit_calls = rec_unit_accepted = rec_res_calls = 0;
	unit_log_len = 0;
	unit_log[0] = 0;
}

static bool logged(const char *s)
{
	return strstr(unit_log, s) != NULL;
}

/* ---- a table, appended to byte by byte ---- */

struct tbl {
	u8 b[8192];
	u32 n;
};

static void put8(struct tbl *t, u32 v)
{
	if (t->n >= sizeof(t->b))
		abort();
	t->b[t->n++] = (u8)v;
}

static void put16(struct tbl *t, u32 v)
{
	put8(t, v & 0xff);
	put8(t, v >> 8);
}

static void put32(struct tbl *t, u32 v)
{
	put16(t, v & 0xffff);
	put16(t, v >> 16);
}

static void put64(struct tbl *t, u64 v)
{
	put32(t, (u32)v);
	put32(t, (u32)(v >> 32));
}

static void puts_n(struct tbl *t, const char *s, u32 n)
{
	for (u32 i = 0; i < n; i++)
		put8(t, (u8)s[i]);
}

static void set16(struct tbl *t, u32 off, u32 v)
{
	t->b[off] = (u8)v;
	t->b[off + 1] = (u8)(v >> 8);
}

/* The ACPI header as QEMU writes it, then host address width - 1 and flags. */
static void dmar_header(struct tbl *t, u8 haw_minus_1, u8 flags)
{
	t->n = 0;
	puts_n(t, "DMAR", 4);
	put32(t, 0); /* length: dmar_finish */
	put8(t, 1); /* revision */
	put8(t, 0); /* checksum: dmar_finish */
	puts_n(t, "BOCHS ", 6);
	puts_n(t, "BXPC    ", 8);
	put32(t, 1);
	puts_n(t, "BXPC", 4);
	put32(t, 1);
	put8(t, haw_minus_1);
	put8(t, flags);
	for (int i = 0; i < 10; i++)
		put8(t, 0);
}

static void dmar_finish(struct tbl *t)
{
	u8 sum = 0;

	memcpy(t->b + 4, &t->n, 4);
	t->b[9] = 0;
	for (u32 i = 0; i < t->n; i++)
		sum = (u8)(sum + t->b[i]);
	t->b[9] = (u8)(0x100 - sum);
}

/* Structures: begin returns the offset, end writes the length. */
static u32 drhd_begin(struct tbl *t, u8 flags, u8 size, u16 seg, u64 base)
{
	u32 off = t->n;

	put16(t, 0);
	put16(t, 0);
	put8(t, flags);
	put8(t, size);
	put16(t, seg);
	put64(t, base);
	return off;
}

static u32 rmrr_begin(struct tbl *t, u16 seg, u64 base, u64 limit)
{
	u32 off = t->n;

	put16(t, 1);
	put16(t, 0);
	put16(t, 0);
	put16(t, seg);
	put64(t, base);
	put64(t, limit);
	return off;
}

static void st_end(struct tbl *t, u32 off)
{
	set16(t, off + 2, t->n - off);
}

/* A device scope of @hops (device, function) pairs. */
static void scope(struct tbl *t, u8 type, u8 bus, u32 hops, const u8 (*path)[2])
{
	put8(t, type);
	put8(t, 6 + 2 * hops);
	put16(t, 0);
	put8(t, 0); /* enumeration ID */
	put8(t, bus);
	for (u32 i = 0; i < hops; i++) {
		put8(t, path[i][0]);
		put8(t, path[i][1]);
	}
}

static const u8 path_ioapic[1][2] = { { 0, 0 } };

/*
 * QEMU q35 with -device intel-iommu,intremap=on: HAW 39, flags INTR_REMAP,
 * one DRHD with INCLUDE_PCI_ALL at 0xfed90000 naming the IOAPIC (bus 0xff,
 * path 00.0); device-iotlb=on adds an ATSR for all ports.
 */
static void build_q35(struct tbl *t, bool atsr)
{
	u32 d;

	dmar_header(t, 38, 0x1);
	d = drhd_begin(t, 0x1, 0, 0, 0xfed90000ull);
	scope(t, 3, 0xff, 1, path_ioapic);
	st_end(t, d);
	if (atsr) {
		put16(t, 2);
		put16(t, 8);
		put8(t, 1); /* ALL_PORTS */
		put8(t, 0);
		put16(t, 0);
	}
	dmar_finish(t);
}

/* Parse a heap copy of exactly @len bytes, so ASan sees any read past the end. */
static u32 parse_exact(const u8 *b, u32 len)
{
	u8 *copy = malloc(len ? len : 1);
	u32 n;

	memcpy(copy, b, len);
	n = dmar_parse(NULL, copy, len);
	free(copy);
	return n;
}

static void test_q35(void)
{
	struct tbl t;

	build_q35(&t, false);
	CHECK_EQ(t.n, 72);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 1);
	CHECK_EQ(rec_unit_calls, 1);
	CHECK_EQ(rec_units[0].kind, IOMMU_VTD);
	CHECK_EQ(rec_units[0].base, 0xfed90000ull);
	CHECK_EQ(rec_units[0].size, 4096);
	CHECK_EQ(rec_units[0].seg, 0);
	CHECK_EQ(rec_units[0].include_all, 1);
	CHECK_EQ(rec_units[0].flags, 1);
	CHECK_EQ(rec_units[0].scope_count, 0);
	CHECK_EQ(rec_res_calls, 0);
	CHECK(logged("acpi: DMAR: host address width 39, flags 0x1 (interrupt remapping)"));
	CHECK(logged("0 PCI scopes, 1 non-PCI scopes skipped"));
	/* The IOAPIC's scope names the requester its interrupts carry: ff:00.0. */
	CHECK_EQ(rec_ioapic_calls, 1);
	CHECK_EQ(rec_ioapic_id, 0);
	CHECK_EQ(rec_ioapic_seg, 0);
	CHECK_EQ(rec_ioapic_rid, 0xff00);

	/* device-iotlb=on: the ATSR is skipped by its length. */
	build_q35(&t, true);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 1);
	CHECK_EQ(rec_unit_calls, 1);
	CHECK(!logged("parse stopped"));
}

/* Every prefix of a table: no read past it, no unit from a cut structure. */
static void test_truncated(void)
{
	struct tbl t;
	const u8 ep[2][2] = { { 2, 0 }, { 3, 1 } };
	u32 d, r;

	build_q35(&t, false);
	for (u32 len = 0; len < t.n; len++) {
		rec_reset();
		CHECK_EQ(parse_exact(t.b, len), 0);
		CHECK_EQ(rec_unit_calls, 0);
	}

	/* A richer table: a DRHD with scopes, an RMRR, the catch-all DRHD. */
	dmar_header(&t, 45, 0);
	d = drhd_begin(&t, 0, 0, 0, 0xfed91000ull);
	scope(&t, 1, 0, 1, &ep[0]);
	scope(&t, 2, 0, 2, ep);
	st_end(&t, d);
	r = rmrr_begin(&t, 0, 0x7f000000ull, 0x7f0fffffull);
	scope(&t, 1, 0, 1, &ep[1]);
	st_end(&t, r);
	d = drhd_begin(&t, 1, 0, 0, 0xfed90000ull);
	scope(&t, 3, 0xf0, 1, path_ioapic);
	st_end(&t, d);
	dmar_finish(&t);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 2);
	CHECK_EQ(rec_res_calls, 1);
	for (u32 len = 0; len < t.n; len++) {
		rec_reset();
		CHECK(parse_exact(t.b, len) <= 1);
		CHECK(rec_unit_calls <= 1);
		CHECK(rec_res_calls <= 1);
	}
}

static void test_bad_lengths(void)
{
	struct tbl t;
	u32 d;

	/* Length 0 must not loop, and stops the parse. */
	dmar_header(&t, 38, 0);
	d = drhd_begin(&t, 1, 0, 0, 0xfed90000ull);
	set16(&t, d + 2, 0);
	dmar_finish(&t);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 0);
	CHECK(logged("acpi: DMAR: structure type 0 at offset 0x30 has length 0"));
	CHECK(logged("parse stopped"));

	/* Shorter than the common header, and shorter than a DRHD header. */
	set16(&t, d + 2, 3);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 0);
	CHECK(logged("parse stopped"));
	set16(&t, d + 2, 8);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 0);
	CHECK(logged("DRHD at offset 0x30 has length 8, shorter than its header"));

	/* Longer than the table. */
	set16(&t, d + 2, 17);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 0);
	CHECK(logged("has length 17 (16 bytes left)"));

	/* Stray bytes after the last structure. */
	st_end(&t, d);
	put8(&t, 0);
	put8(&t, 0);
	dmar_finish(&t);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 1);
	CHECK(logged("2 stray bytes at offset 0x40"));

	/* A table shorter than its own header. */
	rec_reset();
	CHECK_EQ(parse_exact(t.b, 40), 0);
	CHECK(logged("shorter than its header; ignored"));
}

static void test_scope_overrun(void)
{
	struct tbl t;
	u32 d;

	/* A scope claiming 10 bytes in a structure with 8 left. */
	dmar_header(&t, 38, 0);
	d = drhd_begin(&t, 0, 0, 0, 0xfed90000ull);
	scope(&t, 1, 0, 1, path_ioapic);
	t.b[d + 16 + 1] = 10;
	st_end(&t, d);
	dmar_finish(&t);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 0);
	CHECK_EQ(rec_unit_calls, 0);
	CHECK(logged("device scope at offset 0x40 has length 10 (8 bytes left in its structure)"));

	/* A scope length of 0 (would loop) and an odd one. */
	t.b[d + 16 + 1] = 0;
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 0);
	CHECK(logged("has length 0"));
	t.b[d + 16 + 1] = 7;
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 0);
	CHECK(logged("has length 7"));

	/* A structure ending 3 bytes into a scope header. */
	dmar_header(&t, 38, 0);
	d = drhd_begin(&t, 0, 0, 0, 0xfed90000ull);
	put8(&t, 1);
	put8(&t, 8);
	put8(&t, 0);
	st_end(&t, d);
	dmar_finish(&t);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 0);
	CHECK(logged("device scope at offset 0x40: 3 bytes left, header needs 6"));
}

static void test_paths(void)
{
	u8 path[IOMMU_MAX_PATH + 1][2];
	struct tbl t;
	u32 d;

	for (u32 i = 0; i < ARRAY_SIZE(path); i++) {
		path[i][0] = (u8)(i + 1);
		path[i][1] = (u8)(i & 7);
	}
	/* Zero hops: that unit is refused, the next one still comes. */
	dmar_header(&t, 38, 0);
	d = drhd_begin(&t, 0, 0, 0, 0xfed91000ull);
	scope(&t, 1, 0, 0, NULL);
	st_end(&t, d);
	d = drhd_begin(&t, 1, 0, 0, 0xfed90000ull);
	st_end(&t, d);
	dmar_finish(&t);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 1);
	CHECK_EQ(rec_unit_calls, 1);
	CHECK_EQ(rec_units[0].base, 0xfed90000ull);
	CHECK(logged(
		"DRHD at offset 0x30 (registers 0xfed91000) refused: a device scope with an empty path"));

	/* IOMMU_MAX_PATH hops are kept, one more refuses the unit. */
	dmar_header(&t, 38, 0);
	d = drhd_begin(&t, 0, 0, 0, 0xfed91000ull);
	scope(&t, 2, 0x10, IOMMU_MAX_PATH, path);
	st_end(&t, d);
	d = drhd_begin(&t, 0, 0, 0, 0xfed92000ull);
	scope(&t, 1, 0, IOMMU_MAX_PATH + 1, path);
	st_end(&t, d);
	dmar_finish(&t);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 1);
	CHECK_EQ(rec_unit_calls, 1);
	CHECK_EQ(rec_units[0].scope_count, 1);
	CHECK_EQ(rec_units[0].scopes[0].kind, IOMMU_SCOPE_PATH);
	CHECK_EQ(rec_units[0].scopes[0].bridge, 1);
	CHECK_EQ(rec_units[0].scopes[0].start_bus, 0x10);
	CHECK_EQ(rec_units[0].scopes[0].path_len, IOMMU_MAX_PATH);
	CHECK(memcmp(rec_units[0].scopes[0].path, path, IOMMU_MAX_PATH * 2) == 0);
	CHECK(logged("refused: a device scope path longer than Keel keeps"));
}

static void test_many_scopes(void)
{
	const u8 one[1][2] = { { 4, 2 } };
	struct tbl t;
	u32 d;

	/* IOMMU_MAX_SCOPES endpoints plus non-PCI scopes: kept. */
	dmar_header(&t, 38, 0);
	d = drhd_begin(&t, 0, 0, 3, 0xfed90000ull);
	for (u32 i = 0; i < IOMMU_MAX_SCOPES; i++)
		scope(&t, 1, (u8)i, 1, one);
	scope(&t, 3, 0xf0, 1, path_ioapic);
	scope(&t, 4, 0xf0, 1, path_ioapic);
	scope(&t, 5, 0xf0, 1, path_ioapic);
	st_end(&t, d);
	dmar_finish(&t);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 1);
	CHECK_EQ(rec_units[0].scope_count, IOMMU_MAX_SCOPES);
	CHECK_EQ(rec_units[0].seg, 3);
	CHECK_EQ(rec_units[0].include_all, 0);
	CHECK_EQ(rec_units[0].scopes[IOMMU_MAX_SCOPES - 1].start_bus, IOMMU_MAX_SCOPES - 1);
	CHECK_EQ(rec_units[0].scopes[5].bridge, 0);
	CHECK_EQ(rec_units[0].scopes[5].path[0][0], 4);
	CHECK_EQ(rec_units[0].scopes[5].path[0][1], 2);
	CHECK(logged("32 PCI scopes, 3 non-PCI scopes skipped"));

	/* One more: the unit is refused as a whole. */
	dmar_header(&t, 38, 0);
	d = drhd_begin(&t, 0, 0, 0, 0xfed90000ull);
	for (u32 i = 0; i <= IOMMU_MAX_SCOPES; i++)
		scope(&t, 1, (u8)i, 1, one);
	st_end(&t, d);
	dmar_finish(&t);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 0);
	CHECK_EQ(rec_unit_calls, 0);
	CHECK(logged("refused: more device scopes than Keel keeps; its devices stay uncovered"));
}

static void test_many_units(void)
{
	struct tbl t;

	dmar_header(&t, 38, 0);
	for (u32 i = 0; i < IOMMU_MAX_UNITS + 2; i++) {
		u32 d = drhd_begin(&t, 0, 0, 0, 0xfed00000ull + i * 0x1000ull);

		st_end(&t, d);
	}
	dmar_finish(&t);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), IOMMU_MAX_UNITS);
	CHECK_EQ(rec_unit_calls, IOMMU_MAX_UNITS + 2);

	/* A unit iommu_add refuses is not counted; the parse goes on. */
	dmar_header(&t, 38, 0);
	st_end(&t, drhd_begin(&t, 0, 0, 0, 0xfed90800ull));
	st_end(&t, drhd_begin(&t, 1, 0, 0, 0xfed90000ull));
	dmar_finish(&t);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 1);
	CHECK_EQ(rec_unit_calls, 2);
}

static void test_size_field(void)
{
	struct tbl t;
	u32 d;

	dmar_header(&t, 38, 0);
	d = drhd_begin(&t, 1, 1, 0, 0xfed90000ull);
	st_end(&t, d);
	d = drhd_begin(&t, 0, 0xf3, 0, 0xfed80000ull); /* upper bits are not the size */
	st_end(&t, d);
	d = drhd_begin(&t, 0, 0xf, 0, 0xfed00000ull);
	st_end(&t, d);
	dmar_finish(&t);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 3);
	CHECK_EQ(rec_units[0].size, 8192);
	CHECK_EQ(rec_units[1].size, 32768);
	CHECK_EQ(rec_units[2].size, 65536); /* 2^15 pages, clamped */
}

static void test_rmrr(void)
{
	const u8 usb[1][2] = { { 0x14, 0 } };
	const u8 gpu[2][2] = { { 1, 0 }, { 0, 0 } };
	struct tbl t;
	u32 r;

	dmar_header(&t, 38, 0);
	r = rmrr_begin(&t, 2, 0x7d000000ull, 0x7d01ffffull);
	scope(&t, 1, 0, 1, usb);
	scope(&t, 3, 0xf0, 1, path_ioapic); /* not a PCI function: skipped */
	scope(&t, 1, 0, 2, gpu);
	scope(&t, 1, 0, 0, NULL); /* empty path: skipped */
	st_end(&t, r);
	/* Not whole pages, and limit below base: ignored, the parse goes on. */
	r = rmrr_begin(&t, 0, 0x7e000800ull, 0x7e000fffull);
	scope(&t, 1, 0, 1, usb);
	st_end(&t, r);
	r = rmrr_begin(&t, 0, 0x7e000000ull, 0x7dffffffull);
	scope(&t, 1, 0, 1, usb);
	st_end(&t, r);
	r = rmrr_begin(&t, 0, 0xfffffffffffff000ull, ~0ull);
	scope(&t, 1, 0, 1, usb);
	st_end(&t, r);
	st_end(&t, drhd_begin(&t, 1, 0, 2, 0xfed90000ull));
	dmar_finish(&t);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 1);
	CHECK_EQ(rec_res_calls, 2);
	CHECK_EQ(rec_res[0].base, 0x7d000000ull);
	CHECK_EQ(rec_res[0].size, 0x20000);
	CHECK_EQ(rec_res[0].seg, 2);
	CHECK_EQ(rec_res[0].start_bus, 0);
	CHECK_EQ(rec_res[0].path_len, 1);
	CHECK_EQ(rec_res[0].path[0][0], 0x14);
	CHECK_EQ(rec_res[1].path_len, 2);
	CHECK_EQ(rec_res[1].path[0][0], 1);
	CHECK_EQ(rec_res[1].path[1][0], 0);
	CHECK(logged(
		"RMRR at offset 0x30: a device scope with an empty path; that entry is skipped"));
	CHECK(logged("names 0x7e000800-0x7e000fff, not whole pages; ignored"));
	CHECK(logged("names 0x7e000000-0x7dffffff, not whole pages; ignored"));
	CHECK(logged("names 0xfffffffffffff000-0xffffffffffffffff, not whole pages; ignored"));

	/* An RMRR shorter than its header stops the parse. */
	dmar_header(&t, 38, 0);
	r = rmrr_begin(&t, 0, 0, 0xfff);
	set16(&t, r + 2, 20);
	t.n = r + 20;
	dmar_finish(&t);
	rec_reset();
	CHECK_EQ(parse_exact(t.b, t.n), 0);
	CHECK(logged("RMRR at offset 0x30 has length 20, shorter than its header"));
}

/* Random structures after a valid header: whatever happens, nothing is read past the end. */
static void test_random(void)
{
	unsigned long long seed = 0x5eed12345ull;
	struct tbl t;

	for (int iter = 0; iter < 3000; iter++) {
		u32 len = 48 + (u32)(unit_rand(&seed) % 200);

		dmar_header(&t, 38, 1);
		while (t.n < len) {
			u64 r = unit_rand(&seed);

			/* Mostly small types and lengths, so structures parse deep. */
			if (t.n % 4 == 0 && (r & 3) == 0)
				put16(&t, (u32)((r >> 8) % 3));
			else if ((r & 7) == 1)
				put8(&t, (u32)((r >> 8) % 40));
			else
				put8(&t, (u32)(r >> 16));
		}
		rec_reset();
		CHECK(parse_exact(t.b, t.n) <= t.n / 16);
	}
}

int main(void)
{
	test_q35();
	test_truncated();
	test_bad_lengths();
	test_scope_overrun();
	test_paths();
	test_many_scopes();
	test_many_units();
	test_size_field();
	test_rmrr();
	test_random();
	return unit_done("test_dmar");
}
