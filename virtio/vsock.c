/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock (device id 19): stream sockets between partitions, routed by
 * Keel. Each partition's device has a CID (keel.cfg, CREATE, or assigned:
 * abi.h KEEL_DEV_VSOCK); the management partition's is 2, so it plays the
 * host. Keel keeps no connection state: the guests run the protocol and its
 * credit-based flow control end to end, and Keel moves each packet from the
 * sender's transmit queue into the receiver's receive buffers, one copy,
 * split over as many of them as it needs (a guest sends up to 64 KiB at a
 * time and posts 4 KiB buffers). Keel answers with a reset (RST) what may not
 * pass: a CID nobody has, a partition the policy keeps apart (it reaches the
 * management partition and those it shares a network with), a device not
 * running, a socket type or operation it does not know.
 *
 * Stream data is never dropped. When the receiver has no buffers, the
 * sender's packet stays at the head of its transmit queue and the sender is
 * "blocked on" the receiver until the receiver's guest posts buffers (its
 * notify resumes the sender), so a receiver slows only whoever sends to it.
 * A receiver that takes nothing for VSOCK_WAIT_MAX_NS gets that connection
 * reset instead (RST to the sender), so it cannot hold up the sender's other
 * connections for longer.
 *
 * Locking: one lock for the router, vsock_lock, taken inside vdev.lock (a
 * notify) and outside every device's qlock. Everything that forwards holds
 * it, so forwarding may hold two devices' qlocks at once (sender and
 * receiver, in any order) without deadlock: nothing else takes two qlocks,
 * and the transport takes a qlock without vsock_lock. A queue is touched
 * only under its device's qlock, since another CPU may resume a sender.
 */
#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pdesc.h>
#include <keel/spinlock.h>

#include "virtio.h"

#define VSOCK_DEVICE_ID 19u
#define VSOCK_RXQ 0u
#define VSOCK_TXQ 1u
#define VSOCK_EVQ 2u /* events (transport reset): Keel sends none */
#define VSOCK_CONFIG_SIZE 8u /* guest_cid, le64 */

#define VSOCK_TYPE_STREAM 1u
#define VSOCK_OP_REQUEST 1u
#define VSOCK_OP_RST 3u
#define VSOCK_OP_RW 5u
#define VSOCK_OP_CREDIT_REQUEST 7u
#define VSOCK_PKT_MAX 65536u /* payload of one packet: Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE */
#define VSOCK_BUDGET VIRTQ_MAX_SIZE /* packets per pump: a full queue, bounded work */
/*
 * How long a packet may wait for a receiver that posts no buffers. Then its
 * connection is reset (RST to the sender) and the sender's queue moves on,
 * so a receiver that stops taking data stalls its own connections only.
 */
#define VSOCK_WAIT_MAX_NS (10ull * 1000 * 1000 * 1000)

struct vsock_stats {
	u64 tx_packets, tx_bytes; /* taken from its transmit queue and passed on */
	u64 rx_packets, rx_bytes; /* put in its receive buffers (pieces counted once) */
	u64 resets; /* RST Keel answered it with */
	u64 spoofed; /* packets with another source CID, dropped */
	u64 expired; /* connections reset: the receiver took nothing for VSOCK_WAIT_MAX_NS */
};

struct vsock {
	struct virtio_dev vd;
	u32 cid;
	u32 slot; /* in vsock_devs */
	bool ready; /* its transport is set up: packets may be routed to it */
	struct vsock *blocked_on; /* whose receive buffers our head packet waits for */
	struct vsock *wait_for; /* the same, kept across pumps until the head moves */
	u64 wait_since; /* arch_time_ns() when the head began to wait for wait_for */
	u32 wait_gen; /* generation when it began */
	u32 generation; /* virtio resets of the device (its queues start afresh): under qlock */
	bool head_expired; /* the head waited too long: it gets RST, whatever its receiver does */
	struct vsock_stats st; /* under vsock_lock */
};

