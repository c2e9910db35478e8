/* SPDX-License-Identifier: MIT */
/*
 * The shared x86 vCPU layer: the arch_vcpu_* contract on top of the vendor
 * ops chosen by arch_virt_probe(), and the exit handling every vendor needs
 * (hypercalls, CPUID, the MSR policy, VMCALL and MMIO decoding, I/O
 * completion).
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/guest_mem.h>
#include <keel/lib.h>
#include <keel/pmm.h>

#include "decode.h"
#include "virt.h"
#include "vplat.h"
#include "x86.h"

const struct x86_virt_ops *x86_virt;
bool x86_virt_svm;

const u32 x86_guest_msrs[11] = {
	MSR_FS_BASE, MSR_GS_BASE,     MSR_KERNEL_GS_BASE, MSR_STAR,	    MSR_LSTAR,	 MSR_CSTAR,
	MSR_SFMASK,  MSR_SYSENTER_CS, MSR_SYSENTER_ESP,	  MSR_SYSENTER_EIP, MSR_TSC_AUX,
};

int arch_virt_probe(void)
{
	x86_spec_probe();
	if (x86_cpuid(0x80000000, 0).eax >= 0x80000001 && (x86_cpuid(0x80000001, 0).ecx & BIT(2))) {
		x86_virt = svm_probe();
		x86_virt_svm = x86_virt != NULL;
	} else if (x86_cpuid(1, 0).ecx & BIT(5)) {
		x86_virt = vmx_probe();
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

/*
 * The MSRs a guest writes directly that neither backend keeps in its VMCB or
 * VMCS (VMX leaves the syscall ones in the CPU; TSC_AUX is per core on both):
 * arch_vcpu_save keeps them. On SVM the syscall ones read Keel's own values
 * here (VMSAVE keeps the guest's), which Keel never uses.
 */
static const u32 x86_hw_msrs[6] = {
	MSR_KERNEL_GS_BASE, MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK, MSR_TSC_AUX,
};

static u64 x86_fpu_bytes(void)
{
	return ALIGN_UP(x86_spec.fpu_size, PAGE_SIZE);
}

int arch_vcpu_init(struct vcpu *vcpu)
{
	int ret;

	vcpu->arch.fpu_area = pmm_alloc(x86_fpu_bytes(), PAGE_SIZE); /* clean: a valid header */
	if (!vcpu->arch.fpu_area)
		return -KEEL_ENOMEM;
	ret = x86_virt->vcpu_init(vcpu);
	if (ret) {
		pmm_free(vcpu->arch.fpu_area, x86_fpu_bytes());
		vcpu->arch.fpu_area = 0;
	}
	return ret;
}

/* On the vCPU's own CPU: its LAPIC timer goes with it. */
void arch_vcpu_destroy(struct vcpu *vcpu)
{
	vlapic_stop(vcpu);
	vpit_stop(vcpu);
	x86_virt->vcpu_destroy(vcpu);
	if (vcpu->arch.fpu_area)
		pmm_free(vcpu->arch.fpu_area, x86_fpu_bytes());
	vcpu->arch.fpu_area = 0;
}

/* arch.h. Everything else of the vCPU is in vcpu->arch and its VMCB/VMCS already. */
void arch_vcpu_save(struct vcpu *vcpu)
{
	struct vcpu_arch *a = &vcpu->arch;

	x86_fpu_save(hpa_to_hva(a->fpu_area), &a->xcr0);
	a->cr2 = x86_read_cr2();
	__asm__ volatile("mov %%dr0, %0; mov %%dr1, %1; mov %%dr2, %2; mov %%dr3, %3; "
			 "mov %%dr6, %4"
			 : "=r"(a->dr[0]), "=r"(a->dr[1]), "=r"(a->dr[2]), "=r"(a->dr[3]),
			   "=r"(a->dr6));
	for (u32 i = 0; i < ARRAY_SIZE(x86_hw_msrs); i++)
		a->hw_msrs[i] = x86_rdmsr(x86_hw_msrs[i]);
}

void arch_vcpu_restore(struct vcpu *vcpu)
{
	const struct vcpu_arch *a = &vcpu->arch;

	x86_fpu_restore(hpa_to_hva(a->fpu_area), a->xcr0);
	x86_write_cr2(a->cr2);
	__asm__ volatile("mov %0, %%dr0; mov %1, %%dr1; mov %2, %%dr2; mov %3, %%dr3; "
			 "mov %4, %%dr6" ::"r"(a->dr[0]),
			 "r"(a->dr[1]), "r"(a->dr[2]), "r"(a->dr[3]), "r"(a->dr6));
	for (u32 i = 0; i < ARRAY_SIZE(x86_hw_msrs); i++)
		x86_wrmsr(x86_hw_msrs[i], a->hw_msrs[i]);
}

/* The core as a reset vCPU finds it (x86_vcpu_scrub), the guest's SPEC_CTRL kept in memory. */
void arch_vcpu_wipe(struct vcpu *vcpu)
{
	u64 spec_ctrl = vcpu->arch.spec_ctrl;

	x86_vcpu_scrub(vcpu);
	vcpu->arch.spec_ctrl = spec_ctrl;
	for (u32 i = 0; i < ARRAY_SIZE(x86_hw_msrs); i++)
		x86_wrmsr(x86_hw_msrs[i], 0);
}

/*
 * KEEL: arg in RDI (docs/guest-abi.md). LINUX: boot_params in RSI, the
 * backend loads the boot GDT selectors. SIPI: real mode at CS = pc >> 4, IP 0.
 */
