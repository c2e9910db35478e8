/* SPDX-License-Identifier: MIT */
/*
 * The core image (build/<arch>/core.elf, path in CORE_ELF) embedded in the
 * loader as read-only data between keel_core_image and keel_core_image_end.
 */
	.section .rodata.keel_core, "a"
	.balign 16
	.globl keel_core_image
	.hidden keel_core_image
keel_core_image:
	.incbin CORE_ELF
	.globl keel_core_image_end
	.hidden keel_core_image_end
keel_core_image_end:

	.section .note.GNU-stack, "", %progbits
