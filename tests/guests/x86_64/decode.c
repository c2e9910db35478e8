/* SPDX-License-Identifier: MIT */
/*
 * Each MMIO instruction form Keel decodes (arch/x86_64/decode.c), run
 * against the LAPIC model's registers in xAPIC mode and checked by reading
 * back: MOV, MOVZX, MOVSX (byte and word, 32- and 64-bit destinations),
 * MOVSXD, and MOV with an absolute address (A0, A1, A3). Each line says what
 * the register held afterwards; a form Keel cannot decode stops the
 * partition, which the test sees as a missing verdict.
 */
#include "guest.h"

#define LAPIC 0xfee00000ull
#define LAPIC_TPR 0x80u	 /* read/write, bits 7:0 */
#define LAPIC_TMICT 0x380u /* read/write, 32 bits; the timer stays masked */

static unsigned int wrong;

static void want(const char *form, uint64_t got, uint64_t expected)
{
	printf("decode: %-34s -> 0x%016lx %s\n", form, got, got == expected ? "ok" : "WRONG");
	wrong += got != expected;
}

bool arch_decode_forms(void)
{
	volatile uint32_t *tpr = (volatile uint32_t *)(uintptr_t)(LAPIC + LAPIC_TPR);
	volatile uint32_t *tmict = (volatile uint32_t *)(uintptr_t)(LAPIC + LAPIC_TMICT);
	uint64_t r;

	arch_map_gpa(LAPIC);
	*tpr = 0xf0; /* C7 or 89: a plain store */
	r = ~0ull;
	__asm__ volatile("movl (%1), %k0" : "+r"(r) : "r"(tpr) : "memory");
	want("mov (m32), r32", r, 0xf0);
	r = ~0ull;
	__asm__ volatile("movzbl (%1), %k0" : "+r"(r) : "r"(tpr) : "memory");
	want("movzx r32, m8", r, 0xf0);
	r = ~0ull;
	__asm__ volatile("movsbl (%1), %k0" : "+r"(r) : "r"(tpr) : "memory");
	want("movsx r32, m8 (upper half cleared)", r, 0xfffffff0ull);
	__asm__ volatile("movsbq (%1), %0" : "=r"(r) : "r"(tpr) : "memory");
	want("movsx r64, m8", r, ~0ull - 0xf);
	__asm__ volatile("movswq (%1), %0" : "=r"(r) : "r"(tpr) : "memory");
	want("movsx r64, m16", r, 0xf0);
	r = 0x1122334455667788ull;
	__asm__ volatile("movsbw (%1), %w0" : "+r"(r) : "r"(tpr) : "memory");
	want("movsx r16, m8 (bits 16-63 kept)", r, 0x112233445566fff0ull);
	r = ~0ull;
	__asm__ volatile("movabs 0xfee00080, %%eax" : "+a"(r) : : "memory");
	want("mov eax, moffs64 (A1)", r, 0xf0);
	r = 0x1122334455667700ull;
	__asm__ volatile("movabs 0xfee00080, %%al" : "+a"(r) : : "memory");
	want("mov al, moffs64 (A0)", r, 0x11223344556677f0ull);
	r = 0x30;
	__asm__ volatile("movabs %%eax, 0xfee00080" : : "a"(r) : "memory");
	want("mov moffs64, eax (A3), read back", *tpr, 0x30);
	*tmict = 0x80000000u;
	__asm__ volatile("movslq (%1), %0" : "=r"(r) : "r"(tmict) : "memory");
	want("movsxd r64, m32", r, 0xffffffff80000000ull);
	*tmict = 0; /* the timer off again */
	*tpr = 0;
	printf("decode: %u forms read back wrong\n", wrong);
	return wrong == 0;
}
