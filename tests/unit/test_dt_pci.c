/* SPDX-License-Identifier: MIT */
/*
 * aarch64 discovery of PCI ECAM windows and SMMUv3s from the device tree
 * (arch/aarch64/dt_pci.c) on trees written with the host's libfdt: QEMU virt's
 * layout, trees without an SMMU or a bridge, disabled nodes, and hostile
 * properties (truncated, reversed, overflowing, dangling, too many), then
 * random ones under the sanitizers.
 */
#include <libfdt.h>
#include <string.h>

#include <keel/abi.h>
#include <keel/iommu.h>
#include <keel/pci.h>

#include "../../arch/aarch64/dt_pci.h"
#include "unit.h"

extern char unit_log[];
extern size_t unit_log_len;

/* ---- what discovery hands over ---- */

#define REC_MAX 16

static struct pci_ecam rec_ecam[REC_MAX];
static u32 rec_ecam_n;
static struct iommu_unit rec_unit[REC_MAX];
static u32 rec_unit_n;

int pci_ecam_add(const struct keel_boot_info *bi, const struct pci_ecam *w)
{
	(void)bi;
	if (rec_ecam_n < REC_MAX)
		rec_ecam[rec_ecam_n] = *w;
	rec_ecam_n++;
	return 0;
}

int iommu_add(const struct keel_boot_info *bi, const struct iommu_unit *desc)
{
	(void)bi;
	if (rec_unit_n < REC_MAX)
		rec_unit[rec_unit_n] = *desc;
	rec_unit_n++;
	return 0;
}

/* ---- trees ---- */

#define GIC_PH 0x8002u
#define SMMU_PH 0x8004u
#define ITS_PH 0x8006u
#define SPI 0u
#define PPI 1u
#define EDGE 1u
#define LEVEL 4u

/* Cells of a property: n = 0 the node's default, -1 left out, -2 present with no value. */
struct cells {
	const u32 *v;
	int n;
};
#define CELLS(...)                                                                                \
	{                                                                                         \
		.v = (const u32[]){ __VA_ARGS__ }, .n = (int)(sizeof((u32[]){ __VA_ARGS__ }) / 4) \
	}
#define NONE            \
	{               \
		.n = -1 \
	}
#define EMPTY           \
	{               \
		.n = -2 \
	}

struct names {
	const char *s;
	int len; /* 0: default, < 0: left out */
};
#define NAMES(lit)                                \
	{                                         \
		.s = lit, .len = (int)sizeof(lit) \
	}

struct ecam_opts {
	const char *name;
	const char *status;
	struct cells reg, bus_range, domain, map, mask, imap;
	struct cells msi_map, msi_mask, msi_parent;
};

struct smmu_opts {
	const char *name;
	const char *status;
	u32 phandle; /* 0: SMMU_PH */
	struct cells reg, irqs, iommu_cells, irq_parent;
	struct names names;
};

struct tree {
	u32 n_ecam, n_smmu;
	struct ecam_opts ecam[3];
	struct smmu_opts smmu[10];
	u32 gic_cells; /* 0: 3 */
	u32 gic_addr_cells; /* #address-cells of the GIC node (0: none, as QEMU's is 2) */
	const char *its_status; /* the ITS node's status (NULL: none) */
	bool no_its;
	/* bus_cells set: the SMMUs and bridges sit under "soc", with these cells and ranges. */
	u32 bus_cells; /* #address-cells = #size-cells of "soc" */
	struct cells bus_ranges;
	/* ... and with inner_ranges given, the SMMUs one bus deeper, in "soc/sub" (same cells). */
	struct cells inner_ranges;
};

static unsigned char fdt_buf[128 * 1024];

static int prop_cells(void *fdt, const char *name, const struct cells *c, const struct cells *def)
{
	u32 be[2048];
	const struct cells *use = c->n ? c : def;

	if (use->n == -2)
		return fdt_property(fdt, name, NULL, 0);
	if (use->n < 0)
		return 0;
	if (use->n > (int)(sizeof(be) / 4))
		return -1;
	for (int i = 0; i < use->n; i++)
		be[i] = cpu_to_fdt32(use->v[i]);
	return fdt_property(fdt, name, be, use->n * 4);
}

static int node_ecam(void *fdt, const struct ecam_opts *o)
{
	const struct cells reg = CELLS(0x40, 0x10000000, 0, 0x10000000);
	const struct cells bus_range = CELLS(0, 0xff);
	const struct cells domain = CELLS(0);
	const struct cells map = CELLS(0, SMMU_PH, 0, 0x10000);
	const struct cells msi_map = CELLS(0, ITS_PH, 0, 0x10000);
	const struct cells none = NONE;
	int ret = 0;

	ret |= fdt_begin_node(fdt, o->name ? o->name : "pcie@10000000");
	ret |= fdt_property_string(fdt, "compatible", "pci-host-ecam-generic");
	ret |= fdt_property_string(fdt, "device_type", "pci");
	/* Its own cells are PCI's: reg must be read with the parent's. */
	ret |= fdt_property_u32(fdt, "#address-cells", 3);
	ret |= fdt_property_u32(fdt, "#size-cells", 2);
	if (o->status)
		ret |= fdt_property_string(fdt, "status", o->status);
	ret |= prop_cells(fdt, "reg", &o->reg, &reg);
	ret |= prop_cells(fdt, "bus-range", &o->bus_range, &bus_range);
	ret |= prop_cells(fdt, "linux,pci-domain", &o->domain, &domain);
	ret |= prop_cells(fdt, "iommu-map", &o->map, &map);
	ret |= prop_cells(fdt, "iommu-map-mask", &o->mask, &none);
	ret |= fdt_property_u32(fdt, "#interrupt-cells", 1);
	ret |= prop_cells(fdt, "interrupt-map", &o->imap, &none);
	ret |= prop_cells(fdt, "msi-map", &o->msi_map, &msi_map);
	ret |= prop_cells(fdt, "msi-map-mask", &o->msi_mask, &none);
	ret |= prop_cells(fdt, "msi-parent", &o->msi_parent, &none);
	ret |= fdt_end_node(fdt);
	return ret;
}

static int node_smmu(void *fdt, const struct smmu_opts *o)
{
	const struct cells reg = CELLS(0, 0x9050000, 0, 0x20000);
	const struct cells irqs =
		CELLS(SPI, 0x4a, EDGE, SPI, 0x4b, EDGE, SPI, 0x4c, EDGE, SPI, 0x4d, EDGE);
	const struct cells iommu_cells = CELLS(1);
	const struct cells none = NONE;
	static const char names[] = "eventq\0priq\0cmdq-sync\0gerror";
	int ret = 0;

	ret |= fdt_begin_node(fdt, o->name ? o->name : "smmuv3@9050000");
	ret |= fdt_property_string(fdt, "compatible", "arm,smmu-v3");
	if (o->status)
		ret |= fdt_property_string(fdt, "status", o->status);
	ret |= prop_cells(fdt, "reg", &o->reg, &reg);
	ret |= prop_cells(fdt, "interrupts", &o->irqs, &irqs);
	if (!o->names.len)
		ret |= fdt_property(fdt, "interrupt-names", names, sizeof(names));
	else if (o->names.len > 0)
		ret |= fdt_property(fdt, "interrupt-names", o->names.s, o->names.len);
	ret |= prop_cells(fdt, "#iommu-cells", &o->iommu_cells, &iommu_cells);
	ret |= prop_cells(fdt, "interrupt-parent", &o->irq_parent, &none);
	ret |= fdt_property_u32(fdt, "phandle", o->phandle ? o->phandle : SMMU_PH);
	ret |= fdt_end_node(fdt);
	return ret;
}

