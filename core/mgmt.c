/* SPDX-License-Identifier: MIT */
/*
 * Management hypercalls: create, load, start, stop, pause, resume, destroy and
 * watch other partitions; list the host's PCI functions. Each call copies its
 * arguments in once, checks all of them (decode), then acts (perform). Calls
 * are serialized by mgmt_lock; the long waits (DESTROY's scrub, PAUSE's
 * acknowledgement) run after it.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/guest_mem.h>
#include <keel/hmap.h>
#include <keel/iommu.h>
#include <keel/irqwatch.h>
#include <keel/lib.h>
#include <keel/mgmt_watch.h>
#include <keel/netsw.h>
#include <keel/mgmt.h>
#include <keel/partition.h>
#include <keel/pci.h>
#include <keel/pcpu.h>
#include <keel/pdesc.h>
#include <keel/pmm.h>
#include <keel/sha256.h>
#include <keel/timeline.h>
#include <keel/timer.h>
#include <keel/vfio.h>
#include <keel/virtio.h>

#define MGMT_NS_PER_MS 1000000ull
/* PAUSE waits this long for a vCPU to park: it is one exit away, unless Keel is stuck. */
#define MGMT_PARK_TIMEOUT_MS 1000ull
/*
 * Deferred stops per CPU a STOP is made on (timers are per CPU). A run has at
 * most one here, and a timer whose run is over is taken back when one is
 * needed, so a CPU never runs out (mgmt_stop_later).
 */
#define MGMT_STOP_TIMERS KEEL_MAX_PARTITIONS
/* Class code bits 23:8 of an IOMMU's own PCI function (base 08, sub 06): never assignable. */

_Static_assert(EXIT_KINDS <= KEEL_EXIT_KINDS, "exit kinds fit the stats array");
_Static_assert(KEEL_EXIT_HYPERCALL == EXIT_HYPERCALL && KEEL_EXIT_FAULT == EXIT_FAULT &&
		       KEEL_EXIT_HALT == EXIT_HALT && KEEL_EXIT_MMIO == EXIT_MMIO &&
		       KEEL_EXIT_EXCEPTION == EXIT_EXCEPTION && KEEL_EXIT_RETRY == EXIT_RETRY,
	       "ABI exit kinds match enum exit_kind");
_Static_assert(sizeof(struct keel_pci_dev) == 48, "struct keel_pci_dev keeps its ABI layout");
_Static_assert(PCI_MAX_FUNCS <= KEEL_PCI_MAX_DEVS, "one PCI_LIST can return every function");
_Static_assert(IOMMU_MAX_UNITS < KEEL_PCI_NO_IOMMU, "unit indexes fit keel_pci_dev.iommu");
_Static_assert(KEEL_IOMMU_KIND_VTD == IOMMU_VTD && KEEL_IOMMU_KIND_AMDVI == IOMMU_AMDVI &&
		       KEEL_IOMMU_KIND_SMMUV3 == IOMMU_SMMUV3,
	       "the ABI's IOMMU kinds are the registry's");
_Static_assert(KEEL_PCI_NO_GROUP == PCI_NONE, "a function without a group reads as such");
_Static_assert(sizeof(struct keel_net_rec) == 152, "struct keel_net_rec keeps its ABI layout");

/*
 * Lock order: mgmt_lock, then a partition's lock, its con_in_lock, and
 * innermost part_state_lock (partition.c). Partitions change state on their
 * own CPUs too (a stop, a restart) without mgmt_lock: every change a call
 * makes goes through part_set_state(), which refuses it if the state moved
 * in between.
 */
static struct spinlock mgmt_lock = SPINLOCK_INIT;

/* The Keel-owned image buffers of each held slot, by slot (id - 1). */
static struct keel_boot_module mgmt_images[KEEL_MAX_PARTITIONS][KEEL_PD_MAX_IMAGES];
/*
 * Each managed image's SHA-256 as LOAD pieces arrive in order (upto: bytes
 * hashed so far; MGMT_HASH_BROKEN once a piece came out of order, when START
 * hashes the whole image instead). Hashed from Keel's copy, never the caller's.
 */
#define MGMT_HASH_BROKEN (~0ull)
static struct {
	struct sha256 h;
	u64 upto;
} mgmt_hash[KEEL_MAX_PARTITIONS][KEEL_PD_MAX_IMAGES];

/* Scratch under mgmt_lock: keeps big structures off the 16 KiB stacks. */
static u8 mgmt_create_raw[KEEL_PDESC_SIZE_MAX];
static struct pdesc mgmt_create_arg;
static char mgmt_bounce[KEEL_MGMT_CONSOLE_MAX];

/* A deferred forced stop: names its partition by id and run. */
struct mgmt_stop_timer {
	struct timer t;
	u32 id;
	u32 busy; /* set under mgmt_lock, cleared by the callback */
	u64 run; /* part->run when the STOP was made */
};

static struct mgmt_stop_timer mgmt_timers[KEEL_MAX_CPUS][MGMT_STOP_TIMERS];

static struct partition *mgmt_caller(const struct vcpu *vcpu)
{
	return vcpu->part;
}

/* ---- shared decoding ---------------------------------------------------- */

/* The partition @id names, or NULL. Destructive calls refuse the caller itself. */
static s64 mgmt_target(const struct vcpu *vcpu, u64 id, bool not_self, struct partition **out)
{
	struct partition *part = id <= KEEL_MAX_PARTITIONS ? part_by_id((u32)id) : NULL;

	if (!part)
		return -KEEL_ENOENT;
	if (not_self && part == mgmt_caller(vcpu))
		return -KEEL_EPERM;
	*out = part;
	return KEEL_OK;
}

/* Copy exactly one structure of @size bytes in from the caller. */
static s64 mgmt_copy_in(const struct vcpu *vcpu, void *dst, gpa_t gpa, u64 given, u64 size)
{
	if (given != size)
		return -KEEL_EINVAL;
	if (!guest_range_is_ram(mgmt_caller(vcpu), gpa, size))
		return -KEEL_EFAULT;
	return guest_copy_from(mgmt_caller(vcpu), dst, gpa, size) ? -KEEL_EFAULT : KEEL_OK;
}

/* Copy the first min(@given, @size) bytes of @src out; *@n = bytes written. */
static s64 mgmt_copy_out(const struct vcpu *vcpu, gpa_t gpa, u64 given, const void *src, u64 size,
			 u64 *n)
{
	u64 len = MIN(given, size);

	if (given == 0)
		return -KEEL_EINVAL;
	if (!guest_range_is_ram(mgmt_caller(vcpu), gpa, len))
		return -KEEL_EFAULT;
	if (guest_copy_to(mgmt_caller(vcpu), gpa, src, len))
		return -KEEL_EFAULT;
	*n = len;
	return KEEL_OK;
}

static u32 mgmt_pstate(const struct partition *part)
{
	switch (READ_ONCE(part->state)) {
	case PART_BUILDING:
		return KEEL_PSTATE_BUILDING;
	case PART_CREATED:
		return KEEL_PSTATE_CREATED;
	case PART_LOADED:
		return KEEL_PSTATE_LOADED;
	case PART_RUNNING:
		return KEEL_PSTATE_RUNNING;
	case PART_PAUSED:
		return KEEL_PSTATE_PAUSED;
	case PART_STOPPING:
		return KEEL_PSTATE_STOPPING;
	default:
		return KEEL_PSTATE_STOPPED;
	}
}

