/* SPDX-License-Identifier: MIT */
/*
 * Intel VMX backend: probe, per-CPU VMXON, one VMCS per vCPU with EPT and
 * VPID, every control checked against the capability MSRs, and the
 * translation of VM exits into the same generic exits the SVM backend makes.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/pmm.h>

#include "virt.h"
#include "vmx.h"
#include "vplat.h"
#include "x86.h"

#define VMX_GUEST_PAT 0x0007040600070406ull /* the reset value */
#define VMX_VCPU_PAGES 2 /* the VMCS, then struct vmx_vcpu */
#define X86_CR0_TS BIT(3)
#define X86_CR4_OSXSAVE BIT(18)
#define EFER_OK (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)

struct vmx_desc_ptr {
	u16 limit;
	u64 base;
} __packed;

/* Per-vCPU state the VMCS has no field for, in the page after the VMCS. */
struct vmx_vcpu {
	u8 launched; /* VMRESUME from now on */
	u8 parked; /* INIT seen: the vCPU stays off until its next reset */
	u8 write_failed; /* a VMWRITE failed while setting up the VMCS */
	u8 window; /* interrupt-window exiting is on */
	u8 nmi_window; /* NMI-window exiting is on */
	u8 pad[3];
	struct vmx_desc_ptr gdtr, idtr; /* VM exits cut both limits to 0xffff */
};

/* What the probe found and chose, the same on every CPU. */
static struct {
	u32 revision;
	u32 pin, cpu, cpu2, exit, entry; /* controls, already adjusted */
	bool nmi_window; /* virtual NMIs and NMI-window exiting */
	u64 cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	u64 cr0_must1; /* CR0 bits the guest cannot clear (PE/PG free if unrestricted) */
	u64 ept_cap;
	hpa_t msr_bitmap;
} vmx;

/* Not switched by VM entry or exit: cleared when a vCPU is reset (TSC_AUX: scrub.c). */
static const u32 vmx_msr_unswitched[] = {
	MSR_KERNEL_GS_BASE, MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK,
};

static struct vmx_vcpu *vmx_priv(struct vcpu *vcpu)
{
	return hpa_to_hva(vcpu->arch.vmcb + PAGE_SIZE);
}

static void vmx_w(struct vcpu *vcpu, u64 field, u64 val)
{
	if (!vmx_vmwrite(field, val) && !vmx_priv(vcpu)->write_failed) {
		vmx_priv(vcpu)->write_failed = 1;
		pr_err("vmx: VMWRITE of field 0x%llx failed (error %llu)",
		       (unsigned long long)field, (unsigned long long)vmx_vmread(VM_INSN_ERROR));
	}
}

/* ---- Probe --------------------------------------------------------------- */

/*
 * One control word from its capability MSR: low half = bits that must be 1,
 * high half = bits that may be 1. @need bits must be available, @want bits
 * are taken where they are. False (after saying what is missing) if not.
 */
static bool vmx_adjust(u32 msr, u32 want, u32 need, const char *what, u32 *out)
{
	u64 cap = x86_rdmsr(msr);
	u32 must = (u32)cap, may = (u32)(cap >> 32);

	if (need & ~may) {
		pr_err("x86: VMX %s controls lack bits 0x%x (capability MSR 0x%x = 0x%llx)", what,
		       need & ~may, msr, (unsigned long long)cap);
		return false;
	}
	*out = ((want | need) & may) | must;
	return true;
}

#define VMX_PREEMPT_MS 10u

/*
 * The VMX-preemption timer's period, reloaded at each entry: a guest that
 * never exits still comes out every 10 ms, so a stop reaches it even where
 * an interrupt does not make it exit (Bochs, with the guest's IF clear).
 */
static u32 vmx_preempt_ticks(void)
{
	u32 rate = (u32)(x86_rdmsr(MSR_VMX_MISC) & 0x1f);
	u64 ticks = (x86_tsc_khz() * VMX_PREEMPT_MS) >> rate;

	return ticks > 0xffffffffull ? 0xffffffffu : ticks ? (u32)ticks : 1u;
}

static bool vmx_probe_controls(u64 basic)
{
	u32 base = (basic & VMX_BASIC_TRUE_CTLS) ? MSR_VMX_TRUE_PINBASED : MSR_VMX_PINBASED;
	u32 cpu2_want = CPU2_VPID | CPU2_UNRESTRICTED | CPU2_RDTSCP | CPU2_INVPCID | CPU2_XSAVES;
	bool ok;

	ok = vmx_adjust(base, PIN_PREEMPT_TIMER | PIN_VIRTUAL_NMI, PIN_EXT_INTR | PIN_NMI,
			"pin-based", &vmx.pin) &&
	     vmx_adjust(base + 1, CPU_MONITOR | CPU_MWAIT | CPU_NMI_WINDOW,
			CPU_HLT | CPU_UNCOND_IO | CPU_MSR_BITMAP | CPU_SECONDARY | CPU_CR8_LOAD |
				CPU_CR8_STORE | CPU_INTR_WINDOW,
			"processor-based", &vmx.cpu) &&
	     vmx_adjust(MSR_VMX_PROCBASED2, cpu2_want, CPU2_EPT, "secondary (EPT)", &vmx.cpu2) &&
	     vmx_adjust(base + 2, EXIT_SAVE_PAT | EXIT_LOAD_PAT,
			EXIT_HOST_64 | EXIT_SAVE_EFER | EXIT_LOAD_EFER, "VM-exit", &vmx.exit) &&
	     vmx_adjust(base + 3, ENTRY_LOAD_PAT, ENTRY_IA32E | ENTRY_LOAD_EFER, "VM-entry",
			&vmx.entry);
	/*
	 * Interrupt-window exiting must exist, but is on only while a window is
	 * open. NMI-window exiting needs virtual NMIs; without the pair, an NMI
	 * the guest cannot take yet waits for the next exit (the preemption
	 * timer's, at the latest).
	 */
	vmx.nmi_window = (vmx.cpu & CPU_NMI_WINDOW) && (vmx.pin & PIN_VIRTUAL_NMI);
	if (!vmx.nmi_window)
		vmx.pin &= ~PIN_VIRTUAL_NMI;
	vmx.cpu &= ~(CPU_INTR_WINDOW | CPU_NMI_WINDOW);
	return ok;
}

/* EPT needs 4-level walks, write-back tables, 2 MiB leaves and INVEPT. */
static bool vmx_probe_ept(void)
{
	u64 cap = x86_rdmsr(MSR_VMX_EPT_VPID_CAP);
	static const struct {
		u64 bit;
		const char *what;
	} need[] = {
		{ EPT_CAP_WALK4, "4-level EPT walks" },
		{ EPT_CAP_WB, "write-back EPT tables" },
		{ EPT_CAP_2M, "2 MiB EPT pages" },
		{ EPT_CAP_INVEPT, "INVEPT" },
	};

	for (u32 i = 0; i < ARRAY_SIZE(need); i++) {
		if (!(cap & need[i].bit)) {
			pr_err("x86: VMX with EPT but no %s (IA32_VMX_EPT_VPID_CAP = 0x%llx)",
			       need[i].what, (unsigned long long)cap);
			return false;
		}
	}
	if (!(cap & (EPT_CAP_INVEPT_CTX | EPT_CAP_INVEPT_ALL))) {
		pr_err("x86: INVEPT offers neither single- nor all-context flushes");
		return false;
	}
	/* VPID is optional: without it every entry and exit flushes the TLB. */
	if ((vmx.cpu2 & CPU2_VPID) &&
	    (!(cap & VPID_CAP_INVVPID) || !(cap & (VPID_CAP_INVVPID_CTX | VPID_CAP_INVVPID_ALL))))
		vmx.cpu2 &= ~CPU2_VPID;
	vmx.ept_cap = cap;
	ept_set_caps(cap);
	return true;
}

