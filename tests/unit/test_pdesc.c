/* SPDX-License-Identifier: MIT */
/* Unit tests of the partition description validator (core/pdesc.c). */
#include <stdlib.h>
#include <string.h>

#include <keel/boot_info.h>
#include <keel/pdesc.h>

#include "unit.h"

#define CHECK_STR(got, want)                                                \
	do {                                                                \
		const char *g_ = (got), *w_ = (want);                       \
		CHECK(!strcmp(g_, w_));                                     \
		if (strcmp(g_, w_))                                         \
			fprintf(stderr, "  got '%s', want '%s'\n", g_, w_); \
	} while (0)

static void add_device(struct pdesc *d, u32 type, u32 backend, u32 flags)
{
	pdesc_add_device(d, type, backend, flags);
}

static u32 add_image(struct pdesc *d, u32 role, u32 module)
{
	return pdesc_add_image(d, role, module, 0);
}

/* As the loader makes it: 64 MiB, kernel module 0, console, entropy, control. */
static struct pdesc good(const char *name, u64 cpus)
{
	struct pdesc d;

	memset(&d, 0, sizeof(d));
	d.h.version = KEEL_PDESC_VERSION;
	d.h.flags = KEEL_PD_AUTOSTART;
	strcpy(d.h.name, name);
	d.h.cpu_mask = cpus;
	d.h.mem_count = 1;
	d.mem[0] = (struct keel_pd_mem){ .type = KEEL_PD_MEM_RAM, .size = 64ull << 20 };
	add_image(&d, KEEL_PD_IMAGE_KERNEL, 0);
	pdesc_add_default_devices(&d, KEEL_NO_BACKEND, 0);
	return d;
}

/* @d with a disk on boot module @module (image and device). */
static void add_disk(struct pdesc *d, u32 module, u32 flags)
{
	u32 i = add_image(d, KEEL_PD_IMAGE_DATA, module);

	add_device(d, KEEL_DEV_BLK, i, flags);
}

static const struct pdesc_limits lim = { .cpu_count = 4,
					 .module_count = 2,
					 .mem_available = 1ull << 30 };

