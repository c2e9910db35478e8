/* SPDX-License-Identifier: MIT */
/* x86_64 test guest entry: own stack, clear .bss, guest_main(RDI = guest info). */
	.section .text.start, "ax"
	.globl _start
	.type _start, @function
_start:
	lea	__stack_top(%rip), %rsp
	mov	%rdi, %rbx
	lea	__bss_start(%rip), %rdi
	lea	__bss_end(%rip), %rcx
	sub	%rdi, %rcx
	xor	%eax, %eax
	cld
	rep stosb
	mov	%rbx, %rdi
	call	guest_main
	call	guest_shutdown
1:	hlt
	jmp	1b
	.size _start, . - _start

	.section .note.GNU-stack, "", @progbits
