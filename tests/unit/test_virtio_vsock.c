/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of virtio-vsock (virtio/vsock.c): Keel's router between the
 * vsock devices of two partitions, A (the fake partition of test_virtio.h)
 * and B (a second one on the same host memory, so one set of ring helpers
 * reads both), each driven like a guest driver drives it. What each test
 * checks is what the guests see: used rings, headers, bytes, status.
 *
 * Every test runs in a child with a deadline: the router holds spinlocks
 * while it forwards, and a lock taken twice spins forever; that must fail
 * the test, not hang `make unit`.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_virtio.h"

#define SLOT_A 4u
#define SLOT_B 5u
#define RXQ 0u
#define TXQ 1u
#define EVQ 2u
#define TEST_SECONDS 10u

#define TYPE_STREAM 1u
#define OP_REQUEST 1u
#define OP_RESPONSE 2u
#define OP_RST 3u
#define OP_SHUTDOWN 4u
#define OP_RW 5u
#define OP_CREDIT_UPDATE 6u
#define OP_CREDIT_REQUEST 7u
#define PORT_A 1025u
#define PORT_B 5000u
#define NO_CID 99u /* a CID nobody has */
#define PKT_MAX 65536u

/* Per device (0: A, 1: B): the rings of each queue, transmit and receive buffers. */
#define RING(dev, q) (RAM_BASE + 0x30000 + (dev)*0x20000ull + (q)*0x8000ull)
#define DESC(dev, q) RING(dev, q)
#define AVAIL(dev, q) (RING(dev, q) + 0x1000)
#define USED(dev, q) (RING(dev, q) + 0x2000)
#define TXBUF(dev, k) (RAM_BASE + 0x100000 + (dev)*0x80000ull + ((k) % 6) * 0x12000ull)
#define TXDATA(dev, k) (TXBUF(dev, k) + 0x40) /* the payload after the header */
#define RXBUF(dev, i) (RAM_BASE + 0x200000 + (dev)*0x100000ull + (i)*0x1100ull)
#define RXDATA(dev, i) (RXBUF(dev, i) + 0x40) /* a separate data descriptor's buffer */
#define RXIND(dev, i) (RAM_BASE + 0x3c0000 + (dev)*0x10000ull + (i)*0x40ull)

static struct partition part2; /* B's */
static u32 cid[2]; /* as vsock_create gave them */
static u32 qnum[2][3];
static u16 next_desc[2][3]; /* the driver's next free descriptor */
static u32 sent[2]; /* packets queued: picks the transmit buffer */

static struct partition *part_of(u32 dev)
{
	return dev ? &part2 : &part;
}

static u32 slot_of(u32 dev)
{
	return dev ? SLOT_B : SLOT_A;
}

static u32 irq_of(u32 dev)
{
	return KEEL_VIRTIO_IRQ_BASE + slot_of(dev);
}

static u64 base_of(u32 slot)
{
	return KEEL_VIRTIO_MMIO_BASE + slot * KEEL_VIRTIO_MMIO_STRIDE;
}

static struct vdev *vs(u32 dev)
{
	return vdev_find(part_of(dev), VDEV_MMIO, base_of(slot_of(dev)), 4);
}

/* ---- The guests' drivers ---- */

/* Reset, negotiate, set up the three queues (receive: @rxnum entries), DRIVER_OK. */
static void bring_up_with(u32 dev, u32 rxnum, u64 extra)
{
	struct vdev *d = vs(dev);
	const u32 num[3] = { rxnum, 16, 4 };

	CHECK(drv_negotiate(d, BIT(VIRTIO_F_VERSION_1) | extra));
	for (u32 q = 0; q < 3; q++) {
		memset(hva(RING(dev, q)), 0, 0x3000);
		qnum[dev][q] = num[q];
		next_desc[dev][q] = 0;
		drv_queue(d, q, num[q], DESC(dev, q), AVAIL(dev, q), USED(dev, q));
	}
	drv_ok(d);
	CHECK_EQ(rd(d, R_STATUS), 0xf);
	sent[dev] = 0;
}

static void bring_up(u32 dev, u32 rxnum)
{
	bring_up_with(dev, rxnum, 0);
}

/* Who may talk to whom: the descriptions of A and B. */
enum policy {
	APART, /* each on a network of its own */
	SHARED_NET, /* both on network 0 (and each on another) */
	A_MANAGES, /* A is the management partition */
	B_MANAGES,
};

static void set_policy(enum policy pol)
{
	switch (pol) {
	case APART:
		pdesc_add_device(&part.desc, KEEL_DEV_NET, 0, 0);
		pdesc_add_device(&part2.desc, KEEL_DEV_NET, 1, 0);
		break;
	case SHARED_NET:
		pdesc_add_device(&part.desc, KEEL_DEV_NET, 1, 0);
		pdesc_add_device(&part.desc, KEEL_DEV_NET, 0, 0);
		pdesc_add_device(&part2.desc, KEEL_DEV_NET, 0, 0);
		pdesc_add_device(&part2.desc, KEEL_DEV_NET, 2, 0);
		break;
	case A_MANAGES:
		part.desc.h.flags |= KEEL_PD_MANAGEMENT;
		break;
	case B_MANAGES:
		part2.desc.h.flags |= KEEL_PD_MANAGEMENT;
		break;
	}
}

/* B's partition: its own description, A's memory. */
static void part2_setup(void)
{
	memset(&part2, 0, sizeof(part2));
	part2.id = 3;
	strcpy(part2.desc.h.name, "vm2");
	pdesc_add_default_devices(&part2.desc, KEEL_NO_BACKEND, 0);
	part2.mem_count = 1;
	part2.mem[0] = part.mem[0];
}

/* @dev's vsock device with CID Keel picks, not driven yet. */
static void create(u32 dev)
{
	cid[dev] = KEEL_VSOCK_CID_AUTO;
	CHECK_EQ(vsock_create(part_of(dev), base_of(slot_of(dev)), irq_of(dev), &cid[dev]), 0);
}

/* A and B under @pol, both driven, receive rings of 16, no buffers posted. */
static void setup(enum policy pol)
{
	tv_setup();
	part2_setup();
	set_policy(pol);
	create(0);
	create(1);
	bring_up(0, 16);
	bring_up(1, 16);
}

/* A's devices go first: nobody is left waiting for a device that goes. */
static void teardown(void)
{
	vdev_destroy_all(&part);
	vdev_destroy_all(&part2);
	CHECK_EQ(pmm_free_bytes(), pool_free);
}

static u16 take_desc(u32 dev, u32 q, u32 n)
{
	u16 i = next_desc[dev][q];

	if (i + n > qnum[dev][q])
		i = 0;
	next_desc[dev][q] = (u16)(i + n);
	return i;
}

static void notify(u32 dev, u32 q)
{
	wr(vs(dev), R_QUEUE_NOTIFY, q);
}

/* @dev posts a receive buffer of @len bytes, one descriptor for header and data. */
static u16 post_rx(u32 dev, u32 len)
{
	u16 i = take_desc(dev, RXQ, 1);

	put_desc(DESC(dev, RXQ), i, RXBUF(dev, i), len, F_WRITE, 0);
	avail_add(AVAIL(dev, RXQ), qnum[dev][RXQ], i);
	return i;
}

/* A header and @len data bytes in two descriptors, as older Linux drivers post them. */
static u16 post_rx2(u32 dev, u32 len)
{
	u16 i = take_desc(dev, RXQ, 2);

	put_desc(DESC(dev, RXQ), i, RXBUF(dev, i), VSOCK_HDR, F_WRITE | F_NEXT, (u16)(i + 1));
	put_desc(DESC(dev, RXQ), i + 1u, RXDATA(dev, i), len, F_WRITE, 0);
	avail_add(AVAIL(dev, RXQ), qnum[dev][RXQ], i);
	return i;
}

