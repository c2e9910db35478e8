/* SPDX-License-Identifier: MIT */
/*
 * The physical GICv3 as the hypervisor uses it: affinity routing, one
 * redistributor per CPU with the hypervisor's own SGI and PPIs enabled, the
 * system-register CPU interface at EL2. Every SPI is off but the IOMMUs'
 * wired fault interrupts, which the boot CPU takes itself: no physical SPI
 * reaches a guest.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/iommu.h>
#include <keel/pcpu.h>
#include <keel/vfio.h>

#include "aarch64.h"
#include "dt_pci.h"
#include "vplat.h"

#define GICD_CTLR 0x0000
#define GICD_CTLR_RWP BIT(31)
#define GICD_CTLR_ARE_NS BIT(4)
#define GICD_CTLR_ENABLE_G1 BIT(1)
#define GICD_CTLR_ENABLE_G0 BIT(0)
#define GICD_TYPER 0x0004
#define GICD_IGROUPR 0x0080
#define GICD_ISENABLER 0x0100
#define GICD_ICENABLER 0x0180
#define GICD_IPRIORITYR 0x0400
#define GICD_ICFGR 0x0c00
#define GICD_IROUTER 0x6000 /* 64 bits per SPI: affinity, IRM = 0 */
#define GICD_IROUTER_AFF_MASK 0xff00ffffffull /* Aff3, Aff2, Aff1, Aff0 as in MPIDR */

#define GICR_FRAME_SIZE 0x20000 /* RD_base + SGI_base */
#define GICR_CTLR 0x0000
#define GICR_CTLR_RWP BIT(3)
#define GICR_TYPER 0x0008
#define GICR_TYPER_VLPIS BIT(1)
#define GICR_TYPER_LAST BIT(4)
#define GICR_WAKER 0x0014
#define GICR_WAKER_SLEEP BIT(1)
#define GICR_WAKER_ASLEEP BIT(2)
#define GICR_SGI 0x10000
#define GICR_IGROUPR0 (GICR_SGI + 0x0080)
#define GICR_ISENABLER0 (GICR_SGI + 0x0100)
#define GICR_ICENABLER0 (GICR_SGI + 0x0180)
#define GICR_ICPENDR0 (GICR_SGI + 0x0280)
#define GICR_ICACTIVER0 (GICR_SGI + 0x0380)
#define GICR_IPRIORITYR (GICR_SGI + 0x0400)

#define GIC_IPI_SGI 0
#define GIC_SPI_FIRST 32
#define GIC_PRIO_HYP 0xa0 /* every interrupt the hypervisor takes */
#define GIC_OWN_SPIS 12 /* SPIs the hypervisor takes: IOMMU faults, PCI INTx lines */
#define ICC_CTLR_EOIMODE BIT(1)

/*
 * What the hypervisor takes on each CPU: its IPI, GIC maintenance, its timer,
 * the guest's two timers, and the PMU overflow where guests own the PMU.
 */
static const u32 gic_ppis[] = { GIC_IPI_SGI,	GIC_PPI_MAINT,	    GIC_PPI_HYP_TIMER,
				GIC_PPI_VTIMER, GIC_PPI_PHYS_TIMER, GIC_PPI_PMU };
#define GIC_SPURIOUS_FIRST 1020
#define GIC_IRQ_BATCH 16 /* interrupts handled per entry before returning */
#define GIC_POLL_LIMIT 1000000

#define ICC_SRE_SRE BIT(0)
#define ICC_SRE_DFB BIT(1)
#define ICC_SRE_DIB BIT(2)
#define ICC_SRE_ENABLE BIT(3)

/*
 * The SPIs the hypervisor takes itself, on the boot CPU: the IOMMUs' wired
 * fault interrupts (edge; recorded at boot by arch_iommu_fault_irq, routed
 * once the distributor is set up: gic_dist_ready) and the host lines of PCI
 * INTx (level; arch_intx_listen). Entries are only added: one writer at a
 * time (boot, then vfio's INTx lock), each entry complete before the count
 * that publishes it; gic_dispatch reads them.
 */
enum gic_spi_use {
	GIC_SPI_IOMMU_FAULT = 1,
	GIC_SPI_PCI_INTX = 2,
};

struct gic_spi {
	u32 intid;
	u8 use; /* enum gic_spi_use */
	u8 level; /* level-sensitive (else edge) */
	u8 off; /* turned off for good (an INTx line that kept firing for nobody) */
	u8 pad;
};

