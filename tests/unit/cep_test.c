/*
 * cep_test.c - the pattern-matching engine (taskmanager/cep.c) against a
 * brute-force reference computed here from the same input: random
 * patterns (quantifiers, optional steps, next / followed_by /
 * followed_by_any, not_next / not_followed_by, within, the three skip
 * strategies, conditions on earlier steps, aggregates over a step's
 * events) over random events of several
 * keys; the reference enumerates every assignment of each key's events to
 * steps that the documented semantics (docs/cep.md) accept, and from them
 * the matches (in emission order, after the skip strategy) and the timed
 * out partial matches. Half the runs checkpoint the state in the middle
 * and go on from a restore split over two engines by key group. Then the
 * seeds' two fraud rules on hand-written input.
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

#include "cep.h"
#include "err.h"
#include "expr.h"
#include "fsutil.h"
#include "jobspec.h"
#include "record.h"
#include "state.h"

#define NKEYS 3
#define MAXE  10 /* events per key */
#define NKG   8  /* key groups; key i is in group i * 3 % NKG */

/* ---- events ------------------------------------------------------------ */

typedef struct ev {
	int key;
	int64_t ts;
	wr_row row; /* k, kind, v, ts */
} ev;

/* ---- output lists ------------------------------------------------------ */

typedef struct strs {
	char **s;
	size_t n, cap;
} strs;

static void
strs_add(strs *l, const char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->s = realloc(l->s, l->cap * sizeof(*l->s));
		assert_non_null(l->s);
	}
	l->s[l->n++] = strdup(s);
}

static void
strs_free(strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->s[i]);
	free(l->s);
	memset(l, 0, sizeof(*l));
}

static int
strs_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
strs_sort(strs *l)
{
	if (l->n > 1)
		qsort(l->s, l->n, sizeof(*l->s), strs_cmp);
}

/* Equal lists, or a failure that shows both. */
static const ev *dump_e;
static int dump_n;

static void
strs_check(const char *what, const strs *got, const strs *want,
           const char *yaml)
{
	bool same = got->n == want->n;

	for (size_t i = 0; same && i < got->n; i++)
		same = strcmp(got->s[i], want->s[i]) == 0;
	if (same)
		return;
	print_message("%s differ for:\n%s\n", what, yaml);
	for (size_t i = 0; i < got->n || i < want->n; i++)
		print_message("  engine %-60s reference %s\n",
		              i < got->n ? got->s[i] : "-",
		              i < want->n ? want->s[i] : "-");
	for (int i = 0; i < dump_n; i++)
		print_message("  event %d: ts %lld kind %.*s v %lld\n", i,
		              (long long)dump_e[i].ts,
		              (int)dump_e[i].row.v[1].u.s.len,
		              dump_e[i].row.v[1].u.s.p,
		              (long long)dump_e[i].row.v[2].u.i);
	fail();
}

static const char *const key_names[NKEYS] = {"k0", "k1", "k2"};
static const char *const kinds[] = {"A", "B", "C", "X"};

#define SRC                                                                    \
	"name: t\n"                                                            \
	"sources:\n"                                                           \
	"  s:\n"                                                               \
	"    kafka: { topic: in }\n"                                           \
	"    schema: { k: string, kind: string, v: long, ts: timestamp }\n"    \
	"    event_time: { field: ts }\n"                                      \
	"nodes:\n"                                                             \
	"  - id: p\n"                                                          \
	"    from: s\n"                                                        \
	"    key_by: [k]\n"                                                    \
	"    pattern:\n"

static ev
mkev(int key, const char *kind, int64_t v, int64_t ts)
{
	ev e = {.key = key, .ts = ts};

	e.row.n = 4;
	e.row.v[0] = wrt_vstr(key_names[key]);
	e.row.v[1] = wrt_vstr(kind);
	e.row.v[2] = wrt_vlong(v);
	e.row.v[3] = wrt_vts(ts);
	return e;
}

/* ---- the brute-force reference ------------------------------------------ */

typedef struct bfp {
	int len;
	int idx[MAXE], st[MAXE];
} bfp;

typedef struct bfm {
	bfp p;
	bool emitted;
} bfm;

typedef struct bf {
	const wr_node_spec *n;
	const wr_pattern_spec *ps;
	const ev *e; /* the key's events */
	int ne;
	bfm *m; /* matches */
	size_t nm, capm;
	bfp *pre; /* incomplete partial matches */
	size_t npre, cappre;
	wr_arena arena;
	uint32_t aggs[WR_CEP_MAX_STEPS]; /* per step: fields aggregated */
} bf;

static const bf *bf_cur; /* for the qsort comparator */

static int
bf_count(const bfp *p, int s, int *first, int *last)
{
	int n = 0;

	for (int i = 0; i < p->len; i++)
		if (p->st[i] == s) {
			if (n++ == 0 && first)
				*first = i;
			if (last)
				*last = i;
		}
	return n;
}

static bool
bf_is_agg(int kind)
{
	return kind == WR_EXPR_REF_SUM || kind == WR_EXPR_REF_AVG ||
	       kind == WR_EXPR_REF_MIN || kind == WR_EXPR_REF_MAX;
}

/* Aggregate kind (or COUNT: of the non-null values) of field f over p's
 * events at step s, from the events themselves. The random schema's
 * aggregated fields are long (v) and timestamp (ts). */
static wr_value
bf_agg(const bf *b, const bfp *p, int kind, int s, int f)
{
	wr_value acc = wrt_vnull(), x;
	int n = 0;

	for (int i = 0; i < p->len; i++) {
		if (p->st[i] != s)
			continue;
		x = b->e[p->idx[i]].row.v[f];
		assert_true(x.type == WR_T_LONG || x.type == WR_T_TIMESTAMP);
		if (n++ == 0)
			acc = x;
		else if (kind == WR_EXPR_REF_SUM || kind == WR_EXPR_REF_AVG)
			acc.u.i += x.u.i;
		else if (kind == WR_EXPR_REF_MIN ? x.u.i < acc.u.i
		                                 : x.u.i > acc.u.i)
			acc = x;
	}
	if (kind == WR_EXPR_REF_COUNT)
		return wrt_vlong(n);
	if (kind == WR_EXPR_REF_AVG && n > 0)
		return wrt_vdouble((double)acc.u.i / n);
	return acc;
}

/* The fields each step aggregates, from every expression's references. */
static void
bf_aggs_of(bf *b, const wr_expr *e)
{
	size_t n;
	const wr_expr_ref *r = e != NULL ? wr_expr_refs(e, &n) : NULL;

	for (size_t k = 0; r != NULL && k < n; k++)
		if (bf_is_agg(r[k].kind))
			b->aggs[r[k].step] |= 1u << r[k].field;
}

