/* SPDX-License-Identifier: MIT */
/*
 * Inside the virtio layer: the split virtqueue (virtq.c), the virtio-mmio
 * transport (mmio.c) and the one ops struct each device file implements.
 */
#ifndef KEEL_VIRTIO_INTERNAL_H
#define KEEL_VIRTIO_INTERNAL_H

#include <keel/types.h>
#include <keel/vdev.h>

struct partition;

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Device status bits (virtio 1.x §2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01u
#define VIRTIO_STATUS_DRIVER 0x02u
#define VIRTIO_STATUS_DRIVER_OK 0x04u
#define VIRTIO_STATUS_FEATURES_OK 0x08u
#define VIRTIO_STATUS_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED 0x80u

/* Reserved feature bits the transport and queue code implement. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29 /* not offered: interrupts follow avail->flags only */
#define VIRTIO_F_VERSION_1 32

/* InterruptStatus bits. */
#define VIRTIO_INT_USED 0x1u
#define VIRTIO_INT_CONFIG 0x2u

#define VIRTQ_MAX_SIZE 256u /* QueueNumMax of every queue; also the chain length limit */
#define VIRTIO_MAX_QUEUES 4u /* the control port's multiport device has 4 */

/* One guest buffer of a chain, checked to lie in partition RAM. */
struct virtq_seg {
	gpa_t addr;
	u32 len;
	u32 write; /* device-writable */
};

/*
 * A descriptor chain as the device sees it: every descriptor was read once
 * into this copy and checked, readable segments first, then writable ones.
 */
struct virtq_chain {
	u16 head; /* for virtq_push */
	u16 nseg;
	u32 pad;
	u64 out_len; /* bytes the device may read */
	u64 in_len; /* bytes the device may write */
	struct virtq_seg seg[VIRTQ_MAX_SIZE];
};

/* Driver-programmed state of one split virtqueue. */
struct virtq {
	u32 num; /* QueueNum: entries (power of two <= VIRTQ_MAX_SIZE once ready) */
	u32 ready;
	gpa_t desc, avail, used;
	u16 last_avail; /* next avail ring entry the device takes */
	u16 used_idx; /* the device's copy of used->idx */
	u32 pad;
};

/* virtq.c */
void virtq_reset(struct virtq *vq);
bool virtq_layout_ok(const struct partition *part, const struct virtq *vq);
int virtq_pop(const struct partition *part, struct virtq *vq, bool indirect,
	      struct virtq_chain *chain);
int virtq_push(struct partition *part, struct virtq *vq, u16 head, u32 len);
bool virtq_wants_interrupt(const struct partition *part, const struct virtq *vq);
/* The driver's avail idx (how many chains it has posted), for reports. 0 or -KEEL_EFAULT. */
int virtq_avail_idx(const struct partition *part, const struct virtq *vq, u16 *idx);
u64 virtq_chain_read(const struct partition *part, const struct virtq_chain *c, u64 off, void *dst,
		     u64 len);
u64 virtq_chain_write(struct partition *part, const struct virtq_chain *c, u64 off, const void *src,
		      u64 len);
/*
 * Copy @len bytes from byte @src_off of @src's readable part (@src_part's
 * memory) to byte @dst_off of @dst's writable part (@dst_part's), segment
 * by segment, one copy with no bounce buffer. Returns the bytes copied:
 * fewer if a chain ends first or a segment is not RAM.
 */
u64 virtq_chain_transfer(struct partition *dst_part, const struct virtq_chain *dst, u64 dst_off,
			 const struct partition *src_part, const struct virtq_chain *src,
			 u64 src_off, u64 len);

struct virtio_dev;

/*
 * What a device implements. Every hook runs with the device lock held
 * (vdev.lock); config offsets are relative to the device config space.
 */
struct virtio_dev_ops {
	const char *name; /* "virtio-blk"... for vdev.name */
	u32 device_id;
	u32 num_queues; /* <= VIRTIO_MAX_QUEUES */
	u32 config_size; /* bytes of device config space */
	/* Read config bytes [off, off + size); both within config_size. */
	void (*config_read)(struct virtio_dev *vd, u32 off, u32 size, u64 *value);
	/* The driver notified queue @q (a ready queue with DRIVER_OK set). */
	void (*notify)(struct virtio_dev *vd, u32 q);
	/* Drop device state that a virtio reset must drop. Optional. */
	void (*reset)(struct virtio_dev *vd);
	/* Free the device's memory (@vd included): the partition is gone. */
	void (*destroy)(struct virtio_dev *vd);
	/*
	 * Snapshots: the device's own state beyond the transport, state_size
	 * bytes (0: none, hooks unused). restore runs on a reset device and
	 * checks every field: 0, or -KEEL_EINVAL (the transport resets it).
	 */
	u32 state_size;
	void (*save)(struct virtio_dev *vd, void *buf);
	int (*restore)(struct virtio_dev *vd, const void *buf);
};

/*
 * One virtio-mmio device: the transport's registers around a device.
 *
 * Two locks. vdev.lock is the device's: taken for every register access,
 * held while the device handles a notify. qlock, always taken inside
 * vdev.lock when both are held and never held while taking another lock
 * but the arch's interrupt controller's, guards what other CPUs may touch:
 * status, isr, irq_level, and the queues a device fills from other CPUs
 * (virtio-net's receive queue, filled by whichever CPU sends to it). The
 * transport holds it for every register write but QueueNotify, for reset
 * and restore; notify hooks run without it.
 */
struct virtio_dev {
	struct vdev vdev; /* what core dispatches to; vdev.lock guards all below */
	struct spinlock qlock;
	const struct virtio_dev_ops *ops;
	struct partition *part;
	u64 device_features; /* device-specific bits; the transport adds its own */
	u64 driver_features;
	u32 device_features_sel, driver_features_sel;
	u32 queue_sel;
	u32 status;
	u32 isr; /* InterruptStatus */
	u32 config_generation;
	bool irq_level; /* last level driven on vdev.irq */
	struct virtq vq[VIRTIO_MAX_QUEUES];
	struct virtq_chain chain; /* scratch for the chain being handled */
};

/* The transport's part of a device snapshot (mmio.c); the device's own state follows. */
#define VIRTIO_STATE_MAGIC 0x31534956u /* "VIS1" */
#define VIRTIO_STATUS_ALL                                                             \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK | \
	 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)

