/*
 * state_test.c - the LMDB state backend and its write-back cache: round
 * trips, tombstones over LMDB values, eviction under a tiny budget checked
 * against an in-memory model, scans by key group, map growth, reopening,
 * limits and a corrupt environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "wrtest.h"

#include "err.h"
#include "fsutil.h"
#include "state.h"
#include "wr_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---- */

/* xorshift64*: the same sequence on every machine, so a failure can be
 * replayed. */
static uint64_t rng_state;

static void
rng_seed(uint64_t seed)
{
	rng_state = seed;
}

static void
rng_fill(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)wrt_rng(&rng_state);
}

/* Map residency of the tests that do not set it: 1 byte, so the map is
 * unmapped at every check (every 256 LMDB accesses), under reads, write
 * transactions and scans alike, and every value must still be right. */
static size_t test_resident = 1;

static wr_state *
open_st(const char *dir, size_t cache_bytes, size_t map_bytes)
{
	wr_state_opts o = {.cache_bytes = cache_bytes,
	                   .initial_map_bytes = map_bytes,
	                   .map_resident_bytes = test_resident};
	wr_state *st = NULL;

	assert_int_equal(wr_state_open(dir, &o, &st), WR_OK);
	assert_non_null(st);
	return st;
}

static void
put_s(wr_state *st, uint16_t kg, uint8_t sid, const char *k, const char *v)
{
	assert_int_equal(wr_state_put(st, kg, sid, k, strlen(k), v, strlen(v)),
	                 WR_OK);
}

/* Expects k to hold exactly v (NULL: absent). */
static void
expect_s(wr_state *st, uint16_t kg, uint8_t sid, const char *k, const char *v)
{
	const void *got = NULL;
	size_t glen = 0;
	int rv = wr_state_get(st, kg, sid, k, strlen(k), &got, &glen);

	if (v == NULL) {
		assert_int_equal(rv, WR_ENOENT);
		return;
	}
	assert_int_equal(rv, WR_OK);
	assert_int_equal(glen, strlen(v));
	assert_memory_equal(got, v, glen);
}

static uint64_t
lmdb_entries(wr_state *st)
{
	wr_state_stats s;

	wr_state_get_stats(st, &s);
	return s.entries;
}

/* ---- round trips ---- */

static void
test_round_trip(void **state)
{
	wr_state *st = open_st(*state, 0, 0);
	const void *v;
	size_t vlen;

	put_s(st, 1, 0, "a", "one");
	put_s(st, 1, 1, "a", "other state");
	put_s(st, 2, 0, "a", "other key group");
	expect_s(st, 1, 0, "a", "one");
	expect_s(st, 1, 1, "a", "other state");
	expect_s(st, 2, 0, "a", "other key group");
	expect_s(st, 3, 0, "a", NULL);
	/* Overwrite: same size in place, then larger, then smaller. */
	put_s(st, 1, 0, "a", "uno");
	expect_s(st, 1, 0, "a", "uno");
	put_s(st, 1, 0, "a", "a much longer value than before");
	expect_s(st, 1, 0, "a", "a much longer value than before");
	put_s(st, 1, 0, "a", "x");
	expect_s(st, 1, 0, "a", "x");
	/* Empty keys and empty values are values like any other. */
	assert_int_equal(wr_state_put(st, 9, 0, NULL, 0, NULL, 0), WR_OK);
	assert_int_equal(wr_state_get(st, 9, 0, NULL, 0, &v, &vlen), WR_OK);
	assert_int_equal(vlen, 0);
	assert_int_equal(wr_state_del(st, 1, 0, "a", 1), WR_OK);
	expect_s(st, 1, 0, "a", NULL);
	assert_int_equal(wr_state_del(st, 1, 0, "never", 5), WR_OK);
	/* The same again from LMDB after a flush. */
	assert_int_equal(wr_state_flush(st), WR_OK);
	assert_int_equal(lmdb_entries(st), 3);
	wr_state_close(st);
	st = open_st(*state, 0, 0);
	expect_s(st, 1, 0, "a", NULL);
	expect_s(st, 1, 1, "a", "other state");
	expect_s(st, 2, 0, "a", "other key group");
	assert_int_equal(wr_state_get(st, 9, 0, NULL, 0, &v, &vlen), WR_OK);
	assert_int_equal(vlen, 0);
	wr_state_close(st);
}

