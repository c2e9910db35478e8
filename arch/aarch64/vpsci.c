/* SPDX-License-Identifier: MIT */
/*
 * PSCI 1.1 for guests (HVC #0 or a trapped SMC): version, features,
 * CPU_SUSPEND, CPU_ON, CPU_OFF, AFFINITY_INFO, SYSTEM_OFF, SYSTEM_RESET. A
 * vCPU of the partition's own cores that calls CPU_OFF stays on its core,
 * halted, until a CPU_ON names it again. A hot vCPU (max_vcpus) takes a free
 * core at CPU_ON and gives it back at CPU_OFF. The partition powers off when
 * its last vCPU turns itself off.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/guest_mem.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/vcpu.h>

#include "aarch64.h"
#include "vplat.h"

#define PSCI_VERSION 0x84000000u
#define PSCI_CPU_SUSPEND_32 0x84000001u
#define PSCI_CPU_SUSPEND_64 0xc4000001u
#define PSCI_CPU_OFF 0x84000002u
#define PSCI_CPU_ON_32 0x84000003u
#define PSCI_CPU_ON_64 0xc4000003u
#define PSCI_AFFINITY_INFO_32 0x84000004u
#define PSCI_AFFINITY_INFO_64 0xc4000004u
#define PSCI_MIGRATE_INFO_TYPE 0x84000006u
#define PSCI_SYSTEM_OFF 0x84000008u
#define PSCI_SYSTEM_RESET 0x84000009u
#define PSCI_FEATURES 0x8400000au
#define SMCCC_VERSION 0x80000000u
#define PSCI_VERSION_1_1 0x10001u

#define PSCI_SUCCESS 0ull
#define PSCI_RET(e) ((u64)(s64)(e))
#define PSCI_NOT_SUPPORTED PSCI_RET(-1)
#define PSCI_INVALID_PARAMS PSCI_RET(-2)
#define PSCI_DENIED PSCI_RET(-3)
#define PSCI_ALREADY_ON PSCI_RET(-4)
#define PSCI_ON_PENDING PSCI_RET(-5)
#define PSCI_INVALID_ADDRESS PSCI_RET(-9)
#define PSCI_TOS_NOT_PRESENT 2

#define PSCI_AFF_ON 0
#define PSCI_AFF_OFF 1
#define PSCI_AFF_ON_PENDING 2

#define MPIDR_AFF_MASK 0xff00ffffffull

static bool vpsci_is_supported(u32 fid)
{
	switch (fid) {
	case PSCI_VERSION:
	case PSCI_FEATURES:
	case PSCI_CPU_SUSPEND_32:
	case PSCI_CPU_SUSPEND_64:
	case PSCI_CPU_ON_32:
	case PSCI_CPU_ON_64:
	case PSCI_CPU_OFF:
	case PSCI_AFFINITY_INFO_32:
	case PSCI_AFFINITY_INFO_64:
	case PSCI_MIGRATE_INFO_TYPE:
	case PSCI_SYSTEM_OFF:
	case PSCI_SYSTEM_RESET:
	case SMCCC_VERSION:
		return true;
	default:
		return false;
	}
}

static struct vcpu *vpsci_find(struct partition *part, u64 mpidr)
{
	for (u32 i = 0; i < part->vcpu_count && i < KEEL_MAX_CPUS; i++) {
		struct vcpu *v = part->vcpus[i];

		if (v && (vplat_mpidr(v->index) & MPIDR_AFF_MASK) == (mpidr & MPIDR_AFF_MASK))
			return v;
	}
	return NULL;
}

/*
 * ON: running (or started and about to be); OFF: never started, or it did
 * CPU_OFF and waits on its core (Linux's CPU hotplug waits for that); ON_PENDING:
 * a CPU_ON for it is on its way.
 */
static u64 vpsci_affinity_info(struct vcpu *vcpu, u64 target, u64 level)
{
	struct vcpu *v;
	u32 ps;

	if (level != 0 || (target & ~MPIDR_AFF_MASK))
		return PSCI_INVALID_PARAMS;
	v = vpsci_find(vcpu->part, target);
	if (!v)
		return PSCI_INVALID_PARAMS;
	if (v == vcpu)
		return PSCI_AFF_ON;
	if (READ_ONCE(v->state) == VCPU_OFF)
		return PSCI_AFF_OFF;
	/* A hot vCPU is off once it gave its core back (Linux waits for that). */
	if (v->hot)
		return PSCI_AFF_ON;
	ps = __atomic_load_n(&v->arch.psci_state, __ATOMIC_ACQUIRE);
	if (ps == VPSCI_ON)
		return PSCI_AFF_ON;
	return ps == VPSCI_OFF ? PSCI_AFF_OFF : PSCI_AFF_ON_PENDING;
}

