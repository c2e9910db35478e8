/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the management hypercalls (core/mgmt.c) through the real
 * dispatch and partition life cycle, over host memory handed to the pmm.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/arch.h>
#include <keel/elf.h>
#include <keel/hypercall.h>
#include <keel/mgmt_watch.h>
#include <keel/netsw.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/timer.h>
#include <keel/vdev.h>
#include <keel/virtio.h>

#include "mgmt_env.h"
#include "unit.h"

extern char unit_log[];
extern size_t unit_log_len;

#define POOL (64ull << 20)
#define MGR_RAM (4ull << 20)
#define SCRATCH 0x10000ull /* offset of the manager's argument area */

static struct partition *mgr;
static struct vcpu *mgr_vcpu;
static u8 *pool;

/* ---- helpers ---- */

static u8 *mgr_ram(void)
{
	return hpa_to_hva(mgr->mem[0].hpa);
}

static gpa_t mgr_gpa(u64 off)
{
	return KEEL_GUEST_RAM_BASE + off;
}

static s64 call(u32 nr, u64 a0, u64 a1, u64 a2)
{
	struct vm_exit e = { .kind = EXIT_HYPERCALL };

	e.hc.fn = nr;
	memset(test_hc_args, 0, sizeof(test_hc_args));
	test_hc_args[0] = a0;
	test_hc_args[1] = a1;
	test_hc_args[2] = a2;
	last_status = 999;
	hypercall_handle(mgr_vcpu, &e);
	return last_status;
}

#define IMG_KERNEL 0u /* image 0 of desc_for's descriptions */

static void add_device(struct pdesc *d, u32 type, u32 backend, u32 flags)
{
	pdesc_add_device(d, type, backend, flags);
}

static u32 add_image(struct pdesc *d, u32 role, u64 size)
{
	return pdesc_add_image(d, role, KEEL_NO_MODULE, size);
}

/* As keelctl makes it: RAM, a kernel of 4 KiB (image 0), console, entropy, control. */
static struct pdesc desc_for(const char *name, u64 cpus, u64 mem)
{
	struct pdesc d;

	memset(&d, 0, sizeof(d));
	d.h.version = KEEL_PDESC_VERSION;
	d.h.flags = KEEL_PD_REBOOT_STOP; /* keelctl's default */
	strcpy(d.h.name, name);
	d.h.cpu_mask = cpus;
	d.h.mem_count = 1;
	d.mem[0] = (struct keel_pd_mem){ .type = KEEL_PD_MEM_RAM, .size = mem };
	add_image(&d, KEEL_PD_IMAGE_KERNEL, 4096);
	pdesc_add_default_devices(&d, KEEL_NO_BACKEND, 0);
	strcpy(d.h.cmdline, "mode=hello");
	return d;
}

/* Pack @d (size from its counts) into the manager's scratch area; its size. */
static u32 place(const struct pdesc *d)
{
	struct pdesc c = *d;

	pdesc_set_size(&c);
	return pdesc_pack(&c, mgr_ram() + SCRATCH);
}

/* CREATE with @d packed in the manager's scratch area. */
static s64 create(const struct pdesc *d)
{
	u32 size = place(d);

	return call(KEEL_HC_MGMT_CREATE, mgr_gpa(SCRATCH), size, 0);
}

static s64 create_simple(const char *name, u64 cpus, u64 mem, u64 kernel_size)
{
	struct pdesc d = desc_for(name, cpus, mem);

	d.image[IMG_KERNEL].size = kernel_size;
	return create(&d);
}

static s64 load(u32 id, u32 image, u64 offset, gpa_t src, u64 len)
{
	struct keel_mgmt_load l = { id, image, offset, src, len };

	memcpy(mgr_ram() + SCRATCH, &l, sizeof(l));
	return call(KEEL_HC_MGMT_LOAD, mgr_gpa(SCRATCH), sizeof(l), 0);
}

static void setup(void)
{
	static const struct keel_boot_module none;
	const struct keel_boot_module *images[KEEL_PD_MAX_IMAGES] = { &none };
	struct pdesc d = desc_for("mgr", 0x1, MGR_RAM);

	pool = mgmt_env_machine(POOL);
	d.h.flags = KEEL_PD_MANAGEMENT;
	CHECK_EQ(part_create_images(&d, images, &mgr), 0);
	mgr->state = PART_RUNNING;
	mgr_vcpu = mgr->vcpus[0];
}

/* ---- tests ---- */

static void test_privilege(void)
{
	u32 flags = mgr->desc.h.flags;

	mgr->desc.h.flags = 0;
	CHECK_EQ(call(KEEL_HC_MGMT_HOST_INFO, mgr_gpa(SCRATCH), 64, 0), -KEEL_EPERM);
	CHECK_EQ(call(KEEL_HC_MGMT_CREATE, 0, 0, 0), -KEEL_EPERM);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, 1, 0, 0), -KEEL_EPERM);
	CHECK_EQ(mgr->denied, 3);
	CHECK_EQ(call(KEEL_HC_VERSION, 0, 0, 0), KEEL_OK);
	CHECK(!(last_res[1] & KEEL_FEAT_MGMT));
	mgr->desc.h.flags = flags;
	CHECK_EQ(call(KEEL_HC_VERSION, 0, 0, 0), KEEL_OK);
	CHECK(last_res[1] & KEEL_FEAT_MGMT);
	CHECK_EQ(call(KEEL_HC_MGMT_NR_CALLS, 0, 0, 0), -KEEL_ENOSYS);
	CHECK_EQ(call(KEEL_HC_MGMT_LAST, 0, 0, 0), -KEEL_ENOSYS);
	CHECK_EQ(mgr->denied, 3);
}

static void test_host_info_and_list(void)
{
	struct keel_host_info hi;
	struct keel_part_status st[2];

	CHECK_EQ(call(KEEL_HC_MGMT_HOST_INFO, mgr_gpa(SCRATCH), sizeof(hi), 0), KEEL_OK);
	memcpy(&hi, mgr_ram() + SCRATCH, sizeof(hi));
	CHECK_EQ(last_res[0], sizeof(hi));
	CHECK_EQ(hi.abi_version, KEEL_ABI_VERSION);
	CHECK_EQ(hi.cpu_count, 4);
	CHECK_EQ(hi.online_cpu_mask, 0xf);
	CHECK_EQ(hi.free_cpu_mask, 0xe);
	CHECK_EQ(hi.mem_free, pmm_free_bytes());
	CHECK_EQ(hi.mem_total, hi.mem_free + MGR_RAM);
	CHECK_EQ(hi.part_count, 1);
	CHECK_EQ(hi.load_max, KEEL_MGMT_LOAD_MAX);
	CHECK_EQ(call(KEEL_HC_MGMT_HOST_INFO, mgr_gpa(SCRATCH), 0, 0), -KEEL_EINVAL);
	CHECK_EQ(call(KEEL_HC_MGMT_HOST_INFO, mgr_gpa(MGR_RAM - 8), sizeof(hi), 0), -KEEL_EFAULT);
	CHECK_EQ(call(KEEL_HC_MGMT_HOST_INFO, ~0ull - 7, sizeof(hi), 0), -KEEL_EFAULT);
	/* A short buffer gets a prefix. */
	CHECK_EQ(call(KEEL_HC_MGMT_HOST_INFO, mgr_gpa(MGR_RAM - 8), 8, 0), KEEL_OK);
	CHECK_EQ(last_res[0], 8);

	CHECK_EQ(call(KEEL_HC_MGMT_LIST, mgr_gpa(SCRATCH), 2, 0), KEEL_OK);
	CHECK_EQ(last_res[0], 1);
	CHECK_EQ(last_res[1], 1);
	memcpy(st, mgr_ram() + SCRATCH, sizeof(st));
	CHECK_EQ(st[0].id, mgr->id);
	CHECK_EQ(st[0].state, KEEL_PSTATE_RUNNING);
	CHECK(strcmp(st[0].name, "mgr") == 0);
	/* Counts are capped, not trusted: 2^64 - 1 entries is 16 here. */
	CHECK_EQ(call(KEEL_HC_MGMT_LIST, mgr_gpa(SCRATCH), ~0ull, 0), KEEL_OK);
	CHECK_EQ(call(KEEL_HC_MGMT_LIST, mgr_gpa(MGR_RAM - 16), 1, 0), -KEEL_EFAULT);
	CHECK_EQ(call(KEEL_HC_MGMT_LIST, ~0ull - 7, 1, 0), -KEEL_EFAULT);
	CHECK_EQ(call(KEEL_HC_MGMT_LIST, 0, 0, 0), KEEL_OK); /* count only */
	CHECK_EQ(last_res[1], 1);
}

/* Host PCI function @i: on segment 0, DMAing as itself, translated by @u (or no IOMMU). */
static void pci_fake(u32 i, u16 bdf, u16 vendor, u16 device, u32 class, u8 hdr, u32 group,
		     struct iommu_unit *u)
{
	fake_pci[i] = (struct pci_func){ .seg = 0,
					 .bdf = bdf,
					 .dma_rid = bdf,
					 .vendor = vendor,
					 .device = device,
					 .class = class,
					 .hdr_type = hdr,
					 .group = group,
					 .parent = PCI_NONE };
	fake_pci_unit[i] = u;
}

/*
 * PCI_LIST: the host's functions as enumeration found them, with the IOMMU
 * unit of each, in the caller's array of a1 records: r1 written, r2 in all.
 */
