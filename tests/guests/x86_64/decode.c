/* SPDX-License-Identifier: MIT */
/*
 * Each MMIO instruction form Keel decodes (arch/x86_64/decode.c), run
 * against the LAPIC model's registers in xAPIC mode and checked by reading
 * back: MOV, MOVZX, MOVSX (byte and word, 32- and 64-bit destinations),
 * MOVSXD, MOV with an absolute address (A0, A1, A3), XCHG (a read and a
 * write in one), and the string moves MOVS and STOS, once and with REP (many
 * elements: against a guest-physical hole, whose reads are all ones). Each
 * line says what the register or memory held afterwards; a form Keel cannot
 * decode stops the partition, which the test sees as a missing verdict.
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

/*
 * XCHG: the register gets the old value (32-bit forms clear bits 32-63), the
 * device the new. The LAPIC takes 32-bit writes only, so the byte form's
 * write is checked against nothing: only its read into the register.
 */
static void decode_xchg(volatile uint32_t *tpr)
{
	uint64_t r;

	*tpr = 0x20;
	r = 0xffffffff00000040ull;
	__asm__ volatile("xchg %k0, (%1)" : "+r"(r) : "r"(tpr) : "memory");
	want("xchg (m32), r32: register", r, 0x20);
	want("xchg (m32), r32: device", *tpr, 0x40);
	r = 0x1122334455667750ull;
	__asm__ volatile("xchgb %b0, (%1)" : "+q"(r) : "r"(tpr) : "memory");
	want("xchg (m8), r8: register (bits 8-63 kept)", r, 0x1122334455667740ull);
	*tpr = 0;
}

#define HOLE 0xfd000000ull /* nothing there: reads are all ones (on_fault = deliver) */

/* MOVS and STOS: one element to and from the device, many against a hole. */
static void decode_strings(volatile uint32_t *tpr, volatile uint32_t *tmict)
{
	static uint64_t ram[4];
	uint64_t si, di, cx;
	uint32_t v = 0x60;

	si = (uintptr_t)&v;
	di = (uintptr_t)tpr;
	__asm__ volatile("movsl" : "+S"(si), "+D"(di) : : "memory");
	want("movs m32 (RAM to device)", *tpr, 0x60);
	want("movs: rSI and rDI stepped by 4", (si - (uintptr_t)&v) + (di - (uintptr_t)tpr), 8);
	si = (uintptr_t)tpr;
	di = (uintptr_t)&ram[0];
	cx = 1;
	__asm__ volatile("rep movsl" : "+S"(si), "+D"(di), "+c"(cx) : : "memory");
	want("rep movs m32, count 1 (device to RAM)", ram[0], 0x60);
	want("rep movs: rCX counted down to 0", cx, 0);
	si = (uintptr_t)tpr;
	di = (uintptr_t)tmict;
	__asm__ volatile("movsl" : "+S"(si), "+D"(di) : : "memory");
	want("movs m32 (device to device)", *tmict, 0x60);
	*tmict = 0;
	di = (uintptr_t)tpr;
	__asm__ volatile("stosl" : "+D"(di) : "a"(0x70u) : "memory");
	want("stos m32", *tpr, 0x70);
	di = (uintptr_t)tpr;
	__asm__ volatile("std; stosl; cld" : "+D"(di) : "a"(0x80u) : "memory");
	want("stos m32 with DF set: the device", *tpr, 0x80);
	want("stos m32 with DF set: rDI stepped down", di, (uintptr_t)tpr - 4);

	/* Many elements: a REP over a hole runs element by element to the end. */
	arch_map_gpa(HOLE);
	memset(ram, 0, sizeof(ram));
	si = HOLE;
	di = (uintptr_t)ram;
	cx = 4;
	__asm__ volatile("rep movsq" : "+S"(si), "+D"(di), "+c"(cx) : : "memory");
	want("rep movs m64 x4 from a hole: all ones", ram[0] & ram[1] & ram[2] & ram[3], ~0ull);
	want("rep movs x4: rSI, rDI, rCX at the end", (si - HOLE) + (di - (uintptr_t)ram) + cx, 64);
	di = HOLE;
	cx = 5;
	__asm__ volatile("rep stosw" : "+D"(di), "+c"(cx) : "a"(0x1234u) : "memory");
	want("rep stos m16 x5 to a hole: rDI, rCX at the end", (di - HOLE) + cx, 10);
	*tpr = 0;
}

