/* SPDX-License-Identifier: MIT */
/*
 * Loading an arm64 Linux Image (Documentation/arch/arm64/booting.rst): header
 * checks, placement of kernel, initrd and device tree in the partition's RAM.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/guest_mem.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pmm.h>
#include <keel/vcpu.h>
#include <keel/vfio.h>

#include "aarch64.h"
#include "vplat.h"

#define IMAGE_MAGIC 0x644d5241u /* "ARM\x64" at offset 0x38 */
#define IMAGE_FLAG_BE BIT(0)
#define IMAGE_FLAG_PAGE_SHIFT 1
#define IMAGE_FLAG_PAGE_MASK 3ull
#define IMAGE_PAGE_ANY 0u
#define IMAGE_PAGE_4K 1u
#define IMAGE_MAX_TEXT_OFFSET SZ_2M
#define DTB_BUF_SIZE (64u * 1024u)
#define DTB_REGION SZ_2M /* the tree may be mapped with 2 MiB blocks: keep it alone */

struct image_header {
	u32 code0, code1;
	u64 text_offset;
	u64 image_size; /* bytes the kernel needs from its start, bss included */
	u64 flags;
	u64 res2, res3, res4;
	u32 magic;
	u32 res5;
};

_Static_assert(sizeof(struct image_header) == 64, "arm64 Image header is 64 bytes");

/* Where each piece goes, in guest-physical addresses. */
struct image_layout {
	gpa_t kernel, kernel_end;
	gpa_t initrd, initrd_end;
	gpa_t dtb;
};

static bool image_is_arm64(const struct keel_boot_module *m, struct image_header *h)
{
	if (m->size < sizeof(*h))
		return false;
	memcpy(h, hpa_to_hva(m->base), sizeof(*h));
	return h->magic == IMAGE_MAGIC;
}

/* Every header field against the file and the boot protocol; NULL if fine. */
static const char *image_check(const struct image_header *h, u64 file_size)
{
	u64 page = (h->flags >> IMAGE_FLAG_PAGE_SHIFT) & IMAGE_FLAG_PAGE_MASK;

	if (h->flags & IMAGE_FLAG_BE)
		return "big-endian kernel (Keel guests are little-endian)";
	if (page != IMAGE_PAGE_ANY && page != IMAGE_PAGE_4K)
		return "kernel built for 16K or 64K pages (4K only)";
	if (h->image_size == 0)
		return "image_size is 0 (kernel older than 3.17)";
	if (h->image_size < file_size)
		return "image_size smaller than the file";
	if (h->text_offset >= IMAGE_MAX_TEXT_OFFSET || !IS_ALIGNED(h->text_offset, PAGE_SIZE))
		return "text_offset not a page multiple below 2 MiB";
	return NULL;
}

/*
 * Kernel at the 2 MiB aligned start of RAM + text_offset, the device tree in
 * the last 2 MiB block of RAM, the initrd right below it.
 */
static const char *image_place(struct partition *part, const struct image_header *h,
			       struct image_layout *l)
{
	gpa_t ram = KEEL_GUEST_RAM_BASE, ram_end = ram + pdesc_ram_size(&part->desc);
	u64 initrd_size = part->initrd ? part->initrd->size : 0;

	l->kernel = ALIGN_UP(ram, SZ_2M) + h->text_offset;
	l->kernel_end = l->kernel + ALIGN_UP(h->image_size, PAGE_SIZE);
	if (h->image_size > pdesc_ram_size(&part->desc) || l->kernel_end + DTB_REGION > ram_end)
		return "the kernel does not fit in the partition's memory";
	l->dtb = ALIGN_DOWN(ram_end - DTB_REGION, SZ_2M);
	l->initrd = l->initrd_end = l->dtb;
	if (initrd_size) {
		if (initrd_size > l->dtb - l->kernel_end)
			return "the initrd does not fit between kernel and device tree";
		l->initrd = ALIGN_DOWN(l->dtb - initrd_size, PAGE_SIZE);
		l->initrd_end = l->initrd + initrd_size;
		if (l->initrd < l->kernel_end)
			return "the initrd does not fit between kernel and device tree";
	}
	return NULL;
}

static void image_describe_virtio(struct partition *part, struct dtb_desc *d)
{
	u64 lo = KEEL_VIRTIO_MMIO_BASE, span = KEEL_VIRTIO_MAX * KEEL_VIRTIO_MMIO_STRIDE;

	for (u32 i = 0; i < part->vdev_count && i < KEEL_MAX_VDEVS; i++) {
		const struct vdev *v = part->vdevs[i];

		if (v->space != VDEV_MMIO || !range_within(v->base, v->size, lo, span) ||
		    v->irq >= VGIC_NR_SPIS || d->virtio_count == DTB_MAX_VIRTIO)
			continue;
		d->virtio_base[d->virtio_count] = v->base;
		d->virtio_size[d->virtio_count] = v->size;
		d->virtio_spi[d->virtio_count] = v->irq;
		d->virtio_count++;
	}
}

