/* SPDX-License-Identifier: MIT */
/*
 * The host's IOAPICs (from the MADT). At boot every pin is masked: Keel takes
 * no legacy interrupt of its own (its UART is polled, its timer is the
 * LAPIC's), and a pin the firmware left open would bring Keel vectors it
 * never asked for.
 *
 * arch_intx_listen() then takes the pins a PCI function's INTx may reach
 * (GSI 16 and up) for vfio/intx.c: level-triggered, active low (PCI's, and
 * ACPI's default for GSIs no MADT override names), each through an
 * interrupt remapping entry of the IOMMU that covers its IOAPIC (the
 * IOAPIC's requester ID from DMAR or IVRS), to vector X86_VEC_INTX_BASE +
 * (GSI - 16) of the boot CPU. Without such an IOMMU no pin is taken.
 *
 * The remapping entry names the vector as edge-triggered, so the LAPIC sends
 * no EOI to the IOAPIC: the handler writes the IOAPIC's own EOI register
 * (version 0x20 and later) once vfio has held the function's INTx off, and
 * the pin's remote IRR clears without the pin firing again.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/iommu.h>
#include <keel/lib.h>
#include <keel/pcpu.h>
#include <keel/spinlock.h>
#include <keel/vfio.h>

#include "acpi_iommu.h"
#include "x86.h"

#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN 0x10
#define IOAPIC_EOI 0x40
#define IOAPIC_REG_VER 0x01
#define IOAPIC_REG_RTE 0x10 /* pin n: 0x10 + 2n (low), + 1 (high) */
#define IOAPIC_VER_EOI 0x20 /* the EOI register exists from this version */

#define RTE_POLARITY_LOW BIT(13)
#define RTE_LEVEL BIT(15)
#define RTE_MASKED BIT(16)
#define RTE_REMAP_FORMAT BIT(48) /* VT-d: bits 63:49 and 11 hold the entry's index */

#define INTX_FIRST_GSI 16u /* PCI: the ISA IRQs 0-15 are never a PCI function's */

struct host_ioapic {
	volatile u32 *regs;
	struct spinlock lock; /* IOREGSEL and IOWIN are one access */
	u32 gsi_base;
	u32 pins;
	u32 version;
	u8 id;
	bool source_known; /* DMAR/IVRS named its requester */
	u16 seg;
	u16 rid;
	hpa_t unit_base; /* the registers of the IOMMU that table named */
	u64 rte[X86_INTX_GSIS]; /* what Keel wrote to each PCI pin (0: not taken) */
};

static struct host_ioapic host_ioapics[ARRAY_SIZE(x86_acpi.ioapic_base)];
static u32 host_ioapic_count;

static u32 ioapic_read(struct host_ioapic *io, u32 reg)
{
	io->regs[IOAPIC_REGSEL / 4] = reg;
	return io->regs[IOAPIC_WIN / 4];
}

static void ioapic_write(struct host_ioapic *io, u32 reg, u32 val)
{
	io->regs[IOAPIC_REGSEL / 4] = reg;
	io->regs[IOAPIC_WIN / 4] = val;
}

/* Pin @pin's entry: the high half first, so it is never live half written. */
static void ioapic_set_rte(struct host_ioapic *io, u32 pin, u64 rte)
{
	unsigned long flags = spin_lock_irqsave(&io->lock);

	ioapic_write(io, IOAPIC_REG_RTE + 2 * pin, (u32)rte | RTE_MASKED);
	ioapic_write(io, IOAPIC_REG_RTE + 2 * pin + 1, (u32)(rte >> 32));
	ioapic_write(io, IOAPIC_REG_RTE + 2 * pin, (u32)rte);
	spin_unlock_irqrestore(&io->lock, flags);
}

/* What DMAR/IVRS said, kept until the IOAPICs are set up (the tables come first). */
struct ioapic_source {
	u8 id;
	u16 seg;
	u16 rid;
	hpa_t unit_base;
};
static struct ioapic_source ioapic_sources[ARRAY_SIZE(x86_acpi.ioapic_base)];
static u32 ioapic_source_count;

void x86_ioapic_source(u8 ioapic_id, u16 seg, u16 rid, hpa_t unit_base)
{
	for (u32 i = 0; i < ioapic_source_count; i++)
		if (ioapic_sources[i].id == ioapic_id)
			return; /* the first table to name it stands */
	if (ioapic_source_count < ARRAY_SIZE(ioapic_sources))
		ioapic_sources[ioapic_source_count++] =
			(struct ioapic_source){ ioapic_id, seg, rid, unit_base };
}

static void ioapic_find_source(struct host_ioapic *io)
{
	for (u32 i = 0; i < ioapic_source_count; i++) {
		if (ioapic_sources[i].id != io->id)
			continue;
		io->source_known = true;
		io->seg = ioapic_sources[i].seg;
		io->rid = ioapic_sources[i].rid;
		io->unit_base = ioapic_sources[i].unit_base;
	}
}

