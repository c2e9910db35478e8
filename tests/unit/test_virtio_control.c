/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the control port (virtio/control.c): the multiport
 * handshake Linux's virtio_console does, "poweroff" delivered only while the
 * guest has the port open and kept until then, and a driver that lies.
 */
#include "test_virtio.h"

#define CTL 2u /* slot: no disk */
#define CTL_IRQ (KEEL_VIRTIO_IRQ_BASE + CTL)
#define F_MULTIPORT BIT(1)

/* Queues 0/1 (port 0) use the shared Q_/Q_*2 rings; control queues 2/3 these. */
#define C_RX_DESC (RAM_BASE + 0x30000)
#define C_RX_AVAIL (RAM_BASE + 0x31000)
#define C_RX_USED (RAM_BASE + 0x32000)
#define C_TX_DESC (RAM_BASE + 0x40000)
#define C_TX_AVAIL (RAM_BASE + 0x41000)
#define C_TX_USED (RAM_BASE + 0x42000)
#define C_RX_BUF (RAM_BASE + 0x200000) /* 16 buffers of 64 bytes */
#define C_TX_BUF (RAM_BASE + 0x210000)
#define P_RX_BUF (RAM_BASE + 0x220000)

#define EV_DEVICE_READY 0
#define EV_DEVICE_ADD 1
#define EV_PORT_READY 3
#define EV_CONSOLE_PORT 4
#define EV_PORT_OPEN 6
#define EV_PORT_NAME 7

static struct vdev *c;
static u16 c_rx_seen, c_tx_n;

/* Bring the device up with all four queues and 16 control receive buffers. */
static void ctl_up(void)
{
	c = dev_at(CTL);
	CHECK(c != NULL);
	/* A fresh driver: empty rings. */
	for (gpa_t ring = Q_AVAIL; ring <= Q_USED; ring += 0x1000)
		memset(hva(ring), 0, 0x1000);
	for (gpa_t ring = Q_AVAIL2; ring <= Q_USED2; ring += 0x1000)
		memset(hva(ring), 0, 0x1000);
	for (gpa_t ring = C_RX_AVAIL; ring <= C_RX_USED; ring += 0x1000)
		memset(hva(ring), 0, 0x1000);
	for (gpa_t ring = C_TX_AVAIL; ring <= C_TX_USED; ring += 0x1000)
		memset(hva(ring), 0, 0x1000);
	CHECK(drv_negotiate(c, BIT(VIRTIO_F_VERSION_1) | F_MULTIPORT));
	drv_queue(c, 0, 16, Q_DESC, Q_AVAIL, Q_USED);
	drv_queue(c, 1, 16, Q_DESC2, Q_AVAIL2, Q_USED2);
	drv_queue(c, 2, 16, C_RX_DESC, C_RX_AVAIL, C_RX_USED);
	drv_queue(c, 3, 16, C_TX_DESC, C_TX_AVAIL, C_TX_USED);
	drv_ok(c);
	CHECK_EQ(rd(c, R_STATUS), 0xf);
	for (u32 i = 0; i < 16; i++) {
		put_desc(C_RX_DESC, i, C_RX_BUF + i * 64, 64, F_WRITE, 0);
		avail_add(C_RX_AVAIL, 16, (u16)i);
	}
	wr(c, R_QUEUE_NOTIFY, 2);
	c_rx_seen = 0;
	c_tx_n = 0;
}

/* The driver sends one control message (id, event, value). */
static void ctl_tx(u32 id, u16 event, u16 value)
{
	u8 *m = hva(C_TX_BUF + c_tx_n % 16 * 16);

	memcpy(m, &id, 4);
	memcpy(m + 4, &event, 2);
	memcpy(m + 6, &value, 2);
	put_desc(C_TX_DESC, c_tx_n % 16, C_TX_BUF + c_tx_n % 16 * 16, 8, 0, 0);
	avail_add(C_TX_AVAIL, 16, (u16)(c_tx_n % 16));
	c_tx_n++;
	wr(c, R_QUEUE_NOTIFY, 3);
}

/* The next control message the device sent: false if there is none. */
static bool ctl_rx(u32 *id, u16 *event, u16 *value, char *name, size_t name_size)
{
	u32 head, len;
	u8 *m;

	if (get16(C_RX_USED + 2) == c_rx_seen)
		return false;
	head = get32(C_RX_USED + 4 + 8 * (c_rx_seen % 16));
	len = get32(C_RX_USED + 8 + 8 * (c_rx_seen % 16));
	c_rx_seen++;
	m = hva(C_RX_BUF + head * 64);
	memcpy(id, m, 4);
	memcpy(event, m + 4, 2);
	memcpy(value, m + 6, 2);
	if (name) {
		size_t n = len > 8 ? len - 8 : 0;

		CHECK(n < name_size);
		memcpy(name, m + 8, n);
		name[n] = 0;
	}
	/* Linux re-posts the buffer. */
	avail_add(C_RX_AVAIL, 16, (u16)head);
	return true;
}

