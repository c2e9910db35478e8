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
/*
 * 1.0: the partition description became a header and arrays (version 4), which
 * changed CREATE's layout: a keelctl or driver built for 0.x refuses to talk to
 * this Keel (their major version check) instead of sending a layout it no
 * longer reads.
 */
#define KEEL_ABI_VERSION_MAJOR 1
#define KEEL_ABI_VERSION_MINOR 9
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

/*
 * Management calls (docs/management-abi.md). Only the partition with
 * KEEL_PD_MANAGEMENT may make them. Structures are copied in once, checked,
 * then acted on; "GPA" is always an address in the caller's own memory.
 * Keel never maps another partition's memory into the caller.
 */
/* a0 = GPA of struct keel_host_info, a1 = size -> r1 = bytes */
#define KEEL_HC_MGMT_HOST_INFO 0x100
/* a0 = GPA of struct keel_part_status[a1] -> r1 = written, r2 = total */
#define KEEL_HC_MGMT_LIST 0x101
/* a0 = GPA of a partition description (struct keel_part_desc and its arrays), a1 = its size */
#define KEEL_HC_MGMT_CREATE 0x102 /* -> r1 = id */
#define KEEL_HC_MGMT_LOAD 0x103 /* a0 = GPA of struct keel_mgmt_load, a1 = size */
#define KEEL_HC_MGMT_START 0x104 /* a0 = id */
#define KEEL_HC_MGMT_STOP 0x105 /* a0 = id, a1 = timeout ms (0 = default), a2 = KEEL_STOP_* */
#define KEEL_HC_MGMT_PAUSE 0x106 /* a0 = id */
#define KEEL_HC_MGMT_RESUME 0x107 /* a0 = id */
#define KEEL_HC_MGMT_DESTROY 0x108 /* a0 = id */
/* a0 = id, a1 = GPA of struct keel_part_stats, a2 = size -> r1 = bytes */
#define KEEL_HC_MGMT_STATS 0x109
/* a0 = GPA of struct keel_mgmt_console -> r1 = bytes, r2 = next cursor, r3 = bytes lost */
#define KEEL_HC_MGMT_CONSOLE_READ 0x10A
#define KEEL_HC_MGMT_CONSOLE_WRITE 0x10B /* a0 = id, a1 = GPA, a2 = length -> r1 = bytes taken */
/*
 * (1.1) a0 = id, a1 = KEEL_RESIZE_MEMORY, a2 = the memory it should have, in
 * bytes: its RAM plus hot-plugged memory, up to RAM plus its hot-pluggable
 * region, a KEEL_HOTMEM_BLOCK multiple. Returns once the guest's virtio-mem
 * driver was asked; STATS mem_plugged shows how far it got.
 */
#define KEEL_HC_MGMT_RESIZE 0x10C
/*
 * (1.3) a0 = GPA of struct keel_pci_dev[a1] -> r1 = written, r2 = total:
 * the host's PCI functions, as LIST lists partitions.
 */
#define KEEL_HC_MGMT_PCI_LIST 0x10D
/*
 * (1.4) a0 = id, a1 = KEEL_PCI_ADDR(segment, bus, device, function): give a
 * partition that has not started (CREATED or LOADED) one more PCI function,
 * as a KEEL_DEV_PCI entry CREATE had named would: reset, attached to its DMA
 * domain, on its guest's bus when it starts. -KEEL_ENODEV: no such function
 * or none Keel gives out; -KEEL_EBUSY: another partition has it or its
 * isolation group, or the partition has started; -KEEL_EEXIST: it has it
 * already; -KEEL_ENOSPC: it holds KEEL_PD_MAX_PCI functions or
 * KEEL_PD_MAX_DEVICES entries already.
 */
#define KEEL_HC_MGMT_PCI_ASSIGN 0x10E
/*
 * (1.4) a0 = id, a1 = KEEL_PCI_ADDR: take a function back from a partition
 * that has not started. It is reset and returns to the pool. -KEEL_ENOENT:
 * the partition does not hold it; -KEEL_EBUSY: it has started;
 * -KEEL_ENOTSUP: a device entry other than PCI follows it in the partition's
 * description (entries keep their slots, so it cannot be taken out).
 */
#define KEEL_HC_MGMT_PCI_RELEASE 0x10F
/*
 * (1.6) a0 = GPA of struct keel_net_rec[a1] -> r1 = written, r2 = total:
 * Keel's networks and their ports with their counters. Each network is one
 * KEEL_NET_REC_NETWORK record followed by one KEEL_NET_REC_PORT record per
 * port, networks in their numbers' order. a1 is capped at KEEL_NET_LIST_MAX.
 */
#define KEEL_HC_MGMT_NET_LIST 0x110
/*
 * (1.8) a0 = GPA of struct keel_boot_event[a1] -> r1 = written, r2 = total:
 * the boot timeline, in time order (a1 is capped at KEEL_BOOT_EVENTS_MAX).
 */
