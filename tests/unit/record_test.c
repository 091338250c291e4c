/*
 * record_test.c - the record format: JSON decoding and encoding, ISO-8601
 * timestamps, the binary row codec, value equality and hashing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "wrtest.h"

#include "arena.h"
#include "buf.h"
#include "err.h"
#include "record.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CAP (1u << 20)

/* ---- helpers ---- */

/* xorshift64*: the same sequence on every machine, so a failure can be
 * replayed. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* The order schema of the issue. */
static void
order_schema(wr_schema *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(wr_schema_add(s, "order_id", WR_T_STRING), WR_OK);
	assert_int_equal(wr_schema_add(s, "product_id", WR_T_STRING), WR_OK);
	assert_int_equal(wr_schema_add(s, "customer_id", WR_T_STRING), WR_OK);
	assert_int_equal(wr_schema_add(s, "amount", WR_T_DOUBLE), WR_OK);
	assert_int_equal(wr_schema_add(s, "status", WR_T_STRING), WR_OK);
	assert_int_equal(wr_schema_add(s, "ts", WR_T_TIMESTAMP), WR_OK);
}

/* A one-field schema. */
static void
one_schema(wr_schema *s, const char *name, enum wr_type t)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(wr_schema_add(s, name, t), WR_OK);
}

/* Decodes json (without its NUL: a heap copy of exactly len bytes, so
 * ASan sees any read past the end). */
static int
decode(const wr_schema *s, const char *json, wr_row *r, wr_arena *a, char *err,
       size_t errlen)
{
	size_t len = strlen(json);
	char *copy = malloc(len ? len : 1);
	int rv;

	assert_non_null(copy);
	memcpy(copy, json, len);
	err[0] = '\0';
	rv = wr_row_from_json(s, copy, len, r, a, err, errlen);
	free(copy);
	return rv;
}

/* Decodes a one-field record and expects an error mentioning want. */
static void
decode_error(enum wr_type t, const char *json, int want_rv, const char *want)
{
	wr_schema s;
	wr_arena a;
	wr_row r;
	char err[256];

	one_schema(&s, "f", t);
	wr_arena_init(&a, ARENA_CAP);
	assert_int_equal(decode(&s, json, &r, &a, err, sizeof(err)), want_rv);
	if (strstr(err, want) == NULL)
		fail_msg("%s: error '%s' lacks '%s'", json, err, want);
	assert_int_equal(r.n, 0);
	wr_arena_fini(&a);
	wr_schema_fini(&s);
}

/* Decodes a one-field record that must succeed; returns the value. */
static wr_value
decode_value(enum wr_type t, const char *json, wr_arena *a)
{
	wr_schema s;
	wr_row r;
	char err[256];

	one_schema(&s, "f", t);
	if (decode(&s, json, &r, a, err, sizeof(err)) != WR_OK)
		fail_msg("%s: %s", json, err);
	assert_int_equal(r.n, 1);
	wr_schema_fini(&s);
	return r.v[0];
}

static void
assert_str_value(const wr_value *v, const char *want, size_t len)
{
	assert_int_equal(v->type, WR_T_STRING);
	assert_int_equal(v->u.s.len, len);
	assert_memory_equal(v->u.s.p, want, len);
}

static bool
rows_equal(const wr_row *a, const wr_row *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (!wr_value_equal(&a->v[i], &b->v[i]))
			return false;
	return true;
}

/* ---- types and schemas ---- */

static void
test_type_names(void **state)
{
	(void)state;
	for (int t = WR_T_STRING; t <= WR_T_TIMESTAMP; t++)
		assert_int_equal(wr_type_parse(wr_type_name((enum wr_type)t)),
		                 t);
	assert_string_equal(wr_type_name(WR_T_DOUBLE), "double");
	assert_string_equal(wr_type_name(WR_T_NULL), "null");
	assert_string_equal(wr_type_name((enum wr_type)99), "unknown");
	assert_int_equal(wr_type_parse("null"), -1);
	assert_int_equal(wr_type_parse("String"), -1);
	assert_int_equal(wr_type_parse("int"), -1);
	assert_int_equal(wr_type_parse(""), -1);
	assert_int_equal(wr_type_parse(NULL), -1);
}

static void
test_schema(void **state)
{
	wr_schema s, c;
	char name[16];

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(wr_schema_add(&s, "a", WR_T_LONG), WR_OK);
	assert_int_equal(wr_schema_add(&s, "b", WR_T_STRING), WR_OK);
	assert_int_equal(wr_schema_add(&s, "a", WR_T_DOUBLE), WR_EEXIST);
	assert_int_equal(wr_schema_add(&s, "c", WR_T_NULL), WR_EINVAL);
	assert_int_equal(wr_schema_add(&s, "c", (enum wr_type)42), WR_EINVAL);
	assert_int_equal(wr_schema_index(&s, "a"), 0);
	assert_int_equal(wr_schema_index(&s, "b"), 1);
	assert_int_equal(wr_schema_index(&s, "B"), -1);
	assert_int_equal(s.n, 2);
	for (int i = 2; i < WR_MAX_FIELDS; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		assert_int_equal(wr_schema_add(&s, name, WR_T_BOOL), WR_OK);
	}
	assert_int_equal(wr_schema_add(&s, "one_more", WR_T_BOOL), WR_EFULL);
	assert_int_equal(s.n, WR_MAX_FIELDS);

	wr_schema_copy(&c, &s);
	wr_schema_fini(&s);
	assert_int_equal(c.n, WR_MAX_FIELDS);
	assert_string_equal(c.fields[1].name, "b");
	assert_int_equal(c.fields[1].type, WR_T_STRING);
	assert_int_equal(wr_schema_index(&c, "f63"), 63);
	wr_schema_fini(&c);
	wr_schema_fini(&c);
	wr_schema_fini(NULL);
	assert_int_equal(c.n, 0);
}

/* ---- JSON decoding ---- */

static void
test_decode_order(void **state)
{
	static const char json[] =
	    "{\"order_id\":\"o-123\",\"product_id\":\"p-7\","
	    "\"customer_id\":\"c-42\",\"amount\":123.45,\"status\":\"PAID\","
	    "\"ts\":1795325848148}";
	wr_schema s;
	wr_arena a;
	wr_row r;
	char err[256];

	(void)state;
	order_schema(&s);
	wr_arena_init(&a, ARENA_CAP);
	assert_int_equal(decode(&s, json, &r, &a, err, sizeof(err)), WR_OK);
	assert_int_equal(r.n, 6);
	assert_str_value(&r.v[0], "o-123", 5);
	assert_str_value(&r.v[1], "p-7", 3);
	assert_str_value(&r.v[2], "c-42", 4);
	assert_int_equal(r.v[3].type, WR_T_DOUBLE);
	assert_true(r.v[3].u.d == 123.45);
	assert_str_value(&r.v[4], "PAID", 4);
	assert_int_equal(r.v[5].type, WR_T_TIMESTAMP);
	assert_int_equal(r.v[5].u.i, 1795325848148LL);
	/* Fields in another order, with blanks, decode the same. */
	assert_int_equal(
	    decode(&s,
	           " {\n\t\"ts\" : 1795325848148 , \"status\":\"PAID\","
	           "\"amount\":123.45,\"customer_id\":\"c-42\","
	           "\"product_id\":\"p-7\",\"order_id\":\"o-123\"}\r\n",
	           &r, &a, err, sizeof(err)),
	    WR_OK);
	assert_str_value(&r.v[0], "o-123", 5);
	assert_int_equal(r.v[5].u.i, 1795325848148LL);
	wr_arena_fini(&a);
	wr_schema_fini(&s);
}

