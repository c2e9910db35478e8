/* SPDX-License-Identifier: MIT */
/*
 * MSIs of partitions' PCI functions on aarch64.
 *
 * The guest sees GICv3 MBI: its device tree makes the vGIC an msi-controller
 * with mbi-ranges, so its drivers program each MSI / MSI-X entry with the
 * vGIC's GICD_SETSPI_NSR and an INTID of the MBI range (vgic.c). A device
 * never writes that: the guest's table is Keel's model (vfio/msix.c), and the
 * device's own entry gets the host GICv3 ITS's doorbell and an event number.
 * The ITS turns the write into an LPI on the partition's home core (its vCPU
 * 0's), and that LPI's handler raises the guest's MBI INTID. MBI was chosen
 * over an emulated ITS because it needs no guest-visible tables in guest
 * memory for Keel to parse and keep coherent, and Debian's kernels drive it;
 * over offering MBI on the host because QEMU's (and most) GICv3s have no
 * MBI, only an ITS.
 *
 * A device can raise only its own events: the ITS keys every translation by
 * the DeviceID the root complex gives the write (its requester ID), and only
 * the events Keel mapped for that device exist. Those lead only to LPIs
 * routed to its own partition.
 *
 * LPIs: INTID 8192 + cpu * MSI_LPIS_PER_CPU + slot, each core's block its
 * own. Every LPI is enabled in the shared configuration table once, at boot:
 * only the ITS makes LPIs, and only for events Keel mapped, so the table
 * never changes and no INV is ever needed. Routes are kept as on x86_64
 * (msi.c there): a handler marks its route busy while it reads it;
 * arch_msi_unroute clears the partition and waits for the route to be idle.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/iommu.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/spinlock.h>
#include <keel/vcpu.h>

#include "aarch64.h"
#include "dt_pci.h"
#include "its.h"
#include "vplat.h"

#define MSI_LPIS_PER_CPU 64u
#define LPI_PROP_BYTES ((1u << GIC_LPI_ID_BITS) - GIC_LPI_FIRST)
#define LPI_PEND_BYTES ((1u << GIC_LPI_ID_BITS) / 8)
#define LPI_PEND_ALIGN 0x10000u
/* Configuration byte: priority 0xa0 (the hypervisor's), bit 1 RES1, enabled. */
#define LPI_PROP_ON (0xa0u | BIT(1) | BIT(0))

_Static_assert(ITS_EVENTS == IOMMU_IRTES, "an IOMMU's remapping index is an ITS event");

_Static_assert(GIC_LPI_FIRST + KEEL_MAX_CPUS * MSI_LPIS_PER_CPU <= 1u << GIC_LPI_ID_BITS,
	       "every core's LPI block below the configured ID bits");

#define GICD_TYPER 0x0004
#define GICD_TYPER_LPIS BIT(17)
#define GICD_TYPER_IDBITS(t) ((((t) >> 19) & 0x1f) + 1)
#define GICR_CTLR 0x0000
#define GICR_CTLR_ENABLE_LPIS BIT(0)
#define GICR_TYPER 0x0008
#define GICR_TYPER_PLPIS BIT(0)
#define GICR_TYPER_PROC(t) ((u32)((t) >> 8) & 0xffffu)
#define GICR_PROPBASER 0x0070
#define GICR_PENDBASER 0x0078
#define GICR_BASER_WB (7ull << 7) /* inner write-back, read and write allocate */
#define GICR_BASER_NC (1ull << 7) /* inner non-cacheable */
#define GICR_BASER_CACHE (7ull << 7)
#define GICR_BASER_IS (1ull << 10) /* inner shareable */
#define GICR_BASER_SH (3ull << 10)
#define GICR_PENDBASER_PTZ BIT(62) /* the table is zero */

/* The guest's message: GICD_SETSPI_NSR of its vGIC. */
#define GUEST_SETSPI_NSR (VPLAT_GICD_BASE + 0x40)

struct msi_route {
	struct partition *part; /* NULL: free; atomics */
	u32 busy; /* handlers using it now; atomics */
	u32 intid; /* the guest's MBI INTID */
};

static struct msi_route msi_routes[KEEL_MAX_CPUS][MSI_LPIS_PER_CPU];
static u32 msi_next[KEEL_MAX_CPUS]; /* where the next search starts */
static bool msi_cpu_on[KEEL_MAX_CPUS]; /* its redistributor takes LPIs, its collection mapped */
static struct spinlock msi_lock = SPINLOCK_INIT;
static hpa_t lpi_prop; /* the configuration table all redistributors share */
static bool msi_on;

bool msi_ready(void)
{
	return msi_on;
}