/* e's references given the events of p (NULL: none). */
static void
bf_refs(const bf *b, const wr_expr *e, const bfp *p, wr_value *out)
{
	size_t n;
	const wr_expr_ref *r = wr_expr_refs(e, &n);

	assert_true(n <= 16);
	for (size_t k = 0; k < n; k++) {
		int first = 0, last = 0;
		int c = p ? bf_count(p, r[k].step, &first, &last) : 0;
		if (r[k].kind == WR_EXPR_REF_COUNT)
			out[k] = wrt_vlong(c);
		else if (c == 0)
			out[k] = wrt_vnull();
		else if (bf_is_agg(r[k].kind))
			out[k] = bf_agg(b, p, r[k].kind, r[k].step, r[k].field);
		else
			out[k] =
			    b->e[p->idx[r[k].kind == WR_EXPR_REF_FIRST ? first
			                                               : last]]
			        .row.v[r[k].field];
	}
}

static bool
bf_cond(bf *b, int t, const bfp *p, int j)
{
	const wr_expr *w = b->ps->steps[t].where;
	wr_value refs[16], v;

	if (w == NULL)
		return true;
	bf_refs(b, w, p, refs);
	return wr_expr_eval_refs(w, &b->e[j].row, refs, &v, &b->arena) ==
	           WR_OK &&
	       v.type == WR_T_BOOL && v.u.b;
}

static bool
bf_neg(const wr_pattern_step *s)
{
	return s->contiguity == WR_CONT_NOT_NEXT ||
	       s->contiguity == WR_CONT_NOT_FOLLOWED_BY;
}

/* The steps the next event may go to (s = -1: the first event). */
static int
bf_targets(const bf *b, int s, int cnt, int *out)
{
	int n = 0;

	if (s >= 0 && (uint32_t)cnt < b->ps->steps[s].max)
		out[n++] = s;
	if (s >= 0 && (uint32_t)cnt < b->ps->steps[s].min)
		return n;
	for (int t = s + 1; t < b->ps->nsteps; t++) {
		if (bf_neg(&b->ps->steps[t]))
			continue;
		out[n++] = t;
		if (!b->ps->steps[t].optional)
			break;
	}
	return n;
}

static bool
bf_complete(const bf *b, const bfp *p)
{
	int last = b->ps->nsteps - 1;

	return p->st[p->len - 1] == last &&
	       (uint32_t)bf_count(p, last, NULL, NULL) >=
	           b->ps->steps[last].min;
}

/* May p, waiting for step t, let event m (after its last) go by? */
static bool
bf_skippable(bf *b, const bfp *p, int t, int m)
{
	int s = p->st[p->len - 1], last = p->idx[p->len - 1];
	enum wr_contiguity c = b->ps->steps[t].contiguity;

	if (c == WR_CONT_NEXT ||
	    (c == WR_CONT_FOLLOWED_BY && bf_cond(b, t, p, m)))
		return false;
	for (int n = s + 1; n < t; n++) {
		const wr_pattern_step *ns = &b->ps->steps[n];
		if (ns->contiguity == WR_CONT_NOT_FOLLOWED_BY &&
		    bf_cond(b, n, p, m))
			return false;
		if (ns->contiguity == WR_CONT_NOT_NEXT && m == last + 1 &&
		    bf_cond(b, n, p, m))
			return false;
	}
	return true;
}

/* May p take event j at step t (the events between skipped)? */
static bool
bf_may_take(bf *b, const bfp *p, int t, int j)
{
	int s = p->st[p->len - 1], last = p->idx[p->len - 1];

	if (!bf_cond(b, t, p, j))
		return false;
	if (b->ps->steps[t].contiguity == WR_CONT_NEXT && j != last + 1)
		return false;
	for (int n = s + 1; n < t; n++)
		if (b->ps->steps[n].contiguity == WR_CONT_NOT_NEXT &&
		    bf_cond(b, n, p, last + 1))
			return false;
	for (int m = last + 1; m < j; m++)
		if (!bf_skippable(b, p, t, m))
			return false;
	return true;
}

static void
bf_record(bf *b, const bfp *p)
{
	if (bf_complete(b, p)) {
		if (b->nm == b->capm) {
			b->capm = b->capm ? b->capm * 2 : 64;
			b->m = realloc(b->m, b->capm * sizeof(*b->m));
		}
		b->m[b->nm++] = (bfm){.p = *p};
	} else {
		if (b->npre == b->cappre) {
			b->cappre = b->cappre ? b->cappre * 2 : 64;
			b->pre = realloc(b->pre, b->cappre * sizeof(*b->pre));
		}
		b->pre[b->npre++] = *p;
	}
}

static void
bf_extend(bf *b, bfp *p)
{
	int s = p->st[p->len - 1], last = p->idx[p->len - 1];
	int start = p->idx[0], tg[WR_CEP_MAX_STEPS];
	int nt = bf_targets(b, s, bf_count(p, s, NULL, NULL), tg);

	for (int k = 0; k < nt; k++)
		for (int j = last + 1; j < b->ne; j++) {
			if (b->ps->within_ms > 0 &&
			    b->e[j].ts - b->e[start].ts >= b->ps->within_ms)
				break;
			if (!bf_may_take(b, p, tg[k], j))
				continue;
			p->idx[p->len] = j;
			p->st[p->len++] = tg[k];
			bf_record(b, p);
			bf_extend(b, p);
			p->len--;
		}
}

static int
bf_vcmp(wr_value a, wr_value b)
{
	if (a.type == WR_T_NULL || b.type == WR_T_NULL)
		return (a.type != WR_T_NULL) - (b.type != WR_T_NULL);
	return (a.u.i > b.u.i) - (a.u.i < b.u.i);
}

/* docs/cep.md: matches equal in their events' positions, by their
 * aggregates: step by step, field by field in schema order, sum, min,
 * max, count of values, smaller first. */
static int
bf_order_aggs(const bfp *a, const bfp *b)
{
	static const int agg_kinds[] = {WR_EXPR_REF_SUM, WR_EXPR_REF_MIN,
	                                WR_EXPR_REF_MAX, WR_EXPR_REF_COUNT};
	int d;

	for (int s = 0; s < bf_cur->ps->nsteps; s++)
		for (int f = 0; f < 32; f++) {
			if (((bf_cur->aggs[s] >> f) & 1u) == 0 ||
			    bf_count(a, s, NULL, NULL) == 0)
				continue;
			for (int k = 0; k < 4; k++)
				if ((d = bf_vcmp(
				         bf_agg(bf_cur, a, agg_kinds[k], s, f),
				         bf_agg(bf_cur, b, agg_kinds[k], s,
				                f))) != 0)
					return d;
		}
	return 0;
}

