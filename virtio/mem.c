/* SPDX-License-Identifier: MIT */
/*
 * virtio-mem (device id 24, virtio 1.2 §5.15): the partition's hot-pluggable
 * region (keel/hotmem.h), plugged and unplugged in KEEL_HOTMEM_BLOCK blocks
 * at the driver's request, toward the size the operator set (RESIZE).
 * Offers VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE: unplugged blocks are not
 * mapped, and a guest that touches one faults as on any unbacked address.
 */
#include <keel/abi.h>
#include <keel/console.h>
#include <keel/hotmem.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/virtio.h>

#include "virtio.h"

#define VMEM_DEVICE_ID 24u
#define VMEM_F_UNPLUGGED_INACCESSIBLE 1

#define VMEM_REQ_PLUG 0u
#define VMEM_REQ_UNPLUG 1u
#define VMEM_REQ_UNPLUG_ALL 2u
#define VMEM_REQ_STATE 3u

#define VMEM_RESP_ACK 0u
#define VMEM_RESP_NACK 1u
#define VMEM_RESP_ERROR 3u

/* struct virtio_mem_config, little-endian. */
#define VMEM_CFG_BLOCK_SIZE 0u
#define VMEM_CFG_NODE_ID 8u
#define VMEM_CFG_ADDR 16u
#define VMEM_CFG_REGION_SIZE 24u
#define VMEM_CFG_USABLE_SIZE 32u
#define VMEM_CFG_PLUGGED_SIZE 40u
#define VMEM_CFG_REQUESTED_SIZE 48u
#define VMEM_CONFIG_SIZE 56u

/* struct virtio_mem_req: type, padding, then addr and nb_blocks (plug, unplug, state). */
struct vmem_req {
	u16 type;
	u16 pad[3];
	u64 addr;
	u16 nb_blocks;
	u16 pad2[3];
};

/* struct virtio_mem_resp: type, padding, then the state of a STATE request. */
struct vmem_resp {
	u16 type;
	u16 pad[3];
	u16 state;
};
#define VMEM_RESP_SIZE 10u

struct vmem {
	struct virtio_dev vd;
	u32 warned_nomem;
	u32 pad;
};

/* The device of each partition slot, for RESIZE from another CPU. */
static struct vmem *vmem_table[KEEL_MAX_PARTITIONS];
static struct spinlock vmem_table_lock = SPINLOCK_INIT;

static struct vmem *vmem_of(struct virtio_dev *vd)
{
	return container_of(vd, struct vmem, vd);
}

static u32 vmem_slot(const struct partition *part)
{
	return part->id - 1;
}

static void vmem_config_read(struct virtio_dev *vd, u32 off, u32 size, u64 *value)
{
	const struct hotmem *hm = &vd->part->hotmem;
	u8 cfg[VMEM_CONFIG_SIZE] = { 0 };
	u64 block = KEEL_HOTMEM_BLOCK;
	u64 plugged = __atomic_load_n(&hm->plugged, __ATOMIC_RELAXED);
	u64 requested = __atomic_load_n(&hm->requested, __ATOMIC_RELAXED);

	memcpy(cfg + VMEM_CFG_BLOCK_SIZE, &block, sizeof(block));
	memcpy(cfg + VMEM_CFG_ADDR, &hm->base, sizeof(hm->base));
	memcpy(cfg + VMEM_CFG_REGION_SIZE, &hm->size, sizeof(hm->size));
	memcpy(cfg + VMEM_CFG_USABLE_SIZE, &hm->size, sizeof(hm->size));
	memcpy(cfg + VMEM_CFG_PLUGGED_SIZE, &plugged, sizeof(plugged));
	memcpy(cfg + VMEM_CFG_REQUESTED_SIZE, &requested, sizeof(requested));
	memcpy(value, cfg + off, size);
}

static u16 vmem_plug(struct vmem *m, const struct vmem_req *r)
{
	struct partition *part = m->vd.part;
	struct hotmem *hm = &part->hotmem;
	u64 bytes = (u64)r->nb_blocks * KEEL_HOTMEM_BLOCK;
	int ret;

	/* Outside the region, or any block plugged already: ERROR, whatever the size (a MUST). */
	if (hotmem_state(part, r->addr, r->nb_blocks) != HOTMEM_UNPLUGGED)
		return VMEM_RESP_ERROR;
	/* Beyond the requested size: the driver asks too early or too much (§5.15.6.3). */
	if (hm->plugged + bytes > __atomic_load_n(&hm->requested, __ATOMIC_RELAXED))
		return VMEM_RESP_NACK;
	ret = hotmem_plug(part, r->addr, r->nb_blocks);
	if (ret == -KEEL_ENOMEM && !m->warned_nomem) {
		pr_warn("partition '%s': virtio-mem: the host has no %llu MiB free to plug",
			part->desc.h.name, (unsigned long long)(bytes >> 20));
		m->warned_nomem = 1;
	}
	return !ret ? VMEM_RESP_ACK : ret == -KEEL_ENOMEM ? VMEM_RESP_NACK : VMEM_RESP_ERROR;
}

