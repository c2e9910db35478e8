/* SPDX-License-Identifier: MIT */
/*
 * Physical memory manager.
 *
 * Free memory is a bitmap, one bit per page (1 = free), over the span from the
 * lowest to the highest free page the firmware reported. It is carved from
 * that memory at start-up and never grows, so the bookkeeping cannot run out,
 * however fragmented memory gets.
 *
 * The span is cut in 2 MiB chunks. A chunk flagged "meta" belongs to the
 * metadata pool: every request under 2 MiB (page tables, device state,
 * stacks) is served from pool chunks, so small allocations do not break up
 * the aligned runs partitions want. The pool takes a whole free chunk when it
 * needs one and gives it back when all of it is free again, keeping one spare.
 * Only when no whole chunk is left does a small request take pages anywhere.
 *
 * Free memory is kept clean: pmm_free scrubs before the pages are free again
 * (or the caller did, through hmap_scrub: pmm_free_clean), and an allocation
 * is not zeroed a second time. What the firmware handed over may hold old
 * data: those pages are marked dirty at start-up, and the first allocation of
 * each scrubs it. So every page is scrubbed exactly once per owner.
 *
 * Scrubs run outside pmm_lock in 2 MiB steps, and between steps the CPU takes
 * any TLB flush another CPU waits for (arch_cpu_relax).
 *
 * A release is checked before the scrub: the pages are marked "held" under
 * the lock (neither free nor anyone's), so a second free, even one racing
 * the scrub, is caught before it can zero memory that is not its own. Small
 * releases stay held in a quarantine for a while (pmm.h), so a free or a
 * write through a stale pointer meets held pages, not a new owner's.
 */
#include <keel/abi.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/pmm.h>
#include <keel/spinlock.h>

#define PMM_CHUNK SZ_2M
#define PMM_CHUNK_PAGES (PMM_CHUNK / PAGE_SIZE)
#define PMM_NONE (~0ull)

/* A small release in the quarantine (pmm.h says why). */
struct pmm_release {
	u64 first;
	u64 n;
	const void *by; /* the caller that gave it back */
};

struct pmm_range {
	hpa_t base;
	u64 size;
};

/* Ranges given to pmm_add, until pmm_start builds the bitmaps from them. */
static struct pmm_range pmm_boot[PMM_MAX_RANGES];
static u32 pmm_boot_count;

static struct spinlock pmm_lock = SPINLOCK_INIT;
static hpa_t pmm_base; /* first byte of the span, 2 MiB aligned */
static u64 pmm_pages; /* pages in the span, a whole number of chunks */
static u64 *pmm_free_map; /* a bit per page: free (under pmm_lock) */
static u64 *pmm_dirty_map; /* a bit per page: may hold the firmware's data (atomic clears only) */
static u64 *pmm_meta_map; /* a bit per chunk: in the metadata pool (under pmm_lock) */
static u64 *pmm_held_map; /* a bit per page: given back, not yet reusable (under pmm_lock) */
static u64 pmm_ram_free; /* free pages outside the pool */
static u64 pmm_meta_free; /* free pages in pool chunks */
static u32 pmm_meta_chunks;
static u64 pmm_scrubbed_first; /* bytes scrubbed at their first use after boot */
static u64 pmm_scrubbed_release; /* bytes scrubbed when an owner gave them back */
static struct pmm_release pmm_quarantine[PMM_QUARANTINE]; /* a ring, oldest at pmm_q_head */
static u32 pmm_q_head, pmm_q_count;

static bool bit_test(const u64 *map, u64 i)
{
	return (map[i / 64] >> (i % 64)) & 1;
}

static void bit_set(u64 *map, u64 i)
{
	map[i / 64] |= 1ull << (i % 64);
}

static void bit_clear(u64 *map, u64 i)
{
	map[i / 64] &= ~(1ull << (i % 64));
}

/* Bits [i, i + n) of the word holding bit i, as a mask, and how many that is. */
static u64 bits_in_word(u64 i, u64 n, u64 *count)
{
	u64 shift = i % 64;
	u64 take = MIN(n, 64 - shift);

	*count = take;
	return (take == 64 ? ~0ull : ((1ull << take) - 1)) << shift;
}