/* A value handed back by get may be passed straight to put. */
static void
test_put_own_value(void **state)
{
	wr_state *st = open_st(*state, 0, 0);
	const void *v;
	size_t vlen;

	put_s(st, 4, 2, "k", "0123456789");
	assert_int_equal(wr_state_get(st, 4, 2, "k", 1, &v, &vlen), WR_OK);
	assert_int_equal(
	    wr_state_put(st, 4, 2, "k", 1, (const char *)v + 2, vlen - 2),
	    WR_OK);
	expect_s(st, 4, 2, "k", "23456789");
	wr_state_close(st);
}

static void
test_tombstone_hides_lmdb(void **state)
{
	wr_state *st = open_st(*state, 0, 0);

	put_s(st, 7, 3, "gone", "was here");
	put_s(st, 7, 3, "stays", "still here");
	assert_int_equal(wr_state_flush(st), WR_OK);
	wr_state_close(st);

	/* Reopened: the cache is empty, LMDB holds both. */
	st = open_st(*state, 0, 0);
	assert_int_equal(wr_state_del(st, 7, 3, "gone", 4), WR_OK);
	expect_s(st, 7, 3, "gone", NULL);
	assert_int_equal(lmdb_entries(st), 2); /* not flushed yet */
	/* Put after delete, delete after put: the last one wins. */
	put_s(st, 7, 3, "stays", "new");
	assert_int_equal(wr_state_del(st, 7, 3, "stays", 5), WR_OK);
	put_s(st, 7, 3, "stays", "newest");
	expect_s(st, 7, 3, "stays", "newest");
	assert_int_equal(wr_state_flush(st), WR_OK);
	assert_int_equal(lmdb_entries(st), 1);
	wr_state_close(st);

	st = open_st(*state, 0, 0);
	expect_s(st, 7, 3, "gone", NULL);
	expect_s(st, 7, 3, "stays", "newest");
	/* Read into the cache as clean, then deleted and flushed. */
	expect_s(st, 7, 3, "stays", "newest");
	assert_int_equal(wr_state_del(st, 7, 3, "stays", 5), WR_OK);
	assert_int_equal(wr_state_flush(st), WR_OK);
	assert_int_equal(lmdb_entries(st), 0);
	expect_s(st, 7, 3, "stays", NULL);
	wr_state_close(st);
}

/* Values charged over budget/16 skip the cache: they go to LMDB at once
 * and are read from the map. */
static void
test_large_values(void **state)
{
	const size_t big = 100 * 1024;
	unsigned char *a = malloc(big), *b = malloc(big);
	wr_state *st = open_st(*state, 64 * 1024, 0);
	wr_state_stats s;
	const void *v;
	size_t vlen;

	assert_non_null(a);
	assert_non_null(b);
	rng_seed(42);
	rng_fill(a, big);
	rng_fill(b, big);
	put_s(st, 0, 0, "big", "small and dirty");
	assert_int_equal(wr_state_put(st, 0, 0, "big", 3, a, big), WR_OK);
	wr_state_get_stats(st, &s);
	assert_true(s.cache_bytes < 16 * 1024);
	assert_int_equal(s.entries, 1); /* written through */
	assert_int_equal(wr_state_get(st, 0, 0, "big", 3, &v, &vlen), WR_OK);
	assert_int_equal(vlen, big);
	assert_memory_equal(v, a, big);
	/* Passed back in: the old value is read before it is replaced. */
	assert_int_equal(wr_state_put(st, 0, 0, "big", 3, v, vlen - 1), WR_OK);
	assert_int_equal(wr_state_get(st, 0, 0, "big", 3, &v, &vlen), WR_OK);
	assert_int_equal(vlen, big - 1);
	assert_memory_equal(v, a, big - 1);
	assert_int_equal(wr_state_put(st, 0, 0, "big", 3, b, big), WR_OK);
	assert_int_equal(wr_state_get(st, 0, 0, "big", 3, &v, &vlen), WR_OK);
	assert_memory_equal(v, b, big);
	assert_int_equal(wr_state_del(st, 0, 0, "big", 3), WR_OK);
	expect_s(st, 0, 0, "big", NULL);
	put_s(st, 0, 0, "big", "small again");
	assert_int_equal(wr_state_flush(st), WR_OK);
	wr_state_close(st);
	st = open_st(*state, 64 * 1024, 0);
	expect_s(st, 0, 0, "big", "small again");
	wr_state_close(st);
	free(a);
	free(b);
}

