/* SPDX-License-Identifier: MIT */
/*
 * The edu driver's aarch64 part (the rest is lib/edu.c): configuration space
 * through the ECAM Keel shows at 0x3f000000 (bus 0), BAR0 used as the MMU-off
 * guest sees it (Device memory), DSB SY around the DMA, then the edu's INTx
 * as an SPI of the guest's GICv3 (lib/edu.c's sequence). Keel delivers no
 * MSI on aarch64 yet: MSI is not tested.
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

bool arch_edu_drive(uint64_t ram_base, uint64_t ram_size, uint64_t lat_rounds)
{
	unsigned int dev;

	if (!edu_run(PCI_WINDOW, PCI_WINDOW_END, ram_base, ram_size, &dev))
		return false;
	printf("edu: msi not tested: Keel delivers no MSI on aarch64 yet\n");
	edu_intx_gic(dev);
	return edu_passed();
}
