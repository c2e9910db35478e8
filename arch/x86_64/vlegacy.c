/* SPDX-License-Identifier: MIT */
/*
 * Legacy ports Linux probes, answered quietly: a pair of 8259 PICs that are
 * always masked (only their mask registers exist), a CMOS RTC that counts
 * from 2025-01-01 at partition start, and the POST port 0x80 (I/O delay)
 * with the DMA page registers around it (0x81-0x8f read 0xff: there is no
 * 8237 DMA controller, which is how Linux tells).
 */
#include <keel/arch.h>
#include <keel/lib.h>

#include "vplat.h"

#define CMOS_REG_A 0x0a
#define CMOS_REG_B 0x0b
#define CMOS_REG_D 0x0d
#define CMOS_CENTURY 0x32

/* PIC: offset 1 is the mask register; the command port reads 0 (no IRR/ISR bits). */
static int vpic_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *val)
{
	struct vlegacy *lg = &vplat_of(dev)->legacy;

	*val = off == 1 ? lg->pic_imr[dev->base == 0xa0] : 0;
	return 0;
}

/* Initialization words are accepted and forgotten: the PICs never deliver. */
static int vpic_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 val)
{
	struct vlegacy *lg = &vplat_of(dev)->legacy;

	if (off == 1)
		lg->pic_imr[dev->base == 0xa0] = (u8)val;
	return 0;
}

static u8 vcmos_bcd(u64 v)
{
	return (u8)(((v / 10) % 10) << 4 | (v % 10));
}

static u8 vcmos_reg(struct x86_vplat *plat, u32 reg)
{
	u64 s = arch_time_ns() / 1000000000ull;

	switch (reg) {
	case 0x00:
		return vcmos_bcd(s % 60);
	case 0x02:
		return vcmos_bcd((s / 60) % 60);
	case 0x04:
		return vcmos_bcd((s / 3600) % 24);
	case 0x06:
		return 4; /* a Wednesday */
	case 0x07:
	case 0x08:
		return 1; /* January 1st */
	case 0x09:
		return 0x25;
	case CMOS_REG_A:
		return 0x26; /* 32.768 kHz, 1024 Hz, never "update in progress" */
	case CMOS_REG_B:
		return 0x02; /* 24-hour, BCD, no interrupts */
	case CMOS_REG_D:
		return 0x80; /* battery good */
	case CMOS_CENTURY:
		return 0x20;
	default:
		return 0;
	}
}

static int vcmos_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *val)
{
	struct x86_vplat *plat = vplat_of(dev);

	*val = off == 1 ? vcmos_reg(plat, plat->legacy.cmos_index) : 0xff;
	return 0;
}

static int vcmos_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 val)
{
	if (off == 0)
		vplat_of(dev)->legacy.cmos_index = (u8)val & 0x7f; /* bit 7: NMI mask */
	return 0; /* CMOS contents are read-only */
}

static int vpost_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *val)
{
	*val = 0xff;
	return 0;
}

static int vpost_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 val)
{
	return 0;
}

static void vlegacy_reset(struct vdev *dev)
{
	struct vlegacy *lg = &vplat_of(dev)->legacy;

	lg->pic_imr[0] = lg->pic_imr[1] = 0xff;
	lg->cmos_index = 0;
}

static const struct vdev_ops vpic_ops = {
	.read = vpic_read,
	.write = vpic_write,
	.reset = vlegacy_reset,
};

static const struct vdev_ops vcmos_ops = {
	.read = vcmos_read,
	.write = vcmos_write,
};

static const struct vdev_ops vpost_ops = {
	.read = vpost_read,
	.write = vpost_write,
};

int vlegacy_create(struct x86_vplat *plat)
{
	int ret = vplat_add(plat, VPLAT_DEV_PIC1, "pic", VDEV_PIO, 0x20, 2, &vpic_ops);

	if (!ret)
		ret = vplat_add(plat, VPLAT_DEV_PIC2, "pic", VDEV_PIO, 0xa0, 2, &vpic_ops);
	if (!ret)
		ret = vplat_add(plat, VPLAT_DEV_CMOS, "cmos", VDEV_PIO, 0x70, 2, &vcmos_ops);
	if (!ret)
		ret = vplat_add(plat, VPLAT_DEV_POST, "post", VDEV_PIO, 0x80, 16, &vpost_ops);
	if (!ret)
		vlegacy_reset(&plat->devs[VPLAT_DEV_PIC1]);
	return ret;
}

/*
 * Ports of PC devices a partition does not have, which guests probe knowing
 * they may be absent (Linux's 8250, Super I/O, parallel-port and floppy
 * probes): a floating bus, like an empty slot on a PC, and no warning.
 */
bool arch_port_is_probe(u32 port)
{
	static const struct {
		u16 first, last;
	} absent[] = {
		{ 0x2e, 0x2f }, /* Super I/O configuration (Winbond, SMSC) */
		{ 0x4e, 0x4f }, /* Super I/O configuration, second address */
		{ 0x1f0, 0x1f7 }, /* primary IDE */
		{ 0x170, 0x177 }, /* secondary IDE */
		{ 0x278, 0x27f }, /* LPT2 */
		{ 0x2e8, 0x2ef }, /* COM4 */
		{ 0x2f8, 0x2ff }, /* COM2 */
		{ 0x378, 0x37f }, /* LPT1 */
		{ 0x3bc, 0x3bf }, /* LPT on a monochrome adapter */
		{ 0x3e8, 0x3ef }, /* COM3 */
		{ 0x3f0, 0x3f7 }, /* floppy controller */
	};

	for (u32 i = 0; i < ARRAY_SIZE(absent); i++)
		if (port >= absent[i].first && port <= absent[i].last)
			return true;
	return false;
}
