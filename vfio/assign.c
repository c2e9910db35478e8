/* SPDX-License-Identifier: MIT */
/*
 * PCI functions given to partitions (keel/vfio.h): ownership, the checks
 * that decide whether a function may be given, and each partition's DMA
 * domain, which maps its memory and nothing else (IOVA = guest-physical).
 */
#include <keel/abi.h>
#include <keel/boot_info.h>
#include <keel/console.h>
#include <keel/iommu.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pci.h>
#include <keel/pci_reset.h>
#include <keel/pdesc.h>
#include <keel/pmm.h>
#include <keel/spinlock.h>
#include <keel/vfio.h>

#include "vfio_part.h"

/* The owner of each host function (by its index in the enumeration), under vfio_lock. */
static const struct partition *vfio_owners[PCI_MAX_FUNCS];
static struct spinlock vfio_lock = SPINLOCK_INIT;
/* Functions whose reset failed: never given again (their state is unknown). */
static bool vfio_quarantined[PCI_MAX_FUNCS];

static u32 vfio_func_index(const struct pci_func *f)
{
	return (u32)(f - pci_func_at(0));
}

static const struct pci_func *vfio_func_of(const struct keel_pd_device *d)
{
	return pci_func_find(KEEL_PCI_ADDR_SEG(d->backend), KEEL_PCI_ADDR_BDF(d->backend));
}

/* What the function is, if that alone keeps it from any partition. */
static const char *vfio_kind_refusal(const struct pci_func *f)
{
	if (!f)
		return "no such PCI function on this host";
	if (f->hdr_type != PCI_HEADER_NORMAL)
		return "it is a bridge; only endpoints can be given";
	if ((f->class >> 16) == PCI_BASE_CLASS_BRIDGE)
		return "it is a host, ISA or other bridge: the platform's own";
	if ((f->class >> 8) == PCI_CLASS_IOMMU)
		return "it is an IOMMU";
	if (f->flags & PCI_F_BAD_CAPS)
		return "its capability list is broken";
	if (!iommu_unit_for(f->seg, f->bdf))
		return "no IOMMU translates its DMA";
	if (READ_ONCE(vfio_quarantined[vfio_func_index(f)]))
		return "its last reset failed; Keel keeps it out of use";
	return NULL;
}

/* Another partition than @self that owns @f or a function of its group, or NULL. */
static const struct partition *vfio_group_taken(const struct pci_func *f,
						const struct partition *self)
{
	for (u32 i = 0; i < pci_func_count(); i++) {
		const struct pci_func *g = pci_func_at(i);
		const struct partition *owner = vfio_owners[i];

		if (owner && owner != self && g->seg == f->seg && g->group == f->group)
			return owner;
	}
	return NULL;
}

bool vfio_assignable(const struct pci_func *f)
{
	return !vfio_kind_refusal(f);
}

const char *vfio_refusal(const struct pdesc *desc, u32 i, const struct partition *self)
{
	const struct pci_func *f = vfio_func_of(&desc->device[i]);
	const char *why = vfio_kind_refusal(f);
	const struct partition *other;

	if (why)
		return why;
	other = vfio_group_taken(f, self);
	if (other)
		return vfio_owners[vfio_func_index(f)] == other
			       ? "another partition has it"
			       : "another partition has a function of its isolation group";
	return NULL;
}

/* Print a problem with entry @i of @part's description, at its keel.cfg line if known. */
static void vfio_report(const struct pdesc *desc, const u32 *lines, u32 i, const char *why)
{
	u32 a = desc->device[i].backend;

	if (lines && lines[i])
		pr_err("keel.cfg:%u: pci " PCI_FMT ": %s", lines[i],
		       PCI_ARGS(KEEL_PCI_ADDR_SEG(a), KEEL_PCI_ADDR_BDF(a)), why);
	else
		pr_err("partition '%s': pci " PCI_FMT ": %s", desc->h.name,
		       PCI_ARGS(KEEL_PCI_ADDR_SEG(a), KEEL_PCI_ADDR_BDF(a)), why);
}

