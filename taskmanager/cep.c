/*
 * cep.c - the pattern-matching engine (see cep.h; semantics in
 * docs/cep.md).
 *
 * A partial match is a fixed-size block: a header (first event's seq and
 * time, last event's time, the step of its last event, whether an event
 * went by since, and the mask of the steps its next event may be taken
 * at), then per step the count of events taken and the seqs of the first
 * and last, then per step the values of the fields expressions read from
 * its first and last events (only those: `first(s.f)`, `s.f`) and, per
 * field an aggregate reads (`sum(s.f)`, `avg`, `min`, `max`), a running
 * aggregate: its count of non-null values, sum, min and max (four
 * values, however many events the step takes). The seq
 * numbers a key's events while it has partial matches; it orders matches
 * and identifies where each started.
 *
 * An event e advances each partial match P of its key. For each step t in
 * P's mask (its own step again while under max, the next steps through
 * optional ones once at min): P takes e at t when t's condition holds
 * (given P's events) and contiguity allows it (next: no event went by);
 * P survives e, for the targets that may still skip it: followed_by
 * those whose condition e fails, followed_by_any all, next none. A
 * negated step between P's step and t closes t when e matches it
 * (not_followed_by), or when e is the very next event (not_next). P goes
 * when no target is left. Every event may also start a partial match.
 * Matches (a take at the last step, at its min or beyond) are emitted in
 * order (start, then per step first event, count, last event, then the
 * aggregates), pruned by
 * the skip strategy; within expires partial matches by the event's time
 * (tm_cep_feed) or the watermark (tm_cep_advance).
 *
 * State entry of a key (TM_CEP_ST_KEYS), all integers varints unless
 * said: format (1 byte), next seq, timer (8 bytes, little-endian), the
 * key's values (count byte, wr_value_encode each), the partial matches
 * (count, then each: start seq, start ts and last ts (8 bytes each),
 * mask, step (1 byte), skipped (1 byte), and per step: count and, when
 * not 0, first seq, last seq and the stored values: first, last, then
 * the aggregates'). Format 1 (before aggregates) is the same without
 * aggregates: read as such for a pattern that has none, refused with
 * WR_EPROTO by one that has.
 */
#include "cep.h"

#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "err.h"
#include "expr.h"
#include "mem.h"
#include "varint.h"
#include "wr_assert.h"
#include "wr_limits.h"

#define TM_CEP_FORMAT   2
#define TM_CEP_FORMAT_1 1 /* no aggregates */
/* Values of a running aggregate: non-null count (long), sum, min, max. */
#define TM_CEP_AGG_VALS 4
#define TM_CEP_NO_TIMER INT64_MAX
/* Earliest timer of a key group: not known yet (scan it), or none. */
#define TM_CEP_KG_UNKNOWN INT64_MIN
#define TM_CEP_KG_NONE    INT64_MAX
/* What the scan callback returns to stop early (errors are positive). */
#define TM_CEP_SCAN_STOP (-1)
/* Strings conditions and emit expressions build for one event (lower,
 * upper, concatenation): past it they evaluate to null. */
#define TM_CEP_ARENA_BYTES (1u << 20)

/* How one reference of an expression reads a partial match. */
struct tm_cep_ref {
	uint8_t kind;
	int step;
	int slot; /* index in the block's values; -1 for count */
};

struct tm_cep_expr {
	const wr_expr *e; /* NULL: always true (a step without where) */
	struct tm_cep_ref *refs;
	size_t nrefs;
};

struct tm_cep_step {
	const wr_pattern_step *s;
	bool neg;
	struct tm_cep_expr where;
	int nfirst, nlast; /* fields stored from its first and last event */
	int first_field[WR_MAX_FIELDS], last_field[WR_MAX_FIELDS];
	int nagg; /* fields aggregated over its events, in schema order */
	int agg_field[WR_MAX_FIELDS];
	/* its values' index in a block: first ones, last ones, then
	 * TM_CEP_AGG_VALS per aggregated field */
	int voff;
};

struct tm_cep_hdr {
	uint64_t start_seq;
	int64_t start_ts, last_ts;
	uint32_t open; /* steps the next event may be taken at */
	uint8_t step;  /* the step of the last event taken */
	uint8_t skipped;
};

struct tm_cep_cnt {
	uint32_t count;
	uint64_t first_seq, last_seq;
};

/* Blocks of c->pm_bytes each. */
typedef struct tm_cep_vec {
	unsigned char *p;
	size_t n, cap;
} tm_cep_vec;

struct tm_cep {
	tm_cep_opts o;
	const wr_pattern_spec *ps;
	int nsteps, nvals;
	bool has_agg; /* a step has aggregated fields */
	struct tm_cep_step steps[WR_CEP_MAX_STEPS];
	struct tm_cep_expr *emit;
	size_t pm_bytes, cnt_off, val_off;
	int64_t *kg_min; /* per key group of the range */
	/* the key being worked on */
	uint64_t next_seq;
	int64_t timer;
	int nkeys;
	wr_value keyv[WR_MAX_FIELDS];
	tm_cep_vec cur, next, done;
	unsigned char *scratch;
	wr_value *refbuf;
	wr_buf blob, enc, tkey, due;
	wr_arena arena;
	tm_cep_stats stats;
};

/* ---- blocks ------------------------------------------------------------ */

static struct tm_cep_hdr *
tm_cep_hdr(unsigned char *b)
{
	return (struct tm_cep_hdr *)(void *)b;
}

static struct tm_cep_cnt *
tm_cep_cnt(const tm_cep *c, unsigned char *b)
{
	return (struct tm_cep_cnt *)(void *)(b + c->cnt_off);
}

