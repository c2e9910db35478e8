/* SPDX-License-Identifier: MIT */
/*
 * The PCI bus a partition's guest sees (keel/vfio.h): its host bridge at
 * 00:00.0 is the arch's; its functions sit at 00:01.0, 00:02.0, ... in the
 * order of its description. Keel is their firmware: each memory BAR is
 * placed in the guest's PCI window (KEEL_PCI_MMIO_BASE) and memory decode is
 * on when the guest starts; config space is the model of vfio/vconfig.c;
 * a BAR the guest decodes is mapped straight onto the device in stage 2,
 * uncached, less the pages of its MSI-X table and PBA: they stay trapped and
 * reach vfio/msix.c through vfio_bar_access(). MSI is here, MSI-X in
 * msix.c; INTx through intx.c.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pci.h>
#include <keel/pci_reset.h>
#include <keel/vconfig.h>
#include <keel/spinlock.h>
#include <keel/vfio.h>

#include "vfio_part.h"

#define PCI_BAR0 0x10u
#define PCI_COMMAND_MEMORY BIT(1)

static struct vfio_dev *vbus_dev(struct vfio_part *vp, u16 vbdf)
{
	for (u32 i = 0; i < vp->count; i++)
		if (vp->dev[i].on_bus && vp->dev[i].vbdf == vbdf)
			return &vp->dev[i];
	return NULL;
}

/* The pages of BAR @i that hold its MSI-X table or PBA: [*lo, *hi) within it, or empty. */
static void vbus_msix_pages(const struct vconfig *vc, u32 i, u64 *lo, u64 *hi)
{
	u64 a = ~0ull, b = 0;

	if (vc->msix && vc->msix_table_bar == i) {
		a = ALIGN_DOWN(vc->msix_table_off, PAGE_SIZE);
		b = ALIGN_UP(vc->msix_table_off + 16ull * vc->msix_entries, PAGE_SIZE);
	}
	if (vc->msix && vc->msix_pba_bar == i) {
		a = MIN(a, ALIGN_DOWN(vc->msix_pba_off, PAGE_SIZE));
		b = MAX(b, ALIGN_UP(vc->msix_pba_off + 8ull * (((u64)vc->msix_entries + 63) / 64),
				    PAGE_SIZE));
	}
	*lo = a == ~0ull ? 0 : a;
	*hi = a == ~0ull ? 0 : b;
}

static void vbus_unmap_bar(struct partition *part, struct vfio_dev *d, u32 i)
{
	if (!(d->mapped & BIT(i)))
		return;
	arch_s2_unmap(part, d->mapped_gpa[i], d->vc.bar[i].size);
	d->mapped &= ~(u32)BIT(i);
}

/* Map BAR @i where the guest put it, around its MSI-X pages. */
static int vbus_map_bar(struct partition *part, struct vfio_dev *d, u32 i)
{
	const struct vconfig_bar *b = &d->vc.bar[i];
	u64 lo, hi;
	int ret = 0;

	vbus_msix_pages(&d->vc, i, &lo, &hi);
	if (lo > 0)
		ret = arch_s2_map(part, b->gpa, b->hpa, MIN(lo, b->size),
				  S2_READ | S2_WRITE | S2_DEVICE);
	if (!ret && hi < b->size)
		ret = arch_s2_map(part, b->gpa + hi, b->hpa + hi, b->size - hi,
				  S2_READ | S2_WRITE | S2_DEVICE);
	if (ret) {
		arch_s2_unmap(part, b->gpa, b->size);
		return ret;
	}
	d->mapped |= BIT(i);
	d->mapped_gpa[i] = b->gpa;
	return 0;
}

