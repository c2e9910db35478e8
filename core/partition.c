/* SPDX-License-Identifier: MIT */
/*
 * Partition life cycle: take cores and memory, load the images, start the
 * boot vCPU, stop (on any CPU), scrub and give everything back.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/elf.h>
#include <keel/guest_mem.h>
#include <keel/hmap.h>
#include <keel/lib.h>
#include <keel/mgmt_watch.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/pdesc.h>
#include <keel/pmm.h>
#include <keel/timeline.h>
#include <keel/vfio.h>
#include <keel/virtio.h>

/* How long DESTROY waits for a CPU to let go of a vCPU it is about to see gone. */
#define PART_VCPU_RELEASE_NS 1000000000ull

struct partition partitions[KEEL_MAX_PARTITIONS];
static const struct keel_boot_info *boot_info;
static u32 on_idle;

struct partition *part_by_id(u32 id)
{
	if (id == 0 || id > KEEL_MAX_PARTITIONS)
		return NULL;
	return partitions[id - 1].state == PART_FREE ? NULL : &partitions[id - 1];
}

u32 part_active_count(void)
{
	u32 i, n = 0;

	for (i = 0; i < KEEL_MAX_PARTITIONS; i++) {
		u32 st = READ_ONCE(partitions[i].state);

		if (st != PART_FREE && st != PART_STOPPED)
			n++;
	}
	return n;
}

/*
 * Every state change and every slot taken happen under this lock, so a check
 * and the write it allows are one step. It is the innermost lock: nothing is
 * taken under it, and part_run and part_finish_stop take it under part->lock.
 * Lock order: mgmt_lock (core/mgmt.c), part->lock, part->con_in_lock, then
 * part_state_lock.
 */
static struct spinlock part_state_lock = SPINLOCK_INIT;

bool part_set_state(struct partition *part, u32 from, u32 to)
{
	unsigned long flags = spin_lock_irqsave(&part_state_lock);
	bool ok = (from & BIT(part->state)) != 0;

	if (ok)
		WRITE_ONCE(part->state, to);
	spin_unlock_irqrestore(&part_state_lock, flags);
	if (ok)
		mgmt_watch_event(part); /* outside the innermost lock, as it requires */
	return ok;
}

void part_each_running(void (*fn)(struct partition *part, void *arg), void *arg)
{
	for (u32 i = 0; i < KEEL_MAX_PARTITIONS; i++) {
		struct partition *p = &partitions[i];
		unsigned long flags = spin_lock_irqsave(&part_state_lock);

		if (p->state == PART_RUNNING)
			fn(p, arg);
		spin_unlock_irqrestore(&part_state_lock, flags);
	}
}

bool part_if_running(struct partition *part, u64 run, void (*fn)(struct partition *part, void *arg),
		     void *arg)
{
	unsigned long flags = spin_lock_irqsave(&part_state_lock);
	bool ran = part->state == PART_RUNNING && part->run == run;

	if (ran)
		fn(part, arg);
	spin_unlock_irqrestore(&part_state_lock, flags);
	return ran;
}

/* ---- Hot vCPUs: a core each while the guest has them on ---------------- */

/* Cores held by partitions other than @part that have not stopped (part_state_lock). */
static u64 part_cores_of_others(const struct partition *part)
{
	u64 mask = 0;
	u32 i;

	for (i = 0; i < KEEL_MAX_PARTITIONS; i++) {
		const struct partition *p = &partitions[i];
		u32 st = READ_ONCE(p->state);

		if (p != part && st != PART_FREE && st != PART_STOPPED)
			mask |= part_cores_held(p);
	}
	return mask;
}

/*
 * The cores a hot vCPU of @part could take now (part_state_lock): online,
 * held by no partition, not still leaving its last one, and no SMT sibling
 * of another partition's core unless smt_split = allow.
 */
static u64 part_free_cores(const struct partition *part)
{
	struct pdesc_limits lim = { .cpu_count = platform.cpu_count,
				    .cpu_core = part_cpu_cores(),
				    .smt_split = part_smt_policy() };
	u64 others = part_cores_of_others(part), mine = part_cores_held(part), free = 0;
	u32 cpu, other;

	for (cpu = 0; cpu < platform.cpu_count && cpu < KEEL_MAX_CPUS; cpu++) {
		if (READ_ONCE(pcpus[cpu].state) != PCPU_ONLINE || ((others | mine) & BIT(cpu)) ||
		    READ_ONCE(pcpus[cpu].vcpu))
			continue;
		if (pdesc_smt_shared(BIT(cpu), others, &lim, &other) >= 0)
			continue;
		free |= BIT(cpu);
	}
	return free;
}

u32 part_vcpus_on(const struct partition *part)
{
	return pdesc_cores(&part->desc) + __atomic_load_n(&part->hot_on, __ATOMIC_RELAXED);
}

int part_vcpu_bind(struct vcpu *v)
{
	struct partition *part = v->part;
	unsigned long flags = spin_lock_irqsave(&part_state_lock);
	u64 free;
	u32 cpu;
	int ret = 0;

	if (part->state != PART_RUNNING)
		ret = -KEEL_EINVAL;
	else if (v->bound)
		ret = -KEEL_EBUSY;
	else if (part_vcpus_on(part) >= part->vcpus_allowed)
		ret = -KEEL_EPERM;
	free = ret ? 0 : part_free_cores(part);
	if (!ret && !free)
		ret = -KEEL_ENOSPC;
	if (ret) {
		spin_unlock_irqrestore(&part_state_lock, flags);
		return ret;
	}
	for (cpu = 0; !(free & BIT(cpu)); cpu++)
		;
	/* An eject that raced the last release must not end this run before it starts. */
	__atomic_fetch_and(&v->requests, ~VCPU_REQ_RELEASE, __ATOMIC_RELAXED);
	WRITE_ONCE(v->pcpu, &pcpus[cpu]);
	__atomic_store_n(&v->bound, 1, __ATOMIC_RELEASE);
	WRITE_ONCE(part->hot_cpu_mask, part->hot_cpu_mask | BIT(cpu));
	WRITE_ONCE(part->hot_on, part->hot_on + 1);
	WRITE_ONCE(pcpus[cpu].vcpu, v);
	spin_unlock_irqrestore(&part_state_lock, flags);
	mgmt_watch_event(part); /* keelctl resize waits for this */
	pr_info("partition '%s': vCPU %u on cpu %u", part->desc.h.name, v->index, cpu);
	return 0;
}

