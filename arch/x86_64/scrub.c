/* SPDX-License-Identifier: MIT */
/*
 * What a core carries from one guest to the next, and the speculation
 * barriers around guests: the register state VM entry and exit do not switch
 * is put back to its reset value at every vCPU reset (both backends), and
 * SPEC_CTRL, IBPB, buffer clearing and return-stack filling follow what the
 * CPU says it needs.
 */
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/partition.h>

#include "virt.h"
#include "x86.h"

#define X86_CR4_OSFXSR BIT(9)
#define X86_CR4_OSXSAVE BIT(18)
#define X86_XCR0_X87 1ull
#define X86_DR6_RESET 0xffff0ff0ull

/* CPUID feature bits this file decides on. */
#define CPUID1_ECX_XSAVE BIT(26)
#define CPUID7_EDX_MD_CLEAR BIT(10)
#define CPUID7_EDX_L1D_FLUSH BIT(28)
#define CPUID7_EDX_SPEC_CTRL BIT(26) /* Intel: IBRS and IBPB */
#define CPUID7_EDX_STIBP BIT(27)
#define CPUID7_EDX_ARCH_CAP BIT(29)
#define CPUID7_EDX_SSBD BIT(31)
#define CPUID88_EBX_IBPB BIT(12) /* AMD, leaf 0x80000008 */
#define CPUID88_EBX_IBRS BIT(14)
#define CPUID88_EBX_STIBP BIT(15)
#define CPUID88_EBX_SSBD BIT(24)
#define CPUID821_EAX_AUTO_IBRS BIT(8) /* AMD, leaf 0x80000021 */

/* IA32_ARCH_CAPABILITIES bits */
#define ARCH_CAP_RDCL_NO BIT(0) /* not affected by L1TF (nor Meltdown) */
#define ARCH_CAP_IBRS_ALL BIT(1)
#define ARCH_CAP_SKIP_L1DFL_VMENTRY BIT(3)
#define ARCH_CAP_MDS_NO BIT(5)
#define ARCH_CAP_PBRSB_NO BIT(24)

/* The legacy FXSAVE image of the reset state, then the XSAVE header: 576 bytes. */
struct x86_init_image {
	u16 fcw, fsw;
	u8 ftw, pad0;
	u16 fop;
	u64 fip, fdp;
	u32 mxcsr, mxcsr_mask;
	u8 regs[480]; /* x87 and XMM registers, reserved */
	u64 xstate_bv, xcomp_bv;
	u8 reserved[48];
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct x86_init_image) == 576, "FXSAVE area + XSAVE header");

/* Every component in its initial configuration; MXCSR and FCW as after RESET. */
static const struct x86_init_image x86_init_image = {
	.fcw = 0x37f,
	.mxcsr = 0x1f80,
};

#define CPUID0_EBX_INTEL 0x756e6547u /* "Genu" */

struct x86_spec x86_spec;
u8 x86_rsb_fill_on;

/*
 * L1TF: on an affected Intel CPU a guest can read what sits in the L1 data
 * cache through a not-present entry of its own tables, Keel's data included
 * (everything this core touched while serving the exit). So the L1D is
 * flushed before every VM entry, where the CPU has the command and does not
 * flush by itself. Returns what the boot log says.
 */
static const char *x86_l1tf_probe(u32 vendor_ebx, u32 l7_edx, u64 arch_cap)
{
	if (vendor_ebx != CPUID0_EBX_INTEL || (arch_cap & ARCH_CAP_RDCL_NO))
		return "not affected";
	if (arch_cap & ARCH_CAP_SKIP_L1DFL_VMENTRY)
		return "flushed by the CPU";
	if (!(l7_edx & CPUID7_EDX_L1D_FLUSH))
		return "affected, NOT mitigated (no L1D_FLUSH: update the microcode)";
	x86_spec.l1d_flush = true;
	return "L1D flush at every entry";
}

