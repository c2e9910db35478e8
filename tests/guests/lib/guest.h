/* SPDX-License-Identifier: MIT */
/*
 * Runtime shared by the bare-metal test guests: hypercall wrappers, console
 * printf, command-line options, and the few hooks each arch provides.
 */
#ifndef KEEL_GUEST_H
#define KEEL_GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <keel/abi.h>

/* Status and extra results of one hypercall. */
struct hc_result {
	long status;
	uint64_t r1, r2, r3;
};

/* --- arch hooks (tests/guests/<arch>/arch.c) --- */

/* Raw hypercall: @fn as the transport wants it (x86: number; aarch64: SMCCC ID). */
struct hc_result arch_hypercall(uint64_t fn, uint64_t a0, uint64_t a1, uint64_t a2);

/* The function ID arch_hypercall() needs for Keel call @nr. */
uint64_t arch_hc_fn(uint64_t nr);

/* Make @gpa reachable by a load from this guest (x86: map it in the guest's tables). */
void arch_map_gpa(uint64_t gpa);

/* Die the arch's hardest way: x86 triple fault, aarch64 undefined instr. without vectors. */
void arch_crash(void) __attribute__((noreturn));

/* Check the arch's second way of calling Keel (x86 VMCALL, aarch64 SMCCC queries). */
bool arch_conduit_test(void);

/* Select VMCALL (true) or VMMCALL (false) on x86; no effect on aarch64. */
void arch_use_vmcall(bool on);

/* Name of the hypercall instruction in use ("vmmcall", "vmcall", "hvc"). */
const char *arch_conduit_name(void);

/* Loop for good without a single exit, with interrupts masked or (@irq) not. */
void arch_spin_forever(bool irq) __attribute__((noreturn));

/* Sleep for good with interrupts off (HLT / WFI): costs its core nothing. */
void arch_wait_forever(void) __attribute__((noreturn));

/* Expected guest-physical RAM start (docs/guest-abi.md). */
uint64_t arch_ram_base(void);

/* Where Keel puts virtio-mmio device 0 (the console) on this arch. */
uint64_t arch_virtio_base(void);

/* The guest's free-running clock (x86_64: TSC; aarch64: CNTVCT_EL0 after an ISB). */
uint64_t arch_clock(void);

/* That clock's rate in Hz if the guest can read it (aarch64: CNTFRQ_EL0), else 0. */
uint64_t arch_clock_hz(void);

/* That clock's rate in Hz from wherever it is known (x86_64: Keel's timing leaf), or 0. */
uint64_t arch_clock_rate(void);

/* --- exceptions and user mode (tests/guests/<arch>/traps.*) --- */

struct trap {
	uint64_t vector; /* x86_64: the vector; aarch64: ESR_EL1.EC (IRQ: 0x100) */
	uint64_t code; /* x86_64: the error code; aarch64: ESR_EL1 */
	uint64_t pc; /* where it was taken; the handler sets where to resume */
	uint64_t addr; /* x86_64 #PF: CR2; aarch64: FAR_EL1 */
	bool user; /* taken from ring 3 / EL0 */
	bool leave_user; /* handler: return from trap_user() instead of resuming */
};

/*
 * Take every exception in this guest: @fn sees each and returns true if it
 * handled it (t->pc says where to resume); anything else is reported and the
 * guest shuts down.
 */
void trap_install(bool (*fn)(struct trap *t));

/* Run @fn in ring 3 / EL0 until it calls trap_user_return() (or a handler leaves). */
void trap_user(void (*fn)(void));
void trap_user_return(void) __attribute__((noreturn));

/* --- register leaks (tests/guests/<arch>/regs.c) --- */

/* Put markers in every register class a core keeps between guests. */
void regs_plant(void);
/* Read them all back expecting reset values; prints each leak, returns how many. */
unsigned int regs_probe(void);
/* Read them all back expecting reset values, or the markers regs_plant put (quietly but for misses). */
unsigned int regs_check(bool planted);
/* The probe's tally (tests/guests/lib/expect.c): registers read, and how many leaked. */
extern unsigned int reg_checked, reg_bad;
extern bool reg_expect_planted; /* set by regs_check: what a miss is called */
void reg_tally_reset(void);
/* Count one register; a value other than its reset value is printed as a LEAK. */
void expect_reg(const char *name, uint64_t got, uint64_t want);
/* A guest's SPEC_CTRL write reads back where CPUID advertises it (x86_64; aarch64: true). */
bool regs_spec_ctrl_honest(void);

