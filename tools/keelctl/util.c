/* SPDX-License-Identifier: MIT */
/*
 * keelctl's pure parts (see util.h): every input here comes from the command
 * line, a file header or Keel, so each is checked before it is used.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keel/pci_addr.h>

#include "util.h"

#define KC_MEMORY_MAX (1ull << 48) /* 256 TiB: keeps sums of sizes far from 2^64 */

static void kc_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void kc_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Appends to @buf at *pos, counting what would not fit. */
static void kc_put(char *buf, size_t len, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void kc_put(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	if (*pos < len)
		n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
	else
		n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos += (size_t)n;
}

static bool kc_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static uint16_t kc_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t kc_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t kc_le64(const uint8_t *p)
{
	return kc_le32(p) | (uint64_t)kc_le32(p + 4) << 32;
}

/* ---- errors ---- */

int kc_exit_code(enum kc_op op, int err)
{
	switch (err) {
	case 0:
		return KC_EXIT_OK;
	case ENOENT:
		return op == KC_OP_OPEN ? KC_EXIT_ENV : KC_EXIT_NOPART;
	case EPERM:
		return op == KC_OP_CTL ? KC_EXIT_STATE : KC_EXIT_ENV;
	case ENODEV:
		/* From CREATE or START: a PCI function Keel cannot give (1.3). */
		return op == KC_OP_CREATE || op == KC_OP_CTL ? KC_EXIT_FAIL : KC_EXIT_ENV;
	case EACCES:
	case ENOTTY:
	case ENOSYS:
	case ENXIO:
		return KC_EXIT_ENV;
	case ENOMEM:
	case ENOSPC:
		return KC_EXIT_RESOURCE;
	case EBUSY:
		return op == KC_OP_CREATE ? KC_EXIT_RESOURCE : KC_EXIT_STATE;
	case ENOEXEC:
		return KC_EXIT_IMAGE;
	case ETIMEDOUT:
		return KC_EXIT_TIMEOUT;
	default:
		return KC_EXIT_FAIL;
	}
}

const char *kc_err_text(enum kc_op op, int err)
{
	switch (op) {
	case KC_OP_OPEN:
		if (err == ENOENT)
			return "not found (is the keel module loaded? modprobe keel / insmod keel.ko)";
		if (err == EACCES)
			return "permission denied (needs root and CAP_SYS_ADMIN)";
		if (err == ENODEV || err == ENXIO)
			return "no driver behind the device node (is the keel module loaded?)";
		if (err == ENOTTY || err == ENOSYS)
			return "the driver does not speak keelctl's interface (driver and keelctl from different Keel versions?)";
		if (err == EPERM)
			return "this partition may not manage others (it needs management = yes in keel.cfg)";
		break;
	case KC_OP_CREATE:
		switch (err) {
		case ENOMEM:
			return "not enough memory";
		case EBUSY:
			return "a core, or a PCI function or its isolation group, is in use";
		case ENOSPC:
			return "no free partition slot";
		case ENODEV:
			return "a PCI function is not on this host or cannot be given (see keelctl pci)";
		case ENOTSUP:
			return "a PCI function cannot do what giving it needs (Keel's log says what)";
		case EEXIST:
			return "a partition of that name exists";
		case EINVAL:
			return "invalid partition description (a cpu not online, or a bad field)";
		case E2BIG:
			return "an image is too big";
		}
		break;
	case KC_OP_LOAD:
		if (err == EBUSY)
			return "the partition is no longer being created";
		break;
	case KC_OP_CTL:
		if (err == EBUSY)
			return "wrong state for this";
		if (err == EPERM)
			return "that is the management partition keelctl runs in";
		if (err == ENOEXEC)
			return "the kernel is not an image Keel can boot";
		if (err == ETIMEDOUT)
			return "a vCPU did not park in time (Keel's log names it and its CPU)";
		break;
	case KC_OP_QUERY:
		break;
	}
	if (err == ENOENT)
		return "no such partition";
	if (err == EPERM)
		return "not permitted (is this the management partition?)";
	if (err == ENOTTY)
		return "the driver does not know this request (driver and keelctl from different Keel versions?)";
	if (err == ENOSYS)
		return "Keel does not know this call (a Keel older than this keelctl?)";
	if (err == ENODEV)
		return "no such device, or a PCI function Keel cannot give (Keel's log says which)";
	if (err == ENOTSUP)
		return "a device cannot do what is asked (Keel's log says what)";
	return strerror(err);
}

/* ---- numbers and sizes ---- */

int kc_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		uint64_t d;

		if (!kc_is_digit(*s))
			return -1;
		d = (uint64_t)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int kc_parse_size(const char *s, uint64_t *out)
{
	char digits[24];
	const char *p = s;
	unsigned int shift = 0;
	size_t n;
	uint64_t v;

	if (!s)
		return -1;
	while (kc_is_digit(*p))
		p++;
	n = (size_t)(p - s);
	if (n == 0 || n >= sizeof(digits))
		return -1;
	memcpy(digits, s, n);
	digits[n] = '\0';
	if (kc_parse_u64(digits, &v))
		return -1;
	switch (*p) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		return -1;
	}
	if (shift) {
		p++;
		if (*p == 'i' || *p == 'I')
			p++;
		if (*p == 'b' || *p == 'B')
			p++;
		if (*p)
			return -1;
		if (v > (UINT64_MAX >> shift))
			return -1;
		v <<= shift;
	}
	*out = v;
	return 0;
}

int kc_parse_memory(const char *s, uint64_t *bytes, char *err, size_t errlen)
{
	uint64_t v;

	if (kc_parse_size(s, &v)) {
		kc_err(err, errlen,
		       "bad memory size '%.40s' (a whole number with K, M or G, e.g. 256M or 1G)",
		       s ? s : "");
		return -1;
	}
	if (v == 0) {
		kc_err(err, errlen, "memory size is 0");
		return -1;
	}
	if (v > KC_MEMORY_MAX) {
		kc_err(err, errlen, "memory size '%.40s' is too big", s);
		return -1;
	}
	if (v % KEEL_PART_MEM_ALIGN) {
		if (kc_is_digit(s[strlen(s) - 1]))
			kc_err(err, errlen,
			       "memory must be a multiple of 2 MiB ('%.40s' is bytes: did you mean %.40sM?)",
			       s, s);
		else
			kc_err(err, errlen, "memory must be a multiple of 2 MiB ('%.40s' is not)",
			       s);
		return -1;
	}
	*bytes = v;
	return 0;
}

