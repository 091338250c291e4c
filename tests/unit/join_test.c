/*
 * join_test.c - the join engines (taskmanager/join.h) against brute-force
 * references computed here from the same input: random out-of-order
 * records within the out-of-orderness bound, several keys, NULL keys,
 * duplicates, table tombstones, late records (dropped), inner and left
 * joins; run straight through, restored from a snapshot of the state in
 * the middle (checkpoint / restore), and with the key groups split over
 * two engines from that snapshot (rescaling). The output must be exactly
 * the reference's, as a multiset.
 */
#include <math.h>
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
#include "fsutil.h"
#include "join.h"
#include "plan.h"
#include "record.h"
#include "state.h"

#define MAXP      128 /* key groups */
#define NKEYS     7   /* keys 0..6 */
#define BOUND     50  /* out-of-orderness (ms) */
#define NEVENTS   700 /* per run */
#define FINAL_WM  ((int64_t)1 << 60)
#define OUT_BYTES 192

enum ev_kind { EV_LEFT, EV_RIGHT, EV_TOMB, EV_WM };

typedef struct ev {
	enum ev_kind kind;
	bool nullkey;
	int64_t key, ts, id;
	int64_t wm; /* EV_WM: the watermark; else the one before it */
} ev;

/* Output rows as text; with check, also how many came with a left
 * event time (field 1) at or before floor, the watermark the operator
 * would have forwarded last (tm_join_watermark_delay). */
typedef struct outs {
	char **v;
	size_t n, cap;
	bool check;
	int64_t floor;
	size_t behind;
} outs;

static void
outs_add(outs *o, const wr_row *r, int64_t ts)
{
	char buf[OUT_BYTES];
	size_t len = 0;

	for (uint32_t f = 0; f < r->n; f++) {
		const wr_value *v = &r->v[f];
		int n;
		if (v->type == WR_T_NULL)
			n = snprintf(buf + len, sizeof(buf) - len, "N|");
		else if (v->type == WR_T_STRING)
			n = snprintf(buf + len, sizeof(buf) - len, "%.*s|",
			             (int)v->u.s.len, v->u.s.p);
		else
			n = snprintf(buf + len, sizeof(buf) - len, "%lld|",
			             (long long)v->u.i);
		assert_true(n > 0 && (size_t)n < sizeof(buf) - len);
		len += (size_t)n;
	}
	snprintf(buf + len, sizeof(buf) - len, "@%lld", (long long)ts);
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 256;
		o->v = realloc(o->v, o->cap * sizeof(*o->v));
		assert_non_null(o->v);
	}
	o->v[o->n++] = strdup(buf);
}

static void
outs_free(outs *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->v[i]);
	free(o->v);
	*o = (outs){0};
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Equal as multisets; prints the first difference. */
static void
outs_check(outs *got, outs *want, const char *what)
{
	qsort(got->v, got->n, sizeof(char *), cmp_str);
	qsort(want->v, want->n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < got->n || i < want->n; i++) {
		const char *g = i < got->n ? got->v[i] : "(none)";
		const char *w = i < want->n ? want->v[i] : "(none)";
		if (strcmp(g, w) != 0)
			fail_msg("%s: %zu rows, want %zu; first difference at "
			         "%zu: got %s, want %s",
			         what, got->n, want->n, i, g, w);
	}
}

static int
emit_cb(void *arg, const wr_row *row, int64_t ts)
{
	outs *o = arg;

	if (o->check && row->v[1].u.i <= o->floor)
		o->behind++;
	outs_add(o, row, ts);
	return WR_OK;
}

/* ---- input ------------------------------------------------------------- */

/* A record's row: left (k, ts, id), right (k, ts, id, tag); a tombstone
 * has only its key. tag points into tagbuf. */
