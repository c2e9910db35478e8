/* SPDX-License-Identifier: MIT */
/*
 * A polled driver for QEMU's edu (PCI 1234:11e8; QEMU docs/specs/edu.txt)
 * given to this partition with keel.cfg pci =: found on the bus Keel shows
 * the guest, its BAR and command register as Keel the firmware left them,
 * then its registers, a factorial, DMA both ways at guest-physical addresses
 * (IOVA = GPA) and one aimed beyond the partition's RAM, which the IOMMU must
 * block: the guest sees only its engine finish, Keel logs the fault. Then
 * its interrupt: as MSI, then as INTx through the IOAPIC model. Every wait
 * is bounded.
 */
#include "cpu.h"
#include "guest.h"

#define PCI_CONFIG_ADDR 0xcf8u
#define PCI_CONFIG_DATA 0xcfcu
#define PCI_CONFIG_ENABLE 0x80000000u
#define PCI_ID 0x00u
#define PCI_COMMAND 0x04u
#define PCI_BAR0 0x10u
#define PCI_COMMAND_MEMORY 0x2u
#define PCI_COMMAND_MASTER 0x4u
#define PCI_BAR_IO 0x1u
#define PCI_BAR_MEM_TYPE 0x6u /* 0: 32-bit memory BAR */
#define PCI_BAR_FLAGS 0xfu
#define PCI_WINDOW 0xe0000000ull /* the guest's PCI MMIO window, where Keel places BARs */
#define PCI_WINDOW_END 0xfea00000ull /* the ECAM starts there */
#define PCI_CAP_PTR 0x34u
#define PCI_STATUS_CAPS 0x10u /* in the status register: a capability list */
#define PCI_CAP_ID_MSI 0x05u
#define MSI_CTRL 2u
#define MSI_ENABLE 0x1u
#define MSI_64BIT 0x80u
#define MSI_VECTOR 0x45u /* what the guest asks its MSI to be */

#define EDU_ID 0x11e81234u /* device << 16 | vendor */
#define EDU_BAR_SIZE (1ull << 20)
#define EDU_IDENT 0x00u
#define EDU_IDENT_VALUE 0x010000edu /* version 1.0, then 0xed */
#define EDU_LIVENESS 0x04u /* reads back the inverse of what was written */
#define EDU_FACTORIAL 0x08u
#define EDU_STATUS 0x20u
#define EDU_STATUS_COMPUTING 0x1u
#define EDU_DMA_SRC 0x80u /* 64-bit registers: 4- or 8-byte accesses, at these offsets only */
#define EDU_DMA_DST 0x88u
#define EDU_DMA_COUNT 0x90u
#define EDU_DMA_CMD 0x98u
#define EDU_DMA_START 0x1u /* cleared by the device when the transfer is over */
#define EDU_DMA_TO_RAM 0x2u /* else RAM to the device */
#define EDU_IRQ_STATUS 0x24u
#define EDU_IRQ_RAISE 0x60u /* ORs the value into the status and interrupts */
#define EDU_IRQ_ACK 0x64u /* clears those bits */
#define EDU_BUFFER 0x40000ull /* the device's own 4 KiB buffer, as DMA addresses it */

#define DMA_BYTES 256u
#define BEYOND_RAM 0x100000000ull /* 4 GiB: none of this partition's memory */
#define POLLS 1000000u /* each a register read and delay(1): well over the DMA's 100 ms */

#define PTE_P 0x1ull
#define PTE_PWT 0x8ull
#define PTE_PCD 0x10ull
#define PTE_PS 0x80ull
#define PTE_PAT_LARGE 0x1000ull /* PAT bit of a 2 MiB entry */
#define PTE_ADDR 0x000ffffffffff000ull
#define LARGE_ADDR 0x000fffffffe00000ull
#define LARGE 0x200000ul

static uint8_t dma_out[4096] __attribute__((aligned(4096)));
static uint8_t dma_in[4096] __attribute__((aligned(4096)));
static uintptr_t bar;
static unsigned int wrong;

/* One check line, "edu: check NAME: DETAIL ok" (or WRONG), counted. */
static bool __attribute__((format(printf, 3, 4)))
check(const char *name, bool ok, const char *fmt, ...)
{
	char detail[112];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	printf("edu: check %s: %s %s\n", name, detail, ok ? "ok" : "WRONG");
	wrong += !ok;
	return ok;
}

