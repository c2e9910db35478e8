/* SPDX-License-Identifier: MIT */
/*
 * vCPUs at EL1: entry state, the run loop around the world switch, and the
 * decoding of ESR_EL2 into core's generic exits. Every guest value (syndrome
 * fields, registers) is range-checked before it is used.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/guest_mem.h>
#include <keel/hmap.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pcpu.h>

#include "aarch64.h"
#include "vplat.h"

/* Exit reasons of el2_guest_enter (vectors.S). */
#define GUEST_EXIT_SYNC 0
#define GUEST_EXIT_IRQ 1
#define GUEST_EXIT_SERROR 2
#define GUEST_EXIT_AARCH32 3

/* guest.S hard-codes these offsets. */
_Static_assert(offsetof(struct vcpu_arch, x) == 0, "vcpu_arch.x moved");
_Static_assert(offsetof(struct vcpu_arch, elr) == 31 * 8, "vcpu_arch.elr moved");
_Static_assert(offsetof(struct vcpu_arch, spsr) == 32 * 8, "vcpu_arch.spsr moved");
_Static_assert(offsetof(struct vcpu_fpsimd, fpsr) == 512, "vcpu_fpsimd layout");

u64 el2_guest_enter(struct vcpu_arch *ctx);
void el2_fpsimd_save(struct vcpu_fpsimd *fp);
void el2_fpsimd_restore(const struct vcpu_fpsimd *fp);

/* ISS of a data abort */
#define DABT_ISV BIT(24)
#define DABT_SAS(iss) (((iss) >> 22) & 3)
#define DABT_SSE BIT(21)
#define DABT_SRT(iss) (((iss) >> 16) & 0x1f)
#define DABT_SF BIT(15)
#define DABT_FNV BIT(10)
#define DABT_S1PTW BIT(7)
#define DABT_WNR BIT(6)
#define DABT_DFSC(iss) ((iss)&0x3f)

#define SMCCC_VERSION 0x80000000u
#define SMCCC_ARCH_FEATURES 0x80000001u
#define SMCCC_NOT_SUPPORTED ((u64)-1)
#define SMCCC_VERSION_1_1 0x10001u

#define SMCCC_FAST BIT(31)
#define SMCCC_OWNER(fid) (((fid) >> 24) & 0x3f)
#define SMCCC_OWNER_VENDOR_HYP 6u

/* ISS of a trapped system register access (EC 0x18) */
#define SYSREG_READ BIT(0)
#define SYSREG_RT(iss) (((iss) >> 5) & 0x1f)
#define SYSREG_ID_MASK 0x3ffc1eull /* Op0, Op2, Op1, CRn, CRm */
#define SYSREG_ID(op0, op1, crn, crm, op2)                                           \
	((u64)(op0) << 20 | (u64)(op2) << 17 | (u64)(op1) << 14 | (u64)(crn) << 10 | \
	 (u64)(crm) << 1)
#define SYSREG_ICC_SGI1R SYSREG_ID(3, 0, 12, 11, 5)
#define SYSREG_ICC_ASGI1R SYSREG_ID(3, 0, 12, 11, 6)
#define SYSREG_ICC_SGI0R SYSREG_ID(3, 0, 12, 11, 7)

/*
 * Lazy FP/SIMD. After an exit the guest's FP/SIMD registers stay in the CPU
 * (pcpu_arch.fp_live names their save area) and CPTR_EL2.TFP traps any use
 * at EL2. Most exits (a hypercall, an MMIO access) never touch them and
 * enter again with no save or restore; Keel's first FP/SIMD instruction
 * (snprintf's va_list, libfdt) traps into el2_fp_flush, which saves them
 * and lets the instruction run. On this CPU only, interrupts off.
 */
void el2_fp_flush(void)
{
	struct pcpu_arch *c = &pcpu_this()->arch;

	write_sysreg(cptr_el2, CPTR_EL2_BASE);
	isb();
	if (c->fp_live) {
		el2_fpsimd_save(c->fp_live);
		c->fp_live = NULL;
	}
}

