/* SPDX-License-Identifier: MIT */
/*
 * A host stand-in for what core/partition.c and core/mgmt.c call outside
 * themselves: no stage-2, no devices, a clock the test sets, kicks and
 * timers counted, the host's PCI functions and IOMMUs from a table the test
 * fills. Shared by test_mgmt and fuzz_mgmt.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/arch.h>
#include <keel/elf.h>
#include <keel/hypercall.h>
#include <keel/iommu.h>
#include <keel/partition.h>
#include <keel/pci.h>
#include <keel/pci_reset.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/timer.h>
#include <keel/vdev.h>
#include <keel/virtio.h>

#include "../../vfio/vfio_part.h"

#include "mgmt_env.h"

struct pcpu pcpus[KEEL_MAX_CPUS];
struct platform platform;
bool pcpus_ready;

s64 last_status;
u64 last_res[3];
u64 now_ns = 1000;
int kicks, timers_armed, control_requests, reports;
int event_edges; /* rising edges on KEEL_MGMT_EVENT_IRQ */
u64 clock_step_ns;
u32 stuck_cpu = ~0u;
u32 last_control_request;
struct timer *armed_timer;
char input_seen[64];
size_t input_len;
struct pci_func fake_pci[FAKE_PCI_MAX];
struct iommu_unit *fake_pci_unit[FAKE_PCI_MAX];
u32 fake_pci_count;

/* ---- shims for what partition.c and mgmt.c call outside themselves ---- */

void arch_vcpu_hc_return(struct vcpu *v, s64 status, u64 r0, u64 r1, u64 r2)
{
	last_status = status;
	last_res[0] = r0;
	last_res[1] = r1;
	last_res[2] = r2;
}

u64 test_hc_args[6];

void arch_vcpu_hc_args(const struct vcpu *v, u64 a[6])
{
	memcpy(a, test_hc_args, sizeof(test_hc_args));
}

u64 arch_time_ns(void)
{
	now_ns += clock_step_ns;
	return now_ns;
}

/* The boot timeline's clock: the loader's readings taken as nanoseconds. */
u64 arch_time_origin_ns(void)
{
	return 0;
}

u64 arch_ticks_to_ns(u64 ticks)
{
	return ticks;
}

int arch_s2_init(struct partition *p)
{
	return 0;
}

int arch_s2_map(struct partition *p, gpa_t gpa, hpa_t hpa, u64 size, u32 attrs)
{
	return 0;
}

void arch_s2_unmap(struct partition *p, gpa_t gpa, u64 size)
{
}

void arch_s2_destroy(struct partition *p)
{
}

bool arch_part_request_poweroff(struct partition *p)
{
	return false;
}

void arch_vcpus_resized(struct partition *p)
{
}

int arch_part_devices_init(struct partition *p)
{
	return 0;
}

void arch_part_devices_free(struct partition *p)
{
}

/* Images starting "KERN" load; anything else is not a kernel. */
int arch_kernel_load(struct partition *p, struct vcpu_entry *e)
{
	const char *k = hpa_to_hva(p->kernel->base);

	return memcmp(k, "KERN", 4) ? -KEEL_ENOEXEC : 0;
}

int arch_part_prepare(struct partition *p)
{
	return 0;
}

void arch_vcpu_destroy(struct vcpu *v)
{
}

void arch_machine_reset(bool power_off)
{
	abort();
}

int elf_parse(const void *data, u64 size, u32 machine, struct elf_image *img, const char **why)
{
	*why = "not an ELF";
	return -KEEL_ENOEXEC;
}

int virtio_create_devices(struct partition *p)
{
	return 0;
}

/* virtio-mem as the management tests need it: the request is recorded, no device. */
int virtio_mem_resize(struct partition *p, u64 bytes)
{
	if (!p->hotmem.size || bytes > p->hotmem.size)
		return -KEEL_EINVAL;
	__atomic_store_n(&p->hotmem.requested, bytes, __ATOMIC_RELAXED);
	return 0;
}

bool virtio_control_request(struct partition *p, u32 request)
{
	control_requests++;
	last_control_request = request;
	return true;
}

static void report_nothing(struct partition *part, void *arg)
{
	(void)part;
	(void)arg;
}

