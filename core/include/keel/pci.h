/* SPDX-License-Identifier: MIT */
/*
 * The host's PCI functions (vfio/pci.c, vfio/ecam.c): ECAM windows found by
 * the platform code, config-space access, and the boot-time enumeration that
 * records each function's requester ID, DMA alias and isolation group and
 * turns off bus mastering on every function no partition owns.
 */
#ifndef KEEL_PCI_H
#define KEEL_PCI_H

#include <keel/boot_info.h>
#include <keel/types.h>

/* A function's address on its segment, also its requester ID: bus << 8 | dev << 3 | fn. */
#define PCI_BDF(bus, dev, fn) ((u16)(((u32)(bus) << 8) | ((u32)(dev) << 3) | (u32)(fn)))
#define PCI_BDF_BUS(bdf) ((u8)((bdf) >> 8))
#define PCI_BDF_DEV(bdf) ((u8)(((bdf) >> 3) & 0x1f))
#define PCI_BDF_FN(bdf) ((u8)((bdf)&7))
/* A function as Keel's console names it: "SSSS:BB:DD.F", lspci's form. */
#define PCI_FMT "%04x:%02x:%02x.%u"
#define PCI_ARGS(seg, bdf) (seg), PCI_BDF_BUS(bdf), PCI_BDF_DEV(bdf), PCI_BDF_FN(bdf)

#define PCI_CFG_SIZE 0x1000u /* PCIe: 4 KiB per function */
#define PCI_CFG_LEGACY_SIZE 0x100u /* conventional PCI: the first 256 bytes */
#define PCI_ECAM_BUS_SHIFT 20 /* 1 MiB of ECAM per bus */

#define PCI_MAX_WINDOWS 4u /* ECAM windows (segments or bus ranges) Keel keeps */
#define PCI_MAX_FUNCS 1024u /* functions recorded over all windows */
/* Bridges nested deeper are not followed: the walk recurses, about 300 bytes of stack a level. */
#define PCI_MAX_DEPTH 24u
#define PCI_NONE 0xffffffffu /* no index (no bridge above, no group yet) */

/* Config header fields Keel reads (offsets). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_CLASS_REV 0x08 /* class code in bits 31:8 */
#define PCI_HEADER_TYPE 0x0e
#define PCI_SECONDARY_BUS 0x19 /* type 1 */
#define PCI_SUBORDINATE_BUS 0x1a /* type 1 */
#define PCI_CAP_PTR 0x34 /* types 0 and 1 */
#define PCI_CB_CAP_PTR 0x14 /* type 2 (CardBus) */
#define PCI_INTERRUPT_PIN 0x3d /* 1-4: INTA-INTD; 0: none */

#define PCI_COMMAND_MASTER BIT(2)
#define PCI_COMMAND_INTX_OFF BIT(10) /* INTx Disable */
#define PCI_STATUS_INTX BIT(3) /* the function asserts its INTx (read-only) */
#define PCI_STATUS_CAP_LIST BIT(4)
#define PCI_HEADER_MULTI 0x80u
#define PCI_HEADER_LAYOUT 0x7fu
#define PCI_HEADER_NORMAL 0u
#define PCI_HEADER_BRIDGE 1u
#define PCI_HEADER_CARDBUS 2u
#define PCI_CLASS_HOST_BRIDGE 0x0600u /* class code bits 23:8 */
#define PCI_BASE_CLASS_BRIDGE 0x06u /* class code bits 23:16: host, ISA, PCI... bridges */
#define PCI_CLASS_IOMMU 0x0806u /* class code bits 23:8: base 08 (system), sub 06 */

/* Capability IDs: standard (8 bits) and extended (16 bits). */
#define PCI_CAP_ID_EXP 0x10
#define PCI_EXT_CAP_ID_ACS 0x000d
#define PCI_CAP_FIRST 0x40u /* the lowest offset a standard capability may have */
#define PCI_CAP_MAX 48u /* standard capabilities a list can hold: one per dword in 0x40-0xff */
#define PCI_EXT_CAP_FIRST 0x100u /* where the extended list starts */

/* PCIe capability: the register at +2, its version and device/port type. */
#define PCI_EXP_FLAGS 2
#define PCI_EXP_SIZE_V1 0x24u
#define PCI_EXP_SIZE_V2 0x3cu
/*
 * Through Link Status: what a PCIe capability must hold below 0x100. QEMU
 * puts e1000e's (version 2) at 0xe0, so its registers from 0x100 on (Root
 * Status, the version 2 ones) are not there: they read as 0 to a guest.
 */
