/* json.c - the streaming JSON writer into a wr_buf (json.h). */
#include "json.h"

#include "wr_assert.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

void
wr_json_init(wr_json *j, wr_buf *out)
{
	j->out = out;
	j->depth = 0;
	j->first[0] = true;
	j->after_key = false;
}

/* Writes the separator a new value needs at the current level. */
static void
wr_json_sep(wr_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (!j->first[j->depth])
		wr_buf_putc(j->out, ',');
	j->first[j->depth] = false;
}

static void
wr_json_open(wr_json *j, char c)
{
	wr_json_sep(j);
	wr_buf_putc(j->out, c);
	WR_ASSERT(j->depth + 1 < WR_JSON_MAX_DEPTH);
	j->depth++;
	j->first[j->depth] = true;
}

static void
wr_json_close(wr_json *j, char c)
{
	WR_ASSERT(j->depth > 0 && !j->after_key);
	j->depth--;
	wr_buf_putc(j->out, c);
}

void
wr_json_obj_begin(wr_json *j)
{
	wr_json_open(j, '{');
}

void
wr_json_obj_end(wr_json *j)
{
	wr_json_close(j, '}');
}

void
wr_json_arr_begin(wr_json *j)
{
	wr_json_open(j, '[');
}

void
wr_json_arr_end(wr_json *j)
{
	wr_json_close(j, ']');
}

void
wr_json_escape(wr_buf *out, const char *s)
{
	wr_buf_putc(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			wr_buf_puts(out, "\\\"");
			break;
		case '\\':
			wr_buf_puts(out, "\\\\");
			break;
		case '\n':
			wr_buf_puts(out, "\\n");
			break;
		case '\r':
			wr_buf_puts(out, "\\r");
			break;
		case '\t':
			wr_buf_puts(out, "\\t");
			break;
		default:
			if (*p < 0x20)
				wr_buf_printf(out, "\\u%04x", *p);
			else
				wr_buf_putc(out, (char)*p);
		}
	}
	wr_buf_putc(out, '"');
}

void
wr_json_key(wr_json *j, const char *key)
{
	WR_ASSERT(!j->after_key);
	wr_json_sep(j);
	wr_json_escape(j->out, key);
	wr_buf_putc(j->out, ':');
	j->after_key = true;
}

void
wr_json_str(wr_json *j, const char *s)
{
	wr_json_sep(j);
	wr_json_escape(j->out, s ? s : "");
}

void
wr_json_int(wr_json *j, int64_t v)
{
	wr_json_sep(j);
	wr_buf_printf(j->out, "%" PRId64, v);
}

void
wr_json_uint(wr_json *j, uint64_t v)
{
	wr_json_sep(j);
	wr_buf_printf(j->out, "%" PRIu64, v);
}

void
wr_json_double(wr_json *j, double v)
{
	wr_json_sep(j);
	if (!isfinite(v))
		wr_buf_puts(j->out, "null"); /* JSON has no NaN/Inf */
	else
		wr_buf_printf(j->out, "%.17g", v);
}

void
wr_json_bool(wr_json *j, bool v)
{
	wr_json_sep(j);
	wr_buf_puts(j->out, v ? "true" : "false");
}

void
wr_json_null(wr_json *j)
{
	wr_json_sep(j);
	wr_buf_puts(j->out, "null");
}

void
wr_json_kv_str(wr_json *j, const char *key, const char *s)
{
	wr_json_key(j, key);
	wr_json_str(j, s);
}

void
wr_json_kv_int(wr_json *j, const char *key, int64_t v)
{
	wr_json_key(j, key);
	wr_json_int(j, v);
}

void
wr_json_kv_bool(wr_json *j, const char *key, bool v)
{
	wr_json_key(j, key);
	wr_json_bool(j, v);
}
