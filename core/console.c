/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor console: whole timestamped lines on the UART under one lock,
 * Keel's own lines as "keel: ..." and each partition's output as "name| ...".
 * One exception: the management partition, while it has the console input,
 * writes raw (its shell needs prompts and echo as they come); Keel's lines
 * then start on a line of their own.
 */
#include <keel/arch.h>
#include <keel/conq.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/mgmt_watch.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/spinlock.h>
#include <keel/timer.h>

#define CONSOLE_LINE_MAX 480
#define CONSOLE_RATE 16384u /* bytes per second each partition may send to the UART */
#define CONSOLE_BURST 65536u /* ... and at once, after a quiet while */
#define CONSOLE_DRAIN_BUDGET 4096u /* bytes one drain pass moves at most */
#define CONSOLE_DROP_REPORT_NS 1000000000ull /* a dropped-bytes line at most once a second */
#define CONSOLE_SYNC_SPINS 10000000u /* waiting for the drain lock at boot or panic */
#define CONSOLE_UART_SPINS 100000u /* waiting for the UART to take one more byte */

/*
 * Output goes through queues (keel/conq.h): Keel's own lines in one, each
 * partition's in its own (by slot). Producing never touches the UART; a
 * drain pass moves what the UART takes without waiting, by whichever CPU
 * gets console_drain_lock, and the console timer finishes the rest. Before
 * console_input_start() (boot) and after a panic, lines go straight out.
 */
static struct spinlock console_keel_lock = SPINLOCK_INIT; /* producers of Keel's lines */
static struct spinlock console_drain_lock = SPINLOCK_INIT;
static struct conq console_keel_q;
static struct conq console_part_q[KEEL_MAX_PARTITIONS];
static struct conq_drain console_drainer;
static u32 console_seq;
static u64 console_keel_dropped;
static bool console_async;
static u32 console_level = KEEL_LOG_INFO;

void console_set_level(u32 level)
{
	console_level = level > KEEL_LOG_DEBUG ? KEEL_LOG_DEBUG : level;
}

/* "[    1.234567] " */
static size_t console_stamp(char *buf, size_t size)
{
	u64 ns = arch_time_ns();

	return (size_t)snprintf(buf, size, "[%5llu.%06llu] ",
				(unsigned long long)(ns / 1000000000ull),
				(unsigned long long)(ns % 1000000000ull / 1000ull));
}

static u32 console_next_seq(void)
{
	return __atomic_fetch_add(&console_seq, 1, __ATOMIC_RELAXED);
}

static void console_queue_list(struct conq **qs)
{
	qs[0] = &console_keel_q;
	for (u32 i = 0; i < KEEL_MAX_PARTITIONS; i++)
		qs[i + 1] = &console_part_q[i];
}

static bool console_any_pending(void)
{
	struct conq *qs[KEEL_MAX_PARTITIONS + 1];

	console_queue_list(qs);
	for (u32 i = 0; i <= KEEL_MAX_PARTITIONS; i++)
		if (conq_pending(qs[i]))
			return true;
	return false;
}

/* One drain pass, if no other CPU is draining: never waits for the UART. */
/*
 * One drain pass, if no other CPU is draining. @owed: bytes this CPU just
 * queued; it moves at least that many (waiting for a slow UART a bounded
 * while per byte, as a polled console would), so each CPU pays for about
 * its own output and the UART still drains where no timer runs soon.
 */
static void console_drain_owed(size_t owed)
{
	struct conq *qs[KEEL_MAX_PARTITIONS + 1];
	unsigned long flags = arch_irq_save();
	size_t moved = 0;
	u32 idle = 0;

	if (spin_trylock(&console_drain_lock)) {
		console_queue_list(qs);
		for (;;) {
			size_t n = conq_drain(&console_drainer, qs, KEEL_MAX_PARTITIONS + 1,
					      arch_console_try_write, CONSOLE_DRAIN_BUDGET - moved);

			moved += n;
			idle = n ? 0 : idle + 1;
			if (moved >= owed || moved >= CONSOLE_DRAIN_BUDGET ||
			    !console_any_pending() || idle > CONSOLE_UART_SPINS)
				break;
			arch_cpu_relax();
		}
		spin_unlock(&console_drain_lock);
	}
	arch_irq_restore(flags);
}

