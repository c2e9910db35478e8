/* SPDX-License-Identifier: MIT */
/*
 * What a core carries from one guest to the next, aarch64: the EL1 state
 * guests own directly (breakpoints, watchpoints, the PMU, pointer-
 * authentication keys) reset at every vCPU reset, and the PMU and debug
 * controls of MDCR_EL2 that keep a guest's counters and breakpoints off
 * Keel's own execution.
 */
#include <keel/console.h>
#include <keel/pcpu.h>
#include <keel/types.h>

#include "aarch64.h"
#include "bhb.h"
#include "vplat.h"

#define DFR0_BRPS(d) ((u32)(((d) >> 12) & 0xf) + 1) /* 1..16 */
#define DFR0_WRPS(d) ((u32)(((d) >> 20) & 0xf) + 1)
#define DFR0_PMUVER(d) (((d) >> 8) & 0xf)
#define PMUVER_V3P1 4u
#define PMUVER_V3P5 6u
#define PMUVER_IMPDEF 0xfu

#define MDCR_TPMCR BIT(5)
#define MDCR_TPM BIT(6)
#define MDCR_HPMD BIT(17) /* no event counting at EL2 (PMUv3p1) */
#define MDCR_HCCD BIT(23) /* no cycle counting at EL2 (PMUv3p5) */

#define PMCR_P BIT(1) /* reset the event counters */
#define PMCR_C BIT(2) /* reset the cycle counter */
#define PMCR_N(pmcr) (((pmcr) >> 11) & 0x1f)

/* ID_AA64ISAR1_EL1 APA, API, GPA, GPI; ID_AA64ISAR2_EL1 APA3, GPA3 */
#define ISAR1_PAUTH (FIELD(4) | FIELD(8) | FIELD(24) | FIELD(28))
#define ISAR2_PAUTH (FIELD(8) | FIELD(12))
#define FIELD(shift) (0xfull << (shift))
#define ID_AA64ISAR2_EL1 s3_0_c0_c6_2

static bool scrub_pmu_guest; /* guests own the PMU (v3p1+: EL2 excluded) */

static bool scrub_has_pmu(void)
{
	u64 ver = DFR0_PMUVER(read_sysreg(id_aa64dfr0_el1));

	return ver != 0 && ver != PMUVER_IMPDEF;
}

/*
 * MDCR_EL2 for guests: all PMU counters theirs where the PMU can be told not
 * to count at EL2 (PMUv3p1 HPMD, PMUv3p5 HCCD); else PMU accesses trap and
 * the guest sees no PMU. Debug exceptions stay at EL1 (TDE clear): a
 * guest's breakpoints and watchpoints never fire in Keel.
 */
u64 scrub_mdcr_el2(void)
{
	u64 ver = DFR0_PMUVER(read_sysreg(id_aa64dfr0_el1));
	u64 mdcr;

	if (!scrub_has_pmu())
		return MDCR_TPM | MDCR_TPMCR;
	mdcr = PMCR_N(read_sysreg(pmcr_el0)); /* HPMN: every counter */
	if (ver < PMUVER_V3P1)
		return mdcr | MDCR_TPM | MDCR_TPMCR;
	scrub_pmu_guest = true;
	mdcr |= MDCR_HPMD;
	if (ver >= PMUVER_V3P5)
		mdcr |= MDCR_HCCD;
	return mdcr;
}

bool scrub_guest_has_pmu(void)
{
	return scrub_pmu_guest;
}

/* What ID_AA64DFR0_EL1.PMUVer a guest reads: 0 where Keel keeps the PMU from it. */
u64 scrub_guest_dfr0(u64 dfr0)
{
	return scrub_pmu_guest ? dfr0 : dfr0 & ~(0xfull << 8);
}

/*
 * DBGBVRn_EL1 (op2 4), DBGBCRn (5), DBGWVRn (6), DBGWCRn (7): the register
 * number is in the encoding, so each is a case of its own.
 */
/* clang-format off */
#define DBG_16(X, op2)                                                            \
	X(0, op2) X(1, op2) X(2, op2) X(3, op2) X(4, op2) X(5, op2) X(6, op2)      \
	X(7, op2) X(8, op2) X(9, op2) X(10, op2) X(11, op2) X(12, op2) X(13, op2)  \
	X(14, op2) X(15, op2)
#define DBG_RD(n, op2) case n: return read_sysreg(s2_0_c0_c##n##_##op2);
#define DBG_WR(n, op2) case n: write_sysreg(s2_0_c0_c##n##_##op2, v); return;
/* clang-format on */

