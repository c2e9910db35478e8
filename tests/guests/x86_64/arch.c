/* SPDX-License-Identifier: MIT */
/* x86_64 hooks of the test guests: VMMCALL/VMCALL, mapping a GPA, triple fault. */
#include "cpu.h"
#include "guest.h"

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull

static bool use_vmcall;

/* Page-table pages for arch_map_gpa(); identity mapped like the rest of the image. */
static uint64_t pt_pool[6][512] __attribute__((aligned(4096)));
static unsigned int pt_used;

struct hc_result arch_hypercall(uint64_t fn, uint64_t a0, uint64_t a1, uint64_t a2)
{
	register uint64_t rax __asm__("rax") = fn;
	register uint64_t rdi __asm__("rdi") = a0;
	register uint64_t rsi __asm__("rsi") = a1;
	register uint64_t rdx __asm__("rdx") = a2;
	struct hc_result r;

	if (use_vmcall)
		__asm__ volatile("vmcall"
				 : "+r"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx)
				 :
				 : "memory");
	else
		__asm__ volatile("vmmcall"
				 : "+r"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx)
				 :
				 : "memory");
	r.status = (long)rax;
	r.r1 = rdi;
	r.r2 = rsi;
	r.r3 = rdx;
	return r;
}

uint64_t arch_hc_fn(uint64_t nr)
{
	return nr;
}

void arch_use_vmcall(bool on)
{
	use_vmcall = on;
}

const char *arch_conduit_name(void)
{
	return use_vmcall ? "vmcall" : "vmmcall";
}

uint64_t arch_ram_base(void)
{
	return 0;
}

uint64_t arch_virtio_base(void)
{
	return 0xfeb00000ull;
}

/* LFENCE keeps earlier instructions from finishing after the read. */
uint64_t arch_clock(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return (uint64_t)hi << 32 | lo;
}

/* Keel tells a bare-metal guest no TSC rate (only Linux gets tsc_early_khz=). */
uint64_t arch_clock_hz(void)
{
	return 0;
}

/* Keel's timing leaf 0x40000010 gives the TSC rate in kHz (docs/guest-abi.md). */
uint64_t arch_clock_rate(void)
{
	return (uint64_t)cpuid(0x40000010u, 0).a * 1000;
}

/* The guest's own tables map only its RAM: add a 2 MiB page for @gpa so the load reaches NPT. */
void arch_map_gpa(uint64_t gpa)
{
	uint64_t cr3, *table;
	int shift;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	table = (uint64_t *)(uintptr_t)(cr3 & PTE_ADDR);
	for (shift = 39; shift > 21; shift -= 9) {
		uint64_t *e = &table[(gpa >> shift) & 511];

		if (!(*e & PTE_P)) {
			if (pt_used == sizeof(pt_pool) / sizeof(pt_pool[0]))
				return;
			*e = (uint64_t)(uintptr_t)pt_pool[pt_used++] | PTE_P | PTE_W;
		} else if (*e & PTE_PS) {
			return; /* already mapped by a large page */
		}
		table = (uint64_t *)(uintptr_t)(*e & PTE_ADDR);
	}
	if (!(table[(gpa >> 21) & 511] & PTE_P))
		table[(gpa >> 21) & 511] = (gpa & ~0x1fffffull) | PTE_P | PTE_W | PTE_PS;
	__asm__ volatile("invlpg (%0)" : : "r"(gpa) : "memory");
}

/* An empty IDT turns the #UD into #DF and then a triple fault (shutdown). */
void arch_crash(void)
{
	static const struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idtr = {0, 0};

	__asm__ volatile("lidt %0; ud2" : : "m"(idtr));
	__builtin_unreachable();
}

/* The second conduit on x86 is VMCALL: the caller repeats its checks through it. */
bool arch_conduit_test(void)
{
	arch_use_vmcall(true);
	return true;
}

void arch_wait_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

void arch_spin_forever(bool irq)
{
	if (irq)
		__asm__ volatile("sti");
	for (;;)
		__asm__ volatile("" ::: "memory");
}

/* PSCI is arm64's: the mode says so and fails. */
bool arch_psci_cycles(uint32_t rounds)
{
	printf("psci: no PSCI on x86_64\n");
	return false;
}

/* SMCCC is arm64's: the mode says so and fails. */
bool arch_smccc_conformance(void)
{
	printf("smccc: no SMCCC on x86_64\n");
	return false;
}

long arch_hc_unknown_status(void)
{
	return -KEEL_ENOSYS;
}

/* The generic timer is arm64's: the mode says so and fails. */
bool arch_timer_conformance(void)
{
	printf("timers: no generic timer on x86_64\n");
	return false;
}

/* The overflow PPI is arm64's: the mode says so and fails. */
bool arch_pmu_conformance(void)
{
	printf("pmu: no PMU interrupt test on x86_64\n");
	return false;
}

/* SVE is arm64's: the mode says so and fails. */
bool arch_sve_conformance(void)
{
	printf("sve: no SVE on x86_64\n");
	return false;
}