static void
test_decode_null_absent_unknown(void **state)
{
	wr_schema s;
	wr_arena a;
	wr_row r;
	char err[256];

	(void)state;
	order_schema(&s);
	wr_arena_init(&a, ARENA_CAP);
	assert_int_equal(
	    decode(&s,
	           "{\"order_id\":null,\"extra\":{\"amount\":\"x\",\"deep\":"
	           "[1,{\"ts\":[]}]},\"list\":[1,2,\"three\"],\"amount\":1,"
	           "\"nothing\":null,\"flag\":true}",
	           &r, &a, err, sizeof(err)),
	    WR_OK);
	assert_int_equal(r.n, 6);
	assert_int_equal(r.v[0].type, WR_T_NULL); /* null */
	assert_int_equal(r.v[1].type, WR_T_NULL); /* absent */
	assert_int_equal(r.v[3].type, WR_T_DOUBLE);
	assert_true(r.v[3].u.d == 1.0);
	assert_int_equal(r.v[5].type, WR_T_NULL);
	assert_int_equal(decode(&s, "{}", &r, &a, err, sizeof(err)), WR_OK);
	for (int i = 0; i < 6; i++)
		assert_int_equal(r.v[i].type, WR_T_NULL);
	/* An empty schema takes any object. */
	wr_schema_fini(&s);
	assert_int_equal(decode(&s, "{\"a\":1}", &r, &a, err, sizeof(err)),
	                 WR_OK);
	assert_int_equal(r.n, 0);
	wr_arena_fini(&a);
}

static void
test_decode_declared_object(void **state)
{
	(void)state;
	decode_error(WR_T_DOUBLE, "{\"f\":{\"x\":1}}", WR_EINVAL,
	             "field 'f': expected double, got object");
	decode_error(WR_T_STRING, "{\"f\":[\"a\"]}", WR_EINVAL,
	             "field 'f': expected string, got array");
	decode_error(WR_T_TIMESTAMP, "{\"f\":{}}", WR_EINVAL,
	             "field 'f': expected timestamp, got object");
	decode_error(WR_T_BOOL, "{\"f\":[]}", WR_EINVAL,
	             "field 'f': expected bool, got array");
}

static void
test_decode_long(void **state)
{
	wr_arena a;

	(void)state;
	wr_arena_init(&a, ARENA_CAP);
	assert_int_equal(decode_value(WR_T_LONG, "{\"f\":42}", &a).u.i, 42);
	assert_int_equal(decode_value(WR_T_LONG, "{\"f\":-42}", &a).u.i, -42);
	assert_int_equal(decode_value(WR_T_LONG, "{\"f\":-0}", &a).u.i, 0);
	assert_true(
	    decode_value(WR_T_LONG, "{\"f\":9223372036854775807}", &a).u.i ==
	    INT64_MAX);
	assert_true(
	    decode_value(WR_T_LONG, "{\"f\":-9223372036854775808}", &a).u.i ==
	    INT64_MIN);
	/* Integral reals are integers; 2^53 is the largest such exact. */
	assert_int_equal(decode_value(WR_T_LONG, "{\"f\":1.0}", &a).u.i, 1);
	assert_int_equal(decode_value(WR_T_LONG, "{\"f\":1e3}", &a).u.i, 1000);
	assert_int_equal(decode_value(WR_T_LONG, "{\"f\":-2.5e1}", &a).u.i,
	                 -25);
	assert_true(
	    decode_value(WR_T_LONG, "{\"f\":9007199254740992.0}", &a).u.i ==
	    9007199254740992LL);
	assert_int_equal(decode_value(WR_T_LONG, "{\"f\":42}", &a).type,
	                 WR_T_LONG);
	decode_error(WR_T_LONG, "{\"f\":1.5}", WR_EINVAL,
	             "field 'f': expected long, got non-integral number 1.5");
	decode_error(WR_T_LONG, "{\"f\":1e19}", WR_EINVAL, "field 'f': number");
	decode_error(WR_T_LONG, "{\"f\":9223372036854775808}", WR_EINVAL,
	             "out of range for long");
	decode_error(WR_T_LONG, "{\"f\":-9223372036854775809}", WR_EINVAL,
	             "out of range for long");
	decode_error(WR_T_LONG, "{\"f\":\"42\"}", WR_EINVAL,
	             "field 'f': expected long, got string");
	decode_error(WR_T_LONG, "{\"f\":true}", WR_EINVAL,
	             "field 'f': expected long, got bool");
	wr_arena_fini(&a);
}

static void
test_decode_double_bool(void **state)
{
	wr_arena a;
	wr_value v;

	(void)state;
	wr_arena_init(&a, ARENA_CAP);
	v = decode_value(WR_T_DOUBLE, "{\"f\":7}", &a);
	assert_int_equal(v.type, WR_T_DOUBLE);
	assert_true(v.u.d == 7.0);
	assert_true(decode_value(WR_T_DOUBLE, "{\"f\":-1.25e-3}", &a).u.d ==
	            -1.25e-3);
	assert_true(
	    decode_value(WR_T_DOUBLE, "{\"f\":1.7976931348623157e308}", &a)
	        .u.d == 1.7976931348623157e308);
	/* An integer too big for int64 still is a double. */
	assert_true(
	    decode_value(WR_T_DOUBLE, "{\"f\":18446744073709551616}", &a).u.d ==
	    18446744073709551616.0);
	v = decode_value(WR_T_DOUBLE, "{\"f\":-0.0}", &a);
	assert_true(v.u.d == 0.0 && signbit(v.u.d));
	decode_error(WR_T_DOUBLE, "{\"f\":\"1.5\"}", WR_EINVAL,
	             "field 'f': expected double, got string");
	decode_error(WR_T_DOUBLE, "{\"f\":1e400}", WR_EINVAL,
	             "malformed JSON at byte");

	v = decode_value(WR_T_BOOL, "{\"f\":true}", &a);
	assert_int_equal(v.type, WR_T_BOOL);
	assert_true(v.u.b);
	assert_false(decode_value(WR_T_BOOL, "{\"f\":false}", &a).u.b);
	decode_error(WR_T_BOOL, "{\"f\":1}", WR_EINVAL,
	             "field 'f': expected bool, got number");
	decode_error(WR_T_BOOL, "{\"f\":\"true\"}", WR_EINVAL,
	             "field 'f': expected bool, got string");
	wr_arena_fini(&a);
}

static void
test_decode_timestamp(void **state)
{
	wr_arena a;
	wr_value v;

	(void)state;
	wr_arena_init(&a, ARENA_CAP);
	v = decode_value(WR_T_TIMESTAMP, "{\"f\":1795325848148}", &a);
	assert_int_equal(v.type, WR_T_TIMESTAMP);
	assert_int_equal(v.u.i, 1795325848148LL);
	assert_int_equal(decode_value(WR_T_TIMESTAMP, "{\"f\":-1}", &a).u.i,
	                 -1);
	v = decode_value(WR_T_TIMESTAMP, "{\"f\":\"2026-11-22T05:40:00Z\"}",
	                 &a);
	assert_int_equal(v.type, WR_T_TIMESTAMP);
	assert_int_equal(v.u.i, 1795326000000LL);
	v = decode_value(WR_T_TIMESTAMP,
	                 "{\"f\":\"2026-11-22T05:40:00.123+01:00\"}", &a);
	assert_int_equal(v.u.i, 1795322400123LL);
	decode_error(WR_T_TIMESTAMP, "{\"f\":\"2026-02-30T00:00:00Z\"}",
	             WR_EINVAL,
	             "field 'f': invalid ISO-8601 timestamp "
	             "'2026-02-30T00:00:00Z': day out of range");
	decode_error(WR_T_TIMESTAMP, "{\"f\":1.5}", WR_EINVAL,
	             "expected timestamp, got non-integral number");
	decode_error(WR_T_TIMESTAMP, "{\"f\":true}", WR_EINVAL,
	             "field 'f': expected timestamp, got bool");
	decode_error(WR_T_TIMESTAMP, "{\"f\":\"yesterday\"}", WR_EINVAL,
	             "expected YYYY-MM-DDTHH:MM:SS");
	/* Outside years 0000..9999: invalid, never a watermark. */
	decode_error(WR_T_TIMESTAMP, "{\"f\":9223372036854775807}", WR_EINVAL,
	             "field 'f': timestamp 9223372036854775807 is outside "
	             "years 0000..9999");
	decode_error(WR_T_TIMESTAMP, "{\"f\":253402300800000}", WR_EINVAL,
	             "is outside years 0000..9999");
	decode_error(WR_T_TIMESTAMP, "{\"f\":-62167219200001}", WR_EINVAL,
	             "is outside years 0000..9999");
	assert_int_equal(
	    decode_value(WR_T_TIMESTAMP, "{\"f\":253402300799999}", &a).u.i,
	    253402300799999LL);
	assert_int_equal(
	    decode_value(WR_T_TIMESTAMP, "{\"f\":-62167219200000}", &a).u.i,
	    -62167219200000LL);
	wr_arena_fini(&a);
}

