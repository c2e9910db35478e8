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
	memcpy(m.ident,
	       "\x7f"
	       "ELF\x02\x01\x01",
	       7);
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

/* A vmlinux's shape: segments at the kernel map's virtual addresses, entry physical. */
static void test_phys_entry(void)
{
	struct img m = make();
	struct elf_image e;
	const char *why = NULL;

	m.ph[0].vaddr = 0xffffffff81000000ull;
	m.ph[0].paddr = 0x1000000;
	m.entry = 0x1000010;
	CHECK_EQ(elf_parse(&m, sizeof(m), ELF_MACHINE_X86_64, &e, &why), -KEEL_EINVAL);
	CHECK(why && strstr(why, "entry point"));
	why = NULL;
	CHECK_EQ(elf_parse_phys(&m, sizeof(m), ELF_MACHINE_X86_64, &e, &why), 0);
	CHECK_EQ(e.entry, 0x1000010);
	CHECK_EQ(e.lowest, 0x200000);
	CHECK_EQ(e.highest, 0x1001000);
	m.entry = 0xffffffff81000010ull; /* a virtual entry is not a physical one */
	CHECK_EQ(elf_parse_phys(&m, sizeof(m), ELF_MACHINE_X86_64, &e, &why), -KEEL_EINVAL);
}

/* Two notes in ph[2]'s area (code[]): "GNU" (4-byte desc), then "Linux" (4-byte desc). */
static u32 put_notes(struct img *m)
{
	static const u8 notes[] = {
		4, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0,   0,	'G', 'N', 'U', 0, 1, 2, 3, 4, 6, 0,
		0, 0, 4, 0, 0, 0, 0, 1, 0, 0, 'L', 'i', 'n', 'u', 'x', 0, 0, 0, 9, 9, 9, 9,
	};

	memcpy(m->code, notes, sizeof(notes));
	m->phnum = 3;
	m->ph[2].type = ELF_PT_NOTE;
	m->ph[2].offset = offsetof(struct img, code);
	m->ph[2].filesz = sizeof(notes);
	return sizeof(notes);
}

static void test_notes(void)
{
	struct img m = make();
	u32 len = put_notes(&m), cut;

	CHECK(elf_has_note(&m, sizeof(m), ELF_MACHINE_X86_64, "Linux"));
	CHECK(elf_has_note(&m, sizeof(m), ELF_MACHINE_X86_64, "GNU"));
	CHECK(!elf_has_note(&m, sizeof(m), ELF_MACHINE_X86_64, "Xen"));
	CHECK(!elf_has_note(&m, sizeof(m), ELF_MACHINE_X86_64, "Linu"));
	CHECK(!elf_has_note(&m, sizeof(m), ELF_MACHINE_AARCH64, "Linux"));
	/* Cut before the second note's name ends: not found, nothing read past the cut. */
	for (cut = 0; cut < 20 + 12 + 6; cut++) {
		m.ph[2].filesz = cut;
		CHECK(!elf_has_note(&m, sizeof(m), ELF_MACHINE_X86_64, "Linux"));
	}
	m.ph[2].filesz = len;
	m.ph[2].offset = sizeof(m) - 8; /* runs past the file */
	CHECK(!elf_has_note(&m, sizeof(m), ELF_MACHINE_X86_64, "Linux"));
	m = make();
	put_notes(&m);
	m.code[4] = 0xff; /* the first descriptor's size: past the area */
	m.code[5] = m.code[6] = m.code[7] = 0xff;
	CHECK(!elf_has_note(&m, sizeof(m), ELF_MACHINE_X86_64, "Linux"));
	m = make();
	put_notes(&m);
	m.code[0] = m.code[1] = m.code[2] = m.code[3] = 0xff; /* name size 4 GiB - 1 */
	CHECK(!elf_has_note(&m, sizeof(m), ELF_MACHINE_X86_64, "GNU"));
	CHECK(!elf_has_note(NULL, 100, ELF_MACHINE_X86_64, "Linux"));
	CHECK(!elf_has_note(&m, 10, ELF_MACHINE_X86_64, "Linux"));
}

/* Random bytes in the note area and its header: an answer, never a read outside. */
static void test_notes_random(void)
{
	u32 seed = 12345;

	for (u32 round = 0; round < 20000; round++) {
		struct img m = make();
		u32 len = put_notes(&m);

		for (u32 k = 0; k < 3; k++) {
			seed = seed * 1103515245u + 12345u;
			m.code[(seed >> 8) % len] = (u8)(seed >> 20);
		}
		seed = seed * 1103515245u + 12345u;
		if (seed & 0x100)
			m.ph[2].filesz = (seed >> 12) % (len + 8);
		(void)elf_has_note(&m, sizeof(m), ELF_MACHINE_X86_64, "Linux");
	}
	CHECK(1);
}

int main(void)
{
	test_good();
	test_hostile();
	test_phys_entry();
	test_notes();
	test_notes_random();
	return unit_done("test_elf");
}
