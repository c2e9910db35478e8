/* SPDX-License-Identifier: MIT */
/*
 * The measured launch's byte formats (boot/tcg.c): the EFI_TCG2_EVENT the
 * loader builds, TPM2_PCR_Read and its answer, and the firmware's TCG_2
 * event log. The answer and the log come from the firmware: every cut and
 * mutation of good ones must fail cleanly or parse, never read outside the
 * bytes given (each input sits in a buffer of exactly its size, under ASan).
 */
#include <stdlib.h>

#include "tcg.h"
#include "unit.h"

static void put16le(u8 *p, u16 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
}

static void put32le(u8 *p, u32 v)
{
	put16le(p, (u16)v);
	put16le(p + 2, (u16)(v >> 16));
}

static void put16be(u8 *p, u16 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
}

static void put32be(u8 *p, u32 v)
{
	put16be(p, (u16)(v >> 16));
	put16be(p + 2, (u16)v);
}

/* A copy of @len bytes in a buffer of exactly that size (ASan sees any overrun). */
static u8 *exact(const u8 *src, size_t len)
{
	u8 *p = malloc(len ? len : 1);

	memcpy(p, src, len);
	return p;
}

/* ---- the event ---- */

static void test_event_layout(void)
{
	u8 buf[64];
	u32 n = tcg_event_build(buf, sizeof(buf), 9, KEEL_TPM_EV_IPL, "\\linux\\Image");

	CHECK_EQ(n, TCG_EVENT_HEADER + 12);
	CHECK_EQ(buf[0] | buf[1] << 8, n); /* Size: the whole */
	CHECK_EQ(buf[4], 14); /* HeaderSize: the packed header */
	CHECK_EQ(buf[8], 1); /* HeaderVersion */
	CHECK_EQ(buf[10], 9); /* PCRIndex */
	CHECK_EQ(buf[14], KEEL_TPM_EV_IPL);
	CHECK(memcmp(buf + TCG_EVENT_HEADER, "\\linux\\Image", 12) == 0);
	/* A name that does not fit is refused, not cut. */
	CHECK_EQ(tcg_event_build(buf, TCG_EVENT_HEADER + 11, 9, 13, "\\linux\\Image"), 0);
	CHECK_EQ(tcg_event_build(buf, 4, 9, 13, ""), 0);
}

/* ---- PCR_Read ---- */

static void test_pcr_read_command(void)
{
	static const u8 want[TCG_PCR_READ_COMMAND] = {
		0x80, 0x01, 0, 0, 0,	20,   0, 0,    0x01, 0x7e, /* header: PCR_Read */
		0,    0,    0, 1, 0x00, 0x0b, 3, 0x00, 0x12, 0x00, /* SHA-256: PCRs 9 and 12 */
	};
	u8 cmd[TCG_PCR_READ_COMMAND];

	tcg_pcr_read_command(cmd);
	CHECK(memcmp(cmd, want, sizeof(want)) == 0);
}

/*
 * A TPM's answer: @banks selections (SHA-1 first when 2), each of PCRs 9 and
 * 12, then their digests (SHA-1 20 bytes of 0x11.., SHA-256 of 0x99 and 0xcc).
 */
static size_t pcr_answer(u8 *out, u32 banks, u32 rc)
{
	size_t n = 18;
	u32 b;

	put16be(out, 0x8001);
	put32be(out + 6, rc);
	put32be(out + 10, 7); /* pcrUpdateCounter */
	put32be(out + 14, banks);
	for (b = 0; b < banks; b++) {
		put16be(out + n, banks == 2 && b == 0 ? 0x0004 : 0x000b);
		out[n + 2] = 3;
		out[n + 3] = 0;
		out[n + 4] = 0x12;
		out[n + 5] = 0;
		n += 6;
	}
	put32be(out + n, 2 * banks);
	n += 4;
	for (b = 0; b < banks; b++) {
		u16 size = banks == 2 && b == 0 ? 20 : 32;

		put16be(out + n, size);
		memset(out + n + 2, banks == 2 && b == 0 ? 0x11 : 0x99, size);
		n += 2 + size;
		put16be(out + n, size);
		memset(out + n + 2, banks == 2 && b == 0 ? 0x22 : 0xcc, size);
		n += 2 + size;
	}
	put32be(out + 2, (u32)n);
	return n;
}