void arch_vcpu_reset(struct vcpu *vcpu, const struct vcpu_entry *e)
{
	memset(vcpu->arch.gprs, 0, sizeof(vcpu->arch.gprs));
	vcpu->arch.entry_kind = (u8)e->kind;
	if (e->kind == VCPU_ENTRY_LINUX)
		vcpu->arch.gprs[X86_RSI] = e->arg;
	else
		vcpu->arch.gprs[X86_RDI] = e->arg;
	vcpu->arch.gprs[X86_RSP] = e->sp;
	vcpu->arch.rip = e->pc; /* SIPI: the backend turns it into CS:IP = pc >> 4:0 */
	vcpu->arch.pio_in_size = 0;
	vcpu->arch.mmio_size = 0;
	memset(&vcpu->arch.mmio_op, 0, sizeof(vcpu->arch.mmio_op));
	vcpu->arch.nmi_masked = 0;
	vcpu->arch.nmi_step = 0;
	__atomic_store_n(&vcpu->arch.ap_state, X86_AP_RUN, __ATOMIC_RELEASE);
	vcpu->arch.pvclock_msr = 0; /* a reset CPU has no paravirtual clock registered */
	vcpu->arch.wallclock_msr = 0;
	vlapic_reset(vcpu);
	x86_virt->vcpu_reset(vcpu);
	x86_vcpu_scrub(vcpu);
}

/*
 * A started vCPU after INIT: halted until a SIPI, then reset here, on its own
 * core, into real mode at the SIPI's vector (as a CPU leaves wait-for-SIPI).
 */
bool x86_ap_hold(struct vcpu *vcpu, struct vm_exit *exit)
{
	u32 ap = __atomic_load_n(&vcpu->arch.ap_state, __ATOMIC_ACQUIRE);
	struct vcpu_entry e = { .kind = VCPU_ENTRY_SIPI };

	if (likely(ap == X86_AP_RUN))
		return false;
	if (ap != X86_AP_SIPI) {
		exit_init(exit, vcpu->arch.rip);
		exit->kind = EXIT_HALT;
		return true;
	}
	e.pc = (u64)vcpu->arch.sipi_vector << 12;
	arch_vcpu_reset(vcpu, &e); /* ap_state back to X86_AP_RUN */
	return false;
}

/* The second access of an XCHG or MOVS, handed to core without entering the guest. */
static bool x86_mmio_follow(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct x86_mmio_op *op = &vcpu->arch.mmio_op;

	if (!op->follow)
		return false;
	op->follow = 0;
	exit_init(exit, op->pc);
	exit->kind = EXIT_MMIO;
	exit->mmio.gpa = op->follow_gpa;
	exit->mmio.size = op->size;
	exit->mmio.write = 1;
	exit->mmio.data = op->follow_data;
	return true;
}

/* This CPU has not caught up with a flush of the shared tables (arch_mmu_catch_up). */
static inline bool x86_hmap_behind(void)
{
	return __atomic_load_n(&x86_hmap_gen, __ATOMIC_ACQUIRE) !=
	       __atomic_load_n(&pcpu_this()->arch.hmap_gen, __ATOMIC_RELAXED);
}

static void x86_virt_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	if (likely(x86_virt_svm))
		svm_vcpu_run(vcpu, exit);
	else
		vmx_vcpu_run(vcpu, exit);
}

/*
 * An entry with something to do first: a held AP, the second access of an
 * XCHG or MOVS (handed to core without entering), or a flush of the shared
 * tables to catch up with, so no guest runs on a translation it removed.
 */
static __attribute__((noinline)) void x86_vcpu_run_slow(struct vcpu *vcpu, struct vm_exit *exit)
{
	if (x86_ap_hold(vcpu, exit) || x86_mmio_follow(vcpu, exit))
		return;
	if (x86_hmap_behind())
		arch_mmu_catch_up();
	x86_virt_run(vcpu, exit);
}

/* One test for all of x86_vcpu_run_slow's reasons: this path keeps no frame. */
void arch_vcpu_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	if (unlikely(__atomic_load_n(&vcpu->arch.ap_state, __ATOMIC_ACQUIRE) != X86_AP_RUN ||
		     vcpu->arch.mmio_op.follow || x86_hmap_behind())) {
		x86_vcpu_run_slow(vcpu, exit);
		return;
	}
	x86_virt_run(vcpu, exit);
}

void arch_vcpu_hc_args(const struct vcpu *vcpu, u64 a[6])
{
	const u64 *g = vcpu->arch.gprs;

	a[0] = g[X86_RDI];
	a[1] = g[X86_RSI];
	a[2] = g[X86_RDX];
	a[3] = g[X86_R10];
	a[4] = g[X86_R8];
	a[5] = g[X86_R9];
}

void arch_vcpu_hc_return(struct vcpu *vcpu, s64 status, u64 r0, u64 r1, u64 r2)
{
	vcpu->arch.gprs[X86_RAX] = (u64)status;
	vcpu->arch.gprs[X86_RDI] = r0;
	vcpu->arch.gprs[X86_RSI] = r1;
	vcpu->arch.gprs[X86_RDX] = r2;
}

static void x86_movs_store(struct vcpu *vcpu, u64 value);

