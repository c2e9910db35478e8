/* SPDX-License-Identifier: MIT */
/* Unit tests of the ELF64 checks (core/elf.c), valid and hostile images. */
#include <string.h>

#include <keel/abi.h>
#include <keel/elf.h>

#include "unit.h"

struct img {
	u8 ident[16];
	u16 type, machine;
	u32 version;
	u64 entry, phoff, shoff;
	u32 flags;
	u16 ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
	struct {
		u32 type, flags;
		u64 offset, vaddr, paddr, filesz, memsz, align;
	} ph[3];
	u8 code[64];
};

static struct img make(void)
{
	struct img m;

	memset(&m, 0, sizeof(m));
	memcpy(m.ident, "\x7f" "ELF\x02\x01\x01", 7);
	m.type = 2;
	m.machine = ELF_MACHINE_X86_64;
	m.version = 1;
	m.entry = 0x100010;
	m.phoff = offsetof(struct img, ph);
	m.ehsize = 64;
	m.phentsize = 56;
	m.phnum = 2;
	m.ph[0].type = 1;
	m.ph[0].flags = 5;
	m.ph[0].offset = offsetof(struct img, code);
	m.ph[0].vaddr = m.ph[0].paddr = 0x100000;
	m.ph[0].filesz = 64;
	m.ph[0].memsz = 0x1000;
	m.ph[1].type = 1;
	m.ph[1].flags = 6;
	m.ph[1].offset = offsetof(struct img, code);
	m.ph[1].vaddr = m.ph[1].paddr = 0x200000;
	m.ph[1].filesz = 0;
	m.ph[1].memsz = 0x3000;
	return m;
}

static int parse(struct img *m, u64 size, const char **why)
{
	struct elf_image e;

	return elf_parse(m, size, ELF_MACHINE_X86_64, &e, why);
}

static void bad(struct img m, const char *text)
{
	const char *why = "";

	CHECK_EQ(parse(&m, sizeof(m), &why), -KEEL_EINVAL);
	CHECK(strstr(why, text) != NULL);
	if (!strstr(why, text))
		fprintf(stderr, "  reason was: %s (wanted %s)\n", why, text);
}

static void test_good(void)
{
	struct img m = make();
	struct elf_image e;
	const char *why = NULL;

	CHECK_EQ(elf_parse(&m, sizeof(m), ELF_MACHINE_X86_64, &e, &why), 0);
	CHECK_EQ(e.segment_count, 2);
	CHECK_EQ(e.entry, 0x100010);
	CHECK_EQ(e.lowest, 0x100000);
	CHECK_EQ(e.highest, 0x203000);
}

static void test_hostile(void)
{
	struct img m;
	const char *why = "";

	m = make();
	CHECK_EQ(parse(&m, 10, &why), -KEEL_EINVAL);
	CHECK_EQ(elf_parse(NULL, 100, ELF_MACHINE_X86_64, &(struct elf_image){ 0 }, &why),
		 -KEEL_EINVAL);
	m = make();
	m.ident[0] = 'M';
	bad(m, "not an ELF");
	m = make();
	m.ident[4] = 1;
	bad(m, "ELF64");
	m = make();
	m.machine = ELF_MACHINE_AARCH64;
	bad(m, "another machine");
	m = make();
	m.type = 1;
	bad(m, "not an executable");
	m = make();
	m.phentsize = 32;
	bad(m, "header size");
	m = make();
	m.phnum = 0;
	bad(m, "no program headers");
	m = make();
	m.phoff = ~0ull - 8;
	bad(m, "outside the file");
	m = make();
	m.phnum = 0xffff;
	bad(m, "outside the file");
	m = make();
	m.ph[0].filesz = 0x2000;
	bad(m, "larger in the file");
	m = make();
	m.ph[0].offset = ~0ull - 10;
	bad(m, "outside the file");
	m = make();
	m.ph[0].filesz = 64;
	m.ph[0].offset = sizeof(m) - 32;
	bad(m, "outside the file");
	m = make();
	m.ph[1].paddr = ~0ull - 0x100;
	bad(m, "wraps");
	m = make();
	m.ph[1].paddr = 0x100800;
	bad(m, "overlap");
	m = make();
	m.entry = 0x200010;
	bad(m, "entry point");
	m = make();
	m.ph[0].type = 4;
	m.ph[1].type = 4;
	bad(m, "nothing to load");
}

int main(void)
{
	test_good();
	test_hostile();
	return unit_done("test_elf");
}