static void test_pci_list(void)
{
	static const struct iommu_ops named = { .name = "fake" };
	static struct iommu_unit vtd = { .kind = IOMMU_VTD, .index = 0, .on = true, .ops = &named };
	static struct iommu_unit amdvi = { .kind = IOMMU_AMDVI, .index = 1, .on = true };
	struct keel_pci_dev d[6];
	u8 *out = mgr_ram() + SCRATCH;
	u32 i;

	pci_fake(0, PCI_BDF(0, 0, 0), 0x8086, 0x29c0, 0x060000, PCI_HEADER_NORMAL, 0, &vtd);
	pci_fake(1, PCI_BDF(0, 3, 0), 0x1234, 0x11e8, 0x00ff00, PCI_HEADER_NORMAL, 3, &vtd);
	pci_fake(2, PCI_BDF(0, 0x1e, 0), 0x8086, 0x244e, 0x060401, PCI_HEADER_BRIDGE, 4, &vtd);
	/* Behind that PCIe-to-PCI bridge: it DMAs with the bridge's ID; a broken capability list. */
	pci_fake(3, PCI_BDF(1, 0, 0), 0x10ec, 0x8139, 0x020000, PCI_HEADER_NORMAL, 4, NULL);
	fake_pci[3].dma_rid = PCI_BDF(0, 0x1e, 0);
	fake_pci[3].flags = PCI_F_ALIASED | PCI_F_BAD_CAPS;
	fake_pci[3].parent = 2;
	pci_fake(4, PCI_BDF(0, 0, 2), 0x1022, 0x1481, 0x080600, PCI_HEADER_NORMAL, 5, &amdvi);
	fake_pci_count = 5;

	memset(out, 0xaa, sizeof(d));
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_LIST, mgr_gpa(SCRATCH), 6, 0), KEEL_OK);
	CHECK_EQ(last_res[0], 5);
	CHECK_EQ(last_res[1], 5);
	memcpy(d, out, sizeof(d));
	CHECK_EQ(d[0].segment, 0);
	CHECK_EQ(d[0].bdf, 0);
	CHECK_EQ(d[0].vendor, 0x8086);
	CHECK_EQ(d[0].device, 0x29c0);
	CHECK_EQ(d[0].class, 0x060000);
	CHECK_EQ(d[0].owner, KEEL_PCI_OWNER_NONE);
	CHECK_EQ(d[0].iommu, 0);
	CHECK_EQ(d[0].iommu_kind, KEEL_IOMMU_KIND_VTD);
	CHECK_EQ(d[0].flags, 0); /* a host bridge: never assignable */
	CHECK_EQ(d[1].bdf, PCI_BDF(0, 3, 0));
	CHECK_EQ(d[1].dma_rid, PCI_BDF(0, 3, 0));
	CHECK_EQ(d[1].group, 3);
	CHECK_EQ(d[1].hdr_type, PCI_HEADER_NORMAL);
	CHECK_EQ(d[1].flags, KEEL_PCI_DEV_ASSIGNABLE);
	CHECK_EQ(d[2].hdr_type, PCI_HEADER_BRIDGE);
	CHECK_EQ(d[2].flags, KEEL_PCI_DEV_BRIDGE);
	CHECK_EQ(d[3].dma_rid, PCI_BDF(0, 0x1e, 0));
	CHECK_EQ(d[3].iommu, KEEL_PCI_NO_IOMMU);
	CHECK_EQ(d[3].iommu_kind, KEEL_IOMMU_KIND_NONE);
	CHECK_EQ(d[3].flags, KEEL_PCI_DEV_ALIASED | KEEL_PCI_DEV_BAD_CAPS); /* no IOMMU */
	CHECK_EQ(d[4].iommu, 1);
	CHECK_EQ(d[4].iommu_kind, KEEL_IOMMU_KIND_AMDVI);
	CHECK_EQ(d[4].flags, 0); /* the IOMMU's own function */
	for (i = 0; i < 5; i++) {
		CHECK_EQ(d[i].owner, KEEL_PCI_OWNER_NONE);
		CHECK(!d[i].pad0 && !d[i].pad1);
		CHECK(!d[i].reserved[0] && !d[i].reserved[1] && !d[i].reserved[2] &&
		      !d[i].reserved[3]);
	}
	CHECK_EQ(out[5 * sizeof(d[0])], 0xaa); /* not a byte past what it wrote */

	/* Given to a partition (KEEL_DEV_PCI): its owner is that partition, until it goes. */
	{
		struct pdesc c = desc_for("owner", 0x2, 4ull << 20);
		u32 id;

		c.image[IMG_KERNEL].size = 4096;
		add_device(&c, KEEL_DEV_PCI, KEEL_PCI_ADDR(0, 0, 3, 0), 0);
		CHECK_EQ(create(&c), KEEL_OK);
		id = (u32)last_res[0];
		CHECK_EQ(call(KEEL_HC_MGMT_PCI_LIST, mgr_gpa(SCRATCH), 6, 0), KEEL_OK);
		memcpy(d, out, sizeof(d));
		CHECK_EQ(d[1].owner, id);
		CHECK_EQ(d[0].owner, KEEL_PCI_OWNER_NONE);
		CHECK_EQ(d[2].owner, KEEL_PCI_OWNER_NONE);
		CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);
		CHECK_EQ(call(KEEL_HC_MGMT_PCI_LIST, mgr_gpa(SCRATCH), 6, 0), KEEL_OK);
		memcpy(d, out, sizeof(d));
		CHECK_EQ(d[1].owner, KEEL_PCI_OWNER_NONE);
	}

	/* a1 limits what is written, not what is counted. */
	memset(out, 0xaa, sizeof(d));
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_LIST, mgr_gpa(SCRATCH), 2, 0), KEEL_OK);
	CHECK_EQ(last_res[0], 2);
	CHECK_EQ(last_res[1], 5);
	memcpy(d, out, sizeof(d));
	CHECK_EQ(d[1].device, 0x11e8);
	CHECK_EQ(out[2 * sizeof(d[0])], 0xaa);
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_LIST, 0, 0, 0), KEEL_OK); /* count only */
	CHECK_EQ(last_res[0], 0);
	CHECK_EQ(last_res[1], 5);
	/* Counts are capped, not trusted: 2^64 - 1 is KEEL_PCI_MAX_DEVS, 48 KiB of the manager's. */
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_LIST, mgr_gpa(SCRATCH), ~0ull, 0), KEEL_OK);
	CHECK_EQ(last_res[0], 5);
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_LIST, mgr_gpa(MGR_RAM - 16 * KEEL_PCI_MAX_DEVS), ~0ull, 0),
		 -KEEL_EFAULT);

	/* Outside the caller's memory: refused before a byte is written. */
	memset(mgr_ram() + MGR_RAM - sizeof(d[0]), 0xaa, sizeof(d[0]));
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_LIST, mgr_gpa(MGR_RAM - sizeof(d[0])), 2, 0), -KEEL_EFAULT);
	CHECK_EQ(mgr_ram()[MGR_RAM - sizeof(d[0])], 0xaa);
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_LIST, mgr_gpa(MGR_RAM - sizeof(d[0])), 1, 0), KEEL_OK);
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_LIST, KEEL_GUEST_RAM_BASE - 16, 1, 0), -KEEL_EFAULT);
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_LIST, ~0ull - 7, 1, 0), -KEEL_EFAULT);

	/* A host without PCI functions (aarch64 today): nothing, and it says so. */
	fake_pci_count = 0;
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_LIST, mgr_gpa(SCRATCH), 6, 0), KEEL_OK);
	CHECK_EQ(last_res[0], 0);
	CHECK_EQ(last_res[1], 0);
}

static u32 net_take(struct netsw_port *p, const struct netsw_frame *f)
{
	(void)p;
	(void)f;
	return NETSW_DELIVERED;
}

/*
 * NET_LIST: every network as one record followed by its ports, with the
 * owner, address, flags and counters of each, in the networks' order.
 */
static void test_net_list(void)
{
	static struct netsw_port a = { .mac = { 2, 0, 0, 0, 0, 1 },
				       .deliver = net_take,
				       .part_id = 3 };
	static struct netsw_port up = { .mac = { 2, 0, 0, 0, 0, 2 },
					.flags = NETSW_PORT_UPLINK,
					.deliver = net_take,
					.part_id = 0 };
	struct netsw_net *lan = netsw_network("lan"), *dmz = netsw_network("dmz");
	struct keel_net_rec r[6];
	u8 *out = mgr_ram() + SCRATCH;

	CHECK(lan == netsw_at(0) && dmz == netsw_at(1));
	CHECK_EQ(netsw_attach(lan, &a), 0);
	CHECK_EQ(netsw_attach(lan, &up), 0);
	a.stats.tx_packets = 5;
	a.stats.tx_bytes = 700;
	a.stats.rx_packets = 2;
	a.stats.rx_bytes = 120;
	a.stats.drops[NETSW_DROP_SPOOF] = 4;
	a.stats.drops[NETSW_DROP_NO_BUFFER] = 1;

	memset(out, 0xaa, sizeof(r));
	CHECK_EQ(call(KEEL_HC_MGMT_NET_LIST, mgr_gpa(SCRATCH), 6, 0), KEEL_OK);
	CHECK_EQ(last_res[0], 4);
	CHECK_EQ(last_res[1], 4);
	memcpy(r, out, sizeof(r));
	CHECK_EQ(r[0].kind, KEEL_NET_REC_NETWORK);
	CHECK_EQ(r[0].net, 0);
	CHECK(!strcmp(r[0].name, "lan"));
	CHECK_EQ(r[0].ports, 2);
	CHECK_EQ(r[0].owner, KEEL_NET_OWNER_NONE);
	CHECK_EQ(r[1].kind, KEEL_NET_REC_PORT);
	CHECK(!strcmp(r[1].name, "lan"));
	CHECK_EQ(r[1].owner, 3);
	CHECK(!memcmp(r[1].mac, a.mac, 6));
	CHECK_EQ(r[1].flags, 0);
	CHECK_EQ(r[1].tx_packets, 5);
	CHECK_EQ(r[1].tx_bytes, 700);
	CHECK_EQ(r[1].rx_packets, 2);
	CHECK_EQ(r[1].rx_bytes, 120);
	CHECK_EQ(r[1].drops[KEEL_NET_DROP_SPOOF], 4);
	CHECK_EQ(r[1].drops[KEEL_NET_DROP_NO_BUFFER], 1);
	CHECK_EQ(r[1].drops[KEEL_NET_DROP_RUNT], 0);
	CHECK_EQ(r[2].owner, 0);
	CHECK_EQ(r[2].flags, KEEL_NET_PORT_UPLINK);
	CHECK_EQ(r[3].kind, KEEL_NET_REC_NETWORK);
	CHECK_EQ(r[3].net, 1);
	CHECK(!strcmp(r[3].name, "dmz"));
	CHECK_EQ(r[3].ports, 0);
	/* Nothing past the records written. */
	CHECK_EQ(out[4 * sizeof(r[0])], 0xaa);

	/* Room for two: the first two, and the total. A count alone. */
	CHECK_EQ(call(KEEL_HC_MGMT_NET_LIST, mgr_gpa(SCRATCH), 2, 0), KEEL_OK);
	CHECK_EQ(last_res[0], 2);
	CHECK_EQ(last_res[1], 4);
	CHECK_EQ(call(KEEL_HC_MGMT_NET_LIST, 0, 0, 0), KEEL_OK);
	CHECK_EQ(last_res[0], 0);
	CHECK_EQ(last_res[1], 4);
	/* Hostile arrays: past the caller's RAM, wrapping, a huge count capped first. */
	CHECK_EQ(call(KEEL_HC_MGMT_NET_LIST, mgr_gpa(MGR_RAM - sizeof(r[0])), 2, 0), -KEEL_EFAULT);
	CHECK_EQ(call(KEEL_HC_MGMT_NET_LIST, ~0ull - 7, 1, 0), -KEEL_EFAULT);
	CHECK_EQ(call(KEEL_HC_MGMT_NET_LIST, mgr_gpa(SCRATCH), ~0ull, 0), KEEL_OK);
	CHECK_EQ(last_res[0], 4);

	/* A port gone (its partition destroyed) is gone from the list. */
	netsw_detach(&a);
	CHECK_EQ(call(KEEL_HC_MGMT_NET_LIST, mgr_gpa(SCRATCH), 6, 0), KEEL_OK);
	CHECK_EQ(last_res[0], 3);
	memcpy(r, out, sizeof(r));
	CHECK_EQ(r[0].ports, 1);
	CHECK_EQ(r[1].owner, 0);
	CHECK_EQ(r[2].kind, KEEL_NET_REC_NETWORK);
	netsw_detach(&up);
}

