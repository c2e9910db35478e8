/* SPDX-License-Identifier: MIT */
/*
 * The UEFI loader: reads keel.cfg and the files it names from the boot
 * volume, checks the whole configuration, loads the embedded core, takes the
 * final memory map, exits boot services and hands struct keel_boot_info over.
 */
#include <arch/types.h>
#include <keel/lib.h>
#include <keel/version.h>

#include "config.h"
#include "loader.h"
#include "source.h"
#include "tpm.h"

#define CFG_NAME "keel.cfg"
#define CFG_FILE_MAX (64u << 10)

static EFI_GUID acpi20_guid = ACPI_20_TABLE_GUID;

static struct keel_config cfg;
static struct boot_source src;

/* What a failed module load was about, per module: NULL if it loaded. */
static const char *module_error[KEEL_BOOT_MAX_MODULES];

/* ------------------------------------------------------------------ files */

/* Read keel.cfg into pool memory and hash it. Prints the error itself. */
static EFI_STATUS read_config_file(struct keel_boot_info *bi, char **text, u64 *size)
{
	struct sha256 h;
	EFI_STATUS st;

	st = src.size(&src, CFG_NAME, size);
	if (!EFI_ERROR(st) && *size > CFG_FILE_MAX)
		st = EFI_BAD_BUFFER_SIZE;
	if (!EFI_ERROR(st))
		st = efi_bs->AllocatePool(EfiLoaderData, *size + 1, (void **)text);
	if (!EFI_ERROR(st)) {
		sha256_init(&h);
		st = src.read(&src, CFG_NAME, *text, *size, &h);
		sha256_final(&h, bi->cfg_sha256);
		bi->t_config_read = efi_arch_clock();
		if (EFI_ERROR(st))
			efi_bs->FreePool(*text);
		else
			tpm_measure(KEEL_TPM_PCR_CONFIG, *text, *size, CFG_NAME);
	}
	if (st == EFI_BAD_BUFFER_SIZE)
		efi_printf("keel.cfg: error: file is larger than %u KiB\n", CFG_FILE_MAX >> 10);
	else if (EFI_ERROR(st))
		efi_printf("keel.cfg: error: cannot read %s%s from %s: %s\n", src.dir, CFG_NAME,
			   src.where, src.error[0] ? src.error : efi_strerror(st));
	return st;
}

/* ---------------------------------------------------------------- modules */

/* "@what @prep <server>" as module @i's reason: a network source names its server. */
static const char *module_reason(u32 i, const char *what, const char *prep)
{
	static char reasons[KEEL_BOOT_MAX_MODULES][sizeof(src.error) + sizeof(src.where) + 8];

	snprintf(reasons[i], sizeof(reasons[i]), "%s %s %s", what, prep, src.where);
	return reasons[i];
}

/* Load (or with @probe only look at) module @i into bi->modules[i], hashing it. */
static const char *load_module(struct keel_boot_info *bi, u32 i, bool probe)
{
	struct keel_boot_module *m = &bi->modules[i];
	const char *path = cfg.modules[i].path;
	struct sha256 h;
	EFI_STATUS st;
	u64 size = 0;
	void *p = NULL;

	st = src.size(&src, path, &size);
	if (st != EFI_NOT_FOUND && EFI_ERROR(st) && src.error[0])
		return module_reason(i, src.error, "on");
	if (st == EFI_NOT_FOUND)
		return src.network ? module_reason(i, "no such file", "on") : "no such file";
	if (st == EFI_ACCESS_DENIED)
		return "is a directory";
	if (!EFI_ERROR(st) && !probe) {
		p = efi_alloc_keel(size ? size : 1, PAGE_SIZE);
		sha256_init(&h);
		m->read_start = efi_arch_clock();
		st = p ? src.read(&src, path, p, size, &h) : EFI_OUT_OF_RESOURCES;
		m->read_end = efi_arch_clock();
		sha256_final(&h, m->sha256);
		if (EFI_ERROR(st) && p)
			efi_free_keel(p, size ? size : 1);
		else if (!EFI_ERROR(st))
			tpm_measure(KEEL_TPM_PCR_IMAGES, p, size, path);
	}
	if (st == EFI_END_OF_FILE)
		return src.network
			       ? module_reason(i, "the transfer ended short of its size", "from")
			       : "shorter than its size: truncated or changed while read";
	if (EFI_ERROR(st) && st != EFI_OUT_OF_RESOURCES && src.network)
		return module_reason(i, src.error[0] ? src.error : efi_strerror(st), "from");
	if (EFI_ERROR(st))
		return st == EFI_OUT_OF_RESOURCES ? "not enough memory to load it"
						  : efi_strerror(st);
	m->base = (u64)(uintptr_t)p;
	m->size = size;
	m->measured = 1;
	memcpy(m->name, path, strnlen(path, CFG_PATH_MAX - 1));
	return NULL;
}