static wr_value *
tm_cep_vals(const tm_cep *c, unsigned char *b)
{
	return (wr_value *)(void *)(b + c->val_off);
}

static unsigned char *
tm_cep_at(const tm_cep *c, const tm_cep_vec *v, size_t i)
{
	return v->p + i * c->pm_bytes;
}

/* Appends a copy of b (NULL: zeroes). */
static unsigned char *
tm_cep_push(tm_cep *c, tm_cep_vec *v, const unsigned char *b)
{
	unsigned char *d;

	if (v->n == v->cap) {
		v->cap = v->cap == 0 ? 16 : v->cap * 2;
		v->p = wr_xrealloc(v->p, v->cap * c->pm_bytes);
	}
	d = tm_cep_at(c, v, v->n++);
	if (b != NULL)
		memcpy(d, b, c->pm_bytes);
	else
		memset(d, 0, c->pm_bytes);
	return d;
}

static size_t
tm_cep_align8(size_t n)
{
	return (n + 7u) & ~(size_t)7u;
}

/* ---- compiling the pattern -------------------------------------------- */

/* Adds field f to the list (*n of them) unless there. */
static void
tm_cep_need_field(int *list, int *n, int f)
{
	for (int i = 0; i < *n; i++)
		if (list[i] == f)
			return;
	list[(*n)++] = f;
}

static void
tm_cep_need(tm_cep *c, const wr_expr *e)
{
	size_t n;
	const wr_expr_ref *r = e != NULL ? wr_expr_refs(e, &n) : NULL;

	for (size_t k = 0; r != NULL && k < n; k++) {
		struct tm_cep_step *s = &c->steps[r[k].step];
		if (r[k].kind == WR_EXPR_REF_FIRST)
			tm_cep_need_field(s->first_field, &s->nfirst,
			                  r[k].field);
		else if (r[k].kind == WR_EXPR_REF_LAST)
			tm_cep_need_field(s->last_field, &s->nlast, r[k].field);
		else if (r[k].kind != WR_EXPR_REF_COUNT)
			tm_cep_need_field(s->agg_field, &s->nagg, r[k].field);
	}
}

static int
tm_cep_int_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static bool
tm_cep_is_agg(int kind)
{
	return kind == WR_EXPR_REF_SUM || kind == WR_EXPR_REF_AVG ||
	       kind == WR_EXPR_REF_MIN || kind == WR_EXPR_REF_MAX;
}

static int
tm_cep_slot(const int *list, int n, int f)
{
	for (int i = 0; i < n; i++)
		if (list[i] == f)
			return i;
	wr_panic(__FILE__, __LINE__, "field %d not stored", f);
}

static void
tm_cep_map(tm_cep *c, const wr_expr *e, struct tm_cep_expr *x)
{
	size_t n = 0;
	const wr_expr_ref *r = e != NULL ? wr_expr_refs(e, &n) : NULL;

	x->e = e;
	x->nrefs = n;
	x->refs = wr_xcalloc(n > 0 ? n : 1, sizeof(*x->refs));
	for (size_t k = 0; k < n; k++) {
		const struct tm_cep_step *s = &c->steps[r[k].step];
		x->refs[k].kind = r[k].kind;
		x->refs[k].step = r[k].step;
		if (r[k].kind == WR_EXPR_REF_COUNT)
			x->refs[k].slot = -1;
		else if (tm_cep_is_agg(r[k].kind))
			x->refs[k].slot =
			    s->voff + s->nfirst + s->nlast +
			    TM_CEP_AGG_VALS *
			        tm_cep_slot(s->agg_field, s->nagg, r[k].field);
		else if (r[k].kind == WR_EXPR_REF_FIRST)
			x->refs[k].slot =
			    s->voff +
			    tm_cep_slot(s->first_field, s->nfirst, r[k].field);
		else
			x->refs[k].slot =
			    s->voff + s->nfirst +
			    tm_cep_slot(s->last_field, s->nlast, r[k].field);
	}
}

static void
tm_cep_compile(tm_cep *c)
{
	const wr_pattern_spec *ps = c->ps;
	size_t maxrefs = 1, n;

	c->nsteps = ps->nsteps;
	for (int k = 0; k < c->nsteps; k++) {
		c->steps[k].s = &ps->steps[k];
		c->steps[k].neg =
		    ps->steps[k].contiguity == WR_CONT_NOT_NEXT ||
		    ps->steps[k].contiguity == WR_CONT_NOT_FOLLOWED_BY;
		tm_cep_need(c, ps->steps[k].where);
	}
	for (size_t j = 0; j < ps->nemit; j++)
		tm_cep_need(c, ps->emit[j].expr);
	for (int k = 0; k < c->nsteps; k++) {
		struct tm_cep_step *s = &c->steps[k];
		/* Schema order: the order of matches that tie but for their
		 * aggregates (docs/cep.md). */
		qsort(s->agg_field, (size_t)s->nagg, sizeof(int),
		      tm_cep_int_cmp);
		s->voff = c->nvals;
		c->nvals += s->nfirst + s->nlast + TM_CEP_AGG_VALS * s->nagg;
		c->has_agg |= s->nagg > 0;
	}
	for (int k = 0; k < c->nsteps; k++)
		tm_cep_map(c, ps->steps[k].where, &c->steps[k].where);
	c->emit = wr_xcalloc(ps->nemit > 0 ? ps->nemit : 1, sizeof(*c->emit));
	for (size_t j = 0; j < ps->nemit; j++)
		tm_cep_map(c, ps->emit[j].expr, &c->emit[j]);
	for (int k = 0; k < c->nsteps; k++)
		if (c->steps[k].where.nrefs > maxrefs)
			maxrefs = c->steps[k].where.nrefs;
	for (size_t j = 0; j < ps->nemit; j++)
		if ((n = c->emit[j].nrefs) > maxrefs)
			maxrefs = n;
	c->refbuf = wr_xcalloc(maxrefs, sizeof(*c->refbuf));
	c->cnt_off = tm_cep_align8(sizeof(struct tm_cep_hdr));
	c->val_off = tm_cep_align8(c->cnt_off + (size_t)c->nsteps *
	                                            sizeof(struct tm_cep_cnt));
	c->pm_bytes =
	    tm_cep_align8(c->val_off + (size_t)c->nvals * sizeof(wr_value));
	c->scratch = wr_xcalloc(1, c->pm_bytes);
}

