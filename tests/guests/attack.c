/* SPDX-License-Identifier: MIT */
/*
 * The attack suite's guest: one image whose "mode=" is an attack on Keel or
 * on another partition (docs/security.md lists them). Attackers report what
 * they did and end with "TEST <mode> PASS|FAIL" where they can; the manager
 * mode (the management partition) runs the attacks that need other
 * partitions created and destroyed, and checks containment from outside.
 */
#include "guest.h"

static const struct keel_guest_info *gi;
static const char *cmdline = "";

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* ---- register leaks: mode=plant, mode=probe -------------------------------- */

/* Markers in every register class, then shut down (then=shutdown) or spin until stopped. */
static void mode_plant(void)
{
	char then[16] = "shutdown";

	opt_get(cmdline, "then", then, sizeof(then));
	regs_plant();
	if (!strcmp(then, "spin")) {
		/* Not a printf after this: a console call must not disturb the markers. */
		for (;;)
			__asm__ volatile("" ::: "memory");
	}
	hc(KEEL_HC_SHUTDOWN, 0, 0, 0);
	for (;;)
		;
}

static void mode_probe(void)
{
	/* First thing: nothing of ours has touched a register class yet. */
	unsigned int leaks = regs_probe();

	expect(leaks == 0);
	expect(regs_spec_ctrl_honest());
	verdict("probe");
}

/* ---- mode=sweep: every MSR or system register, every port, random hypercalls --- */

static uint64_t traps_taken;

/* Sweeps: a refused access raises #GP / UNDEF; skip the instruction and count it. */
static bool sweep_trap(struct trap *t)
{
	traps_taken++;
	return arch_trap_skip(t);
}

static uint64_t user_calls, user_refused;

/* Ring 3 / EL0: hypercalls must never reach Keel's handlers from here. */
static void user_hypercalls(void)
{
	uint64_t i;

	for (i = 0; i < user_calls; i++) {
		struct hc_result r = arch_hypercall(arch_hc_fn(rnd() % 0x200), rnd(), rnd(), rnd());

		if (r.status == -KEEL_EPERM)
			user_refused++;
	}
	trap_user_return();
}

/* A hypercall number that would end this partition (tested elsewhere), or a PSCI ID. */
static bool hc_self_ending(uint64_t fn)
{
	uint32_t id = (uint32_t)fn;

	if (fn == arch_hc_fn(KEEL_HC_SHUTDOWN) || fn == arch_hc_fn(KEEL_HC_REBOOT))
		return true;
	return (id & 0xbfffff00u) == 0x84000000u; /* PSCI, SMC32 and SMC64 */
}

/* @n calls with random numbers and arguments; true if every status was an ABI error code. */
/* Where random hypercall pointers into our own RAM land (and a guard after it). */
static uint8_t scratch[65536 + 4096] __attribute__((aligned(4096)));

static bool random_hypercalls(uint64_t n)
{
	uint64_t i, ok = 0, einval = 0, other = 0;

	/* What a random console write prints from here: short lines of x. */
	for (i = 0; i < sizeof(scratch); i++)
		scratch[i] = i % 64 == 63 ? '\n' : 'x';

	for (i = 0; i < n; i++) {
		uint64_t kind = rnd() % 4, fn;
		struct hc_result r;

		/* Known numbers, the management range, anything at all, anything in 32 bits. */
		fn = kind == 0 ? arch_hc_fn(rnd() % (KEEL_HC_NR_CALLS + 1)) :
		     kind == 1 ? arch_hc_fn(KEEL_HC_MGMT_FIRST + rnd() % 0x100) :
		     kind == 2 ? rnd() : (uint32_t)rnd();
		if (hc_self_ending(fn))
			continue;
		/* Pointers: anywhere, or into our scratch (Keel may write there). */
		r = arch_hypercall(fn, rnd() % 2 ? rnd() : (uintptr_t)scratch + rnd() % 65536,
				   rnd() % 2 ? rnd() : rnd() % 128, rnd());
		if (r.status == KEEL_OK)
			ok++;
		else if (r.status >= -KEEL_ENOSYS && r.status < 0)
			einval++;
		else
			other++;
	}
	printf("\nsweep: %lu random hypercalls from kernel mode: %lu ok, %lu refused with an ABI error, %lu other\n",
	       n, ok, einval, other);
	return other == 0;
}

