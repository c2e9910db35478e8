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
#define F_CSUM BIT(0)
#define F_GUEST_CSUM BIT(1)
#define F_GUEST_TSO4 BIT(7)
#define F_GUEST_TSO6 BIT(8)
#define F_GUEST_ECN BIT(9)
#define F_HOST_TSO4 BIT(11)
#define F_HOST_TSO6 BIT(12)
#define F_HOST_ECN BIT(13)
#define BIG_TX (RAM_BASE + 0x380000) /* one frame of up to 192 KiB, A's */
#define BIG_RX (RAM_BASE + 0x3b0000) /* B's 4 KiB receive buffers */

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

/* A virtio-net header as a driver fills it (num_buffers is the device's). */
struct hdr {
	u8 flags, gso_type;
	u16 hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};

/*
 * A transmits header @h and a @len-byte frame B <- A (bytes k * 7 after the
 * addresses), the header in its own descriptor and the frame cut in @npieces
 * descriptors of uneven sizes, as Linux's page fragments come.
 */
static void send_frags(const struct hdr *h, u32 len, u32 npieces)
{
	u8 *f = hva(BIG_TX + 64);
	u32 off = 0;
	u16 head = tx_next[0];

	memcpy(hva(BIG_TX), h, sizeof(*h));
	memcpy(f, MAC_B, 6);
	memcpy(f + 6, MAC_A, 6);
	for (u32 k = 12; k < len; k++)
		f[k] = (u8)(k * 7);
	put_desc(DESC(0, 1), head, BIG_TX, 12, F_NEXT, (u16)(head + 1));
	for (u32 p = 0; p < npieces; p++) {
		u32 n = p + 1 == npieces ? len - off : (len / npieces) + 13 * p;
		u16 i = (u16)(head + 1 + p);

		put_desc(DESC(0, 1), i, BIG_TX + 64 + off, n, p + 1 == npieces ? 0 : F_NEXT,
			 (u16)(i + 1));
		off += n;
	}
	tx_next[0] = (u16)(head + 1 + npieces);
	avail_add(AVAIL(0, 1), 16, head);
	wr(nic(0), R_QUEUE_NOTIFY, 1);
}

/* B posts @n receive buffers of 4 KiB (MRG_RXBUF). */
static void post_big_rx(u32 n)
{
	for (u32 k = 0; k < n; k++) {
		u16 i = rx_next[1]++;

		put_desc(DESC(1, 0), i, BIG_RX + 0x1000ull * (i % 16), 4096, F_WRITE, 0);
		avail_add(AVAIL(1, 0), 16, i);
	}
}

/* The received frame B's buffers hold from its first used entry on, gathered, vs what A sent. */
static bool big_frame_arrived(u32 len, struct hdr *got)
{
	static u8 all[70000];
	u32 used = get16(USED(1, 0) + 2), have = 0;

	for (u32 e = 0; e < used; e++) {
		u32 id = get32(USED(1, 0) + 4 + 8 * e), n = get32(USED(1, 0) + 8 + 8 * e);

		if (have + n > sizeof(all))
			return false;
		memcpy(all + have, hva(BIG_RX + 0x1000ull * (id % 16)), n);
		have += n;
	}
	memcpy(got, all, sizeof(*got));
	return have == 12 + len && !memcmp(all + 12, hva(BIG_TX + 64), len);
}

/*
 * Two guests that take the offloads: a 20000-byte TCP segment left to be
 * segmented goes across whole, its header's fields unchanged, straight
 * from A's fragments into B's buffers.
 */
static void test_offloads_travel(void)
{
	struct hdr h = { .flags = 1, .gso_type = 1 | 0x80, .hdr_len = 66, .gso_size = 1448,
			 .csum_start = 34, .csum_offset = 16 }, got;

	setup(F_CSUM | F_HOST_TSO4 | F_HOST_ECN, F_MRG | F_GUEST_CSUM | F_GUEST_TSO4 | F_GUEST_ECN);
	post_big_rx(8);
	send_frags(&h, 20000, 5);
	CHECK(!needs_reset(nic(0)));
	CHECK(!needs_reset(nic(1)));
	CHECK_EQ(get16(USED(1, 0) + 2), 5); /* 20012 bytes in 4 KiB buffers */
	CHECK(big_frame_arrived(20000, &got));
	CHECK_EQ(got.flags, 1);
	CHECK_EQ(got.gso_type, 1 | 0x80);
	CHECK_EQ(got.hdr_len, 66);
	CHECK_EQ(got.gso_size, 1448);
	CHECK_EQ(got.csum_start, 34);
	CHECK_EQ(got.csum_offset, 16);
	CHECK_EQ(got.num_buffers, 5);
	CHECK_EQ(port_of(1)->stats.rx_bytes, 20000);
	tv_teardown();
	/* 64000 bytes in 12 fragments fill B's 16 buffers; 64 KiB and a header is the most. */
	setup(F_CSUM | F_HOST_TSO4, F_MRG | F_GUEST_CSUM | F_GUEST_TSO4);
	post_big_rx(16);
	h.gso_type = 1;
	send_frags(&h, 64000, 12);
	CHECK_EQ(get16(USED(1, 0) + 2), 16);
	CHECK(big_frame_arrived(64000, &got));
	CHECK_EQ(got.num_buffers, 16);
	tv_teardown();
	setup(F_CSUM | F_HOST_TSO4, F_MRG | F_GUEST_CSUM | F_GUEST_TSO4);
	send_frags(&h, 65551, 12);
	CHECK_EQ(port_of(0)->stats.drops[NETSW_DROP_OVERSIZE], 1);
	CHECK(!needs_reset(nic(0)));
	tv_teardown();
}

