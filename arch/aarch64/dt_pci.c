/* SPDX-License-Identifier: MIT */
/*
 * PCI host bridges (pci-host-ecam-generic) and SMMUv3s (arm,smmu-v3, with the
 * bridges' iommu-map) from the firmware's device tree, and the reg and status
 * readers platform.c shares. Every value is checked before it is used.
 */
#include <libfdt.h>
/* picolibc's sys/cdefs.h (via libfdt.h) defines these too; keep Keel's. */
#undef __packed
#undef __aligned
#undef __unused

#include <keel/abi.h>
#include <keel/console.h>
#include <keel/iommu.h>
#include <keel/lib.h>
#include <keel/pci.h>

#include "dt_pci.h"

#define DT_PATH_MAX 96
#define DT_MAX_DEPTH 64 /* ancestors looked at for an interrupt-parent */
#define DT_MAX_BUSES 16u /* buses a reg is translated through */
#define DT_RANGES_MAX 64u /* ranges entries read per bus */
#define DT_PCI_MAX_BRIDGES 16u /* host bridge nodes read */
#define PCI_BUS_MAX 255u
#define PCI_RID_MAX 0xffffu

/* iommu-map (Linux Documentation/devicetree/bindings/pci/pci-iommu.txt). */
#define DT_MAP_CELLS 4u /* rid-base, iommu-phandle, iommu-base, length */
#define DT_MAP_MAX_ENTRIES (IOMMU_MAX_UNITS * IOMMU_MAX_SCOPES) /* read per bridge */

/* Interrupt specifier cells of the arm,gic-v3 binding. */
#define GIC_FDT_SPI 0u
#define GIC_FDT_SPI_MAX 987u /* INTID 1019 */
#define GIC_SPI_BASE 32u
#define GIC_FDT_MAX_CELLS 16u
#define IRQ_TYPE_EDGE_RISING 1u
#define IRQ_TYPE_LEVEL_HIGH 4u
#define DT_PCI_MAX_INTX 8u /* distinct host INTx lines kept */
#define DT_INTX_MAP_MAX 256u /* interrupt-map entries read per bridge */
#define IRQ_TYPE_SENSE_MASK 0xfu

/* A host bridge whose window parsed: its segment and whether its iommu-map can be read. */
struct dt_bridge {
	int node;
	u16 seg;
	bool map_ok;
};

struct dt_map_entry {
	u32 rid;
	u32 phandle;
	u32 stream;
	u32 len;
};

/* SMMU being described; static as in dmar.c, it is a little over 1 KiB. */
static struct iommu_unit dt_unit;

/* Every host bridge sends its functions' MSIs to a GICv3 ITS with DeviceID = requester ID. */
static bool dt_msi_rid_ok;

/* The host SPIs (GIC INTIDs) the host bridges' interrupt-map routes INTx to. */
static u32 dt_intx[DT_PCI_MAX_INTX];
static u32 dt_intx_count;

u64 dt_read_cells(const void *p, int cells)
{
	const fdt32_t *c = p;
	u64 v = 0;

	for (int i = 0; i < cells; i++)
		v = (v << 32) | fdt32_ld(c + i);
	return v;
}

/*
 * Move [*addr, *addr + size) from the address space of @bus's children into
 * that of its parent @up, through @bus's ranges: empty is the identity, none
 * means its children are not in the CPU's address space, and otherwise the
 * whole range must lie inside one {child, parent, length} entry.
 */
static int dt_ranges_up(const void *fdt, int bus, int up, u64 *addr, u64 size)
{
	int cac = fdt_address_cells(fdt, bus), csc = fdt_size_cells(fdt, bus);
	int pac = fdt_address_cells(fdt, up), len;
	const fdt32_t *r = fdt_getprop(fdt, bus, "ranges", &len);
	u32 cells, n;

	if (!r || len < 0)
		return -KEEL_EINVAL;
	if (len == 0)
		return 0;
	if (cac < 1 || cac > 2 || pac < 1 || pac > 2 || csc < 1 || csc > 2)
		return -KEEL_EINVAL;
	cells = (u32)(cac + pac + csc);
	if ((u32)len % (cells * sizeof(*r)))
		return -KEEL_EINVAL;
	n = MIN((u32)len / (cells * (u32)sizeof(*r)), DT_RANGES_MAX);
	for (u32 i = 0; i < n; i++, r += cells) {
		u64 child = dt_read_cells(r, cac), to = dt_read_cells(r + cac, pac);
		u64 span = dt_read_cells(r + cac + pac, csc), off = *addr - child;

		if (*addr < child || off >= span || size > span - off)
			continue;
		if (range_overflows(to, span))
			return -KEEL_EINVAL;
		*addr = to + off;
		return 0;
	}
	return -KEEL_EINVAL;
}

