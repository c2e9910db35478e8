/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (device id 3), one port: what the guest transmits goes to its
 * console on the hypervisor UART; UART input for it fills its receive buffers.
 */
#include <keel/abi.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/spinlock.h>
#include <keel/virtio.h>

#include "virtio.h"

#define VCON_DEVICE_ID 3u
#define VCON_RXQ 0u
#define VCON_TXQ 1u
#define VCON_CONFIG_SIZE 12u /* cols, rows, max_nr_ports, emerg_wr: all 0 here */
#define VCON_IN_MAX 4096u /* input held while the guest has no receive buffer */
/* Output taken from one chain: a huge buffer cannot hold the UART for long. */
#define VCON_TX_MAX KEEL_CONSOLE_WRITE_MAX

struct vcon {
	struct virtio_dev vd;
	u32 in_head; /* oldest byte in in_buf */
	u32 in_len;
	u64 in_dropped; /* bytes lost because in_buf was full */
	char in_buf[VCON_IN_MAX];
};

/*
 * Console input arrives on whatever CPU owns the UART; it finds the device
 * here. The table lock is held across the delivery so destroy cannot free
 * the device under it (order: table lock, then device lock).
 */
static struct spinlock vcon_table_lock = SPINLOCK_INIT;
static struct vcon *vcon_table[KEEL_MAX_PARTITIONS];

static struct vcon *vcon_of(struct virtio_dev *vd)
{
	return container_of(vd, struct vcon, vd);
}

static u32 vcon_slot(const struct partition *part)
{
	return part->id - 1;
}

/* Print what one transmit chain holds, at most VCON_TX_MAX bytes of it. */
static void vcon_tx_chain(struct vcon *vc)
{
	struct virtq_chain *c = &vc->vd.chain;
	u64 total = MIN(c->out_len, (u64)VCON_TX_MAX);
	char buf[256];
	u64 off;

	for (off = 0; off < total; off += sizeof(buf)) {
		u64 n = virtq_chain_read(vc->vd.part, c, off, buf, MIN(sizeof(buf), total - off));

		if (!n)
			break;
		console_part_write(vc->vd.part, buf, n);
	}
}

static void vcon_tx(struct vcon *vc)
{
	u32 n;

	for (n = 0; n < VIRTQ_MAX_SIZE && virtio_pop(&vc->vd, VCON_TXQ); n++) {
		vcon_tx_chain(vc);
		virtio_push(&vc->vd, VCON_TXQ, 0);
	}
	if (n)
		virtio_queue_interrupt(&vc->vd, VCON_TXQ);
}

/* Move buffered input into one receive chain; returns the bytes moved. */
static u32 vcon_rx_chain(struct vcon *vc)
{
	struct virtq_chain *c = &vc->vd.chain;
	u32 room = (u32)MIN(c->in_len, (u64)vc->in_len);
	u32 first = MIN(room, VCON_IN_MAX - vc->in_head);
	u64 done;

	done = virtq_chain_write(vc->vd.part, c, 0, vc->in_buf + vc->in_head, first);
	if (done == first && room > first)
		done += virtq_chain_write(vc->vd.part, c, first, vc->in_buf, room - first);
	vc->in_head = (vc->in_head + (u32)done) % VCON_IN_MAX;
	vc->in_len -= (u32)done;
	return (u32)done;
}

/* Fill receive buffers while input is waiting; buffers are taken only when there is some. */
static void vcon_rx(struct vcon *vc)
{
	u32 n;

	for (n = 0; n < VIRTQ_MAX_SIZE && vc->in_len; n++) {
		if (!virtio_pop(&vc->vd, VCON_RXQ))
			break;
		virtio_push(&vc->vd, VCON_RXQ, vcon_rx_chain(vc));
	}
	if (n)
		virtio_queue_interrupt(&vc->vd, VCON_RXQ);
}

static void vcon_notify(struct virtio_dev *vd, u32 q)
{
	struct vcon *vc = vcon_of(vd);

	if (q == VCON_TXQ) {
		vcon_tx(vc);
		return;
	}
	/* The guest posted receive buffers: from now on it reads console input. */
	WRITE_ONCE(vd->part->con_ready, 1);
	vcon_rx(vc);
}

/*
 * A virtio reset: the guest reads no input until it posts buffers again.
 * Bytes already typed for it stay buffered for its driver.
 */
