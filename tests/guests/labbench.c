/* SPDX-License-Identifier: MIT */
/*
 * The lab bench guest (`make bench-image`, docs/bench.md "On a real host"):
 * a bare-metal partition that measures what Keel costs it on whatever machine
 * Keel booted on, and prints one JSON document on its console.
 *
 * role=bench (default), in this order:
 *   1. memory bandwidth alone: passes=P passes over mib=M MiB, each writing
 *      then reading every 64-bit word (bytes moved: 2 x M MiB a pass);
 *   2. the hypercall round trip: calls=N KEEL_HC_VERSION calls against the
 *      same loop without the call (lib/bench.c), net ticks per call;
 *   3. a trapped MMIO access: mmio=N reads of a virtio-mmio MagicValue
 *      register against as many reads of RAM, net ticks per access;
 *   4. the timer-interrupt latency: samples=S one-shot timers due
 *      period_us=U after they are armed, waited for idle (<arch>/lab.c);
 *      min/avg/p99/max as cyclictest reports them;
 *   5. the IPI latency between its two vCPUs: ipis=N IPIs from vCPU 0 to
 *      vCPU 1, min/avg/p99/max (with one vCPU: null);
 *   6. with noise_at=T (ms since this partition started): waits for the
 *      neighbours (role=noise, after=T) to start, then measures the bandwidth
 *      again. "alone_clean" says whether steps 1-5 ended before T.
 * role=noise: from after=T ms, hammers mib=M MiB for for=D ms, then stops.
 *
 * Clock ticks are the guest clock's (x86_64 TSC, aarch64 CNTVCT); the JSON
 * gives them and, where the rate is known, nanoseconds. Under QEMU -icount
 * every tick is a count of instructions (tools/bench_lab.py).
 */
#include "guest.h"

#define MIB (1ull << 20)
#define MAX_SAMPLES 100000u
#define MAX_MIB 256u
#define MAX_PASSES 1000u
#define SETTLE_MS 200u /* after noise_at: the neighbours' clocks started a little apart */
#define VIO_MAGIC_VALUE 0x74726976u /* "virt" */
#define JSON_MAX 2048
#define IPI_WAITS 100000u /* periods of waiting for one IPI */

static const char *cmdline = "";
static uint64_t hz, t_start;
static uint32_t lat[MAX_SAMPLES];
static char json[JSON_MAX];
static size_t json_len;
static volatile uint64_t sink; /* where the read passes' sums go, so they are not elided */

static uint64_t ms_to_ticks(uint64_t ms)
{
	return hz / 1000 * ms;
}

static uint64_t ticks_to_ns(uint64_t t)
{
	return hz ? t / hz * 1000000000ull + t % hz * 1000000000ull / hz : 0;
}

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(json + json_len, sizeof(json) - json_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		json_len = json_len + (size_t)n < sizeof(json) ? json_len + (size_t)n
							       : sizeof(json) - 1;
}

/* The memory right after the image's end, @mib MiB of it, if the partition has it. */
static uint64_t *scratch(uint64_t mib, const struct keel_guest_info *info)
{
	extern char __bss_end[];
	uint64_t start = ((uintptr_t)__bss_end + MIB - 1) & ~(MIB - 1);
	uint64_t top = info->initrd_size ? info->initrd_gpa : info->mem_base + info->mem_size;

	return start + mib * MIB <= top ? (uint64_t *)(uintptr_t)start : 0;
}

/* One write pass and one read pass over @words words; the read's sum, so it is not elided. */
static uint64_t hammer_pass(volatile uint64_t *buf, uint64_t words, uint64_t seed)
{
	uint64_t i, sum = 0;

	for (i = 0; i < words; i++)
		buf[i] = seed + i;
	for (i = 0; i < words; i++)
		sum += buf[i];
	return sum;
}

/* MiB/s moved (written plus read) by @passes passes, or 0 without a clock rate. */
static uint64_t bandwidth(uint64_t *buf, uint64_t mib, uint64_t passes)
{
	uint64_t words = mib * MIB / 8, t0, t1, sum = 0, p;

	t0 = arch_clock();
	for (p = 0; p < passes; p++)
		sum += hammer_pass(buf, words, p);
	t1 = arch_clock();
	sink = sum;
	return t1 > t0 && hz ? 2 * mib * passes * hz / (t1 - t0) : 0;
}

static void bench_hypercall(void)
{
	uint64_t n = opt_num(cmdline, "calls", 10000), calls, loops, best_c, best_l, net;
	long bad = 0;

	n = n ? n : 1;
	calls = bench_hypercalls(true, n, n < 100 ? n : 100, &best_c, &bad);
	loops = bench_hypercalls(false, n, n < 100 ? n : 100, &best_l, &bad);
	expect(bad == KEEL_OK);
	net = (calls > loops ? calls - loops : 0) / n;
	emit("\"hypercall\":{\"calls\":%lu,\"ticks_per_call\":%lu,\"ns_per_call\":%lu},\n", n, net,
	     ticks_to_ns(net));
}

