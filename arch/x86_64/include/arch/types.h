/* SPDX-License-Identifier: MIT */
/*
 * The one x86_64 header core may include: arch state embedded in core objects
 * and the few inline helpers core needs on hot paths.
 */
#ifndef KEEL_ARCH_X86_64_TYPES_H
#define KEEL_ARCH_X86_64_TYPES_H

#include <keel/pt.h>
#include <keel/types.h>

#define KEEL_ARCH_NAME "x86_64"
#define KEEL_GUEST_RAM_BASE 0x0ull
#define KEEL_GUEST_HOTMEM_MIN 0x100000000ull /* hot-pluggable memory: above the 32-bit MMIO hole */
#define KEEL_ARCH_VCPU_HOTPLUG 1 /* vCPUs beyond the cores: ACPI CPU hotplug, bound at SIPI */
#define KEEL_ARCH_ELF_MACHINE 62 /* EM_X86_64 */
/*
 * virtio-mmio windows (where QEMU microvm places them) and their interrupt
 * lines: GSIs 16-23, the IOAPIC pins no ISA device claims, so no device can
 * meet the SCI (GSI 9) or a legacy line however many there are.
 */
#define KEEL_VIRTIO_MMIO_BASE 0xfeb00000ull
/*
 * The guest's PCI: its ECAM (bus 0, 1 MiB) just below the virtio windows, and
 * below that the window where Keel places the BARs of its PCI functions.
 */
#define KEEL_PCI_ECAM_BASE 0xfea00000ull
#define KEEL_PCI_ECAM_SIZE 0x100000ull
#define KEEL_PCI_MMIO_BASE 0xe0000000ull
#define KEEL_PCI_MMIO_SIZE (KEEL_PCI_ECAM_BASE - KEEL_PCI_MMIO_BASE)
#define KEEL_VIRTIO_MMIO_STRIDE 0x200ull
#define KEEL_VIRTIO_IRQ_BASE 16u
#define KEEL_VIRTIO_MAX 8u
/* The INTx lines (GSIs) of a partition's PCI functions: its n-th function has BASE + n. */
/* What a guest interrupt line number is called in console lines. */
#define KEEL_ARCH_IRQ_LINE "GSI"
#define KEEL_PCI_INTX_IRQ_BASE 24u
/*
 * The management partition's event interrupt (KEEL_HC_MGMT_WATCH): ISA line
 * 10, which no device of Keel's platform claims, edge-triggered (ACPI
 * device KEEL0001).
 */
#define KEEL_MGMT_EVENT_IRQ 10u

struct pcpu;
struct vlapic;
struct x86_vplat;

struct pcpu_arch {
	struct pcpu *self; /* at %gs:0, so arch_pcpu_this() is one load */
	u32 apic_id;
	u32 pad;
	hpa_t host_save_area; /* SVM VM_HSAVE_PA page / VMXON region */
	hpa_t host_vmcb; /* SVM: VMSAVE/VMLOAD area for the host's FS/GS/TR... */
	hpa_t ist_stacks; /* #DF/NMI/#MC stacks (secondary CPUs) */
	u64 hmap_gen; /* last x86_hmap_gen this CPU flushed its TLB for */
};

/* Guest register numbers in vcpu_arch.gprs (x86 encoding order). */
enum x86_gpr {
	X86_RAX,
	X86_RCX,
	X86_RDX,
	X86_RBX,
	X86_RSP,
	X86_RBP,
	X86_RSI,
	X86_RDI,
	X86_R8,
	X86_R9,
	X86_R10,
	X86_R11,
	X86_R12,
	X86_R13,
	X86_R14,
	X86_R15,
};

/*
 * The rest of an MMIO instruction that is more than one access (XCHG, MOVS,
 * STOS; arch/x86_64/vcpu.c): what the pending read completes, and a second
 * access, a write, that the next run hands to core before the guest runs.
 */
