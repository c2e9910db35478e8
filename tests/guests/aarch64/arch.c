/* SPDX-License-Identifier: MIT */
/* aarch64 hooks of the test guests: HVC #0 (SMCCC), SMCCC queries, a fault with no vectors. */
#include "guest.h"

struct hc_result arch_hypercall(uint64_t fn, uint64_t a0, uint64_t a1, uint64_t a2)
{
	register uint64_t x0 __asm__("x0") = fn;
	register uint64_t x1 __asm__("x1") = a0;
	register uint64_t x2 __asm__("x2") = a1;
	register uint64_t x3 __asm__("x3") = a2;
	struct hc_result r;

	__asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) : : "memory");
	r.status = (long)x0;
	r.r1 = x1;
	r.r2 = x2;
	r.r3 = x3;
	return r;
}

uint64_t arch_hc_fn(uint64_t nr)
{
	return KEEL_SMCCC_FN(nr);
}

/* SMCCC: an unknown function ID is NOT_SUPPORTED. */
long arch_hc_unknown_status(void)
{
	return -1;
}

void arch_use_vmcall(bool on)
{
}

const char *arch_conduit_name(void)
{
	return "hvc";
}

uint64_t arch_ram_base(void)
{
	return 0x40000000ull;
}

uint64_t arch_virtio_base(void)
{
	return 0x0a000000ull;
}

uint64_t arch_clock_rate(void)
{
	return arch_clock_hz();
}

uint64_t arch_clock(void)
{
	uint64_t v;

	__asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v) : : "memory");
	return v;
}

uint64_t arch_clock_hz(void)
{
	uint64_t v;

	__asm__ volatile("mrs %0, cntfrq_el0" : "=r"(v));
	return v;
}

/* The MMU is off: every load goes straight to stage 2. */
void arch_map_gpa(uint64_t gpa)
{
}

/* VBAR_EL1 = 0 (no RAM there): the undefined instruction's vector fetch faults too. */
void arch_crash(void)
{
	__asm__ volatile("msr vbar_el1, xzr; isb; udf #0" : : : "memory");
	__builtin_unreachable();
}

/* SMCCC vendor-hypervisor queries: call count, UID and revision. */
bool arch_conduit_test(void)
{
	struct hc_result cnt, uid, rev;
	bool ok;

	cnt = arch_hypercall(KEEL_SMCCC_CALL_COUNT, 0, 0, 0);
	uid = arch_hypercall(KEEL_SMCCC_CALL_UID, 0, 0, 0);
	rev = arch_hypercall(KEEL_SMCCC_REVISION, 0, 0, 0);
	printf("smccc: call count %ld, uid %08x %08x %08x %08x, revision %ld.%lu\n", cnt.status,
	       (uint32_t)uid.status, (uint32_t)uid.r1, (uint32_t)uid.r2, (uint32_t)uid.r3,
	       rev.status, rev.r1);
	ok = cnt.status > 0 && (uint32_t)uid.status == KEEL_SMCCC_UID0 &&
	     uid.r1 == KEEL_SMCCC_UID1 && uid.r2 == KEEL_SMCCC_UID2 && uid.r3 == KEEL_SMCCC_UID3 &&
	     rev.status == KEEL_ABI_VERSION_MAJOR && rev.r1 == KEEL_ABI_VERSION_MINOR;
	if (!ok)
		printf("smccc: unexpected answer to a vendor-hypervisor query\n");
	return ok;
}

void arch_wait_forever(void)
{
	__asm__ volatile("msr daifset, #0xf");
	for (;;)
		__asm__ volatile("wfi");
}

void arch_spin_forever(bool irq)
{
	if (irq)
		__asm__ volatile("msr daifclr, #2");
	for (;;)
		__asm__ volatile("" ::: "memory");
}

/* The MMIO decoder is x86's (arm64 reports the access in ESR): the mode says so and fails. */
bool arch_decode_forms(void)
{
	printf("decode: no instruction decoding on aarch64\n");
	return false;
}

/* CPUID is x86's: the mode says so and fails. */
bool arch_tsc_leaves(void)
{
	printf("tscleaf: no CPUID on aarch64\n");
	return false;
}

/* NMI IPIs and CR8 are x86's: the mode says so and fails. */
bool arch_nmi_conformance(void)
{
	printf("nmi: no NMI or CR8 on aarch64\n");
	return false;
}

/* INIT and SIPI are x86's (PSCI here): the mode says so and fails. */
bool arch_init_sipi_cycles(uint32_t rounds)
{
	printf("initsipi: no INIT/SIPI on aarch64\n");
	return false;
}
