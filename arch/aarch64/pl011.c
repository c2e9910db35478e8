/* SPDX-License-Identifier: MIT */
/*
 * A minimal PL011 UART model for a Linux guest's earlycon and ttyAMA0:
 * transmit goes to the partition's console line by line; the transmit FIFO
 * is always empty (so its interrupt is always raised while unmasked); the
 * receiver never has data (console input goes to the virtio console).
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pmm.h>
#include <keel/vdev.h>

#include "vplat.h"

#define UART_DR 0x000
#define UART_RSR 0x004
#define UART_FR 0x018
#define UART_ILPR 0x020
#define UART_IBRD 0x024
#define UART_FBRD 0x028
#define UART_LCR_H 0x02c
#define UART_CR 0x030
#define UART_IFLS 0x034
#define UART_IMSC 0x038
#define UART_RIS 0x03c
#define UART_MIS 0x040
#define UART_ICR 0x044
#define UART_DMACR 0x048
#define UART_ID 0xfe0 /* PeriphID0..3, PCellID0..3 */

#define FR_RXFE BIT(4)
#define FR_TXFE BIT(7)
#define INT_TX BIT(5)
#define INT_MASK 0x7ffu

struct pl011 {
	struct vdev vdev;
	u32 ibrd, fbrd, lcr_h, cr, ifls, imsc, ilpr, dmacr;
	u32 irq_level;
};

/* What an ARM PL011 r1p5 answers: the AMBA bus matches the driver on these. */
static const u8 pl011_id[8] = { 0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1 };

static u32 pl011_ris(const struct pl011 *u)
{
	return INT_TX;
}

static void pl011_update_irq(struct pl011 *u)
{
	u32 level = (pl011_ris(u) & u->imsc) != 0;

	if (level != u->irq_level) {
		u->irq_level = level;
		arch_irq_set_level(u->vdev.part, VPLAT_PL011_SPI, level);
	}
}

static u32 *pl011_reg(struct pl011 *u, u64 off)
{
	switch (off) {
	case UART_ILPR:
		return &u->ilpr;
	case UART_IBRD:
		return &u->ibrd;
	case UART_FBRD:
		return &u->fbrd;
	case UART_LCR_H:
		return &u->lcr_h;
	case UART_CR:
		return &u->cr;
	case UART_IFLS:
		return &u->ifls;
	case UART_IMSC:
		return &u->imsc;
	case UART_DMACR:
		return &u->dmacr;
	default:
		return NULL;
	}
}

/* What a write to @off keeps of a value (pl011_write's mask). */
static u32 pl011_reg_mask(u64 off)
{
	return off == UART_IMSC ? INT_MASK : 0xffffu;
}

static int pl011_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *value)
{
	struct pl011 *u = dev->priv;
	unsigned long flags = spin_lock_irqsave(&dev->lock);
	u32 *reg = pl011_reg(u, off);

	if (reg)
		*value = *reg;
	else if (off == UART_FR)
		*value = FR_TXFE | FR_RXFE;
	else if (off == UART_RIS)
		*value = pl011_ris(u);
	else if (off == UART_MIS)
		*value = pl011_ris(u) & u->imsc;
	else if (off >= UART_ID && off < UART_ID + 0x20 && !(off & 3))
		*value = pl011_id[(off - UART_ID) / 4];
	else
		*value = 0; /* DR with nothing received, RSR, write-only ICR */
	spin_unlock_irqrestore(&dev->lock, flags);
	return 0;
}

static int pl011_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 value)
{
	struct pl011 *u = dev->priv;
	unsigned long flags = spin_lock_irqsave(&dev->lock);
	u32 *reg = pl011_reg(u, off);
	char c = (char)value;

	if (off == UART_DR)
		console_part_write(dev->part, &c, 1);
	else if (reg)
		*reg = (u32)value & pl011_reg_mask(off);
	pl011_update_irq(u);
	spin_unlock_irqrestore(&dev->lock, flags);
	return 0;
}

