/* SPDX-License-Identifier: MIT */
/*
 * keel.cfg parser: INI-style sections and keys into struct keel_part_desc,
 * every error collected with its line. Pure C, built for the host tests too.
 */
#include <stdarg.h>

#include <keel/lib.h>
#include <keel/pci_addr.h>

#include "config.h"

enum cfg_section {
	SEC_NONE, /* before the first section header */
	SEC_KEEL,
	SEC_PART,
	SEC_NETWORK, /* no keys yet */
	SEC_IGNORE, /* a bad header was reported; skip its keys quietly */
};

/* One line, NUL-terminated, comments and surrounding blanks removed. */
struct cfg_parser {
	struct keel_config *cfg;
	enum cfg_section section;
	u32 part; /* current partition when section == SEC_PART */
	u32 line;
	u32 keel_section_line;
	u32 log_line;
	u32 on_idle_line;
	u32 smt_split_line;
	bool too_many_reported;
	char buf[CFG_LINE_MAX + 1];
};

void config_error(struct keel_config *cfg, u32 line, const char *fmt, ...)
{
	struct cfg_error *e;
	va_list ap;

	if (cfg->error_count >= CFG_MAX_ERRORS)
		return;
	e = &cfg->errors[cfg->error_count++];
	e->line = line;
	if (cfg->error_count == CFG_MAX_ERRORS) {
		cfg->errors_truncated = true;
		snprintf(e->msg, sizeof(e->msg), "too many errors; the rest are not shown");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

/* An error inside the current [partition] section also marks that partition bad. */
static void __printf(2, 3) cfg_err(struct cfg_parser *p, const char *fmt, ...)
{
	struct keel_config *cfg = p->cfg;
	char msg[CFG_ERROR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	config_error(cfg, p->line, "%s", msg);
	if (p->section == SEC_PART)
		cfg->lines[p->part].bad = true;
}

static bool cfg_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool cfg_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char cfg_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool cfg_all_digits(const char *s)
{
	while (cfg_is_digit(*s))
		s++;
	return *s == 0;
}

/* Case-insensitive compare of a NUL-terminated word with a literal. */
static bool cfg_word_is(const char *s, const char *word)
{
	while (*s && *word && cfg_lower(*s) == *word) {
		s++;
		word++;
	}
	return *s == 0 && *word == 0;
}

/* Trim blanks at both ends of the NUL-terminated @s in place. */
static char *cfg_trim(char *s)
{
	size_t n;

	while (cfg_is_blank(*s))
		s++;
	n = strlen(s);
	while (n && cfg_is_blank(s[n - 1]))
		s[--n] = 0;
	return s;
}

/* ---------------------------------------------------------------- values */

#define CFG_NUM_OK 0
#define CFG_NUM_SYNTAX 1
#define CFG_NUM_OVERFLOW 2

/* Decimal or 0x hex of @n bytes into @out: CFG_NUM_*. */
static int cfg_parse_u64(const char *s, size_t n, u64 *out)
{
	unsigned base = 10;
	u64 v = 0;
	size_t i = 0;
	bool overflow = false;

	if (n > 2 && s[0] == '0' && cfg_lower(s[1]) == 'x') {
		base = 16;
		i = 2;
	}
	if (i == n)
		return CFG_NUM_SYNTAX;
	for (; i < n; i++) {
		char c = cfg_lower(s[i]);
		unsigned d;

		if (cfg_is_digit(c))
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return CFG_NUM_SYNTAX;
		if (v > (UINT64_MAX - d) / base)
			overflow = true;
		else
			v = v * base + d;
	}
	*out = v;
	return overflow ? CFG_NUM_OVERFLOW : CFG_NUM_OK;
}

/*
 * "64M", "1G", "2097152", "0x200000": bytes, a multiple of 2 MiB, for key
 * @key. False (reported) if it is not.
 */
static bool cfg_size(struct cfg_parser *p, const char *key, const char *val, u64 *out)
{
	size_t n = strlen(val);
	unsigned shift = 0;
	u64 v = 0;
	int r;

	if (n) {
		switch (cfg_lower(val[n - 1])) {
		case 'k':
			shift = 10;
			break;
		case 'm':
			shift = 20;
			break;
		case 'g':
			shift = 30;
			break;
		}
	}
	if (shift)
		n--;
	r = cfg_parse_u64(val, n, &v);
	if (r == CFG_NUM_SYNTAX) {
		cfg_err(p, "%s '%.40s' is not a number with an optional K, M or G suffix", key,
			val);
		return false;
	}
	if (r == CFG_NUM_OVERFLOW || v > (UINT64_MAX >> shift)) {
		cfg_err(p, "%s '%.40s' is too large", key, val);
		return false;
	}
	v <<= shift;
	if (v == 0) {
		cfg_err(p, "%s must not be 0", key);
		return false;
	}
	if (!IS_ALIGNED(v, KEEL_PART_MEM_ALIGN)) {
		cfg_err(p, "%s '%.40s' is not a multiple of 2M", key, val);
		return false;
	}
	*out = v;
	return true;
}

static void cfg_memory(struct cfg_parser *p, const char *val)
{
	u64 v;

	if (cfg_size(p, "memory", val, &v))
		p->cfg->parts[p->part].mem[0].size = v;
}

/* max_memory: checked against memory once the section is read (cfg_build_descs). */
static void cfg_max_memory(struct cfg_parser *p, struct cfg_part_files *f, const char *val)
{
	u64 v;

	if (cfg_size(p, "max_memory", val, &v))
		f->max_memory = v;
}

/* max_cpus: vCPUs on or off, 1 .. KEEL_MAX_CPUS (pdesc_check holds it to its cpus and the machine). */
static void cfg_max_cpus(struct cfg_parser *p, const char *val)
{
	u64 v;

	if (!cfg_all_digits(val) || cfg_parse_u64(val, strlen(val), &v) != CFG_NUM_OK || v == 0 ||
	    v > KEEL_MAX_CPUS) {
		cfg_err(p, "max_cpus must be a number of vCPUs from 1 to %u, not '%.20s'",
			KEEL_MAX_CPUS, val);
		return;
	}
	p->cfg->parts[p->part].h.max_vcpus = (u32)v;
}

/* One CPU number of a list: decimal, below KEEL_MAX_CPUS. */
static bool cfg_cpu_number(struct cfg_parser *p, char *s, u32 *cpu)
{
	u64 v;

	s = cfg_trim(s);
	if (!*s) {
		cfg_err(p, "cpus: empty element in the list");
		return false;
	}
	if (!cfg_all_digits(s)) {
		cfg_err(p, "cpus: '%.20s' is not a cpu number", s);
		return false;
	}
	if (cfg_parse_u64(s, strlen(s), &v) != CFG_NUM_OK || v >= KEEL_MAX_CPUS) {
		cfg_err(p, "cpus: cpu %.20s is out of range (0-%u)", s, KEEL_MAX_CPUS - 1);
		return false;
	}
	*cpu = (u32)v;
	return true;
}

/* One element: "N" or "N-M"; adds the CPUs to @mask. */
static bool cfg_cpu_item(struct cfg_parser *p, char *item, u64 *mask)
{
	char *dash = strchr(item, '-');
	u32 lo, hi, cpu;

	if (dash)
		*dash = 0;
	if (!cfg_cpu_number(p, item, &lo))
		return false;
	hi = lo;
	if (dash && !cfg_cpu_number(p, dash + 1, &hi))
		return false;
	if (hi < lo) {
		cfg_err(p, "cpus: range %u-%u goes backwards", lo, hi);
		return false;
	}
	for (cpu = lo; cpu <= hi; cpu++) {
		if (*mask & BIT(cpu)) {
			cfg_err(p, "cpus: cpu %u is listed twice", cpu);
			return false;
		}
		*mask |= BIT(cpu);
	}
	return true;
}

/* "1", "1,3", "0-3, 6": modifies @val. */
static void cfg_cpus(struct cfg_parser *p, char *val)
{
	u64 mask = 0;
	char *item = val, *comma;

	for (;;) {
		comma = strchr(item, ',');
		if (comma)
			*comma = 0;
		if (!cfg_cpu_item(p, item, &mask))
			return;
		if (!comma)
			break;
		item = comma + 1;
	}
	p->cfg->parts[p->part].h.cpu_mask = mask;
}

/* yes/no into @flag of the current partition. */
static void cfg_flag(struct cfg_parser *p, const char *key, const char *val, u32 flag)
{
	u32 *flags = &p->cfg->parts[p->part].h.flags;

	if (cfg_word_is(val, "yes"))
		*flags |= flag;
	else if (cfg_word_is(val, "no"))
		*flags &= ~flag;
	else
		cfg_err(p, "%s must be yes or no, not '%.40s'", key, val);
}

static void cfg_on_reboot(struct cfg_parser *p, const char *val)
{
	u32 *flags = &p->cfg->parts[p->part].h.flags;

	if (cfg_word_is(val, "restart"))
		*flags &= ~KEEL_PD_REBOOT_STOP;
	else if (cfg_word_is(val, "stop"))
		*flags |= KEEL_PD_REBOOT_STOP;
	else
		cfg_err(p, "on_reboot must be restart or stop, not '%.40s'", val);
}

static void cfg_on_fault(struct cfg_parser *p, const char *val)
{
	u32 *flags = &p->cfg->parts[p->part].h.flags;

	if (cfg_word_is(val, "deliver"))
		*flags &= ~KEEL_PD_FAULT_STOP;
	else if (cfg_word_is(val, "stop"))
		*flags |= KEEL_PD_FAULT_STOP;
	else
		cfg_err(p, "on_fault must be deliver or stop, not '%.40s'", val);
}

static bool cfg_is_sep(char c)
{
	return c == '/' || c == '\\';
}

/* Paths naming one file on FAT: '/' = '\\', case-blind, leading separator optional. */
static bool cfg_same_file(const char *a, const char *b)
{
	a += cfg_is_sep(*a);
	b += cfg_is_sep(*b);
	for (; *a && *b; a++, b++) {
		if (cfg_is_sep(*a) && cfg_is_sep(*b))
			continue;
		if (cfg_lower(*a) != cfg_lower(*b))
			return false;
	}
	return *a == *b;
}

/* A module path; equal paths share one module. Returns its index or KEEL_NO_MODULE. */
static u32 cfg_module(struct cfg_parser *p, const char *key, const char *path)
{
	struct keel_config *cfg = p->cfg;
	size_t len = strlen(path);
	u32 i;

	if (len == 0) {
		cfg_err(p, "%s: empty path", key);
		return KEEL_NO_MODULE;
	}
	if (len >= CFG_PATH_MAX) {
		cfg_err(p, "%s: path is too long (%zu characters, at most %u)", key, len,
			CFG_PATH_MAX - 1);
		return KEEL_NO_MODULE;
	}
	for (i = 0; i < cfg->module_count; i++)
		if (cfg_same_file(cfg->modules[i].path, path))
			return i;
	if (cfg->module_count == KEEL_BOOT_MAX_MODULES) {
		cfg_err(p, "%s: too many files (at most %u)", key, KEEL_BOOT_MAX_MODULES);
		return KEEL_NO_MODULE;
	}
	memcpy(cfg->modules[i].path, path, len + 1);
	cfg->modules[i].line = p->line;
	return cfg->module_count++;
}

/* "disk = PATH" or "disk = PATH,ro": the virtio-blk image, read-only on request. */
static void cfg_disk(struct cfg_parser *p, struct cfg_part_files *f, char *val)
{
	char *comma = strrchr(val, ',');

	if (comma) {
		if (strcmp(comma + 1, "ro") != 0) {
			cfg_err(p, "disk: unknown option '%s' (the only one is ',ro')", comma + 1);
			return;
		}
		*comma = '\0';
		f->disk_flags |= KEEL_DISK_RO;
	}
	f->disk = cfg_module(p, "disk", val);
}

/* A KEEL_PCI_ADDR as "SSSS:BB:DD.F". */
#define CFG_PCI_FMT "%04x:%02x:%02x.%u"
#define CFG_PCI_ARGS(a) KEEL_PCI_ADDR_SEG(a), ((a) >> 8) & 0xffu, ((a) >> 3) & 0x1fu, (a)&7u

/* One PCI address, "SSSS:BB:DD.F" or "BB:DD.F" (segment 0), hex; false if reported. */
static bool cfg_pci_addr(struct cfg_parser *p, const char *s, u32 *addr)
{
	u32 bad = 0;

	switch (keel_pci_addr_parse(s, addr, &bad)) {
	case KEEL_PCI_PARSE_OK:
		return true;
	case KEEL_PCI_PARSE_DEVICE:
		cfg_err(p, "pci: '%.40s': device %02x is out of range (00-1f)", s, bad);
		return false;
	case KEEL_PCI_PARSE_FUNCTION:
		cfg_err(p, "pci: '%.40s': function %x is out of range (0-7)", s, bad);
		return false;
	default:
		cfg_err(p, "pci: '%.40s' is not a PCI address (SSSS:BB:DD.F or BB:DD.F, in hex)",
			s);
		return false;
	}
}

/*
 * "pci = 0000:00:03.0, 00:04.0": host PCI functions for the partition. The
 * key may come back; its functions add up. Nothing is kept from a bad line.
 */
static void cfg_pci(struct cfg_parser *p, struct cfg_part_files *f, struct cfg_part_lines *l,
		    char *val)
{
	u32 addr[KEEL_PD_MAX_PCI], n = f->pci_count, i;
	char *item = val, *comma;

	memcpy(addr, f->pci, sizeof(addr));
	for (;;) {
		u32 a;

		comma = strchr(item, ',');
		if (comma)
			*comma = 0;
		item = cfg_trim(item);
		if (!*item) {
			cfg_err(p, "pci: empty element in the list");
			return;
		}
		if (!cfg_pci_addr(p, item, &a))
			return;
		for (i = 0; i < n; i++) {
			if (addr[i] != a)
				continue;
			cfg_err(p, "pci: " CFG_PCI_FMT " is listed twice (first on line %u)",
				CFG_PCI_ARGS(a), i < f->pci_count ? l->pci[i] : p->line);
			return;
		}
		if (n == KEEL_PD_MAX_PCI) {
			cfg_err(p, "pci: more than %u functions in one partition", KEEL_PD_MAX_PCI);
			return;
		}
		addr[n++] = a;
		if (!comma)
			break;
		item = comma + 1;
	}
	for (i = f->pci_count; i < n; i++)
		l->pci[i] = p->line;
	memcpy(f->pci, addr, sizeof(addr));
	f->pci_count = n;
}

static void cfg_cmdline(struct cfg_parser *p, const char *val)
{
	size_t len = strlen(val);

	if (len >= KEEL_CMDLINE_MAX) {
		cfg_err(p, "cmdline is too long (%zu characters, at most %u)", len,
			KEEL_CMDLINE_MAX - 1);
		return;
	}
	memcpy(p->cfg->parts[p->part].h.cmdline, val, len + 1);
}

/* ------------------------------------------------------------------ keys */

/* Remember where @key was; false (and an error) if it was given before. */
static bool cfg_first_time(struct cfg_parser *p, const char *key, u32 *line)
{
	if (*line) {
		cfg_err(p, "duplicate key '%s' (first on line %u)", key, *line);
		return false;
	}
	*line = p->line;
	return true;
}

static void cfg_keel_key(struct cfg_parser *p, const char *key, const char *val)
{
	struct keel_config *cfg = p->cfg;

	if (strcmp(key, "log") == 0) {
		if (!cfg_first_time(p, key, &p->log_line))
			return;
		if (cfg_word_is(val, "error"))
			cfg->log_level = KEEL_LOG_ERROR;
		else if (cfg_word_is(val, "warn"))
			cfg->log_level = KEEL_LOG_WARN;
		else if (cfg_word_is(val, "info"))
			cfg->log_level = KEEL_LOG_INFO;
		else if (cfg_word_is(val, "debug"))
			cfg->log_level = KEEL_LOG_DEBUG;
		else
			cfg_err(p, "log must be error, warn, info or debug, not '%.40s'", val);
	} else if (strcmp(key, "on_idle") == 0) {
		if (!cfg_first_time(p, key, &p->on_idle_line))
			return;
		if (cfg_word_is(val, "stay"))
			cfg->on_idle = KEEL_ON_IDLE_STAY;
		else if (cfg_word_is(val, "poweroff"))
			cfg->on_idle = KEEL_ON_IDLE_POWEROFF;
		else if (cfg_word_is(val, "reset"))
			cfg->on_idle = KEEL_ON_IDLE_RESET;
		else
			cfg_err(p, "on_idle must be stay, poweroff or reset, not '%.40s'", val);
	} else if (strcmp(key, "smt_split") == 0) {
		if (!cfg_first_time(p, key, &p->smt_split_line))
			return;
		if (cfg_word_is(val, "refuse"))
			cfg->smt_split = KEEL_SMT_SPLIT_REFUSE;
		else if (cfg_word_is(val, "allow"))
			cfg->smt_split = KEEL_SMT_SPLIT_ALLOW;
		else
			cfg_err(p, "smt_split must be refuse or allow, not '%.40s'", val);
	} else {
		cfg_err(p, "unknown key '%.40s' in [keel]", key);
	}
}

/* Two hex digits; -1 if they are not. */
static int cfg_hex_byte(const char *s)
{
	int v = 0;

	for (int i = 0; i < 2; i++) {
		char c = cfg_lower(s[i]);

		if (cfg_is_digit(c))
			v = v * 16 + (c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (c - 'a' + 10);
		else
			return -1;
	}
	return v;
}

/* "xx:xx:xx:xx:xx:xx", unicast and not all zeros. */
static bool cfg_mac(struct cfg_parser *p, const char *s, u8 mac[6])
{
	bool zero = true;

	if (strlen(s) != 17)
		goto bad;
	for (int i = 0; i < 6; i++) {
		int b = cfg_hex_byte(s + 3 * i);

		if (b < 0 || (i < 5 && s[3 * i + 2] != ':'))
			goto bad;
		mac[i] = (u8)b;
		zero = zero && !b;
	}
	if (mac[0] & 1) {
		cfg_err(p, "net: %.17s is a multicast address, not a port's", s);
		return false;
	}
	if (zero) {
		cfg_err(p, "net: the address 00:00:00:00:00:00 is no port's");
		return false;
	}
	return true;
bad:
	cfg_err(p, "net: mac must be six hex bytes with colons (02:00:00:00:00:01), not '%.40s'",
		s);
	return false;
}

/* "net = NETWORK[, mac=xx:xx:xx:xx:xx:xx]": the network's name is checked once all are read. */
static void cfg_net(struct cfg_parser *p, struct cfg_part_files *f, struct cfg_part_lines *l,
		    char *val)
{
	struct cfg_net_port *n;
	char *comma = strchr(val, ','), *name = val;

	if (f->net_count == KEEL_PD_MAX_NET) {
		cfg_err(p, "net: at most %u networks per partition", KEEL_PD_MAX_NET);
		return;
	}
	n = &f->net[f->net_count];
	memset(n, 0, sizeof(*n));
	if (comma) {
		char *opt = cfg_trim(comma + 1);

		*comma = 0;
		if (strncmp(opt, "mac=", 4) != 0) {
			cfg_err(p, "net: unknown option '%.40s' (mac=xx:xx:xx:xx:xx:xx)", opt);
			return;
		}
		if (!cfg_mac(p, cfg_trim(opt + 4), n->mac))
			return;
	}
	name = cfg_trim(name);
	if (!*name || strlen(name) >= KEEL_NET_NAME_MAX) {
		cfg_err(p, "net: a network name of 1 to %u characters", KEEL_NET_NAME_MAX - 1);
		return;
	}
	memcpy(n->network, name, strlen(name) + 1);
	l->net[f->net_count++] = p->line;
}

/*
 * "vsock = auto" (or yes): a vsock device with a CID Keel assigns (2 for
 * the management partition, else the lowest free from 3, in file order);
 * "vsock = CID": that one. pdesc_check checks the range.
 */
static void cfg_vsock(struct cfg_parser *p, struct cfg_part_files *f, const char *val)
{
	u64 v;

	if (cfg_word_is(val, "auto") || cfg_word_is(val, "yes")) {
		f->vsock = true;
		f->vsock_cid = KEEL_VSOCK_CID_AUTO;
		return;
	}
	if (!cfg_all_digits(val) || cfg_parse_u64(val, strlen(val), &v) != CFG_NUM_OK ||
	    v < KEEL_VSOCK_CID_HOST || v > KEEL_VSOCK_CID_MAX) {
		cfg_err(p, "vsock must be auto or a CID from %u to %u, not '%.20s'",
			KEEL_VSOCK_CID_HOST, KEEL_VSOCK_CID_MAX, val);
		return;
	}
	f->vsock = true;
	f->vsock_cid = (u32)v;
}

static const char *const cfg_image_key[CFG_IMAGE_KINDS] = { "kernel", "initrd", "disk" };

/* The image kind of "kernel_sha256", "initrd_sha256" or "disk_sha256"; else CFG_IMAGE_KINDS. */
static u32 cfg_sha256_key(const char *key)
{
	u32 k;

	for (k = 0; k < CFG_IMAGE_KINDS; k++) {
		size_t n = strlen(cfg_image_key[k]);

		if (strncmp(key, cfg_image_key[k], n) == 0 && strcmp(key + n, "_sha256") == 0)
			return k;
	}
	return CFG_IMAGE_KINDS;
}

/* "kernel_sha256 = HEX": the digest the loader must find for that image. */
static void cfg_image_sha256(struct cfg_parser *p, const char *key, const char *val)
{
	u32 k = cfg_sha256_key(key);
	struct cfg_part_lines *l = &p->cfg->lines[p->part];

	if (!cfg_first_time(p, key, &l->sha256[k]))
		return;
	if (!sha256_parse(val, strlen(val), p->cfg->files[p->part].sha256[k])) {
		cfg_err(p, "%s: not a SHA-256 digest (64 hex digits, as sha256sum prints)", key);
		l->sha256[k] = 0;
	}
}

static void cfg_part_key(struct cfg_parser *p, const char *key, char *val)
{
	struct cfg_part_files *f = &p->cfg->files[p->part];
	struct cfg_part_lines *l = &p->cfg->lines[p->part];

	if (strcmp(key, "cpus") == 0) {
		if (cfg_first_time(p, key, &l->cpus))
			cfg_cpus(p, val);
	} else if (strcmp(key, "memory") == 0) {
		if (cfg_first_time(p, key, &l->memory))
			cfg_memory(p, val);
	} else if (strcmp(key, "max_memory") == 0) {
		if (cfg_first_time(p, key, &l->max_memory))
			cfg_max_memory(p, f, val);
	} else if (strcmp(key, "max_cpus") == 0) {
		if (cfg_first_time(p, key, &l->max_cpus))
			cfg_max_cpus(p, val);
	} else if (strcmp(key, "kernel") == 0) {
		if (cfg_first_time(p, key, &l->kernel))
			f->kernel = cfg_module(p, key, val);
	} else if (strcmp(key, "initrd") == 0) {
		if (cfg_first_time(p, key, &l->initrd))
			f->initrd = cfg_module(p, key, val);
	} else if (strcmp(key, "disk") == 0) {
		if (cfg_first_time(p, key, &l->disk))
			cfg_disk(p, f, val);
	} else if (cfg_sha256_key(key) < CFG_IMAGE_KINDS) {
		cfg_image_sha256(p, key, val);
	} else if (strcmp(key, "cmdline") == 0) {
		if (cfg_first_time(p, key, &l->cmdline))
			cfg_cmdline(p, val);
	} else if (strcmp(key, "autostart") == 0) {
		if (cfg_first_time(p, key, &l->autostart))
			cfg_flag(p, key, val, KEEL_PD_AUTOSTART);
	} else if (strcmp(key, "management") == 0) {
		if (cfg_first_time(p, key, &l->management))
			cfg_flag(p, key, val, KEEL_PD_MANAGEMENT);
	} else if (strcmp(key, "on_reboot") == 0) {
		if (cfg_first_time(p, key, &l->on_reboot))
			cfg_on_reboot(p, val);
	} else if (strcmp(key, "on_fault") == 0) {
		if (cfg_first_time(p, key, &l->on_fault))
			cfg_on_fault(p, val);
	} else if (strcmp(key, "vsock") == 0) {
		if (cfg_first_time(p, key, &l->vsock))
			cfg_vsock(p, f, val);
	} else if (strcmp(key, "pci") == 0) {
		cfg_pci(p, f, l, val); /* may come back: each line adds its functions */
	} else if (strcmp(key, "net") == 0) {
		cfg_net(p, f, l, val); /* may come back: a NIC each */
	} else {
		cfg_err(p, "unknown key '%.40s' in [partition %s]", key,
			p->cfg->parts[p->part].h.name);
	}
}

/* ------------------------------------------------------------- sections */

/* 1 to @max - 1 of A-Z a-z 0-9 _ - (and . with @dot). */
static bool cfg_ident_ok(const char *name, size_t max, bool dot)
{
	size_t i, len = strlen(name);

	if (len == 0 || len >= max)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!(cfg_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '_' || c == '-' || (dot && c == '.')))
			return false;
	}
	return true;
}

static bool cfg_name_ok(const char *name)
{
	return cfg_ident_ok(name, KEEL_NAME_MAX, false);
}

/* [network NAME]: numbered in the order of the file. */
static void cfg_new_network(struct cfg_parser *p, const char *name)
{
	struct keel_config *cfg = p->cfg;

	if (!cfg_ident_ok(name, KEEL_NET_NAME_MAX, true)) {
		cfg_err(p, "invalid network name '%.40s' (1 to %u of A-Z a-z 0-9 _ - .)", name,
			KEEL_NET_NAME_MAX - 1);
		return;
	}
	for (u32 i = 0; i < cfg->net_count; i++) {
		if (strcmp(cfg->nets[i], name) == 0) {
			cfg_err(p, "duplicate network '%s' (first on line %u)", name,
				cfg->net_lines[i]);
			return;
		}
	}
	if (cfg->net_count == KEEL_MAX_NETWORKS) {
		cfg_err(p, "too many networks (at most %u)", KEEL_MAX_NETWORKS);
		return;
	}
	memcpy(cfg->nets[cfg->net_count], name, strlen(name) + 1);
	cfg->net_lines[cfg->net_count++] = p->line;
	p->section = SEC_NETWORK;
}

static void cfg_new_partition(struct cfg_parser *p, const char *name)
{
	struct keel_config *cfg = p->cfg;
	struct pdesc *d;
	u32 i;

	if (!cfg_name_ok(name)) {
		cfg_err(p, "invalid partition name '%.40s' (1 to %u of A-Z a-z 0-9 _ -)", name,
			KEEL_NAME_MAX - 1);
		return;
	}
	for (i = 0; i < cfg->part_count; i++) {
		if (strcmp(cfg->parts[i].h.name, name) == 0) {
			cfg_err(p, "duplicate partition name '%s' (first on line %u)", name,
				cfg->lines[i].section);
			return;
		}
	}
	if (cfg->part_count == KEEL_MAX_PARTITIONS) {
		if (!p->too_many_reported)
			cfg_err(p, "too many partitions (at most %u)", KEEL_MAX_PARTITIONS);
		p->too_many_reported = true;
		return;
	}
	p->part = cfg->part_count++;
	d = &cfg->parts[p->part];
	d->h.version = KEEL_PDESC_VERSION;
	d->h.flags = KEEL_PD_AUTOSTART;
	d->h.mem_count = 1;
	d->mem[0].type = KEEL_PD_MEM_RAM;
	cfg->files[p->part] = (struct cfg_part_files){ .kernel = KEEL_NO_MODULE,
						       .initrd = KEEL_NO_MODULE,
						       .disk = KEEL_NO_MODULE };
	memcpy(d->h.name, name, strlen(name) + 1);
	cfg->lines[p->part].section = p->line;
	p->section = SEC_PART;
}

/* "[keel]" or "[partition NAME]"; @s is the trimmed line. */
static void cfg_section(struct cfg_parser *p, char *s)
{
	size_t n = strlen(s);
	char *inner;

	p->section = SEC_IGNORE;
	if (s[n - 1] != ']') {
		cfg_err(p, "section header without closing ']'");
		return;
	}
	s[n - 1] = 0;
	inner = cfg_trim(s + 1);
	if (strcmp(inner, "keel") == 0) {
		if (p->keel_section_line) {
			cfg_err(p, "duplicate section [keel] (first on line %u)",
				p->keel_section_line);
			return;
		}
		p->keel_section_line = p->line;
		p->section = SEC_KEEL;
	} else if (strncmp(inner, "partition", 9) == 0 &&
		   (inner[9] == 0 || cfg_is_blank(inner[9]))) {
		cfg_new_partition(p, cfg_trim(inner + 9));
	} else if (strncmp(inner, "network", 7) == 0 && (inner[7] == 0 || cfg_is_blank(inner[7]))) {
		cfg_new_network(p, cfg_trim(inner + 7));
	} else {
		cfg_err(p, "unknown section [%.40s]", inner);
	}
}

/* ---------------------------------------------------------------- lines */

/*
 * Cut the comment (';' or '#' at the start or after a blank, outside double
 * quotes) off @s. False if a quote is left open.
 */
static bool cfg_strip_comment(char *s)
{
	bool quoted = false;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && (s[i] == ';' || s[i] == '#') &&
			 (i == 0 || cfg_is_blank(s[i - 1])))
			break;
	}
	s[i] = 0;
	return !quoted;
}

