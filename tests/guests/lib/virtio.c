/* SPDX-License-Identifier: MIT */
/*
 * A minimal virtio-mmio console driver for the test guests: sets up the
 * transmit queue, sends lines, and sends malformed chains on purpose.
 */
#include "guest.h"
#include "vio.h"

#define VQ_SIZE 8u
#define VQ_TX 1u /* the console's transmitq */
#define DESC_F_NEXT 1u

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static struct vq_desc desc[VQ_SIZE] __attribute__((aligned(4096)));
static struct {
	uint16_t flags, idx, ring[VQ_SIZE], used_event;
} avail __attribute__((aligned(4096)));
static struct {
	uint16_t flags, idx;
	struct {
		uint32_t id, len;
	} ring[VQ_SIZE];
	uint16_t avail_event;
} used __attribute__((aligned(4096)));
static char txbuf[128];

uint32_t virtio_status(uint64_t base)
{
	return vio_read(base, VIO_STATUS);
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
	vio_write(base, VIO_QUEUE_SEL, VQ_TX);
	if (vio_read(base, VIO_QUEUE_NUM_MAX) < VQ_SIZE) {
		*why = "transmit queue too small";
		return false;
	}
	memset(desc, 0, sizeof(desc));
	memset(&avail, 0, sizeof(avail));
	memset(&used, 0, sizeof(used));
	vio_write(base, VIO_QUEUE_NUM, VQ_SIZE);
	vio_write64(base, VIO_QUEUE_DESC, (uintptr_t)desc);
	vio_write64(base, VIO_QUEUE_DRIVER, (uintptr_t)&avail);
	vio_write64(base, VIO_QUEUE_DEVICE, (uintptr_t)&used);
	vio_write(base, VIO_QUEUE_READY, 1);
	vio_write(base, VIO_STATUS, 1 | 2 | 8 | 4); /* DRIVER_OK */
	return true;
}

/* Publish the chain starting at descriptor @head (optionally claiming @extra more) and notify. */
static void vq_publish(uint64_t base, uint16_t head, uint16_t extra)
{
	avail.ring[avail.idx % VQ_SIZE] = head;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	avail.idx = (uint16_t)(avail.idx + 1 + extra);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vio_write(base, VIO_QUEUE_NOTIFY, VQ_TX);
}

/* Send @s through the transmitq; true once the device used the buffer. */
bool virtio_console_send(uint64_t base, const char *s)
{
	uint16_t before = used.idx;
	size_t n = strlen(s);
	int spin;

	if (n > sizeof(txbuf))
		n = sizeof(txbuf);
	memcpy(txbuf, s, n);
	desc[0] = (struct vq_desc){ (uintptr_t)txbuf, (uint32_t)n, 0, 0 };
	vq_publish(base, 0, 0);
	for (spin = 0; spin < 1000; spin++) {
		if (*(volatile uint16_t *)&used.idx != before)
			return true;
		delay(10);
	}
	return false;
}

/* Malformed input, by name: "loop", "outside" (buffer outside RAM), "jump" (avail idx). */
void virtio_console_send_bad(uint64_t base, const char *kind, uint64_t outside_gpa)
{
	desc[0] = (struct vq_desc){ (uintptr_t)txbuf, 1, 0, 0 };
	if (!strcmp(kind, "loop")) {
		desc[0] = (struct vq_desc){ (uintptr_t)txbuf, 1, DESC_F_NEXT, 1 };
		desc[1] = (struct vq_desc){ (uintptr_t)txbuf, 1, DESC_F_NEXT, 0 };
		vq_publish(base, 0, 0);
	} else if (!strcmp(kind, "outside")) {
		desc[0].addr = outside_gpa;
		vq_publish(base, 0, 0);
	} else {
		vq_publish(base, 0, 100);
	}
}
