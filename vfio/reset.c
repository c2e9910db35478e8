/* SPDX-License-Identifier: MIT */
/*
 * Resetting one host PCI function (keel/pci_reset.h): PCIe FLR, Advanced
 * Features FLR, a secondary bus reset at its bridge or D3hot -> D0, the best
 * it supports, with the config the host set up saved around the reset.
 */
#include <keel/abi.h>
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/lib.h>
#include <keel/pci_reset.h>

#define PCI_FMT "%04x:%02x:%02x.%u"
#define PCI_ARGS(seg, bdf) (seg), PCI_BDF_BUS(bdf), PCI_BDF_DEV(bdf), PCI_BDF_FN(bdf)
#define PCI_DEVS 32u

/* Type 0 header registers a reset clears. */
#define PCI_CACHE_LINE 0x0c
#define PCI_LATENCY 0x0d
#define PCI_BAR0 0x10
#define PCI_BARS 6u
#define PCI_ROM 0x30
#define PCI_INT_LINE 0x3c
#define PCI_COMMAND_IO (1u << 0)
#define PCI_COMMAND_MEMORY (1u << 1)
#define PCI_VENDOR_CRS 0x0001u /* a vendor ID read while the function asks for a retry */

/* Type 1 header: Bridge Control, its Secondary Bus Reset bit. */
#define PCI_BRIDGE_CONTROL 0x3e
#define PCI_BRIDGE_CTL_SBR (1u << 6)

/* PCIe capability registers (offsets from the capability). */
#define EXP_DEVCAP 0x04
#define EXP_DEVCAP_FLR (1u << 28)
#define EXP_DEVCTL 0x08
#define EXP_DEVCTL_FLR (1u << 15) /* Initiate Function Level Reset; reads 0 */
#define EXP_DEVSTA 0x0a
#define EXP_DEVSTA_TP (1u << 5) /* Transactions Pending */
#define EXP_LNKCAP 0x0c
#define EXP_LNKCAP_DLLLARC (1u << 20) /* Data Link Layer Link Active Reporting Capable */
#define EXP_LNKCTL 0x10
#define EXP_LNKCTL_ACTIONS \
	((1u << 4) | (1u << 5)) /* Link Disable, Retrain Link: never written back */
#define EXP_LNKSTA 0x12
#define EXP_LNKSTA_DLLLA (1u << 13) /* Data Link Layer Link Active */
#define EXP_DEVCTL2 0x28 /* version 2 capabilities only */

/* Advanced Features capability (conventional PCI), 6 bytes. */
#define PCI_CAP_ID_AF 0x13
#define AF_SIZE 6u
#define AF_CAP 3
#define AF_CAP_TP (1u << 0)
#define AF_CAP_FLR (1u << 1)
#define AF_CTRL 4
#define AF_CTRL_FLR (1u << 0)
#define AF_STATUS 5
#define AF_STATUS_TP (1u << 0)

/* Power management capability, 8 bytes: PMCSR at +4. */
#define PCI_CAP_ID_PM 0x01
#define PM_SIZE 8u
#define PM_CSR 4
#define PM_CSR_STATE 0x3u
#define PM_CSR_D3HOT 0x3u
#define PM_CSR_NO_SOFT_RESET (1u << 3)
#define PM_CSR_PME_STATUS (1u << 15) /* write 1 to clear: never written back */

/* Times the specs set (and the bounds Keel puts on what they leave open). */
#define NS_PER_MS 1000000ull
#define RESET_FLR_NS (100 * NS_PER_MS) /* an FLR completes within 100 ms */
#define RESET_PENDING_NS (100 * NS_PER_MS) /* twice the default Completion Timeout's top */
#define RESET_SBR_HOLD_NS (1 * NS_PER_MS) /* Trst: Secondary Bus Reset held at least 1 ms */
#define RESET_LINK_NS (1000 * NS_PER_MS) /* a link retrained after a bus reset, at most */
#define RESET_SBR_PCIE_NS (100 * NS_PER_MS) /* PCIe: 100 ms from reset (or link up) to config */
#define RESET_TRHFA_NS ((1ull << 25) * 30) /* conventional PCI: 2^25 clocks of 33 MHz */
#define RESET_D3_NS (10 * NS_PER_MS) /* D3hot entry and D3hot -> D0 recovery */
#define RESET_READY_NS (1000 * NS_PER_MS) /* then retries (CRS) for at most 1 s */