static void expect_bad(const struct pdesc *d, u32 field, const char *text)
{
	struct pdesc_error err;

	memset(&err, 0, sizeof(err));
	CHECK_EQ(pdesc_check(d, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.field, field);
	CHECK(strstr(err.msg, text) != NULL);
	if (!strstr(err.msg, text))
		fprintf(stderr, "  message was: %s\n", err.msg);
}

/* Hot-pluggable memory: one region after RAM, with exactly one virtio-mem device on it. */
static void test_hotplug_rules(void)
{
	struct pdesc d = good("x", 2);
	struct pdesc_error err;

	pdesc_add_hotplug(&d, 1ull << 30);
	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	CHECK_EQ(pdesc_hotplug_size(&d), 1ull << 30);
	CHECK_EQ(d.device[d.h.device_count - 1].type, KEEL_DEV_MEM);
	CHECK_EQ(d.device[d.h.device_count - 1].backend, 1);
	/* The region is address space: more than the host has is fine. */
	d.mem[1].size = KEEL_HOTMEM_MAX;
	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	d.mem[1].size = KEEL_HOTMEM_MAX + KEEL_HOTMEM_ALIGN;
	expect_bad(&d, PDESC_F_MEMORY, "multiple of 128M up to 256G");
	d.mem[1].size = KEEL_HOTMEM_ALIGN + KEEL_HOTMEM_BLOCK;
	expect_bad(&d, PDESC_F_MEMORY, "multiple of 128M");
	d.mem[1].size = 0;
	expect_bad(&d, PDESC_F_MEMORY, "multiple of 128M");
	d.mem[1].size = KEEL_HOTMEM_ALIGN;
	d.mem[1].flags = 2;
	expect_bad(&d, PDESC_F_MEMORY, "must be hot-pluggable");
	d.mem[1].flags = 0;

	/* Its device: backed by the region, not RAM nor nothing; once only; flags 0. */
	d.device[d.h.device_count - 1].backend = 0;
	expect_bad(&d, PDESC_F_DEVICE, "is not a hot-pluggable memory region");
	d.device[d.h.device_count - 1].backend = KEEL_NO_BACKEND;
	expect_bad(&d, PDESC_F_DEVICE, "is not a hot-pluggable memory region");
	d.device[d.h.device_count - 1].backend = 1;
	d.device[d.h.device_count - 1].flags = 1;
	expect_bad(&d, PDESC_F_DEVICE, "flags are set");
	d.device[d.h.device_count - 1].flags = 0;
	pdesc_add_device(&d, KEEL_DEV_MEM, 1, 0);
	expect_bad(&d, PDESC_F_DEVICE, "listed twice");

	/* A region without its device, a device without a region, a third region. */
	d = good("x", 2);
	pdesc_add_hotplug(&d, 1ull << 30);
	d.h.device_count--;
	pdesc_set_size(&d);
	expect_bad(&d, PDESC_F_DEVICE, "needs a memory device");
	d = good("x", 2);
	pdesc_add_device(&d, KEEL_DEV_MEM, 1, 0);
	expect_bad(&d, PDESC_F_DEVICE, "is not a hot-pluggable memory region");
	d = good("x", 2);
	pdesc_add_hotplug(&d, 1ull << 30);
	d.mem[2] = d.mem[1];
	d.h.mem_count = 3;
	pdesc_set_size(&d);
	expect_bad(&d, PDESC_F_MEMORY, "3 memory regions");
}

static void test_single(void)
{
	struct pdesc d = good("hello", 0x2);
	struct pdesc_error err;

	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	d = good("", 2);
	expect_bad(&d, PDESC_F_NAME, "name");
	d = good("bad name", 2);
	expect_bad(&d, PDESC_F_NAME, "name");
	d = good("x", 2);
	memset(d.h.name, 'a', sizeof(d.h.name)); /* no terminator */
	expect_bad(&d, PDESC_F_NAME, "name");
	d = good("x", 0);
	expect_bad(&d, PDESC_F_CPUS, "no cpus");
	d = good("x", 1ull << 4);
	expect_bad(&d, PDESC_F_CPUS, "cpu 4 does not exist");
	d = good("x", 1ull << 63);
	expect_bad(&d, PDESC_F_CPUS, "cpu 63 does not exist");
	d = good("x", 2);
	d.mem[0].size = 3ull << 20;
	expect_bad(&d, PDESC_F_MEMORY, "multiple of 2M");
	d.mem[0].size = 0;
	expect_bad(&d, PDESC_F_MEMORY, "at least 2M");
	d.mem[0].size = 2ull << 30;
	expect_bad(&d, PDESC_F_MEMORY, "more than the 1024 MiB");
	d = good("x", 2);
	d.mem[0].flags = 1;
	expect_bad(&d, PDESC_F_MEMORY, "region 0 must be its RAM");
	d = good("x", 2);
	d.h.mem_count = 2;
	d.mem[1] = d.mem[0];
	pdesc_set_size(&d);
	expect_bad(&d, PDESC_F_MEMORY, "region 1 must be hot-pluggable");
	test_hotplug_rules();
	d = good("x", 2);
	d.image[0].role = KEEL_PD_IMAGE_INITRD;
	expect_bad(&d, PDESC_F_KERNEL, "no kernel");
	add_image(&d, KEEL_PD_IMAGE_INITRD, 1);
	d.image[0].role = KEEL_PD_IMAGE_KERNEL;
	add_image(&d, KEEL_PD_IMAGE_KERNEL, 1);
	expect_bad(&d, PDESC_F_KERNEL, "has two kernels");
	d.image[2].role = 0;
	expect_bad(&d, PDESC_F_KERNEL, "unknown role 0");
	d = good("x", 2);
	d.image[0].module = 7;
	expect_bad(&d, PDESC_F_KERNEL, "module 7 was not loaded");
	d.image[0].module = KEEL_NO_MODULE;
	expect_bad(&d, PDESC_F_KERNEL, "was not loaded");
	d = good("x", 2);
	d.image[0].size = 4096; /* a boot image has the module's size */
	expect_bad(&d, PDESC_F_KERNEL, "not loaded");
	d = good("x", 2);
	add_image(&d, KEEL_PD_IMAGE_INITRD, 2);
	expect_bad(&d, PDESC_F_INITRD, "not loaded");
	d = good("x", 2);
	add_image(&d, KEEL_PD_IMAGE_INITRD, 0); /* one file as kernel and initrd: allowed */
	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	add_image(&d, KEEL_PD_IMAGE_INITRD, 1);
	d.image[2].module = 2;
	{
		struct pdesc_limits three = lim;

		three.module_count = 3;
		CHECK_EQ(pdesc_check(&d, &three, &err), -KEEL_EINVAL);
		CHECK(strstr(err.msg, "two initrds") != NULL);
	}
	d = good("x", 2);
	add_disk(&d, 2, 0);
	expect_bad(&d, PDESC_F_DISK, "module 2 was not loaded");
	d.image[1].module = 0;
	expect_bad(&d, PDESC_F_DISK, "a disk cannot also be its kernel");
	d.image[1].module = 1;
	add_disk(&d, 1, 0);
	expect_bad(&d, PDESC_F_DISK, "or another disk");
	d.h.device_count--;
	d.h.image_count--;
	pdesc_set_size(&d);
	d.device[3].flags = 4;
	expect_bad(&d, PDESC_F_DISK, "unknown flags");
	d.device[3].flags = KEEL_DISK_RO;
	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	d.device[3].backend = 0; /* the kernel behind a disk */
	expect_bad(&d, PDESC_F_DISK, "backend 0 is not a data image");
	d.device[3].backend = KEEL_NO_BACKEND;
	expect_bad(&d, PDESC_F_DISK, "is not a data image");
	d.device[3] = (struct keel_pd_device){ .type = KEEL_DEV_RNG, .backend = KEEL_NO_BACKEND };
	expect_bad(&d, PDESC_F_DEVICE, "listed twice");
	d.device[3].type = 0;
	expect_bad(&d, PDESC_F_DEVICE, "unknown type 0");
	d.device[3] = (struct keel_pd_device){ .type = KEEL_DEV_CONSOLE + 100 };
	expect_bad(&d, PDESC_F_DEVICE, "unknown type");
	d.h.device_count = 3;
	pdesc_set_size(&d);
	expect_bad(&d, PDESC_F_DISK, "data image 1 backs no device");
	d = good("x", 2);
	d.device[0].pad = 1;
	expect_bad(&d, PDESC_F_DEVICE, "unknown type");
	d = good("x", 2);
	d.device[1].flags = 1;
	expect_bad(&d, PDESC_F_DEVICE, "takes no backend or flags");
	d = good("x", 2);
	d.h.device_count = 0; /* no devices at all is a valid (if mute) partition */
	pdesc_set_size(&d);
	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	d = good("x", 2);
	d.h.flags |= 1u << 30;
	expect_bad(&d, PDESC_F_FLAGS, "unknown flags");
	d = good("x", 2);
	memset(d.h.cmdline, 'c', sizeof(d.h.cmdline));
	expect_bad(&d, PDESC_F_CMDLINE, "command line");
	d = good("x", 2);
	d.h.version = 3;
	expect_bad(&d, PDESC_F_NONE, "version 3, expected 5");
	d = good("x", 2);
	d.h.size += 16;
	expect_bad(&d, PDESC_F_NONE, "its counts make");
	d = good("x", 2);
	d.h.image_count = KEEL_PD_MAX_IMAGES + 1;
	expect_bad(&d, PDESC_F_NONE, "at most");
}

/* Images given by size (CREATE): 1 byte to KEEL_MGMT_IMAGE_MAX, no module. */
static void test_sized_images(void)
{
	struct pdesc_limits sized = { .cpu_count = 4 };
	struct pdesc d = good("x", 2);
	struct pdesc_error err;

	CHECK_EQ(pdesc_check(&d, &sized, &err), -KEEL_EINVAL); /* module 0 named */
	d.image[0].module = KEEL_NO_MODULE;
	CHECK_EQ(pdesc_check(&d, &sized, &err), -KEEL_EINVAL); /* no size */
	d.image[0].size = 1;
	CHECK_EQ(pdesc_check(&d, &sized, &err), 0);
	d.image[0].size = KEEL_MGMT_IMAGE_MAX;
	CHECK_EQ(pdesc_check(&d, &sized, &err), 0);
	d.image[0].size = KEEL_MGMT_IMAGE_MAX + 1;
	CHECK_EQ(pdesc_check(&d, &sized, &err), -KEEL_EINVAL);
	CHECK(strstr(err.msg, "needs a size") != NULL);
}

static unsigned long long rnd_state = 0x9e3779b97f4a7c15ull;

static u64 rnd(void)
{
	return unit_rand(&rnd_state);
}

/*
 * Hostile packed descriptions: counts and sizes from the full 32-bit range
 * and near the edges, buffers cut short. Unpack accepts only a size that
 * matches the counts exactly and reads nothing past the bytes given (ASan
 * would say so); a good one round-trips through pack.
 */
static void test_unpack_hostile(void)
{
	static const u32 edge[] = { 0, 1,  2,  3,  4,		7,	     8,
				    9, 15, 16, 17, 0x10000001u, 0x7fffffffu, 0xffffffffu };
	static u8 buf[KEEL_PDESC_SIZE_MAX + 64];
	struct pdesc d = good("x", 2), out;
	struct pdesc_error err;
	u32 size, i, accepted = 0;
	u8 *heap;

	size = pdesc_pack(&d, buf);
	CHECK_EQ(size, KEEL_PDESC_SIZE(1, 1, 3));
	CHECK_EQ(pdesc_unpack(buf, size, &out, &err), 0);
	CHECK(!memcmp(&out, &d, sizeof(d)));
	CHECK_EQ(pdesc_unpack(buf, size - 1, &out, &err), -KEEL_EINVAL);
	CHECK_EQ(pdesc_unpack(buf, size + 16, &out, &err), -KEEL_EINVAL);
	CHECK_EQ(pdesc_unpack(buf, 0, &out, &err), -KEEL_EINVAL);
	CHECK_EQ(pdesc_unpack(buf, sizeof(d.h) - 1, &out, &err), -KEEL_EINVAL);
	for (i = 0; i < 100000; i++) {
		struct keel_part_desc h = d.h;
		u64 len;

		h.mem_count = (rnd() & 1) ? edge[rnd() % ARRAY_SIZE(edge)] : (u32)rnd();
		h.image_count = (rnd() & 1) ? edge[rnd() % ARRAY_SIZE(edge)] : (u32)rnd();
		h.device_count = (rnd() & 1) ? edge[rnd() % ARRAY_SIZE(edge)] : (u32)rnd();
		h.size = (rnd() & 3) ? (u32)(KEEL_PDESC_SIZE((u64)h.mem_count, (u64)h.image_count,
							     (u64)h.device_count))
				     : (u32)rnd();
		len = (rnd() & 3) ? h.size : rnd() % sizeof(buf);
		if (len > sizeof(buf))
			len = sizeof(buf);
		/* An exact-size heap copy, so a read past len is caught. */
		heap = malloc(len ? len : 1);
		memset(heap, (int)(rnd() & 0xff), len);
		memcpy(heap, &h, MIN(len, sizeof(h)));
		if (pdesc_unpack(heap, len, &out, &err) == 0) {
			accepted++;
			CHECK(out.h.mem_count <= KEEL_PD_MAX_MEM &&
			      out.h.image_count <= KEEL_PD_MAX_IMAGES &&
			      out.h.device_count <= KEEL_PD_MAX_DEVICES);
			CHECK_EQ(len, KEEL_PDESC_SIZE(out.h.mem_count, out.h.image_count,
						      out.h.device_count));
			/* Whatever came in, the checker decides without reading past the arrays. */
			pdesc_check(&out, &lim, &err);
		}
		free(heap);
	}
	CHECK(accepted > 100); /* the generator reaches the accepting path too */
}

static void test_set(void)
{
	struct pdesc d[3] = { good("a", 0x2), good("b", 0x4), good("c", 0x8) };
	struct pdesc_error err;

	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), 0);
	d[2].h.cpu_mask = 0xc;
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.index, 2);
	CHECK_EQ(err.field, PDESC_F_CPUS);
	CHECK(strstr(err.msg, "cpu 2 is already owned by partition 'b'") != NULL);
	d[2] = good("a", 0x8);
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), -KEEL_EINVAL);
	CHECK(strstr(err.msg, "used twice") != NULL);
	d[2] = good("c", 0x8);
	d[0].h.flags |= KEEL_PD_MANAGEMENT;
	d[2].h.flags |= KEEL_PD_MANAGEMENT;
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.field, PDESC_F_MANAGEMENT);
	CHECK_EQ(err.index, 2);
	d[2].h.flags &= ~KEEL_PD_MANAGEMENT;
	d[1].mem[0].size = 512ull << 20;
	d[2].mem[0].size = 512ull << 20;
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.field, PDESC_F_MEMORY);
	CHECK(strstr(err.msg, "1088 MiB in all") != NULL);
	CHECK_EQ(pdesc_check_all(d, KEEL_MAX_PARTITIONS + 1, &lim, &err), -KEEL_EINVAL);
	/* A disk image may be shared only when every user has it read-only. */
	d[0] = good("a", 0x2);
	d[1] = good("b", 0x4);
	add_disk(&d[1], 1, 0);
	d[2] = good("c", 0x8);
	add_disk(&d[2], 1, KEEL_DISK_RO);
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.field, PDESC_F_DISK);
	CHECK(strstr(err.msg, "only read-only disks can be shared") != NULL);
	d[1].device[3].flags = KEEL_DISK_RO;
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), 0);
	d[0].h.cpu_mask = 0x1; /* two disk files on one side: each pair is checked */
	add_disk(&d[0], 2, KEEL_DISK_RO);
	d[1].image[1].module = 2;
	d[1].device[3].flags = 0;
	CHECK_EQ(pdesc_check_all(d, 3, &(struct pdesc_limits){ .cpu_count = 4, .module_count = 3 },
				 &err),
		 -KEEL_EINVAL);
	CHECK_EQ(err.index, 1);
	/* Unknown limits skip those checks. */
	{
		struct pdesc_limits open = { .module_count = 1 };
		struct pdesc big = good("big", 1ull << 40);

		big.mem[0].size = 1ull << 40;
		CHECK_EQ(pdesc_check_all(&big, 1, &open, &err), 0);
	}
}

