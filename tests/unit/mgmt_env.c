/* SPDX-License-Identifier: MIT */
/*
 * A host stand-in for what core/partition.c and core/mgmt.c call outside
 * themselves: no stage-2, no devices, a clock the test sets, kicks and
 * timers counted. Shared by test_mgmt and fuzz_mgmt.
 */
#include <stdlib.h>
#include <string.h>

#include <keel/arch.h>
#include <keel/elf.h>
#include <keel/hypercall.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/pmm.h>
#include <keel/timer.h>
#include <keel/vdev.h>
#include <keel/virtio.h>

#include "mgmt_env.h"

struct pcpu pcpus[KEEL_MAX_CPUS];
struct platform platform;
bool pcpus_ready;

s64 last_status;
u64 last_res[3];
u64 now_ns = 1000;
int kicks, timers_armed, control_requests;
u64 clock_step_ns;
u32 stuck_cpu = ~0u;
u32 last_control_request;
struct timer *armed_timer;
char input_seen[64];
size_t input_len;

/* ---- shims for what partition.c and mgmt.c call outside themselves ---- */

void arch_vcpu_hc_return(struct vcpu *v, s64 status, const u64 res[3])
{
	last_status = status;
	memcpy(last_res, res, sizeof(last_res));
}

u64 arch_time_ns(void)
{
	now_ns += clock_step_ns;
	return now_ns;
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
