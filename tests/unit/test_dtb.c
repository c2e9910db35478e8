/* SPDX-License-Identifier: MIT */
/* The aarch64 Linux guest's device tree (arch/aarch64/dtb.c), read back with the host's libfdt. */
#include <libfdt.h>
#include <string.h>

#include <arch/types.h>
#include <keel/abi.h>

#include "../../arch/aarch64/vplat.h"
#include "unit.h"

static unsigned char buf[256 * 1024];

static void desc_init(struct dtb_desc *d, u32 cpus, u32 virtio)
{
	memset(d, 0, sizeof(*d));
	d->mem_base = 0x40000000;
	d->mem_size = 256ull << 20;
	d->cpu_count = cpus;
	for (u32 i = 0; i < cpus; i++)
		d->cpu_mpidr[i] = vplat_mpidr(i);
	d->virtio_count = virtio;
	for (u32 i = 0; i < virtio; i++) {
		d->virtio_base[i] = KEEL_VIRTIO_MMIO_BASE + i * KEEL_VIRTIO_MMIO_STRIDE;
		d->virtio_size[i] = KEEL_VIRTIO_MMIO_STRIDE;
		d->virtio_spi[i] = KEEL_VIRTIO_IRQ_BASE + i;
	}
	d->initrd_start = 0x4fcfc000;
	d->initrd_end = 0x4fdff9b8;
	d->bootargs = "console=ttyAMA0 earlycon panic=-1";
	memset(d->rng_seed, 0x5a, sizeof(d->rng_seed));
}

static u64 prop_u64(const void *fdt, int node, const char *name)
{
	int len;
	const void *p = fdt_getprop(fdt, node, name, &len);
	fdt64_t v;

	if (!p || len != 8)
		return ~0ull;
	memcpy(&v, p, sizeof(v)); /* properties are only 4-byte aligned */
	return fdt64_to_cpu(v);
}

static u32 prop_u32(const void *fdt, int node, const char *name, int idx)
{
	int len;
	const fdt32_t *p = fdt_getprop(fdt, node, name, &len);

	return p && len >= (idx + 1) * 4 ? fdt32_to_cpu(p[idx]) : ~0u;
}

static int count_compatible(const void *fdt, const char *compat)
{
	int n = 0, node = -1;

	while ((node = fdt_node_offset_by_compatible(fdt, node, compat)) >= 0)
		n++;
	return n;
}

