/* SPDX-License-Identifier: MIT */
/*
 * The IOMMUs (vfio/iommu.c and one driver per kind: vfio/vtd.c, vfio/amdvi.c,
 * vfio/smmuv3.c).
 *
 * Platform discovery describes each unit (ACPI DMAR and IVRS on x86, parsed
 * by arch/x86_64/dmar.c and ivrs.c; the device tree's arm,smmu-v3 nodes and
 * the PCI host bridges' iommu-map on aarch64) with iommu_add(); iommu_init() then
 * brings every unit up, before any partition runs, with tables that block
 * every requester: default deny. A requester ID reaches memory only once it
 * is attached to a domain, and a domain maps only a partition's RAM, with
 * IOVA = guest-physical. Keel's own memory is in no domain, ever.
 *
 * Keel keeps the IOMMU's tables apart from the CPU's nested tables: the
 * formats differ (AMD-Vi's next-level field, NPT's x86 page-table bits under
 * VT-d), and a DMA view holds RAM only, never the MMIO pages Keel emulates.
 */
#ifndef KEEL_IOMMU_H
#define KEEL_IOMMU_H

#include <keel/pt.h>
#include <keel/types.h>

#define IOMMU_MAX_UNITS 8u
#define IOMMU_MAX_SCOPES 32u /* device scope entries kept per unit */
#define IOMMU_MAX_PATH 8u /* VT-d scope path: bridges crossed, endpoint included */
#define IOMMU_MAX_RESERVED 16u /* firmware-reserved DMA regions (VT-d RMRR) kept */

enum iommu_kind {
	IOMMU_VTD = 1,
	IOMMU_AMDVI = 2,
	IOMMU_SMMUV3 = 3,
};

/*
 * Which requesters a scope entry names.
 *  PATH:   VT-d: start bus, then (device, function) per hop; the last hop
 *          is the function, every earlier one a bridge whose secondary bus
 *          the next hop sits on. @bridge: the function is a bridge, and the
 *          whole bus range below it is in scope too.
 *  RANGE:  AMD-Vi: requester IDs [first, last], each DMAing as @alias (or
 *          as itself if !@aliased).
 *          SMMUv3: requester IDs [first, last] (an iommu-map entry), whose
 *          stream IDs start at @stream: rid's is @stream + (rid - @first).
 */
enum iommu_scope_kind {
	IOMMU_SCOPE_PATH = 1,
	IOMMU_SCOPE_RANGE = 2,
};

struct iommu_scope {
	u8 kind; /* enum iommu_scope_kind */
	u8 bridge; /* PATH: a bridge, its subordinate buses included */
	u8 start_bus; /* PATH */
	u8 path_len; /* PATH: 1..IOMMU_MAX_PATH hops */
	u8 path[IOMMU_MAX_PATH][2]; /* PATH: device, function per hop */
	u16 first; /* RANGE */
	u16 last; /* RANGE */
	u16 alias; /* RANGE */
	u8 aliased; /* RANGE */
	u8 pad;
	u32 stream; /* RANGE, SMMUv3: the stream ID of @first */
};

/* A DMA region the firmware asks to keep mapped for a device (VT-d RMRR). */
struct iommu_reserved {
	hpa_t base;
	u64 size;
	u16 seg;
	u8 start_bus;
	u8 path_len;
	u8 path[IOMMU_MAX_PATH][2];
};

struct iommu_ops;

/* An MSI as a device writes it: address and data. */
struct iommu_msi {
	u64 addr;
	u32 data;
	u32 pad;
};

#define IOMMU_IRTES 256u /* interrupt remapping entries Keel keeps per unit */

/*
 * One unit. Discovery fills the description (kind .. scopes); iommu_init()
 * the rest. @regs is where the arch mapped the register block (uncached).
 */