/* ---- the model-based test ---- */

#define MODEL_KEYS  3000
#define MODEL_OPS   200000
#define MODEL_CACHE (8 * 1024)

typedef struct model {
	unsigned char *val[MODEL_KEYS]; /* NULL: absent */
	size_t len[MODEL_KEYS];
} model;

static uint16_t
model_kg(unsigned id)
{
	return (uint16_t)((id * 37u) % 300u + (id % 5u == 0 ? 65000u : 0u));
}

static uint8_t
model_sid(unsigned id)
{
	return (uint8_t)(id % 3u);
}

/* "k<id>" then (id % 30) 'x': unique, lengths 2 to 34. */
static size_t
model_key(unsigned id, char *out)
{
	int n = snprintf(out, 64, "k%u", id);

	memset(out + n, 'x', id % 30u);
	return (size_t)n + id % 30u;
}

/* Mostly small values, some medium, a few that bypass the cache. */
static size_t
model_vlen(void)
{
	uint64_t r = wrt_rng_below(&rng_state, 100);

	if (r < 70)
		return (size_t)wrt_rng_below(&rng_state, 64);
	if (r < 95)
		return 64 + (size_t)wrt_rng_below(&rng_state, 400);
	return 600 + (size_t)wrt_rng_below(&rng_state, 3000);
}

static void
model_check_get(wr_state *st, const model *m, unsigned id)
{
	char k[64];
	size_t kl = model_key(id, k);
	const void *v;
	size_t vlen;
	int rv =
	    wr_state_get(st, model_kg(id), model_sid(id), k, kl, &v, &vlen);

	if (m->val[id] == NULL) {
		if (rv != WR_ENOENT)
			fail_msg("key %u: rv %d, want absent", id, rv);
		return;
	}
	if (rv != WR_OK || vlen != m->len[id] ||
	    memcmp(v, m->val[id], vlen) != 0)
		fail_msg("key %u: rv %d len %zu, want len %zu", id, rv, vlen,
		         m->len[id]);
}

typedef struct scan_check {
	const model *m;
	unsigned ids[MODEL_KEYS];
	size_t n;
} scan_check;

static int
scan_collect(void *arg, uint16_t kg, const void *key, size_t klen,
             const void *val, size_t vlen)
{
	scan_check *c = arg;
	char k[64];
	unsigned id;

	assert_true(klen > 1 && klen < sizeof(k));
	memcpy(k, key, klen);
	k[klen] = '\0';
	assert_int_equal(sscanf(k, "k%u", &id), 1);
	assert_true(id < MODEL_KEYS);
	assert_int_equal(kg, model_kg(id));
	assert_non_null(c->m->val[id]);
	assert_int_equal(vlen, c->m->len[id]);
	assert_memory_equal(val, c->m->val[id], vlen);
	assert_true(c->n < MODEL_KEYS);
	c->ids[c->n++] = id;
	return 0;
}

/* LMDB key order of two model keys with the same state id. */
static int
model_cmp(unsigned a, unsigned b)
{
	char ka[64], kb[64];
	size_t la = model_key(a, ka), lb = model_key(b, kb);
	int c;

	if (model_kg(a) != model_kg(b))
		return model_kg(a) < model_kg(b) ? -1 : 1;
	c = memcmp(ka, kb, la < lb ? la : lb);
	return c != 0 ? c : (int)la - (int)lb;
}

static void
model_check_scan(wr_state *st, const model *m, uint8_t sid, uint16_t lo,
                 uint16_t hi)
{
	static scan_check c;
	static unsigned want[MODEL_KEYS];
	size_t nwant = 0;

	for (unsigned id = 0; id < MODEL_KEYS; id++) {
		if (m->val[id] != NULL && model_sid(id) == sid &&
		    model_kg(id) >= lo && model_kg(id) <= hi)
			want[nwant++] = id;
	}
	/* Insertion sort: a few hundred ids. */
	for (size_t i = 1; i < nwant; i++) {
		unsigned x = want[i];
		size_t j = i;

		for (; j > 0 && model_cmp(want[j - 1], x) > 0; j--)
			want[j] = want[j - 1];
		want[j] = x;
	}
	c.m = m;
	c.n = 0;
	assert_int_equal(wr_state_scan(st, sid, lo, hi, scan_collect, &c), 0);
	assert_int_equal(c.n, nwant);
	assert_memory_equal(c.ids, want, nwant * sizeof(want[0]));
}