static void
ev_row(const ev *e, wr_row *r, char *tagbuf, size_t taglen)
{
	r->n = e->kind == EV_LEFT ? 3 : 4;
	r->v[0] = e->nullkey ? wrt_vnull() : wrt_vlong(e->key);
	r->v[1] = wrt_vts(e->ts);
	r->v[2] = wrt_vlong(e->id);
	if (e->kind == EV_LEFT)
		return;
	snprintf(tagbuf, taglen, "r%lld", (long long)e->id);
	r->v[3] = wrt_vstr(tagbuf);
	if (e->kind == EV_TOMB)
		r->v[1] = r->v[2] = r->v[3] = wrt_vnull();
}

static bool
ev_late(const ev *e)
{
	return e->ts <= e->wm;
}

/* Random input: out-of-order within BOUND, watermarks at max - BOUND,
 * some late records, duplicates, NULL keys, tombstones (tombs). */
static size_t
gen(uint64_t seed, bool tombs, ev *out)
{
	uint64_t s = seed;
	int64_t base = -300, maxseen = INT64_MIN, wm = INT64_MIN, id = 1;
	size_t n = 0;

	while (n < NEVENTS - 1) {
		uint64_t r = wrt_rng_below(&s, 100);
		if (r < 10 && maxseen != INT64_MIN && maxseen - BOUND > wm) {
			wm = maxseen - BOUND;
			out[n++] = (ev){.kind = EV_WM, .wm = wm};
			continue;
		}
		if (r < 14 && n > 0) { /* a duplicate of an earlier record */
			ev d = out[wrt_rng_below(&s, n)];
			if (d.kind != EV_WM) {
				d.wm = wm;
				out[n++] = d;
			}
			continue;
		}
		ev e = {.id = id++, .wm = wm};
		base += (int64_t)wrt_rng_below(&s, 8);
		e.ts = base - (int64_t)wrt_rng_below(&s, BOUND);
		if (r < 18 && wm != INT64_MIN) /* late */
			e.ts = wm - (int64_t)wrt_rng_below(&s, 100);
		e.kind = wrt_rng_below(&s, 2) ? EV_RIGHT : EV_LEFT;
		if (tombs && e.kind == EV_RIGHT && wrt_rng_below(&s, 4) == 0)
			e.kind = EV_TOMB;
		/* The last two keys stop at the middle: after a restore,
		 * their pending rows must be found in the restored state. */
		e.key = (int64_t)wrt_rng_below(
		    &s, n < NEVENTS / 2 - 3 ? NKEYS : NKEYS - 2);
		e.nullkey = wrt_rng_below(&s, 40) == 0;
		if (e.ts > maxseen)
			maxseen = e.ts;
		out[n++] = e;
	}
	out[n++] = (ev){.kind = EV_WM, .wm = FINAL_WM};
	return n;
}

/* ---- references -------------------------------------------------------- */

/* The output row of left l and right r (NULL: nulls), window start w
 * (INT64_MIN: none) and size. */
static void
ref_emit(outs *o, const ev *l, const ev *r, int64_t w, int64_t size, int64_t ts)
{
	char t1[32], t2[32];
	wr_row lr, rr, out;

	ev_row(l, &lr, t1, sizeof(t1));
	out = lr;
	if (r != NULL) {
		ev_row(r, &rr, t2, sizeof(t2));
		for (uint32_t f = 0; f < rr.n; f++)
			out.v[3 + f] = rr.v[f];
	} else {
		for (uint32_t f = 0; f < 4; f++)
			out.v[3 + f] = wrt_vnull();
	}
	out.n = 7;
	if (w != INT64_MIN) {
		out.v[out.n++] = wrt_vts(w);
		out.v[out.n++] = wrt_vts(w + size);
	}
	outs_add(o, &out, ts);
}

static bool
same_key(const ev *a, const ev *b)
{
	return !a->nullkey && !b->nullkey && a->key == b->key;
}

