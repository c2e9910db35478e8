/* SPDX-License-Identifier: MIT */
/*
 * keelctl console: attach a terminal to a partition's console (raw mode, an
 * escape key to detach), a pipe mode for scripts, and --dump / --send / --wait.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "keelctl.h"

#define KC_CON_POLL_MS 50u /* without the event interrupt, or while the guest takes no input */
#define KC_CON_STATE_MS 1000u /* how often a loop checks whether the partition stopped */
#define KC_CON_CONTEXT 2048u /* bytes of old output an attached terminal sees first */
#define KC_CON_READS 16 /* reads per drain: 64 KiB, more than the ring holds */
#define KC_SEND_TIMEOUT_S 10u
#define KC_WAIT_TIMEOUT_S 60u
#define KC_PIPE_LINGER_S 1u
#define KC_PIPE_INPUT_MS 10000u /* after stdin ended, time for the guest to take the rest */

enum { CO_ESCAPE, CO_DUMP, CO_SEND, CO_WAIT, CO_TIMEOUT, CO_NEW };
const struct kc_opt kc_console_opts[KC_CONSOLE_NOPTS] = {
	[CO_ESCAPE] = { "escape", true },   [CO_DUMP] = { "dump", false },
	[CO_SEND] = { "send", true },	    [CO_WAIT] = { "wait", true },
	[CO_TIMEOUT] = { "timeout", true }, [CO_NEW] = { "new", false },
};

struct kc_con {
	uint32_t id;
	char name[KEEL_NAME_MAX];
	uint64_t cursor; /* next console position to read */
	bool first; /* no read yet: bytes lost before the start are expected */
	bool raw; /* the terminal is in raw mode: our lines end in \r\n */
	struct kc_finder *find; /* --wait: stop output at the first match */
	bool found;
};

static struct termios kc_tio_saved;
static bool kc_tio_active;
static volatile sig_atomic_t kc_signal;

static void kc_tty_restore(void)
{
	if (kc_tio_active) {
		tcsetattr(STDIN_FILENO, TCSADRAIN, &kc_tio_saved);
		kc_tio_active = false;
	}
}

static void kc_on_signal(int sig)
{
	kc_signal = sig;
}

