/* SPDX-License-Identifier: MIT */
/*
 * A partition's emulated devices: registration with overlap checks, lookup
 * for MMIO/PIO exits, reset and teardown.
 */
#include <keel/abi.h>
#include <keel/guest_mem.h>
#include <keel/partition.h>
#include <keel/vdev.h>

struct vdev *vdev_find(const struct partition *part, u32 space, u64 addr, u64 len)
{
	u32 i;

	for (i = 0; i < part->vdev_count && i < KEEL_MAX_VDEVS; i++) {
		struct vdev *d = part->vdevs[i];

		if (d->space == space && range_within(addr, len, d->base, d->size))
			return d;
	}
	return NULL;
}

static bool vdev_overlaps(const struct partition *part, const struct vdev *dev)
{
	u32 i;

	for (i = 0; i < part->vdev_count; i++) {
		const struct vdev *d = part->vdevs[i];

		if (d->space == dev->space &&
		    ranges_overlap(d->base, d->size, dev->base, dev->size))
			return true;
	}
	return false;
}

static bool vdev_overlaps_ram(const struct partition *part, const struct vdev *dev)
{
	u32 i;

	for (i = 0; i < part->mem_count; i++)
		if (ranges_overlap(part->mem[i].gpa, part->mem[i].size, dev->base, dev->size))
			return true;
	return false;
}

int vdev_add(struct partition *part, struct vdev *dev)
{
	if (!dev->ops || !dev->ops->read || !dev->ops->write || dev->size == 0 ||
	    range_overflows(dev->base, dev->size) || dev->space > VDEV_PIO)
		return -KEEL_EINVAL;
	if (dev->space == VDEV_PIO && (dev->base > 0xffff || dev->size > 0x10000 - dev->base))
		return -KEEL_EINVAL;
	if (vdev_overlaps(part, dev) || (dev->space == VDEV_MMIO && vdev_overlaps_ram(part, dev)))
		return -KEEL_EEXIST;
	if (part->vdev_count == KEEL_MAX_VDEVS)
		return -KEEL_ENOSPC;
	dev->part = part;
	part->vdevs[part->vdev_count++] = dev;
	return 0;
}

int vdev_save(struct vdev *dev, void *buf, u32 len)
{
	return dev->ops->save ? dev->ops->save(dev, buf, len) : -KEEL_ENOSYS;
}

int vdev_restore(struct vdev *dev, const void *buf, u32 len)
{
	return dev->ops->restore ? dev->ops->restore(dev, buf, len) : -KEEL_ENOSYS;
}

void vdev_reset_all(struct partition *part)
{
	u32 i;

	for (i = 0; i < part->vdev_count; i++)
		if (part->vdevs[i]->ops->reset)
			part->vdevs[i]->ops->reset(part->vdevs[i]);
}

void vdev_destroy_all(struct partition *part)
{
	u32 n = part->vdev_count;

	unsigned long flags = spin_lock_irqsave(&part->con_in_lock);

	/* No more console input into devices about to go. */
	part->con_input = NULL;
	spin_unlock_irqrestore(&part->con_in_lock, flags);
	/* Last added first: a device may refer to one added before it. */
	part->vdev_count = 0;
	while (n--) {
		struct vdev *d = part->vdevs[n];

		part->vdevs[n] = NULL;
		if (d->ops->destroy)
			d->ops->destroy(d);
	}
}
