/* SPDX-License-Identifier: MIT */
/* The x86 ACPI table generator: checksums, table layout, the DSDT's AML lengths. */
#include <string.h>

#include "../../arch/x86_64/acpi_gen.h"
#include "unit.h"


static u8 blob[ACPI_GEN_MAX_SIZE];

static u8 sum(const u8 *p, u32 n)
{
	u8 s = 0;

	while (n--)
		s += *p++;
	return s;
}

static u64 le(const u8 *p, u32 n)
{
	u64 v = 0;

	for (u32 i = 0; i < n; i++)
		v |= (u64)p[i] << (8 * i);
	return v;
}

static const u8 *table(const struct acpi_gen_cfg *c, u64 gpa)
{
	CHECK(gpa >= c->base && gpa < c->base + sizeof(blob));
	return blob + (gpa - c->base);
}

/* AML PkgLength at @p: its value and (through @n) how many bytes it took. */
static u32 pkglen(const u8 *p, u32 *n)
{
	u32 extra = p[0] >> 6, v = extra ? p[0] & 0xf : p[0] & 0x3f;

	for (u32 i = 0; i < extra; i++)
		v |= (u32)p[1 + i] << (4 + 8 * i);
	*n = 1 + extra;
	return v;
}

static void check_table(const u8 *t, const char *sig)
{
	CHECK(!memcmp(t, sig, 4));
	CHECK_EQ(sum(t, (u32)le(t + 4, 4)), 0);
}

static void check_dsdt(const u8 *d, u32 virtio)
{
	u32 len = (u32)le(d + 4, 4), at = 36, n, plen;

	CHECK(!memcmp(d + at, "\x08_S5_\x12", 6));
	at += 6;
	plen = pkglen(d + at, &n);
	at += plen; /* the package */
	if (!virtio) {
		CHECK_EQ(at, len);
		return;
	}
	CHECK_EQ(d[at], 0x10); /* Scope */
	plen = pkglen(d + at + 1, &n);
	CHECK_EQ(at + 1 + plen, len);
	CHECK(!memcmp(d + at + 1 + n, "\\_SB_", 5));
	at += 1 + n + 5;
	for (u32 i = 0; i < virtio; i++) {
		CHECK_EQ(d[at], 0x5b);
		CHECK_EQ(d[at + 1], 0x82);
		plen = pkglen(d + at + 2, &n);
		CHECK(!memcmp(d + at + 2 + n + 4, "\x08_HID\x0dLNRO0005", 15));
		at += 2 + plen;
	}
	CHECK_EQ(at, len);
}

/* @needle (of @n bytes) somewhere in [@p, @p + @len): its offset, or -1. */
static long find(const u8 *p, u32 len, const void *needle, u32 n)
{
	for (u32 i = 0; i + n <= len; i++)
		if (!memcmp(p + i, needle, n))
			return i;
	return -1;
}

/*
 * CPU hotplug: the MADT enables only @enabled, the FADT names the GPE0
 * block, and the DSDT has the status ports, a processor device per CPU,
 * CSCN and \_GPE._E02 calling it; every object's PkgLength spans exactly
 * to the end of its parent (the \_SB scope and \_GPE scope fill the DSDT).
 */
