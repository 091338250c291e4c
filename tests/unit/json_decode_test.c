/*
 * json_decode_test.c - the one-pass JSON record decoder (json_decode.c):
 * escapes, surrogates, nesting depth, duplicate and escaped keys, big
 * integers in skipped fields, doubles of random bit patterns against
 * strtod, and a differential test against the jansson decoder it replaced
 * (record_jansson_ref.c) on generated and mutated records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "wrtest.h"

#include "arena.h"
#include "err.h"
#include "record.h"
#include "record_jansson_ref.h"
#include "wr_limits.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CAP (1u << 20)

static uint64_t rng = 0x2545f4914f6cdd1du;

/* The fuzz harness's schema: one field of each type. */
static void
five_schema(wr_schema *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(wr_schema_add(s, "s", WR_T_STRING), WR_OK);
	assert_int_equal(wr_schema_add(s, "n", WR_T_LONG), WR_OK);
	assert_int_equal(wr_schema_add(s, "d", WR_T_DOUBLE), WR_OK);
	assert_int_equal(wr_schema_add(s, "b", WR_T_BOOL), WR_OK);
	assert_int_equal(wr_schema_add(s, "ts", WR_T_TIMESTAMP), WR_OK);
}

/* Decodes exactly len bytes from a heap copy (ASan sees overreads). */
static int
decode_n(const wr_schema *s, const char *json, size_t len, wr_row *r,
         wr_arena *a, char *err, size_t errlen, bool ref)
{
	char *copy = malloc(len ? len : 1);
	int rv;

	assert_non_null(copy);
	memcpy(copy, json, len);
	err[0] = '\0';
	rv = ref ? wr_ref_row_from_json(s, copy, len, r, a, err, errlen)
	         : wr_row_from_json(s, copy, len, r, a, err, errlen);
	free(copy);
	return rv;
}

static int
decode(const wr_schema *s, const char *json, wr_row *r, wr_arena *a, char *err)
{
	return decode_n(s, json, strlen(json), r, a, err, 256, false);
}

static void
expect_error(const char *json, const char *want)
{
	wr_schema s;
	wr_arena a;
	wr_row r;
	char err[256];

	five_schema(&s);
	wr_arena_init(&a, ARENA_CAP);
	assert_int_equal(decode(&s, json, &r, &a, err), WR_EINVAL);
	if (strstr(err, want) == NULL)
		fail_msg("%s: error '%s' lacks '%s'", json, err, want);
	wr_arena_fini(&a);
	wr_schema_fini(&s);
}

static void
test_escapes_and_surrogates(void **state)
{
	wr_schema s;
	wr_arena a;
	wr_row r;
	char err[256];

	(void)state;
	five_schema(&s);
	wr_arena_init(&a, ARENA_CAP);
	/* Every escape, U+FFFF, the first and last astral code points. */
	assert_int_equal(
	    decode(&s,
	           "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\uffff\\ud800\\udc00"
	           "\\udbff\\udfff\"}",
	           &r, &a, err),
	    WR_OK);
	assert_int_equal(r.v[0].u.s.len, 8 + 3 + 4 + 4);
	assert_memory_equal(r.v[0].u.s.p,
	                    "\"\\/\b\f\n\r\t\xef\xbf\xbf\xf0\x90\x80\x80"
	                    "\xf4\x8f\xbf\xbf",
	                    19);
	/* An escaped ISO-8601 timestamp is unescaped before it is read. */
	assert_int_equal(decode(&s, "{\"ts\":\"1970-01-01T00:00:01\\u002e5Z\"}",
	                        &r, &a, err),
	                 WR_OK);
	assert_int_equal(r.v[4].u.i, 1500);
	expect_error("{\"s\":\"\\ud83d\\u0041\"}", "malformed JSON");
	expect_error("{\"s\":\"\\ud83d\\n\"}", "malformed JSON");
	expect_error("{\"s\":\"\\ud83d\"}", "malformed JSON");
	expect_error("{\"s\":\"\\ud83d", "truncated at byte");
	expect_error("{\"s\":\"\\ud83d\\", "malformed JSON");
	expect_error("{\"s\":\"\\u00g0\"}", "malformed JSON");
	/* Overlong, surrogate, beyond U+10FFFF, cut short. */
	expect_error("{\"s\":\"\xc0\xaf\"}", "unable to decode byte 0xc0");
	expect_error("{\"s\":\"\xed\xa0\x80\"}", "unable to decode byte 0xed");
	expect_error("{\"s\":\"\xf4\x90\x80\x80\"}", "malformed JSON");
	expect_error("{\"s\":\"\xe2\x82\"}", "malformed JSON");
	expect_error("{\"s\":\"\x1f\"}", "control character 0x1f");
	/* Unknown fields are validated as strictly as known ones. */
	expect_error("{\"x\":\"\\udc00\",\"s\":\"a\"}", "malformed JSON");
	expect_error("{\"x\":[\"\xff\"]}", "malformed JSON");
	wr_arena_fini(&a);
	wr_schema_fini(&s);
}

