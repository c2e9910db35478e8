/* SPDX-License-Identifier: MIT */
/*
 * The x86 virtualization layer: one vendor backend (SVM or VMX)
 * behind an ops table chosen once by arch_virt_probe(), and the helpers the
 * shared x86 vCPU code (vcpu.c) offers the backends for exit handling.
 */
#ifndef KEEL_X86_VIRT_H
#define KEEL_X86_VIRT_H

#include <keel/exit.h>
#include <keel/partition.h>
#include <keel/pcpu.h>
#include <keel/pt.h>

#include "x86.h"

struct x86_virt_ops {
	const char *name; /* "svm+npt" or "vmx+ept" */
	/* Per physical CPU: turn virtualization on. */
	int (*cpu_init)(struct pcpu *cpu);
	int (*vcpu_init)(struct vcpu *vcpu);
	void (*vcpu_destroy)(struct vcpu *vcpu);
	/*
	 * Load the entry state from vcpu->arch (gprs, rip, entry_kind: KEEL and
	 * LINUX are 64-bit with their own GDT selectors, SIPI is real mode at
	 * CS = rip >> 4, IP = 0) into the hardware state.
	 */
	void (*vcpu_reset)(struct vcpu *vcpu);
	/* Queue exception @vector (with @err if @has_err) for the next entry. */
	void (*vcpu_inject)(struct vcpu *vcpu, u8 vector, bool has_err, u32 err);
	/* Queue a page fault with error code @err at guest-linear @addr (CR2). */
	void (*vcpu_inject_pf)(struct vcpu *vcpu, u32 err, u64 addr);
	const struct pt_format *(*s2_format)(void);
};

extern const struct x86_virt_ops *x86_virt;
extern bool x86_virt_svm; /* x86_virt is SVM's (else VMX's) */

/*
 * Enter the guest once; fill @exit (EXIT_NONE if handled inside). Not in
 * the ops: called on every entry, directly rather than through a retpoline.
 */
void svm_vcpu_run(struct vcpu *vcpu, struct vm_exit *exit);
void vmx_vcpu_run(struct vcpu *vcpu, struct vm_exit *exit);

/* Backends: ops if this CPU can run them, else NULL after saying why. */
const struct x86_virt_ops *svm_probe(void);
const struct x86_virt_ops *vmx_probe(void);

int x86_virt_cpu_init(struct pcpu *cpu);

/* ---- Shared exit handling (vcpu.c), used by the backends ----------------- */

/* Read @len bytes of the instruction at the guest's RIP. 0 or -KEEL_EFAULT. */
int x86_guest_fetch(struct vcpu *vcpu, u8 *buf, u32 len);

/*
 * A hypercall at RIP of @insn_len bytes: advance RIP, fill all of @exit (no
 * exit_init needed first). From CPL > 0: -KEEL_EPERM in RAX, EXIT_NONE.
 * Inline: on the path of every call.
 */
static inline void x86_exit_hypercall(struct vcpu *vcpu, struct vm_exit *exit, u32 insn_len)
{
	const u64 *g = vcpu->arch.gprs;

	/* Only the guest kernel may call Keel (as HVC from EL0 cannot on aarch64). */
	if (vcpu->arch.cpl != 0) {
		exit_init(exit, vcpu->arch.rip);
		vcpu->arch.gprs[X86_RAX] = (u64)-KEEL_EPERM;
		vcpu->arch.rip += insn_len;
		return;
	}
	exit_hypercall(exit, vcpu->arch.rip, g[X86_RAX], false);
	vcpu->arch.rip += insn_len;
}

/* CPUID: emulate with the virtualization features hidden; RIP += 2. */
void x86_exit_cpuid(struct vcpu *vcpu, struct vm_exit *exit);

/* #UD from the guest: VMCALL is a hypercall, anything else goes back as #UD. */
void x86_exit_ud(struct vcpu *vcpu, struct vm_exit *exit);

/* RDMSR/WRMSR by the shared policy (LAPIC, fixed answers, else #GP); RIP += 2. */
void x86_exit_msr(struct vcpu *vcpu, bool write, struct vm_exit *exit);

/* Nested page fault at @gpa without RAM: decode the MOV at RIP into an EXIT_MMIO. */
void x86_exit_mmio(struct vcpu *vcpu, gpa_t gpa, bool write, struct vm_exit *exit);
void x86_exit_npf(struct vcpu *vcpu, gpa_t gpa, bool write, bool fetch, u64 code,
		  struct vm_exit *exit);

/*
 * Interrupts for the backends (vplat.h): vlapic_pending() gives the vector to
 * inject before entry (or -1), vlapic_ack() moves it to in-service once the
 * backend committed to inject it. Each backend opens an interrupt window
 * (SVM: V_IRQ + VINTR intercept) while the guest cannot take it.
 */

/* ---- Between guests (scrub.c) ------------------------------------------- */

#define SPEC_CTRL_IBRS BIT(0)
#define SPEC_CTRL_STIBP BIT(1)
#define SPEC_CTRL_SSBD BIT(2)
#define PRED_CMD_IBPB BIT(0)
#define FLUSH_CMD_L1D BIT(0)

