/* SPDX-License-Identifier: MIT */
/*
 * TCP segmentation in software (core/netgso.c): frames built by hand (IPv4
 * with and without options, IPv6, a VLAN tag), every segment checked against
 * the original with a checksum of the test's own; hostile and random frames,
 * each in a buffer of exactly its length so ASan sees a read past it.
 */
#include <keel/netgso.h>

#include "unit.h"
#include "inet_csum.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

/* A frame to build: what the sender's stack would have handed its NIC. */
struct spec {
	bool v6, vlan;
	u32 ipopt; /* IPv4 option bytes (a multiple of 4, at most 40) */
	u32 tcpopt; /* TCP option bytes (a multiple of 4, at most 40) */
	u32 payload;
	u8 flags;
	u16 id;
	u32 seq;
};

/* Where the headers of a built frame are. */
struct layout {
	u32 len, l3, l4, hdr;
};

static u16 rd16(const u8 *p)
{
	return (u16)(p[0] << 8 | p[1]);
}

static u32 rd32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

static void wr16(u8 *p, u32 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
}

static void wr32(u8 *p, u32 v)
{
	wr16(p, v >> 16);
	wr16(p + 2, v);
}

/* An IPv4 header checksum verifies: the header summed, its field included, is all ones. */
static bool ip4_csum_ok(const u8 *ip, u32 ihl)
{
	return fold(sum_bytes(0, ip, ihl)) == 0xffff;
}

/* The TCP checksum of @tcp_len bytes at @tcp verifies over the pseudo-header of @ip. */
static bool tcp_csum_ok(const u8 *ip, bool v6, const u8 *tcp, u32 tcp_len)
{
	u8 pseudo[40];
	u32 n;

	memset(pseudo, 0, sizeof(pseudo));
	if (v6) {
		memcpy(pseudo, ip + 8, 32); /* source, destination */
		wr32(pseudo + 32, tcp_len);
		pseudo[39] = 6;
		n = 40;
	} else {
		memcpy(pseudo, ip + 12, 8);
		pseudo[9] = 6;
		wr16(pseudo + 10, tcp_len);
		n = 12;
	}
	return fold(sum_bytes(sum_bytes(0, pseudo, n), tcp, tcp_len)) == 0xffff;
}

static u8 payload_byte(u32 i)
{
	return (u8)(i * 13 + 7 + (i >> 8));
}

/* Build the frame @s describes into @f (big enough): its layout. */
static struct layout build(u8 *f, const struct spec *s)
{
	static const u8 dst[6] = { 0x02, 0, 0, 0, 0, 0xb }, src[6] = { 0x02, 0, 0, 0, 0, 0xa };
	struct layout l = { .l3 = 14 };
	u8 *ip, *tcp;

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	if (s->vlan) {
		wr16(f + 12, 0x8100);
		wr16(f + 14, 0x2123); /* priority 1, VLAN 0x123 */
		l.l3 += 4;
	}
	wr16(f + l.l3 - 2, s->v6 ? 0x86dd : 0x0800);
	ip = f + l.l3;
	if (s->v6) {
		l.l4 = l.l3 + 40;
		wr32(ip, 0x60012345); /* version 6, a traffic class and flow label */
		ip[6] = 6;
		ip[7] = 64;
		for (u32 i = 0; i < 16; i++) {
			ip[8 + i] = (u8)(0xf0 + i);
			ip[24 + i] = (u8)(0x20 + 3 * i);
		}
	} else {
		l.l4 = l.l3 + 20 + s->ipopt;
		ip[0] = (u8)(0x40 | (5 + s->ipopt / 4));
		ip[1] = 0x02; /* ECT(0) */
		wr16(ip + 4, s->id);
		wr16(ip + 6, 0x4000); /* DF */
		ip[8] = 64;
		ip[9] = 6;
		wr16(ip + 10, 0xdead); /* the NIC's to fill */
		wr32(ip + 12, 0x0a000001);
		wr32(ip + 16, 0xc0a80102);
		for (u32 i = 0; i < s->ipopt; i++)
			ip[20 + i] = i + 1 == s->ipopt ? 0 : 1; /* NOPs, then end of options */
	}
	tcp = f + l.l4;
	l.hdr = l.l4 + 20 + s->tcpopt;
	l.len = l.hdr + s->payload;
	wr16(tcp, 0xc001);
	wr16(tcp + 2, 443);
	wr32(tcp + 4, s->seq);
	wr32(tcp + 8, 0x01020304);
	tcp[12] = (u8)((5 + s->tcpopt / 4) << 4);
	tcp[13] = s->flags;
	wr16(tcp + 14, 0xfaf0);
	wr16(tcp + 16, 0x1234); /* a partial sum, or anything: the segmenter makes it */
	wr16(tcp + 18, s->flags & TCP_URG ? 3 : 0);
	for (u32 i = 0; i < s->tcpopt; i++)
		tcp[20 + i] = (u8)(i < 2 ? 1 : 0x30 + i); /* NOP NOP, then bytes */
	if (s->tcpopt >= 12) {
		tcp[22] = 8; /* timestamps */
		tcp[23] = 10;
	}
	if (s->v6)
		wr16(ip + 4, l.len - l.l4);
	else
		wr16(ip + 2, l.len - l.l3 > 0xffff ? 0 : l.len - l.l3);
	for (u32 i = 0; i < s->payload; i++)
		f[l.hdr + i] = payload_byte(i);
	return l;
}

