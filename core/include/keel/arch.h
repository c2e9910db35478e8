/* SPDX-License-Identifier: MIT */
/*
 * The arch contract: every function an architecture provides to core. Core,
 * virtio/ and vfio/ call only these (and the inline helpers of <arch/types.h>).
 * Each arch implements all of them under arch/<arch>/.
 *
 * "Flush" has one meaning: when the call returns, no CPU translates the range
 * as it did before, and no CPU still holds a walk through a table that left
 * the tree (so it may be freed). It is synchronous on both arches, for Keel's
 * own tables and for every partition's stage 2 (pt.sync of each).
 * Cost, Keel's tables: on aarch64, one broadcast TLBI per page (all of EL2
 * above 32 pages) and a DSB ISH; on x86_64, an IPI to every other online CPU
 * and a wait until each has reloaded CR3. A CPU with interrupts off takes the
 * flush in its next spin-wait, or before its next VM entry.
 * Cost, stage 2: on aarch64, one broadcast TLBI of the VMID and a DSB ISH; on
 * x86_64, a generation bump, an IPI to each of the partition's vCPUs that is
 * in the guest, and a wait for its exit (each flushes its ASID / EPT context
 * on its next entry). On aarch64 a replaced stage-2 entry is invalid for a
 * moment (break-before-make): a vCPU that touches it exits with EXIT_RETRY
 * (a stage-2 fault on RAM) and runs the access again. So RAM leaves
 * part->mem before its stage-2 entries are removed.
 */
#ifndef KEEL_ARCH_H
#define KEEL_ARCH_H

#include <arch/types.h>
#include <keel/boot_info.h>
#include <keel/exit.h>
#include <keel/types.h>

struct pcpu;
struct vcpu;
struct partition;
struct platform;
struct iommu_msi;

/* ---- Boot, on the boot CPU ---------------------------------------------- */

/*
 * First thing the core calls, on the boot stack with interrupts off: bring up
 * the console UART (as far as it can be found without the platform tables),
 * install exception vectors for the boot CPU. Cannot fail visibly.
 */
void arch_early_init(const struct keel_boot_info *bi);

/*
 * Find the CPUs and the devices the hypervisor itself uses (UART, interrupt
 * controller, timers) from ACPI / DT / the firmware CPU list in @bi. Fills
 * @plat (cpu_count, cpu_hwid[], boot cpu as index 0). Returns 0 or -KEEL_E*.
 */
int arch_platform_discover(const struct keel_boot_info *bi, struct platform *plat);

/*
 * Build the hypervisor's own page tables (keel/hmap.h): the identity map of
 * RAM with leaves of at most 2 MiB, the core image W^X from the linker
 * symbols, device windows uncached, the boot stack's guard page unmapped.
 * Hand them to hmap_init(), set their flush (pt.sync: synchronous, every
 * CPU), and switch the boot CPU to its own top level (pcpus[0].root).
 * Page-table pages come from pmm.
 */
int arch_mmu_init(const struct keel_boot_info *bi, const struct platform *plat);

/*
 * Write @val into this CPU's window entry @pte, which translates @va, so
 * that the next access to @va uses it. Only this CPU walks its window, so
 * only its own TLB is invalidated (break-before-make where the arch needs it).
 */
void arch_window_set(u64 *pte, u64 val, u64 va);

/*
 * Drop this CPU's cached translations of the shared tables if a flush asked
 * for it since it last did. Called from the IPI handler; x86_64 also calls
 * it before each guest entry and while waiting. arm64: nothing to do (its
 * flushes are broadcast in hardware).
 */
void arch_mmu_catch_up(void);

/*
 * Check the CPU's virtualization support (SVM+NPT, VMX+EPT, EL2+stage-2) and
 * pick the backend. Returns 0, or -KEEL_ENOSYS after logging exactly what is
 * missing.
 */
int arch_virt_probe(void);

/* What arch_virt_probe picked, for the log: "svm+npt", "vmx+ept", "el2+stage2". */
const char *arch_virt_name(void);

/*
 * Start secondary CPU @cpu (logical number) on @stack_top. It runs its arch
 * entry, then calls pcpu_secondary_main(). Returns 0 once the start request
 * was sent; core waits for the CPU to report online.
 */
int arch_cpu_start(struct pcpu *cpu, u64 stack_top);

/*
 * Per-CPU set-up, on every CPU (boot CPU included) on its own stack: vectors,
 * per-CPU pointer (pcpu_this()), local interrupt controller, virtualization
 * mode on (EFER.SVME / VMXON / HCR_EL2). Returns 0 or -KEEL_E*.
 */
int arch_cpu_init(struct pcpu *cpu);

/* ---- Console and time --------------------------------------------------- */

