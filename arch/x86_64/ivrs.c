/* SPDX-License-Identifier: MIT */
/*
 * The ACPI IVRS table (AMD I/O Virtualization Reporting Structure): each
 * AMD-Vi IOMMU, the requester IDs it translates and the memory the firmware
 * reserves for DMA, handed to the IOMMU registry (keel/iommu.h).
 */
#include <keel/console.h>
#include <keel/iommu.h>

#include "acpi_iommu.h"

/* The table: ACPI header (36 bytes), IVinfo, 8 reserved bytes, then blocks. */
#define IVRS_IVINFO 36u
#define IVRS_FIRST_BLOCK 48u
#define IVINFO_EFR_SUP BIT(0) /* the EFR images of IVHD types 0x11/0x40 are valid */
#define IVINFO_PA_SHIFT 8 /* bits 14:8: physical address size */
#define IVINFO_VA_SHIFT 15 /* bits 21:15: virtual address size */
#define IVINFO_SIZE_MASK 0x7fu

/* Every block starts with type (1 byte), flags (1) and length (2). */
#define BLOCK_HDR_LEN 4u
#define BLOCK_LEN 2

/* IVHD: one IOMMU; type 0x10 is the oldest form, 0x11 and 0x40 carry its EFR. */
#define IVHD_LEGACY 0x10
#define IVHD_EFR 0x11
#define IVHD_ACPI 0x40 /* 0x11, plus ACPI-HID device entries */
#define IVHD_LEGACY_LEN 24u /* header length of type 0x10 */
#define IVHD_EFR_LEN 40u /* of types 0x11 and 0x40 */
#define IVHD_FLAGS 1
#define IVHD_DEVID 4 /* the IOMMU's own PCI function */
#define IVHD_BASE 8
#define IVHD_SEG 16
/*
 * The register block Keel maps: 16 KiB reaches every register the driver
 * uses (control at 0x18, the pointers and status at 0x2000-0x2020); the
 * performance counters above 0x4000 are left unmapped.
 */
#define IVHD_MMIO_SIZE 0x4000ull

/* IVMD: memory the firmware uses for DMA (all devices, one, or a range). */
#define IVMD_ALL 0x20
#define IVMD_ONE 0x21
#define IVMD_RANGE 0x22
#define IVMD_LEN 32u
#define IVMD_DEVID 4
#define IVMD_DEVID_LAST 6 /* IVMD_RANGE: the range's last device ID */
#define IVMD_START 16
#define IVMD_SIZE 24

/*
 * IVHD device entries. The type says the size: 0..63 four bytes, 64..127
 * eight, 0xF0 (ACPI-HID) its own length; the device ID is at byte 1.
 */
#define DEV_PAD 0x00
#define DEV_ALL 0x01
#define DEV_SELECT 0x02
#define DEV_START 0x03
#define DEV_END 0x04
#define DEV_ALIAS_SELECT 0x42
#define DEV_ALIAS_START 0x43
#define DEV_EXT_SELECT 0x46
#define DEV_EXT_START 0x47
#define DEV_SPECIAL 0x48 /* IOAPIC or HPET: not a PCI function */
#define SPECIAL_HANDLE 4 /* the IOAPIC's ID (or HPET number) */
#define SPECIAL_DEVID 5 /* the requester its interrupts carry */
#define SPECIAL_VARIETY 7
#define SPECIAL_IOAPIC 1
#define DEV_ACPI_HID 0xf0 /* a device named by ACPI: not a PCI function */
#define DEV_SHORT_MAX 63u
#define DEV_LONG_MAX 127u
#define DEV_ID 1
#define DEV_ALIAS_ID 5 /* DEV_ALIAS_*: the ID the device DMAs as */
#define DEV_HID_UID_LEN 21 /* DEV_ACPI_HID: UID length; the UID follows */
#define DEV_HID_FIXED 22u /* DEV_ACPI_HID: bytes before the UID */

