/*
 * anomaly_test.c - the anomaly engine against a brute-force reference
 * computed here from the raw history of each record (mean and population
 * stddev of the key's values in [ts - history, ts), or the exponentially
 * weighted ones from their weights): random input over several keys, both
 * modes, warm-up, ties at the history's ends, the per-key limit, large
 * offsets and spikes (precision), constant values (stddev 0), expiry, and
 * the state carried through a snapshot into one backend (restore) or
 * split by key group into two (rescaling).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wrtest.h"

#include "anomaly.h"
#include "err.h"
#include "fsutil.h"
#include "state.h"
#include "wr_limits.h"

#include <math.h>

#define KGS  128 /* key groups of the tests */
#define SID  7   /* state ids 7 and 8 */
#define MAXN 6000

/* One input record and what was emitted for it. */
typedef struct rec {
	int key;
	int64_t ts;
	double x;
	bool hit;
	tm_anomaly_hit h;
} rec;

/* The reference's verdict on one record. */
typedef struct ref {
	bool hit;
	bool borderline; /* |x - mean| within rounding of threshold * sd */
	uint64_t n;
	long double mean, sd;
} ref;

typedef struct run {
	rec *r;
	size_t i; /* the record being fed */
} run;

static int
on_hit(void *arg, const tm_anomaly_hit *h)
{
	run *u = arg;
	assert_false(u->r[u->i].hit); /* one emit per record at most */
	u->r[u->i].hit = true;
	u->r[u->i].h = *h;
	return WR_OK;
}

/* Runs a and b emitted the same, bit for bit. */
static void
assert_same(const rec *a, const rec *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(a[i].hit, b[i].hit);
		if (!a[i].hit)
			continue;
		assert_memory_equal(&a[i].h.mean, &b[i].h.mean, 8);
		assert_memory_equal(&a[i].h.stddev, &b[i].h.stddev, 8);
		assert_memory_equal(&a[i].h.score, &b[i].h.score, 8);
		assert_int_equal(a[i].h.score_null, b[i].h.score_null);
		assert_int_equal(a[i].h.count, b[i].h.count);
	}
}

static uint16_t
kg_of(int key)
{
	return (uint16_t)((unsigned)key * 37u % KGS);
}

static wr_state *
open_st(const char *dir)
{
	wr_state_opts o = {.cache_bytes = 1u << 20};
	wr_state *st = NULL;
	assert_int_equal(wr_state_open(dir, &o, &st), WR_OK);
	return st;
}

static void
feed_one(tm_anomaly *a, run *u, size_t i)
{
	char k[16];
	int n = snprintf(k, sizeof(k), "k%d", u->r[i].key);
	u->i = i;
	u->r[i].hit = false;
	assert_int_equal(tm_anomaly_feed(a, kg_of(u->r[i].key), k, (size_t)n,
	                                 u->r[i].x, u->r[i].ts, on_hit, u),
	                 WR_OK);
}

/* Feeds records [from, to) to the engine(s): with two, key groups below
 * KGS / 2 go to the first (a rescaled job's two subtasks). */
static void
feed(tm_anomaly *a, tm_anomaly *b, run *u, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		feed_one(b != NULL && kg_of(u->r[i].key) >= KGS / 2 ? b : a, u,
		         i);
}

/* ---- the reference ------------------------------------------------------ */

static void
ref_judge(ref *f, long double x, long double var, double thr, int64_t min_count)
{
	f->sd = sqrtl(var > 0 ? var : 0);
	if ((int64_t)f->n < min_count)
		return;
	long double dev = fabsl(x - f->mean), lim = thr * f->sd;
	f->hit = dev > lim;
	/* rounding of the engine's doubles: a few ulps of the values */
	f->borderline =
	    fabsl(dev - lim) <= 1e-9L * f->sd + 16 * 2.3e-16L * fabsl(x);
}

/* Sliding: the last max_values values of the key before record i, those
 * with ts in [ts - history, ts). Shifted by the first, in long double. */