static void expect_rx(u16 event, u16 value)
{
	u32 id = 99;
	u16 ev = 99, v = 99;

	CHECK(ctl_rx(&id, &ev, &v, NULL, 0));
	CHECK_EQ(id, 0);
	CHECK_EQ(ev, event);
	CHECK_EQ(v, value);
}

/* DEVICE_READY → DEVICE_ADD; PORT_READY → PORT_NAME, PORT_OPEN 1. */
static void handshake(void)
{
	u32 id;
	u16 ev, v;
	char name[64];

	ctl_tx(0xffffffffu, EV_DEVICE_READY, 1);
	expect_rx(EV_DEVICE_ADD, 0);
	CHECK(!ctl_rx(&id, &ev, &v, NULL, 0));
	ctl_tx(0, EV_PORT_READY, 1);
	CHECK(ctl_rx(&id, &ev, &v, name, sizeof(name)));
	CHECK_EQ(ev, EV_PORT_NAME);
	CHECK(strcmp(name, "org.keel.control") == 0);
	expect_rx(EV_PORT_OPEN, 1);
	CHECK(!ctl_rx(&id, &ev, &v, NULL, 0));
}

static void post_port_rx(u16 i, u32 len)
{
	put_desc(Q_DESC, i, P_RX_BUF + i * 0x100, len, F_WRITE, 0);
	avail_add(Q_AVAIL, 16, i);
	wr(c, R_QUEUE_NOTIFY, 0);
}

