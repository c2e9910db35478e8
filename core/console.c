/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor console: whole timestamped lines on the UART under one lock,
 * Keel's own lines as "keel: ..." and each partition's output as "name| ...".
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/spinlock.h>

#define CONSOLE_LINE_MAX 480

static struct spinlock console_lock = SPINLOCK_INIT;
static u32 console_level = KEEL_LOG_INFO;

void console_set_level(u32 level)
{
	console_level = level > KEEL_LOG_DEBUG ? KEEL_LOG_DEBUG : level;
}

/* "[    1.234567] " */
static size_t console_stamp(char *buf, size_t size)
{
	u64 ns = arch_time_ns();

	return (size_t)snprintf(buf, size, "[%5llu.%06llu] ", (unsigned long long)(ns / 1000000000ull),
				(unsigned long long)(ns % 1000000000ull / 1000ull));
}

static void console_emit(const char *line, size_t len)
{
	unsigned long flags = spin_lock_irqsave(&console_lock);

	arch_console_write(line, len);
	spin_unlock_irqrestore(&console_lock, flags);
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

/* Print and reset the partition's collected line. Caller holds part->lock. */
static void console_part_emit(struct partition *part)
{
	char line[CONSOLE_LINE_MAX + 2];
	size_t len = console_stamp(line, CONSOLE_LINE_MAX);

	len += (size_t)snprintf(line + len, CONSOLE_LINE_MAX - len, "%s| %.*s", part->desc.name,
				(int)part->con_len, part->con_line);
	len = MIN(len, (size_t)CONSOLE_LINE_MAX);
	line[len++] = '\r';
	line[len++] = '\n';
	console_emit(line, len);
	part->con_len = 0;
}

void console_part_write(struct partition *part, const char *buf, size_t len)
{
	unsigned long flags = spin_lock_irqsave(&part->lock);
	size_t i;

	for (i = 0; i < len; i++) {
		char c = buf[i];

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
}

void console_part_flush(struct partition *part)
{
	unsigned long flags = spin_lock_irqsave(&part->lock);

	if (part->con_len)
		console_part_emit(part);
	spin_unlock_irqrestore(&part->lock, flags);
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
	pr_err("PANIC: cpu %u: %s", console_cpu_id(), msg);
	pcpu_stop_others();
	arch_cpu_halt();
}