#define KEEL_HC_MGMT_BOOT_TIMELINE 0x111
/*
 * (1.8) a0 = id, a1 = GPA of struct keel_part_measure, a2 = size (> 0) ->
 * r1 = bytes written: the SHA-256 of each of the partition's images.
 */
#define KEEL_HC_MGMT_MEASURE 0x112
/*
 * (1.8) a0 = GPA of struct keel_tpm_report, a1 = size (> 0) -> r1 = bytes
 * written: what the loader measured into the firmware's TPM 2.0, if any.
 */
#define KEEL_HC_MGMT_TPM 0x113
/*
 * (1.9) Watch partition a0 without polling -> r1 = its event count, r2 =
 * its state (KEEL_PSTATE_*), r3 = its console bytes so far (as STATS
 * console_bytes). The event count grows at every change of state, every
 * console write, and each memory plug or unplug and vCPU on or off the
 * guest completes (what RESIZE waits for). Each call arms Keel: at the
 * next event of any partition but the management one, it raises the
 * management event interrupt (KEEL_MGMT_EVENT_IRQ, edge-triggered) once. A caller whose count has not
 * moved since its last look sleeps until that interrupt (or its own
 * timeout) and calls again; one woken by another partition's event finds
 * its count unchanged and sleeps again. The tables Keel gives the
 * management partition describe the interrupt: ACPI device KEEL0001 on
 * x86_64, DT node "keel,mgmt-events" on aarch64.
 */
#define KEEL_HC_MGMT_WATCH 0x114
#define KEEL_HC_MGMT_NR_CALLS 0x115 /* first unassigned management number */
#define KEEL_MGMT_EVENT_HID "KEEL0001"
#define KEEL_MGMT_EVENT_COMPAT "keel,mgmt-events"
#define KEEL_RESIZE_MEMORY 1u
/*
 * (1.2) a1 = KEEL_RESIZE_CPUS, a2 = how many of its vCPUs may be on, 1 ..
 * max_vcpus of its description. The guest is told on its control port (the
 * line "cpus N"); each vCPU it powers on takes a free core then, and gives it
 * back when it powers off. -KEEL_ENOSPC if the free cores are too few now;
 * -KEEL_EINVAL for a count out of range, or a partition without vCPUs beyond
 * its cores. x86_64 guests also get ACPI CPU hotplug events (a GPE): Linux
 * adds or ejects the CPUs, and its SIPI binds a core. STATS
 * status.vcpu_count shows how far the guest got.
 */
#define KEEL_RESIZE_CPUS 2u

#define KEEL_MGMT_LOAD_MAX (1u << 20) /* bytes per KEEL_HC_MGMT_LOAD */
#define KEEL_MGMT_IMAGE_MAX (1ull << 30) /* declared size of one image */
#define KEEL_MGMT_CONSOLE_MAX 4096u /* bytes per CONSOLE_READ / CONSOLE_WRITE */
#define KEEL_CONSOLE_RING_SIZE 16384u /* console output Keel keeps per partition */
#define KEEL_STOP_TIMEOUT_DEFAULT_MS 5000u
#define KEEL_STOP_TIMEOUT_MAX_MS 600000u
#define KEEL_STOP_FORCE (1u << 0) /* stop now, do not wait for the guest */
#define KEEL_STOP_FLAGS_ALL KEEL_STOP_FORCE

/* How a stopped partition stopped (keel_part_stats.stop_cause, 0.5). */
#define KEEL_STOP_CAUSE_NONE 0u /* not stopped, or restarted since */
#define KEEL_STOP_CAUSE_GUEST 1u /* the guest powered off, shut down or rebooted by itself */
/* the management partition stopped it: --force, or the timeout ran out */
#define KEEL_STOP_CAUSE_FORCED 2u
#define KEEL_STOP_CAUSE_FAULT 3u /* Keel stopped it for what it did (stop_reason says what) */
#define KEEL_STOP_REASON_MAX 160u

/* Partition states as management calls report them. */
#define KEEL_PSTATE_CREATED 1u /* resources taken, images being loaded */
#define KEEL_PSTATE_LOADED 2u /* loaded from keel.cfg, not started */
#define KEEL_PSTATE_RUNNING 3u
#define KEEL_PSTATE_STOPPING 4u
#define KEEL_PSTATE_STOPPED 5u /* memory returned; only DESTROY (or nothing) follows */
#define KEEL_PSTATE_PAUSED 6u /* running, vCPUs parked by PAUSE */
#define KEEL_PSTATE_BUILDING 7u /* (ABI 0.3) Keel is building or rebuilding it (a restart) */

