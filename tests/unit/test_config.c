/* SPDX-License-Identifier: MIT */
/*
 * Host tests of the keel.cfg parser (boot/config.c) and its set checks
 * through core/pdesc.c: every error with its line, hostile input, fuzzing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "unit.h"

static struct keel_config cfg;

static int parse(const char *text)
{
	return config_parse(text, strlen(text), &cfg);
}

/* True if an error at @line contains @needle. */
static bool has_error(u32 line, const char *needle)
{
	u32 i;

	for (i = 0; i < cfg.error_count; i++)
		if (cfg.errors[i].line == line && strstr(cfg.errors[i].msg, needle))
			return true;
	return false;
}

/* True if the error at @line is exactly @msg. */
static bool has_error_exact(u32 line, const char *msg)
{
	u32 i;

	for (i = 0; i < cfg.error_count; i++)
		if (cfg.errors[i].line == line && strcmp(cfg.errors[i].msg, msg) == 0)
			return true;
	return false;
}

static void dump_errors(void)
{
	u32 i;

	for (i = 0; i < cfg.error_count; i++)
		fprintf(stderr, "    keel.cfg:%u: error: %s\n", cfg.errors[i].line,
			cfg.errors[i].msg);
}

#define CHECK_ERR(line, needle)                     \
	do {                                        \
		bool ok_ = has_error(line, needle); \
		CHECK(ok_);                         \
		if (!ok_)                           \
			dump_errors();              \
	} while (0)

/* The error at @line is @msg, and the only one. */
#define CHECK_ONLY_ERR(line, msg)                                              \
	do {                                                                   \
		bool ok_ = cfg.error_count == 1 && has_error_exact(line, msg); \
		CHECK(ok_);                                                    \
		if (!ok_)                                                      \
			dump_errors();                                         \
	} while (0)

/* A partition section that parses cleanly. */
#define PART(name, cpus) "[partition " name "]\ncpus = " cpus "\nmemory = 32M\nkernel = /k.elf\n"

static void test_good(void)
{
	const char *text = "; a comment\n"
			   "# another\n"
			   "[keel]\n"
			   "log = debug\n"
			   "on_idle = poweroff\n"
			   "\n"
			   "[ partition  hello ]\n"
			   "\tcpus = 1,3\n"
			   "memory = 64M   ; trailing comment\n"
			   "kernel = \\guests\\hello.elf\n"
			   "initrd = /x.cpio\n"
			   "cmdline = \"console=ttyS0 ; quiet # not a comment\"\n"
			   "autostart = no\n"
			   "management = yes\n"
			   "on_reboot = stop\n"
			   "[partition w-2_x]\n"
			   "cpus = 4-6, 8\n"
			   "memory = 0x400000\n"
			   "kernel = /GUESTS/HELLO.ELF\n"
			   "cmdline = a=b;c d#e\n"
			   "on_fault = stop\n";

	CHECK_EQ(parse(text), 0);
	dump_errors();
	CHECK_EQ(cfg.log_level, KEEL_LOG_DEBUG);
	CHECK_EQ(cfg.on_idle, KEEL_ON_IDLE_POWEROFF);
	CHECK_EQ(cfg.part_count, 2);
	CHECK(strcmp(cfg.parts[0].h.name, "hello") == 0);
	CHECK_EQ(cfg.parts[0].h.version, KEEL_PDESC_VERSION);
	CHECK_EQ(cfg.parts[0].h.cpu_mask, 0xa);
	CHECK_EQ(cfg.parts[0].mem[0].size, 64ull << 20);
	CHECK_EQ(cfg.parts[0].h.flags, KEEL_PD_MANAGEMENT | KEEL_PD_REBOOT_STOP);
	CHECK(strcmp(cfg.parts[0].h.cmdline, "console=ttyS0 ; quiet # not a comment") == 0);
	CHECK_EQ(cfg.files[0].kernel, 0);
	CHECK_EQ(cfg.files[0].initrd, 1);
	CHECK_EQ(cfg.lines[0].section, 7);
	CHECK_EQ(cfg.lines[0].memory, 9);
	CHECK_EQ(cfg.lines[0].on_reboot, 15);
	CHECK(strcmp(cfg.parts[1].h.name, "w-2_x") == 0);
	CHECK_EQ(cfg.parts[1].h.cpu_mask, 0x170);
	CHECK_EQ(cfg.parts[1].mem[0].size, 4ull << 20);
	CHECK_EQ(cfg.parts[1].h.flags, KEEL_PD_AUTOSTART | KEEL_PD_FAULT_STOP);
	CHECK_EQ(cfg.lines[1].on_fault, 21);
	CHECK_EQ(cfg.files[1].initrd, KEEL_NO_MODULE);
	/* Same file on FAT: one module, its path as first written. */
	CHECK_EQ(cfg.files[1].kernel, 0);
	CHECK_EQ(cfg.module_count, 2);
	CHECK(strcmp(cfg.modules[0].path, "\\guests\\hello.elf") == 0);
	CHECK_EQ(cfg.modules[0].line, 10);
	CHECK(strcmp(cfg.parts[1].h.cmdline, "a=b;c d#e") == 0);
}

static void test_defaults(void)
{
	CHECK_EQ(parse(PART("p", "0")), 0);
	CHECK_EQ(cfg.log_level, KEEL_LOG_INFO);
	CHECK_EQ(cfg.on_idle, KEEL_ON_IDLE_STAY);
	CHECK_EQ(cfg.parts[0].h.flags, KEEL_PD_AUTOSTART);
	CHECK_EQ(cfg.files[0].initrd, KEEL_NO_MODULE);
	CHECK_EQ(cfg.files[0].disk, KEEL_NO_MODULE);
	CHECK_EQ(cfg.files[0].disk_flags, 0);
	CHECK_EQ(cfg.parts[0].h.cmdline[0], 0);
	CHECK_EQ(cfg.parts[0].h.image_count, 1);
	CHECK_EQ(cfg.parts[0].h.device_count, 3);
	CHECK_EQ(cfg.parts[0].device[2].type, KEEL_DEV_CONTROL);
	CHECK_EQ(cfg.parts[0].h.cpu_mask, 1);
}