static void test_identity(void)
{
	tv_setup();
	CHECK_EQ(virtio_create_devices(&part), 0);
	c = dev_at(CTL);
	CHECK(c != NULL);
	CHECK_EQ(c->irq, CTL_IRQ);
	CHECK_EQ(rd(c, R_DEVICE_ID), 3);
	CHECK_EQ(dev_features(c),
		 BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC) | F_MULTIPORT);
	/* max_nr_ports = 1, whatever the access size; cols/rows/emerg_wr 0. */
	CHECK_EQ(rd(c, R_CONFIG + 4), 1);
	CHECK_EQ(rdn(c, R_CONFIG + 4, 1), 1);
	CHECK_EQ(rdn(c, R_CONFIG + 4, 2), 1);
	CHECK_EQ(rd(c, R_CONFIG), 0);
	CHECK_EQ(rd(c, R_CONFIG + 8), 0);
	/* Four queues, no fifth. */
	wr(c, R_QUEUE_SEL, 3);
	CHECK_EQ(rd(c, R_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
	wr(c, R_QUEUE_SEL, 4);
	CHECK_EQ(rd(c, R_QUEUE_NUM_MAX), 0);
	tv_teardown();
}

static void test_poweroff_waits_for_open(void)
{
	tv_setup();
	CHECK_EQ(virtio_create_devices(&part), 0);
	/* Asked before the driver even exists: kept. */
	CHECK(virtio_control_request(&part, VIRTIO_CTL_POWEROFF));
	ctl_up();
	handshake();
	post_port_rx(0, 64);
	/* Port not open in the guest: Linux would discard data, so none is sent. */
	CHECK_EQ(get16(Q_USED + 2), 0);
	ctl_tx(0, EV_PORT_OPEN, 1);
	CHECK_EQ(get16(Q_USED + 2), 1);
	CHECK_EQ(get32(Q_USED + 8), 9);
	CHECK(memcmp(hva(P_RX_BUF), "poweroff\n", 9) == 0);
	CHECK(irq_level[CTL_IRQ]);
	/* Delivered once: a second buffer stays with the device until the next request. */
	post_port_rx(1, 64);
	CHECK_EQ(get16(Q_USED + 2), 1);
	CHECK(virtio_control_request(&part, VIRTIO_CTL_POWEROFF));
	CHECK_EQ(get16(Q_USED + 2), 2);
	/* Closed: the next request waits for the next open. */
	ctl_tx(0, EV_PORT_OPEN, 0);
	CHECK(virtio_control_request(&part, VIRTIO_CTL_POWEROFF));
	post_port_rx(2, 64);
	CHECK_EQ(get16(Q_USED + 2), 2);
	ctl_tx(0, EV_PORT_OPEN, 1);
	CHECK_EQ(get16(Q_USED + 2), 3);
	/* Unknown requests and other partitions: refused, nothing sent. */
	CHECK(!virtio_control_request(&part, VIRTIO_CTL_COUNT));
	struct partition other = { .id = 9 };
	CHECK(!virtio_control_request(&other, VIRTIO_CTL_POWEROFF));
	other.id = 0;
	CHECK(!virtio_control_request(&other, VIRTIO_CTL_POWEROFF));
	CHECK(!needs_reset(c));
	tv_teardown();
	CHECK(!virtio_control_request(&part, VIRTIO_CTL_POWEROFF)); /* gone with its partition */
}

static void test_small_buffer_and_reset(void)
{
	tv_setup();
	CHECK_EQ(virtio_create_devices(&part), 0);
	ctl_up();
	handshake();
	ctl_tx(0, EV_PORT_OPEN, 1);
	/* A 4-byte buffer cannot hold the line: it comes back empty, the request stays. */
	post_port_rx(0, 4);
	CHECK(virtio_control_request(&part, VIRTIO_CTL_POWEROFF));
	CHECK_EQ(get16(Q_USED + 2), 1);
	CHECK_EQ(get32(Q_USED + 8), 0);
	/* The driver resets before a buffer big enough comes: the request survives. */
	wr(c, R_STATUS, 0);
	ctl_up();
	post_port_rx(1, 64);
	CHECK_EQ(get16(Q_USED + 2), 0); /* port not open again yet */
	handshake();
	ctl_tx(0, EV_PORT_OPEN, 1);
	CHECK_EQ(get16(Q_USED + 2), 1);
	CHECK(memcmp(hva(P_RX_BUF + 0x100), "poweroff\n", 9) == 0);
	tv_teardown();
}

static void test_hostile_driver(void)
{
	u32 id;
	u16 ev, v;

	tv_setup();
	CHECK_EQ(virtio_create_devices(&part), 0);
	ctl_up();
	/* PORT_READY before DEVICE_READY, for a port that does not exist, short messages. */
	ctl_tx(0, EV_PORT_READY, 1);
	ctl_tx(7, EV_PORT_READY, 1);
	ctl_tx(0, EV_DEVICE_READY, 0);
	ctl_tx(0, 0xffff, 0xffff);
	put_desc(C_TX_DESC, 15, C_TX_BUF, 3, 0, 0);
	avail_add(C_TX_AVAIL, 16, 15);
	wr(c, R_QUEUE_NOTIFY, 3);
	CHECK(!ctl_rx(&id, &ev, &v, NULL, 0));
	/* A storm of DEVICE_READY and PORT_READY: each answered once per reset. */
	for (int i = 0; i < 40; i++) {
		ctl_tx(0xffffffffu, EV_DEVICE_READY, 1);
		ctl_tx(0, EV_PORT_READY, 1);
	}
	int n = 0;
	while (ctl_rx(&id, &ev, &v, NULL, 0))
		n++;
	CHECK_EQ(n, 3);
	/* Opening a port that does not exist opens nothing. */
	ctl_tx(5, EV_PORT_OPEN, 1);
	post_port_rx(0, 64);
	CHECK(virtio_control_request(&part, VIRTIO_CTL_POWEROFF));
	CHECK_EQ(get16(Q_USED + 2), 0);
	/* What the guest writes to the port is taken and dropped. */
	put_desc(Q_DESC2, 0, RAM_BASE, 3u << 20, 0, 0);
	avail_add(Q_AVAIL2, 16, 0);
	wr(c, R_QUEUE_NOTIFY, 1);
	CHECK_EQ(get16(Q_USED2 + 2), 1);
	/* A receive chain reaching outside RAM: the device needs a reset, nothing else breaks. */
	ctl_tx(0, EV_PORT_OPEN, 1);
	CHECK_EQ(get16(Q_USED + 2), 1); /* buffer 0 got the line */
	put_desc(Q_DESC, 1, RAM_BASE + RAM_SIZE - 4, 64, F_WRITE, 0);
	avail_add(Q_AVAIL, 16, 1);
	wr(c, R_QUEUE_NOTIFY, 0);
	CHECK(!needs_reset(c)); /* taken only when there is something to say */
	virtio_control_request(&part, VIRTIO_CTL_POWEROFF);
	CHECK_EQ(get16(Q_USED + 2), 1);
	CHECK(needs_reset(c));
	CHECK(dev_at(0) && !needs_reset(dev_at(0)));
	tv_teardown();
}

int main(void)
{
	test_identity();
	test_poweroff_waits_for_open();
	test_small_buffer_and_reset();
	test_hostile_driver();
	tv_free_all();
	return unit_done("test_virtio_control");
}