/* A bus node @name (left open) whose children use @cells address and size cells. */
static int node_bus(void *fdt, const char *name, u32 cells, const struct cells *ranges)
{
	const struct cells none = NONE;
	int ret = 0;

	ret |= fdt_begin_node(fdt, name);
	ret |= fdt_property_string(fdt, "compatible", "simple-bus");
	ret |= fdt_property_u32(fdt, "#address-cells", cells);
	ret |= fdt_property_u32(fdt, "#size-cells", cells);
	ret |= prop_cells(fdt, "ranges", ranges, &none);
	return ret;
}

/* QEMU virt's layout (-machine virt,gic-version=3,iommu=smmuv3). */
static void tree_qemu(struct tree *t)
{
	memset(t, 0, sizeof(*t));
	t->n_ecam = 1;
	t->n_smmu = 1;
}

static const void *build(const struct tree *t)
{
	void *fdt = fdt_buf;
	int ret = 0;

	ret |= fdt_create(fdt, sizeof(fdt_buf));
	ret |= fdt_finish_reservemap(fdt);
	ret |= fdt_begin_node(fdt, "");
	ret |= fdt_property_string(fdt, "compatible", "linux,dummy-virt");
	ret |= fdt_property_u32(fdt, "#address-cells", 2);
	ret |= fdt_property_u32(fdt, "#size-cells", 2);
	ret |= fdt_property_u32(fdt, "interrupt-parent", GIC_PH);

	ret |= fdt_begin_node(fdt, "intc@8000000");
	ret |= fdt_property_string(fdt, "compatible", "arm,gic-v3");
	ret |= fdt_property_u32(fdt, "#interrupt-cells", t->gic_cells ? t->gic_cells : 3);
	if (t->gic_addr_cells)
		ret |= fdt_property_u32(fdt, "#address-cells", t->gic_addr_cells);
	ret |= fdt_property(fdt, "interrupt-controller", NULL, 0);
	ret |= fdt_property_u32(fdt, "phandle", GIC_PH);
	if (!t->no_its) {
		ret |= fdt_begin_node(fdt, "its@8080000");
		ret |= fdt_property_string(fdt, "compatible", "arm,gic-v3-its");
		ret |= fdt_property(fdt, "msi-controller", NULL, 0);
		if (t->its_status)
			ret |= fdt_property_string(fdt, "status", t->its_status);
		ret |= fdt_property_u32(fdt, "phandle", ITS_PH);
		ret |= fdt_end_node(fdt);
	}
	ret |= fdt_end_node(fdt);

	if (t->bus_cells)
		ret |= node_bus(fdt, "soc", t->bus_cells, &t->bus_ranges);
	if (t->inner_ranges.n)
		ret |= node_bus(fdt, "sub", t->bus_cells, &t->inner_ranges);
	for (u32 i = 0; i < t->n_smmu; i++)
		ret |= node_smmu(fdt, &t->smmu[i]);
	if (t->inner_ranges.n)
		ret |= fdt_end_node(fdt);
	for (u32 i = 0; i < t->n_ecam; i++)
		ret |= node_ecam(fdt, &t->ecam[i]);
	if (t->bus_cells)
		ret |= fdt_end_node(fdt);
	ret |= fdt_end_node(fdt);
	ret |= fdt_finish(fdt);
	CHECK_EQ(ret, 0);
	CHECK_EQ(fdt_check_header(fdt), 0);
	return fdt;
}

static void run(const struct tree *t)
{
	const void *fdt = build(t);

	rec_ecam_n = rec_unit_n = 0;
	memset(rec_ecam, 0, sizeof(rec_ecam));
	memset(rec_unit, 0, sizeof(rec_unit));
	unit_log_len = 0;
	unit_log[0] = 0;
	dt_pci_discover(NULL, fdt);
}

static int logged(const char *s)
{
	if (strstr(unit_log, s))
		return 1;
	fprintf(stderr, "  not logged: %s\n  log: %s\n", s, unit_log);
	return 0;
}

/* Nothing was reported. */
static int quiet(void)
{
	if (!unit_log_len)
		return 1;
	fprintf(stderr, "  unexpected log: %s\n", unit_log);
	return 0;
}

/* ---- the cases ---- */

static void test_qemu(void)
{
	struct tree t;

	tree_qemu(&t);
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_ecam_n, 1);
	CHECK_EQ(rec_ecam[0].base, 0x4010000000ull);
	CHECK_EQ(rec_ecam[0].seg, 0);
	CHECK_EQ(rec_ecam[0].start_bus, 0);
	CHECK_EQ(rec_ecam[0].end_bus, 0xff);
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_unit[0].kind, IOMMU_SMMUV3);
	CHECK_EQ(rec_unit[0].base, 0x9050000);
	CHECK_EQ(rec_unit[0].size, 0x20000);
	CHECK_EQ(rec_unit[0].seg, 0);
	CHECK_EQ(rec_unit[0].irq, 0x4a + 32);
	CHECK_EQ(rec_unit[0].include_all, 0);
	CHECK_EQ(rec_unit[0].scope_count, 1);
	CHECK_EQ(rec_unit[0].scopes[0].kind, IOMMU_SCOPE_RANGE);
	CHECK_EQ(rec_unit[0].scopes[0].first, 0);
	CHECK_EQ(rec_unit[0].scopes[0].last, 0xffff);
	CHECK_EQ(rec_unit[0].scopes[0].stream, 0);
	CHECK_EQ(rec_unit[0].scopes[0].aliased, 0);

	/* status "okay" and "ok" are in use; the eventq found in any position. */
	tree_qemu(&t);
	t.ecam[0].status = "okay";
	t.smmu[0].status = "ok";
	t.smmu[0].names = (struct names)NAMES("gerror\0eventq");
	t.smmu[0].irqs = (struct cells)CELLS(SPI, 1, EDGE, SPI, 2, EDGE);
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_ecam_n, 1);
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_unit[0].irq, 34);
	CHECK_EQ(rec_unit[0].scope_count, 1);

	/* An SMMU with one interrupt for everything. */
	tree_qemu(&t);
	t.smmu[0].names = (struct names)NAMES("combined");
	t.smmu[0].irqs = (struct cells)CELLS(SPI, 100, EDGE);
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_unit[0].irq, 132);

	/* A 4-cell GIC specifier (PPI partitions): the first three cells as before. */
	tree_qemu(&t);
	t.gic_cells = 4;
	t.smmu[0].irqs = (struct cells)CELLS(SPI, 0x4a, EDGE, 0, SPI, 0x4b, EDGE, 0);
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_unit[0].irq, 0x4a + 32);
}

