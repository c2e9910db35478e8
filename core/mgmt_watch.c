// SPDX-License-Identifier: MIT
/* KEEL_HC_MGMT_WATCH's events and interrupt (see keel/mgmt_watch.h). */
#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/mgmt_watch.h>
#include <keel/partition.h>
#include <keel/pcpu.h>

/* The management partition that armed the interrupt, or NULL (disarmed). */
static struct partition *mgmt_watch_armed;

static bool is_management(const struct partition *part)
{
	return (part->desc.h.flags & KEEL_PD_MANAGEMENT) != 0;
}

void mgmt_watch_event(struct partition *part)
{
	struct partition *mgmt;
	struct pcpu *cpu;
	struct vcpu *v;

	__atomic_fetch_add(&part->events, 1, __ATOMIC_SEQ_CST);
	/* Its own changes wake nobody: the management partition watches the others. */
	if (is_management(part))
		return;
	/* The common case, nobody waiting, only reads the shared word. */
	if (!__atomic_load_n(&mgmt_watch_armed, __ATOMIC_SEQ_CST))
		return;
	mgmt = __atomic_exchange_n(&mgmt_watch_armed, NULL, __ATOMIC_SEQ_CST);
	if (!mgmt || !mgmt->vcpu_count)
		return;
	v = mgmt->vcpus[0];
	__atomic_fetch_or(&v->requests, VCPU_REQ_EVENT, __ATOMIC_SEQ_CST);
	cpu = READ_ONCE(v->pcpu);
	if (cpu && cpu != pcpu_this())
		pcpu_kick(cpu);
}

u64 mgmt_watch_arm(struct partition *mgmt, const struct partition *part)
{
	__atomic_store_n(&mgmt_watch_armed, mgmt, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&part->events, __ATOMIC_SEQ_CST);
}

void mgmt_watch_deliver(struct vcpu *vcpu)
{
	struct partition *part = vcpu->part;

	__atomic_fetch_and(&vcpu->requests, ~VCPU_REQ_EVENT, __ATOMIC_SEQ_CST);
	/* A request left from before a restart finds the same partition; still check. */
	if (vcpu->index != 0 || !is_management(part))
		return;
	arch_irq_set_level(part, KEEL_MGMT_EVENT_IRQ, true);
	arch_irq_set_level(part, KEEL_MGMT_EVENT_IRQ, false);
}
