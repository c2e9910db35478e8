/* SPDX-License-Identifier: MIT */
/*
 * A PCI address as keel.cfg and keelctl write it: "SSSS:BB:DD.F", or
 * "BB:DD.F" on segment 0, in hex. Header-only, plain C and <stdint.h>
 * types, so the loader (boot/config.c) and keelctl share the one parser.
 */
#ifndef KEEL_PCI_ADDR_H
#define KEEL_PCI_ADDR_H

#include <keel/abi.h>

enum keel_pci_parse {
	KEEL_PCI_PARSE_OK = 0,
	KEEL_PCI_PARSE_SYNTAX, /* not of that form */
	KEEL_PCI_PARSE_DEVICE, /* device above 0x1f */
	KEEL_PCI_PARSE_FUNCTION, /* function above 7 */
};

/* At most @max hex digits at *@s, then @end: the value in *@v, *@s past @end; else 0. */
static inline int keel_pci_hex_field(const char **s, unsigned max, char end, uint32_t *v)
{
	const char *p = *s;
	uint32_t x = 0;
	unsigned n;

	for (n = 0; p[n]; n++) {
		char c = p[n];
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else
			break;
		if (n == max)
			return 0;
		x = x * 16 + d;
	}
	if (!n || p[n] != end)
		return 0;
	*v = x;
	*s = p + n + 1;
	return 1;
}

/*
 * Parse NUL-terminated @s: KEEL_PCI_PARSE_OK with *@addr = KEEL_PCI_ADDR(...),
 * else what is wrong, with the offending number in *@bad.
 */
static inline enum keel_pci_parse keel_pci_addr_parse(const char *s, uint32_t *addr, uint32_t *bad)
{
	uint32_t seg = 0, bus, dev, fn;
	unsigned colons = 0;
	const char *q = s;

	for (const char *c = s; *c; c++)
		colons += *c == ':';
	if (colons == 2 && !keel_pci_hex_field(&q, 4, ':', &seg))
		return KEEL_PCI_PARSE_SYNTAX;
	if (!keel_pci_hex_field(&q, 2, ':', &bus) || !keel_pci_hex_field(&q, 2, '.', &dev) ||
	    !keel_pci_hex_field(&q, 1, '\0', &fn))
		return KEEL_PCI_PARSE_SYNTAX;
	if (dev > 0x1f) {
		*bad = dev;
		return KEEL_PCI_PARSE_DEVICE;
	}
	if (fn > 7) {
		*bad = fn;
		return KEEL_PCI_PARSE_FUNCTION;
	}
	*addr = KEEL_PCI_ADDR(seg, bus, dev, fn);
	return KEEL_PCI_PARSE_OK;
}

#endif /* KEEL_PCI_ADDR_H */
