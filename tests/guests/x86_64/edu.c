/* SPDX-License-Identifier: MIT */
/*
 * The edu driver's x86_64 part (the rest is lib/edu.c): configuration
 * mechanism #1, BAR0 mapped uncached in the guest's own page tables, then
 * the edu's interrupt: as MSI, then as INTx through the IOAPIC model. Every
 * wait is bounded.
 */
#include "cpu.h"
#include "edu.h"

#define PCI_CONFIG_ADDR 0xcf8u
#define PCI_CONFIG_DATA 0xcfcu
#define PCI_CONFIG_ENABLE 0x80000000u
#define PCI_WINDOW 0xe0000000ull /* the guest's PCI MMIO window, where Keel places BARs */
#define PCI_WINDOW_END 0xfea00000ull /* the ECAM starts there */

#define MSI_VECTOR 0x45u /* what the guest asks its MSI to be */

#define PTE_P 0x1ull
#define PTE_PWT 0x8ull
#define PTE_PCD 0x10ull
#define PTE_PS 0x80ull
#define PTE_PAT_LARGE 0x1000ull /* PAT bit of a 2 MiB entry */
#define PTE_ADDR 0x000ffffffffff000ull
#define LARGE_ADDR 0x000fffffffe00000ull
#define LARGE 0x200000ul

/* Configuration mechanism #1, bus 0 function 0 of device @dev. */
static void pci_select(unsigned int dev, unsigned int reg)
{
	outl(PCI_CONFIG_ADDR, PCI_CONFIG_ENABLE | dev << 11 | (reg & 0xfcu));
}

uint32_t edu_cfg_read32(unsigned int dev, unsigned int reg)
{
	pci_select(dev, reg);
	return inl(PCI_CONFIG_DATA);
}

uint16_t edu_cfg_read16(unsigned int dev, unsigned int reg)
{
	pci_select(dev, reg);
	return inw((uint16_t)(PCI_CONFIG_DATA + (reg & 2)));
}

void edu_cfg_write16(unsigned int dev, unsigned int reg, uint16_t v)
{
	pci_select(dev, reg);
	outw((uint16_t)(PCI_CONFIG_DATA + (reg & 2)), v);
}

static void pci_write32(unsigned int dev, unsigned int reg, uint32_t v)
{
	pci_select(dev, reg);
	outl(PCI_CONFIG_DATA, v);
}

void edu_dma_barrier(void)
{
	__asm__ volatile("mfence" ::: "memory");
}

void edu_irqs(bool on)
{
	if (on)
		__asm__ volatile("sti" ::: "memory");
	else
		__asm__ volatile("cli" ::: "memory");
}

/* The guest's own 2 MiB page-table entry for @va, or NULL (not mapped, or not by one). */
static uint64_t *large_entry(uint64_t va)
{
	uint64_t cr3, *table, *e;
	int shift;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	table = (uint64_t *)(uintptr_t)(cr3 & PTE_ADDR);
	for (shift = 39; shift > 21; shift -= 9) {
		uint64_t entry = table[(va >> shift) & 511];

		if (!(entry & PTE_P) || (entry & PTE_PS))
			return NULL;
		table = (uint64_t *)(uintptr_t)(entry & PTE_ADDR);
	}
	e = &table[(va >> 21) & 511];
	return (*e & PTE_P) && (*e & PTE_PS) ? e : NULL;
}

/*
 * Map [@base, @base + @size) for loads and stores: arch_map_gpa() adds 2 MiB
 * pages, write-back by default; each is made uncached here (PCD|PWT: PAT
 * entry 3, UC at reset) after checking that it maps itself and none of RAM.
 */
static bool map_uncached(uint64_t base, uint64_t size, uint64_t ram_base, uint64_t ram_end)
{
	uint64_t va;

	for (va = base & ~(LARGE - 1); va < base + size; va += LARGE) {
		uint64_t *e;

		arch_map_gpa(va);
		e = large_entry(va);
		if (!e || (*e & LARGE_ADDR) != va || (*e & PTE_PAT_LARGE))
			return false;
		if (va < ram_end && va + LARGE > ram_base)
			return false;
		*e |= PTE_PCD | PTE_PWT;
		__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
	}
	return true;
}

bool edu_bar_map(uint64_t base, uint64_t size, uint64_t ram_base, uint64_t ram_end)
{
	return edu_check("map", map_uncached(base, size, ram_base, ram_end),
			 "BAR0 in 2 MiB pages from 0x%lx, uncached (PCD|PWT), none of RAM",
			 base & ~(LARGE - 1));
}

/* ---- MSI: the edu's interrupt, raised on request, arrives at our vector ---- */

#define MSR_APIC_BASE 0x1bu
#define MSR_X2APIC_EOI 0x80bu
#define MSR_X2APIC_SVR 0x80fu
#define VEC_IRQ 32 /* every vector from 32 up reaches a trap handler as 32 */

static volatile uint64_t msi_tsc; /* the TSC at the handler's entry */

/* The edu's interrupt: what it says it raised, acknowledged at the device and the LAPIC. */
static bool edu_trap(struct trap *t)
{
	if (t->vector != VEC_IRQ)
		return false;
	msi_tsc = arch_clock();
	edu_irq_take();
	wrmsr(MSR_X2APIC_EOI, 0);
	return true;
}

#define MSR_X2APIC_ICR 0x830u
#define ICR_SELF (1u << 18) /* destination shorthand: self */

