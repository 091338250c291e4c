/*
 * json_decode_bench.c - decodes a realistic order record into a wr_row with
 * each JSON library Debian 12 ships (jansson 2.14, json-c 0.16, cJSON
 * 1.7.15), with the jansson decoder weir had before, and with weir's
 * wr_row_from_json (json_decode.c), single-threaded, and prints
 * records/s (the median of 5 runs) as a table. docs/records.md keeps the
 * figures and the choice they led to.
 *
 * Usage: json_decode_bench [RECORDS_PER_RUN]   (default 1000000)
 *
 * Every backend does the same work: parse with a length, check for an
 * object, look each schema field up by name, check its type, copy strings
 * into the arena (the DOM is freed before the row is used), free the DOM,
 * reset the arena. Each backend's result is checked against the expected
 * row before it is timed, so a broken backend cannot post a figure.
 */
#include "json_decode_bench.h"

#include "arena.h"
#include "err.h"
#include "record.h"
#include "record_jansson_ref.h"

#include <jansson.h>
#ifdef WR_BENCH_HAVE_CJSON
#include <cjson/cJSON.h>
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_RUNS       5
#define BENCH_NRECORDS   1024 /* distinct records, cycled */
#define BENCH_RECORD_MAX 256
#define BENCH_ARENA_CAP  (1u << 20)

typedef int (*bench_decode_fn)(const wr_schema *s, const char *json, size_t len,
                               wr_row *out, wr_arena *arena);

static char bench_records[BENCH_NRECORDS][BENCH_RECORD_MAX];
static size_t bench_lens[BENCH_NRECORDS];

/* Record 0 is the order of the issue; the others vary every value. */
static void
bench_make_records(void)
{
	static const char *const status[] = {"PAID", "NEW", "SHIPPED",
	                                     "CANCELED"};
	for (int i = 0; i < BENCH_NRECORDS; i++) {
		int n =
		    snprintf(bench_records[i], BENCH_RECORD_MAX,
		             "{\"order_id\":\"o-%d\",\"product_id\":\"p-%d\","
		             "\"customer_id\":\"c-%d\",\"amount\":%d.%02d,"
		             "\"status\":\"%s\",\"ts\":%lld}",
		             123 + i * 7919, 7 + i % 97, 42 + i * 31 % 1009,
		             123 + i * 37 % 900, (45 + i) % 100, status[i % 4],
		             1795325848148LL + i * 1013LL);
		bench_lens[i] = (size_t)n;
	}
}

static void
bench_schema(wr_schema *s)
{
	memset(s, 0, sizeof(*s));
	if (wr_schema_add(s, "order_id", WR_T_STRING) != WR_OK ||
	    wr_schema_add(s, "product_id", WR_T_STRING) != WR_OK ||
	    wr_schema_add(s, "customer_id", WR_T_STRING) != WR_OK ||
	    wr_schema_add(s, "amount", WR_T_DOUBLE) != WR_OK ||
	    wr_schema_add(s, "status", WR_T_STRING) != WR_OK ||
	    wr_schema_add(s, "ts", WR_T_TIMESTAMP) != WR_OK) {
		fprintf(stderr, "json_decode_bench: schema\n");
		exit(1);
	}
}

/* ---- backends ---- */

static int
bench_weir_decode(const wr_schema *s, const char *json, size_t len, wr_row *out,
                  wr_arena *arena)
{
	char err[256];
	return wr_row_from_json(s, json, len, out, arena, err, sizeof(err));
}

/* The decoder weir had before json_decode.c: jansson's DOM, the fields
 * picked out of it (tests/unit/record_jansson_ref.c). */
static int
bench_weir_jansson_decode(const wr_schema *s, const char *json, size_t len,
                          wr_row *out, wr_arena *arena)
{
	char err[256];
	return wr_ref_row_from_json(s, json, len, out, arena, err, sizeof(err));
}

/* Copies a library's string into the arena. */
static int
bench_copy_str(wr_value *v, const char *p, size_t len, wr_arena *arena)
{
	char *dst = wr_arena_alloc(arena, len);
	if (dst == NULL)
		return -1;
	memcpy(dst, p, len);
	v->type = WR_T_STRING;
	v->u.s.p = dst;
	v->u.s.len = (uint32_t)len;
	return 0;
}

