/* SPDX-License-Identifier: MIT */
/*
 * Resetting a host PCI function (vfio/reset.c) on a fake config space whose
 * devices model FLR, Advanced Features FLR, a secondary bus reset through
 * their bridge and D3hot -> D0, each on a fake clock: choice of method,
 * spec waits, config saved and restored, devices that misbehave.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/pci.h>
#include <keel/pci_reset.h>

#include "unit.h"

extern char unit_log[];
extern size_t unit_log_len;

#define MS 1000000ull
#define NEVER UINT64_MAX
#define TICK_NS 20000ull /* the fake clock moves 20 us each time it is read */

/* Registers the fake models (offsets from their capability where indented). */
#define BAR0 0x10
#define ROM 0x30
#define CACHE_LINE 0x0c
#define LATENCY 0x0d
#define INT_LINE 0x3c
#define BRIDGE_CTL 0x3e
#define BRIDGE_CTL_SBR 0x40u
#define EXP_DEVCAP 0x04
#define EXP_DEVCTL 0x08
#define EXP_DEVCTL_FLR 0x8000u
#define EXP_DEVSTA 0x0a
#define EXP_DEVSTA_TP 0x20u
#define EXP_LNKCAP 0x0c
#define EXP_LNKCTL 0x10
#define EXP_LNKSTA 0x12
#define EXP_LNKSTA_DLLLA 0x2000u
#define EXP_DEVCTL2 0x28
#define AF_CAP 3
#define AF_CTRL 4
#define AF_STATUS 5
#define PM_CSR 4
#define PM_NSR 0x8u
#define PM_PME_STATUS 0x8000u

/* ---- the fake clock ---- */

static u64 fake_now;

u64 arch_time_ns(void)
{
	fake_now += TICK_NS;
	return fake_now;
}

/* ---- fake functions: config space plus the behaviour of a reset ---- */

#define FAKE_MAX 12

struct fake_fn {
	u16 bdf;
	u8 cfg[PCI_CFG_SIZE];
	u16 pcie, af, pm; /* capability offsets, 0: none */
	bool crs; /* while busy, the vendor ID reads 0x0001 instead of all ones */
	bool pm_fixed; /* its power state cannot be changed */
	u64 busy_ns; /* after a reset it answers nothing this long (NEVER: for good) */
	u64 busy_until;
	u64 tp_until; /* Transactions Pending reads 1 until then */
	u64 link_ns; /* bridges: link training after a bus reset (NEVER: stays down) */
	u64 link_up_at;
	u16 new_device; /* device ID after a reset, 0: unchanged */
	u32 resets;
	u64 reset_at; /* when the last reset ended (FLR, D0, bus reset released) */
	u64 first_read; /* the first read after that, 0: none yet */
	u32 busy_reads;
};

static struct fake_fn fake_fns[FAKE_MAX];
static u32 fake_n;
static u32 fake_bad; /* accesses the ops contract does not allow */

struct fake_write {
	u64 t;
	u16 bdf;
	u16 off;
	u32 size;
	u32 val;
};

static struct fake_write wlog[512];
static u32 wlog_n;

static void log_clear(void)
{
	wlog_n = 0;
	unit_log_len = 0;
	unit_log[0] = 0;
}

static void fake_reset(void)
{
	CHECK_EQ(fake_bad, 0); /* of the test before */
	memset(fake_fns, 0, sizeof(fake_fns));
	fake_n = 0;
	fake_bad = 0;
	fake_now = 1000 * MS;
	log_clear();
}

static struct fake_fn *fake_find(u16 bdf)
{
	for (u32 i = 0; i < fake_n; i++)
		if (fake_fns[i].bdf == bdf)
			return &fake_fns[i];
	return NULL;
}

static void put8(struct fake_fn *f, u32 off, u8 v)
{
	f->cfg[off] = v;
}

static void put16(struct fake_fn *f, u32 off, u16 v)
{
	memcpy(f->cfg + off, &v, 2);
}

static void put32(struct fake_fn *f, u32 off, u32 v)
{
	memcpy(f->cfg + off, &v, 4);
}

static u16 get16(const struct fake_fn *f, u32 off)
{
	u16 v;

	memcpy(&v, f->cfg + off, 2);
	return v;
}

static u32 get32(const struct fake_fn *f, u32 off)
{
	u32 v;

	memcpy(&v, f->cfg + off, 4);
	return v;
}

static u32 ones(u32 size)
{
	return size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
}

/* What a reset clears: BARs, ROM, command, header scratch, PCIe control, power state. */
static void fake_fn_reset(struct fake_fn *f)
{
	memset(f->cfg + BAR0, 0, 24);
	put32(f, ROM, 0);
	put16(f, PCI_COMMAND, 0);
	put8(f, CACHE_LINE, 0);
	put8(f, LATENCY, 0);
	put8(f, INT_LINE, 0xff);
	if (f->pcie) {
		put16(f, f->pcie + EXP_DEVCTL, 0x2810);
		put16(f, f->pcie + EXP_LNKCTL, 0);
		put16(f, f->pcie + EXP_DEVCTL2, 0);
	}
	if (f->pm)
		put16(f, f->pm + PM_CSR, get16(f, f->pm + PM_CSR) & ~3u);
	if (f->new_device)
		put16(f, PCI_DEVICE_ID, f->new_device);
	f->resets++;
}

static void fake_reset_done(struct fake_fn *f)
{
	f->busy_until = f->busy_ns == NEVER ? NEVER : fake_now + f->busy_ns;
	f->reset_at = fake_now;
	f->first_read = 0;
}