static int
bf_order(const void *x, const void *y)
{
	const bfp *a = &((const bfm *)x)->p, *b = &((const bfm *)y)->p;
	int ea = a->idx[a->len - 1], eb = b->idx[b->len - 1];

	if (ea != eb)
		return ea - eb;
	if (a->idx[0] != b->idx[0])
		return a->idx[0] - b->idx[0];
	for (int s = 0; s < bf_cur->ps->nsteps; s++) {
		int fa = 0, fb = 0, la = 0, lb = 0;
		int ca = bf_count(a, s, &fa, &la),
		    cb = bf_count(b, s, &fb, &lb);
		int ia = ca ? a->idx[fa] : MAXE, ib = cb ? b->idx[fb] : MAXE;
		if (ia != ib)
			return ia - ib;
		if (ca != cb)
			return cb - ca;
		if (ca && a->idx[la] != b->idx[lb])
			return a->idx[la] - b->idx[lb];
	}
	return bf_order_aggs(a, b);
}

/* The output row of p as JSON, ending at its last event. */
static void
bf_row(bf *b, const bfp *p, wr_buf *out)
{
	wr_row r = {.n = 0};
	wr_value refs[16];

	r.v[r.n++] = b->e[0].row.v[0];
	r.v[r.n++] = wrt_vts(b->e[p->idx[0]].ts);
	r.v[r.n++] = wrt_vts(b->e[p->idx[p->len - 1]].ts);
	for (size_t j = 0; j < b->ps->nemit; j++) {
		bf_refs(b, b->ps->emit[j].expr, p, refs);
		if (wr_expr_eval_refs(b->ps->emit[j].expr, NULL, refs,
		                      &r.v[r.n], &b->arena) != WR_OK)
			r.v[r.n].type = WR_T_NULL;
		r.n++;
	}
	wr_buf_reset(out);
	wr_row_to_json(&b->n->out, &r, out);
}

/* Was partial match p alive when within expired it? */
static bool
bf_timed_out(bf *b, const bfp *p)
{
	int start = p->idx[0], last = p->idx[p->len - 1], end = start, tg[32];
	int nt = bf_targets(b, p->st[p->len - 1],
	                    bf_count(p, p->st[p->len - 1], NULL, NULL), tg);
	bool alive = false;

	while (end < b->ne && b->e[end].ts - b->e[start].ts < b->ps->within_ms)
		end++;
	for (int k = 0; k < nt && !alive; k++) {
		alive = true;
		for (int m = last + 1; m < end && alive; m++)
			alive = bf_skippable(b, p, tg[k], m);
	}
	for (size_t i = 0; alive && i < b->nm; i++) {
		const bfp *m = &b->m[i].p;
		int mend = m->idx[m->len - 1];
		if (b->ps->skip == WR_SKIP_NO_SKIP || !b->m[i].emitted ||
		    mend < start || mend >= end)
			continue;
		if (b->ps->skip == WR_SKIP_PAST_LAST_EVENT ||
		    start <= m->idx[0])
			alive = false;
	}
	return alive;
}

/* The reference's matches (in order) and timeouts (sorted) of one key. */
static void
bf_run(bf *b, strs *matches, strs *timeouts)
{
	int tg[WR_CEP_MAX_STEPS], nt = bf_targets(b, -1, 0, tg);
	bool pruned = false;
	int thr = -1;
	wr_buf out;
	bfp p;

	wr_buf_init(&out);
	bf_cur = b;
	for (int k = 0; k < b->ps->nsteps; k++)
		bf_aggs_of(b, b->ps->steps[k].where);
	for (size_t j = 0; j < b->ps->nemit; j++)
		bf_aggs_of(b, b->ps->emit[j].expr);
	for (int j = 0; j < b->ne; j++)
		for (int k = 0; k < nt; k++)
			if (bf_cond(b, tg[k], NULL, j)) {
				p = (bfp){.len = 1, .idx = {j}, .st = {tg[k]}};
				bf_record(b, &p);
				bf_extend(b, &p);
			}
	if (b->nm > 1)
		qsort(b->m, b->nm, sizeof(*b->m), bf_order);
	for (size_t i = 0; i < b->nm; i++) {
		const bfp *m = &b->m[i].p;
		if (pruned && m->idx[0] <= thr)
			continue;
		b->m[i].emitted = true;
		bf_row(b, m, &out);
		strs_add(matches, out.data);
		if (b->ps->skip == WR_SKIP_NO_SKIP)
			continue;
		pruned = true;
		thr = b->ps->skip == WR_SKIP_PAST_LAST_EVENT
		          ? m->idx[m->len - 1]
		          : m->idx[0];
	}
	for (size_t i = 0; b->ps->within_ms > 0 && i < b->npre; i++)
		if (bf_timed_out(b, &b->pre[i])) {
			bf_row(b, &b->pre[i], &out);
			strs_add(timeouts, out.data);
		}
	wr_buf_fini(&out);
}

/* ---- driving the engine ------------------------------------------------ */

typedef struct sink {
	const wr_node_spec *n;
	strs match[NKEYS], timeout[NKEYS];
	bool timeout_side;
} sink;

static int
key_of(const wr_row *r)
{
	int k = r->v[0].u.s.p[1] - '0';
	assert_true(k >= 0 && k < NKEYS);
	return k;
}

static int
on_row(void *arg, const wr_row *r, bool timeout)
{
	sink *s = arg;
	wr_buf b;

	wr_buf_init(&b);
	wr_row_to_json(&s->n->out, r, &b);
	strs_add(timeout ? &s->timeout[key_of(r)] : &s->match[key_of(r)],
	         b.data);
	wr_buf_fini(&b);
	return WR_OK;
}

static int
on_match(void *arg, const wr_row *r)
{
	return on_row(arg, r, false);
}

static int
on_timeout(void *arg, const wr_row *r)
{
	return on_row(arg, r, true);
}

static uint16_t
kg_of(int key)
{
	return (uint16_t)(key * 3 % NKG);
}

/* Three backends for all runs (each run leaves them empty, which the
 * runs check): the engine's, and the two halves of its restore. */
static char g_dir[3][256], g_snap[300];
static uint64_t tot_restored; /* entries the restores brought back */
static wr_state *g_st[3];

typedef struct engines {
	wr_state *st[2];
	tm_cep *c[2];
	int n; /* 1 before the restore, 2 after */
} engines;