struct x86_mmio_op {
	u8 kind; /* X86_INSN_* of the pending read (0: a plain MOV) */
	u8 follow; /* the write below waits */
	u8 size; /* element bytes */
	u8 rep;
	u8 addr_size; /* 8 or 4: rSI, rDI, rCX */
	u8 down; /* RFLAGS.DF: the pointers step down */
	u8 len; /* instruction bytes */
	u8 pad;
	u64 old; /* XCHG: the register's value before the read */
	u64 pc; /* the instruction, for the exit's reports */
	gpa_t follow_gpa;
	u64 follow_data;
};

struct vcpu_arch {
	hpa_t vmcb; /* SVM VMCB (or VMCS) page */
	/*
	 * Guest GPRs by x86 register number. Authoritative for the shared x86
	 * code between exits; the backend moves RAX/RSP/RIP to and from its
	 * VMCB/VMCS around each run.
	 */
	u64 gprs[16];
	u64 rip;
	/* Snapshot taken at each exit, for decoding (read-only for the shared code). */
	u64 rflags, cr0, cr3, cr4, efer, cs_base;
	u8 cpl;
	u8 cs_l; /* 64-bit code segment */
	u8 pio_in_size; /* pending IN: bytes to merge into RAX on completion */
	u8 flush_tlb; /* flush this ASID's TLB on the next entry */
	u8 cs_db; /* 32-bit default operand size (CS.D) */
	u8 entry_kind; /* VCPU_ENTRY_* of the last reset, for the backend */
	/* Pending MMIO read (x86_decode): destination register, sizes, how to extend. */
	u8 mmio_reg;
	u8 mmio_size; /* register bytes written; 0 = no MMIO read pending */
	u8 mmio_flags;
	u8 mmio_mem; /* memory bytes read */
	u8 nmi_masked; /* in the guest's NMI handler: from the injection to its IRET */
	u8 nmi_step; /* stepping over that IRET (SVM) so a waiting NMI comes after it */
	u8 pad[2];
	u16 in_guest; /* between x86_guest_entering and x86_guest_left; atomics only */
	u64 spec_ctrl; /* the guest's IA32_SPEC_CTRL (scrub.c) */
	u64 tlb_gen; /* last part_arch.tlb_gen this vCPU flushed for; atomics only */
	u64 entry_event; /* the event the last entry injected (SVM EVENTINJ), for fault reports */
	struct vlapic *lapic; /* this vCPU's LAPIC model (vplat.h) */
	u32 ap_state; /* X86_AP_*: INIT and SIPI to a started vCPU (vlapic.c) */
	u32 sipi_vector;
	u64 pvclock_msr; /* MSR_KVM_SYSTEM_TIME_NEW as the guest wrote it (vclock.c) */
	u64 wallclock_msr; /* MSR_KVM_WALL_CLOCK_NEW */
	struct x86_mmio_op mmio_op;
	/* arch_vcpu_save: what lives only in the CPU's registers while it runs. */
	hpa_t fpu_area; /* XSAVE area (x86_spec.fpu_size), from arch_vcpu_init */
	u64 xcr0, cr2, dr[4], dr6;
	u64 hw_msrs[6]; /* by x86_hw_msrs (vcpu.c) */
};

struct part_arch {
	struct pt npt; /* nested page tables */
	u32 asid;
	u32 msr_warned; /* unknown-MSR reports printed (rate limit) */
	u64 tlb_gen; /* bumped by every flush of the nested tables (x86_s2_sync) */
	struct x86_vplat *plat; /* emulated platform devices (vplat.h) */
};

/* Register state saved by the hypervisor's exception entry. */
struct arch_regs {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error_code;
	u64 rip, cs, rflags, rsp, ss;
};

/* The inline CPU helpers core calls on hot paths (a host stand-in replaces them in tests). */
#include <arch/inline.h>

#endif /* KEEL_ARCH_X86_64_TYPES_H */
