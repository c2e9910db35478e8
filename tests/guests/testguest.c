/* SPDX-License-Identifier: MIT */
/*
 * The test guest: one image for every integration scenario, its behaviour
 * chosen by "mode=..." on the command line. Each mode ends with a verdict line
 * "TEST <mode> PASS|FAIL" where it can (see tests/integration/).
 */
#include "guest.h"

static const struct keel_guest_info *gi;
static const char *cmdline = "";
static unsigned int failures;

#define expect(cond) check((cond), #cond, __LINE__)

static bool check(bool ok, const char *what, int line)
{
	if (!ok) {
		printf("check failed (testguest.c:%d): %s\n", line, what);
		failures++;
	}
	return ok;
}

static void verdict(const char *name)
{
	if (failures)
		printf("TEST %s FAIL (%u checks failed)\n", name, failures);
	else
		printf("TEST %s PASS\n", name);
}

static unsigned int popcount(uint64_t v)
{
	unsigned int n = 0;

	for (; v; v &= v - 1)
		n++;
	return n;
}

static uint64_t ram_end(void)
{
	return gi->mem_base + gi->mem_size;
}

/* The info block Keel wrote at RAM + 0x1000, before trusting anything in it. */
static bool info_valid(const struct keel_guest_info *info)
{
	const char *name = info->name;
	size_t i;

	if (info->magic != KEEL_GUEST_INFO_MAGIC || info->size != sizeof(*info))
		return false;
	for (i = 0; i < KEEL_NAME_MAX && name[i]; i++)
		;
	return i > 0 && i < KEEL_NAME_MAX;
}

static void check_info(void)
{
	expect(gi->version == KEEL_ABI_VERSION);
	expect(gi->mem_base == arch_ram_base());
	expect(gi->mem_size && !(gi->mem_size % KEEL_PART_MEM_ALIGN));
	expect((uintptr_t)gi == gi->mem_base + KEEL_GUEST_INFO_OFFSET);
	expect(gi->vcpu_count >= 1);
	expect(gi->cmdline_gpa > (uintptr_t)gi && gi->cmdline_gpa < ram_end());
	expect(strlen(cmdline) == gi->cmdline_len);
	printf("info: name=%s id=%u vcpus=%u mem=0x%lx+0x%lx cmdline='%s'\n", gi->name,
	       gi->partition_id, gi->vcpu_count, gi->mem_base, gi->mem_size, cmdline);
}

static void check_version(void)
{
	struct hc_result r = hc(KEEL_HC_VERSION, 0, 0, 0);

	expect(r.status == KEEL_OK);
	expect(r.r1 == KEEL_ABI_VERSION);
	expect((r.r2 & (KEEL_FEAT_CONSOLE | KEEL_FEAT_SELF_INFO)) ==
	       (KEEL_FEAT_CONSOLE | KEEL_FEAT_SELF_INFO));
	printf("version: status %ld abi %lu.%lu features 0x%lx via %s\n", r.status, r.r1 >> 16,
	       r.r1 & 0xffff, r.r2, arch_conduit_name());
}

static void check_self(void)
{
	struct keel_self_info si;
	struct hc_result r;
	uint64_t total = 0;
	uint32_t i;

	memset(&si, 0xaa, sizeof(si));
	r = hc(KEEL_HC_SELF_INFO, (uintptr_t)&si, sizeof(si), 0);
	if (!expect(r.status == KEEL_OK))
		return;
	expect(r.r1 >= offsetof(struct keel_self_info, regions) && r.r1 <= sizeof(si));
	expect(si.partition_id == gi->partition_id);
	expect(!strncmp(si.name, gi->name, KEEL_NAME_MAX));
	expect(si.vcpu_count == gi->vcpu_count);
	expect(si.this_vcpu == 0);
	expect(popcount(si.cpu_mask) == si.vcpu_count);
	expect(si.region_count >= 1 && si.region_count <= KEEL_MAX_MEM_REGIONS);
	if (si.region_count >= 1 && si.region_count <= KEEL_MAX_MEM_REGIONS) {
		expect(si.regions[0].gpa == gi->mem_base);
		for (i = 0; i < si.region_count; i++)
			total += si.regions[i].size;
		expect(total == gi->mem_size);
	}
	printf("self: name=%s id=%u cpus=0x%lx vcpu=%u/%u flags=0x%x regions=%u\n", si.name,
	       si.partition_id, si.cpu_mask, si.this_vcpu, si.vcpu_count, si.flags,
	       si.region_count);
}