/* Before an entry: @fp into the registers unless they hold it already; FP free for the guest. */
static void vcpu_fp_load(struct pcpu_arch *c, struct vcpu_fpsimd *fp)
{
	if (c->fp_live != fp) {
		el2_fp_flush(); /* whoever's state is live goes to its area first */
		el2_fpsimd_restore(fp);
		c->fp_live = fp;
	}
	write_sysreg(cptr_el2, CPTR_EL2_BASE); /* the ERET that enters synchronizes it */
}

/* @vcpu's area is about to be rewritten or freed: the registers no longer stand for it. */
static void vcpu_fp_forget(struct vcpu *vcpu)
{
	struct pcpu_arch *c = &pcpu_this()->arch;

	if (c->fp_live == &vcpu->arch.fp)
		c->fp_live = NULL;
}

int arch_vcpu_init(struct vcpu *vcpu)
{
	vcpu_fp_forget(vcpu);
	memset(&vcpu->arch, 0, sizeof(vcpu->arch));
	vcpu->arch.mpidr = vplat_mpidr(vcpu->index);
	return 0;
}

/* On the vCPU's own CPU (part_vcpu_left): no pointer to its FP area outlives it. */
void arch_vcpu_destroy(struct vcpu *vcpu)
{
	vcpu_fp_forget(vcpu);
}

int arch_part_prepare(struct partition *part)
{
	return 0;
}

/*
 * The EL1 (and EL0) system registers and timers a vCPU owns, each with its
 * reset value: one list for reset, save and restore. Compare values come
 * before controls, so a restored timer fires on its own deadline only.
 */
/* clang-format off */
#define VCPU_EL1_REGS(X)                                                          \
	X(sctlr_el1, SCTLR_EL1_RESET) X(vbar_el1, 0) X(tcr_el1, 0) X(ttbr0_el1, 0)  \
	X(ttbr1_el1, 0) X(mair_el1, 0) X(amair_el1, 0) X(cpacr_el1, 0)               \
	X(sp_el1, stack) X(sp_el0, 0) X(elr_el1, 0) X(spsr_el1, 0) X(esr_el1, 0)     \
	X(far_el1, 0) X(afsr0_el1, 0) X(afsr1_el1, 0) X(par_el1, 0)                  \
	X(contextidr_el1, 0) X(tpidr_el1, 0) X(tpidrro_el0, 0) X(csselr_el1, 0)     \
	X(mdscr_el1, 0) X(cntkctl_el1, 0) X(cntv_cval_el0, 0) X(cntp_cval_el0, 0)   \
	X(cntv_ctl_el0, 0) X(cntp_ctl_el0, 0) X(tpidr_el0, 0)

enum vcpu_el1_reg {
#define VCPU_EL1_INDEX(reg, reset) EL1_##reg,
	VCPU_EL1_REGS(VCPU_EL1_INDEX)
	EL1_COUNT
};
/* clang-format on */
_Static_assert(EL1_COUNT == VCPU_EL1_SAVED, "vcpu_arch.el1 holds every VCPU_EL1_REGS entry");

/* EL1 system registers to their reset state; on the vCPU's own pCPU. */
static void vcpu_reset_el1(gpa_t stack)
{
#define VCPU_EL1_RESET(reg, reset) write_sysreg(reg, reset);
	VCPU_EL1_REGS(VCPU_EL1_RESET)
}

/*
 * arch.h: what lives only in this pCPU's registers while the vCPU is pinned
 * here (its GPRs, PC and PSTATE are saved at every exit already, FP/SIMD
 * by el2_fp_flush here). On its own CPU, out of the guest.
 */
void arch_vcpu_save(struct vcpu *vcpu)
{
	struct vcpu_arch *a = &vcpu->arch;

	el2_fp_flush();
#define VCPU_EL1_SAVE(reg, reset) a->el1[EL1_##reg] = read_sysreg(reg);
	VCPU_EL1_REGS(VCPU_EL1_SAVE)
	scrub_pauth_save(a->pauth);
	scrub_debug_save(&a->dbg);
	scrub_pmu_save(&a->pmu);
	vgic_hw_save(a);
}

void arch_vcpu_restore(struct vcpu *vcpu)
{
	const struct vcpu_arch *a = &vcpu->arch;

#define VCPU_EL1_RESTORE(reg, reset) write_sysreg(reg, a->el1[EL1_##reg]);
	VCPU_EL1_REGS(VCPU_EL1_RESTORE)
	scrub_pauth_restore(a->pauth);
	scrub_debug_restore(&a->dbg);
	scrub_pmu_restore(&a->pmu);
	vgic_hw_restore(a);
	isb();
}

