/* SPDX-License-Identifier: MIT */
/*
 * The tests' own Internet checksum (RFC 1071), written apart from Keel's so
 * a test of Keel's checksums does not check them against themselves: bytes
 * summed one at a time, high then low, and the sum folded (not inverted).
 */
#ifndef KEEL_TEST_INET_CSUM_H
#define KEEL_TEST_INET_CSUM_H

#include <keel/types.h>

static inline u64 sum_bytes(u64 sum, const u8 *p, u32 n)
{
	for (u32 i = 0; i < n; i++)
		sum += i % 2 ? p[i] : (u32)p[i] << 8;
	return sum;
}

static inline u16 fold(u64 sum)
{
	while (sum > 0xffff)
		sum = (sum & 0xffff) + (sum >> 16);
	return (u16)sum;
}

#endif /* KEEL_TEST_INET_CSUM_H */