/* ---- cpus ---- */

unsigned int kc_popcount(uint64_t v)
{
	unsigned int n = 0;

	for (; v; v &= v - 1)
		n++;
	return n;
}

/* Digits at *p as a number, capped at 1000 so it cannot overflow. */
static unsigned int kc_cpu_number(const char **p)
{
	unsigned int v = 0;

	while (kc_is_digit(**p)) {
		if (v < 1000)
			v = v * 10 + (unsigned int)(**p - '0');
		(*p)++;
	}
	return v;
}

int kc_parse_cpus(const char *s, uint32_t *count, uint64_t *mask, char *err, size_t errlen)
{
	const char *p = s;
	uint64_t m = 0, n;

	if (!s || !*s) {
		kc_err(err, errlen, "--cpus is empty");
		return -1;
	}
	if (!kc_parse_u64(s, &n)) {
		if (n == 0 || n > KEEL_MAX_CPUS) {
			kc_err(err, errlen, "cpu count %.20s is out of range (1-%u)", s,
			       KEEL_MAX_CPUS);
			return -1;
		}
		*count = (uint32_t)n;
		*mask = 0;
		return 0;
	}
	for (;;) {
		unsigned int a, b;

		if (!kc_is_digit(*p))
			goto bad;
		a = b = kc_cpu_number(&p);
		if (*p == '-') {
			p++;
			if (!kc_is_digit(*p))
				goto bad;
			b = kc_cpu_number(&p);
		}
		if (a >= KEEL_MAX_CPUS || b >= KEEL_MAX_CPUS) {
			kc_err(err, errlen, "cpu %u is out of range (0-%u)",
			       a >= KEEL_MAX_CPUS ? a : b, KEEL_MAX_CPUS - 1);
			return -1;
		}
		if (b < a) {
			kc_err(err, errlen, "cpu range %u-%u is reversed", a, b);
			return -1;
		}
		for (unsigned int i = a; i <= b; i++) {
			if (m & (1ull << i)) {
				kc_err(err, errlen, "cpu %u is listed twice", i);
				return -1;
			}
			m |= 1ull << i;
		}
		if (*p == '\0')
			break;
		if (*p != ',')
			goto bad;
		p++;
	}
	*count = 0;
	*mask = m;
	return 0;
bad:
	kc_err(err, errlen,
	       "bad --cpus '%.40s' (a count such as 2, or a cpu list such as 3-4, 3,5 or 3-3)", s);
	return -1;
}

size_t kc_format_cpus(uint64_t mask, char *buf, size_t len)
{
	size_t pos = 0;
	unsigned int i = 0;
	bool first = true;

	if (len)
		buf[0] = '\0';
	if (!mask) {
		kc_put(buf, len, &pos, "-");
		return pos;
	}
	while (i < 64) {
		unsigned int j;

		if (!(mask & (1ull << i))) {
			i++;
			continue;
		}
		for (j = i; j + 1 < 64 && (mask & (1ull << (j + 1))); j++)
			;
		if (j == i)
			kc_put(buf, len, &pos, "%s%u", first ? "" : ",", i);
		else
			kc_put(buf, len, &pos, "%s%u-%u", first ? "" : ",", i, j);
		first = false;
		i = j + 1;
	}
	return pos;
}

size_t kc_format_cpus_json(uint64_t mask, char *buf, size_t len)
{
	size_t pos = 0;
	bool first = true;

	if (len)
		buf[0] = '\0';
	kc_put(buf, len, &pos, "[");
	for (unsigned int i = 0; i < 64; i++) {
		if (!(mask & (1ull << i)))
			continue;
		kc_put(buf, len, &pos, "%s%u", first ? "" : ",", i);
		first = false;
	}
	kc_put(buf, len, &pos, "]");
	return pos;
}

uint64_t kc_pick_cpus(uint64_t free, uint32_t count)
{
	uint64_t m = 0;

	if (count == 0 || kc_popcount(free) < count)
		return 0;
	for (unsigned int i = 0; i < 64 && count; i++) {
		if (free & (1ull << i)) {
			m |= 1ull << i;
			count--;
		}
	}
	return m;
}

int kc_create_retry(int (*create)(void *ctx, struct kc_create_req *req),
		    int (*free_cpus)(void *ctx, uint64_t *mask), void *ctx,
		    struct kc_create_req *req, uint32_t count)
{
	int ret = create(ctx, req);

	for (int tries = 1; ret == -EBUSY && count && tries < KC_CREATE_TRIES; tries++) {
		uint64_t free, m;

		if (free_cpus(ctx, &free))
			break;
		m = kc_pick_cpus(free, count);
		if (!m)
			break;
		req->cpu_mask = m;
		ret = create(ctx, req);
	}
	return ret;
}

/* ---- names and partitions ---- */

int kc_check_name(const char *s, char *err, size_t errlen)
{
	size_t n = strnlen(s, KEEL_NAME_MAX);

	if (n == 0) {
		kc_err(err, errlen, "the name is empty");
		return -1;
	}
	if (n >= KEEL_NAME_MAX) {
		kc_err(err, errlen, "the name is longer than %u bytes", KEEL_NAME_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || kc_is_digit((char)c) ||
		    c == '_' || c == '-')
			continue;
		if (c > 0x20 && c < 0x7f)
			kc_err(err, errlen, "the name has '%c' (only a-z A-Z 0-9 _ - are allowed)",
			       c);
		else
			kc_err(err, errlen,
			       "the name has byte 0x%02x (only a-z A-Z 0-9 _ - are allowed)", c);
		return -1;
	}
	if (strspn(s, "0123456789") == n) {
		kc_err(err, errlen, "the name is all digits (that would read as an id)");
		return -1;
	}
	return 0;
}

void kc_part_name(const struct keel_part_status *st, char out[KEEL_NAME_MAX])
{
	size_t n = strnlen(st->name, KEEL_NAME_MAX - 1);

	memcpy(out, st->name, n);
	out[n] = '\0';
}

int kc_find_part(const struct keel_part_status *list, uint32_t n, const char *ref)
{
	uint64_t id;

	if (!ref || !*ref)
		return -1;
	if (!kc_parse_u64(ref, &id)) {
		for (uint32_t i = 0; i < n; i++)
			if (list[i].id == id)
				return (int)i;
	}
	if (strlen(ref) >= KEEL_NAME_MAX)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		char name[KEEL_NAME_MAX];

		kc_part_name(&list[i], name);
		if (!strcmp(name, ref))
			return (int)i;
	}
	return -1;
}

