/* SPDX-License-Identifier: MIT */
/*
 * TCP segmentation in software: see keel/netgso.h. Every offset is checked
 * against the frame before it is read; the frame comes from a guest.
 */
#include <keel/lib.h>
#include <keel/netgso.h>

#define ETH_HDR 14u
#define VLAN_TAG 4u
#define ETHERTYPE_VLAN 0x8100u
#define ETHERTYPE_IPV4 0x0800u
#define ETHERTYPE_IPV6 0x86ddu
#define IPV4_MIN 20u
#define IPV6_HDR 40u
#define IPPROTO_TCP_ 6u
#define TCP_MIN 20u
#define TCP_FIN 0x01u
#define TCP_PSH 0x08u
#define TCP_CWR 0x80u

static u16 get16(const u8 *p)
{
	return (u16)(p[0] << 8 | p[1]);
}

static void put16(u8 *p, u32 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
}

static u32 get32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

static void put32(u8 *p, u32 v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/* The one's-complement sum of @len bytes as big-endian 16-bit words, added to @sum. */
static u64 csum_add(u64 sum, const u8 *p, u32 len)
{
	for (u32 i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (u32)p[len - 1] << 8;
	return sum;
}

static u16 csum_fold(u64 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (u16)~sum;
}

bool netgso_parse(struct netgso *g, const u8 *frame, u32 len, u32 mss, bool v6)
{
	u32 l3 = ETH_HDR, type, l4, tcp;

	if (len < ETH_HDR || !mss)
		return false;
	type = get16(frame + 12);
	if (type == ETHERTYPE_VLAN) {
		if (len < ETH_HDR + VLAN_TAG)
			return false;
		type = get16(frame + 16);
		l3 += VLAN_TAG;
	}
	if (v6) {
		if (type != ETHERTYPE_IPV6 || len < l3 + IPV6_HDR || (frame[l3] >> 4) != 6 ||
		    frame[l3 + 6] != IPPROTO_TCP_)
			return false;
		l4 = l3 + IPV6_HDR;
	} else {
		u32 ihl;

		if (type != ETHERTYPE_IPV4 || len < l3 + IPV4_MIN || (frame[l3] >> 4) != 4 ||
		    frame[l3 + 9] != IPPROTO_TCP_)
			return false;
		ihl = (frame[l3] & 0xfu) * 4u;
		if (ihl < IPV4_MIN || len < l3 + ihl)
			return false;
		l4 = l3 + ihl;
	}
	if (len < l4 + TCP_MIN)
		return false;
	tcp = (frame[l4 + 12] >> 4) * 4u;
	if (tcp < TCP_MIN || len < l4 + tcp)
		return false;
	*g = (struct netgso){ .frame = frame,
			      .len = len,
			      .l3 = l3,
			      .l4 = l4,
			      .hdr = l4 + tcp,
			      .mss = mss,
			      .v6 = v6 };
	return true;
}

u32 netgso_count(const struct netgso *g)
{
	u32 payload = g->len - g->hdr;

	return payload ? (payload - 1) / g->mss + 1 : 1; /* no wrap for any mss */
}

/* The IP header of a segment of @ip_len bytes (IP and TCP headers and payload), segment @i. */
static void netgso_fix_ip(const struct netgso *g, u8 *out, u32 i, u32 ip_len)
{
	u8 *ip = out + g->l3;

	if (g->v6) {
		put16(ip + 4, ip_len - IPV6_HDR);
		return;
	}
	put16(ip + 2, ip_len);
	put16(ip + 4, get16(g->frame + g->l3 + 4) + i); /* each segment its own id */
	put16(ip + 10, 0);
	put16(ip + 10, csum_fold(csum_add(0, ip, g->l4 - g->l3)));
}

/* The TCP checksum of a segment, over its pseudo-header, TCP header and payload. */
static u16 netgso_tcp_csum(const struct netgso *g, const u8 *out, u32 tcp_len)
{
	const u8 *ip = out + g->l3;
	u64 sum;

	if (g->v6) {
		sum = csum_add(0, ip + 8, 32); /* source and destination */
		sum += tcp_len + IPPROTO_TCP_;
	} else {
		sum = csum_add(0, ip + 12, 8);
		sum += tcp_len + IPPROTO_TCP_;
	}
	return csum_fold(csum_add(sum, out + g->l4, tcp_len));
}

u32 netgso_segment(const struct netgso *g, u32 i, u8 *out)
{
	u32 off = i * g->mss, payload = g->len - g->hdr;
	u32 n = MIN(g->mss, payload - MIN(off, payload)), tcp_len = g->hdr - g->l4 + n;
	bool last = i + 1 == netgso_count(g);
	u8 *tcp = out + g->l4, flags;

	memcpy(out, g->frame, g->hdr);
	memcpy(out + g->hdr, g->frame + g->hdr + off, n);
	netgso_fix_ip(g, out, i, g->hdr - g->l3 + n);
	put32(tcp + 4, get32(g->frame + g->l4 + 4) + off); /* the sequence number */
	flags = tcp[13];
	if (!last)
		flags &= (u8) ~(TCP_FIN | TCP_PSH); /* the end of the data is the last's */
	if (i)
		flags &= (u8)~TCP_CWR; /* the window was reduced once */
	tcp[13] = flags;
	put16(tcp + 16, 0);
	put16(tcp + 16, netgso_tcp_csum(g, out, tcp_len));
	return g->hdr + n;
}
