/* SPDX-License-Identifier: MIT */
/*
 * Checked access to partition memory: every guest-physical range is looked up
 * in the partition's regions before a byte is touched. A range may span
 * adjacent regions; any byte outside them fails the whole access up front.
 * Partition memory is not in the hypervisor's own map (keel/hmap.h): each
 * piece is reached through this CPU's window, at most one 2 MiB frame at a
 * time.
 */
#include <keel/abi.h>
#include <keel/guest_mem.h>
#include <keel/hmap.h>
#include <keel/lib.h>
#include <keel/partition.h>

/* The region holding @gpa, or NULL. */
static const struct mem_region *guest_region(const struct partition *part, gpa_t gpa)
{
	u32 i;

	for (i = 0; i < part->mem_count && i < KEEL_MAX_MEM_REGIONS; i++) {
		const struct mem_region *r = &part->mem[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

bool guest_range_is_ram(const struct partition *part, gpa_t gpa, u64 len)
{
	if (range_overflows(gpa, len))
		return false;
	while (len) {
		const struct mem_region *r = guest_region(part, gpa);
		u64 chunk;

		if (!r)
			return false;
		chunk = MIN(len, r->size - (gpa - r->gpa));
		gpa += chunk;
		len -= chunk;
	}
	return true;
}

/*
 * Walk [gpa, gpa + len) region by region, calling @fn on each host chunk. The
 * whole range is checked first so a failed access changes nothing.
 */
static int guest_for_each(const struct partition *part, gpa_t gpa, u64 len,
			  void (*fn)(void *host, u64 off, u64 n, void *ctx), void *ctx)
{
	u64 off = 0;

	if (!guest_range_is_ram(part, gpa, len))
		return -KEEL_EFAULT;
	while (off < len) {
		const struct mem_region *r = guest_region(part, gpa + off);
		u64 in = gpa + off - r->gpa;
		u64 avail;
		void *host = hmap_window_get(part, r->hpa + in, &avail);
		u64 n = MIN(MIN(len - off, r->size - in), avail);

		fn(host, off, n, ctx);
		hmap_window_put();
		off += n;
	}
	return 0;
}

static void guest_read_chunk(void *host, u64 off, u64 n, void *ctx)
{
	memcpy((u8 *)ctx + off, host, n);
}

static void guest_write_chunk(void *host, u64 off, u64 n, void *ctx)
{
	memcpy(host, (const u8 *)ctx + off, n);
}

static void guest_zero_chunk(void *host, u64 off, u64 n, void *ctx)
{
	memset(host, 0, n);
}

int guest_copy_from(const struct partition *part, void *dst, gpa_t gpa, u64 len)
{
	return guest_for_each(part, gpa, len, guest_read_chunk, dst);
}

int guest_copy_to(struct partition *part, gpa_t gpa, const void *src, u64 len)
{
	return guest_for_each(part, gpa, len, guest_write_chunk, (void *)src);
}

int guest_zero(struct partition *part, gpa_t gpa, u64 len)
{
	return guest_for_each(part, gpa, len, guest_zero_chunk, NULL);
}

/*
 * The window address of an aligned u16 in RAM, or NULL; a non-NULL result is
 * released with hmap_window_put().
 */
static u16 *guest_u16(const struct partition *part, gpa_t gpa)
{
	const struct mem_region *r = guest_region(part, gpa);

	/* Regions are page multiples, so an aligned u16 never straddles two. */
	if (!r || (gpa & 1))
		return NULL;
	return hmap_window_get(part, r->hpa + (gpa - r->gpa), NULL);
}

int guest_load_u16(const struct partition *part, gpa_t gpa, u16 *val)
{
	u16 *p = guest_u16(part, gpa);

	if (!p)
		return -KEEL_EFAULT;
	*val = __atomic_load_n(p, __ATOMIC_RELAXED);
	hmap_window_put();
	return 0;
}

int guest_store_u16(struct partition *part, gpa_t gpa, u16 val)
{
	u16 *p = guest_u16(part, gpa);

	if (!p)
		return -KEEL_EFAULT;
	__atomic_store_n(p, val, __ATOMIC_RELAXED);
	hmap_window_put();
	return 0;
}
