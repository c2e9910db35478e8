/* SPDX-License-Identifier: MIT */
/*
 * Linux kernel loading (Documentation/arch/x86/boot.rst, 64-bit boot
 * protocol): a bzImage (header checks, kernel at its preferred address) or
 * an uncompressed vmlinux ELF (its segments at their physical addresses,
 * entered at startup_64, so the guest spends no time decompressing itself);
 * then for either the initrd high, boot_params with the e820 map, command
 * line and ACPI tables, and the 64-bit entry state (identity tables, GDT
 * with __BOOT_CS/__BOOT_DS).
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/elf.h>
#include <keel/guest_mem.h>
#include <keel/lib.h>
#include <keel/partition.h>
#include <keel/pdesc.h>
#include <keel/pmm.h>
#include <keel/vcpu.h>
#include <keel/vfio.h>

#include "acpi_gen.h"
#include "vplat.h"
#include "x86.h"

/* Guest low-memory layout of a Linux partition (below the kernel at 16 MiB). */
#define BZ_BOOT_PARAMS 0x20000ull
#define BZ_CMDLINE 0x21000ull
#define BZ_STACK_TOP 0x1f000ull /* only until the kernel sets its own */
#define BZ_LOW_RAM_END 0x9f000ull /* EBDA and BIOS area reserved from here */
#define BZ_ACPI_BASE 0xe0000ull
#define BZ_HIGH_RAM 0x100000ull

/* setup_header fields (offsets in the image = offsets in boot_params). */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_SYSSIZE 0x1f4
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_JUMP_END 0x201
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_END 0x26c /* end of the 2.15 header */

/* boot_params fields outside the header. */
#define BP_ACPI_RSDP 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128u
#define BP_SIZE 4096u

/* What a vmlinux has instead of a setup header (x86's COMMAND_LINE_SIZE is 2048). */
#define VMLINUX_PROTOCOL 0x20f
#define VMLINUX_CMDLINE_MAX 2047u
#define VMLINUX_ALIGN SZ_2M

#define XLF_KERNEL_64 BIT(0)
#define XLF_CAN_BE_LOADED_ABOVE_4G BIT(1)
#define LOADFLAGS_LOADED_HIGH BIT(0)
#define E820_RAM 1
#define E820_RESERVED 2

/* GDT for the 64-bit entry: __BOOT_CS = 0x10, __BOOT_DS = 0x18 (boot.rst). */
static const u64 bz_gdt[4] = { 0, 0, 0x00af9b000000ffffull, 0x00cf93000000ffffull };

struct bz_image {
	const u8 *data;
	u64 size;
	u64 kernel_off, kernel_size; /* the protected-mode kernel in the file */
	u64 load, init_size;
	u64 entry; /* guest-physical: the 64-bit entry */
	u32 xloadflags, initrd_max, cmdline_size;
	u16 version;
	const struct elf_image *elf; /* a vmlinux: its segments, else NULL */
};

static u64 bz_get(const u8 *d, u32 off, u32 n)
{
	u64 v = 0;

	for (u32 i = 0; i < n; i++)
		v |= (u64)d[off + i] << (8 * i);
	return v;
}

static void bz_put(u8 *d, u32 off, u64 v, u32 n)
{
	for (u32 i = 0; i < n; i++)
		d[off + i] = (u8)(v >> (8 * i));
}

/* Does NUL-terminated @s contain @word? */
static bool bz_cmdline_has(const char *s, const char *word)
{
	size_t n = strlen(word);

	for (; *s; s++)
		if (!strncmp(s, word, n))
			return true;
	return false;
}

static u64 bz_ram_end(const struct partition *part)
{
	u64 end = 0;

	for (u32 i = 0; i < part->mem_count && i < KEEL_MAX_MEM_REGIONS; i++)
		end = MAX(end, part->mem[i].gpa + part->mem[i].size);
	return end;
}

/* Is this a bzImage at all? Anything else goes to the ELF loader. */
static bool bz_is_bzimage(const u8 *d, u64 size)
{
	return size >= HDR_END && bz_get(d, HDR_BOOT_FLAG, 2) == 0xaa55 &&
	       !memcmp(d + HDR_MAGIC, "HdrS", 4);
}