static void test_no_smmu(void)
{
	struct tree t;

	/* QEMU without iommu=smmuv3: the bridge has no iommu-map. */
	tree_qemu(&t);
	t.n_smmu = 0;
	t.ecam[0].map = (struct cells)NONE;
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_ecam_n, 1);
	CHECK_EQ(rec_unit_n, 0);

	/* A bridge with neither domain nor bus-range: domain 0, buses 0-255. */
	tree_qemu(&t);
	t.n_smmu = 0;
	t.ecam[0].map = (struct cells)NONE;
	t.ecam[0].domain = (struct cells)NONE;
	t.ecam[0].bus_range = (struct cells)NONE;
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_ecam_n, 1);
	CHECK_EQ(rec_ecam[0].seg, 0);
	CHECK_EQ(rec_ecam[0].start_bus, 0);
	CHECK_EQ(rec_ecam[0].end_bus, 255);

	/* Nothing at all. */
	tree_qemu(&t);
	t.n_smmu = t.n_ecam = 0;
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_ecam_n, 0);
	CHECK_EQ(rec_unit_n, 0);
}

static void test_smmu_without_bridge(void)
{
	struct tree t;

	tree_qemu(&t);
	t.n_ecam = 0;
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_ecam_n, 0);
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_unit[0].scope_count, 0);
	CHECK_EQ(rec_unit[0].seg, 0);
	CHECK_EQ(rec_unit[0].irq, 0x4a + 32);

	/* A bridge whose map names no SMMU: nothing for the SMMU either. */
	tree_qemu(&t);
	t.ecam[0].map = (struct cells)NONE;
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_unit[0].scope_count, 0);
}

static void test_disabled(void)
{
	struct tree t;

	tree_qemu(&t);
	t.ecam[0].status = "disabled";
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_ecam_n, 0);
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_unit[0].scope_count, 0); /* a disabled bridge maps nothing */

	tree_qemu(&t);
	t.smmu[0].status = "disabled";
	run(&t);
	CHECK_EQ(rec_ecam_n, 1);
	CHECK_EQ(rec_unit_n, 0);
	CHECK(logged("dt: /pcie@10000000: iommu-map entry 0 (requester ID 0x0, length 0x10000, "
		     "phandle 0x8004) ignored: its SMMU is disabled"));

	/* Anything but okay/ok is not in use (Linux's reading), a status without its NUL too. */
	tree_qemu(&t);
	t.ecam[0].status = "fail";
	t.smmu[0].status = "reserved";
	run(&t);
	CHECK_EQ(rec_ecam_n, 0);
	CHECK_EQ(rec_unit_n, 0);
}

static void test_bad_reg(void)
{
	struct tree t;

	/* A truncated ECAM reg: the bridge is skipped, and its map with it. */
	tree_qemu(&t);
	t.ecam[0].reg = (struct cells)CELLS(0x40, 0x10000000, 0);
	run(&t);
	CHECK(logged("dt: /pcie@10000000: reg missing or malformed; PCI host bridge ignored"));
	CHECK_EQ(rec_ecam_n, 0);
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_unit[0].scope_count, 0);

	tree_qemu(&t);
	t.ecam[0].reg = (struct cells)NONE;
	run(&t);
	CHECK(logged("reg missing or malformed"));
	CHECK_EQ(rec_ecam_n, 0);

	/* A truncated SMMU reg. */
	tree_qemu(&t);
	t.smmu[0].reg = (struct cells)CELLS(0, 0x9050000, 0);
	run(&t);
	CHECK(logged("dt: /smmuv3@9050000: reg missing or malformed; SMMU ignored"));
	CHECK_EQ(rec_ecam_n, 1);
	CHECK_EQ(rec_unit_n, 0);

	/* Less than a bus. */
	tree_qemu(&t);
	t.ecam[0].reg = (struct cells)CELLS(0x40, 0x10000000, 0, 0xfffff);
	run(&t);
	CHECK(logged("holds no bus"));
	CHECK_EQ(rec_ecam_n, 0);

	/* Fewer buses than bus-range: the window shrinks to what reg holds. */
	tree_qemu(&t);
	t.ecam[0].reg = (struct cells)CELLS(0x40, 0x10000000, 0, 0x400000);
	run(&t);
	CHECK(logged("dt: /pcie@10000000: reg holds buses 00-03 only; bus-range ends at ff"));
	CHECK_EQ(rec_ecam_n, 1);
	CHECK_EQ(rec_ecam[0].start_bus, 0);
	CHECK_EQ(rec_ecam[0].end_bus, 3);
}

/* Under a bus, reg is in the bus's address space: ranges take it to the CPU's. */
static void test_ranges(void)
{
	/* soc's 1-cell addresses 0..512 MiB are the CPU's 1 GiB..1.5 GiB. */
	const struct cells ranges = CELLS(0, 0, 0x40000000, 0x20000000);
	struct tree t;

	tree_qemu(&t);
	t.bus_cells = 1;
	t.bus_ranges = ranges;
	t.smmu[0].reg = (struct cells)CELLS(0x9050000, 0x20000);
	t.ecam[0].reg = (struct cells)CELLS(0x10000000, 0x10000000);
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_unit[0].base, 0x49050000);
	CHECK_EQ(rec_unit[0].size, 0x20000);
	CHECK_EQ(rec_ecam_n, 1);
	CHECK_EQ(rec_ecam[0].base, 0x50000000);
	CHECK_EQ(rec_unit[0].scope_count, 1); /* the bridge's iommu-map still finds it */

	/* Two buses: sub's 0..16 MiB is soc's 0x9000000.., which is the CPU's 0x49000000... */
	t.inner_ranges = (struct cells)CELLS(0, 0x9000000, 0x1000000);
	t.smmu[0].reg = (struct cells)CELLS(0x50000, 0x20000);
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_unit[0].base, 0x49050000);

	/* Empty ranges: the same addresses (QEMU's GIC holds its ITS so). */
	tree_qemu(&t);
	t.bus_cells = 2;
	t.bus_ranges = (struct cells)EMPTY;
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_ecam_n, 1);
	CHECK_EQ(rec_ecam[0].base, 0x4010000000ull);
	CHECK_EQ(rec_unit[0].base, 0x9050000);

	/* The second of two entries. */
	tree_qemu(&t);
	t.bus_cells = 1;
	t.bus_ranges =
		(struct cells)CELLS(0x80000000, 0, 0x80000000, 0x1000, 0, 0x1, 0, 0x20000000);
	t.smmu[0].reg = (struct cells)CELLS(0x9050000, 0x20000);
	t.ecam[0].reg = (struct cells)CELLS(0x10000000, 0x10000000);
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_unit[0].base, 0x109050000ull);
	CHECK_EQ(rec_ecam[0].base, 0x110000000ull);
}

