/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the split virtqueue (virtio/virtq.c): layout checks, chains,
 * indirect tables and every kind of hostile descriptor, index and address.
 */
#include "test_virtio.h"

#define NUM 8u

static struct virtq vq;
static struct virtq_chain chain;

static void q_setup(void)
{
	tv_setup();
	virtq_reset(&vq);
	vq.num = NUM;
	vq.desc = Q_DESC;
	vq.avail = Q_AVAIL;
	vq.used = Q_USED;
	vq.ready = 1;
	CHECK(virtq_layout_ok(&part, &vq));
}

static int pop(bool indirect)
{
	return virtq_pop(&part, &vq, indirect, &chain);
}

/* A malformed queue: an error, the avail cursor kept, nothing written anywhere. */
static void expect_malformed(bool indirect)
{
	u16 last = vq.last_avail;

	snapshot();
	CHECK(pop(indirect) < 0);
	CHECK_EQ(vq.last_avail, last);
	CHECK(ram_unchanged());
}

static void test_layout(void)
{
	u32 n;

	q_setup();
	for (n = 0; n <= 300; n++) {
		vq.num = n;
		CHECK_EQ(virtq_layout_ok(&part, &vq), n && n <= VIRTQ_MAX_SIZE && !(n & (n - 1)));
	}
	vq.num = NUM;
	vq.desc = Q_DESC + 8;
	CHECK(!virtq_layout_ok(&part, &vq));
	vq.desc = Q_DESC;
	vq.avail = Q_AVAIL + 1;
	CHECK(!virtq_layout_ok(&part, &vq));
	vq.avail = Q_AVAIL;
	vq.used = Q_USED + 2;
	CHECK(!virtq_layout_ok(&part, &vq));
	/* Rings hanging off the end of RAM, outside it, or wrapping. */
	vq.used = RAM_BASE + RAM_SIZE - 8;
	CHECK(!virtq_layout_ok(&part, &vq));
	vq.used = Q_USED;
	vq.desc = RAM_BASE - 0x1000;
	CHECK(!virtq_layout_ok(&part, &vq));
	vq.desc = 0xfffffffffffffff0ull;
	CHECK(!virtq_layout_ok(&part, &vq));
	vq.desc = RAM_BASE + RAM_SIZE - 16 * NUM;
	CHECK(virtq_layout_ok(&part, &vq));
}

static void test_simple_chain(void)
{
	char out[32] = {0};

	q_setup();
	CHECK_EQ(pop(false), 0); /* nothing available */
	memcpy(hva(BUF), "hello ", 6);
	memcpy(hva(BUF + 0x100), "world", 5);
	put_desc(Q_DESC, 3, BUF, 6, F_NEXT, 5);
	put_desc(Q_DESC, 5, BUF + 0x100, 5, F_NEXT, 0);
	put_desc(Q_DESC, 0, BUF + 0x200, 100, F_WRITE, 0);
	avail_add(Q_AVAIL, NUM, 3);
	CHECK_EQ(pop(false), 1);
	CHECK_EQ(chain.head, 3);
	CHECK_EQ(chain.nseg, 3);
	CHECK_EQ(chain.out_len, 11);
	CHECK_EQ(chain.in_len, 100);
	CHECK_EQ(virtq_chain_read(&part, &chain, 0, out, sizeof(out)), 11);
	CHECK(memcmp(out, "hello world", 11) == 0);
	CHECK_EQ(virtq_chain_read(&part, &chain, 4, out, 4), 4);
	CHECK(memcmp(out, "o wo", 4) == 0);
	CHECK_EQ(virtq_chain_write(&part, &chain, 98, "xyz", 3), 2);
	CHECK(memcmp(hva(BUF + 0x200 + 98), "xy", 2) == 0);
	CHECK_EQ(virtq_push(&part, &vq, chain.head, 42), 0);
	CHECK_EQ(get16(Q_USED + 2), 1);
	CHECK_EQ(get32(Q_USED + 4), 3);
	CHECK_EQ(get32(Q_USED + 8), 42);
	CHECK_EQ(pop(false), 0);
}

