/* SPDX-License-Identifier: MIT */
/*
 * AMD SVM backend: probe, per-CPU enable, one VMCB per vCPU with nested
 * paging, and the translation of #VMEXIT codes into generic exits. Written
 * for what QEMU TCG offers: no NRIP-save, no decode assists, no clean bits,
 * no flush-by-ASID (instruction lengths are known or decoded here).
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/pmm.h>

#include "svm.h"
#include "virt.h"
#include "vplat.h"
#include "x86.h"

#define SVM_IOPM_SIZE (3 * PAGE_SIZE)
#define SVM_MSRPM_SIZE (2 * PAGE_SIZE)
#define SVM_GUEST_PAT 0x0007040600070406ull /* the reset value */

static hpa_t svm_iopm, svm_msrpm;
static u32 svm_nasid;

static struct vmcb *svm_vmcb(struct vcpu *vcpu)
{
	return hpa_to_hva(vcpu->arch.vmcb);
}

/* Clear the read and write intercept bits of @msr in the MSR permission map. */
static void svm_msrpm_allow(u8 *pm, u32 msr)
{
	u32 base;

	if (msr < 0x2000)
		base = 0;
	else if (msr - 0xc0000000u < 0x2000)
		base = 0x800, msr -= 0xc0000000u;
	else if (msr - 0xc0010000u < 0x2000)
		base = 0x1000, msr -= 0xc0010000u;
	else
		return; /* outside the map: always intercepted */
	pm[base + msr / 4] &= (u8) ~(3u << ((msr % 4) * 2));
}

static int svm_alloc_maps(void)
{
	u8 *pm;

	svm_iopm = pmm_alloc(SVM_IOPM_SIZE, PAGE_SIZE);
	svm_msrpm = pmm_alloc(SVM_MSRPM_SIZE, PAGE_SIZE);
	if (!svm_iopm || !svm_msrpm)
		return -KEEL_ENOMEM;
	memset(hpa_to_hva(svm_iopm), 0xff, SVM_IOPM_SIZE); /* every port */
	pm = hpa_to_hva(svm_msrpm);
	memset(pm, 0xff, SVM_MSRPM_SIZE);
	for (u32 i = 0; i < ARRAY_SIZE(x86_guest_msrs); i++)
		svm_msrpm_allow(pm, x86_guest_msrs[i]);
	return 0;
}

static int svm_cpu_init(struct pcpu *cpu)
{
	if (x86_rdmsr(MSR_VM_CR) & MSR_VM_CR_SVMDIS)
		return -KEEL_ENOSYS;
	if (!cpu->arch.host_save_area) {
		void *hsave = pmm_alloc_page(), *hvmcb = pmm_alloc_page();

		if (!hsave || !hvmcb) {
			pmm_free_page(hsave); /* whichever one came: none is kept */
			pmm_free_page(hvmcb);
			return -KEEL_ENOMEM;
		}
		cpu->arch.host_save_area = hva_to_hpa(hsave);
		cpu->arch.host_vmcb = hva_to_hpa(hvmcb);
	}
	x86_wrmsr(MSR_EFER, x86_rdmsr(MSR_EFER) | EFER_SVME);
	x86_wrmsr(MSR_VM_HSAVE_PA, cpu->arch.host_save_area);
	return 0;
}

static int svm_vcpu_init(struct vcpu *vcpu)
{
	void *page = pmm_alloc_page();

	if (!page)
		return -KEEL_ENOMEM;
	vcpu->arch.vmcb = hva_to_hpa(page);
	return 0;
}

static void svm_vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->arch.vmcb)
		pmm_free_page(hpa_to_hva(vcpu->arch.vmcb));
	vcpu->arch.vmcb = 0;
}

static void svm_seg(struct vmcb_seg *s, u16 sel, u16 attrib, u32 limit)
{
	s->sel = sel;
	s->attrib = attrib;
	s->limit = limit;
	s->base = 0;
}

