/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the arm64 vGICv3 model (arch/aarch64/vgic.c) of a
 * two-vCPU partition: distributor and redistributor registers of any size
 * at any offset, SPI lines, SGIs, the guest timers and PMU, and the list registers
 * the model fills before each entry and reads back after (a host stand-in
 * for the CPU interface holds them; the "guest" acknowledges, completes or
 * leaves what the model placed), and snapshots taken and restored mid-way.
 * Nothing crashes, the model never lists an interrupt twice, and every byte
 * it took comes back.
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
 * The snapshot blob (vgic.c, struct vgic_state then one struct vgic_cpu_state
 * per vCPU): magic, nr_cpus, GICD_CTLR, pad, IROUTER[], then each line as
 * flags, priority, owner, pad; per vCPU: WAKER, pad, then its 32 lines.
 */
#define ST_NR_CPUS 4u
#define ST_CTLR 8u
#define ST_PAD 12u
#define ST_IROUTER 16u
#define ST_SPI (ST_IROUTER + 8u * VGIC_NR_SPIS)
#define ST_CPU (ST_SPI + 4u * VGIC_NR_SPIS)
#define ST_CPU_SIZE (8u + 4u * 32u)
#define ST_SIZE (ST_CPU + PLAT_VCPUS * ST_CPU_SIZE)
#define ST_LEVEL 0x04u /* IRQ_LEVEL */
#define ST_EDGE 0x20u /* IRQ_EDGE */
#define ST_HW 0x40u /* IRQ_HW */

static u8 reset_blob[ST_SIZE]; /* saved right after creation */

/* Restore @blob with the u32 at @off turned into (v & ~clear) | set: refused, and reset. */
static void vgic_refused(struct vdev *d, const u8 *blob, u32 off, u32 clear, u32 set)
{
	static u8 bad[ST_SIZE], again[ST_SIZE];
	u32 v;

	memcpy(bad, blob, ST_SIZE);
	memcpy(&v, bad + off, sizeof(v));
	v = (v & ~clear) | set;
	memcpy(bad + off, &v, sizeof(v));
	if (vdev_restore(d, bad, ST_SIZE) != -KEEL_EINVAL)
		abort(); /* a state the model could never have made was taken */
	if (vdev_save(d, again, ST_SIZE) != (int)ST_SIZE || memcmp(again, reset_blob, ST_SIZE))
		abort(); /* refused, but not reset */
}

/*
 * States no guest could make, at lines and vCPUs chosen by @sel: another
 * vCPU count, GICD_CTLR bits beyond the enables, IROUTER bits its write
 * drops, a timer's hold (IRQ_HW) or any flag unknown, an SPI active on a vCPU
 * that does not exist, a level on an SGI or PPI (only a held timer has one),
 * an SGI not edge-triggered or a PPI that is, WAKER's read-only bits, reserved
 * bytes, a blob a byte short or long. @blob is restored again afterwards.
 */
static void vgic_refuses(struct vdev *d, u8 *blob, u32 sel)
{
	u32 spi = ST_SPI + 4 * (sel % VGIC_NR_SPIS), rt = ST_IROUTER + 8 * (sel % VGIC_NR_SPIS);
	u32 cpu = ST_CPU + ST_CPU_SIZE * (sel % PLAT_VCPUS), line = cpu + 8 + 4 * (sel % 32);
	u32 waker_bit = (sel >> 8) % 32 == 1 ? 2 : (sel >> 8) % 32;

	vgic_refused(d, blob, 0, 0, 0x80000000u);
	vgic_refused(d, blob, ST_NR_CPUS, ~0u, PLAT_VCPUS - 1);
	vgic_refused(d, blob, ST_NR_CPUS, ~0u, PLAT_VCPUS + 1);
	vgic_refused(d, blob, ST_CTLR, 0, 4u << (sel % 30));
	vgic_refused(d, blob, ST_PAD, 0, 1u << (sel % 32));
	vgic_refused(d, blob, rt, 0, 1u << (24 + sel % 7));
	vgic_refused(d, blob, rt + 4, 0, 1u << (8 + sel % 24));
	vgic_refused(d, blob, spi, 0, (sel & 1) ? ST_HW : 0x80u);
	vgic_refused(d, blob, spi, 0, PLAT_VCPUS << 16);
	vgic_refused(d, blob, spi, 0, 1u << (24 + sel % 8));
	vgic_refused(d, blob, cpu, 0, 1u << waker_bit);
	vgic_refused(d, blob, cpu + 4, 0, 1u << (sel % 32));
	vgic_refused(d, blob, line, 0, (sel & 1) ? ST_LEVEL : ST_HW | ST_LEVEL);
	vgic_refused(d, blob, line, 0, (sel & 2) ? ST_HW : 0x80u);
	vgic_refused(d, blob, cpu + 8 + 4 * (sel % 16), ST_EDGE, 0);
	vgic_refused(d, blob, cpu + 8 + 4 * (16 + sel % 16), 0, ST_EDGE);
	vgic_refused(d, blob, line, 0, 1u << (16 + sel % 16));
	if (vdev_restore(d, blob, ST_SIZE - 1) != -KEEL_EINVAL ||
	    vdev_restore(d, blob, ST_SIZE + 1) != -KEEL_EINVAL || vdev_restore(d, blob, ST_SIZE))
		abort();
}

