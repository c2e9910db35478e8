/* SPDX-License-Identifier: MIT */
/*
 * vsnprintf/snprintf for the x86_64 core and the loader: %d %i %u %x %X %p %s
 * %c %%, flags '-' '0', width and precision (also '*'), length hh h l ll z.
 * Always NUL-terminates; returns the length the full output would have had.
 */
#include <keel/lib.h>
#include <keel/types.h>

struct fmt_out {
	char *buf;
	size_t size;
	size_t len;
};

static void fmt_putc(struct fmt_out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void fmt_pad(struct fmt_out *o, char c, int n)
{
	while (n-- > 0)
		fmt_putc(o, c);
}

struct fmt_spec {
	bool left;
	bool zero;
	int width;
	int prec; /* -1: none */
	int lmod; /* 0 int, 1 long, 2 long long, -1 short, -2 char, 3 size_t */
};

static void fmt_str(struct fmt_out *o, const char *s, const struct fmt_spec *sp)
{
	size_t n;

	if (!s)
		s = "(null)";
	n = sp->prec >= 0 ? strnlen(s, (size_t)sp->prec) : strlen(s);
	if (!sp->left)
		fmt_pad(o, ' ', sp->width - (int)n);
	for (size_t i = 0; i < n; i++)
		fmt_putc(o, s[i]);
	if (sp->left)
		fmt_pad(o, ' ', sp->width - (int)n);
}

static void fmt_num(struct fmt_out *o, u64 v, bool neg, unsigned base, bool upper,
		    const char *prefix, const struct fmt_spec *sp)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0, plen = (int)strlen(prefix) + (neg ? 1 : 0), zeros = 0, pad;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (sp->prec > n)
		zeros = sp->prec - n;
	else if (sp->zero && !sp->left && sp->prec < 0 && sp->width > n + plen)
		zeros = sp->width - n - plen;
	pad = sp->width - n - plen - zeros;
	if (!sp->left)
		fmt_pad(o, ' ', pad);
	if (neg)
		fmt_putc(o, '-');
	while (*prefix)
		fmt_putc(o, *prefix++);
	fmt_pad(o, '0', zeros);
	while (n)
		fmt_putc(o, tmp[--n]);
	if (sp->left)
		fmt_pad(o, ' ', pad);
}

static u64 fmt_arg_unsigned(va_list *ap, int lmod)
{
	switch (lmod) {
	case 1:
		return va_arg(*ap, unsigned long);
	case 2:
		return va_arg(*ap, unsigned long long);
	case 3:
		return va_arg(*ap, size_t);
	case -1:
		return (unsigned short)va_arg(*ap, unsigned int);
	case -2:
		return (unsigned char)va_arg(*ap, unsigned int);
	default:
		return va_arg(*ap, unsigned int);
	}
}

static s64 fmt_arg_signed(va_list *ap, int lmod)
{
	switch (lmod) {
	case 1:
		return va_arg(*ap, long);
	case 2:
		return va_arg(*ap, long long);
	case 3:
		return (s64)va_arg(*ap, size_t);
	case -1:
		return (short)va_arg(*ap, int);
	case -2:
		return (signed char)va_arg(*ap, int);
	default:
		return va_arg(*ap, int);
	}
}

/* Parse flags, width, precision and length; returns the conversion character. */
static const char *fmt_parse_spec(const char *f, va_list *ap, struct fmt_spec *sp)
{
	*sp = (struct fmt_spec){ .prec = -1 };
	for (;; f++) {
		if (*f == '-')
			sp->left = true;
		else if (*f == '0')
			sp->zero = true;
		else if (*f != ' ' && *f != '+' && *f != '#')
			break;
	}
	if (*f == '*') {
		sp->width = va_arg(*ap, int);
		if (sp->width < 0) {
			sp->left = true;
			sp->width = -sp->width;
		}
		f++;
	}
	for (; *f >= '0' && *f <= '9'; f++)
		sp->width = sp->width * 10 + (*f - '0');
	if (*f == '.') {
		f++;
		sp->prec = 0;
		if (*f == '*') {
			sp->prec = va_arg(*ap, int);
			f++;
		}
		for (; *f >= '0' && *f <= '9'; f++)
			sp->prec = sp->prec * 10 + (*f - '0');
	}
	for (;; f++) {
		if (*f == 'l')
			sp->lmod = sp->lmod == 1 ? 2 : 1;
		else if (*f == 'h')
			sp->lmod = sp->lmod == -1 ? -2 : -1;
		else if (*f == 'z')
			sp->lmod = 3;
		else
			break;
	}
	return f;
}

static void fmt_one(struct fmt_out *o, char conv, va_list *ap, const struct fmt_spec *sp)
{
	char c;
	s64 sv;

	switch (conv) {
	case 'd':
	case 'i':
		sv = fmt_arg_signed(ap, sp->lmod);
		fmt_num(o, sv < 0 ? -(u64)sv : (u64)sv, sv < 0, 10, false, "", sp);
		break;
	case 'u':
		fmt_num(o, fmt_arg_unsigned(ap, sp->lmod), false, 10, false, "", sp);
		break;
	case 'x':
	case 'X':
		fmt_num(o, fmt_arg_unsigned(ap, sp->lmod), false, 16, conv == 'X', "", sp);
		break;
	case 'p':
		fmt_num(o, (uintptr_t)va_arg(*ap, void *), false, 16, false, "0x", sp);
		break;
	case 's':
		fmt_str(o, va_arg(*ap, const char *), sp);
		break;
	case 'c':
		c = (char)va_arg(*ap, int);
		fmt_pad(o, ' ', sp->left ? 0 : sp->width - 1);
		fmt_putc(o, c);
		fmt_pad(o, ' ', sp->left ? sp->width - 1 : 0);
		break;
	default: /* '%' and anything unknown print themselves */
		fmt_putc(o, conv);
		break;
	}
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct fmt_out o = { buf, size, 0 };
	struct fmt_spec sp;
	va_list args;

	va_copy(args, ap);
	while (*fmt) {
		if (*fmt != '%') {
			fmt_putc(&o, *fmt++);
			continue;
		}
		fmt = fmt_parse_spec(fmt + 1, &args, &sp);
		if (!*fmt)
			break;
		fmt_one(&o, *fmt++, &args, &sp);
	}
	va_end(args);
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
