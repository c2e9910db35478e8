/* SPDX-License-Identifier: MIT */
/*
 * TCP segmentation in software (core/netgso.c), for a receiver that does not
 * take a segmentation-offloaded frame: the frame (up to 64 KiB of TCP payload
 * behind one set of Ethernet, IP and TCP headers) becomes the segments its
 * sender's NIC would have put on a wire, each with its own lengths, IPv4 id
 * and header checksum, TCP sequence number, flags and checksum.
 */
#ifndef KEEL_NETGSO_H
#define KEEL_NETGSO_H

#include <keel/types.h>

struct netgso {
	const u8 *frame;
	u32 len;
	u32 l3; /* offset of the IP header (after the Ethernet header and a VLAN tag) */
	u32 l4; /* offset of the TCP header */
	u32 hdr; /* bytes of all the headers: where the payload starts */
	u32 mss; /* payload bytes per segment */
	bool v6;
};

/*
 * Take @frame (@len bytes) apart for segments of @mss payload bytes: an
 * Ethernet frame (one VLAN tag at most) holding IPv4 (@v6 false) or IPv6
 * without extension headers, carrying TCP, every header whole and inside
 * @len. False if it is not one (nothing to segment: the caller drops it).
 */
bool netgso_parse(struct netgso *g, const u8 *frame, u32 len, u32 mss, bool v6);

/* How many segments the frame makes (at least 1). */
u32 netgso_count(const struct netgso *g);

/* Segment @i (below netgso_count) into @out, room for g->hdr + g->mss bytes: its length. */
u32 netgso_segment(const struct netgso *g, u32 i, u8 *out);

#endif /* KEEL_NETGSO_H */
