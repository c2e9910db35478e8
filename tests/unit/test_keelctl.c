/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of keelctl's pure parts (tools/keelctl/util.c): sizes, cpu lists,
 * names, partition lookup, image sniffing, JSON escaping, options, exit codes.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <keel/pdesc.h>

#include "unit.h"
#include "util.h"

#define CHECK_STR(got, want)                                                \
	do {                                                                \
		const char *g_ = (got), *w_ = (want);                       \
		CHECK(!strcmp(g_, w_));                                     \
		if (strcmp(g_, w_))                                         \
			fprintf(stderr, "  got '%s', want '%s'\n", g_, w_); \
	} while (0)

/* Does the error message of a failed parse contain @text? */
#define CHECK_ERR(err, text)                                           \
	do {                                                           \
		CHECK(strstr((err), (text)) != NULL);                  \
		if (!strstr((err), (text)))                            \
			fprintf(stderr, "  message was: %s\n", (err)); \
	} while (0)

static void test_u64(void)
{
	uint64_t v = 7;

	CHECK_EQ(kc_parse_u64("0", &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(kc_parse_u64("18446744073709551615", &v), 0);
	CHECK(v == UINT64_MAX);
	CHECK_EQ(kc_parse_u64("18446744073709551616", &v), -1);
	CHECK_EQ(kc_parse_u64("99999999999999999999999", &v), -1);
	CHECK_EQ(kc_parse_u64("", &v), -1);
	CHECK_EQ(kc_parse_u64(NULL, &v), -1);
	CHECK_EQ(kc_parse_u64("-1", &v), -1);
	CHECK_EQ(kc_parse_u64("+1", &v), -1);
	CHECK_EQ(kc_parse_u64(" 1", &v), -1);
	CHECK_EQ(kc_parse_u64("1 ", &v), -1);
	CHECK_EQ(kc_parse_u64("0x10", &v), -1);
	CHECK_EQ(kc_parse_u64("1.5", &v), -1);
}

static void test_size(void)
{
	uint64_t v = 0;

	CHECK_EQ(kc_parse_size("256M", &v), 0);
	CHECK(v == 256ull << 20);
	CHECK_EQ(kc_parse_size("1G", &v), 0);
	CHECK(v == 1ull << 30);
	CHECK_EQ(kc_parse_size("1g", &v), 0);
	CHECK(v == 1ull << 30);
	CHECK_EQ(kc_parse_size("2MiB", &v), 0);
	CHECK(v == 2ull << 20);
	CHECK_EQ(kc_parse_size("2MB", &v), 0);
	CHECK(v == 2ull << 20);
	CHECK_EQ(kc_parse_size("4K", &v), 0);
	CHECK(v == 4096);
	CHECK_EQ(kc_parse_size("1T", &v), 0);
	CHECK(v == 1ull << 40);
	CHECK_EQ(kc_parse_size("0", &v), 0);
	CHECK(v == 0);
	CHECK_EQ(kc_parse_size("4096", &v), 0);
	CHECK(v == 4096);
	CHECK_EQ(kc_parse_size("18446744073709551615", &v), 0);
	CHECK(v == UINT64_MAX);
	CHECK_EQ(kc_parse_size("16777215T", &v), 0);
	CHECK(v == 16777215ull << 40);

	CHECK_EQ(kc_parse_size("16777216T", &v), -1); /* 2^64 */
	CHECK_EQ(kc_parse_size("17179869184G", &v), -1); /* 2^64 */
	CHECK_EQ(kc_parse_size("18446744073709551616", &v), -1);
	CHECK_EQ(kc_parse_size("99999999999999999999999999G", &v), -1);
	CHECK_EQ(kc_parse_size("1.5G", &v), -1);
	CHECK_EQ(kc_parse_size("-1", &v), -1);
	CHECK_EQ(kc_parse_size("-1G", &v), -1);
	CHECK_EQ(kc_parse_size("", &v), -1);
	CHECK_EQ(kc_parse_size(NULL, &v), -1);
	CHECK_EQ(kc_parse_size("M", &v), -1);
	CHECK_EQ(kc_parse_size("1GG", &v), -1);
	CHECK_EQ(kc_parse_size("1 G", &v), -1);
	CHECK_EQ(kc_parse_size("1Gx", &v), -1);
	CHECK_EQ(kc_parse_size("1P", &v), -1);
	CHECK_EQ(kc_parse_size("0x100000", &v), -1);
}

static void test_memory(void)
{
	char err[160];
	uint64_t v = 0;

	CHECK_EQ(kc_parse_memory("256M", &v, err, sizeof(err)), 0);
	CHECK(v == 256ull << 20);
	CHECK_EQ(kc_parse_memory("2M", &v, err, sizeof(err)), 0);
	CHECK_EQ(kc_parse_memory("2097152", &v, err, sizeof(err)), 0);
	CHECK(v == 2ull << 20);
	CHECK_EQ(kc_parse_memory("256T", &v, err, sizeof(err)), 0);

	CHECK_EQ(kc_parse_memory("0", &v, err, sizeof(err)), -1);
	CHECK_ERR(err, "is 0");
	CHECK_EQ(kc_parse_memory("0M", &v, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_memory("3M", &v, err, sizeof(err)), -1);
	CHECK_ERR(err, "multiple of 2 MiB");
	CHECK_EQ(kc_parse_memory("256", &v, err, sizeof(err)), -1);
	CHECK_ERR(err, "did you mean 256M");
	CHECK_EQ(kc_parse_memory("1.5G", &v, err, sizeof(err)), -1);
	CHECK_ERR(err, "bad memory size");
	CHECK_EQ(kc_parse_memory("-1", &v, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_memory("", &v, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_memory("257T", &v, err, sizeof(err)), -1);
	CHECK_ERR(err, "too big");
	CHECK_EQ(kc_parse_memory("16777216T", &v, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_memory("1K", &v, err, sizeof(err)), -1);
	/* A tiny error buffer is truncated, not overrun. */
	CHECK_EQ(kc_parse_memory("3M", &v, err, 4), -1);
	CHECK_EQ(strlen(err), 3);
	CHECK_EQ(kc_parse_memory("3M", &v, NULL, 0), -1);
}

static void test_cpus(void)
{
	char err[160];
	uint32_t count = 99;
	uint64_t mask = 99;

	CHECK_EQ(kc_parse_cpus("2", &count, &mask, err, sizeof(err)), 0);
	CHECK_EQ(count, 2);
	CHECK(mask == 0);
	CHECK_EQ(kc_parse_cpus("64", &count, &mask, err, sizeof(err)), 0);
	CHECK_EQ(count, 64);
	CHECK_EQ(kc_parse_cpus("3-4", &count, &mask, err, sizeof(err)), 0);
	CHECK_EQ(count, 0);
	CHECK(mask == 0x18);
	CHECK_EQ(kc_parse_cpus("3,5", &count, &mask, err, sizeof(err)), 0);
	CHECK(mask == 0x28);
	CHECK_EQ(kc_parse_cpus("0-1,6", &count, &mask, err, sizeof(err)), 0);
	CHECK(mask == 0x43);
	CHECK_EQ(kc_parse_cpus("3-3", &count, &mask, err, sizeof(err)), 0);
	CHECK(mask == 0x8);
	CHECK_EQ(kc_parse_cpus("0-63", &count, &mask, err, sizeof(err)), 0);
	CHECK(mask == UINT64_MAX);
	CHECK_EQ(kc_parse_cpus("63,0", &count, &mask, err, sizeof(err)), 0);
	CHECK(mask == (1ull << 63 | 1));
	CHECK_EQ(kc_parse_cpus("007,8", &count, &mask, err, sizeof(err)), 0);
	CHECK(mask == 0x180);

	CHECK_EQ(kc_parse_cpus("0", &count, &mask, err, sizeof(err)), -1);
	CHECK_ERR(err, "out of range");
	CHECK_EQ(kc_parse_cpus("65", &count, &mask, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_cpus("99999999999999999999999", &count, &mask, err, sizeof(err)), -1);
	CHECK_ERR(err, "out of range");
	CHECK_EQ(kc_parse_cpus("64-65", &count, &mask, err, sizeof(err)), -1);
	CHECK_ERR(err, "cpu 64 is out of range");
	CHECK_EQ(kc_parse_cpus("1,64", &count, &mask, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_cpus("1-99999999999999999999", &count, &mask, err, sizeof(err)), -1);
	CHECK_ERR(err, "out of range");
	CHECK_EQ(kc_parse_cpus("4-3", &count, &mask, err, sizeof(err)), -1);
	CHECK_ERR(err, "reversed");
	CHECK_EQ(kc_parse_cpus("3,3", &count, &mask, err, sizeof(err)), -1);
	CHECK_ERR(err, "cpu 3 is listed twice");
	CHECK_EQ(kc_parse_cpus("1-3,2", &count, &mask, err, sizeof(err)), -1);
	CHECK_ERR(err, "cpu 2 is listed twice");
	CHECK_EQ(kc_parse_cpus("", &count, &mask, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_cpus(NULL, &count, &mask, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_cpus(",", &count, &mask, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_cpus("3,", &count, &mask, err, sizeof(err)), -1);
	CHECK_ERR(err, "bad --cpus");
	CHECK_EQ(kc_parse_cpus(",3", &count, &mask, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_cpus("3,,4", &count, &mask, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_cpus("3-", &count, &mask, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_cpus("-3", &count, &mask, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_cpus("3-4-5", &count, &mask, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_cpus("a", &count, &mask, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_cpus("1 ,2", &count, &mask, err, sizeof(err)), -1);
	CHECK_EQ(kc_parse_cpus("-1", &count, &mask, err, sizeof(err)), -1);
}

static void test_format_cpus(void)
{
	char buf[256], tiny[4];
	size_t n;

	kc_format_cpus(0, buf, sizeof(buf));
	CHECK_STR(buf, "-");
	kc_format_cpus(0x18, buf, sizeof(buf));
	CHECK_STR(buf, "3-4");
	kc_format_cpus(0x28, buf, sizeof(buf));
	CHECK_STR(buf, "3,5");
	kc_format_cpus(0x43, buf, sizeof(buf));
	CHECK_STR(buf, "0-1,6");
	kc_format_cpus(UINT64_MAX, buf, sizeof(buf));
	CHECK_STR(buf, "0-63");
	kc_format_cpus(1ull << 63, buf, sizeof(buf));
	CHECK_STR(buf, "63");
	kc_format_cpus(3ull << 62, buf, sizeof(buf));
	CHECK_STR(buf, "62-63");
	n = kc_format_cpus(0x5555555555555555ull, buf, sizeof(buf));
	CHECK_EQ(n, strlen(buf));
	CHECK(!strncmp(buf, "0,2,4,6,8,10,", 13));
	CHECK(strstr(buf, ",62") && buf[n - 1] == '2');
	/* Truncated output is still terminated; the length needed comes back. */
	n = kc_format_cpus(0x43, tiny, sizeof(tiny));
	CHECK_EQ(n, 5);
	CHECK_STR(tiny, "0-1");
	CHECK_EQ(kc_format_cpus(0x43, NULL, 0), 5);

	kc_format_cpus_json(0, buf, sizeof(buf));
	CHECK_STR(buf, "[]");
	kc_format_cpus_json(0x6, buf, sizeof(buf));
	CHECK_STR(buf, "[1,2]");
	n = kc_format_cpus_json(UINT64_MAX, buf, sizeof(buf));
	CHECK_EQ(n, strlen(buf));
	CHECK(n < 64 * 3 + 3);
	CHECK(!strcmp(buf + n - 4, ",63]"));
}

static void test_pick(void)
{
	CHECK(kc_pick_cpus(0xe, 2) == 0x6);
	CHECK(kc_pick_cpus(0xe, 3) == 0xe);
	CHECK(kc_pick_cpus(0xe, 4) == 0);
	CHECK(kc_pick_cpus(0x1, 2) == 0);
	CHECK(kc_pick_cpus(0xff, 0) == 0);
	CHECK(kc_pick_cpus(UINT64_MAX, 64) == UINT64_MAX);
	CHECK(kc_pick_cpus(1ull << 63 | 1ull << 40, 1) == 1ull << 40);
	CHECK_EQ(kc_popcount(0), 0);
	CHECK_EQ(kc_popcount(UINT64_MAX), 64);
	CHECK_EQ(kc_popcount(0x28), 2);
}

/*
 * A fake Keel for kc_create_retry: each CREATE first lets a hot vCPU take the
 * next core of @steal (the race the retry is for: after keelctl read the free
 * set), then is refused -EBUSY if the mask meets a taken core.
 */
struct fake_keel {
	uint64_t online, taken, steal;
	int creates, reads, fail_read, other_error;
	uint64_t asked[KC_CREATE_TRIES + 2];
};

static int fake_create(void *ctx, struct kc_create_req *req)
{
	struct fake_keel *k = ctx;
	uint64_t next = k->steal & -k->steal;

	k->taken |= next;
	k->steal &= ~next;
	if (k->creates < (int)(sizeof(k->asked) / sizeof(k->asked[0])))
		k->asked[k->creates] = req->cpu_mask;
	k->creates++;
	if (k->other_error)
		return -k->other_error;
	return req->cpu_mask & k->taken ? -EBUSY : 0;
}

static int fake_free_cpus(void *ctx, uint64_t *mask)
{
	struct fake_keel *k = ctx;

	k->reads++;
	if (k->fail_read)
		return -EIO;
	*mask = k->online & ~k->taken;
	return 0;
}

static int run_create(struct fake_keel *k, uint64_t first_pick, uint32_t count)
{
	struct kc_create_req req = { .name = "vm", .cpu_mask = first_pick };

	return kc_create_retry(fake_create, fake_free_cpus, k, &req, count);
}

static void test_create_retry(void)
{
	struct fake_keel k;

	/* No race: one CREATE, no read. */
	k = (struct fake_keel){ .online = 0x3f };
	CHECK_EQ(run_create(&k, 0x6, 2), 0);
	CHECK_EQ(k.creates, 1);
	CHECK_EQ(k.reads, 0);

	/* cpu 2 went to a hot vCPU after the pick of 1-2 (0 is the manager's): 1 and 3. */
	k = (struct fake_keel){ .online = 0x3f, .taken = 0x5 };
	CHECK_EQ(run_create(&k, 0x6, 2), 0);
	CHECK_EQ(k.creates, 2);
	CHECK(k.asked[1] == 0xa);

	/* Cores keep going while keelctl retries: each try picks among what is left. */
	k = (struct fake_keel){ .online = 0xff, .taken = 0x2, .steal = 0x3c };
	CHECK_EQ(run_create(&k, 0x2, 1), 0);
	CHECK_EQ(k.creates, 2);
	CHECK(k.asked[1] == 0x1);
	k = (struct fake_keel){ .online = 0xff, .taken = 0x1, .steal = 0x6 };
	CHECK_EQ(run_create(&k, 0x3, 2), 0);
	CHECK(k.asked[k.creates - 1] == 0x18);
	CHECK(!(k.asked[k.creates - 1] & k.taken));

	/* Too few cores left: it stops at once and keeps Keel's answer. */
	k = (struct fake_keel){ .online = 0x7, .taken = 0x4, .steal = 0x2 };
	CHECK_EQ(run_create(&k, 0x6, 2), -EBUSY);
	CHECK_EQ(k.creates, 1);
	CHECK_EQ(k.reads, 1);

	/* A list is the user's own choice of cores: never retried. */
	k = (struct fake_keel){ .online = 0xff, .taken = 0x4 };
	CHECK_EQ(run_create(&k, 0x4, 0), -EBUSY);
	CHECK_EQ(k.creates, 1);
	CHECK_EQ(k.reads, 0);

	/* Other answers are final; so is a free set that cannot be read. */
	k = (struct fake_keel){ .online = 0xff, .other_error = ENOMEM };
	CHECK_EQ(run_create(&k, 0x1, 1), -ENOMEM);
	CHECK_EQ(k.creates, 1);
	k = (struct fake_keel){ .online = 0xff, .taken = 0x1, .fail_read = 1 };
	CHECK_EQ(run_create(&k, 0x1, 1), -EBUSY);
	CHECK_EQ(k.creates, 1);

	/* Keel busy for ever (the free set says otherwise): KC_CREATE_TRIES calls in all. */
	k = (struct fake_keel){ .online = 0xff, .other_error = EBUSY };
	CHECK_EQ(run_create(&k, 0x1, 1), -EBUSY);
	CHECK_EQ(k.creates, KC_CREATE_TRIES);
}

static void test_name(void)
{
	char err[160], longname[64];

	CHECK_EQ(kc_check_name("vm1", err, sizeof(err)), 0);
	CHECK_EQ(kc_check_name("a-b_C9", err, sizeof(err)), 0);
	CHECK_EQ(kc_check_name("1a", err, sizeof(err)), 0);
	CHECK_EQ(kc_check_name("-", err, sizeof(err)), 0);
	memset(longname, 'a', sizeof(longname));
	longname[31] = '\0';
	CHECK_EQ(kc_check_name(longname, err, sizeof(err)), 0);
	longname[31] = 'a';
	longname[32] = '\0';
	CHECK_EQ(kc_check_name(longname, err, sizeof(err)), -1);
	CHECK_ERR(err, "longer than 31");
	longname[63] = '\0';
	CHECK_EQ(kc_check_name(longname, err, sizeof(err)), -1);

	CHECK_EQ(kc_check_name("", err, sizeof(err)), -1);
	CHECK_ERR(err, "empty");
	CHECK_EQ(kc_check_name("a b", err, sizeof(err)), -1);
	CHECK_ERR(err, "byte 0x20");
	CHECK_EQ(kc_check_name("a/b", err, sizeof(err)), -1);
	CHECK_ERR(err, "'/'");
	CHECK_EQ(kc_check_name("vm.1", err, sizeof(err)), -1);
	CHECK_EQ(kc_check_name("caf\xc3\xa9", err, sizeof(err)), -1);
	CHECK_ERR(err, "byte 0xc3");
	CHECK_EQ(kc_check_name("a\nb", err, sizeof(err)), -1);
	CHECK_EQ(kc_check_name("123", err, sizeof(err)), -1);
	CHECK_ERR(err, "all digits");
	CHECK_EQ(kc_check_name("0", err, sizeof(err)), -1);
}

static void status(struct keel_part_status *st, uint32_t id, const char *name)
{
	memset(st, 0, sizeof(*st));
	st->id = id;
	strncpy(st->name, name, sizeof(st->name));
}

static void test_find(void)
{
	struct keel_part_status list[5];
	char name[KEEL_NAME_MAX];

	status(&list[0], 0, "mgmt");
	status(&list[1], 2, "vm1");
	status(&list[2], 5, "7");
	status(&list[3], 7, "seven");
	memset(list[4].name, 'z', sizeof(list[4].name)); /* no NUL from Keel */
	list[4].id = 9;

	CHECK_EQ(kc_find_part(list, 5, "vm1"), 1);
	CHECK_EQ(kc_find_part(list, 5, "2"), 1);
	CHECK_EQ(kc_find_part(list, 5, "0"), 0);
	CHECK_EQ(kc_find_part(list, 5, "5"), 2);
	CHECK_EQ(kc_find_part(list, 5, "7"), 3); /* an id first */
	CHECK_EQ(kc_find_part(list, 3, "7"), 2); /* then a name */
	CHECK_EQ(kc_find_part(list, 5, "vm9"), -1);
	CHECK_EQ(kc_find_part(list, 5, "3"), -1);
	CHECK_EQ(kc_find_part(list, 5, ""), -1);
	CHECK_EQ(kc_find_part(list, 5, NULL), -1);
	CHECK_EQ(kc_find_part(list, 5, "99999999999999999999999"), -1);
	CHECK_EQ(kc_find_part(list, 5, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"), -1);
	CHECK_EQ(kc_find_part(list, 5, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"), 4);
	CHECK_EQ(kc_find_part(list, 0, "vm1"), -1);
	kc_part_name(&list[4], name);
	CHECK_EQ(strlen(name), KEEL_NAME_MAX - 1);
	kc_part_name(&list[1], name);
	CHECK_STR(name, "vm1");
}

static void test_names(void)
{
	char buf[32];

	CHECK_STR(kc_state_name(KEEL_PSTATE_CREATED), "created");
	CHECK_STR(kc_state_name(KEEL_PSTATE_LOADED), "loaded");
	CHECK_STR(kc_state_name(KEEL_PSTATE_RUNNING), "running");
	CHECK_STR(kc_state_name(KEEL_PSTATE_STOPPING), "stopping");
	CHECK_STR(kc_state_name(KEEL_PSTATE_STOPPED), "stopped");
	CHECK_STR(kc_state_name(KEEL_PSTATE_PAUSED), "paused");
	CHECK_STR(kc_state_name(0), "unknown");
	CHECK_STR(kc_state_name(UINT32_MAX), "unknown");
	CHECK_STR(kc_stop_cause_name(KEEL_STOP_CAUSE_GUEST), "guest");
	CHECK_STR(kc_stop_cause_name(KEEL_STOP_CAUSE_FORCED), "forced");
	CHECK_STR(kc_stop_cause_name(KEEL_STOP_CAUSE_FAULT), "fault");
	CHECK_STR(kc_stop_cause_name(KEEL_STOP_CAUSE_NONE), "unknown");
	CHECK_STR(kc_stop_cause_name(77), "unknown");
	CHECK_STR(kc_exit_name(KEEL_EXIT_INTERRUPT), "interrupt");
	CHECK_STR(kc_exit_name(KEEL_EXIT_FAULT), "fault");
	CHECK(kc_exit_name(KEEL_EXIT_NONE) == NULL);
	CHECK(kc_exit_name(8) == NULL);
	CHECK(kc_exit_name(KEEL_EXIT_KINDS) == NULL);
	CHECK(kc_exit_name(UINT32_MAX) == NULL);

	kc_format_uptime(0, buf, sizeof(buf));
	CHECK_STR(buf, "00:00:00");
	kc_format_uptime(83999999999ull, buf, sizeof(buf));
	CHECK_STR(buf, "00:01:23");
	kc_format_uptime((86400ull + 2 * 3600 + 3 * 60 + 4) * 1000000000ull, buf, sizeof(buf));
	CHECK_STR(buf, "1-02:03:04");
	kc_format_uptime(UINT64_MAX, buf, sizeof(buf));
	CHECK_STR(buf, "213503-23:34:33");
	kc_format_uptime(UINT64_MAX, buf, 4);
	CHECK_EQ(strlen(buf), 3);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void bzimage(uint8_t *h)
{
	memset(h, 0, KC_SNIFF_LEN);
	put16(h + 0x1fe, 0xaa55);
	memcpy(h + 0x202, "HdrS", 4);
	put16(h + 0x206, 0x20f);
	put16(h + 0x236, 0x3);
}

static void arm64_image(uint8_t *h)
{
	memset(h, 0, KC_SNIFF_LEN);
	put64(h + 0x10, 20u << 20);
	put64(h + 0x18, 0x2); /* LE, 4K */
	memcpy(h + 0x38, "ARM\x64", 4);
}

static void elf(uint8_t *h, uint16_t machine)
{
	memset(h, 0, KC_SNIFF_LEN);
	memcpy(h,
	       "\x7f"
	       "ELF",
	       4);
	h[4] = 2;
	h[5] = 1;
	h[6] = 1;
	put16(h + 16, 2);
	put16(h + 18, machine);
}

#define X86 KC_ARCH_X86_64
#define A64 KC_ARCH_AARCH64

static void expect_sniff(const uint8_t *h, size_t len, uint64_t size, int arch, int kind,
			 const char *why_text)
{
	const char *why = "unset";
	int got = kc_sniff_kernel(h, len, size, arch, &why);

	CHECK_EQ(got, kind);
	if (kind == KC_IMAGE_NONE) {
		CHECK(why && strstr(why, why_text));
		if (!why || !strstr(why, why_text))
			fprintf(stderr, "  why was: %s\n", why ? why : "(null)");
	} else {
		CHECK(why == NULL);
	}
}

static void test_sniff(void)
{
	static uint8_t h[KC_SNIFF_LEN];
	const uint64_t big = 10u << 20;

	bzimage(h);
	expect_sniff(h, sizeof(h), big, X86, KC_IMAGE_BZIMAGE, "");
	expect_sniff(h, sizeof(h), big, A64, KC_IMAGE_NONE, "x86 bzImage");
	expect_sniff(h, sizeof(h), 0x200, X86, KC_IMAGE_NONE, "neither a bzImage");
	expect_sniff(h, 0x26b, big, X86, KC_IMAGE_NONE, "neither");
	put16(h + 0x206, 0x20b);
	expect_sniff(h, sizeof(h), big, X86, KC_IMAGE_NONE, "older than 2.12");
	bzimage(h);
	put16(h + 0x236, 0x2);
	expect_sniff(h, sizeof(h), big, X86, KC_IMAGE_NONE, "64-bit entry");
	bzimage(h);
	put16(h + 0x1fe, 0);
	expect_sniff(h, sizeof(h), big, X86, KC_IMAGE_NONE, "neither a bzImage");

	arm64_image(h);
	expect_sniff(h, sizeof(h), big, A64, KC_IMAGE_ARM64, "");
	expect_sniff(h, 64, big, A64, KC_IMAGE_ARM64, "");
	expect_sniff(h, sizeof(h), big, X86, KC_IMAGE_NONE, "arm64 Image");
	put64(h + 0x18, 0x3);
	expect_sniff(h, sizeof(h), big, A64, KC_IMAGE_NONE, "big-endian");
	put64(h + 0x18, 0x6);
	expect_sniff(h, sizeof(h), big, A64, KC_IMAGE_NONE, "64K pages");
	put64(h + 0x18, 0x0);
	expect_sniff(h, sizeof(h), big, A64, KC_IMAGE_ARM64, "");
	put64(h + 0x10, 0);
	expect_sniff(h, sizeof(h), big, A64, KC_IMAGE_NONE, "older than Linux 3.17");

	elf(h, 62);
	expect_sniff(h, sizeof(h), big, X86, KC_IMAGE_ELF, "");
	expect_sniff(h, sizeof(h), big, A64, KC_IMAGE_NONE, "x86_64 ELF file, and this is aarch64");
	elf(h, 183);
	expect_sniff(h, sizeof(h), big, A64, KC_IMAGE_ELF, "");
	expect_sniff(h, sizeof(h), big, X86, KC_IMAGE_NONE, "aarch64 ELF file, and this is x86_64");
	elf(h, 40);
	expect_sniff(h, sizeof(h), big, A64, KC_IMAGE_NONE, "another machine");
	elf(h, 62);
	put16(h + 16, 3);
	expect_sniff(h, sizeof(h), big, X86, KC_IMAGE_ELF, "");
	put16(h + 16, 1);
	expect_sniff(h, sizeof(h), big, X86, KC_IMAGE_NONE, "not an executable");
	elf(h, 62);
	h[4] = 1;
	expect_sniff(h, sizeof(h), big, X86, KC_IMAGE_NONE, "32-bit");
	elf(h, 62);
	h[5] = 2;
	expect_sniff(h, sizeof(h), big, X86, KC_IMAGE_NONE, "big-endian");
	elf(h, 62);
	expect_sniff(h, 63, big, X86, KC_IMAGE_NONE, "too small");
	expect_sniff(h, sizeof(h), 40, X86, KC_IMAGE_NONE, "too small");

	memset(h, 0, sizeof(h));
	h[0] = 0x1f;
	h[1] = 0x8b;
	expect_sniff(h, sizeof(h), big, X86, KC_IMAGE_NONE, "gzip");
	expect_sniff(h, sizeof(h), big, A64, KC_IMAGE_NONE, "gzip");
	memset(h, 0, sizeof(h));
	memcpy(h, "MZ\0\0zimg", 8);
	expect_sniff(h, sizeof(h), big, A64, KC_IMAGE_NONE, "zboot");
	memset(h, 0, sizeof(h));
	expect_sniff(h, sizeof(h), big, X86, KC_IMAGE_NONE, "neither a bzImage nor an ELF64");
	expect_sniff(h, sizeof(h), big, A64, KC_IMAGE_NONE, "neither an arm64 Image nor an ELF64");
	expect_sniff(h, 0, 0, X86, KC_IMAGE_NONE, "too small");
	memset(h, 0xff, sizeof(h));
	expect_sniff(h, sizeof(h), big, X86, KC_IMAGE_NONE, "neither");
	expect_sniff(h, sizeof(h), big, A64, KC_IMAGE_NONE, "neither");

	CHECK_STR(kc_image_name(KC_IMAGE_BZIMAGE), "Linux bzImage");
	CHECK_STR(kc_image_name(99), "unknown");
	CHECK_STR(kc_arch_name(X86), "x86_64");
	CHECK_STR(kc_arch_name(A64), "aarch64");
}

static void test_json(void)
{
	char buf[128], tiny[5];
	size_t n;

	kc_json_escape("abc", 3, buf, sizeof(buf));
	CHECK_STR(buf, "abc");
	kc_json_escape("a\"b\\c", 5, buf, sizeof(buf));
	CHECK_STR(buf, "a\\\"b\\\\c");
	kc_json_escape("\n\t\r\x01\x7f\xc3", 6, buf, sizeof(buf));
	CHECK_STR(buf, "\\n\\t\\r\\u0001\\u007f\\u00c3");
	n = kc_json_escape("a\0b", 3, buf, sizeof(buf));
	CHECK_STR(buf, "a\\u0000b");
	CHECK_EQ(n, 8);
	kc_json_escape("", 0, buf, sizeof(buf));
	CHECK_STR(buf, "");
	n = kc_json_escape("\x01\x02", 2, tiny, sizeof(tiny));
	CHECK_EQ(n, 12);
	CHECK_EQ(strlen(tiny), 4);
	CHECK_EQ(kc_json_escape("\x01\x02", 2, NULL, 0), 12);
}

/* One function as Keel lists it: on segment 0, nobody's, its own requester ID. */
static struct keel_pci_dev pci_dev(uint16_t bdf, uint16_t vendor, uint16_t device, uint32_t class,
				   uint32_t group, uint8_t iommu, uint8_t kind, uint32_t flags)
{
	return (struct keel_pci_dev){ .bdf = bdf,
				      .dma_rid = bdf,
				      .vendor = vendor,
				      .device = device,
				      .class = class,
				      .group = group,
				      .owner = KEEL_PCI_OWNER_NONE,
				      .iommu = iommu,
				      .iommu_kind = kind,
				      .flags = flags };
}

/* keelctl pci: one table line and one JSON object per function, from Keel's records. */
static void test_pci(void)
{
	static const char hb_json[] =
		"{\"address\":\"0000:00:00.0\",\"vendor\":\"8086\",\"device\":\"29c0\","
		"\"class\":\"060000\",\"header_type\":0,\"dma_rid\":\"0000:00:00.0\",\"group\":0,"
		"\"iommu\":null,\"iommu_kind\":null,\"owner\":null,\"owner_name\":null,"
		"\"flags\":[],\"assignable\":false}";
	static const char nic_row[] =
		"0000:00:03.0  1234:11e8  00ff00  3      0 (VT-d)    -      assignable";
	struct keel_pci_dev hb =
		pci_dev(0, 0x8086, 0x29c0, 0x060000, 0, KEEL_PCI_NO_IOMMU, KEEL_IOMMU_KIND_NONE, 0);
	struct keel_pci_dev nic = pci_dev(0x18, 0x1234, 0x11e8, 0x00ff00, 3, 0, KEEL_IOMMU_KIND_VTD,
					  KEEL_PCI_DEV_ASSIGNABLE);
	/* Keel newer than keelctl: an unknown kind and flag; a class with junk above 24 bits. */
	struct keel_pci_dev odd = pci_dev(
		0xfeff, 0x10ec, 0x8139, 0xff020000, KEEL_PCI_NO_GROUP, 1, 9,
		KEEL_PCI_DEV_BRIDGE | KEEL_PCI_DEV_ALIASED | KEEL_PCI_DEV_BAD_CAPS | (1u << 20));
	char buf[512], tiny[8];

	odd.segment = 0x12;
	odd.dma_rid = 0x00f0;
	odd.hdr_type = 1;
	odd.owner = 7;
	kc_format_pci_addr(0, 0x18, buf, sizeof(buf));
	CHECK_STR(buf, "0000:00:03.0");
	CHECK_EQ(kc_format_pci_addr(0xffff, 0xffff, buf, sizeof(buf)), 12);
	CHECK_STR(buf, "ffff:ff:1f.7");
	CHECK_EQ(kc_format_pci_addr(0, 0, tiny, sizeof(tiny)), 12);
	CHECK_STR(tiny, "0000:00");
	CHECK_STR(kc_iommu_kind_name(KEEL_IOMMU_KIND_VTD), "VT-d");
	CHECK_STR(kc_iommu_kind_name(KEEL_IOMMU_KIND_AMDVI), "AMD-Vi");
	CHECK_STR(kc_iommu_kind_name(KEEL_IOMMU_KIND_SMMUV3), "SMMUv3");
	CHECK_STR(kc_iommu_kind_name(4), "unknown"); /* a kind newer than this keelctl */
	CHECK_STR(kc_iommu_kind_name(KEEL_IOMMU_KIND_NONE), "none");
	CHECK_STR(kc_iommu_kind_name(77), "unknown");
	kc_format_pci_iommu(&hb, buf, sizeof(buf));
	CHECK_STR(buf, "none");
	kc_format_pci_iommu(&nic, buf, sizeof(buf));
	CHECK_STR(buf, "0 (VT-d)");
	kc_format_pci_flags(0, buf, sizeof(buf));
	CHECK_STR(buf, "-");
	kc_format_pci_flags(odd.flags, buf, sizeof(buf));
	CHECK_STR(buf, "bridge,aliased,bad-caps,0x100000");

	/* The table: a header, then aligned columns; OWNER as wide as asked. */
	kc_format_pci_header(5, buf, sizeof(buf));
	CHECK_STR(buf, "ADDRESS       ID         CLASS   GROUP  IOMMU       OWNER  FLAGS");
	kc_format_pci_row(&hb, NULL, 5, buf, sizeof(buf));
	CHECK_STR(buf, "0000:00:00.0  8086:29c0  060000  0      none        -      -");
	kc_format_pci_row(&nic, NULL, 5, buf, sizeof(buf));
	CHECK_STR(buf, nic_row);
	kc_format_pci_row(&odd, "storage", 7, buf, sizeof(buf));
	CHECK_STR(buf, "0012:fe:1f.7  10ec:8139  020000  -      1 (unknown)  storage  "
		       "bridge,aliased,bad-caps,0x100000");
	CHECK_EQ(kc_format_pci_row(&nic, NULL, 5, tiny, sizeof(tiny)), strlen(nic_row));
	CHECK_STR(tiny, "0000:00");

	/* JSON: the same facts. */
	kc_format_pci_json(&hb, NULL, buf, sizeof(buf));
	CHECK_STR(buf, hb_json);
	CHECK_EQ(kc_format_pci_json(&hb, NULL, NULL, 0), strlen(hb_json));
	kc_format_pci_json(&nic, "ignored", buf, sizeof(buf)); /* nobody owns it */
	CHECK_STR(buf, "{\"address\":\"0000:00:03.0\",\"vendor\":\"1234\",\"device\":\"11e8\","
		       "\"class\":\"00ff00\",\"header_type\":0,\"dma_rid\":\"0000:00:03.0\","
		       "\"group\":3,\"iommu\":0,\"iommu_kind\":\"VT-d\",\"owner\":null,"
		       "\"owner_name\":null,\"flags\":[\"assignable\"],\"assignable\":true}");
	kc_format_pci_json(&odd, "a\"b", buf, sizeof(buf));
	CHECK_STR(buf, "{\"address\":\"0012:fe:1f.7\",\"vendor\":\"10ec\",\"device\":\"8139\","
		       "\"class\":\"020000\",\"header_type\":1,\"dma_rid\":\"0012:00:1e.0\","
		       "\"group\":null,\"iommu\":1,\"iommu_kind\":\"unknown\",\"owner\":7,"
		       "\"owner_name\":\"a\\\"b\",\"flags\":[\"bridge\",\"aliased\",\"bad-caps\","
		       "\"0x100000\"],\"assignable\":false}");
	kc_format_pci_json(&odd, NULL, buf, sizeof(buf)); /* its owner is gone from LIST */
	CHECK(strstr(buf, "\"owner\":7,\"owner_name\":null,") != NULL);
}

/* --pci: the addresses keel.cfg's pci = takes, repeatable, each function once, up to 8. */
static void test_parse_pci(void)
{
	static const char *const bad[] = {
		"12345:00:03.0", "0:0:0:0.0", "00:003.0", "000:03.0",  "00:03.00", "00:03.",
		":00:03.0",	 "00:03",     "x0:03.0",  "00:03.0 x", "00-03.0",  "0x0:03.0",
	};
	uint32_t addr[KEEL_PD_MAX_PCI], n = 0;
	char err[160], want[160];

	CHECK_EQ(kc_parse_pci("0000:00:03.0", addr, &n, err, sizeof(err)), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(addr[0], KEEL_PCI_ADDR(0, 0, 3, 0));
	CHECK_EQ(kc_parse_pci(" 00:0A.1 ,1:fe:1f.7", addr, &n, err, sizeof(err)), 0);
	CHECK_EQ(n, 3);
	CHECK_EQ(addr[1], KEEL_PCI_ADDR(0, 0, 0xa, 1));
	CHECK_EQ(addr[2], KEEL_PCI_ADDR(1, 0xfe, 0x1f, 7));
	CHECK_EQ(kc_parse_pci("ffff:ff:1f.7", addr, &n, err, sizeof(err)), 0);
	CHECK_EQ(addr[3], 0xffffffffu);

	/* Errors add nothing. */
	CHECK_EQ(kc_parse_pci("00:04.0, 0000:00:03.0", addr, &n, err, sizeof(err)), -1);
	CHECK_STR(err, "--pci 0000:00:03.0 is given twice");
	CHECK_EQ(n, 4);
	CHECK_EQ(kc_parse_pci("00:20.0", addr, &n, err, sizeof(err)), -1);
	CHECK_STR(err, "--pci '00:20.0': device 20 is out of range (00-1f)");
	CHECK_EQ(kc_parse_pci("00:03.8", addr, &n, err, sizeof(err)), -1);
	CHECK_STR(err, "--pci '00:03.8': function 8 is out of range (0-7)");
	CHECK_EQ(kc_parse_pci("00:04.0,", addr, &n, err, sizeof(err)), -1);
	CHECK_STR(err, "--pci: empty element in the list");
	CHECK_EQ(kc_parse_pci("", addr, &n, err, sizeof(err)), -1);
	CHECK_STR(err, "--pci: empty element in the list");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(kc_parse_pci(bad[i], addr, &n, err, sizeof(err)), -1);
		snprintf(want, sizeof(want),
			 "--pci '%s' is not a PCI address (SSSS:BB:DD.F or BB:DD.F, in hex)",
			 bad[i]);
		CHECK_STR(err, want);
	}
	CHECK_EQ(kc_parse_pci("00:00000000000000000000000000000000000000000000003.0", addr, &n, err,
			      sizeof(err)),
		 -1);
	CHECK_ERR(err, "is not a PCI address");
	CHECK_EQ(n, 4);
	CHECK_EQ(kc_parse_pci("00:04.0,00:05.0,00:06.0,00:07.0", addr, &n, err, sizeof(err)), 0);
	CHECK_EQ(n, KEEL_PD_MAX_PCI);
	CHECK_EQ(kc_parse_pci("00:08.0", addr, &n, err, sizeof(err)), -1);
	CHECK_STR(err, "--pci: more than 8 functions");
	CHECK_EQ(n, KEEL_PD_MAX_PCI);
}

/* Whether keelctl create may ask for a function, as PCI_LIST shows it. */
static void test_pci_refusal(void)
{
	struct keel_pci_dev devs[6] = {
		pci_dev(0x00, 0x8086, 0x29c0, 0x060000, 0, 0, KEEL_IOMMU_KIND_VTD, 0),
		pci_dev(0x18, 0x1234, 0x11e8, 0x00ff00, 3, 0, KEEL_IOMMU_KIND_VTD,
			KEEL_PCI_DEV_ASSIGNABLE),
		pci_dev(0x19, 0x1234, 0x11e8, 0x00ff00, 3, 0, KEEL_IOMMU_KIND_VTD,
			KEEL_PCI_DEV_ASSIGNABLE),
		pci_dev(0xf0, 0x8086, 0x244e, 0x060401, 4, 0, KEEL_IOMMU_KIND_VTD,
			KEEL_PCI_DEV_BRIDGE),
		pci_dev(0x20, 0x10ec, 0x8139, 0x020000, 5, KEEL_PCI_NO_IOMMU, KEEL_IOMMU_KIND_NONE,
			0),
		pci_dev(0x28, 0x1022, 0x1481, 0x080600, 6, 0, KEEL_IOMMU_KIND_AMDVI, 0),
	};
	uint32_t owner = 0;

	CHECK(kc_pci_refusal(devs, 6, KEEL_PCI_ADDR(0, 0, 3, 0), &owner) == NULL);
	CHECK_EQ(owner, KEEL_PCI_OWNER_NONE);
	CHECK_STR(kc_pci_refusal(devs, 6, KEEL_PCI_ADDR(1, 0, 3, 0), &owner),
		  "no such PCI function on this host (see keelctl pci)");
	CHECK_STR(kc_pci_refusal(devs, 6, KEEL_PCI_ADDR(0, 0, 0, 0), &owner),
		  "it is a host, ISA or other bridge: the platform's own");
	CHECK_STR(kc_pci_refusal(devs, 6, KEEL_PCI_ADDR(0, 0, 0x1e, 0), &owner),
		  "it is a bridge; only endpoints can be given");
	CHECK_STR(kc_pci_refusal(devs, 6, KEEL_PCI_ADDR(0, 0, 4, 0), &owner),
		  "no IOMMU translates its DMA");
	CHECK_STR(kc_pci_refusal(devs, 6, KEEL_PCI_ADDR(0, 0, 5, 0), &owner), "it is an IOMMU");
	devs[1].flags |= KEEL_PCI_DEV_BAD_CAPS;
	CHECK_STR(kc_pci_refusal(devs, 6, KEEL_PCI_ADDR(0, 0, 3, 0), &owner),
		  "its capability list is broken");
	devs[1].flags &= ~KEEL_PCI_DEV_BAD_CAPS;
	/* Owned: the function itself, or another of its isolation group. */
	devs[2].owner = 4;
	CHECK_STR(kc_pci_refusal(devs, 6, KEEL_PCI_ADDR(0, 0, 3, 1), &owner), "it is in use");
	CHECK_EQ(owner, 4);
	CHECK_STR(kc_pci_refusal(devs, 6, KEEL_PCI_ADDR(0, 0, 3, 0), &owner),
		  "a function of its isolation group is in use");
	CHECK_EQ(owner, 4);
	devs[1].group = KEEL_PCI_NO_GROUP; /* no group: only itself counts */
	CHECK(kc_pci_refusal(devs, 6, KEEL_PCI_ADDR(0, 0, 3, 0), &owner) == NULL);
}

static void test_escape(void)
{
	char buf[16];
	int b = 0;

	CHECK_EQ(kc_parse_escape("^\\", &b), 0);
	CHECK_EQ(b, 0x1c);
	CHECK_EQ(kc_parse_escape("^]", &b), 0);
	CHECK_EQ(b, 0x1d);
	CHECK_EQ(kc_parse_escape("^x", &b), 0);
	CHECK_EQ(b, 0x18);
	CHECK_EQ(kc_parse_escape("^X", &b), 0);
	CHECK_EQ(b, 0x18);
	CHECK_EQ(kc_parse_escape("^?", &b), 0);
	CHECK_EQ(b, 0x7f);
	CHECK_EQ(kc_parse_escape("^@", &b), 0);
	CHECK_EQ(b, 0);
	CHECK_EQ(kc_parse_escape("none", &b), 0);
	CHECK_EQ(b, -1);
	CHECK_EQ(kc_parse_escape("~", &b), 0);
	CHECK_EQ(b, '~');
	CHECK_EQ(kc_parse_escape("", &b), -1);
	CHECK_EQ(kc_parse_escape(NULL, &b), -1);
	CHECK_EQ(kc_parse_escape("^", &b), 0); /* a literal caret */
	CHECK_EQ(b, '^');
	CHECK_EQ(kc_parse_escape("^1", &b), -1);
	CHECK_EQ(kc_parse_escape("^XY", &b), -1);
	CHECK_EQ(kc_parse_escape("ab", &b), -1);
	CHECK_EQ(kc_parse_escape(" ", &b), -1);
	CHECK_EQ(kc_parse_escape("\x1c", &b), -1);
	CHECK_EQ(kc_parse_escape("\xc3", &b), -1);

	kc_format_escape(0x1c, buf, sizeof(buf));
	CHECK_STR(buf, "Ctrl-\\");
	kc_format_escape(0x18, buf, sizeof(buf));
	CHECK_STR(buf, "Ctrl-X");
	kc_format_escape(0x7f, buf, sizeof(buf));
	CHECK_STR(buf, "Ctrl-?");
	kc_format_escape('~', buf, sizeof(buf));
	CHECK_STR(buf, "~");
	kc_format_escape(-1, buf, sizeof(buf));
	CHECK_STR(buf, "none");
}

static void test_finder(void)
{
	static struct kc_finder f;
	static char longer[KC_FIND_MAX + 1];

	CHECK_EQ(kc_finder_init(&f, "login:"), 0);
	CHECK_EQ(kc_finder_feed(&f, "boot... log", 11), -1);
	CHECK_EQ(kc_finder_feed(&f, "in: x", 5), 3);
	CHECK_EQ(kc_finder_feed(&f, "", 0), -1);
	CHECK_EQ(kc_finder_feed(&f, "login:", 6), 6);

	CHECK_EQ(kc_finder_init(&f, "aab"), 0);
	CHECK_EQ(kc_finder_feed(&f, "aaab", 4), 4);
	CHECK_EQ(kc_finder_init(&f, "abab"), 0);
	CHECK_EQ(kc_finder_feed(&f, "ababab", 6), 4);
	CHECK_EQ(kc_finder_feed(&f, "ab", 2), 2); /* overlaps the last match */
	CHECK_EQ(kc_finder_init(&f, "x"), 0);
	CHECK_EQ(kc_finder_feed(&f, "x", 1), 1);
	CHECK_EQ(kc_finder_init(&f, "a\x01z"), 0);
	CHECK_EQ(kc_finder_feed(&f, "\0a\x01", 3), -1);
	CHECK_EQ(kc_finder_feed(&f, "z", 1), 1);
	/* One byte at a time, across every boundary. */
	CHECK_EQ(kc_finder_init(&f, "aabaaab"), 0);
	{
		const char *s = "aabaabaaabaaab";
		long hit = -1;

		for (size_t i = 0; s[i] && hit < 0; i++)
			if (kc_finder_feed(&f, s + i, 1) == 1)
				hit = (long)i;
		CHECK_EQ(hit, 9);
	}

	CHECK_EQ(kc_finder_init(&f, ""), -1);
	CHECK_EQ(kc_finder_feed(&f, "abc", 3), -1);
	memset(longer, 'q', KC_FIND_MAX);
	CHECK_EQ(kc_finder_init(&f, longer), -1);
	longer[KC_FIND_MAX - 1] = '\0';
	CHECK_EQ(kc_finder_init(&f, longer), 0);
	CHECK_EQ(kc_finder_feed(&f, longer, KC_FIND_MAX - 2), -1);
	CHECK_EQ(kc_finder_feed(&f, "qq", 2), 1);
}

enum { O_CPUS, O_START, O_JSON, O_PCI, O_NR };
static const struct kc_opt opts[] = {
	[O_CPUS] = { "cpus", true },
	[O_START] = { "start", false },
	[O_JSON] = { "json", false },
	[O_PCI] = { "pci", KC_ARG_REPEAT },
};

static int parse(int argc, const char *const *argv, struct kc_args *a, char *err)
{
	return kc_args_parse(opts, O_NR, 1, argc, (char *const *)argv, a, err, 160);
}

static void test_args(void)
{
	struct kc_args a;
	char err[160];

	{
		const char *v[] = { "vm1", "--cpus", "2", "--start" };

		CHECK_EQ(parse(4, v, &a, err), 0);
		CHECK_EQ(a.npos, 1);
		CHECK_STR(a.pos[0], "vm1");
		CHECK_STR(a.val[O_CPUS], "2");
		CHECK_STR(a.val[O_START], "");
		CHECK(a.val[O_JSON] == NULL);
		CHECK(!a.help);
	}
	{
		const char *v[] = { "--cpus=3-4", "vm1" };

		CHECK_EQ(parse(2, v, &a, err), 0);
		CHECK_STR(a.val[O_CPUS], "3-4");
		CHECK_STR(a.pos[0], "vm1");
	}
	{
		const char *v[] = { "--cpus=" };

		CHECK_EQ(parse(1, v, &a, err), 0);
		CHECK_STR(a.val[O_CPUS], "");
	}
	{
		const char *v[] = { "--cpus", "--start" }; /* a value may start with - */

		CHECK_EQ(parse(2, v, &a, err), 0);
		CHECK_STR(a.val[O_CPUS], "--start");
		CHECK(a.val[O_START] == NULL);
	}
	{
		const char *v[] = { "--", "--start" };

		CHECK_EQ(parse(2, v, &a, err), 0);
		CHECK_STR(a.pos[0], "--start");
		CHECK(a.val[O_START] == NULL);
	}
	{
		const char *v[] = { "-" };

		CHECK_EQ(parse(1, v, &a, err), 0);
		CHECK_STR(a.pos[0], "-");
	}
	{
		const char *v[] = { "--bogus", "-h" };

		CHECK_EQ(parse(2, v, &a, err), -1);
		CHECK_ERR(err, "unknown option '--bogus'");
	}
	{
		const char *v[] = { "vm1", "--help", "--bogus" };

		CHECK_EQ(parse(3, v, &a, err), 0);
		CHECK(a.help);
	}
	{
		const char *v[] = { "-h" };

		CHECK_EQ(parse(1, v, &a, err), 0);
		CHECK(a.help);
	}
	{
		const char *v[] = { "--cpus" };

		CHECK_EQ(parse(1, v, &a, err), -1);
		CHECK_ERR(err, "--cpus needs a value");
	}
	{
		const char *v[] = { "--start=1" };

		CHECK_EQ(parse(1, v, &a, err), -1);
		CHECK_ERR(err, "--start takes no value");
	}
	{
		const char *v[] = { "--cpus", "1", "--cpus", "2" };

		CHECK_EQ(parse(4, v, &a, err), -1);
		CHECK_ERR(err, "given twice");
	}
	{
		const char *v[] = { "vm1", "vm2" };

		CHECK_EQ(parse(2, v, &a, err), -1);
		CHECK_ERR(err, "unexpected argument 'vm2'");
	}
	{
		const char *v[] = { "-x" };

		CHECK_EQ(parse(1, v, &a, err), -1);
		CHECK_ERR(err, "unknown option '-x'");
	}
	{
		const char *v[] = { "--=x" };

		CHECK_EQ(parse(1, v, &a, err), -1);
	}
	{
		const char *v[] = { "--star" }; /* no abbreviations */

		CHECK_EQ(parse(1, v, &a, err), -1);
	}
	{
		const char *v[] = { "--startx" };

		CHECK_EQ(parse(1, v, &a, err), -1);
	}
	{
		const char *v[] = { "--json", "--start", "vm1" };

		CHECK_EQ(parse(3, v, &a, err), 0);
		CHECK_STR(a.val[O_JSON], "");
	}
	{
		/* A repeatable option: every value in order, the first also in val. */
		const char *v[] = { "--pci", "00:03.0", "--cpus", "1", "--pci=00:04.0,00:05.0" };

		CHECK_EQ(parse(5, v, &a, err), 0);
		CHECK_STR(a.val[O_PCI], "00:03.0");
		CHECK_EQ(a.nrep, 2);
		CHECK_EQ(a.rep_opt[0], O_PCI);
		CHECK_STR(a.rep[0], "00:03.0");
		CHECK_STR(a.rep[1], "00:04.0,00:05.0");
	}
	{
		const char *v[KC_MAX_REPEAT * 2 + 2];

		for (int i = 0; i < KC_MAX_REPEAT + 1; i++) {
			v[2 * i] = "--pci";
			v[2 * i + 1] = "00:03.0";
		}
		CHECK_EQ(parse(2 * KC_MAX_REPEAT, v, &a, err), 0);
		CHECK_EQ(a.nrep, KC_MAX_REPEAT);
		CHECK_EQ(parse(2 * KC_MAX_REPEAT + 2, v, &a, err), -1);
		CHECK_ERR(err, "--pci given too often (at most 16 such values)");
	}
	{
		const char *v[] = { "--pci" };

		CHECK_EQ(parse(1, v, &a, err), -1);
		CHECK_ERR(err, "--pci needs a value");
	}
	CHECK_EQ(parse(0, NULL, &a, err), 0);
	CHECK_EQ(a.npos, 0);
	CHECK_EQ(a.nrep, 0);
	{
		const char *v[] = { "x" };

		CHECK_EQ(kc_args_parse(opts, O_NR, 0, 1, (char *const *)v, &a, err, 160), -1);
		CHECK_EQ(kc_args_parse(opts, KC_MAX_OPTS + 1, 1, 0, NULL, &a, err, 160), -1);
	}
}

static void test_exit_codes(void)
{
	CHECK_EQ(kc_exit_code(KC_OP_CTL, 0), KC_EXIT_OK);
	CHECK_EQ(kc_exit_code(KC_OP_OPEN, ENOENT), KC_EXIT_ENV);
	CHECK_EQ(kc_exit_code(KC_OP_CTL, ENOENT), KC_EXIT_NOPART);
	CHECK_EQ(kc_exit_code(KC_OP_QUERY, ENOENT), KC_EXIT_NOPART);
	CHECK_EQ(kc_exit_code(KC_OP_CTL, EPERM), KC_EXIT_STATE);
	CHECK_EQ(kc_exit_code(KC_OP_OPEN, EPERM), KC_EXIT_ENV);
	CHECK_EQ(kc_exit_code(KC_OP_CREATE, EPERM), KC_EXIT_ENV);
	CHECK_EQ(kc_exit_code(KC_OP_OPEN, EACCES), KC_EXIT_ENV);
	CHECK_EQ(kc_exit_code(KC_OP_QUERY, ENOTTY), KC_EXIT_ENV);
	CHECK_EQ(kc_exit_code(KC_OP_OPEN, ENODEV), KC_EXIT_ENV);
	CHECK_EQ(kc_exit_code(KC_OP_CREATE, ENOMEM), KC_EXIT_RESOURCE);
	CHECK_EQ(kc_exit_code(KC_OP_CREATE, ENOSPC), KC_EXIT_RESOURCE);
	CHECK_EQ(kc_exit_code(KC_OP_CREATE, EBUSY), KC_EXIT_RESOURCE);
	CHECK_EQ(kc_exit_code(KC_OP_CTL, EBUSY), KC_EXIT_STATE);
	CHECK_EQ(kc_exit_code(KC_OP_LOAD, EBUSY), KC_EXIT_STATE);
	CHECK_EQ(kc_exit_code(KC_OP_CREATE, EEXIST), KC_EXIT_FAIL);
	CHECK_EQ(kc_exit_code(KC_OP_CREATE, EINVAL), KC_EXIT_FAIL);
	CHECK_EQ(kc_exit_code(KC_OP_CTL, ENOEXEC), KC_EXIT_IMAGE);
	CHECK_EQ(kc_exit_code(KC_OP_QUERY, ETIMEDOUT), KC_EXIT_TIMEOUT);
	CHECK_EQ(kc_exit_code(KC_OP_LOAD, EFAULT), KC_EXIT_FAIL);
	CHECK_EQ(kc_exit_code(KC_OP_LOAD, E2BIG), KC_EXIT_FAIL);
	CHECK_EQ(kc_exit_code(KC_OP_LOAD, 12345), KC_EXIT_FAIL);

	CHECK(strstr(kc_err_text(KC_OP_CREATE, ENOMEM), "not enough memory"));
	CHECK(strstr(kc_err_text(KC_OP_CREATE, ENOSPC), "no free partition slot"));
	CHECK(strstr(kc_err_text(KC_OP_CREATE, EEXIST), "exists"));
	CHECK(strstr(kc_err_text(KC_OP_CREATE, EINVAL), "invalid partition description"));
	CHECK(strstr(kc_err_text(KC_OP_OPEN, ENOENT), "modprobe keel"));
	CHECK(strstr(kc_err_text(KC_OP_OPEN, EPERM), "management = yes"));
	CHECK(strstr(kc_err_text(KC_OP_CTL, EPERM), "management partition"));
	CHECK(strstr(kc_err_text(KC_OP_CTL, ENOENT), "no such partition"));
	CHECK(kc_err_text(KC_OP_QUERY, 12345) != NULL);
	/* ABI 1.3: a PCI function Keel cannot give, or that cannot do what is asked. */
	CHECK_EQ(kc_exit_code(KC_OP_CREATE, ENODEV), KC_EXIT_FAIL);
	CHECK_EQ(kc_exit_code(KC_OP_CTL, ENODEV), KC_EXIT_FAIL);
	CHECK_EQ(kc_exit_code(KC_OP_QUERY, ENODEV), KC_EXIT_ENV);
	CHECK_EQ(kc_exit_code(KC_OP_CREATE, ENOTSUP), KC_EXIT_FAIL);
	CHECK_STR(kc_err_text(KC_OP_CREATE, ENODEV),
		  "a PCI function is not on this host or cannot be given (see keelctl pci)");
	CHECK(strstr(kc_err_text(KC_OP_CREATE, ENOTSUP), "a PCI function cannot do"));
	CHECK(strstr(kc_err_text(KC_OP_CTL, ENODEV), "PCI function Keel cannot give"));
	CHECK(strstr(kc_err_text(KC_OP_CTL, ENOTSUP), "a device cannot do what is asked"));
	CHECK(strstr(kc_err_text(KC_OP_OPEN, ENODEV), "no driver"));
}

/* What keelctl packs is what Keel's validator accepts, image indexes as LOAD will name them. */
static void test_pack_desc(void)
{
	static u8 buf[KEEL_PDESC_SIZE_MAX];
	struct kc_create_req r = { .name = "vm",
				   .cpu_mask = 0x6,
				   .mem = 256ull << 20,
				   .flags = KEEL_PD_REBOOT_STOP,
				   .cmdline = "console=hvc0",
				   .size = { 5000000, 0, 1ull << 20 } };
	struct pdesc_limits sized = { .cpu_count = 4 };
	struct pdesc_error err;
	struct pdesc d;
	uint32_t index[KC_IM_COUNT], size;

	r.disk_flags = KEEL_DISK_RO;
	size = kc_pack_desc(&r, buf, index);
	CHECK_EQ(size, KEEL_PDESC_SIZE(1, 2, 4) -
			       (KEEL_PDESC_SIZE(0, 0, 0) - KEEL_PDESC_HEADER_V4)); /* version 4 */
	CHECK_EQ(index[KC_IM_KERNEL], 0);
	CHECK_EQ(index[KC_IM_INITRD], KEEL_NO_MODULE);
	CHECK_EQ(index[KC_IM_DISK], 1);
	CHECK_EQ(pdesc_unpack(buf, size, &d, &err), 0);
	CHECK_EQ(pdesc_check(&d, &sized, &err), 0);
	CHECK_STR(d.h.name, "vm");
	CHECK_STR(d.h.cmdline, "console=hvc0");
	CHECK_EQ(d.mem[0].size, 256ull << 20);
	CHECK_EQ(d.image[1].role, KEEL_PD_IMAGE_DATA);
	CHECK_EQ(d.image[1].size, 1ull << 20);
	CHECK_EQ(d.device[2].type, KEEL_DEV_BLK);
	CHECK_EQ(d.device[2].backend, 1);
	CHECK_EQ(d.device[2].flags, KEEL_DISK_RO);
	CHECK_EQ(d.device[3].type, KEEL_DEV_CONTROL);
	{
		/* keelctl cannot link core: its device list must be the one keel.cfg gets. */
		struct pdesc want = { 0 };

		pdesc_add_default_devices(&want, 1, KEEL_DISK_RO);
		CHECK_EQ(d.h.device_count, want.h.device_count);
		CHECK(!memcmp(d.device, want.device, sizeof(d.device)));
	}

	r.size[KC_IM_INITRD] = 77;
	r.size[KC_IM_DISK] = 0;
	size = kc_pack_desc(&r, buf, index);
	CHECK_EQ(size, KEEL_PDESC_SIZE(1, 2, 3) -
			       (KEEL_PDESC_SIZE(0, 0, 0) - KEEL_PDESC_HEADER_V4)); /* version 4 */
	CHECK_EQ(index[KC_IM_INITRD], 1);
	CHECK_EQ(index[KC_IM_DISK], KEEL_NO_MODULE);
	CHECK_EQ(pdesc_unpack(buf, size, &d, &err), 0);
	CHECK_EQ(pdesc_check(&d, &sized, &err), 0);
	CHECK_EQ(d.image[1].role, KEEL_PD_IMAGE_INITRD);
	{
		struct pdesc want = { 0 };

		pdesc_add_default_devices(&want, KEEL_NO_BACKEND, 0);
		CHECK_EQ(d.h.device_count, want.h.device_count);
		CHECK(!memcmp(d.device, want.device, sizeof(d.device)));
	}
}

/* --max-memory: a hot-pluggable region and its virtio-mem device, as keel.cfg makes them. */
static void test_pack_hotplug(void)
{
	static uint8_t buf[KEEL_PDESC_SIZE_MAX];
	struct kc_create_req r = {
		.name = "vm", .cpu_mask = 0x2, .mem = 256ull << 20, .size = { 5000000, 0, 0 }
	};
	struct pdesc_limits sized = { .cpu_count = 4 };
	struct pdesc_error err;
	struct pdesc d, want = { 0 };
	uint32_t index[KC_IM_COUNT], size;
	char msg[200];
	uint64_t hot = 0;

	CHECK_EQ(kc_parse_max_memory("1G", r.mem, &hot, msg, sizeof(msg)), 0);
	CHECK_EQ(hot, 768ull << 20);
	CHECK_EQ(kc_parse_max_memory("256M", r.mem, &hot, msg, sizeof(msg)), -1);
	CHECK(strstr(msg, "multiple of 128M") != NULL);
	CHECK_EQ(kc_parse_max_memory("300M", r.mem, &hot, msg, sizeof(msg)), -1);
	CHECK_EQ(kc_parse_max_memory("128M", r.mem, &hot, msg, sizeof(msg)), -1);
	CHECK_EQ(kc_parse_max_memory("300G", r.mem, &hot, msg, sizeof(msg)), -1);
	CHECK_EQ(kc_parse_max_memory("1Q", r.mem, &hot, msg, sizeof(msg)), -1);
	CHECK(strstr(msg, "not a size") != NULL);

	{
		uint32_t max = 0;

		CHECK_EQ(kc_parse_max_cpus("3", 1, &max, msg, sizeof(msg)), 0);
		CHECK_EQ(max, 3);
		CHECK_EQ(kc_parse_max_cpus("1", 2, &max, msg, sizeof(msg)), -1);
		CHECK(strstr(msg, "fewer than its 2 cpus") != NULL);
		CHECK_EQ(kc_parse_max_cpus("0", 1, &max, msg, sizeof(msg)), -1);
		CHECK_EQ(kc_parse_max_cpus("65", 1, &max, msg, sizeof(msg)), -1);
		CHECK_EQ(kc_parse_max_cpus("3x", 1, &max, msg, sizeof(msg)), -1);
		CHECK(strstr(msg, "not a vCPU count") != NULL);
		/* Packed into the description's header, and checked by Keel's validator. */
		r.max_vcpus = 3;
		size = kc_pack_desc(&r, buf, index);
		CHECK_EQ(pdesc_unpack(buf, size, &d, &err), 0);
		CHECK_EQ(pdesc_check(&d, &sized, &err), 0);
		CHECK_EQ(d.h.max_vcpus, 3);
		CHECK_EQ(pdesc_vcpus(&d), 3);
		r.max_vcpus = 0;
	}
	r.hotplug = 768ull << 20;
	size = kc_pack_desc(&r, buf, index);
	CHECK_EQ(size, KEEL_PDESC_SIZE(2, 1, 4) -
			       (KEEL_PDESC_SIZE(0, 0, 0) - KEEL_PDESC_HEADER_V4)); /* version 4 */
	CHECK_EQ(pdesc_unpack(buf, size, &d, &err), 0);
	CHECK_EQ(pdesc_check(&d, &sized, &err), 0);
	CHECK_EQ(pdesc_hotplug_size(&d), 768ull << 20);
	want.h.mem_count = 1; /* its RAM, so the region is memory region 1 */
	pdesc_add_default_devices(&want, KEEL_NO_BACKEND, 0);
	pdesc_add_hotplug(&want, 768ull << 20);
	CHECK_EQ(d.h.device_count, want.h.device_count);
	CHECK(!memcmp(d.device, want.device, sizeof(d.device)));
	CHECK_EQ(d.mem[1].type, KEEL_PD_MEM_HOTPLUG);
}

/* --pci: KEEL_DEV_PCI entries after the virtio devices, as keel.cfg's pci = makes them. */
static void test_pack_pci(void)
{
	static uint8_t buf[KEEL_PDESC_SIZE_MAX];
	struct kc_create_req r = { .name = "vm",
				   .cpu_mask = 0x2,
				   .mem = 256ull << 20,
				   .size = { 5000000, 0, 0 },
				   .hotplug = 128ull << 20,
				   .pci_count = 2,
				   .pci = { KEEL_PCI_ADDR(0, 0, 3, 0),
					    KEEL_PCI_ADDR(1, 2, 0x1f, 7) } };
	struct pdesc_limits sized = { .cpu_count = 4 };
	struct pdesc_error err;
	struct pdesc d, want = { 0 };
	uint32_t index[KC_IM_COUNT], size;

	size = kc_pack_desc(&r, buf, index);
	CHECK_EQ(size,
		 KEEL_PDESC_SIZE(2, 1, 6) - (KEEL_PDESC_SIZE(0, 0, 0) - KEEL_PDESC_HEADER_V4));
	CHECK_EQ(pdesc_unpack(buf, size, &d, &err), 0);
	CHECK_EQ(pdesc_check(&d, &sized, &err), 0);
	want.h.mem_count = 1;
	pdesc_add_default_devices(&want, KEEL_NO_BACKEND, 0);
	pdesc_add_hotplug(&want, 128ull << 20);
	pdesc_add_device(&want, KEEL_DEV_PCI, KEEL_PCI_ADDR(0, 0, 3, 0), 0);
	pdesc_add_device(&want, KEEL_DEV_PCI, KEEL_PCI_ADDR(1, 2, 0x1f, 7), 0);
	CHECK_EQ(d.h.device_count, want.h.device_count);
	CHECK(!memcmp(d.device, want.device, sizeof(d.device)));
	CHECK_EQ(d.device[3].type, KEEL_DEV_MEM);
	CHECK_EQ(d.device[4].type, KEEL_DEV_PCI);
	/* With hot vCPUs (version 5) too, and the most functions. */
	r.max_vcpus = 2;
	r.hotplug = 0;
	r.pci_count = KEEL_PD_MAX_PCI;
	for (uint32_t i = 0; i < KEEL_PD_MAX_PCI; i++)
		r.pci[i] = KEEL_PCI_ADDR(0, 1, i, 0);
	size = kc_pack_desc(&r, buf, index);
	CHECK_EQ(size, KEEL_PDESC_SIZE(1, 1, 3 + KEEL_PD_MAX_PCI));
	CHECK_EQ(pdesc_unpack(buf, size, &d, &err), 0);
	CHECK_EQ(pdesc_check(&d, &sized, &err), 0);
	CHECK_EQ(d.device[3 + KEEL_PD_MAX_PCI - 1].backend, KEEL_PCI_ADDR(0, 1, 7, 0));
}

/* --net NETWORK[,mac=...]: names as keel.cfg allows them, addresses a port may have. */
static void test_parse_net(void)
{
	static const char *const bad[] = {
		"",
		",mac=02:00:00:00:00:01",
		"a b",
		"lan,mac=",
		"lan,mac=02:00:00:00:00",
		"lan,mac=02:00:00:00:00:0g",
		"lan,mac=02-00-00-00-00-01",
		"lan,mac=01:00:5e:00:00:01", /* multicast */
		"lan,mac=ff:ff:ff:ff:ff:ff",
		"lan,mac=00:00:00:00:00:00",
		"lan,speed=10",
		"0123456789012345678901234567890123",
	};
	struct kc_net_req nets[KEEL_PD_MAX_NET];
	char err[160];
	uint32_t n = 0;

	memset(nets, 0, sizeof(nets));
	CHECK_EQ(kc_parse_net("lan", nets, &n, err, sizeof(err)), 0);
	CHECK_EQ(n, 1);
	CHECK_STR(nets[0].name, "lan");
	CHECK(!memcmp(nets[0].mac, "\0\0\0\0\0\0", 6)); /* Keel derives it */
	CHECK_EQ(kc_parse_net("dmz.2,mac=02:6B:65:65:6c:02", nets, &n, err, sizeof(err)), 0);
	CHECK_EQ(n, 2);
	CHECK_STR(nets[1].name, "dmz.2");
	CHECK(!memcmp(nets[1].mac, "\x02\x6b\x65\x65\x6c\x02", 6));
	for (uint32_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK_EQ(kc_parse_net(bad[i], nets, &n, err, sizeof(err)), -1);
		CHECK(err[0] != '\0');
		CHECK_EQ(n, 2); /* nothing added */
	}
	CHECK_EQ(kc_parse_net("lan,mac=02:00:00:00:00:09", nets, &n, err, sizeof(err)), -1);
	CHECK(strstr(err, "given twice") != NULL);
	CHECK_EQ(kc_parse_net("x,mac=02:6b:65:65:6c:02", nets, &n, err, sizeof(err)), -1);
	CHECK(strstr(err, "given twice") != NULL);
	CHECK_EQ(kc_parse_net("c", nets, &n, err, sizeof(err)), 0);
	CHECK_EQ(kc_parse_net("d", nets, &n, err, sizeof(err)), 0);
	CHECK_EQ(kc_parse_net("e", nets, &n, err, sizeof(err)), -1);
	CHECK(strstr(err, "more than 4") != NULL);
	CHECK_EQ(n, KEEL_PD_MAX_NET);
}

/* A port of NET_LIST as keelctl's JSON shows it. */
static void test_net_json(void)
{
	struct keel_net_rec r = { .kind = KEEL_NET_REC_PORT,
				  .net = 1,
				  .name = "lan",
				  .owner = 3,
				  .mac = { 2, 0x6b, 0x65, 0x65, 0x6c, 2 },
				  .flags = KEEL_NET_PORT_UPLINK,
				  .tx_packets = 5,
				  .tx_bytes = 700,
				  .rx_packets = 2,
				  .rx_bytes = 120 };
	char buf[1024], mac[20];

	r.drops[KEEL_NET_DROP_SPOOF] = 4;
	r.drops[KEEL_NET_DROP_NO_BUFFER] = 1;
	r.drops[7] = 9; /* a reason this keelctl does not know */
	kc_format_mac(r.mac, mac, sizeof(mac));
	CHECK_STR(mac, "02:6b:65:65:6c:02");
	kc_format_net_port_json(&r, "vm\"1", buf, sizeof(buf));
	CHECK_STR(buf,
		  "{\"network\":\"lan\",\"net_id\":1,\"mac\":\"02:6b:65:65:6c:02\",\"owner\":3,"
		  "\"owner_name\":\"vm\\\"1\",\"uplink\":true,\"tx_packets\":5,\"tx_bytes\":700,"
		  "\"rx_packets\":2,\"rx_bytes\":120,\"drops\":{\"spoofed\":4,\"runt\":0,"
		  "\"oversize\":0,\"malformed\":0,\"no_buffer\":1,\"offload\":0,"
		  "\"group_held\":0,\"other\":9}}");
	CHECK_EQ(kc_format_net_port_json(&r, "vm\"1", NULL, 0), strlen(buf));
	/* A name Keel left unterminated stays inside its field; an owner gone is null. */
	memset(r.name, 'n', sizeof(r.name));
	r.flags = 0;
	kc_format_net_port_json(&r, NULL, buf, sizeof(buf));
	CHECK(strstr(buf, "\"network\":\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\",") != NULL);
	CHECK(strstr(buf, "\"owner_name\":null,\"uplink\":false,") != NULL);
}

/* NICs are packed before PCI functions, their addresses in flags and pad. */
static void test_pack_net(void)
{
	static uint8_t buf[KEEL_PDESC_SIZE_MAX];
	struct kc_create_req r = {
		.name = "vm",
		.cpu_mask = 0x2,
		.mem = 256ull << 20,
		.size = { 5000000, 0, 0 },
		.pci_count = 1,
		.pci = { KEEL_PCI_ADDR(0, 0, 3, 0) },
		.net_count = 2,
		.net = { { .name = "lan", .net = 0 },
			 { .name = "dmz", .mac = { 2, 0, 0, 0, 0, 7 }, .net = 3 } }
	};
	struct pdesc_limits sized = { .cpu_count = 4 };
	struct pdesc_error err;
	struct pdesc d;
	uint32_t index[KC_IM_COUNT], size;
	uint8_t mac[6];

	size = kc_pack_desc(&r, buf, index);
	CHECK_EQ(pdesc_unpack(buf, size, &d, &err), 0);
	CHECK_EQ(pdesc_check(&d, &sized, &err), 0);
	CHECK_EQ(d.h.device_count, 6);
	CHECK_EQ(d.device[3].type, KEEL_DEV_NET);
	CHECK_EQ(d.device[3].backend, 0);
	CHECK_EQ(d.device[3].flags, 0);
	CHECK_EQ(d.device[3].pad, 0);
	CHECK_EQ(d.device[4].type, KEEL_DEV_NET);
	CHECK_EQ(d.device[4].backend, 3);
	pdesc_net_mac(&d.device[4], mac);
	CHECK(!memcmp(mac, r.net[1].mac, 6));
	CHECK_EQ(d.device[5].type, KEEL_DEV_PCI);
}

/* --vsock auto|CID: auto, or 3 .. 0xfffffffe; the rest refused with a reason. */
static void test_parse_vsock(void)
{
	static const char *const bad[] = { "",	 "x",	       "2",
					   "0",	 "1",	       "-3",
					   "3x", "4294967295", "18446744073709551619",
					   " 3", "Auto" };
	char err[120];
	uint32_t cid = 99;

	CHECK_EQ(kc_parse_vsock("auto", &cid, err, sizeof(err)), 0);
	CHECK_EQ(cid, KEEL_VSOCK_CID_AUTO);
	CHECK_EQ(kc_parse_vsock("3", &cid, err, sizeof(err)), 0);
	CHECK_EQ(cid, 3);
	CHECK_EQ(kc_parse_vsock("4294967294", &cid, err, sizeof(err)), 0);
	CHECK_EQ(cid, 0xfffffffeu);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		CHECK_EQ(kc_parse_vsock(bad[i], &cid, err, sizeof(err)), -1);
		CHECK(strstr(err, "--vsock must be auto or a CID from 3 to 4294967294") != NULL);
	}
}

/* A vsock device after the NICs and before the PCI functions, accepted by Keel's validator. */
static void test_pack_vsock(void)
{
	static uint8_t buf[KEEL_PDESC_SIZE_MAX];
	struct kc_create_req r = { .name = "vm",
				   .cpu_mask = 0x2,
				   .mem = 256ull << 20,
				   .size = { 5000000, 0, 0 },
				   .pci_count = 1,
				   .pci = { KEEL_PCI_ADDR(0, 0, 3, 0) },
				   .net_count = 1,
				   .net = { { .name = "lan", .net = 0 } },
				   .vsock = true,
				   .vsock_cid = 12 };
	struct pdesc_limits sized = { .cpu_count = 4 };
	struct pdesc_error err;
	struct pdesc d;
	uint32_t index[KC_IM_COUNT], size, slot = 0;

	size = kc_pack_desc(&r, buf, index);
	CHECK_EQ(pdesc_unpack(buf, size, &d, &err), 0);
	CHECK_EQ(pdesc_check(&d, &sized, &err), 0);
	CHECK_EQ(d.h.device_count, 6);
	CHECK_EQ(d.device[3].type, KEEL_DEV_NET);
	CHECK_EQ(d.device[4].type, KEEL_DEV_VSOCK);
	CHECK_EQ(pdesc_vsock_cid(&d, &slot), 12);
	CHECK_EQ(slot, 4);
	CHECK_EQ(d.device[5].type, KEEL_DEV_PCI);
	r.vsock_cid = KEEL_VSOCK_CID_AUTO; /* Keel picks */
	size = kc_pack_desc(&r, buf, index);
	CHECK_EQ(pdesc_unpack(buf, size, &d, &err), 0);
	CHECK_EQ(pdesc_check(&d, &sized, &err), 0);
	CHECK_EQ(d.device[4].backend, KEEL_VSOCK_CID_AUTO);
	r.vsock = false;
	size = kc_pack_desc(&r, buf, index);
	CHECK_EQ(pdesc_unpack(buf, size, &d, &err), 0);
	CHECK_EQ(d.h.device_count, 5);
	CHECK_EQ(pdesc_vsock_cid(&d, NULL), KEEL_VSOCK_CID_AUTO);
}

/* A keelctl of the 0.x line meets a 1.x Keel: it stops with both versions named. */
static void test_abi_check(void)
{
	char msg[96];

	CHECK(kc_abi_mismatch(0x10000, 0x00008, msg, sizeof(msg)));
	CHECK_STR(msg, "Keel speaks ABI 1.0, keelctl was built for 0.8");
	CHECK(kc_abi_mismatch(KEEL_ABI_VERSION, 0x00008, msg, sizeof(msg)));
	CHECK(!kc_abi_mismatch(KEEL_ABI_VERSION, KEEL_ABI_VERSION, msg, sizeof(msg)));
	CHECK(!kc_abi_mismatch(0x10003, 0x10000, msg, sizeof(msg))); /* a newer minor: fine */
	CHECK(kc_abi_mismatch(0x00008, KEEL_ABI_VERSION, msg, sizeof(msg)));
}

int main(void)
{
	test_u64();
	test_size();
	test_memory();
	test_cpus();
	test_format_cpus();
	test_pick();
	test_create_retry();
	test_name();
	test_find();
	test_names();
	test_sniff();
	test_json();
	test_pci();
	test_escape();
	test_finder();
	test_args();
	test_exit_codes();
	test_pack_desc();
	test_abi_check();
	test_pack_hotplug();
	test_parse_pci();
	test_pci_refusal();
	test_pack_pci();
	test_parse_net();
	test_net_json();
	test_pack_net();
	test_parse_vsock();
	test_pack_vsock();
	return unit_done("test_keelctl");
}