static void vcon_reset(struct virtio_dev *vd)
{
	WRITE_ONCE(vd->part->con_ready, 0);
}

static void vcon_buffer_input(struct vcon *vc, const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (vc->in_len == VCON_IN_MAX) {
			vc->in_dropped += len - i;
			return;
		}
		vc->in_buf[(vc->in_head + vc->in_len) % VCON_IN_MAX] = buf[i];
		vc->in_len++;
	}
}

/*
 * Bytes typed for @part's console. Any CPU; must not be called with the
 * console lock held (transmit prints with the device lock held).
 */
void virtio_console_input(struct partition *part, const char *buf, size_t len)
{
	unsigned long tflags, flags;
	struct vcon *vc;

	if (!part->id || vcon_slot(part) >= KEEL_MAX_PARTITIONS)
		return;
	tflags = spin_lock_irqsave(&vcon_table_lock);
	vc = vcon_table[vcon_slot(part)];
	if (vc) {
		flags = spin_lock_irqsave(&vc->vd.vdev.lock);
		vcon_buffer_input(vc, buf, len);
		vcon_rx(vc);
		spin_unlock_irqrestore(&vc->vd.vdev.lock, flags);
	}
	spin_unlock_irqrestore(&vcon_table_lock, tflags);
}

static void vcon_destroy(struct virtio_dev *vd)
{
	struct vcon *vc = vcon_of(vd);
	unsigned long flags = spin_lock_irqsave(&vcon_table_lock);

	if (vcon_table[vcon_slot(vd->part)] == vc)
		vcon_table[vcon_slot(vd->part)] = NULL;
	spin_unlock_irqrestore(&vcon_table_lock, flags);
	virtio_free(vc, sizeof(*vc));
}

/* Snapshots: the input not yet read, and whether the guest has posted receive buffers. */
struct vcon_state {
	u32 in_head, in_len;
	u64 in_dropped;
	u32 con_ready;
	u32 pad;
	char in_buf[VCON_IN_MAX];
};

static void vcon_save(struct virtio_dev *vd, void *buf)
{
	const struct vcon *vc = vcon_of(vd);
	struct vcon_state *st = buf;

	st->in_head = vc->in_head;
	st->in_len = vc->in_len;
	st->in_dropped = vc->in_dropped;
	st->con_ready = READ_ONCE(vd->part->con_ready);
	st->pad = 0;
	memcpy(st->in_buf, vc->in_buf, sizeof(st->in_buf));
}

static int vcon_restore(struct virtio_dev *vd, const void *buf)
{
	struct vcon *vc = vcon_of(vd);
	const struct vcon_state *st = buf;

	if (st->in_head >= VCON_IN_MAX || st->in_len > VCON_IN_MAX || st->con_ready > 1 || st->pad)
		return -KEEL_EINVAL;
	vc->in_head = st->in_head;
	vc->in_len = st->in_len;
	vc->in_dropped = st->in_dropped;
	memcpy(vc->in_buf, st->in_buf, sizeof(vc->in_buf));
	WRITE_ONCE(vd->part->con_ready, st->con_ready);
	return 0;
}

static const struct virtio_dev_ops vcon_ops = {
	.name = "virtio-console",
	.device_id = VCON_DEVICE_ID,
	.num_queues = 2,
	.config_size = VCON_CONFIG_SIZE,
	.notify = vcon_notify,
	.reset = vcon_reset,
	.destroy = vcon_destroy,
	.state_size = sizeof(struct vcon_state),
	.save = vcon_save,
	.restore = vcon_restore,
};

/* No features: one port, no size or emergency write. */
int vcon_create(struct partition *part, u64 base, u32 irq)
{
	struct vcon *vc;
	unsigned long flags;
	int ret;

	if (!part->id || vcon_slot(part) >= KEEL_MAX_PARTITIONS)
		return -KEEL_EINVAL;
	vc = virtio_alloc(sizeof(*vc));
	if (!vc)
		return -KEEL_ENOMEM;
	ret = virtio_dev_init(&vc->vd, part, &vcon_ops, 0, base, irq);
	if (ret) {
		virtio_free(vc, sizeof(*vc));
		return ret;
	}
	flags = spin_lock_irqsave(&vcon_table_lock);
	vcon_table[vcon_slot(part)] = vc;
	spin_unlock_irqrestore(&vcon_table_lock, flags);
	part->con_input = virtio_console_input;
	return 0;
}
