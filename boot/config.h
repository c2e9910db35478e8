/* SPDX-License-Identifier: MIT */
/*
 * keel.cfg: the INI-style boot configuration, parsed into partition
 * descriptions plus the line of every key so errors can point at it.
 * Pure C with no UEFI dependency: the host unit tests build it as is.
 */
#ifndef KEEL_BOOT_CONFIG_H
#define KEEL_BOOT_CONFIG_H

#include <keel/abi.h>
#include <keel/boot_info.h>
#include <keel/pdesc.h>
#include <keel/sha256.h>
#include <keel/types.h>

#define CFG_MAX_ERRORS 32u /* the last slot says "too many errors" */
#define CFG_ERROR_LEN 320u /* room for a path and two SHA-256 digests */
#define CFG_LINE_MAX 2048u /* longest line, without its end of line */
#define CFG_PATH_MAX KEEL_BOOT_MODULE_NAME /* including the NUL */

struct cfg_error {
	u32 line; /* 1-based; 0 = about the file as a whole */
	char msg[CFG_ERROR_LEN];
};

/* The images a partition names, for keys that go with one (KERNEL_sha256 = ...). */
enum cfg_image_kind { CFG_IMAGE_KERNEL, CFG_IMAGE_INITRD, CFG_IMAGE_DISK, CFG_IMAGE_KINDS };

/* Where each key of one [partition] section was (0 = not given). */
struct cfg_part_lines {
	u32 section;
	u32 cpus;
	u32 memory;
	u32 max_memory;
	u32 max_cpus;
	u32 kernel;
	u32 initrd;
	u32 disk;
	u32 cmdline;
	u32 autostart;
	u32 management;
	u32 on_reboot;
	u32 on_fault;
	u32 vsock;
	u32 sha256[CFG_IMAGE_KINDS]; /* kernel_sha256, initrd_sha256, disk_sha256 */
	u32 pci[KEEL_PD_MAX_PCI]; /* each pci function's line, in the order given */
	u32 net[KEEL_PD_MAX_NET]; /* each net key's line, in the order given */
	u32 dev[KEEL_PD_MAX_DEVICES]; /* each device entry's line once built (0: no key) */
	bool bad; /* a key of it is unusable: left out of the set checks */
};

/* The files one [partition] section names, by boot module (or KEEL_NO_MODULE). */
struct cfg_part_files {
	u32 kernel;
	u32 initrd;
	u32 disk;
	u32 disk_flags; /* KEEL_DISK_* */
	u32 pci_count;
	u32 pci[KEEL_PD_MAX_PCI]; /* KEEL_PCI_ADDR of each pci function, in the order given */
	u32 net_count;
	struct cfg_net_port {
		char network[KEEL_NET_NAME_MAX]; /* resolved to a number once the file is read */
		u8 mac[6]; /* all 0: Keel derives it */
	} net[KEEL_PD_MAX_NET];
	u64 max_memory; /* bytes, 0 = not given */
	bool vsock; /* a vsock device, with CID vsock_cid (KEEL_VSOCK_CID_AUTO: assigned) */
	u32 vsock_cid;
	u8 sha256[CFG_IMAGE_KINDS][SHA256_DIGEST]; /* expected digests, where lines.sha256[] */
};

/* A file a partition names (kernel or initrd); equal paths share one module. */
struct cfg_module {
	char path[CFG_PATH_MAX]; /* as written in keel.cfg */
	u32 line; /* first line naming it */
	u32 sha256_line; /* the key that gave its expected SHA-256 (0: none given) */
	u8 sha256[SHA256_DIGEST];
};

struct keel_config {
	u32 log_level; /* KEEL_LOG_* */
	u32 on_idle; /* KEEL_ON_IDLE_* */
	u32 smt_split; /* KEEL_SMT_SPLIT_* */
	u32 part_count;
	u32 module_count;
	u32 error_count;
	u32 net_count; /* [network NAME] sections, numbered in order from 0 */
	char nets[KEEL_MAX_NETWORKS][KEEL_NET_NAME_MAX];
	u32 net_lines[KEEL_MAX_NETWORKS];
	bool errors_truncated;
	/* Built from the keys once the file is read (images and devices last). */
	struct pdesc parts[KEEL_MAX_PARTITIONS];
	struct cfg_part_files files[KEEL_MAX_PARTITIONS];
	struct cfg_part_lines lines[KEEL_MAX_PARTITIONS];
	struct cfg_module modules[KEEL_BOOT_MAX_MODULES];
	struct cfg_error errors[CFG_MAX_ERRORS];
	struct pdesc scratch[KEEL_MAX_PARTITIONS]; /* config_check() */
};

/*
 * Parse @len bytes of @text (not NUL-terminated; may hold anything) into
 * @cfg, collecting every error with its line. Returns 0 if the file is
 * clean, else -KEEL_EINVAL (errors in cfg->errors).
 */
int config_parse(const char *text, size_t len, struct keel_config *cfg);

/* Record an error at @line (printf-style reason). Safe past the cap. */
void config_error(struct keel_config *cfg, u32 line, const char *fmt, ...) __printf(3, 4);

/*
 * Check the partitions as a set with pdesc_check_all() under @lim and add
 * each problem as an error at the line of the key it is about. Keeps going
 * after the first problem (the offending partition is left out and the
 * rest checked again). Returns 0 or -KEEL_EINVAL.
 */
int config_check(struct keel_config *cfg, const struct pdesc_limits *lim);

/* Order the errors by line (stable), for printing. */
void config_sort_errors(struct keel_config *cfg);

/*
 * The line keel.cfg gave @field of partition @index (its section line if
 * unset); for PDESC_F_PCI the line of its device entry @item.
 */
u32 config_field_line(const struct keel_config *cfg, u32 index, u32 field, u32 item);

#endif /* KEEL_BOOT_CONFIG_H */
