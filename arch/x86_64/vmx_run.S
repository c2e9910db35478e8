/* SPDX-License-Identifier: MIT */
/*
 * One VMX world switch: vmx_vm_run(gprs, launched). The host RSP of the
 * VMCS is set to this frame right before entry, so a VM exit lands on
 * vmx_vm_exit with the @gprs pointer on top of the stack. Guest RSP and RIP
 * live in the VMCS, the other GPRs in @gprs (x86 register-number order).
 * Returns 0 after an exit, 1 on VMfailInvalid, 2 on VMfailValid.
 */
#include "guest_gprs.inc"
#define HOST_RSP 0x6c14

	.text
	.globl vmx_vm_run
	.type vmx_vm_run, @function
vmx_vm_run:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushq %rdi		/* gprs: what the exit path finds at (%rsp) */

	movl $HOST_RSP, %eax
	vmwrite %rsp, %rax
	jbe .Lfail

	cmpl $0, %esi		/* flags survive the MOVs below */
	movq G(0)(%rdi), %rax
	GUEST_GPRS_LOAD
	movq G(7)(%rdi), %rdi
	jne 1f
	vmlaunch
	jmp .Lfail
1:	vmresume

.Lfail:
	movl $1, %eax		/* CF: VMfailInvalid */
	jc 2f
	movl $2, %eax		/* ZF: VMfailValid (VM-instruction error field) */
2:	addq $8, %rsp
	jmp .Lout

	.globl vmx_vm_exit
vmx_vm_exit:
	pushq %rdi		/* guest RDI */
	movq 8(%rsp), %rdi	/* gprs */
	movq %rax, G(0)(%rdi)
	GUEST_GPRS_SAVE
	popq %rax
	movq %rax, G(7)(%rdi)
	addq $8, %rsp		/* gprs */
	RSB_FILL_IF_NEEDED %eax
	xorl %eax, %eax

.Lout:
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.size vmx_vm_run, . - vmx_vm_run

	.section .note.GNU-stack, "", @progbits