static struct spinlock vsock_lock = SPINLOCK_INIT;
static struct vsock *vsock_devs[KEEL_MAX_PARTITIONS]; /* every device, by slot */
/* Scratch chains of whoever holds vsock_lock: a sender's packet, a receiver's buffer. */
static struct virtq_chain vsock_tx, vsock_rx;

static struct vsock *vsock_of(struct virtio_dev *vd)
{
	return container_of(vd, struct vsock, vd);
}

static void vsock_config_read(struct virtio_dev *vd, u32 off, u32 size, u64 *value)
{
	u64 cid = vsock_of(vd)->cid;

	memcpy(value, (const u8 *)&cid + off, size);
}

/* A live queue: the driver runs the device and set the queue up. */
static bool vsock_queue_live(const struct vsock *v, u32 q)
{
	return virtio_dev_active(&v->vd) && v->vd.vq[q].ready;
}

static bool vsock_indirect(const struct vsock *v)
{
	return v->vd.driver_features & BIT(VIRTIO_F_INDIRECT_DESC);
}

/* The device with CID @cid, or NULL. vsock_lock held. */
static struct vsock *vsock_find(u64 cid)
{
	for (u32 i = 0; i < KEEL_MAX_PARTITIONS; i++)
		if (vsock_devs[i] && vsock_devs[i]->cid == cid)
			return vsock_devs[i];
	return NULL;
}

/*
 * Where the packet goes: @to may receive from @from (abi.h: the management
 * partition talks to all, the others to those on a network they share).
 */
static bool vsock_may_talk(const struct vsock *from, const struct vsock *to)
{
	return from == to || pdesc_vsock_may_talk(&from->vd.part->desc, &to->vd.part->desc);
}

/*
 * Whether @r's guest could never post enough buffers for the packet: the
 * chains it has out (@count, holding @descs descriptors) take its whole ring.
 * With indirect descriptors a chain may take one entry, so only @count says.
 */
static bool vsock_ring_exhausted(const struct vsock *r, u32 count, u32 descs)
{
	u32 num = r->vd.vq[VSOCK_RXQ].num;

	return count >= num || (!vsock_indirect(r) && descs >= num);
}

/*
 * Count the receive chains of @r that @payload bytes (each chain a header
 * and a piece) need, taking none: 0 if they are not all there now, -1 if a
 * chain or the ring is malformed (@r is marked for reset) or the packet can
 * never fit. @r's qlock held.
 */
static int vsock_room(struct vsock *r, u32 payload)
{
	struct virtq *vq = &r->vd.vq[VSOCK_RXQ];
	u64 least = VSOCK_HDR + (payload ? 1u : 0u); /* a header and a byte of payload */
	u16 start = vq->last_avail;
	u32 need = payload, count = 0, descs = 0;
	int ret;

	do {
		ret = virtq_pop(r->vd.part, vq, vsock_indirect(r), &vsock_rx);
		if (ret > 0 && vsock_rx.in_len < least)
			ret = -1;
		if (ret < 0)
			virtio_needs_reset_locked(
				&r->vd,
				"malformed receive ring, or a buffer shorter than a header");
		else if (ret == 0 && vsock_ring_exhausted(r, count, descs))
			ret = -1; /* more than its ring can ever offer: never */
		if (ret <= 0)
			break;
		count++;
		descs += vsock_rx.nseg;
		need -= (u32)MIN((u64)need, vsock_rx.in_len - VSOCK_HDR);
	} while (need);
	vq->last_avail = start;
	return ret <= 0 ? ret : (int)count;
}

/*
 * Header @h (its len set per piece) and @payload bytes of the sender's
 * chain (@from, after its header; NULL: none) into @count receive chains of
 * @r, each pushed. False if @r's guest changed them since vsock_room.
 */