static void
test_decode_string_escapes(void **state)
{
	wr_arena a;
	wr_value v;

	(void)state;
	wr_arena_init(&a, ARENA_CAP);
	v = decode_value(WR_T_STRING,
	                 "{\"f\":\"q\\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\t\"}", &a);
	assert_str_value(&v, "q\"b\\s/b\bf\fn\nr\rt\t", 16);
	v = decode_value(WR_T_STRING, "{\"f\":\"\\u00e9\\u20AC\"}", &a);
	assert_str_value(&v, "\xc3\xa9\xe2\x82\xac", 5);
	/* A surrogate pair is one 4-byte UTF-8 character. */
	v = decode_value(WR_T_STRING, "{\"f\":\"\\ud83d\\ude00!\"}", &a);
	assert_str_value(&v, "\xf0\x9f\x98\x80!", 5);
	v = decode_value(WR_T_STRING, "{\"f\":\"a\\u0000b\"}", &a);
	assert_str_value(&v, "a\0b", 3);
	v = decode_value(WR_T_STRING,
	                 "{\"f\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}", &a);
	assert_str_value(&v, "caf\xc3\xa9 \xf0\x9f\x98\x80", 10);
	v = decode_value(WR_T_STRING, "{\"f\":\"\"}", &a);
	assert_str_value(&v, "", 0);
	decode_error(WR_T_STRING, "{\"f\":\"\\ud800\"}", WR_EINVAL,
	             "malformed JSON at byte");
	decode_error(WR_T_STRING, "{\"f\":\"\\udc00x\"}", WR_EINVAL,
	             "malformed JSON at byte");
	decode_error(WR_T_STRING, "{\"f\":\"\\ud83dx\"}", WR_EINVAL,
	             "malformed JSON at byte");
	decode_error(WR_T_STRING, "{\"f\":\"\xff\"}", WR_EINVAL,
	             "malformed JSON at byte");
	decode_error(WR_T_STRING, "{\"f\":\"\xc3\"}", WR_EINVAL,
	             "malformed JSON at byte");
	decode_error(WR_T_STRING, "{\"f\":\"tab\there\"}", WR_EINVAL,
	             "malformed JSON at byte");
	decode_error(WR_T_STRING, "{\"f\":\"\\x41\"}", WR_EINVAL,
	             "malformed JSON at byte");
	decode_error(WR_T_STRING, "{\"f\":\"\\u12\"}", WR_EINVAL,
	             "malformed JSON at byte");
	decode_error(WR_T_STRING, "{\"f\":42}", WR_EINVAL,
	             "field 'f': expected string, got number");
	wr_arena_fini(&a);
}

/* Strings live in the arena, not in the input or the freed DOM. */
static void
test_decode_strings_in_arena(void **state)
{
	wr_schema s;
	wr_arena a;
	wr_row r;
	char err[256];
	char json[] = "{\"f\":\"hello\"}";

	(void)state;
	one_schema(&s, "f", WR_T_STRING);
	wr_arena_init(&a, ARENA_CAP);
	assert_int_equal(
	    wr_row_from_json(&s, json, strlen(json), &r, &a, err, sizeof(err)),
	    WR_OK);
	memset(json, 'x', strlen(json));
	assert_str_value(&r.v[0], "hello", 5);
	assert_true(a.used >= 5);
	wr_arena_fini(&a);

	/* Past the arena's cap: WR_EFULL. */
	wr_arena_init(&a, 16);
	assert_int_equal(
	    decode(&s, "{\"f\":\"a string longer than sixteen bytes\"}", &r, &a,
	           err, sizeof(err)),
	    WR_EFULL);
	assert_non_null(strstr(err, "per-record memory"));
	assert_int_equal(r.n, 0);
	wr_arena_fini(&a);
	wr_schema_fini(&s);
}

/* "[{},{},...]" once cost jansson's DOM ~80 times its input; the decoder
 * builds nothing for fields it skips, so such a record takes no arena
 * memory at all, within a small cap, and the next record decodes as
 * usual. */
static void
test_decode_hostile_record(void **state)
{
	static const char order[] = "{\"order_id\":\"o-123\",\"amount\":1}";
	const size_t cap = 256u * 1024u;
	size_t len = 0, n = 32u * 1024u;
	char *json = malloc(n + 16);
	wr_schema s;
	wr_arena a;
	wr_row r;
	char err[256];

	(void)state;
	assert_non_null(json);
	len += (size_t)sprintf(json, "{\"x\":[");
	while (len < n)
		len += (size_t)sprintf(json + len, "{},");
	json[len - 1] = ']';
	json[len++] = '}';
	json[len] = '\0';
	order_schema(&s);
	wr_arena_init(&a, cap);
	assert_int_equal(decode(&s, json, &r, &a, err, sizeof(err)), WR_OK);
	assert_int_equal(r.v[0].type, WR_T_NULL);
	assert_int_equal(a.used, 0);
	assert_int_equal(decode(&s, order, &r, &a, err, sizeof(err)), WR_OK);
	assert_str_value(&r.v[0], "o-123", 5);
	wr_arena_fini(&a);
	wr_schema_fini(&s);
	free(json);
}

/* Slot threads decode at once, each with its own arena: one thread's
 * hostile records neither disturb another's nor cost arena memory. */
struct decode_thread {
	bool hostile;
	int ok, skipped;
};

static void *
decode_thread_main(void *arg)
{
	struct decode_thread *dt = arg;
	static const char order[] =
	    "{\"order_id\":\"o-123\",\"product_id\":\"p-7\",\"amount\":1.5,"
	    "\"ts\":\"2026-11-22T05:40:00Z\"}";
	static char hostile[8192];
	wr_schema s;
	wr_arena a;
	wr_row r;
	char err[256];

	if (dt->hostile && hostile[0] == '\0') {
		size_t len = (size_t)sprintf(hostile, "{\"x\":[");
		while (len < sizeof(hostile) - 8)
			len += (size_t)sprintf(hostile + len, "{},");
		strcpy(hostile + len - 1, "]}");
	}
	order_schema(&s);
	wr_arena_init(&a, 16u * 1024u);
	for (int i = 0; i < 2000; i++) {
		const char *json = dt->hostile && i % 2 ? hostile : order;
		int rv = wr_row_from_json(&s, json, strlen(json), &r, &a, err,
		                          sizeof(err));
		dt->ok += rv == WR_OK && r.v[5].type == WR_T_TIMESTAMP &&
		          r.v[5].u.i == 1795326000000LL;
		dt->skipped +=
		    rv == WR_OK && r.v[5].type == WR_T_NULL && a.used == 0;
		wr_arena_reset(&a);
	}
	wr_arena_fini(&a);
	wr_schema_fini(&s);
	return NULL;
}

