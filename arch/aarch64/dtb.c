/* SPDX-License-Identifier: MIT */
/*
 * The device tree a Linux guest boots with, written with libfdt's
 * sequential-write API from a plain description (no partition, no hardware:
 * it builds and is tested on the host).
 */
#include <libfdt.h>
/* picolibc's sys/cdefs.h (via libfdt.h) defines these too; keep Keel's. */
#undef __packed
#undef __aligned
#undef __unused

#include <keel/abi.h>
#include <keel/lib.h>

#include "vplat.h"

#define PHANDLE_GIC 1u
#define PHANDLE_CLK 2u
#define PHANDLE_GPIO 3u

/* Interrupt specifier cells of the arm,gic-v3 binding. */
#define GIC_FDT_SPI 0u
#define GIC_FDT_PPI 1u
#define IRQ_TYPE_EDGE_RISING 1u
#define IRQ_TYPE_LEVEL_HIGH 4u

static int dtb_prop_u64(void *fdt, const char *name, u64 v)
{
	fdt64_t be = cpu_to_fdt64(v);

	return fdt_property(fdt, name, &be, sizeof(be));
}

/* reg = <base size> with #address-cells = #size-cells = 2. */
static int dtb_prop_reg2(void *fdt, u64 base, u64 size)
{
	fdt64_t reg[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };

	return fdt_property(fdt, "reg", reg, sizeof(reg));
}

static int dtb_prop_irq_flags(void *fdt, u32 type, u32 num, u32 flags)
{
	fdt32_t irq[3] = { cpu_to_fdt32(type), cpu_to_fdt32(num), cpu_to_fdt32(flags) };

	return fdt_property(fdt, "interrupts", irq, sizeof(irq));
}

static int dtb_prop_irq(void *fdt, u32 type, u32 num)
{
	return dtb_prop_irq_flags(fdt, type, num, IRQ_TYPE_LEVEL_HIGH);
}

static int dtb_begin_node_at(void *fdt, const char *name, u64 addr)
{
	char buf[48];

	snprintf(buf, sizeof(buf), "%s@%llx", name, (unsigned long long)addr);
	return fdt_begin_node(fdt, buf);
}

static int dtb_root_props(void *fdt)
{
	int ret = 0;

	ret |= fdt_property_string(fdt, "compatible", "keel,microvm");
	ret |= fdt_property_string(fdt, "model", "Keel microVM");
	ret |= fdt_property_u32(fdt, "#address-cells", 2);
	ret |= fdt_property_u32(fdt, "#size-cells", 2);
	ret |= fdt_property_u32(fdt, "interrupt-parent", PHANDLE_GIC);
	return ret;
}

static int dtb_chosen(void *fdt, const struct dtb_desc *d)
{
	char stdout_path[32];
	int ret = 0;

	snprintf(stdout_path, sizeof(stdout_path), "/pl011@%llx",
		 (unsigned long long)VPLAT_PL011_BASE);
	ret |= fdt_begin_node(fdt, "chosen");
	ret |= fdt_property_string(fdt, "bootargs", d->bootargs ? d->bootargs : "");
	ret |= fdt_property_string(fdt, "stdout-path", stdout_path);
	if (d->initrd_end > d->initrd_start) {
		ret |= dtb_prop_u64(fdt, "linux,initrd-start", d->initrd_start);
		ret |= dtb_prop_u64(fdt, "linux,initrd-end", d->initrd_end);
	}
	/* Early entropy for the guest's RNG and for KASLR. */
	ret |= fdt_property(fdt, "rng-seed", d->rng_seed, sizeof(d->rng_seed));
	ret |= fdt_property(fdt, "kaslr-seed", d->rng_seed, sizeof(u64));
	if (d->pci_ecam_size)
		ret |= fdt_property_u32(fdt, "linux,pci-probe-only", 1);
	ret |= fdt_end_node(fdt);
	return ret;
}

static int dtb_memory(void *fdt, const struct dtb_desc *d)
{
	int ret = 0;

	ret |= dtb_begin_node_at(fdt, "memory", d->mem_base);
	ret |= fdt_property_string(fdt, "device_type", "memory");
	ret |= dtb_prop_reg2(fdt, d->mem_base, d->mem_size);
	ret |= fdt_end_node(fdt);
	return ret;
}

