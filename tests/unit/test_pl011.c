/* SPDX-License-Identifier: MIT */
/* The PL011 UART model (arch/aarch64/pl011.c): its snapshot, through its register handlers. */
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
#define IBRD 0x024
#define LCR_H 0x02c
#define CR 0x030
#define IMSC 0x038
#define MIS 0x040
#define DMACR 0x048

static struct partition part;
static u8 *pool;
static u64 pool_free;
static int spi_level[VGIC_NR_SPIS];
static char out[64];
static size_t out_len;

void arch_irq_set_level(struct partition *p, u32 irq, bool level)
{
	CHECK(p == &part);
	CHECK(irq < VGIC_NR_SPIS);
	if (irq < VGIC_NR_SPIS)
		spi_level[irq] = level;
}

void console_part_write(struct partition *p, const char *buf, size_t len)
{
	if (out_len + len <= sizeof(out)) {
		memcpy(out + out_len, buf, len);
		out_len += len;
	}
}

static struct vdev *setup(void)
{
	memset(&part, 0, sizeof(part));
	strcpy(part.desc.h.name, "vm");
	part.state = PART_RUNNING;
	pmm_reset();
	pmm_add((hpa_t)(uintptr_t)pool, POOL_SIZE);
	CHECK_EQ(pmm_start(), 0);
	pool_free = pmm_free_bytes();
	memset(spi_level, 0, sizeof(spi_level));
	out_len = 0;
	CHECK_EQ(pl011_create(&part), 0);
	return vdev_find(&part, VDEV_MMIO, VPLAT_PL011_BASE, VPLAT_PL011_SIZE);
}

static void teardown(void)
{
	vdev_destroy_all(&part);
	CHECK_EQ(pmm_free_bytes(), pool_free);
}

static u64 rd(struct vdev *d, u64 off)
{
	u64 v = ~0ull;

	CHECK_EQ(d->ops->read(d, NULL, off, 4, &v), 0);
	return v;
}

static void wr(struct vdev *d, u64 off, u64 v)
{
	CHECK_EQ(d->ops->write(d, NULL, off, 4, v), 0);
}

static int irq(void)
{
	return spi_level[VPLAT_PL011_SPI];
}

/* A saved state restored into a new UART reads back the same, its SPI included. */
static void test_save_restore(void)
{
	u8 blob[64], bad[64];
	struct vdev *d = setup();
	int n;

	wr(d, IBRD, 0x27);
	wr(d, LCR_H, 0x70);
	wr(d, CR, 0x301);
	wr(d, DMACR, 0x3);
	wr(d, IMSC, 0x20); /* the transmit interrupt: always pending, so the SPI is high */
	CHECK_EQ(irq(), 1);
	CHECK_EQ(vdev_save(d, blob, 8), -KEEL_E2BIG);
	n = vdev_save(d, blob, sizeof(blob));
	CHECK(n > 0 && n <= (int)sizeof(blob));
	teardown();

	d = setup();
	CHECK_EQ(irq(), 0);
	CHECK_EQ(vdev_restore(d, blob, (u32)n), 0);
	CHECK_EQ(irq(), 1);
	CHECK_EQ(rd(d, IBRD), 0x27);
	CHECK_EQ(rd(d, LCR_H), 0x70);
	CHECK_EQ(rd(d, CR), 0x301);
	CHECK_EQ(rd(d, DMACR), 0x3);
	CHECK_EQ(rd(d, MIS), 0x20);
	wr(d, 0x000, 'k'); /* it still transmits */
	CHECK_EQ(out_len, 1);
	CHECK_EQ(vdev_save(d, bad, sizeof(bad)), n); /* and saves the same bytes */
	CHECK(!memcmp(bad, blob, (size_t)n));

	/* Untrusted blobs: size, magic, a bit no write could set (IMSC has 11, others 16). */
	CHECK_EQ(vdev_restore(d, blob, (u32)n - 1), -KEEL_EINVAL);
	CHECK_EQ(vdev_restore(d, blob, (u32)n), 0);
	memcpy(bad, blob, (size_t)n);
	bad[0] ^= 1;
	CHECK_EQ(vdev_restore(d, bad, (u32)n), -KEEL_EINVAL);
	for (u32 i = 4; i + 4 <= (u32)n; i += 4) {
		memcpy(bad, blob, (size_t)n);
		bad[i + 2] = 1; /* bit 16 */
		CHECK_EQ(vdev_restore(d, bad, (u32)n), -KEEL_EINVAL);
	}
	CHECK_EQ(vdev_restore(d, blob, (u32)n), 0);
	memcpy(bad, blob, (size_t)n);
	bad[4 + 6 * 4 + 1] = 0x08; /* IMSC bit 11 */
	CHECK_EQ(vdev_restore(d, bad, (u32)n), -KEEL_EINVAL);
	/* A refused restore leaves the UART reset, its SPI low. */
	CHECK_EQ(irq(), 0);
	CHECK_EQ(rd(d, IBRD), 0);
	CHECK_EQ(rd(d, CR), 0x300);
	teardown();
}

int main(void)
{
	pool = aligned_alloc(PAGE_SIZE, POOL_SIZE);
	test_save_restore();
	free(pool);
	return unit_done("test_pl011");
}
