/* SPDX-License-Identifier: MIT */
/*
 * vCPUs at EL1: entry state, the run loop around the world switch, and the
 * decoding of ESR_EL2 into core's generic exits. Every guest value (syndrome
 * fields, registers) is range-checked before it is used.
 */
#include <keel/arch.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pcpu.h>

#include "aarch64.h"

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

#define PSCI_VERSION 0x84000000u
#define PSCI_CPU_OFF 0x84000002u
#define PSCI_CPU_ON_32 0x84000003u
#define PSCI_CPU_ON_64 0xc4000003u
#define PSCI_AFFINITY_INFO_32 0x84000004u
#define PSCI_AFFINITY_INFO_64 0xc4000004u
#define PSCI_MIGRATE_INFO_TYPE 0x84000006u
#define PSCI_SYSTEM_OFF 0x84000008u
#define PSCI_SYSTEM_RESET 0x84000009u
#define PSCI_FEATURES 0x8400000au
#define PSCI_VERSION_1_1 0x10001u
#define PSCI_RET_NOT_SUPPORTED ((u64)-1)
#define PSCI_RET_INVALID_PARAMS ((u64)-2)
#define PSCI_TOS_NOT_PRESENT 2

#define MPIDR_AFF_MASK 0xff00ffffffull

int arch_vcpu_init(struct vcpu *vcpu)
{
	memset(&vcpu->arch, 0, sizeof(vcpu->arch));
	/* MPIDR the guest sees: bit 31 RES1, Aff0 = vCPU index. */
	vcpu->arch.mpidr = BIT(31) | (vcpu->index & 0xff) | (((u64)vcpu->index >> 8) & 0xff) << 8;
	return 0;
}

void arch_vcpu_destroy(struct vcpu *vcpu)
{
}

int arch_part_prepare(struct partition *part)
{
	return 0;
}

/* EL1 system registers to their reset state; on the vCPU's own pCPU. */
static void vcpu_reset_el1(gpa_t stack)
{
	write_sysreg(sctlr_el1, SCTLR_EL1_RESET);
	write_sysreg(vbar_el1, 0);
	write_sysreg(tcr_el1, 0);
	write_sysreg(ttbr0_el1, 0);
	write_sysreg(ttbr1_el1, 0);
	write_sysreg(mair_el1, 0);
	write_sysreg(amair_el1, 0);
	write_sysreg(cpacr_el1, 0);
	write_sysreg(sp_el1, stack);
	write_sysreg(sp_el0, 0);
	write_sysreg(elr_el1, 0);
	write_sysreg(spsr_el1, 0);
	write_sysreg(esr_el1, 0);
	write_sysreg(far_el1, 0);
	write_sysreg(afsr0_el1, 0);
	write_sysreg(afsr1_el1, 0);
	write_sysreg(par_el1, 0);
	write_sysreg(contextidr_el1, 0);
	write_sysreg(tpidr_el1, 0);
	write_sysreg(tpidrro_el0, 0);
	write_sysreg(csselr_el1, 0);
	write_sysreg(mdscr_el1, 0);
	write_sysreg(cntkctl_el1, 0);
	write_sysreg(cntv_ctl_el0, 0);
	write_sysreg(cntp_ctl_el0, 0);
	write_sysreg(cntv_cval_el0, 0);
	write_sysreg(cntp_cval_el0, 0);
	isb();
}

void arch_vcpu_reset(struct vcpu *vcpu, const struct vcpu_entry *e)
{
	struct vcpu_arch *a = &vcpu->arch;
	u64 mpidr = a->mpidr;

	memset(a, 0, sizeof(*a));
	a->mpidr = mpidr;
	a->x[0] = e->arg;
	a->elr = e->pc;
	a->spsr = SPSR_EL1H | SPSR_DAIF;
	a->need_cache_clean = 1;
	vcpu_reset_el1(e->sp);
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

	for (u32 i = 0; i < part->mem_count && i < KEEL_MAX_MEM_REGIONS; i++) {
		u64 a = part->mem[i].hpa, end = a + part->mem[i].size;

		for (; a < end; a += line)
			__asm__ volatile("dc civac, %0" : : "r"(a) : "memory");
	}
	dsb(ish);
	__asm__ volatile("ic iallu\n\ttlbi vmalls12e1" ::: "memory");
	dsb(nsh);
	isb();
}

