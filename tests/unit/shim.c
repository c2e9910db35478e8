/* SPDX-License-Identifier: MIT */
/*
 * Host stand-ins for what core sources call outside themselves (console, arch
 * hooks), so the real sources link into unit tests.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

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

int unit_panics(void (*fn)(void *), void *arg, const char *msg)
{
	char out[512] = "";
	size_t len = 0;
	int fds[2], status = 0;
	ssize_t n;
	pid_t pid;

	fflush(NULL);
	if (pipe(fds))
		return 0;
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		fn(arg);
		_exit(0);
	}
	close(fds[1]);
	while (len < sizeof(out) - 1 && (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	close(fds[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 0;
	if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(out, msg))) {
		fprintf(stderr, "  expected a panic saying \"%s\"; the child printed: %s\n", msg,
			out);
		return 0;
	}
	return 1;
}

void panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	abort();
}