void part_vcpu_unbind(struct vcpu *v)
{
	struct partition *part = v->part;
	unsigned long flags = spin_lock_irqsave(&part_state_lock);
	u32 cpu = v->pcpu ? v->pcpu->id : 0;
	bool was_bound = v->bound;

	if (was_bound) {
		WRITE_ONCE(v->pcpu->vcpu, NULL);
		WRITE_ONCE(part->hot_cpu_mask, part->hot_cpu_mask & ~BIT(cpu));
		WRITE_ONCE(part->hot_on, part->hot_on - 1);
		__atomic_store_n(&v->bound, 0, __ATOMIC_RELEASE);
	}
	spin_unlock_irqrestore(&part_state_lock, flags);
	if (was_bound)
		mgmt_watch_event(part); /* one vCPU fewer on: keelctl resize waits for this */
}

int part_set_vcpus_allowed(struct partition *part, u32 n)
{
	u32 cores = pdesc_cores(&part->desc), on, free = 0, cpu;
	unsigned long flags;
	u64 mask;

	if (part->vcpu_count <= cores || n < cores || n > part->vcpu_count)
		return -KEEL_EINVAL;
	flags = spin_lock_irqsave(&part_state_lock);
	on = part_vcpus_on(part);
	mask = n > on ? part_free_cores(part) : 0;
	for (cpu = 0; cpu < KEEL_MAX_CPUS; cpu++)
		free += (u32)((mask >> cpu) & 1);
	if (n > on && free < n - on) {
		spin_unlock_irqrestore(&part_state_lock, flags);
		return -KEEL_ENOSPC;
	}
	WRITE_ONCE(part->vcpus_allowed, n);
	spin_unlock_irqrestore(&part_state_lock, flags);
	return 0;
}

/* A slot that is not in use and that no management partition holds. */
static bool part_slot_reusable(const struct partition *p)
{
	return p->state == PART_FREE || (p->state == PART_STOPPED && !p->held);
}

/*
 * Where the slot search starts: the first free slot, else 0 (a stopped
 * keel.cfg partition's slot is taken last, so it stays listed with its stats).
 */
static u32 part_pick_slot(void)
{
	u32 i;

	for (i = 0; i < KEEL_MAX_PARTITIONS; i++)
		if (partitions[i].state == PART_FREE)
			return i;
	return 0;
}

/* Does a partition that has not stopped own a core of @mask? */
static bool part_cores_taken(u64 mask)
{
	u32 i;

	for (i = 0; i < KEEL_MAX_PARTITIONS; i++) {
		u32 st = READ_ONCE(partitions[i].state);

		if (st != PART_FREE && st != PART_STOPPED &&
		    (part_cores_held(&partitions[i]) & mask))
			return true;
	}
	return false;
}

/* A partition's vCPU memory, as it was before its slot was wiped or freed. */
struct part_vcpu_mem {
	hpa_t mem; /* 0: none */
	u64 size;
	u32 count;
	char name[KEEL_NAME_MAX];
};

/*
 * Give vCPU memory back, once no CPU holds any of its vCPUs. Every core's
 * vcpu pointer stopped naming them when the partition stopped (or never
 * did), so a CPU that still holds one is between reading its pointer and
 * finding it changed: a moment. One that holds it for a second is stuck; the
 * memory is then kept, never reused. Not under part_state_lock: it may wait.
 */
static void part_vcpu_mem_release(const struct part_vcpu_mem *old)
{
	u64 start = arch_time_ns();
	struct vcpu *v;

	if (!old->mem)
		return;
	v = hpa_to_hva(old->mem);
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* pairs with pcpu_loop's hold, then read */
	for (u32 i = 0; i < old->count; i++) {
		while (v[i].pcpu && __atomic_load_n(&v[i].pcpu->held, __ATOMIC_SEQ_CST) == &v[i]) {
			if (arch_time_ns() - start > PART_VCPU_RELEASE_NS) {
				pr_err("partition '%s': cpu %u still holds vCPU %u after %llu ms; "
				       "its %llu bytes of vCPU state are kept, never reused",
				       old->name, v[i].pcpu->id, v[i].index,
				       (unsigned long long)(PART_VCPU_RELEASE_NS / 1000000),
				       (unsigned long long)old->size);
				return;
			}
			arch_cpu_relax();
		}
	}
	pmm_free(old->mem, old->size);
}

/* What part_vcpu_mem_release needs of @part's vCPU memory (one array, by index). */
static void part_vcpu_mem_take(const struct partition *part, struct part_vcpu_mem *out)
{
	out->mem = part->vcpu_mem;
	out->size = part->vcpu_mem_size;
	out->count = part->vcpu_count;
	memcpy(out->name, part->desc.h.name, sizeof(out->name));
	out->name[sizeof(out->name) - 1] = 0;
}

/* DESTROY (or a failed first build): the vCPUs' memory goes back. */
static void part_free_vcpus(struct partition *part)
{
	struct part_vcpu_mem old;

	part_vcpu_mem_take(part, &old);
	part->vcpu_mem = 0;
	part->vcpu_count = 0;
	part_vcpu_mem_release(&old);
}

