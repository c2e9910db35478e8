/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of virtio-blk (virtio/blk.c) over a memory image: reads, writes,
 * flush, GET_ID, read-only disks, requests past the end or overflowing, and
 * requests too malformed to answer.
 */
#include "test_virtio.h"

#define BLK 2u
#define SECTORS 64u
#define IMG_SIZE (SECTORS * 512 + 100) /* a partial last sector is not exposed */

#define T_IN 0u
#define T_OUT 1u
#define T_FLUSH 4u
#define T_GET_ID 8u

#define HDR (BUF)
#define DATA (BUF + 0x1000)
#define STATUS (BUF + 0x800)

static u8 *img, *img_copy;
static struct keel_boot_module disk;
static struct vdev *b;
static u16 used_seen;

static void blk_setup(bool ro)
{
	u32 i;

	tv_setup();
	for (i = 0; i < IMG_SIZE; i++)
		img[i] = (u8)(i * 7 + i / 512);
	memcpy(img_copy, img, IMG_SIZE);
	disk.base = (hpa_t)(uintptr_t)img;
	disk.size = IMG_SIZE;
	tv_devices_with_disk(&disk, ro ? KEEL_DISK_RO : 0);
	CHECK_EQ(virtio_create_devices(&part), 0);
	CHECK_EQ(part.vdev_count, 4); /* console, rng, blk, control */
	b = drv_bring_up(BLK, 1, BIT(2) | BIT(9)); /* SEG_MAX, FLUSH */
	used_seen = 0;
}

static void put_hdr(u32 type, u64 sector)
{
	u32 zero = 0;

	memcpy(hva(HDR), &type, 4);
	memcpy(hva(HDR + 4), &zero, 4);
	memcpy(hva(HDR + 8), &sector, 8);
}

/* Submit header + data (@len bytes, device-writable if @in) + status; returns the status byte. */
static int request(u32 type, u64 sector, u32 len, bool in)
{
	u32 used_len;

	put_hdr(type, sector);
	*hva(STATUS) = 0xee;
	put_desc(Q_DESC, 0, HDR, 16, F_NEXT, 1);
	if (len) {
		put_desc(Q_DESC, 1, DATA, len, F_NEXT | (in ? F_WRITE : 0), 2);
		put_desc(Q_DESC, 2, STATUS, 1, F_WRITE, 0);
	} else {
		put_desc(Q_DESC, 1, STATUS, 1, F_WRITE, 0);
	}
	avail_add(Q_AVAIL, 16, 0);
	wr(b, R_QUEUE_NOTIFY, 0);
	if (get16(Q_USED + 2) != (u16)(used_seen + 1))
		return -1;
	used_len = get32(Q_USED + 4 + 8 * (used_seen % 16) + 4);
	used_seen++;
	if (type == T_IN && *hva(STATUS) == 0)
		CHECK_EQ(used_len, len + 1);
	return *hva(STATUS);
}

static void test_config(void)
{
	u64 cap;

	blk_setup(false);
	cap = rdn(b, R_CONFIG, 8);
	CHECK_EQ(cap, SECTORS);
	CHECK_EQ(rdn(b, R_CONFIG, 4), SECTORS);
	CHECK_EQ(rdn(b, R_CONFIG + 4, 4), 0);
	CHECK_EQ(rdn(b, R_CONFIG + 12, 4), VIRTQ_MAX_SIZE - 2);
	CHECK_EQ(dev_features(b) & BIT(5), 0); /* not RO */
	tv_teardown();
	blk_setup(true);
	CHECK(dev_features(b) & BIT(5));
	tv_teardown();
}

static void test_read_write(void)
{
	blk_setup(false);
	CHECK_EQ(request(T_IN, 3, 1024, true), 0);
	CHECK(memcmp(hva(DATA), img + 3 * 512, 1024) == 0);
	memset(hva(DATA), 0xab, 512);
	CHECK_EQ(request(T_OUT, SECTORS - 1, 512, false), 0);
	CHECK_EQ(img[(SECTORS - 1) * 512], 0xab);
	CHECK_EQ(img[SECTORS * 512], img_copy[SECTORS * 512]); /* past capacity untouched */
	memset(hva(DATA), 0, 512);
	CHECK_EQ(request(T_IN, SECTORS - 1, 512, true), 0);
	CHECK_EQ(*hva(DATA + 511), 0xab);
	CHECK_EQ(request(T_FLUSH, 0, 0, false), 0);
	CHECK_EQ(request(T_GET_ID, 0, 20, true), 0);
	CHECK(memcmp(hva(DATA), "keel-vm", 8) == 0);
	CHECK_EQ(request(77, 0, 0, false), 2); /* UNSUPP */
	CHECK(!needs_reset(b));
	tv_teardown();
}

extern char unit_log[];
extern size_t unit_log_len;

/*
 * The report a forced stop prints (virtio_report): for the disk, what the
 * driver posted, the device took and used, and its interrupt as the
 * controller has it; a device whose driver never set its queue up has none.
 */
