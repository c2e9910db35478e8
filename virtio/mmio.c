/* SPDX-License-Identifier: MIT */
/*
 * The virtio-mmio transport, version 2 (virtio 1.x §4.2, no legacy): registers,
 * feature negotiation, the status state machine and the interrupt line.
 */
#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pmm.h>
#include <keel/virtio.h>

#include "virtio.h"

#define VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */
#define VIRTIO_MMIO_VERSION 2u
#define VIRTIO_MMIO_VENDOR 0x4b45454cu /* "KEEL" */
#define VIRTIO_MMIO_WINDOW 0x200u
#define VIRTIO_MMIO_CONFIG 0x100u

/* Register offsets. */
#define VM_MAGIC 0x000
#define VM_VERSION 0x004
#define VM_DEVICE_ID 0x008
#define VM_VENDOR_ID 0x00c
#define VM_DEV_FEATURES 0x010
#define VM_DEV_FEATURES_SEL 0x014
#define VM_DRV_FEATURES 0x020
#define VM_DRV_FEATURES_SEL 0x024
#define VM_QUEUE_SEL 0x030
#define VM_QUEUE_NUM_MAX 0x034
#define VM_QUEUE_NUM 0x038
#define VM_QUEUE_READY 0x044
#define VM_QUEUE_NOTIFY 0x050
#define VM_INT_STATUS 0x060
#define VM_INT_ACK 0x064
#define VM_STATUS 0x070
#define VM_QUEUE_DESC_LO 0x080
#define VM_QUEUE_DESC_HI 0x084
#define VM_QUEUE_DRIVER_LO 0x090
#define VM_QUEUE_DRIVER_HI 0x094
#define VM_QUEUE_DEVICE_LO 0x0a0
#define VM_QUEUE_DEVICE_HI 0x0a4
#define VM_CONFIG_GEN 0x0fc

/* Bits the transport and virtq.c implement for every device. */
#define VIRTIO_TRANSPORT_FEATURES (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC))

static struct virtio_dev *virtio_of(struct vdev *dev)
{
	return container_of(dev, struct virtio_dev, vdev);
}

/* Level-triggered: the line is high exactly while InterruptStatus is not 0. qlock held. */
static void virtio_update_irq(struct virtio_dev *vd)
{
	bool level = vd->isr != 0;

	if (level == vd->irq_level)
		return;
	vd->irq_level = level;
	arch_irq_set_level(vd->part, vd->vdev.irq, level);
}

/* The device is driven: DRIVER_OK set, no reset pending. */
bool virtio_dev_active(const struct virtio_dev *vd)
{
	return (READ_ONCE(vd->status) & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET)) ==
	       VIRTIO_STATUS_DRIVER_OK;
}

/*
 * The driver broke the device's contract (a malformed queue...): stop using
 * it until the driver resets it (§2.1.2), and tell the driver if it is live.
 */
