/* SPDX-License-Identifier: MIT */
/*
 * Config-space virtualization of one assigned PCI function (vfio/vconfig.c):
 * the 4 KiB the guest sees at the function's virtual address, its MSI-X table,
 * and the events the caller turns into stage-2 maps, interrupt routes and resets.
 */
#ifndef KEEL_VCONFIG_H
#define KEEL_VCONFIG_H

#include <keel/pci.h>
#include <keel/types.h>

#define VCONFIG_BARS 6u
#define VCONFIG_MSIX_MAX 64u /* MSI-X table entries the model keeps; beyond: all ones */
#define VCONFIG_VNDR_MAX 8u /* vendor-specific capabilities shown (virtio has 5) */

/* vconfig_bar.type */
#define VCONFIG_BAR_NONE 0u /* unimplemented, unassigned by the firmware, or hidden */
#define VCONFIG_BAR_MEM32 1u
#define VCONFIG_BAR_MEM64 2u /* this slot and the next, which is VCONFIG_BAR_HIGH */
#define VCONFIG_BAR_HIGH 3u /* the upper half of the 64-bit BAR below */
#define VCONFIG_BAR_IO 4u

/* One BAR: where it is on the host, where the guest put it. */
struct vconfig_bar {
	hpa_t hpa; /* host base (an I/O port number for I/O BARs) */
	u64 size; /* a power of two; 0 for VCONFIG_BAR_NONE and _HIGH */
	gpa_t gpa; /* the guest's base (a port number for I/O BARs) */
	u32 mask; /* address bits the guest may write in the low dword */
	u32 mask_hi; /* and in the high dword (64-bit BARs) */
	u8 type; /* VCONFIG_BAR_* */
	bool prefetch;
	bool mappable; /* [gpa, gpa + size) lies in the guest's window, and can be mapped */
	bool sub_page; /* a memory BAR under a page: it shares its page, never mappable */
};

/* One MSI-X table entry as the guest wrote it. */
struct vconfig_msix_entry {
	u32 addr_lo;
	u32 addr_hi;
	u32 data;
	u32 ctrl; /* bit 0: masked */
};

/* vconfig_events.mask */
#define VCONFIG_EV_BAR BIT(0) /* BARs in bars_moved have a new guest address */
#define VCONFIG_EV_DECODE BIT(1) /* memory or I/O space enable changed (cmd) */
#define VCONFIG_EV_MSI BIT(2) /* MSI enable, address, data or mask changed (msi_*) */
#define VCONFIG_EV_MSIX_CTRL BIT(3) /* MSI-X enable or function mask changed */
#define VCONFIG_EV_MSIX_ENTRY BIT(4) /* entries in msix_changed changed */
#define VCONFIG_EV_FLR BIT(5) /* the guest asked for a function level reset */
#define VCONFIG_EV_D3_D0 BIT(6) /* the guest moved the function from D3hot to D0 */

/*
 * What one access (or vconfig_reset()) changed that the caller acts on.
 * Each call overwrites it. The values are those after the access, each
 * valid with its bit (cmd: after every config write and reset).
 */
struct vconfig_events {
	u32 mask; /* VCONFIG_EV_* */
	u8 bars_moved; /* bitmap over BAR slots (a 64-bit BAR by its low slot) */
	u8 bars_unmappable; /* of them, those not mappable where they are now */
	u16 cmd; /* the guest's command register (memory enable bit 1, I/O enable bit 0) */
	gpa_t bar_gpa[VCONFIG_BARS]; /* new guest address of each BAR in bars_moved */
	u64 msi_addr;
	u32 msi_data;
	bool msi_enabled;
	bool msi_masked; /* the vector's mask bit (per-vector masking capable devices) */
	bool msix_enabled;
	bool msix_masked; /* the function mask */
	u64 msix_changed; /* bitmap over kept entries: address, data or mask changed */
	u64 msix_unmasked; /* of them, those that went from masked to unmasked */
};

/* What vconfig_init() needs: the function and the guest's windows for its BARs. */
struct vconfig_setup {
	const struct pci_cfg_ops *ops;
	void *ctx;
	u16 seg;
	u16 bdf;
	gpa_t mmio_base; /* the guest's MMIO window memory BARs may be placed in */
	u64 mmio_size;
	u64 io_base; /* the guest's I/O port window (size 0: I/O BARs never mappable) */
	u64 io_size;
	/*
	 * The guest's interrupt line for the function's INTx pin (Interrupt
	 * Line's power-on value), or VCONFIG_NO_INTX: INTx is not routed and
	 * Interrupt Pin reads 0, so the guest never waits for it.
	 */
	u32 intx_line;
};
#define VCONFIG_NO_INTX 0xffffffffu