/* The forced stop's report: counted when the real part_if_running() lets it run. */
void irqwatch_report(struct partition *part, u64 run, const char *why)
{
	(void)why;
	reports += part_if_running(part, run, report_nothing, NULL);
}

void vdev_destroy_all(struct partition *p)
{
}

void vdev_reset_all(struct partition *p)
{
}

/*
 * The kicked CPU's vCPU answers as its run loop would: it parks if its
 * partition is PAUSED (unless the test made it stuck), else it runs on.
 */
void pcpu_kick(struct pcpu *cpu)
{
	struct vcpu *v = cpu->vcpu;

	kicks++;
	if (!v || !v->part || v->pcpu->id == stuck_cpu)
		return;
	__atomic_store_n(&v->parked_gen, v->part->pause_gen, __ATOMIC_RELEASE);
	__atomic_store_n(&v->where, v->part->state == PART_PAUSED ? VCPU_PARKED : VCPU_ACTIVE,
			 __ATOMIC_RELEASE);
}

void arch_irq_set_level(struct partition *part, u32 irq, bool level)
{
	(void)part;
	if (irq == KEEL_MGMT_EVENT_IRQ && level)
		event_edges++;
}

void timer_arm(struct timer *t, u64 deadline_ns)
{
	timers_armed++;
	armed_timer = t;
	t->deadline_ns = deadline_ns;
	t->armed = 1;
}

void timer_cancel(struct timer *t)
{
	t->armed = 0;
}

void console_part_write(struct partition *p, const char *buf, size_t len)
{
}

void console_part_flush(struct partition *p)
{
}

void console_flush(void)
{
}

/* The ring itself is console.c's; here a fixed text stands in for it. */
size_t console_ring_read(struct partition *p, u64 *cursor, char *buf, size_t len, u64 *lost)
{
	static const char text[] = "hello from the guest\n";
	size_t n = 0;

	*lost = 0;
	while (n < len && *cursor < sizeof(text) - 1)
		buf[n++] = text[(*cursor)++];
	return n;
}

/* The PCI layer and the IOMMU registry as enumeration and iommu_init() left them. */
u32 pci_func_count(void)
{
	return fake_pci_count;
}

const struct pci_func *pci_func_at(u32 i)
{
	return i < fake_pci_count ? &fake_pci[i] : NULL;
}

struct iommu_unit *iommu_unit_for(u16 seg, u16 rid)
{
	u32 i;

	for (i = 0; i < fake_pci_count; i++)
		if (fake_pci[i].seg == seg && fake_pci[i].bdf == rid)
			return fake_pci_unit[i];
	return NULL;
}

const struct pci_func *pci_func_find(u16 seg, u16 bdf)
{
	for (u32 i = 0; i < fake_pci_count; i++)
		if (fake_pci[i].seg == seg && fake_pci[i].bdf == bdf)
			return &fake_pci[i];
	return NULL;
}

/* Config space: the command register of each fake function, the rest reads 0. */
u16 fake_pci_command[FAKE_PCI_MAX];

u32 pci_cfg_read(u16 seg, u16 bdf, u16 off, u32 size)
{
	const struct pci_func *f = pci_func_find(seg, bdf);

	(void)size;
	if (!f)
		return ~0u;
	return off == PCI_COMMAND ? fake_pci_command[f - fake_pci] : 0;
}

void pci_cfg_write(u16 seg, u16 bdf, u16 off, u32 size, u32 val)
{
	const struct pci_func *f = pci_func_find(seg, bdf);

	(void)size;
	if (f && off == PCI_COMMAND)
		fake_pci_command[f - fake_pci] = (u16)val;
}

static u32 fake_host_read(void *ctx, u16 bdf, u16 off, u32 size)
{
	return pci_cfg_read((u16)(uintptr_t)ctx, bdf, off, size);
}

static void fake_host_write(void *ctx, u16 bdf, u16 off, u32 size, u32 val)
{
	pci_cfg_write((u16)(uintptr_t)ctx, bdf, off, size, val);
}

const struct pci_cfg_ops pci_host_ops = { fake_host_read, fake_host_write };

/* Resets: counted per function; fake_reset_result is what each returns. */
u32 fake_resets[FAKE_PCI_MAX];
int fake_reset_result;

