/* SPDX-License-Identifier: MIT */
/*
 * aarch64 test-guest exception entry: a VBAR_EL1 table whose synchronous and
 * IRQ entries (from EL1 and from EL0) save a frame (struct trap_frame in
 * traps.c) and call trap_dispatch(); ERET. trap_run_user() drops to EL0 and
 * returns when dispatch says the EL0 code is done.
 */
	.text

.macro ENTRY kind
	.align 7
	sub	sp, sp, #(34 * 8)
	stp	x0, x1, [sp, #0]
	mov	x0, #\kind
	b	trap_common
.endm

	.align 11
	.globl trap_vectors
trap_vectors:
	ENTRY 0		/* EL1 with SP_EL0: sync */
	ENTRY 1		/* IRQ */
	ENTRY 1		/* FIQ */
	ENTRY 2		/* SError */
	ENTRY 0		/* EL1 with SP_EL1: sync */
	ENTRY 1
	ENTRY 1
	ENTRY 2
	ENTRY 0		/* EL0 AArch64: sync */
	ENTRY 1
	ENTRY 1
	ENTRY 2
	ENTRY 3		/* EL0 AArch32: not used */
	ENTRY 3
	ENTRY 3
	ENTRY 3

trap_common:
	stp	x2, x3, [sp, #16]
	stp	x4, x5, [sp, #32]
	stp	x6, x7, [sp, #48]
	stp	x8, x9, [sp, #64]
	stp	x10, x11, [sp, #80]
	stp	x12, x13, [sp, #96]
	stp	x14, x15, [sp, #112]
	stp	x16, x17, [sp, #128]
	stp	x18, x19, [sp, #144]
	stp	x20, x21, [sp, #160]
	stp	x22, x23, [sp, #176]
	stp	x24, x25, [sp, #192]
	stp	x26, x27, [sp, #208]
	stp	x28, x29, [sp, #224]
	mrs	x2, elr_el1
	mrs	x3, spsr_el1
	stp	x30, x2, [sp, #240]
	str	x3, [sp, #256]
	mov	x1, x0		/* kind */
	mov	x0, sp
	bl	trap_dispatch
	cbnz	w0, user_leave
	ldp	x30, x2, [sp, #240]
	ldr	x3, [sp, #256]
	msr	elr_el1, x2
	msr	spsr_el1, x3
	ldp	x2, x3, [sp, #16]
	ldp	x4, x5, [sp, #32]
	ldp	x6, x7, [sp, #48]
	ldp	x8, x9, [sp, #64]
	ldp	x10, x11, [sp, #80]
	ldp	x12, x13, [sp, #96]
	ldp	x14, x15, [sp, #112]
	ldp	x16, x17, [sp, #128]
	ldp	x18, x19, [sp, #144]
	ldp	x20, x21, [sp, #160]
	ldp	x22, x23, [sp, #176]
	ldp	x24, x25, [sp, #192]
	ldp	x26, x27, [sp, #208]
	ldp	x28, x29, [sp, #224]
	ldp	x0, x1, [sp, #0]
	add	sp, sp, #(34 * 8)
	eret

/* void trap_run_user(void (*fn)(void), uint64_t user_stack_top) */
	.globl trap_run_user
trap_run_user:
	stp	x29, x30, [sp, #-96]!
	stp	x19, x20, [sp, #16]
	stp	x21, x22, [sp, #32]
	stp	x23, x24, [sp, #48]
	stp	x25, x26, [sp, #64]
	stp	x27, x28, [sp, #80]
	mov	x2, sp
	adrp	x3, user_kernel_sp
	str	x2, [x3, :lo12:user_kernel_sp]
	msr	sp_el0, x1
	msr	elr_el1, x0
	mov	x2, #0x3c0	/* EL0t, DAIF masked */
	msr	spsr_el1, x2
	isb
	eret

user_leave:
	adrp	x3, user_kernel_sp
	ldr	x2, [x3, :lo12:user_kernel_sp]
	mov	sp, x2
	ldp	x19, x20, [sp, #16]
	ldp	x21, x22, [sp, #32]
	ldp	x23, x24, [sp, #48]
	ldp	x25, x26, [sp, #64]
	ldp	x27, x28, [sp, #80]
	ldp	x29, x30, [sp], #96
	ret

	.bss
	.align 3
user_kernel_sp:
	.quad 0

	.section .note.GNU-stack, "", %progbits
