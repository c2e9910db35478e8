/* SPDX-License-Identifier: MIT */
/*
 * The validator of partition descriptions: every field of every description,
 * then the set as a whole. Shared by the loader, the core and the unit tests.
 */
#include <keel/boot_info.h>
#include <keel/lib.h>
#include <keel/pdesc.h>

#include <arch/types.h>

#define PDESC_MIN_MEM (2ull << 20)

/* A PCI entry's backend as "SSSS:BB:DD.F". */
#define PDESC_PCI_FMT "%04x:%02x:%02x.%u"
#define PDESC_PCI_ARGS(a) KEEL_PCI_ADDR_SEG(a), ((a) >> 8) & 0xffu, ((a) >> 3) & 0x1fu, (a)&7u

static int pdesc_vfail(struct pdesc_error *err, u32 index, u32 field, u32 item, const char *fmt,
		       va_list ap) __printf(5, 0);

static int pdesc_vfail(struct pdesc_error *err, u32 index, u32 field, u32 item, const char *fmt,
		       va_list ap)
{
	if (err) {
		err->index = index;
		err->field = field;
		err->item = item;
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	}
	return -KEEL_EINVAL;
}

static int pdesc_fail(struct pdesc_error *err, u32 index, u32 field, const char *fmt, ...)
	__printf(4, 5);

static int pdesc_fail(struct pdesc_error *err, u32 index, u32 field, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = pdesc_vfail(err, index, field, 0, fmt, ap);
	va_end(ap);
	return ret;
}

/* A problem with device entry @item, a KEEL_DEV_PCI or KEEL_DEV_NET one (PDESC_F_PCI). */
static int pdesc_fail_pci(struct pdesc_error *err, u32 index, u32 item, const char *fmt, ...)
	__printf(4, 5);

static int pdesc_fail_pci(struct pdesc_error *err, u32 index, u32 item, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = pdesc_vfail(err, index, PDESC_F_PCI, item, fmt, ap);
	va_end(ap);
	return ret;
}

static bool pdesc_name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* The name is 1..KEEL_NAME_MAX-1 allowed characters, NUL-terminated, zero-padded. */
static bool pdesc_name_ok(const char *name)
{
	size_t len = strnlen(name, KEEL_NAME_MAX);
	size_t i;

	if (len == 0 || len == KEEL_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!pdesc_name_char_ok(name[i]))
			return false;
	return true;
}

static int pdesc_check_name(const struct pdesc *d, u32 index, struct pdesc_error *err)
{
	if (!pdesc_name_ok(d->h.name))
		return pdesc_fail(err, index, PDESC_F_NAME,
				  "partition name must be 1 to %u characters of A-Z a-z 0-9 _ -",
				  KEEL_NAME_MAX - 1);
	return 0;
}

static int pdesc_check_cpus(const struct pdesc *d, u32 index, const struct pdesc_limits *lim,
			    struct pdesc_error *err)
{
	u32 cpu;

	if (d->h.cpu_mask == 0)
		return pdesc_fail(err, index, PDESC_F_CPUS, "partition '%s' has no cpus",
				  d->h.name);
	if (lim->cpu_count == 0 || lim->cpu_count >= 64)
		return 0;
	for (cpu = lim->cpu_count; cpu < 64; cpu++)
		if (d->h.cpu_mask & BIT(cpu))
			return pdesc_fail(
				err, index, PDESC_F_CPUS,
				"partition '%s': cpu %u does not exist (this machine has %u, numbered 0-%u)",
				d->h.name, cpu, lim->cpu_count, lim->cpu_count - 1);
	return 0;
}

/* max_vcpus: 0, or from its cores up to the machine's CPUs, where the arch can plug them. */
static int pdesc_check_max_vcpus(const struct pdesc *d, u32 index, const struct pdesc_limits *lim,
				 struct pdesc_error *err)
{
	u32 cores = pdesc_cores(d), most = KEEL_MAX_CPUS;

	if (lim->cpu_count && lim->cpu_count < most)
		most = lim->cpu_count;
	if (d->h.pad)
		return pdesc_fail(err, index, PDESC_F_MAX_CPUS,
				  "partition '%s': reserved bytes set", d->h.name);
	if (d->h.max_vcpus && d->h.max_vcpus < cores)
		return pdesc_fail(err, index, PDESC_F_MAX_CPUS,
				  "partition '%s': max_cpus %u is fewer than its %u cpus",
				  d->h.name, d->h.max_vcpus, cores);
	if (d->h.max_vcpus <= cores)
		return 0; /* one vCPU per core */
	if (!KEEL_ARCH_VCPU_HOTPLUG)
		return pdesc_fail(err, index, PDESC_F_MAX_CPUS,
				  "partition '%s': max_cpus %u: this arch cannot plug vCPUs yet; "
				  "give it one per core",
				  d->h.name, d->h.max_vcpus);
	if (d->h.max_vcpus > most)
		return pdesc_fail(
			err, index, PDESC_F_MAX_CPUS,
			"partition '%s': max_cpus %u is more than the %u CPUs this machine has",
			d->h.name, d->h.max_vcpus, most);
	return 0;
}

