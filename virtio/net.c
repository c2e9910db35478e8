/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (device id 1), one queue pair, a port of Keel's switch
 * (core/netsw.c): what the guest transmits goes to netsw_send(), and the
 * switch calls vnet_deliver() on the CPU of whoever sent to us.
 *
 * Offered: MAC, STATUS (the link is always up), MTU (1500), MRG_RXBUF, and
 * the offloads: CSUM and GUEST_CSUM (a checksum left for the receiver),
 * HOST_TSO4/6 and GUEST_TSO4/6 with ECN (a TCP frame of up to 64 KiB left
 * to be segmented). Keel neither segments nor checksums between two guests
 * that take them: the header's offload fields travel with the frame. A
 * receiver that does not take a partial checksum gets it completed here; one
 * that takes no segmentation offload gets the segments a NIC would have sent
 * (core/netgso.c). A frame goes from the sender's buffers into the
 * receiver's in one copy (virtq_chain_transfer).
 *
 * Locking (virtio.h): the transmit queue is the device's own, handled in
 * notify under vdev.lock. The receive queue is filled by other CPUs, so it
 * is touched only under qlock: vnet_deliver() takes the receiver's qlock
 * inside the network's lock, and nothing holds a qlock while taking a
 * network's lock, so two partitions sending to each other cannot deadlock.
 */
#include <keel/abi.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/netgso.h>
#include <keel/netsw.h>
#include <keel/partition.h>

#include "virtio.h"

#define VNET_DEVICE_ID 1u
#define VNET_RXQ 0u
#define VNET_TXQ 1u

#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1u

#define VNET_HDR_F_NEEDS_CSUM 1u
#define VNET_GSO_NONE 0u
#define VNET_GSO_TCPV4 1u
#define VNET_GSO_TCPV6 4u
#define VNET_GSO_ECN 0x80u

#define VNET_HDR 12u /* struct virtio_net_hdr with num_buffers (VERSION_1) */
#define VNET_OFFLOAD 10u /* its fields before num_buffers: what travels with a frame */
#define VNET_MTU 1500u
#define VNET_FRAME_MAX (VNET_MTU + NETSW_ETH_HDR + 4) /* and one VLAN tag */
#define VNET_CONFIG_SIZE 12u /* mac[6], status, max_virtqueue_pairs, mtu */
/*
 * Frames per notify: a full queue, so the work of one exit is bounded and
 * nothing the guest queued before its notify is left behind (a guest need not
 * notify again for frames it already queued: they would sit until its next).
 */
#define VNET_TX_BATCH VIRTQ_MAX_SIZE

struct vnet {
	struct virtio_dev vd;
	struct netsw_port port;
	struct virtq_chain rx_chain; /* scratch of vnet_deliver, under qlock */
	u8 *gso; /* NETSW_FRAME_MAX bytes under qlock, made the first time we segment */
	u16 rx_posted_high; /* the most receive chains seen posted at once, under qlock */
};

/* The header's fields other than num_buffers, which only the device writes. */
struct vnet_hdr {
	u8 flags;
	u8 gso_type;
	u16 hdr_len, gso_size, csum_start, csum_offset;
	u16 num_buffers;
};
_Static_assert(sizeof(struct vnet_hdr) == VNET_HDR, "the VERSION_1 header");
_Static_assert(VNET_OFFLOAD <= sizeof(((struct netsw_frame *)0)->offload), "offload fits");

static struct vnet *vnet_of(struct virtio_dev *vd)
{
	return container_of(vd, struct vnet, vd);
}

static void vnet_config_read(struct virtio_dev *vd, u32 off, u32 size, u64 *value)
{
	struct vnet *n = vnet_of(vd);
	u8 cfg[VNET_CONFIG_SIZE] = { 0 };
	u16 status = VIRTIO_NET_S_LINK_UP, pairs = 1, mtu = VNET_MTU;

	memcpy(cfg, n->port.mac, 6);
	memcpy(cfg + 6, &status, 2);
	memcpy(cfg + 8, &pairs, 2);
	memcpy(cfg + 10, &mtu, 2);
	memcpy(value, cfg + off, size);
}