/* Two partitions on the two threads of one physical core: refused unless allowed. */
static void test_smt_siblings(void)
{
	static const u64 cores[4] = { 0, 0, 1, 1 }; /* cpus 0,1 and 2,3 share a core */
	struct pdesc d[2] = { good("a", 0x1), good("b", 0x2) };
	struct pdesc_limits lim = { .cpu_count = 4, .module_count = 1, .cpu_core = cores };
	struct pdesc_error err;
	u32 other;

	d[0].h.cpu_mask = 0x1;
	d[1].h.cpu_mask = 0x2;
	CHECK(pdesc_check_all(d, 2, &lim, &err) != 0);
	CHECK(strstr(err.msg, "shares a physical core with cpu 0 of partition 'a'") != NULL);
	CHECK_EQ(err.index, 1);
	d[1].h.cpu_mask = 0xc; /* the other core: fine */
	CHECK_EQ(pdesc_check_all(d, 2, &lim, &err), 0);
	d[0].h.cpu_mask = 0x3; /* both threads of core 0 in one partition: fine */
	CHECK_EQ(pdesc_check_all(d, 2, &lim, &err), 0);
	d[1].h.cpu_mask = 0x4;
	d[0].h.cpu_mask = 0x8;
	CHECK(pdesc_check_all(d, 2, &lim, &err) != 0);
	lim.smt_split = KEEL_SMT_SPLIT_ALLOW;
	CHECK_EQ(pdesc_check_all(d, 2, &lim, &err), 0);
	lim.smt_split = KEEL_SMT_SPLIT_REFUSE;
	lim.cpu_core = NULL; /* topology unknown: no check */
	CHECK_EQ(pdesc_check_all(d, 2, &lim, &err), 0);
	CHECK_EQ(pdesc_smt_shared(0x1, 0x2,
				  &(struct pdesc_limits){ .cpu_count = 4, .cpu_core = cores },
				  &other),
		 0);
	CHECK_EQ(other, 1);
}

