/* SPDX-License-Identifier: MIT */
/* The kernel-loader fuzz targets' partition (tests/fuzz/kernel_env.c). */
#ifndef KEEL_FUZZ_KERNEL_ENV_H
#define KEEL_FUZZ_KERNEL_ENV_H

#include <keel/partition.h>

#define FUZZ_KRAM (64ull << 20)
#define FUZZ_KIMAGE_MAX 65536u
/* pmm_free_bytes() right after the pool is set up */
extern u64 pool_free;

#define FUZZ_KPOOL (1ull << 20)

extern struct partition fuzz_kpart;

void fuzz_kernel_setup(const u8 *k, size_t klen, const u8 *i, size_t ilen);

#endif /* KEEL_FUZZ_KERNEL_ENV_H */