static void test_disk(void)
{
	CHECK_EQ(parse("[partition a]\ncpus = 1\nmemory = 64M\nkernel = \\k\ndisk = \\d.img\n"
		       "[partition b]\ncpus = 2\nmemory = 64M\nkernel = \\k\ndisk = /D.IMG,ro\n"),
		 0);
	dump_errors();
	CHECK_EQ(cfg.files[0].disk, 1);
	CHECK_EQ(cfg.files[0].disk_flags, 0);
	CHECK_EQ(cfg.files[1].disk, 1);
	CHECK_EQ(cfg.files[1].disk_flags, KEEL_DISK_RO);
	CHECK_EQ(cfg.lines[1].disk, 10);
	/* The description: kernel and disk images; console, entropy, the disk, control. */
	CHECK_EQ(cfg.parts[1].h.image_count, 2);
	CHECK_EQ(cfg.parts[1].image[0].role, KEEL_PD_IMAGE_KERNEL);
	CHECK_EQ(cfg.parts[1].image[0].module, 0);
	CHECK_EQ(cfg.parts[1].image[1].role, KEEL_PD_IMAGE_DATA);
	CHECK_EQ(cfg.parts[1].image[1].module, 1);
	CHECK_EQ(cfg.parts[1].h.device_count, 4);
	CHECK_EQ(cfg.parts[1].device[0].type, KEEL_DEV_CONSOLE);
	CHECK_EQ(cfg.parts[1].device[1].type, KEEL_DEV_RNG);
	CHECK_EQ(cfg.parts[1].device[2].type, KEEL_DEV_BLK);
	CHECK_EQ(cfg.parts[1].device[2].backend, 1);
	CHECK_EQ(cfg.parts[1].device[2].flags, KEEL_DISK_RO);
	CHECK_EQ(cfg.parts[1].device[3].type, KEEL_DEV_CONTROL);
	CHECK_EQ(cfg.parts[1].h.size, KEEL_PDESC_SIZE(1, 2, 4));
	CHECK(parse("[partition a]\ncpus = 1\nmemory = 64M\nkernel = \\k\ndisk = \\d.img,rw\n") !=
	      0);
	CHECK_ERR(5, "unknown option 'rw'");
	CHECK(parse("[partition a]\ncpus = 1\nmemory = 64M\nkernel = \\k\ndisk = ,ro\n") != 0);
	CHECK_ERR(5, "disk: empty path");
}

#define ABC_SHA256 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define EMPTY_SHA256 "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"

/* kernel_sha256, initrd_sha256, disk_sha256: on the module, whichever line comes first. */
static void test_sha256(void)
{
	u8 abc[SHA256_DIGEST], empty[SHA256_DIGEST];

	sha256("abc", 3, abc);
	sha256("", 0, empty);
	CHECK_EQ(parse("[partition a]\ncpus = 1\nmemory = 64M\nkernel_sha256 = " ABC_SHA256
		       "\nkernel = \\k\ndisk = \\d.img,ro\ndisk_sha256 = " EMPTY_SHA256 "\n"
		       "[partition b]\ncpus = 2\nmemory = 64M\nkernel = /K\n"
		       "kernel_sha256 = " ABC_SHA256 "\n"),
		 0);
	dump_errors();
	CHECK_EQ(cfg.module_count, 2);
	CHECK_EQ(cfg.modules[0].sha256_line, 4);
	CHECK(memcmp(cfg.modules[0].sha256, abc, SHA256_DIGEST) == 0);
	CHECK_EQ(cfg.modules[1].sha256_line, 7);
	CHECK(memcmp(cfg.modules[1].sha256, empty, SHA256_DIGEST) == 0);
	/* Without one, a module expects nothing. */
	CHECK_EQ(parse(PART("a", "1")), 0);
	CHECK_EQ(cfg.modules[0].sha256_line, 0);

	CHECK(parse(PART("a", "1") "initrd_sha256 = " ABC_SHA256 "\n") != 0);
	CHECK_ONLY_ERR(5, "initrd_sha256 without initrd");
	CHECK(parse(PART("a", "1") "kernel_sha256 = " ABC_SHA256 "0\n") != 0);
	CHECK_ONLY_ERR(5, "kernel_sha256: not a SHA-256 digest (64 hex digits, as sha256sum "
			  "prints)");
	CHECK(parse(PART("a", "1") "kernel_sha256 = sha256:" ABC_SHA256 "\n") != 0);
	CHECK_ERR(5, "not a SHA-256 digest");
	CHECK(parse(PART("a", "1") "kernel_sha256 =\n") != 0);
	CHECK(cfg.error_count >= 1);
	CHECK(parse(PART("a", "1") "kernel_sha256 = " ABC_SHA256 "\nkernel_sha256 = " ABC_SHA256
				   "\n") != 0);
	CHECK_ONLY_ERR(6, "duplicate key 'kernel_sha256' (first on line 5)");
	/* One file, two digests. */
	CHECK(parse(PART("a", "1") "kernel_sha256 = " ABC_SHA256
				   "\n" PART("b", "2") "kernel_sha256 = " EMPTY_SHA256 "\n") != 0);
	CHECK_ONLY_ERR(10, "kernel_sha256: '/k.elf' was given another SHA-256 at line 5");
	/* A digest of a file that is also another partition's initrd. */
	CHECK(parse(PART("a", "1") "kernel_sha256 = " ABC_SHA256 "\n[partition b]\ncpus = 2\n"
				   "memory = 32M\nkernel = /x\ninitrd = \\K.ELF\n"
				   "initrd_sha256 = " ABC_SHA256 "\n") == 0);
	dump_errors();
	CHECK(parse("[partition a]\ncpus = 1\nmemory = 64M\nkernel_sha256 = " ABC_SHA256
		    "\nkernel = \n") != 0);
	CHECK_ONLY_ERR(5, "kernel: empty path");
}

static void test_empty_and_endings(void)
{
	CHECK(parse("") != 0);
	CHECK_ERR(1, "no [partition");
	CHECK(parse("\n\n; only comments\n") != 0);
	CHECK_ERR(3, "no [partition");

	/* No newline at the end of the file. */
	CHECK_EQ(parse("[partition a]\ncpus = 1\nmemory = 2M\nkernel = /k"), 0);
	CHECK(strcmp(cfg.modules[0].path, "/k") == 0);

	/* CRLF line ends, errors still on the right lines. */
	CHECK(parse("[partition a]\r\ncpus = 1\r\nmemory = 2M\r\nkernel = /k\r\nbad = 1\r\n") != 0);
	CHECK_EQ(cfg.error_count, 1);
	CHECK_ERR(5, "unknown key 'bad' in [partition a]");
	CHECK(strcmp(cfg.modules[0].path, "/k") == 0);

	/* A lone CR inside a line is not text. */
	CHECK(parse(PART("a", "1") "cmdline = x\ry\n") != 0);
	CHECK_ERR(5, "control byte 0x0d");
}

