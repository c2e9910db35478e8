/* SPDX-License-Identifier: MIT */
/*
 * The host's ECAM windows (keel/pci.h): checked when the platform code finds
 * them, mapped by the arch with the hypervisor's own page tables, read and
 * written here, and enumerated once at boot into the table of functions.
 */
#include <keel/abi.h>
#include <keel/console.h>
#include <keel/hmap.h>
#include <keel/pci.h>
#include <keel/pmm.h>

#define ECAM_BUS_SIZE (1ull << PCI_ECAM_BUS_SHIFT)

static struct pci_ecam ecam_windows[PCI_MAX_WINDOWS];
static u32 ecam_count;
static struct pci_func pci_funcs[PCI_MAX_FUNCS];
static u32 pci_nfuncs;

hpa_t pci_ecam_start(const struct pci_ecam *w)
{
	return w->base + ((hpa_t)w->start_bus << PCI_ECAM_BUS_SHIFT);
}

hpa_t pci_ecam_end(const struct pci_ecam *w)
{
	return w->base + (((hpa_t)w->end_bus + 1) << PCI_ECAM_BUS_SHIFT);
}

const struct pci_ecam *pci_ecam_window(u32 i)
{
	return i < ecam_count ? &ecam_windows[i] : NULL;
}

static bool ecam_overlaps_window(const struct pci_ecam *w)
{
	for (u32 i = 0; i < ecam_count; i++) {
		const struct pci_ecam *o = &ecam_windows[i];

		if (ranges_overlap(pci_ecam_start(w), pci_ecam_end(w) - pci_ecam_start(w),
				   pci_ecam_start(o), pci_ecam_end(o) - pci_ecam_start(o)))
			return true;
		if (o->seg == w->seg && w->start_bus <= o->end_bus && o->start_bus <= w->end_bus)
			return true;
	}
	return false;
}

/* Why window @w cannot be used, or NULL. */
static const char *ecam_refusal(const struct keel_boot_info *bi, const struct pci_ecam *w)
{
	u64 size = ((u64)w->end_bus + 1) << PCI_ECAM_BUS_SHIFT; /* from bus 0 */

	if (w->start_bus > w->end_bus)
		return "its bus numbers are in reverse order";
	if (!w->base || !IS_ALIGNED(w->base, ECAM_BUS_SIZE))
		return "its base is not 1 MiB aligned";
	/* Identity mapped below the hypervisor's own top-level slots, like RAM. */
	if (w->base >= HMAP_STACKS_VA || size > HMAP_STACKS_VA - w->base)
		return "it reaches past the address space Keel maps";
	if (boot_mem_hits_ram(bi, pci_ecam_start(w), pci_ecam_end(w)))
		return "it overlaps RAM";
	if (ecam_overlaps_window(w))
		return "it overlaps another window";
	return NULL;
}

int pci_ecam_add(const struct keel_boot_info *bi, const struct pci_ecam *w)
{
	const char *why = ecam_refusal(bi, w);

	if (why) {
		pr_warn("pci: ECAM window of segment %04x, buses %02x-%02x at 0x%llx ignored: %s",
			w->seg, w->start_bus, w->end_bus, (unsigned long long)w->base, why);
		return -KEEL_EINVAL;
	}
	if (ecam_count >= PCI_MAX_WINDOWS) {
		pr_warn("pci: more than %u ECAM windows; segment %04x, buses %02x-%02x ignored",
			PCI_MAX_WINDOWS, w->seg, w->start_bus, w->end_bus);
		return -KEEL_ENOSPC;
	}
	ecam_windows[ecam_count] = *w;
	ecam_windows[ecam_count].pad = 0;
	ecam_count++;
	pr_info("pci: ECAM segment %04x, buses %02x-%02x at 0x%llx", w->seg, w->start_bus,
		w->end_bus, (unsigned long long)w->base);
	return 0;
}

/* Where (@bdf, @off) of window @w is, or NULL for an access outside it or a bad size. */
static volatile void *ecam_addr(const struct pci_ecam *w, u16 bdf, u16 off, u32 size)
{
	u8 bus = PCI_BDF_BUS(bdf);

	if (bus < w->start_bus || bus > w->end_bus || (size != 1 && size != 2 && size != 4) ||
	    off % size || off + size > PCI_CFG_SIZE)
		return NULL;
	return hpa_to_hva(w->base + ((hpa_t)bdf << 12) + off);
}