static void bits_set(u64 *map, u64 i, u64 n)
{
	u64 take;

	while (n) {
		map[i / 64] |= bits_in_word(i, n, &take);
		i += take;
		n -= take;
	}
}

static void bits_clear(u64 *map, u64 i, u64 n)
{
	u64 take;

	while (n) {
		map[i / 64] &= ~bits_in_word(i, n, &take);
		i += take;
		n -= take;
	}
}

/* True if any bit of [i, i + n) is set. */
static bool bits_any(const u64 *map, u64 i, u64 n)
{
	u64 take;

	while (n) {
		if (map[i / 64] & bits_in_word(i, n, &take))
			return true;
		i += take;
		n -= take;
	}
	return false;
}

static bool bits_all(const u64 *map, u64 i, u64 n)
{
	u64 take, mask;

	while (n) {
		mask = bits_in_word(i, n, &take);
		if ((map[i / 64] & mask) != mask)
			return false;
		i += take;
		n -= take;
	}
	return true;
}

static u64 page_index(hpa_t pa)
{
	return (pa - pmm_base) / PAGE_SIZE;
}

static hpa_t page_addr(u64 i)
{
	return pmm_base + i * PAGE_SIZE;
}

static bool chunk_is_meta(u64 page)
{
	return bit_test(pmm_meta_map, page / PMM_CHUNK_PAGES);
}

/* ---- Start-up -------------------------------------------------------------- */

void pmm_reset(void)
{
	pmm_boot_count = 0;
	pmm_pages = 0;
	pmm_free_map = pmm_dirty_map = pmm_meta_map = pmm_held_map = NULL;
	pmm_ram_free = pmm_meta_free = 0;
	pmm_meta_chunks = 0;
	pmm_q_head = pmm_q_count = 0;
	pmm_scrubbed_first = pmm_scrubbed_release = 0;
}

int pmm_add(hpa_t base, u64 size)
{
	hpa_t start, end;

	if (range_overflows(base, size) || pmm_free_map)
		return -KEEL_EINVAL;
	start = ALIGN_UP(base, PAGE_SIZE);
	end = ALIGN_DOWN(base + size, PAGE_SIZE);
	/* Page 0 stays out: a null pointer must never be valid memory. */
	if (start == 0)
		start = PAGE_SIZE;
	if (end <= start)
		return 0;
	for (u32 i = 0; i < pmm_boot_count; i++)
		if (ranges_overlap(pmm_boot[i].base, pmm_boot[i].size, start, end - start))
			return -KEEL_EINVAL;
	if (pmm_boot_count == PMM_MAX_RANGES)
		return -KEEL_ENOSPC;
	pmm_boot[pmm_boot_count++] = (struct pmm_range){ start, end - start };
	return 0;
}

static u64 words_for(u64 bits)
{
	return (bits + 63) / 64;
}

/* Bytes of bookkeeping for a span of @pages: free, dirty and held maps, the chunk flags. */
static u64 pmm_map_bytes(u64 pages)
{
	return ALIGN_UP((3 * words_for(pages) + words_for(pages / PMM_CHUNK_PAGES)) * 8, PAGE_SIZE);
}

/*
 * The bottom of the lowest boot range that holds @bytes, taken out of it; 0 if
 * none does. Lowest, because this is written before Keel has its own page
 * tables: the firmware's map is in force, and it may keep the code it loaded
 * (free for Keel, but read-only until then) anywhere above its conventional
 * memory. The first page tables have always come from the lowest pages too.
 */
static hpa_t pmm_take_map_space(u64 bytes)
{
	struct pmm_range *low = NULL;
	hpa_t base;

	for (u32 i = 0; i < pmm_boot_count; i++)
		if (pmm_boot[i].size >= bytes && (!low || pmm_boot[i].base < low->base))
			low = &pmm_boot[i];
	if (!low)
		return 0;
	base = low->base;
	low->base += bytes;
	low->size -= bytes;
	return base;
}