int
tm_cep_new(const tm_cep_opts *o, tm_cep **out)
{
	tm_cep *c;
	size_t nkg;

	*out = NULL;
	if (o->node == NULL || o->node->kind != WR_NODE_PATTERN ||
	    o->node->pattern.nsteps < 1 || o->kg_first > o->kg_last ||
	    o->st == NULL || o->on_match == NULL)
		return WR_EINVAL;
	c = wr_xcalloc(1, sizeof(*c));
	c->o = *o;
	c->ps = &o->node->pattern;
	c->nkeys = o->node->nkeys;
	tm_cep_compile(c);
	nkg = (size_t)o->kg_last - o->kg_first + 1;
	c->kg_min = wr_xmalloc(nkg * sizeof(*c->kg_min));
	for (size_t k = 0; k < nkg; k++)
		c->kg_min[k] = TM_CEP_KG_UNKNOWN;
	wr_buf_init(&c->blob);
	wr_buf_init(&c->enc);
	wr_buf_init(&c->tkey);
	wr_buf_init(&c->due);
	wr_arena_init(&c->arena, TM_CEP_ARENA_BYTES);
	*out = c;
	return WR_OK;
}

void
tm_cep_free(tm_cep *c)
{
	if (c == NULL)
		return;
	for (int k = 0; k < c->nsteps; k++)
		free(c->steps[k].where.refs);
	for (size_t j = 0; j < c->ps->nemit; j++)
		free(c->emit[j].refs);
	free(c->emit);
	free(c->refbuf);
	free(c->scratch);
	free(c->kg_min);
	free(c->cur.p);
	free(c->next.p);
	free(c->done.p);
	wr_buf_fini(&c->blob);
	wr_buf_fini(&c->enc);
	wr_buf_fini(&c->tkey);
	wr_buf_fini(&c->due);
	wr_arena_fini(&c->arena);
	free(c);
}

void
tm_cep_get_stats(const tm_cep *c, tm_cep_stats *out)
{
	*out = c->stats;
}

/* ---- running aggregates ----------------------------------------------- */

static double
tm_cep_num(const wr_value *v)
{
	return v->type == WR_T_DOUBLE ? v->u.d : (double)v->u.i;
}

/* Order of two values of an aggregated field (numbers, timestamps; null
 * first). */
static int
tm_cep_vcmp(const wr_value *a, const wr_value *b)
{
	if (a->type == WR_T_NULL || b->type == WR_T_NULL)
		return (a->type != WR_T_NULL) - (b->type != WR_T_NULL);
	if (a->type == WR_T_DOUBLE || b->type == WR_T_DOUBLE) {
		double x = tm_cep_num(a), y = tm_cep_num(b);
		return (x > y) - (x < y);
	}
	return (a->u.i > b->u.i) - (a->u.i < b->u.i);
}

/* Adds x to the running aggregate g (TM_CEP_AGG_VALS values). A long sum
 * past the long range is null from then on, as `+` gives null. */
static void
tm_cep_agg_add(wr_value *g, const wr_value *x)
{
	bool num = x->type == WR_T_LONG || x->type == WR_T_DOUBLE;

	if (!num && x->type != WR_T_TIMESTAMP)
		return; /* null: left out, as SQL's aggregates do */
	if (g[0].u.i++ == 0) {
		g[1] = g[2] = g[3] = *x;
		if (!num)
			g[1].type = WR_T_NULL;
		return;
	}
	if (g[1].type == WR_T_LONG && x->type == WR_T_LONG) {
		if (__builtin_add_overflow(g[1].u.i, x->u.i, &g[1].u.i))
			g[1].type = WR_T_NULL;
	} else if (g[1].type != WR_T_NULL && num) {
		g[1].u.d = tm_cep_num(&g[1]) + tm_cep_num(x);
		g[1].type = WR_T_DOUBLE;
	}
	if (tm_cep_vcmp(x, &g[2]) < 0)
		g[2] = *x;
	if (tm_cep_vcmp(x, &g[3]) > 0)
		g[3] = *x;
}

/* The value of aggregate kind from g (no value: null). */
static void
tm_cep_agg_value(int kind, const wr_value *g, wr_value *v)
{
	v->type = WR_T_NULL;
	if (g[0].u.i == 0)
		return;
	if (kind == WR_EXPR_REF_SUM)
		*v = g[1];
	else if (kind == WR_EXPR_REF_MIN)
		*v = g[2];
	else if (kind == WR_EXPR_REF_MAX)
		*v = g[3];
	else if (g[1].type != WR_T_NULL) {
		v->type = WR_T_DOUBLE;
		v->u.d = tm_cep_num(&g[1]) / (double)g[0].u.i;
	}
}

/* ---- conditions and rows ---------------------------------------------- */

