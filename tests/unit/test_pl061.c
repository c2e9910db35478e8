/* SPDX-License-Identifier: MIT */
/* The PL061 GPIO model and its power key (arch/aarch64/pl061.c) through its register handlers. */
#include <stdlib.h>
#include <string.h>

#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/partition.h>
#include <keel/pmm.h>
#include <keel/vdev.h>

#include "../../arch/aarch64/vplat.h"
#include "unit.h"

#define POOL_SIZE (64ull << 10)

#define DIR 0x400
#define IS 0x404
#define IBE 0x408
#define IEV 0x40c
#define IE 0x410
#define RIS 0x414
#define MIS 0x418
#define IC 0x41c
#define AFSEL 0x420
#define KEY 0x08u /* line 3 */
/* GPIODATA seen through @mask */
#define DATA(mask) ((u64)(mask) << 2)

static struct partition part;
static u8 *pool;
static int spi_level[VGIC_NR_SPIS], spi_changes;

void arch_irq_set_level(struct partition *p, u32 irq, bool level)
{
	CHECK(p == &part);
	CHECK(irq < VGIC_NR_SPIS);
	if (irq < VGIC_NR_SPIS) {
		spi_level[irq] = level;
		spi_changes++;
	}
}

static u64 pool_free;

static struct vdev *setup(void)
{
	memset(&part, 0, sizeof(part));
	strcpy(part.desc.h.name, "vm");
	part.state = PART_RUNNING;
	pmm_reset();
	pmm_add((hpa_t)(uintptr_t)pool, POOL_SIZE);
	CHECK_EQ(pmm_start(), 0);
	pool_free = pmm_free_bytes(); /* less the allocator's own page */
	memset(spi_level, 0, sizeof(spi_level));
	spi_changes = 0;
	CHECK_EQ(pl061_create(&part), 0);
	return vdev_find(&part, VDEV_MMIO, VPLAT_PL061_BASE, VPLAT_PL061_SIZE);
}

static void teardown(void)
{
	vdev_destroy_all(&part);
	CHECK_EQ(pmm_free_bytes(), pool_free);
}

static u64 rdn(struct vdev *d, u64 off, u32 size)
{
	u64 v = 0xdeadbeefdeadbeefull;

	CHECK_EQ(d->ops->read(d, NULL, off, size, &v), 0);
	return v;
}

static u64 rd(struct vdev *d, u64 off)
{
	return rdn(d, off, 1);
}

static void wrn(struct vdev *d, u64 off, u32 size, u64 v)
{
	CHECK_EQ(d->ops->write(d, NULL, off, size, v), 0);
}

static void wr(struct vdev *d, u64 off, u64 v)
{
	wrn(d, off, 1, v);
}

static int irq(void)
{
	return spi_level[VPLAT_PL061_SPI];
}

static void test_window_and_ids(void)
{
	static const u8 id[8] = { 0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1 };
	struct vdev *d = setup();

	CHECK(d != NULL);
	if (!d)
		return;
	CHECK_EQ(d->base, VPLAT_PL061_BASE);
	CHECK_EQ(d->size, 0x1000);
	CHECK_EQ(d->irq, VPLAT_PL061_SPI);
	/* The AMBA bus reads each ID byte as a 32-bit word. */
	for (u32 i = 0; i < 8; i++) {
		CHECK_EQ(rdn(d, 0xfe0 + 4 * i, 4), id[i]);
		CHECK_EQ(rdn(d, 0xfe0 + 4 * i, 1), id[i]);
	}
	wrn(d, 0xfe0, 4, 0); /* read-only */
	CHECK_EQ(rdn(d, 0xfe0, 4), 0x61);
	/* Power-on state: all inputs, all masked, nothing pending. */
	for (u64 off = DIR; off <= AFSEL; off += 4)
		CHECK_EQ(rdn(d, off, 4), 0);
	CHECK_EQ(rd(d, DATA(0xff)), 0);
	CHECK_EQ(irq(), 0);
	teardown();
}

