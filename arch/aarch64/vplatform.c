/* SPDX-License-Identifier: MIT */
/*
 * The aarch64 partition platform behind the arch contract: its devices (vGIC,
 * PL011, PL061; the virtio ones come from virtio/), its power key, interrupt
 * lines, and entropy.
 */
#include <keel/arch.h>
#include <keel/lib.h>
#include <keel/partition.h>

#include "aarch64.h"
#include "vplat.h"

#define RNDR_RETRIES 16 /* the architecture allows RNDR to fail now and then */
#define ID_AA64ISAR0_RNDR(v) (((v) >> 60) & 0xf)

bool arch_vcpu_irq_pending(struct vcpu *vcpu)
{
	/* A vCPU off by CPU_OFF wakes for CPU_ON only. */
	return vpsci_is_off(vcpu) ? vpsci_on_pending(vcpu) : vgic_pending(vcpu);
}

/* The guest's timer is the CPU's own (its interrupt wakes the core): no model to audit. */
void arch_vcpu_halt_audit(struct vcpu *vcpu)
{
	(void)vcpu;
}

/*
 * Not watched (yet): the vGIC hands interrupts to list registers that the
 * guest takes in hardware, so "taken" would be the list registers' state.
 */
bool arch_vcpu_irq_waiting(struct vcpu *vcpu, u64 *taken)
{
	(void)vcpu;
	*taken = 0;
	return false;
}

/*
 * The list registers are the hardware's: what a report can say is where the
 * guest was at its last exit (a racy read from another CPU, for the log).
 */
void arch_vcpu_irq_describe(struct vcpu *vcpu, char *buf, u32 len)
{
	snprintf(buf, len, "last exit at pc 0x%llx, pstate 0x%llx",
		 (unsigned long long)READ_ONCE(vcpu->arch.elr),
		 (unsigned long long)READ_ONCE(vcpu->arch.spsr));
}

/* The guest's timer is the CPU's own: no model of it to watch. */
bool arch_vcpu_timer_armed(struct vcpu *vcpu, u64 *deadline_ns)
{
	(void)vcpu;
	(void)deadline_ns;
	return false;
}

/* Linux guests: the gpio-keys power key on the PL061 that their device tree describes. */
bool arch_part_request_poweroff(struct partition *part)
{
	return READ_ONCE(part->arch.power_key) && pl061_press_power_key(part);
}

void arch_vcpus_resized(struct partition *part)
{
}

/* The vGIC first: the PL011, the PL061 and the virtio devices raise its lines. */
int arch_part_devices_init(struct partition *part)
{
	int ret = vgic_create(part);

	if (!ret)
		ret = pl011_create(part);
	if (!ret)
		ret = pl061_create(part);
	if (!ret)
		ret = vpci_create(part);
	return ret;
}

void arch_part_devices_free(struct partition *part)
{
	vgic_free(part);
}

void arch_irq_set_level(struct partition *part, u32 irq, bool level)
{
	vgic_set_spi(part, irq, level);
}

void arch_irq_line_describe(struct partition *part, u32 irq, char *buf, u32 len)
{
	vgic_describe_spi(part, irq, buf, len);
}

static bool entropy_rndr(u64 *v)
{
	for (int i = 0; i < RNDR_RETRIES; i++) {
		u64 ok;

		/* RNDR sets PSTATE.Z when it has no number this time. */
		__asm__ volatile("mrs %0, s3_3_c2_c4_0\n\tcset %1, ne"
				 : "=r"(*v), "=r"(ok)
				 :
				 : "cc");
		if (ok)
			return true;
	}
	return false;
}

/*
 * Without RNDR: the low bits of the counter around a data-dependent loop,
 * mixed (splitmix64). Weak, but distinct per call and per boot; it is what
 * a CPU without a random number instruction can offer.
 */
static u64 entropy_jitter(void)
{
	static u64 state;
	u64 z = state;

	for (int i = 0; i < 16; i++) {
		u64 t0 = read_sysreg(cntpct_el0);

		for (u64 n = t0 & 0xff; n; n--)
			__asm__ volatile("" ::: "memory");
		isb();
		z = (z ^ (read_sysreg(cntpct_el0) - t0)) * 0x100000001b3ull + t0;
	}
	state = z + 0x9e3779b97f4a7c15ull;
	z = (state ^ (state >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void arch_entropy(void *buf, size_t len)
{
	bool rndr = ID_AA64ISAR0_RNDR(read_sysreg(id_aa64isar0_el1)) >= 1;
	u8 *p = buf;

	while (len) {
		u64 v;
		size_t n = MIN(len, sizeof(v));

		if (!rndr || !entropy_rndr(&v))
			v = entropy_jitter();
		memcpy(p, &v, n);
		p += n;
		len -= n;
	}
}
