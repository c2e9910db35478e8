/* SPDX-License-Identifier: MIT */
/*
 * aarch64's MSI routing (arch/aarch64/msi.c) with the ITS, the vGIC and the
 * redistributors faked: the LPI tables set up at boot and on each CPU (and
 * refused where the hardware or the device tree says no), the guest's
 * messages checked (only its vGIC's SETSPI_NSR with an MBI INTID), LPIs
 * taken next-fit from the home core's block until it is full, the ITS
 * mapping refused for a target msi.c did not make, and a fired LPI raising
 * its guest's INTID only while its route stands.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/arch.h>
#include <keel/iommu.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/vcpu.h>

#include "../../arch/aarch64/aarch64.h"
#include "../../arch/aarch64/its.h"
#include "../../arch/aarch64/vplat.h"
#include "unit.h"

extern char unit_log[];
extern size_t unit_log_len;

#define SETSPI_NSR 0x08000040ull /* the guest's vGIC's, written out independently */
#define MBI_FIRST 96u
#define MBI_END 160u
#define LPI_FIRST 8192u
#define PER_CPU 64u
#define DOORBELL 0x08090040ull
#define GICD_TYPER_LPIS (1u << 17)
#define GICD_TYPER_ID14 (13u << 19) /* IDbits field: 14 bits */
#define GICR_PROPBASER 0x70
#define GICR_PENDBASER 0x78

/* ---- the world msi.c lives in ---------------------------------------------- */

struct aa64_platform aa64_plat;

static u8 gicd[0x10000] __attribute__((aligned(0x10000)));
static u8 gicr[4][0x20000] __attribute__((aligned(0x10000)));

static bool rid_ok = true;
bool dt_pci_msi_rid_is_devid(void)
{
	return rid_ok;
}

static int its_init_ret, its_mapc_ret, its_map_ret, its_unmap_ret;
static u32 its_inits, mapc_n, map_n, unmap_n;
static u32 mapc_icid[8], mapc_proc[8];
static hpa_t mapc_rd[8];
static u32 map_devid, map_event, map_lpi, map_icid;

int its_init(hpa_t base)
{
	its_inits++;
	CHECK_EQ(base, 0x08080000);
	return its_init_ret;
}

hpa_t its_doorbell(void)
{
	return DOORBELL;
}

int its_map_collection(u32 icid, hpa_t rd_base, u32 rd_processor)
{
	if (mapc_n < 8) {
		mapc_icid[mapc_n] = icid;
		mapc_rd[mapc_n] = rd_base;
		mapc_proc[mapc_n] = rd_processor;
	}
	mapc_n++;
	return its_mapc_ret;
}

int its_map_event(u32 devid, u32 event, u32 lpi, u32 icid)
{
	map_n++;
	map_devid = devid;
	map_event = event;
	map_lpi = lpi;
	map_icid = icid;
	return its_map_ret;
}

int its_unmap_event(u32 devid, u32 event)
{
	unmap_n++;
	map_devid = devid;
	map_event = event;
	return its_unmap_ret;
}

static struct partition *raised_part;
static u32 raised_intid, raised_n;

bool vgic_mbi_raise(struct partition *part, u32 intid)
{
	raised_part = part;
	raised_intid = intid;
	raised_n++;
	return true;
}

/*
 * pmm: host memory, aligned as asked, counted; one size can be refused. What
 * msi.c keeps for good (tables a redistributor was given) is freed at exit.
 */
static u32 pmm_live;
static u64 pmm_refuse;
static void *pmm_held[16];

hpa_t pmm_alloc(u64 size, u64 align)
{
	void *p = NULL;

	if (size == pmm_refuse)
		return 0;
	CHECK_EQ(posix_memalign(&p, align, size), 0);
	memset(p, 0, size);
	for (u32 i = 0; i < ARRAY_SIZE(pmm_held); i++)
		if (!pmm_held[i]) {
			pmm_held[i] = p;
			break;
		}
	pmm_live++;
	return (hpa_t)(uintptr_t)p;
}

void pmm_free(hpa_t pa, u64 size)
{
	(void)size;
	for (u32 i = 0; i < ARRAY_SIZE(pmm_held); i++)
		if (pmm_held[i] == (void *)(uintptr_t)pa)
			pmm_held[i] = NULL;
	free((void *)(uintptr_t)pa);
	pmm_live--;
}