/* A module whose digest is not the one keel.cfg gave: an error at that key. */
static void check_module_digest(const struct keel_boot_info *bi, u32 i)
{
	const struct cfg_module *c = &cfg.modules[i];
	char want[SHA256_HEX], got[SHA256_HEX];

	if (!c->sha256_line || memcmp(c->sha256, bi->modules[i].sha256, SHA256_DIGEST) == 0)
		return;
	sha256_hex(c->sha256, want);
	sha256_hex(bi->modules[i].sha256, got);
	config_error(&cfg, c->sha256_line, "'%s' has SHA-256 %s, not %s", c->path, got, want);
}

/*
 * Report a failed module at every key that names it. The partition stays in
 * the set checks: its other keys may have problems too.
 */
static void report_module_errors(void)
{
	u32 i;

	for (i = 0; i < cfg.part_count; i++) {
		const struct cfg_part_files *f = &cfg.files[i];
		const struct cfg_part_lines *l = &cfg.lines[i];

		if (f->kernel < cfg.module_count && module_error[f->kernel]) {
			config_error(&cfg, l->kernel, "kernel: cannot load '%s': %s",
				     cfg.modules[f->kernel].path, module_error[f->kernel]);
		}
		if (f->initrd < cfg.module_count && module_error[f->initrd]) {
			config_error(&cfg, l->initrd, "initrd: cannot load '%s': %s",
				     cfg.modules[f->initrd].path, module_error[f->initrd]);
		}
		if (f->disk < cfg.module_count && module_error[f->disk]) {
			config_error(&cfg, l->disk, "disk: cannot load '%s': %s",
				     cfg.modules[f->disk].path, module_error[f->disk]);
		}
	}
}

/* Load every module; with config errors already, only check they exist. */
static void load_modules(struct keel_boot_info *bi)
{
	bool probe = cfg.error_count != 0;
	u32 i;

	for (i = 0; i < cfg.module_count; i++) {
		char hex[SHA256_HEX];

		module_error[i] = load_module(bi, i, probe);
		if (module_error[i] || probe)
			continue;
		check_module_digest(bi, i);
		if (cfg.log_level >= KEEL_LOG_INFO) {
			sha256_hex(bi->modules[i].sha256, hex);
			efi_printf("keel: loader: %s: %llu bytes, sha256 %s\n", cfg.modules[i].path,
				   (unsigned long long)bi->modules[i].size, hex);
		}
	}
	bi->module_count = cfg.module_count;
	report_module_errors();
}

/* ------------------------------------------------------------- memory map */

/* The current map in pool memory (free with FreePool). */
static EFI_STATUS get_memory_map(void **map, UINTN *size, UINTN *cap, UINTN *key, UINTN *desc_size)
{
	UINT32 desc_ver;
	EFI_STATUS st;

	*size = 0;
	st = efi_bs->GetMemoryMap(size, NULL, key, desc_size, &desc_ver);
	if (st != EFI_BUFFER_TOO_SMALL)
		return EFI_ERROR(st) ? st : EFI_DEVICE_ERROR;
	/* Room for the entries this allocation and a few retries may add. */
	*cap = *size + 16 * *desc_size;
	st = efi_bs->AllocatePool(EfiLoaderData, *cap, map);
	if (EFI_ERROR(st))
		return st;
	*size = *cap;
	st = efi_bs->GetMemoryMap(size, *map, key, desc_size, &desc_ver);
	if (EFI_ERROR(st))
		efi_bs->FreePool(*map);
	return st;
}

