/* SPDX-License-Identifier: MIT */
/*
 * Accesses to guest-physical addresses with nothing behind them: with
 * on_fault = deliver (the default) each must reach the guest's own vectors
 * as the synchronous external abort a CPU takes for a bus error (and KVM
 * gives), with the syndrome, fault address and return address the
 * architecture says, and the guest goes on. Keel once stopped the partition.
 */
#include "guest.h"

#define EC_IABT_LOW 0x20
#define EC_IABT_CUR 0x21
#define EC_DABT_LOW 0x24
#define EC_DABT_CUR 0x25
#define FSC_SEA 0x10
#define ESR_IL (1ull << 25)
#define DABT_WNR (1ull << 6)

static volatile struct trap seen;
static volatile uint64_t taken;
static uint64_t resume_at; /* for instruction aborts: where the caller goes on */

static bool abort_trap(struct trap *t)
{
	if (t->vector >= 0x100) /* an interrupt */
		return false;
	seen = *t;
	taken++;
	if (t->vector == EC_IABT_CUR || t->vector == EC_IABT_LOW)
		t->pc = resume_at;
	else
		t->pc += 4; /* step over the load or store */
	t->leave_user = t->user;
	return true;
}

static bool check(const char *what, bool ok)
{
	printf("aborts: %-52s %s\n", what, ok ? "ok" : "WRONG");
	return ok;
}

/* One taken exception with EC @ec, ISS bits @iss (DFSC/IFSC and WnR), FAR @far, ELR @pc. */
static bool expect_abort(const char *what, uint64_t before, uint64_t ec, uint64_t iss,
			 uint64_t far, uint64_t pc)
{
	bool ok = taken == before + 1 && seen.vector == ec && (seen.code & 0x7f) == iss &&
		  (seen.code & ESR_IL) && seen.addr == far && seen.pc == pc;

	if (!ok)
		printf("aborts: %s: %lu taken, EC 0x%lx ESR 0x%lx FAR 0x%lx ELR 0x%lx; want EC 0x%lx "
		       "ISS 0x%lx FAR 0x%lx ELR 0x%lx\n",
		       what, taken - before, seen.vector, seen.code, seen.addr, seen.pc, ec, iss, far,
		       pc);
	return check(what, ok);
}

static uint64_t hole;
extern const uint32_t abort_ld[], abort_st[], abort_ld_user[];

static void user_read(void)
{
	uint64_t v;

	__asm__ volatile(".global abort_ld_user\n"
			 "abort_ld_user: ldr %0, [%1]" : "=r"(v) : "r"(hole) : "memory");
	trap_user_return();
}

bool arch_abort_conformance(uint64_t hole_gpa)
{
	uint64_t v = 0x5a5a, before;
	bool ok = true;

	hole = hole_gpa;
	trap_install(abort_trap);

	before = taken;
	__asm__ volatile(".global abort_ld\n"
			 "abort_ld: ldr %0, [%1]" : "+r"(v) : "r"(hole) : "memory");
	ok &= expect_abort("read: data abort, same EL, SEA, FAR, ELR", before, EC_DABT_CUR, FSC_SEA,
			   hole, (uintptr_t)abort_ld);
	ok &= check("read: the register was not written", v == 0x5a5a);

	before = taken;
	__asm__ volatile(".global abort_st\n"
			 "abort_st: str %w0, [%1]" : : "r"(0x6b65656cu), "r"(hole + 4) : "memory");
	ok &= expect_abort("write: data abort with WnR", before, EC_DABT_CUR, FSC_SEA | DABT_WNR,
			   hole + 4, (uintptr_t)abort_st);

	before = taken;
	trap_user(user_read);
	ok &= expect_abort("read from EL0: data abort from a lower EL", before, EC_DABT_LOW, FSC_SEA,
			   hole, (uintptr_t)abort_ld_user);
	ok &= check("read from EL0: taken as from EL0", seen.user);

	/* A branch into the hole: the fetch aborts at the branch target. */
	before = taken;
	__asm__ volatile("adr x9, 1f\n"
			 "str x9, [%0]\n"
			 "blr %1\n"
			 "1:" : : "r"(&resume_at), "r"(hole + 0x40) : "x9", "x30", "memory");
	ok &= expect_abort("fetch: instruction abort, same EL, SEA, FAR = ELR", before, EC_IABT_CUR,
			   FSC_SEA, hole + 0x40, hole + 0x40);

	/* The guest goes on: RAM still works, and a second abort is delivered too. */
	before = taken;
	__asm__ volatile("ldr %0, [%1]" : "=r"(v) : "r"(hole + 8) : "memory");
	ok &= check("a second read aborts too", taken == before + 1 && seen.addr == hole + 8);
	return ok;
}