const char *kc_state_name(uint32_t state)
{
	switch (state) {
	case KEEL_PSTATE_CREATED:
		return "created";
	case KEEL_PSTATE_LOADED:
		return "loaded";
	case KEEL_PSTATE_RUNNING:
		return "running";
	case KEEL_PSTATE_STOPPING:
		return "stopping";
	case KEEL_PSTATE_STOPPED:
		return "stopped";
	case KEEL_PSTATE_PAUSED:
		return "paused";
	case KEEL_PSTATE_BUILDING:
		return "building";
	default:
		return "unknown";
	}
}

const char *kc_stop_cause_name(uint32_t cause)
{
	switch (cause) {
	case KEEL_STOP_CAUSE_GUEST:
		return "guest";
	case KEEL_STOP_CAUSE_FORCED:
		return "forced";
	case KEEL_STOP_CAUSE_FAULT:
		return "fault";
	default:
		return "unknown";
	}
}

const char *kc_exit_name(uint32_t kind)
{
	static const char *const names[] = {
		[KEEL_EXIT_INTERRUPT] = "interrupt", [KEEL_EXIT_HYPERCALL] = "hypercall",
		[KEEL_EXIT_MMIO] = "mmio",	     [KEEL_EXIT_PIO] = "pio",
		[KEEL_EXIT_HALT] = "halt",	     [KEEL_EXIT_SHUTDOWN] = "shutdown",
		[KEEL_EXIT_FAULT] = "fault",
	};

	if (kind >= sizeof(names) / sizeof(names[0]))
		return NULL;
	return names[kind];
}

void kc_format_uptime(uint64_t ns, char *buf, size_t len)
{
	uint64_t s = ns / 1000000000ull;
	uint64_t d = s / 86400;

	s %= 86400;
	if (d)
		snprintf(buf, len, "%llu-%02u:%02u:%02u", (unsigned long long)d,
			 (unsigned int)(s / 3600), (unsigned int)(s / 60 % 60),
			 (unsigned int)(s % 60));
	else
		snprintf(buf, len, "%02u:%02u:%02u", (unsigned int)(s / 3600),
			 (unsigned int)(s / 60 % 60), (unsigned int)(s % 60));
}

/* ---- PCI functions ---- */

#define KC_PCI_BASE_CLASS_BRIDGE 0x06u /* class code bits 23:16: host, ISA, PCI... bridges */
#define KC_PCI_CLASS_IOMMU 0x0806u /* class code bits 23:8 */

size_t kc_format_pci_addr(uint16_t seg, uint16_t bdf, char *buf, size_t len)
{
	size_t pos = 0;

	if (len)
		buf[0] = '\0';
	kc_put(buf, len, &pos, "%04x:%02x:%02x.%u", seg, bdf >> 8, (bdf >> 3) & 0x1fu, bdf & 7u);
	return pos;
}

const char *kc_iommu_kind_name(uint32_t kind)
{
	switch (kind) {
	case KEEL_IOMMU_KIND_NONE:
		return "none";
	case KEEL_IOMMU_KIND_VTD:
		return "VT-d";
	case KEEL_IOMMU_KIND_AMDVI:
		return "AMD-Vi";
	case KEEL_IOMMU_KIND_SMMUV3:
		return "SMMUv3";
	default:
		return "unknown";
	}
}

size_t kc_format_pci_iommu(const struct keel_pci_dev *d, char *buf, size_t len)
{
	size_t pos = 0;

	if (len)
		buf[0] = '\0';
	if (d->iommu == KEEL_PCI_NO_IOMMU)
		kc_put(buf, len, &pos, "none");
	else
		kc_put(buf, len, &pos, "%u (%s)", d->iommu, kc_iommu_kind_name(d->iommu_kind));
	return pos;
}

static const struct {
	uint32_t bit;
	const char *name;
} kc_pci_flag_names[] = {
	{ KEEL_PCI_DEV_ASSIGNABLE, "assignable" },
	{ KEEL_PCI_DEV_BRIDGE, "bridge" },
	{ KEEL_PCI_DEV_ALIASED, "aliased" },
	{ KEEL_PCI_DEV_BAD_CAPS, "bad-caps" },
};

#define KC_PCI_NFLAGS (sizeof(kc_pci_flag_names) / sizeof(kc_pci_flag_names[0]))

/* The words of @flags (quoted for @json), joined by commas; unknown bits in hex. */
static void kc_put_pci_flags(char *buf, size_t len, size_t *pos, uint32_t flags, bool json)
{
	uint32_t known = 0;
	bool first = true;

	for (size_t i = 0; i < KC_PCI_NFLAGS; i++) {
		known |= kc_pci_flag_names[i].bit;
		if (!(flags & kc_pci_flag_names[i].bit))
			continue;
		kc_put(buf, len, pos, json ? "%s\"%s\"" : "%s%s", first ? "" : ",",
		       kc_pci_flag_names[i].name);
		first = false;
	}
	if (flags & ~known)
		kc_put(buf, len, pos, json ? "%s\"0x%x\"" : "%s0x%x", first ? "" : ",",
		       flags & ~known);
}

size_t kc_format_pci_flags(uint32_t flags, char *buf, size_t len)
{
	size_t pos = 0;

	if (len)
		buf[0] = '\0';
	if (!flags)
		kc_put(buf, len, &pos, "-");
	else
		kc_put_pci_flags(buf, len, &pos, flags, false);
	return pos;
}

#define KC_PCI_COLUMNS "%-12s  %-9s  %-6s  %-5s  %-10s  %-*s  %s"

size_t kc_format_pci_header(int owner_w, char *buf, size_t len)
{
	size_t pos = 0;

	if (len)
		buf[0] = '\0';
	kc_put(buf, len, &pos, KC_PCI_COLUMNS, "ADDRESS", "ID", "CLASS", "GROUP", "IOMMU", owner_w,
	       "OWNER", "FLAGS");
	return pos;
}