static bool fake_busy(const struct fake_fn *f)
{
	return fake_now < f->busy_until;
}

static u32 fake_read(void *ctx, u16 bdf, u16 off, u32 size)
{
	struct fake_fn *f = fake_find(bdf);
	u32 v = 0;

	if (ctx != &fake_fns || (size != 1 && size != 2 && size != 4) || off % size ||
	    off + size > PCI_CFG_SIZE)
		fake_bad++;
	if (!f)
		return ones(size);
	if (f->reset_at && !f->first_read)
		f->first_read = fake_now;
	if (fake_busy(f)) {
		f->busy_reads++;
		if (f->crs && off == PCI_VENDOR_ID)
			return size == 4 ? 0xffff0001u : 0x0001u;
		return ones(size);
	}
	if (f->pcie) {
		u16 sta = get16(f, f->pcie + EXP_DEVSTA) & ~EXP_DEVSTA_TP;
		u16 lnk = get16(f, f->pcie + EXP_LNKSTA) & ~EXP_LNKSTA_DLLLA;

		put16(f, f->pcie + EXP_DEVSTA, sta | (fake_now < f->tp_until ? EXP_DEVSTA_TP : 0));
		put16(f, f->pcie + EXP_LNKSTA,
		      lnk | (fake_now >= f->link_up_at ? EXP_LNKSTA_DLLLA : 0));
	}
	if (f->af)
		put8(f, f->af + AF_STATUS, fake_now < f->tp_until ? 1 : 0);
	memcpy(&v, f->cfg + off, size);
	return v;
}

static void fake_bus_reset(struct fake_fn *bridge, bool assert)
{
	u8 bus = bridge->cfg[PCI_SECONDARY_BUS];

	bridge->link_up_at = assert			? NEVER
			     : bridge->link_ns == NEVER ? NEVER
							: fake_now + bridge->link_ns;
	for (u32 i = 0; i < fake_n; i++) {
		struct fake_fn *f = &fake_fns[i];

		if (PCI_BDF_BUS(f->bdf) != bus)
			continue;
		if (assert) {
			fake_fn_reset(f);
			f->busy_until = NEVER;
		} else {
			fake_reset_done(f);
			/* Nothing answers before the link is up. */
			if (f->busy_until != NEVER && bridge->link_up_at != NEVER)
				f->busy_until += bridge->link_up_at - fake_now;
			f->reset_at = bridge->link_up_at;
		}
	}
}

static void fake_write(void *ctx, u16 bdf, u16 off, u32 size, u32 val)
{
	struct fake_fn *f = fake_find(bdf);

	if (ctx != &fake_fns || (size != 1 && size != 2 && size != 4) || off % size ||
	    off + size > PCI_CFG_SIZE)
		fake_bad++;
	if (wlog_n < ARRAY_SIZE(wlog))
		wlog[wlog_n++] = (struct fake_write){ fake_now, bdf, off, size, val };
	if (!f || fake_busy(f))
		return;
	if (f->pcie && off == f->pcie + EXP_DEVCTL && size == 2 && (val & EXP_DEVCTL_FLR)) {
		fake_fn_reset(f);
		fake_reset_done(f);
		return;
	}
	if (f->af && off == f->af + AF_CTRL && size == 1 && (val & 1)) {
		fake_fn_reset(f);
		fake_reset_done(f);
		return;
	}
	if (f->pm && off == f->pm + PM_CSR && size == 2) {
		u16 csr = get16(f, off), old = csr & 3, new = val & 3;

		if (f->pm_fixed)
			new = old;
		csr = (u16)((csr & (PM_NSR | PM_PME_STATUS)) | (val & 0x7f00u) | new);
		if (val & PM_PME_STATUS)
			csr &= (u16)~PM_PME_STATUS;
		put16(f, off, csr);
		if (old == 3 && new == 0 && !(csr & PM_NSR)) {
			fake_fn_reset(f);
			fake_reset_done(f);
		}
		return;
	}
	if ((f->cfg[PCI_HEADER_TYPE] & 0x7f) == 1 && off == BRIDGE_CTL && size == 2) {
		u16 old = get16(f, off);

		put16(f, off, (u16)val);
		if (!(old & BRIDGE_CTL_SBR) && (val & BRIDGE_CTL_SBR))
			fake_bus_reset(f, true);
		if ((old & BRIDGE_CTL_SBR) && !(val & BRIDGE_CTL_SBR))
			fake_bus_reset(f, false);
		return;
	}
	memcpy(f->cfg + off, &val, size);
}

static const struct pci_cfg_ops fake_ops = { .read = fake_read, .write = fake_write };

/* ---- building devices ---- */

static struct fake_fn *fake_add(u8 bus, u8 dev, u8 fn, u16 device, u32 class, u8 hdr)
{
	struct fake_fn *f = &fake_fns[fake_n++];

	if (fake_n > FAKE_MAX)
		abort();
	f->bdf = PCI_BDF(bus, dev, fn);
	put16(f, PCI_VENDOR_ID, 0x1234);
	put16(f, PCI_DEVICE_ID, device);
	put32(f, PCI_CLASS_REV, class << 8 | 0x01);
	f->cfg[PCI_HEADER_TYPE] = hdr;
	return f;
}

/* An endpoint as firmware left it: BARs (one 64-bit pair), ROM, decode and bus mastering on. */
static struct fake_fn *fake_endpoint(u8 bus, u8 dev, u8 fn, bool multi)
{
	struct fake_fn *f = fake_add(bus, dev, fn, (u16)(0x1000 | bus << 4 | dev << 1 | fn),
				     0x020000, multi ? 0x80 : 0);
	u32 base = 0xfe000000u + ((u32)f->bdf << 16);

