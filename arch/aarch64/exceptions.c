/* SPDX-License-Identifier: MIT */
/*
 * C side of the hypervisor's own exceptions: an unexpected synchronous
 * exception or SError is a hypervisor fault (report and stop); an IRQ is
 * the hypervisor IPI.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/pcpu.h>

#include "aarch64.h"

/* vectors.S hard-codes the layout of struct arch_regs. */
_Static_assert(sizeof(struct arch_regs) == 36 * 8, "arch_regs size");
_Static_assert(offsetof(struct arch_regs, sp) == 31 * 8, "arch_regs.sp moved");
_Static_assert(offsetof(struct arch_regs, esr) == 34 * 8, "arch_regs.esr moved");

static const char *const esr_classes[64] = {
	[0x00] = "unknown reason",
	[0x01] = "WFI/WFE",
	[0x07] = "FP/SIMD access",
	[0x09] = "pointer authentication",
	[0x0e] = "illegal execution state",
	[0x11] = "SVC (AArch32)",
	[0x15] = "SVC",
	[0x16] = "HVC",
	[0x17] = "SMC",
	[0x18] = "system register access",
	[0x19] = "SVE access",
	[0x20] = "instruction abort, lower EL",
	[0x21] = "instruction abort, same EL",
	[0x22] = "PC alignment fault",
	[0x24] = "data abort, lower EL",
	[0x25] = "data abort, same EL",
	[0x26] = "SP alignment fault",
	[0x2f] = "SError",
	[0x30] = "breakpoint, lower EL",
	[0x31] = "breakpoint, same EL",
	[0x32] = "software step, lower EL",
	[0x33] = "software step, same EL",
	[0x34] = "watchpoint, lower EL",
	[0x35] = "watchpoint, same EL",
	[0x3c] = "BRK",
};

const char *esr_class_name(u64 esr)
{
	const char *s = esr_classes[ESR_EC(esr)];

	return s ? s : "reserved class";
}

void el2_sync_handler(struct arch_regs *regs)
{
	panic_exception("synchronous exception in the hypervisor", regs);
}

/*
 * A synchronous exception of the hypervisor itself. The one Keel expects:
 * its own first FP/SIMD instruction after a guest exit, trapped so that the
 * guest's registers are saved only when Keel needs them (el2_fp_flush);
 * the instruction then runs again. Anything else is fatal.
 */
void el2_sync_current(struct arch_regs *regs)
{
	if (ESR_EC(regs->esr) == EC_FP) {
		el2_fp_flush();
		return;
	}
	el2_sync_handler(regs);
}

void el2_serror_handler(struct arch_regs *regs)
{
	panic_exception("SError in the hypervisor", regs);
}

void el2_irq_handler(struct arch_regs *regs)
{
	gic_handle_irq();
}

void arch_regs_dump(const struct arch_regs *regs)
{
	for (int i = 0; i < 30; i += 3)
		pr_err("x%-2d %016llx  x%-2d %016llx  x%-2d %016llx", i,
		       (unsigned long long)regs->x[i], i + 1, (unsigned long long)regs->x[i + 1],
		       i + 2, (unsigned long long)regs->x[i + 2]);
	pr_err("x30 %016llx  sp  %016llx", (unsigned long long)regs->x[30],
	       (unsigned long long)regs->sp);
	pr_err("elr %016llx  spsr %016llx", (unsigned long long)regs->elr,
	       (unsigned long long)regs->spsr);
	pr_err("esr %016llx (EC 0x%02llx: %s, ISS 0x%07llx)  far %016llx",
	       (unsigned long long)regs->esr, (unsigned long long)ESR_EC(regs->esr),
	       esr_class_name(regs->esr), (unsigned long long)ESR_ISS(regs->esr),
	       (unsigned long long)regs->far);
}
