/* SPDX-License-Identifier: MIT */
/*
 * Core entry on the boot CPU: called by the loader as keel_entry(bi) in long
 * mode on the firmware's identity tables, GDT and stack, interrupts masked.
 */
	.section .text.entry, "ax"
	.globl keel_entry
	.type keel_entry, @function
keel_entry:
	cli
	cld
	/* Our own stack in .bss; %rdi (bi) passes through untouched. */
	leaq __boot_stack_top(%rip), %rsp
	xorl %ebp, %ebp
	call keel_main
1:	cli
	hlt
	jmp 1b
	.size keel_entry, . - keel_entry

	.section .note.GNU-stack, "", @progbits
