/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of virtio-mem (virtio/mem.c) over the partition's hot-pluggable
 * memory (core/hotmem.c): config space, RESIZE, each request type with its
 * bounds and hostile forms, the pool running out, requests too malformed to
 * answer, and a random sequence checked against a model of the blocks.
 */
#include <keel/hmap.h>
#include <keel/hotmem.h>
#include <keel/pdesc.h>

#include "test_virtio.h"

#define BLOCK KEEL_HOTMEM_BLOCK
#define REGION (128ull << 20)
#define NBLOCKS (REGION / BLOCK)
#define HBASE 0x80000000ull /* hotmem_base: the first 1 GiB boundary above RAM */
#define HOT_POOL_SIZE (48ull << 20) /* less than the region: plugging can run out */

#define F_UNPLUGGED_INACCESSIBLE 1

#define REQ_PLUG 0u
#define REQ_UNPLUG 1u
#define REQ_UNPLUG_ALL 2u
#define REQ_STATE 3u
#define RESP_ACK 0
#define RESP_NACK 1
#define RESP_ERROR 3
#define ST_PLUGGED 0
#define ST_UNPLUGGED 1
#define ST_MIXED 2

/* struct virtio_mem_config, from R_CONFIG. */
#define C_BLOCK_SIZE 0
#define C_NODE_ID 8
#define C_ADDR 16
#define C_REGION_SIZE 24
#define C_USABLE_SIZE 32
#define C_PLUGGED_SIZE 40
#define C_REQUESTED_SIZE 48
#define C_SIZE 56

#define REQ BUF /* struct virtio_mem_req, 24 bytes */
#define RESP (BUF + 0x100) /* struct virtio_mem_resp, 10 bytes */

extern char unit_log[];
extern size_t unit_log_len;

static u8 *hot_pool;
static struct vdev *m;
static u32 m_slot;
static u16 used_seen;

static gpa_t blk(u64 i)
{
	return HBASE + i * BLOCK;
}

static u64 cfg(u32 off)
{
	return rdn(m, R_CONFIG + off, 8);
}

static u64 hidden(void)
{
	u64 h, exposed;

	hmap_audit(&h, &exposed);
	return h;
}

/* Whole free blocks outside the metadata pool: what plugging can still take. */
static u64 pool_blocks(void)
{
	struct pmm_stats st;

	pmm_get_stats(&st);
	return st.ram_free / BLOCK;
}

/* Fresh rings: the driver's avail index and the used ring start over with the device. */
static void drv_restart(void)
{
	memset(hva(Q_DESC), 0, 0x3000);
	m = drv_bring_up(m_slot, 1, BIT(F_UNPLUGGED_INACCESSIBLE));
	used_seen = 0;
}

/*
 * tv_setup, then what a partition with hot-pluggable memory has: a 2 MiB
 * aligned pool to plug from (full of stale bytes, as the firmware leaves
 * memory), a description with RAM and a REGION-byte hotplug region, the
 * region itself and the devices. The virtio-mem device is live if @live.
 */
static void mem_setup(bool live)
{
	tv_setup();
	memset(hot_pool, 0xa5, HOT_POOL_SIZE);
	pmm_reset();
	CHECK_EQ(pmm_add((hpa_t)(uintptr_t)hot_pool, HOT_POOL_SIZE), 0);
	CHECK_EQ(pmm_start(), 0);
	pool_free = pmm_free_bytes();
	part.desc.mem[0] = (struct keel_pd_mem){ .type = KEEL_PD_MEM_RAM, .size = RAM_SIZE };
	part.desc.h.mem_count = 1;
	pdesc_add_hotplug(&part.desc, REGION);
	CHECK_EQ(hotmem_init(&part, pdesc_hotplug_size(&part.desc)), 0);
	CHECK_EQ(virtio_create_devices(&part), 0);
	for (m_slot = 0; m_slot < part.desc.h.device_count; m_slot++)
		if (part.desc.device[m_slot].type == KEEL_DEV_MEM)
			break;
	m = dev_at(m_slot);
	CHECK(m != NULL);
	unit_log_len = 0;
	unit_log[0] = 0;
	used_seen = 0;
	if (live)
		drv_restart();
}

/* The partition's teardown: devices, then the region; everything is back. */
static void mem_teardown(void)
{
	vdev_destroy_all(&part);
	hotmem_destroy(&part);
	CHECK_EQ(s2_mapped, 0);
	CHECK_EQ(hidden(), 0);
	CHECK_EQ(pmm_free_bytes(), pool_free);
}

/* What a request may change, as the guest and the host see it. */
struct usage {
	u64 plugged, free, s2, hidden;
	u32 state[NBLOCKS];
};

static void usage(struct usage *u)
{
	u->plugged = cfg(C_PLUGGED_SIZE);
	u->free = pmm_free_bytes();
	u->s2 = s2_mapped;
	u->hidden = hidden();
	for (u64 i = 0; i < NBLOCKS; i++)
		u->state[i] = (u32)hotmem_state(&part, blk(i), 1);
}

static bool unchanged(const struct usage *before)
{
	struct usage now;

	usage(&now);
	return memcmp(&now, before, sizeof(now)) == 0;
}

/* @plugged bytes plugged: the config, the pool, stage 2 and Keel's map agree. */
static void check_plugged(u64 plugged, u64 free0)
{
	CHECK_EQ(cfg(C_PLUGGED_SIZE), plugged);
	CHECK_EQ(pmm_free_bytes(), free0 - plugged);
	CHECK_EQ(s2_mapped, plugged);
	CHECK_EQ(hidden(), plugged);
}

static void put_req(u16 type, u64 addr, u16 nb)
{
	u8 *r = hva(REQ);

	memset(r, 0xa5, 24); /* padding the device must ignore */
	memcpy(r, &type, 2);
	memcpy(r + 8, &addr, 8);
	memcpy(r + 16, &nb, 2);
}