	put32(f, BAR0, base | 0x0);
	put32(f, BAR0 + 4, (base + 0x4000) | 0xc); /* 64-bit prefetchable, ... */
	put32(f, BAR0 + 8, 0x00000080); /* ... its upper half */
	put32(f, BAR0 + 12, 0xc001); /* I/O */
	put32(f, ROM, (base + 0x8000) | 1);
	put8(f, CACHE_LINE, 0x10);
	put8(f, LATENCY, 0x20);
	put8(f, INT_LINE, 11);
	put16(f, PCI_COMMAND, 0x0407); /* INTx disabled, bus master, memory, I/O */
	return f;
}

static struct fake_fn *fake_bridge(u8 bus, u8 dev, u8 sec)
{
	struct fake_fn *f = fake_add(bus, dev, 0, 0x2448, 0x060400, 1);

	f->cfg[0x18] = bus;
	f->cfg[PCI_SECONDARY_BUS] = sec;
	f->cfg[PCI_SUBORDINATE_BUS] = sec;
	put16(f, PCI_COMMAND, 0x0007);
	put16(f, BRIDGE_CTL, 0x0003); /* parity and SERR# enable: kept across the reset */
	return f;
}

/* Append a standard capability @id at @at to @f's list. */
static void fake_cap(struct fake_fn *f, u8 at, u8 id)
{
	u8 *link = &f->cfg[PCI_CAP_PTR];

	put16(f, PCI_STATUS, get16(f, PCI_STATUS) | PCI_STATUS_CAP_LIST);
	while (*link)
		link = &f->cfg[*link + 1];
	*link = at;
	f->cfg[at] = id;
	f->cfg[at + 1] = 0;
}

static void fake_pcie(struct fake_fn *f, u8 at, u8 type, bool flr)
{
	fake_cap(f, at, PCI_CAP_ID_EXP);
	put16(f, at + PCI_EXP_FLAGS, (u16)(type << 4 | 2));
	put32(f, at + EXP_DEVCAP, flr ? 1u << 28 : 0);
	put16(f, at + EXP_DEVCTL, 0x2817); /* as firmware set it: MPS, error reporting, ... */
	put16(f, at + EXP_LNKCTL, 0x0042); /* common clock, ASPM L1 */
	put16(f, at + EXP_DEVCTL2, 0x0015);
	f->pcie = at;
}

static void fake_port_link(struct fake_fn *f, bool reports, u64 link_ns)
{
	put32(f, f->pcie + EXP_LNKCAP, reports ? 1u << 20 : 0);
	f->link_ns = link_ns;
}

static void fake_af(struct fake_fn *f, u8 at, u8 caps)
{
	fake_cap(f, at, 0x13);
	f->cfg[at + 2] = 6;
	f->cfg[at + AF_CAP] = caps;
	f->af = at;
}

static void fake_pm(struct fake_fn *f, u8 at, bool no_soft_reset)
{
	fake_cap(f, at, 0x01);
	put16(f, at + 2, 0x0003); /* PMC: version 1.2 */
	put16(f, at + PM_CSR, (u16)(PM_PME_STATUS | (no_soft_reset ? PM_NSR : 0)));
	f->pm = at;
}

/* ---- the records, as boot enumeration makes them ---- */

static struct pci_func funcs[32];
static u32 nfuncs;

static void scan(u8 last_bus)
{
	struct pci_scan s = {
		.ops = &fake_ops,
		.ctx = &fake_fns,
		.start_bus = 0,
		.end_bus = last_bus,
		.funcs = funcs,
		.max_funcs = ARRAY_SIZE(funcs),
	};

	memset(funcs, 0, sizeof(funcs));
	CHECK_EQ(pci_scan(&s), 0);
	nfuncs = s.count;
	/* As a guest would: bus mastering back on where firmware had it. */
	for (u32 i = 0; i < fake_n; i++)
		if ((fake_fns[i].cfg[PCI_HEADER_TYPE] & 0x7f) == 0)
			put16(&fake_fns[i], PCI_COMMAND, 0x0407);
	log_clear();
}

static u32 index_of(const struct fake_fn *f)
{
	for (u32 i = 0; i < nfuncs; i++)
		if (funcs[i].bdf == f->bdf)
			return i;
	abort();
}

static u32 methods(const struct fake_fn *f)
{
	return pci_reset_methods(&fake_ops, &fake_fns, funcs, nfuncs, index_of(f));
}

static int reset(const struct fake_fn *f, struct pci_reset_result *out)
{
	return pci_reset_function(&fake_ops, &fake_fns, funcs, nfuncs, index_of(f), out);
}

/* @line was logged as a whole line: the next line (all start "pci") or the end follows. */
#define CHECK_LOG(line) CHECK_LOGGED(unit_log, line, "pci")
#define logged(line) unit_logged(unit_log, line, "pci")

/* The writes to @f's register @off, in order, into @vals; returns how many. */
static u32 writes_to(const struct fake_fn *f, u16 off, u32 *vals, u64 *times, u32 max)
{
	u32 n = 0;

	for (u32 i = 0; i < wlog_n; i++) {
		if (wlog[i].bdf != f->bdf || wlog[i].off != off)
			continue;
		if (n < max) {
			vals[n] = wlog[i].val;
			if (times)
				times[n] = wlog[i].t;
		}
		n++;
	}
	return n;
}

