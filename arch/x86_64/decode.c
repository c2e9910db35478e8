/* SPDX-License-Identifier: MIT */
/*
 * x86 instruction decoding for MMIO exits: prefixes, REX, ModRM/SIB/disp
 * (the address itself comes from the exit, only the length matters), and
 * the MOV forms 88/89/8A/8B/C6/C7, MOV with an absolute address A0-A3,
 * MOVZX 0F B6/B7, MOVSX 0F BE/BF and MOVSXD 63 (64-bit code), XCHG 86/87
 * and the string moves MOVS A4/A5 and STOS AA/AB (with or without REP).
 * XCHG and MOVS are a read and a write; vcpu.c carries out the second
 * access and the pointer and count updates (x86_insn.kind says which).
 */
#include <keel/abi.h>

#include "decode.h"

struct x86_prefixes {
	bool opsize; /* 0x66 */
	bool addr32; /* 0x67 in 64-bit mode */
	bool rep; /* 0xf3 or 0xf2: on MOVS and STOS both repeat */
	bool fs_gs; /* 0x64, 0x65 */
	u8 rex;
};

#define REX_W 8
#define REX_R 4

/* Legacy prefixes, then REX (64-bit mode, last before the opcode). */
static u32 x86_decode_prefixes(const u8 *buf, u32 avail, bool long_mode, struct x86_prefixes *p)
{
	u32 i = 0;

	for (; i < avail && i < X86_INSN_MAX; i++) {
		u8 b = buf[i];

		if (b == 0x66)
			p->opsize = true;
		else if (b == 0x67)
			p->addr32 = true;
		else if (b == 0xf2 || b == 0xf3)
			p->rep = true; /* no effect on MOV or XCHG */
		else if (b == 0x64 || b == 0x65)
			p->fs_gs = true;
		else if (b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0xf0)
			continue; /* segments (flat), LOCK (XCHG locks anyway) */
		else
			break;
	}
	if (long_mode && i < avail && (buf[i] & 0xf0) == 0x40)
		p->rex = buf[i++];
	return i;
}

/* Bytes of ModRM + SIB + displacement starting at @m, or 0 if not a memory operand. */
static u32 x86_decode_modrm_len(const u8 *m, u32 avail, bool addr16)
{
	u8 mod, rm;
	u32 len = 1;

	if (avail < 1)
		return 0;
	mod = m[0] >> 6;
	rm = m[0] & 7;
	if (mod == 3 || addr16)
		return 0; /* a register operand cannot fault on MMIO; 16-bit addressing unsupported */
	if (rm == 4) {
		if (avail < 2)
			return 0;
		len++;
		if (mod == 0 && (m[1] & 7) == 5)
			len += 4; /* no base: disp32 */
	} else if (mod == 0 && rm == 5) {
		len += 4; /* RIP-relative in 64-bit mode, disp32 otherwise */
	}
	if (mod == 1)
		len += 1;
	else if (mod == 2)
		len += 4;
	return len;
}

static u64 x86_decode_imm(const u8 *p, u32 size)
{
	u64 v = 0;

	for (u32 i = 0; i < size; i++)
		v |= (u64)p[i] << (8 * i);
	/* C7 with REX.W: imm32 sign-extended to 64 bits. */
	return v;
}

static u8 x86_decode_opsize(const struct x86_prefixes *p, bool long_mode, bool d32)
{
	if (p->rex & REX_W)
		return 8;
	if (long_mode || d32)
		return p->opsize ? 2 : 4;
	return p->opsize ? 4 : 2;
}

/*
 * A0-A3: MOV AL/rAX to or from an absolute address (moffs: 8 bytes in
 * 64-bit code, 4 in 32-bit code, halved by 0x67), no ModRM. @i is past the
 * opcode; returns 0 or -KEEL_EINVAL.
 */