static void test_keel_section(void)
{
	CHECK(parse("[keel]\nlog = loud\non_idle = sleep\nfoo = 1\nlog = info\n" PART("a", "1")) !=
	      0);
	CHECK_ERR(2, "log must be error, warn, info or debug, not 'loud'");
	CHECK_ERR(3, "on_idle must be stay, poweroff or reset");
	CHECK_ERR(4, "unknown key 'foo' in [keel]");
	CHECK_ERR(5, "duplicate key 'log' (first on line 2)");
	CHECK(parse("[keel]\n[keel]\n" PART("a", "1")) != 0);
	CHECK_ERR(2, "duplicate section [keel] (first on line 1)");
	CHECK(parse("log = info\n" PART("a", "1")) != 0);
	CHECK_ERR(1, "key 'log' outside a section");
	CHECK(parse("[keel]\nON_IDLE = reset\n" PART("a", "1")) != 0);
	CHECK_ERR(2, "unknown key 'ON_IDLE'");
	CHECK_EQ(parse("[keel]\non_idle = RESET\nlog = Warn\n" PART("a", "1")), 0);
	CHECK_EQ(cfg.on_idle, KEEL_ON_IDLE_RESET);
	CHECK_EQ(cfg.log_level, KEEL_LOG_WARN);
}

static void test_sections(void)
{
	CHECK(parse("[bogus]\nkey = 1\n[partition]\nx = 1\n[partition a.b]\n[partition a b]\n"
		    "[partition abcdefghijklmnopqrstuvwxyz012345]\n[keel\n" PART("ok", "1")) != 0);
	CHECK_ERR(1, "unknown section [bogus]");
	CHECK_ERR(3, "invalid partition name ''");
	CHECK_ERR(5, "invalid partition name 'a.b'");
	CHECK_ERR(6, "invalid partition name 'a b'");
	CHECK_ERR(7, "invalid partition name 'abcdefghijklmnopqrstuvwxyz012345'");
	CHECK_ERR(8, "without closing ']'");
	/* Keys of a rejected section are skipped, not reported one by one. */
	CHECK_EQ(cfg.error_count, 6);
	CHECK_EQ(cfg.part_count, 1);

	CHECK_EQ(parse(PART("abcdefghijklmnopqrstuvwxyz01234", "1")), 0);
	CHECK(parse(PART("a", "1") PART("a", "2")) != 0);
	CHECK_ERR(5, "duplicate partition name 'a' (first on line 1)");
	CHECK_EQ(cfg.part_count, 1);
}

static void test_partition_keys(void)
{
	CHECK(parse("[partition a]\ncpus = 1\ncpus = 2\ncolour = blue\nkernel = /k\n"
		    "autostart = maybe\nmanagement = 1\non_reboot = again\non_fault = ignore\n"
		    "on_fault = deliver\n") != 0);
	CHECK_ERR(3, "duplicate key 'cpus' (first on line 2)");
	CHECK_ERR(4, "unknown key 'colour' in [partition a]");
	CHECK_ERR(6, "autostart must be yes or no, not 'maybe'");
	CHECK_ERR(7, "management must be yes or no");
	CHECK_ERR(8, "on_reboot must be restart or stop");
	CHECK_ERR(9, "on_fault must be deliver or stop, not 'ignore'");
	CHECK_ERR(10, "duplicate key 'on_fault' (first on line 9)");
	CHECK_ERR(1, "partition 'a' has no memory");
	CHECK(cfg.lines[0].bad);

	CHECK(parse("[partition a]\ncpus = 1\nmemory = 2M\n") != 0);
	CHECK_ERR(1, "partition 'a' has no kernel");
	CHECK(parse("[partition a]\nmemory = 2M\nkernel = /k\n") != 0);
	CHECK_ERR(1, "partition 'a' has no cpus");

	CHECK(parse(PART("a", "1") "= 5\njust words\n") != 0);
	CHECK_ERR(5, "missing key before '='");
	CHECK_ERR(6, "expected 'key = value'");
}

static void test_memory(void)
{
	static const struct {
		const char *val;
		u64 bytes; /* 0: an error containing msg */
		const char *msg;
	} cases[] = {
		{ "2M", 2ull << 20, NULL },
		{ "64m", 64ull << 20, NULL },
		{ "1G", 1ull << 30, NULL },
		{ "2048K", 2ull << 20, NULL },
		{ "4194304", 4ull << 20, NULL },
		{ "0x200000", 2ull << 20, NULL },
		{ "0x1M", 1ull << 20, "not a multiple of 2M" },
		{ "16383G", 16383ull << 30, NULL },
		{ "17179869183G", 17179869183ull << 30, NULL },
		{ "18446744073709551616M", 0, "too large" },
		{ "18446744073709551615", 0, "not a multiple of 2M" },
		{ "99999999999999999999999999999999", 0, "too large" },
		{ "17179869184G", 0, "too large" },
		{ "0xffffffffffffffffff", 0, "too large" },
		{ "3M", 0, "not a multiple of 2M" },
		{ "0", 0, "must not be 0" },
		{ "0M", 0, "must not be 0" },
		{ "1T", 0, "not a number" },
		{ "-2M", 0, "not a number" },
		{ "64 M", 0, "not a number" },
		{ "M", 0, "not a number" },
		{ "", 0, "not a number" },
		{ "0x", 0, "not a number" },
		{ "2MM", 0, "not a number" },
		{ "1.5G", 0, "not a number" },
	};
	char text[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(text, sizeof(text), "[partition a]\ncpus = 1\nkernel = /k\nmemory = %s\n",
			 cases[i].val);
		parse(text);
		if (cases[i].msg) {
			CHECK_ERR(4, cases[i].msg);
		} else {
			CHECK_EQ(cfg.error_count, 0);
			CHECK_EQ(cfg.parts[0].mem[0].size, cases[i].bytes);
		}
	}
}

/* max_memory: a hot-pluggable region of max_memory - memory, or an error at its line. */
static void test_max_memory(void)
{
	parse("[partition a]\ncpus = 1\nkernel = /k\nmax_memory = 1G\nmemory = 256M\n");
	CHECK_EQ(cfg.error_count, 0);
	CHECK_EQ(pdesc_hotplug_size(&cfg.parts[0]), 768ull << 20);
	CHECK_EQ(cfg.parts[0].device[cfg.parts[0].h.device_count - 1].type, KEEL_DEV_MEM);
	parse("[partition a]\ncpus = 1\nkernel = /k\nmemory = 256M\n");
	CHECK_EQ(pdesc_hotplug_size(&cfg.parts[0]), 0);
	parse("[partition a]\ncpus = 1\nkernel = /k\nmemory = 256M\nmax_memory = 300M\n");
	CHECK_ERR(5, "max_memory must be memory plus a multiple of 128M");
	parse("[partition a]\ncpus = 1\nkernel = /k\nmemory = 256M\nmax_memory = 256M\n");
	CHECK_ERR(5, "multiple of 128M");
	parse("[partition a]\ncpus = 1\nkernel = /k\nmemory = 256M\nmax_memory = 3M\n");
	CHECK_ERR(5, "max_memory '3M' is not a multiple of 2M");
	parse("[partition a]\ncpus = 1\nkernel = /k\nmemory = 256M\nmax_memory = 1G\n"
	      "max_memory = 2G\n");
	CHECK_ERR(6, "max_memory");
}