int pci_reset_function(const struct pci_cfg_ops *ops, void *ctx, const struct pci_func *funcs,
		       u32 nfuncs, u32 index, struct pci_reset_result *out)
{
	(void)ops;
	(void)ctx;
	(void)funcs;
	memset(out, 0, sizeof(*out));
	if (index >= nfuncs)
		return -KEEL_EINVAL;
	fake_resets[index]++;
	out->method = fake_reset_result ? 0 : PCI_RESET_FLR;
	return fake_reset_result;
}

u32 pci_reset_methods(const struct pci_cfg_ops *ops, void *ctx, const struct pci_func *funcs,
		      u32 nfuncs, u32 index)
{
	(void)ops;
	(void)ctx;
	(void)funcs;
	return index < nfuncs && fake_reset_result != -PCI_RESET_ENOTSUP ? PCI_RESET_FLR : 0;
}

const char *pci_reset_method_name(u32 method)
{
	return method == PCI_RESET_FLR ? "FLR" : "none";
}

/* The guest's PCI bus (vfio/vbus.c): not modelled here; shown and taken away, counted. */
u32 fake_bus_attached;

int vbus_attach(struct partition *part, struct vfio_part *vp)
{
	(void)part;
	(void)vp;
	fake_bus_attached++;
	return 0;
}

void vbus_detach(struct partition *part, struct vfio_part *vp)
{
	(void)part;
	(void)vp;
	fake_bus_attached--;
}

/* No MSI-X pages on a bus that is not modelled: every such access is outside the guest's memory. */
bool vfio_bar_access(struct partition *part, gpa_t gpa, u32 size, bool write, u64 *val)
{
	(void)part;
	(void)gpa;
	(void)size;
	(void)write;
	(void)val;
	return false;
}

/*
 * The IOMMU domains as vfio/assign.c drives them: what is mapped (bytes)
 * and attached, per domain ID, so tests see the order of events.
 */
struct fake_domain fake_domains[256];

int iommu_domain_init(struct iommu_domain *d, u16 id)
{
	memset(d, 0, sizeof(*d));
	d->id = id;
	d->pt[0].root = 1; /* has a table */
	fake_domains[id].live = true;
	return 0;
}

int iommu_domain_map(struct iommu_domain *d, u64 iova, hpa_t hpa, u64 size)
{
	(void)iova;
	(void)hpa;
	fake_domains[d->id].mapped += size;
	return 0;
}

/* The MSI doorbell page (0: none, as on x86_64), and each domain's mapping of it. */
hpa_t fake_doorbell;

hpa_t arch_msi_doorbell(void)
{
	return fake_doorbell;
}

int iommu_domain_map_doorbell(struct iommu_domain *d, hpa_t page)
{
	fake_domains[d->id].doorbell = page;
	return 0;
}

void iommu_domain_unmap(struct iommu_domain *d, u64 iova, u64 size)
{
	(void)iova;
	/* Memory may leave only while no device of it is attached, or through this unmap. */
	fake_domains[d->id].mapped -= size;
}

int iommu_domain_attach(struct iommu_domain *d, struct iommu_unit *u, u16 rid)
{
	(void)u;
	(void)rid;
	d->attached++;
	fake_domains[d->id].attached++;
	return 0;
}

int iommu_domain_detach(struct iommu_domain *d, struct iommu_unit *u, u16 rid)
{
	(void)u;
	(void)rid;
	d->attached--;
	fake_domains[d->id].attached--;
	return 0;
}

void iommu_domain_destroy(struct iommu_domain *d)
{
	fake_domains[d->id].live = false;
	fake_domains[d->id].mapped = 0;
}

void *mgmt_env_machine(u64 bytes)
{
	void *pool = aligned_alloc(SZ_2M, bytes);
	u32 i;

	pmm_reset();
	if (!pool || pmm_add((hpa_t)(uintptr_t)pool, bytes) || pmm_start())
		abort();
	platform.cpu_count = 4;
	for (i = 0; i < 4; i++) {
		pcpus[i].id = i;
		pcpus[i].state = PCPU_ONLINE;
		platform.cpu_hwid[i] = i;
	}
	unit_this_pcpu = &pcpus[0];
	return pool;
}

void fake_input(struct partition *p, const char *buf, size_t len)
{
	memcpy(input_seen + input_len, buf, len);
	input_len += len;
}