/* A decoded MMIO read: the value into its register as the instruction would. */
static void x86_mmio_return(struct vcpu *vcpu, u64 value)
{
	struct vcpu_arch *a = &vcpu->arch;
	struct x86_mmio_op *op = &a->mmio_op;
	struct x86_insn insn = { 0 };

	if (op->kind == X86_INSN_MOVS) {
		op->kind = X86_INSN_MOV;
		x86_movs_store(vcpu, value);
		return;
	}
	if (!a->mmio_size || a->mmio_reg > X86_R15)
		return;
	if (op->kind == X86_INSN_XCHG) {
		/* The device gets the register's old value next (x86_mmio_follow). */
		op->kind = X86_INSN_MOV;
		op->follow_data = op->old;
		op->follow = 1;
	}
	insn.reg_size = a->mmio_size;
	insn.mem_size = a->mmio_mem;
	insn.flags = a->mmio_flags;
	a->gprs[a->mmio_reg] = x86_decode_merge(&insn, a->gprs[a->mmio_reg], value);
	a->mmio_size = 0;
}

/*
 * on_fault = deliver (core/vcpu.c): what a PC does with an address nothing
 * decodes. A read floats to all ones, a write goes nowhere (the decoder has
 * stepped RIP past the instruction already); a fetch reads 0xff bytes, and
 * FF FF is an invalid opcode: #UD at that RIP (a guest without an IDT
 * triple-faults from there, as on hardware). An access the decoder could not
 * read has no register to fill: refused.
 */
const char *arch_vcpu_deliver_fault(struct vcpu *vcpu, const struct vm_exit *exit)
{
	if (exit->kind == EXIT_FAULT) {
		x86_virt->vcpu_inject(vcpu, 6, false, 0);
		return "#UD (the bytes there read as 0xff)";
	}
	if (!exit->mmio.size)
		return NULL;
	if (exit->mmio.write)
		return "its write dropped";
	x86_mmio_return(vcpu, ~0ull);
	return "all ones";
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
		x86_mmio_return(vcpu, value);
		break;
	}
	vcpu->arch.pio_in_size = 0;
}

#define CPUID1_ECX_EST BIT(7)
#define CPUID1_ECX_TM2 BIT(8)
#define CPUID1_ECX_PDCM BIT(15)
#define CPUID1_EDX_ACPI BIT(22)
#define CPUID1_EDX_TM BIT(29)
#define CPUID6_EAX_ARAT BIT(2)
#define CPUID7_EBX_TSC_ADJUST BIT(1)
#define CPUID7_EDX_L1D_FLUSH BIT(28)
#define CPUID80000001_ECX_PERFCTR_CORE BIT(23)
#define CPUID0D1_EAX_XSAVES BIT(3)
#define CPUID1_ECX_XSAVE BIT(26)
#define CPUID1_ECX_MONITOR BIT(3)
#define CPUID1_ECX_VMX BIT(5)
#define CPUID1_ECX_OSXSAVE BIT(27)
#define CPUID1_ECX_X2APIC BIT(21)
#define CPUID1_ECX_TSC_DEADLINE BIT(24)
#define CPUID1_ECX_HYPERVISOR BIT(31)
#define CPUID7_ECX_OSPKE BIT(4)
#define X86_CR4_OSXSAVE BIT(18)
#define X86_CR4_PKE BIT(22)

/*
 * XCR0 as the guest set it: neither SVM nor Keel's VT-x path switches XCR0
 * at exits, so the register still holds the guest's value here. XGETBV
 * needs CR4.OSXSAVE, which Keel sets only around the instruction.
 */
static u64 x86_live_xcr0(void)
{
	u64 cr4 = x86_read_cr4();
	u32 lo, hi;

	x86_write_cr4(cr4 | X86_CR4_OSXSAVE);
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	x86_write_cr4(cr4);
	return (u64)hi << 32 | lo;
}

/*
 * CPUID.(0xD,1).EBX as the architecture defines it for IA32_XSS = 0: the
 * compacted (XSAVEC) area for @xcr0, each component at its size, 64-byte
 * aligned where its sub-leaf asks. Computed, not passed through: some CPU
 * models (Bochs's) report the standard-format size there, and Linux then
 * warns that its own sum disagrees.
 */
static u32 x86_xsave_compacted_size(u64 xcr0)
{
	u64 size = 576; /* legacy area and XSAVE header */

	for (u32 i = 2; i < 63; i++) {
		struct x86_cpuid c;

		if (!(xcr0 & BIT(i)))
			continue;
		c = x86_cpuid(0xd, i);
		if (c.ecx & BIT(1))
			size = ALIGN_UP(size, 64);
		size += c.eax;
	}
	return (u32)size;
}

static bool sub_leaf_zero(const struct vcpu *vcpu)
{
	return (u32)vcpu->arch.gprs[X86_RCX] == 0;
}

/*
 * What a guest sees differently from the host: its own APIC ID, the LAPIC
 * model's features (x2APIC, TSC-deadline, ARAT), no virtualization
 * extensions, no MONITOR/MWAIT (HLT is what wakes on interrupts here), and
 * OSXSAVE/OSPKE following its own CR4. Features whose MSRs the MSR policy
 * refuses are not advertised, so a guest never meets a #GP CPUID promised
 * it could not get: thermal and power management (ACPI, TM, TM2, EST, leaf
 * 6 but ARAT), TSC_ADJUST, the PMU (PDCM, leaf 0xA, AMD PerfCtrExtCore),
 * XSAVES (IA32_XSS) and IA32_FLUSH_CMD (Keel flushes the L1D itself where
 * the CPU needs it).
 */