/* Nesting: jansson's bound (2048 levels, the record itself being one and
 * the innermost scalar another). */
static void
test_depth(void **state)
{
	const size_t max = WR_JSON_DECODE_MAX_DEPTH;
	char *json = malloc(6 * max + 32);
	wr_schema s;
	wr_arena a;
	wr_row r;
	char err[256];
	size_t len;

	(void)state;
	assert_non_null(json);
	five_schema(&s);
	wr_arena_init(&a, ARENA_CAP);
	for (size_t levels = max - 2; levels <= max - 1; levels++) {
		len = (size_t)sprintf(json, "{\"x\":");
		for (size_t k = 0; k < levels; k++)
			len += (size_t)sprintf(json + len,
			                       k % 2 ? "[" : "{\"y\":");
		json[len++] = '1';
		for (size_t k = levels; k-- > 0;)
			json[len++] = k % 2 ? ']' : '}';
		len += (size_t)sprintf(json + len, ",\"n\":7}");
		/* Levels below the record's own. */
		if (levels < max - 1) {
			assert_int_equal(decode_n(&s, json, len, &r, &a, err,
			                          sizeof(err), false),
			                 WR_OK);
			assert_int_equal(r.v[1].u.i, 7);
		} else {
			assert_int_equal(decode_n(&s, json, len, &r, &a, err,
			                          sizeof(err), false),
			                 WR_EINVAL);
			assert_non_null(
			    strstr(err, "maximum parsing depth reached"));
		}
		if (decode_n(&s, json, len, &r, &a, err, sizeof(err), true) !=
		    (levels < max - 1 ? WR_OK : WR_EINVAL))
			fail_msg("jansson, %zu levels: %s", levels, err);
	}
	wr_arena_fini(&a);
	wr_schema_fini(&s);
	free(json);
}

