/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the ELF loader's parser (core/elf.c): whatever it
 * accepts has every segment inside the file and the entry in an executable
 * segment (by virtual address, or by physical one for a vmlinux); the note
 * scan and the rest never crash or read past the image.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/elf.h>

static void check(const u8 *data, size_t size, u32 machine, bool phys)
{
	struct elf_image img;
	const char *why = NULL;
	bool entry_ok = false;
	u32 i;

	if ((phys ? elf_parse_phys : elf_parse)(data, size, machine, &img, &why)) {
		if (!why)
			abort(); /* a refusal always says why */
		return;
	}
	if (img.segment_count == 0 || img.segment_count > ELF_MAX_SEGMENTS)
		abort();
	for (i = 0; i < img.segment_count; i++) {
		const struct elf_segment *s = &img.segments[i];

		if (s->offset > size || s->filesz > size - s->offset || s->filesz > s->memsz ||
		    (s->memsz && s->paddr + (s->memsz - 1) < s->paddr)) /* may end at 2^64 */
			abort();
		u64 at = phys ? s->paddr : s->vaddr;

		if ((s->flags & 1) && img.entry >= at && img.entry - at < s->memsz)
			entry_ok = true;
	}
	if (!entry_ok)
		abort();
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	u8 *copy = malloc(size ? size : 1);

	memcpy(copy, data, size);
	check(copy, size, 62, false); /* x86_64 */
	check(copy, size, 183, false); /* aarch64 */
	check(copy, size, 62, true); /* a vmlinux's physical entry */
	(void)elf_has_note(copy, size, 62, "Linux"); /* only must not read outside */
	free(copy);
	return 0;
}