int pmm_start(void)
{
	hpa_t lo = PMM_NONE, hi = 0, maps;
	u64 words;

	if (pmm_free_map)
		return -KEEL_EINVAL;
	for (u32 i = 0; i < pmm_boot_count; i++) {
		lo = MIN(lo, pmm_boot[i].base);
		hi = MAX(hi, pmm_boot[i].base + pmm_boot[i].size);
	}
	if (!pmm_boot_count)
		return 0;
	pmm_base = ALIGN_DOWN(lo, PMM_CHUNK);
	if (ALIGN_UP(hi, PMM_CHUNK) < hi)
		return -KEEL_EINVAL;
	pmm_pages = (ALIGN_UP(hi, PMM_CHUNK) - pmm_base) / PAGE_SIZE;
	maps = pmm_take_map_space(pmm_map_bytes(pmm_pages));
	if (!maps)
		return -KEEL_ENOMEM;
	words = words_for(pmm_pages);
	pmm_free_map = hpa_to_hva(maps);
	pmm_dirty_map = pmm_free_map + words;
	pmm_held_map = pmm_dirty_map + words;
	pmm_meta_map = pmm_held_map + words;
	memset(pmm_free_map, 0, pmm_map_bytes(pmm_pages));
	for (u32 i = 0; i < pmm_boot_count; i++) {
		u64 first = page_index(pmm_boot[i].base), n = pmm_boot[i].size / PAGE_SIZE;

		bits_set(pmm_free_map, first, n);
		bits_set(pmm_dirty_map, first, n);
		pmm_ram_free += n;
	}
	return 0;
}

int pmm_init(const struct keel_boot_info *bi)
{
	int ret;

	for (u32 i = 0; i < bi->mem_count && i < KEEL_BOOT_MAX_MEM; i++) {
		if (bi->mem[i].type != KEEL_MEM_FREE)
			continue;
		ret = pmm_add(bi->mem[i].base, bi->mem[i].size);
		if (ret)
			return ret;
	}
	return pmm_start();
}

/* ---- Finding runs -------------------------------------------------------------- */

/*
 * The first page at or after @i that can start a run: free, and in the pool
 * or out of it as @meta says. PMM_NONE if there is none before @end.
 */
static u64 pmm_next_usable(u64 i, u64 end, bool meta)
{
	while (i < end) {
		u64 word;

		if (chunk_is_meta(i) != meta) {
			i = ALIGN_UP(i + 1, PMM_CHUNK_PAGES);
			continue;
		}
		word = pmm_free_map[i / 64] & (~0ull << (i % 64));
		if (word) {
			i = (i & ~(u64)63) + (u64)__builtin_ctzll(word);
			return i < end ? i : PMM_NONE;
		}
		i = (i | 63) + 1;
	}
	return PMM_NONE;
}

/* The first page of [i, end) that a run cannot use, or @end. */
static u64 pmm_first_unusable(u64 i, u64 end, bool meta)
{
	while (i < end) {
		u64 word;

		if (chunk_is_meta(i) != meta)
			return i;
		word = ~pmm_free_map[i / 64] & (~0ull << (i % 64));
		if (word)
			return MIN((i & ~(u64)63) + (u64)__builtin_ctzll(word), end);
		i = (i | 63) + 1;
	}
	return end;
}

/* First fit of @n free pages at an @align-page boundary in [from, end); PMM_NONE if none. */
static u64 pmm_find(u64 from, u64 end, u64 n, u64 align, bool meta)
{
	u64 i = from;

	for (;;) {
		u64 bad;

		i = pmm_next_usable(i, end, meta);
		if (i == PMM_NONE)
			return PMM_NONE;
		i = ALIGN_UP(i, align);
		if (i < from || i >= end || end - i < n)
			return PMM_NONE;
		bad = pmm_first_unusable(i, i + n, meta);
		if (bad == i + n)
			return i;
		i = bad + 1;
	}
}

/* ---- The metadata pool ------------------------------------------------------- */