static struct gic_spi gic_spis[GIC_OWN_SPIS];
static u32 gic_spi_count;
static bool gic_dist_ready;

static bool gic_wait_clear(hpa_t reg, u32 bit)
{
	for (int i = 0; i < GIC_POLL_LIMIT; i++) {
		if (!(mmio_read32(reg) & bit))
			return true;
		arch_cpu_relax();
	}
	return false;
}

/* One past the highest SPI INTID the distributor implements. */
static u32 gic_spi_end(hpa_t d)
{
	u32 lines = ((mmio_read32(d + GICD_TYPER) & 0x1f) + 1) * 32;

	return MIN(lines, (u32)GIC_SPURIOUS_FIRST);
}

/*
 * SPI @irq: Group 1, the hypervisor's priority, edge-triggered or
 * level-sensitive (@level), routed to the boot CPU, then enabled. Its
 * configuration changes only while it is off (GICD_ICFGR, IROUTER), and the
 * disable has taken effect (RWP) before that.
 */
static void gic_spi_route(u32 irq, bool level)
{
	hpa_t d = aa64_plat.gicd_base;
	u32 bit = BIT(irq % 32);
	hpa_t cfg = d + GICD_ICFGR + (irq / 16) * 4;

	mmio_write32(d + GICD_ICENABLER + (irq / 32) * 4, bit);
	gic_wait_clear(d + GICD_CTLR, GICD_CTLR_RWP);
	mmio_write32(d + GICD_IGROUPR + (irq / 32) * 4,
		     mmio_read32(d + GICD_IGROUPR + (irq / 32) * 4) | bit);
	mmio_write8(d + GICD_IPRIORITYR + irq, GIC_PRIO_HYP);
	mmio_write32(cfg, level ? mmio_read32(cfg) & ~BIT(2 * (irq % 16) + 1)
				: mmio_read32(cfg) | BIT(2 * (irq % 16) + 1));
	mmio_write64(d + GICD_IROUTER + 8ull * irq, pcpus[0].hwid & GICD_IROUTER_AFF_MASK);
	mmio_write32(d + GICD_ISENABLER + (irq / 32) * 4, bit);
}

/* SPI @irq taken for @use (routed now if the distributor is ready); false if it cannot be. */
static bool gic_spi_take(u32 irq, enum gic_spi_use use, bool level)
{
	hpa_t d = aa64_plat.gicd_base;
	u32 end;

	if (!d)
		return false;
	end = gic_spi_end(d);
	if (irq < GIC_SPI_FIRST || irq >= end) {
		pr_warn("gic: interrupt %u is no SPI of this distributor (32-%u)", irq, end - 1);
		return false;
	}
	for (u32 i = 0; i < gic_spi_count; i++)
		if (gic_spis[i].intid == irq)
			return gic_spis[i].use ==
			       use; /* shared by two units: one handler reads all */
	if (gic_spi_count >= GIC_OWN_SPIS) {
		pr_warn("gic: more than %u SPIs for the hypervisor; SPI %u not routed",
			GIC_OWN_SPIS, irq);
		return false;
	}
	gic_spis[gic_spi_count] = (struct gic_spi){ .intid = irq, .use = (u8)use, .level = level };
	__atomic_thread_fence(__ATOMIC_RELEASE);
	WRITE_ONCE(gic_spi_count, gic_spi_count + 1);
	if (gic_dist_ready)
		gic_spi_route(irq, level);
	return true;
}

/*
 * An IOMMU's wired fault interrupt. Boot, on the boot CPU: iommu_init runs
 * before gic_init, so the SPI is only recorded then, and gic_init routes it.
 */
bool arch_iommu_fault_irq(u32 irq)
{
	return gic_spi_take(irq, GIC_SPI_IOMMU_FAULT, false);
}

/*
 * The host lines of PCI INTx (dt_pci.c read them from the host bridges'
 * interrupt-map): level-sensitive, to the boot CPU, whose handler asks
 * vfio_intx_fired() which function pulls the line. The first time a guest
 * is shown a function, from then on.
 */
int arch_intx_listen(void)
{
	u32 lines[GIC_OWN_SPIS], n = dt_pci_intx_lines(lines, GIC_OWN_SPIS), taken = 0;

	for (u32 i = 0; i < n; i++)
		taken += gic_spi_take(lines[i], GIC_SPI_PCI_INTX, true);
	if (!taken) {
		pr_warn("gic: INTx of PCI functions is not offered: the host bridges name no line "
			"Keel could take");
		return -KEEL_ENOTSUP;
	}
	pr_info("gic: INTx of PCI functions: %u host line%s listened to, on cpu 0", taken,
		taken == 1 ? "" : "s");
	return 0;
}