/* netsw_frame.copy: bytes of the frame from the sender's transmit chain (after the header). */
static u64 vnet_frame_copy(const struct netsw_frame *f, u64 off, void *dst, u64 len)
{
	const struct vnet *n = f->src;

	return virtq_chain_read(n->vd.part, &n->vd.chain, VNET_HDR + off, dst, len);
}

static bool vnet_has(const struct virtio_dev *vd, u32 feature)
{
	return vd->driver_features & BIT(feature);
}

/*
 * The header the guest sent, against what it negotiated: a partial checksum
 * only with CSUM, inside the frame; segmentation only of the kinds it took
 * (HOST_TSO4/6, ECN with HOST_ECN), with a segment size and a partial
 * checksum (its segments' checksums are the receiver's to make).
 */
static bool vnet_hdr_ok(const struct virtio_dev *vd, const struct vnet_hdr *h, u64 len)
{
	u8 gso = h->gso_type & (u8)~VNET_GSO_ECN;

	if (h->flags & ~VNET_HDR_F_NEEDS_CSUM)
		return false;
	if ((h->flags & VNET_HDR_F_NEEDS_CSUM) &&
	    (!vnet_has(vd, VIRTIO_NET_F_CSUM) || (u64)h->csum_start + h->csum_offset + 2 > len))
		return false;
	if (h->gso_type == VNET_GSO_NONE)
		return true;
	if (!(h->flags & VNET_HDR_F_NEEDS_CSUM)) /* segments need their checksums made */
		return false;
	if ((h->gso_type & VNET_GSO_ECN) && !vnet_has(vd, VIRTIO_NET_F_HOST_ECN))
		return false;
	if (gso == VNET_GSO_TCPV4)
		return vnet_has(vd, VIRTIO_NET_F_HOST_TSO4) && h->gso_size;
	if (gso == VNET_GSO_TCPV6)
		return vnet_has(vd, VIRTIO_NET_F_HOST_TSO6) && h->gso_size;
	return false;
}

/*
 * One transmit chain (vd->chain): header, then the frame. False if the chain
 * breaks the device's contract (no whole header, offloads it did not
 * negotiate); a frame of a bad length is dropped and counted. Only a
 * segmentation-offloaded frame may be longer than VNET_FRAME_MAX.
 */
static bool vnet_transmit(struct vnet *n)
{
	const struct virtq_chain *c = &n->vd.chain;
	struct netsw_frame f = { .src = n, .copy = vnet_frame_copy };
	struct vnet_hdr h;
	u64 len;

	if (c->out_len < VNET_HDR || virtq_chain_read(n->vd.part, c, 0, &h, VNET_HDR) != VNET_HDR)
		return false;
	len = c->out_len - VNET_HDR;
	if (!vnet_hdr_ok(&n->vd, &h, len))
		return false;
	if (len > (h.gso_type == VNET_GSO_NONE ? VNET_FRAME_MAX : NETSW_FRAME_MAX)) {
		netsw_count_drop(&n->port, NETSW_DROP_OVERSIZE);
		return true;
	}
	f.len = (u32)len;
	if (f.len < NETSW_ETH_HDR ||
	    virtq_chain_read(n->vd.part, c, VNET_HDR, f.eth, NETSW_ETH_HDR) != NETSW_ETH_HDR) {
		netsw_count_drop(&n->port, NETSW_DROP_RUNT);
		return true;
	}
	memcpy(f.offload, &h, VNET_OFFLOAD);
	netsw_send(&n->port, &f);
	return true;
}

