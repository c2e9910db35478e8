/* SPDX-License-Identifier: MIT */
/*
 * The AMD-Vi IOMMU driver (AMD I/O Virtualization Technology): a device
 * table that blocks every requester until it is attached to a domain, the
 * command buffer and event log, and the host (v1) page-table format.
 */
#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/iommu.h>
#include <keel/pci.h>
#include <keel/pmm.h>

/* MMIO registers, as offsets in the unit's register block. */
#define AMDVI_DEVTAB_BASE 0x0000
#define AMDVI_CMDBUF_BASE 0x0008
#define AMDVI_EVTLOG_BASE 0x0010
#define AMDVI_CONTROL 0x0018
#define AMDVI_EXCL_BASE 0x0020
#define AMDVI_EXCL_LIMIT 0x0028
#define AMDVI_EFR 0x0030
#define AMDVI_CMDBUF_HEAD 0x2000
#define AMDVI_CMDBUF_TAIL 0x2008
#define AMDVI_EVTLOG_HEAD 0x2010
#define AMDVI_EVTLOG_TAIL 0x2018
#define AMDVI_STATUS 0x2020

/* The base registers: a table's address (bits 51:12) and its size. */
#define BASE_ADDR_MASK 0x000ffffffffff000ull
#define BASE_LEN_SHIFT 56 /* command buffer, event log: log2 of the entries */
#define PTR_MASK 0x7fff0ull /* head and tail pointers: a byte offset, bits 18:4 */

/* Control register. */
#define CTRL_IOMMU_EN BIT(0)
#define CTRL_HT_TUN_EN BIT(1)
#define CTRL_EVTLOG_EN BIT(2)
#define CTRL_EVT_INT_EN BIT(3)
#define CTRL_PASS_PW BIT(8)
#define CTRL_RES_PASS_PW BIT(9)
#define CTRL_COHERENT BIT(10) /* device table reads snoop the CPUs' caches */
#define CTRL_ISOC BIT(11)
#define CTRL_CMDBUF_EN BIT(12)

/* Status register: the first three are cleared by writing 1. */
#define STATUS_EVT_OVERFLOW BIT(0)
#define STATUS_EVT_INT BIT(1)
#define STATUS_COMWAIT_INT BIT(2)
#define STATUS_EVT_RUN BIT(3)

/* Extended feature register. */
#define EFR_IA_SUP BIT(6) /* INVALIDATE_IOMMU_ALL */
#define EFR_HATS_SHIFT 10 /* host table levels: 4 + HATS; 3 is reserved */
#define EFR_HATS_MASK 3u
#define EFR_HATS_NONE 3u

/* unit->flags: the IVHD flags, which say how to set the control register. */
#define IVHD_HT_TUN_EN BIT(0)
#define IVHD_PASS_PW BIT(1)
#define IVHD_RES_PASS_PW BIT(2)
#define IVHD_ISOC BIT(3)
#define IVHD_COHERENT BIT(5)

/* The IOMMU's own PCI function: its capability ("secure device") and MSI. */
#define AMDVI_CAP_ID 0x0f
#define AMDVI_CAP_EFR_SUP BIT(27) /* in the capability header: EFR exists */
#define MSI_CAP_ID 0x05
#define MSI_CTRL 2
#define MSI_ADDR_LO 4
#define MSI_ADDR_HI 8 /* 64-bit form */
#define MSI_DATA_32 8
#define MSI_DATA_64 12
#define MSI_MASK_32 12
#define MSI_MASK_64 16
#define MSI_CTRL_ENABLE BIT(0)
#define MSI_CTRL_MME (7u << 4) /* vectors enabled: 0 = one */
#define MSI_CTRL_64 BIT(7)
#define MSI_CTRL_PVM BIT(8) /* per-vector masking */

/*
 * Device table entry: 256 bits, four words. Word 0 holds everything that
 * lets a DMA through (V, TV, mode, root, IR, IW); word 1 the domain ID;
 * word 2 interrupt remapping.
 */
#define DTE_WORDS 4u
#define DTE_V BIT(0)
#define DTE_TV BIT(1)
#define DTE_MODE_SHIFT 9 /* levels of the page table; 0: none, IR/IW decide */
#define DTE_MODE_MASK (7ull << DTE_MODE_SHIFT)
#define DTE_ROOT_MASK 0x000ffffffffff000ull
#define DTE_IR BIT(61)
#define DTE_IW BIT(62)
#define DTE_DOMAIN_MASK 0xffffull /* word 1 */
#define DTE_IV BIT(0) /* word 2: interrupt control below is valid */
#define DTE_INTCTL_SHIFT 60 /* word 2, bits 61:60: 00b target-aborts fixed interrupts */
#define DTE_INTCTL_ABORT 0ull
#define DTE_INTCTL_REMAP 2ull /* 10b: fixed interrupts remapped through the table */
#define DTE_INTTABLEN_SHIFT 1 /* word 2, bits 4:1: the table has 2^n entries */
#define DTE_INTTAB_MASK 0x000fffffffffffc0ull /* word 2: the table, 64-byte aligned */
#define AMDVI_IRT_LOG2 8u /* IOMMU_IRTES entries */