static bool filled(const u8 *p, u8 v)
{
	for (int i = 0; i < 32; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void test_pcr_read_answers(void)
{
	struct keel_tpm_report r;
	const char *why = NULL;
	u8 ans[256];
	size_t n;

	for (u32 banks = 1; banks <= 2; banks++) {
		memset(&r, 0, sizeof(r));
		n = pcr_answer(ans, banks, 0);
		CHECK_EQ(tcg_pcr_read_response(ans, (u32)n, &r, &why), 0);
		CHECK(r.pcrs_read);
		CHECK(filled(r.pcr_images, 0x99));
		CHECK(filled(r.pcr_config, 0xcc));
	}
	/* A TPM error code. */
	memset(&r, 0, sizeof(r));
	n = pcr_answer(ans, 1, 0x101);
	CHECK_EQ(tcg_pcr_read_response(ans, (u32)n, &r, &why), -1);
	CHECK(strstr(why, "refused") != NULL);
	CHECK(!r.pcrs_read);
	/* No SHA-256 bank: the only selection is SHA-1's. */
	n = pcr_answer(ans, 1, 0);
	put16be(ans + 18, 0x0004);
	CHECK_EQ(tcg_pcr_read_response(ans, (u32)n, &r, &why), -1);
	CHECK(strstr(why, "SHA-256") != NULL);
	/* A SHA-256 digest of another size. */
	n = pcr_answer(ans, 1, 0);
	put16be(ans + 28, 31);
	CHECK_EQ(tcg_pcr_read_response(ans, (u32)n, &r, &why), -1);
	/* Fewer digests than selected PCRs. */
	n = pcr_answer(ans, 1, 0);
	put32be(ans + 24, 1);
	CHECK_EQ(tcg_pcr_read_response(ans, (u32)n, &r, &why), -1);
	/* A size field beyond the buffer, or below the header. */
	n = pcr_answer(ans, 1, 0);
	put32be(ans + 2, (u32)n + 1);
	CHECK_EQ(tcg_pcr_read_response(ans, (u32)n, &r, &why), -1);
	put32be(ans + 2, 13);
	CHECK_EQ(tcg_pcr_read_response(ans, (u32)n, &r, &why), -1);
}

/* Every cut of a good answer fails within its bytes; every byte flip is survived. */
static void test_pcr_read_hostile(void)
{
	unsigned long long seed = 0x7c6b0a1dull;
	struct keel_tpm_report r;
	const char *why;
	u8 ans[256];
	size_t n = pcr_answer(ans, 2, 0);

	for (size_t len = 0; len < n; len++) {
		u8 *p = exact(ans, len);

		memset(&r, 0, sizeof(r));
		CHECK_EQ(tcg_pcr_read_response(p, (u32)len, &r, &why), -1);
		free(p);
	}
	for (int i = 0; i < 20000; i++) {
		u8 *p = exact(ans, n);

		p[unit_rand(&seed) % n] = (u8)unit_rand(&seed);
		p[unit_rand(&seed) % n] = (u8)unit_rand(&seed);
		memset(&r, 0, sizeof(r));
		if (tcg_pcr_read_response(p, (u32)n, &r, &why) == 0)
			CHECK(r.pcrs_read);
		free(p);
	}
}

/* ---- the event log ---- */

struct log {
	u8 b[8192];
	size_t len, last;
};

/* The Spec ID event: SHA-1 (20) and SHA-256 (32) digests follow. */
static void log_start(struct log *l)
{
	static const char sig[16] = "Spec ID Event03";
	u8 *e = l->b + 32;

	memset(l, 0, sizeof(*l));
	put32le(l->b + 4, TCG_EV_NO_ACTION);
	memcpy(e, sig, 16);
	e[21] = 2; /* spec 2.0 */
	e[23] = 2; /* UINTN: 8 bytes */
	put32le(e + 24, 2);
	put16le(e + 28, 0x0004);
	put16le(e + 30, 20);
	put16le(e + 32, 0x000b);
	put16le(e + 34, 32);
	e[36] = 0; /* no vendor data */
	put32le(l->b + 28, 37);
	l->len = 32 + 37;
}

/* An event with both digests (0xa0+n.., 0x50+n..) and @data. */
static void log_add(struct log *l, u32 pcr, u32 type, u8 n, const char *data)
{
	u8 *e = l->b + l->len;
	size_t len = strlen(data);

	l->last = l->len;
	put32le(e, pcr);
	put32le(e + 4, type);
	put32le(e + 8, 2);
	put16le(e + 12, 0x0004);
	memset(e + 14, 0xa0 + n, 20);
	put16le(e + 34, 0x000b);
	memset(e + 36, 0x50 + n, 32);
	put32le(e + 68, (u32)len);
	memcpy(e + 72, data, len);
	l->len += 72 + len;
}

static void firmware_and_keel_log(struct log *l)
{
	log_start(l);
	log_add(l, 0, 0x80000008u, 1, "firmware blob");
	log_add(l, 12, KEEL_TPM_EV_IPL, 2, "keel.cfg");
	log_add(l, 4, 0x80000003u, 3, "application");
	log_add(l, 9, KEEL_TPM_EV_IPL, 4, "\\linux\\vmlinuz");
	log_add(l, 9, KEEL_TPM_EV_IPL, 5, "/guests/testguest.elf");
}

static void test_log_collects_both_pcrs(void)
{
	struct keel_tpm_report r;
	const char *why = NULL;
	struct log l;

	firmware_and_keel_log(&l);
	memset(&r, 0, sizeof(r));
	CHECK_EQ(tcg_log_collect(l.b, l.last, l.len, &r, &why), 0);
	CHECK_EQ(r.event_count, 3);
	CHECK_EQ(r.event_total, 3);
	CHECK_EQ(r.event[0].pcr, 12);
	CHECK_EQ(r.event[0].type, KEEL_TPM_EV_IPL);
	CHECK_EQ(r.event[0].data_size, 8);
	CHECK(memcmp(r.event[0].data, "keel.cfg", 8) == 0);
	CHECK(r.event[0].has_sha256 && filled(r.event[0].sha256, 0x52));
	CHECK_EQ(r.event[1].pcr, 9);
	CHECK(filled(r.event[1].sha256, 0x54));
	CHECK(memcmp(r.event[2].data, "/guests/testguest.elf", 21) == 0);
	/* Read with a generous bound: only the entries up to the last count. */
	memset(&r, 0, sizeof(r));
	CHECK_EQ(tcg_log_collect(l.b, l.last, sizeof(l.b), &r, &why), 0);
	CHECK_EQ(r.event_total, 3);
	/* A log of the Spec ID event alone. */
	log_start(&l);
	CHECK_EQ(tcg_log_collect(l.b, 0, l.len, &r, &why), 0);
	CHECK_EQ(r.event_total, 0);
}

static void test_log_caps_and_long_data(void)
{
	struct keel_tpm_report r;
	char big[300];
	const char *why;
	struct log l;
	u32 i;

	log_start(&l);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	log_add(&l, 9, KEEL_TPM_EV_IPL, 0, big); /* longer than an event's data[] */
	for (i = 0; i < KEEL_TPM_EVENTS_MAX + 5; i++)
		log_add(&l, 12, KEEL_TPM_EV_IPL, (u8)i, "k");
	memset(&r, 0, sizeof(r));
	CHECK_EQ(tcg_log_collect(l.b, l.last, l.len, &r, &why), 0);
	CHECK_EQ(r.event_count, KEEL_TPM_EVENTS_MAX);
	CHECK_EQ(r.event_total, KEEL_TPM_EVENTS_MAX + 6);
	CHECK_EQ(r.event[0].data_size, sizeof(big) - 1);
	CHECK_EQ(r.event[0].data[KEEL_TPM_EVENT_DATA - 1], 'x');
}

static void test_log_malformed(void)
{
	struct keel_tpm_report r;
	const char *why;
	struct log l;

	/* The last entry's offset falls inside another entry. */
	firmware_and_keel_log(&l);
	CHECK_EQ(tcg_log_collect(l.b, l.last - 1, l.len, &r, &why), -1);
	CHECK_EQ(tcg_log_collect(l.b, l.last + 1, l.len, &r, &why), -1);
	/* The last offset beyond what may be read. */
	CHECK_EQ(tcg_log_collect(l.b, l.len, l.len, &r, &why), -1);
	/* A digest the Spec ID event did not announce. */
	put16le(l.b + l.last + 12, 0x000c);
	CHECK_EQ(tcg_log_collect(l.b, l.last, l.len, &r, &why), -1);
	/* Not a TCG_2 log: no Spec ID signature. */
	firmware_and_keel_log(&l);
	l.b[32] = 'X';
	CHECK_EQ(tcg_log_collect(l.b, l.last, l.len, &r, &why), -1);
	CHECK(strstr(why, "Spec ID") != NULL);
	/* A Spec ID event with no algorithms, or too many. */
	firmware_and_keel_log(&l);
	put32le(l.b + 32 + 24, 0);
	CHECK_EQ(tcg_log_collect(l.b, l.last, l.len, &r, &why), -1);
	put32le(l.b + 32 + 24, 0xffffffffu);
	CHECK_EQ(tcg_log_collect(l.b, l.last, l.len, &r, &why), -1);
	/* An entry claiming a huge digest count or event size. */
	firmware_and_keel_log(&l);
	put32le(l.b + l.last + 8, 0x10000);
	CHECK_EQ(tcg_log_collect(l.b, l.last, l.len, &r, &why), -1);
	firmware_and_keel_log(&l);
	put32le(l.b + l.last + 68, 0xfffffff0u);
	CHECK_EQ(tcg_log_collect(l.b, l.last, l.len, &r, &why), -1);
}

/* Every cut of a good log and random flips: a clean answer, never an overrun. */
static void test_log_hostile(void)
{
	unsigned long long seed = 0x10ccafeull;
	struct keel_tpm_report r;
	const char *why;
	struct log l;

	firmware_and_keel_log(&l);
	for (size_t len = 0; len < l.len; len++) {
		u8 *p = exact(l.b, len);

		CHECK_EQ(tcg_log_collect(p, l.last, len, &r, &why), -1);
		free(p);
	}
	for (int i = 0; i < 20000; i++) {
		u8 *p = exact(l.b, l.len);
		u64 last = i % 3 ? l.last : unit_rand(&seed) % (l.len + 8);

		p[unit_rand(&seed) % l.len] = (u8)unit_rand(&seed);
		p[unit_rand(&seed) % l.len] = (u8)unit_rand(&seed);
		if (tcg_log_collect(p, last, l.len, &r, &why) == 0)
			CHECK(r.event_count <= KEEL_TPM_EVENTS_MAX);
		free(p);
	}
}

int main(void)
{
	test_event_layout();
	test_pcr_read_command();
	test_pcr_read_answers();
	test_pcr_read_hostile();
	test_log_collects_both_pcrs();
	test_log_caps_and_long_data();
	test_log_malformed();
	test_log_hostile();
	return unit_done("test_tcg");
}