/* Whether partition @p's entry @i shares a group with an entry of a partition before it. */
static const char *vfio_boot_clash(const struct keel_boot_info *bi, u32 p, u32 i)
{
	const struct pci_func *f = vfio_func_of(&bi->parts[p].device[i]);

	for (u32 q = 0; q < p; q++) {
		const struct pdesc *o = &bi->parts[q];

		for (u32 j = 0; j < o->h.device_count; j++) {
			const struct pci_func *g;

			if (o->device[j].type != KEEL_DEV_PCI)
				continue;
			g = vfio_func_of(&o->device[j]);
			if (g == f)
				return "another partition in keel.cfg has it";
			if (g && g->seg == f->seg && g->group == f->group)
				return "another partition in keel.cfg has a function of its "
				       "isolation group";
		}
	}
	return NULL;
}

bool vfio_boot_check(const struct keel_boot_info *bi)
{
	bool ok = true;

	for (u32 p = 0; p < bi->part_count && p < KEEL_MAX_PARTITIONS; p++) {
		const struct pdesc *d = &bi->parts[p];

		for (u32 i = 0; i < d->h.device_count && i < KEEL_PD_MAX_DEVICES; i++) {
			const char *why;

			if (d->device[i].type != KEEL_DEV_PCI)
				continue;
			why = vfio_kind_refusal(vfio_func_of(&d->device[i]));
			if (!why)
				why = vfio_boot_clash(bi, p, i);
			if (why) {
				vfio_report(d, bi->dev_line[p], i, why);
				ok = false;
			}
		}
	}
	return ok;
}

/* Take @part's functions, all or none. */
static int vfio_take(struct partition *part, struct vfio_part *vp)
{
	const struct pdesc *d = &part->desc;
	unsigned long flags = spin_lock_irqsave(&vfio_lock);
	int ret = 0;

	for (u32 i = 0; !ret && i < d->h.device_count; i++) {
		const char *why;

		if (d->device[i].type != KEEL_DEV_PCI)
			continue;
		why = vfio_refusal(d, i, part);
		if (why) {
			vfio_report(d, part->cfg_dev_line, i, why);
			ret = vfio_kind_refusal(vfio_func_of(&d->device[i])) ? -KEEL_ENODEV
									     : -KEEL_EBUSY;
			break;
		}
		vp->dev[vp->count].f = vfio_func_of(&d->device[i]);
		vp->dev[vp->count].u =
			iommu_unit_for(vp->dev[vp->count].f->seg, vp->dev[vp->count].f->bdf);
		vfio_owners[vfio_func_index(vp->dev[vp->count].f)] = part;
		vp->count++;
	}
	if (ret)
		for (u32 i = 0; i < vp->count; i++)
			vfio_owners[vfio_func_index(vp->dev[i].f)] = NULL;
	spin_unlock_irqrestore(&vfio_lock, flags);
	return ret;
}

static bool vfio_has_pci(const struct pdesc *d)
{
	for (u32 i = 0; i < d->h.device_count; i++)
		if (d->device[i].type == KEEL_DEV_PCI)
			return true;
	return false;
}

/*
 * The MSI doorbell (aarch64: the ITS's translation register) where its
 * functions write their messages, at its own address: refused if that is
 * where the partition has RAM, which its DMA must then reach instead.
 */
static int vfio_map_doorbell(struct partition *part, struct vfio_part *vp)
{
	hpa_t db = arch_msi_doorbell();

	if (!db)
		return 0;
	for (u32 i = 0; i < part->mem_count; i++)
		if (ranges_overlap(db, PAGE_SIZE, part->mem[i].gpa, part->mem[i].size)) {
			pr_err("partition '%s': its RAM at 0x%llx covers the MSI doorbell 0x%llx",
			       part->desc.h.name, (unsigned long long)part->mem[i].gpa,
			       (unsigned long long)db);
			return -KEEL_EINVAL;
		}
	return iommu_domain_map_doorbell(&vp->dom, db);
}

