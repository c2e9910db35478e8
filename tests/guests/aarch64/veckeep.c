/* SPDX-License-Identifier: MIT */
/*
 * mode=veckeep, aarch64: V0-V31 keep their values across exits (hypercalls,
 * timer interrupts), round after round, as x86_64/veckeep.c checks its
 * vector registers.
 */
#include "guest.h"

static uint64_t pat[32][2] __attribute__((aligned(16)));
static uint64_t got[32][2] __attribute__((aligned(16)));

#define V_LOAD(n) "ldr q" #n ", [%0, #" #n "*16]\n\t"
#define V_STORE(n) "str q" #n ", [%0, #" #n "*16]\n\t"
#define V_ALL(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) \
	X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23) X(24) X(25) X(26) X(27) \
	X(28) X(29) X(30) X(31)

bool arch_vectors_kept(uint64_t rounds, uint64_t spin)
{
	uint32_t bad = 0;

	__asm__ volatile("msr cpacr_el1, %0; isb" ::"r"(3ull << 20)); /* FP/SIMD untrapped */
	for (uint32_t r = 0; r < 32; r++) {
		pat[r][0] = 0x0101010101010101ull * (r + 1) ^ 0x8000000000000001ull;
		pat[r][1] = ~pat[r][0] + r;
	}
	printf("veckeep: v0-31, %lu rounds\n", (unsigned long)rounds);
	for (uint64_t i = 0; i < rounds; i++) {
		__asm__ volatile(V_ALL(V_LOAD)::"r"(pat) : "memory");
		hc(KEEL_HC_VERSION, 0, 0, 0);
		delay(spin);
		hc(KEEL_HC_VERSION, 0, 0, 0);
		__asm__ volatile(V_ALL(V_STORE)::"r"(got) : "memory");
		for (uint32_t r = 0; r < 32; r++)
			if ((got[r][0] != pat[r][0] || got[r][1] != pat[r][1]) && bad++ < 8)
				printf("veckeep: round %lu: v%u WRONG\n", (unsigned long)i, r);
	}
	printf("veckeep: %u registers changed across exits\n", bad);
	return bad == 0;
}
