/* SPDX-License-Identifier: MIT */
/*
 * The CPU feature ID registers a guest reads (trapped by HCR_EL2.TID3): the
 * real values, minus what Keel does not switch per guest. SVE and SME are
 * hidden (their Z/P/ZA state is larger than the FP/SIMD state Keel saves),
 * as are MTE and the activity monitors (no per-guest state for them either).
 */
#include <keel/types.h>

#include "aarch64.h"
#include "vplat.h"

#define FIELD_MASK(shift) (0xfull << (shift))

#define PFR0_SVE FIELD_MASK(32)
#define PFR0_AMU FIELD_MASK(44)
#define PFR1_MTE FIELD_MASK(8)
#define PFR1_SME FIELD_MASK(24)
#define PFR1_MPAM_FRAC FIELD_MASK(16)
#define PFR0_MPAM FIELD_MASK(40)

/* (CRm << 3 | op2) of the ID registers at op0 3, op1 0, CRn 0. */
#define ID(crm, op2) ((crm) << 3 | (op2))

static u64 vidreg_real(u32 id)
{
	switch (id) {
	/* AArch32 views, for an AArch32 EL0 the guest might probe */
	case ID(1, 0):
		return read_sysreg(s3_0_c0_c1_0); /* ID_PFR0_EL1 */
	case ID(1, 1):
		return read_sysreg(s3_0_c0_c1_1);
	case ID(1, 2):
		return read_sysreg(s3_0_c0_c1_2);
	case ID(1, 3):
		return read_sysreg(s3_0_c0_c1_3);
	case ID(1, 4):
		return read_sysreg(s3_0_c0_c1_4);
	case ID(1, 5):
		return read_sysreg(s3_0_c0_c1_5);
	case ID(1, 6):
		return read_sysreg(s3_0_c0_c1_6);
	case ID(1, 7):
		return read_sysreg(s3_0_c0_c1_7);
	case ID(2, 0):
		return read_sysreg(s3_0_c0_c2_0); /* ID_ISAR0_EL1 */
	case ID(2, 1):
		return read_sysreg(s3_0_c0_c2_1);
	case ID(2, 2):
		return read_sysreg(s3_0_c0_c2_2);
	case ID(2, 3):
		return read_sysreg(s3_0_c0_c2_3);
	case ID(2, 4):
		return read_sysreg(s3_0_c0_c2_4);
	case ID(2, 5):
		return read_sysreg(s3_0_c0_c2_5);
	case ID(2, 6):
		return read_sysreg(s3_0_c0_c2_6);
	case ID(2, 7):
		return read_sysreg(s3_0_c0_c2_7);
	case ID(3, 0):
		return read_sysreg(s3_0_c0_c3_0); /* MVFR0_EL1 */
	case ID(3, 1):
		return read_sysreg(s3_0_c0_c3_1);
	case ID(3, 2):
		return read_sysreg(s3_0_c0_c3_2);
	/* AArch64 */
	case ID(4, 0):
		return read_sysreg(id_aa64pfr0_el1) & ~(PFR0_SVE | PFR0_AMU | PFR0_MPAM);
	case ID(4, 1):
		return read_sysreg(id_aa64pfr1_el1) & ~(PFR1_MTE | PFR1_SME | PFR1_MPAM_FRAC);
	case ID(5, 0):
		return scrub_guest_dfr0(read_sysreg(id_aa64dfr0_el1));
	case ID(5, 1):
		return read_sysreg(id_aa64dfr1_el1);
	case ID(5, 4):
		return read_sysreg(id_aa64afr0_el1);
	case ID(5, 5):
		return read_sysreg(id_aa64afr1_el1);
	case ID(6, 0):
		return read_sysreg(id_aa64isar0_el1);
	case ID(6, 1):
		return read_sysreg(id_aa64isar1_el1);
	case ID(6, 2):
		return read_sysreg(s3_0_c0_c6_2); /* ID_AA64ISAR2_EL1 */
	case ID(7, 0):
		return read_sysreg(id_aa64mmfr0_el1);
	case ID(7, 1):
		return read_sysreg(id_aa64mmfr1_el1);
	case ID(7, 2):
		return read_sysreg(id_aa64mmfr2_el1);
	/* ZFR0, SMFR0 (hidden features) and the reserved encodings: RAZ. */
	default:
		return 0;
	}
}

/* A trapped ID register read at CRm @crm, op2 @op2; false if not one. */
bool vidreg_read(u32 crm, u32 op2, u64 *value)
{
	if (crm < 1 || crm > 7 || op2 > 7)
		return false;
	*value = vidreg_real(ID(crm, op2));
	return true;
}