/* Everything firmware set up is back, with bus mastering off. */
static void check_restored(const struct fake_fn *f)
{
	u32 base = 0xfe000000u + ((u32)f->bdf << 16);

	CHECK_EQ(get32(f, BAR0), base);
	CHECK_EQ(get32(f, BAR0 + 4), (base + 0x4000) | 0xc);
	CHECK_EQ(get32(f, BAR0 + 8), 0x80);
	CHECK_EQ(get32(f, BAR0 + 12), 0xc001);
	CHECK_EQ(get32(f, BAR0 + 16), 0);
	CHECK_EQ(get32(f, ROM), (base + 0x8000) | 1);
	CHECK_EQ(f->cfg[CACHE_LINE], 0x10);
	CHECK_EQ(f->cfg[LATENCY], 0x20);
	CHECK_EQ(f->cfg[INT_LINE], 11);
	CHECK_EQ(get16(f, PCI_COMMAND), 0x0403);
	if (f->pcie) {
		CHECK_EQ(get16(f, f->pcie + EXP_DEVCTL), 0x2817);
		CHECK_EQ(get16(f, f->pcie + EXP_LNKCTL), 0x0042);
		CHECK_EQ(get16(f, f->pcie + EXP_DEVCTL2), 0x0015);
	}
}

/* The first write to @f quiesces it (decode and bus mastering off); the last restores command. */
static void check_bracketed(const struct fake_fn *f)
{
	const struct fake_write *first = NULL, *last = NULL;

	for (u32 i = 0; i < wlog_n; i++) {
		if (wlog[i].bdf != f->bdf)
			continue;
		if (!first)
			first = &wlog[i];
		last = &wlog[i];
	}
	CHECK(first && first->off == PCI_COMMAND && first->val == 0x0400);
	CHECK(last && last->off == PCI_COMMAND && last->val == 0x0403);
}

/* ---- PCIe FLR ---- */

static void test_flr(void)
{
	struct pci_reset_result out;
	struct fake_fn *f, *host;
	u32 vals[4];
	u64 t[4], start;

	fake_reset();
	host = fake_add(0, 0, 0, 0x29c0, 0x060000, 0);
	fake_pm(host, 0x50, false);
	f = fake_endpoint(0, 3, 0, false);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_RC_END, true);
	fake_pm(f, 0x60, false);
	f->busy_ns = 150 * MS; /* retries (CRS) for 150 ms */
	f->crs = true;
	scan(0);

	CHECK_EQ(methods(f), PCI_RESET_FLR | PCI_RESET_PM); /* on the root bus: no bus reset */
	start = fake_now;
	CHECK_EQ(reset(f, &out), 0);
	CHECK_EQ(out.methods, PCI_RESET_FLR | PCI_RESET_PM);
	CHECK_EQ(out.method, PCI_RESET_FLR);
	CHECK_EQ(out.others, 0);
	CHECK_EQ(out.flags, 0);
	CHECK(out.ns >= 150 * MS && out.ns < 200 * MS);
	CHECK_EQ(f->resets, 1);
	check_restored(f);
	check_bracketed(f);
	/* One FLR write, then no config access for 100 ms, then polling through the retries. */
	CHECK_EQ(writes_to(f, 0x40 + EXP_DEVCTL, vals, t, 4), 2);
	CHECK_EQ(vals[0], 0x2817 | EXP_DEVCTL_FLR);
	CHECK_EQ(vals[1], 0x2817); /* restored without the FLR bit */
	CHECK(f->first_read >= f->reset_at + 100 * MS);
	CHECK(f->busy_reads > 0);
	CHECK_EQ(writes_to(f, 0x60 + PM_CSR, vals, NULL, 4), 0);
	CHECK(t[0] >= start);
	CHECK_EQ(unit_log_len, 0);
	CHECK(strcmp(pci_reset_method_name(out.method), "FLR") == 0);

	/* The root complex is not reset, whatever it offers. */
	CHECK_EQ(methods(host), 0);
	CHECK_EQ(reset(host, &out), -PCI_RESET_ENOTSUP);
	CHECK_LOG("pci 0000:00:00.0: cannot be reset: it is a host bridge");
	CHECK_EQ(host->resets, 0);
}

/* ---- Advanced Features FLR: waits for pending transactions first ---- */

static void test_af_flr(void)
{
	struct pci_reset_result out;
	struct fake_fn *f, *g;
	u32 vals[4];
	u64 t[4];

	fake_reset();
	f = fake_endpoint(0, 4, 0, false);
	fake_cap(f, 0x50, 0x05); /* MSI first */
	fake_af(f, 0x70, 0x03);
	f->busy_ns = 20 * MS;
	g = fake_endpoint(0, 5, 0, false); /* AF FLR without Transactions Pending: not offered */
	fake_af(g, 0x70, 0x02);
	scan(0);
	f->tp_until = fake_now + 30 * MS;

	CHECK_EQ(methods(f), PCI_RESET_AF_FLR);
	CHECK_EQ(reset(f, &out), 0);
	CHECK_EQ(out.method, PCI_RESET_AF_FLR);
	CHECK_EQ(out.flags, 0);
	CHECK_EQ(f->resets, 1);
	CHECK_EQ(writes_to(f, 0x70 + AF_CTRL, vals, t, 4), 1);
	CHECK_EQ(vals[0], 1);
	CHECK(t[0] >= f->tp_until); /* only once nothing was pending */
	CHECK(f->first_read >= f->reset_at + 100 * MS);
	check_restored(f);
	check_bracketed(f);
	CHECK_EQ(unit_log_len, 0);

	log_clear();
	CHECK_EQ(methods(g), 0);
	CHECK_EQ(reset(g, &out), -PCI_RESET_ENOTSUP);
	CHECK_EQ(g->resets, 0);
	CHECK_LOG("pci 0000:00:05.0: cannot be reset: no FLR, no AF FLR, no bus reset (no bridge "
		  "above it), no D3hot->D0 (no power management capability)");
	CHECK_EQ(wlog_n, 0);
}