static void svm_setup_control(struct vcpu *vcpu, struct vmcb_control *c)
{
	struct partition *part = vcpu->part;

	/* #DB and #AC: an endless event loop becomes exits, so the vCPU can be stopped. */
	c->intercept_exc = BIT(1) | BIT(6) | BIT(17); /* #DB, #UD (VMCALL), #AC */
	/* CR8 writes: the TPR they lower may let an interrupt in now (reads run on V_TPR). */
	c->intercept_cr = SVM_ICR_WRITE_CR8;
	c->intercept1 = SVM_I1_INTR | SVM_I1_NMI | SVM_I1_CPUID | SVM_I1_INVD | SVM_I1_HLT |
			SVM_I1_INVLPGA | SVM_I1_IOIO | SVM_I1_MSR | SVM_I1_SHUTDOWN;
	c->intercept2 = SVM_I2_VMRUN | SVM_I2_VMMCALL | SVM_I2_VMLOAD | SVM_I2_VMSAVE |
			SVM_I2_STGI | SVM_I2_CLGI | SVM_I2_SKINIT | SVM_I2_RDPRU;
	c->iopm_base = svm_iopm;
	c->msrpm_base = svm_msrpm;
	/* One core runs one partition; ASIDs may repeat, a flush at first run covers it. */
	part->arch.asid = (part->id - 1) % (svm_nasid - 1) + 1;
	c->asid = part->arch.asid;
	c->int_ctl = SVM_INT_CTL_V_INTR_MASKING; /* host IF rules physical interrupts */
	c->np_enable = SVM_NP_ENABLE;
	c->n_cr3 = part->arch.npt.root;
}

/* A real-mode segment at @base (SIPI entry). */
static void svm_seg_real(struct vmcb_seg *s, u16 attrib, u64 base)
{
	svm_seg(s, (u16)(base >> 4), attrib, 0xffff);
	s->base = base;
}

/* INIT-SIPI: real mode at CS = vector << 8, IP = 0, paging and long mode off. */
static void svm_setup_save_sipi(struct vcpu *vcpu, struct vmcb_save *s)
{
	svm_seg_real(&s->cs, 0x9b, vcpu->arch.rip & 0xff000);
	svm_seg_real(&s->ds, 0x93, 0);
	s->es = s->ds;
	s->ss = s->ds;
	s->fs = s->ds;
	s->gs = s->ds;
	svm_seg(&s->gdtr, 0, 0, 0xffff);
	svm_seg(&s->idtr, 0, 0, 0xffff);
	svm_seg(&s->tr, 0, 0x8b, 0xffff);
	svm_seg(&s->ldtr, 0, 0x82, 0xffff);
	vcpu->arch.rip = 0;
	s->cpl = 0;
	s->efer = EFER_SVME; /* VMRUN needs it; the guest never sees it */
	s->cr0 = X86_CR0_ET;
	s->cr3 = 0;
	s->cr4 = 0;
	s->dr6 = 0xffff0ff0;
	s->dr7 = 0x400;
	s->rflags = 0x2;
	s->g_pat = SVM_GUEST_PAT;
}

/*
 * docs/guest-abi.md: 64-bit long mode, flat GDT at RAM + 0x1f00, no IDT.
 * Linux's 64-bit boot protocol: the same with __BOOT_CS 0x10, __BOOT_DS 0x18.
 */
