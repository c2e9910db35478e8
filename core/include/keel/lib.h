/* SPDX-License-Identifier: MIT */
/*
 * The C library subset the core uses: picolibc on aarch64, core/lib/ on x86_64
 * (no Debian picolibc there), the host libc in unit tests. Only these
 * functions; none of them may touch errno (guest TLS registers stay live).
 */
#ifndef KEEL_LIB_H
#define KEEL_LIB_H

#include <stdarg.h>
#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strrchr(const char *s, int c);
int snprintf(char *buf, size_t size, const char *fmt, ...);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* Copy a NUL-terminated string into @dst of @size bytes, always terminated. */
size_t keel_strlcpy(char *dst, const char *src, size_t size);

#endif /* KEEL_LIB_H */