/* The owner PCI_LIST gives function @i of the fake host. */
static u32 pci_owner(u32 i)
{
	struct keel_pci_dev d;

	CHECK_EQ(call(KEEL_HC_MGMT_PCI_LIST, mgr_gpa(SCRATCH), i + 1, 0), KEEL_OK);
	memcpy(&d, mgr_ram() + SCRATCH + i * sizeof(d), sizeof(d));
	return d.owner;
}

/*
 * PCI_ASSIGN and PCI_RELEASE (1.4) on partitions that have not started: a
 * function joins and leaves one function at a time (the others are not reset
 * again), the domain lives while it holds any, and every refusal has its code.
 */
static void test_pci_assign_release(void)
{
	static const struct iommu_ops named = { .name = "fake" };
	static struct iommu_unit vtd = { .kind = IOMMU_VTD, .index = 0, .on = true, .ops = &named };
	const u32 edu = KEEL_PCI_ADDR(0, 0, 3, 0), nic = KEEL_PCI_ADDR(0, 0, 4, 0);
	struct pdesc c = desc_for("a", 0x2, 4ull << 20);
	struct partition *a;
	u32 ida, idb, n;

	memset(fake_resets, 0, sizeof(fake_resets));
	pci_fake(0, PCI_BDF(0, 0, 0), 0x8086, 0x29c0, 0x060000, PCI_HEADER_NORMAL, 0, &vtd);
	pci_fake(1, PCI_BDF(0, 3, 0), 0x1234, 0x11e8, 0x00ff00, PCI_HEADER_NORMAL, 3, &vtd);
	pci_fake(2, PCI_BDF(0, 4, 0), 0x8086, 0x10d3, 0x020000, PCI_HEADER_NORMAL, 4, &vtd);
	pci_fake(3, PCI_BDF(0, 0x1e, 0), 0x8086, 0x244e, 0x060401, PCI_HEADER_BRIDGE, 5, &vtd);
	fake_pci_count = 4;

	CHECK_EQ(create(&c), KEEL_OK);
	ida = (u32)last_res[0];
	a = part_by_id(ida);
	n = a->desc.h.device_count;
	CHECK_EQ(create_simple("b", 0x4, 4ull << 20, 4096), KEEL_OK);
	idb = (u32)last_res[0];

	/* Given: reset, attached to a domain with its RAM, listed as a's, in its description. */
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, ida, edu, 0), KEEL_OK);
	CHECK_EQ(pci_owner(1), ida);
	CHECK_EQ(fake_resets[1], 1);
	CHECK(fake_domains[ida].live);
	CHECK_EQ(fake_domains[ida].attached, 1);
	CHECK_EQ(fake_domains[ida].mapped, 4ull << 20);
	CHECK_EQ(a->desc.h.device_count, n + 1);
	CHECK_EQ(a->desc.device[n].type, KEEL_DEV_PCI);
	CHECK_EQ(a->desc.device[n].backend, edu);
	CHECK_EQ(a->desc.h.size, KEEL_PDESC_SIZE(1, 1, n + 1));

	/* Refused, with nothing changed. */
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, ida, edu, 0), -KEEL_EEXIST);
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, idb, edu, 0), -KEEL_EBUSY);
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, idb, KEEL_PCI_ADDR(0, 0x1e, 0, 0), 0),
		 -KEEL_ENODEV); /* not there: 1e:00.0 */
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, idb, KEEL_PCI_ADDR(0, 0, 0x1e, 0), 0),
		 -KEEL_ENODEV); /* a bridge */
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, idb, KEEL_PCI_ADDR(0, 0, 0, 0), 0),
		 -KEEL_ENODEV); /* the host bridge */
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, idb, 1ull << 32 | edu, 0), -KEEL_EINVAL);
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, 99, edu, 0), -KEEL_ENOENT);
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, mgr->id, nic, 0), -KEEL_EPERM);
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_RELEASE, idb, edu, 0), -KEEL_ENOENT);
	CHECK_EQ(part_by_id(idb)->desc.h.device_count, n);
	CHECK_EQ(pci_owner(1), ida);
	CHECK_EQ(fake_resets[1], 1);

	/* A second one joins; the first is not reset again. */
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, ida, nic, 0), KEEL_OK);
	CHECK_EQ(fake_domains[ida].attached, 2);
	CHECK_EQ(fake_resets[1], 1);
	CHECK_EQ(fake_resets[2], 1);

	/* Started: neither call touches it. */
	a->state = PART_RUNNING;
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_RELEASE, ida, edu, 0), -KEEL_EBUSY);
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, ida, KEEL_PCI_ADDR(0, 0, 5, 0), 0), -KEEL_EBUSY);
	a->state = PART_LOADED;

	/* Taken back: reset on its way to the pool, detached, and then b may have it. */
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_RELEASE, ida, edu, 0), KEEL_OK);
	CHECK_EQ(pci_owner(1), KEEL_PCI_OWNER_NONE);
	CHECK_EQ(fake_resets[1], 2);
	CHECK_EQ(fake_resets[2], 1);
	CHECK_EQ(fake_domains[ida].attached, 1);
	CHECK(fake_domains[ida].live);
	CHECK_EQ(a->desc.h.device_count, n + 1);
	CHECK_EQ(a->desc.device[n].backend, nic); /* the one after it moved up */
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_RELEASE, ida, edu, 0), -KEEL_ENOENT);
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, idb, edu, 0), KEEL_OK);
	CHECK_EQ(pci_owner(1), idb);

	/* The last one out takes the domain with it. */
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_RELEASE, ida, nic, 0), KEEL_OK);
	CHECK(!fake_domains[ida].live);
	CHECK(a->vfio == NULL);
	CHECK_EQ(a->desc.h.device_count, n);
	CHECK_EQ(a->desc.h.size, KEEL_PDESC_SIZE(1, 1, n));
	CHECK_EQ(pci_owner(2), KEEL_PCI_OWNER_NONE);

	/* A device entry after it keeps its slot: the function cannot be taken out. */
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, ida, nic, 0), KEEL_OK);
	pdesc_add_device(&a->desc, KEEL_DEV_BLK, 0, 0);
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_RELEASE, ida, nic, 0), -KEEL_ENOTSUP);
	CHECK_EQ(pci_owner(2), ida);
	a->desc.h.device_count--;
	pdesc_set_size(&a->desc);

	/*
	 * Two functions behind one bridge DMA with its requester ID: one
	 * attachment for both; the one holding it leaves, the other keeps it.
	 */
	pci_fake(4, PCI_BDF(1, 0, 0), 0x10ec, 0x8139, 0x020000, PCI_HEADER_NORMAL, 6, &vtd);
	pci_fake(5, PCI_BDF(1, 1, 0), 0x10ec, 0x8139, 0x020000, PCI_HEADER_NORMAL, 6, &vtd);
	fake_pci[4].dma_rid = fake_pci[5].dma_rid = PCI_BDF(0, 0x1e, 0);
	fake_pci[4].flags = fake_pci[5].flags = PCI_F_ALIASED;
	fake_pci_count = 6;
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, idb, KEEL_PCI_ADDR(0, 1, 0, 0), 0), KEEL_OK);
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, idb, KEEL_PCI_ADDR(0, 1, 1, 0), 0), KEEL_OK);
	CHECK_EQ(fake_domains[idb].attached, 2); /* the edu, and the bridge's ID once */
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_RELEASE, idb, KEEL_PCI_ADDR(0, 1, 0, 0), 0), KEEL_OK);
	CHECK_EQ(fake_domains[idb].attached, 2); /* still there for 01:01.0 */
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_RELEASE, idb, KEEL_PCI_ADDR(0, 1, 1, 0), 0), KEEL_OK);
	CHECK_EQ(fake_domains[idb].attached, 1);

	/* DESTROY gives back what ASSIGN gave. */
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, ida, 0, 0), KEEL_OK);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, idb, 0, 0), KEEL_OK);
	CHECK_EQ(pci_owner(1), KEEL_PCI_OWNER_NONE);
	CHECK_EQ(pci_owner(2), KEEL_PCI_OWNER_NONE);
	CHECK(!fake_domains[ida].live && !fake_domains[idb].live);
	fake_pci_count = 0;
}

