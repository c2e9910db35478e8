/* SPDX-License-Identifier: MIT */
/* virtio-mmio registers and accessors shared by the test guests' drivers (virtio.c, vnet.c). */
#ifndef KEEL_GUEST_VIO_H
#define KEEL_GUEST_VIO_H

#include <stdbool.h>
#include <stdint.h>

#define VIO_MAGIC 0x000
#define VIO_VERSION 0x004
#define VIO_DEVICE_ID 0x008
#define VIO_DEV_FEATURES 0x010
#define VIO_DEV_FEATURES_SEL 0x014
#define VIO_DRV_FEATURES 0x020
#define VIO_DRV_FEATURES_SEL 0x024
#define VIO_QUEUE_SEL 0x030
#define VIO_QUEUE_NUM_MAX 0x034
#define VIO_QUEUE_NUM 0x038
#define VIO_QUEUE_READY 0x044
#define VIO_QUEUE_NOTIFY 0x050
#define VIO_STATUS 0x070
#define VIO_QUEUE_DESC 0x080
#define VIO_QUEUE_DRIVER 0x090
#define VIO_QUEUE_DEVICE 0x0a0
#define VIO_CONFIG 0x100
#define VIO_MAGIC_VALUE 0x74726976 /* "virt" */

/* A split virtqueue of VQ_SIZE entries, as the test guests' drivers lay it out. */
#define VQ_SIZE 8u
#define DESC_F_NEXT 1u
#define DESC_F_WRITE 2u

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vq {
	struct vq_desc desc[VQ_SIZE] __attribute__((aligned(4096)));
	struct {
		uint16_t flags, idx, ring[VQ_SIZE], used_event;
	} avail __attribute__((aligned(4096)));
	struct {
		uint16_t flags, idx;
		struct {
			uint32_t id, len;
		} ring[VQ_SIZE];
		uint16_t avail_event;
	} used __attribute__((aligned(4096)));
	uint16_t seen; /* used entries the driver consumed */
};

/* Queue @index of the device at @base on @q (cleared), ready; false if the device's is smaller. */
bool vio_queue_setup(uint64_t base, uint32_t index, struct vq *q);

/* Make chain @head available on queue @index (@q), notify, and wait a while for it to be used. */
bool vio_send_wait(uint64_t base, uint32_t index, struct vq *q, uint16_t head);

static inline uint32_t vio_read(uint64_t base, uint32_t off)
{
	return *(volatile uint32_t *)(uintptr_t)(base + off);
}

static inline void vio_write(uint64_t base, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(base + off) = v;
}

static inline void vio_write64(uint64_t base, uint32_t off, uint64_t v)
{
	vio_write(base, off, (uint32_t)v);
	vio_write(base, off + 4, (uint32_t)(v >> 32));
}

#endif /* KEEL_GUEST_VIO_H */
