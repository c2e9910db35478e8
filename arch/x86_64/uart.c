/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor console on the 16550 UART at COM1 (0x3f8, 115200 8N1,
 * polled, no interrupts), and the clock: the TSC scaled by the frequency
 * the loader measured.
 */
#include <keel/arch.h>

#include "x86.h"

#define UART_BASE 0x3f8
#define UART_THR 0 /* transmit holding (DLAB=0) */
#define UART_RBR 0 /* receive buffer (DLAB=0) */
#define UART_DLL 0 /* divisor low (DLAB=1) */
#define UART_IER 1
#define UART_DLM 1 /* divisor high (DLAB=1) */
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_LSR_DR 0x01 /* data ready */
#define UART_LSR_THRE 0x20 /* transmit holding register empty */
#define UART_LCR_DLAB 0x80
#define UART_LCR_8N1 0x03

/* A dead or absent UART must not hang the hypervisor: bound each wait. */
#define UART_TX_SPIN 100000

void uart_init(void)
{
	x86_outb(UART_BASE + UART_IER, 0x00);
	x86_outb(UART_BASE + UART_LCR, UART_LCR_DLAB);
	x86_outb(UART_BASE + UART_DLL, 1); /* 115200 baud */
	x86_outb(UART_BASE + UART_DLM, 0);
	x86_outb(UART_BASE + UART_LCR, UART_LCR_8N1);
	x86_outb(UART_BASE + UART_FCR, 0xc7); /* FIFOs on and cleared */
	x86_outb(UART_BASE + UART_MCR, 0x03); /* DTR, RTS; OUT2 off: no IRQ */
}

static void uart_putc(char c)
{
	for (u32 i = 0; i < UART_TX_SPIN; i++) {
		if (x86_inb(UART_BASE + UART_LSR) & UART_LSR_THRE)
			break;
		arch_cpu_relax();
	}
	x86_outb(UART_BASE + UART_THR, (u8)c);
}

void arch_console_write(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n')
			uart_putc('\r');
		uart_putc(s[i]);
	}
}

/*
 * One byte per THRE: not every 16550 model (Bochs's) takes a FIFO's worth
 * behind one look at THRE.
 */
size_t arch_console_try_write(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && (x86_inb(UART_BASE + UART_LSR) & UART_LSR_THRE))
		x86_outb(UART_BASE + UART_THR, (u8)s[n++]);
	return n;
}

int arch_console_getc(void)
{
	if (!(x86_inb(UART_BASE + UART_LSR) & UART_LSR_DR))
		return -1;
	return x86_inb(UART_BASE + UART_RBR);
}

/* ns = (tsc - tsc0) * mult >> 32, so no 128-bit division is needed. */
static u64 x86_tsc0;
static u64 x86_tsc_mult;
static u64 x86_tsc_hz;

void x86_time_init(u64 tsc_hz)
{
	/* The loader measured it; a value below 1 MHz means it could not. */
	if (tsc_hz < 1000000)
		tsc_hz = 1000000000;
	x86_tsc_hz = tsc_hz;
	x86_tsc_mult = (1000000000ull << 32) / tsc_hz;
	x86_tsc0 = x86_rdtsc();
}

u64 arch_time_ns(void)
{
	u64 delta = x86_rdtsc() - x86_tsc0;

	return (u64)(((unsigned __int128)delta * x86_tsc_mult) >> 32);
}

u64 arch_ticks_to_ns(u64 ticks)
{
	return x86_tsc_to_ns(ticks);
}

u64 arch_time_origin_ns(void)
{
	return x86_tsc_to_ns(x86_tsc0);
}

u64 x86_tsc_khz(void)
{
	return x86_tsc_hz / 1000;
}

u64 x86_tsc_to_ns(u64 ticks)
{
	return (u64)(((unsigned __int128)ticks * x86_tsc_mult) >> 32);
}

void x86_udelay(u64 us)
{
	u64 end = x86_rdtsc() + us * (x86_tsc_hz / 1000000);

	while ((s64)(x86_rdtsc() - end) < 0)
		arch_cpu_relax();
}