static bool vmx_probe_basic(u64 basic)
{
	if (VMX_BASIC_SIZE(basic) > PAGE_SIZE || VMX_BASIC_MEMTYPE(basic) != 6) {
		pr_err("x86: unusable VMCS layout (IA32_VMX_BASIC = 0x%llx: size or memory type)",
		       (unsigned long long)basic);
		return false;
	}
	if (basic & VMX_BASIC_ADDR32) {
		pr_err("x86: VMX limited to 32-bit physical addresses, not supported");
		return false;
	}
	vmx.revision = (u32)basic & 0x7fffffff;
	return true;
}

/* Clear the read and write exit bits of @msr in the MSR bitmap. */
static void vmx_msr_allow(u8 *bm, u32 msr)
{
	u32 off = msr & 0x1fff;

	if (msr >= 0xc0000000u && msr <= 0xc0001fffu)
		bm += 0x400;
	else if (msr > 0x1fff)
		return; /* outside the bitmap: always exits */
	bm[off / 8] &= (u8) ~(1u << (off % 8));
	bm[0x800 + off / 8] &= (u8) ~(1u << (off % 8));
}

static bool vmx_alloc_bitmap(void)
{
	u8 *bm = pmm_alloc_page();

	if (!bm)
		return false;
	memset(bm, 0xff, PAGE_SIZE);
	for (u32 i = 0; i < ARRAY_SIZE(x86_guest_msrs); i++)
		vmx_msr_allow(bm, x86_guest_msrs[i]);
	vmx.msr_bitmap = hva_to_hpa(bm);
	return true;
}

/* Firmware may lock IA32_FEATURE_CONTROL with VMX off; if unlocked, Keel locks it on. */
static bool vmx_feature_control(void)
{
	u64 fc = x86_rdmsr(MSR_FEATURE_CONTROL);

	if (!(fc & FEATURE_CONTROL_LOCK)) {
		x86_wrmsr(MSR_FEATURE_CONTROL, fc | FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX);
		return true;
	}
	return fc & FEATURE_CONTROL_VMX;
}

static const struct x86_virt_ops vmx_ops;

const struct x86_virt_ops *vmx_probe(void)
{
	u64 basic;

	if (!(x86_cpuid(1, 0).ecx & BIT(5))) {
		pr_err("x86: no VMX: CPUID 1 ECX bit 5 is clear");
		return NULL;
	}
	if (!vmx_feature_control()) {
		pr_err("x86: VMX is disabled by the firmware (IA32_FEATURE_CONTROL locked with VMX off): enable VT-x in the firmware set-up");
		return NULL;
	}
	basic = x86_rdmsr(MSR_VMX_BASIC);
	if (!vmx_probe_basic(basic))
		return NULL;
	if (!(x86_rdmsr(basic & VMX_BASIC_TRUE_CTLS ? MSR_VMX_TRUE_PINBASED + 1
						    : MSR_VMX_PROCBASED) >>
		      32 &
	      CPU_SECONDARY)) {
		pr_err("x86: VMX without secondary controls, so no EPT");
		return NULL;
	}
	if (!(x86_rdmsr(MSR_VMX_PROCBASED2) >> 32 & CPU2_EPT)) {
		pr_err("x86: VMX without EPT (secondary control bit 1): Keel needs nested paging");
		return NULL;
	}
	if (!vmx_probe_controls(basic) || !vmx_probe_ept())
		return NULL;
	vmx.cr0_fixed0 = x86_rdmsr(MSR_VMX_CR0_FIXED0);
	vmx.cr0_fixed1 = x86_rdmsr(MSR_VMX_CR0_FIXED1);
	vmx.cr4_fixed0 = x86_rdmsr(MSR_VMX_CR4_FIXED0);
	vmx.cr4_fixed1 = x86_rdmsr(MSR_VMX_CR4_FIXED1);
	vmx.cr0_must1 = vmx.cr0_fixed0;
	if (vmx.cpu2 & CPU2_UNRESTRICTED)
		vmx.cr0_must1 &= ~(X86_CR0_PE | X86_CR0_PG);
	if (!vmx_alloc_bitmap()) {
		pr_err("x86: no memory for the VMX MSR bitmap");
		return NULL;
	}
	pr_info("x86: VMX rev 0x%x, EPT with 2M%s pages, %s, %s", vmx.revision,
		(vmx.ept_cap & EPT_CAP_1G) ? "/1G" : "",
		(vmx.cpu2 & CPU2_VPID) ? "VPID" : "no VPID (TLB flushed on every switch)",
		(vmx.cpu2 & CPU2_UNRESTRICTED) ? "unrestricted guest" : "no unrestricted guest");
	return &vmx_ops;
}

/* ---- Per CPU ------------------------------------------------------------- */

static int vmx_cpu_init(struct pcpu *cpu)
{
	u64 *region;

	if (!vmx_feature_control()) {
		pr_err("x86: cpu %u: VMX is locked off by the firmware", cpu->id);
		return -KEEL_ENOSYS;
	}
	if (!cpu->arch.host_save_area) {
		region = pmm_alloc_page();
		if (!region)
			return -KEEL_ENOMEM;
		memset(region, 0, PAGE_SIZE);
		*(u32 *)region = vmx.revision;
		cpu->arch.host_save_area = hva_to_hpa(region);
	}
	x86_write_cr0((x86_read_cr0() | vmx.cr0_fixed0) & vmx.cr0_fixed1);
	x86_write_cr4((x86_read_cr4() | vmx.cr4_fixed0 | X86_CR4_VMXE) & vmx.cr4_fixed1);
	if (!vmx_vmxon(cpu->arch.host_save_area)) {
		pr_err("x86: cpu %u: VMXON failed", cpu->id);
		return -KEEL_EIO;
	}
	return 0;
}

/* ---- vCPU set-up --------------------------------------------------------- */

static int vmx_vcpu_init(struct vcpu *vcpu)
{
	hpa_t pa = pmm_alloc(VMX_VCPU_PAGES * PAGE_SIZE, PAGE_SIZE);

	if (!pa)
		return -KEEL_ENOMEM;
	memset(hpa_to_hva(pa), 0, VMX_VCPU_PAGES * PAGE_SIZE);
	*(u32 *)hpa_to_hva(pa) = vmx.revision;
	vcpu->arch.vmcb = pa;
	return 0;
}