static void
test_decode_threads(void **state)
{
	struct decode_thread dt[4] = {{.hostile = true},
	                              {.hostile = false},
	                              {.hostile = true},
	                              {.hostile = false}};
	pthread_t tid[4];

	(void)state;
	/* The hostile record is built before the threads share it. */
	decode_thread_main(&(struct decode_thread){.hostile = true});
	for (int i = 0; i < 4; i++)
		assert_int_equal(
		    pthread_create(&tid[i], NULL, decode_thread_main, &dt[i]),
		    0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(tid[i], NULL), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(dt[i].ok, dt[i].hostile ? 1000 : 2000);
		assert_int_equal(dt[i].skipped, dt[i].hostile ? 1000 : 0);
	}
}

static void
test_decode_malformed(void **state)
{
	(void)state;
	decode_error(WR_T_LONG, "{\"f\":1", WR_EINVAL, "truncated at byte 6");
	decode_error(WR_T_LONG, "{\"f\":", WR_EINVAL, "truncated at byte 5");
	decode_error(WR_T_LONG, "{\"f\"", WR_EINVAL, "truncated at byte");
	decode_error(WR_T_LONG, "[1,2]", WR_EINVAL,
	             "not a JSON object (got array)");
	decode_error(WR_T_LONG, "42", WR_EINVAL,
	             "not a JSON object (got number)");
	decode_error(WR_T_LONG, "\"s\"", WR_EINVAL,
	             "not a JSON object (got string)");
	decode_error(WR_T_LONG, "null", WR_EINVAL,
	             "not a JSON object (got null)");
	decode_error(WR_T_LONG, "", WR_EINVAL, "empty record");
	decode_error(WR_T_LONG, " \r\n\t", WR_EINVAL, "empty record");
	decode_error(WR_T_LONG, "{\"f\":1}x", WR_EINVAL,
	             "malformed JSON at byte 8");
	decode_error(WR_T_LONG, "{\"f\":1}{}", WR_EINVAL,
	             "malformed JSON at byte");
	decode_error(WR_T_LONG, "{'f':1}", WR_EINVAL,
	             "malformed JSON at byte 2");
	decode_error(WR_T_LONG, "{\"f\":1,}", WR_EINVAL, "malformed JSON");
	decode_error(WR_T_LONG, "{\"f\":NaN}", WR_EINVAL, "malformed JSON");
	decode_error(WR_T_LONG, "{\"f\":01}", WR_EINVAL, "malformed JSON");
	decode_error(WR_T_LONG, "{\"f\":1.}", WR_EINVAL, "malformed JSON");
	decode_error(WR_T_LONG, "{\"f\":+1}", WR_EINVAL, "malformed JSON");
	decode_error(WR_T_LONG, "{\"f\" 1}", WR_EINVAL, "malformed JSON");
	decode_error(WR_T_LONG, "{f:1}", WR_EINVAL, "malformed JSON");
	decode_error(WR_T_LONG, "{\"f\":1}\x01", WR_EINVAL, "malformed JSON");
}

/* A record is decoded from exactly len bytes, never up to a NUL. */
static void
test_decode_respects_length(void **state)
{
	static const char json[] = "{\"f\":12}{\"f\":34}";
	wr_schema s;
	wr_arena a;
	wr_row r;
	char err[256];

	(void)state;
	one_schema(&s, "f", WR_T_LONG);
	wr_arena_init(&a, ARENA_CAP);
	assert_int_equal(
	    wr_row_from_json(&s, json, 8, &r, &a, err, sizeof(err)), WR_OK);
	assert_int_equal(r.v[0].u.i, 12);
	assert_int_equal(
	    wr_row_from_json(&s, json + 8, 8, &r, &a, err, sizeof(err)), WR_OK);
	assert_int_equal(r.v[0].u.i, 34);
	assert_int_equal(
	    wr_row_from_json(&s, json, 7, &r, &a, err, sizeof(err)), WR_EINVAL);
	assert_non_null(strstr(err, "truncated at byte 7"));
	/* A NUL inside the input is not the end of it. */
	assert_int_equal(
	    wr_row_from_json(&s, "{\"f\":1}\0", 8, &r, &a, err, sizeof(err)),
	    WR_EINVAL);
	wr_arena_fini(&a);
	wr_schema_fini(&s);
}

/* jansson refuses integers beyond int64 anywhere; weir reads such records
 * again with numbers as doubles, so an ignored field cannot sink them. */
static void
test_decode_big_numbers(void **state)
{
	wr_schema s;
	wr_arena a;
	wr_row r;
	char err[256];

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(wr_schema_add(&s, "n", WR_T_LONG), WR_OK);
	assert_int_equal(wr_schema_add(&s, "d", WR_T_DOUBLE), WR_OK);
	wr_arena_init(&a, ARENA_CAP);
	assert_int_equal(
	    decode(&s,
	           "{\"big\":123456789012345678901234567890,\"n\":12345,"
	           "\"d\":-99999999999999999999999,\"nested\":{\"x\":1e300}}",
	           &r, &a, err, sizeof(err)),
	    WR_OK);
	assert_int_equal(r.v[0].type, WR_T_LONG);
	assert_int_equal(r.v[0].u.i, 12345);
	assert_true(r.v[1].u.d == -99999999999999999999999.0);
	assert_int_equal(decode(&s, "{\"n\":123456789012345678901234567890}",
	                        &r, &a, err, sizeof(err)),
	                 WR_EINVAL);
	assert_non_null(strstr(err, "field 'n'"));
	assert_non_null(strstr(err, "out of range for long"));
	wr_arena_fini(&a);
	wr_schema_fini(&s);
}

static void
test_decode_duplicate_keys(void **state)
{
	wr_arena a;

	(void)state;
	wr_arena_init(&a, ARENA_CAP);
	/* The last occurrence wins (jansson's rule, as most parsers'). */
	assert_int_equal(decode_value(WR_T_LONG, "{\"f\":1,\"f\":2}", &a).u.i,
	                 2);
	wr_arena_fini(&a);
}

/* ---- ISO-8601 ---- */

static void
check_iso(const char *s, int64_t want)
{
	int64_t ms = 0;
	char err[256] = "";
	if (wr_ts_parse_iso8601(s, strlen(s), &ms, err, sizeof(err)) != WR_OK)
		fail_msg("%s: %s", s, err);
	if (ms != want)
		fail_msg("%s: %lld, want %lld", s, (long long)ms,
		         (long long)want);
}

static void
check_iso_error(const char *s, const char *why)
{
	int64_t ms = 0;
	char err[256] = "";
	char *copy = malloc(strlen(s) + 1);

	assert_non_null(copy);
	memcpy(copy, s, strlen(s)); /* no NUL: reads stay within len */
	if (wr_ts_parse_iso8601(copy, strlen(s), &ms, err, sizeof(err)) !=
	    WR_EINVAL)
		fail_msg("%s: accepted as %lld", s, (long long)ms);
	free(copy);
	if (strstr(err, why) == NULL)
		fail_msg("%s: error '%s' lacks '%s'", s, err, why);
}

static void
test_iso_parse_valid(void **state)
{
	(void)state;
	/* Expected values from Python's datetime. */
	check_iso("2026-11-22T05:40:00Z", 1795326000000LL);
	check_iso("2026-11-22T05:40:00.123Z", 1795326000123LL);
	check_iso("2026-11-22T05:40:00.1Z", 1795326000100LL);
	check_iso("2026-11-22T05:40:00.12Z", 1795326000120LL);
	check_iso("2026-11-22T05:40:00.123999999Z", 1795326000123LL);
	check_iso("2026-11-22T05:40:00+01:00", 1795322400000LL);
	check_iso("2026-11-22T05:40:00-05:30", 1795345800000LL);
	check_iso("2026-11-22T05:40:00.123-00:00", 1795326000123LL);
	check_iso("1970-01-01T00:00:00Z", 0);
	check_iso("1969-12-31T23:59:59.999Z", -1);
	check_iso("0000-01-01T00:00:00Z", -62167219200000LL);
	check_iso("0001-01-01T00:00:00Z", -62135596800000LL);
	check_iso("9999-12-31T23:59:59.999Z", 253402300799999LL);
	check_iso("2000-02-29T12:00:00Z", 951825600000LL);
	check_iso("2024-02-29T00:00:00Z", 1709164800000LL);
	check_iso("2026-12-31T23:59:59+23:59",
	          1798761599000LL - (23 * 60 + 59) * 60000LL);
}

