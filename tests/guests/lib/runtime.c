/* SPDX-License-Identifier: MIT */
/* Hypercall helpers, command-line options and a delay loop for the test guests. */
#include "guest.h"

struct hc_result hc(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	return arch_hypercall(arch_hc_fn(nr), a0, a1, a2);
}

void guest_shutdown(void)
{
	struct hc_result r = hc(KEEL_HC_SHUTDOWN, 0, 0, 0);

	printf("TEST shutdown FAIL: KEEL_HC_SHUTDOWN returned %ld\n", r.status);
	for (;;)
		delay(1000);
}

bool opt_get(const char *cmdline, const char *key, char *buf, size_t size)
{
	size_t klen = strlen(key);
	const char *p = cmdline;

	while (*p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			size_t n = 0;

			p += klen + 1;
			while (p[n] && p[n] != ' ')
				n++;
			if (n >= size)
				return false;
			memcpy(buf, p, n);
			buf[n] = '\0';
			return true;
		}
		while (*p && *p != ' ')
			p++;
	}
	return false;
}

uint64_t opt_num(const char *cmdline, const char *key, uint64_t def)
{
	char buf[24], *p = buf;
	unsigned int base = 10;
	uint64_t v = 0;

	if (!opt_get(cmdline, key, buf, sizeof(buf)) || !*buf)
		return def;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (; *p; p++) {
		unsigned int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			return def;
		v = v * base + d;
	}
	return v;
}

void delay(uint64_t n)
{
	volatile uint64_t i;

	while (n--)
		for (i = 0; i < 1000; i++)
			;
}

unsigned int guest_failures;

bool guest_check(bool ok, const char *what, const char *file, int line)
{
	if (!ok) {
		printf("check failed (%s:%d): %s\n", file, line, what);
		guest_failures++;
	}
	return ok;
}

void verdict(const char *name)
{
	if (guest_failures)
		printf("TEST %s FAIL (%u checks failed)\n", name, guest_failures);
	else
		printf("TEST %s PASS\n", name);
}