static void svm_setup_save(struct vcpu *vcpu, struct vmcb_save *s)
{
	gpa_t ram = KEEL_GUEST_RAM_BASE;
	bool is_linux = vcpu->arch.entry_kind == VCPU_ENTRY_LINUX;

	if (vcpu->arch.entry_kind == VCPU_ENTRY_SIPI) {
		svm_setup_save_sipi(vcpu, s);
		return;
	}
	/* P, S, code RX accessed, L, G; data: P, S, RW accessed, D, G */
	svm_seg(&s->cs, is_linux ? X86_LINUX_CS : 0x08, 0xa9b, 0xffffffff);
	svm_seg(&s->ds, is_linux ? X86_LINUX_DS : 0x10, 0xc93, 0xffffffff);
	s->es = s->ds;
	s->ss = s->ds;
	s->fs = s->ds;
	s->gs = s->ds;
	svm_seg(&s->gdtr, 0, 0, is_linux ? 0x1f : 0x17);
	s->gdtr.base = is_linux ? ram + X86_LINUX_GDT : ram + 0x1f00;
	svm_seg(&s->idtr, 0, 0, 0);
	svm_seg(&s->tr, 0, 0x8b, 0x67); /* busy 64-bit TSS, never used before the guest's own */
	svm_seg(&s->ldtr, 0, 0, 0);
	s->cpl = 0;
	s->efer = EFER_LME | EFER_LMA | EFER_NXE | EFER_SVME;
	s->cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG;
	s->cr3 = ram + 0x2000;
	s->cr4 = X86_CR4_PAE;
	s->dr6 = 0xffff0ff0;
	s->dr7 = 0x400;
	s->rflags = 0x2;
	s->g_pat = SVM_GUEST_PAT;
}

static void svm_vcpu_reset(struct vcpu *vcpu)
{
	struct vmcb *vmcb = svm_vmcb(vcpu);

	memset(vmcb, 0, sizeof(*vmcb));
	svm_setup_control(vcpu, &vmcb->ctl);
	svm_setup_save(vcpu, &vmcb->save);
	/* Another partition (or an earlier life of this one) may have used this ASID here. */
	vcpu->arch.flush_tlb = 1;
	vcpu->arch.tlb_gen = __atomic_load_n(&vcpu->part->arch.tlb_gen, __ATOMIC_ACQUIRE);
}

static void svm_vcpu_inject(struct vcpu *vcpu, u8 vector, bool has_err, u32 err)
{
	u64 ev = vector | SVM_EVTINJ_EXC | SVM_EVTINJ_VALID;

	if (has_err)
		ev |= SVM_EVTINJ_ERR | ((u64)err << 32);
	svm_vmcb(vcpu)->ctl.event_inj = ev;
}

/* The guest's CR2 is the VMCB's: VMRUN loads it. */
static void svm_vcpu_inject_pf(struct vcpu *vcpu, u32 err, u64 addr)
{
	svm_vmcb(vcpu)->save.cr2 = addr;
	svm_vcpu_inject(vcpu, 14, true, err);
}

/* What every exit needs of the guest's state: its registers and privilege. */
static void svm_snapshot(struct vcpu *vcpu, const struct vmcb *vmcb)
{
	struct vcpu_arch *a = &vcpu->arch;

	a->gprs[X86_RAX] = vmcb->save.rax;
	a->gprs[X86_RSP] = vmcb->save.rsp;
	a->rip = vmcb->save.rip;
	a->rflags = vmcb->save.rflags;
	a->cpl = vmcb->save.cpl;
}

/*
 * What the decoders need (vcpu.c: CPUID, the page walk, MMIO and port
 * decode): its paging and code-segment state. Not read after a hypercall
 * or an interrupt exit, the frequent ones, which skip it.
 */
static void svm_snapshot_decode(struct vcpu *vcpu, const struct vmcb *vmcb)
{
	struct vcpu_arch *a = &vcpu->arch;

	a->cr0 = vmcb->save.cr0;
	a->cr3 = vmcb->save.cr3;
	a->cr4 = vmcb->save.cr4;
	a->efer = vmcb->save.efer;
	a->cs_base = vmcb->save.cs.base;
	a->cs_l = (vmcb->save.cs.attrib >> 9) & 1;
	a->cs_db = (vmcb->save.cs.attrib >> 10) & 1;
}

