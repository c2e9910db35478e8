/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of hypercall decoding and argument checks (core/hypercall.c) and
 * of the checked guest-memory helpers (core/guest_mem.c) they use.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/arch.h>
#include <keel/guest_mem.h>
#include <keel/hypercall.h>
#include <keel/mgmt.h>
#include <keel/partition.h>

#include "unit.h"

#define RAM_BASE 0x40000000ull
#define RAM1 (2ull << 20) /* two regions, adjacent in guest-physical space */

static struct partition part;
static struct vcpu vcpu;
static u8 *ram0, *ram1;

static s64 last_status;
static u64 last_res[3];
static int returns;
static u64 hc_args[6];
static char console_out[8192];
static size_t console_len;
static int stops;
static bool stop_reboot;

void arch_vcpu_hc_return(struct vcpu *v, s64 status, u64 r0, u64 r1, u64 r2)
{
	last_status = status;
	last_res[0] = r0;
	last_res[1] = r1;
	last_res[2] = r2;
	returns++;
}

/* The guest's argument registers of the call under test. */
static u64 hc_args[6];

void arch_vcpu_hc_args(const struct vcpu *v, u64 a[6])
{
	memcpy(a, hc_args, sizeof(hc_args));
}

void console_part_write(struct partition *p, const char *buf, size_t len)
{
	memcpy(console_out + console_len, buf, len);
	console_len += len;
}

/* core/mgmt.c has its own tests (test_mgmt.c); here only the dispatch. */
s64 mgmt_call(struct vcpu *v, u32 nr, const u64 a[6], u64 r[3])
{
	return -KEEL_ENOSYS;
}

void part_stop(struct partition *p, u32 cause, const char *reason, bool reboot)
{
	stops++;
	stop_reboot = reboot;
}

static void setup(void)
{
	memset(&part, 0, sizeof(part));
	memset(&vcpu, 0, sizeof(vcpu));
	ram0 = calloc(1, RAM1);
	ram1 = calloc(1, RAM1);
	part.id = 3;
	strcpy(part.desc.h.name, "guest");
	part.desc.h.cpu_mask = 0x6;
	part.mem_count = 2;
	part.mem[0] = (struct mem_region){ RAM_BASE, (hpa_t)(uintptr_t)ram0, RAM1 };
	part.mem[1] = (struct mem_region){ RAM_BASE + RAM1, (hpa_t)(uintptr_t)ram1, RAM1 };
	part.vcpu_count = 2;
	vcpu.part = &part;
	vcpu.index = 1;
}

static s64 call_conv(bool smccc, u64 fn, u64 a0, u64 a1)
{
	struct vm_exit e = { .kind = EXIT_HYPERCALL };
	int before = returns;

	e.hc.fn = fn;
	e.hc.smccc = smccc;
	memset(hc_args, 0, sizeof(hc_args));
	hc_args[0] = a0;
	hc_args[1] = a1;
	hypercall_handle(&vcpu, &e);
	return returns == before ? 999 : last_status;
}

/* x86_64: the plain call number in RAX. */
static s64 call(u64 fn, u64 a0, u64 a1)
{
	return call_conv(false, fn, a0, a1);
}

/* aarch64: an SMCCC ID the arch passed on (vendor-hypervisor fast calls). */
static s64 smccc(u64 fn, u64 a0, u64 a1)
{
	return call_conv(true, fn, a0, a1);
}

static void test_version_and_numbers(void)
{
	CHECK_EQ(call(KEEL_HC_VERSION, 0, 0), KEEL_OK);
	CHECK_EQ(last_res[0], KEEL_ABI_VERSION);
	CHECK_EQ(call(0x77, 0, 0), -KEEL_ENOSYS);
	/* x86_64 has no SMCCC: an SMCCC-shaped number is just unknown. */
	CHECK_EQ(call(KEEL_SMCCC_FN(KEEL_HC_VERSION), 0, 0), -KEEL_ENOSYS);
	CHECK_EQ(call(KEEL_SMCCC_CALL_UID, 0, 0), -KEEL_ENOSYS);
	CHECK_EQ(call(~0ull, 0, 0), -KEEL_ENOSYS);
}