/* The counts against the maxima and the size they imply. */
static int pdesc_check_counts(const struct keel_part_desc *h, u64 len, struct pdesc_error *err)
{
	if (h->mem_count > KEEL_PD_MAX_MEM || h->image_count > KEEL_PD_MAX_IMAGES ||
	    h->device_count > KEEL_PD_MAX_DEVICES)
		return pdesc_fail(
			err, 0, PDESC_F_NONE,
			"partition description lists %u memory regions, %u images and %u devices; at most %u, %u and %u",
			h->mem_count, h->image_count, h->device_count, KEEL_PD_MAX_MEM,
			KEEL_PD_MAX_IMAGES, KEEL_PD_MAX_DEVICES);
	/* Each count is small now, so the size cannot wrap. */
	if (h->size != KEEL_PDESC_SIZE(h->mem_count, h->image_count, h->device_count) ||
	    h->size != len)
		return pdesc_fail(
			err, 0, PDESC_F_NONE,
			"partition description of %llu bytes says %u, and its counts make %llu",
			(unsigned long long)len, h->size,
			(unsigned long long)KEEL_PDESC_SIZE(h->mem_count, h->image_count,
							    h->device_count));
	return 0;
}

/* Version, counts and size: what must hold before any entry is read. */
static int pdesc_check_header(const struct keel_part_desc *h, u64 len, struct pdesc_error *err)
{
	if (h->version != KEEL_PDESC_VERSION)
		return pdesc_fail(err, 0, PDESC_F_NONE,
				  "partition description version %u, expected %u (ABI %u.%u)",
				  h->version, KEEL_PDESC_VERSION, KEEL_ABI_VERSION_MAJOR,
				  KEEL_ABI_VERSION_MINOR);
	return pdesc_check_counts(h, len, err);
}

static int pdesc_check_ram(const struct pdesc *d, u32 index, const struct pdesc_limits *lim,
			   struct pdesc_error *err)
{
	const struct keel_pd_mem *ram = &d->mem[0];

	if (ram->type != KEEL_PD_MEM_RAM || ram->flags)
		return pdesc_fail(
			err, index, PDESC_F_MEMORY,
			"partition '%s': memory region 0 must be its RAM (type %u, flags 0)",
			d->h.name, KEEL_PD_MEM_RAM);
	if (ram->size < PDESC_MIN_MEM)
		return pdesc_fail(err, index, PDESC_F_MEMORY,
				  "partition '%s': memory must be at least 2M", d->h.name);
	if (!IS_ALIGNED(ram->size, KEEL_PART_MEM_ALIGN))
		return pdesc_fail(err, index, PDESC_F_MEMORY,
				  "partition '%s': memory must be a multiple of 2M", d->h.name);
	if (lim->mem_available && ram->size > lim->mem_available)
		return pdesc_fail(
			err, index, PDESC_F_MEMORY,
			"partition '%s': memory %llu MiB is more than the %llu MiB this machine has for partitions",
			d->h.name, (unsigned long long)(ram->size >> 20),
			(unsigned long long)(lim->mem_available >> 20));
	return 0;
}

/* The hot-pluggable region: space only, so it is not held against free memory. */
static int pdesc_check_hotplug(const struct pdesc *d, u32 index, struct pdesc_error *err)
{
	const struct keel_pd_mem *hp = &d->mem[1];

	if (hp->type != KEEL_PD_MEM_HOTPLUG || hp->flags)
		return pdesc_fail(
			err, index, PDESC_F_MEMORY,
			"partition '%s': memory region 1 must be hot-pluggable (type %u, flags 0)",
			d->h.name, KEEL_PD_MEM_HOTPLUG);
	if (!hp->size || !IS_ALIGNED(hp->size, KEEL_HOTMEM_ALIGN) || hp->size > KEEL_HOTMEM_MAX)
		return pdesc_fail(
			err, index, PDESC_F_MEMORY,
			"partition '%s': hot-pluggable memory must be a multiple of %lluM up to %lluG",
			d->h.name, (unsigned long long)(KEEL_HOTMEM_ALIGN >> 20),
			(unsigned long long)(KEEL_HOTMEM_MAX >> 30));
	return 0;
}

static int pdesc_check_memory(const struct pdesc *d, u32 index, const struct pdesc_limits *lim,
			      struct pdesc_error *err)
{
	int ret;