int dt_reg(const void *fdt, int node, int idx, u64 *base, u64 *size)
{
	int parent = fdt_parent_offset(fdt, node);
	int ac, sc, len;
	const fdt32_t *reg;

	if (parent < 0)
		return -KEEL_EINVAL;
	ac = fdt_address_cells(fdt, parent);
	sc = fdt_size_cells(fdt, parent);
	if (ac < 1 || ac > 2 || sc < 0 || sc > 2)
		return -KEEL_EINVAL;
	reg = fdt_getprop(fdt, node, "reg", &len);
	if (!reg || len < 0 || idx < 0 ||
	    (u64)len < (u64)(idx + 1) * (u64)(ac + sc) * sizeof(fdt32_t))
		return -KEEL_EINVAL;
	reg += idx * (ac + sc);
	*base = dt_read_cells(reg, ac);
	*size = sc ? dt_read_cells(reg + ac, sc) : 0;
	/* Up through each bus to the root, whose addresses are the CPU's. */
	for (u32 depth = 0; parent != 0; depth++) {
		int up = fdt_parent_offset(fdt, parent);

		if (up < 0 || depth == DT_MAX_BUSES || dt_ranges_up(fdt, parent, up, base, *size))
			return -KEEL_EINVAL;
		parent = up;
	}
	return 0;
}

bool dt_node_enabled(const void *fdt, int node)
{
	int len;
	const char *s = fdt_getprop(fdt, node, "status", &len);

	if (!s)
		return true;
	if (len <= 0 || s[len - 1] != '\0')
		return false;
	return !strcmp(s, "okay") || !strcmp(s, "ok");
}

/* @node's path for a console line (its name if the path is too long). */
static const char *dt_path(const void *fdt, int node, char *buf, int len)
{
	const char *name;

	if (fdt_get_path(fdt, node, buf, len) == 0)
		return buf;
	name = fdt_get_name(fdt, node, NULL);
	return name ? name : "(unnamed node)";
}

/* One-cell property @name of @node: 1 and *@v, 0 if absent, -1 if not one cell. */
static int dt_prop_u32(const void *fdt, int node, const char *name, u32 *v)
{
	int len;
	const fdt32_t *p = fdt_getprop(fdt, node, name, &len);

	if (!p)
		return 0;
	if (len != (int)sizeof(*p))
		return -1;
	*v = fdt32_ld(p);
	return 1;
}

/* ---- PCI host bridges ---- */

/*
 * The ECAM window host bridge @node describes into *@w. reg starts at the
 * first bus of bus-range (0-255 without one); a node without
 * linux,pci-domain takes *@dyn, the next of 0, 1, ... as Linux numbers them.
 */
