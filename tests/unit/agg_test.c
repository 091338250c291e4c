/*
 * agg_test.c - accumulators of the aggregate functions (taskmanager/agg.c):
 * results against hand-computed values and against a naive computation
 * over random records, merge = adding everything in order, encode/decode
 * round trips, corrupt encodings refused, NULL handling and the limits of
 * count_distinct.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "wrtest.h"

#include "agg.h"
#include "err.h"
#include "record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xorshift64*: a fixed sequence, so a failure can be replayed. */
static uint64_t rng_state = 0x2545f4914f6cdd1du;

/* Input schema: l long, d double, s string, t timestamp, b bool. */
enum { F_L, F_D, F_S, F_T, F_B, NF };

static void
test_schema(wr_schema *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(wr_schema_add(s, "l", WR_T_LONG), WR_OK);
	assert_int_equal(wr_schema_add(s, "d", WR_T_DOUBLE), WR_OK);
	assert_int_equal(wr_schema_add(s, "s", WR_T_STRING), WR_OK);
	assert_int_equal(wr_schema_add(s, "t", WR_T_TIMESTAMP), WR_OK);
	assert_int_equal(wr_schema_add(s, "b", WR_T_BOOL), WR_OK);
}

/* Every function over every type it takes, as the job parser types
 * them. */
static const wr_agg_spec all_aggs[] = {
    {"n", WR_AGG_COUNT, -1, WR_T_LONG},
    {"sl", WR_AGG_SUM, F_L, WR_T_LONG},
    {"sd", WR_AGG_SUM, F_D, WR_T_DOUBLE},
    {"al", WR_AGG_AVG, F_L, WR_T_DOUBLE},
    {"ad", WR_AGG_AVG, F_D, WR_T_DOUBLE},
    {"mnl", WR_AGG_MIN, F_L, WR_T_LONG},
    {"mxl", WR_AGG_MAX, F_L, WR_T_LONG},
    {"mnd", WR_AGG_MIN, F_D, WR_T_DOUBLE},
    {"mxd", WR_AGG_MAX, F_D, WR_T_DOUBLE},
    {"mns", WR_AGG_MIN, F_S, WR_T_STRING},
    {"mxs", WR_AGG_MAX, F_S, WR_T_STRING},
    {"mnt", WR_AGG_MIN, F_T, WR_T_TIMESTAMP},
    {"mxt", WR_AGG_MAX, F_T, WR_T_TIMESTAMP},
    {"cdl", WR_AGG_COUNT_DISTINCT, F_L, WR_T_LONG},
    {"cdd", WR_AGG_COUNT_DISTINCT, F_D, WR_T_LONG},
    {"cds", WR_AGG_COUNT_DISTINCT, F_S, WR_T_LONG},
    {"cdb", WR_AGG_COUNT_DISTINCT, F_B, WR_T_LONG},
    {"fs", WR_AGG_FIRST, F_S, WR_T_STRING},
    {"ls", WR_AGG_LAST, F_S, WR_T_STRING},
    {"fl", WR_AGG_FIRST, F_L, WR_T_LONG},
    {"lb", WR_AGG_LAST, F_B, WR_T_BOOL},
    {"fd", WR_AGG_FIRST, F_D, WR_T_DOUBLE},
    {"lt", WR_AGG_LAST, F_T, WR_T_TIMESTAMP},
};
#define NAGGS (sizeof(all_aggs) / sizeof(all_aggs[0]))

static wr_row
row5(wr_value l, wr_value d, wr_value s, wr_value t, wr_value b)
{
	wr_row r;
	r.n = NF;
	r.v[F_L] = l;
	r.v[F_D] = d;
	r.v[F_S] = s;
	r.v[F_T] = t;
	r.v[F_B] = b;
	return r;
}

static size_t
agg_index(const char *name)
{
	for (size_t i = 0; i < NAGGS; i++)
		if (strcmp(all_aggs[i].name, name) == 0)
			return i;
	fail_msg("no aggregate %s", name);
	return 0;
}

static wr_value
result(const tm_acc *a, const char *name)
{
	wr_value v;
	tm_acc_result(a, agg_index(name), &v);
	return v;
}