static void ticker(uint64_t count)
{
	uint64_t pace = opt_num(cmdline, "pace", 20000);
	uint64_t n;

	for (n = 1; !count || n <= count; n++) {
		delay(pace);
		printf("tick %lu\n", n);
	}
}

/* What to do after a mode's checks: "then=shutdown" (default), "ticker" or "idle". */
static void finish(void)
{
	char then[16];

	if (!opt_get(cmdline, "then", then, sizeof(then)) || !strcmp(then, "shutdown"))
		guest_shutdown();
	if (!strcmp(then, "ticker"))
		ticker(0);
	for (;;)
		delay(1000000);
}

static void mode_hello(void)
{
	check_info();
	check_version();
	check_self();
	printf("hello from %s\n", gi->name);
	verdict("hello");
}

/* x86: the same checks through VMCALL; aarch64: SMCCC queries, then the checks. */
static void mode_conduit(void)
{
	expect(arch_conduit_test());
	check_version();
	check_self();
	verdict("conduit");
}

static void mode_ticker(void)
{
	check_version();
	ticker(opt_num(cmdline, "count", 0));
	verdict("ticker");
}

/* A load (mode=peek) or store (mode=poke) outside RAM: Keel must stop us. */
static void mode_peek(bool write)
{
	uint64_t addr = opt_num(cmdline, "addr", ram_end());
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)addr;

	printf("%s: %s 0x%lx (RAM is 0x%lx-0x%lx)\n", write ? "poke" : "peek",
	       write ? "writing" : "reading", addr, gi->mem_base, ram_end() - 1);
	arch_map_gpa(addr);
	if (write) {
		*p = 0x6b65656c6b65656cull;
		printf("poke: wrote 0x%lx and was not stopped\n", addr);
	} else {
		printf("peek: read 0x%lx = 0x%lx and was not stopped\n", addr, *p);
	}
	failures++;
	verdict(write ? "poke" : "peek");
}

static void mode_triple(void)
{
	printf("triple: faulting with no exception vectors\n");
	arch_crash();
}

static void mode_shutdown(void)
{
	printf("shutdown: calling KEEL_HC_SHUTDOWN\n");
	guest_shutdown();
}

static void hostile(const char *what, long got, long want)
{
	printf("hostile: %-44s status %ld want %ld %s\n", what, got, want,
	       got == want ? "ok" : "WRONG");
	if (got != want)
		failures++;
}

static void mode_hostile(void)
{
	static const char msg[] = "hostile message\n";
	uint64_t end = ram_end();
	struct keel_self_info si;
	const unsigned char *b = (const unsigned char *)&si;
	struct hc_result r;
	bool intact = true;
	size_t i;

	hostile("console write, GPA at end of RAM", hc(KEEL_HC_CONSOLE_WRITE, end, 16, 0).status,
		-KEEL_EFAULT);
	hostile("console write, range crossing end of RAM",
		hc(KEEL_HC_CONSOLE_WRITE, end - 8, 16, 0).status, -KEEL_EFAULT);
	hostile("console write, range wrapping past 2^64",
		hc(KEEL_HC_CONSOLE_WRITE, ~0ull - 7, 16, 0).status, -KEEL_EFAULT);
	hostile("console write, GPA far outside RAM",
		hc(KEEL_HC_CONSOLE_WRITE, 1ull << 50, 16, 0).status, -KEEL_EFAULT);
	if (gi->mem_base >= 0x1000)
		hostile("console write, GPA below RAM",
			hc(KEEL_HC_CONSOLE_WRITE, gi->mem_base - 0x1000, 16, 0).status,
			-KEEL_EFAULT);
	hostile("console write, length max + 1",
		hc(KEEL_HC_CONSOLE_WRITE, (uintptr_t)msg, KEEL_CONSOLE_WRITE_MAX + 1, 0).status,
		-KEEL_E2BIG);
	hostile("console write, length 2^64 - 1",
		hc(KEEL_HC_CONSOLE_WRITE, (uintptr_t)msg, ~0ull, 0).status, -KEEL_E2BIG);
	hostile("unknown call KEEL_HC_NR_CALLS", hc(KEEL_HC_NR_CALLS, 0, 0, 0).status,
		-KEEL_ENOSYS);
	hostile("unknown call 0x7ff", hc(0x7ff, 1, 2, 3).status, -KEEL_ENOSYS);
	hostile("management call from a normal partition", hc(KEEL_HC_MGMT_FIRST, 0, 0, 0).status,
		-KEEL_EPERM);
	hostile("self info, size 0", hc(KEEL_HC_SELF_INFO, (uintptr_t)&si, 0, 0).status,
		-KEEL_EINVAL);
	hostile("self info, GPA at end of RAM", hc(KEEL_HC_SELF_INFO, end, sizeof(si), 0).status,
		-KEEL_EFAULT);
	hostile("self info, buffer crossing end of RAM",
		hc(KEEL_HC_SELF_INFO, end - 8, sizeof(si), 0).status, -KEEL_EFAULT);
	hostile("self info, buffer wrapping past 2^64",
		hc(KEEL_HC_SELF_INFO, ~0ull - 7, sizeof(si), 0).status, -KEEL_EFAULT);

	/* A short buffer is filled up to its size and not a byte further. */
	memset(&si, 0xaa, sizeof(si));
	r = hc(KEEL_HC_SELF_INFO, (uintptr_t)&si, 8, 0);
	for (i = 8; i < sizeof(si); i++)
		intact &= b[i] == 0xaa;
	hostile("self info, size 8", r.status, KEEL_OK);
	printf("hostile: self info size 8 wrote %lu bytes, rest %s\n", r.r1,
	       intact ? "untouched" : "OVERWRITTEN");
	expect(r.r1 == 8 && intact && si.partition_id == gi->partition_id);

	/* Keel shows bytes outside printable ASCII as '?'. */
	printf("hostile: raw bytes [\x01\x7f\x1b\x80]\n");
	hostile("console write, length 0", hc(KEEL_HC_CONSOLE_WRITE, (uintptr_t)msg, 0, 0).status,
		KEEL_OK);
	check_version();
	verdict("hostile");
}

