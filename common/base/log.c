/* log.c - one line per event on stderr, one write(2) each (log.h). */
#include "log.h"

#include "wr_limits.h"
#include "wr_assert.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int wr_log_level_min = WR_LOG_INFO;
static const char *wr_log_role = "weir";
static int wr_log_fmt = WR_LOG_TEXT;

/* The longest job=/task= value copied into a JSON line's own field. */
#define WR_LOG_TAG_BYTES 64

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
wr_log_set_format(int format)
{
	if (format == WR_LOG_TEXT || format == WR_LOG_JSON)
		wr_log_fmt = format;
}

int
wr_log_format_parse(const char *s)
{
	if (strcasecmp(s, "text") == 0)
		return WR_LOG_TEXT;
	if (strcasecmp(s, "json") == 0)
		return WR_LOG_JSON;
	return -1;
}

void
wr_log_init_from_env(void)
{
	const char *s = getenv("WEIR_LOG_LEVEL");
	if (s != NULL && wr_log_level_parse(s) >= 0)
		wr_log_set_level(wr_log_level_parse(s));
	s = getenv("WEIR_LOG_FORMAT");
	if (s != NULL && wr_log_format_parse(s) >= 0)
		wr_log_set_format(wr_log_format_parse(s));
}

/* "2026-11-22T05:40:00.123Z" (25 bytes with the NUL). */
static void
wr_log_time(char out[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/* A bounded writer: once something did not fit, nothing more is added, so
 * a cut line still ends where a whole character or escape ended. */
typedef struct {
	char *buf;
	size_t cap; /* bytes usable, the closing bytes kept out */
	size_t n;
	bool full;
} wr_log_out;

static void
wr_log_put(wr_log_out *o, const char *s, size_t k)
{
	if (o->full || o->n + k > o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->n, s, k);
	o->n += k;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 if it is not one. */
static size_t
wr_utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t k;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		k = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		k = 3;
		lo = c == 0xE0 ? 0xA0 : 0x80;
		hi = c == 0xED ? 0x9F : 0xBF;
	} else if (c >= 0xF0 && c <= 0xF4) {
		k = 4;
		lo = c == 0xF0 ? 0x90 : 0x80;
		hi = c == 0xF4 ? 0x8F : 0xBF;
	} else
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < k; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return k;
}

/* Writes s (up to max bytes) as a JSON string, quotes included. */
static void
wr_log_json_str(wr_log_out *o, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	wr_log_put(o, "\"", 1);
	o->cap--; /* the closing quote's byte */
	for (size_t i = 0; i < max && p[i] != 0 && !o->full;) {
		unsigned char c = p[i];
		char esc[8];
		size_t k = wr_utf8_len(p + i);
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			wr_log_put(o, esc, 2);
		} else if (c < 0x20 || c == 0x7F) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			wr_log_put(o, esc, 6);
		} else if (k == 0 || i + k > max) {
			wr_log_put(o, "\\ufffd", 6); /* not UTF-8: say so */
			k = 1;
		} else
			wr_log_put(o, (const char *)p + i, k);
		i += k == 0 ? 1 : k;
	}
	o->cap++;
	o->full = false;
	wr_log_put(o, "\"", 1);
}

/* The value of the first `name=` word of msg: up to a space, a trailing
 * ':' or ',' dropped. Returns its length (0: none), *at its start. */
static size_t
wr_log_tag(const char *msg, const char *name, const char **at)
{
	size_t nl = strlen(name);
	for (const char *p = msg; (p = strstr(p, name)) != NULL; p += nl) {
		if (p != msg && p[-1] != ' ')
			continue;
		const char *v = p + nl;
		size_t k = strcspn(v, " \t\n\r");
		while (k > 0 && (v[k - 1] == ':' || v[k - 1] == ','))
			k--;
		if (k == 0)
			return 0;
		*at = v;
		return k < WR_LOG_TAG_BYTES ? k : WR_LOG_TAG_BYTES;
	}
	return 0;
}

static void
wr_log_json_field(wr_log_out *o, const char *key, const char *v, size_t k)
{
	wr_log_put(o, ",\"", 2);
	wr_log_put(o, key, strlen(key));
	wr_log_put(o, "\":", 2);
	wr_log_json_str(o, v, k);
}

static size_t
wr_log_json_line(wr_log_out *o, int level, const char *event, const char *msg)
{
	char t[32];
	const char *v = NULL;
	wr_log_time(t);
	wr_log_put(o, "{\"time\":\"", 9);
	wr_log_put(o, t, strlen(t));
	wr_log_put(o, "\",\"level\":\"", 11);
	wr_log_put(o, wr_log_names[level], strlen(wr_log_names[level]));
	wr_log_put(o, "\"", 1);
	wr_log_json_field(o, "event", event, WR_LOG_TAG_BYTES);
	wr_log_json_field(o, "component", wr_log_role, SIZE_MAX);
	size_t k = wr_log_tag(msg, "job=", &v);
	if (k > 0)
		wr_log_json_field(o, "job_id", v, k);
	if ((k = wr_log_tag(msg, "task=", &v)) > 0)
		wr_log_json_field(o, "task", v, k);
	wr_log_json_field(o, "message", msg, SIZE_MAX);
	o->buf[o->n++] = '}';
	o->buf[o->n++] = '\n';
	return o->n;
}

size_t
wr_log_format_line(char *buf, size_t len, int format, int level,
                   const char *event, const char *msg)
{
	/* room for the fixed fields, the event and the two tags, escaped
	 * (6 bytes each at worst): only the message is ever cut */
	WR_ASSERT(len >= 32 * WR_LOG_TAG_BYTES);
	if (level < WR_LOG_DEBUG || level > WR_LOG_ERROR)
		level = WR_LOG_ERROR;
	/* "}\n" after the message's closing quote, one byte spare */
	wr_log_out o = {buf, len - 3, 0, false};
	if (format == WR_LOG_JSON)
		return wr_log_json_line(&o, level, event, msg);
	char t[32];
	wr_log_time(t);
	int n = snprintf(buf, len - 1, "%s %s %s %s %s", t, wr_log_names[level],
	                 wr_log_role, event, msg);
	size_t m = n < 0 ? 0 : ((size_t)n >= len - 1 ? len - 2 : (size_t)n);
	/* Keep one event on one line: fold embedded newlines. */
	for (size_t i = 0; i < m; i++)
		if (buf[i] == '\n' || buf[i] == '\r')
			buf[i] = ' ';
	buf[m++] = '\n';
	return m;
}

void
wr_log_write(int level, const char *event, const char *fmt, ...)
{
	char msg[WR_LOG_LINE_BYTES];
	/* escaping may grow a JSON message up to 6 times; most lines are
	 * short, a long one is cut */
	char line[2 * WR_LOG_LINE_BYTES];
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m < 0)
		msg[0] = 0;
	size_t n = wr_log_format_line(line, sizeof(line), wr_log_fmt, level,
	                              event, msg);
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