/* Nothing of the vCPU left in the registers arch_vcpu_save covers: as after a reset. */
void arch_vcpu_wipe(struct vcpu *vcpu)
{
	static const u64 no_keys[10];
	static const struct vcpu_fpsimd no_fp;

	el2_fp_flush();
	el2_fpsimd_restore(&no_fp);
	vcpu_reset_el1(0);
	scrub_pauth_restore(no_keys);
	scrub_debug_pmu_reset();
	vgic_hw_cpuif_reset();
	isb();
}

/*
 * Images were written through the hypervisor's cacheable map; the guest
 * starts with its MMU and caches off and would read memory around dirty
 * lines. Clean and invalidate its RAM to PoC once before the first entry.
 */
static void vcpu_clean_guest_ram(struct vcpu *vcpu)
{
	struct partition *part = vcpu->part;
	u64 line = 4u << ((read_sysreg(ctr_el0) >> 16) & 0xf);

	write_sysreg(vttbr_el2, part->arch.vttbr); /* the TLB invalidation below is its VMID's */
	isb();
	/* Data caches are physically tagged: cleaning through the window cleans the frame. */
	for (u32 i = 0; i < part->mem_count && i < KEEL_MAX_MEM_REGIONS; i++) {
		u64 pa = part->mem[i].hpa, end = pa + part->mem[i].size;

		while (pa < end) {
			u64 avail;
			u8 *p = hmap_window_get(part, pa, &avail);

			avail = MIN(avail, end - pa);
			for (u64 off = 0; off < avail; off += line)
				__asm__ volatile("dc civac, %0" : : "r"(p + off) : "memory");
			hmap_window_put();
			pa += avail;
		}
	}
	dsb(ish);
	__asm__ volatile("ic iallu\n\ttlbi vmalls12e1" ::: "memory");
	dsb(nsh);
	isb();
}

void arch_vcpu_reset(struct vcpu *vcpu, const struct vcpu_entry *e)
{
	struct vcpu_arch *a = &vcpu->arch;
	u64 mpidr = a->mpidr;

	vcpu_fp_forget(vcpu);
	memset(a, 0, sizeof(*a));
	a->mpidr = mpidr;
	a->x[0] = e->arg;
	a->elr = e->pc;
	a->spsr = SPSR_EL1H | SPSR_DAIF;
	vcpu_reset_el1(e->sp);
	scrub_vcpu();
	vgic_vcpu_reset(vcpu);
	vtimer_vcpu_reset();
	/*
	 * Images written by Keel; a PSCI entry finds memory its guest already
	 * cleaned. Here, so the boot vCPU's first-entry time comes after it.
	 */
	if (e->kind != VCPU_ENTRY_PSCI)
		vcpu_clean_guest_ram(vcpu);
}

#define SCTLR_SPAN BIT(23)
#define SCTLR_DSSBS BIT(44)
#define PSTATE_PAN BIT(22)
#define PSTATE_SSBS BIT(12)
#define MMFR1_PAN(m) (((m) >> 20) & 0xf)

#define VECTORS_SIZE 0x800 /* VBAR_EL1's table: 16 entries of 0x80 bytes */

static bool vcpu_from_el0(const struct vcpu *vcpu)
{
	return (vcpu->arch.spsr & 0xf) == 0x0;
}

/*
 * Take a synchronous exception to the guest's EL1 vectors, as the CPU would
 * have without Keel: ESR_EL1 = @esr, ELR_EL1 = @pc, SPSR_EL1 and (with
 * @far_valid) FAR_EL1 = @far, all live EL1 registers on this CPU; the vCPU
 * resumes at VBAR_EL1 + the offset for where it came from, DAIF masked.
 */
