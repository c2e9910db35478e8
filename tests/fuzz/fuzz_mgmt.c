/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the hypercall and management-call decoders
 * (core/hypercall.c, core/mgmt.c) through the real partition life cycle
 * (core/partition.c): the input is a sequence of calls with any numbers and
 * arguments, the structures they point at taken from the input too. Nothing
 * crashes, and when every partition the calls created is destroyed, every
 * byte is back in the pool.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/arch.h>
#include <keel/hypercall.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>

#include "mgmt_env.h"

#define POOL (64ull << 20)
#define MGR_RAM (4ull << 20)
#define SCRATCH 0x10000ull

static u8 *pool;
static struct partition *mgr;

static void setup(void)
{
	static struct iommu_unit unit = { .kind = IOMMU_VTD, .on = true };
	const struct keel_boot_module *images[KEEL_PD_MAX_IMAGES] = { NULL };
	struct pdesc d;
	u32 i;

	if (!pool)
		pool = aligned_alloc(SZ_2M, POOL);
	memset(partitions, 0, sizeof(partitions));
	pmm_reset();
	pmm_add((hpa_t)(uintptr_t)pool, POOL);
	pmm_start();
	/* A PAUSE whose vCPU the model does not park gives up in 1000 looks, not never. */
	clock_step_ns = 1000000;
	platform.cpu_count = 4;
	for (i = 0; i < 4; i++) {
		pcpus[i].id = i;
		pcpus[i].state = PCPU_ONLINE;
		pcpus[i].vcpu = NULL;
		platform.cpu_hwid[i] = i;
	}
	/* PCI_LIST's host: a host bridge and a function behind an IOMMU. */
	fake_pci[0] = (struct pci_func){ .vendor = 0x8086, .device = 0x29c0, .class = 0x060000 };
	fake_pci[1] = (struct pci_func){
		.bdf = PCI_BDF(0, 3, 0), .dma_rid = PCI_BDF(0, 3, 0), .class = 0x020000, .group = 1
	};
	fake_pci_unit[1] = &unit;
	fake_pci_count = 2;
	memset(&d, 0, sizeof(d));
	d.h.version = KEEL_PDESC_VERSION;
	strcpy(d.h.name, "mgr");
	d.h.cpu_mask = 1;
	d.h.mem_count = 1;
	d.mem[0] = (struct keel_pd_mem){ .type = KEEL_PD_MEM_RAM, .size = MGR_RAM };
	d.h.flags = KEEL_PD_MANAGEMENT;
	if (part_create_images(&d, images, &mgr))
		abort();
	mgr->state = PART_RUNNING;
}

/* The vCPUs of a stopping partition leave their run loops, as their CPUs would. */
static void vcpus_leave(struct partition *q)
{
	for (u32 v = 0; v < q->vcpu_count; v++)
		if (q->vcpus[v]->state != VCPU_OFF)
			part_vcpu_left(q->vcpus[v]);
}

static u64 take(const u8 **p, const u8 *end)
{
	u64 v = 0;

	if (end - *p >= 8) {
		memcpy(&v, *p, 8);
		*p += 8;
	}
	return v;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	const u8 *p = data, *end = data + size;
	u64 before;
	u32 i, n = 0;

	setup();
	before = pmm_free_bytes();
	/* Records: 1 byte call, 1 byte flags, 2 length of structure data, 3 arguments, data. */
	while (end - p >= 4 && n++ < 64) {
		struct vm_exit e = { .kind = EXIT_HYPERCALL };
		u32 nr = p[0] < 0x20 ? p[0] : KEEL_HC_MGMT_FIRST + (p[0] & 0x1f);
		u32 flags = p[1], len = (u32)(p[2] | p[3] << 8) & 0x1fff;
		u8 *scratch = (u8 *)hpa_to_hva(mgr->mem[0].hpa) + SCRATCH;

		p += 4;
		e.hc.fn = nr;
		memset(test_hc_args, 0, sizeof(test_hc_args));
		for (i = 0; i < 3; i++) {
			u64 a = take(&p, end);

			/* Half the pointers and sizes steered to the manager's scratch. */
			if (flags & (1u << i))
				a = KEEL_GUEST_RAM_BASE + SCRATCH + (a & 0xfff);
			else if (flags & (8u << i))
				a &= 0x3ff;
			test_hc_args[i] = a;
		}
		len = len < (u32)(end - p) ? len : (u32)(end - p);
		memcpy(scratch, p, len);
		p += len;
		if (flags & 0x40)
			now_ns += 1000000000ull;
		hypercall_handle(mgr->vcpus[0], &e);
		/* Whatever STOP set in motion finishes as a stopped vCPU would. */
		for (i = 0; i < KEEL_MAX_PARTITIONS; i++) {
			struct partition *q = &partitions[i];

			if (q != mgr && q->state == PART_STOPPING)
				vcpus_leave(q);
		}
	}
	/* Take everything down: every byte comes back. */
	for (i = 0; i < KEEL_MAX_PARTITIONS; i++) {
		struct partition *q = &partitions[i];

		if (q == mgr || q->state == PART_FREE)
			continue;
		if (q->state == PART_RUNNING || q->state == PART_PAUSED)
			part_stop(q, KEEL_STOP_CAUSE_FORCED, "fuzz", false);
		if (q->state == PART_STOPPING)
			vcpus_leave(q);
		{
			struct vm_exit e = { .kind = EXIT_HYPERCALL,
					     .hc.fn = KEEL_HC_MGMT_DESTROY };

			memset(test_hc_args, 0, sizeof(test_hc_args));
			test_hc_args[0] = q->id;
			hypercall_handle(mgr->vcpus[0], &e);
		}
		if (q->state != PART_FREE)
			abort();
	}
	if (pmm_free_bytes() != before)
		abort();
	return 0;
}