static int dtb_cpus(void *fdt, const struct dtb_desc *d)
{
	int ret = 0;

	ret |= fdt_begin_node(fdt, "cpus");
	ret |= fdt_property_u32(fdt, "#address-cells", 2);
	ret |= fdt_property_u32(fdt, "#size-cells", 0);
	for (u32 i = 0; i < d->cpu_count; i++) {
		/* reg is the MPIDR affinity (Aff3 in the upper cell). */
		u64 aff = d->cpu_mpidr[i] & 0xff00ffffffull;

		ret |= dtb_begin_node_at(fdt, "cpu", aff);
		ret |= fdt_property_string(fdt, "device_type", "cpu");
		ret |= fdt_property_string(fdt, "compatible", "arm,armv8");
		ret |= dtb_prop_u64(fdt, "reg", aff);
		ret |= fdt_property_string(fdt, "enable-method", "psci");
		ret |= fdt_end_node(fdt);
	}
	ret |= fdt_end_node(fdt);
	return ret;
}

static int dtb_psci(void *fdt)
{
	static const char compat[] = "arm,psci-1.0\0arm,psci-0.2";
	int ret = 0;

	ret |= fdt_begin_node(fdt, "psci");
	ret |= fdt_property(fdt, "compatible", compat, sizeof(compat));
	ret |= fdt_property_string(fdt, "method", "hvc");
	ret |= fdt_end_node(fdt);
	return ret;
}

static int dtb_gic(void *fdt, const struct dtb_desc *d)
{
	fdt64_t reg[4] = {
		cpu_to_fdt64(VPLAT_GICD_BASE),
		cpu_to_fdt64(VPLAT_GICD_SIZE),
		cpu_to_fdt64(VPLAT_GICR_BASE),
		cpu_to_fdt64(VPLAT_GICR_STRIDE * d->cpu_count),
	};
	int ret = 0;

	ret |= dtb_begin_node_at(fdt, "intc", VPLAT_GICD_BASE);
	ret |= fdt_property_string(fdt, "compatible", "arm,gic-v3");
	ret |= fdt_property_u32(fdt, "#interrupt-cells", 3);
	/* No unit address in an interrupt-map entry naming it (PCI INTx). */
	ret |= fdt_property_u32(fdt, "#address-cells", 0);
	ret |= fdt_property(fdt, "interrupt-controller", NULL, 0);
	ret |= fdt_property(fdt, "reg", reg, sizeof(reg));
	ret |= fdt_property_u32(fdt, "#redistributor-regions", 1);
	if (d->pci_mbi) {
		/* GICv3 MBI: messages are GICD_SETSPI_NSR writes of these INTIDs. */
		fdt32_t mbi[2] = { cpu_to_fdt32(GIC_SPI_BASE + VGIC_MBI_FIRST_SPI),
				   cpu_to_fdt32(VGIC_MBI_SPIS) };

		ret |= fdt_property(fdt, "msi-controller", NULL, 0);
		ret |= fdt_property(fdt, "mbi-ranges", mbi, sizeof(mbi));
	}
	ret |= fdt_property_u32(fdt, "phandle", PHANDLE_GIC);
	ret |= fdt_end_node(fdt);
	return ret;
}

/* The PMU, where guests own it: its overflow interrupt is PPI 23, level. */
static int dtb_pmu(void *fdt)
{
	fdt32_t irq[3] = { cpu_to_fdt32(GIC_FDT_PPI), cpu_to_fdt32(GIC_PPI_PMU - 16),
			   cpu_to_fdt32(IRQ_TYPE_LEVEL_HIGH) };
	int ret = 0;

	ret |= fdt_begin_node(fdt, "pmu");
	ret |= fdt_property_string(fdt, "compatible", "arm,armv8-pmuv3");
	ret |= fdt_property(fdt, "interrupts", irq, sizeof(irq));
	ret |= fdt_end_node(fdt);
	return ret;
}

