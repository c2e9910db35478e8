/* SPDX-License-Identifier: MIT */
/*
 * Partitions and their vCPUs. A partition owns whole physical cores (one
 * vCPU pinned to each) and a few contiguous ranges of memory.
 */
#ifndef KEEL_PARTITION_H
#define KEEL_PARTITION_H

#include <arch/types.h>
#include <keel/abi.h>
#include <keel/boot_info.h>
#include <keel/conq.h>
#include <keel/exit.h>
#include <keel/hotmem.h>
#include <keel/irqwatch.h>
#include <keel/spinlock.h>
#include <keel/types.h>
#include <keel/vcpu.h>
#include <keel/vdev.h>

/*
 * The partition state machine. part_set_state() makes every change, under
 * one lock, and refuses a change from a state it was not asked to leave
 * (docs/internals.md has the diagram):
 *
 *   FREE -> BUILDING                 a slot taken (boot, CREATE)
 *   BUILDING -> CREATED | LOADED     built: managed (images to come) | loaded
 *   BUILDING -> FREE | STOPPED       the build or a restart failed
 *   CREATED -> BUILDING              START of a managed partition loads it
 *   LOADED -> RUNNING <-> PAUSED
 *   RUNNING | PAUSED -> STOPPING     a stop, from any CPU
 *   STOPPING -> STOPPED | BUILDING   the last vCPU out; BUILDING = restart
 *   CREATED | LOADED | STOPPED -> DESTROYING -> FREE
 *
 * BUILDING and DESTROYING belong to the one CPU doing the work: no other
 * path touches the partition's resources then, and management calls are
 * refused (-KEEL_EBUSY).
 */
enum part_state {
	PART_FREE = 0, /* slot unused */
	PART_BUILDING, /* one CPU takes resources or loads images */
	PART_CREATED, /* resources taken, nothing loaded */
	PART_LOADED, /* images in memory, vCPUs in entry state */
	PART_RUNNING,
	PART_PAUSED, /* vCPUs parked outside the guest until RESUME */
	PART_STOPPING, /* vCPUs asked to leave */
	PART_STOPPED, /* memory scrubbed and returned, cores idle */
	PART_DESTROYING, /* one CPU gives everything back, then FREE */
};

#define PS(state) BIT(PART_##state)

enum vcpu_state {
	VCPU_OFF = 0, /* not started (secondary) or stopped */
	VCPU_RUNNABLE,
};

/* Where a runnable vCPU is (vcpu->where, written by its own CPU only). */
enum vcpu_where {
	VCPU_ACTIVE = 0, /* in the guest, or in Keel handling an exit */
	VCPU_HALTED, /* waiting for an interrupt */
	VCPU_PARKED, /* out of the guest while its partition is PAUSED */
};

/* Requests another CPU makes of a vCPU; bits in vcpu->requests. */
#define VCPU_REQ_STOP (1u << 0)
/* A hot vCPU turned itself off: leave the run loop and give the core back. */
#define VCPU_REQ_RELEASE (1u << 1)
/* Raise the management event interrupt in this vCPU's partition (core/mgmt_watch.c). */
#define VCPU_REQ_EVENT (1u << 2)

struct partition;

struct vcpu {
	u32 index; /* within the partition: 0 = boot vCPU */
	u32 state; /* enum vcpu_state */
	u32 requests; /* VCPU_REQ_*, set by other CPUs, atomics only */
	u32 arch_ready; /* arch_vcpu_init done on its CPU */
	u32 reset_pending; /* enter at @boot on the next run */
	u32 where; /* enum vcpu_where; atomics only */
	u32 parked_gen; /* the part->pause_gen it last saw while parked; atomics only */
	/*
	 * Beyond the partition's cores (max_vcpus): on a core only while the
	 * guest has it on. @bound says it is (under part_state_lock); @pcpu is
	 * NULL before its first core and then names the last one it had.
	 */
	u16 hot;
	u16 bound;
	struct vcpu_entry boot; /* the entry state for reset_pending */
	struct partition *part;
	struct pcpu *pcpu;
	u64 exits[EXIT_KINDS]; /* by enum exit_kind; folded into the partition's at leave */
	u64 retry_since_ns; /* the first of an unbroken run of EXIT_RETRY (0: none) */
	struct irqwatch irqwatch; /* core/irqwatch.c, the boot CPU's only */
	struct vcpu_arch arch;
};

/* A run of guest-physical memory backed by contiguous host memory. */
struct mem_region {
	gpa_t gpa;
	hpa_t hpa;
	u64 size;
};

struct vfio_part;

struct partition {
	u32 id; /* slot number + 1 (0 is never a partition id) */
	u32 state; /* enum part_state */
	struct pdesc desc; /* as validated; the source of truth */
	/* Its images, by index in desc.image: boot modules or Keel-owned buffers. */
	const struct keel_boot_module *images[KEEL_PD_MAX_IMAGES];
	const struct keel_boot_module *kernel; /* = its KERNEL image */
	const struct keel_boot_module *initrd; /* = its INITRD image, or NULL */

