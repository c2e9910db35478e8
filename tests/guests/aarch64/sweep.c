/* SPDX-License-Identifier: MIT */
/*
 * The attack suite's aarch64 parts: every system register encoding (op0 2
 * and 3) read and written back through generated MRS/MSR instructions, a
 * vGIC storm (virtual timer at its shortest period, SGIs to ourselves),
 * exception loops, and the guest-physical holes worth probing.
 */
#include "guest.h"

#define EC_UNKNOWN 0x00
#define EC_SYSREG 0x18
#define EC_BRK 0x3c
#define EC_DABT_CUR 0x25

static uint64_t faults;

#define EC_FP 0x07 /* FP/SIMD access with CPACR_EL1.FPEN clear */
#define EC_SVE 0x19
#define EC_SME 0x1d

bool arch_trap_skip(struct trap *t)
{
	faults++;
	if (t->vector != EC_UNKNOWN && t->vector != EC_SYSREG && t->vector != EC_FP &&
	    t->vector != EC_SVE && t->vector != EC_SME)
		return false;
	t->pc += 4;
	return true;
}

/* MRS X0 / MSR X0 of one encoding, then RET; run from a buffer we rewrite. */
static uint32_t code[2] __attribute__((aligned(64)));

static uint64_t run_code(uint32_t insn, uint64_t x0)
{
	uint64_t (*fn)(uint64_t) = (uint64_t(*)(uint64_t))(uintptr_t)code;

	code[0] = insn;
	code[1] = 0xd65f03c0; /* RET */
	__asm__ volatile("dsb sy; ic iallu; dsb sy; isb" ::: "memory");
	return fn(x0);
}

static uint32_t sysreg_insn(bool read, uint32_t op0, uint32_t op1, uint32_t crn, uint32_t crm,
			    uint32_t op2)
{
	return 0xd5100000u | (read ? 1u << 21 : 0) | (op0 - 2) << 19 | op1 << 16 | crn << 12 |
	       crm << 8 | op2 << 5; /* Rt = X0 */
}

bool arch_sweep_sysregs(void)
{
	uint64_t total = 0, readable = 0, writable = 0;
	uint32_t op0, op1, crn, crm, op2;

	for (op0 = 2; op0 <= 3; op0++)
		for (op1 = 0; op1 < 8; op1++)
			for (crn = 0; crn < 16; crn++)
				for (crm = 0; crm < 16; crm++)
					for (op2 = 0; op2 < 8; op2++) {
						uint64_t before = faults, v;

						v = run_code(sysreg_insn(true, op0, op1, crn, crm, op2),
							     0);
						readable += faults == before;
						before = faults;
						run_code(sysreg_insn(false, op0, op1, crn, crm, op2), v);
						writable += faults == before;
						total++;
					}
	printf("sweep: %lu system register encodings (op0 2 and 3) read and written back: %lu readable, %lu writable, the rest undefined\n",
	       total, readable, writable);
	return total == 2 * 8 * 16 * 16 * 8;
}

bool arch_sweep_ports(void)
{
	printf("sweep: no I/O ports on aarch64\n");
	return true;
}

#define GICD_BASE 0x08000000ull
#define GICR_BASE 0x080a0000ull
#define GICR_SGI (GICR_BASE + 0x10000)
#define PPI_VTIMER 27u
#define SGI_STORM 1u

static void mmio_w32(uint64_t a, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)a = v;
}

static uint32_t mmio_r32(uint64_t a)
{
	return *(volatile uint32_t *)(uintptr_t)a;
}

static volatile uint64_t storm_count;
static uint64_t storm_period; /* timer ticks: 20 us, so the loop still runs between */

static bool storm_trap(struct trap *t)
{
	uint64_t intid;

	if (t->vector != 0x101) /* IRQ */
		return false;
	__asm__ volatile("mrs %0, s3_0_c12_c12_0" : "=r"(intid)); /* ICC_IAR1_EL1 */
	if ((intid & 0xffffff) == PPI_VTIMER)
		__asm__ volatile("msr cntv_tval_el0, %0; isb" ::"r"(storm_period));
	if ((intid & 0xffffff) < 1020) {
		__asm__ volatile("msr s3_0_c12_c12_1, %0" ::"r"(intid)); /* ICC_EOIR1_EL1 */
		storm_count++;
	}
	return true;
}

uint64_t arch_storm(uint64_t seconds)
{
	uint64_t hz = arch_clock_hz(), end;

	storm_period = hz / 50000 ? hz / 50000 : 1;
	trap_install(storm_trap);
	mmio_w32(GICD_BASE, 0x13); /* ARE, both groups */
	mmio_w32(GICR_BASE + 0x14, mmio_r32(GICR_BASE + 0x14) & ~2u); /* awake */
	mmio_w32(GICR_SGI + 0x80, 0xffffffffu); /* group 1 */
	mmio_w32(GICR_SGI + 0x100, 1u << SGI_STORM | 1u << PPI_VTIMER);
	__asm__ volatile("msr s3_0_c4_c6_0, %0" ::"r"(0xffull)); /* ICC_PMR_EL1 */
	__asm__ volatile("msr s3_0_c12_c12_7, %0; isb" ::"r"(1ull)); /* ICC_IGRPEN1_EL1 */
	__asm__ volatile("msr cntv_tval_el0, %0; msr cntv_ctl_el0, %1; isb" ::"r"(1ull), "r"(1ull));
	__asm__ volatile("msr daifclr, #2");
	end = arch_clock() + seconds * hz;
	while (arch_clock() < end) {
		/* ICC_SGI1R_EL1: INTID 1 to Aff0 0 (ourselves). */
		__asm__ volatile("msr s3_0_c12_c11_5, %0; isb" ::"r"((uint64_t)SGI_STORM << 24 | 1));
		delay(20);
	}
	__asm__ volatile("msr daifset, #2");
	__asm__ volatile("msr cntv_ctl_el0, %0; isb" ::"r"(0ull));
	return storm_count;
}

static bool loop_trap(struct trap *t)
{
	return t->vector == EC_BRK || t->vector == EC_DABT_CUR; /* the same instruction again */
}

void arch_exception_loop(const char *kind)
{
	static uint64_t buf[2];

	trap_install(loop_trap);
	if (!strcmp(kind, "ac")) {
		uint64_t sctlr;

		__asm__ volatile("mrs %0, sctlr_el1" : "=r"(sctlr));
		__asm__ volatile("msr sctlr_el1, %0; isb" ::"r"(sctlr | 2)); /* A: alignment checks */
		for (;;)
			__asm__ volatile("ldr x1, [%0, #1]" ::"r"(buf) : "x1", "memory");
	}
	for (;;)
		__asm__ volatile("brk #0");
}

/* Both loops stay at EL1: the guest's own exceptions never reach Keel on aarch64. */
bool arch_exception_loop_exits(const char *kind)
{
	return false;
}

static const uint64_t holes[] = {
	0x00000000ull, /* the host's flash */
	0x08080000ull, /* the host GIC's ITS */
	0x09010000ull, /* the host's RTC */
	0x09020000ull, /* the host's fw_cfg */
	0x10000000ull, /* the host's PCIe MMIO window */
	0x3eff0000ull, /* the host's PCIe I/O window */
	0x4010000000ull, /* the host's PCIe configuration space */
	0x8000000000ull, /* far above any partition's RAM */
};

unsigned int arch_hole_addrs(const uint64_t **addrs)
{
	*addrs = holes;
	return sizeof(holes) / sizeof(holes[0]);
}