static void vmx_vcpu_destroy(struct vcpu *vcpu)
{
	/* On the vCPU's own CPU: VMCLEAR writes back anything the CPU cached. */
	if (vcpu->arch.vmcb) {
		vmx_vmclear(vcpu->arch.vmcb);
		pmm_free(vcpu->arch.vmcb, VMX_VCPU_PAGES * PAGE_SIZE);
	}
	vcpu->arch.vmcb = 0;
}

static void vmx_setup_controls(struct vcpu *vcpu)
{
	struct partition *part = vcpu->part;

	vmx_w(vcpu, PIN_CONTROLS, vmx.pin);
	if (vmx.pin & PIN_PREEMPT_TIMER)
		vmx_w(vcpu, PREEMPT_TIMER_VALUE, vmx_preempt_ticks());
	vmx_w(vcpu, CPU_CONTROLS, vmx.cpu);
	vmx_w(vcpu, CPU2_CONTROLS, vmx.cpu2);
	vmx_w(vcpu, EXIT_CONTROLS, vmx.exit);
	vmx_w(vcpu, ENTRY_CONTROLS, vmx.entry | ENTRY_IA32E);
	/* #DB and #AC: an endless event loop becomes exits, so the vCPU can be stopped. */
	vmx_w(vcpu, EXCEPTION_BITMAP, BIT(1) | BIT(6) | BIT(17)); /* #DB, #UD (VMMCALL), #AC */
	vmx_w(vcpu, PF_ERR_MASK, 0);
	vmx_w(vcpu, PF_ERR_MATCH, 0);
	vmx_w(vcpu, CR3_TARGET_COUNT, 0);
	vmx_w(vcpu, EXIT_MSR_STORE_COUNT, 0);
	vmx_w(vcpu, EXIT_MSR_LOAD_COUNT, 0);
	vmx_w(vcpu, ENTRY_MSR_LOAD_COUNT, 0);
	vmx_w(vcpu, ENTRY_INTR_INFO, 0);
	vmx_w(vcpu, MSR_BITMAP, vmx.msr_bitmap);
	vmx_w(vcpu, TSC_OFFSET, 0);
	vmx_w(vcpu, EPT_POINTER, ept_pointer(part->arch.npt.root));
	/* One core runs one partition; VPIDs may repeat, a flush at first run covers it. */
	part->arch.asid = (part->id - 1) % 0xffff + 1;
	if (vmx.cpu2 & CPU2_VPID)
		vmx_w(vcpu, VMCS_VPID, part->arch.asid);
	vmx_w(vcpu, VMCS_LINK_PTR, ~0ull);
}

/* The host TSS base, from the descriptor TR selects in this CPU's GDT. */
static u64 vmx_host_tr_base(u64 gdt)
{
	const u64 *d = (const u64 *)(uintptr_t)(gdt + X86_SEL_TSS);

	return ((d[0] >> 16) & 0xffffff) | (((d[0] >> 56) & 0xff) << 24) | (d[1] << 32);
}

/* Keel's own per-CPU GDT, TSS and IDT (trap.c), read back from this CPU. */
static void vmx_setup_host(struct vcpu *vcpu)
{
	struct vmx_vcpu *p = vmx_priv(vcpu);

	__asm__ volatile("sgdt %0; sidt %1" : "=m"(p->gdtr), "=m"(p->idtr));
	vmx_w(vcpu, HOST_CR0, x86_read_cr0());
	vmx_w(vcpu, HOST_CR3, x86_read_cr3());
	vmx_w(vcpu, HOST_CR4, x86_read_cr4());
	vmx_w(vcpu, HOST_CS_SEL, X86_SEL_CODE);
	vmx_w(vcpu, HOST_SS_SEL, X86_SEL_DATA);
	vmx_w(vcpu, HOST_DS_SEL, X86_SEL_DATA);
	vmx_w(vcpu, HOST_ES_SEL, X86_SEL_DATA);
	vmx_w(vcpu, HOST_FS_SEL, 0);
	vmx_w(vcpu, HOST_GS_SEL, 0);
	vmx_w(vcpu, HOST_TR_SEL, X86_SEL_TSS);
	vmx_w(vcpu, HOST_FS_BASE, x86_rdmsr(MSR_FS_BASE));
	vmx_w(vcpu, HOST_GS_BASE, x86_rdmsr(MSR_GS_BASE)); /* this CPU's pcpu */
	vmx_w(vcpu, HOST_TR_BASE, vmx_host_tr_base(p->gdtr.base));
	vmx_w(vcpu, HOST_GDTR_BASE, p->gdtr.base);
	vmx_w(vcpu, HOST_IDTR_BASE, p->idtr.base);
	vmx_w(vcpu, HOST_SYSENTER_CS, x86_rdmsr(MSR_SYSENTER_CS));
	vmx_w(vcpu, HOST_SYSENTER_ESP, x86_rdmsr(MSR_SYSENTER_ESP));
	vmx_w(vcpu, HOST_SYSENTER_EIP, x86_rdmsr(MSR_SYSENTER_EIP));
	vmx_w(vcpu, HOST_EFER, x86_rdmsr(MSR_EFER));
	if (vmx.exit & EXIT_LOAD_PAT)
		vmx_w(vcpu, HOST_PAT, x86_rdmsr(MSR_PAT));
	vmx_w(vcpu, HOST_RIP, (u64)(uintptr_t)vmx_vm_exit);
}

static void vmx_seg(struct vcpu *vcpu, enum vmx_seg s, u16 sel, u32 ar, u32 limit)
{
	vmx_w(vcpu, GUEST_ES_SEL + 2 * s, sel);
	vmx_w(vcpu, GUEST_ES_BASE + 2 * s, 0);
	vmx_w(vcpu, GUEST_ES_LIMIT + 2 * s, limit);
	vmx_w(vcpu, GUEST_ES_AR + 2 * s, ar);
}

/* Real CR0/CR4 from what the guest asked for: the fixed bits forced, VMXE hidden. */
static u64 vmx_real_cr0(u64 cr0)
{
	return (cr0 | vmx.cr0_must1) & vmx.cr0_fixed1;
}

static u64 vmx_real_cr4(u64 cr4)
{
	return (cr4 | vmx.cr4_fixed0 | X86_CR4_VMXE) & vmx.cr4_fixed1;
}

/* CR0/CR4 as the guest sees them (its shadow) and as they run (fixed bits forced). */
static void vmx_set_guest_crs(struct vcpu *vcpu, u64 cr0, u64 cr4)
{
	vmx_w(vcpu, GUEST_CR0, vmx_real_cr0(cr0));
	vmx_w(vcpu, CR0_SHADOW, cr0);
	vmx_w(vcpu, CR0_MASK, (vmx.cr0_must1 | ~vmx.cr0_fixed1) & 0xffffffffull);
	vmx_w(vcpu, GUEST_CR4, vmx_real_cr4(cr4));
	vmx_w(vcpu, CR4_SHADOW, cr4);
	vmx_w(vcpu, CR4_MASK, vmx.cr4_fixed0 | ~vmx.cr4_fixed1 | X86_CR4_VMXE);
}

