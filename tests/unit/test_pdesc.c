/* SPDX-License-Identifier: MIT */
/* Unit tests of the partition description validator (core/pdesc.c). */
#include <string.h>

#include <keel/pdesc.h>

#include "unit.h"

static struct keel_part_desc good(const char *name, u64 cpus)
{
	struct keel_part_desc d;

	memset(&d, 0, sizeof(d));
	d.version = KEEL_PDESC_VERSION;
	d.flags = KEEL_PD_AUTOSTART;
	strcpy(d.name, name);
	d.cpu_mask = cpus;
	d.mem_size = 64ull << 20;
	d.kernel_module = 0;
	d.initrd_module = KEEL_NO_MODULE;
	d.disk_module = KEEL_NO_MODULE;
	return d;
}

static const struct pdesc_limits lim = { .cpu_count = 4, .module_count = 2,
					 .mem_available = 1ull << 30 };

static void expect_bad(const struct keel_part_desc *d, u32 field, const char *text)
{
	struct pdesc_error err;

	memset(&err, 0, sizeof(err));
	CHECK_EQ(pdesc_check(d, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.field, field);
	CHECK(strstr(err.msg, text) != NULL);
	if (!strstr(err.msg, text))
		fprintf(stderr, "  message was: %s\n", err.msg);
}

static void test_single(void)
{
	struct keel_part_desc d = good("hello", 0x2);
	struct pdesc_error err;

	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	d = good("", 2);
	expect_bad(&d, PDESC_F_NAME, "name");
	d = good("bad name", 2);
	expect_bad(&d, PDESC_F_NAME, "name");
	d = good("x", 2);
	memset(d.name, 'a', sizeof(d.name)); /* no terminator */
	expect_bad(&d, PDESC_F_NAME, "name");
	d = good("x", 0);
	expect_bad(&d, PDESC_F_CPUS, "no cpus");
	d = good("x", 1ull << 4);
	expect_bad(&d, PDESC_F_CPUS, "cpu 4 does not exist");
	d = good("x", 1ull << 63);
	expect_bad(&d, PDESC_F_CPUS, "cpu 63 does not exist");
	d = good("x", 2);
	d.mem_size = 3ull << 20;
	expect_bad(&d, PDESC_F_MEMORY, "multiple of 2M");
	d.mem_size = 0;
	expect_bad(&d, PDESC_F_MEMORY, "at least 2M");
	d.mem_size = 2ull << 30;
	expect_bad(&d, PDESC_F_MEMORY, "more than the 1024 MiB");
	d = good("x", 2);
	d.kernel_module = KEEL_NO_MODULE;
	expect_bad(&d, PDESC_F_KERNEL, "no kernel");
	d.kernel_module = 7;
	expect_bad(&d, PDESC_F_KERNEL, "not loaded");
	d = good("x", 2);
	d.initrd_module = 2;
	expect_bad(&d, PDESC_F_INITRD, "not loaded");
	d = good("x", 2);
	d.disk_module = 2;
	expect_bad(&d, PDESC_F_DISK, "disk module 2 was not loaded");
	d.disk_module = 0;
	expect_bad(&d, PDESC_F_DISK, "also its kernel");
	d.disk_module = 1;
	d.disk_flags = 4;
	expect_bad(&d, PDESC_F_DISK, "unknown disk flags");
	d = good("x", 2);
	d.flags |= 1u << 30;
	expect_bad(&d, PDESC_F_FLAGS, "unknown flags");
	d = good("x", 2);
	memset(d.cmdline, 'c', sizeof(d.cmdline));
	expect_bad(&d, PDESC_F_CMDLINE, "command line");
	d = good("x", 2);
	d.version = 9;
	expect_bad(&d, PDESC_F_NONE, "version");
}

static void test_set(void)
{
	struct keel_part_desc d[3] = { good("a", 0x2), good("b", 0x4), good("c", 0x8) };
	struct pdesc_error err;

	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), 0);
	d[2].cpu_mask = 0xc;
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.index, 2);
	CHECK_EQ(err.field, PDESC_F_CPUS);
	CHECK(strstr(err.msg, "cpu 2 is already owned by partition 'b'") != NULL);
	d[2] = good("a", 0x8);
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), -KEEL_EINVAL);
	CHECK(strstr(err.msg, "used twice") != NULL);
	d[2] = good("c", 0x8);
	d[0].flags |= KEEL_PD_MANAGEMENT;
	d[2].flags |= KEEL_PD_MANAGEMENT;
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.field, PDESC_F_MANAGEMENT);
	CHECK_EQ(err.index, 2);
	d[2].flags &= ~KEEL_PD_MANAGEMENT;
	d[1].mem_size = 512ull << 20;
	d[2].mem_size = 512ull << 20;
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.field, PDESC_F_MEMORY);
	CHECK(strstr(err.msg, "1088 MiB in all") != NULL);
	CHECK_EQ(pdesc_check_all(d, KEEL_MAX_PARTITIONS + 1, &lim, &err), -KEEL_EINVAL);
	/* A disk image may be shared only when every user has it read-only. */
	d[0] = good("a", 0x2);
	d[1] = good("b", 0x4);
	d[1].disk_module = 1;
	d[2] = good("c", 0x8);
	d[2].disk_module = 1;
	d[2].disk_flags = KEEL_DISK_RO;
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.field, PDESC_F_DISK);
	CHECK(strstr(err.msg, "only read-only disks can be shared") != NULL);
	d[1].disk_flags = KEEL_DISK_RO;
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), 0);
	/* Unknown limits skip those checks. */
	{
		struct pdesc_limits open = { .module_count = 1 };
		struct keel_part_desc big = good("big", 1ull << 40);

		big.mem_size = 1ull << 40;
		CHECK_EQ(pdesc_check_all(&big, 1, &open, &err), 0);
	}
}

