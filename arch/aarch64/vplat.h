/* SPDX-License-Identifier: MIT */
/*
 * The aarch64 microVM platform a Linux guest sees: guest-physical layout of
 * the emulated devices (as on QEMU's virt machine), interrupt numbers, and the
 * functions the device models of arch/aarch64 call in each other.
 */
#ifndef KEEL_ARCH_AARCH64_VPLAT_H
#define KEEL_ARCH_AARCH64_VPLAT_H

#include <keel/types.h>

struct partition;
struct pcpu;
struct vcpu;
struct vcpu_arch;

/* Guest-physical layout (docs/aarch64-microvm.md). */
#define VPLAT_GICD_BASE 0x08000000ull
#define VPLAT_GICD_SIZE 0x10000ull
#define VPLAT_GICR_BASE 0x080a0000ull
#define VPLAT_GICR_STRIDE 0x20000ull /* RD_base + SGI_base per vCPU */
#define VPLAT_PL011_BASE 0x09000000ull
#define VPLAT_PL011_SIZE 0x1000ull
#define VPLAT_PL011_SPI 1u
#define VPLAT_PL061_BASE 0x09030000ull
#define VPLAT_PL061_SIZE 0x1000ull
#define VPLAT_PL061_SPI 7u
#define VPLAT_POWER_KEY_LINE 3u /* the PL061 line of the gpio-keys power key */
#define VPLAT_KEY_POWER 116u /* its Linux key code (KEY_POWER) */

/* GIC interrupt numbers (INTIDs). */
#define GIC_SPI_BASE 32u
#define GIC_PPI_MAINT 25u /* virtual CPU interface maintenance, at EL2 */
#define GIC_PPI_HYP_TIMER 26u /* CNTHP, the hypervisor's timer */
#define GIC_PPI_PMU 23u /* the PMU's overflow interrupt (guests that own the PMU) */
#define GIC_PPI_VTIMER 27u /* CNTV, the guest's virtual timer */
#define GIC_PPI_SEC_TIMER 29u
#define GIC_PPI_PHYS_TIMER 30u

/* SPIs the vGIC offers (SPI numbers 0..VGIC_NR_SPIS-1). */
#define VGIC_NR_SPIS 128u
/*
 * The upper half are message-based SPIs (GICv3 MBI): a guest's PCI
 * functions signal MSIs as GICD_SETSPI_NSR writes of one of these INTIDs
 * (mbi-ranges in its device tree); Keel raises them from the host LPIs
 * those MSIs become (msi.c). Nothing else uses them.
 */
#define VGIC_MBI_FIRST_SPI 64u
#define VGIC_MBI_SPIS 64u

/* The MPIDR a partition's vCPU @index sees: Aff0 < 16 so SGI target lists reach it. */
static inline u64 vplat_mpidr(u32 index)
{
	return BIT(31) | (u64)(index / 16) << 8 | (index % 16);
}

/* vgic.c */
int vgic_create(struct partition *part);
/* Its memory, once every device that raises its lines is destroyed. */
void vgic_free(struct partition *part);
void vgic_set_spi(struct partition *part, u32 spi, bool level);
/* Make MBI INTID @intid pending (as a GICD_SETSPI_NSR write would); false if it is none. */
bool vgic_mbi_raise(struct partition *part, u32 intid);
/* SPI @spi's flags and target, for reports (arch_irq_line_describe). Racy reads. */
void vgic_describe_spi(struct partition *part, u32 spi, char *buf, u32 len);
void vgic_vcpu_reset(struct vcpu *vcpu);
void vgic_flush(struct vcpu *vcpu); /* before guest entry, IRQs off */
void vgic_sync(struct vcpu *vcpu); /* after guest exit, IRQs off */
bool vgic_pending(struct vcpu *vcpu);
void vgic_inject_timer(struct vcpu *vcpu, u32 intid); /* PPI 27 or 30 fired here */
int vgic_sgi_write(struct vcpu *vcpu, u64 value);
void vgic_cpu_init(void);

/* vgic_hw.c: this CPU's virtual CPU interface (the only hardware the vGIC touches) */
#define VGIC_MAX_LRS 16u /* list registers Keel uses at most */
u64 vgic_hw_lr_read(u32 n);
void vgic_hw_lr_write(u32 n, u64 v);
u32 vgic_hw_nr_lrs(void);
void vgic_hw_set_hcr(u64 hcr);
void vgic_hw_cpuif_reset(void);
/* The virtual CPU interface (LRs, active priorities, VMCR, HCR) to and from @a. */
void vgic_hw_save(struct vcpu_arch *a);
void vgic_hw_restore(const struct vcpu_arch *a);