static int
group_setup(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++)
		if (wrt_tmpdir(g_dir[i], 256, "cep") != 0 ||
		    wr_state_open(g_dir[i], NULL, &g_st[i]) != WR_OK)
			return -1;
	snprintf(g_snap, sizeof(g_snap), "%s/snap", g_dir[2]);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++) {
		wr_state_close(g_st[i]);
		wr_rmtree(g_dir[i]);
	}
	return 0;
}

static void
engine_open(engines *x, int i, const wr_node_spec *n, sink *s, uint16_t lo,
            uint16_t hi)
{
	tm_cep_opts o = {.node = n,
	                 .kg_first = lo,
	                 .kg_last = hi,
	                 .on_match = on_match,
	                 .on_timeout = on_timeout,
	                 .arg = s};
	o.st = x->st[i];
	assert_int_equal(tm_cep_new(&o, &x->c[i]), WR_OK);
}

static void
engines_init(engines *x, const wr_node_spec *n, sink *s)
{
	memset(x, 0, sizeof(*x));
	x->st[0] = g_st[0];
	engine_open(x, 0, n, s, 0, NKG - 1);
	x->n = 1;
}

/* Collects every entry's (key group, state id, key) to delete them. */
static int
clear_fn(void *arg, uint16_t kg, const void *key, size_t klen, const void *val,
         size_t vlen)
{
	wr_buf *b = arg;
	uint32_t n = (uint32_t)klen;

	(void)val, (void)vlen;
	wr_buf_append(b, &kg, sizeof(kg));
	wr_buf_append(b, &n, sizeof(n));
	wr_buf_append(b, key, klen);
	return 0;
}

static void
state_clear(wr_state *st)
{
	static const uint8_t ids[] = {TM_CEP_ST_KEYS, TM_CEP_ST_TIMERS};
	wr_buf b;

	wr_buf_init(&b);
	for (int i = 0; i < 2; i++) {
		wr_buf_reset(&b);
		assert_int_equal(
		    wr_state_scan(st, ids[i], 0, NKG - 1, clear_fn, &b), WR_OK);
		for (size_t pos = 0; pos < b.len;) {
			uint16_t kg;
			uint32_t n;
			memcpy(&kg, b.data + pos, sizeof(kg));
			memcpy(&n, b.data + pos + sizeof(kg), sizeof(n));
			pos += sizeof(kg) + sizeof(n);
			assert_int_equal(
			    wr_state_del(st, kg, ids[i], b.data + pos, n),
			    WR_OK);
			pos += n;
		}
	}
	wr_buf_fini(&b);
}

/* Checkpoint, then restore into two engines split by key group. */
static void
engines_restore(engines *x, const wr_node_spec *n, sink *s)
{
	uint64_t entries = 0, more = 0;

	assert_int_equal(wr_state_snapshot(x->st[0], g_snap), WR_OK);
	tm_cep_free(x->c[0]);
	state_clear(g_st[0]);
	x->st[0] = g_st[1];
	x->st[1] = g_st[2];
	assert_int_equal(
	    wr_state_import(x->st[0], g_snap, 0, NKG / 2 - 1, &entries), WR_OK);
	assert_int_equal(
	    wr_state_import(x->st[1], g_snap, NKG / 2, NKG - 1, &more), WR_OK);
	engine_open(x, 0, n, s, 0, NKG / 2 - 1);
	engine_open(x, 1, n, s, NKG / 2, NKG - 1);
	x->n = 2;
	tot_restored += entries + more;
}

static tm_cep *
engine_for(engines *x, int key)
{
	return x->n == 1 || kg_of(key) < NKG / 2 ? x->c[0] : x->c[1];
}

static void
engines_advance(engines *x, int64_t wm)
{
	for (int i = 0; i < x->n; i++)
		assert_int_equal(tm_cep_advance(x->c[i], wm), WR_OK);
}

/* After the last watermark every backend is empty again: no partial
 * match nor timer is left behind. */
static void
engines_fini(engines *x)
{
	tm_cep_stats st;
	wr_state_stats ss;

	for (int i = 0; i < x->n; i++) {
		tm_cep_get_stats(x->c[i], &st);
		assert_int_equal(st.dropped, 0);
		tm_cep_free(x->c[i]);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(wr_state_flush(g_st[i]), WR_OK);
		wr_state_get_stats(g_st[i], &ss);
		assert_int_equal(ss.entries, 0);
	}
}

/* ---- random patterns and events ---------------------------------------- */

static uint64_t rng = 0x5eed;
/* What the random runs covered (a run that matched nothing proves
 * little): matches, timeouts, runs with a negated step. */
static size_t tot_matches, tot_timeouts, tot_neg, tot_unbounded;

static int
rnd(int n)
{
	return (int)wrt_rng_below(&rng, (uint64_t)n);
}

/* An earlier step that matches events (step 0 always does). */
static int
rnd_earlier(int k, const int *neg)
{
	int j = rnd(k);
	while (neg[j])
		j--;
	return j;
}

/* A random condition of step k: on the event, on earlier steps, and (not
 * negated) on its own events so far. */
static const char *
rnd_where(int k, const int *neg, char *buf, size_t len)
{
	static const char *const plain[] = {"kind == 'A'", "kind == 'B'",
	                                    "kind != 'X'",
	                                    "kind == 'A' || "
	                                    "kind == 'C'",
	                                    "v > 4"};
	int pick = rnd(k > 0 ? 11 : 6);
	/* an aggregate's step: its own (not negated) or an earlier one */
	int j = k > 0 ? rnd_earlier(k, neg) : 0;
	if (!neg[k] && rnd(2))
		j = k;

	if (pick < 5 || (pick == 5 && neg[k]))
		snprintf(buf, len, "%s", plain[pick % 5]);
	else if (pick == 5)
		snprintf(buf, len, "count(s%d) < 2 || v >= s%d.v", k, k);
	else if (pick == 6)
		snprintf(buf, len, "v > s%d.v", rnd_earlier(k, neg));
	else if (pick == 7)
		snprintf(buf, len, "kind != s%d.kind", rnd_earlier(k, neg));
	else if (pick == 8)
		snprintf(buf, len, "v + first(s0.v) > 7");
	else if (pick == 9)
		snprintf(buf, len, "v * 2 > avg(s%d.v) + 3", j);
	else
		snprintf(buf, len,
		         "sum(s%d.v) + v < 14 || max(s%d.ts) - min(s%d.ts) < 2",
		         j, j, j);
	return buf;
}

