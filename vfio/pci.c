/* SPDX-License-Identifier: MIT */
/*
 * Host PCI enumeration (keel/pci.h): depth-first through the bridges the
 * firmware set up, every config access through a pci_cfg_ops table (host unit
 * tests run it on a fake config space). Records requester IDs, DMA aliases and
 * isolation groups, and turns bus mastering off on what no partition owns.
 */
#include <keel/abi.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/pci.h>

#define PCI_DEVS 32u
#define PCI_FNS 8u
#define PCI_EXT_SLOTS ((PCI_CFG_SIZE - PCI_EXT_CAP_FIRST) / 4)

/* One function's config space, for the accessors below. */
struct pci_ref {
	const struct pci_cfg_ops *ops;
	void *ctx;
	u16 seg;
	u16 bdf;
};

/* What a bus inherits from the bridges above it. */
struct pci_up {
	u32 bridge; /* record of the bridge whose secondary bus this is, or PCI_NONE */
	u32 alias_owner; /* record of the bridge that tags DMA from here, or PCI_NONE */
	u32 alias_rid; /* the requester ID DMA from here carries, or PCI_NONE */
	u8 bus;
	u8 last_bus; /* the highest bus number below this one */
	u8 depth; /* bridges above */
};

static u8 rd8(const struct pci_ref *r, u32 off)
{
	return (u8)r->ops->read(r->ctx, r->bdf, (u16)off, 1);
}

static u16 rd16(const struct pci_ref *r, u32 off)
{
	return (u16)r->ops->read(r->ctx, r->bdf, (u16)off, 2);
}

static u32 rd32(const struct pci_ref *r, u32 off)
{
	return r->ops->read(r->ctx, r->bdf, (u16)off, 4);
}

static void wr16(const struct pci_ref *r, u32 off, u16 val)
{
	r->ops->write(r->ctx, r->bdf, (u16)off, 2, val);
}

/*
 * Walk @r's standard capability list for @id; *at gets the offset of the
 * first one (0: none). The two low bits of every pointer are reserved and
 * masked, as the spec asks. A pointer below 0x40, or one seen before, ends
 * the walk with a console line: the list holds at most 48 entries, so the
 * set of slots seen bounds it. Stops at @id unless @to_end (the whole list
 * is checked). If @list, the offsets passed go there in list order (room
 * for PCI_CAP_MAX), *@n their count. Returns 0 or -KEEL_EINVAL.
 */
static int cap_walk(const struct pci_ref *r, u8 id, bool to_end, u16 *at, u8 *list, u32 *n)
{
	u8 layout = rd8(r, PCI_HEADER_TYPE) & PCI_HEADER_LAYOUT;
	u16 status = rd16(r, PCI_STATUS);
	u64 seen = 0;
	u32 ptr;

	*at = 0;
	if (status == 0xffff || !(status & PCI_STATUS_CAP_LIST) || layout > PCI_HEADER_CARDBUS)
		return 0;
	ptr = rd8(r, layout == PCI_HEADER_CARDBUS ? PCI_CB_CAP_PTR : PCI_CAP_PTR) & 0xfcu;
	while (ptr) {
		u64 slot;

		if (ptr < PCI_CAP_FIRST) {
			pr_warn("pci " PCI_FMT ": capability pointer 0x%02x is below 0x40; "
				"the list is ignored from there",
				PCI_ARGS(r->seg, r->bdf), ptr);
			return -KEEL_EINVAL;
		}
		slot = BIT((ptr - PCI_CAP_FIRST) / 4);
		if (seen & slot) {
			pr_warn("pci " PCI_FMT ": capability list loops at 0x%02x; "
				"the list is ignored from there",
				PCI_ARGS(r->seg, r->bdf), ptr);
			return -KEEL_EINVAL;
		}
		seen |= slot;
		if (list)
			list[(*n)++] = (u8)ptr; /* a slot is seen once: at most PCI_CAP_MAX */
		if (!*at && rd8(r, ptr) == id) {
			*at = (u16)ptr;
			if (!to_end)
				return 0;
		}
		ptr = rd8(r, ptr + 1) & 0xfcu;
	}
	return 0;
}

/*
 * The same for the extended list (PCIe only), from 0x100: each header holds
 * the ID in bits 15:0 and the next offset in bits 31:20 (two low bits
 * masked). A header of all zeros or all ones at 0x100 means no list.
 */
