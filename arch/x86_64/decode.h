/* SPDX-License-Identifier: MIT */
/*
 * Decoding of the MOV forms guests use for MMIO (no decode assists under
 * TCG): operand size, direction, register or immediate, instruction length.
 * Pure code, built into the unit tests as well.
 */
#ifndef KEEL_X86_DECODE_H
#define KEEL_X86_DECODE_H

#include <keel/types.h>

#define X86_INSN_MAX 15u

/* How a read result goes into its register. */
#define X86_DECODE_ZEXT BIT(0) /* zero-extend to the register size (MOVZX, 32-bit writes) */
#define X86_DECODE_HIGH8 BIT(1) /* AH, CH, DH, BH: bits 8-15 of register reg - 4 */
#define X86_DECODE_SEXT BIT(2) /* sign-extend from mem_size (MOVSX, MOVSXD) */

struct x86_insn {
	u8 len; /* instruction bytes */
	u8 write; /* memory is the destination */
	u8 mem_size; /* bytes of memory accessed: 1, 2, 4 or 8 */
	u8 reg_size; /* bytes of register written by a read: 1, 2, 4 (zero-extends) or 8 */
	u8 reg; /* register number (enum x86_gpr); for writes the source unless has_imm */
	u8 flags; /* X86_DECODE_* */
	u8 has_imm;
	u8 pad;
	u64 imm; /* immediate already sign-extended to mem_size */
};

/*
 * Decode the instruction in @buf (@avail bytes fetched). @long_mode: 64-bit
 * code segment; else @d32: 32-bit default operand size (16-bit code is not
 * supported). Returns 0 or -KEEL_EINVAL (not a supported MMIO instruction,
 * or truncated).
 */
int x86_decode(const u8 *buf, u32 avail, bool long_mode, bool d32, struct x86_insn *out);

/* The value a read of @data puts into a register holding @old. */
u64 x86_decode_merge(const struct x86_insn *insn, u64 old, u64 data);

#endif /* KEEL_X86_DECODE_H */
