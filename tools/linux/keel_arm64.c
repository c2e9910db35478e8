// SPDX-License-Identifier: MIT OR GPL-2.0
/* keel.ko on arm64: HVC under the SMC Calling Convention, detected by CALL_UID. */
#include <linux/arm-smccc.h>

#include "keel_conduit.h"
#include "keel_dev.h"

void keel_hypercall(u64 nr, u64 a0, u64 a1, u64 a2, struct keel_hc_result *res)
{
	struct arm_smccc_res r;

	arm_smccc_1_1_hvc(KEEL_SMCCC_FN(nr), a0, a1, a2, &r);
	res->status = (long)r.a0;
	res->r[0] = r.a1;
	res->r[1] = r.a2;
	res->r[2] = r.a3;
}

/* SMCCC CALL_UID in the vendor hypervisor range answers Keel's UID. */
bool keel_detect(void)
{
	struct arm_smccc_res r;

	if (arm_smccc_1_1_get_conduit() != SMCCC_CONDUIT_HVC)
		return false;
	arm_smccc_1_1_hvc(KEEL_SMCCC_CALL_UID, &r);
	return r.a0 == KEEL_SMCCC_UID0 && r.a1 == KEEL_SMCCC_UID1 && r.a2 == KEEL_SMCCC_UID2 &&
	       r.a3 == KEEL_SMCCC_UID3;
}