/* The same two, behind one indirect descriptor. */
static u16 post_rx_indirect(u32 dev, u32 len)
{
	u16 i = take_desc(dev, RXQ, 1);

	put_desc(RXIND(dev, i), 0, RXBUF(dev, i), VSOCK_HDR, F_WRITE | F_NEXT, 1);
	put_desc(RXIND(dev, i), 1, RXDATA(dev, i), len, F_WRITE, 0);
	put_desc(DESC(dev, RXQ), i, RXIND(dev, i), 32, F_INDIRECT, 0);
	avail_add(AVAIL(dev, RXQ), qnum[dev][RXQ], i);
	return i;
}

static void post_rx_n(u32 dev, u32 n, u32 len)
{
	while (n--)
		post_rx(dev, len);
}

static struct vsock_hdr mk_hdr(u64 src, u64 dst, u16 op, u32 len)
{
	return (struct vsock_hdr){ .src_cid = src,
				   .dst_cid = dst,
				   .src_port = PORT_A,
				   .dst_port = PORT_B,
				   .len = len,
				   .type = TYPE_STREAM,
				   .op = op,
				   .flags = 0x5a,
				   .buf_alloc = 262144,
				   .fwd_cnt = 17 };
}

static u8 pattern(u32 k, u32 n)
{
	return (u8)(n * 7 + k * 13 + 1);
}

/*
 * @dev queues header @h and @len payload bytes (h->len is not looked at), in
 * two descriptors as Linux sends them; returns the chain's head. No notify.
 */
static u16 queue_tx(u32 dev, const struct vsock_hdr *h, u32 len)
{
	u32 k = sent[dev]++;
	u16 i = take_desc(dev, TXQ, len ? 2 : 1);
	u8 *data = hva(TXDATA(dev, k));

	memcpy(hva(TXBUF(dev, k)), h, VSOCK_HDR);
	for (u32 n = 0; n < len; n++)
		data[n] = pattern(k, n);
	put_desc(DESC(dev, TXQ), i, TXBUF(dev, k), VSOCK_HDR, len ? F_NEXT : 0, (u16)(i + 1));
	if (len)
		put_desc(DESC(dev, TXQ), i + 1u, TXDATA(dev, k), len, 0, 0);
	avail_add(AVAIL(dev, TXQ), qnum[dev][TXQ], i);
	return i;
}

static u16 send(u32 dev, const struct vsock_hdr *h, u32 len)
{
	u16 head = queue_tx(dev, h, len);

	notify(dev, TXQ);
	return head;
}

/* @dev sends a header with its own CID to @dst, @len payload bytes (len matching). */
static u16 send_to(u32 dev, u64 dst, u16 op, u32 len)
{
	struct vsock_hdr h = mk_hdr(cid[dev], dst, op, len);

	return send(dev, &h, len);
}

/* ---- What the guests see ---- */

static u32 used_idx(u32 dev, u32 q)
{
	return get16(USED(dev, q) + 2);
}

static u32 used_id(u32 dev, u32 q, u32 e)
{
	return get32(USED(dev, q) + 4 + 8ull * (e % qnum[dev][q]));
}

static u32 used_len(u32 dev, u32 q, u32 e)
{
	return get32(USED(dev, q) + 8 + 8ull * (e % qnum[dev][q]));
}

static u64 get64(gpa_t gpa)
{
	u64 v;

	memcpy(&v, hva(gpa), 8);
	return v;
}

/* The address of segment @n of the chain at descriptor @id of @table (direct or indirect). */
static gpa_t seg_addr(gpa_t table, u32 id, u32 n)
{
	u16 flags = get16(table + 16ull * id + 12);

	if (flags & F_INDIRECT)
		return seg_addr(get64(table + 16ull * id), 0, n);
	while (n--)
		id = get16(table + 16ull * id + 14);
	return get64(table + 16ull * id);
}

static bool has_next(gpa_t table, u32 id)
{
	u16 flags = get16(table + 16ull * id + 12);

	return (flags & F_INDIRECT) || (flags & F_NEXT);
}

/* The header of @dev's used receive entry @e. */
static struct vsock_hdr rx_hdr(u32 dev, u32 e)
{
	struct vsock_hdr h;

	memcpy(&h, hva(seg_addr(DESC(dev, RXQ), used_id(dev, RXQ, e), 0)), VSOCK_HDR);
	return h;
}

/* The data bytes of @dev's used receive entry @e: after the header, or the next descriptor. */
static const u8 *rx_data(u32 dev, u32 e)
{
	u32 id = used_id(dev, RXQ, e);

	if (has_next(DESC(dev, RXQ), id))
		return hva(seg_addr(DESC(dev, RXQ), id, 1));
	return hva(seg_addr(DESC(dev, RXQ), id, 0)) + VSOCK_HDR;
}

/* @got is @want with only len changed to @len. */
static bool same_but_len(const struct vsock_hdr *got, const struct vsock_hdr *want, u32 len)
{
	struct vsock_hdr w = *want;

	w.len = len;
	return memcmp(got, &w, VSOCK_HDR) == 0;
}

/* @dev's receive entry @e is the RST that answers @h. */
static bool is_rst_for(u32 dev, u32 e, const struct vsock_hdr *h)
{
	struct vsock_hdr got = rx_hdr(dev, e), want = {
		.src_cid = h->dst_cid,
		.dst_cid = h->src_cid,
		.src_port = h->dst_port,
		.dst_port = h->src_port,
		.type = h->type,
		.op = OP_RST,
	};

	return used_len(dev, RXQ, e) == VSOCK_HDR && memcmp(&got, &want, VSOCK_HDR) == 0;
}

/* ---- Tests ---- */

static void test_config_space(void)
{
	struct vdev *a, *b;

	setup(APART);
	a = vs(0);
	b = vs(1);
	CHECK_EQ(cid[0], 3);
	CHECK_EQ(cid[1], 4);
	CHECK_EQ(rd(a, R_DEVICE_ID), 19);
	CHECK_EQ(dev_features(a), BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC));
	for (u32 q = 0; q < 4; q++) {
		wr(a, R_QUEUE_SEL, q);
		CHECK_EQ(rd(a, R_QUEUE_NUM_MAX), q < 3 ? VIRTQ_MAX_SIZE : 0);
	}
	/* guest_cid: le64, whole or in parts; nothing after it. */
	CHECK_EQ(rdn(a, R_CONFIG, 8), 3);
	CHECK_EQ(rdn(b, R_CONFIG, 8), 4);
	CHECK_EQ(rdn(b, R_CONFIG, 4), 4);
	CHECK_EQ(rdn(b, R_CONFIG + 4, 4), 0);
	CHECK_EQ(rdn(b, R_CONFIG, 1), 4);
	CHECK_EQ(rdn(b, R_CONFIG + 1, 2), 0);
	CHECK_EQ(rdn(b, R_CONFIG + 8, 4), 0);
	CHECK_EQ(rdn(b, R_CONFIG + 4, 8), 0);
	teardown();

	/* The largest CID, byte by byte. */
	tv_setup();
	cid[0] = KEEL_VSOCK_CID_MAX;
	CHECK_EQ(vsock_create(&part, base_of(SLOT_A), irq_of(0), &cid[0]), 0);
	CHECK_EQ(cid[0], KEEL_VSOCK_CID_MAX);
	CHECK_EQ(rdn(vs(0), R_CONFIG, 8), 0xfffffffeull);
	CHECK_EQ(rdn(vs(0), R_CONFIG + 3, 1), 0xff);
	CHECK_EQ(rdn(vs(0), R_CONFIG + 0, 1), 0xfe);
	CHECK_EQ(rdn(vs(0), R_CONFIG + 4, 4), 0);
	tv_teardown();
}

