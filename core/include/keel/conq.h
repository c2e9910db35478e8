/* SPDX-License-Identifier: MIT */
/*
 * Console output queues: each source (Keel itself, each partition) queues
 * whole units (a line, or a raw chunk of the interactive shell) in its own
 * ring; one drainer at a time moves them to the UART in the order they were
 * queued, as much as the UART takes without waiting. A token bucket per
 * partition bounds what it may queue per second.
 */
#ifndef KEEL_CONQ_H
#define KEEL_CONQ_H

#include <keel/types.h>

#define CONQ_SIZE 8192u /* bytes of one source's ring, headers included */
#define CONQ_UNIT_MAX 1024u /* longest unit */

struct conq {
	u64 head; /* bytes ever queued; written by the one producer (release) */
	u64 tail; /* bytes ever sent; written by the drainer (release) */
	u8 buf[CONQ_SIZE];
};

/* Where the drainer is: a unit cut short by a full UART, the line state. */
struct conq_drain {
	struct conq *cur; /* the queue whose unit is half sent, or NULL */
	u32 sent; /* bytes of that unit already sent */
	u8 midline; /* the last byte sent was not a newline */
	u8 pad[3];
	u64 last; /* the queue sent from last (by address), for the newline rule */
};

/*
 * Queue one unit of @len (1..CONQ_UNIT_MAX) bytes with order number @seq.
 * The caller serializes the producers of @q. False (nothing queued) if it
 * does not fit.
 */
bool conq_put(struct conq *q, u32 seq, const char *s, size_t len);

/* True if @q holds a unit not yet sent. */
bool conq_pending(const struct conq *q);

/*
 * The drainer (one at a time): send units from @qs[0..@n) in order of their
 * numbers through @write (which returns how many bytes the UART took; fewer
 * means it is full), at most @budget bytes. A unit cut short is finished
 * first next time; switching source after a partial line starts with
 * "\r\n". Returns the bytes sent.
 */
size_t conq_drain(struct conq_drain *d, struct conq *const *qs, u32 n,
		  size_t (*write)(const char *s, size_t len), size_t budget);

/* A token bucket: @rate bytes per second, up to @burst at once. */
struct conq_bucket {
	u64 tokens;
	u64 stamp_ns; /* when tokens was last topped up */
};

/* Take @len tokens at time @now_ns; false (none taken) if there are too few. */
bool conq_admit(struct conq_bucket *b, u64 now_ns, u64 rate, u64 burst, size_t len);

#endif /* KEEL_CONQ_H */