static void test_basic(void)
{
	static struct dtb_desc d;
	const char *s;
	int size, node, len;

	desc_init(&d, 2, 3);
	size = dtb_build(&d, buf, sizeof(buf));
	CHECK(size > 0);
	CHECK_EQ(fdt_check_header(buf), 0);
	CHECK_EQ(fdt_totalsize(buf), size);

	node = fdt_path_offset(buf, "/chosen");
	CHECK(node >= 0);
	s = fdt_getprop(buf, node, "bootargs", &len);
	CHECK(s && strcmp(s, d.bootargs) == 0);
	CHECK_EQ(prop_u64(buf, node, "linux,initrd-start"), d.initrd_start);
	CHECK_EQ(prop_u64(buf, node, "linux,initrd-end"), d.initrd_end);
	CHECK(fdt_getprop(buf, node, "rng-seed", &len) && len == 32);
	s = fdt_getprop(buf, node, "stdout-path", &len);
	CHECK(s != NULL);
	node = s ? fdt_path_offset(buf, s) : -1;
	CHECK(node >= 0 && fdt_node_check_compatible(buf, node, "arm,pl011") == 0);
	CHECK_EQ(prop_u32(buf, node, "interrupts", 1), VPLAT_PL011_SPI);

	node = fdt_path_offset(buf, "/memory@40000000");
	CHECK(node >= 0);
	CHECK_EQ(prop_u32(buf, node, "reg", 1), 0x40000000);
	CHECK_EQ(prop_u32(buf, node, "reg", 3), 256u << 20);

	CHECK_EQ(count_compatible(buf, "arm,armv8"), 2);
	node = fdt_path_offset(buf, "/cpus/cpu@1");
	CHECK(node >= 0);
	CHECK_EQ(prop_u64(buf, node, "reg"), 1);
	s = fdt_getprop(buf, node, "enable-method", &len);
	CHECK(s && strcmp(s, "psci") == 0);

	node = fdt_node_offset_by_compatible(buf, -1, "arm,psci-1.0");
	CHECK(node >= 0);
	s = fdt_getprop(buf, node, "method", &len);
	CHECK(s && strcmp(s, "hvc") == 0);

	node = fdt_node_offset_by_compatible(buf, -1, "arm,gic-v3");
	CHECK(node >= 0);
	CHECK(fdt_getprop(buf, node, "interrupt-controller", &len) != NULL);
	CHECK_EQ(prop_u32(buf, node, "#interrupt-cells", 0), 3);
	CHECK_EQ(prop_u32(buf, node, "reg", 5), VPLAT_GICR_BASE);
	CHECK_EQ(prop_u32(buf, node, "reg", 7), 2 * VPLAT_GICR_STRIDE);
	CHECK_EQ(prop_u32(buf, node, "phandle", 0), prop_u32(buf, 0, "interrupt-parent", 0));

	node = fdt_node_offset_by_compatible(buf, -1, "arm,armv8-timer");
	CHECK(node >= 0);
	/* secure, non-secure physical, virtual, hypervisor: INTIDs 29, 30, 27, 26 */
	CHECK_EQ(prop_u32(buf, node, "interrupts", 1), 13);
	CHECK_EQ(prop_u32(buf, node, "interrupts", 4), 14);
	CHECK_EQ(prop_u32(buf, node, "interrupts", 7), 11);
	CHECK_EQ(prop_u32(buf, node, "interrupts", 10), 10);

	CHECK_EQ(count_compatible(buf, "virtio,mmio"), 3);
	node = fdt_path_offset(buf, "/virtio_mmio@a000400");
	CHECK(node >= 0);
	CHECK_EQ(prop_u32(buf, node, "reg", 1), 0x0a000400);
	CHECK_EQ(prop_u32(buf, node, "interrupts", 0), 0); /* GIC_SPI */
	CHECK_EQ(prop_u32(buf, node, "interrupts", 1), KEEL_VIRTIO_IRQ_BASE + 2);
	CHECK_EQ(prop_u32(buf, node, "interrupts", 2), 4); /* level high */
	CHECK(fdt_getprop(buf, node, "dma-coherent", &len) != NULL);
}

