/* SPDX-License-Identifier: MIT */
/*
 * The virtual GICv3 of a partition: distributor and one redistributor per
 * vCPU emulated as MMIO windows; interrupts reach the guest through the ICH
 * list registers. The model below is the truth: the list registers carry the
 * most urgent interrupts of a vCPU only while it runs (flushed before entry,
 * synced back and cleared after each exit).
 */
#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/spinlock.h>
#include <keel/vdev.h>
#include <keel/vfio.h>

#include "aarch64.h"
#include "vplat.h"

#define VGIC_NR_IRQS (GIC_SPI_BASE + VGIC_NR_SPIS)
#define VGIC_NO_TARGET 0xffu
#define VGIC_PRIO_DEFAULT 0xa0u

/* Distributor registers (offsets in its 64 KiB window). */
#define GICD_CTLR 0x0000
#define GICD_TYPER 0x0004
#define GICD_IIDR 0x0008
#define GICD_SETSPI_NSR 0x0040
#define GICD_CLRSPI_NSR 0x0048
#define GICD_IGROUPR 0x0080
#define GICD_ISENABLER 0x0100
#define GICD_ICENABLER 0x0180
#define GICD_ISPENDR 0x0200
#define GICD_ICPENDR 0x0280
#define GICD_ISACTIVER 0x0300
#define GICD_ICACTIVER 0x0380
#define GICD_BITS_END 0x0400
#define GICD_IPRIORITYR 0x0400
#define GICD_ICFGR 0x0c00
#define GICD_IROUTER 0x6000
#define GICD_PIDR2 0xffe8

#define GICD_CTLR_EN_G0 BIT(0)
#define GICD_CTLR_EN_G1 BIT(1)
#define GICD_CTLR_ARE BIT(4)
#define GICD_CTLR_DS BIT(6)
#define GIC_PIDR2_V3 0x3bu /* ArchRev 3 in bits [7:4] */
#define GICD_TYPER_IDBITS(n) ((u32)((n)-1) << 19)
#define GICD_TYPER_MBIS BIT(16)
#define GICD_SETSPI_INTID 0x1fffu

/* Redistributor: RD frame, then the SGI frame 64 KiB above it. */
#define GICR_CTLR 0x0000
#define GICR_IIDR 0x0004
#define GICR_TYPER 0x0008
#define GICR_WAKER 0x0014
#define GICR_PIDR2 0xffe8
#define GICR_SGI 0x10000
#define GICR_TYPER_LAST BIT(4)
#define GICR_WAKER_SLEEP BIT(1)
#define GICR_WAKER_ASLEEP BIT(2)
#define GICR_ICFGR0 (GICR_SGI + GICD_ICFGR)
#define GICR_ICFGR1 (GICR_SGI + GICD_ICFGR + 4)

/* ICH_LR<n>_EL2 */
#define LR_PENDING BIT(62)
#define LR_ACTIVE BIT(63)
#define LR_HW BIT(61)
#define LR_GROUP1 BIT(60)
#define LR_EOI BIT(41) /* maintenance interrupt on deactivation (HW = 0) */
#define LR_PRIO(p) ((u64)(p) << 48)
#define LR_PINTID(i) ((u64)(i) << 32)

/* ICH_HCR_EL2 */
#define ICH_HCR_EN BIT(0)
#define ICH_HCR_NPIE BIT(3)

/* struct vgic_irq flags */
#define IRQ_ENABLED BIT(0)
#define IRQ_LATCH BIT(1) /* pending: an edge, an SGI, or ISPENDR */
#define IRQ_LEVEL BIT(2) /* the input line of a level-sensitive SPI */
#define IRQ_ACTIVE BIT(3)
#define IRQ_GROUP1 BIT(4)
#define IRQ_EDGE BIT(5)
#define IRQ_HW BIT(6) /* a guest timer: its physical PPI is held active for this line */
/* What can make a line a flush candidate: without these it is neither pending nor active. */
#define IRQ_LIVE (IRQ_LATCH | IRQ_LEVEL | IRQ_ACTIVE)
#define VGIC_SPI_WORDS ((VGIC_NR_SPIS + 63) / 64)

struct vgic_irq {
	u8 flags;
	u8 prio;
	u8 owner; /* SPIs: the vCPU whose LR last held it (keeps an active SPI there) */
	u8 pad;
};

struct vgic_cpu {
	struct vgic_irq irq[GIC_SPI_BASE]; /* SGIs and PPIs */
	u32 live; /* bit n: irq[n] may have IRQ_LIVE flags (a superset, pruned by the walk) */
	u32 waker;
	u32 lr_count; /* list registers in use while it runs */
	u16 lr_intid[VGIC_MAX_LRS];
	u8 lr_latch[VGIC_MAX_LRS]; /* the latch moved into the LR */
};

struct vgic {
	struct vdev gicd, gicr;
	struct spinlock lock;
	struct partition *part;
	u64 alloc_size;
	u32 ctlr;
	u32 nr_cpus;
	struct vgic_irq spi[VGIC_NR_SPIS];
	u64 irouter[VGIC_NR_SPIS];
	u8 spi_target[VGIC_NR_SPIS]; /* vCPU index from irouter, or VGIC_NO_TARGET */
	u64 spi_live[VGIC_SPI_WORDS]; /* as vgic_cpu.live, for the SPIs */
	struct vgic_cpu cpu[];
};

/* ---- The model ---------------------------------------------------------- */

static struct vgic_irq *vgic_irq(struct vgic *g, u32 cpu, u32 intid)
{
	if (intid < GIC_SPI_BASE)
		return cpu < g->nr_cpus ? &g->cpu[cpu].irq[intid] : NULL;
	if (intid < VGIC_NR_IRQS)
		return &g->spi[intid - GIC_SPI_BASE];
	return NULL;
}

/*
 * Note that @intid may have just gained IRQ_LIVE flags. Every line whose flags
 * hold any of them has its bit set; a set bit whose line has none left is
 * cleared by vgic_live_collect(), so the entry path only looks at those lines.
 */
static void vgic_mark(struct vgic *g, u32 cpu, u32 intid)
{
	if (intid < GIC_SPI_BASE) {
		if (cpu < g->nr_cpus)
			g->cpu[cpu].live |= 1u << intid;
	} else if (intid < VGIC_NR_IRQS) {
		u32 spi = intid - GIC_SPI_BASE;

		g->spi_live[spi / 64] |= 1ull << (spi % 64);
	}
}

static bool vgic_irq_pending(const struct vgic_irq *q)
{
	return (q->flags & IRQ_LATCH) || ((q->flags & IRQ_LEVEL) && !(q->flags & IRQ_EDGE));
}