static int dtb_timer(void *fdt)
{
	static const u32 ppis[] = { GIC_PPI_SEC_TIMER, GIC_PPI_PHYS_TIMER, GIC_PPI_VTIMER,
				    GIC_PPI_HYP_TIMER };
	fdt32_t irqs[ARRAY_SIZE(ppis) * 3];
	int ret = 0;

	for (u32 i = 0; i < ARRAY_SIZE(ppis); i++) {
		irqs[i * 3] = cpu_to_fdt32(GIC_FDT_PPI);
		irqs[i * 3 + 1] = cpu_to_fdt32(ppis[i] - 16);
		irqs[i * 3 + 2] = cpu_to_fdt32(IRQ_TYPE_LEVEL_HIGH);
	}
	ret |= fdt_begin_node(fdt, "timer");
	ret |= fdt_property_string(fdt, "compatible", "arm,armv8-timer");
	ret |= fdt_property(fdt, "interrupts", irqs, sizeof(irqs));
	ret |= fdt_property(fdt, "always-on", NULL, 0);
	ret |= fdt_end_node(fdt);
	return ret;
}

/* The PL011's clocks: the AMBA bus driver wants an apb_pclk to probe it. */
static int dtb_pl011(void *fdt)
{
	static const char names[] = "uartclk\0apb_pclk";
	static const char compat[] = "arm,pl011\0arm,primecell";
	fdt32_t clocks[2] = { cpu_to_fdt32(PHANDLE_CLK), cpu_to_fdt32(PHANDLE_CLK) };
	int ret = 0;

	ret |= fdt_begin_node(fdt, "apb-pclk");
	ret |= fdt_property_string(fdt, "compatible", "fixed-clock");
	ret |= fdt_property_u32(fdt, "#clock-cells", 0);
	ret |= fdt_property_u32(fdt, "clock-frequency", 24000000);
	ret |= fdt_property_string(fdt, "clock-output-names", "clk24mhz");
	ret |= fdt_property_u32(fdt, "phandle", PHANDLE_CLK);
	ret |= fdt_end_node(fdt);

	ret |= dtb_begin_node_at(fdt, "pl011", VPLAT_PL011_BASE);
	ret |= fdt_property(fdt, "compatible", compat, sizeof(compat));
	ret |= dtb_prop_reg2(fdt, VPLAT_PL011_BASE, VPLAT_PL011_SIZE);
	ret |= dtb_prop_irq(fdt, GIC_FDT_SPI, VPLAT_PL011_SPI);
	ret |= fdt_property(fdt, "clocks", clocks, sizeof(clocks));
	ret |= fdt_property(fdt, "clock-names", names, sizeof(names));
	ret |= fdt_end_node(fdt);
	return ret;
}

/* The PL061 GPIO controller (needs apb-pclk, from dtb_pl011, to probe). */
static int dtb_pl061(void *fdt)
{
	static const char compat[] = "arm,pl061\0arm,primecell";
	int ret = 0;

	ret |= dtb_begin_node_at(fdt, "pl061", VPLAT_PL061_BASE);
	ret |= fdt_property(fdt, "compatible", compat, sizeof(compat));
	ret |= dtb_prop_reg2(fdt, VPLAT_PL061_BASE, VPLAT_PL061_SIZE);
	ret |= dtb_prop_irq(fdt, GIC_FDT_SPI, VPLAT_PL061_SPI);
	ret |= fdt_property_u32(fdt, "clocks", PHANDLE_CLK);
	ret |= fdt_property_string(fdt, "clock-names", "apb_pclk");
	ret |= fdt_property(fdt, "gpio-controller", NULL, 0);
	ret |= fdt_property_u32(fdt, "#gpio-cells", 2);
	ret |= fdt_property_u32(fdt, "phandle", PHANDLE_GPIO);
	ret |= fdt_end_node(fdt);
	return ret;
}

/*
 * The power key on a PL061 line, as on QEMU's virt: Linux names the input
 * device after this node ("gpio-keys"); the guest's /init watches for it.
 */