/* Bring stage 2 in line with where the guest has the BARs and what it decodes. */
static void vbus_sync_bars(struct partition *part, struct vfio_dev *d)
{
	for (u32 i = 0; i < VCONFIG_BARS; i++) {
		const struct vconfig_bar *b = &d->vc.bar[i];
		bool live = b->type != VCONFIG_BAR_IO && vconfig_bar_live(&d->vc, i);

		if ((d->mapped & BIT(i)) && (!live || d->mapped_gpa[i] != b->gpa))
			vbus_unmap_bar(part, d, i);
		if (live && !(d->mapped & BIT(i)) && vbus_map_bar(part, d, i))
			pr_warn("partition '%s': pci " PCI_FMT ": BAR %u not mapped at 0x%llx",
				part->desc.h.name, PCI_ARGS(d->f->seg, d->f->bdf), i,
				(unsigned long long)b->gpa);
	}
}

/* The MSI capability's control word, and where its data register is, on the device. */
#define VBUS_MSI_CTRL 2u
#define VBUS_MSI_ENABLE 0x1u
#define VBUS_MSI_MME (7u << 4) /* multiple messages enabled: 0 = one */

static u16 vbus_msi_data_at(const struct vfio_dev *d)
{
	return (u16)(d->vc.msi + (d->vc.msi_64 ? 12 : 8));
}

/* The device's MSI off, its remapping entry cleared, its host vector freed. */
static void vbus_msi_off(struct vfio_dev *d)
{
	u16 at = d->vc.msi;
	u32 ctrl;

	if (!d->msi_on)
		return;
	ctrl = pci_cfg_read(d->f->seg, d->f->bdf, at + VBUS_MSI_CTRL, 2);
	if (ctrl != 0xffff)
		pci_cfg_write(d->f->seg, d->f->bdf, at + VBUS_MSI_CTRL, 2, ctrl & ~VBUS_MSI_ENABLE);
	iommu_irq_free(d->u, d->f->dma_rid, d->msi_irte);
	arch_msi_unroute(&d->msi_to);
	d->msi_on = false;
}

/*
 * The guest turned its MSI on (or changed it while on) or off. On: the
 * device gets the IOMMU's remapped address and data, never the guest's, so
 * whatever it writes can only reach the one entry, which sends it to a host
 * vector that delivers the guest's MSI (arch_msi_route). A masked or
 * undeliverable MSI stays off on the device.
 */
static void vbus_msi(struct partition *part, struct vfio_dev *d, const struct vconfig_events *ev)
{
	u16 at = d->vc.msi;
	struct iommu_msi m;
	int ret;
	u32 ctrl;

	vbus_msi_off(d);
	if (!at || !ev->msi_enabled || ev->msi_masked)
		return;
	ret = arch_msi_route(part, ev->msi_addr, ev->msi_data, &d->msi_to);
	if (!ret) {
		ret = iommu_irq_alloc(d->u, d->f->dma_rid, d->msi_to.apic_id, d->msi_to.vector, &m,
				      &d->msi_irte);
		if (ret)
			arch_msi_unroute(&d->msi_to);
	}
	if (ret) {
		/* Said once per function: the guest could repeat it at will. */
		if (!d->msi_warned)
			pr_warn("partition '%s': pci " PCI_FMT ": its MSI (address 0x%llx, data "
				"0x%x) is not delivered (error %d; said once)",
				part->desc.h.name, PCI_ARGS(d->f->seg, d->f->bdf),
				(unsigned long long)ev->msi_addr, ev->msi_data, ret);
		d->msi_warned = true;
		return;
	}
	pci_cfg_write(d->f->seg, d->f->bdf, at + 4, 4, (u32)m.addr);
	if (d->vc.msi_64)
		pci_cfg_write(d->f->seg, d->f->bdf, at + 8, 4, (u32)(m.addr >> 32));
	pci_cfg_write(d->f->seg, d->f->bdf, vbus_msi_data_at(d), 2, m.data);
	ctrl = pci_cfg_read(d->f->seg, d->f->bdf, at + VBUS_MSI_CTRL, 2);
	pci_cfg_write(d->f->seg, d->f->bdf, at + VBUS_MSI_CTRL, 2,
		      (ctrl & ~VBUS_MSI_MME) | VBUS_MSI_ENABLE);
	d->msi_on = true;
}

