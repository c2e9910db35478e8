/* SPDX-License-Identifier: MIT */
/*
 * KEEL_HC_MGMT_WATCH: the management partition waits for other partitions
 * to change without polling. Each partition counts its events (state
 * changes, console writes, memory plugged or unplugged, vCPUs on or off);
 * a WATCH arms Keel, and the next event of any partition raises the
 * management event interrupt once.
 *
 * No lost wake-up: the WATCH arms before it reads the count, an event
 * counts before it disarms, both with sequentially consistent atomics. So
 * either the WATCH sees the event's count, or the event sees the arming.
 * The interrupt is raised by the management partition's own vCPU 0 (a
 * request and a kick), so an event may be signalled from any CPU under any
 * lock without taking the management partition's interrupt model's locks.
 */
#ifndef KEEL_MGMT_WATCH_H
#define KEEL_MGMT_WATCH_H

#include <keel/types.h>

struct partition;
struct vcpu;

/* @part changed. Any CPU, any lock but part_state_lock held; no lock taken. */
void mgmt_watch_event(struct partition *part);

/* Arm the interrupt for management partition @mgmt; returns @part's event count. */
u64 mgmt_watch_arm(struct partition *mgmt, const struct partition *part);

/* VCPU_REQ_EVENT reached @vcpu (on its own CPU, in its run loop): raise the interrupt. */
void mgmt_watch_deliver(struct vcpu *vcpu);

#endif /* KEEL_MGMT_WATCH_H */
