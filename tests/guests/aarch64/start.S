/* SPDX-License-Identifier: MIT */
/* aarch64 test guest entry (EL1, MMU off): own stack, clear .bss, guest_main(X0 = info). */
	.section .text.start, "ax"
	.globl _start
	.type _start, %function
_start:
	adrp	x1, __stack_top
	add	x1, x1, :lo12:__stack_top
	mov	sp, x1
	mov	x19, x0
	adrp	x1, __bss_start
	add	x1, x1, :lo12:__bss_start
	adrp	x2, __bss_end
	add	x2, x2, :lo12:__bss_end
1:	cmp	x1, x2
	b.hs	2f
	str	xzr, [x1], #8
	b	1b
2:	mov	x0, x19
	bl	guest_main
	bl	guest_shutdown
3:	wfe
	b	3b
	.size _start, . - _start

	.section .note.GNU-stack, "", %progbits
