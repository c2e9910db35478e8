/* SPDX-License-Identifier: MIT */
/*
 * The 8254 PIT model (ports 0x40-0x43) and port 0x61 (channel 2 gate and
 * output): counters run from arch_time_ns(), which is what Linux's TSC
 * calibration against channel 2 needs. Channel 0 raises ISA IRQ 0 (GSI 2)
 * from a hypervisor timer on the boot vCPU's CPU: Linux checks it before
 * it has calibrated the TSC, then moves to the LAPIC timer.
 */
#include <keel/arch.h>
#include <keel/lib.h>
#include <keel/pcpu.h>

#include "vplat.h"

#define PIT_HZ 1193182ull
#define PIT_CTRL 3
#define PORT61_GATE2 BIT(0)
#define PORT61_SPEAKER BIT(1)
#define PORT61_OUT2 BIT(5)

/* rw field of the control word */
#define RW_LATCH 0
#define RW_LSB 1
#define RW_MSB 2
#define RW_WORD 3

static u64 vpit_period(const struct vpit_chan *c)
{
	return c->reload ? c->reload : 0x10000;
}

static u64 vpit_elapsed(const struct vpit_chan *c)
{
	if (!c->gate)
		return 0;
	return vplat_ns_to_ticks(arch_time_ns() - c->start_ns, PIT_HZ);
}

static u16 vpit_count(const struct vpit_chan *c)
{
	u64 t = vpit_elapsed(c), p = vpit_period(c);

	switch (c->mode) {
	case 2:
	case 3:
		return (u16)(p - t % p);
	default:
		/* Modes 0, 1, 4, 5: count down, then wrap and keep counting. */
		return (u16)(p - t % 0x10000);
	}
}

static bool vpit_out(const struct vpit_chan *c)
{
	u64 t = vpit_elapsed(c), p = vpit_period(c);

	switch (c->mode) {
	case 0:
		return t >= p; /* low until terminal count */
	case 2:
		return t % p != p - 1;
	case 3:
		return t % p < (p + 1) / 2;
	default:
		return true;
	}
}

/* Channel 0's timer lives on the boot vCPU's CPU; other CPUs leave it alone. */
static bool vpit_timer_cpu(const struct x86_vplat *plat)
{
	return plat->part->vcpus[0]->pcpu == pcpu_this();
}

/* Channel 0's interrupt period, never shorter than VPLAT_MIN_PERIOD_NS. */
static u64 vpit_period_ns(const struct vpit_chan *c)
{
	return MAX(vpit_period(c) * 1000000000ull / PIT_HZ, VPLAT_MIN_PERIOD_NS);
}

/* (Re)start or stop channel 0's interrupts after a new mode or count. */
static void vpit_ch0_program(struct x86_vplat *plat)
{
	struct vpit_chan *c = &plat->pit.ch[0];

	if (!vpit_timer_cpu(plat))
		return;
	if (c->mode == 0 || c->mode == 2 || c->mode == 3 || c->mode == 4)
		timer_arm(&plat->pit.ch0_timer, c->start_ns + vpit_period_ns(c));
	else
		timer_cancel(&plat->pit.ch0_timer);
}

static void vpit_ch0_fire(struct timer *t)
{
	struct x86_vplat *plat = t->data;
	struct vdev *dev = &plat->devs[VPLAT_DEV_PIT];
	struct vpit_chan *c = &plat->pit.ch[0];
	unsigned long flags = spin_lock_irqsave(&dev->lock);
	bool periodic = c->mode == 2 || c->mode == 3;
	u64 next = t->deadline_ns + vpit_period_ns(c), now = arch_time_ns();

	if (periodic)
		timer_arm(t, next > now ? next : now + vpit_period_ns(c));
	spin_unlock_irqrestore(&dev->lock, flags);
	/* An edge on the IOAPIC pin. */
	vioapic_set_level(plat, VPLAT_PIT_GSI, true);
	vioapic_set_level(plat, VPLAT_PIT_GSI, false);
}

void vpit_stop(struct vcpu *vcpu)
{
	struct x86_vplat *plat = vcpu->part->arch.plat;

	if (plat && plat->pit.ch0_timer.armed && plat->pit.ch0_timer.cpu == pcpu_this()->id)
		timer_cancel(&plat->pit.ch0_timer);
}

