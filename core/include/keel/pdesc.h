/* SPDX-License-Identifier: MIT */
/*
 * The one validator of partition descriptions (struct keel_part_desc), used
 * by the loader (to report config errors with file and line), by the core at
 * boot, and by the management calls later. Pure C: built on the host too.
 */
#ifndef KEEL_PDESC_H
#define KEEL_PDESC_H

#include <keel/abi.h>
#include <keel/boot_info.h>
#include <keel/types.h>

/* What the machine offers, as far as the caller knows it (0 = unknown). */
struct pdesc_limits {
	u32 cpu_count; /* logical CPUs; 0 skips the range check */
	u32 module_count; /* boot modules loaded */
	u64 mem_available; /* bytes for all partitions; 0 skips the check */
	const u64 *cpu_core; /* physical core of each logical CPU, or NULL: no SMT check */
	u32 smt_split; /* KEEL_SMT_SPLIT_*: may two partitions share one physical core */
	u32 pad;
};

/*
 * The first CPU of @a that shares a physical core with a CPU of @b (the
 * SMT rule), or -1. Both masks are of logical CPUs < @lim->cpu_count.
 */
int pdesc_smt_shared(u64 a, u64 b, const struct pdesc_limits *lim, u32 *other);

/* Which field a problem is about, so the loader can point at its line. */
enum pdesc_field {
	PDESC_F_NONE = 0,
	PDESC_F_NAME,
	PDESC_F_CPUS,
	PDESC_F_MEMORY,
	PDESC_F_KERNEL,
	PDESC_F_INITRD,
	PDESC_F_DISK,
	PDESC_F_CMDLINE,
	PDESC_F_FLAGS,
	PDESC_F_MANAGEMENT,
};

struct pdesc_error {
	u32 index; /* which description */
	u32 field; /* enum pdesc_field */
	char msg[160]; /* what is wrong, for a human */
};

/* Check one description on its own. Returns 0 or -KEEL_EINVAL with @err. */
int pdesc_check(const struct keel_part_desc *d, const struct pdesc_limits *lim,
		struct pdesc_error *err);

/*
 * Check @n descriptions as a set: each one, then unique names, no core owned
 * twice, at most one management partition, total memory within the limit.
 */
int pdesc_check_all(const struct keel_part_desc *d, u32 n, const struct pdesc_limits *lim,
		    struct pdesc_error *err);

#endif /* KEEL_PDESC_H */
