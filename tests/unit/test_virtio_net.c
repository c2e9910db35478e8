/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of virtio-net (virtio/net.c) on Keel's switch: two NICs of one
 * partition on one network, each with its own rings. Frames go from A's
 * transmit queue into B's receive queue; hostile chains reset only A.
 */
#include <keel/netsw.h>

#include "test_virtio.h"

#define SLOT_A 4u
#define SLOT_B 5u
#define F_MRG BIT(15)
#define F_MAC BIT(5)
#define F_MTU BIT(3)
#define F_STATUS BIT(16)

/* Per device: rx rings, tx rings, buffers. */
#define RING(dev, q) (RAM_BASE + 0x30000 + (dev)*0x20000ull + (q)*0x8000ull)
#define DESC(dev, q) RING(dev, q)
#define AVAIL(dev, q) (RING(dev, q) + 0x1000)
#define USED(dev, q) (RING(dev, q) + 0x2000)
#define TXBUF(dev) (RAM_BASE + 0x200000 + (dev)*0x10000ull)
#define RXBUF(dev) (RAM_BASE + 0x300000 + (dev)*0x10000ull)

static const u8 MAC_A[6] = { 0x02, 0, 0, 0, 0, 0xa }, MAC_B[6] = { 0x02, 0, 0, 0, 0, 0xb };
static struct netsw_net *net;
static u16 tx_next[2], rx_next[2];

static struct vdev *nic(u32 dev)
{
	return dev_at(dev ? SLOT_B : SLOT_A);
}

static u32 irq_of(u32 dev)
{
	return KEEL_VIRTIO_IRQ_BASE + (dev ? SLOT_B : SLOT_A);
}

static void bring_up(u32 dev, u64 extra)
{
	struct vdev *d = nic(dev);

	CHECK(drv_negotiate(d, BIT(VIRTIO_F_VERSION_1) | F_MAC | F_STATUS | F_MTU | extra));
	for (u32 q = 0; q < 2; q++)
		drv_queue(d, q, 16, DESC(dev, q), AVAIL(dev, q), USED(dev, q));
	drv_ok(d);
	CHECK_EQ(rd(d, R_STATUS), 0xf);
	tx_next[dev] = rx_next[dev] = 0;
}

static void setup(u64 a_extra, u64 b_extra)
{
	tv_setup();
	net = netsw_network("test");
	CHECK(net != NULL);
	CHECK_EQ(vnet_create(&part, KEEL_VIRTIO_MMIO_BASE + SLOT_A * KEEL_VIRTIO_MMIO_STRIDE,
			     irq_of(0), net, MAC_A, false),
		 0);
	CHECK_EQ(vnet_create(&part, KEEL_VIRTIO_MMIO_BASE + SLOT_B * KEEL_VIRTIO_MMIO_STRIDE,
			     irq_of(1), net, MAC_B, false),
		 0);
	bring_up(0, a_extra);
	bring_up(1, b_extra);
}

/* Post one receive buffer of @len bytes on @dev. */
static void post_rx(u32 dev, u32 len)
{
	u16 i = rx_next[dev]++;

	put_desc(DESC(dev, 0), i, RXBUF(dev) + 0x800ull * i, len, F_WRITE, 0);
	avail_add(AVAIL(dev, 0), 16, i);
}

/* @dev transmits a header (@hdr_len bytes, flags @flags) and a @len-byte frame dst <- src. */
static void send(u32 dev, const u8 *dst, const u8 *src, u32 len, u32 hdr_len, u8 flags)
{
	u16 i = tx_next[dev]++;
	u8 *b = hva(TXBUF(dev) + 0x1000ull * i);

	memset(b, 0, hdr_len);
	b[0] = flags;
	memcpy(b + hdr_len, dst, 6);
	memcpy(b + hdr_len + 6, src, 6);
	for (u32 k = 12; k < len; k++)
		b[hdr_len + k] = (u8)(k * 3);
	put_desc(DESC(dev, 1), i, TXBUF(dev) + 0x1000ull * i, hdr_len + len, 0, 0);
	avail_add(AVAIL(dev, 1), 16, i);
	wr(nic(dev), R_QUEUE_NOTIFY, 1);
}

static struct netsw_port *port_of(u32 dev)
{
	return net->ports[0]->mac[5] == (dev ? 0xb : 0xa) ? net->ports[0] : net->ports[1];
}

static void test_config_and_features(void)
{
	u64 f;

	setup(0, 0);
	f = dev_features(nic(0));
	CHECK((f & (F_MAC | F_STATUS | F_MTU | F_MRG)) == (F_MAC | F_STATUS | F_MTU | F_MRG));
	CHECK_EQ(rd(nic(0), R_DEVICE_ID), 1);
	CHECK_EQ(rdn(nic(1), R_CONFIG + 5, 1), 0xb);
	CHECK_EQ(rdn(nic(1), R_CONFIG + 6, 2), 1); /* link up */
	CHECK_EQ(rdn(nic(1), R_CONFIG + 10, 2), 1500);
	tv_teardown();
}