/* A value written "like this" loses its quotes; false if quoted badly. */
static bool cfg_unquote(char **val)
{
	char *v = *val;
	size_t n = strlen(v);

	if (v[0] != '"')
		return true;
	if (n < 2 || v[n - 1] != '"' || memchr(v + 1, '"', n - 2))
		return false;
	v[n - 1] = 0;
	*val = v + 1;
	return true;
}

static void cfg_key_value(struct cfg_parser *p, char *s)
{
	char *eq = strchr(s, '=');
	char *key, *val;

	if (!eq) {
		cfg_err(p, "expected 'key = value' or a [section] header");
		return;
	}
	*eq = 0;
	key = cfg_trim(s);
	val = cfg_trim(eq + 1);
	if (!*key) {
		cfg_err(p, "missing key before '='");
		return;
	}
	if (!cfg_unquote(&val)) {
		cfg_err(p, "%.40s: badly quoted value (use \"...\" around the whole value)", key);
		return;
	}
	switch (p->section) {
	case SEC_NONE:
		cfg_err(p, "key '%.40s' outside a section", key);
		break;
	case SEC_KEEL:
		cfg_keel_key(p, key, val);
		break;
	case SEC_PART:
		cfg_part_key(p, key, val);
		break;
	case SEC_NETWORK:
		cfg_err(p, "unknown key '%.40s' in [network] (it takes none yet)", key);
		break;
	case SEC_IGNORE:
		break;
	}
}