/*
 * Leaves 0x15 (TSC / crystal ratio, crystal Hz) and 0x16 (base MHz), where the
 * host's CPU has them (Intel; a guest never sees a leaf above the host's
 * maximum, which would repeat the last one): the guest's TSC is the host's,
 * so the host's answer stands, and what it leaves out (0: not enumerated)
 * Keel fills from the TSC rate it measured, so Linux learns the rate from
 * CPUID without calibrating (TSC_KNOWN_FREQ).
 */
static void x86_cpuid_tsc_leaves(u32 leaf, struct x86_cpuid *r)
{
	u64 hz = x86_tsc_khz() * 1000;

	if (!hz)
		return;
	if (leaf == 0x15 && (!r->eax || !r->ebx)) {
		/* Crystal = TSC / 2 keeps ECX in 32 bits up to 8.5 GHz. */
		r->eax = 1;
		r->ebx = 2;
		r->ecx = (u32)(hz / 2);
	} else if (leaf == 0x15 && !r->ecx) {
		r->ecx = (u32)(hz * r->eax / r->ebx);
	} else if (leaf == 0x16 && !(r->eax & 0xffff)) {
		r->eax = (u32)(hz / 1000000);
	}
}

static void x86_cpuid_adjust(struct vcpu *vcpu, u32 leaf, struct x86_cpuid *r)
{
	u32 id = vcpu->index;

	switch (leaf) {
	case 1:
		r->ebx = (r->ebx & 0x00ffffffu) | (id << 24);
		r->ecx &= ~(u32)(CPUID1_ECX_VMX | CPUID1_ECX_MONITOR | CPUID1_ECX_OSXSAVE |
				 CPUID1_ECX_EST | CPUID1_ECX_TM2 | CPUID1_ECX_PDCM);
		r->edx &= ~(u32)(CPUID1_EDX_ACPI | CPUID1_EDX_TM);
		r->ecx |=
			(u32)(CPUID1_ECX_X2APIC | CPUID1_ECX_TSC_DEADLINE | CPUID1_ECX_HYPERVISOR);
		if (vcpu->arch.cr4 & X86_CR4_OSXSAVE)
			r->ecx |= (u32)CPUID1_ECX_OSXSAVE;
		break;
	case 6:
		/* Only ARAT: the LAPIC timer runs in every C-state. No thermal or power MSRs. */
		r->eax = (u32)CPUID6_EAX_ARAT;
		r->ebx = r->ecx = r->edx = 0;
		break;
	case 0xa:
		r->eax = r->ebx = r->ecx = r->edx = 0; /* no architectural PMU */
		break;
	case 0x15:
	case 0x16:
		if (x86_cpuid(0, 0).eax >= leaf)
			x86_cpuid_tsc_leaves(leaf, r);
		break;
	case 0xd:
		/*
		 * No XSAVES and no supervisor state components: they need
		 * IA32_XSS, which the MSR policy does not offer. Guests use
		 * the standard format, whose size CPUID reports for their XCR0.
		 */
		if ((u32)vcpu->arch.gprs[X86_RCX] == 1) {
			r->eax &= ~(u32)CPUID0D1_EAX_XSAVES;
			if (x86_cpuid(1, 0).ecx & CPUID1_ECX_XSAVE) /* else XGETBV is #UD */
				r->ebx = x86_xsave_compacted_size(x86_live_xcr0());
			r->ecx = r->edx = 0;
		}
		break;
	case 7:
		if (sub_leaf_zero(vcpu)) {
			r->ebx &= ~(u32)CPUID7_EBX_TSC_ADJUST;
			r->edx &= ~(u32)CPUID7_EDX_L1D_FLUSH;
			r->ecx &= ~(u32)CPUID7_ECX_OSPKE;
			if (vcpu->arch.cr4 & X86_CR4_PKE)
				r->ecx |= (u32)CPUID7_ECX_OSPKE;
		}
		break;
	case 0xb:
	case 0x1f:
		r->edx = id; /* x2APIC ID */
		break;
	case 0x80000001:
		r->ecx &=
			~(u32)(BIT(2) | BIT(12) | CPUID80000001_ECX_PERFCTR_CORE); /* SVM, SKINIT */
		break;
	case 0x80000007:
		/* Invariant TSC (EDX[8]) as the host says: the guest's TSC is the host's. */
		break;
	case 0x8000001e:
		r->eax = id; /* extended APIC ID */
		break;
	default:
		break;
	}
}

void x86_exit_cpuid(struct vcpu *vcpu, struct vm_exit *exit)
{
	u32 leaf = (u32)vcpu->arch.gprs[X86_RAX], sub = (u32)vcpu->arch.gprs[X86_RCX];
	struct x86_cpuid r = { 0, 0, 0, 0 };

	if ((leaf & 0xf0000000u) == 0x40000000u) {
		x86_vclock_cpuid(leaf, &r); /* Keel's and the clock's leaves; 0 elsewhere */
	} else if (leaf != 0x8000000a && leaf != 5) {
		r = x86_cpuid(leaf, sub);
		x86_cpuid_adjust(vcpu, leaf, &r);
	}
	vcpu->arch.gprs[X86_RAX] = r.eax;
	vcpu->arch.gprs[X86_RBX] = r.ebx;
	vcpu->arch.gprs[X86_RCX] = r.ecx;
	vcpu->arch.gprs[X86_RDX] = r.edx;
	vcpu->arch.rip += 2;
	exit->kind = EXIT_NONE;
}