/*
 * CPU_ON of a hot vCPU (beyond the partition's cores): it takes a free core
 * for as long as it is on, if RESIZE allows one more; else DENIED, and the
 * guest can try again later.
 */
static u64 vpsci_cpu_on_hot(struct vcpu *v, const struct vcpu_entry *e)
{
	int ret;

	if (READ_ONCE(v->state) != VCPU_OFF)
		return PSCI_ALREADY_ON; /* on, or still giving its core back */
	ret = part_vcpu_bind(v);
	if (ret == -KEEL_EBUSY)
		return PSCI_ON_PENDING; /* another CPU_ON is starting it */
	if (ret == -KEEL_ENOSPC)
		pr_warn("partition '%s': vCPU %u not started: no free core", v->part->desc.h.name,
			v->index);
	if (ret)
		return PSCI_DENIED;
	/* On from now for AFFINITY_INFO and the last-one-off check; the reset enters it. */
	v->arch.psci_pc = e->pc;
	v->arch.psci_ctx = e->arg;
	__atomic_store_n(&v->arch.psci_state, VPSCI_ON_PENDING, __ATOMIC_RELEASE);
	ret = vcpu_start(v, e);
	if (ret) {
		part_vcpu_unbind(v);
		return ret == -KEEL_EBUSY ? PSCI_ALREADY_ON : PSCI_DENIED;
	}
	return PSCI_SUCCESS;
}