/* max_cpus: the vCPU count, checked at its own line; the machine's CPUs bound it. */
static void test_max_cpus(void)
{
	struct pdesc_limits lim = { .cpu_count = 4, .mem_available = 1ull << 30 };

	parse("[partition a]\ncpus = 1\nkernel = /k\nmemory = 2M\nmax_cpus = 3\n");
	CHECK_EQ(cfg.error_count, 0);
	CHECK_EQ(cfg.parts[0].h.max_vcpus, 3);
	CHECK_EQ(pdesc_vcpus(&cfg.parts[0]), 3);
	parse("[partition a]\ncpus = 1\nkernel = /k\nmemory = 2M\n");
	CHECK_EQ(cfg.parts[0].h.max_vcpus, 0);
	parse("[partition a]\ncpus = 1\nkernel = /k\nmemory = 2M\nmax_cpus = 0\n");
	CHECK_ERR(5, "max_cpus must be a number of vCPUs from 1 to 64, not '0'");
	parse("[partition a]\ncpus = 1\nkernel = /k\nmemory = 2M\nmax_cpus = two\n");
	CHECK_ERR(5, "not 'two'");
	parse("[partition a]\ncpus = 1\nkernel = /k\nmemory = 2M\nmax_cpus = 65\n");
	CHECK_ERR(5, "from 1 to 64");
	parse("[partition a]\ncpus = 1\nkernel = /k\nmemory = 2M\nmax_cpus = 2\nmax_cpus = 3\n");
	CHECK_ERR(6, "max_cpus");
	/* More than the machine has: the set check names the max_cpus line. */
	CHECK_EQ(parse("[partition a]\ncpus = 1\nmemory = 2M\nkernel = /k\nmax_cpus = 9\n"), 0);
	lim.module_count = cfg.module_count;
	CHECK(config_check(&cfg, &lim) != 0);
	CHECK_ERR(5, "partition 'a': max_cpus 9 is more than the 4 CPUs");
}

static void test_cpus(void)
{
	static const struct {
		const char *val;
		u64 mask; /* 0: an error containing msg */
		const char *msg;
	} cases[] = {
		{ "0", 1, NULL },
		{ "1,3", 0xa, NULL },
		{ "1-2", 0x6, NULL },
		{ " 0 - 2 , 5 ", 0x27, NULL },
		{ "63", 1ull << 63, NULL },
		{ "0-63", ~0ull, NULL },
		{ "64", 0, "out of range" },
		{ "1-64", 0, "out of range" },
		{ "99999999999999999999999", 0, "out of range" },
		{ "1,1", 0, "cpu 1 is listed twice" },
		{ "1-3,2", 0, "cpu 2 is listed twice" },
		{ "3-1", 0, "goes backwards" },
		{ "1,,2", 0, "empty element" },
		{ "1,", 0, "empty element" },
		{ "", 0, "empty element" },
		{ "-1", 0, "empty element" },
		{ "a", 0, "not a cpu number" },
		{ "0x1", 0, "not a cpu number" },
		{ "1-2-3", 0, "not a cpu number" },
		{ "+1", 0, "not a cpu number" },
		{ "1 2", 0, "not a cpu number" },
	};
	char text[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(text, sizeof(text), "[partition a]\nmemory = 2M\nkernel = /k\ncpus = %s\n",
			 cases[i].val);
		parse(text);
		if (cases[i].msg) {
			CHECK_ERR(4, cases[i].msg);
		} else {
			CHECK_EQ(cfg.error_count, 0);
			CHECK_EQ(cfg.parts[0].h.cpu_mask, cases[i].mask);
		}
	}
}

static void test_strings(void)
{
	static char text[8192];
	char val[2048];

	CHECK(parse(PART("a", "1") "cmdline = \"unterminated\n") != 0);
	CHECK_ERR(5, "unterminated double quote");
	CHECK(parse(PART("a", "1") "cmdline = \"a\" \"b\"\n") != 0);
	CHECK_ERR(5, "badly quoted value");
	CHECK(parse(PART("a", "1") "cmdline = \"a\" b\n") != 0);
	CHECK_ERR(5, "badly quoted value");
	CHECK_EQ(parse(PART("a", "1") "cmdline = \"\"\n"), 0);
	CHECK_EQ(cfg.parts[0].h.cmdline[0], 0);
	CHECK_EQ(parse(PART("a", "1") "cmdline = root=\"x y\" quiet ; c\n"), 0);
	CHECK(strcmp(cfg.parts[0].h.cmdline, "root=\"x y\" quiet") == 0);

	/* The longest command line fits, one more byte does not. */
	memset(val, 'c', KEEL_CMDLINE_MAX - 1);
	val[KEEL_CMDLINE_MAX - 1] = 0;
	snprintf(text, sizeof(text), PART("a", "1") "cmdline = %s\n", val);
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(strlen(cfg.parts[0].h.cmdline), KEEL_CMDLINE_MAX - 1);
	val[KEEL_CMDLINE_MAX - 1] = 'c';
	val[KEEL_CMDLINE_MAX] = 0;
	snprintf(text, sizeof(text), PART("a", "1") "cmdline = %s\n", val);
	CHECK(parse(text) != 0);
	CHECK_ERR(5, "cmdline is too long (1024 characters, at most 1023)");

	/* Paths: empty, too long for a module name. */
	CHECK(parse("[partition a]\ncpus = 1\nmemory = 2M\nkernel =\n") != 0);
	CHECK_ERR(4, "kernel: empty path");
	memset(val, 'p', CFG_PATH_MAX);
	val[CFG_PATH_MAX] = 0;
	snprintf(text, sizeof(text), "[partition a]\ncpus = 1\nmemory = 2M\nkernel = /%s\n", val);
	CHECK(parse(text) != 0);
	CHECK_ERR(4, "kernel: path is too long");
	val[CFG_PATH_MAX - 2] = 0;
	snprintf(text, sizeof(text), "[partition a]\ncpus = 1\nmemory = 2M\nkernel = /%s\n", val);
	CHECK_EQ(parse(text), 0);
}

