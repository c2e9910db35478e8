/* SPDX-License-Identifier: MIT */
/*
 * Config space of an assigned PCI function as its guest sees it (keel/vconfig.h):
 * a shadow of the type 0 header and of the MSI, MSI-X, PCIe and power management
 * capabilities, a few bits forwarded to the device, the rest turned into events.
 */
#include <keel/abi.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/vconfig.h>

#define VC_FMT "vconfig %04x:%02x:%02x.%u"
#define VC_ARGS(vc) \
	(vc)->s.seg, PCI_BDF_BUS((vc)->s.bdf), PCI_BDF_DEV((vc)->s.bdf), PCI_BDF_FN((vc)->s.bdf)

/* Type 0 header. */
#define HDR_CACHE_LINE 0x0c
#define HDR_LATENCY 0x0d
#define HDR_BIST 0x0f
#define HDR_BAR0 0x10
#define HDR_CIS 0x28
#define HDR_ROM 0x30
#define HDR_INT_LINE 0x3c
#define HDR_INT_PIN 0x3d
#define HDR_END 0x40
/* Bits are u32 here: registers are at most a dword. */

#define CMD_IO (1u << 0)
#define CMD_MEM (1u << 1)
#define CMD_MASTER (1u << 2)
#define CMD_PARITY (1u << 6)
#define CMD_SERR (1u << 8)
#define CMD_INTX_OFF (1u << 10)
/* Error bits of the status register, write 1 to clear: data parity, aborts, SERR, parity. */
#define STATUS_RW1C 0xf900u

#define BAR_IO (1u << 0)
#define BAR_MEM_TYPE (3u << 1) /* 00: 32-bit, 10: 64-bit, 01 and 11 reserved */
#define BAR_MEM_64 (2u << 1)
#define BAR_PREFETCH (1u << 3)

/* Capability IDs the guest sees. */
#define CAP_ID_PM 0x01
#define CAP_ID_MSI 0x05
#define CAP_ID_MSIX 0x11
#define CAP_ID_VNDR 0x09
#define VNDR_LEN 2 /* a vendor-specific capability's length byte */
#define VNDR_MAX_LEN 64u

/* MSI: message control, then address, [upper address,] data, [mask, pending]. */
#define MSI_CTRL 2
#define MSI_ENABLE (1u << 0)
#define MSI_64 (1u << 7)
#define MSI_MASKABLE (1u << 8)

/* MSI-X: message control, table offset/BIR, PBA offset/BIR; 16-byte table entries. */
#define MSIX_CTRL 2
#define MSIX_TABLE 4
#define MSIX_PBA 8
#define MSIX_SIZE 12u
#define MSIX_QSIZE 0x7ffu /* table size - 1 */
#define MSIX_MASKALL (1u << 14)
#define MSIX_ENABLE (1u << 15)
#define MSIX_BIR 7u
#define MSIX_ENTRY 16u
#define MSIX_VEC_MASKED (1u << 0)

/* PCIe capability registers Keel treats apart (PCI_EXP_FLAGS is in keel/pci.h). */
#define EXP_DEVCAP 4
#define EXP_DEVCTL 8
#define EXP_DEVSTA 0xa
#define EXP_LNKSTA 0x12
#define DEVCAP_FLR (1u << 28)
#define DEVCTL_ERR_REPORT 0xfu /* correctable, non-fatal, fatal, unsupported request */
#define DEVCTL_RELAXED (1u << 4)
#define DEVCTL_MPS (7u << 5)
#define DEVCTL_EXT_TAG (1u << 8)
#define DEVCTL_AUX_PM (1u << 10)
#define DEVCTL_NO_SNOOP (1u << 11)
#define DEVCTL_MRRS (7u << 12)
#define DEVCTL_FLR (1u << 15)
#define DEVSTA_RW1C 0xfu /* the four error-detected bits */

/* Power management: capabilities, control/status. */
#define PM_PMC 2
#define PM_CSR 4
#define PM_SIZE 8u
#define PMC_PME_CLOCK (1u << 3)
#define PMC_D1 (1u << 9)
#define PMC_D2 (1u << 10)
#define PMC_PME_SUPPORT (0x1fu << 11)
#define PMCSR_STATE 3u
#define PMCSR_NO_SOFT_RESET (1u << 3)
#define PM_D0 0u
#define PM_D1 1u
#define PM_D2 2u
#define PM_D3HOT 3u

/* ---- the device, the shadow ---- */

static u32 dev_rd(const struct vconfig *vc, u32 off, u32 size)
{
	return vc->s.ops->read(vc->s.ctx, vc->s.bdf, (u16)off, size);
}

static void dev_wr(const struct vconfig *vc, u32 off, u32 size, u32 val)
{
	vc->s.ops->write(vc->s.ctx, vc->s.bdf, (u16)off, size, val);
}

/* @size little-endian bytes of @cfg (a 256-byte shadow) at @off. */
static u32 cfg_get(const u8 *cfg, u32 off, u32 size)
{
	u32 v = 0;

	for (u32 i = 0; i < size; i++)
		v |= (u32)cfg[off + i] << (8 * i);
	return v;
}

/* Set @size (1-4) shadow bytes at @off to @val, the guest may write the bits in @wmask. */
static void sh_set(struct vconfig *vc, u32 off, u32 size, u32 val, u32 wmask)
{
	for (u32 i = 0; i < size; i++) {
		vc->shadow[off + i] = (u8)(val >> (8 * i));
		vc->wmask[off + i] = (u8)(wmask >> (8 * i));
	}
}

