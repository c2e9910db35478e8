/* SPDX-License-Identifier: MIT */
/*
 * IDT entry stubs: each pushes a dummy error code where the CPU pushes none,
 * then its vector, saves the GPRs as struct arch_regs and calls x86_trap().
 */
#define HAS_ERRCODE(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

	.text
	.align 16
x86_trap_common:
	/* Layout must match struct arch_regs in <arch/types.h>. */
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	movq %rsp, %rdi
	call x86_trap
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp		/* vector, error code */
	iretq

	/* 256 stubs, 16 bytes apart, so the IDT can be filled by arithmetic. */
	.align 16
	.globl x86_trap_stubs
x86_trap_stubs:
	vec = 0
	.rept 256
	.align 16
	.if HAS_ERRCODE(vec)
	.else
	pushq $0
	.endif
	pushq $vec
	jmp x86_trap_common
	vec = vec + 1
	.endr

	.section .note.GNU-stack, "", @progbits