static void test_bytes(void)
{
	static const char nul[] = "[partition a]\ncpus = 1\nmem\0ory = 2M\nkernel = /k\nbad = 1\n";
	static char text[3 * CFG_LINE_MAX];
	size_t n;

	/* A NUL stops that line only; the lines after it are still read. */
	CHECK(config_parse(nul, sizeof(nul) - 1, &cfg) != 0);
	CHECK_ERR(3, "NUL byte at column 4");
	CHECK_ERR(5, "unknown key 'bad'");
	CHECK_ERR(1, "partition 'a' has no memory");
	CHECK_EQ(cfg.error_count, 3);

	CHECK(parse(PART("a", "1") "cmdline = caf\xc3\xa9\n") != 0);
	CHECK_ERR(5, "non-ASCII byte 0xc3");
	/* In a comment, UTF-8 is fine. */
	CHECK_EQ(parse(PART("a", "1") "; caf\xc3\xa9\n"), 0);
	CHECK(parse(PART("a", "1") "\x1b[2J\n") != 0);
	CHECK_ERR(5, "control byte 0x1b");
	CHECK(parse(PART("a", "1") "x = \x7f\n") != 0);
	CHECK_ERR(5, "control byte 0x7f");

	/* A very long line: reported, skipped, and the next line counts as line 2. */
	memset(text, 'x', sizeof(text));
	n = CFG_LINE_MAX + 1;
	memcpy(text + n, "\n" PART("a", "1"), sizeof("\n" PART("a", "1")));
	CHECK(parse(text) != 0);
	CHECK_ERR(1, "line is too long (2049 characters, at most 2048)");
	CHECK_EQ(cfg.error_count, 1);
	CHECK_EQ(cfg.lines[0].section, 2);
	/* The longest allowed line is fine (a comment here). */
	text[0] = ';';
	text[CFG_LINE_MAX] = '\n';
	CHECK_EQ(config_parse(text, strlen(text), &cfg), 0);
}

static void test_limits(void)
{
	static char text[1000 * 64 + 64];
	size_t pos = 0;
	int i;

	/* 1000 sections: 16 partitions, one "too many" error. */
	for (i = 0; i < 1000; i++)
		pos += (size_t)snprintf(text + pos, sizeof(text) - pos, PART("p%d", "%d"), i,
					i % 64);
	CHECK(parse(text) != 0);
	CHECK_EQ(cfg.part_count, KEEL_MAX_PARTITIONS);
	CHECK_EQ(cfg.error_count, 1);
	CHECK_ERR(4 * KEEL_MAX_PARTITIONS + 1, "too many partitions (at most 16)");

	/* More errors than the cap: the last slot says so. */
	pos = (size_t)snprintf(text, sizeof(text), PART("a", "1"));
	for (i = 0; i < 100; i++)
		pos += (size_t)snprintf(text + pos, sizeof(text) - pos, "bad%d = 1\n", i);
	CHECK(parse(text) != 0);
	CHECK_EQ(cfg.error_count, CFG_MAX_ERRORS);
	CHECK(cfg.errors_truncated);
	CHECK(strstr(cfg.errors[CFG_MAX_ERRORS - 1].msg, "too many errors") != NULL);
	CHECK_EQ(cfg.errors[CFG_MAX_ERRORS - 2].line, 5 + CFG_MAX_ERRORS - 2);
	config_error(&cfg, 1, "ignored past the cap");
	CHECK_EQ(cfg.error_count, CFG_MAX_ERRORS);

	/* 17 distinct files per 16 partitions cannot happen; 32 modules fit. */
	pos = 0;
	for (i = 0; i < 16; i++)
		pos += (size_t)snprintf(text + pos, sizeof(text) - pos,
					"[partition p%d]\ncpus = %d\nmemory = 2M\nkernel = /k%d\n"
					"initrd = /i%d\n",
					i, i, i, i);
	CHECK_EQ(parse(text), 0);
	CHECK_EQ(cfg.module_count, 32);
}

static void test_set_checks(void)
{
	struct pdesc_limits lim = { .cpu_count = 4, .mem_available = 100ull << 20 };

	/* Overlapping cores: at the second partition's cpus line. */
	CHECK_EQ(parse(PART("a", "1,2") PART("b", "2-3")), 0);
	lim.module_count = cfg.module_count;
	CHECK(config_check(&cfg, &lim) != 0);
	CHECK_ERR(6, "partition 'b': cpu 2 is already owned by partition 'a'");

	/* Too much memory for one and for all; cpu that does not exist; management twice. */
	CHECK_EQ(parse("[partition a]\ncpus = 0\nmemory = 128M\nkernel = /k\n"
		       "[partition b]\ncpus = 1\nmemory = 64M\nkernel = /k\nmanagement = yes\n"
		       "[partition c]\ncpus = 2\nmemory = 64M\nkernel = /k\n"
		       "[partition d]\ncpus = 7\nmemory = 2M\nkernel = /k\n"
		       "[partition e]\ncpus = 3\nmemory = 2M\nkernel = /k\nmanagement = yes\n"),
		 0);
	lim.module_count = cfg.module_count;
	CHECK(config_check(&cfg, &lim) != 0);
	CHECK_ERR(3, "partition 'a': memory 128 MiB is more than the 100 MiB");
	CHECK_ERR(12, "partition 'c': the partitions need 128 MiB in all");
	CHECK_ERR(15, "partition 'd': cpu 7 does not exist (this machine has 4, numbered 0-3)");
	CHECK_ERR(22, "only one management partition is allowed ('b' is one already)");
	CHECK_EQ(cfg.error_count, 4);

	/* Unknown limits (0) skip those checks. */
	memset(&lim, 0, sizeof(lim));
	CHECK_EQ(parse(PART("a", "63")), 0);
	lim.module_count = cfg.module_count;
	CHECK_EQ(config_check(&cfg, &lim), 0);

	/* A module the loader did not load: at the kernel line. */
	cfg.parts[0].image[0].module = 1;
	CHECK(config_check(&cfg, &lim) != 0);
	CHECK_ERR(4, "image 0: module 1 was not loaded");

	/* Partitions with parse errors are left out of the set checks. */
	CHECK(parse("[partition a]\ncpus = 1\nmemory = 3M\nkernel = /k\n" PART("b", "1")) != 0);
	lim.module_count = cfg.module_count;
	config_check(&cfg, &lim);
	CHECK_EQ(cfg.error_count, 1);

	CHECK_EQ(config_field_line(&cfg, 99, PDESC_F_CPUS, 0), 1);
	CHECK_EQ(config_field_line(&cfg, 1, PDESC_F_INITRD, 0), 5);
	CHECK_EQ(config_field_line(&cfg, 1, PDESC_F_CPUS, 0), 6);
}