#define PTE_P BIT(0)
#define PTE_RW BIT(1)
#define PTE_US BIT(2)
#define PF_ERR_P BIT(0) /* a protection violation, not a page not present */
#define PF_ERR_W BIT(1)
#define PF_ERR_U BIT(2)

/*
 * Guest-linear to guest-physical through the guest's 4- or 5-level tables.
 * *@rights gets the R/W and U/S bits every level grants (all of them, as the
 * CPU combines them), for x86_gva_check.
 */
static int x86_gva_walk(struct vcpu *vcpu, u64 gva, gpa_t *gpa, u64 *rights)
{
	u64 table = vcpu->arch.cr3 & 0x000ffffffffff000ull;
	u32 levels = (vcpu->arch.cr4 & BIT(12) /* LA57 */) ? 5 : 4;

	*rights = PTE_RW | PTE_US;
	if (!(vcpu->arch.cr0 & X86_CR0_PG)) {
		*gpa = gva;
		return 0;
	}
	if (!(vcpu->arch.efer & EFER_LMA))
		return -KEEL_EFAULT; /* legacy paging: not decoded */
	for (u32 level = 0; level < levels; level++) {
		u32 shift = 12 + 9 * (levels - 1 - level);
		u64 e;

		if (guest_copy_from(vcpu->part, &e, table + ((gva >> shift) & 511) * 8, 8))
			return -KEEL_EFAULT;
		if (!(e & PTE_P))
			return -KEEL_EFAULT;
		*rights &= e;
		/* Large pages: 1 GiB (PDPT) and 2 MiB (PD) entries with PS. */
		if (shift == 12 || ((shift == 30 || shift == 21) && (e & BIT(7)))) {
			u64 mask = (1ull << shift) - 1;

			*gpa = (e & 0x000ffffffffff000ull & ~mask) | (gva & mask);
			return 0;
		}
		table = e & 0x000ffffffffff000ull;
	}
	return -KEEL_EFAULT;
}

static int x86_gva_to_gpa(struct vcpu *vcpu, u64 gva, gpa_t *gpa)
{
	u64 rights;

	return x86_gva_walk(vcpu, gva, gpa, &rights);
}

/*
 * What the CPU checks for an explicit data access with @rights (SDM 4.6):
 * user mode needs U/S at every level, and R/W to write; supervisor mode
 * needs R/W to write when CR0.WP is set, and under SMAP (RFLAGS.AC clear)
 * may not touch a user page at all. (Protection keys are not checked.)
 */
static bool x86_gva_allowed(const struct vcpu *vcpu, u64 rights, bool write)
{
	const struct vcpu_arch *a = &vcpu->arch;
	bool user = a->cpl == 3;

	if (!(a->cr0 & X86_CR0_PG))
		return true;
	if (user)
		return (rights & PTE_US) && (!write || (rights & PTE_RW));
	if (write && (a->cr0 & X86_CR0_WP) && !(rights & PTE_RW))
		return false;
	return !((rights & PTE_US) && (a->cr4 & X86_CR4_SMAP) && !(a->rflags & X86_RFLAGS_AC));
}

/*
 * Guest-linear to guest-physical for a data access Keel makes for the guest
 * (the part of an instruction the hardware did not carry out): 0, or the
 * #PF error code the CPU would have raised in *@pf_err and -KEEL_EFAULT.
 */
static int x86_gva_data(struct vcpu *vcpu, u64 gva, bool write, gpa_t *gpa, u32 *pf_err)
{
	u64 rights;
	u32 err = (write ? PF_ERR_W : 0) | (vcpu->arch.cpl == 3 ? PF_ERR_U : 0);

	if (x86_gva_walk(vcpu, gva, gpa, &rights)) {
		*pf_err = err; /* not present (or not walkable: reported the same) */
		return -KEEL_EFAULT;
	}
	if (!x86_gva_allowed(vcpu, rights, write)) {
		*pf_err = err | PF_ERR_P;
		return -KEEL_EFAULT;
	}
	return 0;
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
	if (vcpu->arch.cpl == 0 && !x86_guest_fetch(vcpu, insn, sizeof(insn)) && insn[0] == 0x0f &&
	    insn[1] == 0x01 && (insn[2] == 0xc1 || insn[2] == 0xd9)) {
		x86_exit_hypercall(vcpu, exit, 3);
		return;
	}
	x86_virt->vcpu_inject(vcpu, 6, false, 0); /* the guest's own #UD (BUG(), UD2...) */
	exit->kind = EXIT_NONE;
}

/* ---- MSR policy ------------------------------------------------------------ */

#define MSR_TSC 0x10
#define MSR_FEATURE_CONTROL 0x3a
#define MSR_UCODE_REV 0x8b
#define MSR_MTRR_CAP 0xfe
#define MSR_MCG_CAP 0x179
#define MSR_MCG_STATUS 0x17a
#define MSR_MISC_ENABLE 0x1a0
#define MSR_DEBUGCTL 0x1d9
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_TSC_DEADLINE 0x6e0
#define MSR_AMD_SYSCFG 0xc0010010
#define MSR_AMD_HWCR 0xc0010015
#define MSR_AMD_NB_CFG 0xc001001f
#define MSR_AMD_INT_PENDING 0xc0010055 /* C1E on family 0xf/0x10: never set here */
#define MSR_AMD_DE_CFG 0xc0011029
#define MSR_MTRR_WB_ENABLED 0xc06ull /* MTRRs on, fixed ranges off, default WB */
#define X86_MSR_WARN_MAX 16u