static void
ref_interval(const ev *e, size_t n, int64_t lo, int64_t hi, bool outer, outs *o)
{
	for (size_t i = 0; i < n; i++) {
		const ev *l = &e[i];
		bool m = false;
		if (l->kind != EV_LEFT || ev_late(l))
			continue;
		for (size_t k = 0; k < n; k++) {
			const ev *r = &e[k];
			if (r->kind != EV_RIGHT || ev_late(r) ||
			    !same_key(l, r) || r->ts - l->ts < lo ||
			    r->ts - l->ts > hi)
				continue;
			m = true;
			ref_emit(o, l, r, INT64_MIN, 0,
			         l->ts > r->ts ? l->ts : r->ts);
		}
		if (!m && outer)
			ref_emit(o, l, NULL, INT64_MIN, 0, l->ts);
	}
}

/* Event time: a left record comes out at the first watermark at or after
 * it, with the version of greatest ts <= its own among the table's
 * changes that arrived (not late) before that watermark; the last to
 * arrive wins a tie. Processing time: the last change before it. */
static void
ref_temporal(const ev *e, size_t n, bool event_time, bool outer, outs *o)
{
	for (size_t i = 0; i < n; i++) {
		const ev *l = &e[i], *best = NULL;
		size_t until = i;
		if (l->kind != EV_LEFT || (event_time && ev_late(l)))
			continue;
		if (!l->nullkey && event_time) {
			while (e[until].kind != EV_WM || e[until].wm < l->ts)
				until++;
		}
		for (size_t k = 0; !l->nullkey && k < until; k++) {
			const ev *v = &e[k];
			if ((v->kind != EV_RIGHT && v->kind != EV_TOMB) ||
			    !same_key(l, v))
				continue;
			if (!event_time) {
				best = v;
				continue;
			}
			if (ev_late(v) || v->ts > l->ts)
				continue;
			if (best == NULL || v->ts >= best->ts)
				best = v;
		}
		if (best != NULL && best->kind == EV_RIGHT)
			ref_emit(o, l, best, INT64_MIN, 0, l->ts);
		else if (outer)
			ref_emit(o, l, NULL, INT64_MIN, 0, l->ts);
	}
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	return (a - ((a % b + b) % b)) / b;
}

/* Is window w (start) one of e's, and open when e arrived? */
static bool
in_window(const ev *e, int64_t w, int64_t size, int64_t slide)
{
	return w <= e->ts && e->ts < w + size &&
	       floor_div(w, slide) * slide == w && w + size - 1 > e->wm;
}

static void
ref_window(const ev *e, size_t n, int64_t size, int64_t slide, bool outer,
           outs *o)
{
	for (size_t i = 0; i < n; i++) {
		const ev *l = &e[i];
		if (l->kind != EV_LEFT)
			continue;
		int64_t last = floor_div(l->ts, slide) * slide;
		for (int64_t w = last; w > l->ts - size; w -= slide) {
			bool m = false;
			if (!in_window(l, w, size, slide))
				continue;
			for (size_t k = 0; !l->nullkey && k < n; k++) {
				const ev *r = &e[k];
				if (r->kind != EV_RIGHT || !same_key(l, r) ||
				    !in_window(r, w, size, slide))
					continue;
				m = true;
				ref_emit(o, l, r, w, size, w + size - 1);
			}
			if (!m && outer)
				ref_emit(o, l, NULL, w, size, w + size - 1);
		}
	}
}

/* ---- running the engine ------------------------------------------------ */

enum mode { RUN_STRAIGHT, RUN_RESTORE, RUN_RESCALE };

typedef struct engines {
	tm_join_cfg cfg;
	wr_state *st[2];
	tm_join *j[2];
	int n;
	char root[64];
	int dirs;
} engines;

