/* SPDX-License-Identifier: MIT */
/*
 * What picolibc and Debian's libfdt need from the image: a per-CPU TLS block
 * for picolibc's errno (TPIDR_EL0) and the stack protector symbols.
 */
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/types.h>

#include "aarch64.h"

/*
 * picolibc reaches errno local-exec: TPIDR_EL0 + 16 (TCB) + its offset in
 * the TLS segment. The guest's TPIDR_EL0 is live while it runs, so
 * arch_vcpu_run swaps it for this CPU's block on every exit: an
 * errno-setting call in the hypervisor never writes into guest memory.
 */
#define EL2_TLS_SIZE 64 /* the linker script asserts the segment fits */

extern char __tdata_start[], __tdata_end[];
extern char __tbss_start[], __tbss_end[];

static u8 el2_tls[KEEL_MAX_CPUS][EL2_TLS_SIZE] __aligned(16);

/* Build @cpu's TLS block from the template; TPIDR_EL0 points at its TCB. */
void el2_tls_init_cpu(u32 cpu)
{
	u8 *blk;
	u64 tdata = (u64)(__tdata_end - __tdata_start);

	if (cpu >= KEEL_MAX_CPUS)
		return;
	blk = el2_tls[cpu];
	memset(blk, 0, EL2_TLS_SIZE);
	if (tdata <= EL2_TLS_SIZE - 16)
		memcpy(blk + 16, __tdata_start, tdata);
	write_sysreg(tpidr_el0, (u64)blk);
}

u64 el2_tls_pointer(u32 cpu)
{
	return cpu < KEEL_MAX_CPUS ? (u64)el2_tls[cpu] : (u64)el2_tls[0];
}

/* libfdt is built with -fstack-protector-strong. */
u64 __stack_chk_guard = 0x4b65656c3a6e6f21ull;

void __noreturn __stack_chk_fail(void);
void __noreturn __stack_chk_fail(void)
{
	panic("stack protector: corrupted stack in %p", __builtin_return_address(0));
}
