/* SPDX-License-Identifier: MIT */
/*
 * The IOMMU registry (keel/iommu.h): units recorded by platform discovery,
 * brought up with default deny before any partition runs, the unit that
 * translates each PCI function, and the fault reports of every driver.
 */
#include <keel/abi.h>
#include <keel/console.h>
#include <keel/hmap.h>
#include <keel/iommu.h>
#include <keel/lib.h>
#include <keel/pci.h>
#include <keel/pmm.h>
#include <keel/spinlock.h>
#include <keel/vfio.h>

#define IOMMU_FMT "iommu %u (%s)"
/* Faults logged in full per unit; after that one line per IOMMU_FAULT_QUIET_EVERY. */
#define IOMMU_FAULT_LOUD 16u
#define IOMMU_FAULT_QUIET_EVERY 1024u
/* Blocked DMAs after which an owned function's bus mastering goes off. */
#define IOMMU_FAULT_STOP_DEVICE 64u

/* A scope entry turned into requester IDs once the buses it crosses are known. */
struct iommu_rids {
	bool ok; /* resolved: its path exists */
	u16 self; /* PATH: the function it names */
	u16 first; /* the requester IDs below it (bridge), or RANGE's */
	u16 last;
	bool below; /* first..last hold IDs (a bridge with buses, or a RANGE) */
};

static struct iommu_unit units[IOMMU_MAX_UNITS];
static struct iommu_rids unit_rids[IOMMU_MAX_UNITS][IOMMU_MAX_SCOPES];
static u32 unit_count;
static struct iommu_reserved reserved[IOMMU_MAX_RESERVED];
static u32 reserved_count;
/* Serialises every driver call: boot, assignment and the fault interrupt. */
static struct spinlock iommu_lock = SPINLOCK_INIT;

static const char *iommu_kind_name(u32 kind)
{
	switch (kind) {
	case IOMMU_VTD:
		return "VT-d";
	case IOMMU_AMDVI:
		return "AMD-Vi";
	case IOMMU_SMMUV3:
		return "SMMUv3";
	default:
		return "unknown";
	}
}

static const struct iommu_ops *iommu_kind_ops(u32 kind)
{
	switch (kind) {
	case IOMMU_VTD:
		return &vtd_ops;
	case IOMMU_AMDVI:
		return &amdvi_ops;
	case IOMMU_SMMUV3:
		return &smmuv3_ops;
	default:
		return NULL;
	}
}

/* Why @d cannot be recorded, or NULL. */
static const char *iommu_refusal(const struct keel_boot_info *bi, const struct iommu_unit *d)
{
	if (!iommu_kind_ops(d->kind))
		return "its kind is unknown";
	if (d->scope_count > IOMMU_MAX_SCOPES)
		return "it lists more device scopes than Keel keeps";
	if (!d->base || !IS_ALIGNED(d->base, PAGE_SIZE) || !d->size ||
	    !IS_ALIGNED(d->size, PAGE_SIZE))
		return "its register block is not page aligned";
	/* Identity mapped below the hypervisor's own top-level slots, like ECAM. */
	if (d->base >= HMAP_STACKS_VA || d->size > HMAP_STACKS_VA - d->base)
		return "its register block reaches past the address space Keel maps";
	if (boot_mem_hits_ram(bi, d->base, d->base + d->size))
		return "its register block overlaps RAM";
	for (u32 i = 0; i < unit_count; i++)
		if (ranges_overlap(d->base, d->size, units[i].base, units[i].size))
			return "its register block overlaps another unit's";
	return NULL;
}

int iommu_add(const struct keel_boot_info *bi, const struct iommu_unit *desc)
{
	const char *why = iommu_refusal(bi, desc);
	struct iommu_unit *u;

	if (why) {
		pr_warn("iommu: %s unit at 0x%llx ignored: %s", iommu_kind_name(desc->kind),
			(unsigned long long)desc->base, why);
		return -KEEL_EINVAL;
	}
	if (unit_count >= IOMMU_MAX_UNITS) {
		pr_warn("iommu: more than %u units; %s at 0x%llx ignored", IOMMU_MAX_UNITS,
			iommu_kind_name(desc->kind), (unsigned long long)desc->base);
		return -KEEL_ENOSPC;
	}
	u = &units[unit_count];
	*u = *desc;
	u->index = unit_count++;
	u->ops = NULL;
	u->regs = NULL;
	u->priv = NULL;
	u->on = false;
	u->faults = 0;
	pr_info(IOMMU_FMT " at 0x%llx, segment %04x: %u device scope%s%s", u->index,
		iommu_kind_name(u->kind), (unsigned long long)u->base, u->seg, u->scope_count,
		u->scope_count == 1 ? "" : "s", u->include_all ? ", and every other device" : "");
	return 0;
}

