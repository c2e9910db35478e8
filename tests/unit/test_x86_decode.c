/* SPDX-License-Identifier: MIT */
/* The x86 MMIO instruction decoder: lengths, sizes, registers, immediates, refusals. */
#include <string.h>

#include "../../arch/x86_64/decode.h"
#include "unit.h"

static int dec(const u8 *b, u32 n, bool lm, struct x86_insn *i)
{
	memset(i, 0xa5, sizeof(*i));
	return x86_decode(b, n, lm, true, i);
}

static void test_movs(void)
{
	struct x86_insn i;

	/* mov 0xb0(%rax),%ecx -> 8b 88 b0 00 00 00 */
	CHECK_EQ(dec((const u8[]){ 0x8b, 0x88, 0xb0, 0, 0, 0 }, 6, true, &i), 0);
	CHECK_EQ(i.len, 6);
	CHECK_EQ(i.write, 0);
	CHECK_EQ(i.mem_size, 4);
	CHECK_EQ(i.reg, 1);
	/* mov %eax,0xffffffffff5fc0b0 (absolute, SIB no base) -> 89 04 25 b0 c0 5f ff */
	CHECK_EQ(dec((const u8[]){ 0x89, 0x04, 0x25, 0xb0, 0xc0, 0x5f, 0xff }, 7, true, &i), 0);
	CHECK_EQ(i.len, 7);
	CHECK_EQ(i.write, 1);
	CHECK_EQ(i.reg, 0);
	/* mov %r9,(%rdi) with REX.WR -> 4c 89 0f */
	CHECK_EQ(dec((const u8[]){ 0x4c, 0x89, 0x0f }, 3, true, &i), 0);
	CHECK_EQ(i.len, 3);
	CHECK_EQ(i.mem_size, 8);
	CHECK_EQ(i.reg, 9);
	/* movw %ax,0x10(%rdx) -> 66 89 42 10 */
	CHECK_EQ(dec((const u8[]){ 0x66, 0x89, 0x42, 0x10 }, 4, true, &i), 0);
	CHECK_EQ(i.len, 4);
	CHECK_EQ(i.mem_size, 2);
	/* mov (%rsi),%ah -> 8a 26: high byte register */
	CHECK_EQ(dec((const u8[]){ 0x8a, 0x26 }, 2, true, &i), 0);
	CHECK_EQ(i.reg, 0);
	CHECK(i.flags & X86_DECODE_HIGH8);
	/* with REX, 8a 26 is %spl: not a high byte */
	CHECK_EQ(dec((const u8[]){ 0x40, 0x8a, 0x26 }, 3, true, &i), 0);
	CHECK_EQ(i.reg, 4);
	CHECK(!(i.flags & X86_DECODE_HIGH8));
	/* movl $0x12345678,0x8(%rip) -> c7 05 08 00 00 00 78 56 34 12 */
	CHECK_EQ(dec((const u8[]){ 0xc7, 0x05, 8, 0, 0, 0, 0x78, 0x56, 0x34, 0x12 }, 10, true, &i), 0);
	CHECK_EQ(i.len, 10);
	CHECK(i.has_imm);
	CHECK_EQ(i.imm, 0x12345678);
	/* movq $-1,(%rax) -> 48 c7 00 ff ff ff ff: sign-extended */
	CHECK_EQ(dec((const u8[]){ 0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0xff }, 7, true, &i), 0);
	CHECK_EQ(i.imm, -1);
	CHECK_EQ(i.mem_size, 8);
	/* movb $0x5,(%rcx) -> c6 01 05 */
	CHECK_EQ(dec((const u8[]){ 0xc6, 0x01, 0x05 }, 3, true, &i), 0);
	CHECK_EQ(i.len, 3);
	CHECK_EQ(i.mem_size, 1);
	/* movzbl 0x3(%rbx,%rcx,4),%edx -> 0f b6 54 8b 03 */
	CHECK_EQ(dec((const u8[]){ 0x0f, 0xb6, 0x54, 0x8b, 0x03 }, 5, true, &i), 0);
	CHECK_EQ(i.len, 5);
	CHECK_EQ(i.mem_size, 1);
	CHECK_EQ(i.reg_size, 4);
	CHECK_EQ(i.reg, 2);
	/* movzwl with a segment prefix: 65 0f b7 00 */
	CHECK_EQ(dec((const u8[]){ 0x65, 0x0f, 0xb7, 0x00 }, 4, true, &i), 0);
	CHECK_EQ(i.len, 4);
	CHECK_EQ(i.mem_size, 2);
	/* 32-bit code: mov 0x12345678,%eax -> 8b 05 disp32 (no RIP-relative) */
	CHECK_EQ(dec((const u8[]){ 0x8b, 0x05, 0x78, 0x56, 0x34, 0x12 }, 6, false, &i), 0);
	CHECK_EQ(i.len, 6);
}

