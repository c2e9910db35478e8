/* SPDX-License-Identifier: MIT */
/*
 * ACPI CPU hotplug for partitions with hot vCPUs (max_cpus above their
 * cores): the GPE0 block the FADT names, and one status port per vCPU that
 * the DSDT's processor devices read (acpi_gen.c). RESIZE marks vCPUs to add
 * or eject and raises GPE 2 on the SCI; the guest's _E02 scans the ports and
 * notifies each device; its _EJ0, once the guest has taken the CPU offline,
 * writes the eject bit, and the vCPU gives its core back (part_vcpu_left).
 *
 * A status port reads: bit 0 present (the guest may have the CPU), bit 1 an
 * add pending, bit 2 an eject pending. Writes: bits 1 and 2 clear those,
 * bit 3 ejects. Registers share the PM block's lock, as they share the SCI.
 */
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pcpu.h>

#include "vplat.h"

#define CPUHP_GPE BIT(2) /* the DSDT's _E02 */
#define CPUHP_PRESENT BIT(0)
#define CPUHP_INSERT BIT(1)
#define CPUHP_REMOVE BIT(2)
#define CPUHP_EJECT BIT(3)
#define CPUHP_GPE_STS 0u /* GPE0_STS: 2 bytes, write 1 to clear */
#define CPUHP_GPE_EN 2u /* GPE0_EN: 2 bytes */

static u8 vcpuhp_status(const struct vcpuhp *hp, u32 i)
{
	return (u8)(((hp->present >> i) & 1) | (((hp->insert >> i) & 1) << 1) |
		    (((hp->remove >> i) & 1) << 2));
}

/* Bytes [@off, @off + @size) of the 4-byte GPE0 block. */
static u64 vcpuhp_gpe_read(const struct vcpuhp *hp, u64 off, u32 size)
{
	u32 regs = hp->gpe_sts | ((u32)hp->gpe_en << 16);

	return (regs >> (8 * off)) & (size >= 4 ? ~0u : (1u << (8 * size)) - 1);
}

static int vcpuhp_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *val)
{
	struct x86_vplat *plat = vplat_of(dev);
	struct vcpuhp *hp = &plat->cpuhp;
	unsigned long flags = spin_lock_irqsave(&plat->pm.lock);

	if (off < VPLAT_CPUHP_PORT - VPLAT_GPE0_PORT)
		*val = off + size <= 4 ? vcpuhp_gpe_read(hp, off, size) : ~0ull;
	else if (size == 1 && off - (VPLAT_CPUHP_PORT - VPLAT_GPE0_PORT) < plat->part->vcpu_count)
		*val = vcpuhp_status(hp, (u32)(off - (VPLAT_CPUHP_PORT - VPLAT_GPE0_PORT)));
	else
		*val = ~0ull;
	spin_unlock_irqrestore(&plat->pm.lock, flags);
	return 0;
}

/*
 * The guest's _EJ0 for vCPU @i: a hot vCPU leaves its core (the guest took
 * it offline first; if it did not, only the guest itself loses). Own-core
 * vCPUs are never ejected. Under the PM lock.
 */
static void vcpuhp_eject(struct x86_vplat *plat, u32 i)
{
	struct vcpuhp *hp = &plat->cpuhp;
	struct vcpu *v = plat->part->vcpus[i];

	if (!v->hot)
		return;
	hp->present &= ~BIT(i);
	hp->remove &= ~BIT(i);
	if (__atomic_load_n(&v->bound, __ATOMIC_ACQUIRE)) {
		__atomic_fetch_or(&v->requests, VCPU_REQ_RELEASE, __ATOMIC_RELEASE);
		if (READ_ONCE(v->pcpu) != pcpu_this())
			pcpu_kick(READ_ONCE(v->pcpu));
	}
}

static void vcpuhp_write_status(struct x86_vplat *plat, u32 i, u8 val)
{
	struct vcpuhp *hp = &plat->cpuhp;

	if (val & CPUHP_INSERT)
		hp->insert &= ~BIT(i);
	if (val & CPUHP_REMOVE)
		hp->remove &= ~BIT(i);
	if (val & CPUHP_EJECT)
		vcpuhp_eject(plat, i);
}

static int vcpuhp_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 val)
{
	struct x86_vplat *plat = vplat_of(dev);
	struct vcpuhp *hp = &plat->cpuhp;
	unsigned long flags = spin_lock_irqsave(&plat->pm.lock);
	u64 port = off - (VPLAT_CPUHP_PORT - VPLAT_GPE0_PORT);

	/* GPE0: status bytes are write-1-to-clear, enable bytes are plain. */
	for (u32 b = 0; off < 4 && b < size && off + b < 4; b++) {
		u8 byte = (u8)(val >> (8 * b));
		u32 at = (u32)off + b;

		if (at < CPUHP_GPE_EN)
			hp->gpe_sts &= (u16) ~((u32)byte << (8 * at));
		else
			hp->gpe_en = (u16)((hp->gpe_en & ~(0xffu << (8 * (at - CPUHP_GPE_EN)))) |
					   ((u32)byte << (8 * (at - CPUHP_GPE_EN))));
	}
	if (off >= VPLAT_CPUHP_PORT - VPLAT_GPE0_PORT && size == 1 && port < plat->part->vcpu_count)
		vcpuhp_write_status(plat, (u32)port, (u8)val);
	vpm_sci_update(plat);
	spin_unlock_irqrestore(&plat->pm.lock, flags);
	return 0;
}

/* Back to what the guest's tables say at boot: the MADT enabled the wanted vCPUs. */
static void vcpuhp_reset(struct vdev *dev)
{
	struct x86_vplat *plat = vplat_of(dev);
	struct vcpuhp *hp = &plat->cpuhp;
	unsigned long flags = spin_lock_irqsave(&plat->pm.lock);

	hp->gpe_sts = hp->gpe_en = 0;
	hp->insert = hp->remove = 0;
	hp->present = vcpuhp_wanted(plat->part);
	vpm_sci_update(plat);
	spin_unlock_irqrestore(&plat->pm.lock, flags);
}

void vcpuhp_resized(struct x86_vplat *plat)
{
	struct vcpuhp *hp = &plat->cpuhp;
	unsigned long flags = spin_lock_irqsave(&plat->pm.lock);
	u64 want = vcpuhp_wanted(plat->part), add = want & ~hp->present, drop = hp->present & ~want;

	hp->present |= add;
	hp->insert = (hp->insert | add) & ~drop;
	hp->remove = (hp->remove | drop) & ~add;
	if (add | drop)
		hp->gpe_sts |= CPUHP_GPE;
	vpm_sci_update(plat);
	spin_unlock_irqrestore(&plat->pm.lock, flags);
}

bool vcpuhp_pending(const struct vcpuhp *hp)
{
	return (hp->gpe_sts & hp->gpe_en & CPUHP_GPE) != 0;
}

static const struct vdev_ops vcpuhp_ops = {
	.read = vcpuhp_read,
	.write = vcpuhp_write,
	.reset = vcpuhp_reset,
};

int vcpuhp_create(struct x86_vplat *plat)
{
	int ret = vplat_add(plat, VPLAT_DEV_CPUHP, "acpi-cpu-hotplug", VDEV_PIO, VPLAT_GPE0_PORT,
			    VPLAT_CPUHP_PORT - VPLAT_GPE0_PORT + KEEL_MAX_CPUS, &vcpuhp_ops);

	if (!ret)
		vcpuhp_reset(&plat->devs[VPLAT_DEV_CPUHP]);
	return ret;
}