/* What the CPU offers and needs, once at boot (the same on every CPU). */
void x86_spec_probe(void)
{
	struct x86_cpuid l7 = { 0 }, l88 = { 0 }, l821 = { 0 };
	u32 max = x86_cpuid(0, 0).eax, ext = x86_cpuid(0x80000000, 0).eax;
	u64 arch_cap = 0;
	const char *l1tf;

	if (max >= 7)
		l7 = x86_cpuid(7, 0);
	if (ext >= 0x80000008)
		l88 = x86_cpuid(0x80000008, 0);
	if (ext >= 0x80000021)
		l821 = x86_cpuid(0x80000021, 0);
	if (l7.edx & CPUID7_EDX_ARCH_CAP)
		arch_cap = x86_rdmsr(MSR_ARCH_CAPABILITIES);

	x86_spec.xsave = (x86_cpuid(1, 0).ecx & CPUID1_ECX_XSAVE) && max >= 0xd;
	if (x86_spec.xsave) {
		struct x86_cpuid d = x86_cpuid(0xd, 0);

		x86_spec.xcr0_all = ((u64)d.edx << 32 | d.eax) | X86_XCR0_X87;
		x86_spec.fpu_size = d.ecx;
	}
	if (x86_spec.fpu_size < 512)
		x86_spec.fpu_size = 512; /* FXSAVE's legacy area */
	if (l7.edx & CPUID7_EDX_SPEC_CTRL) {
		x86_spec.spec_ctrl_bits |= SPEC_CTRL_IBRS;
		x86_spec.ibpb = true;
	}
	if (l88.ebx & CPUID88_EBX_IBRS)
		x86_spec.spec_ctrl_bits |= SPEC_CTRL_IBRS;
	if ((l7.edx & CPUID7_EDX_STIBP) || (l88.ebx & CPUID88_EBX_STIBP))
		x86_spec.spec_ctrl_bits |= SPEC_CTRL_STIBP;
	if ((l7.edx & CPUID7_EDX_SSBD) || (l88.ebx & CPUID88_EBX_SSBD))
		x86_spec.spec_ctrl_bits |= SPEC_CTRL_SSBD;
	if (l88.ebx & CPUID88_EBX_IBPB)
		x86_spec.ibpb = true;
	x86_spec.spec_ctrl = x86_spec.spec_ctrl_bits != 0;
	x86_spec.verw = (l7.edx & CPUID7_EDX_MD_CLEAR) && !(arch_cap & ARCH_CAP_MDS_NO);
	l1tf = x86_l1tf_probe(x86_cpuid(0, 0).ebx, l7.edx, arch_cap);
	x86_spec.at_entry = x86_spec.spec_ctrl || x86_spec.l1d_flush || x86_spec.verw;
	/*
	 * After a VM exit Keel returns through frames the guest's calls did not
	 * push: fill the return stack with harmless entries first, unless the
	 * CPU keeps guest predictions away from the host by itself (AMD
	 * automatic IBRS; Intel enhanced IBRS without the PBRSB erratum).
	 */
	x86_spec.rsb_fill = !(l821.eax & CPUID821_EAX_AUTO_IBRS) &&
			    !((arch_cap & ARCH_CAP_IBRS_ALL) && (arch_cap & ARCH_CAP_PBRSB_NO));
	x86_rsb_fill_on = x86_spec.rsb_fill;
	pr_info("x86: speculation: SPEC_CTRL %s, IBPB %s, VERW clearing %s, return-stack fill %s, "
		"L1TF %s",
		x86_spec.spec_ctrl ? "virtualized" : "absent (hidden from guests)",
		x86_spec.ibpb ? "at every core hand-over" : "absent",
		x86_spec.verw ? "at every entry" : "not needed", x86_spec.rsb_fill ? "on" : "off",
		l1tf);
}

/* XSETBV under Keel's own CR4.OSXSAVE (set only around it). */
static void x86_xsetbv(u64 xcr0)
{
	__asm__ volatile("xsetbv" ::"c"(0), "a"((u32)xcr0), "d"((u32)(xcr0 >> 32)));
}

/*
 * Every XSAVE component (x87, SSE, AVX, AVX-512, PKRU...) to its initial
 * configuration: XRSTOR of a header with XSTATE_BV = 0 under the widest
 * XCR0, then XCR0 back to its reset value (x87 only). Without XSAVE,
 * FXRSTOR of the same legacy image.
 */