/*
 * The vCPU an SPI goes to: where it is active until the guest is done with
 * it (a GIC does not hand an active interrupt to a second CPU), else its
 * IROUTER target.
 */
static u32 vgic_spi_dest(const struct vgic *g, u32 spi)
{
	const struct vgic_irq *q = &g->spi[spi];

	return (q->flags & IRQ_ACTIVE) ? q->owner : g->spi_target[spi];
}

/* Would @intid be forwarded to vCPU @cpu now (pending, enabled, routed)? */
static bool vgic_irq_deliverable(struct vgic *g, u32 cpu, u32 intid)
{
	const struct vgic_irq *q = vgic_irq(g, cpu, intid);

	if (!q || !(q->flags & IRQ_ENABLED) || !vgic_irq_pending(q))
		return false;
	if (intid < GIC_SPI_BASE)
		return true;
	if (vgic_spi_dest(g, intid - GIC_SPI_BASE) != cpu)
		return false;
	return g->ctlr & ((q->flags & IRQ_GROUP1) ? GICD_CTLR_EN_G1 : GICD_CTLR_EN_G0);
}

static bool vgic_irq_is_candidate(struct vgic *g, u32 cpu, u32 intid)
{
	if (intid >= GIC_SPI_BASE && vgic_spi_dest(g, intid - GIC_SPI_BASE) != cpu)
		return false;
	return (vgic_irq(g, cpu, intid)->flags & IRQ_ACTIVE) || vgic_irq_deliverable(g, cpu, intid);
}

static void vgic_kick(struct vgic *g, u32 cpu)
{
	struct vcpu *v = cpu < g->part->vcpu_count ? g->part->vcpus[cpu] : NULL;
	/* A hot-pluggable vCPU has a core only while on (NULL before its first CPU_ON). */
	struct pcpu *c = v ? READ_ONCE(v->pcpu) : NULL;

	if (c && c != pcpu_this() && READ_ONCE(v->state) != VCPU_OFF)
		pcpu_kick(c);
}

static void vgic_kick_all(struct vgic *g)
{
	for (u32 i = 0; i < g->nr_cpus; i++)
		vgic_kick(g, i);
}

static u8 vgic_route(struct vgic *g, u64 router)
{
	u64 aff = router & 0xff00ffffffull;

	if (router & BIT(31)) /* 1 of N: any vCPU will do, take the boot vCPU */
		return 0;
	for (u32 i = 0; i < g->nr_cpus; i++)
		if ((vplat_mpidr(i) & 0xff00ffffffull) == aff)
			return (u8)i;
	return VGIC_NO_TARGET;
}

static void vgic_cpu_clear(struct vgic_cpu *vc)
{
	memset(vc, 0, sizeof(*vc));
	vc->waker = GICR_WAKER_SLEEP;
	for (u32 i = 0; i < GIC_SPI_BASE; i++) {
		vc->irq[i].prio = VGIC_PRIO_DEFAULT;
		if (i < 16)
			vc->irq[i].flags = IRQ_EDGE; /* SGIs are edge-triggered */
	}
}

static void vgic_dist_clear(struct vgic *g)
{
	g->ctlr = 0;
	for (u32 i = 0; i < VGIC_NR_SPIS; i++) {
		g->spi[i] = (struct vgic_irq){ .prio = VGIC_PRIO_DEFAULT };
		g->irouter[i] = 0;
		g->spi_target[i] = 0;
	}
	for (u32 k = 0; k < VGIC_SPI_WORDS; k++)
		g->spi_live[k] = 0;
}

/* ---- Entry and exit ----------------------------------------------------- */

static u64 vgic_lr_value(struct vgic_cpu *vc, u32 n, u32 intid, struct vgic_irq *q, bool pending)
{
	u64 lr = intid | LR_PRIO(q->prio);

	if (q->flags & IRQ_GROUP1)
		lr |= LR_GROUP1;
	if (q->flags & IRQ_ACTIVE)
		lr |= LR_ACTIVE;
	vc->lr_latch[n] = 0;
	/* A hardware interrupt may not be pending and active in an LR. */
	if (pending && !((q->flags & IRQ_HW) && (q->flags & IRQ_ACTIVE))) {
		lr |= LR_PENDING;
		vc->lr_latch[n] = !!(q->flags & IRQ_LATCH);
		q->flags &= ~IRQ_LATCH;
	}
	if (q->flags & IRQ_HW)
		lr |= LR_HW | LR_PINTID(intid);
	else if (!(q->flags & IRQ_EDGE))
		lr |= LR_EOI; /* resample the line once the guest is done */
	return lr;
}

/*
 * The lines that may be pending or active for @cpu, by ascending INTID, into
 * @out: its own SGIs/PPIs and the SPIs that go to it. Every other line is
 * neither pending nor active for it. Drops live bits that went stale.
 */
static u32 vgic_live_collect(struct vgic *g, u32 cpu, u16 *out)
{
	struct vgic_cpu *vc = &g->cpu[cpu];
	u32 n = 0;

	for (u32 w = vc->live; w; w &= w - 1) {
		u32 i = (u32)__builtin_ctz(w);

		if (vc->irq[i].flags & IRQ_LIVE)
			out[n++] = (u16)i;
		else
			vc->live &= ~(1u << i);
	}
	for (u32 k = 0; k < VGIC_SPI_WORDS; k++) {
		for (u64 b = g->spi_live[k]; b; b &= b - 1) {
			u32 bit = (u32)__builtin_ctzll(b), spi = k * 64 + bit;

			if (!(g->spi[spi].flags & IRQ_LIVE))
				g->spi_live[k] &= ~(1ull << bit);
			else if (vgic_spi_dest(g, spi) == cpu)
				out[n++] = (u16)(spi + GIC_SPI_BASE);
		}
	}
	return n;
}

/*
 * Highest-priority deliverable interrupt of @cpu not yet in an LR, as an
 * index into @cand (ascending INTIDs: the lowest INTID wins a tie), or -1.
 */
static int vgic_next_pending(struct vgic *g, u32 cpu, const u16 *cand, u32 n, const u8 *placed)
{
	int best = -1;
	u32 best_prio = 0x100;

	for (u32 k = 0; k < n; k++) {
		u32 i = cand[k];

		if (placed[k] || !vgic_irq_deliverable(g, cpu, i))
			continue;
		if (vgic_irq(g, cpu, i)->prio < best_prio) {
			best = (int)k;
			best_prio = vgic_irq(g, cpu, i)->prio;
		}
	}
	return best;
}

