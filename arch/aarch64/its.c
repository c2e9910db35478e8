/* SPDX-License-Identifier: MIT */
/*
 * The host's GICv3 ITS (its.h): flat device and collection tables, a
 * one-page command queue, and an interrupt translation table (ITT) for each
 * device with events mapped. Commands go one at a time: each is written and
 * waited for until GITS_CREADR has passed it, so the queue never fills and a
 * command the ITS stalls on is known by its slot.
 */
#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/iommu.h>
#include <keel/lib.h>
#include <keel/pmm.h>
#include <keel/poll.h>
#include <keel/spinlock.h>

#include "aarch64.h"
#include "its.h"

#define GITS_CTLR 0x0000
#define GITS_CTLR_ENABLED BIT(0)
#define GITS_CTLR_QUIESCENT BIT(31)
#define GITS_IIDR 0x0004
#define GITS_TYPER 0x0008
#define GITS_CBASER 0x0080
#define GITS_CWRITER 0x0088
#define GITS_CWRITER_RETRY BIT(0)
#define GITS_CREADR 0x0090
#define GITS_CREADR_STALLED BIT(0)
#define GITS_QUEUE_OFFSET 0xfffe0ull /* CWRITER, CREADR [19:5] */
#define GITS_BASER(n) (0x0100u + 8u * (n))
#define GITS_BASERS 8u
#define GITS_TRANSLATER 0x10040
#define GITS_FRAME_ALIGN 0x10000ull

#define TYPER_PHYSICAL BIT(0)
#define TYPER_ITT_ENTRY_BYTES(t) ((u32)((t) >> 4 & 0xf) + 1)
#define TYPER_ID_BITS(t) ((u32)((t) >> 8 & 0x1f) + 1)
#define TYPER_DEVBITS(t) ((u32)((t) >> 13 & 0x1f) + 1)
#define TYPER_PTA BIT(19)
#define TYPER_HCC(t) ((u32)((t) >> 24 & 0xff))
#define TYPER_CIDBITS(t) ((u32)((t) >> 32 & 0xf) + 1)
#define TYPER_CIL BIT(36)
#define TYPER_CIDBITS_NO_CIL 16u /* without CIL, ICIDs are 16 bits */

/* GITS_BASER<n>; GITS_CBASER has Valid, the caches, Shareability and Size in the same places. */
#define BASER_VALID BIT(63)
#define BASER_INDIRECT BIT(62)
#define BASER_INNER_SHIFT 59
#define BASER_TYPE(b) ((u32)((b) >> 56 & 7))
#define BASER_TYPE_DEVICES 1u
#define BASER_TYPE_COLLECTIONS 4u
#define BASER_OUTER_SHIFT 53
#define BASER_ENTRY_BYTES(b) ((u32)((b) >> 48 & 0x1f) + 1)
#define BASER_RO (7ull << 56 | 0x1full << 48) /* Type, Entry_Size */
#define BASER_PA 0x0000fffffffff000ull /* [47:12] */
#define CBASER_PA 0x000ffffffffff000ull /* [51:12] */
#define BASER_SHARE_SHIFT 10
#define BASER_SHARE (3ull << BASER_SHARE_SHIFT)
#define BASER_CACHE (7ull << BASER_INNER_SHIFT | 7ull << BASER_OUTER_SHIFT)
#define BASER_PAGE_SIZE_SHIFT 8
#define BASER_PAGE_SIZE (3ull << BASER_PAGE_SIZE_SHIFT)
#define BASER_SIZE 0xffull /* pages - 1 */
#define BASER_PAGES_MAX 256u
#define CACHE_NC 1ull /* Normal, non-cacheable */
#define CACHE_WB 7ull /* Normal, read- and write-allocate, write-back */
#define SHARE_NONE 0ull
#define SHARE_INNER 1ull

