/*
 * buf.h - a growable byte/string buffer for building text (JSON, Prometheus
 * exposition, tables). Control-plane only: growth aborts on OOM.
 * The contents are always NUL-terminated.
 */
#ifndef WR_BUF_H
#define WR_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct wr_buf {
	char *data;
	size_t len;
	size_t cap;
} wr_buf;

void wr_buf_init(wr_buf *b);
void wr_buf_fini(wr_buf *b);
void wr_buf_reset(wr_buf *b);
void wr_buf_reserve(wr_buf *b, size_t extra);
void wr_buf_append(wr_buf *b, const void *p, size_t n);
void wr_buf_puts(wr_buf *b, const char *s);
void wr_buf_putc(wr_buf *b, char c);
void wr_buf_printf(wr_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void wr_buf_vprintf(wr_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Hands the heap string to the caller (free() it); b is reset to empty. */
char *wr_buf_steal(wr_buf *b);

#endif