/* Memory partitions may have: what will be free, less Keel's own reserve. */
/*
 * The physical core of each logical CPU as the core will number them (the
 * boot CPU 0, then the firmware's order), for the SMT rule; NULL if the
 * firmware listed no CPUs.
 */
static const u64 *cpu_cores(const struct keel_boot_info *bi)
{
	static u64 cores[KEEL_MAX_CPUS];
	u32 i, n = 0;

	if (!bi->fw_cpu_count || bi->fw_boot_cpu >= bi->fw_cpu_count)
		return NULL;
	cores[n++] = arch_cpu_core_of(bi->fw_cpu_hwid[bi->fw_boot_cpu]);
	for (i = 0; i < bi->fw_cpu_count && n < KEEL_MAX_CPUS; i++)
		if (i != bi->fw_boot_cpu)
			cores[n++] = arch_cpu_core_of(bi->fw_cpu_hwid[i]);
	return cores;
}

static u64 memory_for_partitions(void)
{
	UINTN size, cap, key, desc_size;
	void *map;
	u64 free;

	if (EFI_ERROR(get_memory_map(&map, &size, &cap, &key, &desc_size)))
		return 0;
	free = memmap_free_bytes(map, size, desc_size);
	efi_bs->FreePool(map);
	return free > LOADER_KEEL_RESERVE ? free - LOADER_KEEL_RESERVE : 1;
}

/*
 * Take the final map into bi->mem and exit boot services, retrying with a
 * fresh map if the key went stale. Nothing may allocate in between.
 */
static EFI_STATUS exit_boot_services(struct keel_boot_info *bi)
{
	UINTN size, cap, key, desc_size;
	EFI_STATUS st;
	void *map;
	int tries;

	st = get_memory_map(&map, &size, &cap, &key, &desc_size);
	if (EFI_ERROR(st)) {
		efi_printf("keel: loader: error: GetMemoryMap: %s\n", efi_strerror(st));
		return st;
	}
	if (memmap_convert(map, size, desc_size, bi)) {
		efi_printf("keel: loader: error: memory map has more than %u ranges\n",
			   KEEL_BOOT_MAX_MEM);
		return EFI_BUFFER_TOO_SMALL;
	}
	for (tries = 0; tries < 8; tries++) {
		st = efi_bs->ExitBootServices(efi_image, key);
		if (st != EFI_INVALID_PARAMETER)
			return st;
		/* Only GetMemoryMap and ExitBootServices from here on. */
		size = cap;
		st = efi_bs->GetMemoryMap(&size, map, &key, &desc_size, &(UINT32){ 0 });
		if (EFI_ERROR(st) || memmap_convert(map, size, desc_size, bi))
			return EFI_LOAD_ERROR;
	}
	return st;
}

/* ------------------------------------------------------------------- main */

static void print_config_errors(void)
{
	u32 i;

	/* Named as on the volume when it is not at the root: \x86_64\keel.cfg:12: ... */
	config_sort_errors(&cfg);
	for (i = 0; i < cfg.error_count; i++)
		efi_printf("%s%s:%u: error: %s\n", src.dir[1] ? src.dir : "", CFG_NAME,
			   cfg.errors[i].line, cfg.errors[i].msg);
}

static void fill_boot_info(struct keel_boot_info *bi)
{
	u32 i;

	bi->magic = KEEL_BOOT_INFO_MAGIC;
	bi->version = KEEL_BOOT_INFO_VERSION;
	bi->size = sizeof(*bi);
	bi->efi_system_table = (u64)(uintptr_t)efi_st;
	bi->acpi_rsdp = (u64)(uintptr_t)efi_config_table(&acpi20_guid);
	bi->log_level = cfg.log_level;
	bi->on_idle = cfg.on_idle;
	bi->smt_split = cfg.smt_split;
	bi->part_count = cfg.part_count;
	memcpy(bi->parts, cfg.parts, sizeof(bi->parts));
	/* The line of each device entry, for what the core finds only at boot (vfio). */
	for (i = 0; i < KEEL_MAX_PARTITIONS; i++)
		memcpy(bi->dev_line[i], cfg.lines[i].dev, sizeof(bi->dev_line[i]));
	bi->net_count = cfg.net_count;
	memcpy(bi->nets, cfg.nets, sizeof(bi->nets));
}

