/*
 * evbuf_test.c - the event-time sort buffer (taskmanager/evbuf.h): random
 * out-of-order input over several keys with late records, released as a
 * watermark advances, against the reference order (per key: ts, then
 * arrival; late records never); the buffer's state carried through a
 * wr_state snapshot in the middle, into one backend (restore) and split
 * by key group into two (rescaling). The test's timer service keeps its
 * timers in the same backend (as the runtime's does), so the snapshot
 * holds them too.
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

#include "err.h"
#include "evbuf.h"
#include "fsutil.h"
#include "state.h"

#define KGS    64 /* key groups */
#define SID    10 /* the buffer's state ids: 10, 11 */
#define TIMERS 2  /* the test's timer service */
#define N      3000
#define NKEYS  7
#define OOO    50 /* disorder of the input, ms */

typedef struct rec {
	int key;
	int64_t ts;
	bool late;    /* at or before the watermark when it came */
	int released; /* times it came back */
	size_t order; /* position among its key's releases */
} rec;

typedef struct fx {
	char dir[256];
	rec r[N];
	size_t nrel[NKEYS]; /* releases per key so far */
	int64_t last_ts[NKEYS];
} fx;

static int
kg_of(int key)
{
	return (key * 23) % KGS;
}

/* ---- the test's timer service: (kg, TIMERS, ts ++ key) ---------------- */

static void
put_be(uint8_t *p, uint64_t u)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(u >> (56 - 8 * i));
}

static int
timer_set(void *arg, int kg, const void *key, size_t klen, int64_t ts,
          uint8_t tag)
{
	uint8_t k[64];
	assert_true(klen + 8 <= sizeof(k));
	assert_int_equal(tag, 3);
	put_be(k, (uint64_t)ts ^ (UINT64_C(1) << 63));
	memcpy(k + 8, key, klen);
	return wr_state_put(arg, (uint16_t)kg, TIMERS, k, klen + 8, "", 0);
}

typedef struct due {
	int kg;
	int64_t ts;
	char key[56];
	size_t klen;
} due;

typedef struct scan {
	due *d;
	size_t n;
	int64_t wm;
} scan;

static int
collect(void *arg, uint16_t kg, const void *key, size_t klen, const void *val,
        size_t vlen)
{
	scan *s = arg;
	const uint8_t *p = key;
	uint64_t u = 0;
	(void)val;
	(void)vlen;
	for (int i = 0; i < 8; i++)
		u = u << 8 | p[i];
	int64_t ts = (int64_t)(u ^ (UINT64_C(1) << 63));
	if (ts > s->wm)
		return 0;
	due *d = &s->d[s->n++];
	d->kg = kg;
	d->ts = ts;
	d->klen = klen - 8;
	memcpy(d->key, p + 8, d->klen);
	return 0;
}

