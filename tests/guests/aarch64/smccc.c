/* SPDX-License-Identifier: MIT */
/*
 * SMCCC as firmware and kernels probe it (Arm DEN 0028): the version and
 * feature queries, the vendor-hypervisor general queries, and an unknown ID
 * in every owner's range, fast and yielding, over HVC and SMC. Every unknown
 * ID must answer NOT_SUPPORTED (-1) and do nothing else: the partition that
 * probes must still be here to print its verdict.
 */
#include "guest.h"

#define SMCCC_VERSION 0x80000000u
#define SMCCC_ARCH_FEATURES 0x80000001u
#define SMCCC_VERSION_1_1 0x10001
#define PSCI_VERSION 0x84000000u
#define PSCI_FEATURES 0x8400000au
#define FAST_32 0x80000000u
#define FAST_64 0xc0000000u
#define NOT_SUPPORTED (-1L)
#define OWNERS 64u
#define UNDEFINED_FN 0x1234u /* a function number no owner defines */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static long hvc(uint64_t fid, uint64_t a)
{
	return arch_hypercall(fid, a, 0, 0).status;
}

static long smc(uint64_t fid)
{
	register uint64_t x0 __asm__("x0") = fid;

	__asm__ volatile("smc #0" : "+r"(x0) : : "x1", "x2", "x3", "memory");
	return (long)x0;
}

/* HVC with a non-zero immediate: not an SMCCC call at all. */
static long hvc_imm1(uint64_t fid)
{
	register uint64_t x0 __asm__("x0") = fid;

	__asm__ volatile("hvc #1" : "+r"(x0) : : "x1", "x2", "x3", "memory");
	return (long)x0;
}

static bool want(const char *what, uint64_t fid, long got, long expected)
{
	if (got == expected)
		return true;
	printf("smccc: %s 0x%lx answered %ld, want %ld\n", what, fid, got, expected);
	return false;
}

/* Fast calls of every owner in both conventions, and yielding calls. */
static bool unknown_ids(void)
{
	/* Yielding IDs, Keel's x86 call numbers among them: 3 would be "shutdown". */
	static const uint32_t yielding[] = { 0, 1, 2, 3, 4, 5, 0x100, 0x7ff, 0x01000000,
					     0x06000000, 0x3f001234 };
	unsigned int bad = 0, n = 0;
	uint32_t owner, i;

	for (owner = 0; owner < OWNERS; owner++) {
		uint32_t fn32 = FAST_32 | owner << 24 | UNDEFINED_FN;
		uint32_t fn64 = FAST_64 | owner << 24 | UNDEFINED_FN;

		bad += !want("fast SMC32", fn32, hvc(fn32, 0), NOT_SUPPORTED);
		bad += !want("fast SMC64", fn64, hvc(fn64, 0), NOT_SUPPORTED);
		bad += !want("SMC conduit", fn64, smc(fn64), NOT_SUPPORTED);
		n += 3;
	}
	for (i = 0; i < COUNT(yielding); i++, n++)
		bad += !want("yielding", yielding[i], hvc(yielding[i], 0), NOT_SUPPORTED);
	/* Keel's calls are HVC only: through SMC its VERSION is unknown too. */
	bad += !want("Keel call over SMC", KEEL_SMCCC_FN(KEEL_HC_VERSION),
		     smc(KEEL_SMCCC_FN(KEEL_HC_VERSION)), NOT_SUPPORTED);
	bad += !want("HVC #1", KEEL_SMCCC_FN(KEEL_HC_VERSION),
		     hvc_imm1(KEEL_SMCCC_FN(KEEL_HC_VERSION)), NOT_SUPPORTED);
	n++;
	printf("smccc: %u unknown IDs probed, %u answered otherwise than NOT_SUPPORTED\n", n + 1,
	       bad);
	return bad == 0;
}

bool arch_smccc_conformance(void)
{
	bool ok = true;

	ok &= want("SMCCC_VERSION", SMCCC_VERSION, hvc(SMCCC_VERSION, 0), SMCCC_VERSION_1_1);
	ok &= want("ARCH_FEATURES(ARCH_FEATURES)", SMCCC_ARCH_FEATURES,
		   hvc(SMCCC_ARCH_FEATURES, SMCCC_ARCH_FEATURES), 0);
	ok &= want("ARCH_FEATURES(undefined)", SMCCC_ARCH_FEATURES,
		   hvc(SMCCC_ARCH_FEATURES, FAST_32 | UNDEFINED_FN), NOT_SUPPORTED);
	ok &= want("PSCI_VERSION", PSCI_VERSION, hvc(PSCI_VERSION, 0), 0x10001);
	ok &= want("PSCI_FEATURES(SMCCC_VERSION)", PSCI_FEATURES,
		   hvc(PSCI_FEATURES, SMCCC_VERSION), 0);
	/* The vendor-hypervisor general queries in the SMC32 form SMCCC defines. */
	ok &= want("call UID", 0x8600ff01u, hvc(0x8600ff01u, 0), (long)KEEL_SMCCC_UID0);
	ok &= want("revision", 0x8600ff03u, hvc(0x8600ff03u, 0), KEEL_ABI_VERSION_MAJOR);
	ok &= expect(hvc(0x8600ff00u, 0) > 0);
	ok &= want("Keel VERSION", KEEL_SMCCC_FN(KEEL_HC_VERSION),
		   hvc(KEEL_SMCCC_FN(KEEL_HC_VERSION), 0), KEEL_OK);
	ok &= unknown_ids();
	return ok;
}