static void
model_op(wr_state *st, model *m, unsigned id)
{
	static unsigned char buf[4096];
	char k[64];
	size_t kl = model_key(id, k);
	uint64_t r = wrt_rng_below(&rng_state, 100);

	if (r < 45) {
		size_t n = model_vlen();

		rng_fill(buf, n);
		assert_int_equal(wr_state_put(st, model_kg(id), model_sid(id),
		                              k, kl, buf, n),
		                 WR_OK);
		free(m->val[id]);
		m->val[id] = malloc(n ? n : 1);
		assert_non_null(m->val[id]);
		memcpy(m->val[id], buf, n);
		m->len[id] = n;
	} else if (r < 55) {
		assert_int_equal(
		    wr_state_del(st, model_kg(id), model_sid(id), k, kl),
		    WR_OK);
		free(m->val[id]);
		m->val[id] = NULL;
	} else {
		model_check_get(st, m, id);
	}
}

/* An explicit flush, and scans of random key-group ranges. */
static void
model_now_and_then(wr_state *st, const model *m, unsigned op)
{
	if (op % 997 == 0)
		assert_int_equal(wr_state_flush(st), WR_OK);
	if (op % 4999 == 0) {
		uint16_t a = (uint16_t)wrt_rng(&rng_state),
		         b = (uint16_t)wrt_rng(&rng_state);

		model_check_scan(st, m, (uint8_t)wrt_rng_below(&rng_state, 3),
		                 a < b ? a : b, a < b ? b : a);
		model_check_scan(st, m, (uint8_t)wrt_rng_below(&rng_state, 3),
		                 0, (uint16_t)wrt_rng_below(&rng_state, 400));
	}
}

/* 200 K random operations on 3000 keys through an 8 KiB cache (so almost
 * every operation evicts or flushes), checked against a plain array.
 * Now and then: an explicit flush, a scan of a random key-group range,
 * and a close and reopen (after a flush, so the model still holds). Run
 * with the map unmapped at every check (test_resident) and unbounded. */
static void
model_run(const char *dir, size_t resident)
{
	static model m;
	wr_state *st;
	wr_state_stats s;
	uint64_t hits = 0, misses = 0, trims = 0;

	test_resident = resident;
	st = open_st(dir, MODEL_CACHE, 1 << 20);
	memset(&m, 0, sizeof(m));
	rng_seed(0x5eed5eed5eedu);
	for (unsigned op = 0; op < MODEL_OPS; op++) {
		/* Skewed: a hot tenth of the keys gets half the traffic. */
		unsigned id =
		    wrt_rng_below(&rng_state, 2)
		        ? (unsigned)wrt_rng_below(&rng_state, MODEL_KEYS / 10)
		        : (unsigned)wrt_rng_below(&rng_state, MODEL_KEYS);

		model_op(st, &m, id);
		wr_state_get_stats(st, &s);
		if (s.cache_bytes > MODEL_CACHE)
			fail_msg("op %u: cache at %llu bytes", op,
			         (unsigned long long)s.cache_bytes);
		model_now_and_then(st, &m, op);
		if (op % 40009 == 40008) {
			assert_int_equal(wr_state_flush(st), WR_OK);
			hits += s.cache_hits;
			misses += s.cache_misses;
			trims += s.map_trims;
			wr_state_close(st);
			st = open_st(dir, MODEL_CACHE, 1 << 20);
		}
	}
	for (unsigned id = 0; id < MODEL_KEYS; id++)
		model_check_get(st, &m, id);
	for (uint8_t sid = 0; sid < 3; sid++)
		model_check_scan(st, &m, sid, 0, UINT16_MAX);
	wr_state_get_stats(st, &s);
	hits += s.cache_hits;
	misses += s.cache_misses;
	trims += s.map_trims;
	/* It did evict (the hot keys alone need ~45 KiB), and some hot
	 * keys did hit. */
	assert_true(misses > MODEL_OPS / 10);
	assert_true(hits > 1000);
	if (resident == 0)
		assert_int_equal(trims, 0);
	else
		assert_true(trims > 100);
	wr_state_close(st);
	for (unsigned id = 0; id < MODEL_KEYS; id++)
		free(m.val[id]);
	test_resident = 1;
}