/* The partition's PCI bus and its functions' INTx lines. */
static void image_describe_pci(struct partition *part, struct dtb_desc *d)
{
	struct vfio_intx_route r[DTB_MAX_PCI_INTX];
	u32 n = vfio_intx_routes(part, r, DTB_MAX_PCI_INTX);

	d->pci_ecam_base = KEEL_PCI_ECAM_BASE;
	d->pci_ecam_size = KEEL_PCI_ECAM_SIZE;
	d->pci_mmio_base = KEEL_PCI_MMIO_BASE;
	d->pci_mmio_size = KEEL_PCI_MMIO_SIZE;
	for (u32 i = 0; i < n; i++) {
		d->pci_intx_slot[i] = r[i].slot;
		d->pci_intx_pin[i] = r[i].pin;
		d->pci_intx_spi[i] = r[i].virq;
	}
	d->pci_intx_count = n;
	d->pci_mbi = msi_ready();
}

static void image_describe(struct partition *part, const struct image_layout *l, struct dtb_desc *d)
{
	memset(d, 0, sizeof(*d));
	d->mem_base = KEEL_GUEST_RAM_BASE;
	d->mem_size = pdesc_ram_size(&part->desc);
	d->cpu_count = MIN(part->vcpu_count, DTB_MAX_CPUS);
	for (u32 i = 0; i < d->cpu_count; i++)
		d->cpu_mpidr[i] = vplat_mpidr(i);
	d->initrd_start = l->initrd;
	d->initrd_end = l->initrd_end;
	d->bootargs = part->desc.h.cmdline; /* NUL-terminated: checked by pdesc */
	arch_entropy(d->rng_seed, sizeof(d->rng_seed));
	d->pmu = scrub_guest_has_pmu();
	d->mgmt_event = (part->desc.h.flags & KEEL_PD_MANAGEMENT) != 0;
	d->mgmt_event_spi = KEEL_MGMT_EVENT_IRQ;
	if (part->vfio)
		image_describe_pci(part, d);
	image_describe_virtio(part, d);
}

/* Build the tree in a scratch buffer and copy it in; returns its size or -KEEL_E*. */
static int image_write_dtb(struct partition *part, const struct image_layout *l)
{
	hpa_t buf = pmm_alloc(DTB_BUF_SIZE, PAGE_SIZE);
	struct dtb_desc *d;
	int size;

	if (!buf)
		return -KEEL_ENOMEM;
	/* The description is large (64 CPUs); keep it off the 16 KiB stack. */
	d = hpa_to_hva(buf + DTB_BUF_SIZE - ALIGN_UP(sizeof(*d), PAGE_SIZE));
	image_describe(part, l, d);
	size = dtb_build(d, hpa_to_hva(buf), DTB_BUF_SIZE - ALIGN_UP(sizeof(*d), PAGE_SIZE));
	if (size > 0 && guest_copy_to(part, l->dtb, hpa_to_hva(buf), (u64)size))
		size = -KEEL_EFAULT;
	pmm_free(buf, DTB_BUF_SIZE);
	return size;
}

int arch_kernel_load(struct partition *part, struct vcpu_entry *boot)
{
	const struct keel_boot_module *k = part->kernel;
	struct image_header h;
	struct image_layout l;
	const char *why;
	int dtb_size;

	if (!image_is_arm64(k, &h))
		return -KEEL_ENOEXEC;
	why = image_check(&h, k->size);
	if (!why)
		why = image_place(part, &h, &l);
	if (why) {
		pr_err("partition '%s': kernel %s: %s", part->desc.h.name, k->name, why);
		return -KEEL_EINVAL;
	}
	if (guest_copy_to(part, l.kernel, hpa_to_hva(k->base), k->size) ||
	    (part->initrd &&
	     guest_copy_to(part, l.initrd, hpa_to_hva(part->initrd->base), part->initrd->size)))
		return -KEEL_EFAULT;
	dtb_size = image_write_dtb(part, &l);
	if (dtb_size < 0) {
		pr_err("partition '%s': device tree not built (error %d)", part->desc.h.name,
		       dtb_size);
		return dtb_size;
	}
	pr_info("partition '%s': arm64 Image at 0x%llx (%llu KiB), initrd 0x%llx-0x%llx, dtb at "
		"0x%llx (%d bytes)",
		part->desc.h.name, (unsigned long long)l.kernel,
		(unsigned long long)(h.image_size >> 10), (unsigned long long)l.initrd,
		(unsigned long long)l.initrd_end, (unsigned long long)l.dtb, dtb_size);
	part->arch.power_key = 1; /* the tree has gpio-keys on the PL061 */
	memset(boot, 0, sizeof(*boot));
	boot->kind = VCPU_ENTRY_LINUX;
	boot->pc = l.kernel;
	boot->arg = l.dtb;
	return 0;
}