static void test_data_masking(void)
{
	struct vdev *d = setup();

	wr(d, DIR, 0x0f); /* lines 0-3 outputs */
	CHECK_EQ(rd(d, DIR), 0x0f);
	wr(d, DATA(0xff), 0xff);
	CHECK_EQ(rd(d, DATA(0xff)), 0x0f); /* inputs 4-7 read low */
	wr(d, DATA(0x04), 0x00); /* only line 2 */
	CHECK_EQ(rd(d, DATA(0xff)), 0x0b);
	CHECK_EQ(rd(d, DATA(0x01)), 0x01);
	CHECK_EQ(rd(d, DATA(0x06)), 0x02);
	wr(d, DATA(0x00), 0x00); /* mask nothing: no change */
	CHECK_EQ(rd(d, DATA(0xff)), 0x0b);
	wr(d, DIR, 0x00); /* all inputs now: nothing drives them */
	CHECK_EQ(rd(d, DATA(0xff)), 0x00);
	wr(d, AFSEL, 0x81);
	CHECK_EQ(rd(d, AFSEL), 0x81);
	CHECK_EQ(irq(), 0);
	teardown();
}

/* What Linux sets up for gpio-keys: IRQ_TYPE_EDGE_BOTH on line 3, unmasked. */
static void test_key_both_edges(void)
{
	struct vdev *d = setup();

	wr(d, IBE, KEY);
	wr(d, IE, KEY);
	CHECK_EQ(irq(), 0);
	CHECK(pl061_press_power_key(&part));
	CHECK_EQ(rd(d, RIS), KEY);
	CHECK_EQ(rd(d, MIS), KEY);
	CHECK_EQ(irq(), 1);
	wr(d, IC, KEY);
	CHECK_EQ(rd(d, RIS), 0);
	CHECK_EQ(irq(), 0);
	/* Pressed again before the guest read it: still down, no new edge. */
	CHECK(pl061_press_power_key(&part));
	CHECK_EQ(rd(d, RIS), 0);
	CHECK_EQ(irq(), 0);
	/* Reads that leave line 3 out do not let go of it. */
	CHECK_EQ(rd(d, DATA(0xf7)), 0);
	CHECK_EQ(rd(d, RIS), 0);
	/* gpio-keys reads it pressed: the key is let go, the falling edge raises the line. */
	CHECK_EQ(rd(d, DATA(KEY)), KEY);
	CHECK_EQ(rd(d, RIS), KEY);
	CHECK_EQ(irq(), 1);
	wr(d, IC, 0xff);
	CHECK_EQ(irq(), 0);
	CHECK_EQ(rd(d, DATA(KEY)), 0);
	CHECK_EQ(rd(d, RIS), 0);
	/* A second press is a new edge; read before the clear, both edges are one pending bit. */
	CHECK(pl061_press_power_key(&part));
	CHECK_EQ(irq(), 1);
	CHECK_EQ(rd(d, DATA(0xff)), KEY);
	CHECK_EQ(rd(d, RIS), KEY);
	wr(d, IC, KEY);
	CHECK_EQ(irq(), 0);
	CHECK_EQ(rd(d, DATA(0xff)), 0);
	teardown();
}

static void test_single_edges_and_mask(void)
{
	struct vdev *d = setup();

	/* Rising only: the press latches, the release does not. */
	wr(d, IEV, KEY);
	CHECK(pl061_press_power_key(&part));
	CHECK_EQ(rd(d, RIS), KEY);
	CHECK_EQ(rd(d, MIS), 0); /* masked */
	CHECK_EQ(irq(), 0);
	wr(d, IE, KEY); /* unmasking a pending edge raises the line */
	CHECK_EQ(irq(), 1);
	wr(d, IC, KEY);
	CHECK_EQ(irq(), 0);
	CHECK_EQ(rd(d, DATA(KEY)), KEY);
	CHECK_EQ(rd(d, RIS), 0);
	CHECK_EQ(irq(), 0);

	/* Falling only: the press does nothing, the release latches. */
	wr(d, IEV, 0);
	CHECK(pl061_press_power_key(&part));
	CHECK_EQ(irq(), 0);
	CHECK_EQ(rd(d, DATA(KEY)), KEY);
	CHECK_EQ(rd(d, RIS), KEY);
	CHECK_EQ(irq(), 1);
	wr(d, IE, 0);
	CHECK_EQ(irq(), 0);
	CHECK_EQ(rd(d, RIS), KEY);
	wr(d, IC, KEY);
	CHECK_EQ(rd(d, RIS), 0);
	teardown();
}

