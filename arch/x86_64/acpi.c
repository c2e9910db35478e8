/* SPDX-License-Identifier: MIT */
/*
 * Platform discovery from ACPI: RSDP -> XSDT/RSDT -> MADT (CPUs, IOAPICs),
 * FADT (+ DSDT \_S5) for power-off, MCFG (PCI ECAM windows), DMAR and IVRS
 * (the IOMMUs: dmar.c, ivrs.c). Every
 * table's length and checksum is checked before a field is read. Without
 * ACPI (Bochs) the CPU list comes from the firmware's MP Services list in
 * the boot info.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/pci.h>
#include <keel/iommu.h>
#include <keel/pcpu.h>

#include "acpi_iommu.h"
#include "x86.h"

struct acpi_rsdp {
	char signature[8];
	u8 checksum;
	char oem_id[6];
	u8 revision;
	u32 rsdt;
	u32 length; /* revision >= 2 from here */
	u64 xsdt;
	u8 ext_checksum;
	u8 reserved[3];
} __packed;

struct acpi_header {
	char signature[4];
	u32 length;
	u8 revision;
	u8 checksum;
	char oem_id[6];
	char oem_table_id[8];
	u32 oem_revision;
	u32 creator_id;
	u32 creator_revision;
} __packed;

#define ACPI_MAX_TABLE (16u << 20) /* a bigger table is a broken one */
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_LAPIC_OVERRIDE 5
#define MADT_X2APIC 9
#define MADT_ENABLED BIT(0)
#define MADT_ONLINE_CAPABLE BIT(1)

/* FADT field offsets (ACPI 6.x); each read is checked against its length. */
#define FADT_DSDT 40
#define FADT_PM1A_CNT 64
#define FADT_PM1B_CNT 68
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_X_DSDT 140
#define FADT_RESET_REG_SUP BIT(10)

/* MCFG: 8 reserved bytes after the header, then 16-byte entries. */
#define MCFG_ENTRIES 44u
#define MCFG_ENTRY_SIZE 16u
#define MCFG_BASE 0 /* u64: where bus 0's config space would be */
#define MCFG_SEGMENT 8 /* u16 */
#define MCFG_START_BUS 10
#define MCFG_END_BUS 11

struct x86_acpi_info x86_acpi;

static bool acpi_checksum_ok(const void *p, u64 len)
{
	const u8 *b = p;
	u8 sum = 0;

	for (u64 i = 0; i < len; i++)
		sum += b[i];
	return sum == 0;
}

/* A table at @pa whose header, length and checksum are sane, or NULL. */
static const struct acpi_header *acpi_table(u64 pa, const char *sig)
{
	const struct acpi_header *h = hpa_to_hva(pa);

	if (!pa || range_overflows(pa, sizeof(*h)))
		return NULL;
	if (h->length < sizeof(*h) || h->length > ACPI_MAX_TABLE || range_overflows(pa, h->length))
		return NULL;
	if (sig && memcmp(h->signature, sig, 4) != 0)
		return NULL;
	if (!acpi_checksum_ok(h, h->length)) {
		pr_warn("acpi: table %.4s at 0x%llx has a bad checksum, ignored", h->signature,
			(unsigned long long)pa);
		return NULL;
	}
	return h;
}

static const struct acpi_header *acpi_root(u64 rsdp_pa, u32 *entry_size)
{
	const struct acpi_rsdp *rsdp = hpa_to_hva(rsdp_pa);
	const struct acpi_header *root;

	if (memcmp(rsdp->signature, "RSD PTR ", 8) != 0 || !acpi_checksum_ok(rsdp, 20)) {
		pr_warn("acpi: bad RSDP at 0x%llx", (unsigned long long)rsdp_pa);
		return NULL;
	}
	if (rsdp->revision >= 2 && rsdp->length >= sizeof(*rsdp) && rsdp->length < 4096 &&
	    acpi_checksum_ok(rsdp, rsdp->length) && rsdp->xsdt) {
		root = acpi_table(rsdp->xsdt, "XSDT");
		if (root) {
			*entry_size = 8;
			return root;
		}
	}
	*entry_size = 4;
	return acpi_table(rsdp->rsdt, "RSDT");
}

/* Look up @sig in the root table. */
static const struct acpi_header *acpi_find(const struct acpi_header *root, u32 esize,
					   const char *sig)
{
	u32 n = (root->length - sizeof(*root)) / esize;
	const u8 *e = (const u8 *)(root + 1);

	for (u32 i = 0; i < n; i++) {
		u64 pa = 0;

		memcpy(&pa, e + (u64)i * esize, esize);
		if (pa && !range_overflows(pa, sizeof(struct acpi_header)) &&
		    memcmp(((const struct acpi_header *)hpa_to_hva(pa))->signature, sig, 4) == 0)
			return acpi_table(pa, sig);
	}
	return NULL;
}

