/* SPDX-License-Identifier: MIT */
/*
 * The test guest: one image for every integration scenario, its behaviour
 * chosen by "mode=..." on the command line. Each mode ends with a verdict line
 * "TEST <mode> PASS|FAIL" where it can (see tests/integration/).
 */
#include <keel/pci_addr.h>

#include "guest.h"

static const struct keel_guest_info *gi;
static const char *cmdline = "";

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

/*
 * then=keep [every=N]: markers in every register class a core holds for its
 * guest (regs_plant), then read back for ever, a line every N rounds: each
 * must still hold its marker whatever Keel did in between (exits, and PAUSE,
 * which saves the vCPU's state, wipes its core and restores it at RESUME).
 * A register that lost its marker is printed and ends the loop.
 */
static void keep_registers(uint64_t every)
{
	uint64_t n, lost = 0;

	regs_plant();
	for (n = 1; !lost; n++) {
		lost += regs_check(true);
		if (lost || n % every == 0)
			printf("keep: %lu rounds of %u registers, %lu values lost\n", n,
			       reg_checked, lost);
	}
	guest_failures++;
}

/*
 * What to do after a mode's checks: "then=shutdown" (default), "ticker",
 * "idle", "reboot" (after pace=N, default 0) or "keep".
 */
static void finish(void)
{
	char then[16];

	if (!opt_get(cmdline, "then", then, sizeof(then)) || !strcmp(then, "shutdown"))
		guest_shutdown();
	if (!strcmp(then, "keep"))
		keep_registers(opt_num(cmdline, "every", 2000));
	if (!strcmp(then, "reboot")) {
		delay(opt_num(cmdline, "pace", 0));
		hc(KEEL_HC_REBOOT, 0, 0, 0);
	}
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
	guest_failures++;
	verdict(write ? "poke" : "peek");
}

static void mode_triple(void)
{
	printf("triple: faulting with no exception vectors\n");
	arch_crash();
}

/* mode=reboot: reboot at once, each life (a child of the race rounds, on_reboot = restart). */
static void mode_reboot(void)
{
	hc(KEEL_HC_REBOOT, 0, 0, 0);
	printf("TEST reboot FAIL: KEEL_HC_REBOOT returned\n");
}

static void mode_shutdown(void)
{
	printf("shutdown: calling KEEL_HC_SHUTDOWN\n");
	guest_shutdown();
}

/* mode=psci [rounds=N]: a 2-vCPU partition turns its vCPU 1 on and off (aarch64). */
static void mode_psci(void)
{
	expect(arch_psci_cycles((uint32_t)opt_num(cmdline, "rounds", 20)));
	verdict("psci");
}

/* mode=initsipi [rounds=N]: a 2-vCPU partition restarts its vCPU 1 with INIT/SIPI (x86_64). */
static void mode_initsipi(void)
{
	expect(arch_init_sipi_cycles((uint32_t)opt_num(cmdline, "rounds", 10)));
	verdict("initsipi");
}

/* mode=tscleaf: the TSC rate in CPUID leaves 0x15/0x16 where there are any (x86_64). */
static void mode_tscleaf(void)
{
	expect(arch_tsc_leaves());
	verdict("tscleaf");
}

/* mode=nmi: NMI IPIs and CR8 against the architecture (x86_64). */
static void mode_nmi(void)
{
	expect(arch_nmi_conformance());
	verdict("nmi");
}

/* mode=decode: every MMIO instruction form Keel decodes, with a read-back (x86_64). */
static void mode_decode(void)
{
	expect(arch_decode_forms());
	verdict("decode");
}

/*
 * mode=edu: QEMU's edu passed through with keel.cfg pci = (both arches): found
 * on the guest's PCI bus, then its registers, a factorial, DMA both ways, and
 * a DMA beyond RAM that the IOMMU blocks while the guest goes on; then its
 * MSI and INTx (aarch64: INTx only, no MSI yet). lat=N (x86_64): also
 * N MSIs and N self-IPIs timed to the handler (tools/bench_msi.py).
 */
static void mode_edu(void)
{
	expect(arch_edu_drive(gi->mem_base, gi->mem_size, opt_num(cmdline, "lat", 0)));
	verdict("edu");
}

/*
 * mode=aborts: reads, writes and a fetch of a guest-physical hole (2 MiB past
 * RAM) answered as the hardware answers, and the guest goes on (on_fault = deliver).
 */
static void mode_aborts(void)
{
	uint64_t hole = ram_end() + (2u << 20);

	printf("aborts: the hole is at 0x%lx (RAM 0x%lx-0x%lx)\n", hole, gi->mem_base,
	       ram_end() - 1);
	arch_map_gpa(hole);
	expect(arch_abort_conformance(hole));
	verdict("aborts");
}

/* mode=sve: an SVE instruction is undefined, and the guest goes on (aarch64). */
static void mode_sve(void)
{
	expect(arch_sve_conformance());
	verdict("sve");
}

/* mode=pmu: the PMU overflow interrupt against the architecture (aarch64). */
static void mode_pmu(void)
{
	expect(arch_pmu_conformance());
	verdict("pmu");
}

/* mode=timers: the generic timers' interrupts against the architecture (aarch64). */
static void mode_timers(void)
{
	expect(arch_timer_conformance());
	verdict("timers");
}

/* mode=smccc: SMCCC probing as firmware and kernels do it (aarch64). */
static void mode_smccc(void)
{
	expect(arch_smccc_conformance());
	verdict("smccc");
}

static void hostile(const char *what, long got, long want)
{
	printf("hostile: %-44s status %ld want %ld %s\n", what, got, want,
	       got == want ? "ok" : "WRONG");
	if (got != want)
		guest_failures++;
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
		arch_hc_unknown_status());
	hostile("unknown call 0x7ff", hc(0x7ff, 1, 2, 3).status, arch_hc_unknown_status());
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
		guest_failures++;
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
			guest_failures++;
			continue;
		}
		snprintf(line, sizeof(line), "virtio: works again after %s\n", kinds[i]);
		expect(virtio_console_send(base, line));
	}
	verdict("virtio");
}

/* mode=veckeep [rounds=N spin=D]: vector registers across exits (<arch>/veckeep.c). */
static void mode_veckeep(void)
{
	expect(arch_vectors_kept(opt_num(cmdline, "rounds", 200), opt_num(cmdline, "spin", 2000)));
	verdict("veckeep");
}

/* ---- mode=nethostile: a NIC on Keel's switch, used wrongly on purpose ---- */

#define NH_SPOOFED 3u
#define NH_OVERSIZE 2u
#define NH_RUNT 2u
#define NH_GOOD 4u /* and one more after the reset */

