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
	uint32_t pci_count; /* host PCI functions in pci[] (--pci) */
	uint32_t pci[KEEL_PD_MAX_PCI]; /* each a KEEL_PCI_ADDR */
	uint32_t net_count; /* NICs in net[] (--net) */
	struct kc_net_req {
		char name[KEEL_NET_NAME_MAX]; /* the network's */
		uint8_t mac
			[6]; /* all 0: Keel derives it from the partition's and network's names */
		uint32_t net; /* the network's number, as NET_LIST gives it (set by the caller) */
	} net[KEEL_PD_MAX_NET];
	bool vsock; /* --vsock: a vsock device with CID vsock_cid (KEEL_VSOCK_CID_AUTO: Keel picks) */
	uint32_t vsock_cid;
};

/*
 * --vsock auto|CID: 0 with *@cid set (KEEL_VSOCK_CID_AUTO for auto), or -1
 * with the reason in @err. Keel checks the range against the partition too.
 */
int kc_parse_vsock(const char *s, uint32_t *cid, char *err, size_t errlen);

/*
 * Pack @r as a partition description into @buf (KEEL_PDESC_SIZE_MAX bytes):
 * one RAM region; images kernel, initrd, disk (those given); devices console,
 * entropy, the disk, the control port; with @r->hotplug also a hot-pluggable
 * region and its virtio-mem device; a KEEL_DEV_NET entry per NIC; then a
 * KEEL_DEV_PCI entry per host PCI function, last. @index[kind] = the image's index in the description (what
 * LOAD names), or KEEL_NO_MODULE. Returns the size.
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

/*
 * --pci: host PCI functions, "SSSS:BB:DD.F" or "BB:DD.F" (segment 0) in hex,
 * several separated by commas. Each is added to @addr (as KEEL_PCI_ADDR)
 * after the *@n there: each function once, at most KEEL_PD_MAX_PCI in all.
 * 0 or -1 with the reason in @err (nothing added then).
 */
int kc_parse_pci(const char *s, uint32_t addr[KEEL_PD_MAX_PCI], uint32_t *n, char *err,
		 size_t errlen);

/*
 * --net NAME[,mac=xx:xx:xx:xx:xx:xx]: one NIC on network NAME, added after
 * the *@n in @nets: each network once, at most KEEL_PD_MAX_NET, an address
 * unicast and not all zeros. 0 or -1 with the reason in @err.
 */
int kc_parse_net(const char *s, struct kc_net_req nets[KEEL_PD_MAX_NET], uint32_t *n, char *err,
		 size_t errlen);

/* "xx:xx:xx:xx:xx:xx" of @mac into @buf (at least 18 bytes). */
void kc_format_mac(const uint8_t mac[6], char *buf, size_t len);

/* The name of drop reason @k (KEEL_NET_DROP_*), or NULL for an unnamed slot. */
const char *kc_net_drop_name(uint32_t k);

/*
 * One port record of NET_LIST as a JSON object: network, owner (with
 * @owner_name, or null), address, uplink, counters and drops by reason.
 * Returns the length it needs (as snprintf).
 */
size_t kc_format_net_port_json(const struct keel_net_rec *r, const char *owner_name, char *buf,
			       size_t len);

/*
 * Why host function @addr (KEEL_PCI_ADDR) cannot be given to a new
 * partition, as the @n records of PCI_LIST @devs show it, or NULL if it can.
 * *@owner: the partition that has it or a function of its isolation group,
 * else KEEL_PCI_OWNER_NONE. Keel checks again (and has the last word).
 */
const char *kc_pci_refusal(const struct keel_pci_dev *devs, uint32_t n, uint32_t addr,
			   uint32_t *owner);

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

/* How many CREATEs of a number of cores keelctl makes in all (kc_create_retry). */
#define KC_CREATE_TRIES 8

