/* SPDX-License-Identifier: MIT */
/*
 * The emulated x86 platform of a partition (LAPIC per vCPU, IOAPIC, PIT, ACPI
 * PM block, UART, quiet legacy ports): state and the calls between models.
 */
#ifndef KEEL_X86_VPLAT_H
#define KEEL_X86_VPLAT_H

#include <keel/partition.h>
#include <keel/spinlock.h>
#include <keel/timer.h>
#include <keel/vdev.h>

/* Guest-physical addresses and ports of the platform (also in the ACPI tables). */
#define VPLAT_LAPIC_BASE 0xfee00000ull
#define VPLAT_IOAPIC_BASE 0xfec00000ull
#define VPLAT_IOAPIC_PINS 32u /* 0-15 ISA, 16-23 virtio, 24-31 PCI functions' INTx */
_Static_assert(KEEL_VIRTIO_IRQ_BASE + KEEL_VIRTIO_MAX <= KEEL_PCI_INTX_IRQ_BASE,
	       "virtio GSIs below the PCI ones");
_Static_assert(KEEL_PCI_INTX_IRQ_BASE + KEEL_PD_MAX_PCI <= VPLAT_IOAPIC_PINS,
	       "PCI INTx GSIs on the IOAPIC");
#define VPLAT_PM_BASE 0x600u /* PM1a_EVT (4), PM1a_CNT (2), pad (2), PM_TMR (4) */
#define VPLAT_PM1_EVT (VPLAT_PM_BASE + 0)
#define VPLAT_PM1_CNT (VPLAT_PM_BASE + 4)
#define VPLAT_PM_TMR (VPLAT_PM_BASE + 8)
#define VPLAT_PM_SIZE 12u
/* CPU hotplug (vcpuhp.c): GPE0_STS/EN (4 bytes), then one status port per vCPU. */
#define VPLAT_GPE0_PORT 0x620u
#define VPLAT_CPUHP_PORT 0x640u
#define VPLAT_RESET_PORT 0xcf9u
#define VPLAT_RESET_VALUE 0x06u
#define VPLAT_SCI_IRQ 9u
#define VPLAT_S5_TYP 5u /* SLP_TYP of \_S5 in the DSDT */
#define VPLAT_UART_IRQ 4u
#define VPLAT_PIT_GSI 2u /* ISA IRQ 0, per the MADT override */
#define VPLAT_APIC_TIMER_HZ 1000000000ull /* LAPIC timer input clock: 1 ns per tick */
/* Shortest period a guest's periodic timer may run at: no interrupt storm on its core. */
#define VPLAT_MIN_PERIOD_NS 100000ull

struct vlapic {
	struct vcpu *vcpu;
	u32 id;
	u32 irr[8]; /* set from any CPU with atomics */
	u32 tmr[8]; /* level-triggered vectors, set with irr */
	u32 isr[8]; /* only the owning vCPU's CPU touches the rest */
	u32 tpr, svr, ldr, dfr, esr, icr_hi;
	u32 lvt[7]; /* CMCI, timer, thermal, perf, LINT0, LINT1, error */
	u32 timer_icr, timer_dcr;
	u64 timer_start_ns, timer_period_ns;
	u64 tsc_deadline;
	u64 apic_base; /* IA32_APIC_BASE as the guest sees it */
	u32 nmi_pending; /* an NMI IPI waits (edge: more collapse into one); any CPU */
	u32 overdue_said; /* arch_vcpu_halt_audit() reported its timer since the last reset */
	u64 taken; /* vectors moved from IRR to ISR so far (the watch reads it; atomics) */
	struct timer timer;
};

struct vioapic {
	struct spinlock lock;
	u32 index, id;
	u32 level; /* input line levels, bit per pin */
	u32 pad;
	u64 redir[VPLAT_IOAPIC_PINS];
};

struct vpit_chan {
	u16 reload;
	u16 latch;
	u8 mode, rw, latched, read_hi, write_hi;
	u8 gate;
	u8 pad[6];
	u64 start_ns;
};

struct vpit {
	struct vpit_chan ch[3];
	u8 port61;
	u8 pad[7];
	struct timer ch0_timer; /* IRQ0 ticks, on the boot vCPU's CPU only */
};

struct vuart {
	struct spinlock lock;
	u8 ier, lcr, mcr, scr, dll, dlm, fcr;
	u8 thri_pending;
	u8 level;
};

