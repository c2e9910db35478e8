/* SPDX-License-Identifier: MIT */
/*
 * MSI-X of a partition's PCI functions: the device's side of the table its
 * guest sees in the config model (vconfig). The guest's table is Keel's
 * model: the pages holding the table and the PBA are trapped (vbus.c) and
 * come here. The device's own table never holds the guest's messages: each
 * entry the guest has unmasked gets the address and data of an interrupt
 * remapping entry that sends it to a host vector, whose handler delivers
 * the guest's message (arch_msi_route), as for MSI. Every other entry stays
 * masked on the device, those beyond the VCONFIG_MSIX_MAX the model keeps
 * included. Keel writes the device's table through the mapping pci_init
 * made at boot (pci_func.msix_lo/hi): a function without one gets no MSI-X.
 *
 * A route stays while the guest masks and unmasks an entry with the same
 * message (Linux does that on every interrupt disable); a new message is
 * routed when its entry is next unmasked. Everything here runs under the
 * partition's bus lock.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/hmap.h>
#include <keel/iommu.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pci.h>
#include <keel/vconfig.h>

#include "vfio_part.h"

#define MSIX_CTRL 2u
#define MSIX_MASKALL 0x4000u
#define MSIX_ENABLE 0x8000u
#define MSIX_ENTRY 16u
#define MSIX_VEC_MASKED 1u

/* Where [@off, @off + @len) of BAR @bar of @d is in Keel's map, or NULL: pci_init did not map it. */
static volatile void *msix_host(const struct vfio_dev *d, u32 bar, u64 off, u32 len)
{
	hpa_t pa;

	if (bar >= VCONFIG_BARS || range_overflows(d->vc.bar[bar].hpa + off, len))
		return NULL;
	pa = d->vc.bar[bar].hpa + off;
	for (u32 k = 0; k < 2; k++)
		if (pa >= d->f->msix_lo[k] && pa + len <= d->f->msix_hi[k])
			return hpa_to_hva(pa);
	return NULL;
}

static volatile u32 *msix_entry_at(const struct vfio_dev *d, u32 i)
{
	return msix_host(d, d->vc.msix_table_bar, d->vc.msix_table_off + (u64)MSIX_ENTRY * i,
			 MSIX_ENTRY);
}

/* Entry @i's mask bit on the device; a mask is read back, so it holds before Keel goes on. */
static void msix_mask(const struct vfio_dev *d, u32 i, bool masked)
{
	volatile u32 *e = msix_entry_at(d, i);
	u32 ctrl;

	if (!e)
		return;
	ctrl = e[3];
	e[3] = masked ? ctrl | MSIX_VEC_MASKED : ctrl & ~MSIX_VEC_MASKED;
	if (masked)
		(void)e[3];
}

/* The device's enable and function mask. */
static void msix_ctrl_set(const struct vfio_dev *d, bool enable, bool maskall)
{
	u16 at = (u16)(d->vc.msix + MSIX_CTRL);
	u32 ctrl = pci_cfg_read(d->f->seg, d->f->bdf, at, 2);

	if (ctrl == 0xffff)
		return;
	ctrl &= ~(MSIX_ENABLE | MSIX_MASKALL);
	ctrl |= (enable ? MSIX_ENABLE : 0) | (maskall ? MSIX_MASKALL : 0);
	pci_cfg_write(d->f->seg, d->f->bdf, at, 2, ctrl);
}

static void msix_unroute(struct vfio_dev *d, u32 i)
{
	struct vfio_msix_vec *v = &d->msix[i];

	if (!v->routed)
		return;
	msix_mask(d, i, true);
	iommu_irq_free(d->u, d->f->dma_rid, v->irte);
	arch_msi_unroute(&v->to);
	v->routed = false;
}

/* Route the guest's message for entry @i and write the remapped one into the (masked) entry. */
static int msix_route(struct partition *part, struct vfio_dev *d, u32 i, u64 addr, u32 data)
{
	struct vfio_msix_vec *v = &d->msix[i];
	volatile u32 *e = msix_entry_at(d, i);
	struct iommu_msi m;
	int ret;

	if (!e)
		return -KEEL_ENODEV;
	ret = arch_msi_route(part, addr, data, &v->to);
	if (ret)
		return ret;
	ret = iommu_irq_alloc(d->u, d->f->dma_rid, v->to.apic_id, v->to.vector, &m, &v->irte);
	if (ret) {
		arch_msi_unroute(&v->to);
		return ret;
	}
	e[0] = (u32)m.addr;
	e[1] = (u32)(m.addr >> 32);
	e[2] = m.data;
	v->routed = true;
	v->addr = addr;
	v->data = data;
	return 0;
}