/* The function to reset, its records and config access. */
struct reset_dev {
	const struct pci_cfg_ops *ops;
	void *ctx;
	const struct pci_func *funcs;
	u32 nfuncs;
	const struct pci_func *f;
};

/* What the function offers, and why not the rest (for the line of a function without any). */
struct reset_probe {
	u32 methods;
	u16 af; /* Advanced Features capability, 0: none */
	u16 pm; /* power management capability, 0: none */
	const struct pci_func *bridge; /* its parent bridge, for a bus reset */
	const char *refusal; /* the whole function, e.g. a bridge */
	const char *no_pm;
	char no_bus[64];
};

/* What a reset clears that the host set up, of one function. */
struct reset_saved {
	const struct pci_func *f;
	u32 bar[PCI_BARS];
	u32 rom;
	u16 cmd;
	u16 devctl;
	u16 lnkctl;
	u16 devctl2;
	u8 cache_line;
	u8 latency;
	u8 int_line;
	bool v2; /* PCIe capability version 2: Device Control 2 exists */
	bool ready; /* answered with its IDs after the reset */
};

static u32 rd(const struct reset_dev *d, u16 bdf, u32 off, u32 size)
{
	return d->ops->read(d->ctx, bdf, (u16)off, size);
}

static void wr(const struct reset_dev *d, u16 bdf, u32 off, u32 size, u32 val)
{
	d->ops->write(d->ctx, bdf, (u16)off, size, val);
}

/* Spin for at least @ns. */
static void reset_delay(u64 ns)
{
	u64 start = arch_time_ns();

	while (arch_time_ns() - start < ns)
		arch_cpu_relax();
}

/*
 * Poll the register of @size at @off of @bdf until (value & @mask) == @want,
 * at most @ns (read once more after the time is up). Returns whether it got there.
 */
static bool reset_poll(const struct reset_dev *d, u16 bdf, u32 off, u32 size, u32 mask, u32 want,
		       u64 ns)
{
	u64 start = arch_time_ns();

	for (;;) {
		bool late = arch_time_ns() - start > ns;

		if ((rd(d, bdf, off, size) & mask) == want)
			return true;
		if (late)
			return false;
		arch_cpu_relax();
	}
}

static bool dev_init(struct reset_dev *d, const struct pci_cfg_ops *ops, void *ctx,
		     const struct pci_func *funcs, u32 nfuncs, u32 index)
{
	if (!ops || !ops->read || !ops->write || !funcs || index >= nfuncs)
		return false;
	d->ops = ops;
	d->ctx = ctx;
	d->funcs = funcs;
	d->nfuncs = nfuncs;
	d->f = &funcs[index];
	return true;
}

/* ---- what a function supports ---- */

/* Offset of capability @id if all @size bytes of it lie in the first 256, else 0. */
static u16 cap_at(const struct reset_dev *d, u8 id, u32 size)
{
	int at = pci_cap_find(d->ops, d->ctx, d->f->seg, d->f->bdf, id);

	if (at <= 0 || (u32)at + size > PCI_CFG_LEGACY_SIZE)
		return 0;
	return (u16)at;
}

static bool same_slot(const struct pci_func *a, const struct pci_func *b)
{
	return a->seg == b->seg && PCI_BDF_BUS(a->bdf) == PCI_BDF_BUS(b->bdf) &&
	       PCI_BDF_DEV(a->bdf) == PCI_BDF_DEV(b->bdf);
}

/*
 * Why a bus reset at @d's parent bridge would not do (into p->no_bus), or
 * NULL and p->bridge set: the bridge is one Keel followed, and every other
 * function on its secondary bus, recorded or answering, is a function of
 * the same device, an endpoint, in the same isolation group (so it goes to
 * the same partition: the reset surprises nobody else).
 */
