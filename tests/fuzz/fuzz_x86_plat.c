/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the x86_64 platform models a partition's guest drives
 * (arch/x86_64: LAPIC, IOAPIC, PIT, ACPI PM block, UART, legacy ports): the
 * input is a sequence of register accesses of any size at any offset, LAPIC
 * MSR accesses, interrupt lines, timer expiries and interrupt acknowledges
 * on a two-vCPU partition, and snapshots of the IOAPIC, LAPICs and PM block
 * taken and restored, mutated or not. Nothing crashes, a snapshot is taken
 * only as a state the model could make, and every byte Keel took for the
 * platform comes back when it goes.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/arch.h>
#include <keel/console.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/timer.h>
#include <keel/vdev.h>

#include "plat_env.h"
#include "vplat.h"

#define MAX_TIMERS 64

static u64 now = 1000;
static struct timer *timers[MAX_TIMERS];

u64 arch_time_ns(void)
{
	return now;
}

u64 x86_tsc_to_ns(u64 tsc)
{
	return tsc;
}

void console_part_write(struct partition *p, const char *buf, size_t len)
{
}

void part_stop(struct partition *p, u32 cause, const char *reason, bool reboot)
{
}

int vcpu_start(struct vcpu *v, const struct vcpu_entry *e)
{
	return 0;
}

/* Hot vCPUs: none here has a core to take (the fuzzer's vCPUs are all its own). */
int part_vcpu_bind(struct vcpu *v)
{
	return -KEEL_ENOSPC;
}

void part_vcpu_unbind(struct vcpu *v)
{
}

void timer_arm(struct timer *t, u64 deadline_ns)
{
	u32 i, free = MAX_TIMERS;

	t->deadline_ns = deadline_ns;
	t->armed = 1;
	for (i = 0; i < MAX_TIMERS; i++) {
		if (timers[i] == t)
			return;
		if (!timers[i] && free == MAX_TIMERS)
			free = i;
	}
	if (free == MAX_TIMERS)
		abort(); /* more live timers than a partition's models have */
	timers[free] = t;
}

void timer_cancel(struct timer *t)
{
	for (u32 i = 0; i < MAX_TIMERS; i++)
		if (timers[i] == t)
			timers[i] = NULL;
	t->armed = 0;
}

bool timer_listed(const struct timer *t)
{
	for (u32 i = 0; i < MAX_TIMERS; i++)
		if (timers[i] == t)
			return true;
	return false;
}

/* The host LAPIC timer: none here. */
void x86_lapic_timer_state(u32 *lvt, u32 *count)
{
	*lvt = 0x10000;
	*count = 0;
}

/* Every timer due at @now fires, as timer_run_expired() would. */
static void fire_timers(void)
{
	for (u32 i = 0; i < MAX_TIMERS; i++) {
		struct timer *t = timers[i];

		if (t && t->armed && t->deadline_ns <= now) {
			timers[i] = NULL;
			t->armed = 0;
			t->fn(t);
		}
	}
}

static void setup(void)
{
	plat_setup();
	memset(timers, 0, sizeof(timers));
}

static u64 rd64(const u8 *p)
{
	u64 v;

	memcpy(&v, p, 8);
	return v;
}

/* Restore @blob with the u32 at @off ORed with @bits: refused (and so reset). */
static void ioapic_refused(struct vdev *d, const u8 *blob, int n, u32 off, u32 bits)
{
	static u8 bad[512];
	u32 v;

	memcpy(bad, blob, (size_t)n);
	memcpy(&v, bad + off, sizeof(v));
	v |= bits;
	memcpy(bad + off, &v, sizeof(v));
	if (vdev_restore(d, bad, (u32)n) != -KEEL_EINVAL)
		abort(); /* a state the model could never have made was taken */
}

/*
 * States no guest could make: an ID over 4 bits, a line of a pin that does
 * not exist (if any), a delivery status bit, remote IRR on an edge-triggered pin, a
 * short blob. The device ends reset; @blob is restored again afterwards.
 */
