/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the console queues (core/conq.c): units of any size
 * into three sources, drains with any budget through a UART that takes any
 * number of bytes at a time. At the end everything queued came out once, in
 * order, never two units mixed (a source switch only adds "\r\n").
 */
#include <stdlib.h>
#include <string.h>

#include <keel/conq.h>

static struct conq qs[3];
static char out[1 << 16], want[1 << 16];
static size_t out_len, want_len, room;

static size_t uart(const char *s, size_t len)
{
	size_t n = len < room ? len : room;

	if (out_len + n > sizeof(out))
		abort();
	memcpy(out + out_len, s, n);
	out_len += n;
	return n;
}

/* The output without the "\r\n" the drainer adds between sources. */
static size_t strip_added(char *s, size_t len)
{
	size_t i, j = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n' &&
		    (i == 0 || s[i - 1] != '\n')) {
			i++;
			continue;
		}
		s[j++] = s[i];
	}
	return j;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct conq *list[3] = { &qs[0], &qs[1], &qs[2] };
	struct conq_drain d = { 0 };
	char unit[CONQ_UNIT_MAX];
	u32 seq = 0;
	size_t at = 0;

	memset(qs, 0, sizeof(qs));
	out_len = want_len = 0;
	while (at + 3 <= size && want_len < sizeof(want) - CONQ_UNIT_MAX) {
		u8 op = data[at], a = data[at + 1], b = data[at + 2];

		at += 3;
		if (op & 1) {
			/* A unit of (a % 64 + 1) bytes, letters then a newline; it fits or is refused. */
			size_t len = a % 64 + 1;

			for (size_t i = 0; i < len; i++)
				unit[i] = (char)('a' + (seq + i) % 26);
			unit[len - 1] = '\n';
			if (conq_put(&qs[op >> 1 & 1 ? 1 : (op >> 2 & 1 ? 2 : 0)], seq, unit,
				     len)) {
				memcpy(want + want_len, unit, len);
				want_len += len;
			}
			seq++;
		} else {
			room = b % 9;
			conq_drain(&d, list, 3, uart, a);
		}
	}
	room = ~(size_t)0;
	conq_drain(&d, list, 3, uart, ~(size_t)0);
	if (conq_pending(&qs[0]) || conq_pending(&qs[1]) || conq_pending(&qs[2]))
		abort();
	out_len = strip_added(out, out_len);
	if (out_len != want_len || memcmp(out, want, want_len))
		abort();
	return 0;
}
