/* buf.c - the growable byte/string buffer (buf.h). */
#include "buf.h"

#include "mem.h"
#include "wr_assert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
wr_buf_init(wr_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
wr_buf_fini(wr_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	wr_buf_init(b);
}

void
wr_buf_reset(wr_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
wr_buf_reserve(wr_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	b->data = wr_xrealloc(b->data, cap);
	b->cap = cap;
}

void
wr_buf_append(wr_buf *b, const void *p, size_t n)
{
	wr_buf_reserve(b, n);
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
wr_buf_puts(wr_buf *b, const char *s)
{
	wr_buf_append(b, s, strlen(s));
}

void
wr_buf_putc(wr_buf *b, char c)
{
	wr_buf_append(b, &c, 1);
}

void
wr_buf_vprintf(wr_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	WR_ASSERT(n >= 0);
	wr_buf_reserve(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void
wr_buf_printf(wr_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	wr_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

char *
wr_buf_steal(wr_buf *b)
{
	char *p = b->data ? b->data : wr_xstrdup("");
	wr_buf_init(b);
	return p;
}