static void ioapic_refuses(struct vdev *d, const u8 *blob, int n)
{
	u32 rte_lo;

	ioapic_refused(d, blob, n, 8, 0x10);
	if (VPLAT_IOAPIC_PINS < 32) /* with 32 pins every line bit names one */
		ioapic_refused(d, blob, n, 12, 1u << (VPLAT_IOAPIC_PINS % 32));
	ioapic_refused(d, blob, n, 16 + 8 * 5, 1u << 12);
	memcpy(&rte_lo, blob + 16 + 8 * 7, sizeof(rte_lo));
	if (!(rte_lo & (1u << 15)))
		ioapic_refused(d, blob, n, 16 + 8 * 7, 1u << 14);
	if (vdev_restore(d, blob, (u32)n - 1) != -KEEL_EINVAL || vdev_restore(d, blob, (u32)n))
		abort();
}

/*
 * The IOAPIC's snapshot: saved, one byte at @at xored with @x (when @mutate
 * is odd), restored. A state it takes must save again to the same bytes; one
 * it refuses leaves it reset: every pin masked.
 */
static void ioapic_snapshot(u8 mutate, u8 at, u8 x)
{
	struct vdev *d = vdev_find(&plat_part, VDEV_MMIO, VPLAT_IOAPIC_BASE, 4);
	static u8 blob[512], again[512];
	int n, m;

	if (!d)
		abort();
	n = vdev_save(d, blob, sizeof(blob));
	if (n <= 0 || vdev_save(d, blob, (u32)n - 1) != -KEEL_E2BIG)
		abort();
	ioapic_refuses(d, blob, n);
	if (mutate & 1)
		blob[at % (u32)n] ^= x;
	if (vdev_restore(d, blob, (u32)n) == 0) {
		m = vdev_save(d, again, sizeof(again));
		if (m != n || memcmp(blob, again, (size_t)n))
			abort(); /* taken, but not as given */
		return;
	}
	m = vdev_save(d, again, sizeof(again));
	for (u32 pin = 0; pin < VPLAT_IOAPIC_PINS; pin++) {
		u64 rte;

		memcpy(&rte, again + 16 + 8 * pin, sizeof(rte));
		if (m != n || rte != BIT(16))
			abort(); /* refused, but not reset */
	}
}

/* One u32 of a snapshot blob changed: bits @clear cleared, @set set. */
struct snap_patch {
	u32 off, clear, set;
};

/* @blob's @n bytes with @count patches, in a static buffer. */
static const u8 *snap_patched(const u8 *blob, int n, const struct snap_patch *p, u32 count)
{
	static u8 bad[512];

	memcpy(bad, blob, (size_t)n);
	for (u32 i = 0; i < count; i++) {
		u32 v;

		memcpy(&v, bad + p[i].off, sizeof(v));
		v = (v & ~p[i].clear) | p[i].set;
		memcpy(bad + p[i].off, &v, sizeof(v));
	}
	return bad;
}

static u32 rd32(const u8 *p)
{
	u32 v;

	memcpy(&v, p, 4);
	return v;
}

/*
 * The LAPIC blob (struct vlapic_state in vlapic.c): magic 0, ID 4, IRR 8,
 * ISR 40, TMR 72, TPR 104, SVR 108, LDR 112, DFR 116, ESR 120, ICR high 124,
 * LVTs 128 (timer 132, thermal 136, error 152), timer ICR 156, DCR 160,
 * armed 164, NMI pending 168, pad 172, APIC_BASE 176, period 184, elapsed
 * 192, left 200, TSC deadline 208.
 */
#define LS_ISR 40u
#define LS_SVR 108u
#define LS_LVT_TIMER 132u
#define LS_TIMER_ICR 156u
#define LS_ARMED 164u
#define LS_APIC_BASE 176u
#define LS_PERIOD 184u
#define LS_ELAPSED 192u
#define LS_SIZE 216