/* Its RAM (its plugged memory comes later, block by block) and the MSI doorbell in its new domain. */
static int vfio_map_ram(struct partition *part, struct vfio_part *vp)
{
	int ret = 0;

	for (u32 i = 0; !ret && i < part->mem_count; i++)
		ret = iommu_domain_map(&vp->dom, part->mem[i].gpa, part->mem[i].hpa,
				       part->mem[i].size);
	return ret ? ret : vfio_map_doorbell(part, vp);
}

/*
 * Bus mastering off and INTx disabled: the function does nothing, and pulls
 * no interrupt line, until its guest turns them on.
 */
static void vfio_master_off(const struct pci_func *f)
{
	u32 cmd = pci_cfg_read(f->seg, f->bdf, PCI_COMMAND, 2);

	if (cmd != 0xffff)
		pci_cfg_write(f->seg, f->bdf, PCI_COMMAND, 2,
			      (cmd & ~(u32)PCI_COMMAND_MASTER) | PCI_COMMAND_INTX_OFF);
}

/*
 * Reset @f with the best method it has (its DMA is blocked meanwhile). A
 * function with none is given anyway, with a warning: what it holds passes
 * to its next owner. 0, or the reset's error (its line is printed).
 */
static int vfio_reset(const struct partition *part, const struct pci_func *f, const char *when)
{
	u32 index = vfio_func_index(f);
	struct pci_reset_result r;
	int ret;

	if (!pci_reset_methods(&pci_host_ops, pci_host_ctx(f->seg), pci_func_at(0),
			       pci_func_count(), index)) {
		pr_warn("partition '%s': pci " PCI_FMT " has no reset (no FLR, bus reset or "
			"D3hot->D0): what it holds passes to its next owner",
			part->desc.h.name, PCI_ARGS(f->seg, f->bdf));
		return 0;
	}
	ret = pci_reset_function(&pci_host_ops, pci_host_ctx(f->seg), pci_func_at(0),
				 pci_func_count(), index, &r);
	if (!ret)
		pr_info("partition '%s': pci " PCI_FMT " reset %s (%s, %llu ms)", part->desc.h.name,
			PCI_ARGS(f->seg, f->bdf), when, pci_reset_method_name(r.method),
			(unsigned long long)(r.ns / 1000000));
	return ret;
}

/*
 * Another entry than @i with its DMA requester ID on its unit (an alias
 * behind one bridge), only one that holds the attachment if @attached.
 */
static struct vfio_dev *vfio_sharer(struct vfio_part *vp, u32 i, bool attached)
{
	for (u32 j = 0; j < vp->count; j++)
		if (j != i && (vp->dev[j].attached || !attached) && vp->dev[j].u == vp->dev[i].u &&
		    vp->dev[j].f->dma_rid == vp->dev[i].f->dma_rid)
			return &vp->dev[j];
	return NULL;
}

/* Reset entry @i and attach its DMA requester ID, unless another entry did (an alias). */
static int vfio_attach_one(struct partition *part, struct vfio_part *vp, u32 i)
{
	struct vfio_dev *v = &vp->dev[i];
	bool shared = vfio_sharer(vp, i, true) != NULL;
	int ret;

	vfio_master_off(v->f);
	ret = vfio_reset(part, v->f, "before its guest starts");
	if (ret || shared)
		return ret;
	ret = iommu_domain_attach(&vp->dom, v->u, v->f->dma_rid);
	if (ret) {
		pr_err("partition '%s': pci " PCI_FMT ": not attached to its DMA domain (error %d)",
		       part->desc.h.name, PCI_ARGS(v->f->seg, v->f->bdf), ret);
		return ret;
	}
	v->attached = true;
	pr_info("partition '%s': pci " PCI_FMT " %04x:%04x given, DMA confined to its memory by "
		"iommu %u (%s)",
		part->desc.h.name, PCI_ARGS(v->f->seg, v->f->bdf), v->f->vendor, v->f->device,
		v->u->index, v->u->ops->name);
	return 0;
}

static int vfio_attach_all(struct partition *part, struct vfio_part *vp)
{
	int ret = 0;

	for (u32 i = 0; !ret && i < vp->count; i++)
		ret = vfio_attach_one(part, vp, i);
	return ret;
}

