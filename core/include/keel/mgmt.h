/* SPDX-License-Identifier: MIT */
/* Management hypercalls (KEEL_HC_MGMT_*): one partition creates, starts and watches the others. */
#ifndef KEEL_MGMT_H
#define KEEL_MGMT_H

#include <keel/types.h>

struct vcpu;

/*
 * Perform management call @nr for @vcpu, whose partition has KEEL_PD_MANAGEMENT
 * (the caller checked). @a are the raw arguments; extra results go to @r.
 * Returns 0 or -KEEL_E*.
 */
s64 mgmt_call(struct vcpu *vcpu, u32 nr, const u64 a[6], u64 r[3]);

#endif /* KEEL_MGMT_H */