/* A LAPIC refusal leaves it as vlapic_reset() does, its timer stopped. */
static void lapic_check_reset(struct vcpu *v)
{
	static u8 got[512], reset[512];
	struct vlapic *l = v->arch.lapic;

	if (vlapic_save(l, got, sizeof(got)) != LS_SIZE || l->timer.armed)
		abort(); /* refused, but not reset */
	vlapic_reset(v);
	if (vlapic_save(l, reset, sizeof(reset)) != LS_SIZE || memcmp(got, reset, LS_SIZE))
		abort(); /* refused, but not reset */
}

static void lapic_refused(struct vcpu *v, const u8 *blob, const struct snap_patch *p, u32 count)
{
	if (vlapic_restore(v->arch.lapic, snap_patched(blob, LS_SIZE, p, count), LS_SIZE) !=
	    -KEEL_EINVAL)
		abort(); /* a state the model could never have made was taken */
	lapic_check_reset(v);
}

/* States no guest could make, whatever the rest of the blob says. */
static const struct snap_patch lapic_never[] = {
	{ 0, 0, 1u << 31 }, /* another magic */
	{ 4, 0, 0x100 }, /* an ID over 8 bits */
	{ 8, 0, 1u << 5 }, /* vector 5 requested */
	{ LS_ISR + 4, 0, 3 }, /* vectors 32 and 33 both in service */
	{ 72, 0, 1u << 15 }, /* vector 15 level-triggered */
	{ 104, 0, 0x100 }, /* TPR over 8 bits */
	{ 112, 0, 1 }, /* an LDR bit under 24 */
	{ 116, 1, 0 }, /* a DFR bit under 28 clear */
	{ 120, 0, 1 }, /* an error the model never reports */
	{ LS_LVT_TIMER, 0, 3u << 17 }, /* the reserved timer mode */
	{ 152, 0, 1u << 8 }, /* a delivery mode in LVT error */
	{ 160, 0, 4 }, /* a divide value that does not exist */
	{ LS_ARMED, 0, 2 },
	{ 168, 0, 2 }, /* NMI pending is a flag */
	{ 172, 0, 1 }, /* padding */
	{ LS_APIC_BASE, 0, 1u << 12 }, /* the window moved */
	{ LS_APIC_BASE, 1u << 11, 1u << 10 }, /* x2APIC, disabled */
};

/*
 * The blob of a LAPIC refused with each impossible change, the device reset
 * after each; then @blob itself taken again, as given. The timer's checks
 * depend on its mode: an ICR in TSC-deadline mode; a timer armed with no
 * count; a count that starts further ahead than the shortest period allows,
 * or whose period no divisor makes.
 */
static void lapic_refuses(struct vcpu *v, const u8 *blob)
{
	static const struct snap_patch svr_off[] = { { LS_SVR, 1u << 8, 0 },
						     { LS_LVT_TIMER + 4, 1u << 16, 0 } };
	static const struct snap_patch ahead[] = {
		{ LS_ELAPSED, ~0u, (u32)(0 - VPLAT_MIN_PERIOD_NS - 1) },
		{ LS_ELAPSED + 4, ~0u, ~0u },
	};
	static const struct snap_patch deadline_icr = { LS_TIMER_ICR, 0, 1 };
	static const struct snap_patch idle_armed = { LS_ARMED, 0, 1 };
	static const struct snap_patch period_huge = { LS_PERIOD + 4, 0, 1u << 31 };
	static u8 again[512];
	u32 mode = (rd32(blob + LS_LVT_TIMER) >> 17) & 3;

	for (u32 i = 0; i < sizeof(lapic_never) / sizeof(lapic_never[0]); i++)
		lapic_refused(v, blob, &lapic_never[i], 1);
	lapic_refused(v, blob, svr_off, 2); /* software-disabled, thermal LVT unmasked */
	if (mode == 2) {
		lapic_refused(v, blob, &deadline_icr, 1);
	} else if (!rd32(blob + LS_TIMER_ICR)) {
		lapic_refused(v, blob, &idle_armed, 1);
	} else {
		lapic_refused(v, blob, ahead, 2);
		lapic_refused(v, blob, &period_huge, 1);
	}
	if (vlapic_restore(v->arch.lapic, blob, LS_SIZE - 1) != -KEEL_EINVAL)
		abort();
	lapic_check_reset(v);
	if (vlapic_restore(v->arch.lapic, blob, LS_SIZE))
		abort(); /* a state the model made was refused */
	if (vlapic_save(v->arch.lapic, again, sizeof(again)) != LS_SIZE ||
	    memcmp(blob, again, LS_SIZE))
		abort(); /* taken, but not as given */
}