/* A random pattern of 2 to 4 steps as the job's YAML. */
static void
rnd_pattern(char *y, size_t len)
{
	static const char *const conts[] = {"next", "followed_by",
	                                    "followed_by_any"};
	static const char *const skips[] = {"no_skip", "past_last_event",
	                                    "skip_to_next"};
	int nsteps = 2 + rnd(3), neg[4] = {0};
	size_t o = 0;
	char w[96];

	o += snprintf(y + o, len - o, SRC "      contiguity: %s\n",
	              conts[rnd(3)]);
	o += snprintf(y + o, len - o, "      within: %dms\n", 3 + rnd(10));
	o += snprintf(y + o, len - o, "      skip: %s\n", skips[rnd(3)]);
	o += snprintf(y + o, len - o, "      steps:\n");
	for (int k = 0; k < nsteps; k++) {
		bool mid = k > 0 && k < nsteps - 1 && !neg[k - 1];
		neg[k] = mid && rnd(4) == 0;
		o += snprintf(y + o, len - o,
		              "        - { name: s%d, where: \"%s\"", k,
		              rnd_where(k, neg, w, sizeof(w)));
		if (neg[k]) {
			o += snprintf(y + o, len - o, ", contiguity: %s }\n",
			              rnd(2) ? "not_next" : "not_followed_by");
			continue;
		}
		if (rnd(3) == 0)
			o += snprintf(y + o, len - o, ", contiguity: %s",
			              conts[rnd(3)]);
		switch (rnd(6)) {
		case 0:
			o += snprintf(y + o, len - o, ", times: 2");
			break;
		case 1:
			o += snprintf(y + o, len - o, ", times: [1, 3]");
			break;
		case 2:
			o += snprintf(y + o, len - o, ", one_or_more: true");
			break;
		default:
			break;
		}
		if (k < nsteps - 1 && rnd(4) == 0)
			o += snprintf(y + o, len - o, ", optional: true");
		o += snprintf(y + o, len - o, " }\n");
	}
	o += snprintf(y + o, len - o, "      emit: { f0: \"first(s0.ts)\"");
	for (int k = 0; k < nsteps; k++)
		if (!neg[k])
			o += snprintf(y + o, len - o,
			              ", n%d: \"count(s%d)\", l%d: \"s%d.v\"",
			              k, k, k, k);
	/* The aggregates of a step: ties of followed_by_any loops then
	 * emit different rows, in the aggregates' order. */
	int ag = rnd(nsteps);
	if (!neg[ag] && rnd(2))
		o += snprintf(y + o, len - o,
		              ", g: \"sum(s%d.v)\", a: \"avg(s%d.v)\", m: "
		              "\"min(s%d.ts)\", x: \"max(s%d.v)\"",
		              ag, ag, ag, ag);
	o += snprintf(y + o, len - o,
	              " }\n"
	              "      timeout_output: late\n"
	              "  - id: out\n"
	              "    from: p\n"
	              "    sink: { stdout: {} }\n");
	assert_true(o < len);
	/* Every step strict: within is optional, so drop it at times. */
	if (strstr(y, "followed_by") == NULL && rnd(2)) {
		static const char *const drop[] = {"      within: ",
		                                   "      timeout_output: "};
		for (int i = 0; i < 2; i++) {
			char *at = strstr(y, drop[i]);
			char *nl = strchr(at, '\n') + 1;
			memmove(at, nl, strlen(nl) + 1);
		}
	}
}

/* Each key's events in ts order (ties too), merged in ts order. */
static int
rnd_events(ev *all, ev per[NKEYS][MAXE], int *nper)
{
	int n = 0, pos[NKEYS] = {0};

	for (int k = 0; k < NKEYS; k++) {
		int64_t ts = 1000 + rnd(4);
		nper[k] = MAXE / 2 + rnd(MAXE / 2 + 1);
		for (int i = 0; i < nper[k]; i++) {
			per[k][i] = mkev(k, kinds[rnd(4)], rnd(10), ts);
			ts += rnd(4);
		}
	}
	for (;;) {
		int best = -1;
		for (int k = 0; k < NKEYS; k++)
			if (pos[k] < nper[k] &&
			    (best < 0 ||
			     per[k][pos[k]].ts < per[best][pos[best]].ts))
				best = k;
		if (best < 0)
			return n;
		all[n++] = per[best][pos[best]++];
	}
}

/* One random pattern over random events, against the reference. */
static void
run_random(bool restore)
{
	char yaml[4096];
	ev all[NKEYS * MAXE], per[NKEYS][MAXE];
	int nper[NKEYS], n;
	sink s;
	engines x;

	rnd_pattern(yaml, sizeof(yaml));
	tot_neg += strstr(yaml, "not_") != NULL;
	n = rnd_events(all, per, nper);
	wr_jobspec *spec = wrt_job(yaml, 0);
	const wr_node_spec *node = &spec->nodes[wr_jobspec_find(spec, "p")];
	memset(&s, 0, sizeof(s));
	s.n = node;
	engines_init(&x, node, &s);
	for (int i = 0; i < n; i++) {
		const char *k = key_names[all[i].key];
		if (restore && i == n / 2)
			engines_restore(&x, node, &s);
		assert_int_equal(tm_cep_feed(engine_for(&x, all[i].key),
		                             kg_of(all[i].key), k, strlen(k),
		                             &all[i].row, all[i].ts),
		                 WR_OK);
		/* A watermark just below the next event's time, at times. */
		if (i + 1 < n && all[i + 1].ts > all[i].ts && rnd(2))
			engines_advance(&x, all[i + 1].ts - 1);
	}
	engines_advance(&x, INT64_MAX);
	for (int k = 0; k < NKEYS; k++) {
		bf b = {.n = node,
		        .ps = &node->pattern,
		        .e = per[k],
		        .ne = nper[k]};
		strs want_m = {0}, want_t = {0};
		wr_arena_init(&b.arena, 1 << 20);
		bf_run(&b, &want_m, &want_t);
		dump_e = per[k];
		dump_n = nper[k];
		strs_check("matches", &s.match[k], &want_m, yaml);
		tot_matches += want_m.n;
		tot_timeouts += want_t.n;
		strs_sort(&s.timeout[k]);
		strs_sort(&want_t);
		strs_check("timeouts", &s.timeout[k], &want_t, yaml);
		strs_free(&want_m);
		strs_free(&want_t);
		strs_free(&s.match[k]);
		strs_free(&s.timeout[k]);
		free(b.m);
		free(b.pre);
		wr_arena_fini(&b.arena);
	}
	/* Without within, partial matches stay (engines_fini checks the
	 * backends are empty). */
	if (node->pattern.within_ms == 0) {
		tot_unbounded++;
		for (int i = 0; i < 3; i++)
			state_clear(g_st[i]);
	}
	engines_fini(&x);
	wr_jobspec_free(spec);
}