/* --- the attack suite's arch parts (tests/guests/<arch>/sweep.c) --- */

/* Step over the instruction that raised @t (MSR/system-register access, port I/O, hypercall). */
bool arch_trap_skip(struct trap *t);
/* Read and write back every MSR / system register in the architectural ranges. */
bool arch_sweep_sysregs(void);
/* Read and write back every I/O port (x86_64); true at once where there are none. */
bool arch_sweep_ports(void);
/* Timer, self-IPI and other interrupts as fast as they come, for @seconds; how many arrived. */
uint64_t arch_storm(uint64_t seconds);
/* An exception that redelivers itself for ever ("db", "ac"); does not return. */
void arch_exception_loop(const char *kind) __attribute__((noreturn));
/* Whether Keel sees each round of that loop as an exit (x86: #DB and #AC are intercepted). */
bool arch_exception_loop_exits(const char *kind);
/* Guest-physical addresses with nothing of ours behind them: holes, host device windows. */
unsigned int arch_hole_addrs(const uint64_t **addrs);

/* aarch64: @rounds of CPU_ON / CPU_OFF of vCPU 1, followed by AFFINITY_INFO. */
bool arch_psci_cycles(uint32_t rounds);

/* x86_64: @rounds of INIT, SIPI, SIPI to a started vCPU 1, each restarting it once. */
bool arch_init_sipi_cycles(uint32_t rounds);

/* x86_64: CPUID leaves 0x15/0x16 (where the host has them) agree with Keel's TSC rate. */
bool arch_tsc_leaves(void);

/*
 * The vector registers (x86_64: the widest the CPU has, ZMM0-31 and k0-7 with
 * AVX-512; aarch64: V0-V31) keep patterns across hypercalls and timer exits,
 * @rounds times with a delay(@spin) in each (<arch>/veckeep.c).
 */
bool arch_vectors_kept(uint64_t rounds, uint64_t spin);

/* x86_64: NMI IPIs (to itself, inside its handler, with IF = 0), an SMI IPI, CR8 and the TPR. */
bool arch_nmi_conformance(void);

/* x86_64: each MMIO instruction form Keel decodes, read back from the LAPIC model. */
bool arch_decode_forms(void);

/*
 * Drive QEMU's edu given to this partition (keel.cfg pci =), polled
 * (<arch>/edu.c with lib/edu.c): found on the guest's PCI bus, its
 * registers, a factorial, DMA both ways within RAM [@ram_base, +@ram_size)
 * and one beyond it that the IOMMU blocks. x86_64 then tests its MSI and
 * INTx (aarch64: INTx only, no MSI yet). With @lat_rounds (x86_64), also the
 * MSI's latency (make bench): that many raises, each timed from the
 * register write to the guest's handler, beside as many self-IPIs through
 * the x2APIC timed the same way.
 */
bool arch_edu_drive(uint64_t ram_base, uint64_t ram_size, uint64_t lat_rounds);

/* aarch64: an SVE instruction is undefined at the guest's own vector (SVE is not offered). */
bool arch_sve_conformance(void);

/*
 * Accesses to the guest-physical hole at @hole (nothing there; mapped by the
 * caller): aarch64, external aborts at the guest's vectors with the right
 * syndrome; x86_64, reads of all ones, writes dropped, #UD for a fetch.
 */
bool arch_abort_conformance(uint64_t hole);

/* aarch64: the PMU's overflow interrupt (PPI 23): raised, masked, dropped, raised again. */
bool arch_pmu_conformance(void);

/* aarch64: the EL1 virtual and physical timers: fire, IMASK, disable and clear-pending. */
bool arch_timer_conformance(void);

