/* SPDX-License-Identifier: MIT */
/* What tests/unit/mgmt_env.c offers a test of the management path. */
#ifndef KEEL_UNIT_MGMT_ENV_H
#define KEEL_UNIT_MGMT_ENV_H

#include <keel/partition.h>
#include <keel/timer.h>

extern s64 last_status; /* the last hypercall's status and results */
extern u64 last_res[3];
extern u64 now_ns; /* arch_time_ns() */
extern int kicks, timers_armed, control_requests;
extern u64 clock_step_ns; /* each arch_time_ns() call moves the clock on this much */
extern u32 stuck_cpu; /* a kicked vCPU on this CPU never parks (~0u: none) */
extern u32 last_control_request;
extern struct timer *armed_timer;
extern char input_seen[64]; /* console input fake_input() received */
extern size_t input_len;

void fake_input(struct partition *p, const char *buf, size_t len);

/* A host of 4 online CPUs (a core each) whose allocator has @bytes: the buffer to free. */
void *mgmt_env_machine(u64 bytes);

#endif /* KEEL_UNIT_MGMT_ENV_H */
