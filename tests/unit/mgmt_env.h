/* SPDX-License-Identifier: MIT */
/* What tests/unit/mgmt_env.c offers a test of the management path. */
#ifndef KEEL_UNIT_MGMT_ENV_H
#define KEEL_UNIT_MGMT_ENV_H

#include <keel/iommu.h>
#include <keel/partition.h>
#include <keel/pci.h>
#include <keel/timer.h>

extern s64 last_status; /* the last hypercall's status and results */
extern u64 last_res[3];
extern u64 test_hc_args[6]; /* the argument registers arch_vcpu_hc_args() reads */
extern u64 now_ns; /* arch_time_ns() */
extern int kicks, timers_armed, control_requests, reports;
extern int event_edges; /* rising edges on KEEL_MGMT_EVENT_IRQ (arch_irq_set_level) */
extern u64 clock_step_ns; /* each arch_time_ns() call moves the clock on this much */
extern u32 stuck_cpu; /* a kicked vCPU on this CPU never parks (~0u: none) */
extern u32 last_control_request;
extern struct timer *armed_timer;
extern char input_seen[64]; /* console input fake_input() received */
extern size_t input_len;
/*
 * The host's PCI functions (pci_func_count(), pci_func_at()): the first
 * fake_pci_count of fake_pci; iommu_unit_for() a function's seg and bdf
 * gives its fake_pci_unit (NULL: no IOMMU translates it).
 */
#define FAKE_PCI_MAX 8u
extern struct pci_func fake_pci[FAKE_PCI_MAX];
extern struct iommu_unit *fake_pci_unit[FAKE_PCI_MAX];
extern u32 fake_pci_count;
extern u16 fake_pci_command[FAKE_PCI_MAX]; /* each one's command register */
extern u32 fake_resets[FAKE_PCI_MAX]; /* pci_reset_function() calls per function */
extern int fake_reset_result;
extern u32 fake_bus_attached;
/* partitions whose guest sees its functions (vbus_attach) */ /* what each returns (0, -PCI_RESET_ENOTSUP, -KEEL_ETIMEDOUT) */
/* What vfio/assign.c did to each domain ID (iommu_domain_* fakes). */
struct fake_domain {
	bool live;
	u64 mapped; /* bytes */
	u32 attached;
	hpa_t doorbell; /* the MSI doorbell page mapped in it (iommu_domain_map_doorbell) */
};
extern struct fake_domain fake_domains[256];
extern hpa_t fake_doorbell; /* arch_msi_doorbell()'s answer (0: none) */

void fake_input(struct partition *p, const char *buf, size_t len);

/* A host of 4 online CPUs (a core each) whose allocator has @bytes: the buffer to free. */
void *mgmt_env_machine(u64 bytes);

#endif /* KEEL_UNIT_MGMT_ENV_H */