size_t kc_format_pci_row(const struct keel_pci_dev *d, const char *owner, int owner_w, char *buf,
			 size_t len)
{
	char addr[16], id[16], cls[16], group[16], iommu[32], flags[64];
	size_t pos = 0;

	if (len)
		buf[0] = '\0';
	kc_format_pci_addr(d->segment, d->bdf, addr, sizeof(addr));
	snprintf(id, sizeof(id), "%04x:%04x", d->vendor, d->device);
	snprintf(cls, sizeof(cls), "%06x", d->class & 0xffffffu);
	if (d->group == KEEL_PCI_NO_GROUP)
		snprintf(group, sizeof(group), "-");
	else
		snprintf(group, sizeof(group), "%u", d->group);
	kc_format_pci_iommu(d, iommu, sizeof(iommu));
	kc_format_pci_flags(d->flags, flags, sizeof(flags));
	kc_put(buf, len, &pos, KC_PCI_COLUMNS, addr, id, cls, group, iommu, owner_w,
	       owner ? owner : "-", flags);
	return pos;
}

size_t kc_format_pci_json(const struct keel_pci_dev *d, const char *owner, char *buf, size_t len)
{
	char addr[16], alias[16], esc[KEEL_NAME_MAX * 6 + 1];
	size_t pos = 0;

	if (len)
		buf[0] = '\0';
	kc_format_pci_addr(d->segment, d->bdf, addr, sizeof(addr));
	kc_format_pci_addr(d->segment, d->dma_rid, alias, sizeof(alias));
	kc_put(buf, len, &pos,
	       "{\"address\":\"%s\",\"vendor\":\"%04x\",\"device\":\"%04x\",\"class\":\"%06x\","
	       "\"header_type\":%u,\"dma_rid\":\"%s\",\"group\":",
	       addr, d->vendor, d->device, d->class & 0xffffffu, d->hdr_type, alias);
	if (d->group == KEEL_PCI_NO_GROUP)
		kc_put(buf, len, &pos, "null");
	else
		kc_put(buf, len, &pos, "%u", d->group);
	if (d->iommu == KEEL_PCI_NO_IOMMU)
		kc_put(buf, len, &pos, ",\"iommu\":null,\"iommu_kind\":null");
	else
		kc_put(buf, len, &pos, ",\"iommu\":%u,\"iommu_kind\":\"%s\"", d->iommu,
		       kc_iommu_kind_name(d->iommu_kind));
	if (d->owner == KEEL_PCI_OWNER_NONE)
		kc_put(buf, len, &pos, ",\"owner\":null");
	else
		kc_put(buf, len, &pos, ",\"owner\":%u", d->owner);
	if (owner && d->owner != KEEL_PCI_OWNER_NONE) {
		kc_json_escape(owner, strnlen(owner, KEEL_NAME_MAX - 1), esc, sizeof(esc));
		kc_put(buf, len, &pos, ",\"owner_name\":\"%s\"", esc);
	} else {
		kc_put(buf, len, &pos, ",\"owner_name\":null");
	}
	kc_put(buf, len, &pos, ",\"flags\":[");
	kc_put_pci_flags(buf, len, &pos, d->flags, true);
	kc_put(buf, len, &pos, "],\"assignable\":%s}",
	       (d->flags & KEEL_PCI_DEV_ASSIGNABLE) ? "true" : "false");
	return pos;
}

/* ---- kernel images ---- */

#define ELF_MACHINE_X86_64 62
#define ELF_MACHINE_AARCH64 183
#define BZ_BOOT_FLAG 0x1fe
#define BZ_MAGIC 0x202
#define BZ_VERSION 0x206
#define BZ_XLOADFLAGS 0x236
#define BZ_HDR_END 0x26c
#define ARM64_IMAGE_SIZE 0x10
#define ARM64_FLAGS 0x18
#define ARM64_MAGIC 0x38
#define ARM64_MAGIC_VALUE 0x644d5241u /* "ARM\x64" */

const char *kc_arch_name(int arch)
{
	return arch == KC_ARCH_AARCH64 ? "aarch64" : "x86_64";
}

const char *kc_image_name(int kind)
{
	switch (kind) {
	case KC_IMAGE_BZIMAGE:
		return "Linux bzImage";
	case KC_IMAGE_ARM64:
		return "arm64 Linux Image";
	case KC_IMAGE_ELF:
		return "ELF64 guest";
	default:
		return "unknown";
	}
}

static int kc_sniff_elf(const uint8_t *h, size_t len, int arch, const char **why)
{
	uint16_t type, machine;
	uint16_t want = arch == KC_ARCH_AARCH64 ? ELF_MACHINE_AARCH64 : ELF_MACHINE_X86_64;

	if (len < 64) {
		*why = "truncated ELF header";
		return KC_IMAGE_NONE;
	}
	if (h[4] != 2) {
		*why = "a 32-bit ELF file (Keel boots ELF64)";
		return KC_IMAGE_NONE;
	}
	if (h[5] != 1) {
		*why = "a big-endian ELF file";
		return KC_IMAGE_NONE;
	}
	type = kc_le16(h + 16);
	machine = kc_le16(h + 18);
	if (machine != want) {
		if (machine == ELF_MACHINE_X86_64)
			*why = "an x86_64 ELF file, and this is aarch64";
		else if (machine == ELF_MACHINE_AARCH64)
			*why = "an aarch64 ELF file, and this is x86_64";
		else
			*why = "an ELF file for another machine";
		return KC_IMAGE_NONE;
	}
	if (type != 2 && type != 3) {
		*why = "an ELF file that is not an executable";
		return KC_IMAGE_NONE;
	}
	return KC_IMAGE_ELF;
}