/* Port I/O: EXITINFO1 has port, size and direction, EXITINFO2 the next RIP. */
static void svm_exit_io(struct vcpu *vcpu, const struct vmcb *vmcb, struct vm_exit *exit)
{
	u64 info = vmcb->ctl.exit_info1, next = vmcb->ctl.exit_info2;
	u32 sz = (info >> SVM_IOIO_SZ_SHIFT) & 7;
	u8 size = (sz & 1) ? 1 : (sz & 2) ? 2 : (sz & 4) ? 4 : 0;
	u64 len = next - vcpu->arch.rip;

	if (info & SVM_IOIO_STR) {
		/* INS/OUTS: no device needs them yet */
		x86_exit_fault(exit, FAULT_DECODE, info, 0);
		return;
	}
	if (!size || len == 0 || len > 15) {
		x86_exit_fault(exit, FAULT_INTERNAL, info, next);
		return;
	}
	vcpu->arch.rip = next;
	exit->kind = EXIT_PIO;
	exit->pio.port = (u16)(info >> 16);
	exit->pio.size = size;
	exit->pio.write = !(info & SVM_IOIO_IN);
	exit->pio.data = 0;
	if (exit->pio.write)
		exit->pio.data = vcpu->arch.gprs[X86_RAX] &
				 (size == 4 ? 0xffffffffull : (1ull << (size * 8)) - 1);
	else
		vcpu->arch.pio_in_size = size;
}