/* The response to one request; *state for STATE. */
static u16 vmem_handle(struct vmem *m, const struct vmem_req *r, u16 *state)
{
	struct partition *part = m->vd.part;
	int ret;

	switch (r->type) {
	case VMEM_REQ_PLUG:
		return vmem_plug(m, r);
	case VMEM_REQ_UNPLUG:
		return hotmem_unplug(part, r->addr, r->nb_blocks) ? VMEM_RESP_ERROR : VMEM_RESP_ACK;
	case VMEM_REQ_UNPLUG_ALL:
		hotmem_unplug_all(part);
		return VMEM_RESP_ACK;
	case VMEM_REQ_STATE:
		ret = hotmem_state(part, r->addr, r->nb_blocks);
		if (ret < 0)
			return VMEM_RESP_ERROR;
		*state = (u16)ret;
		return VMEM_RESP_ACK;
	default:
		return VMEM_RESP_ERROR;
	}
}

/* One request chain: false if it is malformed (the device then needs a reset). */
static bool vmem_request(struct vmem *m)
{
	const struct virtq_chain *c = &m->vd.chain;
	struct vmem_req req;
	struct vmem_resp resp = { 0 };

	if (c->out_len < sizeof(req) || c->in_len < VMEM_RESP_SIZE ||
	    virtq_chain_read(m->vd.part, c, 0, &req, sizeof(req)) != sizeof(req))
		return false;
	resp.type = vmem_handle(m, &req, &resp.state);
	if (virtq_chain_write(m->vd.part, c, 0, &resp, VMEM_RESP_SIZE) != VMEM_RESP_SIZE)
		return false;
	virtio_push(&m->vd, 0, VMEM_RESP_SIZE);
	return true;
}

static void vmem_notify(struct virtio_dev *vd, u32 q)
{
	struct vmem *m = vmem_of(vd);
	u32 n;

	for (n = 0; n < VIRTQ_MAX_SIZE && virtio_pop(vd, 0); n++) {
		if (!vmem_request(m)) {
			virtio_needs_reset(vd, "malformed virtio-mem request");
			return;
		}
	}
	if (n)
		virtio_queue_interrupt(vd, 0);
}

static void vmem_destroy(struct virtio_dev *vd)
{
	struct vmem *m = vmem_of(vd);
	unsigned long flags = spin_lock_irqsave(&vmem_table_lock);

	if (vmem_table[vmem_slot(vd->part)] == m)
		vmem_table[vmem_slot(vd->part)] = NULL;
	spin_unlock_irqrestore(&vmem_table_lock, flags);
	virtio_free(m, sizeof(*m));
}

static const struct virtio_dev_ops vmem_ops = {
	.name = "virtio-mem",
	.device_id = VMEM_DEVICE_ID,
	.num_queues = 1,
	.config_size = VMEM_CONFIG_SIZE,
	.config_read = vmem_config_read,
	.notify = vmem_notify,
	.destroy = vmem_destroy,
};

int vmem_create(struct partition *part, u64 base, u32 irq)
{
	struct vmem *m;
	unsigned long flags;
	int ret;

	if (!part->hotmem.size || !part->id || vmem_slot(part) >= KEEL_MAX_PARTITIONS)
		return -KEEL_EINVAL; /* pdesc_check refused it already */
	m = virtio_alloc(sizeof(*m));
	if (!m)
		return -KEEL_ENOMEM;
	ret = virtio_dev_init(&m->vd, part, &vmem_ops, BIT(VMEM_F_UNPLUGGED_INACCESSIBLE), base,
			      irq);
	if (ret) {
		virtio_free(m, sizeof(*m));
		return ret;
	}
	flags = spin_lock_irqsave(&vmem_table_lock);
	vmem_table[vmem_slot(part)] = m;
	spin_unlock_irqrestore(&vmem_table_lock, flags);
	return 0;
}

int virtio_mem_resize(struct partition *part, u64 bytes)
{
	unsigned long flags;
	struct vmem *m;
	int ret = -KEEL_EINVAL;

	if (!part->id || vmem_slot(part) >= KEEL_MAX_PARTITIONS)
		return ret;
	flags = spin_lock_irqsave(&vmem_table_lock);
	m = vmem_table[vmem_slot(part)];
	if (m && bytes <= part->hotmem.size && IS_ALIGNED(bytes, KEEL_HOTMEM_BLOCK)) {
		/*
		 * The device lock may be held for one notify's plugging and
		 * scrubbing: bounded by what this partition was granted.
		 */
		spin_lock(&m->vd.vdev.lock);
		__atomic_store_n(&part->hotmem.requested, bytes, __ATOMIC_RELAXED);
		virtio_config_changed(&m->vd);
		spin_unlock(&m->vd.vdev.lock);
		ret = 0;
	}
	spin_unlock_irqrestore(&vmem_table_lock, flags);
	return ret;
}