static void
test_iso_parse_invalid(void **state)
{
	(void)state;
	check_iso_error("2026-02-30T00:00:00Z", "day out of range");
	check_iso_error("2026-02-29T00:00:00Z", "day out of range");
	check_iso_error("1900-02-29T00:00:00Z", "day out of range");
	check_iso_error("2026-04-31T00:00:00Z", "day out of range");
	check_iso_error("2026-01-00T00:00:00Z", "day out of range");
	check_iso_error("2026-01-32T00:00:00Z", "day out of range");
	check_iso_error("2026-13-01T00:00:00Z", "month out of range");
	check_iso_error("2026-00-01T00:00:00Z", "month out of range");
	check_iso_error("2026-01-01T24:00:00Z", "time of day out of range");
	check_iso_error("2026-01-01T00:60:00Z", "time of day out of range");
	check_iso_error("2026-12-31T23:59:60Z", "time of day out of range");
	check_iso_error("2026-11-22T05:40:00", "missing time zone");
	check_iso_error("2026-11-22T05:40:00.123", "missing time zone");
	check_iso_error("2026-11-22T05:40:00z", "missing time zone");
	check_iso_error("2026-11-22T05:40:00 Z", "missing time zone");
	check_iso_error("2026-11-22T05:40:00+0100", "+hh:mm or -hh:mm");
	check_iso_error("2026-11-22T05:40:00+01", "+hh:mm or -hh:mm");
	check_iso_error("2026-11-22T05:40:00+01:00:00", "+hh:mm or -hh:mm");
	check_iso_error("2026-11-22T05:40:00+24:00",
	                "zone offset out of range");
	check_iso_error("2026-11-22T05:40:00+01:60",
	                "zone offset out of range");
	check_iso_error("2026-11-22T05:40:00Zx", "trailing characters");
	check_iso_error("2026-11-22T05:40:00.Z", "1 to 9 digits");
	check_iso_error("2026-11-22T05:40:00.1234567890Z", "1 to 9 digits");
	check_iso_error("2026-11-22 05:40:00Z", "YYYY-MM-DDTHH:MM:SS");
	check_iso_error("2026-11-22t05:40:00Z", "YYYY-MM-DDTHH:MM:SS");
	check_iso_error("2026-11-22T05:40Z", "YYYY-MM-DDTHH:MM:SS");
	check_iso_error("26-11-22T05:40:00Z", "YYYY-MM-DDTHH:MM:SS");
	check_iso_error("2026-1-22T05:40:00Z", "YYYY-MM-DDTHH:MM:SS");
	check_iso_error("+2026-11-22T05:40:00Z", "YYYY-MM-DDTHH:MM:SS");
	check_iso_error("2026-11-22T05:40:0 Z", "YYYY-MM-DDTHH:MM:SS");
	check_iso_error("", "YYYY-MM-DDTHH:MM:SS");
	check_iso_error("2026-11-22", "YYYY-MM-DDTHH:MM:SS");
	check_iso_error("1795325848148", "YYYY-MM-DDTHH:MM:SS");
}

static void
check_format(int64_t ms, const char *want)
{
	char out[WR_TS_ISO_BYTES];
	assert_true(wr_ts_format_iso8601(ms, out));
	assert_string_equal(out, want);
}

static void
test_iso_format(void **state)
{
	char out[WR_TS_ISO_BYTES];
	int64_t lo = -62167219200000LL, hi = 253402300799999LL;

	(void)state;
	check_format(0, "1970-01-01T00:00:00.000Z");
	check_format(-1, "1969-12-31T23:59:59.999Z");
	check_format(1795325848148LL, "2026-11-22T05:37:28.148Z");
	check_format(951825600000LL, "2000-02-29T12:00:00.000Z");
	check_format(lo, "0000-01-01T00:00:00.000Z");
	check_format(hi, "9999-12-31T23:59:59.999Z");
	assert_false(wr_ts_format_iso8601(lo - 1, out));
	assert_false(wr_ts_format_iso8601(hi + 1, out));
	assert_false(wr_ts_format_iso8601(INT64_MIN, out));
	assert_false(wr_ts_format_iso8601(INT64_MAX, out));
	/* Every formatted instant parses back to itself. */
	for (int i = 0; i < 20000; i++) {
		int64_t ms = lo + (int64_t)wrt_rng_below(
		                      &rng_state, (uint64_t)(hi - lo + 1));
		int64_t back = 0;
		char err[128];
		assert_true(wr_ts_format_iso8601(ms, out));
		assert_int_equal(strlen(out), WR_TS_ISO_BYTES - 1);
		assert_int_equal(wr_ts_parse_iso8601(out, strlen(out), &back,
		                                     err, sizeof(err)),
		                 WR_OK);
		assert_true(back == ms);
	}
}

/* ---- JSON encoding ---- */

static void
test_encode_exact(void **state)
{
	wr_schema s;
	wr_row r;
	wr_buf b;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(wr_schema_add(&s, "s", WR_T_STRING), WR_OK);
	assert_int_equal(wr_schema_add(&s, "l", WR_T_LONG), WR_OK);
	assert_int_equal(wr_schema_add(&s, "d", WR_T_DOUBLE), WR_OK);
	assert_int_equal(wr_schema_add(&s, "b", WR_T_BOOL), WR_OK);
	assert_int_equal(wr_schema_add(&s, "ts", WR_T_TIMESTAMP), WR_OK);
	assert_int_equal(wr_schema_add(&s, "n", WR_T_STRING), WR_OK);
	assert_int_equal(wr_schema_add(&s, "we\"ird\\", WR_T_BOOL), WR_OK);
	r.n = 7;
	r.v[0] = wrt_vstrn("q\"b\\n\nt\tr\rb\bf\fz\x01\x1f\x7f\0"
	                   "\xc3\xa9\xf0\x9f\x98\x80/",
	                   26);
	r.v[1] = wrt_vlong(INT64_MIN);
	r.v[2] = wrt_vdouble(123.45);
	r.v[3] = wrt_vbool(true);
	r.v[4] = wrt_vts(1795326000000LL);
	r.v[5].type = WR_T_NULL;
	r.v[6] = wrt_vbool(false);
	wr_buf_init(&b);
	wr_row_to_json(&s, &r, &b);
	assert_string_equal(b.data, "{\"s\":\"q\\\"b\\\\n\\nt\\tr\\rb\\bf\\fz"
	                            "\\u0001\\u001f\x7f\\u0000\xc3\xa9\xf0\x9f"
	                            "\x98\x80/\",\"l\":-9223372036854775808,"
	                            "\"d\":123.45,\"b\":true,"
	                            "\"ts\":\"2026-11-22T05:40:00.000Z\","
	                            "\"n\":null,\"we\\\"ird\\\\\":false}");
	/* A row shorter than the schema (from a peer) ends in nulls; an
	 * empty schema gives an empty object. */
	r.n = 2;
	wr_buf_reset(&b);
	wr_row_to_json(&s, &r, &b);
	assert_string_equal(b.data, "{\"s\":\"q\\\"b\\\\n\\nt\\tr\\rb\\bf\\fz"
	                            "\\u0001\\u001f\x7f\\u0000\xc3\xa9\xf0\x9f"
	                            "\x98\x80/\",\"l\":-9223372036854775808,"
	                            "\"d\":null,\"b\":null,\"ts\":null,"
	                            "\"n\":null,\"we\\\"ird\\\\\":null}");
	wr_schema_fini(&s);
	wr_buf_reset(&b);
	wr_row_to_json(&s, &r, &b);
	assert_string_equal(b.data, "{}");
	wr_buf_fini(&b);
}

