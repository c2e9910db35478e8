/* SPDX-License-Identifier: MIT */
/*
 * The byte formats of the measured launch, without any firmware call, so the
 * host unit tests run them on hostile input: the EFI_TCG2_EVENT the loader
 * hands HashLogExtendEvent, the TPM2_PCR_Read command and its response (TPM
 * 2.0 Part 3, big-endian) and the firmware's crypto-agile event log (TCG PC
 * Client Platform Firmware Profile, "TCG_2" format, little-endian).
 */
#ifndef KEEL_BOOT_TCG_H
#define KEEL_BOOT_TCG_H

#include <keel/abi.h>
#include <keel/types.h>

#define TCG_ALG_SHA256 0x000bu
#define TCG_EV_NO_ACTION 0x03u
#define TCG_PCR_READ_COMMAND 20u /* bytes of the command tcg_pcr_read_command() builds */
#define TCG_EVENT_HEADER 18u /* EFI_TCG2_EVENT's Size and packed header, before the data */

/*
 * EFI_TCG2_EVENT for an event of @type in @pcr whose data is @name (no NUL)
 * into @buf. Its size, or 0 if it does not fit in @cap.
 */
u32 tcg_event_build(u8 *buf, u32 cap, u32 pcr, u32 type, const char *name);

/* TPM2_PCR_Read of the SHA-256 bank of PCRs KEEL_TPM_PCR_IMAGES and KEEL_TPM_PCR_CONFIG. */
void tcg_pcr_read_command(u8 cmd[TCG_PCR_READ_COMMAND]);

/*
 * Read the answer to that command (@len bytes at @resp) into r->pcr_images
 * and r->pcr_config, setting r->pcrs_read. 0, or negative with the reason
 * in *@why: a TPM error, a TPM without a SHA-256 bank or a malformed answer.
 */
int tcg_pcr_read_response(const u8 *resp, u32 len, struct keel_tpm_report *r, const char **why);

/*
 * Copy the events of PCRs KEEL_TPM_PCR_IMAGES and KEEL_TPM_PCR_CONFIG from
 * the TCG_2 event log at @log into r->event[] in log order, counting every
 * one in r->event_total. @last is the offset of the log's last entry (as
 * GetEventLog gives it), @cap the bytes at @log that may be read. 0, or
 * negative with the reason in *@why; nothing is read outside @cap.
 */
int tcg_log_collect(const u8 *log, u64 last, u64 cap, struct keel_tpm_report *r, const char **why);

#endif /* KEEL_BOOT_TCG_H */
