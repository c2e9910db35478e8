/* SPDX-License-Identifier: MIT */
/*
 * Legacy INTx of partitions' PCI functions.
 *
 * Which host line a function's INTx pin reaches is the firmware's routing,
 * written in AML that Keel does not run. So Keel listens on every line a PCI
 * function may pull (arch_intx_listen) and learns from the functions: PCI 2.3
 * gives each one an INTx Disable bit in Command and an "asserting INTx" bit
 * in Status, and every function no partition owns has INTx Disable set (pci.c
 * at boot, assign.c when one is released), so a line that fires is pulled by
 * the assigned functions whose Status says so.
 *
 * Such a function is masked at the device (INTx Disable) and its guest's line
 * raised. The guest's EOI lowers that line (the interrupt controller model)
 * and calls vfio_intx_eoi(), which unmasks the device: one that still wants
 * service pulls the host line again. This is VFIO's scheme, and it lets
 * functions of different partitions share one host line. A line that fires
 * while no function asserts INTx is counted; VFIO_INTX_STRAY in a row and the
 * arch masks it for good (a device that ignores INTx Disable would otherwise
 * hold the CPU that takes it).
 *
 * All state below is under intx_lock, taken with interrupts off. Lock order:
 * a partition's bus_lock, then intx_lock, then the interrupt controller
 * model's. The host line's handler takes intx_lock only.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pci.h>
#include <keel/spinlock.h>
#include <keel/vfio.h>

#include "vfio_part.h"

#define VFIO_INTX_SLOTS 64u /* functions with INTx offered, over all partitions */
#define VFIO_INTX_LINES 256u /* host lines counted for strays */
#define VFIO_INTX_STRAY 100u /* unclaimed firings in a row before a line is masked */

struct intx_slot {
	struct partition *part; /* NULL: free */
	struct vfio_dev *d;
};

static struct spinlock intx_lock = SPINLOCK_INIT;
static struct intx_slot intx_slots[VFIO_INTX_SLOTS];
static u32 intx_stray[VFIO_INTX_LINES];
static int intx_listening = 1; /* 1: not asked yet; else arch_intx_listen()'s answer */

/* The command register on the device: as vconfig last wrote it, INTx held off while masked. */
static void intx_write_cmd(struct vfio_dev *d)
{
	u16 cmd = d->intx_cmd;

	if (d->intx_masked)
		cmd |= PCI_COMMAND_INTX_OFF;
	pci_cfg_write(d->f->seg, d->f->bdf, PCI_COMMAND, 2, cmd);
}

bool vfio_intx_offered(void)
{
	unsigned long flags = spin_lock_irqsave(&intx_lock);

	if (intx_listening == 1)
		intx_listening = arch_intx_listen();
	spin_unlock_irqrestore(&intx_lock, flags);
	return intx_listening == 0;
}

static void vfio_intx_cfg_write(void *ctx, u16 bdf, u16 off, u32 size, u32 val)
{
	struct vfio_dev *d = ctx;
	unsigned long flags;

	if (off != PCI_COMMAND || size != 2) {
		pci_host_ops.write(pci_host_ctx(d->f->seg), bdf, off, size, val);
		return;
	}
	flags = spin_lock_irqsave(&intx_lock);
	d->intx_cmd = (u16)val;
	if (val & PCI_COMMAND_INTX_OFF) {
		/* The guest (or vconfig) turned INTx off: nothing of it stays raised. */
		d->intx_masked = false;
		if (d->intx_pin && d->intx_owner)
			arch_irq_set_level(d->intx_owner, d->intx_virq, false);
	}
	intx_write_cmd(d);
	spin_unlock_irqrestore(&intx_lock, flags);
}

static u32 vfio_intx_cfg_read(void *ctx, u16 bdf, u16 off, u32 size)
{
	const struct vfio_dev *d = ctx;

	return pci_host_ops.read(pci_host_ctx(d->f->seg), bdf, off, size);
}

const struct pci_cfg_ops vfio_intx_cfg_ops = {
	.read = vfio_intx_cfg_read,
	.write = vfio_intx_cfg_write,
};