/* Exit counters of struct keel_part_stats, by kind. */
#define KEEL_EXIT_NONE 0u
#define KEEL_EXIT_INTERRUPT 1u
#define KEEL_EXIT_HYPERCALL 2u
#define KEEL_EXIT_MMIO 3u
#define KEEL_EXIT_PIO 4u
#define KEEL_EXIT_HALT 5u
#define KEEL_EXIT_SHUTDOWN 6u
#define KEEL_EXIT_FAULT 7u
#define KEEL_EXIT_EXCEPTION 8u /* (ABI 0.3) a guest exception Keel intercepted and reflected */
/* (ABI 0.8) a stage-2 fault on the partition's own RAM while its mapping changed: run again */
#define KEEL_EXIT_RETRY 9u
#define KEEL_EXIT_KINDS 16u /* room in the array; unused kinds read 0 */

/* Feature bits returned by KEEL_HC_VERSION in r2. */
#define KEEL_FEAT_CONSOLE (1u << 0)
#define KEEL_FEAT_SELF_INFO (1u << 1)
#define KEEL_FEAT_MGMT (1u << 2) /* this partition may make management calls */

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
#define KEEL_ENODEV 19 /* (1.3) no such device, or none Keel can give out (PCI) */
#define KEEL_EINVAL 22 /* a malformed argument or reserved bit set */
#define KEEL_ENOSPC 28
#define KEEL_ENOSYS 38 /* unknown call number */
#define KEEL_ENOTSUP 95 /* (1.3) the device cannot do what is asked (e.g. no reset method) */
#define KEEL_ETIMEDOUT 110 /* (0.7) a vCPU did not acknowledge in time; Keel's log names its CPU */

#define KEEL_CONSOLE_WRITE_MAX 4096u
#define KEEL_NAME_MAX 32u /* partition name, including the NUL */
#define KEEL_CMDLINE_MAX 1024u /* command line, including the NUL */
#define KEEL_MAX_CPUS 64u
#define KEEL_MAX_PARTITIONS 16u
#define KEEL_MAX_MEM_REGIONS 8u

/*
 * Partition description (version 5, ABI 1.2): the one form in which a
 * partition reaches the core, from keel.cfg at boot and from CREATE. Validated
 * by one validator in core (core/pdesc.c) before anything acts on it.
 *
 * A header, then three arrays of 16-byte entries, in this order and without
 * gaps: mem_count struct keel_pd_mem, image_count struct keel_pd_image,
 * device_count struct keel_pd_device. size is the whole: KEEL_PDESC_SIZE(...).
 * Counts are at most KEEL_PD_MAX_*; a later version may raise a maximum or add
 * an entry type without changing this layout.
 */
#define KEEL_PDESC_VERSION 5u
#define KEEL_PDESC_VERSION_V4 4u /* (ABI 1.0, 1.1) the header without max_vcpus, still taken */
#define KEEL_PD_AUTOSTART (1u << 0)
#define KEEL_PD_MANAGEMENT (1u << 1)
#define KEEL_PD_REBOOT_STOP (1u << 2) /* on_reboot = stop */
/*
 * on_fault = stop: an access to guest-physical memory with nothing behind it
 * stops the partition with a report, instead of being answered as the
 * hardware would (aarch64: an external abort at the guest's vectors; x86_64:
 * reads of all ones, writes dropped, #UD for an instruction fetch).
 */
#define KEEL_PD_FAULT_STOP (1u << 3)
#define KEEL_PD_FLAGS_ALL \
	(KEEL_PD_AUTOSTART | KEEL_PD_MANAGEMENT | KEEL_PD_REBOOT_STOP | KEEL_PD_FAULT_STOP)
#define KEEL_NO_MODULE 0xffffffffu
#define KEEL_PART_MEM_ALIGN (2u << 20) /* memory sizes are multiples of 2 MiB */

#define KEEL_PD_MAX_MEM 4u
#define KEEL_PD_MAX_IMAGES 8u
#define KEEL_PD_MAX_DEVICES 16u

struct keel_part_desc {
	uint32_t version; /* KEEL_PDESC_VERSION */
	uint32_t size; /* bytes: this header and the arrays after it */
	uint32_t flags; /* KEEL_PD_* */
	uint32_t mem_count; /* 1 or 2 (KEEL_PD_MAX_MEM) */
	uint32_t image_count; /* 1 .. KEEL_PD_MAX_IMAGES */
	uint32_t device_count; /* 0 .. KEEL_PD_MAX_DEVICES */
	char name[KEEL_NAME_MAX]; /* [a-zA-Z0-9_-], NUL-terminated */
	uint64_t cpu_mask; /* logical CPU numbers owned, bit n = CPU n */
	char cmdline[KEEL_CMDLINE_MAX]; /* NUL-terminated */
	/*
	 * (version 5) vCPUs the guest is given, on or off: 0, or the cores of
	 * cpu_mask, means one per core. More: vCPU 0 .. cores-1 are on the
	 * cores of cpu_mask; the rest are declared but off (x86_64: ACPI
	 * hotplug CPUs), each bound to a free core while the guest has it on
	 * (aarch64: PSCI CPU_ON; x86_64: its SIPI),
	 * as many as RESIZE KEEL_RESIZE_CPUS allows. At most the machine's CPUs.
	 */
	uint32_t max_vcpus;
	uint32_t pad; /* 0 */
};
#define KEEL_PDESC_HEADER_V4 (__builtin_offsetof(struct keel_part_desc, max_vcpus))