/* A connection request and its answer, each as it was sent, each chain given back. */
static void test_request_and_response(void)
{
	struct vsock_hdr req, resp;
	u16 head;

	setup(SHARED_NET);
	post_rx(1, 4096 + VSOCK_HDR);
	post_rx(0, 4096 + VSOCK_HDR);
	CHECK(!irq_level[irq_of(1)]);
	req = mk_hdr(cid[0], cid[1], OP_REQUEST, 0);
	head = send(0, &req, 0);
	CHECK_EQ(used_idx(0, TXQ), 1);
	CHECK_EQ(used_id(0, TXQ, 0), head);
	CHECK_EQ(used_len(0, TXQ, 0), 0);
	CHECK_EQ(used_idx(1, RXQ), 1);
	CHECK_EQ(used_id(1, RXQ, 0), 0);
	CHECK_EQ(used_len(1, RXQ, 0), VSOCK_HDR);
	CHECK(!memcmp(hva(RXBUF(1, 0)), hva(TXBUF(0, 0)), VSOCK_HDR));
	CHECK(irq_level[irq_of(1)]);
	CHECK(irq_level[irq_of(0)]); /* its transmit chain came back */
	CHECK_EQ(rd(vs(1), R_INT_STATUS), VIRTIO_INT_USED);
	CHECK_EQ(used_idx(0, RXQ), 0); /* no RST */

	resp = mk_hdr(cid[1], cid[0], OP_RESPONSE, 0);
	resp.src_port = PORT_B;
	resp.dst_port = PORT_A;
	send(1, &resp, 0);
	CHECK_EQ(used_idx(1, TXQ), 1);
	CHECK_EQ(used_idx(0, RXQ), 1);
	CHECK(!memcmp(hva(RXBUF(0, 0)), &resp, VSOCK_HDR));
	CHECK(!needs_reset(vs(0)) && !needs_reset(vs(1)));

	/* A header alone fits a 44-byte buffer. */
	post_rx(1, VSOCK_HDR);
	send_to(0, cid[1], OP_SHUTDOWN, 0);
	CHECK_EQ(used_idx(1, RXQ), 2);
	CHECK_EQ(rx_hdr(1, 1).op, OP_SHUTDOWN);
	CHECK(!needs_reset(vs(1)));
	teardown();
}

/* Received pieces @first.. of a @len-byte packet @k from A: each its own header, bytes in order. */
static bool pieces_ok(const struct vsock_hdr *h, u32 k, u32 first, u32 npieces, u32 piece, u32 len)
{
	u32 off = 0;

	for (u32 e = first; e < first + npieces; e++) {
		u32 n = MIN(piece, len - off);
		struct vsock_hdr got = rx_hdr(1, e);

		if (used_len(1, RXQ, e) != VSOCK_HDR + n || !same_but_len(&got, h, n) ||
		    memcmp(rx_data(1, e), hva(TXDATA(0, k) + off), n))
			return false;
		off += n;
	}
	return off == len;
}

/* 10000 bytes into 4 KiB buffers: 4096, 4096, 1808, each with its header. */
static void test_rw_split(void)
{
	struct vsock_hdr h;

	setup(SHARED_NET);
	for (u32 i = 0; i < 4; i++)
		post_rx2(1, 4096);
	h = mk_hdr(cid[0], cid[1], OP_RW, 10000);
	send(0, &h, 10000);
	CHECK_EQ(used_idx(0, TXQ), 1);
	CHECK_EQ(used_idx(1, RXQ), 3);
	CHECK_EQ(used_len(1, RXQ, 0), VSOCK_HDR + 4096);
	CHECK_EQ(used_len(1, RXQ, 1), VSOCK_HDR + 4096);
	CHECK_EQ(used_len(1, RXQ, 2), VSOCK_HDR + 1808);
	CHECK_EQ(rx_hdr(1, 0).len, 4096);
	CHECK_EQ(rx_hdr(1, 2).len, 1808);
	CHECK(pieces_ok(&h, 0, 0, 3, 4096, 10000));
	/* The fourth buffer is still B's: the next packet takes it. */
	h = mk_hdr(cid[0], cid[1], OP_RW, 1);
	send(0, &h, 1);
	CHECK_EQ(used_idx(1, RXQ), 4);
	CHECK_EQ(used_id(1, RXQ, 3), 6);
	CHECK(pieces_ok(&h, 1, 3, 1, 4096, 1));
	teardown();

	/* One-descriptor buffers, indirect ones, and exactly 64 KiB into 16 of them. */
	setup(SHARED_NET);
	bring_up_with(1, 16, BIT(VIRTIO_F_INDIRECT_DESC));
	post_rx_indirect(1, 3000);
	post_rx_indirect(1, 3000);
	h = mk_hdr(cid[0], cid[1], OP_RW, 5999);
	send(0, &h, 5999);
	CHECK_EQ(used_idx(1, RXQ), 2);
	CHECK(pieces_ok(&h, 0, 0, 2, 3000, 5999));
	bring_up(1, 16);
	post_rx_n(1, 16, VSOCK_HDR + 4096);
	h = mk_hdr(cid[0], cid[1], OP_RW, PKT_MAX);
	send(0, &h, PKT_MAX);
	CHECK_EQ(used_idx(0, TXQ), 2);
	CHECK_EQ(used_idx(1, RXQ), 16);
	CHECK(pieces_ok(&h, 1, 0, 16, 4096, PKT_MAX));
	CHECK(!needs_reset(vs(0)) && !needs_reset(vs(1)));
	teardown();
}

/*
 * B without buffers: A's packets stay in its queue, in order, until B posts
 * some and notifies; A meanwhile still receives from B.
 */
static void test_blocked_sender_resumes(void)
{
	struct vsock_hdr h[3];

	setup(SHARED_NET);
	h[0] = mk_hdr(cid[0], cid[1], OP_REQUEST, 0);
	h[1] = mk_hdr(cid[0], cid[1], OP_RW, 100);
	h[2] = mk_hdr(cid[0], cid[1], OP_RW, 5000);
	queue_tx(0, &h[0], 0);
	queue_tx(0, &h[1], 100);
	queue_tx(0, &h[2], 5000);
	notify(0, TXQ);
	CHECK_EQ(used_idx(0, TXQ), 0);
	CHECK_EQ(used_idx(1, RXQ), 0);
	CHECK_EQ(used_idx(0, RXQ), 0); /* no RST: it waits */
	notify(0, TXQ); /* asking again changes nothing */
	CHECK_EQ(used_idx(0, TXQ), 0);
	CHECK(!needs_reset(vs(0)) && !needs_reset(vs(1)));

	/* A waits for B only: B's packet to A goes through. */
	post_rx(0, 4096 + VSOCK_HDR);
	send_to(1, cid[0], OP_CREDIT_UPDATE, 0);
	CHECK_EQ(used_idx(0, RXQ), 1);
	CHECK_EQ(used_idx(1, TXQ), 1);

	/* One buffer: the first packet, after B's notify; the second waits. */
	post_rx(1, 4096 + VSOCK_HDR);
	CHECK_EQ(used_idx(1, RXQ), 0); /* nothing before the notify */
	notify(1, RXQ);
	CHECK_EQ(used_idx(1, RXQ), 1);
	CHECK_EQ(used_idx(0, TXQ), 1);
	CHECK(!memcmp(hva(RXBUF(1, 0)), &h[0], VSOCK_HDR));
	/* The next buffer: the second packet; the third needs two and waits for both. */
	post_rx(1, 4096 + VSOCK_HDR);
	notify(1, RXQ);
	CHECK_EQ(used_idx(1, RXQ), 2);
	CHECK_EQ(used_idx(0, TXQ), 2);
	CHECK(pieces_ok(&h[1], 1, 1, 1, 4096, 100));
	post_rx(1, 4096 + VSOCK_HDR);
	notify(1, RXQ);
	CHECK_EQ(used_idx(1, RXQ), 2);
	CHECK_EQ(used_idx(0, TXQ), 2);
	post_rx(1, 4096 + VSOCK_HDR);
	notify(1, RXQ);
	CHECK_EQ(used_idx(1, RXQ), 4);
	CHECK_EQ(used_idx(0, TXQ), 3);
	CHECK(pieces_ok(&h[2], 2, 2, 2, 4096, 5000));
	/* A's chains came back in the order it sent them. */
	CHECK_EQ(used_id(0, TXQ, 0), 0);
	CHECK_EQ(used_id(0, TXQ, 1), 1);
	CHECK_EQ(used_id(0, TXQ, 2), 3);
	CHECK_EQ(used_idx(0, RXQ), 1); /* and no RST */
	teardown();
}