static void
test_keys(void **state)
{
	wr_schema s;
	wr_arena a;
	wr_row r;
	char err[256];

	(void)state;
	five_schema(&s);
	wr_arena_init(&a, ARENA_CAP);
	/* The last duplicate wins, even over a value of another type, and
	 * only the winner's string costs arena memory. */
	assert_int_equal(decode(&s,
	                        "{\"s\":\"first\",\"n\":\"x\",\"s\":\"2nd\","
	                        "\"n\":5,\"s\":null,\"s\":\"3\"}",
	                        &r, &a, err),
	                 WR_OK);
	assert_int_equal(r.v[0].u.s.len, 1);
	assert_int_equal(r.v[1].u.i, 5);
	assert_true(a.used <= 8); /* one byte, aligned */
	assert_int_equal(decode(&s, "{\"n\":5,\"n\":\"x\"}", &r, &a, err),
	                 WR_EINVAL);
	assert_string_equal(err, "field 'n': expected long, got string");
	/* Keys match after unescaping; case matters; a prefix is no match. */
	assert_int_equal(decode(&s,
	                        "{\"\\u0073\":\"a\",\"\\u006e\":1,\"N\":2,"
	                        "\"nn\":3,\"t\":4,\"\\t\":5}",
	                        &r, &a, err),
	                 WR_OK);
	assert_int_equal(r.v[0].u.s.len, 1);
	assert_int_equal(r.v[1].u.i, 1);
	expect_error("{\"s\\u0000\":1}",
	             "NUL byte in object key not supported");
	/* Fields in any order, absent ones NULL. */
	assert_int_equal(
	    decode(&s, "{\"ts\":1,\"b\":true,\"s\":\"z\"}", &r, &a, err),
	    WR_OK);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.v[1].type, WR_T_NULL);
	assert_int_equal(r.v[2].type, WR_T_NULL);
	assert_true(r.v[3].u.b);
	wr_arena_fini(&a);
	wr_schema_fini(&s);
}

/* Integers are exact wherever they are; only a declared long beyond
 * int64 fails, and a huge integer elsewhere no longer costs exactness. */
static void
test_big_integers(void **state)
{
	wr_schema s;
	wr_arena a;
	wr_row r;
	char err[256];

	(void)state;
	five_schema(&s);
	wr_arena_init(&a, ARENA_CAP);
	assert_int_equal(
	    decode(&s,
	           "{\"big\":[123456789012345678901234567890,-1e300,"
	           "{\"z\":-99999999999999999999}],\"n\":9007199254740993,"
	           "\"d\":9007199254740993}",
	           &r, &a, err),
	    WR_OK);
	assert_true(r.v[1].u.i == 9007199254740993LL);
	assert_true(r.v[2].u.d == 9007199254740992.0);
	/* The jansson decoder re-read such a record as doubles. */
	static const char mixed[] = "{\"big\":123456789012345678901234567890,"
	                            "\"n\":9007199254740995}";
	assert_int_equal(
	    decode_n(&s, mixed, strlen(mixed), &r, &a, err, sizeof(err), true),
	    WR_EINVAL);
	assert_int_equal(decode(&s, mixed, &r, &a, err), WR_OK);
	assert_true(r.v[1].u.i == 9007199254740995LL);
	expect_error("{\"n\":9223372036854775808}",
	             "field 'n': number 9.2233720368547758e+18 is out of "
	             "range for long");
	expect_error("{\"ts\":-9223372036854775809}", "out of range for");
	/* Beyond a double (1e309 or 309 digits) even an ignored field. */
	expect_error("{\"x\":1e309}", "real number overflow");
	char big[400];
	int len = snprintf(big, sizeof(big), "{\"x\":");
	for (int k = 0; k < 320; k++)
		big[len++] = '9';
	snprintf(big + len, sizeof(big) - (size_t)len, "}");
	expect_error(big, "real number overflow");
	assert_int_equal(
	    decode(&s, "{\"x\":1e-400,\"d\":4.9e-324}", &r, &a, err), WR_OK);
	assert_true(r.v[2].u.d == 4.9e-324);
	wr_arena_fini(&a);
	wr_schema_fini(&s);
}

/* Number tokens too long for the stack are copied into the arena for
 * strtod (data-plane memory is budgeted): exact with room, WR_EFULL
 * without. */
