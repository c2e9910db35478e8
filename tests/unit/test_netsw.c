/* SPDX-License-Identifier: MIT */
/* The switch (core/netsw.c): spoofing, flooding, learning, its bounds, and detach. */
#include <keel/abi.h>
#include <keel/netsw.h>

#include "unit.h"

/* A port that records what reached it, with room for @room frames. */
struct fake {
	struct netsw_port port;
	u32 got, room;
	u8 last[64];
	u32 last_len;
};

static u32 fake_deliver(struct netsw_port *p, const struct netsw_frame *f)
{
	struct fake *k = p->owner;

	if (k->got >= k->room)
		return NETSW_DROP_NO_BUFFER;
	k->got++;
	k->last_len = (u32)f->copy(f, 0, k->last, f->len < sizeof(k->last) ? f->len : sizeof(k->last));
	return NETSW_DELIVERED;
}

static u64 frame_copy(const struct netsw_frame *f, u64 off, void *dst, u64 n)
{
	memcpy(dst, (const u8 *)f->src + off, n);
	return n;
}

static const u8 BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void mac(u8 out[6], u8 last)
{
	const u8 m[6] = { 0x02, 0, 0, 0, 0, last };

	memcpy(out, m, 6);
}

static void fake_init(struct fake *k, u8 last, u16 flags)
{
	memset(k, 0, sizeof(*k));
	mac(k->port.mac, last);
	k->port.flags = flags;
	k->port.deliver = fake_deliver;
	k->port.owner = k;
	k->room = ~0u;
}

/* A frame dst <- src with @len bytes in @buf (header written into it too). */
static struct netsw_frame frame(u8 *buf, const u8 *dst, const u8 *src, u32 len)
{
	struct netsw_frame f = { .len = len, .src = buf, .copy = frame_copy };

	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	buf[12] = 0x08;
	buf[13] = 0x00;
	for (u32 i = NETSW_ETH_HDR; i < len && i < 64; i++)
		buf[i] = (u8)i;
	memcpy(f.eth, buf, NETSW_ETH_HDR);
	return f;
}

static void test_names_and_addresses(void)
{
	u8 a[6], b[6], c[6];

	CHECK(netsw_network("lan") != NULL);
	CHECK(netsw_network("lan") == netsw_find("lan"));
	CHECK(netsw_find("wan") == NULL);
	CHECK(netsw_network("") == NULL);
	CHECK(netsw_network("bad name") == NULL);
	CHECK(netsw_network("0123456789012345678901234567890123") == NULL);
	netsw_mac_derive("vm1", "lan", a);
	netsw_mac_derive("vm1", "lan", b);
	netsw_mac_derive("vm2", "lan", c);
	CHECK(!memcmp(a, b, 6)); /* stable */
	CHECK(memcmp(a, c, 6) != 0);
	CHECK_EQ(a[0], 0x02);
	CHECK(netsw_mac_ok(a));
	CHECK(!netsw_mac_ok(BCAST));
	c[0] = 0x03; /* multicast */
	CHECK(!netsw_mac_ok(c));
	memset(c, 0, 6);
	CHECK(!netsw_mac_ok(c));
}

static void test_attach_refusals(void)
{
	struct netsw_net *net = netsw_network("att");
	static struct fake p[NETSW_MAX_PORTS + 1], dup, bad;

	for (u32 i = 0; i < NETSW_MAX_PORTS; i++) {
		fake_init(&p[i], (u8)(i + 1), 0);
		CHECK_EQ(netsw_attach(net, &p[i].port), 0);
	}
	fake_init(&p[NETSW_MAX_PORTS], 0x77, 0);
	CHECK_EQ(netsw_attach(net, &p[NETSW_MAX_PORTS].port), -KEEL_ENOSPC);
	netsw_detach(&p[0].port);
	CHECK(p[0].port.net == NULL);
	fake_init(&dup, 2, 0); /* p[1]'s address */
	CHECK_EQ(netsw_attach(net, &dup.port), -KEEL_EEXIST);
	fake_init(&bad, 1, 0);
	bad.port.mac[0] = 0x01;
	CHECK_EQ(netsw_attach(net, &bad.port), -KEEL_EINVAL);
	CHECK_EQ(netsw_attach(net, &p[NETSW_MAX_PORTS].port), 0);
	for (u32 i = 1; i <= NETSW_MAX_PORTS; i++)
		netsw_detach(&p[i].port);
	CHECK_EQ(net->nports, 0);
}

