/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of virtio-net (virtio/net.c) on Keel's switch: two NICs of one
 * partition on one network, each with its own rings. Frames go from A's
 * transmit queue into B's receive queue; hostile chains reset only A.
 */
#include <keel/netsw.h>

#include "test_virtio.h"
#include "inet_csum.h"

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

static void test_broadcasts_leave_room_for_unicast(void)
{
	static const u8 all[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const u8 group[6] = { 0x33, 0x33, 0, 0, 0, 1 };

	/* B posts 8 buffers: a quarter of that (2) is kept for frames addressed to it. */
	setup(0, 0);
	for (u32 i = 0; i < 8; i++)
		post_rx(1, 1600);
	for (u32 i = 0; i < 6; i++)
		send(0, i & 1 ? group : all, MAC_A, 60, 12, 0);
	CHECK_EQ(get16(USED(1, 0) + 2), 6);
	send(0, all, MAC_A, 60, 12, 0); /* 2 left: held back */
	CHECK_EQ(get16(USED(1, 0) + 2), 6);
	CHECK_EQ(port_of(1)->stats.drops[NETSW_DROP_GROUP_HELD], 1);
	CHECK_EQ(port_of(1)->stats.drops[NETSW_DROP_NO_BUFFER], 0);
	/* Frames addressed to B take every buffer left; then there is none. */
	send(0, MAC_B, MAC_A, 60, 12, 0);
	send(0, MAC_B, MAC_A, 60, 12, 0);
	CHECK_EQ(get16(USED(1, 0) + 2), 8);
	send(0, MAC_B, MAC_A, 60, 12, 0);
	CHECK_EQ(port_of(1)->stats.drops[NETSW_DROP_NO_BUFFER], 1);
	CHECK_EQ(port_of(1)->stats.rx_packets, 8);
	CHECK(!needs_reset(nic(1)));
	tv_teardown();

	/* A driver that posts one buffer at a time hears broadcasts. */
	setup(0, 0);
	post_rx(1, 1600);
	send(0, all, MAC_A, 60, 12, 0);
	CHECK_EQ(get16(USED(1, 0) + 2), 1);
	post_rx(1, 1600);
	send(0, all, MAC_A, 60, 12, 0);
	CHECK_EQ(get16(USED(1, 0) + 2), 2);
	CHECK_EQ(port_of(1)->stats.drops[NETSW_DROP_GROUP_HELD], 0);
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
 * A transmits header @h and the @len-byte frame at BIG_TX + 64, the header in
 * its own descriptor and the frame cut in @npieces descriptors of uneven
 * sizes, as Linux's page fragments come.
 */
static void send_built(const struct hdr *h, u32 len, u32 npieces)
{
	u32 off = 0;
	u16 head = tx_next[0];

	memcpy(hva(BIG_TX), h, sizeof(*h));
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

/* A transmits header @h and a @len-byte frame B <- A (bytes k * 7 after the addresses). */
static void send_frags(const struct hdr *h, u32 len, u32 npieces)
{
	u8 *f = hva(BIG_TX + 64);

	memcpy(f, MAC_B, 6);
	memcpy(f + 6, MAC_A, 6);
	for (u32 k = 12; k < len; k++)
		f[k] = (u8)(k * 7);
	send_built(h, len, npieces);
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
	struct hdr h = { .flags = 1,
			 .gso_type = 1 | 0x80,
			 .hdr_len = 66,
			 .gso_size = 1448,
			 .csum_start = 34,
			 .csum_offset = 16 },
		   got;

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
 * A receiver that takes no offloads: a segmentation-offloaded frame that is
 * not TCP (these bytes are no IP at all) is dropped at its port (counted), a
 * partial checksum is completed by Keel.
 */
static void test_offloads_for_a_plain_receiver(void)
{
	struct hdr h = { .flags = 1,
			 .gso_type = 1,
			 .hdr_len = 66,
			 .gso_size = 1448,
			 .csum_start = 34,
			 .csum_offset = 6 },
		   got;
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

/* ---- Segments made for a receiver that takes no segmentation offload ---- */

#define SEG_SEQ 0x11223344u
#define SEG_ID 0x4242u

/* What a segmentation-offloaded frame at BIG_TX + 64 is made of (build_tcp). */
struct tcp_frame {
	bool v6;
	u32 len, l4, hdr, payload;
	u8 flags;
};

static void be16(u8 *p, u32 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
}

static u32 rd_be16(const u8 *p)
{
	return (u32)p[0] << 8 | p[1];
}

static u32 rd_be32(const u8 *p)
{
	return rd_be16(p) << 16 | rd_be16(p + 2);
}

/*
 * At BIG_TX + 64, a frame B <- A as Linux hands its NIC a TCP segment to
 * cut: IPv4 (IP protocol @proto) or IPv6, TCP with 12 bytes of options
 * (timestamps) and flags @flags, @payload bytes; the TCP checksum field
 * holds the pseudo-header's sum without the length, as NEEDS_CSUM leaves it.
 */
static struct tcp_frame build_tcp(bool v6, u32 payload, u8 flags, u8 proto)
{
	u8 *f = hva(BIG_TX + 64), *ip = f + 14, *tcp;
	struct tcp_frame t = { .v6 = v6, .payload = payload, .flags = flags };
	u64 sum;

	memset(f, 0, 14 + 40 + 32);
	memcpy(f, MAC_B, 6);
	memcpy(f + 6, MAC_A, 6);
	be16(f + 12, v6 ? 0x86dd : 0x0800);
	t.l4 = v6 ? 14 + 40 : 14 + 20;
	t.hdr = t.l4 + 32;
	t.len = t.hdr + payload;
	if (v6) {
		ip[0] = 0x60;
		be16(ip + 4, t.len - t.l4);
		ip[6] = proto;
		ip[7] = 64;
		for (u32 i = 0; i < 16; i++)
			ip[8 + i] = ip[24 + i] = (u8)(0xfd + i);
		ip[39] = 0x0b;
		sum = sum_bytes(0, ip + 8, 32) + proto;
	} else {
		ip[0] = 0x45;
		be16(ip + 2, t.len - 14);
		be16(ip + 4, SEG_ID);
		be16(ip + 6, 0x4000); /* DF */
		ip[8] = 64;
		ip[9] = proto;
		be16(ip + 12, 0x0a00);
		be16(ip + 14, 0x000a);
		be16(ip + 16, 0x0a00);
		be16(ip + 18, 0x000b);
		be16(ip + 10, ~fold(sum_bytes(0, ip, 20)));
		sum = sum_bytes(0, ip + 12, 8) + proto;
	}
	tcp = f + t.l4;
	be16(tcp, 40000);
	be16(tcp + 2, 5201);
	be16(tcp + 4, SEG_SEQ >> 16);
	be16(tcp + 6, SEG_SEQ & 0xffff);
	be16(tcp + 8, 0x0102);
	be16(tcp + 10, 0x0304);
	tcp[12] = 8 << 4;
	tcp[13] = flags;
	be16(tcp + 14, 0xfaf0);
	be16(tcp + 16, fold(sum));
	tcp[20] = tcp[21] = 1; /* NOP NOP timestamps */
	tcp[22] = 8;
	tcp[23] = 10;
	for (u32 i = 24; i < 32; i++)
		tcp[i] = (u8)i;
	for (u32 i = 0; i < payload; i++)
		f[t.hdr + i] = (u8)(i * 11 + 3 + (i >> 9));
	return t;
}

/* A's header for @t: segmentation of @gso_type into @mss, the TCP checksum left to the device. */
static struct hdr gso_hdr(const struct tcp_frame *t, u8 gso_type, u16 mss)
{
	return (struct hdr){ .flags = 1,
			     .gso_type = gso_type,
			     .hdr_len = (u16)t->hdr,
			     .gso_size = mss,
			     .csum_start = (u16)t->l4,
			     .csum_offset = 16 };
}

/*
 * B's next received frame, from used entry *@e on (B's buffers posted with
 * post_rx), its buffers gathered into @out: header and frame, 0 if none.
 */
static u32 rx_next_frame(u32 *e, u8 *out, u32 cap)
{
	u32 used = get16(USED(1, 0) + 2), have = 0, nbuf = 1;

	for (u32 b = 0; b < nbuf; b++, (*e)++) {
		u32 id, n;

		if (*e >= used)
			return 0;
		id = get32(USED(1, 0) + 4 + 8 * (*e % 16));
		n = get32(USED(1, 0) + 8 + 8 * (*e % 16));
		if (id >= 16 || have + n > cap)
			return 0;
		memcpy(out + have, hva(RXBUF(1) + 0x800ull * id), n);
		have += n;
		if (b == 0 && (have < 12 || !(nbuf = out[10] | (u32)out[11] << 8)))
			return 0;
	}
	return have;
}

/*
 * Segment @i of the @mss-byte segments of @t, as B received it (@rx, @len
 * bytes with the virtio-net header): whole, checksums made, the header
 * zero but for num_buffers (@nbuf), headers as A sent them but for what
 * a NIC changes. Counts its failures.
 */
static u32 segment_bad(const struct tcp_frame *t, u32 mss, u32 i, const u8 *rx, u32 len, u16 nbuf)
{
	static const u8 zero[10];
	const u8 *f = rx + 12, *sent = hva(BIG_TX + 64), *ip = f + 14, *tcp = f + t->l4;
	u32 n = MIN(mss, t->payload - MIN(t->payload, i * mss)), bad = 0;
	bool last = (i + 1) * mss >= t->payload;
	u8 pseudo[40] = { 0 }, flags = t->flags;
	u16 num;

	memcpy(&num, rx + 10, 2);
	bad += memcmp(rx, zero, 10) != 0; /* no NEEDS_CSUM, no GSO */
	bad += num != nbuf;
	if (len != 12 + t->hdr + n || len - 12 > 1514)
		return bad + 1;
	bad += memcmp(f, sent, 14) != 0;
	if (t->v6) {
		bad += rd_be16(ip + 4) != len - 12 - t->l4;
		bad += memcmp(ip, sent + 14, 4) || memcmp(ip + 6, sent + 14 + 6, 34);
		memcpy(pseudo, ip + 8, 32);
		pseudo[34] = (u8)((len - 12 - t->l4) >> 8);
		pseudo[35] = (u8)(len - 12 - t->l4);
		pseudo[39] = 6;
	} else {
		bad += rd_be16(ip + 2) != len - 12 - 14;
		bad += rd_be16(ip + 4) != ((SEG_ID + i) & 0xffff);
		bad += fold(sum_bytes(0, ip, 20)) != 0xffff;
		bad += memcmp(ip, sent + 14, 2) || memcmp(ip + 6, sent + 14 + 6, 4) ||
		       memcmp(ip + 12, sent + 14 + 12, 8);
		memcpy(pseudo, ip + 12, 8);
		pseudo[9] = 6;
		pseudo[10] = (u8)((len - 12 - t->l4) >> 8);
		pseudo[11] = (u8)(len - 12 - t->l4);
	}
	bad += rd_be32(tcp + 4) != SEG_SEQ + i * mss;
	if (!last)
		flags &= (u8)~0x09; /* FIN and PSH on the last only */
	if (i)
		flags &= 0x7f; /* CWR on the first only */
	bad += tcp[13] != flags;
	bad += (tcp[13] & 0x10) != (t->flags & 0x10); /* ACK on every one */
	bad += fold(sum_bytes(sum_bytes(0, pseudo, t->v6 ? 40 : 12), tcp, len - 12 - t->l4)) !=
	       0xffff;
	bad += memcmp(tcp, sent + t->l4, 4) || memcmp(tcp + 8, sent + t->l4 + 8, 5) ||
	       memcmp(tcp + 14, sent + t->l4 + 14, 2) || memcmp(tcp + 18, sent + t->l4 + 18, 14);
	bad += memcmp(f + t->hdr, sent + t->hdr + i * mss, n) != 0;
	return bad;
}

/*
 * B's @nseg received frames from used entry *@e on are the segments of @t,
 * from segment @first on, each in @nbuf buffers.
 */
static void check_segments_arrived(const struct tcp_frame *t, u32 mss, u32 *e, u32 first, u32 nseg,
				   u16 nbuf)
{
	static u8 rx[4096];

	for (u32 i = first; i < first + nseg; i++) {
		u32 len = rx_next_frame(e, rx, sizeof(rx));

		CHECK(len > 0);
		CHECK_EQ(segment_bad(t, mss, i, rx, len, nbuf), 0);
	}
}

/*
 * A receiver that takes no segmentation offload (or not GUEST_CSUM, which
 * it needs): a TCP frame left to be segmented arrives as the segments A's
 * NIC would have sent, whole, checksums made; the switch counts the frame
 * as delivered.
 */
static void test_segments_for_a_plain_receiver(void)
{
	struct tcp_frame t;
	struct hdr h;
	u32 e = 0;

	/* IPv4, 4000 bytes in 1448s: 1448, 1448, 1104. B without MRG_RXBUF. */
	setup(F_CSUM | F_HOST_TSO4, 0);
	for (u32 k = 0; k < 4; k++)
		post_rx(1, 1600);
	t = build_tcp(false, 4000, 0x18 /* ACK PSH */, 6);
	h = gso_hdr(&t, 1, 1448);
	send_built(&h, t.len, 3);
	CHECK(!needs_reset(nic(0)) && !needs_reset(nic(1)));
	CHECK_EQ(get16(USED(0, 1) + 2), 1); /* A's chain back */
	CHECK_EQ(get16(USED(1, 0) + 2), 3); /* one buffer left */
	check_segments_arrived(&t, 1448, &e, 0, 3, 1);
	CHECK(irq_level[irq_of(1)]);
	CHECK_EQ(port_of(0)->stats.tx_packets, 1);
	CHECK_EQ(port_of(1)->stats.rx_packets, 1);
	CHECK_EQ(port_of(1)->stats.rx_bytes, t.len);
	CHECK_EQ(port_of(1)->stats.drops[NETSW_DROP_NO_BUFFER], 0);
	CHECK_EQ(port_of(1)->stats.drops[NETSW_DROP_OFFLOAD], 0);
	tv_teardown();

	/* B takes TSO4 but not GUEST_CSUM; its 1000-byte buffers take two per segment. */
	setup(F_CSUM | F_HOST_TSO4 | F_HOST_ECN, F_MRG | F_GUEST_TSO4);
	for (u32 k = 0; k < 6; k++)
		post_rx(1, 1000);
	t = build_tcp(false, 2 * 1448 + 1, 0xd9 /* CWR ECE ACK PSH FIN */, 6);
	h = gso_hdr(&t, 1 | 0x80, 1448);
	send_built(&h, t.len, 4);
	CHECK(!needs_reset(nic(0)) && !needs_reset(nic(1)));
	CHECK_EQ(get16(USED(1, 0) + 2), 5); /* the 1-byte segment fits one */
	e = 0;
	check_segments_arrived(&t, 1448, &e, 0, 2, 2);
	check_segments_arrived(&t, 1448, &e, 2, 1, 1);
	CHECK_EQ(port_of(1)->stats.rx_packets, 1);
	tv_teardown();

	/* IPv6 with ECN to a receiver that takes TSO4 only: 3000 bytes in 1428s. */
	setup(F_CSUM | F_HOST_TSO6 | F_HOST_ECN, F_MRG | F_GUEST_CSUM | F_GUEST_TSO4);
	for (u32 k = 0; k < 3; k++)
		post_rx(1, 1600);
	t = build_tcp(true, 3000, 0x99 /* CWR ACK PSH FIN */, 6);
	h = gso_hdr(&t, 4 | 0x80, 1428);
	send_built(&h, t.len, 2);
	CHECK(!needs_reset(nic(0)) && !needs_reset(nic(1)));
	CHECK_EQ(get16(USED(1, 0) + 2), 3);
	e = 0;
	check_segments_arrived(&t, 1428, &e, 0, 3, 1);
	CHECK_EQ(port_of(1)->stats.rx_packets, 1);
	tv_teardown();
}

/* Room for the first segment only: it arrives, the rest are dropped and counted; B goes on. */
static void test_segments_without_room(void)
{
	struct tcp_frame t;
	struct hdr h;
	u32 e = 0;

	setup(F_CSUM | F_HOST_TSO4, 0);
	post_rx(1, 1600);
	t = build_tcp(false, 4000, 0x18, 6);
	h = gso_hdr(&t, 1, 1448);
	send_built(&h, t.len, 3);
	CHECK(!needs_reset(nic(0)) && !needs_reset(nic(1)));
	CHECK_EQ(get16(USED(0, 1) + 2), 1);
	CHECK_EQ(get16(USED(1, 0) + 2), 1);
	check_segments_arrived(&t, 1448, &e, 0, 1, 1);
	CHECK_EQ(port_of(1)->stats.drops[NETSW_DROP_NO_BUFFER], 1);
	CHECK_EQ(port_of(1)->stats.rx_packets, 0);
	/* With buffers again, the sender's retransmission arrives whole. */
	for (u32 k = 0; k < 3; k++)
		post_rx(1, 1600);
	send_built(&h, t.len, 3);
	CHECK_EQ(get16(USED(1, 0) + 2), 4);
	check_segments_arrived(&t, 1448, &e, 0, 3, 1);
	CHECK_EQ(port_of(1)->stats.rx_packets, 1);
	CHECK_EQ(port_of(1)->stats.drops[NETSW_DROP_NO_BUFFER], 1);
	/* No buffer at all: nothing arrives, one more drop. */
	send_built(&h, t.len, 3);
	CHECK_EQ(get16(USED(1, 0) + 2), 4);
	CHECK_EQ(port_of(1)->stats.drops[NETSW_DROP_NO_BUFFER], 2);
	CHECK(!needs_reset(nic(0)) && !needs_reset(nic(1)));
	tv_teardown();

	/*
	 * Three 1000-byte buffers (MRG_RXBUF): the first segment takes two, the
	 * second finds one; the short last one would fit it but is dropped too,
	 * so nothing arrives after a hole.
	 */
	setup(F_CSUM | F_HOST_TSO4, F_MRG);
	for (u32 k = 0; k < 3; k++)
		post_rx(1, 1000);
	t = build_tcp(false, 2 * 1448 + 1, 0x18, 6);
	h = gso_hdr(&t, 1, 1448);
	send_built(&h, t.len, 2);
	CHECK_EQ(get16(USED(1, 0) + 2), 2);
	e = 0;
	check_segments_arrived(&t, 1448, &e, 0, 1, 2);
	CHECK_EQ(port_of(1)->stats.drops[NETSW_DROP_NO_BUFFER], 1);
	CHECK(!needs_reset(nic(0)) && !needs_reset(nic(1)));
	tv_teardown();
}

/*
 * What cannot be segmented is dropped at the receiver as an offload it does
 * not take: not TCP, IPv6 said to be IPv4, segments longer than 1518 bytes.
 */
static void test_segments_refused(void)
{
	static const struct {
		bool v6;
		u8 proto, gso_type;
		u16 mss;
	} cases[] = {
		{ false, 17, 1, 1448 }, /* UDP */
		{ true, 17, 4, 1428 }, /* UDP */
		{ true, 6, 1, 1428 }, /* IPv6 as TCPV4 */
		{ false, 6, 4, 1448 }, /* IPv4 as TCPV6 */
		{ false, 6, 1, 1518 - 66 + 1 }, /* a 1519-byte segment */
		{ true, 6, 4, 1518 - 86 + 1 },
	};

	for (u32 c = 0; c < ARRAY_SIZE(cases); c++) {
		struct tcp_frame t;
		struct hdr h;

		setup(F_CSUM | F_HOST_TSO4 | F_HOST_TSO6, 0);
		for (u32 k = 0; k < 4; k++)
			post_rx(1, 1600);
		t = build_tcp(cases[c].v6, 4000, 0x18, cases[c].proto);
		h = gso_hdr(&t, cases[c].gso_type, cases[c].mss);
		send_built(&h, t.len, 3);
		CHECK(!needs_reset(nic(0)) && !needs_reset(nic(1)));
		CHECK_EQ(get16(USED(0, 1) + 2), 1);
		CHECK_EQ(get16(USED(1, 0) + 2), 0);
		CHECK_EQ(port_of(1)->stats.drops[NETSW_DROP_OFFLOAD], 1);
		CHECK_EQ(port_of(1)->stats.rx_packets, 0);
		CHECK_EQ(port_of(0)->stats.tx_packets, 1);
		tv_teardown();
	}
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
		{ F_CSUM | F_HOST_TSO4,
		  { .gso_type = 1, .gso_size = 1448 },
		  3000 }, /* no NEEDS_CSUM */
		{ F_CSUM | F_HOST_TSO4,
		  { .flags = 1, .gso_type = 3, .gso_size = 1448 },
		  3000 }, /* UDP */
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
	test_broadcasts_leave_room_for_unicast();
	test_hostile_chains_reset_the_sender_only();
	test_offloads_travel();
	test_offloads_for_a_plain_receiver();
	test_segments_for_a_plain_receiver();
	test_segments_without_room();
	test_segments_refused();
	test_offload_headers_checked();
	test_random_chains();
	tv_free_all();
	return unit_done("test_virtio_net");
}