static void vnet_notify(struct virtio_dev *vd, u32 q)
{
	struct vnet *n = vnet_of(vd);
	u32 done;

	if (q != VNET_TXQ)
		return; /* new receive buffers: senders take them as frames come */
	for (done = 0; done < VNET_TX_BATCH && virtio_pop(vd, VNET_TXQ); done++) {
		if (!vnet_transmit(n)) {
			netsw_count_drop(&n->port, NETSW_DROP_MALFORMED);
			virtio_needs_reset(
				vd,
				"transmit chain without a whole header, or with offloads it did "
				"not negotiate");
			break;
		}
		virtio_push(vd, VNET_TXQ, 0);
	}
	if (done)
		virtio_queue_interrupt(vd, VNET_TXQ);
	/* More than a queue's worth: other vCPUs of the guest queued them, and notify. */
}

/*
 * Whether @vd's guest takes a frame of @len bytes with header @h: a
 * segmentation offload only of the kinds it negotiated (GUEST_TSO4/6, ECN,
 * and GUEST_CSUM, which they need). *@fill_csum: the frame leaves its
 * checksum to the receiver and this one does not take that (Keel completes it).
 */
static u32 vnet_takes(const struct virtio_dev *vd, const struct vnet_hdr *h, u32 len,
		      bool *fill_csum)
{
	u8 gso = h->gso_type & (u8)~VNET_GSO_ECN;

	*fill_csum = (h->flags & VNET_HDR_F_NEEDS_CSUM) && !vnet_has(vd, VIRTIO_NET_F_GUEST_CSUM);
	if (h->gso_type == VNET_GSO_NONE)
		return len <= VNET_FRAME_MAX ? NETSW_DELIVERED : NETSW_DROP_OVERSIZE;
	if (!vnet_has(vd, VIRTIO_NET_F_GUEST_CSUM) ||
	    (gso == VNET_GSO_TCPV4 && !vnet_has(vd, VIRTIO_NET_F_GUEST_TSO4)) ||
	    (gso == VNET_GSO_TCPV6 && !vnet_has(vd, VIRTIO_NET_F_GUEST_TSO6)) ||
	    ((h->gso_type & VNET_GSO_ECN) && !vnet_has(vd, VIRTIO_NET_F_GUEST_ECN)))
		return NETSW_DROP_OFFLOAD;
	return NETSW_DELIVERED;
}

/*
 * The Internet checksum the sender left to its device: over the frame from
 * csum_start (the field holds the pseudo-header's sum), folded, stored at
 * csum_start + csum_offset (vnet_hdr_ok checked both are inside @frame).
 */
static void vnet_fill_csum(u8 *frame, u32 len, const struct vnet_hdr *h)
{
	u64 sum = 0;
	u16 out;

	for (u32 i = h->csum_start; i < len; i += 2)
		sum += (u32)frame[i] << 8 | (i + 1 < len ? frame[i + 1] : 0);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	out = (u16)~sum;
	if (!out)
		out = 0xffff; /* 0 means "no checksum" to UDP */
	frame[h->csum_start + h->csum_offset] = (u8)(out >> 8);
	frame[h->csum_start + h->csum_offset + 1] = (u8)out;
}

/*
 * Where a frame's bytes come from: the sender's transmit chain (another
 * virtio-net: one copy, straight into our buffers), or @bounce, a copy
 * made first (a sender of another kind, or a checksum Keel completes).
 */
struct vnet_source {
	const struct vnet *from; /* NULL: from bounce */
	const u8 *bounce;
};

/* Bytes [off, off + len) of the frame into @c's buffers at @at. */
static bool vnet_put_frame(struct vnet *n, const struct vnet_source *src, u64 at, u64 off, u64 len)
{
	struct partition *part = n->vd.part;

	if (!src->from)
		return virtq_chain_write(part, &n->rx_chain, at, src->bounce + off, len) == len;
	return virtq_chain_transfer(part, &n->rx_chain, at, src->from->vd.part,
				    &src->from->vd.chain, VNET_HDR + off, len) == len;
}

/*
 * Count the receive chains header and frame (@total bytes) need, taking
 * none: 0 if they are not there now (a drop). Without MRG_RXBUF one chain
 * must hold it all.
 */
