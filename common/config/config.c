/*
 * config.c - the table-driven config engine (see config.h).
 *
 * Every source of a value (table default, YAML scalar, environment variable,
 * command-line flag) goes through one path, wr_cfg_apply_text(), so a value
 * is validated the same way wherever it comes from; only the prefix of the
 * error message ("file:line:col: ", "environment variable X: ") differs.
 */
#include "config.h"

#include "err.h"
#include "mem.h"
#include "parse.h"
#include "wr_assert.h"
#include "wr_yaml.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Room for one value or key quoted in a message. */
#define WR_CFG_QUOTE_BYTES 80
/* Room for a message about one value (no lists of keys). */
#define WR_CFG_MSG_BYTES 512

union wr_cfg_value {
	char *s;
	int64_t i;
	bool b;
	int e;
};

static void __attribute__((format(printf, 3, 4)))
wr_cfg_errf(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

static const char *
wr_cfg_type_name(enum wr_cfg_type type)
{
	switch (type) {
	case WR_CFG_STRING:
		return "string";
	case WR_CFG_INT:
		return "integer";
	case WR_CFG_BOOL:
		return "boolean";
	case WR_CFG_DURATION:
		return "duration";
	case WR_CFG_SIZE:
		return "size";
	case WR_CFG_ENUM:
		return "enum";
	case WR_CFG_LIST:
		return "list";
	}
	return "unknown";
}

/* Length of the section part of a dotted name (up to its last dot); 0 for
 * a top-level name. */
static size_t
wr_cfg_section_len(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot != NULL ? (size_t)(dot - name) : 0;
}

/* The key within the section ("rpc" for "jobmanager.rpc"). */
static const char *
wr_cfg_leaf(const char *name)
{
	size_t n = wr_cfg_section_len(name);
	return n > 0 ? name + n + 1 : name;
}

static bool
wr_cfg_same_section(const char *a, const char *b)
{
	size_t n = wr_cfg_section_len(a);
	return n == wr_cfg_section_len(b) && memcmp(a, b, n) == 0;
}

/* Length of the first component of a name. */
static size_t
wr_cfg_top_len(const char *name)
{
	const char *dot = strchr(name, '.');
	return dot != NULL ? (size_t)(dot - name) : strlen(name);
}

/* First component of a name: the section, or the whole top-level name. */
static bool
wr_cfg_top_is(const char *name, const char *s, size_t len)
{
	return wr_cfg_top_len(name) == len && memcmp(name, s, len) == 0;
}

/* True when name's section is sec or a subsection of it: *sub is then the
 * subsection's component after sec (length *sublen, 0 for sec itself). */
static bool
wr_cfg_in_section(const char *name, const char *sec, size_t seclen,
                  const char **sub, size_t *sublen)
{
	size_t n = wr_cfg_section_len(name);
	if (n < seclen || memcmp(name, sec, seclen) != 0)
		return false;
	if (n == seclen) {
		*sub = NULL;
		*sublen = 0;
		return true;
	}
	if (name[seclen] != '.')
		return false;
	*sub = name + seclen + 1;
	*sublen = wr_cfg_top_len(*sub);
	return true;
}

/*
 * Finds the entry for key (keylen bytes) in section sec (seclen bytes), or
 * for a top-level key when seclen is 0.
 */
static const wr_cfg_entry *
wr_cfg_find(const wr_cfg_table *t, const char *sec, size_t seclen,
            const char *key, size_t keylen)
{
	for (size_t i = 0; i < t->n; i++) {
		const wr_cfg_entry *e = &t->entries[i];
		const char *leaf = wr_cfg_leaf(e->name);
		if (wr_cfg_section_len(e->name) != seclen ||
		    memcmp(e->name, sec, seclen) != 0)
			continue;
		if (strlen(leaf) == keylen && memcmp(leaf, key, keylen) == 0)
			return e;
	}
	return NULL;
}

/* True when some entry is in section sec or in a subsection of it. */
static bool
wr_cfg_section_exists(const wr_cfg_table *t, const char *sec, size_t seclen)
{
	const char *sub;
	size_t sublen;
	for (size_t i = 0; i < t->n; i++)
		if (wr_cfg_in_section(t->entries[i].name, sec, seclen, &sub,
		                      &sublen))
			return true;
	return false;
}

/*
 * Lists the keys of section sec ("rpc, rest, ...") or, when seclen is 0, the
 * sections and top-level keys, in table order without repeats.
 */
static void
wr_cfg_known(const wr_cfg_table *t, const char *sec, size_t seclen, wr_buf *out)
{
	const char *prev = NULL;
	size_t prevlen = 0;
	for (size_t i = 0; i < t->n; i++) {
		const char *name = t->entries[i].name, *sub;
		size_t n, sublen;
		bool seen = false;
		if (seclen > 0) {
			if (!wr_cfg_in_section(name, sec, seclen, &sub,
			                       &sublen))
				continue;
			if (sub == NULL)
				wr_buf_printf(out, "%s%s", out->len ? ", " : "",
				              wr_cfg_leaf(name));
			else if (prev == NULL || prevlen != sublen ||
			         memcmp(prev, sub, sublen) != 0)
				wr_buf_printf(out, "%s%.*s",
				              out->len ? ", " : "", (int)sublen,
				              sub);
			prev = sub;
			prevlen = sublen;
			continue;
		}
		n = wr_cfg_top_len(name);
		for (size_t j = 0; j < i && !seen; j++)
			seen = wr_cfg_top_is(t->entries[j].name, name, n);
		if (!seen)
			wr_buf_printf(out, "%s%.*s", out->len ? ", " : "",
			              (int)n, name);
	}
}

/* "unknown key 'x' in 'sec' (known: a, b)" after prefix. */
static void
wr_cfg_unknown(const wr_cfg_table *t, const char *prefix, const char *sec,
               size_t seclen, const char *key, size_t keylen, char *errbuf,
               size_t errlen)
{
	char q[WR_CFG_QUOTE_BYTES];
	wr_buf known;

	wr_buf_init(&known);
	wr_cfg_known(t, sec, seclen, &known);
	wr_quote_for_msg(key, keylen, q, sizeof(q));
	if (seclen > 0)
		wr_cfg_errf(errbuf, errlen,
		            "%sunknown key '%s' in '%.*s' (known: %s)", prefix,
		            q, (int)seclen, sec, known.data);
	else
		wr_cfg_errf(errbuf, errlen, "%sunknown key '%s' (known: %s)",
		            prefix, q, known.data);
	wr_buf_fini(&known);
}

/*
 * Index of s among the '|'-separated names of enums (case-insensitive, so
 * WEIR_LOG_LEVEL=INFO works), or -1.
 */
static int
wr_cfg_enum_index(const char *enums, const char *s)
{
	size_t len = strlen(s);
	int idx = 0;

	for (const char *p = enums;; idx++) {
		const char *bar = strchr(p, '|');
		size_t n = bar != NULL ? (size_t)(bar - p) : strlen(p);
		if (n == len && strncasecmp(p, s, n) == 0)
			return idx;
		if (bar == NULL)
			return -1;
		p = bar + 1;
	}
}

/* Pointer to and length of the idx-th name of enums (WR_ASSERTs it exists:
 * the stored index came from wr_cfg_enum_index or from code). */
static const char *
wr_cfg_enum_name(const char *enums, int idx, size_t *len)
{
	const char *p = enums;
	const char *bar;

	WR_ASSERT(idx >= 0);
	for (int i = 0; i < idx; i++) {
		p = strchr(p, '|');
		WR_ASSERT(p != NULL);
		p++;
	}
	bar = strchr(p, '|');
	*len = bar != NULL ? (size_t)(bar - p) : strlen(p);
	return p;
}

/* Writes enums as "none, kafka, kubernetes" (with sep between names). */
static void
wr_cfg_enum_list(const char *enums, const char *sep, const char *quote,
                 wr_buf *out)
{
	wr_buf_puts(out, quote);
	for (const char *p = enums; *p != '\0'; p++) {
		if (*p == '|')
			wr_buf_printf(out, "%s%s%s", quote, sep, quote);
		else
			wr_buf_putc(out, *p);
	}
	wr_buf_puts(out, quote);
}

/* Largest exact unit of 1024: 67108864 -> "64mb". */
static void
wr_cfg_format_size(int64_t bytes, char *out, size_t outlen)
{
	static const char *const units[] = {"", "kb", "mb", "gb", "tb"};
	size_t u = 0;
	int64_t v = bytes;

	while (v != 0 && v % 1024 == 0 &&
	       u + 1 < sizeof(units) / sizeof(*units)) {
		v /= 1024;
		u++;
	}
	snprintf(out, outlen, "%" PRId64 "%s", v, units[u]);
}

/* A number of e's type in its units: "100ms", "64mb", "256". */
static void
wr_cfg_format_num(const wr_cfg_entry *e, int64_t v, char *out, size_t outlen)
{
	if (e->type == WR_CFG_DURATION)
		wr_format_duration(v, out, (unsigned)outlen);
	else if (e->type == WR_CFG_SIZE)
		wr_cfg_format_size(v, out, outlen);
	else
		snprintf(out, outlen, "%" PRId64, v);
}

static bool
wr_cfg_has_range(const wr_cfg_entry *e)
{
	return (e->type == WR_CFG_INT || e->type == WR_CFG_DURATION ||
	        e->type == WR_CFG_SIZE) &&
	       (e->min != 0 || e->max != 0);
}

/* Checks v against e's range; shown is how the user wrote v. */
static int
wr_cfg_check_range(const wr_cfg_entry *e, int64_t v, const char *shown,
                   char *msg, size_t msglen)
{
	char lim[32];

	if (!wr_cfg_has_range(e))
		return WR_OK;
	if (v < e->min) {
		wr_cfg_format_num(e, e->min, lim, sizeof(lim));
		snprintf(msg, msglen, "%s: %s is below the minimum %s", e->name,
		         shown, lim);
		return WR_EINVAL;
	}
	if (v > e->max) {
		wr_cfg_format_num(e, e->max, lim, sizeof(lim));
		snprintf(msg, msglen, "%s: %s is above the maximum %s", e->name,
		         shown, lim);
		return WR_EINVAL;
	}
	return WR_OK;
}

/*
 * Length of the UTF-8 sequence at s (at most len bytes) and its code point,
 * or 0 when it is malformed, overlong, a surrogate or beyond U+10FFFF.
 */
static size_t
wr_cfg_utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t n = s[0] < 0x80             ? 1
	           : (s[0] & 0xe0) == 0xc0 ? 2
	           : (s[0] & 0xf0) == 0xe0 ? 3
	           : (s[0] & 0xf8) == 0xf0 ? 4
	                                   : 0;
	uint32_t c;

	if (n == 0 || n > len)
		return 0;
	c = n == 1 ? s[0] : (uint32_t)(s[0] & (0x7f >> n));
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min_cp[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static bool
wr_cfg_utf8_valid(const char *s, size_t len)
{
	uint32_t cp;

	for (size_t i = 0; i < len;) {
		size_t n = wr_cfg_utf8_next((const unsigned char *)s + i,
		                            len - i, &cp);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* Parses a number of e's type (INT, DURATION, SIZE) and checks its range. */
static int
wr_cfg_parse_num(const wr_cfg_entry *e, const char *text, const char *shown,
                 int64_t *v, char *msg, size_t msglen)
{
	const char *what = "an integer";
	int rc;

	if (e->type == WR_CFG_DURATION) {
		what = "a duration (e.g. 500ms, 10s, 5m, 1h, 2d)";
		rc = wr_parse_duration_ms(text, v);
	} else if (e->type == WR_CFG_SIZE) {
		what = "a size (e.g. 512, 64kb, 16mb, 1gb)";
		rc = wr_parse_size_bytes(text, v);
	} else {
		rc = wr_parse_int64(text, v);
	}
	if (rc == WR_ETOOBIG) {
		snprintf(msg, msglen, "%s: '%s' is too large", e->name, shown);
		return WR_EINVAL;
	}
	if (rc != WR_OK) {
		snprintf(msg, msglen, "%s: '%s' is not %s", e->name, shown,
		         what);
		return WR_EINVAL;
	}
	return wr_cfg_check_range(e, *v, shown, msg, msglen);
}

/*
 * Parses text (len bytes: it may hold a NUL) as a value for e. On error
 * writes "name: what is wrong" to msg. A string in v is the caller's.
 */
static int
wr_cfg_parse(const wr_cfg_entry *e, const char *text, size_t len,
             union wr_cfg_value *v, char *msg, size_t msglen)
{
	char shown[WR_CFG_QUOTE_BYTES];
	wr_buf list;

	wr_quote_for_msg(text, len, shown, sizeof(shown));
	if (strlen(text) != len) {
		snprintf(msg, msglen, "%s: the value contains a NUL byte",
		         e->name);
		return WR_EINVAL;
	}
	switch (e->type) {
	case WR_CFG_STRING:
	case WR_CFG_LIST:
		/* Checked so that wr_cfg_dump_yaml can always write it back. */
		if (!wr_cfg_utf8_valid(text, len)) {
			snprintf(msg, msglen,
			         "%s: the value is not valid UTF-8", e->name);
			return WR_EINVAL;
		}
		v->s = wr_xstrdup(text);
		return WR_OK;
	case WR_CFG_BOOL:
		if (wr_parse_bool(text, &v->b) == WR_OK)
			return WR_OK;
		snprintf(
		    msg, msglen,
		    "%s: '%s' is not a boolean (true/false, yes/no, on/off)",
		    e->name, shown);
		return WR_EINVAL;
	case WR_CFG_ENUM:
		if ((v->e = wr_cfg_enum_index(e->enums, text)) >= 0)
			return WR_OK;
		wr_buf_init(&list);
		wr_cfg_enum_list(e->enums, ", ", "", &list);
		snprintf(msg, msglen, "%s: '%s' is not one of %s", e->name,
		         shown, list.data);
		wr_buf_fini(&list);
		return WR_EINVAL;
	default:
		return wr_cfg_parse_num(e, text, shown, &v->i, msg, msglen);
	}
}

/* Stores v in e's field. free_old is false when the field may hold garbage
 * (wr_cfg_defaults on a fresh struct). */
static void
wr_cfg_store(const wr_cfg_entry *e, void *cfg, union wr_cfg_value v,
             bool free_old)
{
	char *field = (char *)cfg + e->offset;

	switch (e->type) {
	case WR_CFG_STRING:
	case WR_CFG_LIST:
		if (free_old)
			free(*(char **)field);
		*(char **)field = v.s;
		break;
	case WR_CFG_BOOL:
		*(bool *)field = v.b;
		break;
	case WR_CFG_ENUM:
		*(int *)field = v.e;
		break;
	default:
		*(int64_t *)field = v.i;
		break;
	}
}

/* Parses and stores one value; errors are "<prefix>name: what". */
static int
wr_cfg_apply_text(const wr_cfg_entry *e, void *cfg, const char *text,
                  size_t len, const char *prefix, char *errbuf, size_t errlen)
{
	char msg[WR_CFG_MSG_BYTES];
	union wr_cfg_value v;
	int rc = wr_cfg_parse(e, text, len, &v, msg, sizeof(msg));

	if (rc != WR_OK) {
		wr_cfg_errf(errbuf, errlen, "%s%s", prefix, msg);
		return rc;
	}
	wr_cfg_store(e, cfg, v, true);
	return WR_OK;
}

/* A malformed table is a bug in weir, not in the user's file. */
static void
wr_cfg_check_entry(const wr_cfg_table *t, const wr_cfg_entry *e)
{
	size_t sec = wr_cfg_section_len(e->name);

	WR_ASSERT(e->name != NULL && e->def != NULL && e->doc != NULL);
	WR_ASSERT(strchr(wr_cfg_leaf(e->name), '.') == NULL);
	WR_ASSERT(sec > 0 || strchr(e->name, '.') == NULL);
	WR_ASSERT(e->min <= e->max);
	WR_ASSERT(e->type != WR_CFG_ENUM || e->enums != NULL);
	for (const wr_cfg_entry *o = t->entries; o < e; o++)
		WR_ASSERT(strcmp(o->name, e->name) != 0);
}

void
wr_cfg_defaults(const wr_cfg_table *t, void *cfg)
{
	char msg[WR_CFG_MSG_BYTES];
	union wr_cfg_value v;

	WR_ASSERT(t->title != NULL && t->env_prefix != NULL);
	for (size_t i = 0; i < t->n; i++) {
		const wr_cfg_entry *e = &t->entries[i];
		wr_cfg_check_entry(t, e);
		if (wr_cfg_parse(e, e->def, strlen(e->def), &v, msg,
		                 sizeof(msg)) != WR_OK)
			wr_panic(__FILE__, __LINE__, "%s: bad default: %s",
			         t->title, msg);
		/* cfg may be uninitialized: nothing to free yet. */
		wr_cfg_store(e, cfg, v, false);
	}
}

/* Applies a sequence of scalars to a list entry: joined by commas. */
static int
wr_cfg_apply_seq(const wr_cfg_entry *e, void *cfg, const char *file,
                 const wr_yaml_node *node, char *errbuf, size_t errlen)
{
	char prefix[WR_CFG_MSG_BYTES];
	wr_buf joined;
	int rc;

	wr_buf_init(&joined);
	for (size_t i = 0; i < node->n; i++) {
		const wr_yaml_node *v = node->values[i];
		if (v->kind != WR_YAML_SCALAR || v->is_null ||
		    memchr(v->scalar, ',', v->scalar_len) != NULL) {
			wr_cfg_errf(errbuf, errlen,
			            "%s:%d:%d: %s: each item must be one "
			            "non-empty value without commas",
			            file, v->line, v->col, e->name);
			wr_buf_fini(&joined);
			return WR_EINVAL;
		}
		wr_buf_printf(&joined, "%s%.*s", i > 0 ? "," : "",
		              (int)v->scalar_len, v->scalar);
	}
	snprintf(prefix, sizeof(prefix), "%s:%d:%d: ", file, node->line,
	         node->col);
	rc = wr_cfg_apply_text(e, cfg, joined.len > 0 ? joined.data : "",
	                       joined.len, prefix, errbuf, errlen);
	wr_buf_fini(&joined);
	return rc;
}

/* Applies one YAML node to e: it must be a scalar (or, for a list, a
 * sequence of scalars). */
static int
wr_cfg_apply_node(const wr_cfg_entry *e, void *cfg, const char *file,
                  const wr_yaml_node *node, char *errbuf, size_t errlen)
{
	char prefix[WR_CFG_MSG_BYTES];

	snprintf(prefix, sizeof(prefix), "%s:%d:%d: ", file, node->line,
	         node->col);
	if (node->kind == WR_YAML_SEQ && e->type == WR_CFG_LIST)
		return wr_cfg_apply_seq(e, cfg, file, node, errbuf, errlen);
	if (node->kind != WR_YAML_SCALAR) {
		wr_cfg_errf(errbuf, errlen,
		            "%s%s must be a scalar (%s), not a %s", prefix,
		            e->name, wr_cfg_type_name(e->type),
		            wr_yaml_kind_name(node->kind));
		return WR_EINVAL;
	}
	if (node->is_null && e->type != WR_CFG_STRING &&
	    e->type != WR_CFG_LIST) {
		wr_cfg_errf(errbuf, errlen, "%s%s: missing %s value", prefix,
		            e->name, wr_cfg_type_name(e->type));
		return WR_EINVAL;
	}
	/* A null string ("token_file:" or "~") means empty: unset. */
	if (node->is_null)
		return wr_cfg_apply_text(e, cfg, "", 0, prefix, errbuf, errlen);
	return wr_cfg_apply_text(e, cfg, node->scalar, node->scalar_len, prefix,
	                         errbuf, errlen);
}

/* Applies the map of one section sec ("jobmanager: {...}"), and of its
 * subsections ("high_availability: {etcd: {...}}"). */
static int
wr_cfg_apply_section(const wr_cfg_table *t, void *cfg, const char *file,
                     const char *sec, const wr_yaml_node *map, char *errbuf,
                     size_t errlen)
{
	char prefix[WR_CFG_MSG_BYTES], sub[WR_CFG_QUOTE_BYTES];
	size_t seclen = strlen(sec);

	/* "security:" with every key commented out is an empty section. */
	if (map->kind == WR_YAML_SCALAR && map->is_null)
		return WR_OK;
	if (map->kind != WR_YAML_MAP) {
		wr_cfg_errf(errbuf, errlen,
		            "%s:%d:%d: '%s' must be a map, not a %s", file,
		            map->line, map->col, sec,
		            wr_yaml_kind_name(map->kind));
		return WR_EINVAL;
	}
	for (size_t i = 0; i < map->n; i++) {
		const wr_yaml_node *k = map->keys[i];
		const wr_cfg_entry *e =
		    wr_cfg_find(t, sec, seclen, k->scalar, k->scalar_len);
		int n = snprintf(sub, sizeof(sub), "%s.%.*s", sec,
		                 (int)k->scalar_len, k->scalar);
		int rc;
		if (e != NULL)
			rc = wr_cfg_apply_node(e, cfg, file, map->values[i],
			                       errbuf, errlen);
		else if (k->scalar_len > 0 && n > 0 &&
		         (size_t)n < sizeof(sub) &&
		         wr_cfg_section_exists(t, sub, (size_t)n))
			rc = wr_cfg_apply_section(
			    t, cfg, file, sub, map->values[i], errbuf, errlen);
		else {
			snprintf(prefix, sizeof(prefix), "%s:%d:%d: ", file,
			         k->line, k->col);
			wr_cfg_unknown(t, prefix, sec, seclen, k->scalar,
			               k->scalar_len, errbuf, errlen);
			return WR_EINVAL;
		}
		if (rc != WR_OK)
			return rc;
	}
	return WR_OK;
}

static int
wr_cfg_apply_doc(const wr_cfg_table *t, void *cfg, const wr_yaml_doc *doc,
                 char *errbuf, size_t errlen)
{
	const wr_yaml_node *root = wr_yaml_root(doc);
	const char *file = wr_yaml_name(doc);
	char prefix[WR_CFG_MSG_BYTES];

	if (root->kind != WR_YAML_MAP) {
		wr_cfg_errf(errbuf, errlen,
		            "%s:%d:%d: the top level must be a map, not a %s",
		            file, root->line, root->col,
		            wr_yaml_kind_name(root->kind));
		return WR_EINVAL;
	}
	for (size_t i = 0; i < root->n; i++) {
		const wr_yaml_node *k = root->keys[i];
		const wr_cfg_entry *e =
		    wr_cfg_find(t, "", 0, k->scalar, k->scalar_len);
		int rc;
		if (e != NULL)
			rc = wr_cfg_apply_node(e, cfg, file, root->values[i],
			                       errbuf, errlen);
		else if (k->scalar_len > 0 &&
		         wr_cfg_section_exists(t, k->scalar, k->scalar_len))
			rc = wr_cfg_apply_section(t, cfg, file, k->scalar,
			                          root->values[i], errbuf,
			                          errlen);
		else {
			snprintf(prefix, sizeof(prefix), "%s:%d:%d: ", file,
			         k->line, k->col);
			wr_cfg_unknown(t, prefix, "", 0, k->scalar,
			               k->scalar_len, errbuf, errlen);
			rc = WR_EINVAL;
		}
		if (rc != WR_OK)
			return rc;
	}
	return WR_OK;
}

int
wr_cfg_load_string(const wr_cfg_table *t, void *cfg, const char *name,
                   const char *text, size_t len, char *errbuf, size_t errlen)
{
	wr_yaml_doc *doc;
	int rc = wr_yaml_load_string(name, text, len, &doc, errbuf, errlen);

	if (rc != WR_OK)
		return rc;
	rc = wr_cfg_apply_doc(t, cfg, doc, errbuf, errlen);
	wr_yaml_doc_free(doc);
	return rc;
}

int
wr_cfg_load_file(const wr_cfg_table *t, void *cfg, const char *path,
                 char *errbuf, size_t errlen)
{
	wr_yaml_doc *doc;
	int rc = wr_yaml_load_file(path, &doc, errbuf, errlen);

	if (rc != WR_OK)
		return rc;
	rc = wr_cfg_apply_doc(t, cfg, doc, errbuf, errlen);
	wr_yaml_doc_free(doc);
	return rc;
}

/* env_prefix + name in upper case, '.' -> '_'. */
static void
wr_cfg_env_name(const wr_cfg_table *t, const wr_cfg_entry *e, char *out,
                size_t outlen)
{
	int n = snprintf(out, outlen, "%s%s", t->env_prefix, e->name);

	WR_ASSERT(n > 0 && (size_t)n < outlen);
	for (char *p = out; *p != '\0'; p++)
		*p = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
}

int
wr_cfg_apply_env(const wr_cfg_table *t, void *cfg, char *errbuf, size_t errlen)
{
	char var[128], prefix[160];

	for (size_t i = 0; i < t->n; i++) {
		const wr_cfg_entry *e = &t->entries[i];
		const char *val;
		int rc;
		wr_cfg_env_name(t, e, var, sizeof(var));
		if ((val = getenv(var)) == NULL)
			continue;
		snprintf(prefix, sizeof(prefix),
		         "environment variable %s: ", var);
		rc = wr_cfg_apply_text(e, cfg, val, strlen(val), prefix, errbuf,
		                       errlen);
		if (rc != WR_OK)
			return rc;
	}
	return WR_OK;
}

int
wr_cfg_set(const wr_cfg_table *t, void *cfg, const char *name,
           const char *value, char *errbuf, size_t errlen)
{
	size_t seclen = wr_cfg_section_len(name);
	const char *leaf = seclen > 0 ? name + seclen + 1 : name;
	const wr_cfg_entry *e =
	    wr_cfg_find(t, name, seclen, leaf, strlen(leaf));

	if (e != NULL)
		return wr_cfg_apply_text(e, cfg, value, strlen(value), "",
		                         errbuf, errlen);
	if (seclen > 0 && wr_cfg_section_exists(t, name, seclen))
		wr_cfg_unknown(t, "", name, seclen, leaf, strlen(leaf), errbuf,
		               errlen);
	else
		wr_cfg_unknown(t, "", "", 0, name, strlen(name), errbuf,
		               errlen);
	return WR_ENOENT;
}

/* One code point of a double-quoted YAML scalar, escaped when libyaml's
 * reader would refuse it raw or would fold it as a line break. */
static void
wr_cfg_put_cp(wr_buf *out, const char *raw, size_t n, uint32_t cp)
{
	if (cp == '"' || cp == '\\')
		wr_buf_printf(out, "\\%c", (char)cp);
	else if (cp == '\n')
		wr_buf_puts(out, "\\n");
	else if (cp == '\t')
		wr_buf_puts(out, "\\t");
	else if (cp == '\r')
		wr_buf_puts(out, "\\r");
	else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
		wr_buf_printf(out, "\\x%02X", (unsigned)cp);
	else if (cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp == 0xfffe ||
	         cp == 0xffff)
		wr_buf_printf(out, "\\u%04X", (unsigned)cp);
	else
		wr_buf_append(out, raw, n);
}

/* Strings are valid UTF-8 by the time they are stored (wr_cfg_parse). */
static void
wr_cfg_put_quoted(wr_buf *out, const char *s)
{
	size_t len = strlen(s);
	uint32_t cp;

	wr_buf_putc(out, '"');
	for (size_t i = 0; i < len;) {
		size_t n = wr_cfg_utf8_next((const unsigned char *)s + i,
		                            len - i, &cp);
		WR_ASSERT(n > 0);
		wr_cfg_put_cp(out, s + i, n, cp);
		i += n;
	}
	wr_buf_putc(out, '"');
}

static void
wr_cfg_put_value(const wr_cfg_entry *e, const void *cfg, wr_buf *out)
{
	const char *field = (const char *)cfg + e->offset;
	char num[32];
	const char *name;
	size_t len;

	switch (e->type) {
	case WR_CFG_STRING:
	case WR_CFG_LIST:
		wr_cfg_put_quoted(out, *(char *const *)field);
		break;
	case WR_CFG_BOOL:
		wr_buf_puts(out, *(const bool *)field ? "true" : "false");
		break;
	case WR_CFG_ENUM:
		name = wr_cfg_enum_name(e->enums, *(const int *)field, &len);
		wr_buf_append(out, name, len);
		break;
	default:
		wr_cfg_format_num(e, *(const int64_t *)field, num, sizeof(num));
		wr_buf_puts(out, num);
		break;
	}
}

void
wr_cfg_value_text(const wr_cfg_entry *e, const void *cfg, wr_buf *out)
{
	const char *field = (const char *)cfg + e->offset;
	if (e->type == WR_CFG_STRING || e->type == WR_CFG_LIST) {
		const char *v = *(char *const *)field;
		wr_buf_puts(out, v != NULL ? v : "");
		return;
	}
	wr_cfg_put_value(e, cfg, out);
}

/* True when entry i is the first of its section (or a top-level key that
 * has not been written yet): groups are written in table order. */
static bool
wr_cfg_first_of_section(const wr_cfg_table *t, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (wr_cfg_same_section(t->entries[j].name, t->entries[i].name))
			return false;
	return true;
}

/*
 * Writes the map keys that open section name (seclen bytes) after the
 * section prev (prevlen) was written: the components they do not share,
 * each indented by its depth. Returns the depth of name's entries.
 */
static int
wr_cfg_dump_open(const char *name, size_t seclen, const char *prev,
                 size_t prevlen, wr_buf *out)
{
	bool same = true;
	int depth = 0;
	for (size_t i = 0; i < seclen; depth++) {
		size_t n = wr_cfg_top_len(name + i);
		n = n < seclen - i ? n : seclen - i;
		same = same && i + n <= prevlen &&
		       memcmp(name + i, prev + i, n) == 0 &&
		       (i + n == prevlen || prev[i + n] == '.');
		if (!same)
			wr_buf_printf(out, "%*s%.*s:\n", 2 * depth, "", (int)n,
			              name + i);
		i += n + 1;
	}
	return depth;
}

void
wr_cfg_dump_yaml(const wr_cfg_table *t, const void *cfg, wr_buf *out)
{
	const char *prev = "";
	size_t prevlen = 0;
	wr_buf_printf(out, "# %s\n", t->title);
	for (size_t i = 0; i < t->n; i++) {
		const char *name = t->entries[i].name;
		size_t seclen = wr_cfg_section_len(name);
		int depth;
		if (!wr_cfg_first_of_section(t, i))
			continue;
		depth = wr_cfg_dump_open(name, seclen, prev, prevlen, out);
		prev = name;
		prevlen = seclen;
		for (size_t j = i; j < t->n; j++) {
			const wr_cfg_entry *e = &t->entries[j];
			if (!wr_cfg_same_section(e->name, name))
				continue;
			wr_buf_printf(out, "%*s%s: ", 2 * depth, "",
			              wr_cfg_leaf(e->name));
			wr_cfg_put_value(e, cfg, out);
			wr_buf_putc(out, '\n');
		}
	}
}

/* Text for a Markdown table cell: '|' would end the cell. */
static void
wr_cfg_put_cell(wr_buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '|')
			wr_buf_putc(out, '\\');
		wr_buf_putc(out, *s == '\n' ? ' ' : *s);
	}
}

static void
wr_cfg_doc_range(const wr_cfg_entry *e, wr_buf *out)
{
	char lo[32], hi[32];

	if (e->type == WR_CFG_ENUM) {
		wr_cfg_enum_list(e->enums, ", ", "`", out);
		return;
	}
	if (e->type == WR_CFG_BOOL) {
		wr_buf_puts(out, "`true`, `false`");
		return;
	}
	if (!wr_cfg_has_range(e))
		return;
	wr_cfg_format_num(e, e->min, lo, sizeof(lo));
	wr_cfg_format_num(e, e->max, hi, sizeof(hi));
	if (e->max == INT64_MAX)
		wr_buf_printf(out, "at least `%s`", lo);
	else if (e->min == INT64_MIN)
		wr_buf_printf(out, "at most `%s`", hi);
	else
		wr_buf_printf(out, "`%s` .. `%s`", lo, hi);
}

static void
wr_cfg_doc_row(const wr_cfg_entry *e, wr_buf *out)
{
	wr_buf_printf(out, "| `%s` | %s | `", wr_cfg_leaf(e->name),
	              wr_cfg_type_name(e->type));
	if (e->def[0] == '\0')
		wr_buf_puts(out, "\"\"");
	else
		wr_cfg_put_cell(out, e->def);
	wr_buf_puts(out, "` | ");
	wr_cfg_doc_range(e, out);
	wr_buf_puts(out, " | ");
	wr_cfg_put_cell(out, e->doc);
	wr_buf_puts(out, " |\n");
}

static void
wr_cfg_doc_intro(const wr_cfg_table *t, wr_buf *out)
{
	const wr_cfg_entry *e = t->n > 0 ? &t->entries[0] : NULL;
	size_t seclen = e != NULL ? wr_cfg_section_len(e->name) : 0;
	char var[128];

	wr_buf_printf(out, "# %s reference\n\n", t->title);
	wr_buf_puts(out, "<!-- Generated by weir-config-doc from the config "
	                 "table; do not edit. -->\n\n");
	wr_buf_puts(out,
	            "Every key has a default; an unknown key is an error.\n");
	if (seclen > 0)
		wr_buf_printf(out,
		              "Keys are grouped by section: `%s` is written "
		              "`%.*s: { %s: ... }` or as a block map.\n",
		              e->name, (int)seclen, e->name,
		              wr_cfg_leaf(e->name));
	wr_buf_printf(out,
	              "An environment variable overrides the file: `%s` "
	              "followed by the key in upper case with `.` replaced "
	              "by `_`",
	              t->env_prefix);
	if (e != NULL) {
		wr_cfg_env_name(t, e, var, sizeof(var));
		wr_buf_printf(out, " (`%s` for `%s`)", var, e->name);
	}
	wr_buf_puts(out, ".\nDurations are written `500ms`, `10s`, `5m`, `1h`, "
	                 "`2d`; sizes `512`, `64kb`, `16mb`, `1gb` (powers of "
	                 "1024).\n");
}

void
wr_cfg_doc_markdown(const wr_cfg_table *t, wr_buf *out)
{
	wr_cfg_doc_intro(t, out);
	for (size_t i = 0; i < t->n; i++) {
		const char *name = t->entries[i].name;
		size_t seclen = wr_cfg_section_len(name);
		if (!wr_cfg_first_of_section(t, i))
			continue;
		if (seclen > 0)
			wr_buf_printf(out, "\n## `%.*s`\n\n", (int)seclen,
			              name);
		else
			wr_buf_puts(out, "\n## Top level\n\n");
		wr_buf_puts(out, "| key | type | default | range/values | "
		                 "description |\n"
		                 "|---|---|---|---|---|\n");
		for (size_t j = i; j < t->n; j++)
			if (wr_cfg_same_section(t->entries[j].name, name))
				wr_cfg_doc_row(&t->entries[j], out);
	}
}

void
wr_cfg_where(const wr_cfg_table *t, const char *path, const char *name,
             char *out, size_t outlen)
{
	char var[128];
	wr_yaml_doc *doc = NULL;
	const wr_yaml_node *n;
	char err[WR_CFG_MSG_BYTES];

	snprintf(out, outlen, "%s", "");
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->entries[i].name, name) != 0)
			continue;
		wr_cfg_env_name(t, &t->entries[i], var, sizeof(var));
		if (getenv(var) != NULL) {
			snprintf(out, outlen, "%s: ", var);
			return;
		}
	}
	if (path == NULL ||
	    wr_yaml_load_file(path, &doc, err, sizeof(err)) != WR_OK)
		return;
	n = wr_yaml_root(doc);
	for (const char *p = name; n != NULL && *p != '\0';) {
		char key[WR_CFG_QUOTE_BYTES];
		size_t len = wr_cfg_top_len(p);
		snprintf(key, sizeof(key), "%.*s", (int)len, p);
		n = wr_yaml_map_get(n, key);
		p += len + (p[len] == '.');
	}
	if (n != NULL)
		snprintf(out, outlen, "%s:%d:%d: ", path, n->line, n->col);
	wr_yaml_doc_free(doc);
}

void
wr_cfg_free(const wr_cfg_table *t, void *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		const wr_cfg_entry *e = &t->entries[i];
		char **field;
		if (e->type != WR_CFG_STRING && e->type != WR_CFG_LIST)
			continue;
		field = (char **)((char *)cfg + e->offset);
		free(*field);
		*field = NULL;
	}
}