static void vgic_place(struct vgic *g, struct vgic_cpu *vc, u32 cpu, u32 intid)
{
	struct vgic_irq *q = vgic_irq(g, cpu, intid);
	u32 n = vc->lr_count++;

	vc->lr_intid[n] = (u16)intid;
	q->owner = (u8)cpu;
	vgic_hw_lr_write(n, vgic_lr_value(vc, n, intid, q, vgic_irq_deliverable(g, cpu, intid)));
}

/*
 * Nothing may be pending or active for @vc: no live SGI/PPI of its own and
 * no live SPI at all (whoever it is routed to). Read without the lock, on
 * the vCPU's own CPU with interrupts off: a line another CPU marks live
 * after this read comes with a kick, whose IPI stays pending here and ends
 * the guest entry at once, so the next flush places it.
 */
static bool vgic_nothing_live(struct vgic *g, struct vgic_cpu *vc)
{
	if (__atomic_load_n(&vc->live, __ATOMIC_RELAXED))
		return false;
	for (u32 k = 0; k < VGIC_SPI_WORDS; k++)
		if (__atomic_load_n(&g->spi_live[k], __ATOMIC_RELAXED))
			return false;
	return true;
}

/* vgic_flush with lines that may be live: into the LRs, under the lock. */
static __attribute__((noinline)) void vgic_flush_live(struct vcpu *vcpu, struct vgic *g,
						      struct vgic_cpu *vc)
{
	u16 cand[VGIC_NR_IRQS];
	u8 placed[VGIC_NR_IRQS];
	u64 hcr = ICH_HCR_EN;
	unsigned long flags;
	u32 n;
	int next;

	flags = spin_lock_irqsave(&g->lock);
	/* Only lines that may be pending or active can go into an LR. */
	n = vgic_live_collect(g, vcpu->index, cand);
	for (u32 k = 0; k < n; k++)
		placed[k] = 0;
	/* Active ones first: the guest must find them to deactivate them. */
	for (u32 k = 0; k < n && vc->lr_count < vgic_hw_nr_lrs(); k++) {
		if (vgic_irq_is_candidate(g, vcpu->index, cand[k]) &&
		    (vgic_irq(g, vcpu->index, cand[k])->flags & IRQ_ACTIVE)) {
			placed[k] = 1;
			vgic_place(g, vc, vcpu->index, cand[k]);
		}
	}
	while (vc->lr_count < vgic_hw_nr_lrs() &&
	       (next = vgic_next_pending(g, vcpu->index, cand, n, placed)) >= 0) {
		placed[next] = 1;
		vgic_place(g, vc, vcpu->index, cand[next]);
	}
	/* More than fits: come back when the guest has taken what is there. */
	if (vgic_next_pending(g, vcpu->index, cand, n, placed) >= 0)
		hcr |= ICH_HCR_NPIE;
	vgic_hw_set_hcr(hcr);
	spin_unlock_irqrestore(&g->lock, flags);
}

void vgic_flush(struct vcpu *vcpu)
{
	struct vgic *g = vcpu->part->arch.vgic;
	struct vgic_cpu *vc;

	if (!g || vcpu->index >= g->nr_cpus)
		return;
	vc = &g->cpu[vcpu->index];
	/* The common case (a hypercall, an MMIO exit): no LR to fill, no lock, no frame. */
	if (vgic_nothing_live(g, vc)) {
		vgic_hw_set_hcr(ICH_HCR_EN);
		return;
	}
	vgic_flush_live(vcpu, g, vc);
}

/*
 * A guest timer (or the PMU) whose physical PPI is held for it: its line
 * follows the output, sampled here on the vCPU's own CPU. A line the guest
 * disabled or masked before taking the interrupt is no longer pending (as
 * on hardware); unless the guest has it active, the physical PPI is
 * deactivated so that the timer can fire again.
 */
static void vgic_sync_timer(struct vgic *g, u32 cpu, u32 intid)
{
	struct vgic_irq *q = &g->cpu[cpu].irq[intid];

	if (!(q->flags & IRQ_HW))
		return;
	if (vtimer_output(intid)) {
		q->flags |= IRQ_LEVEL;
		vgic_mark(g, cpu, intid);
		return;
	}
	q->flags &= ~IRQ_LEVEL;
	if (!(q->flags & IRQ_ACTIVE)) {
		q->flags &= ~IRQ_HW;
		gic_ppi_deactivate(intid);
	}
}

/* SPI @intid - 32 is a line of a PCI function's INTx (vfio/intx.c). */
static bool vgic_is_pci_intx(u32 intid)
{
	return intid >= GIC_SPI_BASE + KEEL_PCI_INTX_IRQ_BASE &&
	       intid < GIC_SPI_BASE + KEEL_PCI_INTX_IRQ_BASE + KEEL_PD_MAX_PCI;
}

/*
 * The guest ended an interrupt of a PCI function's INTx line (its LR, with
 * a maintenance interrupt at the EOI, came back neither pending nor
 * active): the line drops here, so the resample does not deliver it again
 * for a request its handler served; vfio lets the device go after the lock
 * is released, and a device that still wants service pulls its host line
 * again. Returns the bit of that line in a mask of KEEL_PD_MAX_PCI.
 */
static u32 vgic_pci_intx_ended(struct vgic_irq *q, u32 intid, u64 lr)
{
	if (!vgic_is_pci_intx(intid) || (q->flags & IRQ_EDGE) || (lr & (LR_PENDING | LR_ACTIVE)))
		return 0;
	q->flags &= ~IRQ_LEVEL;
	return BIT(intid - GIC_SPI_BASE - KEEL_PCI_INTX_IRQ_BASE);
}

/* vgic_sync with LRs in use or a guest timer held: back into the model, under the lock. */
static __attribute__((noinline)) void vgic_sync_live(struct vcpu *vcpu, struct vgic *g,
						     struct vgic_cpu *vc)
{
	unsigned long flags = spin_lock_irqsave(&g->lock);
	u32 intx_ended = 0;

