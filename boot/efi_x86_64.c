/* SPDX-License-Identifier: MIT */
/*
 * x86_64 hooks of the UEFI loader: TSC frequency, the AP trampoline page
 * below 1 MiB, the CPU list from EFI_MP_SERVICES_PROTOCOL, the jump.
 */
#include <keel/lib.h>

#include "loader.h"

#define TRAMPOLINE_MAX 0x9f000ull /* highest page start we accept */
#define TSC_STALL_US 50000u

/* PI spec, volume 2: EFI_MP_SERVICES_PROTOCOL (gnu-efi has no definition). */
#define PROCESSOR_AS_BSP_BIT 0x1u
#define PROCESSOR_ENABLED_BIT 0x2u

struct efi_processor_information {
	UINT64 processor_id; /* the APIC ID */
	UINT32 status_flag;
	UINT32 package;
	UINT32 core;
	UINT32 thread;
};

struct efi_mp_services;

typedef EFI_STATUS(EFIAPI *efi_mp_get_count_t)(struct efi_mp_services *mp, UINTN *count,
					       UINTN *enabled);
typedef EFI_STATUS(EFIAPI *efi_mp_get_info_t)(struct efi_mp_services *mp, UINTN n,
					      struct efi_processor_information *info);

struct efi_mp_services {
	efi_mp_get_count_t get_number_of_processors;
	efi_mp_get_info_t get_processor_info;
	void *startup_all_aps;
	void *startup_this_ap;
	void *switch_bsp;
	void *enable_disable_ap;
	void *who_am_i;
};

static EFI_GUID mp_services_guid = {
	0x3fdda605, 0xa76e, 0x4f46, { 0xad, 0x29, 0x12, 0xf4, 0x53, 0x1b, 0x3d, 0x08 }
};

static inline u64 rdtsc(void)
{
	u32 lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

u64 efi_arch_clock(void)
{
	return rdtsc();
}

static u64 measure_tsc_hz(void)
{
	u64 t0, t1;

	t0 = rdtsc();
	efi_bs->Stall(TSC_STALL_US);
	t1 = rdtsc();
	return (t1 - t0) * (1000000u / TSC_STALL_US);
}

/* One page below 1 MiB, not page 0. */
static u64 alloc_trampoline(void)
{
	EFI_PHYSICAL_ADDRESS addr = TRAMPOLINE_MAX, page0 = 0;
	EFI_STATUS st;

	st = efi_bs->AllocatePages(AllocateMaxAddress, EFI_KEEL_MEMORY_TYPE, 1, &addr);
	if (!EFI_ERROR(st) && addr == 0) {
		page0 = addr;
		addr = TRAMPOLINE_MAX;
		st = efi_bs->AllocatePages(AllocateMaxAddress, EFI_KEEL_MEMORY_TYPE, 1, &addr);
		efi_bs->FreePages(page0, 1);
	}
	if (EFI_ERROR(st))
		return 0;
	memset((void *)(uintptr_t)addr, 0, PAGE_SIZE);
	return addr;
}

/* APIC IDs of the enabled CPUs, the boot CPU's index. Leaves 0 CPUs if unknown. */
static void list_cpus(struct keel_boot_info *bi)
{
	struct efi_processor_information info;
	struct efi_mp_services *mp;
	UINTN count, enabled, i;
	EFI_STATUS st;

	st = efi_bs->LocateProtocol(&mp_services_guid, NULL, (void **)&mp);
	if (EFI_ERROR(st))
		return;
	st = mp->get_number_of_processors(mp, &count, &enabled);
	if (EFI_ERROR(st))
		return;
	for (i = 0; i < count && bi->fw_cpu_count < KEEL_MAX_CPUS; i++) {
		st = mp->get_processor_info(mp, i, &info);
		if (EFI_ERROR(st) || !(info.status_flag & PROCESSOR_ENABLED_BIT))
			continue;
		if (info.status_flag & PROCESSOR_AS_BSP_BIT)
			bi->fw_boot_cpu = bi->fw_cpu_count;
		bi->fw_cpu_hwid[bi->fw_cpu_count++] = info.processor_id;
	}
}

int efi_arch_setup(struct keel_boot_info *bi)
{
	bi->timer_hz = measure_tsc_hz();
	bi->trampoline = alloc_trampoline();
	if (!bi->trampoline) {
		efi_printf("keel: loader: error: no free page below 1 MiB for the AP trampoline\n");
		return -KEEL_ENOMEM;
	}
	list_cpus(bi);
	return 0;
}

void efi_arch_release(struct keel_boot_info *bi)
{
	if (bi->trampoline)
		efi_bs->FreePages(bi->trampoline, 1);
	bi->trampoline = 0;
}

void efi_arch_sync_icache(void *p, u64 size)
{
	/* x86 keeps instruction fetch coherent with stores. */
}

void efi_arch_enter(u64 entry, struct keel_boot_info *bi)
{
	__asm__ volatile("cli" ::: "memory");
	((keel_core_entry_t)(uintptr_t)entry)(bi);
	for (;;)
		__asm__ volatile("cli; hlt");
}
