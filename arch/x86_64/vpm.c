/* SPDX-License-Identifier: MIT */
/*
 * The ACPI fixed hardware the FADT describes: PM1a event and control blocks
 * (S5 = power off, the fixed power button on the SCI), the 24-bit PM timer at
 * 3.579545 MHz, and the reset register at port 0xcf9. Power-off and reset
 * stop the partition.
 */
#include <keel/arch.h>
#include <keel/lib.h>

#include "vplat.h"

#define PM_TIMER_HZ 3579545ull
#define PM1_CNT_SCI_EN BIT(0)
#define PM1_CNT_SLP_TYP(v) (((v) >> 10) & 7)
#define PM1_CNT_SLP_EN BIT(13)
#define PM1_STS_TMR BIT(0)
#define PM1_PWRBTN BIT(8) /* PWRBTN_STS in PM1_STS, PWRBTN_EN in PM1_EN */
#define PM1_STS_WAK BIT(15)
#define PM1_SCI_EVENTS PM1_PWRBTN /* the fixed events this model raises */

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
	unsigned long flags;
	u64 regs;

	if (off >= 8) {
		*val = vpm_bytes(vpm_timer(), off, 8, size);
		return 0;
	}
	/* PM1_STS, PM1_EN, PM1_CNT as one 8-byte little-endian image; any aligned slice reads. */
	flags = spin_lock_irqsave(&pm->lock);
	regs = pm->pm1_sts | ((u64)pm->pm1_en << 16) | ((u64)(pm->pm1_cnt | PM1_CNT_SCI_EN) << 32);
	spin_unlock_irqrestore(&pm->lock, flags);
	*val = vpm_bytes(regs, off, 0, size);
	return 0;
}

/*
 * The SCI (level, active high, per the MADT override) is high while an enabled
 * fixed event is pending. Caller holds the lock (then the IOAPIC's is taken).
 */
void vpm_sci_update(struct x86_vplat *plat)
{
	struct vpm *pm = &plat->pm;

	vioapic_set_level(plat, VPLAT_SCI_IRQ,
			  (pm->pm1_sts & pm->pm1_en & PM1_SCI_EVENTS) ||
				  vcpuhp_pending(&plat->cpuhp));
}

static int vpm_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 val)
{
	struct x86_vplat *plat = vplat_of(dev);
	struct vpm *pm = &plat->pm;
	unsigned long flags = spin_lock_irqsave(&pm->lock);
	bool s5 = false;

	if (off == 0 && size >= 2) {
		pm->pm1_sts &= (u16)~val; /* write 1 to clear */
		if (size == 4)
			pm->pm1_en = (u16)(val >> 16);
	} else if (off == 2 && size == 2) {
		pm->pm1_en = (u16)val;
	} else if (off == 4 && size >= 2) {
		pm->pm1_cnt = (u16)val & ~PM1_CNT_SLP_EN; /* SLP_EN is write-only */
		/* Other sleep states (S1-S4) are not offered in the DSDT: nothing to do. */
		s5 = (val & PM1_CNT_SLP_EN) && PM1_CNT_SLP_TYP(val) == VPLAT_S5_TYP;
	}
	/* The timer is read-only; odd slices are ignored. */
	vpm_sci_update(plat);
	spin_unlock_irqrestore(&pm->lock, flags);
	if (s5)
		part_stop(vcpu->part, KEEL_STOP_CAUSE_GUEST, "powered off by the guest", false);
	return 0;
}

static void vpm_reset(struct vdev *dev)
{
	struct x86_vplat *plat = vplat_of(dev);
	struct vpm *pm = &plat->pm;
	unsigned long flags = spin_lock_irqsave(&pm->lock);

	/* pm->acpi stays: it describes the loaded kernel, not register state. */
	pm->pm1_sts = pm->pm1_en = 0;
	pm->pm1_cnt = PM1_CNT_SCI_EN; /* already in ACPI mode: no SMI_CMD */
	vpm_sci_update(plat);
	spin_unlock_irqrestore(&pm->lock, flags);
}

