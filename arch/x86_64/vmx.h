/* SPDX-License-Identifier: MIT */
/*
 * Intel VMX: MSR numbers, VMCS field encodings, control bits and exit
 * reasons Keel uses (Intel SDM vol. 3C, appendices A-C), and the VMX
 * instruction wrappers. Private to vmx.c, ept.c and vmx_run.S.
 */
#ifndef KEEL_X86_VMX_H
#define KEEL_X86_VMX_H

#include <keel/types.h>

struct pt_format;

/* ---- MSRs ----------------------------------------------------------------- */
#define MSR_FEATURE_CONTROL 0x3a
#define FEATURE_CONTROL_LOCK BIT(0)
#define FEATURE_CONTROL_VMX_SMX BIT(1)
#define FEATURE_CONTROL_VMX BIT(2) /* VMX outside SMX */
#define MSR_VMX_BASIC 0x480
#define MSR_VMX_PINBASED 0x481
#define MSR_VMX_PROCBASED 0x482
#define MSR_VMX_EXIT 0x483
#define MSR_VMX_ENTRY 0x484
#define MSR_VMX_MISC 0x485
#define MSR_VMX_CR0_FIXED0 0x486
#define MSR_VMX_CR0_FIXED1 0x487
#define MSR_VMX_CR4_FIXED0 0x488
#define MSR_VMX_CR4_FIXED1 0x489
#define MSR_VMX_PROCBASED2 0x48b
#define MSR_VMX_EPT_VPID_CAP 0x48c
#define MSR_VMX_TRUE_PINBASED 0x48d /* the TRUE_* four follow in the same order */
#define VMX_BASIC_TRUE_CTLS BIT(55)
#define VMX_BASIC_ADDR32 BIT(48)
#define VMX_BASIC_MEMTYPE(b) (((b) >> 50) & 0xf)
#define VMX_BASIC_SIZE(b) (((b) >> 32) & 0x1fff)

/* IA32_VMX_EPT_VPID_CAP */
#define EPT_CAP_WALK4 BIT(6)
#define EPT_CAP_WB BIT(14)
#define EPT_CAP_2M BIT(16)
#define EPT_CAP_1G BIT(17)
#define EPT_CAP_INVEPT BIT(20)
#define EPT_CAP_INVEPT_CTX BIT(25)
#define EPT_CAP_INVEPT_ALL BIT(26)
#define VPID_CAP_INVVPID BIT(32)
#define VPID_CAP_INVVPID_CTX BIT(41)
#define VPID_CAP_INVVPID_ALL BIT(42)

#define X86_CR4_VMXE BIT(13)

/* ---- Controls --------------------------------------------------------------- */
#define PIN_EXT_INTR BIT(0)
#define PIN_NMI BIT(3)
#define PIN_VIRTUAL_NMI BIT(5)
#define PIN_PREEMPT_TIMER BIT(6)

#define CPU_INTR_WINDOW BIT(2)
#define CPU_HLT BIT(7)
#define CPU_INVLPG BIT(9)
#define CPU_MWAIT BIT(10)
#define CPU_RDPMC BIT(11)
#define CPU_RDTSC BIT(12)
#define CPU_CR3_LOAD BIT(15)
#define CPU_CR3_STORE BIT(16)
#define CPU_CR8_LOAD BIT(19)
#define CPU_CR8_STORE BIT(20)
#define CPU_NMI_WINDOW BIT(22)
#define CPU_MOV_DR BIT(23)
#define CPU_UNCOND_IO BIT(24)
#define CPU_MSR_BITMAP BIT(28)
#define CPU_MONITOR BIT(29)
#define CPU_SECONDARY BIT(31)

#define CPU2_EPT BIT(1)
#define CPU2_RDTSCP BIT(3)
#define CPU2_VPID BIT(5)
#define CPU2_UNRESTRICTED BIT(7)
#define CPU2_INVPCID BIT(12)
#define CPU2_XSAVES BIT(20)

#define EXIT_SAVE_DEBUG BIT(2)
#define EXIT_HOST_64 BIT(9)
#define EXIT_SAVE_PAT BIT(18)
#define EXIT_LOAD_PAT BIT(19)
#define EXIT_SAVE_EFER BIT(20)
#define EXIT_LOAD_EFER BIT(21)

#define ENTRY_LOAD_DEBUG BIT(2)
#define ENTRY_IA32E BIT(9)
#define ENTRY_LOAD_PAT BIT(14)
#define ENTRY_LOAD_EFER BIT(15)