static bool x86_msr_is_lapic(u32 msr)
{
	return msr == MSR_APIC_BASE || msr == MSR_TSC_DEADLINE || (msr >= 0x800 && msr <= 0x8ff);
}

/*
 * Reads of the MSRs a Linux guest touches: the LAPIC model's, fixed answers
 * for the rest (no MTRR ranges, default WB; no machine-check banks; VMX
 * locked off, SVM disabled); SPEC_CTRL where the CPU has it (scrub.c).
 */
static int x86_msr_read(struct vcpu *vcpu, u32 msr, u64 *val)
{
	int ret;

	if (x86_msr_is_lapic(msr))
		return vlapic_msr_read(vcpu, msr, val);
	if (x86_vclock_msr_read(vcpu, msr, val, &ret))
		return ret;
	switch (msr) {
	case MSR_TSC:
		*val = x86_rdtsc();
		return 0;
	case MSR_MTRR_CAP:
		*val = BIT(10); /* write-combining, no fixed or variable ranges */
		return 0;
	case MSR_MTRR_DEF_TYPE:
		*val = MSR_MTRR_WB_ENABLED;
		return 0;
	case MSR_FEATURE_CONTROL:
		*val = BIT(0); /* locked, VMX off */
		return 0;
	case MSR_MISC_ENABLE:
		*val = BIT(0); /* fast strings */
		return 0;
	case MSR_AMD_DE_CFG:
		*val = BIT(1); /* LFENCE is dispatch serializing */
		return 0;
	case MSR_VM_CR:
		*val = MSR_VM_CR_SVMDIS;
		return 0;
	case MSR_SPEC_CTRL:
		if (!x86_spec.spec_ctrl)
			return -KEEL_EINVAL;
		*val = x86_spec_ctrl_read(vcpu);
		return 0;
	case MSR_UCODE_REV:
	case MSR_ARCH_CAPABILITIES:
	case MSR_MCG_CAP:
	case MSR_MCG_STATUS:
	case MSR_DEBUGCTL:
	case MSR_AMD_SYSCFG:
	case MSR_AMD_HWCR:
	case MSR_AMD_NB_CFG:
	case MSR_AMD_INT_PENDING:
		*val = 0;
		return 0;
	default:
		return -KEEL_EINVAL;
	}
}

/* Writes that are accepted and have no effect on a vCPU that owns its core. */
static int x86_msr_write(struct vcpu *vcpu, u32 msr, u64 val)
{
	int ret;

	if (x86_msr_is_lapic(msr))
		return vlapic_msr_write(vcpu, msr, val);
	if (x86_vclock_msr_write(vcpu, msr, val, &ret))
		return ret;
	switch (msr) {
	case MSR_SPEC_CTRL:
		return x86_spec.spec_ctrl ? x86_spec_ctrl_write(vcpu, val) : -KEEL_EINVAL;
	case MSR_PRED_CMD:
		return x86_pred_cmd_write(val);
	case MSR_MTRR_DEF_TYPE:
	case MSR_MISC_ENABLE:
	case MSR_UCODE_REV:
	case MSR_MCG_STATUS:
	case MSR_DEBUGCTL:
	case MSR_AMD_HWCR:
	case MSR_AMD_DE_CFG:
	case MSR_AMD_NB_CFG:
	case MSR_TSC: /* the guest's TSC is the host's; it cannot move it */
		return 0;
	default:
		return -KEEL_EINVAL;
	}
}

/*
 * MSRs guests probe knowing they may be absent (Linux reads them with the
 * _safe accessors): the performance counters, which guests do not get, and
 * model-specific ones Linux tries on Intel CPUs. They #GP as on a CPU
 * without them, without a report.
 */
static bool x86_msr_is_probe(u32 msr)
{
	return msr == 0x34u || /* MSR_SMI_COUNT */
	       msr == 0x4eu || /* MSR_PPIN_CTL */
	       msr == 0x140u || /* MSR_MISC_FEATURES_ENABLES (CPUID faulting) */
	       msr == 0x150u || /* the overclocking mailbox */
	       msr == 0x64eu || /* MSR_PPERF */
	       (msr >= 0xc0010000u && msr <= 0xc0010007u) || /* AMD K7 PERFEVTSEL/PERFCTR */
	       (msr >= 0xc0010200u && msr <= 0xc001020bu) || /* AMD core PMC extension */
	       (msr >= 0xc1u && msr <= 0xc8u) || /* Intel IA32_PMC0-7 */
	       (msr >= 0x186u && msr <= 0x18du) || /* Intel IA32_PERFEVTSEL0-7 */
	       (msr >= 0x309u && msr <= 0x30bu) || /* Intel fixed counters */
	       msr == 0x345u || /* IA32_PERF_CAPABILITIES */
	       (msr >= 0x38du && msr <= 0x391u); /* fixed ctrl, global status/ctrl */
}

/*
 * RDMSR/WRMSR the backend did not handle itself (2 bytes). Anything outside
 * the policy gets #GP, as on a CPU without that MSR; reported a few times
 * unless it is one guests probe for (x86_msr_is_probe).
 */
