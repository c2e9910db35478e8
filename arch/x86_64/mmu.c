/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor's own page tables (keel/hmap.h): identity map of RAM (RW,
 * NX, 2 MiB leaves at most), the core image W^X per section, LAPIC, IOAPIC
 * PCI ECAM windows and IOMMU registers uncached, the boot stack's guard page and page 0
 * unmapped. Built through core's walker with the x86 host format; core's
 * hmap takes them over. Their flush: the initiator bumps x86_hmap_gen and
 * kicks every other CPU; each reloads CR3 when it takes the IPI, before it
 * enters a guest, or while it waits for anything, and says so; the
 * initiator waits for all.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/hmap.h>
#include <keel/iommu.h>
#include <keel/pci.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/pt.h>
#include <keel/spinlock.h>

#include "x86.h"

extern char __text_start[], __text_end[], __rodata_start[], __rodata_end[];
extern char __data_start[], __image_end[], __boot_stack_guard[];

#define X86_HMAP_WAIT_NS 1000000000ull
#define X86_INVLPG_MAX 32u /* pages; a larger flush reloads CR3 */

hpa_t x86_host_cr3; /* the shared top level: the AP trampoline enters long mode on it */
static struct pt x86_host_pt;
u64 x86_hmap_gen;

/*
 * Bootstrap identity map (512 GiB with 1 GiB pages, else 8 GiB with 2 MiB
 * pages), used from early init until arch_mmu_init: the firmware's tables
 * sit in boot-services memory that pmm hands out (zeroed) from pmm_init on.
 */
#define BOOT_PDS 8
static u64 x86_boot_pml4[512] __aligned(PAGE_SIZE);
static u64 x86_boot_pdpt[512] __aligned(PAGE_SIZE);
static u64 x86_boot_pd[BOOT_PDS][512] __aligned(PAGE_SIZE);

void x86_mmu_boot_map(void)
{
	if (x86_has_1g_pages()) {
		for (u64 i = 0; i < 512; i++)
			x86_boot_pdpt[i] = (i << 30) | 0x83; /* P, RW, PS */
	} else {
		for (u64 i = 0; i < BOOT_PDS; i++) {
			x86_boot_pdpt[i] = hva_to_hpa(x86_boot_pd[i]) | 0x3;
			for (u64 j = 0; j < 512; j++)
				x86_boot_pd[i][j] = (i << 30) | (j << 21) | 0x83;
		}
	}
	x86_boot_pml4[0] = hva_to_hpa(x86_boot_pdpt) | 0x3;
	x86_write_cr4(x86_read_cr4() & ~X86_CR4_PGE); /* drop global firmware entries */
	x86_write_cr3(hva_to_hpa(x86_boot_pml4));
}

hpa_t x86_pt_alloc(void *ctx, u64 bytes)
{
	void *page;

	if (bytes > PAGE_SIZE)
		return pmm_alloc(ALIGN_UP(bytes, PAGE_SIZE), PAGE_SIZE);
	page = pmm_alloc_page();
	return page ? hva_to_hpa(page) : 0;
}

void x86_pt_free(void *ctx, hpa_t table, u64 bytes)
{
	if (bytes > PAGE_SIZE)
		pmm_free(table, ALIGN_UP(bytes, PAGE_SIZE));
	else
		pmm_free_page(hpa_to_hva(table));
}

/* Firmware RAM the hypervisor may touch: its own, free, ACPI and runtime data. */
static bool mmu_mem_is_ram(u32 type)
{
	return type == KEEL_MEM_FREE || type == KEEL_MEM_KEEL || type == KEEL_MEM_ACPI ||
	       type == KEEL_MEM_NVS || type == KEEL_MEM_RUNTIME;
}

static int mmu_map(u64 base, u64 end, u32 attrs, const char *what)
{
	int ret;

	base = ALIGN_DOWN(base, PAGE_SIZE);
	end = ALIGN_UP(end, PAGE_SIZE);
	if (end <= base)
		return 0;
	ret = pt_map(&x86_host_pt, base, base, end - base, attrs);
	if (ret)
		pr_err("x86: mapping %s [0x%llx, 0x%llx) failed: %d", what,
		       (unsigned long long)base, (unsigned long long)end, ret);
	return ret;
}

