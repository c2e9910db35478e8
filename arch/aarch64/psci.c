/* SPDX-License-Identifier: MIT */
/*
 * PSCI towards the firmware (secondary CPU start, system off and reset)
 * through the conduit the DTB names, SMC at EL2.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/pcpu.h>

#include "aarch64.h"

#define PSCI_CPU_ON_64 0xc4000003u
#define PSCI_SYSTEM_OFF 0x84000008u
#define PSCI_SYSTEM_RESET 0x84000009u
#define PSCI_RET_ALREADY_ON (-4)

u64 smccc_smc(u64 fn, u64 a1, u64 a2, u64 a3)
{
	register u64 x0 __asm__("x0") = fn;
	register u64 x1 __asm__("x1") = a1;
	register u64 x2 __asm__("x2") = a2;
	register u64 x3 __asm__("x3") = a3;

	/* SMCCC 1.0 lets the callee clobber x4-x17. */
	__asm__ volatile("smc #0"
			 : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3)
			 :
			 : "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",
			   "x15", "x16", "x17", "memory");
	return x0;
}

u64 psci_call(u64 fn, u64 a1, u64 a2, u64 a3)
{
	if (!aa64_plat.psci_found)
		return (u64)-1; /* NOT_SUPPORTED */
	return smccc_smc(fn, a1, a2, a3);
}

/* Per-CPU start context; read with the MMU and caches off. */
static struct el2_boot_ctx el2_boot_ctx[KEEL_MAX_CPUS] __aligned(64);

static void cache_clean_range(const void *p, u64 size)
{
	u64 line = 4u << ((read_sysreg(ctr_el0) >> 16) & 0xf);
	u64 a = ALIGN_DOWN((u64)p, line);

	for (; a < (u64)p + size; a += line)
		__asm__ volatile("dc cvac, %0" : : "r"(a) : "memory");
	dsb(ish);
}

int arch_cpu_start(struct pcpu *cpu, u64 stack_top)
{
	struct el2_boot_ctx *ctx;
	s64 ret;

	if (cpu->id >= KEEL_MAX_CPUS || !stack_top || !IS_ALIGNED(stack_top, 16))
		return -KEEL_EINVAL;
	ctx = &el2_boot_ctx[cpu->id];
	ctx->stack_top = stack_top;
	ctx->pcpu = (u64)cpu;
	mmu_fill_boot_ctx(ctx, cpu);
	cache_clean_range(ctx, sizeof(*ctx));
	/* The new CPU reads struct pcpu with caches on: coherent already. */
	ret = (s64)psci_call(PSCI_CPU_ON_64, cpu->hwid, (u64)el2_secondary_entry, (u64)ctx);
	if (ret) {
		pr_err("psci: CPU_ON of cpu %u (mpidr 0x%llx) failed: %lld", cpu->id,
		       (unsigned long long)cpu->hwid, (long long)ret);
		return ret == PSCI_RET_ALREADY_ON ? -KEEL_EBUSY : -KEEL_EIO;
	}
	return 0;
}

void el2_secondary_main(struct pcpu *cpu);
void el2_secondary_main(struct pcpu *cpu)
{
	int ret = arch_cpu_init(cpu);

	if (ret) {
		/* Core times out waiting and reports the CPU as not online. */
		pr_err("cpu %u: arch_cpu_init failed: %d", cpu->id, ret);
		arch_cpu_halt();
	}
	pcpu_secondary_main(cpu);
}

void __noreturn arch_machine_reset(bool power_off)
{
	arch_irq_save();
	psci_call(power_off ? PSCI_SYSTEM_OFF : PSCI_SYSTEM_RESET, 0, 0, 0);
	pr_err("psci: %s did not happen", power_off ? "SYSTEM_OFF" : "SYSTEM_RESET");
	arch_cpu_halt();
}