/* A bus that does not say where its children are: each is left out, nothing guessed. */
static void test_ranges_hostile(void)
{
	const struct cells bad[] = {
		NONE, /* no ranges: not in the CPU's address space */
		CELLS(0, 0, 0x40000000), /* not a whole entry */
		CELLS(0, 0, 0x40000000, 0x20000000, 0), /* a whole one and a piece */
		CELLS(0x20000000, 0, 0x40000000, 0x20000000), /* starts above them */
		CELLS(0, 0, 0x40000000, 0x10000000), /* ends inside the bridge's window */
		CELLS(0, 0xffffffff, 0xf0000000, 0x20000000), /* to past the top of memory */
		CELLS(0, 0, 0x40000000, 0), /* an empty entry */
	};
	struct tree t;

	for (u32 i = 0; i < ARRAY_SIZE(bad); i++) {
		tree_qemu(&t);
		t.bus_cells = 1;
		t.bus_ranges = bad[i];
		t.smmu[0].reg = (struct cells)CELLS(0x9050000, 0x20000);
		t.ecam[0].reg = (struct cells)CELLS(0x10000000, 0x10000000);
		run(&t);
		CHECK(logged("dt: /soc/pcie@10000000: reg missing or malformed"));
		CHECK_EQ(rec_ecam_n, 0);
		if (i < 4 || i == 5 || i == 6) {
			CHECK(logged("dt: /soc/smmuv3@9050000: reg missing or malformed"));
			CHECK_EQ(rec_unit_n, 0);
		}
	}

	/* Cells a bus cannot translate with (3-cell addresses): left out too. */
	tree_qemu(&t);
	t.bus_cells = 3;
	t.bus_ranges = (struct cells)CELLS(0, 0, 0, 0, 0x40000000, 0, 0, 0x20000000);
	run(&t);
	CHECK_EQ(rec_ecam_n, 0);
	CHECK_EQ(rec_unit_n, 0);

	/* An inner bus without ranges: its SMMU is left out, the outer bridge is not. */
	tree_qemu(&t);
	t.bus_cells = 1;
	t.bus_ranges = (struct cells)CELLS(0, 0, 0x40000000, 0x20000000);
	t.inner_ranges = (struct cells)CELLS(0, 0x9000000); /* not a whole entry */
	t.smmu[0].reg = (struct cells)CELLS(0x50000, 0x20000);
	t.ecam[0].reg = (struct cells)CELLS(0x10000000, 0x10000000);
	run(&t);
	CHECK(logged("dt: /soc/sub/smmuv3@9050000: reg missing or malformed"));
	CHECK_EQ(rec_unit_n, 0);
	CHECK_EQ(rec_ecam_n, 1);
	CHECK_EQ(rec_ecam[0].base, 0x50000000);
}

static void test_bus_range(void)
{
	struct tree t;

	/* reg starts at bus-range's first bus: base is where bus 0 would be. */
	tree_qemu(&t);
	t.ecam[0].bus_range = (struct cells)CELLS(0x10, 0x1f);
	t.ecam[0].reg = (struct cells)CELLS(0x40, 0x10000000, 0, 0x1000000);
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_ecam_n, 1);
	CHECK_EQ(rec_ecam[0].base, 0x4010000000ull - 0x1000000);
	CHECK_EQ(rec_ecam[0].start_bus, 0x10);
	CHECK_EQ(rec_ecam[0].end_bus, 0x1f);

	tree_qemu(&t);
	t.ecam[0].bus_range = (struct cells)CELLS(5, 3);
	run(&t);
	CHECK(logged("dt: /pcie@10000000: bus-range 0x5-0x3 is not in order within 0-255"));
	CHECK_EQ(rec_ecam_n, 0);

	tree_qemu(&t);
	t.ecam[0].bus_range = (struct cells)CELLS(0, 256);
	run(&t);
	CHECK(logged("bus-range 0x0-0x100 is not in order within 0-255"));
	CHECK_EQ(rec_ecam_n, 0);

	tree_qemu(&t);
	t.ecam[0].bus_range = (struct cells)CELLS(0);
	run(&t);
	CHECK(logged("bus-range is not 2 cells"));
	CHECK_EQ(rec_ecam_n, 0);

	tree_qemu(&t);
	t.ecam[0].bus_range = (struct cells)CELLS(0, 0xff, 0);
	run(&t);
	CHECK(logged("bus-range is not 2 cells"));
	CHECK_EQ(rec_ecam_n, 0);

	/* Bus 0x80's config space cannot start below 128 MiB. */
	tree_qemu(&t);
	t.ecam[0].bus_range = (struct cells)CELLS(0x80, 0x80);
	t.ecam[0].reg = (struct cells)CELLS(0, 0x100000, 0, 0x100000);
	run(&t);
	CHECK(logged("cannot hold bus 80"));
	CHECK_EQ(rec_ecam_n, 0);
}

static void test_domain(void)
{
	struct tree t;

	tree_qemu(&t);
	t.ecam[0].domain = (struct cells)CELLS(0x10000);
	run(&t);
	CHECK(logged("linux,pci-domain is not one cell of at most 0xffff"));
	CHECK_EQ(rec_ecam_n, 0);

	tree_qemu(&t);
	t.ecam[0].domain = (struct cells)CELLS(0, 1);
	run(&t);
	CHECK(logged("linux,pci-domain is not one cell"));
	CHECK_EQ(rec_ecam_n, 0);

	tree_qemu(&t);
	t.ecam[0].domain = (struct cells)CELLS(0xffff);
	run(&t);
	CHECK(logged("not offered: it is not PCI segment 0")); /* and nothing else */
	CHECK(!strstr(unit_log, "ignored"));
	CHECK_EQ(rec_ecam[0].seg, 0xffff);
	CHECK_EQ(rec_unit[0].seg, 0xffff);

	/* Bridges naming no domain are numbered 0, 1, ... as Linux does. */
	tree_qemu(&t);
	t.n_smmu = 0;
	t.n_ecam = 2;
	t.ecam[0].domain = t.ecam[1].domain = (struct cells)NONE;
	t.ecam[0].map = t.ecam[1].map = (struct cells)NONE;
	t.ecam[1].name = "pcie@30000000";
	t.ecam[1].reg = (struct cells)CELLS(0, 0x30000000, 0, 0x10000000);
	t.ecam[1].msi_map = (struct cells)NONE;
	t.ecam[1].msi_parent = (struct cells)CELLS(ITS_PH);
	run(&t);
	CHECK(logged("dt: /pcie@30000000: MSIs of guests' PCI functions are not offered: it is "
		     "not PCI segment 0"));
	CHECK(!strstr(unit_log, "ignored"));
	CHECK_EQ(rec_ecam_n, 2);
	CHECK_EQ(rec_ecam[0].seg, 0);
	CHECK_EQ(rec_ecam[1].seg, 1);
	CHECK_EQ(rec_ecam[1].base, 0x30000000);
}

static void test_map_shape(void)
{
	struct tree t;

	/* Not a multiple of 4 cells. */
	tree_qemu(&t);
	t.ecam[0].map = (struct cells)CELLS(0, SMMU_PH, 0, 0x10000, 0);
	run(&t);
	CHECK(logged("dt: /pcie@10000000: iommu-map of 20 bytes is not a list of 4-cell entries"));
	CHECK_EQ(rec_ecam_n, 1);
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_unit[0].scope_count, 0);

	tree_qemu(&t);
	t.ecam[0].map = (struct cells)CELLS(0, SMMU_PH, 0);
	run(&t);
	CHECK(logged("iommu-map of 12 bytes is not a list of 4-cell entries"));
	CHECK_EQ(rec_unit[0].scope_count, 0);

	/* Empty. */
	tree_qemu(&t);
	t.ecam[0].map = (struct cells)EMPTY;
	run(&t);
	CHECK(logged("iommu-map of 0 bytes is not a list of 4-cell entries"));
	CHECK_EQ(rec_unit[0].scope_count, 0);

	/* Length 0. */
	tree_qemu(&t);
	t.ecam[0].map = (struct cells)CELLS(0, SMMU_PH, 0, 0);
	run(&t);
	CHECK(logged("iommu-map entry 0 (requester ID 0x0, length 0x0, phandle 0x8004) ignored: "
		     "its length is 0"));
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_unit[0].scope_count, 0);

	/* Requester IDs beyond 16 bits. */
	tree_qemu(&t);
	t.ecam[0].map = (struct cells)CELLS(0x100, SMMU_PH, 0, 0x10000, 0x10000, SMMU_PH, 0, 1,
					    0xffff, SMMU_PH, 0x20000, 1, 0, SMMU_PH, 0, 0xffffffff);
	run(&t);
	CHECK(logged("entry 0 (requester ID 0x100, length 0x10000, phandle 0x8004) ignored: its "
		     "requester IDs pass 0xffff"));
	CHECK(logged("entry 1 (requester ID 0x10000, length 0x1, phandle 0x8004) ignored: its "
		     "requester IDs pass 0xffff"));
	CHECK(logged("entry 3 (requester ID 0x0, length 0xffffffff, phandle 0x8004) ignored"));
	CHECK_EQ(rec_unit[0].scope_count, 1);
	CHECK_EQ(rec_unit[0].scopes[0].first, 0xffff);
	CHECK_EQ(rec_unit[0].scopes[0].last, 0xffff);
	CHECK_EQ(rec_unit[0].scopes[0].stream, 0x20000);

	/* Stream IDs beyond 32 bits. */
	tree_qemu(&t);
	t.ecam[0].map =
		(struct cells)CELLS(0, SMMU_PH, 0xffffffff, 2, 0x10, SMMU_PH, 0xffffffff, 1);
	run(&t);
	CHECK(logged("entry 0 (requester ID 0x0, length 0x2, phandle 0x8004) ignored: its stream "
		     "IDs pass 0xffffffff"));
	CHECK_EQ(rec_unit[0].scope_count, 1);
	CHECK_EQ(rec_unit[0].scopes[0].first, 0x10);
	CHECK_EQ(rec_unit[0].scopes[0].stream, 0xffffffffu);
}