static u32 ecam_read(void *ctx, u16 bdf, u16 off, u32 size)
{
	volatile void *p = ecam_addr(ctx, bdf, off, size);

	if (!p)
		return size >= 4 ? 0xffffffffu : (u32)BIT(size * 8) - 1;
	if (size == 1)
		return *(volatile u8 *)p;
	if (size == 2)
		return *(volatile u16 *)p;
	return *(volatile u32 *)p;
}

static void ecam_write(void *ctx, u16 bdf, u16 off, u32 size, u32 val)
{
	volatile void *p = ecam_addr(ctx, bdf, off, size);

	if (!p)
		return;
	if (size == 1)
		*(volatile u8 *)p = (u8)val;
	else if (size == 2)
		*(volatile u16 *)p = (u16)val;
	else
		*(volatile u32 *)p = val;
}

static const struct pci_cfg_ops ecam_ops = {
	.read = ecam_read,
	.write = ecam_write,
};

static struct pci_ecam *ecam_of(u16 seg, u16 bdf)
{
	for (u32 i = 0; i < ecam_count; i++) {
		struct pci_ecam *w = &ecam_windows[i];

		if (w->seg == seg && PCI_BDF_BUS(bdf) >= w->start_bus &&
		    PCI_BDF_BUS(bdf) <= w->end_bus)
			return w;
	}
	return NULL;
}

u32 pci_cfg_read(u16 seg, u16 bdf, u16 off, u32 size)
{
	struct pci_ecam *w = ecam_of(seg, bdf);

	if (!w)
		return size >= 4 ? 0xffffffffu : (u32)BIT(size * 8) - 1;
	return ecam_read(w, bdf, off, size);
}

void pci_cfg_write(u16 seg, u16 bdf, u16 off, u32 size, u32 val)
{
	struct pci_ecam *w = ecam_of(seg, bdf);

	if (w)
		ecam_write(w, bdf, off, size, val);
}

static u32 host_read(void *ctx, u16 bdf, u16 off, u32 size)
{
	return pci_cfg_read((u16)(uintptr_t)ctx, bdf, off, size);
}

static void host_write(void *ctx, u16 bdf, u16 off, u32 size, u32 val)
{
	pci_cfg_write((u16)(uintptr_t)ctx, bdf, off, size, val);
}

const struct pci_cfg_ops pci_host_ops = {
	.read = host_read,
	.write = host_write,
};

/* ---- MSI-X tables, mapped for Keel at boot ---- */

#define PCI_BAR0 0x10u
#define MSIX_CAP_ID 0x11u
#define MSIX_QSIZE 0x7ffu
#define MSIX_BIR 7u
#define MSIX_MAP_MAX 0x100000ull /* from a table to its PBA in one BAR: Keel maps no more */

/* The host address of memory BAR @bir of @f, or 0 (an I/O BAR, the upper half of one, unset). */
static u64 msix_bar_base(const struct pci_func *f, u32 bir)
{
	u16 off = (u16)(PCI_BAR0 + 4 * bir);
	u32 lo;
	u64 base;

	if (bir > 5)
		return 0;
	lo = pci_cfg_read(f->seg, f->bdf, off, 4);
	if (lo & 1)
		return 0;
	base = lo & ~0xfull;
	if (((lo >> 1) & 3) == 2)
		base = bir == 5 ? 0 : base | (u64)pci_cfg_read(f->seg, f->bdf, off + 4, 4) << 32;
	return base;
}

/* Why [@lo, @hi) of @f cannot be mapped for Keel, or NULL. */
static const char *msix_map_refusal(const struct keel_boot_info *bi, u64 base, u64 lo, u64 hi)
{
	if (!base)
		return "its BAR is not a memory BAR with an address";
	if (hi - lo > MSIX_MAP_MAX)
		return "its table and PBA are more than 1 MiB apart";
	if (range_overflows(base + lo, hi - lo) || base + hi > HMAP_STACKS_VA)
		return "it reaches past the address space Keel maps";
	if (boot_mem_hits_ram(bi, ALIGN_DOWN(base + lo, SZ_2M), ALIGN_UP(base + hi, SZ_2M)))
		return "it shares 2 MiB with RAM";
	return NULL;
}