void x86_exit_msr(struct vcpu *vcpu, bool write, struct vm_exit *exit)
{
	u64 *g = vcpu->arch.gprs;
	u32 msr = (u32)g[X86_RCX];
	u64 val = (g[X86_RDX] << 32) | (u32)g[X86_RAX];
	struct partition *part = vcpu->part;
	int ret;

	exit->kind = EXIT_NONE;
	ret = write ? x86_msr_write(vcpu, msr, val) : x86_msr_read(vcpu, msr, &val);
	if (ret) {
		if (!x86_msr_is_probe(msr) && part->arch.msr_warned < X86_MSR_WARN_MAX) {
			part->arch.msr_warned++;
			pr_warn("partition '%s': %s of MSR 0x%x at pc 0x%llx: #GP%s",
				part->desc.h.name, write ? "write" : "read", msr,
				(unsigned long long)vcpu->arch.rip,
				part->arch.msr_warned == X86_MSR_WARN_MAX ? " (no more reports)"
									  : "");
		}
		x86_virt->vcpu_inject(vcpu, 13, true, 0);
		return;
	}
	if (!write) {
		g[X86_RAX] = (u32)val;
		g[X86_RDX] = val >> 32;
	}
	vcpu->arch.rip += 2;
}

/* ---- MMIO decoding ------------------------------------------------------- */

/* Up to @max instruction bytes at RIP, stopping at the first untranslatable page. */
static u32 x86_guest_fetch_upto(struct vcpu *vcpu, u8 *buf, u32 max)
{
	u64 linear = vcpu->arch.rip;
	u32 got = 0;

	if (!vcpu->arch.cs_l)
		linear = (u32)(vcpu->arch.cs_base + vcpu->arch.rip);
	while (got < max) {
		u64 va = linear + got;
		u32 chunk = (u32)MIN((u64)(max - got), PAGE_SIZE - (va & (PAGE_SIZE - 1)));
		gpa_t gpa;

		if (x86_gva_to_gpa(vcpu, va, &gpa) ||
		    guest_copy_from(vcpu->part, buf + got, gpa, chunk))
			break;
		got += chunk;
	}
	return got;
}

static u64 x86_reg_value(const struct vcpu *vcpu, const struct x86_insn *insn)
{
	u64 v = vcpu->arch.gprs[insn->reg & 15];

	if (insn->flags & X86_DECODE_HIGH8)
		v >>= 8;
	return insn->mem_size < 8 ? v & ((1ull << (insn->mem_size * 8)) - 1) : v;
}

/* ---- Instructions that are more than one access: XCHG, MOVS, STOS -------- */

static u64 x86_addr_wrap(const struct x86_mmio_op *op, u64 v)
{
	return op->addr_size == 4 ? (u32)v : v;
}

/*
 * One element of MOVS or STOS is done: rDI (and with @source rSI) step by
 * its size, down if DF; with REP, rCX counts down, and RIP stays on the
 * instruction while elements are left (the guest runs it again, as the CPU
 * resumes an interrupted REP), else moves past it.
 */
static void x86_string_step(struct vcpu *vcpu, bool source)
{
	struct x86_mmio_op *op = &vcpu->arch.mmio_op;
	u64 *g = vcpu->arch.gprs, d = op->down ? (u64) - (s64)op->size : op->size;

	g[X86_RDI] = x86_addr_wrap(op, g[X86_RDI] + d);
	if (source)
		g[X86_RSI] = x86_addr_wrap(op, g[X86_RSI] + d);
	if (op->rep) {
		g[X86_RCX] = x86_addr_wrap(op, g[X86_RCX] - 1);
		if (g[X86_RCX])
			return;
	}
	vcpu->arch.rip = op->pc + op->len;
}

/*
 * The guest-physical address of @size bytes at guest-linear @gva, one page
 * only, checked for a read or @write. A page fault goes to the guest as the
 * CPU would raise it (CR2 = @gva) and the instruction is not stepped: after
 * its handler the guest runs it again. -KEEL_EINVAL: not emulated.
 */
static int x86_string_gpa(struct vcpu *vcpu, u64 gva, u32 size, bool write, gpa_t *gpa)
{
	u32 err;

	if ((gva & (PAGE_SIZE - 1)) + size > PAGE_SIZE)
		return -KEEL_EINVAL; /* an element across a page boundary: not emulated */
	if (x86_gva_data(vcpu, gva, write, gpa, &err)) {
		x86_virt->vcpu_inject_pf(vcpu, err, gva);
		return -KEEL_EFAULT;
	}
	return 0;
}

/*
 * MOVS read its element from a device: store it at [rDI], in RAM directly,
 * or (a device there too) as the follow-up write.
 */
static void x86_movs_store(struct vcpu *vcpu, u64 value)
{
	struct x86_mmio_op *op = &vcpu->arch.mmio_op;
	u64 rdi = x86_addr_wrap(op, vcpu->arch.gprs[X86_RDI]);
	gpa_t gpa;
	int ret = x86_string_gpa(vcpu, rdi, op->size, true, &gpa);

	if (ret == -KEEL_EFAULT)
		return; /* #PF raised: the guest's handler, then MOVS again */
	if (ret) {
		pr_warn("partition '%s': MOVS at pc 0x%llx: destination 0x%llx crosses a page; element dropped",
			vcpu->part->desc.h.name, (unsigned long long)op->pc,
			(unsigned long long)rdi);
	} else if (guest_copy_to(vcpu->part, gpa, &value, op->size)) {
		op->follow_gpa = gpa;
		op->follow_data = value;
		op->follow = 1;
	}
	x86_string_step(vcpu, true);
}