static void test_level(void)
{
	struct vdev *d = setup();

	/* Level high: pending while the key is down; GPIOIC does not clear it. */
	wr(d, IS, KEY);
	wr(d, IEV, KEY);
	wr(d, IE, KEY);
	CHECK_EQ(irq(), 0);
	CHECK(pl061_press_power_key(&part));
	CHECK_EQ(irq(), 1);
	wr(d, IC, KEY);
	CHECK_EQ(rd(d, RIS), KEY);
	CHECK_EQ(irq(), 1);
	CHECK_EQ(rd(d, DATA(0xff)), KEY); /* read pressed: let go */
	CHECK_EQ(rd(d, RIS), 0);
	CHECK_EQ(irq(), 0);
	/* Level low on line 0 (an input nobody drives): pending at once. */
	wr(d, IS, 0x01);
	wr(d, IEV, 0x00);
	wr(d, IE, 0x01);
	CHECK_EQ(rd(d, RIS), 0x01);
	CHECK_EQ(irq(), 1);
	wr(d, IS, 0x00); /* edge-sensitive now: nothing latched */
	CHECK_EQ(rd(d, RIS), 0);
	CHECK_EQ(irq(), 0);
	teardown();
}

static void test_outputs_and_reset(void)
{
	struct vdev *d = setup();

	/* A line the guest drives as an output raises its own edges. */
	wr(d, DIR, 0x01);
	wr(d, IBE, 0x01);
	wr(d, IE, 0x01);
	wr(d, DATA(0x01), 0x01);
	CHECK_EQ(rd(d, RIS), 0x01);
	CHECK_EQ(irq(), 1);
	wr(d, IC, 0x01);
	CHECK_EQ(irq(), 0);

	/* Line 3 as an output hides the key, and reading it there is no acknowledgement. */
	wr(d, DIR, 0x09);
	wr(d, IBE, 0x09);
	wr(d, IE, 0x09);
	CHECK(pl061_press_power_key(&part));
	CHECK_EQ(irq(), 0);
	CHECK_EQ(rd(d, DATA(KEY)), 0);
	wr(d, DIR, 0x01); /* an input again: the key, still down, is a rising edge */
	CHECK_EQ(rd(d, RIS), KEY);
	CHECK_EQ(irq(), 1);

	d->ops->reset(d); /* partition restart */
	spi_level[VPLAT_PL061_SPI] = 0; /* the vGIC is reset with it */
	for (u64 off = DIR; off <= AFSEL; off += 4)
		CHECK_EQ(rdn(d, off, 4), 0);
	CHECK_EQ(rd(d, DATA(0xff)), 0);
	teardown();
}

static void test_not_running(void)
{
	struct vdev *d = setup();

	wr(d, IBE, KEY);
	wr(d, IE, KEY);
	part.state = PART_STOPPING;
	CHECK(!pl061_press_power_key(&part));
	part.state = PART_RUNNING;
	CHECK_EQ(irq(), 0);
	CHECK_EQ(rd(d, DATA(0xff)), 0);
	teardown();
	/* No PL061 at all. */
	memset(&part, 0, sizeof(part));
	part.state = PART_RUNNING;
	CHECK(!pl061_press_power_key(&part));
}

/* Unaligned, odd-sized, wide and out-of-window accesses: no crash, no effect. */
static void test_hostile(void)
{
	static const u64 offs[] = { 0x0,       0x1,   0x2,    0x3,    0x3fd,
				    0x3ff,     0x401, 0x402,  0x403,  0x41d,
				    0x424,     0x800, 0xfdc,  0xfe1,  0xffc,
				    0xffd,     0xfff, 0x1000, 0x1004, 0x7fffffffffffull,
				    ~0ull - 3, ~0ull };
	static const u32 sizes[] = { 0, 1, 2, 3, 4, 5, 7, 8, 16, 0xffffffffu };
	struct vdev *d = setup();

	wr(d, IBE, KEY);
	wr(d, IE, KEY);
	for (u32 i = 0; i < ARRAY_SIZE(offs); i++) {
		for (u32 j = 0; j < ARRAY_SIZE(sizes); j++) {
			u64 v = rdn(d, offs[i], sizes[j]);

			if (sizes[j] < 8)
				CHECK_EQ(v >> (8 * sizes[j]), 0);
			wrn(d, offs[i], sizes[j], ~0ull);
		}
	}
	/* Unaligned words read as zero and ignore writes. */
	CHECK_EQ(rdn(d, 0xfe1, 1), 0);
	CHECK_EQ(rdn(d, 0x401, 4), 0);
	/* The aligned ones took the writes (0x0 / 0x3fc... are GPIODATA: inputs only). */
	CHECK_EQ(rd(d, DIR), 0x00);
	CHECK_EQ(rd(d, IBE), KEY);
	CHECK_EQ(rd(d, DATA(0xff)), 0);
	/* Wide accesses reach two words; upper bytes of a word are zero. */
	wrn(d, DIR, 8, 0x1234567800000042ull);
	CHECK_EQ(rd(d, DIR), 0x42);
	CHECK_EQ(rd(d, IS), 0x78);
	CHECK_EQ(rdn(d, DIR, 8), 0x0000007800000042ull);
	CHECK_EQ(rdn(d, DIR, 2), 0x42);
	CHECK_EQ(rdn(d, 0xff8, 8), 0xb100000005ull);
	/* Writes to read-only registers change nothing. */
	wr(d, IS, 0);
	wr(d, DIR, 0);
	wr(d, RIS, 0xff);
	wr(d, MIS, 0xff);
	CHECK_EQ(rd(d, RIS), 0);
	CHECK_EQ(rd(d, IC), 0);
	CHECK_EQ(irq(), 0);
	CHECK(pl061_press_power_key(&part));
	CHECK_EQ(irq(), 1);
	teardown();
}

