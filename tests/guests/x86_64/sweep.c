/* SPDX-License-Identifier: MIT */
/*
 * The attack suite's x86_64 parts: every MSR of the architectural ranges and
 * every I/O port read and written back, an interrupt storm on the LAPIC
 * model, #DB and #AC loops, and the guest-physical holes worth probing.
 */
#include "guest.h"

#include "cpu.h"

#define MSR_APIC_BASE 0x1bu
#define MSR_X2APIC_EOI 0x80bu
#define MSR_X2APIC_SVR 0x80fu
#define MSR_X2APIC_LVT_TIMER 0x832u
#define MSR_X2APIC_TMICT 0x838u
#define MSR_X2APIC_DIVIDE 0x83eu
#define MSR_X2APIC_SELF_IPI 0x83fu

static uint64_t faults;

bool arch_trap_skip(struct trap *t)
{
	const uint8_t *p = (const uint8_t *)(uintptr_t)t->pc;
	unsigned int pre = p[0] == 0x66 ? 1 : 0;

	faults++;
	if (t->vector != 13 && t->vector != 6)
		return false;
	if (p[0] == 0x0f && (p[1] == 0x30 || p[1] == 0x32)) /* WRMSR, RDMSR */
		t->pc += 2;
	else if (p[0] == 0x0f && p[1] == 0x01 &&
		 (p[2] == 0xd9 || p[2] == 0xc1)) /* VMMCALL, VMCALL */
		t->pc += 3;
	else if (p[pre] >= 0xec && p[pre] <= 0xef) /* IN/OUT with DX */
		t->pc += pre + 1;
	else if (p[pre] >= 0xe4 && p[pre] <= 0xe7) /* IN/OUT with an immediate port */
		t->pc += pre + 2;
	else
		return false;
	return true;
}

/* RDMSR that tells whether it faulted: the sweep's trap handler skips it, RAX keeps the canary. */
static bool rdmsr_try(uint32_t msr, uint64_t *v)
{
	uint64_t before = faults;
	uint32_t lo = 0, hi = 0;

	__asm__ volatile("rdmsr" : "+a"(lo), "+d"(hi) : "c"(msr) : "memory");
	*v = (uint64_t)hi << 32 | lo;
	return faults == before;
}

static bool wrmsr_try(uint32_t msr, uint64_t v)
{
	uint64_t before = faults;

	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
	return faults == before;
}

bool arch_sweep_sysregs(void)
{
	static const uint32_t base[] = { 0x0u, 0xc0000000u, 0xc0010000u };
	uint64_t readable = 0, writable = 0, total = 0;
	unsigned int r;

	for (r = 0; r < 3; r++) {
		for (uint32_t i = 0; i < 0x2000; i++) {
			uint32_t msr = base[r] + i;
			uint64_t v = 0;
			bool ok = rdmsr_try(msr, &v);

			readable += ok;
			/* Write back what it holds (the guest keeps working); 0 where it reads nothing. */
			writable += wrmsr_try(msr, ok ? v : 0);
			total++;
		}
	}
	printf("sweep: %lu MSRs read and written back: %lu readable, %lu writable, the rest #GP\n",
	       total, readable, writable);
	return total == 3 * 0x2000;
}

static uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}

bool arch_sweep_ports(void)
{
	uint64_t before = faults, ones = 0;
	uint32_t port;

	for (port = 0; port < 0x10000; port++) {
		uint8_t v = inb((uint16_t)port);

		ones += v == 0xff;
		outb((uint16_t)port, v);
		if (!(port & 3))
			outl((uint16_t)port, inl((uint16_t)port));
	}
	printf("sweep: 65536 ports read and written back (bytes, and dwords where aligned): %lu read as a floating bus, %lu faulted\n",
	       ones, faults - before);
	return faults == before;
}

static volatile uint64_t storm_count;

static bool storm_trap(struct trap *t)
{
	if (t->vector != 32)
		return false;
	storm_count++;
	wrmsr(MSR_X2APIC_EOI, 0);
	return true;
}

/* The LAPIC timer at its shortest period and self-IPIs back to back, interrupts on. */
uint64_t arch_storm(uint64_t seconds)
{
	uint64_t i, k;

	trap_install(storm_trap);
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | (1u << 11) | (1u << 10));
	wrmsr(MSR_X2APIC_SVR, 0x1ff);
	wrmsr(MSR_X2APIC_DIVIDE, 0xb);
	wrmsr(MSR_X2APIC_LVT_TIMER, 0x40 | (1u << 17)); /* periodic */
	wrmsr(MSR_X2APIC_TMICT, 1);
	__asm__ volatile("sti");
	for (i = 0; i < seconds * 50; i++) {
		for (k = 0; k < 64; k++)
			wrmsr(MSR_X2APIC_SELF_IPI, 0x41);
		delay(200);
	}
	__asm__ volatile("cli");
	wrmsr(MSR_X2APIC_TMICT, 0);
	wrmsr(MSR_X2APIC_LVT_TIMER, 1u << 16); /* masked */
	return storm_count;
}

extern char trap_vec_1[];

static volatile uint64_t ac_seen;

static bool ac_trap(struct trap *t)
{
	if (t->vector != 17)
		return false;
	ac_seen++;
	return true; /* resume at the same access: again, for ever */
}

/*
 * Ring 3 with alignment checking: a misaligned load, again and again. Where
 * the CPU does not check alignment at all (QEMU's TCG), the load just works:
 * say so once and spin.
 */
static void ac_user(void)
{
	static uint64_t buf[2];

	__asm__ volatile("pushfq; orq $0x40000, (%%rsp); popfq" ::: "memory", "cc");
	__asm__ volatile("movq 1(%0), %%rax" ::"r"(buf) : "rax", "memory");
	if (!ac_seen)
		trap_user_return();
	for (;;)
		__asm__ volatile("movq 1(%0), %%rax" ::"r"(buf) : "rax", "memory");
}

void arch_exception_loop(const char *kind)
{
	if (!strcmp(kind, "ac")) {
		uint64_t cr0;

		trap_install(ac_trap);
		__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
		__asm__ volatile("mov %0, %%cr0" ::"r"(cr0 | (1u << 18))); /* AM */
		trap_user(ac_user);
		printf("excloop: this CPU raises no #AC (no alignment checking): nothing to loop on\n");
	} else {
		/*
		 * An instruction breakpoint on the #DB handler's first instruction:
		 * delivering #DB raises #DB (the XSA-156 loop). A single step (TF)
		 * starts it.
		 */
		trap_install(NULL);
		__asm__ volatile(
			"mov %0, %%dr0; mov %1, %%dr7" ::"r"((uint64_t)(uintptr_t)trap_vec_1),
			"r"(0x401ull));
		__asm__ volatile("pushfq; orq $0x100, (%%rsp); popfq; nop" ::: "memory", "cc");
	}
	for (;;)
		;
}

bool arch_exception_loop_exits(const char *kind)
{
	return true;
}

static const uint64_t holes[] = {
	0xfed00000ull, /* the host's HPET */
	0xb0000000ull, /* the host's PCI configuration space (q35 ECAM) */
	0xffe00000ull, /* firmware flash */
	0xfec01000ull, /* beside the IOAPIC model */
	0xfee01000ull, /* beside the LAPIC model */
	0x100000000ull, /* 4 GiB: far above this partition's RAM */
	0x7ffffff000ull, /* the top of a 39-bit physical space */
};

unsigned int arch_hole_addrs(const uint64_t **addrs)
{
	*addrs = holes;
	return sizeof(holes) / sizeof(holes[0]);
}