/* Interrupt remapping table entry, the 32-bit format (no guest virtual APIC). */
#define IRTE_REMAP_EN BIT(0)
#define IRTE_DEST_SHIFT 8 /* physical destination APIC ID, 8 bits */
#define IRTE_VECTOR_SHIFT 16
#define AMDVI_IRT_DEVICES 32u /* requesters with interrupts routed, per unit */

/* I/O page table entry (host table, v1 format). */
#define PTE_PR BIT(0)
#define PTE_NL_SHIFT 9 /* Next Level: the level of the table pointed to; 0: a page */
#define PTE_NL_MASK (7ull << PTE_NL_SHIFT)
#define PTE_ADDR_MASK 0x000ffffffffff000ull
#define PTE_IR BIT(61)
#define PTE_IW BIT(62)

/* Commands: 128 bits, two words; the opcode in bits 63:60 of the first. */
#define CMD_SIZE 16u
#define CMD_OP_SHIFT 60
#define CMD_COMPLETION_WAIT 0x1ull
#define CMD_INV_DEVTAB_ENTRY 0x2ull
#define CMD_INV_IOMMU_PAGES 0x3ull
#define CMD_INV_IOMMU_ALL 0x8ull
#define CMD_INV_INT_TABLE 0x5ull
#define CW_STORE BIT(0)
#define CW_ADDR_MASK 0x000ffffffffffff8ull
#define INV_DOMAIN_SHIFT 32
#define INV_S BIT(0) /* the address encodes a power-of-two range */
#define INV_PDE BIT(1) /* cached directory entries too */
#define INV_ALL_ADDR 0x7ffffffffffff000ull /* with INV_S: every address */

/* Events: 128 bits, four dwords; the code in bits 31:28 of the second. */
#define EVT_SIZE 16u
#define EVT_CODE_SHIFT 28
#define EVT_ILLEGAL_DTE 0x1
#define EVT_IO_PAGE_FAULT 0x2
#define EVT_DEVTAB_HW_ERROR 0x3
#define EVT_PAGETAB_HW_ERROR 0x4
#define EVT_ILLEGAL_COMMAND 0x5
#define EVT_COMMAND_HW_ERROR 0x6
#define EVT_IOTLB_INV_TIMEOUT 0x7
#define EVT_INVALID_DEV_REQUEST 0x8
#define EVT_DEVID_MASK 0xffffu /* first dword */
#define EVT_F_I BIT(19) /* flags, second dword: an interrupt request */
#define EVT_F_PR BIT(20) /* the page was present */
#define EVT_F_RW BIT(21) /* a write */
#define EVT_F_PE BIT(22) /* permission denied */
#define EVT_F_RZ BIT(23) /* a reserved bit set in an entry */
#define EVT_F_TR BIT(24) /* a translation request (ATS) */

/*
 * Sizes. The device table covers all 64K requester IDs (2 MiB). The
 * command buffer takes the spec's minimum, 256 entries: Keel waits for
 * every batch of at most three commands (all-device invalidation refills
 * it as it drains). The event log keeps 512 events between two fault
 * interrupts; an overflow loses only log lines, the DMA stays blocked.
 */
#define AMDVI_DEVICES 0x10000u
#define AMDVI_DEVTAB_BYTES ((u64)AMDVI_DEVICES * DTE_WORDS * sizeof(u64))
#define AMDVI_CMD_LOG2 8u
#define AMDVI_CMD_BYTES ((1u << AMDVI_CMD_LOG2) * CMD_SIZE)
#define AMDVI_EVT_LOG2 9u
#define AMDVI_EVT_ENTRIES (1u << AMDVI_EVT_LOG2)
#define AMDVI_EVT_BYTES (AMDVI_EVT_ENTRIES * EVT_SIZE)
/*
 * Keel's tables: 4 levels (48-bit IOVA) on every unit, since every HATS
 * value allows at least 4. The DTE mode is the level count.
 */
#define AMDVI_LEVELS 4u

struct amdvi {
	u64 *devtab;
	u8 *cmdbuf;
	u8 *evtlog;
	u64 *sem; /* where COMPLETION_WAIT stores */
	u64 sem_seq; /* the value the last one stores */
	u32 cmd_tail; /* byte offset of the next command */
	u64 efr; /* 0 if the unit has none */
	u64 ctrl; /* what the control register holds */
	bool coherent; /* its reads of the driver's structures snoop the caches */
	bool msi; /* its event interrupt is on */
	/* Interrupt remapping tables, one per requester that has an entry in use. */
	struct {
		u32 *table; /* IOMMU_IRTES 32-bit entries, or NULL: slot free */
		u16 rid;
		u16 used; /* entries in use */
	} irt[AMDVI_IRT_DEVICES];
};

static struct amdvi amdvi_units[IOMMU_MAX_UNITS];

static u64 amdvi_read(const struct iommu_unit *u, u32 off)
{
	return *(const volatile u64 *)((const volatile u8 *)u->regs + off);
}

static void amdvi_write(const struct iommu_unit *u, u32 off, u64 val)
{
	*(volatile u64 *)((volatile u8 *)u->regs + off) = val;
}

