/* SPDX-License-Identifier: MIT */
/* What core calls of the virtio layer (virtio/): creating a partition's devices. */
#ifndef KEEL_VIRTIO_H
#define KEEL_VIRTIO_H

#include <keel/types.h>

struct partition;

/*
 * Create @part's virtio-mmio devices, those its description lists, with
 * vdev_add(): device n of the list at
 * KEEL_VIRTIO_MMIO_BASE + n * KEEL_VIRTIO_MMIO_STRIDE, interrupt
 * KEEL_VIRTIO_IRQ_BASE + n; a KEEL_DEV_PCI entry leaves slot n empty.
 * Returns 0 or -KEEL_E*.
 */
int virtio_create_devices(struct partition *part);

/*
 * RESIZE: ask @part's virtio-mem driver to bring its plugged memory to
 * @bytes (a KEEL_HOTMEM_BLOCK multiple, at most the region). Any CPU. 0, or
 * -KEEL_EINVAL (no such device, or a size it cannot have).
 */
int virtio_mem_resize(struct partition *part, u64 bytes);

/* What Keel may ask of a guest on its control port (docs/guest-control.md). */
enum virtio_ctl_request {
	VIRTIO_CTL_POWEROFF, /* the line "poweroff": keelctl stop */
	VIRTIO_CTL_CPUS, /* the line "cpus N": keelctl resize --cpus (N as it is when written) */
	VIRTIO_CTL_COUNT,
};

/*
 * Ask @part's guest for @request on its control port: at once if the guest
 * has the port open, else as soon as it opens it. Any CPU. False when @part
 * has no control port (its devices are gone or were never made).
 */
bool virtio_control_request(struct partition *part, u32 request);

/*
 * One info line per virtio device of @part, naming it and @why: status,
 * interrupt status, the line as the interrupt controller model has it, and
 * per queue what the driver posted, the device took and the device used.
 * For irqwatch_report(), with @part's state held: racy reads, no device lock.
 */
void virtio_report(struct partition *part, const char *why);

#endif /* KEEL_VIRTIO_H */