/* A note on stderr that reads right in raw mode too. */
static void kc_con_note(const struct kc_con *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void kc_con_note(const struct kc_con *c, const char *fmt, ...)
{
	va_list ap;

	fputs(c->raw ? "\r\nkeelctl: " : "keelctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(c->raw ? "\r\n" : "\n", stderr);
}

/* Restores the terminal, then reports errno @err of a console call. */
static int kc_con_fail(struct kc_con *c, int err)
{
	kc_tty_restore();
	c->raw = false;
	if (err == ENOENT)
		return kc_error(KC_EXIT_NOPART, "%s: no such partition (destroyed?)", c->name);
	if (err == EINVAL)
		return kc_error(KC_EXIT_FAIL,
				"console %s: Keel refused the cursor (was %s replaced?)", c->name,
				c->name);
	return kc_error(kc_exit_code(KC_OP_QUERY, err), "console %s: %s", c->name,
			kc_err_text(KC_OP_QUERY, err));
}

/* The partition's state and console end: 0 or an exit code. */
static int kc_con_stats(struct kc_con *c, struct keel_part_stats *s)
{
	int ret = kc_stats_raw(c->id, s);

	return ret ? kc_con_fail(c, -ret) : 0;
}

/* Copies what output there is from the cursor to stdout: 0 or an exit code. */
static int kc_con_read(struct kc_con *c)
{
	static char buf[KEEL_MGMT_CONSOLE_MAX];

	for (int i = 0; i < KC_CON_READS && !c->found; i++) {
		struct keel_ioc_console_read r;
		size_t got;
		long end;
		int ret;

		memset(&r, 0, sizeof(r));
		r.id = c->id;
		r.len = sizeof(buf);
		r.cursor = c->cursor;
		r.buf = (uintptr_t)buf;
		ret = kc_ioctl(KEEL_IOC_CONSOLE_READ, &r);
		if (ret)
			return kc_con_fail(c, -ret);
		if (r.lost && !c->first)
			kc_con_note(c, "%llu bytes of console output were lost",
				    (unsigned long long)r.lost);
		c->first = false;
		got = r.got < sizeof(buf) ? (size_t)r.got : sizeof(buf);
		c->cursor = r.next;
		if (!got)
			break;
		if (c->find) {
			end = kc_finder_feed(c->find, buf, got);
			if (end >= 0) {
				c->found = true;
				got = (size_t)end; /* output ends with the match */
			}
		}
		ret = kc_write_all(STDOUT_FILENO, buf, got);
		if (ret) {
			kc_tty_restore();
			return kc_error(KC_EXIT_FAIL, "writing output: %s", strerror(-ret));
		}
		if (got < sizeof(buf))
			break;
	}
	return 0;
}

/* Offers @len bytes as console input; *taken = what the guest took (0 if not reading). */
static int kc_con_write(struct kc_con *c, const char *buf, size_t len, size_t *taken)
{
	struct keel_ioc_console_write w;
	int ret;

	memset(&w, 0, sizeof(w));
	w.id = c->id;
	w.len = (uint32_t)(len < KEEL_MGMT_CONSOLE_MAX ? len : KEEL_MGMT_CONSOLE_MAX);
	w.buf = (uintptr_t)buf;
	ret = kc_ioctl(KEEL_IOC_CONSOLE_WRITE, &w);
	*taken = 0;
	if (ret == -EBUSY)
		return 0; /* the guest posted no receive buffers (yet) */
	if (ret)
		return kc_con_fail(c, -ret);
	*taken = w.taken < w.len ? (size_t)w.taken : w.len;
	return 0;
}

/* Everything Keel kept: one drain reads more than the ring holds. */
static int kc_con_dump(struct kc_con *c)
{
	c->cursor = 0;
	return kc_con_read(c);
}

static int kc_con_send(struct kc_con *c, const struct keel_part_status *st, const char *text,
		       uint64_t timeout_s)
{
	uint64_t deadline = kc_now_ms() + timeout_s * 1000;
	size_t len = strlen(text), off = 0;
	char *line = malloc(len + 2);
	int ret = 0;

	if (st->state != KEEL_PSTATE_RUNNING && st->state != KEEL_PSTATE_PAUSED) {
		free(line);
		return kc_error(KC_EXIT_STATE, "console %s: not running (%s)", c->name,
				kc_state_name(st->state));
	}
	if (!line)
		return kc_error(KC_EXIT_FAIL, "out of memory");
	memcpy(line, text, len);
	line[len++] = '\n';
	while (off < len) {
		size_t taken;

		ret = kc_con_write(c, line + off, len - off, &taken);
		if (ret)
			break;
		off += taken;
		if (off == len)
			break;
		if (kc_now_ms() >= deadline) {
			ret = kc_error(
				KC_EXIT_TIMEOUT,
				"console %s: the guest took %zu of %zu bytes in %llu s (is it reading its console?)",
				c->name, off, len, (unsigned long long)timeout_s);
			break;
		}
		if (!taken)
			kc_sleep_ms(KC_CON_POLL_MS);
	}
	free(line);
	return ret;
}

static int kc_con_wait(struct kc_con *c, const char *what, bool new_only, uint64_t timeout_s)
{
	static struct kc_finder finder;
	uint64_t deadline = kc_now_ms() + timeout_s * 1000, seen = KC_WATCH_NONE, next_state = 0;
	struct keel_part_stats s;
	struct keel_ioc_watch w;
	bool stopped = false;
	int ret;

	if (kc_finder_init(&finder, what))
		return kc_error(KC_EXIT_USAGE, "console: --wait needs 1 to %u bytes",
				KC_FIND_MAX - 1);
	c->find = &finder;
	c->cursor = 0;
	if (new_only) {
		ret = kc_con_stats(c, &s);
		if (ret)
			return ret;
		c->cursor = s.console_bytes;
	}
	/*
	 * Read, then sleep until its event count moves (output, a state change).
	 * The state comes from before the read, so output written before it
	 * stopped is searched before "stopped" is reported.
	 */
	for (;;) {
		uint64_t now;

		ret = kc_con_read(c);
		if (ret)
			return ret;
		if (c->found)
			return 0;
		if (stopped)
			return kc_error(KC_EXIT_STATE, "console %s: stopped before '%s' appeared",
					c->name, what);
		now = kc_now_ms();
		if (now >= deadline)
			return kc_error(KC_EXIT_TIMEOUT,
					"console %s: '%s' did not appear within %llu s", c->name,
					what, (unsigned long long)timeout_s);
		if (!kc_watch(c->id, &seen, deadline - now, &w)) {
			stopped = w.state == KEEL_PSTATE_STOPPED;
			continue;
		}
		/* No event interrupt: kc_watch slept 50 ms; the state once a second. */
		if (now < next_state)
			continue;
		next_state = now + KC_CON_STATE_MS;
		ret = kc_con_stats(c, &s);
		if (ret)
			return ret;
		stopped = s.status.state == KEEL_PSTATE_STOPPED;
	}
}

/* The shorter of poll() timeouts @a (-1: none) and @b ms. */
static int kc_con_wait_min(int a, uint64_t b)
{
	if (b > INT_MAX)
		b = INT_MAX;
	return a < 0 || (uint64_t)a > b ? (int)b : a;
}

/*
 * For the attached console, after each read: the partition's state in
 * *@state, and *@wait_ms for the next poll(). With the event interrupt
 * (*@watching) a WATCH arms /dev/keel, so poll() wakes at Keel's next event
 * (-1: no timeout), or at once (0) if events came since the last look (the
 * read may have missed their output). Without it: STATS each
 * KC_CON_STATE_MS, and poll() wakes every KC_CON_POLL_MS to read.
 */
static int kc_con_state(struct kc_con *c, bool *watching, uint64_t *seen, uint64_t *next_state,
			uint64_t now, uint32_t *state, int *wait_ms)
{
	struct keel_part_stats s;
	struct keel_ioc_watch w;
	int ret;

	if (*watching) {
		ret = kc_watch_arm(c->id, &w);
		if (!ret) {
			*wait_ms = w.seen == *seen ? -1 : 0;
			*seen = w.seen;
			*state = w.state;
			return 0;
		}
		if (ret != -ENODEV && ret != -ENOTTY)
			return kc_con_fail(c, -ret);
		*watching = false; /* an older Keel or driver */
	}
	*wait_ms = KC_CON_POLL_MS;
	*state = KEEL_PSTATE_RUNNING;
	if (now < *next_state)
		return 0;
	*next_state = now + KC_CON_STATE_MS;
	ret = kc_con_stats(c, &s);
	if (!ret)
		*state = s.status.state;
	return ret;
}

/* Raw mode on the terminal at stdin, undone at exit and on fatal signals. */
static int kc_tty_raw(void)
{
	static const int sigs[] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT };
	struct sigaction sa;
	struct termios raw;

	if (tcgetattr(STDIN_FILENO, &kc_tio_saved))
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kc_on_signal; /* no SA_RESTART: poll() returns EINTR */
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	atexit(kc_tty_restore);
	raw = kc_tio_saved;
	cfmakeraw(&raw);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw))
		return -errno;
	kc_tio_active = true;
	return 0;
}

