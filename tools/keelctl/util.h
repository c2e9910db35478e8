/* SPDX-License-Identifier: MIT */
/*
 * keelctl's pure parts: parsing and formatting of sizes, cpu lists, names and
 * options, kernel image sniffing, JSON escaping, errno to exit code. No ioctl,
 * no global state, so tests/unit/test_keelctl.c runs all of it on the host.
 */
#ifndef KEELCTL_UTIL_H
#define KEELCTL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/abi.h"

/* Exit codes a script can rely on (docs/keelctl.md). */
#define KC_EXIT_OK 0
#define KC_EXIT_FAIL 1 /* any other failure */
#define KC_EXIT_USAGE 2 /* bad command line */
#define KC_EXIT_NOPART 3 /* no such partition */
#define KC_EXIT_RESOURCE 4 /* no free core, memory or partition slot */
#define KC_EXIT_STATE 5 /* partition in the wrong state, or the manager itself */
#define KC_EXIT_IMAGE 6 /* bad image, unreadable file */
#define KC_EXIT_ENV 7 /* not root, no /dev/keel, driver or ABI mismatch */
#define KC_EXIT_TIMEOUT 8
#define KC_EXIT_FORCED 9 /* stop: stopped, but not by the guest itself (timeout, fault) */

/*
 * Whether Keel's ABI @keel and the one keelctl was built for, @built, differ
 * in their major version (the layouts of the calls differ); @msg says so.
 */
bool kc_abi_mismatch(uint32_t keel, uint32_t built, char *msg, size_t len);

/* The files of a create, by kind: what --kernel, --initrd and --disk name. */
#define KC_IM_KERNEL 0u
#define KC_IM_INITRD 1u
#define KC_IM_DISK 2u
#define KC_IM_COUNT 3u

/* What `keelctl create` asks for, before it is packed for Keel. */
struct kc_create_req {
	const char *name;
	uint64_t cpu_mask;
	uint64_t mem; /* bytes */
	uint32_t flags; /* KEEL_PD_* */
	uint32_t disk_flags; /* KEEL_DISK_* */
	const char *cmdline; /* or NULL */
	uint64_t size[KC_IM_COUNT]; /* bytes of each file, 0 = not given */
	uint64_t hotplug; /* bytes it may grow by (--max-memory minus --memory), 0 = none */
	uint32_t max_vcpus; /* --max-cpus, 0 = one vCPU per core */
	uint32_t pad;
};

/*
 * Pack @r as a partition description into @buf (KEEL_PDESC_SIZE_MAX bytes):
 * one RAM region; images kernel, initrd, disk (those given); devices console,
 * entropy, the disk, the control port; with @r->hotplug also a hot-pluggable
 * region and its virtio-mem device, last. @index[kind] = the image's index in the
 * description (what LOAD names), or KEEL_NO_MODULE. Returns the size.
 */
uint32_t kc_pack_desc(const struct kc_create_req *r, void *buf, uint32_t index[KC_IM_COUNT]);

/* The architecture keelctl (and so Keel) was built for: -DKC_ARCH=... */
#define KC_ARCH_X86_64 1
#define KC_ARCH_AARCH64 2

/* What an ioctl was doing when it failed: the same errno means different things. */
enum kc_op {
	KC_OP_OPEN, /* open /dev/keel, HOST_INFO */
	KC_OP_QUERY, /* LIST, STATS, CONSOLE_READ / WRITE */
	KC_OP_CREATE,
	KC_OP_LOAD,
	KC_OP_CTL, /* START, STOP, PAUSE, RESUME, DESTROY */
};

/* Exit code for errno @err of a failed @op. */
int kc_exit_code(enum kc_op op, int err);
/* A short reason for errno @err of a failed @op ("not enough memory"...). */
const char *kc_err_text(enum kc_op op, int err);

/* Decimal digits only, no sign, no spaces; 0 or -1 (empty, junk, overflow). */
int kc_parse_u64(const char *s, uint64_t *out);
/* A byte count with an optional suffix K, M, G, T (powers of 1024; "KiB", "MB"... also). */
int kc_parse_size(const char *s, uint64_t *out);
/*
 * --memory: a size > 0, a multiple of KEEL_PART_MEM_ALIGN (2 MiB), at most
 * 1 TiB. 0 or -1 with the reason in @err.
 */
int kc_parse_memory(const char *s, uint64_t *bytes, char *err, size_t errlen);

/*
 * --max-memory: at least --memory @mem, larger by a multiple of
 * KEEL_HOTMEM_ALIGN (128 MiB) up to KEEL_HOTMEM_MAX; *hotplug = the
 * difference. 0 or -1 with the reason in @err.
 */
int kc_parse_max_memory(const char *s, uint64_t mem, uint64_t *hotplug, char *err, size_t errlen);

/*
 * --max-cpus N: vCPUs the guest is given, @cores of them on its own cores
 * and the rest taken from the free cores while the guest has them on. N from
 * @cores to KEEL_MAX_CPUS; *max = N. 0 or -1 with the reason in @err.
 */
int kc_parse_max_cpus(const char *s, uint32_t cores, uint32_t *max, char *err, size_t errlen);

/*
 * --cpus: a bare number N is a count (*count = N, *mask = 0); a list such as
 * "3-4", "3,5", "0-1,6" or "3-3" names logical CPUs (*count = 0, *mask set).
 * CPUs are 0..63; reversed ranges, duplicates and empty items are errors.
 */