void x86_ioapic_init(void)
{
	for (u32 i = 0; i < x86_acpi.ioapic_count && i < ARRAY_SIZE(host_ioapics); i++) {
		struct host_ioapic *io = &host_ioapics[host_ioapic_count];
		u32 ver;

		io->regs = hpa_to_hva(x86_acpi.ioapic_base[i]);
		io->lock = (struct spinlock)SPINLOCK_INIT;
		io->id = x86_acpi.ioapic_id[i];
		io->gsi_base = x86_acpi.ioapic_gsi_base[i];
		ver = ioapic_read(io, IOAPIC_REG_VER);
		if (ver == 0xffffffffu) {
			pr_warn("x86: IOAPIC %u at 0x%llx does not answer; left alone", io->id,
				(unsigned long long)x86_acpi.ioapic_base[i]);
			continue;
		}
		io->version = ver & 0xff;
		io->pins = ((ver >> 16) & 0xff) + 1;
		for (u32 pin = 0; pin < io->pins; pin++)
			ioapic_set_rte(io, pin, RTE_MASKED);
		ioapic_find_source(io);
		host_ioapic_count++;
		pr_info("x86: IOAPIC %u at 0x%llx: GSIs %u-%u, version 0x%x, every pin masked",
			io->id, (unsigned long long)x86_acpi.ioapic_base[i], io->gsi_base,
			io->gsi_base + io->pins - 1, io->version);
	}
}

/* The entry for a remapped message @msi, level-triggered and active low. */
static u64 ioapic_remapped_rte(const struct iommu_unit *u, const struct iommu_msi *msi, u32 index,
			       u8 vector)
{
	u64 rte = RTE_LEVEL | RTE_POLARITY_LOW;

	if (u->kind == IOMMU_VTD)
		/* Remappable format: the index in 63:49 and 11; the vector matches the entry's. */
		return rte | RTE_REMAP_FORMAT | (u64)(index & 0x7fff) << 49 |
		       (u64)((index >> 15) & 1) << 11 | vector;
	/* AMD-Vi indexes its table with the message's data 10:0: vector and delivery mode. */
	return rte | (msi->data & 0x7ff);
}

/* Take pin @pin of @io (GSI @gsi) for INTx; false if its IOMMU cannot route it. */
static bool ioapic_listen_pin(struct host_ioapic *io, struct iommu_unit *u, u32 pin, u32 gsi)
{
	u8 vector = (u8)(X86_VEC_INTX_BASE + (gsi - INTX_FIRST_GSI));
	struct iommu_msi msi;
	u32 index;
	int ret = iommu_irq_alloc(u, io->rid, (u32)pcpus[0].hwid, vector, &msi, &index);

	if (ret) {
		pr_warn("x86: IOAPIC %u pin %u (GSI %u): no interrupt remapping entry (error %d); "
			"INTx there is not delivered",
			io->id, pin, gsi, ret);
		return false;
	}
	io->rte[gsi - INTX_FIRST_GSI] = ioapic_remapped_rte(u, &msi, index, vector);
	ioapic_set_rte(io, pin, io->rte[gsi - INTX_FIRST_GSI]);
	return true;
}

/* Why @io's PCI pins cannot be taken, or NULL (then *@unit is its IOMMU). */
static const char *ioapic_refusal(const struct host_ioapic *io, struct iommu_unit **unit)
{
	if (!io->source_known)
		return "no DMAR or IVRS entry names its requester ID";
	*unit = iommu_unit_at_base(io->unit_base);
	if (!*unit)
		return "the IOMMU that covers it is not on";
	if (io->version < IOAPIC_VER_EOI)
		return "it has no EOI register (version below 0x20)";
	if (pcpus[0].hwid > 0xff)
		return "the boot CPU's APIC ID is above 255";
	return NULL;
}

int arch_intx_listen(void)
{
	u32 taken = 0;

	for (u32 i = 0; i < host_ioapic_count; i++) {
		struct host_ioapic *io = &host_ioapics[i];
		struct iommu_unit *u = NULL;
		const char *why = ioapic_refusal(io, &u);

		if (why) {
			pr_warn("x86: IOAPIC %u: INTx of PCI functions not taken: %s", io->id, why);
			continue;
		}
		for (u32 pin = 0; pin < io->pins; pin++) {
			u32 gsi = io->gsi_base + pin;

			if (gsi >= INTX_FIRST_GSI && gsi < INTX_FIRST_GSI + X86_INTX_GSIS &&
			    ioapic_listen_pin(io, u, pin, gsi))
				taken++;
		}
	}
	if (!taken) {
		pr_warn("x86: INTx of PCI functions is not offered: no IOAPIC pin could be taken");
		return -KEEL_ENOTSUP;
	}
	pr_info("x86: INTx of PCI functions: %u IOAPIC pins from GSI %u listened to, on CPU 0",
		taken, INTX_FIRST_GSI);
	return 0;
}

/* The IOAPIC and pin of @gsi, if Keel took it. */
static struct host_ioapic *ioapic_of_gsi(u32 gsi, u32 *pin)
{
	for (u32 i = 0; i < host_ioapic_count; i++) {
		struct host_ioapic *io = &host_ioapics[i];

		if (gsi >= io->gsi_base && gsi - io->gsi_base < io->pins &&
		    io->rte[gsi - INTX_FIRST_GSI]) {
			*pin = gsi - io->gsi_base;
			return io;
		}
	}
	return NULL;
}

void x86_intx_irq(u64 vector)
{
	u32 gsi = (u32)(vector - X86_VEC_INTX_BASE) + INTX_FIRST_GSI, pin;
	struct host_ioapic *io = ioapic_of_gsi(gsi, &pin);
	bool keep = vfio_intx_fired(gsi);

	if (!io)
		return;
	if (!keep) {
		io->rte[gsi - INTX_FIRST_GSI] |= RTE_MASKED;
		ioapic_set_rte(io, pin, io->rte[gsi - INTX_FIRST_GSI]);
		pr_err("x86: GSI %u keeps interrupting with no assigned PCI function asserting "
		       "INTx; masked for good",
		       gsi);
	}
	/* The remote IRR of a level pin clears at the EOI of the vector its entry holds. */
	io->regs[IOAPIC_EOI / 4] = (u32)(io->rte[gsi - INTX_FIRST_GSI] & 0xff);
}