/* The values of x's references in block b (NULL: no event yet). */
static const wr_value *
tm_cep_refs(tm_cep *c, const struct tm_cep_expr *x, unsigned char *b)
{
	for (size_t k = 0; k < x->nrefs; k++) {
		const struct tm_cep_ref *r = &x->refs[k];
		uint32_t n = b != NULL ? tm_cep_cnt(c, b)[r->step].count : 0;
		wr_value *v = &c->refbuf[k];
		if (r->kind == WR_EXPR_REF_COUNT) {
			v->type = WR_T_LONG;
			v->u.i = n;
		} else if (n == 0) {
			v->type = WR_T_NULL;
		} else if (tm_cep_is_agg(r->kind)) {
			tm_cep_agg_value(r->kind, &tm_cep_vals(c, b)[r->slot],
			                 v);
		} else {
			*v = tm_cep_vals(c, b)[r->slot];
		}
	}
	return c->refbuf;
}

/* Step t's condition on row, given the events of b. */
static bool
tm_cep_cond(tm_cep *c, int t, unsigned char *b, const wr_row *row)
{
	const struct tm_cep_expr *x = &c->steps[t].where;
	wr_value v;

	if (x->e == NULL)
		return true;
	return wr_expr_eval_refs(x->e, row, tm_cep_refs(c, x, b), &v,
	                         &c->arena) == WR_OK &&
	       v.type == WR_T_BOOL && v.u.b;
}

/* The output row of b, ending at end_ts, to the callback. */
static int
tm_cep_emit(tm_cep *c, unsigned char *b, int64_t end_ts, bool timeout)
{
	const struct tm_cep_hdr *h = tm_cep_hdr(b);
	wr_row out;

	out.n = 0;
	for (int k = 0; k < c->nkeys; k++)
		out.v[out.n++] = c->keyv[k];
	out.v[out.n].type = WR_T_TIMESTAMP;
	out.v[out.n++].u.i = h->start_ts;
	out.v[out.n].type = WR_T_TIMESTAMP;
	out.v[out.n++].u.i = end_ts;
	for (size_t j = 0; j < c->ps->nemit; j++) {
		const struct tm_cep_expr *x = &c->emit[j];
		wr_value *v = &out.v[out.n++];
		if (wr_expr_eval_refs(x->e, NULL, tm_cep_refs(c, x, b), v,
		                      &c->arena) != WR_OK)
			v->type = WR_T_NULL;
	}
	if (timeout) {
		c->stats.timeouts++;
		return c->o.on_timeout(c->o.arg, &out);
	}
	c->stats.matches++;
	return c->o.on_match(c->o.arg, &out);
}

/* A partial match that reached the end of the pattern was emitted. */
static bool
tm_cep_complete(const tm_cep *c, unsigned char *b)
{
	int last = c->nsteps - 1;

	return tm_cep_hdr(b)->step == last &&
	       tm_cep_cnt(c, b)[last].count >= c->steps[last].s->min;
}

static int64_t
tm_cep_deadline(const tm_cep *c, unsigned char *b)
{
	int64_t t;

	if (__builtin_add_overflow(tm_cep_hdr(b)->start_ts,
	                           c->ps->within_ms - 1, &t))
		return INT64_MAX;
	return t;
}

/* Drops the partial matches of c->cur whose deadline is <= limit,
 * reporting those not complete. */
static int
tm_cep_expire(tm_cep *c, int64_t limit)
{
	size_t w = 0;
	int rv;

	if (c->ps->within_ms == 0)
		return WR_OK;
	for (size_t i = 0; i < c->cur.n; i++) {
		unsigned char *b = tm_cep_at(c, &c->cur, i);
		if (tm_cep_deadline(c, b) > limit) {
			if (w != i)
				memcpy(tm_cep_at(c, &c->cur, w), b,
				       c->pm_bytes);
			w++;
			continue;
		}
		if (!tm_cep_complete(c, b) && c->o.on_timeout != NULL &&
		    (rv = tm_cep_emit(c, b, tm_cep_hdr(b)->last_ts, true)))
			return rv;
	}
	c->cur.n = w;
	return WR_OK;
}

/* ---- one event --------------------------------------------------------- */

/* The steps a partial match whose last event is at step s (the count-th
 * there) may take its next event at; s < 0: a new partial match. */
static uint32_t
tm_cep_targets(const tm_cep *c, int s, uint32_t count)
{
	uint32_t m = 0;

	if (s >= 0 && count < c->steps[s].s->max)
		m |= 1u << s;
	if (s >= 0 && count < c->steps[s].s->min)
		return m;
	for (int t = s + 1; t < c->nsteps; t++) {
		if (c->steps[t].neg)
			continue;
		m |= 1u << t;
		if (!c->steps[t].s->optional)
			break;
	}
	return m;
}

/* Keeps b in c->next unless the key holds the most partial matches. */
static void
tm_cep_keep(tm_cep *c, const unsigned char *b)
{
	if (c->next.n >= TM_CEP_MAX_PARTIALS) {
		c->stats.dropped++;
		return;
	}
	tm_cep_push(c, &c->next, b);
}

static wr_value
tm_cep_field(const wr_row *row, int f)
{
	return (uint32_t)f < row->n ? row->v[f] : (wr_value){.type = WR_T_NULL};
}