/* max_vcpus: 0 or up to its cores is one per core; more needs the arch and the CPUs. */
static void test_max_vcpus(void)
{
	struct pdesc d = good("x", 0x6);
	struct pdesc_error err;

	CHECK_EQ(pdesc_cores(&d), 2);
	CHECK_EQ(pdesc_vcpus(&d), 2);
	d.h.max_vcpus = 1; /* fewer than its cores */
	expect_bad(&d, PDESC_F_MAX_CPUS, "max_cpus 1 is fewer than its 2 cpus");
	d.h.max_vcpus = 2; /* as many: one per core */
	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	CHECK_EQ(pdesc_vcpus(&d), 2);
	d.h.max_vcpus = 4;
	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	CHECK_EQ(pdesc_vcpus(&d), 4);
	d.h.max_vcpus = 5; /* lim: 4 CPUs */
	expect_bad(&d, PDESC_F_MAX_CPUS, "max_cpus 5 is more than the 4 CPUs");
	d.h.max_vcpus = 0xffffffffu;
	expect_bad(&d, PDESC_F_MAX_CPUS, "more than the 4 CPUs");
	d.h.max_vcpus = 3;
	d.h.pad = 1;
	expect_bad(&d, PDESC_F_MAX_CPUS, "reserved bytes set");
}