/* What every entry kind starts with besides segments and control registers. */
static void vmx_setup_guest_common(struct vcpu *vcpu)
{
	vmx_seg(vcpu, VMX_LDTR, 0, BIT(16), 0); /* unusable */
	vmx_w(vcpu, GUEST_IDTR_BASE, 0);
	vmx_w(vcpu, GUEST_DR7, 0x400);
	vmx_w(vcpu, GUEST_DEBUGCTL, 0);
	vmx_w(vcpu, GUEST_RFLAGS, 0x2);
	vmx_w(vcpu, GUEST_PAT, VMX_GUEST_PAT);
	vmx_w(vcpu, GUEST_SYSENTER_CS, 0);
	vmx_w(vcpu, GUEST_SYSENTER_ESP, 0);
	vmx_w(vcpu, GUEST_SYSENTER_EIP, 0);
	vmx_w(vcpu, GUEST_INTERRUPTIBILITY, 0);
	vmx_w(vcpu, GUEST_ACTIVITY, 0);
	vmx_w(vcpu, GUEST_PENDING_DBG, 0);
}

/* A real-mode segment at @base (SIPI entry): selector base >> 4, 64 KiB limit. */
static void vmx_seg_real(struct vcpu *vcpu, enum vmx_seg s, u32 ar, u64 base)
{
	vmx_seg(vcpu, s, (u16)(base >> 4), ar, 0xffff);
	vmx_w(vcpu, GUEST_ES_BASE + 2 * s, base);
}

/*
 * INIT-SIPI: real mode at CS = vector << 8, IP = 0, paging and long mode
 * off. Only an unrestricted guest may run with CR0.PE = 0.
 */
static bool vmx_setup_guest_sipi(struct vcpu *vcpu)
{
	if (!(vmx.cpu2 & CPU2_UNRESTRICTED)) {
		pr_err("vmx: vcpu %u: starting a Linux AP needs real mode (unrestricted guest), which this CPU lacks: run Linux with one vCPU",
		       vcpu->index);
		return false;
	}
	vmx_seg_real(vcpu, VMX_CS, 0x9b, vcpu->arch.rip & 0xff000);
	vmx_seg_real(vcpu, VMX_DS, 0x93, 0);
	vmx_seg_real(vcpu, VMX_ES, 0x93, 0);
	vmx_seg_real(vcpu, VMX_SS, 0x93, 0);
	vmx_seg_real(vcpu, VMX_FS, 0x93, 0);
	vmx_seg_real(vcpu, VMX_GS, 0x93, 0);
	vmx_seg(vcpu, VMX_TR, 0, 0x8b, 0xffff);
	vmx_w(vcpu, GUEST_GDTR_BASE, 0);
	vmx_w(vcpu, GUEST_GDTR_LIMIT, 0xffff);
	vmx_w(vcpu, GUEST_IDTR_LIMIT, 0xffff);
	vmx_set_guest_crs(vcpu, X86_CR0_ET, 0);
	vmx_w(vcpu, GUEST_CR3, 0);
	vmx_w(vcpu, GUEST_EFER, 0);
	vmx_w(vcpu, ENTRY_CONTROLS, vmx.entry & ~ENTRY_IA32E); /* the probe required IA32E */
	vcpu->arch.rip = 0;
	return true;
}

/*
 * docs/guest-abi.md: 64-bit long mode, flat GDT at RAM + 0x1f00, no IDT.
 * Linux's 64-bit boot protocol: the same with __BOOT_CS 0x10, __BOOT_DS 0x18
 * in the GDT at RAM + X86_LINUX_GDT.
 */
static bool vmx_setup_guest(struct vcpu *vcpu)
{
	gpa_t ram = KEEL_GUEST_RAM_BASE;
	bool is_linux = vcpu->arch.entry_kind == VCPU_ENTRY_LINUX;
	u16 cs = is_linux ? X86_LINUX_CS : 0x08, ds = is_linux ? X86_LINUX_DS : 0x10;
	u64 cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG;

	vmx_setup_guest_common(vcpu);
	if (vcpu->arch.entry_kind == VCPU_ENTRY_SIPI)
		return vmx_setup_guest_sipi(vcpu);
	vmx_seg(vcpu, VMX_CS, cs, 0xa09b, 0xffffffff); /* P, S, code RX accessed, L, G */
	vmx_seg(vcpu, VMX_DS, ds, 0xc093, 0xffffffff); /* P, S, data RW accessed, D, G */
	vmx_seg(vcpu, VMX_ES, ds, 0xc093, 0xffffffff);
	vmx_seg(vcpu, VMX_SS, ds, 0xc093, 0xffffffff);
	vmx_seg(vcpu, VMX_FS, ds, 0xc093, 0xffffffff);
	vmx_seg(vcpu, VMX_GS, ds, 0xc093, 0xffffffff);
	/* A busy 64-bit TSS, never used before the guest loads its own. */
	vmx_seg(vcpu, VMX_TR, 0, 0x8b, 0x67);
	vmx_w(vcpu, GUEST_GDTR_BASE, ram + (is_linux ? X86_LINUX_GDT : 0x1f00));
	vmx_w(vcpu, GUEST_GDTR_LIMIT, is_linux ? 0x1f : 0x17);
	vmx_w(vcpu, GUEST_IDTR_LIMIT, 0);
	vmx_set_guest_crs(vcpu, cr0, X86_CR4_PAE);
	vmx_w(vcpu, GUEST_CR3, ram + 0x2000);
	vmx_w(vcpu, GUEST_EFER, EFER_LME | EFER_LMA | EFER_NXE);
	return true;
}

/* XSETBV with Keel's CR4.OSXSAVE on for just the one instruction. */
static void vmx_xsetbv(u64 xcr0)
{
	u64 cr4 = x86_read_cr4();

	x86_write_cr4(cr4 | X86_CR4_OSXSAVE);
	__asm__ volatile("xsetbv" ::"c"(0), "a"((u32)xcr0), "d"((u32)(xcr0 >> 32)));
	x86_write_cr4(cr4);
}

static bool vmx_has_xsave(void)
{
	return x86_cpuid(1, 0).ecx & BIT(26);
}

/* What a previous guest on this CPU left in registers no VMCS field covers. */
static void vmx_clear_leftovers(void)
{
	for (u32 i = 0; i < ARRAY_SIZE(vmx_msr_unswitched); i++)
		x86_wrmsr(vmx_msr_unswitched[i], 0);
}

static void vmx_vcpu_reset(struct vcpu *vcpu)
{
	struct vmx_vcpu *p = vmx_priv(vcpu);

	vmx_vmclear(vcpu->arch.vmcb);
	memset(p, 0, sizeof(*p));
	if (!vmx_vmptrld(vcpu->arch.vmcb)) {
		pr_err("vmx: VMPTRLD of vcpu %u's VMCS failed", vcpu->index);
		p->write_failed = 1;
		return;
	}
	vmx_setup_controls(vcpu);
	vmx_setup_host(vcpu);
	if (!vmx_setup_guest(vcpu))
		p->write_failed = 1; /* said why: the vCPU stops at its first run */
	vmx_clear_leftovers();
	/* Another partition (or an earlier life of this one) may have used this VPID here. */
	vcpu->arch.flush_tlb = 1;
	vcpu->arch.tlb_gen = __atomic_load_n(&vcpu->part->arch.tlb_gen, __ATOMIC_ACQUIRE);
}

