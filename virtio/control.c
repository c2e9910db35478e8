/* SPDX-License-Identifier: MIT */
/*
 * The control port: a virtio-console device (id 3) with the MULTIPORT feature
 * and one port named "org.keel.control", through which Keel asks the guest
 * to power off. Unlike a power button it needs no driver beyond
 * virtio_console, and a request made before the guest listens waits for it.
 *
 * Queues (virtio 1.x §5.3.2): 0/1 port 0 receive/transmit, 2/3 control
 * receive/transmit. The driver announces itself (DEVICE_READY), Keel adds
 * port 0 (DEVICE_ADD), the driver answers PORT_READY, Keel names the port
 * and says its end is open (PORT_NAME, PORT_OPEN 1). When the guest opens the
 * port (PORT_OPEN 1 from the driver), pending requests go out as text lines
 * ("poweroff\n"); data sent while it is closed would be thrown away by Linux.
 * What the guest writes to the port is read and ignored.
 */
#include <keel/abi.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/spinlock.h>
#include <keel/virtio.h>

#include "virtio.h"

#define VCTL_DEVICE_ID 3u
#define VCTL_F_MULTIPORT 1
#define VCTL_PORT_RXQ 0u
#define VCTL_PORT_TXQ 1u
#define VCTL_CTRL_RXQ 2u
#define VCTL_CTRL_TXQ 3u
#define VCTL_CONFIG_SIZE 12u /* cols, rows, max_nr_ports, emerg_wr */
#define VCTL_CONFIG_NR_PORTS 4u
#define VCTL_PORT_ID 0u
#define VCTL_OUTBOX 4u /* control messages waiting for a receive buffer */

/* Control message events (§5.3.6.2). */
#define VCTL_DEVICE_READY 0u
#define VCTL_DEVICE_ADD 1u
#define VCTL_PORT_READY 3u
#define VCTL_PORT_OPEN 6u
#define VCTL_PORT_NAME 7u

/* struct virtio_console_control: le32 id, le16 event, le16 value. */
#define VCTL_MSG_SIZE 8u

struct vctl_msg {
	u32 id;
	u16 event;
	u16 value;
};

struct vctl {
	struct virtio_dev vd;
	struct vctl_msg outbox[VCTL_OUTBOX];
	u32 out_count;
	bool port_added; /* DEVICE_ADD sent since the last reset */
	bool port_named; /* PORT_NAME and PORT_OPEN sent since the last reset */
	bool guest_open; /* the guest has the port open */
	u32 pending; /* VIRTIO_CTL_* requests not yet written to the port */
};

static const char vctl_port_name[] = "org.keel.control";

/* Lines the guest reads, one per request bit ("cpus" gets its number when written). */
static const char *const vctl_lines[] = {
	[VIRTIO_CTL_POWEROFF] = "poweroff\n",
	[VIRTIO_CTL_CPUS] = "cpus",
};

/* Request @bit's line into @buf: the count of vCPUs it may have on is read now. */
static u32 vctl_line(const struct vctl *vc, u32 bit, char *buf, u32 size)
{
	if (bit == VIRTIO_CTL_CPUS)
		return (u32)snprintf(buf, size, "cpus %u\n", READ_ONCE(vc->vd.part->vcpus_allowed));
	return (u32)snprintf(buf, size, "%s", vctl_lines[bit]);
}

/* Requests reach the device from the management CPU; same scheme as the console. */
static struct spinlock vctl_table_lock = SPINLOCK_INIT;
static struct vctl *vctl_table[KEEL_MAX_PARTITIONS];

static struct vctl *vctl_of(struct virtio_dev *vd)
{
	return container_of(vd, struct vctl, vd);
}

static u32 vctl_slot(const struct partition *part)
{
	return part->id - 1;
}

static void vctl_config_read(struct virtio_dev *vd, u32 off, u32 size, u64 *value)
{
	u8 cfg[VCTL_CONFIG_SIZE] = { 0 };
	u64 v = 0;

	(void)vd;
	cfg[VCTL_CONFIG_NR_PORTS] = 1; /* max_nr_ports, le32 */
	for (u32 i = 0; i < size; i++)
		v |= (u64)cfg[off + i] << (8 * i);
	*value = v;
}

static void vctl_put_msg(u8 buf[VCTL_MSG_SIZE], const struct vctl_msg *m)
{
	for (u32 i = 0; i < 4; i++)
		buf[i] = (u8)(m->id >> (8 * i));
	buf[4] = (u8)m->event;
	buf[5] = (u8)(m->event >> 8);
	buf[6] = (u8)m->value;
	buf[7] = (u8)(m->value >> 8);
}

/* One control message into one receive buffer; PORT_NAME carries the name after it. */
static u32 vctl_write_msg(struct vctl *vc, const struct vctl_msg *m)
{
	struct virtq_chain *c = &vc->vd.chain;
	u8 head[VCTL_MSG_SIZE];
	u64 done;

	vctl_put_msg(head, m);
	done = virtq_chain_write(vc->vd.part, c, 0, head, sizeof(head));
	if (done == sizeof(head) && m->event == VCTL_PORT_NAME)
		done += virtq_chain_write(vc->vd.part, c, done, vctl_port_name,
					  sizeof(vctl_port_name) - 1);
	return (u32)done;
}