/* A version 4 description (ABI 1.1 keelctl): read as version 5 without hot vCPUs. */
static void test_unpack_v4(void)
{
	struct pdesc d = good("old", 2), out;
	struct pdesc_error err;
	u8 v5[KEEL_PDESC_SIZE_MAX], v4[KEEL_PDESC_SIZE_MAX];
	u32 size = pdesc_pack(&d, v5), hdr = (u32)KEEL_PDESC_HEADER_V4;
	u32 gap = (u32)sizeof(d.h) - hdr;
	struct keel_part_desc *h = (struct keel_part_desc *)v4;

	memcpy(v4, v5, hdr);
	memcpy(v4 + hdr, v5 + sizeof(d.h), size - sizeof(d.h));
	h->version = KEEL_PDESC_VERSION_V4;
	h->size = size - gap;
	CHECK_EQ(pdesc_unpack(v4, size - gap, &out, &err), 0);
	CHECK(!memcmp(&out, &d, sizeof(d)));
	CHECK_EQ(pdesc_check(&out, &lim, &err), 0);
	/* Its size counts its own header, not version 5's. */
	CHECK_EQ(pdesc_unpack(v4, size, &out, &err), -KEEL_EINVAL);
	h->size = size;
	CHECK_EQ(pdesc_unpack(v4, size - gap, &out, &err), -KEEL_EINVAL);
	CHECK_EQ(pdesc_unpack(v4, hdr - 1, &out, &err), -KEEL_EINVAL);
}

