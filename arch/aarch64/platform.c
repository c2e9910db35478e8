/* SPDX-License-Identifier: MIT */
/*
 * Platform discovery from the device tree the firmware handed over
 * (acpi=off): CPUs, PSCI conduit, GICv3 distributor and redistributors,
 * console UART; then the PCI host bridges and SMMUv3s (dt_pci.c). Every
 * property length is checked before it is read.
 */
#include <libfdt.h>
/* picolibc's sys/cdefs.h (via libfdt.h) defines these too; keep Keel's. */
#undef __packed
#undef __aligned
#undef __unused

#include <keel/arch.h>
#include <keel/console.h>
#include <keel/iommu.h>
#include <keel/lib.h>
#include <keel/pcpu.h>

#include "aarch64.h"
#include "dt_pci.h"

#define MPIDR_AFF_MASK 0xff00ffffffull

struct aa64_platform aa64_plat;

/* The DTB if @bi carries a valid one, else NULL. */
static const void *dt_get(const struct keel_boot_info *bi)
{
	const void *fdt;

	if (!bi || bi->magic != KEEL_BOOT_INFO_MAGIC || !bi->dtb)
		return NULL;
	fdt = hpa_to_hva(bi->dtb);
	if (fdt_check_header(fdt) != 0)
		return NULL;
	return fdt;
}

/* The console UART's base from /chosen stdout-path, or 0. */
hpa_t dt_find_uart(const struct keel_boot_info *bi);
hpa_t dt_find_uart(const struct keel_boot_info *bi)
{
	const void *fdt = dt_get(bi);
	const char *path, *colon;
	int len, node, plen;
	u64 base, size;

	if (!fdt)
		return 0;
	node = fdt_path_offset(fdt, "/chosen");
	if (node < 0)
		return 0;
	path = fdt_getprop(fdt, node, "stdout-path", &len);
	if (!path || len <= 1 || path[len - 1] != '\0')
		return 0;
	/* "path:options": only the path names the node. */
	colon = memchr(path, ':', (size_t)len);
	plen = colon ? (int)(colon - path) : len - 1;
	/* libfdt resolves an alias in the first component itself. */
	node = fdt_path_offset_namelen(fdt, path, plen);
	if (node < 0 || fdt_node_check_compatible(fdt, node, "arm,pl011") != 0)
		return 0;
	if (dt_reg(fdt, node, 0, &base, &size) || !base || !IS_ALIGNED(base, PAGE_SIZE))
		return 0;
	return base;
}

static int dt_find_psci(const void *fdt)
{
	static const char *const compat[] = { "arm,psci-1.0", "arm,psci-0.2", "arm,psci" };
	const char *method;
	int node = -1, len;

	for (size_t i = 0; i < ARRAY_SIZE(compat) && node < 0; i++)
		node = fdt_node_offset_by_compatible(fdt, -1, compat[i]);
	if (node < 0) {
		pr_err("dt: no PSCI node; cannot start other CPUs or power off");
		return -KEEL_ENOSYS;
	}
	method = fdt_getprop(fdt, node, "method", &len);
	if (!method || len < 4 || method[len - 1] != '\0') {
		pr_err("dt: PSCI node without a method");
		return -KEEL_EINVAL;
	}
	if (!strcmp(method, "hvc")) {
		aa64_plat.psci_hvc = true;
	} else if (!strcmp(method, "smc")) {
		aa64_plat.psci_hvc = false;
	} else {
		pr_err("dt: unknown PSCI method '%s'", method);
		return -KEEL_EINVAL;
	}
	/* At EL2 an HVC would trap to ourselves: only SMC reaches firmware. */
	if (aa64_plat.psci_hvc) {
		pr_err("dt: PSCI uses hvc, which the hypervisor itself owns at EL2");
		return -KEEL_ENOSYS;
	}
	aa64_plat.psci_found = true;
	return 0;
}

static int dt_find_gic(const void *fdt)
{
	const fdt32_t *prop;
	int node, len;
	u32 nr_redist = 1;
	u64 base, size;

	node = fdt_node_offset_by_compatible(fdt, -1, "arm,gic-v3");
	if (node < 0) {
		pr_err("dt: no GICv3 (compatible arm,gic-v3)");
		return -KEEL_ENOSYS;
	}
	prop = fdt_getprop(fdt, node, "#redistributor-regions", &len);
	if (prop && len == sizeof(*prop))
		nr_redist = fdt32_to_cpu(*prop);
	if (nr_redist < 1 || nr_redist > ARRAY_SIZE(aa64_plat.gicr_base)) {
		pr_err("dt: GICv3 with %u redistributor regions unsupported", nr_redist);
		return -KEEL_EINVAL;
	}
	if (dt_reg(fdt, node, 0, &base, &size) || !base || size < 0x10000 ||
	    range_overflows(base, size)) {
		pr_err("dt: GICv3 distributor reg malformed");
		return -KEEL_EINVAL;
	}
	aa64_plat.gicd_base = base;
	aa64_plat.gicd_size = size;
	for (u32 i = 0; i < nr_redist; i++) {
		if (dt_reg(fdt, node, (int)i + 1, &base, &size) || !base || size < 0x20000 ||
		    range_overflows(base, size) || !IS_ALIGNED(base, 0x10000)) {
			pr_err("dt: GICv3 redistributor region %u malformed", i);
			return -KEEL_EINVAL;
		}
		aa64_plat.gicr_base[i] = base;
		aa64_plat.gicr_size[i] = size;
	}
	aa64_plat.gicr_count = nr_redist;
	return 0;
}