static void
engines_open(engines *en, int n)
{
	wr_state_opts o = {.cache_bytes = 256 * 1024};
	char dir[128], err[256];

	en->n = n;
	for (int i = 0; i < n; i++) {
		snprintf(dir, sizeof(dir), "%s/st%d", en->root, en->dirs++);
		assert_int_equal(wr_state_open(dir, &o, &en->st[i]), WR_OK);
		tm_join_cfg c = en->cfg;
		c.st = en->st[i];
		c.kg_first = i * MAXP / n;
		c.kg_last = (i + 1) * MAXP / n - 1;
		assert_int_equal(tm_join_new(&c, &en->j[i], err, sizeof(err)),
		                 WR_OK);
	}
}

static void
engines_close(engines *en)
{
	for (int i = 0; i < en->n; i++) {
		tm_join_free(en->j[i]);
		wr_state_close(en->st[i]);
	}
	en->n = 0;
}

/* The engine owning e's key group (a NULL key: any). */
static int
route(const engines *en, const ev *e)
{
	if (en->n == 1 || e->nullkey)
		return 0;
	wr_value v = wrt_vlong(e->key);
	int kg = wr_key_group(wr_value_hash(&v, 0), MAXP);
	return wr_key_group_subtask(kg, MAXP, en->n);
}

static void
feed(engines *en, const ev *e)
{
	char tag[32];
	wr_row r;
	int rc = WR_OK;

	if (e->kind == EV_WM) {
		outs *o = en->cfg.arg;
		for (int i = 0; i < en->n && rc == WR_OK; i++)
			rc = tm_join_watermark(en->j[i], e->wm);
		if (o != NULL)
			o->floor = e->wm - tm_join_watermark_delay(&en->cfg);
	} else {
		tm_join *j = en->j[route(en, e)];
		ev_row(e, &r, tag, sizeof(tag));
		rc =
		    e->kind == EV_TOMB
		        ? tm_join_delete(j, &r, e->ts)
		        : tm_join_add(j, e->kind == EV_LEFT ? 0 : 1, &r, e->ts);
		if (rc != WR_OK)
			fail_msg("engine: %s", tm_join_error(j));
	}
	assert_int_equal(rc, WR_OK);
}

/* Snapshot of the one engine's state, then n engines importing their key
 * groups of it; the watermark is handed to them again. */
static void
restore(engines *en, int n, int64_t wm)
{
	char snap[128];

	snprintf(snap, sizeof(snap), "%s/snap%d", en->root, en->dirs);
	assert_int_equal(wr_state_snapshot(en->st[0], snap), WR_OK);
	engines_close(en);
	engines_open(en, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(
		    wr_state_import(en->st[i], snap, (uint16_t)(i * MAXP / n),
		                    (uint16_t)((i + 1) * MAXP / n - 1), NULL),
		    WR_OK);
		assert_int_equal(tm_join_watermark(en->j[i], wm), WR_OK);
	}
}

/* Runs the events through the engine(s) in mode; returns late drops. */
static uint64_t
run(const tm_join_cfg *cfg, const ev *e, size_t n, enum mode mode, outs *got)
{
	engines en = {.cfg = *cfg};
	size_t mid = n / 2;
	uint64_t late = 0;

	en.cfg.emit = emit_cb;
	en.cfg.arg = got;
	/* A processing-time table join passes late input through. */
	got->check = cfg->kind != WR_JOIN_TABLE || cfg->event_time;
	got->floor = INT64_MIN;
	assert_int_equal(wrt_tmpdir(en.root, sizeof(en.root), "join"), 0);
	engines_open(&en, 1);
	while (e[mid].kind != EV_WM)
		mid++;
	for (size_t i = 0; i < n; i++) {
		feed(&en, &e[i]);
		if (i == mid && mode != RUN_STRAIGHT) {
			late += tm_join_late_dropped(en.j[0]);
			restore(&en, mode == RUN_RESCALE ? 2 : 1, e[i].wm);
		}
	}
	for (int i = 0; i < en.n; i++)
		late += tm_join_late_dropped(en.j[i]);
	engines_close(&en);
	assert_int_equal(wr_rmtree(en.root), WR_OK);
	return late;
}

