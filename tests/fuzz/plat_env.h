/* SPDX-License-Identifier: MIT */
/* The platform-model fuzz targets' partition (tests/fuzz/plat_env.c). */
#ifndef KEEL_FUZZ_PLAT_ENV_H
#define KEEL_FUZZ_PLAT_ENV_H

#include <keel/partition.h>
#include <keel/pcpu.h>

#define PLAT_VCPUS 2u
/* pmm_free_bytes() right after the pool is set up */
extern u64 pool_free;

#define PLAT_POOL_SIZE (1ull << 20)

extern struct partition plat_part;
extern struct vcpu plat_vcpus[PLAT_VCPUS];

/* A running two-vCPU partition, each vCPU on its own pCPU, the page pool full. */
void plat_setup(void);

/*
 * One register access of 1, 2, 4 or 8 bytes (chosen by @op bits 5:4; bit 6
 * reads) to device @index % count at @off, as a vCPU's exit would make it.
 * Offsets past the device are dropped here, as the MMIO dispatcher does.
 */
void plat_vdev_access(struct vcpu *v, u32 index, u64 off, u8 op, u64 val);

#endif /* KEEL_FUZZ_PLAT_ENV_H */