static ref
ref_sliding(const rec *r, size_t i, const tm_anomaly_cfg *c)
{
	ref f = {0};
	long double s = 0, v = 0, x0 = 0;
	size_t idx[MAXN], m = 0, kept = 0;
	uint32_t maxv = c->max_values ? c->max_values : WR_ANOMALY_MAX_HISTORY;

	for (size_t j = i; j-- > 0 && kept < maxv;) {
		if (r[j].ts < r[i].ts - c->history_ms)
			break; /* ts only grows: none before is in */
		if (r[j].key == r[i].key) {
			kept++;
			if (r[j].ts < r[i].ts &&
			    r[j].ts >= r[i].ts - c->history_ms)
				idx[m++] = j;
		}
	}
	f.n = m;
	if (m > 0)
		x0 = r[idx[0]].x;
	for (size_t k = 0; k < m; k++)
		s += (long double)r[idx[k]].x - x0;
	f.mean = m > 0 ? x0 + s / m : 0;
	for (size_t k = 0; k < m; k++)
		v += ((long double)r[idx[k]].x - f.mean) *
		     ((long double)r[idx[k]].x - f.mean);
	ref_judge(&f, r[i].x, m > 0 ? v / m : 0, c->threshold, c->min_count);
	return f;
}

/* EWMA from its weights: the key's values before i, v_1 .. v_m, weigh
 * (1 - a)^(m - 1) for v_1 and a (1 - a)^(m - k) for v_k, k > 1; mean and
 * variance are the weighted ones. */
static ref
ref_ewma(const rec *r, size_t i, const tm_anomaly_cfg *c)
{
	ref f = {0};
	size_t idx[MAXN], m = 0;
	long double a = c->ewma, mean = 0, var = 0, x0 = 0;

	for (size_t j = 0; j < i; j++)
		if (r[j].key == r[i].key)
			idx[m++] = j;
	f.n = m;
	if (m > 0)
		x0 = r[idx[0]].x;
	for (int pass = 0; pass < 2; pass++) {
		long double p = 1; /* (1 - a)^(m - 1 - k) */
		for (size_t k = m; k-- > 0; p *= 1 - a) {
			long double w = k == 0 ? p : a * p;
			long double d = (long double)r[idx[k]].x - x0;
			if (pass == 0)
				mean += w * d;
			else
				var += w * (d - mean) * (d - mean);
		}
	}
	f.mean = x0 + mean;
	ref_judge(&f, r[i].x, var, c->threshold, c->min_count);
	return f;
}

/* Every record's emit against the reference; returns the hits. */
static size_t
check(const rec *r, size_t n, const tm_anomaly_cfg *c)
{
	size_t hits = 0, border = 0;

	for (size_t i = 0; i < n; i++) {
		ref f = c->history_ms > 0 ? ref_sliding(r, i, c)
		                          : ref_ewma(r, i, c);
		if (f.borderline) {
			border++;
			continue;
		}
		if (f.hit != r[i].hit)
			fail_msg("record %zu (key %d ts %lld x %.17g): "
			         "reference %s (n %llu mean %.17Lg sd %.17Lg)",
			         i, r[i].key, (long long)r[i].ts, r[i].x,
			         f.hit ? "emits" : "does not",
			         (unsigned long long)f.n, f.mean, f.sd);
		if (!f.hit)
			continue;
		hits++;
		const tm_anomaly_hit *h = &r[i].h;
		long double tol_m =
		    1e-9L * f.sd + 8 * 2.3e-16L * fabsl(f.mean) + 1e-300L;
		assert_int_equal(h->count, f.n);
		assert_true(h->value == r[i].x);
		if (fabsl(h->mean - f.mean) > tol_m ||
		    fabsl(h->stddev - f.sd) > 1e-9L * f.sd)
			fail_msg("record %zu: mean %.17g sd %.17g, reference "
			         "%.17Lg %.17Lg",
			         i, h->mean, h->stddev, f.mean, f.sd);
		if (f.sd == 0) {
			assert_true(h->score_null);
			assert_true(h->stddev == 0.0);
		} else {
			long double s = (r[i].x - f.mean) / f.sd;
			assert_false(h->score_null);
			if (fabsl(h->score - s) > 1e-9L * (fabsl(s) + 1))
				fail_msg("record %zu: score %.17g, reference "
				         "%.17Lg",
				         i, h->score, s);
		}
	}
	assert_true(border * 100 <= n); /* rounding decides almost none */
	return hits;
}

