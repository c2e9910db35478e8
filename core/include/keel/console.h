/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor console: timestamped, levelled log lines on the UART, and the
 * partitions' own output, line-buffered and prefixed with the partition name.
 */
#ifndef KEEL_CONSOLE_H
#define KEEL_CONSOLE_H

#include <keel/boot_info.h>
#include <keel/types.h>

struct partition;

void console_set_level(u32 level);

/* "[   1.234567] keel: ..." (levels above info and below add a tag). */
void printk(u32 level, const char *fmt, ...) __printf(2, 3);

#define pr_err(...) printk(KEEL_LOG_ERROR, __VA_ARGS__)
#define pr_warn(...) printk(KEEL_LOG_WARN, __VA_ARGS__)
#define pr_info(...) printk(KEEL_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) printk(KEEL_LOG_DEBUG, __VA_ARGS__)

/* Log at most once per call site (for guest-triggered conditions). */
#define pr_warn_once(...)                     \
	do {                                  \
		static bool printed_;         \
		if (!printed_) {              \
			printed_ = true;      \
			pr_warn(__VA_ARGS__); \
		}                             \
	} while (0)

/*
 * Guest console output: bytes are collected per partition and printed as
 * whole lines "[ts] name| text"; non-printable bytes are shown as '?'.
 */
void console_part_write(struct partition *part, const char *buf, size_t len);

/*
 * Copy up to @len bytes of the partition's kept console output from position
 * *@cursor (clamped up to the oldest byte kept; *@lost says by how much) and
 * advance *@cursor past them. Returns the bytes copied. The caller checks
 * that *@cursor is not beyond the end (part->con_head).
 */
size_t console_ring_read(struct partition *part, u64 *cursor, char *buf, size_t len, u64 *lost);

/* Print the partition's unfinished line, if any (at stop). */
void console_part_flush(struct partition *part);

/*
 * Start polling the UART for input (on the calling CPU, with a hypervisor
 * timer). Input goes to one partition's console at a time: the management
 * partition first, else the first whose guest reads its console (has posted
 * receive buffers); Ctrl-] moves it on.
 */
void console_input_start(void);

/* Key that moves console input to the next partition. */
#define CONSOLE_SWITCH_KEY 0x1d /* Ctrl-] */

/* Everything queued out to the UART now, waiting for it (before a power-off). */
void console_flush(void);

/* From now on every line goes straight to the UART, waiting for it (a panic). */
void console_panic_mode(void);

/* A broken invariant: report, stop every CPU. Never for guest-caused events. */
void __noreturn panic(const char *fmt, ...) __printf(1, 2);

#endif /* KEEL_CONSOLE_H */
