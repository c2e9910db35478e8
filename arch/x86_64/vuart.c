/* SPDX-License-Identifier: MIT */
/*
 * A 16550A model at COM1 (0x3f8, IRQ 4) for the guest's early console and
 * ttyS0: transmit goes to the partition's console line by line, it never
 * fills; nothing is ever received (input goes to the virtio console).
 */
#include <keel/arch.h>
#include <keel/console.h>

#include "vplat.h"

#define UART_BASE 0x3f8
#define UART_IER_RDI 0x01
#define UART_IER_THRI 0x02
#define UART_IIR_NO_INT 0x01
#define UART_IIR_THRI 0x02
#define UART_IIR_FIFO 0xc0
#define UART_LCR_DLAB 0x80
#define UART_MCR_LOOP 0x10
#define UART_LSR_IDLE 0x60 /* THRE | TEMT */

/* The line follows "THR empty and its interrupt enabled and not yet seen". */
static void vuart_update_irq(struct partition *part, struct vuart *u)
{
	u8 level = (u->ier & UART_IER_THRI) && u->thri_pending;

	if (level != u->level) {
		u->level = level;
		arch_irq_set_level(part, VPLAT_UART_IRQ, level);
	}
}

/* Modem status: in loopback the outputs come back (OUT2->DCD, OUT1->RI, DTR->DSR, RTS->CTS). */
static u8 vuart_msr(const struct vuart *u)
{
	if (!(u->mcr & UART_MCR_LOOP))
		return 0xb0; /* DCD, DSR, CTS */
	return (u8)(((u->mcr & 0x08) << 4) | ((u->mcr & 0x04) << 4) | ((u->mcr & 0x01) << 5) |
		    ((u->mcr & 0x02) << 3));
}

static u8 vuart_reg_read(struct vuart *u, u32 reg)
{
	u8 iir;

	switch (reg) {
	case 0:
		return (u->lcr & UART_LCR_DLAB) ? u->dll : 0;
	case 1:
		return (u->lcr & UART_LCR_DLAB) ? u->dlm : u->ier;
	case 2:
		iir = (u->fcr & 1) ? UART_IIR_FIFO : 0;
		if ((u->ier & UART_IER_THRI) && u->thri_pending) {
			u->thri_pending = 0; /* reading IIR acknowledges THRE */
			return iir | UART_IIR_THRI;
		}
		return iir | UART_IIR_NO_INT;
	case 3:
		return u->lcr;
	case 4:
		return u->mcr;
	case 5:
		return UART_LSR_IDLE;
	case 6:
		return vuart_msr(u);
	default:
		return u->scr;
	}
}

static void vuart_reg_write(struct partition *part, struct vuart *u, u32 reg, u8 v)
{
	switch (reg) {
	case 0:
		if (u->lcr & UART_LCR_DLAB) {
			u->dll = v;
		} else {
			char c = (char)v;

			if (!(u->mcr & UART_MCR_LOOP))
				console_part_write(part, &c, 1);
			u->thri_pending = 1; /* sent at once: THR empty again */
		}
		break;
	case 1:
		if (u->lcr & UART_LCR_DLAB) {
			u->dlm = v;
		} else {
			if ((v & UART_IER_THRI) && !(u->ier & UART_IER_THRI))
				u->thri_pending = 1;
			u->ier = v & 0x0f;
		}
		break;
	case 2:
		u->fcr = v & 0xc9;
		break;
	case 3:
		u->lcr = v;
		break;
	case 4:
		u->mcr = v & 0x1f;
		break;
	case 7:
		u->scr = v;
		break;
	default:
		break; /* LSR and MSR are read-only */
	}
}

static int vuart_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *val)
{
	struct vuart *u = &vplat_of(dev)->uart;
	unsigned long flags = spin_lock_irqsave(&u->lock);

	*val = vuart_reg_read(u, (u32)off);
	vuart_update_irq(dev->part, u);
	spin_unlock_irqrestore(&u->lock, flags);
	return 0;
}

static int vuart_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 val)
{
	struct vuart *u = &vplat_of(dev)->uart;
	unsigned long flags = spin_lock_irqsave(&u->lock);

	vuart_reg_write(dev->part, u, (u32)off, (u8)val);
	vuart_update_irq(dev->part, u);
	spin_unlock_irqrestore(&u->lock, flags);
	return 0;
}

static void vuart_reset(struct vdev *dev)
{
	struct vuart *u = &vplat_of(dev)->uart;

	u->ier = u->lcr = u->mcr = u->scr = u->dll = u->dlm = u->fcr = 0;
	u->thri_pending = 0;
	u->level = 0;
}

static const struct vdev_ops vuart_ops = {
	.read = vuart_read,
	.write = vuart_write,
	.reset = vuart_reset,
};

int vuart_create(struct x86_vplat *plat)
{
	return vplat_add(plat, VPLAT_DEV_UART, "uart", VDEV_PIO, UART_BASE, 8, &vuart_ops);
}
