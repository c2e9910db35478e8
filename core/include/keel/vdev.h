/* SPDX-License-Identifier: MIT */
/*
 * Emulated devices of a partition: a window in guest-physical (MMIO) or port
 * (x86 PIO) space with read/write handlers. Core finds the device for each
 * MMIO/PIO exit; a device never knows which arch it runs on.
 */
#ifndef KEEL_VDEV_H
#define KEEL_VDEV_H

#include <keel/spinlock.h>
#include <keel/types.h>

struct partition;
struct vcpu;
struct vdev;

#define VDEV_MMIO 0u
#define VDEV_PIO 1u
#define VDEV_NO_IRQ 0xffffffffu
#define KEEL_MAX_VDEVS 32u

struct vdev_ops {
	/*
	 * Access of @size (1, 2, 4 or 8) bytes at @offset inside the window (the
	 * access lies wholly inside it). Return 0, or -KEEL_EINVAL to have the
	 * access refused (the partition is stopped with a report).
	 */
	int (*read)(struct vdev *dev, struct vcpu *vcpu, u64 offset, u32 size, u64 *value);
	int (*write)(struct vdev *dev, struct vcpu *vcpu, u64 offset, u32 size, u64 value);
	/* Back to power-on state (the partition restarts). Optional. */
	void (*reset)(struct vdev *dev);
	/* Free what the device allocated (the partition is torn down). Optional. */
	void (*destroy)(struct vdev *dev);
	/*
	 * Snapshots (optional; both or neither). save writes the device's state,
	 * all a driver or Keel changed since reset, to @buf (@len bytes of room)
	 * and returns the bytes used, or -KEEL_E2BIG. restore takes such a blob
	 * from anywhere (a snapshot file is untrusted): each field is checked as
	 * if a driver had written it. It returns 0, or -KEEL_EINVAL with the
	 * device reset. The partition is paused or not running.
	 */
	int (*save)(struct vdev *dev, void *buf, u32 len);
	int (*restore)(struct vdev *dev, const void *buf, u32 len);
};

struct vdev {
	const char *name; /* for reports: "virtio-blk", "ioapic"... */
	u32 space; /* VDEV_MMIO or VDEV_PIO */
	u32 irq; /* interrupt line (GSI on x86_64, SPI number on aarch64) or VDEV_NO_IRQ */
	u64 base; /* guest-physical address or port */
	u64 size; /* bytes or ports */
	const struct vdev_ops *ops;
	struct partition *part;
	struct spinlock lock; /* the device's own state; handlers take it */
	void *priv;
};

/*
 * Add @dev to @part. The window must not overlap RAM or another device of the
 * same space. Returns 0, -KEEL_EINVAL (bad window), -KEEL_EEXIST (overlap) or
 * -KEEL_ENOSPC (table full).
 */
int vdev_add(struct partition *part, struct vdev *dev);

/* The device whose window holds all of [addr, addr + len), or NULL. */
struct vdev *vdev_find(const struct partition *part, u32 space, u64 addr, u64 len);

/* @dev's save/restore, or -KEEL_ENOSYS for a device that has none. */
int vdev_save(struct vdev *dev, void *buf, u32 len);
int vdev_restore(struct vdev *dev, const void *buf, u32 len);

/* Reset / destroy every device of @part (restart / teardown). */
void vdev_reset_all(struct partition *part);
void vdev_destroy_all(struct partition *part);

#endif /* KEEL_VDEV_H */