/* The PL061 and the gpio-keys power key on its line 3, as Linux's drivers read them. */
static void test_power_key(void)
{
	static struct dtb_desc d;
	const char *s;
	int node, key, len, pclk;
	u32 spi, virtio_lo = KEEL_VIRTIO_IRQ_BASE,
		 virtio_hi = KEEL_VIRTIO_IRQ_BASE + KEEL_VIRTIO_MAX;

	desc_init(&d, 1, 3);
	CHECK(dtb_build(&d, buf, sizeof(buf)) > 0);
	CHECK_EQ(count_compatible(buf, "arm,pl061"), 1);
	node = fdt_path_offset(buf, "/pl061@9030000");
	CHECK(node >= 0);
	CHECK(fdt_node_check_compatible(buf, node, "arm,primecell") == 0);
	CHECK_EQ(prop_u32(buf, node, "reg", 1), VPLAT_PL061_BASE);
	CHECK_EQ(prop_u32(buf, node, "reg", 3), VPLAT_PL061_SIZE);
	CHECK_EQ(prop_u32(buf, node, "interrupts", 0), 0); /* GIC_SPI */
	spi = prop_u32(buf, node, "interrupts", 1);
	CHECK_EQ(spi, VPLAT_PL061_SPI);
	CHECK_EQ(prop_u32(buf, node, "interrupts", 2), 4); /* level high */
	/* Its window and line are nobody else's. */
	CHECK(spi != VPLAT_PL011_SPI && (spi < virtio_lo || spi >= virtio_hi) &&
	      spi < VGIC_NR_SPIS);
	CHECK(VPLAT_PL061_BASE >= VPLAT_PL011_BASE + VPLAT_PL011_SIZE &&
	      VPLAT_PL061_BASE + VPLAT_PL061_SIZE <= KEEL_VIRTIO_MMIO_BASE);
	CHECK(fdt_getprop(buf, node, "gpio-controller", &len) != NULL && len == 0);
	CHECK_EQ(prop_u32(buf, node, "#gpio-cells", 0), 2);
	s = fdt_getprop(buf, node, "clock-names", &len);
	CHECK(s && strcmp(s, "apb_pclk") == 0);
	pclk = fdt_node_offset_by_phandle(buf, prop_u32(buf, node, "clocks", 0));
	CHECK(pclk >= 0 && fdt_node_check_compatible(buf, pclk, "fixed-clock") == 0);

	node = fdt_path_offset(buf, "/gpio-keys");
	CHECK(node >= 0);
	CHECK(fdt_node_check_compatible(buf, node, "gpio-keys") == 0);
	/* No label: Linux then names the input device "gpio-keys", after the node. */
	CHECK(fdt_getprop(buf, node, "label", &len) == NULL);
	key = fdt_subnode_offset(buf, node, "poweroff");
	CHECK(key >= 0);
	s = fdt_getprop(buf, key, "label", &len);
	CHECK(s && strcmp(s, "GPIO Key Poweroff") == 0);
	CHECK_EQ(prop_u32(buf, key, "linux,code", 0), 116); /* KEY_POWER */
	CHECK(fdt_getprop(buf, key, "gpios", &len) != NULL && len == 12);
	CHECK_EQ(fdt_node_offset_by_phandle(buf, prop_u32(buf, key, "gpios", 0)),
		 fdt_path_offset(buf, "/pl061@9030000"));
	CHECK_EQ(prop_u32(buf, key, "gpios", 1), VPLAT_POWER_KEY_LINE);
	CHECK_EQ(prop_u32(buf, key, "gpios", 1), 3);
	CHECK_EQ(prop_u32(buf, key, "gpios", 2), 0); /* active high */
}

static void test_no_initrd_and_limits(void)
{
	static struct dtb_desc d;
	int size, node, len;

	desc_init(&d, 64, 32);
	d.initrd_start = d.initrd_end = 0x4fe00000;
	size = dtb_build(&d, buf, sizeof(buf));
	CHECK(size > 0 && size < 64 * 1024);
	node = fdt_path_offset(buf, "/chosen");
	CHECK(fdt_getprop(buf, node, "linux,initrd-start", &len) == NULL);
	CHECK_EQ(count_compatible(buf, "arm,armv8"), 64);
	CHECK_EQ(count_compatible(buf, "virtio,mmio"), 32);
	/* vCPU 17 is Aff1 1, Aff0 1. */
	CHECK(fdt_path_offset(buf, "/cpus/cpu@101") >= 0);

	CHECK_EQ(dtb_build(&d, buf, 512), -KEEL_ENOSPC);
	d.cpu_count = 0;
	CHECK_EQ(dtb_build(&d, buf, sizeof(buf)), -KEEL_EINVAL);
	d.cpu_count = 65;
	CHECK_EQ(dtb_build(&d, buf, sizeof(buf)), -KEEL_EINVAL);
	desc_init(&d, 1, 1);
	d.virtio_spi[0] = VGIC_NR_SPIS;
	CHECK_EQ(dtb_build(&d, buf, sizeof(buf)), -KEEL_EINVAL);
	desc_init(&d, 1, 1);
	d.initrd_end = d.initrd_start - 1;
	CHECK_EQ(dtb_build(&d, buf, sizeof(buf)), -KEEL_EINVAL);
	desc_init(&d, 1, 1);
	d.virtio_count = DTB_MAX_VIRTIO + 1;
	CHECK_EQ(dtb_build(&d, buf, sizeof(buf)), -KEEL_EINVAL);
}