/* A whole free chunk moves into the pool. Lock held. */
static bool pmm_meta_grow(void)
{
	u64 c = pmm_find(0, pmm_pages, PMM_CHUNK_PAGES, PMM_CHUNK_PAGES, false);

	if (c == PMM_NONE)
		return false;
	bit_set(pmm_meta_map, c / PMM_CHUNK_PAGES);
	pmm_ram_free -= PMM_CHUNK_PAGES;
	pmm_meta_free += PMM_CHUNK_PAGES;
	pmm_meta_chunks++;
	return true;
}

/* @n pages from the pool; PMM_NONE if no pool chunk has them. Lock held. */
static u64 pmm_meta_find(u64 n, u64 align)
{
	for (u64 c = 0; c < pmm_pages / PMM_CHUNK_PAGES; c++) {
		u64 first = c * PMM_CHUNK_PAGES, i;

		if (!bit_test(pmm_meta_map, c))
			continue;
		i = pmm_find(first, first + PMM_CHUNK_PAGES, n, align, true);
		if (i != PMM_NONE)
			return i;
	}
	return PMM_NONE;
}

/* A pool chunk all free again goes back, unless it is the last one. Lock held. */
static void pmm_meta_shrink(u64 page)
{
	u64 first = ALIGN_DOWN(page, PMM_CHUNK_PAGES);

	if (pmm_meta_chunks <= 1 || !bits_all(pmm_free_map, first, PMM_CHUNK_PAGES))
		return;
	bit_clear(pmm_meta_map, first / PMM_CHUNK_PAGES);
	pmm_meta_free -= PMM_CHUNK_PAGES;
	pmm_ram_free += PMM_CHUNK_PAGES;
	pmm_meta_chunks--;
}

/* ---- Allocation ----------------------------------------------------------------- */

static bool pmm_size_ok(u64 size, u64 align)
{
	return size && IS_ALIGNED(size, PAGE_SIZE) && align >= PAGE_SIZE &&
	       (align & (align - 1)) == 0;
}

/* Take @n pages for a request; PMM_NONE if nothing fits. Lock held. */
static u64 pmm_take(u64 n, u64 align)
{
	bool small = n < PMM_CHUNK_PAGES && align <= PMM_CHUNK_PAGES;
	u64 i = PMM_NONE;

	if (small) {
		i = pmm_meta_find(n, align);
		if (i == PMM_NONE && pmm_meta_grow())
			i = pmm_meta_find(n, align);
		if (i != PMM_NONE) {
			bits_clear(pmm_free_map, i, n);
			pmm_meta_free -= n;
			return i;
		}
	}
	i = pmm_find(0, pmm_pages, n, align, false);
	if (i != PMM_NONE) {
		bits_clear(pmm_free_map, i, n);
		pmm_ram_free -= n;
	}
	return i;
}

/* Clear dirty bits [i, i + n) of pages the caller owns (their words hold others' bits too). */
static void pmm_dirty_clear(u64 i, u64 n)
{
	u64 take;

	while (n) {
		u64 mask = bits_in_word(i, n, &take);

		__atomic_fetch_and(&pmm_dirty_map[i / 64], ~mask, __ATOMIC_RELAXED);
		i += take;
		n -= take;
	}
}

/* Zero [pa, pa + size) in 2 MiB steps, taking other CPUs' flushes in between. */
static void pmm_scrub(hpa_t pa, u64 size)
{
	while (size) {
		u64 step = MIN(size, PMM_CHUNK - (pa & (PMM_CHUNK - 1)));

		memset(hpa_to_hva(pa), 0, step);
		pa += step;
		size -= step;
		if (size)
			arch_cpu_relax();
	}
}

/* Page @i's dirty bit; its word holds other owners' bits, cleared meanwhile. */
static bool pmm_dirty(u64 i)
{
	return (__atomic_load_n(&pmm_dirty_map[i / 64], __ATOMIC_RELAXED) >> (i % 64)) & 1;
}