/* One of the hypervisor's SPIs fired: the entry for @intid, or NULL. */
static struct gic_spi *gic_own_spi(u32 intid)
{
	u32 n = READ_ONCE(gic_spi_count);

	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	for (u32 i = 0; i < n; i++)
		if (gic_spis[i].intid == intid)
			return &gic_spis[i];
	return NULL;
}

/* An INTx line that keeps firing with no function asserting: off for good. */
static void gic_spi_off(struct gic_spi *e)
{
	hpa_t d = aa64_plat.gicd_base;

	mmio_write32(d + GICD_ICENABLER + (e->intid / 32) * 4, BIT(e->intid % 32));
	e->off = 1;
	pr_err("gic: SPI %u keeps interrupting with no assigned PCI function asserting INTx; "
	       "off for good",
	       e->intid);
}

static void gic_own_spi_handle(struct gic_spi *e)
{
	if (e->use == GIC_SPI_IOMMU_FAULT)
		iommu_fault_event();
	else if (e->use == GIC_SPI_PCI_INTX && !e->off && !vfio_intx_fired(e->intid))
		gic_spi_off(e);
}

/* Distributor: affinity routing on, Group 1 on, every SPI off but the IOMMUs' fault ones. */
int gic_init(void)
{
	hpa_t d = aa64_plat.gicd_base;
	u32 ctlr, lines;

	if (!d)
		return -KEEL_ENOSYS;
	ctlr = mmio_read32(d + GICD_CTLR);
	if (!(ctlr & GICD_CTLR_ARE_NS)) {
		/* ARE may only change with the groups disabled. */
		mmio_write32(d + GICD_CTLR, 0);
		gic_wait_clear(d + GICD_CTLR, GICD_CTLR_RWP);
		mmio_write32(d + GICD_CTLR, GICD_CTLR_ARE_NS);
		gic_wait_clear(d + GICD_CTLR, GICD_CTLR_RWP);
		ctlr = GICD_CTLR_ARE_NS;
	}
	/* Every SPI off; the IOMMUs' fault interrupts (arch_iommu_fault_irq) come back below. */
	lines = gic_spi_end(d);
	for (u32 i = GIC_SPI_FIRST; i < lines; i += 32)
		mmio_write32(d + GICD_ICENABLER + i / 8, 0xffffffff);
	mmio_write32(d + GICD_CTLR, ctlr | GICD_CTLR_ENABLE_G1);
	if (!gic_wait_clear(d + GICD_CTLR, GICD_CTLR_RWP))
		return -KEEL_EIO;
	for (u32 i = 0; i < gic_spi_count; i++) {
		gic_spi_route(gic_spis[i].intid, gic_spis[i].level);
		pr_info("gic: interrupt %u (an SPI: %s) routed to cpu 0", gic_spis[i].intid,
			gic_spis[i].use == GIC_SPI_IOMMU_FAULT ? "IOMMU faults" : "PCI INTx");
	}
	gic_dist_ready = true;
	msi_init();
	return 0;
}

/* The redistributor frame whose affinity matches @mpidr, or 0. */
static hpa_t gic_find_redist(u64 mpidr, u32 *index)
{
	u64 aff = ((mpidr >> 32) & 0xff) << 24 | (mpidr & 0xffffff);
	u32 n = 0;

	for (u32 r = 0; r < aa64_plat.gicr_count; r++) {
		hpa_t base = aa64_plat.gicr_base[r];
		hpa_t end = base + aa64_plat.gicr_size[r];

		while (base + GICR_FRAME_SIZE <= end) {
			u64 typer = mmio_read64(base + GICR_TYPER);

			if ((typer >> 32) == aff) {
				*index = n;
				return base;
			}
			n++;
			base += (typer & GICR_TYPER_VLPIS) ? 2 * GICR_FRAME_SIZE : GICR_FRAME_SIZE;
			if (typer & GICR_TYPER_LAST)
				break;
		}
	}
	return 0;
}