/*
 * The attached console: stdin to the guest, output to stdout. On a terminal
 * (@tty) until the escape key; else until stdin ends and @linger_ms more.
 * Both end when the partition stops.
 */
static int kc_con_attach(struct kc_con *c, bool tty, int escape, uint64_t linger_ms)
{
	static char in[KEEL_MGMT_CONSOLE_MAX];
	char tmp[KEEL_MGMT_CONSOLE_MAX];
	uint64_t next_state = 0, eof_at = 0, drained_at = 0, seen = KC_WATCH_NONE;
	bool stdin_open = true, detach = false, noted_drop = false, watching = true;
	int wait_ms = 0; /* the first pass reads at once */
	size_t inlen = 0;
	int ret;

	signal(SIGPIPE, SIG_IGN);
	if (tty) {
		char esc[16];

		kc_format_escape(escape, esc, sizeof(esc));
		fprintf(stderr, "keelctl: connected to %s (escape: %s)\n", c->name, esc);
		ret = kc_tty_raw();
		if (ret)
			return kc_error(KC_EXIT_FAIL, "console %s: terminal: %s", c->name,
					strerror(-ret));
		c->raw = true;
	}
	for (;;) {
		bool want_in = stdin_open && (tty || inlen < sizeof(in));
		struct pollfd p[2];
		nfds_t np = 0;
		uint32_t state = KEEL_PSTATE_RUNNING;
		uint64_t now;
		int n;

		if (kc_signal) {
			int sig = kc_signal;

			kc_tty_restore();
			signal(sig, SIG_DFL);
			raise(sig);
			return KC_EXIT_FAIL;
		}
		/* stdin, and /dev/keel: readable at Keel's next event after the last arming. */
		if (want_in)
			p[np++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		if (watching)
			p[np++] = (struct pollfd){ .fd = kc_dev_fd(), .events = POLLIN };
		n = poll(p, np, wait_ms);
		if (n > 0 && want_in && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			size_t room = sizeof(in) - inlen;
			ssize_t r = read(STDIN_FILENO, tmp, tty ? sizeof(tmp) : room);

			if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
				stdin_open = false;
				eof_at = kc_now_ms();
				if (tty)
					detach = true;
			} else if (r > 0) {
				size_t len = (size_t)r;

				if (tty && escape >= 0) {
					char *e = memchr(tmp, escape, len);

					if (e) {
						len = (size_t)(e - tmp);
						detach = true;
					}
				}
				if (len > room) {
					if (!noted_drop)
						kc_con_note(
							c,
							"console input dropped: %s is not reading its console",
							c->name);
					noted_drop = true;
					len = room;
				}
				memcpy(in + inlen, tmp, len);
				inlen += len;
			}
		}
		if (inlen) {
			size_t taken;

			ret = kc_con_write(c, in, inlen, &taken);
			if (ret)
				return ret;
			memmove(in, in + taken, inlen - taken);
			inlen -= taken;
			if (taken)
				noted_drop = false;
		}
		ret = kc_con_read(c);
		if (ret)
			return ret;
		if (detach) {
			kc_tty_restore();
			c->raw = false;
			fprintf(stderr, "\nkeelctl: detached from %s\n", c->name);
			return 0;
		}
		now = kc_now_ms();
		ret = kc_con_state(c, &watching, &seen, &next_state, now, &state, &wait_ms);
		if (ret)
			return ret;
		if (state == KEEL_PSTATE_STOPPED) {
			ret = kc_con_read(c);
			kc_con_note(c, "%s has stopped", c->name);
			kc_tty_restore();
			return ret;
		}
		if (inlen)
			wait_ms = kc_con_wait_min(
				wait_ms, KC_CON_POLL_MS); /* the guest reads no input yet */
		if (!stdin_open && !tty) {
			if (inlen == 0 && !drained_at)
				drained_at = now;
			if (drained_at && now >= drained_at + linger_ms)
				return 0;
			if (inlen && now >= eof_at + KC_PIPE_INPUT_MS)
				return kc_error(
					KC_EXIT_TIMEOUT,
					"console %s: %zu bytes of input were not taken (is the guest reading its console?)",
					c->name, inlen);
			wait_ms = kc_con_wait_min(wait_ms,
						  drained_at ? drained_at + linger_ms - now
							     : eof_at + KC_PIPE_INPUT_MS - now);
		}
	}
}