static void test_map_phandles(void)
{
	struct tree t;

	/* Pointing nowhere, at the GIC, at 0 and at ~0. */
	tree_qemu(&t);
	t.ecam[0].map =
		(struct cells)CELLS(0, 0x99, 0, 0x100, 0x100, GIC_PH, 0, 0x100, 0x200, 0, 0, 0x100,
				    0x300, 0xffffffff, 0, 0x100, 0x400, SMMU_PH, 0x400, 0x100);
	run(&t);
	CHECK(logged("entry 0 (requester ID 0x0, length 0x100, phandle 0x99) ignored: its phandle "
		     "names no node"));
	CHECK(logged("entry 1 (requester ID 0x100, length 0x100, phandle 0x8002) ignored: its "
		     "phandle names no arm,smmu-v3 node"));
	CHECK(logged("entry 2 (requester ID 0x200, length 0x100, phandle 0x0) ignored: its phandle "
		     "names no node"));
	CHECK(logged("entry 3 (requester ID 0x300, length 0x100, phandle 0xffffffff) ignored"));
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_unit[0].scope_count, 1);
	CHECK_EQ(rec_unit[0].scopes[0].first, 0x400);
	CHECK_EQ(rec_unit[0].scopes[0].last, 0x4ff);
	CHECK_EQ(rec_unit[0].scopes[0].stream, 0x400);

	/* An SMMU whose specifier is not one cell: the 4-cell entries do not fit it. */
	tree_qemu(&t);
	t.smmu[0].iommu_cells = (struct cells)CELLS(2);
	run(&t);
	CHECK(logged("ignored: its SMMU's #iommu-cells is not 1"));
	CHECK_EQ(rec_unit[0].scope_count, 0);

	tree_qemu(&t);
	t.smmu[0].iommu_cells = (struct cells)NONE;
	run(&t);
	CHECK(logged("ignored: its SMMU's #iommu-cells is not 1"));
	CHECK_EQ(rec_unit[0].scope_count, 0);
}

static void test_map_overlap_and_count(void)
{
	u32 big[4 * 300];
	struct tree t;

	/* Requester IDs or stream IDs that an earlier entry has. */
	tree_qemu(&t);
	t.ecam[0].map =
		(struct cells)CELLS(0, SMMU_PH, 0, 0x100, 0x80, SMMU_PH, 0x1000, 0x10, 0x200,
				    SMMU_PH, 0xff, 0x10, 0x300, SMMU_PH, 0x100, 0x10);
	run(&t);
	CHECK(logged("dt: /pcie@10000000: iommu-map entry 1 (requester IDs 0x80-0x8f) ignored: its "
		     "requester IDs overlap an earlier entry's"));
	CHECK(logged("entry 2 (requester IDs 0x200-0x20f) ignored: its stream IDs overlap an "
		     "earlier entry's"));
	CHECK_EQ(rec_unit[0].scope_count, 2);
	CHECK_EQ(rec_unit[0].scopes[1].first, 0x300);
	CHECK_EQ(rec_unit[0].scopes[1].stream, 0x100);

	/* One entry more than Keel keeps. */
	for (u32 i = 0; i < 300; i++) {
		big[4 * i] = i * 16;
		big[4 * i + 1] = SMMU_PH;
		big[4 * i + 2] = 0x10000 + i * 16;
		big[4 * i + 3] = 16;
	}
	tree_qemu(&t);
	t.ecam[0].map = (struct cells){ .v = big, .n = 4 * (IOMMU_MAX_SCOPES + 1) };
	run(&t);
	CHECK(logged("entry 32 (requester IDs 0x200-0x20f) ignored: more entries name this SMMU "
		     "than Keel keeps"));
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_unit[0].scope_count, IOMMU_MAX_SCOPES);
	CHECK_EQ(rec_unit[0].scopes[31].first, 31 * 16);
	CHECK_EQ(rec_unit[0].scopes[31].last, 31 * 16 + 15);
	CHECK_EQ(rec_unit[0].scopes[31].stream, 0x10000 + 31 * 16);

	/* Far more: read up to a bound. */
	tree_qemu(&t);
	t.ecam[0].map = (struct cells){ .v = big, .n = 4 * 300 };
	run(&t);
	CHECK(logged("dt: /pcie@10000000: iommu-map has more than 256 entries; the rest ignored"));
	CHECK_EQ(rec_unit[0].scope_count, IOMMU_MAX_SCOPES);
}

static void test_map_mask(void)
{
	struct tree t;

	tree_qemu(&t);
	t.ecam[0].mask = (struct cells)CELLS(0xffff);
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_unit[0].scope_count, 1);

	tree_qemu(&t);
	t.ecam[0].mask = (struct cells)CELLS(0xffffffff);
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_unit[0].scope_count, 1);

	tree_qemu(&t);
	t.ecam[0].mask = (struct cells)CELLS(0xfff8);
	run(&t);
	CHECK(logged("dt: /pcie@10000000: iommu-map-mask 0xfff8 folds requester IDs together"));
	CHECK_EQ(rec_ecam_n, 1);
	CHECK_EQ(rec_unit[0].scope_count, 0);

	/* 0 folds every requester ID into one. */
	tree_qemu(&t);
	t.ecam[0].mask = (struct cells)CELLS(0);
	run(&t);
	CHECK(logged("iommu-map-mask 0x0 folds"));
	CHECK_EQ(rec_unit[0].scope_count, 0);

	tree_qemu(&t);
	t.ecam[0].mask = (struct cells)CELLS(0, 0xffff);
	run(&t);
	CHECK(logged("iommu-map-mask is not one cell"));
	CHECK_EQ(rec_unit[0].scope_count, 0);
}