static void mode_sweep(void)
{
	uint64_t n = opt_num(cmdline, "calls", 100000);

	trap_install(sweep_trap);
	expect(arch_sweep_sysregs());
	expect(arch_sweep_ports());
	expect(random_hypercalls(n));
	user_calls = n / 10;
	traps_taken = 0;
	trap_user(user_hypercalls);
	printf("sweep: %lu random hypercalls from user mode: %lu refused by Keel, %lu raised an exception, %lu reached Keel\n",
	       user_calls, user_refused, traps_taken,
	       user_calls - user_refused - traps_taken > user_calls ?
		       0 : user_calls - user_refused - traps_taken);
	expect(user_refused + traps_taken == user_calls);
	/* Still in one piece after all of it. */
	expect(hc(KEEL_HC_VERSION, 0, 0, 0).status == KEEL_OK);
	verdict("sweep");
	/* Stay: the manager's memory accounting counts on no partition stopping meanwhile. */
	arch_wait_forever();
}

/* ---- mode=storm: interrupt storms on our own core -------------------------- */

static void mode_storm(void)
{
	uint64_t seconds = opt_num(cmdline, "seconds", 5);
	uint64_t n = arch_storm(seconds);

	printf("storm: %lu interrupts taken\n", n);
	expect(n > 1000);
	verdict("storm");
}

/* ---- mode=excloop: an exception delivery loop that never ends by itself ---- */

static void mode_excloop(void)
{
	char kind[8] = "db";

	opt_get(cmdline, "kind", kind, sizeof(kind));
	printf("excloop: entering a %s loop\n", kind);
	arch_exception_loop(kind);
}

/* ---- mode=flood: the console as fast as Keel takes it --------------------- */

static void mode_flood(void)
{
	static char line[KEEL_CONSOLE_WRITE_MAX];
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < sizeof(line) - 1; i++)
		line[i] = 'a' + i % 26;
	line[sizeof(line) - 1] = '\n';
	printf("flood: writing %u-byte lines without pause\n", KEEL_CONSOLE_WRITE_MAX);
	for (;;) {
		hc(KEEL_HC_CONSOLE_WRITE, (uintptr_t)line, sizeof(line), 0);
		n++;
	}
}

/* ---- mode=ticker: lines at a steady pace; how long each console write took ---- */

static void mode_ticker(void)
{
	uint64_t count = opt_num(cmdline, "count", 0), pace = opt_num(cmdline, "pace", 20000);
	uint64_t n, worst = 0;

	for (n = 1; !count || n <= count; n++) {
		uint64_t t0 = arch_clock(), t;

		printf("tick %lu worst %lu\n", n, worst);
		t = arch_clock() - t0;
		worst = t > worst ? t : worst;
		delay(pace);
	}
	verdict("ticker");
}

/* ---- mode=peek: one read of a guest-physical address that is not RAM ------- */

static void mode_peek(void)
{
	uint64_t addr = opt_num(cmdline, "addr", gi->mem_base + gi->mem_size);
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)addr;
	uint64_t v;

	arch_map_gpa(addr);
	v = *p;
	printf("peek: 0x%lx reads 0x%lx\n", addr, v);
	verdict("peek");
}

/* ---- mode=spin: a guest that never exits (interrupts off, or on with irq=1) -- */

static void mode_spin(void)
{
	printf("spin: spinning with interrupts %s\n", opt_num(cmdline, "irq", 0) ? "on" : "off");
	arch_spin_forever(opt_num(cmdline, "irq", 0) != 0);
}

/* ---- mode=reboot: a partition that reboots itself as fast as it can -------- */

static void mode_reboot(void)
{
	printf("reboot: life\n");
	hc(KEEL_HC_REBOOT, 0, 0, 0);
	printf("TEST reboot FAIL: KEEL_HC_REBOOT returned\n");
}

/* ---- mode=manager: attacks that take other partitions --------------------- */

#define POLLS 400000u

static uint32_t find_part(const char *name)
{
	struct keel_part_status list[KEEL_MAX_PARTITIONS];
	struct hc_result r = hc(KEEL_HC_MGMT_LIST, (uintptr_t)list, KEEL_MAX_PARTITIONS, 0);
	uint32_t i;

	for (i = 0; r.status == KEEL_OK && i < r.r1; i++)
		if (!strcmp(list[i].name, name))
			return list[i].id;
	return 0;
}

