/* SPDX-License-Identifier: MIT */
/*
 * Management calls for bare-metal manager guests (docs/management-abi.md):
 * create a child from an image in our own memory, watch its console and its
 * state, take it down again.
 */
#include "guest.h"

static struct mg_desc mg_arg;

void mg_desc_init(struct mg_desc *d, const char *name, uint64_t mem, uint32_t flags,
		  const char *cmdline, uint64_t kernel_size)
{
	static const uint32_t types[3] = { KEEL_DEV_CONSOLE, KEEL_DEV_RNG, KEEL_DEV_CONTROL };
	uint32_t i;

	memset(d, 0, sizeof(*d));
	d->h.version = KEEL_PDESC_VERSION;
	d->h.size = sizeof(*d);
	d->h.flags = flags;
	d->h.mem_count = 1;
	d->h.image_count = 1;
	d->h.device_count = 3;
	memcpy(d->h.name, name, strlen(name) + 1);
	memcpy(d->h.cmdline, cmdline, strlen(cmdline) + 1);
	d->mem = (struct keel_pd_mem){ .type = KEEL_PD_MEM_RAM, .size = mem };
	d->kernel = (struct keel_pd_image){ .role = KEEL_PD_IMAGE_KERNEL,
					    .module = KEEL_NO_MODULE,
					    .size = kernel_size };
	for (i = 0; i < 3; i++)
		d->dev[i] = (struct keel_pd_device){ .type = types[i], .backend = KEEL_NO_BACKEND };
}

long mg_create(const char *name, uint64_t cpus, uint64_t mem, const char *cmdline,
	       uint64_t kernel_size, uint32_t *id)
{
	struct hc_result r;

	/* The attacks' children stop for good when they reboot. */
	mg_desc_init(&mg_arg, name, mem, KEEL_PD_REBOOT_STOP, cmdline, kernel_size);
	mg_arg.h.cpu_mask = cpus;
	r = hc(KEEL_HC_MGMT_CREATE, (uintptr_t)&mg_arg, sizeof(mg_arg), 0);
	*id = r.status == KEEL_OK ? (uint32_t)r.r1 : 0;
	return r.status;
}

bool mg_load_kernel(uint32_t id, uint64_t src_gpa, uint64_t size)
{
	struct keel_mgmt_load l = { id, MG_IMAGE_KERNEL, 0, src_gpa, 0 };
	uint64_t off;

	for (off = 0; off < size; off += KEEL_MGMT_LOAD_MAX) {
		l.offset = off;
		l.src_gpa = src_gpa + off;
		l.len = size - off < KEEL_MGMT_LOAD_MAX ? size - off : KEEL_MGMT_LOAD_MAX;
		if (hc(KEEL_HC_MGMT_LOAD, (uintptr_t)&l, sizeof(l), 0).status != KEEL_OK)
			return false;
	}
	return true;
}

uint32_t mg_state(uint32_t id, struct keel_part_stats *ps)
{
	struct keel_part_stats tmp;
	struct hc_result r;

	if (!ps)
		ps = &tmp;
	r = hc(KEEL_HC_MGMT_STATS, id, (uintptr_t)ps, sizeof(*ps));
	return r.status == KEEL_OK ? ps->status.state : 0;
}

bool mg_wait_state(uint32_t id, uint32_t state, uint64_t polls)
{
	while (polls--) {
		if (mg_state(id, NULL) == state)
			return true;
		delay(100);
	}
	return false;
}

size_t mg_console(uint32_t id, uint64_t *cursor, char *buf, size_t len)
{
	struct keel_mgmt_console c = { id, len > 4096 ? 4096 : len, *cursor, (uintptr_t)buf };
	struct hc_result r = hc(KEEL_HC_MGMT_CONSOLE_READ, (uintptr_t)&c, sizeof(c), 0);

	if (r.status != KEEL_OK)
		return 0;
	*cursor = r.r2;
	return r.r1;
}

const char *find_text(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; i + n <= len; i++)
		if (!strncmp(hay + i, needle, n))
			return hay + i;
	return NULL;
}

/* Print each whole line of @text with @prefix. */
static void mg_echo(const char *prefix, char *text, size_t len)
{
	size_t at = 0;

	while (at < len) {
		size_t end = at;

		while (end < len && text[end] != '\n')
			end++;
		text[end] = '\0';
		if (end > at)
			printf("%s%s\n", prefix, text + at);
		at = end + 1;
	}
}

/*
 * Read @id's console until it printed @marker (or it stopped, or @polls ran
 * out); echo what it said with @prefix (if not NULL). True if the marker was
 * seen.
 */
bool mg_watch(uint32_t id, const char *marker, const char *prefix, uint64_t polls)
{
	static char text[16384];
	uint64_t cursor = 0;
	size_t len = 0;
	bool seen = false;

	while (polls-- && len < sizeof(text) - 1) {
		size_t n = mg_console(id, &cursor, text + len, sizeof(text) - 1 - len);

		len += n;
		if (find_text(text, len, marker)) {
			seen = true;
			break;
		}
		if (!n) {
			if (mg_state(id, NULL) == KEEL_PSTATE_STOPPED) {
				len += mg_console(id, &cursor, text + len, sizeof(text) - 1 - len);
				seen = find_text(text, len, marker) != NULL;
				break;
			}
			delay(200);
		}
	}
	if (prefix)
		mg_echo(prefix, text, len);
	return seen;
}

/* Stop @id (forced), wait until it stopped, destroy it. True if all of it worked. */
bool mg_takedown(uint32_t id)
{
	long st = hc(KEEL_HC_MGMT_STOP, id, 0, KEEL_STOP_FORCE).status;

	if (st != KEEL_OK && st != -KEEL_EBUSY)
		return false;
	if (st == KEEL_OK && !mg_wait_state(id, KEEL_PSTATE_STOPPED, 200000))
		return false;
	return hc(KEEL_HC_MGMT_DESTROY, id, 0, 0).status == KEEL_OK;
}
