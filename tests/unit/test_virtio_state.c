/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of device snapshots (vdev_save/vdev_restore: virtio/mmio.c and
 * the device files). A partition's devices saved mid-traffic, torn down, made
 * again and restored carry on where they were, as their drivers see it, and
 * save the same bytes again. Blobs cut short, padded or mutated are refused
 * with the device reset, or are states the registers could have reached.
 */
#include "test_virtio.h"

#define CON 0u
#define RNG 1u
#define BLK 2u
#define CTL 3u
#define NDEV 4u
#define BLOB_MAX 8192

/* The disk's queue, apart from the console's (Q_DESC, Q_DESC2). */
#define BQ_DESC (RAM_BASE + 0x30000)
#define BQ_AVAIL (RAM_BASE + 0x31000)
#define BQ_USED (RAM_BASE + 0x32000)
#define B_HDR (BUF + 0x4000)
#define B_STATUS (BUF + 0x4800)
#define B_DATA (BUF + 0x5000)
#define CON_RX (BUF + 0x8000)

static struct keel_boot_module disk;
static u8 img[64 * 512];
static u8 blob[NDEV][BLOB_MAX], again[BLOB_MAX], work[BLOB_MAX];
static int blob_len[NDEV];
static u16 blk_used;

static void setup_all(void)
{
	u32 i;

	tv_setup();
	for (i = 0; i < sizeof(img); i++)
		img[i] = (u8)(i * 13 + i / 512);
	disk = (struct keel_boot_module){ .base = (hpa_t)(uintptr_t)img, .size = sizeof(img) };
	tv_devices_with_disk(&disk, 0);
	CHECK_EQ(virtio_create_devices(&part), 0);
	CHECK_EQ(part.vdev_count, NDEV);
	blk_used = 0;
}

static struct vdev *blk_bring_up(void)
{
	struct vdev *b = dev_at(BLK);

	CHECK(drv_negotiate(b, BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC)));
	drv_queue(b, 0, 16, BQ_DESC, BQ_AVAIL, BQ_USED);
	drv_ok(b);
	return b;
}

/* Read @sector into B_DATA; true if it came back, in order, with status OK. */
static bool blk_read(u64 sector)
{
	u32 type = 0, zero = 0;

	memcpy(hva(B_HDR), &type, 4);
	memcpy(hva(B_HDR + 4), &zero, 4);
	memcpy(hva(B_HDR + 8), &sector, 8);
	*hva(B_STATUS) = 0xee;
	put_desc(BQ_DESC, 0, B_HDR, 16, F_NEXT, 1);
	put_desc(BQ_DESC, 1, B_DATA, 512, F_NEXT | F_WRITE, 2);
	put_desc(BQ_DESC, 2, B_STATUS, 1, F_WRITE, 0);
	avail_add(BQ_AVAIL, 16, 0);
	wr(dev_at(BLK), R_QUEUE_NOTIFY, 0);
	if (get16(BQ_USED + 2) != (u16)(blk_used + 1))
		return false;
	blk_used++;
	return *hva(B_STATUS) == 0 && !memcmp(hva(B_DATA), img + sector * 512, 512);
}

static void save_all(void)
{
	u32 i;

	for (i = 0; i < NDEV; i++) {
		blob_len[i] = vdev_save(dev_at(i), blob[i], BLOB_MAX);
		CHECK(blob_len[i] > 0);
	}
}

/* As a restored partition would: new devices from the description, then the saved state. */
static void remake_and_restore(void)
{
	u32 i;

	vdev_destroy_all(&part);
	CHECK_EQ(pmm_free_bytes(), pool_free);
	CHECK_EQ(virtio_create_devices(&part), 0);
	for (i = 0; i < NDEV; i++)
		CHECK_EQ(vdev_restore(dev_at(i), blob[i], (u32)blob_len[i]), 0);
}

static void test_round_trip(void)
{
	struct vdev *con;
	u32 i;

	setup_all();
	blk_bring_up();
	con = drv_bring_up(CON, 2, 0);
	CHECK(blk_read(3) && blk_read(7) && blk_read(9));
	virtio_console_input(&part, "abc", 3); /* no receive buffer yet: held */
	CHECK(!part.con_ready);
	save_all();
	remake_and_restore();
	/* Everything as it was: the same bytes saved again. */
	for (i = 0; i < NDEV; i++) {
		CHECK_EQ(vdev_save(dev_at(i), again, BLOB_MAX), blob_len[i]);
		CHECK(!memcmp(again, blob[i], (size_t)blob_len[i]));
	}
	/* The drivers carry on: the disk's used ring goes on from 3, the typed input arrives. */
	CHECK_EQ(rd(dev_at(BLK), R_STATUS), 0xf);
	CHECK(blk_read(11));
	CHECK_EQ(get16(BQ_USED + 2), 4);
	con = dev_at(CON);
	put_desc(Q_DESC, 0, CON_RX, 64, F_WRITE, 0);
	avail_add(Q_AVAIL, 16, 0);
	wr(con, R_QUEUE_NOTIFY, 0);
	CHECK_EQ(get16(Q_USED + 2), 1);
	CHECK_EQ(get32(Q_USED + 8), 3);
	CHECK(!memcmp(hva(CON_RX), "abc", 3));
	CHECK(part.con_ready);
	/* A device of another type, and an interrupt pending over the restore. */
	CHECK_EQ(vdev_restore(dev_at(RNG), blob[BLK], (u32)blob_len[BLK]), -KEEL_EINVAL);
	CHECK(irq_level[KEEL_VIRTIO_IRQ_BASE + BLK]);
	CHECK_EQ(vdev_save(dev_at(BLK), again, BLOB_MAX), blob_len[BLK]);
	wr(dev_at(BLK), R_STATUS, 0);
	CHECK(!irq_level[KEEL_VIRTIO_IRQ_BASE + BLK]);
	CHECK_EQ(vdev_restore(dev_at(BLK), again, (u32)blob_len[BLK]), 0);
	CHECK(irq_level[KEEL_VIRTIO_IRQ_BASE + BLK]); /* the line follows the restored ISR */
	CHECK_EQ(vdev_save(dev_at(BLK), blob[0], 16), -KEEL_E2BIG);
	tv_teardown();
}