static u64 mgmt_run_ns(const struct partition *part)
{
	u64 end = READ_ONCE(part->stop_ns);

	if (!part->start_ns)
		return 0;
	return (end ? end : arch_time_ns()) - part->start_ns;
}

static void mgmt_fill_status(const struct partition *part, struct keel_part_status *st)
{
	memset(st, 0, sizeof(*st));
	st->id = part->id;
	st->state = mgmt_pstate(part);
	memcpy(st->name, part->desc.h.name, KEEL_NAME_MAX);
	st->name[KEEL_NAME_MAX - 1] = '\0';
	st->flags = part->desc.h.flags;
	st->vcpu_count = part_vcpus_on(part);
	st->cpu_mask = part_cores_held(part);
	st->mem_size = pdesc_ram_size(&part->desc);
	st->run_ns = mgmt_run_ns(part);
}

/* Partitions LIST shows: every slot in use (a stopped boot partition too). */
static bool mgmt_listed(const struct partition *part)
{
	return part->state != PART_FREE;
}

/*
 * What a listing call (LIST, PCI_LIST) lists: slots() places, each listed()
 * or empty; each listed one gives one @size-byte record, fill()ed in place.
 * @max caps the caller's count (a constant of the ABI header).
 */
struct mgmt_table {
	u32 max;
	u32 size;
	u32 (*slots)(void);
	bool (*listed)(u32 slot);
	void (*fill)(u32 slot, void *rec);
};

/*
 * Copy @t's records in slot order into the caller's array of @count at
 * @gpa, through @rec (t->size bytes): r[0] = records written (at most
 * min(@count, t->max)), r[1] = records in all. The whole capped array
 * must be the caller's RAM before anything is written; 0 asks the total.
 */
static s64 mgmt_list_out(const struct vcpu *vcpu, gpa_t gpa, u64 count, const struct mgmt_table *t,
			 void *rec, u64 r[3])
{
	u64 max = MIN(count, (u64)t->max);
	u32 slots = t->slots(), i, n = 0, total = 0;

	if (!guest_range_is_ram(mgmt_caller(vcpu), gpa, max * t->size))
		return -KEEL_EFAULT;
	for (i = 0; i < slots; i++) {
		if (!t->listed(i))
			continue;
		total++;
		if (n >= max)
			continue;
		t->fill(i, rec);
		if (guest_copy_to(mgmt_caller(vcpu), gpa + (u64)n * t->size, rec, t->size))
			return -KEEL_EFAULT;
		n++;
	}
	r[0] = n;
	r[1] = total;
	return KEEL_OK;
}

/* ---- HOST_INFO, LIST, STATS --------------------------------------------- */

static u64 mgmt_images_bytes(u32 slot)
{
	u64 n = 0;
	u32 i;

	for (i = 0; i < KEEL_PD_MAX_IMAGES; i++)
		n += ALIGN_UP(mgmt_images[slot][i].size, PAGE_SIZE);
	return n;
}

/* Memory partitions hold: RAM of those not stopped, image buffers of held ones. */
/* Its hot-plugged memory and block table (a plug in flight may be counted late). */
static u64 mgmt_hotmem_held(const struct partition *p)
{
	const struct hotmem *hm = &p->hotmem;

	if (!__atomic_load_n(&hm->size, __ATOMIC_ACQUIRE))
		return 0;
	return __atomic_load_n(&hm->plugged, __ATOMIC_RELAXED) + hm->table_bytes;
}

static u64 mgmt_mem_held(void)
{
	u64 n = 0;
	u32 i;

	for (i = 0; i < KEEL_MAX_PARTITIONS; i++) {
		const struct partition *p = &partitions[i];
		u32 st = READ_ONCE(p->state);

		if (st != PART_FREE && st != PART_STOPPED &&
		    (st != PART_DESTROYING || READ_ONCE(p->destroy_frees)))
			n += pdesc_ram_size(&p->desc) + mgmt_hotmem_held(p);
		if (st != PART_FREE && p->held)
			n += mgmt_images_bytes(i);
	}
	return n;
}

static u64 mgmt_cpus_owned(void)
{
	u64 mask = 0;
	u32 i;

	for (i = 0; i < KEEL_MAX_PARTITIONS; i++) {
		u32 st = READ_ONCE(partitions[i].state);

		if (st != PART_FREE && st != PART_STOPPED)
			mask |= part_cores_held(&partitions[i]);
	}
	return mask;
}

static u64 mgmt_cpus_online(void)
{
	u64 mask = 0;
	u32 i;

	for (i = 0; i < platform.cpu_count && i < KEEL_MAX_CPUS; i++)
		if (READ_ONCE(pcpus[i].state) == PCPU_ONLINE)
			mask |= BIT(i);
	return mask;
}

static s64 mgmt_host_info(const struct vcpu *vcpu, gpa_t gpa, u64 size, u64 r[3])
{
	struct keel_host_info hi;
	struct pmm_stats pst;
	u32 i;

	memset(&hi, 0, sizeof(hi));
	hi.abi_version = KEEL_ABI_VERSION;
	hi.cpu_count = platform.cpu_count;
	hi.online_cpu_mask = mgmt_cpus_online();
	hi.free_cpu_mask = hi.online_cpu_mask & ~mgmt_cpus_owned();
	hi.mem_free = pmm_free_bytes();
	hi.mem_total = hi.mem_free + mgmt_mem_held();
	for (i = 0; i < KEEL_MAX_PARTITIONS; i++)
		hi.part_count += mgmt_listed(&partitions[i]);
	hi.part_max = KEEL_MAX_PARTITIONS;
	hi.load_max = KEEL_MGMT_LOAD_MAX;
	hi.console_ring = KEEL_CONSOLE_RING_SIZE;
	hmap_audit(&hi.mem_hidden, &hi.mem_exposed);
	pmm_get_stats(&pst);
	hi.mem_scrubbed = pst.scrubbed_release;
	hi.mem_scrubbed_first = pst.scrubbed_first_use;
	hi.mem_pool = pst.meta_total;
	hi.mem_pool_free = pst.meta_free;
	return mgmt_copy_out(vcpu, gpa, size, &hi, sizeof(hi), &r[0]);
}

static u32 mgmt_part_slots(void)
{
	return KEEL_MAX_PARTITIONS;
}

static bool mgmt_part_listed(u32 slot)
{
	return mgmt_listed(&partitions[slot]);
}

static void mgmt_part_fill(u32 slot, void *rec)
{
	mgmt_fill_status(&partitions[slot], rec);
}

static const struct mgmt_table mgmt_part_table = {
	.max = KEEL_MAX_PARTITIONS,
	.size = sizeof(struct keel_part_status),
	.slots = mgmt_part_slots,
	.listed = mgmt_part_listed,
	.fill = mgmt_part_fill,
};

static s64 mgmt_list(const struct vcpu *vcpu, gpa_t gpa, u64 count, u64 r[3])
{
	struct keel_part_status st;

	return mgmt_list_out(vcpu, gpa, count, &mgmt_part_table, &st, r);
}

/* How it stopped, once it has: under part->lock, where part_stop() writes both. */
static void mgmt_fill_stop(struct partition *part, struct keel_part_stats *ps)
{
	unsigned long flags = spin_lock_irqsave(&part->lock);

	if (part->state == PART_STOPPED) {
		ps->stop_cause = part->stop_cause;
		keel_strlcpy(ps->stop_reason, part->stop_reason, sizeof(ps->stop_reason));
	}
	spin_unlock_irqrestore(&part->lock, flags);
}

