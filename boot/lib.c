/* SPDX-License-Identifier: MIT */
/*
 * Firmware helpers of the UEFI loader: console output, Keel page allocation,
 * configuration tables. Only valid while boot services run.
 */
#include <stdarg.h>

#include <keel/lib.h>

#include "loader.h"

EFI_SYSTEM_TABLE *efi_st;
EFI_BOOT_SERVICES *efi_bs;
EFI_HANDLE efi_image;

#define EFI_PRINT_MAX 512u

/*
 * Firmware that maps data pages non-executable (edk2's NX memory protection
 * policy, on by default for ArmVirt) needs telling that the core image is
 * code: EFI_MEMORY_ATTRIBUTE_PROTOCOL (UEFI 2.10) where it exists, else the
 * PI DXE services (GCD) that edk2 has always had. Neither is in gnu-efi.
 */
#define EFI_MEMORY_RP_BIT 0x2000ull
#define EFI_MEMORY_XP_BIT 0x4000ull
#define EFI_MEMORY_RO_BIT 0x20000ull
#define EFI_MEMORY_CACHE_MASK 0x1full /* UC WC WT WB UCE */

struct efi_memory_attribute;

typedef EFI_STATUS(EFIAPI *efi_mem_attr_fn)(struct efi_memory_attribute *self,
					    EFI_PHYSICAL_ADDRESS base, UINT64 len, UINT64 attr);

struct efi_memory_attribute {
	void *get;
	efi_mem_attr_fn set;
	efi_mem_attr_fn clear;
};

struct efi_gcd_memory_desc {
	EFI_PHYSICAL_ADDRESS base;
	UINT64 length;
	UINT64 capabilities;
	UINT64 attributes;
	UINT32 type;
	EFI_HANDLE image;
	EFI_HANDLE device;
};

typedef EFI_STATUS(EFIAPI *efi_gcd_get_fn)(EFI_PHYSICAL_ADDRESS base,
					   struct efi_gcd_memory_desc *desc);
typedef EFI_STATUS(EFIAPI *efi_gcd_set_fn)(EFI_PHYSICAL_ADDRESS base, UINT64 len, UINT64 attr);

struct efi_dxe_services {
	EFI_TABLE_HEADER hdr;
	void *add_memory_space;
	void *allocate_memory_space;
	void *free_memory_space;
	void *remove_memory_space;
	efi_gcd_get_fn get_memory_space_descriptor;
	efi_gcd_set_fn set_memory_space_attributes;
};

static EFI_GUID mem_attr_guid = {
	0xf4560cf6, 0x40ec, 0x4b4a, { 0xa1, 0x92, 0xbf, 0x1d, 0x57, 0xd0, 0xb1, 0x89 }
};
static EFI_GUID dxe_services_guid = {
	0x05ad34ba, 0x6f02, 0x4214, { 0x95, 0x2e, 0x4d, 0xa0, 0x39, 0x8e, 0x2b, 0xb9 }
};

/* Send @n ASCII bytes to ConOut, '\n' as CR LF, in short chunks. */
static void efi_puts(const char *s, size_t n)
{
	CHAR16 out[130];
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\n')
			out[k++] = L'\r';
		out[k++] = (CHAR16)(u8)s[i];
		if (k >= 126 || i + 1 == n) {
			out[k] = 0;
			efi_st->ConOut->OutputString(efi_st->ConOut, out);
			k = 0;
		}
	}
}

