/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4), for measured launch: the loader hashes keel.cfg and
 * every image it loads, the core every image a management partition LOADs.
 * Incremental, so data can be hashed as it arrives; no allocation, no FP.
 */
#ifndef KEEL_SHA256_H
#define KEEL_SHA256_H

#include <keel/types.h>

#define SHA256_DIGEST 32u
#define SHA256_BLOCK 64u
#define SHA256_HEX (2u * SHA256_DIGEST + 1u) /* lowercase hex and a NUL */

struct sha256 {
	u32 h[8];
	u64 bytes; /* message length so far */
	u32 fill; /* bytes waiting in block[] */
	u8 block[SHA256_BLOCK];
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Writes the digest; @s must be initialised again before reuse. */
void sha256_final(struct sha256 *s, u8 out[SHA256_DIGEST]);
/* The digest of one buffer. */
void sha256(const void *data, size_t len, u8 out[SHA256_DIGEST]);

/* @d as 64 lowercase hex digits and a NUL. */
void sha256_hex(const u8 d[SHA256_DIGEST], char out[SHA256_HEX]);
/* Parse exactly 64 hex digits (either case) from @s; false if it is not that. */
bool sha256_parse(const char *s, size_t len, u8 out[SHA256_DIGEST]);

#endif /* KEEL_SHA256_H */
