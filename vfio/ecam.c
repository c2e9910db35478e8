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

void pci_init(void)
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