static void mgmt_fill_hotmem(const struct partition *part, struct keel_part_stats *ps)
{
	const struct hotmem *hm = &part->hotmem;

	if (!__atomic_load_n(&hm->size, __ATOMIC_ACQUIRE))
		return;
	ps->mem_hotplug_base = hm->base;
	ps->mem_hotplug_size = hm->size;
	ps->mem_plugged = __atomic_load_n(&hm->plugged, __ATOMIC_RELAXED);
	ps->mem_requested = __atomic_load_n(&hm->requested, __ATOMIC_RELAXED);
}

/* START -> the boot vCPU's first guest instruction, of this run; 0 until it entered. */
static u64 mgmt_first_insn_ns(const struct partition *part)
{
	u64 entry = READ_ONCE(part->first_entry_ns), start = READ_ONCE(part->start_ns);

	return entry > start ? entry - start : 0;
}

static s64 mgmt_stats(const struct vcpu *vcpu, u64 id, gpa_t gpa, u64 size, u64 r[3])
{
	struct keel_part_stats ps;
	struct partition *part;
	u64 exits[EXIT_KINDS];
	s64 ret = mgmt_target(vcpu, id, false, &part);
	u32 k;

	if (ret)
		return ret;
	memset(&ps, 0, sizeof(ps));
	mgmt_fill_status(part, &ps.status);
	ps.hypercalls = READ_ONCE(part->hypercalls);
	ps.denied = READ_ONCE(part->denied);
	ps.console_bytes = READ_ONCE(part->con_head);
	ps.restarts = READ_ONCE(part->restarts);
	ps.first_insn_ns = mgmt_first_insn_ns(part);
	part_exit_counts(part, exits);
	for (k = 0; k < EXIT_KINDS; k++)
		ps.exits[k] = exits[k];
	mgmt_fill_stop(part, &ps);
	part_vcpu_where(part, &ps.vcpus_parked, &ps.vcpus_halted);
	mgmt_fill_hotmem(part, &ps);
	ps.vcpus_max = pdesc_vcpus(&part->desc);
	ps.vcpus_allowed = READ_ONCE(part->vcpus_allowed);
	ps.vcpus_cores = pdesc_cores(&part->desc);
	ps.vsock_cid = pdesc_vsock_cid(&part->desc, NULL);
	return mgmt_copy_out(vcpu, gpa, size, &ps, sizeof(ps), &r[0]);
}

/* ---- CREATE ------------------------------------------------------------- */

/*
 * Every core online and owned by no partition that has not stopped, and none
 * a thread of a physical core another partition has a thread of (unless
 * smt_split = allow).
 */
static s64 mgmt_check_cpus(u64 mask)
{
	struct pdesc_limits lim = { .cpu_count = platform.cpu_count,
				    .cpu_core = part_cpu_cores(),
				    .smt_split = part_smt_policy() };
	u32 cpu, other;

	if (mask & ~mgmt_cpus_online())
		return -KEEL_EINVAL;
	if (mask & mgmt_cpus_owned())
		return -KEEL_EBUSY;
	if (pdesc_smt_shared(mask, mgmt_cpus_owned(), &lim, &other) >= 0)
		return -KEEL_EBUSY;
	for (cpu = 0; cpu < KEEL_MAX_CPUS; cpu++)
		if ((mask & BIT(cpu)) && READ_ONCE(pcpus[cpu].vcpu))
			return -KEEL_EBUSY; /* its last partition is still leaving */
	return KEEL_OK;
}

static bool mgmt_name_used(const char *name)
{
	u32 i;

	for (i = 0; i < KEEL_MAX_PARTITIONS; i++) {
		const struct partition *p = &partitions[i];

		if (p->state == PART_FREE || (p->state == PART_STOPPED && !p->held))
			continue;
		if (!strncmp(p->desc.h.name, name, KEEL_NAME_MAX))
			return true;
	}
	return false;
}

static u64 mgmt_create_bytes(const struct pdesc *d)
{
	u64 n = pdesc_ram_size(d);
	u32 i;

	for (i = 0; i < d->h.image_count; i++)
		n += ALIGN_UP(d->image[i].size, PAGE_SIZE);
	return n;
}

/* Copy in the packed description of @size bytes and unpack it into @d. */
static s64 mgmt_create_copy_in(const struct vcpu *vcpu, gpa_t gpa, u64 size, struct pdesc *d)
{
	struct pdesc_error err;
	s64 ret;

	if (size > sizeof(mgmt_create_raw))
		return -KEEL_EINVAL; /* too short: pdesc_unpack says so */
	ret = mgmt_copy_in(vcpu, mgmt_create_raw, gpa, size, size);
	if (ret)
		return ret;
	if (pdesc_unpack(mgmt_create_raw, size, d, &err)) {
		pr_debug("management: create refused: %s", err.msg);
		return -KEEL_EINVAL;
	}
	return KEEL_OK;
}

static s64 mgmt_create_decode(const struct pdesc *d)
{
	struct pdesc_limits lim = { .cpu_count = platform.cpu_count }; /* images by size */
	struct pdesc_error err;
	s64 ret;

	if (pdesc_check(d, &lim, &err)) {
		pr_debug("management: create refused: %s", err.msg);
		return -KEEL_EINVAL;
	}
	if (d->h.flags & ~(KEEL_PD_REBOOT_STOP | KEEL_PD_FAULT_STOP))
		return -KEEL_EINVAL;
	if (mgmt_name_used(d->h.name))
		return -KEEL_EEXIST;
	ret = mgmt_check_cpus(d->h.cpu_mask);
	if (ret)
		return ret;
	/* RAM below the free bytes, at most 8 images below 2^30 each: the sum cannot wrap. */
	if (pdesc_ram_size(d) > pmm_free_bytes() || mgmt_create_bytes(d) > pmm_free_bytes())
		return -KEEL_ENOMEM;
	return KEEL_OK;
}

static void mgmt_free_images(struct keel_boot_module *img)
{
	u32 i;

	for (i = 0; i < KEEL_PD_MAX_IMAGES; i++) {
		if (img[i].base)
			pmm_free(img[i].base, ALIGN_UP(img[i].size, PAGE_SIZE));
		memset(&img[i], 0, sizeof(img[i]));
	}
}

static const char *mgmt_image_role(u32 role)
{
	return role == KEEL_PD_IMAGE_KERNEL   ? "kernel"
	       : role == KEEL_PD_IMAGE_INITRD ? "initrd"
					      : "data";
}

/* Zeroed Keel-owned buffers for @d's images, into the slot's own records @img. */
static s64 mgmt_alloc_images(const struct pdesc *d, struct keel_boot_module *img)
{
	u32 i;

	for (i = 0; i < d->h.image_count; i++) {
		img[i].base = pmm_alloc(ALIGN_UP(d->image[i].size, PAGE_SIZE), PAGE_SIZE);
		if (!img[i].base) {
			mgmt_free_images(img);
			return -KEEL_ENOMEM;
		}
		img[i].size = d->image[i].size;
		snprintf(img[i].name, sizeof(img[i].name), "%s:%s%u", d->h.name,
			 mgmt_image_role(d->image[i].role), i);
	}
	return KEEL_OK;
}