int kc_cmd_console(const struct kc_args *a)
{
	const char *send = a->val[CO_SEND], *wait = a->val[CO_WAIT];
	bool dump = a->val[CO_DUMP] != NULL, new_only = a->val[CO_NEW] != NULL;
	bool tty = isatty(STDIN_FILENO);
	struct keel_part_status st;
	struct keel_part_stats s;
	struct kc_con c;
	uint64_t timeout_s = 0;
	int escape = 0x1c, ret;

	if ((dump ? 1 : 0) + (send ? 1 : 0) + (wait ? 1 : 0) > 1)
		return kc_error(KC_EXIT_USAGE,
				"console: --dump, --send and --wait exclude each other");
	if (dump && new_only)
		return kc_error(
			KC_EXIT_USAGE,
			"console: --dump prints everything kept; --new does not go with it");
	if (a->val[CO_ESCAPE] && kc_parse_escape(a->val[CO_ESCAPE], &escape))
		return kc_error(
			KC_EXIT_USAGE,
			"console: bad --escape '%.20s' (^X for Ctrl-X, one character, or none)",
			a->val[CO_ESCAPE]);
	if (a->val[CO_TIMEOUT] &&
	    (kc_parse_u64(a->val[CO_TIMEOUT], &timeout_s) || timeout_s > 365ull * 86400))
		return kc_error(KC_EXIT_USAGE, "console: bad --timeout '%.40s' (whole seconds)",
				a->val[CO_TIMEOUT]);
	if (wait && (!*wait || strlen(wait) >= KC_FIND_MAX))
		return kc_error(KC_EXIT_USAGE, "console: --wait needs 1 to %u bytes",
				KC_FIND_MAX - 1);

	ret = kc_open_part(a->pos[0], &st);
	if (ret)
		return ret;
	memset(&c, 0, sizeof(c));
	c.id = st.id;
	kc_part_name(&st, c.name);
	c.first = true;

	if (dump)
		return kc_con_dump(&c);
	if (send)
		return kc_con_send(&c, &st, send,
				   a->val[CO_TIMEOUT] ? timeout_s : KC_SEND_TIMEOUT_S);
	if (wait)
		return kc_con_wait(&c, wait, new_only,
				   a->val[CO_TIMEOUT] ? timeout_s : KC_WAIT_TIMEOUT_S);

	ret = kc_con_stats(&c, &s);
	if (ret)
		return ret;
	c.cursor = s.console_bytes;
	if (tty && !new_only)
		c.cursor = s.console_bytes > KC_CON_CONTEXT ? s.console_bytes - KC_CON_CONTEXT : 0;
	return kc_con_attach(&c, tty, escape,
			     (a->val[CO_TIMEOUT] ? timeout_s : KC_PIPE_LINGER_S) * 1000);
}