static void run_hotplug(u32 cpus, u64 enabled)
{
	struct acpi_gen_cfg c = {
		.base = 0xe0000, .cpu_count = cpus, .lapic_base = 0xfee00000,
		.ioapic_base = 0xfec00000, .pm1_evt = 0x600, .pm1_cnt = 0x604, .pm_tmr = 0x608,
		.reset_port = 0xcf9, .reset_value = 6, .sci_irq = 9, .s5_typ = 5,
		.cpu_hotplug = 1, .gpe0_port = 0x620, .cpuhp_port = 0x640, .cpu_enabled = enabled,
	};
	const u8 *xsdt, *fadt, *madt, *d;
	u32 len, dlen, at, n, plen;
	u8 region[] = { 0x5b, 0x80, 'C', 'P', 'H', 'P', 1, 0x0b, 0x40, 0x06, 0x0a, (u8)cpus };

	len = acpi_gen_build(&c, blob, sizeof(blob));
	CHECK(len > 64);
	xsdt = table(&c, le(blob + 24, 8));
	fadt = table(&c, le(xsdt + 36, 8));
	check_table(fadt, "FACP");
	CHECK_EQ(le(fadt + 80, 4), 0x620); /* GPE0_BLK */
	CHECK_EQ(fadt[92], 4); /* GPE0_BLK_LEN */
	CHECK_EQ(fadt[220], 1); /* X_GPE0_BLK: system I/O at 0x620 */
	CHECK_EQ(le(fadt + 224, 8), 0x620);
	madt = table(&c, le(xsdt + 44, 8));
	check_table(madt, "APIC");
	for (u32 i = 0; i < cpus; i++)
		CHECK_EQ(le(madt + 44 + 8 * i + 4, 4), (enabled >> i) & 1 ? 1 : 2); /* online capable */
	d = table(&c, le(fadt + 140, 8));
	check_table(d, "DSDT");
	dlen = (u32)le(d + 4, 4);
	CHECK(find(d, dlen, region, sizeof(region)) > 0);
	for (u32 i = 0; i < cpus; i++) {
		char dev[8] = { 0x5b, 0x82 }, hex[] = "0123456789ABCDEF";
		long o;

		/* Device (CPxx): its PkgLength, then the name and _HID ACPI0007. */
		o = find(d, dlen, "ACPI0007", 8);
		CHECK(o > 0);
		dev[2] = 'C';
		dev[3] = 'P';
		dev[4] = hex[(i >> 4) & 15];
		dev[5] = hex[i & 15];
		o = find(d, dlen, dev + 2, 4);
		CHECK(o > 2);
	}
	CHECK(find(d, dlen, "\x14", 1) > 0);
	CHECK(find(d, dlen, "CSCN\x08", 5) > 0); /* Method (CSCN, 0, Serialized) */
	CHECK(find(d, dlen, "_E02\x00\x5c\x2e_SB_CSCN", 14) > 0);
	/* Walk the top level: \_S5, Scope (\_SB) to ..., Scope (\_GPE) to the end. */
	at = 36 + 6;
	plen = pkglen(d + at, &n);
	at += plen;
	CHECK_EQ(d[at], 0x10);
	plen = pkglen(d + at + 1, &n);
	CHECK(!memcmp(d + at + 1 + n, "\\_SB_", 5));
	at += 1 + plen;
	CHECK_EQ(d[at], 0x10);
	plen = pkglen(d + at + 1, &n);
	CHECK(!memcmp(d + at + 1 + n, "\\_GPE", 5));
	CHECK_EQ(at + 1 + plen, dlen);
}