static s64 mgmt_create_perform(const struct pdesc *d, u64 r[3])
{
	struct keel_boot_module img[KEEL_PD_MAX_IMAGES] = { 0 };
	const struct keel_boot_module *images[KEEL_PD_MAX_IMAGES] = { NULL };
	struct keel_boot_module *kept;
	struct partition *part;
	s64 ret = mgmt_alloc_images(d, img);
	u32 i;

	if (ret)
		return ret;
	for (i = 0; i < d->h.image_count; i++)
		images[i] = &img[i];
	ret = part_create_images(d, images, &part);
	if (ret) {
		mgmt_free_images(img);
		return ret;
	}
	/* The devices took the disks' addresses and sizes; the records live in the slot. */
	kept = mgmt_images[part->id - 1];
	memcpy(kept, img, sizeof(img));
	for (i = 0; i < d->h.image_count; i++) {
		images[i] = &kept[i];
		sha256_init(&mgmt_hash[part->id - 1][i].h);
		mgmt_hash[part->id - 1][i].upto = 0;
	}
	part_set_images(part, images);
	part->held = 1;
	part_set_state(part, PS(BUILDING), PART_CREATED);
	pr_info("partition '%s' (id %u) created by the management partition: cpus 0x%llx, %llu MiB",
		part->desc.h.name, part->id, (unsigned long long)part->desc.h.cpu_mask,
		(unsigned long long)(pdesc_ram_size(&part->desc) >> 20));
	r[0] = part->id;
	return KEEL_OK;
}

static s64 mgmt_create(const struct vcpu *vcpu, gpa_t gpa, u64 size, u64 r[3])
{
	struct pdesc *d = &mgmt_create_arg;
	s64 ret = mgmt_create_copy_in(vcpu, gpa, size, d);

	if (!ret)
		ret = mgmt_create_decode(d);
	if (!ret)
		ret = mgmt_create_perform(d, r);
	return ret;
}

/* ---- LOAD --------------------------------------------------------------- */

static s64 mgmt_load_decode(const struct vcpu *vcpu, const struct keel_mgmt_load *l,
			    struct keel_boot_module **img)
{
	struct partition *part;
	const struct keel_boot_module *m;
	s64 ret = mgmt_target(vcpu, l->id, false, &part);

	if (ret)
		return ret;
	if (!part->held || part->state != PART_CREATED)
		return -KEEL_EBUSY;
	if (l->image >= KEEL_PD_MAX_IMAGES || !mgmt_images[part->id - 1][l->image].size)
		return -KEEL_EINVAL;
	if (l->len > KEEL_MGMT_LOAD_MAX)
		return -KEEL_E2BIG;
	m = &mgmt_images[part->id - 1][l->image];
	if (l->offset > m->size || l->len > m->size - l->offset)
		return -KEEL_EINVAL;
	if (!guest_range_is_ram(mgmt_caller(vcpu), l->src_gpa, l->len))
		return -KEEL_EFAULT;
	*img = &mgmt_images[part->id - 1][l->image];
	return KEEL_OK;
}

static void mgmt_hash_piece(struct keel_boot_module *img, u64 offset, u64 len);

static s64 mgmt_load(const struct vcpu *vcpu, gpa_t gpa, u64 size)
{
	struct keel_mgmt_load l;
	struct keel_boot_module *img;
	s64 ret = mgmt_copy_in(vcpu, &l, gpa, size, sizeof(l));

	if (!ret)
		ret = mgmt_load_decode(vcpu, &l, &img);
	if (ret)
		return ret;
	/* Straight from the caller's pages (each checked) into Keel's buffer. */
	if (guest_copy_from(mgmt_caller(vcpu), (u8 *)hpa_to_hva(img->base) + l.offset, l.src_gpa,
			    l.len))
		return -KEEL_EFAULT;
	mgmt_hash_piece(img, l.offset, l.len);
	return KEEL_OK;
}

/* The next piece in order goes into the image's running hash; any other breaks it. */
static void mgmt_hash_piece(struct keel_boot_module *img, u64 offset, u64 len)
{
	size_t k = (size_t)(img - &mgmt_images[0][0]);
	u64 *upto = &mgmt_hash[k / KEEL_PD_MAX_IMAGES][k % KEEL_PD_MAX_IMAGES].upto;

	if (*upto != offset) {
		*upto = MGMT_HASH_BROKEN;
		return;
	}
	sha256_update(&mgmt_hash[k / KEEL_PD_MAX_IMAGES][k % KEEL_PD_MAX_IMAGES].h,
		      (const u8 *)hpa_to_hva(img->base) + offset, (size_t)len);
	*upto += len;
}

/*
 * At the first START: each image's digest, from its running hash if every
 * byte came in order, else of the whole image as Keel holds it.
 */
static void mgmt_measure_images(const struct partition *part)
{
	u32 slot = part->id - 1, i;

	for (i = 0; i < part->desc.h.image_count && i < KEEL_PD_MAX_IMAGES; i++) {
		struct keel_boot_module *img = &mgmt_images[slot][i];

		if (img->measured)
			continue;
		if (mgmt_hash[slot][i].upto == img->size)
			sha256_final(&mgmt_hash[slot][i].h, img->sha256);
		else
			sha256(hpa_to_hva(img->base), (size_t)img->size, img->sha256);
		img->measured = 1;
	}
}

/* ---- START, STOP, PAUSE, RESUME, DESTROY -------------------------------- */

static s64 mgmt_start(const struct vcpu *vcpu, u64 id)
{
	struct partition *part;
	s64 ret = mgmt_target(vcpu, id, true, &part);

	if (ret)
		return ret;
	if (READ_ONCE(part->state) == PART_CREATED && part->held) {
		mgmt_measure_images(part);
		ret = part_load_created(part);
		if (ret) {
			pr_warn("partition '%s' not started: its images did not load (error %lld)",
				part->desc.h.name, (long long)ret);
			return ret;
		}
	}
	if (part->state != PART_LOADED)
		return -KEEL_EBUSY;
	return part_start(part);
}

static void mgmt_stop_expired(struct timer *t)
{
	struct mgmt_stop_timer *st = t->data;
	struct partition *part = part_by_id(st->id);

	/* Only the very run the STOP was about: not a later one in the same slot. */
	if (part && READ_ONCE(part->run) == st->run) { /* part_stop acts only if it runs */
		irqwatch_report(part, st->run, "did not power off in time");
		part_stop(part, KEEL_STOP_CAUSE_FORCED,
			  "stopped by the management partition: it did not power off in time",
			  false);
	}
	__atomic_store_n(&st->busy, 0, __ATOMIC_RELEASE);
}

/* A busy timer whose run is over (stopped, destroyed, restarted): nothing left to force. */
static bool mgmt_stop_timer_stale(const struct mgmt_stop_timer *st)
{
	const struct partition *part = part_by_id(st->id);
	u32 state = part ? READ_ONCE(part->state) : PART_FREE;

	return !part || READ_ONCE(part->run) != st->run ||
	       (state != PART_RUNNING && state != PART_PAUSED);
}

/*
 * Force the stop after @ms unless the guest stops first: this run's timer on
 * this CPU if it has one (the earlier deadline stands), else a free one, else
 * one whose run is over, taken back (it is armed on this CPU, so it can be
 * cancelled here). False only if this CPU's timers all wait for live runs.
 */