static int dt_ecam_parse(const void *fdt, int node, const char *path, u32 *dyn, struct pci_ecam *w)
{
	const fdt32_t *br;
	u32 first = 0, last = PCI_BUS_MAX, dom = 0;
	u64 addr, size, buses;
	int len, r;

	if (dt_reg(fdt, node, 0, &addr, &size)) {
		pr_warn("dt: %s: reg missing or malformed; PCI host bridge ignored", path);
		return -KEEL_EINVAL;
	}
	br = fdt_getprop(fdt, node, "bus-range", &len);
	if (br && len != 2 * (int)sizeof(*br)) {
		pr_warn("dt: %s: bus-range is not 2 cells; PCI host bridge ignored", path);
		return -KEEL_EINVAL;
	}
	if (br) {
		first = fdt32_ld(br);
		last = fdt32_ld(br + 1);
		if (first > last || last > PCI_BUS_MAX) {
			pr_warn("dt: %s: bus-range 0x%x-0x%x is not in order within 0-255; PCI host "
				"bridge ignored",
				path, first, last);
			return -KEEL_EINVAL;
		}
	}
	r = dt_prop_u32(fdt, node, "linux,pci-domain", &dom);
	if (r < 0 || dom > 0xffff || (!r && *dyn > 0xffff)) {
		pr_warn("dt: %s: linux,pci-domain is not one cell of at most 0xffff; PCI host "
			"bridge ignored",
			path);
		return -KEEL_EINVAL;
	}
	buses = size >> PCI_ECAM_BUS_SHIFT;
	if (!buses) {
		pr_warn("dt: %s: reg of 0x%llx bytes holds no bus (1 MiB each); PCI host bridge "
			"ignored",
			path, (unsigned long long)size);
		return -KEEL_EINVAL;
	}
	if (addr < ((u64)first << PCI_ECAM_BUS_SHIFT)) {
		pr_warn("dt: %s: reg at 0x%llx cannot hold bus %02x (bus 0 would lie below 0); PCI "
			"host bridge ignored",
			path, (unsigned long long)addr, first);
		return -KEEL_EINVAL;
	}
	if (buses < (u64)(last - first) + 1) {
		pr_warn("dt: %s: reg holds buses %02x-%02x only; bus-range ends at %02x", path,
			first, first + (u32)buses - 1, last);
		last = first + (u32)buses - 1;
	}
	if (!r)
		dom = (*dyn)++;
	w->base = addr - ((u64)first << PCI_ECAM_BUS_SHIFT);
	w->seg = (u16)dom;
	w->start_bus = (u8)first;
	w->end_bus = (u8)last;
	w->pad = 0;
	return 0;
}

static void dt_map_entry_at(const fdt32_t *map, u32 i, struct dt_map_entry *e)
{
	const fdt32_t *p = map + (size_t)i * DT_MAP_CELLS;

	e->rid = fdt32_ld(p);
	e->phandle = fdt32_ld(p + 1);
	e->stream = fdt32_ld(p + 2);
	e->len = fdt32_ld(p + 3);
}

/*
 * The enabled arm,smmu-v3 node iommu-map entry @e names, or -1 with *@why
 * saying why the entry cannot be used.
 */
static int dt_map_entry_target(const void *fdt, const struct dt_map_entry *e, const char **why)
{
	u32 cells = 0;
	int t;

	*why = NULL;
	if (!e->len)
		*why = "its length is 0";
	else if (e->rid > PCI_RID_MAX || e->len - 1 > PCI_RID_MAX - e->rid)
		*why = "its requester IDs pass 0xffff";
	else if (e->len - 1 > 0xffffffffu - e->stream)
		*why = "its stream IDs pass 0xffffffff";
	if (*why)
		return -1;
	t = fdt_node_offset_by_phandle(fdt, e->phandle);
	if (t < 0)
		*why = "its phandle names no node";
	else if (fdt_node_check_compatible(fdt, t, "arm,smmu-v3"))
		*why = "its phandle names no arm,smmu-v3 node";
	else if (!dt_node_enabled(fdt, t))
		*why = "its SMMU is disabled";
	else if (dt_prop_u32(fdt, t, "#iommu-cells", &cells) != 1 || cells != 1)
		*why = "its SMMU's #iommu-cells is not 1";
	return *why ? -1 : t;
}

/* Host bridge @node's iommu-map and how many of its entries Keel reads, or NULL if none. */
static const fdt32_t *dt_map_get(const void *fdt, int node, u32 *count)
{
	int len;
	const fdt32_t *map = fdt_getprop(fdt, node, "iommu-map", &len);

	if (!map || len <= 0 || len % (int)(DT_MAP_CELLS * sizeof(*map)))
		return NULL;
	*count = MIN((u32)len / (u32)(DT_MAP_CELLS * sizeof(*map)), DT_MAP_MAX_ENTRIES);
	return map;
}

/*
 * Whether host bridge @node's iommu-map (if any) can be read, with a console
 * line for the whole map refused and for each entry no SMMU will take.
 */
