/* SPDX-License-Identifier: MIT */
/*
 * Hypercall dispatch: decode (number, privilege, every argument checked,
 * guest data copied once into hypervisor memory), then perform.
 */
#include <keel/arch.h>
#include <keel/console.h>
#include <keel/guest_mem.h>
#include <keel/hypercall.h>
#include <keel/lib.h>
#include <keel/mgmt.h>
#include <keel/partition.h>

#define SMCCC_NOT_SUPPORTED (-1)
#define SMCCC_CALL_64 0x40000000u /* SMC64 (else SMC32) calling convention */

/* Console bytes are copied and printed in pieces of this size. */
#define HC_CONSOLE_CHUNK 256u

struct hc_result {
	s64 status;
	u64 r[3];
};

/*
 * Turn the raw function number into a Keel call number. On aarch64 the arch
 * passes only SMCCC IDs in the vendor-hypervisor range, and Keel's calls are
 * the SMC64 fast calls 0xC6000000 | nr; x86_64 guests pass nr itself.
 * Returns false for an ID outside Keel's range.
 */
static bool hc_decode_nr(const struct vm_exit *exit, u32 *nr)
{
	u64 fn = exit->hc.fn;

	if (exit->hc.smccc) {
		if ((fn & ~0xFFFFull) != KEEL_SMCCC_FN_BASE)
			return false;
		*nr = (u32)(fn & 0xFFFF);
		return true;
	}
	if (fn > 0xFFFF)
		return false;
	*nr = (u32)fn;
	return true;
}

/*
 * SMCCC's general queries of the vendor-hypervisor service: the SMC32 IDs
 * the specification defines (0x8600FFxx, what Linux asks), and the SMC64
 * forms Keel's ABI has always answered too.
 */
static bool hc_smccc_query(u64 fn, struct hc_result *res)
{
	switch (fn & ~(u64)SMCCC_CALL_64) {
	case KEEL_SMCCC_CALL_COUNT & ~SMCCC_CALL_64:
		res->status = KEEL_HC_NR_CALLS;
		return true;
	case KEEL_SMCCC_CALL_UID & ~SMCCC_CALL_64:
		res->status = KEEL_SMCCC_UID0;
		res->r[0] = KEEL_SMCCC_UID1;
		res->r[1] = KEEL_SMCCC_UID2;
		res->r[2] = KEEL_SMCCC_UID3;
		return true;
	case KEEL_SMCCC_REVISION & ~SMCCC_CALL_64:
		res->status = KEEL_ABI_VERSION_MAJOR;
		res->r[0] = KEEL_ABI_VERSION_MINOR;
		return true;
	default:
		return false;
	}
}

/* Not inlined, as hc_self_info: their buffers stay off every other call's stack frame. */
static __attribute__((noinline)) s64 hc_console_write(struct vcpu *vcpu, gpa_t gpa, u64 len)
{
	struct partition *part = vcpu->part;
	char buf[HC_CONSOLE_CHUNK];
	u64 off;

	if (len > KEEL_CONSOLE_WRITE_MAX)
		return -KEEL_E2BIG;
	if (!guest_range_is_ram(part, gpa, len))
		return -KEEL_EFAULT;
	for (off = 0; off < len; off += HC_CONSOLE_CHUNK) {
		u64 n = MIN(len - off, (u64)HC_CONSOLE_CHUNK);

		if (guest_copy_from(part, buf, gpa + off, n))
			return -KEEL_EFAULT;
		console_part_write(part, buf, n);
	}
	return KEEL_OK;
}

static void hc_fill_self_info(const struct vcpu *vcpu, struct keel_self_info *si)
{
	const struct partition *part = vcpu->part;
	u32 i;

	memset(si, 0, sizeof(*si));
	si->partition_id = part->id;
	si->flags = part->desc.h.flags;
	memcpy(si->name, part->desc.h.name, KEEL_NAME_MAX);
	si->name[KEEL_NAME_MAX - 1] = '\0';
	si->vcpu_count = part->vcpu_count;
	si->this_vcpu = vcpu->index;
	si->cpu_mask = part->desc.h.cpu_mask;
	si->region_count = MIN(part->mem_count, KEEL_MAX_MEM_REGIONS);
	for (i = 0; i < si->region_count; i++) {
		si->regions[i].gpa = part->mem[i].gpa;
		si->regions[i].size = part->mem[i].size;
	}
}

static __attribute__((noinline)) s64 hc_self_info(struct vcpu *vcpu, gpa_t gpa, u64 size,
						  u64 *written)
{
	struct keel_self_info si;
	u64 n = MIN(size, (u64)sizeof(si));

	if (size == 0)
		return -KEEL_EINVAL;
	if (!guest_range_is_ram(vcpu->part, gpa, n))
		return -KEEL_EFAULT;
	hc_fill_self_info(vcpu, &si);
	if (guest_copy_to(vcpu->part, gpa, &si, n))
		return -KEEL_EFAULT;
	*written = n;
	return KEEL_OK;
}