static int ext_cap_walk(const struct pci_ref *r, u16 id, bool to_end, u16 *at)
{
	u64 seen[(PCI_EXT_SLOTS + 63) / 64] = { 0 };
	u32 ptr = PCI_EXT_CAP_FIRST;

	*at = 0;
	while (ptr) {
		u32 hdr, slot;

		if (ptr < PCI_EXT_CAP_FIRST) {
			pr_warn("pci " PCI_FMT
				": extended capability pointer 0x%03x is below 0x100; "
				"the list is ignored from there",
				PCI_ARGS(r->seg, r->bdf), ptr);
			return -KEEL_EINVAL;
		}
		slot = (ptr - PCI_EXT_CAP_FIRST) / 4;
		if (seen[slot / 64] & BIT(slot % 64)) {
			pr_warn("pci " PCI_FMT ": extended capability list loops at 0x%03x; "
				"the list is ignored from there",
				PCI_ARGS(r->seg, r->bdf), ptr);
			return -KEEL_EINVAL;
		}
		seen[slot / 64] |= BIT(slot % 64);
		hdr = rd32(r, ptr);
		if (ptr == PCI_EXT_CAP_FIRST && (hdr == 0 || hdr == 0xffffffffu))
			return 0;
		if (hdr == 0xffffffffu) {
			pr_warn("pci " PCI_FMT ": extended capability at 0x%03x reads as all ones; "
				"the list is ignored from there",
				PCI_ARGS(r->seg, r->bdf), ptr);
			return -KEEL_EINVAL;
		}
		if (!*at && (hdr & 0xffffu) == id) {
			*at = (u16)ptr;
			if (!to_end)
				return 0;
		}
		ptr = (hdr >> 20) & 0xffcu;
	}
	return 0;
}

int pci_cap_find(const struct pci_cfg_ops *ops, void *ctx, u16 seg, u16 bdf, u8 id)
{
	struct pci_ref r = { ops, ctx, seg, bdf };
	u16 at;
	int ret = cap_walk(&r, id, false, &at, NULL, NULL);

	return ret ? ret : at;
}

int pci_cap_list(const struct pci_cfg_ops *ops, void *ctx, u16 seg, u16 bdf, u8 *list)
{
	struct pci_ref r = { ops, ctx, seg, bdf };
	u32 n = 0;
	u16 at;
	int ret = cap_walk(&r, 0, true, &at, list, &n);

	return ret ? ret : (int)n;
}

int pci_ext_cap_find(const struct pci_cfg_ops *ops, void *ctx, u16 seg, u16 bdf, u16 id)
{
	struct pci_ref r = { ops, ctx, seg, bdf };
	u16 at;
	int ret = ext_cap_walk(&r, id, false, &at);

	return ret ? ret : at;
}

/* The PCIe capability, if it fits in the first 256 bytes (its size by version). */
static void func_read_pcie(const struct pci_ref *r, struct pci_func *f)
{
	u16 at, flags;
	u32 size;

	if (cap_walk(r, PCI_CAP_ID_EXP, true, &at, NULL, NULL))
		f->flags |= PCI_F_BAD_CAPS;
	if (!at)
		return;
	flags = rd16(r, at + PCI_EXP_FLAGS);
	size = (flags & 0xfu) >= 2 ? PCI_EXP_SIZE_V2 : PCI_EXP_SIZE_V1;
	if (at + PCI_EXP_SIZE_MIN > PCI_CFG_LEGACY_SIZE) {
		pr_warn("pci " PCI_FMT ": PCIe capability at 0x%02x runs past 0xff; ignored",
			PCI_ARGS(r->seg, r->bdf), at);
		f->flags |= PCI_F_BAD_CAPS;
		return;
	}
	if (at + size > PCI_CFG_LEGACY_SIZE)
		pr_info("pci " PCI_FMT ": PCIe capability at 0x%02x runs past 0xff; its registers "
			"there read as 0 to a guest",
			PCI_ARGS(r->seg, r->bdf), at);
	f->pcie_cap = at;
	f->pcie_type = (u8)((flags >> 4) & 0xfu);
}