/* @a and @b (@n bytes) are equal but for bytes [skip0, skip1) and [skip2, skip3)... (-1 ends). */
static bool same_except(const u8 *a, const u8 *b, u32 n, const int *skip)
{
	for (u32 i = 0; i < n; i++) {
		bool skipped = false;

		for (const int *s = skip; *s >= 0; s += 2)
			skipped |= (int)i >= s[0] && (int)i < s[1];
		if (!skipped && a[i] != b[i])
			return false;
	}
	return true;
}

/*
 * Segment the frame @s describes into segments of @mss and check each one:
 * its headers as the original's but for what a NIC changes, that changed as
 * it should, and the payloads together the original's.
 */
static void check_segments(const struct spec *s, u32 mss)
{
	static const int ip4_fixed[] = { 2, 6, 10, 12, -1 }; /* total length, id, checksum */
	static const int ip6_fixed[] = { 4, 6, -1 }; /* payload length */
	static const int tcp_fixed[] = { 4, 8, 13, 14, 16, 18, -1 }; /* seq, flags, checksum */
	u32 cap = 14 + 4 + 60 + 60 + s->payload;
	u8 *f = malloc(cap), *copy = malloc(cap), *joined = malloc(s->payload + 1);
	struct layout l = build(f, s);
	u32 want = s->payload ? (s->payload + mss - 1) / mss : 1, at = 0, n;
	struct netgso g;

	memcpy(copy, f, l.len);
	CHECK(netgso_parse(&g, f, l.len, mss, s->v6));
	CHECK_EQ(g.l3, l.l3);
	CHECK_EQ(g.l4, l.l4);
	CHECK_EQ(g.hdr, l.hdr);
	CHECK_EQ(g.mss, mss);
	CHECK_EQ(netgso_count(&g), want);
	for (u32 i = 0; i < want && g.hdr == l.hdr; i++) {
		u8 *out = malloc(l.hdr + mss); /* exactly the room the header promises */
		const u8 *ip = out + l.l3, *tcp = out + l.l4;
		u32 len = netgso_segment(&g, i, out), pay = len - l.hdr;
		bool last = i + 1 == want;
		u8 flags = s->flags;

		n = MIN(mss, s->payload - MIN(s->payload, i * mss));
		CHECK_EQ(len, l.hdr + n);
		if (len != l.hdr + n || len > l.hdr + mss) {
			free(out);
			break;
		}
		/* Ethernet and the tag as they were. */
		CHECK(!memcmp(out, f, l.l3));
		if (s->v6) {
			CHECK_EQ(rd16(ip + 4), len - l.l4);
			CHECK(same_except(ip, f + l.l3, 40, ip6_fixed));
		} else {
			CHECK_EQ(rd16(ip + 2), len - l.l3);
			CHECK_EQ(rd16(ip + 4), (u16)(s->id + i));
			CHECK(ip4_csum_ok(ip, l.l4 - l.l3));
			CHECK(same_except(ip, f + l.l3, l.l4 - l.l3, ip4_fixed));
		}
		CHECK_EQ(rd32(tcp + 4), (u32)(s->seq + i * mss));
		if (!last)
			flags &= (u8) ~(TCP_FIN | TCP_PSH);
		if (i)
			flags &= (u8)~TCP_CWR;
		CHECK_EQ(tcp[13], flags);
		CHECK_EQ(tcp[13] & TCP_ACK, s->flags & TCP_ACK);
		CHECK(tcp_csum_ok(ip, s->v6, tcp, len - l.l4));
		CHECK(same_except(tcp, f + l.l4, l.hdr - l.l4, tcp_fixed));
		if (at + pay <= s->payload)
			memcpy(joined + at, out + l.hdr, pay);
		at += pay;
		free(out);
	}
	CHECK_EQ(at, s->payload);
	CHECK(at == s->payload && !memcmp(joined, f + l.hdr, s->payload));
	CHECK(!memcmp(f, copy, l.len)); /* the frame itself untouched */
	free(f);
	free(copy);
	free(joined);
}