static void test_create_hostile(void)
{
	u64 free_before = pmm_free_bytes();
	struct pdesc c = desc_for("vm", 0x2, 4ull << 20);
	u32 size = place(&c);
	struct keel_part_desc *raw = (struct keel_part_desc *)(mgr_ram() + SCRATCH);

	CHECK_EQ(call(KEEL_HC_MGMT_CREATE, mgr_gpa(SCRATCH), size - 1, 0), -KEEL_EINVAL);
	CHECK_EQ(call(KEEL_HC_MGMT_CREATE, mgr_gpa(SCRATCH), size + 16, 0), -KEEL_EINVAL);
	CHECK_EQ(call(KEEL_HC_MGMT_CREATE, mgr_gpa(SCRATCH), 8, 0), -KEEL_EINVAL);
	CHECK_EQ(call(KEEL_HC_MGMT_CREATE, mgr_gpa(SCRATCH), KEEL_PDESC_SIZE_MAX + 16, 0),
		 -KEEL_EINVAL);
	CHECK_EQ(call(KEEL_HC_MGMT_CREATE, mgr_gpa(MGR_RAM - 64), size, 0), -KEEL_EFAULT);
	CHECK_EQ(call(KEEL_HC_MGMT_CREATE, ~0ull - 63, size, 0), -KEEL_EFAULT);
	/* Counts that do not match the size, or overflow it. */
	raw->device_count = 2;
	CHECK_EQ(call(KEEL_HC_MGMT_CREATE, mgr_gpa(SCRATCH), size, 0), -KEEL_EINVAL);
	raw->device_count = 0xffffffffu;
	CHECK_EQ(call(KEEL_HC_MGMT_CREATE, mgr_gpa(SCRATCH), size, 0), -KEEL_EINVAL);
	raw->device_count = 3;
	raw->image_count = 0x10000001u; /* times 16 wraps 32 bits to 16 */
	raw->mem_count = 0;
	CHECK_EQ(call(KEEL_HC_MGMT_CREATE, mgr_gpa(SCRATCH), size, 0), -KEEL_EINVAL);
	raw->image_count = 1;
	raw->mem_count = 1;
	raw->size = size + 1;
	CHECK_EQ(call(KEEL_HC_MGMT_CREATE, mgr_gpa(SCRATCH), size, 0), -KEEL_EINVAL);
	CHECK_EQ(create_simple("mgr2", 0x1, 4ull << 20, 4096), -KEEL_EBUSY); /* manager's core */
	CHECK_EQ(create_simple("vm", 0x10, 4ull << 20, 4096), -KEEL_EINVAL); /* no cpu 4 */
	CHECK_EQ(create_simple("vm", 0, 4ull << 20, 4096), -KEEL_EINVAL);
	CHECK_EQ(create_simple("bad name", 0x2, 4ull << 20, 4096), -KEEL_EINVAL);
	CHECK_EQ(create_simple("vm", 0x2, 3ull << 20, 4096), -KEEL_EINVAL); /* not 2M multiple */
	CHECK_EQ(create_simple("vm", 0x2, 1ull << 62, 4096), -KEEL_ENOMEM);
	CHECK_EQ(create_simple("vm", 0x2, ~0ull & ~(SZ_2M - 1), 4096), -KEEL_ENOMEM);
	CHECK_EQ(create_simple("vm", 0x2, 4ull << 20, 0), -KEEL_EINVAL); /* kernel needs a size */
	CHECK_EQ(create_simple("vm", 0x2, 4ull << 20, KEEL_MGMT_IMAGE_MAX + 1), -KEEL_EINVAL);
	CHECK_EQ(create_simple("vm", 0x2, 4ull << 20, ~0ull), -KEEL_EINVAL);
	CHECK_EQ(create_simple("vm", 0x2, 56ull << 20, 16ull << 20), -KEEL_ENOMEM);
	CHECK_EQ(create_simple("mgr", 0x2, 4ull << 20, 4096), -KEEL_EEXIST);
	c.h.flags = KEEL_PD_MANAGEMENT;
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	c.h.flags = KEEL_PD_AUTOSTART;
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	c.h.flags = KEEL_PD_FAULT_STOP | (1u << 4); /* on_fault = stop may come, nothing unknown */
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	c.h.flags = KEEL_PD_REBOOT_STOP;
	c.h.version = 3; /* an ABI 0.x manager's layout */
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	c.h.version = KEEL_PDESC_VERSION + 1;
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	c.h.version = KEEL_PDESC_VERSION;
	c.image[IMG_KERNEL].module = 0; /* a boot module: not CREATE's to name */
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	c.image[IMG_KERNEL].module = KEEL_NO_MODULE;
	add_image(&c, KEEL_PD_IMAGE_INITRD, 0); /* an image without a size */
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	c.image[1].size = 512;
	add_image(&c, KEEL_PD_IMAGE_DATA, 512); /* a disk image no device uses */
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	add_device(&c, KEEL_DEV_BLK, 1, 0); /* a disk on the initrd */
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	c.device[3].backend = 7; /* past the images */
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	c.device[3].backend = 2;
	c.device[3].flags = 1u << 7;
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	c.device[3].flags = KEEL_DISK_RO;
	add_device(&c, KEEL_DEV_BLK, 2, 0); /* the same image behind two disks */
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	c.device[4] =
		(struct keel_pd_device){ .type = KEEL_DEV_CONSOLE, .backend = KEEL_NO_BACKEND };
	CHECK_EQ(create(&c), -KEEL_EINVAL); /* two consoles */
	c.device[4].type = 99;
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	c.h.device_count = 4;
	c.image[0].role = KEEL_PD_IMAGE_INITRD; /* no kernel, two initrds */
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	c.image[0].role = KEEL_PD_IMAGE_KERNEL;
	c.mem[0].type = 2;
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	c.mem[0].type = KEEL_PD_MEM_RAM;
	memset(c.h.cmdline, 'x', sizeof(c.h.cmdline)); /* no NUL */
	CHECK_EQ(create(&c), -KEEL_EINVAL);
	CHECK_EQ(pmm_free_bytes(), free_before);
	strcpy(c.h.cmdline, "mode=hello");
	CHECK_EQ(create(&c), KEEL_OK); /* what is left is a good description */
	CHECK_EQ(part_by_id((u32)last_res[0])->desc.h.device_count, 4);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, last_res[0], 0, 0), KEEL_OK);
	CHECK_EQ(pmm_free_bytes(), free_before);
}

static u32 create_loaded(const char *name, u64 cpus)
{
	u32 id;

	CHECK_EQ(create_simple(name, cpus, 4ull << 20, 8192), KEEL_OK);
	id = (u32)last_res[0];
	memcpy(mgr_ram() + 0x20000, "KERN", 4);
	CHECK_EQ(load(id, IMG_KERNEL, 0, mgr_gpa(0x20000), 8192), KEEL_OK);
	return id;
}

static void test_load_hostile(void)
{
	u64 free_before = pmm_free_bytes();
	struct partition *p;
	u32 id = create_loaded("vm", 0x2);

	CHECK(id != 0 && id != mgr->id);
	p = part_by_id(id);
	CHECK(!memcmp(hpa_to_hva(p->kernel->base), "KERN", 4));
	CHECK_EQ(create_simple("vm2", 0x6, 4ull << 20, 4096), -KEEL_EBUSY); /* cpu 1 taken */
	CHECK_EQ(create_simple("vm", 0x4, 4ull << 20, 4096), -KEEL_EEXIST);
	CHECK_EQ(load(id, IMG_KERNEL, 8192, mgr_gpa(0x20000), 0), KEEL_OK);
	CHECK_EQ(load(id, IMG_KERNEL, 8192, mgr_gpa(0x20000), 1), -KEEL_EINVAL);
	CHECK_EQ(load(id, IMG_KERNEL, 4096, mgr_gpa(0x20000), 4097), -KEEL_EINVAL);
	CHECK_EQ(load(id, IMG_KERNEL, ~0ull, mgr_gpa(0x20000), 2), -KEEL_EINVAL);
	CHECK_EQ(load(id, IMG_KERNEL, ~0ull - 1, mgr_gpa(0x20000), 4), -KEEL_EINVAL);
	CHECK_EQ(load(id, IMG_KERNEL, 0, mgr_gpa(0), KEEL_MGMT_LOAD_MAX + 1), -KEEL_E2BIG);
	CHECK_EQ(load(id, 1, 0, mgr_gpa(0x20000), 16), -KEEL_EINVAL); /* it has no image 1 */
	CHECK_EQ(load(id, KEEL_PD_MAX_IMAGES, 0, mgr_gpa(0x20000), 16), -KEEL_EINVAL);
	CHECK_EQ(load(id, 7, 0, mgr_gpa(0x20000), 16), -KEEL_EINVAL);
	CHECK_EQ(load(id, IMG_KERNEL, 0, mgr_gpa(MGR_RAM - 16), 32), -KEEL_EFAULT);
	CHECK_EQ(load(id, IMG_KERNEL, 0, ~0ull - 15, 32), -KEEL_EFAULT);
	CHECK_EQ(load(id, IMG_KERNEL, 0, KEEL_GUEST_RAM_BASE - 16, 32), -KEEL_EFAULT);
	CHECK_EQ(load(0, IMG_KERNEL, 0, mgr_gpa(0x20000), 16), -KEEL_ENOENT);
	CHECK_EQ(load(99, IMG_KERNEL, 0, mgr_gpa(0x20000), 16), -KEEL_ENOENT);
	CHECK_EQ(load(mgr->id, IMG_KERNEL, 0, mgr_gpa(0x20000), 16), -KEEL_EBUSY);
	CHECK(!memcmp(hpa_to_hva(p->kernel->base), "KERN", 4));
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), -KEEL_ENOENT);
	CHECK_EQ(pmm_free_bytes(), free_before);
}