/* Every byte printable ASCII or a tab (@ascii), or also >= 0x80 (in comments). */
static bool cfg_check_bytes(struct cfg_parser *p, const char *s, size_t n, bool ascii)
{
	size_t i;

	for (i = 0; i < n; i++) {
		u8 c = (u8)s[i];

		if (c == 0) {
			cfg_err(p, "NUL byte at column %zu (not a text file?)", i + 1);
			return false;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f || (ascii && c >= 0x80)) {
			cfg_err(p, "%s byte 0x%02x at column %zu",
				c >= 0x80 ? "non-ASCII" : "control", c, i + 1);
			return false;
		}
	}
	return true;
}

static void cfg_line(struct cfg_parser *p, const char *text, size_t n)
{
	char *s;

	if (n > CFG_LINE_MAX) {
		cfg_err(p, "line is too long (%zu characters, at most %u)", n, CFG_LINE_MAX);
		return;
	}
	if (!cfg_check_bytes(p, text, n, false))
		return;
	memcpy(p->buf, text, n);
	p->buf[n] = 0;
	if (!cfg_strip_comment(p->buf)) {
		cfg_err(p, "unterminated double quote");
		return;
	}
	s = cfg_trim(p->buf);
	if (!*s)
		return;
	if (!cfg_check_bytes(p, s, strlen(s), true))
		return;
	if (s[0] == '[')
		cfg_section(p, s);
	else
		cfg_key_value(p, s);
}