	for (u32 n = 0; n < vc->lr_count; n++) {
		u64 lr = vgic_hw_lr_read(n);
		struct vgic_irq *q = vgic_irq(g, vcpu->index, vc->lr_intid[n]);

		vgic_hw_lr_write(n, 0);
		if (!q)
			continue;
		q->flags &= ~IRQ_ACTIVE;
		if (lr & LR_ACTIVE)
			q->flags |= IRQ_ACTIVE;
		/* Not yet acknowledged: the latch goes back to the model. */
		if ((lr & LR_PENDING) && vc->lr_latch[n])
			q->flags |= IRQ_LATCH;
		/* A timer the guest deactivated: the physical PPI was deactivated with it. */
		if ((q->flags & IRQ_HW) && !(lr & (LR_PENDING | LR_ACTIVE)))
			q->flags &= ~(IRQ_HW | IRQ_LEVEL);
		intx_ended |= vgic_pci_intx_ended(q, vc->lr_intid[n], lr);
		if (q->flags & IRQ_LIVE)
			vgic_mark(g, vcpu->index, vc->lr_intid[n]);
	}
	vc->lr_count = 0;
	vgic_sync_timer(g, vcpu->index, GIC_PPI_VTIMER);
	vgic_sync_timer(g, vcpu->index, GIC_PPI_PHYS_TIMER);
	vgic_sync_timer(g, vcpu->index, GIC_PPI_PMU);
	spin_unlock_irqrestore(&g->lock, flags);
	for (u32 i = 0; intx_ended; i++, intx_ended >>= 1)
		if (intx_ended & 1)
			vfio_intx_eoi(vcpu->part, KEEL_PCI_INTX_IRQ_BASE + i);
}

void vgic_sync(struct vcpu *vcpu)
{
	struct vgic *g = vcpu->part->arch.vgic;
	struct vgic_cpu *vc;

	vgic_hw_set_hcr(0);
	if (!g || vcpu->index >= g->nr_cpus)
		return;
	vc = &g->cpu[vcpu->index];
	/*
	 * No LR in use and no guest timer held: nothing to take back, no lock.
	 * IRQ_HW is set only on this CPU (vgic_inject_timer), so it reads true.
	 */
	if (vc->lr_count || (vc->irq[GIC_PPI_VTIMER].flags & IRQ_HW) ||
	    (vc->irq[GIC_PPI_PHYS_TIMER].flags & IRQ_HW) || (vc->irq[GIC_PPI_PMU].flags & IRQ_HW))
		vgic_sync_live(vcpu, g, vc);
}

bool vgic_pending(struct vcpu *vcpu)
{
	struct vgic *g = vcpu->part->arch.vgic;
	u16 cand[VGIC_NR_IRQS];
	unsigned long flags;
	bool any = false;
	u32 n;

	if (!g || vcpu->index >= g->nr_cpus)
		return false;
	flags = spin_lock_irqsave(&g->lock);
	n = vgic_live_collect(g, vcpu->index, cand);
	for (u32 k = 0; k < n && !any; k++)
		any = vgic_irq_deliverable(g, vcpu->index, cand[k]);
	spin_unlock_irqrestore(&g->lock, flags);
	return any;
}

/*
 * A guest timer's physical PPI @intid fired on this vCPU's CPU and is left
 * active: its line is high (level-sensitive, as the timer output is) until
 * the exit path samples it low or the guest deactivates the interrupt.
 */
void vgic_inject_timer(struct vcpu *vcpu, u32 intid)
{
	struct vgic *g = vcpu->part->arch.vgic;
	unsigned long flags;

	if (!g || vcpu->index >= g->nr_cpus || intid >= GIC_SPI_BASE)
		return;
	flags = spin_lock_irqsave(&g->lock);
	g->cpu[vcpu->index].irq[intid].flags |= IRQ_LEVEL | IRQ_HW;
	vgic_mark(g, vcpu->index, intid);
	spin_unlock_irqrestore(&g->lock, flags);
}

void vgic_vcpu_reset(struct vcpu *vcpu)
{
	struct vgic *g = vcpu->part->arch.vgic;
	unsigned long flags;

	vgic_hw_cpuif_reset();
	if (!g || vcpu->index >= g->nr_cpus)
		return;
	flags = spin_lock_irqsave(&g->lock);
	vgic_cpu_clear(&g->cpu[vcpu->index]);
	spin_unlock_irqrestore(&g->lock, flags);
}

void vgic_set_spi(struct partition *part, u32 spi, bool level)
{
	struct vgic *g = part->arch.vgic;
	struct vgic_irq *q;
	unsigned long flags;
	u32 dest;
	bool kick;

	if (!g || spi >= VGIC_NR_SPIS)
		return;
	flags = spin_lock_irqsave(&g->lock);
	q = &g->spi[spi];
	if (level && !(q->flags & IRQ_LEVEL) && (q->flags & IRQ_EDGE))
		q->flags |= IRQ_LATCH;
	q->flags = level ? q->flags | IRQ_LEVEL : q->flags & ~IRQ_LEVEL;
	if (q->flags & IRQ_LIVE)
		vgic_mark(g, 0, spi + GIC_SPI_BASE);
	dest = vgic_spi_dest(g, spi);
	kick = level && dest != VGIC_NO_TARGET && vgic_irq_deliverable(g, dest, spi + GIC_SPI_BASE);
	spin_unlock_irqrestore(&g->lock, flags);
	if (kick)
		vgic_kick(g, dest);
}

void vgic_describe_spi(struct partition *part, u32 spi, char *buf, u32 len)
{
	const struct vgic *g = part->arch.vgic;
	u8 f;

	if (!g || spi >= VGIC_NR_SPIS) {
		snprintf(buf, len, "no SPI %u", spi);
		return;
	}
	f = READ_ONCE(g->spi[spi].flags);
	snprintf(buf, len, "SPI %u (INTID %u)%s%s%s%s%s, to vCPU %u, distributor 0x%x", spi,
		 spi + GIC_SPI_BASE, f & IRQ_ENABLED ? " enabled" : " disabled",
		 f & IRQ_LEVEL ? " line-high" : " line-low", f & IRQ_LATCH ? " latched" : "",
		 f & IRQ_ACTIVE ? " active" : "", f & IRQ_EDGE ? " edge" : " level",
		 READ_ONCE(g->spi_target[spi]), READ_ONCE(g->ctlr));
}

/* A trapped ICC_SGI1R_EL1 write. */
int vgic_sgi_write(struct vcpu *vcpu, u64 v)
{
	struct vgic *g = vcpu->part->arch.vgic;
	u32 intid = (v >> 24) & 0xf, targets = v & 0xffff, rs = (v >> 44) & 0xf;
	u64 aff = ((v >> 48) & 0xff) << 32 | ((v >> 32) & 0xff) << 16 | ((v >> 16) & 0xff) << 8;
	bool all = v & BIT(40);
	unsigned long flags;
	u8 hit[DTB_MAX_CPUS] = { 0 };

	if (!g)
		return 0;
	flags = spin_lock_irqsave(&g->lock);
	for (u32 i = 0; i < g->nr_cpus && i < DTB_MAX_CPUS; i++) {
		u64 m = vplat_mpidr(i) & 0xff00ffffffull;
		u32 aff0 = m & 0xff;

		if (all ? i == vcpu->index
			: ((m & ~0xffull) != aff || aff0 / 16 != rs || !(targets & BIT(aff0 % 16))))
			continue;
		g->cpu[i].irq[intid].flags |= IRQ_LATCH;
		vgic_mark(g, i, intid);
		hit[i] = 1;
	}
	spin_unlock_irqrestore(&g->lock, flags);
	for (u32 i = 0; i < g->nr_cpus && i < DTB_MAX_CPUS; i++)
		if (hit[i])
			vgic_kick(g, i);
	return 0;
}