void virtio_needs_reset_locked(struct virtio_dev *vd, const char *why)
{
	if (vd->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	pr_warn("partition '%s': %s at 0x%llx needs reset: %s", vd->part->desc.h.name,
		vd->vdev.name, (unsigned long long)vd->vdev.base, why);
	vd->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (vd->status & VIRTIO_STATUS_DRIVER_OK) {
		vd->isr |= VIRTIO_INT_CONFIG;
		virtio_update_irq(vd);
	}
}

void virtio_needs_reset(struct virtio_dev *vd, const char *why)
{
	unsigned long flags = spin_lock_irqsave(&vd->qlock);

	virtio_needs_reset_locked(vd, why);
	spin_unlock_irqrestore(&vd->qlock, flags);
}

/* The device changed its config: a new generation, and an interrupt once driven. */
void virtio_config_changed(struct virtio_dev *vd)
{
	unsigned long flags = spin_lock_irqsave(&vd->qlock);

	vd->config_generation++;
	if (virtio_dev_active(vd)) {
		vd->isr |= VIRTIO_INT_CONFIG;
		virtio_update_irq(vd);
	}
	spin_unlock_irqrestore(&vd->qlock, flags);
}

/*
 * Device side of the queue API (device lock held). virtio_pop fills vd->chain
 * and returns 1, or 0 when there is nothing (more) to do, malformed included.
 */
int virtio_pop(struct virtio_dev *vd, u32 q)
{
	bool indirect = vd->driver_features & BIT(VIRTIO_F_INDIRECT_DESC);
	int ret;

	if (q >= vd->ops->num_queues || !vd->vq[q].ready || !virtio_dev_active(vd))
		return 0;
	ret = virtq_pop(vd->part, &vd->vq[q], indirect, &vd->chain);
	if (ret < 0) {
		virtio_needs_reset(vd, "malformed descriptor chain or ring");
		return 0;
	}
	return ret;
}

/* Return vd->chain to queue @q with @len bytes written by the device. */
void virtio_push(struct virtio_dev *vd, u32 q, u32 len)
{
	if (virtq_push(vd->part, &vd->vq[q], vd->chain.head, len))
		virtio_needs_reset(vd, "used ring not writable");
}

/* Used buffers were returned on @q: interrupt unless the driver opted out. */
void virtio_queue_interrupt_locked(struct virtio_dev *vd, u32 q)
{
	if (!virtio_dev_active(vd) || !virtq_wants_interrupt(vd->part, &vd->vq[q]))
		return;
	vd->isr |= VIRTIO_INT_USED;
	virtio_update_irq(vd);
}

void virtio_queue_interrupt(struct virtio_dev *vd, u32 q)
{
	unsigned long flags = spin_lock_irqsave(&vd->qlock);

	virtio_queue_interrupt_locked(vd, q);
	spin_unlock_irqrestore(&vd->qlock, flags);
}

/* Writing 0 to Status: everything the driver set up is forgotten (§4.2.3.1). */
static void virtio_reset(struct virtio_dev *vd)
{
	u32 i;

	vd->status = 0;
	vd->driver_features = 0;
	vd->device_features_sel = 0;
	vd->driver_features_sel = 0;
	vd->queue_sel = 0;
	vd->isr = 0;
	for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
		virtq_reset(&vd->vq[i]);
	if (vd->ops->reset)
		vd->ops->reset(vd);
	virtio_update_irq(vd);
}

static u64 virtio_offered(const struct virtio_dev *vd)
{
	return vd->device_features | VIRTIO_TRANSPORT_FEATURES;
}

/*
 * FEATURES_OK only for a subset of what was offered that includes VERSION_1
 * (no legacy interface); otherwise the bit does not stick (§2.2.2).
 */
static bool virtio_features_ok(const struct virtio_dev *vd)
{
	return (vd->driver_features & ~virtio_offered(vd)) == 0 &&
	       (vd->driver_features & BIT(VIRTIO_F_VERSION_1));
}

/* Every ready queue must have been checked already; DRIVER_OK needs FEATURES_OK. */
static void virtio_write_status(struct virtio_dev *vd, u32 val)
{
	u32 added = val & ~vd->status;

	if (val == 0) {
		virtio_reset(vd);
		return;
	}
	/* The driver cannot clear bits except by reset, nor set NEEDS_RESET. */
	if ((vd->status & ~val) || (added & VIRTIO_STATUS_NEEDS_RESET))
		return;
	if ((added & VIRTIO_STATUS_FEATURES_OK) && !virtio_features_ok(vd))
		added &= ~VIRTIO_STATUS_FEATURES_OK;
	if ((added & VIRTIO_STATUS_DRIVER_OK) &&
	    !((vd->status | added) & VIRTIO_STATUS_FEATURES_OK))
		added &= ~VIRTIO_STATUS_DRIVER_OK;
	vd->status |= added;
}

static struct virtq *virtio_sel_queue(struct virtio_dev *vd)
{
	return vd->queue_sel < vd->ops->num_queues ? &vd->vq[vd->queue_sel] : NULL;
}

/* QueueReady = 1 checks the whole layout first; a bad one needs a reset. */
static void virtio_queue_set_ready(struct virtio_dev *vd, struct virtq *vq, u32 val)
{
	if (!val) {
		vq->ready = 0;
		return;
	}
	if (vq->ready)
		return;
	if (!virtq_layout_ok(vd->part, vq)) {
		virtio_needs_reset_locked(vd, "queue size or ring addresses invalid");
		return;
	}
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->ready = 1;
}

static void virtio_set_half(gpa_t *addr, bool high, u32 val)
{
	if (high)
		*addr = (*addr & 0xffffffffull) | ((u64)val << 32);
	else
		*addr = (*addr & ~0xffffffffull) | val;
}

/* Queue setup registers take effect only while the queue is not ready (§4.2.3.2). */
static void virtio_write_queue(struct virtio_dev *vd, u64 off, u32 val)
{
	struct virtq *vq = virtio_sel_queue(vd);

	if (!vq)
		return;
	if (off == VM_QUEUE_READY) {
		virtio_queue_set_ready(vd, vq, val);
		return;
	}
	if (vq->ready)
		return;
	switch (off) {
	case VM_QUEUE_NUM:
		vq->num = val;
		break;
	case VM_QUEUE_DESC_LO:
	case VM_QUEUE_DESC_HI:
		virtio_set_half(&vq->desc, off == VM_QUEUE_DESC_HI, val);
		break;
	case VM_QUEUE_DRIVER_LO:
	case VM_QUEUE_DRIVER_HI:
		virtio_set_half(&vq->avail, off == VM_QUEUE_DRIVER_HI, val);
		break;
	case VM_QUEUE_DEVICE_LO:
	case VM_QUEUE_DEVICE_HI:
		virtio_set_half(&vq->used, off == VM_QUEUE_DEVICE_HI, val);
		break;
	}
}

static void virtio_write_features(struct virtio_dev *vd, u32 val)
{
	/* Features are fixed once FEATURES_OK is set. */
	if (vd->driver_features_sel > 1 || (vd->status & VIRTIO_STATUS_FEATURES_OK))
		return;
	virtio_set_half(&vd->driver_features, vd->driver_features_sel == 1, val);
}

static void virtio_notify(struct virtio_dev *vd, u32 q)
{
	if (q < vd->ops->num_queues && vd->vq[q].ready && virtio_dev_active(vd))
		vd->ops->notify(vd, q);
}

static void virtio_write_reg(struct virtio_dev *vd, u64 off, u32 val)
{
	switch (off) {
	case VM_DEV_FEATURES_SEL:
		vd->device_features_sel = val;
		break;
	case VM_DRV_FEATURES:
		virtio_write_features(vd, val);
		break;
	case VM_DRV_FEATURES_SEL:
		vd->driver_features_sel = val;
		break;
	case VM_QUEUE_SEL:
		vd->queue_sel = val;
		break;
	case VM_INT_ACK:
		vd->isr &= ~val;
		virtio_update_irq(vd);
		break;
	case VM_STATUS:
		virtio_write_status(vd, val);
		break;
	default:
		virtio_write_queue(vd, off, val);
		break;
	}
}

static u32 virtio_read_reg(struct virtio_dev *vd, u64 off)
{
	struct virtq *vq = virtio_sel_queue(vd);

	switch (off) {
	case VM_MAGIC:
		return VIRTIO_MMIO_MAGIC;
	case VM_VERSION:
		return VIRTIO_MMIO_VERSION;
	case VM_DEVICE_ID:
		return vd->ops->device_id;
	case VM_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VM_DEV_FEATURES:
		return vd->device_features_sel > 1
			       ? 0
			       : (u32)(virtio_offered(vd) >> (32 * vd->device_features_sel));
	case VM_QUEUE_NUM_MAX:
		return vq ? VIRTQ_MAX_SIZE : 0;
	case VM_QUEUE_READY:
		return vq ? vq->ready : 0;
	case VM_INT_STATUS:
		return vd->isr;
	case VM_STATUS:
		return vd->status;
	case VM_CONFIG_GEN:
		return vd->config_generation;
	default:
		return 0; /* write-only and reserved registers read as 0 */
	}
}

/* Registers are 32-bit, aligned; the driver must not use other accesses (§4.2.2.2). */
static bool virtio_reg_access_ok(u64 off, u32 size)
{
	return size == 4 && IS_ALIGNED(off, 4);
}

static void virtio_config_read(struct virtio_dev *vd, u64 off, u32 size, u64 *value)
{
	u64 rel = off - VIRTIO_MMIO_CONFIG;

	*value = 0;
	if (vd->ops->config_read && range_within(rel, size, 0, vd->ops->config_size))
		vd->ops->config_read(vd, (u32)rel, size, value);
}

static int virtio_mmio_read(struct vdev *dev, struct vcpu *vcpu, u64 offset, u32 size, u64 *value)
{
	struct virtio_dev *vd = virtio_of(dev);
	unsigned long flags = spin_lock_irqsave(&dev->lock);

	*value = 0;
	if (offset >= VIRTIO_MMIO_CONFIG)
		virtio_config_read(vd, offset, size, value);
	else if (virtio_reg_access_ok(offset, size))
		*value = virtio_read_reg(vd, offset);
	else
		pr_warn_once("partition '%s': %u-byte read of virtio register 0x%llx ignored",
			     vd->part->desc.h.name, size, (unsigned long long)offset);
	spin_unlock_irqrestore(&dev->lock, flags);
	return 0;
}

/*
 * Config space is read-only for every device Keel has; writes are dropped.
 * Every register write but QueueNotify holds qlock too: the notify hook
 * sends (virtio-net), which takes other devices' qlocks.
 */
static int virtio_mmio_write(struct vdev *dev, struct vcpu *vcpu, u64 offset, u32 size, u64 value)
{
	struct virtio_dev *vd = virtio_of(dev);
	unsigned long flags = spin_lock_irqsave(&dev->lock);

	if (offset == VM_QUEUE_NOTIFY && virtio_reg_access_ok(offset, size)) {
		virtio_notify(vd, (u32)value);
	} else if (offset < VIRTIO_MMIO_CONFIG && virtio_reg_access_ok(offset, size)) {
		spin_lock(&vd->qlock);
		virtio_write_reg(vd, offset, (u32)value);
		spin_unlock(&vd->qlock);
	} else if (offset < VIRTIO_MMIO_CONFIG)
		pr_warn_once("partition '%s': %u-byte write of virtio register 0x%llx ignored",
			     vd->part->desc.h.name, size, (unsigned long long)offset);
	spin_unlock_irqrestore(&dev->lock, flags);
	return 0;
}

static void virtio_mmio_reset(struct vdev *dev)
{
	struct virtio_dev *vd = virtio_of(dev);
	unsigned long flags = spin_lock_irqsave(&dev->lock);

	spin_lock(&vd->qlock);
	virtio_reset(vd);
	spin_unlock(&vd->qlock);
	spin_unlock_irqrestore(&dev->lock, flags);
}

static void virtio_mmio_destroy(struct vdev *dev)
{
	struct virtio_dev *vd = virtio_of(dev);

	vd->ops->destroy(vd);
}

/* ---- Snapshots: the transport's state, then the device's own ---- */

static u32 virtio_state_size(const struct virtio_dev *vd)
{
	return (u32)sizeof(struct virtio_state) + vd->ops->state_size;
}

static int virtio_mmio_save(struct vdev *dev, void *buf, u32 len)
{
	struct virtio_dev *vd = virtio_of(dev);
	struct virtio_state st = { 0 };
	unsigned long flags;

	if (len < virtio_state_size(vd))
		return -KEEL_E2BIG;
	flags = spin_lock_irqsave(&dev->lock);
	spin_lock(&vd->qlock);
	st.magic = VIRTIO_STATE_MAGIC;
	st.device_id = vd->ops->device_id;
	st.status = vd->status;
	st.isr = vd->isr;
	st.driver_features = vd->driver_features;
	st.device_features_sel = vd->device_features_sel;
	st.driver_features_sel = vd->driver_features_sel;
	st.queue_sel = vd->queue_sel;
	st.config_generation = vd->config_generation;
	st.dev_size = vd->ops->state_size;
	memcpy(st.vq, vd->vq, sizeof(st.vq));
	memcpy(buf, &st, sizeof(st));
	if (vd->ops->state_size)
		vd->ops->save(vd, (u8 *)buf + sizeof(st));
	spin_unlock(&vd->qlock);
	spin_unlock_irqrestore(&dev->lock, flags);
	return (int)virtio_state_size(vd);
}

/* A saved queue: unused past the device's queues; if ready, a layout QueueReady accepts. */
static bool virtio_vq_state_ok(const struct virtio_dev *vd, u32 q, const struct virtq *s)
{
	static const struct virtq unused;

	if (s->pad || s->ready > 1)
		return false;
	if (q >= vd->ops->num_queues)
		return !memcmp(s, &unused, sizeof(unused));
	return !s->ready || virtq_layout_ok(vd->part, s);
}

/* What the registers could have reached: the status rules of virtio_write_status. */
static bool virtio_state_ok(const struct virtio_dev *vd, const struct virtio_state *st)
{
	u32 q;

	if (st->magic != VIRTIO_STATE_MAGIC || st->device_id != vd->ops->device_id ||
	    st->dev_size != vd->ops->state_size || st->pad)
		return false;
	if ((st->status & ~VIRTIO_STATUS_ALL) || (st->isr & ~(VIRTIO_INT_USED | VIRTIO_INT_CONFIG)))
		return false;
	if ((st->status & VIRTIO_STATUS_DRIVER_OK) && !(st->status & VIRTIO_STATUS_FEATURES_OK))
		return false;
	if ((st->status & VIRTIO_STATUS_FEATURES_OK) &&
	    ((st->driver_features & ~virtio_offered(vd)) ||
	     !(st->driver_features & BIT(VIRTIO_F_VERSION_1))))
		return false;
	for (q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (!virtio_vq_state_ok(vd, q, &st->vq[q]))
			return false;
	return true;
}

static void virtio_apply_state(struct virtio_dev *vd, const struct virtio_state *st)
{
	u32 q;

	vd->status = st->status;
	vd->isr = st->isr;
	vd->driver_features = st->driver_features;
	vd->device_features_sel = st->device_features_sel;
	vd->driver_features_sel = st->driver_features_sel;
	vd->queue_sel = st->queue_sel;
	vd->config_generation = st->config_generation;
	for (q = 0; q < vd->ops->num_queues; q++)
		vd->vq[q] = st->vq[q];
}

static int virtio_mmio_restore(struct vdev *dev, const void *buf, u32 len)
{
	struct virtio_dev *vd = virtio_of(dev);
	struct virtio_state st;
	unsigned long flags;
	int ret = -KEEL_EINVAL;

	flags = spin_lock_irqsave(&dev->lock);
	spin_lock(&vd->qlock);
	virtio_reset(vd);
	if (len == virtio_state_size(vd)) /* the header fits: the device's bytes follow */
		memcpy(&st, buf, sizeof(st));
	if (len == virtio_state_size(vd) && virtio_state_ok(vd, &st)) {
		virtio_apply_state(vd, &st);
		ret = vd->ops->state_size ? vd->ops->restore(vd, (const u8 *)buf + sizeof(st)) : 0;
		if (ret)
			virtio_reset(vd);
	}
	virtio_update_irq(vd);
	spin_unlock(&vd->qlock);
	spin_unlock_irqrestore(&dev->lock, flags);
	return ret;
}

static const struct vdev_ops virtio_mmio_ops = {
	.read = virtio_mmio_read,
	.write = virtio_mmio_write,
	.reset = virtio_mmio_reset,
	.destroy = virtio_mmio_destroy,
	.save = virtio_mmio_save,
	.restore = virtio_mmio_restore,
};

/*
 * Set up @vd (zeroed memory the device owns) for @ops and add it to @part at
 * @base with interrupt @irq. Returns 0 or vdev_add's error.
 */
int virtio_dev_init(struct virtio_dev *vd, struct partition *part, const struct virtio_dev_ops *ops,
		    u64 features, u64 base, u32 irq)
{
	vd->ops = ops;
	vd->part = part;
	vd->device_features = features;
	vd->vdev.name = ops->name;
	vd->vdev.space = VDEV_MMIO;
	vd->vdev.irq = irq;
	vd->vdev.base = base;
	vd->vdev.size = VIRTIO_MMIO_WINDOW;
	vd->vdev.ops = &virtio_mmio_ops;
	vd->vdev.lock = (struct spinlock)SPINLOCK_INIT;
	vd->qlock = (struct spinlock)SPINLOCK_INIT;
	vd->vdev.priv = vd;
	return vdev_add(part, &vd->vdev);
}

/* Queue @q of @vd for a report: "qN posted P taken T used U", or nothing if not ready. */
static u32 virtio_report_queue(const struct virtio_dev *vd, u32 q, char *buf, u32 len)
{
	const struct virtq *vq = &vd->vq[q];
	u16 posted = 0;
	int n;

	if (!READ_ONCE(vq->ready))
		return 0;
	if (virtq_avail_idx(vd->part, vq, &posted))
		n = snprintf(buf, len, "; q%u unreadable", q);
	else
		n = snprintf(buf, len, "; q%u posted %u taken %u used %u", q, posted,
			     READ_ONCE(vq->last_avail), READ_ONCE(vq->used_idx));
	return n < 0 ? 0 : MIN((u32)n, len - 1);
}

void virtio_report(struct partition *part, const char *why)
{
	char line[320], irq[120];

	for (u32 i = 0; i < part->vdev_count && i < KEEL_MAX_VDEVS; i++) {
		struct vdev *dev = part->vdevs[i];
		struct virtio_dev *vd;
		u32 used, q;

		if (dev->ops != &virtio_mmio_ops)
			continue;
		vd = virtio_of(dev);
		arch_irq_line_describe(part, dev->irq, irq, sizeof(irq));
		used = (u32)snprintf(line, sizeof(line), "%s at 0x%llx: status 0x%x, isr 0x%x, %s",
				     vd->ops->name, (unsigned long long)dev->base,
				     READ_ONCE(vd->status), READ_ONCE(vd->isr), irq);
		used = MIN(used, (u32)sizeof(line) - 1);
		for (q = 0; q < vd->ops->num_queues && used < sizeof(line) - 1; q++)
			used += virtio_report_queue(vd, q, line + used, sizeof(line) - used);
		pr_info("partition '%s' %s: %s", part->desc.h.name, why, line);
	}
}

/* Device state: zeroed whole pages from pmm, so nothing of a previous owner shows. */
void *virtio_alloc(u64 bytes)
{
	hpa_t pa = pmm_alloc(ALIGN_UP(bytes, PAGE_SIZE), PAGE_SIZE);

	return pa ? hpa_to_hva(pa) : NULL;
}

void virtio_free(void *p, u64 bytes)
{
	pmm_free(hva_to_hpa(p), ALIGN_UP(bytes, PAGE_SIZE));
}