static int
bench_jansson_field(const wr_field *f, const json_t *j, wr_value *v,
                    wr_arena *arena)
{
	v->type = j == NULL || json_is_null(j) ? WR_T_NULL : (uint8_t)f->type;
	if (v->type == WR_T_NULL)
		return 0;
	switch (f->type) {
	case WR_T_STRING:
		if (!json_is_string(j))
			return -1;
		return bench_copy_str(v, json_string_value(j),
		                      json_string_length(j), arena);
	case WR_T_LONG:
	case WR_T_TIMESTAMP:
		v->u.i = json_integer_value(j);
		return json_is_integer(j) ? 0 : -1;
	case WR_T_DOUBLE:
		v->u.d = json_number_value(j);
		return json_is_number(j) ? 0 : -1;
	case WR_T_BOOL:
		v->u.b = json_is_true(j);
		return json_is_boolean(j) ? 0 : -1;
	default:
		return -1;
	}
}

static int
bench_jansson_decode(const wr_schema *s, const char *json, size_t len,
                     wr_row *out, wr_arena *arena)
{
	json_error_t e;
	json_t *root =
	    json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	int rv = 0;

	if (root == NULL)
		return -1;
	if (!json_is_object(root))
		rv = -1;
	for (uint32_t i = 0; i < s->n && rv == 0; i++)
		rv = bench_jansson_field(
		    &s->fields[i], json_object_get(root, s->fields[i].name),
		    &out->v[i], arena);
	out->n = s->n;
	json_decref(root);
	return rv;
}

#ifdef WR_BENCH_HAVE_CJSON
/* cJSON keeps every number as a double only: an integer is taken when
 * that double is integral (exact only up to 2^53). */
static int
bench_cjson_field(const wr_field *f, const cJSON *j, wr_value *v,
                  wr_arena *arena)
{
	v->type = j == NULL || cJSON_IsNull(j) ? WR_T_NULL : (uint8_t)f->type;
	if (v->type == WR_T_NULL)
		return 0;
	switch (f->type) {
	case WR_T_STRING:
		if (!cJSON_IsString(j))
			return -1;
		return bench_copy_str(v, j->valuestring, strlen(j->valuestring),
		                      arena);
	case WR_T_LONG:
	case WR_T_TIMESTAMP:
		if (!cJSON_IsNumber(j) ||
		    j->valuedouble != floor(j->valuedouble))
			return -1;
		v->u.i = (int64_t)j->valuedouble;
		return 0;
	case WR_T_DOUBLE:
		v->u.d = j->valuedouble;
		return cJSON_IsNumber(j) ? 0 : -1;
	case WR_T_BOOL:
		v->u.b = cJSON_IsTrue(j);
		return cJSON_IsBool(j) ? 0 : -1;
	default:
		return -1;
	}
}

static int
bench_cjson_decode(const wr_schema *s, const char *json, size_t len,
                   wr_row *out, wr_arena *arena)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	int rv = 0;

	if (root == NULL)
		return -1;
	if (!cJSON_IsObject(root))
		rv = -1;
	for (uint32_t i = 0; i < s->n && rv == 0; i++)
		rv = bench_cjson_field(
		    &s->fields[i],
		    cJSON_GetObjectItemCaseSensitive(root, s->fields[i].name),
		    &out->v[i], arena);
	out->n = s->n;
	cJSON_Delete(root);
	return rv;
}
#endif

/* ---- measurement ---- */

static bool
bench_str_is(const wr_value *v, const char *s)
{
	return v->type == WR_T_STRING && v->u.s.len == strlen(s) &&
	       memcmp(v->u.s.p, s, v->u.s.len) == 0;
}

/* The order of the issue must come out exactly. */
static bool
bench_check(bench_decode_fn decode, const wr_schema *s, wr_arena *arena)
{
	static const char order[] =
	    "{\"order_id\":\"o-123\",\"product_id\":\"p-7\","
	    "\"customer_id\":\"c-42\",\"amount\":123.45,\"status\":\"PAID\","
	    "\"ts\":1795325848148}";
	wr_row r;
	bool ok;

	if (strcmp(bench_records[0], order) != 0)
		return false;
	ok = decode(s, order, strlen(order), &r, arena) == 0 && r.n == 6 &&
	     bench_str_is(&r.v[0], "o-123") && bench_str_is(&r.v[1], "p-7") &&
	     bench_str_is(&r.v[2], "c-42") && r.v[3].type == WR_T_DOUBLE &&
	     r.v[3].u.d == 123.45 && bench_str_is(&r.v[4], "PAID") &&
	     r.v[5].type == WR_T_TIMESTAMP && r.v[5].u.i == 1795325848148LL;
	/* A malformed record must be refused too. */
	ok = ok && decode(s, order, strlen(order) - 1, &r, arena) != 0;
	wr_arena_reset(arena);
	return ok;
}

