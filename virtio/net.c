/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (device id 1), one queue pair, a port of Keel's switch
 * (core/netsw.c): what the guest transmits goes to netsw_send(), and the
 * switch calls vnet_deliver() on the CPU of whoever sent to us.
 *
 * Offered: MAC, STATUS (the link is always up), MTU (1500) and MRG_RXBUF; no
 * checksum or segmentation offloads yet, so every frame is at most
 * VNET_FRAME_MAX bytes and its header's offload fields must be 0.
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
#include <keel/netsw.h>
#include <keel/partition.h>

#include "virtio.h"

#define VNET_DEVICE_ID 1u
#define VNET_RXQ 0u
#define VNET_TXQ 1u

#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1u

#define VNET_HDR 12u /* struct virtio_net_hdr with num_buffers (VERSION_1) */
#define VNET_MTU 1500u
#define VNET_FRAME_MAX (VNET_MTU + NETSW_ETH_HDR + 4) /* and one VLAN tag */
#define VNET_CONFIG_SIZE 12u /* mac[6], status, max_virtqueue_pairs, mtu */
#define VNET_TX_BATCH 64u /* frames per notify: bounded work per exit */

struct vnet {
	struct virtio_dev vd;
	struct netsw_port port;
	struct virtq_chain rx_chain; /* scratch of vnet_deliver, under qlock */
};

/* The header's fields other than num_buffers, which only the device writes. */
struct vnet_hdr {
	u8 flags;
	u8 gso_type;
	u16 hdr_len, gso_size, csum_start, csum_offset;
	u16 num_buffers;
};

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

/*
 * One transmit chain (vd->chain): header, then the frame. False if the chain
 * breaks the device's contract (no whole header, offloads never offered);
 * a frame of a bad length is dropped and counted.
 */
static bool vnet_transmit(struct vnet *n)
{
	const struct virtq_chain *c = &n->vd.chain;
	struct netsw_frame f = { .src = n, .copy = vnet_frame_copy };
	struct vnet_hdr h;

	if (c->out_len < VNET_HDR || virtq_chain_read(n->vd.part, c, 0, &h, VNET_HDR) != VNET_HDR)
		return false;
	if (h.flags || h.gso_type)
		return false;
	if (c->out_len - VNET_HDR > VNET_FRAME_MAX) {
		netsw_count_drop(&n->port, NETSW_DROP_OVERSIZE);
		return true;
	}
	f.len = (u32)(c->out_len - VNET_HDR);
	if (f.len < NETSW_ETH_HDR ||
	    virtq_chain_read(n->vd.part, c, VNET_HDR, f.eth, NETSW_ETH_HDR) != NETSW_ETH_HDR) {
		netsw_count_drop(&n->port, NETSW_DROP_RUNT);
		return true;
	}
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
				vd, "transmit chain without a whole header, or with offloads");
			break;
		}
		virtio_push(vd, VNET_TXQ, 0);
	}
	if (done)
		virtio_queue_interrupt(vd, VNET_TXQ);
	/* More than a batch waiting: the guest notifies again, or its next kick finds them. */
}

/*
 * netsw_port.deliver, on the sender's CPU: the frame into our receive
 * queue. Without MRG_RXBUF one chain must hold header and frame; with it,
 * as many chains as it takes (num_buffers). No room: false, nothing taken.
 */
static bool vnet_deliver(struct netsw_port *p, const struct netsw_frame *f)
{
	struct vnet *n = p->owner;
	struct virtio_dev *vd = &n->vd;
	struct virtq *vq = &vd->vq[VNET_RXQ];
	u8 buf[VNET_HDR + VNET_FRAME_MAX];
	bool merge, ok = false;
	u64 total = VNET_HDR + (u64)f->len, off = 0;
	u16 start, count = 0;
	unsigned long flags;

	if (f->len > VNET_FRAME_MAX)
		return false;
	flags = spin_lock_irqsave(&vd->qlock);
	merge = vd->driver_features & BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (!virtio_dev_active(vd) || !vq->ready)
		goto out;
	memset(buf, 0, VNET_HDR);
	if (f->copy(f, 0, buf + VNET_HDR, f->len) != f->len)
		goto out;
	start = vq->last_avail;
	/* First find room, then write: a frame that does not fit takes nothing. */
	while (off < total) {
		int r = virtq_pop(vd->part, vq, vd->driver_features & BIT(VIRTIO_F_INDIRECT_DESC),
				  &n->rx_chain);

		if (r < 0)
			virtio_needs_reset_locked(vd, "malformed receive chain or ring");
		if (r <= 0 || !n->rx_chain.in_len || (!merge && n->rx_chain.in_len < total)) {
			vq->last_avail = start;
			goto out;
		}
		off += MIN(total - off, n->rx_chain.in_len);
		count++;
	}
	/* Again from the start, writing: the guest may have changed its chains since. */
	vq->last_avail = start;
	memcpy(buf + VNET_HDR - 2, &count, 2); /* num_buffers */
	for (off = 0; off < total;) {
		u64 k;

		if (virtq_pop(vd->part, vq, vd->driver_features & BIT(VIRTIO_F_INDIRECT_DESC),
			      &n->rx_chain) <= 0 ||
		    !n->rx_chain.in_len) {
			virtio_needs_reset_locked(vd, "receive chains changed while in use");
			goto out;
		}
		k = MIN(total - off, n->rx_chain.in_len);
		if (virtq_chain_write(vd->part, &n->rx_chain, 0, buf + off, k) != k ||
		    virtq_push(vd->part, vq, n->rx_chain.head, (u32)k)) {
			virtio_needs_reset_locked(vd, "receive buffers not writable");
			goto out;
		}
		off += k;
	}
	ok = true;
	virtio_queue_interrupt_locked(vd, VNET_RXQ);
out:
	spin_unlock_irqrestore(&vd->qlock, flags);
	return ok;
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
		"no_buffer=%llu",
		n->vd.part->desc.h.name, n->port.net->name, (unsigned long long)st.tx_packets,
		(unsigned long long)st.tx_bytes, (unsigned long long)st.rx_packets,
		(unsigned long long)st.rx_bytes, (unsigned long long)st.drops[NETSW_DROP_SPOOF],
		(unsigned long long)st.drops[NETSW_DROP_RUNT],
		(unsigned long long)st.drops[NETSW_DROP_OVERSIZE],
		(unsigned long long)st.drops[NETSW_DROP_MALFORMED],
		(unsigned long long)st.drops[NETSW_DROP_NO_BUFFER]);
}

static void vnet_destroy(struct virtio_dev *vd)
{
	struct vnet *n = vnet_of(vd);

	vnet_log_leaving(n);
	netsw_detach(&n->port); /* no sender reaches us once this returns */
	virtio_free(n, sizeof(*n));
}

static const struct virtio_dev_ops vnet_ops = {
	.name = "virtio-net",
	.device_id = VNET_DEVICE_ID,
	.num_queues = 2,
	.config_size = VNET_CONFIG_SIZE,
	.config_read = vnet_config_read,
	.notify = vnet_notify,
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
		       BIT(VIRTIO_NET_F_MRG_RXBUF);
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
