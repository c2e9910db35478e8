/* SPDX-License-Identifier: MIT */
/*
 * The boot timeline (core/timeline.c): the loader's readings and the core's
 * events come out in time order whatever order they were added in, a
 * partition not yet entered comes last, only a partition's first entry
 * counts, and the table is printed once with each image's size and rate.
 */
#include <keel/partition.h>
#include <keel/timeline.h>
#include <keel/timer.h>

#include "unit.h"

extern char unit_log[];
extern size_t unit_log_len;

static u64 now_ns;
static struct timer *armed;

u64 arch_time_ns(void)
{
	return now_ns;
}
/* The clock started 1 s before arch_time_ns()'s zero; the loader's ticks are ns. */
u64 arch_time_origin_ns(void)
{
	return 1000000000ull;
}
u64 arch_ticks_to_ns(u64 ticks)
{
	return ticks;
}
void timer_arm(struct timer *t, u64 deadline_ns)
{
	t->deadline_ns = deadline_ns;
	armed = t;
}

static struct keel_boot_info bi;
static struct partition alpha, beta;

static void boot(void)
{
	bi.t_loader_entry = 500000000ull; /* 500 ms */
	bi.t_config_read = 501000000ull;
	bi.module_count = 2;
	strcpy(bi.modules[0].name, "\\linux\\vmlinuz");
	bi.modules[0].size = 8u << 20;
	bi.modules[0].read_start = 502000000ull;
	bi.modules[0].read_end = 602000000ull; /* 8 MiB in 100 ms */
	strcpy(bi.modules[1].name, "/guests/hello.elf");
	bi.modules[1].size = 300;
	bi.modules[1].read_start = 602000000ull;
	bi.modules[1].read_end = 602000100ull; /* too quick to rate */
	bi.t_exit_boot = 700000000ull;
	now_ns = 1000; /* core entry at 1000.001 ms */
	timeline_boot(&bi);
}

int main(void)
{
	struct keel_boot_event ev[KEEL_BOOT_EVENTS_MAX];
	struct timer *t;
	u32 n, i;

	boot();
	now_ns = 30000000; /* cpu 2 before cpu 1, appended in that order */
	timeline_cpu_online(2);
	now_ns = 20000000;
	timeline_cpu_online(1);
	alpha.id = 1;
	strcpy(alpha.desc.h.name, "alpha");
	beta.id = 2;
	strcpy(beta.desc.h.name, "beta");
	timeline_expect(&alpha);
	timeline_expect(&beta);
	timeline_start();
	CHECK(armed != NULL);

	now_ns = 40000000;
	timeline_first_entry(&beta);
	n = timeline_copy(ev, KEEL_BOOT_EVENTS_MAX);
	CHECK_EQ(n, 10);
	for (i = 1; i + 1 < n; i++)
		CHECK(ev[i - 1].at <= ev[i].at);
	CHECK_EQ(ev[0].kind, KEEL_BOOT_LOADER_ENTRY);
	CHECK_EQ(ev[0].at, 500000000ull);
	CHECK_EQ(ev[2].kind, KEEL_BOOT_IMAGE);
	CHECK_EQ(ev[2].took, 100000000ull);
	CHECK_EQ(ev[5].kind, KEEL_BOOT_CORE_ENTRY);
	CHECK_EQ(ev[5].at, 1000001000ull);
	CHECK(ev[6].kind == KEEL_BOOT_CPU_ONLINE && ev[6].index == 1);
	CHECK(ev[7].kind == KEEL_BOOT_CPU_ONLINE && ev[7].index == 2);
	CHECK(ev[8].kind == KEEL_BOOT_FIRST_INSN && strcmp(ev[8].name, "beta") == 0);
	/* alpha has not run: last, with no time. */
	CHECK(ev[9].kind == KEEL_BOOT_FIRST_INSN && strcmp(ev[9].name, "alpha") == 0);
	CHECK_EQ(ev[9].at, 0);

	/* Not complete: the check looks again, and prints nothing. */
	t = armed;
	armed = NULL;
	now_ns = 50000000;
	t->fn(t);
	CHECK(armed != NULL);
	CHECK_EQ(unit_log_len, 0);

	now_ns = 60000000;
	timeline_first_entry(&alpha);
	now_ns = 70000000;
	timeline_first_entry(&alpha); /* a restart: not the boot's */
	armed = NULL;
	t->fn(t);
	CHECK(armed == NULL);
	CHECK_LOGGED(unit_log, "boot timeline (ms since the clock started at reset):", "  ");
	CHECK_LOGGED(unit_log, "       500.000  loader entry", "  ");
	CHECK_LOGGED(unit_log,
		     "       502.000  image \\linux\\vmlinuz: 8192 KiB in 100.000 ms (80.0 MiB/s)",
		     "  ");
	CHECK_LOGGED(unit_log,
		     "       602.000  image /guests/hello.elf: 0 KiB in 0.000 ms (0.0 MiB/s)",
		     "  ");
	CHECK_LOGGED(unit_log, "      1020.000  cpu 1 online", "  ");
	CHECK_LOGGED(unit_log, "      1060.000  partition 'alpha': first instruction", "");

	/* Once only: neither the power-off path nor the check prints it again. */
	unit_log_len = 0;
	unit_log[0] = 0;
	timeline_print_once();
	CHECK_EQ(unit_log_len, 0);
	now_ns = 80000000;
	timeline_first_entry(&beta);
	n = timeline_copy(ev, KEEL_BOOT_EVENTS_MAX);
	CHECK_EQ(ev[n - 1].at, 1060000000ull);
	return unit_done("test_timeline");
}
