/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the x86_64 platform models a partition's guest drives
 * (arch/x86_64: LAPIC, IOAPIC, PIT, ACPI PM block, UART, legacy ports): the
 * input is a sequence of register accesses of any size at any offset, LAPIC
 * MSR accesses, interrupt lines, timer expiries and interrupt acknowledges
 * on a two-vCPU partition. Nothing crashes, and every byte Keel took for the
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

/*
 * Records of 12 bytes: op, a, b, c, then a 64-bit value. Ops: an access to
 * device a % count at offset b|c<<8 (size, direction from op); a LAPIC MSR
 * access on vCPU op & 1; an interrupt line; time passing and timers firing;
 * the highest pending vector taken as a CPU would; the power button.
 */
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
 * not exist, a delivery status bit, remote IRR on an edge-triggered pin, a
 * short blob. The device ends reset; @blob is restored again afterwards.
 */
static void ioapic_refuses(struct vdev *d, const u8 *blob, int n)
{
	u32 rte_lo;

	ioapic_refused(d, blob, n, 8, 0x10);
	ioapic_refused(d, blob, n, 12, 1u << VPLAT_IOAPIC_PINS);
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

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	size_t at;

	setup();
	if (arch_part_devices_init(&plat_part))
		abort();
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
		case 5:
			ioapic_snapshot(r[1], r[2], r[3]);
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
	for (u32 i = 0; i < MAX_TIMERS; i++)
		if (timers[i])
			abort(); /* a model left a timer armed on memory now freed */
	if (pmm_free_bytes() != pool_free)
		abort();
	return 0;
}