struct iommu_unit {
	u8 kind; /* enum iommu_kind */
	u8 include_all; /* VT-d INCLUDE_PCI_ALL: every requester of @seg no other unit names */
	u16 seg;
	u16 rid; /* AMD-Vi: the IOMMU's own PCI function, which Keel leaves alone */
	u16 flags; /* kind-specific bits from the table (IVHD flags, DRHD flags) */
	hpa_t base; /* register block, physical */
	u64 size; /* its length */
	u32 scope_count;
	u32 index; /* position in the unit list, for console lines */
	u32 irq; /* SMMUv3: the wired event-queue interrupt (GIC INTID), 0 if none */
	struct iommu_scope scopes[IOMMU_MAX_SCOPES];
	/* iommu_init */
	const struct iommu_ops *ops;
	volatile void *regs;
	void *priv; /* the driver's state */
	bool on; /* translating with default deny */
	u64 faults; /* faults logged */
	u64 irte_used[IOMMU_IRTES / 64]; /* remapping entries taken (iommu_irq_alloc) */
};

/* What a domain's page table on one unit hands its flush (pt.sync). */
struct iommu_domain;
struct iommu_pt_ctx {
	struct iommu_domain *d;
	struct iommu_unit *u;
};

/*
 * A partition's DMA view: one page table per enabled unit in the unit's own
 * format, each mapping the same IOVA = guest-physical ranges (its RAM and
 * plugged memory, nothing else). @id is the domain ID every unit tags its
 * caches with: 1 .. 255 (QEMU 7.2's AMD-Vi takes no more).
 */
struct iommu_domain {
	u16 id;
	u16 pad;
	u32 attached; /* requester IDs attached, over all units */
	struct pt pt[IOMMU_MAX_UNITS];
	struct iommu_pt_ctx ctx[IOMMU_MAX_UNITS];
};

/*
 * A driver. Every call runs with the unit's lock held by vfio/iommu.c, so a
 * driver needs none of its own.
 *
 * enable:  allocate the unit's tables, make every requester blocked, turn
 *          translation on and fault reporting; 0 or -KEEL_E*, with a console
 *          line naming the unit (the unit then stays off: see iommu_init).
 * format:  the page-table format of this unit's domains (levels from its
 *          capabilities), for struct pt.
 * attach:  point requester @rid at @d's table on this unit; returns once the
 *          unit uses nothing it cached for @rid before.
 * detach:  back to blocked, with the same guarantee.
 * flush:   the unit holds no translation of [iova, iova + size) in @d made
 *          before the call (pt's sync).
 * faults:  log and clear what the unit recorded; returns how many.
 */
struct iommu_ops {
	const char *name;
	int (*enable)(struct iommu_unit *u);
	const struct pt_format *(*format)(const struct iommu_unit *u);
	int (*attach)(struct iommu_unit *u, struct iommu_domain *d, u16 rid);
	int (*detach)(struct iommu_unit *u, struct iommu_domain *d, u16 rid);
	void (*flush)(struct iommu_unit *u, struct iommu_domain *d, u64 iova, u64 size);
	/*
	 * Interrupt remapping (NULL: not offered): entry @index of the unit's
	 * table sends MSIs from requester @rid to @apic_id's @vector (fixed,
	 * edge, physical destination; on aarch64 the core @apic_id's LPI
	 * @vector, through the GIC's ITS); *@msi is the address and data the
	 * device must write for it. irte_clear blocks the entry again; both
	 * return once the unit's interrupt entry cache no longer has the old.
	 * x86 units refuse a vector above 255.
	 */
	int (*irte_set)(struct iommu_unit *u, u16 rid, u32 index, u32 apic_id, u32 vector,
			struct iommu_msi *msi);
	void (*irte_clear)(struct iommu_unit *u, u16 rid, u32 index);
	u32 (*faults)(struct iommu_unit *u);
};

extern const struct iommu_ops vtd_ops;
extern const struct iommu_ops amdvi_ops;
extern const struct iommu_ops smmuv3_ops;

/*
 * Platform discovery: record a unit (copied). Refused with a console line
 * (-KEEL_EINVAL) for a register block that is not page aligned, wraps or
 * overlaps RAM or another unit; -KEEL_ENOSPC beyond IOMMU_MAX_UNITS.
 */
struct keel_boot_info;
int iommu_add(const struct keel_boot_info *bi, const struct iommu_unit *desc);
/* A firmware-reserved region (kept for the console report; never mapped). */
int iommu_add_reserved(const struct iommu_reserved *r);