/* TSC ticks from the write that starts one interrupt (@msi: the edu's, else a self-IPI) to its handler; 0 if it never came. */
static uint64_t irq_latency(bool msi)
{
	uint64_t before = edu_irq_count(), t0;

	t0 = arch_clock();
	if (msi)
		edu_write(EDU_IRQ_RAISE, 0x1);
	else
		wrmsr(MSR_X2APIC_ICR, ICR_SELF | MSI_VECTOR);
	for (uint32_t i = 0; i < EDU_POLLS && edu_irq_count() == before; i++)
		__asm__ volatile("pause");
	return edu_irq_count() == before ? 0 : msi_tsc - t0;
}

/*
 * make bench: @rounds MSIs (the edu's raise, through the IOMMU's interrupt
 * remapping, Keel's host handler and its injection) and @rounds self-IPIs
 * (Keel's LAPIC model alone), each timed from the write that starts it to
 * the handler's first instruction. One line with each side's least and mean.
 */
static void edu_msi_latency(uint64_t rounds)
{
	uint64_t least[2] = { ~0ull, ~0ull }, sum[2] = { 0, 0 }, lost = 0;

	for (uint64_t i = 0; i < rounds; i++) {
		for (int side = 0; side < 2; side++) {
			uint64_t t = irq_latency(side == 0);

			lost += !t;
			sum[side] += t;
			least[side] = t && t < least[side] ? t : least[side];
		}
	}
	edu_check("latency", !lost, "%lu of %lu interrupts timed, none lost", 2 * rounds - lost,
		  2 * rounds);
	printf("edu: latency rounds=%lu msi_least=%lu msi_mean=%lu ipi_least=%lu ipi_mean=%lu\n",
	       rounds, least[0], sum[0] / rounds, least[1], sum[1] / rounds);
}

/*
 * MSI on (physical destination: this vCPU, APIC ID 0; vector MSI_VECTOR),
 * a raise arrives once with the status it set; MSI off, a raise reaches
 * nobody and the status stays set.
 */
static void edu_msi(unsigned int dev, uint64_t lat_rounds)
{
	unsigned int at = edu_pci_find_cap(dev, PCI_CAP_ID_MSI);
	uint16_t ctrl;

	if (!edu_check("msi-cap", at != 0, "MSI capability at 0x%02x", at))
		return;
	trap_install(edu_trap);
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | (1u << 11) | (1u << 10)); /* x2APIC */
	wrmsr(MSR_X2APIC_SVR, 0x1ff);
	ctrl = edu_cfg_read16(dev, at + MSI_CTRL);
	pci_write32(dev, at + 4, 0xfee00000u);
	if (ctrl & MSI_64BIT) {
		pci_write32(dev, at + 8, 0);
		edu_cfg_write16(dev, at + 12, MSI_VECTOR);
	} else {
		edu_cfg_write16(dev, at + 8, MSI_VECTOR);
	}
	edu_cfg_write16(dev, at + MSI_CTRL, (uint16_t)(ctrl | MSI_ENABLE));
	if (edu_msi_arrives("vector", MSI_VECTOR) && lat_rounds)
		edu_msi_latency(lat_rounds);
	edu_cfg_write16(dev, at + MSI_CTRL, (uint16_t)(ctrl & ~MSI_ENABLE));
	edu_msi_silent();
}

/*
 * ---- INTx: lib/edu.c's sequence on the IOAPIC pin Interrupt Line names
 * (Keel wires its n-th function to GSI 24 + n - 1) ----
 */

#define IOAPIC_BASE 0xfec00000ull
#define IOAPIC_REGSEL 0x00u
#define IOAPIC_WIN 0x10u
#define RTE_LEVEL (1u << 15)
#define RTE_LOW (1u << 13)
#define RTE_MASKED (1u << 16)
#define KEEL_FIRST_PCI_GSI 24u

static void ioapic_rte(unsigned int pin, uint32_t lo)
{
	volatile uint32_t *io = (volatile uint32_t *)(uintptr_t)IOAPIC_BASE;

	io[IOAPIC_REGSEL / 4] = 0x10 + 2 * pin + 1;
	io[IOAPIC_WIN / 4] = 0; /* destination: APIC ID 0, this vCPU */
	io[IOAPIC_REGSEL / 4] = 0x10 + 2 * pin;
	io[IOAPIC_WIN / 4] = lo;
}

static void edu_intx_ioapic(unsigned int dev, uint64_t ram_base, uint64_t ram_end)
{
	unsigned int line;

	if (!edu_intx_line(dev, KEEL_FIRST_PCI_GSI, "GSI", &line) ||
	    !edu_check("intx-ioapic", map_uncached(IOAPIC_BASE, 4096, ram_base, ram_end),
		       "the IOAPIC page uncached"))
		return;
	ioapic_rte(line, MSI_VECTOR | RTE_LEVEL | RTE_LOW);
	edu_intx(dev, "GSI", line);
	ioapic_rte(line, RTE_MASKED);
}

bool arch_edu_drive(uint64_t ram_base, uint64_t ram_size, uint64_t lat_rounds)
{
	unsigned int dev;

	if (!edu_run(PCI_WINDOW, PCI_WINDOW_END, ram_base, ram_size, &dev))
		return false;
	edu_msi(dev, lat_rounds);
	edu_intx_ioapic(dev, ram_base, ram_base + ram_size);
	return edu_passed();
}
