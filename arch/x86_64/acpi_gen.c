/* SPDX-License-Identifier: MIT */
/*
 * Generation of a partition's ACPI tables: a full (not hardware-reduced)
 * FADT so Linux finds the PM timer, S5, the fixed power button and the reset
 * register; a MADT with the vCPUs' LAPICs and the IOAPIC; a hand-assembled
 * DSDT with \_S5, one LNRO0005 (virtio-mmio) device per virtio window and,
 * for the management partition, KEEL0001 (KEEL_HC_MGMT_WATCH's interrupt);
 * with PCI functions, an MCFG for the ECAM and a PCI host bridge in the DSDT.
 */
#include <keel/abi.h>
#include <keel/lib.h>

#include "acpi_gen.h"

#define ACPI_HDR_LEN 36u
#define ACPI_FADT_LEN 276u
#define ACPI_FACS_LEN 64u

/* FADT flags and IA-PC boot architecture flags (ACPI 6.4, 5.2.9). */
#define FADT_WBINVD BIT(0)
#define FADT_C1_SUPPORTED BIT(2)
#define FADT_PWR_BUTTON BIT(4) /* set: no fixed power button (Keel has one: clear) */
#define FADT_SLP_BUTTON BIT(5) /* set: no fixed sleep button */
#define FADT_RESET_REG_SUP BIT(10)
#define BOOT_VGA_NOT_PRESENT BIT(2)
#define BOOT_MSI_NOT_SUPPORTED BIT(3)
#define BOOT_ASPM_CONTROLS BIT(4)

/* Local APIC flags in the MADT (ACPI 6.5, 5.2.12.2). */
#define MADT_ENABLED BIT(0)
#define MADT_ONLINE_CAPABLE BIT(1)

/* AML opcodes used by the DSDT. */
#define AML_NAME 0x08
#define AML_BYTE 0x0a
#define AML_STRING 0x0d
#define AML_SCOPE 0x10
#define AML_BUFFER 0x11
#define AML_PACKAGE 0x12
#define AML_EXT 0x5b
#define AML_DEVICE 0x82
#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_WORD 0x0b
#define AML_DWORD 0x0c
#define AML_METHOD 0x14
#define AML_DUAL_NAME 0x2e
#define AML_ROOT 0x5c
#define AML_LOCAL0 0x60
#define AML_ARG0 0x68
#define AML_STORE 0x70
#define AML_AND 0x7b
#define AML_NOTIFY 0x86
#define AML_IF 0xa0
#define AML_RETURN 0xa4
#define AML_OPREGION 0x80 /* after AML_EXT */
#define AML_FIELD 0x81 /* after AML_EXT */
#define AML_REGION_IO 0x01
#define AML_FIELD_BYTE_ACC 0x01 /* ByteAcc, NoLock, Preserve */

/* GPE0 event of the CPU hotplug scan, and the bits of a CPU's status port. */
#define CPUHP_GPE 2u
#define CPUHP_PRESENT 0x1u
#define CPUHP_INSERT 0x2u
#define CPUHP_REMOVE 0x4u
#define CPUHP_EJECT 0x8u

/* EISA IDs as AML encodes them (a DWord): PNP0A08 (PCI Express root), PNP0A03 (PCI). */
#define EISA_PNP0A08 0x080ad041u
#define EISA_PNP0A03 0x030ad041u
#define PCI_ECAM_BUS_SIZE 0x100000ull /* 1 MiB of ECAM per bus */

struct acpi_buf {
	u8 *p;
	u32 len, cap;
	bool overflow;
};