static void vcpu_inject_sync(struct vcpu *vcpu, u64 pc, u64 esr, u64 far, bool far_valid)
{
	struct vcpu_arch *a = &vcpu->arch;
	u64 sctlr = read_sysreg(sctlr_el1);
	u64 mode = a->spsr & 0xf, offset, pstate = SPSR_EL1H | SPSR_DAIF;

	offset = mode == 0x0 ? 0x400 : mode == 0x4 ? 0x000 : 0x200; /* EL0t, EL1t, EL1h */
	write_sysreg(esr_el1, esr);
	if (far_valid)
		write_sysreg(far_el1, far);
	write_sysreg(elr_el1, pc);
	write_sysreg(spsr_el1, a->spsr);
	if (!(sctlr & SCTLR_SPAN) && MMFR1_PAN(read_sysreg(id_aa64mmfr1_el1)))
		pstate |= PSTATE_PAN;
	if (sctlr & SCTLR_DSSBS)
		pstate |= PSTATE_SSBS;
	a->elr = read_sysreg(vbar_el1) + offset;
	a->spsr = pstate;
}

/* An Undefined Instruction exception for the instruction at ELR. */
static void vcpu_inject_undef(struct vcpu *vcpu, struct vm_exit *exit)
{
	vcpu_inject_sync(vcpu, vcpu->arch.elr, ESR_IL | ((u64)EC_UNKNOWN << 26), 0, false);
	exit->kind = EXIT_EXCEPTION;
}

/*
 * on_fault = deliver (core/vcpu.c): the access at exit->pc had nothing behind
 * it, so the guest takes what a bus error gives on Arm hardware and under
 * KVM: a synchronous external abort, data or instruction, from its own EL or
 * from EL0, with FAR_EL1 the virtual address (FnV kept from the syndrome).
 * A fetch from the guest's own vector table has nowhere to go (it would
 * abort again for ever): that one is refused, as x86 turns it into a triple
 * fault.
 */
const char *arch_vcpu_deliver_fault(struct vcpu *vcpu, const struct vm_exit *exit)
{
	struct vcpu_arch *a = &vcpu->arch;
	bool el0 = vcpu_from_el0(vcpu);
	u64 iss = ESR_ISS(a->esr), esr;

	if (exit->kind == EXIT_FAULT) {
		if (exit->pc - read_sysreg(vbar_el1) < VECTORS_SIZE)
			return NULL;
		esr = ((u64)(el0 ? EC_IABT_LOW : EC_IABT_CUR) << 26) | FSC_SEA;
		vcpu_inject_sync(vcpu, exit->pc, ESR_IL | esr, a->far, true);
		return "an instruction abort at its vector";
	}
	esr = ((u64)(el0 ? EC_DABT_LOW : EC_DABT_CUR) << 26) | FSC_SEA |
	      (exit->mmio.write ? DABT_WNR : 0) | (iss & DABT_FNV);
	/* A read does not complete; a write had already stepped ELR past itself. */
	a->mmio_pending = 0;
	vcpu_inject_sync(vcpu, exit->pc, ESR_IL | esr, a->far, !(iss & DABT_FNV));
	return "a data abort at its vector";
}

static void vcpu_set_x(struct vcpu *vcpu, u32 reg, u64 val)
{
	if (reg < 31)
		vcpu->arch.x[reg] = val;
}

/* ---- SMCCC (PSCI in vpsci.c), for HVC #0 and trapped SMC ------------------ */

/* Every SMCCC ID but Keel's own calls: PSCI, the Arm architecture calls, the rest refused. */
static __attribute__((noinline)) void vcpu_smccc_other(struct vcpu *vcpu, struct vm_exit *exit,
						       bool smc, u32 fid)
{
	u64 *x = vcpu->arch.x;

	if (vpsci_call(vcpu, fid, exit))
		return;
	exit->kind = EXIT_NONE;
	if (fid == SMCCC_VERSION) {
		x[0] = SMCCC_VERSION_1_1;
		return;
	}
	if (fid == SMCCC_ARCH_FEATURES) {
		x[0] = scrub_smccc_features((u32)x[1]);
		return;
	}
	if (scrub_smccc_workaround(fid, x[1], &x[0]))
		return;
	/*
	 * Every other ID, a yielding call included (x0 = 3 is not "shutdown"),
	 * is one this platform does not implement: SMCCC's NOT_SUPPORTED, and
	 * the guest goes on.
	 */
	x[0] = SMCCC_NOT_SUPPORTED;
}