/* Each waits for the other's buffers: the first to post some frees both. */
static void test_mutual_wait(void)
{
	setup(SHARED_NET);
	send_to(0, cid[1], OP_REQUEST, 0);
	send_to(1, cid[0], OP_REQUEST, 0);
	CHECK_EQ(used_idx(0, TXQ), 0);
	CHECK_EQ(used_idx(1, TXQ), 0);
	post_rx(0, 4096 + VSOCK_HDR);
	notify(0, RXQ);
	CHECK_EQ(used_idx(1, TXQ), 1);
	CHECK_EQ(used_idx(0, RXQ), 1);
	CHECK_EQ(used_idx(0, TXQ), 0);
	post_rx(1, 4096 + VSOCK_HDR);
	notify(1, RXQ);
	CHECK_EQ(used_idx(0, TXQ), 1);
	CHECK_EQ(used_idx(1, RXQ), 1);
	CHECK(!memcmp(hva(RXBUF(1, 0)), hva(TXBUF(0, 0)), VSOCK_HDR));
	CHECK(!memcmp(hva(RXBUF(0, 0)), hva(TXBUF(1, 0)), VSOCK_HDR));
	teardown();
}

/*
 * Chains cut anywhere: A's header and payload in one descriptor, or the
 * header over two; B's buffers with the header split and the data in
 * pieces of odd sizes. What arrives is the same.
 */
static void test_odd_chains(void)
{
	struct vsock_hdr h, got;
	const u8 *rx;
	u16 i;

	setup(SHARED_NET);
	rx = hva(RXBUF(1, 0));
	/* B: 10 + 34 bytes of header, then 100 + 3000 of data; and one more buffer like it. */
	for (u32 b = 0; b < 2; b++) {
		i = take_desc(1, RXQ, 4);
		put_desc(DESC(1, RXQ), i, RXBUF(1, 0) + 0x2000 * b, 10, F_WRITE | F_NEXT, i + 1);
		put_desc(DESC(1, RXQ), i + 1u, RXBUF(1, 0) + 0x2000 * b + 0x10, 34,
			 F_WRITE | F_NEXT, i + 2);
		put_desc(DESC(1, RXQ), i + 2u, RXBUF(1, 0) + 0x2000 * b + 0x40, 100,
			 F_WRITE | F_NEXT, i + 3);
		put_desc(DESC(1, RXQ), i + 3u, RXBUF(1, 0) + 0x2000 * b + 0x100, 3000, F_WRITE, 0);
		avail_add(AVAIL(1, RXQ), 16, i);
	}
	/* A: header and 3200 bytes in one descriptor. */
	h = mk_hdr(cid[0], cid[1], OP_RW, 3200);
	memcpy(hva(TXBUF(0, 0)), &h, VSOCK_HDR);
	for (u32 n = 0; n < 3200; n++)
		hva(TXBUF(0, 0))[VSOCK_HDR + n] = pattern(9, n);
	put_desc(DESC(0, TXQ), 0, TXBUF(0, 0), VSOCK_HDR + 3200, 0, 0);
	avail_add(AVAIL(0, TXQ), 16, 0);
	notify(0, TXQ);
	CHECK_EQ(used_idx(0, TXQ), 1);
	CHECK_EQ(used_idx(1, RXQ), 2);
	CHECK_EQ(used_len(1, RXQ, 0), VSOCK_HDR + 3100);
	CHECK_EQ(used_len(1, RXQ, 1), VSOCK_HDR + 100);
	memcpy(&got, rx, 10);
	memcpy((u8 *)&got + 10, rx + 0x10, 34);
	CHECK(same_but_len(&got, &h, 3100));
	CHECK(!memcmp(rx + 0x40, hva(TXBUF(0, 0)) + VSOCK_HDR, 100));
	CHECK(!memcmp(rx + 0x100, hva(TXBUF(0, 0)) + VSOCK_HDR + 100, 3000));
	memcpy(&got, rx + 0x2000, 10);
	memcpy((u8 *)&got + 10, rx + 0x2010, 34);
	CHECK(same_but_len(&got, &h, 100));
	CHECK(!memcmp(rx + 0x2040, hva(TXBUF(0, 0)) + VSOCK_HDR + 3100, 100));

	/* A's header over two descriptors (30 + 14), no payload. */
	h = mk_hdr(cid[0], cid[1], OP_SHUTDOWN, 0);
	memcpy(hva(TXBUF(0, 1)), &h, VSOCK_HDR);
	put_desc(DESC(0, TXQ), 1, TXBUF(0, 1), 30, F_NEXT, 2);
	put_desc(DESC(0, TXQ), 2, TXBUF(0, 1) + 30, 14, 0, 0);
	avail_add(AVAIL(0, TXQ), 16, 1);
	post_rx(1, VSOCK_HDR);
	notify(0, TXQ);
	CHECK_EQ(used_idx(0, TXQ), 2);
	CHECK_EQ(used_idx(1, RXQ), 3);
	CHECK(!memcmp(hva(RXBUF(1, 8)), &h, VSOCK_HDR));
	CHECK(!needs_reset(vs(0)) && !needs_reset(vs(1)));
	teardown();
}

/* Packets with another source CID: dropped, no answer, the chain back. */
static void test_spoofed_source(void)
{
	struct vsock_hdr h;

	setup(SHARED_NET);
	post_rx_n(0, 2, 4096 + VSOCK_HDR);
	post_rx_n(1, 2, 4096 + VSOCK_HDR);
	h = mk_hdr(cid[1], cid[1], OP_REQUEST, 0);
	send(0, &h, 0);
	h = mk_hdr(KEEL_VSOCK_CID_HOST, cid[1], OP_RW, 10);
	send(0, &h, 10);
	h = mk_hdr((1ull << 32) | cid[0], cid[1], OP_REQUEST, 0);
	send(0, &h, 0);
	h = mk_hdr(cid[1], cid[1], 0x77, 0); /* spoofed and refused: dropped, no RST */
	send(0, &h, 0);
	CHECK_EQ(used_idx(0, TXQ), 4);
	CHECK_EQ(used_idx(1, RXQ), 0);
	CHECK_EQ(used_idx(0, RXQ), 0);
	CHECK(!needs_reset(vs(0)));
	/* The real one still goes through. */
	send_to(0, cid[1], OP_REQUEST, 0);
	CHECK_EQ(used_idx(1, RXQ), 1);
	teardown();
}