static void test_ipv4(void)
{
	u8 all = TCP_CWR | TCP_ECE | TCP_ACK | TCP_PSH | TCP_FIN;

	/* 5000 bytes in 1448s: three whole segments and one of 656. */
	check_segments(&(struct spec){ .payload = 5000, .flags = all, .id = 0x1234, .seq = 1000 },
		       1448);
	/* Exactly three segments' worth, with IP and TCP options and a tag. */
	check_segments(&(struct spec){ .vlan = true,
				       .ipopt = 12,
				       .tcpopt = 12,
				       .payload = 3 * 1448,
				       .flags = all,
				       .id = 7,
				       .seq = 0x80000000 },
		       1448);
	/* No payload: one segment, every flag kept. */
	check_segments(&(struct spec){ .payload = 0, .flags = all | TCP_SYN, .id = 1, .seq = 5 },
		       1448);
	/* Odd lengths (an odd byte at the end of a checksum), the id and sequence wrapping. */
	check_segments(&(struct spec){ .tcpopt = 12,
				       .payload = 4001,
				       .flags = TCP_ACK | TCP_PSH,
				       .id = 0xfffe,
				       .seq = 0xfffff000 },
		       1001);
	/* The largest headers: 40 bytes of options each. */
	check_segments(&(struct spec){ .vlan = true,
				       .ipopt = 40,
				       .tcpopt = 40,
				       .payload = 2900,
				       .flags = TCP_ACK | TCP_URG | TCP_FIN,
				       .id = 3,
				       .seq = 9 },
		       1380);
	/* One byte more than a segment, a segment larger than the payload, a 1-byte mss. */
	check_segments(&(struct spec){ .payload = 1449, .flags = all, .seq = 1 }, 1448);
	check_segments(&(struct spec){ .payload = 700, .flags = all, .seq = 1 }, 1448);
	check_segments(&(struct spec){ .payload = 5, .flags = all, .id = 0xffff, .seq = ~0u }, 1);
	/* A 64 KiB frame, as large as a guest may send. */
	check_segments(&(struct spec){ .payload = 65535 - 40, .flags = TCP_ACK | TCP_PSH }, 1448);
}

static void test_ipv6(void)
{
	u8 all = TCP_CWR | TCP_ECE | TCP_ACK | TCP_PSH | TCP_FIN;

	check_segments(&(struct spec){ .v6 = true, .payload = 5000, .flags = all, .seq = 77 },
		       1428);
	check_segments(&(struct spec){ .v6 = true,
				       .vlan = true,
				       .tcpopt = 12,
				       .payload = 2 * 1416,
				       .flags = all,
				       .seq = 0xffffff00 },
		       1416);
	check_segments(&(struct spec){ .v6 = true, .vlan = true, .payload = 0, .flags = all },
		       1428);
	check_segments(&(struct spec){ .v6 = true, .payload = 3333, .flags = TCP_ACK }, 999);
}

/* netgso_parse on @len bytes of @f, from a buffer of exactly that size (ASan sees past it). */
static bool parse_exact(const u8 *f, u32 len, u32 mss, bool v6)
{
	u8 *b = malloc(len ? len : 1);
	struct netgso g;
	bool ok;

	memcpy(b, f, len);
	ok = netgso_parse(&g, b + (len ? 0 : 1), len, mss, v6);
	free(b);
	return ok;
}