	if (d->h.mem_count < 1 || d->h.mem_count > 2)
		return pdesc_fail(err, index, PDESC_F_MEMORY,
				  "partition '%s': %u memory regions: give its RAM, then at most "
				  "one hot-pluggable region",
				  d->h.name, d->h.mem_count);
	ret = pdesc_check_ram(d, index, lim, err);
	if (!ret && d->h.mem_count == 2)
		ret = pdesc_check_hotplug(d, index, err);
	return ret;
}

int pdesc_image_of(const struct pdesc *d, u32 role)
{
	u32 i;

	for (i = 0; i < d->h.image_count && i < KEEL_PD_MAX_IMAGES; i++)
		if (d->image[i].role == role)
			return (int)i;
	return -1;
}

static u32 pdesc_image_field(u32 role)
{
	return role == KEEL_PD_IMAGE_KERNEL   ? PDESC_F_KERNEL
	       : role == KEEL_PD_IMAGE_INITRD ? PDESC_F_INITRD
					      : PDESC_F_DISK;
}

/* Where image @i comes from: a boot module, or (CREATE) a size to be loaded. */
static int pdesc_check_image_source(const struct pdesc *d, u32 index, u32 i,
				    const struct pdesc_limits *lim, struct pdesc_error *err)
{
	const struct keel_pd_image *im = &d->image[i];
	u32 field = pdesc_image_field(im->role);
	u32 j;

	if (!lim->module_count) {
		if (im->module != KEEL_NO_MODULE || im->size == 0 || im->size > KEEL_MGMT_IMAGE_MAX)
			return pdesc_fail(
				err, index, field,
				"partition '%s': image %u needs a size of 1 byte to %llu MiB and no module",
				d->h.name, i, (unsigned long long)(KEEL_MGMT_IMAGE_MAX >> 20));
		return 0;
	}
	if (im->module >= lim->module_count || im->size)
		return pdesc_fail(err, index, field,
				  "partition '%s': image %u: module %u was not loaded", d->h.name,
				  i, im->module);
	/* A disk is written: it may not also be read as another image (kernel and initrd may). */
	for (j = 0; j < i; j++)
		if (d->image[j].module == im->module &&
		    (im->role == KEEL_PD_IMAGE_DATA || d->image[j].role == KEEL_PD_IMAGE_DATA))
			return pdesc_fail(
				err, index, PDESC_F_DISK,
				"partition '%s': one file is two of its images (%u and %u); a disk cannot also be its kernel, initrd or another disk",
				d->h.name, j, i);
	return 0;
}

static int pdesc_check_images(const struct pdesc *d, u32 index, const struct pdesc_limits *lim,
			      struct pdesc_error *err)
{
	u32 i, n[KEEL_PD_IMAGE_DATA + 1] = { 0 };
	int ret;

	for (i = 0; i < d->h.image_count; i++) {
		u32 role = d->image[i].role;

		if (role < KEEL_PD_IMAGE_KERNEL || role > KEEL_PD_IMAGE_DATA)
			return pdesc_fail(err, index, PDESC_F_KERNEL,
					  "partition '%s': image %u has unknown role %u", d->h.name,
					  i, role);
		n[role]++;
		ret = pdesc_check_image_source(d, index, i, lim, err);
		if (ret)
			return ret;
	}
	if (n[KEEL_PD_IMAGE_KERNEL] != 1)
		return pdesc_fail(err, index, PDESC_F_KERNEL,
				  n[KEEL_PD_IMAGE_KERNEL] ? "partition '%s' has two kernels"
							  : "partition '%s' has no kernel",
				  d->h.name);
	if (n[KEEL_PD_IMAGE_INITRD] > 1)
		return pdesc_fail(err, index, PDESC_F_INITRD, "partition '%s' has two initrds",
				  d->h.name);
	return 0;
}

static int pdesc_check_blk(const struct pdesc *d, u32 index, u32 i, u32 *backed,
			   struct pdesc_error *err)
{
	const struct keel_pd_device *dev = &d->device[i];

	if (dev->backend >= d->h.image_count || d->image[dev->backend].role != KEEL_PD_IMAGE_DATA)
		return pdesc_fail(err, index, PDESC_F_DISK,
				  "partition '%s': disk device %u: backend %u is not a data image",
				  d->h.name, i, dev->backend);
	if (dev->flags & ~KEEL_DISK_FLAGS_ALL)
		return pdesc_fail(err, index, PDESC_F_DISK,
				  "partition '%s': disk device %u: unknown flags 0x%x", d->h.name,
				  i, dev->flags & ~KEEL_DISK_FLAGS_ALL);
	if (*backed & BIT(dev->backend))
		return pdesc_fail(err, index, PDESC_F_DISK,
				  "partition '%s': image %u backs two disks", d->h.name,
				  dev->backend);
	*backed |= (u32)BIT(dev->backend);
	return 0;
}

