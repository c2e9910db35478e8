/* SPDX-License-Identifier: MIT */
/*
 * Per-CPU EL2 set-up: early boot (console, vectors, TLS), the check for
 * EL2 and stage-2 support, and the EL2 controls every CPU runs guests with.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/pcpu.h>

#include "aarch64.h"
#include "vplat.h"

#define MPIDR_AFF_MASK 0xff00ffffffull

hpa_t dt_find_uart(const struct keel_boot_info *bi);

void arch_early_init(const struct keel_boot_info *bi)
{
	write_sysreg(vbar_el2, (u64)el2_vectors);
	isb();
	uart_init(dt_find_uart(bi));
}

static u64 field(u64 reg, u32 shift)
{
	return (reg >> shift) & 0xf;
}

int arch_virt_probe(void)
{
	u64 pfr0 = read_sysreg(id_aa64pfr0_el1);
	u64 mmfr0 = read_sysreg(id_aa64mmfr0_el1);
	u64 el = (read_sysreg(CurrentEL) >> 2) & 3;
	u64 hcr = read_sysreg(hcr_el2);
	u64 tgran4_2 = field(mmfr0, 40);
	int missing = 0;

	if (el != 2) {
		pr_err("virt: running at EL%llu, not EL2 (boot QEMU with virtualization=on)",
		       (unsigned long long)el);
		return -KEEL_ENOSYS;
	}
	if (!field(pfr0, 8)) {
		pr_err("virt: ID_AA64PFR0_EL1.EL2 = 0: no EL2");
		missing++;
	}
	if (field(pfr0, 4) < 1 || field(pfr0, 4) > 2) {
		pr_err("virt: EL1 cannot run AArch64 (ID_AA64PFR0_EL1.EL1 = %llu)",
		       (unsigned long long)field(pfr0, 4));
		missing++;
	}
	if (field(pfr0, 24) < 1) {
		pr_err("virt: no GICv3 system register interface (ID_AA64PFR0_EL1.GIC = 0)");
		missing++;
	}
	if (field(mmfr0, 0) < 2) {
		pr_err("virt: physical address range under 40 bits (PARange = %llu)",
		       (unsigned long long)field(mmfr0, 0));
		missing++;
	}
	if (field(mmfr0, 28) == 0xf || tgran4_2 == 1 ||
	    (tgran4_2 == 0 && field(mmfr0, 28) == 0xf)) {
		pr_err("virt: no 4 KiB granule at stage 2");
		missing++;
	}
	if (hcr & BIT(34)) {
		pr_err("virt: firmware left HCR_EL2.E2H set; Keel runs nVHE");
		missing++;
	}
	return missing ? -KEEL_ENOSYS : 0;
}

const char *arch_virt_name(void)
{
	return "el2+stage2";
}

static u64 cpu_hcr(void)
{
	/* TID3: guests see the feature ID registers through vidreg.c. */
	u64 hcr = HCR_VM | HCR_RW | HCR_IMO | HCR_FMO | HCR_AMO | HCR_TSC | HCR_TWI | HCR_SWIO |
		  HCR_TID3;
	u64 isar1 = read_sysreg(id_aa64isar1_el1);

	/* Let the guest use pointer authentication with its own EL1 keys. */
	if (field(isar1, 4) || field(isar1, 8) || field(isar1, 24) || field(isar1, 28))
		hcr |= HCR_API | HCR_APK;
	return hcr;
}

int arch_cpu_init(struct pcpu *cpu)
{
	int ret;

	write_sysreg(vbar_el2, (u64)el2_vectors);
	write_sysreg(tpidr_el2, (u64)cpu);
	isb();
	cpu->arch.mpidr = read_sysreg(mpidr_el1) & MPIDR_AFF_MASK;

	if (cpu->id == 0) {
		ret = gic_init();
		if (ret) {
			pr_err("gic: distributor init failed: %d", ret);
			return ret;
		}
	}
	ret = gic_cpu_init(cpu);
	if (ret)
		return ret;

	write_sysreg(hcr_el2, cpu_hcr());
	/* FP/SIMD free until a guest's state is live here (el2_fp_flush); SVE, SME trapped. */
	write_sysreg(cptr_el2, CPTR_EL2_BASE);
	/* EL1 uses the physical counter and timer directly; no offset. */
	write_sysreg(cnthctl_el2, 3);
	write_sysreg(cntvoff_el2, 0);
	/* The PMU to guests only where it can skip EL2; debug exceptions stay at EL1. */
	write_sysreg(mdcr_el2, scrub_mdcr_el2());
	scrub_bhb_init(cpu);
	write_sysreg(vpidr_el2, read_sysreg(midr_el1));
	write_sysreg(vmpidr_el2, read_sysreg(mpidr_el1));
	write_sysreg(vttbr_el2, 0);
	s2_setup_cpu();
	isb();
	return 0;
}

void arch_cpu_idle(void)
{
	/*
	 * wfi with interrupts masked still wakes on a pending one; unmask
	 * right after so it is taken here, then mask again.
	 */
	dsb(sy);
	__asm__ volatile("wfi\n\tmsr daifclr, #2\n\tisb\n\tmsr daifset, #2" ::: "memory");
}

void __noreturn arch_cpu_halt(void)
{
	__asm__ volatile("msr daifset, #0xf" ::: "memory");
	for (;;)
		__asm__ volatile("wfi" ::: "memory");
}
