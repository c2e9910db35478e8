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

/* What the instruction does besides one access (x86_insn.kind). */
#define X86_INSN_MOV 0 /* one read into reg, or one write of reg / imm */
#define X86_INSN_XCHG 1 /* read into reg, then write reg's old value back */
#define X86_INSN_MOVS 2 /* [rDI] <- [rSI], pointers step by mem_size (DF: down) */
#define X86_INSN_STOS 3 /* [rDI] <- AL/AX/EAX/RAX, rDI steps */

struct x86_insn {
	u8 len; /* instruction bytes */
	u8 write; /* memory is the destination */
	u8 mem_size; /* bytes of memory accessed: 1, 2, 4 or 8 */
	u8 reg_size; /* bytes of register written by a read: 1, 2, 4 (zero-extends) or 8 */
	u8 reg; /* register number (enum x86_gpr); for writes the source unless has_imm */
	u8 flags; /* X86_DECODE_* */
	u8 has_imm;
	u8 kind; /* X86_INSN_* */
	u8 rep; /* MOVS/STOS with REP (F3 or F2): rCX counts the elements */
	u8 addr_size; /* MOVS/STOS: 8 or 4, the size of rSI, rDI and rCX */
	u8 seg_fs_gs; /* an FS or GS override (MOVS reads its source there) */
	u8 pad[3];
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