/* Reads of a virtio-mmio register (each one traps to Keel) against reads of RAM. */
static void bench_mmio(void)
{
	static const uint32_t ids[] = { 3, 4, 2 }; /* console, rng, block */
	uint64_t n = opt_num(cmdline, "mmio", 10000), base = 0, i, t0, t1, t2, bad = 0;
	volatile uint32_t *reg, ram = VIO_MAGIC_VALUE;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]) && !base; i++)
		base = vio_find(ids[i]);
	if (!base || !n) {
		emit("\"mmio\":null,\n");
		return;
	}
	reg = (volatile uint32_t *)(uintptr_t)base;
	t0 = arch_clock();
	for (i = 0; i < n; i++)
		bad |= *reg ^ VIO_MAGIC_VALUE;
	t1 = arch_clock();
	for (i = 0; i < n; i++)
		bad |= ram ^ VIO_MAGIC_VALUE;
	t2 = arch_clock();
	expect(bad == 0);
	t1 = t1 - t0 > t2 - t1 ? (t1 - t0) - (t2 - t1) : 0;
	emit("\"mmio\":{\"reads\":%lu,\"ticks_per_read\":%lu,\"ns_per_read\":%lu},\n", n, t1 / n,
	     ticks_to_ns(t1 / n));
}

/* In-place heapsort: p99 needs the order. */
static void sift(uint32_t *a, uint32_t root, uint32_t n)
{
	for (;;) {
		uint32_t big = root, l = 2 * root + 1, r = l + 1, t;

		if (l < n && a[l] > a[big])
			big = l;
		if (r < n && a[r] > a[big])
			big = r;
		if (big == root)
			return;
		t = a[root];
		a[root] = a[big];
		a[big] = t;
		root = big;
	}
}

static void sort_u32(uint32_t *a, uint32_t n)
{
	uint32_t i, t;

	for (i = n / 2; i-- > 0;)
		sift(a, i, n);
	for (i = n; i-- > 1;) {
		t = a[0];
		a[0] = a[i];
		a[i] = t;
		sift(a, 0, i);
	}
}

/* "NAME":{count, min/avg/p99/max in ns and ticks} of @n samples in lat[] (sorted here). */
static void emit_latency(const char *name, uint64_t n, const char *extra)
{
	uint64_t sum = 0, i;

	for (i = 0; i < n; i++)
		sum += lat[i];
	sort_u32(lat, (uint32_t)n);
	emit("\"%s\":{\"samples\":%lu,%s\"min_ns\":%lu,\"avg_ns\":%lu,\"p99_ns\":%lu,"
	     "\"max_ns\":%lu,\"min_ticks\":%u,\"p99_ticks\":%u,\"max_ticks\":%u},\n",
	     name, n, extra, ticks_to_ns(lat[0]), ticks_to_ns(sum / n),
	     ticks_to_ns(lat[(n * 99) / 100]), ticks_to_ns(lat[n - 1]), lat[0], lat[(n * 99) / 100],
	     lat[n - 1]);
}

static uint64_t samples(const char *key, uint64_t def)
{
	uint64_t n = opt_num(cmdline, key, def);

	return n < 1 ? 1 : n > MAX_SAMPLES ? MAX_SAMPLES : n;
}

static void bench_timer(void)
{
	uint64_t n = samples("samples", MAX_SAMPLES), us = opt_num(cmdline, "period_us", 100);
	char extra[32];

	us = us ? us : 1;
	if (!hz || !arch_timer_latency((uint32_t)n, hz / 1000000 * us, lat)) {
		emit("\"timer\":null,\n");
		return;
	}
	snprintf(extra, sizeof(extra), "\"period_us\":%lu,", us);
	emit_latency("timer", n, extra);
}

static volatile uint64_t ipi_at;
static uint32_t ipi_count;

/* On vCPU 1, in its IPI handler. */
static void ipi_received(uint64_t now)
{
	ipi_at = now;
	__atomic_add_fetch(&ipi_count, 1, __ATOMIC_RELEASE);
}

/*
 * @n IPIs from vCPU 0 to vCPU 1, each sample the clock at vCPU 1's handler
 * minus the clock before the send. vCPU 0 waits idle, in steps of @period
 * ticks: a spinning sender could hold the one host thread QEMU's -icount runs
 * every vCPU on.
 */
