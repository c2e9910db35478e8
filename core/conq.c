/* SPDX-License-Identifier: MIT */
/*
 * Console output queues (keel/conq.h): units in per-source rings, drained in
 * order to a UART that may take fewer bytes than offered, and the token
 * bucket that bounds each partition's share.
 */
#include <keel/conq.h>
#include <keel/lib.h>

#define CONQ_HDR 6u /* u32 order number, u16 length */
#define NS_PER_S 1000000000ull
#define CONQ_REFILL_MAX_NS (10ull * NS_PER_S) /* longer idle gaps just fill the bucket */

static void conq_copy_in(struct conq *q, u64 pos, const void *src, size_t len)
{
	const u8 *s = src;

	for (size_t i = 0; i < len; i++)
		q->buf[(pos + i) % CONQ_SIZE] = s[i];
}

static void conq_copy_out(const struct conq *q, u64 pos, void *dst, size_t len)
{
	u8 *d = dst;

	for (size_t i = 0; i < len; i++)
		d[i] = q->buf[(pos + i) % CONQ_SIZE];
}

bool conq_put(struct conq *q, u32 seq, const char *s, size_t len)
{
	u64 head = q->head, tail = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
	u16 len16 = (u16)len;

	if (!len || len > CONQ_UNIT_MAX || CONQ_HDR + len > CONQ_SIZE - (head - tail))
		return false;
	conq_copy_in(q, head, &seq, sizeof(seq));
	conq_copy_in(q, head + 4, &len16, sizeof(len16));
	conq_copy_in(q, head + CONQ_HDR, s, len);
	__atomic_store_n(&q->head, head + CONQ_HDR + len, __ATOMIC_RELEASE);
	return true;
}

bool conq_pending(const struct conq *q)
{
	return __atomic_load_n(&q->head, __ATOMIC_ACQUIRE) != READ_ONCE(q->tail);
}

/* The order number and length of @q's oldest unit (which must exist). */
static void conq_peek(const struct conq *q, u32 *seq, u16 *len)
{
	conq_copy_out(q, q->tail, seq, sizeof(*seq));
	conq_copy_out(q, q->tail + 4, len, sizeof(*len));
}

/* The source whose oldest unit was queued first (order numbers may wrap). */
static struct conq *conq_oldest(struct conq *const *qs, u32 n)
{
	struct conq *best = NULL;
	u32 best_seq = 0, i;

	for (i = 0; i < n; i++) {
		u32 seq;
		u16 len;

		if (!qs[i] || !conq_pending(qs[i]))
			continue;
		conq_peek(qs[i], &seq, &len);
		if (!best || (s32)(seq - best_seq) < 0) {
			best = qs[i];
			best_seq = seq;
		}
	}
	return best;
}

/* Send the rest of the current unit; true once all of it went. */
static bool conq_send_unit(struct conq_drain *d, size_t (*write)(const char *, size_t),
			   size_t *budget, size_t *sent)
{
	struct conq *q = d->cur;
	u32 seq;
	u16 len;

	conq_peek(q, &seq, &len);
	while (d->sent < len && *budget) {
		u64 pos = q->tail + CONQ_HDR + d->sent;
		size_t off = pos % CONQ_SIZE;
		size_t chunk = MIN(MIN((size_t)(len - d->sent), CONQ_SIZE - off), *budget);
		size_t w = write((const char *)&q->buf[off], chunk);

		w = MIN(w, chunk);
		if (w)
			d->midline = q->buf[(off + w - 1) % CONQ_SIZE] != '\n';
		d->sent += (u32)w;
		*budget -= w;
		*sent += w;
		if (w < chunk)
			return false; /* the UART is full */
	}
	if (d->sent < len)
		return false;
	__atomic_store_n(&q->tail, q->tail + CONQ_HDR + len, __ATOMIC_RELEASE);
	d->last = (u64)(uintptr_t)q;
	d->cur = NULL;
	return true;
}

size_t conq_drain(struct conq_drain *d, struct conq *const *qs, u32 n,
		  size_t (*write)(const char *s, size_t len), size_t budget)
{
	size_t sent = 0;

	while (budget) {
		if (!d->cur) {
			struct conq *q = conq_oldest(qs, n);

			if (!q)
				break;
			/* Another source after a line left open: start on a line of its own. */
			if (d->midline && d->last != (u64)(uintptr_t)q) {
				if (write("\r\n", 2) < 2)
					break;
				d->midline = 0;
			}
			d->cur = q;
			d->sent = 0;
		}
		if (!conq_send_unit(d, write, &budget, &sent))
			break;
	}
	return sent;
}

bool conq_admit(struct conq_bucket *b, u64 now_ns, u64 rate, u64 burst, size_t len)
{
	u64 full = burst * NS_PER_S, need = (u64)len * NS_PER_S;

	/* Tokens are kept in byte-nanoseconds so that short gaps still add up. */
	if (!b->stamp_ns) {
		b->tokens = full;
		b->stamp_ns = now_ns ? now_ns : 1;
	} else if (now_ns > b->stamp_ns) {
		u64 dt = MIN(now_ns - b->stamp_ns, CONQ_REFILL_MAX_NS);

		b->tokens = MIN(full, b->tokens + dt * rate);
		b->stamp_ns = now_ns;
	}
	if (b->tokens < need)
		return false;
	b->tokens -= need;
	return true;
}