static void
check_double_json(double d, const char *want)
{
	wr_schema s;
	wr_row r = {.n = 1};
	wr_buf b;
	char expect[64];

	one_schema(&s, "d", WR_T_DOUBLE);
	r.v[0] = wrt_vdouble(d);
	wr_buf_init(&b);
	wr_row_to_json(&s, &r, &b);
	snprintf(expect, sizeof(expect), "{\"d\":%s}", want);
	assert_string_equal(b.data, expect);
	wr_buf_fini(&b);
	wr_schema_fini(&s);
}

static void
test_encode_doubles(void **state)
{
	(void)state;
	check_double_json(0.1, "0.1");
	check_double_json(123.45, "123.45");
	check_double_json(100.0, "100");
	check_double_json(-2.5, "-2.5");
	check_double_json(1.0 / 3.0, "0.3333333333333333");
	check_double_json(0.1 + 0.2, "0.30000000000000004");
	check_double_json(1e300, "1e+300");
	check_double_json(1.7976931348623157e308, "1.7976931348623157e+308");
	/* Any digits near the smallest subnormal read back as it. */
	check_double_json(5e-324, "4.94065645841247e-324");
	check_double_json(2.2250738585072014e-308, "2.2250738585072014e-308");
	check_double_json(-0.0, "-0");
	check_double_json(NAN, "null");
	check_double_json(INFINITY, "null");
	check_double_json(-INFINITY, "null");
}

static void
test_encode_timestamps(void **state)
{
	wr_schema s;
	wr_row r = {.n = 1};
	wr_buf b;

	(void)state;
	one_schema(&s, "t", WR_T_TIMESTAMP);
	wr_buf_init(&b);
	r.v[0] = wrt_vts(-1);
	wr_row_to_json(&s, &r, &b);
	assert_string_equal(b.data, "{\"t\":\"1969-12-31T23:59:59.999Z\"}");
	/* Beyond year 9999 no ISO-8601 string (nor a source) takes it: null,
	 * never a raw integer. */
	wr_buf_reset(&b);
	r.v[0] = wrt_vts(253402300800000LL);
	wr_row_to_json(&s, &r, &b);
	assert_string_equal(b.data, "{\"t\":null}");
	wr_buf_reset(&b);
	r.v[0] = wrt_vts(INT64_MIN);
	wr_row_to_json(&s, &r, &b);
	assert_string_equal(b.data, "{\"t\":null}");
	wr_buf_reset(&b);
	r.v[0] = wrt_vts(253402300799999LL);
	wr_row_to_json(&s, &r, &b);
	assert_string_equal(b.data, "{\"t\":\"9999-12-31T23:59:59.999Z\"}");
	wr_buf_fini(&b);
	wr_schema_fini(&s);
}

/* ---- random rows ---- */

/* Appends one random code point as UTF-8, biased towards the characters
 * that need escaping. */
static size_t
rand_utf8(char *p)
{
	static const char special[] = "\"\\/\b\f\n\r\t\x01\x1f\x7f\0 ";
	uint32_t c;

	switch (wrt_rng_below(&rng_state, 6)) {
	case 0:
		p[0] = special[wrt_rng_below(&rng_state, sizeof(special))];
		return 1;
	case 1:
		p[0] = (char)(0x20 + wrt_rng_below(&rng_state, 0x5f));
		return 1;
	case 2:
		c = 0x80 + (uint32_t)wrt_rng_below(&rng_state, 0x800 - 0x80);
		p[0] = (char)(0xc0 | c >> 6);
		p[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	case 3:
		do
			c = 0x800 + (uint32_t)wrt_rng_below(&rng_state,
			                                    0x10000 - 0x800);
		while (c >= 0xd800 && c <= 0xdfff);
		p[0] = (char)(0xe0 | c >> 12);
		p[1] = (char)(0x80 | (c >> 6 & 0x3f));
		p[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	default:
		c = 0x10000 +
		    (uint32_t)wrt_rng_below(&rng_state, 0x110000 - 0x10000);
		p[0] = (char)(0xf0 | c >> 18);
		p[1] = (char)(0x80 | (c >> 12 & 0x3f));
		p[2] = (char)(0x80 | (c >> 6 & 0x3f));
		p[3] = (char)(0x80 | (c & 0x3f));
		return 4;
	}
}

static int64_t
rand_i64(void)
{
	switch (wrt_rng_below(&rng_state, 4)) {
	case 0:
		return (int64_t)wrt_rng_below(&rng_state, 1000) - 500;
	case 1:
		return wrt_rng_below(&rng_state, 2)
		           ? INT64_MAX - (int64_t)wrt_rng_below(&rng_state, 3)
		           : INT64_MIN + (int64_t)wrt_rng_below(&rng_state, 3);
	default:
		return (int64_t)wrt_rng(&rng_state);
	}
}

static double
rand_double(void)
{
	uint64_t bits;
	double d;

	switch (wrt_rng_below(&rng_state, 3)) {
	case 0:
		return (double)((int64_t)wrt_rng_below(&rng_state, 2000000) -
		                1000000) /
		       100.0;
	case 1:
		return (double)(int64_t)wrt_rng(&rng_state) /
		       (double)(wrt_rng(&rng_state) | 1);
	default:
		do {
			bits = wrt_rng(&rng_state);
			memcpy(&d, &bits, sizeof(d));
		} while (!isfinite(d));
		return d;
	}
}

/* A random value of type t (or NULL); strings are valid UTF-8 when
 * utf8, else any bytes, written to the arena. */
static wr_value
rand_value(enum wr_type t, bool utf8, wr_arena *a)
{
	wr_value v = {.type = (uint8_t)t};
	size_t n, len = 0;
	char *p;

	if (wrt_rng_below(&rng_state, 8) == 0)
		t = v.type = WR_T_NULL;
	switch (t) {
	case WR_T_STRING:
		n = wrt_rng_below(&rng_state, 4) == 0
		        ? wrt_rng_below(&rng_state, 300)
		        : wrt_rng_below(&rng_state, 12);
		p = wr_arena_alloc(a, n * 4 + 1);
		assert_non_null(p);
		for (size_t i = 0; i < n; i++)
			len += utf8 ? rand_utf8(p + len)
			            : (p[len] = (char)wrt_rng(&rng_state), 1);
		v.u.s.p = p;
		v.u.s.len = (uint32_t)len;
		break;
	case WR_T_LONG:
		v.u.i = rand_i64();
		break;
	case WR_T_TIMESTAMP:
		/* JSON carries years 0000..9999 only; the binary codec any
		 * int64. */
		v.u.i = !utf8 && wrt_rng_below(&rng_state, 4) == 0
		            ? rand_i64()
		            : -62167219200000LL +
		                  (int64_t)wrt_rng_below(&rng_state,
		                                         315569520000000ULL);
		break;
	case WR_T_DOUBLE:
		v.u.d = rand_double();
		break;
	case WR_T_BOOL:
		v.u.b = wrt_rng_below(&rng_state, 2) == 1;
		break;
	default:
		break;
	}
	return v;
}

static void
test_json_round_trip(void **state)
{
	wr_schema s;
	wr_arena a, a2;
	wr_row r, back;
	wr_buf b;
	char name[16], err[256];

	(void)state;
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), i == 7 ? "f\"%d\\\xc3\xa9" : "f%d",
		         i);
		assert_int_equal(wr_schema_add(&s, name, WR_T_STRING + i % 5),
		                 WR_OK);
	}
	wr_arena_init(&a, 4 * ARENA_CAP);
	wr_arena_init(&a2, 4 * ARENA_CAP);
	wr_buf_init(&b);
	for (int iter = 0; iter < 5000; iter++) {
		r.n = s.n;
		for (uint32_t i = 0; i < s.n; i++)
			r.v[i] = rand_value(s.fields[i].type, true, &a);
		wr_buf_reset(&b);
		wr_row_to_json(&s, &r, &b);
		if (wr_row_from_json(&s, b.data, b.len, &back, &a2, err,
		                     sizeof(err)) != WR_OK)
			fail_msg("iteration %d: %s in %s", iter, err, b.data);
		for (uint32_t i = 0; i < s.n; i++)
			if (!wr_value_equal(&r.v[i], &back.v[i]))
				fail_msg("iteration %d field %u: %s", iter, i,
				         b.data);
		wr_arena_reset(&a);
		wr_arena_reset(&a2);
	}
	wr_buf_fini(&b);
	wr_arena_fini(&a);
	wr_arena_fini(&a2);
	wr_schema_fini(&s);
}

