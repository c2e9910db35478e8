// SPDX-License-Identifier: MIT
/*
 * The measured launch through the firmware's TPM 2.0 (EFI_TCG2_PROTOCOL, TCG
 * EFI Protocol Specification). keel.cfg goes into PCR 12 and each image into
 * PCR 9 as it is read, before anything uses it, with an EV_IPL event naming
 * the file; the firmware hashes the bytes into every active bank and logs the
 * event. After the last file, the loader reads back both PCRs' SHA-256 bank
 * and their events from the log into the boot info, where the management
 * partition finds them (KEEL_HC_MGMT_TPM).
 *
 * A machine without a TPM boots as before. A TPM that fails a step costs a
 * warning and the boot goes on: the PCRs then differ from any expected value,
 * which is what a verifier checks, and a lab host must not be bricked by a
 * flaky TPM. keelctl shows the failure.
 */
#include <arch/types.h>
#include <keel/lib.h>

#include "loader.h"
#include "tcg.h"
#include "tpm.h"

#define TCG2_EVENT_LOG_FORMAT_TCG_2 2u
#define TCG2_BOOT_HASH_ALG_SHA256 0x2u
#define TPM_EVENT_MAX (TCG_EVENT_HEADER + KEEL_BOOT_MODULE_NAME)
#define TPM_RESPONSE_MAX 512u
#define TPM_LOG_TAIL (64u << 10) /* bytes the log's last entry may span */

static EFI_GUID tcg2_guid = {
	0x607f766c, 0x7455, 0x42be, { 0x93, 0x0b, 0xe4, 0xd7, 0x6d, 0xb2, 0x72, 0x0f }
};

/* EFI_TCG2_BOOT_SERVICE_CAPABILITY: naturally aligned, unlike the event. */
struct efi_tcg2_capability {
	UINT8 size;
	UINT8 structure_version[2];
	UINT8 protocol_version[2];
	UINT32 hash_algorithm_bitmap;
	UINT32 supported_event_logs;
	BOOLEAN tpm_present;
	UINT16 max_command_size;
	UINT16 max_response_size;
	UINT32 manufacturer_id;
	UINT32 number_of_pcr_banks;
	UINT32 active_pcr_banks;
};

struct efi_tcg2;
typedef EFI_STATUS(EFIAPI *tcg2_get_capability_fn)(struct efi_tcg2 *self,
						   struct efi_tcg2_capability *cap);
typedef EFI_STATUS(EFIAPI *tcg2_get_event_log_fn)(struct efi_tcg2 *self, UINT32 format,
						  EFI_PHYSICAL_ADDRESS *location,
						  EFI_PHYSICAL_ADDRESS *last_entry,
						  BOOLEAN *truncated);
typedef EFI_STATUS(EFIAPI *tcg2_hash_log_extend_fn)(struct efi_tcg2 *self, UINT64 flags,
						    EFI_PHYSICAL_ADDRESS data, UINT64 size,
						    void *event);
typedef EFI_STATUS(EFIAPI *tcg2_submit_command_fn)(struct efi_tcg2 *self, UINT32 in_size, UINT8 *in,
						   UINT32 out_size, UINT8 *out);

struct efi_tcg2 {
	tcg2_get_capability_fn get_capability;
	tcg2_get_event_log_fn get_event_log;
	tcg2_hash_log_extend_fn hash_log_extend_event;
	tcg2_submit_command_fn submit_command;
	/* GetActivePcrBanks, SetActivePcrBanks, GetResultOfSetActivePcrBanks: unused */
};

static struct efi_tcg2 *tcg2;
static struct keel_tpm_report *report;
static u32 measured_images;

/* The first failure is the one reported; the extensions go on regardless. */
static void tpm_failed(const char *what, EFI_STATUS st)
{
	if (report->state == KEEL_TPM_FAILED)
		return;
	report->state = KEEL_TPM_FAILED;
	if (st == EFI_SUCCESS)
		snprintf(report->why, sizeof(report->why), "%s", what);
	else
		snprintf(report->why, sizeof(report->why), "%s: %s", what, efi_strerror(st));
}