int iommu_add_reserved(const struct iommu_reserved *r)
{
	if (reserved_count >= IOMMU_MAX_RESERVED) {
		pr_warn("iommu: more than %u firmware-reserved DMA regions; 0x%llx-0x%llx not kept",
			IOMMU_MAX_RESERVED, (unsigned long long)r->base,
			(unsigned long long)(r->base + r->size));
		return -KEEL_ENOSPC;
	}
	reserved[reserved_count++] = *r;
	/* Never mapped: a device that needs one stays with no partition (bus mastering off). */
	pr_info("iommu: firmware reserves 0x%llx-0x%llx for DMA of a device on segment %04x "
		"bus %02x; Keel maps it for no one",
		(unsigned long long)r->base, (unsigned long long)(r->base + r->size), r->seg,
		r->start_bus);
	return 0;
}

const struct iommu_unit *iommu_unit_at(u32 i)
{
	return i < unit_count ? &units[i] : NULL;
}

/*
 * A VT-d path: from its start bus through each bridge's secondary bus (as
 * the firmware set it, and as enumeration followed it) to the function.
 * A path through something that is not there, or not a bridge, names nothing.
 */
static bool iommu_path_resolve(u16 seg, const struct iommu_scope *sc, struct iommu_rids *out)
{
	u32 bus = sc->start_bus;
	u16 bdf = 0;

	if (sc->path_len == 0 || sc->path_len > IOMMU_MAX_PATH)
		return false;
	for (u32 hop = 0; hop < sc->path_len; hop++) {
		const struct pci_func *f;

		if (sc->path[hop][0] > 31 || sc->path[hop][1] > 7)
			return false;
		bdf = PCI_BDF(bus, sc->path[hop][0], sc->path[hop][1]);
		f = pci_func_find(seg, bdf);
		if (!f)
			return false;
		if (hop + 1 < sc->path_len) {
			if (f->hdr_type != PCI_HEADER_BRIDGE || (f->flags & PCI_F_REFUSED))
				return false;
			bus = f->sec_bus;
		}
	}
	out->self = bdf;
	if (sc->bridge) {
		const struct pci_func *f = pci_func_find(seg, bdf);

		if (f->hdr_type == PCI_HEADER_BRIDGE && !(f->flags & PCI_F_REFUSED) && f->sec_bus &&
		    f->sec_bus <= f->sub_bus) {
			out->first = PCI_BDF(f->sec_bus, 0, 0);
			out->last = PCI_BDF(f->sub_bus, 31, 7);
			out->below = true;
		}
	}
	return true;
}

/* Each unit's scopes as requester IDs, after enumeration. */
static void iommu_resolve_scopes(struct iommu_unit *u)
{
	for (u32 i = 0; i < u->scope_count; i++) {
		const struct iommu_scope *sc = &u->scopes[i];
		struct iommu_rids *r = &unit_rids[u->index][i];

		*r = (struct iommu_rids){ 0 };
		if (sc->kind == IOMMU_SCOPE_RANGE && sc->first <= sc->last) {
			*r = (struct iommu_rids){ .ok = true,
						  .self = sc->first,
						  .first = sc->first,
						  .last = sc->last,
						  .below = true };
		} else if (sc->kind == IOMMU_SCOPE_PATH) {
			r->ok = iommu_path_resolve(u->seg, sc, r);
		}
		if (!r->ok)
			pr_warn(IOMMU_FMT ": device scope %u names no PCI function Keel found; "
					  "it is ignored",
				u->index, iommu_kind_name(u->kind), i);
	}
}

static bool iommu_scopes_name(const struct iommu_unit *u, u16 rid)
{
	for (u32 i = 0; i < u->scope_count; i++) {
		const struct iommu_rids *r = &unit_rids[u->index][i];

		if (r->ok && (r->self == rid || (r->below && rid >= r->first && rid <= r->last)))
			return true;
	}
	return false;
}

/* The unit whose scopes name @rid, else the catch-all of @seg: on or not. */
static struct iommu_unit *iommu_unit_naming(u16 seg, u16 rid)
{
	struct iommu_unit *all = NULL;

