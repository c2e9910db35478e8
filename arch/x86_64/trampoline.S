/* SPDX-License-Identifier: MIT */
/*
 * Secondary CPU start-up code, copied to a page below 1 MiB and entered by
 * STARTUP IPI in real mode: 16-bit -> 32-bit protected -> long mode on the
 * hypervisor's CR3, then a jump to x86_ap_entry(cpu) on the CPU's stack.
 * Only label differences are used, so the blob runs wherever it is copied;
 * smp.c patches the absolute addresses marked "patched" at install time.
 */
	.section .rodata.tramp, "a"
	.globl x86_tramp_start, x86_tramp_end, x86_tramp_32, x86_tramp_64, x86_tramp_gdt
	.globl x86_tramp_gdtr, x86_tramp_far32, x86_tramp_far64
	.globl x86_tramp_cr3, x86_tramp_params, x86_tramp_entry

#define T(sym) ((sym) - x86_tramp_start)

	.code16
x86_tramp_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	movzwl %ax, %ebx
	shll $4, %ebx			/* %ebx = physical base of this page */
	lgdtl T(x86_tramp_gdtr)
	movl %cr0, %eax
	orl $1, %eax			/* PE */
	movl %eax, %cr0
	ljmpl *T(x86_tramp_far32)

	.code32
x86_tramp_32:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %cr4, %eax
	orl $0x20, %eax			/* PAE */
	movl %eax, %cr4
	movl T(x86_tramp_cr3)(%ebx), %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx		/* EFER: LME | NXE (the tables use NX) */
	rdmsr
	orl $0x900, %eax
	wrmsr
	movl $0x80010033, %eax		/* PG | WP | NE | ET | MP | PE */
	movl %eax, %cr0
	ljmpl *T(x86_tramp_far64)(%ebx)

	.code64
x86_tramp_64:
	movl %ebx, %ebx			/* upper half is undefined after the mode switch */
	movq T(x86_tramp_params)(%rbx), %rsi
	movq 0(%rsi), %rsp		/* stack_top */
	movq 8(%rsi), %rdi		/* struct pcpu * */
	movq T(x86_tramp_entry)(%rbx), %rax
	movq $0, 16(%rsi)		/* params consumed: the next CPU may start */
	xorl %ebp, %ebp
	pushq $0			/* no return address; keeps the ABI alignment */
	jmp *%rax

	.align 8
x86_tramp_gdt:				/* accessed bits preset: the page is read-only later */
	.quad 0
	.quad 0x00cf9b000000ffff	/* 0x08: 32-bit code */
	.quad 0x00cf93000000ffff	/* 0x10: data */
	.quad 0x00af9b000000ffff	/* 0x18: 64-bit code */
x86_tramp_gdtr:
	.word 31
	.long 0				/* patched: base of x86_tramp_gdt */
x86_tramp_far32:
	.long 0				/* patched: address of x86_tramp_32 */
	.word 0x08
x86_tramp_far64:
	.long 0				/* patched: address of x86_tramp_64 */
	.word 0x18
	.align 8
x86_tramp_cr3:
	.quad 0				/* patched: hypervisor PML4, below 4 GiB */
x86_tramp_params:
	.quad 0				/* patched: &x86_ap_params */
x86_tramp_entry:
	.quad 0				/* patched: x86_ap_entry */
x86_tramp_end:

	.section .note.GNU-stack, "", @progbits