static void test_truncated(void)
{
	static const struct spec kinds[] = {
		{ .payload = 100 },
		{ .vlan = true, .ipopt = 8, .tcpopt = 12, .payload = 100 },
		{ .ipopt = 40, .tcpopt = 40, .payload = 100 },
		{ .v6 = true, .payload = 100 },
		{ .v6 = true, .vlan = true, .tcpopt = 20, .payload = 100 },
	};
	u8 f[400];

	for (u32 k = 0; k < ARRAY_SIZE(kinds); k++) {
		struct layout l = build(f, &kinds[k]);
		u32 refused = 0;

		for (u32 len = 0; len < l.hdr; len++)
			refused += !parse_exact(f, len, 1448, kinds[k].v6);
		CHECK_EQ(refused, l.hdr);
		/* Its headers whole and nothing else: one empty segment. */
		CHECK(parse_exact(f, l.hdr, 1448, kinds[k].v6));
		CHECK(parse_exact(f, l.len, 1448, kinds[k].v6));
	}
}

static void test_hostile_headers(void)
{
	u8 f[400];
	struct layout l = build(f, &(struct spec){ .payload = 100 });
	struct layout l6;

	CHECK(parse_exact(f, l.len, 1448, false));
	CHECK(!parse_exact(f, l.len, 0, false)); /* no segment size */
	CHECK(!parse_exact(f, l.len, 1448, true)); /* IPv4 where IPv6 was said */
	for (u32 ihl = 0; ihl < 5; ihl++) {
		f[14] = (u8)(0x40 | ihl);
		CHECK(!parse_exact(f, l.len, 1448, false));
	}
	f[14] = 0x45;
	for (u32 v = 0; v < 16; v++) {
		f[14] = (u8)(v << 4 | 5);
		CHECK_EQ(parse_exact(f, l.len, 1448, false), v == 4);
	}
	f[14] = 0x45;
	for (u32 doff = 0; doff < 5; doff++) {
		f[l.l4 + 12] = (u8)(doff << 4);
		CHECK(!parse_exact(f, l.len, 1448, false));
	}
	/* A TCP header said to be 60 bytes in a frame of 20 bytes of TCP and 39 after. */
	f[l.l4 + 12] = 0xf0;
	CHECK(!parse_exact(f, l.l4 + 59, 1448, false));
	CHECK(parse_exact(f, l.l4 + 60, 1448, false));
	f[l.l4 + 12] = 0x50;
	/* An IP header of 60 bytes whose options run past the frame. */
	f[14] = 0x4f;
	CHECK(!parse_exact(f, 14 + 59, 1448, false));
	f[14] = 0x45;
	/* Not TCP. */
	for (u32 p = 0; p < 256; p++) {
		f[14 + 9] = (u8)p;
		CHECK_EQ(parse_exact(f, l.len, 1448, false), p == 6);
	}
	f[14 + 9] = 6;
	/* Other EtherTypes: ARP, IPv6, an 802.1ad tag, two 802.1Q tags. */
	wr16(f + 12, 0x0806);
	CHECK(!parse_exact(f, l.len, 1448, false));
	wr16(f + 12, 0x86dd);
	CHECK(!parse_exact(f, l.len, 1448, false));
	wr16(f + 12, 0x0800);
	CHECK(parse_exact(f, l.len, 1448, false));

	l = build(f, &(struct spec){ .vlan = true, .payload = 100 });
	CHECK(parse_exact(f, l.len, 1448, false));
	wr16(f + 12, 0x88a8);
	CHECK(!parse_exact(f, l.len, 1448, false));
	wr16(f + 12, 0x8100);
	wr16(f + 16, 0x8100);
	CHECK(!parse_exact(f, l.len, 1448, false));
	wr16(f + 16, 0x86dd);
	CHECK(!parse_exact(f, l.len, 1448, false));

	l6 = build(f, &(struct spec){ .v6 = true, .payload = 100 });
	CHECK(parse_exact(f, l6.len, 1448, true));
	CHECK(!parse_exact(f, l6.len, 1448, false)); /* IPv6 where IPv4 was said */
	for (u32 v = 0; v < 16; v++) {
		f[14] = (u8)(v << 4);
		CHECK_EQ(parse_exact(f, l6.len, 1448, true), v == 6);
	}
	f[14] = 0x60;
	/* Next header not TCP: UDP, hop-by-hop options, routing, a fragment, none. */
	for (u32 p = 0; p < 256; p++) {
		f[14 + 6] = (u8)p;
		CHECK_EQ(parse_exact(f, l6.len, 1448, true), p == 6);
	}
	f[14 + 6] = 6;
	for (u32 doff = 0; doff < 5; doff++) {
		f[l6.l4 + 12] = (u8)(doff << 4);
		CHECK(!parse_exact(f, l6.len, 1448, true));
	}
	f[l6.l4 + 12] = 0xf0;
	CHECK(!parse_exact(f, l6.l4 + 59, 1448, true));
	CHECK(parse_exact(f, l6.l4 + 60, 1448, true));
	wr16(f + 12, 0x0800);
	f[l6.l4 + 12] = 0x50;
	CHECK(!parse_exact(f, l6.len, 1448, true));
}

