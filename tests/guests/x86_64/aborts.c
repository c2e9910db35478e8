/* SPDX-License-Identifier: MIT */
/*
 * Accesses to guest-physical addresses with nothing behind them: with
 * on_fault = deliver (the default) Keel answers as a PC's bus does. A read
 * floats to all ones (merged into the register as the instruction's width
 * says), a write goes nowhere, and a fetch reads 0xff bytes, an invalid
 * opcode: #UD at the hole's address, at the guest's own IDT. The guest
 * goes on. Keel once stopped the partition.
 */
#include "guest.h"

#define VEC_UD 6

static volatile struct trap seen;
static volatile uint64_t taken;
static uint64_t resume_at;

static bool ud_trap(struct trap *t)
{
	if (t->vector != VEC_UD)
		return false;
	seen = *t;
	taken++;
	t->pc = resume_at;
	return true;
}

static bool want(const char *what, uint64_t got, uint64_t expected)
{
	printf("aborts: %-40s -> 0x%016lx %s\n", what, got, got == expected ? "ok" : "WRONG");
	return got == expected;
}

bool arch_abort_conformance(uint64_t hole)
{
	volatile uint8_t *b = (volatile uint8_t *)(uintptr_t)hole;
	volatile uint64_t *q = (volatile uint64_t *)(uintptr_t)(hole + 8);
	uint64_t r, before;
	bool ok = true;

	r = 0x1122334455667700ull;
	__asm__ volatile("movb (%1), %b0" : "+r"(r) : "r"(b) : "memory");
	ok &= want("read 8 bits: all ones, bits 8-63 kept", r, 0x11223344556677ffull);
	r = 0x1122334455660000ull;
	__asm__ volatile("movw (%1), %w0" : "+r"(r) : "r"(b) : "memory");
	ok &= want("read 16 bits: all ones, bits 16-63 kept", r, 0x112233445566ffffull);
	r = 0x1122334455667788ull;
	__asm__ volatile("movl (%1), %k0" : "+r"(r) : "r"(b) : "memory");
	ok &= want("read 32 bits: all ones, upper half cleared", r, 0xffffffffull);
	ok &= want("read 64 bits: all ones", *q, ~0ull);
	*q = 0x6b65656c6b65656cull;
	ok &= want("write, then read: the write went nowhere", *q, ~0ull);

	/* A jump into the hole: the bytes there are 0xff, so #UD at the jump's target. */
	trap_install(ud_trap);
	before = taken;
	__asm__ volatile("lea 1f(%%rip), %%rax\n"
			 "mov %%rax, (%0)\n"
			 "jmp *%1\n"
			 "1:" : : "r"(&resume_at), "r"(hole + 0x40) : "rax", "memory");
	ok &= want("fetch: #UD taken", taken - before, 1);
	ok &= want("fetch: #UD at the hole's address", seen.pc, hole + 0x40);
	return ok;
}
