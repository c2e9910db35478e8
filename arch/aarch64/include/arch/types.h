/* SPDX-License-Identifier: MIT */
/*
 * The one aarch64 header core may include: arch state embedded in core objects
 * and the few inline helpers core needs on hot paths.
 */
#ifndef KEEL_ARCH_AARCH64_TYPES_H
#define KEEL_ARCH_AARCH64_TYPES_H

#include <keel/pt.h>
#include <keel/types.h>

#define KEEL_ARCH_NAME "aarch64"
#define KEEL_GUEST_RAM_BASE 0x40000000ull
#define KEEL_GUEST_HOTMEM_MIN 0x0ull /* hot-pluggable memory: anywhere above RAM */
#define KEEL_ARCH_VCPU_HOTPLUG 1 /* vCPUs beyond the cores: bound at PSCI CPU_ON */
#define KEEL_ARCH_ELF_MACHINE 183 /* EM_AARCH64 */
/* virtio-mmio windows and their interrupt lines (SPI numbers), as on QEMU virt. */
#define KEEL_VIRTIO_MMIO_BASE 0x0a000000ull
/* Where Keel places the BARs of a partition's PCI functions (QEMU virt's PCIe MMIO window). */
#define KEEL_PCI_MMIO_BASE 0x10000000ull
#define KEEL_PCI_MMIO_SIZE 0x2eff0000ull
/* The guest's ECAM (bus 0), where QEMU virt has its own low one. */
#define KEEL_PCI_ECAM_BASE 0x3f000000ull
#define KEEL_PCI_ECAM_SIZE 0x100000ull
#define KEEL_VIRTIO_MMIO_STRIDE 0x200ull
#define KEEL_VIRTIO_IRQ_BASE 16u
#define KEEL_VIRTIO_MAX 32u
/* The INTx lines (SPIs) of a partition's PCI functions, once routed (not yet on aarch64). */
/* What a guest interrupt line number is called in console lines. */
#define KEEL_ARCH_IRQ_LINE "SPI"
#define KEEL_PCI_INTX_IRQ_BASE (KEEL_VIRTIO_IRQ_BASE + KEEL_VIRTIO_MAX)
/*
 * The management partition's event interrupt (KEEL_HC_MGMT_WATCH): SPI 2,
 * which no device of Keel's platform claims, edge-triggered (DT node
 * "keel,mgmt-events").
 */
#define KEEL_MGMT_EVENT_IRQ 2u

struct pcpu;

struct pcpu_arch {
	u64 mpidr;
	u32 gicr_index; /* redistributor frame of this CPU */
	u32 pad;
	u64 gicr; /* host-physical base of this CPU's redistributor (RD frame) */
	u64 bhb; /* Spectre-BHB on guest exit: BHB_* of bhb.h */
	struct vcpu_fpsimd *fp_live; /* whose FP/SIMD state the registers hold, if a guest's */
};

/*
 * Guest FP/SIMD registers. The vCPU's EL1 system registers stay live on its
 * pCPU (strict 1:1, saved only by arch_vcpu_save). So do these, but the
 * hypervisor's C library uses q0-q7 (snprintf, variadic prologues): after
 * each exit FP/SIMD traps at EL2, and Keel's first use saves them here
 * (el2_fp_flush in vcpu.c, pcpu_arch.fp_live).
 */
/* How many EL1/EL0 registers arch_vcpu_save keeps (VCPU_EL1_REGS in vcpu.c). */
#define VCPU_EL1_SAVED 28

struct vcpu_fpsimd {
	u64 q[64]; /* q0..q31, low half first */
	u64 fpsr, fpcr;
};

struct vcpu_arch {
	u64 x[31]; /* guest general registers, saved on exit (offset 0) */
	u64 elr, spsr; /* guest PC and PSTATE (offsets 248, 256) */
	u64 bhb; /* this CPU's Spectre-BHB choice, for the exit path (offset 264) */
	struct vcpu_fpsimd fp __aligned(16);
	/* Syndrome of the last exit. */
	u64 esr, far, hpfar;
	/* A decoded MMIO read waiting for arch_vcpu_io_return. */
	u8 mmio_pending;
	u8 mmio_reg; /* destination register, 31 = xzr */
	u8 mmio_size; /* bytes */
	u8 mmio_sign; /* sign-extend (SSE) */
	u8 mmio_64; /* 64-bit destination (SF) */
	u8 pad[2];
	u32 psci_state; /* VPSCI_*: on, off by CPU_OFF, CPU_ON requested */
	u32 pad2;
	u64 psci_pc, psci_ctx; /* the CPU_ON request for a vCPU that did CPU_OFF */
	u64 mpidr; /* what the guest reads in MPIDR_EL1 (VMPIDR_EL2) */
	/* arch_vcpu_save: what lives only in the pCPU's registers while it runs. */
	u64 el1[VCPU_EL1_SAVED]; /* EL1 and EL0 system registers and timers (vcpu.c) */
	u64 pauth[10]; /* the pointer-authentication keys, where the CPU has them */
	u64 ich_lr[16], ich_ap0r[4], ich_ap1r[4], ich_vmcr, ich_hcr; /* GIC virtual interface */
	struct vcpu_debug_regs {
		u64 bvr[16], bcr[16], wvr[16], wcr[16]; /* breakpoints, watchpoints */
		u64 mdscr, mdccint, oslk;
	} dbg;
	struct vcpu_pmu_regs {
		u64 pmcr, cnten, inten, ovs, userenr, selr, ccfiltr, ccntr;
		u64 evtyper[31], evcntr[31];
	} pmu; /* where the guest owns the PMU */
};

struct vgic;
struct pl011;

struct part_arch {
	struct pt s2; /* stage-2 tables */
	u64 vttbr; /* VMID and root, as loaded into VTTBR_EL2 */
	struct vgic *vgic; /* the emulated GICv3 (arch_part_devices_init) */
	struct pl011 *pl011; /* the emulated UART */
	u32 power_key; /* its device tree has the gpio-keys power key (a Linux guest) */
	u32 sysreg_warned; /* refused system-register reports printed (rate limit) */
};

/* Register state saved by the hypervisor's exception entry. */
struct arch_regs {
	u64 x[31];
	u64 sp, elr, spsr, esr, far;
};

/* The inline CPU helpers core calls on hot paths (a host stand-in replaces them in tests). */
#include <arch/inline.h>

#endif /* KEEL_ARCH_AARCH64_TYPES_H */