/* Indices wrap at 2^16; the ring slot is the index modulo the size. */
static void test_index_wrap(void)
{
	u32 i;

	q_setup();
	vq.last_avail = 0xfffe;
	vq.used_idx = 0xfffe;
	put16(Q_AVAIL + 2, 0xfffe);
	put_desc(Q_DESC, 1, BUF, 8, 0, 0);
	for (i = 0; i < 4; i++) {
		avail_add(Q_AVAIL, NUM, 1);
		CHECK_EQ(pop(false), 1);
		CHECK_EQ(virtq_push(&part, &vq, chain.head, 0), 0);
	}
	CHECK_EQ(vq.last_avail, 2);
	CHECK_EQ(get16(Q_USED + 2), 2);
}

static void test_hostile_indices(void)
{
	/* avail idx moves more than the queue size. */
	q_setup();
	put_desc(Q_DESC, 0, BUF, 8, 0, 0);
	put16(Q_AVAIL + 2, NUM + 1);
	expect_malformed(false);
	put16(Q_AVAIL + 2, 0xffff); /* "backwards" is a huge forward jump */
	expect_malformed(false);
	put16(Q_AVAIL + 2, NUM); /* exactly a full ring is fine */
	CHECK_EQ(pop(false), 1);

	/* Head index past the table. */
	q_setup();
	avail_add(Q_AVAIL, NUM, NUM);
	expect_malformed(false);
	q_setup();
	avail_add(Q_AVAIL, NUM, 0xffff);
	expect_malformed(false);

	/* next past the table. */
	q_setup();
	put_desc(Q_DESC, 0, BUF, 8, F_NEXT, NUM);
	avail_add(Q_AVAIL, NUM, 0);
	expect_malformed(false);
}

static void test_loops(void)
{
	u32 i;

	/* Two-descriptor loop. */
	q_setup();
	put_desc(Q_DESC, 0, BUF, 8, F_NEXT, 1);
	put_desc(Q_DESC, 1, BUF, 8, F_NEXT, 0);
	avail_add(Q_AVAIL, NUM, 0);
	expect_malformed(false);
	/* A self loop. */
	q_setup();
	put_desc(Q_DESC, 2, BUF, 8, F_NEXT, 2);
	avail_add(Q_AVAIL, NUM, 2);
	expect_malformed(false);
	/* A chain using every descriptor once is the longest allowed. */
	q_setup();
	for (i = 0; i < NUM; i++)
		put_desc(Q_DESC, i, BUF, 8, i + 1 < NUM ? F_NEXT : 0, (u16)(i + 1));
	avail_add(Q_AVAIL, NUM, 0);
	CHECK_EQ(pop(false), 1);
	CHECK_EQ(chain.nseg, NUM);
	/* ...and one more step loops. */
	q_setup();
	for (i = 0; i < NUM; i++)
		put_desc(Q_DESC, i, BUF, 8, F_NEXT, (u16)((i + 1) % NUM));
	avail_add(Q_AVAIL, NUM, 0);
	expect_malformed(false);
}

static void test_hostile_buffers(void)
{
	/* Outside RAM, straddling its end, wrapping the address space. */
	static const struct {
		u64 addr;
		u32 len;
	} bad[] = {
	    {RAM_BASE - 8, 8}, {RAM_BASE + RAM_SIZE - 8, 9},  {RAM_BASE + RAM_SIZE, 1},
	    {0, 16},	       {0xfffffffffffffff0ull, 0x20}, {RAM_BASE + 0x1000, 0xffffffffu},
	};
	u32 i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		q_setup();
		put_desc(Q_DESC, 0, bad[i].addr, bad[i].len, 0, 0);
		avail_add(Q_AVAIL, NUM, 0);
		expect_malformed(false);
	}
	/* Readable after writable. */
	q_setup();
	put_desc(Q_DESC, 0, BUF, 8, F_WRITE | F_NEXT, 1);
	put_desc(Q_DESC, 1, BUF, 8, 0, 0);
	avail_add(Q_AVAIL, NUM, 0);
	expect_malformed(false);
	/* More than 4 GiB in one chain (each buffer inside RAM, reused). */
	q_setup();
	for (i = 0; i < 4; i++)
		put_desc(Q_DESC, i, RAM_BASE, (u32)RAM_SIZE, i < 3 ? F_NEXT : 0, (u16)(i + 1));
	avail_add(Q_AVAIL, NUM, 0);
	CHECK_EQ(pop(false), 1); /* 16 MiB is fine */
}

