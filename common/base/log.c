/* log.c - one line per event on stderr, one write(2) each (log.h). */
#include "log.h"

#include "wr_limits.h"
#include "wr_assert.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int wr_log_level_min = WR_LOG_INFO;
static const char *wr_log_role = "weir";

static const char *const wr_log_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void
wr_log_set_role(const char *role)
{
	wr_log_role = role;
}

void
wr_log_set_level(int level)
{
	if (level >= WR_LOG_DEBUG && level <= WR_LOG_ERROR)
		wr_log_level_min = level;
}

int
wr_log_level_parse(const char *s)
{
	for (int i = 0; i <= WR_LOG_ERROR; i++)
		if (strcasecmp(s, wr_log_names[i]) == 0)
			return i;
	if (strcasecmp(s, "warning") == 0)
		return WR_LOG_WARN;
	return -1;
}

void
wr_log_init_from_env(void)
{
	const char *s = getenv("WEIR_LOG_LEVEL");
	if (s != NULL && wr_log_level_parse(s) >= 0)
		wr_log_set_level(wr_log_level_parse(s));
}

static size_t
wr_log_prefix(char *buf, size_t len, int level, const char *event)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n =
	    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s %s ",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
	             wr_log_names[level], wr_log_role, event);
	return n < 0 ? 0 : ((size_t)n >= len ? len - 1 : (size_t)n);
}

void
wr_log_write(int level, const char *event, const char *fmt, ...)
{
	char line[WR_LOG_LINE_BYTES];
	if (level < WR_LOG_DEBUG || level > WR_LOG_ERROR)
		level = WR_LOG_ERROR;
	size_t n = wr_log_prefix(line, sizeof(line), level, event);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += (size_t)m;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	/* Keep one event on one line: fold embedded newlines. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}

void
wr_panic(const char *file, int line, const char *fmt, ...)
{
	char msg[WR_LOG_LINE_BYTES / 2];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wr_log_write(WR_LOG_ERROR, "PANIC", "%s:%d: %s", file, line, msg);
	abort();
}