/*
 * The LAPIC of @v, as ioapic_snapshot: saved, mutated or not, restored. A
 * state it takes saves again to the same bytes (its timer as far from now);
 * one it refuses leaves it reset.
 */
static void lapic_snapshot(struct vcpu *v, u8 mutate, u8 at, u8 x)
{
	static u8 blob[512], again[512];
	struct vlapic *l = v->arch.lapic;

	if (vlapic_save(l, blob, sizeof(blob)) != LS_SIZE ||
	    vlapic_save(l, blob, LS_SIZE - 1) != -KEEL_E2BIG)
		abort();
	lapic_refuses(v, blob);
	if (mutate & 1)
		blob[at % LS_SIZE] ^= x;
	if (vlapic_restore(l, blob, LS_SIZE)) {
		lapic_check_reset(v);
		return;
	}
	if (vlapic_save(l, again, sizeof(again)) != LS_SIZE || memcmp(blob, again, LS_SIZE))
		abort(); /* taken, but not as given */
}

/* The PM block's blob (vpm.c): magic 0, PM1_STS 4, PM1_EN 6, PM1_CNT 8, pad 10. */
#define PS_SIZE 12

static void pm_check_reset(struct vdev *d)
{
	static u8 got[64], reset[64];

	if (vdev_save(d, got, sizeof(got)) != PS_SIZE)
		abort();
	d->ops->reset(d);
	if (vdev_save(d, reset, sizeof(reset)) != PS_SIZE || memcmp(got, reset, PS_SIZE))
		abort(); /* refused, but not reset */
}

static void pm_refused(struct vdev *d, const u8 *blob, const struct snap_patch *p)
{
	if (vdev_restore(d, snap_patched(blob, PS_SIZE, p, 1), PS_SIZE) != -KEEL_EINVAL)
		abort(); /* a state the model could never have made was taken */
	pm_check_reset(d);
}

static const struct snap_patch pm_never[] = {
	{ 0, 0, 1u << 31 }, /* another magic */
	{ 4, 0, 1 }, /* TMR_STS: the model raises no timer event */
	{ 4, 0, 1u << 15 }, /* WAK_STS: nothing sleeps */
	{ 8, 0, 1u << 13 }, /* SLP_EN is write-only */
	{ 8, 0, 1u << 16 }, /* padding */
};

/*
 * The ACPI PM block's snapshot, as ioapic_snapshot: impossible states are
 * refused (and the power button's status without ACPI tables), a state it
 * takes saves again to the same bytes, one it refuses leaves it reset.
 */
