/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (device id 4): buffers filled from a per-device ChaCha20 DRBG
 * (fast key erasure), seeded and reseeded from arch_entropy(). Not a certified
 * (SP 800-90A/B) source: it is only as good as the CPU's entropy instruction.
 */
#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/lib.h>
#include <keel/partition.h>

#include "virtio.h"

#define VRNG_DEVICE_ID 4u
#define VRNG_CHAIN_MAX 4096u /* bytes given per request: bounded work per chain */
#define VRNG_RESEED_BYTES (1ull << 20)

struct vrng {
	struct virtio_dev vd;
	u32 key[8];
	u64 counter; /* block counter under the current key */
	u64 since_reseed; /* bytes output since the last reseed */
};

static u32 vrng_rotl(u32 v, u32 n)
{
	return (v << n) | (v >> (32 - n));
}

static void vrng_quarter(u32 *x, u32 a, u32 b, u32 c, u32 d)
{
	x[a] += x[b];
	x[d] = vrng_rotl(x[d] ^ x[a], 16);
	x[c] += x[d];
	x[b] = vrng_rotl(x[b] ^ x[c], 12);
	x[a] += x[b];
	x[d] = vrng_rotl(x[d] ^ x[a], 8);
	x[c] += x[d];
	x[b] = vrng_rotl(x[b] ^ x[c], 7);
}

/* The ChaCha20 block function (RFC 8439 §2.3): @in words 12..15 = counter and nonce. */
void vrng_chacha20_block(const u32 key[8], const u32 iv[4], u8 out[64])
{
	static const u32 sigma[4] = { 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574 };
	u32 in[16], x[16];
	u32 i;

	memcpy(in, sigma, sizeof(sigma));
	memcpy(in + 4, key, 32);
	memcpy(in + 12, iv, 16);
	memcpy(x, in, sizeof(x));
	for (i = 0; i < 10; i++) {
		vrng_quarter(x, 0, 4, 8, 12);
		vrng_quarter(x, 1, 5, 9, 13);
		vrng_quarter(x, 2, 6, 10, 14);
		vrng_quarter(x, 3, 7, 11, 15);
		vrng_quarter(x, 0, 5, 10, 15);
		vrng_quarter(x, 1, 6, 11, 12);
		vrng_quarter(x, 2, 7, 8, 13);
		vrng_quarter(x, 3, 4, 9, 14);
	}
	for (i = 0; i < 16; i++) {
		u32 v = x[i] + in[i];

		out[4 * i] = (u8)v;
		out[4 * i + 1] = (u8)(v >> 8);
		out[4 * i + 2] = (u8)(v >> 16);
		out[4 * i + 3] = (u8)(v >> 24);
	}
}

static void vrng_next_block(struct vrng *r, u8 out[64])
{
	u32 iv[4] = { (u32)r->counter, (u32)(r->counter >> 32), 0, 0 };

	vrng_chacha20_block(r->key, iv, out);
	r->counter++;
}

/*
 * Replace the key with fresh output (so earlier output cannot be recomputed
 * from the state), mixed with new entropy when @reseed.
 */
static void vrng_rekey(struct vrng *r, bool reseed)
{
	u32 fresh[8] = { 0 };
	u8 block[64];
	u32 i;

	if (reseed) {
		arch_entropy(fresh, sizeof(fresh));
		r->since_reseed = 0;
	}
	vrng_next_block(r, block);
	memcpy(r->key, block, sizeof(r->key));
	for (i = 0; i < 8; i++)
		r->key[i] ^= fresh[i];
	r->counter = 0;
	memset(block, 0, sizeof(block));
	memset(fresh, 0, sizeof(fresh));
}

/* Fill the writable part of the current chain; returns the bytes written. */
static u32 vrng_fill(struct vrng *r)
{
	const struct virtq_chain *c = &r->vd.chain;
	u64 total = MIN(c->in_len, (u64)VRNG_CHAIN_MAX);
	u8 block[64];
	u64 off;

	for (off = 0; off < total; off += sizeof(block)) {
		u64 n = MIN(sizeof(block), total - off);

		vrng_next_block(r, block);
		if (virtq_chain_write(r->vd.part, c, off, block, n) != n)
			break;
	}
	memset(block, 0, sizeof(block));
	r->since_reseed += total;
	vrng_rekey(r, r->since_reseed >= VRNG_RESEED_BYTES);
	return (u32)MIN(off, total);
}

static void vrng_notify(struct virtio_dev *vd, u32 q)
{
	struct vrng *r = container_of(vd, struct vrng, vd);
	u32 n;

	for (n = 0; n < VIRTQ_MAX_SIZE && virtio_pop(vd, 0); n++)
		virtio_push(vd, 0, vrng_fill(r));
	if (n)
		virtio_queue_interrupt(vd, 0);
}

static void vrng_destroy(struct virtio_dev *vd)
{
	struct vrng *r = container_of(vd, struct vrng, vd);

	virtio_free(r, sizeof(*r));
}

/*
 * A virtio reset, and so every restore, reseeds: a partition restored twice
 * from one snapshot must not hand both copies the same bytes. The key is
 * never part of a snapshot (the device has no state of its own to save).
 */
static void vrng_reset(struct virtio_dev *vd)
{
	vrng_rekey(container_of(vd, struct vrng, vd), true);
}

static const struct virtio_dev_ops vrng_ops = {
	.name = "virtio-rng",
	.device_id = VRNG_DEVICE_ID,
	.num_queues = 1,
	.notify = vrng_notify,
	.reset = vrng_reset,
	.destroy = vrng_destroy,
};

int vrng_create(struct partition *part, u64 base, u32 irq)
{
	struct vrng *r = virtio_alloc(sizeof(*r));
	int ret;

	if (!r)
		return -KEEL_ENOMEM;
	arch_entropy(r->key, sizeof(r->key));
	vrng_rekey(r, true);
	ret = virtio_dev_init(&r->vd, part, &vrng_ops, 0, base, irq);
	if (ret)
		virtio_free(r, sizeof(*r));
	return ret;
}