static void test_sort(void)
{
	CHECK(parse("[keel]\nx = 1\n[partition a]\ncpus = 1\nmemory = 2M\nkernel = /k\n") != 0);
	config_error(&cfg, 1, "first");
	config_error(&cfg, 4, "late");
	config_sort_errors(&cfg);
	CHECK_EQ(cfg.error_count, 3);
	CHECK_EQ(cfg.errors[0].line, 1);
	CHECK_EQ(cfg.errors[1].line, 2);
	CHECK_EQ(cfg.errors[2].line, 4);
}

/* Random and mutated input: only that it never crashes (ASan/UBSan) and stays in bounds. */
static void test_fuzz(void)
{
	static const char *const pieces[] = {
		"[keel]\n",
		"[partition ",
		"]\n",
		"cpus = ",
		"memory = ",
		"kernel = ",
		"initrd = ",
		"cmdline = ",
		"\"",
		";",
		"#",
		"=",
		",",
		"-",
		"0x",
		"64M",
		"18446744073709551616",
		"\r\n",
		"\n",
		" ",
		"\t",
		"\\",
		"/",
		"a",
		"yes",
		"management = ",
		"log = ",
		"\0",
		"\xff",
		"[",
		"99",
		"1-63",
		"on_idle = ",
		"pci = ",
		"00:03.0",
		"1f.7",
		":",
		".",
		"vsock = ",
		"auto",
		"4294967294",
	};
	static char buf[4096];
	u64 seed = 0x6b65656c;
	int iter;

	for (iter = 0; iter < 20000; iter++) {
		size_t len = 0;
		int n;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		n = (int)((seed >> 33) % 64);
		while (n-- > 0) {
			const char *p;
			size_t l;

			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			if ((seed >> 60) == 0) {
				p = (const char *)&seed;
				l = 1;
			} else {
				p = pieces[(seed >> 33) % ARRAY_SIZE(pieces)];
				l = p[0] ? strlen(p) : 1;
			}
			if (len + l > sizeof(buf))
				break;
			memcpy(buf + len, p, l);
			len += l;
		}
		config_parse(buf, len, &cfg);
		CHECK(cfg.error_count <= CFG_MAX_ERRORS);
		CHECK(cfg.part_count <= KEEL_MAX_PARTITIONS);
		CHECK(cfg.module_count <= KEEL_BOOT_MAX_MODULES);
	}
}

/* pci = host PCI functions: KEEL_DEV_PCI entries after the virtio devices, each with its line. */
static void test_pci(void)
{
	const struct pdesc *d = &cfg.parts[0];
	const struct cfg_part_lines *l = &cfg.lines[0];

	CHECK_EQ(parse(PART("a", "1") "pci = 0000:00:03.0 , 00:0A.1\n"
				      "disk = /d.img\n"
				      "pci=1:fe:1F.7\n"
				      "max_memory = 160M\n"),
		 0);
	dump_errors();
	CHECK_EQ(d->h.device_count, 8);
	CHECK_EQ(d->device[2].type, KEEL_DEV_BLK);
	CHECK_EQ(d->device[4].type, KEEL_DEV_MEM);
	CHECK_EQ(d->device[5].type, KEEL_DEV_PCI);
	CHECK_EQ(d->device[5].backend, KEEL_PCI_ADDR(0, 0, 3, 0));
	CHECK_EQ(d->device[5].flags, 0);
	CHECK_EQ(d->device[6].backend, KEEL_PCI_ADDR(0, 0, 0xa, 1));
	CHECK_EQ(d->device[7].backend, KEEL_PCI_ADDR(1, 0xfe, 0x1f, 7));
	CHECK_EQ(d->h.size, KEEL_PDESC_SIZE(2, 2, 8));
	/* The line of each entry a key made (console, entropy, control: none). */
	CHECK_EQ(l->dev[0], 0);
	CHECK_EQ(l->dev[1], 0);
	CHECK_EQ(l->dev[2], 6);
	CHECK_EQ(l->dev[3], 0);
	CHECK_EQ(l->dev[4], 8);
	CHECK_EQ(l->dev[5], 5);
	CHECK_EQ(l->dev[6], 5);
	CHECK_EQ(l->dev[7], 7);
	CHECK_EQ(config_field_line(&cfg, 0, PDESC_F_PCI, 7), 7);
	CHECK_EQ(config_field_line(&cfg, 0, PDESC_F_PCI, 99), 5);
	CHECK_EQ(config_check(&cfg, &(struct pdesc_limits){ .module_count = 2 }), 0);
	dump_errors();

	/* Malformed addresses, each at its line with nothing kept. */
	CHECK(parse(PART("a", "1") "pci = 00:03\n") != 0);
	CHECK_ONLY_ERR(5, "pci: '00:03' is not a PCI address (SSSS:BB:DD.F or BB:DD.F, in hex)");
	CHECK_EQ(cfg.files[0].pci_count, 0);
	CHECK(parse(PART("a", "1") "pci = 00:20.0\n") != 0);
	CHECK_ONLY_ERR(5, "pci: '00:20.0': device 20 is out of range (00-1f)");
	CHECK(parse(PART("a", "1") "pci = 00:03.8\n") != 0);
	CHECK_ONLY_ERR(5, "pci: '00:03.8': function 8 is out of range (0-7)");
	CHECK(parse(PART("a", "1") "pci = 00:03.0, 00:04.0,\n") != 0);
	CHECK_ONLY_ERR(5, "pci: empty element in the list");
	CHECK_EQ(cfg.files[0].pci_count, 0);
	{
		static const char *const bad[] = {
			"12345:00:03.0", "0:0:0:0.0", "00:003.0", "000:03.0", "00:03.00",
			"00:03.",	 ":00:03.0",  "00:03",	  "x0:03.0",  "00:03.0 x",
			"00-03.0",	 "00.03.0",   "0x0:03.0", "00:+3.0",
		};
		char text[128], want[128];

		for (u32 i = 0; i < ARRAY_SIZE(bad); i++) {
			snprintf(text, sizeof(text), PART("a", "1") "pci = %s\n", bad[i]);
			snprintf(want, sizeof(want),
				 "pci: '%s' is not a PCI address (SSSS:BB:DD.F or BB:DD.F, in hex)",
				 bad[i]);
			CHECK(parse(text) != 0);
			CHECK_ONLY_ERR(5, want);
		}
	}

	/* The same function twice, in one line or two: at the second, naming the first. */
	CHECK(parse(PART("a", "1") "pci = 00:03.0, 0000:00:03.0\n") != 0);
	CHECK_ONLY_ERR(5, "pci: 0000:00:03.0 is listed twice (first on line 5)");
	CHECK(parse(PART("a", "1") "pci = 00:03.0\npci = 00:04.0, 0000:00:03.0\n") != 0);
	CHECK_ONLY_ERR(6, "pci: 0000:00:03.0 is listed twice (first on line 5)");
	CHECK_EQ(cfg.files[0].pci_count, 1);

	/* At most KEEL_PD_MAX_PCI, over all its pci lines. */
	CHECK_EQ(parse(PART("a", "1") "pci = 00:01.0, 00:02.0, 00:03.0, 00:04.0\n"
				      "pci = 00:05.0, 00:06.0, 00:07.0, 00:08.0\n"),
		 0);
	CHECK_EQ(cfg.parts[0].h.device_count, 3 + KEEL_PD_MAX_PCI);
	CHECK(parse(PART("a", "1") "pci = 00:01.0, 00:02.0, 00:03.0, 00:04.0\n"
				   "pci = 00:05.0, 00:06.0, 00:07.0, 00:08.0, 00:09.0\n") != 0);
	CHECK_ONLY_ERR(6, "pci: more than 8 functions in one partition");

	/* In two partitions: at the second one's line that names it. */
	CHECK_EQ(parse(PART("a", "1") "pci = 00:03.0\n" PART("b", "2") "pci = 00:04.0\n"
								       "pci = 0000:00:03.0\n"),
		 0);
	CHECK(config_check(&cfg, &(struct pdesc_limits){ .module_count = 1 }) != 0);
	CHECK_ONLY_ERR(11, "partition 'b': pci 0000:00:03.0 is already given to partition 'a'");
}

