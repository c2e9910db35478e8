/* SPDX-License-Identifier: MIT */
/*
 * The x86 IOMMU tables: ACPI DMAR (Intel VT-d, arch/x86_64/dmar.c) and IVRS
 * (AMD-Vi, arch/x86_64/ivrs.c). Each parser checks every length and offset
 * against the table before it reads a field, and hands each unit it finds to
 * iommu_add() (keel/iommu.h). Host unit tests run both on hostile tables.
 */
#ifndef KEEL_X86_ACPI_IOMMU_H
#define KEEL_X86_ACPI_IOMMU_H

#include <keel/types.h>

struct keel_boot_info;

/*
 * @table: the whole table, its header included, @len bytes (its header's
 * length, already checked against the mapping and the checksum). Returns
 * the number of units handed to iommu_add(); a malformed table or entry
 * gets a console line naming the table, the offset and the cause, and is
 * skipped from there (units already complete stay).
 */
u32 dmar_parse(const struct keel_boot_info *bi, const void *table, u32 len);
u32 ivrs_parse(const struct keel_boot_info *bi, const void *table, u32 len);

/*
 * An IOAPIC's requester ID, from a DMAR device scope of type IOAPIC or an
 * IVRS special device entry: its interrupts reach the IOMMU whose registers
 * are at @unit_base as requester @rid of segment @seg, and its remapping
 * entries must name that requester (arch/x86_64/ioapic.c keeps them, by
 * IOAPIC ID).
 */
void x86_ioapic_source(u8 ioapic_id, u16 seg, u16 rid, hpa_t unit_base);

#endif /* KEEL_X86_ACPI_IOMMU_H */
