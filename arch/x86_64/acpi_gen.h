/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables Keel writes for each Linux partition (RSDP, XSDT, FADT, FACS,
 * MADT, DSDT with the virtio-mmio devices). Pure code, unit-tested on the host.
 */
#ifndef KEEL_X86_ACPI_GEN_H
#define KEEL_X86_ACPI_GEN_H

#include <keel/types.h>

#define ACPI_GEN_MAX_CPUS 64u
#define ACPI_GEN_MAX_VIRTIO 8u
#define ACPI_GEN_MAX_SIZE 8192u /* the blob never grows past this */

struct acpi_gen_cfg {
	u64 base; /* guest-physical address of the blob (16-byte aligned) */
	u32 cpu_count; /* APIC IDs 0..cpu_count-1 */
	u32 virtio_count;
	u64 virtio_base[ACPI_GEN_MAX_VIRTIO];
	u32 virtio_size[ACPI_GEN_MAX_VIRTIO];
	u32 virtio_gsi[ACPI_GEN_MAX_VIRTIO];
	u64 lapic_base, ioapic_base;
	u16 pm1_evt, pm1_cnt, pm_tmr, reset_port;
	u8 reset_value, sci_irq, s5_typ;
	u8 pad;
};

/*
 * Build the tables into @buf (@size bytes) as they will sit at cfg->base; the
 * RSDP is at offset 0. Returns the bytes used, or 0 if @cfg is out of range
 * or @buf too small.
 */
u32 acpi_gen_build(const struct acpi_gen_cfg *cfg, u8 *buf, u32 size);

#endif /* KEEL_X86_ACPI_GEN_H */