static bool hc_is_management(u32 nr)
{
	return nr >= KEEL_HC_MGMT_FIRST && nr <= KEEL_HC_MGMT_LAST;
}

/* A management call from a partition without the privilege: refuse and count. */
static s64 hc_refuse(struct vcpu *vcpu, u32 nr)
{
	struct partition *part = vcpu->part;

	part->denied++;
	if (part->denied <= 3)
		pr_warn("partition '%s': management call 0x%x refused: not the management partition (%llu refused so far)",
			part->desc.h.name, nr, (unsigned long long)part->denied);
	return -KEEL_EPERM;
}

/* What KEEL_HC_VERSION reports besides the ABI version. */
static u64 hc_features(const struct partition *part)
{
	return KEEL_FEAT_CONSOLE | KEEL_FEAT_SELF_INFO |
	       ((part->desc.h.flags & KEEL_PD_MANAGEMENT) ? KEEL_FEAT_MGMT : 0);
}

/*
 * Act on call @nr with the arguments @a (a copy of the guest's registers).
 * Returns false if the vCPU must not be resumed.
 */
static bool hc_perform(struct vcpu *vcpu, u32 nr, const u64 a[6], struct hc_result *res)
{
	struct partition *part = vcpu->part;

	switch (nr) {
	case KEEL_HC_CONSOLE_WRITE:
		res->status = hc_console_write(vcpu, a[0], a[1]);
		return true;
	case KEEL_HC_SELF_INFO:
		res->status = hc_self_info(vcpu, a[0], a[1], &res->r[0]);
		return true;
	case KEEL_HC_SHUTDOWN:
		part_stop(part, KEEL_STOP_CAUSE_GUEST, "shutdown requested by the guest", false);
		return false;
	case KEEL_HC_REBOOT:
		part_stop(part, KEEL_STOP_CAUSE_GUEST, "reboot requested by the guest", true);
		return false;
	default:
		if (!hc_is_management(nr))
			res->status = -KEEL_ENOSYS;
		else if (!(part->desc.h.flags & KEEL_PD_MANAGEMENT))
			res->status = hc_refuse(vcpu, nr);
		else
			res->status = mgmt_call(vcpu, nr, a, res->r);
		return true;
	}
}

/* What an ID outside Keel's calls gets, in the caller's convention. */
static s64 hc_unknown(const struct vm_exit *exit)
{
	return exit->hc.smccc ? SMCCC_NOT_SUPPORTED : -KEEL_ENOSYS;
}

/* Not one of Keel's calls: an SMCCC general query (function number 0xFFxx), or unknown. */
static __attribute__((noinline)) void hc_other(struct vcpu *vcpu, const struct vm_exit *exit)
{
	struct hc_result res = { 0 };

	if (!exit->hc.smccc || !hc_smccc_query(exit->hc.fn, &res))
		res.status = hc_unknown(exit);
	arch_vcpu_hc_return(vcpu, res.status, res.r[0], res.r[1], res.r[2]);
}

/* A call that works on buffers or partitions: its results through memory. */
static __attribute__((noinline)) void hc_dispatch(struct vcpu *vcpu, u32 nr,
						  const struct vm_exit *exit)
{
	struct hc_result res = { 0 };
	u64 a[6];

	arch_vcpu_hc_args(vcpu, a);
	if (!hc_perform(vcpu, nr, a, &res))
		return;
	if (unlikely(res.status == -KEEL_ENOSYS))
		res.status = hc_unknown(exit);
	arch_vcpu_hc_return(vcpu, res.status, res.r[0], res.r[1], res.r[2]);
}

/*
 * Unknown IDs answer in the caller's convention: SMCCC's NOT_SUPPORTED on
 * aarch64 (what firmware probing expects), -KEEL_ENOSYS on x86_64. The calls
 * that only answer from registers (VERSION, YIELD) do so here, with no frame
 * and nothing through memory; the rest go to hc_dispatch.
 */
void hypercall_handle(struct vcpu *vcpu, const struct vm_exit *exit)
{
	u32 nr;

	vcpu->part->hypercalls++;
	if (unlikely(!hc_decode_nr(exit, &nr) || (exit->hc.smccc && nr >= 0xff00))) {
		hc_other(vcpu, exit);
		return;
	}
	switch (nr) {
	case KEEL_HC_VERSION:
		arch_vcpu_hc_return(vcpu, KEEL_OK, KEEL_ABI_VERSION, hc_features(vcpu->part), 0);
		return;
	case KEEL_HC_YIELD:
		arch_vcpu_hc_return(vcpu, KEEL_OK, 0, 0, 0);
		return;
	default:
		hc_dispatch(vcpu, nr, exit);
		return;
	}
}