static u32 ones(u32 size)
{
	return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

static bool overlaps(u32 off, u32 size, u32 reg, u32 len)
{
	return off < reg + len && reg < off + size;
}

/*
 * The bits a guest access (@off, @size, @val) writes into register
 * [@reg, @reg + @len), shifted down to the register (0 where it writes none).
 */
static u32 written(u32 off, u32 size, u32 val, u32 reg, u32 len)
{
	u32 v = 0;

	for (u32 i = 0; i < size; i++)
		if (off + i >= reg && off + i < reg + len)
			v |= ((val >> (8 * i)) & 0xffu) << (8 * (off + i - reg));
	return v;
}

/* Sizes 1, 2, 4, aligned (so within one dword), inside the 4 KiB. */
static bool access_ok(u32 off, u32 size)
{
	return (size == 1 || size == 2 || size == 4) && off % size == 0 && off < PCI_CFG_SIZE &&
	       size <= PCI_CFG_SIZE - off;
}

static int refuse(const struct vconfig *vc, const char *why)
{
	pr_warn(VC_FMT ": %s; not assigned", VC_ARGS(vc), why);
	return -KEEL_EINVAL;
}

/* ---- BARs ---- */

static bool is_pow2(u64 v)
{
	return v && !(v & (v - 1));
}

static bool bar_is_mem(const struct vconfig_bar *b)
{
	return b->type == VCONFIG_BAR_MEM32 || b->type == VCONFIG_BAR_MEM64;
}

/* Write all ones to BAR dword @off, read back what sticks, put @orig back. */
static u32 bar_size_read(const struct vconfig *vc, u32 off, u32 orig)
{
	u32 rb;

	dev_wr(vc, off, 4, 0xffffffffu);
	rb = dev_rd(vc, off, 4);
	dev_wr(vc, off, 4, orig);
	return rb;
}

/*
 * Size BAR @i (decode is off). Fills vc->bar[i] (and [i + 1] for a 64-bit
 * BAR) and the shadow: type bits read-only, address bits the guest may
 * write, address 0. Returns the slots used (1 or 2) or -KEEL_EINVAL.
 */
static int bar_probe(struct vconfig *vc, u32 i)
{
	struct vconfig_bar *b = &vc->bar[i];
	u32 off = HDR_BAR0 + 4 * i, orig = dev_rd(vc, off, 4), rb = bar_size_read(vc, off, orig);
	u64 full, orig_hi = 0, rb_hi = 0xffffffffu;
	char why[96];
	u32 slots = 1;

	if (orig & BAR_IO) {
		b->type = VCONFIG_BAR_IO;
		b->mask = rb & ~3u;
		/* A function may decode 16 bits of port address only: the rest read 0. */
		full = b->mask | ((b->mask & 0xffff0000u) ? 0 : 0xffff0000u) | ~0xffffffffull;
	} else {
		u32 type = orig & BAR_MEM_TYPE;

		if (type != 0 && type != BAR_MEM_64) {
			snprintf(why, sizeof(why), "BAR%u has the reserved memory type %u", i,
				 type >> 1);
			return refuse(vc, why);
		}
		if (type == BAR_MEM_64) {
			if (i + 1 >= VCONFIG_BARS)
				return refuse(vc, "BAR5 is a 64-bit BAR: it has no upper half");
			orig_hi = dev_rd(vc, off + 4, 4);
			rb_hi = bar_size_read(vc, off + 4, (u32)orig_hi);
			slots = 2;
		}
		b->type = type ? VCONFIG_BAR_MEM64 : VCONFIG_BAR_MEM32;
		b->prefetch = (orig & BAR_PREFETCH) != 0;
		b->mask = rb & ~0xfu;
		b->mask_hi = type ? (u32)rb_hi : 0;
		full = rb_hi << 32 | b->mask;
	}
	if (!b->mask && !b->mask_hi) {
		if (orig == 0 && slots == 1) { /* unimplemented: reads 0, sizes to 0 */
			memset(b, 0, sizeof(*b));
			return 1;
		}
		snprintf(why, sizeof(why), "BAR%u (0x%08x) reads back no address bits when sized",
			 i, orig);
		return refuse(vc, why);
	}
	b->size = ~full + 1;
	if (!is_pow2(b->size)) {
		snprintf(why, sizeof(why), "BAR%u sizes to 0x%llx, not a power of two", i,
			 (unsigned long long)b->size);
		return refuse(vc, why);
	}
	b->hpa = (orig_hi << 32 | (orig & (b->type == VCONFIG_BAR_IO ? ~3u : ~0xfu))) & full;
	if (range_overflows(b->hpa, b->size)) {
		snprintf(why, sizeof(why), "BAR%u at 0x%llx runs past the address space", i,
			 (unsigned long long)b->hpa);
		return refuse(vc, why);
	}
	if (slots == 2)
		vc->bar[i + 1].type = VCONFIG_BAR_HIGH;
	if (!b->hpa) { /* the firmware gave it no address: the guest sees no BAR */
		pr_warn(VC_FMT ": BAR%u is not assigned by the firmware; hidden", VC_ARGS(vc), i);
		memset(b, 0, sizeof(*b));
		if (slots == 2)
			vc->bar[i + 1].type = VCONFIG_BAR_NONE;
		return (int)slots;
	}
	b->sub_page = bar_is_mem(b) && b->size < PAGE_SIZE;
	if (b->sub_page)
		pr_warn(VC_FMT ": BAR%u has %llu bytes, less than a page; never mapped",
			VC_ARGS(vc), i, (unsigned long long)b->size);
	sh_set(vc, off, 4, orig & (b->type == VCONFIG_BAR_IO ? BAR_IO : 0xfu), b->mask);
	if (slots == 2)
		sh_set(vc, off + 4, 4, 0, b->mask_hi);
	return (int)slots;
}

/* The guest's base of BAR @i, from the shadow. */
static gpa_t bar_gpa(const struct vconfig *vc, u32 i)
{
	const struct vconfig_bar *b = &vc->bar[i];
	gpa_t gpa = cfg_get(vc->shadow, HDR_BAR0 + 4 * i, 4) & b->mask;

	if (b->type == VCONFIG_BAR_MEM64)
		gpa |= (u64)cfg_get(vc->shadow, HDR_BAR0 + 4 * (i + 1), 4) << 32;
	return gpa;
}

static bool bar_mappable(const struct vconfig *vc, const struct vconfig_bar *b)
{
	if (b->type == VCONFIG_BAR_IO)
		return range_within(b->gpa, b->size, vc->s.io_base, vc->s.io_size);
	return !b->sub_page && range_within(b->gpa, b->size, vc->s.mmio_base, vc->s.mmio_size);
}

/* ---- capabilities ---- */

/* true if [@at, @at + @size) shares a byte with a capability exposed already. */
static bool cap_overlaps(const struct vconfig *vc, u32 at, u32 size)
{
	const u32 caps[4][2] = { { vc->msi, vc->msi_size },
				 { vc->msix, MSIX_SIZE },
				 { vc->pcie, vc->pcie_size },
				 { vc->pm, PM_SIZE } };

	for (u32 k = 0; k < 4; k++)
		if (caps[k][0] && ranges_overlap(at, size, caps[k][0], caps[k][1]))
			return true;
	for (u32 k = 0; k < vc->vndr_count; k++)
		if (ranges_overlap(at, size, vc->vndr[k], vc->vndr_size[k]))
			return true;
	return false;
}

/* Copy @size bytes of the device's capability at @at into the shadow, read-only. */
static int cap_copy(struct vconfig *vc, u32 at, u32 size, const char *name)
{
	char why[80];

	if (at + size > PCI_CFG_LEGACY_SIZE) {
		snprintf(why, sizeof(why), "%s capability at 0x%02x runs past 0xff", name, at);
		return refuse(vc, why);
	}
	if (cap_overlaps(vc, at, size)) {
		snprintf(why, sizeof(why), "%s capability at 0x%02x overlaps another one", name,
			 at);
		return refuse(vc, why);
	}
	for (u32 o = at; o < at + size; o++)
		sh_set(vc, o, 1, dev_rd(vc, o, 1), 0);
	vc->shadow[at + 1] = 0; /* the next pointer: the chain is built after */
	return 0;
}

/*
 * MSI, presented with a single message: Multiple Message Capable reads 0,
 * so Multiple Message Enable stays 0, and the extended message data bits
 * are hidden. The guest may write enable, address, data and (per-vector
 * masking) the mask bit of vector 0; pending bits read 0.
 */
static int cap_msi(struct vconfig *vc, u32 at)
{
	u32 ctrl = dev_rd(vc, at + MSI_CTRL, 2), data, mask;
	int ret;

	vc->msi_64 = (ctrl & MSI_64) != 0;
	vc->msi_maskable = (ctrl & MSI_MASKABLE) != 0;
	vc->msi_size = (u8)(10 + (vc->msi_64 ? 4 : 0) + (vc->msi_maskable ? 10 : 0));
	ret = cap_copy(vc, at, vc->msi_size, "MSI");
	if (ret)
		return ret;
	data = at + (vc->msi_64 ? 0xc : 8);
	mask = data + 4;
	sh_set(vc, at + MSI_CTRL, 2, ctrl & (MSI_64 | MSI_MASKABLE), MSI_ENABLE);
	sh_set(vc, at + 4, 4, 0, 0xfffffffcu);
	if (vc->msi_64)
		sh_set(vc, at + 8, 4, 0, 0xffffffffu);
	sh_set(vc, data, 4, 0, 0xffffu); /* the upper half: extended data, hidden */
	if (vc->msi_maskable) {
		sh_set(vc, mask, 4, 0, 1);
		sh_set(vc, mask + 4, 4, 0, 0);
	}
	vc->msi = (u8)at;
	return 0;
}

/* MSI-X: table and PBA locations as the device has them; enable and function mask virtual. */
static int cap_msix(struct vconfig *vc, u32 at)
{
	u32 ctrl, table, pba;
	int ret = cap_copy(vc, at, MSIX_SIZE, "MSI-X");

	if (ret)
		return ret;
	ctrl = cfg_get(vc->shadow, at + MSIX_CTRL, 2);
	table = cfg_get(vc->shadow, at + MSIX_TABLE, 4);
	pba = cfg_get(vc->shadow, at + MSIX_PBA, 4);
	sh_set(vc, at + MSIX_CTRL, 2, ctrl & MSIX_QSIZE, MSIX_MASKALL | MSIX_ENABLE);
	vc->msix_entries = (u16)((ctrl & MSIX_QSIZE) + 1);
	vc->msix_table_bar = (u8)(table & MSIX_BIR);
	vc->msix_table_off = table & ~MSIX_BIR;
	vc->msix_pba_bar = (u8)(pba & MSIX_BIR);
	vc->msix_pba_off = pba & ~MSIX_BIR;
	vc->msix = (u8)at;
	return 0;
}

/*
 * PCIe: a read-only snapshot but for Device Control (guest's, a few bits
 * forwarded: devctl_real()), Device Status and Link Status (the device's).
 * Link Control, Device Control 2 and the rest stay as the firmware set
 * them: they belong to the link and the host, and a guest writing them is
 * dropped.
 */
static int cap_pcie(struct vconfig *vc, u32 at)
{
	u32 flags = dev_rd(vc, at + PCI_EXP_FLAGS, 2);
	u32 size = (flags & 0xfu) >= 2 ? PCI_EXP_SIZE_V2 : PCI_EXP_SIZE_V1;
	int ret;

	/* What lies past 0xff is not there (pci.c: PCI_EXP_SIZE_MIN below it at least). */
	if (at + PCI_EXP_SIZE_MIN <= PCI_CFG_LEGACY_SIZE)
		size = MIN(size, PCI_CFG_LEGACY_SIZE - at);
	ret = cap_copy(vc, at, size, "PCIe");

	if (ret)
		return ret;
	vc->host_devctl = (u16)cfg_get(vc->shadow, at + EXP_DEVCTL, 2);
	vc->dev_devctl = vc->host_devctl;
	/*
	 * Virtual (the guest reads back what it wrote, the device keeps the
	 * host's): error reporting (the host's AER policy), max payload size
	 * (the fabric's), aux power. Forwarded within the host's value:
	 * relaxed ordering, extended tags, no snoop, max read request size.
	 * Phantom functions (new requester IDs) and FLR never: read-only.
	 */
	sh_set(vc, at + EXP_DEVCTL, 2, vc->host_devctl & ~DEVCTL_FLR,
	       DEVCTL_ERR_REPORT | DEVCTL_RELAXED | DEVCTL_MPS | DEVCTL_EXT_TAG | DEVCTL_AUX_PM |
		       DEVCTL_NO_SNOOP | DEVCTL_MRRS);
	sh_set(vc, at + EXP_DEVSTA, 2, 0, 0);
	sh_set(vc, at + EXP_LNKSTA, 2, 0, 0);
	vc->pcie = (u8)at;
	vc->pcie_size = (u8)size;
	return 0;
}

/*
 * Power management: the guest's power state is virtual (the device stays
 * in D0); PME is not offered (PME support, PME clock, PME enable and status
 * read 0), nor the data register.
 */
static int cap_pm(struct vconfig *vc, u32 at)
{
	u32 pmc, csr;
	int ret = cap_copy(vc, at, PM_SIZE, "power management");

	if (ret)
		return ret;
	pmc = cfg_get(vc->shadow, at + PM_PMC, 2);
	csr = cfg_get(vc->shadow, at + PM_CSR, 2);
	sh_set(vc, at + PM_PMC, 2, pmc & ~(PMC_PME_SUPPORT | PMC_PME_CLOCK), 0);
	sh_set(vc, at + PM_CSR, 4, PM_D0 | (csr & PMCSR_NO_SOFT_RESET), PMCSR_STATE);
	vc->pm_no_soft_reset = (csr & PMCSR_NO_SOFT_RESET) != 0;
	vc->pm = (u8)at;
	return 0;
}

/*
 * Vendor-specific (virtio's find their queues and registers through them):
 * shown as the device had them at assignment, read-only, up to
 * VCONFIG_VNDR_MAX of 3 to VNDR_MAX_LEN bytes each. One that does not fit
 * is hidden (1), not a reason to refuse the device.
 */
static int cap_vendor(struct vconfig *vc, u32 at)
{
	u32 len = dev_rd(vc, at + VNDR_LEN, 1);
	int ret;

	if (vc->vndr_count == VCONFIG_VNDR_MAX || len < 3 || len > VNDR_MAX_LEN ||
	    at + len > PCI_CFG_LEGACY_SIZE || cap_overlaps(vc, at, len))
		return 1;
	ret = cap_copy(vc, at, len, "vendor-specific");
	if (ret)
		return ret;
	vc->vndr[vc->vndr_count] = (u8)at;
	vc->vndr_size[vc->vndr_count++] = (u8)len;
	return 0;
}

/*
 * Walk the device's list (pci.c checks it end to end), expose the first MSI,
 * MSI-X, PCIe and power management capability and the vendor-specific ones,
 * and link them in list order; everything else, and second copies, stay 0
 * in the shadow.
 */
static int caps_build(struct vconfig *vc, u32 *hidden)
{
	u8 list[PCI_CAP_MAX];
	u32 link = PCI_CAP_PTR;
	int n = pci_cap_list(vc->s.ops, vc->s.ctx, vc->s.seg, vc->s.bdf, list);

	if (n < 0)
		return refuse(vc, "its capability list is broken");
	for (int i = 0; i < n; i++) {
		u32 at = list[i];
		int ret = 1;

		switch (dev_rd(vc, at, 1)) {
		case CAP_ID_MSI:
			ret = vc->msi ? 1 : cap_msi(vc, at);
			break;
		case CAP_ID_MSIX:
			ret = vc->msix ? 1 : cap_msix(vc, at);
			break;
		case PCI_CAP_ID_EXP:
			ret = vc->pcie ? 1 : cap_pcie(vc, at);
			break;
		case CAP_ID_PM:
			ret = vc->pm ? 1 : cap_pm(vc, at);
			break;
		case CAP_ID_VNDR:
			ret = cap_vendor(vc, at);
			break;
		}
		if (ret < 0)
			return ret;
		if (ret) {
			(*hidden)++;
			continue;
		}
		vc->shadow[link] = (u8)at;
		link = at + 1;
	}
	return 0;
}

/* The MSI-X table and PBA must lie inside memory BARs the guest can see. */
static int msix_check(struct vconfig *vc)
{
	static const char *const what[2] = { "table", "PBA" };
	u32 bir[2] = { vc->msix_table_bar, vc->msix_pba_bar };
	u64 off[2] = { vc->msix_table_off, vc->msix_pba_off };
	u64 len[2] = { (u64)vc->msix_entries * MSIX_ENTRY, ((vc->msix_entries + 63u) / 64) * 8u };
	char why[96];

	for (u32 k = 0; k < 2 && vc->msix; k++) {
		const struct vconfig_bar *b = bir[k] < VCONFIG_BARS ? &vc->bar[bir[k]] : NULL;

		if (!b || !bar_is_mem(b)) {
			snprintf(why, sizeof(why), "its MSI-X %s is in BAR%u, not a memory BAR",
				 what[k], bir[k]);
			return refuse(vc, why);
		}
		if (off[k] > b->size || len[k] > b->size - off[k]) {
			snprintf(why, sizeof(why), "its MSI-X %s at 0x%llx runs past BAR%u",
				 what[k], (unsigned long long)off[k], bir[k]);
			return refuse(vc, why);
		}
	}
	return 0;
}

/* ---- the command register ---- */

/*
 * The device's command register: memory and I/O decode on for the BARs
 * Keel keeps (what the guest reaches is decided by the caller's stage-2
 * maps), parity and SERR reporting as the firmware set them (the host's
 * error policy), bus mastering and INTx disable as @guest_cmd has them.
 */
static u16 cmd_real(const struct vconfig *vc, u16 guest_cmd)
{
	u16 v = (u16)(vc->host_cmd & (CMD_PARITY | CMD_SERR));

	for (u32 i = 0; i < VCONFIG_BARS; i++) {
		if (bar_is_mem(&vc->bar[i]))
			v |= CMD_MEM;
		if (vc->bar[i].type == VCONFIG_BAR_IO)
			v |= CMD_IO;
	}
	return (u16)(v | (guest_cmd & (CMD_MASTER | CMD_INTX_OFF)));
}

static void dev_cmd_set(struct vconfig *vc, u16 val)
{
	if (val == vc->dev_cmd)
		return;
	dev_wr(vc, PCI_COMMAND, 2, val);
	vc->dev_cmd = val;
}

/* Relaxed ordering, extended tags, no snoop if the host has them; read requests up to its size. */
static u16 devctl_real(const struct vconfig *vc)
{
	u32 guest = cfg_get(vc->shadow, vc->pcie + EXP_DEVCTL, 2), host = vc->host_devctl;
	u32 within = DEVCTL_RELAXED | DEVCTL_EXT_TAG | DEVCTL_NO_SNOOP;
	u32 v = host & ~(within | DEVCTL_MRRS | DEVCTL_FLR);

	v |= guest & host & within;
	v |= MIN(guest & DEVCTL_MRRS, host & DEVCTL_MRRS);
	return (u16)v;
}

static void dev_devctl_set(struct vconfig *vc, u16 val)
{
	if (val == vc->dev_devctl)
		return;
	dev_wr(vc, vc->pcie + EXP_DEVCTL, 2, val);
	vc->dev_devctl = val;
}

/* ---- init ---- */

static void init_log(const struct vconfig *vc, u32 hidden)
{
	u32 bars = 0;

	for (u32 i = 0; i < VCONFIG_BARS; i++)
		bars += bar_is_mem(&vc->bar[i]) || vc->bar[i].type == VCONFIG_BAR_IO;
	pr_info(VC_FMT " %04x:%04x: %u BARs,%s%s%s%s %u capabilities hidden", VC_ARGS(vc),
		cfg_get(vc->shadow, PCI_VENDOR_ID, 2), cfg_get(vc->shadow, PCI_DEVICE_ID, 2), bars,
		vc->msi ? " MSI" : "", vc->msix ? " MSI-X" : "", vc->pcie ? " PCIe" : "",
		vc->pm ? " PM" : "", hidden);
}

int vconfig_init(struct vconfig *vc, const struct vconfig_setup *s)
{
	u32 vendor, hdr, hidden = 0, wcmd = CMD_MASTER | CMD_PARITY | CMD_SERR | CMD_INTX_OFF;
	char why[64];
	int ret;

	memset(vc, 0, sizeof(*vc));
	if (!s || !s->ops || !s->ops->read || !s->ops->write)
		return -KEEL_EINVAL;
	vc->s = *s;
	vendor = dev_rd(vc, PCI_VENDOR_ID, 2);
	if (vendor == 0xffff || vendor == 0)
		return refuse(vc, "no function answers there");
	hdr = dev_rd(vc, PCI_HEADER_TYPE, 1);
	if ((hdr & PCI_HEADER_LAYOUT) != PCI_HEADER_NORMAL) {
		snprintf(why, sizeof(why), "header type 0x%02x is not 0", hdr & PCI_HEADER_LAYOUT);
		return refuse(vc, why);
	}
	vc->host_cmd = (u16)dev_rd(vc, PCI_COMMAND, 2);
	vc->dev_cmd = (u16)(vc->host_cmd & ~(CMD_IO | CMD_MEM | CMD_MASTER));
	dev_wr(vc, PCI_COMMAND, 2, vc->dev_cmd);

	/*
	 * The header, read-only but for the command register, the BARs, cache
	 * line size and interrupt line (virtual). Status is the device's; BIST,
	 * the CardBus CIS pointer, the expansion ROM and reserved bytes read 0;
	 * a single function: the multifunction bit is cleared.
	 */
	for (u32 o = 0; o < HDR_END; o += 4)
		sh_set(vc, o, 4, dev_rd(vc, o, 4), 0);
	sh_set(vc, PCI_COMMAND, 4, 0, 0);
	sh_set(vc, HDR_CACHE_LINE, 1, 0, 0xff);
	vc->shadow[PCI_HEADER_TYPE] = PCI_HEADER_NORMAL;
	vc->shadow[HDR_BIST] = 0;
	for (u32 i = 0; i < VCONFIG_BARS; i++)
		sh_set(vc, HDR_BAR0 + 4 * i, 4, 0, 0);
	sh_set(vc, HDR_CIS, 4, 0, 0);
	sh_set(vc, HDR_ROM, 4, 0, 0);
	sh_set(vc, PCI_CAP_PTR, 4, 0, 0);
	sh_set(vc, PCI_CAP_PTR + 4, 4, 0, 0);
	/* INTx: the line as the guest's firmware would have set it, or no pin at all. */
	if (s->intx_line == VCONFIG_NO_INTX)
		vc->shadow[HDR_INT_PIN] = 0;
	sh_set(vc, HDR_INT_LINE, 1, vc->shadow[HDR_INT_PIN] ? s->intx_line & 0xff : 0xff, 0xff);

	for (u32 i = 0; i < VCONFIG_BARS; i += (u32)ret) {
		ret = bar_probe(vc, i);
		if (ret < 0)
			return ret;
	}
	ret = caps_build(vc, &hidden);
	if (!ret)
		ret = msix_check(vc);
	if (ret)
		return ret;

	wcmd |= cmd_real(vc, 0) & (CMD_IO | CMD_MEM); /* a space without BARs: enable reads 0 */
	vc->wmask[PCI_COMMAND] = (u8)wcmd;
	vc->wmask[PCI_COMMAND + 1] = (u8)(wcmd >> 8);
	for (u32 i = 0; i < VCONFIG_MSIX_MAX; i++)
		vc->msix_tab[i] = (struct vconfig_msix_entry){ .ctrl = MSIX_VEC_MASKED };
	memcpy(vc->reset, vc->shadow, sizeof(vc->reset));
	/* Decode on, INTx quiet until the guest writes its command register. */
	dev_cmd_set(vc, (u16)(cmd_real(vc, 0) | CMD_INTX_OFF));
	init_log(vc, hidden);
	return 0;
}

/* ---- guest accesses ---- */

/* The device's status register with the capability-list bit the guest's chain implies. */
static u32 status_read(const struct vconfig *vc)
{
	u32 v = dev_rd(vc, PCI_STATUS, 2) & ~(u32)PCI_STATUS_CAP_LIST;

	return vc->shadow[PCI_CAP_PTR] ? v | PCI_STATUS_CAP_LIST : v;
}

/* Replace the bytes of @val (an access at @off) that register [@reg, @reg + 2) holds with @live. */
static u32 patch(u32 off, u32 size, u32 val, u32 reg, u32 live)
{
	for (u32 i = 0; i < size; i++) {
		if (off + i < reg || off + i >= reg + 2)
			continue;
		val &= ~(0xffu << (8 * i));
		val |= ((live >> (8 * (off + i - reg))) & 0xffu) << (8 * i);
	}
	return val;
}

u32 vconfig_read(const struct vconfig *vc, u32 off, u32 size)
{
	u32 val;

	if (!access_ok(off, size)) {
		pr_warn_once(VC_FMT ": config read of %u bytes at 0x%x is misaligned; all ones",
			     VC_ARGS(vc), size, off);
		return ones(size);
	}
	if (off >= PCI_CFG_LEGACY_SIZE)
		return 0;
	val = cfg_get(vc->shadow, off, size);
	if (overlaps(off, size, PCI_STATUS, 2))
		val = patch(off, size, val, PCI_STATUS, status_read(vc));
	if (vc->pcie && overlaps(off, size, vc->pcie + EXP_DEVSTA, 2))
		val = patch(off, size, val, vc->pcie + EXP_DEVSTA,
			    dev_rd(vc, vc->pcie + EXP_DEVSTA, 2));
	if (vc->pcie && overlaps(off, size, vc->pcie + EXP_LNKSTA, 2))
		val = patch(off, size, val, vc->pcie + EXP_LNKSTA,
			    dev_rd(vc, vc->pcie + EXP_LNKSTA, 2));
	return val;
}

struct msi_state {
	u64 addr;
	u32 data;
	bool enabled;
	bool masked;
};

static void msi_state(const struct vconfig *vc, const u8 *cfg, struct msi_state *st)
{
	u32 at = vc->msi, data = at + (vc->msi_64 ? 0xc : 8);

	st->enabled = (cfg[at + MSI_CTRL] & MSI_ENABLE) != 0;
	st->addr = cfg_get(cfg, at + 4, 4);
	if (vc->msi_64)
		st->addr |= (u64)cfg_get(cfg, at + 8, 4) << 32;
	st->data = cfg_get(cfg, data, 2);
	st->masked = vc->msi_maskable && (cfg[data + 4] & 1);
}

/*
 * Events from the shadow's change since @before: decode, BARs, MSI, MSI-X
 * control, and (@guest: a guest write, not a reset) D3hot to D0.
 */
static void events_of(struct vconfig *vc, const u8 *before, bool guest, struct vconfig_events *ev)
{
	u32 cmd = cfg_get(vc->shadow, PCI_COMMAND, 2);

	ev->cmd = (u16)cmd;
	if ((cmd ^ cfg_get(before, PCI_COMMAND, 2)) & (CMD_IO | CMD_MEM))
		ev->mask |= VCONFIG_EV_DECODE;
	for (u32 i = 0; i < VCONFIG_BARS; i++) {
		struct vconfig_bar *b = &vc->bar[i];
		gpa_t gpa;

		if (!bar_is_mem(b) && b->type != VCONFIG_BAR_IO)
			continue;
		gpa = bar_gpa(vc, i);
		if (gpa == b->gpa)
			continue;
		b->gpa = gpa;
		b->mappable = bar_mappable(vc, b);
		ev->mask |= VCONFIG_EV_BAR;
		ev->bars_moved |= (u8)BIT(i);
		ev->bar_gpa[i] = gpa;
		if (!b->mappable)
			ev->bars_unmappable |= (u8)BIT(i);
	}
	if (vc->msi) {
		struct msi_state was, now;

		msi_state(vc, before, &was);
		msi_state(vc, vc->shadow, &now);
		if (was.addr != now.addr || was.data != now.data || was.enabled != now.enabled ||
		    was.masked != now.masked) {
			ev->mask |= VCONFIG_EV_MSI;
			ev->msi_addr = now.addr;
			ev->msi_data = now.data;
			ev->msi_enabled = now.enabled;
			ev->msi_masked = now.masked;
		}
	}
	if (vc->msix && before[vc->msix + 3] != vc->shadow[vc->msix + 3]) {
		u32 ctrl = cfg_get(vc->shadow, vc->msix + MSIX_CTRL, 2);

		ev->mask |= VCONFIG_EV_MSIX_CTRL;
		ev->msix_enabled = (ctrl & MSIX_ENABLE) != 0;
		ev->msix_masked = (ctrl & MSIX_MASKALL) != 0;
	}
	if (guest && vc->pm && (before[vc->pm + PM_CSR] & PMCSR_STATE) == PM_D3HOT &&
	    (vc->shadow[vc->pm + PM_CSR] & PMCSR_STATE) == PM_D0)
		ev->mask |= VCONFIG_EV_D3_D0;
}

/* A write of a power state the function does not support changes nothing (PM spec). */
static void pm_filter(struct vconfig *vc, const u8 *before)
{
	u32 pmc = cfg_get(vc->shadow, vc->pm + PM_PMC, 2);
	u8 *csr = &vc->shadow[vc->pm + PM_CSR];
	u32 state = *csr & PMCSR_STATE;

	if ((state == PM_D1 && !(pmc & PMC_D1)) || (state == PM_D2 && !(pmc & PMC_D2)))
		*csr = (u8)((*csr & ~PMCSR_STATE) | (before[vc->pm + PM_CSR] & PMCSR_STATE));
}

void vconfig_write(struct vconfig *vc, u32 off, u32 size, u32 val, struct vconfig_events *ev)
{
	u8 before[PCI_CFG_LEGACY_SIZE];
	u32 rw1c;

	memset(ev, 0, sizeof(*ev));
	if (!access_ok(off, size)) {
		pr_warn_once(VC_FMT ": config write of %u bytes at 0x%x is misaligned; dropped",
			     VC_ARGS(vc), size, off);
		return;
	}
	if (off >= PCI_CFG_LEGACY_SIZE)
		return;
	memcpy(before, vc->shadow, sizeof(before));
	for (u32 i = 0; i < size; i++) {
		u8 *sh = &vc->shadow[off + i], wm = vc->wmask[off + i];

		*sh = (u8)((*sh & ~wm) | ((val >> (8 * i)) & wm));
	}
	if (vc->pm && overlaps(off, size, vc->pm + PM_CSR, 1))
		pm_filter(vc, before);

	/* What reaches the device. */
	if (overlaps(off, size, PCI_COMMAND, 2))
		dev_cmd_set(vc, cmd_real(vc, (u16)cfg_get(vc->shadow, PCI_COMMAND, 2)));
	rw1c = written(off, size, val, PCI_STATUS, 2) & STATUS_RW1C;
	if (rw1c)
		dev_wr(vc, PCI_STATUS, 2, rw1c);
	if (vc->pcie) {
		u32 devctl = vc->pcie + EXP_DEVCTL, devsta = vc->pcie + EXP_DEVSTA;

		if (overlaps(off, size, devctl, 2))
			dev_devctl_set(vc, devctl_real(vc));
		rw1c = written(off, size, val, devsta, 2) & DEVSTA_RW1C;
		if (rw1c)
			dev_wr(vc, devsta, 2, rw1c);
		/* Never forwarded: the caller resets the function properly. */
		if ((written(off, size, val, devctl, 2) & DEVCTL_FLR) &&
		    (cfg_get(vc->shadow, vc->pcie + EXP_DEVCAP, 4) & DEVCAP_FLR))
			ev->mask |= VCONFIG_EV_FLR;
	}
	events_of(vc, before, true, ev);
}

/* ---- the MSI-X table ---- */

/*
 * Entry and dword of a table access, or false for one that is dropped:
 * no MSI-X, not 4 or 8 bytes aligned to its size, past the table, or
 * beyond the entries kept (logged once per function).
 */
static bool msix_at(struct vconfig *vc, u64 off, u32 size, u32 *entry, u32 *dword)
{
	if (!vc->msix || (size != 4 && size != 8) || off % size ||
	    off >= (u64)vc->msix_entries * MSIX_ENTRY) {
		pr_warn_once(VC_FMT ": MSI-X table access of %u bytes at 0x%llx dropped",
			     VC_ARGS(vc), size, (unsigned long long)off);
		return false;
	}
	*entry = (u32)(off / MSIX_ENTRY);
	*dword = (u32)(off % MSIX_ENTRY) / 4;
	if (*entry < VCONFIG_MSIX_MAX)
		return true;
	if (!vc->msix_over_logged) {
		vc->msix_over_logged = true;
		pr_warn(VC_FMT ": MSI-X entries from %u on (of %u) are not kept: they read all "
			       "ones, writes are dropped",
			VC_ARGS(vc), VCONFIG_MSIX_MAX, vc->msix_entries);
	}
	return false;
}

static u32 *msix_field(struct vconfig_msix_entry *e, u32 dword)
{
	switch (dword) {
	case 0:
		return &e->addr_lo;
	case 1:
		return &e->addr_hi;
	case 2:
		return &e->data;
	default:
		return &e->ctrl;
	}
}

u64 vconfig_msix_table_read(struct vconfig *vc, u64 off, u32 size)
{
	u32 i, d;
	u64 v;

	if (!msix_at(vc, off, size, &i, &d))
		return size == 8 ? ~0ull : ones(size);
	v = *msix_field(&vc->msix_tab[i], d);
	if (size == 8)
		v |= (u64)*msix_field(&vc->msix_tab[i], d + 1) << 32;
	return v;
}

void vconfig_msix_table_write(struct vconfig *vc, u64 off, u32 size, u64 val,
			      struct vconfig_events *ev)
{
	/* Address dword aligned, vector control: only the mask bit (the rest reads 0). */
	static const u32 wmask[4] = { 0xfffffffcu, 0xffffffffu, 0xffffffffu, MSIX_VEC_MASKED };
	struct vconfig_msix_entry *e, was;
	u32 i, d;

	memset(ev, 0, sizeof(*ev));
	if (!msix_at(vc, off, size, &i, &d))
		return;
	e = &vc->msix_tab[i];
	was = *e;
	for (u32 k = 0; k < size / 4; k++)
		*msix_field(e, d + k) = (u32)(val >> (32 * k)) & wmask[d + k];
	if (!memcmp(&was, e, sizeof(was)))
		return;
	ev->mask |= VCONFIG_EV_MSIX_ENTRY;
	ev->msix_changed = BIT(i);
	if ((was.ctrl & MSIX_VEC_MASKED) && !(e->ctrl & MSIX_VEC_MASKED))
		ev->msix_unmasked = BIT(i);
}

const struct vconfig_msix_entry *vconfig_msix_entry(const struct vconfig *vc, u32 i)
{
	return vc->msix && i < vc->msix_entries && i < VCONFIG_MSIX_MAX ? &vc->msix_tab[i] : NULL;
}

bool vconfig_bar_live(const struct vconfig *vc, u32 i)
{
	u32 cmd;

	if (i >= VCONFIG_BARS || !vc->bar[i].mappable)
		return false;
	cmd = cfg_get(vc->shadow, PCI_COMMAND, 2);
	if (vc->bar[i].type == VCONFIG_BAR_IO)
		return (cmd & CMD_IO) != 0;
	return bar_is_mem(&vc->bar[i]) && (cmd & CMD_MEM);
}

/* ---- reset ---- */

void vconfig_reset(struct vconfig *vc, struct vconfig_events *ev)
{
	u8 before[PCI_CFG_LEGACY_SIZE];

	memset(ev, 0, sizeof(*ev));
	/* The device: BARs back at their host addresses with decode off, then as at init. */
	vc->dev_cmd = CMD_INTX_OFF;
	dev_wr(vc, PCI_COMMAND, 2, CMD_INTX_OFF);
	for (u32 i = 0; i < VCONFIG_BARS; i++) {
		const struct vconfig_bar *b = &vc->bar[i];
		u32 off = HDR_BAR0 + 4 * i;

		if (!bar_is_mem(b) && b->type != VCONFIG_BAR_IO)
			continue;
		dev_wr(vc, off, 4, (u32)b->hpa | cfg_get(vc->reset, off, 4)); /* + type bits */
		if (b->type == VCONFIG_BAR_MEM64)
			dev_wr(vc, off + 4, 4, (u32)(b->hpa >> 32));
	}
	dev_cmd_set(vc, (u16)(cmd_real(vc, 0) | CMD_INTX_OFF));
	if (vc->pcie) {
		dev_wr(vc, vc->pcie + EXP_DEVCTL, 2, vc->host_devctl);
		vc->dev_devctl = vc->host_devctl;
	}

	/* The guest's view: power-on, but the interrupt line (the guest's OS owns it). */
	memcpy(before, vc->shadow, sizeof(before));
	memcpy(vc->shadow, vc->reset, sizeof(vc->shadow));
	vc->shadow[HDR_INT_LINE] = before[HDR_INT_LINE];
	for (u32 i = 0; i < VCONFIG_MSIX_MAX; i++) {
		struct vconfig_msix_entry *e = &vc->msix_tab[i];
		struct vconfig_msix_entry init = { .ctrl = MSIX_VEC_MASKED };

		if (!memcmp(e, &init, sizeof(init)))
			continue;
		*e = init;
		ev->mask |= VCONFIG_EV_MSIX_ENTRY;
		ev->msix_changed |= BIT(i);
	}
	events_of(vc, before, false, ev);
}