static void vpit_ctrl(struct x86_vplat *plat, u8 val)
{
	u32 ch = val >> 6;
	struct vpit_chan *c;

	struct vpit *pit = &plat->pit;

	if (ch == 3)
		return; /* read-back: Linux does not use it */
	c = &pit->ch[ch];
	if (((val >> 4) & 3) == RW_LATCH) {
		if (!c->latched) {
			c->latch = vpit_count(c);
			c->latched = 1;
			c->read_hi = 0;
		}
		return;
	}
	c->rw = (val >> 4) & 3;
	c->mode = (val >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4; /* 6 and 7 are aliases of 2 and 3 */
	c->latched = 0;
	c->read_hi = 0;
	c->write_hi = 0;
	/* A new mode stops the counter until its count is written. */
	if (ch == 0 && vpit_timer_cpu(plat))
		timer_cancel(&pit->ch0_timer);
}

static void vpit_write_count(struct x86_vplat *plat, u32 ch, u8 val)
{
	struct vpit_chan *c = &plat->pit.ch[ch];
	bool done = true;

	if (c->rw == RW_LSB) {
		c->reload = val;
	} else if (c->rw == RW_MSB) {
		c->reload = (u16)(val << 8);
	} else if (!c->write_hi) {
		c->reload = (c->reload & 0xff00) | val;
		c->write_hi = 1;
		done = false;
	} else {
		c->reload = (u16)((c->reload & 0xff) | (val << 8));
		c->write_hi = 0;
	}
	if (!done)
		return;
	c->start_ns = arch_time_ns(); /* counting starts at the new count */
	if (ch == 0)
		vpit_ch0_program(plat);
}

static u8 vpit_read_count(struct vpit_chan *c)
{
	u16 v = c->latched ? c->latch : vpit_count(c);
	u8 out;

	if (c->rw == RW_LSB) {
		out = (u8)v;
	} else if (c->rw == RW_MSB) {
		out = (u8)(v >> 8);
	} else {
		out = c->read_hi ? (u8)(v >> 8) : (u8)v;
		c->read_hi ^= 1;
		if (c->read_hi)
			return out;
	}
	c->latched = 0;
	return out;
}

static int vpit_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *val)
{
	struct vpit *pit = &vplat_of(dev)->pit;
	unsigned long flags = spin_lock_irqsave(&dev->lock);

	*val = off == PIT_CTRL ? 0xff : vpit_read_count(&pit->ch[off]);
	spin_unlock_irqrestore(&dev->lock, flags);
	return 0;
}

static int vpit_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 val)
{
	unsigned long flags = spin_lock_irqsave(&dev->lock);

	if (off == PIT_CTRL)
		vpit_ctrl(vplat_of(dev), (u8)val);
	else
		vpit_write_count(vplat_of(dev), (u32)off, (u8)val);
	spin_unlock_irqrestore(&dev->lock, flags);
	return 0;
}

/* Port 0x61: bit 0 gates channel 2, bit 5 shows its output. */
static int vpit_port61_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *val)
{
	struct x86_vplat *plat = vplat_of(dev);
	unsigned long flags = spin_lock_irqsave(&plat->devs[VPLAT_DEV_PIT].lock);
	struct vpit *pit = &plat->pit;

	*val = (pit->port61 & (PORT61_GATE2 | PORT61_SPEAKER)) |
	       (vpit_out(&pit->ch[2]) ? PORT61_OUT2 : 0);
	spin_unlock_irqrestore(&plat->devs[VPLAT_DEV_PIT].lock, flags);
	return 0;
}

static int vpit_port61_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 val)
{
	struct x86_vplat *plat = vplat_of(dev);
	unsigned long flags = spin_lock_irqsave(&plat->devs[VPLAT_DEV_PIT].lock);
	struct vpit_chan *c2 = &plat->pit.ch[2];
	u8 gate = val & PORT61_GATE2;

	/* A rising gate (re)starts channel 2 from its count. */
	if (gate && !c2->gate)
		c2->start_ns = arch_time_ns();
	c2->gate = gate;
	plat->pit.port61 = (u8)val & (PORT61_GATE2 | PORT61_SPEAKER);
	spin_unlock_irqrestore(&plat->devs[VPLAT_DEV_PIT].lock, flags);
	return 0;
}

/* At partition load, before any vCPU runs: no timer is armed yet. */
static void vpit_reset(struct vdev *dev)
{
	struct vpit *pit = &vplat_of(dev)->pit;

	memset(pit->ch, 0, sizeof(pit->ch));
	pit->ch[0].gate = pit->ch[1].gate = 1; /* channels 0 and 1 are always gated on */
	pit->port61 = 0;
}

static const struct vdev_ops vpit_ops = {
	.read = vpit_read,
	.write = vpit_write,
	.reset = vpit_reset,
};

static const struct vdev_ops vpit_port61_ops = {
	.read = vpit_port61_read,
	.write = vpit_port61_write,
};

int vpit_create(struct x86_vplat *plat)
{
	int ret = vplat_add(plat, VPLAT_DEV_PIT, "pit", VDEV_PIO, 0x40, 4, &vpit_ops);

	if (!ret)
		ret = vplat_add(plat, VPLAT_DEV_PORT61, "port61", VDEV_PIO, 0x61, 1,
				&vpit_port61_ops);
	plat->pit.ch0_timer.fn = vpit_ch0_fire;
	plat->pit.ch0_timer.data = plat;
	if (!ret)
		vpit_reset(&plat->devs[VPLAT_DEV_PIT]);
	return ret;
}