static bool vsock_fill(struct vsock *r, struct vsock_hdr h, const struct vsock *from, u32 payload,
		       int count)
{
	struct virtq *vq = &r->vd.vq[VSOCK_RXQ];
	u32 off = 0;

	for (int i = 0; i < count; i++) {
		u32 piece;

		if (virtq_pop(r->vd.part, vq, vsock_indirect(r), &vsock_rx) <= 0 ||
		    vsock_rx.in_len < VSOCK_HDR)
			return false;
		piece = (u32)MIN((u64)(payload - off), vsock_rx.in_len - VSOCK_HDR);
		h.len = piece;
		if (virtq_chain_write(r->vd.part, &vsock_rx, 0, &h, VSOCK_HDR) != VSOCK_HDR)
			return false;
		if (piece && virtq_chain_transfer(r->vd.part, &vsock_rx, VSOCK_HDR, from->vd.part,
						  &vsock_tx, VSOCK_HDR + off, piece) != piece)
			return false;
		if (virtq_push(r->vd.part, vq, vsock_rx.head, VSOCK_HDR + piece))
			return false;
		off += piece;
	}
	r->st.rx_packets++;
	r->st.rx_bytes += payload;
	return off == payload;
}

/*
 * A packet's header as the sender gave it (@payload: the bytes after it in
 * its chain), against the sender's CID @own: VSOCK_HDR_OK to route it, or
 * why not. Checked before anything else reads it.
 */
u32 vsock_hdr_check(const struct vsock_hdr *h, u64 payload, u32 own)
{
	if (h->len != payload || h->len > VSOCK_PKT_MAX)
		return VSOCK_HDR_MALFORMED;
	if (h->src_cid != own)
		return VSOCK_HDR_SPOOFED;
	if (h->type != VSOCK_TYPE_STREAM || h->op < VSOCK_OP_REQUEST ||
	    h->op > VSOCK_OP_CREDIT_REQUEST || (h->len && h->op != VSOCK_OP_RW) ||
	    h->dst_cid > KEEL_VSOCK_CID_MAX)
		return VSOCK_HDR_REFUSED;
	return VSOCK_HDR_OK;
}

/* What became of a packet put to a receiver. */
enum vsock_put {
	VSOCK_PUT_DONE, /* in its buffers */
	VSOCK_PUT_WAIT, /* no room now: the sender waits */
	VSOCK_PUT_GONE, /* it cannot take it (not running, broken ring): answer RST */
};

/*
 * @h and @payload bytes of @from's packet (NULL: none) into @r's receive
 * queue. @held: the device whose qlock the caller holds (the sender).
 */
static enum vsock_put vsock_put(struct vsock *r, const struct vsock_hdr *h,
				const struct vsock *from, u32 payload, const struct vsock *held)
{
	unsigned long flags = 0;
	enum vsock_put res = VSOCK_PUT_GONE;
	int count;

	if (r != held)
		flags = spin_lock_irqsave(&r->vd.qlock);
	if (!vsock_queue_live(r, VSOCK_RXQ))
		goto out;
	count = vsock_room(r, payload);
	if (count == 0) {
		res = VSOCK_PUT_WAIT;
		goto out;
	}
	if (count < 0)
		goto out;
	if (!vsock_fill(r, *h, from, payload, count)) {
		virtio_needs_reset_locked(&r->vd, "receive buffers changed while in use");
		goto out;
	}
	virtio_queue_interrupt_locked(&r->vd, VSOCK_RXQ);
	res = VSOCK_PUT_DONE;
out:
	if (r != held)
		spin_unlock_irqrestore(&r->vd.qlock, flags);
	return res;
}

/* The RST that answers @h, to its sender @s (whose qlock is held). */
static enum vsock_put vsock_reset_reply(struct vsock *s, const struct vsock_hdr *h)
{
	struct vsock_hdr rst = {
		.src_cid = h->dst_cid,
		.dst_cid = s->cid,
		.src_port = h->dst_port,
		.dst_port = h->src_port,
		.type = h->type,
		.op = VSOCK_OP_RST,
	};
	enum vsock_put res = vsock_put(s, &rst, NULL, 0, s);