/*
 * The element Keel stores for a MOVS from a device is checked as the CPU
 * checks its own writes: a read-only page (CR0.WP) and, from ring 3, a
 * supervisor page raise #PF with the CPU's error code and CR2; the handler
 * gives the right back and MOVS runs again, to completion.
 */
#define PROT_PAGE 0x800000ull /* 8 MiB: RAM this guest does not otherwise use */
#define PDE_W 0x2ull
#define PDE_U 0x4ull
#define PDE_PS 0x80ull
#define PDE_ADDR 0x000ffffffffff000ull

static volatile uint64_t pf_code, pf_addr;
static volatile unsigned int pf_count;
static uint64_t *pf_pde, pf_give;

/* The 2 MiB entry that maps @va in the tables Keel built for us, or NULL. */
static uint64_t *pde_of(uint64_t va)
{
	uint64_t cr3, *t;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	t = (uint64_t *)(uintptr_t)(cr3 & PDE_ADDR);
	t = (uint64_t *)(uintptr_t)(t[(va >> 39) & 511] & PDE_ADDR);
	if (t[(va >> 30) & 511] & PDE_PS)
		return NULL;
	t = (uint64_t *)(uintptr_t)(t[(va >> 30) & 511] & PDE_ADDR);
	return (t[(va >> 21) & 511] & PDE_PS) ? &t[(va >> 21) & 511] : NULL;
}

static bool pf_give_back(struct trap *t)
{
	if (t->vector != 14 || !pf_pde)
		return false;
	pf_count++;
	pf_code = t->code;
	pf_addr = t->addr;
	*pf_pde |= pf_give;
	__asm__ volatile("invlpg (%0)" : : "r"(t->addr) : "memory");
	return true; /* resume at the MOVS */
}

static volatile uint32_t *user_tpr;

static void user_movs(void)
{
	uint64_t si = (uintptr_t)user_tpr, di = PROT_PAGE + 8;

	__asm__ volatile("movsl" : "+S"(si), "+D"(di) : : "memory");
	trap_user_return();
}

static void decode_strings_protected(volatile uint32_t *tpr)
{
	volatile uint32_t *dst = (volatile uint32_t *)(uintptr_t)PROT_PAGE;
	uint64_t si, di, cr0;

	pf_pde = pde_of(PROT_PAGE);
	if (!pf_pde) {
		want("movs to a read-only page: its 2 MiB entry", 0, 1);
		return;
	}
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	__asm__ volatile("mov %0, %%cr0" : : "r"(cr0 | (1ull << 16)) : "memory"); /* WP */
	trap_install(pf_give_back);
	*tpr = 0x90;
	dst[0] = 0x11;
	*pf_pde &= ~PDE_W;
	pf_give = PDE_W;
	__asm__ volatile("invlpg (%0)" : : "r"(PROT_PAGE) : "memory");
	si = (uintptr_t)tpr;
	di = PROT_PAGE;
	__asm__ volatile("movsl" : "+S"(si), "+D"(di) : : "memory");
	want("movs to a read-only page: #PF error code", pf_code, 0x3); /* P, W */
	want("movs to a read-only page: CR2", pf_addr, PROT_PAGE);
	want("movs to a read-only page: stored once allowed", dst[0], 0x90);
	want("movs to a read-only page: one fault", pf_count, 1);

	/* Ring 3 into a supervisor page. */
	user_tpr = tpr;
	dst[2] = 0x22;
	pf_count = 0;
	trap_user(user_movs); /* the first call opens every present entry to ring 3 */
	pf_count = 0;
	*pf_pde &= ~PDE_U;
	pf_give = PDE_U;
	__asm__ volatile("invlpg (%0)" : : "r"(PROT_PAGE) : "memory");
	dst[2] = 0x22;
	trap_user(user_movs);
	want("movs from ring 3 to a supervisor page: #PF error code", pf_code, 0x7);
	want("movs from ring 3 to a supervisor page: stored once allowed", dst[2], 0x90);
	trap_install(NULL);
	pf_pde = NULL;
	*tpr = 0;
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
	decode_xchg(tpr);
	decode_strings(tpr, tmict);
	decode_strings_protected(tpr);
	printf("decode: %u forms read back wrong\n", wrong);
	return wrong == 0;
}
