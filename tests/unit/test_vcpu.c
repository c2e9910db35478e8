/* SPDX-License-Identifier: MIT */
/*
 * core/vcpu.c's run loop and exit dispatch on the host, with a scripted
 * arch: what a run of EXIT_RETRY (a stage-2 fault on the partition's own RAM
 * while another CPU changes its mapping) does to the partition. A retry is
 * invisible to the guest and to Keel's log; a run of them that lasts a second
 * is RAM Keel failed to map, and stops the partition with that said.
 */
#include <stdlib.h>
#include <string.h>
#include <keel/exit.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/vcpu.h>
#include <keel/vdev.h>

#include "mgmt_env.h"
#include "unit.h"

#define POOL (64ull << 20)
#define RAM_GPA (KEEL_GUEST_RAM_BASE + 0x1000)
#define STEPS 4096

static void *pool;
static struct vm_exit script[STEPS];
static u32 script_len, script_pos;
static struct partition *part;
static u64 free_at_start;
static u32 pause_at = ~0u; /* the script step before which a PAUSE comes */
static char calls[64]; /* save, wipe, idle, restore: S W I R, in order */
static u32 ncalls;

static void called(char c)
{
	if (ncalls < sizeof(calls) - 1)
		calls[ncalls++] = c;
}

/* ---- the arch, scripted ---- */

void arch_vcpu_run(struct vcpu *v, struct vm_exit *exit)
{
	if (script_pos == pause_at) {
		pause_at = ~0u;
		CHECK_EQ(part_set_paused(v->part, true), 0);
	}
	if (script_pos < script_len) {
		*exit = script[script_pos++];
		return;
	}
	/* The script is over: stop as a management STOP would. */
	memset(exit, 0, sizeof(*exit));
	part_stop(v->part, KEEL_STOP_CAUSE_FORCED, "the script is over", false);
}

int arch_vcpu_init(struct vcpu *v)
{
	return 0;
}

void arch_vcpu_reset(struct vcpu *v, const struct vcpu_entry *e)
{
}

bool arch_vcpu_irq_pending(struct vcpu *v)
{
	return true;
}

void arch_vcpu_halt_audit(struct vcpu *v)
{
	(void)v;
}

/* A parked vCPU idles: the third time, RESUME comes. */
void arch_cpu_idle(void)
{
	struct vcpu *v = part->vcpus[0];

	called('I');
	CHECK_EQ(v->where, VCPU_PARKED);
	CHECK_EQ(v->parked_gen, part->pause_gen);
	if (ncalls >= 5)
		CHECK_EQ(part_set_paused(part, false), 0);
}

void arch_vcpu_save(struct vcpu *v)
{
	called('S');
}

void arch_vcpu_wipe(struct vcpu *v)
{
	called('W');
}

void arch_vcpu_restore(struct vcpu *v)
{
	called('R');
	CHECK(v->where != VCPU_PARKED); /* not counted as parked once it is on its way back */
}

void arch_vcpu_io_return(struct vcpu *v, u64 value)
{
}

bool arch_port_is_probe(u16 port)
{
	return false;
}

const char *arch_vcpu_deliver_fault(struct vcpu *v, const struct vm_exit *exit)
{
	CHECK(false); /* no hole is touched here */
	return NULL;
}

void hypercall_handle(struct vcpu *v, const struct vm_exit *exit)
{
}

void timer_run_expired(void)
{
}

struct vdev *vdev_find(const struct partition *p, u32 space, u64 addr, u64 len)
{
	return NULL;
}

/* ---- helpers ---- */

static void add(u32 kind, u32 n)
{
	while (n-- && script_len < STEPS) {
		struct vm_exit *e = &script[script_len++];

		memset(e, 0, sizeof(*e));
		e->kind = kind;
		e->pc = 0x40000800;
		if (kind == EXIT_RETRY)
			e->mmio.gpa = RAM_GPA;
	}
}

/* Run the partition's one vCPU through the script; how many exits it took. */
static u32 run(u64 step_ns)
{
	struct vcpu *v = part->vcpus[0];

	CHECK(part_set_state(part, PS(LOADED) | PS(STOPPED), PART_RUNNING));
	memset(v->exits, 0, sizeof(v->exits));
	v->requests = 0;
	v->state = VCPU_RUNNABLE;
	v->arch_ready = 1;
	v->retry_since_ns = 0;
	part->vcpus_running = 1;
	part->stop_requested = 0;
	part->stop_cause = KEEL_STOP_CAUSE_NONE;
	clock_step_ns = step_ns;
	script_pos = 0;
	vcpu_run_loop(v);
	CHECK_EQ(part->state, PART_STOPPED);
	script_len = 0;
	return script_pos;
}

