/* SPDX-License-Identifier: MIT */
/* Basic types and helpers shared by every part of Keel (core, arch, boot, host tests). */
#ifndef KEEL_TYPES_H
#define KEEL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;

/*
 * Address spaces. gpa_t: guest-physical (a partition's view). hpa_t:
 * host-physical. Hypervisor-virtual addresses are plain pointers; the core is
 * identity mapped, and converts only through hpa_to_hva() / hva_to_hpa().
 */
typedef u64 gpa_t;
typedef u64 hpa_t;

static inline void *hpa_to_hva(hpa_t pa)
{
	return (void *)(uintptr_t)pa;
}

static inline hpa_t hva_to_hpa(const void *va)
{
	return (hpa_t)(uintptr_t)va;
}

#define PAGE_SHIFT 12
#define PAGE_SIZE (1ull << PAGE_SHIFT)
#define SZ_2M (1ull << 21)
#define SZ_1G (1ull << 30)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((u64)(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((u64)(a)-1))
#define IS_ALIGNED(x, a) (((x) & ((u64)(a)-1)) == 0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define BIT(n) (1ull << (n))

#define __packed __attribute__((packed))
#define __aligned(x) __attribute__((aligned(x)))
#define __noreturn __attribute__((noreturn))
#define __unused __attribute__((unused))
#define __printf(a, b) __attribute__((format(printf, a, b)))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/* true if [base, base + len) wraps around the address space. */
static inline bool range_overflows(u64 base, u64 len)
{
	return len != 0 && base + len - 1 < base;
}

/* true if [a, a + alen) and [b, b + blen) share a byte (neither may wrap). */
static inline bool ranges_overlap(u64 a, u64 alen, u64 b, u64 blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* true if [inner, inner + ilen) lies inside [outer, outer + olen). */
static inline bool range_within(u64 inner, u64 ilen, u64 outer, u64 olen)
{
	return !range_overflows(inner, ilen) && inner >= outer && inner - outer <= olen &&
	       ilen <= olen - (inner - outer);
}

#endif /* KEEL_TYPES_H */