/* Commands: 4 doublewords, the opcode in DW0 [7:0], the DeviceID in DW0 [63:32]. */
#define CMD_BYTES 32u
#define CMD_SYNC 0x05u
#define CMD_MAPD 0x08u
#define CMD_MAPC 0x09u
#define CMD_MAPTI 0x0au
#define CMD_DISCARD 0x0fu
#define CMD_DEVID_SHIFT 32
#define CMD_PINTID_SHIFT 32 /* MAPTI DW1 */
#define CMD_VALID BIT(63) /* MAPD, MAPC DW2 */
#define CMD_ITT 0x000fffffffffff00ull /* MAPD DW2 [51:8] */
#define CMD_RDBASE 0x000fffffffff0000ull /* MAPC, SYNC DW2 [51:16] */
#define CMD_RDBASE_SHIFT 16
#define GICR_PROCESSOR_MAX 0xffffu /* GICR_TYPER.Processor_Number: 16 bits */

/*
 * Sizes. The command queue is one page: with one command in flight, 128
 * slots are plenty. Its base is 64 KiB aligned so that it means the same
 * whatever an ITS reads in address bits [15:12] (which hold PA[51:48] in a
 * 64 KiB-page table register). DeviceIDs: PCI segment 0's requester IDs.
 */
#define ITS_CMDQ_BYTES PAGE_SIZE
#define ITS_CMDQ_ALIGN 0x10000ull
#define ITS_MAX_DEVICE_IDS 0x10000u
#define ITS_EVENT_BITS 8u
#define ITS_COLLECTIONS KEEL_MAX_CPUS /* one per CPU: its ICID is the CPU's id */
/* Devices with events mapped at once: every device every partition may hold. */
#define ITS_DEVICES (KEEL_MAX_PARTITIONS * KEEL_PD_MAX_DEVICES)
#define ITS_TIMEOUT_NS 1000000000ull

_Static_assert(ITS_EVENTS == IOMMU_IRTES, "an event per interrupt-remapping entry");
_Static_assert(1u << ITS_EVENT_BITS == ITS_EVENTS, "ITS_EVENT_BITS covers ITS_EVENTS");
_Static_assert(ITS_COLLECTIONS <= 256, "an event's collection fits its u8");

/* A device with events mapped: its ITT, and each event's collection. */
struct its_dev {
	bool used;
	u32 devid;
	u32 events; /* mapped now */
	hpa_t itt;
	u64 mapped[ITS_EVENTS / 64];
	u8 icid[ITS_EVENTS];
};

struct its_collection {
	bool mapped;
	u64 rdbase; /* the RDbase field of MAPC and SYNC, in place (DW2 [51:16]) */
};

struct its {
	u8 *regs;
	hpa_t base;
	bool ready;
	bool coherent; /* tables and queue kept inner shareable and cacheable: no cleaning */
	bool pta; /* RDbase is the redistributor's address, not its processor number */
	u32 id_bits;
	u32 itt_entry_bytes;
	u32 device_ids; /* the device table covers DeviceIDs below this */
	u32 collections; /* ICIDs below this may be mapped */
	void *table[GITS_BASERS];
	u64 table_bytes[GITS_BASERS];
	u64 *cmdq;
	u32 cwriter; /* byte offset of the next command */
	struct its_collection col[ITS_COLLECTIONS];
	struct its_dev dev[ITS_DEVICES];
};

static struct its its_unit;
static struct spinlock its_lock = SPINLOCK_INIT;

static u32 its_read32(const struct its *s, u32 off)
{
	return *(const volatile u32 *)(s->regs + off);
}

static u64 its_read64(const struct its *s, u32 off)
{
	return *(const volatile u64 *)(s->regs + off);
}

static void its_write32(const struct its *s, u32 off, u32 val)
{
	*(volatile u32 *)(s->regs + off) = val;
}

static void its_write64(const struct its *s, u32 off, u64 val)
{
	*(volatile u64 *)(s->regs + off) = val;
}

/* The driver's writes of [p, p + size) reach an ITS that does not snoop. */
static void its_clean(const struct its *s, const void *p, u64 size)
{
	if (!s->coherent)
		arch_dma_clean(p, size);
}

/* What poll_until hands back to an ITS check. */
struct its_poll_ctx {
	const struct its *s;
	int (*check)(const struct its *s, u32 arg);
	u32 arg;
};

static int its_poll_check(const void *p)
{
	const struct its_poll_ctx *c = p;

	return c->check(c->s, c->arg);
}