static void
test_random_patterns(void **state)
{
	(void)state;
	for (int i = 0; i < 400; i++)
		run_random(false);
	print_message("%zu matches, %zu timeouts, %zu runs with negation, "
	              "%zu without within\n",
	              tot_matches, tot_timeouts, tot_neg, tot_unbounded);
	assert_true(tot_matches > 1000 && tot_timeouts > 1000 && tot_neg > 40 &&
	            tot_unbounded > 10);
}

static void
test_random_patterns_restored(void **state)
{
	(void)state;
	for (int i = 0; i < 60; i++)
		run_random(true);
	assert_true(tot_restored > 60);
}

/* ---- the seeds' rules on hand-written input ----------------------------- */

#define MIN (60 * 1000)

/* Collects rows of any schema (keys ignored) as JSON. */
typedef struct flat {
	const wr_node_spec *n;
	strs match, timeout;
} flat;

static int
flat_row(flat *f, const wr_row *r, strs *to)
{
	wr_buf b;

	wr_buf_init(&b);
	wr_row_to_json(&f->n->out, r, &b);
	strs_add(to, b.data);
	wr_buf_fini(&b);
	return WR_OK;
}

static int
flat_match(void *arg, const wr_row *r)
{
	flat *f = arg;
	return flat_row(f, r, &f->match);
}

static int
flat_timeout(void *arg, const wr_row *r)
{
	flat *f = arg;
	return flat_row(f, r, &f->timeout);
}

static void
expect(const char *what, strs *got, const char *const *want, size_t n)
{
	strs w = {0};

	for (size_t i = 0; i < n; i++)
		strs_add(&w, want[i]);
	strs_check(what, got, &w, "(hand-written)");
	strs_free(&w);
}

/* A backend, an engine over key group 0 and the rows it emits. */
typedef struct rig {
	char dir[256];
	wr_state *st;
	tm_cep *c;
	wr_jobspec *spec;
	flat f;
} rig;

static void
rig_init(rig *r, const char *yaml)
{
	memset(r, 0, sizeof(*r));
	r->spec = wrt_job(yaml, 0);
	r->f.n = &r->spec->nodes[wr_jobspec_find(r->spec, "p")];
	assert_int_equal(wrt_tmpdir(r->dir, sizeof(r->dir), "cep"), 0);
	assert_int_equal(wr_state_open(r->dir, NULL, &r->st), WR_OK);
	tm_cep_opts o = {.node = r->f.n,
	                 .st = r->st,
	                 .on_match = flat_match,
	                 .on_timeout = flat_timeout,
	                 .arg = &r->f};
	assert_int_equal(tm_cep_new(&o, &r->c), WR_OK);
}

/* Feeds (key, a string, a double, ts) rows of schema { key, s, x, ts }. */
static void
rig_feed(rig *r, const char *key, const char *str, double x, int64_t ts)
{
	wr_row row = {.n = 4};

	row.v[0] = wrt_vstr(key);
	row.v[1] = wrt_vstr(str);
	row.v[2] = wrt_vdouble(x);
	row.v[3] = wrt_vts(ts);
	assert_int_equal(tm_cep_feed(r->c, 0, key, strlen(key), &row, ts),
	                 WR_OK);
}

static void
rig_fini(rig *r)
{
	tm_cep_free(r->c);
	wr_state_close(r->st);
	wr_rmtree(r->dir);
	strs_free(&r->f.match);
	strs_free(&r->f.timeout);
	wr_jobspec_free(r->spec);
}

static const char *const card_matches[] = {
    "{\"card\":\"c1\",\"match_start\":\"1970-01-01T00:00:00.000Z\","
    "\"match_end\":\"1970-01-01T00:01:10.000Z\",\"first_decline\":"
    "\"1970-01-01T00:00:00.000Z\",\"last_decline\":\"1970-01-01T00:"
    "01:00.000Z\",\"amount\":99.5}",
    "{\"card\":\"c2\",\"match_start\":\"1970-01-01T00:00:30.000Z\","
    "\"match_end\":\"1970-01-01T00:01:00.000Z\",\"first_decline\":"
    "\"1970-01-01T00:00:30.000Z\",\"last_decline\":\"1970-01-01T00:"
    "00:50.000Z\",\"amount\":12}",
    "{\"card\":\"c3\",\"match_start\":\"1970-01-01T00:00:01.000Z\","
    "\"match_end\":\"1970-01-01T00:00:04.000Z\",\"first_decline\":"
    "\"1970-01-01T00:00:01.000Z\",\"last_decline\":\"1970-01-01T00:"
    "00:03.000Z\",\"amount\":7}",
};

static const char *const card_timeouts[] = {
    "{\"card\":\"c4\",\"match_start\":\"1970-01-01T00:00:00.000Z\","
    "\"match_end\":\"1970-01-01T00:02:00.000Z\",\"first_decline\":"
    "\"1970-01-01T00:00:00.000Z\",\"last_decline\":\"1970-01-01T00:"
    "02:00.000Z\",\"amount\":null}",
    "{\"card\":\"c4\",\"match_start\":\"1970-01-01T00:01:00.000Z\","
    "\"match_end\":\"1970-01-01T00:02:00.000Z\",\"first_decline\":"
    "\"1970-01-01T00:01:00.000Z\",\"last_decline\":\"1970-01-01T00:"
    "02:00.000Z\",\"amount\":null}",
};

/* "Three failed card authorisations then a success within 5 minutes",
 * the SPEC's card_fraud node: strict contiguity, times: 3, past the last
 * event, timeouts. */
