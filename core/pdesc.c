/* SPDX-License-Identifier: MIT */
/*
 * The validator of partition descriptions: every field of every description,
 * then the set as a whole. Shared by the loader, the core and the unit tests.
 */
#include <keel/lib.h>
#include <keel/pdesc.h>

#define PDESC_MIN_MEM (2ull << 20)

static int pdesc_fail(struct pdesc_error *err, u32 index, u32 field, const char *fmt, ...)
	__printf(4, 5);

static int pdesc_fail(struct pdesc_error *err, u32 index, u32 field, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->index = index;
		err->field = field;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -KEEL_EINVAL;
}

static bool pdesc_name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* The name is 1..KEEL_NAME_MAX-1 allowed characters, NUL-terminated, zero-padded. */
static bool pdesc_name_ok(const char *name)
{
	size_t len = strnlen(name, KEEL_NAME_MAX);
	size_t i;

	if (len == 0 || len == KEEL_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!pdesc_name_char_ok(name[i]))
			return false;
	return true;
}

static int pdesc_check_name(const struct keel_part_desc *d, u32 index, struct pdesc_error *err)
{
	if (!pdesc_name_ok(d->name))
		return pdesc_fail(err, index, PDESC_F_NAME,
				  "partition name must be 1 to %u characters of A-Z a-z 0-9 _ -",
				  KEEL_NAME_MAX - 1);
	return 0;
}

static int pdesc_check_cpus(const struct keel_part_desc *d, u32 index,
			    const struct pdesc_limits *lim, struct pdesc_error *err)
{
	u32 cpu;

	if (d->cpu_mask == 0)
		return pdesc_fail(err, index, PDESC_F_CPUS, "partition '%s' has no cpus", d->name);
	if (lim->cpu_count == 0 || lim->cpu_count >= 64)
		return 0;
	for (cpu = lim->cpu_count; cpu < 64; cpu++)
		if (d->cpu_mask & BIT(cpu))
			return pdesc_fail(
				err, index, PDESC_F_CPUS,
				"partition '%s': cpu %u does not exist (this machine has %u, numbered 0-%u)",
				d->name, cpu, lim->cpu_count, lim->cpu_count - 1);
	return 0;
}

static int pdesc_check_memory(const struct keel_part_desc *d, u32 index,
			      const struct pdesc_limits *lim, struct pdesc_error *err)
{
	if (d->mem_size < PDESC_MIN_MEM)
		return pdesc_fail(err, index, PDESC_F_MEMORY,
				  "partition '%s': memory must be at least 2M", d->name);
	if (!IS_ALIGNED(d->mem_size, KEEL_PART_MEM_ALIGN))
		return pdesc_fail(err, index, PDESC_F_MEMORY,
				  "partition '%s': memory must be a multiple of 2M", d->name);
	if (lim->mem_available && d->mem_size > lim->mem_available)
		return pdesc_fail(
			err, index, PDESC_F_MEMORY,
			"partition '%s': memory %llu MiB is more than the %llu MiB this machine has for partitions",
			d->name, (unsigned long long)(d->mem_size >> 20),
			(unsigned long long)(lim->mem_available >> 20));
	return 0;
}

static int pdesc_check_modules(const struct keel_part_desc *d, u32 index,
			       const struct pdesc_limits *lim, struct pdesc_error *err)
{
	if (d->kernel_module == KEEL_NO_MODULE)
		return pdesc_fail(err, index, PDESC_F_KERNEL, "partition '%s' has no kernel",
				  d->name);
	if (d->kernel_module >= lim->module_count)
		return pdesc_fail(err, index, PDESC_F_KERNEL,
				  "partition '%s': kernel module %u was not loaded", d->name,
				  d->kernel_module);
	if (d->initrd_module != KEEL_NO_MODULE && d->initrd_module >= lim->module_count)
		return pdesc_fail(err, index, PDESC_F_INITRD,
				  "partition '%s': initrd module %u was not loaded", d->name,
				  d->initrd_module);
	if (d->disk_module != KEEL_NO_MODULE && d->disk_module >= lim->module_count)
		return pdesc_fail(err, index, PDESC_F_DISK,
				  "partition '%s': disk module %u was not loaded", d->name,
				  d->disk_module);
	if (d->disk_flags & ~KEEL_DISK_FLAGS_ALL)
		return pdesc_fail(err, index, PDESC_F_DISK,
				  "partition '%s': unknown disk flags 0x%x", d->name,
				  d->disk_flags & ~KEEL_DISK_FLAGS_ALL);
	if (d->disk_module != KEEL_NO_MODULE &&
	    (d->disk_module == d->kernel_module || d->disk_module == d->initrd_module))
		return pdesc_fail(err, index, PDESC_F_DISK,
				  "partition '%s': the disk image is also its kernel or initrd",
				  d->name);
	return 0;
}

int pdesc_check(const struct keel_part_desc *d, const struct pdesc_limits *lim,
		struct pdesc_error *err)
{
	int ret;