/* b (NULL: a new partial match) takes the event (seq, ts, row) at t. */
static void
tm_cep_take(tm_cep *c, unsigned char *b, int t, const wr_row *row, int64_t ts,
            uint64_t seq)
{
	unsigned char *nb = c->scratch;
	const struct tm_cep_step *s = &c->steps[t];
	struct tm_cep_hdr *h = tm_cep_hdr(nb);
	struct tm_cep_cnt *n = &tm_cep_cnt(c, nb)[t];
	wr_value *v = tm_cep_vals(c, nb) + s->voff;

	if (b != NULL) {
		memcpy(nb, b, c->pm_bytes);
	} else {
		memset(nb, 0, c->pm_bytes);
		h->start_seq = seq;
		h->start_ts = ts;
	}
	h->step = (uint8_t)t;
	h->last_ts = ts;
	h->skipped = 0;
	if (n->count++ == 0) {
		n->first_seq = seq;
		for (int i = 0; i < s->nfirst; i++)
			v[i] = tm_cep_field(row, s->first_field[i]);
		for (int i = 0; i < s->nagg * TM_CEP_AGG_VALS; i++)
			v[s->nfirst + s->nlast + i] =
			    i % TM_CEP_AGG_VALS == 0
			        ? (wr_value){.type = WR_T_LONG, .u.i = 0}
			        : (wr_value){.type = WR_T_NULL};
	}
	n->last_seq = seq;
	for (int i = 0; i < s->nlast; i++)
		v[s->nfirst + i] = tm_cep_field(row, s->last_field[i]);
	for (int i = 0; i < s->nagg; i++) {
		wr_value x = tm_cep_field(row, s->agg_field[i]);
		tm_cep_agg_add(v + s->nfirst + s->nlast + TM_CEP_AGG_VALS * i,
		               &x);
	}
	h->open = tm_cep_targets(c, t, n->count);
	if (tm_cep_complete(c, nb))
		tm_cep_push(c, &c->done, nb);
	if (h->open != 0)
		tm_cep_keep(c, nb);
}

/* Partial match b meets the event: takes it where it may, and survives
 * it (skipped) for the targets that may skip it. */
static void
tm_cep_advance_pm(tm_cep *c, unsigned char *b, const wr_row *row, int64_t ts,
                  uint64_t seq)
{
	struct tm_cep_hdr *h = tm_cep_hdr(b);
	bool next_event = !h->skipped, take_blocked = false;
	bool skip_blocked = false;
	uint32_t keep = 0;

	for (int t = h->step; t < c->nsteps; t++) {
		const struct tm_cep_step *s = &c->steps[t];
		if (s->neg) {
			/* Only targets beyond it care. */
			if (t + 1 >= c->nsteps || (h->open >> (t + 1)) == 0)
				break;
			if (!tm_cep_cond(c, t, b, row))
				continue;
			if (s->s->contiguity == WR_CONT_NOT_FOLLOWED_BY)
				skip_blocked = true;
			else if (next_event)
				take_blocked = skip_blocked = true;
			continue;
		}
		if (((h->open >> t) & 1u) == 0)
			continue;
		enum wr_contiguity ct = s->s->contiguity;
		bool hit = tm_cep_cond(c, t, b, row);
		/* A next target is open only while no event went by: the
		 * first one to go by closes it (below). */
		if (hit && !take_blocked)
			tm_cep_take(c, b, t, row, ts, seq);
		if (!skip_blocked && (ct == WR_CONT_FOLLOWED_BY_ANY ||
		                      (ct == WR_CONT_FOLLOWED_BY && !hit)))
			keep |= 1u << t;
	}
	if (keep == 0)
		return;
	h->open = keep;
	h->skipped = 1;
	tm_cep_keep(c, b);
}

/* Matches that tie on their events' positions (a looping
 * followed_by_any step took other events between the same first and
 * last): by the aggregates, step by step, field by field in schema
 * order, sum, min, max and count of values, smaller (null) first. Equal
 * in these too, they emit equal rows and extend alike. */
static int
tm_cep_order_aggs(const tm_cep *c, unsigned char *a, unsigned char *b)
{
	const wr_value *x = tm_cep_vals(c, a), *y = tm_cep_vals(c, b);
	static const int which[TM_CEP_AGG_VALS] = {1, 2, 3, 0};
	int d;

	for (int k = 0; k < c->nsteps; k++) {
		const struct tm_cep_step *s = &c->steps[k];
		if (tm_cep_cnt(c, a)[k].count == 0)
			continue;
		for (int i = 0; i < s->nagg; i++) {
			int g = s->voff + s->nfirst + s->nlast +
			        TM_CEP_AGG_VALS * i;
			for (int j = 0; j < TM_CEP_AGG_VALS; j++)
				if ((d = tm_cep_vcmp(&x[g + which[j]],
				                     &y[g + which[j]])) != 0)
					return d;
		}
	}
	return 0;
}

/* Match order: earlier start, then per step earlier first event, more
 * events, earlier last event, then the aggregates (tm_cep_order_aggs).
 * Matches equal in all of these emit equal rows (emit reads only first,
 * last, count and the aggregates). */
static int
tm_cep_order(const tm_cep *c, unsigned char *a, unsigned char *b)
{
	const struct tm_cep_cnt *x = tm_cep_cnt(c, a), *y = tm_cep_cnt(c, b);
	uint64_t sa = tm_cep_hdr(a)->start_seq, sb = tm_cep_hdr(b)->start_seq;

	if (sa != sb)
		return sa < sb ? -1 : 1;
	for (int k = 0; k < c->nsteps; k++) {
		uint64_t fa = x[k].count ? x[k].first_seq : UINT64_MAX;
		uint64_t fb = y[k].count ? y[k].first_seq : UINT64_MAX;
		if (fa != fb)
			return fa < fb ? -1 : 1;
		if (x[k].count != y[k].count)
			return x[k].count > y[k].count ? -1 : 1;
		if (x[k].count && x[k].last_seq != y[k].last_seq)
			return x[k].last_seq < y[k].last_seq ? -1 : 1;
	}
	return c->has_agg ? tm_cep_order_aggs(c, a, b) : 0;
}