static void
test_model(void **state)
{
	model_run(*state, 1);
}

static void
test_model_unbounded_map(void **state)
{
	model_run(*state, 0);
}

/* ---- scans ---- */

typedef struct visit {
	char seen[200][16];
	uint16_t kg[200];
	size_t n;
	size_t stop_at; /* return 7 at this visit (0: never) */
} visit;

static int
visit_fn(void *arg, uint16_t kg, const void *key, size_t klen, const void *val,
         size_t vlen)
{
	visit *vi = arg;

	assert_true(klen < 16 && vi->n < 200);
	assert_int_equal(vlen, 1);
	assert_int_equal(*(const char *)val, 'v');
	memcpy(vi->seen[vi->n], key, klen);
	vi->seen[vi->n][klen] = '\0';
	vi->kg[vi->n] = kg;
	vi->n++;
	return vi->n == vi->stop_at ? 7 : 0;
}

/* State 1 in key groups 0, 1, 5, 300 and 65535; neighbours in states 0,
 * 2 and 255; a deleted flushed entry and a deleted unflushed one. */
static void
scan_fixture(wr_state *st)
{
	put_s(st, 0, 1, "c", "v");
	put_s(st, 0, 1, "bb", "v");
	put_s(st, 0, 1, "a", "v");
	put_s(st, 0, 1, "b", "v");
	put_s(st, 1, 1, "z", "v");
	put_s(st, 1, 1, "", "v");
	put_s(st, 5, 1, "m", "v");
	put_s(st, 300, 1, "aa", "v");
	put_s(st, 300, 1, "a", "v");
	put_s(st, 65535, 1, "end", "v");
	for (uint16_t kg = 0; kg < 400; kg += 3) {
		put_s(st, kg, 0, "other", "v");
		put_s(st, kg, 2, "other", "v");
		put_s(st, kg, 255, "other", "v");
	}
	put_s(st, 2, 1, "deleted", "v");
	assert_int_equal(wr_state_flush(st), WR_OK);
	assert_int_equal(wr_state_del(st, 2, 1, "deleted", 7), WR_OK);
	put_s(st, 4, 1, "unflushed", "v");
	assert_int_equal(wr_state_del(st, 4, 1, "unflushed", 9), WR_OK);
}

static void
test_scan(void **state)
{
	wr_state *st = open_st(*state, 0, 0);
	visit vi;
	static const char *const want_all[] = {"a", "b", "bb", "c",  "",
	                                       "z", "m", "a",  "aa", "end"};
	static const uint16_t want_kg[] = {0, 0, 0,   0,   1,
	                                   1, 5, 300, 300, 65535};

	scan_fixture(st);
	memset(&vi, 0, sizeof(vi));
	assert_int_equal(wr_state_scan(st, 1, 0, 65535, visit_fn, &vi), 0);
	assert_int_equal(vi.n, 10);
	for (size_t i = 0; i < vi.n; i++) {
		assert_string_equal(vi.seen[i], want_all[i]);
		assert_int_equal(vi.kg[i], want_kg[i]);
	}
	memset(&vi, 0, sizeof(vi));
	assert_int_equal(wr_state_scan(st, 1, 1, 5, visit_fn, &vi), 0);
	assert_int_equal(vi.n, 3);
	assert_string_equal(vi.seen[2], "m");
	memset(&vi, 0, sizeof(vi));
	assert_int_equal(wr_state_scan(st, 1, 6, 299, visit_fn, &vi), 0);
	assert_int_equal(vi.n, 0);
	memset(&vi, 0, sizeof(vi));
	assert_int_equal(wr_state_scan(st, 1, 65535, 65535, visit_fn, &vi), 0);
	assert_int_equal(vi.n, 1);
	memset(&vi, 0, sizeof(vi));
	assert_int_equal(wr_state_scan(st, 1, 5, 1, visit_fn, &vi), 0);
	assert_int_equal(vi.n, 0);
	/* A state id with no entries at all, and an early stop. */
	memset(&vi, 0, sizeof(vi));
	assert_int_equal(wr_state_scan(st, 9, 0, 65535, visit_fn, &vi), 0);
	assert_int_equal(vi.n, 0);
	memset(&vi, 0, sizeof(vi));
	vi.stop_at = 3;
	assert_int_equal(wr_state_scan(st, 1, 0, 65535, visit_fn, &vi), 7);
	assert_int_equal(vi.n, 3);
	memset(&vi, 0, sizeof(vi));
	assert_int_equal(wr_state_scan(st, 255, 0, 65535, visit_fn, &vi), 0);
	assert_int_equal(vi.n, 134); /* key groups 0, 3, ..., 399 */
	wr_state_close(st);
}