	u32 vcpu_count;
	u32 vcpus_running; /* vCPUs still in the run loop; atomics only */
	struct vcpu *vcpus[KEEL_MAX_CPUS]; /* by vCPU index, in vcpu_mem */
	hpa_t vcpu_mem; /* its vCPUs, its own from the first build to DESTROY (0: none) */
	u64 vcpu_mem_size;

	u32 mem_count;
	u32 stop_reboot; /* restart after the stop completes */
	u32 stop_requested; /* a stop came while it was being built: do not start */
	u32 stop_asked; /* a STOP asked the guest to power off: a reboot ends in a stop */
	u32 restarts; /* in place, for a guest reboot, since the slot was taken */
	u32 rebuilding; /* BUILDING again for a guest reboot (not a first build) */
	u32 pause_gen; /* PAUSEs so far: a vCPU's parked answer names the one it saw */
	u32 vcpus_allowed; /* how many vCPUs may be on (RESIZE); kept across restarts */
	u64 hot_cpu_mask; /* cores its hot vCPUs hold now (part_state_lock) */
	u32 hot_on; /* hot vCPUs bound now (part_state_lock) */
	u32 pad5;
	struct mem_region mem[KEEL_MAX_MEM_REGIONS];
	struct hotmem hotmem; /* its hot-pluggable memory (size 0: none) */
	struct vfio_part *vfio; /* its PCI functions and DMA domain (vfio/assign.c), or NULL */
	const u32 *cfg_dev_line; /* keel.cfg line of each device entry (boot), or NULL */
	char stop_reason[KEEL_STOP_REASON_MAX]; /* why it is stopping, for the final log line */
	u32 stop_cause; /* KEEL_STOP_CAUSE_*, set with stop_reason */
	u32 warned_pio; /* a port I/O warning was printed */
	u32 warned_fault; /* a fault delivered to the guest was reported (on_fault = deliver) */

	struct spinlock lock;
	u32 con_len; /* bytes in con_line */
	char con_line[200];
	struct conq_bucket con_bucket; /* its share of the UART (core/console.c) */
	u64 con_dropped; /* console bytes over its share, never printed */
	u64 con_drop_reported; /* ... of which a console line told */
	u64 con_drop_report_ns;

	u32 vdev_count;
	u32 pad1;
	struct vdev *vdevs[KEEL_MAX_VDEVS];
	/*
	 * Console input for this partition (set by its virtio console), or NULL.
	 * Called and changed under con_in_lock; it must not take part->lock.
	 */
	void (*con_input)(struct partition *part, const char *buf, size_t len);
	struct spinlock con_in_lock;
	u32 con_ready; /* its guest has posted receive buffers: it reads input */
	u32 pad2;

	u64 hypercalls;
	u64 denied; /* management calls refused */
	u64 exits_done[EXIT_KINDS]; /* exits of vCPUs that have left (atomics only) */

	/* Management (core/mgmt.c); all zeroed when the slot is taken. */
	u32 held; /* created by a management call: the slot stays until DESTROY */
	u32 destroy_frees; /* DESTROYING: its memory is still to be given back */
	u64 start_ns; /* arch_time_ns() at part_start */
	u64 first_entry_ns; /* ... at this run's first guest entry of vCPU 0 (0: not yet) */
	u64 run; /* this run's number, unique since boot (part_run): a restart is a new run */
	u64 stop_ns; /* ... when the last vCPU left (0 while it runs) */
	u64 con_head; /* console bytes ever written: the next ring position */
	u64 events; /* state changes, console writes, resize steps (core/mgmt_watch.c) */
	char con_ring[KEEL_CONSOLE_RING_SIZE]; /* the last bytes, at con_head % size */

	struct part_arch arch;
};

extern struct partition partitions[KEEL_MAX_PARTITIONS];

/* Take cores and memory for @desc (already checked by pdesc_check_all). */
int part_create(const struct pdesc *desc, const struct keel_boot_info *bi, struct partition **out);

/*
 * part_create with the images given directly (management: Keel-owned image
 * buffers). Fails with -KEEL_EBUSY if a core of @desc belongs to a partition
 * that is not stopped, -KEEL_ENOSPC with no free slot, -KEEL_ENOMEM.
 */
/*
 * Point @part's images (by index in its description) at @images, and its
 * kernel and initrd at the images with those roles.
 */
void part_set_images(struct partition *part,
		     const struct keel_boot_module *const images[KEEL_PD_MAX_IMAGES]);

int part_create_images(const struct pdesc *desc,
		       const struct keel_boot_module *const images[KEEL_PD_MAX_IMAGES],
		       struct partition **out);

/*
 * Destroy a partition that is not running (created, loaded or stopped), in
 * two steps so the scrub of its memory runs outside the management lock:
 * begin makes it DESTROYING, owned by the calling CPU (-KEEL_EBUSY in any
 * other state); finish scrubs and returns its memory and frees the slot.
 */
int part_destroy_begin(struct partition *part);
void part_destroy_finish(struct partition *part);

/*
 * PAUSE's acknowledgement: wait until every running vCPU of @part has parked
 * (0, *waited_ns set), or the partition left PAUSED meanwhile (0). After
 * @timeout_ns: -KEEL_ETIMEDOUT, and the log names the vCPU and its CPU.
 */
