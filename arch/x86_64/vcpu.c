/* SPDX-License-Identifier: MIT */
/*
 * The shared x86 vCPU layer: the arch_vcpu_* contract on top of the vendor
 * ops chosen by arch_virt_probe(), and the exit handling every vendor needs
 * (hypercalls, CPUID, VMCALL decoding, port I/O completion).
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/guest_mem.h>
#include <keel/lib.h>

#include "virt.h"
#include "x86.h"

const struct x86_virt_ops *x86_virt;

int arch_virt_probe(void)
{
	if (x86_cpuid(0x80000000, 0).eax >= 0x80000001 &&
	    (x86_cpuid(0x80000001, 0).ecx & BIT(2))) {
		x86_virt = svm_probe();
	} else if (x86_cpuid(1, 0).ecx & BIT(5)) {
		pr_err("x86: this CPU has VMX, and Keel has no VMX backend yet");
	} else {
		pr_err("x86: no SVM (CPUID 0x80000001 ECX bit 2) and no VMX (CPUID 1 ECX bit 5)");
	}
	return x86_virt ? 0 : -KEEL_ENOSYS;
}

const char *arch_virt_name(void)
{
	return x86_virt ? x86_virt->name : "no virtualization";
}

int x86_virt_cpu_init(struct pcpu *cpu)
{
	if (!x86_virt)
		return -KEEL_ENOSYS;
	return x86_virt->cpu_init(cpu);
}

int arch_vcpu_init(struct vcpu *vcpu)
{
	return x86_virt->vcpu_init(vcpu);
}

void arch_vcpu_destroy(struct vcpu *vcpu)
{
	x86_virt->vcpu_destroy(vcpu);
}

void arch_vcpu_reset(struct vcpu *vcpu, const struct vcpu_entry *e)
{
	memset(vcpu->arch.gprs, 0, sizeof(vcpu->arch.gprs));
	vcpu->arch.gprs[X86_RDI] = e->arg;
	vcpu->arch.gprs[X86_RSP] = e->sp;
	vcpu->arch.rip = e->pc;
	vcpu->arch.pio_in_size = 0;
	x86_virt->vcpu_reset(vcpu);
}

void arch_vcpu_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	x86_virt->vcpu_run(vcpu, exit);
}

void arch_vcpu_hc_return(struct vcpu *vcpu, s64 status, const u64 res[3])
{
	vcpu->arch.gprs[X86_RAX] = (u64)status;
	if (res) {
		vcpu->arch.gprs[X86_RDI] = res[0];
		vcpu->arch.gprs[X86_RSI] = res[1];
		vcpu->arch.gprs[X86_RDX] = res[2];
	}
}

/* IN: 8/16-bit results merge into RAX, 32-bit ones zero-extend (as hardware does). */
void arch_vcpu_io_return(struct vcpu *vcpu, u64 value)
{
	u64 *rax = &vcpu->arch.gprs[X86_RAX];

	switch (vcpu->arch.pio_in_size) {
	case 1:
		*rax = (*rax & ~0xffull) | (value & 0xff);
		break;
	case 2:
		*rax = (*rax & ~0xffffull) | (value & 0xffff);
		break;
	case 4:
		*rax = value & 0xffffffffull;
		break;
	default:
		break; /* MMIO reads: no decoder yet, nothing pending */
	}
	vcpu->arch.pio_in_size = 0;
}

void x86_exit_hypercall(struct vcpu *vcpu, struct vm_exit *exit, u32 insn_len)
{
	const u64 *g = vcpu->arch.gprs;

	/* Only the guest kernel may call Keel (as HVC from EL0 cannot on aarch64). */
	if (vcpu->arch.cpl != 0) {
		vcpu->arch.gprs[X86_RAX] = (u64)-KEEL_EPERM;
		vcpu->arch.rip += insn_len;
		exit->kind = EXIT_NONE;
		return;
	}
	exit->kind = EXIT_HYPERCALL;
	exit->pc = vcpu->arch.rip;
	exit->hc.fn = g[X86_RAX];
	exit->hc.args[0] = g[X86_RDI];
	exit->hc.args[1] = g[X86_RSI];
	exit->hc.args[2] = g[X86_RDX];
	exit->hc.args[3] = g[X86_R10];
	exit->hc.args[4] = g[X86_R8];
	exit->hc.args[5] = g[X86_R9];
	vcpu->arch.rip += insn_len;
}

