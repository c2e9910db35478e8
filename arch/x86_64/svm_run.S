/* SPDX-License-Identifier: MIT */
/*
 * One SVM world switch: svm_vm_run(gprs, vmcb_pa, host_vmcb_pa).
 * GIF is cleared and IF set around VMRUN, so a physical interrupt while the
 * guest runs becomes an INTR exit and is taken by the host IDT at STGI, once
 * the host's FS/GS/TR (GS base = this CPU's pcpu) are back. Returns with
 * interrupts off. Guest RAX/RSP/RIP live in the VMCB, the rest in @gprs
 * (x86 register-number order, 8 bytes each).
 */
#define G(n) (8 * (n))

	.text
	.globl svm_vm_run
	.type svm_vm_run, @function
svm_vm_run:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushq %rdi		/* gprs */
	pushq %rdx		/* host save VMCB */
	pushq %rsi		/* guest VMCB */

	clgi
	sti			/* GIF=0 still holds interrupts off */
	movq %rdx, %rax
	vmsave			/* host FS, GS (base = pcpu), TR, LDTR, syscall MSRs */

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
	movq G(7)(%rdi), %rdi
	movq (%rsp), %rax	/* guest VMCB */
	vmload
	vmrun
	vmsave

	pushq %rdi		/* guest RDI */
	movq 24(%rsp), %rdi	/* gprs */
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
	popq %rax
	movq %rax, G(7)(%rdi)

	addq $8, %rsp		/* guest VMCB */
	popq %rax		/* host save VMCB */
	vmload
	stgi			/* a pending host interrupt is taken here */
	cli

	popq %rdi
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.size svm_vm_run, . - svm_vm_run

	.section .note.GNU-stack, "", @progbits