static void setup(void)
{
	const struct keel_boot_module *images[KEEL_PD_MAX_IMAGES] = { NULL };
	struct pdesc d;

	pool = mgmt_env_machine(POOL);
	unit_this_pcpu = &pcpus[1];
	free_at_start = pmm_free_bytes();
	memset(&d, 0, sizeof(d));
	d.h.version = KEEL_PDESC_VERSION;
	d.h.flags = KEEL_PD_REBOOT_STOP;
	strcpy(d.h.name, "vm");
	d.h.cpu_mask = 0x2;
	d.h.mem_count = 1;
	d.mem[0] = (struct keel_pd_mem){ .type = KEEL_PD_MEM_RAM, .size = 4ull << 20 };
	CHECK_EQ(part_create_images(&d, images, &part), 0);
	CHECK(part_set_state(part, PS(BUILDING), PART_LOADED));
}

/* ---- tests ---- */

/* Retries, a thousand in a row within a millisecond: nothing happens to the guest. */
static void test_retries_are_invisible(void)
{
	add(EXIT_RETRY, 1000);
	add(EXIT_NONE, 1);
	CHECK_EQ(run(1000), 1001);
	CHECK_EQ(part->stop_cause, KEEL_STOP_CAUSE_FORCED); /* the script's stop, no fault */
	CHECK_EQ(part->exits_done[EXIT_RETRY], 1000);
}

/* A run of retries broken every half second by an exit that got through: never stopped. */
static void test_broken_runs_never_stop(void)
{
	u32 i;

	for (i = 0; i < 8; i++) {
		add(EXIT_RETRY, 50);
		add(EXIT_HYPERCALL, 1);
	}
	CHECK_EQ(run(10ull * 1000 * 1000), 8 * 51); /* 10 ms per exit: 4 s in all */
	CHECK_EQ(part->stop_cause, KEEL_STOP_CAUSE_FORCED);
}

/*
 * Interrupts between retries are no progress (the guest is still at the
 * faulting access): a second of that stops it too, not a livelock.
 */
static void test_interrupts_do_not_break_a_run(void)
{
	u32 i;

	for (i = 0; i < 150; i++) {
		add(EXIT_RETRY, 1);
		add(EXIT_INTERRUPT, 1);
	}
	CHECK_EQ(run(10ull * 1000 * 1000), 201); /* the 101st retry, a second after the first */
	CHECK_EQ(part->stop_cause, KEEL_STOP_CAUSE_FAULT);
}

/* One unbroken run for a second: the partition stops, naming the address and Keel. */
static void test_a_second_of_retries_stops_it(void)
{
	add(EXIT_RETRY, 150);
	/* The first at 0, the 101st a second later: that one stops it. */
	CHECK_EQ(run(10ull * 1000 * 1000), 101);
	CHECK_EQ(part->stop_cause, KEEL_STOP_CAUSE_FAULT);
	CHECK(strstr(part->stop_reason, "Keel error: its RAM at guest-physical 0x40001000 "
					"faulted for 1000 ms") != NULL);
}

/*
 * PAUSE: the vCPU saves its state and wipes its core before it says parked,
 * idles parked (answering this PAUSE's number), and restores at RESUME
 * before it runs the guest again.
 */
static void test_park_saves_and_restores(void)
{
	add(EXIT_NONE, 2);
	pause_at = 1;
	ncalls = 0;
	CHECK_EQ(run(0), 2);
	calls[ncalls] = '\0';
	CHECK(!strcmp(calls, "SWIIIR"));
	CHECK_EQ(part->vcpus[0]->parked_gen, part->pause_gen);
}

int main(void)
{
	setup();
	test_retries_are_invisible();
	test_broken_runs_never_stop();
	test_a_second_of_retries_stops_it();
	test_interrupts_do_not_break_a_run();
	test_park_saves_and_restores();
	CHECK_EQ(part_destroy_begin(part), 0);
	part_destroy_finish(part);
	CHECK_EQ(pmm_free_bytes(), free_at_start);
	free(pool);
	return unit_done("test_vcpu");
}
