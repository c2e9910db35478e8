/* SPDX-License-Identifier: MIT */
/*
 * aarch64 hooks of the UEFI loader: copy the firmware DTB into Keel pages,
 * list the CPUs of its /cpus node, keep the caches coherent, the jump.
 */
#include <keel/lib.h>

#include "loader.h"

#define FDT_MAGIC 0xd00dfeedu
#define FDT_MAX_SIZE (2u << 20)
#define FDT_HEADER_SIZE 40u
#define FDT_RSV_ENTRY 16u /* a memory reservation: address, size */
#define FDT_BEGIN_NODE 1u
#define FDT_END_NODE 2u
#define FDT_PROP 3u
#define FDT_NOP 4u
#define FDT_END 9u
#define MPIDR_AFF_MASK 0xff00ffffffull

static EFI_GUID dtb_guid = EFI_DTB_TABLE_GUID;
static const u8 fdt_rsv_end[FDT_RSV_ENTRY]; /* the reservation list's terminator */

static u32 be32(const u8 *p)
{
	return ((u32)p[0] << 24) | ((u32)p[1] << 16) | ((u32)p[2] << 8) | p[3];
}

/* The header's totalsize (big-endian, at offset 4). */
static void fdt_set_totalsize(u8 *fdt, u32 size)
{
	fdt[4] = (u8)(size >> 24);
	fdt[5] = (u8)(size >> 16);
	fdt[6] = (u8)(size >> 8);
	fdt[7] = (u8)size;
}

/* The parts of an FDT the walker uses, each bound checked against the blob. */
struct fdt_view {
	const u8 *st; /* structure block */
	u32 st_size;
	const u8 *strings;
	u32 strings_size;
};

/* Header checks: magic, sizes within @size and the cap, blocks inside. */
static bool fdt_view_init(const u8 *fdt, u32 size, struct fdt_view *v)
{
	u32 off_st, off_str, version;

	if (size < FDT_HEADER_SIZE || be32(fdt) != FDT_MAGIC || be32(fdt + 4) != size)
		return false;
	off_st = be32(fdt + 8);
	off_str = be32(fdt + 12);
	version = be32(fdt + 20);
	v->strings_size = be32(fdt + 32);
	v->st_size = be32(fdt + 36);
	if (version < 17 || off_st % 4 || off_st > size || v->st_size > size - off_st ||
	    off_str > size || v->strings_size > size - off_str)
		return false;
	v->st = fdt + off_st;
	v->strings = fdt + off_str;
	return true;
}

/* A NUL-terminated string at @off inside [base, base + size), or NULL. */
static const char *fdt_string(const u8 *base, u32 size, u32 off)
{
	if (off >= size || !memchr(base + off, 0, size - off))
		return NULL;
	return (const char *)base + off;
}

/* Walk state for /cpus/cpu@N nodes. */
struct fdt_cpus {
	u32 depth; /* root = 1 */
	bool in_cpus; /* inside /cpus (depth 2) */
	u32 addr_cells; /* of /cpus */
	bool is_cpu; /* the current depth-3 node says device_type = "cpu" */
	bool has_reg;
	u64 reg;
};

static void fdt_cpu_prop(struct fdt_cpus *c, const char *name, const u8 *data, u32 len)
{
	if (c->depth == 2 && c->in_cpus && strcmp(name, "#address-cells") == 0 && len == 4)
		c->addr_cells = be32(data);
	if (c->depth != 3 || !c->in_cpus)
		return;
	if (strcmp(name, "device_type") == 0 && len == 4 && memcmp(data, "cpu", 4) == 0)
		c->is_cpu = true;
	if (strcmp(name, "reg") == 0 && c->addr_cells >= 1 && c->addr_cells <= 2 &&
	    len >= 4 * c->addr_cells) {
		c->reg = be32(data);
		if (c->addr_cells == 2)
			c->reg = (c->reg << 32) | be32(data + 4);
		c->has_reg = true;
	}
}

static void fdt_cpu_done(struct fdt_cpus *c, struct keel_boot_info *bi)
{
	if (c->is_cpu && c->has_reg && bi->fw_cpu_count < KEEL_MAX_CPUS)
		bi->fw_cpu_hwid[bi->fw_cpu_count++] = c->reg & MPIDR_AFF_MASK;
	c->is_cpu = false;
	c->has_reg = false;
}

/* One BEGIN_NODE: its name follows the token. Returns bytes used or 0. */
static u32 fdt_begin_node(const struct fdt_view *v, u32 pos, struct fdt_cpus *c)
{
	const char *name = fdt_string(v->st, v->st_size, pos);

	if (!name)
		return 0;
	c->depth++;
	if (c->depth == 2)
		c->in_cpus = strcmp(name, "cpus") == 0;
	return (u32)ALIGN_UP(strlen(name) + 1, 4);
}

/* One PROP: len, nameoff, data. Returns bytes used or 0. */
static u32 fdt_prop(const struct fdt_view *v, u32 pos, struct fdt_cpus *c)
{
	u32 len, nameoff;
	const char *name;

	if (v->st_size - pos < 8)
		return 0;
	len = be32(v->st + pos);
	nameoff = be32(v->st + pos + 4);
	if (len > v->st_size - pos - 8)
		return 0;
	name = fdt_string(v->strings, v->strings_size, nameoff);
	if (!name)
		return 0;
	fdt_cpu_prop(c, name, v->st + pos + 8, len);
	return 8 + (u32)ALIGN_UP(len, 4);
}

