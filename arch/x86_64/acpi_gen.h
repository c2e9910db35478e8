/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables Keel writes for each Linux partition (RSDP, XSDT, FADT, FACS,
 * MADT, DSDT with the virtio-mmio devices; MCFG and a PCI host bridge when it
 * has PCI functions). Pure code, unit-tested on the host.
 */
#ifndef KEEL_X86_ACPI_GEN_H
#define KEEL_X86_ACPI_GEN_H

#include <keel/types.h>

#define ACPI_GEN_MAX_CPUS 64u
#define ACPI_GEN_MAX_VIRTIO 8u
#define ACPI_GEN_MAX_PCI 8u
#define ACPI_GEN_MAX_SIZE 16384u /* the blob never grows past this (64 hot-pluggable CPUs fit) */

struct acpi_gen_cfg {
	u64 base; /* guest-physical address of the blob (16-byte aligned) */
	u32 cpu_count; /* APIC IDs 0..cpu_count-1 */
	u32 virtio_count;
	/*
	 * CPU hotplug (0: none, every CPU enabled in the MADT). Else the MADT
	 * enables the CPUs of @cpu_enabled only, and the DSDT has a processor
	 * device per CPU whose _STA reads bit 0 of its status port
	 * (@cpuhp_port + its number), whose _EJ0 writes 8 there, and a GPE0
	 * block at @gpe0_port whose event 2 (_E02) scans the ports: bit 1 is a
	 * CPU to add (Notify 1), bit 2 one to eject (Notify 3), each cleared by
	 * writing it back.
	 */
	u32 cpu_hotplug;
	u16 gpe0_port, cpuhp_port;
	u64 cpu_enabled;
	u64 virtio_base[ACPI_GEN_MAX_VIRTIO];
	u32 virtio_size[ACPI_GEN_MAX_VIRTIO];
	u32 virtio_gsi[ACPI_GEN_MAX_VIRTIO];
	/*
	 * PCI (0: none): ECAM for bus 0 at @pci_ecam (1 MiB, named by the MCFG),
	 * and the DSDT's host bridge \_SB.PCI0 (PNP0A08) with bus 0, ports
	 * 0xcf8-0xcff and the memory window [@pci_mmio_base, + @pci_mmio_size).
	 */
	u64 pci_ecam, pci_mmio_base, pci_mmio_size;
	/* The functions' INTx in the host bridge's _PRT: device @slot's @pin (1-4) is GSI @gsi. */
	u32 pci_intx_count;
	struct acpi_gen_intx {
		u8 slot, pin, gsi, pad;
	} pci_intx[ACPI_GEN_MAX_PCI];
	/* The management partition's WATCH interrupt: device KEEL0001 on GSI @mgmt_event_gsi, edge. */
	u32 mgmt_event, mgmt_event_gsi;
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
