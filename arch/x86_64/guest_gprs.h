/* SPDX-License-Identifier: MIT */
/*
 * Assembler macros shared by the SVM and VMX world switches: move the guest
 * GPRs other than RAX, RSP and RDI between the registers and the array at
 * %rdi (x86 register-number order, 8 bytes each). Each backend handles RAX,
 * RSP and RDI itself: where they live differs (VMCB, VMCS, the array).
 * Also the return-stack fill run right after a VM exit. Included from .S
 * files only.
 */
#define G(n) (8 * (n))

.macro GUEST_GPRS_LOAD
	movq G(1)(%rdi), %rcx
	movq G(2)(%rdi), %rdx
	movq G(3)(%rdi), %rbx
	movq G(5)(%rdi), %rbp
	movq G(6)(%rdi), %rsi
	movq G(8)(%rdi), %r8
	movq G(9)(%rdi), %r9
	movq G(10)(%rdi), %r10
	movq G(11)(%rdi), %r11
	movq G(12)(%rdi), %r12
	movq G(13)(%rdi), %r13
	movq G(14)(%rdi), %r14
	movq G(15)(%rdi), %r15
.endm

.macro GUEST_GPRS_SAVE
	movq %rcx, G(1)(%rdi)
	movq %rdx, G(2)(%rdi)
	movq %rbx, G(3)(%rdi)
	movq %rbp, G(5)(%rdi)
	movq %rsi, G(6)(%rdi)
	movq %r8, G(8)(%rdi)
	movq %r9, G(9)(%rdi)
	movq %r10, G(10)(%rdi)
	movq %r11, G(11)(%rdi)
	movq %r12, G(12)(%rdi)
	movq %r13, G(13)(%rdi)
	movq %r14, G(14)(%rdi)
	movq %r15, G(15)(%rdi)
.endm

/*
 * Right after a VM exit, before Keel's first RET: where x86_rsb_fill_on says
 * the CPU needs it (scrub.c), overwrite all 32 return-stack entries with
 * calls whose return addresses lead to a speculation trap, so no return
 * Keel makes is predicted from what the guest left. Unrolled: 32 CALLs and
 * no loop counter, so the fill costs 34 instructions on every exit rather
 * than twice that. Clobbers the flags; RSP is back where it was at the end.
 */
.macro RSB_FILL_IF_NEEDED reg
	cmpb $0, x86_rsb_fill_on(%rip)
	je .Lrsb_done\@
	.rept 32
	call 1f
	pause			/* speculation trap: a return predicted here spins */
	lfence
	jmp . - 5
1:
	.endr
	addq $(32 * 8), %rsp
	lfence
.Lrsb_done\@:
.endm