/* ---- VMCS fields ---------------------------------------------------------- */
enum vmcs_field {
	VMCS_VPID = 0x0000,
	GUEST_ES_SEL = 0x0800, /* ES, CS, SS, DS, FS, GS, LDTR, TR: step 2 */
	HOST_ES_SEL = 0x0c00, /* ES, CS, SS, DS, FS, GS, TR: step 2 */
	HOST_CS_SEL = 0x0c02,
	HOST_SS_SEL = 0x0c04,
	HOST_DS_SEL = 0x0c06,
	HOST_FS_SEL = 0x0c08,
	HOST_GS_SEL = 0x0c0a,
	HOST_TR_SEL = 0x0c0c,
	MSR_BITMAP = 0x2004,
	TSC_OFFSET = 0x2010,
	EPT_POINTER = 0x201a,
	GUEST_PHYS_ADDR = 0x2400,
	VMCS_LINK_PTR = 0x2800,
	GUEST_DEBUGCTL = 0x2802,
	GUEST_PAT = 0x2804,
	GUEST_EFER = 0x2806,
	HOST_PAT = 0x2c00,
	HOST_EFER = 0x2c02,
	PIN_CONTROLS = 0x4000,
	CPU_CONTROLS = 0x4002,
	EXCEPTION_BITMAP = 0x4004,
	PF_ERR_MASK = 0x4006,
	PF_ERR_MATCH = 0x4008,
	CR3_TARGET_COUNT = 0x400a,
	EXIT_CONTROLS = 0x400c,
	EXIT_MSR_STORE_COUNT = 0x400e,
	EXIT_MSR_LOAD_COUNT = 0x4010,
	ENTRY_CONTROLS = 0x4012,
	ENTRY_MSR_LOAD_COUNT = 0x4014,
	ENTRY_INTR_INFO = 0x4016,
	ENTRY_EXC_ERR = 0x4018,
	ENTRY_INSN_LEN = 0x401a,
	CPU2_CONTROLS = 0x401e,
	VM_INSN_ERROR = 0x4400,
	EXIT_REASON = 0x4402,
	EXIT_INTR_INFO = 0x4404,
	EXIT_INTR_ERR = 0x4406,
	IDT_VEC_INFO = 0x4408,
	IDT_VEC_ERR = 0x440a,
	EXIT_INSN_LEN = 0x440c,
	GUEST_ES_LIMIT = 0x4800, /* segments as for the selectors, then GDTR, IDTR */
	GUEST_GDTR_LIMIT = 0x4810,
	GUEST_IDTR_LIMIT = 0x4812,
	GUEST_ES_AR = 0x4814, /* ES..TR: step 2 */
	GUEST_CS_AR = 0x4816,
	GUEST_SS_AR = 0x4818,
	GUEST_INTERRUPTIBILITY = 0x4824,
	GUEST_ACTIVITY = 0x4826,
	GUEST_SYSENTER_CS = 0x482a,
	PREEMPT_TIMER_VALUE = 0x482e,
	HOST_SYSENTER_CS = 0x4c00,
	CR0_MASK = 0x6000,
	CR4_MASK = 0x6002,
	CR0_SHADOW = 0x6004,
	CR4_SHADOW = 0x6006,
	EXIT_QUAL = 0x6400,
	GUEST_CR0 = 0x6800,
	GUEST_CR3 = 0x6802,
	GUEST_CR4 = 0x6804,
	GUEST_ES_BASE = 0x6806, /* ES..TR: step 2, then GDTR, IDTR */
	GUEST_CS_BASE = 0x6808,
	GUEST_GDTR_BASE = 0x6816,
	GUEST_IDTR_BASE = 0x6818,
	GUEST_DR7 = 0x681a,
	GUEST_RSP = 0x681c,
	GUEST_RIP = 0x681e,
	GUEST_RFLAGS = 0x6820,
	GUEST_PENDING_DBG = 0x6822,
	GUEST_SYSENTER_ESP = 0x6824,
	GUEST_SYSENTER_EIP = 0x6826,
	HOST_CR0 = 0x6c00,
	HOST_CR3 = 0x6c02,
	HOST_CR4 = 0x6c04,
	HOST_FS_BASE = 0x6c06,
	HOST_GS_BASE = 0x6c08,
	HOST_TR_BASE = 0x6c0a,
	HOST_GDTR_BASE = 0x6c0c,
	HOST_IDTR_BASE = 0x6c0e,
	HOST_SYSENTER_ESP = 0x6c10,
	HOST_SYSENTER_EIP = 0x6c12,
	HOST_RSP = 0x6c14,
	HOST_RIP = 0x6c16,
};

/* Segment registers in VMCS order (the guest fields step by 2 in this order). */
enum vmx_seg { VMX_ES, VMX_CS, VMX_SS, VMX_DS, VMX_FS, VMX_GS, VMX_LDTR, VMX_TR };

