/* SPDX-License-Identifier: MIT */
/* vCPU entry states and the vCPU run loop (struct vcpu itself is in partition.h). */
#ifndef KEEL_VCPU_H
#define KEEL_VCPU_H

#include <keel/types.h>

struct vcpu;

/* How a vCPU starts; the arch turns each kind into its register state. */
#define VCPU_ENTRY_KEEL 0u /* docs/guest-abi.md: arg in RDI / X0, sp as given */
/* Linux boot protocol: x86_64 64-bit entry, RSI = boot_params; arm64 X0 = DTB */
#define VCPU_ENTRY_LINUX 1u
#define VCPU_ENTRY_SIPI 2u /* x86_64 application processor: real mode at pc = vector << 12 */
#define VCPU_ENTRY_PSCI 3u /* aarch64 PSCI CPU_ON: EL1h, MMU off, X0 = arg (context id) */

struct vcpu_entry {
	u32 kind; /* VCPU_ENTRY_* */
	u32 pad;
	gpa_t pc;
	gpa_t sp; /* 0 where the kind defines none */
	u64 arg;
};

/* Run @vcpu on this CPU until its partition stops it. */
void vcpu_run_loop(struct vcpu *vcpu);

/*
 * Start a vCPU of a running partition that is off (PSCI CPU_ON, INIT/SIPI),
 * from any CPU. Returns 0, -KEEL_EBUSY if it is already on, or -KEEL_EINVAL
 * if its partition is not running.
 */
int vcpu_start(struct vcpu *vcpu, const struct vcpu_entry *entry);

#endif /* KEEL_VCPU_H */