/* Sorts c->done (a few matches per event: insertion sort). */
static void
tm_cep_sort_done(tm_cep *c)
{
	unsigned char *tmp = c->scratch;

	for (size_t i = 1; i < c->done.n; i++) {
		size_t j = i;
		memcpy(tmp, tm_cep_at(c, &c->done, i), c->pm_bytes);
		while (j > 0 && tm_cep_order(c, tm_cep_at(c, &c->done, j - 1),
		                             tmp) > 0) {
			memcpy(tm_cep_at(c, &c->done, j),
			       tm_cep_at(c, &c->done, j - 1), c->pm_bytes);
			j--;
		}
		memcpy(tm_cep_at(c, &c->done, j), tmp, c->pm_bytes);
	}
}

/* Emits c->done in order, pruned by the skip strategy: after a match,
 * past_last_event drops what started at or before its last event (all
 * partial matches of the key), skip_to_next what started at or before
 * its first event. */
static int
tm_cep_emit_done(tm_cep *c, int64_t ts, uint64_t seq)
{
	bool pruned = false;
	uint64_t thr = 0;
	size_t w = 0;
	int rv;

	tm_cep_sort_done(c);
	for (size_t i = 0; i < c->done.n; i++) {
		unsigned char *b = tm_cep_at(c, &c->done, i);
		uint64_t start = tm_cep_hdr(b)->start_seq;
		if (pruned && start <= thr)
			continue;
		if ((rv = tm_cep_emit(c, b, ts, false)))
			return rv;
		if (c->ps->skip == WR_SKIP_NO_SKIP)
			continue;
		pruned = true;
		thr = c->ps->skip == WR_SKIP_PAST_LAST_EVENT ? seq : start;
	}
	if (!pruned)
		return WR_OK;
	for (size_t i = 0; i < c->next.n; i++) {
		unsigned char *b = tm_cep_at(c, &c->next, i);
		if (tm_cep_hdr(b)->start_seq <= thr)
			continue;
		if (w != i)
			memcpy(tm_cep_at(c, &c->next, w), b, c->pm_bytes);
		w++;
	}
	c->next.n = w;
	return WR_OK;
}

/* The event (row, ts) against c->cur (expired ones gone): c->next gets
 * the partial matches after it; matches are emitted. */
static int
tm_cep_event(tm_cep *c, const wr_row *row, int64_t ts)
{
	uint64_t seq = c->next_seq++;
	uint32_t start;

	c->next.n = 0;
	c->done.n = 0;
	for (size_t i = 0; i < c->cur.n; i++)
		tm_cep_advance_pm(c, tm_cep_at(c, &c->cur, i), row, ts, seq);
	start = tm_cep_targets(c, -1, 0);
	for (int t = 0; t < c->nsteps; t++)
		if (((start >> t) & 1u) && tm_cep_cond(c, t, NULL, row))
			tm_cep_take(c, NULL, t, row, ts, seq);
	return tm_cep_emit_done(c, ts, seq);
}

/* ---- state ------------------------------------------------------------- */

static void
tm_cep_put_i64(wr_buf *b, int64_t v)
{
	unsigned char x[8];
	uint64_t u = (uint64_t)v;

	for (int i = 0; i < 8; i++)
		x[i] = (unsigned char)(u >> (8 * i));
	wr_buf_append(b, x, 8);
}

static int
tm_cep_get_i64(const uint8_t *p, size_t len, size_t *pos, int64_t *out)
{
	uint64_t u = 0;

	if (len - *pos < 8)
		return WR_ECORRUPT;
	for (int i = 0; i < 8; i++)
		u |= (uint64_t)p[*pos + (size_t)i] << (8 * i);
	*pos += 8;
	*out = (int64_t)u;
	return WR_OK;
}

/* The values a block stores for step s. */
static int
tm_cep_step_vals(const struct tm_cep_step *s)
{
	return s->nfirst + s->nlast + TM_CEP_AGG_VALS * s->nagg;
}

static void
tm_cep_encode_pm(tm_cep *c, unsigned char *b, wr_buf *out)
{
	const struct tm_cep_hdr *h = tm_cep_hdr(b);
	const struct tm_cep_cnt *n = tm_cep_cnt(c, b);
	const wr_value *v = tm_cep_vals(c, b);

	wr_varint_put(out, h->start_seq);
	tm_cep_put_i64(out, h->start_ts);
	tm_cep_put_i64(out, h->last_ts);
	wr_varint_put(out, h->open);
	wr_buf_putc(out, (char)h->step);
	wr_buf_putc(out, (char)h->skipped);
	for (int k = 0; k < c->nsteps; k++) {
		const struct tm_cep_step *s = &c->steps[k];
		wr_varint_put(out, n[k].count);
		if (n[k].count == 0)
			continue;
		wr_varint_put(out, n[k].first_seq);
		wr_varint_put(out, n[k].last_seq);
		for (int i = 0; i < tm_cep_step_vals(s); i++)
			wr_value_encode(&v[s->voff + i], out);
	}
}

