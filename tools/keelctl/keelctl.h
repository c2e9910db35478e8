/* SPDX-License-Identifier: MIT */
/*
 * What keelctl.c (device, partitions, commands) shares with console.c (the
 * console command). Functions returning int give 0 or a KC_EXIT_* code, the
 * message already printed; those named *_raw give 0 or -errno.
 */
#ifndef KEELCTL_H
#define KEELCTL_H

#include <stdbool.h>
#include <stdint.h>

#include "keel_dev.h"
#include "util.h"

/* Prints "keelctl: <fmt>" and a newline to stderr; returns @code. */
int kc_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Checks root, opens /dev/keel (or $KEEL_DEV), reads the host info into @hi
 * (may be NULL) and checks the ABI major (a warning only if @abi_warn_only).
 */
int kc_open(struct keel_host_info *hi, bool abi_warn_only);
/* The partition @ref names (a name or an id), from LIST. */
int kc_resolve(const char *ref, struct keel_part_status *st);
/* kc_open(), then kc_resolve(@ref): what most commands start with. */
int kc_open_part(const char *ref, struct keel_part_status *st);
/* One ioctl on /dev/keel, retried if a signal interrupted it; 0 or -errno. */
int kc_ioctl(unsigned long req, void *arg);
int kc_stats_raw(uint32_t id, struct keel_part_stats *out);
/*
 * Sleep until partition @id's event count (KEEL_IOC_WATCH: state changes,
 * console output, resize progress) moves from *@seen, or @ms pass, then
 * update *@seen (and *@out, if given). KC_WATCH_NONE as *@seen returns at
 * once with the count. Without the event interrupt (an older Keel or
 * driver) or on an error it sleeps min(@ms, KC_POLL_MS) instead: 0 or
 * -errno, and the caller's next query says what went wrong.
 */
#define KC_WATCH_NONE UINT64_MAX
#define KC_POLL_MS 50u
int kc_watch(uint32_t id, uint64_t *seen, uint64_t ms, struct keel_ioc_watch *out);
/*
 * KEEL_IOC_WATCH with no wait: *@out = @id's count, state and console end
 * now, and poll() on kc_dev_fd() reports POLLIN at Keel's next event of any
 * partition. 0 or -errno (ENODEV/ENOTTY: no event interrupt).
 */
int kc_watch_arm(uint32_t id, struct keel_ioc_watch *out);
int kc_dev_fd(void);
/* An ioctl of struct keel_ioc_ctl (START ... DESTROY). */
int kc_ctl_raw(unsigned long req, uint32_t id, uint32_t flags, uint32_t timeout_ms);

/* Monotonic milliseconds. */
uint64_t kc_now_ms(void);
void kc_sleep_ms(unsigned int ms);
/* Writes all of @buf to @fd (retrying short writes); 0 or -errno. */
int kc_write_all(int fd, const void *buf, size_t len);

/* The console command (console.c). */
#define KC_CONSOLE_NOPTS 6
extern const struct kc_opt kc_console_opts[KC_CONSOLE_NOPTS];
int kc_cmd_console(const struct kc_args *a);

#endif /* KEELCTL_H */