/* MOVSX, MOVSXD and the absolute-address forms A0-A3. */
static void test_sign_and_moffs(void)
{
	struct x86_insn i;

	/* movsbl (%rax),%ecx -> 0f be 08 */
	CHECK_EQ(dec((const u8[]){ 0x0f, 0xbe, 0x08 }, 3, true, &i), 0);
	CHECK_EQ(i.len, 3);
	CHECK_EQ(i.mem_size, 1);
	CHECK_EQ(i.reg_size, 4);
	CHECK_EQ(i.reg, 1);
	CHECK(i.flags & X86_DECODE_SEXT);
	CHECK_EQ(x86_decode_merge(&i, ~0ull, 0x80), 0xffffff80ull); /* upper half cleared */
	CHECK_EQ(x86_decode_merge(&i, ~0ull, 0x7f), 0x7f);
	/* movswq 0x10(%rdx),%r8 -> 4c 0f bf 42 10 */
	CHECK_EQ(dec((const u8[]){ 0x4c, 0x0f, 0xbf, 0x42, 0x10 }, 5, true, &i), 0);
	CHECK_EQ(i.len, 5);
	CHECK_EQ(i.mem_size, 2);
	CHECK_EQ(i.reg_size, 8);
	CHECK_EQ(i.reg, 8);
	CHECK_EQ(x86_decode_merge(&i, 0, 0x8001), 0xffffffffffff8001ull);
	/* movsbw (%rsi),%ax -> 66 0f be 06: only the low 16 bits change */
	CHECK_EQ(dec((const u8[]){ 0x66, 0x0f, 0xbe, 0x06 }, 4, true, &i), 0);
	CHECK_EQ(i.reg_size, 2);
	CHECK_EQ(x86_decode_merge(&i, 0x1122334455667788ull, 0xf0), 0x112233445566fff0ull);
	/* movslq (%rdi),%rax -> 48 63 07 */
	CHECK_EQ(dec((const u8[]){ 0x48, 0x63, 0x07 }, 3, true, &i), 0);
	CHECK_EQ(i.len, 3);
	CHECK_EQ(i.mem_size, 4);
	CHECK_EQ(i.reg_size, 8);
	CHECK_EQ(x86_decode_merge(&i, 0, 0x80000000), 0xffffffff80000000ull);
	/* 63 without REX.W: a 32-bit load, upper half cleared */
	CHECK_EQ(dec((const u8[]){ 0x63, 0x07 }, 2, true, &i), 0);
	CHECK_EQ(x86_decode_merge(&i, ~0ull, 0x80000000), 0x80000000ull);
	/* movabs 0xfee000f0,%eax -> a1 + moffs64 */
	CHECK_EQ(dec((const u8[]){ 0xa1, 0xf0, 0x00, 0xe0, 0xfe, 0, 0, 0, 0 }, 9, true, &i), 0);
	CHECK_EQ(i.len, 9);
	CHECK_EQ(i.mem_size, 4);
	CHECK_EQ(i.reg, 0);
	CHECK_EQ(i.write, 0);
	CHECK_EQ(x86_decode_merge(&i, ~0ull, 0x12345678), 0x12345678);
	/* movabs %al,0xfee00080 -> a2 + moffs64 */
	CHECK_EQ(dec((const u8[]){ 0xa2, 0x80, 0x00, 0xe0, 0xfe, 0, 0, 0, 0 }, 9, true, &i), 0);
	CHECK_EQ(i.write, 1);
	CHECK_EQ(i.mem_size, 1);
	/* movabs %rax,moffs with REX.W -> 48 a3 + moffs64 */
	CHECK_EQ(dec((const u8[]){ 0x48, 0xa3, 1, 2, 3, 4, 5, 6, 7, 8 }, 10, true, &i), 0);
	CHECK_EQ(i.len, 10);
	CHECK_EQ(i.mem_size, 8);
	/* 0x67: a 32-bit moffs */
	CHECK_EQ(dec((const u8[]){ 0x67, 0xa0, 1, 2, 3, 4 }, 6, true, &i), 0);
	CHECK_EQ(i.len, 6);
	/* 32-bit code: a0 + moffs32 */
	CHECK_EQ(dec((const u8[]){ 0xa0, 1, 2, 3, 4 }, 5, false, &i), 0);
	CHECK_EQ(i.len, 5);
	/* truncated moffs, 16-bit moffs, ARPL: refused */
	CHECK(dec((const u8[]){ 0xa1, 1, 2, 3, 4 }, 5, true, &i));
	CHECK(dec((const u8[]){ 0x67, 0xa1, 1, 2 }, 4, false, &i));
	CHECK(dec((const u8[]){ 0x63, 0x07 }, 2, false, &i));
}

