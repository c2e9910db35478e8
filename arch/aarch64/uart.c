/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor console on a PL011 UART (found from the DTB's
 * /chosen stdout-path, QEMU virt's 0x09000000 if none) and the time base
 * from the generic timer's physical counter.
 */
#include <keel/arch.h>
#include <keel/types.h>

#include "aarch64.h"

#define PL011_DR 0x00
#define PL011_FR 0x18
#define PL011_FR_RXFE BIT(4)
#define PL011_FR_TXFF BIT(5)

#define UART_DEFAULT_BASE 0x09000000ull
#define UART_TX_SPIN 100000 /* give up on a stuck UART rather than hang */

static volatile u8 *uart_base = (volatile u8 *)UART_DEFAULT_BASE;
static u64 time_freq;
static u64 time_start;

static inline u32 uart_read(u32 reg)
{
	return *(volatile u32 *)(uart_base + reg);
}

static inline void uart_write(u32 reg, u32 val)
{
	*(volatile u32 *)(uart_base + reg) = val;
}

void uart_init(hpa_t base)
{
	if (base)
		uart_base = (volatile u8 *)base;
	time_freq = read_sysreg(cntfrq_el0);
	if (!time_freq)
		time_freq = 62500000; /* QEMU's default if firmware left 0 */
	isb();
	time_start = read_sysreg(cntpct_el0);
}

void uart_putc_raw(char c)
{
	int spin = UART_TX_SPIN;

	while ((uart_read(PL011_FR) & PL011_FR_TXFF) && --spin)
		arch_cpu_relax();
	uart_write(PL011_DR, (u8)c);
}

void uart_puts_raw(const char *s)
{
	while (*s) {
		if (*s == '\n')
			uart_putc_raw('\r');
		uart_putc_raw(*s++);
	}
}

void arch_console_write(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n')
			uart_putc_raw('\r');
		uart_putc_raw(s[i]);
	}
}

size_t arch_console_try_write(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && !(uart_read(PL011_FR) & PL011_FR_TXFF))
		uart_write(PL011_DR, (u8)s[n++]);
	return n;
}

int arch_console_getc(void)
{
	if (uart_read(PL011_FR) & PL011_FR_RXFE)
		return -1;
	return (int)(uart_read(PL011_DR) & 0xff);
}

u64 arch_ticks_to_ns(u64 ticks)
{
	/* Split so ticks * 1e9 cannot overflow. */
	u64 sec = ticks / time_freq, rem = ticks % time_freq;

	return sec * 1000000000ull + rem * 1000000000ull / time_freq;
}

u64 arch_time_origin_ns(void)
{
	return arch_ticks_to_ns(time_start);
}

u64 arch_time_ns(void)
{
	isb();
	return arch_ticks_to_ns(read_sysreg(cntpct_el0) - time_start);
}

u64 time_ns_to_ticks(u64 ns)
{
	return time_start + ns / 1000000000ull * time_freq +
	       ns % 1000000000ull * time_freq / 1000000000ull;
}