static u16 vnet_room(struct vnet *n, u64 total)
{
	struct virtio_dev *vd = &n->vd;
	struct virtq *vq = &vd->vq[VNET_RXQ];
	bool merge = vnet_has(vd, VIRTIO_NET_F_MRG_RXBUF);
	u16 start = vq->last_avail, count = 0;
	u64 off = 0;

	while (off < total) {
		int r = virtq_pop(vd->part, vq, vnet_has(vd, VIRTIO_F_INDIRECT_DESC), &n->rx_chain);

		if (r < 0)
			virtio_needs_reset_locked(vd, "malformed receive chain or ring");
		if (r <= 0 || !n->rx_chain.in_len || (!merge && n->rx_chain.in_len < total)) {
			count = 0;
			break;
		}
		off += MIN(total - off, n->rx_chain.in_len);
		count++;
	}
	vq->last_avail = start;
	return count;
}

/*
 * Whether a broadcast or multicast frame may take @count receive buffers:
 * only if a quarter of what our driver posts at most stays posted after it.
 * One port's flood of broadcasts reaches every other port; this keeps it
 * from taking the last buffers from the frames addressed to us, so a storm
 * costs our guest broadcasts, never its own traffic. The quarter is of the
 * most the driver has posted (at most the queue), not of the queue: a
 * driver that posts one buffer at a time still hears broadcasts. Under qlock.
 */
static bool vnet_group_room(struct vnet *n, u16 count)
{
	struct virtio_dev *vd = &n->vd;
	struct virtq *vq = &vd->vq[VNET_RXQ];
	u16 posted, at_once;

	if (virtq_avail_idx(vd->part, vq, &posted))
		return false;
	/* vnet_room took @count chains, so at least that many are posted; an idx beyond
	 * the queue (a hostile driver) counts as a full queue. */
	at_once = (u16)(posted - vq->last_avail);
	at_once = at_once > vq->num ? (u16)vq->num : at_once;
	if (at_once > n->rx_posted_high)
		n->rx_posted_high = at_once;
	return (u32)at_once >= count + n->rx_posted_high / 4u;
}

/* Header @hdr and the frame (@len bytes from @src) into @count receive chains, each pushed. */
static bool vnet_fill(struct vnet *n, const u8 hdr[VNET_HDR], const struct vnet_source *src,
		      u32 len, u16 count)
{
	struct virtio_dev *vd = &n->vd;
	struct virtq *vq = &vd->vq[VNET_RXQ];
	u64 total = VNET_HDR + (u64)len, off = 0;

	for (u16 i = 0; i < count && off < total; i++) {
		u64 k, at = 0;

		if (virtq_pop(vd->part, vq, vnet_has(vd, VIRTIO_F_INDIRECT_DESC), &n->rx_chain) <=
			    0 ||
		    !n->rx_chain.in_len)
			return false; /* the guest changed its chains since vnet_room */
		k = MIN(total - off, n->rx_chain.in_len);
		if (off < VNET_HDR) {
			at = MIN(k, VNET_HDR - off);
			if (virtq_chain_write(vd->part, &n->rx_chain, 0, hdr + off, at) != at)
				return false;
		}
		if (k > at && !vnet_put_frame(n, src, at, off + at - VNET_HDR, k - at))
			return false;
		if (virtq_push(vd->part, vq, n->rx_chain.head, (u32)k))
			return false;
		off += k;
	}
	return off == total;
}

/*
 * A TCP frame left to be segmented, for a guest that does not take that:
 * segmented here as the sender's NIC would have (keel/netgso.h), each
 * segment whole, with its checksums made, into @seg (VNET_FRAME_MAX bytes)
 * and on into our buffers. The frame is copied into n->gso first. Segments
 * that find no room are dropped (the sender's TCP sends them again), and so
 * is a frame that is not TCP or makes segments longer than our MTU allows.
 */
