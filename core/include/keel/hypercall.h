/* SPDX-License-Identifier: MIT */
/* Hypercall dispatch from a vCPU's EXIT_HYPERCALL (numbers and structures: abi.h). */
#ifndef KEEL_HYPERCALL_H
#define KEEL_HYPERCALL_H

#include <keel/exit.h>

struct vcpu;

/*
 * Decode, check and perform the call in @exit, then write the status and
 * results back through arch_vcpu_hc_return (unless the call stopped the
 * calling partition).
 */
void hypercall_handle(struct vcpu *vcpu, const struct vm_exit *exit);

#endif /* KEEL_HYPERCALL_H */