/* Write @len bytes to the hypervisor UART. Caller holds the console lock. */
void arch_console_write(const char *s, size_t len);

/*
 * Write as many of @len bytes as the UART takes now without waiting (its
 * FIFO has room); returns how many. No newline translation. Caller holds
 * the console's drain lock.
 */
size_t arch_console_try_write(const char *s, size_t len);

/* Read one byte from the UART, or -1 if none is waiting. */
int arch_console_getc(void);

/* Nanoseconds since an arbitrary point at boot; monotonic, all CPUs alike. */
u64 arch_time_ns(void);

/*
 * The boot timeline's clock (core/timeline.c): nanoseconds from the clock
 * counter's zero (x86_64 TSC, arm64 CNTPCT_EL0: the machine's reset) to
 * arch_time_ns()'s zero; and a raw counter reading the loader took, in
 * nanoseconds from the counter's zero.
 */
u64 arch_time_origin_ns(void);
u64 arch_ticks_to_ns(u64 ticks);

/* ---- CPU control -------------------------------------------------------- */

/* Wait for an interrupt with interrupts enabled (idle), then return. */
void arch_cpu_idle(void);

/* Stop this CPU for good (after a panic): interrupts off, halt loop. */
void __noreturn arch_cpu_halt(void);

/* Send the hypervisor IPI to @cpu; it will run pcpu_ipi_handler() there. */
void arch_ipi_send(const struct pcpu *cpu);

/* Print the state of the interrupted context (after an unexpected exception). */
struct arch_regs;
void arch_regs_dump(const struct arch_regs *regs);

/* Reset or power off the whole machine (after every partition has stopped). */
void __noreturn arch_machine_reset(bool power_off);

/* ---- Stage-2 / nested paging -------------------------------------------- */

/* Guest-physical mapping attributes: the walker's own bits (keel/pt.h). */
#define S2_READ PT_READ
#define S2_WRITE PT_WRITE
#define S2_EXEC PT_EXEC
#define S2_DEVICE PT_DEVICE /* uncached device memory (passthrough MMIO) */
#define S2_RWX (S2_READ | S2_WRITE | S2_EXEC)

/* Allocate the partition's empty stage-2 root. Returns 0 or -KEEL_ENOMEM. */
int arch_s2_init(struct partition *part);

/*
 * Map [gpa, gpa + size) to [hpa, hpa + size) with the largest pages that fit.
 * All three page aligned. Returns 0 or -KEEL_E*; on error nothing is mapped.
 */
int arch_s2_map(struct partition *part, gpa_t gpa, hpa_t hpa, u64 size, u32 attrs);

/* Unmap [gpa, gpa + size) and flush the partition's TLB entries (synchronous). */
void arch_s2_unmap(struct partition *part, gpa_t gpa, u64 size);

/* Free every stage-2 table of @part (its vCPUs are stopped). */
void arch_s2_destroy(struct partition *part);

/* ---- vCPU --------------------------------------------------------------- */

/* Allocate the vCPU's hardware state (VMCB/VMCS...). On its own CPU. */
int arch_vcpu_init(struct vcpu *vcpu);

/* Free what arch_vcpu_init allocated. */
void arch_vcpu_destroy(struct vcpu *vcpu);

/*
 * Put @vcpu into the entry state @e describes (struct vcpu_entry in
 * keel/vcpu.h; for VCPU_ENTRY_KEEL see docs/guest-abi.md). On its own CPU.
 */
struct vcpu_entry;
void arch_vcpu_reset(struct vcpu *vcpu, const struct vcpu_entry *e);

/*
 * The vCPU's architectural state that lives only in its CPU's registers
 * while it is pinned there, into the vCPU (save) and back (restore); with
 * what the arch keeps in memory anyway (GPRs, PC, VMCB/VMCS, FP/SIMD on
 * aarch64), the vCPU is then whole in memory. aarch64: the EL1 and EL0
 * system registers, both EL1 timers, the pointer-authentication keys, the
 * GIC virtual CPU interface (list registers, active priorities, VMCR, HCR).
 * x86_64: the FPU/SIMD state (XSAVE) and XCR0, CR2, DR0-DR3, DR6 and the
 * MSRs a guest writes directly (x86_guest_msrs). Between the two the CPU
 * may run anything; wipe leaves nothing of the vCPU in those registers, as
 * at a hand-over to another partition. On the vCPU's own CPU, out of the
 * guest. Core saves and wipes at PAUSE and restores at RESUME (vcpu_park).
 */
void arch_vcpu_save(struct vcpu *vcpu);
void arch_vcpu_restore(struct vcpu *vcpu);
void arch_vcpu_wipe(struct vcpu *vcpu);