static void vctl_flush_outbox(struct vctl *vc)
{
	u32 n = 0;

	while (n < vc->out_count && virtio_pop(&vc->vd, VCTL_CTRL_RXQ)) {
		virtio_push(&vc->vd, VCTL_CTRL_RXQ, vctl_write_msg(vc, &vc->outbox[n]));
		n++;
	}
	if (!n)
		return;
	vc->out_count -= n;
	memmove(vc->outbox, vc->outbox + n, vc->out_count * sizeof(vc->outbox[0]));
	virtio_queue_interrupt(&vc->vd, VCTL_CTRL_RXQ);
}

/*
 * The handshake sends three messages per reset (DEVICE_ADD, then PORT_NAME
 * and PORT_OPEN), each once, so the outbox always has room for them.
 */
static void vctl_send(struct vctl *vc, u16 event, u16 value)
{
	if (vc->out_count == VCTL_OUTBOX)
		return;
	vc->outbox[vc->out_count++] = (struct vctl_msg){ VCTL_PORT_ID, event, value };
}

/* Write pending request lines into port 0's receive buffers while the guest listens. */
static void vctl_deliver(struct vctl *vc)
{
	bool pushed = false;

	for (u32 bit = 0; bit < ARRAY_SIZE(vctl_lines); bit++) {
		char line[24];
		u32 len;
		u64 done;

		if (!(vc->pending & BIT(bit)) || !vc->guest_open)
			continue;
		len = vctl_line(vc, bit, line, sizeof(line));
		if (!virtio_pop(&vc->vd, VCTL_PORT_RXQ))
			break;
		/* A line goes out whole or not at all: a too-small buffer comes back empty. */
		done = vc->vd.chain.in_len < len
			       ? 0
			       : virtq_chain_write(vc->vd.part, &vc->vd.chain, 0, line, len);
		virtio_push(&vc->vd, VCTL_PORT_RXQ, (u32)done);
		pushed = true;
		if (done == len)
			vc->pending &= ~(u32)BIT(bit);
	}
	if (pushed)
		virtio_queue_interrupt(&vc->vd, VCTL_PORT_RXQ);
}

static void vctl_handle(struct vctl *vc, const struct vctl_msg *m)
{
	switch (m->event) {
	case VCTL_DEVICE_READY: /* Linux sends it with id 0xffffffff */
		if (m->value == 1 && !vc->port_added) {
			vc->port_added = true;
			vctl_send(vc, VCTL_DEVICE_ADD, 0);
		}
		break;
	case VCTL_PORT_READY:
		if (m->id == VCTL_PORT_ID && m->value == 1 && vc->port_added && !vc->port_named) {
			vc->port_named = true;
			vctl_send(vc, VCTL_PORT_NAME, 0);
			vctl_send(vc, VCTL_PORT_OPEN, 1);
		}
		break;
	case VCTL_PORT_OPEN:
		if (m->id == VCTL_PORT_ID)
			vc->guest_open = m->value != 0;
		break;
	default: /* other events (resize, console port) mean nothing for this port */
		break;
	}
}

static void vctl_ctrl_tx(struct vctl *vc)
{
	u32 n;

	for (n = 0; n < VIRTQ_MAX_SIZE && virtio_pop(&vc->vd, VCTL_CTRL_TXQ); n++) {
		u8 b[VCTL_MSG_SIZE];

		if (virtq_chain_read(vc->vd.part, &vc->vd.chain, 0, b, sizeof(b)) == sizeof(b)) {
			struct vctl_msg m = {
				.id = b[0] | (u32)b[1] << 8 | (u32)b[2] << 16 | (u32)b[3] << 24,
				.event = (u16)(b[4] | b[5] << 8),
				.value = (u16)(b[6] | b[7] << 8),
			};

			vctl_handle(vc, &m);
		}
		virtio_push(&vc->vd, VCTL_CTRL_TXQ, 0);
	}
	if (n)
		virtio_queue_interrupt(&vc->vd, VCTL_CTRL_TXQ);
}

/* What the guest writes to the port: taken and dropped. */
static void vctl_port_tx(struct vctl *vc)
{
	u32 n;

	for (n = 0; n < VIRTQ_MAX_SIZE && virtio_pop(&vc->vd, VCTL_PORT_TXQ); n++)
		virtio_push(&vc->vd, VCTL_PORT_TXQ, 0);
	if (n)
		virtio_queue_interrupt(&vc->vd, VCTL_PORT_TXQ);
}

static void vctl_notify(struct virtio_dev *vd, u32 q)
{
	struct vctl *vc = vctl_of(vd);

	if (q == VCTL_CTRL_TXQ)
		vctl_ctrl_tx(vc);
	else if (q == VCTL_PORT_TXQ)
		vctl_port_tx(vc);
	vctl_flush_outbox(vc);
	vctl_deliver(vc);
}