/* Restore @len bytes of @b into device @slot expecting a refusal that leaves it reset. */
static void expect_refused(u32 slot, const void *b, u32 len)
{
	struct vdev *d = dev_at(slot);

	CHECK_EQ(vdev_restore(d, b, len), -KEEL_EINVAL);
	CHECK_EQ(rd(d, R_STATUS), 0);
	CHECK_EQ(rd(d, R_INT_STATUS), 0);
	CHECK(!irq_level[KEEL_VIRTIO_IRQ_BASE + slot]);
}

/* The disk's blob with one transport field changed by @edit. */
static void refused_if(void (*edit)(struct virtio_state *st))
{
	memcpy(work, blob[BLK], (size_t)blob_len[BLK]);
	edit((struct virtio_state *)(void *)work);
	expect_refused(BLK, work, (u32)blob_len[BLK]);
}

static void edit_magic(struct virtio_state *st)
{
	st->magic ^= 1;
}
static void edit_device(struct virtio_state *st)
{
	st->device_id = 4;
}
static void edit_status(struct virtio_state *st)
{
	st->status &= ~VIRTIO_STATUS_FEATURES_OK;
}
static void edit_status_bit(struct virtio_state *st)
{
	st->status |= 0x10;
}
static void edit_isr(struct virtio_state *st)
{
	st->isr = 4;
}
static void edit_features(struct virtio_state *st)
{
	st->driver_features |= BIT(40);
}
static void edit_legacy(struct virtio_state *st)
{
	st->driver_features &= ~BIT(VIRTIO_F_VERSION_1);
}
static void edit_ring_out(struct virtio_state *st)
{
	st->vq[0].used = RAM_BASE + RAM_SIZE - 8;
}
static void edit_ring_wrap(struct virtio_state *st)
{
	st->vq[0].desc = ~0ull - 64;
}
static void edit_num(struct virtio_state *st)
{
	st->vq[0].num = 12;
}
static void edit_num_big(struct virtio_state *st)
{
	st->vq[0].num = VIRTQ_MAX_SIZE * 2;
}
static void edit_ready(struct virtio_state *st)
{
	st->vq[0].ready = 2;
}
static void edit_extra_queue(struct virtio_state *st)
{
	st->vq[2].num = 16;
}
static void edit_dev_size(struct virtio_state *st)
{
	st->dev_size = 8;
}
static void edit_pad(struct virtio_state *st)
{
	st->vq[0].pad = 1;
}

static unsigned long long rnd_state = 0x2545f4914f6cdd1dull;

static u64 rnd(void)
{
	return unit_rand(&rnd_state);
}

/*
 * Random mutations of each device's blob: refused with the device reset, or
 * accepted as a state that saves and restores again unchanged.
 */
static void mutate_rounds(u32 slot, u32 rounds)
{
	struct vdev *d = dev_at(slot);
	u32 len = (u32)blob_len[slot], r, k, accepted = 0;
	int ret;

	for (r = 0; r < rounds; r++) {
		memcpy(work, blob[slot], len);
		for (k = 1 + rnd() % 4; k; k--) {
			/* Mostly the transport's header, where the checks are. */
			u32 at = (rnd() & 1) ? (u32)(rnd() % sizeof(struct virtio_state))
					     : (u32)(rnd() % len);

			work[at] = (rnd() & 1) ? (u8)rnd() : (u8)(work[at] ^ (1u << (rnd() % 8)));
		}
		ret = vdev_restore(d, work, len);
		if (ret) {
			CHECK_EQ(ret, -KEEL_EINVAL);
			CHECK_EQ(rd(d, R_STATUS), 0);
			continue;
		}
		accepted++;
		CHECK_EQ(vdev_save(d, again, BLOB_MAX), (int)len);
		CHECK_EQ(vdev_restore(d, again, len), 0);
	}
	CHECK(accepted > 0);
}

static void test_hostile(void)
{
	static void (*const edits[])(struct virtio_state *) = {
		edit_magic,    edit_device, edit_status,      edit_status_bit, edit_isr,
		edit_features, edit_legacy, edit_ring_out,    edit_ring_wrap,  edit_num,
		edit_num_big,  edit_ready,  edit_extra_queue, edit_dev_size,   edit_pad,
	};
	u32 i;

	setup_all();
	blk_bring_up();
	drv_bring_up(CON, 2, 0);
	CHECK(blk_read(1));
	virtio_console_input(&part, "xyz", 3);
	save_all();
	for (i = 0; i < NDEV; i++) {
		expect_refused(i, blob[i], (u32)blob_len[i] - 1);
		expect_refused(i, blob[i], (u32)blob_len[i] + 1);
		expect_refused(i, blob[i], 0);
	}
	for (i = 0; i < ARRAY_SIZE(edits); i++)
		refused_if(edits[i]);
	CHECK_EQ(vdev_restore(dev_at(BLK), blob[BLK], (u32)blob_len[BLK]), 0);
	CHECK(blk_read(2)); /* the good blob still works after all that */
	for (i = 0; i < NDEV; i++)
		mutate_rounds(i, 5000);
	tv_teardown();
}

int main(void)
{
	test_round_trip();
	test_hostile();
	tv_free_all();
	return unit_done("test_virtio_state");
}