/* ---- secondary bus reset below a PCIe root port: the whole device, both functions ---- */

static void test_bus_pcie(void)
{
	struct pci_reset_result out;
	struct fake_fn *port, *f0, *f1;
	u32 vals[4];
	u64 t[4];

	fake_reset();
	port = fake_bridge(0, 1, 1);
	fake_pcie(port, 0x40, PCI_EXP_TYPE_ROOT_PORT, false);
	fake_port_link(port, true, 30 * MS);
	f0 = fake_endpoint(1, 0, 0, true);
	fake_pcie(f0, 0x40, PCI_EXP_TYPE_ENDPOINT, false);
	f1 = fake_endpoint(1, 0, 1, false);
	fake_pcie(f1, 0x40, PCI_EXP_TYPE_ENDPOINT, false);
	f0->busy_ns = f1->busy_ns = 50 * MS;
	f0->crs = true;
	scan(1);

	CHECK_EQ(methods(f0), PCI_RESET_BUS);
	CHECK_EQ(methods(f1), PCI_RESET_BUS);
	CHECK_EQ(reset(f0, &out), 0);
	CHECK_EQ(out.method, PCI_RESET_BUS);
	CHECK_EQ(out.others, 1);
	CHECK_EQ(f0->resets, 1);
	CHECK_EQ(f1->resets, 1);
	check_restored(f0);
	check_restored(f1);
	check_bracketed(f0);
	check_bracketed(f1);
	/* Secondary Bus Reset set, held at least 1 ms, cleared; the other bits kept. */
	CHECK_EQ(writes_to(port, BRIDGE_CTL, vals, t, 4), 2);
	CHECK_EQ(vals[0], 0x0003 | BRIDGE_CTL_SBR);
	CHECK_EQ(vals[1], 0x0003);
	CHECK(t[1] - t[0] >= 1 * MS);
	CHECK_EQ(get16(port, BRIDGE_CTL), 0x0003);
	CHECK_EQ(get16(port, PCI_COMMAND), 0x0007); /* the bridge itself is left alone */
	/* No config request below the port until 100 ms after its link came back. */
	CHECK(f0->reset_at == port->link_up_at && f1->reset_at == port->link_up_at);
	CHECK(f0->first_read >= port->link_up_at + 100 * MS);
	CHECK(f1->first_read >= port->link_up_at + 100 * MS);
	CHECK(out.ns >= 130 * MS && out.ns < 300 * MS);
	CHECK_EQ(unit_log_len, 0);

	/* The link never comes back. */
	log_clear();
	fake_port_link(port, true, NEVER);
	CHECK_EQ(reset(f1, &out), -KEEL_ETIMEDOUT);
	CHECK_EQ(out.method, PCI_RESET_BUS);
	CHECK_LOG("pci 0000:01:00.1: link of bridge 00:01.0 not up 1000 ms after the bus reset; "
		  "left with decode and bus mastering off");
	CHECK_EQ(get16(f1, PCI_COMMAND), 0); /* not restored */
	CHECK_EQ(get32(f1, BAR0), 0);

	/* A port that does not report its link: 100 ms after the release, then polled. */
	fake_reset();
	port = fake_bridge(0, 1, 1);
	fake_pcie(port, 0x40, PCI_EXP_TYPE_DOWNSTREAM, false);
	fake_port_link(port, false, 0);
	f0 = fake_endpoint(1, 0, 0, false);
	scan(1);
	CHECK_EQ(reset(f0, &out), 0);
	CHECK_EQ(writes_to(port, BRIDGE_CTL, vals, t, 4), 2);
	CHECK(f0->first_read >= t[1] + 100 * MS);
	CHECK(f0->first_read < t[1] + 110 * MS);
	check_restored(f0);
}

/* ---- secondary bus reset of a conventional bus: Trhfa before the first config request ---- */

static void test_bus_conventional(void)
{
	struct pci_reset_result out;
	struct fake_fn *bridge, *f;
	u32 vals[4];
	u64 t[4];

	fake_reset();
	bridge = fake_bridge(0, 2, 2);
	fake_pcie(bridge, 0x40, PCI_EXP_TYPE_PCI_BRIDGE, false);
	f = fake_endpoint(2, 1, 0, false);
	scan(2);

	CHECK_EQ(methods(f), PCI_RESET_BUS);
	CHECK_EQ(reset(f, &out), 0);
	CHECK_EQ(out.method, PCI_RESET_BUS);
	CHECK_EQ(writes_to(bridge, BRIDGE_CTL, vals, t, 4), 2);
	CHECK(f->first_read >= t[1] + (1ull << 25) * 30);
	CHECK(out.ns >= 1000 * MS && out.ns < 1100 * MS);
	check_restored(f);
	CHECK_EQ(unit_log_len, 0);
}

/* ---- no bus reset where it would reset anything else ---- */