/* Chains that break the device's contract: A needs reset, B sees nothing. */
static void test_malformed_sender(void)
{
	static const struct {
		u32 hdr_len; /* bytes of the first descriptor */
		u32 claimed, payload; /* hdr.len and the bytes after the header */
	} bad[] = {
		{ 20, 0, 0 }, /* not a whole header */
		{ VSOCK_HDR - 1, 0, 0 },
		{ VSOCK_HDR, 100, 50 },
		{ VSOCK_HDR, 50, 100 },
		{ VSOCK_HDR, 0, 1 },
		{ VSOCK_HDR, PKT_MAX + 1, PKT_MAX + 1 },
		{ VSOCK_HDR, 0xffffffffu, 10 },
	};

	setup(SHARED_NET);
	post_rx_n(1, 8, 4096 + VSOCK_HDR);
	post_rx_n(0, 8, 4096 + VSOCK_HDR);
	for (u32 i = 0; i < ARRAY_SIZE(bad); i++) {
		struct vsock_hdr h = mk_hdr(cid[0], cid[1], OP_RW, bad[i].claimed);
		u32 k = sent[0]++, done = used_idx(0, TXQ);
		u16 head = take_desc(0, TXQ, 2);

		memcpy(hva(TXBUF(0, k)), &h, VSOCK_HDR);
		put_desc(DESC(0, TXQ), head, TXBUF(0, k), bad[i].hdr_len,
			 bad[i].payload ? F_NEXT : 0, (u16)(head + 1));
		put_desc(DESC(0, TXQ), head + 1u, TXDATA(0, k), bad[i].payload, 0, 0);
		avail_add(AVAIL(0, TXQ), 16, head);
		notify(0, TXQ);
		CHECK(needs_reset(vs(0)));
		CHECK(irq_level[irq_of(0)]); /* the config interrupt says so */
		CHECK_EQ(rd(vs(0), R_INT_STATUS) & VIRTIO_INT_CONFIG, VIRTIO_INT_CONFIG);
		CHECK_EQ(used_idx(0, TXQ), done);
		CHECK_EQ(used_idx(0, RXQ), 0);
		CHECK_EQ(used_idx(1, RXQ), 0);
		CHECK(!needs_reset(vs(1)));
		/* A reset brings it back: a good packet goes through. */
		bring_up(0, 16);
		send_to(0, cid[1], OP_REQUEST, 0);
		CHECK_EQ(used_idx(1, RXQ), 1);
		bring_up(1, 16);
		post_rx_n(1, 8, 4096 + VSOCK_HDR);
	}
	/* A transmit chain the device may only write: no header to read. */
	put_desc(DESC(0, TXQ), 0, TXBUF(0, 0), VSOCK_HDR, F_WRITE, 0);
	avail_add(AVAIL(0, TXQ), 16, 0);
	notify(0, TXQ);
	CHECK(needs_reset(vs(0)));
	/* A transmit ring index 17 ahead of a 16-entry ring. */
	bring_up(0, 16);
	put16(AVAIL(0, TXQ) + 2, 17);
	notify(0, TXQ);
	CHECK(needs_reset(vs(0)));
	CHECK_EQ(used_idx(0, TXQ), 0);
	/* A descriptor outside RAM. */
	bring_up(0, 16);
	put_desc(DESC(0, TXQ), 0, RAM_BASE + RAM_SIZE - 8, VSOCK_HDR, 0, 0);
	avail_add(AVAIL(0, TXQ), 16, 0);
	notify(0, TXQ);
	CHECK(needs_reset(vs(0)));
	CHECK_EQ(used_idx(1, RXQ), 0);
	CHECK(!needs_reset(vs(1)));
	teardown();
}

/* A packet that reaches nobody gets an RST in A's receive queue; an RST gets none. */
static void test_rst_for_unknown_cid(void)
{
	struct vsock_hdr h;

	setup(SHARED_NET);
	post_rx_n(0, 4, 4096 + VSOCK_HDR);
	post_rx_n(1, 4, 4096 + VSOCK_HDR);
	h = mk_hdr(cid[0], NO_CID, OP_REQUEST, 0);
	send(0, &h, 0);
	CHECK_EQ(used_idx(0, TXQ), 1);
	CHECK_EQ(used_idx(0, RXQ), 1);
	CHECK(is_rst_for(0, 0, &h));
	CHECK_EQ(used_idx(1, RXQ), 0);
	h = mk_hdr(cid[0], NO_CID, OP_RST, 0);
	send(0, &h, 0);
	CHECK_EQ(used_idx(0, TXQ), 2);
	CHECK_EQ(used_idx(0, RXQ), 1);
	/* The host's CID with no management partition; CIDs past 32 bits (B's in the low half). */
	h = mk_hdr(cid[0], KEEL_VSOCK_CID_HOST, OP_RW, 7);
	send(0, &h, 7);
	CHECK_EQ(used_idx(0, RXQ), 2);
	CHECK(is_rst_for(0, 1, &h));
	h = mk_hdr(cid[0], (1ull << 32) | cid[1], OP_REQUEST, 0);
	send(0, &h, 0);
	CHECK_EQ(used_idx(0, RXQ), 3);
	CHECK(is_rst_for(0, 2, &h));
	h = mk_hdr(cid[0], 0xffffffffull, OP_REQUEST, 0);
	send(0, &h, 0);
	CHECK_EQ(used_idx(0, RXQ), 4);
	CHECK_EQ(used_idx(1, RXQ), 0);
	CHECK_EQ(used_idx(0, TXQ), 5);

	/* No receive buffer for the RST: A waits on itself until it posts one. */
	send_to(0, NO_CID, OP_REQUEST, 0);
	CHECK_EQ(used_idx(0, TXQ), 5);
	send_to(0, cid[1], OP_REQUEST, 0); /* behind it: waits too */
	CHECK_EQ(used_idx(1, RXQ), 0);
	post_rx(0, 4096 + VSOCK_HDR);
	notify(0, RXQ);
	CHECK_EQ(used_idx(0, RXQ), 5);
	CHECK_EQ(used_idx(0, TXQ), 7);
	CHECK_EQ(used_idx(1, RXQ), 1);
	CHECK(!needs_reset(vs(0)) && !needs_reset(vs(1)));
	teardown();
}

/* Types and operations Keel does not route: RST, the type as it came. */
static void test_rst_for_refused(void)
{
	static const struct {
		u16 type, op;
		u32 len;
	} bad[] = {
		{ 2, OP_REQUEST, 0 }, /* SOCK_SEQPACKET */
		{ 0, OP_REQUEST, 0 },
		{ 0xffff, OP_RW, 4 },
		{ TYPE_STREAM, 0, 0 },
		{ TYPE_STREAM, 8, 0 },
		{ TYPE_STREAM, 0xffff, 0 },
		{ TYPE_STREAM, OP_REQUEST, 10 }, /* payload on anything but RW */
		{ TYPE_STREAM, OP_CREDIT_REQUEST, 1 },
	};

	setup(SHARED_NET);
	post_rx_n(1, 4, 4096 + VSOCK_HDR);
	for (u32 i = 0; i < ARRAY_SIZE(bad); i++) {
		struct vsock_hdr h = mk_hdr(cid[0], cid[1], bad[i].op, bad[i].len);

		h.type = bad[i].type;
		post_rx(0, 4096 + VSOCK_HDR);
		send(0, &h, bad[i].len);
		CHECK_EQ(used_idx(0, TXQ), i + 1);
		CHECK_EQ(used_idx(0, RXQ), i + 1);
		CHECK(is_rst_for(0, i, &h));
		CHECK_EQ(used_idx(1, RXQ), 0);
		CHECK(!needs_reset(vs(0)));
	}
	/* Every operation from REQUEST to CREDIT_REQUEST passes, RST too. */
	for (u16 op = OP_REQUEST; op <= OP_CREDIT_REQUEST; op++) {
		if (op == OP_RW)
			continue;
		bring_up(1, 16);
		post_rx(1, VSOCK_HDR);
		send_to(0, cid[1], op, 0);
		CHECK_EQ(used_idx(1, RXQ), 1);
		CHECK_EQ(rx_hdr(1, 0).op, op);
	}
	CHECK_EQ(used_idx(0, RXQ), ARRAY_SIZE(bad));
	teardown();
}

