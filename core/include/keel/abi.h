/* SPDX-License-Identifier: MIT */
/*
 * Keel public ABI: hypercall numbers, error codes and the structures that cross
 * the guest/hypervisor boundary. Shared verbatim by the hypervisor, guests, the
 * Linux driver and keelctl: fixed-width fields, explicit padding, no pointers.
 */
#ifndef KEEL_ABI_H
#define KEEL_ABI_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdint.h>
#endif

/* Bump on any change of a number or layout below. */
#define KEEL_ABI_VERSION_MAJOR 0
#define KEEL_ABI_VERSION_MINOR 1
#define KEEL_ABI_VERSION ((KEEL_ABI_VERSION_MAJOR << 16) | KEEL_ABI_VERSION_MINOR)

/*
 * Hypercall transport.
 *
 * x86_64: VMCALL or VMMCALL (either works on either vendor). RAX = function
 * number, arguments in RDI, RSI, RDX, R10, R8, R9. On return RAX = status
 * (0 or -KEEL_E*), RDI, RSI, RDX = extra results where a call has
 * them. Every other register is preserved.
 *
 * aarch64: HVC #0 following the SMC Calling Convention (SMC64/HVC64 fast call,
 * owning entity 6 = vendor-specific hypervisor service). X0 = KEEL_SMCCC_FN(nr),
 * arguments in X1..X6. On return X0 = status, X1..X3 = extra results.
 * X4..X17 are preserved as SMCCC v1.1 requires.
 */
#define KEEL_SMCCC_FN_BASE 0xC6000000u
#define KEEL_SMCCC_FN(nr) (KEEL_SMCCC_FN_BASE | (uint32_t)(nr))
/* SMCCC generic queries in the vendor hypervisor range. */
#define KEEL_SMCCC_CALL_COUNT 0xC600FF00u
#define KEEL_SMCCC_CALL_UID 0xC600FF01u
#define KEEL_SMCCC_REVISION 0xC600FF03u
/* UID returned by KEEL_SMCCC_CALL_UID in X0..X3: "Keel" "HVSR" "-ABI" "v0.1" */
#define KEEL_SMCCC_UID0 0x6c65654bu
#define KEEL_SMCCC_UID1 0x52535648u
#define KEEL_SMCCC_UID2 0x4942412du
#define KEEL_SMCCC_UID3 0x312e3076u

/* Calls any partition may make. */
#define KEEL_HC_VERSION 0x00 /* -> status 0, r1 = KEEL_ABI_VERSION, r2 = features */
#define KEEL_HC_CONSOLE_WRITE 0x01 /* a0 = GPA, a1 = length (<= KEEL_CONSOLE_WRITE_MAX) */
#define KEEL_HC_SELF_INFO 0x02 /* a0 = GPA of struct keel_self_info, a1 = its size */
#define KEEL_HC_SHUTDOWN 0x03 /* stop the calling partition; does not return on success */
#define KEEL_HC_REBOOT 0x04 /* restart the calling partition from its images */
#define KEEL_HC_YIELD 0x05 /* give up the CPU until the next event */
#define KEEL_HC_NR_CALLS 0x06 /* first unassigned number */

/*
 * Management calls (create, load, start, stop... of other partitions) use
 * numbers in this range. From a partition without `management = yes` every
 * one of them returns -KEEL_EPERM and is counted.
 */
#define KEEL_HC_MGMT_FIRST 0x100
#define KEEL_HC_MGMT_LAST 0x1FF

/* Feature bits returned by KEEL_HC_VERSION in r2. */
#define KEEL_FEAT_CONSOLE (1u << 0)
#define KEEL_FEAT_SELF_INFO (1u << 1)

/*
 * Error numbers: fixed here, independent of any C library's errno (they match
 * Linux's). A call's status is 0 or the negated number, e.g. -KEEL_EFAULT.
 */
#define KEEL_OK 0
#define KEEL_EPERM 1 /* caller lacks the privilege for this call */
#define KEEL_ENOENT 2 /* no such partition or object */
#define KEEL_EIO 5
#define KEEL_E2BIG 7 /* a length or count is over its limit */
#define KEEL_ENOEXEC 8 /* not an image Keel can boot */
#define KEEL_ENOMEM 12 /* not enough free memory */
#define KEEL_EFAULT 14 /* an address is outside the caller's memory */
#define KEEL_EBUSY 16 /* a resource (core) is in use */
#define KEEL_EEXIST 17
#define KEEL_EINVAL 22 /* a malformed argument or reserved bit set */
#define KEEL_ENOSPC 28
#define KEEL_ENOSYS 38 /* unknown call number */

