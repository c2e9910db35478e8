// SPDX-License-Identifier: MIT
/*
 * The boot timeline (keel/timeline.h). Events are appended under one lock by
 * whichever CPU sees them (CPUs coming online race); a partition's first
 * instruction is stamped on its own core, into a slot timeline_expect()
 * reserved, with a release store the boot CPU's check reads with acquire.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/spinlock.h>
#include <keel/timeline.h>
#include <keel/timer.h>

#define TIMELINE_CHECK_NS 20000000ull /* the boot CPU looks every 20 ms */
#define TIMELINE_WAIT_NS 30000000000ull /* and prints after 30 s whatever it has */

static struct keel_boot_event events[KEEL_BOOT_EVENTS_MAX];
static u32 event_count;
static struct spinlock timeline_lock;

/* keel.cfg partitions started at boot, whose first instruction is awaited. */
static struct {
	struct partition *part;
	u32 event; /* its slot in events[] */
} awaited[KEEL_MAX_PARTITIONS];
static u32 awaited_count;
/* print_state, atomics: once it leaves UNPRINTED no first instruction is recorded. */
enum { TIMELINE_UNPRINTED, TIMELINE_PRINTING, TIMELINE_PRINTED };
static u32 print_state;
/* How long a second caller waits for the table another CPU is printing. */
#define TIMELINE_PRINT_WAIT_NS 200000000ull
static struct timer timeline_timer;
static u64 check_until;

/* Nanoseconds since the clock counter's zero, now. */
static u64 timeline_now(void)
{
	return arch_time_ns() + arch_time_origin_ns();
}

/* Append an event; returns its slot or KEEL_BOOT_EVENTS_MAX when full. */
static u32 timeline_add(u32 kind, u32 index, const char *name, u64 at, u64 bytes, u64 took)
{
	unsigned long flags = spin_lock_irqsave(&timeline_lock);
	u32 slot = event_count;

	if (slot < KEEL_BOOT_EVENTS_MAX) {
		struct keel_boot_event *e = &events[slot];

		e->kind = kind;
		e->index = index;
		e->at = at;
		e->bytes = bytes;
		e->took = took;
		if (name)
			keel_strlcpy(e->name, name, sizeof(e->name));
		event_count++;
	}
	spin_unlock_irqrestore(&timeline_lock, flags);
	return slot;
}

void timeline_boot(const struct keel_boot_info *bi)
{
	u32 i;

	timeline_add(KEEL_BOOT_LOADER_ENTRY, 0, NULL, arch_ticks_to_ns(bi->t_loader_entry), 0, 0);
	timeline_add(KEEL_BOOT_CONFIG_READ, 0, NULL, arch_ticks_to_ns(bi->t_config_read), 0, 0);
	for (i = 0; i < bi->module_count && i < KEEL_BOOT_MAX_MODULES; i++) {
		const struct keel_boot_module *m = &bi->modules[i];
		u64 t0 = arch_ticks_to_ns(m->read_start), t1 = arch_ticks_to_ns(m->read_end);

		timeline_add(KEEL_BOOT_IMAGE, i, m->name, t0, m->size, t1 > t0 ? t1 - t0 : 0);
	}
	timeline_add(KEEL_BOOT_EXIT_BOOT_SERVICES, 0, NULL, arch_ticks_to_ns(bi->t_exit_boot), 0,
		     0);
	timeline_add(KEEL_BOOT_CORE_ENTRY, 0, NULL, timeline_now(), 0, 0);
}

void timeline_cpu_online(u32 cpu)
{
	timeline_add(KEEL_BOOT_CPU_ONLINE, cpu, NULL, timeline_now(), 0, 0);
}

void timeline_expect(struct partition *part)
{
	u32 slot;

	if (awaited_count == KEEL_MAX_PARTITIONS)
		return;
	/* at = 0 until its core stamps it. */
	slot = timeline_add(KEEL_BOOT_FIRST_INSN, part->id, part->desc.h.name, 0, 0, 0);
	if (slot == KEEL_BOOT_EVENTS_MAX)
		return;
	awaited[awaited_count].part = part;
	awaited[awaited_count].event = slot;
	awaited_count++;
}

void timeline_first_entry(struct partition *part)
{
	u32 i;

	if (__atomic_load_n(&print_state, __ATOMIC_ACQUIRE) != TIMELINE_UNPRINTED)
		return;
	for (i = 0; i < awaited_count; i++) {
		struct keel_boot_event *e = &events[awaited[i].event];

		/* Only its first entry: a restart is not the boot's. */
		if (awaited[i].part != part || __atomic_load_n(&e->at, __ATOMIC_ACQUIRE))
			continue;
		__atomic_store_n(&e->at, timeline_now(), __ATOMIC_RELEASE);
	}
}