/* IOMMUs told apart by device ID and segment; the best IVHD type of each. */
struct ivhd_id {
	u16 devid;
	u16 seg;
	u8 type;
	bool done; /* a block of that type was handled; later duplicates are not */
};

struct ivrs {
	const struct keel_boot_info *bi;
	const u8 *t;
	u32 len;
	u32 end; /* where the blocks stop: the table's end, or a malformed block */
	struct ivhd_id ids[IOMMU_MAX_UNITS];
	u32 id_count;
	u32 handed; /* units given to iommu_add() */
};

/* One IVHD being turned into a unit. */
struct ivhd {
	struct iommu_unit unit;
	bool open; /* a START is waiting for its END */
	bool aliased;
	u16 start;
	u16 alias;
	u32 start_off;
	bool merged; /* the ranges filled the unit once and were merged */
	bool too_many; /* more ranges than IOMMU_MAX_SCOPES, even merged */
};

static u16 get16(const u8 *p)
{
	return (u16)(p[0] | p[1] << 8);
}

static u32 get32(const u8 *p)
{
	return (u32)get16(p) | (u32)get16(p + 2) << 16;
}

static u64 get64(const u8 *p)
{
	return (u64)get32(p) | (u64)get32(p + 4) << 32;
}

/* The IVHD types Keel understands, ranked: higher describes an IOMMU better. */
static u32 ivhd_rank(u8 type)
{
	switch (type) {
	case IVHD_LEGACY:
		return 1;
	case IVHD_EFR:
		return 2;
	case IVHD_ACPI:
		return 3;
	default:
		return 0;
	}
}

static bool ivmd_type(u8 type)
{
	return type == IVMD_ALL || type == IVMD_ONE || type == IVMD_RANGE;
}

/* The shortest length a block of @type may have: its header. */
static u32 block_min_len(u8 type)
{
	if (type == IVHD_LEGACY)
		return IVHD_LEGACY_LEN;
	if (ivhd_rank(type))
		return IVHD_EFR_LEN;
	if (ivmd_type(type))
		return IVMD_LEN;
	return BLOCK_HDR_LEN;
}

static void ivrs_log_info(const struct ivrs *r)
{
	u32 info = get32(r->t + IVRS_IVINFO);

	pr_info("acpi: IVRS: IVinfo 0x%x: %u-bit physical, %u-bit virtual addresses%s", info,
		(info >> IVINFO_PA_SHIFT) & IVINFO_SIZE_MASK,
		(info >> IVINFO_VA_SHIFT) & IVINFO_SIZE_MASK,
		info & IVINFO_EFR_SUP ? ", EFR images valid" : "");
}

/*
 * The length of the block at @off, checked against its header and the
 * table; false (with a console line) if the parse must stop there.
 */
static bool block_len(const struct ivrs *r, u32 off, u32 *len)
{
	const char *why = NULL;
	u8 type = 0;
	u32 n = 0;

	if (r->len - off < BLOCK_HDR_LEN) {
		why = "is cut off by the table's end";
	} else {
		type = r->t[off];
		n = get16(r->t + off + BLOCK_LEN);
		if (n == 0)
			why = "has length 0";
		else if (n < block_min_len(type))
			why = "is shorter than its header";
		else if (n > r->len - off)
			why = "runs past the table's end";
	}
	if (why) {
		pr_warn("acpi: IVRS: block type 0x%x at offset 0x%x (length %u) %s; the rest of "
			"the table is ignored",
			type, off, n, why);
		return false;
	}
	*len = n;
	return true;
}

static struct ivhd_id *ivhd_id_find(struct ivrs *r, u16 devid, u16 seg)
{
	for (u32 i = 0; i < r->id_count; i++)
		if (r->ids[i].devid == devid && r->ids[i].seg == seg)
			return &r->ids[i];
	return NULL;
}