/* MEASURE: nothing until START; then the digest of the bytes LOAD put there, in order or not. */
static void test_measure(void)
{
	u8 data[8192], want[SHA256_DIGEST];
	struct keel_part_measure *pm = (struct keel_part_measure *)(mgr_ram() + SCRATCH);
	u32 a, b, i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (u8)(i * 7 + 3);
	sha256(data, sizeof(data), want);
	CHECK_EQ(create_simple("ina", 0x2, 4ull << 20, 8192), KEEL_OK);
	a = (u32)last_res[0];
	CHECK_EQ(create_simple("outa", 0x4, 4ull << 20, 8192), KEEL_OK);
	b = (u32)last_res[0];
	memcpy(mgr_ram() + 0x20000, data, sizeof(data));
	/* a: two pieces in order (and an empty one at the end); b: the second piece first. */
	CHECK_EQ(load(a, IMG_KERNEL, 0, mgr_gpa(0x20000), 4096), KEEL_OK);
	CHECK_EQ(load(a, IMG_KERNEL, 4096, mgr_gpa(0x21000), 4096), KEEL_OK);
	CHECK_EQ(load(a, IMG_KERNEL, 8192, mgr_gpa(0x21000), 0), KEEL_OK);
	CHECK_EQ(load(b, IMG_KERNEL, 4096, mgr_gpa(0x21000), 4096), KEEL_OK);
	CHECK_EQ(load(b, IMG_KERNEL, 0, mgr_gpa(0x20000), 4096), KEEL_OK);

	CHECK_EQ(call(KEEL_HC_MGMT_MEASURE, a, mgr_gpa(SCRATCH), sizeof(*pm)), KEEL_OK);
	CHECK_EQ(last_res[0], sizeof(*pm));
	CHECK_EQ(pm->id, a);
	CHECK_EQ(pm->image_count, 1);
	CHECK_EQ(pm->image[0].role, KEEL_PD_IMAGE_KERNEL);
	CHECK_EQ(pm->image[0].size, 8192);
	CHECK_EQ(pm->image[0].measured, 0);
	CHECK(strcmp(pm->image[0].name, "ina:kernel0") == 0);

	/* START measures first; these kernels do not load, which does not matter here. */
	call(KEEL_HC_MGMT_START, a, 0, 0);
	call(KEEL_HC_MGMT_START, b, 0, 0);
	for (i = 0; i < 2; i++) {
		CHECK_EQ(call(KEEL_HC_MGMT_MEASURE, i ? b : a, mgr_gpa(SCRATCH), sizeof(*pm)),
			 KEEL_OK);
		CHECK_EQ(pm->image[0].measured, 1);
		CHECK(memcmp(pm->image[0].sha256, want, SHA256_DIGEST) == 0);
	}
	/* The manager may measure itself; hostile ids and buffers get the ABI's errors. */
	CHECK_EQ(call(KEEL_HC_MGMT_MEASURE, mgr->id, mgr_gpa(SCRATCH), sizeof(*pm)), KEEL_OK);
	CHECK_EQ(call(KEEL_HC_MGMT_MEASURE, 99, mgr_gpa(SCRATCH), sizeof(*pm)), -KEEL_ENOENT);
	CHECK_EQ(call(KEEL_HC_MGMT_MEASURE, a, mgr_gpa(MGR_RAM - 16), sizeof(*pm)), -KEEL_EFAULT);
	CHECK_EQ(call(KEEL_HC_MGMT_MEASURE, a, ~0ull - 15, sizeof(*pm)), -KEEL_EFAULT);
	for (i = 0; i < 2; i++) {
		u32 id = i ? b : a;

		if (part_by_id(id)->state == PART_RUNNING)
			call(KEEL_HC_MGMT_STOP, id, 0, KEEL_STOP_FORCE);
		CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);
	}
}

/* TPM: the loader's report, copied as far as the caller asks; hostile buffers refused. */
static void test_tpm_report(void)
{
	struct keel_tpm_report *t = (struct keel_tpm_report *)(mgr_ram() + SCRATCH);
	u32 flags = mgr->desc.h.flags;
	u64 denied = mgr->denied;

	memset(t, 0xaa, sizeof(*t));
	CHECK_EQ(call(KEEL_HC_MGMT_TPM, mgr_gpa(SCRATCH), sizeof(*t), 0), KEEL_OK);
	CHECK_EQ(last_res[0], sizeof(*t));
	CHECK_EQ(t->state, KEEL_TPM_NONE); /* no boot info here: no TPM */
	CHECK_EQ(t->event_count, 0);
	/* A smaller buffer gets its first bytes only. */
	memset(t, 0xaa, sizeof(*t));
	CHECK_EQ(call(KEEL_HC_MGMT_TPM, mgr_gpa(SCRATCH), 8, 0), KEEL_OK);
	CHECK_EQ(last_res[0], 8);
	CHECK_EQ(t->state, KEEL_TPM_NONE);
	CHECK_EQ(t->event_total, 0xaaaaaaaau);
	CHECK_EQ(call(KEEL_HC_MGMT_TPM, mgr_gpa(SCRATCH), 0, 0), -KEEL_EINVAL);
	CHECK_EQ(call(KEEL_HC_MGMT_TPM, mgr_gpa(MGR_RAM - 16), sizeof(*t), 0), -KEEL_EFAULT);
	CHECK_EQ(call(KEEL_HC_MGMT_TPM, ~0ull - 15, sizeof(*t), 0), -KEEL_EFAULT);
	/* Only the management partition may ask. */
	mgr->desc.h.flags = 0;
	CHECK_EQ(call(KEEL_HC_MGMT_TPM, mgr_gpa(SCRATCH), sizeof(*t), 0), -KEEL_EPERM);
	CHECK_EQ(mgr->denied, denied + 1);
	mgr->desc.h.flags = flags;
}

