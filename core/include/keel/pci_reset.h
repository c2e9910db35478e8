/* SPDX-License-Identifier: MIT */
/*
 * Resetting one host PCI function (vfio/reset.c): when it is assigned to a
 * partition, and again before it returns to the pool, with the best method
 * it supports and the config space the host set up saved around the reset.
 */
#ifndef KEEL_PCI_RESET_H
#define KEEL_PCI_RESET_H

#include <keel/abi.h>
#include <keel/pci.h>
#include <keel/types.h>

/* Reset methods, best first: pci_reset_methods() bits; pci_reset_result.method is one. */
#define PCI_RESET_FLR (1u << 0) /* PCIe Function Level Reset */
#define PCI_RESET_AF_FLR (1u << 1) /* FLR of the Advanced Features capability (conventional PCI) */
#define PCI_RESET_BUS (1u << 2) /* secondary bus reset at its bridge: the whole device */
#define PCI_RESET_PM (1u << 3) /* D3hot -> D0 of a function without No_Soft_Reset */

/* pci_reset_function() of a function without any method returns -PCI_RESET_ENOTSUP. */
#define PCI_RESET_ENOTSUP KEEL_ENOTSUP

/* The most functions one reset touches: a bus reset resets every function of the device. */
#define PCI_RESET_FNS 8u

/* pci_reset_result.flags */
#define PCI_RESET_PENDING (1u << 0) /* the FLR started with transactions still pending */

/* What a reset did, for the operator's log line and the management listing. */
struct pci_reset_result {
	u32 methods; /* PCI_RESET_* the function supports */
	u32 method; /* the one used, 0 if none */
	u64 ns; /* from quiescing the function to its config being restored (or the failure) */
	u32 others; /* other functions of the device reset with it (a bus reset) */
	u32 flags; /* PCI_RESET_PENDING */
};

/*
 * The reset methods function @funcs[@index] supports (PCI_RESET_*), read
 * from its config space without resetting anything: PCIe FLR (Device
 * Capabilities), Advanced Features FLR, a bus reset if it sits on the
 * secondary bus of a bridge Keel followed and every function on that bus
 * belongs to its device and isolation group, D3hot -> D0 if its PM
 * capability does not set No_Soft_Reset. Only type 0 functions (endpoints)
 * are reset: a bridge or host bridge has none. 0 for bad arguments.
 */
u32 pci_reset_methods(const struct pci_cfg_ops *ops, void *ctx, const struct pci_func *funcs,
		      u32 nfuncs, u32 index);

/*
 * Reset @funcs[@index] (@funcs: the boot enumeration's records, @nfuncs of
 * them) with the best method it supports. Saves what the host set up (BARs,
 * expansion ROM, command, cache line size, latency timer, interrupt line,
 * PCIe Device Control, Link Control, Device Control 2), turns off decode and
 * bus mastering, resets, waits as the spec requires and until the function
 * answers with its own IDs again, then restores all that with bus mastering
 * left off (the partition's guest turns it on). A bus reset does this for
 * every function of the device (they share its isolation group).
 *
 * Busy-waits with arch_time_ns(): from 20 ms (D3hot->D0) and 100 ms (FLR)
 * to about 1 s (a bus reset of conventional PCI) when the device behaves,
 * at most about 2.1 s when it does not. The caller keeps others off the
 * function and its bridge meanwhile, and has the IOMMU block its DMA.
 *
 * Returns 0; -PCI_RESET_ENOTSUP if it supports no method (or does not
 * answer at all); -KEEL_ETIMEDOUT if it (or its link) did not come back;
 * -KEEL_EIO if a function of the device stopped answering before the reset,
 * refused D3hot, stayed out of D0 or came back as another device;
 * -KEEL_EINVAL for bad arguments.
 * Every error but the last prints one console line naming the function; a
 * function that failed is left with decode and bus mastering off, its
 * config not restored. @out is filled in every case.
 */
int pci_reset_function(const struct pci_cfg_ops *ops, void *ctx, const struct pci_func *funcs,
		       u32 nfuncs, u32 index, struct pci_reset_result *out);

/* "FLR", "AF FLR", "bus reset", "D3hot->D0" for one PCI_RESET_* bit; "none" otherwise. */
const char *pci_reset_method_name(u32 method);

#endif /* KEEL_PCI_RESET_H */