static void test_two_segments(void)
{
	struct tree t;

	/* Two bridges of two segments name one SMMU: the first's segment wins. */
	tree_qemu(&t);
	t.n_ecam = 2;
	t.ecam[0].map = (struct cells)CELLS(0, SMMU_PH, 0, 0x100);
	t.ecam[1].name = "pcie@30000000";
	t.ecam[1].reg = (struct cells)CELLS(0, 0x30000000, 0, 0x10000000);
	t.ecam[1].domain = (struct cells)CELLS(1);
	t.ecam[1].map = (struct cells)CELLS(0, SMMU_PH, 0x1000, 0x100);
	run(&t);
	CHECK(logged("dt: /pcie@30000000: iommu-map entries naming /smmuv3@9050000 ignored: that "
		     "SMMU serves segment 0000 already, this bridge is segment 0001"));
	CHECK_EQ(rec_ecam_n, 2);
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_unit[0].seg, 0);
	CHECK_EQ(rec_unit[0].scope_count, 1);
	CHECK_EQ(rec_unit[0].scopes[0].last, 0xff);

	/* Two bridges of one segment (other buses) share it. */
	tree_qemu(&t);
	t.n_ecam = 2;
	t.ecam[0].bus_range = (struct cells)CELLS(0, 0x7f);
	t.ecam[0].map = (struct cells)CELLS(0, SMMU_PH, 0, 0x8000);
	t.ecam[1].name = "pcie@30000000";
	t.ecam[1].bus_range = (struct cells)CELLS(0x80, 0xff);
	t.ecam[1].reg = (struct cells)CELLS(0, 0x38000000, 0, 0x8000000);
	t.ecam[1].map = (struct cells)CELLS(0x8000, SMMU_PH, 0x8000, 0x8000);
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_ecam_n, 2);
	CHECK_EQ(rec_ecam[1].base, 0x30000000);
	CHECK_EQ(rec_unit[0].scope_count, 2);
	CHECK_EQ(rec_unit[0].scopes[1].first, 0x8000);
	CHECK_EQ(rec_unit[0].scopes[1].last, 0xffff);

	/* Two SMMUs, each named by one entry of one bridge. */
	tree_qemu(&t);
	t.n_smmu = 2;
	t.smmu[1].name = "smmuv3@9070000";
	t.smmu[1].phandle = 0x8005;
	t.smmu[1].reg = (struct cells)CELLS(0, 0x9070000, 0, 0x20000);
	t.smmu[1].irqs = (struct cells)CELLS(SPI, 0x50, EDGE);
	t.smmu[1].names = (struct names)NAMES("eventq");
	t.ecam[0].map = (struct cells)CELLS(0, SMMU_PH, 0, 0x100, 0x100, 0x8005, 0, 0xff00);
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_unit_n, 2);
	CHECK_EQ(rec_unit[0].scope_count, 1);
	CHECK_EQ(rec_unit[0].scopes[0].last, 0xff);
	CHECK_EQ(rec_unit[1].base, 0x9070000);
	CHECK_EQ(rec_unit[1].irq, 0x50 + 32);
	CHECK_EQ(rec_unit[1].scope_count, 1);
	CHECK_EQ(rec_unit[1].scopes[0].first, 0x100);
	CHECK_EQ(rec_unit[1].scopes[0].last, 0xffff);
	CHECK_EQ(rec_unit[1].scopes[0].stream, 0);

	/* More SMMU nodes than units. */
	tree_qemu(&t);
	t.n_smmu = 10;
	for (u32 i = 0; i < 10; i++) {
		static char names[10][32];
		static u32 regs[10][4];

		snprintf(names[i], sizeof(names[i]), "smmuv3@%x", 0x9100000 + i * 0x20000);
		regs[i][0] = 0;
		regs[i][1] = 0x9100000 + i * 0x20000;
		regs[i][2] = 0;
		regs[i][3] = 0x20000;
		t.smmu[i].name = names[i];
		t.smmu[i].phandle = 0x9000 + i;
		t.smmu[i].reg = (struct cells){ .v = regs[i], .n = 4 };
	}
	run(&t);
	CHECK(logged("dt: more than 8 SMMUs; /smmuv3@9200000 and later ignored"));
	CHECK_EQ(rec_unit_n, IOMMU_MAX_UNITS);
}

static void test_irq(void)
{
	struct tree t;

	tree_qemu(&t);
	t.smmu[0].names = (struct names)NAMES("priq\0cmdq-sync\0gerror");
	t.smmu[0].irqs = (struct cells)CELLS(SPI, 0x4b, EDGE, SPI, 0x4c, EDGE, SPI, 0x4d, EDGE);
	run(&t);
	CHECK(logged("dt: /smmuv3@9050000: no interrupt named eventq; its faults are read only "
		     "when polled"));
	CHECK_EQ(rec_unit_n, 1);
	CHECK_EQ(rec_unit[0].irq, 0);
	CHECK_EQ(rec_unit[0].scope_count, 1); /* the unit stands without its interrupt */

	tree_qemu(&t);
	t.smmu[0].names.len = -1;
	run(&t);
	CHECK(logged("no interrupt named eventq"));
	CHECK_EQ(rec_unit[0].irq, 0);

	/* A names list without its final NUL is no list. */
	tree_qemu(&t);
	t.smmu[0].names = (struct names){ .s = "eventq", .len = 6 };
	run(&t);
	CHECK(logged("no interrupt named eventq"));
	CHECK_EQ(rec_unit[0].irq, 0);

	/* A PPI. */
	tree_qemu(&t);
	t.smmu[0].irqs = (struct cells)CELLS(PPI, 7, EDGE);
	run(&t);
	CHECK(logged("dt: /smmuv3@9050000: its eventq interrupt (type 1, number 7) is not an SPI; "
		     "no fault interrupt"));
	CHECK_EQ(rec_unit[0].irq, 0);

	/* Extended SPI range, or past INTID 1019. */
	tree_qemu(&t);
	t.smmu[0].irqs = (struct cells)CELLS(2, 0, EDGE);
	run(&t);
	CHECK(logged("(type 2, number 0) is not an SPI"));
	CHECK_EQ(rec_unit[0].irq, 0);

	tree_qemu(&t);
	t.smmu[0].irqs = (struct cells)CELLS(SPI, 988, EDGE);
	run(&t);
	CHECK(logged("(type 0, number 988) is not an SPI"));
	CHECK_EQ(rec_unit[0].irq, 0);

	tree_qemu(&t);
	t.smmu[0].irqs = (struct cells)CELLS(SPI, 987, EDGE);
	run(&t);
	CHECK(quiet());
	CHECK_EQ(rec_unit[0].irq, 1019);

	/* Level-triggered. */
	tree_qemu(&t);
	t.smmu[0].irqs = (struct cells)CELLS(SPI, 0x4a, LEVEL);
	run(&t);
	CHECK(logged("its eventq interrupt (SPI 74) is not edge-triggered (flags 0x4)"));
	CHECK_EQ(rec_unit[0].irq, 0);

	/* eventq is the 4th name but interrupts holds 2 (and then 2.5) entries. */
	tree_qemu(&t);
	t.smmu[0].names = (struct names)NAMES("priq\0cmdq-sync\0gerror\0eventq");
	t.smmu[0].irqs = (struct cells)CELLS(SPI, 1, EDGE, SPI, 2, EDGE);
	run(&t);
	CHECK(logged("interrupts has no entry 3 (eventq)"));
	CHECK_EQ(rec_unit[0].irq, 0);

	tree_qemu(&t);
	t.smmu[0].irqs = (struct cells)CELLS(SPI, 0x4a);
	run(&t);
	CHECK(logged("interrupts has no entry 0 (eventq)"));
	CHECK_EQ(rec_unit[0].irq, 0);

	tree_qemu(&t);
	t.smmu[0].irqs = (struct cells)NONE;
	run(&t);
	CHECK(logged("interrupts has no entry 0"));
	CHECK_EQ(rec_unit[0].irq, 0);

	/* An interrupt parent that is nowhere, or not the GIC. */
	tree_qemu(&t);
	t.smmu[0].irq_parent = (struct cells)CELLS(0x77);
	run(&t);
	CHECK(logged("dt: /smmuv3@9050000: its interrupt parent is not the GICv3"));
	CHECK_EQ(rec_unit[0].irq, 0);

	tree_qemu(&t);
	t.smmu[0].irq_parent = (struct cells)CELLS(SMMU_PH);
	run(&t);
	CHECK(logged("its interrupt parent is not the GICv3"));
	CHECK_EQ(rec_unit[0].irq, 0);

	tree_qemu(&t);
	t.smmu[0].irq_parent = (struct cells)CELLS(GIC_PH, 0);
	run(&t);
	CHECK(logged("its interrupt parent is not the GICv3"));
	CHECK_EQ(rec_unit[0].irq, 0);

	tree_qemu(&t);
	t.gic_cells = 2;
	run(&t);
	CHECK(logged("the GICv3's #interrupt-cells is not 3 or more"));
	CHECK_EQ(rec_unit[0].irq, 0);
}

