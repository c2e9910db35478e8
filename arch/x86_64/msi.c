/* SPDX-License-Identifier: MIT */
/*
 * MSIs of partitions' PCI functions on x86_64. A function never writes the
 * MSI its guest programmed: the IOMMU's remapping entry sends it to one of
 * the host vectors X86_VEC_MSI_BASE.. on the partition's home core (its
 * vCPU 0's), and that vector's handler delivers the guest's MSI to the
 * guest's LAPIC model as its address and data say (destination, logical or
 * physical, fixed or lowest priority, vector). A vCPU on another core is
 * kicked by the delivery, as for an IPI.
 *
 * Routes are per core and vector. A handler marks its route busy before it
 * reads the partition and unmarks it after; arch_msi_unroute clears the
 * partition and waits until the route is not busy, so once it returns no
 * handler reaches the partition through it (the remapping entry was cleared
 * before, so no new MSI comes). Vectors are taken next-fit, so a freed one
 * is reused as late as possible.
 */
#include <keel/arch.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/spinlock.h>
#include <keel/vcpu.h>

#include "vplat.h"
#include "x86.h"

#define MSI_ADDR_BASE 0xfee00000ull
#define MSI_ADDR_MASK 0xfff00000ull
#define MSI_ADDR_DEST(a) ((u32)((a) >> 12) & 0xffu)
#define MSI_ADDR_LOGICAL BIT(2)
#define MSI_DATA_MODE(d) (((d) >> 8) & 7u) /* 0 fixed, 1 lowest priority */
#define MSI_DATA_LEVEL BIT(15)

struct msi_route {
	struct partition *part; /* NULL: free; atomics */
	u32 busy; /* handlers using it now; atomics */
	u32 dest;
	u8 vector;
	u8 logical;
	u8 mode;
	u8 pad;
};

static struct msi_route msi_routes[KEEL_MAX_CPUS][X86_MSI_VECTORS];
static u32 msi_next[KEEL_MAX_CPUS]; /* where the next search starts */
static struct spinlock msi_lock = SPINLOCK_INIT;

int arch_msi_route(struct partition *part, u64 addr, u32 data, struct arch_msi_target *t)
{
	const struct vcpu *home = part->vcpus[0];
	u32 mode = MSI_DATA_MODE(data), cpu, i;
	unsigned long flags;

	/* What a PC's LAPICs take from a device: fixed or lowest priority, edge, a vector >= 16. */
	if ((addr & MSI_ADDR_MASK) != MSI_ADDR_BASE || mode > 1 || (data & MSI_DATA_LEVEL) ||
	    (data & 0xff) < 16)
		return -KEEL_EINVAL;
	if (!home || !home->pcpu || home->pcpu->hwid > 0xff)
		return -KEEL_EINVAL;
	cpu = home->pcpu->id;
	flags = spin_lock_irqsave(&msi_lock);
	for (i = 0; i < X86_MSI_VECTORS; i++) {
		u32 slot = (msi_next[cpu] + i) % X86_MSI_VECTORS;
		struct msi_route *r = &msi_routes[cpu][slot];

		if (__atomic_load_n(&r->part, __ATOMIC_ACQUIRE))
			continue;
		r->dest = MSI_ADDR_DEST(addr);
		r->logical = (addr & MSI_ADDR_LOGICAL) != 0;
		r->mode = (u8)mode;
		r->vector = (u8)data;
		__atomic_store_n(&r->part, part, __ATOMIC_RELEASE);
		msi_next[cpu] = (slot + 1) % X86_MSI_VECTORS;
		t->cpu = cpu;
		t->apic_id = (u32)home->pcpu->hwid;
		t->vector = X86_VEC_MSI_BASE + slot;
		break;
	}
	spin_unlock_irqrestore(&msi_lock, flags);
	return i < X86_MSI_VECTORS ? 0 : -KEEL_ENOSPC;
}

void arch_msi_unroute(const struct arch_msi_target *t)
{
	struct msi_route *r;

	if (t->cpu >= KEEL_MAX_CPUS || t->vector < X86_VEC_MSI_BASE ||
	    t->vector >= X86_VEC_MSI_BASE + X86_MSI_VECTORS)
		return;
	r = &msi_routes[t->cpu][t->vector - X86_VEC_MSI_BASE];
	__atomic_store_n(&r->part, NULL, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&r->busy, __ATOMIC_SEQ_CST))
		arch_cpu_relax();
}

/* Host vector @vec on this core: the guest MSI its route names. */
void x86_msi_irq(u64 vec)
{
	struct msi_route *r = &msi_routes[pcpu_this()->id][vec - X86_VEC_MSI_BASE];
	struct partition *part;

	__atomic_fetch_add(&r->busy, 1, __ATOMIC_SEQ_CST);
	part = __atomic_load_n(&r->part, __ATOMIC_SEQ_CST);
	if (part && part->arch.plat)
		vlapic_deliver_dest(part->arch.plat, r->dest, r->logical, r->mode, r->vector,
				    false);
	__atomic_fetch_sub(&r->busy, 1, __ATOMIC_RELEASE);
}

/* The IOMMUs of a PC remap interrupts themselves (VT-d, AMD-Vi): no ITS here. */
int arch_msi_remap(u16 rid, u32 event, const struct arch_msi_target *t, struct iommu_msi *msi)
{
	(void)rid;
	(void)event;
	(void)t;
	(void)msi;
	return -KEEL_ENOTSUP;
}

void arch_msi_unmap(u16 rid, u32 event)
{
	(void)rid;
	(void)event;
}

/* MSIs to 0xfee00000 are interrupts to an x86 IOMMU, never translated DMA. */
hpa_t arch_msi_doorbell(void)
{
	return 0;
}