void tpm_open(struct keel_boot_info *bi)
{
	struct efi_tcg2_capability cap;
	EFI_STATUS st;

	report = &bi->tpm;
	memset(report, 0, sizeof(*report));
	if (EFI_ERROR(efi_bs->LocateProtocol(&tcg2_guid, NULL, (void **)&tcg2))) {
		tcg2 = NULL;
		return;
	}
	memset(&cap, 0, sizeof(cap));
	cap.size = sizeof(cap);
	st = tcg2->get_capability(tcg2, &cap);
	if (!EFI_ERROR(st) && !cap.tpm_present) {
		tcg2 = NULL; /* the protocol without a TPM behind it: none */
		return;
	}
	report->state = KEEL_TPM_MEASURED;
	if (EFI_ERROR(st))
		tpm_failed("GetCapability", st);
	else if (!(cap.active_pcr_banks & TCG2_BOOT_HASH_ALG_SHA256))
		tpm_failed("the TPM has no active SHA-256 PCR bank", EFI_SUCCESS);
}

void tpm_measure(u32 pcr, const void *data, u64 size, const char *name)
{
	u8 event[TPM_EVENT_MAX];
	char what[64];
	EFI_STATUS st;

	if (!tcg2)
		return;
	if (!tcg_event_build(event, sizeof(event), pcr, KEEL_TPM_EV_IPL, name)) {
		tpm_failed("a file name too long for its event", EFI_SUCCESS);
		return;
	}
	st = tcg2->hash_log_extend_event(tcg2, 0, (EFI_PHYSICAL_ADDRESS)(uintptr_t)data, size,
					 event);
	if (EFI_ERROR(st)) {
		snprintf(what, sizeof(what), "extending PCR %u with %.32s", pcr, name);
		tpm_failed(what, st);
	} else if (pcr == KEEL_TPM_PCR_IMAGES) {
		measured_images++;
	}
}

/* Both PCRs' SHA-256 bank, as the TPM holds them now. */
static void tpm_read_pcrs(void)
{
	u8 cmd[TCG_PCR_READ_COMMAND], resp[TPM_RESPONSE_MAX];
	const char *why;
	EFI_STATUS st;

	tcg_pcr_read_command(cmd);
	memset(resp, 0, sizeof(resp));
	st = tcg2->submit_command(tcg2, sizeof(cmd), cmd, sizeof(resp), resp);
	if (EFI_ERROR(st))
		tpm_failed("PCR_Read", st);
	else if (tcg_pcr_read_response(resp, sizeof(resp), report, &why))
		tpm_failed(why, EFI_SUCCESS);
}

/* Every event of both PCRs from the firmware's log, Keel's last among them. */
static void tpm_read_log(void)
{
	EFI_PHYSICAL_ADDRESS log = 0, last = 0;
	BOOLEAN truncated = FALSE;
	const char *why;
	EFI_STATUS st;

	st = tcg2->get_event_log(tcg2, TCG2_EVENT_LOG_FORMAT_TCG_2, &log, &last, &truncated);
	if (EFI_ERROR(st) || !log) {
		tpm_failed("GetEventLog", EFI_ERROR(st) ? st : EFI_NOT_FOUND);
		return;
	}
	if (truncated)
		tpm_failed("the firmware's event log is full: events are missing", EFI_SUCCESS);
	if (last && last < log) {
		tpm_failed("the TPM event log's last entry is before its start", EFI_SUCCESS);
		return;
	}
	if (tcg_log_collect((const u8 *)(uintptr_t)log, last ? last - log : 0,
			    (last ? last - log : 0) + TPM_LOG_TAIL, report, &why))
		tpm_failed(why, EFI_SUCCESS);
}

void tpm_finish(u32 log_level)
{
	char pcr9[SHA256_HEX], pcr12[SHA256_HEX];

	if (!tcg2) {
		if (log_level >= KEEL_LOG_INFO)
			efi_printf("keel: loader: no TPM 2.0: files are hashed, not measured\n");
		return;
	}
	tpm_read_log();
	tpm_read_pcrs();
	if (report->state == KEEL_TPM_FAILED) {
		efi_printf("keel: loader: warning: TPM: %s; the boot goes on, measured only in "
			   "part\n",
			   report->why);
		return;
	}
	if (log_level < KEEL_LOG_INFO)
		return;
	sha256_hex(report->pcr_images, pcr9);
	sha256_hex(report->pcr_config, pcr12);
	efi_printf("keel: loader: TPM 2.0: keel.cfg into PCR %u, %u image%s into PCR %u, %u "
		   "events logged\n",
		   KEEL_TPM_PCR_CONFIG, measured_images, measured_images == 1 ? "" : "s",
		   KEEL_TPM_PCR_IMAGES, report->event_total);
	efi_printf("keel: loader: TPM 2.0: PCR %u %s\n", KEEL_TPM_PCR_IMAGES, pcr9);
	efi_printf("keel: loader: TPM 2.0: PCR %u %s\n", KEEL_TPM_PCR_CONFIG, pcr12);
}