static void vcpu_set_x(struct vcpu *vcpu, u32 reg, u64 val)
{
	if (reg < 31)
		vcpu->arch.x[reg] = val;
}

/* ---- SMCCC and PSCI, for HVC #0 and trapped SMC ------------------------- */

static bool psci_is_supported(u32 fid)
{
	switch (fid) {
	case PSCI_VERSION:
	case PSCI_FEATURES:
	case PSCI_CPU_OFF:
	case PSCI_AFFINITY_INFO_32:
	case PSCI_AFFINITY_INFO_64:
	case PSCI_MIGRATE_INFO_TYPE:
	case PSCI_SYSTEM_OFF:
	case PSCI_SYSTEM_RESET:
	case SMCCC_VERSION:
		return true;
	default:
		return false;
	}
}

static u64 psci_affinity_info(struct vcpu *vcpu, u64 target, u64 level)
{
	struct partition *part = vcpu->part;

	if (level != 0)
		return PSCI_RET_INVALID_PARAMS;
	for (u32 i = 0; i < part->vcpu_count && i < KEEL_MAX_CPUS; i++) {
		struct vcpu *v = part->vcpus[i];

		if (v && (v->arch.mpidr & MPIDR_AFF_MASK) == (target & MPIDR_AFF_MASK))
			return v == vcpu || READ_ONCE(v->state) != VCPU_OFF ? 0 : 1;
	}
	return PSCI_RET_INVALID_PARAMS;
}

static void vcpu_shutdown(struct vm_exit *exit, u32 reason, u32 fid)
{
	exit->kind = EXIT_SHUTDOWN;
	exit->fault.reason = reason;
	exit->fault.code = fid;
}

/* Returns true if @fid was a PSCI call (result or exit already set). */
static bool psci_emulate(struct vcpu *vcpu, u32 fid, struct vm_exit *exit)
{
	u64 *x = vcpu->arch.x;

	if (!((fid >= 0x84000000u && fid <= 0x8400001fu) ||
	      (fid >= 0xc4000000u && fid <= 0xc400001fu)))
		return false;
	exit->kind = EXIT_NONE;
	switch (fid) {
	case PSCI_VERSION:
		x[0] = PSCI_VERSION_1_1;
		break;
	case PSCI_FEATURES:
		x[0] = psci_is_supported((u32)x[1]) && !(x[1] >> 32) ? 0 : PSCI_RET_NOT_SUPPORTED;
		break;
	case PSCI_AFFINITY_INFO_32:
		x[0] = psci_affinity_info(vcpu, (u32)x[1], (u32)x[2]);
		break;
	case PSCI_AFFINITY_INFO_64:
		x[0] = psci_affinity_info(vcpu, x[1], x[2]);
		break;
	case PSCI_MIGRATE_INFO_TYPE:
		x[0] = PSCI_TOS_NOT_PRESENT;
		break;
	case PSCI_CPU_OFF:
		/* No CPU_ON yet, so the only running vCPU is going away. */
		vcpu_shutdown(exit, FAULT_POWEROFF, fid);
		break;
	case PSCI_SYSTEM_OFF:
		vcpu_shutdown(exit, FAULT_POWEROFF, fid);
		break;
	case PSCI_SYSTEM_RESET:
		vcpu_shutdown(exit, FAULT_RESET, fid);
		break;
	default: /* CPU_ON (not yet), SUSPEND, SYSTEM_RESET2, ... */
		x[0] = PSCI_RET_NOT_SUPPORTED;
		break;
	}
	return true;
}