static void pl011_reset(struct vdev *dev)
{
	struct pl011 *u = dev->priv;
	unsigned long flags = spin_lock_irqsave(&dev->lock);

	u->ibrd = u->fbrd = u->lcr_h = u->ifls = u->imsc = u->ilpr = u->dmacr = 0;
	u->cr = 0x300; /* TXE | RXE */
	u->irq_level = 0;
	spin_unlock_irqrestore(&dev->lock, flags);
}

static void pl011_destroy(struct vdev *dev)
{
	dev->part->arch.pl011 = NULL;
	pmm_free_page(dev->priv);
}

/* Snapshots: the registers a driver writes, in pl011_reg's order; the SPI follows. */
#define PL011_STATE_MAGIC 0x31313050u /* "P011" */
#define PL011_NR_REGS 8u
static const u16 pl011_saved[PL011_NR_REGS] = { UART_ILPR, UART_IBRD, UART_FBRD, UART_LCR_H,
						UART_CR,   UART_IFLS, UART_IMSC, UART_DMACR };

struct pl011_state {
	u32 magic;
	u32 reg[PL011_NR_REGS];
};

static int pl011_save(struct vdev *dev, void *buf, u32 len)
{
	struct pl011 *u = dev->priv;
	struct pl011_state st = { .magic = PL011_STATE_MAGIC };
	unsigned long flags;

	if (len < sizeof(st))
		return -KEEL_E2BIG;
	flags = spin_lock_irqsave(&dev->lock);
	for (u32 i = 0; i < PL011_NR_REGS; i++)
		st.reg[i] = *pl011_reg(u, pl011_saved[i]);
	spin_unlock_irqrestore(&dev->lock, flags);
	memcpy(buf, &st, sizeof(st));
	return (int)sizeof(st);
}

/* Each register as a driver could have written it: no bit its write would drop. */
static bool pl011_state_ok(const struct pl011_state *st)
{
	if (st->magic != PL011_STATE_MAGIC)
		return false;
	for (u32 i = 0; i < PL011_NR_REGS; i++)
		if (st->reg[i] & ~pl011_reg_mask(pl011_saved[i]))
			return false;
	return true;
}

static int pl011_restore(struct vdev *dev, const void *buf, u32 len)
{
	struct pl011 *u = dev->priv;
	struct pl011_state st;
	unsigned long flags;

	if (len == sizeof(st))
		memcpy(&st, buf, sizeof(st));
	if (len != sizeof(st) || !pl011_state_ok(&st)) {
		pl011_reset(dev);
		arch_irq_set_level(dev->part, VPLAT_PL011_SPI, false);
		return -KEEL_EINVAL;
	}
	flags = spin_lock_irqsave(&dev->lock);
	for (u32 i = 0; i < PL011_NR_REGS; i++)
		*pl011_reg(u, pl011_saved[i]) = st.reg[i];
	u->irq_level = !((pl011_ris(u) & u->imsc) != 0); /* drive the line whatever it was */
	pl011_update_irq(u);
	spin_unlock_irqrestore(&dev->lock, flags);
	return 0;
}

static const struct vdev_ops pl011_ops = {
	.read = pl011_read,
	.write = pl011_write,
	.reset = pl011_reset,
	.destroy = pl011_destroy,
	.save = pl011_save,
	.restore = pl011_restore,
};

int pl011_create(struct partition *part)
{
	struct pl011 *u = pmm_alloc_page();
	int ret;

	_Static_assert(sizeof(struct pl011) <= PAGE_SIZE, "pl011 fits a page");
	if (!u)
		return -KEEL_ENOMEM;
	memset(u, 0, sizeof(*u));
	u->vdev = (struct vdev){ .name = "pl011",
				 .space = VDEV_MMIO,
				 .irq = VPLAT_PL011_SPI,
				 .base = VPLAT_PL011_BASE,
				 .size = VPLAT_PL011_SIZE,
				 .ops = &pl011_ops,
				 .priv = u };
	pl011_reset(&u->vdev);
	ret = vdev_add(part, &u->vdev);
	if (ret) {
		pmm_free_page(u);
		return ret;
	}
	part->arch.pl011 = u;
	return 0;
}