static void
assert_long(const tm_acc *a, const char *name, int64_t want)
{
	wr_value v = result(a, name);
	if (v.type != WR_T_LONG || v.u.i != want)
		fail_msg("%s: got type %d value %lld, want %lld", name, v.type,
		         (long long)v.u.i, (long long)want);
}

static void
assert_value(const tm_acc *a, const char *name, wr_value want)
{
	wr_value v = result(a, name);
	if (!wr_value_equal(&v, &want) ||
	    (v.type == WR_T_DOUBLE && signbit(v.u.d) != signbit(want.u.d)))
		fail_msg("%s: result differs (type %d vs %d)", name, v.type,
		         want.type);
}

/* Encodes a; the bytes go to out (fresh). */
static void
encode(const tm_acc *a, wr_buf *out)
{
	wr_buf_reset(out);
	tm_acc_encode(a, out);
}

/* ---- hand-computed ---- */

static void
test_results_by_hand(void **state)
{
	(void)state;
	wr_schema in;
	tm_acc a;
	test_schema(&in);
	tm_acc_init(&a, all_aggs, NAGGS, &in);

	/* Before any record: count 0, distinct 0, everything else NULL. */
	assert_long(&a, "n", 0);
	assert_long(&a, "cds", 0);
	assert_value(&a, "sl", wrt_vnull());
	assert_value(&a, "ad", wrt_vnull());
	assert_value(&a, "fs", wrt_vnull());

	wr_row r[] = {
	    row5(wrt_vlong(5), wrt_vdouble(1.5), wrt_vstr("pear"),
	         wrt_vts(3000), wrt_vbool(true)),
	    row5(wrt_vlong(-2), wrt_vnull(), wrt_vstr("apple"), wrt_vts(1000),
	         wrt_vbool(false)),
	    row5(wrt_vnull(), wrt_vdouble(-0.0), wrt_vnull(), wrt_vts(2000),
	         wrt_vnull()),
	    row5(wrt_vlong(5), wrt_vdouble(0.0), wrt_vstr("fig"), wrt_vts(1000),
	         wrt_vbool(true)),
	    row5(wrt_vlong(9), wrt_vdouble(4.0), wrt_vstr("apple"),
	         wrt_vts(3000), wrt_vnull()),
	};
	int64_t ts[] = {3000, 1000, 2000, 1000, 3000};
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(tm_acc_add(&a, &r[i], ts[i]), WR_OK);

	assert_long(&a, "n", 5); /* rows, NULLs included */
	assert_long(&a, "sl", 17);
	assert_value(&a, "sd", wrt_vdouble(5.5));
	assert_value(&a, "al", wrt_vdouble(17.0 / 4));
	assert_value(&a, "ad", wrt_vdouble(5.5 / 4));
	assert_long(&a, "mnl", -2);
	assert_long(&a, "mxl", 9);
	assert_value(&a, "mnd", wrt_vdouble(-0.0)); /* -0.0 below 0.0 */
	assert_value(&a, "mxd", wrt_vdouble(4.0));
	assert_value(&a, "mns", wrt_vstr("apple"));
	assert_value(&a, "mxs", wrt_vstr("pear"));
	assert_value(&a, "mnt", wrt_vts(1000));
	assert_value(&a, "mxt", wrt_vts(3000));
	assert_long(&a, "cdl", 3);
	assert_long(&a, "cdd", 3); /* 1.5, 4.0 and one zero */
	assert_long(&a, "cds", 3);
	assert_long(&a, "cdb", 2);
	/* Event time 1000 twice: first keeps the earlier arrival. */
	assert_value(&a, "fs", wrt_vstr("apple"));
	assert_long(&a, "fl", -2);
	/* Event time 3000 twice: last takes the later arrival. */
	assert_value(&a, "ls", wrt_vstr("apple"));
	assert_value(&a, "lb", wrt_vbool(true));  /* NULLs are skipped */
	assert_value(&a, "fd", wrt_vdouble(0.0)); /* ts 1000, d 0.0 */
	assert_value(&a, "lt", wrt_vts(3000));

	tm_acc_reset(&a);
	assert_long(&a, "n", 0);
	assert_value(&a, "mns", wrt_vnull());
	tm_acc_fini(&a);
	wr_schema_fini(&in);
}

/* Sums of longs wrap as Java's; their average keeps 128 bits. NaN sorts
 * above everything and counts once. */