/* ---- map growth, reopen, limits, corruption ---- */

static void
fill_value(unsigned char *v, size_t n, unsigned i)
{
	for (size_t j = 0; j < n; j++)
		v[j] = (unsigned char)(i * 31u + j * 7u);
}

/* 50 MB through a map that starts at 1 MiB: 50 000 cached values of
 * 1000 bytes and 5 of 2 MiB that go straight to LMDB. */
static void
test_map_growth(void **state)
{
	const size_t small = 1000, big = 2u << 20;
	unsigned char *v = malloc(big), *want = malloc(big);
	wr_state *st = open_st(*state, 4u << 20, 1u << 20);
	wr_state_stats s;

	assert_non_null(v);
	assert_non_null(want);
	for (unsigned i = 0; i < 50000; i++) {
		fill_value(v, small, i);
		assert_int_equal(wr_state_put(st, (uint16_t)(i % 128), 0, &i,
		                              sizeof(i), v, small),
		                 WR_OK);
	}
	for (unsigned i = 0; i < 5; i++) {
		fill_value(v, big, i);
		assert_int_equal(
		    wr_state_put(st, 200, 1, &i, sizeof(i), v, big), WR_OK);
	}
	assert_int_equal(wr_state_flush(st), WR_OK);
	wr_state_get_stats(st, &s);
	assert_int_equal(s.entries, 50005);
	assert_true(s.map_bytes >= 60u << 20);
	wr_state_close(st);

	st = open_st(*state, 4u << 20, 1u << 20);
	for (unsigned i = 0; i < 50000; i++) {
		const void *got;
		size_t glen;

		fill_value(want, small, i);
		assert_int_equal(wr_state_get(st, (uint16_t)(i % 128), 0, &i,
		                              sizeof(i), &got, &glen),
		                 WR_OK);
		assert_int_equal(glen, small);
		assert_memory_equal(got, want, small);
	}
	for (unsigned i = 0; i < 5; i++) {
		const void *got;
		size_t glen;

		fill_value(want, big, i);
		assert_int_equal(
		    wr_state_get(st, 200, 1, &i, sizeof(i), &got, &glen),
		    WR_OK);
		assert_int_equal(glen, big);
		assert_memory_equal(got, want, big);
	}
	wr_state_close(st);
	free(v);
	free(want);
}

/* RssFile of this process in MiB (LMDB's mapped pages count there). */
static double
rss_file_mib(void)
{
	char line[256];
	double kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "RssFile:", 8) == 0)
			kib = strtod(line + 8, NULL);
	}
	fclose(f);
	assert_true(kib >= 0);
	return kib / 1024;
}

/* Reads every value of test_map_trim back; returns the growth of
 * RssFile over the reads. */
static double
read_back_rss(const char *dir, size_t resident, unsigned n, uint64_t *trims)
{
	wr_state_opts o = {.cache_bytes = 1u << 20,
	                   .map_resident_bytes = resident};
	unsigned char want[1000];
	wr_state_stats s;
	wr_state *st = NULL;
	double before;

	assert_int_equal(wr_state_open(dir, &o, &st), WR_OK);
	before = rss_file_mib();
	for (unsigned i = 0; i < n; i++) {
		const void *got;
		size_t glen;

		fill_value(want, sizeof(want), i);
		assert_int_equal(wr_state_get(st, (uint16_t)(i % 64), 0, &i,
		                              sizeof(i), &got, &glen),
		                 WR_OK);
		assert_int_equal(glen, sizeof(want));
		assert_memory_equal(got, want, glen);
	}
	wr_state_get_stats(st, &s);
	*trims = s.map_trims;
	before = rss_file_mib() - before;
	wr_state_close(st);
	return before;
}