static void console_drain(void)
{
	console_drain_owed(0);
}

static size_t console_write_all(const char *s, size_t len)
{
	arch_console_write(s, len);
	return len;
}

/* The drain lock, waiting a bounded while: a panic may come from its holder. */
static bool console_lock_bounded(void)
{
	for (u32 i = 0; i < CONSOLE_SYNC_SPINS; i++)
		if (spin_trylock(&console_drain_lock))
			return true;
	return false;
}

/* Everything queued, out now, waiting for the UART (boot, panic). */
static void console_flush_sync(void)
{
	struct conq *qs[KEEL_MAX_PARTITIONS + 1];

	console_queue_list(qs);
	conq_drain(&console_drainer, qs, KEEL_MAX_PARTITIONS + 1, console_write_all, ~(size_t)0);
}

/* One whole line of Keel's own. */
static void console_emit(const char *line, size_t len)
{
	unsigned long flags;
	bool queued;

	if (!READ_ONCE(console_async)) {
		bool locked;

		flags = arch_irq_save();
		locked = console_lock_bounded();
		console_flush_sync();
		if (console_drainer.midline)
			arch_console_write("\r\n", 2);
		console_drainer.midline = 0;
		arch_console_write(line, len);
		if (locked)
			spin_unlock(&console_drain_lock);
		arch_irq_restore(flags);
		return;
	}
	flags = spin_lock_irqsave(&console_keel_lock);
	queued = conq_put(&console_keel_q, console_next_seq(), line, len);
	if (!queued)
		console_keel_dropped++;
	spin_unlock_irqrestore(&console_keel_lock, flags);
	console_drain_owed(queued ? len : 0);
}

static const char *const level_tags[] = {
	[KEEL_LOG_ERROR] = "error: ",
	[KEEL_LOG_WARN] = "warning: ",
	[KEEL_LOG_INFO] = "",
	[KEEL_LOG_DEBUG] = "debug: ",
};

static void vprintk(u32 level, const char *fmt, va_list ap)
{
	char line[CONSOLE_LINE_MAX + 2];
	size_t len;
	int n;

	if (level > console_level)
		return;
	len = console_stamp(line, CONSOLE_LINE_MAX);
	len += (size_t)snprintf(line + len, CONSOLE_LINE_MAX - len, "keel: %s",
				level_tags[MIN(level, KEEL_LOG_DEBUG)]);
	len = MIN(len, (size_t)CONSOLE_LINE_MAX);
	n = vsnprintf(line + len, CONSOLE_LINE_MAX - len, fmt, ap);
	if (n > 0)
		len = MIN(len + (size_t)n, (size_t)CONSOLE_LINE_MAX - 1);
	line[len++] = '\r';
	line[len++] = '\n';
	console_emit(line, len);
}

void printk(u32 level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintk(level, fmt, ap);
	va_end(ap);
}

/* Say how many bytes @part's output lost, at most once a second (@now: any time). */
static void console_report_drops(struct partition *part, bool now)
{
	u64 t = arch_time_ns(), lost = part->con_dropped - part->con_drop_reported;

	if (!lost || (!now && t - part->con_drop_report_ns < CONSOLE_DROP_REPORT_NS))
		return;
	part->con_drop_reported = part->con_dropped;
	part->con_drop_report_ns = t;
	pr_warn("partition '%s': %llu console bytes dropped (over %u bytes/s, %llu in all)",
		part->desc.h.name, (unsigned long long)lost, CONSOLE_RATE,
		(unsigned long long)part->con_dropped);
}

/* Queue one unit of @part's output, within its share. Caller holds part->lock. */
static void console_part_queue(struct partition *part, const char *s, size_t len)
{
	struct conq *q = &console_part_q[part->id - 1];

	if (!conq_admit(&part->con_bucket, arch_time_ns(), CONSOLE_RATE, CONSOLE_BURST, len) ||
	    !conq_put(q, console_next_seq(), s, len))
		part->con_dropped += len;
	console_report_drops(part, false);
}