/*
 * Boot, boot CPU, distributor up: the LPI configuration table and the ITS.
 * Without an ITS (or LPIs), guests' PCI functions get INTx only.
 */
void msi_init(void)
{
	u32 typer = mmio_read32(aa64_plat.gicd_base + GICD_TYPER);
	u8 *prop;

	if (!aa64_plat.its_base) {
		pr_info("gic: no ITS: PCI functions of guests get INTx only");
		return;
	}
	if (!dt_pci_msi_rid_is_devid()) {
		pr_warn("gic: PCI functions of guests get INTx only (the host bridges above)");
		return;
	}
	if (!(typer & GICD_TYPER_LPIS) || GICD_TYPER_IDBITS(typer) < GIC_LPI_ID_BITS) {
		pr_warn("gic: the distributor has no LPIs of %u ID bits: PCI functions of guests "
			"get INTx only",
			GIC_LPI_ID_BITS);
		return;
	}
	lpi_prop = pmm_alloc(ALIGN_UP(LPI_PROP_BYTES, PAGE_SIZE), PAGE_SIZE);
	if (!lpi_prop) {
		pr_warn("gic: no memory for the LPI table: PCI functions of guests get INTx only");
		return;
	}
	prop = hpa_to_hva(lpi_prop);
	memset(prop, LPI_PROP_ON, LPI_PROP_BYTES);
	arch_dma_clean(prop, LPI_PROP_BYTES);
	if (its_init(aa64_plat.its_base)) {
		pmm_free(lpi_prop, ALIGN_UP(LPI_PROP_BYTES, PAGE_SIZE));
		lpi_prop = 0;
		pr_warn("gic: PCI functions of guests get INTx only");
		return;
	}
	msi_on = true;
	pr_info("gic: ITS at 0x%llx on: MSIs of PCI functions become LPIs",
		(unsigned long long)aa64_plat.its_base);
}

/*
 * Write a redistributor's table base @v; if the redistributor keeps its
 * tables non-shareable, ask for non-cacheable instead (the tables were
 * cleaned to memory when written), as the GIC then does not snoop.
 */
static void gicr_table_base(hpa_t rd, u32 off, u64 v)
{
	mmio_write64(rd + off, v);
	if (!(mmio_read64(rd + off) & GICR_BASER_SH))
		mmio_write64(rd + off, (v & ~(GICR_BASER_CACHE | GICR_BASER_SH)) | GICR_BASER_NC);
}

/*
 * Each CPU as it starts, after msi_init, with its redistributor @rd: that
 * takes LPIs (the shared configuration, a pending table of its own) and ITS
 * collection @cpu (the CPU's id) is mapped to it. A CPU that cannot gets no MSIs:
 * a partition whose home core it is gets INTx only.
 */
void msi_cpu_init(u32 cpu, hpa_t rd)
{
	hpa_t pend;
	u64 typer;

	if (!msi_on || cpu >= KEEL_MAX_CPUS)
		return;
	typer = mmio_read64(rd + GICR_TYPER);
	if (!(typer & GICR_TYPER_PLPIS)) {
		pr_warn("gic: cpu %u: its redistributor takes no LPIs: no MSIs there", cpu);
		return;
	}
	/* EnableLPIs may be impossible to clear; tables set by someone else are not ours. */
	if (mmio_read32(rd + GICR_CTLR) & GICR_CTLR_ENABLE_LPIS) {
		pr_warn("gic: cpu %u: LPIs were on before Keel: no MSIs there", cpu);
		return;
	}
	pend = pmm_alloc(ALIGN_UP(LPI_PEND_BYTES, PAGE_SIZE), LPI_PEND_ALIGN);
	if (!pend) {
		pr_warn("gic: cpu %u: no memory for its LPI pending table: no MSIs there", cpu);
		return;
	}
	arch_dma_clean(hpa_to_hva(pend), LPI_PEND_BYTES);
	gicr_table_base(rd, GICR_PROPBASER,
			lpi_prop | GICR_BASER_WB | GICR_BASER_IS | (GIC_LPI_ID_BITS - 1));
	gicr_table_base(rd, GICR_PENDBASER,
			pend | GICR_BASER_WB | GICR_BASER_IS | GICR_PENDBASER_PTZ);
	dsb(sy);
	mmio_write32(rd + GICR_CTLR, mmio_read32(rd + GICR_CTLR) | GICR_CTLR_ENABLE_LPIS);
	dsb(sy);
	if (its_map_collection(cpu, rd, GICR_TYPER_PROC(typer))) {
		pr_warn("gic: cpu %u: its ITS collection is not mapped: no MSIs there", cpu);
		return;
	}
	WRITE_ONCE(msi_cpu_on[cpu], true);
}

