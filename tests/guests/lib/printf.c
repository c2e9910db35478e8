/* SPDX-License-Identifier: MIT */
/*
 * printf() for the test guests: formats with the core's own vsnprintf
 * (core/lib/, linked into every guest) and sends each message with one
 * console hypercall.
 */
#include "guest.h"

int printf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	return (int)hc(KEEL_HC_CONSOLE_WRITE, (uintptr_t)buf, (uint64_t)n, 0).status;
}