static void test_smccc_ids(void)
{
	CHECK_EQ(smccc(KEEL_SMCCC_FN(KEEL_HC_VERSION), 0, 0), KEEL_OK);
	CHECK_EQ(last_res[0], KEEL_ABI_VERSION);
	/* Unknown IDs, in Keel's range or not, are SMCCC's NOT_SUPPORTED (-1). */
	CHECK_EQ(smccc(KEEL_SMCCC_FN(0x77), 0, 0), -1);
	CHECK_EQ(smccc(KEEL_SMCCC_FN(0xFFFF), 0, 0), -1);
	CHECK_EQ(smccc(KEEL_SMCCC_FN(KEEL_HC_MGMT_FIRST + 0x7f), 0, 0), -KEEL_EPERM);
	part.denied = 0; /* test_privilege_and_lifecycle counts refusals from zero */
	CHECK_EQ(smccc(0x86001234ull, 0, 0), -1);
	/* A plain number is not a Keel call on aarch64: 3 must not shut down. */
	CHECK_EQ(smccc(KEEL_HC_SHUTDOWN, 0, 0), -1);
	CHECK_EQ(stops, 0);
	CHECK_EQ(smccc(KEEL_HC_VERSION, 0, 0), -1);
	/* The general queries, in the SMC32 form SMCCC defines and the SMC64 form. */
	CHECK_EQ(smccc(KEEL_SMCCC_CALL_UID, 0, 0), KEEL_SMCCC_UID0);
	CHECK_EQ(last_res[2], KEEL_SMCCC_UID3);
	CHECK_EQ(smccc(0x8600FF01ull, 0, 0), KEEL_SMCCC_UID0);
	CHECK_EQ(last_res[0], KEEL_SMCCC_UID1);
	CHECK_EQ(smccc(KEEL_SMCCC_CALL_COUNT, 0, 0), KEEL_HC_NR_CALLS);
	CHECK_EQ(smccc(0x8600FF00ull, 0, 0), KEEL_HC_NR_CALLS);
	CHECK_EQ(smccc(0x8600FF03ull, 0, 0), KEEL_ABI_VERSION_MAJOR);
	CHECK_EQ(last_res[0], KEEL_ABI_VERSION_MINOR);
	CHECK_EQ(smccc(0x8600FF02ull, 0, 0), -1);
}

static void test_console_write(void)
{
	memcpy(ram0 + RAM1 - 3, "abc", 3);
	memcpy(ram1, "def\n", 4);
	console_len = 0;
	/* Spans the two regions. */
	CHECK_EQ(call(KEEL_HC_CONSOLE_WRITE, RAM_BASE + RAM1 - 3, 7), KEEL_OK);
	CHECK_EQ(console_len, 7);
	CHECK(memcmp(console_out, "abcdef\n", 7) == 0);
	CHECK_EQ(call(KEEL_HC_CONSOLE_WRITE, RAM_BASE, KEEL_CONSOLE_WRITE_MAX + 1), -KEEL_E2BIG);
	CHECK_EQ(call(KEEL_HC_CONSOLE_WRITE, RAM_BASE - 1, 2), -KEEL_EFAULT);
	CHECK_EQ(call(KEEL_HC_CONSOLE_WRITE, RAM_BASE + 2 * RAM1 - 1, 2), -KEEL_EFAULT);
	CHECK_EQ(call(KEEL_HC_CONSOLE_WRITE, ~0ull - 1, 16), -KEEL_EFAULT);
	CHECK_EQ(call(KEEL_HC_CONSOLE_WRITE, 0, 16), -KEEL_EFAULT);
	CHECK_EQ(console_len, 7); /* nothing printed by the failures */
	CHECK_EQ(call(KEEL_HC_CONSOLE_WRITE, RAM_BASE, 0), KEEL_OK);
}

