/* SPDX-License-Identifier: MIT */
/*
 * Core entry points: keel_entry (boot CPU, from the loader) and
 * el2_secondary_entry (every other CPU, from PSCI CPU_ON), plus the switch
 * from the firmware's translation tables to the hypervisor's own.
 */

	.section .text.entry, "ax"

/*
 * keel_entry(bi): EL2, firmware tables (identity) and stack, firmware
 * VBAR_EL2 whose code is about to be freed. Install our vectors before
 * anything can fault, move to the boot stack in .bss, call keel_main.
 */
	.global keel_entry
	.type keel_entry, %function
keel_entry:
	msr	daifset, #0xf
	adr	x1, el2_vectors
	msr	vbar_el2, x1
	isb
	adrp	x1, __boot_stack_top
	add	x1, x1, :lo12:__boot_stack_top
	mov	sp, x1
	msr	tpidr_el2, xzr		/* no struct pcpu until arch_cpu_init */
	mov	x29, xzr
	mov	x30, xzr
	bl	keel_main
1:	wfi
	b	1b
	.size keel_entry, . - keel_entry

/*
 * el2_secondary_entry(ctx): from PSCI CPU_ON at EL2, MMU and caches off,
 * x0 = struct el2_boot_ctx (cleaned to PoC by the boot CPU, so it reads
 * correctly with caches off). Vectors, the hypervisor's tables, then the
 * stack and C.
 */
	.global el2_secondary_entry
	.type el2_secondary_entry, %function
el2_secondary_entry:
	msr	daifset, #0xf
	adr	x1, el2_vectors
	msr	vbar_el2, x1
	msr	hcr_el2, xzr		/* TGE off: nothing of the firmware's regime */
	isb
	ldp	x1, x2, [x0, #16]	/* ttbr0, tcr */
	ldp	x3, x4, [x0, #32]	/* mair, sctlr */
	msr	mair_el2, x3
	msr	tcr_el2, x2
	msr	ttbr0_el2, x1
	isb
	tlbi	alle2
	dsb	nsh
	isb
	ic	iallu
	dsb	nsh
	isb
	msr	sctlr_el2, x4
	isb
	ldp	x1, x19, [x0]		/* stack top, struct pcpu * */
	mov	sp, x1
	msr	tpidr_el2, x19
	mov	x29, xzr
	mov	x30, xzr
	mov	x0, x19
	bl	el2_secondary_main
1:	wfi
	b	1b
	.size el2_secondary_entry, . - el2_secondary_entry

	.text
/*
 * el2_mmu_switch(ttbr0, tcr, mair, sctlr): move this CPU from whatever
 * tables it runs on to @ttbr0. The MMU is off only between the two SCTLR
 * writes, with no memory access in between, so dirty cache lines stay
 * valid (the same cacheable attributes apply before and after).
 */
	.global el2_mmu_switch
	.type el2_mmu_switch, %function
el2_mmu_switch:
	dsb	ish
	isb
	mrs	x4, sctlr_el2
	bic	x4, x4, #1		/* M */
	msr	sctlr_el2, x4
	isb
	tlbi	alle2
	dsb	nsh
	isb
	msr	mair_el2, x2
	msr	tcr_el2, x1
	msr	ttbr0_el2, x0
	isb
	msr	sctlr_el2, x3
	isb
	ic	iallu
	dsb	nsh
	isb
	ret
	.size el2_mmu_switch, . - el2_mmu_switch