/* ---- input -------------------------------------------------------------- */

/* Noise around a per-key level, now and then a spike; ts steps 0 .. 3
 * (ties), keys uniform. */
static void
gen(rec *r, size_t n, int keys, double offset, uint64_t seed)
{
	uint64_t s = seed;
	int64_t ts = 1000;

	for (size_t i = 0; i < n; i++) {
		double u = 0;
		for (int k = 0; k < 3; k++)
			u += (double)wrt_rng_below(&s, 1u << 20) / (1 << 20);
		r[i].key = (int)wrt_rng_below(&s, (uint64_t)keys);
		ts += (int64_t)wrt_rng_below(&s, 4);
		r[i].ts = ts;
		r[i].x = offset + r[i].key * 10.0 + (u - 1.5);
		if (wrt_rng_below(&s, 50) == 0)
			r[i].x += (wrt_rng_below(&s, 2) ? 1 : -1) *
			          (3.0 + (double)wrt_rng_below(&s, 20));
		r[i].hit = false;
	}
}

typedef struct fx {
	char dir[256];
	rec *r;
} fx;

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	if (f == NULL || wrt_tmpdir(f->dir, sizeof(f->dir), "anomaly") != 0)
		return -1;
	f->r = calloc(MAXN, sizeof(rec));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;
	wr_rmtree(f->dir);
	free(f->r);
	free(f);
	return 0;
}

static char *
sub(const fx *f, const char *name)
{
	static char path[4][320];
	static int next;
	char *p = path[next++ % 4];
	snprintf(p, 320, "%s/%s", f->dir, name);
	return p;
}

/* Runs cfg over n records in one backend; returns the hits checked. */
static size_t
run_checked(fx *f, const char *name, const tm_anomaly_cfg *cfg, size_t n,
            tm_anomaly_stats *stats)
{
	wr_state *st = open_st(sub(f, name));
	tm_anomaly *a = NULL;
	run u = {.r = f->r};

	assert_int_equal(tm_anomaly_new(cfg, st, &a), WR_OK);
	feed(a, NULL, &u, 0, n);
	if (stats != NULL)
		tm_anomaly_get_stats(a, stats);
	tm_anomaly_free(a);
	wr_state_close(st);
	return check(f->r, n, cfg);
}

/* ---- tests -------------------------------------------------------------- */

static void
test_sliding_random(void **state)
{
	fx *f = *state;
	tm_anomaly_cfg c = {.history_ms = 60,
	                    .threshold = 2.0,
	                    .min_count = 5,
	                    .state_id = SID};
	tm_anomaly_stats s;

	gen(f->r, 4000, 5, 0.0, 42);
	size_t hits = run_checked(f, "sliding", &c, 4000, &s);
	assert_true(hits > 40);
	assert_int_equal(s.fed, 4000);
	assert_int_equal(s.emitted, hits);
	assert_true(s.warming >= 5 * 5); /* each key's first five at least */
	assert_int_equal(s.dropped_over_limit, 0);
}

/* A small per-key limit: the history is the latest max_values values. */
static void
test_sliding_limit(void **state)
{
	fx *f = *state;
	tm_anomaly_cfg c = {.history_ms = 400,
	                    .threshold = 1.5,
	                    .min_count = 3,
	                    .max_values = 16,
	                    .state_id = SID};
	tm_anomaly_stats s;

	gen(f->r, 3000, 3, 0.0, 7);
	assert_true(run_checked(f, "limit", &c, 3000, &s) > 20);
	assert_true(s.dropped_over_limit > 1000);
}

/* The limit reached by values of one ts (all pending): the oldest of them
 * go, and a later record sees the latest max_values. */