/* Pages of a new allocation the firmware left data in: scrubbed now, once. */
static void pmm_scrub_first_use(u64 first, u64 n)
{
	u64 i = first, end = first + n, scrubbed = 0;

	while (i < end) {
		u64 run = i;

		if (i % 64 == 0 && end - i >= 64 &&
		    !__atomic_load_n(&pmm_dirty_map[i / 64], __ATOMIC_RELAXED)) {
			i += 64; /* a clean word: released memory, the common case */
			continue;
		}
		if (!pmm_dirty(i)) {
			i++;
			continue;
		}
		while (run < end && pmm_dirty(run))
			run++;
		pmm_scrub(page_addr(i), (run - i) * PAGE_SIZE);
		pmm_dirty_clear(i, run - i);
		scrubbed += run - i;
		i = run;
	}
	if (scrubbed)
		__atomic_fetch_add(&pmm_scrubbed_first, scrubbed * PAGE_SIZE, __ATOMIC_RELAXED);
}

/* True if [first, first + n) lies in one tier: inside one pool chunk, or in no pool chunk. */
static bool pmm_one_tier(u64 first, u64 n)
{
	u64 c;

	if (chunk_is_meta(first))
		return first / PMM_CHUNK_PAGES == (first + n - 1) / PMM_CHUNK_PAGES;
	for (c = first / PMM_CHUNK_PAGES; c <= (first + n - 1) / PMM_CHUNK_PAGES; c++)
		if (bit_test(pmm_meta_map, c))
			return false;
	return true;
}

static bool pmm_range_ours(hpa_t base, u64 size)
{
	return size && IS_ALIGNED(base, PAGE_SIZE) && IS_ALIGNED(size, PAGE_SIZE) &&
	       !range_overflows(base, size) && pmm_free_map && base >= pmm_base &&
	       page_index(base) < pmm_pages && size / PAGE_SIZE <= pmm_pages - page_index(base);
}

/* Who gave back the held pages that [first, first + n) meets, if the quarantine knows. */
static const void *pmm_quarantined_by(u64 first, u64 n)
{
	for (u32 k = 0; k < pmm_q_count; k++) {
		const struct pmm_release *r = &pmm_quarantine[(pmm_q_head + k) % PMM_QUARANTINE];

		if (first < r->first + r->n && r->first < first + n)
			return r->by;
	}
	return NULL;
}

/*
 * A release must name pages that are allocated now: none free, none given
 * back already and still held (in the quarantine or being scrubbed by another
 * CPU). Checked before a byte is scrubbed. Lock held (panic takes no lock
 * of ours).
 */
static void pmm_check_release(u64 first, u64 n, const void *by)
{
	const void *earlier;

	if (!bits_any(pmm_free_map, first, n) && !bits_any(pmm_held_map, first, n) &&
	    pmm_one_tier(first, n))
		return;
	earlier = pmm_quarantined_by(first, n);
	if (earlier)
		panic("pmm: 0x%llx+0x%llx freed twice: by %p, and before by %p",
		      (unsigned long long)page_addr(first), (unsigned long long)(n * PAGE_SIZE), by,
		      earlier);
	panic("pmm: 0x%llx+0x%llx freed by %p is free already, or crosses the pool's edge",
	      (unsigned long long)page_addr(first), (unsigned long long)(n * PAGE_SIZE), by);
}

/* Held pages become free. Lock held. */
static void pmm_make_free(u64 first, u64 n)
{
	bits_clear(pmm_held_map, first, n);
	bits_set(pmm_free_map, first, n);
	if (chunk_is_meta(first))
		pmm_meta_shrink(first);
}

/*
 * The oldest release leaves the quarantine. Its pages were zero when they
 * went in; a byte that is not any more was written after the free, by a
 * holder of a stale pointer. That is a Keel bug which already corrupted
 * whatever it meant to write: stop, naming the pages and who freed them,
 * rather than hand them to a new owner. Lock held.
 */