/* Every mode and seed of one configuration against its reference. */
static void
check(const tm_join_cfg *cfg, bool tombs, const char *what,
      void (*ref)(const tm_join_cfg *, const ev *, size_t, outs *))
{
	static ev e[NEVENTS];
	char label[160];

	for (uint64_t seed = 1; seed <= 4; seed++) {
		size_t n = gen(seed * 7919, tombs, e);
		outs want = {0};
		ref(cfg, e, n, &want);
		assert_true(want.n > 0);
		for (int mode = RUN_STRAIGHT; mode <= RUN_RESCALE; mode++) {
			outs got = {0};
			snprintf(label, sizeof(label), "%s, seed %llu, mode %d",
			         what, (unsigned long long)seed, mode);
			uint64_t late = run(cfg, e, n, (enum mode)mode, &got);
			outs_check(&got, &want, label);
			if (got.behind > 0)
				fail_msg("%s: %zu rows late for the forwarded "
				         "watermark",
				         label, got.behind);
			/* the generator makes some records late */
			if (cfg->kind != WR_JOIN_TABLE || cfg->event_time)
				assert_true(late > 0);
			outs_free(&got);
		}
		outs_free(&want);
	}
}

static tm_join_cfg
base_cfg(enum wr_join_kind kind, bool outer)
{
	tm_join_cfg c = {.kind = kind,
	                 .left_outer = outer,
	                 .nkeys = 1,
	                 .width = {3, 4},
	                 .max_parallelism = MAXP};
	c.keys[0][0] = 0;
	c.keys[1][0] = 0;
	return c;
}

/* One engine from c on a backend of its own in a fresh directory root
 * (c gets the backend); solo_close undoes it. */
static tm_join *
solo_open(tm_join_cfg *c, char *root, size_t rootlen, wr_state **st)
{
	char dir[128], err[256];
	tm_join *j = NULL;

	assert_int_equal(wrt_tmpdir(root, rootlen, "join"), 0);
	snprintf(dir, sizeof(dir), "%s/st", root);
	assert_int_equal(wr_state_open(dir, NULL, st), WR_OK);
	c->st = *st;
	if (tm_join_new(c, &j, err, sizeof(err)) != WR_OK)
		fail_msg("tm_join_new: %s", err);
	return j;
}

static void
solo_close(tm_join *j, wr_state *st, const char *root)
{
	tm_join_free(j);
	wr_state_close(st);
	assert_int_equal(wr_rmtree(root), WR_OK);
}

/* ---- tests ------------------------------------------------------------- */

static void
ref_interval_cfg(const tm_join_cfg *c, const ev *e, size_t n, outs *o)
{
	ref_interval(e, n, c->lower_ms, c->upper_ms, c->left_outer, o);
}

static void
test_interval(void **state)
{
	static const int64_t bounds[][2] = {
	    {-20, 30}, {0, 10}, {5, 60}, {-40, -10}, {0, 0}};
	(void)state;
	for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++)
		for (int outer = 0; outer < 2; outer++) {
			tm_join_cfg c = base_cfg(WR_JOIN_INTERVAL, outer);
			char what[64];
			c.lower_ms = bounds[b][0];
			c.upper_ms = bounds[b][1];
			snprintf(what, sizeof(what), "interval [%lld, %lld] %s",
			         (long long)c.lower_ms, (long long)c.upper_ms,
			         outer ? "left" : "inner");
			check(&c, false, what, ref_interval_cfg);
		}
}

static void
ref_temporal_cfg(const tm_join_cfg *c, const ev *e, size_t n, outs *o)
{
	ref_temporal(e, n, c->event_time, c->left_outer, o);
}