/* Every header field Keel uses, checked against the file and the partition. */
static const char *bz_parse(const struct partition *part, struct bz_image *bz)
{
	const u8 *d = bz->data;
	u64 setup_sects = d[HDR_SETUP_SECTS] ? d[HDR_SETUP_SECTS] : 4;
	u64 align = bz_get(d, HDR_KERNEL_ALIGNMENT, 4), ram = bz_ram_end(part);
	u32 hdr_end = HDR_JUMP_END + 1u + d[HDR_JUMP_END];

	bz->version = (u16)bz_get(d, HDR_VERSION, 2);
	if (bz->version < 0x20c)
		return "boot protocol older than 2.12 (no 64-bit entry)";
	if (hdr_end < HDR_END)
		return "setup header shorter than boot protocol 2.12's";
	if (hdr_end > BP_SIZE || hdr_end > bz->size)
		return "setup header length outside the file";
	bz->xloadflags = (u32)bz_get(d, HDR_XLOADFLAGS, 2);
	if (!(bz->xloadflags & XLF_KERNEL_64))
		return "no 64-bit entry point (XLF_KERNEL_64 clear)";
	if (!d[HDR_RELOCATABLE])
		return "kernel is not relocatable";
	if (!(d[HDR_LOADFLAGS] & LOADFLAGS_LOADED_HIGH))
		return "kernel is not a bzImage (LOADED_HIGH clear)";
	bz->kernel_off = (setup_sects + 1) * 512;
	if (bz->kernel_off >= bz->size)
		return "setup sectors run past the end of the file";
	bz->kernel_size = bz->size - bz->kernel_off;
	if (bz_get(d, HDR_SYSSIZE, 4) * 16 > bz->kernel_size)
		return "syssize runs past the end of the file";
	if (!align || (align & (align - 1)) || align > SZ_1G)
		return "kernel_alignment is not a power of two";
	bz->init_size = bz_get(d, HDR_INIT_SIZE, 4);
	if (bz->init_size < bz->kernel_size)
		return "init_size is smaller than the kernel";
	bz->load = bz_get(d, HDR_PREF_ADDRESS, 8);
	if (!bz->load || !IS_ALIGNED(bz->load, align) || bz->load < BZ_HIGH_RAM)
		bz->load = ALIGN_UP(0x1000000ull, align);
	if (range_overflows(bz->load, bz->init_size) || bz->load + bz->init_size > ram)
		return "kernel (init_size) does not fit in the partition's memory";
	bz->initrd_max = (u32)bz_get(d, HDR_INITRD_ADDR_MAX, 4);
	bz->cmdline_size = (u32)bz_get(d, HDR_CMDLINE_SIZE, 4);
	bz->entry = bz->load + 0x200; /* the decompressor's 64-bit entry */
	return NULL;
}

/* A Linux vmlinux: an x86_64 ELF executable with the kernel's "Linux" note. */
static bool bz_is_vmlinux(const u8 *d, u64 size)
{
	return elf_has_note(d, size, ELF_MACHINE_X86_64, "Linux");
}

/*
 * A vmlinux's segments, checked against the partition: every byte of them in
 * its RAM above the BIOS area (Keel's boot_params, command line, tables and
 * ACPI live below), the entry in an executable one. What a bzImage's header
 * would say, Keel says for it: the kernel is its segments' span.
 */
static const char *bz_parse_vmlinux(const struct partition *part, struct bz_image *bz,
				    struct elf_image *img)
{
	const char *why = NULL;

	if (elf_parse_phys(bz->data, bz->size, ELF_MACHINE_X86_64, img, &why))
		return why;
	if (img->type != ELF_ET_EXEC)
		return "vmlinux is not an executable (ET_EXEC)";
	if (img->lowest < BZ_HIGH_RAM)
		return "vmlinux loads below 1 MiB, over Keel's boot data";
	if (img->highest > bz_ram_end(part))
		return "vmlinux does not fit in the partition's memory";
	for (u32 i = 0; i < img->segment_count; i++)
		if (!guest_range_is_ram(part, img->segments[i].paddr, img->segments[i].memsz))
			return "a vmlinux segment lies outside the partition's RAM";
	bz->elf = img;
	bz->version = VMLINUX_PROTOCOL;
	bz->load = img->lowest;
	bz->init_size = img->highest - img->lowest;
	bz->entry = img->entry;
	bz->xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
	bz->cmdline_size = VMLINUX_CMDLINE_MAX;
	return NULL;
}