/* Sends A→B and B→A; true if each arrived as sent. */
static bool both_ways(void)
{
	bool ok;

	post_rx(0, 4096 + VSOCK_HDR);
	post_rx(1, 4096 + VSOCK_HDR);
	send_to(0, cid[1], OP_REQUEST, 0);
	send_to(1, cid[0], OP_REQUEST, 0);
	ok = used_idx(0, RXQ) == 1 && used_idx(1, RXQ) == 1 &&
	     !memcmp(hva(RXBUF(1, 0)), hva(TXBUF(0, 0)), VSOCK_HDR) &&
	     !memcmp(hva(RXBUF(0, 0)), hva(TXBUF(1, 0)), VSOCK_HDR);
	teardown();
	return ok;
}

/* The policy: management talks to all, others to whom they share a network with. */
static void test_policy(void)
{
	setup(SHARED_NET);
	CHECK(both_ways());
	setup(A_MANAGES);
	CHECK_EQ(cid[0], KEEL_VSOCK_CID_HOST);
	CHECK_EQ(cid[1], 3);
	CHECK(both_ways());
	setup(B_MANAGES);
	CHECK_EQ(cid[1], KEEL_VSOCK_CID_HOST);
	CHECK(both_ways());

	/* Apart: each may still reach itself; to the other, RST, and B sees nothing. */
	setup(APART);
	post_rx_n(0, 2, 4096 + VSOCK_HDR);
	post_rx(1, 4096 + VSOCK_HDR);
	send_to(0, cid[0], OP_REQUEST, 0);
	CHECK_EQ(used_idx(0, RXQ), 1);
	CHECK(!memcmp(hva(RXBUF(0, 0)), hva(TXBUF(0, 0)), VSOCK_HDR));
	{
		struct vsock_hdr h = mk_hdr(cid[0], cid[1], OP_REQUEST, 0);

		send(0, &h, 0);
		CHECK_EQ(used_idx(0, TXQ), 2);
		CHECK_EQ(used_idx(0, RXQ), 2);
		CHECK(is_rst_for(0, 1, &h));
		CHECK_EQ(used_idx(1, RXQ), 0);
	}
	teardown();
}

/* B's broken receive queue: B needs reset, A gets RST and goes on. */
static void test_hostile_receiver(void)
{
	for (u32 c = 0; c < 6; c++) {
		struct vsock_hdr h;

		setup(SHARED_NET);
		h = mk_hdr(cid[0], cid[1], c == 1 ? OP_RW : OP_REQUEST, c == 1);
		post_rx(0, 4096 + VSOCK_HDR);
		switch (c) {
		case 0: /* shorter than a header */
			post_rx(1, VSOCK_HDR - 1);
			break;
		case 1: /* a header and no room for the byte after it */
			post_rx(1, VSOCK_HDR);
			break;
		case 2: /* not writable */
			put_desc(DESC(1, RXQ), 0, RXBUF(1, 0), 4096, 0, 0);
			avail_add(AVAIL(1, RXQ), 16, 0);
			break;
		case 3: /* the ring index 17 ahead */
			put16(AVAIL(1, RXQ) + 2, 17);
			break;
		case 4: /* a descriptor outside RAM */
			put_desc(DESC(1, RXQ), 0, RAM_BASE + RAM_SIZE - 8, 4096, F_WRITE, 0);
			avail_add(AVAIL(1, RXQ), 16, 0);
			break;
		case 5: /* a head past the descriptor table */
			put16(AVAIL(1, RXQ) + 4, 16);
			put16(AVAIL(1, RXQ) + 2, 1);
			break;
		}
		send(0, &h, h.len);
		CHECK(needs_reset(vs(1)));
		CHECK(!needs_reset(vs(0)));
		CHECK_EQ(used_idx(1, RXQ), 0);
		CHECK_EQ(used_idx(0, TXQ), 1);
		CHECK_EQ(used_idx(0, RXQ), 1);
		CHECK(is_rst_for(0, 0, &h));
		/* B, not driven until reset: the next packet gets RST too, no wait. */
		post_rx(0, 4096 + VSOCK_HDR);
		send_to(0, cid[1], OP_REQUEST, 0);
		CHECK_EQ(used_idx(0, RXQ), 2);
		CHECK_EQ(used_idx(0, TXQ), 2);
		teardown();
	}
}

/* A packet that needs more buffers than B's ring holds can never pass: RST, no wait. */
static void test_ring_too_small(void)
{
	struct vsock_hdr h;

	setup(SHARED_NET);
	bring_up(1, 4);
	post_rx_n(0, 2, 4096 + VSOCK_HDR);
	post_rx_n(1, 2, 4096 + VSOCK_HDR);
	h = mk_hdr(cid[0], cid[1], OP_RW, PKT_MAX);
	send(0, &h, PKT_MAX);
	/* Two of four posted: more may come, so it waits. */
	CHECK_EQ(used_idx(0, TXQ), 0);
	CHECK_EQ(used_idx(0, RXQ), 0);
	post_rx_n(1, 2, 4096 + VSOCK_HDR);
	notify(1, RXQ);
	CHECK_EQ(used_idx(0, TXQ), 1);
	CHECK_EQ(used_idx(0, RXQ), 1);
	CHECK(is_rst_for(0, 0, &h));
	CHECK_EQ(used_idx(1, RXQ), 0);
	CHECK(!needs_reset(vs(1)));
	/* B's buffers are still there for what fits. */
	h = mk_hdr(cid[0], cid[1], OP_RW, 4 * 4096);
	send(0, &h, 4 * 4096);
	CHECK_EQ(used_idx(1, RXQ), 4);
	CHECK(pieces_ok(&h, 1, 0, 4, 4096, 4 * 4096));
	teardown();
}

/*
 * The same with buffers of two descriptors each (header, data), as a
 * driver without indirect descriptors posts them: a 4-entry ring holds
 * two, so a packet that needs 16 can never pass either.
 */
static void test_ring_too_small_for_chains(void)
{
	struct vsock_hdr h;

	setup(SHARED_NET);
	bring_up(1, 4);
	post_rx(0, 4096 + VSOCK_HDR);
	post_rx2(1, 4096);
	post_rx2(1, 4096);
	notify(1, RXQ);
	h = mk_hdr(cid[0], cid[1], OP_RW, PKT_MAX);
	send(0, &h, PKT_MAX);
	notify(1, RXQ);
	CHECK_EQ(used_idx(0, TXQ), 1);
	CHECK_EQ(used_idx(0, RXQ), 1);
	CHECK(is_rst_for(0, 0, &h));
	CHECK_EQ(used_idx(1, RXQ), 0);
	teardown();
}

