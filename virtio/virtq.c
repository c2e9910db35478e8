/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (virtio 1.x §2.7): ring layout checks, descriptor chains
 * walked with a TTL and copied once into hypervisor memory, used ring updates.
 * Both arches Keel runs on are little-endian, as virtio 1.x rings are.
 */
#include <keel/abi.h>
#include <keel/guest_mem.h>
#include <keel/lib.h>

#include "virtio.h"

#define VIRTQ_DESC_F_NEXT 0x1u
#define VIRTQ_DESC_F_WRITE 0x2u
#define VIRTQ_DESC_F_INDIRECT 0x4u
#define VIRTQ_AVAIL_F_NO_INTERRUPT 0x1u

/* Guest layout of a descriptor. */
struct virtq_desc {
	u64 addr;
	u32 len;
	u16 flags;
	u16 next;
};

_Static_assert(sizeof(struct virtq_desc) == 16, "descriptor layout");

void virtq_reset(struct virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

/* Ring sizes include the event fields, present whether or not EVENT_IDX is used. */
static u64 virtq_desc_bytes(u32 num)
{
	return 16ull * num;
}

static u64 virtq_avail_bytes(u32 num)
{
	return 6ull + 2ull * num;
}

static u64 virtq_used_bytes(u32 num)
{
	return 6ull + 8ull * num;
}

/*
 * A queue may be made ready only with a power-of-two size within the maximum
 * and each ring aligned as §2.7 requires and wholly inside partition RAM.
 */
bool virtq_layout_ok(const struct partition *part, const struct virtq *vq)
{
	u32 n = vq->num;

	if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
		return false;
	if (!IS_ALIGNED(vq->desc, 16) || !IS_ALIGNED(vq->avail, 2) || !IS_ALIGNED(vq->used, 4))
		return false;
	return guest_range_is_ram(part, vq->desc, virtq_desc_bytes(n)) &&
	       guest_range_is_ram(part, vq->avail, virtq_avail_bytes(n)) &&
	       guest_range_is_ram(part, vq->used, virtq_used_bytes(n));
}

/*
 * Ring indices are 16-bit fields the other side updates concurrently.
 * Single-copy-atomic: the guest updates these concurrently, and a torn idx
 * would look like a jump or a rewind.
 */
static int virtq_load16(const struct partition *part, gpa_t gpa, u16 *val)
{
	return guest_load_u16(part, gpa, val);
}

static int virtq_store16(struct partition *part, gpa_t gpa, u16 val)
{
	return guest_store_u16(part, gpa, val);
}

/* Append @d to @c after checking it; readable segments may not follow writable ones. */
static int virtq_add_seg(const struct partition *part, struct virtq_chain *c,
			 const struct virtq_desc *d, u32 max)
{
	bool write = d->flags & VIRTQ_DESC_F_WRITE;

	if (c->nseg >= max)
		return -KEEL_E2BIG;
	if (!write && c->in_len)
		return -KEEL_EINVAL;
	if (!guest_range_is_ram(part, d->addr, d->len))
		return -KEEL_EFAULT;
	if (d->len == 0)
		return 0;
	c->seg[c->nseg].addr = d->addr;
	c->seg[c->nseg].len = d->len;
	c->seg[c->nseg].write = write;
	c->nseg++;
	if (write)
		c->in_len += d->len;
	else
		c->out_len += d->len;
	/* Drivers must not make a chain over 4 GiB (§2.7.5); used lengths are 32-bit. */
	return c->in_len + c->out_len > 0xffffffffull ? -KEEL_E2BIG : 0;
}

static int virtq_walk(const struct partition *part, gpa_t table, u32 count, u16 idx, bool top,
		      bool indirect, struct virtq_chain *c, u32 max);

/*
 * An indirect table: a whole number of descriptors, aligned like the ring's
 * own table, inside RAM, no longer than the queue, and no table inside it.
 */
static int virtq_walk_indirect(const struct partition *part, const struct virtq_desc *d,
			       struct virtq_chain *c, u32 max)
{
	if (d->flags & VIRTQ_DESC_F_NEXT)
		return -KEEL_EINVAL;
	if (d->len == 0 || d->len % 16 || d->len / 16 > max || !IS_ALIGNED(d->addr, 16))
		return -KEEL_EINVAL;
	if (!guest_range_is_ram(part, d->addr, d->len))
		return -KEEL_EFAULT;
	return virtq_walk(part, d->addr, d->len / 16, 0, false, false, c, max);
}

/*
 * Follow the chain at @idx of the @count-entry table at @table. The TTL is
 * the table size: a chain that visits more descriptors than exist loops.
 */
static int virtq_walk(const struct partition *part, gpa_t table, u32 count, u16 idx, bool top,
		      bool indirect, struct virtq_chain *c, u32 max)
{
	u32 ttl;
	int ret;

	for (ttl = count; ttl; ttl--) {
		struct virtq_desc d;

		if (idx >= count)
			return -KEEL_EINVAL;
		if (guest_copy_from(part, &d, table + 16ull * idx, sizeof(d)))
			return -KEEL_EFAULT;
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!top || !indirect)
				return -KEEL_EINVAL;
			return virtq_walk_indirect(part, &d, c, max);
		}
		ret = virtq_add_seg(part, c, &d, max);
		if (ret)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
	return -KEEL_EINVAL;
}

/*
 * Take the next available chain into @chain. Returns 1, 0 if the driver has
 * made nothing available, or a negative error if the queue is malformed (the
 * caller then stops using it; last_avail is not advanced).
 */
