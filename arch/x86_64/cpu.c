/* SPDX-License-Identifier: MIT */
/*
 * x86_64 CPU bring-up and control: early init on the boot CPU, per-CPU init
 * (tables, per-CPU pointer, LAPIC, virtualization on), idle and halt, and
 * machine reset / power-off through ACPI or the legacy ports.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>

#include "virt.h"
#include "x86.h"

bool x86_has_1g_pages(void)
{
	return x86_cpuid(0x80000000, 0).eax >= 0x80000001 &&
	       (x86_cpuid(0x80000001, 0).edx & BIT(26));
}

bool x86_has_x2apic(void)
{
	return x86_cpuid(1, 0).ecx & BIT(21);
}

/* The firmware may leave the 8259s unmasked; Keel uses only the LAPIC. */
static void x86_pic_mask(void)
{
	x86_outb(0x21, 0xff);
	x86_outb(0xa1, 0xff);
}

void x86_set_pcpu(struct pcpu *cpu)
{
	cpu->arch.self = cpu;
	x86_wrmsr(MSR_GS_BASE, hva_to_hpa(&cpu->arch.self));
	x86_wrmsr(MSR_KERNEL_GS_BASE, 0);
}

void arch_early_init(const struct keel_boot_info *bi)
{
	u64 ist[X86_IST_COUNT];

	uart_init();
	x86_time_init(bi && bi->magic == KEEL_BOOT_INFO_MAGIC ? bi->timer_hz : 0);
	x86_pic_mask();
	x86_trap_init_idt();
	x86_trap_boot_ist(ist);
	x86_trap_load(0, ist);
	x86_mmu_boot_map();
	/* pcpu_this() works from here on, for panic reports. */
	x86_set_pcpu(&pcpus[0]);
}

static int x86_cpu_tables(struct pcpu *cpu)
{
	u64 ist[X86_IST_COUNT];

	if (cpu->id >= KEEL_MAX_CPUS)
		return -KEEL_EINVAL;
	if (cpu->id == 0) {
		x86_trap_boot_ist(ist);
	} else {
		if (!cpu->arch.ist_stacks)
			cpu->arch.ist_stacks = pmm_alloc(X86_IST_COUNT * X86_IST_SIZE, PAGE_SIZE);
		if (!cpu->arch.ist_stacks)
			return -KEEL_ENOMEM;
		for (u32 i = 0; i < X86_IST_COUNT; i++)
			ist[i] = cpu->arch.ist_stacks + (u64)(i + 1) * X86_IST_SIZE;
	}
	x86_trap_load(cpu->id, ist);
	x86_set_pcpu(cpu); /* the segment reload cleared it */
	return 0;
}

int arch_cpu_init(struct pcpu *cpu)
{
	int ret = x86_cpu_tables(cpu);

	if (ret)
		return ret;
	if (cpu->id != 0)
		x86_mmu_enable_cpu(cpu->root); /* from the trampoline's shared top level */
	cpu->arch.apic_id = (u32)cpu->hwid;
	lapic_init_cpu();
	lapic_timer_calibrate();
	if (lapic_self_id() != cpu->hwid)
		pr_warn("x86: cpu %u: APIC ID 0x%x, expected 0x%llx", cpu->id, lapic_self_id(),
			(unsigned long long)cpu->hwid);
	return x86_virt_cpu_init(cpu);
}

void arch_cpu_idle(void)
{
	/* STI's one-instruction shadow covers HLT: no wake-up is lost. */
	__asm__ volatile("sti; hlt; cli" ::: "memory");
}

void __noreturn arch_cpu_halt(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}

/* Dword of PCI config space on bus 0 through the legacy 0xcf8/0xcfc ports. */
static u32 x86_pci_read32(u32 dev, u32 fn, u32 reg)
{
	u32 v;

	__asm__ volatile("outl %0, %w1" ::"a"(0x80000000u | (dev << 11) | (fn << 8) | reg),
			 "Nd"(0xcf8));
	__asm__ volatile("inl %w1, %0" : "=a"(v) : "Nd"(0xcfc));
	return v;
}

/* No FADT (Bochs, i440fx): PIIX4's PM1a control is at its PMBA (00:01.3, 0x40) + 4. */
static u16 x86_piix4_pm1a_cnt(void)
{
	u32 pmba;

	if (x86_pci_read32(1, 3, 0) != 0x71138086)
		return 0;
	pmba = x86_pci_read32(1, 3, 0x40) & 0xffc0;
	return pmba ? (u16)(pmba + 4) : 0;
}

/* ACPI S5: SLP_TYP from the DSDT's \_S5, SLP_EN; q35's values without a FADT. */
static void x86_acpi_poweroff(void)
{
	u16 typ_a = x86_acpi.s5_found ? x86_acpi.slp_typ_s5a : 0;
	u16 typ_b = x86_acpi.s5_found ? x86_acpi.slp_typ_s5b : 0;
	u16 port = (u16)x86_acpi.pm1a_cnt;

	if (!port || x86_acpi.pm1a_cnt > 0xffff) {
		port = x86_piix4_pm1a_cnt();
		if (port) {
			pr_info("x86: no ACPI PM1a control, using PIIX4's at port 0x%x", port);
		} else {
			pr_info("x86: no ACPI PM1a control, trying the q35 port 0x604");
			port = 0x604;
		}
	} else if (!x86_acpi.s5_found) {
		pr_info("x86: no \\_S5 in the DSDT, using SLP_TYP 0 (q35)");
	}
	x86_outw(port, (u16)(((typ_a & 7) << 10) | BIT(13)));
	if (x86_acpi.pm1b_cnt && x86_acpi.pm1b_cnt <= 0xffff)
		x86_outw((u16)x86_acpi.pm1b_cnt, (u16)(((typ_b & 7) << 10) | BIT(13)));
}

static void x86_reset_ports(void)
{
	if (x86_acpi.reset_io) {
		x86_outb(x86_acpi.reset_port, x86_acpi.reset_value);
		x86_udelay(50000);
	}
	x86_outb(0xcf9, 0x02); /* PCI reset control: hard reset */
	x86_outb(0xcf9, 0x06);
	x86_udelay(50000);
	x86_outb(0x64, 0xfe); /* keyboard controller pulses RESET */
	x86_udelay(50000);
}

void __noreturn arch_machine_reset(bool power_off)
{
	static const struct {
		u16 limit;
		u64 base;
	} __packed no_idt = { 0, 0 };

	__asm__ volatile("cli");
	if (power_off) {
		x86_acpi_poweroff();
		x86_udelay(100000);
		pr_err("x86: power-off did not happen; halting");
		arch_cpu_halt();
	}
	x86_reset_ports();
	/* Last resort: a triple fault resets the machine. */
	__asm__ volatile("lidt %0; int3" ::"m"(no_idt));
	arch_cpu_halt();
}