/* First pass: where the well-formed blocks end, and each IOMMU's best IVHD type. */
static void ivrs_scan(struct ivrs *r)
{
	u32 off = IVRS_FIRST_BLOCK, n;

	while (off < r->len) {
		const u8 *b = r->t + off;
		struct ivhd_id *id;

		if (!block_len(r, off, &n))
			break;
		if (ivhd_rank(b[0])) {
			id = ivhd_id_find(r, get16(b + IVHD_DEVID), get16(b + IVHD_SEG));
			if (!id && r->id_count < IOMMU_MAX_UNITS) {
				id = &r->ids[r->id_count++];
				*id = (struct ivhd_id){ .devid = get16(b + IVHD_DEVID),
							.seg = get16(b + IVHD_SEG) };
			}
			if (id && ivhd_rank(b[0]) > ivhd_rank(id->type))
				id->type = b[0];
		}
		off += n;
	}
	r->end = off;
}

static bool scope_same_alias(const struct iommu_scope *a, u16 alias, bool aliased)
{
	return a->aliased == aliased && (!aliased || a->alias == alias);
}

/* Widen a scope of @u to take [first, last] if they touch; true if it did. */
static bool scope_merge(struct iommu_unit *u, u16 first, u16 last, u16 alias, bool aliased)
{
	for (u32 i = 0; i < u->scope_count; i++) {
		struct iommu_scope *s = &u->scopes[i];

		if (!scope_same_alias(s, alias, aliased))
			continue;
		if ((u32)first > (u32)s->last + 1 || (u32)last + 1 < (u32)s->first)
			continue;
		s->first = MIN(s->first, first);
		s->last = MAX(s->last, last);
		return true;
	}
	return false;
}

/* Sort @u's scopes by alias, then start, and merge the ones that touch. */
static void scope_coalesce(struct iommu_unit *u)
{
	struct iommu_scope *s = u->scopes;
	u32 i, j, n = 0;

	for (i = 1; i < u->scope_count; i++) {
		struct iommu_scope key = s[i];

		for (j = i; j > 0; j--) {
			const struct iommu_scope *p = &s[j - 1];
			u32 pk = p->aliased ? 0x10000u + p->alias : 0;
			u32 kk = key.aliased ? 0x10000u + key.alias : 0;

			if (pk < kk || (pk == kk && p->first <= key.first))
				break;
			s[j] = s[j - 1];
		}
		s[j] = key;
	}
	for (i = 0; i < u->scope_count; i++) {
		if (n && scope_same_alias(&s[n - 1], s[i].alias, s[i].aliased) &&
		    (u32)s[i].first <= (u32)s[n - 1].last + 1) {
			s[n - 1].last = MAX(s[n - 1].last, s[i].last);
			continue;
		}
		s[n++] = s[i];
	}
	u->scope_count = n;
}

/* Requester IDs [first, last] DMA through this IOMMU (as @alias if @aliased). */
static void ivhd_scope_add(struct ivhd *h, u16 first, u16 last, u16 alias, bool aliased)
{
	struct iommu_unit *u = &h->unit;

	if (u->scope_count == IOMMU_MAX_SCOPES) {
		scope_coalesce(u);
		h->merged = true;
		if (scope_merge(u, first, last, alias, aliased))
			return;
	}
	if (u->scope_count == IOMMU_MAX_SCOPES) {
		h->too_many = true;
		return;
	}
	u->scopes[u->scope_count++] = (struct iommu_scope){ .kind = IOMMU_SCOPE_RANGE,
							    .first = first,
							    .last = last,
							    .alias = alias,
							    .aliased = aliased };
}

static void ivhd_range_drop(struct ivhd *h, u32 off, const char *why)
{
	pr_warn("acpi: IVRS: device range at offset 0x%x %s; the range is dropped", off, why);
	h->open = false;
}

/* A START: the range opens here and closes at the next END. */
static void ivhd_range_start(struct ivhd *h, const u8 *e, u32 off)
{
	if (h->open)
		ivhd_range_drop(h, h->start_off, "is followed by another START before its END");
	h->open = true;
	h->start = get16(e + DEV_ID);
	h->aliased = e[0] == DEV_ALIAS_START;
	h->alias = h->aliased ? get16(e + DEV_ALIAS_ID) : 0;
	h->start_off = off;
}