/* Call @check until it answers (non-zero) or a second has passed: its answer, or 0 for a timeout. */
static int its_poll(const struct its *s, int (*check)(const struct its *s, u32 arg), u32 arg)
{
	struct its_poll_ctx c = { .s = s, .check = check, .arg = arg };

	return poll_until(its_poll_check, &c, ITS_TIMEOUT_NS);
}

/* ---- Commands ------------------------------------------------------------ */

#define ITS_CMD_RAN 1
#define ITS_CMD_STALLED 2

static const char *its_cmd_name(u64 d0)
{
	switch (d0 & 0xff) {
	case CMD_SYNC:
		return "SYNC";
	case CMD_MAPD:
		return "MAPD";
	case CMD_MAPC:
		return "MAPC";
	case CMD_MAPTI:
		return "MAPTI";
	case CMD_DISCARD:
		return "DISCARD";
	default:
		return "a command";
	}
}

/* Whether the ITS has run the command at @slot (GITS_CREADR at CWRITER), or stalled on it. */
static int its_cmd_state(const struct its *s, u32 slot)
{
	u64 creadr = its_read64(s, GITS_CREADR);
	u32 off = (u32)(creadr & GITS_QUEUE_OFFSET);

	if (off == s->cwriter)
		return ITS_CMD_RAN;
	if ((creadr & GITS_CREADR_STALLED) && off == slot)
		return ITS_CMD_STALLED;
	return 0;
}

/*
 * Run one command. The queue is empty when it is written: the command has
 * run when GITS_CREADR reaches CWRITER. If the ITS stalls on it (a command
 * error), it is skipped: CWRITER moves back to its slot, which empties the
 * queue, with Retry, which restarts the ITS; the next command takes the
 * slot. An ITS that does not move within a second is given up: nothing more
 * is sent, and what it may still read stays allocated.
 */
