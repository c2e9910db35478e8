/* SPDX-License-Identifier: MIT */
/*
 * The GICv3 ITS driver (arch/aarch64/its.c) against a fake ITS: the init
 * sequence (tables, page sizes, attributes that do not stick, the command
 * queue, Enabled last), every command's encoding, MAPD once per device,
 * the queue's wrap, refused inputs, stalls, refused commands, and memory
 * that runs out. The fake checks every command it runs against its own
 * model, so hostile input that slipped through would show as a bad command.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <keel/abi.h>
#include <keel/pmm.h>

#include "../../arch/aarch64/its.h"
#include "unit.h"

extern char unit_log[];
extern size_t unit_log_len;

/* The spec's values (IHI0069), written out here independently of the driver. */
#define R_CTLR 0x0000
#define R_IIDR 0x0004
#define R_TYPER 0x0008
#define R_CBASER 0x0080
#define R_CWRITER 0x0088
#define R_CREADR 0x0090
#define R_BASER(n) (0x0100u + 8u * (n))
#define TRANSLATER 0x10040
#define FRAME 0x20000u
#define CTLR_ENABLED 1u
#define CTLR_QUIESCENT 0x80000000u
#define CREADR_STALLED 1ull
#define CWRITER_RETRY 1ull
#define Q_OFFSET 0xfffe0ull
#define BASER_VALID (1ull << 63)
#define BASER_INDIRECT (1ull << 62)
#define BASER_PA 0x0000fffffffff000ull
#define CBASER_PA 0x000ffffffffff000ull
#define INNER(v) ((v) >> 59 & 7)
#define OUTER(v) ((v) >> 53 & 7)
#define TYPE(v) ((u32)((v) >> 56 & 7))
#define ESIZE(v) ((u32)((v) >> 48 & 0x1f) + 1)
#define SHARE(v) ((v) >> 10 & 3)
#define PSIZE(v) ((u32)((v) >> 8 & 3))
#define PAGES(v) ((u32)((v)&0xff) + 1)
#define OP_SYNC 0x05
#define OP_MAPD 0x08
#define OP_MAPC 0x09
#define OP_MAPTI 0x0a
#define OP_INV 0x0c
#define OP_DISCARD 0x0f
/* GITS_TYPER: Physical, ITT entry bytes, ID bits, Devbits, PTA, HCC, CIDbits, CIL. */
#define T_PHYS 1ull
#define T_ITT(b) ((u64)((b)-1) << 4)
#define T_IDBITS(b) ((u64)((b)-1) << 8)
#define T_DEVBITS(b) ((u64)((b)-1) << 13)
#define T_PTA (1ull << 19)
#define T_HCC(n) ((u64)(n) << 24)
#define T_CID(b) ((u64)((b)-1) << 32 | 1ull << 36)
/* QEMU 7.2's ITS (-machine virt,gic-version=3): 12-byte ITT entries, 16-bit IDs. */
#define TYPER_QEMU (T_PHYS | T_ITT(12) | T_IDBITS(16) | T_DEVBITS(16) | T_CID(16))
#define IIDR_QEMU 0x43b
#define DEV 0x28u /* 00:05.0 */

/* ---- a small pmm: counts what the driver holds, fails on request --------- */

#define ALLOCS 1024u

static struct {
	void *p;
	u64 size;
} allocs[ALLOCS];
static u32 pmm_fail_in; /* the n-th allocation from now fails (1: the next); 0: none */

hpa_t pmm_alloc(u64 size, u64 align)
{
	void *p;

	if (pmm_fail_in && --pmm_fail_in == 0)
		return 0;
	CHECK(size && size % PAGE_SIZE == 0 && align >= PAGE_SIZE && !(align & (align - 1)));
	if (posix_memalign(&p, align, size))
		return 0;
	memset(p, 0, size);
	for (u32 i = 0; i < ALLOCS; i++) {
		if (!allocs[i].p) {
			allocs[i].p = p;
			allocs[i].size = size;
			return hva_to_hpa(p);
		}
	}
	CHECK(!"too many allocations");
	free(p);
	return 0;
}

void pmm_free(hpa_t base, u64 size)
{
	for (u32 i = 0; i < ALLOCS; i++) {
		if (allocs[i].p && allocs[i].p == hpa_to_hva(base)) {
			CHECK_EQ(allocs[i].size, size);
			free(allocs[i].p);
			allocs[i].p = NULL;
			return;
		}
	}
	CHECK(!"pmm_free of something not allocated");
}

static u32 pmm_live(void)
{
	u32 n = 0;

	for (u32 i = 0; i < ALLOCS; i++)
		n += allocs[i].p != NULL;
	return n;
}

/* The size of the allocation at @pa (0: none starts there). */
static u64 pmm_size_at(hpa_t pa)
{
	for (u32 i = 0; i < ALLOCS; i++)
		if (allocs[i].p && hva_to_hpa(allocs[i].p) == pa)
			return allocs[i].size;
	return 0;
}

/* Memory the driver has forgotten (it gave up on a unit that never went quiet). */
static void pmm_drop_all(void)
{
	for (u32 i = 0; i < ALLOCS; i++) {
		free(allocs[i].p);
		allocs[i].p = NULL;
	}
}

/* ---- a fake ITS ----------------------------------------------------------- */

/*
 * The register frame is one piece of memory mapped twice: read-only at a
 * 64 KiB-aligned address for the driver (its "physical" base), writable for
 * the fake. A write by the driver faults; the fault handler opens the page
 * and single-steps the store (x86 EFLAGS.TF); the trap after it closes the
 * page and applies that register's rules: read-only fields, what sticks,
 * side effects. Reads are plain memory. Commands run when the driver reads
 * the clock. (Single-stepping ties this test to x86_64 Linux hosts.)
 */
struct fake_cfg {
	u64 typer;
	u32 type[8]; /* GITS_BASER<n>.Type (0: not implemented) */
	u32 esize[8]; /* ... Entry_Size in bytes */
	u32 page_sizes; /* bit c: Page_Size c sticks; others read back as fixed_psize */
	u32 fixed_psize;
	bool non_shareable; /* Shareability reads back 0 */
	bool never_quiet; /* GITS_CTLR.Quiescent stays 0 */
	bool was_enabled; /* the firmware left it on */
};

static u8 *drv, *regs; /* the driver's view, the fake's */
static struct fake_cfg cfg;
static u8 shadow[0x200]; /* the registers as they were before a write */
static uintptr_t trap_at;
static u32 bad_writes; /* to read-only registers, or no register at all */

struct wr {
	u32 off;
	u64 val;
};
#define WRITE_LOG 64u
static struct wr wlog[WRITE_LOG];
static u32 wlog_n;
static u32 enabled_at; /* wlog_n when Enabled was set */
static bool enabled_saw_all; /* when it was: both tables, the queue, CWRITER 0 */