static void test_bus_refused(void)
{
	struct pci_reset_result out;
	struct fake_fn *bridge, *f, *g;

	/* Two devices on a conventional bus. */
	fake_reset();
	bridge = fake_bridge(0, 2, 2);
	fake_pcie(bridge, 0x40, PCI_EXP_TYPE_PCI_BRIDGE, false);
	f = fake_endpoint(2, 0, 0, false);
	fake_endpoint(2, 1, 0, false);
	scan(2);
	CHECK_EQ(methods(f), 0);
	CHECK_EQ(reset(f, &out), -PCI_RESET_ENOTSUP);
	CHECK_EQ(out.methods, 0);
	CHECK_EQ(out.method, 0);
	CHECK_LOG("pci 0000:02:00.0: cannot be reset: no FLR, no AF FLR, no bus reset (its bus has "
		  "02:01.0 too), no D3hot->D0 (no power management capability)");
	CHECK_EQ(wlog_n, 0);
	CHECK_EQ(f->resets, 0);

	/* The functions of one device in groups of their own (ACS): each may go elsewhere. */
	fake_reset();
	bridge = fake_bridge(0, 1, 1);
	fake_pcie(bridge, 0x40, PCI_EXP_TYPE_ROOT_PORT, false);
	put32(bridge, 0x100, 1u << 16 | PCI_EXT_CAP_ID_ACS);
	put16(bridge, 0x100 + PCI_ACS_CAP, PCI_ACS_SV | PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF);
	put16(bridge, 0x100 + PCI_ACS_CTRL, PCI_ACS_SV | PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF);
	f = fake_endpoint(1, 0, 0, true);
	g = fake_endpoint(1, 0, 1, false);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_ENDPOINT, false);
	fake_pcie(g, 0x40, PCI_EXP_TYPE_ENDPOINT, false);
	put32(f, 0x100, 1u << 16 | PCI_EXT_CAP_ID_ACS);
	put16(f, 0x100 + PCI_ACS_CAP, PCI_ACS_RR | PCI_ACS_CR);
	put16(f, 0x100 + PCI_ACS_CTRL, PCI_ACS_RR | PCI_ACS_CR);
	memcpy(g->cfg + 0x100, f->cfg + 0x100, 8);
	fake_pm(g, 0x60, false);
	scan(1);
	CHECK(funcs[index_of(f)].group != funcs[index_of(g)].group);
	CHECK_EQ(methods(f), 0);
	CHECK_EQ(methods(g), PCI_RESET_PM);
	CHECK_EQ(reset(f, &out), -PCI_RESET_ENOTSUP);
	CHECK_LOG("pci 0000:01:00.0: cannot be reset: no FLR, no AF FLR, no bus reset (01:00.1 is "
		  "in another group), no D3hot->D0 (no power management capability)");

	/* A device the records do not hold (added after enumeration). */
	fake_reset();
	bridge = fake_bridge(0, 1, 1);
	fake_pcie(bridge, 0x40, PCI_EXP_TYPE_ROOT_PORT, false);
	f = fake_endpoint(1, 0, 0, false);
	scan(1);
	CHECK_EQ(methods(f), PCI_RESET_BUS);
	fake_endpoint(1, 7, 0, false);
	CHECK_EQ(methods(f), 0);
	CHECK_EQ(reset(f, &out), -PCI_RESET_ENOTSUP);
	CHECK_LOG("pci 0000:01:00.0: cannot be reset: no FLR, no AF FLR, no bus reset (its bus has "
		  "01:07.0 too), no D3hot->D0 (no power management capability)");
	fake_n--;

	/* A bridge Keel did not follow. */
	log_clear();
	funcs[index_of(bridge)].flags |= PCI_F_REFUSED;
	CHECK_EQ(reset(f, &out), -PCI_RESET_ENOTSUP);
	CHECK_LOG("pci 0000:01:00.0: cannot be reset: no FLR, no AF FLR, no bus reset (its bridge "
		  "is not one Keel followed), no D3hot->D0 (no power management capability)");
	funcs[index_of(bridge)].flags &= (u16)~PCI_F_REFUSED;

	/* A bridge is not reset at all. */
	log_clear();
	CHECK_EQ(methods(bridge), 0);
	CHECK_EQ(reset(bridge, &out), -PCI_RESET_ENOTSUP);
	CHECK_LOG("pci 0000:00:01.0: cannot be reset: it is a bridge; Keel resets endpoints only");
	CHECK_EQ(wlog_n, 0);

	/* A function of the device stops answering before the reset: nothing is done. */
	fake_reset();
	bridge = fake_bridge(0, 1, 1);
	fake_pcie(bridge, 0x40, PCI_EXP_TYPE_ROOT_PORT, false);
	f = fake_endpoint(1, 0, 0, true);
	g = fake_endpoint(1, 0, 1, false);
	scan(1);
	g->bdf = PCI_BDF(9, 0, 0); /* gone */
	CHECK_EQ(reset(f, &out), -KEEL_EIO);
	CHECK_LOG("pci 0000:01:00.1: does not answer config reads; not reset");
	CHECK_EQ(wlog_n, 0);
	CHECK_EQ(f->resets, 0);
}

/* ---- D3hot -> D0 ---- */