static u64 rd64(const u8 *base, u32 off)
{
	u64 v;

	memcpy(&v, base + off, sizeof(v));
	return v;
}

static void wr32(u8 *base, u32 off, u32 v)
{
	memcpy(base + off, &v, sizeof(v));
}

static void wr64(u8 *base, u32 off, u64 v)
{
	memcpy(base + off, &v, sizeof(v));
}

/* ---- partitions on cores ------------------------------------------------------ */

static struct pcpu cores[3];
static struct vcpu vcpu0[2];
static struct partition parts[2];

static void world_reset(void)
{
	memset(gicd, 0, sizeof(gicd));
	memset(gicr, 0, sizeof(gicr));
	aa64_plat.gicd_base = (hpa_t)(uintptr_t)gicd;
	aa64_plat.its_base = 0x08080000;
	aa64_plat.its_size = 0x20000;
	wr32(gicd, 4, GICD_TYPER_LPIS | GICD_TYPER_ID14 | 7);
	for (u32 i = 0; i < 4; i++)
		wr64(gicr[i], 8, (u64)i << 8 | 1); /* Processor_Number i, PLPIS */
	rid_ok = true;
	its_init_ret = its_mapc_ret = its_map_ret = its_unmap_ret = 0;
	its_inits = mapc_n = map_n = unmap_n = raised_n = 0;
	pmm_refuse = 0;
	unit_log_len = 0;
	unit_log[0] = 0;
	for (u32 i = 0; i < 3; i++)
		cores[i].id = i;
	for (u32 i = 0; i < 2; i++) {
		memset(&parts[i], 0, sizeof(parts[i]));
		vcpu0[i].pcpu = &cores[i + 1];
		parts[i].vcpus[0] = &vcpu0[i];
	}
}

/* ---- boot ---------------------------------------------------------------------- */

static void test_boot(void)
{
	u64 prop, pend;

	/* No ITS, no LPIs, the device tree refusing, the ITS failing: no MSIs, said once. */
	world_reset();
	aa64_plat.its_base = 0;
	msi_init();
	CHECK(!msi_ready());
	CHECK(strstr(unit_log, "gic: no ITS: PCI functions of guests get INTx only"));
	world_reset();
	wr32(gicd, 4, GICD_TYPER_ID14);
	msi_init();
	CHECK(!msi_ready() && strstr(unit_log, "the distributor has no LPIs of 14 ID bits"));
	world_reset();
	wr32(gicd, 4, GICD_TYPER_LPIS | 12u << 19);
	msi_init();
	CHECK(!msi_ready() && strstr(unit_log, "no LPIs of 14 ID bits"));
	world_reset();
	rid_ok = false;
	msi_init();
	CHECK(!msi_ready() && its_inits == 0);
	world_reset();
	its_init_ret = -KEEL_EIO;
	msi_init();
	CHECK(!msi_ready());
	CHECK_EQ(pmm_live, 0); /* the configuration table given back */
	world_reset();
	pmm_refuse = 0x2000;
	msi_init();
	CHECK(!msi_ready() && its_inits == 0);
	/* With MSIs off, a CPU's start touches nothing. */
	msi_cpu_init(1, (hpa_t)(uintptr_t)gicr[1]);
	CHECK_EQ(rd64(gicr[1], GICR_PROPBASER), 0);
	CHECK_EQ(mapc_n, 0);

	world_reset();
	msi_init();
	CHECK(msi_ready());
	CHECK(strstr(unit_log, "gic: ITS at 0x8080000 on: MSIs of PCI functions become LPIs"));
	CHECK_EQ(pmm_live, 1);
	for (u32 i = 0; i < 3; i++)
		msi_cpu_init(i, (hpa_t)(uintptr_t)gicr[i]);
	CHECK_EQ(pmm_live, 4);
	prop = rd64(gicr[1], GICR_PROPBASER);
	pend = rd64(gicr[1], GICR_PENDBASER);
	/* One configuration table, 14 ID bits, write-back, inner shareable. */
	CHECK_EQ(prop & 0x1f, 13);
	CHECK_EQ(prop & ~0xfffull, rd64(gicr[0], GICR_PROPBASER) & ~0xfffull);
	CHECK_EQ((prop >> 7) & 7, 7);
	CHECK_EQ((prop >> 10) & 3, 1);
	/* Every LPI enabled at priority 0xa0, group 1. */
	for (u32 i = 0; i < 8192; i++)
		if (((u8 *)(uintptr_t)(prop & 0xffffffffff000ull))[i] != 0xa3)
			CHECK(false);
	/* A pending table of its own, 64 KiB aligned, zero (PTZ), and LPIs on. */
	CHECK_EQ(pend & 0xffffull & ~0xfffull, 0);
	CHECK(pend >> 62 & 1);
	CHECK((pend & 0xfffff0000ull) != (rd64(gicr[2], GICR_PENDBASER) & 0xfffff0000ull));
	CHECK(gicr[1][0] & 1);
	CHECK_EQ(mapc_n, 3);
	CHECK_EQ(mapc_icid[2], 2);
	CHECK_EQ(mapc_rd[2], (hpa_t)(uintptr_t)gicr[2]);
	CHECK_EQ(mapc_proc[2], 2);

	/* A redistributor without LPIs, one with LPIs already on, a collection refused. */
	wr64(gicr[3], 8, 3u << 8);
	msi_cpu_init(3, (hpa_t)(uintptr_t)gicr[3]);
	CHECK(strstr(unit_log, "gic: cpu 3: its redistributor takes no LPIs: no MSIs there"));
	wr64(gicr[3], 8, 3u << 8 | 1);
	wr32(gicr[3], 0, 1);
	msi_cpu_init(3, (hpa_t)(uintptr_t)gicr[3]);
	CHECK(strstr(unit_log, "gic: cpu 3: LPIs were on before Keel: no MSIs there"));
	CHECK_EQ(rd64(gicr[3], GICR_PROPBASER), 0);
	wr32(gicr[3], 0, 0);
	its_mapc_ret = -KEEL_ETIMEDOUT;
	msi_cpu_init(3, (hpa_t)(uintptr_t)gicr[3]);
	CHECK(strstr(unit_log, "gic: cpu 3: its ITS collection is not mapped: no MSIs there"));
	its_mapc_ret = 0;
	msi_cpu_init(KEEL_MAX_CPUS, (hpa_t)(uintptr_t)gicr[3]);
	CHECK_EQ(mapc_n, 4);
}

