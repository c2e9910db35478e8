/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the x86_64 core's libc subset (core/lib/), compared with the
 * host C library. Keel's functions are renamed keel_* by unit.mk for this test.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"

int keel_snprintf(char *buf, size_t size, const char *fmt, ...);
void *keel_memmove(void *dst, const void *src, size_t n);
void *keel_memset(void *dst, int c, size_t n);
int keel_memcmp(const void *a, const void *b, size_t n);
size_t keel_strnlen(const char *s, size_t max);
char *keel_strrchr(const char *s, int c);

#define SAME(...)                                                                 \
	do {                                                                      \
		char want[128], got[128];                                         \
		int wn = snprintf(want, sizeof(want), __VA_ARGS__);               \
		int gn = keel_snprintf(got, sizeof(got), __VA_ARGS__);            \
		CHECK_EQ(gn, wn);                                                 \
		CHECK(strcmp(got, want) == 0);                                    \
		if (strcmp(got, want))                                            \
			fprintf(stderr, "  got '%s' want '%s'\n", got, want);     \
	} while (0)

static void test_formats(void)
{
	SAME("plain");
	SAME("%d %i %u", -42, 7, 3000000000u);
	SAME("%ld %lld %llu", -1L, -9223372036854775807LL - 1, 18446744073709551615ULL);
	SAME("%x %X %08x %-6x| %#x", 0xbeefu, 0xbeefu, 0x1234u, 0xabu, 0u);
	SAME("%5d|%-5d|%05d|%.3d", 42, 42, -42, 7);
	SAME("%s|%10s|%-10s|%.2s|%.*s", "abc", "abc", "abc", "abc", 1, "xyz");
	SAME("%c%c %%", 'o', 'k');
	SAME("%zu %hhu %hd", (size_t)123, 300, 70000);
	SAME("%p", (void *)0x1234);
	SAME("%*d|%-*d", 6, 1, 4, 2);
	SAME("[%5llu.%06llu]", 12ULL, 3456ULL);
}

static void test_truncation(void)
{
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	CHECK_EQ(keel_snprintf(buf, 5, "%s", "abcdefgh"), 8);
	CHECK(strcmp(buf, "abcd") == 0);
	CHECK_EQ(buf[5], 'x');
	CHECK_EQ(keel_snprintf(NULL, 0, "%d", 12345), 5);
	CHECK_EQ(keel_snprintf(buf, 1, "abc"), 3);
	CHECK_EQ(buf[0], '\0');
}

static void test_string(void)
{
	char s[32] = "0123456789";

	keel_memmove(s + 2, s, 8);
	CHECK(memcmp(s, "0101234567", 10) == 0);
	keel_memmove(s, s + 2, 8);
	CHECK(memcmp(s, "0123456767", 10) == 0);
	keel_memset(s + 1, 'z', 21);
	CHECK_EQ(s[21], 'z');
	CHECK_EQ(s[22], 0);
	CHECK(keel_memcmp("abc", "abd", 3) < 0);
	CHECK_EQ(keel_memcmp("abc", "abc", 3), 0);
	CHECK_EQ(keel_strnlen("abcdef", 3), 3);
	CHECK_EQ(keel_strnlen("ab", 30), 2);
	CHECK(keel_strrchr("a/b/c", '/') != NULL && *(keel_strrchr("a/b/c", '/') + 1) == 'c');
}

int main(void)
{
	test_formats();
	test_truncation();
	test_string();
	return unit_done("test_vsnprintf");
}
