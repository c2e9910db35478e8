/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (core/sha256.c): the FIPS 180-4 / NIST example digests, lengths
 * around every padding boundary against an independent digest taken of the
 * same bytes fed all at once, every way of splitting an input across
 * updates, and the hex parser on bad input.
 */
#include <keel/sha256.h>

#include "unit.h"

static void check_hex(const void *data, size_t len, const char *want)
{
	u8 d[SHA256_DIGEST];
	char hex[SHA256_HEX];

	sha256(data, len, d);
	sha256_hex(d, hex);
	CHECK(strcmp(hex, want) == 0);
	if (strcmp(hex, want))
		fprintf(stderr, "  got %s\n want %s\n", hex, want);
}

static void test_known_answers(void)
{
	static char million[1000000];

	check_hex("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_hex("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	check_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
		  "klmnopqrlmnopqrsmnopqrstnopqrstu",
		  112, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
	memset(million, 'a', sizeof(million));
	check_hex(million, sizeof(million),
		  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Feeding any split of the input gives the digest of the whole. */
static void test_splits(void)
{
	u8 data[200], whole[SHA256_DIGEST], part[SHA256_DIGEST];
	unsigned long long seed = 0x5eedf00dull;
	size_t len, cut, cut2;

	for (len = 0; len < sizeof(data); len++)
		data[len] = (u8)unit_rand(&seed);
	for (len = 0; len <= sizeof(data); len += 7) {
		sha256(data, len, whole);
		for (cut = 0; cut <= len; cut++) {
			for (cut2 = cut; cut2 <= len; cut2 += 13) {
				struct sha256 s;

				sha256_init(&s);
				sha256_update(&s, data, cut);
				sha256_update(&s, data + cut, cut2 - cut);
				sha256_update(&s, data + cut2, len - cut2);
				sha256_final(&s, part);
				if (memcmp(part, whole, sizeof(whole))) {
					CHECK(!"split digest differs");
					fprintf(stderr, "  len %zu cuts %zu %zu\n", len, cut, cut2);
					return;
				}
			}
		}
	}
	CHECK(1);
}

/* 55, 56, 63, 64 and 65 bytes: the padding needs one block or two. */
static void test_padding_edges(void)
{
	static const struct {
		size_t len;
		const char *hex;
	} edge[] = {
		{ 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
		{ 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
		{ 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
		{ 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
		{ 65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0" },
	};
	char a[65];
	size_t i;

	memset(a, 'a', sizeof(a));
	for (i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
		check_hex(a, edge[i].len, edge[i].hex);
}

static void test_parse(void)
{
	const char *good = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
	u8 d[SHA256_DIGEST], want[SHA256_DIGEST];
	char bad[65];

	sha256("abc", 3, want);
	CHECK(sha256_parse(good, 64, d));
	CHECK(memcmp(d, want, sizeof(d)) == 0);
	CHECK(!sha256_parse(good, 63, d));
	CHECK(!sha256_parse(good, 65, d));
	CHECK(!sha256_parse("", 0, d));
	memcpy(bad, good, 64);
	bad[64] = 0;
	bad[17] = 'g';
	CHECK(!sha256_parse(bad, 64, d));
	bad[17] = ' ';
	CHECK(!sha256_parse(bad, 64, d));
	bad[17] = 0;
	CHECK(!sha256_parse(bad, 64, d));
}

int main(void)
{
	test_known_answers();
	test_splits();
	test_padding_edges();
	test_parse();
	return unit_done("test_sha256");
}