static void run(u32 cpus, u32 virtio)
{
	struct acpi_gen_cfg c = {
		.base = 0xe0000, .cpu_count = cpus, .virtio_count = virtio,
		.lapic_base = 0xfee00000, .ioapic_base = 0xfec00000,
		.pm1_evt = 0x600, .pm1_cnt = 0x604, .pm_tmr = 0x608, .reset_port = 0xcf9,
		.reset_value = 6, .sci_irq = 9, .s5_typ = 5,
	};
	const u8 *xsdt, *fadt, *madt;
	u32 len;

	for (u32 i = 0; i < virtio; i++) {
		c.virtio_base[i] = 0xfeb00000 + i * 0x200;
		c.virtio_size[i] = 0x200;
		c.virtio_gsi[i] = 5 + i;
	}
	len = acpi_gen_build(&c, blob, sizeof(blob));
	CHECK(len > 64 && len <= sizeof(blob));
	CHECK(!memcmp(blob, "RSD PTR ", 8));
	CHECK_EQ(sum(blob, 20), 0);
	CHECK_EQ(sum(blob, 36), 0);
	xsdt = table(&c, le(blob + 24, 8));
	check_table(xsdt, "XSDT");
	CHECK_EQ(le(xsdt + 4, 4), 36 + 16);
	fadt = table(&c, le(xsdt + 36, 8));
	check_table(fadt, "FACP");
	CHECK_EQ(le(fadt + 4, 4), 276);
	CHECK_EQ(le(fadt + 76, 4), 0x608); /* PM_TMR_BLK */
	CHECK_EQ(le(fadt + 64, 4), 0x604); /* PM1a_CNT_BLK */
	CHECK_EQ(le(fadt + 116 + 4, 8), 0xcf9); /* RESET_REG address */
	CHECK_EQ(fadt[128], 6);
	/* The fixed power button: SCI on IRQ 9, PM1a event block, PWR_BUTTON flag clear. */
	CHECK_EQ(le(fadt + 46, 2), 9); /* SCI_INT */
	CHECK_EQ(le(fadt + 48, 4), 0); /* SMI_CMD: always in ACPI mode */
	CHECK_EQ(le(fadt + 56, 4), 0x600); /* PM1a_EVT_BLK */
	CHECK_EQ(fadt[88], 4); /* PM1_EVT_LEN: PM1_STS + PM1_EN */
	CHECK_EQ(fadt[89], 2); /* PM1_CNT_LEN */
	CHECK_EQ(le(fadt + 112, 4) & (1u << 4), 0); /* PWR_BUTTON clear: fixed button */
	CHECK(le(fadt + 112, 4) & (1u << 5)); /* SLP_BUTTON set: none */
	CHECK_EQ(fadt[148], 1); /* X_PM1a_EVT_BLK: system I/O, 32 bits at 0x600 */
	CHECK_EQ(fadt[149], 32);
	CHECK_EQ(le(fadt + 152, 8), 0x600);
	CHECK(!memcmp(table(&c, le(fadt + 132, 8)), "FACS", 4));
	check_table(table(&c, le(fadt + 140, 8)), "DSDT");
	check_dsdt(table(&c, le(fadt + 140, 8)), virtio);
	madt = table(&c, le(xsdt + 44, 8));
	check_table(madt, "APIC");
	CHECK_EQ(le(madt + 4, 4), 44 + 8 * cpus + 12 + 10 + 10);
	/* The SCI's interrupt source override: ISA IRQ 9 -> GSI 9, level, active high. */
	{
		const u8 *sci = madt + 44 + 8 * cpus + 12 + 10;

		CHECK_EQ(sci[0], 2);
		CHECK_EQ(sci[3], 9);
		CHECK_EQ(le(sci + 4, 4), 9);
		CHECK_EQ(le(sci + 8, 2), 0x0d); /* trigger 3 (level), polarity 1 (high) */
	}
}

int main(void)
{
	struct acpi_gen_cfg bad = { .base = 0xe0000, .cpu_count = 0 };

	run(1, 0);
	run(2, 3);
	run(64, 8);
	run_hotplug(3, 0x1);
	run_hotplug(64, 0xff);
	bad = (struct acpi_gen_cfg){ .base = 0xe0000, .cpu_count = 2, .cpu_hotplug = 1 };
	CHECK_EQ(acpi_gen_build(&bad, blob, sizeof(blob)), 0); /* no ports */
	bad = (struct acpi_gen_cfg){ .base = 0xe0000, .cpu_count = 0 };
	CHECK_EQ(acpi_gen_build(&bad, blob, sizeof(blob)), 0);
	bad.cpu_count = 65;
	CHECK_EQ(acpi_gen_build(&bad, blob, sizeof(blob)), 0);
	bad.cpu_count = 1;
	CHECK_EQ(acpi_gen_build(&bad, blob, 100), 0); /* too small */
	return unit_done("test_acpi_gen");
}