static void pmm_quarantine_pop(void)
{
	struct pmm_release r = pmm_quarantine[pmm_q_head];
	const u64 *p = hpa_to_hva(page_addr(r.first));

	pmm_q_head = (pmm_q_head + 1) % PMM_QUARANTINE;
	pmm_q_count--;
	for (u64 w = 0; w < r.n * PAGE_SIZE / 8; w++)
		if (p[w])
			panic("pmm: 0x%llx+0x%llx written after it was freed by %p "
			      "(at +0x%llx: 0x%llx)",
			      (unsigned long long)page_addr(r.first),
			      (unsigned long long)(r.n * PAGE_SIZE), r.by,
			      (unsigned long long)w * 8, (unsigned long long)p[w]);
	pmm_make_free(r.first, r.n);
}

/* Every held release becomes free (an allocation found nothing else). Lock held. */
static void pmm_quarantine_drain(void)
{
	while (pmm_q_count)
		pmm_quarantine_pop();
}

/* A scrubbed release joins the quarantine, or is free at once if large. Lock held. */
static void pmm_quarantine_push(u64 first, u64 n, const void *by)
{
	if (n > PMM_QUARANTINE_PAGES) {
		pmm_make_free(first, n);
		return;
	}
	if (pmm_q_count == PMM_QUARANTINE)
		pmm_quarantine_pop();
	pmm_quarantine[(pmm_q_head + pmm_q_count) % PMM_QUARANTINE] =
		(struct pmm_release){ first, n, by };
	pmm_q_count++;
}

/*
 * Give pages back: checked under the lock and marked held, so nobody can
 * allocate them or free them again; scrubbed outside it; then counted free
 * and, if small, quarantined.
 */
static void pmm_release(hpa_t base, u64 size, bool zeroed, const void *by)
{
	u64 first = page_index(base), n = size / PAGE_SIZE;
	unsigned long flags;

	if (!pmm_range_ours(base, size))
		panic("pmm: bad free of 0x%llx+0x%llx by %p", (unsigned long long)base,
		      (unsigned long long)size, by);
	flags = spin_lock_irqsave(&pmm_lock);
	pmm_check_release(first, n, by);
	bits_set(pmm_held_map, first, n);
	spin_unlock_irqrestore(&pmm_lock, flags);
	if (!zeroed)
		pmm_scrub(base, size);
	__atomic_fetch_add(&pmm_scrubbed_release, size, __ATOMIC_RELAXED);
	flags = spin_lock_irqsave(&pmm_lock);
	if (chunk_is_meta(first))
		pmm_meta_free += n;
	else
		pmm_ram_free += n;
	pmm_quarantine_push(first, n, by);
	spin_unlock_irqrestore(&pmm_lock, flags);
}

bool boot_mem_hits_ram(const struct keel_boot_info *bi, hpa_t start, hpa_t end)
{
	for (u32 i = 0; i < MIN(bi->mem_count, KEEL_BOOT_MAX_MEM); i++) {
		const struct keel_boot_mem *m = &bi->mem[i];

		if (m->type != KEEL_MEM_RESERVED && m->type != KEEL_MEM_MMIO &&
		    ranges_overlap(start, end - start, m->base, m->size))
			return true;
	}
	return false;
}

void pmm_quarantine_flush(void)
{
	unsigned long flags = spin_lock_irqsave(&pmm_lock);

	pmm_quarantine_drain();
	spin_unlock_irqrestore(&pmm_lock, flags);
}

hpa_t pmm_alloc(u64 size, u64 align)
{
	unsigned long flags;
	u64 i;

	if (!pmm_size_ok(size, align) || !pmm_free_map)
		return 0;
	if (size / PAGE_SIZE > pmm_pages || align / PAGE_SIZE > pmm_pages)
		return 0;
	flags = spin_lock_irqsave(&pmm_lock);
	i = pmm_take(size / PAGE_SIZE, align / PAGE_SIZE);
	if (i == PMM_NONE && pmm_q_count) {
		pmm_quarantine_drain();
		i = pmm_take(size / PAGE_SIZE, align / PAGE_SIZE);
	}
	spin_unlock_irqrestore(&pmm_lock, flags);
	if (i == PMM_NONE)
		return 0;
	pmm_scrub_first_use(i, size / PAGE_SIZE);
	return page_addr(i);
}

