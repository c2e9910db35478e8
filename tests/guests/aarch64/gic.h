/* SPDX-License-Identifier: MIT */
/* The guest side of the vGICv3 for the arm64 conformance guests (gic.c). */
#ifndef KEEL_TEST_GUEST_GIC_H
#define KEEL_TEST_GUEST_GIC_H

#include "guest.h"

/*
 * Affinity routing on, both groups enabled, vCPU 0's redistributor awake,
 * the PPIs in @ppi_mask enabled in group 1, every priority let through;
 * IRQs go to @handler (trap_install). PSTATE.I stays set.
 */
void gic_guest_init(uint32_t ppi_mask, bool (*handler)(struct trap *t));

/*
 * On vCPU @cpu itself: its redistributor awake, the SGIs and PPIs in @mask
 * enabled in group 1, every priority let through. PSTATE.I stays set.
 */
void gic_cpu_init(uint32_t cpu, uint32_t mask);

/* This vCPU's affinity (MPIDR_EL1's Aff3..Aff0, where GICD_IROUTER takes them). */
uint64_t gic_affinity(void);

/*
 * SPI @intid (32 and up) at the distributor: group 1, priority @prio,
 * level-sensitive, routed to this vCPU (gic_affinity(), IRM = 0), then
 * enabled. True if every one of those reads back and the distributor has
 * affinity routing and group 1 on (gic_guest_init() turns them on).
 */
bool gic_spi_enable(uint32_t intid, uint8_t prio);

/* SPI @intid disabled at the distributor (GICD_ICENABLER). */
void gic_spi_disable(uint32_t intid);

/* ICC_IAR1_EL1 (acknowledge) and ICC_EOIR1_EL1 (end, for an INTID below 1020). */
uint64_t gic_ack(void);
void gic_eoi(uint64_t iar);

/* GICR_ISPENDR0 / GICR_ICPENDR0 of vCPU 0 for PPI @ppi. */
bool gic_ppi_pending(uint32_t ppi);
void gic_ppi_clear_pending(uint32_t ppi);

/* PSTATE.I clear (@on) or set. */
void irqs(bool on);

/* With IRQs unmasked for at most @ms: did *@count move from @before? IRQs masked after. */
bool irq_arrives(volatile uint32_t *count, uint32_t before, uint32_t ms);

#endif