static void
test_limit_ties(void **state)
{
	fx *f = *state;
	tm_anomaly_cfg c = {.history_ms = 100,
	                    .threshold = 0.5,
	                    .min_count = 1,
	                    .max_values = 4,
	                    .state_id = SID};
	tm_anomaly_stats s;
	size_t n = 0;

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 10; i++, n++) {
			f->r[n].key = 1;
			f->r[n].ts = 1000 + round * 10;
			f->r[n].x = (double)(i + round);
		}
		f->r[n].key = 1;
		f->r[n].ts = 1001 + round * 10;
		f->r[n++].x = 100.0;
	}
	assert_true(run_checked(f, "limit-ties", &c, n, &s) >= 3);
	assert_int_equal(f->r[10].h.count, 4);
	assert_true(f->r[10].h.mean == 7.5); /* 6, 7, 8, 9 */
	/* 6 + 1 in the first round; then every value finds 4 stored */
	assert_int_equal(s.dropped_over_limit, 7 + 11 + 11);
}

static void
test_ewma_random(void **state)
{
	fx *f = *state;
	tm_anomaly_cfg c = {
	    .ewma = 0.2, .threshold = 2.0, .min_count = 8, .state_id = SID};
	tm_anomaly_stats s;

	gen(f->r, 3000, 4, 0.0, 99);
	assert_true(run_checked(f, "ewma", &c, 3000, &s) > 30);
	assert_int_equal(s.warming, 4 * 8);

	c.ewma = 1.0; /* the last value alone: stddev 0, any change emits */
	assert_true(run_checked(f, "ewma1", &c, 3000, NULL) > 2900);
}

/* 1e9 plus noise, spikes of 1e6 going in and out of the history: sums of
 * x and x^2 would lose every digit; the stddev must match to 1e-9. */
static void
test_large_offset(void **state)
{
	fx *f = *state;
	tm_anomaly_cfg c = {.history_ms = 40,
	                    .threshold = 2.5,
	                    .min_count = 4,
	                    .state_id = SID};
	tm_anomaly_stats s;

	gen(f->r, 5000, 2, 1e9, 5);
	for (size_t i = 0; i < 5000; i += 97)
		f->r[i].x += 1e6;
	assert_true(run_checked(f, "offset", &c, 5000, &s) > 50);
	assert_true(s.resums > 10); /* the spikes left */

	c.history_ms = 0;
	c.ewma = 0.05;
	assert_true(run_checked(f, "offset-ewma", &c, 5000, NULL) > 50);
}

static void
feed_x(tm_anomaly *a, run *u, size_t i, int key, int64_t ts, double x)
{
	u->r[i].key = key;
	u->r[i].ts = ts;
	u->r[i].x = x;
	feed_one(a, u, i);
}

/* A constant history: stddev 0, so the same value never emits and any
 * other does, without a score. Warm-up: not before min_count values. */
static void
test_constant(void **state)
{
	fx *f = *state;
	tm_anomaly_cfg c = {.history_ms = 1000,
	                    .threshold = 3.0,
	                    .min_count = 5,
	                    .state_id = SID};
	wr_state *st = open_st(sub(f, "const"));
	tm_anomaly *a = NULL;
	run u = {.r = f->r};
	size_t i = 0;

	assert_int_equal(tm_anomaly_new(&c, st, &a), WR_OK);
	for (; i < 4; i++)
		feed_x(a, &u, i, 1, (int64_t)i, 0.1);
	feed_x(a, &u, i++, 1, 4, 99.0); /* 4 values before it: warming */
	assert_false(f->r[4].hit);
	for (; i < 12; i++)
		feed_x(a, &u, i, 2, (int64_t)i, 0.1);
	for (size_t j = 5; j < 12; j++)
		assert_false(f->r[j].hit);
	feed_x(a, &u, i, 2, 20, 0.1 + 1e-9);
	assert_true(f->r[i].hit);
	assert_true(f->r[i].h.stddev == 0.0);
	assert_true(f->r[i].h.mean == 0.1);
	assert_true(f->r[i].h.score_null);
	assert_int_equal(f->r[i].h.count, 7);
	tm_anomaly_free(a);
	wr_state_close(st);
	/* after a spike leaves, the constant history is exact again */
	c.history_ms = 10;
	c.min_count = 1;
	st = open_st(sub(f, "const2"));
	assert_int_equal(tm_anomaly_new(&c, st, &a), WR_OK);
	feed_x(a, &u, 0, 1, 0, 1e15);
	for (i = 1; i < 30; i++)
		feed_x(a, &u, i, 1, (int64_t)i, 0.3);
	for (i = 11; i < 30; i++) /* the spike is out from ts 11 */
		assert_false(f->r[i].hit);
	tm_anomaly_free(a);
	wr_state_close(st);
}

