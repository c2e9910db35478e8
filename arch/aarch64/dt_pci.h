/* SPDX-License-Identifier: MIT */
/*
 * Reading the firmware's device tree (arch/aarch64/dt_pci.c, host tested):
 * the reg and status helpers platform.c shares, and the discovery of the PCI
 * ECAM windows and SMMUv3s. Core never includes this header.
 */
#ifndef KEEL_ARCH_AARCH64_DT_PCI_H
#define KEEL_ARCH_AARCH64_DT_PCI_H

#include <keel/boot_info.h>
#include <keel/types.h>

/* @cells big-endian cells at @p (any alignment) as one number; @cells 0..2. */
u64 dt_read_cells(const void *p, int cells);

/*
 * Entry @idx of the reg property of @node, with its parent's #address-cells
 * and #size-cells, translated through every parent bus's ranges into the
 * CPU's address space. Returns 0, or -KEEL_EINVAL if the property is
 * missing, too short, or uses cells we cannot represent, or if a bus on the
 * way has no ranges or none that holds the whole of it.
 */
int dt_reg(const void *fdt, int node, int idx, u64 *base, u64 *size);

/* @node is in use: no status property, or status "okay" / "ok" (as Linux reads it). */
bool dt_node_enabled(const void *fdt, int node);

/*
 * Every enabled pci-host-ecam-generic node to pci_ecam_add(), then every
 * enabled arm,smmu-v3 node to iommu_add() as an IOMMU_SMMUV3 unit: its
 * register block, its "eventq" SPI, and one scope per host bridge iommu-map
 * entry that names it. Boot, boot CPU, @fdt already checked by
 * fdt_check_header(). A node or entry the tree describes badly is skipped
 * with a console line naming it; nothing here fails the boot.
 */
void dt_pci_discover(const struct keel_boot_info *bi, const void *fdt);

/*
 * The host lines (GIC INTIDs of level-high SPIs) the host bridges'
 * interrupt-map routes PCI INTx to, as dt_pci_discover() found them: up to
 * @max into @out; how many. A bridge whose map names anything else gives
 * none (with a console line).
 */
u32 dt_pci_intx_lines(u32 *out, u32 max);

/*
 * Every host bridge dt_pci_discover() took sends its functions' MSIs to a
 * GICv3 ITS with DeviceID = requester ID (segment 0; msi-map the identity,
 * or msi-parent an ITS), as Keel maps them. False: none is offered, each
 * bridge that does not said so on the console.
 */
bool dt_pci_msi_rid_is_devid(void);

#endif /* KEEL_ARCH_AARCH64_DT_PCI_H */
