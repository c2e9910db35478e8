/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the measured launch's parsers of firmware data
 * (boot/tcg.c): the input is a little-endian u32 (the offset of the event
 * log's last entry) and then the bytes, read both as a TCG_2 event log and as
 * a TPM2_PCR_Read answer. Whatever is accepted is consistent; nothing reads
 * past the input.
 */
#include <stdlib.h>
#include <string.h>

#include "tcg.h"

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	static struct keel_tpm_report r;
	const char *why = NULL;
	u8 *bytes;
	u32 last;

	if (size < 4)
		return 0;
	last = (u32)data[0] | (u32)data[1] << 8 | (u32)data[2] << 16 | (u32)data[3] << 24;
	size -= 4;
	bytes = malloc(size ? size : 1); /* exactly the input: ASan sees any overrun */
	memcpy(bytes, data + 4, size);
	memset(&r, 0, sizeof(r));
	if (tcg_log_collect(bytes, last, size, &r, &why) == 0) {
		if (r.event_count > KEEL_TPM_EVENTS_MAX || r.event_count > r.event_total)
			abort();
	} else if (!why) {
		abort(); /* a refusal always says why */
	}
	memset(&r, 0, sizeof(r));
	if (tcg_pcr_read_response(bytes, (u32)size, &r, &why) == 0 && !r.pcrs_read)
		abort();
	free(bytes);
	return 0;
}