static bool mgmt_stop_later(struct partition *part, u64 ms)
{
	struct mgmt_stop_timer *pool = mgmt_timers[pcpu_this()->id], *use = NULL;
	u64 deadline = arch_time_ns() + ms * MGMT_NS_PER_MS;
	u32 i;

	for (i = 0; i < MGMT_STOP_TIMERS; i++) {
		struct mgmt_stop_timer *st = &pool[i];

		if (!__atomic_load_n(&st->busy, __ATOMIC_ACQUIRE)) {
			use = use ? use : st;
			continue;
		}
		if (st->id == part->id && st->run == part->run) {
			if (st->t.armed && st->t.deadline_ns <= deadline)
				return true;
			use = st;
			break;
		}
		if (!use && mgmt_stop_timer_stale(st)) {
			timer_cancel(&st->t);
			__atomic_store_n(&st->busy, 0, __ATOMIC_RELEASE);
			use = st;
		}
	}
	if (!use)
		return false;
	use->busy = 1;
	use->id = part->id;
	use->run = part->run;
	use->t.fn = mgmt_stop_expired;
	use->t.data = use;
	timer_arm(&use->t, deadline);
	return true;
}

/*
 * Both of the partition's stop signals: its power button (kernels with the
 * ACPI button or gpio-keys driver) and a "poweroff" line on its control port
 * (any kernel with virtio_console, once its init listens; kept until then).
 * The stop timer forces the stop if the guest ignores both.
 */
static void mgmt_ask_poweroff(struct partition *part, u64 ms)
{
	bool button = arch_part_request_poweroff(part);
	bool port = virtio_control_request(part, VIRTIO_CTL_POWEROFF);
	const char *how = "no power button or control port";

	if (button && port)
		how = "power button pressed, poweroff sent on its control port";
	else if (button)
		how = "power button pressed";
	else if (port)
		how = "poweroff sent on its control port";

	pr_info("partition '%s': %s; stopped in %llu ms unless it powers off", part->desc.h.name,
		how, (unsigned long long)ms);
}

static s64 mgmt_stop(const struct vcpu *vcpu, u64 id, u64 ms, u64 flags)
{
	struct partition *part;
	s64 ret = mgmt_target(vcpu, id, true, &part);

	if (ret)
		return ret;
	if ((flags & ~(u64)KEEL_STOP_FLAGS_ALL) || ms > KEEL_STOP_TIMEOUT_MAX_MS)
		return -KEEL_EINVAL;
	if (!(flags & KEEL_STOP_FORCE)) {
		/* A guest that reboots instead of powering off is stopped too (part_stop_ask). */
		switch (part_stop_ask(part)) {
		case PART_ASK_ANSWERED:
			return KEEL_OK;
		case PART_ASK_GUEST:
			if (!ms)
				ms = KEEL_STOP_TIMEOUT_DEFAULT_MS;
			if (mgmt_stop_later(part, ms)) {
				mgmt_ask_poweroff(part, ms);
				return KEEL_OK;
			}
			break; /* no timer free: stopped at once */
		default:
			break;
		}
	}
	switch (READ_ONCE(part->state)) {
	case PART_RUNNING:
	case PART_PAUSED:
	case PART_BUILDING:
	case PART_STOPPING:
		/* Built or going down for a reboot too: it stops instead of restarting. */
		part_stop(part, KEEL_STOP_CAUSE_FORCED, "stopped by the management partition",
			  false);
		return KEEL_OK;
	case PART_STOPPED:
		return KEEL_OK;
	default:
		return -KEEL_EBUSY;
	}
}

/*
 * Work a call leaves for after mgmt_lock, on the same CPU before the call
 * returns: the long waits (a scrub, vCPUs parking), so they hold up no
 * other management call. The partition's state keeps others off it.
 */
enum { MGMT_AFTER_NONE, MGMT_AFTER_DESTROY, MGMT_AFTER_PAUSE, MGMT_AFTER_PAUSE_AGAIN };

struct mgmt_after {
	struct partition *part;
	u32 kind; /* MGMT_AFTER_* */
};

static struct mgmt_after mgmt_after; /* under mgmt_lock */

static void mgmt_leave_after(struct partition *part, u32 kind)
{
	mgmt_after = (struct mgmt_after){ part, kind };
}

static s64 mgmt_pause(const struct vcpu *vcpu, u64 id, bool pause)
{
	struct partition *part;
	s64 ret = mgmt_target(vcpu, id, true, &part);

	if (ret)
		return ret;
	if (READ_ONCE(part->state) == (pause ? PART_PAUSED : PART_RUNNING)) {
		/* Again: it returns once every vCPU has parked, as the first did. */
		if (pause)
			mgmt_leave_after(part, MGMT_AFTER_PAUSE_AGAIN);
		return KEEL_OK;
	}
	ret = part_set_paused(part, pause);
	if (ret)
		return ret;
	if (pause)
		mgmt_leave_after(part, MGMT_AFTER_PAUSE);
	else
		pr_info("partition '%s' resumed by the management partition", part->desc.h.name);
	return KEEL_OK;
}

/* PAUSE returns when every vCPU is out of the guest: the next STATS shows them parked. */
static s64 mgmt_pause_finish(struct partition *part, bool again)
{
	u64 waited = 0;
	int ret = part_wait_parked(part, MGMT_PARK_TIMEOUT_MS * MGMT_NS_PER_MS, &waited);

	if (!ret && !again)
		pr_info("partition '%s' paused by the management partition (every vCPU parked "
			"within %llu us)",
			part->desc.h.name, (unsigned long long)(waited / 1000));
	return ret;
}

static s64 mgmt_destroy(const struct vcpu *vcpu, u64 id)
{
	struct partition *part;
	s64 ret = mgmt_target(vcpu, id, true, &part);

	if (ret)
		return ret;
	ret = part_destroy_begin(part);
	if (ret)
		return ret;
	mgmt_leave_after(part, MGMT_AFTER_DESTROY);
	return KEEL_OK;
}

/*
 * DESTROY's second half, on the same CPU without mgmt_lock: GiBs are
 * scrubbed here while other management calls go on. The partition is
 * DESTROYING, so nothing else touches it or its slot until it is FREE.
 */
static void mgmt_destroy_finish(struct partition *part)
{
	char name[KEEL_NAME_MAX];
	u32 id = part->id;

	keel_strlcpy(name, part->desc.h.name, sizeof(name));
	if (part->held)
		mgmt_free_images(mgmt_images[id - 1]);
	part_destroy_finish(part);
	pr_info("partition '%s' (id %u) destroyed by the management partition", name, id);
}

/* ---- WATCH --------------------------------------------------------------- */

/*
 * Arm the event interrupt and say where partition @id is. The count is read
 * first (armed), then the state and console: those are at least as new as
 * the count, and anything later moves the count the caller looks at next.
 */
static s64 mgmt_watch(const struct vcpu *vcpu, u64 id, u64 r[3])
{
	struct partition *part;
	s64 ret = mgmt_target(vcpu, id, false, &part);

	if (ret)
		return ret;
	r[0] = mgmt_watch_arm(mgmt_caller(vcpu), part);
	r[1] = mgmt_pstate(part);
	r[2] = READ_ONCE(part->con_head);
	return KEEL_OK;
}