/* Take a slot for @cpu_mask: BUILDING, so it is this CPU's until it says otherwise. */
static int part_alloc_slot(u64 cpu_mask, struct partition **out)
{
	struct part_vcpu_mem old = { 0 };
	unsigned long flags = spin_lock_irqsave(&part_state_lock);
	int ret = -KEEL_ENOSPC;
	u32 i;

	if (part_cores_taken(cpu_mask)) {
		spin_unlock_irqrestore(&part_state_lock, flags);
		return -KEEL_EBUSY;
	}
	for (i = part_pick_slot(); i < KEEL_MAX_PARTITIONS; i++) {
		struct partition *p = &partitions[i];

		/*
		 * Its lock taken first: the CPU that stopped it made it STOPPED under
		 * part->lock and releases that lock just after. Wiping a ticket lock
		 * someone holds would leave it unusable; the memset releases ours.
		 */
		if (part_slot_reusable(p) && spin_trylock(&p->lock)) {
			part_vcpu_mem_take(p, &old); /* a stopped partition's: freed below */
			memset(p, 0, sizeof(*p));
			p->id = i + 1;
			p->desc.h.cpu_mask = cpu_mask;
			WRITE_ONCE(p->state, PART_BUILDING);
			*out = p;
			ret = 0;
			break;
		}
	}
	spin_unlock_irqrestore(&part_state_lock, flags);
	part_vcpu_mem_release(&old);
	return ret;
}

/*
 * Give back every device and memory region. Partition memory is scrubbed
 * through the window while still hidden, and only then mapped in Keel again.
 */
static void part_free_memory(struct partition *part)
{
	u32 i;

	vfio_release(part); /* its devices' DMA blocked before any of its memory goes */
	vdev_destroy_all(part);
	/* The interrupt controller, once no device can raise one of its lines. */
	arch_part_devices_free(part);
	hotmem_destroy(part);
	for (i = 0; i < part->mem_count; i++) {
		const struct mem_region *r = &part->mem[i];

		arch_s2_unmap(part, r->gpa, r->size);
		hmap_scrub(r->hpa, r->size);
		hmap_windows_forget(); /* other CPUs' windows may still show it */
		hmap_unhide(r->hpa, r->size);
		pmm_free_clean(r->hpa, r->size, true);
	}
	part->mem_count = 0;
	arch_s2_destroy(part);
}

/* The largest alignment worth asking for: 1 GiB pages where the size allows. */
static u64 part_mem_align(u64 size)
{
	return size >= SZ_1G ? SZ_1G : SZ_2M;
}

/*
 * Back [RAM_BASE, RAM_BASE + size) with as few contiguous runs as the free
 * memory allows, each mapped with the largest pages that fit.
 */
static int part_alloc_memory(struct partition *part, u64 size)
{
	gpa_t gpa = KEEL_GUEST_RAM_BASE;
	u64 left = size;
	int ret;

	while (left) {
		u64 align = part_mem_align(left);
		u64 chunk = left;
		hpa_t hpa = pmm_alloc(chunk, align);

		if (!hpa && align > SZ_2M)
			hpa = pmm_alloc(chunk, SZ_2M);
		if (!hpa) {
			chunk = ALIGN_DOWN(pmm_largest_free(SZ_2M), SZ_2M);
			chunk = MIN(chunk, left);
			hpa = chunk ? pmm_alloc(chunk, SZ_2M) : 0;
		}
		if (!hpa || part->mem_count == KEEL_MAX_MEM_REGIONS) {
			if (hpa)
				pmm_free(hpa, chunk);
			return -KEEL_ENOMEM;
		}
		/* Out of Keel's own map for as long as the partition owns it. */
		ret = hmap_hide(hpa, chunk);
		if (ret) {
			pmm_free(hpa, chunk);
			return ret;
		}
		part->mem[part->mem_count++] = (struct mem_region){ gpa, hpa, chunk };
		ret = arch_s2_map(part, gpa, hpa, chunk, S2_RWX);
		if (ret)
			return ret;
		gpa += chunk;
		left -= chunk;
	}
	return 0;
}

/*
 * The partition's vCPUs, one per core of its mask and then its hot ones (no
 * core until the guest powers them on), in memory it owns from its first
 * build until DESTROY. A restart finds every vCPU out of its run loop (the
 * last one out rebuilds it, hot ones gave their cores back) and starts them
 * afresh in the same memory; how many may be on stays as RESIZE left it.
 */
static int part_bind_vcpus(struct partition *part)
{
	u32 count = pdesc_vcpus(&part->desc), cpu, i;
	struct vcpu *v;

	if (!part->vcpu_mem) {
		part->vcpus_allowed = pdesc_cores(&part->desc);
		part->vcpu_mem_size = ALIGN_UP((u64)count * sizeof(struct vcpu), PAGE_SIZE);
		part->vcpu_mem = pmm_alloc(part->vcpu_mem_size, PAGE_SIZE);
		if (!part->vcpu_mem)
			return -KEEL_ENOMEM;
	}
	v = hpa_to_hva(part->vcpu_mem);
	memset(v, 0, (u64)count * sizeof(*v));
	part->vcpu_count = 0;
	for (cpu = 0; cpu < KEEL_MAX_CPUS; cpu++) {
		if (!(part->desc.h.cpu_mask & BIT(cpu)))
			continue;
		v->index = part->vcpu_count;
		v->part = part;
		v->pcpu = &pcpus[cpu];
		part->vcpus[part->vcpu_count++] = v++;
	}
	for (i = part->vcpu_count; i < count && i < KEEL_MAX_CPUS; i++) {
		v->index = i;
		v->part = part;
		v->hot = 1;
		part->vcpus[part->vcpu_count++] = v++;
	}
	part->hot_cpu_mask = 0;
	part->hot_on = 0;
	return 0;
}

/* States in which the partition's vCPUs are its own (bound to its cores). */
#define PART_VCPUS_BOUND (PS(LOADED) | PS(RUNNING) | PS(PAUSED) | PS(STOPPING))

