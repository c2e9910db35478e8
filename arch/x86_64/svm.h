/* SPDX-License-Identifier: MIT */
/*
 * AMD SVM: the VMCB layout (AMD APM vol. 2, appendix B), intercept bits and
 * exit codes Keel uses. Private to svm.c and svm_run.S.
 */
#ifndef KEEL_X86_SVM_H
#define KEEL_X86_SVM_H

#include <keel/types.h>

struct vmcb_seg {
	u16 sel;
	u16 attrib; /* descriptor bits 40-47 and 52-55, packed into 12 bits */
	u32 limit;
	u64 base;
} __packed;

struct vmcb_control {
	u32 intercept_cr; /* 0x000: reads 0-15, writes 16-31 */
	u32 intercept_dr; /* 0x004 */
	u32 intercept_exc; /* 0x008 */
	u32 intercept1; /* 0x00c */
	u32 intercept2; /* 0x010 */
	u32 intercept3; /* 0x014 */
	u8 reserved0[0x3c - 0x18];
	u16 pause_filter_thresh; /* 0x03c */
	u16 pause_filter_count; /* 0x03e */
	u64 iopm_base; /* 0x040 */
	u64 msrpm_base; /* 0x048 */
	u64 tsc_offset; /* 0x050 */
	u32 asid; /* 0x058 */
	u8 tlb_control; /* 0x05c */
	u8 reserved1[3];
	u64 int_ctl; /* 0x060 */
	u64 int_shadow; /* 0x068 */
	u64 exit_code; /* 0x070 */
	u64 exit_info1; /* 0x078 */
	u64 exit_info2; /* 0x080 */
	u64 exit_int_info; /* 0x088 */
	u64 np_enable; /* 0x090 */
	u64 avic_apic_bar; /* 0x098 */
	u64 ghcb_pa; /* 0x0a0 */
	u64 event_inj; /* 0x0a8 */
	u64 n_cr3; /* 0x0b0 */
	u64 lbr_virt; /* 0x0b8 */
	u32 clean; /* 0x0c0 */
	u32 reserved2;
	u64 next_rip; /* 0x0c8 */
	u8 insn_len; /* 0x0d0 */
	u8 insn_bytes[15];
	u8 reserved3[0x400 - 0xe0];
} __packed;

struct vmcb_save {
	struct vmcb_seg es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr; /* 0x400 */
	u8 reserved0[0x4cb - 0x4a0];
	u8 cpl; /* 0x4cb */
	u32 reserved1;
	u64 efer; /* 0x4d0 */
	u8 reserved2[0x548 - 0x4d8];
	u64 cr4; /* 0x548 */
	u64 cr3;
	u64 cr0;
	u64 dr7;
	u64 dr6;
	u64 rflags;
	u64 rip; /* 0x578 */
	u8 reserved3[0x5d8 - 0x580];
	u64 rsp; /* 0x5d8 */
	u64 s_cet, ssp, isst_addr;
	u64 rax; /* 0x5f8 */
	u64 star, lstar, cstar, sfmask, kernel_gs_base; /* 0x600 */
	u64 sysenter_cs, sysenter_esp, sysenter_eip;
	u64 cr2; /* 0x640 */
	u8 reserved4[0x668 - 0x648];
	u64 g_pat; /* 0x668 */
	u64 dbgctl;
	u64 br_from, br_to, last_excp_from, last_excp_to;
} __packed;

struct vmcb {
	struct vmcb_control ctl;
	struct vmcb_save save;
} __packed;

_Static_assert(__builtin_offsetof(struct vmcb, ctl.asid) == 0x58, "vmcb asid");
_Static_assert(__builtin_offsetof(struct vmcb, ctl.event_inj) == 0xa8, "vmcb eventinj");
_Static_assert(__builtin_offsetof(struct vmcb, ctl.next_rip) == 0xc8, "vmcb nrip");
_Static_assert(__builtin_offsetof(struct vmcb, save.cpl) == 0x4cb, "vmcb cpl");
_Static_assert(__builtin_offsetof(struct vmcb, save.efer) == 0x4d0, "vmcb efer");
_Static_assert(__builtin_offsetof(struct vmcb, save.cr4) == 0x548, "vmcb cr4");
_Static_assert(__builtin_offsetof(struct vmcb, save.rip) == 0x578, "vmcb rip");
_Static_assert(__builtin_offsetof(struct vmcb, save.rsp) == 0x5d8, "vmcb rsp");
_Static_assert(__builtin_offsetof(struct vmcb, save.rax) == 0x5f8, "vmcb rax");
_Static_assert(__builtin_offsetof(struct vmcb, save.cr2) == 0x640, "vmcb cr2");
_Static_assert(__builtin_offsetof(struct vmcb, save.g_pat) == 0x668, "vmcb gpat");