static const char *bus_refusal(const struct reset_dev *d, struct reset_probe *p)
{
	const struct pci_func *f = d->f, *b;
	u8 bus = PCI_BDF_BUS(f->bdf);

	if (f->parent == PCI_NONE || f->parent >= d->nfuncs)
		return "no bridge above it";
	b = &d->funcs[f->parent];
	if (b->hdr_type != PCI_HEADER_BRIDGE || (b->flags & PCI_F_REFUSED) || b->seg != f->seg ||
	    b->sec_bus != bus)
		return "its bridge is not one Keel followed";
	for (u32 i = 0; i < d->nfuncs; i++) {
		const struct pci_func *g = &d->funcs[i];
		const char *fmt = NULL;

		if (g == f || g->seg != f->seg || PCI_BDF_BUS(g->bdf) != bus)
			continue;
		if (!same_slot(f, g))
			fmt = "its bus has %02x:%02x.%u too";
		else if (g->hdr_type != PCI_HEADER_NORMAL)
			fmt = "%02x:%02x.%u is a bridge";
		else if (g->group != f->group)
			fmt = "%02x:%02x.%u is in another group";
		if (fmt) {
			snprintf(p->no_bus, sizeof(p->no_bus), fmt, bus, PCI_BDF_DEV(g->bdf),
				 PCI_BDF_FN(g->bdf));
			return p->no_bus;
		}
	}
	/* A device the records do not hold (their table was full) is reset as surely. */
	for (u32 dev = 0; dev < PCI_DEVS; dev++) {
		u16 vendor;

		if (dev == PCI_BDF_DEV(f->bdf))
			continue;
		vendor = (u16)rd(d, PCI_BDF(bus, dev, 0), PCI_VENDOR_ID, 2);
		if (vendor != 0xffff && vendor != 0) {
			snprintf(p->no_bus, sizeof(p->no_bus), "its bus has %02x:%02x.0 too", bus,
				 dev);
			return p->no_bus;
		}
	}
	p->bridge = b;
	return NULL;
}

static void reset_probe(const struct reset_dev *d, struct reset_probe *p)
{
	const struct pci_func *f = d->f;
	const char *no_bus;
	u16 vendor;

	memset(p, 0, sizeof(*p));
	if (f->hdr_type != PCI_HEADER_NORMAL) {
		p->refusal = "it is a bridge; Keel resets endpoints only";
		return;
	}
	if ((f->class >> 8) == PCI_CLASS_HOST_BRIDGE) {
		p->refusal = "it is a host bridge";
		return;
	}
	vendor = (u16)rd(d, f->bdf, PCI_VENDOR_ID, 2);
	if (vendor == 0xffff || vendor == 0) {
		p->refusal = "it does not answer config reads";
		return;
	}
	if (f->pcie_cap && (rd(d, f->bdf, f->pcie_cap + EXP_DEVCAP, 4) & EXP_DEVCAP_FLR))
		p->methods |= PCI_RESET_FLR;
	/* The spec asks for Transactions Pending wherever AF FLR is offered: both, or neither. */
	p->af = cap_at(d, PCI_CAP_ID_AF, AF_SIZE);
	if (p->af && (~rd(d, f->bdf, p->af + AF_CAP, 1) & (AF_CAP_TP | AF_CAP_FLR)) == 0)
		p->methods |= PCI_RESET_AF_FLR;
	no_bus = bus_refusal(d, p);
	if (!no_bus)
		p->methods |= PCI_RESET_BUS;
	else if (no_bus != p->no_bus)
		snprintf(p->no_bus, sizeof(p->no_bus), "%s", no_bus);
	p->pm = cap_at(d, PCI_CAP_ID_PM, PM_SIZE);
	if (!p->pm)
		p->no_pm = "no power management capability";
	else if (rd(d, f->bdf, p->pm + PM_CSR, 2) & PM_CSR_NO_SOFT_RESET)
		p->no_pm = "No_Soft_Reset is set";
	else
		p->methods |= PCI_RESET_PM;
}

u32 pci_reset_methods(const struct pci_cfg_ops *ops, void *ctx, const struct pci_func *funcs,
		      u32 nfuncs, u32 index)
{
	struct reset_dev d;
	struct reset_probe p;

	if (!dev_init(&d, ops, ctx, funcs, nfuncs, index))
		return 0;
	reset_probe(&d, &p);
	return p.methods;
}

const char *pci_reset_method_name(u32 method)
{
	switch (method) {
	case PCI_RESET_FLR:
		return "FLR";
	case PCI_RESET_AF_FLR:
		return "AF FLR";
	case PCI_RESET_BUS:
		return "bus reset";
	case PCI_RESET_PM:
		return "D3hot->D0";
	default:
		return "none";
	}
}

/* ---- saving and restoring what the host set up ---- */