/* ---- Exits ----------------------------------------------------------------- */
#define EXIT_REASON_FAILED_ENTRY BIT(31)
enum vmx_exit_reason {
	VMX_EXIT_EXC_NMI = 0,
	VMX_EXIT_EXT_INTR = 1,
	VMX_EXIT_TRIPLE = 2,
	VMX_EXIT_INIT = 3,
	VMX_EXIT_SIPI = 4,
	VMX_EXIT_IO_SMI = 5,
	VMX_EXIT_SMI = 6,
	VMX_EXIT_INTR_WINDOW = 7,
	VMX_EXIT_NMI_WINDOW = 8,
	VMX_EXIT_CPUID = 10,
	VMX_EXIT_HLT = 12,
	VMX_EXIT_INVD = 13,
	VMX_EXIT_VMCALL = 18,
	VMX_EXIT_CR = 28,
	VMX_EXIT_IO = 30,
	VMX_EXIT_RDMSR = 31,
	VMX_EXIT_WRMSR = 32,
	VMX_EXIT_BAD_GUEST = 33,
	VMX_EXIT_BAD_MSR_LOAD = 34,
	VMX_EXIT_MWAIT = 36,
	VMX_EXIT_MONITOR = 39,
	VMX_EXIT_MCE_ENTRY = 41,
	VMX_EXIT_EPT_VIOLATION = 48,
	VMX_EXIT_EPT_MISCONFIG = 49,
	VMX_EXIT_PREEMPT_TIMER = 52,
	VMX_EXIT_XSETBV = 55,
};

/* Interruption information (exit, IDT vectoring, entry injection). */
#define INTR_INFO_VALID BIT(31)
#define INTR_INFO_ERR BIT(11)
#define INTR_INFO_TYPE(i) (((i) >> 8) & 7)
#define INTR_TYPE_EXT_INTR 0
#define INTR_TYPE_NMI 2
#define INTR_TYPE_HW_EXC 3
#define INTR_TYPE_SW_INT 4

/* Interruptibility state: blocking by STI, by MOV SS and by NMI. */
#define INTR_STATE_STI BIT(0)
#define INTR_STATE_MOV_SS BIT(1)
#define INTR_STATE_NMI BIT(3)

/* I/O exit qualification. */
#define IO_QUAL_IN BIT(3)
#define IO_QUAL_STRING BIT(4)

/* EPT violation qualification. */
#define EPT_QUAL_WRITE BIT(1)
#define EPT_QUAL_FETCH BIT(2)

/* EPTP: write-back, 4-level walk. */
#define EPTP_WB 6ull
#define EPTP_WALK4 (3ull << 3)

/* ---- Instructions ---------------------------------------------------------- */

/* VMX instructions report failure in CF (invalid) or ZF (valid): true on success. */
static inline bool vmx_vmwrite(u64 field, u64 val)
{
	bool fail;

	__asm__ volatile("vmwrite %2, %1; setna %0" : "=qm"(fail) : "r"(field), "rm"(val) : "cc");
	return !fail;
}

static inline u64 vmx_vmread(u64 field)
{
	u64 val = 0;

	__asm__ volatile("vmread %1, %0" : "+rm"(val) : "r"(field) : "cc");
	return val;
}

static inline bool vmx_vmxon(hpa_t region)
{
	bool fail;

	__asm__ volatile("vmxon %1; setna %0" : "=qm"(fail) : "m"(region) : "cc", "memory");
	return !fail;
}

static inline bool vmx_vmclear(hpa_t vmcs)
{
	bool fail;

	__asm__ volatile("vmclear %1; setna %0" : "=qm"(fail) : "m"(vmcs) : "cc", "memory");
	return !fail;
}

static inline bool vmx_vmptrld(hpa_t vmcs)
{
	bool fail;

	__asm__ volatile("vmptrld %1; setna %0" : "=qm"(fail) : "m"(vmcs) : "cc", "memory");
	return !fail;
}

static inline hpa_t vmx_vmptrst(void)
{
	hpa_t vmcs;

	__asm__ volatile("vmptrst %0" : "=m"(vmcs) : : "memory");
	return vmcs;
}

/* INVEPT / INVVPID type 1 (one context) or 2 (all contexts). */
static inline void vmx_invept(u64 type, u64 eptp)
{
	struct {
		u64 eptp, zero;
	} desc = { eptp, 0 };

	__asm__ volatile("invept %0, %1" : : "m"(desc), "r"(type) : "cc", "memory");
}

static inline void vmx_invvpid(u64 type, u16 vpid)
{
	struct {
		u64 vpid, addr;
	} desc = { vpid, 0 };

	__asm__ volatile("invvpid %0, %1" : : "m"(desc), "r"(type) : "cc", "memory");
}

/*
 * vmx_run.S: enter the guest (VMLAUNCH if !@launched, else VMRESUME) with
 * the GPRs from @gprs (all but RSP, which is in the VMCS) and store them
 * back at the exit. 0 after a VM exit; 1 VMfailInvalid; 2 VMfailValid.
 */
int vmx_vm_run(u64 *gprs, u32 launched);
/* The host RIP of every VM exit (inside vmx_vm_run). */
extern const char vmx_vm_exit[];

/* ept.c */
const struct pt_format *ept_format(void);
void ept_set_caps(u64 ept_vpid_cap);
u64 ept_pointer(hpa_t root);

#endif /* KEEL_X86_VMX_H */