static void
test_overflow_and_nan(void **state)
{
	(void)state;
	wr_schema in;
	tm_acc a, b;
	test_schema(&in);
	tm_acc_init(&a, all_aggs, NAGGS, &in);
	tm_acc_init(&b, all_aggs, NAGGS, &in);
	wr_row r = row5(wrt_vlong(INT64_MAX), wrt_vdouble(NAN), wrt_vnull(),
	                wrt_vnull(), wrt_vnull());
	for (int i = 0; i < 4; i++)
		assert_int_equal(tm_acc_add(i < 2 ? &a : &b, &r, 0), WR_OK);
	r = row5(wrt_vlong(INT64_MIN), wrt_vdouble(-NAN), wrt_vnull(),
	         wrt_vnull(), wrt_vnull());
	assert_int_equal(tm_acc_add(&b, &r, 0), WR_OK);
	assert_int_equal(tm_acc_merge(&a, &b), WR_OK);
	/* 4 * (2^63 - 1) - 2^63 = 3 * 2^63 - 4. */
	assert_long(&a, "sl",
	            (int64_t)(UINT64_C(3) * (UINT64_C(1) << 63) - UINT64_C(4)));
	wr_value v = result(&a, "al");
	assert_int_equal(v.type, WR_T_DOUBLE);
	assert_true(v.u.d == (3.0 * 9223372036854775808.0 - 4.0) / 5.0);
	assert_true(isnan(result(&a, "mxd").u.d));
	assert_true(isnan(result(&a, "mnd").u.d)); /* only NaNs seen */
	assert_long(&a, "cdd", 1);
	assert_long(&a, "cdl", 2);

	wr_buf enc;
	wr_buf_init(&enc);
	encode(&a, &enc);
	assert_int_equal(tm_acc_decode(&b, enc.data, enc.len), WR_OK);
	assert_long(&b, "sl", result(&a, "sl").u.i);
	assert_true(result(&b, "al").u.d == v.u.d);
	wr_buf_fini(&enc);
	tm_acc_fini(&a);
	tm_acc_fini(&b);
	wr_schema_fini(&in);
}

/* ---- random records against a naive computation ---- */

static const char *const strs[] = {"",   "a",        "ab",  "b",
                                   "zz", "\xc3\xa4", "a\0b"};

static wr_value
rand_value(int f)
{
	if (wrt_rng_below(&rng_state, 6) == 0)
		return wrt_vnull();
	switch (f) {
	case F_L:
		return wrt_vlong((int64_t)wrt_rng_below(&rng_state, 41) - 20);
	case F_D:
		/* Quarters: every sum of a few thousand is exact, so the
		 * order of additions cannot matter. */
		if (wrt_rng_below(&rng_state, 20) == 0)
			return wrt_vdouble(wrt_rng_below(&rng_state, 2) ? -0.0
			                                                : 0.0);
		return wrt_vdouble(
		    ((double)wrt_rng_below(&rng_state, 81) - 40) / 4);
	case F_S:
		return wrt_vstr(strs[wrt_rng_below(
		    &rng_state, sizeof(strs) / sizeof(strs[0]))]);
	case F_T:
		return wrt_vts((int64_t)wrt_rng_below(&rng_state, 100) * 1000 -
		               50000);
	default:
		return wrt_vbool(wrt_rng_below(&rng_state, 2) == 1);
	}
}

