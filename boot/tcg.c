/* SPDX-License-Identifier: MIT */
/*
 * TCG byte formats for the measured launch (see tcg.h). Everything here reads
 * through bounds-checked helpers: the event log and the TPM's answer are the
 * firmware's, and a firmware bug must cost a warning, not the boot.
 */
#include <keel/lib.h>

#include "tcg.h"

#define TPM_ST_NO_SESSIONS 0x8001u
#define TPM_CC_PCR_READ 0x0000017eu
#define TPM_PCR_SELECT_MAX 4u /* sizeofSelect: PCRs 0-31 */
#define TCG_SPEC_ID "Spec ID Event03"
#define TCG_LOG_MAX_ALGS 8u /* digest kinds a log may carry; real ones have 1-4 */

static u32 get_le32(const u8 *p)
{
	return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

static u16 get_le16(const u8 *p)
{
	return (u16)(p[0] | p[1] << 8);
}

static u32 get_be32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | (u32)p[3];
}

static u16 get_be16(const u8 *p)
{
	return (u16)(p[0] << 8 | p[1]);
}

static void put_le32(u8 *p, u32 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
	p[2] = (u8)(v >> 16);
	p[3] = (u8)(v >> 24);
}

static void put_be32(u8 *p, u32 v)
{
	p[0] = (u8)(v >> 24);
	p[1] = (u8)(v >> 16);
	p[2] = (u8)(v >> 8);
	p[3] = (u8)v;
}

/* ------------------------------------------------------------ the event */

u32 tcg_event_build(u8 *buf, u32 cap, u32 pcr, u32 type, const char *name)
{
	u32 len = (u32)strlen(name), size = TCG_EVENT_HEADER + len;

	if (len > cap || size > cap)
		return 0;
	put_le32(buf, size); /* Size: the whole structure */
	put_le32(buf + 4, 14); /* HeaderSize: the packed header */
	buf[8] = 1; /* HeaderVersion 1 */
	buf[9] = 0;
	put_le32(buf + 10, pcr);
	put_le32(buf + 14, type);
	memcpy(buf + TCG_EVENT_HEADER, name, len);
	return size;
}

/* ------------------------------------------------------------ PCR_Read */

void tcg_pcr_read_command(u8 cmd[TCG_PCR_READ_COMMAND])
{
	u32 pcrs = 1u << KEEL_TPM_PCR_IMAGES | 1u << KEEL_TPM_PCR_CONFIG;

	cmd[0] = TPM_ST_NO_SESSIONS >> 8;
	cmd[1] = TPM_ST_NO_SESSIONS & 0xff;
	put_be32(cmd + 2, TCG_PCR_READ_COMMAND);
	put_be32(cmd + 6, TPM_CC_PCR_READ);
	put_be32(cmd + 10, 1); /* TPML_PCR_SELECTION: one bank */
	cmd[14] = TCG_ALG_SHA256 >> 8;
	cmd[15] = TCG_ALG_SHA256 & 0xff;
	cmd[16] = 3; /* sizeofSelect: PCRs 0-23 */
	cmd[17] = (u8)pcrs;
	cmd[18] = (u8)(pcrs >> 8);
	cmd[19] = (u8)(pcrs >> 16);
}

/* A cursor over @len bytes; every take fails once the bytes run out. */
struct cursor {
	const u8 *p;
	u64 left;
};

static const u8 *take(struct cursor *c, u64 n)
{
	const u8 *p = c->p;

	if (n > c->left)
		return NULL;
	c->p += n;
	c->left -= n;
	return p;
}

/* Where PCR @pcr's digest goes in @r, or NULL for a PCR Keel did not ask for. */
static u8 *pcr_slot(struct keel_tpm_report *r, u32 pcr)
{
	if (pcr == KEEL_TPM_PCR_IMAGES)
		return r->pcr_images;
	if (pcr == KEEL_TPM_PCR_CONFIG)
		return r->pcr_config;
	return NULL;
}

/*
 * The PCRs the answer's selection names, in the order its digests come
 * (banks in order, PCRs ascending): into @pcrs (SHA-256 bank) or as 32 for
 * another bank's. Their number, or -1 if malformed.
 */
static int selected_pcrs(struct cursor *c, u32 pcrs[TPM_PCR_SELECT_MAX * 8 * 2], u32 max)
{
	const u8 *p = take(c, 4);
	u32 banks, b, n = 0;

	if (!p || (banks = get_be32(p)) > 2)
		return -1;
	for (b = 0; b < banks; b++) {
		const u8 *h = take(c, 3), *sel;
		u32 bit;

		if (!h || h[2] > TPM_PCR_SELECT_MAX || !(sel = take(c, h[2])))
			return -1;
		for (bit = 0; bit < h[2] * 8u; bit++) {
			if (!(sel[bit / 8] & (1u << (bit % 8))))
				continue;
			if (n >= max)
				return -1;
			pcrs[n++] = get_be16(h) == TCG_ALG_SHA256 ? bit : 32;
		}
	}
	return (int)n;
}

