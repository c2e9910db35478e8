/* SPDX-License-Identifier: MIT */
/*
 * The guest's clock on x86_64: what it may know about its TSC without
 * measuring it against a port-I/O timer.
 *
 * - CPUID 0x40000000: Keel's signature "KeelKeelKeel"; its highest leaf is
 *   0x40000010, the hypervisor timing leaf (EAX = TSC kHz, EBX = LAPIC timer
 *   kHz, the convention VMware introduced and other hypervisors follow).
 * - CPUID 0x40000100/0x40000101: KVM's paravirtual clock interface
 *   ("KVMKVMKVM", CLOCKSOURCE2 and the TSC-stable bit, nothing else), which
 *   Linux finds by scanning the hypervisor range. Through it Linux learns the
 *   TSC frequency exactly (no refined calibration against the ACPI PM timer,
 *   which under a slow exit path never converges), and gets kvm-clock, a
 *   clocksource and watchdog that reads the TSC without exits.
 * - MSRs 0x4b564d00 (wall clock) and 0x4b564d01 (system time): Keel writes
 *   the pvclock structures into the guest's RAM once, through the checked
 *   helpers. The guest's TSC is the host's and runs at a fixed rate, so one
 *   write per registration stays true: every vCPU gets the same
 *   (tsc_timestamp = 0, system_time = 0, mul, shift), so their clocks agree.
 *
 * Whether the TSC is invariant is the host's to say (CPUID 0x80000007
 * EDX[8], passed through in vcpu.c): where it is, Linux ranks kvm-clock
 * below the TSC and runs on `tsc`; where it is not, it stays on kvm-clock.
 */
#include <keel/arch.h>
#include <keel/guest_mem.h>
#include <keel/lib.h>
#include <keel/partition.h>

#include "vplat.h"
#include "x86.h"

#define CPUID_KEEL_BASE 0x40000000u
#define CPUID_KEEL_TIMING 0x40000010u
#define CPUID_KVM_BASE 0x40000100u
#define CPUID_KVM_FEATURES 0x40000101u
#define CPUID_SIG_KEEL 0x6c65654bu /* "Keel" */
#define CPUID_SIG_KVM_1 0x4b4d564bu /* "KVMK" */
#define CPUID_SIG_KVM_2 0x564b4d56u /* "VMKV" */
#define CPUID_SIG_KVM_3 0x0000004du /* "M\0\0\0" */
#define KVM_FEATURE_CLOCKSOURCE2 BIT(3)
#define KVM_FEATURE_CLOCKSOURCE_STABLE_BIT BIT(24)

#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00u
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01u
#define KVM_SYSTEM_TIME_ENABLE 1ull
#define PVCLOCK_TSC_STABLE_BIT 1u

#define LAPIC_TIMER_KHZ 1000000u /* the LAPIC model counts 1 ns per input tick */
#define NS_PER_SEC 1000000000ull
/* The CMOS RTC model's epoch (vlegacy.c): 2025-01-01 00:00:00 UTC at Keel's time 0. */
#define VCLOCK_EPOCH_S 1735689600ull

/* The pvclock ABI (Linux Documentation/virt/kvm/x86/msr.rst). */
struct pvclock_vcpu_time_info {
	u32 version;
	u32 pad0;
	u64 tsc_timestamp;
	u64 system_time;
	u32 tsc_to_system_mul;
	s8 tsc_shift;
	u8 flags;
	u8 pad[2];
};

struct pvclock_wall_clock {
	u32 version;
	u32 sec;
	u32 nsec;
};

/* ns = ((tsc << shift) * mul) >> 32, with mul < 2^32: the guest's formula. */
struct vclock_scale {
	u32 mul;
	s8 shift;
};

static struct vclock_scale vclock_scale(u64 tsc_hz)
{
	struct vclock_scale s = { 0, 0 };
	u64 scaled = tsc_hz ? tsc_hz : NS_PER_SEC;

	/* Bring the rate into (1 GHz, 2 GHz]: then 10^9 / rate < 1 fits a 32-bit fraction. */
	while (scaled <= NS_PER_SEC) {
		scaled <<= 1;
		s.shift++;
	}
	while (scaled > 2 * NS_PER_SEC) {
		scaled >>= 1;
		s.shift--;
	}
	s.mul = (u32)((NS_PER_SEC << 32) / scaled);
	return s;
}

static u64 vclock_ns(struct vclock_scale s, u64 tsc)
{
	u64 d = s.shift >= 0 ? tsc << s.shift : tsc >> -s.shift;

	return (u64)(((unsigned __int128)d * s.mul) >> 32);
}