static u64 dbg_read(u32 op2, u32 n)
{
	switch (op2) {
	case 4:
		switch (n) {
			DBG_16(DBG_RD, 4)
		}
		break;
	case 5:
		switch (n) {
			DBG_16(DBG_RD, 5)
		}
		break;
	case 6:
		switch (n) {
			DBG_16(DBG_RD, 6)
		}
		break;
	case 7:
		switch (n) {
			DBG_16(DBG_RD, 7)
		}
		break;
	}
	return 0;
}

static void dbg_write(u32 op2, u32 n, u64 v)
{
	switch (op2) {
	case 4:
		switch (n) {
			DBG_16(DBG_WR, 4)
		}
		break;
	case 5:
		switch (n) {
			DBG_16(DBG_WR, 5)
		}
		break;
	case 6:
		switch (n) {
			DBG_16(DBG_WR, 6)
		}
		break;
	case 7:
		switch (n) {
			DBG_16(DBG_WR, 7)
		}
		break;
	}
}

#define OSLSR_OSLK BIT(1)

void scrub_debug_save(struct vcpu_debug_regs *d)
{
	u64 dfr0 = read_sysreg(id_aa64dfr0_el1);
	u32 i;

	for (i = 0; i < DFR0_BRPS(dfr0) && i < 16; i++) {
		d->bvr[i] = dbg_read(4, i);
		d->bcr[i] = dbg_read(5, i);
	}
	for (i = 0; i < DFR0_WRPS(dfr0) && i < 16; i++) {
		d->wvr[i] = dbg_read(6, i);
		d->wcr[i] = dbg_read(7, i);
	}
	d->mdscr = read_sysreg(mdscr_el1);
	d->mdccint = read_sysreg(mdccint_el1);
	d->oslk = !!(read_sysreg(oslsr_el1) & OSLSR_OSLK);
}

/* The OS lock last: while it is set, a guest's debug state is its own to save. */
void scrub_debug_restore(const struct vcpu_debug_regs *d)
{
	u64 dfr0 = read_sysreg(id_aa64dfr0_el1);
	u32 i;

	for (i = 0; i < DFR0_BRPS(dfr0) && i < 16; i++) {
		dbg_write(4, i, d->bvr[i]);
		dbg_write(5, i, d->bcr[i]);
	}
	for (i = 0; i < DFR0_WRPS(dfr0) && i < 16; i++) {
		dbg_write(6, i, d->wvr[i]);
		dbg_write(7, i, d->wcr[i]);
	}
	write_sysreg(mdscr_el1, d->mdscr);
	write_sysreg(mdccint_el1, d->mdccint);
	write_sysreg(oslar_el1, d->oslk);
}

static void scrub_debug(void)
{
	static const struct vcpu_debug_regs reset = { .oslk = 1 }; /* locked after a reset */

	scrub_debug_restore(&reset);
}

#define PMCR_WRITABLE 0xffu /* E, P, C, D, X, DP, LC, LP */

/* Select event counter @i for PMXEVTYPER/PMXEVCNTR. */
static void pmu_select(u32 i)
{
	write_sysreg(pmselr_el0, i);
	isb();
}

/* Counting stops first, so each value is the one at the moment of the save. */
void scrub_pmu_save(struct vcpu_pmu_regs *p)
{
	u32 n, i;

	if (!scrub_pmu_guest)
		return;
	p->cnten = read_sysreg(pmcntenset_el0);
	write_sysreg(pmcntenclr_el0, 0xffffffffull);
	isb();
	p->pmcr = read_sysreg(pmcr_el0) & PMCR_WRITABLE;
	p->inten = read_sysreg(pmintenset_el1);
	p->ovs = read_sysreg(pmovsset_el0);
	p->userenr = read_sysreg(pmuserenr_el0);
	p->selr = read_sysreg(pmselr_el0);
	p->ccfiltr = read_sysreg(pmccfiltr_el0);
	p->ccntr = read_sysreg(pmccntr_el0);
	n = MIN(PMCR_N(read_sysreg(pmcr_el0)), 31u);
	for (i = 0; i < n; i++) {
		pmu_select(i);
		p->evtyper[i] = read_sysreg(pmxevtyper_el0);
		p->evcntr[i] = read_sysreg(pmxevcntr_el0);
	}
}