/* Commands run, in order; each one the fake checked against its model. */
struct cmd {
	u64 d[4];
};
#define CMD_LOG 4096u
static struct cmd clog[CMD_LOG];
static u32 cmd_n;
static bool stall; /* the fake runs no command */
static int runs_left = -1; /* commands it runs before it stalls (-1: all) */
static u32 refuse_op; /* it stalls on the next command of this opcode (0: none) */
static u32 retries;
static u64 now_ns;

static u64 reg64(u32 off)
{
	u64 v;

	memcpy(&v, regs + off, 8);
	return v;
}

static u32 reg32(u32 off)
{
	u32 v;

	memcpy(&v, regs + off, 4);
	return v;
}

static void set64(u32 off, u64 v)
{
	memcpy(regs + off, &v, 8);
}

static void set32(u32 off, u32 v)
{
	memcpy(regs + off, &v, 4);
}

static u64 shadow64(u32 off)
{
	u64 v;

	memcpy(&v, shadow + off, 8);
	return v;
}

static u64 baser_fixed(u32 n)
{
	return (u64)cfg.type[n] << 56 | (u64)(cfg.esize[n] ? cfg.esize[n] - 1 : 0) << 48;
}

static void ctlr_written(void)
{
	u32 v = reg32(R_CTLR) & CTLR_ENABLED;

	if (v && !(shadow[0] & CTLR_ENABLED)) {
		enabled_at = wlog_n - 1;
		enabled_saw_all = (reg64(R_BASER(0)) & BASER_VALID) &&
				  (reg64(R_BASER(1)) & BASER_VALID) &&
				  (reg64(R_CBASER) & BASER_VALID) && reg64(R_CWRITER) == 0;
	}
	set32(R_CTLR, v | (v || cfg.never_quiet ? 0 : CTLR_QUIESCENT));
}

static void baser_written(u32 n)
{
	u64 v = reg64(R_BASER(n));
	u32 ps = PSIZE(v);

	if (!cfg.type[n]) {
		set64(R_BASER(n), 0);
		return;
	}
	v &= ~(7ull << 56 | 0x1full << 48 | BASER_INDIRECT); /* Type, Entry_Size RO; flat only */
	v |= baser_fixed(n);
	if (!(cfg.page_sizes & 1u << ps))
		v = (v & ~(3ull << 8)) | (u64)cfg.fixed_psize << 8;
	if (cfg.non_shareable)
		v &= ~(3ull << 10);
	set64(R_BASER(n), v);
}

/* The rules of the register the driver just wrote at @off. */
static void fake_written(u32 off)
{
	bool on = shadow[0] & CTLR_ENABLED;

	if (wlog_n < WRITE_LOG)
		wlog[wlog_n] = (struct wr){ off, off == R_CTLR ? reg32(off) : reg64(off) };
	wlog_n++;
	if (off == R_CTLR) {
		ctlr_written();
	} else if (off == R_CBASER) {
		if (on) {
			set64(off, shadow64(off));
		} else {
			if (cfg.non_shareable)
				set64(off, reg64(off) & ~(3ull << 10));
			set64(R_CREADR, 0);
		}
	} else if (off == R_CWRITER) {
		if (reg64(off) & CWRITER_RETRY) {
			set64(R_CREADR, reg64(R_CREADR) & ~CREADR_STALLED);
			retries++;
		}
		set64(off, reg64(off) & Q_OFFSET);
	} else if (off >= R_BASER(0) && off < R_BASER(8) && off % 8 == 0) {
		if (on)
			set64(off, shadow64(off));
		else
			baser_written((off - R_BASER(0)) / 8);
	} else {
		bad_writes++;
		memcpy(regs + (off & ~7u), shadow + (off & ~7u), 8);
	}
	memcpy(shadow, regs, sizeof(shadow));
}

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	uintptr_t a = (uintptr_t)si->si_addr;

	if (a < (uintptr_t)drv || a >= (uintptr_t)drv + sizeof(shadow)) {
		signal(SIGSEGV, SIG_DFL); /* a real fault: it happens again, unhandled */
		return;
	}
	trap_at = a;
	mprotect(drv, FRAME, PROT_READ | PROT_WRITE);
	uc->uc_mcontext.gregs[REG_EFL] |= 0x100; /* TF: trap after the store */
	(void)sig;
}

static void on_trap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	uc->uc_mcontext.gregs[REG_EFL] &= ~0x100ll;
	mprotect(drv, FRAME, PROT_READ);
	fake_written((u32)(trap_at - (uintptr_t)drv));
	(void)sig;
	(void)si;
}