/* Each byte of a PAT value must name a memory type that exists (0, 1, 4-7). */
static bool svm_pat_valid(u64 pat)
{
	for (u32 i = 0; i < 8; i++) {
		u8 t = (u8)(pat >> (i * 8));

		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

static void svm_msr_result(struct vcpu *vcpu, u64 val)
{
	vcpu->arch.gprs[X86_RAX] = (u32)val;
	vcpu->arch.gprs[X86_RDX] = val >> 32;
}

/*
 * RDMSR/WRMSR (2 bytes). EFER and PAT live in the VMCB and are emulated
 * here; the syscall/segment-base MSRs are not intercepted at all; the rest
 * goes to the shared x86 policy (LAPIC model, fixed answers, else #GP).
 */
static void svm_exit_msr(struct vcpu *vcpu, struct vmcb *vmcb, struct vm_exit *exit)
{
	u32 msr = (u32)vcpu->arch.gprs[X86_RCX];
	bool write = vmcb->ctl.exit_info1 & 1;
	u64 val = (vcpu->arch.gprs[X86_RDX] << 32) | (u32)vcpu->arch.gprs[X86_RAX];
	const u64 efer_ok = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;

	if (msr == MSR_EFER && !write) {
		svm_msr_result(vcpu, vmcb->save.efer & ~EFER_SVME);
	} else if (msr == MSR_EFER) {
		if (val & ~efer_ok) {
			svm_vcpu_inject(vcpu, 13, true, 0);
			return;
		}
		/* LMA is the CPU's to set; SVME must stay for VMRUN. */
		vmcb->save.efer = (val & ~EFER_LMA) | (vmcb->save.efer & EFER_LMA) | EFER_SVME;
	} else if (msr == MSR_PAT && !write) {
		svm_msr_result(vcpu, vmcb->save.g_pat);
	} else if (msr == MSR_PAT) {
		if (!svm_pat_valid(val)) {
			svm_vcpu_inject(vcpu, 13, true, 0);
			return;
		}
		vmcb->save.g_pat = val;
	} else {
		x86_exit_msr(vcpu, write, exit);
		return;
	}
	vcpu->arch.rip += 2;
}

/*
 * MOV to CR8: REX.R 0F 22 /r, or AMD's LOCK MOV CR0 (F0 [REX] 0F 22 /r).
 * Without decode assists (TCG) the bytes are read at RIP. The value is the
 * LAPIC model's TPR[7:4]; the next entry injects whatever it lets in.
 * Bits 63:4 set: #GP, as the architecture says.
 */
static void svm_exit_cr8_write(struct vcpu *vcpu, struct vmcb *vmcb, struct vm_exit *exit)
{
	u8 b[5] = { 0 };
	u32 i = 0, rex = 0;
	u64 val;

	if (vcpu->arch.cpl != 0) {
		svm_vcpu_inject(vcpu, 13, true, 0); /* MOV to CR is for ring 0 only */
		return;
	}
	if (x86_guest_fetch(vcpu, b, 4)) {
		x86_exit_fault(exit, FAULT_DECODE, SVM_EXIT_WRITE_CR8, vcpu->arch.rip);
		return;
	}
	if (b[0] == 0xf0) {
		i++;
		if ((b[1] & 0xf0) == 0x40 && x86_guest_fetch(vcpu, b, 5)) {
			x86_exit_fault(exit, FAULT_DECODE, SVM_EXIT_WRITE_CR8, vcpu->arch.rip);
			return;
		}
	}
	if ((b[i] & 0xf0) == 0x40)
		rex = b[i++];
	if (b[i] != 0x0f || b[i + 1] != 0x22 || (b[i + 2] & 0xc0) != 0xc0) {
		x86_exit_fault(exit, FAULT_DECODE, SVM_EXIT_WRITE_CR8, vcpu->arch.rip);
		return;
	}
	val = vcpu->arch.gprs[(b[i + 2] & 7) | ((rex & 1) << 3)];
	if (val >> 4) {
		svm_vcpu_inject(vcpu, 13, true, 0);
		return;
	}
	vlapic_set_cr8(vcpu, val);
	vcpu->arch.rip += i + 3;
}

static void svm_dump_invalid(struct vcpu *vcpu, const struct vmcb *v)
{
	pr_err("svm: VMRUN refused the state of vcpu %u (VMEXIT_INVALID):", vcpu->index);
	pr_err("  efer 0x%llx cr0 0x%llx cr3 0x%llx cr4 0x%llx dr6 0x%llx dr7 0x%llx",
	       (unsigned long long)v->save.efer, (unsigned long long)v->save.cr0,
	       (unsigned long long)v->save.cr3, (unsigned long long)v->save.cr4,
	       (unsigned long long)v->save.dr6, (unsigned long long)v->save.dr7);
	pr_err("  cs 0x%x/0x%x rip 0x%llx rflags 0x%llx asid %u np 0x%llx n_cr3 0x%llx inj 0x%llx",
	       v->save.cs.sel, v->save.cs.attrib, (unsigned long long)v->save.rip,
	       (unsigned long long)v->save.rflags, v->ctl.asid,
	       (unsigned long long)v->ctl.np_enable, (unsigned long long)v->ctl.n_cr3,
	       (unsigned long long)v->ctl.event_inj);
}

/*
 * A guest triple fault ends its partition; the state it died in goes to the
 * console with it, so a report from the field says what the guest saw: the
 * event Keel injected at that entry, the one being delivered, the tables.
 */
static void svm_dump_shutdown(struct vcpu *vcpu, const struct vmcb *v)
{
	pr_err("svm: partition '%s' vCPU %u shut down (triple fault): rip 0x%llx rsp 0x%llx "
	       "rflags 0x%llx",
	       vcpu->part->desc.h.name, vcpu->index, (unsigned long long)v->save.rip,
	       (unsigned long long)v->save.rsp, (unsigned long long)v->save.rflags);
	pr_err("  injected 0x%llx delivering 0x%llx int_ctl 0x%llx shadow 0x%llx cpl %u",
	       (unsigned long long)vcpu->arch.entry_event, (unsigned long long)v->ctl.exit_int_info,
	       (unsigned long long)v->ctl.int_ctl, (unsigned long long)v->ctl.int_shadow,
	       v->save.cpl);
	pr_err("  cr0 0x%llx cr2 0x%llx cr3 0x%llx cr4 0x%llx efer 0x%llx",
	       (unsigned long long)v->save.cr0, (unsigned long long)v->save.cr2,
	       (unsigned long long)v->save.cr3, (unsigned long long)v->save.cr4,
	       (unsigned long long)v->save.efer);
	pr_err("  idt 0x%llx/0x%x gdt 0x%llx/0x%x tr 0x%x 0x%llx/0x%x cs 0x%x ss 0x%x",
	       (unsigned long long)v->save.idtr.base, v->save.idtr.limit,
	       (unsigned long long)v->save.gdtr.base, v->save.gdtr.limit, v->save.tr.sel,
	       (unsigned long long)v->save.tr.base, v->save.tr.limit, v->save.cs.sel,
	       v->save.ss.sel);
}

/*
 * NMIs. The guest is in its NMI handler from the injection until its IRET,
 * which Keel intercepts to know (no NMI can be injected in between). The
 * IRET has not run at its intercept: if another NMI waits, Keel steps over
 * the IRET (RFLAGS.TF; the single-step #DB after it is Keel's, not the
 * guest's) and injects after it, so NMIs never nest, as on hardware.
 */
static void svm_nmi_iret(struct vcpu *vcpu, struct vmcb *vmcb)
{
	vcpu->arch.nmi_masked = 0;
	vmcb->ctl.intercept1 &= ~SVM_I1_IRET;
	if (vlapic_nmi_pending(vcpu)) {
		vcpu->arch.nmi_step = 1;
		vmcb->save.rflags |= X86_RFLAGS_TF;
	}
}

/* The step over the IRET is done: TF is whatever the IRET popped; DR6.BS was ours. */
static void svm_nmi_stepped(struct vcpu *vcpu, struct vmcb *vmcb)
{
	vcpu->arch.nmi_step = 0;
	vmcb->save.dr6 &= ~X86_DR6_BS;
}

/* Queue a waiting NMI if the guest can take one now; true if it did. */
static bool svm_nmi_prepare(struct vcpu *vcpu, struct vmcb *vmcb)
{
	struct vmcb_control *c = &vmcb->ctl;

	if (!vlapic_nmi_pending(vcpu) || vcpu->arch.nmi_masked || vcpu->arch.nmi_step ||
	    (c->event_inj & SVM_EVTINJ_VALID) || (c->int_shadow & SVM_INT_SHADOW))
		return false;
	c->event_inj = 2 | SVM_EVTINJ_NMI | SVM_EVTINJ_VALID;
	vlapic_nmi_taken(vcpu);
	vcpu->arch.nmi_masked = 1;
	c->intercept1 |= SVM_I1_IRET;
	return true;
}

static void svm_handle_exit(struct vcpu *vcpu, struct vmcb *vmcb, struct vm_exit *exit)
{
	u64 code = vmcb->ctl.exit_code;

	switch (code) {
	case SVM_EXIT_INTR:
	case SVM_EXIT_NMI:
	case SVM_EXIT_SMI:
	case SVM_EXIT_INIT:
		exit->kind = EXIT_INTERRUPT; /* already handled at STGI */
		break;
	case SVM_EXIT_VMMCALL:
		if (vcpu->arch.cpl != 0)
			svm_vcpu_inject(vcpu, 6, false, 0);
		else
			x86_exit_hypercall(vcpu, exit, 3);
		break;
	case SVM_EXIT_EXC_BASE + 6:
		x86_exit_ud(vcpu, exit);
		break;
	case SVM_EXIT_EXC_BASE + 1:
		if (vcpu->arch.nmi_step) {
			svm_nmi_stepped(vcpu, vmcb);
			break;
		}
		/* The CPU updated the VMCB's DR6 already: give the guest its #DB. */
		svm_vcpu_inject(vcpu, 1, false, 0);
		exit->kind = EXIT_EXCEPTION;
		break;
	case SVM_EXIT_IRET:
		svm_nmi_iret(vcpu, vmcb);
		break;
	case SVM_EXIT_WRITE_CR8:
		svm_exit_cr8_write(vcpu, vmcb, exit);
		break;
	case SVM_EXIT_EXC_BASE + 17:
		svm_vcpu_inject(vcpu, 17, true, 0);
		exit->kind = EXIT_EXCEPTION;
		break;
	case SVM_EXIT_CPUID:
		x86_exit_cpuid(vcpu, exit);
		break;
	case SVM_EXIT_HLT:
		vcpu->arch.rip += 1;
		exit->kind = EXIT_HALT;
		break;
	case SVM_EXIT_INVD:
		vcpu->arch.rip += 2; /* a no-op: dropping caches is not the guest's call */
		break;
	case SVM_EXIT_IOIO:
		svm_exit_io(vcpu, vmcb, exit);
		break;
	case SVM_EXIT_MSR:
		svm_exit_msr(vcpu, vmcb, exit);
		break;
	case SVM_EXIT_SHUTDOWN:
		svm_dump_shutdown(vcpu, vmcb);
		exit->kind = EXIT_SHUTDOWN;
		exit->fault.reason = FAULT_TRIPLE;
		exit->fault.code = code;
		exit->fault.addr = 0;
		break;
	case SVM_EXIT_NPF:
		/* EXITINFO1 bit 1: a write; bit 4: an instruction fetch. */
		x86_exit_npf(vcpu, vmcb->ctl.exit_info2, (vmcb->ctl.exit_info1 >> 1) & 1,
			     (vmcb->ctl.exit_info1 >> 4) & 1, code, exit);
		break;
	case SVM_EXIT_VINTR:
		break; /* the window is open: the next entry injects */
	case SVM_EXIT_INVALID:
		svm_dump_invalid(vcpu, vmcb);
		x86_exit_fault(exit, FAULT_INTERNAL, code, 0);
		break;
	default:
		/* VMRUN, VMLOAD, VMSAVE, STGI, CLGI, SKINIT, INVLPGA, RDPRU... */
		x86_exit_fault(exit, FAULT_ILLEGAL, code, vmcb->ctl.exit_info1);
		break;
	}
}

/*
 * Before entry: inject the LAPIC model's highest deliverable vector if the
 * guest can take it now (IF set, no STI/MOV SS shadow, no other event
 * queued), else ask for a VINTR exit the moment it can (V_IRQ, TPR ignored).
 */
static void svm_irq_prepare(struct vcpu *vcpu, struct vmcb *vmcb)
{
	struct vmcb_control *c = &vmcb->ctl;
	int vec;

	svm_nmi_prepare(vcpu, vmcb);
	vec = vlapic_pending(vcpu);
	/* A window asked for last time (only here, and always with the intercept): withdraw it. */
	if (unlikely(c->intercept1 & SVM_I1_VINTR)) {
		c->int_ctl &= ~(SVM_INT_CTL_V_IRQ | SVM_INT_CTL_V_IGN_TPR |
				(0xfull << SVM_INT_CTL_V_INTR_PRIO_SHIFT) |
				(0xffull << SVM_INT_CTL_V_INTR_VECTOR_SHIFT));
		c->intercept1 &= ~SVM_I1_VINTR;
	}
	if (vec < 0)
		return;
	if (!(c->event_inj & SVM_EVTINJ_VALID) && (vmcb->save.rflags & X86_RFLAGS_IF) &&
	    !(c->int_shadow & SVM_INT_SHADOW)) {
		c->event_inj = (u8)vec | SVM_EVTINJ_VALID; /* type 0: external interrupt */
		vlapic_ack(vcpu, (u8)vec);
		return;
	}
	c->int_ctl |= SVM_INT_CTL_V_IRQ | SVM_INT_CTL_V_IGN_TPR |
		      (0xfull << SVM_INT_CTL_V_INTR_PRIO_SHIFT) |
		      ((u64)vec << SVM_INT_CTL_V_INTR_VECTOR_SHIFT);
	c->intercept1 |= SVM_I1_VINTR;
}

void svm_vcpu_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct vmcb *vmcb = svm_vmcb(vcpu);
	u64 gen = x86_guest_entering(vcpu);

	/* An emulated instruction moved RIP: its interrupt shadow is over. */
	if (vmcb->save.rip != vcpu->arch.rip)
		vmcb->ctl.int_shadow &= ~SVM_INT_SHADOW;
	/* CR8 runs on V_TPR (V_INTR_MASKING); the LAPIC model's TPR is the register. */
	vmcb->ctl.int_ctl = (vmcb->ctl.int_ctl & ~SVM_INT_CTL_V_TPR) | vlapic_cr8(vcpu);
	svm_irq_prepare(vcpu, vmcb);

	/* No flush-by-ASID under TCG: flush everything when a flush is due. */
	if (vcpu->arch.flush_tlb || gen != vcpu->arch.tlb_gen) {
		vmcb->ctl.tlb_control = SVM_TLB_FLUSH_ALL;
		vcpu->arch.flush_tlb = 0;
		x86_guest_flushed(vcpu, gen);
	}
	vmcb->save.rip = vcpu->arch.rip;
	vmcb->save.rax = vcpu->arch.gprs[X86_RAX];
	vmcb->save.rsp = vcpu->arch.gprs[X86_RSP];

	vcpu->arch.entry_event = vmcb->ctl.event_inj;
	x86_spec_guest_enter(vcpu);
	svm_vm_run(vcpu->arch.gprs, vcpu->arch.vmcb, pcpu_this()->arch.host_vmcb);
	x86_guest_left(vcpu);
	x86_spec_guest_exit(vcpu);

	vmcb->ctl.tlb_control = 0;
	/*
	 * V_TPR needs no copy back: every CR8 write exits (svm_setup_control)
	 * and goes to the LAPIC model, so the guest never moves it itself.
	 */
	svm_snapshot(vcpu, vmcb);
	/* An event cut short by the exit is delivered again on the next entry. */
	vmcb->ctl.event_inj =
		(vmcb->ctl.exit_int_info & SVM_EVTINJ_VALID) ? vmcb->ctl.exit_int_info : 0;
	/* The most frequent exit first: it fills the whole exit record itself. */
	if (likely(vmcb->ctl.exit_code == SVM_EXIT_VMMCALL) && vcpu->arch.cpl == 0) {
		x86_exit_hypercall(vcpu, exit, 3);
		return;
	}
	if (vmcb->ctl.exit_code != SVM_EXIT_INTR)
		svm_snapshot_decode(vcpu, vmcb);
	exit_init(exit, vcpu->arch.rip);
	svm_handle_exit(vcpu, vmcb, exit);
}

static const struct x86_virt_ops svm_ops = {
	.name = "svm+npt",
	.cpu_init = svm_cpu_init,
	.vcpu_init = svm_vcpu_init,
	.vcpu_destroy = svm_vcpu_destroy,
	.vcpu_reset = svm_vcpu_reset,
	.vcpu_inject = svm_vcpu_inject,
	.vcpu_inject_pf = svm_vcpu_inject_pf,
	.s2_format = x86_npt_format,
};

const struct x86_virt_ops *svm_probe(void)
{
	struct x86_cpuid ext = x86_cpuid(0x80000000, 0), a;

	if (ext.eax < 0x8000000a || !(x86_cpuid(0x80000001, 0).ecx & BIT(2))) {
		pr_err("x86: no SVM: CPUID 0x80000001 ECX bit 2 (SVM) is clear");
		return NULL;
	}
	a = x86_cpuid(0x8000000a, 0);
	if (!(a.edx & BIT(0))) {
		pr_err("x86: SVM without nested paging: CPUID 0x8000000A EDX bit 0 (NP) is clear");
		return NULL;
	}
	if (x86_rdmsr(MSR_VM_CR) & MSR_VM_CR_SVMDIS) {
		pr_err("x86: SVM is disabled by the firmware (VM_CR.SVMDIS = 1)");
		return NULL;
	}
	if (a.ebx < 2) {
		pr_err("x86: SVM reports %u ASIDs, need at least 2", a.ebx);
		return NULL;
	}
	if (svm_alloc_maps()) {
		pr_err("x86: no memory for the SVM I/O and MSR permission maps");
		return NULL;
	}
	svm_nasid = a.ebx;
	pr_info("x86: SVM rev %u, %u ASIDs, NPT%s%s%s", a.eax & 0xff, a.ebx,
		(a.edx & BIT(3)) ? ", nrips" : ", no nrips",
		(a.edx & BIT(7)) ? ", decode assists" : "",
		(a.edx & BIT(6)) ? ", flush-by-ASID" : "");
	return &svm_ops;
}
