/* SPDX-License-Identifier: MIT */
/*
 * A partition's PCI bus on aarch64: the ECAM window (vfio/vecam.c) at
 * KEEL_PCI_ECAM_BASE, bus 0, with its host bridge at 00:00.0 and the
 * partition's functions after it (vfio/vbus.c). Every partition has the
 * window, as on x86; a Linux guest's device tree names it only when the
 * partition has PCI functions.
 */
#include <keel/arch.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pmm.h>
#include <keel/vdev.h>
#include <keel/vfio.h>

#include "vplat.h"

static void vpci_destroy(struct vdev *dev)
{
	pmm_free_page(dev);
}

static const struct vdev_ops vpci_ops = {
	.read = vfio_ecam_read,
	.write = vfio_ecam_write,
	.destroy = vpci_destroy,
};

int vpci_create(struct partition *part)
{
	struct vdev *dev = pmm_alloc_page();
	int ret;

	_Static_assert(sizeof(struct vdev) <= PAGE_SIZE, "a vdev fits a page");
	if (!dev)
		return -KEEL_ENOMEM;
	*dev = (struct vdev){ .name = "pci-ecam",
			      .space = VDEV_MMIO,
			      .irq = VDEV_NO_IRQ,
			      .base = KEEL_PCI_ECAM_BASE,
			      .size = KEEL_PCI_ECAM_SIZE,
			      .ops = &vpci_ops };
	ret = vdev_add(part, dev);
	if (ret)
		pmm_free_page(dev);
	return ret;
}