/* A child from our initrd (this image) on @cpus; 0 if it could not be made. */
static uint32_t child(const char *name, uint64_t cpus, const char *cmd)
{
	uint32_t id = 0;
	long st;
	uint64_t i;

	for (i = 0; i < POLLS; i++) {
		st = mg_create(name, cpus, 16u << 20, cmd, gi->initrd_size, &id);
		if (st != -KEEL_EBUSY)
			break; /* the core may still be on its way out of the last child */
	}
	if (!expect(st == KEEL_OK) || !expect(mg_load_kernel(id, gi->initrd_gpa, gi->initrd_size)))
		return 0;
	expect(hc(KEEL_HC_MGMT_START, id, 0, 0).status == KEEL_OK);
	return id;
}

/* N of "racerN" (0-31). */
static uint32_t racer_index(const char *name)
{
	uint32_t n = 0;

	for (name += 5; *name >= '0' && *name <= '9' && n < 32; name++)
		n = n * 10 + (uint32_t)(*name - '0');
	return n & 31;
}

/*
 * While Keel builds the keel.cfg partitions listed after us, DESTROY, START
 * and LOAD hit every "racer*" partition that is not running yet: each call
 * is refused or acts on a partition that is ready, never on one half built.
 * Ends when @want racers run or were destroyed once ready.
 */
static void race_boot(uint32_t want)
{
	struct keel_mgmt_load l = { 0, MG_IMAGE_KERNEL, 0, gi->initrd_gpa, 16 };
	uint64_t calls = 0, building = 0, i;
	uint32_t done = 0, done_mask = 0, id;

	/* Bounded by the calls made, generously: under load the builds take long. */
	for (i = 0; i < 20u * POLLS && done < want; i++) {
		for (id = 1; id <= KEEL_MAX_PARTITIONS; id++) {
			struct keel_part_stats ps;
			uint32_t st, racer;

			if (id == gi->partition_id)
				continue;
			st = mg_state(id, &ps);
			if (!st || strncmp(ps.status.name, "racer", 5))
				continue;
			/*
			 * Counted by name: a racer destroyed here frees its id, and
			 * Keel gives that id to the next racer it builds.
			 */
			racer = racer_index(ps.status.name);
			if (done_mask & 1u << racer)
				continue;
			building += st == KEEL_PSTATE_BUILDING;
			/* It ran (a racer ticks once and shuts down), or it was ready: a legal DESTROY. */
			if (st == KEEL_PSTATE_RUNNING || st == KEEL_PSTATE_STOPPED ||
			    hc(KEEL_HC_MGMT_DESTROY, id, 0, 0).status == KEEL_OK) {
				done_mask |= 1u << racer;
				done++;
				continue;
			}
			l.id = id;
			hc(KEEL_HC_MGMT_START, id, 0, 0);
			hc(KEEL_HC_MGMT_LOAD, (uintptr_t)&l, sizeof(l), 0);
			calls += 3;
		}
	}
	printf("race: at boot: %lu management calls at racers not yet running (%lu looks at one in BUILDING), %u racers done\n",
	       calls, building, done);
	expect(done >= want);
	/* They tick once and shut down: wait for that, so nothing else moves memory from here. */
	for (id = 1; id <= KEEL_MAX_PARTITIONS; id++) {
		struct keel_part_stats ps;
		uint32_t st = id == gi->partition_id ? 0 : mg_state(id, &ps);

		if (st && !strncmp(ps.status.name, "racer", 5))
			expect(mg_wait_state(id, KEEL_PSTATE_STOPPED, POLLS));
	}
}

/*
 * The same at a partition that reboots itself (on_reboot = restart): it is
 * rebuilt in its slot each time while DESTROY, STOP-less calls and STATS hit
 * it. @lives restarts, then it is stopped and destroyed for good.
 */