/* Driver side: publish the chain at descriptor 0 and notify. true if it came back used. */
static bool submit(void)
{
	avail_add(Q_AVAIL, 16, 0);
	wr(m, R_QUEUE_NOTIFY, 0);
	if (get16(Q_USED + 2) != (u16)(used_seen + 1))
		return false;
	used_seen++;
	return true;
}

/*
 * One request as a driver makes it (request, then a device-writable
 * response); the response type, or -1 if the device did not answer.
 * *state gets the STATE field if @state.
 */
static int request(u16 type, u64 addr, u16 nb, u16 *state)
{
	static const u8 pad0[6];

	put_req(type, addr, nb);
	memset(hva(RESP), 0xee, 16);
	put_desc(Q_DESC, 0, REQ, 24, F_NEXT, 1);
	put_desc(Q_DESC, 1, RESP, 10, F_WRITE, 0);
	if (!submit())
		return -1;
	CHECK_EQ(get32(Q_USED + 4 + 8 * ((used_seen - 1) % 16) + 4), 10);
	CHECK(memcmp(hva(RESP + 2), pad0, 6) == 0);
	CHECK_EQ(*hva(RESP + 10), 0xee); /* nothing past the response */
	if (state)
		*state = get16(RESP + 8);
	return get16(RESP);
}

/* The STATE of blocks [first, first + nb); -1 if no answer, -100 - the response if not ACK. */
static int state_of(u64 first, u16 nb)
{
	u16 st = 0xffff;
	int r = request(REQ_STATE, blk(first), nb, &st);

	return r == RESP_ACK ? st : r < 0 ? -1 : -100 - r;
}