static void
test_temporal(void **state)
{
	(void)state;
	for (int et = 0; et < 2; et++)
		for (int outer = 0; outer < 2; outer++) {
			tm_join_cfg c = base_cfg(WR_JOIN_TABLE, outer);
			char what[64];
			c.event_time = et;
			snprintf(what, sizeof(what), "table %s %s",
			         et ? "event_time" : "processing_time",
			         outer ? "left" : "inner");
			check(&c, true, what, ref_temporal_cfg);
		}
}

static void
ref_window_cfg(const tm_join_cfg *c, const ev *e, size_t n, outs *o)
{
	ref_window(e, n, c->size_ms, c->slide_ms, c->left_outer, o);
}

static void
test_window(void **state)
{
	static const int64_t wins[][2] = {{20, 20}, {30, 10}, {25, 10}};
	(void)state;
	for (size_t w = 0; w < sizeof(wins) / sizeof(wins[0]); w++)
		for (int outer = 0; outer < 2; outer++) {
			tm_join_cfg c = base_cfg(WR_JOIN_WINDOW, outer);
			char what[64];
			c.window = wins[w][0] == wins[w][1] ? WR_WIN_TUMBLING
			                                    : WR_WIN_SLIDING;
			c.size_ms = wins[w][0];
			c.slide_ms = wins[w][1];
			snprintf(what, sizeof(what), "window %lld/%lld %s",
			         (long long)c.size_ms, (long long)c.slide_ms,
			         outer ? "left" : "inner");
			check(&c, false, what, ref_window_cfg);
		}
}

/* State is cleaned: after the final watermark nothing is left but, for
 * an event-time table join, the last version of each key. */
static void
test_cleanup(void **state)
{
	static ev e[NEVENTS];
	static const enum wr_join_kind kinds[] = {WR_JOIN_INTERVAL,
	                                          WR_JOIN_WINDOW};
	char root[64];
	(void)state;

	for (size_t k = 0; k < 2; k++) {
		tm_join_cfg c = base_cfg(kinds[k], true);
		outs got = {0};
		wr_state *st;
		tm_join *j;
		wr_state_stats stats;
		size_t n = gen(99, false, e);
		c.lower_ms = -10;
		c.upper_ms = 10;
		c.window = WR_WIN_SLIDING;
		c.size_ms = 30;
		c.slide_ms = 10;
		c.kg_last = MAXP - 1;
		c.emit = emit_cb;
		c.arg = &got;
		j = solo_open(&c, root, sizeof(root), &st);
		engines en = {.n = 1, .j = {j}, .st = {st}};
		for (size_t i = 0; i < n; i++)
			feed(&en, &e[i]);
		assert_int_equal(wr_state_flush(st), WR_OK);
		wr_state_get_stats(st, &stats);
		assert_int_equal(stats.entries, 0);
		solo_close(j, st, root);
		outs_free(&got);
	}
}

/* A record of a key group the engine does not own is refused; so is a
 * bad configuration. */
static void
test_refusals(void **state)
{
	char root[64], err[256];
	outs got = {0};
	wr_state *st;
	tm_join *j, *bad;
	wr_row r;
	(void)state;

	tm_join_cfg c = base_cfg(WR_JOIN_INTERVAL, false);
	c.upper_ms = 10;
	c.emit = emit_cb;
	c.arg = &got;
	/* the key group of key 0, and not that one */
	wr_value v = wrt_vlong(0);
	int kg = wr_key_group(wr_value_hash(&v, 0), MAXP);
	c.kg_first = c.kg_last = (kg + 1) % MAXP;
	j = solo_open(&c, root, sizeof(root), &st);
	r.n = 3;
	r.v[0] = v;
	r.v[1] = wrt_vts(5);
	r.v[2] = wrt_vlong(1);
	assert_int_equal(tm_join_add(j, 0, &r, 5), WR_ECORRUPT);
	assert_non_null(strstr(tm_join_error(j), "key group"));
	assert_int_equal(tm_join_delete(j, &r, 5), WR_EINVAL);
	c.lower_ms = 20;
	assert_int_equal(tm_join_new(&c, &bad, err, sizeof(err)), WR_EINVAL);
	assert_non_null(strstr(err, "the bounds"));
	solo_close(j, st, root);
}