/*
 * x86_64: write the identity page tables and GDT the ELF entry state needs into
 * the partition's low memory (after the partition's RAM is mapped and
 * scrubbed). aarch64: nothing. Returns 0 or -KEEL_E*.
 */
int arch_part_prepare(struct partition *part);

/*
 * Run @vcpu until something core must handle; describe it in @exit. Host
 * interrupts that arrive while the guest runs are handled inside and reported
 * as EXIT_INTERRUPT. On its own CPU, interrupts off on entry and return.
 */
void arch_vcpu_run(struct vcpu *vcpu, struct vm_exit *exit);

/*
 * Complete a hypercall exit: the status and three results into the guest's
 * registers (by value: the common calls answer without touching memory).
 */
void arch_vcpu_hc_return(struct vcpu *vcpu, s64 status, u64 r0, u64 r1, u64 r2);

/*
 * The six arguments of the hypercall @vcpu exited on, from its registers
 * (x86_64: RDI, RSI, RDX, R10, R8, R9; aarch64: X1-X6). Read by the calls
 * that take arguments, not copied on every exit.
 */
void arch_vcpu_hc_args(const struct vcpu *vcpu, u64 a[6]);

/* Complete an MMIO or port read exit with @value (already size-truncated). */
void arch_vcpu_io_return(struct vcpu *vcpu, u64 value);

/*
 * The guest touched guest-physical memory with nothing behind it (@exit:
 * EXIT_MMIO that no device took, or EXIT_FAULT with FAULT_FETCH), and its
 * partition delivers such faults (on_fault = deliver): answer as the hardware
 * does. aarch64: a synchronous external abort at the guest's EL1 vectors;
 * x86_64: a read of all ones or a dropped write, #UD for a fetch. Returns what
 * the guest got, for the log, or NULL where the arch cannot answer (an access
 * it could not decode, an abort with no vector to take it): the caller stops
 * the partition. On the vCPU's own CPU.
 */
const char *arch_vcpu_deliver_fault(struct vcpu *vcpu, const struct vm_exit *exit);

/*
 * true if @port, where the partition has no device, is one guests probe
 * expecting that there may be none (another UART, a Super I/O chip...):
 * the floating bus answers it without a warning. false on arches without ports.
 */
bool arch_port_is_probe(u32 port);

/*
 * true if @vcpu has an interrupt it can take now (wakes it from EXIT_HALT).
 * On the vCPU's own CPU.
 */
bool arch_vcpu_irq_pending(struct vcpu *vcpu);

/*
 * The halted @vcpu's CPU has just run its expired timers: report, once per
 * reset of the vCPU, a timer model of @vcpu still armed more than a second
 * past its deadline, with what finds the cause. That is a wake-up Keel lost
 * (a Keel bug; its guest waits for an interrupt that never comes). On the
 * vCPU's own CPU. aarch64: nothing to check (its guest timer is the CPU's).
 */
void arch_vcpu_halt_audit(struct vcpu *vcpu);

/*
 * For the interrupt-delivery watch (core/irqwatch.c), from another CPU while
 * the partition's state is held; racy reads, for a report only. Whether
 * @vcpu's interrupt controller model holds a requested interrupt that the
 * vCPU has enabled (unmasked, its CPU taking interrupts, not held by INIT),
 * and in @taken how many it has taken since its reset. False where the arch
 * keeps no model to watch. arch_vcpu_irq_describe() puts the guest's PC at
 * its last exit and the model's state (if any) into @buf for the report.
 */
bool arch_vcpu_irq_waiting(struct vcpu *vcpu, u64 *taken);
/*
 * Whether @vcpu's timer model is armed, and its deadline (an arch_time_ns()
 * value). False where the guest's timer is the CPU's own (aarch64).
 */
bool arch_vcpu_timer_armed(struct vcpu *vcpu, u64 *deadline_ns);
void arch_vcpu_irq_describe(struct vcpu *vcpu, char *buf, u32 len);

/*
 * For the same reports: how @part's interrupt controller model has device
 * line @irq (x86_64: the IOAPIC pin's level and redirection entry; aarch64:
 * the SPI's flags and target). Racy reads.
 */
void arch_irq_line_describe(struct partition *part, u32 irq, char *buf, u32 len);

/* ---- Platform of a partition -------------------------------------------- */

/*
 * Create the arch's own devices of @part (interrupt controller model, timers,
 * UART model...) with vdev_add(). Called once the partition's memory and its
 * virtio devices exist. Returns 0 or -KEEL_E*.
 */
int arch_part_devices_init(struct partition *part);