static bool ipi_latency(uint64_t n, uint64_t period)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		uint32_t before = __atomic_load_n(&ipi_count, __ATOMIC_ACQUIRE), waits = 0;
		uint64_t sent = arch_clock();

		arch_lab_ipi_send();
		while (__atomic_load_n(&ipi_count, __ATOMIC_ACQUIRE) == before) {
			if (++waits == IPI_WAITS) {
				printf("labbench: IPI %lu never reached vCPU 1\n", i);
				return false;
			}
			arch_idle_until(arch_clock() + period);
		}
		lat[i] = bench_ticks32(ipi_at, sent);
	}
	return true;
}

static void bench_ipi(const struct keel_guest_info *info)
{
	uint64_t n = samples("ipis", 10000), us = opt_num(cmdline, "period_us", 100);

	if (info->vcpu_count < 2 || !hz) {
		emit("\"ipi\":null,\n");
		return;
	}
	if (!arch_lab_vcpu1_start(ipi_received)) {
		printf("labbench: vCPU 1 did not start\n");
		expect(false);
		emit("\"ipi\":null,\n");
		return;
	}
	if (!ipi_latency(n, hz / 1000000 * (us ? us : 1))) {
		expect(false);
		emit("\"ipi\":null,\n");
		return;
	}
	emit_latency("ipi", n, "");
}

static void print_json(void)
{
	char *line = json, *nl;

	printf("labbench-json-begin\n");
	for (; *line; line = nl + 1) {
		nl = line;
		while (*nl && *nl != '\n')
			nl++;
		printf("%.*s\n", (int)(nl - line), line);
		if (!*nl)
			break;
	}
	printf("labbench-json-end\n");
}

static void role_bench(const struct keel_guest_info *info)
{
	uint64_t mib = opt_num(cmdline, "mib", 32), passes = opt_num(cmdline, "passes", 4);
	uint64_t noise_at = opt_num(cmdline, "noise_at", 0), alone, noisy = 0, end;
	uint64_t *buf;

	mib = mib < 1 ? 1 : mib > MAX_MIB ? MAX_MIB : mib;
	passes = passes < 1 ? 1 : passes > MAX_PASSES ? MAX_PASSES : passes;
	buf = scratch(mib, info);
	emit("{\"keel_labbench\":1,\"arch\":\"%s\",\"partition\":\"%s\",\"vcpus\":%u,"
	     "\"clock_hz\":%lu,\n",
	     arch_lab_name(), info->name, info->vcpu_count, hz);
	alone = buf ? bandwidth(buf, mib, passes) : 0;
	bench_hypercall();
	bench_mmio();
	bench_timer();
	bench_ipi(info);
	end = arch_clock();
	if (buf && noise_at) {
		arch_idle_until(t_start + ms_to_ticks(noise_at + SETTLE_MS));
		noisy = bandwidth(buf, mib, passes);
	}
	emit("\"memory\":{\"mib\":%lu,\"passes\":%lu,\"alone_mib_s\":%lu,", mib, passes, alone);
	if (noise_at)
		emit("\"noisy_mib_s\":%lu,\"noisy_per_mille\":%lu,\"alone_clean\":%s}}", noisy,
		     alone ? noisy * 1000 / alone : 0,
		     end <= t_start + ms_to_ticks(noise_at) ? "true" : "false");
	else
		emit("\"noisy_mib_s\":null}}");
	print_json();
	verdict("labbench");
}

static void role_noise(const struct keel_guest_info *info)
{
	uint64_t mib = opt_num(cmdline, "mib", 32), after = opt_num(cmdline, "after", 0);
	uint64_t stop = t_start + ms_to_ticks(after + opt_num(cmdline, "for", 10000)), passes = 0;
	uint64_t *buf;

	mib = mib < 1 ? 1 : mib > MAX_MIB ? MAX_MIB : mib;
	buf = scratch(mib, info);
	expect(buf != 0);
	arch_idle_until(t_start + ms_to_ticks(after));
	while (buf && arch_clock() < stop)
		hammer_pass(buf, mib * MIB / 8, passes++);
	printf("labnoise: %lu passes over %lu MiB\n", passes, mib);
	verdict("labnoise");
}

void guest_main(const struct keel_guest_info *info)
{
	char role[16] = "bench";

	t_start = arch_clock();
	if (info->magic != KEEL_GUEST_INFO_MAGIC || info->size != sizeof(*info)) {
		printf("labbench: no valid guest info at %p\n", (const void *)info);
		guest_shutdown();
	}
	cmdline = (const char *)(uintptr_t)info->cmdline_gpa;
	hz = arch_clock_hz() ? arch_clock_hz() : arch_clock_rate();
	arch_caches_on(info->mem_base, info->mem_size);
	opt_get(cmdline, "role", role, sizeof(role));
	if (!strcmp(role, "noise"))
		role_noise(info);
	else
		role_bench(info);
	guest_shutdown();
}