static void test_indirect(void)
{
	gpa_t t = BUF + 0x1000;

	/* A good table: two readable, one writable. */
	q_setup();
	put_desc(t, 0, BUF, 4, F_NEXT, 2);
	put_desc(t, 2, BUF + 4, 4, F_NEXT, 1);
	put_desc(t, 1, BUF + 8, 16, F_WRITE, 0);
	put_desc(Q_DESC, 0, t, 3 * 16, F_INDIRECT, 0);
	avail_add(Q_AVAIL, NUM, 0);
	CHECK_EQ(pop(true), 1);
	CHECK_EQ(chain.nseg, 3);
	CHECK_EQ(chain.out_len, 8);
	CHECK_EQ(chain.in_len, 16);

	/* Not negotiated. */
	q_setup();
	put_desc(t, 0, BUF, 4, 0, 0);
	put_desc(Q_DESC, 0, t, 16, F_INDIRECT, 0);
	avail_add(Q_AVAIL, NUM, 0);
	expect_malformed(false);

	/* Length not a multiple of 16, zero, larger than the queue, misaligned, outside RAM. */
	static const struct {
		u64 addr;
		u32 len;
	} bad[] = {
	    {BUF + 0x1000, 24},
	    {BUF + 0x1000, 0},
	    {BUF + 0x1000, 16 * (NUM + 1)},
	    {BUF + 0x1008, 16},
	    {RAM_BASE + RAM_SIZE - 16, 32},
	    {0xfffffffffffffff0ull, 32},
	    {RAM_BASE - 0x100, 16},
	};
	u32 i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		q_setup();
		put_desc(Q_DESC, 0, bad[i].addr, bad[i].len, F_INDIRECT, 0);
		avail_add(Q_AVAIL, NUM, 0);
		expect_malformed(true);
	}
	/* INDIRECT with NEXT. */
	q_setup();
	put_desc(t, 0, BUF, 4, 0, 0);
	put_desc(Q_DESC, 0, t, 16, F_INDIRECT | F_NEXT, 1);
	put_desc(Q_DESC, 1, BUF, 4, 0, 0);
	avail_add(Q_AVAIL, NUM, 0);
	expect_malformed(true);
	/* Nested table. */
	q_setup();
	put_desc(t + 0x100, 0, BUF, 4, 0, 0);
	put_desc(t, 0, t + 0x100, 16, F_INDIRECT, 0);
	put_desc(Q_DESC, 0, t, 16, F_INDIRECT, 0);
	avail_add(Q_AVAIL, NUM, 0);
	expect_malformed(true);
	/* Loop and next past the end inside a table. */
	q_setup();
	put_desc(t, 0, BUF, 4, F_NEXT, 1);
	put_desc(t, 1, BUF, 4, F_NEXT, 0);
	put_desc(Q_DESC, 0, t, 32, F_INDIRECT, 0);
	avail_add(Q_AVAIL, NUM, 0);
	expect_malformed(true);
	q_setup();
	put_desc(t, 0, BUF, 4, F_NEXT, 2);
	put_desc(Q_DESC, 0, t, 32, F_INDIRECT, 0);
	avail_add(Q_AVAIL, NUM, 0);
	expect_malformed(true);
	/* A buffer outside RAM inside a table. */
	q_setup();
	put_desc(t, 0, RAM_BASE + RAM_SIZE, 4, 0, 0);
	put_desc(Q_DESC, 0, t, 16, F_INDIRECT, 0);
	avail_add(Q_AVAIL, NUM, 0);
	expect_malformed(true);
}

static void test_interrupt_suppression(void)
{
	q_setup();
	CHECK(virtq_wants_interrupt(&part, &vq));
	put16(Q_AVAIL, 1);
	CHECK(!virtq_wants_interrupt(&part, &vq));
}

int main(void)
{
	test_layout();
	test_simple_chain();
	test_index_wrap();
	test_hostile_indices();
	test_loops();
	test_hostile_buffers();
	test_indirect();
	test_interrupt_suppression();
	tv_free_all();
	return unit_done("test_virtq");
}
