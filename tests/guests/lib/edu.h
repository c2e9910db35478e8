/* SPDX-License-Identifier: MIT */
/*
 * The test guests' driver of QEMU's edu (PCI 1234:11e8; QEMU docs/specs/edu.txt)
 * given with keel.cfg pci =: its arch-neutral part (lib/edu.c) and the hooks
 * each arch gives it (<arch>/edu.c, which also has arch_edu_drive()).
 */
#ifndef KEEL_GUEST_EDU_H
#define KEEL_GUEST_EDU_H

#include "guest.h"

#define PCI_COMMAND 0x04u
#define PCI_STATUS 0x06u
#define PCI_COMMAND_MEMORY 0x2u
#define PCI_COMMAND_MASTER 0x4u
#define PCI_CAP_ID_MSI 0x05u
#define MSI_CTRL 2u /* the MSI capability's control, and its bits */
#define MSI_ENABLE 0x1u
#define MSI_64BIT 0x80u

#define EDU_BAR_SIZE (1ull << 20)
#define EDU_IRQ_STATUS 0x24u
#define EDU_IRQ_RAISE 0x60u /* ORs the value into the status and interrupts */
#define EDU_IRQ_ACK 0x64u /* clears those bits */

#define EDU_POLLS 1000000u /* each a register read and delay(1): well over the DMA's 100 ms */

/* --- lib/edu.c --- */

/* One check line, "edu: check NAME: DETAIL ok" (or WRONG), counted for edu_passed(). */
bool edu_check(const char *name, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Register @reg of the edu's BAR0, once edu_run() has mapped it. */
uint32_t edu_read(unsigned int reg);
void edu_write(unsigned int reg, uint32_t v);

/* The offset of capability @id in the list of 00:@dev.0 (at most 48 hops), or 0. */
unsigned int edu_pci_find_cap(unsigned int dev, uint8_t id);

/*
 * What every arch checks, polled: the edu found at some 00:xx.0, its BAR0 a
 * 32-bit memory BAR in the guest's PCI window [@window, @window_end), memory
 * decode on and bus mastering off as Keel left them; BAR0 mapped
 * (edu_bar_map()); its registers and a factorial; bus mastering on, DMA both
 * ways between RAM [@ram_base, +@ram_size) and the device at guest-physical
 * addresses (IOVA = GPA), and one beyond RAM that the IOMMU must block.
 * *@dev gets its device number. False if there is no edu or no usable BAR0:
 * nothing more to drive.
 */
bool edu_run(uint64_t window, uint64_t window_end, uint64_t ram_base, uint64_t ram_size,
	     unsigned int *dev);

/* No check has failed since edu_run() began. */
bool edu_passed(void);

/*
 * From the arch's interrupt handler, once it knows the interrupt is the
 * edu's (before its EOI): read what the device raised, acknowledge that at
 * the device (which lowers INTx), count it.
 */
void edu_irq_take(void);

/* Interrupts edu_irq_take() has counted, and the status the last one read. */
uint64_t edu_irq_count(void);
uint32_t edu_irq_status(void);

/* Wait (bounded, interrupts on) until @want interrupts have come: whether they did. */
bool edu_irq_wait(uint64_t want);

/*
 * The "msi" check, with MSI just turned on (aimed at @kind @n: "vector",
 * "INTID"): interrupts on, a raise arrives once with the status it set.
 * Whether it came.
 */
bool edu_msi_arrives(const char *kind, unsigned int n);

/*
 * The "msi-off" check, with MSI just turned off: a raise reaches nobody and
 * the status stays set; then interrupts off and the status acknowledged.
 */
void edu_msi_silent(void);

/*
 * The "intx-pin" check: 00:@dev.0's Interrupt Pin is INTA and its Interrupt
 * Line is the arch's first PCI line @first + @dev - 1 (@kind names it: "GSI",
 * "SPI"). *@line gets what Interrupt Line holds.
 */
bool edu_intx_line(unsigned int dev, unsigned int first, const char *kind, unsigned int *line);

/*
 * With MSI off and line @line (of @kind) routed to this vCPU, interrupts on
 * (edu_irqs()) and back off at the end: a raise comes as one interrupt, a
 * second one too ("intx", "intx-again"); with the guest's INTx Disable none
 * comes while the Status register says pending ("intx-disabled"); cleared,
 * the pending one comes ("intx-enabled").
 */
void edu_intx(unsigned int dev, const char *kind, unsigned int line);

/* --- arch hooks (<arch>/edu.c) --- */

/* Configuration space of 00:@dev.0, register @reg (naturally aligned). */
uint32_t edu_cfg_read32(unsigned int dev, unsigned int reg);
uint16_t edu_cfg_read16(unsigned int dev, unsigned int reg);
void edu_cfg_write16(unsigned int dev, unsigned int reg, uint16_t v);

/*
 * Make BAR0 at [@base, +@size) reachable uncached by loads and stores, none
 * of RAM [@ram_base, @ram_end) with it, and print its "map" check line.
 * False if it cannot be (edu_run() stops there).
 */
bool edu_bar_map(uint64_t base, uint64_t size, uint64_t ram_base, uint64_t ram_end);

/*
 * Order this CPU's accesses to RAM against the device's DMA: before the
 * command that starts one (the source written), and after it is seen done
 * (the destination read). x86_64: MFENCE; aarch64: DSB SY.
 */
void edu_dma_barrier(void);

/* Take interrupts on this vCPU (@on) or not: x86_64 STI / CLI; aarch64 PSTATE.I. */
void edu_irqs(bool on);

#endif /* KEEL_GUEST_EDU_H */