/* The access (and its follow-up) for a decoded XCHG, MOVS or STOS; false if refused. */
static bool x86_exit_mmio_multi(struct vcpu *vcpu, const struct x86_insn *insn, gpa_t gpa,
				bool write, struct vm_exit *exit)
{
	struct vcpu_arch *a = &vcpu->arch;
	struct x86_mmio_op *op = &a->mmio_op;

	*op = (struct x86_mmio_op){ .kind = insn->kind,
				    .size = insn->mem_size,
				    .rep = insn->rep,
				    .addr_size = insn->addr_size,
				    .len = insn->len,
				    .pc = a->rip,
				    .down = !!(a->rflags & X86_RFLAGS_DF) };
	exit->mmio.size = insn->mem_size;
	switch (insn->kind) {
	case X86_INSN_XCHG:
		/* Read into the register now; the old value goes to the device after. */
		op->old = x86_reg_value(vcpu, insn);
		op->follow_gpa = gpa;
		exit->mmio.write = 0;
		a->mmio_reg = insn->reg;
		a->mmio_size = insn->reg_size;
		a->mmio_mem = insn->mem_size;
		a->mmio_flags = insn->flags;
		a->rip += insn->len;
		return true;
	case X86_INSN_STOS:
		exit->mmio.data = x86_reg_value(vcpu, insn);
		op->kind = X86_INSN_MOV;
		x86_string_step(vcpu, false);
		return true;
	case X86_INSN_MOVS:
		if (insn->seg_fs_gs)
			return false; /* a source in FS or GS: its base is not applied here */
		if (!write) {
			exit->mmio.write = 0; /* the source is the device: x86_movs_store after */
			return true;
		}
		/* The destination is the device, so the source (read first) is RAM. */
		{
			gpa_t src;
			u64 v = 0;

			int ret = x86_string_gpa(vcpu, x86_addr_wrap(op, a->gprs[X86_RSI]),
						 op->size, false, &src);

			if (ret == -KEEL_EFAULT) {
				exit->kind = EXIT_NONE; /* #PF raised: nothing reaches the device */
				return true;
			}
			if (ret || guest_copy_from(vcpu->part, &v, src, op->size))
				return false;
			exit->mmio.data = v;
		}
		op->kind = X86_INSN_MOV;
		x86_string_step(vcpu, true);
		return true;
	default:
		return false;
	}
}

static void x86_mmio_not_decoded(struct vcpu *vcpu, gpa_t gpa, bool write, const u8 *buf, u32 n)
{
	pr_warn("partition '%s': MMIO %s at 0x%llx: instruction %02x %02x %02x %02x %02x %02x (%u bytes fetched) not decoded",
		vcpu->part->desc.h.name, write ? "write" : "read", (unsigned long long)gpa,
		n > 0 ? buf[0] : 0, n > 1 ? buf[1] : 0, n > 2 ? buf[2] : 0, n > 3 ? buf[3] : 0,
		n > 4 ? buf[4] : 0, n > 5 ? buf[5] : 0, n);
}

/*
 * A nested page fault (SVM NPF, VMX EPT violation) at @gpa. On the
 * partition's own RAM it is a mapping being changed by another CPU: run the
 * access again. Elsewhere a fetch is a fault, data an MMIO access.
 */
void x86_exit_npf(struct vcpu *vcpu, gpa_t gpa, bool write, bool fetch, u64 code,
		  struct vm_exit *exit)
{
	if (guest_range_is_ram(vcpu->part, gpa, 1))
		exit_retry(exit, gpa);
	else if (fetch)
		x86_exit_fault(exit, FAULT_FETCH, code, gpa);
	else
		x86_exit_mmio(vcpu, gpa, write, exit);
}

/*
 * A nested page fault on an address with no RAM: decode the instruction at
 * RIP (TCG has no decode assists), then describe the access. Size 0 tells
 * core the access could not be decoded.
 */
void x86_exit_mmio(struct vcpu *vcpu, gpa_t gpa, bool write, struct vm_exit *exit)
{
	u8 buf[X86_INSN_MAX];
	u32 n = x86_guest_fetch_upto(vcpu, buf, sizeof(buf));
	struct x86_insn insn;

	exit->kind = EXIT_MMIO;
	exit->mmio.gpa = gpa;
	exit->mmio.write = write;
	exit->mmio.size = 0;
	exit->mmio.data = 0;
	if (!n || x86_decode(buf, n, vcpu->arch.cs_l, vcpu->arch.cs_db, &insn)) {
		x86_mmio_not_decoded(vcpu, gpa, write, buf, n);
		return;
	}
	if (insn.kind != X86_INSN_MOV) {
		if (!x86_exit_mmio_multi(vcpu, &insn, gpa, write, exit)) {
			exit->mmio.size = 0;
			x86_mmio_not_decoded(vcpu, gpa, write, buf, n);
		}
		return;
	}
	if (insn.write != write) {
		x86_mmio_not_decoded(vcpu, gpa, write, buf, n);
		return;
	}
	exit->mmio.size = insn.mem_size;
	if (write) {
		exit->mmio.data = insn.has_imm ? insn.imm : x86_reg_value(vcpu, &insn);
	} else {
		vcpu->arch.mmio_reg = insn.reg;
		vcpu->arch.mmio_size = insn.reg_size;
		vcpu->arch.mmio_mem = insn.mem_size;
		vcpu->arch.mmio_flags = insn.flags;
	}
	vcpu->arch.rip += insn.len;
}