void efi_printf(const char *fmt, ...)
{
	char buf[EFI_PRINT_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	efi_puts(buf, MIN((size_t)n, sizeof(buf) - 1));
}

const char *efi_strerror(EFI_STATUS st)
{
	switch (st) {
	case EFI_SUCCESS:
		return "success";
	case EFI_LOAD_ERROR:
		return "load error";
	case EFI_INVALID_PARAMETER:
		return "invalid parameter";
	case EFI_UNSUPPORTED:
		return "unsupported";
	case EFI_BUFFER_TOO_SMALL:
		return "buffer too small";
	case EFI_DEVICE_ERROR:
		return "device error";
	case EFI_OUT_OF_RESOURCES:
		return "out of memory";
	case EFI_VOLUME_CORRUPTED:
		return "volume corrupted";
	case EFI_NO_MEDIA:
		return "no media";
	case EFI_NOT_FOUND:
		return "not found";
	case EFI_ACCESS_DENIED:
		return "access denied";
	case EFI_NOT_READY:
		return "not ready";
	case EFI_TIMEOUT:
		return "timed out";
	case EFI_NO_MAPPING:
		return "no IP address";
	case EFI_NO_RESPONSE:
		return "no response";
	case EFI_ABORTED:
		return "aborted";
	case EFI_ICMP_ERROR:
		return "ICMP error";
	case EFI_TFTP_ERROR:
		return "TFTP error";
	case EFI_PROTOCOL_ERROR:
		return "protocol error";
	case EFI_END_OF_FILE:
		return "end of file";
	case EFIERR(35):
		return "HTTP error";
	case EFIERR(104):
		return "connection closed by the server";
	case EFIERR(105):
		return "connection reset";
	case EFIERR(106):
		return "connection refused";
	default:
		break;
	}
	static char other[40];

	snprintf(other, sizeof(other), "firmware error %llu",
		 (unsigned long long)(st & ~EFIERR(0)));
	return other;
}

void *efi_alloc_keel(u64 size, u64 align)
{
	EFI_PHYSICAL_ADDRESS addr = 0, aligned;
	u64 pages, extra, head;
	EFI_STATUS st;

	if (size == 0 || size > (1ull << 48) || align < PAGE_SIZE || (align & (align - 1)) ||
	    align > SZ_1G)
		return NULL;
	pages = ALIGN_UP(size, PAGE_SIZE) >> PAGE_SHIFT;
	extra = (align >> PAGE_SHIFT) - 1;
	st = efi_bs->AllocatePages(AllocateAnyPages, EFI_KEEL_MEMORY_TYPE, pages + extra, &addr);
	if (EFI_ERROR(st))
		return NULL;
	aligned = ALIGN_UP(addr, align);
	head = (aligned - addr) >> PAGE_SHIFT;
	if (head)
		efi_bs->FreePages(addr, head);
	if (extra - head)
		efi_bs->FreePages(aligned + (pages << PAGE_SHIFT), extra - head);
	memset((void *)(uintptr_t)aligned, 0, pages << PAGE_SHIFT);
	return (void *)(uintptr_t)aligned;
}

void efi_free_keel(void *p, u64 size)
{
	if (p && size)
		efi_bs->FreePages((EFI_PHYSICAL_ADDRESS)(uintptr_t)p,
				  ALIGN_UP(size, PAGE_SIZE) >> PAGE_SHIFT);
}

void *efi_config_table(const EFI_GUID *guid)
{
	UINTN i;

	for (i = 0; i < efi_st->NumberOfTableEntries; i++) {
		EFI_CONFIGURATION_TABLE *t = &efi_st->ConfigurationTable[i];

		if (memcmp(&t->VendorGuid, guid, sizeof(*guid)) == 0)
			return t->VendorTable;
	}
	return NULL;
}

/* Through the GCD: each descriptor the range touches, its attributes less XP/RO/RP. */
static bool efi_gcd_make_executable(u64 base, u64 size)
{
	struct efi_dxe_services *ds = efi_config_table(&dxe_services_guid);
	struct efi_gcd_memory_desc d;
	u64 addr = base, end = base + size, n, attr;
	EFI_STATUS st;
	int guard;

	if (!ds ||
	    ds->hdr.HeaderSize <
		    offsetof(struct efi_dxe_services, set_memory_space_attributes) + sizeof(void *))
		return false;
	for (guard = 0; addr < end && guard < 64; guard++) {
		if (EFI_ERROR(ds->get_memory_space_descriptor(addr, &d)) || d.base > addr ||
		    d.base + d.length <= addr)
			return false;
		n = MIN(end, d.base + d.length) - addr;
		/* Always set: the GCD need not know the page tables' XP bits. */
		attr = d.attributes & ~(EFI_MEMORY_XP_BIT | EFI_MEMORY_RO_BIT | EFI_MEMORY_RP_BIT);
		if (!(attr & EFI_MEMORY_CACHE_MASK))
			attr |= EFI_MEMORY_WB;
		st = ds->set_memory_space_attributes(addr, n, attr);
		if (EFI_ERROR(st))
			return false;
		addr += n;
	}
	return addr >= end;
}

bool efi_make_executable(void *p, u64 size)
{
	u64 base = (u64)(uintptr_t)p;
	struct efi_memory_attribute *ma;

	if (!EFI_ERROR(efi_bs->LocateProtocol(&mem_attr_guid, NULL, (void **)&ma)) &&
	    !EFI_ERROR(ma->clear(ma, base, size,
				 EFI_MEMORY_XP_BIT | EFI_MEMORY_RO_BIT | EFI_MEMORY_RP_BIT)))
		return true;
	return efi_gcd_make_executable(base, size);
}

/*
 * Turn off bus mastering on every PCI function before Keel takes over, so no
 * device the firmware set up can DMA into memory Keel is about to hand out.
 * Passthrough (later) turns it back on behind the IOMMU. Returns how many
 * functions were disabled.
 */
u32 efi_pci_stop_dma(void)
{
	static EFI_GUID pci_io_guid = EFI_PCI_IO_PROTOCOL_GUID;
	EFI_HANDLE *handles = NULL;
	UINTN count = 0, i;
	u32 stopped = 0;

	if (EFI_ERROR(efi_bs->LocateHandleBuffer(ByProtocol, &pci_io_guid, NULL, &count, &handles)))
		return 0;
	for (i = 0; i < count; i++) {
		EFI_PCI_IO_PROTOCOL *pci;

		if (EFI_ERROR(efi_bs->HandleProtocol(handles[i], &pci_io_guid, (void **)&pci)))
			continue;
		if (!EFI_ERROR(pci->Attributes(pci, EfiPciIoAttributeOperationDisable,
					       EFI_PCI_IO_ATTRIBUTE_BUS_MASTER, NULL)))
			stopped++;
	}
	efi_bs->FreePool(handles);
	return stopped;
}