/* ---- Events -------------------------------------------------------------- */

static void vmx_vcpu_inject(struct vcpu *vcpu, u8 vector, bool has_err, u32 err)
{
	u32 info = vector | (INTR_TYPE_HW_EXC << 8) | INTR_INFO_VALID;

	if (has_err) {
		info |= INTR_INFO_ERR;
		vmx_w(vcpu, ENTRY_EXC_ERR, err);
	}
	vmx_w(vcpu, ENTRY_INTR_INFO, info);
}

/*
 * The guest's CR2 is the CPU's own under VMX (no VMCS field; Keel takes no
 * page faults of its own), and the exit is handled on the vCPU's CPU.
 */
static void vmx_vcpu_inject_pf(struct vcpu *vcpu, u32 err, u64 addr)
{
	x86_write_cr2(addr);
	vmx_vcpu_inject(vcpu, 14, true, err);
}

/* An event cut short by the exit is delivered again on the next entry. */
static void vmx_reinject(struct vcpu *vcpu)
{
	u32 idt = (u32)vmx_vmread(IDT_VEC_INFO);

	if (!(idt & INTR_INFO_VALID)) {
		vmx_w(vcpu, ENTRY_INTR_INFO, 0);
		return;
	}
	if (idt & INTR_INFO_ERR)
		vmx_w(vcpu, ENTRY_EXC_ERR, vmx_vmread(IDT_VEC_ERR));
	if (INTR_INFO_TYPE(idt) >= INTR_TYPE_SW_INT)
		vmx_w(vcpu, ENTRY_INSN_LEN, vmx_vmread(EXIT_INSN_LEN));
	vmx_w(vcpu, ENTRY_INTR_INFO, idt & ~BIT(12)); /* bit 12 is reserved on entry */
}

/* ---- Exits --------------------------------------------------------------- */

static u32 vmx_insn_len(void)
{
	return (u32)vmx_vmread(EXIT_INSN_LEN);
}

/* A control register as the guest sees it: the shadow where Keel owns the bit. */
static u64 vmx_guest_cr(u64 real_field, u64 mask_field, u64 shadow_field)
{
	u64 mask = vmx_vmread(mask_field);

	return (vmx_vmread(real_field) & ~mask) | (vmx_vmread(shadow_field) & mask);
}

static void vmx_snapshot(struct vcpu *vcpu)
{
	struct vcpu_arch *a = &vcpu->arch;
	u32 cs_ar = (u32)vmx_vmread(GUEST_CS_AR);

	a->gprs[X86_RSP] = vmx_vmread(GUEST_RSP);
	a->rip = vmx_vmread(GUEST_RIP);
	a->rflags = vmx_vmread(GUEST_RFLAGS);
	a->cr0 = vmx_guest_cr(GUEST_CR0, CR0_MASK, CR0_SHADOW);
	a->cr3 = vmx_vmread(GUEST_CR3);
	a->cr4 = vmx_guest_cr(GUEST_CR4, CR4_MASK, CR4_SHADOW);
	a->efer = vmx_vmread(GUEST_EFER);
	a->cs_base = vmx_vmread(GUEST_CS_BASE);
	a->cs_l = (cs_ar >> 13) & 1;
	a->cs_db = (cs_ar >> 14) & 1;
	a->cpl = (vmx_vmread(GUEST_SS_AR) >> 5) & 3; /* SS.DPL is the CPL */
}

/* Port I/O: the exit qualification has port, size and direction. */
static void vmx_exit_io(struct vcpu *vcpu, struct vm_exit *exit)
{
	u64 q = vmx_vmread(EXIT_QUAL);
	u8 size = (u8)((q & 7) + 1);

	if (q & IO_QUAL_STRING) {
		x86_exit_fault(exit, FAULT_DECODE, q, 0); /* INS/OUTS: no device needs them yet */
		return;
	}
	if (size != 1 && size != 2 && size != 4) {
		x86_exit_fault(exit, FAULT_INTERNAL, q, 0);
		return;
	}
	vcpu->arch.rip += vmx_insn_len();
	exit->kind = EXIT_PIO;
	exit->pio.port = (u16)(q >> 16);
	exit->pio.size = size;
	exit->pio.write = !(q & IO_QUAL_IN);
	exit->pio.data = 0;
	if (exit->pio.write)
		exit->pio.data = vcpu->arch.gprs[X86_RAX] & (0xffffffffull >> (32 - 8 * size));
	else
		vcpu->arch.pio_in_size = size;
}