/* The ACS capability of a PCIe function (only those have extended config space). */
static void func_read_acs(const struct pci_ref *r, struct pci_func *f)
{
	u16 at;

	if (ext_cap_walk(r, PCI_EXT_CAP_ID_ACS, true, &at))
		f->flags |= PCI_F_BAD_CAPS;
	if (!at)
		return;
	if (at + PCI_ACS_SIZE > PCI_CFG_SIZE) {
		pr_warn("pci " PCI_FMT ": ACS capability at 0x%03x runs past 0xfff; ignored",
			PCI_ARGS(r->seg, r->bdf), at);
		f->flags |= PCI_F_BAD_CAPS;
		return;
	}
	f->acs_cap = at;
	f->acs_caps = rd16(r, at + PCI_ACS_CAP);
	f->acs_ctrl = rd16(r, at + PCI_ACS_CTRL);
}

static bool func_is_port(const struct pci_func *f)
{
	return f->pcie_type == PCI_EXP_TYPE_ROOT_PORT || f->pcie_type == PCI_EXP_TYPE_DOWNSTREAM;
}

/*
 * Whether @f's ACS sends peer-to-peer traffic up to the IOMMU: a root or
 * switch downstream port must validate sources, redirect requests and
 * completions and forward upstream; any other function (this matters
 * inside a multifunction device) must redirect requests and completions.
 * A control the function does not implement is not asked for: the spec
 * lets a function omit those for paths it does not have. No ACS: no.
 */
static bool func_acs_isolates(const struct pci_func *f)
{
	u16 need = PCI_ACS_RR | PCI_ACS_CR;

	if (!f->acs_cap)
		return false;
	if (func_is_port(f))
		need |= PCI_ACS_SV | PCI_ACS_UF;
	need &= f->acs_caps;
	return (f->acs_ctrl & need) == need;
}

/* Only ports and functions of multifunction devices can pass traffic to peers. */
static bool func_acs_ok(const struct pci_func *f)
{
	if (!func_is_port(f) && !(f->flags & PCI_F_MULTI))
		return true;
	return (f->flags & PCI_F_ACS) != 0;
}

static bool func_present(const struct pci_ref *r)
{
	u16 vendor = rd16(r, PCI_VENDOR_ID);

	return vendor != 0xffff && vendor != 0;
}

static void func_read(const struct pci_ref *r, struct pci_func *f)
{
	memset(f, 0, sizeof(*f));
	f->seg = r->seg;
	f->bdf = r->bdf;
	f->dma_rid = r->bdf;
	f->vendor = rd16(r, PCI_VENDOR_ID);
	f->device = rd16(r, PCI_DEVICE_ID);
	f->class = rd32(r, PCI_CLASS_REV) >> 8;
	f->hdr_type = rd8(r, PCI_HEADER_TYPE) & PCI_HEADER_LAYOUT;
	f->pcie_type = PCI_NOT_PCIE;
	f->parent = PCI_NONE;
	f->group = PCI_NONE;
	if (f->hdr_type == PCI_HEADER_BRIDGE || f->hdr_type == PCI_HEADER_CARDBUS) {
		f->sec_bus = rd8(r, PCI_SECONDARY_BUS);
		f->sub_bus = rd8(r, PCI_SUBORDINATE_BUS);
	}
	if (f->hdr_type > PCI_HEADER_CARDBUS) {
		pr_warn("pci " PCI_FMT ": header type 0x%02x is unknown; capabilities not read",
			PCI_ARGS(r->seg, r->bdf), f->hdr_type);
		return;
	}
	func_read_pcie(r, f);
	if (f->pcie_cap)
		func_read_acs(r, f);
	if (func_acs_isolates(f))
		f->flags |= PCI_F_ACS;
}

/* Clear Bus Master Enable; true if it was on. A function that keeps it on is named. */
static bool func_master_off(const struct pci_ref *r)
{
	u16 cmd = rd16(r, PCI_COMMAND);

	if (cmd == 0xffff || !(cmd & PCI_COMMAND_MASTER))
		return false;
	wr16(r, PCI_COMMAND, (u16)(cmd & ~PCI_COMMAND_MASTER));
	if (rd16(r, PCI_COMMAND) & PCI_COMMAND_MASTER)
		pr_warn("pci " PCI_FMT ": bus mastering is still on after Keel turned it off",
			PCI_ARGS(r->seg, r->bdf));
	return true;
}

/*
 * Set INTx Disable (PCI 2.3): a function no partition owns pulls no host
 * interrupt line; vfio/intx.c counts on it to tell whose INTx fired.
 */