/* Keys of several fields pair in the order of `on` and `right_on`, and
 * equal as key_by groups them: -0.0 = 0.0, NaN = NaN. */
static void
test_key_equality(void **state)
{
	static const double lkeys[] = {-0.0, NAN, 1.5};
	static const double rkeys[] = {0.0, NAN, 2.5};
	char root[64];
	outs got = {0};
	wr_state *st;
	tm_join *j;
	(void)state;

	tm_join_cfg c = base_cfg(WR_JOIN_INTERVAL, true);
	c.nkeys = 2;
	c.keys[0][0] = 0, c.keys[0][1] = 1; /* left: (d, s, id) */
	c.keys[1][0] = 1, c.keys[1][1] = 0; /* right: (s, d, id) */
	c.width[0] = c.width[1] = 3;
	c.upper_ms = 10;
	c.kg_last = MAXP - 1;
	c.emit = emit_cb;
	c.arg = &got;
	j = solo_open(&c, root, sizeof(root), &st);
	for (int i = 0; i < 3; i++) {
		wr_row l = {.n = 3}, r = {.n = 3};
		l.v[0] = wrt_vdouble(lkeys[i]);
		l.v[1] = wrt_vstr("k");
		l.v[2] = wrt_vlong(i);
		r.v[0] = wrt_vstr("k");
		r.v[1] = wrt_vdouble(rkeys[i]);
		r.v[2] = wrt_vlong(10 + i);
		assert_int_equal(tm_join_add(j, 0, &l, 100), WR_OK);
		assert_int_equal(tm_join_add(j, 1, &r, 105), WR_OK);
	}
	/* two pairs at once; the third left row only at the end, alone */
	assert_int_equal(got.n, 2);
	assert_int_equal(tm_join_watermark(j, 200), WR_OK);
	assert_int_equal(got.n, 3);
	assert_true(strstr(got.v[2], "|2|N|N|N|@100") != NULL);
	solo_close(j, st, root);
	outs_free(&got);
}

/* Row lists in state that are not what the engine wrote (a version it
 * does not know, a truncated entry) are refused as corrupt, never
 * misread. */
static void
test_corrupt_state(void **state)
{
	static const uint8_t bad[][4] = {{7, 0, 0, 0}, {1, 2, 3, 0}};
	char root[64];
	outs got = {0};
	wr_state *st;
	tm_join *j;
	wr_row r, k;
	wr_buf key;
	(void)state;

	tm_join_cfg c = base_cfg(WR_JOIN_INTERVAL, false);
	c.upper_ms = 10;
	c.kg_last = MAXP - 1;
	c.emit = emit_cb;
	c.arg = &got;
	j = solo_open(&c, root, sizeof(root), &st);
	k.n = 1;
	k.v[0] = wrt_vlong(3);
	wr_buf_init(&key);
	wr_row_encode(&k, &key);
	int kg = wr_key_group(wr_value_hash(&k.v[0], 0), MAXP);
	r.n = 4;
	r.v[0] = k.v[0];
	r.v[1] = wrt_vts(5);
	r.v[2] = wrt_vlong(1);
	r.v[3] = wrt_vstr("x");
	for (size_t b = 0; b < 2; b++) {
		/* the left rows of key 3, which a right row probes */
		assert_int_equal(wr_state_put(st, (uint16_t)kg,
		                              TM_JOIN_ST_ROWS0, key.data,
		                              key.len, bad[b], 4),
		                 WR_OK);
		assert_int_equal(tm_join_add(j, 1, &r, 5), WR_ECORRUPT);
		assert_non_null(strstr(tm_join_error(j), "corrupt row list"));
	}
	assert_int_equal(got.n, 0);
	wr_buf_fini(&key);
	solo_close(j, st, root);
}