/* Required keys of each partition, reported at its section line. */
static void cfg_check_required(struct keel_config *cfg)
{
	u32 i;

	for (i = 0; i < cfg->part_count; i++) {
		struct cfg_part_lines *l = &cfg->lines[i];
		const char *name = cfg->parts[i].h.name;

		if (!l->kernel)
			config_error(cfg, l->section, "partition '%s' has no kernel", name);
		if (!l->cpus)
			config_error(cfg, l->section, "partition '%s' has no cpus", name);
		if (!l->memory)
			config_error(cfg, l->section, "partition '%s' has no memory", name);
		if (!l->kernel || !l->cpus || !l->memory)
			l->bad = true;
	}
}

/*
 * Give each module the digest its partitions expect. A digest without its
 * image, or two different digests for one file, is an error.
 */
static void cfg_attach_sha256(struct keel_config *cfg)
{
	u32 i, k;

	for (i = 0; i < cfg->part_count; i++) {
		const struct cfg_part_files *f = &cfg->files[i];
		const struct cfg_part_lines *l = &cfg->lines[i];
		const u32 module[CFG_IMAGE_KINDS] = { f->kernel, f->initrd, f->disk };
		const u32 image_line[CFG_IMAGE_KINDS] = { l->kernel, l->initrd, l->disk };

		for (k = 0; k < CFG_IMAGE_KINDS; k++) {
			u32 line = l->sha256[k];
			struct cfg_module *m;

			if (!line)
				continue;
			if (module[k] >= cfg->module_count) {
				/* (A bad path was reported at its own line.) */
				if (!image_line[k])
					config_error(cfg, line, "%s_sha256 without %s",
						     cfg_image_key[k], cfg_image_key[k]);
				continue;
			}
			m = &cfg->modules[module[k]];
			if (!m->sha256_line) {
				m->sha256_line = line;
				memcpy(m->sha256, f->sha256[k], SHA256_DIGEST);
			} else if (memcmp(m->sha256, f->sha256[k], SHA256_DIGEST) != 0) {
				config_error(cfg, line,
					     "%s_sha256: '%s' was given another SHA-256 at line %u",
					     cfg_image_key[k], m->path, m->sha256_line);
			}
		}
	}
}