struct vlegacy {
	u8 pic_imr[2];
	u8 cmos_index;
	u8 pad[5];
};

struct vpci {
	u32 addr; /* the CONFIG_ADDRESS latch at 0xcf8 */
	u32 pad;
};

/* By vCPU index, bit n = vCPU n; under the PM block's lock. */
struct vcpuhp {
	u64 present; /* what its _STA says: the guest may have it */
	u64 insert, remove; /* events its _E02 has not taken yet */
	u16 gpe_sts, gpe_en;
	u32 pad;
};

struct vpm {
	struct spinlock lock; /* the registers (and vcpuhp's): the guest's vCPUs and STOP's CPU */
	u16 pm1_sts, pm1_en, pm1_cnt;
	u8 acpi; /* the guest has ACPI tables that describe the block (a Linux guest) */
	u8 pad[5];
};

enum vplat_dev {
	VPLAT_DEV_LAPIC,
	VPLAT_DEV_IOAPIC,
	VPLAT_DEV_PIT,
	VPLAT_DEV_PORT61,
	VPLAT_DEV_PM,
	VPLAT_DEV_CPUHP,
	VPLAT_DEV_PCI,
	VPLAT_DEV_ECAM,
	VPLAT_DEV_UART,
	VPLAT_DEV_PIC1,
	VPLAT_DEV_PIC2,
	VPLAT_DEV_CMOS,
	VPLAT_DEV_POST,
	VPLAT_DEV_COUNT,
};

struct x86_vplat {
	struct partition *part;
	struct vioapic ioapic;
	struct vpit pit;
	struct vuart uart;
	struct vlegacy legacy;
	struct vpm pm;
	struct vcpuhp cpuhp;
	struct vpci pci;
	struct vdev devs[VPLAT_DEV_COUNT];
	struct vlapic lapic[KEEL_MAX_CPUS]; /* by vCPU index = APIC ID */
};

static inline struct x86_vplat *vplat_of(struct vdev *dev)
{
	return dev->priv;
}

/* Fill @dev for a model of @plat and register it. Returns vdev_add()'s result. */
int vplat_add(struct x86_vplat *plat, enum vplat_dev which, const char *name, u32 space, u64 base,
	      u64 size, const struct vdev_ops *ops);

/* Free the platform state (the LAPIC device's destroy, after every vCPU left). */
void vplat_destroy(struct x86_vplat *plat);

/*
 * A started vCPU and INIT/SIPI (vCPU state, vcpu_arch.ap_state): INIT makes it
 * wait for a SIPI, on its own core; a SIPI to one that waits restarts it in
 * real mode at vector << 12. A vCPU never started takes its SIPI through
 * vcpu_start() instead.
 */
#define X86_AP_RUN 0u
#define X86_AP_WAIT_SIPI 1u
#define X86_AP_CLAIMED 2u /* a SIPI is writing its vector */
#define X86_AP_SIPI 3u /* a SIPI came: restart at sipi_vector << 12 */

/* Before entering @vcpu: true (and @exit a halt) while it waits for a SIPI. */
bool x86_ap_hold(struct vcpu *vcpu, struct vm_exit *exit);

/* vlapic.c */
int vlapic_create(struct x86_vplat *plat);
void vlapic_reset(struct vcpu *vcpu); /* on the vCPU's own CPU */
void vlapic_stop(struct vcpu *vcpu); /* cancel its timer, on the vCPU's own CPU */
void vlapic_deliver(struct vlapic *l, u8 vector, bool level); /* any CPU */
/* Deliver @vector to the LAPICs of @plat that @dest names (IOAPIC, MSI). */
void vlapic_deliver_dest(struct x86_vplat *plat, u32 dest, bool logical, u32 mode, u8 vector,
			 bool level);
int vlapic_pending(struct vcpu *vcpu); /* highest deliverable vector, or -1 */
void vlapic_nmi_taken(struct vcpu *vcpu); /* the backend injected it */

/* Inline, as vlapic_cr8: the backends ask on every entry. */
static inline bool vlapic_nmi_pending(struct vcpu *vcpu)
{
	struct vlapic *l = vcpu->arch.lapic;

	return l && __atomic_load_n(&l->nmi_pending, __ATOMIC_ACQUIRE);
}

/* CR8 is TPR[7:4] (SDM 10.8.6.1): both views of one register, in the model. */
static inline u64 vlapic_cr8(struct vcpu *vcpu)
{
	struct vlapic *l = vcpu->arch.lapic;

	return l ? (l->tpr >> 4) & 0xf : 0;
}

