/* SPDX-License-Identifier: MIT */
/*
 * ELF64 parsing with every field checked against the file before use; shared
 * by the loader (the core image) and the core (guest kernels).
 */
#include <keel/abi.h>
#include <keel/elf.h>
#include <keel/lib.h>

#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define EV_CURRENT 1

static int elf_fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -KEEL_EINVAL;
}

static int elf_check_header(const struct elf64_ehdr *eh, u64 size, u32 machine, const char **why)
{
	static const u8 magic[4] = { 0x7f, 'E', 'L', 'F' };

	if (memcmp(eh->ident, magic, sizeof(magic)) != 0)
		return elf_fail(why, "not an ELF file");
	if (eh->ident[4] != ELFCLASS64 || eh->ident[5] != ELFDATA2LSB)
		return elf_fail(why, "not a little-endian ELF64 file");
	if (eh->ident[6] != EV_CURRENT || eh->version != EV_CURRENT)
		return elf_fail(why, "unknown ELF version");
	if (eh->machine != machine)
		return elf_fail(why, "ELF file is for another machine");
	if (eh->type != ELF_ET_EXEC && eh->type != ELF_ET_DYN)
		return elf_fail(why, "ELF file is not an executable");
	if (eh->phentsize != sizeof(struct elf64_phdr))
		return elf_fail(why, "ELF program header size is wrong");
	if (eh->phnum == 0)
		return elf_fail(why, "ELF file has no program headers");
	if (eh->phoff > size || (u64)eh->phnum * sizeof(struct elf64_phdr) > size - eh->phoff)
		return elf_fail(why, "ELF program headers lie outside the file");
	if (eh->phoff % 8)
		return elf_fail(why, "ELF program headers are misaligned");
	return 0;
}

static int elf_add_segment(struct elf_image *img, const struct elf64_phdr *ph, u64 size,
			   const char **why)
{
	struct elf_segment *seg;

	if (img->segment_count == ELF_MAX_SEGMENTS)
		return elf_fail(why, "ELF file has too many loadable segments");
	if (ph->filesz > ph->memsz)
		return elf_fail(why, "ELF segment is larger in the file than in memory");
	if (ph->offset > size || ph->filesz > size - ph->offset)
		return elf_fail(why, "ELF segment lies outside the file");
	if (range_overflows(ph->paddr, ph->memsz) || range_overflows(ph->vaddr, ph->memsz))
		return elf_fail(why, "ELF segment wraps around the address space");
	seg = &img->segments[img->segment_count++];
	seg->offset = ph->offset;
	seg->filesz = ph->filesz;
	seg->vaddr = ph->vaddr;
	seg->paddr = ph->paddr;
	seg->memsz = ph->memsz;
	seg->flags = ph->flags;
	return 0;
}

/* No two segments may overlap in memory: each byte has one source. */
static bool elf_segments_overlap(const struct elf_image *img)
{
	u32 i, j;

	for (i = 0; i < img->segment_count; i++)
		for (j = 0; j < i; j++)
			if (ranges_overlap(img->segments[i].paddr, img->segments[i].memsz,
					   img->segments[j].paddr, img->segments[j].memsz))
				return true;
	return false;
}

/* Is the entry inside an executable segment, by its virtual or (@phys) physical address? */
static bool elf_entry_executable(const struct elf_image *img, bool phys)
{
	u32 i;

	for (i = 0; i < img->segment_count; i++) {
		const struct elf_segment *s = &img->segments[i];
		u64 at = phys ? s->paddr : s->vaddr;

		if ((s->flags & ELF_PF_X) && img->entry >= at && img->entry - at < s->memsz)
			return true;
	}
	return false;
}

static int elf_parse_entry(const void *data, u64 size, u32 machine, struct elf_image *img,
			   const char **why, bool phys_entry)
{
	struct elf64_ehdr eh;
	struct elf64_phdr ph;
	u32 i;
	int ret;

	memset(img, 0, sizeof(*img));
	if (!data || size < sizeof(eh))
		return elf_fail(why, "file is too small to be an ELF image");
	memcpy(&eh, data, sizeof(eh));
	ret = elf_check_header(&eh, size, machine, why);
	if (ret)
		return ret;
	img->entry = eh.entry;
	img->machine = eh.machine;
	img->type = eh.type;
	img->lowest = ~0ull;
	for (i = 0; i < eh.phnum; i++) {
		memcpy(&ph, (const u8 *)data + eh.phoff + (u64)i * sizeof(ph), sizeof(ph));
		if (ph.type != ELF_PT_LOAD || ph.memsz == 0)
			continue;
		ret = elf_add_segment(img, &ph, size, why);
		if (ret)
			return ret;
		img->lowest = MIN(img->lowest, ph.paddr);
		img->highest = MAX(img->highest, ph.paddr + ph.memsz);
	}
	if (img->segment_count == 0)
		return elf_fail(why, "ELF file has nothing to load");
	if (elf_segments_overlap(img))
		return elf_fail(why, "ELF segments overlap");
	if (!elf_entry_executable(img, phys_entry))
		return elf_fail(why, "ELF entry point is not in an executable segment");
	return 0;
}

int elf_parse(const void *data, u64 size, u32 machine, struct elf_image *img, const char **why)
{
	return elf_parse_entry(data, size, machine, img, why, false);
}

int elf_parse_phys(const void *data, u64 size, u32 machine, struct elf_image *img, const char **why)
{
	return elf_parse_entry(data, size, machine, img, why, true);
}

/* 4-byte aligned length of a note's name or descriptor; false if it leaves [0, left). */
static bool elf_note_field(u32 len, u64 left, u64 *padded)
{
	*padded = ALIGN_UP((u64)len, 4);
	return *padded <= left;
}

/* Does the note area [p, p + len) hold a note whose name is @name? */
static bool elf_notes_have(const u8 *p, u64 len, const char *name)
{
	u64 name_len = strlen(name) + 1; /* the name is NUL-terminated in the note */

	while (len >= 12) {
		u32 namesz, descsz;
		u64 npad, dpad;

		memcpy(&namesz, p, 4);
		memcpy(&descsz, p + 4, 4);
		p += 12;
		len -= 12;
		if (!elf_note_field(namesz, len, &npad))
			return false;
		if (namesz == name_len && !memcmp(p, name, name_len))
			return true;
		p += npad;
		len -= npad;
		if (!elf_note_field(descsz, len, &dpad))
			return false;
		p += dpad;
		len -= dpad;
	}
	return false;
}

bool elf_has_note(const void *data, u64 size, u32 machine, const char *name)
{
	struct elf64_ehdr eh;
	struct elf64_phdr ph;

	if (!data || size < sizeof(eh))
		return false;
	memcpy(&eh, data, sizeof(eh));
	if (elf_check_header(&eh, size, machine, NULL))
		return false;
	for (u32 i = 0; i < eh.phnum; i++) {
		memcpy(&ph, (const u8 *)data + eh.phoff + (u64)i * sizeof(ph), sizeof(ph));
		if (ph.type != ELF_PT_NOTE || ph.offset > size || ph.filesz > size - ph.offset)
			continue;
		if (elf_notes_have((const u8 *)data + ph.offset, ph.filesz, name))
			return true;
	}
	return false;
}