/* max_memory: memory plus a multiple of 128M, as a hot-pluggable region. */
static void cfg_add_hotplug(struct keel_config *cfg, u32 i)
{
	struct pdesc *d = &cfg->parts[i];
	u64 max = cfg->files[i].max_memory, ram = d->mem[0].size;

	if (!max || !ram)
		return;
	if (max <= ram || (max - ram) % KEEL_HOTMEM_ALIGN || max - ram > KEEL_HOTMEM_MAX) {
		config_error(
			cfg, cfg->lines[i].max_memory,
			"max_memory must be memory plus a multiple of %lluM, at most %lluG more",
			(unsigned long long)(KEEL_HOTMEM_ALIGN >> 20),
			(unsigned long long)(KEEL_HOTMEM_MAX >> 30));
		return;
	}
	pdesc_add_hotplug(d, max - ram);
}

/* The host PCI functions of partition @i after its virtio devices, each with its line. */
static void cfg_add_pci(struct keel_config *cfg, u32 i)
{
	struct pdesc *d = &cfg->parts[i];
	struct cfg_part_lines *l = &cfg->lines[i];
	const struct cfg_part_files *f = &cfg->files[i];
	u32 k;

	for (k = 0; k < f->pci_count && k < KEEL_PD_MAX_PCI; k++) {
		u32 a = f->pci[k];

		if (d->h.device_count == KEEL_PD_MAX_DEVICES) {
			config_error(cfg, l->pci[k],
				     "pci: no room for " CFG_PCI_FMT " (at most %u devices in a "
				     "partition, its virtio devices included)",
				     CFG_PCI_ARGS(a), KEEL_PD_MAX_DEVICES);
			l->bad = true;
			return;
		}
		l->dev[d->h.device_count] = l->pci[k];
		pdesc_add_device(d, KEEL_DEV_PCI, a, 0);
	}
}