/* Aggregate sp over rows[0..n) (arrival order) with event times ts. */
static wr_value
naive(const wr_agg_spec *sp, const wr_row *rows, const int64_t *ts, int n)
{
	wr_value best = wrt_vnull();
	int64_t bts = 0, cnt = 0;
	uint64_t isum = 0;
	double dsum = 0.0;
	if (sp->fn == WR_AGG_COUNT)
		return wrt_vlong(n);
	for (int i = 0; i < n; i++) {
		const wr_value *v = &rows[i].v[sp->arg];
		if (v->type == WR_T_NULL)
			continue;
		bool distinct = true;
		for (int j = 0; j < i && sp->fn == WR_AGG_COUNT_DISTINCT; j++)
			if (wr_value_equal(&rows[j].v[sp->arg], v))
				distinct = false;
		cnt += sp->fn != WR_AGG_COUNT_DISTINCT || distinct;
		if (v->type == WR_T_DOUBLE)
			dsum += v->u.d;
		else
			isum += (uint64_t)v->u.i;
		bool take =
		    best.type == WR_T_NULL ||
		    (sp->fn == WR_AGG_MIN && wrt_value_cmp(v, &best) < 0) ||
		    (sp->fn == WR_AGG_MAX && wrt_value_cmp(v, &best) > 0) ||
		    (sp->fn == WR_AGG_FIRST && ts[i] < bts) ||
		    (sp->fn == WR_AGG_LAST && ts[i] >= bts);
		if (take) {
			best = *v;
			bts = ts[i];
		}
	}
	switch (sp->fn) {
	case WR_AGG_COUNT_DISTINCT:
		return wrt_vlong(cnt);
	case WR_AGG_SUM:
		if (cnt == 0)
			return wrt_vnull();
		return sp->type == WR_T_DOUBLE ? wrt_vdouble(dsum)
		                               : wrt_vlong((int64_t)isum);
	case WR_AGG_AVG:
		if (cnt == 0)
			return wrt_vnull();
		return wrt_vdouble(
		    (sp->arg == F_D ? dsum : (double)(int64_t)isum) /
		    (double)cnt);
	default:
		return best;
	}
}

static void
assert_naive(const tm_acc *a, const wr_row *rows, const int64_t *ts, int n)
{
	for (size_t i = 0; i < NAGGS; i++) {
		wr_value got, want = naive(&all_aggs[i], rows, ts, n);
		tm_acc_result(a, i, &got);
		bool same = wr_value_equal(&got, &want) &&
		            (got.type != WR_T_DOUBLE ||
		             signbit(got.u.d) == signbit(want.u.d));
		if (!same)
			fail_msg(
			    "%s over %d records: got type %d, want type %d",
			    all_aggs[i].name, n, got.type, want.type);
	}
}

#define RAND_ROWS 400

/* For random splits: merging the accumulator of a prefix with that of
 * the rest equals adding all in order, equals the naive result, and
 * survives an encode/decode round trip byte for byte. */
static void
test_random_merge_and_roundtrip(void **state)
{
	(void)state;
	wr_schema in;
	tm_acc whole, left, right, back;
	wr_buf e1, e2;
	wr_row *rows = calloc(RAND_ROWS, sizeof(*rows));
	int64_t ts[RAND_ROWS];
	test_schema(&in);
	tm_acc_init(&whole, all_aggs, NAGGS, &in);
	tm_acc_init(&left, all_aggs, NAGGS, &in);
	tm_acc_init(&right, all_aggs, NAGGS, &in);
	tm_acc_init(&back, all_aggs, NAGGS, &in);
	wr_buf_init(&e1);
	wr_buf_init(&e2);
	for (int round = 0; round < 60; round++) {
		int n = 1 + (int)wrt_rng_below(&rng_state, RAND_ROWS);
		int cut = (int)wrt_rng_below(&rng_state, (uint64_t)n + 1);
		tm_acc_reset(&whole);
		tm_acc_reset(&left);
		tm_acc_reset(&right);
		for (int i = 0; i < n; i++) {
			rows[i] = row5(rand_value(F_L), rand_value(F_D),
			               rand_value(F_S), rand_value(F_T),
			               rand_value(F_B));
			/* Few distinct times: many ties for first/last. */
			ts[i] = (int64_t)wrt_rng_below(&rng_state, 8);
			assert_int_equal(tm_acc_add(&whole, &rows[i], ts[i]),
			                 WR_OK);
			assert_int_equal(tm_acc_add(i < cut ? &left : &right,
			                            &rows[i], ts[i]),
			                 WR_OK);
		}
		assert_naive(&whole, rows, ts, n);
		/* Through the encoding, as panes go through state. */
		encode(&right, &e1);
		assert_int_equal(tm_acc_decode(&back, e1.data, e1.len), WR_OK);
		encode(&back, &e2);
		assert_int_equal(e1.len, e2.len);
		assert_memory_equal(e1.data, e2.data, e1.len);
		assert_int_equal(tm_acc_merge(&left, &back), WR_OK);
		assert_naive(&left, rows, ts, n);
		encode(&whole, &e1);
		encode(&left, &e2);
		assert_int_equal(e1.len, e2.len);
		assert_memory_equal(e1.data, e2.data, e1.len);
	}
	wr_buf_fini(&e1);
	wr_buf_fini(&e2);
	tm_acc_fini(&whole);
	tm_acc_fini(&left);
	tm_acc_fini(&right);
	tm_acc_fini(&back);
	wr_schema_fini(&in);
	free(rows);
}

