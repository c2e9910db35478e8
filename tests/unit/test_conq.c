/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the console output queues (core/conq.c): units in order
 * across sources, a UART that takes a few bytes at a time, full rings,
 * wrap-around, hostile lengths, and the token bucket.
 */
#include <string.h>

#include <keel/conq.h>

#include "unit.h"

static char uart[1 << 20];
static size_t uart_len, uart_room; /* what the fake UART takes per call */

static size_t fake_write(const char *s, size_t len)
{
	size_t n = len < uart_room ? len : uart_room;

	if (uart_len + n > sizeof(uart))
		n = sizeof(uart) - uart_len;
	memcpy(uart + uart_len, s, n);
	uart_len += n;
	return n;
}

static void uart_reset(size_t room)
{
	uart_len = 0;
	uart_room = room;
	memset(uart, 0, sizeof(uart));
}

static struct conq qa, qb, qc;

static void test_order_across_sources(void)
{
	struct conq *qs[] = { &qa, &qb, &qc };
	struct conq_drain d = { 0 };

	memset(&qa, 0, sizeof(qa));
	memset(&qb, 0, sizeof(qb));
	memset(&qc, 0, sizeof(qc));
	CHECK(conq_put(&qb, 2, "b2\n", 3));
	CHECK(conq_put(&qa, 1, "a1\n", 3));
	CHECK(conq_put(&qa, 4, "a4\n", 3));
	CHECK(conq_put(&qc, 3, "c3\n", 3));
	uart_reset(1 << 20);
	CHECK_EQ(conq_drain(&d, qs, 3, fake_write, 1000), 12);
	CHECK(!strcmp(uart, "a1\nb2\nc3\na4\n"));
	CHECK(!conq_pending(&qa) && !conq_pending(&qb) && !conq_pending(&qc));
	/* Order numbers that wrap past 2^32 still sort. */
	CHECK(conq_put(&qa, 0x00000001u, "late\n", 5));
	CHECK(conq_put(&qb, 0xffffffffu, "early\n", 6));
	uart_reset(1 << 20);
	conq_drain(&d, qs, 3, fake_write, 1000);
	CHECK(!strcmp(uart, "early\nlate\n"));
}

static void test_slow_uart_and_budget(void)
{
	struct conq *qs[] = { &qa, &qb };
	struct conq_drain d = { 0 };
	size_t total = 0;
	int rounds = 0;

	memset(&qa, 0, sizeof(qa));
	memset(&qb, 0, sizeof(qb));
	CHECK(conq_put(&qa, 1, "first line\n", 11));
	CHECK(conq_put(&qb, 2, "second\n", 7));
	CHECK(conq_put(&qa, 3, "third\n", 6));
	uart_reset(3); /* three bytes per call: units are cut, never mixed */
	while (conq_pending(&qa) || conq_pending(&qb) || d.cur) {
		size_t n = conq_drain(&d, qs, 2, fake_write, 4);

		CHECK(n <= 4);
		total += n;
		if (++rounds > 100)
			break;
	}
	CHECK_EQ(total, 24);
	CHECK(!strcmp(uart, "first line\nsecond\nthird\n"));
	/* A UART that takes nothing: nothing moves, nothing is lost. */
	CHECK(conq_put(&qa, 4, "x\n", 2));
	uart_reset(0);
	CHECK_EQ(conq_drain(&d, qs, 2, fake_write, 100), 0);
	CHECK(conq_pending(&qa));
	uart_reset(100);
	CHECK_EQ(conq_drain(&d, qs, 2, fake_write, 100), 2);
}

static void test_raw_chunks_and_newline_rule(void)
{
	struct conq *qs[] = { &qa, &qb };
	struct conq_drain d = { 0 };

	memset(&qa, 0, sizeof(qa));
	memset(&qb, 0, sizeof(qb));
	CHECK(conq_put(&qa, 1, "prompt# ", 8)); /* a shell prompt: no newline */
	CHECK(conq_put(&qb, 2, "keel line\r\n", 11));
	CHECK(conq_put(&qa, 3, "ls\r\n", 4));
	uart_reset(1 << 20);
	conq_drain(&d, qs, 2, fake_write, 1000);
	/* Another source after an open line starts on a line of its own. */
	CHECK(!strcmp(uart, "prompt# \r\nkeel line\r\nls\r\n"));
}

static void test_full_and_hostile(void)
{
	static char big[CONQ_UNIT_MAX + 1];
	struct conq *qs[] = { &qa };
	struct conq_drain d = { 0 };
	u32 seq = 0;
	int taken = 0;

	memset(&qa, 0, sizeof(qa));
	memset(big, 'z', sizeof(big));
	CHECK(!conq_put(&qa, seq++, big, 0));
	CHECK(!conq_put(&qa, seq++, big, CONQ_UNIT_MAX + 1));
	CHECK(!conq_put(&qa, seq++, big, (size_t)-1));
	CHECK(conq_put(&qa, seq++, big, CONQ_UNIT_MAX));
	/* Fill up: a unit that does not fit is refused whole, nothing overwritten. */
	while (conq_put(&qa, seq++, big, 1000))
		taken++;
	CHECK(taken > 0 && taken < 10);
	CHECK(qa.head - qa.tail <= CONQ_SIZE);
	uart_reset(1 << 20);
	conq_drain(&d, qs, 1, fake_write, ~(size_t)0);
	CHECK_EQ(uart_len, CONQ_UNIT_MAX + 1000ull * (unsigned int)taken);
	/* Many laps around the ring: every byte comes out once, in order. */
	for (int lap = 0; lap < 5000; lap++) {
		char line[64];
		size_t n = (size_t)snprintf(line, sizeof(line), "lap %d %.*s\n", lap, lap % 40,
					    "0123456789012345678901234567890123456789");

		CHECK(conq_put(&qa, seq++, line, n));
		if (lap % 7 == 6) {
			uart_reset(1 << 20);
			conq_drain(&d, qs, 1, fake_write, ~(size_t)0);
			CHECK(!conq_pending(&qa));
		}
	}
}

static void test_bucket(void)
{
	struct conq_bucket b = { 0 };
	u64 t = 1000000000ull, taken = 0;

	/* A fresh bucket holds the burst; then the rate, and not more. */
	CHECK(conq_admit(&b, t, 1000, 4000, 4000));
	CHECK(!conq_admit(&b, t, 1000, 4000, 1));
	CHECK(!conq_admit(&b, t + 500000000ull, 1000, 4000, 501));
	CHECK(conq_admit(&b, t + 500000000ull, 1000, 4000, 500));
	/* Short gaps add up (no rounding to zero). */
	for (int i = 1; i <= 1000; i++)
		taken += conq_admit(&b, t + 500000000ull + (u64)i * 1000000ull, 1000, 4000, 1);
	CHECK_EQ(taken, 1000);
	/* A long silence refills to the burst, never beyond. */
	CHECK(conq_admit(&b, t + 100000000000ull, 1000, 4000, 4000));
	CHECK(!conq_admit(&b, t + 100000000000ull, 1000, 4000, 1));
	/* Time going backwards adds nothing. */
	CHECK(!conq_admit(&b, t, 1000, 4000, 1));
	CHECK(!conq_admit(&b, t + 100000000000ull, 1000, 4000, (size_t)-1));
}


int main(void)
{
	test_order_across_sources();
	test_slow_uart_and_budget();
	test_raw_chunks_and_newline_rule();
	test_full_and_hostile();
	test_bucket();
	return unit_done("test_conq");
}
