/* SPDX-License-Identifier: MIT */
/*
 * One SVM world switch: svm_vm_run(gprs, vmcb_pa, host_vmcb_pa).
 * GIF is cleared and IF set around VMRUN, so a physical interrupt while the
 * guest runs becomes an INTR exit and is taken by the host IDT at STGI, once
 * the host's FS/GS/TR (GS base = this CPU's pcpu) are back. Returns with
 * interrupts off. Guest RAX/RSP/RIP live in the VMCB, the rest in @gprs
 * (x86 register-number order, 8 bytes each).
 */
#include "guest_gprs.inc"

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

	clgi
	sti			/* GIF=0 still holds interrupts off */
	movq %rdx, %rax
	vmsave			/* host FS, GS (base = pcpu), TR, LDTR, syscall MSRs */

	movq %rsi, %rax		/* guest VMCB: RAX keeps it through VMRUN (host state) */
	GUEST_GPRS_LOAD
	movq G(7)(%rdi), %rdi
	vmload
	vmrun
	vmsave
	RSB_FILL_IF_NEEDED %eax

	pushq %rdi		/* guest RDI */
	movq 16(%rsp), %rdi	/* gprs */
	GUEST_GPRS_SAVE
	popq %rax
	movq %rax, G(7)(%rdi)

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
