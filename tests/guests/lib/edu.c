/* SPDX-License-Identifier: MIT */
/*
 * The edu driver's arch-neutral part: found on the bus Keel shows the guest,
 * its BAR and command register as Keel left them, then its registers, a
 * factorial, DMA both ways at guest-physical addresses (IOVA = GPA) and one
 * aimed beyond the partition's RAM, which the IOMMU must block: the guest
 * sees only its engine finish, Keel logs the fault. Then the interrupt as
 * the arch's handler hands it over, and the INTx sequence both arches run
 * once their controller routes the line. Every wait is bounded.
 */
#include "edu.h"

#define PCI_ID 0x00u
#define PCI_BAR0 0x10u
#define PCI_BAR_IO 0x1u
#define PCI_BAR_MEM_TYPE 0x6u /* 0: 32-bit memory BAR */
#define PCI_BAR_FLAGS 0xfu
#define PCI_CAP_PTR 0x34u
#define PCI_STATUS_CAPS 0x10u /* in the status register: a capability list */

#define EDU_ID 0x11e81234u /* device << 16 | vendor */
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
#define EDU_BUFFER 0x40000ull /* the device's own 4 KiB buffer, as DMA addresses it */

#define PCI_INT_LINE 0x3cu /* then Interrupt Pin at 0x3d */
#define PCI_STATUS_INTX 0x8u /* in the status register: INTx pending */
#define PCI_COMMAND_INTX_OFF 0x400u /* in the command register: INTx Disable */

#define DMA_BYTES 256u
#define BEYOND_RAM 0x100000000ull /* 4 GiB: none of this partition's memory */

static uint8_t dma_out[4096] __attribute__((aligned(4096)));
static uint8_t dma_in[4096] __attribute__((aligned(4096)));
static uintptr_t bar;
static unsigned int wrong;
static volatile uint64_t irqs_taken;
static volatile uint32_t irq_status; /* what the last interrupt said it raised */

bool edu_check(const char *name, bool ok, const char *fmt, ...)
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

bool edu_passed(void)
{
	return !wrong;
}

unsigned int edu_pci_find_cap(unsigned int dev, uint8_t id)
{
	unsigned int at, hops = 0;

	if (!(edu_cfg_read16(dev, PCI_STATUS) & PCI_STATUS_CAPS))
		return 0;
	at = edu_cfg_read32(dev, PCI_CAP_PTR) & 0xfc;
	while (at >= 0x40 && hops++ < 48) {
		uint32_t head = edu_cfg_read32(dev, at);

		if ((head & 0xff) == id)
			return at;
		at = (head >> 8) & 0xfc;
	}
	return 0;
}

uint32_t edu_read(unsigned int reg)
{
	return *(volatile uint32_t *)(bar + reg);
}

void edu_write(unsigned int reg, uint32_t v)
{
	*(volatile uint32_t *)(bar + reg) = v;
}

static void edu_write64(unsigned int reg, uint64_t v)
{
	*(volatile uint64_t *)(bar + reg) = v;
}

/* Poll @reg until @bit is clear, at most EDU_POLLS times: how many polls it took (EDU_POLLS: never). */
static uint64_t edu_wait_clear(unsigned int reg, uint32_t bit)
{
	uint64_t n;

	for (n = 0; n < EDU_POLLS; n++) {
		if (!(edu_read(reg) & bit))
			break;
		delay(1);
	}
	return n;
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
	edu_check("liveness", !bad, "%u values each read back inverted (last 0x%08x), %u wrong", i,
		  got, bad);
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
	edu_check(name, polls < EDU_POLLS && got == want, "%u! = %u after %lu polls", n, got,
		  polls);
}

/* Start a DMA of DMA_BYTES from @src to @dst; @cmd: EDU_DMA_TO_RAM or 0. */
static void edu_dma_start(uint64_t src, uint64_t dst, uint32_t cmd)
{
	edu_dma_barrier(); /* the buffer's stores before the command */
	edu_write64(EDU_DMA_SRC, src);
	edu_write64(EDU_DMA_DST, dst);
	edu_write64(EDU_DMA_COUNT, DMA_BYTES);
	edu_write64(EDU_DMA_CMD, EDU_DMA_START | cmd);
}