static void test_lifecycle(void)
{
	u64 free_before = pmm_free_bytes();
	struct keel_part_stats ps;
	struct partition *p;
	u32 id = create_loaded("life", 0x6);

	p = part_by_id(id);
	CHECK_EQ(call(KEEL_HC_MGMT_STOP, id, 0, 0), -KEEL_EBUSY); /* never started */
	CHECK_EQ(call(KEEL_HC_MGMT_PAUSE, id, 0, 0), -KEEL_EBUSY);
	CHECK_EQ(call(KEEL_HC_MGMT_START, mgr->id, 0, 0), -KEEL_EPERM);
	CHECK_EQ(call(KEEL_HC_MGMT_START, 0, 0, 0), -KEEL_ENOENT);
	CHECK_EQ(call(KEEL_HC_MGMT_START, 1ull << 32 | id, 0, 0), -KEEL_ENOENT);
	now_ns = 5000;
	CHECK_EQ(call(KEEL_HC_MGMT_START, id, 0, 0), KEEL_OK);
	CHECK_EQ(p->state, PART_RUNNING);
	CHECK_EQ(call(KEEL_HC_MGMT_START, id, 0, 0), -KEEL_EBUSY);
	CHECK_EQ(load(id, IMG_KERNEL, 0, mgr_gpa(0x20000), 16), -KEEL_EBUSY);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), -KEEL_EBUSY);

	kicks = 0;
	CHECK_EQ(call(KEEL_HC_MGMT_PAUSE, id, 0, 0), KEEL_OK);
	CHECK_EQ(p->state, PART_PAUSED);
	CHECK_EQ(kicks, 2);
	CHECK_EQ(call(KEEL_HC_MGMT_PAUSE, mgr->id, 0, 0), -KEEL_EPERM);
	CHECK_EQ(call(KEEL_HC_MGMT_STATS, id, mgr_gpa(SCRATCH), sizeof(ps)), KEEL_OK);
	memcpy(&ps, mgr_ram() + SCRATCH, sizeof(ps));
	CHECK_EQ(ps.status.state, KEEL_PSTATE_PAUSED);
	CHECK_EQ(ps.status.vcpu_count, 2);
	CHECK_EQ(ps.status.cpu_mask, 0x6);
	CHECK(ps.status.flags & KEEL_PD_REBOOT_STOP);
	/* PAUSE returned after the acknowledgement: the running vCPU is parked (the other never started). */
	CHECK_EQ(ps.vcpus_parked, 1);
	CHECK_EQ(ps.vcpus_halted, 0);
	CHECK_EQ(call(KEEL_HC_MGMT_RESUME, id, 0, 0), KEEL_OK);
	CHECK_EQ(p->state, PART_RUNNING);
	CHECK_EQ(call(KEEL_HC_MGMT_RESUME, id, 0, 0), KEEL_OK);
	CHECK_EQ(call(KEEL_HC_MGMT_STATS, id, mgr_gpa(SCRATCH), sizeof(ps)), KEEL_OK);
	memcpy(&ps, mgr_ram() + SCRATCH, sizeof(ps));
	CHECK_EQ(ps.vcpus_parked, 0);

	/* A vCPU that does not park: PAUSE gives up after its timeout and says so. */
	stuck_cpu = p->vcpus[0]->pcpu->id;
	clock_step_ns = 1000000; /* 1 ms per look at the clock */
	CHECK_EQ(call(KEEL_HC_MGMT_PAUSE, id, 0, 0), -KEEL_ETIMEDOUT);
	CHECK_EQ(p->state, PART_PAUSED); /* it is paused; its vCPU parks when it gets out */
	CHECK(now_ns >= 1000000000ull); /* it waited its whole second */
	CHECK_EQ(call(KEEL_HC_MGMT_PAUSE, id, 0, 0), -KEEL_ETIMEDOUT); /* again: still not parked */
	p->vcpus[0]->where = VCPU_PARKED; /* out at last, and it saw this PAUSE */
	p->vcpus[0]->parked_gen = p->pause_gen;
	CHECK_EQ(call(KEEL_HC_MGMT_PAUSE, id, 0, 0), KEEL_OK);
	/*
	 * Still parked from that PAUSE when a RESUME and a new PAUSE come: its
	 * old answer does not count (it may have seen the RESUME and be on its
	 * way out); PAUSE waits until it has seen the new one.
	 */
	CHECK_EQ(call(KEEL_HC_MGMT_RESUME, id, 0, 0), KEEL_OK);
	CHECK_EQ(p->vcpus[0]->where, VCPU_PARKED);
	CHECK_EQ(call(KEEL_HC_MGMT_PAUSE, id, 0, 0), -KEEL_ETIMEDOUT);
	p->vcpus[0]->parked_gen = p->pause_gen;
	CHECK_EQ(call(KEEL_HC_MGMT_PAUSE, id, 0, 0), KEEL_OK);
	stuck_cpu = ~0u;
	clock_step_ns = 0;
	CHECK_EQ(call(KEEL_HC_MGMT_RESUME, id, 0, 0), KEEL_OK);
	/* A halted vCPU is counted as such. */
	p->vcpus[0]->where = VCPU_HALTED;
	CHECK_EQ(call(KEEL_HC_MGMT_STATS, id, mgr_gpa(SCRATCH), sizeof(ps)), KEEL_OK);
	memcpy(&ps, mgr_ram() + SCRATCH, sizeof(ps));
	CHECK_EQ(ps.vcpus_halted, 1);
	p->vcpus[0]->where = VCPU_ACTIVE;

	/* Stats of a running partition. */
	p->vcpus[0]->exits[EXIT_HYPERCALL] = 5;
	p->vcpus[1]->exits[EXIT_HYPERCALL] = 2;
	p->hypercalls = 7;
	now_ns = 9000;
	CHECK_EQ(call(KEEL_HC_MGMT_STATS, id, mgr_gpa(SCRATCH), sizeof(ps)), KEEL_OK);
	memcpy(&ps, mgr_ram() + SCRATCH, sizeof(ps));
	CHECK_EQ(ps.status.state, KEEL_PSTATE_RUNNING);
	CHECK_EQ(ps.exits[KEEL_EXIT_HYPERCALL], 7);
	CHECK_EQ(ps.hypercalls, 7);
	CHECK_EQ(ps.status.run_ns, 4000);
	CHECK_EQ(call(KEEL_HC_MGMT_STATS, id, mgr_gpa(SCRATCH), 0), -KEEL_EINVAL);
	CHECK_EQ(call(KEEL_HC_MGMT_STATS, id, ~0ull, 8), -KEEL_EFAULT);
	CHECK_EQ(call(KEEL_HC_MGMT_STATS, 77, mgr_gpa(SCRATCH), 8), -KEEL_ENOENT);

	/* Console: read with a cursor, write through con_input. */
	{
		struct keel_mgmt_console c = { id, 5, 0, mgr_gpa(SCRATCH + 0x1000) };

		p->con_head = 21;
		memcpy(mgr_ram() + SCRATCH, &c, sizeof(c));
		CHECK_EQ(call(KEEL_HC_MGMT_CONSOLE_READ, mgr_gpa(SCRATCH), sizeof(c), 0), KEEL_OK);
		CHECK_EQ(last_res[0], 5);
		CHECK_EQ(last_res[1], 5);
		CHECK(!memcmp(mgr_ram() + SCRATCH + 0x1000, "hello", 5));
		c.cursor = 22; /* beyond what was written */
		memcpy(mgr_ram() + SCRATCH, &c, sizeof(c));
		CHECK_EQ(call(KEEL_HC_MGMT_CONSOLE_READ, mgr_gpa(SCRATCH), sizeof(c), 0),
			 -KEEL_EINVAL);
		c.cursor = 0;
		c.len = KEEL_MGMT_CONSOLE_MAX + 1;
		memcpy(mgr_ram() + SCRATCH, &c, sizeof(c));
		CHECK_EQ(call(KEEL_HC_MGMT_CONSOLE_READ, mgr_gpa(SCRATCH), sizeof(c), 0),
			 -KEEL_E2BIG);
		c.len = 16;
		c.buf_gpa = ~0ull - 7;
		memcpy(mgr_ram() + SCRATCH, &c, sizeof(c));
		CHECK_EQ(call(KEEL_HC_MGMT_CONSOLE_READ, mgr_gpa(SCRATCH), sizeof(c), 0),
			 -KEEL_EFAULT);
		CHECK_EQ(call(KEEL_HC_MGMT_CONSOLE_READ, mgr_gpa(SCRATCH), sizeof(c) + 1, 0),
			 -KEEL_EINVAL);
	}
	memcpy(mgr_ram() + SCRATCH, "ls\n", 3);
	CHECK_EQ(call(KEEL_HC_MGMT_CONSOLE_WRITE, id, mgr_gpa(SCRATCH), 3), -KEEL_EBUSY);
	p->con_input = fake_input;
	p->con_ready = 1;
	CHECK_EQ(call(KEEL_HC_MGMT_CONSOLE_WRITE, id, mgr_gpa(SCRATCH), 3), KEEL_OK);
	CHECK_EQ(last_res[0], 3);
	CHECK(input_len == 3 && !memcmp(input_seen, "ls\n", 3));
	CHECK_EQ(call(KEEL_HC_MGMT_CONSOLE_WRITE, id, mgr_gpa(SCRATCH), KEEL_MGMT_CONSOLE_MAX + 1),
		 -KEEL_E2BIG);
	CHECK_EQ(call(KEEL_HC_MGMT_CONSOLE_WRITE, id, mgr_gpa(MGR_RAM - 2), 3), -KEEL_EFAULT);

	/* STOP: flags and timeout checked; the deferred stop fires on the timer. */
	CHECK_EQ(call(KEEL_HC_MGMT_STOP, id, 0, 2), -KEEL_EINVAL);
	CHECK_EQ(call(KEEL_HC_MGMT_STOP, id, KEEL_STOP_TIMEOUT_MAX_MS + 1, 0), -KEEL_EINVAL);
	CHECK_EQ(call(KEEL_HC_MGMT_STOP, mgr->id, 0, KEEL_STOP_FORCE), -KEEL_EPERM);
	timers_armed = 0;
	control_requests = 0;
	CHECK_EQ(call(KEEL_HC_MGMT_STOP, id, 0, 0), KEEL_OK);
	CHECK_EQ(timers_armed, 1);
	/* The guest was asked on its control port too (power button: none here). */
	CHECK_EQ(control_requests, 1);
	CHECK_EQ(last_control_request, VIRTIO_CTL_POWEROFF);
	CHECK_EQ(armed_timer->deadline_ns, 9000 + KEEL_STOP_TIMEOUT_DEFAULT_MS * 1000000ull);
	CHECK_EQ(p->state, PART_RUNNING); /* the guest has until the timeout */
	reports = 0;
	armed_timer->fn(armed_timer);
	CHECK_EQ(reports, 1); /* what the guest looked like goes to the console first */
	CHECK_EQ(p->state, PART_STOPPING);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), -KEEL_EBUSY);
	/* The vCPUs leave on their CPUs; the last one out returns the memory. */
	now_ns = 12000;
	part_vcpu_left(p->vcpus[0]); /* only the boot vCPU was started */
	CHECK_EQ(p->state, PART_STOPPED);
	CHECK_EQ(call(KEEL_HC_MGMT_STOP, id, 0, 0), KEEL_OK);
	CHECK_EQ(call(KEEL_HC_MGMT_STATS, id, mgr_gpa(SCRATCH), sizeof(ps)), KEEL_OK);
	memcpy(&ps, mgr_ram() + SCRATCH, sizeof(ps));
	CHECK_EQ(ps.status.state, KEEL_PSTATE_STOPPED);
	CHECK_EQ(ps.status.run_ns, 7000);
	/* A stopped held partition keeps its slot, id and cores free for others. */
	CHECK_EQ(create_simple("other", 0x6, 4ull << 20, 4096), KEEL_OK);
	CHECK(last_res[0] != id);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, last_res[0], 0, 0), KEEL_OK);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, mgr->id, 0, 0), -KEEL_EPERM);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);
	CHECK_EQ(pmm_free_bytes(), free_before);
}

static void test_start_not_a_kernel(void)
{
	u64 free_before = pmm_free_bytes();
	u32 id;

	CHECK_EQ(create_simple("junk", 0x8, 4ull << 20, 4096), KEEL_OK);
	id = (u32)last_res[0];
	CHECK_EQ(call(KEEL_HC_MGMT_START, id, 0, 0), -KEEL_ENOEXEC);
	CHECK_EQ(part_by_id(id)->state, PART_CREATED);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);
	CHECK_EQ(pmm_free_bytes(), free_before);
}

/* Create, load, destroy 100 times: not a byte of memory is lost. */
static void test_cycles(void)
{
	u64 free_before = pmm_free_bytes();
	int i;

	for (i = 0; i < 100; i++) {
		struct pdesc c = desc_for("cycle", 0xe, 8ull << 20);
		u32 id, disk;

		c.image[IMG_KERNEL].size = 5000 + (u32)i;
		add_image(&c, KEEL_PD_IMAGE_INITRD, 123);
		disk = add_image(&c, KEEL_PD_IMAGE_DATA, 1ull << 20);
		add_device(&c, KEEL_DEV_BLK, disk, 0);
		if (create(&c) != KEEL_OK) {
			CHECK(false);
			break;
		}
		id = (u32)last_res[0];
		CHECK_EQ(load(id, disk, 4096, mgr_gpa(0), 65536), KEEL_OK);
		CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);
	}
	CHECK_EQ(pmm_free_bytes(), free_before);
}

/* part_set_state(): every (state, request) pair; the change happens iff it was asked for. */
static void test_state_machine(void)
{
	struct partition *p = &partitions[KEEL_MAX_PARTITIONS - 1];
	u32 from, to, mask;

	for (from = PART_FREE; from <= PART_DESTROYING; from++)
		for (mask = 0; mask < BIT(PART_DESTROYING + 1); mask += 1 + (mask & 0x1f))
			for (to = PART_FREE; to <= PART_DESTROYING; to++) {
				bool ok;

				p->state = from;
				ok = part_set_state(p, mask, to);
				CHECK_EQ(ok, (mask & BIT(from)) != 0);
				CHECK_EQ(p->state, ok ? to : from);
			}
	p->state = PART_FREE;
}

/*
 * What each management call does to a partition in each state: refused
 * (-EBUSY) wherever the state does not allow it, never acting on a state
 * the partition is leaving (BUILDING, DESTROYING).
 */