/* This CPU's redistributor and CPU interface: SGI 0 only, Group 1. */
int gic_cpu_init(struct pcpu *cpu)
{
	u64 mpidr = read_sysreg(mpidr_el1);
	u32 index = 0;
	hpa_t rd = gic_find_redist(mpidr, &index);

	if (!rd) {
		pr_err("gic: no redistributor for mpidr 0x%llx", (unsigned long long)mpidr);
		return -KEEL_ENOSYS;
	}
	cpu->arch.gicr = rd;
	cpu->arch.gicr_index = index;

	mmio_write32(rd + GICR_WAKER, mmio_read32(rd + GICR_WAKER) & ~GICR_WAKER_SLEEP);
	if (!gic_wait_clear(rd + GICR_WAKER, GICR_WAKER_ASLEEP)) {
		pr_err("gic: redistributor 0x%llx does not wake", (unsigned long long)rd);
		return -KEEL_EIO;
	}
	mmio_write32(rd + GICR_ICENABLER0, 0xffffffff);
	gic_wait_clear(rd + GICR_CTLR, GICR_CTLR_RWP);
	mmio_write32(rd + GICR_ICPENDR0, 0xffffffff);
	mmio_write32(rd + GICR_IGROUPR0, 0xffffffff);
	mmio_write32(rd + GICR_ICACTIVER0, 0xffffffff);
	for (u32 i = 0; i < ARRAY_SIZE(gic_ppis); i++)
		mmio_write8(rd + GICR_IPRIORITYR + gic_ppis[i], GIC_PRIO_HYP);
	for (u32 i = 0; i < ARRAY_SIZE(gic_ppis); i++)
		mmio_write32(rd + GICR_ISENABLER0, BIT(gic_ppis[i]));

	write_sysreg(ICC_SRE_EL2, ICC_SRE_SRE | ICC_SRE_DFB | ICC_SRE_DIB | ICC_SRE_ENABLE);
	isb();
	write_sysreg(ICC_PMR_EL1, 0xff);
	/* EOImode 1: EOIR only drops priority, so the vtimer can stay active for the guest. */
	write_sysreg(ICC_CTLR_EL1, ICC_CTLR_EOIMODE);
	write_sysreg(ICC_IGRPEN1_EL1, 1);
	vgic_cpu_init();
	msi_cpu_init(cpu->id, rd);
	return 0;
}

/* Deactivate PPI @intid of this CPU (one left active for a guest that is gone). */
void gic_ppi_deactivate(u32 intid)
{
	hpa_t rd = pcpu_this()->arch.gicr;

	if (rd && intid < 32)
		mmio_write32(rd + GICR_ICACTIVER0, BIT(intid));
}

void arch_ipi_send(const struct pcpu *cpu)
{
	u64 mpidr = cpu->hwid; /* MPIDR affinity from discovery */
	u64 aff0 = mpidr & 0xff;
	u64 v;

	v = BIT(aff0 & 0xf) | ((mpidr >> 8) & 0xff) << 16 | (u64)GIC_IPI_SGI << 24 |
	    ((mpidr >> 16) & 0xff) << 32 | (aff0 >> 4) << 44 | ((mpidr >> 32) & 0xff) << 48;
	dsb(ishst);
	write_sysreg(ICC_SGI1R_EL1, v);
	isb();
}

/* Handle @intid; true if it stays active (handed to a guest). */
static bool gic_dispatch(u32 intid)
{
	struct gic_spi *own;

	switch (intid) {
	case GIC_IPI_SGI:
		pcpu_ipi_handler();
		return false;
	case GIC_PPI_HYP_TIMER:
		hyp_timer_irq();
		return false;
	case GIC_PPI_VTIMER:
	case GIC_PPI_PHYS_TIMER:
	case GIC_PPI_PMU:
		return vtimer_irq(intid);
	case GIC_PPI_MAINT:
		/* The guest finished an interrupt: the exit path resyncs the vGIC. */
		return false;
	default:
		if (intid >= GIC_LPI_FIRST) {
			msi_lpi_fired(intid);
			return false;
		}
		own = gic_own_spi(intid);
		if (own) {
			gic_own_spi_handle(own);
			return false;
		}
		pr_warn_once("gic: unexpected interrupt %u (disabled)", intid);
		return false;
	}
}

/* Acknowledge and handle what is pending; interrupts are masked here. */
void gic_handle_irq(void)
{
	for (int i = 0; i < GIC_IRQ_BATCH; i++) {
		u64 iar = read_sysreg(ICC_IAR1_EL1);
		u32 intid = iar & 0xffffff;

		if (intid >= GIC_SPURIOUS_FIRST && intid < 1024)
			return;
		write_sysreg(ICC_EOIR1_EL1, iar);
		if (!gic_dispatch(intid))
			write_sysreg(ICC_DIR_EL1, iar);
		isb();
	}
}
