/* SPDX-License-Identifier: MIT */
/* What vfio/ keeps per partition (assign.c, vbus.c); private to vfio/. */
#ifndef KEEL_VFIO_PART_H
#define KEEL_VFIO_PART_H

#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/iommu.h>
#include <keel/spinlock.h>
#include <keel/vconfig.h>

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

#endif /* KEEL_VFIO_PART_H */