/* B goes away while A waits for its buffers: A's packet gets RST, and all memory comes back. */
static void test_receiver_destroyed(void)
{
	struct vsock_hdr h;

	setup(SHARED_NET);
	post_rx_n(0, 2, 4096 + VSOCK_HDR);
	h = mk_hdr(cid[0], cid[1], OP_RW, 3000);
	send(0, &h, 3000);
	CHECK_EQ(used_idx(0, TXQ), 0);
	vdev_destroy_all(&part2);
	CHECK_EQ(used_idx(0, TXQ), 1);
	CHECK_EQ(used_idx(0, RXQ), 1);
	CHECK(is_rst_for(0, 0, &h));
	CHECK(!needs_reset(vs(0)));
	/* Its CID is free again; a device not driven yet takes nothing: RST. */
	part2_setup();
	set_policy(SHARED_NET);
	cid[1] = 4;
	CHECK_EQ(vsock_create(&part2, base_of(SLOT_B), irq_of(1), &cid[1]), 0);
	send_to(0, cid[1], OP_REQUEST, 0);
	CHECK_EQ(used_idx(0, TXQ), 2);
	CHECK_EQ(used_idx(0, RXQ), 2);
	teardown();

	/* The sender goes first: B's notify after that finds nobody waiting. */
	setup(SHARED_NET);
	send_to(0, cid[1], OP_REQUEST, 0);
	vdev_destroy_all(&part);
	post_rx(1, 4096 + VSOCK_HDR);
	notify(1, RXQ);
	CHECK_EQ(used_idx(1, RXQ), 0);
	teardown();
}

/* The fake clock (test_virtio.h) moves 1 us a reading: read it @seconds on. */
static void clock_advance(u32 seconds)
{
	for (u64 i = 0; i < seconds * 1000000ull; i++)
		arch_time_ns();
}

/*
 * A receiver that takes nothing for 10 s: the packet waiting for it is
 * answered with RST at the next notify of any device, and the sender's
 * queue moves on. Waiting for one's own buffers never expires.
 */
static void test_stalled_receiver_expires(void)
{
	struct vsock_hdr h;

	setup(SHARED_NET);
	post_rx(0, 4096 + VSOCK_HDR);
	h = mk_hdr(cid[0], cid[1], OP_RW, 100);
	queue_tx(0, &h, 100);
	send_to(0, cid[1], OP_SHUTDOWN, 0);
	clock_advance(9);
	notify(1, EVQ);
	CHECK_EQ(used_idx(0, TXQ), 0);
	CHECK_EQ(used_idx(0, RXQ), 0);
	clock_advance(2);
	notify(1, EVQ);
	CHECK_EQ(used_idx(0, TXQ), 1);
	CHECK_EQ(used_idx(0, RXQ), 1);
	CHECK(is_rst_for(0, 0, &h));
	CHECK_EQ(used_idx(1, EVQ), 0); /* Keel sends no events */
	/* The next packet waits anew, and goes when B takes it. */
	clock_advance(9);
	notify(1, EVQ);
	CHECK_EQ(used_idx(0, TXQ), 1);
	post_rx(1, 4096 + VSOCK_HDR);
	notify(1, RXQ);
	CHECK_EQ(used_idx(0, TXQ), 2);
	CHECK_EQ(used_idx(1, RXQ), 1);
	CHECK_EQ(rx_hdr(1, 0).op, OP_SHUTDOWN);
	/* An RST for A, A without buffers: it waits as long as A takes. */
	send_to(0, NO_CID, OP_REQUEST, 0);
	clock_advance(11);
	notify(1, EVQ);
	notify(0, TXQ);
	CHECK_EQ(used_idx(0, TXQ), 2);
	post_rx(0, 4096 + VSOCK_HDR);
	notify(0, RXQ);
	CHECK_EQ(used_idx(0, TXQ), 3);
	CHECK_EQ(used_idx(0, RXQ), 2);
	CHECK(!needs_reset(vs(0)) && !needs_reset(vs(1)));
	teardown();
}

/* The header check alone, on hostile headers. */
static void test_hdr_check(void)
{
	struct vsock_hdr h = mk_hdr(3, 4, OP_REQUEST, 0);

	CHECK_EQ(vsock_hdr_check(&h, 0, 3), VSOCK_HDR_OK);
	/* len and the chain disagree, or too long: malformed, before anything else. */
	CHECK_EQ(vsock_hdr_check(&h, 1, 3), VSOCK_HDR_MALFORMED);
	CHECK_EQ(vsock_hdr_check(&h, 1ull << 32, 3), VSOCK_HDR_MALFORMED);
	CHECK_EQ(vsock_hdr_check(&h, 1, 4), VSOCK_HDR_MALFORMED);
	h = mk_hdr(3, 4, OP_RW, PKT_MAX);
	CHECK_EQ(vsock_hdr_check(&h, PKT_MAX, 3), VSOCK_HDR_OK);
	h.len = PKT_MAX + 1;
	CHECK_EQ(vsock_hdr_check(&h, PKT_MAX + 1, 3), VSOCK_HDR_MALFORMED);
	h.len = 0xffffffffu;
	CHECK_EQ(vsock_hdr_check(&h, 0xffffffffu, 3), VSOCK_HDR_MALFORMED);
	CHECK_EQ(vsock_hdr_check(&h, 0xffffffffu + (1ull << 32), 3), VSOCK_HDR_MALFORMED);
	/* Another source: spoofed, whatever else it is. */
	h = mk_hdr(4, 4, OP_REQUEST, 0);
	CHECK_EQ(vsock_hdr_check(&h, 0, 3), VSOCK_HDR_SPOOFED);
	h.src_cid = (1ull << 32) | 3;
	CHECK_EQ(vsock_hdr_check(&h, 0, 3), VSOCK_HDR_SPOOFED);
	h.src_cid = 4;
	h.op = 0;
	h.type = 9;
	CHECK_EQ(vsock_hdr_check(&h, 0, 3), VSOCK_HDR_SPOOFED);
	/* What Keel does not route. */
	h = mk_hdr(3, 4, OP_REQUEST, 0);
	for (u32 t = 0; t < 4; t++) {
		h.type = (u16)t;
		CHECK_EQ(vsock_hdr_check(&h, 0, 3),
			 t == TYPE_STREAM ? VSOCK_HDR_OK : VSOCK_HDR_REFUSED);
	}
	h.type = 0xffff;
	CHECK_EQ(vsock_hdr_check(&h, 0, 3), VSOCK_HDR_REFUSED);
	h.type = TYPE_STREAM;
	for (u32 op = 0; op <= 9; op++) {
		h.op = (u16)op;
		CHECK_EQ(vsock_hdr_check(&h, 0, 3),
			 op >= 1 && op <= 7 ? VSOCK_HDR_OK : VSOCK_HDR_REFUSED);
	}
	h.op = 0xffff;
	CHECK_EQ(vsock_hdr_check(&h, 0, 3), VSOCK_HDR_REFUSED);
	for (u16 op = OP_REQUEST; op <= OP_CREDIT_REQUEST; op++) {
		h = mk_hdr(3, 4, op, 1);
		CHECK_EQ(vsock_hdr_check(&h, 1, 3), op == OP_RW ? VSOCK_HDR_OK : VSOCK_HDR_REFUSED);
	}
	/* Destination: up to KEEL_VSOCK_CID_MAX; the reserved ones are for the router to find. */
	h = mk_hdr(3, KEEL_VSOCK_CID_MAX, OP_REQUEST, 0);
	CHECK_EQ(vsock_hdr_check(&h, 0, 3), VSOCK_HDR_OK);
	h.dst_cid = 0;
	CHECK_EQ(vsock_hdr_check(&h, 0, 3), VSOCK_HDR_OK);
	h.dst_cid = 0xffffffffull;
	CHECK_EQ(vsock_hdr_check(&h, 0, 3), VSOCK_HDR_REFUSED);
	h.dst_cid = 1ull << 32;
	CHECK_EQ(vsock_hdr_check(&h, 0, 3), VSOCK_HDR_REFUSED);
	h.dst_cid = ~0ull;
	CHECK_EQ(vsock_hdr_check(&h, 0, 3), VSOCK_HDR_REFUSED);
	/* Flags, credit and ports are the guests' business. */
	h = mk_hdr(3, 4, OP_SHUTDOWN, 0);
	h.flags = h.buf_alloc = h.fwd_cnt = 0xffffffffu;
	h.src_port = h.dst_port = 0xffffffffu;
	CHECK_EQ(vsock_hdr_check(&h, 0, 3), VSOCK_HDR_OK);
}