/*
 * Memory. Exactly one KEEL_PD_MEM_RAM region, the first: the guest's RAM from
 * its RAM base, size a multiple of KEEL_PART_MEM_ALIGN. At most one
 * KEEL_PD_MEM_HOTPLUG region after it: guest-physical space, initially empty,
 * that a KEEL_DEV_MEM device (virtio-mem) fills and empties while the guest
 * runs (RESIZE), in KEEL_HOTMEM_BLOCK blocks; its size, a multiple of
 * KEEL_HOTMEM_ALIGN up to KEEL_HOTMEM_MAX, is how much may be added. Keel
 * places it (the device's config and STATS mem_hotplug_base say where): at the first
 * 1 GiB boundary above RAM, and on x86_64 not below 4 GiB.
 */
#define KEEL_PD_MEM_RAM 1u
#define KEEL_PD_MEM_HOTPLUG 2u
#define KEEL_HOTMEM_BLOCK (2ull << 20) /* what the guest plugs and unplugs */
#define KEEL_HOTMEM_ALIGN (128ull << 20) /* Linux's memory block on both arches */
#define KEEL_HOTMEM_MAX (256ull << 30)
struct keel_pd_mem {
	uint32_t type; /* KEEL_PD_MEM_* */
	uint32_t flags; /* 0 */
	uint64_t size; /* bytes */
};

/*
 * Images the partition owns for its whole life (a restart boots the same
 * ones). Exactly one KERNEL, at most one INITRD; each DATA image backs
 * exactly one device. keel.cfg: module = the boot module, size = 0. CREATE:
 * module = KEEL_NO_MODULE, size = the bytes LOAD will fill (1 ..
 * KEEL_MGMT_IMAGE_MAX); LOAD names an image by its index in this array.
 */
#define KEEL_PD_IMAGE_KERNEL 1u
#define KEEL_PD_IMAGE_INITRD 2u
#define KEEL_PD_IMAGE_DATA 3u /* a device's backing store (a disk) */
struct keel_pd_image {
	uint32_t role; /* KEEL_PD_IMAGE_* */
	uint32_t module; /* boot module index, or KEEL_NO_MODULE */
	uint64_t size;
};

/*
 * Devices, each but PCI a virtio-mmio device at slot = its index in this
 * array (KEEL_VIRTIO_MMIO_BASE + slot * stride, interrupt KEEL_VIRTIO_IRQ_BASE +
 * slot), an index below the arch's slots (8 on x86_64, 32 on aarch64; PCI
 * entries may follow them up to KEEL_PD_MAX_DEVICES). At most one each of CONSOLE, RNG, CONTROL and MEM. BLK: backend =
 * the index of its DATA image, flags KEEL_DISK_*. MEM: backend = the index of
 * the HOTPLUG memory region (a HOTPLUG region needs exactly one MEM device),
 * flags 0. Others: backend KEEL_NO_BACKEND, flags 0.
 */
#define KEEL_DEV_CONSOLE 1u
#define KEEL_DEV_RNG 2u
#define KEEL_DEV_BLK 3u
#define KEEL_DEV_CONTROL 4u /* org.keel.control: how STOP asks the guest to power off */
#define KEEL_DEV_MEM 5u /* virtio-mem: backend = the index of the HOTPLUG region */
/*
 * (1.3) A host PCI function given to the partition, behind the IOMMU:
 * backend = KEEL_PCI_ADDR(segment, bus, device, function), flags 0. It
 * takes no virtio-mmio window (its slot stays empty). At most
 * KEEL_PD_MAX_PCI per partition, each function once.
 */
#define KEEL_DEV_PCI 6u
#define KEEL_PD_MAX_PCI 8u
#define KEEL_PCI_ADDR(seg, bus, dev, fn)                                                    \
	(((uint32_t)(seg) << 16) | ((uint32_t)(bus) << 8) | ((uint32_t)((dev)&0x1f) << 3) | \
	 ((uint32_t)(fn)&7))
#define KEEL_PCI_ADDR_SEG(a) ((uint16_t)((a) >> 16))
#define KEEL_PCI_ADDR_BDF(a) ((uint16_t)((a)&0xffff))
/*
 * (1.5) A virtio-net NIC on one of Keel's networks: backend = the network's
 * number (keel.cfg's [network NAME] sections in order, from 0; below
 * KEEL_MAX_NETWORKS), flags = the first four bytes of its MAC address and
 * pad the last two (KEEL_NET_MAC_*), all 0 for an address Keel derives from
 * the partition's and the network's names (stable across restarts). An
 * address must be unicast. At most KEEL_PD_MAX_NET per partition, each on a
 * different network; an address given twice is refused.
 */