static void test_calls_by_state(void)
{
	static const struct {
		u32 state;
		s64 start, pause, resume, destroy;
	} want[] = {
		{ PART_BUILDING, -KEEL_EBUSY, -KEEL_EBUSY, -KEEL_EBUSY, -KEEL_EBUSY },
		{ PART_DESTROYING, -KEEL_EBUSY, -KEEL_EBUSY, -KEEL_EBUSY, -KEEL_EBUSY },
		{ PART_STOPPING, -KEEL_EBUSY, -KEEL_EBUSY, -KEEL_EBUSY, -KEEL_EBUSY },
		{ PART_PAUSED, -KEEL_EBUSY, KEEL_OK, KEEL_OK, -KEEL_EBUSY },
	};
	u32 id = create_loaded("states", 0x8), i;
	struct partition *p = part_by_id(id);

	for (i = 0; i < ARRAY_SIZE(want); i++) {
		p->state = want[i].state;
		CHECK_EQ(call(KEEL_HC_MGMT_START, id, 0, 0), want[i].start);
		p->state = want[i].state;
		CHECK_EQ(call(KEEL_HC_MGMT_PAUSE, id, 0, 0), want[i].pause);
		p->state = want[i].state;
		CHECK_EQ(call(KEEL_HC_MGMT_RESUME, id, 0, 0), want[i].resume);
		p->state = want[i].state;
		CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), want[i].destroy);
		CHECK(p->state != PART_FREE);
	}
	/* A stop of one being rebuilt is taken: it will not start (part_run). */
	p->state = PART_BUILDING;
	CHECK_EQ(call(KEEL_HC_MGMT_STOP, id, 0, KEEL_STOP_FORCE), KEEL_OK);
	CHECK_EQ(p->stop_requested, 1);
	CHECK_EQ(part_start(p), -KEEL_EINVAL); /* not LOADED */
	p->state = PART_LOADED;
	CHECK_EQ(part_start(p), -KEEL_EBUSY); /* the stop wins */
	CHECK_EQ(p->state, PART_STOPPED);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);
}

static struct keel_part_stats stats_of(u32 id)
{
	struct keel_part_stats ps;

	CHECK_EQ(call(KEEL_HC_MGMT_STATS, id, mgr_gpa(SCRATCH), sizeof(ps)), KEEL_OK);
	memcpy(&ps, mgr_ram() + SCRATCH, sizeof(ps));
	return ps;
}

/* Create from @c, load a kernel and start it: the running partition. */
static struct partition *create_started(const struct pdesc *c, u32 *id)
{
	CHECK_EQ(create(c), KEEL_OK);
	*id = (u32)last_res[0];
	memcpy(mgr_ram() + 0x20000, "KERN", 4);
	CHECK_EQ(load(*id, IMG_KERNEL, 0, mgr_gpa(0x20000), 4096), KEEL_OK);
	CHECK_EQ(call(KEEL_HC_MGMT_START, *id, 0, 0), KEEL_OK);
	return part_by_id(*id);
}

/* A guest reboot as the vCPU exit handlers report it, then the vCPU leaving its CPU. */
static void guest_reboots(struct partition *p)
{
	part_stop(p, KEEL_STOP_CAUSE_GUEST, "reboot requested by the guest", true);
	part_vcpu_left(p->vcpus[0]);
}

/*
 * on_reboot for managed partitions (desc version 3): a version-2 description
 * stops on reboot as before 0.8; without REBOOT_STOP a reboot restarts it in
 * place; a pending STOP turns the next reboot into the stop; a forced STOP of
 * one going down for a reboot cancels the restart.
 */
static void test_reboot_policy(void)
{
	struct pdesc c = desc_for("old", 0x8, 4ull << 20);
	u64 free_before = pmm_free_bytes();
	struct keel_part_stats ps;
	struct partition *p;
	u32 id;

	CHECK_EQ(create(&c), KEEL_OK); /* keelctl's default: on_reboot = stop */
	id = (u32)last_res[0];
	CHECK(part_by_id(id)->desc.h.flags & KEEL_PD_REBOOT_STOP);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);

	c = desc_for("again", 0x8, 4ull << 20);
	c.h.flags = 0; /* on_reboot = restart */
	p = create_started(&c, &id);
	guest_reboots(p);
	CHECK_EQ(p->state, PART_RUNNING); /* rebuilt in its slot from the same images */
	ps = stats_of(id);
	CHECK_EQ(ps.restarts, 1);
	CHECK(!(ps.status.flags & KEEL_PD_REBOOT_STOP));
	CHECK(!memcmp(hpa_to_hva(p->kernel->base), "KERN", 4));
	guest_reboots(p);
	CHECK_EQ(stats_of(id).restarts, 2);

	/* Asked to stop, it reboots instead: that ends it, as the guest's own act. */
	CHECK_EQ(call(KEEL_HC_MGMT_STOP, id, 0, 0), KEEL_OK);
	CHECK_EQ(p->state, PART_RUNNING);
	guest_reboots(p);
	CHECK_EQ(p->state, PART_STOPPED);
	ps = stats_of(id);
	CHECK_EQ(ps.restarts, 2);
	CHECK_EQ(ps.stop_cause, KEEL_STOP_CAUSE_GUEST);
	reports = 0;
	armed_timer->fn(armed_timer); /* the stop's timer, late: nothing left to do */
	CHECK_EQ(p->state, PART_STOPPED);
	CHECK_EQ(reports, 0);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);

	/* Going down for a reboot when a forced STOP comes: it stays down. */
	p = create_started(&c, &id);
	part_stop(p, KEEL_STOP_CAUSE_GUEST, "reboot requested by the guest", true);
	CHECK_EQ(p->state, PART_STOPPING);
	CHECK_EQ(call(KEEL_HC_MGMT_STOP, id, 0, KEEL_STOP_FORCE), KEEL_OK);
	part_vcpu_left(p->vcpus[0]);
	CHECK_EQ(p->state, PART_STOPPED);
	ps = stats_of(id);
	CHECK_EQ(ps.restarts, 0);
	CHECK_EQ(ps.stop_cause, KEEL_STOP_CAUSE_FORCED);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);

	/* ... and an asked STOP then: the reboot under way answers it, no timer, no restart. */
	p = create_started(&c, &id);
	part_stop(p, KEEL_STOP_CAUSE_GUEST, "reboot requested by the guest", true);
	timers_armed = 0;
	CHECK_EQ(call(KEEL_HC_MGMT_STOP, id, 0, 0), KEEL_OK);
	CHECK_EQ(timers_armed, 0);
	part_vcpu_left(p->vcpus[0]);
	CHECK_EQ(p->state, PART_STOPPED);
	ps = stats_of(id);
	CHECK_EQ(ps.restarts, 0);
	CHECK_EQ(ps.stop_cause, KEEL_STOP_CAUSE_GUEST);
	CHECK(!strcmp(ps.stop_reason, "rebooted by the guest while asked to stop"));
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);

	/* Being built again when a forced STOP comes: it does not start, the cause is the STOP's. */
	CHECK_EQ(create(&c), KEEL_OK);
	id = (u32)last_res[0];
	p = part_by_id(id);
	p->state = PART_BUILDING;
	p->rebuilding = 1;
	CHECK_EQ(call(KEEL_HC_MGMT_STOP, id, 0, 0), KEEL_OK); /* asked: the reboot answers */
	CHECK_EQ(p->stop_cause, KEEL_STOP_CAUSE_GUEST);
	CHECK_EQ(call(KEEL_HC_MGMT_STOP, id, 0, KEEL_STOP_FORCE),
		 KEEL_OK); /* the first stop's cause stands */
	CHECK_EQ(p->stop_cause, KEEL_STOP_CAUSE_GUEST);
	p->state = PART_LOADED;
	CHECK_EQ(part_start(p), -KEEL_EBUSY);
	CHECK_EQ(p->state, PART_STOPPED);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);
	CHECK_EQ(pmm_free_bytes(), free_before);
}

/*
 * Asked stops, many more than a CPU has timers, each answered by the guest
 * long before its timeout: every one still gets its timer (the timers of
 * runs that are over are taken back), so none is forced for want of one.
 * A second STOP of the same run keeps the earlier deadline.
 */
static void test_stop_timers_reused(void)
{
	u64 free_before = pmm_free_bytes();
	u32 i;

	for (i = 0; i < 3 * KEEL_MAX_PARTITIONS; i++) {
		u32 id = create_loaded("asked", 0x8);
		struct partition *p = part_by_id(id);
		struct timer *first;

		CHECK_EQ(call(KEEL_HC_MGMT_START, id, 0, 0), KEEL_OK);
		timers_armed = 0;
		CHECK_EQ(call(KEEL_HC_MGMT_STOP, id, 1000, 0), KEEL_OK);
		CHECK_EQ(timers_armed, 1);
		first = armed_timer;
		CHECK_EQ(call(KEEL_HC_MGMT_STOP, id, 5000, 0),
			 KEEL_OK); /* later: the first stands */
		CHECK_EQ(timers_armed, 1);
		CHECK_EQ(call(KEEL_HC_MGMT_STOP, id, 10, 0), KEEL_OK); /* sooner: re-armed */
		CHECK_EQ(timers_armed, 2);
		CHECK(armed_timer == first);
		CHECK_EQ(p->state, PART_RUNNING);
		part_stop(p, KEEL_STOP_CAUSE_GUEST, "powered off by the guest", false);
		part_vcpu_left(p->vcpus[0]);
		CHECK_EQ(stats_of(id).stop_cause, KEEL_STOP_CAUSE_GUEST);
		CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);
	}
	CHECK_EQ(pmm_free_bytes(), free_before);
}

/*
 * vCPUs are the partition's until DESTROY gives their memory back, and only
 * once no CPU holds one (pcpu->held, set by pcpu_loop before it uses the vCPU
 * it read). A CPU that never lets go: DESTROY still completes, the memory is
 * kept (never reused) and the log names the CPU.
 */
/*
 * WATCH: each call arms the event interrupt once; the next event of another
 * partition (a state change, console output) asks the manager's vCPU 0 to
 * raise it, and that vCPU raises one edge. The manager's own events do not.
 */