static void
test_seed_card_fraud(void **state)
{
	(void)state;
	rig r;

	rig_init(
	    &r,
	    "name: t\n"
	    "sources:\n"
	    "  auths:\n"
	    "    kafka: { topic: auths }\n"
	    "    schema: { card: string, status: string, amount: double, "
	    "ts: timestamp }\n"
	    "    event_time: { field: ts }\n"
	    "nodes:\n"
	    "  - id: p\n"
	    "    from: auths\n"
	    "    key_by: [card]\n"
	    "    pattern:\n"
	    "      steps:\n"
	    "        - { name: declined, where: \"status == 'DECLINED'\", "
	    "times: 3 }\n"
	    "        - { name: approved, where: \"status == 'APPROVED'\" }\n"
	    "      contiguity: next\n"
	    "      within: 5m\n"
	    "      skip: past_last_event\n"
	    "      emit: { first_decline: \"first(declined.ts)\", "
	    "last_decline: \"declined.ts\", amount: \"approved.amount\" }\n"
	    "      timeout_output: fraud_timeouts\n"
	    "  - id: out\n"
	    "    from: p\n"
	    "    sink: { stdout: {} }\n");
	/* c1: the rule; c2: a stray event breaks the first run; c3: four
	 * declines, the last three count; c4: too slow (two partial matches
	 * time out, the third dies on the strict approval). */
	rig_feed(&r, "c1", "DECLINED", 1, 0);
	rig_feed(&r, "c1", "DECLINED", 1, 30000);
	rig_feed(&r, "c1", "DECLINED", 1, MIN);
	rig_feed(&r, "c1", "APPROVED", 99.5, MIN + 10000);
	int64_t c2[] = {0, 10000, 20000, 30000, 40000, 50000, 60000};
	const char *c2s[] = {"DECLINED", "DECLINED", "REVERSED", "DECLINED",
	                     "DECLINED", "DECLINED", "APPROVED"};
	for (int i = 0; i < 7; i++)
		rig_feed(&r, "c2", c2s[i], 12, c2[i]);
	for (int i = 0; i < 4; i++)
		rig_feed(&r, "c3", "DECLINED", 1, i * 1000);
	rig_feed(&r, "c3", "APPROVED", 7, 4000);
	rig_feed(&r, "c3", "APPROVED", 7, 5000); /* no second match */
	rig_feed(&r, "c4", "DECLINED", 1, 0);
	rig_feed(&r, "c4", "DECLINED", 1, MIN);
	rig_feed(&r, "c4", "DECLINED", 1, 2 * MIN);
	rig_feed(&r, "c4", "APPROVED", 5, 6 * MIN);
	assert_int_equal(tm_cep_advance(r.c, INT64_MAX), WR_OK);
	strs_sort(&r.f.match);
	strs_sort(&r.f.timeout);
	expect("card_fraud matches", &r.f.match, card_matches, 3);
	expect("card_fraud timeouts", &r.f.timeout, card_timeouts, 2);
	rig_fini(&r);
}

static const char *const pw_matches[] = {
    "{\"user\":\"u1\",\"match_start\":\"1970-01-01T00:00:00.000Z\","
    "\"match_end\":\"1970-01-01T00:00:30.000Z\",\"changed_at\":"
    "\"1970-01-01T00:00:00.000Z\",\"amount\":300,\"times_avg\":15}",
    "{\"user\":\"u4\",\"match_start\":\"1970-01-01T00:00:00.000Z\","
    "\"match_end\":\"1970-01-01T00:00:20.000Z\",\"changed_at\":"
    "\"1970-01-01T00:00:00.000Z\",\"amount\":300,\"times_avg\":15}",
};

static const char *const pw_timeouts[] = {
    "{\"user\":\"u2\",\"match_start\":\"1970-01-01T00:00:00.000Z\","
    "\"match_end\":\"1970-01-01T00:00:00.000Z\",\"changed_at\":"
    "\"1970-01-01T00:00:00.000Z\",\"amount\":null,\"times_avg\":null}",
    "{\"user\":\"u3\",\"match_start\":\"1970-01-01T00:00:01.000Z\","
    "\"match_end\":\"1970-01-01T00:00:01.000Z\",\"changed_at\":"
    "\"1970-01-01T00:00:01.000Z\",\"amount\":null,\"times_avg\":null}",
};

/* "A purchase above 10x the customer's average within 1 minute of a
 * password change": a condition on the earlier step's field, relaxed
 * contiguity, past the last event, timeouts. */
static void
test_seed_password_change(void **state)
{
	(void)state;
	rig r;

	rig_init(&r,
	         "name: t\n"
	         "sources:\n"
	         "  events:\n"
	         "    kafka: { topic: events }\n"
	         "    schema: { user: string, type: string, amount: double, "
	         "ts: timestamp }\n"
	         "    event_time: { field: ts }\n"
	         "nodes:\n"
	         "  - id: p\n"
	         "    from: events\n"
	         "    key_by: [user]\n"
	         "    pattern:\n"
	         "      steps:\n"
	         "        - { name: pw, where: \"type == "
	         "'PASSWORD_CHANGE'\" }\n"
	         "        - { name: big, where: \"type == 'PURCHASE' && "
	         "amount > 10 * pw.amount\" }\n"
	         "      within: 1m\n"
	         "      skip: past_last_event\n"
	         "      emit: { changed_at: \"pw.ts\", amount: "
	         "\"big.amount\", times_avg: \"big.amount / pw.amount\" }\n"
	         "      timeout_output: slow\n"
	         "  - id: out\n"
	         "    from: p\n"
	         "    sink: { stdout: {} }\n");
	/* The password change carries the customer's average in amount.
	 * u1: the second purchase is the one; u2: a minute too late; u3:
	 * purchase before the change; u4: two changes, the first one's
	 * average matches and past_last_event drops the other. */
	rig_feed(&r, "u1", "PASSWORD_CHANGE", 20, 0);
	rig_feed(&r, "u1", "PURCHASE", 50, 10000);
	rig_feed(&r, "u1", "PURCHASE", 300, 30000);
	rig_feed(&r, "u1", "PURCHASE", 400, 40000);
	rig_feed(&r, "u2", "PASSWORD_CHANGE", 20, 0);
	rig_feed(&r, "u2", "PURCHASE", 1000, MIN);
	rig_feed(&r, "u3", "PURCHASE", 999, 0);
	rig_feed(&r, "u3", "PASSWORD_CHANGE", 10, 1000);
	rig_feed(&r, "u4", "PASSWORD_CHANGE", 20, 0);
	rig_feed(&r, "u4", "PASSWORD_CHANGE", 50, 5000);
	rig_feed(&r, "u4", "PURCHASE", 300, 20000);
	/* Nothing of u3 expires before its minute is up. */
	assert_int_equal(tm_cep_advance(r.c, 1000 + MIN - 2), WR_OK);
	assert_int_equal(r.f.timeout.n, 1);
	assert_int_equal(tm_cep_advance(r.c, 1000 + MIN - 1), WR_OK);
	assert_int_equal(r.f.timeout.n, 2);
	assert_int_equal(tm_cep_advance(r.c, INT64_MAX), WR_OK);
	strs_sort(&r.f.match);
	strs_sort(&r.f.timeout);
	expect("password matches", &r.f.match, pw_matches, 2);
	expect("password timeouts", &r.f.timeout, pw_timeouts, 2);
	rig_fini(&r);
}

/* A key's partial matches are bounded (dropped and counted past the
 * limit); bad keys and unreadable state are errors, not crashes. */