int tcg_pcr_read_response(const u8 *resp, u32 len, struct keel_tpm_report *r, const char **why)
{
	struct cursor c = { resp, len };
	u32 pcrs[TPM_PCR_SELECT_MAX * 8 * 2], got = 0, i, count;
	const u8 *h = take(&c, 14), *p;
	int n;

	*why = "the TPM's answer to PCR_Read is malformed";
	if (!h || get_be32(h + 2) > len || get_be32(h + 2) < 14)
		return -1;
	if (get_be32(h + 6) != 0) {
		*why = "the TPM refused PCR_Read";
		return -1;
	}
	c.left = get_be32(h + 2) - 14; /* the answer's own size bounds what follows */
	n = selected_pcrs(&c, pcrs, ARRAY_SIZE(pcrs));
	p = take(&c, 4);
	if (n < 0 || !p || (count = get_be32(p)) != (u32)n)
		return -1;
	for (i = 0; i < count; i++) {
		const u8 *sz = take(&c, 2), *d;
		u8 *slot;

		if (!sz || !(d = take(&c, get_be16(sz))))
			return -1;
		slot = pcr_slot(r, pcrs[i]);
		if (!slot)
			continue;
		if (get_be16(sz) != 32)
			return -1;
		memcpy(slot, d, 32);
		got |= 1u << pcrs[i];
	}
	if (got != (1u << KEEL_TPM_PCR_IMAGES | 1u << KEEL_TPM_PCR_CONFIG)) {
		*why = "the TPM has no SHA-256 bank for PCRs 9 and 12";
		return -1;
	}
	r->pcrs_read = 1;
	return 0;
}

/* ------------------------------------------------------------ event log */

struct log_algs {
	u32 count;
	u16 id[TCG_LOG_MAX_ALGS];
	u16 size[TCG_LOG_MAX_ALGS];
};

/* The first entry, in the SHA-1 format: the Spec ID event naming the digests that follow. */
static int log_spec_id(struct cursor *c, struct log_algs *algs, const char **why)
{
	const u8 *h = take(c, 32), *ev, *p;
	struct cursor e;
	u32 i;

	*why = "the TPM event log does not start with a TCG_2 Spec ID event";
	if (!h || get_le32(h + 4) != TCG_EV_NO_ACTION || !(ev = take(c, get_le32(h + 28))))
		return -1;
	e.p = ev;
	e.left = get_le32(h + 28);
	p = take(&e, 28);
	if (!p || memcmp(p, TCG_SPEC_ID, sizeof(TCG_SPEC_ID)) != 0)
		return -1;
	algs->count = get_le32(p + 24);
	if (algs->count == 0 || algs->count > TCG_LOG_MAX_ALGS)
		return -1;
	for (i = 0; i < algs->count; i++) {
		if (!(p = take(&e, 4)))
			return -1;
		algs->id[i] = get_le16(p);
		algs->size[i] = get_le16(p + 2);
	}
	return 0;
}

/* Keep one event of PCR @pcr: its SHA-256 digest (if given) and its data's first bytes. */
static void log_keep(struct keel_tpm_report *r, u32 pcr, u32 type, const u8 *sha256, const u8 *data,
		     u32 size)
{
	struct keel_tpm_event *e;

	r->event_total++;
	if (r->event_count >= KEEL_TPM_EVENTS_MAX)
		return;
	e = &r->event[r->event_count++];
	memset(e, 0, sizeof(*e));
	e->pcr = pcr;
	e->type = type;
	e->data_size = size;
	e->has_sha256 = sha256 != NULL;
	if (sha256)
		memcpy(e->sha256, sha256, 32);
	memcpy(e->data, data, MIN(size, KEEL_TPM_EVENT_DATA));
}

/* One TCG_PCR_EVENT2 entry; 0 or -1 if it does not parse within the log. */
static int log_entry(struct cursor *c, const struct log_algs *algs, struct keel_tpm_report *r)
{
	const u8 *h = take(c, 12), *sha256 = NULL, *p, *data;
	u32 count, i, j, size;

	if (!h || (count = get_le32(h + 8)) > TCG_LOG_MAX_ALGS)
		return -1;
	for (i = 0; i < count; i++) {
		const u8 *alg = take(c, 2), *digest;

		if (!alg)
			return -1;
		for (j = 0; j < algs->count && algs->id[j] != get_le16(alg); j++)
			;
		if (j == algs->count || !(digest = take(c, algs->size[j])))
			return -1; /* a digest the Spec ID event did not size */
		if (get_le16(alg) == TCG_ALG_SHA256 && algs->size[j] == 32)
			sha256 = digest;
	}
	if (!(p = take(c, 4)) || !(data = take(c, size = get_le32(p))))
		return -1;
	if (pcr_slot(r, get_le32(h)))
		log_keep(r, get_le32(h), get_le32(h + 4), sha256, data, size);
	return 0;
}

int tcg_log_collect(const u8 *log, u64 last, u64 cap, struct keel_tpm_report *r, const char **why)
{
	struct cursor c = { log, cap };
	struct log_algs algs;

	r->event_count = r->event_total = 0;
	*why = "the TPM event log's last entry is beyond the log";
	if (last >= cap || log_spec_id(&c, &algs, why))
		return -1;
	*why = "the TPM event log is malformed";
	if (last == 0)
		return 0; /* the Spec ID event is the whole log */
	while ((u64)(c.p - log) < last)
		if (log_entry(&c, &algs, r))
			return -1;
	/* The entries must meet the last one exactly; then it is read too. */
	if ((u64)(c.p - log) != last || log_entry(&c, &algs, r))
		return -1;
	return 0;
}
