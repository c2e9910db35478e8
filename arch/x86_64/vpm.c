/* SPDX-License-Identifier: MIT */
/*
 * The ACPI fixed hardware the FADT describes: PM1a event and control blocks
 * (S5 = power off), the 24-bit PM timer at 3.579545 MHz, and the reset
 * register at port 0xcf9. Power-off and reset stop the partition.
 */
#include <keel/arch.h>
#include <keel/lib.h>

#include "vplat.h"

#define PM_TIMER_HZ 3579545ull
#define PM1_CNT_SCI_EN BIT(0)
#define PM1_CNT_SLP_TYP(v) (((v) >> 10) & 7)
#define PM1_CNT_SLP_EN BIT(13)
#define PM1_STS_TMR BIT(0)
#define PM1_STS_WAK BIT(15)

static u32 vpm_timer(void)
{
	return (u32)vplat_ns_to_ticks(arch_time_ns(), PM_TIMER_HZ) & 0xffffff;
}

/* Bytes [off, off + size) of a little-endian register that starts at @reg. */
static u64 vpm_bytes(u64 value, u64 off, u64 reg, u32 size)
{
	u64 v = value >> ((off - reg) * 8);

	return size < 8 ? v & ((1ull << (size * 8)) - 1) : v;
}

static int vpm_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *val)
{
	struct vpm *pm = &vplat_of(dev)->pm;
	u64 regs;

	/* The block as one 12-byte little-endian image; any aligned slice reads. */
	if (off < 4) {
		regs = pm->pm1_sts | ((u64)pm->pm1_en << 16);
		*val = vpm_bytes(regs, off, 0, size);
	} else if (off < 8) {
		*val = vpm_bytes(pm->pm1_cnt | PM1_CNT_SCI_EN, off, 4, size);
	} else {
		*val = vpm_bytes(vpm_timer(), off, 8, size);
	}
	return 0;
}

static void vpm_cnt_write(struct vcpu *vcpu, struct vpm *pm, u16 val)
{
	pm->pm1_cnt = val & ~PM1_CNT_SLP_EN; /* SLP_EN is write-only */
	if ((val & PM1_CNT_SLP_EN) && PM1_CNT_SLP_TYP(val) == VPLAT_S5_TYP)
		part_stop(vcpu->part, "powered off by the guest", false);
	/* Other sleep states (S1-S4) are not offered in the DSDT: nothing to do. */
}

static int vpm_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 val)
{
	struct vpm *pm = &vplat_of(dev)->pm;

	if (off == 0 && size >= 2) {
		pm->pm1_sts &= (u16)~val; /* write 1 to clear */
		if (size == 4)
			pm->pm1_en = (u16)(val >> 16);
	} else if (off == 2 && size == 2) {
		pm->pm1_en = (u16)val;
	} else if (off == 4 && size >= 2) {
		vpm_cnt_write(vcpu, pm, (u16)val);
	}
	/* The timer is read-only; odd slices are ignored. */
	return 0;
}

static void vpm_reset(struct vdev *dev)
{
	struct vpm *pm = &vplat_of(dev)->pm;

	pm->pm1_sts = pm->pm1_en = 0;
	pm->pm1_cnt = PM1_CNT_SCI_EN; /* already in ACPI mode: no SMI_CMD */
}

/* Port 0xcf9: the reset value (bit 2, as on PIIX/ICH) resets the partition. */
static int vpm_reset_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *val)
{
	*val = 0;
	return 0;
}

static int vpm_reset_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 val)
{
	if (val & BIT(2))
		part_stop(vcpu->part, "reset by the guest", true);
	return 0;
}

static const struct vdev_ops vpm_ops = {
	.read = vpm_read,
	.write = vpm_write,
	.reset = vpm_reset,
};

static const struct vdev_ops vpm_reset_ops = {
	.read = vpm_reset_read,
	.write = vpm_reset_write,
};

int vpm_create(struct x86_vplat *plat)
{
	int ret = vplat_add(plat, VPLAT_DEV_PM, "acpi-pm", VDEV_PIO, VPLAT_PM_BASE,
			    VPLAT_PM_SIZE, &vpm_ops);

	if (!ret)
		ret = vplat_add(plat, VPLAT_DEV_RESET, "reset", VDEV_PIO, VPLAT_RESET_PORT, 1,
				&vpm_reset_ops);
	if (!ret)
		vpm_reset(&plat->devs[VPLAT_DEV_PM]);
	return ret;
}