void pmm_free(hpa_t base, u64 size)
{
	if (base && size)
		pmm_release(base, size, false, __builtin_return_address(0));
}

void pmm_free_clean(hpa_t base, u64 size, bool zeroed)
{
	pmm_release(base, size, zeroed, __builtin_return_address(0));
}

void *pmm_alloc_page(void)
{
	hpa_t pa = pmm_alloc(PAGE_SIZE, PAGE_SIZE);

	return pa ? hpa_to_hva(pa) : NULL;
}

void pmm_free_page(void *page)
{
	if (page)
		pmm_release(hva_to_hpa(page), PAGE_SIZE, false, __builtin_return_address(0));
}

/* ---- Figures ------------------------------------------------------------------------ */

u64 pmm_free_bytes(void)
{
	unsigned long flags = spin_lock_irqsave(&pmm_lock);
	u64 pages = pmm_ram_free + pmm_meta_free;

	spin_unlock_irqrestore(&pmm_lock, flags);
	return pages * PAGE_SIZE;
}

u64 pmm_largest_free(u64 align)
{
	unsigned long flags;
	u64 best = 0, i = 0;

	if (!pmm_size_ok(PAGE_SIZE, align) || !pmm_free_map)
		return 0;
	flags = spin_lock_irqsave(&pmm_lock);
	pmm_quarantine_drain(); /* asked when an allocation found no run: held pages count */
	for (;;) {
		u64 end;

		i = pmm_next_usable(i, pmm_pages, false);
		if (i == PMM_NONE)
			break;
		end = pmm_first_unusable(i, pmm_pages, false);
		if (ALIGN_UP(page_addr(i), align) < page_addr(end))
			best = MAX(best, page_addr(end) - ALIGN_UP(page_addr(i), align));
		i = end;
	}
	spin_unlock_irqrestore(&pmm_lock, flags);
	return best;
}

void pmm_get_stats(struct pmm_stats *st)
{
	unsigned long flags = spin_lock_irqsave(&pmm_lock);

	st->ram_free = pmm_ram_free * PAGE_SIZE;
	st->meta_free = pmm_meta_free * PAGE_SIZE;
	st->meta_total = (u64)pmm_meta_chunks * PMM_CHUNK;
	st->bookkeeping = pmm_free_map ? pmm_map_bytes(pmm_pages) : 0;
	spin_unlock_irqrestore(&pmm_lock, flags);
	st->scrubbed_first_use = __atomic_load_n(&pmm_scrubbed_first, __ATOMIC_RELAXED);
	st->scrubbed_release = __atomic_load_n(&pmm_scrubbed_release, __ATOMIC_RELAXED);
}

/* @a - @b, or 0 where the firmware's map does not add up (a figure, never a fault). */
static u64 sub_or_zero(u64 a, u64 b)
{
	return a > b ? a - b : 0;
}

void pmm_footprint(const struct keel_boot_info *bi, struct pmm_footprint *fp)
{
	u64 keel_ranges = 0, free_ranges = 0;
	u32 i;

	*fp = (struct pmm_footprint){ .core = bi->core_size, .free = pmm_free_bytes() };
	for (i = 0; i < bi->mem_count && i < KEEL_BOOT_MAX_MEM; i++) {
		if (bi->mem[i].type == KEEL_MEM_FREE)
			free_ranges += bi->mem[i].size;
		else if (bi->mem[i].type == KEEL_MEM_KEEL)
			keel_ranges += bi->mem[i].size;
	}
	for (i = 0; i < bi->module_count && i < KEEL_BOOT_MAX_MODULES; i++)
		fp->images += ALIGN_UP(bi->modules[i].size, PAGE_SIZE);
	fp->ram = free_ranges + keel_ranges;
	fp->loader = sub_or_zero(keel_ranges, fp->core + fp->images);
	fp->allocated = sub_or_zero(free_ranges, fp->free);
}
