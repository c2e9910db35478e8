/* SPDX-License-Identifier: MIT */
/*
 * What the kernel-loader fuzz targets share: a partition whose RAM, kernel
 * and initrd images are host buffers, and stand-ins for what the loaders
 * call outside themselves. The loader under test writes into the RAM only
 * through the checked guest-memory helpers.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/arch.h>
#include <keel/console.h>
#include <keel/partition.h>
#include <keel/pmm.h>
#include <keel/vfio.h>

#include "kernel_env.h"

u64 pool_free;

struct pcpu *fuzz_this_pcpu;
struct partition fuzz_kpart;
static u8 *ram, *kernel_buf, *initrd_buf, *pool;
static struct keel_boot_module kernel, initrd;

void printk(u32 level, const char *fmt, ...)
{
}

void panic(const char *fmt, ...)
{
	abort();
}

void arch_entropy(void *buf, size_t len)
{
	memset(buf, 0x42, len);
}

/* aarch64's loader asks whether to describe the PMU (scrub.c on the real thing). */
bool scrub_guest_has_pmu(void)
{
	return true;
}

/* aarch64's loader asks whether guests' PCI functions get MSIs (msi.c on the real thing). */
bool msi_ready(void)
{
	return true;
}

/*
 * A partition with FUZZ_KRAM bytes of RAM and two vCPUs; @k (@klen bytes) as
 * its kernel, @i (@ilen) as its initrd if @ilen.
 */
void fuzz_kernel_setup(const u8 *k, size_t klen, const u8 *i, size_t ilen)
{
	if (!ram) {
		ram = aligned_alloc(SZ_2M, FUZZ_KRAM);
		kernel_buf = malloc(FUZZ_KIMAGE_MAX);
		initrd_buf = malloc(FUZZ_KIMAGE_MAX);
		pool = aligned_alloc(PAGE_SIZE, FUZZ_KPOOL);
	}
	pmm_reset();
	pmm_add((hpa_t)(uintptr_t)pool, FUZZ_KPOOL); /* the loaders' scratch (device tree...) */
	pmm_start();
	pool_free = pmm_free_bytes(); /* the pool less the allocator's own page */
	memset(&fuzz_kpart, 0, sizeof(fuzz_kpart));
	memcpy(kernel_buf, k, klen);
	memcpy(initrd_buf, i, ilen);
	kernel = (struct keel_boot_module){ .base = (hpa_t)(uintptr_t)kernel_buf, .size = klen };
	initrd = (struct keel_boot_module){ .base = (hpa_t)(uintptr_t)initrd_buf, .size = ilen };
	strcpy(kernel.name, "fuzz-kernel");
	fuzz_kpart.id = 1;
	strcpy(fuzz_kpart.desc.h.name, "fuzz");
	strcpy(fuzz_kpart.desc.h.cmdline, "console=ttyS0 quiet");
	fuzz_kpart.desc.h.mem_count = 1;
	fuzz_kpart.desc.mem[0] = (struct keel_pd_mem){ .type = KEEL_PD_MEM_RAM, .size = FUZZ_KRAM };
	fuzz_kpart.vcpu_count = 2;
	fuzz_kpart.mem_count = 1;
	fuzz_kpart.mem[0] =
		(struct mem_region){ KEEL_GUEST_RAM_BASE, (hpa_t)(uintptr_t)ram, FUZZ_KRAM };
	fuzz_kpart.kernel = &kernel;
	fuzz_kpart.initrd = ilen ? &initrd : NULL;
}

/* The fuzzed partition has no PCI functions: no INTx routes (x86 _PRT, arm64 interrupt-map). */
u32 vfio_intx_routes(const struct partition *part, struct vfio_intx_route *out, u32 max)
{
	return 0;
}