static void test_report(void)
{
	char want[200];

	blk_setup(false);
	CHECK_EQ(request(T_IN, 3, 1024, true), 0);
	CHECK_EQ(request(T_FLUSH, 0, 0, false), 0);
	unit_log_len = 0;
	unit_log[0] = 0;
	virtio_report(&part, "did not power off in time");
	snprintf(want, sizeof(want),
		 "partition 'vm' did not power off in time: virtio-blk at 0x%llx: status 0xf, "
		 "isr 0x1, line %u high; q0 posted 2 taken 2 used 2",
		 (unsigned long long)(KEEL_VIRTIO_MMIO_BASE + BLK * KEEL_VIRTIO_MMIO_STRIDE),
		 KEEL_VIRTIO_IRQ_BASE + BLK);
	CHECK_LOGGED(unit_log, want, "partition 'vm'");
	snprintf(want, sizeof(want),
		 "partition 'vm' did not power off in time: virtio-console at 0x%llx: status 0x0, "
		 "isr 0x0, line %u low",
		 (unsigned long long)KEEL_VIRTIO_MMIO_BASE, KEEL_VIRTIO_IRQ_BASE);
	CHECK_LOGGED(unit_log, want, "partition 'vm'"); /* never set up: no queues */
	tv_teardown();
}

static void test_bad_requests(void)
{
	blk_setup(false);
	memset(hva(DATA), 0x55, 0x2000);
	snapshot();
	/* Past the end, straddling it, overflowing sector arithmetic, odd lengths. */
	CHECK_EQ(request(T_IN, SECTORS, 512, true), 1);
	CHECK_EQ(request(T_IN, SECTORS - 1, 1024, true), 1);
	CHECK_EQ(request(T_IN, ~0ull, 512, true), 1);
	CHECK_EQ(request(T_IN, ~0ull / 512 + 1, 512, true), 1);
	CHECK_EQ(request(T_IN, 0, 100, true), 1);
	CHECK(memcmp(hva(DATA), snap + (DATA - RAM_BASE), 0x2000) == 0);
	CHECK_EQ(request(T_OUT, SECTORS, 512, false), 1);
	CHECK_EQ(request(T_OUT, ~0ull, 512, false), 1);
	CHECK_EQ(request(T_OUT, 1ull << 55, 512, false), 1);
	CHECK_EQ(request(T_OUT, 0, 511, false), 1);
	CHECK(memcmp(img, img_copy, IMG_SIZE) == 0);
	CHECK(!needs_reset(b));
	tv_teardown();
}

static void test_read_only(void)
{
	blk_setup(true);
	memset(hva(DATA), 0x11, 512);
	CHECK_EQ(request(T_OUT, 0, 512, false), 1);
	CHECK(memcmp(img, img_copy, IMG_SIZE) == 0);
	CHECK_EQ(request(T_IN, 0, 512, true), 0);
	CHECK_EQ(request(T_FLUSH, 0, 0, false), 0);
	tv_teardown();
}

static void test_malformed(void)
{
	/* No status byte: nothing can be answered. */
	blk_setup(false);
	put_hdr(T_IN, 0);
	put_desc(Q_DESC, 0, HDR, 16, F_NEXT, 1);
	put_desc(Q_DESC, 1, DATA, 512, 0, 0);
	avail_add(Q_AVAIL, 16, 0);
	snapshot();
	wr(b, R_QUEUE_NOTIFY, 0);
	CHECK(needs_reset(b));
	CHECK(ram_unchanged());
	tv_teardown();
	/* Short header. */
	blk_setup(false);
	put_hdr(T_OUT, 0);
	put_desc(Q_DESC, 0, HDR, 8, F_NEXT, 1);
	put_desc(Q_DESC, 1, STATUS, 1, F_WRITE, 0);
	avail_add(Q_AVAIL, 16, 0);
	snapshot();
	wr(b, R_QUEUE_NOTIFY, 0);
	CHECK(needs_reset(b));
	CHECK(ram_unchanged());
	CHECK(memcmp(img, img_copy, IMG_SIZE) == 0);
	tv_teardown();
	/* Data outside RAM. */
	blk_setup(false);
	put_hdr(T_IN, 0);
	put_desc(Q_DESC, 0, HDR, 16, F_NEXT, 1);
	put_desc(Q_DESC, 1, RAM_BASE + RAM_SIZE - 256, 512, F_WRITE | F_NEXT, 2);
	put_desc(Q_DESC, 2, STATUS, 1, F_WRITE, 0);
	avail_add(Q_AVAIL, 16, 0);
	snapshot();
	wr(b, R_QUEUE_NOTIFY, 0);
	CHECK(needs_reset(b));
	CHECK(ram_unchanged());
	tv_teardown();
}

int main(void)
{
	img = malloc(IMG_SIZE);
	img_copy = malloc(IMG_SIZE);
	test_config();
	test_read_write();
	test_report();
	test_bad_requests();
	test_read_only();
	test_malformed();
	free(img);
	free(img_copy);
	tv_free_all();
	return unit_done("test_virtio_blk");
}
