/* SPDX-License-Identifier: MIT */
/*
 * Checked access to partition memory: every guest-physical range is looked up
 * in the partition's regions before a byte is touched. A range may span
 * adjacent regions; any byte outside them fails the whole access up front.
 * Partition memory is not in the hypervisor's own map (keel/hmap.h): each
 * piece is reached through this CPU's window, at most one 2 MiB frame at a
 * time.
 *
 * Hot-pluggable memory (keel/hotmem.h) may be unplugged while another CPU
 * works for the partition, so for such a partition each access, lookup and
 * copy together, is one section that an unplug waits for (a Dekker pair with
 * hotmem_wait_readers: the depth is published, then the table read).
 */
#include <keel/abi.h>
#include <keel/guest_mem.h>
#include <keel/hmap.h>
#include <keel/hotmem.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pcpu.h>

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

static void guest_access_begin(const struct partition *part)
{
	struct pcpu *cpu;

	if (!part->hotmem.size)
		return;
	cpu = pcpu_this();
	__atomic_store_n(&cpu->gmem_depth, cpu->gmem_depth + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void guest_access_end(const struct partition *part)
{
	struct pcpu *cpu;

	if (!part->hotmem.size)
		return;
	cpu = pcpu_this();
	/* An interrupt's own section nests inside; only the outermost end counts. */
	__atomic_store_n(&cpu->gmem_depth, cpu->gmem_depth - 1, __ATOMIC_RELEASE);
	if (!cpu->gmem_depth)
		__atomic_store_n(&cpu->gmem_left, cpu->gmem_left + 1, __ATOMIC_RELEASE);
}

/*
 * The host address of @gpa and the bytes of partition memory contiguous from
 * it (*avail), or 0 if @gpa is not partition memory.
 */
static hpa_t guest_resolve(const struct partition *part, gpa_t gpa, u64 *avail)
{
	const struct mem_region *r = guest_region(part, gpa);

	if (r) {
		*avail = r->size - (gpa - r->gpa);
		return r->hpa + (gpa - r->gpa);
	}
	return part->hotmem.size ? hotmem_lookup(&part->hotmem, gpa, avail) : 0;
}

static bool guest_range_present(const struct partition *part, gpa_t gpa, u64 len)
{
	if (range_overflows(gpa, len))
		return false;
	while (len) {
		u64 avail, chunk;

		if (!guest_resolve(part, gpa, &avail))
			return false;
		chunk = MIN(len, avail);
		gpa += chunk;
		len -= chunk;
	}
	return true;
}

bool guest_range_is_ram(const struct partition *part, gpa_t gpa, u64 len)
{
	bool ok;

	guest_access_begin(part);
	ok = guest_range_present(part, gpa, len);
	guest_access_end(part);
	return ok;
}

/*
 * Walk [gpa, gpa + len) piece by piece, calling @fn on each host chunk. The
 * whole range is checked first so a failed access changes nothing, unless
 * the guest unplugs a block of it meanwhile: the access then stops there.
 */
static int guest_for_each(const struct partition *part, gpa_t gpa, u64 len,
			  void (*fn)(void *host, u64 off, u64 n, void *ctx), void *ctx)
{
	u64 off = 0;
	int ret = 0;

	guest_access_begin(part);
	if (!guest_range_present(part, gpa, len))
		ret = -KEEL_EFAULT;
	while (!ret && off < len) {
		u64 in_piece = 0, avail;
		hpa_t hpa = guest_resolve(part, gpa + off, &in_piece);
		void *host;
		u64 n;

		/* Checked above, but a block may be unplugged since: it is gone, not host 0. */
		if (!hpa) {
			ret = -KEEL_EFAULT;
			break;
		}
		host = hmap_window_get(part, hpa, &avail);
		n = MIN(MIN(len - off, in_piece), avail);
		fn(host, off, n, ctx);
		hmap_window_put();
		off += n;
	}
	guest_access_end(part);
	return ret;
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

/*
 * Each piece maps @src's memory in this CPU's window and @dst's in the next
 * slot, dropped again at once (hmap_window_put_drop): a window of the other
 * partition never outlives the memcpy.
 */
int guest_copy_between(struct partition *dst, gpa_t dst_gpa, const struct partition *src,
		       gpa_t src_gpa, u64 len)
{
	u64 off = 0;
	int ret = 0;

	guest_access_begin(src);
	guest_access_begin(dst);
	if (!guest_range_present(src, src_gpa, len) || !guest_range_present(dst, dst_gpa, len))
		ret = -KEEL_EFAULT;
	while (!ret && off < len) {
		u64 s_piece = 0, d_piece = 0, s_avail, d_avail, n;
		hpa_t s_hpa = guest_resolve(src, src_gpa + off, &s_piece);
		hpa_t d_hpa = guest_resolve(dst, dst_gpa + off, &d_piece);
		const void *from;
		void *to;

		if (!s_hpa || !d_hpa) { /* unplugged since the check */
			ret = -KEEL_EFAULT;
			break;
		}
		from = hmap_window_get(src, s_hpa, &s_avail);
		to = hmap_window_get(dst, d_hpa, &d_avail);
		n = MIN(MIN(len - off, MIN(s_piece, d_piece)), MIN(s_avail, d_avail));
		memcpy(to, from, n);
		hmap_window_put_drop();
		hmap_window_put();
		off += n;
	}
	guest_access_end(dst);
	guest_access_end(src);
	return ret;
}

int guest_zero(struct partition *part, gpa_t gpa, u64 len)
{
	return guest_for_each(part, gpa, len, guest_zero_chunk, NULL);
}

/*
 * An atomic 16-bit access at @gpa (aligned: blocks and regions are page
 * multiples, so it never straddles two) through this CPU's window.
 */
static int guest_u16_access(const struct partition *part, gpa_t gpa, u16 *val, bool store)
{
	u64 avail;
	hpa_t hpa;
	u16 *p;

	if (gpa & 1)
		return -KEEL_EFAULT;
	guest_access_begin(part);
	hpa = guest_resolve(part, gpa, &avail);
	if (!hpa) {
		guest_access_end(part);
		return -KEEL_EFAULT;
	}
	p = hmap_window_get(part, hpa, NULL);
	if (store)
		__atomic_store_n(p, *val, __ATOMIC_RELAXED);
	else
		*val = __atomic_load_n(p, __ATOMIC_RELAXED);
	hmap_window_put();
	guest_access_end(part);
	return 0;
}

int guest_load_u16(const struct partition *part, gpa_t gpa, u16 *val)
{
	return guest_u16_access(part, gpa, val, false);
}

int guest_store_u16(struct partition *part, gpa_t gpa, u16 val)
{
	return guest_u16_access(part, gpa, &val, true);
}
