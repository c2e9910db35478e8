/* SPDX-License-Identifier: MIT */
/*
 * INIT and SIPI to a vCPU that already runs, as Linux's CPU hotplug does
 * (offline: the CPU halts with interrupts off; online: INIT, SIPI, SIPI).
 * vCPU 1 starts at a real-mode trampoline that counts once and halts; each
 * round vCPU 0 sends INIT then SIPI (and a second SIPI, which must change
 * nothing) and waits for the count to move by exactly one. Keel once
 * ignored INIT to a started vCPU: only the first round counted.
 *
 * Then a fixed IPI to all but itself, which reaches vCPU 2 too if keel.cfg
 * declares one (max_cpus = 3): a hot vCPU never powered on, with no core.
 * Keel once kicked that vCPU's core, a NULL pointer: a host panic any guest
 * could cause.
 */
#include "cpu.h"
#include "guest.h"

#define TRAMPOLINE 0x10000ull /* below 1 MiB, in RAM: the SIPI vector is 0x10 */
#define COUNT_AT (TRAMPOLINE + 0x100)
#define MSR_APIC_BASE 0x1b
#define MSR_X2APIC_ICR 0x830
#define APIC_BASE_X2APIC (3u << 10) /* EN and EXTD */
#define ICR_INIT 0x4500u	      /* INIT, level assert */
#define ICR_SIPI 0x4600u	      /* start-up, with the vector in bits 7:0 */
#define ICR_FIXED_ALL_BUT_SELF 0xc4000u /* fixed, assert, shorthand "all excluding self" */
#define IPI_VECTOR 0xf0u		/* vCPU 1 halts with interrupts off: it stays pending */
#define POLLS 2000000u

/* Real mode: lock inc word cs:[0x100]; cli; hlt; jmp to the hlt. */
static const uint8_t trampoline[] = { 0x2e, 0xf0, 0xff, 0x06, 0x00, 0x01,
				      0xfa, 0xf4, 0xeb, 0xfd };

static uint16_t count(void)
{
	return *(volatile uint16_t *)(uintptr_t)COUNT_AT;
}

/* Poll until vCPU 1 has counted @want, at most POLLS reads. */
static bool reached(uint16_t want)
{
	for (uint32_t i = 0; i < POLLS && count() != want; i++)
		__asm__ volatile("pause");
	return count() == want;
}

static void ipi_to_1(uint32_t lo)
{
	wrmsr(MSR_X2APIC_ICR, 1ull << 32 | lo); /* x2APIC ID 1 */
}

bool arch_init_sipi_cycles(uint32_t rounds)
{
	uint32_t r;
	bool ok = true;

	memcpy((void *)(uintptr_t)TRAMPOLINE, trampoline, sizeof(trampoline));
	*(volatile uint16_t *)(uintptr_t)COUNT_AT = 0;
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_X2APIC);
	for (r = 0; r < rounds && ok; r++) {
		ipi_to_1(ICR_INIT);
		ipi_to_1(ICR_SIPI | (uint32_t)(TRAMPOLINE >> 12));
		ok = reached((uint16_t)(r + 1));
		ipi_to_1(ICR_SIPI | (uint32_t)(TRAMPOLINE >> 12)); /* ignored: vCPU 1 runs */
		if (ok && reached((uint16_t)(r + 2))) {
			printf("initsipi: round %u: the second SIPI restarted vCPU 1\n", r);
			ok = false;
		}
		if (!ok)
			printf("initsipi: round %u: count %u, want %u\n", r, count(), r + 1);
	}
	printf("initsipi: %u rounds of INIT, SIPI, SIPI to vCPU 1: count %u\n", r, count());
	wrmsr(MSR_X2APIC_ICR, ICR_FIXED_ALL_BUT_SELF | IPI_VECTOR);
	printf("initsipi: a fixed IPI to all but itself sent, Keel still here\n");
	return ok && count() == rounds;
}