/* Print and reset the partition's collected line. Caller holds part->lock. */
static void console_part_emit(struct partition *part)
{
	char line[CONSOLE_LINE_MAX + 2];
	size_t len = console_stamp(line, CONSOLE_LINE_MAX);

	len += (size_t)snprintf(line + len, CONSOLE_LINE_MAX - len, "%s| %.*s", part->desc.h.name,
				(int)part->con_len, part->con_line);
	len = MIN(len, (size_t)CONSOLE_LINE_MAX);
	line[len++] = '\r';
	line[len++] = '\n';
	part->con_len = 0;
	if (!READ_ONCE(console_async)) {
		console_emit(line, len);
		return;
	}
	console_part_queue(part, line, len);
}

/* Bytes as they come (the interactive management partition). Caller holds part->lock. */
static void console_part_raw(struct partition *part, const char *buf, size_t len)
{
	while (len) {
		size_t n = MIN(len, (size_t)CONQ_UNIT_MAX);

		console_part_queue(part, buf, n);
		buf += n;
		len -= n;
	}
}

/* Keep the raw bytes for KEEL_HC_MGMT_CONSOLE_READ. Caller holds part->lock. */
static void console_ring_put(struct partition *part, char c)
{
	part->con_ring[part->con_head % KEEL_CONSOLE_RING_SIZE] = c;
	part->con_head++;
}

size_t console_ring_read(struct partition *part, u64 *cursor, char *buf, size_t len, u64 *lost)
{
	unsigned long flags = spin_lock_irqsave(&part->lock);
	u64 head = part->con_head;
	u64 oldest = head > KEEL_CONSOLE_RING_SIZE ? head - KEEL_CONSOLE_RING_SIZE : 0;
	u64 pos = MAX(*cursor, oldest);
	size_t n = 0;

	*lost = pos - *cursor;
	for (; n < len && pos < head; n++, pos++)
		buf[n] = part->con_ring[pos % KEEL_CONSOLE_RING_SIZE];
	spin_unlock_irqrestore(&part->lock, flags);
	*cursor = pos;
	return n;
}

static u32 console_focus; /* partition id with console input, 0 = none yet */
static bool console_user_moved; /* Ctrl-] moved the input away from the management partition */

/* The management partition writes raw while it has the console input. */
static bool console_is_raw(const struct partition *part)
{
	return (part->desc.h.flags & KEEL_PD_MANAGEMENT) && READ_ONCE(console_focus) == part->id;
}

void console_part_write(struct partition *part, const char *buf, size_t len)
{
	unsigned long flags = spin_lock_irqsave(&part->lock);
	size_t i;

	if (console_is_raw(part) && READ_ONCE(console_async)) {
		if (part->con_len)
			console_part_emit(part);
		for (i = 0; i < len; i++)
			console_ring_put(part, buf[i]);
		console_part_raw(part, buf, len);
		spin_unlock_irqrestore(&part->lock, flags);
		console_drain_owed(len);
		return;
	}
	for (i = 0; i < len; i++) {
		char c = buf[i];

		console_ring_put(part, c);

		if (c == '\n') {
			console_part_emit(part);
			continue;
		}
		if (c == '\r')
			continue;
		if ((c < 0x20 || c > 0x7e) && c != '\t')
			c = '?';
		part->con_line[part->con_len++] = c;
		if (part->con_len == sizeof(part->con_line))
			console_part_emit(part);
	}
	spin_unlock_irqrestore(&part->lock, flags);
	if (len)
		mgmt_watch_event(part); /* a keelctl console or --wait may be waiting */
	console_drain_owed(len);
}

void console_part_flush(struct partition *part)
{
	unsigned long flags = spin_lock_irqsave(&part->lock);

	if (part->con_len)
		console_part_emit(part);
	console_report_drops(part, true);
	spin_unlock_irqrestore(&part->lock, flags);
	console_drain();
}

#define CONSOLE_POLL_NS 20000000ull /* 20 ms: typing feels immediate */
#define CONSOLE_DRAIN_NS 1000000ull /* while output waits for the UART */

static struct timer console_poll_timer;

static bool console_takes_input(const struct partition *part)
{
	return part->state == PART_RUNNING && READ_ONCE(part->con_input) != NULL &&
	       READ_ONCE(part->con_ready);
}

