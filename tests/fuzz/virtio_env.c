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
#include <keel/hotmem.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/vdev.h>

#include "virtio_env.h"

u64 pool_free;

struct partition fuzz_part;
u8 *fuzz_ram;
static u8 *pool, *img;
static struct keel_boot_module disk;

/* Hot-pluggable memory (core/hotmem.c): one CPU, a stage 2 that maps nothing. */
struct pcpu pcpus[KEEL_MAX_CPUS];
struct platform platform;
struct pcpu *unit_this_pcpu;

int arch_s2_map(struct partition *p, gpa_t gpa, hpa_t hpa, u64 size, u32 attrs)
{
	return 0;
}

void arch_s2_unmap(struct partition *p, gpa_t gpa, u64 size)
{
}

u64 arch_time_ns(void)
{
	static u64 now;

	return now += 1000;
}

void arch_irq_set_level(struct partition *p, u32 irq, bool level)
{
}

void arch_irq_line_describe(struct partition *p, u32 irq, char *buf, u32 len)
{
	snprintf(buf, len, "line %u", irq);
}

void arch_entropy(void *buf, size_t len)
{
	memset(buf, 0x42, len);
}

void console_part_write(struct partition *p, const char *buf, size_t len)
{
}

void mgmt_watch_event(struct partition *p)
{
	p->events++;
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
		pool = aligned_alloc(2u << 20, FUZZ_POOL_SIZE);
		img = malloc(64 * 512);
	}
	memset(&fuzz_part, 0, sizeof(fuzz_part));
	memset(fuzz_ram, 0, FUZZ_RAM_SIZE);
	fuzz_part.id = 1;
	fuzz_part.mem_count = 1;
	fuzz_part.mem[0] =
		(struct mem_region){ FUZZ_RAM_BASE, (hpa_t)(uintptr_t)fuzz_ram, FUZZ_RAM_SIZE };
	disk.base = (hpa_t)(uintptr_t)img;
	disk.size = 64 * 512;
	fuzz_part.images[pdesc_add_image(&fuzz_part.desc, KEEL_PD_IMAGE_DATA, 0, 0)] = &disk;
	pdesc_add_default_devices(&fuzz_part.desc, 0, 0); /* console, rng, blk, control */
	fuzz_part.desc.mem[0] =
		(struct keel_pd_mem){ .type = KEEL_PD_MEM_RAM, .size = FUZZ_RAM_SIZE };
	fuzz_part.desc.h.mem_count = 1;
	pdesc_add_hotplug(&fuzz_part.desc, FUZZ_HOTMEM_SIZE); /* virtio-mem, slot 4 */
	platform.cpu_count = 1;
	unit_this_pcpu = &pcpus[0];
	pmm_reset();
	pmm_add((hpa_t)(uintptr_t)pool, FUZZ_POOL_SIZE);
	pmm_start();
	pool_free = pmm_free_bytes(); /* the pool less the allocator's own page */
	if (hotmem_init(&fuzz_part, FUZZ_HOTMEM_SIZE))
		abort();
}

void fuzz_virtio_teardown(void)
{
	vdev_destroy_all(&fuzz_part);
	hotmem_destroy(&fuzz_part);
}
