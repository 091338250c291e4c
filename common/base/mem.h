/*
 * mem.h - control-plane allocation. These abort on failure (as librdkafka
 * and Redis do): a daemon that cannot allocate a few bytes of control state
 * cannot continue meaningfully. Data-plane memory uses budgets instead.
 */
#ifndef WR_MEM_H
#define WR_MEM_H

#include <stddef.h>

void *wr_xmalloc(size_t n);
void *wr_xcalloc(size_t nmemb, size_t size);
void *wr_xrealloc(void *p, size_t n);
char *wr_xstrdup(const char *s);
char *wr_xstrndup(const char *s, size_t n);
/* printf into a fresh heap string. */
char *wr_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