/*
 * CREATE with @req (its cpu_mask picked from a free set read earlier) through
 * @create(@ctx, @req), which returns 0 or -errno. For a number of cores
 * (@count, not a list) it is made again while Keel answers -EBUSY: a running
 * partition's hot vCPU may take a picked core between the read and the call.
 * Each retry picks the lowest @count of the free set read afresh by
 * @free_cpus(@ctx, &mask) (0 or -errno), and stops when that fails, has too
 * few cores, or after KC_CREATE_TRIES calls in all. A list names its cores
 * and is never retried. Returns @create's last answer; @req->cpu_mask is the
 * last mask asked for.
 */
int kc_create_retry(int (*create)(void *ctx, struct kc_create_req *req),
		    int (*free_cpus)(void *ctx, uint64_t *mask), void *ctx,
		    struct kc_create_req *req, uint32_t count);

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

/*
 * The host's PCI functions (keelctl pci). Each returns the length it needs
 * (without the NUL) and writes a NUL-terminated prefix if @len > 0.
 */
/* "SSSS:BB:DD.F" */
size_t kc_format_pci_addr(uint16_t seg, uint16_t bdf, char *buf, size_t len);
/* KEEL_IOMMU_KIND_*: "VT-d", "AMD-Vi", "none" ("unknown" for a newer one). */
const char *kc_iommu_kind_name(uint32_t kind);
/* Its IOMMU unit: "0 (VT-d)", or "none". */
size_t kc_format_pci_iommu(const struct keel_pci_dev *d, char *buf, size_t len);
/* KEEL_PCI_DEV_* set, as "assignable,bridge,aliased,bad-caps" (unknown bits in hex), or "-". */
size_t kc_format_pci_flags(uint32_t flags, char *buf, size_t len);
/* The OWNER column is @owner_w wide (at least 5). */
size_t kc_format_pci_header(int owner_w, char *buf, size_t len);
/*
 * One line of the table (no newline) for @d: ADDRESS ID CLASS GROUP IOMMU
 * OWNER FLAGS; @owner is the owner's name, or NULL for none ("-").
 */
size_t kc_format_pci_row(const struct keel_pci_dev *d, const char *owner, int owner_w, char *buf,
			 size_t len);
/*
 * @d as one JSON object: address, vendor, device, class (hex strings as in
 * the table), header_type, dma_rid, group (null if none), iommu (its index
 * or null), iommu_kind (null if none), owner (its id or null), owner_name
 * (@owner, JSON-escaped, or null), flags (the words), assignable.
 */
size_t kc_format_pci_json(const struct keel_pci_dev *d, const char *owner, char *buf, size_t len);

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
#define KC_MAX_REPEAT 16 /* values of repeatable options, in all */
#define KC_ARG_REPEAT 2 /* has_arg: takes a value and may be given again (each in kc_args.rep) */

struct kc_opt {
	const char *name; /* long name, without the "--" */
	int has_arg; /* false: a flag; true: takes a value; or KC_ARG_REPEAT */
};

struct kc_args {
	/* by option: its value ("" for a flag; a repeatable one's first), NULL if absent */
	const char *val[KC_MAX_OPTS];
	const char *pos[KC_MAX_POS];
	int npos;
	bool help; /* -h or --help was given (parsing stopped there) */
	int nrep;
	const char *rep[KC_MAX_REPEAT]; /* every value of a repeatable option, in order */
	int rep_opt[KC_MAX_REPEAT]; /* which option each is */
};

/*
 * Parses @argc words of @argv (after the subcommand) against @nopts options:
 * "--name value", "--name=value", "--flag", positionals anywhere, "--" ends
 * options, "-h"/"--help" anywhere sets help and stops. At most @max_pos
 * positionals. An option given twice is an error unless it is repeatable
 * (at most KC_MAX_REPEAT such values). 0 or -1 with @err set.
 */
int kc_args_parse(const struct kc_opt *opts, int nopts, int max_pos, int argc, char *const argv[],
		  struct kc_args *a, char *err, size_t errlen);

#endif /* KEELCTL_UTIL_H */