/* A 4-byte register read, as a guest makes it. */
static u32 rd32(struct vdev *dev, u64 off)
{
	u64 v = 0;

	if (dev->ops->read(dev, &plat_vcpus[0], off, 4, &v))
		abort();
	return (u32)v;
}

#define NR_REGS (1 + 7 * 3 + 24 + 6 + 2 * VGIC_NR_SPIS + PLAT_VCPUS * (1 + 7 + 8 + 2))

/*
 * What a guest reads back from every register that holds state: GICD_CTLR,
 * the SPIs' bit banks (group to clear-active), priorities, ICFGR and IROUTER;
 * each redistributor's WAKER, SGI/PPI bit banks, priorities and ICFGR0/1.
 */
static void vgic_regs(u32 out[NR_REGS])
{
	struct vdev *d = plat_part.vdevs[0], *r = plat_part.vdevs[1];
	u32 n = 0;

	out[n++] = rd32(d, 0);
	for (u32 bank = 1; bank < 8; bank++)
		for (u32 w = 0; w < 3; w++)
			out[n++] = rd32(d, 0x80 * bank + 4 * w);
	for (u32 w = 0; w < 24; w++)
		out[n++] = rd32(d, 0x400 + 4 * w);
	for (u32 w = 0; w < 6; w++)
		out[n++] = rd32(d, 0xc00 + 4 * w);
	for (u32 w = 0; w < 2 * VGIC_NR_SPIS; w++)
		out[n++] = rd32(d, 0x6100 + 4 * w);
	for (u32 c = 0; c < PLAT_VCPUS; c++) {
		u64 rd = (u64)c * VPLAT_GICR_STRIDE;

		out[n++] = rd32(r, rd + 0x14);
		for (u32 bank = 1; bank < 8; bank++)
			out[n++] = rd32(r, rd + 0x10000 + 0x80 * bank);
		for (u32 w = 0; w < 8; w++)
			out[n++] = rd32(r, rd + 0x10400 + 4 * w);
		out[n++] = rd32(r, rd + 0x10c00);
		out[n++] = rd32(r, rd + 0x10c04);
	}
	if (n != NR_REGS)
		abort();
}

/*
 * The LRs each vCPU's next entry would get. The flushes are undone by the
 * restore that follows (the list registers are this stand-in's memory).
 */
static void vgic_entries(u64 out[PLAT_VCPUS][NR_LRS])
{
	for (u32 i = 0; i < PLAT_VCPUS; i++) {
		memset(lrs, 0, sizeof(lrs));
		vgic_flush(&plat_vcpus[i]);
		check_lrs();
		memcpy(out[i], lrs, sizeof(lrs));
	}
	memset(lrs, 0, sizeof(lrs));
}

/*
 * The vGIC's snapshot, through the distributor (the redistributors have no
 * ops of their own): saved, checked against the impossible states and put
 * back, where the guest must read the same registers, and each vCPU have the
 * same interrupts pending and get the same LRs as before; then one byte at
 * @pos xored with @x (when @mutate is odd) and restored. A state it takes
 * must save again to the same bytes; one it refuses leaves it reset.
 */