/* The @i-th recorded unit, or NULL (the arch maps each register block). */
const struct iommu_unit *iommu_unit_at(u32 i);

/*
 * After pci_init(), before any partition: enable every unit (default deny),
 * then log which unit covers each PCI function. A function no enabled unit
 * covers can never be assigned. Without units it logs nothing.
 */
void iommu_init(void);

/* The enabled unit whose registers are at @base, or NULL. */
struct iommu_unit *iommu_unit_at_base(hpa_t base);

/* The enabled unit that translates requester @rid of segment @seg, or NULL. */
struct iommu_unit *iommu_unit_for(u16 seg, u16 rid);

/*
 * A driver's wait for its unit: @check(@u, @arg) is polled until it says done
 * (> 0) or failed (< 0, returned as it is), for at most IOMMU_TIMEOUT_NS;
 * after that, one last check, then -KEEL_ETIMEDOUT and a console line
 * "iommu N (KIND): did not @what within 1000 ms".
 */
#define IOMMU_TIMEOUT_NS 1000000000ull /* 1 s: far beyond any real unit */
int iommu_poll(const struct iommu_unit *u,
	       int (*check)(const struct iommu_unit *u, const void *arg), const void *arg,
	       const char *what);

/*
 * A driver's report of one recorded fault: requester @rid of @u's segment,
 * the DMA address, read or write, and the cause in words. vfio/iommu.c logs
 * it naming the device and the partition that owns it (or none), counts it,
 * and applies the fault policy.
 */
void iommu_fault_report(struct iommu_unit *u, u16 rid, u64 addr, bool write, const char *why);

/*
 * Domains (vfio/assign.c drives them). init: an empty table on every
 * enabled unit; map/unmap: the same range on all of them, each unit
 * flushed before the call returns (an unmapped range is unreachable by any
 * device then, so its memory may be scrubbed and reused); attach/detach:
 * requester @rid of unit @u's segment; destroy: once nothing is attached.
 * All 0 or -KEEL_E*.
 */
int iommu_domain_init(struct iommu_domain *d, u16 id);
int iommu_domain_map(struct iommu_domain *d, u64 iova, hpa_t hpa, u64 size);
/* The MSI doorbell @page (arch_msi_doorbell) at IOVA = @page, as device memory. */
int iommu_domain_map_doorbell(struct iommu_domain *d, hpa_t page);
void iommu_domain_unmap(struct iommu_domain *d, u64 iova, u64 size);
int iommu_domain_attach(struct iommu_domain *d, struct iommu_unit *u, u16 rid);
int iommu_domain_detach(struct iommu_domain *d, struct iommu_unit *u, u16 rid);
void iommu_domain_destroy(struct iommu_domain *d);

/* Log and clear every unit's recorded faults (the fault interrupt). */
void iommu_fault_event(void);

/*
 * An MSI of requester @rid behind @u, remapped to @apic_id's @vector: a
 * free entry of @u's table is taken and set, *@msi is what the device must
 * write, *@index the entry for iommu_irq_free. -KEEL_ENOTSUP if @u does not
 * remap interrupts, -KEEL_ENOSPC if its entries are all taken.
 */
int iommu_irq_alloc(struct iommu_unit *u, u16 rid, u32 apic_id, u32 vector, struct iommu_msi *msi,
		    u32 *index);
void iommu_irq_free(struct iommu_unit *u, u16 rid, u32 index);

/*
 * The message a unit's fault interrupt writes (arch code): false if the
 * arch has none, and faults are then found by iommu_fault_event() alone.
 * x86: a fixed interrupt to the boot CPU, whose handler calls
 * iommu_fault_event().
 */
bool arch_iommu_fault_msi(struct iommu_msi *msi);

/*
 * A unit's wired fault interrupt (arch code): route interrupt @irq (a GIC
 * SPI, edge-triggered) to the boot CPU, whose handler calls
 * iommu_fault_event(). False if the arch has no such route (x86): faults
 * are then read only when something calls iommu_fault_event().
 */
bool arch_iommu_fault_irq(u32 irq);

#endif /* KEEL_IOMMU_H */