#define KEEL_DEV_NET 7u
#define KEEL_PD_MAX_NET 4u
#define KEEL_MAX_NETWORKS 16u
#define KEEL_NET_NAME_MAX 32u /* with the NUL: 1 to 31 of A-Z a-z 0-9 _ - . */
#define KEEL_NET_MAC_FLAGS(m) \
	((uint32_t)(m)[0] | (uint32_t)(m)[1] << 8 | (uint32_t)(m)[2] << 16 | (uint32_t)(m)[3] << 24)
#define KEEL_NET_MAC_PAD(m) ((uint32_t)(m)[4] | (uint32_t)(m)[5] << 8)
/*
 * (1.7) virtio-vsock: the partition's socket address (its CID) on Keel's
 * vsock router. backend = the CID: KEEL_VSOCK_CID_AUTO asks Keel for one
 * (KEEL_VSOCK_CID_HOST for the management partition, else the lowest free
 * from KEEL_VSOCK_CID_FIRST, written back into the partition's description so
 * a restart keeps it); else a CID from KEEL_VSOCK_CID_FIRST to
 * KEEL_VSOCK_CID_MAX, or KEEL_VSOCK_CID_HOST for the management partition
 * (which can have no other). flags 0. At most one per partition; a CID
 * another partition has is refused (-KEEL_EEXIST from CREATE). A partition
 * reaches the management partition and the partitions it shares a network
 * with; a connection to anyone else is reset.
 */
#define KEEL_DEV_VSOCK 8u
#define KEEL_VSOCK_CID_AUTO 0u
#define KEEL_VSOCK_CID_HOST 2u /* the management partition: it plays the host */
#define KEEL_VSOCK_CID_FIRST 3u
#define KEEL_VSOCK_CID_MAX 0xfffffffeu /* 0xffffffff is VMADDR_CID_ANY to Linux */
#define KEEL_NO_BACKEND 0xffffffffu
#define KEEL_DISK_RO (1u << 0) /* the guest may not write the disk */
#define KEEL_DISK_FLAGS_ALL KEEL_DISK_RO
struct keel_pd_device {
	uint32_t type; /* KEEL_DEV_* */
	uint32_t backend;
	uint32_t flags;
	uint32_t pad; /* 0, but a KEEL_DEV_NET's address bytes 4-5 */
};

#define KEEL_PDESC_SIZE(mems, images, devices)                                 \
	(sizeof(struct keel_part_desc) + (mems) * sizeof(struct keel_pd_mem) + \
	 (images) * sizeof(struct keel_pd_image) + (devices) * sizeof(struct keel_pd_device))
#define KEEL_PDESC_SIZE_MAX \
	KEEL_PDESC_SIZE(KEEL_PD_MAX_MEM, KEEL_PD_MAX_IMAGES, KEEL_PD_MAX_DEVICES)

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
	/* Since ABI 0.2: the partition's initrd, if keel.cfg gave one, else 0 / 0. */
	uint64_t initrd_gpa; /* page aligned, at the top of RAM */
	uint64_t initrd_size;
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

/* ---- Management structures (docs/management-abi.md) ---- */

/* KEEL_HC_MGMT_HOST_INFO fills this (up to the size the caller gives). */
struct keel_host_info {
	uint32_t abi_version; /* KEEL_ABI_VERSION */
	uint32_t cpu_count; /* logical CPUs of the machine */
	uint64_t online_cpu_mask; /* CPUs running Keel */
	uint64_t free_cpu_mask; /* online CPUs no partition owns */
	uint64_t mem_total; /* bytes for partitions: mem_free + what partitions hold */
	uint64_t mem_free; /* bytes free now */
	uint32_t part_count; /* partitions that exist (not destroyed) */
	uint32_t part_max; /* KEEL_MAX_PARTITIONS */
	uint32_t load_max; /* KEEL_MGMT_LOAD_MAX */
	uint32_t console_ring; /* KEEL_CONSOLE_RING_SIZE */
	/* 0.4: partition memory Keel's own map leaves out, and how much of it it still maps (0) */
	uint64_t mem_hidden;
	uint64_t mem_exposed;
	/* 0.7: the allocator. Free memory is kept clean: each byte is scrubbed once per owner. */
	uint64_t mem_scrubbed; /* bytes scrubbed when their owner gave them back, since boot */
	uint64_t mem_scrubbed_first; /* bytes the firmware handed over, scrubbed at first use */
	uint64_t mem_pool; /* Keel's metadata pool (page tables, device state) */
	uint64_t mem_pool_free; /* free bytes in it (counted in mem_free too) */
};