/* The PMU node, PPI 23 level, only where the guest owns the PMU. */
static void test_pmu(void)
{
	static struct dtb_desc d;
	int node;

	desc_init(&d, 2, 1);
	CHECK(dtb_build(&d, buf, sizeof(buf)) > 0);
	CHECK(fdt_node_offset_by_compatible(buf, -1, "arm,armv8-pmuv3") < 0);
	d.pmu = true;
	CHECK(dtb_build(&d, buf, sizeof(buf)) > 0);
	node = fdt_node_offset_by_compatible(buf, -1, "arm,armv8-pmuv3");
	CHECK(node >= 0);
	CHECK_EQ(prop_u32(buf, node, "interrupts", 0), 1); /* GIC_PPI */
	CHECK_EQ(prop_u32(buf, node, "interrupts", 1), 23 - 16);
	CHECK_EQ(prop_u32(buf, node, "interrupts", 2), 4); /* level, active high */
}

/*
 * The windows of a partition whose device 0 is a host PCI function: slot 0
 * has none, so no node; the console at slot 1 keeps its address and SPI.
 */
static void test_slot_gap(void)
{
	static struct dtb_desc d;
	int node;

	desc_init(&d, 1, 4);
	for (u32 i = 0; i < 3; i++) {
		d.virtio_base[i] = d.virtio_base[i + 1];
		d.virtio_spi[i] = d.virtio_spi[i + 1];
	}
	d.virtio_count = 3;
	CHECK(dtb_build(&d, buf, sizeof(buf)) > 0);
	CHECK_EQ(count_compatible(buf, "virtio,mmio"), 3);
	CHECK(fdt_path_offset(buf, "/virtio_mmio@a000000") < 0);
	node = fdt_path_offset(buf, "/virtio_mmio@a000200");
	CHECK(node >= 0);
	CHECK_EQ(prop_u32(buf, node, "reg", 1), KEEL_VIRTIO_MMIO_BASE + KEEL_VIRTIO_MMIO_STRIDE);
	CHECK_EQ(prop_u32(buf, node, "interrupts", 1), KEEL_VIRTIO_IRQ_BASE + 1);
}

/* The management partition's event interrupt node: SPI, edge, only when asked for. */
static void test_mgmt_event(void)
{
	static struct dtb_desc d;
	int node;

	desc_init(&d, 1, 2);
	CHECK(dtb_build(&d, buf, sizeof(buf)) > 0);
	CHECK_EQ(count_compatible(buf, KEEL_MGMT_EVENT_COMPAT), 0);
	d.mgmt_event = true;
	d.mgmt_event_spi = 2;
	CHECK(dtb_build(&d, buf, sizeof(buf)) > 0);
	CHECK_EQ(count_compatible(buf, KEEL_MGMT_EVENT_COMPAT), 1);
	node = fdt_path_offset(buf, "/keel-mgmt-events");
	CHECK(node >= 0);
	CHECK_EQ(prop_u32(buf, node, "interrupts", 0), 0); /* GIC_SPI */
	CHECK_EQ(prop_u32(buf, node, "interrupts", 1), 2);
	CHECK_EQ(prop_u32(buf, node, "interrupts", 2), 1); /* edge, rising */
	d.mgmt_event_spi = 64; /* beyond the vGIC's SPIs */
	CHECK_EQ(dtb_build(&d, buf, sizeof(buf)), -KEEL_EINVAL);
}

