/* SPDX-License-Identifier: MIT */
/*
 * World switch between the hypervisor and a guest at EL1, and the guest's
 * FP/SIMD registers. Only general registers, ELR and SPSR move here: the
 * guest's EL1 system registers stay live on its own pCPU.
 */

#define CTX_ELR		(31 * 8)	/* struct vcpu_arch: x[31], elr, spsr, bhb */
#define CTX_BHB		(33 * 8)
#define BHB_CLRBHB_BIT	32		/* bhb.h */
#define BHB_FIRMWARE_BIT 33
#define SMCCC_WORKAROUND_3 0x80003fff

	.text
/*
 * u64 el2_guest_enter(struct vcpu_arch *ctx): run the guest until it
 * takes an exception to EL2; returns the exit reason. The host frame
 * keeps @ctx at its bottom so the vectors can find it without per-CPU data.
 */
	.global	el2_guest_enter
	.type	el2_guest_enter, %function
el2_guest_enter:
	stp	x29, x30, [sp, #-16]!
	stp	x27, x28, [sp, #-16]!
	stp	x25, x26, [sp, #-16]!
	stp	x23, x24, [sp, #-16]!
	stp	x21, x22, [sp, #-16]!
	stp	x19, x20, [sp, #-16]!
	stp	x0, xzr, [sp, #-16]!

	ldp	x1, x2, [x0, #CTX_ELR]
	msr	elr_el2, x1
	msr	spsr_el2, x2
	ldp	x2, x3, [x0, #16 * 1]
	ldp	x4, x5, [x0, #16 * 2]
	ldp	x6, x7, [x0, #16 * 3]
	ldp	x8, x9, [x0, #16 * 4]
	ldp	x10, x11, [x0, #16 * 5]
	ldp	x12, x13, [x0, #16 * 6]
	ldp	x14, x15, [x0, #16 * 7]
	ldp	x16, x17, [x0, #16 * 8]
	ldp	x18, x19, [x0, #16 * 9]
	ldp	x20, x21, [x0, #16 * 10]
	ldp	x22, x23, [x0, #16 * 11]
	ldp	x24, x25, [x0, #16 * 12]
	ldp	x26, x27, [x0, #16 * 13]
	ldp	x28, x29, [x0, #16 * 14]
	ldr	x30, [x0, #16 * 15]
	ldp	x0, x1, [x0]
	eret
	.size	el2_guest_enter, . - el2_guest_enter

/*
 * From the lower-EL vectors: guest x0/x1 pushed on the host stack, x1 =
 * reason. Above them sits the host frame of el2_guest_enter.
 */
	.global	el2_guest_exit
	.type	el2_guest_exit, %function
el2_guest_exit:
	ldr	x0, [sp, #16]			/* ctx */
	stp	x2, x3, [x0, #16 * 1]
	stp	x4, x5, [x0, #16 * 2]
	stp	x6, x7, [x0, #16 * 3]
	stp	x8, x9, [x0, #16 * 4]
	stp	x10, x11, [x0, #16 * 5]
	stp	x12, x13, [x0, #16 * 6]
	stp	x14, x15, [x0, #16 * 7]
	stp	x16, x17, [x0, #16 * 8]
	stp	x18, x19, [x0, #16 * 9]
	stp	x20, x21, [x0, #16 * 10]
	stp	x22, x23, [x0, #16 * 11]
	stp	x24, x25, [x0, #16 * 12]
	stp	x26, x27, [x0, #16 * 13]
	stp	x28, x29, [x0, #16 * 14]
	str	x30, [x0, #16 * 15]
	ldp	x2, x3, [sp], #16		/* guest x0, x1 */
	stp	x2, x3, [x0]
	mrs	x2, elr_el2
	mrs	x3, spsr_el2
	stp	x2, x3, [x0, #CTX_ELR]
	/*
	 * Spectre-BHB: before the first indirect branch (the ret below, then C),
	 * put the guest's branch history out of reach, as this CPU needs.
	 * x2-x30 are free here: the guest's are saved, the host's on the stack.
	 */
	ldr	x2, [x0, #CTX_BHB]
	cbz	x2, 3f
	tbnz	x2, #BHB_FIRMWARE_BIT, 2f
	tbnz	x2, #BHB_CLRBHB_BIT, 1f
0:	b	. + 4				/* a loop of taken branches fills the history */
	subs	w2, w2, #1
	b.ne	0b
	dsb	nsh
	isb
	b	3f
1:	hint	#22				/* CLRBHB */
	isb
	b	3f
2:	mov	x19, x0
	mov	x20, x1
	mov	w0, #(SMCCC_WORKAROUND_3 & 0xffff)
	movk	w0, #(SMCCC_WORKAROUND_3 >> 16), lsl #16
	smc	#0
	mov	x0, x19
	mov	x1, x20
3:	mov	x0, x1
	add	sp, sp, #16			/* ctx slot */
	ldp	x19, x20, [sp], #16
	ldp	x21, x22, [sp], #16
	ldp	x23, x24, [sp], #16
	ldp	x25, x26, [sp], #16
	ldp	x27, x28, [sp], #16
	ldp	x29, x30, [sp], #16
	ret
	.size	el2_guest_exit, . - el2_guest_exit

	.arch_extension fp
	.arch_extension simd
/* el2_fpsimd_save(struct vcpu_fpsimd *) / el2_fpsimd_restore(...) */
	.global	el2_fpsimd_save
	.type	el2_fpsimd_save, %function
el2_fpsimd_save:
	stp	q0, q1, [x0, #32 * 0]
	stp	q2, q3, [x0, #32 * 1]
	stp	q4, q5, [x0, #32 * 2]
	stp	q6, q7, [x0, #32 * 3]
	stp	q8, q9, [x0, #32 * 4]
	stp	q10, q11, [x0, #32 * 5]
	stp	q12, q13, [x0, #32 * 6]
	stp	q14, q15, [x0, #32 * 7]
	stp	q16, q17, [x0, #32 * 8]
	stp	q18, q19, [x0, #32 * 9]
	stp	q20, q21, [x0, #32 * 10]
	stp	q22, q23, [x0, #32 * 11]
	stp	q24, q25, [x0, #32 * 12]
	stp	q26, q27, [x0, #32 * 13]
	stp	q28, q29, [x0, #32 * 14]
	stp	q30, q31, [x0, #32 * 15]
	mrs	x1, fpsr
	mrs	x2, fpcr
	add	x0, x0, #512
	stp	x1, x2, [x0]
	ret
	.size	el2_fpsimd_save, . - el2_fpsimd_save

	.global	el2_fpsimd_restore
	.type	el2_fpsimd_restore, %function
el2_fpsimd_restore:
	ldp	q0, q1, [x0, #32 * 0]
	ldp	q2, q3, [x0, #32 * 1]
	ldp	q4, q5, [x0, #32 * 2]
	ldp	q6, q7, [x0, #32 * 3]
	ldp	q8, q9, [x0, #32 * 4]
	ldp	q10, q11, [x0, #32 * 5]
	ldp	q12, q13, [x0, #32 * 6]
	ldp	q14, q15, [x0, #32 * 7]
	ldp	q16, q17, [x0, #32 * 8]
	ldp	q18, q19, [x0, #32 * 9]
	ldp	q20, q21, [x0, #32 * 10]
	ldp	q22, q23, [x0, #32 * 11]
	ldp	q24, q25, [x0, #32 * 12]
	ldp	q26, q27, [x0, #32 * 13]
	ldp	q28, q29, [x0, #32 * 14]
	ldp	q30, q31, [x0, #32 * 15]
	add	x0, x0, #512
	ldp	x1, x2, [x0]
	msr	fpsr, x1
	msr	fpcr, x2
	ret
	.size	el2_fpsimd_restore, . - el2_fpsimd_restore
