/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the ELF loader's parser (core/elf.c): whatever it
 * accepts has every segment inside the file and the entry in an executable
 * segment; nothing crashes or reads past the image.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/elf.h>

static void check(const u8 *data, size_t size, u32 machine)
{
	struct elf_image img;
	const char *why = NULL;
	bool entry_ok = false;
	u32 i;

	if (elf_parse(data, size, machine, &img, &why)) {
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
		if ((s->flags & 1) && img.entry >= s->vaddr && img.entry - s->vaddr < s->memsz)
			entry_ok = true;
	}
	if (!entry_ok)
		abort();
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	u8 *copy = malloc(size ? size : 1);

	memcpy(copy, data, size);
	check(copy, size, 62); /* x86_64 */
	check(copy, size, 183); /* aarch64 */
	free(copy);
	return 0;
}
