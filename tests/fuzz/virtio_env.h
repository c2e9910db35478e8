/* SPDX-License-Identifier: MIT */
/* The virtio fuzz targets' partition (tests/fuzz/virtio_env.c). */
#ifndef KEEL_FUZZ_VIRTIO_ENV_H
#define KEEL_FUZZ_VIRTIO_ENV_H

#include <keel/partition.h>

#define FUZZ_RAM_BASE 0x40000000ull
#define FUZZ_RAM_SIZE (1ull << 20)
/* pmm_free_bytes() right after the pool is set up */
extern u64 pool_free;

#define FUZZ_POOL_SIZE (8ull << 20) /* 2 MiB aligned: virtio-mem plugs a few blocks */
#define FUZZ_HOTMEM_SIZE (128ull << 20)

extern struct partition fuzz_part;
extern u8 *fuzz_ram;

/* A fresh partition (no devices yet), RAM zeroed, the pool full. */
void fuzz_virtio_setup(void);
/* Devices, hot-pluggable memory: all given back (checked against pool_free by the caller). */
void fuzz_virtio_teardown(void);

#endif /* KEEL_FUZZ_VIRTIO_ENV_H */
