/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (device id 2) backed by an image in hypervisor memory (a boot
 * module). Memory-backed: a write is durable as soon as it is copied, so
 * FLUSH has nothing to do and succeeds.
 */
#include <keel/abi.h>
#include <keel/lib.h>
#include <keel/partition.h>

#include "virtio.h"

#define VBLK_DEVICE_ID 2u
#define VBLK_SECTOR 512u
#define VBLK_HDR 16u /* type, reserved, sector */
#define VBLK_ID_BYTES 20u

#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_FLUSH 9

#define VIRTIO_BLK_T_IN 0u
#define VIRTIO_BLK_T_OUT 1u
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_T_GET_ID 8u

#define VIRTIO_BLK_S_OK 0u
#define VIRTIO_BLK_S_IOERR 1u
#define VIRTIO_BLK_S_UNSUPP 2u

/* Config space: capacity (u64) at 0, size_max at 8, seg_max at 12. */
#define VBLK_CONFIG_SIZE 24u
/* A request is a header, data segments and the status byte: all fit a queue. */
#define VBLK_SEG_MAX (VIRTQ_MAX_SIZE - 2)

struct vblk {
	struct virtio_dev vd;
	u8 *image;
	u64 capacity; /* sectors; a partial last sector of the image is not exposed */
	bool ro;
};

/* A request header as the guest wrote it, and what it decodes to. */
struct vblk_req {
	u32 type;
	u32 reserved;
	u64 sector;
};

static struct vblk *vblk_of(struct virtio_dev *vd)
{
	return container_of(vd, struct vblk, vd);
}

static void vblk_config_read(struct virtio_dev *vd, u32 off, u32 size, u64 *value)
{
	struct vblk *b = vblk_of(vd);
	u8 cfg[VBLK_CONFIG_SIZE] = { 0 };
	u32 seg_max = VBLK_SEG_MAX;

	memcpy(cfg, &b->capacity, sizeof(b->capacity));
	memcpy(cfg + 12, &seg_max, sizeof(seg_max));
	memcpy(value, cfg + off, size);
}

/* true if [sector, sector + bytes / 512) lies inside the disk, without overflow. */
static bool vblk_range_ok(const struct vblk *b, u64 sector, u64 bytes)
{
	return bytes % VBLK_SECTOR == 0 && sector <= b->capacity &&
	       bytes / VBLK_SECTOR <= b->capacity - sector;
}

/* Device-writable data of the chain: everything but the final status byte. */
static u32 vblk_read(struct vblk *b, const struct vblk_req *r, u32 *written)
{
	const struct virtq_chain *c = &b->vd.chain;
	u64 bytes = c->in_len - 1;

	if (!vblk_range_ok(b, r->sector, bytes))
		return VIRTIO_BLK_S_IOERR;
	if (virtq_chain_write(b->vd.part, c, 0, b->image + r->sector * VBLK_SECTOR, bytes) != bytes)
		return VIRTIO_BLK_S_IOERR;
	*written = (u32)bytes;
	return VIRTIO_BLK_S_OK;
}

/* Device-readable data after the header; nothing is written on a read-only disk. */
static u32 vblk_write(struct vblk *b, const struct vblk_req *r)
{
	const struct virtq_chain *c = &b->vd.chain;
	u64 bytes = c->out_len - VBLK_HDR;

	if (b->ro || !vblk_range_ok(b, r->sector, bytes))
		return VIRTIO_BLK_S_IOERR;
	if (virtq_chain_read(b->vd.part, c, VBLK_HDR, b->image + r->sector * VBLK_SECTOR, bytes) !=
	    bytes)
		return VIRTIO_BLK_S_IOERR;
	return VIRTIO_BLK_S_OK;
}

static u32 vblk_get_id(struct vblk *b, u32 *written)
{
	u64 n = MIN(b->vd.chain.in_len - 1, (u64)VBLK_ID_BYTES);
	const char *name = b->vd.part->desc.h.name;
	char id[VBLK_ID_BYTES] = { 0 };

	/* "keel-" and the partition name, cut at 20 bytes (no NUL needed then). */
	memcpy(id, "keel-", 5);
	memcpy(id + 5, name, strnlen(name, VBLK_ID_BYTES - 5));
	*written = (u32)virtq_chain_write(b->vd.part, &b->vd.chain, 0, id, n);
	return VIRTIO_BLK_S_OK;
}

static u32 vblk_perform(struct vblk *b, const struct vblk_req *r, u32 *written)
{
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		return vblk_read(b, r, written);
	case VIRTIO_BLK_T_OUT:
		return vblk_write(b, r);
	case VIRTIO_BLK_T_FLUSH:
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		return vblk_get_id(b, written);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/*
 * One request. A chain without a whole header or a status byte cannot be
 * answered at all: the queue is malformed. Returns false then.
 */
static bool vblk_handle(struct vblk *b)
{
	const struct virtq_chain *c = &b->vd.chain;
	struct vblk_req r;
	u32 written = 0;
	u8 status;

	if (c->out_len < VBLK_HDR || c->in_len < 1 ||
	    virtq_chain_read(b->vd.part, c, 0, &r, sizeof(r)) != sizeof(r))
		return false;
	status = (u8)vblk_perform(b, &r, &written);
	if (virtq_chain_write(b->vd.part, c, c->in_len - 1, &status, 1) != 1)
		return false;
	virtio_push(&b->vd, 0, written + 1);
	return true;
}

static void vblk_notify(struct virtio_dev *vd, u32 q)
{
	struct vblk *b = vblk_of(vd);
	u32 n;

	for (n = 0; n < VIRTQ_MAX_SIZE && virtio_pop(vd, 0); n++) {
		if (!vblk_handle(b)) {
			virtio_needs_reset(vd, "block request without header or status byte");
			break;
		}
	}
	if (n)
		virtio_queue_interrupt(vd, 0);
}

static void vblk_destroy(struct virtio_dev *vd)
{
	struct vblk *b = vblk_of(vd);

	virtio_free(b, sizeof(*b));
}

static const struct virtio_dev_ops vblk_ops = {
	.name = "virtio-blk",
	.device_id = VBLK_DEVICE_ID,
	.num_queues = 1,
	.config_size = VBLK_CONFIG_SIZE,
	.config_read = vblk_config_read,
	.notify = vblk_notify,
	.destroy = vblk_destroy,
};

/* A disk over [image, image + size) of hypervisor memory; @ro refuses writes. */
int vblk_create(struct partition *part, u64 base, u32 irq, void *image, u64 size, bool ro)
{
	u64 features = BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_FLUSH);
	struct vblk *b = virtio_alloc(sizeof(*b));
	int ret;

	if (!b)
		return -KEEL_ENOMEM;
	b->image = image;
	b->capacity = size / VBLK_SECTOR;
	b->ro = ro;
	if (ro)
		features |= BIT(VIRTIO_BLK_F_RO);
	ret = virtio_dev_init(&b->vd, part, &vblk_ops, features, base, irq);
	if (ret)
		virtio_free(b, sizeof(*b));
	return ret;
}