/* ---- Register banks shared by distributor and redistributors ---------- */

static bool vgic_bit_get(const struct vgic_irq *q, u32 reg)
{
	switch (reg) {
	case GICD_IGROUPR:
		return q->flags & IRQ_GROUP1;
	case GICD_ISENABLER:
	case GICD_ICENABLER:
		return q->flags & IRQ_ENABLED;
	case GICD_ISPENDR:
	case GICD_ICPENDR:
		return vgic_irq_pending(q);
	default:
		return q->flags & IRQ_ACTIVE;
	}
}

static void vgic_bit_set(struct vgic_irq *q, u32 reg, bool one)
{
	switch (reg) {
	case GICD_IGROUPR:
		q->flags = one ? q->flags | IRQ_GROUP1 : q->flags & ~IRQ_GROUP1;
		break;
	case GICD_ISENABLER:
		if (one)
			q->flags |= IRQ_ENABLED;
		break;
	case GICD_ICENABLER:
		if (one)
			q->flags &= ~IRQ_ENABLED;
		break;
	case GICD_ISPENDR:
		if (one)
			q->flags |= IRQ_LATCH;
		break;
	case GICD_ICPENDR:
		/*
		 * A timer line loses its sampled level too: the next exit samples
		 * the timer again, and a line still high is pending again (as a
		 * level-sensitive interrupt is on hardware).
		 */
		if (one)
			q->flags &= ~(IRQ_LATCH | ((q->flags & IRQ_HW) ? IRQ_LEVEL : 0));
		break;
	case GICD_ISACTIVER:
		if (one && !(q->flags & IRQ_HW))
			q->flags |= IRQ_ACTIVE;
		break;
	case GICD_ICACTIVER:
		if (one && !(q->flags & IRQ_HW))
			q->flags &= ~IRQ_ACTIVE;
		break;
	}
}

/* 32-bit access to a bit-per-interrupt register covering @first..@first+31. */
static u32 vgic_bits_read(struct vgic *g, u32 cpu, u32 reg, u32 first)
{
	u32 v = 0;

	for (u32 i = 0; i < 32; i++) {
		const struct vgic_irq *q = vgic_irq(g, cpu, first + i);

		if (q && vgic_bit_get(q, reg))
			v |= 1u << i;
	}
	return v;
}

static void vgic_bits_write(struct vgic *g, u32 cpu, u32 reg, u32 first, u32 v)
{
	for (u32 i = 0; i < 32; i++) {
		struct vgic_irq *q = vgic_irq(g, cpu, first + i);

		/* IGROUPR takes zeroes too; the set/clear pairs only act on ones. */
		if (q && (reg == GICD_IGROUPR || (v & (1u << i)))) {
			vgic_bit_set(q, reg, v & (1u << i));
			if (q->flags & IRQ_LIVE)
				vgic_mark(g, cpu, first + i);
		}
	}
}

/* IPRIORITYR: one byte per interrupt, byte or word access. */
static u64 vgic_prio_read(struct vgic *g, u32 cpu, u32 first, u32 size)
{
	u64 v = 0;

	for (u32 i = 0; i < size; i++) {
		const struct vgic_irq *q = vgic_irq(g, cpu, first + i);

		v |= (u64)(q ? q->prio : 0) << (8 * i);
	}
	return v;
}

static void vgic_prio_write(struct vgic *g, u32 cpu, u32 first, u32 size, u64 v)
{
	for (u32 i = 0; i < size; i++) {
		struct vgic_irq *q = vgic_irq(g, cpu, first + i);

		if (q)
			q->prio = (u8)(v >> (8 * i));
	}
}

/* ICFGR: two bits per interrupt, bit 1 of each pair = edge-triggered. */
static u32 vgic_cfg_read(struct vgic *g, u32 cpu, u32 first)
{
	u32 v = 0;

	for (u32 i = 0; i < 16; i++) {
		const struct vgic_irq *q = vgic_irq(g, cpu, first + i);

		if (q && (q->flags & IRQ_EDGE))
			v |= 2u << (2 * i);
	}
	return v;
}

static void vgic_cfg_write(struct vgic *g, u32 first, u32 v)
{
	for (u32 i = 0; i < 16; i++) {
		struct vgic_irq *q = vgic_irq(g, 0, first + i);

		if (q && first >= GIC_SPI_BASE)
			q->flags =
				(v & (2u << (2 * i))) ? q->flags | IRQ_EDGE : q->flags & ~IRQ_EDGE;
	}
}

/* ---- Distributor -------------------------------------------------------- */

static u32 vgic_dist_read32(struct vgic *g, u64 off)
{
	if (off >= GICD_IGROUPR && off < GICD_BITS_END) {
		u32 first = (u32)(off & 0x7f) / 4 * 32;

		/* SGIs and PPIs live in the redistributors (affinity routing). */
		return first >= GIC_SPI_BASE ? vgic_bits_read(g, 0, off & ~0x7full, first) : 0;
	}
	if (off >= GICD_ICFGR && off < GICD_ICFGR + VGIC_NR_IRQS / 4)
		return vgic_cfg_read(g, 0, (u32)(off - GICD_ICFGR) * 4);
	switch (off) {
	case GICD_CTLR:
		return g->ctlr | GICD_CTLR_ARE | GICD_CTLR_DS;
	case GICD_TYPER:
		return GICD_TYPER_IDBITS(10) | GICD_TYPER_MBIS | (VGIC_NR_IRQS / 32 - 1);
	case GICD_IIDR:
		return 0;
	case GICD_PIDR2:
		return GIC_PIDR2_V3;
	default:
		return 0; /* RAZ: IGRPMODR, NSACR, ITARGETSR... */
	}
}

_Static_assert(KEEL_PCI_INTX_IRQ_BASE + KEEL_PD_MAX_PCI <= VGIC_MBI_FIRST_SPI &&
		       KEEL_MGMT_EVENT_IRQ < VGIC_MBI_FIRST_SPI &&
		       VGIC_MBI_FIRST_SPI + VGIC_MBI_SPIS <= VGIC_NR_SPIS,
	       "wired lines below the MBI range, which fits the SPIs");

static bool vgic_is_mbi(u32 intid)
{
	return intid >= GIC_SPI_BASE + VGIC_MBI_FIRST_SPI &&
	       intid < GIC_SPI_BASE + VGIC_MBI_FIRST_SPI + VGIC_MBI_SPIS;
}

