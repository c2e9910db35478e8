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

/* Expected guest-physical RAM start (docs/guest-abi.md). */
uint64_t arch_ram_base(void);

/* Where Keel puts virtio-mmio device 0 (the console) on this arch. */
uint64_t arch_virtio_base(void);

/* The guest's free-running clock (x86_64: TSC; aarch64: CNTVCT_EL0 after an ISB). */
uint64_t arch_clock(void);

/* That clock's rate in Hz if the guest can read it (aarch64: CNTFRQ_EL0), else 0. */
uint64_t arch_clock_hz(void);

/* --- lib --- */

/* Keel call @nr with up to three arguments. */
struct hc_result hc(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2);

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Format and write through KEEL_HC_CONSOLE_WRITE in one call. Returns its status. */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

/* Value of option @key in a "k=v k2=v2" command line, copied to @buf; false if absent. */
bool opt_get(const char *cmdline, const char *key, char *buf, size_t size);
/* Numeric option (decimal or 0x hex), @def if absent or malformed. */
uint64_t opt_num(const char *cmdline, const char *key, uint64_t def);

/* Busy-wait about @n units (each a fixed number of loop iterations). */
void delay(uint64_t n);

/* Stop this partition through KEEL_HC_SHUTDOWN; spin if that ever returns. */
void guest_shutdown(void) __attribute__((noreturn));

/* lib/virtio.c: a minimal virtio console driver, right and wrong on purpose. */
bool virtio_console_init(uint64_t base, const char **why);
bool virtio_console_send(uint64_t base, const char *s);
void virtio_console_send_bad(uint64_t base, const char *kind, uint64_t outside_gpa);
uint32_t virtio_status(uint64_t base);

/* Entered from start.S with the guest info Keel wrote. */
void guest_main(const struct keel_guest_info *info);

#endif /* KEEL_GUEST_H */