/*
 * One assigned function. The caller owns it and serializes calls on it;
 * fields are read by the caller, written only by vconfig_*().
 */
struct vconfig {
	struct vconfig_setup s;
	struct vconfig_bar bar[VCONFIG_BARS];
	/* capabilities the guest sees (config offsets, 0: none) */
	u8 msi;
	u8 msix;
	u8 pcie;
	u8 pm;
	u8 vndr[VCONFIG_VNDR_MAX]; /* vendor-specific ones, read-only as at assignment */
	u8 vndr_size[VCONFIG_VNDR_MAX];
	u8 vndr_count;
	u8 msi_size; /* 10, 14, 20 or 24 bytes */
	u8 pcie_size; /* 0x24 or 0x3c by version */
	bool msi_64; /* 64-bit address capable */
	bool msi_maskable; /* per-vector masking capable */
	/* MSI-X (msix != 0): where the table and the PBA live */
	u8 msix_table_bar;
	u8 msix_pba_bar;
	u16 msix_entries; /* the table's size, 1-2048 */
	u32 msix_table_off; /* offset in its BAR */
	u32 msix_pba_off;
	bool msix_over_logged; /* the line about entries beyond VCONFIG_MSIX_MAX is out */
	bool pm_no_soft_reset; /* D3hot to D0 keeps the function's state (PMCSR bit 3) */
	/* what Keel last wrote to the device */
	u16 dev_cmd;
	u16 dev_devctl;
	u16 host_devctl; /* PCIe Device Control as the firmware left it */
	u16 host_cmd; /* the command register as the firmware left it */
	u8 shadow[PCI_CFG_LEGACY_SIZE]; /* the guest's header and capabilities */
	u8 wmask[PCI_CFG_LEGACY_SIZE]; /* bits of shadow the guest may write */
	u8 reset[PCI_CFG_LEGACY_SIZE]; /* shadow at power-on (vconfig_reset) */
	struct vconfig_msix_entry msix_tab[VCONFIG_MSIX_MAX];
};

/*
 * Take over function @s->bdf: with its memory/I/O decode and bus mastering
 * off, size its BARs (restoring them), read its header and build the
 * header and capability chain the guest sees (MSI, MSI-X, PCIe, power
 * management; no other capability, no extended one). The device is left
 * decoding its host BARs, bus mastering and INTx off. Returns 0, or
 * -KEEL_EINVAL with a console line naming the function for a function that
 * is absent, not type 0, or has a capability list or BAR layout that makes
 * no sense (its bus mastering then stays off).
 */
int vconfig_init(struct vconfig *vc, const struct vconfig_setup *s);

/*
 * A guest access to config offset @off (0-4095) of @size bytes (1, 2, 4).
 * An access not aligned to its size, of another size or past 4095 reads all
 * ones and its write is dropped; 0x100-0xfff read 0 (no extended
 * capabilities). Writes reach the device only as command (bus mastering,
 * INTx disable), status and PCIe device status (error bits, write 1 to
 * clear) and PCIe device control (the bits vconfig.c says are safe).
 */
u32 vconfig_read(const struct vconfig *vc, u32 off, u32 size);
void vconfig_write(struct vconfig *vc, u32 off, u32 size, u32 val, struct vconfig_events *ev);

/*
 * A guest access to the MSI-X table, @off from its start, of 4 or 8 bytes
 * aligned to the size. Anything else, past the table or beyond
 * VCONFIG_MSIX_MAX entries, reads all ones and its write is dropped. The
 * device's table is never written here: the caller programs it.
 */
u64 vconfig_msix_table_read(struct vconfig *vc, u64 off, u32 size);
void vconfig_msix_table_write(struct vconfig *vc, u64 off, u32 size, u64 val,
			      struct vconfig_events *ev);

/* Entry @i as the guest wrote it, or NULL beyond the entries kept. */
const struct vconfig_msix_entry *vconfig_msix_entry(const struct vconfig *vc, u32 i);

/*
 * true if BAR @i should be mapped now: implemented, decoded by the guest,
 * mappable. The caller maps it at bar[i].gpa onto bar[i].hpa, less the
 * pages of the MSI-X table and PBA, which stay trapped.
 */
bool vconfig_bar_live(const struct vconfig *vc, u32 i);

/*
 * After the caller reset the function (FLR, or D3hot to D0 without
 * No_Soft_Reset): write its host BARs, command and device control back and
 * return the guest's view to power-on (decode off, BARs at 0, MSI and
 * MSI-X off, every entry masked, D0). *@ev says what changed.
 */
void vconfig_reset(struct vconfig *vc, struct vconfig_events *ev);

#endif /* KEEL_VCONFIG_H */