/* Configuration mechanism #1, bus 0 function 0 of device @dev. */
static void pci_select(unsigned int dev, unsigned int reg)
{
	outl(PCI_CONFIG_ADDR, PCI_CONFIG_ENABLE | dev << 11 | (reg & 0xfcu));
}

static uint32_t pci_read32(unsigned int dev, unsigned int reg)
{
	pci_select(dev, reg);
	return inl(PCI_CONFIG_DATA);
}

static uint16_t pci_read16(unsigned int dev, unsigned int reg)
{
	pci_select(dev, reg);
	return inw((uint16_t)(PCI_CONFIG_DATA + (reg & 2)));
}

static void pci_write16(unsigned int dev, unsigned int reg, uint16_t v)
{
	pci_select(dev, reg);
	outw((uint16_t)(PCI_CONFIG_DATA + (reg & 2)), v);
}

static void pci_write32(unsigned int dev, unsigned int reg, uint32_t v)
{
	pci_select(dev, reg);
	outl(PCI_CONFIG_DATA, v);
}

/* The offset of capability @id in @dev's list (at most 48 hops), or 0. */
static unsigned int pci_find_cap(unsigned int dev, uint8_t id)
{
	unsigned int at, hops = 0;

	if (!(pci_read16(dev, 0x06) & PCI_STATUS_CAPS))
		return 0;
	at = pci_read32(dev, PCI_CAP_PTR) & 0xfc;
	while (at >= 0x40 && hops++ < 48) {
		uint32_t head = pci_read32(dev, at);

		if ((head & 0xff) == id)
			return at;
		at = (head >> 8) & 0xfc;
	}
	return 0;
}

static uint32_t edu_read(unsigned int reg)
{
	return *(volatile uint32_t *)(bar + reg);
}

static void edu_write(unsigned int reg, uint32_t v)
{
	*(volatile uint32_t *)(bar + reg) = v;
}

static void edu_write64(unsigned int reg, uint64_t v)
{
	*(volatile uint64_t *)(bar + reg) = v;
}

/* Poll @reg until @bit is clear, at most POLLS times: how many polls it took (POLLS: never). */
static uint64_t edu_wait_clear(unsigned int reg, uint32_t bit)
{
	uint64_t n;

	for (n = 0; n < POLLS; n++) {
		if (!(edu_read(reg) & bit))
			break;
		delay(1);
	}
	return n;
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

static void edu_liveness(void)
{
	static const uint32_t values[] = { 0, 0x12345678u, 0xa5a5a5a5u, 0xffffffffu };
	unsigned int i, bad = 0;
	uint32_t got = 0;

	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		edu_write(EDU_LIVENESS, values[i]);
		got = edu_read(EDU_LIVENESS);
		bad += got != ~values[i];
	}
	check("liveness", !bad, "%u values each read back inverted (last 0x%08x), %u wrong", i, got,
	      bad);
}

static void edu_factorial(uint32_t n, uint32_t want)
{
	uint64_t polls;
	uint32_t got;
	char name[16];

	edu_write(EDU_FACTORIAL, n);
	polls = edu_wait_clear(EDU_STATUS, EDU_STATUS_COMPUTING);
	got = edu_read(EDU_FACTORIAL);
	snprintf(name, sizeof(name), "factorial-%u", n);
	check(name, polls < POLLS && got == want, "%u! = %u after %lu polls", n, got, polls);
}

/* Start a DMA of DMA_BYTES from @src to @dst; @cmd: EDU_DMA_TO_RAM or 0. */
static void edu_dma_start(uint64_t src, uint64_t dst, uint32_t cmd)
{
	__asm__ volatile("mfence" ::: "memory"); /* the buffer's stores before the command */
	edu_write64(EDU_DMA_SRC, src);
	edu_write64(EDU_DMA_DST, dst);
	edu_write64(EDU_DMA_COUNT, DMA_BYTES);
	edu_write64(EDU_DMA_CMD, EDU_DMA_START | cmd);
}