/* aarch64: SMCCC version, feature and general queries, and unknown IDs of every range. */
bool arch_smccc_conformance(void);

/* What Keel answers to a call number it does not know (x86: -KEEL_ENOSYS; aarch64: -1). */
long arch_hc_unknown_status(void);

/* --- lib --- */

/* Keel call @nr with up to three arguments. */
struct hc_result hc(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2);

/*
 * lib/bench.c: guest-clock ticks of @n KEEL_HC_VERSION calls (@call) or of as
 * many turns of the same loop without the trapping instruction, in batches of
 * @batch; *best gets the fastest full batch, *bad the OR of the statuses.
 */
uint64_t bench_hypercalls(bool call, uint64_t n, uint64_t batch, uint64_t *best, long *bad);

/* Clock ticks from @from to @to as a sample, 0 if @to is earlier, saturated at 32 bits. */
static inline uint32_t bench_ticks32(uint64_t to, uint64_t from)
{
	uint64_t d = to > from ? to - from : 0;

	return d > 0xffffffffull ? 0xffffffffu : (uint32_t)d;
}

/*
 * <arch>/lab.c: @n one-shot timer interrupts, each due @period clock
 * ticks after it is armed and waited for idle (HLT / WFI); lat[i] gets the
 * ticks from the deadline to the handler. False if the timer is missing.
 */
bool arch_timer_latency(uint32_t n, uint64_t period, uint32_t *lat);

/*
 * <arch>/lab.c: vCPU 1 started and idle, its handler of the IPI calling
 * @on_ipi with the clock it read first (false if it never came up); then
 * each arch_lab_ipi_send() sends it one IPI from vCPU 0.
 */
bool arch_lab_vcpu1_start(void (*on_ipi)(uint64_t now));
void arch_lab_ipi_send(void);

/* <arch>/lab.c: the arch's name as the lab bench reports it ("x86_64", "aarch64"). */
const char *arch_lab_name(void);

/* <arch>/lab.c: idle (HLT / WFI) until the guest clock reads @when, woken by its timer. */
void arch_idle_until(uint64_t when);

/* <arch>/lab.c: the partition's RAM [@ram_base, + @ram_size) cached write-back, as a kernel has it. */
void arch_caches_on(uint64_t ram_base, uint64_t ram_size);

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Format and write through KEEL_HC_CONSOLE_WRITE in one call. Returns its status. */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int memcmp(const void *a, const void *b, size_t n);
int strncmp(const char *a, const char *b, size_t n);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

/* Value of option @key in a "k=v k2=v2" command line, copied to @buf; false if absent. */
bool opt_get(const char *cmdline, const char *key, char *buf, size_t size);
/* Numeric option (decimal or 0x hex), @def if absent or malformed. */
uint64_t opt_num(const char *cmdline, const char *key, uint64_t def);

/* Checks a mode makes: a failed one is printed with its place and counted. */
extern unsigned int guest_failures;
bool guest_check(bool ok, const char *what, const char *file, int line);
#define expect(cond) guest_check((cond), #cond, __FILE__, __LINE__)
/* "TEST <name> PASS", or FAIL with how many checks failed. */
void verdict(const char *name);

/* Busy-wait about @n units (each a fixed number of loop iterations). */
void delay(uint64_t n);

/* Stop this partition through KEEL_HC_SHUTDOWN; spin if that ever returns. */
void guest_shutdown(void) __attribute__((noreturn));

/* lib/virtio.c: a minimal virtio console driver, right and wrong on purpose. */
/* Reset, then VERSION_1 and the device features @want (bits 0-31), up to FEATURES_OK. */
bool virtio_negotiate(uint64_t base, uint32_t want, const char **why);
bool virtio_console_init(uint64_t base, const char **why);
bool virtio_console_send(uint64_t base, const char *s);
void virtio_console_send_bad(uint64_t base, const char *kind, uint64_t outside_gpa);
uint32_t virtio_status(uint64_t base);

/*
 * lib/vnet.c: a minimal virtio-net driver (VERSION_1 and MAC only, so a
 * receive buffer holds a whole frame after a 12-byte header).
 */