/* intercept_cr (0x000) */
#define SVM_ICR_WRITE_CR8 BIT(24)
/* intercept1 (0x00c) */
#define SVM_I1_INTR BIT(0)
#define SVM_I1_NMI BIT(1)
#define SVM_I1_VINTR BIT(4)
#define SVM_I1_INIT BIT(3)
#define SVM_I1_CPUID BIT(18)
#define SVM_I1_IRET BIT(20)
#define SVM_I1_INVD BIT(22)
#define SVM_I1_HLT BIT(24)
#define SVM_I1_INVLPGA BIT(26)
#define SVM_I1_IOIO BIT(27)
#define SVM_I1_MSR BIT(28)
#define SVM_I1_TASK_SWITCH BIT(29)
#define SVM_I1_SHUTDOWN BIT(31)
/* intercept2 (0x010) */
#define SVM_I2_VMRUN BIT(0)
#define SVM_I2_VMMCALL BIT(1)
#define SVM_I2_VMLOAD BIT(2)
#define SVM_I2_VMSAVE BIT(3)
#define SVM_I2_STGI BIT(4)
#define SVM_I2_CLGI BIT(5)
#define SVM_I2_SKINIT BIT(6)
#define SVM_I2_RDPRU BIT(14)
/* intercept3 (0x014) */
#define SVM_I3_INVLPGB BIT(0)
#define SVM_I3_INVLPGB_ILL BIT(1)
#define SVM_I3_INVPCID BIT(2)
#define SVM_I3_MCOMMIT BIT(3)
#define SVM_I3_TLBSYNC BIT(4)

#define SVM_INT_CTL_V_TPR 0xfull /* CR8 as the guest last wrote it (V_INTR_MASKING) */
#define SVM_INT_CTL_V_IRQ BIT(8)
#define SVM_INT_CTL_V_INTR_PRIO_SHIFT 16
#define SVM_INT_CTL_V_IGN_TPR BIT(20)
#define SVM_INT_CTL_V_INTR_MASKING BIT(24)
#define SVM_INT_CTL_V_INTR_VECTOR_SHIFT 32
#define SVM_INT_SHADOW BIT(0)
#define SVM_TLB_FLUSH_ALL 1
#define SVM_NP_ENABLE BIT(0)
#define SVM_EVTINJ_VALID BIT(31)
#define SVM_EVTINJ_NMI (2u << 8)
#define SVM_EVTINJ_EXC (3u << 8)
#define SVM_EVTINJ_ERR BIT(11)

/* Exit codes. */
#define SVM_EXIT_EXC_BASE 0x40 /* + vector */
#define SVM_EXIT_WRITE_CR8 0x18
#define SVM_EXIT_INTR 0x60
#define SVM_EXIT_NMI 0x61
#define SVM_EXIT_SMI 0x62
#define SVM_EXIT_INIT 0x63
#define SVM_EXIT_VINTR 0x64
#define SVM_EXIT_CPUID 0x72
#define SVM_EXIT_IRET 0x74
#define SVM_EXIT_INVD 0x76
#define SVM_EXIT_HLT 0x78
#define SVM_EXIT_INVLPGA 0x7a
#define SVM_EXIT_IOIO 0x7b
#define SVM_EXIT_MSR 0x7c
#define SVM_EXIT_TASK_SWITCH 0x7d
#define SVM_EXIT_SHUTDOWN 0x7f
#define SVM_EXIT_VMRUN 0x80
#define SVM_EXIT_VMMCALL 0x81
#define SVM_EXIT_NPF 0x400
#define SVM_EXIT_INVALID ((u64)-1)

/* IOIO exit_info1 */
#define SVM_IOIO_IN BIT(0)
#define SVM_IOIO_STR BIT(2)
#define SVM_IOIO_REP BIT(3)
#define SVM_IOIO_SZ_SHIFT 4 /* bits 4-6: 1, 2 or 4 bytes, one-hot */

/* Run the guest once (svm_run.S): VMLOAD, VMRUN, VMSAVE around @gprs. */
void svm_vm_run(u64 *gprs, hpa_t vmcb, hpa_t host_vmcb);

#endif /* KEEL_X86_SVM_H */
