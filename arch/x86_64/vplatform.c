/* SPDX-License-Identifier: MIT */
/*
 * The x86_64 partition platform: creating a partition's device models,
 * its interrupt lines (GSIs into the IOAPIC model), what wakes a halted
 * vCPU, and the entropy source.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pdesc.h>
#include <keel/pmm.h>

#include "vplat.h"
#include "x86.h"

static u64 vplat_bytes(void)
{
	return ALIGN_UP(sizeof(struct x86_vplat), PAGE_SIZE);
}

int vplat_add(struct x86_vplat *plat, enum vplat_dev which, const char *name, u32 space, u64 base,
	      u64 size, const struct vdev_ops *ops)
{
	struct vdev *dev = &plat->devs[which];

	dev->name = name;
	dev->space = space;
	dev->irq = VDEV_NO_IRQ;
	dev->base = base;
	dev->size = size;
	dev->ops = ops;
	dev->priv = plat;
	return vdev_add(plat->part, dev);
}

void vplat_destroy(struct x86_vplat *plat)
{
	struct partition *part = plat->part;

	/*
	 * Every vCPU has left (their LAPIC timers were cancelled on their CPUs),
	 * and every device that raises its lines is gone (arch_part_devices_free).
	 */
	for (u32 i = 0; i < part->vcpu_count; i++)
		part->vcpus[i]->arch.lapic = NULL;
	part->arch.plat = NULL;
	pmm_free(hva_to_hpa(plat), vplat_bytes());
}

/*
 * The ACPI fixed power button of a Linux guest (vpm.c). Under part->lock a
 * RUNNING partition cannot start stopping, so no vCPU has left and the
 * platform state is still there. Lock order: part->lock, PM, IOAPIC.
 */
bool arch_part_request_poweroff(struct partition *part)
{
	unsigned long flags = spin_lock_irqsave(&part->lock);
	bool pressed = false;

	if ((BIT(part->state) & (PS(RUNNING) | PS(PAUSED))) && part->arch.plat)
		pressed = vpm_power_button(part->arch.plat);
	spin_unlock_irqrestore(&part->lock, flags);
	return pressed;
}

/* ACPI CPU hotplug (vcpuhp.c); as for the power button, part->lock keeps the platform there. */
void arch_vcpus_resized(struct partition *part)
{
	unsigned long flags = spin_lock_irqsave(&part->lock);

	if ((BIT(part->state) & (PS(RUNNING) | PS(PAUSED))) && part->arch.plat &&
	    part->arch.plat->devs[VPLAT_DEV_CPUHP].ops)
		vcpuhp_resized(part->arch.plat);
	spin_unlock_irqrestore(&part->lock, flags);
}

/* The LAPIC first: it is destroyed last and takes the platform state with it. */
int arch_part_devices_init(struct partition *part)
{
	hpa_t pa = pmm_alloc(vplat_bytes(), PAGE_SIZE);
	struct x86_vplat *plat;
	int ret;

	if (!pa)
		return -KEEL_ENOMEM;
	plat = hpa_to_hva(pa);
	memset(plat, 0, sizeof(*plat));
	plat->part = part;
	part->arch.plat = plat;
	ret = vlapic_create(plat);
	if (ret) {
		vplat_destroy(plat);
		return ret;
	}
	ret = vioapic_create(plat);
	if (!ret)
		ret = vpit_create(plat);
	if (!ret)
		ret = vpm_create(plat);
	if (!ret && part->vcpu_count > pdesc_cores(&part->desc))
		ret = vcpuhp_create(plat);
	if (!ret)
		ret = vpci_create(plat);
	if (!ret)
		ret = vuart_create(plat);
	if (!ret)
		ret = vlegacy_create(plat);
	/* On error, core's vdev_destroy_all() destroys what was added; then plat goes. */
	return ret;
}

void arch_part_devices_free(struct partition *part)
{
	if (part->arch.plat)
		vplat_destroy(part->arch.plat);
}

void arch_irq_set_level(struct partition *part, u32 irq, bool level)
{
	struct x86_vplat *plat = part->arch.plat;

	if (plat)
		vioapic_set_level(plat, irq, level);
}

void arch_irq_line_describe(struct partition *part, u32 irq, char *buf, u32 len)
{
	struct x86_vplat *plat = part->arch.plat;

	if (plat)
		vioapic_describe(plat, irq, buf, len);
	else
		snprintf(buf, len, "no IOAPIC");
}

/* A vCPU waiting for a SIPI (after INIT) wakes for the SIPI only, not for interrupts. */
bool arch_vcpu_irq_pending(struct vcpu *vcpu)
{
	u32 ap = __atomic_load_n(&vcpu->arch.ap_state, __ATOMIC_ACQUIRE);

	if (ap != X86_AP_RUN)
		return ap == X86_AP_SIPI;
	return vlapic_pending(vcpu) >= 0 || vlapic_nmi_pending(vcpu);
}

#define X86_RDRAND_RETRIES 16 /* Intel's DRNG guide: 10 retries make failure negligible */

static bool x86_rdseed(u64 *v)
{
	u8 ok;

	__asm__ volatile("rdseed %0; setc %1" : "=r"(*v), "=qm"(ok));
	return ok;
}

static bool x86_rdrand(u64 *v)
{
	u8 ok;

	__asm__ volatile("rdrand %0; setc %1" : "=r"(*v), "=qm"(ok));
	return ok;
}

/* One 64-bit word: RDSEED, else RDRAND, else TSC jitter mixed (not real entropy). */
static u64 x86_entropy_word(bool seed, bool rand)
{
	u64 v = 0, mix = 0;

	for (u32 i = 0; i < X86_RDRAND_RETRIES; i++) {
		if (seed && x86_rdseed(&v))
			return v;
		if (rand && x86_rdrand(&v))
			return v;
	}
	/* No DRNG: the low TSC bits around short waits vary a little; fold 64 samples. */
	for (u32 i = 0; i < 64; i++) {
		u64 t = x86_rdtsc();

		arch_cpu_relax();
		mix = (mix << 7 | mix >> 57) ^ t ^ (x86_rdtsc() - t) * 0x9e3779b97f4a7c15ull;
	}
	return mix;
}

void arch_entropy(void *buf, size_t len)
{
	bool seed = x86_cpuid(0, 0).eax >= 7 && (x86_cpuid(7, 0).ebx & BIT(18));
	bool rand = x86_cpuid(1, 0).ecx & BIT(30);
	u8 *p = buf;

	while (len) {
		u64 v = x86_entropy_word(seed, rand);
		size_t n = MIN(len, sizeof(v));

		memcpy(p, &v, n);
		p += n;
		len -= n;
	}
}