/* The next partition after id @after that takes input; management first. */
static u32 console_next_focus(u32 after)
{
	u32 i, id;

	if (after == 0) {
		for (i = 0; i < KEEL_MAX_PARTITIONS; i++)
			if ((partitions[i].desc.h.flags & KEEL_PD_MANAGEMENT) &&
			    console_takes_input(&partitions[i]))
				return partitions[i].id;
	}
	for (i = 1; i <= KEEL_MAX_PARTITIONS; i++) {
		id = (after + i - 1) % KEEL_MAX_PARTITIONS + 1;
		if (console_takes_input(&partitions[id - 1]))
			return id;
	}
	return 0;
}

/*
 * The partition with the input. Unless the user moved it with Ctrl-], the
 * management partition takes it back as soon as it reads its console again
 * (after its reboot, say).
 */
static struct partition *console_focus_part(void)
{
	struct partition *part = console_focus ? &partitions[console_focus - 1] : NULL;
	u32 first;

	if (!part || !console_takes_input(part)) {
		console_user_moved = false;
		first = console_next_focus(0);
	} else if (console_user_moved || (part->desc.h.flags & KEEL_PD_MANAGEMENT)) {
		first = console_focus;
	} else {
		first = console_next_focus(0); /* the management partition, if it reads */
		if (!(partitions[first - 1].desc.h.flags & KEEL_PD_MANAGEMENT))
			first = console_focus; /* else the input stays where it is */
	}
	if (!part || first != console_focus) {
		WRITE_ONCE(console_focus, first);
		part = console_focus ? &partitions[console_focus - 1] : NULL;
		if (part)
			pr_info("console input goes to partition '%s' (Ctrl-] switches)",
				part->desc.h.name);
	}
	return part;
}

static void console_deliver(const char *buf, size_t len)
{
	struct partition *part;
	unsigned long flags;

	if (!len)
		return;
	part = console_focus_part();
	if (!part)
		return;
	flags = spin_lock_irqsave(&part->con_in_lock);
	if (part->con_input)
		part->con_input(part, buf, len);
	spin_unlock_irqrestore(&part->con_in_lock, flags);
}

static void console_switch_focus(void)
{
	u32 next = console_next_focus(console_focus);

	if (next && next != console_focus) {
		/* Back at the management partition: it keeps the input again. */
		console_user_moved = !(partitions[next - 1].desc.h.flags & KEEL_PD_MANAGEMENT);
		WRITE_ONCE(console_focus, next);
		pr_info("console input goes to partition '%s'", partitions[next - 1].desc.h.name);
	}
}

static void console_poll(struct timer *t)
{
	char buf[64];
	size_t n = 0;
	int c;

	while (n < sizeof(buf) && (c = arch_console_getc()) >= 0) {
		if (c == CONSOLE_SWITCH_KEY) {
			console_deliver(buf, n);
			n = 0;
			console_switch_focus();
			continue;
		}
		buf[n++] = (char)c;
	}
	console_deliver(buf, n);
	/* Pick the focus also without input: the management shell goes raw at once. */
	if (!n)
		console_focus_part();
	console_drain();
	timer_arm(t, arch_time_ns() + (console_any_pending() ? CONSOLE_DRAIN_NS : CONSOLE_POLL_NS));
}

void console_input_start(void)
{
	console_poll_timer.fn = console_poll;
	WRITE_ONCE(console_async, true);
	timer_arm(&console_poll_timer, arch_time_ns() + CONSOLE_POLL_NS);
}

void console_panic_mode(void)
{
	WRITE_ONCE(console_async, false);
}

void console_flush(void)
{
	unsigned long flags = arch_irq_save();
	bool locked = console_lock_bounded();

	console_flush_sync();
	if (locked)
		spin_unlock(&console_drain_lock);
	arch_irq_restore(flags);
}

/* The logical number of this CPU, also before its per-CPU pointer is set. */
u32 console_cpu_id(void)
{
	struct pcpu *cpu = pcpus_ready ? pcpu_this() : NULL;

	return cpu ? cpu->id : 0;
}

void panic(const char *fmt, ...)
{
	char msg[CONSOLE_LINE_MAX];
	va_list ap;

	arch_irq_save();
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	console_panic_mode();
	pr_err("PANIC: cpu %u: %s", console_cpu_id(), msg);
	pcpu_stop_others();
	arch_cpu_halt();
}