void part_exit_counts(const struct partition *part, u64 out[EXIT_KINDS])
{
	u32 i, k;

	for (k = 0; k < EXIT_KINDS; k++)
		out[k] = __atomic_load_n(&part->exits_done[k], __ATOMIC_RELAXED);
	if (!(BIT(READ_ONCE(part->state)) & PART_VCPUS_BOUND))
		return; /* the vCPU slots may belong to another partition now */
	for (i = 0; i < part->vcpu_count; i++)
		for (k = 0; k < EXIT_KINDS; k++)
			out[k] += READ_ONCE(part->vcpus[i]->exits[k]);
}

/* A vCPU leaves for good: its exit counts become the partition's. */
static void part_fold_exits(struct vcpu *vcpu)
{
	u32 k;

	for (k = 0; k < EXIT_KINDS; k++) {
		__atomic_fetch_add(&vcpu->part->exits_done[k], vcpu->exits[k], __ATOMIC_RELAXED);
		WRITE_ONCE(vcpu->exits[k], 0);
	}
}

/* The virtio devices, then the arch's platform devices that describe them. */
static int part_devices_init(struct partition *part)
{
	int ret = virtio_create_devices(part);

	if (ret) {
		pr_err("partition '%s': virtio devices not created (error %d)", part->desc.h.name,
		       ret);
		return ret;
	}
	ret = arch_part_devices_init(part);
	if (ret)
		pr_err("partition '%s': platform devices not created (error %d)", part->desc.h.name,
		       ret);
	return ret;
}

int part_create(const struct pdesc *desc, const struct keel_boot_info *bi, struct partition **out)
{
	const struct keel_boot_module *images[KEEL_PD_MAX_IMAGES] = { NULL };
	u32 i, m;

	for (i = 0; i < desc->h.image_count && i < KEEL_PD_MAX_IMAGES; i++) {
		m = desc->image[i].module;
		if (m >= bi->module_count)
			return -KEEL_EINVAL; /* pdesc_check refused this already */
		images[i] = &bi->modules[m];
	}
	return part_create_images(desc, images, out);
}

/* Stage-2 root, memory, vCPUs and devices for @part->desc; undone on error. */
static int part_build(struct partition *part)
{
	int ret = part_bind_vcpus(part);

	if (ret)
		return ret;
	ret = arch_s2_init(part);
	if (!ret)
		ret = part_alloc_memory(part, pdesc_ram_size(&part->desc));
	if (!ret)
		ret = hotmem_init(part, pdesc_hotplug_size(&part->desc));
	if (!ret)
		ret = vfio_assign(part); /* its PCI functions, DMA confined to that memory */
	if (!ret)
		ret = part_devices_init(part);
	if (ret)
		part_free_memory(part);
	return ret;
}

/* The image with @role, or NULL. */
static const struct keel_boot_module *part_image_of(const struct partition *part, u32 role)
{
	int i = pdesc_image_of(&part->desc, role);

	return i < 0 ? NULL : part->images[i];
}

void part_set_images(struct partition *part,
		     const struct keel_boot_module *const images[KEEL_PD_MAX_IMAGES])
{
	memcpy(part->images, images, sizeof(part->images));
	part->kernel = part_image_of(part, KEEL_PD_IMAGE_KERNEL);
	part->initrd = part_image_of(part, KEEL_PD_IMAGE_INITRD);
}

/* keel.cfg's lines of @desc's devices when it is one of the boot info's, else NULL. */
static const u32 *part_cfg_lines(const struct pdesc *desc)
{
	const struct keel_boot_info *bi = boot_info;

	if (bi && desc >= bi->parts && desc < bi->parts + KEEL_MAX_PARTITIONS)
		return bi->dev_line[desc - bi->parts];
	return NULL;
}

int part_create_images(const struct pdesc *desc,
		       const struct keel_boot_module *const images[KEEL_PD_MAX_IMAGES],
		       struct partition **out)
{
	struct partition *part;
	int ret = part_alloc_slot(desc->h.cpu_mask, &part);

	if (ret)
		return ret;
	part->desc = *desc;
	part->cfg_dev_line = part_cfg_lines(desc);
	part_set_images(part, images);
	ret = part_build(part);
	if (ret) {
		part_free_vcpus(part);
		part_set_state(part, PS(BUILDING), PART_FREE);
		return ret;
	}
	*out = part; /* still BUILDING: the caller loads it or publishes it CREATED */
	return 0;
}

/* Copy each PT_LOAD segment of the kernel ELF into partition memory. */
static int part_load_elf(struct partition *part, struct elf_image *img)
{
	const u8 *data = hpa_to_hva(part->kernel->base);
	gpa_t lo = KEEL_GUEST_RAM_BASE + KEEL_GUEST_LOAD_MIN;
	u64 span = pdesc_ram_size(&part->desc) - KEEL_GUEST_LOAD_MIN;
	const char *why = NULL;
	u32 i;

	if (elf_parse(data, part->kernel->size, KEEL_ARCH_ELF_MACHINE, img, &why)) {
		pr_err("partition '%s': kernel %s: %s", part->desc.h.name, part->kernel->name, why);
		return -KEEL_ENOEXEC; /* neither a Linux image nor an ELF */
	}
	for (i = 0; i < img->segment_count; i++) {
		const struct elf_segment *s = &img->segments[i];

		if (!range_within(s->paddr, s->memsz, lo, span)) {
			pr_err("partition '%s': kernel %s: segment at 0x%llx+0x%llx is outside its memory 0x%llx-0x%llx",
			       part->desc.h.name, part->kernel->name, (unsigned long long)s->paddr,
			       (unsigned long long)s->memsz, (unsigned long long)lo,
			       (unsigned long long)(lo + span - 1));
			return -KEEL_EINVAL;
		}
		if (guest_copy_to(part, s->paddr, data + s->offset, s->filesz))
			return -KEEL_EFAULT;
	}
	return 0;
}