/* virtio-mem: backed by the hot-pluggable region, which it alone serves. */
static int pdesc_check_mem_device(const struct pdesc *d, u32 index, u32 i, struct pdesc_error *err)
{
	const struct keel_pd_device *dev = &d->device[i];

	if (dev->backend >= d->h.mem_count || d->mem[dev->backend].type != KEEL_PD_MEM_HOTPLUG ||
	    dev->flags)
		return pdesc_fail(err, index, PDESC_F_DEVICE,
				  "partition '%s': memory device %u: backend %u is not a "
				  "hot-pluggable memory region, or flags are set",
				  d->h.name, i, dev->backend);
	return 0;
}

/*
 * A host PCI function: flags and pad 0, every backend bit an address bit;
 * each function once, at most KEEL_PD_MAX_PCI. @npci counts those before it.
 */
static int pdesc_check_pci(const struct pdesc *d, u32 index, u32 i, u32 *npci,
			   struct pdesc_error *err)
{
	const struct keel_pd_device *dev = &d->device[i];
	u32 j;

	if (dev->flags || dev->pad)
		return pdesc_fail_pci(err, index, i,
				      "partition '%s': pci device %u: flags and reserved bytes "
				      "must be 0",
				      d->h.name, i);
	for (j = 0; j < i; j++)
		if (d->device[j].type == KEEL_DEV_PCI && d->device[j].backend == dev->backend)
			return pdesc_fail_pci(err, index, i,
					      "partition '%s': pci " PDESC_PCI_FMT
					      " is listed twice",
					      d->h.name, PDESC_PCI_ARGS(dev->backend));
	if (++*npci > KEEL_PD_MAX_PCI)
		return pdesc_fail_pci(err, index, i, "partition '%s': more than %u PCI functions",
				      d->h.name, KEEL_PD_MAX_PCI);
	return 0;
}

void pdesc_net_mac(const struct keel_pd_device *dev, u8 mac[6])
{
	for (u32 k = 0; k < 4; k++)
		mac[k] = (u8)(dev->flags >> (8 * k));
	mac[4] = (u8)dev->pad;
	mac[5] = (u8)(dev->pad >> 8);
}

/*
 * A NIC: a network number below KEEL_MAX_NETWORKS, each network once, at
 * most KEEL_PD_MAX_NET; its address 0 (derived) or unicast, each once.
 * @nnet counts those before it.
 */
static int pdesc_check_net(const struct pdesc *d, u32 index, u32 i, u32 *nnet,
			   struct pdesc_error *err)
{
	const struct keel_pd_device *dev = &d->device[i];
	u8 mac[6];