/* One partition in KEEL_HC_MGMT_LIST and at the start of keel_part_stats. */
struct keel_part_status {
	uint32_t id;
	uint32_t state; /* KEEL_PSTATE_* */
	char name[KEEL_NAME_MAX];
	uint32_t flags; /* KEEL_PD_* */
	uint32_t vcpu_count;
	uint64_t cpu_mask;
	uint64_t mem_size;
	uint64_t run_ns; /* since START, until it stopped */
};

struct keel_part_stats {
	struct keel_part_status status;
	uint64_t hypercalls;
	uint64_t denied; /* management calls refused */
	uint64_t console_bytes; /* console output written so far (the cursor end) */
	uint64_t exits[KEEL_EXIT_KINDS]; /* summed over vCPUs, by KEEL_EXIT_* */
	/* 0.5: once the state is STOPPED, how and why (else 0 and "") */
	uint32_t stop_cause; /* KEEL_STOP_CAUSE_* */
	/* 0.8: guest reboots that restarted it in place (on_reboot = restart) */
	uint32_t restarts;
	char stop_reason[KEEL_STOP_REASON_MAX]; /* NUL-terminated, as Keel's log line says it */
	/* 0.7: where its running vCPUs are now (the rest run guest code or handle an exit) */
	uint32_t vcpus_parked; /* out of the guest for PAUSE */
	uint32_t vcpus_halted; /* waiting for an interrupt */
	/* 1.1: hot-pluggable memory (all 0 without a KEEL_PD_MEM_HOTPLUG region) */
	uint64_t mem_hotplug_base; /* guest-physical start of the region */
	uint64_t mem_hotplug_size; /* the region: the most that can be added */
	uint64_t mem_plugged; /* bytes the guest has plugged now */
	uint64_t mem_requested; /* bytes RESIZE asked it to have plugged */
	/* 1.2: vCPUs. status.vcpu_count and cpu_mask are those on cores now. */
	uint32_t vcpus_max; /* declared: max_vcpus, or one per core */
	uint32_t vcpus_allowed; /* how many may be on (RESIZE KEEL_RESIZE_CPUS) */
	uint32_t vcpus_cores; /* those always on, one per core of its description */
	uint32_t vsock_cid; /* (1.7) its KEEL_DEV_VSOCK's CID, or 0: none */
	/* (1.9) ns from this run's START to its boot vCPU's first guest instruction (0: not yet) */
	uint64_t first_insn_ns;
};

/*
 * (1.3) One PCI function of the host in KEEL_HC_MGMT_PCI_LIST, as Keel found
 * it at boot (in that order: segment by segment, depth-first from each root
 * bus). a1 is capped at KEEL_PCI_MAX_DEVS, the most functions Keel records.
 */
#define KEEL_PCI_MAX_DEVS 1024u
#define KEEL_PCI_OWNER_NONE 0xffffffffu /* owner: no partition has it */
#define KEEL_PCI_NO_GROUP 0xffffffffu /* group: none given */
#define KEEL_PCI_NO_IOMMU 0xffu /* iommu: no enabled IOMMU translates its DMA */
#define KEEL_IOMMU_KIND_NONE 0u
#define KEEL_IOMMU_KIND_VTD 1u /* Intel VT-d (ACPI DMAR) */
#define KEEL_IOMMU_KIND_AMDVI 2u /* AMD-Vi (ACPI IVRS) */
#define KEEL_IOMMU_KIND_SMMUV3 3u /* Arm SMMUv3 (device tree) */
/* flags */
#define KEEL_PCI_DEV_BRIDGE (1u << 0) /* header type 1 or 2: a PCI-to-PCI or CardBus bridge */
#define KEEL_PCI_DEV_ALIASED (1u << 1) /* its DMA carries a bridge's requester ID (dma_rid) */
#define KEEL_PCI_DEV_BAD_CAPS (1u << 2) /* its capability list loops or points out of range */
/*
 * A normal (type 0) header function behind an enabled IOMMU that is neither
 * a host bridge (class 0x0600xx) nor an IOMMU (class 0x0806xx): what device
 * assignment may take.
 */
#define KEEL_PCI_DEV_ASSIGNABLE (1u << 3)

/*
 * group: the isolation group, shared by functions the IOMMU cannot tell
 * apart (one requester ID, or peer-to-peer traffic that need not reach it):
 * assignment takes a group whole. owner: the id of the partition a
 * KEEL_DEV_PCI entry gave the function to, from its creation until it
 * stops (its memory freed); else KEEL_PCI_OWNER_NONE.
 */