/*
 * HVC #0, the most frequent exit, before any other decoding (arch_vcpu_run);
 * ELR is past the HVC already. Keel's own calls first, they are the
 * frequent ones: HVC fast calls owned by the vendor hypervisor service. No
 * PSCI, Arm-architecture or workaround ID has that owner, so the order
 * changes no answer. They fill the whole exit record (exit_hypercall); the
 * others start from a clean one.
 */
static void vcpu_hvc(struct vcpu *vcpu, struct vm_exit *exit)
{
	const u64 *x = vcpu->arch.x;
	u32 fid = (u32)x[0]; /* SMCCC: the function ID is W0; the upper half is ignored */
	u64 pc = vcpu->arch.elr - 4;

	if (unlikely(!(fid & SMCCC_FAST) || SMCCC_OWNER(fid) != SMCCC_OWNER_VENDOR_HYP)) {
		exit_init(exit, pc);
		vcpu_smccc_other(vcpu, exit, false, fid);
		return;
	}
	exit_hypercall(exit, pc, fid, true);
}

/* The syndrome of HVC #0, the only HVC immediate SMCCC uses. */
static inline bool vcpu_is_hvc0(u64 esr)
{
	return ESR_EC(esr) == EC_HVC64 && !(ESR_ISS(esr) & 0xffff);
}

/* ---- Exit decoding ------------------------------------------------------ */

static void vcpu_fault(struct vm_exit *exit, u32 reason, u64 code, u64 addr)
{
	exit->kind = EXIT_FAULT;
	exit->fault.reason = reason;
	exit->fault.code = code;
	exit->fault.addr = addr;
}

static gpa_t vcpu_fault_ipa(struct vcpu *vcpu, u64 iss)
{
	gpa_t page = ((vcpu->arch.hpfar >> 4) & 0xffffffffffull) << 12;

	/* FnV: FAR holds nothing useful, only the page is known. */
	return (iss & DABT_FNV) ? page : page | (vcpu->arch.far & 0xfff);
}

static void vcpu_data_abort(struct vcpu *vcpu, struct vm_exit *exit)
{
	u64 iss = ESR_ISS(vcpu->arch.esr);
	u32 dfsc = DABT_DFSC(iss);
	gpa_t gpa = vcpu_fault_ipa(vcpu, iss);
	u32 size, reg;
	u64 data;

	/* Only translation, access flag and permission faults have an IPA. */
	if (dfsc < 0x04 || dfsc > 0x0f) {
		vcpu_fault(exit, FAULT_ILLEGAL, vcpu->arch.esr, gpa);
		return;
	}
	/* Its own RAM: the entry was being changed (break-before-make); run it again. */
	if (guest_range_is_ram(vcpu->part, gpa, 1)) {
		exit_retry(exit, gpa);
		return;
	}
	exit->kind = EXIT_MMIO;
	exit->mmio.gpa = gpa;
	if (!(iss & DABT_ISV) || (iss & DABT_S1PTW) || !(vcpu->arch.esr & ESR_IL)) {
		exit->mmio.size = 0; /* not decodable from the syndrome */
		exit->mmio.write = !!(iss & DABT_WNR);
		return;
	}
	size = 1u << DABT_SAS(iss);
	reg = DABT_SRT(iss);
	exit->mmio.size = (u8)size;
	if (iss & DABT_WNR) {
		data = reg < 31 ? vcpu->arch.x[reg] : 0;
		if (size < 8)
			data &= (1ull << (size * 8)) - 1;
		exit->mmio.write = 1;
		exit->mmio.data = data;
		/* Nothing to give back: the write is complete once core sees it. */
		vcpu->arch.elr += 4;
		return;
	}
	vcpu->arch.mmio_pending = 1;
	vcpu->arch.mmio_reg = (u8)reg;
	vcpu->arch.mmio_size = (u8)size;
	vcpu->arch.mmio_sign = !!(iss & DABT_SSE);
	vcpu->arch.mmio_64 = !!(iss & DABT_SF);
}