static int
due_cmp(const void *a, const void *b)
{
	const due *x = a, *y = b;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* ---- releasing ---------------------------------------------------------- */

static int
on_release(void *arg, int64_t ts, const wr_row *r)
{
	fx *f = arg;
	assert_int_equal(r->n, 3);
	int key = (int)r->v[0].u.i;
	size_t i = (size_t)r->v[2].u.i;
	assert_int_equal(r->v[1].u.i, ts);
	assert_int_equal(f->r[i].ts, ts);
	assert_int_equal(f->r[i].key, key);
	assert_true(ts >= f->last_ts[key]);
	f->last_ts[key] = ts;
	f->r[i].released++;
	f->r[i].order = f->nrel[key]++;
	return WR_OK;
}

/* Fires every timer at or before wm of st, in time order. */
static void
advance(fx *f, tm_evbuf *b, wr_state *st, int64_t wm)
{
	static due d[N];
	scan s = {.d = d, .wm = wm};
	assert_int_equal(wr_state_scan(st, TIMERS, 0, KGS - 1, collect, &s), 0);
	qsort(d, s.n, sizeof(*d), due_cmp);
	for (size_t i = 0; i < s.n; i++) {
		uint8_t k[64];
		put_be(k, (uint64_t)d[i].ts ^ (UINT64_C(1) << 63));
		memcpy(k + 8, d[i].key, d[i].klen);
		assert_int_equal(wr_state_del(st, (uint16_t)d[i].kg, TIMERS, k,
		                              d[i].klen + 8),
		                 WR_OK);
		assert_int_equal(tm_evbuf_release(b, d[i].kg, d[i].key,
		                                  d[i].klen, d[i].ts,
		                                  on_release, f),
		                 WR_OK);
	}
}

/* ---- the run ------------------------------------------------------------ */

static void
gen(fx *f, uint64_t seed)
{
	memset(f->r, 0, sizeof(f->r));
	memset(f->nrel, 0, sizeof(f->nrel));
	for (int k = 0; k < NKEYS; k++)
		f->last_ts[k] = INT64_MIN;
	for (size_t i = 0; i < N; i++) {
		f->r[i].key = (int)wrt_rng_below(&seed, NKEYS);
		/* time goes on ~1 ms a record, each off by up to OOO; one in
		 * 40 is much later than the others (late) */
		int64_t off = (int64_t)wrt_rng_below(&seed, OOO);
		if (wrt_rng_below(&seed, 40) == 0)
			off += 3 * OOO;
		f->r[i].ts = 1000 + (int64_t)i - off;
	}
}

typedef struct side {
	tm_evbuf *b;
	wr_state *st;
} side;

static tm_evbuf *
buf_on(wr_state *st)
{
	tm_evbuf_cfg c = {.state_id = SID,
	                  .timer_tag = 3,
	                  .timer_set = timer_set,
	                  .timer_arg = st};
	return tm_evbuf_new(&c, st);
}

/* Records [from, to) into s[0] (and s[1] for key groups >= KGS / 2);
 * the watermark follows the highest ts minus OOO every 16 records. */
static void
feed(fx *f, side *s, int nsides, size_t from, size_t to, int64_t *wm,
     int64_t *maxts)
{
	for (size_t i = from; i < to; i++) {
		rec *x = &f->r[i];
		int kg = kg_of(x->key);
		side *d = &s[nsides == 2 && kg >= KGS / 2 ? 1 : 0];
		wr_row r = {.n = 3};
		r.v[0] = wrt_vlong(x->key);
		r.v[1] = wrt_vts(x->ts);
		r.v[2] = wrt_vlong((int64_t)i);
		char key[8];
		int klen = snprintf(key, sizeof(key), "k%d", x->key);
		assert_int_equal(tm_evbuf_put(d->b, kg, key, (size_t)klen,
		                              x->ts, *wm, &r, &x->late),
		                 WR_OK);
		if (x->ts > *maxts)
			*maxts = x->ts;
		if (i % 16 == 15 && *maxts - OOO > *wm) {
			*wm = *maxts - OOO;
			for (int j = 0; j < nsides; j++)
				advance(f, s[j].b, s[j].st, *wm);
		}
	}
}

/* Every record not late came back once, in (ts, arrival) order per
 * key; late ones never; nothing is left in the buffer's state. */
static void
check(fx *f, side *s, int nsides)
{
	size_t late = 0;
	for (size_t i = 0; i < N; i++) {
		rec *x = &f->r[i];
		late += x->late;
		assert_int_equal(x->released, x->late ? 0 : 1);
		if (x->late)
			continue;
		size_t before = 0; /* its key's earlier records in the order */
		for (size_t j = 0; j < N; j++)
			if (!f->r[j].late && f->r[j].key == x->key &&
			    (f->r[j].ts < x->ts ||
			     (f->r[j].ts == x->ts && j < i)))
				before++;
		assert_int_equal(x->order, before);
	}
	assert_true(late > N / 100 && late < N / 10);
	for (int j = 0; j < nsides; j++) {
		wr_state_stats ss;
		assert_int_equal(wr_state_flush(s[j].st), WR_OK);
		wr_state_get_stats(s[j].st, &ss);
		assert_int_equal(ss.entries, 0);
	}
}

static wr_state *
open_st(fx *f, const char *name)
{
	char p[320];
	wr_state_opts o = {.cache_bytes = 1u << 16};
	wr_state *st = NULL;
	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	assert_int_equal(wr_state_open(p, &o, &st), WR_OK);
	return st;
}

/* One backend, no interruption. */
static void
test_order_and_lateness(void **state)
{
	fx *f = *state;
	int64_t wm = INT64_MIN, maxts = INT64_MIN;
	side s = {.st = open_st(f, "one")};
	s.b = buf_on(s.st);
	gen(f, 42);
	feed(f, &s, 1, 0, N, &wm, &maxts);
	advance(f, s.b, s.st, INT64_MAX); /* end of input */
	check(f, &s, 1);
	tm_evbuf_stats bs;
	tm_evbuf_get_stats(s.b, &bs);
	assert_int_equal(bs.put, bs.released);
	assert_int_equal(bs.put + bs.late, N);
	tm_evbuf_free(s.b);
	wr_state_close(s.st);
}

/* Half the input, a snapshot of the backend (records and timers), then
 * the rest after restoring it into one backend, or into two that each
 * import half the key groups: the same order, nothing lost or twice. */
static void
test_restore_and_rescale(void **state)
{
	fx *f = *state;
	char snap[320];
	snprintf(snap, sizeof(snap), "%s/snap", f->dir);
	for (int nsides = 1; nsides <= 2; nsides++) {
		int64_t wm = INT64_MIN, maxts = INT64_MIN;
		side s[2];
		gen(f, 7 + (uint64_t)nsides);
		s[0].st = open_st(f, nsides == 1 ? "a1" : "a2");
		s[0].b = buf_on(s[0].st);
		feed(f, s, 1, 0, N / 2, &wm, &maxts);
		assert_int_equal(wr_state_snapshot(s[0].st, snap), WR_OK);
		tm_evbuf_free(s[0].b);
		wr_state_close(s[0].st);
		uint64_t got[2] = {0, 0};
		for (int j = 0; j < nsides; j++) {
			char name[16];
			snprintf(name, sizeof(name), "r%d%d", nsides, j);
			s[j].st = open_st(f, name);
			int lo = nsides == 1 ? 0 : j * KGS / 2;
			int hi = nsides == 1 ? KGS - 1 : lo + KGS / 2 - 1;
			assert_int_equal(wr_state_import(s[j].st, snap,
			                                 (uint16_t)lo,
			                                 (uint16_t)hi, &got[j]),
			                 WR_OK);
			assert_true(got[j] > 0); /* records were waiting */
			s[j].b = buf_on(s[j].st);
		}
		feed(f, s, nsides, N / 2, N, &wm, &maxts);
		for (int j = 0; j < nsides; j++)
			advance(f, s[j].b, s[j].st, INT64_MAX);
		check(f, s, nsides);
		for (int j = 0; j < nsides; j++) {
			tm_evbuf_free(s[j].b);
			wr_state_close(s[j].st);
		}
		wr_rmtree(snap);
	}
}

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	if (f == NULL || wrt_tmpdir(f->dir, sizeof(f->dir), "evbuf") != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;
	wr_rmtree(f->dir);
	free(f);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_order_and_lateness, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_restore_and_rescale, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