struct keel_pci_dev {
	uint16_t segment; /* PCI segment group (its ECAM window) */
	uint16_t bdf; /* bus << 8 | device << 3 | function: its address and requester ID */
	uint16_t dma_rid; /* the requester ID its DMA reaches the IOMMU with: bdf, or an alias */
	uint16_t vendor;
	uint16_t device;
	uint8_t hdr_type; /* header layout: 0 normal, 1 PCI bridge, 2 CardBus (no MF bit) */
	uint8_t pad0; /* 0 */
	uint32_t class; /* 24 bits: base << 16 | sub << 8 | programming interface */
	uint32_t group; /* isolation group, or KEEL_PCI_NO_GROUP */
	uint32_t owner; /* id of the partition it is assigned to, or KEEL_PCI_OWNER_NONE */
	uint8_t iommu; /* index of the enabled IOMMU unit translating it, or KEEL_PCI_NO_IOMMU */
	uint8_t iommu_kind; /* that unit's KEEL_IOMMU_KIND_*, or KEEL_IOMMU_KIND_NONE */
	uint16_t pad1; /* 0 */
	uint32_t flags; /* KEEL_PCI_DEV_* */
	uint32_t reserved[4]; /* 0: room for what assignment adds (BAR count, reset methods) */
};

/*
 * (1.8) KEEL_HC_MGMT_MEASURE: what a partition was started from. Each image
 * in its description's order: role (KEEL_PD_IMAGE_*), size, name (a keel.cfg
 * path, or "NAME:kernel0" for one LOADed by the management partition) and
 * the SHA-256 of the bytes Keel holds, the ones the partition is started
 * from. keel.cfg's images are hashed by the loader as it reads them; LOADed
 * ones as each piece arrives (in order; else all at once at START), so
 * measured is 0 until the partition first starts. cfg_sha256 is keel.cfg's
 * (for every partition: it is the boot's).
 */
#define KEEL_MEASURE_NAME 128u

struct keel_image_measure {
	uint32_t role; /* KEEL_PD_IMAGE_* */
	uint32_t measured; /* 1: sha256 is the image's */
	uint64_t size;
	uint8_t sha256[32];
	char name[KEEL_MEASURE_NAME];
};

struct keel_part_measure {
	uint32_t id;
	uint32_t image_count;
	uint8_t cfg_sha256[32];
	struct keel_image_measure image[KEEL_PD_MAX_IMAGES];
};

/*
 * (1.8) KEEL_HC_MGMT_TPM: the measured launch. Where the firmware has a TPM
 * 2.0 (EFI_TCG2_PROTOCOL), the loader extends keel.cfg into PCR
 * KEEL_TPM_PCR_CONFIG and each image it loads into PCR KEEL_TPM_PCR_IMAGES,
 * in that order, each with an EV_IPL event whose data is the file's keel.cfg
 * path ("keel.cfg" for keel.cfg) and whose SHA-256 digest is the file's. Then
 * it reads both PCRs' SHA-256 bank from the TPM and copies every event of
 * those two PCRs from the firmware's event log (its own and any other), in
 * log order, so the PCRs can be replayed from zero. Images a management
 * partition LOADs later are hashed (KEEL_HC_MGMT_MEASURE), not extended:
 * Keel drives no TPM after boot services end.
 */
#define KEEL_TPM_NONE 0u /* the firmware offered no TPM 2.0 */
#define KEEL_TPM_MEASURED 1u /* every file was extended and logged */
#define KEEL_TPM_FAILED 2u /* the TPM is there but a step failed: why says which */
#define KEEL_TPM_PCR_CONFIG 12u
#define KEEL_TPM_PCR_IMAGES 9u
#define KEEL_TPM_EVENTS_MAX 48u
#define KEEL_TPM_EVENT_DATA 120u
#define KEEL_TPM_WHY 96u
#define KEEL_TPM_EV_IPL 0x0du /* TCG PC Client event type of Keel's events */

struct keel_tpm_event {
	uint32_t pcr;
	uint32_t type; /* TCG event type */
	uint32_t data_size; /* the event data's whole size; data[] holds its first bytes */
	uint32_t has_sha256; /* 0: the log had no SHA-256 digest for it */
	uint8_t sha256[32];
	uint8_t data[KEEL_TPM_EVENT_DATA];
};

struct keel_tpm_report {
	uint32_t state; /* KEEL_TPM_* */
	uint32_t event_count; /* in event[] */
	uint32_t event_total; /* events of the two PCRs in the log (more than event[] holds: cut) */
	uint32_t pcrs_read; /* 1: pcr_config and pcr_images are the TPM's SHA-256 bank */
	uint8_t pcr_config[32];
	uint8_t pcr_images[32];
	char why[KEEL_TPM_WHY]; /* KEEL_TPM_FAILED: what failed, NUL-terminated */
	struct keel_tpm_event event[KEEL_TPM_EVENTS_MAX];
};

/*
 * (1.8) One step of the boot, in KEEL_HC_MGMT_BOOT_TIMELINE: at = ns since the
 * machine's clock counter started (its reset), so firmware time is included.
 * IMAGE: name = its keel.cfg path, bytes its size, took = ns to read it.
 * CPU_ONLINE: index = the CPU. FIRST_INSN: name = the partition, index its id.
 */