bool vpm_power_button(struct x86_vplat *plat)
{
	struct vpm *pm = &plat->pm;
	unsigned long flags = spin_lock_irqsave(&pm->lock);
	bool acpi = pm->acpi;

	if (acpi) {
		pm->pm1_sts |= PM1_PWRBTN; /* the SCI follows if the guest enabled it */
		vpm_sci_update(plat);
	}
	spin_unlock_irqrestore(&pm->lock, flags);
	return acpi;
}

/* A byte written to port 0xcf9 (vpci.c owns the port range): the reset value (bit 2, as on PIIX/ICH) resets the partition. */
void vpm_reset_control(struct vcpu *vcpu, u8 val)
{
	if (val & BIT(2))
		part_stop(vcpu->part, KEEL_STOP_CAUSE_GUEST, "reset by the guest", true);
}

/*
 * Snapshots: PM1_STS, PM1_EN and PM1_CNT. The PM timer has no state of its
 * own: it counts the host's time, as the guest's TSC does, and goes on from
 * wherever a restore finds them both. Restore drives the SCI from the
 * restored registers, as a write of them would (an IOAPIC restored from the
 * same snapshot has that level already, and an in-service SCI its remote IRR).
 */
#define VPM_STATE_MAGIC 0x314d5041u /* "APM1" */
struct vpm_state {
	u32 magic;
	u16 pm1_sts, pm1_en, pm1_cnt, pad;
};

static int vpm_save(struct vdev *dev, void *buf, u32 len)
{
	struct vpm *pm = &vplat_of(dev)->pm;
	struct vpm_state st = { .magic = VPM_STATE_MAGIC };
	unsigned long flags;

	if (len < sizeof(st))
		return -KEEL_E2BIG;
	flags = spin_lock_irqsave(&pm->lock);
	st.pm1_sts = pm->pm1_sts;
	st.pm1_en = pm->pm1_en;
	st.pm1_cnt = pm->pm1_cnt;
	spin_unlock_irqrestore(&pm->lock, flags);
	memcpy(buf, &st, sizeof(st));
	return (int)sizeof(st);
}

/*
 * As the model could have made them: no status but the power button's, and
 * that only for a guest the button is offered to (ACPI tables); SLP_EN
 * clear (it is write-only); any PM1_EN.
 */
static bool vpm_state_ok(const struct vpm *pm, const struct vpm_state *st)
{
	return st->magic == VPM_STATE_MAGIC && !st->pad && !(st->pm1_sts & ~PM1_PWRBTN) &&
	       (pm->acpi || !st->pm1_sts) && !(st->pm1_cnt & PM1_CNT_SLP_EN);
}

static int vpm_restore(struct vdev *dev, const void *buf, u32 len)
{
	struct x86_vplat *plat = vplat_of(dev);
	struct vpm *pm = &plat->pm;
	struct vpm_state st;
	unsigned long flags;

	if (len == sizeof(st))
		memcpy(&st, buf, sizeof(st));
	if (len != sizeof(st) || !vpm_state_ok(pm, &st)) {
		vpm_reset(dev);
		return -KEEL_EINVAL;
	}
	flags = spin_lock_irqsave(&pm->lock);
	pm->pm1_sts = st.pm1_sts;
	pm->pm1_en = st.pm1_en;
	pm->pm1_cnt = st.pm1_cnt;
	vpm_sci_update(plat);
	spin_unlock_irqrestore(&pm->lock, flags);
	return 0;
}

static const struct vdev_ops vpm_ops = {
	.read = vpm_read,
	.write = vpm_write,
	.reset = vpm_reset,
	.save = vpm_save,
	.restore = vpm_restore,
};

int vpm_create(struct x86_vplat *plat)
{
	int ret = vplat_add(plat, VPLAT_DEV_PM, "acpi-pm", VDEV_PIO, VPLAT_PM_BASE, VPLAT_PM_SIZE,
			    &vpm_ops);

	if (!ret)
		vpm_reset(&plat->devs[VPLAT_DEV_PM]);
	return ret;
}