/* The boot data of docs/guest-abi.md: guest info and command line at RAM + 4 KiB. */
static int part_write_guest_info(struct partition *part, gpa_t initrd_gpa)
{
	gpa_t at = KEEL_GUEST_RAM_BASE + KEEL_GUEST_INFO_OFFSET;
	struct keel_guest_info info;
	u32 len = (u32)strnlen(part->desc.h.cmdline, KEEL_CMDLINE_MAX - 1);

	memset(&info, 0, sizeof(info));
	info.magic = KEEL_GUEST_INFO_MAGIC;
	info.version = KEEL_ABI_VERSION;
	info.size = sizeof(info);
	info.partition_id = part->id;
	info.vcpu_count = part->vcpu_count;
	memcpy(info.name, part->desc.h.name, KEEL_NAME_MAX);
	info.name[KEEL_NAME_MAX - 1] = '\0';
	info.mem_base = KEEL_GUEST_RAM_BASE;
	info.mem_size = pdesc_ram_size(&part->desc);
	info.cmdline_gpa = at + sizeof(info);
	info.cmdline_len = len;
	info.initrd_gpa = initrd_gpa;
	info.initrd_size = initrd_gpa ? part->initrd->size : 0;
	if (guest_copy_to(part, at, &info, sizeof(info)) ||
	    guest_copy_to(part, info.cmdline_gpa, part->desc.h.cmdline, len) ||
	    guest_zero(part, info.cmdline_gpa + len, 1))
		return -KEEL_EFAULT;
	return 0;
}

/* The highest guest-physical byte (exclusive) the ELF segments use. */
static gpa_t part_elf_end(const struct elf_image *img)
{
	gpa_t end = KEEL_GUEST_RAM_BASE + KEEL_GUEST_LOAD_MIN;
	u32 i;

	for (i = 0; i < img->segment_count; i++)
		end = MAX(end, img->segments[i].paddr + img->segments[i].memsz);
	return end;
}

/*
 * An ELF guest's initrd (ABI 0.2) goes page aligned at the top of its RAM,
 * above its segments. Returns 0 and *gpa = 0 if it has none.
 */
static int part_load_elf_initrd(struct partition *part, const struct elf_image *img, gpa_t *gpa)
{
	u64 size = part->initrd ? part->initrd->size : 0;
	gpa_t end = KEEL_GUEST_RAM_BASE + pdesc_ram_size(&part->desc);
	u64 span = ALIGN_UP(size, PAGE_SIZE);

	*gpa = 0;
	if (!part->initrd)
		return 0;
	if (span >= pdesc_ram_size(&part->desc) || end - span < part_elf_end(img)) {
		pr_err("partition '%s': initrd %s (%llu KiB) does not fit above its kernel",
		       part->desc.h.name, part->initrd->name, (unsigned long long)(size >> 10));
		return -KEEL_ENOMEM;
	}
	*gpa = end - span;
	return guest_copy_to(part, *gpa, hpa_to_hva(part->initrd->base), size);
}

/* A Keel ELF guest (docs/guest-abi.md). */
static int part_load_keel_elf(struct partition *part, struct vcpu_entry *entry)
{
	struct elf_image img;
	gpa_t initrd = 0;
	int ret;

	ret = part_load_elf(part, &img);
	if (!ret)
		ret = part_load_elf_initrd(part, &img, &initrd);
	if (!ret)
		ret = part_write_guest_info(part, initrd);
	if (!ret)
		ret = arch_part_prepare(part);
	if (ret)
		return ret;
	entry->kind = VCPU_ENTRY_KEEL;
	entry->pc = img.entry;
	entry->arg = KEEL_GUEST_RAM_BASE + KEEL_GUEST_INFO_OFFSET;
	entry->sp = KEEL_GUEST_RAM_BASE + KEEL_GUEST_STACK_TOP;
	return 0;
}

/* Load the images of a BUILDING partition and put its boot vCPU in entry state. */
static int part_load(struct partition *part)
{
	struct vcpu *boot = part->vcpus[0];
	struct vcpu_entry entry = { 0 };
	int ret;

	if (!part->kernel)
		return -KEEL_EINVAL;
	/* A Linux image of this arch first; anything else must be a Keel ELF. */
	ret = arch_kernel_load(part, &entry);
	if (ret == -KEEL_ENOEXEC)
		ret = part_load_keel_elf(part, &entry);
	/* The loading CPU may run another partition next: keep none of this one mapped. */
	hmap_window_reset();
	if (ret)
		return ret;
	vdev_reset_all(part);
	boot->boot = entry;
	boot->reset_pending = 1;
	return 0;
}

int part_load_created(struct partition *part)
{
	int ret;

	if (!part_set_state(part, PS(CREATED), PART_BUILDING))
		return -KEEL_EBUSY;
	ret = part_load(part);
	part_set_state(part, PS(BUILDING), ret ? PART_CREATED : PART_LOADED);
	return ret;
}

/* A stop came while it was being built: give everything back instead of starting. */
static void part_cancel_start(struct partition *part, u32 from)
{
	part_free_memory(part);
	part->stop_ns = arch_time_ns();
	part_set_state(part, from, PART_STOPPED);
	pr_info("partition '%s' stopped before it started: %s", part->desc.h.name,
		part->stop_reason);
}

static u64 part_runs; /* runs started since boot: each run's number */

/*
 * Hand the vCPUs to their CPUs: @from (LOADED, or BUILDING for a boot-time
 * start or a restart, so that no DESTROY fits in between) -> RUNNING. Under
 * part->lock, so a part_stop() either comes first (and wins) or finds it
 * running.
 */