/* [network NAME] and net = NETWORK[, mac=...]: KEEL_DEV_NET entries after the virtio devices. */
static void test_net(void)
{
	const struct pdesc *d = &cfg.parts[0];
	const struct cfg_part_lines *l = &cfg.lines[0];
	const struct pdesc_limits lim = { .module_count = 1 };

	/* A network may be declared after the partition that joins it. */
	CHECK_EQ(parse("[network lan]\n" PART("a", "1") "net = wan\n"
							"net = lan , mac=02:AB:cd:00:00:01\n"
							"pci = 00:03.0\n"
							"[network wan]\n"),
		 0);
	dump_errors();
	CHECK_EQ(cfg.net_count, 2);
	CHECK(!strcmp(cfg.nets[0], "lan") && !strcmp(cfg.nets[1], "wan"));
	CHECK_EQ(d->h.device_count, 6);
	CHECK_EQ(d->device[3].type, KEEL_DEV_NET);
	CHECK_EQ(d->device[3].backend, 1); /* wan */
	CHECK_EQ(d->device[3].flags, 0); /* derived */
	CHECK_EQ(d->device[3].pad, 0);
	CHECK_EQ(d->device[4].backend, 0);
	CHECK_EQ(d->device[4].flags, 0x00cdab02u);
	CHECK_EQ(d->device[4].pad, 0x0100u);
	CHECK_EQ(d->device[5].type, KEEL_DEV_PCI); /* after the NICs */
	CHECK_EQ(l->dev[3], 6);
	CHECK_EQ(l->dev[4], 7);
	CHECK_EQ(config_check(&cfg, &lim), 0);
	dump_errors();

	/* Errors at their lines. */
	CHECK(parse(PART("a", "1") "net = lan\n") != 0);
	CHECK_ONLY_ERR(5, "net: no network 'lan' (declare it with a [network lan] section)");
	CHECK(parse("[network lan]\n[network lan]\n" PART("a", "1")) != 0);
	CHECK_ONLY_ERR(2, "duplicate network 'lan' (first on line 1)");
	CHECK(parse("[network a b]\n" PART("a", "1")) != 0);
	CHECK_ERR(1, "invalid network name 'a b'");
	CHECK(parse("[network lan]\nmtu = 9000\n" PART("a", "1")) != 0);
	CHECK_ONLY_ERR(2, "unknown key 'mtu' in [network] (it takes none yet)");
	CHECK(parse("[network lan]\n" PART("a", "1") "net = lan, mac=03:00:00:00:00:01\n") != 0);
	CHECK_ONLY_ERR(6, "net: 03:00:00:00:00:01 is a multicast address, not a port's");
	CHECK(parse("[network lan]\n" PART("a", "1") "net = lan, mac=02:00:00:00:00\n") != 0);
	CHECK_ERR(6, "net: mac must be six hex bytes");
	CHECK(parse("[network lan]\n" PART("a", "1") "net = lan, mac=00:00:00:00:00:00\n") != 0);
	CHECK_ERR(6, "is no port's");
	CHECK(parse("[network lan]\n" PART("a", "1") "net = lan, speed=10G\n") != 0);
	CHECK_ERR(6, "net: unknown option 'speed=10G'");
	CHECK(parse("[network lan]\n" PART("a", "1") "net =\n") != 0);
	CHECK_ERR(6, "net: a network name of 1 to 31 characters");

	/* The set checks: a network joined twice, an address given twice, here or elsewhere. */
	CHECK_EQ(parse("[network lan]\n" PART("a", "1") "net = lan\nnet = lan\n"), 0);
	CHECK(config_check(&cfg, &lim) != 0);
	CHECK_ONLY_ERR(7, "partition 'a': joins network 0 twice");
	CHECK_EQ(parse("[network lan]\n[network wan]\n" PART(
			 "a", "1") "net = lan, mac=02:00:00:00:00:01\n"
				   "net = wan, mac=02:00:00:00:00:01\n"),
		 0);
	CHECK(config_check(&cfg, &lim) != 0);
	CHECK_ONLY_ERR(8, "partition 'a': net device 4: address given twice");
	CHECK_EQ(parse("[network lan]\n" PART("a", "1") "net = lan, mac=02:00:00:00:00:01\n" PART(
			 "b", "2") "net = lan, mac=02:00:00:00:00:01\n"),
		 0);
	CHECK(config_check(&cfg, &lim) != 0);
	CHECK_ONLY_ERR(11, "partition 'b': net device 3: its address is partition 'a''s already");
	CHECK(parse("[network n1]\n[network n2]\n[network n3]\n[network n4]\n[network n5]\n" PART(
		      "a", "1") "net = n1\nnet = n2\nnet = n3\nnet = n4\nnet = n5\n") != 0);
	CHECK_ONLY_ERR(14, "net: at most 4 networks per partition");
}

