/* SPDX-License-Identifier: MIT */
/*
 * Host stand-ins for what core sources call outside themselves (console, arch
 * hooks), so the real sources link into unit tests.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <keel/console.h>
#include <keel/types.h>

#include "unit.h"

int unit_passed, unit_failed;
struct pcpu *unit_this_pcpu;

/* Unit tests read what the code under test logged from here. */
char unit_log[8192];
size_t unit_log_len;

void printk(u32 level, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(unit_log + unit_log_len, sizeof(unit_log) - unit_log_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		unit_log_len = MIN(unit_log_len + (size_t)n, sizeof(unit_log) - 1);
	(void)level;
}

void panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	abort();
}