int kc_parse_cpus(const char *s, uint32_t *count, uint64_t *mask, char *err, size_t errlen);
/* @mask as "1-2,5" ("-" if empty) into @buf; returns the length it needs. */
size_t kc_format_cpus(uint64_t mask, char *buf, size_t len);
/* @mask as a JSON array "[1,2,5]" into @buf; returns the length it needs. */
size_t kc_format_cpus_json(uint64_t mask, char *buf, size_t len);
/* The lowest @count set bits of @free, or 0 if it has fewer. */
uint64_t kc_pick_cpus(uint64_t free, uint32_t count);
/* Number of set bits. */
unsigned int kc_popcount(uint64_t v);

/*
 * A new partition's name: 1..31 bytes of [a-zA-Z0-9_-], not all digits (that
 * would read as an id). 0 or -1 with the reason in @err.
 */
int kc_check_name(const char *s, char *err, size_t errlen);
/*
 * Index in @list of the partition @ref names: a number is an id (or, if no
 * id matches, a name); anything else a name. -1 if none.
 */
int kc_find_part(const struct keel_part_status *list, uint32_t n, const char *ref);
/* The partition's name as a C string (Keel's field may lack the NUL). */
void kc_part_name(const struct keel_part_status *st, char out[KEEL_NAME_MAX]);

/* "created", "loaded", "running", "stopping", "stopped", "paused", or "unknown". */
const char *kc_state_name(uint32_t state);
/* KEEL_STOP_CAUSE_*: "guest", "forced", "fault" ("unknown" for none or a newer one). */
const char *kc_stop_cause_name(uint32_t cause);
/* KEEL_EXIT_* index as "interrupt", "hypercall"...; NULL for an unnamed kind. */
const char *kc_exit_name(uint32_t kind);
/* Nanoseconds as "[D-]HH:MM:SS" into @buf (at least 24 bytes). */
void kc_format_uptime(uint64_t ns, char *buf, size_t len);

/* Kinds of kernel image kc_sniff_kernel() recognises. */
#define KC_IMAGE_NONE 0
#define KC_IMAGE_BZIMAGE 1 /* x86 Linux bzImage */
#define KC_IMAGE_ARM64 2 /* arm64 Linux Image */
#define KC_IMAGE_ELF 3 /* ELF64 (a Keel ELF guest) */
#define KC_SNIFF_LEN 4096u /* bytes of the file's start it looks at */

/*
 * Does the start of a file (@hdr, @len bytes of a @file_size file) look like
 * a kernel Keel can boot on @arch? Returns KC_IMAGE_* or KC_IMAGE_NONE with
 * the reason in *why. Only headers are checked; Keel checks the rest at START.
 */
int kc_sniff_kernel(const uint8_t *hdr, size_t len, uint64_t file_size, int arch, const char **why);
const char *kc_image_name(int kind);
const char *kc_arch_name(int arch);

/*
 * @n bytes of @s as the inside of a JSON string (quotes not included; control
 * and non-ASCII bytes as \u00XX) into @buf, NUL-terminated if @len > 0.
 * Returns the length it needs (without the NUL).
 */
size_t kc_json_escape(const char *s, size_t n, char *buf, size_t len);

/*
 * The console escape key: "^X" (Ctrl-X; "^\", "^]", "^[", "^^", "^_", "^?"),
 * one printable character, or "none" (*byte = -1). 0 or -1.
 */
int kc_parse_escape(const char *s, int *byte);
/* @byte as "Ctrl-\", "~" or "none" into @buf (at least 16 bytes). */
void kc_format_escape(int byte, char *buf, size_t len);

/* A substring search over a stream fed in pieces (console --wait), by KMP. */
#define KC_FIND_MAX 1024u

struct kc_finder {
	char needle[KC_FIND_MAX];
	uint16_t fail[KC_FIND_MAX];
	size_t len; /* of needle */
	size_t state; /* bytes of needle matched so far */
};

/* 0, or -1 if @needle is empty or KC_FIND_MAX bytes or longer. */
int kc_finder_init(struct kc_finder *f, const char *needle);
/*
 * Feeds @n bytes; returns how many of them were consumed up to and including
 * the end of the first match, or -1 if none ended in them (all consumed).
 */
long kc_finder_feed(struct kc_finder *f, const char *buf, size_t n);

/* Option parsing for a subcommand. */
#define KC_MAX_OPTS 16
#define KC_MAX_POS 4

struct kc_opt {
	const char *name; /* long name, without the "--" */
	bool has_arg;
};

struct kc_args {
	const char *val[KC_MAX_OPTS]; /* by option: its value, "" for a flag, NULL if absent */
	const char *pos[KC_MAX_POS];
	int npos;
	bool help; /* -h or --help was given (parsing stopped there) */
};

/*
 * Parses @argc words of @argv (after the subcommand) against @nopts options:
 * "--name value", "--name=value", "--flag", positionals anywhere, "--" ends
 * options, "-h"/"--help" anywhere sets help and stops. At most @max_pos
 * positionals. An option given twice is an error. 0 or -1 with @err set.
 */
int kc_args_parse(const struct kc_opt *opts, int nopts, int max_pos, int argc, char *const argv[],
		  struct kc_args *a, char *err, size_t errlen);

#endif /* KEELCTL_UTIL_H */