/* [ts - history, ts): a value exactly history before is in, one at the
 * same ts is not (either way round). */
static void
test_ties_and_boundary(void **state)
{
	fx *f = *state;
	tm_anomaly_cfg c = {.history_ms = 10,
	                    .threshold = 1e-12,
	                    .min_count = 1,
	                    .state_id = SID};
	static const struct {
		int64_t ts;
		double x;
		int count; /* values in the history; -1: warming */
	} in[] = {
	    {0, 1.0, -1},  {0, 2.0, -1}, /* a tie: not each other's */
	    {5, 3.0, 2},   {10, 4.0, 3}, /* ts 0 is at ts - 10: in */
	    {10, 5.0, 3},  {11, 6.0, 3}, /* 0s out; 5, 10, 10 in */
	    {21, 7.0, 1},  {21, 8.0, 1}, /* only 11 in; not the other 21 */
	    {40, 9.0, -1},
	};
	wr_state *st = open_st(sub(f, "ties"));
	tm_anomaly *a = NULL;
	run u = {.r = f->r};

	assert_int_equal(tm_anomaly_new(&c, st, &a), WR_OK);
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		feed_x(a, &u, i, 3, in[i].ts, in[i].x);
		print_message("ts %lld: %s %llu\n", (long long)in[i].ts,
		              f->r[i].hit ? "hit" : "-",
		              (unsigned long long)f->r[i].h.count);
		assert_int_equal(f->r[i].hit, in[i].count >= 0);
		if (in[i].count >= 0)
			assert_int_equal(f->r[i].h.count,
			                 (uint64_t)in[i].count);
	}
	assert_true(f->r[7].h.mean == 6.0);
	assert_true(f->r[7].h.score_null); /* one value: stddev 0 */
	tm_anomaly_free(a);
	wr_state_close(st);
}

/* A ts before the key's last is refused, the state left as it was. */
static void
test_out_of_order(void **state)
{
	fx *f = *state;
	tm_anomaly_cfg c = {
	    .ewma = 0.5, .threshold = 1, .min_count = 1, .state_id = SID};
	wr_state *st = open_st(sub(f, "ooo"));
	tm_anomaly *a = NULL;
	tm_anomaly_stats s;
	run u = {.r = f->r};

	assert_int_equal(tm_anomaly_new(&c, st, &a), WR_OK);
	feed_x(a, &u, 0, 1, 100, 1.0);
	assert_int_equal(
	    tm_anomaly_feed(a, kg_of(1), "k1", 2, 5.0, 99, on_hit, &u),
	    WR_EINVAL);
	assert_int_equal(
	    tm_anomaly_feed(a, kg_of(2), "k2", 2, 5.0, 99, on_hit, &u), WR_OK);
	tm_anomaly_get_stats(a, &s);
	assert_int_equal(s.out_of_order, 1);
	assert_int_equal(s.fed, 2);
	tm_anomaly_free(a);
	c.ewma = 0;
	assert_int_equal(tm_anomaly_new(&c, st, &a), WR_EINVAL);
	c.history_ms = 10;
	c.threshold = 0;
	assert_int_equal(tm_anomaly_new(&c, st, &a), WR_EINVAL);
	wr_state_close(st);
}

/* Keys whose newest value is older than watermark - history go, with
 * every entry; the others stay. */
