/* SPDX-License-Identifier: MIT */
/*
 * A minimal virtio-mmio console driver for the test guests: sets up the
 * transmit queue, sends lines, and sends malformed chains on purpose.
 */
#include "guest.h"
#include "vio.h"

#define VQ_TX 1u /* the console's transmitq */

static struct vq cq; /* the console's transmitq */
static char txbuf[128];

uint32_t virtio_status(uint64_t base)
{
	return vio_read(base, VIO_STATUS);
}

bool vio_queue_setup(uint64_t base, uint32_t index, struct vq *q)
{
	vio_write(base, VIO_QUEUE_SEL, index);
	if (vio_read(base, VIO_QUEUE_NUM_MAX) < VQ_SIZE)
		return false;
	memset(q, 0, sizeof(*q));
	vio_write(base, VIO_QUEUE_NUM, VQ_SIZE);
	vio_write64(base, VIO_QUEUE_DESC, (uintptr_t)q->desc);
	vio_write64(base, VIO_QUEUE_DRIVER, (uintptr_t)&q->avail);
	vio_write64(base, VIO_QUEUE_DEVICE, (uintptr_t)&q->used);
	vio_write(base, VIO_QUEUE_READY, 1);
	return true;
}

bool vio_send_wait(uint64_t base, uint32_t index, struct vq *q, uint16_t head)
{
	uint16_t before = *(volatile uint16_t *)&q->used.idx;

	q->avail.ring[q->avail.idx % VQ_SIZE] = head;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	q->avail.idx++;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vio_write(base, VIO_QUEUE_NOTIFY, index);
	for (int spin = 0; spin < 1000; spin++) {
		if (*(volatile uint16_t *)&q->used.idx != before)
			return true;
		delay(10);
	}
	return false;
}

bool virtio_negotiate(uint64_t base, uint32_t want, const char **why)
{
	vio_write(base, VIO_STATUS, 0);
	vio_write(base, VIO_STATUS, 1 | 2); /* ACKNOWLEDGE | DRIVER */
	vio_write(base, VIO_DEV_FEATURES_SEL, 1);
	if (!(vio_read(base, VIO_DEV_FEATURES) & 1)) {
		*why = "device does not offer VIRTIO_F_VERSION_1";
		return false;
	}
	vio_write(base, VIO_DEV_FEATURES_SEL, 0);
	if ((vio_read(base, VIO_DEV_FEATURES) & want) != want) {
		*why = "device does not offer the features wanted";
		return false;
	}
	vio_write(base, VIO_DRV_FEATURES_SEL, 1);
	vio_write(base, VIO_DRV_FEATURES, 1); /* VERSION_1 (bit 32) */
	vio_write(base, VIO_DRV_FEATURES_SEL, 0);
	vio_write(base, VIO_DRV_FEATURES, want);
	vio_write(base, VIO_STATUS, 1 | 2 | 8); /* FEATURES_OK */
	if (!(vio_read(base, VIO_STATUS) & 8)) {
		*why = "FEATURES_OK refused";
		return false;
	}
	return true;
}

/* Reset the device and bring the console's transmitq up. Returns false with a reason. */
bool virtio_console_init(uint64_t base, const char **why)
{
	arch_map_gpa(base);
	if (vio_read(base, VIO_MAGIC) != VIO_MAGIC_VALUE || vio_read(base, VIO_VERSION) != 2 ||
	    vio_read(base, VIO_DEVICE_ID) != 3) {
		*why = "no virtio-mmio v2 console there";
		return false;
	}
	if (!virtio_negotiate(base, 0, why))
		return false;
	if (!vio_queue_setup(base, VQ_TX, &cq)) {
		*why = "transmit queue too small";
		return false;
	}
	vio_write(base, VIO_STATUS, 1 | 2 | 8 | 4); /* DRIVER_OK */
	return true;
}

/* Publish the chain starting at descriptor @head (optionally claiming @extra more) and notify. */
static void vq_publish(uint64_t base, uint16_t head, uint16_t extra)
{
	cq.avail.ring[cq.avail.idx % VQ_SIZE] = head;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	cq.avail.idx = (uint16_t)(cq.avail.idx + 1 + extra);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vio_write(base, VIO_QUEUE_NOTIFY, VQ_TX);
}

/* Send @s through the transmitq; true once the device used the buffer. */
bool virtio_console_send(uint64_t base, const char *s)
{
	uint16_t before = cq.used.idx;
	size_t n = strlen(s);
	int spin;

	if (n > sizeof(txbuf))
		n = sizeof(txbuf);
	memcpy(txbuf, s, n);
	cq.desc[0] = (struct vq_desc){ (uintptr_t)txbuf, (uint32_t)n, 0, 0 };
	vq_publish(base, 0, 0);
	for (spin = 0; spin < 1000; spin++) {
		if (*(volatile uint16_t *)&cq.used.idx != before)
			return true;
		delay(10);
	}
	return false;
}

/* Malformed input, by name: "loop", "outside" (buffer outside RAM), "jump" (avail idx). */
void virtio_console_send_bad(uint64_t base, const char *kind, uint64_t outside_gpa)
{
	cq.desc[0] = (struct vq_desc){ (uintptr_t)txbuf, 1, 0, 0 };
	if (!strcmp(kind, "loop")) {
		cq.desc[0] = (struct vq_desc){ (uintptr_t)txbuf, 1, DESC_F_NEXT, 1 };
		cq.desc[1] = (struct vq_desc){ (uintptr_t)txbuf, 1, DESC_F_NEXT, 0 };
		vq_publish(base, 0, 0);
	} else if (!strcmp(kind, "outside")) {
		cq.desc[0].addr = outside_gpa;
		vq_publish(base, 0, 0);
	} else {
		vq_publish(base, 0, 100);
	}
}
