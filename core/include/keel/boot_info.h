/* SPDX-License-Identifier: MIT */
/*
 * The one structure the UEFI loader (boot/) hands the core: the machine as the
 * firmware described it, the files it loaded and the checked partition table.
 */
#ifndef KEEL_BOOT_INFO_H
#define KEEL_BOOT_INFO_H

#include <keel/abi.h>
#include <keel/pdesc.h>
#include <keel/sha256.h>
#include <keel/types.h>

#define KEEL_BOOT_INFO_MAGIC 0x544f4f424c45454bull /* "KEELBOOT" */
#define KEEL_BOOT_INFO_VERSION 6u

#define KEEL_BOOT_MAX_MEM 256u
#define KEEL_BOOT_MAX_MODULES 32u
#define KEEL_BOOT_MODULE_NAME 128u

/* Kinds of physical memory in keel_boot_info.mem. */
#define KEEL_MEM_FREE 1u /* usable RAM, nobody's yet */
#define KEEL_MEM_KEEL 2u /* RAM holding the core image, boot info, modules, AP trampoline */
#define KEEL_MEM_RESERVED 3u /* firmware-reserved, never touched */
#define KEEL_MEM_ACPI 4u /* ACPI tables (reclaimable only after they are parsed) */
#define KEEL_MEM_NVS 5u /* ACPI NVS */
#define KEEL_MEM_RUNTIME 6u /* UEFI runtime services code/data */
#define KEEL_MEM_MMIO 7u /* memory-mapped I/O the firmware listed */

struct keel_boot_mem {
	u64 base; /* page aligned */
	u64 size; /* page multiple */
	u32 type; /* KEEL_MEM_* */
	u32 pad0;
};

struct keel_boot_module {
	u64 base; /* host-physical, page aligned, inside a KEEL_MEM_KEEL range */
	u64 size; /* bytes of file data */
	char name[KEEL_BOOT_MODULE_NAME]; /* path on the boot volume, as in keel.cfg */
	u8 sha256[SHA256_DIGEST]; /* of the file's bytes, taken by the loader as it read them */
	u64 read_start, read_end; /* clock counter readings around its read (timeline) */
	u32 measured; /* 1: sha256 is of these bytes (the loader's always are) */
	u32 pad0;
};

struct keel_boot_info {
	u64 magic; /* KEEL_BOOT_INFO_MAGIC */
	u32 version; /* KEEL_BOOT_INFO_VERSION */
	u32 size; /* sizeof(struct keel_boot_info) */

	u64 core_base; /* where the core image was loaded (host-physical) */
	u64 core_size; /* bytes, page multiple */

	u64 acpi_rsdp; /* 0 if the firmware gave none (Bochs, arm64 acpi=off) */
	u64 dtb; /* 0 if the firmware gave none */
	u64 efi_system_table; /* for runtime services only */

	u64 timer_hz; /* x86_64: TSC frequency measured by the loader; arm64: 0 (CNTFRQ) */
	u64 trampoline; /* x86_64: one free page below 1 MiB for AP start-up; else 0 */

	u32 log_level; /* KEEL_LOG_* from [keel] log = */
	u32 fw_cpu_count; /* CPUs the firmware's MP Services protocol reported (0 = none) */
	u32 fw_boot_cpu; /* index of the boot CPU in fw_cpu_hwid */
	u32 on_idle; /* KEEL_ON_IDLE_*: what to do once no partition runs */
	u64 fw_cpu_hwid[KEEL_MAX_CPUS]; /* x86_64: APIC IDs; arm64: MPIDR affinity */

	u32 mem_count;
	u32 module_count;
	u32 part_count;
	u32 smt_split; /* KEEL_SMT_SPLIT_*: [keel] smt_split = */
	struct keel_boot_mem mem[KEEL_BOOT_MAX_MEM]; /* sorted by base, no overlaps */
	struct keel_boot_module modules[KEEL_BOOT_MAX_MODULES];
	struct pdesc parts[KEEL_MAX_PARTITIONS]; /* unpacked, from keel.cfg */
	/* (3) keel.cfg line of each partition's device entries (0: unknown), for the core's errors */
	u32 dev_line[KEEL_MAX_PARTITIONS][KEEL_PD_MAX_DEVICES];
	/* (4) keel.cfg's [network NAME] sections, in order: a KEEL_DEV_NET's backend is the index */
	u32 net_count;
	u32 pad1;
	char nets[KEEL_MAX_NETWORKS][KEEL_NET_NAME_MAX];
	/* (5) measured launch: the SHA-256 of keel.cfg as read */
	u8 cfg_sha256[SHA256_DIGEST];
	/*
	 * (6) the boot timeline: clock counter readings (x86_64 TSC, arm64
	 * CNTPCT_EL0) at the loader's entry, keel.cfg read, and just before
	 * ExitBootServices.
	 */
	u64 t_loader_entry, t_config_read, t_exit_boot;
	/* (7) the measured launch through the firmware's TPM, as the management ABI gives it */
	struct keel_tpm_report tpm;
};

/* Log levels, as in keel.cfg. */
#define KEEL_LOG_ERROR 0u
#define KEEL_LOG_WARN 1u
#define KEEL_LOG_INFO 2u
#define KEEL_LOG_DEBUG 3u

/* [keel] smt_split = refuse (default) | allow: two partitions on one physical core's threads */
#define KEEL_SMT_SPLIT_REFUSE 0u
#define KEEL_SMT_SPLIT_ALLOW 1u

/* [keel] on_idle = stay | poweroff (for CI and test rigs) | reset */
#define KEEL_ON_IDLE_STAY 0u
#define KEEL_ON_IDLE_POWEROFF 1u
#define KEEL_ON_IDLE_RESET 2u

/* The core's entry point: entry(bi), on the boot CPU, boot services exited. */
typedef void (*keel_core_entry_t)(struct keel_boot_info *bi);

#endif /* KEEL_BOOT_INFO_H */