/* Entry @i of the device after the guest's changed: masked, or routed and unmasked. */
static void msix_sync(struct partition *part, struct vfio_dev *d, u32 i)
{
	const struct vconfig_msix_entry *e = vconfig_msix_entry(&d->vc, i);
	struct vfio_msix_vec *v = &d->msix[i];
	u64 addr;
	int ret;

	if (!e)
		return;
	addr = (u64)e->addr_hi << 32 | e->addr_lo;
	if (v->routed && (v->addr != addr || v->data != e->data))
		msix_unroute(d, i);
	if (e->ctrl & MSIX_VEC_MASKED) {
		msix_mask(d, i, true);
		return;
	}
	if (!v->routed) {
		ret = msix_route(part, d, i, addr, e->data);
		if (ret) {
			/* Said once per function: the guest could repeat it at will. */
			if (!d->msix_warned)
				pr_warn("partition '%s': pci " PCI_FMT
					": its MSI-X entry %u (address "
					"0x%llx, data 0x%x) is not delivered (error %d; said once)",
					part->desc.h.name, PCI_ARGS(d->f->seg, d->f->bdf), i,
					(unsigned long long)addr, e->data, ret);
			d->msix_warned = true;
			return;
		}
	}
	msix_mask(d, i, false);
}

/* The guest enabled MSI-X: every entry of the device masked, then the guest's unmasked ones routed. */
static void msix_start(struct partition *part, struct vfio_dev *d, bool maskall)
{
	if (!msix_entry_at(d, 0)) {
		if (!d->msix_warned)
			pr_warn("partition '%s': pci " PCI_FMT
				": its MSI-X table is not mapped for "
				"Keel (see the boot log); MSI-X stays off (said once)",
				part->desc.h.name, PCI_ARGS(d->f->seg, d->f->bdf));
		d->msix_warned = true;
		return;
	}
	for (u32 i = 0; i < d->vc.msix_entries; i++)
		msix_mask(d, i, true);
	msix_ctrl_set(d, true, true);
	d->msix_on = true;
	for (u32 i = 0; i < d->vc.msix_entries && i < VCONFIG_MSIX_MAX; i++)
		msix_sync(part, d, i);
	msix_ctrl_set(d, true, maskall);
}

void vfio_msix_off(struct vfio_dev *d)
{
	if (!d->msix_on)
		return;
	msix_ctrl_set(d, false, true);
	for (u32 i = 0; i < VCONFIG_MSIX_MAX; i++)
		msix_unroute(d, i);
	d->msix_on = false;
}

void vfio_msix_apply(struct partition *part, struct vfio_dev *d, const struct vconfig_events *ev)
{
	if (!d->vc.msix)
		return;
	if (ev->mask & VCONFIG_EV_MSIX_CTRL) {
		if (!ev->msix_enabled) {
			vfio_msix_off(d);
			return;
		}
		if (!d->msix_on) {
			msix_start(part, d, ev->msix_masked);
			return;
		}
		msix_ctrl_set(d, true, ev->msix_masked);
	}
	if (!(ev->mask & VCONFIG_EV_MSIX_ENTRY) || !d->msix_on)
		return;
	for (u32 i = 0; i < VCONFIG_MSIX_MAX; i++)
		if (ev->msix_changed & BIT(i))
			msix_sync(part, d, i);
}

static u64 msix_mmio_read(volatile void *p, u32 size)
{
	if (size == 1)
		return *(volatile u8 *)p;
	if (size == 2)
		return *(volatile u16 *)p;
	if (size == 4)
		return *(volatile u32 *)p;
	return *(volatile u64 *)p;
}

static void msix_mmio_write(volatile void *p, u32 size, u64 val)
{
	if (size == 1)
		*(volatile u8 *)p = (u8)val;
	else if (size == 2)
		*(volatile u16 *)p = (u16)val;
	else if (size == 4)
		*(volatile u32 *)p = (u32)val;
	else
		*(volatile u64 *)p = val;
}

bool vfio_msix_page_access(struct partition *part, struct vfio_dev *d, u32 bar, u64 off, u32 size,
			   bool write, u64 *val)
{
	const struct vconfig *vc = &d->vc;
	u64 tab = vc->msix_table_off, tab_end = tab + (u64)MSIX_ENTRY * vc->msix_entries;
	u64 pba = vc->msix_pba_off, pba_end = pba + 8ull * (((u64)vc->msix_entries + 63) / 64);
	volatile void *p;

	if (off % size)
		return false; /* Keel does not split an access the guest did not align */
	if (bar == vc->msix_table_bar && off < tab_end && off + size > tab) {
		struct vconfig_events ev;

		if (off < tab) /* across the table's start: dropped, as past its end */
			off = tab_end;
		if (!write) {
			*val = vconfig_msix_table_read(&d->vc, off - tab, size);
			return true;
		}
		vconfig_msix_table_write(&d->vc, off - tab, size, *val, &ev);
		vfio_msix_apply(part, d, &ev);
		return true;
	}
	p = msix_host(d, bar, off, size);
	if (bar == vc->msix_pba_bar && off < pba_end && off + size > pba) {
		if (!write) /* the device's pending bits; writes are dropped (read-only) */
			*val = p ? msix_mmio_read(p, size) : ~0ull;
		return true;
	}
	/* The rest of those pages: the device's own registers. */
	if (!p)
		return false;
	if (write)
		msix_mmio_write(p, size, *val);
	else
		*val = msix_mmio_read(p, size);
	return true;
}