static bool all_zero(const u8 *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* The guest sees @len zero bytes at @gpa (and could read them). */
static bool guest_zero_at(gpa_t gpa, u64 len)
{
	u8 *buf = malloc(len);
	bool ok;

	memset(buf, 0xcc, len);
	ok = guest_copy_from(&part, buf, gpa, len) == 0 && all_zero(buf, len);
	free(buf);
	return ok;
}

static void test_config(void)
{
	u64 f;

	mem_setup(false);
	CHECK_EQ(rd(m, R_DEVICE_ID), 24);
	CHECK_EQ(part.hotmem.base, HBASE);
	CHECK_EQ(cfg(C_BLOCK_SIZE), BLOCK);
	CHECK_EQ(rdn(m, R_CONFIG + C_NODE_ID, 2), 0);
	CHECK_EQ(cfg(C_ADDR), HBASE);
	CHECK_EQ(cfg(C_REGION_SIZE), REGION);
	CHECK_EQ(cfg(C_USABLE_SIZE), REGION);
	CHECK_EQ(cfg(C_PLUGGED_SIZE), 0);
	CHECK_EQ(cfg(C_REQUESTED_SIZE), 0);
	/* A driver may read 64-bit fields as two 32-bit halves (Linux on virtio-mmio does). */
	CHECK_EQ(rdn(m, R_CONFIG + C_ADDR, 4), (u32)HBASE);
	CHECK_EQ(rdn(m, R_CONFIG + C_ADDR + 4, 4), HBASE >> 32);
	CHECK_EQ(rdn(m, R_CONFIG + C_REGION_SIZE, 4), (u32)REGION);
	/* Past the config, or straddling its end: zeroes. */
	CHECK_EQ(rdn(m, R_CONFIG + C_SIZE, 4), 0);
	CHECK_EQ(rdn(m, R_CONFIG + C_SIZE - 4, 8), 0);
	f = dev_features(m);
	CHECK(f & BIT(F_UNPLUGGED_INACCESSIBLE));
	CHECK(f & BIT(VIRTIO_F_VERSION_1));
	CHECK_EQ(f & BIT(0), 0); /* no ACPI_PXM: node_id means nothing */
	/* The driver may accept UNPLUGGED_INACCESSIBLE, and not an unknown bit. */
	CHECK(drv_negotiate(m, BIT(VIRTIO_F_VERSION_1) | BIT(F_UNPLUGGED_INACCESSIBLE)));
	CHECK(!drv_negotiate(m, BIT(VIRTIO_F_VERSION_1) | BIT(0)));
	mem_teardown();
}

static void test_resize(void)
{
	u32 irq, gen;

	mem_setup(false);
	irq = KEEL_VIRTIO_IRQ_BASE + m_slot;
	/* Before DRIVER_OK: the config changes, no interrupt. */
	gen = rd(m, R_CONFIG_GEN);
	CHECK_EQ(virtio_mem_resize(&part, 4 * BLOCK), 0);
	CHECK_EQ(cfg(C_REQUESTED_SIZE), 4 * BLOCK);
	CHECK(rd(m, R_CONFIG_GEN) != gen);
	CHECK_EQ(rd(m, R_INT_STATUS), 0);
	CHECK(!irq_level[irq]);
	/* Live: a config interrupt, until the driver acknowledges it. */
	drv_restart();
	CHECK_EQ(cfg(C_REQUESTED_SIZE), 4 * BLOCK); /* a virtio reset keeps it */
	gen = rd(m, R_CONFIG_GEN);
	CHECK_EQ(virtio_mem_resize(&part, REGION), 0);
	CHECK_EQ(cfg(C_REQUESTED_SIZE), REGION);
	CHECK(rd(m, R_CONFIG_GEN) != gen);
	CHECK_EQ(rd(m, R_INT_STATUS), VIRTIO_INT_CONFIG);
	CHECK(irq_level[irq]);
	wr(m, R_INT_ACK, VIRTIO_INT_CONFIG);
	CHECK(!irq_level[irq]);
	/* Not a block multiple, or beyond the region: refused, nothing changes. */
	gen = rd(m, R_CONFIG_GEN);
	CHECK_EQ(virtio_mem_resize(&part, REGION + BLOCK), -KEEL_EINVAL);
	CHECK_EQ(virtio_mem_resize(&part, BLOCK + PAGE_SIZE), -KEEL_EINVAL);
	CHECK_EQ(virtio_mem_resize(&part, 1), -KEEL_EINVAL);
	CHECK_EQ(virtio_mem_resize(&part, ~0ull), -KEEL_EINVAL);
	CHECK_EQ(virtio_mem_resize(&part, ~0ull - BLOCK + 1), -KEEL_EINVAL);
	CHECK_EQ(virtio_mem_resize(&part, 1ull << 63), -KEEL_EINVAL);
	CHECK_EQ(cfg(C_REQUESTED_SIZE), REGION);
	CHECK_EQ(rd(m, R_CONFIG_GEN), gen);
	CHECK_EQ(rd(m, R_INT_STATUS), 0);
	CHECK(!irq_level[irq]);
	/* Down to nothing is a size too. */
	CHECK_EQ(virtio_mem_resize(&part, 0), 0);
	CHECK_EQ(cfg(C_REQUESTED_SIZE), 0);
	CHECK(irq_level[irq]);
	mem_teardown();
	/* The device is gone with the partition's devices. */
	CHECK_EQ(virtio_mem_resize(&part, 0), -KEEL_EINVAL);
}

static void test_plug(void)
{
	u64 free0;
	u8 out[256], in[256];
	struct usage u;
	u64 avail;
	hpa_t hpa;

	mem_setup(true);
	CHECK_EQ(virtio_mem_resize(&part, 8 * BLOCK), 0);
	free0 = pmm_free_bytes();
	CHECK_EQ(request(REQ_PLUG, blk(0), 2, NULL), RESP_ACK);
	check_plugged(2 * BLOCK, free0);
	CHECK(rd(m, R_INT_STATUS) & VIRTIO_INT_USED);
	/* Fresh memory reads as zeroes, not as what the pool held before. */
	CHECK(guest_zero_at(blk(0), 2 * BLOCK));
	/* A round trip, across the boundary of the two blocks. */
	for (u32 i = 0; i < sizeof(out); i++)
		out[i] = (u8)(i * 13 + 7);
	CHECK_EQ(guest_copy_to(&part, blk(1) - 100, out, sizeof(out)), 0);
	CHECK_EQ(guest_copy_from(&part, in, blk(1) - 100, sizeof(in)), 0);
	CHECK(memcmp(in, out, sizeof(in)) == 0);
	/* The block's host memory came from the pool. */
	hpa = hotmem_lookup(&part.hotmem, blk(1), &avail);
	CHECK(hpa >= (hpa_t)(uintptr_t)hot_pool &&
	      hpa + BLOCK <= (hpa_t)(uintptr_t)hot_pool + HOT_POOL_SIZE);
	CHECK_EQ(avail, BLOCK);
	CHECK(memcmp(hpa_to_hva(hpa), out + 100, 156) == 0);
	/* Next to it, unplugged: a fault, and nothing read or written. */
	memset(in, 0x77, sizeof(in));
	CHECK_EQ(guest_copy_from(&part, in, blk(2) - 8, 16), -KEEL_EFAULT);
	CHECK_EQ(in[0], 0x77);
	CHECK_EQ(guest_copy_to(&part, blk(2) - 8, out, 16), -KEEL_EFAULT);
	CHECK(guest_zero_at(blk(2) - 8, 8));
	CHECK_EQ(guest_copy_from(&part, in, HBASE + REGION - 8, 8), -KEEL_EFAULT);
	/* Beyond the requested size: NACK, nothing changed. */
	usage(&u);
	CHECK_EQ(request(REQ_PLUG, blk(4), 7, NULL), RESP_NACK);
	CHECK(unchanged(&u));
	/* Up to it exactly: fine; one more block is not. */
	CHECK_EQ(request(REQ_PLUG, blk(4), 6, NULL), RESP_ACK);
	check_plugged(8 * BLOCK, free0);
	usage(&u);
	CHECK_EQ(request(REQ_PLUG, blk(2), 1, NULL), RESP_NACK);
	/* A block plugged already is an ERROR, though the size is reached too. */
	CHECK_EQ(request(REQ_PLUG, blk(0), 1, NULL), RESP_ERROR);
	CHECK_EQ(request(REQ_PLUG, blk(1), 2, NULL), RESP_ERROR);
	CHECK(unchanged(&u));
	/* Requested below plugged: the device takes nothing back, and plugs no more. */
	CHECK_EQ(virtio_mem_resize(&part, 2 * BLOCK), 0);
	CHECK_EQ(request(REQ_PLUG, blk(2), 1, NULL), RESP_NACK);
	check_plugged(8 * BLOCK, free0);
	CHECK_EQ(guest_copy_from(&part, in, blk(1) - 100, sizeof(in)), 0);
	CHECK(memcmp(in, out, sizeof(in)) == 0);
	CHECK(!needs_reset(m));
	mem_teardown();
}

/* Ranges no request may act on: misaligned, outside the region, empty, overflowing. */
static const struct {
	u64 addr;
	u16 nb;
} bad_ranges[] = {
	{ HBASE + BLOCK + PAGE_SIZE, 1 },
	{ HBASE + 1, 1 },
	{ HBASE + BLOCK / 2, 2 },
	{ HBASE - BLOCK, 1 },
	{ HBASE - BLOCK, 2 }, /* would end inside the region */
	{ 0, 1 },
	{ RAM_BASE, 1 }, /* the partition's RAM */
	{ HBASE + REGION, 1 },
	{ HBASE + REGION + BLOCK, 1 },
	{ HBASE + 4 * BLOCK, 0 },
	{ HBASE + REGION - BLOCK, 2 },
	{ HBASE + 8 * BLOCK, 0xffff },
	{ HBASE, NBLOCKS + 1 },
	{ ~0ull - BLOCK + 1, 1 },
	{ ~0ull - BLOCK + 1, 0xffff },
	{ ~0ull, 1 },
	{ HBASE + (1ull << 63), 1 },
	{ HBASE - (1ull << 63), 1 },
	{ (0ull - 0x8000ull * BLOCK) + HBASE, 0xffff }, /* wraps onto the region */
};

static void test_bad_ranges(void)
{
	struct usage u;
	u16 st;

	mem_setup(true);
	CHECK_EQ(virtio_mem_resize(&part, REGION), 0);
	CHECK_EQ(request(REQ_PLUG, blk(8), 2, NULL), RESP_ACK);
	usage(&u);
	for (u32 i = 0; i < ARRAY_SIZE(bad_ranges); i++) {
		u64 a = bad_ranges[i].addr;
		u16 nb = bad_ranges[i].nb;

		CHECK_EQ(request(REQ_PLUG, a, nb, NULL), RESP_ERROR);
		CHECK_EQ(request(REQ_UNPLUG, a, nb, NULL), RESP_ERROR);
		st = 0x5555;
		CHECK_EQ(request(REQ_STATE, a, nb, &st), RESP_ERROR);
		CHECK_EQ(st, 0); /* no state in an error */
	}
	CHECK(unchanged(&u));
	/* Plugged already, wholly or in part: ERROR, not a second backing. */
	CHECK_EQ(request(REQ_PLUG, blk(8), 1, NULL), RESP_ERROR);
	CHECK_EQ(request(REQ_PLUG, blk(9), 1, NULL), RESP_ERROR);
	CHECK_EQ(request(REQ_PLUG, blk(6), 3, NULL), RESP_ERROR);
	CHECK_EQ(request(REQ_PLUG, blk(9), 4, NULL), RESP_ERROR);
	CHECK_EQ(request(REQ_PLUG, blk(0), NBLOCKS, NULL), RESP_ERROR);
	/* Types the device does not know, whatever the range. */
	CHECK_EQ(request(4, blk(0), 1, NULL), RESP_ERROR);
	CHECK_EQ(request(0xffff, blk(8), 1, NULL), RESP_ERROR);
	CHECK_EQ(request(0x100, blk(0), 1, NULL), RESP_ERROR); /* PLUG in the high byte */
	CHECK(unchanged(&u));
	/* hotmem's own counts are 64-bit: one that wraps the block index is no range either. */
	CHECK_EQ(hotmem_plug(&part, blk(1), ~0ull), -KEEL_EINVAL);
	CHECK_EQ(hotmem_plug(&part, blk(NBLOCKS - 1), 0ull - (NBLOCKS - 2)), -KEEL_EINVAL);
	CHECK_EQ(hotmem_unplug(&part, blk(8), 0ull - 6), -KEEL_EINVAL);
	CHECK_EQ(hotmem_state(&part, blk(9), 1ull << 63), -KEEL_EINVAL);
	CHECK(unchanged(&u));
	CHECK(!needs_reset(m));
	mem_teardown();
}

static void test_state(void)
{
	mem_setup(true);
	CHECK_EQ(virtio_mem_resize(&part, REGION), 0);
	CHECK_EQ(state_of(0, NBLOCKS), ST_UNPLUGGED);
	CHECK_EQ(request(REQ_PLUG, blk(3), 2, NULL), RESP_ACK);
	CHECK_EQ(state_of(3, 2), ST_PLUGGED);
	CHECK_EQ(state_of(3, 1), ST_PLUGGED);
	CHECK_EQ(state_of(4, 1), ST_PLUGGED);
	CHECK_EQ(state_of(2, 2), ST_MIXED);
	CHECK_EQ(state_of(4, 2), ST_MIXED);
	CHECK_EQ(state_of(2, 4), ST_MIXED);
	CHECK_EQ(state_of(0, NBLOCKS), ST_MIXED);
	CHECK_EQ(state_of(0, 3), ST_UNPLUGGED);
	CHECK_EQ(state_of(5, NBLOCKS - 5), ST_UNPLUGGED);
	CHECK_EQ(state_of(NBLOCKS - 1, 1), ST_UNPLUGGED);
	CHECK_EQ(state_of(NBLOCKS - 1, 2), -100 - RESP_ERROR);
	CHECK_EQ(state_of(NBLOCKS, 1), -100 - RESP_ERROR);
	mem_teardown();
}

static void test_unplug(void)
{
	u64 free0, avail;
	u8 in[64], three[64], five[64];
	struct usage u;
	hpa_t hpa4;

	mem_setup(true);
	CHECK_EQ(virtio_mem_resize(&part, REGION), 0);
	free0 = pmm_free_bytes();
	CHECK_EQ(request(REQ_PLUG, blk(2), 5, NULL), RESP_ACK);
	check_plugged(5 * BLOCK, free0);
	memset(three, 0x33, sizeof(three));
	memset(five, 0x55, sizeof(five));
	CHECK_EQ(guest_copy_to(&part, blk(4) - 64, three, 64), 0);
	CHECK_EQ(guest_copy_to(&part, blk(5), five, 64), 0);
	memset(in, 0x44, sizeof(in));
	CHECK_EQ(guest_copy_to(&part, blk(4) + 4096, in, 64), 0);
	hpa4 = hotmem_lookup(&part.hotmem, blk(4), &avail);
	CHECK(hpa4 != 0);
	/* Partly plugged, or not at all: ERROR, nothing changed. */
	usage(&u);
	CHECK_EQ(request(REQ_UNPLUG, blk(1), 2, NULL), RESP_ERROR);
	CHECK_EQ(request(REQ_UNPLUG, blk(6), 2, NULL), RESP_ERROR);
	CHECK_EQ(request(REQ_UNPLUG, blk(0), 1, NULL), RESP_ERROR);
	CHECK_EQ(request(REQ_UNPLUG, blk(1), 7, NULL), RESP_ERROR);
	CHECK(unchanged(&u));
	/* The middle block of the five. */
	CHECK_EQ(request(REQ_UNPLUG, blk(4), 1, NULL), RESP_ACK);
	check_plugged(4 * BLOCK, free0);
	CHECK_EQ(guest_copy_from(&part, in, blk(4), 8), -KEEL_EFAULT);
	CHECK_EQ(guest_copy_from(&part, in, blk(4) - 8, 16), -KEEL_EFAULT);
	CHECK(!guest_range_is_ram(&part, blk(4) + 4096, 1));
	/* Its memory went back scrubbed; its neighbours kept their data. */
	CHECK(all_zero(hpa_to_hva(hpa4), BLOCK));
	CHECK_EQ(guest_copy_from(&part, in, blk(4) - 64, 64), 0);
	CHECK(memcmp(in, three, 64) == 0);
	CHECK_EQ(guest_copy_from(&part, in, blk(5), 64), 0);
	CHECK(memcmp(in, five, 64) == 0);
	CHECK_EQ(state_of(2, 2), ST_PLUGGED);
	CHECK_EQ(state_of(4, 1), ST_UNPLUGGED);
	CHECK_EQ(state_of(5, 2), ST_PLUGGED);
	CHECK_EQ(state_of(2, 5), ST_MIXED);
	/* Across the hole: ERROR; the rest, piece by piece: ACK. */
	CHECK_EQ(request(REQ_UNPLUG, blk(3), 2, NULL), RESP_ERROR);
	CHECK_EQ(request(REQ_UNPLUG, blk(5), 2, NULL), RESP_ACK);
	CHECK_EQ(request(REQ_UNPLUG, blk(2), 2, NULL), RESP_ACK);
	check_plugged(0, free0);
	CHECK_EQ(request(REQ_UNPLUG, blk(2), 1, NULL), RESP_ERROR);
	CHECK(!needs_reset(m));
	mem_teardown();
}

/* What the guest wrote into a block is gone when the block comes back. */
static void test_scrub(void)
{
	u8 *junk = malloc(BLOCK);
	hpa_t first, again;
	u64 avail;

	mem_setup(true);
	CHECK_EQ(virtio_mem_resize(&part, REGION), 0);
	CHECK_EQ(request(REQ_PLUG, blk(7), 1, NULL), RESP_ACK);
	first = hotmem_lookup(&part.hotmem, blk(7), &avail);
	memset(junk, 0x5a, BLOCK);
	CHECK_EQ(guest_copy_to(&part, blk(7), junk, BLOCK), 0);
	CHECK_EQ(request(REQ_UNPLUG, blk(7), 1, NULL), RESP_ACK);
	CHECK_EQ(request(REQ_PLUG, blk(7), 1, NULL), RESP_ACK);
	again = hotmem_lookup(&part.hotmem, blk(7), &avail);
	CHECK_EQ(again, first); /* the same host memory: the scrub is what is tested */
	CHECK(guest_zero_at(blk(7), BLOCK));
	/* Elsewhere in the region too. */
	CHECK_EQ(guest_copy_to(&part, blk(7), junk, BLOCK), 0);
	CHECK_EQ(request(REQ_UNPLUG, blk(7), 1, NULL), RESP_ACK);
	CHECK_EQ(request(REQ_PLUG, blk(20), 1, NULL), RESP_ACK);
	CHECK(guest_zero_at(blk(20), BLOCK));
	mem_teardown();
	free(junk);
}

/* The hook test_unplug_mid_copy hangs on the first window: block @race_blk leaves. */
extern void (*hmap_host_on_get)(hpa_t pa);
static u64 race_blk, race_saved;

static void unplug_begins(hpa_t pa)
{
	u64 *table = hpa_to_hva(part.hotmem.table);

	(void)pa;
	race_saved = table[race_blk];
	table[race_blk] = 0; /* an unplug's first step, before it waits for readers */
	hmap_host_on_get = NULL;
}

/*
 * A guest unplugs a block while Keel copies into a range that reaches it (a
 * device's write racing the guest's own request on another vCPU): the range
 * was whole when checked, and the copy stops with a fault where the block
 * went, in each direction and between partitions; never at host address 0.
 */
static void test_unplug_mid_copy(void)
{
	static u8 buf[2 * 4096];

	mem_setup(true);
	CHECK_EQ(virtio_mem_resize(&part, REGION), 0);
	CHECK_EQ(request(REQ_PLUG, blk(2), 2, NULL), RESP_ACK);
	race_blk = 3;
	for (u32 dir = 0; dir < 3; dir++) {
		u64 *table = hpa_to_hva(part.hotmem.table);
		int ret;

		memset(buf, 0x77, sizeof(buf));
		hmap_host_on_get = unplug_begins;
		if (dir == 0)
			ret = guest_copy_to(&part, blk(3) - 4096, buf, sizeof(buf));
		else if (dir == 1)
			ret = guest_copy_from(&part, buf, blk(3) - 4096, sizeof(buf));
		else
			ret = guest_copy_between(&part, blk(3) - 4096, &part, blk(2), sizeof(buf));
		CHECK_EQ(ret, -KEEL_EFAULT);
		CHECK(hmap_host_on_get == NULL); /* the block did go mid-copy */
		table[race_blk] = race_saved;
	}
	mem_teardown();
}

static void test_unplug_all(void)
{
	u64 free0;
	u16 st;

	mem_setup(true);
	CHECK_EQ(virtio_mem_resize(&part, 16 * BLOCK), 0);
	free0 = pmm_free_bytes();
	/* With nothing plugged, and with an addr and nb_blocks it ignores. */
	CHECK_EQ(request(REQ_UNPLUG_ALL, ~0ull, 7, NULL), RESP_ACK);
	check_plugged(0, free0);
	CHECK_EQ(request(REQ_PLUG, blk(0), 3, NULL), RESP_ACK);
	CHECK_EQ(request(REQ_PLUG, blk(10), 1, NULL), RESP_ACK);
	CHECK_EQ(request(REQ_PLUG, blk(NBLOCKS - 4), 4, NULL), RESP_ACK);
	CHECK_EQ(request(REQ_PLUG, blk(4), 2, NULL), RESP_ACK);
	check_plugged(10 * BLOCK, free0);
	st = 0x5555;
	CHECK_EQ(request(REQ_UNPLUG_ALL, 0, 0, &st), RESP_ACK);
	CHECK_EQ(st, 0);
	check_plugged(0, free0);
	CHECK_EQ(state_of(0, NBLOCKS), ST_UNPLUGGED);
	CHECK_EQ(guest_copy_from(&part, &st, blk(0), 2), -KEEL_EFAULT);
	CHECK_EQ(cfg(C_REQUESTED_SIZE), 16 * BLOCK); /* the operator's, not the driver's */
	/* Everything can be plugged again. */
	CHECK_EQ(request(REQ_PLUG, blk(0), 16, NULL), RESP_ACK);
	check_plugged(16 * BLOCK, free0);
	CHECK_EQ(request(REQ_UNPLUG_ALL, 0, 0, NULL), RESP_ACK);
	CHECK_EQ(pmm_free_bytes(), free0);
	mem_teardown();
}

/*
 * Chains the device cannot answer (short request, no room for the
 * response): NEEDS_RESET, no memory plugged, nothing written. Each is a
 * valid PLUG, so a device that acted on it would show.
 */
static void malformed_case(u32 req_len, u32 resp_len, u16 resp_flags)
{
	struct usage u;

	put_req(REQ_PLUG, blk(0), 1);
	put_desc(Q_DESC, 0, REQ, req_len, F_NEXT, 1);
	put_desc(Q_DESC, 1, RESP, resp_len, resp_flags, 0);
	usage(&u);
	avail_add(Q_AVAIL, 16, 0);
	snapshot();
	wr(m, R_QUEUE_NOTIFY, 0);
	CHECK(needs_reset(m));
	CHECK(ram_unchanged());
	CHECK(unchanged(&u));
	CHECK(rd(m, R_INT_STATUS) & VIRTIO_INT_CONFIG);
	/* Nothing more is served until the reset. */
	CHECK_EQ(request(REQ_PLUG, blk(0), 1, NULL), -1);
	CHECK(unchanged(&u));
	drv_restart();
}

static void test_malformed(void)
{
	u8 req[24];

	mem_setup(true);
	CHECK_EQ(virtio_mem_resize(&part, REGION), 0);
	CHECK_EQ(request(REQ_PLUG, blk(5), 1, NULL), RESP_ACK);
	malformed_case(16, 10, F_WRITE);
	malformed_case(23, 10, F_WRITE);
	malformed_case(24, 9, F_WRITE);
	malformed_case(24, 10, 0); /* the response buffer is not writable */
	malformed_case(24, 0, F_WRITE);
	/* A virtio reset leaves plugged memory alone (§5.15.5). */
	CHECK_EQ(state_of(5, 1), ST_PLUGGED);
	CHECK_EQ(cfg(C_PLUGGED_SIZE), BLOCK);
	/* Any framing of a well-formed request is fine: split, or in larger buffers. */
	put_req(REQ_PLUG, blk(0), 1);
	memcpy(req, hva(REQ), 24);
	memcpy(hva(BUF + 0x200), req + 12, 12);
	put_desc(Q_DESC, 0, REQ, 12, F_NEXT, 1);
	put_desc(Q_DESC, 1, BUF + 0x200, 12, F_NEXT, 2);
	put_desc(Q_DESC, 2, RESP, 4, F_WRITE | F_NEXT, 3);
	put_desc(Q_DESC, 3, BUF + 0x300, 6, F_WRITE, 0);
	memset(hva(RESP), 0xee, 4);
	memset(hva(BUF + 0x300), 0xee, 6);
	CHECK(submit());
	CHECK_EQ(get16(RESP), RESP_ACK);
	CHECK(all_zero(hva(RESP + 2), 2));
	CHECK(all_zero(hva(BUF + 0x300), 6));
	CHECK_EQ(get32(Q_USED + 8), 10);
	put_req(REQ_STATE, blk(0), 1);
	put_desc(Q_DESC, 0, REQ, 64, F_NEXT, 1);
	put_desc(Q_DESC, 1, RESP, 64, F_WRITE, 0);
	memset(hva(RESP), 0xee, 64);
	CHECK(submit());
	CHECK_EQ(get16(RESP), RESP_ACK);
	CHECK_EQ(get16(RESP + 8), ST_PLUGGED);
	CHECK_EQ(*hva(RESP + 10), 0xee);
	CHECK_EQ(get32(Q_USED + 4 + 8 + 4), 10);
	CHECK(!needs_reset(m));
	mem_teardown();
}

/*
 * The driver puts its response in the very block it unplugs: the block is
 * gone before the answer, which must not land in memory back in the pool.
 */
static void test_response_in_unplugged_block(void)
{
	u64 free0, avail;
	hpa_t hpa;

	mem_setup(true);
	CHECK_EQ(virtio_mem_resize(&part, REGION), 0);
	free0 = pmm_free_bytes();
	CHECK_EQ(request(REQ_PLUG, blk(1), 2, NULL), RESP_ACK);
	hpa = hotmem_lookup(&part.hotmem, blk(2), &avail);
	put_req(REQ_UNPLUG, blk(2), 1);
	put_desc(Q_DESC, 0, REQ, 24, F_NEXT, 1);
	put_desc(Q_DESC, 1, blk(2) + 64, 10, F_WRITE, 0);
	avail_add(Q_AVAIL, 16, 0);
	wr(m, R_QUEUE_NOTIFY, 0);
	check_plugged(BLOCK, free0);
	CHECK(all_zero(hpa_to_hva(hpa), BLOCK));
	CHECK(needs_reset(m));
	CHECK_EQ(state_of(1, 1), -1); /* until the reset */
	drv_restart();
	CHECK_EQ(state_of(1, 1), ST_PLUGGED);
	CHECK_EQ(state_of(2, 1), ST_UNPLUGGED);
	mem_teardown();
}

static void test_pool_runs_out(void)
{
	u64 free0, cap, top, avail, pieces = 0;
	struct usage u;
	u8 out[64], in[64];

	mem_setup(true);
	CHECK_EQ(virtio_mem_resize(&part, REGION), 0);
	free0 = pmm_free_bytes();
	cap = pool_blocks();
	CHECK(cap > 8 && cap < NBLOCKS);
	/* More than the pool holds: NACK, and what was taken on the way is back. */
	usage(&u);
	CHECK_EQ(request(REQ_PLUG, blk(0), NBLOCKS, NULL), RESP_NACK);
	CHECK(unchanged(&u));
	CHECK(strstr(unit_log, "to plug") != NULL);
	CHECK_EQ(request(REQ_PLUG, blk(3), (u16)(cap + 1), NULL), RESP_NACK);
	CHECK(unchanged(&u));
	/* Exactly what it holds; then not one block more. */
	CHECK_EQ(request(REQ_PLUG, blk(3), (u16)cap, NULL), RESP_ACK);
	check_plugged(cap * BLOCK, free0);
	CHECK_EQ(pool_blocks(), 0);
	usage(&u);
	CHECK_EQ(request(REQ_PLUG, blk(0), 1, NULL), RESP_NACK);
	CHECK(unchanged(&u));
	/*
	 * Every other block back: the pool is in single blocks now, so a plug
	 * of them all is backed piece by piece, each block its own memory.
	 */
	for (u64 i = 0; i < cap; i += 2)
		CHECK_EQ(request(REQ_UNPLUG, blk(3 + i), 1, NULL), RESP_ACK);
	top = NBLOCKS - (cap + 1) / 2;
	CHECK_EQ(pool_blocks(), NBLOCKS - top);
	CHECK_EQ(request(REQ_PLUG, blk(top), (u16)(NBLOCKS - top), NULL), RESP_ACK);
	check_plugged(cap * BLOCK, free0);
	for (u32 i = 0; i < sizeof(out); i++)
		out[i] = (u8)(i ^ 0x3c);
	for (u64 i = top + 1; i < NBLOCKS; i++) {
		pieces += hotmem_lookup(&part.hotmem, blk(i), &avail) !=
			  hotmem_lookup(&part.hotmem, blk(i - 1), &avail) + BLOCK;
		CHECK_EQ(guest_copy_to(&part, blk(i) - 32, out, sizeof(out)), 0);
	}
	CHECK(pieces > 0);
	for (u64 i = top + 1; i < NBLOCKS; i++) {
		CHECK_EQ(guest_copy_from(&part, in, blk(i) - 32, sizeof(in)), 0);
		CHECK(memcmp(in, out, sizeof(in)) == 0);
	}
	/* One warning, however often it happens. */
	unit_log_len = 0;
	unit_log[0] = 0;
	CHECK_EQ(request(REQ_PLUG, blk(0), 1, NULL), RESP_NACK);
	CHECK_EQ(unit_log_len, 0);
	CHECK_EQ(request(REQ_UNPLUG_ALL, 0, 0, NULL), RESP_ACK);
	check_plugged(0, free0);
	mem_teardown();
}

/* ---- A random sequence against a model: a bool per block ---- */

struct model {
	bool plugged[NBLOCKS];
	u64 tag[NBLOCKS]; /* what the guest wrote at the block's start */
	u64 count, requested, cap, next_tag;
	u32 seen[5]; /* responses expected: ACK, NACK, -, ERROR, and NACK for want of memory */
};

/* A hostile or ordinary address: mostly near the region, sometimes anything. */
static u64 rand_addr(unsigned long long *seed)
{
	u64 r = unit_rand(seed);

	switch (r % 8) {
	case 0:
		return unit_rand(seed); /* anything */
	case 1:
		return HBASE + unit_rand(seed) % (REGION + 4 * BLOCK) - 2 * BLOCK; /* misaligned */
	default:
		return HBASE + (unit_rand(seed) % (NBLOCKS + 4)) * BLOCK - 2 * BLOCK;
	}
}

static u16 rand_nb(unsigned long long *seed)
{
	u64 r = unit_rand(seed);

	switch (r % 16) {
	case 0:
		return 0;
	case 1:
		return (u16)unit_rand(seed);
	case 2:
		return (u16)(1 + unit_rand(seed) % NBLOCKS);
	default:
		return (u16)(1 + unit_rand(seed) % 6);
	}
}

/* A request type for @r in [8, 100): mostly PLUG and UNPLUG, sometimes any 16 bits. */
static u16 rand_type(u64 r, unsigned long long *seed)
{
	if (r < 45)
		return REQ_PLUG;
	if (r < 75)
		return REQ_UNPLUG;
	if (r < 93)
		return REQ_STATE;
	if (r < 95)
		return REQ_UNPLUG_ALL;
	return (u16)unit_rand(seed);
}

/* The blocks [*first, *first + nb) if the range is valid for the device. */
static bool model_range(u64 addr, u16 nb, u64 *first)
{
	if (addr < HBASE || addr - HBASE >= REGION || (addr - HBASE) % BLOCK || !nb)
		return false;
	*first = (addr - HBASE) / BLOCK;
	return *first + nb <= NBLOCKS;
}

static u64 model_plugged_in(const struct model *md, u64 first, u16 nb)
{
	u64 n = 0;

	for (u64 i = first; i < first + nb; i++)
		n += md->plugged[i];
	return n;
}

/* What the device must answer to @type on [addr, nb), applied to the model. */
static int model_apply(struct model *md, u16 type, u64 addr, u16 nb, u16 *state)
{
	u64 first = 0, n = 0;
	bool ok = model_range(addr, nb, &first);

	if (ok)
		n = model_plugged_in(md, first, nb);
	*state = 0;
	switch (type) {
	case REQ_PLUG:
		if (!ok || n)
			return RESP_ERROR;
		if ((md->count + nb) * BLOCK > md->requested)
			return RESP_NACK;
		if (md->count + nb > md->cap) {
			md->seen[4]++;
			return RESP_NACK;
		}
		for (u64 i = first; i < first + nb; i++)
			md->plugged[i] = true;
		md->count += nb;
		return RESP_ACK;
	case REQ_UNPLUG:
		if (!ok || n != nb)
			return RESP_ERROR;
		for (u64 i = first; i < first + nb; i++)
			md->plugged[i] = false;
		md->count -= nb;
		return RESP_ACK;
	case REQ_UNPLUG_ALL:
		memset(md->plugged, 0, sizeof(md->plugged));
		md->count = 0;
		return RESP_ACK;
	case REQ_STATE:
		if (!ok)
			return RESP_ERROR;
		*state = n == nb ? ST_PLUGGED : n ? ST_MIXED : ST_UNPLUGGED;
		return RESP_ACK;
	default:
		return RESP_ERROR;
	}
}

/* Newly plugged blocks read zero; the guest then tags each. */
static void model_tag_new(struct model *md, const bool *was)
{
	for (u64 i = 0; i < NBLOCKS; i++) {
		u64 v = 1;

		if (!md->plugged[i] || was[i])
			continue;
		CHECK_EQ(guest_copy_from(&part, &v, blk(i) + (i * 4096) % BLOCK, 8), 0);
		CHECK_EQ(v, 0);
		md->tag[i] = ++md->next_tag;
		CHECK_EQ(guest_copy_to(&part, blk(i) + (i * 4096) % BLOCK, &md->tag[i], 8), 0);
	}
}

/*
 * Device and host agree with the model: sizes, stage 2, the pool, and each
 * block: its state, whether the guest can reach it, the tag it holds.
 */
static void model_check(const struct model *md, u64 free0)
{
	u32 wrong = 0;

	check_plugged(md->count * BLOCK, free0);
	for (u64 i = 0; i < NBLOCKS; i++) {
		u64 v = 0;
		int r = guest_copy_from(&part, &v, blk(i) + (i * 4096) % BLOCK, 8);

		if (md->plugged[i])
			wrong += hotmem_state(&part, blk(i), 1) != ST_PLUGGED || r ||
				 v != md->tag[i];
		else
			wrong +=
				hotmem_state(&part, blk(i), 1) != ST_UNPLUGGED || r != -KEEL_EFAULT;
	}
	CHECK_EQ(wrong, 0);
}

static void test_random(void)
{
	static struct model md;
	unsigned long long seed = 2000;
	u64 free0;
	bool was[NBLOCKS];

	mem_setup(true);
	memset(&md, 0, sizeof(md));
	free0 = pmm_free_bytes();
	md.cap = pool_blocks();
	for (u32 n = 0; n < 2000; n++) {
		u64 r = unit_rand(&seed) % 100, addr = rand_addr(&seed);
		u16 nb = rand_nb(&seed), type, want_state, state = 0xffff;
		int failed = unit_failed, want;

		if (r < 8) {
			/* The operator: a new size, sometimes not a valid one. */
			u64 bytes = (unit_rand(&seed) % (NBLOCKS + 3)) * BLOCK;

			if (r == 0)
				bytes += PAGE_SIZE;
			want = (bytes <= REGION && r) ? 0 : -KEEL_EINVAL;
			CHECK_EQ(virtio_mem_resize(&part, bytes), want);
			if (!want)
				md.requested = bytes;
			CHECK_EQ(cfg(C_REQUESTED_SIZE), md.requested);
			continue;
		}
		type = rand_type(r, &seed);
		memcpy(was, md.plugged, sizeof(was));
		want = model_apply(&md, type, addr, nb, &want_state);
		md.seen[want]++;
		CHECK_EQ(request(type, addr, nb, &state), want);
		CHECK_EQ(state, want_state);
		model_tag_new(&md, was);
		model_check(&md, free0);
		if (unit_failed != failed) {
			fprintf(stderr, "random request %u: type %u addr 0x%llx nb %u\n", n, type,
				(unsigned long long)addr, nb);
			break;
		}
	}
	/* The sequence reached every answer, running out of memory included. */
	CHECK(md.seen[RESP_ACK] > 100);
	CHECK(md.seen[RESP_NACK] > md.seen[4]);
	CHECK(md.seen[4] > 10);
	CHECK(md.seen[RESP_ERROR] > 100);
	CHECK(!needs_reset(m));
	CHECK_EQ(request(REQ_UNPLUG_ALL, 0, 0, NULL), RESP_ACK);
	check_plugged(0, free0);
	mem_teardown();
}

int main(void)
{
	hot_pool = aligned_alloc(BLOCK, HOT_POOL_SIZE);
	test_config();
	test_resize();
	test_plug();
	test_bad_ranges();
	test_state();
	test_unplug();
	test_scrub();
	test_unplug_mid_copy();
	test_unplug_all();
	test_malformed();
	test_response_in_unplugged_block();
	test_pool_runs_out();
	test_random();
	free(hot_pool);
	tv_free_all();
	return unit_done("test_virtio_mem");
}