#define X86_CPUID_HV_BASE 0x40000000u
#define X86_CPUID_SIG 0x6c65654bu /* "Keel" */

void x86_exit_cpuid(struct vcpu *vcpu, struct vm_exit *exit)
{
	u32 leaf = (u32)vcpu->arch.gprs[X86_RAX], sub = (u32)vcpu->arch.gprs[X86_RCX];
	struct x86_cpuid r = { 0, 0, 0, 0 };

	if (leaf == X86_CPUID_HV_BASE) {
		r.eax = X86_CPUID_HV_BASE; /* highest hypervisor leaf */
		r.ebx = r.ecx = r.edx = X86_CPUID_SIG; /* "KeelKeelKeel" */
	} else if ((leaf & 0xf0000000u) != 0x40000000u && leaf != 0x8000000a) {
		r = x86_cpuid(leaf, sub);
		if (leaf == 1) {
			r.ecx &= ~(u32)BIT(5); /* VMX */
			r.ecx |= (u32)BIT(31); /* running under a hypervisor */
		} else if (leaf == 0x80000001) {
			r.ecx &= ~(u32)BIT(2); /* SVM */
		}
	}
	vcpu->arch.gprs[X86_RAX] = r.eax;
	vcpu->arch.gprs[X86_RBX] = r.ebx;
	vcpu->arch.gprs[X86_RCX] = r.ecx;
	vcpu->arch.gprs[X86_RDX] = r.edx;
	vcpu->arch.rip += 2;
	exit->kind = EXIT_NONE;
}

/* Guest-linear to guest-physical through the guest's 4-level tables. */
static int x86_gva_to_gpa(struct vcpu *vcpu, u64 gva, gpa_t *gpa)
{
	u64 table = vcpu->arch.cr3 & 0x000ffffffffff000ull;

	if (!(vcpu->arch.cr0 & X86_CR0_PG)) {
		*gpa = gva;
		return 0;
	}
	if (!(vcpu->arch.efer & EFER_LMA) || (vcpu->arch.cr4 & BIT(12) /* LA57 */))
		return -KEEL_EFAULT; /* legacy and 5-level paging: not decoded */
	for (u32 level = 0; level < 4; level++) {
		u32 shift = 39 - 9 * level;
		u64 e;

		if (guest_copy_from(vcpu->part, &e, table + ((gva >> shift) & 511) * 8, 8))
			return -KEEL_EFAULT;
		if (!(e & 1))
			return -KEEL_EFAULT;
		if (level == 3 || (level > 0 && (e & BIT(7)))) {
			u64 mask = (1ull << shift) - 1;

			*gpa = (e & 0x000ffffffffff000ull & ~mask) | (gva & mask);
			return 0;
		}
		table = e & 0x000ffffffffff000ull;
	}
	return -KEEL_EFAULT;
}

int x86_guest_fetch(struct vcpu *vcpu, u8 *buf, u32 len)
{
	u64 linear = vcpu->arch.rip;

	if (!vcpu->arch.cs_l)
		linear = (u32)(vcpu->arch.cs_base + vcpu->arch.rip);
	/* Byte by byte: the instruction may straddle a page boundary. */
	for (u32 i = 0; i < len; i++) {
		gpa_t gpa;

		if (x86_gva_to_gpa(vcpu, linear + i, &gpa) ||
		    guest_copy_from(vcpu->part, &buf[i], gpa, 1))
			return -KEEL_EFAULT;
	}
	return 0;
}

void x86_exit_ud(struct vcpu *vcpu, struct vm_exit *exit)
{
	u8 insn[3];

	/* VMCALL (Intel's hypercall instruction) raises #UD on AMD. */
	if (vcpu->arch.cpl == 0 && !x86_guest_fetch(vcpu, insn, sizeof(insn)) &&
	    insn[0] == 0x0f && insn[1] == 0x01 && (insn[2] == 0xc1 || insn[2] == 0xd9)) {
		x86_exit_hypercall(vcpu, exit, 3);
		return;
	}
	x86_virt->vcpu_inject(vcpu, 6, false, 0); /* the guest's own #UD (BUG(), UD2...) */
	exit->kind = EXIT_NONE;
}