/* Config space of the unit's segment, for pci_cap_find() (@ctx: the unit). */
static u32 amdvi_cfg_read(void *ctx, u16 bdf, u16 off, u32 size)
{
	const struct iommu_unit *u = ctx;

	return pci_cfg_read(u->seg, bdf, off, size);
}

static void amdvi_cfg_write(void *ctx, u16 bdf, u16 off, u32 size, u32 val)
{
	const struct iommu_unit *u = ctx;

	pci_cfg_write(u->seg, bdf, off, size, val);
}

static const struct pci_cfg_ops amdvi_cfg_ops = {
	.read = amdvi_cfg_read,
	.write = amdvi_cfg_write,
};

/*
 * Make the driver's write of [p, p + size) visible to a unit that does not
 * snoop; on x86 this also drops the CPU's copy, so reading the IOMMU's own
 * writes (completion store, events) after it comes from memory.
 */
static void amdvi_clean(const struct amdvi *a, const void *p, u64 size)
{
	if (!a->coherent)
		arch_dma_clean(p, size);
}

/* ---- Commands ------------------------------------------------------------ */

static int amdvi_cmd_room(const struct iommu_unit *u, const void *unused)
{
	const struct amdvi *a = u->priv;
	u32 head = (u32)(amdvi_read(u, AMDVI_CMDBUF_HEAD) & PTR_MASK);

	return (a->cmd_tail + CMD_SIZE) % AMDVI_CMD_BYTES != head;
}