static void vcpu_smccc(struct vcpu *vcpu, struct vm_exit *exit, bool smc)
{
	u64 *x = vcpu->arch.x;
	u32 fid = (u32)x[0];

	if (!(x[0] >> 32) && psci_emulate(vcpu, fid, exit))
		return;
	exit->kind = EXIT_NONE;
	if (x[0] == SMCCC_VERSION) {
		x[0] = SMCCC_VERSION_1_1;
		return;
	}
	/* Arm architecture calls (workarounds...): none offered. */
	if ((x[0] >> 16) == 0x8000) {
		x[0] = SMCCC_NOT_SUPPORTED;
		return;
	}
	/* Keel's hypercalls use HVC; an SMC reaches no secure firmware. */
	if (smc) {
		x[0] = SMCCC_NOT_SUPPORTED;
		return;
	}
	exit->kind = EXIT_HYPERCALL;
	exit->hc.fn = x[0];
	for (int i = 0; i < 6; i++)
		exit->hc.args[i] = x[i + 1];
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

static void vcpu_decode_sync(struct vcpu *vcpu, struct vm_exit *exit)
{
	u64 esr = vcpu->arch.esr;
	u64 iss = ESR_ISS(esr);

	switch (ESR_EC(esr)) {
	case EC_HVC64:
		/* ELR is past the HVC already. */
		exit->pc = vcpu->arch.elr - 4;
		if (iss & 0xffff) {
			vcpu->arch.x[0] = SMCCC_NOT_SUPPORTED;
			exit->kind = EXIT_NONE;
			return;
		}
		vcpu_smccc(vcpu, exit, false);
		break;
	case EC_SMC64:
		/* A trapped SMC returns to itself: step over it. */
		vcpu->arch.elr += 4;
		vcpu_smccc(vcpu, exit, true);
		break;
	case EC_WFX:
		vcpu->arch.elr += 4;
		exit->kind = (iss & 3) == 0 ? EXIT_HALT : EXIT_NONE; /* WFI halts; WFE/WFxT retry */
		break;
	case EC_DABT_LOW:
		vcpu_data_abort(vcpu, exit);
		break;
	case EC_IABT_LOW:
		vcpu_fault(exit, FAULT_FETCH, esr, vcpu_fault_ipa(vcpu, iss));
		break;
	case EC_SYSREG:
		vcpu_fault(exit, FAULT_SYSREG, esr, 0);
		break;
	default:
		vcpu_fault(exit, FAULT_ILLEGAL, esr, vcpu->arch.far);
		break;
	}
}

void arch_vcpu_run(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct vcpu_arch *a = &vcpu->arch;
	u64 reason;

	memset(exit, 0, sizeof(*exit));
	a->mmio_pending = 0;
	write_sysreg(vttbr_el2, vcpu->part->arch.vttbr);
	write_sysreg(vmpidr_el2, a->mpidr);
	isb();
	if (a->need_cache_clean) {
		vcpu_clean_guest_ram(vcpu);
		a->need_cache_clean = 0;
	}

	/* From here to the exit no C library call: FP and TPIDR_EL0 are the guest's. */
	el2_fpsimd_restore(&a->fp);
	write_sysreg(tpidr_el0, a->tpidr_el0);
	reason = el2_guest_enter(a);
	a->tpidr_el0 = read_sysreg(tpidr_el0);
	write_sysreg(tpidr_el0, pcpu_this()->arch.tls);
	el2_fpsimd_save(&a->fp);

	a->esr = read_sysreg(esr_el2);
	a->far = read_sysreg(far_el2);
	a->hpfar = read_sysreg(hpfar_el2);
	exit->pc = a->elr;

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

void arch_vcpu_hc_return(struct vcpu *vcpu, s64 status, const u64 res[3])
{
	vcpu->arch.x[0] = (u64)status;
	for (int i = 0; i < 3; i++)
		vcpu->arch.x[i + 1] = res ? res[i] : 0;
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
