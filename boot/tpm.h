/* SPDX-License-Identifier: MIT */
/*
 * The loader's measured launch (boot/tpm.c): keel.cfg and every image into
 * the firmware's TPM 2.0, if there is one; the result in bi->tpm.
 */
#ifndef KEEL_BOOT_TPM_H
#define KEEL_BOOT_TPM_H

#include <keel/boot_info.h>
#include <keel/types.h>

/* Find the TPM (quietly: none is fine) and start bi->tpm. First of all. */
void tpm_open(struct keel_boot_info *bi);

/* Extend PCR @pcr with @size bytes at @data, logged as the file @name. */
void tpm_measure(u32 pcr, const void *data, u64 size, const char *name);

/* After the last file: read the PCRs and the log into bi->tpm, and say what was measured. */
void tpm_finish(u32 log_level);

#endif /* KEEL_BOOT_TPM_H */