/*
 * Drive the virtio console wrongly on purpose: each malformed chain must put
 * the device in DEVICE_NEEDS_RESET (status bit 0x40) and nothing else; after a
 * reset it must work again.
 */
static void mode_virtio(void)
{
	static const char *const kinds[] = { "loop", "outside", "jump" };
	uint64_t base = arch_virtio_base();
	const char *why = "";
	char line[96];
	size_t i;

	if (!virtio_console_init(base, &why)) {
		printf("virtio: init failed: %s\n", why);
		failures++;
		verdict("virtio");
		return;
	}
	expect(virtio_console_send(base, "virtio: hello through the virtio console\n"));
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		uint32_t st;

		virtio_console_send_bad(base, kinds[i], ram_end() + 0x1000);
		delay(100);
		st = virtio_status(base);
		printf("virtio: %s -> status 0x%x %s\n", kinds[i], st,
		       (st & 0x40) ? "NEEDS_RESET" : "not reset");
		expect(st & 0x40);
		if (!virtio_console_init(base, &why)) {
			printf("virtio: re-init after %s failed: %s\n", kinds[i], why);
			failures++;
			continue;
		}
		snprintf(line, sizeof(line), "virtio: works again after %s\n", kinds[i]);
		expect(virtio_console_send(base, line));
	}
	verdict("virtio");
}

/*
 * Command line: mode=hello (default) | conduit (alias vmcall) | ticker [count=N] |
 * peek [addr=GPA] | poke [addr=GPA] | triple | shutdown | hostile | virtio; pace=N sets the
 * ticker's delay; then=shutdown (default) | ticker | idle says what follows the
 * checks; vmcall=1 makes every x86_64 call use VMCALL instead of VMMCALL.
 */
void guest_main(const struct keel_guest_info *info)
{
	char mode[16];

	if (!info_valid(info)) {
		printf("TEST boot FAIL: no valid guest info at %p\n", (const void *)info);
		guest_shutdown();
	}
	gi = info;
	cmdline = (const char *)(uintptr_t)info->cmdline_gpa;
	if (!opt_get(cmdline, "mode", mode, sizeof(mode)))
		memcpy(mode, "hello", 6);
	/* "vmcall=1": every call through VMCALL (x86_64; ignored on aarch64). */
	arch_use_vmcall(opt_num(cmdline, "vmcall", 0) != 0);

	if (!strcmp(mode, "hello"))
		mode_hello();
	else if (!strcmp(mode, "conduit") || !strcmp(mode, "vmcall"))
		mode_conduit();
	else if (!strcmp(mode, "ticker"))
		mode_ticker();
	else if (!strcmp(mode, "peek") || !strcmp(mode, "poke"))
		mode_peek(mode[1] == 'o');
	else if (!strcmp(mode, "triple"))
		mode_triple();
	else if (!strcmp(mode, "shutdown"))
		mode_shutdown();
	else if (!strcmp(mode, "hostile"))
		mode_hostile();
	else if (!strcmp(mode, "virtio"))
		mode_virtio();
	else
		printf("TEST %s FAIL: unknown mode\n", mode);
	finish();
}