/* Host PCI functions: flags and pad 0, any address, each once, at most KEEL_PD_MAX_PCI. */
static void test_pci_entries(void)
{
	static u8 buf[KEEL_PDESC_SIZE_MAX];
	struct pdesc d = good("x", 2), out;
	struct pdesc_error err;
	u32 i;

	add_device(&d, KEEL_DEV_PCI, KEEL_PCI_ADDR(0, 0, 3, 0), 0);
	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	/* Every backend bit is an address bit: the largest segment, bus, device, function. */
	add_device(&d, KEEL_DEV_PCI, 0xffffffffu, 0);
	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	/* Packed (CREATE) and back: the entries as they were. */
	CHECK_EQ(pdesc_unpack(buf, pdesc_pack(&d, buf), &out, &err), 0);
	CHECK(!memcmp(&out, &d, sizeof(d)));

	d.device[3].flags = 1;
	memset(&err, 0, sizeof(err));
	CHECK_EQ(pdesc_check(&d, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.field, PDESC_F_PCI);
	CHECK_EQ(err.item, 3);
	CHECK_STR(err.msg, "partition 'x': pci device 3: flags and reserved bytes must be 0");
	d.device[3].flags = 0;
	d.device[4].pad = 1;
	CHECK_EQ(pdesc_check(&d, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.item, 4);
	CHECK_STR(err.msg, "partition 'x': pci device 4: flags and reserved bytes must be 0");

	/* The same function twice: at the second entry. */
	d = good("x", 2);
	add_device(&d, KEEL_DEV_PCI, KEEL_PCI_ADDR(0, 0, 3, 0), 0);
	add_device(&d, KEEL_DEV_PCI, KEEL_PCI_ADDR(0, 0, 3, 1), 0);
	add_device(&d, KEEL_DEV_PCI, KEEL_PCI_ADDR(0, 0, 3, 0), 0);
	CHECK_EQ(pdesc_check(&d, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.field, PDESC_F_PCI);
	CHECK_EQ(err.item, 5);
	CHECK_STR(err.msg, "partition 'x': pci 0000:00:03.0 is listed twice");

	/* KEEL_PD_MAX_PCI fit, one more does not. */
	d = good("x", 2);
	for (i = 0; i < KEEL_PD_MAX_PCI; i++)
		add_device(&d, KEEL_DEV_PCI, KEEL_PCI_ADDR(1, 2, i, 0), 0);
	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	add_device(&d, KEEL_DEV_PCI, KEEL_PCI_ADDR(1, 2, 0x1f, 7), 0);
	CHECK_EQ(pdesc_check(&d, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.item, 3 + KEEL_PD_MAX_PCI);
	CHECK_STR(err.msg, "partition 'x': more than 8 PCI functions");

	/* Before the virtio devices: it takes an index, and the checks skip it. */
	d = good("x", 2);
	d.h.device_count = 0;
	add_device(&d, KEEL_DEV_PCI, KEEL_PCI_ADDR(0, 0, 4, 0), 0);
	pdesc_add_default_devices(&d, KEEL_NO_BACKEND, 0);
	CHECK_EQ(d.device[1].type, KEEL_DEV_CONSOLE);
	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	d.device[0].type = KEEL_DEV_VSOCK + 1;
	expect_bad(&d, PDESC_F_DEVICE, "device 0 has unknown type 9");
}

/* A NIC: its network's number and its address (0: derived), checked alone and as a set. */
static void test_net_entries(void)
{
	static const u8 mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	struct pdesc d = good("x", 2), set[2];
	struct pdesc_error err;

	add_device(&d, KEEL_DEV_NET, 0, 0);
	add_device(&d, KEEL_DEV_NET, 3, KEEL_NET_MAC_FLAGS(mac));
	d.device[d.h.device_count - 1].pad = KEEL_NET_MAC_PAD(mac);
	CHECK_EQ(d.device[4].pad, 0x5544);
	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	set[0] = d;
	/* Out of range, reserved bits, multicast, a network twice, an address twice. */
	d.device[4].backend = KEEL_MAX_NETWORKS;
	expect_bad(&d, PDESC_F_PCI, "network 16 out of range (0-15)");
	d = set[0];
	d.device[4].pad = 0x10000;
	expect_bad(&d, PDESC_F_PCI, "reserved bits set");
	d = set[0];
	d.device[4].flags |= 1;
	expect_bad(&d, PDESC_F_PCI, "03:11:22:33:44:55 is a multicast address");
	d = set[0];
	d.device[4].backend = 0;
	expect_bad(&d, PDESC_F_PCI, "joins network 0 twice");
	d = set[0];
	d.device[3] = d.device[4];
	d.device[3].backend = 1;
	expect_bad(&d, PDESC_F_PCI, "net device 4: address given twice");
	/* At most KEEL_PD_MAX_NET. */
	d = good("x", 2);
	for (u32 i = 0; i <= KEEL_PD_MAX_NET; i++)
		add_device(&d, KEEL_DEV_NET, i, 0);
	expect_bad(&d, PDESC_F_PCI, "more than 4 network devices");
	/* One address in two partitions; derived ones (0) never clash here. */
	set[1] = set[0];
	strcpy(set[1].h.name, "y");
	set[1].h.cpu_mask = 4;
	set[1].device[3].flags = 0;
	memset(&err, 0, sizeof(err));
	CHECK_EQ(pdesc_check_all(set, 2, &lim, &err), -KEEL_EINVAL);
	CHECK(strstr(err.msg, "partition 'y': net device 4: its address is partition 'x''s") !=
	      NULL);
	CHECK_EQ(err.index, 1);
	CHECK_EQ(err.item, 4);
	set[1].device[4].flags = 0;
	set[1].device[4].pad = 0;
	CHECK_EQ(pdesc_check_all(set, 2, &lim, &err), 0);
}

/* A vsock device's entry (the fourth device, item 3): its CID, flags 0, once. */
static void expect_bad_vsock(const struct pdesc *d, const char *msg)
{
	struct pdesc_error err;

	memset(&err, 0, sizeof(err));
	CHECK_EQ(pdesc_check(d, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.field, PDESC_F_PCI); /* the entry's own line in keel.cfg */
	CHECK_EQ(err.item, 3);
	CHECK_STR(err.msg, msg);
}

/* CIDs: Keel's pick (0), 3 to 0xfffffffe, 2 for the management partition only. */
static void test_vsock_entries(void)
{
	static const u32 good_cids[] = { KEEL_VSOCK_CID_AUTO, 3, 4, 0x12345678,
					 KEEL_VSOCK_CID_MAX };
	static u8 buf[KEEL_PDESC_SIZE_MAX];
	struct pdesc d = good("x", 2), out;
	struct pdesc_error err;
	u32 slot = 99;

	CHECK_EQ(pdesc_vsock_cid(&d, &slot), KEEL_VSOCK_CID_AUTO); /* none */
	CHECK_EQ(slot, 99);
	add_device(&d, KEEL_DEV_VSOCK, KEEL_VSOCK_CID_AUTO, 0);
	for (u32 i = 0; i < ARRAY_SIZE(good_cids); i++) {
		d.device[3].backend = good_cids[i];
		CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
		CHECK_EQ(pdesc_vsock_cid(&d, &slot), good_cids[i]);
		CHECK_EQ(slot, 3);
	}
	CHECK_EQ(pdesc_unpack(buf, pdesc_pack(&d, buf), &out, &err), 0);
	CHECK(!memcmp(&out, &d, sizeof(d)));
	d.device[3].backend = 1;
	expect_bad_vsock(&d, "partition 'x': vsock: CID 1 is reserved (a partition's is 3 to "
			     "4294967294; 2 is the management partition's)");
	d.device[3].backend = KEEL_VSOCK_CID_HOST;
	expect_bad_vsock(&d, "partition 'x': vsock: CID 2 is reserved (a partition's is 3 to "
			     "4294967294; 2 is the management partition's)");
	d.device[3].backend = 0xffffffffu;
	expect_bad_vsock(&d, "partition 'x': vsock: CID 4294967295 is reserved (a partition's is 3 "
			     "to 4294967294; 2 is the management partition's)");
	d.device[3].backend = 3;
	d.device[3].flags = 1;
	expect_bad_vsock(&d, "partition 'x': vsock device 3 takes no flags");
	d.device[3].flags = 0;
	d.device[3].pad = 1; /* only a NIC's pad carries anything */
	expect_bad(&d, PDESC_F_DEVICE, "device 3 has unknown type 8");
	d.device[3].pad = 0;
	add_device(&d, KEEL_DEV_VSOCK, 4, 0);
	expect_bad(&d, PDESC_F_DEVICE, "partition 'x': device type 8 listed twice");
	CHECK_EQ(pdesc_vsock_cid(&d, &slot), 3); /* the first */

	/* The management partition: 2, or Keel's pick (which is 2); nothing else. */
	d = good("m", 2);
	d.h.flags |= KEEL_PD_MANAGEMENT;
	add_device(&d, KEEL_DEV_VSOCK, KEEL_VSOCK_CID_HOST, 0);
	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	d.device[3].backend = KEEL_VSOCK_CID_AUTO;
	CHECK_EQ(pdesc_check(&d, &lim, &err), 0);
	d.device[3].backend = 5;
	expect_bad_vsock(&d, "partition 'm': vsock: the management partition's CID is 2, not 5");
	d.device[3].backend = 1;
	expect_bad_vsock(&d, "partition 'm': vsock: the management partition's CID is 2, not 1");

	/* A hostile device count: the lookup stops at the array's end. */
	d = good("x", 2);
	d.h.device_count = 0xffffffffu;
	CHECK_EQ(pdesc_vsock_cid(&d, NULL), KEEL_VSOCK_CID_AUTO);
	CHECK(!pdesc_vsock_may_talk(&d, &d));
}

/* One CID in two partitions: at the second one's entry; Keel's picks never clash here. */
static void test_vsock_set(void)
{
	struct pdesc d[3] = { good("a", 0x2), good("b", 0x4), good("c", 0x8) };
	struct pdesc_error err;

	add_device(&d[0], KEEL_DEV_VSOCK, 7, 0);
	add_device(&d[1], KEEL_DEV_VSOCK, KEEL_VSOCK_CID_AUTO, 0);
	add_device(&d[2], KEEL_DEV_NET, 0, 0);
	add_device(&d[2], KEEL_DEV_VSOCK, KEEL_VSOCK_CID_AUTO, 0);
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), 0);
	d[2].device[4].backend = 8;
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), 0);
	d[2].device[4].backend = 7;
	memset(&err, 0, sizeof(err));
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.index, 2);
	CHECK_EQ(err.field, PDESC_F_PCI);
	CHECK_EQ(err.item, 4);
	CHECK_STR(err.msg, "partition 'c': vsock: CID 7 is partition 'a''s already");
	/* The management partition's 2 and its pick: one CID too. */
	d[2].device[4].backend = 8;
	d[0].h.flags |= KEEL_PD_MANAGEMENT;
	d[0].device[3].backend = KEEL_VSOCK_CID_HOST;
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), 0);
}