/* A function level reset the guest asked for: done properly, then its view is power-on. */
static void vbus_flr(struct partition *part, struct vfio_dev *d)
{
	struct pci_reset_result r;
	struct vconfig_events ev;

	/* The reset turns them off on the device; their entries and vectors go too. */
	vbus_msi_off(d);
	vfio_msix_off(d);
	if (pci_reset_function(&pci_host_ops, pci_host_ctx(d->f->seg), pci_func_at(0),
			       pci_func_count(), (u32)(d->f - pci_func_at(0)), &r))
		pr_warn("partition '%s': pci " PCI_FMT ": the reset its guest asked for failed",
			part->desc.h.name, PCI_ARGS(d->f->seg, d->f->bdf));
	vconfig_reset(&d->vc, &ev);
}

static void vbus_apply(struct partition *part, struct vfio_dev *d, const struct vconfig_events *ev)
{
	if (ev->mask & (VCONFIG_EV_FLR | VCONFIG_EV_D3_D0)) {
		if ((ev->mask & VCONFIG_EV_FLR) || !d->vc.pm_no_soft_reset)
			vbus_flr(part, d);
	}
	if (ev->mask & VCONFIG_EV_MSI)
		vbus_msi(part, d, ev);
	if (ev->mask & (VCONFIG_EV_MSIX_CTRL | VCONFIG_EV_MSIX_ENTRY))
		vfio_msix_apply(part, d, ev);
	vbus_sync_bars(part, d);
}

/* Keel as firmware: memory BARs placed in the window, largest first, decode on. */
static int vbus_place(struct partition *part, struct vfio_dev *d, gpa_t *next)
{
	struct vconfig_events ev;
	u32 order[VCONFIG_BARS], n = 0;

	for (u32 i = 0; i < VCONFIG_BARS; i++)
		if (d->vc.bar[i].type == VCONFIG_BAR_MEM32 ||
		    d->vc.bar[i].type == VCONFIG_BAR_MEM64)
			order[n++] = i;
	for (u32 a = 0; a < n; a++) /* by size, largest first: no gaps between alignments */
		for (u32 b = a + 1; b < n; b++)
			if (d->vc.bar[order[b]].size > d->vc.bar[order[a]].size) {
				u32 t = order[a];

				order[a] = order[b];
				order[b] = t;
			}
	for (u32 k = 0; k < n; k++) {
		const struct vconfig_bar *b = &d->vc.bar[order[k]];
		gpa_t at = ALIGN_UP(*next, MAX(b->size, PAGE_SIZE));

		if (at + b->size > KEEL_PCI_MMIO_BASE + KEEL_PCI_MMIO_SIZE) {
			pr_err("partition '%s': pci " PCI_FMT ": its BARs do not fit the guest's "
			       "PCI window",
			       part->desc.h.name, PCI_ARGS(d->f->seg, d->f->bdf));
			return -KEEL_ENOSPC;
		}
		vconfig_write(&d->vc, PCI_BAR0 + 4 * order[k], 4, (u32)at, &ev);
		if (b->type == VCONFIG_BAR_MEM64)
			vconfig_write(&d->vc, PCI_BAR0 + 4 * order[k] + 4, 4, (u32)(at >> 32), &ev);
		*next = at + b->size;
	}
	vconfig_write(&d->vc, PCI_COMMAND, 2, PCI_COMMAND_MEMORY, &ev);
	vbus_sync_bars(part, d);
	return 0;
}