/* The driver starts over: handshake again; requests not delivered stay pending. */
static void vctl_reset(struct virtio_dev *vd)
{
	struct vctl *vc = vctl_of(vd);

	vc->out_count = 0;
	vc->port_added = false;
	vc->port_named = false;
	vc->guest_open = false;
}

static void vctl_destroy(struct virtio_dev *vd)
{
	struct vctl *vc = vctl_of(vd);
	unsigned long flags = spin_lock_irqsave(&vctl_table_lock);

	if (vctl_table[vctl_slot(vd->part)] == vc)
		vctl_table[vctl_slot(vd->part)] = NULL;
	spin_unlock_irqrestore(&vctl_table_lock, flags);
	virtio_free(vc, sizeof(*vc));
}

/* Snapshots: the handshake so far, messages waiting, requests not yet written. */
struct vctl_state {
	struct vctl_msg outbox[VCTL_OUTBOX];
	u32 out_count;
	u8 port_added, port_named, guest_open, pad;
	u32 pending;
	u32 pad2;
};

static void vctl_save(struct virtio_dev *vd, void *buf)
{
	const struct vctl *vc = vctl_of(vd);
	struct vctl_state *st = buf;

	memset(st, 0, sizeof(*st));
	memcpy(st->outbox, vc->outbox, sizeof(st->outbox));
	st->out_count = vc->out_count;
	st->port_added = vc->port_added;
	st->port_named = vc->port_named;
	st->guest_open = vc->guest_open;
	st->pending = vc->pending;
}

/* A message Keel itself would queue: about port 0, an event it sends, a 0/1 value. */
static bool vctl_msg_ok(const struct vctl_msg *m)
{
	return m->id == VCTL_PORT_ID && m->value <= 1 &&
	       (m->event == VCTL_DEVICE_ADD || m->event == VCTL_PORT_OPEN ||
		m->event == VCTL_PORT_NAME);
}

static int vctl_restore(struct virtio_dev *vd, const void *buf)
{
	struct vctl *vc = vctl_of(vd);
	const struct vctl_state *st = buf;
	u32 i;

	if (st->out_count > VCTL_OUTBOX || st->port_added > 1 || st->port_named > 1 ||
	    st->guest_open > 1 || st->pad || st->pad2 || (st->pending >> VIRTIO_CTL_COUNT))
		return -KEEL_EINVAL;
	for (i = 0; i < st->out_count; i++)
		if (!vctl_msg_ok(&st->outbox[i]))
			return -KEEL_EINVAL;
	memcpy(vc->outbox, st->outbox, sizeof(vc->outbox));
	vc->out_count = st->out_count;
	vc->port_added = st->port_added;
	vc->port_named = st->port_named;
	vc->guest_open = st->guest_open;
	vc->pending = st->pending;
	return 0;
}

static const struct virtio_dev_ops vctl_ops = {
	.name = "virtio-control",
	.device_id = VCTL_DEVICE_ID,
	.num_queues = 4,
	.config_size = VCTL_CONFIG_SIZE,
	.config_read = vctl_config_read,
	.notify = vctl_notify,
	.reset = vctl_reset,
	.destroy = vctl_destroy,
	.state_size = sizeof(struct vctl_state),
	.save = vctl_save,
	.restore = vctl_restore,
};

_Static_assert(ARRAY_SIZE(vctl_lines) == VIRTIO_CTL_COUNT, "a line per control request");

/*
 * Ask @part's guest for @request (VIRTIO_CTL_*), now if it listens, else when it
 * opens the port. Any CPU. Returns false if @part has no control port.
 */
bool virtio_control_request(struct partition *part, u32 request)
{
	unsigned long tflags, flags;
	struct vctl *vc;

	if (!part->id || vctl_slot(part) >= KEEL_MAX_PARTITIONS || request >= VIRTIO_CTL_COUNT)
		return false;
	tflags = spin_lock_irqsave(&vctl_table_lock);
	vc = vctl_table[vctl_slot(part)];
	if (vc) {
		flags = spin_lock_irqsave(&vc->vd.vdev.lock);
		vc->pending |= BIT(request);
		vctl_deliver(vc);
		spin_unlock_irqrestore(&vc->vd.vdev.lock, flags);
	}
	spin_unlock_irqrestore(&vctl_table_lock, tflags);
	return vc != NULL;
}

int vctl_create(struct partition *part, u64 base, u32 irq)
{
	unsigned long flags;
	struct vctl *vc;
	int ret;

	if (!part->id || vctl_slot(part) >= KEEL_MAX_PARTITIONS)
		return -KEEL_EINVAL;
	vc = virtio_alloc(sizeof(*vc));
	if (!vc)
		return -KEEL_ENOMEM;
	ret = virtio_dev_init(&vc->vd, part, &vctl_ops, BIT(VCTL_F_MULTIPORT), base, irq);
	if (ret) {
		virtio_free(vc, sizeof(*vc));
		return ret;
	}
	flags = spin_lock_irqsave(&vctl_table_lock);
	vctl_table[vctl_slot(part)] = vc;
	spin_unlock_irqrestore(&vctl_table_lock, flags);
	return 0;
}