/* Reads of 40 MB of state with the map bounded at 4 MiB: the file-backed
 * RSS stays near the bound (plus the 16 MiB a check interval may map),
 * and every value is still right after the unmapping. Unbounded, the
 * same reads map most of the file. */
static void
test_map_trim(void **state)
{
	const unsigned n = 40000;
	unsigned char v[1000];
	wr_state *st = open_st(*state, 1u << 20, 1u << 20);
	uint64_t trims;
	double grew;

	for (unsigned i = 0; i < n; i++) {
		fill_value(v, sizeof(v), i);
		assert_int_equal(wr_state_put(st, (uint16_t)(i % 64), 0, &i,
		                              sizeof(i), v, sizeof(v)),
		                 WR_OK);
	}
	assert_int_equal(wr_state_flush(st), WR_OK);
	wr_state_close(st);
	grew = read_back_rss(*state, 4u << 20, n, &trims);
	if (grew > 4 + 16 + 4)
		fail_msg("bounded: RssFile grew %.1f MiB", grew);
	assert_true(trims > 0);
	grew = read_back_rss(*state, 0, n, &trims); /* 0: no bound */
	if (grew < 30)
		fail_msg("unbounded: RssFile grew only %.1f MiB", grew);
	assert_int_equal(trims, 0);
}

/* wr_state_close drops what was not flushed, by design: a task that ends
 * restarts from its last checkpoint, which flushed what it needed. */
static void
test_reopen_drops_dirty(void **state)
{
	wr_state *st = open_st(*state, 0, 0);

	put_s(st, 3, 0, "flushed", "old");
	put_s(st, 3, 0, "deleted", "kept");
	assert_int_equal(wr_state_flush(st), WR_OK);
	put_s(st, 3, 0, "flushed", "new, never flushed");
	put_s(st, 3, 0, "dirty", "never flushed");
	assert_int_equal(wr_state_del(st, 3, 0, "deleted", 7), WR_OK);
	wr_state_close(st);
	st = open_st(*state, 0, 0);
	expect_s(st, 3, 0, "flushed", "old");
	expect_s(st, 3, 0, "dirty", NULL);
	expect_s(st, 3, 0, "deleted", "kept");
	assert_int_equal(lmdb_entries(st), 2);
	wr_state_close(st);
}

static void
test_limits(void **state)
{
	static char key[WR_STATE_MAX_USER_KEY + 1];
	wr_state *st = open_st(*state, 0, 0);
	const void *v;
	size_t vlen;
	char one = 'x';

	memset(key, 'k', sizeof(key));
	assert_int_equal(wr_state_put(st, 1, 1, key, sizeof(key) - 1, "v", 1),
	                 WR_OK);
	assert_int_equal(wr_state_flush(st), WR_OK);
	wr_state_close(st);
	st = open_st(*state, 0, 0);
	assert_int_equal(
	    wr_state_get(st, 1, 1, key, sizeof(key) - 1, &v, &vlen), WR_OK);
	assert_int_equal(wr_state_put(st, 1, 1, key, sizeof(key), "v", 1),
	                 WR_ETOOBIG);
	assert_int_equal(wr_state_get(st, 1, 1, key, sizeof(key), &v, &vlen),
	                 WR_ETOOBIG);
	assert_int_equal(wr_state_del(st, 1, 1, key, sizeof(key)), WR_ETOOBIG);
	/* Checked before the value is read: one byte stands for 64 MiB. */
	assert_int_equal(wr_state_put(st, 1, 1, "k", 1, &one,
	                              (size_t)WR_STATE_MAX_VALUE_BYTES + 1),
	                 WR_ETOOBIG);
	assert_int_equal(wr_state_put(st, 1, 1, "k", 1, NULL, 1), WR_EINVAL);
	assert_int_equal(wr_state_put(st, 1, 1, NULL, 1, "v", 1), WR_EINVAL);
	wr_state_close(st);
}

