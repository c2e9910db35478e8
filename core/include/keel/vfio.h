/* SPDX-License-Identifier: MIT */
/*
 * PCI functions given to partitions (vfio/assign.c): who owns which host
 * function, the checks that decide whether it may be given, and the
 * partition's DMA domain (keel/iommu.h), which maps exactly its memory.
 *
 * The order that keeps memory safe: a partition's functions are attached
 * only after its memory is mapped in its domain; on teardown they are
 * detached (DMA blocked, the units flushed) before its memory is unmapped,
 * scrubbed and freed. Memory plugged or unplugged while it runs follows the
 * same rule: mapped for DMA after stage 2, unmapped before it is freed.
 */
#ifndef KEEL_VFIO_H
#define KEEL_VFIO_H

#include <keel/types.h>

struct partition;
struct pdesc;
struct pci_func;

/*
 * Why the PCI entry @i of @desc (KEEL_DEV_PCI) cannot be given to partition
 * @self (NULL: a description not yet built), or NULL: no such function, a
 * bridge or host bridge or IOMMU, no IOMMU translating it, owned by another
 * partition, or in an isolation group with a function another partition owns.
 */
const char *vfio_refusal(const struct pdesc *desc, u32 i, const struct partition *self);

/*
 * keel.cfg at boot: every PCI entry of every partition checked against the
 * host and each other (the same function, or one isolation group, in two
 * partitions). Problems are printed as "keel.cfg:LINE: ..." when the loader
 * gave the line. Returns true if all may be given.
 */
struct keel_boot_info;
bool vfio_boot_check(const struct keel_boot_info *bi);

/*
 * Building @part (its memory mapped): take its PCI functions, build its
 * domain with its memory, attach them. 0, or -KEEL_ENODEV / -KEEL_EBUSY /
 * -KEEL_ENOMEM with a console line naming the function; nothing is kept.
 */
int vfio_assign(struct partition *part);

/* Tearing @part down, before its memory goes: detach, bus mastering off, release. */
void vfio_release(struct partition *part);

/*
 * ASSIGN to @part, built but not started: its description's entry @i (a
 * KEEL_DEV_PCI entry just added) joins the functions it holds, as if CREATE
 * had named it. 0, or vfio_assign's errors; on error @part keeps what it had
 * (the caller takes the entry out again).
 */
int vfio_add(struct partition *part, u32 i);

/*
 * RELEASE from @part, built but not started: function @f leaves it (bus
 * mastering off, detached, reset) and returns to the pool. -KEEL_ENOENT if
 * @part does not hold it. The caller takes its entry out of the description.
 */
int vfio_remove(struct partition *part, const struct pci_func *f);

/* Memory plugged into / unplugged from a running @part (after / before stage 2). */
int vfio_dma_map(struct partition *part, gpa_t gpa, hpa_t hpa, u64 size);
void vfio_dma_unmap(struct partition *part, gpa_t gpa, u64 size);

/* The partition that owns function @f (NULL: none, or @f is NULL). Any CPU, no lock. */
const struct partition *vfio_owner(const struct pci_func *f);

/*
 * A config access of @part's guest to function @vbdf of its PCI bus (the
 * arch's mechanism: ports 0xcf8/0xcfc, ECAM): false if it has no function
 * there (the arch answers: its host bridge, or all ones).
 */
bool vfio_cfg_read(struct partition *part, u16 vbdf, u16 off, u32 size, u32 *val);
bool vfio_cfg_write(struct partition *part, u16 vbdf, u16 off, u32 size, u32 val);

/*
 * The guest's ECAM (vfio/vecam.c): a device model for an MMIO window of
 * KEEL_PCI_ECAM_SIZE at KEEL_PCI_ECAM_BASE, bus 0 (its ops, or its read and
 * write handlers for an arch's own ops); its host bridge's configuration
 * dword at @reg (read-only), and all ones of @size bytes.
 */
struct vdev;
struct vdev_ops;
struct vcpu;
extern const struct vdev_ops vfio_ecam_ops;
int vfio_ecam_read(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 *val);
int vfio_ecam_write(struct vdev *dev, struct vcpu *vcpu, u64 off, u32 size, u64 val);
u32 vfio_hostb_dword(u32 reg);
u64 vfio_cfg_ones(u32 size);

/*
 * An access of @part's guest that neither stage 2 nor a device model
 * completed (core/vcpu.c): the pages of one of its functions' MSI-X table
 * and PBA, which Keel keeps (vfio/msix.c)? @val is read into or written
 * from. False for anything else: the access is outside its memory.
 */
bool vfio_bar_access(struct partition *part, gpa_t gpa, u32 size, bool write, u64 *val);

/* Whether function @f is of a kind a partition may be given (owned or not). */
bool vfio_assignable(const struct pci_func *f);

/* The name of the partition that owns function @f, or NULL. */
const char *vfio_owner_name(const struct pci_func *f);

/*
 * INTx of partitions' functions (vfio/intx.c). fired: the arch's handler of
 * host line @line (x86_64: a GSI), on any CPU with interrupts off; each
 * function that asserts INTx there is held off at the device and its
 * guest's line raised. False once the line has fired too often in a row for
 * no function: the arch keeps it masked from then on. eoi: @part's guest
 * ended the interrupt of its line @virq (the controller model lowered it);
 * the function may interrupt again. Any CPU, no lock of the model held.
 */
bool vfio_intx_fired(u32 line);

/*
 * Where @part's functions' INTx go, for its firmware tables (x86_64: the
 * DSDT's _PRT): up to @max of { device number on its bus, pin 1-4, its
 * guest's line }. Returns how many; none where INTx is not offered.
 */
struct vfio_intx_route {
	u8 slot;
	u8 pin;
	u16 pad;
	u32 virq;
};
u32 vfio_intx_routes(const struct partition *part, struct vfio_intx_route *out, u32 max);
void vfio_intx_eoi(struct partition *part, u32 virq);

#endif /* KEEL_VFIO_H */