static void race_restart(uint64_t lives)
{
	static char text[4096];
	uint32_t id = find_part("rebooter");
	uint64_t seen = 0, cursor = 0, calls = 0, building = 0, destroyed = 0, i;

	if (!expect(id != 0))
		return;
	expect(hc(KEEL_HC_MGMT_START, id, 0, 0).status == KEEL_OK); /* autostart = no */
	for (i = 0; i < 40u * POLLS && seen < lives; i++) {
		size_t n = mg_console(id, &cursor, text, sizeof(text)), k;
		uint32_t st = mg_state(id, NULL);

		for (k = 0; k + 5 <= n; k++)
			seen += !strncmp(text + k, "life\n", 5);
		building += st == KEEL_PSTATE_BUILDING;
		if (hc(KEEL_HC_MGMT_DESTROY, id, 0, 0).status == KEEL_OK) {
			destroyed++;
			break;
		}
		hc(KEEL_HC_MGMT_PAUSE, id, 0, 0);
		hc(KEEL_HC_MGMT_RESUME, id, 0, 0);
		calls += 4;
	}
	printf("race: at restart: %lu lives seen, %lu calls, %lu looks at BUILDING, %lu destroys taken\n",
	       seen, calls, building, destroyed);
	expect(seen >= lives && destroyed == 0);
	expect(mg_takedown(id));
}

/*
 * Register leak: a victim plants markers and leaves the core (shutting down,
 * or force-stopped while it spins), then a new partition on the same core
 * must read reset values everywhere.
 */
static void leak_round(uint64_t cpu, const char *how)
{
	char cmd[64];
	uint32_t victim, probe;

	snprintf(cmd, sizeof(cmd), "mode=plant then=%s", how);
	victim = child("victim", cpu, cmd);
	if (!victim)
		return;
	expect(mg_watch(victim, "plant: ", "leak: victim said: ", POLLS));
	if (!strcmp(how, "spin"))
		expect(hc(KEEL_HC_MGMT_STOP, victim, 0, KEEL_STOP_FORCE).status == KEEL_OK);
	expect(mg_wait_state(victim, KEEL_PSTATE_STOPPED, POLLS));
	expect(hc(KEEL_HC_MGMT_DESTROY, victim, 0, 0).status == KEEL_OK);
	probe = child("probe", cpu, "mode=probe");
	if (!probe)
		return;
	expect(mg_watch(probe, "TEST probe PASS", "leak: probe said: ", POLLS));
	expect(mg_takedown(probe));
	printf("leak: round '%s' on cpus 0x%lx done\n", how, cpu);
}

/* Reads of guest-physical holes and of the host's own device windows. */
static void holes(uint64_t cpu)
{
	const uint64_t *addrs;
	unsigned int i, n = arch_hole_addrs(&addrs);

	for (i = 0; i < n; i++) {
		char cmd[48];
		uint32_t id;

		snprintf(cmd, sizeof(cmd), "mode=peek addr=0x%lx", addrs[i]);
		id = child("peek", cpu, cmd);
		if (!id)
			continue;
		/* Stopped with a report, or a read of all ones: never what is there on the host. */
		if (mg_watch(id, "TEST peek", "holes: peek said: ", POLLS))
			printf("holes: 0x%lx answered as a hole\n", addrs[i]);
		else
			printf("holes: 0x%lx stopped the reader\n", addrs[i]);
		expect(mg_takedown(id));
	}
}

/* An exception loop on @cpu: a forced stop must end it, and Keel saw every round. */
static void excloop(uint64_t cpu, const char *kind)
{
	struct keel_part_stats ps;
	char cmd[40];
	uint32_t id;

	snprintf(cmd, sizeof(cmd), "mode=excloop kind=%s", kind);
	id = child("excloop", cpu, cmd);
	if (!id)
		return;
	expect(mg_watch(id, "excloop: entering", "excloop: child said: ", POLLS));
	delay(20000);
	mg_state(id, &ps);
	if (mg_watch(id, "raises no #AC", NULL, 100)) {
		printf("excloop: %s: the CPU raises none: nothing to loop on here\n", kind);
	} else {
		printf("excloop: %s: %lu exceptions intercepted so far\n", kind,
		       ps.exits[KEEL_EXIT_EXCEPTION]);
		/* Each round an exit; or, where the CPU model ends the loop itself, at least one. */
		expect(ps.exits[KEEL_EXIT_EXCEPTION] > 100 || !arch_exception_loop_exits(kind) ||
		       (ps.exits[KEEL_EXIT_EXCEPTION] >= 1 && mg_state(id, NULL) == KEEL_PSTATE_STOPPED));
	}
	expect(mg_takedown(id));
}

