/* SPDX-License-Identifier: MIT */
/*
 * The edu driver's aarch64 part (the rest is lib/edu.c): configuration space
 * through the ECAM Keel shows at 0x3f000000 (bus 0), BAR0 used as the MMU-off
 * guest sees it (Device memory), DSB SY around the DMA, then the edu's INTx
 * as an SPI of the guest's GICv3 (lib/edu.c's sequence), and its MSI as a
 * GICv3 MBI: a write of an INTID to the vGIC's GICD_SETSPI_NSR.
 */
#include "edu.h"
#include "gic.h"

#define ECAM_BASE 0x3f000000ull /* 1 MiB: bus 0, device << 15 | function << 12 | register */
#define PCI_WINDOW 0x10000000ull /* the guest's PCI MMIO window, where Keel places BARs */
#define PCI_WINDOW_END 0x3eff0000ull
#define SCTLR_M 1ull /* stage 1 on */
#define SCTLR_C (1ull << 2) /* data accesses cacheable */
#define KEEL_FIRST_PCI_SPI 48u /* Keel wires the n-th function to SPI 48 + n - 1 */
#define GIC_SPI_BASE 32u /* SPI n is INTID 32 + n */
#define EDU_PRIO 0xa0u /* let through by gic_cpu_init()'s priority mask */
#define IRQ 0x101u /* struct trap's vector for an IRQ */
#define GICD_TYPER 0x08000004ull
#define GICD_TYPER_MBIS (1u << 16)
#define GICD_SETSPI_NSR 0x08000040u /* where an MBI message is written */
#define MBI_INTID 97u /* one of Keel's MBI INTIDs (its guests' mbi-ranges: 96, 64 of them) */

/*
 * The ECAM is Keel's model: each access one plain load or store of a base
 * register, so that the data abort it takes carries its syndrome (ISV).
 */
static uintptr_t ecam(unsigned int dev, unsigned int reg)
{
	return (uintptr_t)(ECAM_BASE | dev << 15 | reg);
}

uint32_t edu_cfg_read32(unsigned int dev, unsigned int reg)
{
	uint32_t v;

	__asm__ volatile("ldr %w0, [%1]" : "=r"(v) : "r"(ecam(dev, reg)) : "memory");
	return v;
}

uint16_t edu_cfg_read16(unsigned int dev, unsigned int reg)
{
	uint16_t v;

	__asm__ volatile("ldrh %w0, [%1]" : "=r"(v) : "r"(ecam(dev, reg)) : "memory");
	return v;
}

void edu_cfg_write16(unsigned int dev, unsigned int reg, uint16_t v)
{
	__asm__ volatile("strh %w0, [%1]" ::"r"(v), "r"(ecam(dev, reg)) : "memory");
}

static void edu_cfg_write32(unsigned int dev, unsigned int reg, uint32_t v)
{
	__asm__ volatile("str %w0, [%1]" ::"r"(v), "r"(ecam(dev, reg)) : "memory");
}

/*
 * The guest runs with the MMU off (docs/guest-abi.md; testguest never turns
 * it on): every data access is Device-nGnRnE already, uncached, and an
 * address is its guest-physical address. Checked, not assumed.
 */
bool edu_bar_map(uint64_t base, uint64_t size, uint64_t ram_base, uint64_t ram_end)
{
	uint64_t sctlr;

	__asm__ volatile("mrs %0, sctlr_el1" : "=r"(sctlr));
	return edu_check("map",
			 !(sctlr & (SCTLR_M | SCTLR_C)) &&
				 (base + size <= ram_base || base >= ram_end),
			 "BAR0 at 0x%lx as Device memory, MMU and caches off "
			 "(SCTLR_EL1 0x%lx), none of RAM",
			 base, sctlr);
}

/* Device memory throughout: no cache to clean or invalidate, only completion to wait for. */
void edu_dma_barrier(void)
{
	__asm__ volatile("dsb sy" ::: "memory");
}

