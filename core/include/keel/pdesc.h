/* SPDX-License-Identifier: MIT */
/*
 * The one validator of partition descriptions (struct keel_part_desc and its
 * arrays), used by the loader (to report config errors with file and line),
 * by the core at boot and by CREATE. Pure C: built on the host too.
 */
#ifndef KEEL_PDESC_H
#define KEEL_PDESC_H

#include <keel/abi.h>
#include <keel/types.h>

/*
 * A description in Keel's memory: the header and room for the largest arrays.
 * The loader fills one directly; CREATE's packed form is unpacked into one by
 * pdesc_unpack. Entries past a count are zero.
 */
struct pdesc {
	struct keel_part_desc h;
	struct keel_pd_mem mem[KEEL_PD_MAX_MEM];
	struct keel_pd_image image[KEEL_PD_MAX_IMAGES];
	struct keel_pd_device device[KEEL_PD_MAX_DEVICES];
};

/* A checked description's RAM: its first memory region. */
static inline u64 pdesc_ram_size(const struct pdesc *d)
{
	return d->mem[0].size;
}

/* Its hot-pluggable region's size (0: it has none). */
static inline u64 pdesc_hotplug_size(const struct pdesc *d)
{
	return d->h.mem_count > 1 && d->mem[1].type == KEEL_PD_MEM_HOTPLUG ? d->mem[1].size : 0;
}

/* The cores of its cpu_mask: its vCPUs that are always on. */
static inline u32 pdesc_cores(const struct pdesc *d)
{
	u32 n = 0;

	/* Counted by hand: no __builtin_popcount (a libgcc call) in Keel's x86 build. */
	for (u32 cpu = 0; cpu < 64; cpu++)
		n += (u32)((d->h.cpu_mask >> cpu) & 1);
	return n;
}

/* Its vCPUs, on or off: max_vcpus, or one per core. */
static inline u32 pdesc_vcpus(const struct pdesc *d)
{
	u32 cores = pdesc_cores(d);

	return d->h.max_vcpus > cores ? d->h.max_vcpus : cores;
}

/* The index of its image with @role (KERNEL or INITRD), or -1. */
int pdesc_image_of(const struct pdesc *d, u32 role);

/* What the machine offers, as far as the caller knows it (0 = unknown). */
struct pdesc_limits {
	u32 cpu_count; /* logical CPUs; 0 skips the range check */
	u32 module_count; /* boot modules loaded; 0: images are given by size (CREATE) */
	u64 mem_available; /* bytes for all partitions; 0 skips the check */
	const u64 *cpu_core; /* physical core of each logical CPU, or NULL: no SMT check */
	u32 smt_split; /* KEEL_SMT_SPLIT_*: may two partitions share one physical core */
	u32 pad;
};

/*
 * The first CPU of @a that shares a physical core with a CPU of @b (the
 * SMT rule), or -1. Both masks are of logical CPUs < @lim->cpu_count.
 */
int pdesc_smt_shared(u64 a, u64 b, const struct pdesc_limits *lim, u32 *other);

/* Which field a problem is about, so the loader can point at its line. */
enum pdesc_field {
	PDESC_F_NONE = 0,
	PDESC_F_NAME,
	PDESC_F_CPUS,
	PDESC_F_MEMORY,
	PDESC_F_KERNEL,
	PDESC_F_INITRD,
	PDESC_F_DISK,
	PDESC_F_CMDLINE,
	PDESC_F_FLAGS,
	PDESC_F_MANAGEMENT,
	PDESC_F_DEVICE,
	PDESC_F_MAX_CPUS,
	PDESC_F_PCI, /* a KEEL_DEV_PCI, KEEL_DEV_NET or KEEL_DEV_VSOCK entry: item says which */
};

struct pdesc_error {
	u32 index; /* which description */
	u32 field; /* enum pdesc_field */
	u32 item; /* PDESC_F_PCI: the index of the device entry, else 0 */
	char msg[160]; /* what is wrong, for a human */
};

/*
 * Unpack the packed description of @len bytes at @buf (a copy Keel owns) into
 * @out: version, size and counts checked, reserved bytes zero. 0 or
 * -KEEL_EINVAL with @err; @out is then checked with pdesc_check.
 */
int pdesc_unpack(const void *buf, u64 len, struct pdesc *out, struct pdesc_error *err);

/* Pack @d into @buf (KEEL_PDESC_SIZE_MAX bytes); returns the size, as in d->h.size. */
u32 pdesc_pack(const struct pdesc *d, void *buf);

/*
 * Builders for those who make descriptions (the loader, tests): append an
 * entry if there is room (pdesc_check reports the rest) and keep h.size.
 * pdesc_add_image returns the new image's index.
 */
u32 pdesc_add_image(struct pdesc *d, u32 role, u32 module, u64 size);
void pdesc_add_device(struct pdesc *d, u32 type, u32 backend, u32 flags);

/* The CID of @d's KEEL_DEV_VSOCK entry (its index in *@slot if not NULL), or KEEL_VSOCK_CID_AUTO. */
u32 pdesc_vsock_cid(const struct pdesc *d, u32 *slot);

/*
 * The vsock policy: a partition reaches the management partition, and the
 * partitions it shares a network with (each has a NIC on it).
 */
bool pdesc_vsock_may_talk(const struct pdesc *a, const struct pdesc *b);

/* A KEEL_DEV_NET entry's address (flags: bytes 0-3, pad: 4-5); all 0 asks Keel to derive one. */
void pdesc_net_mac(const struct keel_pd_device *dev, u8 mac[6]);
/*
 * The devices keel.cfg and keelctl give every partition: console, entropy,
 * a disk on image @disk_image (if not KEEL_NO_BACKEND) with @disk_flags, the
 * control port. Slots 0, 1, 2 (the disk) and the next.
 */
void pdesc_add_default_devices(struct pdesc *d, u32 disk_image, u32 disk_flags);
/* Up to @size bytes of hot-pluggable memory: the region and its virtio-mem device. */
void pdesc_add_hotplug(struct pdesc *d, u64 size);

/* Set d->h.size from the counts (the loader builds descriptions unpacked). */
void pdesc_set_size(struct pdesc *d);

/* Check one description on its own. Returns 0 or -KEEL_EINVAL with @err. */
int pdesc_check(const struct pdesc *d, const struct pdesc_limits *lim, struct pdesc_error *err);

/*
 * Check @n descriptions as a set: each one, then unique names, no core owned
 * twice, no PCI function given twice, at most one management partition,
 * total memory within the limit.
 */
int pdesc_check_all(const struct pdesc *d, u32 n, const struct pdesc_limits *lim,
		    struct pdesc_error *err);

#endif /* KEEL_PDESC_H */