/* Wait for the DMA engine (bounded): the polls it took, POLLS if it never finished. */
static uint64_t edu_dma_wait(void)
{
	uint64_t polls = edu_wait_clear(EDU_DMA_CMD, EDU_DMA_START);

	__asm__ volatile("mfence" ::: "memory"); /* the buffer's loads after it */
	return polls;
}

/*
 * RAM to the device and back, between two buffers of this guest's RAM. Its
 * tables map RAM one to one (docs/guest-abi.md), so a buffer's address is
 * its guest-physical address, which is what the device's DMA uses.
 */
static void edu_dma_round_trip(uint64_t ram_base, uint64_t ram_end)
{
	uint64_t out = (uintptr_t)dma_out, in = (uintptr_t)dma_in, polls;
	unsigned int i, differ = 0;

	for (i = 0; i < DMA_BYTES; i++)
		dma_out[i] = (uint8_t)(0xa5 ^ i);
	memset(dma_in, 0, sizeof(dma_in));
	edu_dma_start(out, EDU_BUFFER, 0);
	polls = edu_dma_wait();
	check("dma-to-device", polls < POLLS && out >= ram_base && out + DMA_BYTES <= ram_end,
	      "%u bytes from RAM 0x%lx to the device's 0x%llx, done after %lu polls", DMA_BYTES,
	      out, EDU_BUFFER, polls);
	edu_dma_start(EDU_BUFFER, in, EDU_DMA_TO_RAM);
	polls = edu_dma_wait();
	check("dma-to-ram", polls < POLLS && in >= ram_base && in + DMA_BYTES <= ram_end,
	      "%u bytes from the device's 0x%llx to RAM 0x%lx, done after %lu polls", DMA_BYTES,
	      EDU_BUFFER, in, polls);
	for (i = 0; i < DMA_BYTES; i++)
		differ += dma_in[i] != dma_out[i];
	if (check("dma-compare", !differ, "%u of %u bytes differ from the pattern", differ,
		  DMA_BYTES))
		printf("edu: dma round trip ok\n");
}

/* A DMA write to guest-physical 4 GiB, outside this partition: blocked, and we go on. */
static void edu_dma_beyond_ram(uint64_t ram_end)
{
	uint64_t polls;

	edu_dma_start(EDU_BUFFER, BEYOND_RAM, EDU_DMA_TO_RAM);
	printf("edu: dma beyond RAM issued (%u bytes to 0x%llx; RAM ends at 0x%lx)\n", DMA_BYTES,
	       BEYOND_RAM, ram_end);
	polls = edu_dma_wait();
	check("dma-beyond-ram", polls < POLLS && BEYOND_RAM >= ram_end,
	      "the engine finished after %lu polls, the guest runs on", polls);
}

/* ---- MSI: the edu's interrupt, raised on request, arrives at our vector ---- */

#define MSR_APIC_BASE 0x1bu
#define MSR_X2APIC_EOI 0x80bu
#define MSR_X2APIC_SVR 0x80fu
#define VEC_IRQ 32 /* every vector from 32 up reaches a trap handler as 32 */

static volatile uint64_t msi_irqs;
static volatile uint32_t msi_status;
static volatile uint64_t msi_tsc; /* the TSC at the handler's entry */

/* The edu's interrupt: what it says it raised, acknowledged at the device and the LAPIC. */
static bool edu_trap(struct trap *t)
{
	if (t->vector != VEC_IRQ)
		return false;
	msi_tsc = arch_clock();
	msi_status = edu_read(EDU_IRQ_STATUS);
	edu_write(EDU_IRQ_ACK, msi_status);
	msi_irqs++;
	wrmsr(MSR_X2APIC_EOI, 0);
	return true;
}

/* Wait (bounded, interrupts on) until @want interrupts came. */
static bool msi_wait(uint64_t want)
{
	for (uint32_t i = 0; i < POLLS / 10 && msi_irqs < want; i++)
		delay(1);
	return msi_irqs >= want;
}

#define MSR_X2APIC_ICR 0x830u
#define ICR_SELF (1u << 18) /* destination shorthand: self */