/* A saved state restored into a new device reads back the same, its SPI included. */
static void test_save_restore(void)
{
	u8 blob[64], bad[64];
	struct vdev *d = setup();
	int n;

	wr(d, DIR, 0x30);
	wr(d, DATA(0xff), 0x10); /* line 4 driven high */
	wr(d, IBE, KEY);
	wr(d, IE, KEY);
	wr(d, AFSEL, 0x81);
	CHECK(pl061_press_power_key(&part)); /* an edge latched: SPI high */
	CHECK_EQ(irq(), 1);
	CHECK_EQ(vdev_save(d, blob, 8), -KEEL_E2BIG);
	n = vdev_save(d, blob, sizeof(blob));
	CHECK(n > 0 && n <= (int)sizeof(blob));
	teardown();

	d = setup();
	CHECK_EQ(irq(), 0);
	CHECK_EQ(vdev_restore(d, blob, (u32)n), 0);
	CHECK_EQ(irq(), 1);
	CHECK_EQ(rd(d, DIR), 0x30);
	CHECK_EQ(rd(d, AFSEL), 0x81);
	CHECK_EQ(rd(d, IE), KEY);
	CHECK_EQ(rd(d, MIS), KEY);
	CHECK_EQ(rd(d, DATA(0x30)), 0x10); /* not the key: reading it would let it go */
	/* The guest acknowledges as it would have before the snapshot. */
	wr(d, IC, KEY);
	CHECK_EQ(rd(d, DATA(KEY)), KEY); /* reading the key lets it go: a falling edge */
	CHECK_EQ(rd(d, MIS), KEY);
	wr(d, IC, KEY);
	CHECK_EQ(irq(), 0);

	/* Untrusted blobs: wrong size, magic, padding, lines the registers cannot make. */
	memcpy(bad, blob, (size_t)n);
	CHECK_EQ(vdev_restore(d, bad, (u32)n - 1), -KEEL_EINVAL);
	CHECK_EQ(vdev_restore(d, bad, (u32)n + 1), -KEEL_EINVAL);
	bad[0] ^= 1;
	CHECK_EQ(vdev_restore(d, bad, (u32)n), -KEEL_EINVAL);
	memcpy(bad, blob, (size_t)n);
	bad[n - 1] = 1;
	CHECK_EQ(vdev_restore(d, bad, (u32)n), -KEEL_EINVAL);
	CHECK_EQ(vdev_restore(d, blob, (u32)n), 0);
	CHECK_EQ(irq(), 1);
	memcpy(bad, blob, (size_t)n);
	bad[4 + 9] ^= 0x40; /* lines: an edge nobody made */
	CHECK_EQ(vdev_restore(d, bad, (u32)n), -KEEL_EINVAL);
	/* A refused restore leaves the device reset, its SPI low. */
	CHECK_EQ(irq(), 0);
	CHECK_EQ(rd(d, DIR), 0);
	CHECK_EQ(rd(d, IE), 0);
	teardown();
}

int main(void)
{
	pool = aligned_alloc(PAGE_SIZE, POOL_SIZE);
	test_window_and_ids();
	test_data_masking();
	test_key_both_edges();
	test_single_edges_and_mask();
	test_level();
	test_outputs_and_reset();
	test_not_running();
	test_hostile();
	test_save_restore();
	free(pool);
	return unit_done("test_pl061");
}