	if (dev->backend >= KEEL_MAX_NETWORKS || dev->pad > 0xffff)
		return pdesc_fail_pci(
			err, index, i,
			"partition '%s': net device %u: network %u out of range (0-%u)"
			" or reserved bits set",
			d->h.name, i, dev->backend, KEEL_MAX_NETWORKS - 1);
	pdesc_net_mac(dev, mac);
	if ((dev->flags || dev->pad) && (mac[0] & 1))
		return pdesc_fail_pci(
			err, index, i,
			"partition '%s': net device %u: %02x:%02x:%02x:%02x:%02x:%02x is "
			"a multicast address, not a port's",
			d->h.name, i, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	for (u32 j = 0; j < i; j++) {
		const struct keel_pd_device *o = &d->device[j];

		if (o->type != KEEL_DEV_NET)
			continue;
		if (o->backend == dev->backend)
			return pdesc_fail_pci(err, index, i,
					      "partition '%s': joins network %u twice", d->h.name,
					      dev->backend);
		if ((dev->flags || dev->pad) && o->flags == dev->flags && o->pad == dev->pad)
			return pdesc_fail_pci(err, index, i,
					      "partition '%s': net device %u: address given twice",
					      d->h.name, i);
	}
	if (++*nnet > KEEL_PD_MAX_NET)
		return pdesc_fail_pci(err, index, i, "partition '%s': more than %u network devices",
				      d->h.name, KEEL_PD_MAX_NET);
	return 0;
}

/*
 * A vsock device: its CID KEEL_VSOCK_CID_AUTO, the host's (the management
 * partition's, which may have no other), or one from KEEL_VSOCK_CID_FIRST.
 */
static int pdesc_check_vsock(const struct pdesc *d, u32 index, u32 i, struct pdesc_error *err)
{
	const struct keel_pd_device *dev = &d->device[i];
	bool mgmt = d->h.flags & KEEL_PD_MANAGEMENT;
	u32 cid = dev->backend;

	if (dev->flags)
		return pdesc_fail_pci(err, index, i,
				      "partition '%s': vsock device %u takes no flags", d->h.name,
				      i);
	if (cid == KEEL_VSOCK_CID_AUTO || (mgmt && cid == KEEL_VSOCK_CID_HOST))
		return 0;
	if (mgmt)
		return pdesc_fail_pci(
			err, index, i,
			"partition '%s': vsock: the management partition's CID is %u, "
			"not %u",
			d->h.name, KEEL_VSOCK_CID_HOST, cid);
	if (cid < KEEL_VSOCK_CID_FIRST || cid > KEEL_VSOCK_CID_MAX)
		return pdesc_fail_pci(err, index, i,
				      "partition '%s': vsock: CID %u is reserved (a partition's is "
				      "%u to %u; %u is the management partition's)",
				      d->h.name, cid, KEEL_VSOCK_CID_FIRST, KEEL_VSOCK_CID_MAX,
				      KEEL_VSOCK_CID_HOST);
	return 0;
}

static bool pdesc_device_type_known(u32 type)
{
	return (type >= KEEL_DEV_CONSOLE && type <= KEEL_DEV_MEM) || type == KEEL_DEV_NET ||
	       type == KEEL_DEV_VSOCK;
}

static int pdesc_check_device(const struct pdesc *d, u32 index, u32 i, u32 *seen, u32 *backed,
			      u32 *nnet, struct pdesc_error *err)
{
	const struct keel_pd_device *dev = &d->device[i];
	int ret = 0;

	if (!pdesc_device_type_known(dev->type) || (dev->pad && dev->type != KEEL_DEV_NET))
		return pdesc_fail(err, index, PDESC_F_DEVICE,
				  "partition '%s': device %u has unknown type %u", d->h.name, i,
				  dev->type);
	/* A virtio device's window is its slot, its index: the arch has so many. */
	if (i >= KEEL_VIRTIO_MAX)
		return pdesc_fail(err, index, PDESC_F_DEVICE,
				  "partition '%s': device %u is a virtio device, and this machine "
				  "has %u virtio slots (0-%u)",
				  d->h.name, i, KEEL_VIRTIO_MAX, KEEL_VIRTIO_MAX - 1);
	if (dev->type == KEEL_DEV_BLK)
		return pdesc_check_blk(d, index, i, backed, err);
	if (dev->type == KEEL_DEV_NET)
		return pdesc_check_net(d, index, i, nnet, err);
	if (dev->type == KEEL_DEV_MEM)
		ret = pdesc_check_mem_device(d, index, i, err);
	else if (dev->type == KEEL_DEV_VSOCK)
		ret = pdesc_check_vsock(d, index, i, err);
	else if (dev->backend != KEEL_NO_BACKEND || dev->flags)
		return pdesc_fail(err, index, PDESC_F_DEVICE,
				  "partition '%s': device %u (type %u) takes no backend or flags",
				  d->h.name, i, dev->type);
	if (ret)
		return ret;
	if (*seen & BIT(dev->type))
		return pdesc_fail(err, index, PDESC_F_DEVICE,
				  "partition '%s': device type %u listed twice", d->h.name,
				  dev->type);
	*seen |= (u32)BIT(dev->type);
	return 0;
}

static int pdesc_check_devices(const struct pdesc *d, u32 index, struct pdesc_error *err)
{
	u32 i, seen = 0, backed = 0, npci = 0, nnet = 0;
	int ret;

	for (i = 0; i < d->h.device_count; i++) {
		if (d->device[i].type == KEEL_DEV_PCI)
			ret = pdesc_check_pci(d, index, i, &npci, err);
		else
			ret = pdesc_check_device(d, index, i, &seen, &backed, &nnet, err);
		if (ret)
			return ret;
	}
	for (i = 0; i < d->h.image_count; i++)
		if (d->image[i].role == KEEL_PD_IMAGE_DATA && !(backed & BIT(i)))
			return pdesc_fail(err, index, PDESC_F_DISK,
					  "partition '%s': data image %u backs no device",
					  d->h.name, i);
	if (d->h.mem_count == 2 && !(seen & BIT(KEEL_DEV_MEM)))
		return pdesc_fail(err, index, PDESC_F_DEVICE,
				  "partition '%s': hot-pluggable memory needs a memory device",
				  d->h.name);
	return 0;
}

int pdesc_check(const struct pdesc *d, const struct pdesc_limits *lim, struct pdesc_error *err)
{
	int ret;

	ret = pdesc_check_header(&d->h, d->h.size, err);
	if (ret)
		return ret;
	ret = pdesc_check_name(d, 0, err);
	if (ret)
		return ret;
	if (d->h.flags & ~KEEL_PD_FLAGS_ALL)
		return pdesc_fail(err, 0, PDESC_F_FLAGS, "partition '%s': unknown flags 0x%x",
				  d->h.name, d->h.flags & ~KEEL_PD_FLAGS_ALL);
	ret = pdesc_check_cpus(d, 0, lim, err);
	if (!ret)
		ret = pdesc_check_max_vcpus(d, 0, lim, err);
	if (!ret)
		ret = pdesc_check_memory(d, 0, lim, err);
	if (!ret)
		ret = pdesc_check_images(d, 0, lim, err);
	if (!ret)
		ret = pdesc_check_devices(d, 0, err);
	if (!ret && strnlen(d->h.cmdline, KEEL_CMDLINE_MAX) == KEEL_CMDLINE_MAX)
		ret = pdesc_fail(err, 0, PDESC_F_CMDLINE,
				 "partition '%s': command line longer than %u bytes", d->h.name,
				 KEEL_CMDLINE_MAX - 1);
	return ret;
}

/* Bytes of @n entries of @size from @src, and zero the rest of @dst (@max entries). */
static const u8 *pdesc_take(void *dst, const u8 *src, u32 n, u32 max, size_t size)
{
	memset(dst, 0, max * size);
	memcpy(dst, src, n * size);
	return src + n * size;
}

int pdesc_unpack(const void *buf, u64 len, struct pdesc *out, struct pdesc_error *err)
{
	const u8 *p = buf;
	u32 hlen = sizeof(out->h);
	int ret;

	/* Version 4 (ABI 1.0, 1.1): the same, without max_vcpus and pad; read as version 5. */
	if (len >= sizeof(u32) && *(const u32 *)buf == KEEL_PDESC_VERSION_V4)
		hlen = KEEL_PDESC_HEADER_V4;
	if (len < hlen)
		return pdesc_fail(err, 0, PDESC_F_NONE,
				  "partition description of %llu bytes is shorter than its header",
				  (unsigned long long)len);
	memset(&out->h, 0, sizeof(out->h));
	memcpy(&out->h, p, hlen);
	if (hlen != sizeof(out->h)) {
		out->h.version = KEEL_PDESC_VERSION;
		out->h.size += (u32)(sizeof(out->h) - hlen);
		len += sizeof(out->h) - hlen;
	}
	ret = pdesc_check_header(&out->h, len, err);
	if (ret)
		return ret;
	p += hlen;
	p = pdesc_take(out->mem, p, out->h.mem_count, KEEL_PD_MAX_MEM, sizeof(out->mem[0]));
	p = pdesc_take(out->image, p, out->h.image_count, KEEL_PD_MAX_IMAGES,
		       sizeof(out->image[0]));
	pdesc_take(out->device, p, out->h.device_count, KEEL_PD_MAX_DEVICES,
		   sizeof(out->device[0]));
	return 0;
}

void pdesc_set_size(struct pdesc *d)
{
	d->h.size = (u32)KEEL_PDESC_SIZE(d->h.mem_count, d->h.image_count, d->h.device_count);
}

u32 pdesc_add_image(struct pdesc *d, u32 role, u32 module, u64 size)
{
	u32 i = d->h.image_count;

	if (i >= KEEL_PD_MAX_IMAGES)
		return KEEL_NO_BACKEND;
	d->image[i] = (struct keel_pd_image){ .role = role, .module = module, .size = size };
	d->h.image_count++;
	pdesc_set_size(d);
	return i;
}

void pdesc_add_device(struct pdesc *d, u32 type, u32 backend, u32 flags)
{
	if (d->h.device_count >= KEEL_PD_MAX_DEVICES)
		return;
	d->device[d->h.device_count++] =
		(struct keel_pd_device){ .type = type, .backend = backend, .flags = flags };
	pdesc_set_size(d);
}

void pdesc_add_default_devices(struct pdesc *d, u32 disk_image, u32 disk_flags)
{
	pdesc_add_device(d, KEEL_DEV_CONSOLE, KEEL_NO_BACKEND, 0);
	pdesc_add_device(d, KEEL_DEV_RNG, KEEL_NO_BACKEND, 0);
	if (disk_image != KEEL_NO_BACKEND)
		pdesc_add_device(d, KEEL_DEV_BLK, disk_image, disk_flags);
	pdesc_add_device(d, KEEL_DEV_CONTROL, KEEL_NO_BACKEND, 0);
}

void pdesc_add_hotplug(struct pdesc *d, u64 size)
{
	u32 i = d->h.mem_count;

	if (i >= KEEL_PD_MAX_MEM)
		return;
	d->mem[i] = (struct keel_pd_mem){ .type = KEEL_PD_MEM_HOTPLUG, .size = size };
	d->h.mem_count++;
	pdesc_add_device(d, KEEL_DEV_MEM, i, 0);
}

u32 pdesc_pack(const struct pdesc *d, void *buf)
{
	u8 *p = buf;

	memcpy(p, &d->h, sizeof(d->h));
	p += sizeof(d->h);
	memcpy(p, d->mem, d->h.mem_count * sizeof(d->mem[0]));
	p += d->h.mem_count * sizeof(d->mem[0]);
	memcpy(p, d->image, d->h.image_count * sizeof(d->image[0]));
	p += d->h.image_count * sizeof(d->image[0]);
	memcpy(p, d->device, d->h.device_count * sizeof(d->device[0]));
	return d->h.size;
}

/* The first CPU in both masks (they overlap). */
static u32 pdesc_first_common_cpu(u64 a, u64 b)
{
	return (u32)__builtin_ctzll(a & b);
}

int pdesc_smt_shared(u64 a, u64 b, const struct pdesc_limits *lim, u32 *other)
{
	u32 i, j, n = MIN(lim->cpu_count, KEEL_MAX_CPUS);

	if (!lim->cpu_core || lim->smt_split == KEEL_SMT_SPLIT_ALLOW)
		return -1;
	for (i = 0; i < n; i++) {
		if (!(a & BIT(i)))
			continue;
		for (j = 0; j < n; j++)
			if ((b & BIT(j)) && i != j && lim->cpu_core[i] == lim->cpu_core[j]) {
				*other = j;
				return (int)i;
			}
	}
	return -1;
}

/* The boot module behind @a's disk @i, or KEEL_NO_MODULE. */
static u32 pdesc_disk_module(const struct pdesc *a, u32 i)
{
	const struct keel_pd_device *dev = &a->device[i];

	return dev->type == KEEL_DEV_BLK ? a->image[dev->backend].module : KEEL_NO_MODULE;
}

/* Two partitions may share a disk file only if both have it read-only. */
static int pdesc_check_shared_disks(const struct pdesc *a, const struct pdesc *b, u32 index,
				    struct pdesc_error *err)
{
	u32 i, j, m;