static int
tm_cep_decode_pm(tm_cep *c, const uint8_t *p, size_t len, size_t *pos,
                 unsigned char *b)
{
	struct tm_cep_hdr *h = tm_cep_hdr(b);
	struct tm_cep_cnt *n = tm_cep_cnt(c, b);
	wr_value *v = tm_cep_vals(c, b);
	uint64_t x;
	int rv;

	if ((rv = wr_varint_get(p, len, pos, &h->start_seq)) ||
	    (rv = tm_cep_get_i64(p, len, pos, &h->start_ts)) ||
	    (rv = tm_cep_get_i64(p, len, pos, &h->last_ts)) ||
	    (rv = wr_varint_get(p, len, pos, &x)))
		return rv;
	if (x == 0 || x >= ((uint64_t)1 << c->nsteps) || len - *pos < 2 ||
	    p[*pos] >= c->nsteps || p[*pos + 1] > 1)
		return WR_ECORRUPT;
	h->open = (uint32_t)x;
	h->step = p[(*pos)++];
	h->skipped = p[(*pos)++];
	for (int k = 0; k < c->nsteps; k++) {
		const struct tm_cep_step *s = &c->steps[k];
		if ((rv = wr_varint_get(p, len, pos, &x)))
			return rv;
		if (x > UINT32_MAX)
			return WR_ECORRUPT;
		n[k].count = (uint32_t)x;
		if (x == 0)
			continue;
		if ((rv = wr_varint_get(p, len, pos, &n[k].first_seq)) ||
		    (rv = wr_varint_get(p, len, pos, &n[k].last_seq)))
			return rv;
		for (int i = 0; i < tm_cep_step_vals(s); i++)
			if ((rv =
			         wr_value_decode(p, len, pos, &v[s->voff + i])))
				return rv;
	}
	return WR_OK;
}

/* Decodes the entry in c->blob into c->cur and the key's fields. */
static int
tm_cep_decode(tm_cep *c)
{
	const uint8_t *p = (const uint8_t *)c->blob.data;
	size_t len = c->blob.len, pos = 1;
	uint64_t n;
	int rv;

	if (len >= 1 && p[0] == TM_CEP_FORMAT_1 && c->has_agg)
		return WR_EPROTO; /* written before aggregates existed */
	if (len < 1 || (p[0] != TM_CEP_FORMAT && p[0] != TM_CEP_FORMAT_1))
		return WR_ECORRUPT;
	if ((rv = wr_varint_get(p, len, &pos, &c->next_seq)) ||
	    (rv = tm_cep_get_i64(p, len, &pos, &c->timer)))
		return rv;
	if (pos >= len || p[pos++] != c->nkeys)
		return WR_ECORRUPT;
	for (int k = 0; k < c->nkeys; k++)
		if ((rv = wr_value_decode(p, len, &pos, &c->keyv[k])))
			return rv;
	if ((rv = wr_varint_get(p, len, &pos, &n)))
		return rv;
	if (n > TM_CEP_MAX_PARTIALS)
		return WR_ECORRUPT;
	for (uint64_t i = 0; i < n; i++)
		if ((rv = tm_cep_decode_pm(c, p, len, &pos,
		                           tm_cep_push(c, &c->cur, NULL))))
			return rv;
	return pos == len ? WR_OK : WR_ECORRUPT;
}

/* Loads key's entry into c->cur (none: a fresh key, whose fields come
 * from row; row NULL: the key must exist). */
static int
tm_cep_load(tm_cep *c, uint16_t kg, const void *key, size_t klen,
            const wr_row *row)
{
	const void *val;
	size_t vlen;
	int rv;

	c->cur.n = 0;
	c->next_seq = 0;
	c->timer = TM_CEP_NO_TIMER;
	rv = wr_state_get(c->o.st, kg, TM_CEP_ST_KEYS, key, klen, &val, &vlen);
	if (rv == WR_ENOENT && row != NULL) {
		for (int k = 0; k < c->nkeys; k++)
			c->keyv[k] = (uint32_t)c->o.node->keys[k] < row->n
			                 ? row->v[c->o.node->keys[k]]
			                 : (wr_value){.type = WR_T_NULL};
		return WR_OK;
	}
	if (rv != WR_OK)
		return rv;
	/* The backend's copy lives until its next call: keep ours. */
	wr_buf_reset(&c->blob);
	wr_buf_append(&c->blob, val, vlen);
	return tm_cep_decode(c);
}

static int
tm_cep_timer(tm_cep *c, uint16_t kg, int64_t t, const void *key, size_t klen,
             bool put)
{
	uint64_t u = (uint64_t)t ^ ((uint64_t)1 << 63);
	unsigned char be[8];
	int64_t *min = &c->kg_min[kg - c->o.kg_first];

	for (int i = 0; i < 8; i++)
		be[i] = (unsigned char)(u >> (56 - 8 * i));
	wr_buf_reset(&c->tkey);
	wr_buf_append(&c->tkey, be, 8);
	wr_buf_append(&c->tkey, key, klen);
	if (!put)
		return wr_state_del(c->o.st, kg, TM_CEP_ST_TIMERS, c->tkey.data,
		                    c->tkey.len);
	if (*min != TM_CEP_KG_UNKNOWN && t < *min)
		*min = t;
	return wr_state_put(c->o.st, kg, TM_CEP_ST_TIMERS, c->tkey.data,
	                    c->tkey.len, NULL, 0);
}

