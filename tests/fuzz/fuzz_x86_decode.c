/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the x86 MMIO instruction decoder (arch/x86_64/decode.c):
 * any bytes, in each CPU mode, decode to nothing or to an instruction that
 * fits the bytes given and names a real register and access size.
 */
#include <stdlib.h>
#include <string.h>

#include "decode.h"

static void check(const u8 *buf, u32 n, bool long_mode, bool d32, u64 old, u64 data)
{
	struct x86_insn insn;

	memset(&insn, 0xa5, sizeof(insn));
	if (x86_decode(buf, n, long_mode, d32, &insn))
		return;
	if (!insn.len || insn.len > n || insn.len > 15 || insn.reg > 15)
		abort();
	if (insn.mem_size != 1 && insn.mem_size != 2 && insn.mem_size != 4 && insn.mem_size != 8)
		abort();
	if (!insn.write && insn.reg_size != 1 && insn.reg_size != 2 && insn.reg_size != 4 &&
	    insn.reg_size != 8)
		abort();
	(void)x86_decode_merge(&insn, old, data);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	u64 a = 0, b = 0;
	u8 *copy;
	u32 n;

	if (size < 16)
		return 0;
	memcpy(&a, data, 8);
	memcpy(&b, data + 8, 8);
	n = (u32)(size - 16 > 15 ? 15 : size - 16);
	copy = malloc(n ? n : 1);
	memcpy(copy, data + 16, n);
	check(copy, n, true, true, a, b);
	check(copy, n, false, true, a, b);
	check(copy, n, false, false, a, b);
	free(copy);
	return 0;
}