/*
 * The first enabled GICv3 ITS (arm,gic-v3-its), whose registers Keel drives
 * for guests' MSIs (msi.c). None, or one described badly: no MSIs, and
 * guests' PCI functions use INTx.
 */
static void dt_find_its(const void *fdt)
{
	int node = -1;
	u64 base, size;

	while ((node = fdt_node_offset_by_compatible(fdt, node, "arm,gic-v3-its")) >= 0) {
		if (!dt_node_enabled(fdt, node))
			continue;
		if (dt_reg(fdt, node, 0, &base, &size) || !base || size < 0x20000 ||
		    range_overflows(base, size) || !IS_ALIGNED(base, 0x10000)) {
			pr_warn("dt: GICv3 ITS reg malformed; ignored");
			continue;
		}
		aa64_plat.its_base = base;
		aa64_plat.its_size = ALIGN_UP(size, PAGE_SIZE);
		return;
	}
}

static bool dt_is_cpu(const void *fdt, int node)
{
	const char *type;
	int len;

	type = fdt_getprop(fdt, node, "device_type", &len);
	if (!type || len < 4 || type[len - 1] != '\0' || strcmp(type, "cpu"))
		return false;
	/* status = "disabled" CPUs cannot be started. */
	type = fdt_getprop(fdt, node, "status", &len);
	if (type && len > 0 && type[len - 1] == '\0' && strcmp(type, "okay") && strcmp(type, "ok"))
		return false;
	return true;
}

static int dt_find_cpus(const void *fdt, struct platform *plat)
{
	u64 self = read_sysreg(mpidr_el1) & MPIDR_AFF_MASK;
	int cpus, node, ac, len;
	u32 n = 1, found = 0;
	bool self_seen = false;

	cpus = fdt_path_offset(fdt, "/cpus");
	if (cpus < 0) {
		pr_err("dt: no /cpus node");
		return -KEEL_EINVAL;
	}
	ac = fdt_address_cells(fdt, cpus);
	if (ac < 1 || ac > 2) {
		pr_err("dt: /cpus #address-cells %d unsupported", ac);
		return -KEEL_EINVAL;
	}
	plat->cpu_hwid[0] = self;
	fdt_for_each_subnode(node, fdt, cpus)
	{
		const fdt32_t *reg;
		u64 hwid;

		if (!dt_is_cpu(fdt, node))
			continue;
		reg = fdt_getprop(fdt, node, "reg", &len);
		if (!reg || len < ac * (int)sizeof(fdt32_t)) {
			pr_warn("dt: cpu node without reg skipped");
			continue;
		}
		hwid = dt_read_cells(reg, ac) & MPIDR_AFF_MASK;
		found++;
		if (hwid == self) {
			self_seen = true;
			continue;
		}
		if (n >= KEEL_MAX_CPUS) {
			pr_warn("dt: more than %u CPUs; cpu 0x%llx ignored", KEEL_MAX_CPUS,
				(unsigned long long)hwid);
			continue;
		}
		plat->cpu_hwid[n++] = hwid;
	}
	if (!self_seen)
		pr_warn("dt: boot CPU 0x%llx not in /cpus", (unsigned long long)self);
	plat->cpu_count = n;
	return found ? 0 : -KEEL_EINVAL;
}

int arch_platform_discover(const struct keel_boot_info *bi, struct platform *plat)
{
	const void *fdt = dt_get(bi);
	hpa_t uart;
	int ret;

	if (!fdt) {
		if (bi && bi->acpi_rsdp)
			pr_err("dt: no device tree (ACPI only); boot with acpi=off for now");
		else
			pr_err("dt: no valid device tree from the firmware");
		return -KEEL_ENOSYS;
	}
	ret = dt_find_cpus(fdt, plat);
	if (!ret)
		ret = dt_find_psci(fdt);
	if (!ret)
		ret = dt_find_gic(fdt);
	if (ret)
		return ret;
	dt_find_its(fdt);
	uart = dt_find_uart(bi);
	aa64_plat.uart_base = uart ? uart : 0x09000000ull;
	pr_info("dt: %u CPUs, GICv3 dist 0x%llx, %u redist region(s) at 0x%llx, psci %s, uart 0x%llx",
		plat->cpu_count, (unsigned long long)aa64_plat.gicd_base, aa64_plat.gicr_count,
		(unsigned long long)aa64_plat.gicr_base[0], aa64_plat.psci_hvc ? "hvc" : "smc",
		(unsigned long long)aa64_plat.uart_base);
	dt_pci_discover(bi, fdt);
	return 0;
}

/*
 * No IOMMU driver on aarch64 uses a message-signalled fault interrupt: the
 * SMMUv3's event queue interrupt is a wired SPI (arch_iommu_fault_irq, gic.c).
 */
bool arch_iommu_fault_msi(struct iommu_msi *msi)
{
	(void)msi;
	return false;
}