/* Partition @i's NICs, after its other virtio devices; each network named must exist. */
static void cfg_add_nets(struct keel_config *cfg, u32 i)
{
	struct pdesc *d = &cfg->parts[i];
	struct cfg_part_lines *l = &cfg->lines[i];
	const struct cfg_part_files *f = &cfg->files[i];

	for (u32 k = 0; k < f->net_count; k++) {
		const struct cfg_net_port *n = &f->net[k];
		u32 net = 0;

		while (net < cfg->net_count && strcmp(cfg->nets[net], n->network))
			net++;
		if (net == cfg->net_count) {
			config_error(
				cfg, l->net[k],
				"net: no network '%s' (declare it with a [network %s] section)",
				n->network, n->network);
			l->bad = true;
			continue;
		}
		if (d->h.device_count == KEEL_PD_MAX_DEVICES) {
			config_error(cfg, l->net[k], "net: no room for another device");
			l->bad = true;
			return;
		}
		l->dev[d->h.device_count] = l->net[k];
		pdesc_add_device(d, KEEL_DEV_NET, net, KEEL_NET_MAC_FLAGS(n->mac));
		d->device[d->h.device_count - 1].pad = KEEL_NET_MAC_PAD(n->mac);
	}
}

/* Whether a partition of @cfg asked for vsock CID @cid. */
static bool cfg_cid_taken(const struct keel_config *cfg, u32 cid)
{
	for (u32 i = 0; i < cfg->part_count; i++)
		if (cfg->files[i].vsock && cfg->files[i].vsock_cid == cid)
			return true;
	return false;
}