/* Random cells in every property discovery reads: no crash, and only sane output. */
static void test_random(void)
{
	unsigned long long seed = 0x5eed0fd7ull;
	static const u32 phs[] = { SMMU_PH, GIC_PH, 0, 0xffffffff, 0x8005 };

	for (int round = 0; round < 3000; round++) {
		u32 reg[6], br[3], dom[2], map[4 * 6], mask[2], irqs[4 * 3], sreg[5];
		struct tree t;

		tree_qemu(&t);
		for (u32 i = 0; i < 6; i++)
			reg[i] = (u32)unit_rand(&seed) & (i % 2 ? 0xfff00000u : 0xffu);
		for (u32 i = 0; i < 3; i++)
			br[i] = (u32)unit_rand(&seed) % 300;
		dom[0] = (u32)unit_rand(&seed) % 0x10002;
		dom[1] = 0;
		for (u32 i = 0; i < ARRAY_SIZE(map); i++) {
			u64 r = unit_rand(&seed);

			if (i % 4 == 0) /* requester ID base: mostly within 16 bits */
				map[i] = (u32)(r % 0x11000);
			else if (i % 4 == 1) /* mostly the SMMU */
				map[i] = r % 3 ? SMMU_PH : phs[(r >> 8) % ARRAY_SIZE(phs)];
			else if (i % 4 == 2)
				map[i] = (u32)r >> (r % 32);
			else
				map[i] = r % 5 ? (u32)(r % 0x2000) : (u32)(r >> 16);
		}
		mask[0] = unit_rand(&seed) & 1 ? 0xffff : (u32)unit_rand(&seed);
		mask[1] = 0;
		for (u32 i = 0; i < ARRAY_SIZE(irqs); i++)
			irqs[i] = (u32)unit_rand(&seed) % (i % 3 == 1 ? 1100 : 6);
		for (u32 i = 0; i < 5; i++)
			sreg[i] = (u32)unit_rand(&seed) & 0xfffff000u;

		t.ecam[0].reg = (struct cells){ .v = reg, .n = 1 + (int)(unit_rand(&seed) % 6) };
		if (unit_rand(&seed) % 2) /* mostly well formed, for the map to be read */
			t.ecam[0].reg.n = 4;
		t.ecam[0].bus_range = (struct cells){ .v = br, .n = (int)(unit_rand(&seed) % 4) };
		t.ecam[0].domain = (struct cells){ .v = dom, .n = (int)(unit_rand(&seed) % 3) - 1 };
		t.ecam[0].map = (struct cells){ .v = map, .n = (int)(unit_rand(&seed) % 25) - 1 };
		if (unit_rand(&seed) % 2)
			t.ecam[0].map.n = 4 * (1 + (int)(unit_rand(&seed) % 6));
		t.ecam[0].mask = (struct cells){ .v = mask, .n = (int)(unit_rand(&seed) % 3) - 1 };
		t.smmu[0].reg = (struct cells){ .v = sreg, .n = 1 + (int)(unit_rand(&seed) % 5) };
		t.smmu[0].irqs = (struct cells){ .v = irqs, .n = (int)(unit_rand(&seed) % 13) - 1 };
		if (unit_rand(&seed) % 4 == 0)
			t.smmu[0].names = (struct names){ .s = "gerror\0eventq", .len = 14 };
		if (unit_rand(&seed) % 4 == 0)
			t.gic_cells = (u32)(unit_rand(&seed) % 5);
		t.n_smmu = (u32)(unit_rand(&seed) % 8 != 0);
		run(&t);

		CHECK(rec_ecam_n <= 1 && rec_unit_n <= 1);
		for (u32 i = 0; i < rec_ecam_n; i++)
			CHECK(rec_ecam[i].start_bus <= rec_ecam[i].end_bus);
		for (u32 i = 0; i < rec_unit_n; i++) {
			const struct iommu_unit *u = &rec_unit[i];

			CHECK(u->irq == 0 || (u->irq >= 32 && u->irq <= 1019));
			CHECK(u->scope_count <= IOMMU_MAX_SCOPES);
			for (u32 k = 0; k < u->scope_count && k < IOMMU_MAX_SCOPES; k++)
				CHECK(u->scopes[k].kind == IOMMU_SCOPE_RANGE &&
				      u->scopes[k].first <= u->scopes[k].last &&
				      (u64)u->scopes[k].stream + u->scopes[k].last -
						      u->scopes[k].first <=
					      0xffffffffull);
		}
	}
}

/*
 * INTx: QEMU virt's interrupt-map (slot s, pin p -> SPI 3 + (s + p - 1) % 4,
 * level-high; the GIC has 2 address cells) gives the four host lines; a map
 * naming anything else, or cut short, gives none, with a line.
 */
static u32 imap_qemu[16 * 10];

static struct cells imap_build(u32 entries, u32 gic_ph, u32 flags, u32 addr_cells)
{
	u32 at = 0;

	for (u32 e = 0; e < entries; e++) {
		u32 slot = e / 4, pin = e % 4 + 1;

		imap_qemu[at++] = slot << 11;
		imap_qemu[at++] = 0;
		imap_qemu[at++] = 0;
		imap_qemu[at++] = pin;
		imap_qemu[at++] = gic_ph;
		for (u32 a = 0; a < addr_cells; a++)
			imap_qemu[at++] = 0;
		imap_qemu[at++] = SPI;
		imap_qemu[at++] = 3 + (slot + pin - 1) % 4;
		imap_qemu[at++] = flags;
	}
	return (struct cells){ .v = imap_qemu, .n = (int)at };
}