static double
bench_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Records per second of one run; *sink keeps the work observable. */
static double
bench_run(bench_decode_fn decode, const wr_schema *s, wr_arena *arena,
          long nrecords, uint64_t *sink)
{
	wr_row r;
	double t0 = bench_now_s();

	for (long i = 0; i < nrecords; i++) {
		int k = (int)(i % BENCH_NRECORDS);
		if (decode(s, bench_records[k], bench_lens[k], &r, arena) !=
		    0) {
			fprintf(stderr, "json_decode_bench: record %d failed\n",
			        k);
			exit(1);
		}
		*sink += (uint64_t)r.v[5].u.i + r.v[0].u.s.len;
		wr_arena_reset(arena);
	}
	return (double)nrecords / (bench_now_s() - t0);
}

static int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Prints one table line: median, min and max of BENCH_RUNS runs. */
static bool
bench_one(const char *name, const char *version, bench_decode_fn decode,
          const wr_schema *s, long nrecords)
{
	double rate[BENCH_RUNS];
	uint64_t sink = 0;
	wr_arena arena;
	bool ok;

	wr_arena_init(&arena, BENCH_ARENA_CAP);
	ok = bench_check(decode, s, &arena);
	if (!ok) {
		printf("| %-34s | %-8s | decodes the order wrongly |\n", name,
		       version);
		goto fini_arena;
	}
	bench_run(decode, s, &arena, nrecords / 10 + 1, &sink); /* warm up */
	for (int i = 0; i < BENCH_RUNS; i++)
		rate[i] = bench_run(decode, s, &arena, nrecords, &sink);
	qsort(rate, BENCH_RUNS, sizeof(rate[0]), bench_cmp_double);
	printf("| %-34s | %-8s | %12.0f | %12.0f | %12.0f |\n", name, version,
	       rate[BENCH_RUNS / 2], rate[0], rate[BENCH_RUNS - 1]);
	fflush(stdout);
	if (sink == 0)
		fprintf(stderr, "json_decode_bench: nothing decoded?\n");
fini_arena:
	wr_arena_fini(&arena);
	return ok;
}

int
main(int argc, char **argv)
{
	long nrecords = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
	char version[32], err[256];
	wr_schema s;
	bool ok = true;

	if (nrecords <= 0) {
		fprintf(stderr, "usage: json_decode_bench [RECORDS_PER_RUN]\n");
		return 2;
	}
	bench_make_records();
	bench_schema(&s);
	printf("%ld records per run, median of %d runs, one thread\n\n",
	       nrecords, BENCH_RUNS);
	printf("| %-34s | %-8s | %12s | %12s | %12s |\n", "decoder", "version",
	       "records/s", "min", "max");
	printf("|%s|%s|%s|%s|%s|\n", "------------------------------------",
	       "----------", "--------------", "--------------",
	       "--------------");
	ok &= bench_one("jansson json_loadb", JANSSON_VERSION,
	                bench_jansson_decode, &s, nrecords);
	if (bench_jsonc_open(version, sizeof(version), err, sizeof(err))) {
		bench_jsonc_set_strict(true);
		ok &= bench_one("json-c (strict, UTF-8 checked)", version,
		                bench_jsonc_decode, &s, nrecords);
		bench_jsonc_set_strict(false);
		ok &= bench_one("json-c (lenient defaults)", version,
		                bench_jsonc_decode, &s, nrecords);
		bench_jsonc_close();
	} else {
		printf("| %-34s | not measured: %s |\n", "json-c", err);
	}
#ifdef WR_BENCH_HAVE_CJSON
	ok &= bench_one("cJSON cJSON_ParseWithLengthOpts", cJSON_Version(),
	                bench_cjson_decode, &s, nrecords);
#else
	printf("| %-34s | not built: libcjson-dev absent |\n", "cJSON");
#endif
	ok &= bench_one("weir, before: jansson DOM + fields", JANSSON_VERSION,
	                bench_weir_jansson_decode, &s, nrecords);
	ok &= bench_one("weir wr_row_from_json (one pass)", "-",
	                bench_weir_decode, &s, nrecords);
	wr_schema_fini(&s);
	return ok ? 0 : 1;
}
