/* SPDX-License-Identifier: MIT */
/*
 * SVE, which Keel does not give guests (its ID registers say so): an SVE
 * instruction that gets past the guest's own CPACR_EL1.ZEN trap reaches
 * Keel's (CPTR_EL2.TZ), which must give the guest an Undefined Instruction
 * exception at its own vector, at that instruction, as a CPU without SVE
 * does, and the guest goes on. Keel once stopped the partition instead.
 * With ZEN clear the CPU's own EL1 trap comes first (EC 0x19), as under KVM.
 */
#include "guest.h"

#define EC_UNKNOWN 0x00
#define RDVL_X0_1 0x04bf5020u /* RDVL X0, #1: the vector length, SVE's simplest instruction */

static volatile uint64_t trapped_ec = ~0ull, trapped_pc;

static bool undef_trap(struct trap *t)
{
	if (t->vector == 0x100 || t->vector == 0x101) /* not a synchronous exception */
		return false;
	trapped_ec = t->vector;
	trapped_pc = t->pc;
	t->pc += 4; /* step over it */
	return true;
}

bool arch_sve_conformance(void)
{
	extern const uint32_t sve_insn[];
	uint64_t pfr0;
	bool ok;

	__asm__ volatile("mrs %0, id_aa64pfr0_el1" : "=r"(pfr0));
	printf("sve: ID_AA64PFR0_EL1.SVE = %lu\n", (pfr0 >> 32) & 0xf);
	trap_install(undef_trap);
	/* CPACR_EL1.ZEN and FPEN = 0b11: no EL1 trap, so the instruction meets Keel's. */
	__asm__ volatile("mrs x1, cpacr_el1\n"
			 "orr x1, x1, #(3 << 16)\n"
			 "orr x1, x1, #(3 << 20)\n"
			 "msr cpacr_el1, x1; isb" ::: "x1", "memory");
	__asm__ volatile(".global sve_insn\n"
			 "sve_insn: .inst %0" ::"i"(RDVL_X0_1) : "x0", "memory");
	ok = trapped_ec == EC_UNKNOWN && trapped_pc == (uintptr_t)sve_insn && !((pfr0 >> 32) & 0xf);
	printf("sve: RDVL raised EC 0x%lx at pc 0x%lx (the instruction is at 0x%lx): %s\n",
	       trapped_ec, trapped_pc, (uintptr_t)sve_insn, ok ? "undefined, as without SVE" : "WRONG");
	return ok;
}