static void test_intx_map(void)
{
	struct tree t;
	u32 lines[8];

	tree_qemu(&t);
	t.gic_addr_cells = 2;
	t.ecam[0].imap = imap_build(16, GIC_PH, 4, 2);
	run(&t);
	CHECK(quiet());
	CHECK_EQ(dt_pci_intx_lines(lines, 8), 4);
	CHECK_EQ(lines[0], 35);
	CHECK_EQ(lines[1], 36);
	CHECK_EQ(lines[2], 37);
	CHECK_EQ(lines[3], 38);
	CHECK_EQ(dt_pci_intx_lines(lines, 2), 2); /* no more than asked */

	/* The GIC without #address-cells: no unit address in the entries. */
	tree_qemu(&t);
	t.ecam[0].imap = imap_build(16, GIC_PH, 4, 0);
	run(&t);
	CHECK_EQ(dt_pci_intx_lines(lines, 8), 4);

	/* No map: no line, nothing said (INTx is then not offered). */
	tree_qemu(&t);
	run(&t);
	CHECK(quiet());
	CHECK_EQ(dt_pci_intx_lines(lines, 8), 0);

	/* Edge-triggered, or a parent that is not the GIC: none of the lines. */
	tree_qemu(&t);
	t.gic_addr_cells = 2;
	t.ecam[0].imap = imap_build(16, GIC_PH, 1, 2);
	run(&t);
	CHECK_EQ(dt_pci_intx_lines(lines, 8), 0);
	CHECK(logged("not a level-high SPI; INTx of its functions is not offered"));
	tree_qemu(&t);
	t.gic_addr_cells = 2;
	t.ecam[0].imap = imap_build(16, SMMU_PH, 4, 2);
	run(&t);
	CHECK_EQ(dt_pci_intx_lines(lines, 8), 0);
	CHECK(logged("does not name a line of the GICv3"));

	/* Cut short in the last entry, and a map of three cells: none. */
	tree_qemu(&t);
	t.gic_addr_cells = 2;
	t.ecam[0].imap = imap_build(16, GIC_PH, 4, 2);
	t.ecam[0].imap.n -= 1;
	run(&t);
	CHECK_EQ(dt_pci_intx_lines(lines, 8), 0);
	tree_qemu(&t);
	t.ecam[0].imap = (struct cells)CELLS(0, 0, 0);
	run(&t);
	CHECK_EQ(dt_pci_intx_lines(lines, 8), 0);
}

/*
 * MSIs: Keel maps DeviceID = requester ID at the ITS, so a bridge must say
 * exactly that (QEMU's identity msi-map, or an msi-parent that is the ITS);
 * anything else, and no guest gets MSIs (with the reason named).
 */
static void test_msi(void)
{
	static const char off[] = "dt: /pcie@10000000: MSIs of guests' PCI functions are not "
				  "offered: ";
	char want[256];
	struct tree t;

	tree_qemu(&t);
	run(&t);
	CHECK(quiet());
	CHECK(dt_pci_msi_rid_is_devid());

	/* No bridge, no functions: nothing to refuse. */
	tree_qemu(&t);
	t.n_ecam = 0;
	run(&t);
	CHECK(dt_pci_msi_rid_is_devid());

	/* The single-parent form names the ITS. */
	tree_qemu(&t);
	t.ecam[0].msi_map = (struct cells)NONE;
	t.ecam[0].msi_parent = (struct cells)CELLS(ITS_PH);
	run(&t);
	CHECK(quiet());
	CHECK(dt_pci_msi_rid_is_devid());

	/* Two identity entries; and a full mask: still the identity. */
	tree_qemu(&t);
	t.ecam[0].msi_map = (struct cells)CELLS(0, ITS_PH, 0, 0x100, 0x100, ITS_PH, 0x100, 0xff00);
	t.ecam[0].msi_mask = (struct cells)CELLS(0xffff);
	run(&t);
	CHECK(quiet());
	CHECK(dt_pci_msi_rid_is_devid());

	struct {
		struct cells map, mask, parent;
		const char *why;
	} bad[] = {
		{ CELLS(0, ITS_PH, 0x10, 0x100), NONE, NONE,
		  "an msi-map entry gives DeviceIDs other than the requester IDs" },
		{ CELLS(0, ITS_PH, 0, 0x100, 0x100, ITS_PH, 0x200, 0x100), NONE, NONE,
		  "an msi-map entry gives DeviceIDs other than the requester IDs" },
		{ CELLS(0, GIC_PH, 0, 0x10000), NONE, NONE,
		  "an msi-map entry names no enabled GICv3 ITS" },
		{ CELLS(0, 0x7777, 0, 0x10000), NONE, NONE,
		  "an msi-map entry names no enabled GICv3 ITS" },
		{ CELLS(0, ITS_PH, 0), NONE, NONE, "its msi-map is not a list of 4-cell entries" },
		{ EMPTY, NONE, NONE, "its msi-map is not a list of 4-cell entries" },
		{ CELLS(0, ITS_PH, 0, 0x10000), CELLS(0xff00), NONE,
		  "its msi-map-mask folds requester IDs together" },
		{ CELLS(0, ITS_PH, 0, 0x10000), CELLS(0xffff, 0), NONE,
		  "its msi-map-mask folds requester IDs together" },
		{ NONE, NONE, NONE, "it names no GICv3 ITS (msi-map or msi-parent)" },
		{ NONE, NONE, CELLS(GIC_PH), "it names no GICv3 ITS (msi-map or msi-parent)" },
		{ NONE, NONE, CELLS(ITS_PH, 0), "it names no GICv3 ITS (msi-map or msi-parent)" },
	};
	for (u32 i = 0; i < ARRAY_SIZE(bad); i++) {
		tree_qemu(&t);
		t.ecam[0].msi_map = bad[i].map;
		t.ecam[0].msi_mask = bad[i].mask;
		t.ecam[0].msi_parent = bad[i].parent;
		run(&t);
		snprintf(want, sizeof(want), "%s%s", off, bad[i].why);
		CHECK(logged(want));
		CHECK(!dt_pci_msi_rid_is_devid());
		CHECK_EQ(rec_ecam_n, 1); /* the bridge itself is still taken */
	}

	/* The ITS disabled, or not there at all. */
	tree_qemu(&t);
	t.its_status = "disabled";
	run(&t);
	CHECK(logged("an msi-map entry names no enabled GICv3 ITS"));
	CHECK(!dt_pci_msi_rid_is_devid());
	tree_qemu(&t);
	t.no_its = true;
	run(&t);
	CHECK(!dt_pci_msi_rid_is_devid());

	/* A second segment's requester IDs would share the ITS's DeviceIDs with the first's. */
	tree_qemu(&t);
	t.n_ecam = 2;
	t.ecam[1].name = "pcie@30000000";
	t.ecam[1].reg = (struct cells)CELLS(0, 0x30000000, 0, 0x10000000);
	t.ecam[1].domain = (struct cells)CELLS(1);
	t.ecam[1].map = (struct cells)NONE;
	run(&t);
	CHECK(logged("dt: /pcie@30000000: MSIs of guests' PCI functions are not offered: it is "
		     "not PCI segment 0"));
	CHECK(!dt_pci_msi_rid_is_devid());
}

int main(void)
{
	test_intx_map();
	test_qemu();
	test_no_smmu();
	test_smmu_without_bridge();
	test_disabled();
	test_bad_reg();
	test_ranges();
	test_ranges_hostile();
	test_bus_range();
	test_domain();
	test_map_shape();
	test_map_phandles();
	test_map_overlap_and_count();
	test_map_mask();
	test_two_segments();
	test_msi();
	test_irq();
	test_random();
	return unit_done("test_dt_pci");
}