/* Wait for the DMA engine (bounded): the polls it took, EDU_POLLS if it never finished. */
static uint64_t edu_dma_wait(void)
{
	uint64_t polls = edu_wait_clear(EDU_DMA_CMD, EDU_DMA_START);

	edu_dma_barrier(); /* the buffer's loads after it */
	return polls;
}

/*
 * RAM to the device and back, between two buffers of this guest's RAM. A
 * buffer's address is its guest-physical address, which is what the
 * device's DMA uses: x86_64 guests map RAM one to one (docs/guest-abi.md),
 * aarch64 ones run with the MMU off.
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
	edu_check("dma-to-device",
		  polls < EDU_POLLS && out >= ram_base && out + DMA_BYTES <= ram_end,
		  "%u bytes from RAM 0x%lx to the device's 0x%llx, done after %lu polls", DMA_BYTES,
		  out, EDU_BUFFER, polls);
	edu_dma_start(EDU_BUFFER, in, EDU_DMA_TO_RAM);
	polls = edu_dma_wait();
	edu_check("dma-to-ram", polls < EDU_POLLS && in >= ram_base && in + DMA_BYTES <= ram_end,
		  "%u bytes from the device's 0x%llx to RAM 0x%lx, done after %lu polls", DMA_BYTES,
		  EDU_BUFFER, in, polls);
	for (i = 0; i < DMA_BYTES; i++)
		differ += dma_in[i] != dma_out[i];
	if (edu_check("dma-compare", !differ, "%u of %u bytes differ from the pattern", differ,
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
	edu_check("dma-beyond-ram", polls < EDU_POLLS && BEYOND_RAM >= ram_end,
		  "the engine finished after %lu polls, the guest runs on", polls);
}

/* The edu's device number on bus 0, or 32 if no 00:xx.0 is one. */
static unsigned int edu_find(void)
{
	unsigned int dev;

	for (dev = 0; dev < 32; dev++)
		if (edu_cfg_read32(dev, PCI_ID) == EDU_ID)
			break;
	return dev;
}

bool edu_run(uint64_t window, uint64_t window_end, uint64_t ram_base, uint64_t ram_size,
	     unsigned int *dev)
{
	uint64_t ram_end = ram_base + ram_size, base;
	uint32_t bar0;
	uint16_t cmd;
	bool bar_ok;

	wrong = 0;
	*dev = edu_find();
	if (*dev == 32) {
		printf("edu: no edu (1234:11e8) at any 00:xx.0\n");
		return false;
	}
	bar0 = edu_cfg_read32(*dev, PCI_BAR0);
	base = bar0 & ~PCI_BAR_FLAGS;
	printf("edu: found at 00:%02x.0 bar0 0x%lx\n", *dev, base);
	bar_ok = edu_check("bar0",
			   !(bar0 & (PCI_BAR_IO | PCI_BAR_MEM_TYPE)) && base >= window &&
				   base + EDU_BAR_SIZE <= window_end,
			   "0x%08x, 32-bit memory in [0x%lx, 0x%lx)", bar0, window, window_end);
	cmd = edu_cfg_read16(*dev, PCI_COMMAND);
	edu_check("command", (cmd & PCI_COMMAND_MEMORY) && !(cmd & PCI_COMMAND_MASTER),
		  "0x%04x, memory decode on, bus master off", cmd);
	if (!bar_ok || !edu_bar_map(base, EDU_BAR_SIZE, ram_base, ram_end))
		return false;
	bar = (uintptr_t)base;

	edu_check("ident", edu_read(EDU_IDENT) == EDU_IDENT_VALUE, "0x%08x", edu_read(EDU_IDENT));
	edu_liveness();
	edu_factorial(5, 120);
	edu_factorial(10, 3628800);
	edu_cfg_write16(*dev, PCI_COMMAND, cmd | PCI_COMMAND_MASTER);
	cmd = edu_cfg_read16(*dev, PCI_COMMAND);
	edu_check("busmaster",
		  (cmd & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) ==
			  (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER),
		  "command 0x%04x after setting bus master", cmd);
	edu_dma_round_trip(ram_base, ram_end);
	edu_dma_beyond_ram(ram_end);
	return true;
}

/* ---- The edu's interrupt, as the arch's handler hands it over ---- */

void edu_irq_take(void)
{
	irq_status = edu_read(EDU_IRQ_STATUS);
	edu_write(EDU_IRQ_ACK, irq_status);
	irqs_taken++;
}

