/* SPDX-License-Identifier: MIT */
/*
 * The UEFI loader's internal interface: firmware helpers (boot/lib.c), the
 * core image loader (boot/core_load.c), the memory map (boot/memmap.c) and
 * the per-arch hooks (boot/efi_<arch>.c).
 */
#ifndef KEEL_BOOT_LOADER_H
#define KEEL_BOOT_LOADER_H

#include <efi.h>

#include <keel/boot_info.h>
#include <keel/types.h>

/* OS-defined memory type of every page the loader allocates for Keel. */
#define EFI_KEEL_MEMORY_TYPE ((EFI_MEMORY_TYPE)0x80000001u)

/* Pages Keel keeps for partitions' sake: the core's own reserve. */
#define LOADER_KEEL_RESERVE (64ull << 20)

extern EFI_SYSTEM_TABLE *efi_st;
extern EFI_BOOT_SERVICES *efi_bs;
extern EFI_HANDLE efi_image;

/* ---- boot/lib.c: firmware helpers (boot services only) ---- */

/* printf to the firmware console; '\n' becomes CR LF. */
void efi_printf(const char *fmt, ...) __printf(1, 2);

/* A short name for an EFI status ("Not Found"), for messages. */
const char *efi_strerror(EFI_STATUS st);

/*
 * @size bytes (rounded up to pages) of type EFI_KEEL_MEMORY_TYPE, aligned to
 * @align (a power of two, at least a page), zeroed. NULL if there is none.
 */
void *efi_alloc_keel(u64 size, u64 align);
void efi_free_keel(void *p, u64 size);

/*
 * Make @size bytes at @p (page aligned) executable and writable in the
 * firmware's page tables, which the core starts on. False if the firmware
 * offers no way (then they may already be).
 */
bool efi_make_executable(void *p, u64 size);
u32 efi_pci_stop_dma(void);

/* The configuration table with @guid, or NULL. */
void *efi_config_table(const EFI_GUID *guid);

/* ---- boot/core_load.c ---- */

/*
 * Copy the embedded core.elf into fresh 2 MiB aligned Keel pages, zero its
 * bss, apply its relocations. Fills core_base/core_size and *@entry.
 * Returns 0, or negative with a reason in *@why.
 */
int core_load(struct keel_boot_info *bi, u64 *entry, const char **why);

/* ---- boot/memmap.c ---- */

/* The KEEL_MEM_* type for a UEFI memory type. */
u32 memmap_keel_type(u32 efi_type);

/*
 * Sort the firmware map in place and turn it into bi->mem (page-aligned,
 * merged, no overlaps). Allocates nothing. Returns 0 or -KEEL_E2BIG/-EINVAL.
 */
int memmap_convert(void *map, UINTN map_size, UINTN desc_size, struct keel_boot_info *bi);

/* Bytes of memory that will be free once boot services are gone. */
u64 memmap_free_bytes(const void *map, UINTN map_size, UINTN desc_size);

/* ---- boot/efi_<arch>.c ---- */

/*
 * Fill the arch part of @bi while boot services run: timer_hz, trampoline,
 * fw_cpu_* and dtb. Prints and returns negative on a fatal problem.
 */
int efi_arch_setup(struct keel_boot_info *bi);

/* Boot aborted: free what efi_arch_setup() allocated. */
void efi_arch_release(struct keel_boot_info *bi);

/* Make @size bytes at @p, just written, safe to execute. */
void efi_arch_sync_icache(void *p, u64 size);

/* The clock counter (TSC, CNTPCT_EL0), for the boot timeline. */
u64 efi_arch_clock(void);

/* Boot services are gone: mask interrupts and call the core. Does not return. */
void __noreturn efi_arch_enter(u64 entry, struct keel_boot_info *bi);

#endif /* KEEL_BOOT_LOADER_H */
