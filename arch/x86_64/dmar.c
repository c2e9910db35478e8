/* SPDX-License-Identifier: MIT */
/*
 * The ACPI DMAR table (Intel VT-d): one IOMMU unit per DRHD structure, one
 * reserved region per RMRR device. Every length and offset is checked against
 * the table (and each structure) before a field is read.
 */
#include <keel/console.h>
#include <keel/iommu.h>
#include <keel/lib.h>

#include "acpi_iommu.h"

/* The table: the ACPI header, then the DMAR fields, then remapping structures. */
#define DMAR_HAW 36 /* u8: host address width - 1 */
#define DMAR_FLAGS 37 /* u8 */
#define DMAR_STRUCTS 48 /* after 10 reserved bytes */
#define DMAR_FLAG_INTR_REMAP BIT(0)
#define DMAR_FLAG_X2APIC_OPT_OUT BIT(1)

/* Every remapping structure opens with a type and a length (u16 each). */
#define DMAR_ST_TYPE 0
#define DMAR_ST_LEN 2
#define DMAR_ST_HDR 4u
#define DMAR_TYPE_DRHD 0
#define DMAR_TYPE_RMRR 1

/* DRHD: a remapping hardware unit. */
#define DRHD_FLAGS 4 /* u8 */
#define DRHD_SIZE 5 /* u8: bits 3:0, the register set is 2^N pages */
#define DRHD_SEGMENT 6 /* u16 */
#define DRHD_BASE 8 /* u64 */
#define DRHD_SCOPES 16u
#define DRHD_INCLUDE_PCI_ALL BIT(0)
#define DRHD_SIZE_MASK 0xfu
/*
 * The registers a driver uses lie within FRO + 16 * NFR and IRO + 16 of the
 * base, both under 20 KiB (10-bit offsets in 16-byte units, at most 256
 * fault records). A larger size in the table is clamped to 64 KiB, so a
 * broken field cannot make Keel map a huge window; vfio/vtd.c checks that
 * the registers it needs lie inside what is mapped.
 */
#define DRHD_SIZE_MAX_ORDER 4u

/* RMRR: a memory range the firmware keeps DMAing to for the listed devices. */
#define RMRR_SEGMENT 6 /* u16 */
#define RMRR_BASE 8 /* u64 */
#define RMRR_LIMIT 16 /* u64: the last byte */
#define RMRR_SCOPES 24u

/* A device scope entry, inside a DRHD or RMRR. */
#define SCOPE_TYPE 0
#define SCOPE_LEN 1
#define SCOPE_START_BUS 5
#define SCOPE_PATH 6u
#define SCOPE_PCI_ENDPOINT 1
#define SCOPE_PCI_BRIDGE 2 /* a sub-hierarchy: the bridge and every bus below it */
#define SCOPE_IOAPIC 3 /* its enumeration ID is the IOAPIC's ID */
#define SCOPE_ENUM_ID 4

/* One decoded device scope entry (its path still points into the table). */
struct dmar_scope {
	u8 type;
	u8 enum_id;
	u8 start_bus;
	u32 hops;
	const u8 *path;
};

/* A decoded unit, kept off the boot stack (the parse runs once, on one CPU). */
static struct iommu_unit dmar_unit;

