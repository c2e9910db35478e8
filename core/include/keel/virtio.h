/* SPDX-License-Identifier: MIT */
/* What core calls of the virtio layer (virtio/): creating a partition's devices. */
#ifndef KEEL_VIRTIO_H
#define KEEL_VIRTIO_H

struct partition;

/*
 * Create @part's virtio-mmio devices (console and entropy always, block when
 * its description names a disk) with vdev_add(), device n at
 * KEEL_VIRTIO_MMIO_BASE + n * KEEL_VIRTIO_MMIO_STRIDE, interrupt
 * KEEL_VIRTIO_IRQ_BASE + n. Returns 0 or -KEEL_E*.
 */
int virtio_create_devices(struct partition *part);

#endif /* KEEL_VIRTIO_H */