/* Each segment at its physical address, the rest of it (its .bss) zeroed. */
static int bz_copy_vmlinux(struct partition *part, const struct bz_image *bz)
{
	for (u32 i = 0; i < bz->elf->segment_count; i++) {
		const struct elf_segment *seg = &bz->elf->segments[i];
		int ret = guest_copy_to(part, seg->paddr, bz->data + seg->offset, seg->filesz);

		if (!ret && seg->memsz > seg->filesz)
			ret = guest_zero(part, seg->paddr + seg->filesz, seg->memsz - seg->filesz);
		if (ret)
			return ret;
	}
	return 0;
}

/* The initrd as high as allowed, page aligned, above the kernel's init_size. */
static int bz_place_initrd(struct partition *part, const struct bz_image *bz, u64 *at)
{
	u64 size = part->initrd->size, top = bz_ram_end(part);

	if (!(bz->xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G))
		top = MIN(top, (u64)bz->initrd_max + 1);
	if (size > top)
		return -KEEL_E2BIG;
	*at = ALIGN_DOWN(top - size, PAGE_SIZE);
	if (*at < bz->load + bz->init_size)
		return -KEEL_E2BIG;
	return guest_copy_to(part, *at, hpa_to_hva(part->initrd->base), size);
}

static void bz_e820_add(u8 *bp, u64 addr, u64 size, u32 type)
{
	u32 n = bp[BP_E820_ENTRIES];
	u32 off = BP_E820_TABLE + n * 20;

	if (!size || n >= BP_E820_MAX)
		return;
	bz_put(bp, off, addr, 8);
	bz_put(bp, off + 8, size, 8);
	bz_put(bp, off + 16, type, 4);
	bp[BP_E820_ENTRIES] = (u8)(n + 1);
}

/*
 * RAM as the partition has it, with the BIOS hole (and the ACPI tables in it)
 * reserved; with PCI functions, the ECAM too (Linux uses the MCFG's window
 * only where the firmware reserved it).
 */
static void bz_e820(const struct partition *part, u8 *bp)
{
	for (u32 i = 0; i < part->mem_count && i < KEEL_MAX_MEM_REGIONS; i++) {
		u64 lo = part->mem[i].gpa, hi = lo + part->mem[i].size;

		if (lo < BZ_LOW_RAM_END)
			bz_e820_add(bp, lo, MIN(hi, BZ_LOW_RAM_END) - lo, E820_RAM);
		if (lo < BZ_HIGH_RAM && hi > BZ_LOW_RAM_END)
			bz_e820_add(bp, MAX(lo, BZ_LOW_RAM_END),
				    MIN(hi, BZ_HIGH_RAM) - MAX(lo, BZ_LOW_RAM_END), E820_RESERVED);
		if (hi > BZ_HIGH_RAM)
			bz_e820_add(bp, MAX(lo, BZ_HIGH_RAM), hi - MAX(lo, BZ_HIGH_RAM), E820_RAM);
	}
	if (part->vfio)
		bz_e820_add(bp, KEEL_PCI_ECAM_BASE, KEEL_PCI_ECAM_SIZE, E820_RESERVED);
}

