/* SPDX-License-Identifier: MIT */
/* A very small test framework for the host unit tests: CHECK, CHECK_EQ, a summary line. */
#ifndef KEEL_UNIT_H
#define KEEL_UNIT_H

#include <stdio.h>
#include <string.h>
#include <stdlib.h>

extern int unit_passed, unit_failed;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (cond) {                                                                      \
			unit_passed++;                                                           \
		} else {                                                                         \
			unit_failed++;                                                           \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                                \
	} while (0)

#define CHECK_EQ(a, b)                                                                       \
	do {                                                                                 \
		long long a_ = (long long)(a), b_ = (long long)(b);                          \
		if (a_ == b_) {                                                              \
			unit_passed++;                                                       \
		} else {                                                                     \
			unit_failed++;                                                       \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld != %lld)\n", \
				__FILE__, __LINE__, #a, #b, a_, b_);                         \
		}                                                                            \
	} while (0)

/* A repeatable pseudo-random stream (xorshift64) for generated hostile input; *@state != 0. */
static inline unsigned long long unit_rand(unsigned long long *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/*
 * @line was printed as a whole console line into @log (tests/unit/shim.c's
 * unit_log): the log ends after it, or the next line starts with @next.
 */
static inline int unit_logged(const char *log, const char *line, const char *next)
{
	for (const char *p = log; (p = strstr(p, line)); p++) {
		const char *end = p + strlen(line);

		if (*end == 0 || strncmp(end, next, strlen(next)) == 0)
			return 1;
	}
	return 0;
}

#define CHECK_LOGGED(log, line, next)                                                \
	do {                                                                         \
		CHECK(unit_logged(log, line, next));                                 \
		if (!unit_logged(log, line, next))                                   \
			fprintf(stderr, "  not logged: %s\n  log: %s\n", line, log); \
	} while (0)

/*
 * True if @fn(@arg) panics (the shim's panic aborts) printing @msg. It runs in
 * a child, so the panic ends only the child and the test's state is as it was.
 */
int unit_panics(void (*fn)(void *), void *arg, const char *msg);

/* Ends main(): prints "NAME: N passed, N failed" and the exit status. */
static inline int unit_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif /* KEEL_UNIT_H */