static void test_pm(void)
{
	struct pci_reset_result out;
	struct fake_fn *f, *g, *h;
	u32 vals[4];
	u64 t[4];

	fake_reset();
	f = fake_endpoint(0, 6, 0, false);
	fake_pm(f, 0x48, false);
	g = fake_endpoint(0, 7, 0, false);
	fake_pm(g, 0x48, true);
	h = fake_endpoint(0, 8, 0, false);
	fake_pm(h, 0x48, false);
	h->pm_fixed = true;
	scan(0);

	CHECK_EQ(methods(f), PCI_RESET_PM);
	CHECK_EQ(reset(f, &out), 0);
	CHECK_EQ(out.method, PCI_RESET_PM);
	CHECK_EQ(f->resets, 1);
	CHECK_EQ(writes_to(f, 0x48 + PM_CSR, vals, t, 4), 2);
	CHECK_EQ(vals[0] & 3, 3); /* D3hot */
	CHECK_EQ(vals[1] & 3, 0); /* D0 */
	CHECK(!(vals[0] & PM_PME_STATUS) && !(vals[1] & PM_PME_STATUS)); /* PME status kept */
	CHECK(t[1] - t[0] >= 10 * MS);
	CHECK(f->first_read >= t[1] + 10 * MS);
	CHECK_EQ(get16(f, 0x48 + PM_CSR), PM_PME_STATUS);
	CHECK(out.ns >= 20 * MS && out.ns < 30 * MS);
	check_restored(f);
	check_bracketed(f);
	CHECK_EQ(unit_log_len, 0);

	/* No_Soft_Reset: D0 keeps the state, so it is no reset. */
	CHECK_EQ(methods(g), 0);
	CHECK_EQ(reset(g, &out), -PCI_RESET_ENOTSUP);
	CHECK_LOG("pci 0000:00:07.0: cannot be reset: no FLR, no AF FLR, no bus reset (no bridge "
		  "above it), no D3hot->D0 (No_Soft_Reset is set)");

	/* A function that does not go to D3hot. */
	log_clear();
	CHECK_EQ(methods(h), PCI_RESET_PM);
	CHECK_EQ(reset(h, &out), -KEEL_EIO);
	CHECK_LOG("pci 0000:00:08.0: did not enter D3hot (reads D0); not reset");
	CHECK_EQ(h->resets, 0);
	CHECK_EQ(get16(h, PCI_COMMAND), 0x0400); /* left quiet */
}

/* ---- the best method wins ---- */

static void test_order(void)
{
	struct pci_reset_result out;
	struct fake_fn *port, *f, *other;
	u32 all = PCI_RESET_FLR | PCI_RESET_AF_FLR | PCI_RESET_BUS | PCI_RESET_PM;
	u32 vals[4];

	fake_reset();
	port = fake_bridge(0, 1, 1);
	fake_pcie(port, 0x40, PCI_EXP_TYPE_ROOT_PORT, false);
	f = fake_endpoint(1, 0, 0, false);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_ENDPOINT, true);
	fake_af(f, 0x60, 0x03);
	fake_pm(f, 0x70, false);
	scan(1);

	CHECK_EQ(methods(f), all);
	CHECK_EQ(reset(f, &out), 0);
	CHECK_EQ(out.method, PCI_RESET_FLR);
	CHECK_EQ(writes_to(port, BRIDGE_CTL, vals, NULL, 4), 0);
	CHECK_EQ(writes_to(f, 0x60 + AF_CTRL, vals, NULL, 4), 0);
	CHECK_EQ(writes_to(f, 0x70 + PM_CSR, vals, NULL, 4), 0);

	put32(f, 0x40 + EXP_DEVCAP, 0); /* no FLR */
	log_clear();
	CHECK_EQ(reset(f, &out), 0);
	CHECK_EQ(out.methods, all & ~PCI_RESET_FLR);
	CHECK_EQ(out.method, PCI_RESET_AF_FLR);
	CHECK_EQ(writes_to(f, 0x60 + AF_CTRL, vals, NULL, 4), 1);

	f->cfg[0x60 + AF_CAP] = 0; /* no AF FLR */
	log_clear();
	CHECK_EQ(reset(f, &out), 0);
	CHECK_EQ(out.method, PCI_RESET_BUS);
	CHECK_EQ(writes_to(port, BRIDGE_CTL, vals, NULL, 4), 2);

	other = fake_endpoint(1, 3, 0, false); /* no bus reset */
	log_clear();
	CHECK_EQ(reset(f, &out), 0);
	CHECK_EQ(out.methods, PCI_RESET_PM);
	CHECK_EQ(out.method, PCI_RESET_PM);
	CHECK_EQ(writes_to(f, 0x70 + PM_CSR, vals, NULL, 4), 2);
	CHECK_EQ(other->resets, 0);
	CHECK_EQ(f->resets, 4);
	check_restored(f);
	CHECK_EQ(unit_log_len, 0);

	CHECK(strcmp(pci_reset_method_name(PCI_RESET_AF_FLR), "AF FLR") == 0);
	CHECK(strcmp(pci_reset_method_name(PCI_RESET_BUS), "bus reset") == 0);
	CHECK(strcmp(pci_reset_method_name(PCI_RESET_PM), "D3hot->D0") == 0);
	CHECK(strcmp(pci_reset_method_name(0), "none") == 0);
	CHECK(strcmp(pci_reset_method_name(PCI_RESET_FLR | PCI_RESET_PM), "none") == 0);
}

/* ---- devices that misbehave ---- */