/* Read what @s->f's reset clears; false if it does not answer. */
static bool state_save(const struct reset_dev *d, struct reset_saved *s)
{
	const struct pci_func *f = s->f;
	u16 cap = f->pcie_cap;

	if ((u16)rd(d, f->bdf, PCI_VENDOR_ID, 2) == 0xffff)
		return false;
	for (u32 i = 0; i < PCI_BARS; i++)
		s->bar[i] = rd(d, f->bdf, PCI_BAR0 + 4 * i, 4);
	s->rom = rd(d, f->bdf, PCI_ROM, 4);
	s->cmd = (u16)rd(d, f->bdf, PCI_COMMAND, 2);
	s->cache_line = (u8)rd(d, f->bdf, PCI_CACHE_LINE, 1);
	s->latency = (u8)rd(d, f->bdf, PCI_LATENCY, 1);
	s->int_line = (u8)rd(d, f->bdf, PCI_INT_LINE, 1);
	if (cap) {
		s->v2 = (rd(d, f->bdf, cap + PCI_EXP_FLAGS, 2) & 0xfu) >= 2;
		s->devctl = (u16)rd(d, f->bdf, cap + EXP_DEVCTL, 2);
		s->lnkctl = (u16)rd(d, f->bdf, cap + EXP_LNKCTL, 2);
		if (s->v2)
			s->devctl2 = (u16)rd(d, f->bdf, cap + EXP_DEVCTL2, 2);
	}
	return true;
}

/* No decode, no bus mastering: nothing reaches the function, and it starts no DMA. */
static void state_quiesce(const struct reset_dev *d, const struct reset_saved *s)
{
	u32 off = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | (u32)PCI_COMMAND_MASTER;

	wr(d, s->f->bdf, PCI_COMMAND, 2, s->cmd & ~off);
}

/* Put it all back, decode last, bus mastering left off. */
static void state_restore(const struct reset_dev *d, const struct reset_saved *s)
{
	const struct pci_func *f = s->f;
	u16 cap = f->pcie_cap;

	for (u32 i = 0; i < PCI_BARS; i++)
		wr(d, f->bdf, PCI_BAR0 + 4 * i, 4, s->bar[i]);
	wr(d, f->bdf, PCI_ROM, 4, s->rom);
	wr(d, f->bdf, PCI_CACHE_LINE, 1, s->cache_line);
	wr(d, f->bdf, PCI_LATENCY, 1, s->latency);
	wr(d, f->bdf, PCI_INT_LINE, 1, s->int_line);
	if (cap) {
		wr(d, f->bdf, cap + EXP_DEVCTL, 2, s->devctl & ~EXP_DEVCTL_FLR);
		wr(d, f->bdf, cap + EXP_LNKCTL, 2, s->lnkctl & ~EXP_LNKCTL_ACTIONS);
		if (s->v2)
			wr(d, f->bdf, cap + EXP_DEVCTL2, 2, s->devctl2);
	}
	wr(d, f->bdf, PCI_COMMAND, 2, s->cmd & ~(u32)PCI_COMMAND_MASTER);
}

/*
 * The functions one reset touches, the one asked for first: every function
 * of its device for a bus reset (bus_refusal() made sure they are endpoints
 * of its group), else just it. Returns how many, 0 with a console line if
 * one does not answer.
 */
static u32 set_save(const struct reset_dev *d, u32 method, struct reset_saved *set)
{
	u32 n = 0;

	memset(set, 0, sizeof(*set) * PCI_RESET_FNS);
	set[n++].f = d->f;
	for (u32 i = 0; method == PCI_RESET_BUS && i < d->nfuncs && n < PCI_RESET_FNS; i++)
		if (&d->funcs[i] != d->f && same_slot(&d->funcs[i], d->f))
			set[n++].f = &d->funcs[i];
	for (u32 i = 0; i < n; i++) {
		if (!state_save(d, &set[i])) {
			pr_err("pci " PCI_FMT ": does not answer config reads; not reset",
			       PCI_ARGS(set[i].f->seg, set[i].f->bdf));
			return 0;
		}
	}
	return n;
}

/*
 * Poll until every function of @set answers with its own IDs, at most
 * RESET_READY_NS. Until then a function reads all ones, or 0x0001 as its
 * vendor (Configuration Request Retry Status, made visible). Returns 0, or
 * an error after a line naming the function that did not come back or came
 * back as another device.
 */
