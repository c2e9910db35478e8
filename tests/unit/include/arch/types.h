/* SPDX-License-Identifier: MIT */
/* Host stand-in for <arch/types.h>: lets arch-neutral core sources build in unit tests. */
#ifndef KEEL_ARCH_HOST_TYPES_H
#define KEEL_ARCH_HOST_TYPES_H

#include <keel/pt.h>
#include <keel/types.h>

#define KEEL_ARCH_NAME "host"
#define KEEL_GUEST_RAM_BASE 0x40000000ull
#define KEEL_GUEST_HOTMEM_MIN 0x0ull /* hot-pluggable memory: anywhere above RAM */
#define KEEL_ARCH_VCPU_HOTPLUG 1 /* vCPUs beyond the cores: bound at PSCI CPU_ON */
#define KEEL_ARCH_ELF_MACHINE 183 /* EM_AARCH64 */
/* virtio-mmio windows and their interrupt lines (SPI numbers), as on QEMU virt. */
#define KEEL_VIRTIO_MMIO_BASE 0x0a000000ull
#define KEEL_PCI_MMIO_BASE 0x10000000ull
#define KEEL_PCI_MMIO_SIZE 0x2eff0000ull
#define KEEL_PCI_ECAM_BASE 0x3f000000ull
#define KEEL_PCI_ECAM_SIZE 0x100000ull
#define KEEL_VIRTIO_MMIO_STRIDE 0x200ull
#define KEEL_VIRTIO_IRQ_BASE 16u
#define KEEL_VIRTIO_MAX 32u
/* What a guest interrupt line number is called in console lines. */
#define KEEL_ARCH_IRQ_LINE "SPI"
#define KEEL_PCI_INTX_IRQ_BASE (KEEL_VIRTIO_IRQ_BASE + KEEL_VIRTIO_MAX)
#define KEEL_MGMT_EVENT_IRQ 2u

struct pcpu;
struct pcpu_arch {
	u64 unused;
};
struct vcpu_arch {
	u64 unused;
};
struct pl011;
struct part_arch {
	struct pt s2;
	struct pl011 *pl011; /* as aarch64's: the emulated UART (test_pl011) */
};
struct arch_regs {
	u64 pc;
};

extern struct pcpu *unit_this_pcpu;

static inline void arch_cpu_relax(void)
{
}

static inline void arch_dma_clean(const void *va, u64 size)
{
	(void)va;
	(void)size;
}

/* Host tests: each CPU is a core of its own (tests give pdesc_limits.cpu_core directly). */
static inline u64 arch_cpu_core_of(u64 hwid)
{
	return hwid;
}

static inline unsigned long arch_irq_save(void)
{
	return 0;
}

static inline void arch_irq_restore(unsigned long flags)
{
	(void)flags;
}

static inline struct pcpu *arch_pcpu_this(void)
{
	return unit_this_pcpu;
}

#endif /* KEEL_ARCH_HOST_TYPES_H */