/* Fill fw_cpu_* from /cpus. Leaves fw_cpu_count 0 on a malformed tree. */
static void fdt_list_cpus(const u8 *fdt, u32 size, struct keel_boot_info *bi)
{
	struct fdt_cpus c = { .addr_cells = 2 };
	struct fdt_view v;
	u32 pos = 0, tok, used;
	u64 mpidr;

	if (!fdt_view_init(fdt, size, &v))
		return;
	while (pos + 4 <= v.st_size) {
		tok = be32(v.st + pos);
		pos += 4;
		used = 0;
		if (tok == FDT_BEGIN_NODE) {
			used = fdt_begin_node(&v, pos, &c);
		} else if (tok == FDT_PROP) {
			used = fdt_prop(&v, pos, &c);
		} else if (tok == FDT_END_NODE && c.depth > 0) {
			if (c.depth == 3 && c.in_cpus)
				fdt_cpu_done(&c, bi);
			if (c.depth == 2)
				c.in_cpus = false;
			c.depth--;
			continue;
		} else if (tok == FDT_NOP) {
			continue;
		} else if (tok == FDT_END) {
			break;
		}
		if (!used || used > v.st_size - pos) {
			bi->fw_cpu_count = 0; /* malformed: trust nothing */
			return;
		}
		pos += used;
	}
	__asm__ volatile("mrs %0, mpidr_el1" : "=r"(mpidr));
	for (tok = 0; tok < bi->fw_cpu_count; tok++)
		if (bi->fw_cpu_hwid[tok] == (mpidr & MPIDR_AFF_MASK))
			bi->fw_boot_cpu = tok;
}

/*
 * Where the last of a @size-byte FDT's blocks ends (header, memory
 * reservations, structure, strings), or 0 if one lies outside it. Firmware
 * pads the blob for its own edits (QEMU's virt to 1 MiB); Keel only reads it.
 */
static u32 fdt_used_size(const u8 *fdt, u32 size)
{
	struct fdt_view v;
	u32 off_rsv, end, rsv;

	if (!fdt_view_init(fdt, size, &v))
		return 0;
	off_rsv = be32(fdt + 16);
	if (off_rsv % 8 || off_rsv < FDT_HEADER_SIZE)
		return 0;
	/* Reservations: 16-byte {address, size} entries up to an all-zero one. */
	for (rsv = off_rsv;; rsv += FDT_RSV_ENTRY) {
		if (rsv > size - FDT_RSV_ENTRY)
			return 0;
		if (!memcmp(fdt + rsv, fdt_rsv_end, FDT_RSV_ENTRY))
			break;
	}
	end = rsv + FDT_RSV_ENTRY;
	end = MAX(end, (u32)(v.st - fdt) + v.st_size);
	return MAX(end, (u32)(v.strings - fdt) + v.strings_size);
}

/* Copy the firmware DTB, without its free space, into Keel pages; no DTB (ACPI boot) is fine. */
static int copy_dtb(struct keel_boot_info *bi)
{
	const u8 *fw = efi_config_table(&dtb_guid);
	u32 size, used;
	u8 *copy;

	if (!fw)
		return 0;
	size = be32(fw + 4);
	used = be32(fw) == FDT_MAGIC && size <= FDT_MAX_SIZE ? fdt_used_size(fw, size) : 0;
	if (!used) {
		efi_printf("keel: loader: error: the firmware's device tree is malformed\n");
		return -KEEL_EINVAL;
	}
	used = ALIGN_UP(used, 8u);
	copy = efi_alloc_keel(used, PAGE_SIZE);
	if (!copy) {
		efi_printf("keel: loader: error: no memory for the device tree\n");
		return -KEEL_ENOMEM;
	}
	memcpy(copy, fw, MIN(used, size));
	fdt_set_totalsize(copy, used);
	bi->dtb = (u64)(uintptr_t)copy;
	fdt_list_cpus(copy, used, bi);
	return 0;
}

int efi_arch_setup(struct keel_boot_info *bi)
{
	bi->timer_hz = 0;
	bi->trampoline = 0;
	return copy_dtb(bi);
}

void efi_arch_release(struct keel_boot_info *bi)
{
	u8 *dtb = (u8 *)(uintptr_t)bi->dtb;

	if (dtb)
		efi_free_keel(dtb, be32(dtb + 4));
	bi->dtb = 0;
}

void efi_arch_sync_icache(void *p, u64 size)
{
	u64 ctr, dline, iline, a, start = (u64)(uintptr_t)p, end = start + size;

	__asm__ volatile("mrs %0, ctr_el0" : "=r"(ctr));
	dline = 4ull << ((ctr >> 16) & 0xf);
	iline = 4ull << (ctr & 0xf);
	for (a = ALIGN_DOWN(start, dline); a < end; a += dline)
		__asm__ volatile("dc cvau, %0" ::"r"(a) : "memory");
	__asm__ volatile("dsb ish" ::: "memory");
	for (a = ALIGN_DOWN(start, iline); a < end; a += iline)
		__asm__ volatile("ic ivau, %0" ::"r"(a) : "memory");
	__asm__ volatile("dsb ish; isb" ::: "memory");
}

void efi_arch_enter(u64 entry, struct keel_boot_info *bi)
{
	__asm__ volatile("msr daifset, #0xf; isb" ::: "memory");
	((keel_core_entry_t)(uintptr_t)entry)(bi);
	for (;;)
		__asm__ volatile("wfi");
}

u64 efi_arch_clock(void)
{
	u64 t;

	__asm__ volatile("isb; mrs %0, cntpct_el0" : "=r"(t));
	return t;
}