/*
 * Free the arch's interrupt-controller state of @part, once vdev_destroy_all
 * has destroyed every device. It goes last: until a device is destroyed, a
 * CPU serving another partition (a network or vsock peer, the manager's
 * STOP) may be raising one of its lines through arch_irq_set_level, and each
 * device's destroy is what unhooks it from those senders, under their locks.
 * Idempotent (a failed build, then DESTROY).
 */
void arch_part_devices_free(struct partition *part);

/*
 * Ask @part's guest to power off as a user pressing its power button would
 * (x86_64: the ACPI fixed-feature power button; aarch64: a GPIO power key).
 * Any CPU. False if @part has no such button (a bare-metal ELF guest): the
 * caller can only wait and then force the stop.
 */
bool arch_part_request_poweroff(struct partition *part);

/*
 * RESIZE changed how many of @part's vCPUs may be on (part->vcpus_allowed).
 * x86_64: ACPI CPU hotplug events for its guest (a GPE on the SCI); aarch64:
 * nothing (a DT guest has no hotplug notice; the control port's "cpus N"
 * line is the notice on both). Any CPU.
 */
void arch_vcpus_resized(struct partition *part);

/*
 * If @part->kernel is a Linux image of this arch (bzImage / arm64 Image), load
 * it with its initrd and command line, describe the partition to it
 * (boot_params + ACPI tables / DTB: RAM, CPUs, every virtio device) and fill
 * @boot. Returns -KEEL_ENOEXEC if it is not such an image (core then tries
 * ELF), 0, or another -KEEL_E* with a console line saying why.
 */
int arch_kernel_load(struct partition *part, struct vcpu_entry *boot);

/*
 * Drive device interrupt line @irq of @part (GSI on x86_64, SPI number on
 * aarch64) to @level. Any CPU; the arch wakes the vCPU that must take it.
 */
void arch_irq_set_level(struct partition *part, u32 irq, bool level);

/*
 * MSIs of a partition's PCI functions (vfio/vbus.c). The MSI its guest
 * programmed (@addr, @data as the guest wrote them) gets a host vector on the
 * partition's home core (its vCPU 0's), whose handler delivers it to the
 * guest's interrupt controller model as the guest asked; *@t says where the
 * host MSI must arrive. -KEEL_EINVAL: an MSI the guest's platform would not
 * deliver; -KEEL_ENOSPC: that core's vectors are all taken; -KEEL_ENOTSUP:
 * not on this arch (yet). arch_msi_unroute returns once no handler uses it.
 */
struct arch_msi_target {
	u32 cpu; /* the host core */
	u32 apic_id; /* its interrupt controller's ID (x86_64: APIC ID) */
	u32 vector; /* the host vector */
	u32 pad;
};
int arch_msi_route(struct partition *part, u64 addr, u32 data, struct arch_msi_target *t);
void arch_msi_unroute(const struct arch_msi_target *t);

/*
 * Where an IOMMU does not remap interrupts itself (the SMMUv3), the
 * interrupt controller does: a message from requester @rid with event
 * @event becomes @t's host interrupt (aarch64: the GICv3 ITS maps DeviceID
 * @rid, EventID @event to @t's LPI on @t's core). *@msi is what the device
 * must write: the ITS's doorbell and the event. arch_msi_unmap takes the
 * mapping away; once it returns no new interrupt comes from it. Both are
 * -KEEL_ENOTSUP where the arch has no such controller (x86_64).
 * arch_msi_doorbell: the page a device writes its messages to, which its
 * IOMMU domain must let through (IOVA = its physical address), or 0.
 */
int arch_msi_remap(u16 rid, u32 event, const struct arch_msi_target *t, struct iommu_msi *msi);
void arch_msi_unmap(u16 rid, u32 event);
hpa_t arch_msi_doorbell(void);

/*
 * INTx of partitions' PCI functions (vfio/intx.c): listen on every host
 * line a PCI function's INTx may reach, each interrupt calling
 * vfio_intx_fired() with the line (x86_64: every IOAPIC pin from GSI 16,
 * level-triggered, active low, remapped by the IOMMU that covers its IOAPIC
 * to a vector of the boot CPU). Called once, before the first guest sees a
 * pin. 0, or -KEEL_ENOTSUP (with a console line): INTx is then not offered,
 * and guests see functions without an interrupt pin.
 */
int arch_intx_listen(void);

/* ---- Hypervisor timer --------------------------------------------------- */

/*
 * Program this CPU's one-shot hypervisor timer for @deadline_ns (an
 * arch_time_ns() value; 0 stops it). Its interrupt calls timer_run_expired()
 * (keel/timer.h), also when it arrives while a guest runs.
 */
void arch_timer_program(u64 deadline_ns);

/* Fill @buf with the best entropy the CPU offers (RDRAND/RNDR, else counters). */
void arch_entropy(void *buf, size_t len);
#endif /* KEEL_ARCH_H */