/* TSC ticks from the write that starts one interrupt (@msi: the edu's, else a self-IPI) to its handler; 0 if it never came. */
static uint64_t irq_latency(bool msi)
{
	uint64_t before = msi_irqs, t0;

	t0 = arch_clock();
	if (msi)
		edu_write(EDU_IRQ_RAISE, 0x1);
	else
		wrmsr(MSR_X2APIC_ICR, ICR_SELF | MSI_VECTOR);
	for (uint32_t i = 0; i < POLLS && msi_irqs == before; i++)
		__asm__ volatile("pause");
	return msi_irqs == before ? 0 : msi_tsc - t0;
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
	check("latency", !lost, "%lu of %lu interrupts timed, none lost", 2 * rounds - lost,
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
	unsigned int at = pci_find_cap(dev, PCI_CAP_ID_MSI);
	uint16_t ctrl;
	uint64_t before_off;
	bool got;

	if (!check("msi-cap", at != 0, "MSI capability at 0x%02x", at))
		return;
	trap_install(edu_trap);
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | (1u << 11) | (1u << 10)); /* x2APIC */
	wrmsr(MSR_X2APIC_SVR, 0x1ff);
	ctrl = pci_read16(dev, at + MSI_CTRL);
	pci_write32(dev, at + 4, 0xfee00000u);
	if (ctrl & MSI_64BIT) {
		pci_write32(dev, at + 8, 0);
		pci_write16(dev, at + 12, MSI_VECTOR);
	} else {
		pci_write16(dev, at + 8, MSI_VECTOR);
	}
	pci_write16(dev, at + MSI_CTRL, (uint16_t)(ctrl | MSI_ENABLE));
	__asm__ volatile("sti");
	edu_write(EDU_IRQ_RAISE, 0x5a);
	got = msi_wait(1);
	check("msi", got && msi_irqs == 1 && msi_status == 0x5a,
	      "%lu interrupt(s) at vector 0x%x, status 0x%x (want 1, 0x5a)", msi_irqs, MSI_VECTOR,
	      msi_status);
	if (got && lat_rounds)
		edu_msi_latency(lat_rounds);
	pci_write16(dev, at + MSI_CTRL, (uint16_t)(ctrl & ~MSI_ENABLE));
	before_off = msi_irqs;
	edu_write(EDU_IRQ_RAISE, 0x3);
	msi_wait(before_off + 1);
	check("msi-off", msi_irqs == before_off && (edu_read(EDU_IRQ_STATUS) & 3) == 3,
	      "%lu interrupt(s) after a raise with MSI off, status 0x%x", msi_irqs,
	      edu_read(EDU_IRQ_STATUS));
	__asm__ volatile("cli");
	edu_write(EDU_IRQ_ACK, 3);
}

/*
 * ---- INTx: with MSI off, a raise arrives on the IOAPIC pin Interrupt Line
 * names (Keel wires its n-th function to GSI 24 + n - 1) ----
 */

#define PCI_STATUS 0x06u
#define PCI_STATUS_INTX 0x8u
#define PCI_INT_LINE 0x3cu
#define PCI_COMMAND_INTX_OFF 0x400u
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

/* One raise of @bits: true if it came as one interrupt with that status (*@came: how many). */
static bool intx_raise(uint32_t bits, uint64_t *came)
{
	uint64_t before = msi_irqs;

	edu_write(EDU_IRQ_RAISE, bits);
	msi_wait(before + 1);
	delay(1000); /* a second one, if the line were not lowered at the EOI */
	*came = msi_irqs - before;
	return *came == 1 && msi_status == bits;
}

