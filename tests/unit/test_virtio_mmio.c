/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the virtio-mmio transport (virtio/mmio.c) driven like a
 * driver would: identification, features, status machine, queue setup,
 * interrupts, DEVICE_NEEDS_RESET on malformed queues, odd accesses.
 */
#include "test_virtio.h"

#define CON 0u /* slot of the console: two queues, no features */
#define RNG 1u
#define CON_IRQ (KEEL_VIRTIO_IRQ_BASE + CON)

static void test_identify(void)
{
	struct vdev *c, *r;

	tv_setup();
	CHECK_EQ(virtio_create_devices(&part), 0);
	CHECK_EQ(part.vdev_count, 3); /* no disk: console, rng, control */
	c = dev_at(CON);
	r = dev_at(RNG);
	CHECK(c && r);
	CHECK_EQ(c->irq, CON_IRQ);
	CHECK_EQ(r->base, KEEL_VIRTIO_MMIO_BASE + KEEL_VIRTIO_MMIO_STRIDE);
	CHECK_EQ(rd(c, R_MAGIC), 0x74726976);
	CHECK_EQ(rd(c, R_VERSION), 2);
	CHECK_EQ(rd(c, R_DEVICE_ID), 3);
	CHECK_EQ(rd(r, R_DEVICE_ID), 4);
	CHECK_EQ(rd(c, R_VENDOR_ID), 0x4b45454c);
	CHECK_EQ(dev_features(c), BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC));
	wr(c, R_DEV_FEATURES_SEL, 7);
	CHECK_EQ(rd(c, R_DEV_FEATURES), 0);
	wr(c, R_QUEUE_SEL, 0);
	CHECK_EQ(rd(c, R_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
	wr(c, R_QUEUE_SEL, 1);
	CHECK_EQ(rd(c, R_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
	wr(c, R_QUEUE_SEL, 2);
	CHECK_EQ(rd(c, R_QUEUE_NUM_MAX), 0);
	wr(r, R_QUEUE_SEL, 1);
	CHECK_EQ(rd(r, R_QUEUE_NUM_MAX), 0);
	/* Console config space (12 bytes) reads 0; past it too. */
	CHECK_EQ(rdn(c, R_CONFIG, 4), 0);
	CHECK_EQ(rdn(c, R_CONFIG + 0x80, 8), 0);
	tv_teardown();
}

static void test_features_and_status(void)
{
	struct vdev *c;

	tv_setup();
	CHECK_EQ(virtio_create_devices(&part), 0);
	c = dev_at(CON);
	/* No legacy: FEATURES_OK needs VERSION_1. */
	CHECK(!drv_negotiate(c, 0));
	CHECK(!drv_negotiate(c, BIT(VIRTIO_F_INDIRECT_DESC)));
	/* Nothing that was not offered. */
	CHECK(!drv_negotiate(c, BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX)));
	CHECK(!drv_negotiate(c, BIT(VIRTIO_F_VERSION_1) | BIT(0)));
	/* DRIVER_OK without FEATURES_OK does not stick. */
	wr(c, R_STATUS, 0);
	wr(c, R_STATUS, 3);
	wr(c, R_STATUS, 7);
	CHECK_EQ(rd(c, R_STATUS), 3);
	CHECK(drv_negotiate(c, BIT(VIRTIO_F_VERSION_1)));
	/* Features are frozen once accepted. */
	wr(c, R_DRV_FEATURES_SEL, 0);
	wr(c, R_DRV_FEATURES, 0xffffffff);
	wr(c, R_STATUS, 0xf);
	CHECK_EQ(rd(c, R_STATUS), 0xf);
	/* The driver cannot set NEEDS_RESET or clear bits but by reset. */
	wr(c, R_STATUS, 0xf | VIRTIO_STATUS_NEEDS_RESET);
	CHECK_EQ(rd(c, R_STATUS), 0xf);
	wr(c, R_STATUS, 0x1);
	CHECK_EQ(rd(c, R_STATUS), 0xf);
	wr(c, R_STATUS, 0);
	CHECK_EQ(rd(c, R_STATUS), 0);
	tv_teardown();
}

static void test_odd_accesses(void)
{
	struct vdev *c;

	tv_setup();
	CHECK_EQ(virtio_create_devices(&part), 0);
	c = dev_at(CON);
	/* Registers: 32-bit aligned only; others read 0 and write nothing. */
	CHECK_EQ(rdn(c, R_MAGIC, 1), 0);
	CHECK_EQ(rdn(c, R_MAGIC, 2), 0);
	CHECK_EQ(rdn(c, R_MAGIC, 8), 0);
	CHECK_EQ(rdn(c, R_MAGIC + 2, 4), 0);
	wrn(c, R_STATUS, 1, 1);
	wrn(c, R_STATUS, 8, 1);
	wrn(c, R_STATUS + 1, 4, 1);
	CHECK_EQ(rd(c, R_STATUS), 0);
	/* Unknown registers and config writes are ignored. */
	CHECK_EQ(rd(c, 0x0ec), 0);
	wr(c, 0x0ec, 5);
	wrn(c, R_CONFIG, 4, 0x12345678);
	CHECK_EQ(rdn(c, R_CONFIG, 4), 0);
	/* Notify of queues that do not exist or are not ready. */
	wr(c, R_QUEUE_NOTIFY, 0);
	wr(c, R_QUEUE_NOTIFY, 99);
	CHECK(!needs_reset(c));
	tv_teardown();
}

static void test_queue_setup(void)
{
	struct vdev *c;
	u32 bad_num[] = {0, 3, 12, 512, 0xffffffff};
	u32 i;

	tv_setup();
	CHECK_EQ(virtio_create_devices(&part), 0);
	c = dev_at(CON);
	for (i = 0; i < ARRAY_SIZE(bad_num); i++) {
		CHECK(drv_negotiate(c, BIT(VIRTIO_F_VERSION_1)));
		drv_queue(c, 0, bad_num[i], Q_DESC, Q_AVAIL, Q_USED);
		CHECK_EQ(rd(c, R_QUEUE_READY), 0);
		CHECK(needs_reset(c));
	}
	/* Rings outside RAM, misaligned, across the top of the address space. */
	CHECK(drv_negotiate(c, BIT(VIRTIO_F_VERSION_1)));
	drv_queue(c, 0, 16, RAM_BASE + RAM_SIZE, Q_AVAIL, Q_USED);
	CHECK(needs_reset(c));
	CHECK(drv_negotiate(c, BIT(VIRTIO_F_VERSION_1)));
	drv_queue(c, 0, 16, Q_DESC, Q_AVAIL, Q_USED + 2);
	CHECK(needs_reset(c));
	CHECK(drv_negotiate(c, BIT(VIRTIO_F_VERSION_1)));
	drv_queue(c, 0, 16, Q_DESC, 0xfffffffffffffffeull, Q_USED);
	CHECK(needs_reset(c));
	/* NEEDS_RESET stays until reset, even through more status writes. */
	wr(c, R_STATUS, rd(c, R_STATUS) | VIRTIO_STATUS_DRIVER_OK);
	CHECK(needs_reset(c));
	/* A good queue; setup registers are ignored while it is ready. */
	CHECK(drv_negotiate(c, BIT(VIRTIO_F_VERSION_1)));
	CHECK(!needs_reset(c));
	drv_queue(c, 0, 16, Q_DESC, Q_AVAIL, Q_USED);
	CHECK_EQ(rd(c, R_QUEUE_READY), 1);
	wr(c, R_QUEUE_NUM, 3);
	wr(c, R_QUEUE_DESC_LO, 0);
	wr(c, R_QUEUE_SEL, 0);
	wr(c, R_QUEUE_READY, 1);
	CHECK(!needs_reset(c));
	CHECK_EQ(rd(c, R_QUEUE_READY), 1);
	tv_teardown();
}

/* A malformed chain while live: NEEDS_RESET, config interrupt, line level, nothing written. */
static void test_malformed_live(void)
{
	struct vdev *c;

	tv_setup();
	CHECK_EQ(virtio_create_devices(&part), 0);
	c = drv_bring_up(CON, 2, 0);
	put_desc(Q_DESC2, 0, BUF, 8, F_NEXT, 1);
	put_desc(Q_DESC2, 1, BUF, 8, F_NEXT, 0); /* loop */
	avail_add(Q_AVAIL2, 16, 0);
	snapshot();
	wr(c, R_QUEUE_NOTIFY, 1);
	CHECK(ram_unchanged());
	CHECK(needs_reset(c));
	CHECK_EQ(rd(c, R_INT_STATUS), VIRTIO_INT_CONFIG);
	CHECK(irq_level[CON_IRQ]);
	CHECK_EQ(con_len, 0);
	/* Further notifies do nothing. */
	put_desc(Q_DESC2, 1, BUF, 8, 0, 0);
	snapshot();
	wr(c, R_QUEUE_NOTIFY, 1);
	CHECK(ram_unchanged());
	CHECK_EQ(con_len, 0);
	wr(c, R_INT_ACK, VIRTIO_INT_CONFIG);
	CHECK(!irq_level[CON_IRQ]);
	CHECK(needs_reset(c));
	/* Reset and bring it up again: it works. */
	memset(ram, 0, RAM_SIZE);
	c = drv_bring_up(CON, 2, 0);
	memcpy(hva(BUF), "hi\n", 3);
	put_desc(Q_DESC2, 0, BUF, 3, 0, 0);
	avail_add(Q_AVAIL2, 16, 0);
	wr(c, R_QUEUE_NOTIFY, 1);
	CHECK_EQ(con_len, 3);
	CHECK_EQ(get16(Q_USED2 + 2), 1);
	CHECK_EQ(rd(c, R_INT_STATUS), VIRTIO_INT_USED);
	CHECK(irq_level[CON_IRQ]);
	wr(c, R_INT_ACK, VIRTIO_INT_USED);
	CHECK(!irq_level[CON_IRQ]);
	/* The driver may ask for no used-buffer interrupt. */
	put16(Q_AVAIL2, 1);
	avail_add(Q_AVAIL2, 16, 0);
	wr(c, R_QUEUE_NOTIFY, 1);
	CHECK_EQ(get16(Q_USED2 + 2), 2);
	CHECK_EQ(rd(c, R_INT_STATUS), 0);
	/* The other device of the partition was never touched. */
	CHECK_EQ(rd(dev_at(RNG), R_STATUS), 0);
	/* vdev reset (partition restart) brings the line down and forgets all. */
	wr(c, R_STATUS, rd(c, R_STATUS) | VIRTIO_STATUS_FAILED);
	vdev_reset_all(&part);
	CHECK_EQ(rd(c, R_STATUS), 0);
	CHECK_EQ(rd(c, R_QUEUE_READY), 0);
	tv_teardown();
}

/* A malformed queue before DRIVER_OK: status bit only, no interrupt yet. */
static void test_malformed_before_ok(void)
{
	struct vdev *c;

	tv_setup();
	CHECK_EQ(virtio_create_devices(&part), 0);
	c = dev_at(CON);
	CHECK(drv_negotiate(c, BIT(VIRTIO_F_VERSION_1)));
	drv_queue(c, 0, 16, RAM_BASE - 0x10000, Q_AVAIL, Q_USED);
	CHECK(needs_reset(c));
	CHECK_EQ(rd(c, R_INT_STATUS), 0);
	CHECK(!irq_level[CON_IRQ]);
	tv_teardown();
}

int main(void)
{
	test_identify();
	test_features_and_status();
	test_odd_accesses();
	test_queue_setup();
	test_malformed_live();
	test_malformed_before_ok();
	tv_free_all();
	return unit_done("test_virtio_mmio");
}
