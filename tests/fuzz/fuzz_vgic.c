/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the arm64 vGICv3 model (arch/aarch64/vgic.c) of a
 * two-vCPU partition: distributor and redistributor registers of any size
 * at any offset, SPI lines, SGIs, the guest timers and PMU, and the list registers
 * the model fills before each entry and reads back after (a host stand-in
 * for the CPU interface holds them; the "guest" acknowledges, completes or
 * leaves what the model placed). Nothing crashes, the model never lists an
 * interrupt twice, and every byte it took comes back.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/arch.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/vdev.h>

#include "plat_env.h"
#include "vplat.h"

#define LR_STATE_SHIFT 62
#define LR_PENDING (1ull << 62)
#define LR_ACTIVE (1ull << 63)
#define NR_LRS 4u

static u64 lrs[NR_LRS];

/* The virtual CPU interface, in memory (vgic_hw.c on the real thing). */
u64 vgic_hw_lr_read(u32 n)
{
	if (n >= NR_LRS)
		abort();
	return lrs[n];
}

void vgic_hw_lr_write(u32 n, u64 v)
{
	if (n >= NR_LRS)
		abort();
	lrs[n] = v;
}

u32 vgic_hw_nr_lrs(void)
{
	return NR_LRS;
}

void vgic_hw_set_hcr(u64 hcr)
{
}

/* The guest timers' and the PMU's output lines, as the input sets them (vtimer.c reads hardware). */
static const u32 guest_ppis[3] = { 27, 30, 23 };
static bool ppi_line[3];

static int guest_ppi_index(u32 intid)
{
	for (int i = 0; i < 3; i++)
		if (guest_ppis[i] == intid)
			return i;
	abort(); /* the model asked about a line that is not a guest-owned PPI */
}

bool vtimer_output(u32 intid)
{
	return ppi_line[guest_ppi_index(intid)];
}

/* The model lets go of a held physical PPI: only ever a guest-owned one. */
void gic_ppi_deactivate(u32 intid)
{
	guest_ppi_index(intid);
}

void vgic_hw_cpuif_reset(void)
{
	memset(lrs, 0, sizeof(lrs));
}

/* Each listed interrupt once (vINTID in bits 31:0), as the architecture requires. */
static void check_lrs(void)
{
	for (u32 i = 0; i < NR_LRS; i++)
		for (u32 j = 0; j < i; j++)
			if ((lrs[i] >> LR_STATE_SHIFT) && (lrs[j] >> LR_STATE_SHIFT) &&
			    (u32)lrs[i] == (u32)lrs[j])
				abort();
}

/* What a guest may do to a listed interrupt: take it, finish it, or leave it. */
static void guest_touches(u8 how)
{
	for (u32 i = 0; i < NR_LRS; i++) {
		u64 state = lrs[i] >> LR_STATE_SHIFT;

		if (!state)
			continue;
		if (((how >> (i % 4)) & 1) && (lrs[i] & LR_PENDING))
			lrs[i] = (lrs[i] & ~LR_PENDING) | LR_ACTIVE; /* acknowledged */
		else if (((how >> 4 >> (i % 4)) & 1) && (lrs[i] & LR_ACTIVE))
			lrs[i] &= ~LR_ACTIVE; /* deactivated */
	}
}

/*
 * Records of 12 bytes: op, a, b, c, then a 64-bit value. Ops: a register
 * access to the distributor or a redistributor at offset a|b<<8|c<<16 (size
 * and direction from op); an SPI line; an SGI register write; the vtimer;
 * an entry (flush), the guest's doing, and the exit (sync) on vCPU op & 1.
 */
int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	size_t at;

	plat_setup();
	memset(lrs, 0, sizeof(lrs));
	if (vgic_create(&plat_part))
		abort();
	for (u32 i = 0; i < 2; i++)
		vgic_vcpu_reset(&plat_vcpus[i]);
	for (at = 0; at + 12 <= size; at += 12) {
		const u8 *r = data + at;
		struct vcpu *v = &plat_vcpus[r[0] & 1];
		u64 val, off = (u64)(r[1] | r[2] << 8 | (r[3] & 3) << 16);

		memcpy(&val, r + 4, 8);
		fuzz_this_pcpu = v->pcpu;
		switch ((r[0] >> 1) % 6) {
		case 0:
		case 1:
			plat_vdev_access(v, (r[0] >> 1) % 6, off, r[0], val);
			break;
		case 2:
			vgic_set_spi(&plat_part, r[1] % 96, r[2] & 1);
			break;
		case 3:
			vgic_sgi_write(v, val);
			break;
		case 4:
			ppi_line[0] = r[2] & 1;
			ppi_line[1] = (r[2] >> 1) & 1;
			ppi_line[2] = (r[2] >> 2) & 1;
			if (r[2] & 8)
				vgic_inject_timer(v, guest_ppis[r[1] % 3]);
			break;
		default:
			memset(lrs, 0, sizeof(lrs));
			vgic_flush(v);
			check_lrs();
			guest_touches(r[1]);
			vgic_sync(v);
			(void)vgic_pending(v);
			break;
		}
	}
	vdev_destroy_all(&plat_part);
	if (pmm_free_bytes() != pool_free)
		abort();
	return 0;
}
