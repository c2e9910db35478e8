/* SPDX-License-Identifier: MIT */
/*
 * keelctl: the management CLI. Runs as root in Keel's management partition and
 * drives the hypervisor through /dev/keel (tools/linux/keel_dev.h): list,
 * info, stats, pci, create, start, stop, pause, resume, destroy (console.c:
 * console).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <keel/pci_addr.h>

#include "keelctl.h"
#include "vsock.h"

#define KC_LOAD_CHUNK (4u << 20) /* bytes per KEEL_IOC_LOAD; the driver splits further */
#define KC_STOP_GRACE_MS 5000u /* after Keel's own stop timeout */
#define MIB (1ull << 20)

static int kc_dev = -1;
static const char *kc_dev_path = KEEL_DEV_PATH;

/* ---- shared helpers ---- */

int kc_error(int code, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("keelctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

uint64_t kc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void kc_sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int kc_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int kc_ioctl(unsigned long req, void *arg)
{
	for (;;) {
		if (!ioctl(kc_dev, req, arg))
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int kc_dev_fd(void)
{
	return kc_dev;
}

/* KEELCTL_POLL=1: wait as keelctl did before ABI 1.9 (make bench compares the two). */
static bool kc_watch_off(void)
{
	const char *v = getenv("KEELCTL_POLL");

	return v && strcmp(v, "0") != 0;
}

/* One KEEL_IOC_WATCH: @w filled from @id, @seen and @ms; -ENODEV when KEELCTL_POLL=1. */
static int kc_watch_ioctl(struct keel_ioc_watch *w, uint32_t id, uint64_t seen, uint64_t ms)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->seen = seen;
	w->timeout_ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
	return kc_watch_off() ? -ENODEV : kc_ioctl(KEEL_IOC_WATCH, w);
}

int kc_watch_arm(uint32_t id, struct keel_ioc_watch *out)
{
	return kc_watch_ioctl(out, id, KC_WATCH_NONE, 0);
}

int kc_watch(uint32_t id, uint64_t *seen, uint64_t ms, struct keel_ioc_watch *out)
{
	struct keel_ioc_watch w;
	int ret = kc_watch_ioctl(&w, id, *seen, ms);

	if (ret) {
		/* No event interrupt (an older Keel or driver), or an error the next query names. */
		kc_sleep_ms((unsigned int)(ms < KC_POLL_MS ? ms : KC_POLL_MS));
		return ret;
	}
	*seen = w.seen;
	if (out)
		*out = w;
	return 0;
}

int kc_stats_raw(uint32_t id, struct keel_part_stats *out)
{
	struct keel_ioc_stats s;
	int ret;

	memset(&s, 0, sizeof(s));
	s.id = id;
	ret = kc_ioctl(KEEL_IOC_STATS, &s);
	if (!ret)
		*out = s.stats;
	return ret;
}

int kc_ctl_raw(unsigned long req, uint32_t id, uint32_t flags, uint32_t timeout_ms)
{
	struct keel_ioc_ctl c = { .id = id, .flags = flags, .timeout_ms = timeout_ms };

	return kc_ioctl(req, &c);
}

static int kc_read_host_info(struct keel_ioc_host_info *h)
{
	memset(h, 0, sizeof(*h));
	return kc_ioctl(KEEL_IOC_HOST_INFO, h);
}

int kc_open(struct keel_host_info *hi, bool abi_warn_only)
{
	struct keel_ioc_host_info h;
	const char *env = getenv("KEEL_DEV");
	char msg[96];
	int ret;

	if (geteuid() != 0)
		return kc_error(KC_EXIT_ENV, "must run as root");
	if (env && *env)
		kc_dev_path = env;
	kc_dev = open(kc_dev_path, O_RDWR | O_CLOEXEC);
	if (kc_dev < 0) {
		ret = errno;
		if (ret == EPERM || ret == EACCES)
			return kc_error(KC_EXIT_ENV,
					"%s: permission denied (needs root and CAP_SYS_ADMIN)",
					kc_dev_path);
		return kc_error(kc_exit_code(KC_OP_OPEN, ret), "%s: %s", kc_dev_path,
				kc_err_text(KC_OP_OPEN, ret));
	}
	ret = kc_read_host_info(&h);
	if (ret == -ENOENT)
		return kc_error(KC_EXIT_FAIL, "%s: host info: %s", kc_dev_path, strerror(ENOENT));
	if (ret)
		return kc_error(kc_exit_code(KC_OP_OPEN, -ret), "%s: %s", kc_dev_path,
				kc_err_text(KC_OP_OPEN, -ret));
	if (kc_abi_mismatch(h.info.abi_version, KEEL_ABI_VERSION, msg, sizeof(msg))) {
		if (!abi_warn_only)
			return kc_error(KC_EXIT_ENV, "%s: use the keelctl of this Keel", msg);
		kc_error(0, "warning: %s", msg);
	}
	if (hi)
		*hi = h.info;
	return 0;
}

/* Every partition: 0 or an exit code (message printed). */
static int kc_list(struct keel_part_status *recs, uint32_t *n)
{
	struct keel_ioc_list l;
	int ret;

	memset(&l, 0, sizeof(l));
	memset(recs, 0, sizeof(*recs) * KEEL_MAX_PARTITIONS);
	l.buf = (uintptr_t)recs;
	l.count = KEEL_MAX_PARTITIONS;
	ret = kc_ioctl(KEEL_IOC_LIST, &l);
	if (ret)
		return kc_error(kc_exit_code(KC_OP_QUERY, -ret), "list: %s",
				kc_err_text(KC_OP_QUERY, -ret));
	*n = l.written < KEEL_MAX_PARTITIONS ? l.written : KEEL_MAX_PARTITIONS;
	return 0;
}

int kc_resolve(const char *ref, struct keel_part_status *st)
{
	struct keel_part_status recs[KEEL_MAX_PARTITIONS];
	uint32_t n;
	int i, ret;

	ret = kc_list(recs, &n);
	if (ret)
		return ret;
	i = kc_find_part(recs, n, ref);
	if (i < 0)
		return kc_error(KC_EXIT_NOPART, "%.64s: no such partition", ref);
	*st = recs[i];
	return 0;
}

int kc_open_part(const char *ref, struct keel_part_status *st)
{
	int ret = kc_open(NULL, false);

	return ret ? ret : kc_resolve(ref, st);
}

/* Bytes as "256 MiB" (or "30.5 MiB") into @buf. */
static const char *kc_mib(uint64_t bytes, char *buf, size_t len)
{
	if (bytes % MIB)
		snprintf(buf, len, "%.1f MiB", (double)bytes / (double)MIB);
	else
		snprintf(buf, len, "%llu MiB", (unsigned long long)(bytes / MIB));
	return buf;
}

/* A partition's name, JSON-escaped, with the quotes. */
static void kc_json_name(const struct keel_part_status *st)
{
	char name[KEEL_NAME_MAX], esc[KEEL_NAME_MAX * 6 + 1];

	kc_part_name(st, name);
	kc_json_escape(name, strlen(name), esc, sizeof(esc));
	printf("\"%s\"", esc);
}

static void kc_json_cpus(uint64_t mask)
{
	char buf[64 * 3 + 3];

	kc_format_cpus_json(mask, buf, sizeof(buf));
	fputs(buf, stdout);
}

/* The fields of struct keel_part_status as JSON members (no braces). */
static void kc_json_status(const struct keel_part_status *st)
{
	printf("\"id\":%u,\"name\":", st->id);
	kc_json_name(st);
	printf(",\"state\":\"%s\",\"cpus\":", kc_state_name(st->state));
	kc_json_cpus(st->cpu_mask);
	printf(",\"vcpus\":%u,\"memory\":%llu,\"run_ns\":%llu,\"management\":%s", st->vcpu_count,
	       (unsigned long long)st->mem_size, (unsigned long long)st->run_ns,
	       (st->flags & KEEL_PD_MANAGEMENT) ? "true" : "false");
}

static bool kc_never_started(uint32_t state)
{
	return state == KEEL_PSTATE_CREATED || state == KEEL_PSTATE_LOADED;
}

/*
 * Polls STATS until @st is STOPPED or @ms pass: 0 or an exit code. @out (if
 * not NULL) gets the last statistics: how it stopped, or stop_cause NONE if
 * it was destroyed meanwhile.
 */
static int kc_wait_stopped(const char *what, const struct keel_part_status *st, uint64_t ms,
			   struct keel_part_stats *out)
{
	uint64_t deadline = kc_now_ms() + ms, seen = KC_WATCH_NONE;
	struct keel_part_stats s;
	char name[KEEL_NAME_MAX];
	int ret;

	kc_part_name(st, name);
	for (;;) {
		uint64_t now;

		ret = kc_stats_raw(st->id, &s);
		if (ret == -ENOENT) {
			memset(&s, 0, sizeof(s)); /* destroyed meanwhile: it did stop */
			s.status = *st;
			s.status.state = KEEL_PSTATE_STOPPED;
		} else if (ret) {
			return kc_error(kc_exit_code(KC_OP_QUERY, -ret), "%s %s: %s", what, name,
					kc_err_text(KC_OP_QUERY, -ret));
		}
		if (s.status.state == KEEL_PSTATE_STOPPED) {
			if (out)
				*out = s;
			return 0;
		}
		now = kc_now_ms();
		if (now >= deadline)
			return kc_error(KC_EXIT_TIMEOUT, "%s %s: still %s after %llu s", what, name,
					kc_state_name(s.status.state),
					(unsigned long long)(ms / 1000));
		kc_watch(st->id, &seen, deadline - now, NULL);
	}
}

/* ---- list, info, stats ---- */

enum { LS_JSON, LS_NR };
static const struct kc_opt list_opts[] = { [LS_JSON] = { "json", false } };

static int cmd_list(const struct kc_args *a)
{
	struct keel_part_status recs[KEEL_MAX_PARTITIONS];
	struct keel_host_info hi;
	size_t w = 4;
	uint32_t n;
	int ret;

	ret = kc_open(&hi, false);
	if (!ret)
		ret = kc_list(recs, &n);
	if (ret)
		return ret;
	if (a->val[LS_JSON]) {
		printf("{\"partitions\":[");
		for (uint32_t i = 0; i < n; i++) {
			printf("%s{", i ? "," : "");
			kc_json_status(&recs[i]);
			printf("}");
		}
		printf("],\"free\":{\"cpus\":");
		kc_json_cpus(hi.free_cpu_mask);
		printf(",\"memory\":%llu},\"total_memory\":%llu}\n",
		       (unsigned long long)hi.mem_free, (unsigned long long)hi.mem_total);
		return 0;
	}
	for (uint32_t i = 0; i < n; i++) {
		char name[KEEL_NAME_MAX];

		kc_part_name(&recs[i], name);
		if (strlen(name) > w)
			w = strlen(name);
	}
	printf("%-3s  %-*s  %-8s  %-10s  %-7s  %s\n", "ID", (int)w, "NAME", "STATE", "CPUS",
	       "MEMORY", "UPTIME");
	for (uint32_t i = 0; i < n; i++) {
		const struct keel_part_status *st = &recs[i];
		char name[KEEL_NAME_MAX], cpus[200], up[32], mem[32];

		kc_part_name(st, name);
		kc_format_cpus(st->cpu_mask, cpus, sizeof(cpus));
		if (kc_never_started(st->state))
			snprintf(up, sizeof(up), "-");
		else
			kc_format_uptime(st->run_ns, up, sizeof(up));
		snprintf(mem, sizeof(mem), "%lluM", (unsigned long long)(st->mem_size / MIB));
		printf("%-3u  %-*s  %-8s  %-10s  %-7s  %s\n", st->id, (int)w, name,
		       kc_state_name(st->state), cpus, mem, up);
	}
	return 0;
}

enum { IN_JSON, IN_NR };
static const struct kc_opt info_opts[] = { [IN_JSON] = { "json", false } };

/* The boot timeline into @ev: how many, 0 if this Keel or driver has none (ABI < 1.8). */
static uint32_t kc_boot_timeline(struct keel_boot_event *ev)
{
	struct keel_ioc_list l;

	memset(&l, 0, sizeof(l));
	l.buf = (uintptr_t)ev;
	l.count = KEEL_BOOT_EVENTS_MAX;
	if (kc_ioctl(KEEL_IOC_BOOT_TIMELINE, &l))
		return 0;
	return l.written < KEEL_BOOT_EVENTS_MAX ? l.written : KEEL_BOOT_EVENTS_MAX;
}

static const char *kc_boot_event_kind(uint32_t kind)
{
	static const char *const names[] = {
		[KEEL_BOOT_LOADER_ENTRY] = "loader_entry",
		[KEEL_BOOT_CONFIG_READ] = "config_read",
		[KEEL_BOOT_IMAGE] = "image",
		[KEEL_BOOT_EXIT_BOOT_SERVICES] = "exit_boot_services",
		[KEEL_BOOT_CORE_ENTRY] = "core_entry",
		[KEEL_BOOT_CPU_ONLINE] = "cpu_online",
		[KEEL_BOOT_FIRST_INSN] = "first_instruction",
	};

	return kind < sizeof(names) / sizeof(names[0]) && names[kind] ? names[kind] : "unknown";
}

/* ,"boot_timeline":[{...},...] */
static void kc_json_timeline(const struct keel_boot_event *ev, uint32_t n)
{
	char esc[2 * KEEL_BOOT_EVENT_NAME * 6];

	printf(",\"boot_timeline\":[");
	for (uint32_t i = 0; i < n; i++) {
		const struct keel_boot_event *e = &ev[i];

		kc_json_escape(e->name, strnlen(e->name, KEEL_BOOT_EVENT_NAME - 1), esc,
			       sizeof(esc));
		printf("%s{\"event\":\"%s\",\"at_ns\":%llu,\"index\":%u,\"name\":\"%s\"",
		       i ? "," : "", kc_boot_event_kind(e->kind), (unsigned long long)e->at,
		       e->index, esc);
		if (e->kind == KEEL_BOOT_IMAGE)
			printf(",\"bytes\":%llu,\"read_ns\":%llu", (unsigned long long)e->bytes,
			       (unsigned long long)e->took);
		printf("}");
	}
	printf("]");
}

static void kc_print_timeline(const struct keel_boot_event *ev, uint32_t n)
{
	printf("boot timeline (ms since the clock started at reset):\n");
	for (uint32_t i = 0; i < n; i++) {
		const struct keel_boot_event *e = &ev[i];
		char name[KEEL_BOOT_EVENT_NAME];
		double ms = (double)e->at / 1e6;

		snprintf(name, sizeof(name), "%.*s", KEEL_BOOT_EVENT_NAME - 1, e->name);
		for (char *c = name; *c; c++) /* Keel checked them; a terminal gets no controls */
			if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
				*c = '?';
		if (e->kind == KEEL_BOOT_FIRST_INSN && !e->at)
			printf("  %12s  partition '%s': no instruction yet\n", "-", name);
		else if (e->kind == KEEL_BOOT_IMAGE)
			printf("  %12.3f  image %s: %llu bytes in %.3f ms\n", ms, name,
			       (unsigned long long)e->bytes, (double)e->took / 1e6);
		else if (e->kind == KEEL_BOOT_CPU_ONLINE)
			printf("  %12.3f  cpu %u online\n", ms, e->index);
		else if (e->kind == KEEL_BOOT_FIRST_INSN)
			printf("  %12.3f  partition '%s': first instruction\n", ms, name);
		else
			printf("  %12.3f  %s\n", ms, kc_boot_event_kind(e->kind));
	}
}

static void kc_measure_doc(const struct keel_part_status *recs, uint32_t from, uint32_t to,
			   const struct keel_ioc_measure *answers, bool json, const char *indent);

/*
 * Every partition's measurements for keelctl info, quietly: false (and info
 * prints none) if this Keel or driver has no MEASURE or the list fails.
 */
static bool kc_info_measure(struct keel_part_status *recs, uint32_t *n,
			    struct keel_ioc_measure *answers)
{
	if (kc_list(recs, n) || !*n)
		return false;
	for (uint32_t i = 0; i < *n; i++) {
		memset(&answers[i], 0, sizeof(answers[i]));
		answers[i].id = recs[i].id;
		if (kc_ioctl(KEEL_IOC_MEASURE, &answers[i]))
			return false;
	}
	return true;
}

static int cmd_info(const struct kc_args *a)
{
	static struct keel_ioc_measure answers[KEEL_MAX_PARTITIONS];
	static struct keel_part_status recs[KEEL_MAX_PARTITIONS];
	static struct keel_boot_event ev[KEEL_BOOT_EVENTS_MAX];
	uint32_t nparts = 0;
	bool measured;
	struct keel_host_info hi;
	char online[200], free_cpus[200], b1[32], b2[32];
	unsigned int major, minor;
	uint32_t events;
	int ret;

	ret = kc_open(&hi, true);
	if (ret)
		return ret;
	events = kc_boot_timeline(ev);
	measured = kc_info_measure(recs, &nparts, answers);
	major = hi.abi_version >> 16;
	minor = hi.abi_version & 0xffff;
	if (a->val[IN_JSON]) {
		printf("{\"abi\":\"%u.%u\",\"abi_major\":%u,\"abi_minor\":%u,\"keelctl_abi\":\"%u.%u\","
		       "\"cpu_count\":%u,\"online_cpus\":",
		       major, minor, major, minor, KEEL_ABI_VERSION_MAJOR, KEEL_ABI_VERSION_MINOR,
		       hi.cpu_count);
		kc_json_cpus(hi.online_cpu_mask);
		printf(",\"free_cpus\":");
		kc_json_cpus(hi.free_cpu_mask);
		printf(",\"mem_total\":%llu,\"mem_free\":%llu,\"mem_hidden\":%llu,"
		       "\"mem_exposed\":%llu,\"mem_scrubbed\":%llu,\"mem_scrubbed_first\":%llu,"
		       "\"mem_pool\":%llu,\"mem_pool_free\":%llu,\"part_count\":%u,"
		       "\"part_max\":%u,\"load_max\":%u,\"console_ring\":%u",
		       (unsigned long long)hi.mem_total, (unsigned long long)hi.mem_free,
		       (unsigned long long)hi.mem_hidden, (unsigned long long)hi.mem_exposed,
		       (unsigned long long)hi.mem_scrubbed,
		       (unsigned long long)hi.mem_scrubbed_first, (unsigned long long)hi.mem_pool,
		       (unsigned long long)hi.mem_pool_free, hi.part_count, hi.part_max,
		       hi.load_max, hi.console_ring);
		kc_json_timeline(ev, events);
		if (measured) {
			printf(",\"measure\":");
			kc_measure_doc(recs, 0, nparts, answers, true, "");
		}
		printf("}\n");
		return 0;
	}
	kc_format_cpus(hi.online_cpu_mask, online, sizeof(online));
	kc_format_cpus(hi.free_cpu_mask, free_cpus, sizeof(free_cpus));
	printf("abi:            %u.%u (keelctl built for %u.%u)\n", major, minor,
	       KEEL_ABI_VERSION_MAJOR, KEEL_ABI_VERSION_MINOR);
	printf("cpu_count:      %u\n", hi.cpu_count);
	printf("online_cpus:    %s\n", online);
	printf("free_cpus:      %s\n", free_cpus);
	printf("mem_total:      %s\n", kc_mib(hi.mem_total, b1, sizeof(b1)));
	printf("mem_free:       %s\n", kc_mib(hi.mem_free, b2, sizeof(b2)));
	printf("mem_hidden:     %s (partition memory out of Keel's own map)\n",
	       kc_mib(hi.mem_hidden, b1, sizeof(b1)));
	printf("mem_exposed:    %s%s\n", kc_mib(hi.mem_exposed, b2, sizeof(b2)),
	       hi.mem_exposed ? " (partition memory Keel still maps: report this)" : "");
	printf("mem_scrubbed:   %s given back, %s from the firmware at first use\n",
	       kc_mib(hi.mem_scrubbed, b1, sizeof(b1)),
	       kc_mib(hi.mem_scrubbed_first, b2, sizeof(b2)));
	printf("mem_pool:       %s", kc_mib(hi.mem_pool, b1, sizeof(b1)));
	printf(" (Keel's metadata, %s of it free)\n", kc_mib(hi.mem_pool_free, b2, sizeof(b2)));
	printf("partitions:     %u of %u\n", hi.part_count, hi.part_max);
	printf("load_max:       %u\n", hi.load_max);
	printf("console_ring:   %u\n", hi.console_ring);
	if (events)
		kc_print_timeline(ev, events);
	if (measured) {
		printf("images (SHA-256, as loaded; keelctl measure NAME for one):\n");
		kc_measure_doc(recs, 0, nparts, answers, false, "  ");
	}
	return 0;
}

enum { ST_JSON, ST_NR };
static const struct kc_opt stats_opts[] = { [ST_JSON] = { "json", false } };

static const char kc_port_header[] =
	"NETWORK      MAC               PARTITION          TX-PKTS     TX-BYTES    RX-PKTS     "
	"RX-BYTES    DROPS";

static int kc_net_list(struct keel_net_rec **recs, uint32_t *n);
static void kc_print_port_row(const struct keel_net_rec *r, const char *owner);
static void kc_print_port_drops(const struct keel_net_rec *r);

/* Partition @id's ports among NET_LIST's @nets, as JSON ("net":[...]) or as lines. */
static void kc_print_stats_ports(uint32_t id, const char *name, const struct keel_net_rec *nets,
				 uint32_t n, bool json)
{
	char line[1024];
	bool first = true;

	if (json)
		printf(",\"net\":[");
	for (uint32_t i = 0; i < n; i++) {
		if (nets[i].kind != KEEL_NET_REC_PORT || nets[i].owner != id)
			continue;
		if (json) {
			kc_format_net_port_json(&nets[i], name, line, sizeof(line));
			printf("%s%s", first ? "" : ",", line);
		} else {
			if (first)
				printf("  net:\n  %s\n", kc_port_header);
			printf("  ");
			kc_print_port_row(&nets[i], name);
			kc_print_port_drops(&nets[i]);
		}
		first = false;
	}
	if (json)
		printf("]");
}

static uint64_t kc_exits_other(const struct keel_part_stats *s)
{
	uint64_t other = 0;

	for (uint32_t k = 0; k < KEEL_EXIT_KINDS; k++)
		if (!kc_exit_name(k))
			other += s->exits[k];
	return other;
}

/* The stop reason as a C string, whatever Keel left in the field. */
static void kc_stop_reason(const struct keel_part_stats *s, char out[KEEL_STOP_REASON_MAX])
{
	memcpy(out, s->stop_reason, KEEL_STOP_REASON_MAX);
	out[KEEL_STOP_REASON_MAX - 1] = '\0';
}

static void kc_print_stats(const struct keel_part_stats *s, const struct keel_net_rec *nets,
			   uint32_t nnets, bool json, bool first)
{
	const struct keel_part_status *st = &s->status;
	char name[KEEL_NAME_MAX], cpus[200], up[32], mem[32];

	if (json) {
		printf("%s{", first ? "" : ",");
		kc_json_status(st);
		printf(",\"hypercalls\":%llu,\"denied\":%llu,\"console_bytes\":%llu,\"exits\":{",
		       (unsigned long long)s->hypercalls, (unsigned long long)s->denied,
		       (unsigned long long)s->console_bytes);
		for (uint32_t k = 0; k < KEEL_EXIT_KINDS; k++)
			if (kc_exit_name(k))
				printf("\"%s\":%llu,", kc_exit_name(k),
				       (unsigned long long)s->exits[k]);
		printf("\"other\":%llu}", (unsigned long long)kc_exits_other(s));
		printf(",\"vcpus_parked\":%u,\"vcpus_halted\":%u", s->vcpus_parked,
		       s->vcpus_halted);
		printf(",\"vcpus_max\":%u,\"vcpus_allowed\":%u,\"vcpus_cores\":%u", s->vcpus_max,
		       s->vcpus_allowed, s->vcpus_cores);
		printf(",\"memory_hotplug\":{\"max\":%llu,\"plugged\":%llu,\"requested\":%llu}",
		       (unsigned long long)s->mem_hotplug_size, (unsigned long long)s->mem_plugged,
		       (unsigned long long)s->mem_requested);
		printf(",\"on_reboot\":\"%s\",\"restarts\":%u",
		       st->flags & KEEL_PD_REBOOT_STOP ? "stop" : "restart", s->restarts);
		printf(",\"first_insn_ns\":%llu", (unsigned long long)s->first_insn_ns);
		if (s->vsock_cid)
			printf(",\"vsock_cid\":%u", s->vsock_cid);
		if (st->state == KEEL_PSTATE_STOPPED) {
			char reason[KEEL_STOP_REASON_MAX], esc[2 * KEEL_STOP_REASON_MAX + 8];

			kc_stop_reason(s, reason);
			kc_json_escape(reason, strlen(reason), esc, sizeof(esc));
			printf(",\"stop_cause\":\"%s\",\"stop_reason\":\"%s\"",
			       kc_stop_cause_name(s->stop_cause), esc);
		}
		kc_part_name(st, name);
		kc_print_stats_ports(st->id, name, nets, nnets, true);
		printf("}");
		return;
	}
	kc_part_name(st, name);
	kc_format_cpus(st->cpu_mask, cpus, sizeof(cpus));
	kc_format_uptime(st->run_ns, up, sizeof(up));
	if (!first)
		printf("\n");
	printf("%s (id %u)\n", name, st->id);
	printf("  state:          %s\n", kc_state_name(st->state));
	printf("  cpus:           %s\n", cpus);
	if (st->state == KEEL_PSTATE_RUNNING || st->state == KEEL_PSTATE_PAUSED)
		printf("  vcpus:          %u (parked %u, halted %u)\n", st->vcpu_count,
		       s->vcpus_parked, s->vcpus_halted);
	else
		printf("  vcpus:          %u\n", st->vcpu_count);
	if (s->vcpus_max > s->vcpus_cores)
		printf("  hot vcpus:      %u of %u on (%u allowed; %u always on)\n",
		       st->vcpu_count - s->vcpus_cores, s->vcpus_max - s->vcpus_cores,
		       s->vcpus_allowed, s->vcpus_cores);
	printf("  memory:         %s\n", kc_mib(st->mem_size, mem, sizeof(mem)));
	if (s->mem_hotplug_size) {
		char plugged[32], asked[32], max[32];

		printf("  hot-plugged:    %s (asked %s, at most %s more)\n",
		       kc_mib(s->mem_plugged, plugged, sizeof(plugged)),
		       kc_mib(s->mem_requested, asked, sizeof(asked)),
		       kc_mib(s->mem_hotplug_size, max, sizeof(max)));
	}
	printf("  on_reboot:      %s (restarts %u)\n",
	       st->flags & KEEL_PD_REBOOT_STOP ? "stop" : "restart", s->restarts);
	printf("  run_time:       %s (%llu.%03llu s)\n", up,
	       (unsigned long long)(st->run_ns / 1000000000ull),
	       (unsigned long long)(st->run_ns / 1000000ull % 1000));
	if (s->first_insn_ns)
		printf("  first_insn:     %llu.%03llu ms after start\n",
		       (unsigned long long)(s->first_insn_ns / 1000000ull),
		       (unsigned long long)(s->first_insn_ns / 1000ull % 1000));
	if (s->vsock_cid)
		printf("  vsock:          CID %u\n", s->vsock_cid);
	printf("  hypercalls:     %llu\n", (unsigned long long)s->hypercalls);
	printf("  denied:         %llu\n", (unsigned long long)s->denied);
	printf("  console_bytes:  %llu\n", (unsigned long long)s->console_bytes);
	printf("  exits:         ");
	for (uint32_t k = 0; k < KEEL_EXIT_KINDS; k++)
		if (kc_exit_name(k))
			printf(" %s=%llu", kc_exit_name(k), (unsigned long long)s->exits[k]);
	printf(" other=%llu\n", (unsigned long long)kc_exits_other(s));
	if (st->state == KEEL_PSTATE_STOPPED) {
		char reason[KEEL_STOP_REASON_MAX];

		kc_stop_reason(s, reason);
		printf("  stopped_by:     %s (%s)\n", kc_stop_cause_name(s->stop_cause), reason);
	}
	kc_print_stats_ports(st->id, name, nets, nnets, false);
}

/* stats [NAME]: @nets (NET_LIST's records, or none) gives each partition's ports. */
static int kc_stats_print(const struct kc_args *a, const struct keel_net_rec *nets, uint32_t nnets,
			  bool json)
{
	struct keel_part_status recs[KEEL_MAX_PARTITIONS];
	struct keel_part_stats s;
	bool first = true;
	uint32_t n;
	int ret;

	if (a->npos) {
		ret = kc_resolve(a->pos[0], &recs[0]);
		if (ret)
			return ret;
		ret = kc_stats_raw(recs[0].id, &s);
		if (ret)
			return kc_error(kc_exit_code(KC_OP_QUERY, -ret), "%.64s: %s", a->pos[0],
					kc_err_text(KC_OP_QUERY, -ret));
		kc_print_stats(&s, nets, nnets, json, true);
		if (json)
			printf("\n");
		return 0;
	}
	ret = kc_list(recs, &n);
	if (ret)
		return ret;
	if (json)
		printf("{\"partitions\":[");
	for (uint32_t i = 0; i < n; i++) {
		ret = kc_stats_raw(recs[i].id, &s);
		if (ret == -ENOENT)
			continue; /* destroyed since LIST */
		if (ret)
			return kc_error(kc_exit_code(KC_OP_QUERY, -ret), "stats: %s",
					kc_err_text(KC_OP_QUERY, -ret));
		kc_print_stats(&s, nets, nnets, json, first);
		first = false;
	}
	if (json)
		printf("]}\n");
	return 0;
}

static int cmd_stats(const struct kc_args *a)
{
	struct keel_net_rec *nets;
	uint32_t nnets;
	int ret;

	ret = kc_open(NULL, false);
	if (ret)
		return ret;
	/* Ports come from one NET_LIST; if it fails (an older Keel) none are shown. */
	if (kc_net_list(&nets, &nnets)) {
		nets = NULL;
		nnets = 0;
	}
	ret = kc_stats_print(a, nets, nnets, a->val[ST_JSON] != NULL);
	free(nets);
	return ret;
}

/* ---- measure ---- */

enum { MS_JSON, MS_NR };
static const struct kc_opt measure_opts[] = { [MS_JSON] = { "json", false } };

static void kc_sha256_hex(const uint8_t d[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static const char *kc_image_role(uint32_t role)
{
	return role == KEEL_PD_IMAGE_KERNEL   ? "kernel"
	       : role == KEEL_PD_IMAGE_INITRD ? "initrd"
	       : role == KEEL_PD_IMAGE_DATA   ? "disk"
					      : "image";
}

/* Partition @id's MEASURE answer into @m: 0 or an exit code (message printed). */
static int kc_measure_get(uint32_t id, struct keel_ioc_measure *m)
{
	int ret;

	memset(m, 0, sizeof(*m));
	m->id = id;
	ret = kc_ioctl(KEEL_IOC_MEASURE, m);
	if (ret)
		return kc_error(kc_exit_code(KC_OP_QUERY, -ret), "measure: %s",
				kc_err_text(KC_OP_QUERY, -ret));
	return 0;
}

/* One partition's images from its answer @mp: JSON object or lines. */
static void kc_measure_print(const struct keel_part_status *st, const struct keel_ioc_measure *m,
			     bool json, bool first, const char *indent)
{
	char name[KEEL_NAME_MAX], hex[65], esc[KEEL_MEASURE_NAME * 6];

	kc_part_name(st, name);
	if (json) {
		printf("%s{\"name\":", first ? "" : ",");
		kc_json_name(st);
		printf(",\"id\":%u,\"images\":[", st->id);
	} else {
		printf("%s%s:\n", indent, name);
	}
	for (uint32_t i = 0; i < m->m.image_count && i < KEEL_PD_MAX_IMAGES; i++) {
		const struct keel_image_measure *im = &m->m.image[i];
		char path[KEEL_MEASURE_NAME];

		snprintf(path, sizeof(path), "%.*s", KEEL_MEASURE_NAME - 1, im->name);
		kc_sha256_hex(im->sha256, hex);
		if (json) {
			kc_json_escape(path, strlen(path), esc, sizeof(esc));
			printf("%s{\"role\":\"%s\",\"name\":\"%s\",\"size\":%llu,\"sha256\":",
			       i ? "," : "", kc_image_role(im->role), esc,
			       (unsigned long long)im->size);
			printf(im->measured ? "\"%s\"}" : "null}", hex);
			continue;
		}
		for (char *c = path; *c; c++) /* Keel checked them; a terminal gets no controls */
			if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
				*c = '?';
		printf("%s  %-6s  %s  %s  (%llu bytes)\n", indent, kc_image_role(im->role),
		       im->measured ? hex : "not measured yet (hashed when it first starts)      ",
		       path, (unsigned long long)im->size);
	}
	if (json)
		printf("]}");
}

/* The TPM report into @t; false (quietly) from a Keel or driver without it. */
static bool kc_tpm_get(struct keel_tpm_report *t)
{
	memset(t, 0, sizeof(*t));
	return kc_ioctl(KEEL_IOC_TPM, t) == 0;
}

static const char *kc_tpm_state(uint32_t state)
{
	return state == KEEL_TPM_NONE	    ? "none"
	       : state == KEEL_TPM_MEASURED ? "measured"
	       : state == KEEL_TPM_FAILED   ? "failed"
					    : "unknown";
}

/* "tpm": the state, both PCRs and every event of theirs from the firmware's log. */
static void kc_tpm_json(const struct keel_tpm_report *t)
{
	char hex[65], esc[KEEL_TPM_EVENT_DATA * 6 + 1];

	printf(",\"tpm\":{\"state\":\"%s\"", kc_tpm_state(t->state));
	if (t->state == KEEL_TPM_NONE) {
		printf("}");
		return;
	}
	kc_json_escape(t->why, strnlen(t->why, sizeof(t->why)), esc, sizeof(esc));
	printf(t->state == KEEL_TPM_FAILED ? ",\"why\":\"%s\"" : ",\"why\":null", esc);
	printf(",\"pcr_config\":%u,\"pcr_images\":%u,\"pcrs\":", KEEL_TPM_PCR_CONFIG,
	       KEEL_TPM_PCR_IMAGES);
	if (t->pcrs_read) {
		kc_sha256_hex(t->pcr_images, hex);
		printf("{\"%u\":\"%s\"", KEEL_TPM_PCR_IMAGES, hex);
		kc_sha256_hex(t->pcr_config, hex);
		printf(",\"%u\":\"%s\"}", KEEL_TPM_PCR_CONFIG, hex);
	} else {
		printf("null");
	}
	printf(",\"events_total\":%u,\"events\":[", t->event_total);
	for (uint32_t i = 0; i < t->event_count && i < KEEL_TPM_EVENTS_MAX; i++) {
		const struct keel_tpm_event *e = &t->event[i];

		kc_sha256_hex(e->sha256, hex);
		kc_json_escape((const char *)e->data,
			       e->data_size < KEEL_TPM_EVENT_DATA ? e->data_size
								  : KEEL_TPM_EVENT_DATA,
			       esc, sizeof(esc));
		printf("%s{\"pcr\":%u,\"type\":%u,\"sha256\":", i ? "," : "", e->pcr, e->type);
		printf(e->has_sha256 ? "\"%s\"" : "null", hex);
		printf(",\"data_size\":%u,\"data\":\"%s\"}", e->data_size, esc);
	}
	printf("]}");
}

/* The TPM as lines: what holds what, the PCRs, how many events. */
static void kc_tpm_text(const struct keel_tpm_report *t, const char *indent)
{
	char hex[65];

	if (t->state == KEEL_TPM_NONE) {
		printf("%sTPM       none: the files are hashed, not measured into PCRs\n", indent);
		return;
	}
	if (t->state == KEEL_TPM_FAILED)
		printf("%sTPM       measured only in part: %.*s\n", indent, KEEL_TPM_WHY - 1,
		       t->why);
	if (t->pcrs_read) {
		kc_sha256_hex(t->pcr_images, hex);
		printf("%sPCR %-5u %s  (images)\n", indent, KEEL_TPM_PCR_IMAGES, hex);
		kc_sha256_hex(t->pcr_config, hex);
		printf("%sPCR %-5u %s  (keel.cfg)\n", indent, KEEL_TPM_PCR_CONFIG, hex);
	}
	printf("%sTPM log   %u event%s in PCRs %u and %u (--json lists them)\n", indent,
	       t->event_total, t->event_total == 1 ? "" : "s", KEEL_TPM_PCR_IMAGES,
	       KEEL_TPM_PCR_CONFIG);
}

/*
 * The measure document of partitions [@from, @to): keel.cfg's digest, the
 * TPM's PCRs (@tpm, NULL from a Keel without them), each one's images.
 */
static void kc_measure_doc(const struct keel_part_status *recs, uint32_t from, uint32_t to,
			   const struct keel_ioc_measure *answers, bool json, const char *indent)
{
	static struct keel_tpm_report tpm;
	bool have_tpm = kc_tpm_get(&tpm);
	char hex[65];

	/* keel.cfg's digest is the boot's: every answer carries it. */
	kc_sha256_hex(answers[from].m.cfg_sha256, hex);
	if (json)
		printf("{\"keel_cfg_sha256\":\"%s\"", hex);
	else
		printf("%skeel.cfg  %s\n", indent, hex);
	if (have_tpm && json)
		kc_tpm_json(&tpm);
	else if (have_tpm)
		kc_tpm_text(&tpm, indent);
	if (json)
		printf(",\"partitions\":[");
	for (uint32_t i = from; i < to; i++)
		kc_measure_print(&recs[i], &answers[i], json, i == from, indent);
	if (json)
		printf("]}");
}

static int cmd_measure(const struct kc_args *a)
{
	static struct keel_ioc_measure answers[KEEL_MAX_PARTITIONS];
	struct keel_part_status recs[KEEL_MAX_PARTITIONS];
	bool json = a->val[MS_JSON] != NULL;
	uint32_t n, from = 0, to;
	int ret;

	ret = kc_open(NULL, false);
	if (!ret)
		ret = kc_list(recs, &n);
	if (ret)
		return ret;
	to = n;
	if (a->npos) {
		int i = kc_find_part(recs, n, a->pos[0]);

		if (i < 0)
			return kc_error(KC_EXIT_NOPART, "%.64s: no such partition", a->pos[0]);
		from = (uint32_t)i;
		to = from + 1;
	}
	/* Every answer first, so a failure prints no half document. */
	memset(answers, 0, sizeof(answers));
	for (uint32_t i = from; i < to; i++) {
		ret = kc_measure_get(recs[i].id, &answers[i]);
		if (ret)
			return ret;
	}
	kc_measure_doc(recs, from, to, answers, json, "");
	if (json)
		printf("\n");
	return 0;
}

/* ---- pci ---- */

enum { PC_JSON, PC_NR };
static const struct kc_opt pci_opts[] = { [PC_JSON] = { "json", false } };

/*
 * Who owns @d, for the table: the owner's name from @recs into @buf, or
 * (gone since) its id; NULL if nobody. *@named: a name was found.
 */
static const char *kc_pci_owner(const struct keel_pci_dev *d, const struct keel_part_status *recs,
				uint32_t n, char *buf, size_t len, bool *named)
{
	*named = false;
	if (d->owner == KEEL_PCI_OWNER_NONE)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		if (recs[i].id == d->owner) {
			char name[KEEL_NAME_MAX];

			kc_part_name(&recs[i], name);
			snprintf(buf, len, "%s", name);
			*named = true;
			return buf;
		}
	}
	snprintf(buf, len, "%u", d->owner);
	return buf;
}

static void kc_print_pci(const struct keel_pci_dev *devs, uint32_t n,
			 const struct keel_part_status *recs, uint32_t nparts, bool json)
{
	char owner[KEEL_NAME_MAX + 16], line[1024];
	bool named;
	int w = 5;

	for (uint32_t i = 0; i < n; i++) {
		const char *o = kc_pci_owner(&devs[i], recs, nparts, owner, sizeof(owner), &named);

		if (o && (int)strlen(o) > w)
			w = (int)strlen(o);
	}
	if (json) {
		printf("[");
	} else {
		kc_format_pci_header(w, line, sizeof(line));
		printf("%s\n", line);
	}
	for (uint32_t i = 0; i < n; i++) {
		const char *o = kc_pci_owner(&devs[i], recs, nparts, owner, sizeof(owner), &named);

		if (json) {
			kc_format_pci_json(&devs[i], named ? o : NULL, line, sizeof(line));
			printf("%s%s", i ? "," : "", line);
		} else {
			kc_format_pci_row(&devs[i], o, w, line, sizeof(line));
			printf("%s\n", line);
		}
	}
	if (json)
		printf("]\n");
}

/* The host's PCI functions into @devs (KEEL_PCI_MAX_DEVS): 0 with *@n and *@total, or -errno. */
static int kc_pci_list(struct keel_pci_dev *devs, uint32_t *n, uint32_t *total)
{
	struct keel_ioc_list l;
	int ret;

	memset(&l, 0, sizeof(l));
	l.buf = (uintptr_t)devs;
	l.count = KEEL_PCI_MAX_DEVS;
	ret = kc_ioctl(KEEL_IOC_PCI_LIST, &l);
	if (ret)
		return ret;
	*n = l.written < KEEL_PCI_MAX_DEVS ? l.written : KEEL_PCI_MAX_DEVS;
	*total = l.total;
	return 0;
}

/* Why PCI_ASSIGN/PCI_RELEASE of @addr for @st failed with errno @err: an exit code. */
static int kc_pci_change_error(bool assign, const struct keel_part_status *st, const char *addr,
			       int err)
{
	const char *what = assign ? "assign" : "release";
	char name[KEEL_NAME_MAX];
	bool started = st->state != KEEL_PSTATE_CREATED && st->state != KEEL_PSTATE_LOADED;

	kc_part_name(st, name);
	switch (err) {
	case EBUSY:
		if (started || !assign)
			return kc_error(
				KC_EXIT_STATE,
				"pci %s %s %s: %s has started (%s); functions are given and "
				"taken back before start",
				what, name, addr, name, kc_state_name(st->state));
		return kc_error(KC_EXIT_RESOURCE,
				"pci assign %s %s: another partition has it or a function of its "
				"isolation group (see keelctl pci)",
				name, addr);
	case ENODEV:
		return kc_error(KC_EXIT_FAIL,
				"pci assign %s %s: not on this host, or not a function Keel gives "
				"(see keelctl pci)",
				name, addr);
	case EEXIST:
		return kc_error(KC_EXIT_FAIL, "pci assign %s %s: %s has it already", name, addr,
				name);
	case ENOSPC:
		return kc_error(KC_EXIT_RESOURCE,
				"pci assign %s %s: %s holds %u PCI functions or %u devices already",
				name, addr, name, KEEL_PD_MAX_PCI, KEEL_PD_MAX_DEVICES);
	case ENOENT:
		return kc_error(KC_EXIT_FAIL, "pci release %s %s: %s does not hold it", name, addr,
				name);
	case ENOTSUP:
		return kc_error(KC_EXIT_FAIL,
				"pci release %s %s: a device entry follows it in %s's description; "
				"destroy and create %s instead",
				name, addr, name, name);
	case EPERM:
		return kc_error(KC_EXIT_STATE, "pci %s %s: the management partition itself", what,
				name);
	}
	return kc_error(kc_exit_code(KC_OP_CTL, err), "pci %s %s %s: %s", what, name, addr,
			kc_err_text(KC_OP_CTL, err));
}

/* keelctl pci assign|release NAME ADDR: one function, one partition that has not started. */
static int cmd_pci_change(const struct kc_args *a, bool assign)
{
	struct keel_ioc_pci p;
	struct keel_part_status st;
	char name[KEEL_NAME_MAX];
	uint32_t bad;
	int ret;

	if (a->npos != 3 || a->val[PC_JSON])
		return kc_error(KC_EXIT_USAGE, "usage: keelctl pci %s NAME ADDR",
				assign ? "assign" : "release");
	if (keel_pci_addr_parse(a->pos[2], &p.addr, &bad) != KEEL_PCI_PARSE_OK)
		return kc_error(
			KC_EXIT_USAGE,
			"pci: '%.40s' is not a PCI address (SSSS:BB:DD.F or BB:DD.F, in hex)",
			a->pos[2]);
	ret = kc_open_part(a->pos[1], &st);
	if (ret)
		return ret;
	p.id = st.id;
	ret = kc_ioctl(assign ? KEEL_IOC_PCI_ASSIGN : KEEL_IOC_PCI_RELEASE, &p);
	if (ret)
		return kc_pci_change_error(assign, &st, a->pos[2], -ret);
	kc_part_name(&st, name);
	printf("%s %04x:%02x:%02x.%x %s %s\n", assign ? "assigned" : "released",
	       KEEL_PCI_ADDR_SEG(p.addr), KEEL_PCI_ADDR_BDF(p.addr) >> 8,
	       (KEEL_PCI_ADDR_BDF(p.addr) >> 3) & 0x1f, KEEL_PCI_ADDR_BDF(p.addr) & 7,
	       assign ? "to" : "from", name);
	return 0;
}

static int cmd_pci(const struct kc_args *a)
{
	struct keel_part_status recs[KEEL_MAX_PARTITIONS];
	bool json = a->val[PC_JSON] != NULL;
	struct keel_pci_dev *devs;
	uint32_t n, total, nparts = 0;
	bool owned = false;
	int ret;

	if (a->npos && (!strcmp(a->pos[0], "assign") || !strcmp(a->pos[0], "release")))
		return cmd_pci_change(a, !strcmp(a->pos[0], "assign"));
	if (a->npos)
		return kc_error(KC_EXIT_USAGE, "pci: unknown subcommand '%.40s' (assign, release)",
				a->pos[0]);
	ret = kc_open(NULL, false);
	if (ret)
		return ret;
	devs = calloc(KEEL_PCI_MAX_DEVS, sizeof(*devs));
	if (!devs)
		return kc_error(KC_EXIT_FAIL, "pci: out of memory");
	ret = kc_pci_list(devs, &n, &total);
	if (ret) {
		free(devs);
		return kc_error(kc_exit_code(KC_OP_QUERY, -ret), "pci: %s",
				kc_err_text(KC_OP_QUERY, -ret));
	}
	for (uint32_t i = 0; i < n; i++)
		owned |= devs[i].owner != KEEL_PCI_OWNER_NONE;
	if (owned)
		ret = kc_list(recs, &nparts); /* owners by name */
	if (!ret) {
		if (!n && !json)
			printf("no PCI functions\n");
		else
			kc_print_pci(devs, n, recs, nparts, json);
		if (total > n)
			kc_error(0, "warning: Keel found %u PCI functions; %u listed", total, n);
	}
	free(devs);
	return ret;
}

/* ---- net ---- */

enum { NT_JSON, NT_NR };
static const struct kc_opt net_opts[] = { [NT_JSON] = { "json", false } };

/*
 * Keel's networks and ports (NET_LIST) into a new array *@recs of *@n
 * records, or NULL when this Keel predates networks (ABI < 1.6): 0 or -errno.
 */
static int kc_net_list(struct keel_net_rec **recs, uint32_t *n)
{
	struct keel_ioc_list l;
	int ret;

	*recs = calloc(KEEL_NET_LIST_MAX, sizeof(**recs));
	*n = 0;
	if (!*recs)
		return -ENOMEM;
	memset(&l, 0, sizeof(l));
	l.buf = (uintptr_t)*recs;
	l.count = KEEL_NET_LIST_MAX;
	ret = kc_ioctl(KEEL_IOC_NET_LIST, &l);
	if (ret) {
		free(*recs);
		*recs = NULL;
		return ret == -ENOTTY || ret == -ENOSYS ? 0 : ret;
	}
	*n = l.written < KEEL_NET_LIST_MAX ? l.written : KEEL_NET_LIST_MAX;
	return 0;
}

/* The name of partition @id as @parts lists it, into @buf; NULL if it is not there. */
static const char *kc_part_name_of(uint32_t id, const struct keel_part_status *parts, uint32_t n,
				   char *buf)
{
	for (uint32_t i = 0; i < n; i++) {
		if (parts[i].id == id) {
			kc_part_name(&parts[i], buf);
			return buf;
		}
	}
	return NULL;
}

static uint64_t kc_net_drops(const struct keel_net_rec *r)
{
	uint64_t sum = 0;

	for (uint32_t k = 0; k < KEEL_NET_DROPS; k++)
		sum += r->drops[k];
	return sum;
}

/* One port as a table row (keelctl net) or an indented line (keelctl stats). */
static void kc_print_port_row(const struct keel_net_rec *r, const char *owner)
{
	char mac[20], name[KEEL_NET_NAME_MAX], id[16];

	memcpy(name, r->name, sizeof(name));
	name[sizeof(name) - 1] = '\0';
	kc_format_mac(r->mac, mac, sizeof(mac));
	snprintf(id, sizeof(id), "%u", r->owner);
	printf("%-12s %-17s %-16s %10llu %12llu %10llu %12llu %8llu%s\n", name, mac,
	       owner ? owner : id, (unsigned long long)r->tx_packets,
	       (unsigned long long)r->tx_bytes, (unsigned long long)r->rx_packets,
	       (unsigned long long)r->rx_bytes, (unsigned long long)kc_net_drops(r),
	       (r->flags & KEEL_NET_PORT_UPLINK) ? " uplink" : "");
}

static void kc_print_port_drops(const struct keel_net_rec *r)
{
	if (!kc_net_drops(r))
		return;
	printf("%-12s   drops:", "");
	for (uint32_t k = 0; k < KEEL_NET_DROPS; k++)
		if (r->drops[k])
			printf(" %s=%llu", kc_net_drop_name(k) ? kc_net_drop_name(k) : "other",
			       (unsigned long long)r->drops[k]);
	printf("\n");
}

static void kc_print_net_json(const struct keel_net_rec *recs, uint32_t n,
			      const struct keel_part_status *parts, uint32_t nparts)
{
	char line[1024], owner[KEEL_NAME_MAX], esc[KEEL_NET_NAME_MAX * 6 + 1];
	bool open = false, first_port = true;

	printf("{\"networks\":[");
	for (uint32_t i = 0; i < n; i++) {
		const struct keel_net_rec *r = &recs[i];

		if (r->kind == KEEL_NET_REC_NETWORK) {
			char name[KEEL_NET_NAME_MAX];

			memcpy(name, r->name, sizeof(name));
			name[sizeof(name) - 1] = '\0';
			kc_json_escape(name, strlen(name), esc, sizeof(esc));
			printf("%s{\"name\":\"%s\",\"id\":%u,\"ports\":[", open ? "]}," : "", esc,
			       r->net);
			open = true;
			first_port = true;
		} else if (r->kind == KEEL_NET_REC_PORT && open) {
			kc_format_net_port_json(r, kc_part_name_of(r->owner, parts, nparts, owner),
						line, sizeof(line));
			printf("%s%s", first_port ? "" : ",", line);
			first_port = false;
		}
	}
	printf("%s]}\n", open ? "]}" : "");
}

static int cmd_net(const struct kc_args *a)
{
	struct keel_part_status parts[KEEL_MAX_PARTITIONS];
	bool json = a->val[NT_JSON] != NULL;
	struct keel_net_rec *recs;
	uint32_t n, nparts = 0, nets = 0;
	char owner[KEEL_NAME_MAX];
	int ret;

	ret = kc_open(NULL, false);
	if (!ret)
		ret = kc_list(parts, &nparts);
	if (ret)
		return ret;
	ret = kc_net_list(&recs, &n);
	if (ret)
		return kc_error(kc_exit_code(KC_OP_QUERY, -ret), "net: %s",
				kc_err_text(KC_OP_QUERY, -ret));
	if (!recs)
		return kc_error(KC_EXIT_FAIL, "net: this Keel has no networks (ABI before 1.6)");
	if (json) {
		kc_print_net_json(recs, n, parts, nparts);
		free(recs);
		return 0;
	}
	for (uint32_t i = 0; i < n; i++)
		nets += recs[i].kind == KEEL_NET_REC_NETWORK;
	if (!nets) {
		printf("no networks (keel.cfg's [network NAME] sections make them)\n");
		free(recs);
		return 0;
	}
	printf("%s\n", kc_port_header);
	for (uint32_t i = 0; i < n; i++) {
		const struct keel_net_rec *r = &recs[i];

		if (r->kind == KEEL_NET_REC_NETWORK && !r->ports)
			printf("%-12.31s (no ports)\n", r->name);
		if (r->kind != KEEL_NET_REC_PORT)
			continue;
		kc_print_port_row(r, kc_part_name_of(r->owner, parts, nparts, owner));
		kc_print_port_drops(r);
	}
	free(recs);
	return 0;
}

/* ---- create ---- */

enum {
	CR_CPUS,
	CR_MEMORY,
	CR_KERNEL,
	CR_INITRD,
	CR_CMDLINE,
	CR_DISK,
	CR_ON_FAULT,
	CR_ON_REBOOT,
	CR_START,
	CR_MAX_MEMORY,
	CR_MAX_CPUS,
	CR_PCI,
	CR_NET,
	CR_VSOCK,
	CR_NR
};
static const struct kc_opt create_opts[] = {
	[CR_CPUS] = { "cpus", true },	      [CR_MEMORY] = { "memory", true },
	[CR_KERNEL] = { "kernel", true },     [CR_INITRD] = { "initrd", true },
	[CR_CMDLINE] = { "cmdline", true },   [CR_DISK] = { "disk", true },
	[CR_ON_FAULT] = { "on-fault", true }, [CR_ON_REBOOT] = { "on-reboot", true },
	[CR_START] = { "start", false },      [CR_MAX_MEMORY] = { "max-memory", true },
	[CR_MAX_CPUS] = { "max-cpus", true }, [CR_PCI] = { "pci", KC_ARG_REPEAT },
	[CR_NET] = { "net", KC_ARG_REPEAT },  [CR_VSOCK] = { "vsock", true },
};

struct kc_image {
	char path[4096];
	int fd;
	uint64_t size;
};

/* Opens an image file and takes its size: 0 or an exit code. */
static int kc_image_open(struct kc_image *im, const char *path)
{
	struct stat sb;
	off_t end;

	if (strlen(path) >= sizeof(im->path))
		return kc_error(KC_EXIT_IMAGE, "%.64s...: path too long", path);
	strcpy(im->path, path);
	im->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (im->fd < 0)
		return kc_error(KC_EXIT_IMAGE, "%s: %s", path, strerror(errno));
	if (fstat(im->fd, &sb))
		return kc_error(KC_EXIT_IMAGE, "%s: %s", path, strerror(errno));
	if (S_ISREG(sb.st_mode)) {
		im->size = (uint64_t)sb.st_size;
	} else if (S_ISBLK(sb.st_mode)) {
		end = lseek(im->fd, 0, SEEK_END);
		if (end < 0)
			return kc_error(KC_EXIT_IMAGE, "%s: %s", path, strerror(errno));
		im->size = (uint64_t)end;
	} else {
		return kc_error(KC_EXIT_IMAGE, "%s: not a regular file", path);
	}
	if (im->size == 0)
		return kc_error(KC_EXIT_IMAGE, "%s: empty file", path);
	if (im->size > KEEL_MGMT_IMAGE_MAX)
		return kc_error(KC_EXIT_IMAGE,
				"%s: too big (%llu MiB; Keel takes images up to %llu MiB)", path,
				(unsigned long long)(im->size >> 20),
				(unsigned long long)(KEEL_MGMT_IMAGE_MAX >> 20));
	return 0;
}

/* Is @im a kernel Keel can boot on this arch? 0 or an exit code. */
static int kc_image_sniff(const struct kc_image *im)
{
	static uint8_t hdr[KC_SNIFF_LEN];
	const char *why;
	ssize_t n;

	n = pread(im->fd, hdr, sizeof(hdr), 0);
	if (n < 0)
		return kc_error(KC_EXIT_IMAGE, "%s: %s", im->path, strerror(errno));
	if (kc_sniff_kernel(hdr, (size_t)n, im->size, KC_ARCH, &why) == KC_IMAGE_NONE)
		return kc_error(KC_EXIT_IMAGE, "%s: not a kernel Keel can boot (%s)", im->path,
				why);
	return 0;
}

/* Copies @im into image @image of partition @id: 0, or an exit code. */
static int kc_image_load(const char *name, uint32_t id, uint32_t image, const struct kc_image *im,
			 uint8_t *buf)
{
	uint64_t off = 0;
	int ret;

	while (off < im->size) {
		uint64_t want = im->size - off < KC_LOAD_CHUNK ? im->size - off : KC_LOAD_CHUNK;
		struct keel_ioc_load l;
		ssize_t n = pread(im->fd, buf, (size_t)want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kc_error(KC_EXIT_IMAGE, "create %s: reading %s: %s", name, im->path,
					strerror(errno));
		if (n == 0)
			return kc_error(KC_EXIT_IMAGE, "create %s: %s shrank while it was read",
					name, im->path);
		memset(&l, 0, sizeof(l));
		l.id = id;
		l.image = image;
		l.offset = off;
		l.buf = (uintptr_t)buf;
		l.len = (uint64_t)n;
		ret = kc_ioctl(KEEL_IOC_LOAD, &l);
		if (ret)
			return kc_error(kc_exit_code(KC_OP_LOAD, -ret), "create %s: loading %s: %s",
					name, im->path, kc_err_text(KC_OP_LOAD, -ret));
		off += (uint64_t)n;
	}
	return 0;
}

/* The partition (not stopped) that owns cpu @cpu, or NULL. */
static const struct keel_part_status *kc_cpu_owner(const struct keel_part_status *recs, uint32_t n,
						   unsigned int cpu)
{
	for (uint32_t i = 0; i < n; i++)
		if ((recs[i].cpu_mask & (1ull << cpu)) && recs[i].state != KEEL_PSTATE_STOPPED)
			return &recs[i];
	return NULL;
}

/*
 * Which cpus: 0 with @mask set (and @count, when --cpus gave a number of
 * cores rather than a list), or an exit code (message printed).
 */
static int kc_create_cpus(const char *name, const char *arg, const struct keel_host_info *hi,
			  const struct keel_part_status *recs, uint32_t n, uint64_t *mask,
			  uint32_t *count_out)
{
	char err[160], list[200];
	uint32_t count;
	uint64_t m;

	if (kc_parse_cpus(arg, &count, &m, err, sizeof(err)))
		return kc_error(KC_EXIT_USAGE, "create %s: %s", name, err);
	kc_format_cpus(hi->free_cpu_mask, list, sizeof(list));
	*count_out = count;
	if (count) {
		*mask = kc_pick_cpus(hi->free_cpu_mask, count);
		if (!*mask) {
			unsigned int nfree = kc_popcount(hi->free_cpu_mask);

			if (nfree)
				return kc_error(KC_EXIT_RESOURCE,
						"create %s: no free core (%u wanted, %u free: %s)",
						name, count, nfree, list);
			return kc_error(KC_EXIT_RESOURCE,
					"create %s: no free core (%u wanted, 0 free)", name, count);
		}
		return 0;
	}
	for (unsigned int cpu = 0; cpu < 64; cpu++) {
		const struct keel_part_status *owner;
		char oname[KEEL_NAME_MAX];

		if (!(m & (1ull << cpu)) || (hi->free_cpu_mask & (1ull << cpu)))
			continue;
		if (!(hi->online_cpu_mask & (1ull << cpu))) {
			kc_format_cpus(hi->online_cpu_mask, list, sizeof(list));
			return kc_error(KC_EXIT_FAIL,
					"create %s: cpu %u is not online (online: %s)", name, cpu,
					list);
		}
		owner = kc_cpu_owner(recs, n, cpu);
		if (owner) {
			kc_part_name(owner, oname);
			return kc_error(KC_EXIT_RESOURCE,
					"create %s: cpu %u is in use by %s (free: %s)", name, cpu,
					oname, list);
		}
		return kc_error(KC_EXIT_RESOURCE, "create %s: cpu %u is in use (free: %s)", name,
				cpu, list);
	}
	*mask = m;
	return 0;
}

/*
 * Can the --pci functions be given, as PCI_LIST shows them now? 0 or an exit
 * code (message printed). If the list cannot be read, Keel alone decides.
 */
static int kc_create_pci(const char *name, const struct kc_create_req *req,
			 const struct keel_part_status *recs, uint32_t nparts)
{
	char addr[16], owner[KEEL_NAME_MAX + 16];
	struct keel_pci_dev *devs;
	uint32_t n, total, who;
	int ret = 0;

	if (!req->pci_count)
		return 0;
	devs = calloc(KEEL_PCI_MAX_DEVS, sizeof(*devs));
	if (!devs)
		return kc_error(KC_EXIT_FAIL, "create %s: out of memory", name);
	if (kc_pci_list(devs, &n, &total)) {
		free(devs);
		return 0;
	}
	for (uint32_t k = 0; k < req->pci_count && !ret; k++) {
		const char *why = kc_pci_refusal(devs, n, req->pci[k], &who);
		struct keel_pci_dev by = { .owner = who };
		bool named;

		if (!why)
			continue;
		kc_format_pci_addr(KEEL_PCI_ADDR_SEG(req->pci[k]), KEEL_PCI_ADDR_BDF(req->pci[k]),
				   addr, sizeof(addr));
		if (who == KEEL_PCI_OWNER_NONE)
			ret = kc_error(KC_EXIT_FAIL, "create %s: pci %s: %s", name, addr, why);
		else
			ret = kc_error(
				KC_EXIT_RESOURCE, "create %s: pci %s: %s by %s", name, addr, why,
				kc_pci_owner(&by, recs, nparts, owner, sizeof(owner), &named));
	}
	free(devs);
	return ret;
}

/*
 * Each --net's network number, as NET_LIST names them now, and whether its
 * address is free there: 0 or an exit code (message printed).
 */
/* --vsock CID: not another partition's (STATS of each); Keel has the last word. */
static int kc_create_vsock(const char *name, const struct kc_create_req *req,
			   const struct keel_part_status *recs, uint32_t nparts)
{
	struct keel_part_stats s;

	if (!req->vsock || req->vsock_cid == KEEL_VSOCK_CID_AUTO)
		return 0;
	for (uint32_t i = 0; i < nparts; i++)
		if (!kc_stats_raw(recs[i].id, &s) && s.vsock_cid == req->vsock_cid)
			return kc_error(KC_EXIT_RESOURCE, "create %s: --vsock %u: the CID of %.32s",
					name, req->vsock_cid, recs[i].name);
	return 0;
}

static int kc_create_net(const char *name, struct kc_create_req *req,
			 const struct keel_part_status *recs, uint32_t nparts)
{
	char mac[20], owner[KEEL_NAME_MAX];
	struct keel_net_rec *nets;
	uint32_t n;
	int ret = 0;

	if (!req->net_count)
		return 0;
	if (kc_net_list(&nets, &n))
		return kc_error(KC_EXIT_FAIL, "create %s: Keel's networks cannot be listed", name);
	if (!nets)
		return kc_error(KC_EXIT_FAIL,
				"create %s: --net: this Keel has no networks (ABI before 1.6)",
				name);
	for (uint32_t k = 0; k < req->net_count && !ret; k++) {
		struct kc_net_req *want = &req->net[k];
		bool found = false;

		for (uint32_t i = 0; i < n; i++) {
			const struct keel_net_rec *r = &nets[i];

			if (strncmp(r->name, want->name, KEEL_NET_NAME_MAX))
				continue;
			if (r->kind == KEEL_NET_REC_NETWORK) {
				want->net = r->net;
				found = true;
			} else if (r->kind == KEEL_NET_REC_PORT && !memcmp(r->mac, want->mac, 6)) {
				kc_format_mac(r->mac, mac, sizeof(mac));
				ret = kc_error(KC_EXIT_RESOURCE,
					       "create %s: --net %s: %s is taken by %s", name,
					       want->name, mac,
					       kc_part_name_of(r->owner, recs, nparts, owner)
						       ?: "another partition");
				break;
			}
		}
		if (!ret && !found)
			ret = kc_error(
				KC_EXIT_FAIL,
				"create %s: --net %s: no such network (keelctl net lists them)",
				name, want->name);
	}
	free(nets);
	return ret;
}

static int kc_no_memory(const char *name, uint64_t mem, uint64_t images, uint64_t free_mem)
{
	char b1[32], b2[32], b3[32];

	if (!images)
		return kc_error(KC_EXIT_RESOURCE,
				"create %s: not enough memory (%s wanted, %s free)", name,
				kc_mib(mem, b1, sizeof(b1)), kc_mib(free_mem, b3, sizeof(b3)));
	return kc_error(KC_EXIT_RESOURCE,
			"create %s: not enough memory (%s + %s of images wanted, %s free)", name,
			kc_mib(mem, b1, sizeof(b1)), kc_mib(images, b2, sizeof(b2)),
			kc_mib(free_mem, b3, sizeof(b3)));
}

/* What kc_create_retry's calls need: the description's buffer and image indexes. */
struct kc_create_call {
	struct keel_ioc_create *c;
	uint8_t *desc;
	uint32_t *index;
};

static int kc_create_once(void *ctx, struct kc_create_req *req)
{
	struct kc_create_call *call = ctx;

	call->c->size = kc_pack_desc(req, call->desc, call->index);
	return kc_ioctl(KEEL_IOC_CREATE, call->c);
}

static int kc_free_cpus(void *ctx, uint64_t *mask)
{
	struct keel_ioc_host_info h;
	int ret = kc_read_host_info(&h);

	(void)ctx;
	if (!ret)
		*mask = h.info.free_cpu_mask;
	return ret;
}

static int cmd_create(const struct kc_args *a)
{
	struct kc_image im[KC_IM_COUNT];
	struct keel_part_status recs[KEEL_MAX_PARTITIONS];
	const char *name = a->pos[0], *disk = a->val[CR_DISK];
	struct kc_create_req req = { .name = name, .cmdline = a->val[CR_CMDLINE] };
	uint8_t desc[KEEL_PDESC_SIZE_MAX];
	uint32_t index[KC_IM_COUNT];
	struct keel_ioc_create c;
	struct kc_create_call call;
	struct keel_host_info hi;
	uint64_t mem, images = 0;
	uint32_t cpu_count = 0;
	char err[160], b1[32], cpus[200], *disk_path = NULL;
	uint32_t disk_flags = 0, n;
	uint8_t *buf = NULL;
	int ret, i;

	for (i = 0; i < (int)KC_IM_COUNT; i++)
		im[i].fd = -1;
	/* Everything the command line says, checked before /dev/keel is touched. */
	if (kc_check_name(name, err, sizeof(err)))
		return kc_error(KC_EXIT_USAGE, "create %.64s: %s", name, err);
	if (!a->val[CR_CPUS] || !a->val[CR_MEMORY] || !a->val[CR_KERNEL])
		return kc_error(KC_EXIT_USAGE,
				"create %s: --%s is required (see keelctl create --help)", name,
				!a->val[CR_CPUS]     ? "cpus"
				: !a->val[CR_MEMORY] ? "memory"
						     : "kernel");
	if (kc_parse_memory(a->val[CR_MEMORY], &mem, err, sizeof(err)))
		return kc_error(KC_EXIT_USAGE, "create %s: %s", name, err);
	if (a->val[CR_MAX_MEMORY] &&
	    kc_parse_max_memory(a->val[CR_MAX_MEMORY], mem, &req.hotplug, err, sizeof(err)))
		return kc_error(KC_EXIT_USAGE, "create %s: %s", name, err);
	{
		uint32_t count;
		uint64_t m;

		if (kc_parse_cpus(a->val[CR_CPUS], &count, &m, err, sizeof(err)))
			return kc_error(KC_EXIT_USAGE, "create %s: %s", name, err);
		if (a->val[CR_MAX_CPUS] &&
		    kc_parse_max_cpus(a->val[CR_MAX_CPUS], count ? count : kc_popcount(m),
				      &req.max_vcpus, err, sizeof(err)))
			return kc_error(KC_EXIT_USAGE, "create %s: %s", name, err);
	}
	if (a->val[CR_ON_FAULT] && strcmp(a->val[CR_ON_FAULT], "deliver") &&
	    strcmp(a->val[CR_ON_FAULT], "stop"))
		return kc_error(KC_EXIT_USAGE,
				"create %s: --on-fault must be deliver or stop, not '%.40s'", name,
				a->val[CR_ON_FAULT]);
	if (a->val[CR_ON_REBOOT] && strcmp(a->val[CR_ON_REBOOT], "restart") &&
	    strcmp(a->val[CR_ON_REBOOT], "stop"))
		return kc_error(KC_EXIT_USAGE,
				"create %s: --on-reboot must be restart or stop, not '%.40s'", name,
				a->val[CR_ON_REBOOT]);
	if (a->val[CR_CMDLINE] && strlen(a->val[CR_CMDLINE]) >= KEEL_CMDLINE_MAX)
		return kc_error(KC_EXIT_USAGE, "create %s: --cmdline is longer than %u bytes", name,
				KEEL_CMDLINE_MAX - 1);
	for (i = 0; i < a->nrep; i++)
		if ((a->rep_opt[i] == CR_PCI &&
		     kc_parse_pci(a->rep[i], req.pci, &req.pci_count, err, sizeof(err))) ||
		    (a->rep_opt[i] == CR_NET &&
		     kc_parse_net(a->rep[i], req.net, &req.net_count, err, sizeof(err))))
			return kc_error(KC_EXIT_USAGE, "create %s: %s", name, err);
	if (a->val[CR_VSOCK]) {
		if (kc_parse_vsock(a->val[CR_VSOCK], &req.vsock_cid, err, sizeof(err)))
			return kc_error(KC_EXIT_USAGE, "create %s: %s", name, err);
		req.vsock = true;
	}
	if (disk) {
		size_t len = strlen(disk);

		disk_path = strdup(disk);
		if (!disk_path)
			return kc_error(KC_EXIT_FAIL, "out of memory");
		if (len > 3 && !strcmp(disk + len - 3, ",ro")) {
			disk_flags = KEEL_DISK_RO;
			disk_path[len - 3] = '\0';
		} else if (len > 3 && !strcmp(disk + len - 3, ",rw")) {
			disk_path[len - 3] = '\0';
		}
	}
	ret = kc_image_open(&im[KC_IM_KERNEL], a->val[CR_KERNEL]);
	if (!ret)
		ret = kc_image_sniff(&im[KC_IM_KERNEL]);
	if (!ret && a->val[CR_INITRD])
		ret = kc_image_open(&im[KC_IM_INITRD], a->val[CR_INITRD]);
	if (!ret && disk_path)
		ret = kc_image_open(&im[KC_IM_DISK], disk_path);
	if (ret)
		goto out;
	for (i = 0; i < (int)KC_IM_COUNT; i++)
		if (im[i].fd >= 0)
			images += im[i].size;

	/* Then what Keel has free, for specific messages; Keel still has the last word. */
	ret = kc_open(&hi, false);
	if (!ret)
		ret = kc_list(recs, &n);
	if (ret)
		goto out;
	if (kc_find_part(recs, n, name) >= 0) {
		ret = kc_error(KC_EXIT_FAIL, "create %s: a partition named %s exists", name, name);
		goto out;
	}
	if (hi.part_count >= hi.part_max) {
		ret = kc_error(KC_EXIT_RESOURCE,
			       "create %s: no free partition slot (%u of %u in use)", name,
			       hi.part_count, hi.part_max);
		goto out;
	}
	memset(&c, 0, sizeof(c));
	ret = kc_create_net(name, &req, recs, n);
	if (!ret)
		ret = kc_create_vsock(name, &req, recs, n);
	if (!ret)
		ret = kc_create_cpus(name, a->val[CR_CPUS], &hi, recs, n, &req.cpu_mask,
				     &cpu_count);
	if (!ret)
		ret = kc_create_pci(name, &req, recs, n);
	if (ret)
		goto out;
	if (mem + images > hi.mem_free) {
		ret = kc_no_memory(name, mem, images, hi.mem_free);
		goto out;
	}

	req.flags = a->val[CR_ON_FAULT] && !strcmp(a->val[CR_ON_FAULT], "stop") ? KEEL_PD_FAULT_STOP
										: 0;
	/* A guest's reboot stops it unless asked otherwise (what keelctl did before 0.8). */
	if (!a->val[CR_ON_REBOOT] || strcmp(a->val[CR_ON_REBOOT], "restart"))
		req.flags |= KEEL_PD_REBOOT_STOP;
	req.mem = mem;
	req.disk_flags = disk_flags;
	for (i = 0; i < (int)KC_IM_COUNT; i++)
		req.size[i] = im[i].fd >= 0 ? im[i].size : 0;
	c.desc = (uintptr_t)desc;
	call = (struct kc_create_call){ .c = &c, .desc = desc, .index = index };
	ret = kc_create_retry(kc_create_once, kc_free_cpus, &call, &req, cpu_count);
	kc_format_cpus(req.cpu_mask, cpus, sizeof(cpus));
	if (ret == -ENOMEM) {
		ret = kc_no_memory(name, mem, images, hi.mem_free);
		goto out;
	}
	if (ret == -EBUSY && req.pci_count) {
		ret = kc_error(KC_EXIT_RESOURCE,
			       "create %s: a core, or a PCI function or its isolation group, is in "
			       "use (cpus %s; see keelctl pci)",
			       name, cpus);
		goto out;
	}
	if (ret == -EBUSY) {
		ret = kc_error(KC_EXIT_RESOURCE, "create %s: a core is in use (cpus %s)", name,
			       cpus);
		goto out;
	}
	if (ret == -EEXIST && (req.net_count || req.vsock)) {
		ret = kc_error(KC_EXIT_RESOURCE, "create %s: %s", name,
			       !req.vsock ? "a NIC's address is taken on its network (keelctl net)"
			       : !req.net_count
				       ? "its vsock CID is another partition's (keelctl stats)"
				       : "a NIC's address or its vsock CID is taken "
					 "(keelctl net, keelctl stats)");
		goto out;
	}
	if (ret) {
		ret = kc_error(kc_exit_code(KC_OP_CREATE, -ret), "create %s: %s", name,
			       kc_err_text(KC_OP_CREATE, -ret));
		goto out;
	}

	buf = malloc(KC_LOAD_CHUNK);
	if (!buf) {
		ret = kc_error(KC_EXIT_FAIL, "create %s: out of memory", name);
		goto destroy;
	}
	for (i = 0; i < (int)KC_IM_COUNT && !ret; i++)
		if (im[i].fd >= 0)
			ret = kc_image_load(name, c.id, index[i], &im[i], buf);
	if (ret)
		goto destroy;
	printf("created %s (id %u, cpus %s, %s)\n", name, c.id, cpus, kc_mib(mem, b1, sizeof(b1)));
	if (req.vsock) {
		struct keel_part_stats ps;

		if (!kc_stats_raw(c.id, &ps))
			printf("%s: vsock CID %u\n", name, ps.vsock_cid);
	}
	if (a->val[CR_START]) {
		ret = kc_ctl_raw(KEEL_IOC_START, c.id, 0, 0);
		if (ret) {
			ret = kc_error(kc_exit_code(KC_OP_CTL, -ret), "start %s: %s", name,
				       kc_err_text(KC_OP_CTL, -ret));
			goto destroy;
		}
		printf("started %s\n", name);
	}
	goto out;

destroy : {
	int dret = kc_ctl_raw(KEEL_IOC_DESTROY, c.id, 0, 0);

	if (dret)
		kc_error(0, "create %s: destroying the half-made partition (id %u) failed: %s",
			 name, c.id, kc_err_text(KC_OP_CTL, -dret));
	else
		kc_error(0, "create %s: the half-made partition was destroyed", name);
}
out:
	free(buf);
	free(disk_path);
	for (i = 0; i < (int)KC_IM_COUNT; i++)
		if (im[i].fd >= 0)
			close(im[i].fd);
	return ret;
}

/* ---- start, stop, pause, resume, destroy ---- */

/* A state refusal (EBUSY) of @what on @st, with the state read afresh. */
static int kc_state_error(const char *what, const struct keel_part_status *st)
{
	struct keel_part_stats s;
	char name[KEEL_NAME_MAX];
	uint32_t state = st->state;

	kc_part_name(st, name);
	if (!kc_stats_raw(st->id, &s))
		state = s.status.state;
	if (!strcmp(what, "destroy")) {
		if (state == KEEL_PSTATE_STOPPING)
			return kc_error(KC_EXIT_STATE,
					"%s is stopping: wait for it (or destroy --force)", name);
		return kc_error(KC_EXIT_STATE, "%s is %s: stop it first (or destroy --force)", name,
				kc_state_name(state));
	}
	if (!strcmp(what, "start")) {
		if (state == KEEL_PSTATE_STOPPED)
			return kc_error(
				KC_EXIT_STATE,
				"start %s: it has stopped; a stopped partition cannot start again (destroy and create it)",
				name);
		if (state == KEEL_PSTATE_RUNNING)
			return kc_error(KC_EXIT_STATE, "start %s: already running", name);
	}
	if ((!strcmp(what, "pause") || !strcmp(what, "resume") || !strcmp(what, "resize")) &&
	    state != KEEL_PSTATE_RUNNING && state != KEEL_PSTATE_PAUSED)
		return kc_error(KC_EXIT_STATE, "%s %s: not running (%s)", what, name,
				kc_state_name(state));
	if (!strcmp(what, "stop") && kc_never_started(state))
		return kc_error(KC_EXIT_STATE, "stop %s: never started (%s): destroy it instead",
				name, kc_state_name(state));
	return kc_error(KC_EXIT_STATE, "%s %s: wrong state (%s)", what, name, kc_state_name(state));
}

/* One ctl ioctl by name: 0 or an exit code. */
static int kc_ctl(const char *what, unsigned long req, const struct keel_part_status *st,
		  uint32_t flags, uint32_t timeout_ms)
{
	char name[KEEL_NAME_MAX];
	int ret = kc_ctl_raw(req, st->id, flags, timeout_ms);

	if (!ret)
		return 0;
	kc_part_name(st, name);
	if (ret == -EBUSY)
		return kc_state_error(what, st);
	if (ret == -ENOENT)
		return kc_error(KC_EXIT_NOPART, "%s: no such partition", name);
	if (ret == -ENOEXEC)
		return kc_error(
			KC_EXIT_IMAGE,
			"start %s: the kernel is not an image Keel can boot (%s stays created: destroy it)",
			name, name);
	return kc_error(kc_exit_code(KC_OP_CTL, -ret), "%s %s: %s", what, name,
			kc_err_text(KC_OP_CTL, -ret));
}

static const struct kc_opt no_opts[] = { { "", false } };

/* start, pause, resume: resolve, one ioctl, one line. */
static int kc_simple(const struct kc_args *a, const char *what, unsigned long req, const char *done)
{
	struct keel_part_status st;
	char name[KEEL_NAME_MAX];
	int ret;

	ret = kc_open_part(a->pos[0], &st);
	if (!ret)
		ret = kc_ctl(what, req, &st, 0, 0);
	if (ret)
		return ret;
	kc_part_name(&st, name);
	printf("%s %s\n", done, name);
	return 0;
}

static int cmd_start(const struct kc_args *a)
{
	return kc_simple(a, "start", KEEL_IOC_START, "started");
}

static int cmd_pause(const struct kc_args *a)
{
	return kc_simple(a, "pause", KEEL_IOC_PAUSE, "paused");
}

static int cmd_resume(const struct kc_args *a)
{
	return kc_simple(a, "resume", KEEL_IOC_RESUME, "resumed");
}

enum { SP_FORCE, SP_TIMEOUT, SP_NO_WAIT, SP_JSON, SP_NR };
static const struct kc_opt stop_opts[] = {
	[SP_FORCE] = { "force", false },
	[SP_TIMEOUT] = { "timeout", true },
	[SP_NO_WAIT] = { "no-wait", false },
	[SP_JSON] = { "json", false },
};

/* The stop's outcome, one line or one JSON object; 0 or KC_EXIT_FORCED. */
static int kc_report_stop(const char *name, const struct keel_part_stats *s, bool asked_force,
			  bool json)
{
	const char *how = kc_stop_cause_name(s->stop_cause);
	bool clean = s->stop_cause == KEEL_STOP_CAUSE_GUEST ||
		     (asked_force && s->stop_cause == KEEL_STOP_CAUSE_FORCED);
	char reason[KEEL_STOP_REASON_MAX];

	kc_stop_reason(s, reason);
	if (json) {
		char esc[2 * KEEL_STOP_REASON_MAX + 8];

		kc_json_escape(reason, strlen(reason), esc, sizeof(esc));
		printf("{\"name\":");
		kc_json_name(&s->status);
		printf(",\"stopped\":true,\"cause\":\"%s\",\"reason\":\"%s\",\"clean\":%s}\n", how,
		       esc, clean ? "true" : "false");
	} else if (s->stop_cause == KEEL_STOP_CAUSE_GUEST) {
		printf("stopped %s (the guest %s)\n", name,
		       strstr(reason, "reboot") || strstr(reason, "reset") ? "rebooted"
									   : "powered off");
	} else {
		printf("stopped %s (%s: %s)\n", name, how, reason[0] ? reason : "reason unknown");
	}
	if (clean || s->stop_cause == KEEL_STOP_CAUSE_NONE)
		return 0;
	return kc_error(KC_EXIT_FORCED, "stop %s: the guest did not power off by itself (%s)", name,
			s->stop_cause == KEEL_STOP_CAUSE_FORCED
				? "Keel stopped it when the timeout ran out"
				: reason);
}

static int cmd_stop(const struct kc_args *a)
{
	struct keel_part_status st;
	struct keel_part_stats s;
	char name[KEEL_NAME_MAX];
	uint32_t flags = a->val[SP_FORCE] ? KEEL_STOP_FORCE : 0, timeout_ms = 0;
	bool json = a->val[SP_JSON] != NULL;
	uint64_t sec;
	int ret;

	if (a->val[SP_TIMEOUT]) {
		if (kc_parse_u64(a->val[SP_TIMEOUT], &sec) || sec > KEEL_STOP_TIMEOUT_MAX_MS / 1000)
			return kc_error(
				KC_EXIT_USAGE,
				"stop: bad --timeout '%.40s' (whole seconds, 0-%u; 0 = Keel's default %u)",
				a->val[SP_TIMEOUT], KEEL_STOP_TIMEOUT_MAX_MS / 1000,
				KEEL_STOP_TIMEOUT_DEFAULT_MS / 1000);
		timeout_ms = (uint32_t)sec * 1000;
	}
	ret = kc_open_part(a->pos[0], &st);
	if (!ret)
		ret = kc_ctl("stop", KEEL_IOC_STOP, &st, flags, timeout_ms);
	if (ret)
		return ret;
	kc_part_name(&st, name);
	if (a->val[SP_NO_WAIT]) {
		if (json) {
			printf("{\"name\":");
			kc_json_name(&st);
			printf(",\"stopped\":false}\n");
		} else {
			printf("stopping %s\n", name);
		}
		return 0;
	}
	if (!flags && isatty(STDERR_FILENO))
		kc_error(0, "stopping %s: it has %u s to power off, then Keel stops it", name,
			 (timeout_ms ? timeout_ms : KEEL_STOP_TIMEOUT_DEFAULT_MS) / 1000);
	ret = kc_wait_stopped("stop", &st,
			      (uint64_t)(timeout_ms ? timeout_ms : KEEL_STOP_TIMEOUT_DEFAULT_MS) +
				      KC_STOP_GRACE_MS,
			      &s);
	if (ret)
		return ret;
	return kc_report_stop(name, &s, flags & KEEL_STOP_FORCE, json);
}

enum { DE_FORCE, DE_NR };
static const struct kc_opt destroy_opts[] = { [DE_FORCE] = { "force", false } };

static int cmd_destroy(const struct kc_args *a)
{
	struct keel_part_status st;
	char name[KEEL_NAME_MAX];
	int ret;

	ret = kc_open_part(a->pos[0], &st);
	if (ret)
		return ret;
	kc_part_name(&st, name);
	if (a->val[DE_FORCE] && !kc_never_started(st.state) && st.state != KEEL_PSTATE_STOPPED) {
		ret = kc_ctl("stop", KEEL_IOC_STOP, &st, KEEL_STOP_FORCE, 0);
		if (!ret)
			ret = kc_wait_stopped("destroy", &st,
					      KEEL_STOP_TIMEOUT_DEFAULT_MS + KC_STOP_GRACE_MS,
					      NULL);
		if (ret)
			return ret;
	}
	ret = kc_ctl("destroy", KEEL_IOC_DESTROY, &st, 0, 0);
	if (ret)
		return ret;
	printf("destroyed %s\n", name);
	return 0;
}

/* ---- resize ---- */

enum { RS_MEMORY, RS_CPUS, RS_TIMEOUT, RS_NO_WAIT, RS_NR };
static const struct kc_opt resize_opts[] = {
	[RS_MEMORY] = { "memory", true },
	[RS_CPUS] = { "cpus", true },
	[RS_TIMEOUT] = { "timeout", true },
	[RS_NO_WAIT] = { "no-wait", false },
};

#define KC_RESIZE_TIMEOUT_S 60u

/* Can @s's partition have @bytes of memory? 0 or an exit code with the reason. */
static int kc_resize_check(const char *name, const struct keel_part_stats *s, uint64_t bytes)
{
	uint64_t ram = s->status.mem_size, max = ram + s->mem_hotplug_size;
	char b1[32], b2[32];

	if (!s->mem_hotplug_size)
		return kc_error(
			KC_EXIT_STATE,
			"resize %s: it was created without --max-memory: its memory is fixed "
			"at %s",
			name, kc_mib(ram, b1, sizeof(b1)));
	if (bytes < ram)
		return kc_error(KC_EXIT_USAGE,
				"resize %s: %s is below its boot memory (%s), which cannot shrink",
				name, kc_mib(bytes, b1, sizeof(b1)), kc_mib(ram, b2, sizeof(b2)));
	if (bytes > max)
		return kc_error(KC_EXIT_USAGE, "resize %s: %s is more than its --max-memory (%s)",
				name, kc_mib(bytes, b1, sizeof(b1)), kc_mib(max, b2, sizeof(b2)));
	return 0;
}

/* While a resize waits: its stats, or an exit code if they cannot be had or it stopped. */
static int kc_resize_stats(const char *name, uint32_t id, struct keel_part_stats *s)
{
	int ret = kc_stats_raw(id, s);

	if (ret)
		return kc_error(kc_exit_code(KC_OP_QUERY, -ret), "resize %s: %s", name,
				kc_err_text(KC_OP_QUERY, -ret));
	if (s->status.state != KEEL_PSTATE_RUNNING && s->status.state != KEEL_PSTATE_PAUSED)
		return kc_error(KC_EXIT_STATE, "resize %s: it is %s now", name,
				kc_state_name(s->status.state));
	return 0;
}

/* Wait until the guest has plugged what was asked: 0 or an exit code. */
static int kc_resize_wait(const char *name, uint32_t id, uint64_t timeout_ms)
{
	uint64_t deadline = kc_now_ms() + timeout_ms, seen = KC_WATCH_NONE, now;
	struct keel_part_stats s;
	char b1[32], b2[32];

	for (;;) {
		int ret = kc_resize_stats(name, id, &s);

		if (ret)
			return ret;
		if (s.mem_plugged == s.mem_requested)
			return 0;
		now = kc_now_ms();
		if (now >= deadline)
			return kc_error(
				KC_EXIT_TIMEOUT,
				"resize %s: after %llu s its guest has %s of the %s asked (does it "
				"load virtio_mem, and can it free that memory?); Keel keeps asking",
				name, (unsigned long long)(timeout_ms / 1000),
				kc_mib(s.status.mem_size + s.mem_plugged, b1, sizeof(b1)),
				kc_mib(s.status.mem_size + s.mem_requested, b2, sizeof(b2)));
		kc_watch(id, &seen, deadline - now, NULL);
	}
}

/* Can @s's partition have @n vCPUs on? 0 or an exit code with the reason. */
static int kc_resize_cpus_check(const char *name, const struct keel_part_stats *s, uint64_t n)
{
	if (s->vcpus_max <= s->vcpus_cores)
		return kc_error(KC_EXIT_STATE,
				"resize %s: it was created without --max-cpus: its vCPUs are "
				"fixed at %u, one per core",
				name, s->vcpus_max);
	if (n < s->vcpus_cores)
		return kc_error(KC_EXIT_USAGE,
				"resize %s: %llu vCPUs is below its --cpus (%u), which stay on",
				name, (unsigned long long)n, s->vcpus_cores);
	if (n > s->vcpus_max)
		return kc_error(KC_EXIT_USAGE,
				"resize %s: %llu vCPUs is more than its --max-cpus (%u)", name,
				(unsigned long long)n, s->vcpus_max);
	return 0;
}

/* Wait until the guest has @n vCPUs on: 0 or an exit code. */
static int kc_resize_cpus_wait(const char *name, uint32_t id, uint32_t n, uint64_t timeout_ms)
{
	uint64_t deadline = kc_now_ms() + timeout_ms, seen = KC_WATCH_NONE, now;
	struct keel_part_stats s;

	for (;;) {
		int ret = kc_resize_stats(name, id, &s);

		if (ret)
			return ret;
		if (s.status.vcpu_count == n)
			return 0;
		now = kc_now_ms();
		if (now >= deadline)
			return kc_error(
				KC_EXIT_TIMEOUT,
				"resize %s: after %llu s its guest has %u of the %u vCPUs asked on "
				"(does it act on the line 'cpus N' of its control port?); Keel "
				"keeps allowing %u",
				name, (unsigned long long)(timeout_ms / 1000), s.status.vcpu_count,
				n, n);
		kc_watch(id, &seen, deadline - now, NULL);
	}
}

static int kc_resize_cpus(const char *name, const struct keel_part_status *st,
			  const struct keel_part_stats *s, uint64_t n, uint64_t timeout_s,
			  bool wait)
{
	struct keel_ioc_resize r = { .id = st->id, .what = KEEL_RESIZE_CPUS, .value = n };
	int ret = kc_resize_cpus_check(name, s, n);

	if (ret)
		return ret;
	ret = kc_ioctl(KEEL_IOC_RESIZE, &r);
	if (ret == -ENOSPC)
		return kc_error(
			KC_EXIT_RESOURCE,
			"resize %s: not enough free cores for %llu vCPUs (see keelctl info)", name,
			(unsigned long long)n);
	if (ret == -EBUSY)
		return kc_state_error("resize", st);
	if (ret)
		return kc_error(kc_exit_code(KC_OP_CTL, -ret), "resize %s: %s", name,
				kc_err_text(KC_OP_CTL, -ret));
	if (!wait) {
		printf("resizing %s to %llu vCPU%s\n", name, (unsigned long long)n,
		       n == 1 ? "" : "s");
		return 0;
	}
	ret = kc_resize_cpus_wait(name, st->id, (uint32_t)n, timeout_s * 1000);
	if (ret)
		return ret;
	printf("resized %s: %llu vCPU%s on\n", name, (unsigned long long)n, n == 1 ? "" : "s");
	return 0;
}

static int cmd_resize(const struct kc_args *a)
{
	struct keel_part_status st;
	struct keel_part_stats s;
	struct keel_ioc_resize r = { .what = KEEL_RESIZE_MEMORY };
	uint64_t timeout_s = KC_RESIZE_TIMEOUT_S;
	char name[KEEL_NAME_MAX], err[160], b1[32], b2[32];
	int ret;

	uint64_t cpus = 0;

	if (!a->val[RS_MEMORY] == !a->val[RS_CPUS])
		return kc_error(KC_EXIT_USAGE, "resize: give --memory or --cpus (one at a time)");
	if (a->val[RS_MEMORY] && kc_parse_memory(a->val[RS_MEMORY], &r.value, err, sizeof(err)))
		return kc_error(KC_EXIT_USAGE, "resize: %s", err);
	if (a->val[RS_CPUS] &&
	    (kc_parse_u64(a->val[RS_CPUS], &cpus) || cpus == 0 || cpus > KEEL_MAX_CPUS))
		return kc_error(KC_EXIT_USAGE, "resize: --cpus takes a vCPU count (1-%u)",
				KEEL_MAX_CPUS);
	if (a->val[RS_TIMEOUT] &&
	    (kc_parse_u64(a->val[RS_TIMEOUT], &timeout_s) || timeout_s > 3600))
		return kc_error(KC_EXIT_USAGE,
				"resize: --timeout takes whole seconds, at most 3600");
	ret = kc_open_part(a->pos[0], &st);
	if (ret)
		return ret;
	kc_part_name(&st, name);
	ret = kc_stats_raw(st.id, &s);
	if (ret)
		return kc_error(kc_exit_code(KC_OP_QUERY, -ret), "resize %s: %s", name,
				kc_err_text(KC_OP_QUERY, -ret));
	if (s.status.state != KEEL_PSTATE_RUNNING && s.status.state != KEEL_PSTATE_PAUSED)
		return kc_state_error("resize", &st);
	if (cpus)
		return kc_resize_cpus(name, &st, &s, cpus, timeout_s, !a->val[RS_NO_WAIT]);
	ret = kc_resize_check(name, &s, r.value);
	if (ret)
		return ret;
	r.id = st.id;
	ret = kc_ioctl(KEEL_IOC_RESIZE, &r);
	if (ret == -ENOMEM)
		return kc_error(
			KC_EXIT_RESOURCE,
			"resize %s: not enough free memory: %s more wanted (see keelctl info)",
			name, kc_mib(r.value - s.status.mem_size - s.mem_plugged, b1, sizeof(b1)));
	if (ret == -EBUSY)
		return kc_state_error("resize", &st);
	if (ret)
		return kc_error(kc_exit_code(KC_OP_CTL, -ret), "resize %s: %s", name,
				kc_err_text(KC_OP_CTL, -ret));
	if (a->val[RS_NO_WAIT]) {
		printf("resizing %s to %s\n", name, kc_mib(r.value, b1, sizeof(b1)));
		return 0;
	}
	ret = kc_resize_wait(name, st.id, timeout_s * 1000);
	if (ret)
		return ret;
	printf("resized %s: memory %s (%s hot-plugged)\n", name, kc_mib(r.value, b1, sizeof(b1)),
	       kc_mib(r.value - s.status.mem_size, b2, sizeof(b2)));
	return 0;
}

/* ---- vsock ---- */

/* NAME's vsock CID (or CID itself, in digits: no partition is named so): 0 or an exit code. */
static int kc_vsock_target(const char *ref, uint32_t *cid)
{
	struct keel_part_status st;
	struct keel_part_stats s;
	int ret;

	if (!kc_vsock_number(ref, cid))
		return 0;
	ret = kc_open_part(ref, &st);
	if (ret)
		return ret;
	ret = kc_stats_raw(st.id, &s);
	if (ret)
		return kc_error(kc_exit_code(KC_OP_QUERY, -ret), "vsock %.64s: %s", ref,
				kc_err_text(KC_OP_QUERY, -ret));
	if (!s.vsock_cid)
		return kc_error(KC_EXIT_FAIL,
				"vsock %.64s: it has no vsock device (keel.cfg vsock =, or keelctl "
				"create --vsock)",
				ref);
	*cid = s.vsock_cid;
	return 0;
}

static int cmd_vsock(const struct kc_args *a)
{
	uint32_t cid, port;
	int s, ret;

	if (kc_vsock_number(a->pos[1], &port))
		return kc_error(KC_EXIT_USAGE,
				"vsock: PORT must be a number below 4294967295, "
				"not '%.20s'",
				a->pos[1]);
	ret = kc_vsock_target(a->pos[0], &cid);
	if (ret)
		return ret;
	s = kc_vsock_connect(cid, port);
	if (s < 0)
		return kc_error(KC_EXIT_FAIL, "vsock %.64s (CID %u) port %u: %s%s", a->pos[0], cid,
				port, strerror(-s),
				s == -ECONNRESET ? " (nobody listens there, or Keel's policy keeps "
						   "you apart)"
						 : "");
	ret = kc_vsock_pipe(s, 0, 1);
	close(s);
	if (ret)
		return kc_error(KC_EXIT_FAIL, "vsock %.64s port %u: %s", a->pos[0], port,
				strerror(-ret));
	return 0;
}

/* ---- commands, help, main ---- */

struct kc_cmd {
	const char *name;
	int (*run)(const struct kc_args *a);
	const struct kc_opt *opts;
	int nopts;
	int min_pos, max_pos;
	const char *usage;
	const char *help;
};

static const struct kc_cmd kc_cmds[] = {
	{ "list", cmd_list, list_opts, LS_NR, 0, 0, "list [--json]",
	  "List the partitions: ID NAME STATE CPUS MEMORY UPTIME (memory in MiB; uptime\n"
	  "[D-]HH:MM:SS since START, '-' if never started). States: created loaded running\n"
	  "stopping stopped paused.\n"
	  "\n"
	  "  --json   one JSON object: {\"partitions\":[...],\"free\":{...},\"total_memory\":N}\n" },
	{ "info", cmd_info, info_opts, IN_NR, 0, 0, "info [--json]",
	  "Show the hypervisor: ABI version (a warning if its major differs from keelctl's),\n"
	  "cpus (count, online, free), memory (total, free), partitions (count, maximum).\n"
	  "\n"
	  "  --json   one JSON object\n" },
	{ "stats", cmd_stats, stats_opts, ST_NR, 0, 1, "stats [NAME] [--json]",
	  "Counters of one partition, or of all: state, cpus, memory, run time, hypercalls,\n"
	  "refused management calls (denied), console bytes written, exits by kind\n"
	  "(interrupt hypercall mmio pio halt shutdown fault other), and its network ports\n"
	  "as keelctl net shows them.\n"
	  "\n"
	  "  --json   one JSON object for NAME; {\"partitions\":[...]} without NAME\n" },
	{ "measure", cmd_measure, measure_opts, MS_NR, 0, 1, "measure [NAME] [--json]",
	  "What each partition (or NAME) was started from: the SHA-256 of keel.cfg, and of\n"
	  "each image (kernel, initrd, disk) as Keel holds it, with its size and name (its\n"
	  "keel.cfg path, or NAME:kernel0 for one keelctl create loaded). keel.cfg's images\n"
	  "were hashed by the loader as it read them; loaded ones as they arrived, and\n"
	  "they show 'not measured yet' until the partition first starts.\n"
	  "Where the firmware has a TPM 2.0, the loader extended keel.cfg into PCR 12 and\n"
	  "each image into PCR 9: their values and the number of events follow.\n"
	  "\n"
	  "  --json   {\"keel_cfg_sha256\":...,\"tpm\":{\"state\":\"none\"|\"measured\"|\"failed\",\n"
	  "           \"why\":...|null,\"pcrs\":{\"9\":...,\"12\":...}|null,\"events_total\":N,\n"
	  "           \"events\":[{\"pcr\":N,\"type\":N,\"sha256\":...,\"data_size\":N,\"data\":...}]},\n"
	  "           \"partitions\":[{\"name\":...,\"id\":N,\n"
	  "           \"images\":[{\"role\":...,\"name\":...,\"size\":N,\"sha256\":...|null}]}]}\n" },
	{ "pci", cmd_pci, pci_opts, PC_NR, 0, 3,
	  "pci [--json]\n       pci assign NAME ADDR\n       pci release NAME ADDR",
	  "List the host's PCI functions as Keel found them at boot, one line each:\n"
	  "\n"
	  "  ADDRESS  segment:bus:device.function\n"
	  "  ID       vendor:device\n"
	  "  CLASS    the class code\n"
	  "  GROUP    isolation group: functions the IOMMU cannot tell apart share one\n"
	  "  IOMMU    the unit translating its DMA, 'N (VT-d)' or 'N (AMD-Vi)', or none\n"
	  "  OWNER    the partition it is assigned to, '-' if none\n"
	  "  FLAGS    assignable (a normal function behind an IOMMU, neither a bridge of\n"
	  "           any kind nor an IOMMU), bridge, aliased (it DMAs with a bridge's requester ID),\n"
	  "           bad-caps (its capability list is broken); '-' if none\n"
	  "\n"
	  "Prints 'no PCI functions' if Keel found none.\n"
	  "\n"
	  "  --json   one JSON array, an object per function ([] if none)\n"
	  "\n"
	  "pci assign NAME ADDR gives function ADDR (SSSS:BB:DD.F or BB:DD.F) to partition\n"
	  "NAME, which has not started: reset, its DMA confined to NAME's memory, on its\n"
	  "guest's bus when it starts, as 'create --pci' would. pci release NAME ADDR takes\n"
	  "it back before start; it is reset and returns to the pool. Exit codes: 3 no such\n"
	  "partition, 4 another partition has it (or its isolation group) or NAME is full,\n"
	  "5 NAME has started, 1 not a function Keel gives, NAME has it already (assign)\n"
	  "or does not hold it (release).\n" },
	{ "net", cmd_net, net_opts, NT_NR, 0, 0, "net [--json]",
	  "List Keel's networks (keel.cfg's [network NAME] sections) and their ports, one\n"
	  "line per port: NETWORK, MAC, PARTITION, frames and bytes it sent (TX) and\n"
	  "received (RX), and frames dropped, with the reasons below the line: spoofed (a\n"
	  "source address not its own), runt, oversize, malformed (buffers the device could\n"
	  "not use), no_buffer (it had no receive buffer: dropped, never waited for),\n"
	  "offload (a TSO frame Keel could not segment for a guest that takes no TSO).\n"
	  "'uplink' marks the management partition's ports, which may send from other\n"
	  "addresses (a bridge to the outside).\n"
	  "\n"
	  "  --json   {\"networks\":[{\"name\":...,\"id\":N,\"ports\":[...]}]}\n" },
	{ "create", cmd_create, create_opts, CR_NR, 1, 1,
	  "create NAME --cpus N|LIST --memory SIZE --kernel FILE [--initrd FILE]\n"
	  "       [--cmdline TEXT] [--disk FILE[,ro]] [--on-fault deliver|stop]\n"
	  "       [--on-reboot stop|restart] [--max-memory SIZE] [--max-cpus N]\n"
	  "       [--pci ADDR[,ADDR...]]... [--net NETWORK[,mac=MAC]]... [--vsock CID|auto]\n"
	  "       [--start]",
	  "Create a partition and load its images (it is left 'created'; see start).\n"
	  "\n"
	  "  NAME             1-31 bytes of a-z A-Z 0-9 _ -, not all digits\n"
	  "  --cpus N         N cores, the lowest free ones\n"
	  "  --cpus LIST      exactly these logical cpus: 3-4, 3,5, 0-1,6 (one cpu: 3-3)\n"
	  "  --memory SIZE    RAM, with K, M or G (powers of 1024), a multiple of 2 MiB: 256M, 1G\n"
	  "  --kernel FILE    x86_64: a bzImage; aarch64: an arm64 Image; or a Keel ELF64 guest\n"
	  "  --initrd FILE    an initramfs\n"
	  "  --cmdline TEXT   the kernel command line (under 1024 bytes)\n"
	  "  --disk FILE      a virtio-blk disk image (copied into Keel memory; ',ro': read-only)\n"
	  "  --on-fault WHAT  a touch of guest-physical memory with nothing behind it: deliver\n"
	  "                   (default: answered as the hardware does) or stop the partition\n"
	  "  --on-reboot WHAT when the guest reboots: stop (default) or restart it in place, from\n"
	  "                   the same images, on the same cores (a pending stop still wins)\n"
	  "  --max-memory SIZE  the most memory 'keelctl resize' may give it: --memory plus a\n"
	  "                   multiple of 128M (it gets a virtio-mem device; the guest needs\n"
	  "                   the virtio_mem module and memhp_default_state=online_movable)\n"
	  "  --max-cpus N     the most vCPUs 'keelctl resize --cpus' may give it: the\n"
	  "                   guest sees N cpus; those beyond --cpus start off (x86_64: ACPI\n"
	  "                   hotplug CPUs), and each takes a free core while the guest has\n"
	  "                   it on\n"
	  "  --pci ADDR       give it the host PCI function at ADDR, SSSS:BB:DD.F or BB:DD.F\n"
	  "                   (segment 0), in hex, as 'keelctl pci' lists them; repeat it or\n"
	  "                   list several with commas, up to 8. Its DMA is confined to the\n"
	  "                   partition's memory by the IOMMU; the guest does not see it on\n"
	  "                   a PCI bus yet\n"
	  "  --net NETWORK    a virtio-net NIC on Keel's network NETWORK (keelctl net lists\n"
	  "                   them); its address is derived from the partition's and the\n"
	  "                   network's names unless mac=02:xx:xx:xx:xx:xx gives it (unicast).\n"
	  "                   Repeat it for more networks, up to 4, one NIC on each\n"
	  "  --vsock CID      a virtio-vsock device with this CID (3 and up), or auto: the\n"
	  "                   lowest free; it then prints 'NAME: vsock CID N'. It reaches the\n"
	  "                   management partition (CID 2) and the partitions on a network\n"
	  "                   it shares (keelctl vsock)\n"
	  "  --start          start it at once (if that fails, it is destroyed again)\n"
	  "\n"
	  "Images (up to 1 GiB each) count against free memory as well as --memory.\n"
	  "If loading fails, the half-made partition is destroyed.\n"
	  "Prints: created NAME (id N, cpus LIST, SIZE MiB)\n" },
	{ "vsock", cmd_vsock, no_opts, 0, 2, 2, "vsock NAME|CID PORT",
	  "Connect to PORT of partition NAME's vsock device (or of CID), then copy stdin\n"
	  "into the stream and the stream to stdout, until the peer closes it; the end of\n"
	  "stdin closes our side. The management partition is CID 2; it reaches every\n"
	  "partition with a vsock device (keelctl stats shows its CID). A partition reaches\n"
	  "the management partition and the partitions it shares a network with; Keel\n"
	  "resets any other connection, and a guest resets one to a port nobody listens on.\n"
	  "In a microVM, keel-vsock connect CID PORT | listen PORT | echo PORT does the same.\n" },
	{ "start", cmd_start, no_opts, 0, 1, 1, "start NAME",
	  "Boot a created partition (or a keel.cfg partition with autostart = no).\n"
	  "A stopped partition cannot be started again: destroy and create it.\n"
	  "Prints: started NAME\n" },
	{ "stop", cmd_stop, stop_opts, SP_NR, 1, 1,
	  "stop NAME [--force] [--timeout SEC] [--no-wait] [--json]",
	  "Stop a running (or paused) partition; its cores and memory become free.\n"
	  "Without --force Keel presses the guest's power button and gives it until the\n"
	  "timeout to power off by itself, then stops it.\n"
	  "\n"
	  "  --force         stop now\n"
	  "  --timeout SEC   whole seconds for the guest (default 0 = Keel's 5 s, at most 600)\n"
	  "  --no-wait       return at once (prints 'stopping NAME'); else wait until it has\n"
	  "                  stopped (timeout + 5 s, then exit 8)\n"
	  "  --json          one JSON object: name, stopped, cause, reason, clean\n"
	  "Prints: stopped NAME (the guest powered off), exit 0; or, when the guest did not\n"
	  "power off by itself (timeout, fault): stopped NAME (forced: REASON), exit 9\n" },
	{ "resize", cmd_resize, resize_opts, RS_NR, 1, 1,
	  "resize NAME --memory SIZE | --cpus N [--timeout SEC] [--no-wait]",
	  "Give a running partition more memory or take some back, through its guest's\n"
	  "virtio-mem driver (the partition was created with --max-memory). Memory it gives\n"
	  "back is scrubbed and returned to Keel's free memory. Or change how many vCPUs it\n"
	  "may have on (created with --max-cpus): the guest reads 'cpus N' on its control\n"
	  "port and turns vCPUs on (each takes a free core) or off (each gives its core back).\n"
	  "\n"
	  "  --memory SIZE   the memory it should have: from its --memory to its --max-memory,\n"
	  "                  a multiple of 2 MiB\n"
	  "  --cpus N        the vCPUs it should have on: from its --cpus to its --max-cpus\n"
	  "  --timeout SEC   how long to wait for the guest (default 60): then exit 8, and Keel\n"
	  "                  keeps asking; nothing is lost\n"
	  "  --no-wait       return once the guest was asked (prints 'resizing NAME to SIZE')\n"
	  "\n"
	  "Prints: resized NAME: memory SIZE (N MiB hot-plugged), or resized NAME: N vCPUs on\n" },
	{ "pause", cmd_pause, no_opts, 0, 1, 1, "pause NAME",
	  "Park a running partition's vCPUs (it keeps its cores and memory).\n"
	  "Prints: paused NAME\n" },
	{ "resume", cmd_resume, no_opts, 0, 1, 1, "resume NAME",
	  "Let a paused partition run again.\nPrints: resumed NAME\n" },
	{ "destroy", cmd_destroy, destroy_opts, DE_NR, 1, 1, "destroy NAME [--force]",
	  "Free a partition that is created, loaded or stopped: its name and id are free again.\n"
	  "\n"
	  "  --force   stop it first (at once) if it is running, paused or stopping\n"
	  "\n"
	  "Prints: destroyed NAME\n" },
	{ "console", kc_cmd_console, kc_console_opts, KC_CONSOLE_NOPTS, 1, 1,
	  "console NAME [--escape KEY] [--new] [--timeout SEC]\n"
	  "       keelctl console NAME --dump\n"
	  "       keelctl console NAME --send TEXT [--timeout SEC]\n"
	  "       keelctl console NAME --wait STRING [--new] [--timeout SEC]",
	  "Attach to a partition's console. Keel keeps the last 16 KiB of its output.\n"
	  "\n"
	  "On a terminal: shows the last 2 KiB of output, then what follows; keys go to the\n"
	  "guest. Ctrl-\\ detaches (Ctrl-] is Keel's own serial console focus key).\n"
	  "With stdin not a terminal: copies stdin to the console until it ends, and output\n"
	  "(new output only) to stdout until 1 s later (--timeout SEC sets that time).\n"
	  "Either way it ends, exit 0, when the partition stops.\n"
	  "\n"
	  "  --escape KEY    detach key: ^X (Ctrl-X), one character, or none (default ^\\)\n"
	  "  --new           start at the end of what Keel kept: only new output\n"
	  "  --dump          print all output Keel kept and exit\n"
	  "  --send TEXT     write TEXT and a newline as console input and exit (waits up to\n"
	  "                  --timeout SEC, default 10, for the guest to take it; else exit 8)\n"
	  "  --wait STRING   copy output (from the oldest kept byte, or new with --new) to stdout\n"
	  "                  until STRING appears: exit 0; --timeout SEC (default 60): exit 8;\n"
	  "                  the partition stops first: exit 5\n" },
};

#define KC_NCMDS (sizeof(kc_cmds) / sizeof(kc_cmds[0]))

static const char kc_exit_help[] =
	"exit codes:\n"
	"  0  ok\n"
	"  1  other failure\n"
	"  2  usage error\n"
	"  3  no such partition\n"
	"  4  not enough resources: no free core, not enough memory, no free partition slot\n"
	"  5  wrong partition state, or naming the management partition itself\n"
	"  6  bad kernel image or unreadable file\n"
	"  7  environment: not root, no /dev/keel, driver or ABI mismatch, not the manager\n"
	"  8  timeout\n";

static void kc_usage(FILE *f)
{
	fprintf(f,
		"usage: keelctl COMMAND [ARGS] [--help]\n"
		"\n"
		"Manage Keel partitions from the management partition (as root, via /dev/keel).\n"
		"NAME is a partition's name or its numeric id.\n"
		"\n"
		"commands:\n"
		"  list [--json]                   the partitions: id, name, state, cpus, memory\n"
		"  info [--json]                   the hypervisor: ABI, cpus, memory, slots\n"
		"  stats [NAME] [--json]           counters of one partition or all\n"
		"  pci [--json]                    the host's PCI functions: IOMMU, group, owner\n"
		"  pci assign|release NAME ADDR    give a function to a partition not started, or\n"
		"                                  take it back\n"
		"  create NAME --cpus N|LIST --memory SIZE --kernel FILE [--initrd FILE]\n"
		"         [--cmdline TEXT] [--disk FILE[,ro]] [--on-fault deliver|stop]\n"
		"         [--on-reboot stop|restart] [--max-memory SIZE] [--max-cpus N]\n"
		"         [--pci ADDR]... [--start]\n"
		"                                  make a partition and load its images\n"
		"  start NAME                      boot a created partition\n"
		"  stop NAME [--force] [--timeout SEC] [--no-wait]\n"
		"                                  stop it and wait until it has stopped\n"
		"  pause NAME, resume NAME         park its vCPUs, let them run again\n"
		"  resize NAME --memory SIZE       grow or shrink its memory (virtio-mem)\n"
		"  resize NAME --cpus N            let it have N vCPUs on\n"
		"  destroy NAME [--force]          free a stopped or never started partition\n"
		"  console NAME [--escape KEY] [--new]\n"
		"                                  attach (Ctrl-\\ detaches)\n"
		"  console NAME --dump | --send TEXT | --wait STRING [--new] [--timeout SEC]\n"
		"                                  print the kept output, send a line, wait for text\n"
		"  help [COMMAND]                  this, or one command's help (also COMMAND --help)\n"
		"\n"
		"--version shows the version and the Keel ABI keelctl was built for.\n"
		"\n"
		"%s",
		kc_exit_help);
}

static void kc_cmd_help(const struct kc_cmd *c)
{
	printf("usage: keelctl %s\n\n%s", c->usage, c->help);
}

static const struct kc_cmd *kc_find_cmd(const char *name)
{
	for (size_t i = 0; i < KC_NCMDS; i++)
		if (!strcmp(kc_cmds[i].name, name))
			return &kc_cmds[i];
	return NULL;
}

static int kc_finish(int code)
{
	if (fflush(stdout) || ferror(stdout))
		return code ? code : kc_error(KC_EXIT_FAIL, "writing output: %s", strerror(errno));
	return code;
}

int main(int argc, char **argv)
{
	const struct kc_cmd *c;
	struct kc_args a;
	char err[160];

	if (argc < 2) {
		kc_usage(stderr);
		return KC_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		if (argc > 2 && strcmp(argv[1], "help") == 0) {
			c = kc_find_cmd(argv[2]);
			if (!c)
				return kc_error(KC_EXIT_USAGE,
						"unknown command '%.40s' (see keelctl --help)",
						argv[2]);
			kc_cmd_help(c);
		} else {
			kc_usage(stdout);
		}
		return kc_finish(0);
	}
	if (!strcmp(argv[1], "--version")) {
		printf("keelctl %u.%u (Keel ABI %u.%u, %s)\n", KEEL_ABI_VERSION_MAJOR,
		       KEEL_ABI_VERSION_MINOR, KEEL_ABI_VERSION_MAJOR, KEEL_ABI_VERSION_MINOR,
		       kc_arch_name(KC_ARCH));
		return kc_finish(0);
	}
	c = kc_find_cmd(argv[1]);
	if (!c)
		return kc_error(KC_EXIT_USAGE, "unknown command '%.40s' (see keelctl --help)",
				argv[1]);
	if (kc_args_parse(c->opts, c->nopts, c->max_pos, argc - 2, argv + 2, &a, err, sizeof(err)))
		return kc_error(KC_EXIT_USAGE, "%s: %s (see keelctl %s --help)", c->name, err,
				c->name);
	if (a.help) {
		kc_cmd_help(c);
		return kc_finish(0);
	}
	if (a.npos < c->min_pos)
		return kc_error(KC_EXIT_USAGE, "%s: missing NAME (usage: keelctl %.*s)", c->name,
				(int)strcspn(c->usage, "\n"), c->usage);
	return kc_finish(c->run(&a));
}