int virtq_pop(const struct partition *part, struct virtq *vq, bool indirect,
	      struct virtq_chain *chain)
{
	u16 avail_idx, head;
	int ret;

	if (virtq_load16(part, vq->avail + 2, &avail_idx))
		return -KEEL_EFAULT;
	if ((u16)(avail_idx - vq->last_avail) > vq->num)
		return -KEEL_EINVAL;
	if (avail_idx == vq->last_avail)
		return 0;
	/* Read the ring entry and descriptors only after the index that published them. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (virtq_load16(part, vq->avail + 4 + 2ull * (vq->last_avail & (vq->num - 1)), &head))
		return -KEEL_EFAULT;
	if (head >= vq->num)
		return -KEEL_EINVAL;
	chain->head = head;
	chain->nseg = 0;
	chain->out_len = 0;
	chain->in_len = 0;
	ret = virtq_walk(part, vq->desc, vq->num, head, true, indirect, chain, vq->num);
	if (ret)
		return ret;
	vq->last_avail++;
	return 1;
}

int virtq_avail_idx(const struct partition *part, const struct virtq *vq, u16 *idx)
{
	return virtq_load16(part, vq->avail + 2, idx);
}

/* Return chain @head to the driver with @len bytes written. */
int virtq_push(struct partition *part, struct virtq *vq, u16 head, u32 len)
{
	u32 elem[2] = { head, len };
	gpa_t slot = vq->used + 4 + 8ull * (vq->used_idx & (vq->num - 1));

	if (guest_copy_to(part, slot, elem, sizeof(elem)))
		return -KEEL_EFAULT;
	/* The element must be visible before the index that publishes it. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vq->used_idx++;
	return virtq_store16(part, vq->used + 2, vq->used_idx);
}

/* false if the driver asked for no used-buffer interrupts (avail->flags). */
bool virtq_wants_interrupt(const struct partition *part, const struct virtq *vq)
{
	u16 flags;

	/* Order the used idx store before reading the driver's flags. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (virtq_load16(part, vq->avail, &flags))
		return true;
	return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/*
 * Copy between a chain and hypervisor memory at byte @off of its readable
 * (or writable) part. Returns the bytes copied; fewer if the chain ends.
 */
static u64 virtq_chain_copy(struct partition *part, const struct virtq_chain *c, bool write,
			    u64 off, void *buf, u64 len)
{
	u64 done = 0;
	u32 i;

	for (i = 0; i < c->nseg && i < VIRTQ_MAX_SIZE && done < len; i++) {
		const struct virtq_seg *s = &c->seg[i];
		u64 n;

		if (!s->write != !write)
			continue;
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = MIN(len - done, s->len - off);
		if (write ? guest_copy_to(part, s->addr + off, (const u8 *)buf + done, n)
			  : guest_copy_from(part, (u8 *)buf + done, s->addr + off, n))
			break;
		done += n;
		off = 0;
	}
	return done;
}

/* Where byte @off of @c's readable (or writable) part is: segment *@i, offset *@at in it. */
static bool virtq_chain_seek(const struct virtq_chain *c, bool write, u64 off, u32 *i, u64 *at)
{
	for (*i = 0; *i < c->nseg && *i < VIRTQ_MAX_SIZE; (*i)++) {
		const struct virtq_seg *s = &c->seg[*i];

		if (!s->write != !write)
			continue;
		if (off < s->len) {
			*at = off;
			return true;
		}
		off -= s->len;
	}
	return false;
}

/* The next segment of @c's part after *@i, at its start; false at the end. */
static bool virtq_chain_next(const struct virtq_chain *c, bool write, u32 *i, u64 *at)
{
	while (++*i < c->nseg && *i < VIRTQ_MAX_SIZE)
		if (!c->seg[*i].write == !write && c->seg[*i].len) {
			*at = 0;
			return true;
		}
	return false;
}

u64 virtq_chain_transfer(struct partition *dst_part, const struct virtq_chain *dst, u64 dst_off,
			 const struct partition *src_part, const struct virtq_chain *src,
			 u64 src_off, u64 len)
{
	u64 done = 0, s_at, d_at;
	u32 si, di;

	if (!len || !virtq_chain_seek(src, false, src_off, &si, &s_at) ||
	    !virtq_chain_seek(dst, true, dst_off, &di, &d_at))
		return 0;
	while (done < len) {
		const struct virtq_seg *s = &src->seg[si], *d = &dst->seg[di];
		u64 n = MIN(len - done, MIN(s->len - s_at, d->len - d_at));

		if (guest_copy_between(dst_part, d->addr + d_at, src_part, s->addr + s_at, n))
			break;
		done += n;
		s_at += n;
		d_at += n;
		if (done == len)
			break;
		if ((s_at == s->len && !virtq_chain_next(src, false, &si, &s_at)) ||
		    (d_at == d->len && !virtq_chain_next(dst, true, &di, &d_at)))
			break;
	}
	return done;
}

u64 virtq_chain_read(const struct partition *part, const struct virtq_chain *c, u64 off, void *dst,
		     u64 len)
{
	/* Reading does not modify the partition; the cast only shares the walker. */
	return virtq_chain_copy((struct partition *)part, c, false, off, dst, len);
}

u64 virtq_chain_write(struct partition *part, const struct virtq_chain *c, u64 off, const void *src,
		      u64 len)
{
	return virtq_chain_copy(part, c, true, off, (void *)src, len);
}