static void test_frame_reaches_the_other_nic(void)
{
	setup(0, 0);
	post_rx(1, 1600);
	send(0, MAC_B, MAC_A, 60, 12, 0);
	CHECK_EQ(get16(USED(0, 1) + 2), 1); /* A's chain back */
	CHECK_EQ(get16(USED(1, 0) + 2), 1);
	CHECK_EQ(get32(USED(1, 0) + 8), 72); /* header and frame */
	CHECK(!memcmp(hva(RXBUF(1) + 12), MAC_B, 6));
	CHECK(!memcmp(hva(RXBUF(1) + 12 + 6), MAC_A, 6));
	CHECK(!memcmp(hva(RXBUF(1) + 12), hva(TXBUF(0) + 12), 60));
	CHECK(irq_level[irq_of(1)]);
	CHECK(irq_level[irq_of(0)]);
	CHECK_EQ(port_of(0)->stats.tx_packets, 1);
	CHECK_EQ(port_of(1)->stats.rx_bytes, 60);

	/* A spoofed source is dropped and counted; A's chain still comes back. */
	post_rx(1, 1600);
	send(0, MAC_B, MAC_B, 60, 12, 0);
	CHECK_EQ(get16(USED(0, 1) + 2), 2);
	CHECK_EQ(get16(USED(1, 0) + 2), 1);
	CHECK_EQ(port_of(0)->stats.drops[NETSW_DROP_SPOOF], 1);

	/* Oversized and runt frames: dropped, counted, no reset. */
	send(0, MAC_B, MAC_A, 1600, 12, 0);
	send(0, MAC_B, MAC_A, 13, 12, 0);
	CHECK_EQ(port_of(0)->stats.drops[NETSW_DROP_OVERSIZE], 1);
	CHECK_EQ(port_of(0)->stats.drops[NETSW_DROP_RUNT], 1);
	CHECK(!needs_reset(nic(0)));

	/* B's one buffer is taken by the next frame; the one after finds none. */
	send(0, MAC_B, MAC_A, 100, 12, 0);
	CHECK_EQ(get16(USED(1, 0) + 2), 2);
	send(0, MAC_B, MAC_A, 100, 12, 0);
	CHECK_EQ(port_of(1)->stats.drops[NETSW_DROP_NO_BUFFER], 1);
	CHECK(!needs_reset(nic(0)));
	CHECK(!needs_reset(nic(1)));
	tv_teardown();
}

static void test_small_buffers(void)
{
	/* Without MRG_RXBUF a frame needs one buffer that holds it: a small one stays posted. */
	setup(0, 0);
	post_rx(1, 100);
	send(0, MAC_B, MAC_A, 200, 12, 0);
	CHECK_EQ(get16(USED(1, 0) + 2), 0);
	CHECK_EQ(port_of(1)->stats.drops[NETSW_DROP_NO_BUFFER], 1);
	send(0, MAC_B, MAC_A, 60, 12, 0);
	CHECK_EQ(get16(USED(1, 0) + 2), 1);
	CHECK_EQ(get32(USED(1, 0) + 8), 72);
	tv_teardown();

	/* With MRG_RXBUF it spans buffers, and the header says how many. */
	setup(0, F_MRG);
	post_rx(1, 1000);
	post_rx(1, 1000);
	send(0, MAC_B, MAC_A, 1500, 12, 0);
	CHECK_EQ(get16(USED(1, 0) + 2), 2);
	CHECK_EQ(get32(USED(1, 0) + 8), 1000);
	CHECK_EQ(get32(USED(1, 0) + 16), 512);
	CHECK_EQ(get16(RXBUF(1) + 10), 2); /* num_buffers */
	CHECK(!memcmp(hva(RXBUF(1) + 0x800), hva(TXBUF(0) + 1000), 512));
	tv_teardown();
}

static void test_hostile_chains_reset_the_sender_only(void)
{
	setup(0, 0);
	post_rx(1, 1600);
	send(0, MAC_B, MAC_A, 4, 4, 0); /* no whole header */
	CHECK(needs_reset(nic(0)));
	CHECK(!needs_reset(nic(1)));
	CHECK_EQ(port_of(0)->stats.drops[NETSW_DROP_MALFORMED], 1);
	/* A reset brings it back; offloads it never offered reset it again. */
	bring_up(0, 0);
	send(0, MAC_B, MAC_A, 60, 12, 1 /* NEEDS_CSUM */);
	CHECK(needs_reset(nic(0)));
	CHECK_EQ(get16(USED(1, 0) + 2), 0);
	/* B's receive ring pointing outside RAM: B needs reset, A goes on. */
	bring_up(0, 0);
	put_desc(DESC(1, 0), 0, RAM_BASE + RAM_SIZE - 8, 1600, F_WRITE, 0);
	avail_add(AVAIL(1, 0), 16, 0);
	send(0, MAC_B, MAC_A, 60, 12, 0);
	CHECK(needs_reset(nic(1)));
	CHECK(!needs_reset(nic(0)));
	tv_teardown();
}

static void test_random_chains(void)
{
	unsigned long long seed = 0x1234567;

	setup(0, F_MRG);
	for (u32 n = 0; n < 2000; n++) {
		u32 len = (u32)(unit_rand(&seed) % 1800);

		if (n % 7 == 0)
			post_rx(1, (u32)(unit_rand(&seed) % 2048));
		if (rx_next[1] >= 16) {
			bring_up(1, F_MRG);
		}
		if (tx_next[0] >= 16 || needs_reset(nic(0)))
			bring_up(0, 0);
		send(0, n % 3 ? MAC_B : (const u8[6]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		     n % 5 ? MAC_A : MAC_B, len, 12, 0);
	}
	CHECK(port_of(0)->stats.tx_packets > 0);
	CHECK(port_of(1)->stats.rx_packets > 0);
	tv_teardown();
}

int main(void)
{
	test_config_and_features();
	test_frame_reaches_the_other_nic();
	test_small_buffers();
	test_hostile_chains_reset_the_sender_only();
	test_random_chains();
	tv_free_all();
	return unit_done("test_virtio_net");
}