/*
 * GICD_SETSPI_NSR / CLRSPI_NSR (@set) of @intid, under the lock: the pending
 * latch of an MBI, as ISPENDR / ICPENDR would set it. Writes naming any other
 * INTID are ignored, as the GIC ignores those outside its SPIs: only the MBI
 * range is offered for messages (its device tree's mbi-ranges).
 */
static void vgic_mbi_write(struct vgic *g, u32 intid, bool set)
{
	struct vgic_irq *q;

	if (!vgic_is_mbi(intid))
		return;
	q = &g->spi[intid - GIC_SPI_BASE];
	vgic_bit_set(q, set ? GICD_ISPENDR : GICD_ICPENDR, true);
	if (q->flags & IRQ_LIVE)
		vgic_mark(g, 0, intid);
}

static void vgic_dist_write32(struct vgic *g, u64 off, u32 v)
{
	if (off >= GICD_IGROUPR && off < GICD_BITS_END) {
		u32 first = (u32)(off & 0x7f) / 4 * 32;

		if (first >= GIC_SPI_BASE)
			vgic_bits_write(g, 0, off & ~0x7full, first, v);
		return;
	}
	if (off >= GICD_ICFGR && off < GICD_ICFGR + VGIC_NR_IRQS / 4) {
		vgic_cfg_write(g, (u32)(off - GICD_ICFGR) * 4, v);
		return;
	}
	if (off == GICD_CTLR)
		g->ctlr = v & (GICD_CTLR_EN_G0 | GICD_CTLR_EN_G1);
	else if (off == GICD_SETSPI_NSR || off == GICD_CLRSPI_NSR)
		vgic_mbi_write(g, v & GICD_SETSPI_INTID, off == GICD_SETSPI_NSR);
	/* Everything else is read-only or ignored. */
}

bool vgic_mbi_raise(struct partition *part, u32 intid)
{
	struct vgic *g = part->arch.vgic;
	unsigned long flags;
	u32 spi = intid - GIC_SPI_BASE, dest;
	bool kick;

	if (!g || !vgic_is_mbi(intid))
		return false;
	flags = spin_lock_irqsave(&g->lock);
	vgic_mbi_write(g, intid, true);
	dest = vgic_spi_dest(g, spi);
	kick = dest != VGIC_NO_TARGET && vgic_irq_deliverable(g, dest, intid);
	spin_unlock_irqrestore(&g->lock, flags);
	if (kick)
		vgic_kick(g, dest);
	return true;
}

static bool vgic_is_irouter(u64 off, u32 *spi)
{
	u64 first = GICD_IROUTER + 8 * GIC_SPI_BASE;

	if (off < first || off >= first + 8 * VGIC_NR_SPIS)
		return false;
	*spi = (u32)((off - first) / 8);
	return true;
}

static int vgic_dist_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *value)
{
	struct vgic *g = dev->priv;
	unsigned long flags = spin_lock_irqsave(&g->lock);
	u32 spi;

	if (vgic_is_irouter(off, &spi))
		*value = g->irouter[spi] >> (8 * (off & 4));
	else if (off >= GICD_IPRIORITYR && off < GICD_IPRIORITYR + VGIC_NR_IRQS)
		*value = off - GICD_IPRIORITYR >= GIC_SPI_BASE
				 ? vgic_prio_read(g, 0, (u32)(off - GICD_IPRIORITYR), size)
				 : 0;
	else if (size == 8)
		*value = vgic_dist_read32(g, off) | (u64)vgic_dist_read32(g, off + 4) << 32;
	else
		*value = size == 4 ? vgic_dist_read32(g, off) : 0;
	spin_unlock_irqrestore(&g->lock, flags);
	return 0;
}

static void vgic_irouter_write(struct vgic *g, u64 off, u32 size, u32 spi, u64 v)
{
	u64 r = g->irouter[spi];

	if (size == 8)
		r = v;
	else if (off & 4)
		r = (r & 0xffffffffull) | v << 32;
	else
		r = (r & ~0xffffffffull) | (v & 0xffffffffull);
	g->irouter[spi] = r & (0xff00ffffffull | BIT(31));
	g->spi_target[spi] = vgic_route(g, g->irouter[spi]);
}

static int vgic_dist_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 v)
{
	struct vgic *g = dev->priv;
	unsigned long flags = spin_lock_irqsave(&g->lock);
	u32 spi;

	if (vgic_is_irouter(off, &spi)) {
		vgic_irouter_write(g, off, size, spi, v);
	} else if (off >= GICD_IPRIORITYR && off < GICD_IPRIORITYR + VGIC_NR_IRQS) {
		if (off - GICD_IPRIORITYR >= GIC_SPI_BASE)
			vgic_prio_write(g, 0, (u32)(off - GICD_IPRIORITYR), size, v);
	} else if (size == 8) {
		vgic_dist_write32(g, off, (u32)v);
		vgic_dist_write32(g, off + 4, (u32)(v >> 32));
	} else if (size == 4) {
		vgic_dist_write32(g, off, (u32)v);
	}
	spin_unlock_irqrestore(&g->lock, flags);
	/* An SPI may have become deliverable somewhere. */
	vgic_kick_all(g);
	return 0;
}

/* ---- Redistributors ----------------------------------------------------- */

static u64 vgic_rd_typer(struct vgic *g, u32 cpu)
{
	u64 m = vplat_mpidr(cpu);
	u64 aff = ((m >> 32) & 0xff) << 24 | (m & 0xffffff);
	u64 v = aff << 32 | (u64)cpu << 8;

	return cpu + 1 == g->nr_cpus ? v | GICR_TYPER_LAST : v;
}

static u32 vgic_rd_read32(struct vgic *g, u32 cpu, u64 off)
{
	if (off >= GICR_SGI + GICD_IGROUPR && off < GICR_SGI + GICD_IGROUPR + 0x380 + 4 &&
	    (off & 0x7f) == 0)
		return vgic_bits_read(g, cpu, (u32)(off - GICR_SGI), 0);
	switch (off) {
	case GICR_TYPER:
	case GICR_TYPER + 4:
		return (u32)(vgic_rd_typer(g, cpu) >> (8 * (off & 4)));
	case GICR_WAKER:
		return g->cpu[cpu].waker & GICR_WAKER_SLEEP ? GICR_WAKER_SLEEP | GICR_WAKER_ASLEEP
							    : 0;
	case GICR_PIDR2:
		return GIC_PIDR2_V3;
	case GICR_ICFGR0:
		return vgic_cfg_read(g, cpu, 0);
	case GICR_ICFGR1:
		return vgic_cfg_read(g, cpu, 16);
	default:
		return 0; /* CTLR (no LPIs), IIDR, STATUSR, IGRPMODR0, NSACR... */
	}
}