static void
test_long_number_tokens(void **state)
{
	char json[512], want[512];
	wr_schema s;
	wr_arena a;
	wr_row r;
	char err[256];
	int n;

	(void)state;
	five_schema(&s);
	n = snprintf(json, sizeof(json), "{\"d\":0.");
	for (int k = 0; k < 200; k++)
		json[n++] = k == 199 ? '7' : '0';
	snprintf(json + n, sizeof(json) - (size_t)n, "e150,\"n\":1.%0100de2}",
	         0);
	snprintf(want, sizeof(want), "%.*s", n - 6, json + 6);
	strcat(want, "e150");
	wr_arena_init(&a, ARENA_CAP);
	assert_int_equal(decode(&s, json, &r, &a, err), WR_OK);
	assert_true(r.v[2].u.d == strtod(want, NULL));
	assert_int_equal(r.v[1].u.i, 100);
	wr_arena_fini(&a);
	wr_arena_init(&a, 64);
	assert_int_equal(decode(&s, json, &r, &a, err), WR_EFULL);
	assert_non_null(strstr(err, "per-record memory"));
	wr_arena_fini(&a);
	wr_schema_fini(&s);
}

/* Doubles of random bit patterns, written as %.17g and as the encoder's
 * shortest form, read back bit for bit as strtod reads them. */
static void
test_doubles_round_trip(void **state)
{
	wr_schema s;
	wr_arena a;
	wr_row r;
	char err[256], json[64];

	(void)state;
	five_schema(&s);
	wr_arena_init(&a, ARENA_CAP);
	for (int k = 0; k < 200000; k++) {
		uint64_t bits = wrt_rng(&rng);
		double d, want;

		memcpy(&d, &bits, sizeof(d));
		if (!isfinite(d))
			continue;
		for (int prec = 15; prec <= 17; prec += 2) {
			int n = snprintf(json, sizeof(json), "{\"d\":%.*g}",
			                 prec, d);
			json[n - 1] = '\0';
			want = strtod(json + 5, NULL);
			json[n - 1] = '}';
			assert_int_equal(decode(&s, json, &r, &a, err), WR_OK);
			if (memcmp(&r.v[2].u.d, &want, sizeof(want)) != 0)
				fail_msg("%s: %.17g, strtod %.17g", json,
				         r.v[2].u.d, want);
		}
		assert_true(memcmp(&r.v[2].u.d, &d, sizeof(d)) == 0);
	}
	wr_arena_fini(&a);
	wr_schema_fini(&s);
}

/* ---- differential: the jansson decoder and this one ---- */

static const char *const strs[] = {
    "",
    "a",
    "o-123",
    "\\\"q\\\\",
    "\\n\\t\\/",
    "\\u00e9",
    "\\ud83d\\ude00",
    "caf\xc3\xa9",
    "\xf0\x9f\x98\x80",
    "2026-11-22T05:40:00Z",
    "2026-11-22T05:40:00.123+01:00",
    "2026-02-30T00:00:00Z",
    "\\u0000x",
};

static size_t
put(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n);
	return n;
}

/* A random number token; huge (beyond int64) ones only when allowed. */
static size_t
gen_number(char *p, bool huge)
{
	switch (wrt_rng_below(&rng, huge ? 8 : 7)) {
	case 0:
		return (size_t)sprintf(
		    p, "%lld", (long long)(wrt_rng_below(&rng, 2001)) - 1000);
	case 1:
		/* Within +-2^53 when huge ones are about (jansson re-read
		 * those records as doubles: above 2^53 it refused longs). */
		return (size_t)sprintf(
		    p, "%lld",
		    huge ? (long long)wrt_rng_below(&rng, 1ull << 53)
		         : (long long)wrt_rng(&rng));
	case 2: {
		uint64_t bits = wrt_rng(&rng);
		double d;
		memcpy(&d, &bits, sizeof(d));
		return (size_t)sprintf(p, "%.17g", isfinite(d) ? d : 0.5);
	}
	case 3:
		return (size_t)sprintf(
		    p, "%.3f", (double)wrt_rng_below(&rng, 100000) / 7.0);
	case 4:
		return (size_t)sprintf(p, "%de%d",
		                       (int)wrt_rng_below(&rng, 20) - 10,
		                       (int)wrt_rng_below(&rng, 40) - 20);
	case 5:
		return put(p, wrt_rng_below(&rng, 2) ? "-0" : "-0.0");
	case 6:
		return (size_t)sprintf(
		    p, "%lld",
		    1795325848148LL + (long long)wrt_rng_below(&rng, 1000));
	default:
		return put(p, "-123456789012345678901234567890");
	}
}

