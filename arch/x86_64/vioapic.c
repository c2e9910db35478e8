/* SPDX-License-Identifier: MIT */
/*
 * The IOAPIC model of a partition: 32 pins at 0xfec00000, redirection table,
 * edge and level triggering with remote IRR, cleared by the EOI broadcast of
 * the LAPIC model. Device lines (virtio, UART, PCI functions' INTx) reach it
 * through arch_irq_set_level().
 */
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/vfio.h>

#include "vplat.h"

#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN 0x10
#define IOAPIC_EOI 0x40
#define IOAPIC_VERSION (0x20u | ((VPLAT_IOAPIC_PINS - 1) << 16))

#define RTE_DM(v) (((v) >> 8) & 7)
#define RTE_LOGICAL BIT(11)
#define RTE_REMOTE_IRR BIT(14)
#define RTE_LEVEL BIT(15)
#define RTE_MASKED BIT(16)
#define RTE_RO (BIT(12) | RTE_REMOTE_IRR) /* delivery status, remote IRR */
#define RTE_DEST(v) ((u32)((v) >> 56))

/* Send pin @pin's interrupt; caller holds the lock. */
static void vioapic_fire(struct x86_vplat *plat, u32 pin)
{
	struct vioapic *io = &plat->ioapic;
	u64 rte = io->redir[pin];

	if (rte & RTE_MASKED)
		return;
	if (rte & RTE_LEVEL) {
		if (rte & RTE_REMOTE_IRR)
			return; /* the guest has not EOIed the last one */
		io->redir[pin] |= RTE_REMOTE_IRR;
	}
	/* Fixed and lowest priority only: no SMI/NMI/INIT/ExtINT routing in a microVM. */
	if (RTE_DM(rte) > 1)
		return;
	vlapic_deliver_dest(plat, RTE_DEST(rte), rte & RTE_LOGICAL, RTE_DM(rte), (u8)rte,
			    rte & RTE_LEVEL);
}

void vioapic_set_level(struct x86_vplat *plat, u32 pin, bool level)
{
	struct vioapic *io = &plat->ioapic;
	unsigned long flags;
	u32 bit = 1u << pin, old;

	if (pin >= VPLAT_IOAPIC_PINS)
		return;
	flags = spin_lock_irqsave(&io->lock);
	old = io->level & bit;
	io->level = level ? io->level | bit : io->level & ~bit;
	/* Edge: a rising edge; level: as long as it is high (remote IRR gates it). */
	if (level && (!old || (io->redir[pin] & RTE_LEVEL)))
		vioapic_fire(plat, pin);
	spin_unlock_irqrestore(&io->lock, flags);
}

/* A pin of a PCI function's INTx: its line is resampled at the EOI (vfio_intx_eoi). */
static bool vioapic_pin_is_pci(u32 pin)
{
	return pin >= KEEL_PCI_INTX_IRQ_BASE && pin < KEEL_PCI_INTX_IRQ_BASE + KEEL_PD_MAX_PCI;
}

void vioapic_eoi(struct x86_vplat *plat, u8 vector)
{
	struct vioapic *io = &plat->ioapic;
	unsigned long flags = spin_lock_irqsave(&io->lock);
	u32 resample = 0;

	for (u32 pin = 0; pin < VPLAT_IOAPIC_PINS; pin++) {
		u64 rte = io->redir[pin];

		if ((u8)rte != vector || !(rte & RTE_REMOTE_IRR))
			continue;
		io->redir[pin] &= ~RTE_REMOTE_IRR;
		/*
		 * A PCI function's line drops at the EOI: vfio unmasks the device
		 * below, and a device that still wants service raises it again
		 * through the host. Not firing it again here spares the guest an
		 * interrupt for a request its handler already served.
		 */
		if ((rte & RTE_LEVEL) && vioapic_pin_is_pci(pin) && (io->level & (1u << pin))) {
			io->level &= ~(1u << pin);
			resample |= 1u << pin;
			continue;
		}
		if ((rte & RTE_LEVEL) && (io->level & (1u << pin)))
			vioapic_fire(plat, pin);
	}
	spin_unlock_irqrestore(&io->lock, flags);
	/* Outside the lock: vfio takes its own, and raises the line again through it. */
	for (u32 pin = 0; resample; pin++)
		if (resample & (1u << pin)) {
			resample &= ~(1u << pin);
			vfio_intx_eoi(plat->part, pin);
		}
}