static bool dt_map_check(const void *fdt, int node, const char *path)
{
	const fdt32_t *map;
	const char *why;
	u32 mask = 0, count = 0;
	int len, r;

	if (!fdt_getprop(fdt, node, "iommu-map", &len))
		return true;
	r = dt_prop_u32(fdt, node, "iommu-map-mask", &mask);
	if (r < 0) {
		pr_warn("dt: %s: iommu-map-mask is not one cell; iommu-map ignored, its devices "
			"have no IOMMU",
			path);
		return false;
	}
	if (r > 0 && (mask & PCI_RID_MAX) != PCI_RID_MAX) {
		pr_warn("dt: %s: iommu-map-mask 0x%x folds requester IDs together, which Keel does "
			"not do; iommu-map ignored, its devices have no IOMMU",
			path, mask);
		return false;
	}
	map = dt_map_get(fdt, node, &count);
	if (!map) {
		pr_warn("dt: %s: iommu-map of %d bytes is not a list of 4-cell entries; ignored, "
			"its devices have no IOMMU",
			path, len);
		return false;
	}
	if ((u32)len / (DT_MAP_CELLS * sizeof(*map)) > count)
		pr_warn("dt: %s: iommu-map has more than %u entries; the rest ignored", path,
			count);
	for (u32 i = 0; i < count; i++) {
		struct dt_map_entry e;

		dt_map_entry_at(map, i, &e);
		if (dt_map_entry_target(fdt, &e, &why) < 0)
			pr_warn("dt: %s: iommu-map entry %u (requester ID 0x%x, length 0x%x, phandle "
				"0x%x) ignored: %s",
				path, i, e.rid, e.len, e.phandle, why);
	}
	return true;
}

/* ---- MSI: where a host bridge's messages go, under which DeviceID ---- */

/* @phandle names an enabled arm,gic-v3-its node. */
static bool dt_is_its(const void *fdt, u32 phandle)
{
	int t = fdt_node_offset_by_phandle(fdt, phandle);

	return t >= 0 && !fdt_node_check_compatible(fdt, t, "arm,gic-v3-its") &&
	       dt_node_enabled(fdt, t);
}

/* Why bridge @node's msi-map does not give an ITS DeviceID = requester ID, or NULL. */
static const char *dt_msi_map_refusal(const void *fdt, int node)
{
	const fdt32_t *map;
	u32 mask = PCI_RID_MAX;
	int len, r;

	map = fdt_getprop(fdt, node, "msi-map", &len);
	r = dt_prop_u32(fdt, node, "msi-map-mask", &mask);
	if (r < 0 || (mask & PCI_RID_MAX) != PCI_RID_MAX)
		return "its msi-map-mask folds requester IDs together";
	if (!len || len < 0 || len % (int)(DT_MAP_CELLS * sizeof(*map)))
		return "its msi-map is not a list of 4-cell entries";
	for (u32 i = 0; i < (u32)len / (DT_MAP_CELLS * sizeof(*map)); i++) {
		struct dt_map_entry e;

		dt_map_entry_at(map, i, &e);
		if (!dt_is_its(fdt, e.phandle))
			return "an msi-map entry names no enabled GICv3 ITS";
		if (e.stream != e.rid)
			return "an msi-map entry gives DeviceIDs other than the requester IDs";
	}
	return NULL;
}

/*
 * Whether bridge @node (segment @seg) sends MSIs to an ITS as DeviceID =
 * requester ID, which is what Keel maps there (msi.c): an msi-map that is
 * the identity, or an msi-parent that is an ITS. Segment 0 only: one ITS
 * has one DeviceID space, which a second segment's IDs would share.
 */
static bool dt_msi_check(const void *fdt, int node, u16 seg, const char *path)
{
	const char *why = NULL;
	const fdt32_t *parent;
	int len;

	if (fdt_getprop(fdt, node, "msi-map", &len))
		why = dt_msi_map_refusal(fdt, node);
	else if (!(parent = fdt_getprop(fdt, node, "msi-parent", &len)) || len != sizeof(*parent) ||
		 !dt_is_its(fdt, fdt32_ld(parent)))
		why = "it names no GICv3 ITS (msi-map or msi-parent)";
	if (!why && seg)
		why = "it is not PCI segment 0";
	if (why)
		pr_warn("dt: %s: MSIs of guests' PCI functions are not offered: %s", path, why);
	return !why;
}

bool dt_pci_msi_rid_is_devid(void)
{
	return dt_msi_rid_ok;
}

/* ---- INTx: a host bridge's interrupt-map ---- */

