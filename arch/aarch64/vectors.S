/* SPDX-License-Identifier: MIT */
/*
 * The EL2 exception vector table. Exceptions of the hypervisor itself save a
 * struct arch_regs and call C; exceptions from a guest save its registers
 * into its struct vcpu_arch and return from el2_guest_enter (guest.S).
 */

#define REGS_SIZE	(36 * 8)	/* struct arch_regs */
#define R_SP		(31 * 8)
#define R_ELR		(32 * 8)
#define R_SPSR		(33 * 8)
#define R_ESR		(34 * 8)
#define R_FAR		(35 * 8)

/* Exit reasons el2_guest_enter returns. */
#define GUEST_EXIT_SYNC		0
#define GUEST_EXIT_IRQ		1
#define GUEST_EXIT_SERROR	2
#define GUEST_EXIT_AARCH32	3

	.macro	host_save
	sub	sp, sp, #REGS_SIZE
	stp	x0, x1, [sp, #16 * 0]
	stp	x2, x3, [sp, #16 * 1]
	stp	x4, x5, [sp, #16 * 2]
	stp	x6, x7, [sp, #16 * 3]
	stp	x8, x9, [sp, #16 * 4]
	stp	x10, x11, [sp, #16 * 5]
	stp	x12, x13, [sp, #16 * 6]
	stp	x14, x15, [sp, #16 * 7]
	stp	x16, x17, [sp, #16 * 8]
	stp	x18, x19, [sp, #16 * 9]
	stp	x20, x21, [sp, #16 * 10]
	stp	x22, x23, [sp, #16 * 11]
	stp	x24, x25, [sp, #16 * 12]
	stp	x26, x27, [sp, #16 * 13]
	stp	x28, x29, [sp, #16 * 14]
	add	x0, sp, #REGS_SIZE
	stp	x30, x0, [sp, #R_SP - 8]
	mrs	x0, elr_el2
	mrs	x1, spsr_el2
	stp	x0, x1, [sp, #R_ELR]
	mrs	x0, esr_el2
	mrs	x1, far_el2
	stp	x0, x1, [sp, #R_ESR]
	mov	x0, sp
	.endm

	.macro	host_restore
	ldp	x0, x1, [sp, #R_ELR]
	msr	elr_el2, x0
	msr	spsr_el2, x1
	ldp	x0, x1, [sp, #16 * 0]
	ldp	x2, x3, [sp, #16 * 1]
	ldp	x4, x5, [sp, #16 * 2]
	ldp	x6, x7, [sp, #16 * 3]
	ldp	x8, x9, [sp, #16 * 4]
	ldp	x10, x11, [sp, #16 * 5]
	ldp	x12, x13, [sp, #16 * 6]
	ldp	x14, x15, [sp, #16 * 7]
	ldp	x16, x17, [sp, #16 * 8]
	ldp	x18, x19, [sp, #16 * 9]
	ldp	x20, x21, [sp, #16 * 10]
	ldp	x22, x23, [sp, #16 * 11]
	ldp	x24, x25, [sp, #16 * 12]
	ldp	x26, x27, [sp, #16 * 13]
	ldp	x28, x29, [sp, #16 * 14]
	ldr	x30, [sp, #16 * 15]
	add	sp, sp, #REGS_SIZE
	.endm

	/* An exception of the hypervisor itself: report and stop. */
	.macro	vec_host_fatal, handler
	.balign	0x80
	host_save
	bl	\handler
	b	.
	.endm

	/* An exception from a guest: leave through el2_guest_exit. */
	.macro	vec_guest, reason
	.balign	0x80
	stp	x0, x1, [sp, #-16]!
	mov	x1, #\reason
	b	el2_guest_exit
	.endm

	.text
	.balign	2048
	.global	el2_vectors
el2_vectors:
	/* Current EL with SP_EL0: never used by the hypervisor. */
	vec_host_fatal	el2_sync_handler
	vec_host_fatal	el2_sync_handler
	vec_host_fatal	el2_sync_handler
	vec_host_fatal	el2_serror_handler

	/* Current EL with SP_ELx: the hypervisor. */
	.balign	0x80
	b	el2_sync_entry
	.balign	0x80
	b	el2_irq_entry
	vec_host_fatal	el2_sync_handler	/* FIQ: Group 0 is never enabled */
	vec_host_fatal	el2_serror_handler

	/* Lower EL, AArch64: the guest. */
	vec_guest	GUEST_EXIT_SYNC
	vec_guest	GUEST_EXIT_IRQ
	vec_guest	GUEST_EXIT_IRQ		/* FIQ */
	vec_guest	GUEST_EXIT_SERROR

	/* Lower EL, AArch32: a guest's EL0 may be AArch32; Keel refuses it. */
	vec_guest	GUEST_EXIT_AARCH32
	vec_guest	GUEST_EXIT_IRQ
	vec_guest	GUEST_EXIT_IRQ
	vec_guest	GUEST_EXIT_SERROR

/* A synchronous exception of the hypervisor: an FP/SIMD trap returns, the rest is fatal. */
el2_sync_entry:
	host_save
	bl	el2_sync_current
	host_restore
	eret

/* A host interrupt while the hypervisor runs (idle, or briefly unmasked). */
el2_irq_entry:
	host_save
	bl	el2_irq_handler
	host_restore
	eret