	for (u32 i = 0; i < unit_count; i++) {
		struct iommu_unit *u = &units[i];

		if (u->seg != seg)
			continue;
		if (iommu_scopes_name(u, rid))
			return u;
		if (u->include_all && !all)
			all = u;
	}
	return all;
}

struct iommu_unit *iommu_unit_at_base(hpa_t base)
{
	for (u32 i = 0; i < unit_count; i++)
		if (units[i].on && units[i].base == base)
			return &units[i];
	return NULL;
}

struct iommu_unit *iommu_unit_for(u16 seg, u16 rid)
{
	struct iommu_unit *u = iommu_unit_naming(seg, rid);

	return u && u->on ? u : NULL;
}

static void iommu_enable_unit(struct iommu_unit *u)
{
	unsigned long flags;
	int ret;

	u->ops = iommu_kind_ops(u->kind);
	u->regs = hpa_to_hva(u->base);
	flags = spin_lock_irqsave(&iommu_lock);
	ret = u->ops->enable(u);
	spin_unlock_irqrestore(&iommu_lock, flags);
	if (ret) {
		pr_err(IOMMU_FMT " at 0x%llx not enabled (error %d): the devices it translates "
				 "can never be assigned",
		       u->index, u->ops->name, (unsigned long long)u->base, ret);
		return;
	}
	u->on = true;
	pr_info(IOMMU_FMT " at 0x%llx: translation on, every device blocked until assigned",
		u->index, u->ops->name, (unsigned long long)u->base);
}

/* Which unit covers each function; the ones none does are named. */
static void iommu_report_coverage(void)
{
	u32 n = pci_func_count(), covered = 0;

	for (u32 i = 0; i < n; i++) {
		const struct pci_func *f = pci_func_at(i);
		struct iommu_unit *u = iommu_unit_for(f->seg, f->bdf);

		if (u) {
			covered++;
			pr_debug("pci " PCI_FMT ": DMA translated by " IOMMU_FMT,
				 PCI_ARGS(f->seg, f->bdf), u->index, u->ops->name);
		} else {
			pr_warn("pci " PCI_FMT ": no IOMMU translates its DMA; it can never be "
				"assigned, and its bus mastering stays off",
				PCI_ARGS(f->seg, f->bdf));
		}
	}
	pr_info("iommu: %u of %u PCI functions behind an IOMMU", covered, n);
}

void iommu_init(void)
{
	if (!unit_count) {
		if (pci_func_count())
			pr_info("iommu: none found: no PCI function can be assigned; bus mastering "
				"stays off on all %u",
				pci_func_count());
		return;
	}
	for (u32 i = 0; i < unit_count; i++)
		iommu_enable_unit(&units[i]);
	for (u32 i = 0; i < unit_count; i++)
		iommu_resolve_scopes(&units[i]);
	iommu_report_coverage();
}

/* Bus mastering off at @bdf: a function with no owner that DMAs anyway, or one that keeps faulting. */
static void iommu_master_off_one(u16 seg, u16 bdf)
{
	u32 cmd = pci_cfg_read(seg, bdf, PCI_COMMAND, 2);

	if (cmd != 0xffff && (cmd & PCI_COMMAND_MASTER))
		pci_cfg_write(seg, bdf, PCI_COMMAND, 2, cmd & ~(u32)PCI_COMMAND_MASTER);
}

/*
 * ... at every function whose DMA carries requester ID @rid: the one at that
 * address, and those behind a bridge that uses it as their alias (the IOMMU
 * cannot tell them apart, so none of them may go on).
 */
static void iommu_master_off(u16 seg, u16 rid)
{
	iommu_master_off_one(seg, rid);
	for (u32 i = 0; i < pci_func_count(); i++) {
		const struct pci_func *f = pci_func_at(i);

		if (f->seg == seg && f->dma_rid == rid && f->bdf != rid)
			iommu_master_off_one(seg, f->bdf);
	}
}

/*
 * The function a fault by requester ID @rid stands for: the one at that
 * address, else one that DMAs with @rid as its alias (behind a PCIe-to-PCI
 * bridge), an owned one first. Functions sharing an alias share a group, so
 * at most one partition owns any of them. NULL if none was found at boot.
 */