/* ---- the guest's messages --------------------------------------------------------- */

static void test_route(void)
{
	struct arch_msi_target t, first;
	struct iommu_msi m;

	/* Only exactly its vGIC's SETSPI_NSR and an MBI INTID. */
	static const struct {
		u64 addr;
		u32 data;
	} bad[] = {
		{ 0xfee00000, 0x45 },
		{ SETSPI_NSR + 8, MBI_FIRST },
		{ SETSPI_NSR - 0x40, MBI_FIRST },
		{ SETSPI_NSR + 0x100000000ull, MBI_FIRST },
		{ SETSPI_NSR, MBI_FIRST - 1 },
		{ SETSPI_NSR, MBI_END },
		{ SETSPI_NSR, 48 },
		{ SETSPI_NSR, 8192 },
		{ SETSPI_NSR, 0xffffffff },
		{ 0, 0 },
	};
	for (u32 i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_EQ(arch_msi_route(&parts[0], bad[i].addr, bad[i].data, &t), -KEEL_EINVAL);

	/* On its home core's block: core 1, LPIs 8256..8319. */
	CHECK_EQ(arch_msi_route(&parts[0], SETSPI_NSR, MBI_FIRST, &first), 0);
	CHECK_EQ(first.cpu, 1);
	CHECK_EQ(first.apic_id, 1);
	CHECK_EQ(first.vector, LPI_FIRST + PER_CPU);
	CHECK_EQ(arch_msi_route(&parts[1], SETSPI_NSR, MBI_END - 1, &t), 0);
	CHECK_EQ(t.vector, LPI_FIRST + 2 * PER_CPU);

	/* Fired: the guest's INTID, its partition. */
	msi_lpi_fired(first.vector);
	CHECK_EQ(raised_n, 1);
	CHECK(raised_part == &parts[0]);
	CHECK_EQ(raised_intid, MBI_FIRST);
	msi_lpi_fired(t.vector);
	CHECK(raised_part == &parts[1] && raised_intid == MBI_END - 1);

	/* The ITS mapping: only for a target routed here, to the doorbell. */
	CHECK_EQ(arch_msi_remap(0x28, 3, &first, &m), 0);
	CHECK_EQ(map_devid, 0x28);
	CHECK_EQ(map_event, 3);
	CHECK_EQ(map_lpi, first.vector);
	CHECK_EQ(map_icid, 1);
	CHECK_EQ(m.addr, DOORBELL);
	CHECK_EQ(m.data, 3);
	CHECK_EQ(arch_msi_doorbell(), 0x08090000);
	struct arch_msi_target forged[] = {
		{ .cpu = 2, .apic_id = 2, .vector = first.vector }, /* another core's */
		{ .cpu = 1, .apic_id = 2, .vector = first.vector },
		{ .cpu = 1, .apic_id = 1, .vector = 8191 },
		{ .cpu = 1, .apic_id = 1, .vector = LPI_FIRST + KEEL_MAX_CPUS * PER_CPU },
		{ .cpu = KEEL_MAX_CPUS, .apic_id = KEEL_MAX_CPUS, .vector = first.vector },
		{ .cpu = 3, .apic_id = 3, .vector = LPI_FIRST + 3 * PER_CPU }, /* no MSIs there */
	};
	for (u32 i = 0; i < ARRAY_SIZE(forged); i++)
		CHECK_EQ(arch_msi_remap(0x28, 4, &forged[i], &m), -KEEL_EINVAL);
	CHECK_EQ(map_n, 1);
	its_map_ret = -KEEL_ENOSPC;
	CHECK_EQ(arch_msi_remap(0x28, 4, &first, &m), -KEEL_ENOSPC);
	its_map_ret = 0;
	arch_msi_unmap(0x28, 3);
	CHECK_EQ(unmap_n, 1);
	its_unmap_ret = -KEEL_ETIMEDOUT;
	arch_msi_unmap(0x28, 3);
	CHECK(strstr(unit_log, "gic: the ITS kept requester 0x0028's event 3"));
	its_unmap_ret = 0;

	/* Unrouted: a late LPI reaches nobody; a stray one is said once. */
	arch_msi_unroute(&first);
	msi_lpi_fired(first.vector);
	CHECK_EQ(raised_n, 2);
	msi_lpi_fired(LPI_FIRST + KEEL_MAX_CPUS * PER_CPU);
	msi_lpi_fired(8000);
	CHECK_EQ(raised_n, 2);
	CHECK(strstr(unit_log, "is none of Keel's"));
	arch_msi_unroute(&(struct arch_msi_target){ .vector = 12 }); /* ignored */

	/* Next-fit: the freed LPI comes back last; a full block is -KEEL_ENOSPC. */
	u32 got = 0;
	while (arch_msi_route(&parts[0], SETSPI_NSR, MBI_FIRST + 1, &t) == 0) {
		CHECK_EQ(t.cpu, 1);
		CHECK(t.vector >= LPI_FIRST + PER_CPU && t.vector < LPI_FIRST + 2 * PER_CPU);
		got++;
		if (got == PER_CPU)
			CHECK_EQ(t.vector, first.vector);
	}
	CHECK_EQ(got, PER_CPU);
	CHECK_EQ(arch_msi_route(&parts[0], SETSPI_NSR, MBI_FIRST, &t), -KEEL_ENOSPC);
	/* Another core's block is its own. */
	CHECK_EQ(arch_msi_route(&parts[1], SETSPI_NSR, MBI_FIRST, &t), 0);

	/* A partition whose home core has no MSIs, or no home core. */
	vcpu0[0].pcpu = &cores[0];
	cores[0].id = 3;
	CHECK_EQ(arch_msi_route(&parts[0], SETSPI_NSR, MBI_FIRST, &t), -KEEL_ENOTSUP);
	vcpu0[0].pcpu = NULL;
	CHECK_EQ(arch_msi_route(&parts[0], SETSPI_NSR, MBI_FIRST, &t), -KEEL_EINVAL);
	parts[0].vcpus[0] = NULL;
	CHECK_EQ(arch_msi_route(&parts[0], SETSPI_NSR, MBI_FIRST, &t), -KEEL_EINVAL);
}

int main(void)
{
	test_boot();
	test_route();
	for (u32 i = 0; i < ARRAY_SIZE(pmm_held); i++)
		free(pmm_held[i]);
	return unit_done("test_msi");
}