int vbus_attach(struct partition *part, struct vfio_part *vp)
{
	gpa_t next = KEEL_PCI_MMIO_BASE;
	bool intx;

	if (pdesc_ram_size(&part->desc) + KEEL_GUEST_RAM_BASE > KEEL_PCI_MMIO_BASE &&
	    KEEL_GUEST_RAM_BASE < KEEL_PCI_MMIO_BASE) {
		pr_err("partition '%s': its RAM reaches the guest's PCI window at 0x%llx; no PCI "
		       "function can be shown to it",
		       part->desc.h.name, (unsigned long long)KEEL_PCI_MMIO_BASE);
		return -KEEL_ENOSPC;
	}
	vp->bus_lock = (struct spinlock)SPINLOCK_INIT;
	intx = vfio_intx_offered();
	for (u32 i = 0; i < vp->count; i++) {
		struct vfio_dev *d = &vp->dev[i];
		struct vconfig_setup s = {
			.ops = &vfio_intx_cfg_ops,
			.ctx = d,
			.seg = d->f->seg,
			.bdf = d->f->bdf,
			.mmio_base = KEEL_PCI_MMIO_BASE,
			.mmio_size = KEEL_PCI_MMIO_SIZE,
			.intx_line = intx ? KEEL_PCI_INTX_IRQ_BASE + i : VCONFIG_NO_INTX,
		};
		int ret = vconfig_init(&d->vc, &s);

		if (!ret)
			ret = vbus_place(part, d, &next);
		if (!ret && intx)
			ret = vfio_intx_attach(part, d, KEEL_PCI_INTX_IRQ_BASE + i);
		if (ret)
			return ret;
		d->vbdf = PCI_BDF(0, i + 1, 0);
		d->on_bus = true;
		pr_info("partition '%s': pci " PCI_FMT " is its 00:%02x.0", part->desc.h.name,
			PCI_ARGS(d->f->seg, d->f->bdf), i + 1);
	}
	return 0;
}

void vbus_detach(struct partition *part, struct vfio_part *vp)
{
	for (u32 i = 0; i < vp->count; i++) {
		struct vfio_dev *d = &vp->dev[i];

		vbus_msi_off(d);
		vfio_msix_off(d);
		vfio_intx_detach(d);
		for (u32 b = 0; b < VCONFIG_BARS; b++)
			vbus_unmap_bar(part, d, b);
		d->on_bus = false;
	}
}

bool vfio_cfg_read(struct partition *part, u16 vbdf, u16 off, u32 size, u32 *val)
{
	struct vfio_part *vp = part->vfio;
	struct vfio_dev *d;
	unsigned long flags;

	if (!vp)
		return false;
	flags = spin_lock_irqsave(&vp->bus_lock);
	d = vbus_dev(vp, vbdf);
	if (d)
		*val = vconfig_read(&d->vc, off, size);
	spin_unlock_irqrestore(&vp->bus_lock, flags);
	return d != NULL;
}

bool vfio_cfg_write(struct partition *part, u16 vbdf, u16 off, u32 size, u32 val)
{
	struct vfio_part *vp = part->vfio;
	struct vconfig_events ev;
	struct vfio_dev *d;
	unsigned long flags;

	if (!vp)
		return false;
	flags = spin_lock_irqsave(&vp->bus_lock);
	d = vbus_dev(vp, vbdf);
	if (d) {
		vconfig_write(&d->vc, off, size, val, &ev);
		vbus_apply(part, d, &ev);
	}
	spin_unlock_irqrestore(&vp->bus_lock, flags);
	return d != NULL;
}

bool vfio_bar_access(struct partition *part, gpa_t gpa, u32 size, bool write, u64 *val)
{
	struct vfio_part *vp = part->vfio;
	unsigned long flags;
	bool done = false;

	if (!vp || range_overflows(gpa, size))
		return false;
	flags = spin_lock_irqsave(&vp->bus_lock);
	for (u32 i = 0; i < vp->count; i++) {
		struct vfio_dev *d = &vp->dev[i];

		for (u32 b = 0; d->on_bus && b < VCONFIG_BARS; b++) {
			const struct vconfig_bar *bar = &d->vc.bar[b];
			u64 lo, hi, off = gpa - bar->gpa;

			/* Only a BAR mapped where the guest has it traps, and only in its MSI-X pages. */
			if (!(d->mapped & BIT(b)) || gpa < bar->gpa || off + size > bar->size)
				continue;
			vbus_msix_pages(&d->vc, b, &lo, &hi);
			if (off >= lo && off + size <= hi)
				done = vfio_msix_page_access(part, d, b, off, size, write, val);
			goto out;
		}
	}
out:
	spin_unlock_irqrestore(&vp->bus_lock, flags);
	return done;
}