static void dt_intx_add(u32 intid)
{
	for (u32 i = 0; i < dt_intx_count; i++)
		if (dt_intx[i] == intid)
			return;
	if (dt_intx_count < DT_PCI_MAX_INTX)
		dt_intx[dt_intx_count++] = intid;
}

/*
 * Entry @p of @cells cells of bridge @path's interrupt-map (child address 3
 * cells, pin 1 cell, then the parent's phandle, unit address and
 * specifier): its host line as a GIC INTID in *@intid, and its length in
 * cells; 0 with a console line if it is no level-sensitive SPI of the GICv3
 * (PCI INTx is level) or runs past the @left cells there are.
 */
static u32 dt_intx_entry(const void *fdt, const fdt32_t *p, u32 left, const char *path, u32 *intid)
{
	u32 addr_cells = 0, irq_cells = 0, type, num, flags;
	int gic = left >= 5 ? fdt_node_offset_by_phandle(fdt, fdt32_ld(p + 4)) : -1;

	if (gic < 0 || fdt_node_check_compatible(fdt, gic, "arm,gic-v3") ||
	    dt_prop_u32(fdt, gic, "#address-cells", &addr_cells) < 0 ||
	    dt_prop_u32(fdt, gic, "#interrupt-cells", &irq_cells) != 1 || irq_cells < 3 ||
	    irq_cells > GIC_FDT_MAX_CELLS || addr_cells > 3 || 5 + addr_cells + irq_cells > left) {
		pr_warn("dt: %s: an interrupt-map entry does not name a line of the GICv3; INTx "
			"of its functions is not offered",
			path);
		return 0;
	}
	p += 5 + addr_cells;
	type = fdt32_ld(p);
	num = fdt32_ld(p + 1);
	flags = fdt32_ld(p + 2);
	if (type != GIC_FDT_SPI || num > GIC_FDT_SPI_MAX ||
	    (flags & IRQ_TYPE_SENSE_MASK) != IRQ_TYPE_LEVEL_HIGH) {
		pr_warn("dt: %s: interrupt-map names interrupt type %u number %u flags 0x%x, not "
			"a level-high SPI; INTx of its functions is not offered",
			path, type, num, flags);
		return 0;
	}
	*intid = num + GIC_SPI_BASE;
	return 5 + addr_cells + irq_cells;
}

/* Every host line host bridge @node's interrupt-map names, into dt_intx[]. */
static void dt_intx_parse(const void *fdt, int node, const char *path)
{
	const fdt32_t *map;
	u32 addr_cells = 0, irq_cells = 0, cells, at = 0;
	u32 found[DT_PCI_MAX_INTX], n = 0;
	int len;

	map = fdt_getprop(fdt, node, "interrupt-map", &len);
	if (!map)
		return;
	if (len < 0 || len % 4 || dt_prop_u32(fdt, node, "#address-cells", &addr_cells) != 1 ||
	    addr_cells != 3 || dt_prop_u32(fdt, node, "#interrupt-cells", &irq_cells) != 1 ||
	    irq_cells != 1) {
		pr_warn("dt: %s: its interrupt-map is not laid out as PCI's (3 address cells, 1 "
			"interrupt cell); INTx of its functions is not offered",
			path);
		return;
	}
	cells = (u32)len / 4;
	for (u32 entries = 0; at < cells && entries < DT_INTX_MAP_MAX; entries++) {
		u32 intid = 0, used = dt_intx_entry(fdt, map + at, cells - at, path, &intid);
		u32 k = 0;

		if (!used)
			return; /* all or nothing: a line Keel did not take would go unserved */
		while (k < n && found[k] != intid)
			k++;
		if (k == n && n < DT_PCI_MAX_INTX)
			found[n++] = intid;
		at += used;
	}
	for (u32 i = 0; i < n; i++)
		dt_intx_add(found[i]);
}

u32 dt_pci_intx_lines(u32 *out, u32 max)
{
	u32 n = MIN(max, dt_intx_count);

	for (u32 i = 0; i < n; i++)
		out[i] = dt_intx[i];
	return n;
}

/* ---- SMMUv3 ---- */

