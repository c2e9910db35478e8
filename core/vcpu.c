/* SPDX-License-Identifier: MIT */
/*
 * The vCPU run loop and the arch-neutral exit dispatcher: every generic exit
 * ends in an emulation, a result for the guest, or its partition stopped.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/hypercall.h>
#include <keel/hmap.h>
#include <keel/lib.h>
#include <keel/mgmt_watch.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/timeline.h>
#include <keel/timer.h>
#include <keel/vcpu.h>
#include <keel/vfio.h>

/* An unbroken run of EXIT_RETRY longer than this is RAM left unmapped, not a change in flight. */
#define VCPU_RETRY_NS 1000000000ull

static const char *vcpu_fault_text(u32 reason)
{
	switch (reason) {
	case FAULT_TRIPLE:
		return "triple fault";
	case FAULT_ILLEGAL:
		return "illegal or unsupported instruction";
	case FAULT_SYSREG:
		return "access to a system register Keel does not allow";
	case FAULT_DECODE:
		return "memory access Keel cannot decode";
	case FAULT_INTERNAL:
		return "vCPU state refused by the hardware";
	case FAULT_FETCH:
		return "instruction fetch outside its memory";
	default:
		return "unexpected exit";
	}
}

static bool vcpu_io_size_ok(u32 size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

/* Hand an access to the device behind it; false if the device refused it. */
static bool vcpu_vdev_access(struct vcpu *vcpu, struct vdev *dev, u64 addr, u32 size, bool write,
			     u64 data)
{
	u64 value = 0;
	int ret;

	if (write)
		return dev->ops->write(dev, vcpu, addr - dev->base, size, data) == 0;
	ret = dev->ops->read(dev, vcpu, addr - dev->base, size, &value);
	if (ret)
		return false;
	if (size < 8)
		value &= (1ull << (8 * size)) - 1;
	arch_vcpu_io_return(vcpu, value);
	return true;
}

/*
 * An access that neither RAM nor a device completes (@what says which and
 * where). on_fault = deliver: the arch answers it as the hardware would, and
 * the first one of the partition is reported; on_fault = stop, or an answer
 * the arch cannot give, stops the partition with @what as the report.
 */
static void vcpu_bad_access(struct vcpu *vcpu, const struct vm_exit *exit, const char *what)
{
	struct partition *part = vcpu->part;
	const char *got = NULL;

	if (!(part->desc.h.flags & KEEL_PD_FAULT_STOP))
		got = arch_vcpu_deliver_fault(vcpu, exit);
	if (!got) {
		part_stop_fault(vcpu, "%s", what);
		return;
	}
	if (!part->warned_fault) {
		part->warned_fault = 1;
		pr_warn("partition '%s': %s: the guest got %s (on_fault = deliver; said once)",
			part->desc.h.name, what, got);
	}
}

/*
 * The pages of a passed-through function's MSI-X table and PBA (vfio): not
 * a device model of the partition, but Keel's to answer all the same.
 */
static bool vcpu_vfio_access(struct vcpu *vcpu, const struct vm_exit *exit)
{
	u32 size = exit->mmio.size;
	u64 value = exit->mmio.data;

	if (!READ_ONCE(vcpu->part->vfio) || !vcpu_io_size_ok(size) ||
	    !vfio_bar_access(vcpu->part, exit->mmio.gpa, size, exit->mmio.write, &value))
		return false;
	if (!exit->mmio.write)
		arch_vcpu_io_return(vcpu, size < 8 ? value & ((1ull << (8 * size)) - 1) : value);
	return true;
}

static void vcpu_handle_mmio(struct vcpu *vcpu, const struct vm_exit *exit)
{
	u32 size = exit->mmio.size;
	struct vdev *dev = vdev_find(vcpu->part, VDEV_MMIO, exit->mmio.gpa, size ? size : 1);
	const char *rw = exit->mmio.write ? "write" : "read";
	unsigned long long gpa = exit->mmio.gpa, pc = exit->pc;
	char what[160];

	if (!dev && vcpu_vfio_access(vcpu, exit))
		return;
	if (!dev) {
		snprintf(what, sizeof(what),
			 "%s of guest-physical address 0x%llx outside its memory at pc 0x%llx", rw,
			 gpa, pc);
		vcpu_bad_access(vcpu, exit, what);
		return;
	}
	/* The device is there, Keel cannot tell what the instruction does: not the guest's fault. */
	if (!vcpu_io_size_ok(size)) {
		part_stop_fault(vcpu,
				"%s access to %s at 0x%llx that Keel cannot decode at pc 0x%llx",
				rw, dev->name, gpa, pc);
		return;
	}
	if (!vdev_find(vcpu->part, VDEV_MMIO, exit->mmio.gpa, size) ||
	    !vcpu_vdev_access(vcpu, dev, exit->mmio.gpa, size, exit->mmio.write, exit->mmio.data)) {
		snprintf(what, sizeof(what), "%u-byte %s of %s at 0x%llx refused at pc 0x%llx",
			 size, rw, dev->name, gpa, pc);
		vcpu_bad_access(vcpu, exit, what);
	}
}

static void vcpu_handle_pio(struct vcpu *vcpu, const struct vm_exit *exit)
{
	struct partition *part = vcpu->part;
	u32 size = exit->pio.size;
	struct vdev *dev = vcpu_io_size_ok(size) && size <= 4
				   ? vdev_find(part, VDEV_PIO, exit->pio.port, size)
				   : NULL;

	if (dev &&
	    vcpu_vdev_access(vcpu, dev, exit->pio.port, size, exit->pio.write, exit->pio.data))
		return;
	/* No device there: reads see a floating bus, writes go nowhere. */
	if (!part->warned_pio && !arch_port_is_probe(exit->pio.port)) {
		part->warned_pio = 1;
		pr_warn("partition '%s': port 0x%x %s ignored (no device there; said once)",
			part->desc.h.name, exit->pio.port, exit->pio.write ? "write" : "read");
	}
	if (!exit->pio.write)
		arch_vcpu_io_return(vcpu, ~0ull >> (64 - 8 * MIN(exit->pio.size, (u8)8)));
}

static void vcpu_handle_fetch_fault(struct vcpu *vcpu, const struct vm_exit *exit)
{
	char what[160];

	snprintf(
		what, sizeof(what),
		"instruction fetch from guest-physical address 0x%llx outside its memory at pc 0x%llx",
		(unsigned long long)exit->fault.addr, (unsigned long long)exit->pc);
	vcpu_bad_access(vcpu, exit, what);
}

static void vcpu_handle_shutdown(struct vcpu *vcpu, const struct vm_exit *exit)
{
	switch (exit->fault.reason) {
	case FAULT_POWEROFF:
		part_stop(vcpu->part, KEEL_STOP_CAUSE_GUEST, "powered off by the guest", false);
		break;
	case FAULT_RESET:
		part_stop(vcpu->part, KEEL_STOP_CAUSE_GUEST, "reset by the guest", true);
		break;
	default:
		part_stop_fault(vcpu, "%s at pc 0x%llx", vcpu_fault_text(exit->fault.reason),
				(unsigned long long)exit->pc);
		break;
	}
}

/*
 * The guest waits for an interrupt: sleep until one is pending for it, its
 * partition is stopping, a request needs its CPU (VCPU_REQ_EVENT), or a
 * hypervisor timer (e.g. its timer model) fires.
 */
static void vcpu_halt(struct vcpu *vcpu)
{
	__atomic_store_n(&vcpu->where, VCPU_HALTED, __ATOMIC_RELEASE);
	while (!(__atomic_load_n(&vcpu->requests, __ATOMIC_ACQUIRE) &
		 (VCPU_REQ_STOP | VCPU_REQ_RELEASE | VCPU_REQ_EVENT)) &&
	       __atomic_load_n(&vcpu->part->state, __ATOMIC_ACQUIRE) != PART_PAUSED &&
	       !arch_vcpu_irq_pending(vcpu)) {
		arch_cpu_idle();
		timer_run_expired();
		arch_vcpu_halt_audit(vcpu);
	}
	__atomic_store_n(&vcpu->where, VCPU_ACTIVE, __ATOMIC_RELEASE);
}

/*
 * A stage-2 fault on the partition's own RAM: the guest runs the access again,
 * which finds the entry valid once the CPU changing it is done (a window of a
 * few instructions). One that keeps faulting for VCPU_RETRY_NS is not a change
 * in flight but RAM Keel failed to map: the partition is stopped with that
 * said, rather than spinning for ever.
 */
static void vcpu_retry(struct vcpu *vcpu, const struct vm_exit *exit)
{
	u64 now = arch_time_ns();

	if (!vcpu->retry_since_ns) {
		vcpu->retry_since_ns = now;
		return;
	}
	if (now - vcpu->retry_since_ns < VCPU_RETRY_NS)
		return;
	vcpu->retry_since_ns = 0;
	part_stop_fault(
		vcpu,
		"Keel error: its RAM at guest-physical 0x%llx faulted for %llu ms at pc 0x%llx",
		(unsigned long long)exit->mmio.gpa, (unsigned long long)(VCPU_RETRY_NS / 1000000),
		(unsigned long long)exit->pc);
}

static void vcpu_handle_exit(struct vcpu *vcpu, const struct vm_exit *exit)
{
	if (exit->kind < ARRAY_SIZE(vcpu->exits))
		vcpu->exits[exit->kind]++;
	/*
	 * The run of retries is broken only by an exit that shows the guest got
	 * on: an interrupt (or nothing) taken at the faulting instruction does not.
	 */
	if (unlikely(vcpu->retry_since_ns) && exit->kind != EXIT_RETRY &&
	    exit->kind != EXIT_INTERRUPT && exit->kind != EXIT_NONE)
		vcpu->retry_since_ns = 0;
	/* The most frequent exit first, ahead of the switch's compare tree. */
	if (likely(exit->kind == EXIT_HYPERCALL)) {
		hypercall_handle(vcpu, exit);
		return;
	}
	switch (exit->kind) {
	case EXIT_NONE:
	case EXIT_INTERRUPT:
	case EXIT_EXCEPTION:
		break;
	case EXIT_HYPERCALL:
		hypercall_handle(vcpu, exit);
		break;
	case EXIT_MMIO:
		vcpu_handle_mmio(vcpu, exit);
		break;
	case EXIT_PIO:
		vcpu_handle_pio(vcpu, exit);
		break;
	case EXIT_HALT:
		vcpu_halt(vcpu);
		break;
	case EXIT_RETRY:
		vcpu_retry(vcpu, exit);
		break;
	case EXIT_SHUTDOWN:
		vcpu_handle_shutdown(vcpu, exit);
		break;
	case EXIT_FAULT:
		if (exit->fault.reason == FAULT_FETCH) {
			vcpu_handle_fetch_fault(vcpu, exit);
			break;
		}
		/* fall through */
	default:
		part_stop_fault(vcpu, "%s (code 0x%llx, address 0x%llx) at pc 0x%llx",
				vcpu_fault_text(exit->fault.reason),
				(unsigned long long)exit->fault.code,
				(unsigned long long)exit->fault.addr, (unsigned long long)exit->pc);
		break;
	}
}

/*
 * PAUSE (core/mgmt.c): the vCPU stays out of the guest until RESUME or a
 * stop request, its whole state in memory (arch_vcpu_save) and none of it
 * left in the CPU's registers (arch_vcpu_wipe), as snapshots and moving a
 * vCPU to another core will need. Its where is PAUSE's acknowledgement
 * (part_wait_parked): once it says parked, the state is saved.
 */
static void vcpu_park(struct vcpu *vcpu)
{
	struct partition *part = vcpu->part;

	arch_vcpu_save(vcpu);
	arch_vcpu_wipe(vcpu);
	__atomic_store_n(&vcpu->where, VCPU_PARKED, __ATOMIC_RELEASE);
	while (__atomic_load_n(&part->state, __ATOMIC_ACQUIRE) == PART_PAUSED &&
	       !(__atomic_load_n(&vcpu->requests, __ATOMIC_ACQUIRE) & VCPU_REQ_STOP)) {
		/* Parked for every PAUSE it sees here (part_wait_parked). */
		__atomic_store_n(&vcpu->parked_gen,
				 __atomic_load_n(&part->pause_gen, __ATOMIC_ACQUIRE),
				 __ATOMIC_RELEASE);
		arch_cpu_idle();
		timer_run_expired();
	}
	__atomic_store_n(&vcpu->where, VCPU_ACTIVE, __ATOMIC_RELEASE);
	arch_vcpu_restore(vcpu);
}

/* Run @vcpu on this CPU until its partition stops it. Interrupts off. */
void vcpu_run_loop(struct vcpu *vcpu)
{
	struct vm_exit exit;

	/* Stopped before it first ran: nothing to set up, straight out. */
	if (!vcpu->arch_ready &&
	    !(__atomic_load_n(&vcpu->requests, __ATOMIC_ACQUIRE) & VCPU_REQ_STOP)) {
		if (arch_vcpu_init(vcpu)) {
			part_stop_fault(vcpu, "no memory for the vCPU state");
			part_vcpu_left(vcpu);
			return;
		}
		vcpu->arch_ready = 1;
	}
	for (;;) {
		u32 req = __atomic_load_n(&vcpu->requests, __ATOMIC_ACQUIRE);

		/* Stopped, or a hot vCPU the guest turned off: its core goes back. */
		if (unlikely(req & (VCPU_REQ_STOP | VCPU_REQ_RELEASE | VCPU_REQ_EVENT))) {
			if (req & (VCPU_REQ_STOP | VCPU_REQ_RELEASE))
				break;
			mgmt_watch_deliver(vcpu);
		}
		if (unlikely(__atomic_load_n(&vcpu->part->state, __ATOMIC_ACQUIRE) ==
			     PART_PAUSED)) {
			vcpu_park(vcpu);
			continue;
		}
		if (unlikely(vcpu->reset_pending)) {
			arch_vcpu_reset(vcpu, &vcpu->boot);
			vcpu->reset_pending = 0;
			if (vcpu->index == 0) {
				WRITE_ONCE(vcpu->part->first_entry_ns, arch_time_ns());
				timeline_first_entry(vcpu->part);
			}
		}
		exit.kind = EXIT_NONE;
		arch_vcpu_run(vcpu, &exit);
		if (unlikely(__atomic_load_n(&hmap_window_epoch, __ATOMIC_ACQUIRE) !=
			     pcpu_this()->win_epoch))
			hmap_window_catch_up();
		vcpu_handle_exit(vcpu, &exit);
	}
	/* After this the vCPU may be reused (a restart): do not touch it again. */
	part_vcpu_left(vcpu);
}

int vcpu_start(struct vcpu *vcpu, const struct vcpu_entry *entry)
{
	struct partition *part = vcpu->part;
	unsigned long flags = spin_lock_irqsave(&part->lock);

	if (part->state != PART_RUNNING) {
		spin_unlock_irqrestore(&part->lock, flags);
		return -KEEL_EINVAL;
	}
	if (__atomic_load_n(&vcpu->state, __ATOMIC_ACQUIRE) != VCPU_OFF) {
		spin_unlock_irqrestore(&part->lock, flags);
		return -KEEL_EBUSY;
	}
	vcpu->boot = *entry;
	vcpu->reset_pending = 1;
	__atomic_fetch_add(&part->vcpus_running, 1, __ATOMIC_ACQ_REL);
	__atomic_store_n(&vcpu->state, VCPU_RUNNABLE, __ATOMIC_RELEASE);
	spin_unlock_irqrestore(&part->lock, flags);
	if (vcpu->pcpu != pcpu_this())
		pcpu_kick(vcpu->pcpu);
	return 0;
}