static void test_unicast_broadcast_and_spoofing(void)
{
	struct netsw_net *net = netsw_network("uni"), *other = netsw_network("other");
	static struct fake a, b, c, x;
	u8 buf[1600], spoof[6];
	struct netsw_frame f;

	fake_init(&a, 1, 0);
	fake_init(&b, 2, 0);
	fake_init(&c, 3, 0);
	fake_init(&x, 4, 0);
	CHECK_EQ(netsw_attach(net, &a.port), 0);
	CHECK_EQ(netsw_attach(net, &b.port), 0);
	CHECK_EQ(netsw_attach(net, &c.port), 0);
	CHECK_EQ(netsw_attach(other, &x.port), 0);

	f = frame(buf, b.port.mac, a.port.mac, 100);
	netsw_send(&a.port, &f);
	CHECK_EQ(b.got, 1);
	CHECK_EQ(c.got, 0);
	CHECK_EQ(b.last_len, 64);
	CHECK(!memcmp(b.last, buf, 64)); /* the bytes as the sender had them */
	CHECK_EQ(a.port.stats.tx_packets, 1);
	CHECK_EQ(a.port.stats.tx_bytes, 100);
	CHECK_EQ(b.port.stats.rx_bytes, 100);

	/* Broadcast: every other port of the network, never the sender, never another network. */
	f = frame(buf, BCAST, a.port.mac, 60);
	netsw_send(&a.port, &f);
	CHECK_EQ(b.got, 2);
	CHECK_EQ(c.got, 1);
	CHECK_EQ(a.got, 0);
	CHECK_EQ(x.got, 0);

	/* Unknown unicast floods within the network. */
	mac(spoof, 0x99);
	f = frame(buf, spoof, a.port.mac, 60);
	netsw_send(&a.port, &f);
	CHECK_EQ(b.got, 3);
	CHECK_EQ(c.got, 2);
	CHECK_EQ(x.got, 0);

	/* Spoofed sources: another port's, an unknown one, a multicast one. Dropped, counted. */
	f = frame(buf, BCAST, b.port.mac, 60);
	netsw_send(&a.port, &f);
	f = frame(buf, BCAST, spoof, 60);
	netsw_send(&a.port, &f);
	spoof[0] = 0x01;
	f = frame(buf, b.port.mac, spoof, 60);
	netsw_send(&a.port, &f);
	CHECK_EQ(a.port.stats.drops[NETSW_DROP_SPOOF], 3);
	CHECK_EQ(b.got, 3);
	CHECK_EQ(c.got, 2);

	/* Runts and giants. */
	f = frame(buf, b.port.mac, a.port.mac, 20);
	f.len = 13;
	netsw_send(&a.port, &f);
	f.len = NETSW_FRAME_MAX + 1;
	netsw_send(&a.port, &f);
	CHECK_EQ(a.port.stats.drops[NETSW_DROP_RUNT], 1);
	CHECK_EQ(a.port.stats.drops[NETSW_DROP_OVERSIZE], 1);
	CHECK_EQ(b.got, 3);

	/* A receiver with no room: a drop counted at the receiver, the sender goes on. */
	b.room = b.got;
	f = frame(buf, BCAST, a.port.mac, 60);
	netsw_send(&a.port, &f);
	CHECK_EQ(b.port.stats.drops[NETSW_DROP_NO_BUFFER], 1);
	CHECK_EQ(c.got, 3);

	/* Detached: nothing reaches it any more. */
	netsw_detach(&c.port);
	netsw_send(&a.port, &f);
	CHECK_EQ(c.got, 3);
	netsw_detach(&a.port);
	netsw_detach(&b.port);
	netsw_detach(&x.port);
}