static void
test_expire(void **state)
{
	fx *f = *state;
	tm_anomaly_cfg c = {
	    .history_ms = 100, .threshold = 3, .min_count = 1, .state_id = SID};
	wr_state *st = open_st(sub(f, "expire"));
	tm_anomaly *a = NULL;
	wr_state_stats ss;
	run u = {.r = f->r};
	uint64_t n;

	assert_int_equal(tm_anomaly_new(&c, st, &a), WR_OK);
	for (size_t i = 0; i < 3000; i++) /* 3000 keys, 2 values each */
		for (int k = 0; k < 2; k++)
			feed_x(a, &u, 0, (int)i, i < 2000 ? 10 + k : 500 + k,
			       1.0);
	assert_int_equal(tm_anomaly_expire(a, 0, KGS - 1, 111, &n), WR_OK);
	assert_int_equal(n, 0); /* 11 is not before 111 - 100 */
	assert_int_equal(tm_anomaly_expire(a, 0, KGS - 1, 112, &n), WR_OK);
	assert_int_equal(n, 2000);
	assert_int_equal(wr_state_flush(st), WR_OK);
	wr_state_get_stats(st, &ss);
	assert_int_equal(ss.entries, 1000 * 3);
	feed_x(a, &u, 0, 5, 1000, 2.0); /* an expired key starts afresh */
	assert_false(f->r[0].hit);
	tm_anomaly_free(a);
	wr_state_close(st);
}

/* Half the input, a snapshot, then the rest in (a) a backend restored
 * from it, (b) two backends each importing half the key groups: the
 * output equals the reference and, bit for bit, an uninterrupted run. */
static void
test_restore_and_rescale(void **state)
{
	fx *f = *state;
	static rec whole[MAXN];
	const size_t n = 4000, half = 2000;
	tm_anomaly_cfg cfgs[2] = {
	    {.history_ms = 80, .threshold = 2, .min_count = 5, .state_id = SID},
	    {.ewma = 0.1, .threshold = 2, .min_count = 5, .state_id = SID},
	};

	for (int m = 0; m < 2; m++) {
		const tm_anomaly_cfg *c = &cfgs[m];
		char snap[320], name[32];
		tm_anomaly *a, *b;
		wr_state *s1, *s2;
		run u = {.r = f->r};
		uint64_t got1, got2;

		gen(f->r, n, 6, 100.0, 1234 + (uint64_t)m);
		snprintf(name, sizeof(name), "whole%d", m);
		run_checked(f, name, c, n, NULL);
		memcpy(whole, f->r, n * sizeof(rec));

		snprintf(name, sizeof(name), "first%d", m);
		s1 = open_st(sub(f, name));
		assert_int_equal(tm_anomaly_new(c, s1, &a), WR_OK);
		feed(a, NULL, &u, 0, half);
		snprintf(snap, sizeof(snap), "%s/snap%d", f->dir, m);
		assert_int_equal(wr_state_snapshot(s1, snap), WR_OK);
		tm_anomaly_free(a);
		wr_state_close(s1);

		/* (a) restore */
		snprintf(name, sizeof(name), "restored%d", m);
		s1 = open_st(sub(f, name));
		assert_int_equal(wr_state_import(s1, snap, 0, KGS - 1, &got1),
		                 WR_OK);
		assert_int_equal(tm_anomaly_new(c, s1, &a), WR_OK);
		feed(a, NULL, &u, half, n);
		tm_anomaly_free(a);
		wr_state_close(s1);
		check(f->r, n, c);
		assert_same(f->r, whole, n);

		/* (b) rescaled to two */
		snprintf(name, sizeof(name), "low%d", m);
		s1 = open_st(sub(f, name));
		snprintf(name, sizeof(name), "high%d", m);
		s2 = open_st(sub(f, name));
		assert_int_equal(
		    wr_state_import(s1, snap, 0, KGS / 2 - 1, &got1), WR_OK);
		assert_int_equal(
		    wr_state_import(s2, snap, KGS / 2, KGS - 1, &got2), WR_OK);
		assert_true(got1 > 0 && got2 > 0);
		assert_int_equal(tm_anomaly_new(c, s1, &a), WR_OK);
		assert_int_equal(tm_anomaly_new(c, s2, &b), WR_OK);
		feed(a, b, &u, half, n);
		tm_anomaly_free(a);
		tm_anomaly_free(b);
		wr_state_close(s1);
		wr_state_close(s2);
		assert_same(f->r, whole, n);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sliding_random, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_sliding_limit, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_limit_ties, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ewma_random, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_large_offset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_constant, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ties_and_boundary, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restore_and_rescale, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