static void edu_intx(unsigned int dev, uint64_t ram_base, uint64_t ram_end)
{
	uint32_t id = pci_read32(dev, PCI_INT_LINE);
	unsigned int line = id & 0xff, pin = (id >> 8) & 0xff;
	uint16_t cmd = pci_read16(dev, PCI_COMMAND);
	uint64_t before, came;
	bool ok;

	if (!check("intx-pin", pin == 1 && line == KEEL_FIRST_PCI_GSI + dev - 1,
		   "interrupt pin %u, line %u (want INTA, GSI %u)", pin, line,
		   KEEL_FIRST_PCI_GSI + dev - 1) ||
	    !check("intx-ioapic", map_uncached(IOAPIC_BASE, 4096, ram_base, ram_end),
		   "the IOAPIC page uncached"))
		return;
	ioapic_rte(line, MSI_VECTOR | RTE_LEVEL | RTE_LOW);
	__asm__ volatile("sti");
	ok = intx_raise(0x11, &came);
	check("intx", ok,
	      "a raise with MSI off came on GSI %u: %lu interrupt(s), status 0x%x "
	      "(want 1, 0x11)",
	      line, came, msi_status);
	/* Keel held the device's INTx off until the EOI, then let it go: it comes again. */
	ok = intx_raise(0x22, &came);
	check("intx-again", ok, "a second raise: %lu interrupt(s), status 0x%x (want 1, 0x22)",
	      came, msi_status);
	/* The guest's own INTx Disable holds it, and the device still says it is pending. */
	pci_write16(dev, PCI_COMMAND, (uint16_t)(cmd | PCI_COMMAND_INTX_OFF));
	before = msi_irqs;
	edu_write(EDU_IRQ_RAISE, 0x44);
	msi_wait(before + 1);
	check("intx-disabled",
	      msi_irqs == before && (pci_read16(dev, PCI_STATUS) & PCI_STATUS_INTX),
	      "INTx Disable set: %lu interrupt(s), status register 0x%04x (INTx pending)",
	      msi_irqs - before, pci_read16(dev, PCI_STATUS));
	pci_write16(dev, PCI_COMMAND, cmd);
	msi_wait(before + 1);
	check("intx-enabled", msi_irqs == before + 1 && msi_status == 0x44,
	      "INTx Disable cleared: the pending raise came, status 0x%x (want 0x44)", msi_status);
	__asm__ volatile("cli");
	ioapic_rte(line, RTE_MASKED);
}

bool arch_edu_drive(uint64_t ram_base, uint64_t ram_size, uint64_t lat_rounds)
{
	uint64_t ram_end = ram_base + ram_size, base;
	uint32_t bar0;
	uint16_t cmd;
	unsigned int dev;
	bool bar_ok;

	wrong = 0;
	for (dev = 0; dev < 32; dev++)
		if (pci_read32(dev, PCI_ID) == EDU_ID)
			break;
	if (dev == 32) {
		printf("edu: no edu (1234:11e8) at any 00:xx.0\n");
		return false;
	}
	bar0 = pci_read32(dev, PCI_BAR0);
	base = bar0 & ~PCI_BAR_FLAGS;
	printf("edu: found at 00:%02x.0 bar0 0x%lx\n", dev, base);
	bar_ok = check("bar0",
		       !(bar0 & (PCI_BAR_IO | PCI_BAR_MEM_TYPE)) && base >= PCI_WINDOW &&
			       base + EDU_BAR_SIZE <= PCI_WINDOW_END,
		       "0x%08x, 32-bit memory in [0x%llx, 0x%llx)", bar0, PCI_WINDOW,
		       PCI_WINDOW_END);
	cmd = pci_read16(dev, PCI_COMMAND);
	check("command", (cmd & PCI_COMMAND_MEMORY) && !(cmd & PCI_COMMAND_MASTER),
	      "0x%04x, memory decode on, bus master off", cmd);
	if (!bar_ok || !check("map", map_uncached(base, EDU_BAR_SIZE, ram_base, ram_end),
			      "BAR0 in 2 MiB pages from 0x%lx, uncached (PCD|PWT), none of RAM",
			      base & ~(LARGE - 1)))
		return false;
	bar = (uintptr_t)base;

	check("ident", edu_read(EDU_IDENT) == EDU_IDENT_VALUE, "0x%08x", edu_read(EDU_IDENT));
	edu_liveness();
	edu_factorial(5, 120);
	edu_factorial(10, 3628800);
	pci_write16(dev, PCI_COMMAND, cmd | PCI_COMMAND_MASTER);
	cmd = pci_read16(dev, PCI_COMMAND);
	check("busmaster",
	      (cmd & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) ==
		      (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER),
	      "command 0x%04x after setting bus master", cmd);
	edu_dma_round_trip(ram_base, ram_end);
	edu_dma_beyond_ram(ram_end);
	edu_msi(dev, lat_rounds);
	edu_intx(dev, ram_base, ram_end);
	return !wrong;
}