static void fake_map(void)
{
	int fd = memfd_create("its", 0);
	u8 *span;
	struct sigaction sa = { .sa_flags = SA_SIGINFO };

	CHECK(fd >= 0 && ftruncate(fd, FRAME) == 0);
	regs = mmap(NULL, FRAME, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	span = mmap(NULL, 2 * FRAME, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	drv = (u8 *)(((uintptr_t)span + 0xffff) & ~(uintptr_t)0xffff);
	drv = mmap(drv, FRAME, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
	CHECK(regs != MAP_FAILED && drv != MAP_FAILED);
	close(fd);
	sa.sa_sigaction = on_segv;
	sigaction(SIGSEGV, &sa, NULL);
	sa.sa_sigaction = on_trap;
	sigaction(SIGTRAP, &sa, NULL);
}

/* ---- the fake's model: tables in the driver's memory, checked commands ---- */

/* Table @type's memory and entries (NULL if no register holds it valid). */
static u8 *table_of(u32 type, u64 *entries, u32 *esize)
{
	for (u32 n = 0; n < 8; n++) {
		u64 v = reg64(R_BASER(n));

		if (TYPE(v) == type && (v & BASER_VALID)) {
			*esize = ESIZE(v);
			*entries = (u64)PAGES(v) * (4096u << 2 * PSIZE(v)) / ESIZE(v);
			return hpa_to_hva(v & BASER_PA);
		}
	}
	return NULL;
}

/* The fake's device table entry (its own layout): V, event ID bits - 1, ITT. */
static u64 *dte(u32 devid)
{
	u64 n;
	u32 esz;
	u8 *t = table_of(1, &n, &esz);

	if (!t || devid >= n) {
		CHECK(!"DeviceID beyond the device table");
		return NULL;
	}
	return (u64 *)(t + (u64)devid * esz);
}

static u64 *cte(u32 icid)
{
	u64 n;
	u32 esz;
	u8 *t = table_of(4, &n, &esz);
	static u64 held[256]; /* collections in hardware (HCC) */

	if (icid < (cfg.typer >> 24 & 0xff))
		return &held[icid];
	if (!t || icid >= n) {
		CHECK(!"ICID beyond the collection table");
		return NULL;
	}
	return (u64 *)(t + (u64)icid * esz);
}

/*
 * The interrupt translation entry of @event of the device whose entry is
 * @d (the fake's layout: V, LPI, ICID in its first 8 bytes, at any alignment).
 */
static u8 *ite(u64 d, u32 event)
{
	u32 esz = (u32)(cfg.typer >> 4 & 0xf) + 1;

	if (!(d & 1) || event >= 2u << (d >> 1 & 0x1f)) {
		CHECK(!"event of a device not mapped, or beyond its ITT");
		return NULL;
	}
	return (u8 *)hpa_to_hva(d & 0x000fffffffffff00ull) + (u64)event * esz;
}

static u64 ite_get(const u8 *i)
{
	u64 v;

	memcpy(&v, i, 8);
	return v;
}

static void ite_set(u8 *i, u64 v)
{
	memcpy(i, &v, 8);
}

static void fake_mapd(const u64 *c)
{
	u64 *e = dte((u32)(c[0] >> 32));

	if (!e)
		return;
	if (c[2] >> 63) {
		CHECK((c[1] & 0x1f) < 16 && !(c[2] & 0xff));
		*e = (c[2] & 0x000fffffffffff00ull) | (c[1] & 0x1f) << 1 | 1;
		return;
	}
	/* The device's events were all discarded before it goes. */
	for (u32 ev = 0; (*e & 1) && ev < 2u << (*e >> 1 & 0x1f); ev++)
		CHECK(!(ite_get(ite(*e, ev)) & 1));
	*e = 0;
}

static void fake_mapti(const u64 *c)
{
	u64 *e = dte((u32)(c[0] >> 32)), *col;
	u8 *i;
	u32 lpi = (u32)(c[1] >> 32), idb = (u32)(cfg.typer >> 8 & 0x1f) + 1;

	if (!e || !(i = ite(*e, (u32)c[1])) || !(col = cte((u32)(c[2] & 0xffff))))
		return;
	CHECK(*col & 1);
	CHECK(lpi >= 8192 && (u64)lpi >> idb == 0);
	CHECK(!(ite_get(i) & 1));
	CHECK(!(c[2] >> 16));
	ite_set(i, 1 | (u64)lpi << 1 | (c[2] & 0xffff) << 33);
}

static void fake_event_cmd(const u64 *c, bool discard)
{
	u64 *e = dte((u32)(c[0] >> 32));
	u8 *i;

	if (!e || !(i = ite(*e, (u32)c[1])))
		return;
	CHECK(ite_get(i) & 1);
	CHECK(!(c[1] >> 32) && !c[2]);
	if (discard)
		ite_set(i, 0);
}

static void fake_run(const u64 *c)
{
	u64 *col;

	if (cmd_n < CMD_LOG)
		memcpy(clog[cmd_n].d, c, 32);
	cmd_n++;
	CHECK(!c[3]);
	switch (c[0] & 0xff) {
	case OP_MAPD:
		fake_mapd(c);
		break;
	case OP_MAPC:
		CHECK(c[2] >> 63 && !c[1] && !(c[0] >> 8));
		col = cte((u32)(c[2] & 0xffff));
		if (col)
			*col = 1 | (c[2] & 0x000fffffffff0000ull);
		break;
	case OP_MAPTI:
		fake_mapti(c);
		break;
	case OP_DISCARD:
	case OP_INV:
		fake_event_cmd(c, (c[0] & 0xff) == OP_DISCARD);
		break;
	case OP_SYNC:
		CHECK(!(c[0] >> 8) && !c[1] && !(c[2] & ~0x000fffffffff0000ull));
		break;
	default:
		CHECK(!"a command the driver never sends");
	}
}

static void fake_step(void)
{
	u64 cbaser = reg64(R_CBASER), creadr = reg64(R_CREADR);
	u32 qbytes = PAGES(cbaser) * 4096, off = (u32)(creadr & Q_OFFSET);
	u32 cw = (u32)(reg64(R_CWRITER) & Q_OFFSET);
	const u64 *q = hpa_to_hva(cbaser & CBASER_PA);

	if (!(reg32(R_CTLR) & CTLR_ENABLED)) {
		set32(R_CTLR, cfg.never_quiet ? 0 : CTLR_QUIESCENT);
		return;
	}
	if (stall || !(cbaser & BASER_VALID) || (creadr & CREADR_STALLED))
		return;
	CHECK(cw < qbytes);
	while (off != cw && runs_left != 0) {
		const u64 *c = q + off / 8;

		if ((c[0] & 0xff) == refuse_op) {
			set64(R_CREADR, off | CREADR_STALLED);
			refuse_op = 0;
			return;
		}
		fake_run(c);
		if (runs_left > 0)
			runs_left--;
		off = (off + 32) % qbytes;
		set64(R_CREADR, off);
	}
}

u64 arch_time_ns(void)
{
	fake_step();
	now_ns += 100000;
	return now_ns;
}

static void log_clear(void)
{
	unit_log_len = 0;
	unit_log[0] = 0;
}

static bool logged(const char *s)
{
	return strstr(unit_log, s) != NULL;
}

static struct fake_cfg qemu(void)
{
	return (struct fake_cfg){ .typer = TYPER_QEMU,
				  .type = { 1, 4 },
				  .esize = { 8, 8 },
				  .page_sizes = 7,
				  .fixed_psize = 2 };
}

/* A fresh fake of @c (the driver's earlier memory is freed by its next its_init). */
static void fake_reset(struct fake_cfg c)
{
	cfg = c;
	memset(regs, 0, FRAME);
	set64(R_TYPER, cfg.typer);
	set32(R_IIDR, IIDR_QEMU);
	for (u32 n = 0; n < 8; n++)
		set64(R_BASER(n), cfg.type[n] ? baser_fixed(n) | 2ull << 8 : 0);
	set32(R_CTLR, cfg.was_enabled ? CTLR_ENABLED : cfg.never_quiet ? 0 : CTLR_QUIESCENT);
	memcpy(shadow, regs, sizeof(shadow));
	wlog_n = cmd_n = bad_writes = retries = enabled_at = 0;
	enabled_saw_all = stall = false;
	runs_left = -1;
	refuse_op = 0;
	pmm_fail_in = 0;
	log_clear();
}

static hpa_t base(void)
{
	return hva_to_hpa(drv);
}

/* A QEMU ITS, on, with collections 0..3 on processors 0..3. */
static void qemu_up(void)
{
	fake_reset(qemu());
	CHECK_EQ(its_init(base()), 0);
	for (u32 i = 0; i < 4; i++)
		CHECK_EQ(its_map_collection(i, 0, i), 0);
	cmd_n = 0;
	log_clear();
}

/* Nothing reached the ITS: no register written, no command. */
#define CHECK_UNTOUCHED(call, want)                 \
	do {                                        \
		u32 w_ = wlog_n, c_ = cmd_n;        \
		u64 cw_ = reg64(R_CWRITER);         \
		CHECK_EQ(call, want);               \
		CHECK(wlog_n == w_ && cmd_n == c_); \
		CHECK_EQ(reg64(R_CWRITER), cw_);    \
	} while (0)

/* ---- tests ---------------------------------------------------------------- */

static void test_init_qemu(void)
{
	u64 dt, ct, cq;

	fake_reset(qemu());
	CHECK(!its_ready());
	CHECK_EQ(its_init(base()), 0);
	CHECK(its_ready());
	CHECK_EQ(bad_writes, 0);
	CHECK_EQ(cmd_n, 0); /* nothing to say until a collection is mapped */
	/* Enabled last, and only once everything else was in place. */
	CHECK(enabled_saw_all);
	CHECK_EQ(enabled_at, wlog_n - 1);
	CHECK_EQ(wlog[wlog_n - 1].off, R_CTLR);
	CHECK_EQ(reg32(R_CTLR) & CTLR_ENABLED, 1);

	/* Devices: 2^16 entries of 8 bytes in 128 pages of 4 KiB, write-back inner shareable. */
	dt = reg64(R_BASER(0));
	CHECK(dt & BASER_VALID);
	CHECK(!(dt & BASER_INDIRECT));
	CHECK_EQ(TYPE(dt), 1);
	CHECK_EQ(ESIZE(dt), 8);
	CHECK_EQ(PSIZE(dt), 0);
	CHECK_EQ(PAGES(dt), 128);
	CHECK_EQ(INNER(dt), 7);
	CHECK_EQ(OUTER(dt), 7);
	CHECK_EQ(SHARE(dt), 1);
	CHECK_EQ(pmm_size_at(dt & BASER_PA), 512 * 1024);
	/* Collections: one per CPU (64 x 8 bytes), one page. */
	ct = reg64(R_BASER(1));
	CHECK(ct & BASER_VALID);
	CHECK_EQ(TYPE(ct), 4);
	CHECK_EQ(PSIZE(ct), 0);
	CHECK_EQ(PAGES(ct), 1);
	CHECK_EQ(pmm_size_at(ct & BASER_PA), 4096);
	for (u32 n = 2; n < 8; n++)
		CHECK_EQ(reg64(R_BASER(n)), 0);
	/* The command queue: one page, 64 KiB aligned, CWRITER at its start. */
	cq = reg64(R_CBASER);
	CHECK(cq & BASER_VALID);
	CHECK_EQ(PAGES(cq), 1);
	CHECK_EQ(INNER(cq), 7);
	CHECK_EQ(SHARE(cq), 1);
	CHECK_EQ(cq & CBASER_PA & 0xffff, 0);
	CHECK_EQ(pmm_size_at(cq & CBASER_PA), 4096);
	CHECK_EQ(reg64(R_CWRITER), 0);
	CHECK_EQ(pmm_live(), 3);

	CHECK_EQ(its_doorbell(), base() + TRANSLATER);
	CHECK_EQ(its_device_id_limit(), 65536);
	CHECK(logged("its: 0x"));
	CHECK(logged("(IIDR 0x0000043b): 65536 DeviceIDs, 16-bit interrupt IDs, 64 collections, "
		     "RDbase by processor number, coherent"));

	/* Again: it starts over, and the first run's memory is given back. */
	CHECK_EQ(its_map_collection(0, 0, 0), 0);
	CHECK_EQ(its_map_event(DEV, 0, 8192, 0), 0);
	CHECK_EQ(pmm_live(), 4);
	fake_reset(qemu());
	CHECK_EQ(its_init(base()), 0);
	CHECK_EQ(pmm_live(), 3);
	CHECK_EQ(its_map_event(DEV, 0, 8192, 0), -KEEL_EINVAL); /* collections start unmapped */
}

static void test_init_firmware_left_on(void)
{
	struct fake_cfg c = qemu();

	/* Off first, and quiescent, before any table register changes. */
	c.was_enabled = true;
	fake_reset(c);
	CHECK_EQ(its_init(base()), 0);
	CHECK(wlog_n > 2);
	CHECK_EQ(wlog[0].off, R_CTLR);
	CHECK_EQ(wlog[0].val & CTLR_ENABLED, 0);
	CHECK(its_ready());

	/* It never says quiescent: nothing is programmed, nothing allocated or freed. */
	c.never_quiet = true;
	fake_reset(c);
	CHECK_EQ(its_init(base()), -KEEL_ETIMEDOUT);
	CHECK(logged("its: did not become quiescent within 1000 ms"));
	CHECK(!its_ready());
	CHECK_EQ(reg64(R_CBASER), 0);
	CHECK_EQ(its_doorbell(), 0);
	CHECK_EQ(its_device_id_limit(), 0);
	/* The earlier run's tables were left to that ITS. */
	CHECK_EQ(pmm_live(), 3);
	pmm_drop_all();
}

static void test_page_sizes(void)
{
	struct fake_cfg c = qemu();
	u64 dt;

	/* 32-byte entries: 2 MiB, more than 256 pages of 4 KiB: 16 KiB pages. */
	c.esize[0] = 32;
	fake_reset(c);
	CHECK_EQ(its_init(base()), 0);
	dt = reg64(R_BASER(0));
	CHECK_EQ(PSIZE(dt), 1);
	CHECK_EQ(PAGES(dt), 128);
	CHECK_EQ((dt & BASER_PA) % 16384, 0);
	CHECK_EQ(pmm_size_at(dt & BASER_PA), 2 << 20);
	CHECK_EQ(its_device_id_limit(), 65536);

	/* ... and an ITS with 4 KiB pages only: 256 of them, half the DeviceIDs. */
	c.page_sizes = 1;
	c.fixed_psize = 0;
	fake_reset(c);
	CHECK_EQ(its_init(base()), 0);
	dt = reg64(R_BASER(0));
	CHECK_EQ(PSIZE(dt), 0);
	CHECK_EQ(PAGES(dt), 256);
	CHECK_EQ(its_device_id_limit(), 32768);
	CHECK_EQ(its_map_collection(0, 0, 0), 0);
	CHECK_UNTOUCHED(its_map_event(40000, 0, 8192, 0), -KEEL_EINVAL);
	CHECK_EQ(its_map_event(32767, 0, 8192, 0), 0);

	/* 64 KiB pages only: what sticks is used, 64 KiB aligned. */
	c = qemu();
	c.page_sizes = 4;
	c.fixed_psize = 2;
	fake_reset(c);
	CHECK_EQ(its_init(base()), 0);
	dt = reg64(R_BASER(0));
	CHECK_EQ(PSIZE(dt), 2);
	CHECK_EQ(PAGES(dt), 8);
	CHECK_EQ((dt & BASER_PA) % 65536, 0);
	CHECK_EQ(PSIZE(reg64(R_BASER(1))), 2);
	CHECK_EQ(pmm_size_at(reg64(R_BASER(1)) & BASER_PA), 65536);
	CHECK_EQ(its_device_id_limit(), 65536);

	/* More DeviceID bits than PCI segment 0 has: 2^16 of them still. */
	c = qemu();
	c.typer = (TYPER_QEMU & ~T_DEVBITS(32)) | T_DEVBITS(20);
	fake_reset(c);
	CHECK_EQ(its_init(base()), 0);
	CHECK_EQ(PAGES(reg64(R_BASER(0))), 128);
	CHECK_EQ(its_device_id_limit(), 65536);

	/* Fewer: the table as large as they need, one page. */
	c.typer = (TYPER_QEMU & ~T_DEVBITS(32)) | T_DEVBITS(8);
	fake_reset(c);
	CHECK_EQ(its_init(base()), 0);
	CHECK_EQ(PAGES(reg64(R_BASER(0))), 1);
	CHECK_EQ(its_device_id_limit(), 256);
	CHECK_EQ(its_map_collection(0, 0, 0), 0);
	CHECK_UNTOUCHED(its_map_event(256, 0, 8192, 0), -KEEL_EINVAL);
	CHECK_EQ(its_map_event(255, 0, 8192, 0), 0);
}

static void test_non_shareable(void)
{
	struct fake_cfg c = qemu();
	u64 dt, cq;

	/* Shareability does not stick: non-shareable and non-cacheable, and cleaned. */
	c.non_shareable = true;
	fake_reset(c);
	CHECK_EQ(its_init(base()), 0);
	dt = reg64(R_BASER(0));
	cq = reg64(R_CBASER);
	CHECK(dt & BASER_VALID);
	CHECK_EQ(SHARE(dt), 0);
	CHECK_EQ(INNER(dt), 1);
	CHECK_EQ(OUTER(dt), 1);
	CHECK_EQ(SHARE(cq), 0);
	CHECK_EQ(INNER(cq), 1);
	CHECK(logged("not coherent"));
	CHECK_EQ(its_map_collection(1, 0, 1), 0);
	CHECK_EQ(its_map_event(DEV, 3, 9000, 1), 0);
	CHECK_EQ(its_unmap_event(DEV, 3), 0);
}

static void test_collections(void)
{
	struct fake_cfg c = qemu();

	/* Collections in hardware cover Keel's: no collection table. */
	c.typer |= T_HCC(64);
	fake_reset(c);
	CHECK_EQ(its_init(base()), 0);
	CHECK_EQ(reg64(R_BASER(1)) & BASER_VALID, 0);
	CHECK_EQ(pmm_live(), 2);
	CHECK_EQ(its_map_collection(63, 0, 63), 0);
	CHECK_EQ(its_map_event(DEV, 0, 8192, 63), 0);

	/* No collection table, 4 in hardware: 4 collections. */
	c = qemu();
	c.type[1] = 0;
	c.typer |= T_HCC(4);
	fake_reset(c);
	CHECK_EQ(its_init(base()), 0);
	CHECK(logged("4 collections"));
	CHECK_EQ(its_map_collection(3, 0, 3), 0);
	CHECK_UNTOUCHED(its_map_collection(4, 0, 4), -KEEL_EINVAL);

	/* Fewer ICID bits than CPUs: only those. */
	c = qemu();
	c.typer = (TYPER_QEMU & ~(0xfull << 32)) | T_CID(3);
	fake_reset(c);
	CHECK_EQ(its_init(base()), 0);
	CHECK_EQ(its_map_collection(7, 0, 7), 0);
	CHECK_UNTOUCHED(its_map_collection(8, 0, 8), -KEEL_EINVAL);
}

static void test_init_refused(void)
{
	static const struct {
		u64 typer;
		u32 type1;
		int ret;
		const char *why;
	} bad[] = {
		{ TYPER_QEMU & ~T_PHYS, 4, -KEEL_ENOTSUP, "its: it makes no physical LPIs" },
		{ (TYPER_QEMU & ~T_IDBITS(32)) | T_IDBITS(13), 4, -KEEL_ENOTSUP,
		  "its: its interrupt IDs end below the first LPI" },
		{ TYPER_QEMU, 0, -KEEL_ENOTSUP,
		  "its: it has neither a collection table nor collections in hardware" },
	};
	struct fake_cfg c;

	for (u32 i = 0; i < ARRAY_SIZE(bad); i++) {
		c = qemu();
		c.typer = bad[i].typer;
		c.type[1] = bad[i].type1;
		fake_reset(c);
		CHECK_EQ(its_init(base()), bad[i].ret);
		CHECK(logged(bad[i].why));
		CHECK(!its_ready());
		CHECK_EQ(reg32(R_CTLR) & CTLR_ENABLED, 0);
		CHECK_EQ(reg64(R_BASER(0)) & BASER_VALID, 0);
		CHECK_EQ(pmm_live(), 0);
	}

	/* No device table at all. */
	c = qemu();
	c.type[0] = 0;
	fake_reset(c);
	CHECK_EQ(its_init(base()), -KEEL_ENOTSUP);
	CHECK(logged("its: no GITS_BASER holds a device table"));
	CHECK_EQ(pmm_live(), 0);

	/* A frame that is not one. */
	fake_reset(qemu());
	CHECK_EQ(its_init(base() + 0x1000), -KEEL_EINVAL);
	CHECK(logged("its: no register frame at 0x"));
	CHECK_EQ(its_init(0), -KEEL_EINVAL);
	CHECK_EQ(wlog_n, 0);
	CHECK(!its_ready());

	/* No memory, at each of the three allocations: nothing kept, nothing on. */
	for (u32 n = 1; n <= 3; n++) {
		fake_reset(qemu());
		pmm_fail_in = n;
		CHECK_EQ(its_init(base()), -KEEL_ENOMEM);
		CHECK(logged(n == 3 ? "its: no memory for its command queue"
				    : "its: no memory for its table"));
		CHECK(!its_ready());
		CHECK_EQ(pmm_live(), 0);
		CHECK_EQ(reg32(R_CTLR) & CTLR_ENABLED, 0);
		CHECK_EQ(reg64(R_BASER(0)) & BASER_VALID, 0);
		CHECK_EQ(reg64(R_BASER(1)) & BASER_VALID, 0);
		CHECK_EQ(reg64(R_CBASER) & BASER_VALID, 0);
		CHECK_EQ(its_map_collection(0, 0, 0), -KEEL_ENODEV);
	}
}

static void test_commands(void)
{
	const struct cmd *k;
	u64 itt;

	fake_reset(qemu());
	CHECK_EQ(its_init(base()), 0);

	/* MAPC collection 3 -> processor 3 (PTA 0: RDbase = processor number), then SYNC. */
	CHECK_EQ(its_map_collection(3, 0x080a0000, 3), 0);
	CHECK_EQ(cmd_n, 2);
	CHECK_EQ(clog[0].d[0], OP_MAPC);
	CHECK_EQ(clog[0].d[1], 0);
	CHECK_EQ(clog[0].d[2], 1ull << 63 | 3ull << 16 | 3);
	CHECK_EQ(clog[1].d[0], OP_SYNC);
	CHECK_EQ(clog[1].d[2], 3ull << 16);
	CHECK_EQ(clog[1].d[1] | clog[1].d[3], 0);

	/* The first event of a device: MAPD (ITT of 256 events), MAPTI, SYNC. */
	cmd_n = 0;
	CHECK_EQ(its_map_event(DEV, 0, 8192, 3), 0);
	CHECK_EQ(cmd_n, 3);
	k = &clog[0];
	CHECK_EQ(k->d[0], OP_MAPD | (u64)DEV << 32);
	CHECK_EQ(k->d[1], 7); /* 8 event ID bits */
	CHECK(k->d[2] >> 63);
	itt = k->d[2] & 0x000fffffffffff00ull;
	CHECK_EQ(k->d[2], 1ull << 63 | itt);
	CHECK_EQ(itt % 4096, 0);
	CHECK_EQ(pmm_size_at(itt), 4096); /* 256 x 12 bytes */
	CHECK_EQ(pmm_live(), 4);
	k = &clog[1];
	CHECK_EQ(k->d[0], OP_MAPTI | (u64)DEV << 32);
	CHECK_EQ(k->d[1], 0 | 8192ull << 32);
	CHECK_EQ(k->d[2], 3);
	CHECK_EQ(clog[2].d[0], OP_SYNC);
	CHECK_EQ(clog[2].d[2], 3ull << 16);

	/* Its second: no MAPD. */
	cmd_n = 0;
	CHECK_EQ(its_map_event(DEV, 255, 65535, 3), 0);
	CHECK_EQ(cmd_n, 2);
	CHECK_EQ(clog[0].d[0], OP_MAPTI | (u64)DEV << 32);
	CHECK_EQ(clog[0].d[1], 255 | 65535ull << 32);
	CHECK_EQ(pmm_live(), 4);

	/* One event gone: DISCARD + SYNC, the device stays. */
	cmd_n = 0;
	CHECK_EQ(its_unmap_event(DEV, 0), 0);
	CHECK_EQ(cmd_n, 2);
	CHECK_EQ(clog[0].d[0], OP_DISCARD | (u64)DEV << 32);
	CHECK_EQ(clog[0].d[1], 0);
	CHECK_EQ(clog[1].d[0], OP_SYNC);
	CHECK_EQ(pmm_live(), 4);

	/* The last: DISCARD, SYNC, MAPD V=0, SYNC; the ITT freed. */
	cmd_n = 0;
	CHECK_EQ(its_unmap_event(DEV, 255), 0);
	CHECK_EQ(cmd_n, 4);
	CHECK_EQ(clog[0].d[0], OP_DISCARD | (u64)DEV << 32);
	CHECK_EQ(clog[0].d[1], 255);
	CHECK_EQ(clog[2].d[0], OP_MAPD | (u64)DEV << 32);
	CHECK_EQ(clog[2].d[2] >> 63, 0);
	CHECK_EQ(clog[3].d[0], OP_SYNC);
	CHECK_EQ(pmm_live(), 3);
	CHECK_EQ(pmm_size_at(itt), 0);

	/* Mapped again: MAPD again, with a new ITT. */
	cmd_n = 0;
	CHECK_EQ(its_map_event(DEV, 5, 8200, 3), 0);
	CHECK_EQ(clog[0].d[0], OP_MAPD | (u64)DEV << 32);
	CHECK_EQ(pmm_live(), 4);

	/* Two devices, two ITTs; events on different collections sync their own. */
	CHECK_EQ(its_map_collection(0, 0, 0), 0);
	cmd_n = 0;
	CHECK_EQ(its_map_event(DEV + 8, 5, 8201, 0), 0);
	CHECK_EQ(pmm_live(), 5);
	CHECK_EQ(clog[2].d[2], 0);
	CHECK_EQ(its_unmap_event(DEV + 8, 5), 0);
	CHECK_EQ(its_unmap_event(DEV, 5), 0);
	CHECK_EQ(pmm_live(), 3);
	CHECK_EQ(bad_writes, 0);
}

static void test_pta(void)
{
	struct fake_cfg c = qemu();

	/* PTA 1: RDbase is the redistributor's physical address (bits 51:16, in place). */
	c.typer |= T_PTA;
	fake_reset(c);
	CHECK_EQ(its_init(base()), 0);
	CHECK(logged("RDbase by address"));
	CHECK_EQ(its_map_collection(2, 0x080e0000, 2), 0);
	CHECK_EQ(clog[0].d[2], 1ull << 63 | 0x080e0000ull | 2);
	CHECK_EQ(clog[1].d[2], 0x080e0000ull);
	CHECK_EQ(its_map_collection(5, 0x000f123456780000ull, 0), 0);
	CHECK_EQ(clog[2].d[2], 1ull << 63 | 0x000f123456780000ull | 5);
	CHECK_UNTOUCHED(its_map_collection(2, 0x080e1000, 2), -KEEL_EINVAL); /* not 64 KiB */
	CHECK_UNTOUCHED(its_map_collection(2, 1ull << 52, 2), -KEEL_EINVAL);
	cmd_n = 0;
	CHECK_EQ(its_map_event(DEV, 1, 8192, 2), 0);
	CHECK_EQ(clog[2].d[0], OP_SYNC);
	CHECK_EQ(clog[2].d[2], 0x080e0000ull);

	/* PTA 0: the processor number, shifted into the same field; the address unused. */
	fake_reset(qemu());
	CHECK_EQ(its_init(base()), 0);
	CHECK_EQ(its_map_collection(2, 0x080e0000, 7), 0);
	CHECK_EQ(clog[0].d[2], 1ull << 63 | 7ull << 16 | 2);
	CHECK_EQ(its_map_collection(1, 0x080e1000, 0xffff), 0);
	CHECK_EQ(clog[2].d[2], 1ull << 63 | 0xffffull << 16 | 1);
	CHECK_UNTOUCHED(its_map_collection(1, 0, 0x10000), -KEEL_EINVAL);
}

static void test_refused_inputs(void)
{
	/* Before its_init: nothing is sent anywhere. */
	fake_reset((struct fake_cfg){ .typer = 0 });
	CHECK_EQ(its_init(base()), -KEEL_ENOTSUP);
	CHECK_UNTOUCHED(its_map_collection(0, 0, 0), -KEEL_ENODEV);
	CHECK_UNTOUCHED(its_map_event(DEV, 0, 8192, 0), -KEEL_ENODEV);
	CHECK_UNTOUCHED(its_unmap_event(DEV, 0), -KEEL_ENODEV);

	qemu_up();
	CHECK_EQ(its_map_event(DEV, 7, 8192, 1), 0);
	CHECK_UNTOUCHED(its_map_event(65536, 0, 8192, 1), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_map_event(~0u, 0, 8192, 1), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_map_event(DEV, 256, 8192, 1), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_map_event(DEV, ~0u, 8192, 1), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_map_event(DEV, 0, 8191, 1), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_map_event(DEV, 0, 1023, 1), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_map_event(DEV, 0, 65536, 1), -KEEL_EINVAL); /* 16 ID bits */
	CHECK_UNTOUCHED(its_map_event(DEV, 0, ~0u, 1), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_map_event(DEV, 0, 8192, 4), -KEEL_EINVAL); /* not mapped */
	CHECK_UNTOUCHED(its_map_event(DEV, 0, 8192, 64), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_map_event(DEV, 0, 8192, ~0u), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_map_event(DEV, 7, 8193, 1), -KEEL_EINVAL); /* mapped already */
	CHECK_UNTOUCHED(its_map_event(DEV + 1, 0, 8192, 4), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_unmap_event(DEV, 6), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_unmap_event(DEV + 1, 7), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_unmap_event(DEV, 256), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_unmap_event(65536, 7), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_unmap_event(DEV + 65536, 7), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_map_collection(64, 0, 0), -KEEL_EINVAL);
	CHECK_UNTOUCHED(its_map_collection(~0u, 0, 0), -KEEL_EINVAL);
	CHECK_EQ(pmm_live(), 4);
	CHECK_EQ(its_unmap_event(DEV, 7), 0);
	CHECK_UNTOUCHED(its_unmap_event(DEV, 7), -KEEL_EINVAL);
	CHECK_EQ(pmm_live(), 3);
}

static void test_wrap(void)
{
	u32 laps = 0, last = 0;

	qemu_up();
	/* 7 commands a round, 128 slots: the queue wraps several times. */
	for (u32 i = 0; i < 100; i++) {
		u32 cw;

		CHECK_EQ(its_map_event(DEV, i % ITS_EVENTS, 8192 + i, i % 4), 0);
		CHECK_EQ(its_unmap_event(DEV, i % ITS_EVENTS), 0);
		cw = (u32)reg64(R_CWRITER);
		laps += cw < last;
		last = cw;
		CHECK(cw < 4096 && cw % 32 == 0);
		CHECK_EQ(reg64(R_CREADR), cw);
	}
	CHECK(laps >= 5);
	CHECK_EQ(cmd_n, 700);
	/* Every round read back whole across the wrap: the same 7 commands each time. */
	for (u32 i = 0; i < 700; i++) {
		static const u32 ops[7] = { OP_MAPD, OP_MAPTI, OP_SYNC, OP_DISCARD,
					    OP_SYNC, OP_MAPD,  OP_SYNC };

		CHECK_EQ(clog[i].d[0], ops[i % 7] | (ops[i % 7] == OP_SYNC ? 0 : (u64)DEV << 32));
	}
	CHECK_EQ(clog[7 * 99 + 1].d[1], 99 | (8192ull + 99) << 32);
	CHECK_EQ(pmm_live(), 3);
}

static void test_timeouts(void)
{
	/* A queue that never moves: the command named, the ITS given up. */
	qemu_up();
	stall = true;
	CHECK_EQ(its_map_collection(5, 0, 5), -KEEL_ETIMEDOUT);
	CHECK(logged("its: did not run MAPC within 1000 ms"));
	CHECK(logged("its: stopped: no more commands are sent"));
	CHECK(!its_ready());
	CHECK_EQ(its_doorbell(), 0);
	CHECK_UNTOUCHED(its_map_event(DEV, 0, 8192, 0), -KEEL_ENODEV);
	CHECK_UNTOUCHED(its_map_collection(5, 0, 5), -KEEL_ENODEV);

	/* Stuck after the MAPD: the ITT stays (the ITS may read it) until a new start. */
	qemu_up();
	runs_left = 1;
	CHECK_EQ(its_map_event(DEV, 0, 8192, 0), -KEEL_ETIMEDOUT);
	CHECK(logged("its: did not run MAPTI within 1000 ms"));
	CHECK_EQ(pmm_live(), 4);
	fake_reset(qemu());
	CHECK_EQ(its_init(base()), 0);
	CHECK_EQ(pmm_live(), 3);
}

static void test_refused_commands(void)
{
	/* MAPTI refused: named, skipped (CWRITER back, Retry), the new device undone. */
	qemu_up();
	refuse_op = OP_MAPTI;
	CHECK_EQ(its_map_event(DEV, 0, 8192, 0), -KEEL_EIO);
	CHECK(logged("its: MAPTI refused (000000280000000a 0000200000000000 0000000000000000)"));
	CHECK_EQ(retries, 1);
	CHECK_EQ(reg64(R_CREADR) & CREADR_STALLED, 0);
	CHECK_EQ(reg64(R_CWRITER), reg64(R_CREADR));
	CHECK_EQ(cmd_n, 3); /* MAPD, then MAPD V=0 and SYNC in the refused one's slot */
	CHECK_EQ(clog[1].d[0], OP_MAPD | (u64)DEV << 32);
	CHECK_EQ(clog[1].d[2] >> 63, 0);
	CHECK_EQ(pmm_live(), 3);
	CHECK(its_ready());
	CHECK_EQ(its_map_event(DEV, 0, 8192, 0), 0);
	CHECK_EQ(pmm_live(), 4);

	/* The same for a device with events: nothing else changes. */
	refuse_op = OP_MAPTI;
	cmd_n = 0;
	CHECK_EQ(its_map_event(DEV, 1, 8193, 0), -KEEL_EIO);
	CHECK_EQ(cmd_n, 0);
	CHECK_EQ(its_map_event(DEV, 1, 8193, 0), 0);

	/* A refused SYNC after MAPTI: the MAPTI is undone by a DISCARD. */
	refuse_op = OP_SYNC;
	cmd_n = 0;
	CHECK_EQ(its_map_event(DEV, 2, 8194, 0), -KEEL_EIO);
	CHECK_EQ(cmd_n, 2);
	CHECK_EQ(clog[1].d[0], OP_DISCARD | (u64)DEV << 32);
	CHECK_EQ(its_map_event(DEV, 2, 8194, 0), 0);

	/* DISCARD refused: the event stays mapped, and can be unmapped after. */
	refuse_op = OP_DISCARD;
	CHECK_EQ(its_unmap_event(DEV, 1), -KEEL_EIO);
	CHECK(logged("its: DISCARD refused"));
	CHECK_EQ(its_unmap_event(DEV, 1), 0);
	CHECK_EQ(its_unmap_event(DEV, 2), 0);

	/* MAPD V=0 refused: the device stays mapped; its next event needs no MAPD. */
	refuse_op = OP_MAPD;
	CHECK_EQ(its_unmap_event(DEV, 0), -KEEL_EIO);
	CHECK_EQ(pmm_live(), 4);
	cmd_n = 0;
	CHECK_EQ(its_map_event(DEV, 0, 8192, 0), 0);
	CHECK_EQ(clog[0].d[0], OP_MAPTI | (u64)DEV << 32);
	CHECK_EQ(its_unmap_event(DEV, 0), 0);
	CHECK_EQ(pmm_live(), 3);

	/* The first MAPD refused: the ITT freed, nothing mapped. */
	refuse_op = OP_MAPD;
	CHECK_EQ(its_map_event(DEV, 0, 8192, 0), -KEEL_EIO);
	CHECK_EQ(pmm_live(), 3);
	CHECK_UNTOUCHED(its_unmap_event(DEV, 0), -KEEL_EINVAL);

	/* MAPC refused: the collection stays unmapped. */
	refuse_op = OP_MAPC;
	CHECK_EQ(its_map_collection(9, 0, 9), -KEEL_EIO);
	CHECK(logged("its: MAPC refused"));
	CHECK_UNTOUCHED(its_map_event(DEV, 0, 8192, 9), -KEEL_EINVAL);
	CHECK_EQ(its_map_collection(9, 0, 9), 0);
	CHECK_EQ(its_map_event(DEV, 0, 8192, 9), 0);

	CHECK_EQ(its_unmap_event(DEV, 0), 0);
	CHECK_EQ(pmm_live(), 3);
	CHECK_EQ(reg64(R_CREADR), reg64(R_CWRITER));
}

static void test_memory(void)
{
	/* No memory for the first event's ITT: refused before any command. */
	qemu_up();
	pmm_fail_in = 1;
	CHECK_UNTOUCHED(its_map_event(DEV, 0, 8192, 0), -KEEL_ENOMEM);
	CHECK(logged("its: no memory for device 0x28's interrupt translation table"));
	CHECK_EQ(pmm_live(), 3);
	CHECK_EQ(its_map_event(DEV, 0, 8192, 0), 0);
	CHECK_EQ(its_unmap_event(DEV, 0), 0);

	/* As many devices as Keel tracks; one more is refused before any command. */
	for (u32 d = 0; d < KEEL_MAX_PARTITIONS * KEEL_PD_MAX_DEVICES; d++)
		CHECK_EQ(its_map_event(d, 1, 8192 + d, d % 4), 0);
	CHECK_EQ(pmm_live(), 3 + KEEL_MAX_PARTITIONS * KEEL_PD_MAX_DEVICES);
	CHECK_UNTOUCHED(its_map_event(0xffff, 1, 8192, 0), -KEEL_ENOSPC);
	CHECK(logged("its: no room for device 0xffff"));
	CHECK_EQ(its_map_event(0, 2, 8192, 0), 0); /* a tracked device takes more */
	CHECK_EQ(its_unmap_event(0, 2), 0);
	for (u32 d = 0; d < KEEL_MAX_PARTITIONS * KEEL_PD_MAX_DEVICES; d++)
		CHECK_EQ(its_unmap_event(d, 1), 0);
	CHECK_EQ(pmm_live(), 3);
}

/* Hostile callers: random IDs, mostly out of range; the fake checks every command it runs. */
static void test_random(void)
{
	unsigned long long seed = 0x17517;
	static bool mapped[8][ITS_EVENTS];
	u32 ok = 0;

	qemu_up();
	for (u32 i = 0; i < 3000; i++) {
		u64 r = unit_rand(&seed);
		u32 dev = r & 3 ? (u32)(r >> 8) & 7 : (u32)(r >> 8) | 0x10000;
		u32 ev = r & 12 ? (u32)(r >> 16) & 15 : (u32)(r >> 16) | 0x100;
		u32 lpi = r & 0x30 ? 8192 + ((u32)(r >> 32) & 0x3fff) : (u32)(r >> 32);
		u32 icid = (u32)(r >> 50) & 7;
		bool in = dev < 8 && ev < ITS_EVENTS;
		int ret;

		switch (r >> 60 & 3) {
		case 0:
		case 1:
			ret = its_map_event(dev, ev, lpi, icid);
			in = in && !mapped[dev][ev] && lpi >= 8192 && lpi < 65536 && icid < 4;
			CHECK_EQ(ret, in ? 0 : -KEEL_EINVAL);
			if (!ret)
				mapped[dev][ev] = true;
			break;
		case 2:
			ret = its_unmap_event(dev, ev);
			CHECK_EQ(ret, in && mapped[dev][ev] ? 0 : -KEEL_EINVAL);
			if (!ret)
				mapped[dev][ev] = false;
			break;
		default:
			ret = its_unmap_event(dev, ev);
			CHECK_EQ(ret, in && mapped[dev][ev] ? 0 : -KEEL_EINVAL);
			if (!ret)
				mapped[dev][ev] = false;
		}
		ok += !ret;
	}
	CHECK(ok > 200);
	for (u32 d = 0; d < 8; d++)
		for (u32 e = 0; e < ITS_EVENTS; e++)
			if (mapped[d][e])
				CHECK_EQ(its_unmap_event(d, e), 0);
	CHECK_EQ(pmm_live(), 3);
	CHECK_EQ(bad_writes, 0);
}

int main(void)
{
	fake_map();
	test_init_qemu();
	test_init_firmware_left_on();
	test_page_sizes();
	test_non_shareable();
	test_collections();
	test_init_refused();
	test_commands();
	test_pta();
	test_refused_inputs();
	test_wrap();
	test_timeouts();
	test_refused_commands();
	test_memory();
	test_random();
	/* A start that fails gives everything back. */
	fake_reset((struct fake_cfg){ .typer = 0 });
	CHECK_EQ(its_init(base()), -KEEL_ENOTSUP);
	CHECK_EQ(pmm_live(), 0);
	return unit_done("test_its");
}