/* What the CPU offers and needs against speculation, found at boot. */
struct x86_spec {
	bool xsave; /* XSAVE/XRSTOR and XCR0 */
	bool spec_ctrl; /* IA32_SPEC_CTRL exists */
	bool ibpb; /* IA32_PRED_CMD.IBPB exists */
	bool verw; /* VERW clears CPU buffers (MD_CLEAR) and the CPU needs it */
	bool rsb_fill; /* fill the return stack after each VM exit */
	bool l1d_flush; /* flush the L1 data cache before each VM entry (L1TF) */
	bool at_entry; /* any of spec_ctrl, l1d_flush, verw: work at each VM entry */
	u8 pad[1];
	u64 xcr0_all; /* every XSAVE user component the CPU has */
	u32 fpu_size; /* bytes of an XSAVE area for all of them (FXSAVE: 512) */
	u32 pad2;
	u64 spec_ctrl_bits; /* SPEC_CTRL bits the CPU implements */
};

extern struct x86_spec x86_spec;
/* Read by the world switches (svm_run.S, vmx_run.S): x86_spec.rsb_fill. */
extern u8 x86_rsb_fill_on;

void x86_spec_probe(void);

/* Reset what no VMCB/VMCS field covers; IBPB. On the vCPU's CPU, at reset. */
void x86_vcpu_scrub(struct vcpu *vcpu);

/*
 * The guest's FPU/SIMD state (XSAVE, standard form; FXSAVE without XSAVE)
 * into @area (x86_spec.fpu_size bytes, 64-byte aligned, zeroed once) and its
 * XCR0, and back: for arch_vcpu_save and arch_vcpu_restore.
 */
void x86_fpu_save(void *area, u64 *xcr0);
void x86_fpu_restore(const void *area, u64 xcr0);

/* The guest's SPEC_CTRL and PRED_CMD (emulated; 0 or -KEEL_EINVAL for #GP). */
u64 x86_spec_ctrl_read(const struct vcpu *vcpu);
int x86_spec_ctrl_write(struct vcpu *vcpu, u64 val);
int x86_pred_cmd_write(u64 val);

/*
 * The MSRs a guest owns outright, without an intercept: both backends switch
 * them on every run (SVM: VMLOAD/VMSAVE; VMX: the VMCS, or a reset for those
 * it does not switch), and Keel itself never uses them. TSC_AUX is per core
 * and unused by Keel: RDTSCP and RDPID read the guest's own.
 */
extern const u32 x86_guest_msrs[11];

/* Clear CPU buffers (MDS) where the CPU needs it. */
static inline void x86_verw(void)
{
	static const u16 sel = 0x10; /* X86_SEL_DATA: any valid writable selector */

	if (x86_spec.verw)
		__asm__ volatile("verw %0" ::"m"(sel) : "cc");
}

/*
 * Around each world switch: the guest's SPEC_CTRL in and Keel's (0: its own
 * indirect branches are retpolines) back out, only while they differ.
 */
static inline void x86_spec_guest_enter(const struct vcpu *vcpu)
{
	/* One test on a CPU that needs none of it. */
	if (likely(!x86_spec.at_entry))
		return;
	if (x86_spec.spec_ctrl && vcpu->arch.spec_ctrl)
		x86_wrmsr(MSR_SPEC_CTRL, vcpu->arch.spec_ctrl);
	/* The L1D flush clears the CPU buffers too: VERW only without it. */
	if (x86_spec.l1d_flush)
		x86_wrmsr(MSR_FLUSH_CMD, FLUSH_CMD_L1D);
	else
		x86_verw();
}

static inline void x86_spec_guest_exit(const struct vcpu *vcpu)
{
	if (x86_spec.spec_ctrl && vcpu->arch.spec_ctrl)
		x86_wrmsr(MSR_SPEC_CTRL, 0);
}

/*
 * The stage-2 flush handshake (x86_s2_sync in guest.c). From entering on, the
 * vCPU counts as one that may hold its partition's nested translations; the
 * generation it returns is read after that mark, so a flush that bumps it
 * later sees the vCPU in the guest and waits for its exit. The backend
 * flushes on this entry if the generation moved, then records it
 * (x86_guest_flushed).
 */
static inline u64 x86_guest_entering(struct vcpu *vcpu)
{
	__atomic_store_n(&vcpu->arch.in_guest, 1, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&vcpu->part->arch.tlb_gen, __ATOMIC_SEQ_CST);
}

static inline void x86_guest_flushed(struct vcpu *vcpu, u64 gen)
{
	__atomic_store_n(&vcpu->arch.tlb_gen, gen, __ATOMIC_RELEASE);
}

static inline void x86_guest_left(struct vcpu *vcpu)
{
	__atomic_store_n(&vcpu->arch.in_guest, 0, __ATOMIC_RELEASE);
}

static inline void x86_exit_fault(struct vm_exit *exit, u32 reason, u64 code, u64 addr)
{
	exit->kind = EXIT_FAULT;
	exit->fault.reason = reason;
	exit->fault.code = code;
	exit->fault.addr = addr;
}

#endif /* KEEL_X86_VIRT_H */