static int mmu_map_image(void)
{
	u64 text = hva_to_hpa(__text_start), rodata = hva_to_hpa(__rodata_start);
	u64 data = hva_to_hpa(__data_start);
	int ret;

	ret = mmu_map(text, hva_to_hpa(__text_end), PT_READ | PT_EXEC, ".text");
	if (!ret)
		ret = mmu_map(rodata, hva_to_hpa(__rodata_end), PT_READ, ".rodata");
	if (!ret)
		ret = mmu_map(data, hva_to_hpa(__image_end), PT_READ | PT_WRITE, ".data/.bss");
	return ret;
}

static int mmu_map_devices(void)
{
	const struct pci_ecam *w;
	const struct iommu_unit *u;
	int ret = 0;

	if (x86_acpi.lapic_base)
		ret = mmu_map(x86_acpi.lapic_base, x86_acpi.lapic_base + PAGE_SIZE,
			      PT_READ | PT_WRITE | PT_DEVICE, "LAPIC");
	for (u32 i = 0; !ret && i < x86_acpi.ioapic_count; i++)
		ret = mmu_map(x86_acpi.ioapic_base[i], x86_acpi.ioapic_base[i] + PAGE_SIZE,
			      PT_READ | PT_WRITE | PT_DEVICE, "IOAPIC");
	for (u32 i = 0; !ret && (w = pci_ecam_window(i)); i++)
		ret = mmu_map(pci_ecam_start(w), pci_ecam_end(w), PT_READ | PT_WRITE | PT_DEVICE,
			      "PCI ECAM");
	for (u32 i = 0; !ret && (u = iommu_unit_at(i)); i++)
		ret = mmu_map(u->base, u->base + u->size, PT_READ | PT_WRITE | PT_DEVICE, "IOMMU");
	return ret;
}

/* Per CPU: NX, write protection for ring 0, SMEP/SMAP, then its own top level. */
void x86_mmu_enable_cpu(hpa_t root)
{
	struct x86_cpuid l7 = x86_cpuid(7, 0);
	u64 cr4 = x86_read_cr4() & ~X86_CR4_PGE; /* also drops firmware global TLB entries */

	x86_wrmsr(MSR_EFER, x86_rdmsr(MSR_EFER) | EFER_NXE);
	x86_write_cr0(x86_read_cr0() | X86_CR0_WP);
	if (x86_cpuid(0, 0).eax >= 7) {
		if (l7.ebx & BIT(7))
			cr4 |= X86_CR4_SMEP;
		if (l7.ebx & BIT(20))
			cr4 |= X86_CR4_SMAP;
	}
	x86_write_cr4(cr4);
	x86_write_cr3(root);
}

/* Drop what this CPU caches of the hypervisor's tables: a range, or all of it. */
static void x86_flush_local(u64 va, u64 size)
{
	if (size > (u64)X86_INVLPG_MAX * PAGE_SIZE) {
		x86_write_cr3(x86_read_cr3()); /* CR4.PGE is off: this drops every entry */
		return;
	}
	for (u64 off = 0; off < size; off += PAGE_SIZE)
		x86_invlpg(va + off);
}

void arch_mmu_catch_up(void)
{
	struct pcpu *cpu;
	u64 gen;

	if (!pcpus_ready)
		return;
	cpu = pcpu_this();
	gen = __atomic_load_n(&x86_hmap_gen, __ATOMIC_ACQUIRE);
	if (__atomic_load_n(&cpu->arch.hmap_gen, __ATOMIC_RELAXED) == gen)
		return;
	x86_write_cr3(x86_read_cr3());
	__atomic_store_n(&cpu->arch.hmap_gen, gen, __ATOMIC_RELEASE);
}

