// SPDX-License-Identifier: MIT
/*
 * SHA-256 as FIPS 180-4 section 6.2 describes it: 64-byte blocks, a message
 * schedule of 64 words, the length in bits appended big-endian after a 0x80
 * byte and zero padding.
 */
#include <keel/lib.h>
#include <keel/sha256.h>

/* The first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
static const u32 sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static inline u32 ror32(u32 x, unsigned int n)
{
	return (x >> n) | (x << (32u - n));
}

static inline u32 load_be32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

static void sha256_block(u32 h[8], const u8 *p)
{
	u32 w[64], a, b, c, d, e, f, g, hh, t1, t2;
	unsigned int i;

	for (i = 0; i < 16; i++)
		w[i] = load_be32(p + 4 * i);
	for (; i < 64; i++) {
		u32 s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
		u32 s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (i = 0; i < 64; i++) {
		t1 = hh + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & f) ^ (~e & g)) +
		     sha256_k[i] + w[i];
		t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

void sha256_init(struct sha256 *s)
{
	/* The first 32 bits of the fractional parts of the square roots of the first 8 primes. */
	static const u32 iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

	memcpy(s->h, iv, sizeof(iv));
	s->bytes = 0;
	s->fill = 0;
}

void sha256_update(struct sha256 *s, const void *data, size_t len)
{
	const u8 *p = data;

	s->bytes += len;
	if (s->fill) {
		size_t take = MIN(len, (size_t)(SHA256_BLOCK - s->fill));

		memcpy(s->block + s->fill, p, take);
		s->fill += (u32)take;
		p += take;
		len -= take;
		if (s->fill < SHA256_BLOCK)
			return;
		sha256_block(s->h, s->block);
		s->fill = 0;
	}
	for (; len >= SHA256_BLOCK; p += SHA256_BLOCK, len -= SHA256_BLOCK)
		sha256_block(s->h, p);
	memcpy(s->block, p, len);
	s->fill = (u32)len;
}

void sha256_final(struct sha256 *s, u8 out[SHA256_DIGEST])
{
	u64 bits = s->bytes * 8u;
	unsigned int i;

	s->block[s->fill++] = 0x80;
	if (s->fill > SHA256_BLOCK - 8u) {
		memset(s->block + s->fill, 0, SHA256_BLOCK - s->fill);
		sha256_block(s->h, s->block);
		s->fill = 0;
	}
	memset(s->block + s->fill, 0, SHA256_BLOCK - 8u - s->fill);
	for (i = 0; i < 8; i++)
		s->block[SHA256_BLOCK - 1u - i] = (u8)(bits >> (8u * i));
	sha256_block(s->h, s->block);
	for (i = 0; i < 32; i++)
		out[i] = (u8)(s->h[i / 4] >> (24u - 8u * (i % 4)));
}

void sha256(const void *data, size_t len, u8 out[SHA256_DIGEST])
{
	struct sha256 s;

	sha256_init(&s);
	sha256_update(&s, data, len);
	sha256_final(&s, out);
}

void sha256_hex(const u8 d[SHA256_DIGEST], char out[SHA256_HEX])
{
	static const char digits[] = "0123456789abcdef";
	unsigned int i;

	for (i = 0; i < SHA256_DIGEST; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * SHA256_DIGEST] = 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool sha256_parse(const char *s, size_t len, u8 out[SHA256_DIGEST])
{
	unsigned int i;

	if (len != 2 * SHA256_DIGEST)
		return false;
	for (i = 0; i < SHA256_DIGEST; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (u8)(hi << 4 | lo);
	}
	return true;
}
