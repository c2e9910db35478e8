/* SPDX-License-Identifier: MIT */
/*
 * ELF64 image checks and loading, for guest kernels (into partition memory)
 * and for the core image itself (by the loader). Every header field is
 * checked against the file size before use.
 */
#ifndef KEEL_ELF_H
#define KEEL_ELF_H

#include <keel/types.h>

#define ELF_MACHINE_X86_64 62
#define ELF_MACHINE_AARCH64 183

#define ELF_ET_EXEC 2
#define ELF_ET_DYN 3
#define ELF_PT_LOAD 1
#define ELF_PT_DYNAMIC 2
#define ELF_PT_NOTE 4
#define ELF_PF_X 1

/* The on-file ELF64 structures (little endian). */
struct elf64_ehdr {
	u8 ident[16];
	u16 type;
	u16 machine;
	u32 version;
	u64 entry;
	u64 phoff;
	u64 shoff;
	u32 flags;
	u16 ehsize;
	u16 phentsize;
	u16 phnum;
	u16 shentsize;
	u16 shnum;
	u16 shstrndx;
};

struct elf64_phdr {
	u32 type;
	u32 flags;
	u64 offset;
	u64 vaddr;
	u64 paddr;
	u64 filesz;
	u64 memsz;
	u64 align;
};

struct elf64_dyn {
	s64 tag;
	u64 val;
};

struct elf64_rela {
	u64 offset;
	u64 info;
	s64 addend;
};

struct elf_segment {
	u64 offset; /* in the file */
	u64 filesz;
	u64 vaddr;
	u64 paddr;
	u64 memsz;
	u32 flags; /* PF_X=1, PF_W=2, PF_R=4 */
};

#define ELF_MAX_SEGMENTS 16

struct elf_image {
	u64 entry;
	u32 machine;
	u32 type; /* ET_EXEC=2, ET_DYN=3 */
	u32 segment_count;
	struct elf_segment segments[ELF_MAX_SEGMENTS];
	u64 lowest; /* lowest paddr of a loadable segment */
	u64 highest; /* end of the highest one */
};

/*
 * Parse and check the ELF64 little-endian image @data of @size bytes for
 * @machine: headers in bounds, PT_LOAD segments in bounds, memsz >= filesz,
 * no overflow, entry inside an executable segment. Returns 0 or -KEEL_EINVAL
 * with a reason in *why.
 */
int elf_parse(const void *data, u64 size, u32 machine, struct elf_image *img, const char **why);

/*
 * elf_parse() for images whose entry point is a physical address (a Linux
 * vmlinux: its ELF entry is startup_64's load address, its segments' virtual
 * addresses are the kernel map's).
 */
int elf_parse_phys(const void *data, u64 size, u32 machine, struct elf_image *img,
		   const char **why);

/* Is there a note named @name (a Linux kernel has "Linux") in a PT_NOTE segment? */
bool elf_has_note(const void *data, u64 size, u32 machine, const char *name);

#endif /* KEEL_ELF_H */