int vfio_assign(struct partition *part)
{
	struct vfio_part *vp;
	hpa_t mem;
	int ret;

	if (!vfio_has_pci(&part->desc))
		return 0;
	mem = pmm_alloc(ALIGN_UP(sizeof(*vp), PAGE_SIZE), PAGE_SIZE);
	if (!mem)
		return -KEEL_ENOMEM;
	vp = hpa_to_hva(mem);
	part->vfio = vp;
	ret = vfio_take(part, vp);
	if (!ret)
		ret = iommu_domain_init(&vp->dom, (u16)part->id);
	if (!ret)
		ret = vfio_map_ram(part, vp);
	if (!ret)
		ret = vfio_attach_all(part, vp);
	if (!ret)
		ret = vbus_attach(part, vp); /* its guest sees them, BARs placed and mapped */
	if (ret)
		vfio_release(part);
	return ret;
}

void vfio_release(struct partition *part)
{
	struct vfio_part *vp = part->vfio;
	unsigned long flags;

	if (!vp)
		return;
	vbus_detach(part, vp); /* its guest reaches their BARs no more */
	for (u32 i = 0; i < vp->count; i++) {
		struct vfio_dev *v = &vp->dev[i];

		vfio_master_off(v->f);
		if (v->attached)
			iommu_domain_detach(&vp->dom, v->u, v->f->dma_rid);
		if (vfio_reset(part, v->f, "on its way back to the pool")) {
			pr_err("partition '%s': pci " PCI_FMT " did not reset; Keel keeps it out "
			       "of use",
			       part->desc.h.name, PCI_ARGS(v->f->seg, v->f->bdf));
			WRITE_ONCE(vfio_quarantined[vfio_func_index(v->f)], true);
		}
		v->attached = false;
	}
	/* Every function is blocked again: the tables go, then the functions. */
	iommu_domain_destroy(&vp->dom);
	flags = spin_lock_irqsave(&vfio_lock);
	for (u32 i = 0; i < vp->count; i++)
		vfio_owners[vfio_func_index(vp->dev[i].f)] = NULL;
	spin_unlock_irqrestore(&vfio_lock, flags);
	part->vfio = NULL;
	pmm_free(hva_to_hpa(vp), ALIGN_UP(sizeof(*vp), PAGE_SIZE));
}

/*
 * Entry @i leaves @vp (its guest's bus is down): bus mastering off, its
 * requester ID detached unless an alias it shares stays (which then holds
 * the attachment), reset, ownership given up, the entries after it moved up.
 */
static void vfio_drop(struct partition *part, struct vfio_part *vp, u32 i)
{
	struct vfio_dev *v = &vp->dev[i];
	struct vfio_dev *sharer = vfio_sharer(vp, i, false);
	unsigned long flags;

	vfio_master_off(v->f);
	if (v->attached && sharer)
		sharer->attached = true; /* the one requester ID stays attached for it */
	else if (v->attached)
		iommu_domain_detach(&vp->dom, v->u, v->f->dma_rid);
	if (vfio_reset(part, v->f, "on its way back to the pool")) {
		pr_err("partition '%s': pci " PCI_FMT " did not reset; Keel keeps it out of use",
		       part->desc.h.name, PCI_ARGS(v->f->seg, v->f->bdf));
		WRITE_ONCE(vfio_quarantined[vfio_func_index(v->f)], true);
	}
	flags = spin_lock_irqsave(&vfio_lock);
	vfio_owners[vfio_func_index(v->f)] = NULL;
	spin_unlock_irqrestore(&vfio_lock, flags);
	memmove(&vp->dev[i], &vp->dev[i + 1], (vp->count - i - 1) * sizeof(vp->dev[0]));
	vp->count--;
	memset(&vp->dev[vp->count], 0, sizeof(vp->dev[0]));
}

/*
 * Whether entry @i may join @part, with the refusal as a warning: the
 * manager's call is refused, nothing is wrong with the partition or Keel.
 * Under vfio_lock when the function is taken right after.
 */
