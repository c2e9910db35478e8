/* SPDX-License-Identifier: MIT */
/*
 * Nested paging for partitions (arch_s2_*) and the low-memory set-up of the
 * x86_64 guest entry contract (docs/guest-abi.md): a flat GDT at RAM + 0x1f00
 * and identity page tables (2 MiB pages) for all guest RAM at RAM + 0x2000.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/guest_mem.h>
#include <keel/partition.h>
#include <keel/pcpu.h>

#include "virt.h"
#include "x86.h"

#define GUEST_GDT 0x1f00ull
#define GUEST_PML4 0x2000ull
#define GUEST_PDPT 0x3000ull
#define GUEST_PD 0x4000ull
/* PDs end well below the initial stack at 0x80000: at most 16 GiB mapped. */
#define GUEST_MAX_PDS 16u
#define GUEST_PTE_RW 0x3ull /* present, writable */
#define GUEST_PTE_LARGE 0x83ull /* present, writable, 2 MiB */

/*
 * pt.sync of a partition's nested tables: when it returns, none of the
 * partition's vCPUs can use a translation, or a cached walk, from before the
 * call. Each vCPU flushes its tags on its next entry once the generation has
 * moved (x86_guest_entering); one in the guest now is kicked out, and the
 * call waits until it has left or entered again after flushing. Cost: one
 * IPI per vCPU in the guest and a wait for its exit; none for the others.
 */
static void x86_s2_sync(void *ctx, u64 gpa, u64 size)
{
	struct partition *part = ctx;
	struct pcpu *self = pcpu_this();
	u64 gen = __atomic_add_fetch(&part->arch.tlb_gen, 1, __ATOMIC_SEQ_CST);
	u32 i, n = MIN(part->vcpu_count, KEEL_MAX_CPUS);

	for (i = 0; i < n; i++) {
		struct vcpu *v = part->vcpus[i];

		if (v && v->pcpu && v->pcpu != self &&
		    __atomic_load_n(&v->arch.in_guest, __ATOMIC_SEQ_CST))
			pcpu_kick(v->pcpu);
	}
	for (i = 0; i < n; i++) {
		struct vcpu *v = part->vcpus[i];

		if (!v || !v->pcpu || v->pcpu == self)
			continue;
		while (__atomic_load_n(&v->arch.in_guest, __ATOMIC_SEQ_CST) &&
		       __atomic_load_n(&v->arch.tlb_gen, __ATOMIC_ACQUIRE) < gen)
			arch_cpu_relax();
	}
}

int arch_s2_init(struct partition *part)
{
	struct pt *npt = &part->arch.npt;

	npt->fmt = x86_virt->s2_format();
	npt->alloc_table = x86_pt_alloc;
	npt->free_table = x86_pt_free;
	npt->sync = x86_s2_sync;
	npt->ctx = part;
	part->arch.tlb_gen = 0;
	return pt_init(npt);
}

int arch_s2_map(struct partition *part, gpa_t gpa, hpa_t hpa, u64 size, u32 attrs)
{
	int ret;

	if (!IS_ALIGNED(gpa | hpa | size, PAGE_SIZE) || !size || range_overflows(gpa, size) ||
	    range_overflows(hpa, size) || gpa + size - 1 > 0x000fffffffffffffull)
		return -KEEL_EINVAL;
	ret = pt_map(&part->arch.npt, gpa, hpa, size, attrs);
	if (ret)
		pt_unmap(&part->arch.npt, gpa, size);
	return ret;
}

void arch_s2_unmap(struct partition *part, gpa_t gpa, u64 size)
{
	/* Synchronous: the walker flushes (x86_s2_sync) before it frees a table. */
	pt_unmap_prune(&part->arch.npt, gpa, size);
}

void arch_s2_destroy(struct partition *part)
{
	if (part->arch.npt.root)
		pt_destroy(&part->arch.npt);
	part->arch.npt.root = 0;
}

static int guest_put64(struct partition *part, gpa_t gpa, u64 val)
{
	return guest_copy_to(part, gpa, &val, sizeof(val));
}

/* One 2 MiB identity entry per 2 MiB of each RAM region. */
static int guest_map_region(struct partition *part, const struct mem_region *r)
{
	for (u64 off = 0; off < r->size; off += SZ_2M) {
		gpa_t gpa = r->gpa + off;
		gpa_t pd = GUEST_PD + (gpa >> 30) * PAGE_SIZE;
		int ret = guest_put64(part, pd + ((gpa >> 21) & 511) * 8, gpa | GUEST_PTE_LARGE);

		if (ret)
			return ret;
	}
	return 0;
}

int arch_part_prepare(struct partition *part)
{
	static const u64 gdt[3] = {
		0, 0x00af9b000000ffffull, /* 0x08: 64-bit code */
		0x00cf93000000ffffull, /* 0x10: data */
	};
	u64 end = 0;
	u32 npd, n = MIN(part->mem_count, KEEL_MAX_MEM_REGIONS);
	int ret;

	for (u32 i = 0; i < n; i++) {
		const struct mem_region *r = &part->mem[i];

		if (!IS_ALIGNED(r->gpa | r->size, SZ_2M) || range_overflows(r->gpa, r->size))
			return -KEEL_EINVAL;
		end = MAX(end, r->gpa + r->size);
	}
	npd = (u32)((end + SZ_1G - 1) >> 30);
	if (!npd || npd > GUEST_MAX_PDS) {
		pr_err("x86: partition '%s': RAM end 0x%llx outside the %u GiB entry map",
		       part->desc.h.name, (unsigned long long)end, GUEST_MAX_PDS);
		return -KEEL_E2BIG;
	}
	ret = guest_copy_to(part, KEEL_GUEST_RAM_BASE + GUEST_GDT, gdt, sizeof(gdt));
	if (!ret)
		ret = guest_zero(part, GUEST_PML4, GUEST_PD + npd * PAGE_SIZE - GUEST_PML4);
	if (!ret)
		ret = guest_put64(part, GUEST_PML4, GUEST_PDPT | GUEST_PTE_RW);
	for (u32 i = 0; !ret && i < npd; i++)
		ret = guest_put64(part, GUEST_PDPT + i * 8,
				  (GUEST_PD + i * PAGE_SIZE) | GUEST_PTE_RW);
	for (u32 i = 0; !ret && i < n; i++)
		ret = guest_map_region(part, &part->mem[i]);
	return ret;
}