static void test_self_info(void)
{
	struct keel_self_info si;

	CHECK_EQ(call(KEEL_HC_SELF_INFO, RAM_BASE + 0x100, sizeof(si)), KEEL_OK);
	CHECK_EQ(last_res[0], sizeof(si));
	memcpy(&si, ram0 + 0x100, sizeof(si));
	CHECK_EQ(si.partition_id, 3);
	CHECK(strcmp(si.name, "guest") == 0);
	CHECK_EQ(si.this_vcpu, 1);
	CHECK_EQ(si.vcpu_count, 2);
	CHECK_EQ(si.cpu_mask, 0x6);
	CHECK_EQ(si.region_count, 2);
	CHECK_EQ(si.regions[1].gpa, RAM_BASE + RAM1);
	/* A smaller buffer gets a prefix; bigger ones are clamped. */
	memset(ram0 + 0x2000, 0xee, 64);
	CHECK_EQ(call(KEEL_HC_SELF_INFO, RAM_BASE + 0x2000, 4), KEEL_OK);
	CHECK_EQ(last_res[0], 4);
	CHECK_EQ(ram0[0x2004], 0xee);
	CHECK_EQ(call(KEEL_HC_SELF_INFO, RAM_BASE + 0x2000, 1ull << 40), KEEL_OK);
	CHECK_EQ(last_res[0], sizeof(si));
	CHECK_EQ(call(KEEL_HC_SELF_INFO, RAM_BASE + 0x2000, 0), -KEEL_EINVAL);
	CHECK_EQ(call(KEEL_HC_SELF_INFO, RAM_BASE + 2 * RAM1 - 8, sizeof(si)), -KEEL_EFAULT);
	CHECK_EQ(call(KEEL_HC_SELF_INFO, 0x1000, sizeof(si)), -KEEL_EFAULT);
}

static void test_privilege_and_lifecycle(void)
{
	CHECK_EQ(call(KEEL_HC_MGMT_FIRST, 0, 0), -KEEL_EPERM);
	CHECK_EQ(call(KEEL_HC_MGMT_LAST, 0, 0), -KEEL_EPERM);
	CHECK_EQ(part.denied, 2);
	part.desc.h.flags |= KEEL_PD_MANAGEMENT;
	CHECK_EQ(call(KEEL_HC_MGMT_FIRST, 0, 0), -KEEL_ENOSYS);
	CHECK_EQ(part.denied, 2);
	CHECK_EQ(call(KEEL_HC_SHUTDOWN, 0, 0), 999); /* no return to the guest */
	CHECK_EQ(stops, 1);
	CHECK(!stop_reboot);
	CHECK_EQ(call(KEEL_HC_REBOOT, 0, 0), 999);
	CHECK_EQ(stops, 2);
	CHECK(stop_reboot);
}

static void test_guest_mem(void)
{
	u8 buf[16];

	CHECK(guest_range_is_ram(&part, RAM_BASE, 2 * RAM1));
	CHECK(!guest_range_is_ram(&part, RAM_BASE, 2 * RAM1 + 1));
	CHECK(!guest_range_is_ram(&part, ~0ull, 2));
	CHECK_EQ(guest_copy_to(&part, RAM_BASE + RAM1 - 8, "0123456789abcdef", 16), 0);
	CHECK_EQ(guest_copy_from(&part, buf, RAM_BASE + RAM1 - 8, 16), 0);
	CHECK(memcmp(buf, "0123456789abcdef", 16) == 0);
	CHECK_EQ(guest_zero(&part, RAM_BASE + RAM1 - 4, 8), 0);
	CHECK_EQ(ram1[3], 0);
	CHECK_EQ(ram0[RAM1 - 5], '3');
	{
		u16 v = 0;

		CHECK_EQ(guest_store_u16(&part, RAM_BASE + RAM1 - 2, 0xbeef), 0);
		CHECK_EQ(guest_load_u16(&part, RAM_BASE + RAM1 - 2, &v), 0);
		CHECK_EQ(v, 0xbeef);
		CHECK_EQ(guest_load_u16(&part, RAM_BASE + 1, &v), -KEEL_EFAULT);
		CHECK_EQ(guest_store_u16(&part, RAM_BASE + 2 * RAM1, 1), -KEEL_EFAULT);
		CHECK_EQ(guest_load_u16(&part, 0, &v), -KEEL_EFAULT);
	}
	/* A failed access changes nothing. */
	CHECK_EQ(guest_copy_to(&part, RAM_BASE + 2 * RAM1 - 4, "zzzzzzzz", 8), -KEEL_EFAULT);
	CHECK_EQ(ram1[RAM1 - 4], 0);
}

int main(void)
{
	setup();
	test_version_and_numbers();
	test_smccc_ids();
	test_console_write();
	test_self_info();
	test_privilege_and_lifecycle();
	test_guest_mem();
	free(ram0);
	free(ram1);
	return unit_done("test_hypercall");
}