#define KEEL_CONSOLE_WRITE_MAX 4096u
#define KEEL_NAME_MAX 32u /* partition name, including the NUL */
#define KEEL_CMDLINE_MAX 1024u /* command line, including the NUL */
#define KEEL_MAX_CPUS 64u
#define KEEL_MAX_PARTITIONS 16u
#define KEEL_MAX_MEM_REGIONS 8u

/*
 * Partition description: the one flat form in which a partition reaches the
 * core, from keel.cfg at boot and (later) from a management call. Validated
 * by one validator in core (core/pdesc.c) before anything acts on it.
 */
#define KEEL_PDESC_VERSION 2u
#define KEEL_PD_AUTOSTART (1u << 0)
#define KEEL_PD_MANAGEMENT (1u << 1)
#define KEEL_PD_REBOOT_STOP (1u << 2) /* on_reboot = stop */
#define KEEL_PD_FLAGS_ALL (KEEL_PD_AUTOSTART | KEEL_PD_MANAGEMENT | KEEL_PD_REBOOT_STOP)
#define KEEL_NO_MODULE 0xffffffffu
#define KEEL_PART_MEM_ALIGN (2u << 20) /* memory sizes are multiples of 2 MiB */
#define KEEL_DISK_RO (1u << 0) /* the guest may not write the disk */
#define KEEL_DISK_FLAGS_ALL KEEL_DISK_RO

struct keel_part_desc {
	uint32_t version; /* KEEL_PDESC_VERSION */
	uint32_t flags; /* KEEL_PD_* */
	char name[KEEL_NAME_MAX]; /* [a-zA-Z0-9_-], NUL-terminated */
	uint64_t cpu_mask; /* logical CPU numbers owned, bit n = CPU n */
	uint64_t mem_size; /* bytes, multiple of KEEL_PART_MEM_ALIGN */
	uint32_t kernel_module; /* index into the boot modules */
	uint32_t initrd_module; /* or KEEL_NO_MODULE */
	uint32_t disk_module; /* virtio-blk backing image, or KEEL_NO_MODULE */
	uint32_t disk_flags; /* KEEL_DISK_* */
	char cmdline[KEEL_CMDLINE_MAX]; /* NUL-terminated */
};

/*
 * Guest entry contract (see docs/guest-abi.md). Keel writes one
 * struct keel_guest_info at KEEL_GUEST_INFO_OFFSET from the start of the
 * partition's RAM, followed by the command line, and enters vCPU 0 at the
 * kernel's entry point with the first argument register (RDI / X0) holding
 * that address and the stack pointer at KEEL_GUEST_STACK_TOP.
 */
#define KEEL_GUEST_INFO_MAGIC 0x4f464e494c45454bull /* "KEELINFO" */
#define KEEL_GUEST_INFO_OFFSET 0x1000u
#define KEEL_GUEST_STACK_TOP 0x80000u /* offset from RAM start */
#define KEEL_GUEST_LOAD_MIN 0x100000u /* lowest offset an ELF segment may use */

struct keel_mem_region {
	uint64_t gpa; /* guest-physical base */
	uint64_t size; /* bytes */
};

struct keel_guest_info {
	uint64_t magic; /* KEEL_GUEST_INFO_MAGIC */
	uint32_t version; /* KEEL_ABI_VERSION */
	uint32_t size; /* sizeof(struct keel_guest_info) */
	uint32_t partition_id;
	uint32_t vcpu_count;
	char name[KEEL_NAME_MAX];
	uint64_t mem_base; /* guest-physical RAM start */
	uint64_t mem_size;
	uint64_t cmdline_gpa; /* NUL-terminated */
	uint32_t cmdline_len; /* without the NUL */
	uint32_t pad0;
};

/* KEEL_HC_SELF_INFO fills this (up to the size the caller gives). */
struct keel_self_info {
	uint32_t partition_id;
	uint32_t flags; /* KEEL_PD_* of this partition */
	char name[KEEL_NAME_MAX];
	uint32_t vcpu_count;
	uint32_t this_vcpu; /* index of the calling vCPU */
	uint64_t cpu_mask; /* physical CPUs owned */
	uint32_t region_count;
	uint32_t pad0;
	struct keel_mem_region regions[KEEL_MAX_MEM_REGIONS];
};

#endif /* KEEL_ABI_H */