int vfio_intx_attach(struct partition *part, struct vfio_dev *d, u32 virq)
{
	unsigned long flags;
	int ret = -KEEL_ENOSPC;

	d->intx_virq = virq;
	d->intx_pin = d->vc.shadow[PCI_INTERRUPT_PIN];
	if (!d->intx_pin)
		return 0;
	flags = spin_lock_irqsave(&intx_lock);
	for (u32 i = 0; i < VFIO_INTX_SLOTS; i++) {
		if (intx_slots[i].part)
			continue;
		intx_slots[i] = (struct intx_slot){ part, d };
		d->intx_owner = part;
		ret = 0;
		break;
	}
	spin_unlock_irqrestore(&intx_lock, flags);
	return ret;
}

void vfio_intx_detach(struct vfio_dev *d)
{
	unsigned long flags = spin_lock_irqsave(&intx_lock);

	for (u32 i = 0; i < VFIO_INTX_SLOTS; i++)
		if (intx_slots[i].d == d)
			intx_slots[i] = (struct intx_slot){ 0 };
	if (d->intx_owner && d->intx_pin)
		arch_irq_set_level(d->intx_owner, d->intx_virq, false);
	d->intx_owner = NULL;
	d->intx_masked = false;
	spin_unlock_irqrestore(&intx_lock, flags);
}

/* Slot @s's function asserts INTx: hold it off at the device, raise its guest's line. */
static void intx_claim(struct intx_slot *s, u32 line)
{
	struct vfio_dev *d = s->d;

	d->intx_masked = true;
	intx_write_cmd(d);
	arch_irq_set_level(s->part, d->intx_virq, true);
	if (!d->intx_seen || d->intx_line != line) {
		d->intx_seen = true;
		d->intx_line = line;
		pr_info("partition '%s': pci " PCI_FMT ": its INTx arrives on host line %u, "
			"its guest's " KEEL_ARCH_IRQ_LINE " %u",
			s->part->desc.h.name, PCI_ARGS(d->f->seg, d->f->bdf), line, d->intx_virq);
	}
}

bool vfio_intx_fired(u32 line)
{
	unsigned long flags = spin_lock_irqsave(&intx_lock);
	u32 claimed = 0;
	bool keep = true;

	for (u32 i = 0; i < VFIO_INTX_SLOTS; i++) {
		struct intx_slot *s = &intx_slots[i];
		u32 status;

		if (!s->part || s->d->intx_masked || (s->d->intx_cmd & PCI_COMMAND_INTX_OFF))
			continue;
		status = pci_cfg_read(s->d->f->seg, s->d->f->bdf, PCI_STATUS, 2);
		if (status == 0xffff || !(status & PCI_STATUS_INTX))
			continue;
		intx_claim(s, line);
		claimed++;
	}
	if (line < VFIO_INTX_LINES) {
		intx_stray[line] = claimed ? 0 : intx_stray[line] + 1;
		keep = intx_stray[line] < VFIO_INTX_STRAY;
	}
	spin_unlock_irqrestore(&intx_lock, flags);
	return keep;
}

void vfio_intx_eoi(struct partition *part, u32 virq)
{
	unsigned long flags = spin_lock_irqsave(&intx_lock);

	for (u32 i = 0; i < VFIO_INTX_SLOTS; i++) {
		struct intx_slot *s = &intx_slots[i];

		if (s->part != part || s->d->intx_virq != virq || !s->d->intx_masked)
			continue;
		s->d->intx_masked = false;
		intx_write_cmd(s->d);
	}
	spin_unlock_irqrestore(&intx_lock, flags);
}

u32 vfio_intx_routes(const struct partition *part, struct vfio_intx_route *out, u32 max)
{
	const struct vfio_part *vp = part->vfio;
	u32 n = 0;

	for (u32 i = 0; vp && i < vp->count && n < max; i++) {
		const struct vfio_dev *d = &vp->dev[i];

		if (!d->on_bus || !d->intx_pin || !d->intx_owner)
			continue;
		out[n++] = (struct vfio_intx_route){ .slot = PCI_BDF_DEV(d->vbdf),
						     .pin = d->intx_pin,
						     .virq = d->intx_virq };
	}
	return n;
}