int kc_sniff_kernel(const uint8_t *hdr, size_t len, uint64_t file_size, int arch, const char **why)
{
	bool bz, arm64;

	*why = NULL;
	if (len > file_size)
		len = (size_t)file_size;
	if (len < 64) {
		*why = "too small to be a kernel";
		return KC_IMAGE_NONE;
	}
	if (!memcmp(hdr,
		    "\x7f"
		    "ELF",
		    4))
		return kc_sniff_elf(hdr, len, arch, why);
	bz = len >= BZ_HDR_END && kc_le16(hdr + BZ_BOOT_FLAG) == 0xaa55 &&
	     !memcmp(hdr + BZ_MAGIC, "HdrS", 4);
	arm64 = kc_le32(hdr + ARM64_MAGIC) == ARM64_MAGIC_VALUE;
	if (arch == KC_ARCH_X86_64) {
		if (bz) {
			if (kc_le16(hdr + BZ_VERSION) < 0x20c) {
				*why = "bzImage boot protocol older than 2.12 (no 64-bit entry)";
				return KC_IMAGE_NONE;
			}
			if (!(kc_le16(hdr + BZ_XLOADFLAGS) & 1)) {
				*why = "bzImage without a 64-bit entry point";
				return KC_IMAGE_NONE;
			}
			return KC_IMAGE_BZIMAGE;
		}
		if (arm64) {
			*why = "an arm64 Image, and this is x86_64";
			return KC_IMAGE_NONE;
		}
	} else {
		if (arm64) {
			uint64_t flags = kc_le64(hdr + ARM64_FLAGS);
			uint64_t page = (flags >> 1) & 3;

			if (flags & 1) {
				*why = "a big-endian arm64 Image";
				return KC_IMAGE_NONE;
			}
			if (page != 0 && page != 1) {
				*why = "an arm64 Image built for 16K or 64K pages (4K only)";
				return KC_IMAGE_NONE;
			}
			if (kc_le64(hdr + ARM64_IMAGE_SIZE) == 0) {
				*why = "an arm64 Image older than Linux 3.17 (image_size 0)";
				return KC_IMAGE_NONE;
			}
			return KC_IMAGE_ARM64;
		}
		if (bz) {
			*why = "an x86 bzImage, and this is aarch64";
			return KC_IMAGE_NONE;
		}
		if (hdr[0] == 'M' && hdr[1] == 'Z' && !memcmp(hdr + 4, "zimg", 4)) {
			*why = "a compressed EFI zboot image (Keel boots the uncompressed Image)";
			return KC_IMAGE_NONE;
		}
	}
	if (hdr[0] == 0x1f && hdr[1] == 0x8b) {
		*why = "a gzip file (decompress it first)";
		return KC_IMAGE_NONE;
	}
	*why = arch == KC_ARCH_X86_64 ? "neither a bzImage nor an ELF64 x86_64 kernel"
				      : "neither an arm64 Image nor an ELF64 aarch64 kernel";
	return KC_IMAGE_NONE;
}

/* ---- JSON ---- */

size_t kc_json_escape(const char *s, size_t n, char *buf, size_t len)
{
	size_t pos = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '"':
			kc_put(buf, len, &pos, "\\\"");
			break;
		case '\\':
			kc_put(buf, len, &pos, "\\\\");
			break;
		case '\n':
			kc_put(buf, len, &pos, "\\n");
			break;
		case '\r':
			kc_put(buf, len, &pos, "\\r");
			break;
		case '\t':
			kc_put(buf, len, &pos, "\\t");
			break;
		default:
			if (c < 0x20 || c >= 0x7f)
				kc_put(buf, len, &pos, "\\u%04x", c);
			else
				kc_put(buf, len, &pos, "%c", c);
		}
	}
	return pos;
}

/* ---- console escape ---- */

int kc_parse_escape(const char *s, int *byte)
{
	if (!s)
		return -1;
	if (!strcmp(s, "none")) {
		*byte = -1;
		return 0;
	}
	if (s[0] == '^' && s[1] && !s[2]) {
		char c = s[1];

		if (c == '?') {
			*byte = 0x7f;
			return 0;
		}
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c >= '@' && c <= '_') {
			*byte = c & 0x1f;
			return 0;
		}
		return -1;
	}
	if (s[0] > 0x20 && s[0] < 0x7f && !s[1]) {
		*byte = s[0];
		return 0;
	}
	return -1;
}

void kc_format_escape(int byte, char *buf, size_t len)
{
	if (byte < 0)
		snprintf(buf, len, "none");
	else if (byte == 0x7f)
		snprintf(buf, len, "Ctrl-?");
	else if (byte < 0x20)
		snprintf(buf, len, "Ctrl-%c", byte | 0x40);
	else
		snprintf(buf, len, "%c", byte);
}

/* ---- stream search ---- */

int kc_finder_init(struct kc_finder *f, const char *needle)
{
	size_t n = strlen(needle), k = 0;

	memset(f, 0, sizeof(*f));
	if (n == 0 || n >= KC_FIND_MAX)
		return -1;
	memcpy(f->needle, needle, n);
	f->len = n;
	/* fail[i]: length of the longest proper border of needle[0..i]. */
	for (size_t i = 1; i < n; i++) {
		while (k && f->needle[i] != f->needle[k])
			k = f->fail[k - 1];
		if (f->needle[i] == f->needle[k])
			k++;
		f->fail[i] = (uint16_t)k;
	}
	return 0;
}

long kc_finder_feed(struct kc_finder *f, const char *buf, size_t n)
{
	if (!f->len)
		return -1;
	for (size_t i = 0; i < n; i++) {
		while (f->state && buf[i] != f->needle[f->state])
			f->state = f->fail[f->state - 1];
		if (buf[i] == f->needle[f->state])
			f->state++;
		if (f->state == f->len) {
			f->state = f->fail[f->len - 1];
			return (long)(i + 1);
		}
	}
	return -1;
}

/* ---- PCI functions ---- */

/* One address of @len bytes at @s (no commas in it) into *@addr: 0 or -1 with @err. */
static int kc_parse_pci_addr(const char *s, size_t len, uint32_t *addr, char *err, size_t errlen)
{
	uint32_t bad = 0;
	char buf[48];
	enum keel_pci_parse why = KEEL_PCI_PARSE_SYNTAX;

	if (len < sizeof(buf)) {
		memcpy(buf, s, len);
		buf[len] = '\0';
		why = keel_pci_addr_parse(buf, addr, &bad);
	}
	if (why == KEEL_PCI_PARSE_OK)
		return 0;
	if (why == KEEL_PCI_PARSE_DEVICE)
		kc_err(err, errlen, "--pci '%s': device %02x is out of range (00-1f)", buf, bad);
	else if (why == KEEL_PCI_PARSE_FUNCTION)
		kc_err(err, errlen, "--pci '%s': function %x is out of range (0-7)", buf, bad);
	else
		kc_err(err, errlen,
		       "--pci '%.*s' is not a PCI address (SSSS:BB:DD.F or BB:DD.F, in hex)",
		       (int)(len > 40 ? 40 : len), s);
	return -1;
}