	if (res == VSOCK_PUT_DONE)
		s->st.resets++;
	return res;
}

/* What to do with the packet at the head of @s's transmit queue (vsock_tx). */
enum vsock_step {
	VSOCK_STEP_DONE, /* passed on, answered or dropped: give the chain back */
	VSOCK_STEP_WAIT, /* leave it at the head: s->blocked_on says for whom */
	VSOCK_STEP_BROKEN, /* the chain breaks the device's contract: reset @s */
};

/*
 * The head of @s's queue must wait for @r's buffers: true while it may
 * (VSOCK_WAIT_MAX_NS since it began), false once it has waited too long.
 */
static bool vsock_may_wait(struct vsock *s, struct vsock *r, const struct vsock_hdr *h)
{
	u64 now = arch_time_ns();

	if (s->wait_for != r || s->wait_gen != s->generation) {
		s->wait_for = r;
		s->wait_since = now;
		s->wait_gen = s->generation;
	}
	if (r == s || now - s->wait_since <= VSOCK_WAIT_MAX_NS)
		return true; /* waiting for our own buffers (an RST) stalls only us */
	pr_warn("partition '%s': vsock: partition '%s' (CID %u) took nothing for %llu s: "
		"connection from port %u to port %u reset",
		s->vd.part->desc.h.name, r->vd.part->desc.h.name, r->cid,
		(unsigned long long)(VSOCK_WAIT_MAX_NS / 1000000000ull), h->src_port, h->dst_port);
	s->st.expired++;
	s->head_expired = true; /* even if its RST must wait for our own buffers */
	return false;
}

/* The head of @s's queue is done with: the next one starts with no wait behind it. */
static enum vsock_step vsock_head_done(struct vsock *s)
{
	s->wait_for = NULL;
	s->head_expired = false;
	return VSOCK_STEP_DONE;
}

static enum vsock_step vsock_step(struct vsock *s)
{
	struct vsock_hdr h;
	struct vsock *r = NULL;
	enum vsock_put res;
	u32 verdict;

	if (vsock_tx.out_len < VSOCK_HDR ||
	    virtq_chain_read(s->vd.part, &vsock_tx, 0, &h, VSOCK_HDR) != VSOCK_HDR)
		return VSOCK_STEP_BROKEN;
	verdict = vsock_hdr_check(&h, vsock_tx.out_len - VSOCK_HDR, s->cid);
	if (verdict == VSOCK_HDR_MALFORMED)
		return VSOCK_STEP_BROKEN;
	if (verdict == VSOCK_HDR_SPOOFED) {
		s->st.spoofed++;
		return vsock_head_done(s);
	}
	if (s->head_expired && s->wait_gen != s->generation)
		s->head_expired = false; /* the driver reset: this is another packet */
	if (verdict == VSOCK_HDR_OK && !s->head_expired) {
		r = vsock_find(h.dst_cid);
		if (r && (!r->ready || !vsock_may_talk(s, r)))
			r = NULL;
	}
	if (r) {
		res = vsock_put(r, &h, s, h.len, s);
		if (res == VSOCK_PUT_DONE) {
			s->st.tx_packets++;
			s->st.tx_bytes += h.len;
			return vsock_head_done(s);
		}
		if (res == VSOCK_PUT_WAIT && vsock_may_wait(s, r, &h)) {
			s->blocked_on = r;
			return VSOCK_STEP_WAIT;
		}
	}
	/* Nobody takes it: a reset, unless it is one (never answer RST with RST). */
	if (h.op != VSOCK_OP_RST && vsock_reset_reply(s, &h) == VSOCK_PUT_WAIT &&
	    vsock_may_wait(s, s, &h)) {
		s->blocked_on = s;
		return VSOCK_STEP_WAIT;
	}
	return vsock_head_done(s);
}