static void pm_snapshot(u8 mutate, u8 at, u8 x)
{
	static const struct snap_patch pwrbtn = { 4, 0, 1u << 8 };
	struct vdev *d = vdev_find(&plat_part, VDEV_PIO, VPLAT_PM_BASE, VPLAT_PM_SIZE);
	static u8 blob[64], again[64];

	if (!d || vdev_save(d, blob, sizeof(blob)) != PS_SIZE ||
	    vdev_save(d, blob, PS_SIZE - 1) != -KEEL_E2BIG)
		abort();
	for (u32 i = 0; i < sizeof(pm_never) / sizeof(pm_never[0]); i++)
		pm_refused(d, blob, &pm_never[i]);
	if (!plat_part.arch.plat->pm.acpi)
		pm_refused(d, blob, &pwrbtn);
	if (vdev_restore(d, blob, PS_SIZE - 1) != -KEEL_EINVAL)
		abort();
	pm_check_reset(d);
	if (vdev_restore(d, blob, PS_SIZE))
		abort(); /* a state the model made was refused */
	if (mutate & 1)
		blob[at % PS_SIZE] ^= x;
	if (vdev_restore(d, blob, PS_SIZE)) {
		pm_check_reset(d);
		return;
	}
	if (vdev_save(d, again, sizeof(again)) != PS_SIZE || memcmp(blob, again, PS_SIZE))
		abort(); /* taken, but not as given */
}

/*
 * Records of 12 bytes: op, a, b, c, then a 64-bit value. Ops: an access to
 * device a % count at offset b|c<<8 (size, direction from op); a LAPIC MSR
 * access on vCPU op & 1; an interrupt line; time passing and timers firing;
 * the highest pending vector taken as a CPU would; a snapshot of the IOAPIC,
 * vCPU op & 1's LAPIC or the PM block; the power button.
 */
int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	size_t at;

	setup();
	if (arch_part_devices_init(&plat_part))
		abort();
	/* A partial last record: a Linux guest, whose ACPI tables offer the power button. */
	plat_part.arch.plat->pm.acpi = size % 12 != 0;
	for (u32 i = 0; i < 2; i++)
		vlapic_reset(&plat_vcpus[i]);
	for (at = 0; at + 12 <= size; at += 12) {
		const u8 *r = data + at;
		struct vcpu *v = &plat_vcpus[r[0] & 1];
		u64 val = rd64(r + 4), out = 0;

		fuzz_this_pcpu = v->pcpu;
		switch ((r[0] >> 1) % 7) {
		case 0:
			plat_vdev_access(v, r[1], (u64)(r[2] | r[3] << 8), r[0], val);
			break;
		case 1: {
			u32 msr = r[1] == 0xff ? 0x1b : r[1] == 0xfe ? 0x6e0 : 0x800u + r[1];

			if (r[0] & 0x40)
				vlapic_msr_read(v, msr, &out);
			else
				vlapic_msr_write(v, msr, val);
			break;
		}
		case 2:
			arch_irq_set_level(&plat_part, r[1] % 32, r[2] & 1);
			break;
		case 3:
			now += val % 1000000000ull;
			fire_timers();
			break;
		case 4: {
			int vec = vlapic_pending(v);

			if (vec >= 0)
				vlapic_ack(v, (u8)vec);
			(void)arch_vcpu_irq_pending(v);
			break;
		}
		case 5: /* a snapshot: r[1] bit 0 mutates it, the rest picks the device */
			if ((r[1] >> 1) % 3 == 0)
				ioapic_snapshot(r[1], r[2], r[3]);
			else if ((r[1] >> 1) % 3 == 1)
				lapic_snapshot(v, r[1], r[2], r[3]);
			else
				pm_snapshot(r[1], r[2], r[3]);
			break;
		default:
			arch_part_request_poweroff(&plat_part);
			break;
		}
	}
	for (u32 i = 0; i < 2; i++) {
		fuzz_this_pcpu = plat_vcpus[i].pcpu;
		vlapic_stop(&plat_vcpus[i]);
		vpit_stop(&plat_vcpus[i]);
	}
	vdev_destroy_all(&plat_part);
	arch_part_devices_free(&plat_part); /* after every device, as partition teardown does */
	for (u32 i = 0; i < MAX_TIMERS; i++)
		if (timers[i])
			abort(); /* a model left a timer armed on memory now freed */
	if (pmm_free_bytes() != pool_free)
		abort();
	return 0;
}