/* ---- CONSOLE_READ, CONSOLE_WRITE ---------------------------------------- */

static s64 mgmt_console_read(const struct vcpu *vcpu, gpa_t gpa, u64 size, u64 r[3])
{
	struct keel_mgmt_console c;
	struct partition *part;
	u64 cursor, lost;
	size_t n;
	s64 ret = mgmt_copy_in(vcpu, &c, gpa, size, sizeof(c));

	if (!ret)
		ret = mgmt_target(vcpu, c.id, false, &part);
	if (ret)
		return ret;
	if (c.len > KEEL_MGMT_CONSOLE_MAX)
		return -KEEL_E2BIG;
	if (!guest_range_is_ram(mgmt_caller(vcpu), c.buf_gpa, c.len))
		return -KEEL_EFAULT;
	/* con_head only grows: a cursor at or below it now stays valid. */
	if (c.cursor > READ_ONCE(part->con_head))
		return -KEEL_EINVAL;
	cursor = c.cursor;
	n = console_ring_read(part, &cursor, mgmt_bounce, c.len, &lost);
	if (guest_copy_to(mgmt_caller(vcpu), c.buf_gpa, mgmt_bounce, n))
		return -KEEL_EFAULT;
	r[0] = n;
	r[1] = cursor;
	r[2] = lost;
	return KEEL_OK;
}

static s64 mgmt_console_write(const struct vcpu *vcpu, u64 id, gpa_t gpa, u64 len, u64 r[3])
{
	struct partition *part;
	unsigned long flags;
	s64 ret = mgmt_target(vcpu, id, false, &part);

	if (ret)
		return ret;
	if (len > KEEL_MGMT_CONSOLE_MAX)
		return -KEEL_E2BIG;
	if (!guest_range_is_ram(mgmt_caller(vcpu), gpa, len))
		return -KEEL_EFAULT;
	if (READ_ONCE(part->state) != PART_RUNNING)
		return -KEEL_EBUSY;
	if (guest_copy_from(mgmt_caller(vcpu), mgmt_bounce, gpa, len))
		return -KEEL_EFAULT;
	r[0] = 0;
	flags = spin_lock_irqsave(&part->con_in_lock);
	/* Input only reaches a guest that reads its console; else it is refused. */
	if (part->con_input && READ_ONCE(part->con_ready)) {
		part->con_input(part, mgmt_bounce, len);
		r[0] = len;
	}
	spin_unlock_irqrestore(&part->con_in_lock, flags);
	return r[0] == len ? KEEL_OK : -KEEL_EBUSY;
}

/* ---- RESIZE ------------------------------------------------------------- */

/*
 * Memory: the guest's virtio-mem driver is asked to plug or unplug toward
 * @bytes - RAM. Refused up front if the host has not got the memory to add.
 */
static s64 mgmt_resize_memory(struct partition *part, u64 bytes)
{
	u64 ram = pdesc_ram_size(&part->desc);
	const struct hotmem *hm = &part->hotmem;
	u64 want, plugged;

	if (!hm->size || bytes < ram || bytes - ram > hm->size ||
	    !IS_ALIGNED(bytes, KEEL_HOTMEM_BLOCK))
		return -KEEL_EINVAL;
	want = bytes - ram;
	plugged = __atomic_load_n(&hm->plugged, __ATOMIC_RELAXED);
	if (want > plugged && want - plugged > pmm_free_bytes())
		return -KEEL_ENOMEM;
	if (virtio_mem_resize(part, want))
		return -KEEL_EINVAL;
	pr_info("partition '%s': memory to %llu MiB asked of its guest (it has %llu MiB now)",
		part->desc.h.name, (unsigned long long)(bytes >> 20),
		(unsigned long long)((ram + plugged) >> 20));
	return KEEL_OK;
}

/*
 * vCPUs: how many may be on, and the guest told so on its control port; it
 * turns them on (each takes a free core) or off (each gives its core back).
 */
static s64 mgmt_resize_cpus(struct partition *part, u64 n)
{
	u32 on = part_vcpus_on(part);
	int ret = n > KEEL_MAX_CPUS ? -KEEL_EINVAL : part_set_vcpus_allowed(part, (u32)n);

	if (ret)
		return ret;
	arch_vcpus_resized(part);
	virtio_control_request(part, VIRTIO_CTL_CPUS);
	pr_info("partition '%s': %llu vCPU%s asked of its guest (it has %u on now)",
		part->desc.h.name, (unsigned long long)n, n == 1 ? "" : "s", on);
	return KEEL_OK;
}

static s64 mgmt_resize(const struct vcpu *vcpu, u64 id, u64 what, u64 value)
{
	struct partition *part;
	s64 ret = mgmt_target(vcpu, id, true, &part);
	u32 state;

	if (ret)
		return ret;
	state = READ_ONCE(part->state);
	if (state != PART_RUNNING && state != PART_PAUSED)
		return -KEEL_EBUSY;
	if (what == KEEL_RESIZE_CPUS)
		return mgmt_resize_cpus(part, value);
	if (what != KEEL_RESIZE_MEMORY)
		return -KEEL_EINVAL;
	return mgmt_resize_memory(part, value);
}

/* ---- PCI_LIST ----------------------------------------------------------- */

/* Who has the function: the id of the partition it is given to, or none. */
static u32 mgmt_pci_owner(const struct pci_func *f)
{
	const struct partition *owner = vfio_owner(f);

	return owner ? owner->id : KEEL_PCI_OWNER_NONE;
}

static u32 mgmt_pci_flags(const struct pci_func *f, const struct iommu_unit *u)
{
	u32 flags = 0;

	if (f->hdr_type == PCI_HEADER_BRIDGE || f->hdr_type == PCI_HEADER_CARDBUS)
		flags |= KEEL_PCI_DEV_BRIDGE;
	if (f->flags & PCI_F_ALIASED)
		flags |= KEEL_PCI_DEV_ALIASED;
	if (f->flags & PCI_F_BAD_CAPS)
		flags |= KEEL_PCI_DEV_BAD_CAPS;
	if (vfio_assignable(f)) /* the same test as keel.cfg and CREATE */
		flags |= KEEL_PCI_DEV_ASSIGNABLE;
	return flags;
}

/* The functions enumeration recorded at boot: fixed from then on. */
static u32 mgmt_pci_slots(void)
{
	return pci_func_count();
}

static bool mgmt_pci_listed(u32 slot)
{
	return pci_func_at(slot) != NULL;
}

static void mgmt_pci_fill(u32 slot, void *rec)
{
	const struct pci_func *f = pci_func_at(slot);
	/* The unit its requester ID is translated by, as iommu_init() logged it. */
	const struct iommu_unit *u = iommu_unit_for(f->seg, f->bdf);
	struct keel_pci_dev *d = rec;

	memset(d, 0, sizeof(*d));
	d->segment = f->seg;
	d->bdf = f->bdf;
	d->dma_rid = f->dma_rid;
	d->vendor = f->vendor;
	d->device = f->device;
	d->hdr_type = f->hdr_type;
	d->class = f->class & 0xffffffu;
	d->group = f->group;
	d->owner = mgmt_pci_owner(f);
	d->iommu = u ? (u8)u->index : (u8)KEEL_PCI_NO_IOMMU;
	d->iommu_kind = u ? u->kind : (u8)KEEL_IOMMU_KIND_NONE;
	d->flags = mgmt_pci_flags(f, u);
}

