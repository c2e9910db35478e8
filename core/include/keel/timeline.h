/* SPDX-License-Identifier: MIT */
/*
 * The boot timeline: when each step of a boot happened, in nanoseconds since
 * the machine's clock counter started (its reset), so firmware time shows
 * too. The loader's steps come in the boot info as raw counter readings;
 * the core adds its entry, each CPU online and each keel.cfg partition's
 * first instruction. At log = info the boot CPU prints it once as a table,
 * when every partition started at boot has run (or after 30 s); management
 * partitions read it through KEEL_HC_MGMT_BOOT_TIMELINE.
 */
#ifndef KEEL_TIMELINE_H
#define KEEL_TIMELINE_H

#include <keel/abi.h>
#include <keel/boot_info.h>
#include <keel/types.h>

struct partition;

/* The loader's steps and the core's entry (first thing keel_main does after the console). */
void timeline_boot(const struct keel_boot_info *bi);
void timeline_cpu_online(u32 cpu);
/* keel.cfg partition @part is started at boot: its first instruction is awaited. */
void timeline_expect(struct partition *part);
/* @part's boot vCPU is about to enter the guest at its entry point. */
void timeline_first_entry(struct partition *part);
/* Arm the boot CPU's check that prints the table (boot CPU only). */
void timeline_start(void);
/* Print the table now unless it was (the machine is about to power off). */
void timeline_print_once(void);

/* Up to @max events, in time order, into @out; returns how many there are. */
u32 timeline_copy(struct keel_boot_event *out, u32 max);

#endif /* KEEL_TIMELINE_H */
