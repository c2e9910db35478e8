/* SPDX-License-Identifier: MIT */
/* The vCPU run loop (struct vcpu itself is in partition.h). */
#ifndef KEEL_VCPU_H
#define KEEL_VCPU_H

struct vcpu;

/* Run @vcpu on this CPU until its partition stops it. */
void vcpu_run_loop(struct vcpu *vcpu);

#endif /* KEEL_VCPU_H */