/*
 * Map the pages of @f's MSI-X table and PBA for Keel (hmap_map_device), one
 * range per BAR, and record them in @f. A function whose pages cannot be
 * mapped keeps none: its MSI-X is never enabled for a partition.
 */
static void msix_map(const struct keel_boot_info *bi, struct pci_func *f)
{
	int at = f->hdr_type == PCI_HEADER_NORMAL && !(f->flags & PCI_F_BAD_CAPS)
			 ? pci_cap_find(&pci_host_ops, pci_host_ctx(f->seg), f->seg, f->bdf,
					MSIX_CAP_ID)
			 : 0;
	u32 n, tab, pba, bir[2], k;
	u64 lo[2], hi[2];

	if (at <= 0) /* a list pci_scan found broken was reported then */
		return;
	n = (pci_cfg_read(f->seg, f->bdf, (u16)(at + 2), 2) & MSIX_QSIZE) + 1;
	tab = pci_cfg_read(f->seg, f->bdf, (u16)(at + 4), 4);
	pba = pci_cfg_read(f->seg, f->bdf, (u16)(at + 8), 4);
	bir[0] = tab & MSIX_BIR;
	bir[1] = pba & MSIX_BIR;
	lo[0] = ALIGN_DOWN(tab & ~MSIX_BIR, PAGE_SIZE);
	hi[0] = ALIGN_UP((u64)(tab & ~MSIX_BIR) + 16ull * n, PAGE_SIZE);
	lo[1] = ALIGN_DOWN(pba & ~MSIX_BIR, PAGE_SIZE);
	hi[1] = ALIGN_UP((u64)(pba & ~MSIX_BIR) + 8ull * ((n + 63) / 64), PAGE_SIZE);
	if (bir[0] == bir[1]) {
		lo[0] = MIN(lo[0], lo[1]);
		hi[0] = MAX(hi[0], hi[1]);
	}
	for (k = 0; k < (bir[0] == bir[1] ? 1u : 2u); k++) {
		u64 base = msix_bar_base(f, bir[k]);
		const char *why = msix_map_refusal(bi, base, lo[k], hi[k]);

		if (!why && hmap_map_device(base + lo[k], hi[k] - lo[k]))
			why = "no room in Keel's tables";
		if (why) {
			pr_warn("pci " PCI_FMT
				": MSI-X pages in BAR%u not mapped: %s; no partition "
				"gets its MSI-X",
				PCI_ARGS(f->seg, f->bdf), bir[k], why);
			f->msix_lo[0] = f->msix_hi[0] = f->msix_lo[1] = f->msix_hi[1] = 0;
			return;
		}
		f->msix_lo[k] = base + lo[k];
		f->msix_hi[k] = base + hi[k];
	}
}

void pci_init(const struct keel_boot_info *bi)
{
	u32 group = 0;

	for (u32 i = 0; i < ecam_count; i++) {
		struct pci_ecam *w = &ecam_windows[i];
		struct pci_scan s = {
			.ops = &ecam_ops,
			.ctx = w,
			.seg = w->seg,
			.start_bus = w->start_bus,
			.end_bus = w->end_bus,
			.funcs = pci_funcs,
			.max_funcs = PCI_MAX_FUNCS,
			.count = pci_nfuncs,
			.first_group = group,
		};

		if (pci_scan(&s))
			continue;
		pci_nfuncs = s.count;
		group = s.next_group;
	}
	for (u32 i = 0; i < pci_nfuncs; i++)
		msix_map(bi, &pci_funcs[i]);
}

u32 pci_func_count(void)
{
	return pci_nfuncs;
}

const struct pci_func *pci_func_at(u32 i)
{
	return i < pci_nfuncs ? &pci_funcs[i] : NULL;
}

const struct pci_func *pci_func_find(u16 seg, u16 bdf)
{
	for (u32 i = 0; i < pci_nfuncs; i++)
		if (pci_funcs[i].seg == seg && pci_funcs[i].bdf == bdf)
			return &pci_funcs[i];
	return NULL;
}