/* A guest that never exits, interrupts off then on: a forced stop still ends it. */
static void spinstop(uint64_t cpu)
{
	for (uint32_t irq = 0; irq < 2; irq++) {
		uint32_t id = child("spin", cpu, irq ? "mode=spin irq=1" : "mode=spin irq=0");

		if (!id)
			continue;
		expect(mg_watch(id, "spin: spinning", "spinstop: child said: ", POLLS));
		expect(hc(KEEL_HC_MGMT_STOP, id, 0, KEEL_STOP_FORCE).status == KEEL_OK);
		expect(mg_wait_state(id, KEEL_PSTATE_STOPPED, POLLS));
		expect(hc(KEEL_HC_MGMT_DESTROY, id, 0, 0).status == KEEL_OK);
		printf("spinstop: a spinning guest (interrupts %s) stopped\n", irq ? "on" : "off");
	}
}

static void storm(uint64_t cpu)
{
	uint32_t id = child("storm", cpu, "mode=storm seconds=5");

	if (id) {
		expect(mg_watch(id, "TEST storm PASS", "storm: child said: ", 40u * POLLS));
		expect(mg_takedown(id));
	}
}

/* Exits of every kind @id's vCPUs made so far (0 before its first entry). */
static uint64_t exits_of(uint32_t id)
{
	struct keel_part_stats ps;
	uint64_t n = 0;

	if (!mg_state(id, &ps))
		return 0;
	for (uint32_t k = 0; k < KEEL_EXIT_KINDS; k++)
		n += ps.exits[k];
	return n;
}

/*
 * Keel has built every keel.cfg partition and the last has run (last=NAME:
 * its vCPU made an exit, so Keel holds its vCPU state too): from here only
 * our children move memory.
 */
static void boot_settled(void)
{
	char last[KEEL_NAME_MAX];
	uint32_t id = 0, i;

	if (!opt_get(cmdline, "last", last, sizeof(last)))
		return;
	for (i = 0; i < POLLS && !id; i++)
		id = find_part(last);
	expect(id != 0);
	for (i = 0; id && i < POLLS && !exits_of(id); i++)
		;
}

static uint64_t cpu_bit(const char *key)
{
	return 1ull << opt_num(cmdline, key, 63);
}

/* Free memory now, said after each step: a leak names the step that made it. */
static void memory_after(const char *what)
{
	struct keel_host_info hi;

	hc(KEEL_HC_MGMT_HOST_INFO, (uintptr_t)&hi, sizeof(hi), 0);
	printf("manager: after %s: %lu bytes free\n", what, hi.mem_free);
}

/* RAM partitions hold now (LIST); false while one is on its way in or out. */
static bool memory_held(uint64_t *held)
{
	struct keel_part_status list[KEEL_MAX_PARTITIONS];
	struct hc_result r = hc(KEEL_HC_MGMT_LIST, (uintptr_t)list, KEEL_MAX_PARTITIONS, 0);
	uint32_t i;

	*held = 0;
	for (i = 0; r.status == KEEL_OK && i < r.r1; i++) {
		if (list[i].state == KEEL_PSTATE_STOPPING || list[i].state == KEEL_PSTATE_BUILDING)
			return false;
		if (list[i].state != KEEL_PSTATE_STOPPED)
			*held += list[i].mem_size;
	}
	return r.status == KEEL_OK;
}

/*
 * Keel's own map leaves out the RAM of every partition that holds some, and
 * maps none of it: the audit keelctl info shows, checked against LIST (read
 * before and after, so that a partition stopping meanwhile does not count).
 */
static void memory_audit(const char *when)
{
	struct keel_host_info hi = { 0 };
	uint64_t held = 0, again = 1;
	uint32_t i;

	for (i = 0; i < POLLS && held != again; i++) {
		if (!memory_held(&held))
			continue;
		hc(KEEL_HC_MGMT_HOST_INFO, (uintptr_t)&hi, sizeof(hi), 0);
		if (!memory_held(&again))
			again = held + 1;
	}
	printf("manager: audit %s: %lu bytes hidden, %lu held by partitions, %lu exposed\n", when,
	       hi.mem_hidden, held, hi.mem_exposed);
	expect(held == again && hi.mem_hidden == held && hi.mem_exposed == 0);
}