bool x86_vclock_cpuid(u32 leaf, struct x86_cpuid *r)
{
	switch (leaf) {
	case CPUID_KEEL_BASE:
		r->eax = CPUID_KEEL_TIMING;
		r->ebx = r->ecx = r->edx = CPUID_SIG_KEEL;
		return true;
	case CPUID_KEEL_TIMING:
		r->eax = (u32)x86_tsc_khz();
		r->ebx = LAPIC_TIMER_KHZ;
		r->ecx = r->edx = 0;
		return true;
	case CPUID_KVM_BASE:
		r->eax = CPUID_KVM_FEATURES;
		r->ebx = CPUID_SIG_KVM_1;
		r->ecx = CPUID_SIG_KVM_2;
		r->edx = CPUID_SIG_KVM_3;
		return true;
	case CPUID_KVM_FEATURES:
		r->eax = (u32)(KVM_FEATURE_CLOCKSOURCE2 | KVM_FEATURE_CLOCKSOURCE_STABLE_BIT);
		r->ebx = r->ecx = r->edx = 0; /* no hints */
		return true;
	default:
		return false;
	}
}

/* Write @len bytes at @gpa, which must lie in the partition's RAM. */
static int vclock_put(struct vcpu *vcpu, gpa_t gpa, const void *src, u64 len)
{
	if (!guest_range_is_ram(vcpu->part, gpa, len))
		return -KEEL_EFAULT;
	return guest_copy_to(vcpu->part, gpa, src, len) ? -KEEL_EFAULT : 0;
}

/*
 * The system-time structure: odd version while it changes, even after (the
 * guest retries a read that saw an odd or changed version).
 */
static int vclock_write_time(struct vcpu *vcpu, gpa_t gpa)
{
	struct vclock_scale s = vclock_scale(x86_tsc_khz() * 1000);
	struct pvclock_vcpu_time_info ti;
	u32 version;

	/* The whole structure first: a bad address changes nothing in the guest. */
	if (!guest_range_is_ram(vcpu->part, gpa, sizeof(ti)) ||
	    guest_copy_from(vcpu->part, &version, gpa, sizeof(version)))
		return -KEEL_EFAULT;
	version = (version | 1) + 1; /* next even value, past the odd one below */
	memset(&ti, 0, sizeof(ti));
	ti.version = version - 1;
	if (vclock_put(vcpu, gpa, &ti.version, sizeof(ti.version)))
		return -KEEL_EFAULT;
	ti.tsc_timestamp = 0;
	ti.system_time = 0;
	ti.tsc_to_system_mul = s.mul;
	ti.tsc_shift = s.shift;
	ti.flags = PVCLOCK_TSC_STABLE_BIT;
	ti.version = version;
	return vclock_put(vcpu, gpa, &ti, sizeof(ti));
}

/* Wall-clock time at system time 0: now (the RTC model's clock) minus the guest's system time. */
static int vclock_write_wall(struct vcpu *vcpu, gpa_t gpa)
{
	struct vclock_scale s = vclock_scale(x86_tsc_khz() * 1000);
	u64 now = VCLOCK_EPOCH_S * NS_PER_SEC + arch_time_ns();
	u64 sys = vclock_ns(s, x86_rdtsc());
	u64 at0 = now > sys ? now - sys : 0;
	struct pvclock_wall_clock wc = {
		.version = 2,
		.sec = (u32)(at0 / NS_PER_SEC),
		.nsec = (u32)(at0 % NS_PER_SEC),
	};

	return vclock_put(vcpu, gpa, &wc, sizeof(wc));
}

bool x86_vclock_msr_read(struct vcpu *vcpu, u32 msr, u64 *val, int *ret)
{
	if (msr == MSR_KVM_SYSTEM_TIME_NEW) {
		*val = vcpu->arch.pvclock_msr;
		*ret = 0;
		return true;
	}
	if (msr == MSR_KVM_WALL_CLOCK_NEW) {
		*val = vcpu->arch.wallclock_msr;
		*ret = 0;
		return true;
	}
	return false;
}

/*
 * A guest-physical address the guest names in a clock MSR: written at once
 * (the values never change while the partition runs). An address outside its
 * RAM is refused with #GP, as KVM's own checks would fail the write.
 */
bool x86_vclock_msr_write(struct vcpu *vcpu, u32 msr, u64 val, int *ret)
{
	if (msr == MSR_KVM_SYSTEM_TIME_NEW) {
		*ret = (val & KVM_SYSTEM_TIME_ENABLE)
			       ? vclock_write_time(vcpu, val & ~KVM_SYSTEM_TIME_ENABLE)
			       : 0;
		if (!*ret)
			vcpu->arch.pvclock_msr = val;
		return true;
	}
	if (msr == MSR_KVM_WALL_CLOCK_NEW) {
		*ret = vclock_write_wall(vcpu, val);
		if (!*ret)
			vcpu->arch.wallclock_msr = val;
		return true;
	}
	return false;
}