/*
 * Pass on what @s's guest transmitted, in order, up to VSOCK_BUDGET packets:
 * until its queue is empty or its head must wait. vsock_lock held; on the
 * sender's CPU (its notify) or the receiver's (buffers posted).
 */
static void vsock_pump(struct vsock *s)
{
	struct virtq *vq = &s->vd.vq[VSOCK_TXQ];
	unsigned long flags = spin_lock_irqsave(&s->vd.qlock);
	u32 done = 0;

	s->blocked_on = NULL;
	while (done < VSOCK_BUDGET && vsock_queue_live(s, VSOCK_TXQ)) {
		u16 head = vq->last_avail;
		int p = virtq_pop(s->vd.part, vq, vsock_indirect(s), &vsock_tx);
		enum vsock_step step;

		if (p < 0)
			virtio_needs_reset_locked(&s->vd, "malformed descriptor chain or ring");
		if (p <= 0)
			break;
		step = vsock_step(s);
		if (step == VSOCK_STEP_WAIT) {
			vq->last_avail = head; /* taken again when the receiver has room */
			break;
		}
		if (step == VSOCK_STEP_BROKEN) {
			virtio_needs_reset_locked(&s->vd, "transmit chain without a whole header, "
							  "or a length that does not match it");
			break;
		}
		if (virtq_push(s->vd.part, vq, vsock_tx.head, 0)) {
			virtio_needs_reset_locked(&s->vd, "used ring not writable");
			break;
		}
		done++;
	}
	if (done)
		virtio_queue_interrupt_locked(&s->vd, VSOCK_TXQ);
	spin_unlock_irqrestore(&s->vd.qlock, flags);
}

/* @r has new receive buffers (or is going away): resume whoever waits for it. vsock_lock held. */
static void vsock_wake(const struct vsock *r)
{
	for (u32 i = 0; i < KEEL_MAX_PARTITIONS; i++)
		if (vsock_devs[i] && vsock_devs[i]->blocked_on == r)
			vsock_pump(vsock_devs[i]);
}

/*
 * Senders whose head has waited longer than VSOCK_WAIT_MAX_NS for another
 * partition: pumped, so it is reset. Run at every notify (their own guests
 * notify as they queue more), so a stalled receiver costs bounded time.
 * vsock_lock held.
 */
static void vsock_expire(void)
{
	u64 now = arch_time_ns();

	for (u32 i = 0; i < KEEL_MAX_PARTITIONS; i++) {
		struct vsock *d = vsock_devs[i];

		if (d && d->blocked_on && d->blocked_on != d &&
		    now - d->wait_since > VSOCK_WAIT_MAX_NS)
			vsock_pump(d);
	}
}

static void vsock_notify(struct virtio_dev *vd, u32 q)
{
	struct vsock *v = vsock_of(vd);
	unsigned long flags = spin_lock_irqsave(&vsock_lock);

	if (q == VSOCK_TXQ)
		vsock_pump(v);
	else if (q == VSOCK_RXQ)
		vsock_wake(v);
	vsock_expire();
	spin_unlock_irqrestore(&vsock_lock, flags);
}

static void vsock_log_closing(const struct vsock *v)
{
	pr_info("partition '%s': vsock CID %u closed: sent %llu packets (%llu bytes), received "
		"%llu (%llu bytes), refused with RST %llu, dropped spoofed=%llu, reset for a "
		"stalled receiver %llu",
		v->vd.part->desc.h.name, v->cid, (unsigned long long)v->st.tx_packets,
		(unsigned long long)v->st.tx_bytes, (unsigned long long)v->st.rx_packets,
		(unsigned long long)v->st.rx_bytes, (unsigned long long)v->st.resets,
		(unsigned long long)v->st.spoofed, (unsigned long long)v->st.expired);
}