/* The policy: the management partition reaches all, the others those on a network they share. */
static void test_vsock_policy(void)
{
	struct pdesc a = good("a", 0x2), b = good("b", 0x4), m = good("m", 0x8);

	CHECK(!pdesc_vsock_may_talk(&a, &b)); /* no NIC at all */
	m.h.flags |= KEEL_PD_MANAGEMENT;
	CHECK(pdesc_vsock_may_talk(&a, &m));
	CHECK(pdesc_vsock_may_talk(&m, &a));
	CHECK(pdesc_vsock_may_talk(&m, &m));
	add_device(&a, KEEL_DEV_NET, 1, 0);
	add_device(&a, KEEL_DEV_NET, 5, 0);
	add_device(&b, KEEL_DEV_NET, 0, 0);
	CHECK(!pdesc_vsock_may_talk(&a, &b)); /* different networks */
	CHECK(!pdesc_vsock_may_talk(&b, &a));
	/* A vsock device's CID 1 or a PCI function's address 5 are no networks. */
	add_device(&b, KEEL_DEV_VSOCK, 1, 0);
	add_device(&b, KEEL_DEV_PCI, 5, 0);
	CHECK(!pdesc_vsock_may_talk(&a, &b));
	CHECK(!pdesc_vsock_may_talk(&b, &a));
	add_device(&b, KEEL_DEV_NET, 5, 0); /* shares a's second */
	CHECK(pdesc_vsock_may_talk(&a, &b));
	CHECK(pdesc_vsock_may_talk(&b, &a));
	/* Only the entries the count covers. */
	b.h.device_count--;
	CHECK(!pdesc_vsock_may_talk(&a, &b));
	b.h.device_count++;
	a.h.device_count--;
	CHECK(!pdesc_vsock_may_talk(&a, &b));
	CHECK(pdesc_vsock_may_talk(&a, &m));
}