/*
 * Random frames, most made to look like IPv4 or IPv6 TCP in their first
 * bytes so the parser gets past them: whatever it takes segments into a
 * buffer of exactly the room promised, each of them with checksums that
 * verify and the payloads together the frame's.
 */
static void test_random(void)
{
	unsigned long long seed = 0x9e3779b97f4a7c15ull;
	u32 taken = 0, segments = 0, bad = 0;

	for (u32 it = 0; it < 100000; it++) {
		u32 len = (u32)(unit_rand(&seed) % 400), mss, r = (u32)unit_rand(&seed);
		bool v6 = r & 1;
		u8 *f = malloc(len ? len : 1);
		struct netgso g;

		for (u32 i = 0; i < len; i++)
			f[i] = (u8)unit_rand(&seed);
		mss = r >> 8 & 1 ? (u32)(unit_rand(&seed) % 64) : (u32)(unit_rand(&seed) % 0x10000);
		if (r >> 1 & 3) {
			/* Shaped: the EtherType (and a tag), version, protocol the parser wants. */
			u32 l3 = r >> 3 & 1 ? 18 : 14;

			if (len >= 18 && l3 == 18)
				wr16(f + 12, 0x8100);
			if (len >= l3)
				wr16(f + l3 - 2, v6 ? 0x86dd : 0x0800);
			if (len > l3)
				f[l3] = (u8)((v6 ? 0x60 : 0x40) | (r >> 4 & 1 ? 5 : f[l3] & 0xf));
			if (!v6 && len > l3 + 9)
				f[l3 + 9] = 6;
			if (v6 && len > l3 + 6)
				f[l3 + 6] = 6;
		}
		if (netgso_parse(&g, f, len, mss, v6)) {
			u32 count = netgso_count(&g), at = 0;

			taken++;
			if (g.hdr > len || g.l4 >= g.hdr || g.l3 >= g.l4 || !count)
				bad++;
			for (u32 i = 0; i < count && at <= len; i++) {
				u8 *out = malloc(g.hdr + g.mss);
				u32 n = netgso_segment(&g, i, out);

				segments++;
				if (n < g.hdr || n > g.hdr + g.mss ||
				    (g.v6 ? rd16(out + g.l3 + 4) != n - g.l4
					  : !ip4_csum_ok(out + g.l3, g.l4 - g.l3) ||
						     rd16(out + g.l3 + 2) != n - g.l3) ||
				    !tcp_csum_ok(out + g.l3, g.v6, out + g.l4, n - g.l4) ||
				    n - g.hdr > len - g.hdr - at ||
				    memcmp(out + g.hdr, f + g.hdr + at, n - g.hdr))
					bad++;
				at += n - g.hdr;
				free(out);
			}
			if (at != len - g.hdr)
				bad++;
		}
		free(f);
	}
	CHECK_EQ(bad, 0);
	CHECK(taken > 1000); /* the shaping worked: the segmenter was reached */
	CHECK(segments > taken);
}

int main(void)
{
	test_ipv4();
	test_ipv6();
	test_truncated();
	test_hostile_headers();
	test_random();
	return unit_done("test_netgso");
}
