/* SPDX-License-Identifier: MIT */
/*
 * Register-leak probe, aarch64: plant markers in every register class a core
 * keeps between guests (FP/SIMD, thread IDs, EL1 system registers, the
 * timers, breakpoints and watchpoints, the PMU, pointer-authentication keys),
 * or read them all back expecting their reset values.
 */
#include "guest.h"

#define MARK 0x4b45454c5345435eull

#define SYSREG_RW(name, enc)                                              \
	static uint64_t rd_##name(void)                                   \
	{                                                                 \
		uint64_t v;                                               \
		__asm__ volatile("mrs %0, " #enc : "=r"(v));              \
		return v;                                                 \
	}                                                                 \
	static void wr_##name(uint64_t v)                                 \
	{                                                                 \
		__asm__ volatile("msr " #enc ", %0; isb" ::"r"(v));       \
	}

SYSREG_RW(tpidr_el0, tpidr_el0)
SYSREG_RW(tpidrro_el0, tpidrro_el0)
SYSREG_RW(tpidr_el1, tpidr_el1)
SYSREG_RW(contextidr_el1, contextidr_el1)
SYSREG_RW(par_el1, par_el1)
SYSREG_RW(mair_el1, mair_el1)
SYSREG_RW(ttbr0_el1, ttbr0_el1)
SYSREG_RW(ttbr1_el1, ttbr1_el1)
SYSREG_RW(sp_el0, sp_el0)
SYSREG_RW(cntkctl_el1, cntkctl_el1)
SYSREG_RW(cntv_cval_el0, cntv_cval_el0)
SYSREG_RW(cntp_cval_el0, cntp_cval_el0)
SYSREG_RW(csselr_el1, csselr_el1)
SYSREG_RW(mdscr_el1, mdscr_el1)
SYSREG_RW(fpcr, fpcr)
SYSREG_RW(fpsr, fpsr)
SYSREG_RW(dbgbvr0, dbgbvr0_el1)
SYSREG_RW(dbgbcr0, dbgbcr0_el1)
SYSREG_RW(dbgwvr0, dbgwvr0_el1)
SYSREG_RW(dbgwcr0, dbgwcr0_el1)
SYSREG_RW(pmcr_el0, pmcr_el0)
SYSREG_RW(pmcntenset, pmcntenset_el0)
SYSREG_RW(pmintenset, pmintenset_el1)
SYSREG_RW(pmovsset, pmovsset_el0)
SYSREG_RW(pmuserenr, pmuserenr_el0)
SYSREG_RW(pmselr, pmselr_el0)
SYSREG_RW(pmccfiltr, pmccfiltr_el0)
SYSREG_RW(pmevtyper0, pmevtyper0_el0)
SYSREG_RW(pmevcntr0, pmevcntr0_el0)
/* PMCR_EL0's writable controls only (N and IMP read as the hardware has them). */
static uint64_t rd_pmcr(void)
{
	return rd_pmcr_el0() & 0xff;
}

static void wr_pmcr(uint64_t v)
{
	wr_pmcr_el0(v);
}

SYSREG_RW(apiakeylo, s3_0_c2_c1_0)
SYSREG_RW(apiakeyhi, s3_0_c2_c1_1)
SYSREG_RW(apibkeylo, s3_0_c2_c1_2)
SYSREG_RW(apdakeylo, s3_0_c2_c2_0)
SYSREG_RW(apdbkeylo, s3_0_c2_c2_2)
SYSREG_RW(apgakeylo, s3_0_c2_c3_0)

struct reg {
	const char *name;
	uint64_t (*rd)(void);
	void (*wr)(uint64_t v);
	uint64_t mark;
	uint64_t reset; /* what a fresh vCPU must read */
};

#define REG(n, m, r) { #n, rd_##n, wr_##n, m, r }

static const struct reg plain[] = {
	REG(tpidr_el0, MARK, 0),
	REG(tpidrro_el0, MARK, 0),
	REG(tpidr_el1, MARK, 0),
	REG(contextidr_el1, 0x5a5a, 0),
	REG(par_el1, 0x5a5a000, 0),
	REG(mair_el1, MARK, 0),
	REG(ttbr0_el1, 0x45000ull, 0),
	REG(ttbr1_el1, 0x46000ull, 0),
	REG(sp_el0, MARK & ~0xfull, 0),
	REG(cntkctl_el1, 0x3, 0),
	REG(cntv_cval_el0, MARK, 0),
	REG(cntp_cval_el0, MARK, 0),
	REG(csselr_el1, 2, 0),
	REG(mdscr_el1, 1ull << 12, 0), /* TDCC: traps EL0 DCC only */
	REG(fpcr, 0x3000000, 0),
	REG(fpsr, 0x8000001f, 0),
};

static const struct reg debug[] = {
	REG(dbgbvr0, 0x40001000ull, 0),
	REG(dbgbcr0, 0x1e0, 0), /* byte select, not enabled */
	REG(dbgwvr0, 0x40002000ull, 0),
	REG(dbgwcr0, 0x1f8, 0), /* byte select and load/store, not enabled */
};

/* Counter enables and interrupts are planted with counter 0 only (and the cycle counter). */
static const struct reg pmu[] = {
	REG(pmcr, 0x1, 0), /* E */
	REG(pmcntenset, 0x80000001ull, 0),
	REG(pmovsset, 0x1, 0),
	REG(pmintenset, 0x1, 0),
	REG(pmuserenr, 0xf, 0),
	REG(pmselr, 0x1, 0),
	REG(pmccfiltr, 0x80000000ull, 0), /* P: not at EL1 */
	REG(pmevtyper0, 0x11, 0), /* CPU_CYCLES */
	REG(pmevcntr0, 0x12345678, 0),
};

static const struct reg pauth[] = {
	REG(apiakeylo, MARK, 0),  REG(apiakeyhi, ~MARK, 0), REG(apibkeylo, MARK ^ 1, 0),
	REG(apdakeylo, MARK ^ 2, 0), REG(apdbkeylo, MARK ^ 3, 0), REG(apgakeylo, MARK ^ 4, 0),
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t id_reg(unsigned int which)
{
	uint64_t v = 0;

	if (which == 0)
		__asm__ volatile("mrs %0, id_aa64dfr0_el1" : "=r"(v));
	else
		__asm__ volatile("mrs %0, id_aa64isar1_el1" : "=r"(v));
	return v;
}

static bool has_pmu(void)
{
	uint64_t ver = (id_reg(0) >> 8) & 0xf;

	return ver != 0 && ver != 0xf;
}

static bool has_pauth(void)
{
	uint64_t isar1 = id_reg(1);

	return ((isar1 >> 4) & 0xff) != 0; /* APA or API */
}

static uint64_t vec_buf[32][2] __attribute__((aligned(16)));

static void fp_enable(void)
{
	__asm__ volatile("msr cpacr_el1, %0; isb" ::"r"(3ull << 20));
}

#define V_LOAD(n) "ldr q" #n ", [%0, #" #n "*16]\n\t"
#define V_STORE(n) "str q" #n ", [%0, #" #n "*16]\n\t"
#define V_ALL(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) \
	X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23) X(24) X(25) X(26) X(27) \
	X(28) X(29) X(30) X(31)

static void vec_load(void)
{
	__asm__ volatile(V_ALL(V_LOAD) ::"r"(vec_buf) : "memory");
}

static void vec_store(void)
{
	__asm__ volatile(V_ALL(V_STORE) ::"r"(vec_buf) : "memory");
}

static void plant_set(const struct reg *r, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		r[i].wr(r[i].mark);
}

void regs_plant(void)
{
	unsigned int i;

	fp_enable();
	for (i = 0; i < 32; i++) {
		vec_buf[i][0] = MARK ^ i;
		vec_buf[i][1] = ~MARK ^ i;
	}
	vec_load();
	plant_set(plain, N(plain));
	plant_set(debug, N(debug));
	if (has_pmu())
		plant_set(pmu, N(pmu));
	if (has_pauth())
		plant_set(pauth, N(pauth));
	printf("plant: markers in v0-v31, fpcr, fpsr, %u EL0/EL1 registers, breakpoint and watchpoint 0%s%s\n",
	       (unsigned int)N(plain) - 2, has_pmu() ? ", the PMU" : "",
	       has_pauth() ? ", pointer-authentication keys" : "");
}

static void probe_set(const struct reg *r, unsigned int n, bool planted)
{
	for (unsigned int i = 0; i < n; i++) {
		/* Planted, event counter 0 counts cycles: its marker does not stay. */
		if (planted && r[i].rd == rd_pmevcntr0)
			continue;
		expect_reg(r[i].name, r[i].rd(), planted ? r[i].mark : r[i].reset);
	}
}

unsigned int regs_check(bool planted)
{
	char name[16];
	unsigned int i;

	reg_tally_reset();
	reg_expect_planted = planted;
	fp_enable();
	memset(vec_buf, 0xee, sizeof(vec_buf));
	vec_store();
	for (i = 0; i < 32; i++) {
		snprintf(name, sizeof(name), "v%u.lo", i);
		expect_reg(name, vec_buf[i][0], planted ? MARK ^ i : 0);
		snprintf(name, sizeof(name), "v%u.hi", i);
		expect_reg(name, vec_buf[i][1], planted ? ~MARK ^ i : 0);
	}
	probe_set(plain, N(plain), planted);
	probe_set(debug, N(debug), planted);
	if (has_pmu())
		probe_set(pmu, N(pmu), planted);
	if (has_pauth())
		probe_set(pauth, N(pauth), planted);
	return reg_bad;
}

unsigned int regs_probe(void)
{
	regs_check(false);
	printf("probe: %u registers checked%s%s, %u not at their reset value\n", reg_checked,
	       has_pmu() ? " (PMU included)" : "", has_pauth() ? " (PAuth keys included)" : "",
	       reg_bad);
	return reg_bad;
}

bool regs_spec_ctrl_honest(void)
{
	return true;
}