static u32 vnet_deliver_segments(struct vnet *n, const struct netsw_frame *f,
				 const struct vnet_hdr *h, u8 *seg)
{
	bool v6 = (h->gso_type & (u8)~VNET_GSO_ECN) == VNET_GSO_TCPV6;
	u8 hdr[VNET_HDR] = { 0 };
	u32 verdict = NETSW_DELIVERED, i;
	struct netgso g;

	if (!n->gso)
		n->gso = virtio_alloc(NETSW_FRAME_MAX);
	if (!n->gso || f->len > NETSW_FRAME_MAX || f->copy(f, 0, n->gso, f->len) != f->len)
		return NETSW_DROP_NO_BUFFER;
	/* Each segment's IP packet within our MTU, and so the frame within VNET_FRAME_MAX. */
	if (!netgso_parse(&g, n->gso, f->len, h->gso_size, v6) || g.hdr - g.l3 + g.mss > VNET_MTU)
		return NETSW_DROP_OFFLOAD;
	for (i = 0; i < netgso_count(&g); i++) {
		struct vnet_source src = { .from = NULL, .bounce = seg };
		u32 len = netgso_segment(&g, i, seg);
		u16 count = vnet_room(n, VNET_HDR + (u64)len);

		if (!count) {
			verdict = NETSW_DROP_NO_BUFFER;
			break;
		}
		memcpy(hdr + VNET_HDR - 2, &count, 2); /* num_buffers */
		if (!vnet_fill(n, hdr, &src, len, count)) {
			virtio_needs_reset_locked(&n->vd, "receive buffers changed while in use "
							  "or not writable");
			return NETSW_DROP_NO_BUFFER;
		}
	}
	if (i)
		virtio_queue_interrupt_locked(&n->vd, VNET_RXQ);
	return verdict;
}

/*
 * netsw_port.deliver, on the sender's CPU: the frame into our receive
 * queue, its offloads passed on if our guest takes them. No room: a drop,
 * nothing taken.
 */
static u32 vnet_deliver(struct netsw_port *p, const struct netsw_frame *f)
{
	struct vnet *n = p->owner;
	struct virtio_dev *vd = &n->vd;
	struct vnet_source src = { .from = f->copy == vnet_frame_copy ? f->src : NULL };
	u8 bounce[VNET_FRAME_MAX], hdr[VNET_HDR] = { 0 };
	u32 verdict = NETSW_DROP_NO_BUFFER, take;
	struct vnet_hdr h;
	unsigned long flags;
	bool fill_csum;
	u16 count;

	memcpy(&h, f->offload, VNET_OFFLOAD);
	flags = spin_lock_irqsave(&vd->qlock);
	if (!virtio_dev_active(vd) || !vd->vq[VNET_RXQ].ready)
		goto out;
	take = vnet_takes(vd, &h, f->len, &fill_csum);
	if (take == NETSW_DROP_OFFLOAD) {
		verdict = vnet_deliver_segments(n, f, &h, bounce);
		goto out;
	}
	if (take != NETSW_DELIVERED) {
		verdict = take;
		goto out;
	}
	count = vnet_room(n, VNET_HDR + (u64)f->len);
	if (!count)
		goto out; /* no room: nothing copied, nothing taken */
	if (netsw_group_addressed(f->eth) && !vnet_group_room(n, count)) {
		verdict = NETSW_DROP_GROUP_HELD;
		goto out;
	}
	if (fill_csum || !src.from) {
		/* A copy first: ours to complete, or a sender's bytes we cannot reach. */
		if (f->len > sizeof(bounce) || f->copy(f, 0, bounce, f->len) != f->len)
			goto out;
		if (fill_csum)
			vnet_fill_csum(bounce, f->len, &h);
		src = (struct vnet_source){ .from = NULL, .bounce = bounce };
	}
	if (!fill_csum)
		memcpy(hdr, &h, VNET_OFFLOAD); /* the offloads travel on */
	memcpy(hdr + VNET_HDR - 2, &count, 2); /* num_buffers */
	if (!vnet_fill(n, hdr, &src, f->len, count)) {
		virtio_needs_reset_locked(vd,
					  "receive buffers changed while in use or not writable");
		goto out;
	}
	verdict = NETSW_DELIVERED;
	virtio_queue_interrupt_locked(vd, VNET_RXQ);
out:
	spin_unlock_irqrestore(&vd->qlock, flags);
	return verdict;
}

