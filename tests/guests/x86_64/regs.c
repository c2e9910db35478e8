/* SPDX-License-Identifier: MIT */
/*
 * Register-leak probe, x86_64: plant markers in every register class a core
 * keeps between guests (vector and x87 state, XCR0, PKRU, CR2, debug
 * registers, TSC_AUX, SPEC_CTRL, the syscall and segment-base MSRs), or read
 * them all back expecting their reset values.
 */
#include "guest.h"

#include "cpu.h"

#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define CR4_OSXSAVE (1ull << 18)
#define CR4_PKE (1ull << 22)

#define MSR_SPEC_CTRL 0x48u
#define MSR_SYSENTER_ESP 0x175u
#define MSR_SYSENTER_EIP 0x176u
#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_CSTAR 0xc0000083u
#define MSR_SFMASK 0xc0000084u
#define MSR_FS_BASE 0xc0000100u
#define MSR_GS_BASE 0xc0000101u
#define MSR_KERNEL_GS_BASE 0xc0000102u
#define MSR_TSC_AUX 0xc0000103u

#define MARK 0x4b45454c5345435eull /* "^CESLEEK" */

static uint64_t read_cr4(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static void write_cr4(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr4" ::"r"(v));
}

static uint64_t xgetbv(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

static void xsetbv(uint64_t v)
{
	__asm__ volatile("xsetbv" ::"c"(0), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

struct feats {
	bool xsave, avx, pku, spec_ctrl;
};

static struct feats feats(void)
{
	struct cpuid l1 = cpuid(1, 0), l7 = cpuid(7, 0), l88 = cpuid(0x80000008, 0);
	struct feats f;

	f.xsave = l1.c & (1u << 26);
	f.avx = f.xsave && (l1.c & (1u << 28));
	f.pku = l7.c & (1u << 3);
	f.spec_ctrl = (l7.d & (1u << 26)) || (l88.b & ((1u << 14) | (1u << 24)));
	return f;
}

/* SSE on, and XSAVE state management on where the CPU has it (not XCR0 itself). */
static void enable_fpu(const struct feats *f)
{
	uint64_t cr4 = read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT;

	if (f->xsave)
		cr4 |= CR4_OSXSAVE;
	if (f->pku)
		cr4 |= CR4_PKE;
	write_cr4(cr4);
}

static uint64_t vec_buf[16][4] __attribute__((aligned(32)));

#define FOR_EACH_VREG(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) \
	X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

static void xmm_load(void)
{
#define LOAD_X(n) __asm__ volatile("movdqu %0, %%xmm" #n ::"m"(vec_buf[n]));
	FOR_EACH_VREG(LOAD_X)
#undef LOAD_X
}

static void xmm_store(void)
{
#define STORE_X(n) __asm__ volatile("movdqu %%xmm" #n ", %0" : "=m"(vec_buf[n]));
	FOR_EACH_VREG(STORE_X)
#undef STORE_X
}

static void ymm_load(void)
{
#define LOAD_Y(n) __asm__ volatile("vmovdqu %0, %%ymm" #n ::"m"(vec_buf[n]));
	FOR_EACH_VREG(LOAD_Y)
#undef LOAD_Y
}

static void ymm_store(void)
{
#define STORE_Y(n) __asm__ volatile("vmovdqu %%ymm" #n ", %0" : "=m"(vec_buf[n]));
	FOR_EACH_VREG(STORE_Y)
#undef STORE_Y
}

/* The MSRs a guest reaches without Keel in between (or that Keel emulates). */
static const struct {
	uint32_t msr;
	const char *name;
	uint64_t mark; /* canonical where the CPU checks it */
} msrs[] = {
	{ MSR_TSC_AUX, "TSC_AUX", 0x5a5a },
	{ MSR_STAR, "STAR", 0x0023001000000000ull },
	{ MSR_LSTAR, "LSTAR", 0xffffffff81234560ull },
	{ MSR_CSTAR, "CSTAR", 0xffffffff81234570ull },
	{ MSR_SFMASK, "SFMASK", 0x47700 },
	{ MSR_KERNEL_GS_BASE, "KERNEL_GS_BASE", 0xffff888012345000ull },
	{ MSR_FS_BASE, "FS_BASE", 0x7f0012345000ull },
	{ MSR_GS_BASE, "GS_BASE", 0x7f0012346000ull },
	{ MSR_SYSENTER_ESP, "SYSENTER_ESP", 0xffffffff81000000ull },
	{ MSR_SYSENTER_EIP, "SYSENTER_EIP", 0xffffffff81000010ull },
};

void regs_plant(void)
{
	struct feats f = feats();
	uint32_t mxcsr = 0x1fc0; /* DAZ set: not the reset value */
	uint16_t fcw = 0x27f;
	uint64_t dr6 = 0xffff0ff1ull, v;
	unsigned int i, k;

	enable_fpu(&f);
	if (f.xsave)
		xsetbv(f.avx ? 7 : 3);
	for (i = 0; i < 16; i++)
		for (k = 0; k < 4; k++)
			vec_buf[i][k] = MARK ^ (i << 8 | k);
	if (f.avx)
		ymm_load();
	else
		xmm_load();
	__asm__ volatile("ldmxcsr %0; fldcw %1" ::"m"(mxcsr), "m"(fcw));
	if (f.pku)
		__asm__ volatile("wrpkru" ::"a"(0x55555554u), "c"(0), "d"(0));
	v = MARK;
	__asm__ volatile("mov %0, %%cr2" ::"r"(v));
	__asm__ volatile("mov %0, %%dr0; mov %1, %%dr1; mov %2, %%dr2; mov %3, %%dr3; mov %4, %%dr6"
			 ::"r"(0x1000ull), "r"(0x2000ull), "r"(0x3000ull), "r"(0x4000ull), "r"(dr6));
	for (i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++)
		wrmsr(msrs[i].msr, msrs[i].mark);
	if (f.spec_ctrl)
		wrmsr(MSR_SPEC_CTRL, 1);
	printf("plant: markers in xmm0-15%s, xcr0 0x%lx, mxcsr, fcw%s, cr2, dr0-3, dr6, %u msrs%s\n",
	       f.avx ? " + ymm upper halves" : "", f.xsave ? xgetbv() : 0,
	       f.pku ? ", pkru" : "", (unsigned int)(sizeof(msrs) / sizeof(msrs[0])),
	       f.spec_ctrl ? ", spec_ctrl" : "");
}

static void probe_vectors(const struct feats *f, bool planted)
{
	char name[16];
	unsigned int i, k;

	memset(vec_buf, 0xee, sizeof(vec_buf));
	if (f->avx) {
		xsetbv(7); /* reading the upper halves needs AVX on; the state stays */
		ymm_store();
	} else {
		xmm_store();
	}
	for (i = 0; i < 16; i++)
		for (k = 0; k < (f->avx ? 4u : 2u); k++) {
			snprintf(name, sizeof(name), "%smm%u[%u]", k >= 2 ? "y" : "x", i, k);
			expect_reg(name, vec_buf[i][k], planted ? MARK ^ (i << 8 | k) : 0);
		}
}

/* Returns the number of registers that did not hold their reset (or planted) value. */
unsigned int regs_check(bool planted)
{
	struct feats f = feats();
	uint64_t cr2, dr[4], dr6;
	uint32_t mxcsr = 0;
	uint16_t fcw = 0;
	unsigned int i;

	reg_tally_reset();
	reg_expect_planted = planted;
	enable_fpu(&f);
	/* Before anything of ours touches them. */
	if (f.xsave)
		expect_reg("xcr0", xgetbv(), planted ? (f.avx ? 7 : 3) : 1);
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	__asm__ volatile("mov %%dr0, %0; mov %%dr1, %1; mov %%dr2, %2; mov %%dr3, %3; mov %%dr6, %4"
			 : "=r"(dr[0]), "=r"(dr[1]), "=r"(dr[2]), "=r"(dr[3]), "=r"(dr6));
	expect_reg("cr2", cr2, planted ? MARK : 0);
	for (i = 0; i < 4; i++)
		expect_reg(i == 0 ? "dr0" : i == 1 ? "dr1" : i == 2 ? "dr2" : "dr3", dr[i],
			   planted ? 0x1000ull * (i + 1) : 0);
	expect_reg("dr6", dr6, planted ? 0xffff0ff1ull : 0xffff0ff0ull);
	__asm__ volatile("stmxcsr %0; fnstcw %1" : "=m"(mxcsr), "=m"(fcw));
	expect_reg("mxcsr", mxcsr, planted ? 0x1fc0 : 0x1f80);
	expect_reg("fcw", fcw, planted ? 0x27f : 0x37f);
	if (f.pku) {
		uint32_t pkru;

		__asm__ volatile("rdpkru" : "=a"(pkru) : "c"(0) : "rdx");
		expect_reg("pkru", pkru, planted ? 0x55555554u : 0);
	}
	probe_vectors(&f, planted);
	for (i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++)
		expect_reg(msrs[i].name, rdmsr(msrs[i].msr), planted ? msrs[i].mark : 0);
	if (f.spec_ctrl)
		expect_reg("SPEC_CTRL", rdmsr(MSR_SPEC_CTRL), planted ? 1 : 0);
	return reg_bad;
}

unsigned int regs_probe(void)
{
	unsigned int bad = regs_check(false);

	printf("probe: %u registers checked%s%s, %u not at their reset value\n", reg_checked,
	       (feats().avx) ? " (ymm upper halves included)" : "",
	       feats().pku ? " (pkru included)" : "", bad);
	return bad;
}

/* A guest's own SPEC_CTRL write reads back, where CPUID advertises the MSR. */
bool regs_spec_ctrl_honest(void)
{
	struct feats f = feats();
	uint64_t v;

	if (!f.spec_ctrl) {
		printf("spec_ctrl: not advertised by CPUID\n");
		return true;
	}
	wrmsr(MSR_SPEC_CTRL, 1);
	v = rdmsr(MSR_SPEC_CTRL);
	wrmsr(MSR_SPEC_CTRL, 0);
	printf("spec_ctrl: advertised; wrote 1, read back %lu\n", v);
	return v == 1;
}