/* One function in two partitions: at the second one's entry, as other set checks. */
static void test_pci_set(void)
{
	struct pdesc d[3] = { good("a", 0x2), good("b", 0x4), good("c", 0x8) };
	struct pdesc_error err;

	add_device(&d[0], KEEL_DEV_PCI, KEEL_PCI_ADDR(1, 2, 0x1f, 7), 0);
	add_device(&d[2], KEEL_DEV_PCI, KEEL_PCI_ADDR(1, 2, 0x1f, 6), 0);
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), 0);
	add_device(&d[2], KEEL_DEV_PCI, KEEL_PCI_ADDR(1, 2, 0x1f, 7), 0);
	memset(&err, 0, sizeof(err));
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), -KEEL_EINVAL);
	CHECK_EQ(err.index, 2);
	CHECK_EQ(err.field, PDESC_F_PCI);
	CHECK_EQ(err.item, 4);
	CHECK_STR(err.msg, "partition 'c': pci 0001:02:1f.7 is already given to partition 'a'");
	/* Another segment is another function. */
	d[2].device[4].backend = KEEL_PCI_ADDR(0, 2, 0x1f, 7);
	CHECK_EQ(pdesc_check_all(d, 3, &lim, &err), 0);
}

int main(void)
{
	test_net_entries();
	test_pci_entries();
	test_pci_set();
	test_vsock_entries();
	test_vsock_set();
	test_vsock_policy();
	test_smt_siblings();
	test_single();
	test_sized_images();
	test_unpack_hostile();
	test_max_vcpus();
	test_unpack_v4();
	test_set();
	return unit_done("test_pdesc");
}
