/* SPDX-License-Identifier: MIT */
/*
 * Generic VM exit events: each arch turns its hardware exits (SVM exit codes,
 * VMX exit reasons, ESR_EL2 classes) into one of these; core dispatches them.
 */
#ifndef KEEL_EXIT_H
#define KEEL_EXIT_H

#include <keel/types.h>

enum exit_kind {
	EXIT_NONE = 0, /* handled inside the arch; just run again */
	EXIT_INTERRUPT, /* a host interrupt or IPI arrived; check for requests */
	EXIT_HYPERCALL, /* Keel hypercall; PC already past the instruction */
	EXIT_MMIO, /* access to a guest-physical address with no RAM behind it */
	EXIT_PIO, /* x86 port I/O; PC already past the instruction */
	EXIT_HALT, /* HLT / WFI: the vCPU waits for an interrupt */
	EXIT_SHUTDOWN, /* triple fault, or a reset/poweroff the arch decoded */
	EXIT_FAULT, /* the guest did something Keel will not emulate */
	EXIT_EXCEPTION, /* a guest exception Keel intercepted and gave back (#DB, #AC, UNDEF) */
	/*
	 * A stage-2 fault on the partition's own RAM (mmio.gpa): its entry was
	 * briefly invalid while another CPU changed it (break-before-make). The
	 * arch left the vCPU as it was; the instruction runs again.
	 */
	EXIT_RETRY,
	EXIT_KINDS, /* how many kinds there are */
};

/* Why an EXIT_SHUTDOWN or EXIT_FAULT happened, for the report. */
enum exit_fault {
	FAULT_TRIPLE = 1, /* x86 shutdown (triple fault) */
	FAULT_ILLEGAL, /* an instruction Keel refuses (e.g. VMRUN, SMC, unknown) */
	FAULT_SYSREG, /* MSR / system register Keel does not allow */
	FAULT_DECODE, /* MMIO instruction Keel cannot decode */
	FAULT_INTERNAL, /* the hardware refused the vCPU state (VMEXIT_INVALID) */
	FAULT_POWEROFF, /* the guest powered itself off (PSCI SYSTEM_OFF...) */
	FAULT_RESET, /* the guest reset itself (PSCI SYSTEM_RESET, reset port) */
	FAULT_FETCH, /* instruction fetch from a guest-physical address with no RAM (addr) */
};

struct vm_exit {
	u32 kind; /* enum exit_kind */
	u32 pad;
	u64 pc; /* guest PC of the instruction that exited (for reports) */
	union {
		/* The arguments stay in the guest's registers: arch_vcpu_hc_args(). */
		struct {
			u64 fn; /* function number, or the SMCCC function ID (W0) */
			bool smccc; /* fn is an SMCCC ID in the vendor-hypervisor range */
		} hc;
		struct {
			gpa_t gpa;
			u64 data; /* value written (if write) */
			u8 size; /* 1, 2, 4 or 8; 0 if the arch could not decode */
			u8 write;
			u8 pad[6];
		} mmio;
		struct {
			u64 data;
			u16 port;
			u8 size;
			u8 write;
			u8 pad[4];
		} pio;
		struct {
			u32 reason; /* enum exit_fault */
			u32 pad;
			u64 code; /* arch detail: exit code, ESR, MSR number... */
			u64 addr; /* a faulting address if there is one, else 0 */
		} fault;
		u64 words[8]; /* the union as plain words, for exit_init */
	};
};

/*
 * A fresh exit record for the guest PC @pc, every field zero. On the path of
 * every exit, so word by word and inline: a memset call costs 35
 * instructions or more for these 80 bytes.
 */
static inline void exit_init(struct vm_exit *exit, u64 pc)
{
	_Static_assert(sizeof(exit->words) == sizeof(*exit) - 16, "words covers the union");
	exit->kind = EXIT_NONE;
	exit->pad = 0;
	exit->pc = pc;
	for (u32 i = 0; i < sizeof(exit->words) / sizeof(u64); i++)
		exit->words[i] = 0;
}

/*
 * A hypercall exit for the guest PC @pc and function @fn, without
 * exit_init: the header and the hc member's two words are written (smccc's
 * padding included); the union's other words are not, and nothing reads
 * them for this kind. Hypercalls are the most frequent exit, and this
 * saves clearing 64 bytes on each.
 */
static inline void exit_hypercall(struct vm_exit *exit, u64 pc, u64 fn, bool smccc)
{
	_Static_assert(__builtin_offsetof(struct vm_exit, hc.smccc) ==
			       __builtin_offsetof(struct vm_exit, words[1]),
		       "smccc and its padding are the union's second word");
	exit->kind = EXIT_HYPERCALL;
	exit->pad = 0;
	exit->pc = pc;
	exit->hc.fn = fn;
	exit->words[1] = 0;
	exit->hc.smccc = smccc;
}

/* A stage-2 fault at @gpa, on RAM: nothing to emulate, the guest runs the access again. */
static inline void exit_retry(struct vm_exit *exit, gpa_t gpa)
{
	exit->kind = EXIT_RETRY;
	exit->mmio.gpa = gpa;
}

#endif /* KEEL_EXIT_H */