static bool step(const char *name)
{
	char steps[96];
	size_t n = strlen(name);
	const char *p;

	if (!opt_get(cmdline, "steps", steps, sizeof(steps)))
		return true;
	for (p = steps; *p; p++)
		if ((p == steps || p[-1] == ',') && !strncmp(p, name, n) && (!p[n] || p[n] == ','))
			return true;
	return false;
}

/*
 * racers=N: keel.cfg partitions named racer* built after us; last=NAME: the
 * last partition of keel.cfg (built once it is listed); lives=N restarts
 * of "rebooter" (autostart = no); leak=CPU and spare=CPU: the cores our
 * children use; steps=a,b,... (default all: race,leak,holes,excloop,spinstop,
 * storm,restart,console; leak-shutdown: the leak round without the forced stop);
 * ticker=CPU and flood=CPU for the console step.
 */
static void mode_manager(void)
{
	struct keel_host_info before, after;
	uint64_t leak = cpu_bit("leak"), spare = cpu_bit("spare");

	if (step("race"))
		race_boot((uint32_t)opt_num(cmdline, "racers", 1));
	boot_settled();
	memory_audit("at boot");
	hc(KEEL_HC_MGMT_HOST_INFO, (uintptr_t)&before, sizeof(before), 0);
	if (step("leak") || step("leak-shutdown")) {
		leak_round(leak, "shutdown");
		memory_after("leak shutdown");
	}
	if (step("leak")) {
		leak_round(leak, "spin");
		memory_after("leak spin");
	}
	if (step("holes")) {
		holes(spare);
		memory_after("holes");
	}
	if (step("excloop")) {
		excloop(spare, "db");
		memory_after("excloop db");
		excloop(spare, "ac");
		memory_after("excloop ac");
	}
	if (step("spinstop")) {
		spinstop(spare);
		memory_after("spinstop");
	}
	if (step("storm")) {
		storm(spare);
		memory_after("storm");
	}
	hc(KEEL_HC_MGMT_HOST_INFO, (uintptr_t)&after, sizeof(after), 0);
	printf("manager: free memory %lu before the children, %lu after\n", before.mem_free,
	       after.mem_free);
	expect(after.mem_free == before.mem_free);
	memory_audit("after the children");
	if (step("restart"))
		race_restart(opt_num(cmdline, "lives", 200));
	memory_audit("after the restarts");
	verdict("manager");
	/* Last, left running for the host to watch: a console flood beside a ticker. */
	if (step("console")) {
		expect(child("ticker", cpu_bit("ticker"), "mode=ticker pace=100000") != 0);
		expect(child("flood", cpu_bit("flood"), "mode=flood") != 0);
	}
}

/*
 * mode=plant [then=shutdown|spin] | probe | sweep [calls=N] | storm [seconds=N] |
 * excloop [kind=db|ac] | flood | ticker [pace=N count=N] | peek addr=GPA | reboot |
 * manager (the management partition; keel.cfg initrd = this ELF).
 */
void guest_main(const struct keel_guest_info *info)
{
	char mode[16] = "";

	gi = info;
	cmdline = (const char *)(uintptr_t)info->cmdline_gpa;
	opt_get(cmdline, "mode", mode, sizeof(mode));
	rng_state ^= info->partition_id * 0x100000001b3ull;
	if (!strcmp(mode, "plant"))
		mode_plant();
	else if (!strcmp(mode, "probe"))
		mode_probe();
	else if (!strcmp(mode, "sweep"))
		mode_sweep();
	else if (!strcmp(mode, "storm"))
		mode_storm();
	else if (!strcmp(mode, "excloop"))
		mode_excloop();
	else if (!strcmp(mode, "flood"))
		mode_flood();
	else if (!strcmp(mode, "ticker"))
		mode_ticker();
	else if (!strcmp(mode, "peek"))
		mode_peek();
	else if (!strcmp(mode, "reboot"))
		mode_reboot();
	else if (!strcmp(mode, "spin"))
		mode_spin();
	else if (!strcmp(mode, "manager"))
		mode_manager();
	else
		printf("TEST %s FAIL: unknown mode\n", mode);
	guest_shutdown();
}