/* Writes set (c->next or c->cur) back as key's entry and its timer. */
static int
tm_cep_save(tm_cep *c, uint16_t kg, const void *key, size_t klen,
            const tm_cep_vec *set)
{
	int64_t t = TM_CEP_NO_TIMER;
	int rv;

	for (size_t i = 0; c->ps->within_ms > 0 && i < set->n; i++) {
		int64_t d = tm_cep_deadline(c, tm_cep_at(c, set, i));
		t = d < t ? d : t;
	}
	if (t != c->timer) {
		if (c->timer != TM_CEP_NO_TIMER &&
		    (rv = tm_cep_timer(c, kg, c->timer, key, klen, false)))
			return rv;
		if (t != TM_CEP_NO_TIMER &&
		    (rv = tm_cep_timer(c, kg, t, key, klen, true)))
			return rv;
	}
	if (set->n == 0)
		return wr_state_del(c->o.st, kg, TM_CEP_ST_KEYS, key, klen);
	wr_buf_reset(&c->enc);
	wr_buf_putc(&c->enc, TM_CEP_FORMAT);
	wr_varint_put(&c->enc, c->next_seq);
	tm_cep_put_i64(&c->enc, t);
	wr_buf_putc(&c->enc, (char)c->nkeys);
	for (int k = 0; k < c->nkeys; k++)
		wr_value_encode(&c->keyv[k], &c->enc);
	wr_varint_put(&c->enc, set->n);
	for (size_t i = 0; i < set->n; i++)
		tm_cep_encode_pm(c, tm_cep_at(c, set, i), &c->enc);
	return wr_state_put(c->o.st, kg, TM_CEP_ST_KEYS, key, klen, c->enc.data,
	                    c->enc.len);
}

int
tm_cep_feed(tm_cep *c, uint16_t kg, const void *key, size_t klen,
            const wr_row *row, int64_t ts)
{
	int rv;

	if (klen > TM_CEP_MAX_KEY_BYTES)
		return WR_ETOOBIG;
	if (kg < c->o.kg_first || kg > c->o.kg_last)
		return WR_EINVAL;
	wr_arena_reset(&c->arena);
	if ((rv = tm_cep_load(c, kg, key, klen, row)) ||
	    (rv = tm_cep_expire(c, ts == INT64_MIN ? ts : ts - 1)))
		return rv;
	/* A key without partial matches numbers its events afresh. */
	if (c->cur.n == 0)
		c->next_seq = 0;
	if ((rv = tm_cep_event(c, row, ts)))
		return rv;
	return tm_cep_save(c, kg, key, klen, &c->next);
}

/* ---- the watermark ----------------------------------------------------- */

struct tm_cep_scan {
	tm_cep *c;
	int64_t wm;
	int64_t next; /* the first timer past wm seen, or KG_NONE */
	size_t count;
};

/* Collects due timers into c->due as (klen varint, key) after the time. */
static int
tm_cep_scan_fn(void *arg, uint16_t kg, const void *key, size_t klen,
               const void *val, size_t vlen)
{
	struct tm_cep_scan *s = arg;
	const unsigned char *k = key;
	uint64_t u = 0;
	int64_t t;

	(void)kg, (void)val, (void)vlen;
	if (klen < 8)
		return WR_ECORRUPT;
	for (int i = 0; i < 8; i++)
		u = u << 8 | k[i];
	t = (int64_t)(u ^ ((uint64_t)1 << 63));
	if (t > s->wm) {
		s->next = t;
		return TM_CEP_SCAN_STOP;
	}
	wr_varint_put(&s->c->due, klen - 8);
	wr_buf_append(&s->c->due, k + 8, klen - 8);
	return ++s->count >= TM_CEP_TIMER_BATCH ? TM_CEP_SCAN_STOP : 0;
}

/* Expires the partial matches of one key whose timer is due. */
static int
tm_cep_expire_key(tm_cep *c, uint16_t kg, const void *key, size_t klen,
                  int64_t wm)
{
	int rv;

	wr_arena_reset(&c->arena);
	rv = tm_cep_load(c, kg, key, klen, NULL);
	if (rv == WR_ENOENT)
		return WR_ECORRUPT; /* a timer without its entry */
	if (rv != WR_OK || (rv = tm_cep_expire(c, wm)))
		return rv;
	return tm_cep_save(c, kg, key, klen, &c->cur);
}

/* Fires the due timers of one key group, a batch at a time. */
static int
tm_cep_advance_kg(tm_cep *c, uint16_t kg, int64_t wm)
{
	int64_t *min = &c->kg_min[kg - c->o.kg_first];
	struct tm_cep_scan s;
	int rv;

	do {
		if (*min == TM_CEP_KG_NONE ||
		    (*min != TM_CEP_KG_UNKNOWN && *min > wm))
			return WR_OK;
		s = (struct tm_cep_scan){
		    .c = c, .wm = wm, .next = TM_CEP_KG_NONE};
		wr_buf_reset(&c->due);
		rv = wr_state_scan(c->o.st, TM_CEP_ST_TIMERS, kg, kg,
		                   tm_cep_scan_fn, &s);
		if (rv != WR_OK && rv != TM_CEP_SCAN_STOP)
			return rv;
		/* Full batch: more may be due; else the next one is known
		 * (expiring lowers it through tm_cep_timer). */
		*min =
		    s.count >= TM_CEP_TIMER_BATCH ? TM_CEP_KG_UNKNOWN : s.next;
		const uint8_t *p = (const uint8_t *)c->due.data;
		size_t pos = 0;
		while (pos < c->due.len) {
			uint64_t klen;
			if ((rv = wr_varint_get(p, c->due.len, &pos, &klen)))
				return rv;
			if ((rv = tm_cep_expire_key(c, kg, p + pos,
			                            (size_t)klen, wm)))
				return rv;
			pos += (size_t)klen;
		}
	} while (s.count >= TM_CEP_TIMER_BATCH);
	return WR_OK;
}

int
tm_cep_advance(tm_cep *c, int64_t wm)
{
	int rv;

	if (c->ps->within_ms == 0)
		return WR_OK;
	for (uint32_t kg = c->o.kg_first; kg <= c->o.kg_last; kg++)
		if ((rv = tm_cep_advance_kg(c, (uint16_t)kg, wm)))
			return rv;
	return WR_OK;
}