static int set_ready(const struct reset_dev *d, struct reset_saved *set, u32 n, u32 method)
{
	u64 start = arch_time_ns();
	u32 left = n;

	for (;;) {
		bool late = arch_time_ns() - start > RESET_READY_NS;

		for (u32 i = 0; i < n; i++) {
			const struct pci_func *f = set[i].f;
			u32 id, want = (u32)f->device << 16 | f->vendor;

			if (set[i].ready)
				continue;
			id = rd(d, f->bdf, PCI_VENDOR_ID, 4);
			if ((id & 0xffff) == 0xffff || (id & 0xffff) == PCI_VENDOR_CRS)
				continue;
			if (id != want) {
				pr_err("pci " PCI_FMT
				       ": answers as %04x:%04x after %s, was %04x:%04x; "
				       "left with decode and bus mastering off",
				       PCI_ARGS(f->seg, f->bdf), id & 0xffff, id >> 16,
				       pci_reset_method_name(method), f->vendor, f->device);
				return -KEEL_EIO;
			}
			set[i].ready = true;
			left--;
		}
		if (!left)
			return 0;
		if (late)
			break;
		arch_cpu_relax();
	}
	for (u32 i = 0; i < n; i++) {
		if (!set[i].ready) {
			pr_err("pci " PCI_FMT ": did not answer within %llu ms after %s; "
			       "left with decode and bus mastering off",
			       PCI_ARGS(set[i].f->seg, set[i].f->bdf),
			       (unsigned long long)(RESET_READY_NS / NS_PER_MS),
			       pci_reset_method_name(method));
			break;
		}
	}
	return -KEEL_ETIMEDOUT;
}

/* ---- the methods: each resets and waits what the spec requires before config access ---- */

/*
 * Let requests the function sent before bus mastering went off complete
 * (Transactions Pending, bit @tp of the register of @size at @off), for a
 * bounded time. One that never completes does not keep the function from
 * its reset: the FLR goes ahead, and completions that arrive later are
 * unexpected ones the reset function discards.
 */
static void flr_drain(const struct reset_dev *d, u32 off, u32 size, u32 tp,
		      struct pci_reset_result *out)
{
	const struct pci_func *f = d->f;

	if (reset_poll(d, f->bdf, off, size, tp, 0, RESET_PENDING_NS))
		return;
	pr_warn("pci " PCI_FMT ": transactions still pending %llu ms after bus mastering went "
		"off; FLR started anyway",
		PCI_ARGS(f->seg, f->bdf), (unsigned long long)(RESET_PENDING_NS / NS_PER_MS));
	out->flags |= PCI_RESET_PENDING;
}

static int reset_flr(const struct reset_dev *d, struct pci_reset_result *out)
{
	const struct pci_func *f = d->f;
	u32 ctl = f->pcie_cap + EXP_DEVCTL;

	flr_drain(d, f->pcie_cap + EXP_DEVSTA, 2, EXP_DEVSTA_TP, out);
	wr(d, f->bdf, ctl, 2, rd(d, f->bdf, ctl, 2) | EXP_DEVCTL_FLR);
	reset_delay(RESET_FLR_NS);
	return 0;
}

static int reset_af_flr(const struct reset_dev *d, const struct reset_probe *p,
			struct pci_reset_result *out)
{
	flr_drain(d, p->af + AF_STATUS, 1, AF_STATUS_TP, out);
	wr(d, d->f->bdf, p->af + AF_CTRL, 1, AF_CTRL_FLR);
	reset_delay(RESET_FLR_NS);
	return 0;
}

/*
 * Secondary bus reset at the bridge: held Trst, released. Below a PCIe
 * port config requests wait 100 ms, after the link is up again if the port
 * reports that (ports faster than 5 GT/s must); on a conventional bus they
 * wait Trhfa.
 */
static int reset_bus(const struct reset_dev *d, const struct reset_probe *p)
{
	const struct pci_func *b = p->bridge, *f = d->f;
	u32 ctl = rd(d, b->bdf, PCI_BRIDGE_CONTROL, 2) & ~PCI_BRIDGE_CTL_SBR;
	bool pcie = b->pcie_cap && (b->pcie_type == PCI_EXP_TYPE_ROOT_PORT ||
				    b->pcie_type == PCI_EXP_TYPE_DOWNSTREAM ||
				    b->pcie_type == PCI_EXP_TYPE_PCIE_BRIDGE);

	wr(d, b->bdf, PCI_BRIDGE_CONTROL, 2, ctl | PCI_BRIDGE_CTL_SBR);
	reset_delay(RESET_SBR_HOLD_NS);
	wr(d, b->bdf, PCI_BRIDGE_CONTROL, 2, ctl);
	if (!pcie) {
		reset_delay(RESET_TRHFA_NS);
		return 0;
	}
	if ((rd(d, b->bdf, b->pcie_cap + EXP_LNKCAP, 4) & EXP_LNKCAP_DLLLARC) &&
	    !reset_poll(d, b->bdf, b->pcie_cap + EXP_LNKSTA, 2, EXP_LNKSTA_DLLLA, EXP_LNKSTA_DLLLA,
			RESET_LINK_NS)) {
		pr_err("pci " PCI_FMT ": link of bridge %02x:%02x.%u not up %llu ms after the bus "
		       "reset; left with decode and bus mastering off",
		       PCI_ARGS(f->seg, f->bdf), PCI_BDF_BUS(b->bdf), PCI_BDF_DEV(b->bdf),
		       PCI_BDF_FN(b->bdf), (unsigned long long)(RESET_LINK_NS / NS_PER_MS));
		return -KEEL_ETIMEDOUT;
	}
	reset_delay(RESET_SBR_PCIE_NS);
	return 0;
}

