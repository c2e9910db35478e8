/* SPDX-License-Identifier: MIT */
/*
 * Loads the core image embedded by core_image.S: PT_LOAD segments into a
 * 2 MiB aligned Keel allocation, bss zeroed, R_*_RELATIVE relocations applied.
 */
#include <keel/elf.h>
#include <keel/lib.h>

#include "loader.h"

#define DT_NULL 0
#define DT_RELA 7
#define DT_RELASZ 8
#define DT_RELAENT 9
#define DT_REL 17
#define DT_RELR 36
#define R_X86_64_RELATIVE 8
#define R_AARCH64_RELATIVE 1027

/* From core_image.S. */
extern const u8 keel_core_image[] __attribute__((visibility("hidden")));
extern const u8 keel_core_image_end[] __attribute__((visibility("hidden")));

/* The image as loaded: link-time addresses [lo, lo + size) now live at base. */
struct core_span {
	u8 *base;
	u64 lo;
	u64 size;
};

static u32 core_relative_type(void)
{
	return KEEL_ELF_MACHINE == ELF_MACHINE_X86_64 ? R_X86_64_RELATIVE : R_AARCH64_RELATIVE;
}

/* The ELF_PT_DYNAMIC header, if any. elf_parse() checked the table's bounds. */
static bool core_find_dynamic(const u8 *file, struct elf64_phdr *dyn)
{
	struct elf64_ehdr eh;
	u32 i;

	memcpy(&eh, file, sizeof(eh));
	for (i = 0; i < eh.phnum; i++) {
		memcpy(dyn, file + eh.phoff + (u64)i * sizeof(*dyn), sizeof(*dyn));
		if (dyn->type == ELF_PT_DYNAMIC)
			return true;
	}
	return false;
}

/* DT_RELA/DT_RELASZ/DT_RELAENT from the file's dynamic section. */
static int core_read_dynamic(const u8 *file, u64 size, const struct elf64_phdr *ph, u64 *rela,
			     u64 *relasz, const char **why)
{
	struct elf64_dyn d;
	u64 off, relaent = sizeof(struct elf64_rela);

	*rela = 0;
	*relasz = 0;
	if (ph->offset > size || ph->filesz > size - ph->offset) {
		*why = "core: dynamic section lies outside the file";
		return -KEEL_EINVAL;
	}
	for (off = 0; off + sizeof(d) <= ph->filesz; off += sizeof(d)) {
		memcpy(&d, file + ph->offset + off, sizeof(d));
		if (d.tag == DT_NULL)
			break;
		if (d.tag == DT_RELA)
			*rela = d.val;
		else if (d.tag == DT_RELASZ)
			*relasz = d.val;
		else if (d.tag == DT_RELAENT)
			relaent = d.val;
		else if (d.tag == DT_REL || d.tag == DT_RELR) {
			*why = "core: has REL/RELR relocations (only RELA is supported)";
			return -KEEL_EINVAL;
		}
	}
	if (relaent != sizeof(struct elf64_rela) || *relasz % sizeof(struct elf64_rela)) {
		*why = "core: bad relocation entry size";
		return -KEEL_EINVAL;
	}
	return 0;
}

/* Apply every RELA entry of [rela, rela + relasz) (link addresses). */
static int core_relocate(const struct core_span *sp, u64 rela, u64 relasz, const char **why)
{
	u64 delta = (u64)(uintptr_t)sp->base - sp->lo;
	struct elf64_rela r;
	u64 i, val;

	if (relasz == 0)
		return 0;
	if (!range_within(rela, relasz, sp->lo, sp->size)) {
		*why = "core: relocation table lies outside the image";
		return -KEEL_EINVAL;
	}
	for (i = 0; i < relasz; i += sizeof(r)) {
		memcpy(&r, sp->base + (rela - sp->lo) + i, sizeof(r));
		if ((u32)r.info != core_relative_type()) {
			*why = "core: relocation of a type the loader does not apply";
			return -KEEL_EINVAL;
		}
		if (!range_within(r.offset, sizeof(u64), sp->lo, sp->size)) {
			*why = "core: relocation target lies outside the image";
			return -KEEL_EINVAL;
		}
		val = (u64)r.addend + delta;
		memcpy(sp->base + (r.offset - sp->lo), &val, sizeof(val));
	}
	return 0;
}

/* [lo, hi) of all PT_LOAD segments by link (virtual) address, page-rounded. */
static int core_bounds(const struct elf_image *img, u64 *lo, u64 *hi, const char **why)
{
	u32 i;

	*lo = ~0ull;
	*hi = 0;
	for (i = 0; i < img->segment_count; i++) {
		const struct elf_segment *s = &img->segments[i];

		*lo = MIN(*lo, s->vaddr);
		*hi = MAX(*hi, s->vaddr + s->memsz);
	}
	*lo = ALIGN_DOWN(*lo, PAGE_SIZE);
	if (*hi > ~0ull - PAGE_SIZE || *hi - *lo > (1ull << 30)) {
		*why = "core: image is larger than 1 GiB";
		return -KEEL_EINVAL;
	}
	*hi = ALIGN_UP(*hi, PAGE_SIZE);
	return 0;
}

int core_load(struct keel_boot_info *bi, u64 *entry, const char **why)
{
	const u8 *file = keel_core_image;
	u64 size = (u64)(keel_core_image_end - keel_core_image);
	struct elf_image img;
	struct elf64_phdr dyn;
	struct core_span sp;
	u64 lo, hi, rela = 0, relasz = 0;
	u32 i;
	int ret;

	ret = elf_parse(file, size, KEEL_ELF_MACHINE, &img, why);
	if (ret)
		return ret;
	if (img.type != ELF_ET_DYN) {
		*why = "core: not a position-independent (ELF_ET_DYN) image";
		return -KEEL_EINVAL;
	}
	ret = core_bounds(&img, &lo, &hi, why);
	if (ret)
		return ret;
	if (core_find_dynamic(file, &dyn)) {
		ret = core_read_dynamic(file, size, &dyn, &rela, &relasz, why);
		if (ret)
			return ret;
	}
	sp.lo = lo;
	sp.size = hi - lo;
	sp.base = efi_alloc_keel(sp.size, SZ_2M);
	if (!sp.base) {
		*why = "core: no memory for the image";
		return -KEEL_ENOMEM;
	}
	/* The allocation is zeroed: that is the bss. */
	for (i = 0; i < img.segment_count; i++) {
		const struct elf_segment *s = &img.segments[i];

		memcpy(sp.base + (s->vaddr - lo), file + s->offset, s->filesz);
	}
	ret = core_relocate(&sp, rela, relasz, why);
	if (ret) {
		efi_free_keel(sp.base, sp.size);
		return ret;
	}
	efi_make_executable(sp.base, sp.size);
	efi_arch_sync_icache(sp.base, sp.size);
	bi->core_base = (u64)(uintptr_t)sp.base;
	bi->core_size = sp.size;
	*entry = img.entry - lo + (u64)(uintptr_t)sp.base;
	return 0;
}
