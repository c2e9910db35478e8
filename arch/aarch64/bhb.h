/* SPDX-License-Identifier: MIT */
/*
 * Spectre-BHB (CVE-2022-23960) on guest exit: what a CPU needs before the
 * hypervisor takes an indirect branch that the guest's branch history could
 * steer. Pure functions of the ID registers, so the host tests run them.
 */
#ifndef KEEL_AA64_BHB_H
#define KEEL_AA64_BHB_H

#include <keel/types.h>

/*
 * The choice, as el2_guest_exit reads it from struct vcpu_arch.bhb: 0 nothing;
 * else bits 31:0 the count of a branch loop that overwrites the history, or
 * one of the flags (with a count of 0).
 */
#define BHB_NONE 0ull
#define BHB_CLRBHB (1ull << 32) /* the CLRBHB instruction (FEAT_CLRBHB) */
#define BHB_FIRMWARE (1ull << 33) /* SMCCC_ARCH_WORKAROUND_3 at the firmware */

struct bhb_cpu {
	u64 midr;
	u64 pfr0; /* ID_AA64PFR0_EL1: CSV2 */
	u64 mmfr1; /* ID_AA64MMFR1_EL1: ECBHB */
	u64 isar2; /* ID_AA64ISAR2_EL1: CLRBHB */
	bool firmware_wa3; /* the firmware implements SMCCC_ARCH_WORKAROUND_3 */
};

u64 bhb_choose(const struct bhb_cpu *c);

/* The choice in words, for the boot log: "a branch loop of 24 on every guest exit"... */
const char *bhb_describe(u64 choice, const struct bhb_cpu *c, char *buf, u32 size);

#endif /* KEEL_AA64_BHB_H */