static void vgic_snapshot(u8 mutate, u32 pos, u8 x, u32 sel)
{
	struct vdev *d = vdev_find(&plat_part, VDEV_MMIO, VPLAT_GICD_BASE, 4);
	struct vdev *r = vdev_find(&plat_part, VDEV_MMIO, VPLAT_GICR_BASE, 4);
	static u8 blob[ST_SIZE + 1], again[ST_SIZE + 1];
	static u64 before[PLAT_VCPUS][NR_LRS], after[PLAT_VCPUS][NR_LRS];
	static u32 regs[NR_REGS], regs_again[NR_REGS];
	bool pending[PLAT_VCPUS];

	if (!d || !r || vdev_save(r, blob, sizeof(blob)) != -KEEL_ENOSYS)
		abort();
	if (vdev_save(d, blob, sizeof(blob)) != (int)ST_SIZE ||
	    vdev_save(d, again, ST_SIZE - 1) != -KEEL_E2BIG)
		abort();
	vgic_regs(regs);
	for (u32 i = 0; i < PLAT_VCPUS; i++)
		pending[i] = vgic_pending(&plat_vcpus[i]);
	vgic_entries(before);
	vgic_refuses(d, blob, sel);
	vgic_regs(regs_again);
	if (memcmp(regs, regs_again, sizeof(regs)))
		abort(); /* restored, but the guest reads something else */
	for (u32 i = 0; i < PLAT_VCPUS; i++)
		if (vgic_pending(&plat_vcpus[i]) != pending[i])
			abort(); /* restored, but not as it was */
	vgic_entries(after);
	if (memcmp(before, after, sizeof(before)) || vdev_restore(d, blob, ST_SIZE))
		abort(); /* restored, but it lists other interrupts */
	if (mutate & 1)
		blob[pos % ST_SIZE] ^= x;
	if (vdev_restore(d, blob, ST_SIZE) == 0) {
		if (vdev_save(d, again, sizeof(again)) != (int)ST_SIZE ||
		    memcmp(blob, again, ST_SIZE))
			abort(); /* taken, but not as given */
		return;
	}
	if (vdev_save(d, again, sizeof(again)) != (int)ST_SIZE ||
	    memcmp(reset_blob, again, ST_SIZE))
		abort(); /* refused, but not reset */
}

/*
 * Records of 12 bytes: op, a, b, c, then a 64-bit value. Ops: a register
 * access to the distributor or a redistributor at offset a|b<<8|c<<16 (size
 * and direction from op, GICD_SETSPI_NSR's messages among them); an SPI
 * line or an MBI raised from an LPI; an SGI register write; the vtimer;
 * an entry (flush), the guest's doing, and the exit (sync) on vCPU op & 1;
 * a snapshot (vgic_snapshot: a odd mutates it; the value says where, how,
 * and which lines and vCPU to try impossible states on).
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
	if (vdev_save(plat_part.vdevs[0], reset_blob, ST_SIZE) != (int)ST_SIZE)
		abort();
	for (at = 0; at + 12 <= size; at += 12) {
		const u8 *r = data + at;
		struct vcpu *v = &plat_vcpus[r[0] & 1];
		u64 val, off = (u64)(r[1] | r[2] << 8 | (r[3] & 3) << 16);

		memcpy(&val, r + 4, 8);
		fuzz_this_pcpu = v->pcpu;
		switch ((r[0] >> 1) % 7) {
		case 0:
		case 1:
			plat_vdev_access(v, (r[0] >> 1) % 7, off, r[0], val);
			break;
		case 2:
			/* An SPI line, or an MBI Keel raises from an LPI (any INTID: refused but MBIs). */
			if (r[2] & 2)
				(void)vgic_mbi_raise(&plat_part, r[1] | (u32)r[3] << 8);
			else
				vgic_set_spi(&plat_part, r[1] % (VGIC_NR_SPIS + 32), r[2] & 1);
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
		case 5:
			vgic_snapshot(r[1], (u32)(val & 0xffff), (u8)(val >> 16), (u32)(val >> 32));
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
	vgic_free(&plat_part); /* after every device, as partition teardown does */
	if (pmm_free_bytes() != pool_free)
		abort();
	return 0;
}
