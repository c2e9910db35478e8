/* SPDX-License-Identifier: MIT */
/*
 * x86_64 test-guest exception entry: one stub per vector 0-31 and 0x80 (the
 * way back from user mode), a common frame (struct trap_frame in traps.c),
 * trap_dispatch(), IRETQ. trap_run_user() enters ring 3 and returns when
 * the user code executes INT 0x80 (or dispatch asks to leave ring 3).
 */
	.text

.macro VEC n, err=0
	.globl trap_vec_\n
trap_vec_\n:
	.if \err == 0
	pushq	$0
	.endif
	pushq	$\n
	jmp	trap_common
.endm

	VEC 0
	VEC 1
	VEC 2
	VEC 3
	VEC 4
	VEC 5
	VEC 6
	VEC 7
	VEC 8, 1
	VEC 9
	VEC 10, 1
	VEC 11, 1
	VEC 12, 1
	VEC 13, 1
	VEC 14, 1
	VEC 15
	VEC 16
	VEC 17, 1
	VEC 18
	VEC 19
	VEC 20
	VEC 21, 1
	VEC 22
	VEC 23
	VEC 24
	VEC 25
	VEC 26
	VEC 27
	VEC 28
	VEC 29, 1
	VEC 30, 1
	VEC 31
	VEC 128
	VEC 32 /* every other vector (interrupts): reported as 32 */

trap_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	cld
	movq	%rsp, %rdi
	call	trap_dispatch
	testl	%eax, %eax
	jnz	user_leave
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp
	iretq

/* uint64_t trap_run_user(void (*fn)(void), uint64_t user_stack_top) */
	.globl trap_run_user
trap_run_user:
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, user_kernel_rsp(%rip)
	pushq	$0x1b		/* user data, RPL 3 */
	pushq	%rsi		/* user stack */
	pushfq
	andq	$~0x200, (%rsp)	/* IF off in ring 3 too: no interrupts expected */
	pushq	$0x23		/* user code, RPL 3 */
	pushq	%rdi
	iretq

user_leave:
	movq	user_kernel_rsp(%rip), %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	xorl	%eax, %eax
	ret

	.bss
	.align 8
user_kernel_rsp:
	.quad 0

	.section .note.GNU-stack, "", @progbits