static size_t gen_value(char *p, int depth, bool huge);

static size_t
gen_container(char *p, int depth, bool huge)
{
	bool obj = wrt_rng_below(&rng, 2);
	size_t n = 0, k = wrt_rng_below(&rng, 4);

	p[n++] = obj ? '{' : '[';
	for (size_t i = 0; i < k; i++) {
		if (i > 0)
			p[n++] = ',';
		if (obj)
			n += (size_t)sprintf(
			    p + n, "\"k%d\":", (int)wrt_rng_below(&rng, 3));
		n += gen_value(p + n, depth + 1, huge);
	}
	p[n++] = obj ? '}' : ']';
	return n;
}

static size_t
gen_value(char *p, int depth, bool huge)
{
	size_t n = 0;

	switch (wrt_rng_below(&rng, depth < 3 ? 7 : 6)) {
	case 0:
	case 1:
		p[n++] = '"';
		n += put(
		    p + n,
		    strs[wrt_rng_below(&rng, sizeof(strs) / sizeof(strs[0]))]);
		p[n++] = '"';
		return n;
	case 2:
	case 3:
		return gen_number(p, huge);
	case 4:
		return put(p, wrt_rng_below(&rng, 2) ? "true" : "false");
	case 5:
		return put(p, "null");
	default:
		return gen_container(p, depth, huge);
	}
}

/* A record: known keys (some twice, some escaped), unknown ones. */
static size_t
gen_record(char *p)
{
	static const char *const keys[] = {"s",  "n", "d",       "b",
	                                   "ts", "x", "\\u006e", "S"};
	bool huge = wrt_rng_below(&rng, 4) == 0;
	size_t n = 0, k = wrt_rng_below(&rng, 8);

	p[n++] = '{';
	for (size_t i = 0; i < k; i++) {
		if (i > 0)
			n += put(p + n, wrt_rng_below(&rng, 4) ? "," : " , ");
		n += (size_t)sprintf(
		    p + n, "\"%s\":",
		    keys[wrt_rng_below(&rng, sizeof(keys) / sizeof(keys[0]))]);
		n += gen_value(p + n, 1, huge);
	}
	p[n++] = '}';
	return n;
}

/* Byte-level mutations: bytes JSON cares about, cuts, insertions. */
static size_t
mutate(char *p, size_t n)
{
	static const char bytes[] = "{}[]\":,\\ 0123456789-+.eEtfnulx\x00\x1f"
	                            "\x80\xc3\xff\xed";
	size_t at = n ? wrt_rng_below(&rng, n) : 0;
	char b = bytes[wrt_rng_below(&rng, sizeof(bytes) - 1)];

	switch (wrt_rng_below(&rng, 4)) {
	case 0:
		if (n)
			p[at] = b;
		return n;
	case 1:
		if (n)
			memmove(p + at, p + at + 1, n - at - 1);
		return n ? n - 1 : 0;
	case 2:
		memmove(p + at + 1, p + at, n - at);
		p[at] = b;
		return n + 1;
	default:
		return at; /* a cut */
	}
}

/* The class of an error message: what the dead-letter header says. */
static int
err_class(const char *e)
{
	static const char *const prefixes[] = {
	    "empty record", "truncated at byte", "malformed JSON",
	    "not a JSON object", "field '"};
	for (int k = 0; k < 5; k++)
		if (strncmp(e, prefixes[k], strlen(prefixes[k])) == 0)
			return k;
	return -1;
}

/* jansson's reader drops one NUL byte right after a number or a word
 * (true, null, ...): its lexer's look-ahead byte goes back into a buffer
 * where NUL means "empty". records.md says a NUL is an error, and this
 * decoder says so; such inputs are not compared. */
