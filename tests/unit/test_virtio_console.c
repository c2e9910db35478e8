/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of virtio-console (virtio/console.c): output to the partition
 * console, huge buffers capped, input buffered (bounded) until the guest
 * gives receive buffers.
 */
#include "test_virtio.h"

#define RXQ_DESC Q_DESC
#define RXQ_AVAIL Q_AVAIL
#define RXQ_USED Q_USED
#define TXQ_DESC Q_DESC2
#define TXQ_AVAIL Q_AVAIL2
#define TXQ_USED Q_USED2
#define IRQ KEEL_VIRTIO_IRQ_BASE

static void test_output(void)
{
	struct vdev *c;

	tv_setup();
	CHECK_EQ(virtio_create_devices(&part), 0);
	c = drv_bring_up(0, 2, 0);
	memcpy(hva(BUF), "hello ", 6);
	memcpy(hva(BUF + 0x100), "console\n", 8);
	put_desc(TXQ_DESC, 0, BUF, 6, F_NEXT, 1);
	put_desc(TXQ_DESC, 1, BUF + 0x100, 8, 0, 0);
	avail_add(TXQ_AVAIL, 16, 0);
	wr(c, R_QUEUE_NOTIFY, 1);
	CHECK_EQ(con_len, 14);
	CHECK(memcmp(con_out, "hello console\n", 14) == 0);
	CHECK_EQ(get16(TXQ_USED + 2), 1);
	CHECK_EQ(get32(TXQ_USED + 8), 0);
	CHECK(irq_level[IRQ]);
	/* A huge buffer: 3 MiB of it, only the first 4 KiB printed. */
	con_len = 0;
	put_desc(TXQ_DESC, 2, RAM_BASE, 3u << 20, 0, 0);
	avail_add(TXQ_AVAIL, 16, 2);
	wr(c, R_QUEUE_NOTIFY, 1);
	CHECK_EQ(con_len, KEEL_CONSOLE_WRITE_MAX);
	CHECK_EQ(get16(TXQ_USED + 2), 2);
	/* Many chains in one notify: all handled, bounded by the ring. */
	con_len = 0;
	put_desc(TXQ_DESC, 3, BUF, 1, 0, 0);
	for (int i = 0; i < 16; i++)
		avail_add(TXQ_AVAIL, 16, 3);
	wr(c, R_QUEUE_NOTIFY, 1);
	CHECK_EQ(con_len, 16);
	CHECK(!needs_reset(c));
	tv_teardown();
}

static void test_input(void)
{
	struct vdev *c;
	char big[5000];

	tv_setup();
	CHECK_EQ(virtio_create_devices(&part), 0);
	CHECK(part.con_input == virtio_console_input);
	/* Typed before the driver is up: held. */
	part.con_input(&part, "abc", 3);
	c = drv_bring_up(0, 2, 0);
	CHECK_EQ(get16(RXQ_USED + 2), 0);
	put_desc(RXQ_DESC, 0, BUF, 2, F_WRITE, 0);
	put_desc(RXQ_DESC, 1, BUF + 0x100, 64, F_WRITE, 0);
	avail_add(RXQ_AVAIL, 16, 0);
	CHECK_EQ(part.con_ready, 0);
	wr(c, R_QUEUE_NOTIFY, 0);
	/* Receive buffers posted: the partition now reads console input. */
	CHECK_EQ(part.con_ready, 1);
	/* 2 bytes fit the first buffer; the rest waits for the next one. */
	CHECK_EQ(get16(RXQ_USED + 2), 1);
	CHECK_EQ(get32(RXQ_USED + 8), 2);
	CHECK(memcmp(hva(BUF), "ab", 2) == 0);
	avail_add(RXQ_AVAIL, 16, 1);
	wr(c, R_QUEUE_NOTIFY, 0);
	CHECK_EQ(get16(RXQ_USED + 2), 2);
	CHECK_EQ(get32(RXQ_USED + 16), 1);
	CHECK_EQ(*hva(BUF + 0x100), 'c');
	/* A buffer posted with nothing waiting stays with the device. */
	avail_add(RXQ_AVAIL, 16, 1);
	wr(c, R_QUEUE_NOTIFY, 0);
	CHECK_EQ(get16(RXQ_USED + 2), 2);
	virtio_console_input(&part, "xyz\n", 4);
	CHECK_EQ(get16(RXQ_USED + 2), 3);
	CHECK(memcmp(hva(BUF + 0x100), "xyz\n", 4) == 0);
	/* A flood is bounded: 4 KiB kept, the rest dropped. */
	memset(big, 'q', sizeof(big));
	virtio_console_input(&part, big, sizeof(big));
	virtio_console_input(&part, big, sizeof(big));
	avail_add(RXQ_AVAIL, 16, 1);
	wr(c, R_QUEUE_NOTIFY, 0);
	CHECK_EQ(get32(RXQ_USED + 4 + 8 * 3 + 4), 64);
	/* Other partitions (no console there) and bad ids are ignored. */
	struct partition other = {.id = 9};
	virtio_console_input(&other, "zz", 2);
	other.id = 0;
	virtio_console_input(&other, "zz", 2);
	tv_teardown();
	/* After teardown input for it goes nowhere. */
	virtio_console_input(&part, "late", 4);
}

/*
 * A host PCI function first in the device list: it takes index 0 and no
 * window, and the console after it keeps its own slot (1) and interrupt.
 */
static void test_after_pci(void)
{
	struct vdev *c;

	tv_setup();
	memset(&part.desc, 0, sizeof(part.desc));
	strcpy(part.desc.h.name, "vm");
	pdesc_add_device(&part.desc, KEEL_DEV_PCI, KEEL_PCI_ADDR(0, 0, 3, 0), 0);
	pdesc_add_default_devices(&part.desc, KEEL_NO_BACKEND, 0); /* slots 1, 2, 3 */
	pdesc_add_device(&part.desc, KEEL_DEV_PCI, KEEL_PCI_ADDR(0, 0, 4, 0), 0);
	CHECK_EQ(virtio_create_devices(&part), 0);
	CHECK_EQ(part.vdev_count, 3);
	CHECK(dev_at(0) == NULL);
	CHECK(dev_at(4) == NULL);
	c = dev_at(1);
	CHECK(c != NULL);
	if (!c) {
		tv_teardown();
		return;
	}
	CHECK_EQ(c->irq, IRQ + 1);
	CHECK_EQ(rd(c, R_DEVICE_ID), 3); /* console */
	CHECK_EQ(rd(dev_at(2), R_DEVICE_ID), 4); /* entropy */
	c = drv_bring_up(1, 2, 0);
	memcpy(hva(BUF), "slot 1\n", 7);
	put_desc(TXQ_DESC, 0, BUF, 7, 0, 0);
	avail_add(TXQ_AVAIL, 16, 0);
	wr(c, R_QUEUE_NOTIFY, 1);
	CHECK_EQ(con_len, 7);
	CHECK(irq_level[IRQ + 1]);
	CHECK(!irq_level[IRQ]);
	tv_teardown();
}

int main(void)
{
	test_after_pci();
	test_output();
	test_input();
	tv_free_all();
	return unit_done("test_virtio_console");
}