/* ---- corrupt encodings ---- */

static void
test_decode_refuses_corrupt(void **state)
{
	(void)state;
	wr_schema in;
	tm_acc a, b;
	wr_buf enc, e2;
	test_schema(&in);
	tm_acc_init(&a, all_aggs, NAGGS, &in);
	tm_acc_init(&b, all_aggs, NAGGS, &in);
	wr_buf_init(&enc);
	wr_buf_init(&e2);
	for (int i = 0; i < 50; i++) {
		wr_row r =
		    row5(rand_value(F_L), rand_value(F_D), rand_value(F_S),
		         rand_value(F_T), rand_value(F_B));
		assert_int_equal(tm_acc_add(&a, &r, i), WR_OK);
	}
	encode(&a, &enc);
	/* Every truncation, and one byte too many. */
	for (size_t len = 0; len < enc.len; len++)
		assert_int_equal(tm_acc_decode(&b, enc.data, len), WR_ECORRUPT);
	wr_buf_putc(&enc, 0);
	assert_int_equal(tm_acc_decode(&b, enc.data, enc.len), WR_ECORRUPT);
	enc.len--;
	/* Another format version. */
	enc.data[0] = TM_AGG_FORMAT_VERSION + 1;
	assert_int_equal(tm_acc_decode(&b, enc.data, enc.len), WR_ECORRUPT);
	enc.data[0] = TM_AGG_FORMAT_VERSION;
	/* Flipped bytes: refused, or a valid accumulator that encodes back
	 * to the same bytes (so nothing read was out of bounds or lost).
	 * Under ASan this also checks every read stays in the buffer. */
	for (int i = 0; i < 5000; i++) {
		wr_buf_reset(&e2);
		wr_buf_append(&e2, enc.data, enc.len);
		size_t at = wrt_rng_below(&rng_state, e2.len);
		e2.data[at] =
		    (char)(e2.data[at] ^
		           (char)(1 + wrt_rng_below(&rng_state, 255)));
		if (tm_acc_decode(&b, e2.data, e2.len) != WR_OK) {
			assert_long(&b, "n", 0); /* left empty */
			continue;
		}
		wr_buf re;
		wr_buf_init(&re);
		encode(&b, &re);
		/* Varints are minimal and sets sorted: one encoding only,
		 * except double bits, which are taken as they are. */
		assert_int_equal(re.len, e2.len);
		assert_memory_equal(re.data, e2.data, re.len);
		wr_buf_fini(&re);
	}
	wr_buf_fini(&enc);
	wr_buf_fini(&e2);
	tm_acc_fini(&a);
	tm_acc_fini(&b);
	wr_schema_fini(&in);
}

/* A value of the wrong type is refused and changes nothing; a row
 * shorter than the schema reads as NULLs. */
static void
test_types_and_short_rows(void **state)
{
	(void)state;
	wr_schema in;
	tm_acc a;
	test_schema(&in);
	tm_acc_init(&a, all_aggs, NAGGS, &in);
	wr_row r = row5(wrt_vlong(1), wrt_vdouble(1), wrt_vstr("x"), wrt_vts(1),
	                wrt_vbool(true));
	assert_int_equal(tm_acc_add(&a, &r, 0), WR_OK);
	r.v[F_D] = wrt_vlong(3); /* a long where a double is declared */
	assert_int_equal(tm_acc_add(&a, &r, 0), WR_ECORRUPT);
	assert_long(&a, "n", 1);
	assert_long(&a, "sl", 1);
	r.n = 1; /* only l */
	assert_int_equal(tm_acc_add(&a, &r, 0), WR_OK);
	assert_long(&a, "n", 2);
	assert_long(&a, "sl", 2);
	assert_long(&a, "cds", 1);
	assert_value(&a, "ls", wrt_vstr("x"));
	tm_acc_fini(&a);
	wr_schema_fini(&in);
}

