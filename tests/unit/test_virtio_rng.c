/* SPDX-License-Identifier: MIT */
/* Unit tests of virtio-rng (virtio/rng.c): the ChaCha20 block, filled buffers, bounds. */
#include "test_virtio.h"

/* RFC 8439 §2.3.2 test vector. */
static void test_chacha20(void)
{
	static const u8 expect[16] = {0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15,
				      0x50, 0x0f, 0xdd, 0x1f, 0xa3, 0x20, 0x71, 0xc4};
	u32 key[8], iv[4] = {1, 0x09000000, 0x4a000000, 0};
	u8 out[64];
	u32 i;

	for (i = 0; i < 8; i++)
		key[i] = (4 * i) | (4 * i + 1) << 8 | (4 * i + 2) << 16 | (u32)(4 * i + 3) << 24;
	vrng_chacha20_block(key, iv, out);
	CHECK(memcmp(out, expect, sizeof(expect)) == 0);
	CHECK_EQ(out[63], 0x4e);
}

static bool all_zero(const u8 *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

static void test_device(void)
{
	struct vdev *r;

	tv_setup();
	CHECK_EQ(virtio_create_devices(&part), 0);
	r = drv_bring_up(1, 1, 0);
	put_desc(Q_DESC, 0, BUF, 100, F_WRITE, 0);
	avail_add(Q_AVAIL, 16, 0);
	wr(r, R_QUEUE_NOTIFY, 0);
	CHECK_EQ(get16(Q_USED + 2), 1);
	CHECK_EQ(get32(Q_USED + 8), 100);
	CHECK(!all_zero(hva(BUF), 100));
	CHECK(all_zero(hva(BUF + 100), 64));
	/* A second request differs. */
	put_desc(Q_DESC, 1, BUF + 0x1000, 100, F_WRITE, 0);
	avail_add(Q_AVAIL, 16, 1);
	wr(r, R_QUEUE_NOTIFY, 0);
	CHECK(memcmp(hva(BUF), hva(BUF + 0x1000), 100) != 0);
	/* Huge buffers get at most 4 KiB; readable buffers get nothing. */
	put_desc(Q_DESC, 2, RAM_BASE + 0x200000, 1u << 20, F_WRITE, 0);
	avail_add(Q_AVAIL, 16, 2);
	put_desc(Q_DESC, 3, BUF + 0x2000, 64, 0, 0);
	avail_add(Q_AVAIL, 16, 3);
	wr(r, R_QUEUE_NOTIFY, 0);
	CHECK_EQ(get32(Q_USED + 4 + 16 + 4), 4096);
	CHECK(all_zero(hva(RAM_BASE + 0x200000 + 4096), 4096));
	CHECK_EQ(get32(Q_USED + 4 + 24 + 4), 0);
	CHECK(all_zero(hva(BUF + 0x2000), 64));
	CHECK(!needs_reset(r));
	tv_teardown();
}

int main(void)
{
	test_chacha20();
	test_device();
	tv_free_all();
	return unit_done("test_virtio_rng");
}
