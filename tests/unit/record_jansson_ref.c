/*
 * record_jansson_ref.c - the JSON record decoder weir used before
 * json_decode.c (jansson's DOM, then the schema's fields picked out of
 * it), kept for the tests only: json_decode_test's differential test and
 * json_decode_bench compare the new decoder with it.
 */
#include "record_jansson_ref.h"

#include "err.h"
#include "parse.h"
#include "wr_assert.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON decoding (jansson) ---- */

/* JSON_DECODE_ANY so that `[1]` or `42` gets "not a JSON object" rather
 * than a syntax error; JSON_ALLOW_NUL because row strings carry lengths. */
#define WR_JANSSON_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

/* Doubles hold every integer up to 2^53 exactly: an integral real beyond
 * that may already have been rounded, so it is not taken as a long. */
#define WR_EXACT_INT_DOUBLE 9007199254740992.0

static const char *
wr_ref_json_type_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "bool";
	case JSON_NULL:
	default:
		return "null";
	}
}

/*
 * jansson builds its DOM with malloc, outside the arena, and a DOM can be
 * ~80 times its input ("[{},{},...]"). While a record is decoded, the
 * DOM's allocations on this thread are charged to the arena's remaining
 * cap, so one hostile record fails with WR_EFULL instead of taking memory
 * the cap was meant to protect. Outside a decode the hook is plain malloc,
 * so another jansson user in the process would be unaffected.
 */
static _Thread_local struct {
	bool active;
	bool exhausted;
	size_t left;
} wr_ref_json_budget;

static pthread_once_t wr_ref_json_alloc_once = PTHREAD_ONCE_INIT;

static void *
wr_ref_json_malloc(size_t n)
{
	if (wr_ref_json_budget.active) {
		if (n > wr_ref_json_budget.left) {
			wr_ref_json_budget.exhausted = true;
			return NULL;
		}
		wr_ref_json_budget.left -= n;
	}
	return malloc(n);
}

/* Installed once, before this file's first jansson call; every jansson
 * call of weir is in this file and passes through pthread_once first. */
static void
wr_ref_json_alloc_install(void)
{
	json_set_alloc_funcs(wr_ref_json_malloc, free);
}

/* Parses json into a DOM within the arena's remaining budget. NULL with
 * e filled (and *exhausted set when the budget ran out). */
static json_t *
wr_ref_json_load(const char *json, size_t len, const wr_arena *arena,
                 json_error_t *e, bool *exhausted)
{
	json_t *root;

	pthread_once(&wr_ref_json_alloc_once, wr_ref_json_alloc_install);
	wr_ref_json_budget.active = true;
	wr_ref_json_budget.exhausted = false;
	wr_ref_json_budget.left = arena->cap - arena->used;
	root = json_loadb(json, len, WR_JANSSON_FLAGS, e);
	/* jansson refuses integers beyond int64 even in fields we ignore:
	 * read such a record again with every number as a double, so only
	 * a declared long that is really out of range fails. */
	if (root == NULL && !wr_ref_json_budget.exhausted &&
	    json_error_code(e) == json_error_numeric_overflow)
		root = json_loadb(
		    json, len, WR_JANSSON_FLAGS | JSON_DECODE_INT_AS_REAL, e);
	*exhausted = wr_ref_json_budget.exhausted;
	wr_ref_json_budget.active = false;
	return root;
}

/* The error message for an input jansson refused. */
static void
wr_ref_json_syntax_error(const json_error_t *e, const char *json, size_t len,
                         char *errbuf, size_t errlen)
{
	char text[JSON_ERROR_TEXT_LENGTH];
	size_t i = 0;

	while (i < len && (json[i] == ' ' || json[i] == '\t' ||
	                   json[i] == '\n' || json[i] == '\r'))
		i++;
	if (i == len) {
		snprintf(errbuf, errlen, "empty record (no JSON value)");
		return;
	}
	if (json_error_code(e) == json_error_premature_end_of_input) {
		snprintf(errbuf, errlen, "truncated at byte %d", e->position);
		return;
	}
	/* jansson quotes the offending input: keep the message one line. */
	wr_quote_for_msg(e->text, strnlen(e->text, sizeof(e->text)), text,
	                 sizeof(text));
	snprintf(errbuf, errlen, "malformed JSON at byte %d: %s", e->position,
	         text);
}

/* A number that must be integral and within int64 (long, timestamp). */
static int
wr_ref_json_integral(const wr_field *f, const json_t *j, int64_t *out,
                     char *errbuf, size_t errlen)
{
	double d;

	if (json_is_integer(j)) {
		*out = json_integer_value(j);
		return WR_OK;
	}
	d = json_real_value(j);
	if (d != floor(d)) {
		snprintf(
		    errbuf, errlen,
		    "field '%s': expected %s, got non-integral number %.17g",
		    f->name, wr_type_name(f->type), d);
		return WR_EINVAL;
	}
	if (fabs(d) > WR_EXACT_INT_DOUBLE) {
		snprintf(errbuf, errlen,
		         "field '%s': number %.17g is out of range for %s",
		         f->name, d, wr_type_name(f->type));
		return WR_EINVAL;
	}
	*out = (int64_t)d;
	return WR_OK;
}