int part_wait_parked(struct partition *part, u64 timeout_ns, u64 *waited_ns);

/* How many of @part's running vCPUs are parked and halted, now. */
void part_vcpu_where(const struct partition *part, u32 *parked, u32 *halted);

/*
 * Park (@pause) or release the vCPUs of a running partition; state is kept.
 * 0, or -KEEL_EBUSY if it was not running (pause) or paused (resume).
 */
int part_set_paused(struct partition *part, bool pause);

/*
 * A managed partition in CREATED: load its images (CREATED -> BUILDING ->
 * LOADED, or back to CREATED on error). -KEEL_EBUSY in another state.
 */
int part_load_created(struct partition *part);

/* Hand the partition's vCPUs to their CPUs: LOADED -> RUNNING, else -KEEL_EINVAL. */
int part_start(struct partition *part);

/* Exits by kind of the partition's whole life so far (vCPUs running or not). */
void part_exit_counts(const struct partition *part, u64 out[EXIT_KINDS]);

/*
 * Stop @part from any CPU: every vCPU is asked to leave; the last one out
 * scrubs and returns the memory and prints @reason. @cause (KEEL_STOP_CAUSE_*)
 * is what the management ABI reports. If @reboot and the partition allows
 * it, it is loaded and started again instead.
 */
void part_stop(struct partition *part, u32 cause, const char *reason, bool reboot);

/*
 * STOP without FORCE, under part->lock. Running or paused: PART_ASK_GUEST,
 * the caller asks the guest to power off; from now until it stops, a reboot
 * by the guest ends it instead of restarting it. Going down or being built
 * again for its guest's reboot: PART_ASK_ANSWERED, that reboot answers the
 * STOP, so no restart follows, and it stops as the guest's own act. Any
 * other state: PART_ASK_NOTHING, nothing was changed.
 */
enum part_ask { PART_ASK_NOTHING, PART_ASK_GUEST, PART_ASK_ANSWERED };
enum part_ask part_stop_ask(struct partition *part);

/* Stop the partition that @vcpu belongs to because of what it did. */
void part_stop_fault(struct vcpu *vcpu, const char *fmt, ...) __printf(2, 3);

struct partition *part_by_id(u32 id);

/* Every core @part holds now: its own and its hot vCPUs'. */
static inline u64 part_cores_held(const struct partition *part)
{
	return part->desc.h.cpu_mask | __atomic_load_n(&part->hot_cpu_mask, __ATOMIC_RELAXED);
}

/* Its vCPUs on cores now: one per core of its own, plus the hot ones bound. */
u32 part_vcpus_on(const struct partition *part);

/*
 * A hot vCPU the guest powers on (aarch64: PSCI CPU_ON): bind it to a free
 * core, so vcpu_start can hand it there. -KEEL_EBUSY if it has one,
 * -KEEL_EPERM if as many as allowed are on, -KEEL_ENOSPC if no core is
 * free, -KEEL_EINVAL if the partition is not running.
 */
int part_vcpu_bind(struct vcpu *v);

/* Undo part_vcpu_bind for a vCPU that was never started (the partition stopped meanwhile). */
void part_vcpu_unbind(struct vcpu *v);

/*
 * RESIZE of its vCPUs: let @n be on (1 .. its declared vCPUs). -KEEL_EINVAL
 * out of range or without hot vCPUs; -KEEL_ENOSPC if the cores it would take
 * are not free now (they are taken only when the guest powers vCPUs on).
 */
int part_set_vcpus_allowed(struct partition *part, u32 n);

/* The physical core of each logical CPU (the SMT rule), and [keel] smt_split. */
const u64 *part_cpu_cores(void);
u32 part_smt_policy(void);

/* Create, load and start every partition of the boot config. */
void part_boot_all(const struct keel_boot_info *bi);
/* keel.cfg's SHA-256, as the loader read it (all zero before boot). */
const u8 *part_boot_cfg_sha256(void);
/* What the loader measured into the TPM (KEEL_TPM_NONE before the boot info). */
const struct keel_tpm_report *part_boot_tpm(void);

/*
 * The one way to change @part->state: from a state in the mask @from
 * (PS(RUNNING) | PS(PAUSED)...) to @to. False, and nothing changed, if the
 * partition was in none of them.
 */
bool part_set_state(struct partition *part, u32 from, u32 to);

/*
 * Call @fn on each RUNNING partition with its state held (part_state_lock,
 * interrupts off), so its vCPUs stay where they are: for short reads only.
 */
void part_each_running(void (*fn)(struct partition *part, void *arg), void *arg);

/* The same for @part alone, if it is RUNNING in run @run. True if @fn ran. */
bool part_if_running(struct partition *part, u64 run, void (*fn)(struct partition *part, void *arg),
		     void *arg);

/* Number of partitions loaded, running or stopping. */
u32 part_active_count(void);

/* Called by a vCPU's CPU when the vCPU has left its run loop for good. */
void part_vcpu_left(struct vcpu *vcpu);

#endif /* KEEL_PARTITION_H */
