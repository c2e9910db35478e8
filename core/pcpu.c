/* SPDX-License-Identifier: MIT */
/*
 * Physical CPUs: bringing the secondaries up, the IPI self-test, the per-CPU
 * loop that runs the one pinned vCPU, and stopping every CPU after a panic.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/hmap.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/timeline.h>
#include <keel/timer.h>
#include <keel/vcpu.h>

#define PCPU_START_TIMEOUT_NS 3000000000ull
#define PCPU_IPI_TIMEOUT_NS 1000000000ull

struct pcpu pcpus[KEEL_MAX_CPUS];
struct platform platform;
bool pcpus_ready;
static u32 pcpu_panicking;

void pcpu_kick(struct pcpu *cpu)
{
	if (READ_ONCE(cpu->state) == PCPU_ONLINE)
		arch_ipi_send(cpu);
}

void pcpu_ipi_handler(void)
{
	struct pcpu *cpu = pcpu_this();

	__atomic_fetch_add(&cpu->ipi_count, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&pcpu_panicking, __ATOMIC_ACQUIRE))
		arch_cpu_halt();
	arch_mmu_catch_up();
}

void pcpu_stop_others(void)
{
	u32 self = console_cpu_id(), i;

	__atomic_store_n(&pcpu_panicking, 1, __ATOMIC_RELEASE);
	for (i = 0; i < platform.cpu_count && i < KEEL_MAX_CPUS; i++)
		if (i != self && READ_ONCE(pcpus[i].state) == PCPU_ONLINE)
			arch_ipi_send(&pcpus[i]);
}

void pcpu_loop(void)
{
	struct pcpu *cpu = pcpu_this();

	for (;;) {
		struct vcpu *v = READ_ONCE(cpu->vcpu);

		/*
		 * Held, then read again: either part_free_vcpus sees it held and
		 * waits, or this CPU sees @vcpu already changed and lets it go.
		 */
		__atomic_store_n(&cpu->held, v, __ATOMIC_SEQ_CST);
		if (v && __atomic_load_n(&cpu->vcpu, __ATOMIC_SEQ_CST) != v)
			continue;
		/*
		 * Also a vCPU stopped before it ever ran: vcpu_run_loop sees the
		 * request and takes it out (part_vcpu_left), else its partition
		 * would stay STOPPING for ever.
		 */
		if (v && __atomic_load_n(&v->state, __ATOMIC_ACQUIRE) == VCPU_RUNNABLE) {
			vcpu_run_loop(v);
			continue;
		}
		__atomic_store_n(&cpu->held, NULL, __ATOMIC_RELEASE);
		/* Interrupts are off here, so a kick after the check still wakes us. */
		arch_cpu_idle();
		timer_run_expired();
	}
}

void pcpu_secondary_main(struct pcpu *cpu)
{
	__atomic_store_n(&cpu->state, PCPU_ONLINE, __ATOMIC_RELEASE);
	timeline_cpu_online(cpu->id);
	pr_info("cpu %u online (hwid 0x%llx)", cpu->id, (unsigned long long)cpu->hwid);
	pcpu_loop();
}

void panic_exception(const char *what, const struct arch_regs *regs)
{
	struct pcpu *cpu = pcpus_ready ? pcpu_this() : NULL;
	struct vcpu *v = cpu ? READ_ONCE(cpu->vcpu) : NULL;

	arch_irq_save();
	console_panic_mode();
	if (v && v->part)
		pr_err("PANIC: cpu %u: %s in the hypervisor (serving partition '%s')",
		       console_cpu_id(), what, v->part->desc.h.name);
	else
		pr_err("PANIC: cpu %u: %s in the hypervisor", console_cpu_id(), what);
	arch_regs_dump(regs);
	pcpu_stop_others();
	arch_cpu_halt();
}

/*
 * @cpu's own top-level table, and its stack in the stacks area below an
 * unmapped guard gap (so an overflow faults). Returns the stack top or 0.
 * The table first: it gives itself back if it fails, and a stack once
 * mapped is never unmapped, so it must be the last thing that can fail.
 */
static u64 pcpu_alloc_stack(struct pcpu *cpu)
{
	hpa_t base;
	u64 top;

	if (hmap_cpu_init(cpu))
		return 0;
	base = pmm_alloc(PCPU_STACK_SIZE, PAGE_SIZE);
	top = base ? hmap_map_stack(cpu->id, base, PCPU_STACK_SIZE) : 0;
	if (!top)
		pmm_free(base, PCPU_STACK_SIZE);
	return top;
}

static bool pcpu_wait_state(struct pcpu *cpu, u32 state, u64 timeout_ns)
{
	u64 start = arch_time_ns();

	while (__atomic_load_n(&cpu->state, __ATOMIC_ACQUIRE) != state) {
		if (arch_time_ns() - start > timeout_ns)
			return false;
		arch_cpu_relax();
	}
	return true;
}

static void pcpu_start_one(struct pcpu *cpu)
{
	u64 top = pcpu_alloc_stack(cpu);

	if (!top) {
		pr_err("cpu %u: no memory for its stack and tables", cpu->id);
		cpu->state = PCPU_FAILED;
		return;
	}
	cpu->stack_top = top;
	cpu->state = PCPU_STARTING;
	if (arch_cpu_start(cpu, top) || !pcpu_wait_state(cpu, PCPU_ONLINE, PCPU_START_TIMEOUT_NS)) {
		pr_err("cpu %u (hwid 0x%llx) did not come online; no partition can use it", cpu->id,
		       (unsigned long long)cpu->hwid);
		cpu->state = PCPU_FAILED;
	}
}

/* Send one IPI to every other online CPU and wait for each to take it. */
static u32 pcpu_ipi_selftest(void)
{
	u32 i, failed = 0;

	for (i = 1; i < platform.cpu_count; i++) {
		struct pcpu *cpu = &pcpus[i];
		u32 before = __atomic_load_n(&cpu->ipi_count, __ATOMIC_ACQUIRE);
		u64 start = arch_time_ns();

		if (cpu->state != PCPU_ONLINE)
			continue;
		arch_ipi_send(cpu);
		while (__atomic_load_n(&cpu->ipi_count, __ATOMIC_ACQUIRE) == before) {
			if (arch_time_ns() - start > PCPU_IPI_TIMEOUT_NS) {
				pr_err("cpu %u did not take an IPI", i);
				failed++;
				break;
			}
			arch_cpu_relax();
		}
	}
	return failed;
}

void pcpu_start_all(void)
{
	u32 i, online = 1;

	for (i = 1; i < platform.cpu_count; i++) {
		pcpus[i].id = i;
		pcpus[i].hwid = platform.cpu_hwid[i];
		pcpu_start_one(&pcpus[i]);
		if (pcpus[i].state == PCPU_ONLINE)
			online++;
	}
	if (pcpu_ipi_selftest())
		pr_warn("smp: IPIs are not reaching every CPU");
	pr_info("smp: %u of %u CPUs online, %s on all", online, platform.cpu_count,
		arch_virt_name());
}
