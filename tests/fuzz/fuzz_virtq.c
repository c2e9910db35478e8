/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the split virtqueue and the devices behind it: the
 * input becomes the guest's rings and buffers; every device of a partition
 * is driven over them. Nothing may crash, and nothing outside RAM is touched.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/arch.h>
#include <keel/console.h>
#include <keel/guest_mem.h>
#include <keel/partition.h>
#include <keel/pmm.h>
#include <keel/vdev.h>
#include <keel/virtio.h>

#include "virtio.h"
#include "virtio_env.h"

static void wr(struct vdev *d, u64 off, u32 v)
{
	d->ops->write(d, NULL, off, 4, v);
}

/*
 * Input: 1 byte picks the device, 1 the queue, 2 the queue size, 1 the
 * features; the rest is copied over the first 64 KiB of RAM, where the
 * rings live (desc at 0, avail at 0x1000, used at 0x2000).
 */
int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct vdev *d;
	u32 slot, q, num, i;

	if (size < 5)
		return 0;
	fuzz_virtio_setup();
	if (virtio_create_devices(&fuzz_part))
		abort();
	slot = data[0] % 3;
	q = data[1] & 1;
	num = data[2] | (u32)data[3] << 8;
	d = vdev_find(&fuzz_part, VDEV_MMIO, KEEL_VIRTIO_MMIO_BASE + slot * KEEL_VIRTIO_MMIO_STRIDE,
		      4);
	memcpy(fuzz_ram, data + 5, MIN(size - 5, (size_t)0x10000));
	wr(d, 0x070, 0);
	wr(d, 0x070, 3);
	wr(d, 0x024, 1);
	wr(d, 0x020, 1); /* VERSION_1 */
	wr(d, 0x024, 0);
	wr(d, 0x020, (data[4] & 1) ? 1u << 28 : 0);
	wr(d, 0x070, 0xb);
	wr(d, 0x030, q);
	wr(d, 0x038, num);
	wr(d, 0x080, (u32)FUZZ_RAM_BASE);
	wr(d, 0x090, (u32)FUZZ_RAM_BASE + 0x1000);
	wr(d, 0x0a0, (u32)FUZZ_RAM_BASE + 0x2000);
	wr(d, 0x044, 1);
	wr(d, 0x070, 0xf);
	for (i = 0; i < 3; i++)
		wr(d, 0x050, q);
	fuzz_virtio_teardown();
	if (pmm_free_bytes() != pool_free)
		abort();
	return 0;
}
