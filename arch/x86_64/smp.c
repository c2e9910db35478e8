/* SPDX-License-Identifier: MIT */
/*
 * Secondary CPU start: the trampoline is installed once below 1 MiB, then
 * each CPU gets its stack and struct pcpu through x86_ap_params and an
 * INIT-SIPI-SIPI sequence. One CPU starts at a time.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/pcpu.h>

#include "x86.h"

extern const char x86_tramp_32[], x86_tramp_64[], x86_tramp_gdt[];

/* Read by the trampoline's 64-bit code; busy is cleared once it has them. */
struct x86_ap_params {
	u64 stack_top;
	u64 cpu;
	u64 busy;
};

static struct x86_ap_params x86_ap_params;
static hpa_t x86_tramp_page;
static bool x86_tramp_stuck;

static u64 tramp_off(const char *sym)
{
	return (u64)(sym - x86_tramp_start);
}

static void tramp_put32(hpa_t page, const char *slot, u64 val)
{
	u32 v = (u32)val;

	memcpy(hpa_to_hva(page + tramp_off(slot)), &v, sizeof(v));
}

static void tramp_put64(hpa_t page, const char *slot, u64 val)
{
	memcpy(hpa_to_hva(page + tramp_off(slot)), &val, sizeof(val));
}

void x86_tramp_install(hpa_t page)
{
	u64 size = (u64)(x86_tramp_end - x86_tramp_start);

	if (page >= 0x100000 || !IS_ALIGNED(page, PAGE_SIZE) || size > PAGE_SIZE) {
		pr_err("x86: unusable AP trampoline page 0x%llx", (unsigned long long)page);
		return;
	}
	memcpy(hpa_to_hva(page), x86_tramp_start, size);
	tramp_put32(page, x86_tramp_gdtr + 2, page + tramp_off(x86_tramp_gdt));
	tramp_put32(page, x86_tramp_far32, page + tramp_off(x86_tramp_32));
	tramp_put32(page, x86_tramp_far64, page + tramp_off(x86_tramp_64));
	tramp_put64(page, x86_tramp_cr3, x86_host_cr3);
	tramp_put64(page, x86_tramp_params, hva_to_hpa(&x86_ap_params));
	tramp_put64(page, x86_tramp_entry, (u64)(uintptr_t)x86_ap_entry);
	x86_tramp_page = page;
}

/* Wait up to ~1 s for the previous CPU to take its parameters. */
static bool smp_params_free(void)
{
	for (u32 i = 0; i < 100000; i++) {
		if (!__atomic_load_n(&x86_ap_params.busy, __ATOMIC_ACQUIRE))
			return true;
		x86_udelay(10);
	}
	return false;
}

int arch_cpu_start(struct pcpu *cpu, u64 stack_top)
{
	u32 apic_id = (u32)cpu->hwid;

	if (!x86_tramp_page || x86_tramp_stuck)
		return -KEEL_ENOSYS;
	if (!smp_params_free()) {
		/* A CPU may still wake and read them: never reuse the slot. */
		x86_tramp_stuck = true;
		pr_err("x86: a secondary CPU never took its start parameters");
		return -KEEL_EBUSY;
	}
	x86_ap_params.stack_top = ALIGN_DOWN(stack_top, 16);
	x86_ap_params.cpu = (u64)(uintptr_t)cpu;
	__atomic_store_n(&x86_ap_params.busy, 1, __ATOMIC_RELEASE);

	lapic_send_init(apic_id);
	x86_udelay(10000);
	lapic_send_sipi(apic_id, (u8)(x86_tramp_page >> PAGE_SHIFT));
	x86_udelay(200);
	if (__atomic_load_n(&x86_ap_params.busy, __ATOMIC_ACQUIRE))
		lapic_send_sipi(apic_id, (u8)(x86_tramp_page >> PAGE_SHIFT));
	return 0;
}

void __noreturn x86_ap_entry(struct pcpu *cpu)
{
	int ret;

	/* Per-CPU pointer first: waiting (arch_cpu_relax) reads it. */
	x86_set_pcpu(cpu);
	ret = arch_cpu_init(cpu);

	if (ret) {
		pr_err("x86: cpu %u: set-up failed (%d), parked", cpu->id, ret);
		WRITE_ONCE(cpu->state, PCPU_FAILED);
		arch_cpu_halt();
	}
	pcpu_secondary_main(cpu);
}