/* vsock = auto | yes | CID: a KEEL_DEV_VSOCK entry after the NICs, its CID fixed by the loader. */
static void test_vsock(void)
{
	const struct pdesc *d = &cfg.parts[0];
	const struct pdesc_limits lim = { .module_count = 1 };
	static const char *const bad[] = {
		"x", "1", "0", "4294967295", "99999999999999999999", "0x10", "-3", "3 4", "3,4", "",
	};
	char text[256], want[128];

	CHECK_EQ(parse("[network lan]\n" PART("a", "1") "vsock = auto\nnet = lan\npci = 00:03.0\n"),
		 0);
	dump_errors();
	CHECK_EQ(d->h.device_count, 6);
	CHECK_EQ(d->device[3].type, KEEL_DEV_NET);
	CHECK_EQ(d->device[4].type, KEEL_DEV_VSOCK);
	CHECK_EQ(d->device[4].backend, 3);
	CHECK_EQ(d->device[4].flags, 0);
	CHECK_EQ(d->device[5].type, KEEL_DEV_PCI);
	CHECK_EQ(cfg.lines[0].dev[4], 6);
	CHECK_EQ(config_field_line(&cfg, 0, PDESC_F_PCI, 4), 6);
	CHECK_EQ(config_check(&cfg, &lim), 0);
	CHECK_EQ(parse(PART("a", "1") "vsock = yes\n"), 0);
	CHECK_EQ(d->device[3].type, KEEL_DEV_VSOCK);
	CHECK_EQ(d->device[3].backend, 3);
	CHECK_EQ(parse(PART("a", "1") "vsock = 7\n"), 0);
	CHECK_EQ(d->device[3].backend, 7);
	CHECK_EQ(parse(PART("a", "1") "vsock = 4294967294\n"), 0);
	CHECK_EQ(d->device[3].backend, KEEL_VSOCK_CID_MAX);
	CHECK_EQ(config_check(&cfg, &lim), 0);
	CHECK_EQ(parse(PART("a", "1")), 0); /* no key: no device */
	CHECK_EQ(d->h.device_count, 3);
	CHECK_EQ(pdesc_vsock_cid(d, NULL), KEEL_VSOCK_CID_AUTO);

	/* Not a CID: at its line, and nothing kept. */
	for (u32 i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(text, sizeof(text), PART("a", "1") "vsock = %s\n", bad[i]);
		snprintf(want, sizeof(want),
			 "vsock must be auto or a CID from 2 to 4294967294, not '%s'", bad[i]);
		CHECK(parse(text) != 0);
		CHECK_ONLY_ERR(5, want);
		CHECK(!cfg.files[0].vsock);
	}
	CHECK(parse(PART("a", "1") "vsock = auto\nvsock = 3\n") != 0);
	CHECK_ONLY_ERR(6, "duplicate key 'vsock' (first on line 5)");

	/* 2 is the management partition's: the set check says so at the vsock line. */
	CHECK_EQ(parse(PART("a", "1") "cmdline = x\nvsock = 2\n"), 0);
	CHECK(config_check(&cfg, &lim) != 0);
	CHECK_ONLY_ERR(6, "partition 'a': vsock: CID 2 is reserved (a partition's is 3 to "
			  "4294967294; 2 is the management partition's)");
	CHECK_EQ(parse(PART("m", "1") "management = yes\nvsock = auto\n"), 0);
	CHECK_EQ(d->device[3].backend, KEEL_VSOCK_CID_HOST);
	CHECK_EQ(config_check(&cfg, &lim), 0);
	CHECK_EQ(parse(PART("m", "1") "vsock = 2\nmanagement = yes\n"), 0);
	CHECK_EQ(config_check(&cfg, &lim), 0);
	CHECK_EQ(parse(PART("m", "1") "management = yes\nvsock = 5\n"), 0);
	CHECK(config_check(&cfg, &lim) != 0);
	CHECK_ONLY_ERR(6, "partition 'm': vsock: the management partition's CID is 2, not 5");
}

/*
 * auto: the management partition's 2, the others the lowest from 3 that no
 * partition names, in file order, whatever comes after them.
 */
static void test_vsock_assigned(void)
{
	/* clang-format off */
	static const char text[] =
		PART("a", "0") "vsock = auto\n"
		PART("b", "1") "vsock = 3\n"
		PART("c", "2") "vsock = auto\n"
		PART("m", "3") "vsock = auto\nmanagement = yes\n"
		PART("n", "4")
		PART("d", "5") "vsock = yes\n"
		PART("e", "6") "vsock = 5\n";
	/* clang-format on */
	const struct pdesc_limits lim = { .module_count = 1 };

	CHECK_EQ(parse(text), 0);
	dump_errors();
	CHECK_EQ(pdesc_vsock_cid(&cfg.parts[0], NULL), 4);
	CHECK_EQ(pdesc_vsock_cid(&cfg.parts[1], NULL), 3);
	CHECK_EQ(pdesc_vsock_cid(&cfg.parts[2], NULL), 6);
	CHECK_EQ(pdesc_vsock_cid(&cfg.parts[3], NULL), KEEL_VSOCK_CID_HOST);
	CHECK_EQ(cfg.parts[4].h.device_count, 3); /* n: none */
	CHECK_EQ(pdesc_vsock_cid(&cfg.parts[5], NULL), 7);
	CHECK_EQ(pdesc_vsock_cid(&cfg.parts[6], NULL), 5);
	CHECK_EQ(config_check(&cfg, &lim), 0);
	dump_errors();

	/* One CID named twice: at the second partition's vsock line. */
	CHECK_EQ(parse(PART("a", "0") "vsock = 7\n" PART("b", "1") "vsock = auto\n" PART(
			 "c", "2") "cmdline = x\nvsock = 7\n"),
		 0);
	CHECK_EQ(pdesc_vsock_cid(&cfg.parts[1], NULL), 3);
	CHECK(config_check(&cfg, &lim) != 0);
	CHECK_ONLY_ERR(16, "partition 'c': vsock: CID 7 is partition 'a''s already");
}

static void test_smt_split_key(void)
{
	CHECK_EQ(parse("[keel]\nsmt_split = allow\n" PART("a", "1")), 0);
	CHECK_EQ(cfg.smt_split, KEEL_SMT_SPLIT_ALLOW);
	CHECK_EQ(parse("[keel]\nsmt_split = refuse\n" PART("a", "1")), 0);
	CHECK_EQ(cfg.smt_split, KEEL_SMT_SPLIT_REFUSE);
	CHECK(parse("[keel]\nsmt_split = maybe\n" PART("a", "1")) != 0);
	CHECK_ERR(2, "smt_split must be refuse or allow");
}

int main(void)
{
	test_pci();
	test_net();
	test_vsock();
	test_vsock_assigned();
	test_smt_split_key();
	test_disk();
	test_sha256();
	test_good();
	test_defaults();
	test_empty_and_endings();
	test_keel_section();
	test_sections();
	test_partition_keys();
	test_memory();
	test_max_memory();
	test_max_cpus();
	test_cpus();
	test_strings();
	test_bytes();
	test_limits();
	test_set_checks();
	test_sort();
	test_fuzz();
	return unit_done("test_config");
}