static bool timeline_complete(void)
{
	u32 i;

	for (i = 0; i < awaited_count; i++)
		if (!__atomic_load_n(&events[awaited[i].event].at, __ATOMIC_ACQUIRE))
			return false;
	return true;
}

/* Copy the events in time order (insertion sort: they are nearly sorted). */
u32 timeline_copy(struct keel_boot_event *out, u32 max)
{
	unsigned long flags = spin_lock_irqsave(&timeline_lock);
	u32 n = MIN(event_count, max), i, j;

	for (i = 0; i < n; i++) {
		struct keel_boot_event e = events[i];

		e.at = __atomic_load_n(&events[i].at, __ATOMIC_ACQUIRE);
		/* Not reached yet: last. */
		for (j = i; j > 0 && (out[j - 1].at > e.at || !out[j - 1].at) && e.at; j--)
			out[j] = out[j - 1];
		out[j] = e;
	}
	spin_unlock_irqrestore(&timeline_lock, flags);
	return n;
}

/* ms.us of @ns, as two numbers for "%llu.%03llu". */
#define MS(ns) (unsigned long long)((ns) / 1000000u), (unsigned long long)((ns) / 1000u % 1000u)

static void timeline_print_event(const struct keel_boot_event *e)
{
	u64 rate10 = 0; /* MiB/s x 10 */

	switch (e->kind) {
	case KEEL_BOOT_LOADER_ENTRY:
		pr_info("  %8llu.%03llu  loader entry", MS(e->at));
		break;
	case KEEL_BOOT_CONFIG_READ:
		pr_info("  %8llu.%03llu  keel.cfg read", MS(e->at));
		break;
	case KEEL_BOOT_IMAGE:
		/* KiB x 10 per µs x 10^6 / 1024: no overflow below 10^12 bytes. */
		if (e->took >= 1000u)
			rate10 = e->bytes * 10u / 1024u * 1000000u / (e->took / 1000u) / 1024u;
		pr_info("  %8llu.%03llu  image %s: %llu KiB in %llu.%03llu ms (%llu.%llu MiB/s)",
			MS(e->at), e->name, (unsigned long long)(e->bytes >> 10), MS(e->took),
			(unsigned long long)(rate10 / 10u), (unsigned long long)(rate10 % 10u));
		break;
	case KEEL_BOOT_EXIT_BOOT_SERVICES:
		pr_info("  %8llu.%03llu  ExitBootServices", MS(e->at));
		break;
	case KEEL_BOOT_CORE_ENTRY:
		pr_info("  %8llu.%03llu  core entry", MS(e->at));
		break;
	case KEEL_BOOT_CPU_ONLINE:
		pr_info("  %8llu.%03llu  cpu %u online", MS(e->at), e->index);
		break;
	case KEEL_BOOT_FIRST_INSN:
		if (e->at)
			pr_info("  %8llu.%03llu  partition '%s': first instruction", MS(e->at),
				e->name);
		else
			pr_info("         -      partition '%s': no instruction yet", e->name);
		break;
	}
}

/*
 * The caller that finds another CPU printing the table waits until it is
 * out (bounded): the one about to power the machine off (part_idle_policy)
 * must not cut it short, as it did when the last guest quit mid-table.
 */
static void timeline_wait_printed(void)
{
	u64 until = arch_time_ns() + TIMELINE_PRINT_WAIT_NS;

	while (__atomic_load_n(&print_state, __ATOMIC_ACQUIRE) != TIMELINE_PRINTED &&
	       arch_time_ns() < until)
		arch_cpu_relax();
}

void timeline_print_once(void)
{
	static struct keel_boot_event sorted[KEEL_BOOT_EVENTS_MAX];
	u32 n, i, state = TIMELINE_UNPRINTED;

	if (!__atomic_compare_exchange_n(&print_state, &state, TIMELINE_PRINTING, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		timeline_wait_printed();
		return;
	}
	n = timeline_copy(sorted, KEEL_BOOT_EVENTS_MAX);
	pr_info("boot timeline (ms since the clock started at reset):");
	for (i = 0; i < n; i++)
		timeline_print_event(&sorted[i]);
	__atomic_store_n(&print_state, TIMELINE_PRINTED, __ATOMIC_RELEASE);
}

static void timeline_check(struct timer *t)
{
	u64 now = arch_time_ns();

	if (__atomic_load_n(&print_state, __ATOMIC_ACQUIRE) != TIMELINE_UNPRINTED)
		return;
	if (!timeline_complete() && now < check_until) {
		timer_arm(t, now + TIMELINE_CHECK_NS);
		return;
	}
	timeline_print_once();
}

void timeline_start(void)
{
	timeline_timer.fn = timeline_check;
	check_until = arch_time_ns() + TIMELINE_WAIT_NS;
	timer_arm(&timeline_timer, arch_time_ns() + TIMELINE_CHECK_NS);
}