/* What the guest's MBI message must be: its vGIC's SETSPI_NSR, an MBI INTID. */
static bool msi_guest_message_ok(u64 addr, u32 data)
{
	u32 first = GIC_SPI_BASE + VGIC_MBI_FIRST_SPI;

	return addr == GUEST_SETSPI_NSR && data >= first && data < first + VGIC_MBI_SPIS;
}

int arch_msi_route(struct partition *part, u64 addr, u32 data, struct arch_msi_target *t)
{
	const struct vcpu *home = part->vcpus[0];
	unsigned long flags;
	u32 cpu, i;

	if (!msi_on)
		return -KEEL_ENOTSUP;
	if (!msi_guest_message_ok(addr, data))
		return -KEEL_EINVAL;
	if (!home || !home->pcpu || home->pcpu->id >= KEEL_MAX_CPUS)
		return -KEEL_EINVAL;
	cpu = home->pcpu->id;
	if (!READ_ONCE(msi_cpu_on[cpu]))
		return -KEEL_ENOTSUP;
	flags = spin_lock_irqsave(&msi_lock);
	for (i = 0; i < MSI_LPIS_PER_CPU; i++) {
		u32 slot = (msi_next[cpu] + i) % MSI_LPIS_PER_CPU;
		struct msi_route *r = &msi_routes[cpu][slot];

		if (__atomic_load_n(&r->part, __ATOMIC_ACQUIRE))
			continue;
		r->intid = data;
		__atomic_store_n(&r->part, part, __ATOMIC_RELEASE);
		msi_next[cpu] = (slot + 1) % MSI_LPIS_PER_CPU;
		t->cpu = cpu;
		t->apic_id = cpu; /* the ITS collection of that core */
		t->vector = GIC_LPI_FIRST + cpu * MSI_LPIS_PER_CPU + slot;
		break;
	}
	spin_unlock_irqrestore(&msi_lock, flags);
	return i < MSI_LPIS_PER_CPU ? 0 : -KEEL_ENOSPC;
}

/* The route of LPI @lpi, or NULL if @lpi is none of Keel's. */
static struct msi_route *msi_route_of(u32 lpi)
{
	u32 n = lpi - GIC_LPI_FIRST;

	if (lpi < GIC_LPI_FIRST || n >= KEEL_MAX_CPUS * MSI_LPIS_PER_CPU)
		return NULL;
	return &msi_routes[n / MSI_LPIS_PER_CPU][n % MSI_LPIS_PER_CPU];
}

void arch_msi_unroute(const struct arch_msi_target *t)
{
	struct msi_route *r = msi_route_of(t->vector);

	if (!r)
		return;
	__atomic_store_n(&r->part, NULL, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&r->busy, __ATOMIC_SEQ_CST))
		arch_cpu_relax();
}

/* LPI @intid fired here (gic.c): the guest MBI its route names. */
void msi_lpi_fired(u32 intid)
{
	struct msi_route *r = msi_route_of(intid);
	struct partition *part;

	if (!r) {
		pr_warn_once("gic: LPI %u is none of Keel's", intid);
		return;
	}
	__atomic_fetch_add(&r->busy, 1, __ATOMIC_SEQ_CST);
	part = __atomic_load_n(&r->part, __ATOMIC_SEQ_CST);
	/* NULL: one the ITS had made before its event was discarded. */
	if (part)
		vgic_mbi_raise(part, r->intid);
	__atomic_fetch_sub(&r->busy, 1, __ATOMIC_RELEASE);
}

int arch_msi_remap(u16 rid, u32 event, const struct arch_msi_target *t, struct iommu_msi *msi)
{
	int ret;

	if (!msi_on)
		return -KEEL_ENOTSUP;
	if (t->cpu >= KEEL_MAX_CPUS || !READ_ONCE(msi_cpu_on[t->cpu]) || t->apic_id != t->cpu ||
	    !msi_route_of(t->vector) || (t->vector - GIC_LPI_FIRST) / MSI_LPIS_PER_CPU != t->cpu)
		return -KEEL_EINVAL;
	ret = its_map_event(rid, event, t->vector, t->apic_id);
	if (ret)
		return ret;
	msi->addr = its_doorbell();
	msi->data = event;
	return 0;
}

void arch_msi_unmap(u16 rid, u32 event)
{
	if (msi_on && its_unmap_event(rid, event))
		pr_err("gic: the ITS kept requester 0x%04x's event %u", rid, event);
}

hpa_t arch_msi_doorbell(void)
{
	return msi_on ? ALIGN_DOWN(its_doorbell(), PAGE_SIZE) : 0;
}