static int vfio_add_refusal(const struct partition *part, u32 i)
{
	const struct pdesc *d = &part->desc;
	const char *why = vfio_refusal(d, i, part);

	if (!why)
		return 0;
	pr_warn("partition '%s': pci " PCI_FMT " not assigned: %s", d->h.name,
		PCI_ARGS(KEEL_PCI_ADDR_SEG(d->device[i].backend),
			 KEEL_PCI_ADDR_BDF(d->device[i].backend)),
		why);
	return vfio_kind_refusal(vfio_func_of(&d->device[i])) ? -KEEL_ENODEV : -KEEL_EBUSY;
}

/* Take the one function of entry @i for @part (it holds others): 0 or the refusal's error. */
static int vfio_take_one(struct partition *part, struct vfio_part *vp, u32 i)
{
	unsigned long flags;
	int ret;

	if (vp->count >= KEEL_PD_MAX_PCI)
		return -KEEL_ENOSPC;
	flags = spin_lock_irqsave(&vfio_lock);
	ret = vfio_add_refusal(part, i);
	if (!ret) {
		struct vfio_dev *v = &vp->dev[vp->count++];

		v->f = vfio_func_of(&part->desc.device[i]);
		v->u = iommu_unit_for(v->f->seg, v->f->bdf);
		vfio_owners[vfio_func_index(v->f)] = part;
	}
	spin_unlock_irqrestore(&vfio_lock, flags);
	return ret;
}

int vfio_add(struct partition *part, u32 i)
{
	struct vfio_part *vp = part->vfio;
	int ret, again;

	if (!vp) {
		/* Its first: refused here with a warning, else built as CREATE would. */
		unsigned long flags = spin_lock_irqsave(&vfio_lock);

		ret = vfio_add_refusal(part, i);
		spin_unlock_irqrestore(&vfio_lock, flags);
		return ret ? ret : vfio_assign(part);
	}
	ret = vfio_take_one(part, vp, i);
	if (ret)
		return ret;
	vbus_detach(part, vp); /* laid out again below, with the new one */
	ret = vfio_attach_one(part, vp, vp->count - 1);
	if (ret)
		vfio_drop(part, vp, vp->count - 1);
	again = vbus_attach(part, vp);
	if (!ret && again) { /* e.g. its BARs do not fit the guest's window beside the others */
		ret = again;
		vbus_detach(part, vp);
		vfio_drop(part, vp, vp->count - 1);
		again = vbus_attach(part, vp);
	}
	if (again)
		pr_err("partition '%s': its PCI functions could not be laid out again (error %d)",
		       part->desc.h.name, again);
	return ret;
}

int vfio_remove(struct partition *part, const struct pci_func *f)
{
	struct vfio_part *vp = part->vfio;
	u32 i = 0;
	int ret;

	while (vp && i < vp->count && vp->dev[i].f != f)
		i++;
	if (!vp || i == vp->count)
		return -KEEL_ENOENT;
	if (vp->count == 1) {
		vfio_release(part); /* the last one: its domain goes too */
		return 0;
	}
	vbus_detach(part, vp);
	vfio_drop(part, vp, i);
	ret = vbus_attach(part, vp);
	if (ret)
		pr_err("partition '%s': its PCI functions could not be laid out again (error %d)",
		       part->desc.h.name, ret);
	return 0;
}

int vfio_dma_map(struct partition *part, gpa_t gpa, hpa_t hpa, u64 size)
{
	return part->vfio ? iommu_domain_map(&part->vfio->dom, gpa, hpa, size) : 0;
}

void vfio_dma_unmap(struct partition *part, gpa_t gpa, u64 size)
{
	if (part->vfio)
		iommu_domain_unmap(&part->vfio->dom, gpa, size);
}

/* Read without vfio_lock: a snapshot, as PCI_LIST reports it. */
const struct partition *vfio_owner(const struct pci_func *f)
{
	return f ? READ_ONCE(vfio_owners[vfio_func_index(f)]) : NULL;
}

const char *vfio_owner_name(const struct pci_func *f)
{
	const struct partition *p = f ? vfio_owners[vfio_func_index(f)] : NULL;

	return p ? p->desc.h.name : NULL;
}
