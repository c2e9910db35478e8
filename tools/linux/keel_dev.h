/* SPDX-License-Identifier: MIT */
/*
 * /dev/keel: the ioctl interface between the Linux driver (tools/linux/keel.c)
 * and keelctl. Each ioctl is one management hypercall of core/include/keel/abi.h
 * with the caller's guest-physical addresses replaced by user pointers: the
 * driver copies user data into its own pages and names those to Keel.
 *
 * Every ioctl returns 0 or -1 with errno = the hypercall's error (Keel's
 * numbers are Linux's: EPERM, ENOENT, EBUSY, ENOMEM, ENOSPC, ENOEXEC...), or
 * EFAULT for a bad user pointer, ENOTTY for an unknown ioctl.
 * The device is root only (mode 0600 and CAP_SYS_ADMIN checked at open).
 */
#ifndef KEEL_DEV_H
#define KEEL_DEV_H

#include "keel/abi.h"

#ifdef __KERNEL__
#include <linux/ioctl.h>
#else
#include <sys/ioctl.h>
#endif

#define KEEL_DEV_PATH "/dev/keel"
#define KEEL_IOC_MAGIC 0xEE

/* KEEL_IOC_HOST_INFO: out = the host's info. */
struct keel_ioc_host_info {
	struct keel_host_info info;
};

/*
 * KEEL_IOC_LIST: up to count records to the user array at buf.
 * KEEL_IOC_PCI_LIST (ABI 1.3) takes the same structure for the host's PCI
 * functions: struct keel_pci_dev records, count <= KEEL_PCI_MAX_DEVS.
 * KEEL_IOC_NET_LIST (ABI 1.6) too, for Keel's networks and their ports:
 * struct keel_net_rec records, count <= KEEL_NET_LIST_MAX.
 * KEEL_IOC_BOOT_TIMELINE (ABI 1.8) too, for the boot timeline: struct
 * keel_boot_event records, count <= KEEL_BOOT_EVENTS_MAX.
 */
struct keel_ioc_list {
	uint64_t buf; /* user pointer to struct keel_part_status[count] (PCI: keel_pci_dev) */
	uint32_t count; /* in: room (<= KEEL_MAX_PARTITIONS; PCI: <= KEEL_PCI_MAX_DEVS) */
	uint32_t written; /* out */
	uint32_t total; /* out: partitions that exist (PCI: functions Keel found) */
	uint32_t pad0;
};

/*
 * KEEL_IOC_CREATE: in = a packed partition description (struct keel_part_desc
 * and its arrays, size bytes, at most KEEL_PDESC_SIZE_MAX), out = the new id.
 */
struct keel_ioc_create {
	uint64_t desc; /* user pointer */
	uint32_t size;
	uint32_t id; /* out */
};

/*
 * KEEL_IOC_LOAD: copy len bytes (any length; the driver splits it into
 * KEEL_MGMT_LOAD_MAX pieces) from the user buffer at buf into image `image`
 * of partition id at offset.
 */
struct keel_ioc_load {
	uint32_t id;
	uint32_t image; /* index in the description's image array */
	uint64_t offset;
	uint64_t buf; /* user pointer */
	uint64_t len;
};

/* KEEL_IOC_START / STOP / PAUSE / RESUME / DESTROY. */
struct keel_ioc_ctl {
	uint32_t id;
	uint32_t flags; /* STOP: KEEL_STOP_*; else 0 */
	uint32_t timeout_ms; /* STOP: 0 = default; else 0 */
	uint32_t pad0;
};

/* KEEL_IOC_STATS: partition id's statistics. */
struct keel_ioc_stats {
	uint32_t id;
	uint32_t pad0;
	struct keel_part_stats stats; /* out */
};

/* KEEL_IOC_MEASURE (ABI 1.8): partition id's images and their SHA-256. */
struct keel_ioc_measure {
	uint32_t id;
	uint32_t pad0;
	struct keel_part_measure m; /* out */
};

/* KEEL_IOC_CONSOLE_READ: up to len bytes of output from cursor to buf. */
struct keel_ioc_console_read {
	uint32_t id;
	uint32_t len; /* <= KEEL_MGMT_CONSOLE_MAX */
	uint64_t cursor; /* 0 = the oldest kept */
	uint64_t buf; /* user pointer */
	uint64_t got; /* out: bytes copied */
	uint64_t next; /* out: cursor for the next read */
	uint64_t lost; /* out: bytes between cursor and the oldest kept */
};

/* KEEL_IOC_CONSOLE_WRITE: up to len bytes from buf as console input of id. */
struct keel_ioc_console_write {
	uint32_t id;
	uint32_t len; /* <= KEEL_MGMT_CONSOLE_MAX */
	uint64_t buf; /* user pointer */
	uint64_t taken; /* out: bytes the partition's console accepted */
};

