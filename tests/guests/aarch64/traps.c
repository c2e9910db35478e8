/* SPDX-License-Identifier: MIT */
/*
 * aarch64 test-guest exceptions and EL0: VBAR_EL1 (traps.S) routes every
 * exception to the test's handler; EL0 code runs with the MMU off (flat,
 * as EL1 does) and comes back through SVC.
 */
#include "guest.h"

/* As traps.S saves it. */
struct trap_frame {
	uint64_t x[31];
	uint64_t elr, spsr;
};

#define KIND_SYNC 0
#define KIND_IRQ 1
#define EC_SVC64 0x15

extern char trap_vectors[];
void trap_run_user(void (*fn)(void), uint64_t user_stack_top);
int trap_dispatch(struct trap_frame *f, uint64_t kind);

static bool (*handler)(struct trap *t);

void trap_install(bool (*fn)(struct trap *t))
{
	handler = fn;
	__asm__ volatile("msr vbar_el1, %0; isb" ::"r"(trap_vectors));
}

int trap_dispatch(struct trap_frame *f, uint64_t kind)
{
	uint64_t esr, far;
	struct trap t;

	__asm__ volatile("mrs %0, esr_el1; mrs %1, far_el1" : "=r"(esr), "=r"(far));
	t = (struct trap){ .vector = kind == KIND_SYNC ? (esr >> 26) & 0x3f : 0x100 + kind,
			   .code = esr, .pc = f->elr, .addr = far,
			   .user = (f->spsr & 0xf) == 0 };
	if (kind == KIND_SYNC && t.vector == EC_SVC64 && t.user)
		return 1; /* trap_user_return(): back to trap_run_user's caller */
	if (handler && handler(&t)) {
		f->elr = t.pc;
		return t.leave_user && t.user;
	}
	printf("trap: unexpected %s EC 0x%lx ESR 0x%lx at pc 0x%lx far 0x%lx\n",
	       kind == KIND_SYNC ? "exception" : "interrupt", t.vector, esr, f->elr, far);
	guest_shutdown();
}

static uint8_t user_stack[16384] __attribute__((aligned(16)));

void trap_user(void (*fn)(void))
{
	trap_run_user(fn, (uintptr_t)user_stack + sizeof(user_stack));
}

void trap_user_return(void)
{
	__asm__ volatile("svc #0");
	__builtin_unreachable();
}