static void
write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void
test_garbage(void **state)
{
	const char *dir = *state;
	unsigned char junk[8192];
	wr_state *st = (wr_state *)&junk;
	char path[512];

	rng_seed(7);
	rng_fill(junk, sizeof(junk));
	write_file(dir, "data.mdb", junk, sizeof(junk));
	assert_int_equal(wr_state_open(dir, NULL, &st), WR_ECORRUPT);
	assert_null(st);
	/* Shorter than LMDB's two meta pages. */
	write_file(dir, "data.mdb", junk, 100);
	assert_int_equal(wr_state_open(dir, NULL, &st), WR_ECORRUPT);
	assert_null(st);
	/* An LMDB-sized file of zeros has no meta page either. */
	memset(junk, 0, sizeof(junk));
	write_file(dir, "data.mdb", junk, sizeof(junk));
	assert_int_equal(wr_state_open(dir, NULL, &st), WR_ECORRUPT);
	assert_null(st);
	/* The directory is a file. */
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_int_not_equal(wr_state_open(path, NULL, &st), WR_OK);
	assert_null(st);
	wr_state_close(NULL);
}

/* ---- checkpoints ---- */

/* A snapshot holds what was put (dirty cache entries included) and a
 * restore keeps exactly the key groups it asks for (rescaling). */
static void
test_snapshot_import(void **state)
{
	char a[512], snap[512], b[512], c[512];
	snprintf(a, sizeof(a), "%s/a", (char *)*state);
	snprintf(snap, sizeof(snap), "%s/snap", (char *)*state);
	snprintf(b, sizeof(b), "%s/b", (char *)*state);
	snprintf(c, sizeof(c), "%s/c", (char *)*state);
	wr_state *st = open_st(a, 1 << 20, 0);
	char k[32], v[32];
	for (int kg = 0; kg < 128; kg++)
		for (int i = 0; i < 20; i++) {
			snprintf(k, sizeof(k), "k%d-%d", kg, i);
			snprintf(v, sizeof(v), "v%d", kg * 100 + i);
			put_s(st, (uint16_t)kg, (uint8_t)(1 + i % 3), k, v);
		}
	assert_int_equal(wr_state_snapshot(st, snap), WR_OK);
	/* written after the snapshot: not in it */
	put_s(st, 5, 1, "late", "x");
	wr_state_close(st);

	wr_state *lo = open_st(b, 1 << 20, 0), *hi = open_st(c, 1 << 20, 0);
	uint64_t n1 = 0, n2 = 0;
	assert_int_equal(wr_state_import(lo, snap, 0, 42, &n1), WR_OK);
	assert_int_equal(wr_state_import(hi, snap, 43, 127, &n2), WR_OK);
	assert_int_equal(n1, 43 * 20);
	assert_int_equal(n2, 85 * 20);
	for (int kg = 0; kg < 128; kg++)
		for (int i = 0; i < 20; i++) {
			snprintf(k, sizeof(k), "k%d-%d", kg, i);
			snprintf(v, sizeof(v), "v%d", kg * 100 + i);
			uint8_t sid = (uint8_t)(1 + i % 3);
			expect_s(lo, (uint16_t)kg, sid, k, kg <= 42 ? v : NULL);
			expect_s(hi, (uint16_t)kg, sid, k, kg > 42 ? v : NULL);
		}
	expect_s(lo, 5, 1, "late", NULL);
	wr_state_close(lo);
	wr_state_close(hi);
	/* not a snapshot */
	wr_state *d = open_st(b, 0, 0);
	assert_int_not_equal(
	    wr_state_import(d, "/nonexistent-weir", 0, 1, NULL), WR_OK);
	wr_state_close(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    WRT_TEST_TMPDIR(test_round_trip),
	    WRT_TEST_TMPDIR(test_put_own_value),
	    WRT_TEST_TMPDIR(test_tombstone_hides_lmdb),
	    WRT_TEST_TMPDIR(test_large_values),
	    WRT_TEST_TMPDIR(test_model),
	    WRT_TEST_TMPDIR(test_model_unbounded_map),
	    WRT_TEST_TMPDIR(test_scan),
	    WRT_TEST_TMPDIR(test_map_growth),
	    WRT_TEST_TMPDIR(test_map_trim),
	    WRT_TEST_TMPDIR(test_reopen_drops_dirty),
	    WRT_TEST_TMPDIR(test_limits),
	    WRT_TEST_TMPDIR(test_garbage),
	    WRT_TEST_TMPDIR(test_snapshot_import),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
