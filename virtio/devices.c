/* SPDX-License-Identifier: MIT */
/*
 * A partition's virtio-mmio devices, at fixed places: device n at
 * KEEL_VIRTIO_MMIO_BASE + n * KEEL_VIRTIO_MMIO_STRIDE, interrupt
 * KEEL_VIRTIO_IRQ_BASE + n. 0: console, 1: entropy, 2: block (if a disk),
 * 3: the control port (org.keel.control).
 */
#include <keel/abi.h>
#include <keel/partition.h>
#include <keel/virtio.h>

#include "virtio.h"

#define VIRTIO_SLOT_CONSOLE 0u
#define VIRTIO_SLOT_RNG 1u
#define VIRTIO_SLOT_BLK 2u
#define VIRTIO_SLOT_CONTROL 3u

_Static_assert(VIRTIO_SLOT_CONTROL < KEEL_VIRTIO_MAX, "virtio slots");

static u64 virtio_slot_base(u32 n)
{
	return KEEL_VIRTIO_MMIO_BASE + n * KEEL_VIRTIO_MMIO_STRIDE;
}

static int virtio_create_blk(struct partition *part)
{
	const struct keel_boot_module *m = part->disk;

	return vblk_create(part, virtio_slot_base(VIRTIO_SLOT_BLK),
			   KEEL_VIRTIO_IRQ_BASE + VIRTIO_SLOT_BLK, hpa_to_hva(m->base), m->size,
			   part->desc.disk_flags & KEEL_DISK_RO);
}

/*
 * On an error the devices already added stay in part->vdevs; the partition's
 * teardown (vdev_destroy_all) frees them.
 */
int virtio_create_devices(struct partition *part)
{
	int ret;

	ret = vcon_create(part, virtio_slot_base(VIRTIO_SLOT_CONSOLE),
			  KEEL_VIRTIO_IRQ_BASE + VIRTIO_SLOT_CONSOLE);
	if (ret)
		return ret;
	ret = vrng_create(part, virtio_slot_base(VIRTIO_SLOT_RNG),
			  KEEL_VIRTIO_IRQ_BASE + VIRTIO_SLOT_RNG);
	if (ret)
		return ret;
	if (part->disk) {
		ret = virtio_create_blk(part);
		if (ret)
			return ret;
	}
	return vctl_create(part, virtio_slot_base(VIRTIO_SLOT_CONTROL),
			   KEEL_VIRTIO_IRQ_BASE + VIRTIO_SLOT_CONTROL);
}