/*
 * Parse, load and check everything. Returns NULL when all is well, else why
 * the boot is aborted (the details are printed already).
 */
static const char *prepare(struct keel_boot_info *bi, u64 *entry)
{
	struct pdesc_limits lim;
	const char *why = "";
	char *text;
	u64 size;

	if (EFI_ERROR(read_config_file(bi, &text, &size)))
		return "cannot read keel.cfg";
	config_parse(text, size, &cfg);
	efi_bs->FreePool(text);
	if (core_load(bi, entry, &why)) {
		efi_printf("keel: loader: error: %s\n", why);
		return "cannot load the core";
	}
	load_modules(bi);
	if (efi_arch_setup(bi))
		return "loader error";
	memset(&lim, 0, sizeof(lim));
	lim.cpu_count = bi->fw_cpu_count;
	lim.cpu_core = cpu_cores(bi);
	lim.smt_split = cfg.smt_split;
	lim.module_count = cfg.module_count;
	lim.mem_available = memory_for_partitions();
	config_check(&cfg, &lim);
	if (cfg.error_count) {
		print_config_errors();
		return "keel.cfg has errors";
	}
	fill_boot_info(bi);
	return NULL;
}

/* Boot aborted: give the firmware back every page allocated for Keel. */
static void release_all(struct keel_boot_info *bi)
{
	u32 i;

	for (i = 0; i < bi->module_count; i++)
		if (bi->modules[i].base)
			efi_free_keel((void *)(uintptr_t)bi->modules[i].base,
				      bi->modules[i].size ? bi->modules[i].size : 1);
	efi_arch_release(bi);
	if (bi->core_base)
		efi_free_keel((void *)(uintptr_t)bi->core_base, bi->core_size);
	efi_free_keel(bi, sizeof(*bi));
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st);

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *st)
{
	struct keel_boot_info *bi;
	EFI_STATUS status;
	u64 entry = 0, t_entry = efi_arch_clock();
	const char *why;

	efi_image = image;
	efi_st = st;
	efi_bs = st->BootServices;
	efi_bs->SetWatchdogTimer(0, 0, 0, NULL);
	/* First, before any file is read: the moment the firmware handed over (make bench times it). */
	efi_printf("keel: loader: Keel %s (%s) EFI loader\n", KEEL_VERSION, KEEL_ARCH_NAME);

	/* The network first: iPXE hands its NBPs a file system of what it downloaded too. */
	if (!source_http_open(&src) && !source_tftp_open(&src) && !source_volume_open(&src)) {
		efi_printf("keel: loader: error: cannot read keel.cfg: keel.efi came from neither "
			   "a file system nor a PXE or HTTP boot; no partition started\n");
		return EFI_LOAD_ERROR;
	}
	if (src.network)
		efi_printf("keel: loader: network boot: reading keel.cfg and its files from %s\n",
			   src.where);
	bi = efi_alloc_keel(sizeof(*bi), PAGE_SIZE);
	if (!bi) {
		src.close(&src);
		efi_printf("keel: loader: error: no memory for the boot info\n");
		return EFI_OUT_OF_RESOURCES;
	}
	bi->t_loader_entry = t_entry;
	tpm_open(bi);
	why = prepare(bi, &entry);
	if (why) {
		efi_printf("keel: boot aborted: %s; no partition started\n", why);
		src.close(&src);
		release_all(bi);
		return EFI_LOAD_ERROR;
	}
	src.close(&src);
	tpm_finish(cfg.log_level);
	efi_printf("keel: loader: %u partition%s, %u module%s, core at 0x%llx; starting\n",
		   bi->part_count, bi->part_count == 1 ? "" : "s", bi->module_count,
		   bi->module_count == 1 ? "" : "s", (unsigned long long)bi->core_base);

	/* After the last file read: no firmware-started DMA may outlive boot services. */
	efi_pci_stop_dma();
	bi->t_exit_boot = efi_arch_clock();
	status = exit_boot_services(bi);
	if (EFI_ERROR(status))
		return status;
	efi_arch_enter(entry, bi);
}