/* A partition with PCI functions: its ECAM host bridge, read back as Linux reads it. */
static void test_pci(void)
{
	static struct dtb_desc d;
	int node, chosen, len;
	const fdt32_t *r;

	desc_init(&d, 1, 2);
	CHECK(dtb_build(&d, buf, sizeof(buf)) > 0);
	CHECK_EQ(count_compatible(buf, "pci-host-ecam-generic"), 0);
	CHECK(fdt_getprop(buf, fdt_path_offset(buf, "/chosen"), "linux,pci-probe-only", NULL) ==
	      NULL);

	d.pci_ecam_base = KEEL_PCI_ECAM_BASE;
	d.pci_ecam_size = KEEL_PCI_ECAM_SIZE;
	d.pci_mmio_base = KEEL_PCI_MMIO_BASE;
	d.pci_mmio_size = KEEL_PCI_MMIO_SIZE;
	CHECK(dtb_build(&d, buf, sizeof(buf)) > 0);
	CHECK_EQ(count_compatible(buf, "pci-host-ecam-generic"), 1);
	node = fdt_path_offset(buf, "/pcie@3f000000");
	CHECK(node >= 0);
	CHECK_EQ(prop_u32(buf, node, "reg", 1), KEEL_PCI_ECAM_BASE);
	CHECK_EQ(prop_u32(buf, node, "reg", 3), KEEL_PCI_ECAM_SIZE);
	CHECK_EQ(prop_u32(buf, node, "bus-range", 0), 0);
	CHECK_EQ(prop_u32(buf, node, "bus-range", 1), 0);
	CHECK_EQ(prop_u32(buf, node, "#address-cells", 0), 3);
	CHECK_EQ(prop_u32(buf, node, "#size-cells", 0), 2);
	CHECK(fdt_getprop(buf, node, "dma-coherent", NULL) != NULL);
	CHECK(!strcmp(fdt_getprop(buf, node, "device_type", NULL), "pci"));
	/* One 32-bit memory window, PCI address = CPU address. */
	r = fdt_getprop(buf, node, "ranges", &len);
	CHECK_EQ(len, 7 * 4);
	CHECK_EQ(fdt32_to_cpu(r[0]), 0x02000000);
	CHECK_EQ((u64)fdt32_to_cpu(r[1]) << 32 | fdt32_to_cpu(r[2]), KEEL_PCI_MMIO_BASE);
	CHECK_EQ((u64)fdt32_to_cpu(r[3]) << 32 | fdt32_to_cpu(r[4]), KEEL_PCI_MMIO_BASE);
	CHECK_EQ((u64)fdt32_to_cpu(r[5]) << 32 | fdt32_to_cpu(r[6]), KEEL_PCI_MMIO_SIZE);
	chosen = fdt_path_offset(buf, "/chosen");
	CHECK_EQ(prop_u32(buf, chosen, "linux,pci-probe-only", 0), 1);
	CHECK(fdt_getprop(buf, node, "interrupt-map", NULL) == NULL); /* no INTx offered */

	/* INTx: 00:01.0 INTA and 00:02.0 INTB to their own SPIs, level-high. */
	d.pci_intx_count = 2;
	d.pci_intx_slot[0] = 1;
	d.pci_intx_pin[0] = 1;
	d.pci_intx_spi[0] = KEEL_PCI_INTX_IRQ_BASE;
	d.pci_intx_slot[1] = 2;
	d.pci_intx_pin[1] = 2;
	d.pci_intx_spi[1] = KEEL_PCI_INTX_IRQ_BASE + 1;
	CHECK(dtb_build(&d, buf, sizeof(buf)) > 0);
	node = fdt_path_offset(buf, "/pcie@3f000000");
	CHECK_EQ(prop_u32(buf, node, "#interrupt-cells", 0), 1);
	CHECK_EQ(prop_u32(buf, node, "interrupt-map-mask", 0), 0xf800);
	CHECK_EQ(prop_u32(buf, node, "interrupt-map-mask", 3), 7);
	r = fdt_getprop(buf, node, "interrupt-map", &len);
	CHECK_EQ(len, 2 * 8 * 4);
	CHECK_EQ(fdt32_to_cpu(r[8]), 2 << 11);
	CHECK_EQ(fdt32_to_cpu(r[11]), 2);
	CHECK_EQ(fdt32_to_cpu(r[12]),
		 prop_u32(buf, fdt_path_offset(buf, "/intc@8000000"), "phandle", 0));
	CHECK_EQ(fdt32_to_cpu(r[13]), 0); /* SPI */
	CHECK_EQ(fdt32_to_cpu(r[14]), KEEL_PCI_INTX_IRQ_BASE + 1);
	CHECK_EQ(fdt32_to_cpu(r[15]), 4); /* level, high */
	CHECK_EQ(prop_u32(buf, fdt_path_offset(buf, "/intc@8000000"), "#address-cells", 0), 0);
	d.pci_intx_pin[1] = 5; /* no such pin */
	CHECK_EQ(dtb_build(&d, buf, sizeof(buf)), -KEEL_EINVAL);
	d.pci_intx_pin[1] = 2;
	d.pci_intx_count = DTB_MAX_PCI_INTX + 1;
	CHECK_EQ(dtb_build(&d, buf, sizeof(buf)), -KEEL_EINVAL);
	/* A wired line in the MBI range: refused (messages alone use it). */
	d.pci_intx_spi[1] = VGIC_MBI_FIRST_SPI;
	d.pci_intx_count = 2;
	CHECK_EQ(dtb_build(&d, buf, sizeof(buf)), -KEEL_EINVAL);
	d.pci_intx_count = 0;

	/* A window that wraps, or a bus without a memory window: refused. */
	d.pci_mmio_size = 0;
	CHECK_EQ(dtb_build(&d, buf, sizeof(buf)), -KEEL_EINVAL);
	d.pci_mmio_size = KEEL_PCI_MMIO_SIZE;
	d.pci_ecam_base = ~0ull - 0xfff;
	CHECK_EQ(dtb_build(&d, buf, sizeof(buf)), -KEEL_EINVAL);
}