static const struct mgmt_table mgmt_pci_table = {
	.max = KEEL_PCI_MAX_DEVS,
	.size = sizeof(struct keel_pci_dev),
	.slots = mgmt_pci_slots,
	.listed = mgmt_pci_listed,
	.fill = mgmt_pci_fill,
};

static s64 mgmt_pci_list(const struct vcpu *vcpu, gpa_t gpa, u64 count, u64 r[3])
{
	struct keel_pci_dev d;

	return mgmt_list_out(vcpu, gpa, count, &mgmt_pci_table, &d, r);
}

/* ---- NET_LIST ----------------------------------------------------------- */

#define MGMT_NET_RECS (1u + NETSW_MAX_PORTS) /* a network's record, then its ports' */

/*
 * The networks and their ports as NET_LIST saw them, each network read in
 * one go under its lock so a listing never mixes two moments of it. Static:
 * management calls run one at a time (mgmt_lock).
 */
static struct {
	bool present;
	u32 ports;
	struct netsw_port_info port[NETSW_MAX_PORTS];
} mgmt_nets[NETSW_MAX_NETWORKS];

static u32 mgmt_net_slots(void)
{
	return NETSW_MAX_NETWORKS * MGMT_NET_RECS;
}

static bool mgmt_net_listed(u32 slot)
{
	u32 net = slot / MGMT_NET_RECS, k = slot % MGMT_NET_RECS;

	return mgmt_nets[net].present && (k == 0 || k - 1 < mgmt_nets[net].ports);
}

static void mgmt_net_fill(u32 slot, void *rec)
{
	u32 net = slot / MGMT_NET_RECS, k = slot % MGMT_NET_RECS;
	const struct netsw_net *n = netsw_at(net);
	const struct netsw_port_info *p = &mgmt_nets[net].port[k ? k - 1 : 0];
	struct keel_net_rec *r = rec;

	memset(r, 0, sizeof(*r));
	r->net = net;
	keel_strlcpy(r->name, n ? n->name : "", sizeof(r->name)); /* networks live forever */
	if (k == 0) {
		r->kind = KEEL_NET_REC_NETWORK;
		r->owner = KEEL_NET_OWNER_NONE;
		r->ports = mgmt_nets[net].ports;
		return;
	}
	r->kind = KEEL_NET_REC_PORT;
	r->owner = p->part_id;
	memcpy(r->mac, p->mac, 6);
	r->flags = p->flags;
	r->tx_packets = p->stats.tx_packets;
	r->tx_bytes = p->stats.tx_bytes;
	r->rx_packets = p->stats.rx_packets;
	r->rx_bytes = p->stats.rx_bytes;
	for (u32 i = 0; i < NETSW_DROPS; i++)
		r->drops[i] = p->stats.drops[i];
}

static const struct mgmt_table mgmt_net_table = {
	.max = KEEL_NET_LIST_MAX,
	.size = sizeof(struct keel_net_rec),
	.slots = mgmt_net_slots,
	.listed = mgmt_net_listed,
	.fill = mgmt_net_fill,
};

static s64 mgmt_net_list(const struct vcpu *vcpu, gpa_t gpa, u64 count, u64 r[3])
{
	struct keel_net_rec rec;

	for (u32 i = 0; i < NETSW_MAX_NETWORKS; i++) {
		struct netsw_net *n = netsw_at(i);
		u32 ports = n ? netsw_ports_info(n, mgmt_nets[i].port, NETSW_MAX_PORTS) : 0;

		mgmt_nets[i].present = n != NULL;
		mgmt_nets[i].ports = MIN(ports, NETSW_MAX_PORTS);
	}
	return mgmt_list_out(vcpu, gpa, count, &mgmt_net_table, &rec, r);
}

/* ---- MEASURE ------------------------------------------------------------ */

static s64 mgmt_measure(const struct vcpu *vcpu, u64 id, gpa_t gpa, u64 size, u64 r[3])
{
	static struct keel_part_measure pm; /* mgmt_lock serialises calls */
	struct partition *part;
	s64 ret = mgmt_target(vcpu, id, false, &part);
	u32 i;

	if (ret)
		return ret;
	memset(&pm, 0, sizeof(pm));
	pm.id = part->id;
	pm.image_count = MIN(part->desc.h.image_count, KEEL_PD_MAX_IMAGES);
	memcpy(pm.cfg_sha256, part_boot_cfg_sha256(), sizeof(pm.cfg_sha256));
	for (i = 0; i < pm.image_count; i++) {
		const struct keel_boot_module *m = part->images[i];
		struct keel_image_measure *o = &pm.image[i];

		o->role = part->desc.image[i].role;
		if (!m)
			continue;
		o->size = m->size;
		o->measured = m->measured;
		if (m->measured)
			memcpy(o->sha256, m->sha256, sizeof(o->sha256));
		keel_strlcpy(o->name, m->name, sizeof(o->name));
	}
	return mgmt_copy_out(vcpu, gpa, size, &pm, sizeof(pm), &r[0]);
}

/* ---- TPM ---------------------------------------------------------------- */

static s64 mgmt_tpm(const struct vcpu *vcpu, gpa_t gpa, u64 size, u64 r[3])
{
	return mgmt_copy_out(vcpu, gpa, size, part_boot_tpm(), sizeof(struct keel_tpm_report),
			     &r[0]);
}

/* ---- BOOT_TIMELINE ------------------------------------------------------ */

/* The timeline in time order as this call saw it (static: mgmt_lock serialises calls). */
static struct keel_boot_event mgmt_timeline[KEEL_BOOT_EVENTS_MAX];
static u32 mgmt_timeline_count;

static u32 mgmt_timeline_slots(void)
{
	return mgmt_timeline_count;
}

static bool mgmt_timeline_listed(u32 slot)
{
	return slot < mgmt_timeline_count;
}

static void mgmt_timeline_fill(u32 slot, void *rec)
{
	memcpy(rec, &mgmt_timeline[slot], sizeof(mgmt_timeline[slot]));
}

static const struct mgmt_table mgmt_timeline_table = {
	.max = KEEL_BOOT_EVENTS_MAX,
	.size = sizeof(struct keel_boot_event),
	.slots = mgmt_timeline_slots,
	.listed = mgmt_timeline_listed,
	.fill = mgmt_timeline_fill,
};

static s64 mgmt_boot_timeline(const struct vcpu *vcpu, gpa_t gpa, u64 count, u64 r[3])
{
	struct keel_boot_event rec;

	mgmt_timeline_count = timeline_copy(mgmt_timeline, KEEL_BOOT_EVENTS_MAX);
	return mgmt_list_out(vcpu, gpa, count, &mgmt_timeline_table, &rec, r);
}

/* ---- PCI_ASSIGN, PCI_RELEASE --------------------------------------------- */

/*
 * The partition an ASSIGN or RELEASE of function @addr is for: another than
 * the caller, and not started. Only management calls (serialised by
 * mgmt_lock, which the caller holds) move a partition out of CREATED or
 * LOADED, and nothing but them reads its description or functions there, so
 * both can change under that lock alone.
 */
static s64 mgmt_pci_target(const struct vcpu *vcpu, u64 id, u64 addr, struct partition **out)
{
	s64 ret = mgmt_target(vcpu, id, true, out);
	u32 state;

	if (ret)
		return ret;
	if (addr >> 32)
		return -KEEL_EINVAL;
	state = READ_ONCE((*out)->state);
	return state == PART_CREATED || state == PART_LOADED ? KEEL_OK : -KEEL_EBUSY;
}

