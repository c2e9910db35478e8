/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for TCP segmentation in software (core/netgso.c). Input:
 * a byte whose low bit says IPv6, the segment size (16 bits, little-endian,
 * as the virtio-net header's gso_size), then the frame. Whatever the parser
 * takes has its headers inside the frame; each segment fits the room the
 * header promises, its lengths and checksums (computed here, byte by byte)
 * are right, and the payloads together are the frame's; nothing reads past
 * the frame.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/netgso.h>
#include "inet_csum.h"

static u32 rd16(const u8 *p)
{
	return (u32)p[0] << 8 | p[1];
}

/* Segment @i (@n bytes in @out) of @g: abort() unless it is as a NIC makes it. */
static void check_segment(const struct netgso *g, u32 i, const u8 *out, u32 n, u32 at)
{
	const u8 *ip = out + g->l3, *tcp = out + g->l4;
	u32 tcp_len = n - g->l4, seq;
	u8 pseudo[40] = { 0 }, flags;

	if (n < g->hdr || n - g->hdr > g->mss || n - g->hdr > g->len - g->hdr - at)
		abort();
	if (memcmp(out, g->frame, g->l3) ||
	    memcmp(out + g->hdr, g->frame + g->hdr + at, n - g->hdr))
		abort();
	if (g->v6) {
		if (rd16(ip + 4) != n - g->l3 - 40)
			abort();
		memcpy(pseudo, ip + 8, 32);
		pseudo[34] = (u8)(tcp_len >> 8);
		pseudo[35] = (u8)tcp_len;
		pseudo[39] = 6;
	} else {
		if (rd16(ip + 2) != n - g->l3 || fold(sum_bytes(0, ip, g->l4 - g->l3)) != 0xffff ||
		    rd16(ip + 4) != ((rd16(g->frame + g->l3 + 4) + i) & 0xffff))
			abort();
		memcpy(pseudo, ip + 12, 8);
		pseudo[9] = 6;
		pseudo[10] = (u8)(tcp_len >> 8);
		pseudo[11] = (u8)tcp_len;
	}
	if (fold(sum_bytes(sum_bytes(0, pseudo, g->v6 ? 40 : 12), tcp, tcp_len)) != 0xffff)
		abort();
	seq = (u32)rd16(g->frame + g->l4 + 4) << 16 | rd16(g->frame + g->l4 + 6);
	if (((u32)rd16(tcp + 4) << 16 | rd16(tcp + 6)) != seq + at)
		abort();
	/* The flags, but FIN and PSH on the last only and CWR on the first only. */
	flags = g->frame[g->l4 + 13];
	if (i + 1 != netgso_count(g))
		flags &= (u8)~0x09;
	if (i)
		flags &= 0x7f;
	if (tcp[13] != flags)
		abort();
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct netgso g;
	u32 count, at = 0, mss;
	bool v6;

	if (size < 3 || size - 3 > 0x20000)
		return 0;
	v6 = data[0] & 1;
	mss = data[1] | (u32)data[2] << 8;
	if (!netgso_parse(&g, data + 3, (u32)(size - 3), mss, v6))
		return 0;
	if (g.frame != data + 3 || g.len != size - 3 || g.mss != mss || g.v6 != v6 ||
	    g.l3 >= g.l4 || g.l4 >= g.hdr || g.hdr > g.len)
		abort();
	count = netgso_count(&g);
	if (!count || (count > 1 && (u64)(count - 1) * mss >= g.len - g.hdr))
		abort();
	for (u32 i = 0; i < count; i++) {
		u8 *out = malloc(g.hdr + g.mss); /* exactly the room promised */
		u32 n = netgso_segment(&g, i, out);

		check_segment(&g, i, out, n, at);
		at += n - g.hdr;
		free(out);
	}
	if (at != g.len - g.hdr)
		abort();
	return 0;
}