/* Queue one command (waiting for room) and tell the unit. */
static int amdvi_cmd(struct iommu_unit *u, u64 lo, u64 hi)
{
	struct amdvi *a = u->priv;
	u64 *slot;
	int ret;

	ret = iommu_poll(u, amdvi_cmd_room, NULL, "make room in its command buffer");
	if (ret)
		return ret;
	slot = (u64 *)(a->cmdbuf + a->cmd_tail);
	WRITE_ONCE(slot[0], lo);
	WRITE_ONCE(slot[1], hi);
	amdvi_clean(a, slot, CMD_SIZE);
	/* The command is in memory before the tail says it is there. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	a->cmd_tail = (a->cmd_tail + CMD_SIZE) % AMDVI_CMD_BYTES;
	amdvi_write(u, AMDVI_CMDBUF_TAIL, a->cmd_tail);
	return 0;
}

static int amdvi_sem_reached(const struct iommu_unit *u, const void *unused)
{
	const struct amdvi *a = u->priv;

	amdvi_clean(a, a->sem, sizeof(*a->sem));
	return READ_ONCE(*a->sem) == a->sem_seq;
}

/* COMPLETION_WAIT: returns once the unit has done every command queued before. */
static int amdvi_sync(struct iommu_unit *u)
{
	struct amdvi *a = u->priv;
	int ret;

	a->sem_seq++;
	ret = amdvi_cmd(u,
			(hva_to_hpa(a->sem) & CW_ADDR_MASK) | CW_STORE |
				CMD_COMPLETION_WAIT << CMD_OP_SHIFT,
			a->sem_seq);
	if (ret)
		return ret;
	return iommu_poll(u, amdvi_sem_reached, NULL, "complete its commands (COMPLETION_WAIT)");
}

static int amdvi_inv_devtab(struct iommu_unit *u, u16 rid)
{
	return amdvi_cmd(u, rid | CMD_INV_DEVTAB_ENTRY << CMD_OP_SHIFT, 0);
}

/*
 * INVALIDATE_IOMMU_PAGES's address for [iova, iova + size): one page, or
 * with INV_S the smallest aligned power-of-two block holding the range,
 * which the address encodes by its lowest clear bit from bit 12 up.
 */
static u64 amdvi_inv_addr(u64 iova, u64 size)
{
	u64 first = ALIGN_DOWN(iova, PAGE_SIZE), last;
	u32 order;

	if (!size || range_overflows(iova, size))
		return INV_ALL_ADDR | INV_S;
	last = iova + size - 1;
	for (order = PAGE_SHIFT; order < 63; order++)
		if (first >> order == last >> order)
			break;
	if (first >> order != last >> order)
		return INV_ALL_ADDR | INV_S;
	if (order == PAGE_SHIFT)
		return first;
	first = ALIGN_DOWN(first, 1ull << order);
	return ((first | ((1ull << (order - 1)) - 1)) & ~(PAGE_SIZE - 1)) | INV_S;
}

/* Drop what the unit caches of domain @domid's translations in range (size 0: all). */
static int amdvi_inv_pages(struct iommu_unit *u, u16 domid, u64 iova, u64 size)
{
	return amdvi_cmd(u, (u64)domid << INV_DOMAIN_SHIFT | CMD_INV_IOMMU_PAGES << CMD_OP_SHIFT,
			 amdvi_inv_addr(iova, size) | INV_PDE);
}

/* ---- Device table -------------------------------------------------------- */

/*
 * Every DMA blocked: translation valid with no page table (mode 0) and
 * neither read nor write allowed; interrupt remapping valid with fixed
 * interrupts target-aborted and no other kind passed through.
 */
static void amdvi_dte_blocked(u64 *dte)
{
	dte[0] = DTE_V | DTE_TV;
	dte[1] = 0;
	dte[2] = DTE_IV | DTE_INTCTL_ABORT << DTE_INTCTL_SHIFT;
	dte[3] = 0;
}

/* Translated through the table at @root in domain @domid; interrupts still blocked. */
static void amdvi_dte_attached(u64 *dte, hpa_t root, u16 domid)
{
	amdvi_dte_blocked(dte);
	dte[0] |= (u64)AMDVI_LEVELS << DTE_MODE_SHIFT | (root & DTE_ROOT_MASK) | DTE_IR | DTE_IW;
	dte[1] = domid & DTE_DOMAIN_MASK;
}

static bool amdvi_dte_grants(u64 word0)
{
	return word0 & (DTE_MODE_MASK | DTE_IR | DTE_IW);
}

static void amdvi_dte_word(const struct amdvi *a, u64 *e, u32 i, u64 val)
{
	WRITE_ONCE(e[i], val);
	amdvi_clean(a, &e[i], sizeof(u64));
}

/*
 * Write @dte over the entry @e, one 64-bit store at a time, so
 * that whatever mix of old and new words the unit reads never grants more
 * than the old or the new entry: word 0 (all that lets a DMA through) goes
 * last when the new entry grants access, first when it does not.
 */
static void amdvi_dte_store(const struct amdvi *a, u64 *e, const u64 *dte)
{
	u32 i;

	if (amdvi_dte_grants(dte[0])) {
		for (i = DTE_WORDS; i-- > 0;)
			amdvi_dte_word(a, e, i, dte[i]);
		return;
	}
	for (i = 0; i < DTE_WORDS; i++)
		amdvi_dte_word(a, e, i, dte[i]);
}

/* The unit forgets @rid's entry and domain @domid's translations. */
static int amdvi_dte_flush(struct iommu_unit *u, u16 rid, u16 domid)
{
	int ret = amdvi_inv_devtab(u, rid);

	if (!ret)
		ret = amdvi_inv_pages(u, domid, 0, 0);
	return ret ? ret : amdvi_sync(u);
}

/* ---- Page-table format --------------------------------------------------- */

/* A table entry at walker level @level points to a table at AMD-Vi level LEVELS - 1 - level. */
static u64 amdvi_pte_table(hpa_t next, u32 level)
{
	u64 nl = AMDVI_LEVELS - 1 - level;

	/* Permissions are ANDed down the walk: a directory grants both. */
	return (next & PTE_ADDR_MASK) | nl << PTE_NL_SHIFT | PTE_IR | PTE_IW | PTE_PR;
}

/* A page at any level has Next Level 0: a 4 KiB, 2 MiB or 1 GiB page by its level. */
static u64 amdvi_pte_leaf(hpa_t pa, u32 level, u32 attrs)
{
	u64 e = (pa & PTE_ADDR_MASK) | PTE_PR;

	if (attrs & PT_READ)
		e |= PTE_IR;
	if (attrs & PT_WRITE)
		e |= PTE_IW;
	return e; /* PT_EXEC means nothing to an IOMMU; PT_DEVICE changes nothing */
}

static bool amdvi_pte_present(u64 e)
{
	return e & PTE_PR;
}

static bool amdvi_pte_is_table(u64 e, u32 level)
{
	u64 nl = (e & PTE_NL_MASK) >> PTE_NL_SHIFT;

	return (e & PTE_PR) && level + 1 < AMDVI_LEVELS && nl != 0 && nl != 7;
}

static hpa_t amdvi_pte_addr(u64 e, u32 level)
{
	return e & PTE_ADDR_MASK;
}

static u32 amdvi_pte_attrs(u64 e, u32 level)
{
	return (e & PTE_IR ? PT_READ : 0u) | (e & PTE_IW ? PT_WRITE : 0u);
}

static const struct pt_format amdvi_format = {
	.name = "AMD-Vi",
	.levels = AMDVI_LEVELS,
	.root_entries = 512,
	.shift = { 39, 30, 21, 12 },
	.leaf_levels = BIT(1) | BIT(2) | BIT(3), /* 1 GiB, 2 MiB, 4 KiB */
	.table_entry_at = amdvi_pte_table,
	.leaf_entry = amdvi_pte_leaf,
	.is_present = amdvi_pte_present,
	.is_table = amdvi_pte_is_table,
	.entry_addr = amdvi_pte_addr,
	.entry_attrs = amdvi_pte_attrs,
};

static const struct pt_format *amdvi_format_of(const struct iommu_unit *u)
{
	return &amdvi_format;
}

/* ---- Enable -------------------------------------------------------------- */

/* The EFR, if the IOMMU's capability header says it has one; 0 if not. */
static u64 amdvi_read_efr(struct iommu_unit *u)
{
	int cap = pci_cap_find(&amdvi_cfg_ops, u, u->seg, u->rid, AMDVI_CAP_ID);

	if (cap <= 0)
		return 0;
	if (!(pci_cfg_read(u->seg, u->rid, (u16)cap, 4) & AMDVI_CAP_EFR_SUP))
		return 0;
	return amdvi_read(u, AMDVI_EFR);
}

static void amdvi_free(struct amdvi *a)
{
	if (a->sem)
		pmm_free(hva_to_hpa(a->sem), PAGE_SIZE);
	if (a->evtlog)
		pmm_free(hva_to_hpa(a->evtlog), AMDVI_EVT_BYTES);
	if (a->cmdbuf)
		pmm_free(hva_to_hpa(a->cmdbuf), AMDVI_CMD_BYTES);
	if (a->devtab)
		pmm_free(hva_to_hpa(a->devtab), AMDVI_DEVTAB_BYTES);
	a->sem = NULL;
	a->evtlog = a->cmdbuf = NULL;
	a->devtab = NULL;
}

/* The device table (every entry blocked), command buffer, event log, completion word. */
static int amdvi_alloc(struct iommu_unit *u, struct amdvi *a)
{
	hpa_t dt = pmm_alloc(AMDVI_DEVTAB_BYTES, PAGE_SIZE);
	hpa_t cb = pmm_alloc(AMDVI_CMD_BYTES, PAGE_SIZE);
	hpa_t el = pmm_alloc(AMDVI_EVT_BYTES, PAGE_SIZE);
	hpa_t sem = pmm_alloc(PAGE_SIZE, PAGE_SIZE);
	u64 blocked[DTE_WORDS];

	a->devtab = dt ? hpa_to_hva(dt) : NULL;
	a->cmdbuf = cb ? hpa_to_hva(cb) : NULL;
	a->evtlog = el ? hpa_to_hva(el) : NULL;
	a->sem = sem ? hpa_to_hva(sem) : NULL;
	if (!dt || !cb || !el || !sem) {
		amdvi_free(a);
		pr_err("iommu %u (AMD-Vi): no memory for its device table and logs", u->index);
		return -KEEL_ENOMEM;
	}
	amdvi_dte_blocked(blocked);
	for (u32 i = 0; i < AMDVI_DEVICES; i++)
		for (u32 w = 0; w < DTE_WORDS; w++)
			a->devtab[i * DTE_WORDS + w] = blocked[w];
	amdvi_clean(a, a->devtab, AMDVI_DEVTAB_BYTES);
	return 0;
}

/* Control bits the IVHD flags ask for. */
static u64 amdvi_ctrl_from_flags(const struct iommu_unit *u)
{
	u64 c = 0;

	if (u->flags & IVHD_HT_TUN_EN)
		c |= CTRL_HT_TUN_EN;
	if (u->flags & IVHD_PASS_PW)
		c |= CTRL_PASS_PW;
	if (u->flags & IVHD_RES_PASS_PW)
		c |= CTRL_RES_PASS_PW;
	if (u->flags & IVHD_ISOC)
		c |= CTRL_ISOC;
	if (u->flags & IVHD_COHERENT)
		c |= CTRL_COHERENT;
	return c;
}

/*
 * The unit off, then pointed at the new tables. Off means no translation
 * for a moment, but every PCI function's bus mastering is off since
 * pci_init(), and a unit's base registers change only while it is off.
 */
static void amdvi_program(struct iommu_unit *u, const struct amdvi *a)
{
	amdvi_write(u, AMDVI_CONTROL, 0);
	amdvi_write(u, AMDVI_DEVTAB_BASE,
		    hva_to_hpa(a->devtab) | (AMDVI_DEVTAB_BYTES / PAGE_SIZE - 1));
	amdvi_write(u, AMDVI_CMDBUF_BASE,
		    hva_to_hpa(a->cmdbuf) | (u64)AMDVI_CMD_LOG2 << BASE_LEN_SHIFT);
	amdvi_write(u, AMDVI_CMDBUF_HEAD, 0);
	amdvi_write(u, AMDVI_CMDBUF_TAIL, 0);
	amdvi_write(u, AMDVI_EVTLOG_BASE,
		    hva_to_hpa(a->evtlog) | (u64)AMDVI_EVT_LOG2 << BASE_LEN_SHIFT);
	amdvi_write(u, AMDVI_EVTLOG_HEAD, 0);
	amdvi_write(u, AMDVI_EVTLOG_TAIL, 0);
	/* No exclusion range: nothing bypasses translation. */
	amdvi_write(u, AMDVI_EXCL_BASE, 0);
	amdvi_write(u, AMDVI_EXCL_LIMIT, 0);
	amdvi_write(u, AMDVI_STATUS, STATUS_EVT_OVERFLOW | STATUS_EVT_INT | STATUS_COMWAIT_INT);
}

static u32 amdvi_cfg16(const struct iommu_unit *u, u32 off)
{
	return pci_cfg_read(u->seg, u->rid, (u16)off, 2);
}

static void amdvi_cfg_set(const struct iommu_unit *u, u32 off, u32 size, u32 val)
{
	pci_cfg_write(u->seg, u->rid, (u16)off, size, val);
}

/*
 * The event interrupt: the IOMMU function's own MSI, one vector, with the
 * message the arch gives. Bus mastering on that function, which the driver
 * owns (QEMU sends the IOMMU's MSI through its bus-master address space).
 * False if there is no MSI capability or no message: faults are then read
 * only when iommu_fault_event() runs.
 */
static bool amdvi_msi_setup(struct iommu_unit *u)
{
	int cap = pci_cap_find(&amdvi_cfg_ops, u, u->seg, u->rid, MSI_CAP_ID);
	struct iommu_msi m;
	u32 ctrl, c;

	amdvi_cfg_set(u, PCI_COMMAND, 2, amdvi_cfg16(u, PCI_COMMAND) | (u32)PCI_COMMAND_MASTER);
	if (cap <= 0 || !arch_iommu_fault_msi(&m))
		return false;
	c = (u32)cap;
	ctrl = amdvi_cfg16(u, c + MSI_CTRL) & ~(u32)(MSI_CTRL_ENABLE | MSI_CTRL_MME);
	amdvi_cfg_set(u, c + MSI_CTRL, 2, ctrl);
	amdvi_cfg_set(u, c + MSI_ADDR_LO, 4, (u32)m.addr);
	if (ctrl & MSI_CTRL_64) {
		amdvi_cfg_set(u, c + MSI_ADDR_HI, 4, (u32)(m.addr >> 32));
		amdvi_cfg_set(u, c + MSI_DATA_64, 2, m.data & 0xffff);
	} else {
		amdvi_cfg_set(u, c + MSI_DATA_32, 2, m.data & 0xffff);
	}
	if (ctrl & MSI_CTRL_PVM)
		amdvi_cfg_set(u, c + (ctrl & MSI_CTRL_64 ? MSI_MASK_64 : MSI_MASK_32), 4, 0);
	amdvi_cfg_set(u, c + MSI_CTRL, 2, ctrl | (u32)MSI_CTRL_ENABLE);
	return true;
}

/*
 * Drop everything the unit cached before Keel: INVALIDATE_IOMMU_ALL if it
 * has it, else every device table entry and the one domain ID the blocked
 * entries carry (0).
 */
static int amdvi_invalidate_all(struct iommu_unit *u, const struct amdvi *a)
{
	int ret = 0;

	if (a->efr & EFR_IA_SUP) {
		ret = amdvi_cmd(u, CMD_INV_IOMMU_ALL << CMD_OP_SHIFT, 0);
	} else {
		for (u32 id = 0; id < AMDVI_DEVICES && !ret; id++)
			ret = amdvi_inv_devtab(u, (u16)id);
		if (!ret)
			ret = amdvi_inv_pages(u, 0, 0, 0);
	}
	return ret ? ret : amdvi_sync(u);
}

static int amdvi_enable(struct iommu_unit *u)
{
	struct amdvi *a;
	int ret;

	if (u->index >= IOMMU_MAX_UNITS) {
		pr_err("iommu %u (AMD-Vi): beyond the %u units the driver keeps", u->index,
		       IOMMU_MAX_UNITS);
		return -KEEL_EINVAL;
	}
	a = &amdvi_units[u->index];
	*a = (struct amdvi){ .coherent = u->flags & IVHD_COHERENT };
	u->priv = a;
	a->efr = amdvi_read_efr(u);
	if (((a->efr >> EFR_HATS_SHIFT) & EFR_HATS_MASK) == EFR_HATS_NONE) {
		pr_err("iommu %u (AMD-Vi): its EFR says it cannot translate (HATS reserved)",
		       u->index);
		return -KEEL_EINVAL;
	}
	ret = amdvi_alloc(u, a);
	if (ret)
		return ret;
	amdvi_program(u, a);
	a->msi = amdvi_msi_setup(u);
	a->ctrl = amdvi_ctrl_from_flags(u) | CTRL_CMDBUF_EN | CTRL_EVTLOG_EN |
		  (a->msi ? CTRL_EVT_INT_EN : 0);
	amdvi_write(u, AMDVI_CONTROL, a->ctrl);
	a->ctrl |= CTRL_IOMMU_EN;
	amdvi_write(u, AMDVI_CONTROL, a->ctrl);
	/*
	 * On failure the tables stay: the unit may be reading them, and
	 * translating through them blocks everything. Its devices are then
	 * covered by no enabled unit and are never assigned.
	 */
	ret = amdvi_invalidate_all(u, a);
	if (ret)
		return ret;
	pr_info("iommu %u (AMD-Vi): EFR 0x%llx, %u-level tables, %scoherent, event interrupt %s",
		u->index, (unsigned long long)a->efr, AMDVI_LEVELS, a->coherent ? "" : "not ",
		a->msi ? "on" : "off");
	return 0;
}

/* ---- Attach, detach, flush ----------------------------------------------- */

static int amdvi_attach(struct iommu_unit *u, struct iommu_domain *d, u16 rid)
{
	struct amdvi *a = u->priv;
	const struct pt *pt = &d->pt[u->index];
	u64 *e = &a->devtab[(u32)rid * DTE_WORDS];
	u64 dte[DTE_WORDS];
	int ret;

	if (pt->fmt != &amdvi_format || !pt->root || !IS_ALIGNED(pt->root, PAGE_SIZE))
		return -KEEL_EINVAL;
	if (amdvi_dte_grants(READ_ONCE(e[0]))) {
		/* Attached elsewhere: through blocked first, so no old root meets the new ID. */
		u16 old = (u16)(READ_ONCE(e[1]) & DTE_DOMAIN_MASK);

		amdvi_dte_blocked(dte);
		amdvi_dte_store(a, e, dte);
		ret = amdvi_dte_flush(u, rid, old);
		if (ret)
			return ret;
	}
	amdvi_dte_attached(dte, pt->root, d->id);
	amdvi_dte_store(a, e, dte);
	return amdvi_dte_flush(u, rid, d->id);
}

static int amdvi_detach(struct iommu_unit *u, struct iommu_domain *d, u16 rid)
{
	struct amdvi *a = u->priv;
	u64 dte[DTE_WORDS];

	amdvi_dte_blocked(dte);
	amdvi_dte_store(a, &a->devtab[(u32)rid * DTE_WORDS], dte);
	return amdvi_dte_flush(u, rid, d->id);
}

static void amdvi_flush(struct iommu_unit *u, struct iommu_domain *d, u64 iova, u64 size)
{
	/* A timeout has its console line already; nothing more can be done here. */
	if (!amdvi_inv_pages(u, d->id, iova, size))
		amdvi_sync(u);
}

/* ---- Faults -------------------------------------------------------------- */

static const char *amdvi_page_fault_why(u32 flags)
{
	if (flags & EVT_F_TR)
		return "translation request (ATS) refused";
	if (flags & EVT_F_I)
		return "interrupt blocked";
	if (flags & EVT_F_RZ)
		return "reserved bit set in an I/O page table entry";
	if (flags & EVT_F_PE)
		return "access not permitted";
	if (!(flags & EVT_F_PR))
		return "address not mapped";
	return "I/O page fault";
}

/* One event: a device's fault to the registry, anything else to the console. */
static void amdvi_event(struct iommu_unit *u, const u32 *ev)
{
	u32 code = ev[1] >> EVT_CODE_SHIFT;
	u16 rid = (u16)(ev[0] & EVT_DEVID_MASK);
	u64 addr = (u64)ev[3] << 32 | ev[2];
	bool write = ev[1] & EVT_F_RW;

	switch (code) {
	case EVT_IO_PAGE_FAULT:
		iommu_fault_report(u, rid, addr, write, amdvi_page_fault_why(ev[1]));
		break;
	case EVT_ILLEGAL_DTE:
		iommu_fault_report(u, rid, addr, write, "illegal device table entry");
		break;
	case EVT_DEVTAB_HW_ERROR:
		iommu_fault_report(
			u, rid, addr, write,
			"hardware error reading its device table entry (at that address)");
		break;
	case EVT_PAGETAB_HW_ERROR:
		iommu_fault_report(u, rid, addr, write,
				   "hardware error reading an I/O page table (at that address)");
		break;
	case EVT_IOTLB_INV_TIMEOUT:
		iommu_fault_report(u, rid, addr, false, "device IOTLB invalidation timed out");
		break;
	case EVT_INVALID_DEV_REQUEST:
		iommu_fault_report(u, rid, addr, write, "request its device table entry forbids");
		break;
	case EVT_ILLEGAL_COMMAND:
		pr_err("iommu %u (AMD-Vi): illegal command at 0x%llx", u->index,
		       (unsigned long long)addr);
		break;
	case EVT_COMMAND_HW_ERROR:
		pr_err("iommu %u (AMD-Vi): hardware error reading a command at 0x%llx", u->index,
		       (unsigned long long)addr);
		break;
	default:
		pr_err("iommu %u (AMD-Vi): event %08x %08x %08x %08x", u->index, ev[0], ev[1],
		       ev[2], ev[3]);
		break;
	}
}

static int amdvi_evtlog_stopped(const struct iommu_unit *u, const void *unused)
{
	return !(amdvi_read(u, AMDVI_STATUS) & STATUS_EVT_RUN);
}

/*
 * After an overflow the unit logs nothing until the overflow bit is
 * cleared and the log is turned off and on again (from empty).
 */
static void amdvi_evtlog_restart(struct iommu_unit *u, const struct amdvi *a)
{
	pr_warn("iommu %u (AMD-Vi): event log overflowed, events were lost; logging restarted",
		u->index);
	amdvi_write(u, AMDVI_CONTROL, a->ctrl & ~CTRL_EVTLOG_EN);
	iommu_poll(u, amdvi_evtlog_stopped, NULL, "stop its event log");
	amdvi_write(u, AMDVI_STATUS, STATUS_EVT_OVERFLOW);
	amdvi_write(u, AMDVI_EVTLOG_HEAD, 0);
	amdvi_write(u, AMDVI_EVTLOG_TAIL, 0);
	amdvi_write(u, AMDVI_CONTROL, a->ctrl);
}

static u32 amdvi_faults(struct iommu_unit *u)
{
	struct amdvi *a = u->priv;
	u64 status = amdvi_read(u, AMDVI_STATUS);
	u32 head, tail, n = 0;

	/* Cleared before reading the tail: an event logged after that interrupts again. */
	amdvi_write(u, AMDVI_STATUS, status & STATUS_EVT_INT);
	head = (u32)(amdvi_read(u, AMDVI_EVTLOG_HEAD) & PTR_MASK) % AMDVI_EVT_BYTES;
	tail = (u32)(amdvi_read(u, AMDVI_EVTLOG_TAIL) & PTR_MASK) % AMDVI_EVT_BYTES;
	while (head != tail && n < AMDVI_EVT_ENTRIES) {
		const u32 *ev = (const u32 *)(a->evtlog + head);

		amdvi_clean(a, ev, EVT_SIZE);
		amdvi_event(u, ev);
		head = (head + EVT_SIZE) % AMDVI_EVT_BYTES;
		n++;
	}
	amdvi_write(u, AMDVI_EVTLOG_HEAD, head);
	if (status & STATUS_EVT_OVERFLOW)
		amdvi_evtlog_restart(u, a);
	return n;
}

/* ---- Interrupt remapping -------------------------------------------------- */

/* @rid's table slot; with @make, a new one if it has none (-1: none, or no room). */
static int amdvi_irt_slot(struct amdvi *a, u16 rid, bool make)
{
	int free = -1;
	hpa_t page;

	for (u32 i = 0; i < AMDVI_IRT_DEVICES; i++) {
		if (a->irt[i].table && a->irt[i].rid == rid)
			return (int)i;
		if (!a->irt[i].table && free < 0)
			free = (int)i;
	}
	page = make && free >= 0 ? pmm_alloc(PAGE_SIZE, PAGE_SIZE) : 0; /* zeroed: all off */
	if (!page)
		return -1;
	a->irt[free].table = hpa_to_hva(page);
	a->irt[free].rid = rid;
	a->irt[free].used = 0;
	return free;
}

/* @rid's DTE word 2: remapped through @table, or (NULL) fixed interrupts aborted. */
static int amdvi_dte_irt(struct iommu_unit *u, struct amdvi *a, u16 rid, const u32 *table)
{
	u64 *dte = &a->devtab[(u64)rid * DTE_WORDS];
	u64 w2 = DTE_IV | DTE_INTCTL_ABORT << DTE_INTCTL_SHIFT;
	int ret;

	if (table)
		w2 = DTE_IV | DTE_INTCTL_REMAP << DTE_INTCTL_SHIFT |
		     (u64)AMDVI_IRT_LOG2 << DTE_INTTABLEN_SHIFT |
		     (hva_to_hpa(table) & DTE_INTTAB_MASK);
	WRITE_ONCE(dte[2], w2);
	amdvi_clean(a, dte, DTE_WORDS * sizeof(u64));
	ret = amdvi_inv_devtab(u, rid);
	if (!ret)
		ret = amdvi_cmd(u, rid | CMD_INV_INT_TABLE << CMD_OP_SHIFT, 0);
	return ret ? ret : amdvi_sync(u);
}

static int amdvi_irte_set(struct iommu_unit *u, u16 rid, u32 index, u32 apic_id, u32 vector,
			  struct iommu_msi *msi)
{
	struct amdvi *a = u->priv;
	int slot;
	u32 *t;

	if (!a || index >= IOMMU_IRTES || apic_id > 0xff || vector > 0xff)
		return -KEEL_EINVAL;
	slot = amdvi_irt_slot(a, rid, true);
	if (slot < 0)
		return -KEEL_ENOSPC;
	t = a->irt[slot].table;
	WRITE_ONCE(t[index],
		   IRTE_REMAP_EN | apic_id << IRTE_DEST_SHIFT | (u32)vector << IRTE_VECTOR_SHIFT);
	amdvi_clean(a, &t[index], sizeof(*t));
	a->irt[slot].used++;
	/* The device's data names the entry (bits 10:0); the address is any LAPIC's. */
	msi->addr = 0xfee00000ull;
	msi->data = index;
	return amdvi_dte_irt(u, a, rid, t);
}

static void amdvi_irte_clear(struct iommu_unit *u, u16 rid, u32 index)
{
	struct amdvi *a = u->priv;
	int slot = a ? amdvi_irt_slot(a, rid, false) : -1;
	u32 *t;

	if (slot < 0 || index >= IOMMU_IRTES)
		return;
	t = a->irt[slot].table;
	WRITE_ONCE(t[index], 0);
	amdvi_clean(a, &t[index], sizeof(*t));
	if (--a->irt[slot].used) {
		if (amdvi_cmd(u, rid | CMD_INV_INT_TABLE << CMD_OP_SHIFT, 0) || amdvi_sync(u))
			pr_err("iommu %u (AMD-Vi): interrupt entry %u may still be cached",
			       u->index, index);
		return;
	}
	/* Its last: fixed interrupts aborted again, then the table goes. */
	if (amdvi_dte_irt(u, a, rid, NULL))
		pr_err("iommu %u (AMD-Vi): %02x:%02x.%u's interrupt table may still be cached; "
		       "kept",
		       u->index, rid >> 8, (rid >> 3) & 0x1f, rid & 7);
	else
		pmm_free(hva_to_hpa(t), PAGE_SIZE);
	a->irt[slot].table = NULL;
}

const struct iommu_ops amdvi_ops = {
	.name = "AMD-Vi",
	.enable = amdvi_enable,
	.format = amdvi_format_of,
	.attach = amdvi_attach,
	.detach = amdvi_detach,
	.flush = amdvi_flush,
	.faults = amdvi_faults,
	.irte_set = amdvi_irte_set,
	.irte_clear = amdvi_irte_clear,
};