static void plat_add_cpu(struct platform *plat, u64 hwid)
{
	for (u32 i = 0; i < plat->cpu_count; i++)
		if (plat->cpu_hwid[i] == hwid)
			return;
	if (plat->cpu_count >= KEEL_MAX_CPUS) {
		pr_warn_once("x86: more than %u CPUs, the rest stay off", KEEL_MAX_CPUS);
		return;
	}
	plat->cpu_hwid[plat->cpu_count++] = hwid;
}

static void acpi_parse_madt(const struct acpi_header *madt, struct platform *plat)
{
	const u8 *p = (const u8 *)madt;
	u32 off = sizeof(*madt) + 8; /* local APIC address, flags */

	if (madt->length < off)
		return;
	memcpy(&x86_acpi.lapic_base, p + sizeof(*madt), 4);
	while (off + 2 <= madt->length) {
		u8 type = p[off], len = p[off + 1];
		u32 id32 = 0, flags = 0;

		if (len < 2 || off + len > madt->length)
			break;
		if (type == MADT_LAPIC && len >= 8) {
			memcpy(&flags, p + off + 4, 4);
			if (flags & (MADT_ENABLED | MADT_ONLINE_CAPABLE))
				plat_add_cpu(plat, p[off + 3]);
		} else if (type == MADT_X2APIC && len >= 16) {
			memcpy(&id32, p + off + 4, 4);
			memcpy(&flags, p + off + 8, 4);
			if (flags & (MADT_ENABLED | MADT_ONLINE_CAPABLE))
				plat_add_cpu(plat, id32);
		} else if (type == MADT_IOAPIC && len >= 12) {
			u32 n = x86_acpi.ioapic_count;

			if (n < ARRAY_SIZE(x86_acpi.ioapic_base)) {
				x86_acpi.ioapic_id[n] = p[off + 2];
				memcpy(&id32, p + off + 4, 4);
				x86_acpi.ioapic_base[n] = id32;
				memcpy(&x86_acpi.ioapic_gsi_base[n], p + off + 8, 4);
				x86_acpi.ioapic_count = n + 1;
			}
		} else if (type == MADT_LAPIC_OVERRIDE && len >= 12) {
			memcpy(&x86_acpi.lapic_base, p + off + 4, 8);
		}
		off += len;
	}
}

/* One AML integer constant at @p (ZeroOp, OneOp, BytePrefix, WordPrefix). */
static int aml_small_int(const u8 *p, const u8 *end, u16 *val, u32 *used)
{
	if (p >= end)
		return -1;
	if (p[0] == 0x00 || p[0] == 0x01) {
		*val = p[0];
		*used = 1;
		return 0;
	}
	if (p[0] == 0x0a && p + 1 < end) {
		*val = p[1];
		*used = 2;
		return 0;
	}
	if (p[0] == 0x0b && p + 2 < end) {
		*val = (u16)(p[1] | (p[2] << 8));
		*used = 3;
		return 0;
	}
	return -1;
}

/*
 * Find "Name(_S5_, Package(){a, b, ...})" in the DSDT: "_S5_" then PackageOp
 * (0x12), a PkgLength (1-4 bytes), NumElements, then two integers.
 */
static void acpi_parse_s5(const struct acpi_header *dsdt)
{
	const u8 *p = (const u8 *)(dsdt + 1);
	const u8 *end = (const u8 *)dsdt + dsdt->length;

	for (; p + 8 < end; p++) {
		const u8 *q;
		u32 used;
		u16 a, b;

		if (memcmp(p, "_S5_", 4) != 0 || p[4] != 0x12)
			continue;
		q = p + 5;
		q += 1 + (q[0] >> 6); /* PkgLength: lead byte bits 7:6 = extra bytes */
		q += 1; /* NumElements */
		if (aml_small_int(q, end, &a, &used))
			return;
		q += used;
		if (aml_small_int(q, end, &b, &used))
			return;
		x86_acpi.slp_typ_s5a = a;
		x86_acpi.slp_typ_s5b = b;
		x86_acpi.s5_found = true;
		return;
	}
}

