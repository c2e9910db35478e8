/* SPDX-License-Identifier: MIT */
/*
 * The partition the platform-model fuzz targets (fuzz_x86_plat, fuzz_vgic)
 * drive, and the core services those models call that have nothing to do on
 * the host.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/pmm.h>
#include <keel/vdev.h>
#include <keel/vfio.h>

#include "plat_env.h"

u64 pool_free;

struct pcpu *fuzz_this_pcpu;
struct partition plat_part;
struct vcpu plat_vcpus[PLAT_VCPUS];
static struct pcpu cpus[PLAT_VCPUS];
static u8 *pool;

void printk(u32 level, const char *fmt, ...)
{
}

void panic(const char *fmt, ...)
{
	abort();
}

void pcpu_kick(struct pcpu *cpu)
{
}

void plat_setup(void)
{
	if (!pool)
		pool = aligned_alloc(PAGE_SIZE, PLAT_POOL_SIZE);
	memset(&plat_part, 0, sizeof(plat_part));
	memset(plat_vcpus, 0, sizeof(plat_vcpus));
	pmm_reset();
	pmm_add((hpa_t)(uintptr_t)pool, PLAT_POOL_SIZE);
	pmm_start();
	pool_free = pmm_free_bytes(); /* the pool less the allocator's own page */
	plat_part.id = 1;
	plat_part.state = PART_RUNNING;
	plat_part.vcpu_count = PLAT_VCPUS;
	for (u32 i = 0; i < PLAT_VCPUS; i++) {
		cpus[i].id = i;
		plat_vcpus[i].index = i;
		plat_vcpus[i].part = &plat_part;
		plat_vcpus[i].pcpu = &cpus[i];
		plat_vcpus[i].state = VCPU_RUNNABLE;
		plat_part.vcpus[i] = &plat_vcpus[i];
	}
	fuzz_this_pcpu = &cpus[0];
}

void plat_vdev_access(struct vcpu *v, u32 index, u64 off, u8 op, u64 val)
{
	static const u32 sizes[4] = { 1, 2, 4, 8 };
	struct vdev *d;
	u64 out = 0;

	if (!plat_part.vdev_count)
		return;
	d = plat_part.vdevs[index % plat_part.vdev_count];
	if (off >= d->size)
		return;
	if (op & 0x40)
		d->ops->read(d, v, off, sizes[(op >> 4) & 3], &out);
	else
		d->ops->write(d, v, off, sizes[(op >> 4) & 3], val);
}

/* No PCI function is given to the fuzzed partition: its bus has only the host bridge. */
bool vfio_cfg_read(struct partition *part, u16 vbdf, u16 off, u32 size, u32 *val)
{
	(void)part;
	(void)vbdf;
	(void)off;
	(void)size;
	(void)val;
	return false;
}

bool vfio_cfg_write(struct partition *part, u16 vbdf, u16 off, u32 size, u32 val)
{
	(void)part;
	(void)vbdf;
	(void)off;
	(void)size;
	(void)val;
	return false;
}

/* An EOI of a PCI function's INTx pin: the line must be one of those pins. */
void vfio_intx_eoi(struct partition *part, u32 virq)
{
	(void)part;
	if (virq < KEEL_PCI_INTX_IRQ_BASE || virq >= KEEL_PCI_INTX_IRQ_BASE + KEEL_PD_MAX_PCI)
		abort();
}