/* Each byte of a PAT value must name a memory type that exists (0, 1, 4-7). */
static bool vmx_pat_valid(u64 pat)
{
	for (u32 i = 0; i < 8; i++) {
		u8 t = (u8)(pat >> (i * 8));

		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

static void vmx_msr_result(struct vcpu *vcpu, u64 val)
{
	vcpu->arch.gprs[X86_RAX] = (u32)val;
	vcpu->arch.gprs[X86_RDX] = val >> 32;
}

/*
 * RDMSR/WRMSR, the SVM backend's policy: EFER and PAT live in the VMCS and
 * are emulated; the syscall/segment-base MSRs do not exit at all; the rest
 * goes to the shared x86 policy (LAPIC model, fixed answers, else #GP).
 */
static void vmx_exit_msr(struct vcpu *vcpu, struct vm_exit *exit, bool write)
{
	u32 msr = (u32)vcpu->arch.gprs[X86_RCX];
	u64 val = (vcpu->arch.gprs[X86_RDX] << 32) | (u32)vcpu->arch.gprs[X86_RAX];
	u64 efer = vmx_vmread(GUEST_EFER);

	if (msr == MSR_EFER && !write) {
		vmx_msr_result(vcpu, efer);
	} else if (msr == MSR_EFER) {
		if (val & ~EFER_OK) {
			vmx_vcpu_inject(vcpu, 13, true, 0);
			return;
		}
		/* LMA is the CPU's to set, from LME and CR0.PG. */
		vmx_w(vcpu, GUEST_EFER, (val & ~EFER_LMA) | (efer & EFER_LMA));
	} else if (msr == MSR_PAT && !write) {
		vmx_msr_result(vcpu, vmx_vmread(GUEST_PAT));
	} else if (msr == MSR_PAT) {
		if (!vmx_pat_valid(val)) {
			vmx_vcpu_inject(vcpu, 13, true, 0);
			return;
		}
		vmx_w(vcpu, GUEST_PAT, val);
	} else {
		x86_exit_msr(vcpu, write, exit);
		return;
	}
	vcpu->arch.rip += vmx_insn_len();
}

/* A CR0 write that touched a bit Keel owns: keep the fixed bits, follow PG into LMA. */
static bool vmx_set_cr0(struct vcpu *vcpu, u64 val)
{
	u64 old = vmx_guest_cr(GUEST_CR0, CR0_MASK, CR0_SHADOW), efer = vmx_vmread(GUEST_EFER);
	u32 entry = (u32)vmx_vmread(ENTRY_CONTROLS);

	if ((val >> 32) || ((val & X86_CR0_PG) && !(val & X86_CR0_PE)))
		return false;
	if ((val ^ old) & X86_CR0_PG) {
		if ((val & X86_CR0_PG) && (efer & EFER_LME))
			efer |= EFER_LMA;
		else
			efer &= ~EFER_LMA;
		entry = (efer & EFER_LMA) ? entry | ENTRY_IA32E : entry & ~ENTRY_IA32E;
		vmx_w(vcpu, GUEST_EFER, efer);
		vmx_w(vcpu, ENTRY_CONTROLS, entry);
	}
	vmx_w(vcpu, CR0_SHADOW, val);
	vmx_w(vcpu, GUEST_CR0, vmx_real_cr0(val));
	return true;
}

static bool vmx_set_cr4(struct vcpu *vcpu, u64 val)
{
	/* VMXE is hidden (CPUID says no VMX); other bits the CPU lacks are reserved. */
	if ((val & X86_CR4_VMXE) || (val & ~vmx.cr4_fixed1))
		return false;
	vmx_w(vcpu, CR4_SHADOW, val);
	vmx_w(vcpu, GUEST_CR4, vmx_real_cr4(val));
	return true;
}

/* MOV to/from CR0, CR3, CR4, CR8, CLTS, LMSW: only what Keel intercepts arrives. */
static bool vmx_cr_access(struct vcpu *vcpu, u64 q)
{
	u32 cr = q & 15, type = (q >> 4) & 3;
	u64 *reg = &vcpu->arch.gprs[(q >> 8) & 15];
	u64 cr0 = vmx_guest_cr(GUEST_CR0, CR0_MASK, CR0_SHADOW);

	if (type == 0 && cr == 0)
		return vmx_set_cr0(vcpu, *reg);
	if (type == 0 && cr == 4)
		return vmx_set_cr4(vcpu, *reg);
	if (type == 0 && cr == 3) {
		vmx_w(vcpu, GUEST_CR3, *reg & ~BIT(63));
		return true;
	}
	if (type == 1 && cr == 3) {
		*reg = vmx_vmread(GUEST_CR3);
		return true;
	}
	/* CR8 is the LAPIC model's TPR[7:4]: one register, two views. */
	if (type == 0 && cr == 8) {
		if (*reg > 15)
			return false;
		vlapic_set_cr8(vcpu, *reg);
		return true;
	}
	if (type == 1 && cr == 8) {
		*reg = vlapic_cr8(vcpu);
		return true;
	}
	if (type == 2)
		return vmx_set_cr0(vcpu, cr0 & ~X86_CR0_TS);
	/* LMSW: sets PE, MP, EM, TS from the source; cannot clear PE. */
	return vmx_set_cr0(vcpu, (cr0 & ~0xeull) | ((q >> 16) & 0xf));
}

static void vmx_exit_cr(struct vcpu *vcpu, struct vm_exit *exit)
{
	if (vmx_cr_access(vcpu, vmx_vmread(EXIT_QUAL)))
		vcpu->arch.rip += vmx_insn_len();
	else
		vmx_vcpu_inject(vcpu, 13, true, 0);
}

/* XSETBV always exits on VMX: check XCR0 as the CPU would, then set it. */
static void vmx_exit_xsetbv(struct vcpu *vcpu)
{
	u64 val = (vcpu->arch.gprs[X86_RDX] << 32) | (u32)vcpu->arch.gprs[X86_RAX];
	struct x86_cpuid d;

	if (!vmx_has_xsave() ||
	    !(vmx_guest_cr(GUEST_CR4, CR4_MASK, CR4_SHADOW) & X86_CR4_OSXSAVE)) {
		vmx_vcpu_inject(vcpu, 6, false, 0);
		return;
	}
	d = x86_cpuid(0xd, 0);
	if ((u32)vcpu->arch.gprs[X86_RCX] != 0 || !(val & 1) ||
	    (val & ~(d.eax | ((u64)d.edx << 32))) || ((val & 4) && !(val & 2))) {
		vmx_vcpu_inject(vcpu, 13, true, 0);
		return;
	}
	vmx_xsetbv(val);
	vcpu->arch.rip += vmx_insn_len();
}

/* Exception or NMI: NMIs are the host's; #UD may be VMMCALL; #AC goes back. */
#define DR6_COND_BITS 0x600full /* B0-B3, BD, BS: what a #DB exit qualification reports */
#define DR7_GD BIT(13)

/*
 * An intercepted #DB: VMX leaves DR6 to the VMM. Write the conditions the
 * exit qualification reports into the guest's DR6 (the hardware register:
 * no VMCS field), end general detection as delivery would, and reflect it.
 */
static void vmx_exit_debug(struct vcpu *vcpu)
{
	u64 q = vmx_vmread(EXIT_QUAL) & DR6_COND_BITS;
	u64 dr6 = 0xffff0ff0ull | q;

	__asm__ volatile("mov %0, %%dr6" ::"r"(dr6));
	if (q & BIT(13))
		vmx_w(vcpu, GUEST_DR7, vmx_vmread(GUEST_DR7) & ~DR7_GD);
	vmx_vcpu_inject(vcpu, 1, false, 0);
}

static void vmx_exit_exception(struct vcpu *vcpu, struct vm_exit *exit)
{
	u32 info = (u32)vmx_vmread(EXIT_INTR_INFO);
	u8 vector = (u8)info;

	if (INTR_INFO_TYPE(info) == INTR_TYPE_NMI) {
		__asm__ volatile("int $2"); /* Keel's NMI handler, as if it had hit the host */
		exit->kind = EXIT_INTERRUPT;
	} else if (vector == 6) {
		x86_exit_ud(vcpu, exit);
	} else if (vector == 1) {
		vmx_exit_debug(vcpu);
		exit->kind = EXIT_EXCEPTION;
	} else {
		vmx_vcpu_inject(vcpu, vector, info & INTR_INFO_ERR, (u32)vmx_vmread(EXIT_INTR_ERR));
		exit->kind = EXIT_EXCEPTION;
	}
}

static void vmx_exit_ept(struct vcpu *vcpu, struct vm_exit *exit)
{
	u64 q = vmx_vmread(EXIT_QUAL);
	gpa_t gpa = vmx_vmread(GUEST_PHYS_ADDR);

	x86_exit_npf(vcpu, gpa, q & EPT_QUAL_WRITE, q & EPT_QUAL_FETCH, VMX_EXIT_EPT_VIOLATION,
		     exit);
}

static const char *vmx_insn_error_text(u64 err)
{
	switch (err) {
	case 4:
		return "VMLAUNCH with a non-clear VMCS";
	case 5:
		return "VMRESUME with a non-launched VMCS";
	case 7:
		return "invalid control field(s)";
	case 8:
		return "invalid host-state field(s)";
	case 26:
		return "events blocked by MOV SS";
	default:
		return "see the SDM's VM-instruction error numbers";
	}
}

static void vmx_dump_state(void)
{
	pr_err("  pin 0x%llx cpu 0x%llx cpu2 0x%llx exit 0x%llx entry 0x%llx eptp 0x%llx",
	       (unsigned long long)vmx_vmread(PIN_CONTROLS),
	       (unsigned long long)vmx_vmread(CPU_CONTROLS),
	       (unsigned long long)vmx_vmread(CPU2_CONTROLS),
	       (unsigned long long)vmx_vmread(EXIT_CONTROLS),
	       (unsigned long long)vmx_vmread(ENTRY_CONTROLS),
	       (unsigned long long)vmx_vmread(EPT_POINTER));
	pr_err("  guest cr0 0x%llx cr3 0x%llx cr4 0x%llx efer 0x%llx rip 0x%llx rflags 0x%llx",
	       (unsigned long long)vmx_vmread(GUEST_CR0), (unsigned long long)vmx_vmread(GUEST_CR3),
	       (unsigned long long)vmx_vmread(GUEST_CR4),
	       (unsigned long long)vmx_vmread(GUEST_EFER),
	       (unsigned long long)vmx_vmread(GUEST_RIP),
	       (unsigned long long)vmx_vmread(GUEST_RFLAGS));
	pr_err("  guest cs ar 0x%llx ss ar 0x%llx tr ar 0x%llx activity %llu intr-info 0x%llx",
	       (unsigned long long)vmx_vmread(GUEST_CS_AR),
	       (unsigned long long)vmx_vmread(GUEST_SS_AR),
	       (unsigned long long)vmx_vmread(GUEST_ES_AR + 2 * VMX_TR),
	       (unsigned long long)vmx_vmread(GUEST_ACTIVITY),
	       (unsigned long long)vmx_vmread(ENTRY_INTR_INFO));
	pr_err("  host cr0 0x%llx cr3 0x%llx cr4 0x%llx tr base 0x%llx rip 0x%llx",
	       (unsigned long long)vmx_vmread(HOST_CR0), (unsigned long long)vmx_vmread(HOST_CR3),
	       (unsigned long long)vmx_vmread(HOST_CR4),
	       (unsigned long long)vmx_vmread(HOST_TR_BASE),
	       (unsigned long long)vmx_vmread(HOST_RIP));
}

/* VMLAUNCH/VMRESUME did not enter: say which check, never retry. */
static void vmx_entry_refused(struct vcpu *vcpu, int ret, struct vm_exit *exit)
{
	u64 err = ret == 2 ? vmx_vmread(VM_INSN_ERROR) : 0;

	if (ret == 1)
		pr_err("vmx: VM entry of vcpu %u failed: no current VMCS (VMfailInvalid)",
		       vcpu->index);
	else
		pr_err("vmx: VM entry of vcpu %u failed: VM-instruction error %llu, %s",
		       vcpu->index, (unsigned long long)err, vmx_insn_error_text(err));
	if (ret == 2)
		vmx_dump_state();
	x86_exit_fault(exit, FAULT_INTERNAL, err, 0);
}

/* The entry got as far as the guest-state checks (exit reason bit 31). */
static void vmx_entry_failed(struct vcpu *vcpu, u32 reason, struct vm_exit *exit)
{
	u32 basic = reason & 0xffff;
	u64 q = vmx_vmread(EXIT_QUAL);
	const char *what = basic == VMX_EXIT_BAD_GUEST	    ? "invalid guest state"
			   : basic == VMX_EXIT_BAD_MSR_LOAD ? "MSR loading"
			   : basic == VMX_EXIT_MCE_ENTRY    ? "machine check"
							    : "unknown";

	pr_err("vmx: VM entry of vcpu %u failed: %s (exit reason %u, qualification %llu)",
	       vcpu->index, what, basic, (unsigned long long)q);
	vmx_dump_state();
	x86_exit_fault(exit, FAULT_INTERNAL, reason, q);
}

static void vmx_handle_exit(struct vcpu *vcpu, u32 reason, struct vm_exit *exit)
{
	switch (reason) {
	case VMX_EXIT_EXC_NMI:
		vmx_exit_exception(vcpu, exit);
		break;
	case VMX_EXIT_EXT_INTR:
	case VMX_EXIT_IO_SMI:
	case VMX_EXIT_SMI:
		exit->kind = EXIT_INTERRUPT;
		break;
	case VMX_EXIT_TRIPLE:
		pr_err("vmx: partition '%s' vCPU %u shut down (triple fault); IDT vectoring 0x%llx:",
		       vcpu->part->desc.h.name, vcpu->index,
		       (unsigned long long)vmx_vmread(IDT_VEC_INFO));
		vmx_dump_state();
		exit->kind = EXIT_SHUTDOWN;
		exit->fault.reason = FAULT_TRIPLE;
		exit->fault.code = reason;
		exit->fault.addr = 0;
		break;
	case VMX_EXIT_INIT:
		vmx_priv(vcpu)->parked = 1; /* wait for a reset; SIPI needs the LAPIC model */
		exit->kind = EXIT_HALT;
		break;
	case VMX_EXIT_SIPI:
	case VMX_EXIT_INTR_WINDOW:
	case VMX_EXIT_NMI_WINDOW:
		break; /* the window is open: the next entry injects */
	case VMX_EXIT_PREEMPT_TIMER:
		exit->kind = EXIT_INTERRUPT; /* a look at the requests (a stop), then back in */
		break;
	case VMX_EXIT_MONITOR:
	case VMX_EXIT_MWAIT:
		vmx_vcpu_inject(vcpu, 6, false, 0); /* CPUID says there is no MONITOR/MWAIT */
		break;
	case VMX_EXIT_CPUID:
		x86_exit_cpuid(vcpu, exit);
		break;
	case VMX_EXIT_HLT:
		vcpu->arch.rip += vmx_insn_len();
		exit->kind = EXIT_HALT;
		break;
	case VMX_EXIT_INVD:
		vcpu->arch.rip +=
			vmx_insn_len(); /* a no-op: dropping caches is not the guest's call */
		break;
	case VMX_EXIT_VMCALL:
		if (vcpu->arch.cpl != 0)
			vmx_vcpu_inject(vcpu, 6, false, 0);
		else
			x86_exit_hypercall(vcpu, exit, vmx_insn_len());
		break;
	case VMX_EXIT_CR:
		vmx_exit_cr(vcpu, exit);
		break;
	case VMX_EXIT_IO:
		vmx_exit_io(vcpu, exit);
		break;
	case VMX_EXIT_RDMSR:
	case VMX_EXIT_WRMSR:
		vmx_exit_msr(vcpu, exit, reason == VMX_EXIT_WRMSR);
		break;
	case VMX_EXIT_EPT_VIOLATION:
		vmx_exit_ept(vcpu, exit);
		break;
	case VMX_EXIT_EPT_MISCONFIG:
		pr_err("vmx: EPT misconfiguration at guest-physical 0x%llx",
		       (unsigned long long)vmx_vmread(GUEST_PHYS_ADDR));
		x86_exit_fault(exit, FAULT_INTERNAL, reason, vmx_vmread(GUEST_PHYS_ADDR));
		break;
	case VMX_EXIT_XSETBV:
		vmx_exit_xsetbv(vcpu);
		break;
	default:
		/* VMX instructions, GETSEC, RSM, task switches...: not for a partition. */
		x86_exit_fault(exit, FAULT_ILLEGAL, reason, vmx_vmread(EXIT_QUAL));
		break;
	}
}

/* Flush what this vCPU's EPT and VPID tags may still hold, when due. */
static void vmx_flush_tlb(struct vcpu *vcpu, u64 gen)
{
	bool ctx;

	if (!vcpu->arch.flush_tlb && gen == vcpu->arch.tlb_gen)
		return;
	ctx = vmx.ept_cap & EPT_CAP_INVEPT_CTX;
	vmx_invept(ctx ? 1 : 2, ept_pointer(vcpu->part->arch.npt.root));
	if (vmx.cpu2 & CPU2_VPID) {
		ctx = vmx.ept_cap & VPID_CAP_INVVPID_CTX;
		vmx_invvpid(ctx ? 1 : 2, (u16)vcpu->part->arch.asid);
	}
	vcpu->arch.flush_tlb = 0;
	x86_guest_flushed(vcpu, gen);
}

/* Interrupt-window and NMI-window exiting, each on only while Keel waits for it. */
static void vmx_set_windows(struct vcpu *vcpu, bool intr, bool nmi)
{
	struct vmx_vcpu *p = vmx_priv(vcpu);

	nmi = nmi && vmx.nmi_window;
	if (p->window == intr && p->nmi_window == nmi)
		return;
	p->window = intr;
	p->nmi_window = nmi;
	vmx_w(vcpu, CPU_CONTROLS,
	      vmx.cpu | (intr ? CPU_INTR_WINDOW : 0) | (nmi ? CPU_NMI_WINDOW : 0));
}

static void vmx_set_window(struct vcpu *vcpu, bool on)
{
	vmx_set_windows(vcpu, on, vmx_priv(vcpu)->nmi_window);
}

#define INTR_SHADOW (INTR_STATE_STI | INTR_STATE_MOV_SS)

/* The interruptibility state; an emulated instruction moved RIP: its shadow is over. */
static u64 vmx_intr_state(struct vcpu *vcpu)
{
	u64 intr = vmx_vmread(GUEST_INTERRUPTIBILITY);

	if ((intr & INTR_SHADOW) && vmx_vmread(GUEST_RIP) != vcpu->arch.rip) {
		intr &= ~(u64)INTR_SHADOW;
		vmx_w(vcpu, GUEST_INTERRUPTIBILITY, intr);
	}
	return intr;
}

/*
 * Before entry: inject the LAPIC model's highest deliverable vector if the
 * guest can take it now (IF set, no STI/MOV SS shadow, no other event
 * queued), else ask for an exit the moment it can (interrupt window).
 */
/*
 * A waiting NMI goes in when nothing blocks it: no event queued, no STI or
 * MOV SS shadow, not inside the guest's NMI handler (blocking by NMI, which
 * the CPU sets at the injection and the guest's IRET clears). Otherwise the
 * NMI window (virtual NMIs) or the next exit brings Keel back for it.
 */
static void vmx_nmi_prepare(struct vcpu *vcpu, u64 intr)
{
	bool pending = vlapic_nmi_pending(vcpu);

	if (pending && !(vmx_vmread(ENTRY_INTR_INFO) & INTR_INFO_VALID) &&
	    !(intr & (INTR_SHADOW | INTR_STATE_NMI))) {
		vmx_w(vcpu, ENTRY_INTR_INFO, 2 | (INTR_TYPE_NMI << 8) | INTR_INFO_VALID);
		vlapic_nmi_taken(vcpu);
		pending = false;
	}
	vmx_set_windows(vcpu, vmx_priv(vcpu)->window, pending);
}

static void vmx_irq_prepare(struct vcpu *vcpu)
{
	u64 intr = vmx_intr_state(vcpu);
	int vec;

	vmx_nmi_prepare(vcpu, intr);
	vec = vlapic_pending(vcpu);

	if (vec < 0) {
		vmx_set_window(vcpu, false);
		return;
	}
	if (!(vmx_vmread(ENTRY_INTR_INFO) & INTR_INFO_VALID) &&
	    (vmx_vmread(GUEST_RFLAGS) & X86_RFLAGS_IF) && !(intr & INTR_SHADOW)) {
		vmx_w(vcpu, ENTRY_INTR_INFO, (u8)vec | (INTR_TYPE_EXT_INTR << 8) | INTR_INFO_VALID);
		vlapic_ack(vcpu, (u8)vec);
		vmx_set_window(vcpu, false);
		return;
	}
	vmx_set_window(vcpu, true);
}

void vmx_vcpu_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct vmx_vcpu *p = vmx_priv(vcpu);
	u32 reason;
	int ret;

	exit_init(exit, vcpu->arch.rip);
	if (p->write_failed) {
		x86_exit_fault(exit, FAULT_INTERNAL, 0, 0);
		return;
	}
	if (p->parked) {
		exit->kind = EXIT_HALT;
		return;
	}
	if (vmx_vmptrst() != vcpu->arch.vmcb)
		vmx_vmptrld(vcpu->arch.vmcb);
	vmx_flush_tlb(vcpu, x86_guest_entering(vcpu));
	vmx_irq_prepare(vcpu);
	vmx_w(vcpu, GUEST_RIP, vcpu->arch.rip);
	vmx_w(vcpu, GUEST_RSP, vcpu->arch.gprs[X86_RSP]);

	x86_spec_guest_enter(vcpu);
	ret = vmx_vm_run(vcpu->arch.gprs, p->launched);
	x86_guest_left(vcpu);
	x86_spec_guest_exit(vcpu);
	if (ret) {
		vmx_entry_refused(vcpu, ret, exit);
		return;
	}
	/* The exit left GDTR and IDTR limits at 0xffff: Keel's own limits back. */
	__asm__ volatile("lgdt %0; lidt %1" ::"m"(p->gdtr), "m"(p->idtr));
	p->launched = 1;
	reason = (u32)vmx_vmread(EXIT_REASON);
	vmx_snapshot(vcpu);
	exit->pc = vcpu->arch.rip;
	if (reason & EXIT_REASON_FAILED_ENTRY) {
		vmx_entry_failed(vcpu, reason, exit);
		return;
	}
	vmx_reinject(vcpu);
	vmx_handle_exit(vcpu, reason & 0xffff, exit);
	/*
	 * The interrupt that made the exit is still pending: take it in Keel's
	 * IDT. At the preemption timer's exit too: an interrupt that came while
	 * Keel ran with interrupts off (a Keel timer, say) waits there, and a
	 * vCPU that never halts would otherwise never let it in (seen on Bochs).
	 */
	if ((reason & 0xffff) == VMX_EXIT_EXT_INTR || (reason & 0xffff) == VMX_EXIT_PREEMPT_TIMER)
		__asm__ volatile("sti; nop; cli" ::: "memory");
}

static const struct x86_virt_ops vmx_ops = {
	.name = "vmx+ept",
	.cpu_init = vmx_cpu_init,
	.vcpu_init = vmx_vcpu_init,
	.vcpu_destroy = vmx_vcpu_destroy,
	.vcpu_reset = vmx_vcpu_reset,
	.vcpu_inject = vmx_vcpu_inject,
	.vcpu_inject_pf = vmx_vcpu_inject_pf,
	.s2_format = ept_format,
};