static void func_intx_off(const struct pci_ref *r)
{
	u16 cmd = rd16(r, PCI_COMMAND);

	if (cmd != 0xffff && !(cmd & PCI_COMMAND_INTX_OFF))
		wr16(r, PCI_COMMAND, (u16)(cmd | PCI_COMMAND_INTX_OFF));
}

static bool bus_test(const u64 *map, u32 bus)
{
	return (map[bus / 64] & BIT(bus % 64)) != 0;
}

static void bus_set(u64 *map, u32 first, u32 last)
{
	for (u32 b = first; b <= last; b++)
		map[b / 64] |= BIT(b % 64);
}

/* ---- groups: union-find over record indices, the lower index the root ---- */

static u32 group_root(struct pci_scan *s, u32 i)
{
	while (s->funcs[i].group != i) {
		u32 up = s->funcs[i].group;

		s->funcs[i].group = s->funcs[up].group; /* halve the path */
		i = up;
	}
	return i;
}

static void group_join(struct pci_scan *s, u32 a, u32 b)
{
	if (a == PCI_NONE || b == PCI_NONE)
		return;
	a = group_root(s, a);
	b = group_root(s, b);
	if (a < b)
		s->funcs[b].group = a;
	else if (b < a)
		s->funcs[a].group = b;
}

static u32 func_record(struct pci_scan *s, const struct pci_func *f)
{
	u32 i = s->count;

	if (i >= s->max_funcs)
		return PCI_NONE;
	s->funcs[i] = *f;
	s->funcs[i].group = i;
	s->count++;
	return i;
}

/* ---- bridges ---- */

/* Why the bridge @f on @up's bus is not followed, or NULL to follow it. */
static const char *bridge_refusal(const struct pci_scan *s, const struct pci_up *up,
				  const struct pci_func *f)
{
	if (f->hdr_type == PCI_HEADER_CARDBUS)
		return "is a CardBus bridge";
	if (f->sec_bus == 0 && f->sub_bus == 0)
		return "has no bus numbers";
	if (f->sub_bus < f->sec_bus)
		return "has its bus numbers in reverse order";
	if (f->sec_bus < s->start_bus || f->sub_bus > s->end_bus)
		return "leads outside the window";
	if (bus_test(s->bus_scanned, f->sec_bus))
		return "loops back to a bus scanned already";
	if (f->sec_bus <= up->bus || f->sub_bus > up->last_bus)
		return "leads outside its parent's buses";
	/* Only the bridges above may name these buses yet, not a sibling or its subtree. */
	for (u32 b = f->sec_bus; b <= f->sub_bus; b++)
		if (s->bus_level[b] > up->depth)
			return "overlaps another bridge's buses";
	if (up->depth + 1u >= PCI_MAX_DEPTH)
		return "is nested too deep";
	return NULL;
}

/*
 * The requester ID DMA from below bridge @f carries. PCIe ports (root,
 * switch upstream and downstream) pass requester IDs through. A PCIe-to-PCI
 * or PCI-X bridge takes ownership of the transactions from its conventional
 * side and tags them with its secondary bus number, device 0, function 0; a
 * conventional PCI-to-PCI bridge, or a PCI-to-PCIe one, with its own ID.
 * Nested, the topmost such bridge wins: it re-tags what comes through it.
 */
static void bridge_alias(const struct pci_up *up, const struct pci_func *f, u32 rec,
			 struct pci_up *below)
{
	below->alias_rid = up->alias_rid;
	below->alias_owner = up->alias_owner;
	if (up->alias_rid != PCI_NONE)
		return;
	switch (f->pcie_type) {
	case PCI_EXP_TYPE_ROOT_PORT:
	case PCI_EXP_TYPE_UPSTREAM:
	case PCI_EXP_TYPE_DOWNSTREAM:
		return;
	case PCI_EXP_TYPE_PCI_BRIDGE:
		below->alias_rid = PCI_BDF(f->sec_bus, 0, 0);
		break;
	default:
		below->alias_rid = f->bdf;
		break;
	}
	below->alias_owner = rec;
}

static void scan_bus(struct pci_scan *s, const struct pci_up *up);

/*
 * Follow bridge @f (record @rec) to its secondary bus; or refuse it, note
 * the buses it names inside the window (they are not taken for root buses)
 * and return false: its bus mastering then goes off, so nothing Keel did
 * not see behind it can reach memory through it.
 */