static void test_uplink_learning_is_bounded(void)
{
	struct netsw_net *net = netsw_network("up");
	static struct fake up, vm;
	u8 buf[64], outside[6] = { 0x0a, 0, 0, 0, 0, 0 };
	struct netsw_frame f;
	u32 learned = 0;

	fake_init(&up, 1, NETSW_PORT_UPLINK);
	fake_init(&vm, 2, 0);
	CHECK_EQ(netsw_attach(net, &up.port), 0);
	CHECK_EQ(netsw_attach(net, &vm.port), 0);

	/* From the outside, through the uplink: learned, and answers go back only there. */
	f = frame(buf, vm.port.mac, outside, 60);
	netsw_send(&up.port, &f);
	CHECK_EQ(vm.got, 1);
	f = frame(buf, outside, vm.port.mac, 60);
	netsw_send(&vm.port, &f);
	CHECK_EQ(up.got, 1);

	/* An uplink may not use a port's address: that would steal its traffic. */
	f = frame(buf, BCAST, vm.port.mac, 60);
	netsw_send(&up.port, &f);
	CHECK_EQ(up.port.stats.drops[NETSW_DROP_SPOOF], 1);

	/* 10,000 outside addresses: the table keeps NETSW_FDB_SIZE, the newest. */
	for (u32 i = 0; i < 10000; i++) {
		outside[3] = (u8)(i >> 16);
		outside[4] = (u8)(i >> 8);
		outside[5] = (u8)i;
		f = frame(buf, vm.port.mac, outside, 60);
		netsw_send(&up.port, &f);
	}
	for (u32 i = 0; i < NETSW_FDB_SIZE; i++)
		learned += net->fdb[i].used;
	CHECK_EQ(learned, NETSW_FDB_SIZE);
	/* The last one sent is known: unicast to it reaches the uplink alone. */
	up.got = 0;
	f = frame(buf, outside, vm.port.mac, 60);
	netsw_send(&vm.port, &f);
	CHECK_EQ(up.got, 1);

	/* Detaching the uplink forgets everything learned behind it. */
	netsw_detach(&up.port);
	learned = 0;
	for (u32 i = 0; i < NETSW_FDB_SIZE; i++)
		learned += net->fdb[i].used;
	CHECK_EQ(learned, 0);
	netsw_detach(&vm.port);
}

static void test_random_frames(void)
{
	struct netsw_net *net = netsw_network("fuzz");
	static struct fake p[4];
	unsigned long long seed = 0x9e3779b97f4a7c15ull;
	u8 buf[64];

	for (u32 i = 0; i < 4; i++) {
		fake_init(&p[i], (u8)(i + 1), i == 0 ? NETSW_PORT_UPLINK : 0);
		p[i].room = (u32)(unit_rand(&seed) % 1000);
		CHECK_EQ(netsw_attach(net, &p[i].port), 0);
	}
	for (u32 n = 0; n < 20000; n++) {
		struct netsw_frame f = { .src = buf, .copy = frame_copy };
		struct fake *from = &p[unit_rand(&seed) % 4];

		for (u32 i = 0; i < sizeof(buf); i++)
			buf[i] = (u8)unit_rand(&seed);
		if (n % 3 == 0)
			memcpy(buf + 6, from->port.mac, 6); /* mostly legitimate sources */
		memcpy(f.eth, buf, NETSW_ETH_HDR);
		f.len = (u32)(unit_rand(&seed) % sizeof(buf));
		netsw_send(&from->port, &f);
	}
	for (u32 i = 0; i < 4; i++) {
		const struct netsw_stats *s = &p[i].port.stats;

		CHECK(s->rx_packets == p[i].got);
		CHECK(s->rx_packets <= p[i].room);
		netsw_detach(&p[i].port);
	}
}

int main(void)
{
	test_names_and_addresses();
	test_attach_refusals();
	test_unicast_broadcast_and_spoofing();
	test_uplink_learning_is_bounded();
	test_random_frames();
	return unit_done("test_netsw");
}
