/* SPDX-License-Identifier: MIT */
/*
 * What Debian's libfdt needs from the image: the stack protector symbols.
 * (Nothing in the core may use thread-local data: the linker script checks.)
 */
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/types.h>

#include "aarch64.h"

/* libfdt is built with -fstack-protector-strong. */
u64 __stack_chk_guard = 0x4b65656c3a6e6f21ull;

void __noreturn __stack_chk_fail(void);
void __noreturn __stack_chk_fail(void)
{
	panic("stack protector: corrupted stack in %p", __builtin_return_address(0));
}