static bool bridge_follow(struct pci_scan *s, const struct pci_up *up, const struct pci_func *f,
			  u32 rec)
{
	const char *why = bridge_refusal(s, up, f);
	struct pci_up below;

	if (why) {
		pr_warn("pci " PCI_FMT ": bridge to buses %02x-%02x %s; not followed",
			PCI_ARGS(s->seg, f->bdf), f->sec_bus, f->sub_bus, why);
		if (f->sub_bus >= f->sec_bus && f->sec_bus <= s->end_bus)
			bus_set(s->bus_refused, MAX(f->sec_bus, s->start_bus),
				MIN(f->sub_bus, s->end_bus));
		return false;
	}
	below.bridge = rec;
	below.bus = f->sec_bus;
	below.last_bus = f->sub_bus;
	below.depth = (u8)(up->depth + 1u);
	memset(&s->bus_level[f->sec_bus], below.depth, (size_t)f->sub_bus - f->sec_bus + 1);
	bridge_alias(up, f, rec, &below);
	scan_bus(s, &below);
	return true;
}

/* Host bridges are the root complex; a bridge Keel follows forwards for functions that are off. */
static bool func_keeps_master(const struct pci_func *f, bool followed)
{
	if (f->hdr_type == PCI_HEADER_BRIDGE)
		return followed;
	return f->hdr_type == PCI_HEADER_NORMAL && (f->class >> 8) == PCI_CLASS_HOST_BRIDGE;
}

/*
 * One function on @up's bus: read, record (if there is room), follow it if
 * it is a bridge, bus mastering off unless it keeps it. Returns its record
 * or PCI_NONE; *isolated says whether its ACS keeps it from its siblings.
 */
static u32 scan_func(struct pci_scan *s, const struct pci_up *up, u16 bdf, bool multi,
		     bool *isolated)
{
	struct pci_ref r = { s->ops, s->ctx, s->seg, bdf };
	struct pci_func f;
	bool followed = false;
	u32 rec;

	func_read(&r, &f);
	if (multi)
		f.flags |= PCI_F_MULTI;
	f.parent = up->bridge;
	if (up->alias_rid != PCI_NONE) {
		f.dma_rid = (u16)up->alias_rid;
		f.flags |= PCI_F_ALIASED;
	}
	*isolated = (f.flags & PCI_F_ACS) != 0;
	s->found++;
	rec = func_record(s, &f);
	group_join(s, up->alias_owner, rec);
	if (f.hdr_type == PCI_HEADER_BRIDGE || f.hdr_type == PCI_HEADER_CARDBUS) {
		followed = bridge_follow(s, up, &f, rec);
		if (!followed && rec != PCI_NONE)
			s->funcs[rec].flags |= PCI_F_REFUSED;
	}
	if (!func_keeps_master(&f, followed)) {
		if (func_master_off(&r))
			s->master_off++;
		func_intx_off(&r);
	}
	return rec;
}

/*
 * Device @dev on @up's bus: function 0, then 1-7 if function 0 says it is a
 * multifunction device. Functions of a multifunction device can reach each
 * other inside it unless every one has ACS: without, they are one group.
 */
static void scan_slot(struct pci_scan *s, const struct pci_up *up, u32 dev)
{
	struct pci_ref r = { s->ops, s->ctx, s->seg, PCI_BDF(up->bus, dev, 0) };
	u32 first = PCI_NONE, n_fns;
	bool all_isolated = true, multi;

	if (!func_present(&r))
		return;
	multi = (rd8(&r, PCI_HEADER_TYPE) & PCI_HEADER_MULTI) != 0;
	n_fns = multi ? PCI_FNS : 1;
	for (u32 fn = 0; fn < n_fns; fn++) {
		bool isolated;
		u32 rec;

		r.bdf = PCI_BDF(up->bus, dev, fn);
		if (fn && !func_present(&r))
			continue;
		rec = scan_func(s, up, r.bdf, multi, &isolated);
		all_isolated = all_isolated && isolated;
		if (first == PCI_NONE)
			first = rec;
	}
	if (multi && !all_isolated && first != PCI_NONE)
		for (u32 i = first + 1; i < s->count; i++)
			if (s->funcs[i].parent == up->bridge &&
			    PCI_BDF_BUS(s->funcs[i].bdf) == up->bus &&
			    PCI_BDF_DEV(s->funcs[i].bdf) == dev)
				group_join(s, first, i);
}