/* The ACPI tables for this partition: its vCPUs, platform devices and virtio windows. */
static int bz_acpi(struct partition *part)
{
	struct acpi_gen_cfg cfg = {
		.base = BZ_ACPI_BASE,
		.cpu_count = part->vcpu_count,
		.lapic_base = VPLAT_LAPIC_BASE,
		.ioapic_base = VPLAT_IOAPIC_BASE,
		.pm1_evt = VPLAT_PM1_EVT,
		.pm1_cnt = VPLAT_PM1_CNT,
		.pm_tmr = VPLAT_PM_TMR,
		.reset_port = VPLAT_RESET_PORT,
		.reset_value = VPLAT_RESET_VALUE,
		.sci_irq = VPLAT_SCI_IRQ,
		.s5_typ = VPLAT_S5_TYP,
		/* Hot vCPUs: ACPI CPU hotplug; the MADT enables those it may have now. */
		.cpu_hotplug = part->vcpu_count > pdesc_cores(&part->desc),
		.gpe0_port = VPLAT_GPE0_PORT,
		.cpuhp_port = VPLAT_CPUHP_PORT,
		.cpu_enabled = vcpuhp_wanted(part),
		/* PCI functions (vfio/): the MCFG and a host bridge whose bus has them. */
		.pci_ecam = part->vfio ? KEEL_PCI_ECAM_BASE : 0,
		.pci_mmio_base = KEEL_PCI_MMIO_BASE,
		.pci_mmio_size = KEEL_PCI_MMIO_SIZE,
		.mgmt_event = (part->desc.h.flags & KEEL_PD_MANAGEMENT) != 0,
		.mgmt_event_gsi = KEEL_MGMT_EVENT_IRQ,
	};
	hpa_t page = pmm_alloc(ALIGN_UP(ACPI_GEN_MAX_SIZE, PAGE_SIZE), PAGE_SIZE);
	struct vfio_intx_route intx[ACPI_GEN_MAX_PCI];
	u32 len, n;
	int ret;

	for (u32 i = 0; i < part->vdev_count && cfg.virtio_count < ACPI_GEN_MAX_VIRTIO; i++) {
		const struct vdev *d = part->vdevs[i];

		if (d->space != VDEV_MMIO || d->irq == VDEV_NO_IRQ ||
		    !range_within(d->base, d->size, KEEL_VIRTIO_MMIO_BASE,
				  KEEL_VIRTIO_MAX * KEEL_VIRTIO_MMIO_STRIDE))
			continue;
		cfg.virtio_base[cfg.virtio_count] = d->base;
		cfg.virtio_size[cfg.virtio_count] = (u32)d->size;
		cfg.virtio_gsi[cfg.virtio_count++] = d->irq;
	}
	n = vfio_intx_routes(part, intx, ACPI_GEN_MAX_PCI);
	for (u32 i = 0; i < n; i++)
		cfg.pci_intx[cfg.pci_intx_count++] = (struct acpi_gen_intx){
			.slot = intx[i].slot, .pin = intx[i].pin, .gsi = (u8)intx[i].virq
		};
	if (!page)
		return -KEEL_ENOMEM;
	len = acpi_gen_build(&cfg, hpa_to_hva(page), ACPI_GEN_MAX_SIZE);
	ret = len ? guest_copy_to(part, BZ_ACPI_BASE, hpa_to_hva(page), len) : -KEEL_EINVAL;
	pmm_free(page, ALIGN_UP(ACPI_GEN_MAX_SIZE, PAGE_SIZE));
	/* The FADT describes the PM block and its power button: STOP may press it. */
	if (!ret && part->arch.plat)
		part->arch.plat->pm.acpi = 1;
	return ret;
}

/* The setup header a vmlinux does not carry, as a 2.15 bzImage's would read. */
static void bz_vmlinux_header(u8 *bp, const struct bz_image *bz)
{
	bz_put(bp, HDR_BOOT_FLAG, 0xaa55, 2);
	bp[HDR_JUMP] = 0xeb; /* a short jump over the header, as in a bzImage */
	bp[HDR_JUMP_END] = (u8)(HDR_END - HDR_JUMP_END - 1);
	memcpy(bp + HDR_MAGIC, "HdrS", 4);
	bz_put(bp, HDR_VERSION, bz->version, 2);
	bp[HDR_LOADFLAGS] = LOADFLAGS_LOADED_HIGH;
	bz_put(bp, HDR_KERNEL_ALIGNMENT, VMLINUX_ALIGN, 4);
	bz_put(bp, HDR_XLOADFLAGS, bz->xloadflags, 2);
	bz_put(bp, HDR_CMDLINE_SIZE, bz->cmdline_size, 4);
	bz_put(bp, HDR_PREF_ADDRESS, bz->load, 8);
	bz_put(bp, HDR_INIT_SIZE, bz->init_size, 4);
}

static int bz_boot_params(struct partition *part, const struct bz_image *bz, u64 initrd_at)
{
	u8 *bp = pmm_alloc_page();
	u32 hdr_end = bz->elf ? HDR_END : HDR_JUMP_END + 1u + bz->data[HDR_JUMP_END];
	u64 initrd_size = part->initrd ? part->initrd->size : 0;
	int ret;

	if (!bp)
		return -KEEL_ENOMEM;
	memset(bp, 0, BP_SIZE);
	if (bz->elf)
		bz_vmlinux_header(bp, bz);
	else
		memcpy(bp + HDR_SETUP_SECTS, bz->data + HDR_SETUP_SECTS, hdr_end - HDR_SETUP_SECTS);
	bp[HDR_TYPE_OF_LOADER] = 0xff;
	bz_put(bp, HDR_CODE32_START, bz->load, 4);
	bz_put(bp, HDR_RAMDISK_IMAGE, (u32)initrd_at, 4);
	bz_put(bp, HDR_RAMDISK_SIZE, (u32)initrd_size, 4);
	bz_put(bp, BP_EXT_RAMDISK_IMAGE, initrd_at >> 32, 4);
	bz_put(bp, BP_EXT_RAMDISK_SIZE, initrd_size >> 32, 4);
	bz_put(bp, HDR_CMD_LINE_PTR, BZ_CMDLINE, 4);
	bz_put(bp, BP_EXT_CMD_LINE_PTR, 0, 4);
	bz_put(bp, BP_ACPI_RSDP, BZ_ACPI_BASE, 8);
	bz_e820(part, bp);
	ret = guest_copy_to(part, BZ_BOOT_PARAMS, bp, BP_SIZE);
	pmm_free_page(bp);
	return ret;
}