uint64_t edu_irq_count(void)
{
	return irqs_taken;
}

uint32_t edu_irq_status(void)
{
	return irq_status;
}

bool edu_irq_wait(uint64_t want)
{
	for (uint32_t i = 0; i < EDU_POLLS / 10 && irqs_taken < want; i++)
		delay(1);
	return irqs_taken >= want;
}

bool edu_msi_arrives(const char *kind, unsigned int n)
{
	bool got;

	edu_irqs(true);
	edu_write(EDU_IRQ_RAISE, 0x5a);
	got = edu_irq_wait(1);
	edu_check("msi", got && edu_irq_count() == 1 && edu_irq_status() == 0x5a,
		  "%lu interrupt(s) at %s 0x%x, status 0x%x (want 1, 0x5a)", edu_irq_count(), kind,
		  n, edu_irq_status());
	return got;
}

void edu_msi_silent(void)
{
	uint64_t before = edu_irq_count();

	edu_write(EDU_IRQ_RAISE, 0x3);
	edu_irq_wait(before + 1);
	edu_check("msi-off", edu_irq_count() == before && (edu_read(EDU_IRQ_STATUS) & 3) == 3,
		  "%lu interrupt(s) after a raise with MSI off, status 0x%x", edu_irq_count(),
		  edu_read(EDU_IRQ_STATUS));
	edu_irqs(false);
	edu_write(EDU_IRQ_ACK, 3);
}

/*
 * ---- INTx: with MSI off, a raise arrives on the line Interrupt Line names
 * (Keel wires the n-th function to the arch's first PCI line + n - 1) ----
 */

bool edu_intx_line(unsigned int dev, unsigned int first, const char *kind, unsigned int *line)
{
	uint32_t id = edu_cfg_read32(dev, PCI_INT_LINE);
	unsigned int pin = (id >> 8) & 0xff;

	*line = id & 0xff;
	return edu_check("intx-pin", pin == 1 && *line == first + dev - 1,
			 "interrupt pin %u, line %u (want INTA, %s %u)", pin, *line, kind,
			 first + dev - 1);
}

/* One raise of @bits: true if it came as one interrupt with that status (*@came: how many). */
static bool intx_raise(uint32_t bits, uint64_t *came)
{
	uint64_t before = irqs_taken;

	edu_write(EDU_IRQ_RAISE, bits);
	edu_irq_wait(before + 1);
	delay(1000); /* a second one, if the line were not lowered at the EOI */
	*came = irqs_taken - before;
	return *came == 1 && irq_status == bits;
}

void edu_intx(unsigned int dev, const char *kind, unsigned int line)
{
	uint16_t cmd = edu_cfg_read16(dev, PCI_COMMAND);
	uint64_t before, came;
	bool ok;

	edu_irqs(true);
	ok = intx_raise(0x11, &came);
	edu_check("intx", ok,
		  "a raise with MSI off came on %s %u: %lu interrupt(s), status 0x%x "
		  "(want 1, 0x11)",
		  kind, line, came, irq_status);
	/* Keel held the device's INTx off until the EOI, then let it go: it comes again. */
	ok = intx_raise(0x22, &came);
	edu_check("intx-again", ok, "a second raise: %lu interrupt(s), status 0x%x (want 1, 0x22)",
		  came, irq_status);
	/* The guest's own INTx Disable holds it, and the device still says it is pending. */
	edu_cfg_write16(dev, PCI_COMMAND, (uint16_t)(cmd | PCI_COMMAND_INTX_OFF));
	before = irqs_taken;
	edu_write(EDU_IRQ_RAISE, 0x44);
	edu_irq_wait(before + 1);
	edu_check("intx-disabled",
		  irqs_taken == before && (edu_cfg_read16(dev, PCI_STATUS) & PCI_STATUS_INTX),
		  "INTx Disable set: %lu interrupt(s), status register 0x%04x (INTx pending)",
		  irqs_taken - before, edu_cfg_read16(dev, PCI_STATUS));
	edu_cfg_write16(dev, PCI_COMMAND, cmd);
	edu_irq_wait(before + 1);
	edu_check("intx-enabled", irqs_taken == before + 1 && irq_status == 0x44,
		  "INTx Disable cleared: the pending raise came, status 0x%x (want 0x44)",
		  irq_status);
	edu_irqs(false);
}