void vlapic_set_cr8(struct vcpu *vcpu, u64 cr8); /* @cr8 < 16: the caller #GPs others */
void vlapic_ack(struct vcpu *vcpu, u8 vector); /* IRR -> ISR at injection */
/*
 * Snapshots of one vCPU's LAPIC, with vdev_ops' save/restore contract (the
 * LAPIC's vdev has none: its state is per vCPU). On the vCPU's own CPU, the
 * vCPU not running. save returns the bytes used or -KEEL_E2BIG; restore
 * checks an untrusted blob and returns 0, or -KEEL_EINVAL with the LAPIC
 * reset (as vlapic_reset()).
 */
int vlapic_save(const struct vlapic *l, void *buf, u32 len);
int vlapic_restore(struct vlapic *l, const void *buf, u32 len);
/* MSR access (IA32_APIC_BASE, x2APIC 0x800-0x8ff, TSC_DEADLINE). 0 or -KEEL_EINVAL (#GP). */
int vlapic_msr_read(struct vcpu *vcpu, u32 msr, u64 *val);

/* vclock.c: the hypervisor CPUID range and the paravirtual clock MSRs. */
struct x86_cpuid;
bool x86_vclock_cpuid(u32 leaf, struct x86_cpuid *r); /* false: a leaf with nothing (zeros) */
bool x86_vclock_msr_read(struct vcpu *vcpu, u32 msr, u64 *val, int *ret);
bool x86_vclock_msr_write(struct vcpu *vcpu, u32 msr, u64 val, int *ret);
int vlapic_msr_write(struct vcpu *vcpu, u32 msr, u64 val);
bool vlapic_x2apic_mode(struct vcpu *vcpu);

/* vioapic.c */
int vioapic_create(struct x86_vplat *plat);
void vioapic_set_level(struct x86_vplat *plat, u32 pin, bool level);
void vioapic_eoi(struct x86_vplat *plat, u8 vector);
/* Pin @pin's line and redirection entry, for reports (arch_irq_line_describe). Racy reads. */
void vioapic_describe(struct x86_vplat *plat, u32 pin, char *buf, u32 len);

/* vpit.c, vpm.c, vuart.c, vlegacy.c */
int vpit_create(struct x86_vplat *plat);
void vpit_stop(struct vcpu *vcpu); /* cancel channel 0's timer if on this vCPU's CPU */
int vpm_create(struct x86_vplat *plat);
void vpm_reset_control(struct vcpu *vcpu, u8 val); /* a byte written to 0xcf9 */
/* The SCI's level from the PM block's and the GPE's events; under the PM lock. */
void vpm_sci_update(struct x86_vplat *plat);

/* vcpuhp.c: ACPI CPU hotplug of hot vCPUs. */
int vcpuhp_create(struct x86_vplat *plat);
/* RESIZE changed how many vCPUs may be on: mark adds and ejects, raise the GPE. Any CPU. */
void vcpuhp_resized(struct x86_vplat *plat);
/* The vCPUs the guest may have now (the MADT enables them): its own cores' and the hot ones allowed. */
static inline u64 vcpuhp_wanted(const struct partition *part)
{
	u32 n = MIN(READ_ONCE(part->vcpus_allowed), part->vcpu_count);

	return n >= 64 ? ~0ull : BIT(n) - 1;
}
/* An enabled GPE event is pending (the SCI is high for it); under the PM lock. */
bool vcpuhp_pending(const struct vcpuhp *hp);

/*
 * vpci.c: ports 0xcf8-0xcff, PCI configuration mechanism #1 with a host
 * bridge, and the same bus through ECAM at KEEL_PCI_ECAM_BASE.
 */
int vpci_create(struct x86_vplat *plat);
/* Press the fixed-feature power button (any CPU). False if no ACPI guest sees it. */
bool vpm_power_button(struct x86_vplat *plat);
int vuart_create(struct x86_vplat *plat);
int vlegacy_create(struct x86_vplat *plat);

/* Ticks of a @hz clock in @ns nanoseconds, without 64-bit overflow. */
static inline u64 vplat_ns_to_ticks(u64 ns, u64 hz)
{
	return (ns / 1000000000ull) * hz + (ns % 1000000000ull) * hz / 1000000000ull;
}

#endif /* KEEL_X86_VPLAT_H */