/* An Ethernet frame of @len bytes from @src to broadcast, EtherType 0x88b5 (local experimental). */
static void nh_frame(uint8_t *f, uint32_t len, const uint8_t src[6])
{
	memset(f, 0, len);
	memset(f, 0xff, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	if (len > 14)
		memcpy(f + 14, "keel nethostile", len - 14 < 15 ? len - 14 : 15);
}

/* Send @n frames of @len bytes from @src; the device takes each and is not reset. */
static void nh_send(uint64_t base, const char *what, uint32_t n, uint32_t len, const uint8_t src[6])
{
	static uint8_t f[2100];
	uint32_t used = 0, st;

	nh_frame(f, len, src);
	for (uint32_t i = 0; i < n; i++)
		used += vnet_tx(base, f, len);
	st = virtio_status(base);
	printf("nethostile: %s x%u (%u bytes) -> taken %u, status 0x%x%s\n", what, n, len, used, st,
	       (st & 0x40) ? " NEEDS_RESET" : "");
	expect(used == n && !(st & 0x40));
}

/*
 * The partition's vsock device, if it has one, used wrongly: a packet with
 * another source CID (dropped, the device goes on), one whose len says more
 * than it carries (the device must want a reset), a reset; and from then on
 * no receive buffer, so what partitions send to us waits in Keel until it
 * gives up on us (their connection is reset, their other ones go on).
 */
static void nh_vsock(void)
{
	static const char data[10] = "keel vsock";
	uint64_t base = gvsock_find(), cid = 0;
	struct gvsock_hdr h = { .src_cid = 77,
				.dst_cid = 2,
				.src_port = 1000,
				.dst_port = 1,
				.type = 1,
				.op = GVSOCK_OP_REQUEST };
	const char *why = "";
	uint32_t st;
	bool taken;

	if (!base)
		return;
	if (!gvsock_init(base, &cid, &why)) {
		printf("vsockhostile: cannot start: %s\n", why);
		guest_failures++;
		return;
	}
	printf("vsockhostile: cid %lu\n", (unsigned long)cid);
	taken = gvsock_tx(base, &h, sizeof(h), NULL, 0);
	st = virtio_status(base);
	printf("vsockhostile: source cid 77 -> taken %d, status 0x%x%s\n", taken, st,
	       (st & 0x40) ? " NEEDS_RESET" : "");
	expect(taken && !(st & 0x40));
	h.src_cid = cid;
	h.op = 5; /* RW */
	h.len = 100;
	gvsock_tx(base, &h, sizeof(h), data, sizeof(data));
	st = virtio_status(base);
	printf("vsockhostile: len 100 with 10 bytes -> status 0x%x%s\n", st,
	       (st & 0x40) ? " NEEDS_RESET" : "");
	expect(st & 0x40);
	expect(gvsock_init(base, &cid, &why));
	printf("vsockhostile: reset; no receive buffers from now on\n");
}

/*
 * The first virtio-net NIC, on a network beside well-behaved partitions: one
 * receive buffer until a frame from them arrives (they are up), then never
 * one again, so what they send us is dropped at our port (no_buffer) and
 * never holds them up. Good frames, then spoofed source addresses,
 * oversized and runt frames (each dropped and counted, the device going on),
 * then a chain of 8 bytes, shorter than its header (the device must want a
 * reset), a reset and a good frame again; then linger=S seconds (default
 * 20) for their frames to keep coming. Before all that, the vsock device
 * (nh_vsock). Keel's log line as our port leaves the network (at shutdown)
 * gives the counts; wait=S bounds the first wait.
 */
static void mode_nethostile(void)
{
	static const uint8_t spoof[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x66 };
	uint64_t base = vnet_find(), hz = arch_clock_rate(), t0;
	uint64_t wait = opt_num(cmdline, "wait", 300), linger = opt_num(cmdline, "linger", 20);
	uint8_t mac[6], f[64];
	const uint8_t *rx = NULL;
	const char *why = "";
	uint32_t st;
	int len;

	nh_vsock(); /* first: partitions may connect to it early, and must find it stalled */
	if (!base || !vnet_init(base, mac, &why)) {
		printf("nethostile: no NIC: %s\n", base ? why : "no virtio-net device");
		guest_failures++;
		verdict("nethostile");
		return;
	}
	printf("nethostile: nic %02x:%02x:%02x:%02x:%02x:%02x\n", mac[0], mac[1], mac[2], mac[3],
	       mac[4], mac[5]);
	vnet_rx_post(base, 1);
	t0 = arch_clock();
	while ((len = vnet_rx_poll(&rx)) == -1 && arch_clock() - t0 < wait * hz)
		delay(10);
	if (len >= 14)
		printf("nethostile: heard %d bytes from %02x:%02x:%02x:%02x:%02x:%02x\n", len,
		       rx[6], rx[7], rx[8], rx[9], rx[10], rx[11]);
	else
		printf("nethostile: heard nothing in %lu s (%d)\n", (unsigned long)wait, len);
	expect(len >= 14);

	nh_send(base, "good", NH_GOOD, 60, mac);
	nh_send(base, "spoofed", NH_SPOOFED, 60, spoof);
	nh_send(base, "oversize", NH_OVERSIZE, 2014, mac);
	nh_send(base, "runt", NH_RUNT, 10, mac);

	nh_frame(f, sizeof(f), mac);
	vnet_tx_raw(base, 4, f, 4); /* 8 bytes in all: not a whole header, the device stops */
	st = virtio_status(base);
	printf("nethostile: 8-byte chain (header 12) -> status 0x%x%s\n", st,
	       (st & 0x40) ? " NEEDS_RESET" : "");
	expect(st & 0x40);
	expect(vnet_init(base, mac, &why));
	nh_send(base, "good after reset", 1, 60, mac);

	t0 = arch_clock();
	while (arch_clock() - t0 < linger * hz)
		delay(100);
	printf("nethostile: done\n");
	verdict("nethostile");
}

/* ---- mode=netflood: broadcast as fast as Keel takes it, on a Linux guest's cue ---- */

/* "a.b.c.d" into @ip; false if it is not one. */
static bool parse_ipv4(const char *s, uint8_t ip[4])
{
	for (int i = 0; i < 4; i++) {
		uint32_t v = 0, digits = 0;

		while (*s >= '0' && *s <= '9' && digits < 4) {
			v = v * 10 + (uint32_t)(*s++ - '0');
			digits++;
		}
		if (!digits || v > 255 || (i < 3 && *s++ != '.'))
			return false;
		ip[i] = (uint8_t)v;
	}
	return *s == '\0';
}

/* An ARP request (EtherType 0x0806, opcode 1) asking for @ip. */
static bool is_arp_for(const uint8_t *f, int len, const uint8_t ip[4])
{
	return len >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[20] == 0 && f[21] == 1 &&
	       !memcmp(f + 38, ip, 4);
}

/*
 * A well-behaved NIC (it keeps its receive queue full) that waits for an ARP
 * request for target=IP, an address nobody has (the init's keel.netflood
 * cue), then sends 1514-byte broadcast frames as fast as Keel takes them for
 * for=S seconds (default 10): each reaches every other port of the network.
 * Says how many it sent, then idles.
 */
static void mode_netflood(void)
{
	uint64_t base = vnet_find(), hz = arch_clock_rate(), t0, t1, secs;
	uint64_t sent = 0, wait = opt_num(cmdline, "wait", 600);
	static uint8_t f[1514];
	uint8_t mac[6], ip[4];
	const uint8_t *rx;
	const char *why = "";
	char target[20];
	bool cued = false;
	int len;

	secs = opt_num(cmdline, "for", 10);
	if (!opt_get(cmdline, "target", target, sizeof(target)) || !parse_ipv4(target, ip) ||
	    !base || !vnet_init(base, mac, &why) || !hz) {
		printf("netflood: cannot start (target=a.b.c.d, a NIC, a clock): %s\n", why);
		guest_failures++;
		verdict("netflood");
		return;
	}
	vnet_rx_post(base, 8);
	t0 = arch_clock();
	while (!cued && arch_clock() - t0 < wait * hz) {
		while ((len = vnet_rx_poll(&rx)) != -1) {
			cued |= len > 0 && is_arp_for(rx, len, ip);
			vnet_rx_post(base, 1);
		}
		delay(10);
	}
	expect(cued);
	printf("netflood: %s; flooding for %lu s\n", cued ? "cued" : "no cue", (unsigned long)secs);
	nh_frame(f, sizeof(f), mac);
	t0 = arch_clock();
	do {
		sent += vnet_tx_burst(base, f, sizeof(f), 64);
		while (vnet_rx_poll(&rx) != -1)
			vnet_rx_post(base, 1);
		t1 = arch_clock();
	} while (t1 - t0 < secs * hz);
	printf("netflood: sent %lu frames (%lu bytes) in %lu ms: %lu frames/s\n",
	       (unsigned long)sent, (unsigned long)(sent * sizeof(f)),
	       (unsigned long)((t1 - t0) * 1000 / hz), (unsigned long)(sent * hz / (t1 - t0)));
	expect(sent > 0);
	verdict("netflood");
}

/* ---- mode=manage and mode=denied: the management calls (docs/management-abi.md) ---- */

#define MANAGE_POLLS 4000u
#define MANAGE_PACE 2000u

static bool host_info(struct keel_host_info *hi)
{
	struct hc_result r = hc(KEEL_HC_MGMT_HOST_INFO, (uintptr_t)hi, sizeof(*hi), 0);

	return expect(r.status == KEEL_OK && r.r1 == sizeof(*hi));
}

static uint32_t part_state(uint32_t id, struct keel_part_stats *ps)
{
	struct hc_result r = hc(KEEL_HC_MGMT_STATS, id, (uintptr_t)ps, sizeof(*ps));

	return r.status == KEEL_OK ? ps->status.state : 0;
}

/* A child's description: this ELF (our initrd) as its kernel, on no cores yet. */
static void child_desc(struct mg_desc *c, const char *name, uint64_t mem, uint32_t flags,
		       const char *cmd)
{
	mg_desc_init(c, name, mem, flags, cmd, gi->initrd_size);
}

/* Create "child" on @cpus from the ELF Keel gave us as our initrd; returns its id or 0. */
static uint32_t manage_create(uint64_t cpus)
{
	static struct mg_desc c;
	struct hc_result r;

	child_desc(&c, "child", 16u << 20, KEEL_PD_REBOOT_STOP, "mode=hello then=keep every=500");
	c.h.cpu_mask = cpus;
	r = hc(KEEL_HC_MGMT_CREATE, (uintptr_t)&c, sizeof(c), 0);
	printf("manage: create child on cpus 0x%lx: status %ld id %lu\n", cpus, r.status, r.r1);
	hostile("create again with the same name",
		hc(KEEL_HC_MGMT_CREATE, (uintptr_t)&c, sizeof(c), 0).status, -KEEL_EEXIST);
	return expect(r.status == KEEL_OK) ? (uint32_t)r.r1 : 0;
}

/* Copy our initrd (the test guest ELF) into its kernel image, a chunk at a time. */
static void manage_copy_kernel(uint32_t id)
{
	struct keel_mgmt_load l = { id, MG_IMAGE_KERNEL, 0, gi->initrd_gpa, 0 };
	uint64_t off;

	for (off = 0; off < gi->initrd_size; off += KEEL_MGMT_LOAD_MAX) {
		l.offset = off;
		l.src_gpa = gi->initrd_gpa + off;
		l.len = gi->initrd_size - off;
		if (l.len > KEEL_MGMT_LOAD_MAX)
			l.len = KEEL_MGMT_LOAD_MAX;
		expect(hc(KEEL_HC_MGMT_LOAD, (uintptr_t)&l, sizeof(l), 0).status == KEEL_OK);
	}
}

static void manage_load(uint32_t id)
{
	struct keel_mgmt_load l = { id, MG_IMAGE_KERNEL, 0, gi->initrd_gpa, 0 };

	manage_copy_kernel(id);
	printf("manage: loaded %lu bytes\n", gi->initrd_size);
	l.offset = 0;
	l.len = KEEL_MGMT_LOAD_MAX + 1;
	hostile("load, length max + 1", hc(KEEL_HC_MGMT_LOAD, (uintptr_t)&l, sizeof(l), 0).status,
		-KEEL_E2BIG);
	l.len = 16;
	l.src_gpa = ram_end() - 8;
	hostile("load, source crossing end of RAM",
		hc(KEEL_HC_MGMT_LOAD, (uintptr_t)&l, sizeof(l), 0).status, -KEEL_EFAULT);
	l.src_gpa = gi->initrd_gpa;
	l.offset = gi->initrd_size;
	hostile("load, past the declared size",
		hc(KEEL_HC_MGMT_LOAD, (uintptr_t)&l, sizeof(l), 0).status, -KEEL_EINVAL);
}

/* Read the child's console until it gave its verdict; print each line seen. */
static void manage_watch(uint32_t id)
{
	static char text[8192];
	struct keel_mgmt_console c = { id, 256, 0, 0 };
	size_t len = 0, shown = 0;
	uint32_t i;

	for (i = 0; i < MANAGE_POLLS && !find_text(text, len, "TEST hello "); i++) {
		struct hc_result r;

		c.buf_gpa = (uintptr_t)text + len;
		c.len = sizeof(text) - 1 - len < 256 ? sizeof(text) - 1 - len : 256;
		r = hc(KEEL_HC_MGMT_CONSOLE_READ, (uintptr_t)&c, sizeof(c), 0);
		if (!expect(r.status == KEEL_OK) || !c.len)
			break;
		len += r.r1;
		c.cursor = r.r2;
		if (!r.r1)
			delay(MANAGE_PACE);
	}
	text[len] = '\0';
	while (shown < len) {
		size_t end = shown;

		while (end < len && text[end] != '\n')
			end++;
		text[end] = '\0';
		printf("manage: child said: %s\n", text + shown);
		shown = end + 1;
	}
	expect(find_text(text, len, "TEST hello PASS") != NULL);
}

static uint64_t exits_total(const struct keel_part_stats *ps)
{
	uint64_t n = 0;

	for (uint32_t k = 0; k < KEEL_EXIT_KINDS; k++)
		n += ps->exits[k];
	return n;
}

/*
 * PAUSE returns once the child's vCPU has parked: the STATS right after shows
 * it parked, and the child makes no exit until RESUME. Then pauses=N more
 * cycles while the child counts, each checked the same way.
 */
static void manage_pause(uint32_t id)
{
	uint64_t n = opt_num(cmdline, "pauses", 0), i, moved = 0, unparked = 0, before;
	struct keel_part_stats ps, later;

	expect(hc(KEEL_HC_MGMT_PAUSE, id, 0, 0).status == KEEL_OK);
	expect(part_state(id, &ps) == KEEL_PSTATE_PAUSED);
	printf("manage: paused: state %u, %u of %u vCPUs parked\n", ps.status.state,
	       ps.vcpus_parked, ps.status.vcpu_count);
	expect(ps.vcpus_parked == ps.status.vcpu_count);
	expect(hc(KEEL_HC_MGMT_RESUME, id, 0, 0).status == KEEL_OK);
	expect(part_state(id, &ps) == KEEL_PSTATE_RUNNING);
	printf("manage: resumed: state %u hypercalls %lu exits(hypercall) %lu\n", ps.status.state,
	       ps.hypercalls, ps.exits[KEEL_EXIT_HYPERCALL]);
	expect(ps.hypercalls > 0);
	before = ps.console_bytes;
	for (i = 0; i < n; i++) {
		if (hc(KEEL_HC_MGMT_PAUSE, id, 0, 0).status != KEEL_OK ||
		    part_state(id, &ps) != KEEL_PSTATE_PAUSED)
			break;
		unparked += ps.vcpus_parked != ps.status.vcpu_count;
		delay(200);
		part_state(id, &later);
		moved += exits_total(&later) != exits_total(&ps) ||
			 later.console_bytes != ps.console_bytes;
		if (hc(KEEL_HC_MGMT_RESUME, id, 0, 0).status != KEEL_OK)
			break;
		delay(1000); /* the child counts on */
	}
	part_state(id, &ps);
	if (n) {
		printf("manage: %lu pause/resume cycles: %lu with a vCPU not parked, %lu with the "
		       "child moving while paused; it wrote %lu console bytes meanwhile\n",
		       i, unparked, moved, ps.console_bytes - before);
		expect(i == n && !unparked && !moved && ps.console_bytes > before);
	}
}

/* STOP with a short timeout: Keel forces the stop when it expires. */
static void manage_stop(uint32_t id)
{
	struct keel_part_stats ps;
	uint32_t i, st = 0;

	expect(hc(KEEL_HC_MGMT_STOP, id, 200, 0).status == KEEL_OK);
	for (i = 0; i < MANAGE_POLLS; i++) {
		st = part_state(id, &ps);
		if (st == KEEL_PSTATE_STOPPED)
			break;
		delay(MANAGE_PACE);
	}
	printf("manage: stop: state %u after %u polls, ran %lu ms\n", st, i,
	       ps.status.run_ns / 1000000);
	expect(st == KEEL_PSTATE_STOPPED);
}

/* The id of the partition called @name in the list (printed if @show), or 0. */
static uint32_t manage_find(const char *name, bool show)
{
	struct keel_part_status list[KEEL_MAX_PARTITIONS];
	struct hc_result r = hc(KEEL_HC_MGMT_LIST, (uintptr_t)list, KEEL_MAX_PARTITIONS, 0);
	uint32_t i, n, id = 0;

	if (!expect(r.status == KEEL_OK))
		return 0;
	n = (uint32_t)r.r1;
	for (i = 0; i < n; i++) {
		if (show)
			printf("manage: list: id %u %s state %u cpus 0x%lx mem %lu MiB\n",
			       list[i].id, list[i].name, list[i].state, list[i].cpu_mask,
			       list[i].mem_size >> 20);
		if (!strcmp(list[i].name, name))
			id = list[i].id;
	}
	return id;
}

/*
 * Keel boots 'plain' (mode=denied) after starting us. Wait until it has made
 * its 4 refused calls: by then Keel has taken all it takes for it (RAM,
 * stage-2 tables, devices, vCPU state), so free memory measured from here on
 * moves only with our own create/destroy cycles.
 */
static uint32_t manage_wait_plain(void)
{
	struct keel_part_stats ps = { 0 };
	uint32_t i, plain = 0;

	for (i = 0; i < MANAGE_POLLS; i++) {
		if (!plain)
			plain = manage_find("plain", false);
		if (plain && part_state(plain, &ps) == KEEL_PSTATE_RUNNING && ps.denied >= 4)
			break;
		delay(MANAGE_PACE);
	}
	printf("manage: plain was refused %lu management calls\n", ps.denied);
	expect(plain != 0 && ps.denied == 4);
	return plain;
}

/* The plain partition's refusals are still counted once; stop it. */
static void manage_check_denied(uint32_t plain)
{
	struct keel_part_stats ps = { 0 };

	expect(manage_find("plain", true) == plain && plain != 0);
	if (!plain)
		return;
	part_state(plain, &ps);
	expect(ps.denied == 4);
	expect(hc(KEEL_HC_MGMT_STOP, plain, 0, KEEL_STOP_FORCE).status == KEEL_OK);
}

/*
 * cycles=N: N quick create/start/force-stop/destroy cycles of a child on the
 * lowest and the highest free CPU in turn, the stop a random short while after
 * the start (often before the child's CPU has entered it). A stop that does
 * not end in STOPPED within 200000 STATS calls is a hang.
 */
static void manage_cycles(uint64_t n)
{
	static struct mg_desc c;
	struct keel_host_info hi;
	uint64_t i, polls = 0, seed = 12345;
	uint32_t early = 0, st = KEEL_PSTATE_STOPPED;

	if (!host_info(&hi) || !expect(hi.free_cpu_mask != 0))
		return;
	child_desc(&c, "cyc", 16u << 20, KEEL_PD_REBOOT_STOP, "mode=conduit then=idle");
	for (i = 0; i < n && st == KEEL_PSTATE_STOPPED && !guest_failures; i++) {
		uint64_t free = hi.free_cpu_mask, wait;
		struct keel_part_stats ps = { 0 };
		struct hc_result r;
		uint32_t id;

		c.h.cpu_mask = (i & 1) ? 1ull << (63 - __builtin_clzll(free)) : free & -free;
		/* The last cycle's CPU may still be on its way out (-EBUSY) for a moment. */
		for (polls = 0; polls < 100000; polls++) {
			r = hc(KEEL_HC_MGMT_CREATE, (uintptr_t)&c, sizeof(c), 0);
			if (r.status != -KEEL_EBUSY)
				break;
		}
		if (!expect(r.status == KEEL_OK))
			break;
		id = (uint32_t)r.r1;
		manage_copy_kernel(id);
		expect(hc(KEEL_HC_MGMT_START, id, 0, 0).status == KEEL_OK);
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		wait = (seed >> 33) % 400;
		delay(wait);
		expect(hc(KEEL_HC_MGMT_STOP, id, 0, KEEL_STOP_FORCE).status == KEEL_OK);
		for (polls = 0; polls < 200000; polls++) {
			st = part_state(id, &ps);
			if (st == KEEL_PSTATE_STOPPED)
				break;
		}
		if (st != KEEL_PSTATE_STOPPED) {
			printf("cycles: cycle %lu on cpus 0x%lx (wait %lu) did not stop: state %u, exits(hypercall) %lu\n",
			       i, c.h.cpu_mask, wait, st, ps.exits[KEEL_EXIT_HYPERCALL]);
			break;
		}
		early += ps.exits[KEEL_EXIT_HYPERCALL] == 0;
		expect(hc(KEEL_HC_MGMT_DESTROY, id, 0, 0).status == KEEL_OK);
	}
	printf("cycles: %lu cycles, %u stopped before the child's first call\n", i, early);
	expect(i == n && st == KEEL_PSTATE_STOPPED);
}

/*
 * races=N: N rounds of destroy racing stop racing a guest reboot. Each round
 * creates "rbt" (on_reboot = restart) running mode=reboot, so Keel rebuilds
 * it in its slot over and over; after a random while the manager stops it
 * (forced, or asked with a timeout, in turn) while it may be running, going
 * down or being rebuilt, and calls DESTROY until it is taken. Every round
 * must end with the slot free; at the end free memory and cores are what they
 * were before the first round, to the byte.
 */
#define RACE_DESTROY_POLLS 400000u

struct race_tally {
	uint64_t restarts; /* seen in STATS just before the stop */
	uint64_t at_stop[KEEL_PSTATE_BUILDING + 1]; /* the state STATS gave just before it */
	uint64_t destroy_busy; /* DESTROYs refused while it went down */
	uint64_t asked_by_reboot; /* asked stops the guest's next reboot answered */
	uint64_t asked; /* asked stops whose cause the manager saw */
	uint64_t forced_seen; /* forced stops whose cause the manager saw */
};

static uint32_t race_create(struct mg_desc *c, uint64_t round)
{
	struct keel_host_info hi;
	struct hc_result r;
	uint64_t polls;

	if (!host_info(&hi) || !expect(hi.free_cpu_mask != 0))
		return 0;
	c->h.cpu_mask = (round & 1) ? 1ull << (63 - __builtin_clzll(hi.free_cpu_mask))
				    : hi.free_cpu_mask & -hi.free_cpu_mask;
	/* The last round's CPU may still be on its way out (-EBUSY) for a moment. */
	for (polls = 0; polls < 100000; polls++) {
		r = hc(KEEL_HC_MGMT_CREATE, (uintptr_t)c, sizeof(*c), 0);
		if (r.status != -KEEL_EBUSY)
			break;
	}
	if (!expect(r.status == KEEL_OK))
		return 0;
	return (uint32_t)r.r1;
}

/* DESTROY until it is taken; STATS in between records how it stopped. */
static bool race_destroy(uint32_t id, bool forced, struct race_tally *t)
{
	struct keel_part_stats ps;
	uint64_t polls;

	for (polls = 0; polls < RACE_DESTROY_POLLS; polls++) {
		if (hc(KEEL_HC_MGMT_DESTROY, id, 0, 0).status == KEEL_OK)
			return true;
		t->destroy_busy++;
		memset(&ps, 0, sizeof(ps));
		if (part_state(id, &ps) != KEEL_PSTATE_STOPPED)
			continue;
		if (forced) {
			t->forced_seen++;
			expect(ps.stop_cause == KEEL_STOP_CAUSE_FORCED);
		} else {
			t->asked++;
			t->asked_by_reboot += ps.stop_cause == KEEL_STOP_CAUSE_GUEST;
			/* Its next reboot (or the one under way) answers; the 10 s timer never fires. */
			expect(ps.stop_cause == KEEL_STOP_CAUSE_GUEST);
		}
	}
	printf("races: rbt (id %u) was not taken by DESTROY: state %u\n", id, part_state(id, &ps));
	return false;
}

static void manage_races(uint64_t n)
{
	static struct mg_desc c;
	struct keel_host_info before, after;
	struct race_tally t = { 0 };
	uint64_t i, seed = 424242;

	if (!host_info(&before))
		return;
	child_desc(&c, "rbt", 4u << 20, 0 /* on_reboot = restart */, "mode=reboot");
	for (i = 0; i < n && !guest_failures; i++) {
		struct keel_part_stats ps = { 0 };
		bool forced = i & 2;
		uint32_t id = race_create(&c, i), st;

		if (!id)
			break;
		manage_copy_kernel(id);
		expect(hc(KEEL_HC_MGMT_START, id, 0, 0).status == KEEL_OK);
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		delay((seed >> 33) % 3000);
		/* Running, going down or being rebuilt: never destroyable before a stop. */
		expect(hc(KEEL_HC_MGMT_DESTROY, id, 0, 0).status == -KEEL_EBUSY);
		st = part_state(id, &ps);
		t.restarts += ps.restarts;
		if (st <= KEEL_PSTATE_BUILDING)
			t.at_stop[st]++;
		expect(hc(KEEL_HC_MGMT_STOP, id, forced ? 0 : 10000, forced ? KEEL_STOP_FORCE : 0)
			       .status == KEEL_OK);
		if (!race_destroy(id, forced, &t))
			break;
		expect(part_state(id, &ps) == 0); /* the id names nothing any more */
	}
	host_info(&after);
	printf("races: %lu rounds, %lu restarts; at the stop %lu running, %lu stopping, %lu "
	       "building; %lu DESTROYs refused on the way down; %lu of %lu asked stops seen "
	       "answered by a reboot, %lu forced seen\n",
	       i, t.restarts, t.at_stop[KEEL_PSTATE_RUNNING], t.at_stop[KEEL_PSTATE_STOPPING],
	       t.at_stop[KEEL_PSTATE_BUILDING], t.destroy_busy, t.asked_by_reboot, t.asked,
	       t.forced_seen);
	printf("races: free memory %lu bytes before, %lu after; free cpus 0x%lx before, 0x%lx "
	       "after; %u partitions before, %u after\n",
	       before.mem_free, after.mem_free, before.free_cpu_mask, after.free_cpu_mask,
	       before.part_count, after.part_count);
	expect(i == n);
	expect(after.mem_free == before.mem_free && after.free_cpu_mask == before.free_cpu_mask &&
	       after.part_count == before.part_count);
}

static void mode_manage(void)
{
	struct keel_host_info before, after;
	uint32_t id, plain;

	if (opt_num(cmdline, "cycles", 0)) {
		manage_cycles(opt_num(cmdline, "cycles", 0));
		verdict("cycles");
		return;
	}
	if (opt_num(cmdline, "races", 0)) {
		manage_races(opt_num(cmdline, "races", 0));
		verdict("races");
		return;
	}

	if (!host_info(&before) || !expect(gi->initrd_size != 0)) {
		verdict("manage");
		return;
	}
	printf("manage: host: %u cpus, free 0x%lx, %lu MiB free of %lu, %u partitions\n",
	       before.cpu_count, before.free_cpu_mask, before.mem_free >> 20,
	       before.mem_total >> 20, before.part_count);
	hostile("stop myself", hc(KEEL_HC_MGMT_STOP, gi->partition_id, 0, 0).status, -KEEL_EPERM);
	hostile("start an unknown partition", hc(KEEL_HC_MGMT_START, 99, 0, 0).status,
		-KEEL_ENOENT);
	plain = manage_wait_plain();
	if (!host_info(&before)) {
		verdict("manage");
		return;
	}
	id = manage_create(before.free_cpu_mask & -before.free_cpu_mask);
	if (!id) {
		verdict("manage");
		return;
	}
	manage_load(id);
	expect(hc(KEEL_HC_MGMT_START, id, 0, 0).status == KEEL_OK);
	manage_watch(id);
	manage_pause(id);
	manage_stop(id);
	expect(hc(KEEL_HC_MGMT_DESTROY, id, 0, 0).status == KEEL_OK);
	host_info(&after);
	printf("manage: first cycle: free memory %lu bytes before, %lu after destroy\n",
	       before.mem_free, after.mem_free);
	/* Every cycle, the first after boot included, gives back every byte it took. */
	expect(after.mem_free == before.mem_free);
	before = after;
	id = manage_create(before.free_cpu_mask & -before.free_cpu_mask);
	manage_load(id);
	expect(hc(KEEL_HC_MGMT_START, id, 0, 0).status == KEEL_OK);
	manage_watch(id);
	expect(hc(KEEL_HC_MGMT_STOP, id, 0, KEEL_STOP_FORCE).status == KEEL_OK);
	while (part_state(id, &(struct keel_part_stats){ 0 }) != KEEL_PSTATE_STOPPED)
		delay(MANAGE_PACE);
	expect(hc(KEEL_HC_MGMT_DESTROY, id, 0, 0).status == KEEL_OK);
	host_info(&after);
	printf("manage: second cycle: free memory %lu bytes before, %lu after destroy\n",
	       before.mem_free, after.mem_free);
	expect(after.mem_free == before.mem_free);
	manage_check_denied(plain);
	verdict("manage");
}

/* A normal partition tries management calls: each must be refused. */
static void mode_denied(void)
{
	static const uint64_t calls[] = { KEEL_HC_MGMT_HOST_INFO, KEEL_HC_MGMT_CREATE,
					  KEEL_HC_MGMT_DESTROY, KEEL_HC_MGMT_CONSOLE_READ };
	size_t i;

	for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		hostile("management call from a normal partition", hc(calls[i], 1, 0, 0).status,
			-KEEL_EPERM);
	verdict("denied");
}

/*
 * ---- mode=pcihandoff pci=SEG:BUS:DEV.FN: a PCI function handed from child to child ----
 *
 * As the management partition (keel.cfg initrd = this ELF): child 'first'
 * gets the function (a KEEL_DEV_PCI entry) and drives it (mode=edu), stops by
 * itself and is destroyed; PCI_LIST shows the owner come and go. Then the
 * manager waits for a go-ahead (a word in its RAM that a test writes from
 * outside once it has read the function's command register), and child
 * 'second' is created without it and gets it by PCI_ASSIGN (1.4): assigned,
 * released, assigned again, with the refusals of both calls checked. While
 * 'second' holds it, a third CREATE naming it is refused (-KEEL_EBUSY), and
 * one naming a function the host does not have (-KEEL_ENODEV). Then
 * 'second' drives it, and once it runs neither call touches it (-KEEL_EBUSY).
 */
#define HANDOFF_MEM (16u << 20)
#define HANDOFF_GHOST KEEL_PCI_ADDR(0, 0, 0x1c, 7) /* no such function on q35 */
#define HANDOFF_NOT_LISTED 0xfffffffeu /* handoff_owner: the function is not in PCI_LIST */
#define HANDOFF_STOP_POLLS 200000u /* STATS calls, each after delay(100) */
#define HANDOFF_WAITING 0x54494157u /* "WAIT": the go-ahead word while the manager waits */
#define HANDOFF_GO 0x4e4f4f47u /* "GOON": what the test writes there */
#define HANDOFF_GO_TICKS (120ull * 1000000000ull) /* clock ticks: 40-120 s at 1-3 GHz */

struct handoff_desc {
	struct mg_desc m;
	struct keel_pd_device pci;
};
_Static_assert(sizeof(struct handoff_desc) == KEEL_PDESC_SIZE(1, 1, 4), "packed description");

static volatile uint32_t handoff_go = HANDOFF_WAITING;

/* "SEG:BUS:DEV.FN" in hex (as Keel and lspci print it) as KEEL_PCI_ADDR; false if malformed. */
static bool handoff_parse(const char *s, uint32_t *addr)
{
	uint32_t bad;

	return keel_pci_addr_parse(s, addr, &bad) == KEEL_PCI_PARSE_OK;
}

/* The owner PCI_LIST gives for @addr (KEEL_PCI_OWNER_NONE, an id), or HANDOFF_NOT_LISTED. */
static uint32_t handoff_owner(uint32_t addr, struct keel_pci_dev *found)
{
	static struct keel_pci_dev list[64];
	struct hc_result r = hc(KEEL_HC_MGMT_PCI_LIST, (uintptr_t)list, 64, 0);
	uint64_t i;

	if (!expect(r.status == KEEL_OK && r.r1 <= 64))
		return HANDOFF_NOT_LISTED;
	for (i = 0; i < r.r1; i++) {
		if (list[i].segment != KEEL_PCI_ADDR_SEG(addr) ||
		    list[i].bdf != KEEL_PCI_ADDR_BDF(addr))
			continue;
		if (found)
			*found = list[i];
		return list[i].owner;
	}
	return HANDOFF_NOT_LISTED;
}

static const char *handoff_owner_name(uint32_t owner, char *buf, size_t len)
{
	if (owner == KEEL_PCI_OWNER_NONE)
		return "none";
	if (owner == HANDOFF_NOT_LISTED)
		return "(not listed)";
	snprintf(buf, len, "id %u", owner);
	return buf;
}

/* PCI_LIST's owner of @addr now, printed after @when; true if it is @want. */
static bool handoff_check_owner(uint32_t addr, const char *when, uint32_t want)
{
	char got_s[16], want_s[16];
	uint32_t got = handoff_owner(addr, NULL);

	printf("pcihandoff: %s: pci_list owner of %04x:%02x:%02x.%x: %s (want %s)\n", when,
	       KEEL_PCI_ADDR_SEG(addr), KEEL_PCI_ADDR_BDF(addr) >> 8,
	       (KEEL_PCI_ADDR_BDF(addr) >> 3) & 0x1f, KEEL_PCI_ADDR_BDF(addr) & 7,
	       handoff_owner_name(got, got_s, sizeof(got_s)),
	       handoff_owner_name(want, want_s, sizeof(want_s)));
	return expect(got == want);
}

/*
 * CREATE @name on @cpus with @pci as its one PCI function (HANDOFF_NONE: no
 * PCI entry): the status, *@id on success.
 */
#define HANDOFF_NONE 0xffffffffu
static long handoff_create(const char *name, uint64_t cpus, uint32_t pci, uint32_t *id)
{
	static struct handoff_desc d;
	struct hc_result r;

	mg_desc_init(&d.m, name, HANDOFF_MEM, KEEL_PD_REBOOT_STOP, "mode=edu then=shutdown",
		     gi->initrd_size);
	d.m.h.cpu_mask = cpus;
	if (pci != HANDOFF_NONE) {
		d.m.h.size = sizeof(d);
		d.m.h.device_count = 4;
		d.pci = (struct keel_pd_device){ .type = KEEL_DEV_PCI, .backend = pci };
	}
	r = hc(KEEL_HC_MGMT_CREATE, (uintptr_t)&d, d.m.h.size, 0);
	*id = r.status == KEEL_OK ? (uint32_t)r.r1 : 0;
	printf("pcihandoff: create %s on cpus 0x%lx: status %ld id %u\n", name, cpus, r.status,
	       *id);
	return r.status;
}

/* PCI_ASSIGN (@assign) or PCI_RELEASE of @pci for @id: true if the status is @want. */
static bool handoff_change(bool assign, uint32_t id, uint32_t pci, long want, const char *why)
{
	long st =
		hc(assign ? KEEL_HC_MGMT_PCI_ASSIGN : KEEL_HC_MGMT_PCI_RELEASE, id, pci, 0).status;

	printf("pcihandoff: %s %s: status %ld (want %ld)\n", assign ? "assign" : "release", why, st,
	       want);
	return expect(st == want);
}

/* The lowest free core but those of @but, or 0. */
static uint64_t handoff_free_cpu(uint64_t but)
{
	struct keel_host_info hi;
	uint64_t free;

	if (!host_info(&hi))
		return 0;
	free = hi.free_cpu_mask & ~but;
	return free & -free;
}

/*
 * Child @name (created, holding @pci): load, start, wait until it stopped by
 * itself, look for its verdict in its console, destroy it. True if all of it
 * went as it should.
 */
static bool handoff_run(const char *name, uint32_t id, uint32_t pci)
{
	struct keel_part_stats ps = { 0 };
	char prefix[40];
	bool stopped, passed;

	if (!expect(mg_load_kernel(id, gi->initrd_gpa, gi->initrd_size)) ||
	    !expect(hc(KEEL_HC_MGMT_START, id, 0, 0).status == KEEL_OK)) {
		expect(mg_takedown(id));
		return false;
	}
	printf("pcihandoff: %s started\n", name);
	/* Started (or stopped already): its functions stay as they are. */
	handoff_change(false, id, pci, -KEEL_EBUSY, "once started");
	stopped = mg_wait_state(id, KEEL_PSTATE_STOPPED, HANDOFF_STOP_POLLS);
	mg_state(id, &ps);
	printf("pcihandoff: %s %s: cause %u (%s)\n", name,
	       stopped ? "stopped by itself" : "did not stop in time", ps.stop_cause,
	       ps.stop_reason);
	expect(stopped && ps.stop_cause == KEEL_STOP_CAUSE_GUEST);
	snprintf(prefix, sizeof(prefix), "pcihandoff: %s said: ", name);
	passed = mg_watch(id, "TEST edu PASS", prefix, 1000);
	printf("pcihandoff: %s: TEST edu PASS %s\n", name, passed ? "seen" : "NOT seen");
	expect(passed);
	if (stopped)
		expect(hc(KEEL_HC_MGMT_DESTROY, id, 0, 0).status == KEEL_OK);
	else
		expect(mg_takedown(id));
	printf("pcihandoff: %s destroyed\n", name);
	return stopped && passed && handoff_check_owner(pci, "no owner", KEEL_PCI_OWNER_NONE);
}

/*
 * 'second' (@id, created without a PCI entry) gets @pci by ASSIGN, gives it
 * back by RELEASE and gets it again; the owner follows; the refusals.
 */
static bool handoff_assign(uint32_t id, uint32_t pci)
{
	bool ok = handoff_check_owner(pci, "second created without it", KEEL_PCI_OWNER_NONE);

	ok &= handoff_change(true, id, pci, KEEL_OK, "to second");
	ok &= handoff_check_owner(pci, "assigned", id);
	ok &= handoff_change(true, id, pci, -KEEL_EEXIST, "again");
	ok &= handoff_change(true, id, HANDOFF_GHOST, -KEEL_ENODEV, "of 0000:00:1c.7");
	ok &= handoff_change(true, id, KEEL_PCI_ADDR(0, 0, 0, 0), -KEEL_ENODEV,
			     "of the host bridge");
	ok &= handoff_change(false, id, pci, KEEL_OK, "from second");
	ok &= handoff_check_owner(pci, "released", KEEL_PCI_OWNER_NONE);
	ok &= handoff_change(false, id, pci, -KEEL_ENOENT, "again");
	ok &= handoff_change(true, id, pci, KEEL_OK, "to second again");
	return ok & handoff_check_owner(pci, "assigned again", id);
}

/* Tell where the go-ahead word is, then wait (bounded) until a test outside writes it. */
static void handoff_wait_go(void)
{
	uint64_t start = arch_clock(), polls = 0;

	printf("pcihandoff: first destroyed; waiting for the go-ahead at RAM + 0x%lx "
	       "(guest-physical 0x%lx)\n",
	       (uintptr_t)&handoff_go - gi->mem_base, (uintptr_t)&handoff_go);
	while (handoff_go != HANDOFF_GO && arch_clock() - start < HANDOFF_GO_TICKS) {
		delay(100);
		polls++;
	}
	printf("pcihandoff: go-ahead %s after %lu polls\n",
	       handoff_go == HANDOFF_GO ? "seen" : "NOT seen", polls);
	expect(handoff_go == HANDOFF_GO);
}

/* While 'second' holds @pci: CREATE naming it is refused, and naming a function not there. */
static void handoff_refusals(uint64_t second_cpu, uint32_t pci)
{
	uint64_t cpu = handoff_free_cpu(second_cpu);
	uint32_t id;
	long st;

	/* On a free core of its own: only the function can make it busy. */
	if (!expect(cpu != 0))
		return;
	st = handoff_create("taken", cpu, pci, &id);
	printf("pcihandoff: taken function: status %ld (want %d)\n", st, -KEEL_EBUSY);
	if (!expect(st == -KEEL_EBUSY) && id)
		expect(hc(KEEL_HC_MGMT_DESTROY, id, 0, 0).status == KEEL_OK);
	printf("pcihandoff: 0000:00:1c.7 %s in pci_list\n",
	       handoff_owner(HANDOFF_GHOST, NULL) == HANDOFF_NOT_LISTED ? "is not" : "IS");
	expect(handoff_owner(HANDOFF_GHOST, NULL) == HANDOFF_NOT_LISTED);
	st = handoff_create("ghost", cpu, HANDOFF_GHOST, &id);
	printf("pcihandoff: missing function: status %ld (want %d)\n", st, -KEEL_ENODEV);
	if (!expect(st == -KEEL_ENODEV) && id)
		expect(hc(KEEL_HC_MGMT_DESTROY, id, 0, 0).status == KEEL_OK);
}

static void handoff_steps(void)
{
	struct keel_pci_dev dev = { 0 };
	uint64_t cpu;
	uint32_t pci = 0, id;
	char arg[24];

	if (!expect(gi->initrd_size != 0) || !expect(opt_get(cmdline, "pci", arg, sizeof(arg))) ||
	    !expect(handoff_parse(arg, &pci)))
		return;
	/* Step 0: the function is there, assignable and nobody's. */
	if (!expect(handoff_owner(pci, &dev) == KEEL_PCI_OWNER_NONE))
		return;
	printf("pcihandoff: %s is %04x:%04x, flags 0x%x, iommu %u\n", arg, dev.vendor, dev.device,
	       dev.flags, dev.iommu);
	expect(dev.flags & KEEL_PCI_DEV_ASSIGNABLE);

	/* Step 1: 'first' gets it, drives it, stops by itself and goes. */
	cpu = handoff_free_cpu(0);
	if (!expect(cpu != 0) || !expect(handoff_create("first", cpu, pci, &id) == KEEL_OK))
		return;
	handoff_check_owner(pci, "first created", id);
	if (!handoff_run("first", id, pci))
		return;

	/* Step 2: nobody owns it; the test reads its command register meanwhile. */
	handoff_wait_go();

	/* Step 3: 'second' gets it by ASSIGN; step 4 while it holds it; then it drives it. */
	cpu = handoff_free_cpu(0);
	if (!expect(cpu != 0) ||
	    !expect(handoff_create("second", cpu, HANDOFF_NONE, &id) == KEEL_OK))
		return;
	if (!handoff_assign(id, pci)) {
		expect(mg_takedown(id));
		return;
	}
	handoff_refusals(cpu, pci);
	handoff_run("second", id, pci);
}

static void mode_pcihandoff(void)
{
	handoff_steps();
	verdict("pcihandoff");
}

/* ---- mode=hcbench: the hypercall round trip, timed by the guest clock ---- */

/*
 * count=N (default 10000) KEEL_HC_VERSION calls, timed by the guest clock in
 * batches of batch=B (default 100), then as many turns of the same loop
 * without the hypercall; one result line with both totals (the sums of the
 * batches) and each side's fastest batch, which leaves out whatever else the
 * CPU did meanwhile (Keel's own timers). A benchmark: only a failing call
 * counts as a failure.
 */
static void mode_hcbench(void)
{
	uint64_t n = opt_num(cmdline, "count", 10000), b = opt_num(cmdline, "batch", 100);
	uint64_t calls, loops, best_call, best_loop, hz = arch_clock_hz();
	char rate[32] = "";
	long bad = 0;

	n = n ? n : 1;
	b = b && b < n ? b : n;
	calls = bench_hypercalls(true, n, b, &best_call, &bad);
	loops = bench_hypercalls(false, n, b, &best_loop, &bad);
	expect(bad == KEEL_OK);
	if (hz)
		snprintf(rate, sizeof(rate), " clock_hz=%lu", hz);
	printf("hcbench: calls=%lu batch=%lu ticks=%lu best_batch=%lu loop_ticks=%lu "
	       "best_loop_batch=%lu per_call=%lu.%02lu clock=%s%s\n",
	       n, b, calls, best_call, loops, best_loop, calls / n, calls % n * 100 / n,
	       hz ? "cntvct" : "tsc", rate);
	verdict("hcbench");
}

/*
 * Command line: mode=hello (default) | conduit (alias vmcall) | ticker [count=N] |
 * peek [addr=GPA] | poke [addr=GPA] | aborts | triple | shutdown | hostile | virtio |
 * nethostile [wait=S linger=S] (a NIC on Keel's switch) | netflood target=IP [for=S] |
 * veckeep [rounds=N spin=D] |
 * reboot | manage [cycles=N] [pauses=N] [races=N]
 * (as the management partition, keel.cfg initrd = this ELF) | denied | hcbench [count=N batch=B] |
 * psci [rounds=N] (aarch64, 2 vCPUs) | smccc | timers | pmu | sve (aarch64) | decode | nmi | tscleaf |
 * initsipi [rounds=N] (x86_64, 2 vCPUs) | edu (keel.cfg pci = an edu; aarch64: no MSI yet) |
 * pcihandoff pci=SEG:BUS:DEV.FN (as the management partition: an edu handed between children);
 * pace=N sets the ticker's delay; then=shutdown (default) | ticker | idle | reboot | keep says what follows the
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
	else if (!strcmp(mode, "reboot"))
		mode_reboot();
	else if (!strcmp(mode, "initsipi"))
		mode_initsipi();
	else if (!strcmp(mode, "decode"))
		mode_decode();
	else if (!strcmp(mode, "edu"))
		mode_edu();
	else if (!strcmp(mode, "sve"))
		mode_sve();
	else if (!strcmp(mode, "aborts"))
		mode_aborts();
	else if (!strcmp(mode, "nmi"))
		mode_nmi();
	else if (!strcmp(mode, "tscleaf"))
		mode_tscleaf();
	else if (!strcmp(mode, "pmu"))
		mode_pmu();
	else if (!strcmp(mode, "timers"))
		mode_timers();
	else if (!strcmp(mode, "smccc"))
		mode_smccc();
	else if (!strcmp(mode, "hostile"))
		mode_hostile();
	else if (!strcmp(mode, "virtio"))
		mode_virtio();
	else if (!strcmp(mode, "nethostile"))
		mode_nethostile();
	else if (!strcmp(mode, "netflood"))
		mode_netflood();
	else if (!strcmp(mode, "veckeep"))
		mode_veckeep();
	else if (!strcmp(mode, "manage"))
		mode_manage();
	else if (!strcmp(mode, "denied"))
		mode_denied();
	else if (!strcmp(mode, "pcihandoff"))
		mode_pcihandoff();
	else if (!strcmp(mode, "hcbench"))
		mode_hcbench();
	else if (!strcmp(mode, "psci"))
		mode_psci();
	else
		printf("TEST %s FAIL: unknown mode\n", mode);
	finish();
}
