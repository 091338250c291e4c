/* mem.c - control-plane allocation that aborts on failure (mem.h). */
#include "mem.h"

#include "wr_assert.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *
wr_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		wr_panic(__FILE__, __LINE__,
		         "out of memory allocating %zu bytes", n);
	return p;
}

void *
wr_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (p == NULL)
		wr_panic(__FILE__, __LINE__,
		         "out of memory allocating %zu x %zu", nmemb, size);
	return p;
}

void *
wr_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		wr_panic(__FILE__, __LINE__, "out of memory reallocating %zu",
		         n);
	return q;
}

char *
wr_xstrdup(const char *s)
{
	return wr_xstrndup(s, strlen(s));
}

char *
wr_xstrndup(const char *s, size_t n)
{
	char *p = wr_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
wr_xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	WR_ASSERT(n >= 0);
	char *p = wr_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