static void test_refusals(void)
{
	struct x86_insn i;

	CHECK(dec((const u8[]){ 0x87, 0xc0 }, 2, true, &i)); /* xchg of two registers */
	CHECK(dec((const u8[]){ 0x67, 0xa5 }, 2, false, &i)); /* movs, 16-bit addressing */
	CHECK(dec((const u8[]){ 0xac }, 1, true, &i)); /* lodsb */
	CHECK(dec((const u8[]){ 0x0f, 0xbd, 0x00 }, 3, true, &i)); /* bsr */
	CHECK(dec((const u8[]){ 0x8b, 0xc0 }, 2, true, &i)); /* register operand */
	CHECK(dec((const u8[]){ 0x8b, 0x88, 0xb0 }, 3, true, &i)); /* truncated disp */
	CHECK(dec((const u8[]){ 0xc7, 0x08, 1, 2, 3, 4 }, 6, true, &i)); /* c7 /1 */
	CHECK(dec((const u8[]){ 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
				0x66, 0x66, 0x66, 0x66, 0x66 }, 15, true, &i)); /* prefixes only */
	CHECK(dec((const u8[]){ 0x67, 0x8b, 0x00 }, 3, false, &i)); /* 16-bit addressing */
	CHECK(x86_decode((const u8[]){ 0x8b, 0x00 }, 2, false, false, &i)); /* 16-bit code */
	CHECK(dec((const u8[]){ 0x0f }, 1, true, &i));
	CHECK(dec((const u8[]){ 0 }, 0, true, &i));
}