static void ab_bytes(struct acpi_buf *b, const void *src, u32 n)
{
	if (b->overflow || n > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void ab_u8(struct acpi_buf *b, u8 v)
{
	ab_bytes(b, &v, 1);
}

static void ab_le(struct acpi_buf *b, u64 v, u32 n)
{
	u8 t[8];

	if (n > sizeof(t)) {
		b->overflow = true;
		return;
	}
	for (u32 i = 0; i < n; i++)
		t[i] = (u8)(v >> (8 * i));
	ab_bytes(b, t, n);
}

static void ab_zero(struct acpi_buf *b, u32 n)
{
	while (n--)
		ab_u8(b, 0);
}

static void ab_align(struct acpi_buf *b, u32 a)
{
	while (!b->overflow && b->len % a)
		ab_u8(b, 0);
}

static void put_le(u8 *p, u64 v, u32 n)
{
	for (u32 i = 0; i < n; i++)
		p[i] = (u8)(v >> (8 * i));
}

static u8 acpi_sum(const u8 *p, u32 n)
{
	u8 s = 0;

	for (u32 i = 0; i < n; i++)
		s += p[i];
	return s;
}

/* Start a table: header with length and checksum filled by acpi_end(). */
static u32 acpi_begin(struct acpi_buf *b, const char *sig, u8 rev)
{
	u32 at;

	ab_align(b, 16);
	at = b->len;
	ab_bytes(b, sig, 4);
	ab_le(b, 0, 4); /* length */
	ab_u8(b, rev);
	ab_u8(b, 0); /* checksum */
	ab_bytes(b, "KEEL  ", 6);
	ab_bytes(b, "KEELVM  ", 8);
	ab_le(b, 1, 4); /* OEM revision */
	ab_bytes(b, "KEEL", 4);
	ab_le(b, 1, 4); /* creator revision */
	return at;
}

static void acpi_end(struct acpi_buf *b, u32 at)
{
	if (b->overflow)
		return;
	put_le(b->p + at + 4, b->len - at, 4);
	b->p[at + 9] = (u8)-acpi_sum(b->p + at, b->len - at);
}

/* Generic Address Structure for an I/O port. */
static void acpi_gas_io(struct acpi_buf *b, u16 port, u8 bits, u8 access)
{
	ab_u8(b, 1); /* system I/O */
	ab_u8(b, bits);
	ab_u8(b, 0);
	ab_u8(b, port ? access : 0);
	ab_le(b, port, 8);
}

static u32 acpi_gen_fadt(struct acpi_buf *b, const struct acpi_gen_cfg *c, u64 facs, u64 dsdt)
{
	u32 at = acpi_begin(b, "FACP", 6);

	ab_le(b, facs, 4); /* FIRMWARE_CTRL */
	ab_le(b, dsdt, 4);
	ab_u8(b, 0); /* reserved */
	ab_u8(b, 0); /* preferred PM profile: unspecified */
	ab_le(b, c->sci_irq, 2);
	ab_le(b, 0, 4); /* SMI_CMD: none, always in ACPI mode */
	ab_le(b, 0, 4); /* ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT */
	ab_le(b, c->pm1_evt, 4);
	ab_le(b, 0, 4); /* PM1b_EVT */
	ab_le(b, c->pm1_cnt, 4);
	ab_le(b, 0, 4); /* PM1b_CNT */
	ab_le(b, 0, 4); /* PM2_CNT */
	ab_le(b, c->pm_tmr, 4);
	ab_le(b, c->cpu_hotplug ? c->gpe0_port : 0, 4); /* GPE0_BLK */
	ab_le(b, 0, 4); /* GPE1_BLK */
	ab_u8(b, 4); /* PM1_EVT_LEN */
	ab_u8(b, 2); /* PM1_CNT_LEN */
	ab_u8(b, 0); /* PM2_CNT_LEN */
	ab_u8(b, 4); /* PM_TMR_LEN */
	ab_u8(b, c->cpu_hotplug ? 4 : 0); /* GPE0_BLK_LEN: 2 status, 2 enable bytes */
	ab_zero(b, 3); /* GPE1_BLK_LEN, GPE1_BASE, CST_CNT */
	ab_le(b, 101, 2); /* P_LVL2_LAT > 100: no C2 */
	ab_le(b, 1001, 2); /* P_LVL3_LAT > 1000: no C3 */
	ab_le(b, 0, 4); /* FLUSH_SIZE, FLUSH_STRIDE */
	ab_zero(b, 5); /* DUTY_OFFSET, DUTY_WIDTH, DAY/MON_ALRM, CENTURY */
	/* MSI only with PCI functions: Keel remaps theirs (vfio); nothing else sends one. */
	ab_le(b,
	      BOOT_VGA_NOT_PRESENT | BOOT_ASPM_CONTROLS |
		      (c->pci_ecam ? 0 : BOOT_MSI_NOT_SUPPORTED),
	      2);
	ab_u8(b, 0);
	/* PWR_BUTTON clear: the fixed power button (PM1 PWRBTN_STS/EN) on the SCI. */
	ab_le(b, FADT_WBINVD | FADT_C1_SUPPORTED | FADT_SLP_BUTTON | FADT_RESET_REG_SUP, 4);
	acpi_gas_io(b, c->reset_port, 8, 1);
	ab_u8(b, c->reset_value);
	ab_le(b, 0, 2); /* ARM_BOOT_ARCH */
	ab_u8(b, 4); /* FADT minor version: 6.4 */
	ab_le(b, facs, 8); /* X_FIRMWARE_CTRL */
	ab_le(b, dsdt, 8);
	acpi_gas_io(b, c->pm1_evt, 32, 2);
	acpi_gas_io(b, 0, 0, 0); /* X_PM1b_EVT */
	acpi_gas_io(b, c->pm1_cnt, 16, 2);
	acpi_gas_io(b, 0, 0, 0); /* X_PM1b_CNT */
	acpi_gas_io(b, 0, 0, 0); /* X_PM2_CNT */
	acpi_gas_io(b, c->pm_tmr, 32, 3);
	acpi_gas_io(b, c->cpu_hotplug ? c->gpe0_port : 0, 32, 1); /* X_GPE0 */
	acpi_gas_io(b, 0, 0, 0); /* X_GPE1 */
	acpi_gas_io(b, 0, 0, 0); /* SLEEP_CONTROL_REG */
	acpi_gas_io(b, 0, 0, 0); /* SLEEP_STATUS_REG */
	ab_bytes(b, "KEELKEEL", 8); /* hypervisor vendor identity */
	acpi_end(b, at);
	return at;
}

static u32 acpi_gen_madt(struct acpi_buf *b, const struct acpi_gen_cfg *c)
{
	u32 at = acpi_begin(b, "APIC", 5);

	ab_le(b, c->lapic_base, 4);
	ab_le(b, 1, 4); /* PCAT_COMPAT: the (always masked) 8259s exist */
	for (u32 i = 0; i < c->cpu_count; i++) {
		ab_u8(b, 0); /* processor local APIC */
		ab_u8(b, 8);
		ab_u8(b, (u8)i); /* ACPI processor UID */
		ab_u8(b, (u8)i); /* APIC ID */
		/*
		 * Enabled, or (ACPI hotplug) disabled but online capable: a CPU the
		 * guest may get later. MADT revision 5 makes that bit count.
		 */
		ab_le(b,
		      !c->cpu_hotplug || (c->cpu_enabled & BIT(i)) ? MADT_ENABLED
								   : MADT_ONLINE_CAPABLE,
		      4);
	}
	ab_u8(b, 1); /* I/O APIC */
	ab_u8(b, 12);
	ab_u8(b, 0); /* its ID */
	ab_u8(b, 0);
	ab_le(b, c->ioapic_base, 4);
	ab_le(b, 0, 4); /* GSI base */
	/* ISA IRQ 0 is on pin 2, as on every PC; the SCI is level, active high. */
	ab_bytes(b, (const u8[]){ 2, 10, 0, 0, 2, 0, 0, 0, 0, 0 }, 10);
	ab_bytes(b, (const u8[]){ 2, 10, 0, c->sci_irq, c->sci_irq, 0, 0, 0, 0x0d, 0 }, 10);
	acpi_end(b, at);
	return at;
}

/* AML PkgLength for @content bytes that follow it; returns its own size. */
static u32 aml_pkglen_size(u32 content)
{
	if (content + 1 < 0x40)
		return 1;
	if (content + 2 < 0x1000)
		return 2;
	return 3;
}

static void aml_pkglen(struct acpi_buf *b, u32 content)
{
	u32 n = aml_pkglen_size(content), total = content + n;

	if (n == 1) {
		ab_u8(b, (u8)total);
		return;
	}
	ab_u8(b, (u8)(((n - 1) << 6) | (total & 0xf)));
	ab_u8(b, (u8)(total >> 4));
	if (n == 3)
		ab_u8(b, (u8)(total >> 12));
}

/* Device (@name) { _HID @hid, _UID @uid, _CRS { @crs (@crs_len bytes) } } */
static void aml_device_crs(struct acpi_buf *b, const char name[4], const char *hid, u8 uid,
			   const u8 *crs, u8 crs_len)
{
	u8 body[64];
	struct acpi_buf d = { body, 0, sizeof(body), false };

	ab_u8(&d, AML_NAME);
	ab_bytes(&d, "_HID", 4);
	ab_u8(&d, AML_STRING);
	ab_bytes(&d, hid, 9);
	ab_u8(&d, AML_NAME);
	ab_bytes(&d, "_UID", 4);
	ab_u8(&d, AML_BYTE);
	ab_u8(&d, uid);
	ab_u8(&d, AML_NAME);
	ab_bytes(&d, "_CRS", 4);
	ab_u8(&d, AML_BUFFER);
	aml_pkglen(&d, 2 + crs_len);
	ab_u8(&d, AML_BYTE);
	ab_u8(&d, crs_len);
	ab_bytes(&d, crs, crs_len);

	ab_u8(b, AML_EXT);
	ab_u8(b, AML_DEVICE);
	aml_pkglen(b, 4 + d.len);
	ab_bytes(b, name, 4);
	ab_bytes(b, body, d.len);
	if (d.overflow)
		b->overflow = true;
}

/* An Extended Interrupt descriptor for @gsi at @p (9 bytes): consumer, exclusive, active high. */
static void aml_crs_irq(u8 *p, u32 gsi, bool edge)
{
	p[0] = 0x89;
	put_le(&p[1], 6, 2);
	p[3] = edge ? 0x03 : 0x01; /* bit 0 consumer, bit 1 edge-triggered */
	p[4] = 1;
	put_le(&p[5], gsi, 4);
}

/* Device (VRnn) { _HID "LNRO0005", _UID n, _CRS { Memory32Fixed, Interrupt } } */
static void aml_virtio_device(struct acpi_buf *b, const struct acpi_gen_cfg *c, u32 n)
{
	u8 crs[23];
	char name[4] = { 'V', 'R', (char)('0' + n / 10), (char)('0' + n % 10) };

	crs[0] = 0x86; /* Memory32Fixed, read-write */
	put_le(&crs[1], 9, 2);
	crs[3] = 1;
	put_le(&crs[4], c->virtio_base[n], 4);
	put_le(&crs[8], c->virtio_size[n], 4);
	aml_crs_irq(&crs[12], c->virtio_gsi[n], false);
	crs[21] = 0x79; /* end tag, checksum 0 = not checked */
	crs[22] = 0;
	aml_device_crs(b, name, "LNRO0005", (u8)n, crs, sizeof(crs));
}

/* Device (KEEL) { _HID "KEEL0001", _UID 0, _CRS { Interrupt (edge) } }: the WATCH interrupt. */
static void aml_mgmt_event_device(struct acpi_buf *b, const struct acpi_gen_cfg *c)
{
	u8 crs[11];

	aml_crs_irq(crs, c->mgmt_event_gsi, true);
	crs[9] = 0x79;
	crs[10] = 0;
	aml_device_crs(b, "KEEL", KEEL_MGMT_EVENT_HID, 0, crs, sizeof(crs));
}

/*
 * Wrap what was written since @mark (@body bytes) in an object whose head is
 * @op (@op_len bytes), a PkgLength, then @name (@name_len bytes): Scope,
 * Device, Method, If. The body is measured first, then moved up.
 */
static void aml_wrap(struct acpi_buf *b, u32 mark, const u8 *op, u32 op_len, const void *name,
		     u32 name_len)
{
	u8 head[16];
	struct acpi_buf h = { head, 0, sizeof(head), false };
	u32 body = b->len - mark;

	if (b->overflow)
		return;
	ab_bytes(&h, op, op_len);
	aml_pkglen(&h, name_len + body);
	ab_bytes(&h, name, name_len);
	if (h.overflow || h.len > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	memmove(b->p + mark + h.len, b->p + mark, body);
	memcpy(b->p + mark, head, h.len);
	b->len += h.len;
}

/* "CPxx" / "CSxx": a CPU's device and its status field, by number in hex. */
static void aml_cpu_name(char out[4], char kind, u32 n)
{
	static const char hex[] = "0123456789ABCDEF";

	out[0] = 'C';
	out[1] = kind;
	out[2] = hex[(n >> 4) & 15];
	out[3] = hex[n & 15];
}

static void aml_name_byte(struct acpi_buf *b, const char *name, u8 v)
{
	ab_u8(b, AML_NAME);
	ab_bytes(b, name, 4);
	ab_u8(b, AML_BYTE);
	ab_u8(b, v);
}

/* Name (@name, DWord @v) */
static void aml_name_dword(struct acpi_buf *b, const char *name, u32 v)
{
	ab_u8(b, AML_NAME);
	ab_bytes(b, name, 4);
	ab_u8(b, AML_DWORD);
	ab_le(b, v, 4);
}

/*
 * The host bridge's resources (ACPI 6.5, 6.4.3): bus 0 only (a Word
 * Address Space descriptor), the configuration ports 0xcf8-0xcff it decodes
 * (I/O Port), and the window its BARs live in (a DWord Address Space
 * descriptor, a producer: the guest's PCI MMIO window). 52 bytes.
 */
#define PCI_CRS_LEN 52u
static void aml_pci_crs(u8 crs[PCI_CRS_LEN], const struct acpi_gen_cfg *c)
{
	memset(crs, 0, PCI_CRS_LEN);
	crs[0] = 0x88; /* Word Address Space */
	put_le(&crs[1], 13, 2);
	crs[3] = 2; /* bus numbers */
	crs[4] = 0x0c; /* fixed minimum and maximum, producer */
	put_le(&crs[13], 1, 2); /* range length: bus 0 .. 0 */
	crs[16] = 0x47; /* I/O Port, 16-bit decode */
	crs[17] = 1;
	put_le(&crs[18], 0xcf8, 2);
	put_le(&crs[20], 0xcf8, 2);
	crs[22] = 1; /* alignment */
	crs[23] = 8; /* length */
	crs[24] = 0x87; /* DWord Address Space */
	put_le(&crs[25], 23, 2);
	crs[27] = 0; /* memory */
	crs[28] = 0x0c; /* fixed minimum and maximum, producer */
	crs[29] = 0x01; /* read-write, non-cacheable */
	put_le(&crs[34], c->pci_mmio_base, 4);
	put_le(&crs[38], c->pci_mmio_base + c->pci_mmio_size - 1, 4);
	put_le(&crs[46], c->pci_mmio_size, 4);
	crs[50] = 0x79; /* end tag, checksum 0 = not checked */
	crs[51] = 0;
}

/*
 * Name (_PRT, Package { Package { slot << 16 | 0xffff, pin, Zero, GSI }, ... }):
 * each function's INTx pin (0: INTA) wired straight to a GSI of the IOAPIC
 * (ACPI 6.5, 6.2.13: no link device; such a GSI is level-triggered, active low).
 */
static void aml_pci_prt(struct acpi_buf *b, const struct acpi_gen_cfg *c)
{
	static const u8 op_package = AML_PACKAGE;
	u8 count = (u8)c->pci_intx_count, four = 4;
	u32 outer;

	ab_u8(b, AML_NAME);
	ab_bytes(b, "_PRT", 4);
	outer = b->len;
	for (u32 i = 0; i < c->pci_intx_count; i++) {
		u32 mark = b->len;

		ab_u8(b, AML_DWORD);
		ab_le(b, (u32)c->pci_intx[i].slot << 16 | 0xffff, 4);
		ab_u8(b, AML_BYTE);
		ab_u8(b, (u8)(c->pci_intx[i].pin - 1));
		ab_u8(b, AML_ZERO);
		ab_u8(b, AML_BYTE);
		ab_u8(b, c->pci_intx[i].gsi);
		aml_wrap(b, mark, &op_package, 1, &four, 1);
	}
	aml_wrap(b, outer, &op_package, 1, &count, 1);
}

/*
 * Device (PCI0) { _HID PNP0A08, _CID PNP0A03, _SEG 0, _BBN 0, _UID 0, _CRS,
 * _PRT }: the host bridge at 00:00.0 whose bus holds the partition's PCI
 * functions, and where their INTx goes.
 */
static void aml_pci_host(struct acpi_buf *b, const struct acpi_gen_cfg *c)
{
	static const u8 op_device[2] = { AML_EXT, AML_DEVICE };
	u8 crs[PCI_CRS_LEN];
	u32 mark = b->len;

	aml_name_dword(b, "_HID", EISA_PNP0A08);
	aml_name_dword(b, "_CID", EISA_PNP0A03);
	aml_name_byte(b, "_SEG", 0);
	aml_name_byte(b, "_BBN", 0);
	aml_name_byte(b, "_UID", 0);
	aml_pci_crs(crs, c);
	ab_u8(b, AML_NAME);
	ab_bytes(b, "_CRS", 4);
	ab_u8(b, AML_BUFFER);
	aml_pkglen(b, 2 + PCI_CRS_LEN);
	ab_u8(b, AML_BYTE);
	ab_u8(b, PCI_CRS_LEN);
	ab_bytes(b, crs, PCI_CRS_LEN);
	if (c->pci_intx_count)
		aml_pci_prt(b, c);
	aml_wrap(b, mark, op_device, 2, "PCI0", 4);
}

/* If (And (@src, @bit)) { Notify (@dev, @event); Store (@bit, @field) } */
static void aml_cpu_event(struct acpi_buf *b, const char dev[4], const char field[4], u8 bit,
			  u8 event)
{
	static const u8 op_if = AML_IF;
	u32 mark = b->len;

	ab_bytes(b, (const u8[]){ AML_AND, AML_LOCAL0, AML_BYTE, bit, AML_ZERO }, 5);
	ab_u8(b, AML_NOTIFY);
	ab_bytes(b, dev, 4);
	ab_u8(b, AML_BYTE);
	ab_u8(b, event);
	ab_bytes(b, (const u8[]){ AML_STORE, AML_BYTE, bit }, 3);
	ab_bytes(b, field, 4);
	aml_wrap(b, mark, &op_if, 1, "", 0);
}

/*
 * Device (CPxx) { _HID "ACPI0007", _UID, _MAT (its MADT entry, enabled),
 * _STA from bit 0 of its status field, _EJ0 writes the eject bit }.
 */
static void aml_cpu_device(struct acpi_buf *b, u32 n)
{
	static const u8 op_dev[] = { AML_EXT, AML_DEVICE }, op_method = AML_METHOD;
	static const u8 op_if = AML_IF;
	char dev[4], field[4];
	u32 mark = b->len, m;

	aml_cpu_name(dev, 'P', n);
	aml_cpu_name(field, 'S', n);
	ab_u8(b, AML_NAME);
	ab_bytes(b, "_HID", 4);
	ab_u8(b, AML_STRING);
	ab_bytes(b, "ACPI0007", 9);
	aml_name_byte(b, "_UID", (u8)n);
	ab_u8(b, AML_NAME);
	ab_bytes(b, "_MAT", 4);
	ab_u8(b, AML_BUFFER);
	aml_pkglen(b, 2 + 8);
	ab_bytes(b, (const u8[]){ AML_BYTE, 8, 0, 8, (u8)n, (u8)n, 1, 0, 0, 0 }, 10);
	/* Method (_STA) { If (And (CSxx, 1)) { Return (0xf) } Return (0) } */
	m = b->len;
	{
		u32 cond = b->len;

		ab_u8(b, AML_AND);
		ab_bytes(b, field, 4);
		ab_bytes(b, (const u8[]){ AML_ONE, AML_ZERO, AML_RETURN, AML_BYTE, 0x0f }, 5);
		aml_wrap(b, cond, &op_if, 1, "", 0);
	}
	ab_bytes(b, (const u8[]){ AML_RETURN, AML_ZERO }, 2);
	aml_wrap(b, m, &op_method, 1, "_STA\x00", 5);
	/* Method (_EJ0, 1) { Store (8, CSxx) } */
	m = b->len;
	ab_bytes(b, (const u8[]){ AML_STORE, AML_BYTE, CPUHP_EJECT }, 3);
	ab_bytes(b, field, 4);
	aml_wrap(b, m, &op_method, 1, "_EJ0\x01", 5);
	aml_wrap(b, mark, op_dev, 2, dev, 4);
}

/*
 * In \_SB: the status ports as one field per CPU, a device per CPU, and
 * CSCN, which the GPE calls: each CPU's pending add or eject becomes a Notify.
 */
static void aml_cpu_hotplug(struct acpi_buf *b, const struct acpi_gen_cfg *c)
{
	static const u8 op_field[] = { AML_EXT, AML_FIELD }, op_method = AML_METHOD;
	char name[4];
	u32 mark;

	ab_bytes(b, (const u8[]){ AML_EXT, AML_OPREGION }, 2);
	ab_bytes(b, "CPHP", 4);
	ab_bytes(b,
		 (const u8[]){ AML_REGION_IO, AML_WORD, (u8)c->cpuhp_port, (u8)(c->cpuhp_port >> 8),
			       AML_BYTE, (u8)c->cpu_count },
		 6);
	mark = b->len;
	ab_u8(b, AML_FIELD_BYTE_ACC);
	for (u32 i = 0; i < c->cpu_count; i++) {
		aml_cpu_name(name, 'S', i);
		ab_bytes(b, name, 4);
		ab_u8(b, 8);
	}
	aml_wrap(b, mark, op_field, 2, "CPHP", 4);
	for (u32 i = 0; i < c->cpu_count; i++)
		aml_cpu_device(b, i);
	/* Method (CSCN, 0, Serialized) */
	mark = b->len;
	for (u32 i = 0; i < c->cpu_count; i++) {
		char dev[4];

		aml_cpu_name(dev, 'P', i);
		aml_cpu_name(name, 'S', i);
		ab_u8(b, AML_STORE);
		ab_bytes(b, name, 4);
		ab_u8(b, AML_LOCAL0);
		aml_cpu_event(b, dev, name, CPUHP_INSERT, 1); /* device check */
		aml_cpu_event(b, dev, name, CPUHP_REMOVE, 3); /* eject request */
	}
	aml_wrap(b, mark, &op_method, 1, "CSCN\x08", 5);
}

/* Scope (\_GPE) { Method (_E02) { \_SB.CSCN () } } */
static void aml_gpe_scope(struct acpi_buf *b)
{
	static const u8 op_scope = AML_SCOPE, op_method = AML_METHOD;
	u32 mark = b->len, m;
	char method[5] = { '_', 'E', '0', (char)('0' + CPUHP_GPE), 0 };

	m = b->len;
	ab_bytes(b, (const u8[]){ AML_ROOT, AML_DUAL_NAME }, 2);
	ab_bytes(b, "_SB_CSCN", 8);
	aml_wrap(b, m, &op_method, 1, method, 5);
	aml_wrap(b, mark, &op_scope, 1, "\\_GPE", 5);
}

static u32 acpi_gen_dsdt(struct acpi_buf *b, const struct acpi_gen_cfg *c)
{
	static const u8 op_scope = AML_SCOPE;
	u32 at = acpi_begin(b, "DSDT", 2), mark;

	/* Name (\_S5, Package () { typ, typ, 0, 0 }): PM1a/b SLP_TYP for S5. */
	ab_u8(b, AML_NAME);
	ab_bytes(b, "_S5_", 4);
	ab_u8(b, AML_PACKAGE);
	aml_pkglen(b, 7);
	ab_u8(b, 4);
	ab_u8(b, AML_BYTE);
	ab_u8(b, c->s5_typ);
	ab_u8(b, AML_BYTE);
	ab_u8(b, c->s5_typ);
	ab_u8(b, AML_ZERO);
	ab_u8(b, AML_ZERO);
	if (c->virtio_count || c->cpu_hotplug || c->pci_ecam || c->mgmt_event) {
		/* Scope (\_SB) { virtio devices, event, CPU hotplug, PCI host bridge } */
		mark = b->len;
		for (u32 i = 0; i < c->virtio_count; i++)
			aml_virtio_device(b, c, i);
		if (c->mgmt_event)
			aml_mgmt_event_device(b, c);
		if (c->cpu_hotplug)
			aml_cpu_hotplug(b, c);
		if (c->pci_ecam)
			aml_pci_host(b, c);
		aml_wrap(b, mark, &op_scope, 1, "\\_SB_", 5);
	}
	if (c->cpu_hotplug)
		aml_gpe_scope(b);
	acpi_end(b, at);
	return at;
}

/* MCFG (PCI Firmware 3.2, 4.1.2): one ECAM allocation, segment 0, bus 0. */
static u32 acpi_gen_mcfg(struct acpi_buf *b, const struct acpi_gen_cfg *c)
{
	u32 at = acpi_begin(b, "MCFG", 1);

	ab_zero(b, 8); /* reserved */
	ab_le(b, c->pci_ecam, 8);
	ab_le(b, 0, 2); /* PCI segment group */
	ab_u8(b, 0); /* start bus */
	ab_u8(b, 0); /* end bus */
	ab_zero(b, 4);
	acpi_end(b, at);
	return at;
}

static void acpi_gen_facs(struct acpi_buf *b)
{
	ab_bytes(b, "FACS", 4);
	ab_le(b, ACPI_FACS_LEN, 4);
	ab_le(b, 0, 4); /* hardware signature */
	ab_le(b, 0, 4); /* firmware waking vector */
	ab_le(b, 0, 4); /* global lock */
	ab_le(b, 0, 4); /* flags */
	ab_le(b, 0, 8); /* X firmware waking vector */
	ab_u8(b, 2); /* version */
	ab_zero(b, 31);
}

static bool acpi_gen_cfg_ok(const struct acpi_gen_cfg *c)
{
	if (c->cpu_hotplug &&
	    (!c->gpe0_port || !c->cpuhp_port || c->cpuhp_port + c->cpu_count > 0x10000u))
		return false;
	if (!c->cpu_count || c->cpu_count > ACPI_GEN_MAX_CPUS ||
	    c->virtio_count > ACPI_GEN_MAX_VIRTIO || (c->base & 15) ||
	    c->base + ACPI_GEN_MAX_SIZE > 0x100000000ull)
		return false;
	for (u32 i = 0; i < c->virtio_count; i++)
		if (c->virtio_base[i] + c->virtio_size[i] > 0x100000000ull || !c->virtio_size[i])
			return false;
	if (c->pci_intx_count > ACPI_GEN_MAX_PCI)
		return false;
	for (u32 i = 0; i < c->pci_intx_count; i++)
		if (c->pci_intx[i].slot > 31 || c->pci_intx[i].pin < 1 || c->pci_intx[i].pin > 4)
			return false;
	/* The window is described with 32-bit fields, the ECAM for one bus. */
	if (c->pci_ecam && ((c->pci_ecam & (PCI_ECAM_BUS_SIZE - 1)) || !c->pci_mmio_size ||
			    c->pci_mmio_base + c->pci_mmio_size > 0x100000000ull))
		return false;
	return true;
}

u32 acpi_gen_build(const struct acpi_gen_cfg *c, u8 *buf, u32 size)
{
	struct acpi_buf b = { buf, 0, MIN(size, ACPI_GEN_MAX_SIZE), false };
	u32 facs, dsdt, fadt, madt, mcfg = 0, xsdt;

	if (!acpi_gen_cfg_ok(c))
		return 0;
	memset(buf, 0, b.cap);
	/* RSDP at 0 (filled last), FACS 64-byte aligned, then the tables. */
	b.len = 64;
	facs = b.len;
	acpi_gen_facs(&b);
	dsdt = acpi_gen_dsdt(&b, c);
	fadt = acpi_gen_fadt(&b, c, c->base + facs, c->base + dsdt);
	madt = acpi_gen_madt(&b, c);
	if (c->pci_ecam)
		mcfg = acpi_gen_mcfg(&b, c);
	xsdt = acpi_begin(&b, "XSDT", 1);
	ab_le(&b, c->base + fadt, 8);
	ab_le(&b, c->base + madt, 8);
	if (mcfg)
		ab_le(&b, c->base + mcfg, 8);
	acpi_end(&b, xsdt);
	if (b.overflow)
		return 0;

	memcpy(buf, "RSD PTR ", 8);
	memcpy(buf + 9, "KEEL  ", 6);
	buf[15] = 2; /* revision: ACPI 2.0+, XSDT */
	put_le(buf + 16, 0, 4); /* no RSDT */
	put_le(buf + 20, 36, 4);
	put_le(buf + 24, c->base + xsdt, 8);
	buf[8] = (u8)-acpi_sum(buf, 20);
	buf[32] = (u8)-acpi_sum(buf, 36);
	return b.len;
}