int kc_parse_pci(const char *s, uint32_t addr[KEEL_PD_MAX_PCI], uint32_t *n, char *err,
		 size_t errlen)
{
	uint32_t got[KEEL_PD_MAX_PCI], count = *n, a, i;

	if (count > KEEL_PD_MAX_PCI)
		count = KEEL_PD_MAX_PCI;
	memcpy(got, addr, count * sizeof(got[0]));
	for (;;) {
		size_t len = strcspn(s, ",");
		const char *end = s + len;

		while (len && (*s == ' ' || *s == '\t')) {
			s++;
			len--;
		}
		while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (!len) {
			kc_err(err, errlen, "--pci: empty element in the list");
			return -1;
		}
		if (kc_parse_pci_addr(s, len, &a, err, errlen))
			return -1;
		for (i = 0; i < count; i++) {
			if (got[i] == a) {
				char name[16];

				kc_format_pci_addr(KEEL_PCI_ADDR_SEG(a), KEEL_PCI_ADDR_BDF(a), name,
						   sizeof(name));
				kc_err(err, errlen, "--pci %s is given twice", name);
				return -1;
			}
		}
		if (count == KEEL_PD_MAX_PCI) {
			kc_err(err, errlen, "--pci: more than %u functions", KEEL_PD_MAX_PCI);
			return -1;
		}
		got[count++] = a;
		if (!*end)
			break;
		s = end + 1;
	}
	memcpy(addr, got, count * sizeof(got[0]));
	*n = count;
	return 0;
}

/* ---- networks ---- */

