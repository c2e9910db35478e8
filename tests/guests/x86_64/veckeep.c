/* SPDX-License-Identifier: MIT */
/*
 * mode=veckeep, x86_64: the vector registers keep their values across exits.
 * With the widest state the CPU has (ZMM0-31 and the opmask registers with
 * AVX-512, else YMM0-15 with AVX, else XMM0-15), patterns go in, the guest
 * makes hypercalls and spins through timer and preemption exits for many
 * rounds, and every register must read back the same. A hypervisor that
 * touched a vector register on its exit path, or an emulator that loses
 * state around a VM exit, shows here as a WRONG line naming the register.
 */
#include "guest.h"

#include "cpu.h"

#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define CR4_OSXSAVE (1ull << 18)
#define XCR0_AVX512 0xe0ull /* opmask, ZMM_Hi256, Hi16_ZMM */

static uint8_t pat[32][64] __attribute__((aligned(64)));
static uint8_t got[32][64] __attribute__((aligned(64)));
static uint64_t kpat[8], kgot[8];

#define R8(X, b) X(b##0) X(b##1) X(b##2) X(b##3) X(b##4) X(b##5) X(b##6) X(b##7)
#define REGS16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define REGS32(X) REGS16(X) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23) X(24) X(25) X(26) X(27) \
	X(28) X(29) X(30) X(31)
#define KREGS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

#define ZLOAD(n) "vmovdqu64 " #n "*64(%0), %%zmm" #n "\n\t"
#define ZSTORE(n) "vmovdqu64 %%zmm" #n ", " #n "*64(%0)\n\t"
#define YLOAD(n) "vmovdqu " #n "*64(%0), %%ymm" #n "\n\t"
#define YSTORE(n) "vmovdqu %%ymm" #n ", " #n "*64(%0)\n\t"
#define XLOAD(n) "movdqu " #n "*64(%0), %%xmm" #n "\n\t"
#define XSTORE(n) "movdqu %%xmm" #n ", " #n "*64(%0)\n\t"
#define KLOAD(n) "kmovq " #n "*8(%0), %%k" #n "\n\t"
#define KSTORE(n) "kmovq %%k" #n ", " #n "*8(%0)\n\t"

enum width { W_XMM = 16, W_YMM = 32, W_ZMM = 64 };

static enum width vec_setup(void)
{
	struct cpuid l1 = cpuid(1, 0), l7 = cpuid(7, 0), ld = cpuid(0xd, 0);
	uint64_t cr4;
	uint32_t lo, hi;

	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT;
	if (!(l1.c & (1u << 26))) { /* no XSAVE: SSE only */
		__asm__ volatile("mov %0, %%cr4" ::"r"(cr4));
		return W_XMM;
	}
	__asm__ volatile("mov %0, %%cr4" ::"r"(cr4 | CR4_OSXSAVE));
	lo = 0x3 | (l1.c & (1u << 28) ? 0x4 : 0);
	if ((l7.b & (1u << 16)) && (ld.a & XCR0_AVX512) == XCR0_AVX512)
		lo |= XCR0_AVX512;
	hi = 0;
	__asm__ volatile("xsetbv" ::"c"(0), "a"(lo), "d"(hi));
	return (lo & XCR0_AVX512) ? W_ZMM : (lo & 0x4) ? W_YMM : W_XMM;
}

static void vec_load(enum width w)
{
	if (w == W_ZMM) {
		__asm__ volatile(REGS32(ZLOAD)::"r"(pat) : "memory");
		__asm__ volatile(KREGS(KLOAD)::"r"(kpat) : "memory");
	} else if (w == W_YMM) {
		__asm__ volatile(REGS16(YLOAD)::"r"(pat) : "memory");
	} else {
		__asm__ volatile(REGS16(XLOAD)::"r"(pat) : "memory");
	}
}

static void vec_store(enum width w)
{
	if (w == W_ZMM) {
		__asm__ volatile(REGS32(ZSTORE)::"r"(got) : "memory");
		__asm__ volatile(KREGS(KSTORE)::"r"(kgot) : "memory");
	} else if (w == W_YMM) {
		__asm__ volatile(REGS16(YSTORE)::"r"(got) : "memory");
	} else {
		__asm__ volatile(REGS16(XSTORE)::"r"(got) : "memory");
	}
}

bool arch_vectors_kept(uint64_t rounds, uint64_t spin)
{
	enum width w = vec_setup();
	uint32_t nregs = w == W_ZMM ? 32 : 16, bad = 0;
	const char *name = w == W_ZMM ? "zmm" : w == W_YMM ? "ymm" : "xmm";

	for (uint32_t r = 0; r < 32; r++)
		for (uint32_t b = 0; b < 64; b++)
			pat[r][b] = (uint8_t)(r * 37 + b * 11 + 1);
	for (uint32_t k = 0; k < 8; k++)
		kpat[k] = 0x0101010101010101ull * (k + 1) ^ 0x8000000000000001ull;
	memset(got, 0, sizeof(got));
	printf("veckeep: %s0-%u%s, %lu rounds\n", name, nregs - 1, w == W_ZMM ? " and k0-7" : "",
	       (unsigned long)rounds);
	for (uint64_t i = 0; i < rounds; i++) {
		vec_load(w);
		hc(KEEL_HC_VERSION, 0, 0, 0); /* an exit */
		delay(spin); /* timer and preemption exits land somewhere in here */
		hc(KEEL_HC_VERSION, 0, 0, 0);
		vec_store(w);
		for (uint32_t r = 0; r < nregs; r++) {
			if (!memcmp(got[r], pat[r], w))
				continue;
			if (bad++ < 8)
				printf("veckeep: round %lu: %s%u WRONG (byte 0 0x%02x, want 0x%02x)\n",
				       (unsigned long)i, name, r, got[r][0], pat[r][0]);
		}
		for (uint32_t k = 0; w == W_ZMM && k < 8; k++)
			if (kgot[k] != kpat[k] && bad++ < 8)
				printf("veckeep: round %lu: k%u WRONG\n", (unsigned long)i, k);
	}
	printf("veckeep: %u registers changed across exits\n", bad);
	return bad == 0;
}