/* A window join read from a job file, by hand: the settings reach the
 * engine, the output has the left fields, the right ones and the
 * window's bounds. */
static void
test_from_spec(void **state)
{
	wr_jobspec *spec = wrt_job(
	    "name: t\n"
	    "sources:\n"
	    "  a: { kafka: { topic: a }, schema: { k: long, ts: timestamp, id: "
	    "long }, event_time: { field: ts } }\n"
	    "  b: { kafka: { topic: b }, schema: { k: long, ts: timestamp, id: "
	    "long, tag: string }, event_time: { field: ts } }\n"
	    "nodes:\n"
	    "  - id: j\n"
	    "    join: { left: a, right: b, on: [k], window: { tumbling: 10ms "
	    "} }\n"
	    "  - id: out\n"
	    "    from: j\n"
	    "    sink: { stdout: {} }\n",
	    0);
	const wr_node_spec *n = &spec->nodes[wr_jobspec_find(spec, "j")];
	static const ev in[] = {
	    {.kind = EV_LEFT, .key = 1, .ts = 1, .id = 1, .wm = INT64_MIN},
	    {.kind = EV_RIGHT, .key = 1, .ts = 3, .id = 2, .wm = INT64_MIN},
	    {.kind = EV_LEFT, .key = 1, .ts = 5, .id = 3, .wm = INT64_MIN},
	    {.kind = EV_RIGHT, .key = 2, .ts = 4, .id = 4, .wm = INT64_MIN},
	    {.kind = EV_RIGHT, .key = 1, .ts = 12, .id = 5, .wm = INT64_MIN},
	    {.kind = EV_WM, .wm = 8},
	    {.kind = EV_WM, .wm = 9},
	    {.kind = EV_LEFT, .key = 1, .ts = 7, .id = 6, .wm = 9},
	    {.kind = EV_WM, .wm = FINAL_WM},
	};
	static const char *const want[] = {
	    "1|1|1|1|3|2|r2|0|10|@9",
	    "1|5|3|1|3|2|r2|0|10|@9",
	};
	char root[64];
	outs got = {0};
	wr_state *st;
	tm_join_cfg c = {0};
	(void)state;

	tm_join_cfg_from_spec(&c, spec, n);
	assert_int_equal(c.kind, WR_JOIN_WINDOW);
	assert_int_equal(c.size_ms, 10);
	assert_int_equal(c.slide_ms, 10);
	assert_int_equal(c.width[0], 3);
	assert_int_equal(c.width[1], 4);
	assert_int_equal(c.max_parallelism, 128);
	c.kg_last = c.max_parallelism - 1;
	c.emit = emit_cb;
	c.arg = &got;
	engines en = {.n = 1};
	en.j[0] = solo_open(&c, root, sizeof(root), &st);
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		feed(&en, &in[i]);
		/* nothing before the window's end - 1 */
		if (in[i].kind == EV_WM && in[i].wm == 8)
			assert_int_equal(got.n, 0);
	}
	assert_int_equal(got.n, 2);
	qsort(got.v, got.n, sizeof(char *), cmp_str);
	assert_string_equal(got.v[0], want[0]);
	assert_string_equal(got.v[1], want[1]);
	/* the record at 7 came after the window fired */
	assert_int_equal(tm_join_late_dropped(en.j[0]), 1);
	solo_close(en.j[0], st, root);
	outs_free(&got);
	wr_jobspec_free(spec);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_interval),
	    cmocka_unit_test(test_temporal),
	    cmocka_unit_test(test_window),
	    cmocka_unit_test(test_cleanup),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_key_equality),
	    cmocka_unit_test(test_corrupt_state),
	    cmocka_unit_test(test_from_spec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