static int x86_decode_moffs(u8 op, u32 i, u32 avail, bool long_mode, const struct x86_prefixes *p,
			    u8 opsize, struct x86_insn *out)
{
	u32 moffs = long_mode ? (p->addr32 ? 4 : 8) : (p->addr32 ? 2 : 4);

	if (!long_mode && p->addr32)
		return -KEEL_EINVAL; /* 16-bit addressing, as for ModRM forms */
	if (i + moffs > avail)
		return -KEEL_EINVAL;
	out->mem_size = (op == 0xa0 || op == 0xa2) ? 1 : opsize;
	out->reg_size = out->mem_size;
	out->write = op == 0xa2 || op == 0xa3;
	out->reg = 0; /* AL, AX, EAX or RAX */
	if (out->reg_size == 4 && long_mode)
		out->flags |= X86_DECODE_ZEXT;
	out->len = (u8)(i + moffs);
	return 0;
}

/*
 * MOVS A4/A5, STOS AA/AB: no ModRM; the addresses are rSI/rDI (the exit has
 * the one that faulted). @i is past the opcode.
 */
static int x86_decode_string(u8 op, u32 i, bool long_mode, const struct x86_prefixes *p, u8 opsize,
			     struct x86_insn *out)
{
	if (!long_mode && p->addr32)
		return -KEEL_EINVAL; /* 16-bit addressing */
	out->kind = (op == 0xa4 || op == 0xa5) ? X86_INSN_MOVS : X86_INSN_STOS;
	out->mem_size = (op & 1) ? opsize : 1;
	out->reg_size = out->mem_size;
	out->reg = 0; /* STOS stores AL, AX, EAX or RAX */
	out->write = out->kind == X86_INSN_STOS;
	out->rep = p->rep;
	out->addr_size = long_mode && !p->addr32 ? 8 : 4;
	out->seg_fs_gs = p->fs_gs;
	out->len = (u8)i;
	return 0;
}

/* The two-byte forms: MOVZX 0F B6/B7, MOVSX 0F BE/BF. */
static int x86_decode_0f(u8 op, u8 opsize, struct x86_insn *out)
{
	switch (op) {
	case 0xb6:
	case 0xb7:
		out->flags = X86_DECODE_ZEXT;
		break;
	case 0xbe:
	case 0xbf:
		out->flags = X86_DECODE_SEXT;
		break;
	default:
		return -KEEL_EINVAL;
	}
	out->mem_size = (op & 1) ? 2 : 1;
	out->reg_size = opsize;
	return 0;
}