/* MSIs by GICv3 MBI: the GIC an msi-controller with its message INTIDs, the bus its client. */
static void test_pci_mbi(void)
{
	static struct dtb_desc d;
	int gic, pcie, len;
	const fdt32_t *r;

	desc_init(&d, 1, 2);
	CHECK(dtb_build(&d, buf, sizeof(buf)) > 0);
	gic = fdt_path_offset(buf, "/intc@8000000");
	CHECK(fdt_getprop(buf, gic, "msi-controller", NULL) == NULL);
	CHECK(fdt_getprop(buf, gic, "mbi-ranges", NULL) == NULL);

	/* MBI without a bus to use it is a caller's mistake. */
	d.pci_mbi = true;
	CHECK_EQ(dtb_build(&d, buf, sizeof(buf)), -KEEL_EINVAL);

	d.pci_ecam_base = KEEL_PCI_ECAM_BASE;
	d.pci_ecam_size = KEEL_PCI_ECAM_SIZE;
	d.pci_mmio_base = KEEL_PCI_MMIO_BASE;
	d.pci_mmio_size = KEEL_PCI_MMIO_SIZE;
	CHECK(dtb_build(&d, buf, sizeof(buf)) > 0);
	gic = fdt_path_offset(buf, "/intc@8000000");
	pcie = fdt_path_offset(buf, "/pcie@3f000000");
	CHECK(fdt_getprop(buf, gic, "msi-controller", &len) != NULL);
	CHECK_EQ(len, 0);
	/* INTIDs 96..159: SPIs 64..127, the vGIC's upper half. */
	r = fdt_getprop(buf, gic, "mbi-ranges", &len);
	CHECK_EQ(len, 2 * 4);
	CHECK_EQ(fdt32_to_cpu(r[0]), 96);
	CHECK_EQ(fdt32_to_cpu(r[1]), 64);
	CHECK_EQ(fdt32_to_cpu(r[0]) + fdt32_to_cpu(r[1]), 32 + VGIC_NR_SPIS);
	CHECK_EQ(prop_u32(buf, pcie, "msi-parent", 0), prop_u32(buf, gic, "phandle", 0));
	/* No #msi-cells: MBI takes no specifier, so Linux takes the single-parent form. */
	CHECK(fdt_getprop(buf, gic, "#msi-cells", NULL) == NULL);
}

int main(void)
{
	test_slot_gap();
	test_pci();
	test_pci_mbi();
	test_basic();
	test_pmu();
	test_mgmt_event();
	test_power_key();
	test_no_initrd_and_limits();
	return unit_done("test_dtb");
}