void edu_irqs(bool on)
{
	irqs(on);
}

static uint32_t edu_intid; /* the edu's INTID, once routed */

/* The edu's interrupt: acknowledged at the GIC, taken (and lowered) at the device, ended. */
static bool edu_trap(struct trap *t)
{
	uint64_t iar;

	if (t->vector != IRQ)
		return false;
	iar = gic_ack();
	if ((iar & 0xffffff) == edu_intid)
		edu_irq_take();
	gic_eoi(iar);
	return true;
}

/*
 * INTx: Interrupt Line names the guest's SPI, configured at the emulated
 * distributor as level-sensitive group 1 routed to this vCPU; then
 * lib/edu.c's sequence, and the SPI disabled again.
 */
static void edu_intx_gic(unsigned int dev)
{
	unsigned int line;
	bool ok;

	if (!edu_intx_line(dev, KEEL_FIRST_PCI_SPI, "SPI", &line))
		return;
	edu_intid = GIC_SPI_BASE + line;
	gic_guest_init(0, edu_trap);
	ok = gic_spi_enable(edu_intid, EDU_PRIO);
	if (!edu_check("intx-gic", ok,
		       "INTID %u: group 1, priority 0x%x, level, routed to affinity 0x%lx, "
		       "enabled",
		       edu_intid, EDU_PRIO, gic_affinity())) {
		gic_spi_disable(edu_intid);
		return;
	}
	edu_intx(dev, "SPI", line);
	gic_spi_disable(edu_intid);
}

/* The edu's MSI capability aimed at the vGIC's SETSPI_NSR with MBI INTID @intid (0: off). */
static void edu_msi_aim(unsigned int dev, unsigned int at, uint16_t ctrl, uint32_t intid)
{
	edu_cfg_write32(dev, at + 4, GICD_SETSPI_NSR);
	if (ctrl & MSI_64BIT) {
		edu_cfg_write32(dev, at + 8, 0);
		edu_cfg_write16(dev, at + 12, (uint16_t)intid);
	} else {
		edu_cfg_write16(dev, at + 8, (uint16_t)intid);
	}
	edu_cfg_write16(dev, at + MSI_CTRL,
			(uint16_t)(intid ? ctrl | MSI_ENABLE : ctrl & ~MSI_ENABLE));
}

/*
 * MSI as an MBI: the vGIC says it takes messages (GICD_TYPER.MBIS); MSI on
 * with MBI_INTID, a raise arrives once with the status it set; MSI off, a
 * raise reaches nobody and the status stays set.
 */
static void edu_msi(unsigned int dev)
{
	unsigned int at = edu_pci_find_cap(dev, PCI_CAP_ID_MSI);
	uint16_t ctrl;

	if (!edu_check("msi-cap", at != 0, "MSI capability at 0x%02x", at))
		return;
	if (!edu_check("msi-mbi", *(volatile uint32_t *)GICD_TYPER & GICD_TYPER_MBIS,
		       "GICD_TYPER 0x%x offers MBIs", *(volatile uint32_t *)GICD_TYPER))
		return;
	edu_intid = MBI_INTID;
	gic_guest_init(0, edu_trap);
	gic_spi_enable(edu_intid, EDU_PRIO);
	ctrl = edu_cfg_read16(dev, at + MSI_CTRL);
	edu_msi_aim(dev, at, ctrl, MBI_INTID);
	edu_msi_arrives("INTID", MBI_INTID);
	edu_msi_aim(dev, at, ctrl, 0);
	edu_msi_silent();
	gic_spi_disable(edu_intid);
}

bool arch_edu_drive(uint64_t ram_base, uint64_t ram_size, uint64_t lat_rounds)
{
	unsigned int dev;

	if (!edu_run(PCI_WINDOW, PCI_WINDOW_END, ram_base, ram_size, &dev))
		return false;
	edu_msi(dev);
	edu_intx_gic(dev);
	return edu_passed();
}