/* KEEL_IOC_RESIZE: ask partition id to have value (KEEL_RESIZE_MEMORY: bytes of memory). */
struct keel_ioc_resize {
	uint32_t id;
	uint32_t what; /* KEEL_RESIZE_* */
	uint64_t value;
};

/*
 * KEEL_IOC_PCI_ASSIGN / KEEL_IOC_PCI_RELEASE (ABI 1.4): give host PCI
 * function addr (KEEL_PCI_ADDR) to partition id, which has not started, or
 * take it back.
 */
struct keel_ioc_pci {
	uint32_t id;
	uint32_t addr; /* KEEL_PCI_ADDR(segment, bus, device, function) */
};

/*
 * KEEL_IOC_WATCH (ABI 1.9): wait until partition id's event count (state
 * changes and console writes, KEEL_HC_MGMT_WATCH) differs from seen, or
 * timeout_ms passes, without polling: the driver sleeps on Keel's event
 * interrupt. Out: its count, state and console bytes now (count == seen:
 * the timeout passed). timeout_ms 0 returns at once, having armed the
 * descriptor: poll() on it then reports POLLIN at the next event of any
 * partition. ENODEV if the management partition's tables lack the event
 * interrupt; ENOENT once the partition is destroyed; EINTR on a signal.
 */
struct keel_ioc_watch {
	uint32_t id;
	uint32_t timeout_ms;
	uint64_t seen; /* in: the count last seen; out: the count now */
	uint32_t state; /* out: KEEL_PSTATE_* */
	uint32_t pad;
	uint64_t console_bytes; /* out */
};

#define KEEL_IOC_HOST_INFO _IOR(KEEL_IOC_MAGIC, 0x00, struct keel_ioc_host_info)
#define KEEL_IOC_LIST _IOWR(KEEL_IOC_MAGIC, 0x01, struct keel_ioc_list)
#define KEEL_IOC_CREATE _IOWR(KEEL_IOC_MAGIC, 0x02, struct keel_ioc_create)
#define KEEL_IOC_LOAD _IOW(KEEL_IOC_MAGIC, 0x03, struct keel_ioc_load)
#define KEEL_IOC_START _IOW(KEEL_IOC_MAGIC, 0x04, struct keel_ioc_ctl)
#define KEEL_IOC_STOP _IOW(KEEL_IOC_MAGIC, 0x05, struct keel_ioc_ctl)
#define KEEL_IOC_PAUSE _IOW(KEEL_IOC_MAGIC, 0x06, struct keel_ioc_ctl)
#define KEEL_IOC_RESUME _IOW(KEEL_IOC_MAGIC, 0x07, struct keel_ioc_ctl)
#define KEEL_IOC_DESTROY _IOW(KEEL_IOC_MAGIC, 0x08, struct keel_ioc_ctl)
#define KEEL_IOC_STATS _IOWR(KEEL_IOC_MAGIC, 0x09, struct keel_ioc_stats)
#define KEEL_IOC_CONSOLE_READ _IOWR(KEEL_IOC_MAGIC, 0x0A, struct keel_ioc_console_read)
#define KEEL_IOC_CONSOLE_WRITE _IOWR(KEEL_IOC_MAGIC, 0x0B, struct keel_ioc_console_write)
#define KEEL_IOC_RESIZE _IOW(KEEL_IOC_MAGIC, 0x0C, struct keel_ioc_resize)
#define KEEL_IOC_PCI_LIST _IOWR(KEEL_IOC_MAGIC, 0x0D, struct keel_ioc_list)
#define KEEL_IOC_PCI_ASSIGN _IOW(KEEL_IOC_MAGIC, 0x0E, struct keel_ioc_pci)
#define KEEL_IOC_PCI_RELEASE _IOW(KEEL_IOC_MAGIC, 0x0F, struct keel_ioc_pci)
#define KEEL_IOC_NET_LIST _IOWR(KEEL_IOC_MAGIC, 0x10, struct keel_ioc_list)
#define KEEL_IOC_BOOT_TIMELINE _IOWR(KEEL_IOC_MAGIC, 0x11, struct keel_ioc_list)
#define KEEL_IOC_MEASURE _IOWR(KEEL_IOC_MAGIC, 0x12, struct keel_ioc_measure)
/* (ABI 1.8) what the loader measured into the TPM: struct keel_tpm_report, out */
#define KEEL_IOC_TPM _IOR(KEEL_IOC_MAGIC, 0x13, struct keel_tpm_report)
#define KEEL_IOC_WATCH _IOWR(KEEL_IOC_MAGIC, 0x14, struct keel_ioc_watch)

#endif /* KEEL_DEV_H */