static int dtb_gpio_keys(void *fdt)
{
	fdt32_t gpios[3] = { cpu_to_fdt32(PHANDLE_GPIO), cpu_to_fdt32(VPLAT_POWER_KEY_LINE),
			     cpu_to_fdt32(0) /* active high */ };
	int ret = 0;

	ret |= fdt_begin_node(fdt, "gpio-keys");
	ret |= fdt_property_string(fdt, "compatible", "gpio-keys");
	ret |= fdt_begin_node(fdt, "poweroff");
	ret |= fdt_property_string(fdt, "label", "GPIO Key Poweroff");
	ret |= fdt_property_u32(fdt, "linux,code", VPLAT_KEY_POWER);
	ret |= fdt_property(fdt, "gpios", gpios, sizeof(gpios));
	ret |= fdt_end_node(fdt);
	ret |= fdt_end_node(fdt);
	return ret;
}

static int dtb_virtio(void *fdt, const struct dtb_desc *d, u32 i)
{
	int ret = 0;

	ret |= dtb_begin_node_at(fdt, "virtio_mmio", d->virtio_base[i]);
	ret |= fdt_property_string(fdt, "compatible", "virtio,mmio");
	ret |= dtb_prop_reg2(fdt, d->virtio_base[i], d->virtio_size[i]);
	ret |= dtb_prop_irq(fdt, GIC_FDT_SPI, d->virtio_spi[i]);
	ret |= fdt_property(fdt, "dma-coherent", NULL, 0);
	ret |= fdt_end_node(fdt);
	return ret;
}

/*
 * The PCI bus Keel shows the partition: a generic ECAM host bridge, bus 0,
 * with one 32-bit memory window (identity: PCI address = CPU address).
 * Keel placed every BAR, as firmware does, and the guest must keep them
 * (linux,pci-probe-only in /chosen). Each function's INTx pin goes to its
 * own SPI (interrupt-map, by device number and pin; level-high).
 */
static int dtb_pci_intx(void *fdt, const struct dtb_desc *d)
{
	fdt32_t map[DTB_MAX_PCI_INTX * 8];
	fdt32_t mask[4] = { cpu_to_fdt32(0xf800u), 0, 0, cpu_to_fdt32(7u) };
	int ret = 0;

	for (u32 i = 0; i < d->pci_intx_count; i++) {
		fdt32_t *e = &map[i * 8];

		e[0] = cpu_to_fdt32((u32)d->pci_intx_slot[i] << 11); /* phys.hi: device 15:11 */
		e[1] = 0;
		e[2] = 0;
		e[3] = cpu_to_fdt32(d->pci_intx_pin[i]);
		e[4] = cpu_to_fdt32(PHANDLE_GIC); /* the GIC's unit address: 0 cells */
		e[5] = cpu_to_fdt32(GIC_FDT_SPI);
		e[6] = cpu_to_fdt32(d->pci_intx_spi[i]);
		e[7] = cpu_to_fdt32(IRQ_TYPE_LEVEL_HIGH);
	}
	ret |= fdt_property_u32(fdt, "#interrupt-cells", 1);
	if (d->pci_intx_count) {
		ret |= fdt_property(fdt, "interrupt-map-mask", mask, sizeof(mask));
		ret |= fdt_property(fdt, "interrupt-map", map, d->pci_intx_count * 8 * 4);
	}
	return ret;
}

static int dtb_pci(void *fdt, const struct dtb_desc *d)
{
	fdt32_t ranges[7] = { cpu_to_fdt32(0x02000000u), /* 32-bit memory space */
			      cpu_to_fdt32((u32)(d->pci_mmio_base >> 32)),
			      cpu_to_fdt32((u32)d->pci_mmio_base),
			      cpu_to_fdt32((u32)(d->pci_mmio_base >> 32)),
			      cpu_to_fdt32((u32)d->pci_mmio_base),
			      cpu_to_fdt32((u32)(d->pci_mmio_size >> 32)),
			      cpu_to_fdt32((u32)d->pci_mmio_size) };
	fdt32_t bus_range[2] = { 0, 0 };
	int ret = 0;

	ret |= dtb_begin_node_at(fdt, "pcie", d->pci_ecam_base);
	ret |= fdt_property_string(fdt, "compatible", "pci-host-ecam-generic");
	ret |= fdt_property_string(fdt, "device_type", "pci");
	ret |= dtb_prop_reg2(fdt, d->pci_ecam_base, d->pci_ecam_size);
	ret |= fdt_property(fdt, "bus-range", bus_range, sizeof(bus_range));
	ret |= fdt_property_u32(fdt, "linux,pci-domain", 0);
	ret |= fdt_property_u32(fdt, "#address-cells", 3);
	ret |= fdt_property_u32(fdt, "#size-cells", 2);
	ret |= fdt_property(fdt, "ranges", ranges, sizeof(ranges));
	ret |= dtb_pci_intx(fdt, d);
	if (d->pci_mbi)
		ret |= fdt_property_u32(fdt, "msi-parent", PHANDLE_GIC);
	ret |= fdt_property(fdt, "dma-coherent", NULL, 0);
	ret |= fdt_end_node(fdt);
	return ret;
}