static bool
jansson_drops_nul(const char *json, size_t len)
{
	for (size_t k = 1; k < len; k++) {
		char c = json[k - 1];
		if (json[k] == '\0' &&
		    ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		     (c >= 'A' && c <= 'Z')))
			return true;
	}
	return false;
}

static void
compare(const wr_schema *s, const char *json, size_t len, int *counts)
{
	wr_arena a1, a2;
	wr_row r1, r2;
	char e1[256], e2[256];
	int rv1, rv2;

	if (jansson_drops_nul(json, len)) {
		counts[6]++;
		return;
	}
	wr_arena_init(&a1, ARENA_CAP);
	wr_arena_init(&a2, ARENA_CAP);
	rv1 = decode_n(s, json, len, &r1, &a1, e1, sizeof(e1), true);
	rv2 = decode_n(s, json, len, &r2, &a2, e2, sizeof(e2), false);
	/* jansson read records holding an integer beyond int64 again with
	 * every number a double, refusing declared longs above 2^53 and
	 * taking 2^53 + 1 as 2^53; this decoder is exact there. */
	if (rv1 == WR_EINVAL && strstr(e1, "is out of range for") != NULL &&
	    (rv2 == WR_OK || (err_class(e2) == 4 && strcmp(e1, e2) != 0))) {
		counts[7]++;
		goto out;
	}
	if (rv1 != rv2 || (rv1 != WR_OK && err_class(e1) != err_class(e2)) ||
	    (rv1 != WR_OK && err_class(e1) == 4 && strcmp(e1, e2) != 0))
		fail_msg("%.*s\n  jansson: %d %s\n  weir:    %d %s", (int)len,
		         json, rv1, e1, rv2, e2);
	if (rv2 != WR_OK && err_class(e2) < 0)
		fail_msg("%.*s: unknown error '%s'", (int)len, json, e2);
	counts[rv1 == WR_OK ? 5 : err_class(e1)]++;
	for (uint32_t k = 0; rv1 == WR_OK && k < s->n; k++) {
		/* Bit for bit: 0.0 and -0.0 are equal values but differ. */
		bool same = wr_value_equal(&r1.v[k], &r2.v[k]) &&
		            (r1.v[k].type != WR_T_DOUBLE ||
		             signbit(r1.v[k].u.d) == signbit(r2.v[k].u.d));
		if (!same &&
		    (r1.v[k].type == WR_T_LONG ||
		     r1.v[k].type == WR_T_TIMESTAMP) &&
		    (r1.v[k].u.i == INT64_C(9007199254740992) ||
		     r1.v[k].u.i == -INT64_C(9007199254740992))) {
			counts[7]++;
			continue;
		}
		if (!same)
			fail_msg("%.*s: field %u differs", (int)len, json, k);
	}
out:
	wr_arena_fini(&a1);
	wr_arena_fini(&a2);
}

static void
test_differential(void **state)
{
	static char buf[1 << 16];
	int counts[8] = {0};
	wr_schema s;

	(void)state;
	five_schema(&s);
	for (int k = 0; k < 30000; k++) {
		size_t n = gen_record(buf);

		compare(&s, buf, n, counts);
		for (int m = 0; m < 3; m++) {
			n = mutate(buf, n);
			compare(&s, buf, n, counts);
		}
	}
	print_message("differential: %d ok, %d empty, %d truncated, "
	              "%d malformed, %d not an object, %d field errors; "
	              "%d not compared (a NUL jansson drops); %d exact where "
	              "jansson went through doubles\n",
	              counts[5], counts[0], counts[1], counts[2], counts[3],
	              counts[4], counts[6], counts[7]);
	/* The generator reaches every class. */
	for (int c = 0; c < 6; c++)
		assert_true(counts[c] > 0);
	wr_schema_fini(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escapes_and_surrogates),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_big_integers),
	    cmocka_unit_test(test_long_number_tokens),
	    cmocka_unit_test(test_doubles_round_trip),
	    cmocka_unit_test(test_differential),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