static void ivhd_range_end(struct ivhd *h, const u8 *e, u32 off)
{
	u16 last = get16(e + DEV_ID);

	if (!h->open) {
		pr_warn("acpi: IVRS: device range END at offset 0x%x has no START; it is ignored",
			off);
		return;
	}
	if (last < h->start) {
		ivhd_range_drop(h, h->start_off, "ends before it starts");
		return;
	}
	ivhd_scope_add(h, h->start, last, h->alias, h->aliased);
	h->open = false;
}

/* One device entry (its size checked already). */
static void ivhd_entry(struct ivhd *h, const u8 *e, u32 off)
{
	u16 id = get16(e + DEV_ID);

	switch (e[0]) {
	case DEV_ALL:
		ivhd_scope_add(h, 0, 0xffff, 0, false);
		break;
	case DEV_SELECT:
	case DEV_EXT_SELECT:
		ivhd_scope_add(h, id, id, 0, false);
		break;
	case DEV_ALIAS_SELECT:
		ivhd_scope_add(h, id, id, get16(e + DEV_ALIAS_ID), true);
		break;
	case DEV_START:
	case DEV_EXT_START:
	case DEV_ALIAS_START:
		ivhd_range_start(h, e, off);
		break;
	case DEV_END:
		ivhd_range_end(h, e, off);
		break;
	case DEV_SPECIAL:
		if (e[SPECIAL_VARIETY] == SPECIAL_IOAPIC)
			x86_ioapic_source(e[SPECIAL_HANDLE], h->unit.seg, get16(e + SPECIAL_DEVID),
					  h->unit.base);
		break;
	default:
		/*
		 * Padding, HPET and ACPI-HID entries name no PCI function;
		 * the spec's reserved types are skipped by their size.
		 */
		break;
	}
}

/*
 * The size of the device entry at @off, inside a block of @type that ends
 * at @end; false (with a console line) if it cannot be sized or does not fit.
 */
static bool entry_size(const struct ivrs *r, u8 type, u32 off, u32 end, u32 *size)
{
	const u8 *e = r->t + off;
	const char *why = NULL;
	u32 n = 0;

	if (e[0] <= DEV_SHORT_MAX)
		n = 4;
	else if (e[0] <= DEV_LONG_MAX)
		n = 8;
	else if (e[0] == DEV_ACPI_HID && type == IVHD_ACPI)
		n = end - off < DEV_HID_FIXED ? DEV_HID_FIXED : DEV_HID_FIXED + e[DEV_HID_UID_LEN];
	else
		why = "has no size Keel knows";
	if (!why && n > end - off)
		why = "runs past its block";
	if (why) {
		pr_warn("acpi: IVRS: device entry type 0x%x at offset 0x%x %s (which ends at "
			"0x%x); the rest of the table is ignored",
			e[0], off, why, end);
		return false;
	}
	*size = n;
	return true;
}

/* The device entries of the IVHD in [off, end); false if the parse must stop. */
static bool ivhd_entries(const struct ivrs *r, struct ivhd *h, u8 type, u32 off, u32 end)
{
	u32 n;

	while (off < end) {
		if (!entry_size(r, type, off, end, &n))
			return false;
		ivhd_entry(h, r->t + off, off);
		off += n;
	}
	if (h->open)
		ivhd_range_drop(h, h->start_off, "has no END");
	if (h->merged)
		scope_coalesce(&h->unit); /* and what came after the first merge */
	return true;
}