static void test_xchg_and_strings(void)
{
	struct x86_insn i;

	/* xchg %ecx,(%rdi) -> 87 0f: a read into ecx first (zero-extends), then a write */
	CHECK_EQ(dec((const u8[]){ 0x87, 0x0f }, 2, true, &i), 0);
	CHECK_EQ(i.kind, X86_INSN_XCHG);
	CHECK_EQ(i.len, 2);
	CHECK_EQ(i.write, 0);
	CHECK_EQ(i.mem_size, 4);
	CHECK_EQ(i.reg, 1);
	CHECK(i.flags & X86_DECODE_ZEXT);
	/* lock xchg %r10,0x8(%rax) -> f0 4c 87 50 08 */
	CHECK_EQ(dec((const u8[]){ 0xf0, 0x4c, 0x87, 0x50, 0x08 }, 5, true, &i), 0);
	CHECK_EQ(i.kind, X86_INSN_XCHG);
	CHECK_EQ(i.len, 5);
	CHECK_EQ(i.mem_size, 8);
	CHECK_EQ(i.reg, 10);
	/* xchg %ah,(%rsi) -> 86 26: byte, high register */
	CHECK_EQ(dec((const u8[]){ 0x86, 0x26 }, 2, true, &i), 0);
	CHECK_EQ(i.mem_size, 1);
	CHECK_EQ(i.reg, 0);
	CHECK(i.flags & X86_DECODE_HIGH8);
	/* movsb, rep movsq, movsw (66 a5), 32-bit addressing in 64-bit code (67 a5) */
	CHECK_EQ(dec((const u8[]){ 0xa4 }, 1, true, &i), 0);
	CHECK_EQ(i.kind, X86_INSN_MOVS);
	CHECK_EQ(i.len, 1);
	CHECK_EQ(i.mem_size, 1);
	CHECK_EQ(i.rep, 0);
	CHECK_EQ(i.addr_size, 8);
	CHECK_EQ(dec((const u8[]){ 0xf3, 0x48, 0xa5 }, 3, true, &i), 0);
	CHECK_EQ(i.len, 3);
	CHECK_EQ(i.mem_size, 8);
	CHECK_EQ(i.rep, 1);
	CHECK_EQ(dec((const u8[]){ 0x66, 0xa5 }, 2, true, &i), 0);
	CHECK_EQ(i.mem_size, 2);
	CHECK_EQ(dec((const u8[]){ 0x67, 0xa5 }, 2, true, &i), 0);
	CHECK_EQ(i.addr_size, 4);
	CHECK_EQ(i.mem_size, 4);
	CHECK_EQ(dec((const u8[]){ 0xa5 }, 1, false, &i), 0); /* 32-bit code */
	CHECK_EQ(i.addr_size, 4);
	/* rep stosl (f3 ab), stosb with F2 (repeats too), a GS source override is noted */
	CHECK_EQ(dec((const u8[]){ 0xf3, 0xab }, 2, true, &i), 0);
	CHECK_EQ(i.kind, X86_INSN_STOS);
	CHECK_EQ(i.write, 1);
	CHECK_EQ(i.mem_size, 4);
	CHECK_EQ(i.reg, 0);
	CHECK_EQ(i.rep, 1);
	CHECK_EQ(dec((const u8[]){ 0xf2, 0xaa }, 2, true, &i), 0);
	CHECK_EQ(i.rep, 1);
	CHECK_EQ(i.mem_size, 1);
	CHECK_EQ(dec((const u8[]){ 0x65, 0xa4 }, 2, true, &i), 0);
	CHECK_EQ(i.seg_fs_gs, 1);
	/* plain MOV still says so */
	CHECK_EQ(dec((const u8[]){ 0x8b, 0x07 }, 2, true, &i), 0);
	CHECK_EQ(i.kind, X86_INSN_MOV);
}

static void test_merge(void)
{
	struct x86_insn i = { .mem_size = 1, .reg_size = 1 };

	CHECK_EQ(x86_decode_merge(&i, 0x1122334455667788ull, 0xab), 0x11223344556677abull);
	i.flags = X86_DECODE_HIGH8;
	CHECK_EQ(x86_decode_merge(&i, 0x1122334455667788ull, 0xab), 0x112233445566ab88ull);
	i = (struct x86_insn){ .mem_size = 4, .reg_size = 4, .flags = X86_DECODE_ZEXT };
	CHECK_EQ(x86_decode_merge(&i, ~0ull, 0x12345678), 0x12345678);
	i = (struct x86_insn){ .mem_size = 2, .reg_size = 2 };
	CHECK_EQ(x86_decode_merge(&i, ~0ull, 0x1234), 0xffffffffffff1234ull);
	i = (struct x86_insn){ .mem_size = 1, .reg_size = 8, .flags = X86_DECODE_ZEXT };
	CHECK_EQ(x86_decode_merge(&i, ~0ull, 0x1ff), 0xff);
}

int main(void)
{
	test_movs();
	test_sign_and_moffs();
	test_refusals();
	test_xchg_and_strings();
	test_merge();
	return unit_done("test_x86_decode");
}