void vioapic_describe(struct x86_vplat *plat, u32 pin, char *buf, u32 len)
{
	const struct vioapic *io = &plat->ioapic;
	u64 rte;

	if (pin >= VPLAT_IOAPIC_PINS) {
		snprintf(buf, len, "no IOAPIC pin %u", pin);
		return;
	}
	rte = READ_ONCE(io->redir[pin]);
	snprintf(buf, len, "IOAPIC pin %u line %s, vector 0x%x%s%s%s", pin,
		 (READ_ONCE(io->level) >> pin) & 1 ? "high" : "low", (u32)(rte & 0xff),
		 rte & RTE_LEVEL ? " level" : " edge", rte & RTE_MASKED ? " masked" : "",
		 rte & RTE_REMOTE_IRR ? " remote-IRR" : "");
}

static u32 vioapic_reg_read(struct vioapic *io)
{
	u32 idx = io->index, pin;

	switch (idx) {
	case 0:
		return io->id << 24;
	case 1:
		return IOAPIC_VERSION;
	case 2:
		return io->id << 24; /* arbitration ID */
	default:
		pin = (idx - 0x10) / 2;
		if (idx < 0x10 || pin >= VPLAT_IOAPIC_PINS)
			return 0;
		return (u32)(io->redir[pin] >> ((idx & 1) * 32));
	}
}

static void vioapic_reg_write(struct x86_vplat *plat, u32 val)
{
	struct vioapic *io = &plat->ioapic;
	u32 idx = io->index, pin = (idx - 0x10) / 2;
	u64 rte;

	if (idx == 0) {
		io->id = (val >> 24) & 0xf;
		return;
	}
	if (idx < 0x10 || pin >= VPLAT_IOAPIC_PINS)
		return; /* version, arbitration and reserved registers are read-only */
	rte = io->redir[pin];
	if (idx & 1)
		rte = (rte & 0xffffffffull) | ((u64)val << 32);
	else
		rte = (rte & (0xffffffff00000000ull | RTE_RO)) | (val & ~(u32)RTE_RO);
	if (!(rte & RTE_LEVEL))
		rte &= ~RTE_REMOTE_IRR;
	io->redir[pin] = rte;
	/* Unmasking a level pin whose line is high delivers it now. */
	if ((rte & RTE_LEVEL) && !(rte & RTE_MASKED) && (io->level & (1u << pin)))
		vioapic_fire(plat, pin);
}

static int vioapic_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *val)
{
	struct vioapic *io = &vplat_of(dev)->ioapic;
	unsigned long flags = spin_lock_irqsave(&io->lock);

	*val = 0;
	if (off == IOAPIC_REGSEL && size == 4)
		*val = io->index;
	else if (off == IOAPIC_WIN && size == 4)
		*val = vioapic_reg_read(io);
	spin_unlock_irqrestore(&io->lock, flags);
	return 0;
}

static int vioapic_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 val)
{
	struct x86_vplat *plat = vplat_of(dev);
	struct vioapic *io = &plat->ioapic;
	unsigned long flags;

	if (size != 4 && !(off == IOAPIC_REGSEL && size == 1))
		return 0;
	if (off == IOAPIC_EOI) {
		vioapic_eoi(plat, (u8)val);
		return 0;
	}
	flags = spin_lock_irqsave(&io->lock);
	if (off == IOAPIC_REGSEL)
		io->index = (u32)val & 0xff;
	else if (off == IOAPIC_WIN)
		vioapic_reg_write(plat, (u32)val);
	spin_unlock_irqrestore(&io->lock, flags);
	return 0;
}

