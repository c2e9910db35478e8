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

/* The platform every case shares: ports, addresses, the SCI and S5 (Keel's x86 vplat's). */
static struct acpi_gen_cfg platform_cfg(u32 cpus, u32 virtio)
{
	return (struct acpi_gen_cfg){
		.base = 0xe0000,
		.cpu_count = cpus,
		.virtio_count = virtio,
		.lapic_base = 0xfee00000,
		.ioapic_base = 0xfec00000,
		.pm1_evt = 0x600,
		.pm1_cnt = 0x604,
		.pm_tmr = 0x608,
		.reset_port = 0xcf9,
		.reset_value = 6,
		.sci_irq = 9,
		.s5_typ = 5,
	};
}

/*
 * CPU hotplug: the MADT enables only @enabled, the FADT names the GPE0
 * block, and the DSDT has the status ports, a processor device per CPU,
 * CSCN and \_GPE._E02 calling it; every object's PkgLength spans exactly
 * to the end of its parent (the \_SB scope and \_GPE scope fill the DSDT).
 */
static void run_hotplug(u32 cpus, u64 enabled)
{
	struct acpi_gen_cfg c = platform_cfg(cpus, 0);
	const u8 *xsdt, *fadt, *madt, *d;
	u32 len, dlen, at, n, plen;
	u8 region[] = { 0x5b, 0x80, 'C', 'P', 'H', 'P', 1, 0x0b, 0x40, 0x06, 0x0a, (u8)cpus };

	c.cpu_hotplug = 1;
	c.gpe0_port = 0x620;
	c.cpuhp_port = 0x640;
	c.cpu_enabled = enabled;
	len = acpi_gen_build(&c, blob, sizeof(blob));
	CHECK(len > 64);
	xsdt = table(&c, le(blob + 24, 8));
	fadt = table(&c, le(xsdt + 36, 8));
	check_table(fadt, "FACP");
	CHECK_EQ(le(fadt + 80, 4), 0x620); /* GPE0_BLK */
	CHECK_EQ(fadt[92], 4); /* GPE0_BLK_LEN */
	CHECK(le(fadt + 109, 2) & 8); /* IAPC_BOOT_ARCH: no PCI, so "MSI not supported" */
	CHECK_EQ(fadt[220], 1); /* X_GPE0_BLK: system I/O at 0x620 */
	CHECK_EQ(le(fadt + 224, 8), 0x620);
	madt = table(&c, le(xsdt + 44, 8));
	check_table(madt, "APIC");
	for (u32 i = 0; i < cpus; i++)
		CHECK_EQ(le(madt + 44 + 8 * i + 4, 4),
			 (enabled >> i) & 1 ? 1 : 2); /* online capable */
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
	struct acpi_gen_cfg c = platform_cfg(cpus, virtio);
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

/*
 * PCI: the XSDT's third table is an MCFG naming the ECAM for segment 0, bus
 * 0; the DSDT's \_SB scope ends with Device (PCI0): PNP0A08/PNP0A03, _SEG,
 * _BBN and _UID 0, and a _CRS of bus 0, ports 0xcf8-0xcff and the window;
 * with @intx, then a _PRT wiring device 1's INTA to GSI 24 and device 3's
 * INTB to GSI 26.
 */
static void run_pci(u32 virtio, bool intx)
{
	struct acpi_gen_cfg c = platform_cfg(2, virtio);
	static const u8 prt[] = { 0x08, '_',  'P',  'R',  'T',	0x12, 0x1c, 0x02, /* 2 entries */
				  0x12, 0x0c, 0x04, 0x0c, 0xff, 0xff, 0x01, 0x00,
				  0x0a, 0x00, 0x00, 0x0a, 0x18, /* 0x0001ffff, INTA, Zero, 24 */
				  0x12, 0x0c, 0x04, 0x0c, 0xff, 0xff, 0x03, 0x00,
				  0x0a, 0x01, 0x00, 0x0a, 0x1a }; /* 0x0003ffff, INTB, Zero, 26 */
	static const u8 head[] = { 0x08, '_',  'H',  'I', 'D',	0x0c, 0x41, 0xd0, 0x0a, 0x08,
				   0x08, '_',  'C',  'I', 'D',	0x0c, 0x41, 0xd0, 0x0a, 0x03,
				   0x08, '_',  'S',  'E', 'G',	0x0a, 0,    0x08, '_',	'B',
				   'B',	 'N',  0x0a, 0,	  0x08, '_',  'U',  'I',  'D',	0x0a,
				   0,	 0x08, '_',  'C', 'R',	'S',  0x11 };
	const u8 *xsdt, *mcfg, *d, *crs;
	u32 dlen, n, plen;
	long at;

	c.pci_ecam = 0xfea00000;
	c.pci_mmio_base = 0xe0000000;
	c.pci_mmio_size = 0x1ea00000;
	for (u32 i = 0; i < virtio; i++) {
		c.virtio_base[i] = 0xfeb00000 + i * 0x200;
		c.virtio_size[i] = 0x200;
		c.virtio_gsi[i] = 16 + i;
	}
	if (intx) {
		c.pci_intx_count = 2;
		c.pci_intx[0] = (struct acpi_gen_intx){ .slot = 1, .pin = 1, .gsi = 24 };
		c.pci_intx[1] = (struct acpi_gen_intx){ .slot = 3, .pin = 2, .gsi = 26 };
	}
	CHECK(acpi_gen_build(&c, blob, sizeof(blob)) > 64);
	xsdt = table(&c, le(blob + 24, 8));
	check_table(xsdt, "XSDT");
	CHECK_EQ(le(xsdt + 4, 4), 36 + 24);
	mcfg = table(&c, le(xsdt + 52, 8));
	check_table(mcfg, "MCFG");
	CHECK_EQ(le(mcfg + 4, 4), 36 + 8 + 16);
	CHECK_EQ(le(mcfg + 44, 8), 0xfea00000); /* base address */
	CHECK_EQ(le(mcfg + 52, 2), 0); /* segment */
	CHECK_EQ(mcfg[54], 0); /* buses 0 .. 0 */
	CHECK_EQ(mcfg[55], 0);

	/* IAPC_BOOT_ARCH: MSI supported (Keel remaps its functions'), no VGA, no ASPM. */
	CHECK_EQ(le(table(&c, le(xsdt + 36, 8)) + 109, 2), 0x14);
	d = table(&c, le(table(&c, le(xsdt + 36, 8)) + 140, 8));
	check_table(d, "DSDT");
	dlen = (u32)le(d + 4, 4);
	CHECK(find(d, dlen, "\\_SB_", 5) > 0);
	/* Device (PCI0), the \_SB scope's last object: it ends where the DSDT does. */
	at = find(d, dlen, "PCI0", 4);
	CHECK(at > 4);
	CHECK_EQ(d[at - 4], 0x5b); /* Device, a 2-byte PkgLength */
	CHECK_EQ(d[at - 3], 0x82);
	plen = pkglen(d + at - 2, &n);
	CHECK_EQ(n, 2);
	CHECK_EQ((u32)(at - 2) + plen, dlen);
	CHECK(!memcmp(d + at + 4, head, sizeof(head)));
	crs = d + at + 4 + sizeof(head);
	CHECK_EQ(crs[0], 1 + 1 + 1 + 52); /* PkgLength: itself, BytePrefix, size, 52 bytes */
	CHECK_EQ(crs[1], 0x0a);
	CHECK_EQ(crs[2], 52);
	crs += 3;
	CHECK_EQ(crs[0], 0x88); /* bus numbers 0 .. 0 */
	CHECK_EQ(crs[3], 2);
	CHECK_EQ(le(crs + 7, 2), 0);
	CHECK_EQ(le(crs + 9, 2), 0);
	CHECK_EQ(le(crs + 13, 2), 1);
	CHECK_EQ(crs[16], 0x47); /* ports 0xcf8, 8 of them */
	CHECK_EQ(le(crs + 18, 2), 0xcf8);
	CHECK_EQ(crs[23], 8);
	CHECK_EQ(crs[24], 0x87); /* the memory window */
	CHECK_EQ(crs[27], 0);
	CHECK_EQ(le(crs + 34, 4), 0xe0000000);
	CHECK_EQ(le(crs + 38, 4), 0xfe9fffff);
	CHECK_EQ(le(crs + 46, 4), 0x1ea00000);
	CHECK_EQ(crs[50], 0x79);
	if (intx) {
		CHECK(!memcmp(crs + 52, prt, sizeof(prt)));
		CHECK_EQ((u32)(crs + 52 + sizeof(prt) - d), dlen);
	} else {
		CHECK_EQ((u32)(crs + 52 - d), dlen);
	}
}

/*
 * The management partition's event interrupt: device KEEL0001 in \_SB, after
 * the virtio devices, whose _CRS is one Extended Interrupt on GSI @gsi,
 * edge-triggered, active high, exclusive; the scope still spans the DSDT.
 */
static void run_mgmt_event(u32 virtio, u32 gsi)
{
	struct acpi_gen_cfg c = platform_cfg(2, virtio);
	const u8 hid[] = "\x08_HID\x0dKEEL0001";
	const u8 crs[] = { 0x89, 6, 0, 0x03, 1, (u8)gsi, 0, 0, 0, 0x79, 0 };
	const u8 *xsdt, *fadt, *d;
	u32 dlen, at, n, plen;
	long dev;

	for (u32 i = 0; i < virtio; i++) {
		c.virtio_base[i] = 0xfeb00000 + i * 0x200;
		c.virtio_size[i] = 0x200;
		c.virtio_gsi[i] = 16 + i;
	}
	CHECK(acpi_gen_build(&c, blob, sizeof(blob)) > 64);
	CHECK(find(blob, sizeof(blob), "KEEL0001", 8) < 0); /* not asked for: not there */
	c.mgmt_event = 1;
	c.mgmt_event_gsi = gsi;
	CHECK(acpi_gen_build(&c, blob, sizeof(blob)) > 64);
	xsdt = table(&c, le(blob + 24, 8));
	fadt = table(&c, le(xsdt + 36, 8));
	d = table(&c, le(fadt + 140, 8));
	check_table(d, "DSDT");
	dlen = (u32)le(d + 4, 4);
	/* Device (KEEL): ExtOp DeviceOp PkgLength (one byte) "KEEL", last in \_SB. */
	dev = find(d, dlen, "KEEL\x08_HID", 9);
	CHECK(dev > 3);
	CHECK(d[dev - 3] == 0x5b && d[dev - 2] == 0x82);
	CHECK_EQ(dev - 1 + pkglen(d + dev - 1, &n), dlen);
	CHECK_EQ(n, 1);
	CHECK(find(d, dlen, hid, sizeof(hid) - 1) == dev + 4);
	CHECK_EQ(find(d, dlen, crs, sizeof(crs)) + (long)sizeof(crs), (long)dlen);
	/* \_SB's PkgLength reaches the DSDT's end. */
	at = 36 + 6;
	at += pkglen(d + at, &n);
	CHECK_EQ(d[at], 0x10);
	plen = pkglen(d + at + 1, &n);
	CHECK_EQ(at + 1 + plen, dlen);
}

int main(void)
{
	struct acpi_gen_cfg bad = { .base = 0xe0000, .cpu_count = 0 };

	run(1, 0);
	run(2, 3);
	run(64, 8);
	run_hotplug(3, 0x1);
	run_hotplug(64, 0xff);
	run_pci(0, false);
	run_pci(3, false);
	run_pci(3, true);
	run_mgmt_event(0, 10);
	run_mgmt_event(8, 10);
	/* Without PCI: no MCFG, and no PCI0. */
	run(2, 3);
	CHECK(find(blob, sizeof(blob), "MCFG", 4) < 0);
	CHECK(find(blob, sizeof(blob), "PCI0", 4) < 0);
	bad = (struct acpi_gen_cfg){ .base = 0xe0000,
				     .cpu_count = 1,
				     .pci_ecam = 0xfea80000,
				     .pci_mmio_base = 0xe0000000,
				     .pci_mmio_size = 0x1000 };
	CHECK_EQ(acpi_gen_build(&bad, blob, sizeof(blob)), 0); /* ECAM not 1 MiB aligned */
	bad.pci_ecam = 0xfea00000;
	bad.pci_mmio_size = 0x20000001;
	CHECK_EQ(acpi_gen_build(&bad, blob, sizeof(blob)), 0); /* window past 4 GiB */
	bad.pci_mmio_size = 0;
	CHECK_EQ(acpi_gen_build(&bad, blob, sizeof(blob)), 0); /* no window */
	bad.pci_mmio_size = 0x1000;
	bad.pci_intx_count = 1;
	bad.pci_intx[0] = (struct acpi_gen_intx){ .slot = 1, .pin = 5, .gsi = 24 };
	CHECK_EQ(acpi_gen_build(&bad, blob, sizeof(blob)), 0); /* no INTE */
	bad.pci_intx[0] = (struct acpi_gen_intx){ .slot = 32, .pin = 1, .gsi = 24 };
	CHECK_EQ(acpi_gen_build(&bad, blob, sizeof(blob)), 0); /* no device 32 */
	bad.pci_intx[0].slot = 1;
	bad.pci_intx_count = ACPI_GEN_MAX_PCI + 1;
	CHECK_EQ(acpi_gen_build(&bad, blob, sizeof(blob)), 0);
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