static void vgic_rd_write32(struct vgic *g, u32 cpu, u64 off, u32 v)
{
	if (off >= GICR_SGI + GICD_IGROUPR && off < GICR_SGI + GICD_IGROUPR + 0x380 + 4 &&
	    (off & 0x7f) == 0) {
		vgic_bits_write(g, cpu, (u32)(off - GICR_SGI), 0, v);
		return;
	}
	if (off == GICR_WAKER)
		g->cpu[cpu].waker = v & GICR_WAKER_SLEEP;
	/* ICFGR0/1 are fixed: SGIs edge, PPIs level. */
}

static bool vgic_rd_is_prio(u64 off)
{
	return off >= GICR_SGI + GICD_IPRIORITYR && off < GICR_SGI + GICD_IPRIORITYR + 32;
}

static int vgic_rd_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *value)
{
	struct vgic *g = dev->priv;
	u32 cpu = (u32)(off / VPLAT_GICR_STRIDE);
	unsigned long flags;

	off %= VPLAT_GICR_STRIDE;
	if (cpu >= g->nr_cpus)
		return -KEEL_EINVAL;
	flags = spin_lock_irqsave(&g->lock);
	if (vgic_rd_is_prio(off))
		*value = vgic_prio_read(g, cpu, (u32)(off - GICR_SGI - GICD_IPRIORITYR), size);
	else if (size == 8)
		*value = vgic_rd_read32(g, cpu, off) | (u64)vgic_rd_read32(g, cpu, off + 4) << 32;
	else
		*value = size == 4 ? vgic_rd_read32(g, cpu, off) : 0;
	spin_unlock_irqrestore(&g->lock, flags);
	return 0;
}

static int vgic_rd_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 v)
{
	struct vgic *g = dev->priv;
	u32 cpu = (u32)(off / VPLAT_GICR_STRIDE);
	unsigned long flags;

	off %= VPLAT_GICR_STRIDE;
	if (cpu >= g->nr_cpus)
		return -KEEL_EINVAL;
	flags = spin_lock_irqsave(&g->lock);
	if (vgic_rd_is_prio(off)) {
		vgic_prio_write(g, cpu, (u32)(off - GICR_SGI - GICD_IPRIORITYR), size, v);
	} else if (size == 8) {
		vgic_rd_write32(g, cpu, off, (u32)v);
		vgic_rd_write32(g, cpu, off + 4, (u32)(v >> 32));
	} else if (size == 4) {
		vgic_rd_write32(g, cpu, off, (u32)v);
	}
	spin_unlock_irqrestore(&g->lock, flags);
	vgic_kick(g, cpu);
	return 0;
}

/* ---- Creation ----------------------------------------------------------- */

static void vgic_reset(struct vdev *dev)
{
	struct vgic *g = dev->priv;
	unsigned long flags = spin_lock_irqsave(&g->lock);

	vgic_dist_clear(g);
	for (u32 i = 0; i < g->nr_cpus; i++)
		vgic_cpu_clear(&g->cpu[i]);
	spin_unlock_irqrestore(&g->lock, flags);
}

void vgic_free(struct partition *part)
{
	struct vgic *g = part->arch.vgic;

	if (!g)
		return;
	part->arch.vgic = NULL;
	pmm_free(hva_to_hpa(g), g->alloc_size);
}

/* ---- Snapshots ---------------------------------------------------------- */

/*
 * One blob for the distributor and every redistributor, saved and restored
 * through the distributor's ops: struct vgic_state, then one struct
 * vgic_cpu_state per vCPU. Lines are struct vgic_irq with their IRQ_* flags
 * (a change to either is a new magic). Not in it: what follows from the rest
 * (spi_target from IROUTER, the live bits), the list registers (empty while
 * the partition is paused: each exit syncs them back), an SGI's or PPI's
 * owner (unused), and a guest timer's hold on its physical PPI (IRQ_HW and
 * the level it samples), which belongs to the core the vCPU runs on: restore
 * leaves the hold as it was, and the exit path lets go of it as ever.
 */
#define VGIC_STATE_MAGIC 0x33434756u /* "VGC3" */
#define VGIC_HELD (IRQ_HW | IRQ_LEVEL)
#define VGIC_CPU_FLAGS (IRQ_ENABLED | IRQ_LATCH | IRQ_ACTIVE | IRQ_GROUP1 | IRQ_EDGE)
#define VGIC_SPI_FLAGS (VGIC_CPU_FLAGS | IRQ_LEVEL)
#define VGIC_IROUTER_KEPT (0xff00ffffffull | BIT(31)) /* what vgic_irouter_write keeps */

struct vgic_state {
	u32 magic;
	u32 nr_cpus;
	u32 ctlr;
	u32 pad;
	u64 irouter[VGIC_NR_SPIS];
	struct vgic_irq spi[VGIC_NR_SPIS];
};

struct vgic_cpu_state {
	u32 waker;
	u32 pad;
	struct vgic_irq irq[GIC_SPI_BASE]; /* owner and pad zero */
};

static u32 vgic_state_size(const struct vgic *g)
{
	return (u32)(sizeof(struct vgic_state) + g->nr_cpus * sizeof(struct vgic_cpu_state));
}

static int vgic_save(struct vdev *dev, void *buf, u32 len)
{
	struct vgic *g = dev->priv;
	struct vgic_state st = { .magic = VGIC_STATE_MAGIC, .nr_cpus = g->nr_cpus };
	u8 *out = buf;
	unsigned long flags;

	if (len < vgic_state_size(g))
		return -KEEL_E2BIG;
	flags = spin_lock_irqsave(&g->lock);
	st.ctlr = g->ctlr;
	memcpy(st.irouter, g->irouter, sizeof(st.irouter));
	memcpy(st.spi, g->spi, sizeof(st.spi));
	memcpy(out, &st, sizeof(st));
	for (u32 c = 0; c < g->nr_cpus; c++) {
		const struct vgic_cpu *vc = &g->cpu[c];
		struct vgic_cpu_state cs = { .waker = vc->waker };

		for (u32 i = 0; i < GIC_SPI_BASE; i++)
			cs.irq[i] = (struct vgic_irq){ .flags = vc->irq[i].flags & ~VGIC_HELD,
						       .prio = vc->irq[i].prio };
		memcpy(out + sizeof(st) + c * sizeof(cs), &cs, sizeof(cs));
	}
	spin_unlock_irqrestore(&g->lock, flags);
	return (int)vgic_state_size(g);
}