	for (i = 0; i < a->h.device_count; i++) {
		m = pdesc_disk_module(a, i);
		if (m == KEEL_NO_MODULE)
			continue;
		for (j = 0; j < b->h.device_count; j++)
			if (pdesc_disk_module(b, j) == m &&
			    !(a->device[i].flags & b->device[j].flags & KEEL_DISK_RO))
				return pdesc_fail(
					err, index, PDESC_F_DISK,
					"partition '%s': its disk image is also partition '%s''s disk; only read-only disks can be shared",
					b->h.name, a->h.name);
	}
	return 0;
}

/* A host PCI function is given to one partition only. */
static int pdesc_check_shared_pci(const struct pdesc *a, const struct pdesc *b, u32 index,
				  struct pdesc_error *err)
{
	u32 i, j;

	for (j = 0; j < b->h.device_count; j++) {
		if (b->device[j].type != KEEL_DEV_PCI)
			continue;
		for (i = 0; i < a->h.device_count; i++)
			if (a->device[i].type == KEEL_DEV_PCI &&
			    a->device[i].backend == b->device[j].backend)
				return pdesc_fail_pci(
					err, index, j,
					"partition '%s': pci " PDESC_PCI_FMT
					" is already given to partition '%s'",
					b->h.name, PDESC_PCI_ARGS(b->device[j].backend), a->h.name);
	}
	return 0;
}

/* An address given to two NICs of two partitions (derived ones differ by name). */
static int pdesc_check_shared_mac(const struct pdesc *a, const struct pdesc *b, u32 index,
				  struct pdesc_error *err)
{
	for (u32 j = 0; j < b->h.device_count; j++) {
		const struct keel_pd_device *n = &b->device[j];

		if (n->type != KEEL_DEV_NET || (!n->flags && !n->pad))
			continue;
		for (u32 i = 0; i < a->h.device_count; i++)
			if (a->device[i].type == KEEL_DEV_NET && a->device[i].flags == n->flags &&
			    a->device[i].pad == n->pad)
				return pdesc_fail_pci(
					err, index, j,
					"partition '%s': net device %u: its address is "
					"partition '%s''s already",
					b->h.name, j, a->h.name);
	}
	return 0;
}

/* The CID of @d's vsock device, or KEEL_VSOCK_CID_AUTO (none, or Keel picks); @slot: its entry. */
u32 pdesc_vsock_cid(const struct pdesc *d, u32 *slot)
{
	for (u32 i = 0; i < d->h.device_count && i < KEEL_PD_MAX_DEVICES; i++) {
		if (d->device[i].type == KEEL_DEV_VSOCK) {
			if (slot)
				*slot = i;
			return d->device[i].backend;
		}
	}
	return KEEL_VSOCK_CID_AUTO;
}

/* Whether @a and @b each have a NIC on one network. */
static bool pdesc_share_network(const struct pdesc *a, const struct pdesc *b)
{
	for (u32 i = 0; i < a->h.device_count && i < KEEL_PD_MAX_DEVICES; i++) {
		if (a->device[i].type != KEEL_DEV_NET)
			continue;
		for (u32 j = 0; j < b->h.device_count && j < KEEL_PD_MAX_DEVICES; j++)
			if (b->device[j].type == KEEL_DEV_NET &&
			    b->device[j].backend == a->device[i].backend)
				return true;
	}
	return false;
}

bool pdesc_vsock_may_talk(const struct pdesc *a, const struct pdesc *b)
{
	return ((a->h.flags | b->h.flags) & KEEL_PD_MANAGEMENT) || pdesc_share_network(a, b);
}

/* One CID given to two partitions. */
static int pdesc_check_shared_cid(const struct pdesc *a, const struct pdesc *b, u32 index,
				  struct pdesc_error *err)
{
	u32 slot = 0, cid = pdesc_vsock_cid(b, &slot);