static int its_cmd(struct its *s, u64 d0, u64 d1, u64 d2)
{
	u32 slot = s->cwriter;
	u64 *q = &s->cmdq[slot / 8];
	int state;

	WRITE_ONCE(q[0], d0);
	WRITE_ONCE(q[1], d1);
	WRITE_ONCE(q[2], d2);
	WRITE_ONCE(q[3], 0);
	its_clean(s, q, CMD_BYTES);
	/* The command is in memory before CWRITER says it is there. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	s->cwriter = (slot + CMD_BYTES) % ITS_CMDQ_BYTES;
	its_write64(s, GITS_CWRITER, s->cwriter);
	state = its_poll(s, its_cmd_state, slot);
	if (state == ITS_CMD_RAN)
		return 0;
	if (state == ITS_CMD_STALLED) {
		pr_err("its: %s refused (%016llx %016llx %016llx)", its_cmd_name(d0),
		       (unsigned long long)d0, (unsigned long long)d1, (unsigned long long)d2);
		s->cwriter = slot;
		its_write64(s, GITS_CWRITER, slot | GITS_CWRITER_RETRY);
		return -KEEL_EIO;
	}
	pr_err("its: did not run %s within %llu ms", its_cmd_name(d0),
	       (unsigned long long)(ITS_TIMEOUT_NS / 1000000));
	pr_err("its: stopped: no more commands are sent");
	WRITE_ONCE(s->ready, false);
	return -KEEL_ETIMEDOUT;
}

static u64 its_cmd_dev(u32 op, u32 devid)
{
	return op | (u64)devid << CMD_DEVID_SHIFT;
}

static int its_sync(struct its *s, u64 rdbase)
{
	return its_cmd(s, CMD_SYNC, 0, rdbase);
}

/* MAPD: @devid's events translate through the ITT at @itt (ITS_EVENTS of them), or none. */
static int its_mapd(struct its *s, u32 devid, hpa_t itt, bool valid)
{
	if (!valid)
		return its_cmd(s, its_cmd_dev(CMD_MAPD, devid), 0, 0);
	return its_cmd(s, its_cmd_dev(CMD_MAPD, devid), ITS_EVENT_BITS - 1,
		       CMD_VALID | (itt & CMD_ITT));
}

static int its_mapc(struct its *s, u32 icid, u64 rdbase)
{
	return its_cmd(s, CMD_MAPC, 0, CMD_VALID | rdbase | icid);
}

static int its_mapti(struct its *s, u32 devid, u32 event, u32 lpi, u32 icid)
{
	return its_cmd(s, its_cmd_dev(CMD_MAPTI, devid), event | (u64)lpi << CMD_PINTID_SHIFT,
		       icid);
}

static int its_discard(struct its *s, u32 devid, u32 event)
{
	return its_cmd(s, its_cmd_dev(CMD_DISCARD, devid), event, 0);
}

/* ---- Devices and their events --------------------------------------------- */

static u64 its_itt_bytes(const struct its *s)
{
	return ALIGN_UP((u64)ITS_EVENTS * s->itt_entry_bytes, PAGE_SIZE);
}

static struct its_dev *its_dev_find(struct its *s, u32 devid)
{
	for (u32 i = 0; i < ITS_DEVICES; i++)
		if (s->dev[i].used && s->dev[i].devid == devid)
			return &s->dev[i];
	return NULL;
}

static bool its_event_mapped(const struct its_dev *d, u32 event)
{
	return d->mapped[event / 64] & BIT(event % 64);
}

/* Device @devid's record if @event of it is mapped, else NULL. */
static struct its_dev *its_event_find(struct its *s, u32 devid, u32 event)
{
	struct its_dev *d;

	if (devid >= s->device_ids || event >= ITS_EVENTS)
		return NULL;
	d = its_dev_find(s, devid);
	return d && its_event_mapped(d, event) ? d : NULL;
}

/*
 * A record and an ITT for @devid, and MAPD. The ITT is zeroed, and cleaned
 * so that no dirty line of it is written back over what the ITS writes.
 */
static int its_dev_add(struct its *s, u32 devid, struct its_dev **out)
{
	struct its_dev *d = NULL;
	hpa_t itt;
	int ret;

	for (u32 i = 0; i < ITS_DEVICES && !d; i++)
		if (!s->dev[i].used)
			d = &s->dev[i];
	if (!d) {
		pr_err("its: no room for device 0x%x: %u devices have events mapped", devid,
		       ITS_DEVICES);
		return -KEEL_ENOSPC;
	}
	itt = pmm_alloc(its_itt_bytes(s), PAGE_SIZE);
	if (!itt) {
		pr_err("its: no memory for device 0x%x's interrupt translation table", devid);
		return -KEEL_ENOMEM;
	}
	if (itt & ~CMD_ITT) {
		pmm_free(itt, its_itt_bytes(s));
		pr_err("its: device 0x%x's interrupt translation table is beyond 52 bits", devid);
		return -KEEL_ENOMEM;
	}
	its_clean(s, hpa_to_hva(itt), its_itt_bytes(s));
	*d = (struct its_dev){ .used = true, .devid = devid, .itt = itt };
	ret = its_mapd(s, devid, itt, true);
	if (ret == -KEEL_EIO) {
		pmm_free(itt, its_itt_bytes(s));
		d->used = false;
	}
	/* A timeout keeps the record: the ITS may still read the ITT. */
	*out = d;
	return ret;
}

/*
 * The device's last event is gone: MAPD V=0, SYNC, and its ITT freed. If
 * the ITS refuses the MAPD, the device stays mapped (with no events); if it
 * refuses the SYNC after it, the ITT stays allocated, never to be reused.
 */
static int its_dev_remove(struct its *s, struct its_dev *d, u64 rdbase)
{
	int ret = its_mapd(s, d->devid, 0, false);

	if (ret)
		return ret;
	ret = its_sync(s, rdbase);
	if (!ret)
		pmm_free(d->itt, its_itt_bytes(s));
	if (ret != -KEEL_ETIMEDOUT)
		*d = (struct its_dev){ 0 };
	return ret;
}

static int its_do_map_event(struct its *s, u32 devid, u32 event, u32 lpi, u32 icid)
{
	struct its_dev *d;
	bool added = false;
	u64 rdbase;
	int ret;

	if (!s->ready)
		return -KEEL_ENODEV;
	if (devid >= s->device_ids || event >= ITS_EVENTS || lpi < GIC_LPI_FIRST ||
	    (u64)lpi >> s->id_bits || icid >= s->collections || !s->col[icid].mapped)
		return -KEEL_EINVAL;
	d = its_dev_find(s, devid);
	if (d && its_event_mapped(d, event))
		return -KEEL_EINVAL;
	rdbase = s->col[icid].rdbase;
	if (!d) {
		ret = its_dev_add(s, devid, &d);
		if (ret)
			return ret;
		added = true;
	}
	ret = its_mapti(s, devid, event, lpi, icid);
	if (!ret) {
		ret = its_sync(s, rdbase);
		/* Undone, so that the caller's failure is the ITS's state too. */
		if (ret == -KEEL_EIO)
			its_discard(s, devid, event);
	}
	if (ret) {
		if (added && ret == -KEEL_EIO)
			its_dev_remove(s, d, rdbase);
		return ret;
	}
	d->mapped[event / 64] |= BIT(event % 64);
	d->icid[event] = (u8)icid;
	d->events++;
	return 0;
}

static int its_do_unmap_event(struct its *s, u32 devid, u32 event)
{
	struct its_dev *d;
	u64 rdbase;
	int ret;

	if (!s->ready)
		return -KEEL_ENODEV;
	d = its_event_find(s, devid, event);
	if (!d)
		return -KEEL_EINVAL;
	rdbase = s->col[d->icid[event]].rdbase;
	ret = its_discard(s, devid, event);
	if (ret)
		return ret;
	d->mapped[event / 64] &= ~BIT(event % 64);
	d->events--;
	ret = its_sync(s, rdbase);
	if (!ret && !d->events)
		ret = its_dev_remove(s, d, rdbase);
	return ret;
}

/* The RDbase field of MAPC and SYNC for a redistributor, in place; -KEEL_EINVAL if none fits. */
static int its_rdbase(const struct its *s, hpa_t rd_base, u32 rd_processor, u64 *field)
{
	if (s->pta) {
		if (rd_base & ~CMD_RDBASE)
			return -KEEL_EINVAL; /* not 64 KiB aligned, or beyond 52 bits */
		*field = rd_base;
		return 0;
	}
	if (rd_processor > GICR_PROCESSOR_MAX)
		return -KEEL_EINVAL;
	*field = (u64)rd_processor << CMD_RDBASE_SHIFT;
	return 0;
}

static int its_do_map_collection(struct its *s, u32 icid, hpa_t rd_base, u32 rd_processor)
{
	u64 rdbase;
	int ret;

	if (!s->ready)
		return -KEEL_ENODEV;
	if (icid >= s->collections || its_rdbase(s, rd_base, rd_processor, &rdbase))
		return -KEEL_EINVAL;
	ret = its_mapc(s, icid, rdbase);
	if (ret)
		return ret;
	s->col[icid] = (struct its_collection){ .mapped = true, .rdbase = rdbase };
	return its_sync(s, rdbase);
}

/* ---- Tables and the queue ------------------------------------------------- */

/* Register value bits for memory attributes: write-back inner shareable, or uncached. */
static u64 its_attrs(bool cached)
{
	u64 cache = cached ? CACHE_WB : CACHE_NC;

	return cache << BASER_INNER_SHIFT | cache << BASER_OUTER_SHIFT |
	       (cached ? SHARE_INNER : SHARE_NONE) << BASER_SHARE_SHIFT;
}

/*
 * Write a table register (GITS_BASER<n>, GITS_CBASER) with write-back inner
 * shareable attributes, and keep what sticks. An ITS that keeps it
 * non-shareable does not snoop: then it is told not to cache either (it
 * would not see the CPUs' caches), and Keel cleans what it writes there.
 * Returns the value read back.
 */
static u64 its_table_reg(struct its *s, u32 off, u64 val)
{
	u64 got;

	its_write64(s, off, val | its_attrs(true));
	got = its_read64(s, off);
	if (got & BASER_SHARE)
		return got;
	its_write64(s, off, val | its_attrs(false));
	got = its_read64(s, off);
	s->coherent = false;
	return got;
}

/*
 * The page size GITS_BASER<@n> (reading @reg) takes (0: 4 KiB, 1: 16 KiB,
 * 2: 64 KiB) for a table of @bytes: the smallest that holds it in 256
 * pages, else the next that sticks, larger first. -1 if none sticks.
 */
static int its_page_size(struct its *s, u32 n, u64 reg, u64 bytes)
{
	static const u8 order[3][3] = { { 0, 1, 2 }, { 1, 2, 0 }, { 2, 1, 0 } };
	u32 want = 2;

	if (bytes <= BASER_PAGES_MAX * (u64)PAGE_SIZE)
		want = 0;
	else if (bytes <= BASER_PAGES_MAX * 4 * (u64)PAGE_SIZE)
		want = 1;
	for (u32 i = 0; i < 3; i++) {
		u64 code = order[want][i];

		its_write64(s, GITS_BASER(n), (reg & BASER_RO) | code << BASER_PAGE_SIZE_SHIFT);
		if ((its_read64(s, GITS_BASER(n)) & BASER_PAGE_SIZE) ==
		    code << BASER_PAGE_SIZE_SHIFT)
			return (int)code;
	}
	return -1;
}

/*
 * Table @n (register value @reg) for *@entries entries: memory zeroed and
 * cleaned (the ITS may not snoop), then a flat table of the page size that
 * sticks, at most 256 pages: *@entries becomes the entries it covers.
 */
static int its_table_setup(struct its *s, u32 n, u64 reg, u64 *entries)
{
	u32 esz = BASER_ENTRY_BYTES(reg);
	int code = its_page_size(s, n, reg, *entries * esz);
	u64 psz, pages, bytes, got, want;
	hpa_t pa;

	if (code < 0) {
		pr_err("its: GITS_BASER%u takes no page size", n);
		return -KEEL_ENOTSUP;
	}
	psz = PAGE_SIZE << (2 * code);
	pages = MIN(ALIGN_UP(*entries * esz, psz) / psz, (u64)BASER_PAGES_MAX);
	*entries = MIN(*entries, pages * psz / esz);
	bytes = pages * psz;
	pa = pmm_alloc(bytes, psz);
	if (!pa) {
		pr_err("its: no memory for its table %u (%llu KiB)", n,
		       (unsigned long long)(bytes >> 10));
		return -KEEL_ENOMEM;
	}
	s->table[n] = hpa_to_hva(pa);
	s->table_bytes[n] = bytes;
	if (pa & ~BASER_PA) {
		pr_err("its: its table %u at 0x%llx is beyond the register's 48 bits", n,
		       (unsigned long long)pa);
		return -KEEL_ENOMEM;
	}
	arch_dma_clean(s->table[n], bytes);
	want = BASER_VALID | (reg & BASER_RO) | pa | (u64)code << BASER_PAGE_SIZE_SHIFT |
	       (pages - 1);
	got = its_table_reg(s, GITS_BASER(n), want);
	if ((got & ~(BASER_CACHE | BASER_SHARE)) != want) {
		pr_err("its: GITS_BASER%u did not take its table (wrote 0x%llx, reads 0x%llx)", n,
		       (unsigned long long)(want | its_attrs(s->coherent)),
		       (unsigned long long)got);
		return -KEEL_EIO;
	}
	if ((got >> BASER_INNER_SHIFT & 7) <= CACHE_NC)
		s->coherent = false;
	return 0;
}

/*
 * Every GITS_BASER<n>: the device table for min(2^Devbits, 2^16) DeviceIDs,
 * the collection table for the collections GITS_TYPER.HCC does not hold;
 * any other kind (vPEs) stays invalid.
 */
static int its_tables(struct its *s, u64 typer)
{
	bool cols_held = TYPER_HCC(typer) >= s->collections; /* no collection table needed */
	u64 entries;
	int ret;

	for (u32 n = 0; n < GITS_BASERS; n++) {
		u64 reg = its_read64(s, GITS_BASER(n));
		u32 type = BASER_TYPE(reg);

		if (type == BASER_TYPE_DEVICES && !s->device_ids) {
			entries = MIN(1ull << TYPER_DEVBITS(typer), (u64)ITS_MAX_DEVICE_IDS);
			ret = its_table_setup(s, n, reg, &entries);
			if (ret)
				return ret;
			s->device_ids = (u32)entries;
		} else if (type == BASER_TYPE_COLLECTIONS && !cols_held) {
			entries = s->collections;
			ret = its_table_setup(s, n, reg, &entries);
			if (ret)
				return ret;
			s->collections = (u32)entries;
			cols_held = true;
		} else {
			its_write64(s, GITS_BASER(n), reg & BASER_RO);
		}
	}
	if (!s->device_ids) {
		pr_err("its: no GITS_BASER holds a device table");
		return -KEEL_ENOTSUP;
	}
	if (!cols_held)
		s->collections = MIN(s->collections, TYPER_HCC(typer));
	if (!s->collections) {
		pr_err("its: it has neither a collection table nor collections in hardware");
		return -KEEL_ENOTSUP;
	}
	return 0;
}

/* The command queue: one page, cleaned, at GITS_CBASER; CWRITER at its start. */
static int its_cmdq_setup(struct its *s)
{
	hpa_t pa = pmm_alloc(ITS_CMDQ_BYTES, ITS_CMDQ_ALIGN);
	u64 want, got;

	if (!pa) {
		pr_err("its: no memory for its command queue");
		return -KEEL_ENOMEM;
	}
	s->cmdq = hpa_to_hva(pa);
	if (pa & ~CBASER_PA) {
		pr_err("its: its command queue at 0x%llx is beyond 52 bits",
		       (unsigned long long)pa);
		return -KEEL_ENOMEM;
	}
	arch_dma_clean(s->cmdq, ITS_CMDQ_BYTES);
	want = BASER_VALID | pa | (ITS_CMDQ_BYTES / PAGE_SIZE - 1);
	got = its_table_reg(s, GITS_CBASER, want);
	if ((got & ~(BASER_CACHE | BASER_SHARE)) != want) {
		pr_err("its: GITS_CBASER did not take the command queue (reads 0x%llx)",
		       (unsigned long long)got);
		return -KEEL_EIO;
	}
	if ((got >> BASER_INNER_SHIFT & 7) <= CACHE_NC)
		s->coherent = false;
	s->cwriter = 0;
	its_write64(s, GITS_CWRITER, 0);
	return 0;
}

static int its_quiescent(const struct its *s, u32 unused)
{
	(void)unused;
	return (its_read32(s, GITS_CTLR) & (GITS_CTLR_QUIESCENT | GITS_CTLR_ENABLED)) ==
	       GITS_CTLR_QUIESCENT;
}

/* Off, and wait until it has finished with memory: only then may its registers change. */
static int its_off(struct its *s)
{
	u32 ctlr = its_read32(s, GITS_CTLR);

	if (ctlr & GITS_CTLR_ENABLED)
		its_write32(s, GITS_CTLR, ctlr & ~(u32)GITS_CTLR_ENABLED);
	if (its_poll(s, its_quiescent, 0))
		return 0;
	pr_err("its: did not become quiescent within %llu ms",
	       (unsigned long long)(ITS_TIMEOUT_NS / 1000000));
	return -KEEL_ETIMEDOUT;
}

/* Give back every table, the queue and every ITT (the ITS is off and quiescent). */
static void its_release(struct its *s)
{
	for (u32 n = 0; n < GITS_BASERS; n++)
		if (s->table[n])
			pmm_free(hva_to_hpa(s->table[n]), s->table_bytes[n]);
	if (s->cmdq)
		pmm_free(hva_to_hpa(s->cmdq), ITS_CMDQ_BYTES);
	for (u32 i = 0; i < ITS_DEVICES; i++)
		if (s->dev[i].used)
			pmm_free(s->dev[i].itt, its_itt_bytes(s));
	memset(s, 0, sizeof(*s));
}

/* Why GITS_TYPER rules the ITS out for Keel, or NULL. */
static const char *its_unsuitable(u64 typer)
{
	if (!(typer & TYPER_PHYSICAL))
		return "it makes no physical LPIs";
	if (TYPER_ID_BITS(typer) < GIC_LPI_ID_BITS)
		return "its interrupt IDs end below the first LPI";
	return NULL;
}

static int its_start(struct its *s, hpa_t base)
{
	u64 typer;
	u32 cid_bits;
	const char *why;
	int ret;

	WRITE_ONCE(s->ready, false);
	/* An earlier run's memory is given back once its ITS is quiescent, else left to it. */
	if (s->regs && its_off(s))
		memset(s, 0, sizeof(*s));
	its_release(s);
	if (!base || !IS_ALIGNED(base, GITS_FRAME_ALIGN)) {
		pr_err("its: no register frame at 0x%llx (not 64 KiB aligned)",
		       (unsigned long long)base);
		return -KEEL_EINVAL;
	}
	s->regs = hpa_to_hva(base);
	s->base = base;
	ret = its_off(s);
	if (ret)
		return ret;
	typer = its_read64(s, GITS_TYPER);
	why = its_unsuitable(typer);
	if (why) {
		pr_err("its: %s (GITS_TYPER 0x%llx)", why, (unsigned long long)typer);
		return -KEEL_ENOTSUP;
	}
	s->coherent = true;
	s->pta = typer & TYPER_PTA;
	s->id_bits = TYPER_ID_BITS(typer);
	s->itt_entry_bytes = TYPER_ITT_ENTRY_BYTES(typer);
	cid_bits = typer & TYPER_CIL ? TYPER_CIDBITS(typer) : TYPER_CIDBITS_NO_CIL;
	s->collections = MIN(1u << cid_bits, ITS_COLLECTIONS);
	ret = its_tables(s, typer);
	if (!ret)
		ret = its_cmdq_setup(s);
	if (ret)
		return ret;
	/* Tables and queue are in memory before the ITS is told to use them. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	its_write32(s, GITS_CTLR, its_read32(s, GITS_CTLR) | GITS_CTLR_ENABLED);
	if (!(its_read32(s, GITS_CTLR) & GITS_CTLR_ENABLED)) {
		pr_err("its: GITS_CTLR.Enabled does not stick");
		return -KEEL_EIO;
	}
	pr_info("its: 0x%llx (IIDR 0x%08x): %u DeviceIDs, %u-bit interrupt IDs, %u collections, "
		"RDbase by %s, %scoherent",
		(unsigned long long)base, its_read32(s, GITS_IIDR), s->device_ids, s->id_bits,
		s->collections, s->pta ? "address" : "processor number", s->coherent ? "" : "not ");
	WRITE_ONCE(s->ready, true);
	return 0;
}

/* A failed start: the registers back to invalid, every allocation given back. */
static void its_unwind(struct its *s)
{
	if (!s->regs)
		return;
	its_write32(s, GITS_CTLR, its_read32(s, GITS_CTLR) & ~(u32)GITS_CTLR_ENABLED);
	for (u32 n = 0; n < GITS_BASERS; n++)
		if (s->table[n])
			its_write64(s, GITS_BASER(n), its_read64(s, GITS_BASER(n)) & BASER_RO);
	if (s->cmdq)
		its_write64(s, GITS_CBASER, 0);
	its_release(s);
}

/* ---- The interface ------------------------------------------------------- */

int its_init(hpa_t base)
{
	struct its *s = &its_unit;
	unsigned long flags = spin_lock_irqsave(&its_lock);
	int ret = its_start(s, base);

	if (ret)
		its_unwind(s);
	spin_unlock_irqrestore(&its_lock, flags);
	return ret;
}

bool its_ready(void)
{
	return READ_ONCE(its_unit.ready);
}

hpa_t its_doorbell(void)
{
	return its_ready() ? its_unit.base + GITS_TRANSLATER : 0;
}

u32 its_device_id_limit(void)
{
	return its_ready() ? its_unit.device_ids : 0;
}

int its_map_collection(u32 icid, hpa_t rd_base, u32 rd_processor)
{
	unsigned long flags = spin_lock_irqsave(&its_lock);
	int ret = its_do_map_collection(&its_unit, icid, rd_base, rd_processor);

	spin_unlock_irqrestore(&its_lock, flags);
	return ret;
}

int its_map_event(u32 devid, u32 event, u32 lpi, u32 icid)
{
	unsigned long flags = spin_lock_irqsave(&its_lock);
	int ret = its_do_map_event(&its_unit, devid, event, lpi, icid);

	spin_unlock_irqrestore(&its_lock, flags);
	return ret;
}

int its_unmap_event(u32 devid, u32 event)
{
	unsigned long flags = spin_lock_irqsave(&its_lock);
	int ret = its_do_unmap_event(&its_unit, devid, event);

	spin_unlock_irqrestore(&its_lock, flags);
	return ret;
}