/* CIDs: the lowest free from 3, the management partition's 2, each once. */
static void test_cids(void)
{
	u32 c;

	tv_setup();
	part2_setup();
	for (u32 i = 0; i < 3; i++) {
		c = KEEL_VSOCK_CID_AUTO;
		CHECK_EQ(vsock_create(&part, base_of(SLOT_A + i), irq_of(0) + i, &c), 0);
		CHECK_EQ(c, 3 + i);
	}
	c = 4;
	CHECK_EQ(vsock_create(&part2, base_of(SLOT_B), irq_of(1), &c), -KEEL_EEXIST);
	CHECK_EQ(c, 4);
	c = 9;
	CHECK_EQ(vsock_create(&part2, base_of(SLOT_B), irq_of(1), &c), 0);
	/* Its slot taken: refused, and CID 10 is not kept. */
	c = 10;
	CHECK(vsock_create(&part2, base_of(SLOT_B), irq_of(1), &c) != 0);
	c = 10;
	CHECK_EQ(vsock_create(&part2, base_of(SLOT_B + 1), irq_of(1) + 1, &c), 0);
	vdev_destroy_all(&part); /* 3, 4, 5 free again */
	c = KEEL_VSOCK_CID_AUTO;
	CHECK_EQ(vsock_create(&part, base_of(SLOT_A), irq_of(0), &c), 0);
	CHECK_EQ(c, 3);
	CHECK_EQ(rdn(vs(0), R_CONFIG, 8), 3);
	/* The management partition: 2 when it asks Keel; and once only. */
	part2.desc.h.flags |= KEEL_PD_MANAGEMENT;
	c = KEEL_VSOCK_CID_AUTO;
	CHECK_EQ(vsock_create(&part2, base_of(SLOT_B + 2), irq_of(1) + 2, &c), 0);
	CHECK_EQ(c, KEEL_VSOCK_CID_HOST);
	c = KEEL_VSOCK_CID_AUTO;
	CHECK_EQ(vsock_create(&part2, base_of(SLOT_B + 3), irq_of(1) + 3, &c), -KEEL_EEXIST);
	vdev_destroy_all(&part2);
	tv_teardown();

	/* As many devices as partitions, then no room. */
	tv_setup();
	for (u32 i = 0; i < KEEL_MAX_PARTITIONS; i++) {
		c = KEEL_VSOCK_CID_AUTO;
		CHECK_EQ(vsock_create(&part, base_of(SLOT_A + i), irq_of(0) + i, &c), 0);
		CHECK_EQ(c, 3 + i);
	}
	c = KEEL_VSOCK_CID_AUTO;
	CHECK_EQ(vsock_create(&part, base_of(SLOT_A + KEEL_MAX_PARTITIONS), 0, &c), -KEEL_ENOSPC);
	tv_teardown();
}

static u32 rx_seen[2], rx_packets, rx_resets;

/* @dev's receive entries since the last look: each a header for it, its len what was written. */
static void tally(u32 dev)
{
	for (; rx_seen[dev] < used_idx(dev, RXQ); rx_seen[dev]++) {
		struct vsock_hdr h = rx_hdr(dev, rx_seen[dev]);

		CHECK_EQ(h.dst_cid, cid[dev]);
		CHECK_EQ(used_len(dev, RXQ, rx_seen[dev]), VSOCK_HDR + h.len);
		if (h.op == OP_RST)
			rx_resets++;
		else
			rx_packets++;
	}
}

static void restart(u32 dev)
{
	tally(dev);
	bring_up(dev, 16);
	rx_seen[dev] = 0;
}

/*
 * Random traffic both ways, hostile headers and chains among it, buffers of
 * random sizes and resets: nothing crashes or leaks (ASan, UBSan), and
 * whatever arrives is whole and for its receiver.
 */
static void test_random_traffic(void)
{
	static const u64 dsts[] = { 3, 4, NO_CID, 2, 0xffffffffull };
	unsigned long long seed = 0x76736f636bull;

	setup(SHARED_NET);
	for (u32 n = 0; n < 3000; n++) {
		u32 r = (u32)unit_rand(&seed), dev = r & 1, len = (u32)(unit_rand(&seed) % 9000);
		struct vsock_hdr h = mk_hdr(cid[dev], dsts[(r >> 1) % ARRAY_SIZE(dsts)],
					    (u16)((r >> 4) % 9), len);

		if ((r >> 8) % 3)
			h.op = OP_RW;
		if ((r >> 10) % 17 == 0)
			h.src_cid = cid[!dev];
		if ((r >> 14) % 29 == 0)
			h.len++; /* a reset */
		if ((r >> 19) % 23 == 0)
			h.type = 2;
		if (sent[dev] >= 8 || needs_reset(vs(dev)) || used_idx(dev, TXQ) != sent[dev])
			restart(dev);
		for (u32 d = 0; d < 2; d++) {
			if (next_desc[d][RXQ] + 2u > 16 || needs_reset(vs(d)))
				restart(d);
			if (unit_rand(&seed) % 3 == 0)
				post_rx(d, (u32)(unit_rand(&seed) % 5000));
			notify(d, RXQ);
		}
		send(dev, &h, len);
		tally(0);
		tally(1);
	}
	CHECK(rx_packets > 100);
	CHECK(rx_resets > 10);
	teardown();
}

/*
 * Run @fn in a child that must finish within TEST_SECONDS; its counts come
 * back through a pipe. A child that hangs or dies fails the test.
 */
static void run(const char *name, void (*fn)(void))
{
	int fds[2], counts[2] = { 0, 0 }, status = 0;
	ssize_t n = 0;
	pid_t pid;

	fflush(NULL);
	if (pipe(fds)) {
		unit_failed++;
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		alarm(TEST_SECONDS);
		unit_passed = unit_failed = 0;
		fn();
		counts[0] = unit_passed;
		counts[1] = unit_failed;
		if (write(fds[1], counts, sizeof(counts)) != sizeof(counts))
			_exit(2);
		tv_free_all();
		exit(0); /* LeakSanitizer looks at the child */
	}
	close(fds[1]);
	if (pid > 0)
		n = read(fds[0], counts, sizeof(counts));
	close(fds[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || n != sizeof(counts) ||
	    !WIFEXITED(status) || WEXITSTATUS(status)) {
		unit_failed++;
		fprintf(stderr, "%s: %s\n", name,
			WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM
				? "still running after the deadline: a lock taken twice?"
				: "did not finish");
	}
	unit_passed += n == sizeof(counts) ? counts[0] : 0;
	unit_failed += n == sizeof(counts) ? counts[1] : 0;
}

#define RUN(fn) run(#fn, fn)

int main(void)
{
	RUN(test_config_space);
	RUN(test_request_and_response);
	RUN(test_rw_split);
	RUN(test_blocked_sender_resumes);
	RUN(test_mutual_wait);
	RUN(test_odd_chains);
	RUN(test_spoofed_source);
	RUN(test_malformed_sender);
	RUN(test_rst_for_unknown_cid);
	RUN(test_rst_for_refused);
	RUN(test_policy);
	RUN(test_hostile_receiver);
	RUN(test_ring_too_small);
	RUN(test_ring_too_small_for_chains);
	RUN(test_receiver_destroyed);
	RUN(test_stalled_receiver_expires);
	RUN(test_hdr_check);
	RUN(test_cids);
	RUN(test_random_traffic);
	return unit_done("test_virtio_vsock");
}