static void test_misbehave(void)
{
	struct pci_reset_result out;
	struct fake_fn *f, *g, *h;
	u32 vals[4];
	u64 t[4], start;

	fake_reset();
	f = fake_endpoint(0, 3, 0, false); /* never comes back */
	fake_pcie(f, 0x40, PCI_EXP_TYPE_RC_END, true);
	f->busy_ns = NEVER;
	g = fake_endpoint(0, 4, 0, false); /* never stops its transactions */
	fake_pcie(g, 0x40, PCI_EXP_TYPE_RC_END, true);
	h = fake_endpoint(0, 5, 0, false); /* comes back as another device */
	fake_pcie(h, 0x40, PCI_EXP_TYPE_RC_END, true);
	h->new_device = 0xbeef;
	scan(0);
	g->tp_until = NEVER;

	start = fake_now;
	CHECK_EQ(reset(f, &out), -KEEL_ETIMEDOUT);
	CHECK_EQ(out.method, PCI_RESET_FLR);
	CHECK(fake_now - start >= 1100 * MS && fake_now - start < 1200 * MS);
	CHECK(out.ns >= 1100 * MS);
	CHECK_LOG("pci 0000:00:03.0: did not answer within 1000 ms after FLR; left with decode and "
		  "bus mastering off");
	CHECK_EQ(get16(f, PCI_COMMAND), 0);
	CHECK_EQ(get32(f, BAR0), 0);

	log_clear();
	start = fake_now;
	CHECK_EQ(reset(g, &out), 0);
	CHECK_EQ(out.flags, PCI_RESET_PENDING);
	CHECK_LOG(
		"pci 0000:00:04.0: transactions still pending 100 ms after bus mastering went off; "
		"FLR started anyway");
	CHECK_EQ(writes_to(g, 0x40 + EXP_DEVCTL, vals, t, 4), 2);
	CHECK(t[0] >= start + 100 * MS && t[0] < start + 110 * MS);
	CHECK_EQ(g->resets, 1);
	check_restored(g);

	log_clear();
	CHECK_EQ(reset(h, &out), -KEEL_EIO);
	CHECK_LOG("pci 0000:00:05.0: answers as 1234:beef after FLR, was 1234:100a; left with "
		  "decode and bus mastering off");
	CHECK_EQ(get16(h, PCI_COMMAND), 0);
}

/* ---- hostile capability lists: no hang, what was found before the loop counts ---- */

static void test_cap_loop(void)
{
	struct pci_reset_result out;
	struct fake_fn *f, *g;

	fake_reset();
	f = fake_endpoint(0, 1, 0, false); /* loops before any PM capability */
	fake_cap(f, 0x40, 0x05);
	fake_cap(f, 0x50, 0x11);
	f->cfg[0x51] = 0x40;
	g = fake_endpoint(0, 2, 0, false); /* PM first, then a loop */
	fake_pm(g, 0x40, false);
	fake_cap(g, 0x50, 0x11);
	g->cfg[0x51] = 0x40;
	fake_add(0, 3, 0, 0x1111, 0x020000, 0); /* its PM capability would run past 0xff */
	scan(0);
	fake_cap(&fake_fns[2], 0xfc, 0x01);

	CHECK_EQ(methods(f), 0);
	CHECK_EQ(reset(f, &out), -PCI_RESET_ENOTSUP);
	CHECK_LOG(
		"pci 0000:00:01.0: capability list loops at 0x40; the list is ignored from there");
	CHECK_LOG("pci 0000:00:01.0: cannot be reset: no FLR, no AF FLR, no bus reset (no bridge "
		  "above it), no D3hot->D0 (no power management capability)");
	CHECK_EQ(methods(g), PCI_RESET_PM);
	log_clear();
	CHECK_EQ(reset(g, &out), 0);
	CHECK_EQ(out.method, PCI_RESET_PM);
	CHECK_EQ(methods(&fake_fns[2]), 0);
}

/* ---- bad arguments ---- */

static void test_args(void)
{
	struct pci_reset_result out;
	struct pci_cfg_ops half = { .read = fake_read };
	struct fake_fn *f;

	fake_reset();
	f = fake_endpoint(0, 1, 0, false);
	fake_pcie(f, 0x40, PCI_EXP_TYPE_RC_END, true);
	scan(0);
	memset(&out, 0xa5, sizeof(out));
	CHECK_EQ(pci_reset_function(&fake_ops, &fake_fns, funcs, nfuncs, nfuncs, &out),
		 -KEEL_EINVAL);
	CHECK_EQ(out.methods, 0);
	CHECK_EQ(out.method, 0);
	CHECK_EQ(out.ns, 0);
	CHECK_EQ(pci_reset_function(NULL, &fake_fns, funcs, nfuncs, 0, &out), -KEEL_EINVAL);
	CHECK_EQ(pci_reset_function(&half, &fake_fns, funcs, nfuncs, 0, &out), -KEEL_EINVAL);
	CHECK_EQ(pci_reset_function(&fake_ops, &fake_fns, NULL, nfuncs, 0, &out), -KEEL_EINVAL);
	CHECK_EQ(pci_reset_methods(&fake_ops, &fake_fns, funcs, nfuncs, nfuncs), 0);
	CHECK_EQ(pci_reset_methods(&fake_ops, &fake_fns, funcs, nfuncs, 0), PCI_RESET_FLR);
	CHECK_EQ(wlog_n, 0);
	CHECK_EQ(unit_log_len, 0);

	/* A function that no longer answers at all. */
	f->bdf = PCI_BDF(9, 0, 0);
	CHECK_EQ(pci_reset_methods(&fake_ops, &fake_fns, funcs, nfuncs, 0), 0);
	CHECK_EQ(pci_reset_function(&fake_ops, &fake_fns, funcs, nfuncs, 0, &out),
		 -PCI_RESET_ENOTSUP);
	CHECK_LOG("pci 0000:00:01.0: cannot be reset: it does not answer config reads");
	CHECK_EQ(wlog_n, 0);
}

int main(void)
{
	test_flr();
	test_af_flr();
	test_bus_pcie();
	test_bus_conventional();
	test_bus_refused();
	test_pm();
	test_order();
	test_misbehave();
	test_cap_loop();
	test_args();
	fake_reset();
	return unit_done("test_pci_reset");
}