/* vpsci.c */
struct vm_exit;
bool vpsci_call(struct vcpu *vcpu, u32 fid, struct vm_exit *exit);
bool vpsci_on_pending(struct vcpu *vcpu);
/* vcpu->arch.psci_state */
#define VPSCI_ON 0u
#define VPSCI_OFF 1u /* did CPU_OFF */
#define VPSCI_ON_PENDING 2u /* CPU_ON after CPU_OFF, not yet entered */
#define VPSCI_CLAIMED 3u /* a CPU_ON is writing its entry point */

bool vpsci_is_off(struct vcpu *vcpu);
bool vpsci_hold_off(struct vcpu *vcpu, struct vm_exit *exit);

/* vidreg.c */
bool vidreg_read(u32 crm, u32 op2, u64 *value);

/* scrub.c: what a core carries between guests */
u64 scrub_mdcr_el2(void);
/* Choose and record this CPU's Spectre-BHB mitigation for guest exits (bhb.h). */
void scrub_bhb_init(struct pcpu *cpu);
u64 scrub_guest_dfr0(u64 dfr0);
bool scrub_guest_has_pmu(void); /* guests own the PMU (PMUv3p1+, EL2 excluded) */
void scrub_vcpu(void);
/* The pointer-authentication keys (10 halves) to and from @keys; nothing without PAuth. */
/*
 * The breakpoints, watchpoints, debug controls and (where guests own it) the
 * PMU of the vCPU on this CPU: saved, restored, or reset to what a new vCPU
 * finds (arch_vcpu_save/restore/wipe).
 */
struct vcpu_debug_regs;
struct vcpu_pmu_regs;
void scrub_debug_save(struct vcpu_debug_regs *d);
void scrub_debug_restore(const struct vcpu_debug_regs *d);
void scrub_pmu_save(struct vcpu_pmu_regs *p);
void scrub_pmu_restore(const struct vcpu_pmu_regs *p);
void scrub_debug_pmu_reset(void);
void scrub_pauth_save(u64 keys[10]);
void scrub_pauth_restore(const u64 keys[10]);
u64 scrub_smccc_features(u32 fid);
bool scrub_smccc_workaround(u32 fid, u64 arg, u64 *ret);

/* pl011.c */
int pl011_create(struct partition *part);

/* pl061.c */
int pl061_create(struct partition *part);
/* vpci.c: the partition's PCI bus (ECAM) at KEEL_PCI_ECAM_BASE. */
int vpci_create(struct partition *part);
bool pl061_press_power_key(struct partition *part);

/* vtimer.c */
bool vtimer_irq(u32 intid);
bool vtimer_output(u32 intid);
void vtimer_vcpu_reset(void);
void hyp_timer_irq(void);

/* dtb.c: a Linux guest's device tree, built from this description. */
#define DTB_MAX_CPUS 64u
#define DTB_MAX_VIRTIO 32u
#define DTB_MAX_PCI_INTX 8u

struct dtb_desc {
	u64 mem_base, mem_size;
	u32 cpu_count;
	u32 virtio_count;
	u64 cpu_mpidr[DTB_MAX_CPUS];
	u64 virtio_base[DTB_MAX_VIRTIO];
	u64 virtio_size[DTB_MAX_VIRTIO];
	u32 virtio_spi[DTB_MAX_VIRTIO];
	u64 initrd_start, initrd_end; /* end == start: no initrd */
	const char *bootargs;
	u8 rng_seed[32];
	bool pmu; /* describe the PMU (arm,armv8-pmuv3, PPI 23): the guest owns it */
	bool mgmt_event; /* the management partition's WATCH interrupt (keel,mgmt-events) */
	u32 mgmt_event_spi; /* ... its SPI number */
	/*
	 * Its PCI bus (the partition has functions): ECAM window (bus 0) and the
	 * 32-bit memory window its BARs are placed in; size 0: no PCI.
	 */
	u64 pci_ecam_base, pci_ecam_size;
	u64 pci_mmio_base, pci_mmio_size;
	/* Its functions' INTx: device number on bus 0, pin (1-4, INTA-INTD), SPI number. */
	u32 pci_intx_count;
	u8 pci_intx_slot[DTB_MAX_PCI_INTX], pci_intx_pin[DTB_MAX_PCI_INTX];
	u32 pci_intx_spi[DTB_MAX_PCI_INTX];
	/* Its functions may use MSI/MSI-X: the GIC offers MBIs, the bus names it msi-parent. */
	bool pci_mbi;
};

/* Build the tree into @buf (@size bytes). Returns its size or -KEEL_E*. */
int dtb_build(const struct dtb_desc *d, void *buf, u32 size);

#endif /* KEEL_ARCH_AARCH64_VPLAT_H */