/*
 * A receiver that takes no offloads: a segmentation-offloaded frame is
 * dropped at its port (counted), a partial checksum is completed by Keel.
 */
static void test_offloads_for_a_plain_receiver(void)
{
	struct hdr h = { .flags = 1, .gso_type = 1, .hdr_len = 66, .gso_size = 1448,
			 .csum_start = 34, .csum_offset = 6 }, got;
	const u8 *rx = hva(RXBUF(1));
	u32 sum = 0;

	setup(F_CSUM | F_HOST_TSO4, F_MRG);
	post_big_rx(8);
	send_frags(&h, 9000, 3);
	CHECK_EQ(get16(USED(1, 0) + 2), 0);
	CHECK_EQ(port_of(1)->stats.drops[NETSW_DROP_OFFLOAD], 1);
	CHECK(!needs_reset(nic(0)) && !needs_reset(nic(1)));
	tv_teardown();

	/* A 301-byte frame (odd) whose checksum from byte 34 is left to the device. */
	setup(F_CSUM, 0);
	post_rx(1, 1600);
	h.gso_type = 0;
	h.gso_size = 0;
	send_frags(&h, 301, 2);
	CHECK_EQ(get16(USED(1, 0) + 2), 1);
	memcpy(&got, rx, sizeof(got));
	CHECK_EQ(got.flags, 0); /* nothing left to do */
	CHECK(!memcmp(rx + 12, hva(BIG_TX + 64), 34 + 6)); /* up to the field */
	/* The field held the pseudo-header's sum; a receiver adds that sum back to verify. */
	sum = (u32)((const u8 *)hva(BIG_TX + 64))[40] << 8 | ((const u8 *)hva(BIG_TX + 64))[41];
	for (u32 i = 34; i < 301; i += 2)
		sum += (u32)rx[12 + i] << 8 | (i + 1 < 301 ? rx[12 + i + 1] : 0);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	CHECK_EQ(sum, 0xffff);
	CHECK(memcmp(rx + 12 + 40, hva(BIG_TX + 64 + 40), 2) != 0); /* it was filled in */
	tv_teardown();
}

/* Offload fields a guest did not negotiate, or that point outside its frame: reset. */
static void test_offload_headers_checked(void)
{
	static const struct {
		u64 features;
		struct hdr h;
		u32 len;
	} bad[] = {
		{ 0, { .gso_type = 1, .gso_size = 1448 }, 3000 }, /* TSO not taken */
		{ F_CSUM | F_HOST_TSO4, { .flags = 1, .gso_type = 4, .gso_size = 1448 }, 3000 },
		{ F_CSUM | F_HOST_TSO4, { .flags = 1, .gso_type = 0x81, .gso_size = 1448 }, 3000 },
		{ F_CSUM | F_HOST_TSO4, { .flags = 1, .gso_type = 1 }, 3000 }, /* no segment size */
		{ F_CSUM | F_HOST_TSO4, { .gso_type = 1, .gso_size = 1448 }, 3000 }, /* no NEEDS_CSUM */
		{ F_CSUM | F_HOST_TSO4, { .flags = 1, .gso_type = 3, .gso_size = 1448 }, 3000 }, /* UDP */
		{ F_CSUM, { .flags = 1, .csum_start = 290, .csum_offset = 10 }, 300 }, /* outside */
		{ F_CSUM, { .flags = 1, .csum_start = 0xffff, .csum_offset = 0xffff }, 300 },
		{ F_CSUM, { .flags = 2 }, 300 }, /* DATA_VALID is the device's to say */
	};

	for (u32 i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setup(bad[i].features, F_MRG | F_GUEST_CSUM | F_GUEST_TSO4 | F_GUEST_TSO6);
		post_big_rx(8);
		send_frags(&bad[i].h, bad[i].len, 2);
		CHECK(needs_reset(nic(0)));
		CHECK(!needs_reset(nic(1)));
		CHECK_EQ(get16(USED(1, 0) + 2), 0);
		tv_teardown();
	}
	/* A plain frame over 1518 bytes is oversized even where TSO is taken: no reset. */
	setup(F_CSUM | F_HOST_TSO4, F_MRG | F_GUEST_CSUM | F_GUEST_TSO4);
	post_big_rx(8);
	send_frags(&(struct hdr){ 0 }, 1519, 2);
	CHECK_EQ(port_of(0)->stats.drops[NETSW_DROP_OVERSIZE], 1);
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
	test_offloads_travel();
	test_offloads_for_a_plain_receiver();
	test_offload_headers_checked();
	test_random_chains();
	tv_free_all();
	return unit_done("test_virtio_net");
}