/* count_distinct keeps at most TM_AGG_MAX_DISTINCT values: one more is
 * WR_ETOOBIG and leaves the accumulator as it was, a value already in
 * the set is still fine, and a merge past the limit is refused too. */
static void
test_distinct_limit(void **state)
{
	(void)state;
	wr_schema in;
	static const wr_agg_spec cd[] = {
	    {"n", WR_AGG_COUNT, -1, WR_T_LONG},
	    {"cdl", WR_AGG_COUNT_DISTINCT, F_L, WR_T_LONG},
	};
	tm_acc a, b;
	test_schema(&in);
	tm_acc_init(&a, cd, 2, &in);
	tm_acc_init(&b, cd, 2, &in);
	wr_row r = row5(wrt_vlong(0), wrt_vnull(), wrt_vnull(), wrt_vnull(),
	                wrt_vnull());
	/* In order: each insert appends (a sorted insert moves entries). */
	for (int64_t i = 0; i < TM_AGG_MAX_DISTINCT; i++) {
		r.v[F_L].u.i = i;
		assert_int_equal(tm_acc_add(&a, &r, 0), WR_OK);
	}
	wr_value v;
	tm_acc_result(&a, 1, &v);
	assert_int_equal(v.u.i, TM_AGG_MAX_DISTINCT);
	r.v[F_L].u.i = -1;
	assert_int_equal(tm_acc_add(&a, &r, 0), WR_ETOOBIG);
	tm_acc_result(&a, 0, &v);
	assert_int_equal(v.u.i, TM_AGG_MAX_DISTINCT); /* not counted */
	r.v[F_L].u.i = 7919;                          /* in the set already */
	assert_int_equal(tm_acc_add(&a, &r, 0), WR_OK);
	/* The full set round-trips. */
	wr_buf enc;
	wr_buf_init(&enc);
	encode(&a, &enc);
	assert_int_equal(tm_acc_decode(&b, enc.data, enc.len), WR_OK);
	tm_acc_result(&b, 1, &v);
	assert_int_equal(v.u.i, TM_AGG_MAX_DISTINCT);
	tm_acc_reset(&b);
	r.v[F_L].u.i = -5;
	assert_int_equal(tm_acc_add(&b, &r, 0), WR_OK);
	assert_int_equal(tm_acc_merge(&a, &b), WR_ETOOBIG);
	wr_buf_fini(&enc);
	tm_acc_fini(&a);
	tm_acc_fini(&b);
	wr_schema_fini(&in);
}

/* The varints the window state uses: round trip, and refusal of
 * truncated, overlong and non-minimal forms. */
static void
test_varints(void **state)
{
	(void)state;
	wr_buf b;
	wr_buf_init(&b);
	int64_t vals[] = {0, 1, -1, 63, -64, 64, INT64_MAX, INT64_MIN};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		wr_buf_reset(&b);
		tm_agg_put_i64(&b, vals[i]);
		size_t pos = 0;
		int64_t back;
		assert_int_equal(
		    tm_agg_get_i64((const uint8_t *)b.data, b.len, &pos, &back),
		    WR_OK);
		assert_int_equal(pos, b.len);
		assert_true(back == vals[i]);
		pos = 0;
		assert_int_equal(tm_agg_get_i64((const uint8_t *)b.data,
		                                b.len - 1, &pos, &back),
		                 WR_ECORRUPT);
	}
	const uint8_t nonmin[] = {0x80, 0x00};
	const uint8_t overlong[] = {0xff, 0xff, 0xff, 0xff, 0xff,
	                            0xff, 0xff, 0xff, 0xff, 0x02};
	uint64_t u;
	size_t pos = 0;
	assert_int_equal(tm_agg_get_u64(nonmin, 2, &pos, &u), WR_ECORRUPT);
	pos = 0;
	assert_int_equal(tm_agg_get_u64(overlong, 10, &pos, &u), WR_ECORRUPT);
	wr_buf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_results_by_hand),
	    cmocka_unit_test(test_overflow_and_nan),
	    cmocka_unit_test(test_random_merge_and_roundtrip),
	    cmocka_unit_test(test_decode_refuses_corrupt),
	    cmocka_unit_test(test_types_and_short_rows),
	    cmocka_unit_test(test_distinct_limit),
	    cmocka_unit_test(test_varints),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