	if (d->version < KEEL_PDESC_VERSION_OLDEST || d->version > KEEL_PDESC_VERSION)
		return pdesc_fail(err, 0, PDESC_F_NONE,
				  "partition description version %u, expected %u to %u", d->version,
				  KEEL_PDESC_VERSION_OLDEST, KEEL_PDESC_VERSION);
	ret = pdesc_check_name(d, 0, err);
	if (ret)
		return ret;
	if (d->flags & ~KEEL_PD_FLAGS_ALL)
		return pdesc_fail(err, 0, PDESC_F_FLAGS, "partition '%s': unknown flags 0x%x",
				  d->name, d->flags & ~KEEL_PD_FLAGS_ALL);
	ret = pdesc_check_cpus(d, 0, lim, err);
	if (!ret)
		ret = pdesc_check_memory(d, 0, lim, err);
	if (!ret)
		ret = pdesc_check_modules(d, 0, lim, err);
	if (!ret && strnlen(d->cmdline, KEEL_CMDLINE_MAX) == KEEL_CMDLINE_MAX)
		ret = pdesc_fail(err, 0, PDESC_F_CMDLINE,
				 "partition '%s': command line longer than %u bytes", d->name,
				 KEEL_CMDLINE_MAX - 1);
	return ret;
}

/* The first CPU in both masks (they overlap). */
static u32 pdesc_first_common_cpu(u64 a, u64 b)
{
	return (u32)__builtin_ctzll(a & b);
}

int pdesc_smt_shared(u64 a, u64 b, const struct pdesc_limits *lim, u32 *other)
{
	u32 i, j, n = MIN(lim->cpu_count, KEEL_MAX_CPUS);

	if (!lim->cpu_core || lim->smt_split == KEEL_SMT_SPLIT_ALLOW)
		return -1;
	for (i = 0; i < n; i++) {
		if (!(a & BIT(i)))
			continue;
		for (j = 0; j < n; j++)
			if ((b & BIT(j)) && i != j && lim->cpu_core[i] == lim->cpu_core[j]) {
				*other = j;
				return (int)i;
			}
	}
	return -1;
}

static int pdesc_check_pair(const struct keel_part_desc *a, const struct keel_part_desc *b,
			    u32 index, const struct pdesc_limits *lim, struct pdesc_error *err)
{
	u32 other;
	int cpu;

	if (strncmp(a->name, b->name, KEEL_NAME_MAX) == 0)
		return pdesc_fail(err, index, PDESC_F_NAME, "partition name '%s' used twice",
				  b->name);
	if (a->cpu_mask & b->cpu_mask)
		return pdesc_fail(err, index, PDESC_F_CPUS,
				  "partition '%s': cpu %u is already owned by partition '%s'",
				  b->name, pdesc_first_common_cpu(a->cpu_mask, b->cpu_mask),
				  a->name);
	if (a->disk_module != KEEL_NO_MODULE && a->disk_module == b->disk_module &&
	    !((a->disk_flags & b->disk_flags) & KEEL_DISK_RO))
		return pdesc_fail(
			err, index, PDESC_F_DISK,
			"partition '%s': its disk image is also partition '%s''s disk; only read-only disks can be shared",
			b->name, a->name);
	cpu = pdesc_smt_shared(b->cpu_mask, a->cpu_mask, lim, &other);
	if (cpu >= 0)
		return pdesc_fail(
			err, index, PDESC_F_CPUS,
			"partition '%s': cpu %d shares a physical core with cpu %u of partition '%s' (SMT threads); give both to one partition, or set smt_split = allow in [keel]",
			b->name, cpu, other, a->name);
	if ((a->flags & b->flags) & KEEL_PD_MANAGEMENT)
		return pdesc_fail(
			err, index, PDESC_F_MANAGEMENT,
			"partition '%s': only one management partition is allowed ('%s' is one already)",
			b->name, a->name);
	return 0;
}

int pdesc_check_all(const struct keel_part_desc *d, u32 n, const struct pdesc_limits *lim,
		    struct pdesc_error *err)
{
	u64 total = 0;
	u32 i, j;
	int ret;

	if (n > KEEL_MAX_PARTITIONS)
		return pdesc_fail(err, KEEL_MAX_PARTITIONS, PDESC_F_NONE, "more than %u partitions",
				  KEEL_MAX_PARTITIONS);
	for (i = 0; i < n; i++) {
		ret = pdesc_check(&d[i], lim, err);
		if (ret) {
			if (err)
				err->index = i;
			return ret;
		}
		for (j = 0; j < i; j++) {
			ret = pdesc_check_pair(&d[j], &d[i], i, lim, err);
			if (ret)
				return ret;
		}
		/* Each size is below mem_available (or 2^64 / 16), so this cannot wrap. */
		total += d[i].mem_size;
		if (lim->mem_available && total > lim->mem_available)
			return pdesc_fail(
				err, i, PDESC_F_MEMORY,
				"partition '%s': the partitions need %llu MiB in all, more than the %llu MiB this machine has for them",
				d[i].name, (unsigned long long)(total >> 20),
				(unsigned long long)(lim->mem_available >> 20));
	}
	return 0;
}