/* Copies a JSON string into the arena: the DOM dies before the row. */
static int
wr_ref_json_string(const wr_field *f, const json_t *j, wr_value *v,
                   wr_arena *arena, char *errbuf, size_t errlen)
{
	size_t len = json_string_length(j);
	char *p;

	if (len > UINT32_MAX) {
		snprintf(errbuf, errlen,
		         "field '%s': string of %zu bytes is over 4 GiB",
		         f->name, len);
		return WR_EINVAL;
	}
	v->type = WR_T_STRING;
	v->u.s.len = (uint32_t)len;
	v->u.s.p = "";
	if (len == 0)
		return WR_OK;
	if ((p = wr_arena_alloc(arena, len)) == NULL) {
		snprintf(
		    errbuf, errlen,
		    "field '%s': string of %zu bytes exceeds the per-record "
		    "memory",
		    f->name, len);
		return WR_EFULL;
	}
	memcpy(p, json_string_value(j), len);
	v->u.s.p = p;
	return WR_OK;
}

/* A timestamp: epoch milliseconds or an ISO-8601 string, within years
 * 0000..9999: out of range, it would poison event time (a watermark at
 * INT64_MAX drops every later record as late). */
static int
wr_ref_json_timestamp(const wr_field *f, const json_t *j, wr_value *v,
                      char *errbuf, size_t errlen)
{
	char why[160];
	int rv;

	v->type = WR_T_TIMESTAMP;
	if (json_is_number(j)) {
		rv = wr_ref_json_integral(f, j, &v->u.i, errbuf, errlen);
	} else {
		rv = wr_ts_parse_iso8601(json_string_value(j),
		                         json_string_length(j), &v->u.i, why,
		                         sizeof(why));
		if (rv != WR_OK)
			snprintf(errbuf, errlen, "field '%s': %s", f->name,
			         why);
	}
	if (rv == WR_OK && (v->u.i < WR_TS_MIN_MS || v->u.i > WR_TS_MAX_MS)) {
		snprintf(errbuf, errlen,
		         "field '%s': timestamp %lld is outside years "
		         "0000..9999 (%lld .. %lld epoch ms)",
		         f->name, (long long)v->u.i, (long long)WR_TS_MIN_MS,
		         (long long)WR_TS_MAX_MS);
		rv = WR_EINVAL;
	}
	return rv;
}

/* Field f's value from j (NULL when the key is absent). */
static int
wr_ref_json_field(const wr_field *f, const json_t *j, wr_value *v,
                  wr_arena *arena, char *errbuf, size_t errlen)
{
	if (j == NULL || json_is_null(j)) {
		v->type = WR_T_NULL;
		return WR_OK;
	}
	switch (f->type) {
	case WR_T_STRING:
		if (json_is_string(j))
			return wr_ref_json_string(f, j, v, arena, errbuf,
			                          errlen);
		break;
	case WR_T_LONG:
		v->type = WR_T_LONG;
		if (json_is_number(j))
			return wr_ref_json_integral(f, j, &v->u.i, errbuf,
			                            errlen);
		break;
	case WR_T_DOUBLE:
		v->type = WR_T_DOUBLE;
		v->u.d = json_number_value(j);
		if (json_is_number(j))
			return WR_OK;
		break;
	case WR_T_BOOL:
		v->type = WR_T_BOOL;
		v->u.b = json_is_true(j);
		if (json_is_boolean(j))
			return WR_OK;
		break;
	case WR_T_TIMESTAMP:
		if (json_is_number(j) || json_is_string(j))
			return wr_ref_json_timestamp(f, j, v, errbuf, errlen);
		break;
	default:
		break;
	}
	snprintf(errbuf, errlen, "field '%s': expected %s, got %s", f->name,
	         wr_type_name(f->type), wr_ref_json_type_name(j));
	return WR_EINVAL;
}

int
wr_ref_row_from_json(const wr_schema *s, const char *json, size_t len,
                     wr_row *out, wr_arena *arena, char *errbuf, size_t errlen)
{
	json_error_t e;
	json_t *root;
	bool exhausted;
	int rv = WR_OK;

	WR_ASSERT(s->n <= WR_MAX_FIELDS);
	out->n = 0;
	root = wr_ref_json_load(json, len, arena, &e, &exhausted);
	if (root == NULL && exhausted) {
		snprintf(errbuf, errlen,
		         "record of %zu bytes needs more than the %zu bytes of "
		         "per-record memory left to decode",
		         len, arena->cap - arena->used);
		return WR_EFULL;
	}
	if (root == NULL) {
		wr_ref_json_syntax_error(&e, json, len, errbuf, errlen);
		return WR_EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(errbuf, errlen, "not a JSON object (got %s)",
		         wr_ref_json_type_name(root));
		rv = WR_EINVAL;
		goto free_root;
	}
	for (uint32_t i = 0; i < s->n && rv == WR_OK; i++)
		rv = wr_ref_json_field(&s->fields[i],
		                       json_object_get(root, s->fields[i].name),
		                       &out->v[i], arena, errbuf, errlen);
	if (rv == WR_OK)
		out->n = s->n;
free_root:
	json_decref(root);
	return rv;
}