#define PCI_EXP_SIZE_MIN 0x14u
#define PCI_EXP_TYPE_ENDPOINT 0x0u
#define PCI_EXP_TYPE_LEG_END 0x1u
#define PCI_EXP_TYPE_ROOT_PORT 0x4u
#define PCI_EXP_TYPE_UPSTREAM 0x5u
#define PCI_EXP_TYPE_DOWNSTREAM 0x6u
#define PCI_EXP_TYPE_PCI_BRIDGE 0x7u /* PCIe to PCI/PCI-X */
#define PCI_EXP_TYPE_PCIE_BRIDGE 0x8u /* PCI/PCI-X to PCIe */
#define PCI_EXP_TYPE_RC_END 0x9u
#define PCI_EXP_TYPE_RC_EC 0xau
#define PCI_NOT_PCIE 0xffu /* pci_func.pcie_type of a function without a PCIe capability */

/* ACS extended capability: capability (+4) and control (+6) bits Keel looks at. */
#define PCI_ACS_CAP 4
#define PCI_ACS_CTRL 6
#define PCI_ACS_SIZE 8u
#define PCI_ACS_SV BIT(0) /* source validation */
#define PCI_ACS_RR BIT(2) /* peer-to-peer request redirect */
#define PCI_ACS_CR BIT(3) /* peer-to-peer completion redirect */
#define PCI_ACS_UF BIT(4) /* upstream forwarding */

/* pci_func.flags */
#define PCI_F_MULTI BIT(0) /* one function of a multifunction device */
#define PCI_F_ALIASED BIT(1) /* behind a bridge that DMAs on its behalf (dma_rid) */
#define PCI_F_BAD_CAPS BIT(2) /* a capability list loops or points out of range */
#define PCI_F_REFUSED BIT(3) /* a bridge Keel did not follow (its bus mastering is off) */
#define PCI_F_ACS BIT(4) /* its ACS sends peer-to-peer traffic up to the IOMMU (pci.c) */
#define PCI_F_PATH_ACS BIT(5) /* no port or multifunction device on its way up lacks that */

/*
 * One ECAM window as the firmware describes it (ACPI MCFG, or DT): config
 * space of buses [start_bus, end_bus] of segment @seg; @base is where bus 0
 * would be, so bus b's config space starts at base + (b << 20).
 */
struct pci_ecam {
	hpa_t base;
	u16 seg;
	u8 start_bus;
	u8 end_bus;
	u32 pad;
};

/*
 * Config-space access of one segment. @bdf: bus << 8 | dev << 3 | fn;
 * @off + @size <= 4096, @off aligned to @size (1, 2 or 4). A read of
 * nothing (no such function, a bus outside the window) returns all ones;
 * such a write is dropped. Host unit tests back this with a plain array.
 */
struct pci_cfg_ops {
	u32 (*read)(void *ctx, u16 bdf, u16 off, u32 size);
	void (*write)(void *ctx, u16 bdf, u16 off, u32 size, u32 val);
};

/* What enumeration found of one function. */
struct pci_func {
	u16 seg;
	u16 bdf; /* its address, and the requester ID it DMAs with */
	u16 dma_rid; /* the requester ID the IOMMU sees from it: bdf, or a bridge's alias */
	u16 vendor;
	u16 device;
	u8 hdr_type; /* layout (PCI_HEADER_*), without the multifunction bit */
	u8 pcie_type; /* PCI_EXP_TYPE_* or PCI_NOT_PCIE */
	u32 class; /* base << 16 | sub << 8 | programming interface */
	u16 pcie_cap; /* config offset of the PCIe capability, 0 if none */
	u16 acs_cap; /* config offset of the ACS capability, 0 if none */
	u16 acs_caps; /* its capability and control registers as the firmware left them */
	u16 acs_ctrl;
	u8 sec_bus; /* bridges: secondary and subordinate bus, as the firmware set them */
	u8 sub_bus;
	u16 flags; /* PCI_F_* */
	u32 parent; /* index of the bridge whose secondary bus it sits on, or PCI_NONE */
	u32 group; /* isolation group: functions the IOMMU cannot tell apart share one */
	/*
	 * Its MSI-X table and PBA pages as Keel mapped them at boot (host
	 * physical [lo, hi), one range per BAR that holds either; empty: none,
	 * or not mapped), so that Keel can write the table for its owner.
	 */
	u64 msix_lo[2], msix_hi[2];
};