static void acpi_parse_fadt(const struct acpi_header *fadt)
{
	const u8 *p = (const u8 *)fadt;
	u32 len = fadt->length, flags = 0, dsdt32 = 0;
	u64 dsdt = 0;
	const struct acpi_header *d;

	if (len >= FADT_PM1B_CNT + 4) {
		memcpy(&x86_acpi.pm1a_cnt, p + FADT_PM1A_CNT, 4);
		memcpy(&x86_acpi.pm1b_cnt, p + FADT_PM1B_CNT, 4);
	}
	if (len >= FADT_RESET_VALUE + 1) {
		memcpy(&flags, p + FADT_FLAGS, 4);
		/* Generic address: space id 1 = system I/O, address at +4. */
		if ((flags & FADT_RESET_REG_SUP) && p[FADT_RESET_REG] == 1) {
			u64 addr;

			memcpy(&addr, p + FADT_RESET_REG + 4, 8);
			if (addr && addr <= 0xffff) {
				x86_acpi.reset_io = true;
				x86_acpi.reset_port = (u16)addr;
				x86_acpi.reset_value = p[FADT_RESET_VALUE];
			}
		}
	}
	if (len >= FADT_X_DSDT + 8)
		memcpy(&dsdt, p + FADT_X_DSDT, 8);
	if (!dsdt && len >= FADT_DSDT + 4) {
		memcpy(&dsdt32, p + FADT_DSDT, 4);
		dsdt = dsdt32;
	}
	d = acpi_table(dsdt, "DSDT");
	if (d)
		acpi_parse_s5(d);
}

/*
 * The PCI ECAM windows. The length must hold whole entries; only the first
 * few are used; pci_ecam_add checks each entry's values (alignment, bus
 * range, no RAM, no overlap) before anything is mapped or read there.
 */
static void acpi_parse_mcfg(const struct keel_boot_info *bi, const struct acpi_header *mcfg)
{
	const u8 *p = (const u8 *)mcfg;
	u32 n;

	if (mcfg->length < MCFG_ENTRIES || (mcfg->length - MCFG_ENTRIES) % MCFG_ENTRY_SIZE) {
		pr_warn("acpi: MCFG length %u does not hold whole entries; ignored", mcfg->length);
		return;
	}
	n = (mcfg->length - MCFG_ENTRIES) / MCFG_ENTRY_SIZE;
	if (n > PCI_MAX_WINDOWS)
		pr_warn("acpi: MCFG lists %u ECAM windows; Keel uses the first %u", n,
			PCI_MAX_WINDOWS);
	for (u32 i = 0; i < MIN(n, PCI_MAX_WINDOWS); i++) {
		const u8 *e = p + MCFG_ENTRIES + i * MCFG_ENTRY_SIZE;
		struct pci_ecam w = { 0 };

		memcpy(&w.base, e + MCFG_BASE, 8);
		memcpy(&w.seg, e + MCFG_SEGMENT, 2);
		w.start_bus = e[MCFG_START_BUS];
		w.end_bus = e[MCFG_END_BUS];
		pci_ecam_add(bi, &w);
	}
}

/* This CPU's APIC ID from CPUID (x2APIC ID where the CPU has leaf 0xb). */
static u32 x86_boot_apic_id(void)
{
	if (x86_cpuid(0, 0).eax >= 0xb && x86_cpuid(0xb, 0).ebx != 0)
		return x86_cpuid(0xb, 0).edx;
	return x86_cpuid(1, 0).ebx >> 24;
}

static void plat_from_firmware(const struct keel_boot_info *bi, struct platform *plat)
{
	u32 n = MIN(bi->fw_cpu_count, KEEL_MAX_CPUS);

	for (u32 i = 0; i < n; i++)
		plat_add_cpu(plat, bi->fw_cpu_hwid[i]);
}

int arch_platform_discover(const struct keel_boot_info *bi, struct platform *plat)
{
	const struct acpi_header *root = NULL, *t;
	const char *source = "boot CPU only";
	u32 esize = 0;

	plat->cpu_count = 0;
	plat_add_cpu(plat, x86_boot_apic_id()); /* the boot CPU is logical 0 */

	if (bi->acpi_rsdp)
		root = acpi_root(bi->acpi_rsdp, &esize);
	if (root) {
		t = acpi_find(root, esize, "APIC");
		if (t) {
			acpi_parse_madt(t, plat);
			source = "ACPI MADT";
		}
		t = acpi_find(root, esize, "FACP");
		if (t)
			acpi_parse_fadt(t);
		t = acpi_find(root, esize, "MCFG");
		if (t)
			acpi_parse_mcfg(bi, t);
		t = acpi_find(root, esize, "DMAR");
		if (t)
			dmar_parse(bi, t, t->length);
		t = acpi_find(root, esize, "IVRS");
		if (t)
			ivrs_parse(bi, t, t->length);
	}
	if (plat->cpu_count == 1 && bi->fw_cpu_count > 1) {
		plat_from_firmware(bi, plat);
		source = "firmware MP list";
	}
	if (!x86_acpi.lapic_base)
		x86_acpi.lapic_base = x86_rdmsr(MSR_APIC_BASE) & ~0xfffull;

	pr_info("x86: %u CPUs (%s), boot APIC ID 0x%llx, %s", plat->cpu_count, source,
		(unsigned long long)plat->cpu_hwid[0], x86_has_x2apic() ? "x2APIC" : "xAPIC");
	return 0;
}