/* Everything with the counters stopped; the enables last. */
void scrub_pmu_restore(const struct vcpu_pmu_regs *p)
{
	u32 n, i;

	if (!scrub_pmu_guest)
		return;
	write_sysreg(pmcntenclr_el0, 0xffffffffull);
	write_sysreg(pmcr_el0, p->pmcr & ~(PMCR_P | PMCR_C));
	n = MIN(PMCR_N(read_sysreg(pmcr_el0)), 31u);
	for (i = 0; i < n; i++) {
		pmu_select(i);
		write_sysreg(pmxevtyper_el0, p->evtyper[i]);
		write_sysreg(pmxevcntr_el0, p->evcntr[i]);
	}
	write_sysreg(pmselr_el0, p->selr);
	write_sysreg(pmccfiltr_el0, p->ccfiltr);
	write_sysreg(pmccntr_el0, p->ccntr);
	write_sysreg(pmuserenr_el0, p->userenr);
	write_sysreg(pmintenclr_el1, 0xffffffffull);
	write_sysreg(pmintenset_el1, p->inten);
	write_sysreg(pmovsclr_el0, 0xffffffffull);
	write_sysreg(pmovsset_el0, p->ovs);
	isb();
	write_sysreg(pmcntenset_el0, p->cnten);
}

/* Counters stopped, zeroed and unfiltered; no overflow, no interrupt, no EL0 access. */
static void scrub_pmu(void)
{
	u32 n = PMCR_N(read_sysreg(pmcr_el0)), i;

	write_sysreg(pmcntenclr_el0, 0xffffffffull);
	write_sysreg(pmintenclr_el1, 0xffffffffull);
	write_sysreg(pmovsclr_el0, 0xffffffffull);
	write_sysreg(pmcr_el0, PMCR_P | PMCR_C);
	write_sysreg(pmuserenr_el0, 0);
	write_sysreg(pmccfiltr_el0, 0);
	for (i = 0; i < n; i++) {
		pmu_select(i);
		write_sysreg(pmxevtyper_el0, 0);
	}
	write_sysreg(pmselr_el0, 0);
}

void scrub_debug_pmu_reset(void)
{
	scrub_debug();
	if (scrub_has_pmu())
		scrub_pmu();
}

static bool scrub_has_pauth(void)
{
	return (read_sysreg(id_aa64isar1_el1) & ISAR1_PAUTH) ||
	       (read_sysreg(ID_AA64ISAR2_EL1) & ISAR2_PAUTH);
}

/* APIA, APIB, APDA, APDB, APGA: Lo then Hi each. */
/* clang-format off */
#define PAUTH_KEYS(X)                                                        \
	X(0, s3_0_c2_c1_0) X(1, s3_0_c2_c1_1) X(2, s3_0_c2_c1_2)               \
	X(3, s3_0_c2_c1_3) X(4, s3_0_c2_c2_0) X(5, s3_0_c2_c2_1)               \
	X(6, s3_0_c2_c2_2) X(7, s3_0_c2_c2_3) X(8, s3_0_c2_c3_0) X(9, s3_0_c2_c3_1)
/* clang-format on */

void scrub_pauth_save(u64 keys[10])
{
	if (!scrub_has_pauth())
		return;
#define PAUTH_SAVE(i, reg) keys[i] = read_sysreg(reg);
	PAUTH_KEYS(PAUTH_SAVE)
}

void scrub_pauth_restore(const u64 keys[10])
{
	if (!scrub_has_pauth())
		return;
#define PAUTH_RESTORE(i, reg) write_sysreg(reg, keys[i]);
	PAUTH_KEYS(PAUTH_RESTORE)
}

/* Keys to zero: a guest sets its own before it enables authentication. */
static void scrub_pauth(void)
{
	if (!scrub_has_pauth())
		return;
	write_sysreg(s3_0_c2_c1_0, 0); /* APIAKeyLo_EL1 */
	write_sysreg(s3_0_c2_c1_1, 0);
	write_sysreg(s3_0_c2_c1_2, 0); /* APIBKey */
	write_sysreg(s3_0_c2_c1_3, 0);
	write_sysreg(s3_0_c2_c2_0, 0); /* APDAKey */
	write_sysreg(s3_0_c2_c2_1, 0);
	write_sysreg(s3_0_c2_c2_2, 0); /* APDBKey */
	write_sysreg(s3_0_c2_c2_3, 0);
	write_sysreg(s3_0_c2_c3_0, 0); /* APGAKey */
	write_sysreg(s3_0_c2_c3_1, 0);
}

/* On the vCPU's CPU at every reset, before the guest's first instruction. */
void scrub_vcpu(void)
{
	scrub_debug_pmu_reset();
	scrub_pauth();
	isb();
}

/* ---- SMCCC speculation workarounds (SMCCC 1.1+ arch calls) ------------------ */