/* D3hot, then D0: without No_Soft_Reset the function comes back reset (D0uninitialized). */
static int reset_pm(const struct reset_dev *d, const struct reset_probe *p)
{
	const struct pci_func *f = d->f;
	u32 csr = p->pm + PM_CSR;
	u32 keep = rd(d, f->bdf, csr, 2) & ~(PM_CSR_STATE | PM_CSR_PME_STATUS);
	u32 state;

	wr(d, f->bdf, csr, 2, keep | PM_CSR_D3HOT);
	reset_delay(RESET_D3_NS);
	state = rd(d, f->bdf, csr, 2) & PM_CSR_STATE;
	if (state != PM_CSR_D3HOT) {
		pr_err("pci " PCI_FMT ": did not enter D3hot (reads D%u); not reset",
		       PCI_ARGS(f->seg, f->bdf), state);
		return -KEEL_EIO;
	}
	wr(d, f->bdf, csr, 2, keep);
	reset_delay(RESET_D3_NS);
	return 0;
}

/* After D3hot -> D0 and the function answering: it must say D0. */
static int pm_check(const struct reset_dev *d, const struct reset_probe *p)
{
	const struct pci_func *f = d->f;
	u32 state = rd(d, f->bdf, p->pm + PM_CSR, 2) & PM_CSR_STATE;

	if (state == 0)
		return 0;
	pr_err("pci " PCI_FMT ": still in D%u after D3hot->D0; left with decode and bus "
	       "mastering off",
	       PCI_ARGS(f->seg, f->bdf), state);
	return -KEEL_EIO;
}

static void probe_log(const struct reset_dev *d, const struct reset_probe *p)
{
	const struct pci_func *f = d->f;

	if (p->refusal)
		pr_err("pci " PCI_FMT ": cannot be reset: %s", PCI_ARGS(f->seg, f->bdf),
		       p->refusal);
	else
		pr_err("pci " PCI_FMT ": cannot be reset: no FLR, no AF FLR, no bus reset (%s), "
		       "no D3hot->D0 (%s)",
		       PCI_ARGS(f->seg, f->bdf), p->no_bus, p->no_pm);
}

int pci_reset_function(const struct pci_cfg_ops *ops, void *ctx, const struct pci_func *funcs,
		       u32 nfuncs, u32 index, struct pci_reset_result *out)
{
	struct reset_saved set[PCI_RESET_FNS];
	struct reset_probe p;
	struct reset_dev d;
	u64 start;
	u32 n;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!dev_init(&d, ops, ctx, funcs, nfuncs, index))
		return -KEEL_EINVAL;
	reset_probe(&d, &p);
	out->methods = p.methods;
	if (!p.methods) {
		probe_log(&d, &p);
		return -PCI_RESET_ENOTSUP;
	}
	out->method = p.methods & -p.methods; /* the lowest bit is the best method */
	start = arch_time_ns();
	n = set_save(&d, out->method, set);
	if (!n)
		return -KEEL_EIO;
	out->others = n - 1;
	for (u32 i = 0; i < n; i++)
		state_quiesce(&d, &set[i]);
	switch (out->method) {
	case PCI_RESET_FLR:
		ret = reset_flr(&d, out);
		break;
	case PCI_RESET_AF_FLR:
		ret = reset_af_flr(&d, &p, out);
		break;
	case PCI_RESET_BUS:
		ret = reset_bus(&d, &p);
		break;
	default:
		ret = reset_pm(&d, &p);
		break;
	}
	if (!ret)
		ret = set_ready(&d, set, n, out->method);
	if (!ret && out->method == PCI_RESET_PM)
		ret = pm_check(&d, &p);
	for (u32 i = 0; !ret && i < n; i++)
		state_restore(&d, &set[i]);
	out->ns = arch_time_ns() - start;
	return ret;
}