/*
 * One window's enumeration. The caller fills the inputs; pci_scan() the
 * outputs. Host-testable: every config access goes through @ops.
 */
struct pci_scan {
	/* in */
	const struct pci_cfg_ops *ops;
	void *ctx;
	u16 seg;
	u8 start_bus;
	u8 end_bus;
	struct pci_func *funcs; /* room for @max_funcs records, appended from funcs[count] */
	u32 max_funcs;
	u32 count; /* records in use before the scan (other windows) and after */
	u32 first_group; /* group numbers of this window start here */
	/* out */
	u32 found; /* functions present on this window, recorded or not */
	u32 master_off; /* of them, functions whose bus mastering Keel turned off */
	u32 next_group; /* the first group number this window did not use */
	/* private */
	u32 first; /* this window's first record */
	u64 bus_scanned[4]; /* bitmaps over bus numbers */
	u64 bus_refused[4]; /* named by a bridge Keel refused */
	u8 bus_level[256]; /* depth of the deepest followed bridge naming the bus, 0: none */
};

/*
 * Enumerate @s's window depth-first from its start bus through the bridges
 * the firmware set up (refusing bus numbers outside the window, out of
 * their parent's range or scanned already), then any other root bus of the
 * window. Records each function, computes requester-ID aliases and
 * isolation groups, clears Bus Master Enable on every function except host
 * bridges and the PCI-to-PCI bridges it follows, and logs one line per
 * function and a summary. Returns 0, or -KEEL_EINVAL for a bad window (no
 * access is made).
 */
int pci_scan(struct pci_scan *s);

/*
 * Offset of the first capability @id of function @bdf: standard (0x40-0xff)
 * or extended (0x100-0xfff). Returns 0 if it has none, or -KEEL_EINVAL with
 * a console line naming the function if the list loops or points out of
 * range before @id is found.
 */
int pci_cap_find(const struct pci_cfg_ops *ops, void *ctx, u16 seg, u16 bdf, u8 id);
int pci_ext_cap_find(const struct pci_cfg_ops *ops, void *ctx, u16 seg, u16 bdf, u16 id);

/*
 * The standard capability list of function @bdf, checked as pci_cap_find()
 * checks it but to its end: the offsets in list order go to @list (room for
 * PCI_CAP_MAX). Returns how many (0: no list), or -KEEL_EINVAL with a
 * console line naming the function if the list loops or points below 0x40.
 */
int pci_cap_list(const struct pci_cfg_ops *ops, void *ctx, u16 seg, u16 bdf, u8 *list);

/*
 * Record an ECAM window (platform discovery, before the hypervisor's page
 * tables are built: the arch maps every window, uncached). Refused with a
 * console line (-KEEL_EINVAL) if it is not 1 MiB aligned, wraps, reaches
 * the hypervisor's own address-space slots, overlaps RAM in @bi's memory
 * map or another window; -KEEL_ENOSPC beyond PCI_MAX_WINDOWS.
 */
int pci_ecam_add(const struct keel_boot_info *bi, const struct pci_ecam *w);

/* The @i-th window recorded, or NULL; and the physical range its buses use. */
const struct pci_ecam *pci_ecam_window(u32 i);
hpa_t pci_ecam_start(const struct pci_ecam *w);
hpa_t pci_ecam_end(const struct pci_ecam *w);

/* Config access through the recorded windows (all ones / dropped outside them). */
u32 pci_cfg_read(u16 seg, u16 bdf, u16 off, u32 size);
void pci_cfg_write(u16 seg, u16 bdf, u16 off, u32 size, u32 val);

/* The same as a pci_cfg_ops table, for code written against one: ctx = pci_host_ctx(seg). */
extern const struct pci_cfg_ops pci_host_ops;
static inline void *pci_host_ctx(u16 seg)
{
	return (void *)(uintptr_t)seg;
}

/*
 * At boot, after the hypervisor's page tables are on and before any
 * partition starts: enumerate every recorded window (pci_scan). Without
 * windows it does nothing and prints nothing.
 */
void pci_init(const struct keel_boot_info *bi);

/* The functions found at boot: count, by index, by address. */
u32 pci_func_count(void);
const struct pci_func *pci_func_at(u32 i);
const struct pci_func *pci_func_find(u16 seg, u16 bdf);

#endif /* KEEL_PCI_H */