/*
 * As the model could have made them: the partition's vCPU count, the enable
 * bits of GICD_CTLR, IROUTER as its write keeps it (a route to an affinity
 * no vCPU has is a guest's right: the SPI then goes nowhere), no timer hold
 * on an SPI, an SPI active on a vCPU that exists, reserved bytes zero.
 */
static bool vgic_dist_state_ok(const struct vgic *g, const struct vgic_state *st)
{
	if (st->magic != VGIC_STATE_MAGIC || st->nr_cpus != g->nr_cpus || st->pad ||
	    (st->ctlr & ~(GICD_CTLR_EN_G0 | GICD_CTLR_EN_G1)))
		return false;
	for (u32 i = 0; i < VGIC_NR_SPIS; i++) {
		const struct vgic_irq *q = &st->spi[i];

		if ((st->irouter[i] & ~VGIC_IROUTER_KEPT) || (q->flags & ~VGIC_SPI_FLAGS) ||
		    q->owner >= g->nr_cpus || q->pad)
			return false;
	}
	return true;
}

/*
 * WAKER's one writable bit; SGIs edge-triggered and PPIs level-sensitive
 * (ICFGR0/1 are fixed); no line level, as only a held timer has one.
 */
static bool vgic_cpu_state_ok(const struct vgic_cpu_state *cs)
{
	if ((cs->waker & ~GICR_WAKER_SLEEP) || cs->pad)
		return false;
	for (u32 i = 0; i < GIC_SPI_BASE; i++) {
		const struct vgic_irq *q = &cs->irq[i];

		if ((q->flags & ~VGIC_CPU_FLAGS) || !(q->flags & IRQ_EDGE) != (i >= 16) ||
		    q->owner || q->pad)
			return false;
	}
	return true;
}

/* @vc to @cs, or reset (@cs NULL); a timer's hold on its physical PPI stays. */
static void vgic_cpu_load(struct vgic_cpu *vc, const struct vgic_cpu_state *cs)
{
	u8 held[GIC_SPI_BASE];

	for (u32 i = 0; i < GIC_SPI_BASE; i++)
		held[i] = vc->irq[i].flags & VGIC_HELD;
	vgic_cpu_clear(vc);
	if (cs) {
		vc->waker = cs->waker;
		memcpy(vc->irq, cs->irq, sizeof(vc->irq));
	}
	for (u32 i = 0; i < GIC_SPI_BASE; i++) {
		vc->irq[i].flags |= held[i];
		if (vc->irq[i].flags & IRQ_LIVE)
			vc->live |= 1u << i;
	}
}

/*
 * Each record is copied once, checked, then loaded, all under the lock; a
 * refusal puts everything back to reset. Restoring delivers nothing: a
 * pending interrupt goes into an LR at its vCPU's next entry (the partition
 * is paused, and a vCPU that was halted left its wait for the pause).
 */
static int vgic_restore(struct vdev *dev, const void *buf, u32 len)
{
	struct vgic *g = dev->priv;
	const u8 *in = buf;
	struct vgic_state st;
	struct vgic_cpu_state cs;
	unsigned long flags;
	bool ok = len == vgic_state_size(g);

	flags = spin_lock_irqsave(&g->lock);
	if (ok) {
		memcpy(&st, in, sizeof(st));
		ok = vgic_dist_state_ok(g, &st);
	}
	for (u32 c = 0; ok && c < g->nr_cpus; c++) {
		memcpy(&cs, in + sizeof(st) + c * sizeof(cs), sizeof(cs));
		ok = vgic_cpu_state_ok(&cs);
		if (ok)
			vgic_cpu_load(&g->cpu[c], &cs);
	}
	vgic_dist_clear(g);
	if (!ok) {
		for (u32 c = 0; c < g->nr_cpus; c++)
			vgic_cpu_load(&g->cpu[c], NULL);
		spin_unlock_irqrestore(&g->lock, flags);
		return -KEEL_EINVAL;
	}
	g->ctlr = st.ctlr;
	for (u32 i = 0; i < VGIC_NR_SPIS; i++) {
		g->spi[i] = st.spi[i];
		g->irouter[i] = st.irouter[i];
		g->spi_target[i] = vgic_route(g, st.irouter[i]);
		if (g->spi[i].flags & IRQ_LIVE)
			vgic_mark(g, 0, i + GIC_SPI_BASE);
	}
	spin_unlock_irqrestore(&g->lock, flags);
	return 0;
}

/* The memory goes after every device: vgic_free (arch_part_devices_free). */
static const struct vdev_ops vgic_dist_ops = {
	.read = vgic_dist_read,
	.write = vgic_dist_write,
	.reset = vgic_reset,
	.save = vgic_save,
	.restore = vgic_restore,
};

/* Saved and restored with the distributor (vgic_save). */
static const struct vdev_ops vgic_rd_ops = {
	.read = vgic_rd_read,
	.write = vgic_rd_write,
};

int vgic_create(struct partition *part)
{
	u32 n = part->vcpu_count;
	u64 size = ALIGN_UP(sizeof(struct vgic) + n * sizeof(struct vgic_cpu), PAGE_SIZE);
	hpa_t mem;
	struct vgic *g;
	int ret;

	if (n == 0 || n > DTB_MAX_CPUS)
		return -KEEL_EINVAL;
	mem = pmm_alloc(size, PAGE_SIZE);
	if (!mem)
		return -KEEL_ENOMEM;
	g = hpa_to_hva(mem);
	memset(g, 0, size);
	g->part = part;
	g->alloc_size = size;
	g->nr_cpus = n;
	vgic_dist_clear(g);
	for (u32 i = 0; i < n; i++)
		vgic_cpu_clear(&g->cpu[i]);
	g->gicd = (struct vdev){ .name = "gicv3-dist",
				 .space = VDEV_MMIO,
				 .irq = VDEV_NO_IRQ,
				 .base = VPLAT_GICD_BASE,
				 .size = VPLAT_GICD_SIZE,
				 .ops = &vgic_dist_ops,
				 .priv = g };
	g->gicr = (struct vdev){ .name = "gicv3-redist",
				 .space = VDEV_MMIO,
				 .irq = VDEV_NO_IRQ,
				 .base = VPLAT_GICR_BASE,
				 .size = VPLAT_GICR_STRIDE * n,
				 .ops = &vgic_rd_ops,
				 .priv = g };
	ret = vdev_add(part, &g->gicd);
	if (ret) {
		pmm_free(mem, size);
		return ret;
	}
	part->arch.vgic = g;
	/* On failure vgic_free frees it at teardown, after the devices. */
	return vdev_add(part, &g->gicr);
}
