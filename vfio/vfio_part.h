/* SPDX-License-Identifier: MIT */
/* What vfio/ keeps per partition (assign.c, vbus.c); private to vfio/. */
#ifndef KEEL_VFIO_PART_H
#define KEEL_VFIO_PART_H

#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/iommu.h>
#include <keel/spinlock.h>
#include <keel/vconfig.h>

/* One MSI-X entry of a function as the device has it (vfio/msix.c). */
struct vfio_msix_vec {
	bool routed; /* the device's entry holds a remapped message for the guest's */
	u32 irte;
	u64 addr; /* the guest's message it delivers */
	u32 data;
	struct arch_msi_target to;
};

/* One function a partition holds. */
struct vfio_dev {
	const struct pci_func *f;
	struct iommu_unit *u;
	bool attached;
	bool on_bus; /* its guest sees it (vbus.c), config in vc */
	u16 vbdf; /* its address on the guest's bus */
	u32 mapped; /* BARs mapped in stage 2 now, bit per slot */
	gpa_t mapped_gpa[VCONFIG_BARS]; /* ... and where */
	bool msi_on; /* the device's MSI is enabled, remapped to msi_irte and msi_to */
	bool msi_warned; /* a refused MSI was logged (once per function: the guest chooses) */
	u32 msi_irte;
	struct arch_msi_target msi_to;
	bool msix_on; /* the device's MSI-X is enabled (vfio/msix.c) */
	bool msix_warned; /* a refused MSI-X entry was logged (once per function) */
	struct vfio_msix_vec msix[VCONFIG_MSIX_MAX];
	/* INTx (intx.c), under its lock */
	struct partition *intx_owner; /* set while its guest may get INTx from it */
	u16 intx_cmd; /* the command register as vconfig last wrote it */
	u8 intx_pin; /* Interrupt Pin as its guest sees it (1-4; 0: none) */
	bool intx_masked; /* held off at the device until its guest's EOI */
	bool intx_seen; /* its INTx arrived once (on intx_line) */
	u32 intx_line; /* the host line it arrived on */
	u32 intx_virq; /* its guest's line */
	struct vconfig vc;
};

struct vfio_part {
	struct iommu_domain dom;
	u32 count;
	u32 pad;
	struct spinlock bus_lock; /* guest config accesses, one at a time */
	struct vfio_dev dev[KEEL_PD_MAX_PCI];
};

struct partition;
/* The guest's bus (vbus.c): show @vp's functions, and take them away again. */
int vbus_attach(struct partition *part, struct vfio_part *vp);
void vbus_detach(struct partition *part, struct vfio_part *vp);

/*
 * MSI-X (msix.c), under the bus lock. apply: the device follows the guest's
 * table after a change (@ev from vconfig). off: every entry unrouted and
 * MSI-X off on the device (a reset, the guest's bus going away).
 * page_access: a guest access at @off of BAR @bar inside the pages of the
 * table or PBA (trapped): the table's model, the device's pending bits, or
 * the device's other registers in those pages; false for one to refuse.
 */
void vfio_msix_apply(struct partition *part, struct vfio_dev *d, const struct vconfig_events *ev);
void vfio_msix_off(struct vfio_dev *d);
bool vfio_msix_page_access(struct partition *part, struct vfio_dev *d, u32 bar, u64 off, u32 size,
			   bool write, u64 *val);

/*
 * INTx (intx.c). offered: whether Keel listens on the host's PCI lines (asked
 * of the arch once). cfg_ops: what vconfig writes a function's config
 * through, ctx the vfio_dev: its command register then keeps INTx held off
 * while a delivery waits for the guest's EOI. attach: after vconfig_init,
 * the function's INTx (if its guest sees a pin) raises @part's line @virq;
 * -KEEL_ENOSPC if Keel tracks too many. detach: no more, its line lowered.
 */
bool vfio_intx_offered(void);
extern const struct pci_cfg_ops vfio_intx_cfg_ops;
int vfio_intx_attach(struct partition *part, struct vfio_dev *d, u32 virq);
void vfio_intx_detach(struct vfio_dev *d);

#endif /* KEEL_VFIO_PART_H */