static u64 vpsci_cpu_on(struct vcpu *vcpu, u64 target, u64 pc, u64 ctx)
{
	struct vcpu_entry e = { .kind = VCPU_ENTRY_PSCI, .pc = pc, .arg = ctx };
	struct vcpu *v = vpsci_find(vcpu->part, target);
	u32 off = VPSCI_OFF;
	int ret;

	if (!v || (target & ~MPIDR_AFF_MASK))
		return PSCI_INVALID_PARAMS;
	if ((pc & 3) || !guest_range_is_ram(vcpu->part, pc, 4))
		return PSCI_INVALID_ADDRESS;
	if (v == vcpu)
		return PSCI_ALREADY_ON;
	if (v->hot)
		return vpsci_cpu_on_hot(v, &e);
	/* Off by its own CPU_OFF: it waits on its core for this request. */
	if (READ_ONCE(v->state) != VCPU_OFF) {
		if (!__atomic_compare_exchange_n(&v->arch.psci_state, &off, VPSCI_CLAIMED, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return off == VPSCI_ON ? PSCI_ALREADY_ON : PSCI_ON_PENDING;
		v->arch.psci_pc = pc;
		v->arch.psci_ctx = ctx;
		__atomic_store_n(&v->arch.psci_state, VPSCI_ON_PENDING, __ATOMIC_RELEASE);
		pcpu_kick(v->pcpu);
		return PSCI_SUCCESS;
	}
	ret = vcpu_start(v, &e);
	if (ret == -KEEL_EBUSY)
		return PSCI_ALREADY_ON;
	return ret ? PSCI_DENIED : PSCI_SUCCESS;
}

/* power_state, original format: StateID 15:0, StateType 16, PowerLevel 25:24; the rest RES0. */
#define PSCI_POWER_STATE_RES0 0xfcfe0000ull
#define PSCI_POWER_STATE_POWERDOWN BIT(16)

/*
 * CPU_SUSPEND: every state is taken as standby, a WFI (what KVM does too):
 * the vCPU halts until an interrupt is pending for it and the call returns
 * SUCCESS, its context intact. A powerdown request may return that way
 * (PSCI lets a suspend end early); its entry point must still be valid.
 */
static void vpsci_cpu_suspend(struct vcpu *vcpu, u64 state, u64 entry, struct vm_exit *exit)
{
	u64 *x = vcpu->arch.x;

	if (state & PSCI_POWER_STATE_RES0) {
		x[0] = PSCI_INVALID_PARAMS;
		return;
	}
	if ((state & PSCI_POWER_STATE_POWERDOWN) &&
	    ((entry & 3) || !guest_range_is_ram(vcpu->part, entry, 4))) {
		x[0] = PSCI_INVALID_ADDRESS;
		return;
	}
	x[0] = PSCI_SUCCESS;
	exit->kind = EXIT_HALT;
}

static void vpsci_shutdown(struct vm_exit *exit, u32 reason, u32 fid)
{
	exit->kind = EXIT_SHUTDOWN;
	exit->fault.reason = reason;
	exit->fault.code = fid;
}

static void vpsci_cpu_off(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct partition *part = vcpu->part;

	__atomic_store_n(&vcpu->arch.psci_state, VPSCI_OFF, __ATOMIC_RELEASE);
	for (u32 i = 0; i < part->vcpu_count && i < KEEL_MAX_CPUS; i++) {
		struct vcpu *v = part->vcpus[i];

		if (v && v != vcpu && READ_ONCE(v->state) != VCPU_OFF &&
		    __atomic_load_n(&v->arch.psci_state, __ATOMIC_ACQUIRE) != VPSCI_OFF) {
			exit->kind = EXIT_HALT;
			return;
		}
	}
	/* The last one out: nothing can turn the partition back on. */
	vpsci_shutdown(exit, FAULT_POWEROFF, PSCI_CPU_OFF);
}

/* CPU_OFF: a hot vCPU gives its core back (the run loop takes it out); others halt. */
static void vpsci_cpu_off_or_release(struct vcpu *vcpu, struct vm_exit *exit)
{
	vpsci_cpu_off(vcpu, exit);
	if (vcpu->hot && exit->kind == EXIT_HALT) {
		__atomic_fetch_or(&vcpu->requests, VCPU_REQ_RELEASE, __ATOMIC_RELEASE);
		exit->kind = EXIT_NONE;
	}
}

/* Returns true if @fid is a PSCI call (its result or exit is set). */
bool vpsci_call(struct vcpu *vcpu, u32 fid, struct vm_exit *exit)
{
	u64 *x = vcpu->arch.x;

	if (!((fid >= 0x84000000u && fid <= 0x8400001fu) ||
	      (fid >= 0xc4000000u && fid <= 0xc400001fu)))
		return false;
	exit->kind = EXIT_NONE;
	switch (fid) {
	case PSCI_VERSION:
		x[0] = PSCI_VERSION_1_1;
		break;
	case PSCI_FEATURES:
		x[0] = vpsci_is_supported((u32)x[1]) && !(x[1] >> 32) ? PSCI_SUCCESS
								      : PSCI_NOT_SUPPORTED;
		break;
	case PSCI_CPU_SUSPEND_32:
		vpsci_cpu_suspend(vcpu, (u32)x[1], (u32)x[2], exit);
		break;
	case PSCI_CPU_SUSPEND_64:
		vpsci_cpu_suspend(vcpu, x[1], x[2], exit);
		break;
	case PSCI_CPU_ON_32:
		x[0] = vpsci_cpu_on(vcpu, (u32)x[1], (u32)x[2], (u32)x[3]);
		break;
	case PSCI_CPU_ON_64:
		x[0] = vpsci_cpu_on(vcpu, x[1], x[2], x[3]);
		break;
	case PSCI_AFFINITY_INFO_32:
		x[0] = vpsci_affinity_info(vcpu, (u32)x[1], (u32)x[2]);
		break;
	case PSCI_AFFINITY_INFO_64:
		x[0] = vpsci_affinity_info(vcpu, x[1], x[2]);
		break;
	case PSCI_MIGRATE_INFO_TYPE:
		x[0] = PSCI_TOS_NOT_PRESENT;
		break;
	case PSCI_CPU_OFF:
		vpsci_cpu_off_or_release(vcpu, exit);
		break;
	case PSCI_SYSTEM_OFF:
		vpsci_shutdown(exit, FAULT_POWEROFF, fid);
		break;
	case PSCI_SYSTEM_RESET:
		vpsci_shutdown(exit, FAULT_RESET, fid);
		break;
	default: /* SYSTEM_RESET2, SYSTEM_SUSPEND, ... */
		x[0] = PSCI_NOT_SUPPORTED;
		break;
	}
	return true;
}

bool vpsci_on_pending(struct vcpu *vcpu)
{
	return __atomic_load_n(&vcpu->arch.psci_state, __ATOMIC_ACQUIRE) == VPSCI_ON_PENDING;
}

bool vpsci_is_off(struct vcpu *vcpu)
{
	return __atomic_load_n(&vcpu->arch.psci_state, __ATOMIC_ACQUIRE) != VPSCI_ON;
}

/*
 * Before entering a vCPU that did CPU_OFF: restart it if a CPU_ON came
 * (returns false: enter it), else keep it halted (returns true, @exit set).
 */
bool vpsci_hold_off(struct vcpu *vcpu, struct vm_exit *exit)
{
	struct vcpu_entry e = { .kind = VCPU_ENTRY_PSCI };

	if (!vpsci_is_off(vcpu))
		return false;
	if (!vpsci_on_pending(vcpu)) {
		exit->kind = EXIT_HALT;
		return true;
	}
	e.pc = vcpu->arch.psci_pc;
	e.arg = vcpu->arch.psci_ctx;
	arch_vcpu_reset(vcpu, &e); /* psci_state back to VPSCI_ON */
	return false;
}