static const struct pci_func *iommu_fault_func(u16 seg, u16 rid)
{
	const struct pci_func *f = pci_func_find(seg, rid), *alias = NULL;

	if (f)
		return f;
	for (u32 i = 0; i < pci_func_count(); i++) {
		const struct pci_func *g = pci_func_at(i);

		if (g->seg != seg || g->dma_rid != rid)
			continue;
		if (vfio_owner_name(g))
			return g;
		alias = alias ? alias : g;
	}
	return alias;
}

/* Blocked DMAs of each function, by its index in the enumeration. */
static u32 iommu_func_faults[PCI_MAX_FUNCS];

/*
 * The policy: every fault is blocked and counted. A function no partition
 * owns has its bus mastering turned off at once. One a partition owns is
 * turned off after IOMMU_FAULT_STOP_DEVICE faults: its DMA stops, its
 * partition runs on (its driver sees a device that no longer answers). A
 * fault by a bridge's alias is the aliased functions' (iommu_fault_func).
 */
void iommu_fault_report(struct iommu_unit *u, u16 rid, u64 addr, bool write, const char *why)
{
	const struct pci_func *f = iommu_fault_func(u->seg, rid);
	const char *owner = vfio_owner_name(f);
	u32 *count = f ? &iommu_func_faults[f - pci_func_at(0)] : NULL;
	u64 n = ++u->faults;
	char who[48] = " (not found at boot)";

	if (f && f->bdf != rid)
		snprintf(who, sizeof(who), " (the alias of " PCI_FMT ")", PCI_ARGS(f->seg, f->bdf));
	else if (f)
		who[0] = 0;
	if (count)
		++*count;
	if (n <= IOMMU_FAULT_LOUD || n % IOMMU_FAULT_QUIET_EVERY == 0)
		pr_err(IOMMU_FMT ": DMA %s at 0x%llx by " PCI_FMT "%s blocked: %s; %s%s%s (fault "
				 "%llu)",
		       u->index, u->ops->name, write ? "write" : "read", (unsigned long long)addr,
		       PCI_ARGS(u->seg, rid), who, why,
		       owner ? "partition '" : "the device belongs to no partition",
		       owner ? owner : "", owner ? "' owns the device" : "", (unsigned long long)n);
	if (!owner) {
		iommu_master_off(u->seg, rid);
	} else if (count && *count == IOMMU_FAULT_STOP_DEVICE) {
		iommu_master_off(u->seg, rid);
		pr_err(IOMMU_FMT ": " PCI_FMT " of partition '%s': bus mastering off after %u "
				 "blocked DMAs; the partition runs on",
		       u->index, u->ops->name, PCI_ARGS(f->seg, f->bdf), owner,
		       IOMMU_FAULT_STOP_DEVICE);
	}
}

void iommu_fault_event(void)
{
	unsigned long flags = spin_lock_irqsave(&iommu_lock);

	for (u32 i = 0; i < unit_count; i++)
		if (units[i].on)
			units[i].ops->faults(&units[i]);
	spin_unlock_irqrestore(&iommu_lock, flags);
}

/* ---- Domains ------------------------------------------------------------ */

static hpa_t iommu_alloc_table(void *ctx, u64 bytes)
{
	(void)ctx;
	return pmm_alloc(bytes, PAGE_SIZE);
}

static void iommu_free_table(void *ctx, hpa_t table, u64 bytes)
{
	(void)ctx;
	pmm_free(table, bytes);
}

/* pt.sync: the walker changed or dropped entries of [va, va + size) on one unit. */
static void iommu_pt_sync(void *ctx, u64 va, u64 size)
{
	struct iommu_pt_ctx *c = ctx;

	c->u->ops->flush(c->u, c->d, va, size);
}

int iommu_domain_init(struct iommu_domain *d, u16 id)
{
	unsigned long flags;
	int ret = 0;

	if (id == 0 || id > 255)
		return -KEEL_EINVAL;
	memset(d, 0, sizeof(*d));
	d->id = id;
	flags = spin_lock_irqsave(&iommu_lock);
	for (u32 i = 0; !ret && i < unit_count; i++) {
		struct iommu_unit *u = &units[i];

		if (!u->on)
			continue;
		d->ctx[i] = (struct iommu_pt_ctx){ d, u };
		d->pt[i] = (struct pt){ .fmt = u->ops->format(u),
					.alloc_table = iommu_alloc_table,
					.free_table = iommu_free_table,
					.sync = iommu_pt_sync,
					.ctx = &d->ctx[i] };
		ret = d->pt[i].fmt ? pt_init(&d->pt[i]) : -KEEL_EINVAL;
	}
	spin_unlock_irqrestore(&iommu_lock, flags);
	if (ret)
		iommu_domain_destroy(d);
	return ret;
}