static int part_run(struct partition *part, u32 from)
{
	struct vcpu *boot = part->vcpus[0];
	unsigned long flags = spin_lock_irqsave(&part->lock);
	u32 i;

	if (!(BIT(READ_ONCE(part->state)) & from)) {
		spin_unlock_irqrestore(&part->lock, flags);
		return -KEEL_EINVAL;
	}
	if (part->stop_requested) {
		spin_unlock_irqrestore(&part->lock, flags);
		part_cancel_start(part, from);
		return -KEEL_EBUSY;
	}
	part->vcpus_running = 1;
	part->stop_asked = 0;
	part->rebuilding = 0;
	part->start_ns = arch_time_ns();
	WRITE_ONCE(part->first_entry_ns, 0);
	WRITE_ONCE(part->run, __atomic_add_fetch(&part_runs, 1, __ATOMIC_RELAXED));
	part->stop_ns = 0;
	/* Its own cores; a hot vCPU takes one when the guest powers it on. */
	for (i = 0; i < part->vcpu_count; i++)
		if (!part->vcpus[i]->hot)
			WRITE_ONCE(part->vcpus[i]->pcpu->vcpu, part->vcpus[i]);
	if (!part_set_state(part, from, PART_RUNNING)) {
		/* A DESTROY of the LOADED partition came first. */
		for (i = 0; i < part->vcpu_count; i++)
			if (!part->vcpus[i]->hot)
				WRITE_ONCE(part->vcpus[i]->pcpu->vcpu, NULL);
		spin_unlock_irqrestore(&part->lock, flags);
		return -KEEL_EINVAL;
	}
	__atomic_store_n(&boot->state, VCPU_RUNNABLE, __ATOMIC_RELEASE);
	spin_unlock_irqrestore(&part->lock, flags);
	pr_info("partition '%s' started", part->desc.h.name);
	if (boot->pcpu != pcpu_this())
		pcpu_kick(boot->pcpu);
	return 0;
}

int part_start(struct partition *part)
{
	return part_run(part, PS(LOADED));
}

/*
 * Wake @v's CPU if it is another. A hot vCPU that is off has no core of its
 * own (its last one may serve another partition now): nothing to wake.
 */
static void part_kick_vcpu(const struct vcpu *v, const struct pcpu *self)
{
	struct pcpu *c = READ_ONCE(v->pcpu);

	if (c && c != self && (!v->hot || __atomic_load_n(&v->bound, __ATOMIC_ACQUIRE)))
		pcpu_kick(c);
}

/* Going down for its guest's reboot, or being built again for it (under part->lock). */
static bool part_rebooting(const struct partition *part, u32 st)
{
	return (st == PART_STOPPING && part->stop_reboot) ||
	       (st == PART_BUILDING && part->rebuilding);
}

void part_stop(struct partition *part, u32 cause, const char *reason, bool reboot)
{
	unsigned long flags = spin_lock_irqsave(&part->lock);
	struct pcpu *self = pcpu_this();
	u32 i;

	/*
	 * Under part->lock: the reason is the first stop's. Being built (at boot
	 * or for a restart): it stops instead of starting (part_run). Stopping
	 * for a reboot: a plain stop cancels the reboot.
	 */
	if (!part_set_state(part, PS(RUNNING) | PS(PAUSED), PART_STOPPING)) {
		u32 st = READ_ONCE(part->state);

		/* The reason changes only where this stop changes the outcome. */
		bool cancels = st == PART_BUILDING || part_rebooting(part, st);

		if (!reboot && cancels && !part->stop_requested) {
			keel_strlcpy(part->stop_reason, reason, sizeof(part->stop_reason));
			part->stop_cause = cause;
		}
		if (!reboot && (st == PART_BUILDING || st == PART_STOPPING)) {
			part->stop_requested = 1;
			part->stop_reboot = 0;
		}
		spin_unlock_irqrestore(&part->lock, flags);
		return;
	}
	/* A reboot while a STOP waits for the guest answers that STOP: no restart. */
	part->stop_reboot =
		reboot && !(part->desc.h.flags & KEEL_PD_REBOOT_STOP) && !part->stop_asked;
	keel_strlcpy(part->stop_reason, reason, sizeof(part->stop_reason));
	part->stop_cause = cause;
	spin_unlock_irqrestore(&part->lock, flags);

	for (i = 0; i < part->vcpu_count; i++) {
		struct vcpu *v = part->vcpus[i];

		__atomic_fetch_or(&v->requests, VCPU_REQ_STOP, __ATOMIC_SEQ_CST);
		part_kick_vcpu(v, self);
	}
}

enum part_ask part_stop_ask(struct partition *part)
{
	unsigned long flags = spin_lock_irqsave(&part->lock);
	u32 st = READ_ONCE(part->state);
	enum part_ask ret = PART_ASK_NOTHING;

	if (st == PART_RUNNING || st == PART_PAUSED) {
		part->stop_asked = 1;
		ret = PART_ASK_GUEST;
	} else if (part_rebooting(part, st) && !part->stop_requested) {
		part->stop_requested = 1;
		part->stop_reboot = 0;
		keel_strlcpy(part->stop_reason, "rebooted by the guest while asked to stop",
			     sizeof(part->stop_reason));
		part->stop_cause = KEEL_STOP_CAUSE_GUEST;
		ret = PART_ASK_ANSWERED;
	}
	spin_unlock_irqrestore(&part->lock, flags);
	return ret;
}

void part_stop_fault(struct vcpu *vcpu, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	console_part_flush(vcpu->part);
	pr_err("partition '%s' stopped: %s on cpu %u", vcpu->part->desc.h.name, why,
	       vcpu->pcpu->id);
	part_stop(vcpu->part, KEEL_STOP_CAUSE_FAULT, why, false);
}

/*
 * Reboot: the partition, BUILDING again (part_finish_stop), is built in its
 * own slot from the same description and images, then loaded and started;
 * a stop that comes meanwhile wins (part_run).
 */
