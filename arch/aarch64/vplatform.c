/* SPDX-License-Identifier: MIT */
/*
 * The aarch64 partition platform: interrupt lines, the hypervisor timer and
 * Linux images are not handled yet, so partitions run Keel ELF guests only.
 */
#include <keel/arch.h>
#include <keel/lib.h>
#include <keel/partition.h>

static u64 arch_counter(void)
{
	u64 v;

	__asm__ volatile("mrs %0, cntpct_el0" : "=r"(v));
	return v;
}

bool arch_vcpu_irq_pending(struct vcpu *vcpu)
{
	return false;
}

int arch_part_devices_init(struct partition *part)
{
	return 0;
}

int arch_kernel_load(struct partition *part, struct vcpu_entry *boot)
{
	return -KEEL_ENOEXEC;
}

void arch_irq_set_level(struct partition *part, u32 irq, bool level)
{
}

void arch_timer_program(u64 deadline_ns)
{
}

void arch_entropy(void *buf, size_t len)
{
	u8 *p = buf;
	u64 v;

	/* The counter is no real entropy: the Linux platform work replaces this with RNDR. */
	while (len) {
		size_t n = MIN(len, sizeof(v));

		v = arch_counter();
		memcpy(p, &v, n);
		p += n;
		len -= n;
	}
}