/* The index of @d's PCI entry for @addr, or -1. */
static int mgmt_pci_entry(const struct pdesc *d, u32 addr)
{
	for (u32 i = 0; i < d->h.device_count; i++)
		if (d->device[i].type == KEEL_DEV_PCI && d->device[i].backend == addr)
			return (int)i;
	return -1;
}

static u32 mgmt_pci_entries(const struct pdesc *d)
{
	u32 n = 0;

	for (u32 i = 0; i < d->h.device_count; i++)
		n += d->device[i].type == KEEL_DEV_PCI;
	return n;
}

/* Take entry @i out of @d: the entries after it move up one slot. */
static void mgmt_pdesc_drop_device(struct pdesc *d, u32 i)
{
	u32 n = d->h.device_count;

	memmove(&d->device[i], &d->device[i + 1], (n - i - 1) * sizeof(d->device[0]));
	memset(&d->device[n - 1], 0, sizeof(d->device[0]));
	d->h.device_count = n - 1;
	pdesc_set_size(d);
}

static s64 mgmt_pci_assign(const struct vcpu *vcpu, u64 id, u64 addr)
{
	struct partition *part;
	s64 ret = mgmt_pci_target(vcpu, id, addr, &part);
	struct pdesc *d;
	u32 i;

	if (ret)
		return ret;
	d = &part->desc;
	if (mgmt_pci_entry(d, (u32)addr) >= 0)
		return -KEEL_EEXIST;
	if (d->h.device_count >= KEEL_PD_MAX_DEVICES || mgmt_pci_entries(d) >= KEEL_PD_MAX_PCI)
		return -KEEL_ENOSPC;
	i = d->h.device_count;
	pdesc_add_device(d, KEEL_DEV_PCI, (u32)addr, 0);
	part->cfg_dev_line = NULL; /* its entries are no longer keel.cfg's lines */
	ret = vfio_add(part, i);
	if (ret) {
		mgmt_pdesc_drop_device(d, i);
		return ret;
	}
	pr_info("partition '%s': pci " PCI_FMT " assigned by the management partition", d->h.name,
		PCI_ARGS(KEEL_PCI_ADDR_SEG(addr), KEEL_PCI_ADDR_BDF(addr)));
	return KEEL_OK;
}

static s64 mgmt_pci_release(const struct vcpu *vcpu, u64 id, u64 addr)
{
	struct partition *part;
	s64 ret = mgmt_pci_target(vcpu, id, addr, &part);
	struct pdesc *d;
	int i;

	if (ret)
		return ret;
	d = &part->desc;
	i = mgmt_pci_entry(d, (u32)addr);
	if (i < 0)
		return -KEEL_ENOENT;
	/* Devices keep the slot their entry has (virtio/devices.c): only PCI entries may move. */
	for (u32 j = (u32)i + 1; j < d->h.device_count; j++)
		if (d->device[j].type != KEEL_DEV_PCI)
			return -KEEL_ENOTSUP;
	ret = vfio_remove(part, pci_func_find(KEEL_PCI_ADDR_SEG(addr), KEEL_PCI_ADDR_BDF(addr)));
	if (ret)
		return ret;
	mgmt_pdesc_drop_device(d, (u32)i);
	part->cfg_dev_line = NULL;
	pr_info("partition '%s': pci " PCI_FMT " released by the management partition", d->h.name,
		PCI_ARGS(KEEL_PCI_ADDR_SEG(addr), KEEL_PCI_ADDR_BDF(addr)));
	return KEEL_OK;
}

/* ---- dispatch ----------------------------------------------------------- */

static s64 mgmt_dispatch(struct vcpu *vcpu, u32 nr, const u64 a[6], u64 r[3])
{
	switch (nr) {
	case KEEL_HC_MGMT_HOST_INFO:
		return mgmt_host_info(vcpu, a[0], a[1], r);
	case KEEL_HC_MGMT_LIST:
		return mgmt_list(vcpu, a[0], a[1], r);
	case KEEL_HC_MGMT_CREATE:
		return mgmt_create(vcpu, a[0], a[1], r);
	case KEEL_HC_MGMT_LOAD:
		return mgmt_load(vcpu, a[0], a[1]);
	case KEEL_HC_MGMT_START:
		return mgmt_start(vcpu, a[0]);
	case KEEL_HC_MGMT_STOP:
		return mgmt_stop(vcpu, a[0], a[1], a[2]);
	case KEEL_HC_MGMT_PAUSE:
		return mgmt_pause(vcpu, a[0], true);
	case KEEL_HC_MGMT_RESUME:
		return mgmt_pause(vcpu, a[0], false);
	case KEEL_HC_MGMT_DESTROY:
		return mgmt_destroy(vcpu, a[0]);
	case KEEL_HC_MGMT_STATS:
		return mgmt_stats(vcpu, a[0], a[1], a[2], r);
	case KEEL_HC_MGMT_CONSOLE_READ:
		return mgmt_console_read(vcpu, a[0], a[1], r);
	case KEEL_HC_MGMT_CONSOLE_WRITE:
		return mgmt_console_write(vcpu, a[0], a[1], a[2], r);
	case KEEL_HC_MGMT_RESIZE:
		return mgmt_resize(vcpu, a[0], a[1], a[2]);
	case KEEL_HC_MGMT_PCI_LIST:
		return mgmt_pci_list(vcpu, a[0], a[1], r);
	case KEEL_HC_MGMT_PCI_ASSIGN:
		return mgmt_pci_assign(vcpu, a[0], a[1]);
	case KEEL_HC_MGMT_PCI_RELEASE:
		return mgmt_pci_release(vcpu, a[0], a[1]);
	case KEEL_HC_MGMT_NET_LIST:
		return mgmt_net_list(vcpu, a[0], a[1], r);
	case KEEL_HC_MGMT_BOOT_TIMELINE:
		return mgmt_boot_timeline(vcpu, a[0], a[1], r);
	case KEEL_HC_MGMT_MEASURE:
		return mgmt_measure(vcpu, a[0], a[1], a[2], r);
	case KEEL_HC_MGMT_TPM:
		return mgmt_tpm(vcpu, a[0], a[1], r);
	case KEEL_HC_MGMT_WATCH:
		return mgmt_watch(vcpu, a[0], r);
	default:
		return -KEEL_ENOSYS;
	}
}

s64 mgmt_call(struct vcpu *vcpu, u32 nr, const u64 a[6], u64 r[3])
{
	unsigned long flags = spin_lock_irqsave(&mgmt_lock);
	s64 ret = mgmt_dispatch(vcpu, nr, a, r);
	struct mgmt_after after = mgmt_after;

	mgmt_after = (struct mgmt_after){ NULL, MGMT_AFTER_NONE };
	spin_unlock_irqrestore(&mgmt_lock, flags);
	switch (after.kind) {
	case MGMT_AFTER_DESTROY:
		mgmt_destroy_finish(after.part);
		break;
	case MGMT_AFTER_PAUSE:
	case MGMT_AFTER_PAUSE_AGAIN:
		ret = mgmt_pause_finish(after.part, after.kind == MGMT_AFTER_PAUSE_AGAIN);
		break;
	}
	return ret;
}