static void part_restart(struct partition *part)
{
	int ret;

	part->con_ready = 0;
	part->con_len = 0;
	part->warned_pio = 0;
	part->warned_fault = 0;
	ret = part_build(part);
	if (!ret)
		ret = part_load(part);
	if (ret) {
		part_free_memory(part);
		part_set_state(part, PS(BUILDING), PART_STOPPED);
		pr_err("partition '%s' could not restart (error %d)", part->desc.h.name, ret);
		return;
	}
	part_run(part, PS(BUILDING));
}

static void part_idle_policy(void)
{
	if (part_active_count() != 0 || on_idle == KEEL_ON_IDLE_STAY)
		return;
	timeline_print_once(); /* a boot that ends this soon still shows it */
	pr_info("no partition is running; %s (on_idle)",
		on_idle == KEEL_ON_IDLE_POWEROFF ? "powering off" : "resetting");
	console_flush();
	arch_machine_reset(on_idle == KEEL_ON_IDLE_POWEROFF);
}

/* The last vCPU is out: release everything, then restart if asked. */
static void part_finish_stop(struct partition *part)
{
	u64 mem = pdesc_ram_size(&part->desc);
	unsigned long flags;
	bool restart;
	u32 i;

	console_part_flush(part);
	for (i = 0; i < part->vcpu_count; i++)
		if (!part->vcpus[i]->hot) /* hot ones gave their cores back as they left */
			WRITE_ONCE(part->vcpus[i]->pcpu->vcpu, NULL);
	part_free_memory(part);
	part->stop_ns = arch_time_ns();
	pr_info("partition '%s' stopped: %s (%llu MiB scrubbed and returned)", part->desc.h.name,
		part->stop_reason, (unsigned long long)(mem >> 20));
	/*
	 * Restart or stop, decided under part->lock: a STOP that comes after this
	 * finds it BUILDING (rebuilding) with its cause already reset, and its
	 * own cause and reason stand.
	 */
	flags = spin_lock_irqsave(&part->lock);
	restart = part->stop_reboot;
	if (restart) {
		part_set_state(part, PS(STOPPING), PART_BUILDING);
		part->stop_reboot = 0;
		part->rebuilding = 1;
		WRITE_ONCE(part->restarts, part->restarts + 1);
		part->stop_cause = KEEL_STOP_CAUSE_NONE; /* running again: not the end */
	} else {
		part_set_state(part, PS(STOPPING), PART_STOPPED);
	}
	spin_unlock_irqrestore(&part->lock, flags);
	if (restart)
		part_restart(part);
	else
		part_idle_policy();
}

void part_vcpu_left(struct vcpu *vcpu)
{
	struct partition *part = vcpu->part;

	if (vcpu->arch_ready) {
		arch_vcpu_destroy(vcpu);
		vcpu->arch_ready = 0;
	}
	part_fold_exits(vcpu);
	hmap_window_reset(); /* this core's next partition finds nothing of this one */
	if (vcpu->hot) {
		__atomic_fetch_and(&vcpu->requests, ~VCPU_REQ_RELEASE, __ATOMIC_RELAXED);
		part_vcpu_unbind(vcpu);
	}
	__atomic_store_n(&vcpu->state, VCPU_OFF, __ATOMIC_RELEASE);
	if (__atomic_sub_fetch(&part->vcpus_running, 1, __ATOMIC_ACQ_REL) == 0)
		part_finish_stop(part);
}

int part_destroy_begin(struct partition *part)
{
	/* Only management calls (serialised) move a partition out of these three. */
	u32 st = READ_ONCE(part->state);

	if (!part_set_state(part, PS(CREATED) | PS(LOADED) | PS(STOPPED), PART_DESTROYING))
		return -KEEL_EBUSY;
	part->destroy_frees = st != PART_STOPPED; /* a stopped one gave its memory back already */
	return 0;
}

void part_destroy_finish(struct partition *part)
{
	if (part->destroy_frees)
		part_free_memory(part);
	part_free_vcpus(part);
	part->destroy_frees = 0;
	part->held = 0;
	part_set_state(part, PS(DESTROYING), PART_FREE);
}

int part_set_paused(struct partition *part, bool pause)
{
	struct pcpu *self = pcpu_this();
	u32 i;

	if (!part_set_state(part, pause ? PS(RUNNING) : PS(PAUSED),
			    pause ? PART_PAUSED : PART_RUNNING))
		return -KEEL_EBUSY;
	/* After the state: a vCPU that reads this PAUSE's number sees PAUSED too. */
	if (pause)
		__atomic_add_fetch(&part->pause_gen, 1, __ATOMIC_RELEASE);
	/* Out of the guest (pause) or out of the idle wait (resume). */
	for (i = 0; i < part->vcpu_count; i++)
		part_kick_vcpu(part->vcpus[i], self);
	return 0;
}

/* A vCPU PAUSE no longer waits for: parked, or not running at all. */
static bool part_vcpu_out(const struct vcpu *v, u32 gen)
{
	/*
	 * Parked for this PAUSE: a vCPU still parked for the last one may be
	 * about to leave (it saw the RESUME in between), so its answer counts
	 * only once it has seen this PAUSE's number.
	 */
	return __atomic_load_n(&v->state, __ATOMIC_ACQUIRE) != VCPU_RUNNABLE ||
	       (__atomic_load_n(&v->where, __ATOMIC_ACQUIRE) == VCPU_PARKED &&
		__atomic_load_n(&v->parked_gen, __ATOMIC_ACQUIRE) == gen);
}