static int iommu_domain_map_attrs(struct iommu_domain *d, u64 iova, hpa_t hpa, u64 size, u32 attrs)
{
	unsigned long flags = spin_lock_irqsave(&iommu_lock);
	int ret = 0;

	for (u32 i = 0; !ret && i < unit_count; i++) {
		if (!d->pt[i].root)
			continue;
		ret = pt_map(&d->pt[i], iova, hpa, size, attrs);
		/* New entries too: a unit in caching mode, or one that does not snoop. */
		units[i].ops->flush(&units[i], d, iova, size);
	}
	spin_unlock_irqrestore(&iommu_lock, flags);
	if (ret)
		iommu_domain_unmap(d, iova, size);
	return ret;
}

int iommu_domain_map(struct iommu_domain *d, u64 iova, hpa_t hpa, u64 size)
{
	return iommu_domain_map_attrs(d, iova, hpa, size, PT_READ | PT_WRITE);
}

int iommu_domain_map_doorbell(struct iommu_domain *d, hpa_t page)
{
	return iommu_domain_map_attrs(d, page, page, PAGE_SIZE, PT_READ | PT_WRITE | PT_DEVICE);
}

void iommu_domain_unmap(struct iommu_domain *d, u64 iova, u64 size)
{
	unsigned long flags = spin_lock_irqsave(&iommu_lock);

	for (u32 i = 0; i < unit_count; i++)
		if (d->pt[i].root)
			pt_unmap(&d->pt[i], iova, size); /* flushed by pt.sync */
	spin_unlock_irqrestore(&iommu_lock, flags);
}

int iommu_domain_attach(struct iommu_domain *d, struct iommu_unit *u, u16 rid)
{
	unsigned long flags;
	int ret;

	if (!u->on || !d->pt[u->index].root)
		return -KEEL_ENODEV;
	flags = spin_lock_irqsave(&iommu_lock);
	ret = u->ops->attach(u, d, rid);
	if (!ret)
		d->attached++;
	spin_unlock_irqrestore(&iommu_lock, flags);
	return ret;
}

int iommu_domain_detach(struct iommu_domain *d, struct iommu_unit *u, u16 rid)
{
	unsigned long flags = spin_lock_irqsave(&iommu_lock);
	int ret = u->ops->detach(u, d, rid);

	if (d->attached)
		d->attached--;
	spin_unlock_irqrestore(&iommu_lock, flags);
	return ret;
}

void iommu_domain_destroy(struct iommu_domain *d)
{
	for (u32 i = 0; i < IOMMU_MAX_UNITS; i++) {
		if (!d->pt[i].root)
			continue;
		d->pt[i].sync = NULL; /* nothing walks it: no unit points at it any more */
		pt_destroy(&d->pt[i]);
		d->pt[i].root = 0;
	}
}

int iommu_irq_alloc(struct iommu_unit *u, u16 rid, u32 apic_id, u32 vector, struct iommu_msi *msi,
		    u32 *index)
{
	unsigned long flags;
	int ret = -KEEL_ENOSPC;
	u32 i;

	if (!u->on || !u->ops->irte_set)
		return -KEEL_ENOTSUP;
	flags = spin_lock_irqsave(&iommu_lock);
	for (i = 0; i < IOMMU_IRTES && (u->irte_used[i / 64] & BIT(i % 64)); i++)
		;
	if (i < IOMMU_IRTES) {
		ret = u->ops->irte_set(u, rid, i, apic_id, vector, msi);
		if (!ret) {
			u->irte_used[i / 64] |= BIT(i % 64);
			*index = i;
		}
	}
	spin_unlock_irqrestore(&iommu_lock, flags);
	return ret;
}

void iommu_irq_free(struct iommu_unit *u, u16 rid, u32 index)
{
	unsigned long flags;

	if (index >= IOMMU_IRTES || !u->ops->irte_clear)
		return;
	flags = spin_lock_irqsave(&iommu_lock);
	if (u->irte_used[index / 64] & BIT(index % 64)) {
		u->ops->irte_clear(u, rid, index);
		u->irte_used[index / 64] &= ~BIT(index % 64);
	}
	spin_unlock_irqrestore(&iommu_lock, flags);
}