/* Wait for every other online CPU to have flushed for @gen (taking flushes meanwhile). */
static void x86_hmap_wait(const struct pcpu *self, u64 gen)
{
	for (u32 i = 0; i < platform.cpu_count && i < KEEL_MAX_CPUS; i++) {
		struct pcpu *cpu = &pcpus[i];
		u64 start = arch_time_ns();

		if (cpu == self || READ_ONCE(cpu->state) != PCPU_ONLINE)
			continue;
		while (__atomic_load_n(&cpu->arch.hmap_gen, __ATOMIC_ACQUIRE) < gen) {
			arch_cpu_relax();
			if (arch_time_ns() - start > X86_HMAP_WAIT_NS) {
				/* It still flushes before it next enters a guest. */
				pr_warn("x86: cpu %u has not flushed its TLB after 1 s", cpu->id);
				break;
			}
		}
	}
}

/* pt.sync of the shared tables: returns once no CPU translates [va, va + size) as before. */
static void x86_hmap_sync(void *ctx, u64 va, u64 size)
{
	struct pcpu *self;
	u64 gen;

	x86_flush_local(va, size);
	if (!pcpus_ready)
		return;
	self = pcpu_this();
	gen = __atomic_add_fetch(&x86_hmap_gen, 1, __ATOMIC_ACQ_REL);
	__atomic_store_n(&self->arch.hmap_gen, gen, __ATOMIC_RELEASE);
	for (u32 i = 0; i < platform.cpu_count && i < KEEL_MAX_CPUS; i++)
		if (&pcpus[i] != self)
			pcpu_kick(&pcpus[i]);
	x86_hmap_wait(self, gen);
}

void arch_window_set(u64 *pte, u64 val, u64 va)
{
	WRITE_ONCE(*pte, val);
	x86_invlpg(va);
}

int arch_mmu_init(const struct keel_boot_info *bi, const struct platform *plat)
{
	u32 n = MIN(bi->mem_count, KEEL_BOOT_MAX_MEM);
	u64 ram_top = 0; /* hmap can hide memory below it */
	int ret;

	x86_host_pt.fmt = x86_host_format();
	x86_host_pt.alloc_table = x86_pt_alloc;
	x86_host_pt.free_table = x86_pt_free;
	ret = pt_init(&x86_host_pt);
	if (ret)
		return ret;
	/* Secondary CPUs load CR3 in 32-bit mode in the trampoline. */
	if (x86_host_pt.root >= SZ_1G * 4) {
		pr_err("x86: page-table root 0x%llx is above 4 GiB",
		       (unsigned long long)x86_host_pt.root);
		return -KEEL_ENOMEM;
	}

	for (u32 i = 0; i < n; i++) {
		const struct keel_boot_mem *m = &bi->mem[i];

		if (!mmu_mem_is_ram(m->type) || range_overflows(m->base, m->size))
			continue;
		ret = mmu_map(m->base, m->base + m->size, PT_READ | PT_WRITE, "RAM");
		if (ret)
			return ret;
		ram_top = MAX(ram_top, m->base + m->size);
	}
	ret = mmu_map_image();
	if (!ret)
		ret = mmu_map_devices();
	if (!ret && bi->trampoline)
		ret = mmu_map(bi->trampoline, bi->trampoline + PAGE_SIZE, PT_READ | PT_EXEC,
			      "AP trampoline");
	if (ret)
		return ret;
	pt_unmap(&x86_host_pt, 0, PAGE_SIZE); /* NULL stays a fault */
	pt_unmap(&x86_host_pt, hva_to_hpa(__boot_stack_guard), PAGE_SIZE);
	ret = hmap_init(&x86_host_pt, ram_top);
	if (ret)
		return ret;

	x86_host_cr3 = x86_host_pt.root;
	/* Written while the firmware's tables (which map it writable) are live. */
	if (bi->trampoline)
		x86_tramp_install(bi->trampoline);
	x86_mmu_enable_cpu(pcpus[0].root);
	x86_host_pt.sync = x86_hmap_sync; /* live from here on */
	x86_ioapic_init(); /* their registers are mapped uncached now */
	pr_info("x86: own page tables on (root 0x%llx, 2M/4K pages, text 0x%llx-0x%llx, NX WP%s%s)",
		(unsigned long long)x86_host_cr3, (unsigned long long)hva_to_hpa(__text_start),
		(unsigned long long)hva_to_hpa(__text_end),
		(x86_read_cr4() & X86_CR4_SMEP) ? " SMEP" : "",
		(x86_read_cr4() & X86_CR4_SMAP) ? " SMAP" : "");
	return 0;
}