/* The management partition's KEEL_HC_MGMT_WATCH interrupt (edge): keel.ko binds to it. */
static int dtb_mgmt_event(void *fdt, const struct dtb_desc *d)
{
	int ret = 0;

	ret |= fdt_begin_node(fdt, "keel-mgmt-events");
	ret |= fdt_property_string(fdt, "compatible", KEEL_MGMT_EVENT_COMPAT);
	ret |= dtb_prop_irq_flags(fdt, GIC_FDT_SPI, d->mgmt_event_spi, IRQ_TYPE_EDGE_RISING);
	ret |= fdt_end_node(fdt);
	return ret;
}

/* Wired lines are SPIs below the MBI range, which only messages use. */
static bool dtb_spi_wired(u32 spi)
{
	return spi < VGIC_MBI_FIRST_SPI;
}

static bool dtb_desc_ok(const struct dtb_desc *d)
{
	if (d->cpu_count == 0 || d->cpu_count > DTB_MAX_CPUS || d->virtio_count > DTB_MAX_VIRTIO)
		return false;
	for (u32 i = 0; i < d->virtio_count; i++)
		if (!dtb_spi_wired(d->virtio_spi[i]))
			return false;
	if (d->mgmt_event && !dtb_spi_wired(d->mgmt_event_spi))
		return false;
	if (d->pci_ecam_size &&
	    (range_overflows(d->pci_ecam_base, d->pci_ecam_size) || !d->pci_mmio_size ||
	     range_overflows(d->pci_mmio_base, d->pci_mmio_size)))
		return false;
	if (d->pci_intx_count > DTB_MAX_PCI_INTX || (d->pci_mbi && !d->pci_ecam_size))
		return false;
	for (u32 i = 0; i < d->pci_intx_count; i++)
		if (d->pci_intx_slot[i] > 31 || d->pci_intx_pin[i] < 1 || d->pci_intx_pin[i] > 4 ||
		    !dtb_spi_wired(d->pci_intx_spi[i]))
			return false;
	return d->mem_size != 0 && d->initrd_end >= d->initrd_start;
}

int dtb_build(const struct dtb_desc *d, void *buf, u32 size)
{
	int ret;

	if (!dtb_desc_ok(d))
		return -KEEL_EINVAL;
	/* Each fdt_* returns 0 or a negative code: OR-ing keeps "any failed". */
	ret = fdt_create(buf, (int)size);
	ret |= fdt_finish_reservemap(buf);
	ret |= fdt_begin_node(buf, "");
	ret |= dtb_root_props(buf);
	ret |= dtb_chosen(buf, d);
	ret |= dtb_memory(buf, d);
	ret |= dtb_cpus(buf, d);
	ret |= dtb_psci(buf);
	ret |= dtb_gic(buf, d);
	ret |= dtb_timer(buf);
	if (d->pmu)
		ret |= dtb_pmu(buf);
	ret |= dtb_pl011(buf);
	ret |= dtb_pl061(buf);
	ret |= dtb_gpio_keys(buf);
	for (u32 i = 0; i < d->virtio_count; i++)
		ret |= dtb_virtio(buf, d, i);
	if (d->mgmt_event)
		ret |= dtb_mgmt_event(buf, d);
	if (d->pci_ecam_size)
		ret |= dtb_pci(buf, d);
	ret |= fdt_end_node(buf);
	ret |= fdt_finish(buf);
	if (ret)
		return -KEEL_ENOSPC;
	return (int)fdt_totalsize(buf);
}