#define SMCCC_VERSION 0x80000000u
#define SMCCC_ARCH_FEATURES 0x80000001u
#define SMCCC_WORKAROUND_1 0x80008000u /* branch predictor invalidation (Spectre v2) */
#define SMCCC_WORKAROUND_2 0x80007fffu /* speculative store bypass */
#define SMCCC_WORKAROUND_3 0x80003fffu /* branch history (Spectre-BHB) */
#define SMCCC_RET_NOT_SUPPORTED ((u64)-1)
#define SMCCC_WA_UNAFFECTED 1u

#define PFR0_CSV2(p) (((p) >> 56) & 0xf)
#define PFR1_SSBS(p) (((p) >> 4) & 0xf)
#define MMFR1_ECBHB(m) (((m) >> 60) & 0xf)

u64 smccc_smc(u64 fn, u64 a1, u64 a2, u64 a3);
u64 psci_call(u64 fn, u64 a1, u64 a2, u64 a3);

/* This PE is not affected by what workaround @fid addresses (from its ID registers). */
static bool scrub_pe_unaffected(u32 fid)
{
	u64 pfr0 = read_sysreg(id_aa64pfr0_el1);

	switch (fid) {
	case SMCCC_WORKAROUND_1:
		return PFR0_CSV2(pfr0) >= 1;
	case SMCCC_WORKAROUND_2:
		return PFR1_SSBS(read_sysreg(id_aa64pfr1_el1)) >= 1; /* the guest has PSTATE.SSBS */
	default:
		return PFR0_CSV2(pfr0) >= 3 || MMFR1_ECBHB(read_sysreg(id_aa64mmfr1_el1)) >= 1;
	}
}

/* The firmware's own answer (0: it implements the workaround), where it speaks SMCCC 1.1. */
static bool scrub_firmware_has(u32 fid)
{
	s64 ver = (s64)psci_call(SMCCC_VERSION, 0, 0, 0);

	if (ver < 0x10001)
		return false;
	return (s64)psci_call(SMCCC_ARCH_FEATURES, fid, 0, 0) == 0;
}

static bool scrub_is_workaround(u32 fid)
{
	return fid == SMCCC_WORKAROUND_1 || fid == SMCCC_WORKAROUND_2 || fid == SMCCC_WORKAROUND_3;
}

/*
 * SMCCC_ARCH_FEATURES(@fid) as a guest asks it: 1 where this CPU is not
 * affected, 0 where the firmware below Keel implements the workaround (the
 * guest's calls are passed to it), else NOT_SUPPORTED: the honest "no
 * mitigation here" that Linux reports as vulnerable.
 */
u64 scrub_smccc_features(u32 fid)
{
	if (fid == SMCCC_VERSION || fid == SMCCC_ARCH_FEATURES)
		return 0;
	if (!scrub_is_workaround(fid))
		return SMCCC_RET_NOT_SUPPORTED;
	if (scrub_pe_unaffected(fid))
		return SMCCC_WA_UNAFFECTED;
	return scrub_firmware_has(fid) ? 0 : SMCCC_RET_NOT_SUPPORTED;
}

/* A guest's workaround call: done by the firmware where it has it; false if not ours. */
bool scrub_smccc_workaround(u32 fid, u64 arg, u64 *ret)
{
	if (!scrub_is_workaround(fid))
		return false;
	if (scrub_pe_unaffected(fid) || !scrub_firmware_has(fid)) {
		*ret = scrub_pe_unaffected(fid) ? 0 : SMCCC_RET_NOT_SUPPORTED;
		return true;
	}
	*ret = psci_call(fid, arg, 0, 0);
	return true;
}

/* This CPU's Spectre-BHB choice (bhb.h); said for the boot CPU and for any CPU unlike it. */
void scrub_bhb_init(struct pcpu *cpu)
{
	struct bhb_cpu c = {
		.midr = read_sysreg(midr_el1),
		.pfr0 = read_sysreg(id_aa64pfr0_el1),
		.mmfr1 = read_sysreg(id_aa64mmfr1_el1),
		.isar2 = read_sysreg(S3_0_C0_C6_2), /* ID_AA64ISAR2_EL1 */
	};
	char what[96];

	c.firmware_wa3 =
		!scrub_pe_unaffected(SMCCC_WORKAROUND_3) && scrub_firmware_has(SMCCC_WORKAROUND_3);
	cpu->arch.bhb = bhb_choose(&c);
	if (cpu->id == 0 || cpu->arch.bhb != pcpus[0].arch.bhb)
		pr_info("aarch64: speculation: cpu %u (MIDR 0x%llx): Spectre-BHB %s", cpu->id,
			(unsigned long long)c.midr,
			bhb_describe(cpu->arch.bhb, &c, what, sizeof(what)));
}