struct virtio_state {
	u32 magic; /* VIRTIO_STATE_MAGIC */
	u32 device_id;
	u32 status, isr;
	u64 driver_features;
	u32 device_features_sel, driver_features_sel, queue_sel, config_generation;
	u32 dev_size; /* the device's own bytes after this: ops->state_size */
	u32 pad;
	struct virtq vq[VIRTIO_MAX_QUEUES]; /* as the device holds them */
};

/* mmio.c: for device files and devices.c */
int virtio_dev_init(struct virtio_dev *vd, struct partition *part, const struct virtio_dev_ops *ops,
		    u64 features, u64 base, u32 irq);
void *virtio_alloc(u64 bytes);
void virtio_free(void *p, u64 bytes);
bool virtio_dev_active(const struct virtio_dev *vd);
int virtio_pop(struct virtio_dev *vd, u32 q);
void virtio_push(struct virtio_dev *vd, u32 q, u32 len);
void virtio_queue_interrupt(struct virtio_dev *vd, u32 q);
void virtio_needs_reset(struct virtio_dev *vd, const char *why);
void virtio_config_changed(struct virtio_dev *vd);
/* The same, for a caller that holds vd->qlock (a device's cross-CPU path). */
void virtio_needs_reset_locked(struct virtio_dev *vd, const char *why);
void virtio_queue_interrupt_locked(struct virtio_dev *vd, u32 q);

/* Device constructors (devices.c calls them). */
int vcon_create(struct partition *part, u64 base, u32 irq);
int vctl_create(struct partition *part, u64 base, u32 irq);
int vrng_create(struct partition *part, u64 base, u32 irq);
void vrng_chacha20_block(const u32 key[8], const u32 iv[4], u8 out[64]);
void virtio_console_input(struct partition *part, const char *buf, size_t len);
int vblk_create(struct partition *part, u64 base, u32 irq, void *image, u64 size, bool ro);
int vmem_create(struct partition *part, u64 base, u32 irq);
struct netsw_net;
int vnet_create(struct partition *part, u64 base, u32 irq, struct netsw_net *net, const u8 mac[6],
		bool uplink);

/* virtio-vsock (vsock.c): the packet header (virtio 1.2 §5.10.6), little-endian. */
struct vsock_hdr {
	u64 src_cid, dst_cid;
	u32 src_port, dst_port;
	u32 len; /* payload bytes after the header */
	u16 type; /* 1: stream */
	u16 op; /* VSOCK_OP_* of vsock.c */
	u32 flags, buf_alloc, fwd_cnt;
} __packed;
#define VSOCK_HDR 44u
_Static_assert(sizeof(struct vsock_hdr) == VSOCK_HDR, "the vsock packet header");
#define VSOCK_HDR_OK 0u /* route it */
#define VSOCK_HDR_MALFORMED 1u /* len and chain disagree, or too long: reset the device */
#define VSOCK_HDR_SPOOFED 2u /* another source CID: dropped, counted */
#define VSOCK_HDR_REFUSED 3u /* a type, operation or CID Keel does not route: RST */
u32 vsock_hdr_check(const struct vsock_hdr *h, u64 payload, u32 own);
int vsock_create(struct partition *part, u64 base, u32 irq, u32 *cid);

#endif /* KEEL_VIRTIO_INTERNAL_H */