	if (cid != KEEL_VSOCK_CID_AUTO && cid == pdesc_vsock_cid(a, NULL))
		return pdesc_fail_pci(err, index, slot,
				      "partition '%s': vsock: CID %u is partition '%s''s already",
				      b->h.name, cid, a->h.name);
	return 0;
}

static int pdesc_check_pair(const struct pdesc *a, const struct pdesc *b, u32 index,
			    const struct pdesc_limits *lim, struct pdesc_error *err)
{
	u32 other;
	int cpu;

	if (strncmp(a->h.name, b->h.name, KEEL_NAME_MAX) == 0)
		return pdesc_fail(err, index, PDESC_F_NAME, "partition name '%s' used twice",
				  b->h.name);
	if (a->h.cpu_mask & b->h.cpu_mask)
		return pdesc_fail(err, index, PDESC_F_CPUS,
				  "partition '%s': cpu %u is already owned by partition '%s'",
				  b->h.name, pdesc_first_common_cpu(a->h.cpu_mask, b->h.cpu_mask),
				  a->h.name);
	if (pdesc_check_shared_disks(a, b, index, err) ||
	    pdesc_check_shared_pci(a, b, index, err) || pdesc_check_shared_mac(a, b, index, err) ||
	    pdesc_check_shared_cid(a, b, index, err))
		return -KEEL_EINVAL;
	cpu = pdesc_smt_shared(b->h.cpu_mask, a->h.cpu_mask, lim, &other);
	if (cpu >= 0)
		return pdesc_fail(
			err, index, PDESC_F_CPUS,
			"partition '%s': cpu %d shares a physical core with cpu %u of partition '%s' (SMT threads); give both to one partition, or set smt_split = allow in [keel]",
			b->h.name, cpu, other, a->h.name);
	if ((a->h.flags & b->h.flags) & KEEL_PD_MANAGEMENT)
		return pdesc_fail(
			err, index, PDESC_F_MANAGEMENT,
			"partition '%s': only one management partition is allowed ('%s' is one already)",
			b->h.name, a->h.name);
	return 0;
}

int pdesc_check_all(const struct pdesc *d, u32 n, const struct pdesc_limits *lim,
		    struct pdesc_error *err)
{
	u64 total = 0;
	u32 i, j;
	int ret;

	if (n > KEEL_MAX_PARTITIONS)
		return pdesc_fail(err, KEEL_MAX_PARTITIONS, PDESC_F_NONE, "more than %u partitions",
				  KEEL_MAX_PARTITIONS);
	for (i = 0; i < n; i++) {
		ret = pdesc_check(&d[i], lim, err);
		if (ret) {
			if (err)
				err->index = i;
			return ret;
		}
		for (j = 0; j < i; j++) {
			ret = pdesc_check_pair(&d[j], &d[i], i, lim, err);
			if (ret)
				return ret;
		}
		/* Each size is below mem_available (or 2^64 / 16), so this cannot wrap. */
		total += pdesc_ram_size(&d[i]);
		if (lim->mem_available && total > lim->mem_available)
			return pdesc_fail(
				err, i, PDESC_F_MEMORY,
				"partition '%s': the partitions need %llu MiB in all, more than the %llu MiB this machine has for them",
				d[i].h.name, (unsigned long long)(total >> 20),
				(unsigned long long)(lim->mem_available >> 20));
	}
	return 0;
}
