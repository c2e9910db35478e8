/* SPDX-License-Identifier: MIT */
/*
 * Shared by the virtio unit tests: a fake partition whose RAM is a host
 * buffer, host shims for the arch hooks, and a tiny virtio-mmio "driver".
 */
#ifndef KEEL_TEST_VIRTIO_H
#define KEEL_TEST_VIRTIO_H

#include <stdlib.h>
#include <string.h>

#include <keel/arch.h>
#include <keel/guest_mem.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/vdev.h>
#include <keel/virtio.h>

#include "unit.h"
#include "virtio.h"

#define RAM_BASE 0x40000000ull
#define RAM_SIZE (4ull << 20)
#define POOL_SIZE (4ull << 20)

/* Guest-physical layout the tests use. */
#define Q_DESC (RAM_BASE + 0x10000)
#define Q_AVAIL (RAM_BASE + 0x11000)
#define Q_USED (RAM_BASE + 0x12000)
#define Q_DESC2 (RAM_BASE + 0x20000)
#define Q_AVAIL2 (RAM_BASE + 0x21000)
#define Q_USED2 (RAM_BASE + 0x22000)
#define BUF (RAM_BASE + 0x100000)

/* Transport registers, as a driver knows them. */
#define R_MAGIC 0x000
#define R_VERSION 0x004
#define R_DEVICE_ID 0x008
#define R_VENDOR_ID 0x00c
#define R_DEV_FEATURES 0x010
#define R_DEV_FEATURES_SEL 0x014
#define R_DRV_FEATURES 0x020
#define R_DRV_FEATURES_SEL 0x024
#define R_QUEUE_SEL 0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM 0x038
#define R_QUEUE_READY 0x044
#define R_QUEUE_NOTIFY 0x050
#define R_INT_STATUS 0x060
#define R_INT_ACK 0x064
#define R_STATUS 0x070
#define R_QUEUE_DESC_LO 0x080
#define R_QUEUE_DESC_HI 0x084
#define R_QUEUE_DRIVER_LO 0x090
#define R_QUEUE_DRIVER_HI 0x094
#define R_QUEUE_DEVICE_LO 0x0a0
#define R_QUEUE_DEVICE_HI 0x0a4
#define R_CONFIG_GEN 0x0fc
#define R_CONFIG 0x100

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

static struct partition part;
static u8 *ram, *pool, *snap;
static u64 pool_free;
static bool irq_level[256];
static char con_out[1 << 16];
static size_t con_len;

void arch_irq_set_level(struct partition *p, u32 irq, bool level)
{
	if (irq < 256)
		irq_level[irq] = level;
}

void arch_irq_line_describe(struct partition *p, u32 irq, char *buf, u32 len)
{
	snprintf(buf, len, "line %u %s", irq, irq < 256 && irq_level[irq] ? "high" : "low");
}

/* Hot-pluggable memory (core/hotmem.c): one CPU, a stage 2 that only counts. */
struct pcpu pcpus[KEEL_MAX_CPUS];
struct platform platform;
static u64 s2_mapped; /* bytes arch_s2_map mapped and arch_s2_unmap has not removed */

int arch_s2_map(struct partition *p, gpa_t gpa, hpa_t hpa, u64 size, u32 attrs)
{
	s2_mapped += size;
	return 0;
}

void arch_s2_unmap(struct partition *p, gpa_t gpa, u64 size)
{
	CHECK(size <= s2_mapped);
	s2_mapped -= size;
}

u64 arch_time_ns(void)
{
	static u64 now;

	return now += 1000;
}

void arch_entropy(void *buf, size_t len)
{
	static u8 seed;
	size_t i;

	for (i = 0; i < len; i++)
		((u8 *)buf)[i] = (u8)(seed++ * 37 + 11);
}

void console_part_write(struct partition *p, const char *buf, size_t len)
{
	if (con_len + len > sizeof(con_out))
		len = sizeof(con_out) - con_len;
	memcpy(con_out + con_len, buf, len);
	con_len += len;
}

/* KEEL_HC_MGMT_WATCH's events (core/mgmt_watch.c): only counted here. */
void mgmt_watch_event(struct partition *p)
{
	p->events++;
}

static __unused void tv_setup(void)
{
	memset(&part, 0, sizeof(part));
	if (!ram) {
		ram = aligned_alloc(PAGE_SIZE, RAM_SIZE);
		snap = malloc(RAM_SIZE);
		pool = aligned_alloc(PAGE_SIZE, POOL_SIZE);
	}
	memset(ram, 0, RAM_SIZE);
	part.id = 2;
	strcpy(part.desc.h.name, "vm");
	pdesc_add_default_devices(&part.desc, KEEL_NO_BACKEND, 0); /* slots 0, 1, 2 */
	part.mem_count = 1;
	part.mem[0] = (struct mem_region){ RAM_BASE, (hpa_t)(uintptr_t)ram, RAM_SIZE };
	pmm_reset();
	pmm_add((hpa_t)(uintptr_t)pool, POOL_SIZE);
	CHECK_EQ(pmm_start(), 0);
	pool_free = pmm_free_bytes(); /* less the allocator's own page */
	memset(irq_level, 0, sizeof(irq_level));
	con_len = 0;
	platform.cpu_count = 1;
	unit_this_pcpu = &pcpus[0];
	s2_mapped = 0;
}

