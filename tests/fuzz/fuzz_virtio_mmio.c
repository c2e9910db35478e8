/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the virtio-mmio register file (virtio/mmio.c) and the
 * devices behind it: the input is a sequence of register reads and writes of
 * any size at any offset of any device, with guest RAM filled from it too.
 * Nothing crashes, nothing outside RAM is touched, and every byte Keel took
 * for the devices comes back when they go.
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

#define RAM_BASE 0x40000000ull
#define RAM_SIZE (1ull << 20)
#define POOL_SIZE (1ull << 20)

static struct partition part;
static u8 *ram, *pool, *img;
static struct keel_boot_module disk;

void arch_irq_set_level(struct partition *p, u32 irq, bool level)
{
}

void arch_entropy(void *buf, size_t len)
{
	memset(buf, 0x42, len);
}

void console_part_write(struct partition *p, const char *buf, size_t len)
{
}

void printk(u32 level, const char *fmt, ...)
{
}

void panic(const char *fmt, ...)
{
	abort();
}

static void setup(void)
{
	if (!ram) {
		ram = aligned_alloc(PAGE_SIZE, RAM_SIZE);
		pool = aligned_alloc(PAGE_SIZE, POOL_SIZE);
		img = malloc(64 * 512);
	}
	memset(&part, 0, sizeof(part));
	memset(ram, 0, RAM_SIZE);
	part.id = 1;
	part.mem_count = 1;
	part.mem[0] = (struct mem_region){ RAM_BASE, (hpa_t)(uintptr_t)ram, RAM_SIZE };
	disk.base = (hpa_t)(uintptr_t)img;
	disk.size = 64 * 512;
	part.disk = &disk;
	pmm_reset();
	pmm_add((hpa_t)(uintptr_t)pool, POOL_SIZE);
}

/*
 * Input: 4 KiB copied over RAM at 0 (where a guest would put rings), then
 * 8-byte records: device, size code, offset (2 bytes), value (4 bytes).
 * Queue addresses written are steered into RAM half of the time.
 */
int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	static const u32 sizes[4] = { 1, 2, 4, 8 };
	size_t at;

	setup();
	if (virtio_create_devices(&part))
		abort();
	memcpy(ram, data, size < 4096 ? size : 4096);
	for (at = 4096; at + 8 <= size; at += 8) {
		const u8 *r = data + at;
		u32 slot = r[0] % 3, sz = sizes[r[1] & 3], off = (u32)(r[2] | r[3] << 8) & 0x1ff;
		u32 val = (u32)r[4] | (u32)r[5] << 8 | (u32)r[6] << 16 | (u32)r[7] << 24;
		struct vdev *d = vdev_find(&part, VDEV_MMIO,
					   KEEL_VIRTIO_MMIO_BASE + slot * KEEL_VIRTIO_MMIO_STRIDE, 4);
		u64 v = 0;

		if (!d)
			continue;
		if ((r[1] & 0x80) && (off == 0x080 || off == 0x090 || off == 0x0a0))
			val = (u32)RAM_BASE + (val & (RAM_SIZE - 1));
		if (r[1] & 0x40)
			d->ops->read(d, NULL, off, sz, &v);
		else
			d->ops->write(d, NULL, off, sz, val);
	}
	vdev_destroy_all(&part);
	if (pmm_free_bytes() != POOL_SIZE)
		abort();
	return 0;
}
