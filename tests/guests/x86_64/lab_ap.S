/* SPDX-License-Identifier: MIT */
/*
 * The lab bench's vCPU 1 start (x86_64/lab.c): copied to a page below 1 MiB
 * and entered there by INIT, SIPI in real mode (CS = the page >> 4, IP = 0).
 * It loads its own GDT, turns on PAE, the BSP's CR3, EFER.LME|NXE, then PE
 * and PG at once, and far-jumps into 64-bit code, which takes its stack and
 * C entry from the slots lab.c filled in. Only RIP-relative or page-relative
 * addressing: it runs wherever the page is.
 */
	.section .rodata, "a"
	.globl lab_ap_tramp, lab_ap_tramp_end
	.globl lab_ap_gdtr, lab_ap_far, lab_ap_cr3, lab_ap_stack, lab_ap_entry
	.code16
lab_ap_tramp:
	cli
	movw	%cs, %ax
	movw	%ax, %ds
	lgdtl	lab_ap_gdtr - lab_ap_tramp
	movl	%cr4, %eax
	orl	$0x20, %eax			/* PAE */
	movl	%eax, %cr4
	movl	lab_ap_cr3 - lab_ap_tramp, %eax
	movl	%eax, %cr3
	movl	$0xc0000080, %ecx		/* EFER */
	rdmsr
	orl	$0x900, %eax			/* LME | NXE */
	wrmsr
	movl	$0x80010033, %eax		/* PG | WP | NE | ET | MP | PE, as the BSP */
	movl	%eax, %cr0
	ljmpl	*(lab_ap_far - lab_ap_tramp)
	.code64
lab_ap_long:
	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	xorw	%ax, %ax
	movw	%ax, %fs
	movw	%ax, %gs
	movq	lab_ap_stack(%rip), %rsp
	movq	lab_ap_entry(%rip), %rax
	jmp	*%rax

	.balign	8
lab_ap_gdt:
	.quad	0
	.quad	0x00af9b000000ffff		/* 0x08: 64-bit code, as the BSP's */
	.quad	0x00cf93000000ffff		/* 0x10: data */
lab_ap_gdtr:
	.word	3 * 8 - 1
	.long	lab_ap_gdt - lab_ap_tramp	/* + the page's address, by lab.c */
lab_ap_far:
	.long	lab_ap_long - lab_ap_tramp	/* + the page's address, by lab.c */
	.word	0x08
	.balign	8
lab_ap_cr3:
	.quad	0
lab_ap_stack:
	.quad	0
lab_ap_entry:
	.quad	0
lab_ap_tramp_end:

	.section .note.GNU-stack, "", @progbits