/* The IVHD block at @off, @len bytes; false if the parse must stop. */
static bool ivrs_ivhd(struct ivrs *r, u32 off, u32 len)
{
	const u8 *b = r->t + off;
	struct ivhd_id *id = ivhd_id_find(r, get16(b + IVHD_DEVID), get16(b + IVHD_SEG));
	u32 hdr = b[0] == IVHD_LEGACY ? IVHD_LEGACY_LEN : IVHD_EFR_LEN;
	struct ivhd h = { 0 };

	if (!id) {
		pr_warn("acpi: IVRS: IVHD at offset 0x%x: more than %u IOMMUs; it is ignored", off,
			IOMMU_MAX_UNITS);
		return true;
	}
	if (b[0] != id->type)
		return true; /* a better type describes this IOMMU too */
	if (id->done) {
		pr_warn("acpi: IVRS: IVHD at offset 0x%x describes IOMMU %04x:%04x again; it is "
			"ignored",
			off, id->seg, id->devid);
		return true;
	}
	id->done = true;
	h.unit.kind = IOMMU_AMDVI;
	h.unit.seg = id->seg;
	h.unit.rid = id->devid;
	h.unit.flags = b[IVHD_FLAGS];
	h.unit.base = get64(b + IVHD_BASE);
	h.unit.size = IVHD_MMIO_SIZE;
	if (!ivhd_entries(r, &h, b[0], off + hdr, off + len))
		return false;
	if (h.too_many) {
		pr_warn("acpi: IVRS: IVHD at offset 0x%x names more than %u device ranges, even "
			"merged; its IOMMU is not used and its devices stay uncovered",
			off, IOMMU_MAX_SCOPES);
		return true;
	}
	r->handed++;
	iommu_add(r->bi, &h.unit);
	return true;
}

/* Device ID @id as a one-hop path (the form struct iommu_reserved keeps). */
static void ivmd_device(struct iommu_reserved *res, u16 id)
{
	res->start_bus = (u8)(id >> 8);
	res->path_len = 1;
	res->path[0][0] = (u8)((id >> 3) & 0x1f);
	res->path[0][1] = (u8)(id & 7);
}

/* The IVMD block at @off (length checked): a region kept for the report. */
static void ivrs_ivmd(const struct ivrs *r, u32 off)
{
	const u8 *b = r->t + off;
	struct iommu_reserved res = { .base = get64(b + IVMD_START), .size = get64(b + IVMD_SIZE) };
	u16 first = get16(b + IVMD_DEVID);
	u16 last = b[0] == IVMD_RANGE ? get16(b + IVMD_DEVID_LAST) : first;

	if (!res.size || range_overflows(res.base, res.size) || last < first) {
		pr_warn("acpi: IVRS: IVMD at offset 0x%x (0x%llx, 0x%llx bytes, devices "
			"%04x-%04x) is empty, wraps or is reversed; it is ignored",
			off, (unsigned long long)res.base, (unsigned long long)res.size, first,
			last);
		return;
	}
	/*
	 * struct iommu_reserved names one function or, with no path, every
	 * device: a range of several is kept as every device (never mapped
	 * anyway; the report errs towards naming too many).
	 */
	if (b[0] != IVMD_ALL && first == last)
		ivmd_device(&res, first);
	else if (b[0] == IVMD_RANGE)
		pr_info("acpi: IVRS: IVMD at offset 0x%x names devices %04x-%04x; kept as for "
			"every device",
			off, first, last);
	iommu_add_reserved(&res);
}

u32 ivrs_parse(const struct keel_boot_info *bi, const void *table, u32 len)
{
	struct ivrs r = { .bi = bi, .t = table, .len = len };
	u32 off, n;

	if (len < IVRS_FIRST_BLOCK) {
		pr_warn("acpi: IVRS: table of %u bytes at offset 0x0 is shorter than its header "
			"(%u); it is ignored",
			len, IVRS_FIRST_BLOCK);
		return 0;
	}
	ivrs_log_info(&r);
	ivrs_scan(&r);
	for (off = IVRS_FIRST_BLOCK; off < r.end; off += n) {
		const u8 *b = r.t + off;

		n = get16(b + BLOCK_LEN); /* checked by ivrs_scan */
		if (ivhd_rank(b[0]) && !ivrs_ivhd(&r, off, n))
			break;
		if (ivmd_type(b[0]))
			ivrs_ivmd(&r, off);
	}
	return r.handed;
}