static void
test_limits_and_errors(void **state)
{
	(void)state;
	char big[TM_CEP_MAX_KEY_BYTES + 1];
	wr_row row = {.n = 4};
	tm_cep_stats st;
	rig r;

	rig_init(&r, "name: t\n"
	             "sources:\n"
	             "  s:\n"
	             "    kafka: { topic: s }\n"
	             "    schema: { k: string, kind: string, x: double, ts: "
	             "timestamp }\n"
	             "    event_time: { field: ts }\n"
	             "nodes:\n"
	             "  - id: p\n"
	             "    from: s\n"
	             "    key_by: [k]\n"
	             "    pattern:\n"
	             "      contiguity: followed_by_any\n"
	             "      within: 1h\n"
	             "      steps:\n"
	             "        - { name: a }\n"
	             "        - { name: b, one_or_more: true }\n"
	             "        - { name: c, where: \"kind == 'never'\" }\n"
	             "  - id: out\n"
	             "    from: p\n"
	             "    sink: { stdout: {} }\n");
	/* Every subset of the events is a partial match: 2^n of them. */
	for (int i = 0; i < 12; i++)
		rig_feed(&r, "k", "x", i, i);
	tm_cep_get_stats(r.c, &st);
	assert_true(st.dropped > 1000);
	assert_int_equal(st.matches, 0);
	/* Still bounded, still working: the end expires what was kept. */
	assert_int_equal(tm_cep_advance(r.c, INT64_MAX), WR_OK);
	tm_cep_get_stats(r.c, &st);
	assert_int_equal(st.timeouts, TM_CEP_MAX_PARTIALS);

	row.v[0] = wrt_vstr("k");
	memset(big, 'x', sizeof(big));
	assert_int_equal(tm_cep_feed(r.c, 0, big, sizeof(big), &row, 1),
	                 WR_ETOOBIG);
	assert_int_equal(tm_cep_feed(r.c, 1, "k", 1, &row, 1), WR_EINVAL);
	assert_int_equal(
	    wr_state_put(r.st, 0, TM_CEP_ST_KEYS, "k", 1, "\x01\x05", 2),
	    WR_OK);
	assert_int_equal(tm_cep_feed(r.c, 0, "k", 1, &row, 1), WR_ECORRUPT);
	rig_fini(&r);
}

#define AGG_JOB(where, emit)                                                   \
	"name: t\n"                                                            \
	"sources:\n"                                                           \
	"  s:\n"                                                               \
	"    kafka: { topic: s }\n"                                            \
	"    schema: { k: string, kind: string, x: double, ts: timestamp }\n"  \
	"    event_time: { field: ts }\n"                                      \
	"nodes:\n"                                                             \
	"  - id: p\n"                                                          \
	"    from: s\n"                                                        \
	"    key_by: [k]\n"                                                    \
	"    pattern:\n"                                                       \
	"      within: 1h\n"                                                   \
	"      steps:\n"                                                       \
	"        - { name: buys, where: \"kind == 'buy'\", one_or_more: "      \
	"true }\n"                                                             \
	"        - { name: big, where: \"kind == 'big' && " where "\", "       \
	"contiguity: next }\n"                                                 \
	"      emit: { " emit " }\n"                                           \
	"  - id: out\n"                                                        \
	"    from: p\n"                                                        \
	"    sink: { stdout: {} }\n"

/* Rewrites key k's state entry as format 1 (written before aggregates;
 * otherwise the same bytes when the pattern has none). */
static void
as_format_1(rig *r, const char *k)
{
	const void *val;
	size_t len;
	unsigned char buf[4096];

	assert_int_equal(
	    wr_state_get(r->st, 0, TM_CEP_ST_KEYS, k, strlen(k), &val, &len),
	    WR_OK);
	assert_true(len <= sizeof(buf));
	memcpy(buf, val, len);
	assert_int_equal(buf[0], 2);
	buf[0] = 1;
	assert_int_equal(
	    wr_state_put(r->st, 0, TM_CEP_ST_KEYS, k, strlen(k), buf, len),
	    WR_OK);
}

/* Aggregates over a looping step (the seed's "10x the customer's
 * average"), and the state format: an entry of format 1 goes on as
 * before for a pattern without aggregates, and is refused (WR_EPROTO)
 * by one with them, which it lacks. */
static void
test_aggregates_and_format_1(void **state)
{
	(void)state;
	static const char *const want[] = {
	    "{\"k\":\"a\",\"match_start\":\"1970-01-01T00:00:00.000Z\","
	    "\"match_end\":\"1970-01-01T00:00:00.004Z\",\"n\":3,\"avg\":20,"
	    "\"sum\":60,\"lo\":10,\"hi\":30,\"last\":"
	    "\"1970-01-01T00:00:00.003Z\"}",
	    "{\"k\":\"a\",\"match_start\":\"1970-01-01T00:00:00.001Z\","
	    "\"match_end\":\"1970-01-01T00:00:00.004Z\",\"n\":2,\"avg\":25,"
	    "\"sum\":50,\"lo\":20,\"hi\":30,\"last\":"
	    "\"1970-01-01T00:00:00.003Z\"}",
	};
	rig r;

	rig_init(&r, AGG_JOB("x > 10 * avg(buys.x)",
	                     "n: \"count(buys)\", avg: \"avg(buys.x)\", "
	                     "sum: \"sum(buys.x)\", lo: \"min(buys.x)\", "
	                     "hi: \"max(buys.x)\", last: \"max(buys.ts)\""));
	rig_feed(&r, "a", "buy", 10, 0);
	rig_feed(&r, "a", "buy", 20, 1);
	rig_feed(&r, "a", "buy", 30, 3);
	/* 10x the average of 10, 20, 30 (200) and of 20, 30 (250); not of
	 * 30 alone (300). */
	rig_feed(&r, "a", "big", 260, 4);
	expect("aggregate matches", &r.f.match, want, 2);
	rig_feed(&r, "b", "buy", 10, 0);
	as_format_1(&r, "b");
	wr_row row = {.n = 4};
	row.v[0] = wrt_vstr("b");
	row.v[1] = wrt_vstr("big");
	row.v[2] = wrt_vdouble(500);
	row.v[3] = wrt_vts(1);
	assert_int_equal(tm_cep_feed(r.c, 0, "b", 1, &row, 1), WR_EPROTO);
	rig_fini(&r);

	rig_init(&r, AGG_JOB("x > 10 * buys.x", "n: \"count(buys)\""));
	rig_feed(&r, "b", "buy", 10, 0);
	as_format_1(&r, "b");
	rig_feed(&r, "b", "big", 500, 1);
	assert_int_equal(r.f.match.n, 1);
	rig_fini(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_patterns),
	    cmocka_unit_test(test_random_patterns_restored),
	    cmocka_unit_test(test_seed_card_fraud),
	    cmocka_unit_test(test_seed_password_change),
	    cmocka_unit_test(test_limits_and_errors),
	    cmocka_unit_test(test_aggregates_and_format_1),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