/*
 * The partition's command line, plus tsc_early_khz= with the TSC rate Keel
 * measured (unless the line sets it): a kernel without KVM guest support
 * (vclock.c) cannot calibrate against the PIT or PM timer under emulation
 * (TCG), whose every read is a VM exit far slower than Linux's calibration
 * tolerates; its TSC is the host's.
 */
static int bz_cmdline(struct partition *part, const struct bz_image *bz)
{
	char line[KEEL_CMDLINE_MAX + 40];
	u32 len = (u32)strnlen(part->desc.h.cmdline, KEEL_CMDLINE_MAX - 1);

	memcpy(line, part->desc.h.cmdline, len);
	line[len] = '\0';
	if (!bz_cmdline_has(line, "tsc_early_khz="))
		len += (u32)snprintf(line + len, sizeof(line) - len, "%stsc_early_khz=%llu",
				     len ? " " : "", (unsigned long long)x86_tsc_khz());
	if (bz->cmdline_size && len > bz->cmdline_size) {
		pr_err("partition '%s': command line is %u bytes, the kernel takes %u",
		       part->desc.h.name, len, bz->cmdline_size);
		return -KEEL_E2BIG;
	}
	if (guest_copy_to(part, BZ_CMDLINE, line, len) || guest_zero(part, BZ_CMDLINE + len, 1))
		return -KEEL_EFAULT;
	return 0;
}

static int bz_load(struct partition *part, struct bz_image *bz, struct vcpu_entry *boot)
{
	u64 initrd_at = 0;
	int ret;

	ret = arch_part_prepare(part); /* identity tables for all RAM */
	if (!ret)
		ret = guest_copy_to(part, X86_LINUX_GDT, bz_gdt, sizeof(bz_gdt));
	if (!ret && bz->elf)
		ret = bz_copy_vmlinux(part, bz);
	else if (!ret)
		ret = guest_copy_to(part, bz->load, bz->data + bz->kernel_off, bz->kernel_size);
	if (ret)
		return ret;
	if (part->initrd) {
		ret = bz_place_initrd(part, bz, &initrd_at);
		if (ret) {
			pr_err("partition '%s': initrd %s (%llu bytes) does not fit above the kernel",
			       part->desc.h.name, part->initrd->name,
			       (unsigned long long)part->initrd->size);
			return ret;
		}
	}
	ret = bz_cmdline(part, bz);
	if (!ret)
		ret = bz_acpi(part);
	if (!ret)
		ret = bz_boot_params(part, bz, initrd_at);
	if (ret)
		return ret;
	boot->kind = VCPU_ENTRY_LINUX;
	boot->pc = bz->entry;
	boot->sp = BZ_STACK_TOP;
	boot->arg = BZ_BOOT_PARAMS;
	return 0;
}

int arch_kernel_load(struct partition *part, struct vcpu_entry *boot)
{
	struct bz_image bz = { 0 };
	struct elf_image img;
	const char *why;
	int ret;

	bz.data = hpa_to_hva(part->kernel->base);
	bz.size = part->kernel->size;
	if (bz_is_bzimage(bz.data, bz.size))
		why = bz_parse(part, &bz);
	else if (bz_is_vmlinux(bz.data, bz.size))
		why = bz_parse_vmlinux(part, &bz, &img);
	else
		return -KEEL_ENOEXEC;
	if (why) {
		pr_err("partition '%s': kernel %s: %s", part->desc.h.name, part->kernel->name, why);
		return -KEEL_EINVAL;
	}
	ret = bz_load(part, &bz, boot);
	if (!ret)
		pr_info("partition '%s': Linux boot protocol %u.%02u, %s at 0x%llx (%s %llu KiB)",
			part->desc.h.name, bz.version >> 8, bz.version & 0xff,
			bz.elf ? "uncompressed vmlinux" : "kernel", (unsigned long long)bz.load,
			bz.elf ? "image" : "init_size", (unsigned long long)(bz.init_size >> 10));
	return ret;
}
