/* SPDX-License-Identifier: MIT */
/*
 * The TSC rate in CPUID's architectural leaves, where the CPU has them:
 * 0x15 (TSC = crystal Hz * EBX / EAX) must agree with the rate Keel's own
 * timing leaf 0x40000010 gives (kHz), so Linux on an Intel host learns it
 * without calibrating; 0x16 must give a base frequency. Where the host's maximum basic
 * leaf is below 0x15, the guest's is too (a leaf above the maximum would
 * repeat the last one on Intel).
 */
#include "cpu.h"
#include "guest.h"

#define CPUID_KEEL_TIMING 0x40000010u

static bool check(const char *what, bool ok)
{
	printf("tscleaf: %-52s %s\n", what, ok ? "ok" : "WRONG");
	return ok;
}

static uint64_t diff(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

bool arch_tsc_leaves(void)
{
	uint32_t max = cpuid(0, 0).a;
	uint64_t khz = cpuid(CPUID_KEEL_TIMING, 0).a, hz;
	struct cpuid c;
	bool ok = check("Keel's timing leaf gives a TSC rate", khz != 0);

	printf("tscleaf: max basic leaf 0x%x, TSC %lu kHz (leaf 0x40000010)\n", max, khz);
	if (max < 0x15)
		return check("no leaf 0x15 (the host has none either)", ok);
	c = cpuid(0x15, 0);
	hz = c.a ? (uint64_t)c.c * c.b / c.a : 0;
	printf("tscleaf: leaf 0x15: EAX %u EBX %u ECX %u -> %lu Hz\n", c.a, c.b, c.c, hz);
	ok &= check("leaf 0x15 enumerates the ratio and the crystal", c.a && c.b && c.c);
	ok &= check("leaf 0x15 gives the TSC rate (within 0.1%)", diff(hz / 1000, khz) <= khz / 1000 + 1);
	if (max < 0x16)
		return ok;
	c = cpuid(0x16, 0);
	printf("tscleaf: leaf 0x16: base %u MHz\n", c.a & 0xffff);
	/* The CPU's nominal base, as the host says (Bochs: 3500 MHz for a 50 MHz TSC). */
	ok &= check("leaf 0x16 enumerates a base frequency", (c.a & 0xffff) != 0);
	return ok;
}