/* A trapped read: the feature ID registers (HCR_EL2.TID3). */
static bool vcpu_sysreg_read(struct vcpu *vcpu, u64 iss)
{
	u32 op0 = (iss >> 20) & 3, op2 = (iss >> 17) & 7, op1 = (iss >> 14) & 7;
	u32 crn = (iss >> 10) & 0xf, crm = (iss >> 1) & 0xf;
	u64 value;

	if (op0 != 3 || op1 != 0 || crn != 0 || !vidreg_read(crm, op2, &value))
		return false;
	vcpu_set_x(vcpu, SYSREG_RT(iss), value);
	return true;
}

/* A trapped write: the GIC's SGI generation (HCR_EL2.IMO traps it). */
static bool vcpu_sysreg_write(struct vcpu *vcpu, u64 iss)
{
	u64 id = iss & SYSREG_ID_MASK;
	u32 rt = SYSREG_RT(iss);

	if (id != SYSREG_ICC_SGI1R && id != SYSREG_ICC_ASGI1R && id != SYSREG_ICC_SGI0R)
		return false;
	/* Group 0 and alternate-group SGIs reach no Linux guest: ignored. */
	if (id == SYSREG_ICC_SGI1R)
		vgic_sgi_write(vcpu, rt < 31 ? vcpu->arch.x[rt] : 0);
	return true;
}

#define VCPU_SYSREG_WARN_MAX 16u

/*
 * A trapped system register Keel does not emulate (a write to an ID
 * register, a PMU register where the guest has no PMU...): UNDEFINED, as
 * on a CPU without it; said a few times per partition.
 */
static void vcpu_sysreg_refused(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct partition *part = vcpu->part;
	u64 iss = ESR_ISS(vcpu->arch.esr);

	if (part->arch.sysreg_warned < VCPU_SYSREG_WARN_MAX) {
		part->arch.sysreg_warned++;
		pr_warn("partition '%s': %s of system register op0 %llu op1 %llu CRn %llu CRm %llu op2 %llu at pc 0x%llx: undefined%s",
			part->desc.h.name, (iss & SYSREG_READ) ? "read" : "write",
			(unsigned long long)((iss >> 20) & 3),
			(unsigned long long)((iss >> 14) & 7),
			(unsigned long long)((iss >> 10) & 0xf),
			(unsigned long long)((iss >> 1) & 0xf),
			(unsigned long long)((iss >> 17) & 7), (unsigned long long)vcpu->arch.elr,
			part->arch.sysreg_warned == VCPU_SYSREG_WARN_MAX ? " (no more reports)"
									 : "");
	}
	vcpu_inject_undef(vcpu, exit);
}

static void vcpu_sysreg(struct vcpu *vcpu, struct vm_exit *exit)
{
	u64 iss = ESR_ISS(vcpu->arch.esr);
	bool done =
		(iss & SYSREG_READ) ? vcpu_sysreg_read(vcpu, iss) : vcpu_sysreg_write(vcpu, iss);

	if (!done) {
		vcpu_sysreg_refused(vcpu, exit);
		return;
	}
	vcpu->arch.elr += 4;
	exit->kind = EXIT_NONE;
}

static void vcpu_decode_sync(struct vcpu *vcpu, struct vm_exit *exit)
{
	u64 esr = vcpu->arch.esr;
	u64 iss = ESR_ISS(esr);

	switch (ESR_EC(esr)) {
	case EC_HVC64:
		/* HVC #0 never comes here (arch_vcpu_run takes it first): another immediate. */
		exit->pc = vcpu->arch.elr - 4; /* ELR is past the HVC already */
		vcpu->arch.x[0] = SMCCC_NOT_SUPPORTED;
		exit->kind = EXIT_NONE;
		break;
	case EC_SMC64:
		/* A trapped SMC returns to itself: step over it. None is one of Keel's calls. */
		vcpu->arch.elr += 4;
		vcpu_smccc_other(vcpu, exit, true, (u32)vcpu->arch.x[0]);
		break;
	case EC_WFX:
		vcpu->arch.elr += 4;
		exit->kind = (iss & 3) == 0 ? EXIT_HALT : EXIT_NONE; /* WFI halts; WFE/WFxT retry */
		break;
	case EC_DABT_LOW:
		vcpu_data_abort(vcpu, exit);
		break;
	case EC_IABT_LOW:
		/* As for data: a translation, access or permission fault on RAM is a change in flight. */
		if (DABT_DFSC(iss) >= 0x04 && DABT_DFSC(iss) <= 0x0f &&
		    guest_range_is_ram(vcpu->part, vcpu_fault_ipa(vcpu, iss), 1))
			exit_retry(exit, vcpu_fault_ipa(vcpu, iss));
		else
			vcpu_fault(exit, FAULT_FETCH, esr, vcpu_fault_ipa(vcpu, iss));
		break;
	case EC_SYSREG:
		vcpu_sysreg(vcpu, exit);
		break;
	case EC_SVE:
		/* SVE is hidden from guests (vidreg.c): undefined, as on a CPU without it. */
		vcpu_inject_undef(vcpu, exit);
		break;
	default:
		vcpu_fault(exit, FAULT_ILLEGAL, esr, vcpu->arch.far);
		break;
	}
}

