/* SPDX-License-Identifier: MIT */
/*
 * What the virtio fuzz targets share: a partition with 1 MiB of guest RAM,
 * a small disk image and a page pool, and host stand-ins for what the
 * devices call outside themselves.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/arch.h>
#include <keel/console.h>
#include <keel/partition.h>
#include <keel/pmm.h>

#include "virtio_env.h"

u64 pool_free;

struct partition fuzz_part;
u8 *fuzz_ram;
static u8 *pool, *img;
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

void fuzz_virtio_setup(void)
{
	if (!fuzz_ram) {
		fuzz_ram = aligned_alloc(PAGE_SIZE, FUZZ_RAM_SIZE);
		pool = aligned_alloc(PAGE_SIZE, FUZZ_POOL_SIZE);
		img = malloc(64 * 512);
	}
	memset(&fuzz_part, 0, sizeof(fuzz_part));
	memset(fuzz_ram, 0, FUZZ_RAM_SIZE);
	fuzz_part.id = 1;
	fuzz_part.mem_count = 1;
	fuzz_part.mem[0] = (struct mem_region){ FUZZ_RAM_BASE, (hpa_t)(uintptr_t)fuzz_ram,
					       FUZZ_RAM_SIZE };
	disk.base = (hpa_t)(uintptr_t)img;
	disk.size = 64 * 512;
	fuzz_part.images[pdesc_add_image(&fuzz_part.desc, KEEL_PD_IMAGE_DATA, 0, 0)] = &disk;
	pdesc_add_default_devices(&fuzz_part.desc, 0, 0); /* console, rng, blk, control */
	pmm_reset();
	pmm_add((hpa_t)(uintptr_t)pool, FUZZ_POOL_SIZE);
	pmm_start();
	pool_free = pmm_free_bytes(); /* the pool less the allocator's own page */
}