static void vioapic_reset(struct vdev *dev)
{
	struct vioapic *io = &vplat_of(dev)->ioapic;
	unsigned long flags = spin_lock_irqsave(&io->lock);

	io->index = 0;
	io->id = 0;
	for (u32 i = 0; i < VPLAT_IOAPIC_PINS; i++)
		io->redir[i] = RTE_MASKED;
	spin_unlock_irqrestore(&io->lock, flags);
}

/*
 * Snapshots: the register index, the ID, the line levels and the
 * redirection table. Restoring delivers nothing: an interrupt in flight is
 * the LAPIC's state, and a pin whose level entry is in service keeps its
 * remote IRR until the guest's EOI, as before the snapshot.
 */
#define VIOAPIC_STATE_MAGIC 0x32414f49u /* "IOA2": 32 pins */
struct vioapic_state {
	u32 magic;
	u32 index, id, level;
	u64 redir[VPLAT_IOAPIC_PINS];
};

static int vioapic_save(struct vdev *dev, void *buf, u32 len)
{
	struct vioapic *io = &vplat_of(dev)->ioapic;
	struct vioapic_state st = { .magic = VIOAPIC_STATE_MAGIC };
	unsigned long flags;

	if (len < sizeof(st))
		return -KEEL_E2BIG;
	flags = spin_lock_irqsave(&io->lock);
	st.index = io->index;
	st.id = io->id;
	st.level = io->level;
	memcpy(st.redir, io->redir, sizeof(st.redir));
	spin_unlock_irqrestore(&io->lock, flags);
	memcpy(buf, &st, sizeof(st));
	return (int)sizeof(st);
}

/*
 * As the model could have made them: an 8-bit index, a 4-bit ID, lines of
 * existing pins; entries with delivery status clear and remote IRR only on
 * level-triggered pins.
 */
static bool vioapic_state_ok(const struct vioapic_state *st)
{
	if (st->magic != VIOAPIC_STATE_MAGIC || st->index > 0xff || st->id > 0xf ||
	    (VPLAT_IOAPIC_PINS < 32 && (st->level >> (VPLAT_IOAPIC_PINS % 32))))
		return false;
	for (u32 i = 0; i < VPLAT_IOAPIC_PINS; i++) {
		u64 rte = st->redir[i];

		if ((rte & BIT(12)) || ((rte & RTE_REMOTE_IRR) && !(rte & RTE_LEVEL)))
			return false;
	}
	return true;
}

static int vioapic_restore(struct vdev *dev, const void *buf, u32 len)
{
	struct vioapic *io = &vplat_of(dev)->ioapic;
	struct vioapic_state st;
	unsigned long flags;

	if (len == sizeof(st))
		memcpy(&st, buf, sizeof(st));
	if (len != sizeof(st) || !vioapic_state_ok(&st)) {
		vioapic_reset(dev);
		return -KEEL_EINVAL;
	}
	flags = spin_lock_irqsave(&io->lock);
	io->index = st.index;
	io->id = st.id;
	io->level = st.level;
	memcpy(io->redir, st.redir, sizeof(io->redir));
	spin_unlock_irqrestore(&io->lock, flags);
	return 0;
}

static const struct vdev_ops vioapic_ops = {
	.read = vioapic_read,
	.write = vioapic_write,
	.reset = vioapic_reset,
	.save = vioapic_save,
	.restore = vioapic_restore,
};

int vioapic_create(struct x86_vplat *plat)
{
	int ret = vplat_add(plat, VPLAT_DEV_IOAPIC, "ioapic", VDEV_MMIO, VPLAT_IOAPIC_BASE,
			    PAGE_SIZE, &vioapic_ops);

	if (!ret)
		vioapic_reset(&plat->devs[VPLAT_DEV_IOAPIC]);
	return ret;
}