static void test_watch(void)
{
	u32 id = create_loaded("watched", 0x2);
	struct partition *p = part_by_id(id);
	struct keel_part_stats ps;
	u64 count;

	CHECK_EQ(call(KEEL_HC_MGMT_WATCH, 0, 0, 0), -KEEL_ENOENT);
	CHECK_EQ(call(KEEL_HC_MGMT_WATCH, KEEL_MAX_PARTITIONS + 1, 0, 0), -KEEL_ENOENT);
	CHECK_EQ(call(KEEL_HC_MGMT_WATCH, 1ull << 32 | id, 0, 0), -KEEL_ENOENT);

	p->con_head = 42;
	CHECK_EQ(call(KEEL_HC_MGMT_WATCH, id, 0, 0), KEEL_OK);
	count = last_res[0];
	CHECK_EQ(last_res[1], KEEL_PSTATE_CREATED);
	CHECK_EQ(last_res[2], 42);
	CHECK(!(mgr_vcpu->requests & VCPU_REQ_EVENT));

	/* START changes its state: counted, and the armed interrupt is asked for. */
	CHECK_EQ(call(KEEL_HC_MGMT_START, id, 0, 0), KEEL_OK);
	CHECK(mgr_vcpu->requests & VCPU_REQ_EVENT);
	/* STATS' first_insn_ns: 0 until the boot vCPU entered, then START -> that entry. */
	CHECK_EQ(call(KEEL_HC_MGMT_STATS, id, mgr_gpa(SCRATCH), sizeof(ps)), KEEL_OK);
	memcpy(&ps, mgr_ram() + SCRATCH, sizeof(ps));
	CHECK_EQ(ps.first_insn_ns, 0);
	p->first_entry_ns = p->start_ns + 250000;
	CHECK_EQ(call(KEEL_HC_MGMT_STATS, id, mgr_gpa(SCRATCH), sizeof(ps)), KEEL_OK);
	memcpy(&ps, mgr_ram() + SCRATCH, sizeof(ps));
	CHECK_EQ(ps.first_insn_ns, 250000);
	event_edges = 0;
	mgmt_watch_deliver(mgr_vcpu);
	CHECK_EQ(event_edges, 1);
	CHECK(!(mgr_vcpu->requests & VCPU_REQ_EVENT));
	CHECK_EQ(call(KEEL_HC_MGMT_WATCH, id, 0, 0), KEEL_OK);
	CHECK(last_res[0] > count);
	CHECK_EQ(last_res[1], KEEL_PSTATE_RUNNING);
	count = last_res[0];

	/* Armed once: the first event takes it, the second finds it disarmed. */
	mgmt_watch_event(p);
	CHECK(mgr_vcpu->requests & VCPU_REQ_EVENT);
	__atomic_fetch_and(&mgr_vcpu->requests, ~VCPU_REQ_EVENT, __ATOMIC_SEQ_CST);
	mgmt_watch_event(p);
	CHECK(!(mgr_vcpu->requests & VCPU_REQ_EVENT));
	CHECK_EQ(call(KEEL_HC_MGMT_WATCH, id, 0, 0), KEEL_OK);
	CHECK_EQ(last_res[0], count + 2);

	/* The manager's own changes count but wake nobody. */
	mgmt_watch_event(mgr);
	CHECK(!(mgr_vcpu->requests & VCPU_REQ_EVENT));

	/* Only the management partition's vCPU 0 raises the line. */
	event_edges = 0;
	mgmt_watch_deliver(p->vcpus[0]);
	CHECK_EQ(event_edges, 0);

	/* Stopping and stopped are events too; a destroyed partition is gone. */
	CHECK_EQ(call(KEEL_HC_MGMT_WATCH, id, 0, 0), KEEL_OK);
	CHECK_EQ(call(KEEL_HC_MGMT_STOP, id, 0, KEEL_STOP_FORCE), KEEL_OK);
	CHECK(mgr_vcpu->requests & VCPU_REQ_EVENT);
	__atomic_fetch_and(&mgr_vcpu->requests, ~VCPU_REQ_EVENT, __ATOMIC_SEQ_CST);
	part_vcpu_left(p->vcpus[0]); /* only the boot vCPU was started */
	CHECK_EQ(call(KEEL_HC_MGMT_WATCH, id, 0, 0), KEEL_OK);
	CHECK_EQ(last_res[1], KEEL_PSTATE_STOPPED);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);
	CHECK_EQ(call(KEEL_HC_MGMT_WATCH, id, 0, 0), -KEEL_ENOENT);
	__atomic_fetch_and(&mgr_vcpu->requests, ~VCPU_REQ_EVENT, __ATOMIC_SEQ_CST);
}

/* A running partition STOPPED as its guest would: powered off, its one vCPU out. */
static void guest_stops(struct partition *p)
{
	part_stop(p, KEEL_STOP_CAUSE_GUEST, "powered off by the guest", false);
	part_vcpu_left(p->vcpus[0]);
	CHECK_EQ(p->state, PART_STOPPED);
}

/*
 * Once every slot is taken, CREATE reuses the slot of a stopped partition no
 * manager holds (a keel.cfg one, kept listed until then): that partition's
 * vCPU memory goes back to the pool, not lost with the slot it lived in.
 */
static void test_stopped_slot_reused(void)
{
	static u8 kernel[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE))) = "KERN";
	struct keel_boot_module mod = { .base = hva_to_hpa(kernel), .size = 4 };
	const struct keel_boot_module *images[KEEL_PD_MAX_IMAGES] = { &mod };
	struct pdesc d = desc_for("fromcfg", 0x8, 4ull << 20);
	u64 free_before = pmm_free_bytes();
	u32 ids[KEEL_MAX_PARTITIONS], n = 0, cfg_id, i;
	struct partition *cfg;

	CHECK_EQ(part_create_images(&d, images, &cfg), 0);
	CHECK(cfg->vcpu_mem != 0);
	cfg_id = cfg->id;
	CHECK(part_set_state(cfg, PS(BUILDING), PART_CREATED));
	CHECK_EQ(part_load_created(cfg), 0);
	CHECK_EQ(part_start(cfg), 0);
	guest_stops(cfg);
	/* Every other slot: stopped partitions the manager still holds. */
	for (n = 0; n < KEEL_MAX_PARTITIONS - 2; n++) { /* but the manager's and fromcfg's */
		char name[16];
		struct partition *p;

		snprintf(name, sizeof(name), "held%u", n);
		CHECK_EQ(create_simple(name, 0x8, 4ull << 20, 8192), KEEL_OK);
		p = part_by_id((u32)last_res[0]);
		if (!p || p->id == cfg_id)
			break;
		ids[n] = p->id;
		memcpy(mgr_ram() + 0x20000, "KERN", 4);
		CHECK_EQ(load(p->id, IMG_KERNEL, 0, mgr_gpa(0x20000), 8192), KEEL_OK);
		CHECK_EQ(call(KEEL_HC_MGMT_START, p->id, 0, 0), KEEL_OK);
		guest_stops(p);
	}
	CHECK_EQ(n, KEEL_MAX_PARTITIONS - 2); /* no slot but fromcfg's taken so far */
	CHECK_EQ(create_simple("new", 0x8, 4ull << 20, 8192), KEEL_OK);
	CHECK_EQ(last_res[0], cfg_id);
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, cfg_id, 0, 0), KEEL_OK);
	for (i = 0; i < n; i++)
		CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, ids[i], 0, 0), KEEL_OK);
	CHECK_EQ(pmm_free_bytes(), free_before);
}

static void test_vcpus_freed_when_not_held(void)
{
	u64 free_before = pmm_free_bytes(), kept;
	u32 id = create_loaded("held", 0xc);
	struct partition *p = part_by_id(id);

	CHECK_EQ(p->vcpu_count, 2);
	CHECK(p->vcpu_mem != 0);
	CHECK(p->vcpus[1] == p->vcpus[0] + 1); /* one array, its own */
	CHECK(p->vcpus[0]->pcpu == &pcpus[2] && p->vcpus[1]->pcpu == &pcpus[3]);
	kept = p->vcpu_mem_size;
	pcpus[3].held = p->vcpus[1];
	clock_step_ns = 50ull * 1000 * 1000;
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);
	clock_step_ns = 0;
	CHECK(part_by_id(id) == NULL); /* the slot is free all the same */
	CHECK_EQ(pmm_free_bytes(), free_before - kept);
	pcpus[3].held = NULL;
}

/*
 * Where the interrupt controller takes MSIs as DMA writes (aarch64's ITS), a
 * partition's domain maps that doorbell page too, at its own address; never
 * where the partition has RAM, which its devices' DMA must reach instead.
 */
static void test_pci_doorbell(void)
{
	static const struct iommu_ops named = { .name = "fake" };
	static struct iommu_unit smmu = {
		.kind = IOMMU_SMMUV3, .index = 0, .on = true, .ops = &named
	};
	const u32 edu = KEEL_PCI_ADDR(0, 0, 3, 0);
	u32 id;

	pci_fake(0, PCI_BDF(0, 3, 0), 0x1234, 0x11e8, 0x00ff00, PCI_HEADER_NORMAL, 3, &smmu);
	fake_pci_count = 1;
	CHECK_EQ(create_simple("db", 0x2, 4ull << 20, 4096), KEEL_OK);
	id = (u32)last_res[0];

	fake_doorbell = 0x08090000;
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, id, edu, 0), KEEL_OK);
	CHECK_EQ(fake_domains[id].doorbell, 0x08090000);
	CHECK_EQ(fake_domains[id].mapped, 4ull << 20);
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_RELEASE, id, edu, 0), KEEL_OK);
	CHECK(!fake_domains[id].live);

	/* In its RAM: refused, the function not given, nothing left behind. */
	fake_doorbell = KEEL_GUEST_RAM_BASE + (1ull << 20);
	unit_log_len = 0;
	unit_log[0] = 0;
	CHECK_EQ(call(KEEL_HC_MGMT_PCI_ASSIGN, id, edu, 0), -KEEL_EINVAL);
	CHECK(strstr(unit_log, "partition 'db': its RAM at 0x40000000 covers the MSI doorbell "
			       "0x40100000"));
	CHECK_EQ(pci_owner(0), KEEL_PCI_OWNER_NONE);
	CHECK(!fake_domains[id].live);
	CHECK_EQ(fake_domains[id].mapped, 0);

	fake_doorbell = 0;
	CHECK_EQ(call(KEEL_HC_MGMT_DESTROY, id, 0, 0), KEEL_OK);
	fake_pci_count = 0;
}

int main(void)
{
	setup();
	test_state_machine();
	test_privilege();
	test_host_info_and_list();
	test_pci_list();
	test_pci_assign_release();
	test_pci_doorbell();
	test_net_list();
	test_create_hostile();
	test_load_hostile();
	test_measure();
	test_tpm_report();
	test_lifecycle();
	test_start_not_a_kernel();
	test_cycles();
	test_calls_by_state();
	test_reboot_policy();
	test_stop_timers_reused();
	test_watch();
	test_stopped_slot_reused();
	test_vcpus_freed_when_not_held(); /* last: it keeps a vCPU array for good */
	free(pool);
	return unit_done("test_mgmt");
}