/* The port's last counters, as the partition's NIC leaves its network. */
static void vnet_log_leaving(struct vnet *n)
{
	struct netsw_stats st;

	if (!n->port.net)
		return;
	netsw_port_stats(&n->port, &st);
	pr_info("partition '%s': left network '%s': sent %llu frames (%llu bytes), received %llu "
		"(%llu bytes), dropped spoofed=%llu runt=%llu oversize=%llu malformed=%llu "
		"no_buffer=%llu offload=%llu group_held=%llu",
		n->vd.part->desc.h.name, n->port.net->name, (unsigned long long)st.tx_packets,
		(unsigned long long)st.tx_bytes, (unsigned long long)st.rx_packets,
		(unsigned long long)st.rx_bytes, (unsigned long long)st.drops[NETSW_DROP_SPOOF],
		(unsigned long long)st.drops[NETSW_DROP_RUNT],
		(unsigned long long)st.drops[NETSW_DROP_OVERSIZE],
		(unsigned long long)st.drops[NETSW_DROP_MALFORMED],
		(unsigned long long)st.drops[NETSW_DROP_NO_BUFFER],
		(unsigned long long)st.drops[NETSW_DROP_OFFLOAD],
		(unsigned long long)st.drops[NETSW_DROP_GROUP_HELD]);
}

static void vnet_destroy(struct virtio_dev *vd)
{
	struct vnet *n = vnet_of(vd);

	vnet_log_leaving(n);
	netsw_detach(&n->port); /* no sender reaches us once this returns */
	if (n->gso)
		virtio_free(n->gso, NETSW_FRAME_MAX);
	virtio_free(n, sizeof(*n));
}

/* A new driver may post differently: its broadcast reserve is learned again. */
static void vnet_reset(struct virtio_dev *vd)
{
	vnet_of(vd)->rx_posted_high = 0;
}

static const struct virtio_dev_ops vnet_ops = {
	.name = "virtio-net",
	.device_id = VNET_DEVICE_ID,
	.num_queues = 2,
	.config_size = VNET_CONFIG_SIZE,
	.config_read = vnet_config_read,
	.notify = vnet_notify,
	.reset = vnet_reset,
	.destroy = vnet_destroy,
};

/*
 * A NIC of @part on network @net with address @mac (@uplink: it may send
 * from other addresses, as a bridge to the outside does). 0, or the
 * switch's refusal (-KEEL_EEXIST for an address taken...) or -KEEL_ENOMEM.
 */
int vnet_create(struct partition *part, u64 base, u32 irq, struct netsw_net *net, const u8 mac[6],
		bool uplink)
{
	u64 features = BIT(VIRTIO_NET_F_MTU) | BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) |
		       BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_CSUM) |
		       BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4) |
		       BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_HOST_ECN) |
		       BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6) |
		       BIT(VIRTIO_NET_F_GUEST_ECN);
	struct vnet *n = virtio_alloc(sizeof(*n));
	int ret;

	if (!n)
		return -KEEL_ENOMEM;
	memcpy(n->port.mac, mac, 6);
	n->port.flags = uplink ? NETSW_PORT_UPLINK : 0;
	n->port.deliver = vnet_deliver;
	n->port.owner = n;
	n->port.part_id = part->id;
	ret = netsw_attach(net, &n->port);
	if (ret) {
		virtio_free(n, sizeof(*n));
		return ret;
	}
	ret = virtio_dev_init(&n->vd, part, &vnet_ops, features, base, irq);
	if (ret) {
		netsw_detach(&n->port);
		virtio_free(n, sizeof(*n));
	}
	return ret;
}
