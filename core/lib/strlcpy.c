/* SPDX-License-Identifier: MIT */
/* keel_strlcpy: bounded string copy that always terminates (every arch). */
#include <keel/lib.h>

size_t keel_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}