/* A network's name as keel.cfg allows it: 1-31 of A-Z a-z 0-9 _ - . */
static bool kc_net_name_ok(const char *s, size_t len)
{
	if (!len || len >= KEEL_NET_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

static int kc_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "xx:xx:xx:xx:xx:xx" (exactly), unicast and not all zeros, into @mac. */
static int kc_parse_mac(const char *s, uint8_t mac[6], char *err, size_t errlen)
{
	uint8_t m[6], any = 0;

	if (strlen(s) != 17)
		goto bad;
	for (int i = 0; i < 6; i++) {
		int hi = kc_hex_digit(s[3 * i]), lo = kc_hex_digit(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			goto bad;
		m[i] = (uint8_t)(hi << 4 | lo);
		any |= m[i];
	}
	if (m[0] & 1) {
		kc_err(err, errlen, "--net: %s is a multicast address, not a port's", s);
		return -1;
	}
	if (!any) {
		kc_err(err, errlen, "--net: 00:00:00:00:00:00 is no port's address");
		return -1;
	}
	memcpy(mac, m, 6);
	return 0;
bad:
	kc_err(err, errlen,
	       "--net: mac must be six hex bytes with colons (02:00:00:00:00:01), not '%.40s'", s);
	return -1;
}

int kc_parse_net(const char *s, struct kc_net_req nets[KEEL_PD_MAX_NET], uint32_t *n, char *err,
		 size_t errlen)
{
	struct kc_net_req r;
	size_t len = strcspn(s, ",");
	const char *opt = s[len] ? s + len + 1 : NULL;

	memset(&r, 0, sizeof(r));
	if (!kc_net_name_ok(s, len)) {
		kc_err(err, errlen,
		       "--net: '%.40s' is not a network name (1-31 of A-Z a-z 0-9 _ - .)", s);
		return -1;
	}
	memcpy(r.name, s, len);
	if (opt) {
		if (strncmp(opt, "mac=", 4)) {
			kc_err(err, errlen,
			       "--net %s: unknown option '%.40s' (mac=xx:xx:xx:xx:xx:xx)", r.name,
			       opt);
			return -1;
		}
		if (kc_parse_mac(opt + 4, r.mac, err, errlen))
			return -1;
	}
	for (uint32_t i = 0; i < *n && i < KEEL_PD_MAX_NET; i++) {
		if (!strcmp(nets[i].name, r.name)) {
			kc_err(err, errlen, "--net %s is given twice (one NIC per network)",
			       r.name);
			return -1;
		}
		if (opt && !memcmp(nets[i].mac, r.mac, 6)) {
			kc_err(err, errlen, "--net %s: mac %s is given twice", r.name, opt + 4);
			return -1;
		}
	}
	if (*n >= KEEL_PD_MAX_NET) {
		kc_err(err, errlen, "--net: more than %u networks", KEEL_PD_MAX_NET);
		return -1;
	}
	nets[(*n)++] = r;
	return 0;
}

void kc_format_mac(const uint8_t mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

const char *kc_net_drop_name(uint32_t k)
{
	static const char *const names[] = {
		[KEEL_NET_DROP_SPOOF] = "spoofed",	   [KEEL_NET_DROP_RUNT] = "runt",
		[KEEL_NET_DROP_OVERSIZE] = "oversize",	   [KEEL_NET_DROP_MALFORMED] = "malformed",
		[KEEL_NET_DROP_NO_BUFFER] = "no_buffer",   [KEEL_NET_DROP_OFFLOAD] = "offload",
		[KEEL_NET_DROP_GROUP_HELD] = "group_held",
	};

	return k < sizeof(names) / sizeof(names[0]) ? names[k] : NULL;
}

size_t kc_format_net_port_json(const struct keel_net_rec *r, const char *owner_name, char *buf,
			       size_t len)
{
	char name[KEEL_NET_NAME_MAX], esc[KEEL_NAME_MAX * 6 + 1], mac[20];
	uint64_t other = 0;
	size_t pos = 0;

	if (len)
		buf[0] = '\0';
	memcpy(name, r->name, sizeof(name));
	name[sizeof(name) - 1] = '\0';
	kc_json_escape(name, strlen(name), esc, sizeof(esc));
	kc_format_mac(r->mac, mac, sizeof(mac));
	kc_put(buf, len, &pos, "{\"network\":\"%s\",\"net_id\":%u,\"mac\":\"%s\",\"owner\":", esc,
	       r->net, mac);
	if (r->owner == KEEL_NET_OWNER_NONE)
		kc_put(buf, len, &pos, "null");
	else
		kc_put(buf, len, &pos, "%u", r->owner);
	if (owner_name) {
		kc_json_escape(owner_name, strnlen(owner_name, KEEL_NAME_MAX - 1), esc,
			       sizeof(esc));
		kc_put(buf, len, &pos, ",\"owner_name\":\"%s\"", esc);
	} else {
		kc_put(buf, len, &pos, ",\"owner_name\":null");
	}
	kc_put(buf, len, &pos,
	       ",\"uplink\":%s,\"tx_packets\":%llu,\"tx_bytes\":%llu,\"rx_packets\":%llu,"
	       "\"rx_bytes\":%llu,\"drops\":{",
	       (r->flags & KEEL_NET_PORT_UPLINK) ? "true" : "false",
	       (unsigned long long)r->tx_packets, (unsigned long long)r->tx_bytes,
	       (unsigned long long)r->rx_packets, (unsigned long long)r->rx_bytes);
	for (uint32_t k = 0; k < KEEL_NET_DROPS; k++) {
		if (kc_net_drop_name(k))
			kc_put(buf, len, &pos, "\"%s\":%llu,", kc_net_drop_name(k),
			       (unsigned long long)r->drops[k]);
		else
			other += r->drops[k];
	}
	kc_put(buf, len, &pos, "\"other\":%llu}}", (unsigned long long)other);
	return pos;
}

/* What @d is, if that alone keeps it from any partition (Keel's order of checks). */
static const char *kc_pci_kind_refusal(const struct keel_pci_dev *d)
{
	uint32_t cls = (d->class >> 8) & 0xffffu;

	if (d->hdr_type != 0 || (d->flags & KEEL_PCI_DEV_BRIDGE))
		return "it is a bridge; only endpoints can be given";
	if ((cls >> 8) == KC_PCI_BASE_CLASS_BRIDGE)
		return "it is a host, ISA or other bridge: the platform's own";
	if (cls == KC_PCI_CLASS_IOMMU)
		return "it is an IOMMU";
	if (d->flags & KEEL_PCI_DEV_BAD_CAPS)
		return "its capability list is broken";
	if (d->iommu == KEEL_PCI_NO_IOMMU)
		return "no IOMMU translates its DMA";
	if (!(d->flags & KEEL_PCI_DEV_ASSIGNABLE))
		return "Keel does not list it as assignable";
	return NULL;
}

const char *kc_pci_refusal(const struct keel_pci_dev *devs, uint32_t n, uint32_t addr,
			   uint32_t *owner)
{
	const struct keel_pci_dev *d = NULL;
	const char *why;
	uint32_t i;

	*owner = KEEL_PCI_OWNER_NONE;
	for (i = 0; i < n && !d; i++)
		if (devs[i].segment == KEEL_PCI_ADDR_SEG(addr) &&
		    devs[i].bdf == KEEL_PCI_ADDR_BDF(addr))
			d = &devs[i];
	if (!d)
		return "no such PCI function on this host (see keelctl pci)";
	why = kc_pci_kind_refusal(d);
	if (why)
		return why;
	if (d->owner != KEEL_PCI_OWNER_NONE) {
		*owner = d->owner;
		return "it is in use";
	}
	for (i = 0; i < n && d->group != KEEL_PCI_NO_GROUP; i++) {
		if (devs[i].segment == d->segment && devs[i].group == d->group &&
		    devs[i].owner != KEEL_PCI_OWNER_NONE) {
			*owner = devs[i].owner;
			return "a function of its isolation group is in use";
		}
	}
	return NULL;
}

/* ---- options ---- */

int kc_args_parse(const struct kc_opt *opts, int nopts, int max_pos, int argc, char *const argv[],
		  struct kc_args *a, char *err, size_t errlen)
{
	bool opts_done = false;

	memset(a, 0, sizeof(*a));
	if (nopts < 0 || nopts > KC_MAX_OPTS || max_pos < 0 || max_pos > KC_MAX_POS) {
		kc_err(err, errlen, "internal error: option table too big");
		return -1;
	}
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i], *name, *eq, *val;
		size_t nlen;
		int k;

		if (!opts_done && !strcmp(s, "--")) {
			opts_done = true;
			continue;
		}
		if (!opts_done && (!strcmp(s, "-h") || !strcmp(s, "--help"))) {
			a->help = true;
			return 0;
		}
		if (opts_done || s[0] != '-' || s[1] == '\0') {
			if (a->npos >= max_pos) {
				kc_err(err, errlen, "unexpected argument '%.40s'", s);
				return -1;
			}
			a->pos[a->npos++] = s;
			continue;
		}
		if (s[1] != '-') {
			kc_err(err, errlen, "unknown option '%.40s'", s);
			return -1;
		}
		name = s + 2;
		eq = strchr(name, '=');
		nlen = eq ? (size_t)(eq - name) : strlen(name);
		for (k = 0; k < nopts; k++)
			if (strlen(opts[k].name) == nlen && !strncmp(opts[k].name, name, nlen))
				break;
		if (k == nopts) {
			kc_err(err, errlen, "unknown option '--%.*s'", (int)(nlen > 40 ? 40 : nlen),
			       name);
			return -1;
		}
		if (a->val[k] && opts[k].has_arg != KC_ARG_REPEAT) {
			kc_err(err, errlen, "--%s given twice", opts[k].name);
			return -1;
		}
		if (!opts[k].has_arg) {
			if (eq) {
				kc_err(err, errlen, "--%s takes no value", opts[k].name);
				return -1;
			}
			val = "";
		} else if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			kc_err(err, errlen, "--%s needs a value", opts[k].name);
			return -1;
		}
		if (!a->val[k])
			a->val[k] = val;
		if (opts[k].has_arg != KC_ARG_REPEAT)
			continue;
		if (a->nrep == KC_MAX_REPEAT) {
			kc_err(err, errlen, "--%s given too often (at most %d such values)",
			       opts[k].name, KC_MAX_REPEAT);
			return -1;
		}
		a->rep_opt[a->nrep] = k;
		a->rep[a->nrep++] = val;
	}
	return 0;
}

static uint8_t *kc_desc_put(uint8_t *p, const void *entry, size_t size)
{
	memcpy(p, entry, size);
	return p + size;
}

static uint8_t *kc_put_device(uint8_t *p, uint32_t type, uint32_t backend, uint32_t flags)
{
	struct keel_pd_device d = { .type = type, .backend = backend, .flags = flags };

	return kc_desc_put(p, &d, sizeof(d));
}

int kc_parse_vsock(const char *s, uint32_t *cid, char *err, size_t errlen)
{
	unsigned long long v;
	char *end;

	if (!strcmp(s, "auto")) {
		*cid = KEEL_VSOCK_CID_AUTO;
		return 0;
	}
	errno = 0;
	v = *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
	if (*s < '0' || *s > '9' || errno || *end || v < KEEL_VSOCK_CID_FIRST ||
	    v > KEEL_VSOCK_CID_MAX) {
		snprintf(err, errlen, "--vsock must be auto or a CID from %u to %u, not '%.20s'",
			 KEEL_VSOCK_CID_FIRST, KEEL_VSOCK_CID_MAX, s);
		return -1;
	}
	*cid = (uint32_t)v;
	return 0;
}

/* A NIC's entry: the network's number, the address in flags (bytes 0-3) and pad (4-5). */
static uint8_t *kc_put_net(uint8_t *p, const struct kc_net_req *n)
{
	struct keel_pd_device d = { .type = KEEL_DEV_NET,
				    .backend = n->net,
				    .flags = KEEL_NET_MAC_FLAGS(n->mac),
				    .pad = KEEL_NET_MAC_PAD(n->mac) };

	return kc_desc_put(p, &d, sizeof(d));
}

uint32_t kc_pack_desc(const struct kc_create_req *r, void *buf, uint32_t index[KC_IM_COUNT])
{
	static const uint32_t roles[KC_IM_COUNT] = { KEEL_PD_IMAGE_KERNEL, KEEL_PD_IMAGE_INITRD,
						     KEEL_PD_IMAGE_DATA };
	struct keel_part_desc h = { .version = KEEL_PDESC_VERSION,
				    .flags = r->flags,
				    .mem_count = r->hotplug ? 2 : 1,
				    .cpu_mask = r->cpu_mask,
				    .max_vcpus = r->max_vcpus };
	struct keel_pd_mem ram = { .type = KEEL_PD_MEM_RAM, .size = r->mem };
	struct keel_pd_mem hot = { .type = KEEL_PD_MEM_HOTPLUG, .size = r->hotplug };
	uint8_t *p = (uint8_t *)buf + sizeof(h);
	uint32_t k;

	snprintf(h.name, sizeof(h.name), "%s", r->name);
	if (r->cmdline)
		snprintf(h.cmdline, sizeof(h.cmdline), "%s", r->cmdline);
	p = kc_desc_put(p, &ram, sizeof(ram));
	if (r->hotplug)
		p = kc_desc_put(p, &hot, sizeof(hot));
	for (k = 0; k < KC_IM_COUNT; k++) {
		struct keel_pd_image im = { .role = roles[k],
					    .module = KEEL_NO_MODULE,
					    .size = r->size[k] };

		index[k] = KEEL_NO_MODULE;
		if (!r->size[k])
			continue;
		index[k] = h.image_count++;
		p = kc_desc_put(p, &im, sizeof(im));
	}
	p = kc_put_device(p, KEEL_DEV_CONSOLE, KEEL_NO_BACKEND, 0);
	p = kc_put_device(p, KEEL_DEV_RNG, KEEL_NO_BACKEND, 0);
	h.device_count = 2;
	if (index[KC_IM_DISK] != KEEL_NO_MODULE) {
		p = kc_put_device(p, KEEL_DEV_BLK, index[KC_IM_DISK], r->disk_flags);
		h.device_count++;
	}
	p = kc_put_device(p, KEEL_DEV_CONTROL, KEEL_NO_BACKEND, 0);
	h.device_count++;
	if (r->hotplug) {
		p = kc_put_device(p, KEEL_DEV_MEM, 1, 0);
		h.device_count++;
	}
	for (k = 0; k < r->net_count && k < KEEL_PD_MAX_NET; k++) {
		p = kc_put_net(p, &r->net[k]);
		h.device_count++;
	}
	if (r->vsock) {
		p = kc_put_device(p, KEEL_DEV_VSOCK, r->vsock_cid, 0);
		h.device_count++;
	}
	for (k = 0; k < r->pci_count && k < KEEL_PD_MAX_PCI; k++) {
		p = kc_put_device(p, KEEL_DEV_PCI, r->pci[k], 0);
		h.device_count++;
	}
	h.size = (uint32_t)KEEL_PDESC_SIZE(h.mem_count, h.image_count, h.device_count);
	if (!r->max_vcpus) {
		/*
		 * Without hot vCPUs the version 4 form says it all, and a Keel of
		 * ABI 1.0 or 1.1 takes it too: the header without max_vcpus.
		 */
		uint32_t gap = (uint32_t)(sizeof(h) - KEEL_PDESC_HEADER_V4);

		h.version = KEEL_PDESC_VERSION_V4;
		h.size -= gap;
		memmove((uint8_t *)buf + KEEL_PDESC_HEADER_V4, (uint8_t *)buf + sizeof(h),
			h.size - KEEL_PDESC_HEADER_V4);
		memcpy(buf, &h, KEEL_PDESC_HEADER_V4);
		return h.size;
	}
	memcpy(buf, &h, sizeof(h));
	return h.size;
}

int kc_parse_max_cpus(const char *s, uint32_t cores, uint32_t *max, char *err, size_t errlen)
{
	uint64_t n;

	if (!s || kc_parse_u64(s, &n) || n == 0 || n > KEEL_MAX_CPUS) {
		kc_err(err, errlen, "--max-cpus '%.20s' is not a vCPU count (1-%u)", s ? s : "",
		       KEEL_MAX_CPUS);
		return -1;
	}
	if (n < cores) {
		kc_err(err, errlen, "--max-cpus %llu is fewer than its %u cpus",
		       (unsigned long long)n, cores);
		return -1;
	}
	*max = (uint32_t)n;
	return 0;
}

int kc_parse_max_memory(const char *s, uint64_t mem, uint64_t *hotplug, char *err, size_t errlen)
{
	uint64_t max;

	if (kc_parse_size(s, &max)) {
		kc_err(err, errlen, "--max-memory '%.40s' is not a size (e.g. 1G)", s);
		return -1;
	}
	if (max <= mem || (max - mem) % KEEL_HOTMEM_ALIGN || max - mem > KEEL_HOTMEM_MAX) {
		kc_err(err, errlen,
		       "--max-memory must be --memory plus a multiple of %lluM, at most %lluG "
		       "more (e.g. --memory 256M --max-memory 1G)",
		       (unsigned long long)(KEEL_HOTMEM_ALIGN >> 20),
		       (unsigned long long)(KEEL_HOTMEM_MAX >> 30));
		return -1;
	}
	*hotplug = max - mem;
	return 0;
}

bool kc_abi_mismatch(uint32_t keel, uint32_t built, char *msg, size_t len)
{
	snprintf(msg, len, "Keel speaks ABI %u.%u, keelctl was built for %u.%u", keel >> 16,
		 keel & 0xffff, built >> 16, built & 0xffff);
	return (keel >> 16) != (built >> 16);
}