#define KEEL_BOOT_LOADER_ENTRY 1u
#define KEEL_BOOT_CONFIG_READ 2u
#define KEEL_BOOT_IMAGE 3u
#define KEEL_BOOT_EXIT_BOOT_SERVICES 4u
#define KEEL_BOOT_CORE_ENTRY 5u
#define KEEL_BOOT_CPU_ONLINE 6u
#define KEEL_BOOT_FIRST_INSN 7u
#define KEEL_BOOT_EVENTS_MAX 128u
#define KEEL_BOOT_EVENT_NAME 64u

struct keel_boot_event {
	uint64_t at;
	uint64_t bytes;
	uint64_t took;
	uint32_t kind; /* KEEL_BOOT_* */
	uint32_t index;
	char name[KEEL_BOOT_EVENT_NAME]; /* NUL-terminated, may be cut */
};

/*
 * (1.6) One record of KEEL_HC_MGMT_NET_LIST. A network's record: name, ports
 * (how many), owner KEEL_NET_OWNER_NONE, the rest 0. A port's record: the
 * network's number and name, owner = the partition whose NIC it is, its
 * address and KEEL_NET_PORT_* flags, and what it sent (tx: frames the switch
 * took from it), received (rx: frames put in its buffers) and dropped, by
 * KEEL_NET_DROP_* (NO_BUFFER counts at the receiver, the rest at the sender).
 */
#define KEEL_NET_MAX_PORTS 16u /* per network */
#define KEEL_NET_LIST_MAX (KEEL_MAX_NETWORKS * (1u + KEEL_NET_MAX_PORTS))
#define KEEL_NET_OWNER_NONE 0xffffffffu
#define KEEL_NET_REC_NETWORK 1u
#define KEEL_NET_REC_PORT 2u
/* flags */
#define KEEL_NET_PORT_UPLINK \
	(1u << 0) /* may send from outside addresses (the management partition) */
/* drops[] */
#define KEEL_NET_DROP_SPOOF 0u /* a source address the port may not use */
#define KEEL_NET_DROP_RUNT 1u /* shorter than an Ethernet header */
#define KEEL_NET_DROP_OVERSIZE 2u /* longer than the port's limit */
#define KEEL_NET_DROP_MALFORMED 3u /* buffers the device could not use (and reset it for) */
#define KEEL_NET_DROP_NO_BUFFER 4u /* the receiver had no buffer: dropped, never waited for */
/* (1.6) a segmentation-offloaded frame for a port whose guest takes none, and that Keel
 * cannot segment for it (not TCP, or segments beyond its MTU): counted there */
#define KEEL_NET_DROP_OFFLOAD 5u
/* (1.8) a broadcast or multicast frame that found only the receive buffers a port keeps
 * for frames addressed to it (a quarter of the most its driver posts): counted there */
#define KEEL_NET_DROP_GROUP_HELD 6u
#define KEEL_NET_DROPS 8u /* slots; the rest are 0 */

struct keel_net_rec {
	uint32_t kind; /* KEEL_NET_REC_* */
	uint32_t net; /* the network's number: a KEEL_DEV_NET's backend */
	char name[KEEL_NET_NAME_MAX]; /* the network's, NUL-terminated */
	uint32_t owner; /* port: the partition's id; network: KEEL_NET_OWNER_NONE */
	uint32_t ports; /* network: its ports now; port: 0 */
	uint8_t mac[6]; /* port: its address */
	uint16_t flags; /* port: KEEL_NET_PORT_* */
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
	uint64_t drops[KEEL_NET_DROPS];
};

/*
 * KEEL_HC_MGMT_CREATE takes a description as keel.cfg produces it, checked by
 * the same validator, with images given by size (module KEEL_NO_MODULE).
 * Flags allowed: KEEL_PD_FAULT_STOP and KEEL_PD_REBOOT_STOP; a partition
 * without REBOOT_STOP restarts in place when its guest reboots.
 */

/* KEEL_HC_MGMT_LOAD: copy len bytes at src_gpa (caller) to image at offset. */
struct keel_mgmt_load {
	uint32_t id;
	uint32_t image; /* index in the description's image array */
	uint64_t offset;
	uint64_t src_gpa;
	uint64_t len; /* <= KEEL_MGMT_LOAD_MAX */
};

/*
 * KEEL_HC_MGMT_CONSOLE_READ: up to len bytes of partition id's console output
 * from position cursor (0 = the oldest kept) to buf_gpa. Positions count bytes
 * since the partition was created; r2 is where the next read starts.
 */
struct keel_mgmt_console {
	uint32_t id;
	uint32_t len; /* <= KEEL_MGMT_CONSOLE_MAX */
	uint64_t cursor;
	uint64_t buf_gpa;
};

#endif /* KEEL_ABI_H */