/* ---- binary codec ---- */

static void
rand_row(wr_row *r, wr_arena *a)
{
	r->n = (uint32_t)wrt_rng_below(&rng_state, WR_MAX_FIELDS + 1);
	for (uint32_t i = 0; i < r->n; i++)
		r->v[i] = rand_value(WR_T_STRING + wrt_rng_below(&rng_state, 5),
		                     false, a);
}

static void
test_binary_layout(void **state)
{
	static const uint8_t want[] = {
	    0x06,                               /* 6 values */
	    0x02, 0x01,                         /* long -1: zigzag 1 */
	    0x01, 0x02, 'h',  'i',              /* string "hi" */
	    0x04, 0x01,                         /* bool true */
	    0x00,                               /* NULL */
	    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, /* double 1.0, LE */
	    0x00, 0xf0, 0x3f, 0x05, 0xd8, 0x04, /* timestamp 300 */
	};
	wr_row r = {.n = 6}, back;
	wr_buf b;
	size_t pos = 0;

	(void)state;
	r.v[0] = wrt_vlong(-1);
	r.v[1] = wrt_vstrn("hi", 2);
	r.v[2] = wrt_vbool(true);
	r.v[3].type = WR_T_NULL;
	r.v[4] = wrt_vdouble(1.0);
	r.v[5] = wrt_vts(300);
	wr_buf_init(&b);
	wr_row_encode(&r, &b);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	assert_int_equal(wr_row_decode(want, sizeof(want), &pos, &back), WR_OK);
	assert_int_equal(pos, sizeof(want));
	assert_true(rows_equal(&r, &back));
	/* Strings point into the buffer. */
	assert_ptr_equal(back.v[1].u.s.p, (const char *)want + 5);
	wr_buf_fini(&b);
}

static void
test_binary_round_trip(void **state)
{
	static wr_row rows[64];
	wr_arena a;
	wr_buf b;
	wr_row back;
	size_t pos;

	(void)state;
	wr_arena_init(&a, 64 * ARENA_CAP);
	wr_buf_init(&b);
	for (int iter = 0; iter < 100; iter++) {
		/* Many rows back to back, as in a network batch. */
		wr_buf_reset(&b);
		for (int k = 0; k < 64; k++) {
			rand_row(&rows[k], &a);
			wr_row_encode(&rows[k], &b);
		}
		pos = 0;
		for (int k = 0; k < 64; k++) {
			assert_int_equal(wr_row_decode((const uint8_t *)b.data,
			                               b.len, &pos, &back),
			                 WR_OK);
			assert_true(rows_equal(&rows[k], &back));
		}
		assert_int_equal(pos, b.len);
		assert_int_equal(
		    wr_row_decode((const uint8_t *)b.data, b.len, &pos, &back),
		    WR_ECORRUPT);
		wr_arena_reset(&a);
	}
	wr_buf_fini(&b);
	wr_arena_fini(&a);
}

/* Every strict prefix of a row's encoding is refused, leaving pos. Each
 * prefix is copied to a buffer of exactly its size for ASan. */
static void
test_binary_truncation(void **state)
{
	wr_arena a;
	wr_buf b;
	wr_row r, back;

	(void)state;
	wr_arena_init(&a, ARENA_CAP);
	wr_buf_init(&b);
	for (int iter = 0; iter < 200; iter++) {
		rand_row(&r, &a);
		wr_buf_reset(&b);
		wr_row_encode(&r, &b);
		for (size_t len = 0; len < b.len; len++) {
			uint8_t *cut = malloc(len ? len : 1);
			size_t pos = 0;
			assert_non_null(cut);
			memcpy(cut, b.data, len);
			assert_int_equal(wr_row_decode(cut, len, &pos, &back),
			                 WR_ECORRUPT);
			assert_int_equal(pos, 0);
			assert_int_equal(back.n, 0);
			free(cut);
		}
		wr_arena_reset(&a);
	}
	wr_buf_fini(&b);
	wr_arena_fini(&a);
}

static void
check_corrupt(const uint8_t *p, size_t len)
{
	wr_row r;
	size_t pos = 0;
	assert_int_equal(wr_row_decode(p, len, &pos, &r), WR_ECORRUPT);
	assert_int_equal(pos, 0);
}

static void
test_binary_malformed(void **state)
{
	wr_row r;
	size_t pos;

	(void)state;
	check_corrupt(NULL, 0);
	check_corrupt((const uint8_t *)"\x01\x06", 2);         /* type 6 */
	check_corrupt((const uint8_t *)"\x01\xff", 2);         /* type 255 */
	check_corrupt((const uint8_t *)"\x01\x04\x02", 3);     /* bool 2 */
	check_corrupt((const uint8_t *)"\x41", 1);             /* 65 values */
	check_corrupt((const uint8_t *)"\x80\x00", 2);         /* overlong 0 */
	check_corrupt((const uint8_t *)"\x01\x02\x81\x00", 4); /* overlong */
	/* 11-byte varint, and a 10th byte carrying more than 64 bits. */
	check_corrupt((const uint8_t *)"\x01\x02\xff\xff\xff\xff\xff\xff\xff"
	                               "\xff\xff\x80\x01",
	              13);
	check_corrupt((const uint8_t *)"\x01\x02\xff\xff\xff\xff\xff\xff\xff"
	                               "\xff\xff\x02",
	              12);
	check_corrupt((const uint8_t *)"\x01\x01\x05"
	                               "abcd",
	              7); /* short */
	/* A string length of 2^40: never trusted, never allocated. */
	check_corrupt((const uint8_t *)"\x01\x01\x80\x80\x80\x80\x80\x20", 8);
	check_corrupt((const uint8_t *)"\x01\x03\x00\x00\x00\x00\x00\x00\x00",
	              9);
	/* The largest varint is fine: zigzag(INT64_MIN). */
	pos = 0;
	assert_int_equal(
	    wr_row_decode((const uint8_t *)"\x01\x02\xff\xff\xff\xff\xff\xff"
	                                   "\xff\xff\xff\x01",
	                  12, &pos, &r),
	    WR_OK);
	assert_true(r.v[0].u.i == INT64_MIN);
	/* pos beyond the buffer. */
	pos = 5;
	assert_int_equal(wr_row_decode((const uint8_t *)"\x00", 1, &pos, &r),
	                 WR_ECORRUPT);
	assert_int_equal(pos, 5);
	/* An empty row is one byte. */
	pos = 0;
	assert_int_equal(wr_row_decode((const uint8_t *)"\x00", 1, &pos, &r),
	                 WR_OK);
	assert_int_equal(r.n, 0);
	assert_int_equal(pos, 1);
}

/* Random bytes: decoding never reads outside the buffer, and whatever it
 * accepts is the one encoding of the row it returns. */