static void x86_reset_fpu(void)
{
	u64 cr4 = x86_read_cr4();

	x86_write_cr4(cr4 | X86_CR4_OSFXSR | (x86_spec.xsave ? X86_CR4_OSXSAVE : 0));
	if (x86_spec.xsave) {
		u64 mask = x86_spec.xcr0_all;

		x86_xsetbv(mask);
		__asm__ volatile("xrstor64 %0" ::"m"(x86_init_image), "a"((u32)mask),
				 "d"((u32)(mask >> 32)));
		x86_xsetbv(X86_XCR0_X87);
	} else {
		__asm__ volatile("fninit; fxrstor64 %0" ::"m"(x86_init_image));
	}
	x86_write_cr4(cr4);
}

/* Keel runs without CR4.OSXSAVE (and OSFXSR): on only around these instructions. */
static u64 x86_fpu_enter(void)
{
	u64 cr4 = x86_read_cr4();

	x86_write_cr4(cr4 | X86_CR4_OSFXSR | (x86_spec.xsave ? X86_CR4_OSXSAVE : 0));
	return cr4;
}

void x86_fpu_save(void *area, u64 *xcr0)
{
	u64 cr4 = x86_fpu_enter();

	if (x86_spec.xsave) {
		u32 lo, hi;

		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		*xcr0 = (u64)hi << 32 | lo;
		/*
		 * Every component the CPU has, not only those the guest's XCR0
		 * enables: PKRU, say, is the guest's (WRPKRU) whatever XCR0 says.
		 */
		x86_xsetbv(x86_spec.xcr0_all);
		__asm__ volatile("xsave64 (%0)" ::"r"(area), "a"(~0u), "d"(~0u) : "memory");
		x86_xsetbv(*xcr0);
	} else {
		*xcr0 = X86_XCR0_X87;
		__asm__ volatile("fxsave64 (%0)" ::"r"(area) : "memory");
	}
	x86_write_cr4(cr4);
}

void x86_fpu_restore(const void *area, u64 xcr0)
{
	u64 cr4 = x86_fpu_enter();

	if (x86_spec.xsave) {
		x86_xsetbv(x86_spec.xcr0_all);
		__asm__ volatile("xrstor64 (%0)" ::"r"(area), "a"(~0u), "d"(~0u) : "memory");
		x86_xsetbv(xcr0);
	} else {
		__asm__ volatile("fxrstor64 (%0)" ::"r"(area) : "memory");
	}
	x86_write_cr4(cr4);
}

/*
 * On the vCPU's CPU before its first entry (every reset): whatever the last
 * guest on this core left in registers that no VMCB/VMCS field covers goes
 * back to its reset value, and its branch predictions are discarded.
 */
void x86_vcpu_scrub(struct vcpu *vcpu)
{
	x86_reset_fpu();
	x86_write_cr2(0);
	__asm__ volatile(
		"mov %0, %%dr0; mov %0, %%dr1; mov %0, %%dr2; mov %0, %%dr3; mov %1, %%dr6" ::"r"(
			0ull),
		"r"(X86_DR6_RESET));
	x86_wrmsr(MSR_TSC_AUX, 0);
	vcpu->arch.spec_ctrl = 0;
	if (x86_spec.spec_ctrl)
		x86_wrmsr(MSR_SPEC_CTRL, 0);
	if (x86_spec.ibpb)
		x86_wrmsr(MSR_PRED_CMD, PRED_CMD_IBPB);
	x86_verw();
}

/* The guest's SPEC_CTRL, as it last wrote it (0 after reset). */
u64 x86_spec_ctrl_read(const struct vcpu *vcpu)
{
	return vcpu->arch.spec_ctrl;
}

/* A guest write: only the bits the CPU implements, else #GP (-KEEL_EINVAL). */
int x86_spec_ctrl_write(struct vcpu *vcpu, u64 val)
{
	if (val & ~x86_spec.spec_ctrl_bits)
		return -KEEL_EINVAL;
	vcpu->arch.spec_ctrl = val;
	return 0;
}

/* PRED_CMD: the guest asks for its own IBPB; only where the CPU has one. */
int x86_pred_cmd_write(u64 val)
{
	if (!x86_spec.ibpb || val & ~PRED_CMD_IBPB)
		return -KEEL_EINVAL;
	if (val)
		x86_wrmsr(MSR_PRED_CMD, PRED_CMD_IBPB);
	return 0;
}