/* The interrupt parent of @node (its own interrupt-parent or its nearest ancestor's), or < 0. */
static int dt_irq_parent(const void *fdt, int node)
{
	for (int depth = 0; node >= 0 && depth < DT_MAX_DEPTH; depth++) {
		u32 ph;
		int r = dt_prop_u32(fdt, node, "interrupt-parent", &ph);

		if (r < 0)
			return -1;
		if (r > 0)
			return fdt_node_offset_by_phandle(fdt, ph);
		node = fdt_parent_offset(fdt, node);
	}
	return -1;
}

/*
 * The GIC INTID of SMMU @node's wired event-queue interrupt: the one named
 * "eventq" (or "combined", for an SMMU with one interrupt for all), which
 * must be an edge-triggered SPI of the GICv3. 0 if there is none.
 */
static u32 dt_smmu_irq(const void *fdt, int node, const char *path)
{
	const char *name = "eventq";
	const fdt32_t *irqs, *p;
	u32 cells = 0, type, num, flags;
	int idx, gic, len;

	idx = fdt_stringlist_search(fdt, node, "interrupt-names", name);
	if (idx < 0) {
		name = "combined";
		idx = fdt_stringlist_search(fdt, node, "interrupt-names", name);
	}
	if (idx < 0) {
		pr_warn("dt: %s: no interrupt named eventq; its faults are read only when polled",
			path);
		return 0;
	}
	gic = dt_irq_parent(fdt, node);
	if (gic < 0 || fdt_node_check_compatible(fdt, gic, "arm,gic-v3")) {
		pr_warn("dt: %s: its interrupt parent is not the GICv3; no fault interrupt", path);
		return 0;
	}
	if (dt_prop_u32(fdt, gic, "#interrupt-cells", &cells) != 1 || cells < 3 ||
	    cells > GIC_FDT_MAX_CELLS) {
		pr_warn("dt: %s: the GICv3's #interrupt-cells is not 3 or more; no fault interrupt",
			path);
		return 0;
	}
	irqs = fdt_getprop(fdt, node, "interrupts", &len);
	if (!irqs || len < 0 || (u64)len < ((u64)idx + 1) * cells * sizeof(*irqs)) {
		pr_warn("dt: %s: interrupts has no entry %d (%s); no fault interrupt", path, idx,
			name);
		return 0;
	}
	p = irqs + (size_t)idx * cells;
	type = fdt32_ld(p);
	num = fdt32_ld(p + 1);
	flags = fdt32_ld(p + 2);
	if (type != GIC_FDT_SPI || num > GIC_FDT_SPI_MAX) {
		pr_warn("dt: %s: its %s interrupt (type %u, number %u) is not an SPI; no fault "
			"interrupt",
			path, name, type, num);
		return 0;
	}
	if ((flags & IRQ_TYPE_SENSE_MASK) != IRQ_TYPE_EDGE_RISING) {
		pr_warn("dt: %s: its %s interrupt (SPI %u) is not edge-triggered (flags 0x%x); no "
			"fault interrupt",
			path, name, num, flags);
		return 0;
	}
	return num + GIC_SPI_BASE;
}

/* Why requester IDs [@first, @last] from stream @stream cannot join @u's scopes, or NULL. */
static const char *dt_scope_refusal(const struct iommu_unit *u, u32 first, u32 last, u32 stream)
{
	u64 slast = (u64)stream + (last - first);

	for (u32 i = 0; i < u->scope_count; i++) {
		const struct iommu_scope *s = &u->scopes[i];

		if (first <= s->last && s->first <= last)
			return "its requester IDs overlap an earlier entry's";
		if (stream <= (u64)s->stream + (s->last - s->first) && s->stream <= slast)
			return "its stream IDs overlap an earlier entry's";
	}
	if (u->scope_count >= IOMMU_MAX_SCOPES)
		return "more entries name this SMMU than Keel keeps";
	return NULL;
}