#define VNET_HDR_LEN 12u
/* The first virtio-net device's base among the virtio-mmio slots, or 0. */
uint64_t vnet_find(void);
/* Reset and bring up both queues, no receive buffer posted; its address in @mac. */
bool vnet_init(uint64_t base, uint8_t mac[6], const char **why);
/* Post @n more receive buffers (at most 8 outstanding). */
void vnet_rx_post(uint64_t base, uint32_t n);
/* A received frame (*@frame, its length), -1 if none, -2 for a bad used length. */
int vnet_rx_poll(const uint8_t **frame);
/* Send @frame with a header of @hdr_len zero bytes; true once the device used it. */
bool vnet_tx_raw(uint64_t base, uint32_t hdr_len, const void *frame, uint32_t len);
bool vnet_tx(uint64_t base, const void *frame, uint32_t len);
/* Send @frame @n times, four chains per notify; how many the device took. */
uint32_t vnet_tx_burst(uint64_t base, const void *frame, uint32_t len, uint32_t n);

/* The first virtio-mmio device with @device_id among the slots every arch has, or 0. */
uint64_t vio_find(uint32_t device_id);

/*
 * lib/gvsock.c: a minimal virtio-vsock driver that sends packets right and
 * wrong on purpose and posts no receive buffers (a receiver that stalls).
 */
struct gvsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
#define GVSOCK_OP_REQUEST 1u
/* The vsock device's base, or 0. */
uint64_t gvsock_find(void);
/* Reset and bring up its three queues, no receive buffer posted; its CID in @cid. */
bool gvsock_init(uint64_t base, uint64_t *cid, const char **why);
/* One packet: @hdr_len bytes of @h, then @len bytes of @payload; true once the device used it. */
bool gvsock_tx(uint64_t base, const struct gvsock_hdr *h, uint32_t hdr_len, const void *payload,
	       uint32_t len);

/* The first @needle in @hay[0..len), or NULL (lib/manage.c). */
const char *find_text(const char *hay, size_t len, const char *needle);

/* lib/manage.c: management calls for bare-metal managers (docs/management-abi.md). */
/*
 * A child's packed description: its RAM, one kernel image (image 0, what LOAD
 * fills) and a console, an entropy device and a control port.
 */
#define MG_IMAGE_KERNEL 0u
struct mg_desc {
	struct keel_part_desc h;
	struct keel_pd_mem mem;
	struct keel_pd_image kernel;
	struct keel_pd_device dev[3];
};
_Static_assert(sizeof(struct mg_desc) == KEEL_PDESC_SIZE(1, 1, 3), "packed description");
/* Fill @d for CREATE; cpu_mask is the caller's to set. */
void mg_desc_init(struct mg_desc *d, const char *name, uint64_t mem, uint32_t flags,
		  const char *cmdline, uint64_t kernel_size);
/* CREATE @name with a kernel image of @kernel_size bytes; status, *@id on success. */
long mg_create(const char *name, uint64_t cpus, uint64_t mem, const char *cmdline,
	       uint64_t kernel_size, uint32_t *id);
/* LOAD @size bytes from our @src_gpa into @id's kernel image. */
bool mg_load_kernel(uint32_t id, uint64_t src_gpa, uint64_t size);
/* KEEL_PSTATE_* of @id (0 if STATS failed); the whole record in @ps if given. */
uint32_t mg_state(uint32_t id, struct keel_part_stats *ps);
bool mg_wait_state(uint32_t id, uint32_t state, uint64_t polls);
/* CONSOLE_READ from *@cursor; returns bytes, moves the cursor. */
size_t mg_console(uint32_t id, uint64_t *cursor, char *buf, size_t len);
/* Read @id's console until @marker (or it stopped); echo it with @prefix. */
bool mg_watch(uint32_t id, const char *marker, const char *prefix, uint64_t polls);
/* Force-stop, wait, destroy. */
bool mg_takedown(uint32_t id);

/* Entered from start.S with the guest info Keel wrote. */
void guest_main(const struct keel_guest_info *info);

#endif /* KEEL_GUEST_H */
