/*
 * kafka_fmt.c - kcat's -f format strings, -H headers, -K key splitting,
 * --offset values and the JSON form of a consumed message
 * (kafka_fmt.h).
 */
#include "kafka_fmt.h"

#include "buf.h"
#include "json.h"
#include "mem.h"
#include "parse.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(CLI_KFMT_MAX_BYTES <= UINT16_MAX,
               "a literal's offset and length are uint16_t");

/* The letters of kcat's -f that weir knows. */
static const char cli_kfmt_specs[] = "sSkKtpoTh";

/* Appends c to the literal being built, starting a literal item when the
 * last item is a field. */
static bool
cli_kfmt_lit(cli_kfmt *f, size_t *used, char c, char *errbuf, size_t errlen)
{
	if (*used >= sizeof(f->text)) {
		snprintf(errbuf, errlen, "format longer than %d bytes",
		         CLI_KFMT_MAX_BYTES);
		return false;
	}
	cli_kfmt_item *last = f->nitems ? &f->items[f->nitems - 1] : NULL;
	if (last == NULL || last->spec != 0) {
		if (f->nitems == CLI_KFMT_MAX_ITEMS) {
			snprintf(errbuf, errlen,
			         "format has more than %d parts",
			         CLI_KFMT_MAX_ITEMS);
			return false;
		}
		last = &f->items[f->nitems++];
		*last = (cli_kfmt_item){.spec = 0, .off = (uint16_t)*used};
	}
	f->text[(*used)++] = c;
	last->len++;
	return true;
}

static bool
cli_kfmt_field(cli_kfmt *f, char spec, char *errbuf, size_t errlen)
{
	if (spec == '\0' || strchr(cli_kfmt_specs, spec) == NULL) {
		snprintf(errbuf, errlen,
		         spec ? "unknown format specifier %%%c (known: %%s "
		                "%%S %%k %%K %%t %%p %%o %%T %%h %%%%)"
		              : "format ends in a lone %%",
		         spec);
		return false;
	}
	if (f->nitems == CLI_KFMT_MAX_ITEMS) {
		snprintf(errbuf, errlen, "format has more than %d parts",
		         CLI_KFMT_MAX_ITEMS);
		return false;
	}
	f->items[f->nitems++] = (cli_kfmt_item){.spec = spec};
	return true;
}

/* The character \c stands for, or 0 for an unknown escape. */
static char
cli_kfmt_escape(char c)
{
	switch (c) {
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	case '\\':
		return '\\';
	default:
		return 0;
	}
}

bool
cli_kfmt_parse(const char *fmt, cli_kfmt *f, char *errbuf, size_t errlen)
{
	size_t used = 0;

	memset(f, 0, sizeof(*f));
	if (fmt[0] == '\0') {
		snprintf(errbuf, errlen, "empty format");
		return false;
	}
	for (const char *p = fmt; *p; p++) {
		char c = *p;
		if (c == '%' && p[1] != '%') {
			if (!cli_kfmt_field(f, p[1], errbuf, errlen))
				return false;
			p++;
			continue;
		}
		if (c == '%') {
			p++; /* %% */
		} else if (c == '\\') {
			c = cli_kfmt_escape(p[1]);
			if (c == 0) {
				snprintf(errbuf, errlen,
				         p[1] ? "unknown escape \\%c (known: "
				                "\\n \\r \\t \\\\)"
				              : "format ends in a lone \\",
				         p[1]);
				return false;
			}
			p++;
		}
		if (!cli_kfmt_lit(f, &used, c, errbuf, errlen))
			return false;
	}
	return true;
}

static void
cli_kfmt_headers(const cli_kmsg *m, FILE *out)
{
	for (size_t i = 0; i < m->nheaders; i++) {
		const cli_kheader *h = &m->headers[i];
		fprintf(out, "%s%s=", i ? "," : "", h->name);
		if (h->value != NULL)
			fwrite(h->value, 1, h->value_len, out);
	}
}