/*
 * The CIDs "vsock = auto" leaves to Keel, fixed here so they do not depend
 * on the order partitions start in: the management partition's is 2, the
 * others take the lowest from 3 that no partition named, in file order.
 */
static void cfg_assign_cids(struct keel_config *cfg)
{
	u32 next = KEEL_VSOCK_CID_FIRST;

	for (u32 i = 0; i < cfg->part_count; i++) {
		struct cfg_part_files *f = &cfg->files[i];

		if (!f->vsock || f->vsock_cid != KEEL_VSOCK_CID_AUTO)
			continue;
		if (cfg->parts[i].h.flags & KEEL_PD_MANAGEMENT) {
			f->vsock_cid = KEEL_VSOCK_CID_HOST;
			continue;
		}
		while (cfg_cid_taken(cfg, next))
			next++;
		f->vsock_cid = next++;
	}
}

/* Partition @i's vsock device, after its NICs. */
static void cfg_add_vsock(struct keel_config *cfg, u32 i)
{
	struct pdesc *d = &cfg->parts[i];
	struct cfg_part_lines *l = &cfg->lines[i];

	if (!cfg->files[i].vsock)
		return;
	if (d->h.device_count == KEEL_PD_MAX_DEVICES) {
		config_error(cfg, l->vsock, "vsock: no room for another device");
		l->bad = true;
		return;
	}
	l->dev[d->h.device_count] = l->vsock;
	pdesc_add_device(d, KEEL_DEV_VSOCK, cfg->files[i].vsock_cid, 0);
}

/* The line of each virtio device that a key asked for (the disk, virtio-mem). */
static void cfg_dev_lines(struct keel_config *cfg, u32 i)
{
	const struct pdesc *d = &cfg->parts[i];
	struct cfg_part_lines *l = &cfg->lines[i];
	u32 k;

	for (k = 0; k < d->h.device_count && k < KEEL_PD_MAX_DEVICES; k++) {
		if (d->device[k].type == KEEL_DEV_BLK)
			l->dev[k] = l->disk;
		else if (d->device[k].type == KEEL_DEV_MEM)
			l->dev[k] = l->max_memory;
	}
}