static u16 dmar_u16(const u8 *p)
{
	u16 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static u64 dmar_u64(const u8 *p)
{
	u64 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static bool dmar_scope_is_pci(u8 type)
{
	return type == SCOPE_PCI_ENDPOINT || type == SCOPE_PCI_BRIDGE;
}

/*
 * Decode the device scope at *@pos of structure @st (@len bytes, at @st_off
 * in the table) and move *@pos past it. Returns 1 with *@sc filled, 0 at the
 * structure's end, -1 for an entry that does not fit (with a console line).
 */
static int dmar_scope_next(const u8 *st, u32 len, u32 st_off, u32 *pos, struct dmar_scope *sc)
{
	u32 slen;

	if (*pos >= len)
		return 0;
	if (len - *pos < SCOPE_PATH) {
		pr_warn("acpi: DMAR: device scope at offset 0x%x: %u bytes left, header needs %u; parse stopped",
			st_off + *pos, len - *pos, SCOPE_PATH);
		return -1;
	}
	slen = st[*pos + SCOPE_LEN];
	if (slen < SCOPE_PATH || slen > len - *pos || (slen - SCOPE_PATH) % 2) {
		pr_warn("acpi: DMAR: device scope at offset 0x%x has length %u (%u bytes left in its structure); parse stopped",
			st_off + *pos, slen, len - *pos);
		return -1;
	}
	sc->type = st[*pos + SCOPE_TYPE];
	sc->enum_id = st[*pos + SCOPE_ENUM_ID];
	sc->start_bus = st[*pos + SCOPE_START_BUS];
	sc->hops = (slen - SCOPE_PATH) / 2;
	sc->path = st + *pos + SCOPE_PATH;
	*pos += slen;
	return 1;
}

/* Why a PCI scope cannot be kept, or NULL. */
static const char *dmar_path_refusal(const struct dmar_scope *sc)
{
	if (!sc->hops)
		return "a device scope with an empty path";
	if (sc->hops > IOMMU_MAX_PATH)
		return "a device scope path longer than Keel keeps";
	return NULL;
}

/*
 * Fill the unit's scope list from the DRHD's entries. Returns -1 if an entry
 * does not fit (the parse stops), else 0 with *@refusal set if the unit must
 * be refused: a unit that lost one of its scopes would leave that device
 * untranslated, so the whole unit goes and its devices are reported as not
 * covered instead.
 */
static int dmar_drhd_scopes(const u8 *st, u32 len, u32 st_off, struct iommu_unit *unit,
			    const char **refusal, u32 *other)
{
	struct dmar_scope sc;
	u32 pos = DRHD_SCOPES;
	int r;

	while ((r = dmar_scope_next(st, len, st_off, &pos, &sc)) > 0) {
		struct iommu_scope *s;

		if (!dmar_scope_is_pci(sc.type)) {
			/*
			 * No PCI function. An IOAPIC's is the requester its
			 * interrupts carry: one hop from its start bus.
			 */
			if (sc.type == SCOPE_IOAPIC && sc.hops == 1)
				x86_ioapic_source(sc.enum_id, unit->seg,
						  (u16)(sc.start_bus << 8 |
							(sc.path[0] & 0x1f) << 3 |
							(sc.path[1] & 7)),
						  unit->base);
			(*other)++; /* IOAPIC, HPET, ACPI namespace */
			continue;
		}
		if (!*refusal)
			*refusal = dmar_path_refusal(&sc);
		if (!*refusal && unit->scope_count == IOMMU_MAX_SCOPES)
			*refusal = "more device scopes than Keel keeps";
		if (*refusal)
			continue; /* still check the rest of the structure */
		s = &unit->scopes[unit->scope_count++];
		s->kind = IOMMU_SCOPE_PATH;
		s->bridge = sc.type == SCOPE_PCI_BRIDGE;
		s->start_bus = sc.start_bus;
		s->path_len = (u8)sc.hops;
		memcpy(s->path, sc.path, sc.hops * 2);
	}
	return r;
}

/* A DRHD: one unit for iommu_add(). Returns -1 to stop the parse, else 0. */
static int dmar_drhd(const struct keel_boot_info *bi, const u8 *st, u32 len, u32 st_off, u32 *units)
{
	struct iommu_unit *unit = &dmar_unit;
	const char *refusal = NULL;
	u32 order, other = 0;

	if (len < DRHD_SCOPES) {
		pr_warn("acpi: DMAR: DRHD at offset 0x%x has length %u, shorter than its header; parse stopped",
			st_off, len);
		return -1;
	}
	memset(unit, 0, sizeof(*unit));
	unit->kind = IOMMU_VTD;
	unit->include_all = (st[DRHD_FLAGS] & DRHD_INCLUDE_PCI_ALL) ? 1 : 0;
	unit->flags = st[DRHD_FLAGS];
	unit->seg = dmar_u16(st + DRHD_SEGMENT);
	unit->base = dmar_u64(st + DRHD_BASE);
	order = MIN(st[DRHD_SIZE] & DRHD_SIZE_MASK, DRHD_SIZE_MAX_ORDER);
	unit->size = PAGE_SIZE << order;
	if (dmar_drhd_scopes(st, len, st_off, unit, &refusal, &other) < 0)
		return -1;
	if (refusal) {
		pr_warn("acpi: DMAR: DRHD at offset 0x%x (registers 0x%llx) refused: %s; its devices stay uncovered",
			st_off, (unsigned long long)unit->base, refusal);
		return 0;
	}
	pr_debug(
		"acpi: DMAR: DRHD registers 0x%llx (%llu KiB) segment %u%s: %u PCI scopes, %u non-PCI scopes skipped",
		(unsigned long long)unit->base, (unsigned long long)(unit->size >> 10), unit->seg,
		unit->include_all ? " INCLUDE_PCI_ALL" : "", unit->scope_count, other);
	if (iommu_add(bi, unit) == 0)
		(*units)++;
	return 0;
}

/* One iommu_add_reserved() entry per PCI device scope of an RMRR. */
static int dmar_rmrr_scopes(const u8 *st, u32 len, u32 st_off, struct iommu_reserved *r)
{
	struct dmar_scope sc;
	u32 pos = RMRR_SCOPES;
	int ret;

	while ((ret = dmar_scope_next(st, len, st_off, &pos, &sc)) > 0) {
		const char *why;

		if (!dmar_scope_is_pci(sc.type))
			continue;
		why = dmar_path_refusal(&sc);
		if (why) {
			pr_warn("acpi: DMAR: RMRR at offset 0x%x: %s; that entry is skipped",
				st_off, why);
			continue;
		}
		r->start_bus = sc.start_bus;
		r->path_len = (u8)sc.hops;
		memset(r->path, 0, sizeof(r->path));
		memcpy(r->path, sc.path, sc.hops * 2);
		iommu_add_reserved(r);
	}
	return ret;
}

/* An RMRR. Returns -1 to stop the parse, else 0. */
static int dmar_rmrr(const u8 *st, u32 len, u32 st_off)
{
	struct iommu_reserved r = { 0 };
	u64 limit;

	if (len < RMRR_SCOPES) {
		pr_warn("acpi: DMAR: RMRR at offset 0x%x has length %u, shorter than its header; parse stopped",
			st_off, len);
		return -1;
	}
	r.seg = dmar_u16(st + RMRR_SEGMENT);
	r.base = dmar_u64(st + RMRR_BASE);
	limit = dmar_u64(st + RMRR_LIMIT);
	if (limit < r.base || limit == ~0ull || !IS_ALIGNED(r.base, PAGE_SIZE) ||
	    !IS_ALIGNED(limit + 1, PAGE_SIZE)) {
		pr_warn("acpi: DMAR: RMRR at offset 0x%x names 0x%llx-0x%llx, not whole pages; ignored",
			st_off, (unsigned long long)r.base, (unsigned long long)limit);
		return 0;
	}
	r.size = limit - r.base + 1;
	pr_debug("acpi: DMAR: RMRR 0x%llx-0x%llx segment %u", (unsigned long long)r.base,
		 (unsigned long long)limit, r.seg);
	return dmar_rmrr_scopes(st, len, st_off, &r);
}

u32 dmar_parse(const struct keel_boot_info *bi, const void *table, u32 len)
{
	const u8 *t = table;
	u32 off = DMAR_STRUCTS, units = 0;

	if (len < DMAR_STRUCTS) {
		pr_warn("acpi: DMAR: table of %u bytes is shorter than its header; ignored", len);
		return 0;
	}
	pr_info("acpi: DMAR: host address width %u, flags 0x%x%s%s", t[DMAR_HAW] + 1u,
		t[DMAR_FLAGS],
		(t[DMAR_FLAGS] & DMAR_FLAG_INTR_REMAP) ? " (interrupt remapping)" : "",
		(t[DMAR_FLAGS] & DMAR_FLAG_X2APIC_OPT_OUT) ? " (x2APIC opt-out)" : "");
	while (off < len) {
		const u8 *st = t + off;
		u32 slen, type;
		int r = 0;

		if (len - off < DMAR_ST_HDR) {
			pr_warn("acpi: DMAR: %u stray bytes at offset 0x%x; parse stopped",
				len - off, off);
			break;
		}
		type = dmar_u16(st + DMAR_ST_TYPE);
		slen = dmar_u16(st + DMAR_ST_LEN);
		if (slen < DMAR_ST_HDR || slen > len - off) {
			pr_warn("acpi: DMAR: structure type %u at offset 0x%x has length %u (%u bytes left); parse stopped",
				type, off, slen, len - off);
			break;
		}
		if (type == DMAR_TYPE_DRHD)
			r = dmar_drhd(bi, st, slen, off, &units);
		else if (type == DMAR_TYPE_RMRR)
			r = dmar_rmrr(st, slen, off);
		else
			pr_debug("acpi: DMAR: structure type %u at offset 0x%x skipped", type, off);
		if (r < 0)
			break;
		off += slen;
	}
	return units;
}