static void
cli_kfmt_one(char spec, const cli_kmsg *m, FILE *out)
{
	switch (spec) {
	case 's':
		if (m->value != NULL)
			fwrite(m->value, 1, m->value_len, out);
		break;
	case 'S':
		fprintf(out, "%lld", m->value ? (long long)m->value_len : -1LL);
		break;
	case 'k':
		if (m->key != NULL)
			fwrite(m->key, 1, m->key_len, out);
		break;
	case 'K':
		fprintf(out, "%lld", m->key ? (long long)m->key_len : -1LL);
		break;
	case 't':
		fputs(m->topic, out);
		break;
	case 'p':
		fprintf(out, "%" PRId32, m->partition);
		break;
	case 'o':
		fprintf(out, "%" PRId64, m->offset);
		break;
	case 'T':
		fprintf(out, "%" PRId64, m->timestamp_ms);
		break;
	case 'h':
		cli_kfmt_headers(m, out);
		break;
	}
}

void
cli_kfmt_write(const cli_kfmt *f, const cli_kmsg *m, FILE *out)
{
	for (int i = 0; i < f->nitems; i++) {
		const cli_kfmt_item *it = &f->items[i];
		if (it->spec == 0)
			fwrite(f->text + it->off, 1, it->len, out);
		else
			cli_kfmt_one(it->spec, m, out);
	}
}

/* A JSON string of len bytes at p (a NUL inside ends it), or null. */
static void
cli_kmsg_json_bytes(wr_json *j, const void *p, size_t len)
{
	if (p == NULL) {
		wr_json_null(j);
		return;
	}
	char *s = wr_xstrndup(p, len);
	wr_json_str(j, s);
	free(s);
}

void
cli_kmsg_json(const cli_kmsg *m, wr_buf *out)
{
	wr_json j;

	wr_json_init(&j, out);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "topic", m->topic);
	wr_json_kv_int(&j, "partition", m->partition);
	wr_json_kv_int(&j, "offset", m->offset);
	wr_json_key(&j, "timestamp");
	if (m->timestamp_ms >= 0)
		wr_json_int(&j, m->timestamp_ms);
	else
		wr_json_null(&j);
	wr_json_key(&j, "key");
	cli_kmsg_json_bytes(&j, m->key, m->key_len);
	wr_json_key(&j, "value");
	cli_kmsg_json_bytes(&j, m->value, m->value_len);
	wr_json_key(&j, "headers");
	wr_json_arr_begin(&j);
	for (size_t i = 0; i < m->nheaders; i++) {
		wr_json_obj_begin(&j);
		wr_json_kv_str(&j, "name", m->headers[i].name);
		wr_json_key(&j, "value");
		cli_kmsg_json_bytes(&j, m->headers[i].value,
		                    m->headers[i].value_len);
		wr_json_obj_end(&j);
	}
	wr_json_arr_end(&j);
	wr_json_obj_end(&j);
}

bool
cli_kheader_parse(const char *arg, size_t *name_len, const char **value)
{
	const char *eq = strchr(arg, '=');
	if (eq == NULL || eq == arg)
		return false;
	*name_len = (size_t)(eq - arg);
	*value = eq + 1;
	return true;
}

bool
cli_kline_split(const char *line, size_t len, const char *sep, size_t *key_len,
                const char **value, size_t *value_len)
{
	size_t n = strlen(sep);
	if (n == 0 || n > len)
		return false;
	const char *hit = memmem(line, len, sep, n);
	if (hit == NULL)
		return false;
	*key_len = (size_t)(hit - line);
	*value = hit + n;
	*value_len = len - *key_len - n;
	return true;
}

bool
cli_koffset_parse(const char *arg, int64_t *out)
{
	int64_t n;

	if (strcmp(arg, "beginning") == 0 || strcmp(arg, "earliest") == 0)
		*out = RD_KAFKA_OFFSET_BEGINNING;
	else if (strcmp(arg, "end") == 0 || strcmp(arg, "latest") == 0)
		*out = RD_KAFKA_OFFSET_END;
	else if (strcmp(arg, "stored") == 0)
		*out = RD_KAFKA_OFFSET_STORED;
	else if (wr_parse_int64(arg, &n) != 0 ||
	         (n < 0 && -(n + 1) >= INT64_MAX + RD_KAFKA_OFFSET_TAIL_BASE))
		return false; /* -N must not overflow librdkafka's encoding */
	else
		*out = n >= 0 ? n : RD_KAFKA_OFFSET_TAIL(-n);
	return true;
}