/*
 * The images and devices of each partition, from its keys: kernel, initrd,
 * disk; the devices console, entropy, the disk (slot 2), the control port,
 * virtio-mem (max_memory), the NICs (net), vsock, then the host PCI functions (pci).
 */
static void cfg_build_descs(struct keel_config *cfg)
{
	u32 i;

	cfg_assign_cids(cfg);
	for (i = 0; i < cfg->part_count; i++) {
		struct pdesc *d = &cfg->parts[i];
		const struct cfg_part_files *f = &cfg->files[i];
		u32 disk = KEEL_NO_BACKEND;

		if (f->kernel != KEEL_NO_MODULE)
			pdesc_add_image(d, KEEL_PD_IMAGE_KERNEL, f->kernel, 0);
		if (f->initrd != KEEL_NO_MODULE)
			pdesc_add_image(d, KEEL_PD_IMAGE_INITRD, f->initrd, 0);
		if (f->disk != KEEL_NO_MODULE)
			disk = pdesc_add_image(d, KEEL_PD_IMAGE_DATA, f->disk, 0);
		pdesc_add_default_devices(d, disk, f->disk_flags);
		cfg_add_hotplug(cfg, i);
		cfg_dev_lines(cfg, i);
		cfg_add_nets(cfg, i);
		cfg_add_vsock(cfg, i);
		cfg_add_pci(cfg, i);
	}
}

int config_parse(const char *text, size_t len, struct keel_config *cfg)
{
	struct cfg_parser p;
	size_t pos = 0;

	memset(cfg, 0, sizeof(*cfg));
	memset(&p, 0, sizeof(p));
	cfg->log_level = KEEL_LOG_INFO;
	cfg->on_idle = KEEL_ON_IDLE_STAY;
	p.cfg = cfg;
	p.line = 1;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t n = end - pos;

		if (n && text[end - 1] == '\r')
			n--;
		cfg_line(&p, text + pos, n);
		if (!nl)
			break;
		pos = end + 1;
		if (pos < len)
			p.line++; /* p.line ends as the number of the last line */
	}
	cfg_check_required(cfg);
	cfg_attach_sha256(cfg);
	cfg_build_descs(cfg);
	if (cfg->part_count == 0 && !p.too_many_reported)
		config_error(cfg, p.line, "no [partition NAME] section: nothing to start");
	return cfg->error_count ? -KEEL_EINVAL : 0;
}

/* ------------------------------------------------------------ set checks */

void config_sort_errors(struct keel_config *cfg)
{
	u32 n = cfg->error_count - (cfg->errors_truncated ? 1 : 0);
	struct cfg_error tmp;
	u32 i, j;

	/* Stable insertion sort by line; "too many errors" stays last. */
	for (i = 1; i < n; i++) {
		tmp = cfg->errors[i];
		for (j = i; j > 0 && cfg->errors[j - 1].line > tmp.line; j--)
			cfg->errors[j] = cfg->errors[j - 1];
		cfg->errors[j] = tmp;
	}
}

u32 config_field_line(const struct keel_config *cfg, u32 index, u32 field, u32 item)
{
	const struct cfg_part_lines *l;
	u32 line = 0;

	if (index >= cfg->part_count)
		return cfg->part_count ? cfg->lines[0].section : 1;
	l = &cfg->lines[index];
	switch (field) {
	case PDESC_F_CPUS:
		line = l->cpus;
		break;
	case PDESC_F_MAX_CPUS:
		line = l->max_cpus ? l->max_cpus : l->cpus;
		break;
	case PDESC_F_MEMORY:
		line = l->memory;
		break;
	case PDESC_F_KERNEL:
		line = l->kernel;
		break;
	case PDESC_F_INITRD:
		line = l->initrd;
		break;
	case PDESC_F_DISK:
		line = l->disk;
		break;
	case PDESC_F_CMDLINE:
		line = l->cmdline;
		break;
	case PDESC_F_FLAGS:
		line = l->autostart ? l->autostart : l->on_reboot ? l->on_reboot : l->on_fault;
		break;
	case PDESC_F_MANAGEMENT:
		line = l->management;
		break;
	case PDESC_F_PCI:
		line = item < KEEL_PD_MAX_DEVICES && l->dev[item] ? l->dev[item] : l->pci[0];
		break;
	}
	return line ? line : l->section;
}

int config_check(struct keel_config *cfg, const struct pdesc_limits *lim)
{
	u32 idx[KEEL_MAX_PARTITIONS];
	struct pdesc_error err;
	u32 i, n = 0, round;
	int ret = 0;

	for (i = 0; i < cfg->part_count; i++) {
		if (cfg->lines[i].bad)
			continue;
		idx[n] = i;
		cfg->scratch[n++] = cfg->parts[i];
	}
	/* Each round drops one partition, so this ends. */
	for (round = 0; round <= KEEL_MAX_PARTITIONS && n; round++) {
		memset(&err, 0, sizeof(err));
		if (pdesc_check_all(cfg->scratch, n, lim, &err) == 0)
			break;
		ret = -KEEL_EINVAL;
		err.msg[sizeof(err.msg) - 1] = 0;
		if (err.index >= n) {
			config_error(cfg, config_field_line(cfg, idx[0], PDESC_F_NONE, 0), "%s",
				     err.msg);
			break;
		}
		i = idx[err.index];
		config_error(cfg, config_field_line(cfg, i, err.field, err.item), "%s", err.msg);
		cfg->lines[i].bad = true;
		n--;
		memmove(&idx[err.index], &idx[err.index + 1], (n - err.index) * sizeof(idx[0]));
		memmove(&cfg->scratch[err.index], &cfg->scratch[err.index + 1],
			(n - err.index) * sizeof(cfg->scratch[0]));
	}
	return ret ? ret : (cfg->error_count ? -KEEL_EINVAL : 0);
}