int part_wait_parked(struct partition *part, u64 timeout_ns, u64 *waited_ns)
{
	u64 start = arch_time_ns();
	u32 gen = __atomic_load_n(&part->pause_gen, __ATOMIC_ACQUIRE), i;

	for (i = 0; i < part->vcpu_count; i++) {
		const struct vcpu *v = part->vcpus[i];

		while (!part_vcpu_out(v, gen)) {
			/* Resumed or stopping meanwhile: the call that did it has the last word. */
			if (__atomic_load_n(&part->state, __ATOMIC_ACQUIRE) != PART_PAUSED)
				return 0;
			if (arch_time_ns() - start > timeout_ns) {
				pr_err("partition '%s': vCPU %u on cpu %u did not park within %llu ms",
				       part->desc.h.name, v->index, READ_ONCE(v->pcpu)->id,
				       (unsigned long long)(timeout_ns / 1000000));
				return -KEEL_ETIMEDOUT;
			}
			arch_cpu_relax();
		}
	}
	*waited_ns = arch_time_ns() - start;
	return 0;
}

void part_vcpu_where(const struct partition *part, u32 *parked, u32 *halted)
{
	u32 i;

	*parked = *halted = 0;
	/* Once stopped, its cores' vCPUs may already serve another partition. */
	if (!(BIT(READ_ONCE(part->state)) & PART_VCPUS_BOUND))
		return;
	for (i = 0; i < part->vcpu_count; i++) {
		const struct vcpu *v = part->vcpus[i];
		u32 where = __atomic_load_n(&v->where, __ATOMIC_ACQUIRE);

		if (__atomic_load_n(&v->state, __ATOMIC_ACQUIRE) != VCPU_RUNNABLE)
			continue;
		*parked += where == VCPU_PARKED;
		*halted += where == VCPU_HALTED;
	}
}

static void part_log_created(const struct partition *part)
{
	char cpus[160];
	size_t len = 0;
	u32 i;

	cpus[0] = '\0';
	for (i = 0; i < part->vcpu_count && !part->vcpus[i]->hot && len < sizeof(cpus); i++)
		len += (size_t)snprintf(cpus + len, sizeof(cpus) - len, "%s%u", i ? "," : "",
					part->vcpus[i]->pcpu->id);
	pr_info("partition '%s' (id %u): cpus %s, %llu MiB at 0x%llx, kernel %s", part->desc.h.name,
		part->id, cpus, (unsigned long long)(pdesc_ram_size(&part->desc) >> 20),
		(unsigned long long)part->mem[0].hpa, part->kernel ? part->kernel->name : "-");
}

static int part_boot_one(const struct pdesc *desc, const struct keel_boot_info *bi)
{
	u64 free_before = pmm_free_bytes();
	struct partition *part;
	int ret = part_create(desc, bi, &part);

	if (ret) {
		pr_err("partition '%s' not created: %s (error %d)", desc->h.name,
		       ret == -KEEL_ENOMEM ? "not enough memory" : "bad description", ret);
		return ret;
	}
	part_log_created(part);
	ret = part_load(part);
	if (ret) {
		pr_err("partition '%s' not loaded (error %d)", desc->h.name, ret);
		part_free_memory(part);
		part_set_state(part, PS(BUILDING), PART_STOPPED);
		return ret;
	}
	/*
	 * What Keel took for it beyond its RAM: stage-2 tables, device and vCPU
	 * state (not said if another partition gave memory back meanwhile).
	 */
	if (free_before >= pmm_free_bytes() + pdesc_ram_size(desc))
		pr_info("partition '%s' overhead: %llu KiB", desc->h.name,
			(unsigned long long)((free_before - pmm_free_bytes() -
					      pdesc_ram_size(desc)) >>
					     10));
	if (desc->h.flags & KEEL_PD_AUTOSTART) {
		timeline_expect(part);
		return part_run(part, PS(BUILDING));
	}
	part_set_state(part, PS(BUILDING), PART_LOADED);
	return 0;
}

static u32 part_smt_split;

const u64 *part_cpu_cores(void)
{
	static u64 cores[KEEL_MAX_CPUS];
	u32 i;

	for (i = 0; i < platform.cpu_count && i < KEEL_MAX_CPUS; i++)
		cores[i] = arch_cpu_core_of(platform.cpu_hwid[i]);
	return cores;
}

u32 part_smt_policy(void)
{
	return part_smt_split;
}

static bool part_descs_ok(const struct keel_boot_info *bi)
{
	struct pdesc_limits lim = {
		.cpu_count = platform.cpu_count,
		.module_count = bi->module_count,
		.mem_available = pmm_free_bytes(),
		.cpu_core = part_cpu_cores(),
		.smt_split = bi->smt_split,
	};
	struct pdesc_error err;

	if (bi->part_count > KEEL_MAX_PARTITIONS || bi->module_count > KEEL_BOOT_MAX_MODULES) {
		pr_err("boot info lists %u partitions and %u modules; no partition started",
		       bi->part_count, bi->module_count);
		return false;
	}
	if (pdesc_check_all(bi->parts, bi->part_count, &lim, &err) != 0) {
		pr_err("%s; no partition started", err.msg);
		return false;
	}
	if (!vfio_boot_check(bi)) {
		pr_err("keel.cfg gives PCI functions that cannot be given (above); no partition "
		       "started");
		return false;
	}
	return true;
}

const u8 *part_boot_cfg_sha256(void)
{
	static const u8 none[SHA256_DIGEST];

	return boot_info ? boot_info->cfg_sha256 : none;
}

const struct keel_tpm_report *part_boot_tpm(void)
{
	static const struct keel_tpm_report none; /* KEEL_TPM_NONE */

	return boot_info ? &boot_info->tpm : &none;
}

void part_boot_all(const struct keel_boot_info *bi)
{
	u32 i;

	boot_info = bi;
	on_idle = bi->on_idle;
	part_smt_split = bi->smt_split;
	/* The loader checked the same things; the core does not rely on that. */
	if (!part_descs_ok(bi))
		return;
	for (i = 0; i < bi->part_count; i++)
		part_boot_one(&bi->parts[i], bi);
	if (bi->part_count == 0)
		pr_warn("keel.cfg defines no partition");
	part_idle_policy();
}
