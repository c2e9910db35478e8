/* SPDX-License-Identifier: MIT */
/*
 * NMI IPIs and CR8, against the architecture (SDM vol. 3, 6.7.1 and 10.8.6.1):
 * an NMI sent to itself is taken, with interrupts disabled too; one sent
 * from inside the NMI handler waits for that handler's IRET, then comes;
 * an SMI IPI does nothing in a machine without SMM; CR8 and the LAPIC's TPR
 * are one register (CR8 = TPR[7:4]), and CR8 holds back interrupts of its
 * priority class and below. Keel once dropped NMI IPIs and kept CR8 apart
 * from the TPR.
 */
#include "cpu.h"
#include "guest.h"

#define MSR_APIC_BASE 0x1bu
#define MSR_X2APIC_TPR 0x808u
#define MSR_X2APIC_EOI 0x80bu
#define MSR_X2APIC_SVR 0x80fu
#define MSR_X2APIC_ICR 0x830u
#define MSR_X2APIC_SELF_IPI 0x83fu
#define ICR_SELF (1u << 18)
#define ICR_DM_SMI (2u << 8)
#define ICR_DM_NMI (4u << 8)
#define VEC_NMI 2
#define VEC_GP 13
#define VEC_IRQ 32 /* every vector from 32 up reaches the handler as 32 */
#define WAIT_LOOPS 2000000u

static volatile uint64_t nmis, depth, nested, irqs, gps, seen_inside;
static volatile bool resend;
static uint64_t gp_resume;

static void self_nmi(void)
{
	wrmsr(MSR_X2APIC_ICR, ICR_DM_NMI | ICR_SELF);
}

static bool nmi_trap(struct trap *t)
{
	if (t->vector == VEC_NMI) {
		nested += ++depth > 1;
		nmis++;
		if (resend) {
			/* A second NMI now must wait for this handler's IRET. */
			resend = false;
			self_nmi();
			for (volatile uint32_t i = 0; i < WAIT_LOOPS / 10; i++)
				;
			seen_inside = nmis;
		}
		depth--;
		return true;
	}
	if (t->vector == VEC_IRQ) {
		irqs++;
		wrmsr(MSR_X2APIC_EOI, 0);
		return true;
	}
	if (t->vector == VEC_GP && t->user) {
		gps++;
		t->leave_user = true; /* back from trap_user() */
		return true;
	}
	if (t->vector == VEC_GP && gp_resume) {
		gps++;
		t->pc = gp_resume;
		gp_resume = 0;
		return true;
	}
	return false;
}

/* Wait (bounded) until @counter reaches @want. */
static bool wait_for(volatile uint64_t *counter, uint64_t want)
{
	for (uint32_t i = 0; i < WAIT_LOOPS && *counter < want; i++)
		__asm__ volatile("pause");
	return *counter >= want;
}

static bool check(const char *what, bool ok)
{
	printf("nmi: %-58s %s\n", what, ok ? "ok" : "WRONG");
	return ok;
}

static void set_cr8(uint64_t v)
{
	__asm__ volatile("mov %0, %%cr8" : : "r"(v) : "memory");
}

static uint64_t get_cr8(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr8, %0" : "=r"(v));
	return v;
}

static bool nmi_checks(void)
{
	bool ok = true;

	self_nmi();
	ok &= check("NMI IPI to itself: taken", wait_for(&nmis, 1) && nmis == 1);
	resend = true;
	self_nmi();
	ok &= check("NMI sent inside the handler: not taken before its IRET",
		    wait_for(&nmis, 2) && seen_inside == 2 && !nested);
	ok &= check("... then taken after it", wait_for(&nmis, 3) && nmis == 3 && !nested);
	__asm__ volatile("cli");
	self_nmi();
	ok &= check("NMI taken with interrupts disabled (IF = 0)", wait_for(&nmis, 4));
	wrmsr(MSR_X2APIC_ICR, ICR_DM_SMI | ICR_SELF);
	for (volatile uint32_t i = 0; i < WAIT_LOOPS / 10; i++)
		;
	ok &= check("SMI IPI: nothing happens (no SMM), the guest goes on", nmis == 4 && !gps);
	return ok;
}

/* Ring 3: MOV to CR8 is privileged. */
static void user_set_cr8(void)
{
	set_cr8(1);
	trap_user_return();
}

static bool cr8_checks(void)
{
	bool ok = true;

	set_cr8(5);
	ok &= check("CR8 = 5: TPR reads 0x50", rdmsr(MSR_X2APIC_TPR) == 0x50);
	wrmsr(MSR_X2APIC_TPR, 0xa0);
	ok &= check("TPR = 0xa0: CR8 reads 0xa", get_cr8() == 0xa);
	set_cr8(0);
	ok &= check("CR8 = 0: TPR reads 0", rdmsr(MSR_X2APIC_TPR) == 0);
	wrmsr(MSR_X2APIC_TPR, 0x35);
	__asm__ volatile("cpuid" : : "a"(0), "c"(0) : "rbx", "rdx", "memory"); /* an exit */
	ok &= check("TPR = 0x35 keeps bits 3:0 across exits", rdmsr(MSR_X2APIC_TPR) == 0x35);
	set_cr8(0);

	/* Priority class 2 (vectors 0x20-0x2f) held back by CR8 = 2, let in by CR8 = 1. */
	__asm__ volatile("sti");
	set_cr8(2);
	wrmsr(MSR_X2APIC_SELF_IPI, 0x21);
	for (volatile uint32_t i = 0; i < WAIT_LOOPS / 10; i++)
		;
	ok &= check("CR8 = 2 holds back vector 0x21", irqs == 0);
	set_cr8(1);
	ok &= check("CR8 = 1 lets vector 0x21 in", wait_for(&irqs, 1) && irqs == 1);
	__asm__ volatile("cli");
	set_cr8(0);

	/* Bits 63:4 of CR8 are reserved: #GP, and CR8 keeps its value. */
	set_cr8(3);
	__asm__ volatile("lea 1f(%%rip), %%rax\n"
			 "mov %%rax, (%0)\n"
			 "mov %1, %%cr8\n"
			 "1:" : : "r"(&gp_resume), "r"(16ull) : "rax", "memory");
	ok &= check("CR8 = 16: #GP, CR8 unchanged", gps == 1 && get_cr8() == 3);
	trap_user(user_set_cr8);
	ok &= check("CR8 written from ring 3: #GP, CR8 unchanged", gps == 2 && get_cr8() == 3);
	set_cr8(0);
	return ok;
}

bool arch_nmi_conformance(void)
{
	bool ok;

	trap_install(nmi_trap);
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | (1u << 11) | (1u << 10)); /* x2APIC */
	wrmsr(MSR_X2APIC_SVR, 0x1ff);
	ok = nmi_checks();
	ok &= cr8_checks();
	printf("nmi: %lu NMIs, %lu interrupts, %lu #GP\n", nmis, irqs, gps);
	return ok;
}