/* The devices of a partition with @disk (image 0): console, entropy, the disk (2), control (3). */
static __unused void tv_devices_with_disk(const struct keel_boot_module *disk, u32 flags)
{
	memset(&part.desc, 0, sizeof(part.desc));
	strcpy(part.desc.h.name, "vm");
	part.images[pdesc_add_image(&part.desc, KEEL_PD_IMAGE_DATA, 0, 0)] = disk;
	pdesc_add_default_devices(&part.desc, 0, flags);
}

static __unused void tv_teardown(void)
{
	vdev_destroy_all(&part);
	CHECK_EQ(pmm_free_bytes(), pool_free);
}

static __unused void tv_free_all(void)
{
	free(ram);
	free(snap);
	free(pool);
}

static __unused u8 *hva(gpa_t gpa)
{
	return ram + (gpa - RAM_BASE);
}

static __unused void snapshot(void)
{
	memcpy(snap, ram, RAM_SIZE);
}

static __unused bool ram_unchanged(void)
{
	return memcmp(snap, ram, RAM_SIZE) == 0;
}

static __unused void put16(gpa_t gpa, u16 v)
{
	memcpy(hva(gpa), &v, 2);
}

static __unused u16 get16(gpa_t gpa)
{
	u16 v;

	memcpy(&v, hva(gpa), 2);
	return v;
}

static __unused u32 get32(gpa_t gpa)
{
	u32 v;

	memcpy(&v, hva(gpa), 4);
	return v;
}

static __unused void put_desc(gpa_t table, u32 i, u64 addr, u32 len, u16 flags, u16 next)
{
	u8 *d = hva(table + 16ull * i);

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

/* Driver side: publish @head in the avail ring of a @num-entry queue. */
static __unused void avail_add(gpa_t avail, u32 num, u16 head)
{
	u16 idx = get16(avail + 2);

	put16(avail + 4 + 2ull * (idx % num), head);
	put16(avail + 2, (u16)(idx + 1));
}

/* ---- The driver, through the device's register handlers ---- */

static __unused struct vdev *dev_at(u32 slot)
{
	return vdev_find(&part, VDEV_MMIO, KEEL_VIRTIO_MMIO_BASE + slot * KEEL_VIRTIO_MMIO_STRIDE,
			 4);
}

static __unused u64 rdn(struct vdev *d, u64 off, u32 size)
{
	u64 v = 0xdeadbeef;

	CHECK_EQ(d->ops->read(d, NULL, off, size, &v), 0);
	return v;
}

static __unused u32 rd(struct vdev *d, u64 off)
{
	return (u32)rdn(d, off, 4);
}

static __unused void wrn(struct vdev *d, u64 off, u32 size, u64 v)
{
	CHECK_EQ(d->ops->write(d, NULL, off, size, v), 0);
}

static __unused void wr(struct vdev *d, u64 off, u32 v)
{
	wrn(d, off, 4, v);
}

static __unused u64 dev_features(struct vdev *d)
{
	wr(d, R_DEV_FEATURES_SEL, 1);
	u64 hi = rd(d, R_DEV_FEATURES);
	wr(d, R_DEV_FEATURES_SEL, 0);
	return (hi << 32) | rd(d, R_DEV_FEATURES);
}

/* Reset, ACK, DRIVER, features, FEATURES_OK. true if FEATURES_OK stuck. */
static __unused bool drv_negotiate(struct vdev *d, u64 features)
{
	wr(d, R_STATUS, 0);
	wr(d, R_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(d, R_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(d, R_DRV_FEATURES_SEL, 0);
	wr(d, R_DRV_FEATURES, (u32)features);
	wr(d, R_DRV_FEATURES_SEL, 1);
	wr(d, R_DRV_FEATURES, (u32)(features >> 32));
	wr(d, R_STATUS, rd(d, R_STATUS) | VIRTIO_STATUS_FEATURES_OK);
	return rd(d, R_STATUS) & VIRTIO_STATUS_FEATURES_OK;
}

static __unused void drv_queue(struct vdev *d, u32 q, u32 num, gpa_t desc, gpa_t avail, gpa_t used)
{
	wr(d, R_QUEUE_SEL, q);
	wr(d, R_QUEUE_NUM, num);
	wr(d, R_QUEUE_DESC_LO, (u32)desc);
	wr(d, R_QUEUE_DESC_HI, (u32)(desc >> 32));
	wr(d, R_QUEUE_DRIVER_LO, (u32)avail);
	wr(d, R_QUEUE_DRIVER_HI, (u32)(avail >> 32));
	wr(d, R_QUEUE_DEVICE_LO, (u32)used);
	wr(d, R_QUEUE_DEVICE_HI, (u32)(used >> 32));
	wr(d, R_QUEUE_READY, 1);
}

static __unused void drv_ok(struct vdev *d)
{
	wr(d, R_STATUS, rd(d, R_STATUS) | VIRTIO_STATUS_DRIVER_OK);
}

/* A device at @slot negotiated (VERSION_1 + INDIRECT + @extra), queues 0 (and 1) set up, live. */
static __unused struct vdev *drv_bring_up(u32 slot, u32 queues, u64 extra)
{
	struct vdev *d = dev_at(slot);

	CHECK(d != NULL);
	CHECK(drv_negotiate(d, BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC) | extra));
	drv_queue(d, 0, 16, Q_DESC, Q_AVAIL, Q_USED);
	if (queues > 1)
		drv_queue(d, 1, 16, Q_DESC2, Q_AVAIL2, Q_USED2);
	drv_ok(d);
	CHECK_EQ(rd(d, R_STATUS), 0xf);
	return d;
}

static __unused bool needs_reset(struct vdev *d)
{
	return rd(d, R_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

#endif /* KEEL_TEST_VIRTIO_H */