static void scan_bus(struct pci_scan *s, const struct pci_up *up)
{
	bus_set(s->bus_scanned, up->bus, up->bus);
	for (u32 dev = 0; dev < PCI_DEVS; dev++)
		scan_slot(s, up, dev);
}

/*
 * A function whose path up to its root bus passes a port (or a
 * multifunction device) without ACS can reach its peers below that bridge
 * without the IOMMU seeing it: it joins the group of the topmost bridge
 * above it whose own path is not isolated. Records are in depth-first
 * order, so a parent's flags are final before its children are looked at.
 */
static void groups_by_path(struct pci_scan *s)
{
	for (u32 i = s->first; i < s->count; i++) {
		struct pci_func *f = &s->funcs[i];
		u32 p = f->parent, anchor = i;

		if (p != PCI_NONE && p >= i)
			p = PCI_NONE; /* cannot happen: parents are recorded first */
		if (func_acs_ok(f) && (p == PCI_NONE || (s->funcs[p].flags & PCI_F_PATH_ACS)))
			f->flags |= PCI_F_PATH_ACS;
		for (u32 d = 0; p != PCI_NONE && d < PCI_MAX_DEPTH; d++) {
			if (s->funcs[p].flags & PCI_F_PATH_ACS)
				break;
			anchor = p;
			p = s->funcs[p].parent;
		}
		group_join(s, i, anchor);
	}
}

/* Turn union-find roots into group numbers from first_group, in record order. */
static void groups_number(struct pci_scan *s)
{
	u32 next = s->first_group;

	for (u32 i = s->first; i < s->count; i++)
		s->funcs[i].group = group_root(s, i);
	/* A root has the lowest index of its group, so it is numbered before its members. */
	for (u32 i = s->first; i < s->count; i++) {
		u32 root = s->funcs[i].group;

		s->funcs[i].group = root == i ? next++ : s->funcs[root].group;
	}
	s->next_group = next;
}

static void func_log(const struct pci_func *f)
{
	char bridge[32] = "", alias[24] = "";

	if (f->hdr_type == PCI_HEADER_BRIDGE)
		snprintf(bridge, sizeof(bridge), " bridge %02x-%02x%s", f->sec_bus, f->sub_bus,
			 (f->flags & PCI_F_REFUSED) ? " (not followed)" : "");
	if (f->flags & PCI_F_ALIASED)
		snprintf(alias, sizeof(alias), " alias %02x:%02x.%u", PCI_BDF_BUS(f->dma_rid),
			 PCI_BDF_DEV(f->dma_rid), PCI_BDF_FN(f->dma_rid));
	pr_info("pci " PCI_FMT " %04x:%04x class %06x group %u%s%s", PCI_ARGS(f->seg, f->bdf),
		f->vendor, f->device, f->class, f->group, bridge, alias);
}

static bool scan_ok(const struct pci_scan *s)
{
	return s->ops && s->ops->read && s->ops->write && s->start_bus <= s->end_bus &&
	       (s->funcs || !s->max_funcs) && s->count <= s->max_funcs;
}

int pci_scan(struct pci_scan *s)
{
	struct pci_up root = { PCI_NONE, PCI_NONE, PCI_NONE, s->start_bus, s->end_bus, 0 };

	if (!scan_ok(s))
		return -KEEL_EINVAL;
	s->first = s->count;
	s->found = 0;
	s->master_off = 0;
	memset(s->bus_scanned, 0, sizeof(s->bus_scanned));
	memset(s->bus_refused, 0, sizeof(s->bus_refused));
	memset(s->bus_level, 0, sizeof(s->bus_level));
	scan_bus(s, &root);
	/* Other root buses of the segment (host bridges of their own): anything not behind a bridge. */
	for (u32 b = (u32)s->start_bus + 1; b <= s->end_bus; b++) {
		if (bus_test(s->bus_scanned, b) || s->bus_level[b] || bus_test(s->bus_refused, b))
			continue;
		root.bus = (u8)b;
		scan_bus(s, &root);
	}
	groups_by_path(s);
	groups_number(s);
	for (u32 i = s->first; i < s->count; i++)
		func_log(&s->funcs[i]);
	if (s->found > s->count - s->first)
		pr_warn("pci: %u functions on segment %04x not recorded: Keel keeps %u",
			s->found - (s->count - s->first), s->seg, s->max_funcs);
	pr_info("pci: %u functions on segment %04x, bus master turned off on %u", s->found, s->seg,
		s->master_off);
	return 0;
}