static void
test_binary_random_bytes(void **state)
{
	wr_buf b;
	wr_row r;
	int accepted = 0;

	(void)state;
	wr_buf_init(&b);
	for (int iter = 0; iter < 200000; iter++) {
		size_t len = (size_t)wrt_rng_below(&rng_state, 40);
		uint8_t *p = malloc(len ? len : 1);
		size_t pos = 0;

		assert_non_null(p);
		for (size_t i = 0; i < len; i++)
			p[i] = (uint8_t)(iter % 2 ? wrt_rng(&rng_state)
			                          : wrt_rng(&rng_state) % 8);
		if (wr_row_decode(p, len, &pos, &r) == WR_OK) {
			accepted++;
			assert_true(pos <= len);
			wr_buf_reset(&b);
			wr_row_encode(&r, &b);
			assert_int_equal(b.len, pos);
			assert_memory_equal(b.data, p, pos);
		} else {
			assert_int_equal(pos, 0);
		}
		free(p);
	}
	/* Small type bytes make some inputs valid: both paths ran. */
	assert_true(accepted > 1000);
	wr_buf_fini(&b);
}

/* ---- equality and hashing ---- */

static void
test_value_equal(void **state)
{
	wr_value n1 = {.type = WR_T_NULL}, n2 = {.type = WR_T_NULL};
	wr_value e1 = wrt_vstrn(NULL, 0), e2 = wrt_vstrn("x", 0);

	(void)state;
	assert_true(wr_value_equal(&n1, &n2));
	assert_true(wr_value_equal(&e1, &e2));
	wr_value a = wrt_vstrn("abc", 3), b = wrt_vstrn("abcd", 3),
	         c = wrt_vstrn("abd", 3);
	assert_true(wr_value_equal(&a, &b));
	assert_false(wr_value_equal(&a, &c));
	b.u.s.len = 4;
	assert_false(wr_value_equal(&a, &b));
	wr_value l = wrt_vlong(5), t = wrt_vts(5);
	wr_value d = wrt_vdouble(5.0);
	assert_false(wr_value_equal(&l, &t));
	assert_false(wr_value_equal(&l, &d));
	assert_false(wr_value_equal(&l, &n1));
	wr_value z = wrt_vdouble(0.0), nz = wrt_vdouble(-0.0);
	wr_value nan1 = wrt_vdouble(NAN), nan2 = wrt_vdouble(-NAN);
	assert_true(wr_value_equal(&z, &nz));
	assert_true(wr_value_equal(&nan1, &nan2));
	assert_false(wr_value_equal(&nan1, &z));
	wr_value t1 = wrt_vbool(true), f1 = wrt_vbool(false);
	assert_false(wr_value_equal(&t1, &f1));
}

/* Pinned outputs: the hash decides key groups stored in checkpoints, so
 * it must never change. The values come from a Python transcription of
 * the function in docs/records.md. */
static void
test_hash_known_answers(void **state)
{
	wr_value v;

	(void)state;
	v.type = WR_T_NULL;
	assert_true(wr_value_hash(&v, 0) == 0xb9034ad37056f5fbu);
	v = wrt_vstrn("o-123", 5);
	assert_true(wr_value_hash(&v, 0) == 0xd2b1d800c85578feu);
	v = wrt_vstrn(NULL, 0);
	assert_true(wr_value_hash(&v, 0) == 0xebdb2a4c2957fac0u);
	v = wrt_vlong(42);
	assert_true(wr_value_hash(&v, 0) == 0x516babd4525e6505u);
	v = wrt_vlong(-1);
	assert_true(wr_value_hash(&v, 0) == 0x10a347ead0a70972u);
	v = wrt_vts(1795325848148LL);
	assert_true(wr_value_hash(&v, 0) == 0xcc976ad1b01f5635u);
	v = wrt_vdouble(123.45);
	assert_true(wr_value_hash(&v, 0) == 0x95f1f26f624e0d44u);
	v = wrt_vdouble(0.0);
	assert_true(wr_value_hash(&v, 0) == 0xe8da8b1e8a5c82f2u);
	v = wrt_vbool(true);
	assert_true(wr_value_hash(&v, 0) == 0x7fdba8824e8ce82au);
	wr_value k1 = wrt_vstrn("p-7", 3), k2 = wrt_vstrn("PAID", 4);
	assert_true(wr_value_hash(&k2, wr_value_hash(&k1, 0)) ==
	            0xc64b289a2ec10c58u);
}

static void
test_hash_properties(void **state)
{
	static unsigned groups[128];
	char buf1[8] = "abc", buf2[8] = "abc";
	unsigned max = 0, empty = 0;

	(void)state;
	/* Equal values hash equally, whatever their storage. */
	wr_value a = wrt_vstrn(buf1, 3), b = wrt_vstrn(buf2, 3);
	assert_true(wr_value_hash(&a, 0) == wr_value_hash(&b, 0));
	wr_value z = wrt_vdouble(0.0), nz = wrt_vdouble(-0.0);
	assert_true(wr_value_hash(&z, 0) == wr_value_hash(&nz, 0));
	wr_value nan1 = wrt_vdouble(NAN), nan2 = wrt_vdouble(-NAN);
	assert_true(wr_value_hash(&nan1, 0) == wr_value_hash(&nan2, 0));
	/* The type is part of the hash; so are string boundaries. */
	wr_value l = wrt_vlong(7), t = wrt_vts(7);
	assert_true(wr_value_hash(&l, 0) != wr_value_hash(&t, 0));
	wr_value ab = wrt_vstrn("ab", 2), c = wrt_vstrn("c", 1);
	wr_value a1 = wrt_vstrn("a", 1), bc = wrt_vstrn("bc", 2);
	assert_true(wr_value_hash(&c, wr_value_hash(&ab, 0)) !=
	            wr_value_hash(&bc, wr_value_hash(&a1, 0)));
	/* Sequential keys spread over key groups (hash % 128). */
	for (int64_t i = 0; i < 12800; i++) {
		wr_value v = wrt_vlong(i);
		groups[wr_value_hash(&v, 0) % 128]++;
	}
	for (int g = 0; g < 128; g++) {
		max = groups[g] > max ? groups[g] : max;
		empty += groups[g] == 0;
	}
	assert_int_equal(empty, 0);
	assert_true(max < 150); /* mean 100 */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_type_names),
	    cmocka_unit_test(test_schema),
	    cmocka_unit_test(test_decode_order),
	    cmocka_unit_test(test_decode_null_absent_unknown),
	    cmocka_unit_test(test_decode_declared_object),
	    cmocka_unit_test(test_decode_long),
	    cmocka_unit_test(test_decode_double_bool),
	    cmocka_unit_test(test_decode_timestamp),
	    cmocka_unit_test(test_decode_string_escapes),
	    cmocka_unit_test(test_decode_strings_in_arena),
	    cmocka_unit_test(test_decode_hostile_record),
	    cmocka_unit_test(test_decode_threads),
	    cmocka_unit_test(test_decode_malformed),
	    cmocka_unit_test(test_decode_respects_length),
	    cmocka_unit_test(test_decode_big_numbers),
	    cmocka_unit_test(test_decode_duplicate_keys),
	    cmocka_unit_test(test_iso_parse_valid),
	    cmocka_unit_test(test_iso_parse_invalid),
	    cmocka_unit_test(test_iso_format),
	    cmocka_unit_test(test_encode_exact),
	    cmocka_unit_test(test_encode_doubles),
	    cmocka_unit_test(test_encode_timestamps),
	    cmocka_unit_test(test_json_round_trip),
	    cmocka_unit_test(test_binary_layout),
	    cmocka_unit_test(test_binary_round_trip),
	    cmocka_unit_test(test_binary_truncation),
	    cmocka_unit_test(test_binary_malformed),
	    cmocka_unit_test(test_binary_random_bytes),
	    cmocka_unit_test(test_value_equal),
	    cmocka_unit_test(test_hash_known_answers),
	    cmocka_unit_test(test_hash_properties),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