/* Add the entries of bridge @b's iommu-map that name SMMU @smmu to @u. */
static void dt_smmu_scopes(const void *fdt, int smmu, const char *spath, const struct dt_bridge *b,
			   bool *seg_set, struct iommu_unit *u)
{
	char bpath[DT_PATH_MAX];
	const char *why;
	const fdt32_t *map;
	u32 count = 0;

	map = b->map_ok ? dt_map_get(fdt, b->node, &count) : NULL;
	for (u32 i = 0; map && i < count; i++) {
		struct dt_map_entry e;
		struct iommu_scope *s;

		dt_map_entry_at(map, i, &e);
		if (dt_map_entry_target(fdt, &e, &why) != smmu)
			continue; /* another SMMU's, or reported by dt_map_check */
		if (*seg_set && b->seg != u->seg) {
			pr_warn("dt: %s: iommu-map entries naming %s ignored: that SMMU serves "
				"segment %04x already, this bridge is segment %04x",
				dt_path(fdt, b->node, bpath, sizeof(bpath)), spath, u->seg, b->seg);
			return;
		}
		why = dt_scope_refusal(u, e.rid, e.rid + e.len - 1, e.stream);
		if (why) {
			pr_warn("dt: %s: iommu-map entry %u (requester IDs 0x%x-0x%x) ignored: %s",
				dt_path(fdt, b->node, bpath, sizeof(bpath)), i, e.rid,
				e.rid + e.len - 1, why);
			continue;
		}
		*seg_set = true;
		u->seg = b->seg;
		s = &u->scopes[u->scope_count++];
		memset(s, 0, sizeof(*s));
		s->kind = IOMMU_SCOPE_RANGE;
		s->first = (u16)e.rid;
		s->last = (u16)(e.rid + e.len - 1);
		s->stream = e.stream;
	}
}

/* SMMU @node with the scopes the bridges give it, to iommu_add(). */
static void dt_smmu_add(const struct keel_boot_info *bi, const void *fdt, int node,
			const struct dt_bridge *br, u32 nbr)
{
	char path[DT_PATH_MAX];
	struct iommu_unit *u = &dt_unit;
	bool seg_set = false;

	dt_path(fdt, node, path, sizeof(path));
	memset(u, 0, sizeof(*u));
	u->kind = IOMMU_SMMUV3;
	if (dt_reg(fdt, node, 0, &u->base, &u->size)) {
		pr_warn("dt: %s: reg missing or malformed; SMMU ignored", path);
		return;
	}
	u->irq = dt_smmu_irq(fdt, node, path);
	for (u32 i = 0; i < nbr; i++)
		dt_smmu_scopes(fdt, node, path, &br[i], &seg_set, u);
	iommu_add(bi, u);
}

void dt_pci_discover(const struct keel_boot_info *bi, const void *fdt)
{
	struct dt_bridge br[DT_PCI_MAX_BRIDGES];
	char path[DT_PATH_MAX];
	u32 nbr = 0, nsmmu = 0, dyn = 0;
	int node;

	dt_intx_count = 0;
	dt_msi_rid_ok = true;
	for (node = fdt_node_offset_by_compatible(fdt, -1, "pci-host-ecam-generic"); node >= 0;
	     node = fdt_node_offset_by_compatible(fdt, node, "pci-host-ecam-generic")) {
		struct pci_ecam w;

		if (!dt_node_enabled(fdt, node))
			continue;
		dt_path(fdt, node, path, sizeof(path));
		if (nbr >= DT_PCI_MAX_BRIDGES) {
			pr_warn("dt: more than %u PCI host bridges; %s and later ignored",
				DT_PCI_MAX_BRIDGES, path);
			break;
		}
		if (dt_ecam_parse(fdt, node, path, &dyn, &w))
			continue;
		pci_ecam_add(bi, &w); /* a refusal is its console line */
		br[nbr].node = node;
		br[nbr].seg = w.seg;
		br[nbr].map_ok = dt_map_check(fdt, node, path);
		dt_intx_parse(fdt, node, path);
		dt_msi_rid_ok &= dt_msi_check(fdt, node, w.seg, path);
		nbr++;
	}
	for (node = fdt_node_offset_by_compatible(fdt, -1, "arm,smmu-v3"); node >= 0;
	     node = fdt_node_offset_by_compatible(fdt, node, "arm,smmu-v3")) {
		if (!dt_node_enabled(fdt, node))
			continue;
		if (nsmmu++ >= IOMMU_MAX_UNITS) {
			pr_warn("dt: more than %u SMMUs; %s and later ignored", IOMMU_MAX_UNITS,
				dt_path(fdt, node, path, sizeof(path)));
			break;
		}
		dt_smmu_add(bi, fdt, node, br, nbr);
	}
}
