/* SPDX-License-Identifier: MIT */
/*
 * keel_main: the boot CPU's path from the loader's hand-off to the per-CPU
 * loop: console, memory, platform, own page tables, virtualization on every
 * CPU, then the partitions of keel.cfg.
 */
#include <keel/arch.h>
#include <keel/boot_info.h>
#include <keel/console.h>
#include <keel/iommu.h>
#include <keel/irqwatch.h>
#include <keel/netsw.h>
#include <keel/partition.h>
#include <keel/pci.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/timeline.h>
#include <keel/version.h>

extern char __boot_stack_top[];

void __noreturn keel_main(struct keel_boot_info *bi);

static bool boot_info_ok(const struct keel_boot_info *bi)
{
	return bi && bi->magic == KEEL_BOOT_INFO_MAGIC && bi->version == KEEL_BOOT_INFO_VERSION &&
	       bi->size == sizeof(*bi) && bi->mem_count <= KEEL_BOOT_MAX_MEM &&
	       bi->module_count <= KEEL_BOOT_MAX_MODULES && bi->part_count <= KEEL_MAX_PARTITIONS;
}

static void __noreturn boot_fail(const char *what, int err)
{
	pr_err("%s (error %d); Keel cannot continue", what, err);
	arch_cpu_halt();
}

static void boot_cpu_init(void)
{
	struct pcpu *bsp = &pcpus[0];
	int ret;

	bsp->id = 0;
	bsp->hwid = platform.cpu_hwid[0];
	bsp->stack_top = (u64)(uintptr_t)__boot_stack_top;
	ret = arch_cpu_init(bsp);
	if (ret)
		boot_fail("the boot CPU could not enter virtualization mode", ret);
	bsp->state = PCPU_ONLINE;
	pcpus_ready = true;
}

/*
 * Keel's own footprint, once every CPU is up and before any partition takes
 * memory: `make bench` sets it beside Xen's.
 */
static void log_footprint(const struct keel_boot_info *bi)
{
	struct pmm_footprint fp;

	pmm_footprint(bi, &fp);
	pr_info("memory: Keel holds %llu KiB of %llu MiB (core image %llu KiB, loader data %llu "
		"KiB, tables and state %llu KiB); boot images %llu KiB; %llu MiB free",
		(unsigned long long)((fp.core + fp.loader + fp.allocated) >> 10),
		(unsigned long long)(fp.ram >> 20), (unsigned long long)(fp.core >> 10),
		(unsigned long long)(fp.loader >> 10), (unsigned long long)(fp.allocated >> 10),
		(unsigned long long)(fp.images >> 10), (unsigned long long)(fp.free >> 20));
}

void keel_main(struct keel_boot_info *bi)
{
	int ret;

	arch_early_init(bi);
	if (!boot_info_ok(bi))
		boot_fail("the loader's boot information is missing or of another version",
			  -KEEL_EINVAL);
	console_set_level(bi->log_level);
	timeline_boot(bi);
	pr_info("Keel %s (%s) starting", KEEL_VERSION, KEEL_ARCH_NAME);

	ret = pmm_init(bi);
	if (ret)
		boot_fail("the firmware memory map does not fit the allocator", ret);
	ret = arch_platform_discover(bi, &platform);
	if (ret || platform.cpu_count == 0)
		boot_fail("platform discovery failed", ret);
	ret = arch_mmu_init(bi, &platform);
	if (ret)
		boot_fail("could not build the hypervisor page tables", ret);
	pci_init(bi); /* bus mastering off on every PCI function before anything runs */
	iommu_init(); /* then every IOMMU on, blocking every device */
	ret = arch_virt_probe();
	if (ret)
		boot_fail("this CPU cannot run partitions (see above)", ret);
	pr_info("%u CPUs, %llu MiB free memory", platform.cpu_count,
		(unsigned long long)(pmm_free_bytes() >> 20));

	boot_cpu_init();
	pcpu_start_all();
	netsw_boot(bi);
	log_footprint(bi);
	part_boot_all(bi);
	console_input_start();
	irqwatch_start();
	timeline_start();
	pcpu_loop();
}
