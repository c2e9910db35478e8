/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the arch's Linux kernel loader (x86_64: bzImage or vmlinux with
 * boot_params, e820 and ACPI tables; aarch64: arm64 Image with its device
 * tree), built once per arch: any bytes as the kernel (and, split off, an
 * initrd) are refused or loaded entirely inside the partition's RAM, with an
 * entry point there.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/arch.h>
#include <keel/pmm.h>
#include <keel/vcpu.h>

#include "kernel_env.h"

/* Input: 2 bytes of initrd length, the initrd, then the kernel. */
int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct vcpu_entry entry;
	size_t ilen;
	int ret;

	if (size < 2)
		return 0;
	ilen = (size_t)(data[0] | data[1] << 8);
	if (ilen > size - 2 || size - 2 - ilen > FUZZ_KIMAGE_MAX)
		return 0;
	fuzz_kernel_setup(data + 2 + ilen, size - 2 - ilen, data + 2, ilen);
	memset(&entry, 0, sizeof(entry));
	ret = arch_kernel_load(&fuzz_kpart, &entry);
	if (ret == 0 &&
	    (entry.pc < KEEL_GUEST_RAM_BASE || entry.pc >= KEEL_GUEST_RAM_BASE + FUZZ_KRAM))
		abort();
	if (pmm_free_bytes() != pool_free)
		abort(); /* the loader's scratch all given back */
	return 0;
}