void arch_vcpu_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct vcpu_arch *a = &vcpu->arch;
	struct pcpu *cpu;
	u64 reason;

	a->mmio_pending = 0;
	/* A vCPU that did CPU_OFF: held, or restarted by a CPU_ON (vpsci.c). */
	if (unlikely(__atomic_load_n(&a->psci_state, __ATOMIC_ACQUIRE) != VPSCI_ON)) {
		exit_init(exit, a->elr);
		if (vpsci_hold_off(vcpu, exit))
			return;
	}
	write_sysreg(vttbr_el2, vcpu->part->arch.vttbr);
	write_sysreg(vmpidr_el2, a->mpidr);
	isb();

	vgic_flush(vcpu);
	cpu = pcpu_this();
	a->bhb = cpu->arch.bhb;
	/* From here to the exit no C library call: FP/SIMD is the guest's. */
	vcpu_fp_load(&cpu->arch, &a->fp);
	reason = el2_guest_enter(a);
	/* The guest's FP/SIMD stays live; Keel's first use saves it (el2_fp_flush). */
	write_sysreg(cptr_el2, CPTR_EL2_BASE | CPTR_EL2_TFP);
	isb();
	vgic_sync(vcpu);

	a->esr = read_sysreg(esr_el2);
	a->far = read_sysreg(far_el2);
	a->hpfar = read_sysreg(hpfar_el2);
	if (likely(reason == GUEST_EXIT_SYNC && vcpu_is_hvc0(a->esr))) {
		vcpu_hvc(vcpu, exit);
		return;
	}
	exit_init(exit, a->elr);

	switch (reason) {
	case GUEST_EXIT_SYNC:
		vcpu_decode_sync(vcpu, exit);
		break;
	case GUEST_EXIT_IRQ:
		gic_handle_irq();
		exit->kind = EXIT_INTERRUPT;
		break;
	default: /* SError, or an exception from AArch32 EL0 */
		vcpu_fault(exit, FAULT_ILLEGAL, a->esr, 0);
		break;
	}
}

void arch_vcpu_hc_args(const struct vcpu *vcpu, u64 a[6])
{
	const u64 *x = vcpu->arch.x;

	/* X1..X6, one by one: a memcpy call would cost more than the copy. */
	a[0] = x[1];
	a[1] = x[2];
	a[2] = x[3];
	a[3] = x[4];
	a[4] = x[5];
	a[5] = x[6];
}

void arch_vcpu_hc_return(struct vcpu *vcpu, s64 status, u64 r0, u64 r1, u64 r2)
{
	u64 *x = vcpu->arch.x;

	x[0] = (u64)status;
	x[1] = r0;
	x[2] = r1;
	x[3] = r2;
}

/* No port I/O on arm64. */
bool arch_port_is_probe(u32 port)
{
	return false;
}

void arch_vcpu_io_return(struct vcpu *vcpu, u64 value)
{
	struct vcpu_arch *a = &vcpu->arch;
	u32 bits;

	if (!a->mmio_pending)
		return; /* a write: already complete */
	bits = a->mmio_size * 8u;
	if (bits < 64) {
		value &= (1ull << bits) - 1;
		if (a->mmio_sign && (value & (1ull << (bits - 1))))
			value |= ~0ull << bits;
	}
	if (!a->mmio_64)
		value &= 0xffffffffull;
	vcpu_set_x(vcpu, a->mmio_reg, value);
	a->elr += 4;
	a->mmio_pending = 0;
}