int x86_decode(const u8 *buf, u32 avail, bool long_mode, bool d32, struct x86_insn *out)
{
	struct x86_prefixes p = { false, false, false, false, 0 };
	u32 i = x86_decode_prefixes(buf, MIN(avail, X86_INSN_MAX), long_mode, &p);
	u8 op, opsize, imm_size = 0;
	u32 modrm_at, mlen;
	bool twobyte = false, byte_op;

	if (!long_mode && !d32)
		return -KEEL_EINVAL; /* 16-bit code: not a place for MMIO in a Linux guest */
	avail = MIN(avail, X86_INSN_MAX);
	if (i >= avail)
		return -KEEL_EINVAL;
	op = buf[i++];
	if (op == 0x0f) {
		if (i >= avail)
			return -KEEL_EINVAL;
		twobyte = true;
		op = buf[i++];
	}
	opsize = x86_decode_opsize(&p, long_mode, d32);
	*out = (struct x86_insn){ 0 };
	if (!twobyte && op >= 0xa0 && op <= 0xa3)
		return x86_decode_moffs(op, i, avail, long_mode, &p, opsize, out);
	if (!twobyte && (op == 0xa4 || op == 0xa5 || op == 0xaa || op == 0xab))
		return x86_decode_string(op, i, long_mode, &p, opsize, out);
	if (twobyte) {
		if (x86_decode_0f(op, opsize, out))
			return -KEEL_EINVAL;
	} else if (op == 0x63) {
		if (!long_mode)
			return -KEEL_EINVAL; /* ARPL in 32-bit code */
		/* MOVSXD: r64 <- r/m32 with REX.W, else a plain 32-bit load. */
		out->mem_size = 4;
		out->reg_size = opsize == 8 ? 8 : 4;
		out->flags = opsize == 8 ? X86_DECODE_SEXT : 0;
	} else {
		switch (op) {
		case 0x88: /* MOV r/m8, r8 */
		case 0x8a: /* MOV r8, r/m8 */
		case 0xc6: /* MOV r/m8, imm8 */
		case 0x86: /* XCHG r/m8, r8 */
			byte_op = true;
			break;
		case 0x89: /* MOV r/m, r */
		case 0x8b: /* MOV r, r/m */
		case 0xc7: /* MOV r/m, imm16/32 */
		case 0x87: /* XCHG r/m, r */
			byte_op = false;
			break;
		default:
			return -KEEL_EINVAL;
		}
		out->mem_size = byte_op ? 1 : opsize;
		out->reg_size = out->mem_size;
		out->write = op != 0x8a && op != 0x8b;
		if (op == 0x86 || op == 0x87) {
			out->kind = X86_INSN_XCHG;
			out->write = 0; /* the read comes first; its result goes to reg */
		}
		if (op == 0xc6 || op == 0xc7) {
			out->has_imm = 1;
			imm_size = out->mem_size == 1 ? 1 : out->mem_size == 2 ? 2 : 4;
		}
	}
	modrm_at = i;
	if (modrm_at >= avail)
		return -KEEL_EINVAL;
	/* 0x67 in 32-bit code selects 16-bit addressing (another ModRM table). */
	mlen = x86_decode_modrm_len(&buf[modrm_at], avail - modrm_at, !long_mode && p.addr32);
	if (!mlen)
		return -KEEL_EINVAL;
	out->reg = ((buf[modrm_at] >> 3) & 7) | ((p.rex & REX_R) ? 8 : 0);
	if (out->has_imm && ((buf[modrm_at] >> 3) & 7) != 0)
		return -KEEL_EINVAL; /* C6/C7 /0 only */
	i = modrm_at + mlen;
	if (i + imm_size > avail)
		return -KEEL_EINVAL;
	if (out->has_imm) {
		u64 imm = x86_decode_imm(&buf[i], imm_size);

		if (imm_size == 4 && out->mem_size == 8 && (imm & BIT(31)))
			imm |= 0xffffffff00000000ull;
		out->imm = imm;
		i += imm_size;
	}
	/* Byte registers 4-7 without REX are AH, CH, DH, BH. */
	if (!out->has_imm && out->reg_size == 1 && !p.rex && out->reg >= 4 && out->reg < 8) {
		out->flags |= X86_DECODE_HIGH8;
		out->reg -= 4;
	}
	if (out->reg_size == 4 && long_mode)
		out->flags |= X86_DECODE_ZEXT; /* 32-bit register writes clear bits 32-63 */
	out->len = (u8)i;
	return 0;
}

u64 x86_decode_merge(const struct x86_insn *insn, u64 old, u64 data)
{
	u64 mask;

	if (insn->mem_size < 8) {
		u64 bits = 8ull * insn->mem_size;

		data &= (1ull << bits) - 1;
		if ((insn->flags & X86_DECODE_SEXT) && (data >> (bits - 1)))
			data |= ~0ull << bits;
	}
	if (insn->flags & X86_DECODE_HIGH8)
		return (old & ~0xff00ull) | ((data & 0xff) << 8);
	if (insn->reg_size == 8)
		return data;
	/* A 32-bit register write clears bits 32-63 (ZEXT is set for those in 64-bit code). */
	if (insn->flags & X86_DECODE_ZEXT && insn->reg_size >= 4)
		return data & 0xffffffffull;
	mask = (1ull << (insn->reg_size * 8)) - 1;
	return (old & ~mask) | (data & mask);
}