/* Two partitions on the two threads of one physical core: refused unless allowed. */
static void test_smt_siblings(void)
{
	static const u64 cores[4] = { 0, 0, 1, 1 }; /* cpus 0,1 and 2,3 share a core */
	struct keel_part_desc d[2] = { good("a", 0x1), good("b", 0x2) };
	struct pdesc_limits lim = { .cpu_count = 4, .module_count = 1, .cpu_core = cores };
	struct pdesc_error err;
	u32 other;

	d[0].cpu_mask = 0x1;
	d[1].cpu_mask = 0x2;
	CHECK(pdesc_check_all(d, 2, &lim, &err) != 0);
	CHECK(strstr(err.msg, "shares a physical core with cpu 0 of partition 'a'") != NULL);
	CHECK_EQ(err.index, 1);
	d[1].cpu_mask = 0xc; /* the other core: fine */
	CHECK_EQ(pdesc_check_all(d, 2, &lim, &err), 0);
	d[0].cpu_mask = 0x3; /* both threads of core 0 in one partition: fine */
	CHECK_EQ(pdesc_check_all(d, 2, &lim, &err), 0);
	d[1].cpu_mask = 0x4;
	d[0].cpu_mask = 0x8;
	CHECK(pdesc_check_all(d, 2, &lim, &err) != 0);
	lim.smt_split = KEEL_SMT_SPLIT_ALLOW;
	CHECK_EQ(pdesc_check_all(d, 2, &lim, &err), 0);
	lim.smt_split = KEEL_SMT_SPLIT_REFUSE;
	lim.cpu_core = NULL; /* topology unknown: no check */
	CHECK_EQ(pdesc_check_all(d, 2, &lim, &err), 0);
	CHECK_EQ(pdesc_smt_shared(0x1, 0x2, &(struct pdesc_limits){ .cpu_count = 4, .cpu_core = cores }, &other), 0);
	CHECK_EQ(other, 1);
}

int main(void)
{
	test_smt_siblings();
	test_single();
	test_set();
	return unit_done("test_pdesc");
}