/*
 * The partition is gone: its CID leaves the router, and whoever waited for
 * its buffers is resumed (its packet gets RST now).
 */
static void vsock_destroy(struct virtio_dev *vd)
{
	struct vsock *v = vsock_of(vd);
	unsigned long flags = spin_lock_irqsave(&vsock_lock);

	vsock_devs[v->slot] = NULL;
	vsock_wake(v);
	for (u32 i = 0; i < KEEL_MAX_PARTITIONS; i++)
		if (vsock_devs[i] && vsock_devs[i]->wait_for == v)
			vsock_devs[i]->wait_for = NULL; /* a new device may come at this address */
	spin_unlock_irqrestore(&vsock_lock, flags);
	vsock_log_closing(v);
	virtio_free(v, sizeof(*v));
}

/* A virtio reset (vdev.lock and qlock held, not vsock_lock): the queues start afresh. */
static void vsock_reset(struct virtio_dev *vd)
{
	vsock_of(vd)->generation++;
}

static const struct virtio_dev_ops vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VSOCK_DEVICE_ID,
	.num_queues = 3,
	.config_size = VSOCK_CONFIG_SIZE,
	.config_read = vsock_config_read,
	.notify = vsock_notify,
	.reset = vsock_reset,
	.destroy = vsock_destroy,
};

/* The lowest CID from KEEL_VSOCK_CID_FIRST nobody has. vsock_lock held. */
static u32 vsock_free_cid(void)
{
	u32 cid = KEEL_VSOCK_CID_FIRST;

	while (vsock_find(cid))
		cid++; /* at most KEEL_MAX_PARTITIONS steps */
	return cid;
}

/* Enter @v into the router with CID *@cid (KEEL_VSOCK_CID_AUTO: the lowest free). */
static int vsock_register(struct vsock *v, u32 *cid)
{
	unsigned long flags = spin_lock_irqsave(&vsock_lock);
	int ret = -KEEL_ENOSPC;

	if (*cid == KEEL_VSOCK_CID_AUTO)
		*cid = (v->vd.part->desc.h.flags & KEEL_PD_MANAGEMENT) ? KEEL_VSOCK_CID_HOST
								       : vsock_free_cid();
	if (vsock_find(*cid)) {
		ret = -KEEL_EEXIST;
		goto out;
	}
	for (u32 i = 0; i < KEEL_MAX_PARTITIONS; i++) {
		if (!vsock_devs[i]) {
			v->cid = *cid;
			v->slot = i;
			vsock_devs[i] = v;
			ret = 0;
			break;
		}
	}
out:
	spin_unlock_irqrestore(&vsock_lock, flags);
	return ret;
}

/*
 * @part's vsock device with CID *@cid (KEEL_VSOCK_CID_AUTO: Keel picks and
 * says which in *@cid). 0, -KEEL_EEXIST (another partition has it),
 * -KEEL_ENOSPC or -KEEL_ENOMEM.
 */
int vsock_create(struct partition *part, u64 base, u32 irq, u32 *cid)
{
	struct vsock *v = virtio_alloc(sizeof(*v));
	unsigned long flags;
	int ret;

	if (!v)
		return -KEEL_ENOMEM;
	/* The CID is taken first; nothing is routed to @v before it is ready. */
	v->vd.part = part;
	ret = vsock_register(v, cid);
	if (ret) {
		virtio_free(v, sizeof(*v));
		return ret;
	}
	ret = virtio_dev_init(&v->vd, part, &vsock_ops, 0, base, irq);
	flags = spin_lock_irqsave(&vsock_lock);
	if (ret)
		vsock_devs[v->slot] = NULL;
	else
		v->ready = true;
	spin_unlock_irqrestore(&vsock_lock, flags);
	if (ret)
		virtio_free(v, sizeof(*v));
	return ret;
}
