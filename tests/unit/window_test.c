/*
 * window_test.c - the window and reduce operators (taskmanager/window.c)
 * driven directly, without network: each subtask is a tm_task with a
 * real state backend in a temporary directory, and a fake downstream
 * operator records every result and watermark.
 *
 * Randomized streams (fixed seeds: failures replay) with keys, out-of-
 * order event times, watermarks and records beyond allowed lateness are
 * compared exactly with a brute-force reference written here: for each
 * key and window it keeps the list of records the window takes, and
 * computes every aggregate from that list directly. It says, for each
 * input position, which results must come out then (a window firing on
 * a watermark, a late record re-firing a window within allowed
 * lateness), and how many records are dropped as late.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "wrtest.h"

#include "err.h"
#include "fsutil.h"
#include "jobspec.h"
#include "mem.h"
#include "metrics.h"
#include "plan.h"
#include "record.h"
#include "state.h"
#include "task_int.h"
#include "tm_int.h"
#include "watermark.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TASKS 4
#define POS_END   (-1) /* results of finish() */

/* xorshift64*: a fixed sequence per test, so a failure can be replayed. */
static uint64_t rng_state;

static int64_t
rng_below(int64_t n)
{
	return n <= 0 ? 0 : (int64_t)wrt_rng_below(&rng_state, (uint64_t)n);
}

/* ---- the job ---- */

/* Every aggregate function over every type it takes. */
#define AGGS                                                                   \
	"{ n: count(), sl: sum(l), sd: sum(d), al: avg(l), ad: avg(d), "       \
	"mnl: min(l), mxl: max(l), mnd: min(d), mxd: max(d), mns: min(s), "    \
	"mxs: max(s), mnt: min(ts), mxt: max(ts), cdl: count_distinct(l), "    \
	"cdd: count_distinct(d), cds: count_distinct(s), "                     \
	"cdb: count_distinct(b), fs: first(s), ls: last(s), fl: first(l), "    \
	"lb: last(b), fd: first(d), lt: last(ts) }"

/* A job whose node 'w' is the operator under test. body: the node's
 * lines after key_by. */
static char *
job_yaml(int parallelism, int max_parallelism, const char *body)
{
	return wr_xasprintf(
	    "name: wt\n"
	    "max_parallelism: %d\n"
	    "sources:\n"
	    "  src:\n"
	    "    file: { path: /dev/null }\n"
	    "    schema: { k: string, g: long, l: long, d: double, s: string, "
	    "b: bool, ts: timestamp }\n"
	    "    event_time: { field: ts, max_out_of_orderness: 2s }\n"
	    "nodes:\n"
	    "  - id: w\n"
	    "    from: src\n"
	    "    parallelism: %d\n"
	    "    key_by: [k, g]\n"
	    "%s"
	    "  - id: out\n"
	    "    from: w\n"
	    "    sink: { stdout: {} }\n",
	    max_parallelism, parallelism, body);
}

/* ---- the harness ---- */

typedef struct out_row {
	int pos;      /* input position it came out at, or POS_END */
	uint64_t seq; /* order of arrival at the sink */
	int task;
	char *bytes; /* wr_row_encode of the row */
	size_t len;
} out_row;

typedef struct harness harness;

typedef struct fake_sink {
	harness *h;
	int task;
} fake_sink;

struct harness {
	char dir[256];
	wr_jobspec *job;
	wr_plan *plan;
	int wnode;
	const wr_node_spec *n;
	const wr_schema *in;
	tm_server tm;
	wr_metrics *reg;
	wr_metric *late, *invalid;
	int ntasks;
	tm_task_spec spec[MAX_TASKS];
	tm_task task[MAX_TASKS];
	tm_ctx *op[MAX_TASKS];
	tm_ctx sink[MAX_TASKS];
	fake_sink fs[MAX_TASKS];
	size_t cache_bytes; /* > 0: the test opens the state backends */
	/* what came out */
	out_row *out;
	size_t nout, cap;
	int64_t last_wm[MAX_TASKS];
	int wm_pos[MAX_TASKS]; /* input position of the last watermark */
	uint64_t seq;
	int pos;
};

static int
sink_push(void *self, int input, const wr_row *r)
{
	fake_sink *fs = self;
	harness *h = fs->h;
	wr_buf b;
	assert_int_equal(input, 0);
	/* Results a watermark fires reach the sink before it. */
	assert_true(h->wm_pos[fs->task] != h->pos);
	assert_int_equal(r->n, h->n->out.n);
	for (uint32_t i = 0; i < r->n; i++)
		assert_true(r->v[i].type == WR_T_NULL ||
		            r->v[i].type == (uint8_t)h->n->out.fields[i].type);
	wr_buf_init(&b);
	wr_row_encode(r, &b);
	if (h->nout == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 256;
		h->out = realloc(h->out, h->cap * sizeof(*h->out));
	}
	h->out[h->nout++] = (out_row){.pos = h->pos,
	                              .seq = h->seq++,
	                              .task = fs->task,
	                              .bytes = b.data,
	                              .len = b.len};
	return WR_OK;
}

static int
sink_watermark(void *self, int64_t wm)
{
	fake_sink *fs = self;
	harness *h = fs->h;
	/* Watermarks never go back. */
	assert_true(wm >= h->last_wm[fs->task]);
	h->last_wm[fs->task] = wm;
	h->wm_pos[fs->task] = h->pos;
	return WR_OK;
}

static const tm_op_vt sink_vt = {
    .name = "test sink",
    .process = sink_push,
    .watermark = sink_watermark,
};

static void
harness_build_op(harness *h, int i)
{
	char err[512] = "";
	int rv =
	    tm_ctx_build(&h->task[i], h->wnode, &h->op[i], err, sizeof(err));
	if (rv != WR_OK)
		fail_msg("tm_ctx_build: %s (%s)", wr_strerror(rv), err);
	h->op[i]->next[0] = &h->sink[i];
	h->op[i]->nnext = 1;
}

/* Parses the job and builds one operator per subtask of node 'w'. */
static harness *
harness_new(const char *yaml, size_t cache_bytes)
{
	harness *h = calloc(1, sizeof(*h));
	char err[512] = "";
	assert_int_equal(wrt_tmpdir(h->dir, sizeof(h->dir), "window"), 0);
	h->job = wrt_job(yaml, 0);
	assert_int_equal(wr_plan_build(h->job, &h->plan, err, sizeof(err)),
	                 WR_OK);
	h->wnode = wr_jobspec_find(h->job, "w");
	h->n = &h->job->nodes[h->wnode];
	h->in = &h->job->nodes[h->n->inputs[0]].out;
	h->tm.cfg.tm_state_dir = h->dir;
	h->reg = wr_metrics_new();
	h->late =
	    wr_metrics_get(h->reg, WR_METRIC_COUNTER,
	                   "weir_late_records_dropped_total", "late", NULL);
	h->invalid =
	    wr_metrics_get(h->reg, WR_METRIC_COUNTER,
	                   "weir_invalid_records_total", "invalid", NULL);
	const wr_vertex *vx =
	    &h->plan->vertices[h->plan->node_vertex[h->wnode]];
	h->ntasks = vx->parallelism;
	assert_true(h->ntasks <= MAX_TASKS);
	h->cache_bytes = cache_bytes;
	for (int i = 0; i < h->ntasks; i++) {
		tm_task *t = &h->task[i];
		snprintf(h->spec[i].job_id, sizeof(h->spec[i].job_id), "job1");
		h->spec[i].vertex = h->plan->node_vertex[h->wnode];
		h->spec[i].subtask = i;
		t->tm = &h->tm;
		t->spec = &h->spec[i];
		t->job = h->job;
		t->plan = h->plan;
		t->vertex = vx;
		t->watermark = TM_WM_MIN;
		t->m_late_dropped = h->late;
		t->m_invalid = h->invalid;
		t->keyed_node = h->wnode;
		tm_task_conf(t);
		if (cache_bytes > 0) {
			char d[512];
			snprintf(d, sizeof(d), "%s/own-%d", h->dir, i);
			wr_state_opts o = {.cache_bytes = cache_bytes};
			assert_int_equal(wr_state_open(d, &o, &t->state),
			                 WR_OK);
		}
		h->fs[i] = (fake_sink){.h = h, .task = i};
		h->sink[i].vt = &sink_vt;
		h->sink[i].process = sink_push;
		h->sink[i].self = &h->fs[i];
		h->sink[i].task = t;
		h->sink[i].wm = TM_WM_MIN;
		h->last_wm[i] = TM_WM_MIN;
		h->wm_pos[i] = INT_MIN;
		harness_build_op(h, i);
	}
	return h;
}

static void
harness_free(harness *h)
{
	for (int i = 0; i < h->ntasks; i++) {
		tm_ctx_free(h->op[i]);
		/* The task owns the backend (tm_state opens it). */
		wr_state_close(h->task[i].state);
	}
	for (size_t i = 0; i < h->nout; i++)
		free(h->out[i].bytes);
	free(h->out);
	wr_plan_free(h->plan);
	wr_jobspec_free(h->job);
	wr_metrics_free(h->reg);
	wr_rmtree(h->dir);
	free(h);
}

/* The subtask a row goes to, as the shuffle routes it (job-reference:
 * key group = hash % max_parallelism, subtask = kg * p / max_p). */
static int
route(const harness *h, const wr_row *r)
{
	uint64_t x = 0;
	for (int k = 0; k < h->n->nkeys; k++)
		x = wr_value_hash(&r->v[h->n->keys[k]], x);
	int kg = (int)(x % (uint64_t)h->job->max_parallelism);
	return (int)((int64_t)kg * h->ntasks / h->job->max_parallelism);
}

static void
push_at(harness *h, const wr_row *r)
{
	int i = route(h, r);
	int rv = h->op[i]->process(h->op[i]->self, 0, r);
	if (rv != WR_OK)
		fail_msg("push: %s: %s", wr_strerror(rv), h->task[i].failure);
}

static void
watermark_at(harness *h, int64_t wm)
{
	for (int i = 0; i < h->ntasks; i++) {
		h->task[i].watermark = wm;
		int rv = tm_ctx_watermark(h->op[i], wm);
		if (rv != WR_OK)
			fail_msg("watermark: %s: %s", wr_strerror(rv),
			         h->task[i].failure);
	}
}

/* Hand-written sequences: each call is the next input position. */
static void
push(harness *h, const wr_row *r)
{
	h->pos++;
	push_at(h, r);
}

static void
watermark(harness *h, int64_t wm)
{
	h->pos++;
	watermark_at(h, wm);
}

static void
finish(harness *h)
{
	h->pos = POS_END;
	for (int i = 0; i < h->ntasks; i++)
		assert_int_equal(tm_ctx_finish(h->op[i]), WR_OK);
}

/* Closes every operator and builds it again on the same state, as after
 * a restart: the backend is flushed first (closing drops what is only
 * in its cache), the new operator knows nothing but what is in state. */
static void
harness_reopen(harness *h)
{
	for (int i = 0; i < h->ntasks; i++) {
		assert_non_null(h->task[i].state);
		assert_int_equal(wr_state_flush(h->task[i].state), WR_OK);
		tm_ctx_free(h->op[i]);
		if (h->cache_bytes == 0) {
			/* as a restarted task: the backend opens again */
			wr_state_close(h->task[i].state);
			h->task[i].state = NULL;
		}
		harness_build_op(h, i);
	}
}

/* Entries left in every backend (after a flush). */
static uint64_t
state_entries(harness *h)
{
	uint64_t n = 0;
	for (int i = 0; i < h->ntasks; i++) {
		wr_state_stats st;
		assert_int_equal(wr_state_flush(h->task[i].state), WR_OK);
		wr_state_get_stats(h->task[i].state, &st);
		n += st.entries;
	}
	return n;
}

/* ---- input ---- */

/* Key pool: index -> (k, g), with NULLs and the empty string among
 * them. */
#define MAX_KEYS 512
static char key_names[MAX_KEYS][16];

static void
key_values(int key, wr_value *k, wr_value *g)
{
	if (key == 0) {
		k->type = WR_T_NULL;
	} else {
		if (key_names[key][0] == '\0' && key != 2)
			snprintf(key_names[key], sizeof(key_names[key]), "k%d",
			         key % 7);
		k->type = WR_T_STRING;
		k->u.s.p = key == 2 ? "" : key_names[key];
		k->u.s.len = (uint32_t)strlen(k->u.s.p);
	}
	if (key == 1) {
		g->type = WR_T_NULL;
	} else {
		g->type = WR_T_LONG;
		g->u.i = key;
	}
}

static const char *const strs[] = {
    "", "a", "ab", "b", "zz", "\xc3\xa4x", "longer string value"};

typedef struct ev {
	bool is_wm;
	int64_t wm;
	int rec; /* index into the rows */
} ev;

typedef struct stream {
	wr_row *rows;
	int nrows;
	ev *evs;
	int nev;
} stream;

typedef struct gen_cfg {
	int nrec;
	int nkeys;
	int64_t t0;
	int64_t max_step;   /* event clock step per record */
	int64_t bound;      /* out-of-orderness (watermark = max - bound) */
	int late_pct;       /* records far behind the watermark */
	int64_t late_extra; /* how far behind, at most */
	int pause_pct;      /* quiet periods (for sessions) */
	int64_t pause_ms;
	int wm_every; /* a watermark every 1..wm_every records */
	int null_ts_pct;
} gen_cfg;

/* One field of the input, by name. */
static void
set_field(const harness *h, wr_row *r, const char *name, wr_value v)
{
	int i = wr_schema_index(h->in, name);
	assert_true(i >= 0);
	r->v[i] = v;
}

static wr_value
maybe_null(wr_value v)
{
	if (rng_below(8) == 0)
		v.type = WR_T_NULL;
	return v;
}

static void
gen_row(const harness *h, wr_row *r, int key, int64_t ts, bool ts_null)
{
	wr_value k, g, v;
	memset(r, 0, sizeof(*r));
	r->n = h->in->n;
	key_values(key, &k, &g);
	set_field(h, r, "k", k);
	set_field(h, r, "g", g);
	v = (wr_value){.type = WR_T_LONG, .u.i = rng_below(41) - 20};
	set_field(h, r, "l", maybe_null(v));
	/* Quarters: sums are exact in any order, as a reference needs. */
	v = (wr_value){.type = WR_T_DOUBLE,
	               .u.d = (double)(rng_below(81) - 40) / 4};
	if (rng_below(30) == 0)
		v.u.d = rng_below(2) ? -0.0 : 0.0;
	set_field(h, r, "d", maybe_null(v));
	v = (wr_value){.type = WR_T_STRING};
	v.u.s.p = strs[rng_below(sizeof(strs) / sizeof(strs[0]))];
	v.u.s.len = (uint32_t)strlen(v.u.s.p);
	set_field(h, r, "s", maybe_null(v));
	v = (wr_value){.type = WR_T_BOOL, .u.b = rng_below(2) == 1};
	set_field(h, r, "b", maybe_null(v));
	v = (wr_value){.type = ts_null ? WR_T_NULL : WR_T_TIMESTAMP, .u.i = ts};
	set_field(h, r, "ts", v);
}

static void
gen_stream(const harness *h, const gen_cfg *c, stream *s)
{
	int64_t clock = c->t0, max_ts = INT64_MIN, wm = INT64_MIN;
	int until_wm = 1 + (int)rng_below(c->wm_every);
	s->rows = calloc((size_t)c->nrec, sizeof(*s->rows));
	s->evs = calloc((size_t)c->nrec * 2 + 1, sizeof(*s->evs));
	s->nrows = c->nrec;
	s->nev = 0;
	for (int i = 0; i < c->nrec; i++) {
		clock += rng_below(c->max_step + 1);
		if (rng_below(100) < c->pause_pct)
			clock += c->pause_ms / 2 + rng_below(c->pause_ms);
		int64_t ts = clock - rng_below(c->bound + 1);
		if (rng_below(100) < c->late_pct)
			ts = clock - c->bound - rng_below(c->late_extra + 1);
		bool ts_null = rng_below(100) < c->null_ts_pct;
		gen_row(h, &s->rows[i], (int)rng_below(c->nkeys), ts, ts_null);
		s->evs[s->nev++] = (ev){.rec = i};
		if (!ts_null && ts > max_ts)
			max_ts = ts;
		if (--until_wm == 0) {
			until_wm = 1 + (int)rng_below(c->wm_every);
			if (max_ts - c->bound > wm) {
				wm = max_ts - c->bound;
				s->evs[s->nev++] =
				    (ev){.is_wm = true, .wm = wm};
			}
		}
	}
}

static void
stream_free(stream *s)
{
	free(s->rows);
	free(s->evs);
}

/* Runs the stream through the operators, then finish(). reopen_at >= 0:
 * reopen the operators after that event (a watermark), and pass the
 * watermark again as a restarted upstream would. */
static void
run(harness *h, const stream *s, int reopen_at)
{
	for (int i = 0; i < s->nev; i++) {
		h->pos = i;
		if (s->evs[i].is_wm)
			watermark_at(h, s->evs[i].wm);
		else
			push_at(h, &s->rows[s->evs[i].rec]);
		if (i == reopen_at) {
			assert_true(s->evs[i].is_wm);
			harness_reopen(h);
			watermark_at(h, s->evs[i].wm);
		}
	}
	finish(h);
}

/* ---- the reference ---- */

/* Aggregate a over records recs[0..n) (indices into rows, ascending =
 * arrival order). by_ts: first/last by event time (ties by arrival),
 * else by arrival alone (reduce). */
static wr_value
ref_agg(const harness *h, const wr_agg_spec *a, const wr_row *rows,
        const int *recs, int n, bool by_ts)
{
	int tf = wr_schema_index(h->in, "ts");
	wr_value out = {.type = WR_T_NULL}, best = {.type = WR_T_NULL};
	int64_t best_ts = 0, cnt = 0;
	uint64_t isum = 0;
	double dsum = 0.0;
	if (a->fn == WR_AGG_COUNT)
		return (wr_value){.type = WR_T_LONG, .u.i = n};
	for (int i = 0; i < n; i++) {
		const wr_row *r = &rows[recs[i]];
		const wr_value *v = &r->v[a->arg];
		int64_t ts = by_ts ? r->v[tf].u.i : 0;
		if (v->type == WR_T_NULL)
			continue;
		if (a->fn == WR_AGG_COUNT_DISTINCT) {
			bool seen = false;
			for (int j = 0; j < i && !seen; j++)
				seen =
				    wr_value_equal(&rows[recs[j]].v[a->arg], v);
			cnt += !seen;
			continue;
		}
		cnt++;
		if (v->type == WR_T_DOUBLE)
			dsum += v->u.d;
		else
			isum += (uint64_t)v->u.i;
		if (best.type == WR_T_NULL ||
		    (a->fn == WR_AGG_MIN && wrt_value_cmp(v, &best) < 0) ||
		    (a->fn == WR_AGG_MAX && wrt_value_cmp(v, &best) > 0) ||
		    (a->fn == WR_AGG_FIRST && ts < best_ts) ||
		    (a->fn == WR_AGG_LAST && ts >= best_ts)) {
			best = *v;
			best_ts = ts;
		}
	}
	bool dbl = a->arg >= 0 && h->in->fields[a->arg].type == WR_T_DOUBLE;
	switch (a->fn) {
	case WR_AGG_COUNT_DISTINCT:
		return (wr_value){.type = WR_T_LONG, .u.i = cnt};
	case WR_AGG_SUM:
		if (cnt > 0 && dbl)
			out = (wr_value){.type = WR_T_DOUBLE, .u.d = dsum};
		else if (cnt > 0)
			out =
			    (wr_value){.type = WR_T_LONG, .u.i = (int64_t)isum};
		return out;
	case WR_AGG_AVG:
		if (cnt > 0)
			out = (wr_value){
			    .type = WR_T_DOUBLE,
			    .u.d = (dbl ? dsum : (double)(int64_t)isum) /
			           (double)cnt};
		return out;
	default:
		return best;
	}
}

typedef struct expect {
	out_row *v;
	size_t n, cap;
} expect;

static int
cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return x < y ? -1 : x > y;
}

/* The expected row for key's window [start, end) over recs (any order:
 * sorted here into arrival order). */
static void
ref_emit(const harness *h, expect *e, int pos, const wr_row *rows, int *recs,
         int n, int64_t start, int64_t end)
{
	wr_row r;
	wr_buf b;
	qsort(recs, (size_t)n, sizeof(*recs), cmp_int);
	r.n = 0;
	for (int k = 0; k < h->n->nkeys; k++)
		r.v[r.n++] = rows[recs[0]].v[h->n->keys[k]];
	if (h->n->kind == WR_NODE_WINDOW) {
		r.v[r.n++] = (wr_value){.type = WR_T_TIMESTAMP, .u.i = start};
		r.v[r.n++] = (wr_value){.type = WR_T_TIMESTAMP, .u.i = end};
	}
	for (size_t a = 0; a < h->n->naggs; a++)
		r.v[r.n++] = ref_agg(h, &h->n->aggs[a], rows, recs, n,
		                     h->n->kind == WR_NODE_WINDOW);
	wr_buf_init(&b);
	wr_row_encode(&r, &b);
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 256;
		e->v = realloc(e->v, e->cap * sizeof(*e->v));
	}
	e->v[e->n++] = (out_row){.pos = pos, .bytes = b.data, .len = b.len};
}

/* A window (or session) of the reference: its key, bounds and the
 * records it took. */
typedef struct rwin {
	int key;
	int64_t start, end;
	int *recs;
	int n, cap;
	bool fired;
	bool gone; /* merged away (sessions) or past lateness */
} rwin;

typedef struct ref {
	rwin *w;
	size_t n, cap;
	int64_t wm;
	int64_t dropped, invalid;
} ref;

static int
row_key(const harness *h, const wr_row *r)
{
	/* The generator's key index is g, except for key 1 (g NULL). */
	const wr_value *g = &r->v[wr_schema_index(h->in, "g")];
	return g->type == WR_T_NULL ? 1 : (int)g->u.i;
}

static void
rwin_add(rwin *w, int rec)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 8;
		w->recs = realloc(w->recs, (size_t)w->cap * sizeof(*w->recs));
	}
	w->recs[w->n++] = rec;
}

static rwin *
ref_window(ref *rf, int key, int64_t start, int64_t end)
{
	for (size_t i = 0; i < rf->n; i++)
		if (!rf->w[i].gone && rf->w[i].key == key &&
		    rf->w[i].start == start && rf->w[i].end == end)
			return &rf->w[i];
	if (rf->n == rf->cap) {
		rf->cap = rf->cap ? 2 * rf->cap : 64;
		rf->w = realloc(rf->w, rf->cap * sizeof(*rf->w));
	}
	rf->w[rf->n] = (rwin){.key = key, .start = start, .end = end};
	return &rf->w[rf->n++];
}

static int64_t
ref_floor(int64_t ts, int64_t m)
{
	int64_t r = ((ts % m) + m) % m;
	return ts - r;
}

/* Tumbling and sliding: each record goes to every window [s, s + size)
 * holding it, s a multiple of slide, unless that window is past its
 * lateness; a window that fired already fires again at once. */
static void
ref_sliced_record(const harness *h, ref *rf, expect *e, const wr_row *rows,
                  int rec, int pos)
{
	int64_t size = h->n->size_ms, late = h->n->allowed_lateness_ms;
	int64_t slide =
	    h->n->window == WR_WIN_SLIDING ? h->n->slide_ms : h->n->size_ms;
	int64_t ts = rows[rec].v[wr_schema_index(h->in, "ts")].u.i;
	bool taken = false;
	for (int64_t s = ref_floor(ts, slide); s + size > ts; s -= slide) {
		if (s + size - 1 + late <= rf->wm)
			continue;
		rwin *w = ref_window(rf, row_key(h, &rows[rec]), s, s + size);
		rwin_add(w, rec);
		taken = true;
		if (s + size - 1 <= rf->wm) {
			ref_emit(h, e, pos, rows, w->recs, w->n, w->start,
			         w->end);
			w->fired = true;
		}
	}
	rf->dropped += !taken;
}

/* Sessions: [ts, ts + gap) merged with every session it overlaps or
 * touches; alone and past lateness, the record is dropped. */
static void
ref_session_record(const harness *h, ref *rf, expect *e, const wr_row *rows,
                   int rec, int pos)
{
	int64_t gap = h->n->gap_ms, late = h->n->allowed_lateness_ms;
	int64_t ts = rows[rec].v[wr_schema_index(h->in, "ts")].u.i;
	int key = row_key(h, &rows[rec]);
	int64_t lo = ts, hi = ts + gap;
	bool any = false;
	for (size_t i = 0; i < rf->n; i++) {
		rwin *w = &rf->w[i];
		any = any || (!w->gone && w->key == key && w->start <= hi &&
		              w->end >= lo);
	}
	if (!any && hi - 1 + late <= rf->wm) {
		rf->dropped++;
		return;
	}
	rwin m = {.key = key};
	for (size_t i = 0; i < rf->n; i++) {
		rwin *w = &rf->w[i];
		if (w->gone || w->key != key || w->start > hi || w->end < lo)
			continue;
		lo = w->start < lo ? w->start : lo;
		hi = w->end > hi ? w->end : hi;
		for (int j = 0; j < w->n; j++)
			rwin_add(&m, w->recs[j]);
		w->gone = true;
	}
	rwin_add(&m, rec);
	rwin *w = ref_window(rf, key, lo, hi);
	free(w->recs);
	*w = m;
	w->start = lo;
	w->end = hi;
	if (hi - 1 <= rf->wm) {
		ref_emit(h, e, pos, rows, w->recs, w->n, lo, hi);
		w->fired = true;
	}
}

/* A watermark: windows due fire, then those past lateness go. */
static void
ref_watermark(const harness *h, ref *rf, expect *e, const wr_row *rows,
              int64_t wm, int pos)
{
	if (wm <= rf->wm)
		return;
	rf->wm = wm;
	for (size_t i = 0; i < rf->n; i++) {
		rwin *w = &rf->w[i];
		if (w->gone || w->fired || w->end - 1 > wm || w->n == 0)
			continue;
		ref_emit(h, e, pos, rows, w->recs, w->n, w->start, w->end);
		w->fired = true;
	}
	for (size_t i = 0; i < rf->n; i++)
		if (rf->w[i].end - 1 + h->n->allowed_lateness_ms <= wm)
			rf->w[i].gone = true;
}

static void
ref_run(const harness *h, const stream *s, expect *e, ref *rf)
{
	int tf = wr_schema_index(h->in, "ts");
	memset(rf, 0, sizeof(*rf));
	rf->wm = INT64_MIN;
	for (int i = 0; i < s->nev; i++) {
		const ev *x = &s->evs[i];
		if (x->is_wm) {
			ref_watermark(h, rf, e, s->rows, x->wm, i);
		} else if (s->rows[x->rec].v[tf].type == WR_T_NULL) {
			rf->invalid++;
		} else if (h->n->window == WR_WIN_SESSION) {
			ref_session_record(h, rf, e, s->rows, x->rec, i);
		} else {
			ref_sliced_record(h, rf, e, s->rows, x->rec, i);
		}
	}
	ref_watermark(h, rf, e, s->rows, INT64_MAX - 1, POS_END);
}

static void
ref_free(ref *rf, expect *e)
{
	for (size_t i = 0; i < rf->n; i++)
		free(rf->w[i].recs);
	free(rf->w);
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].bytes);
	free(e->v);
}

/* ---- comparing ---- */

static int
cmp_out(const void *a, const void *b)
{
	const out_row *x = a, *y = b;
	/* POS_END sorts last. */
	unsigned px = (unsigned)x->pos, py = (unsigned)y->pos;
	if (px != py)
		return px < py ? -1 : 1;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->bytes, y->bytes, n);
	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static void
print_row(const harness *h, const char *what, const out_row *o)
{
	wr_row r;
	wr_buf j;
	size_t pos = 0;
	wr_buf_init(&j);
	if (wr_row_decode((const uint8_t *)o->bytes, o->len, &pos, &r) == WR_OK)
		wr_row_to_json(&h->n->out, &r, &j);
	fprintf(stderr, "%s at %d: %s\n", what, o->pos, j.data ? j.data : "");
	wr_buf_fini(&j);
}

/* The operator's output equals the reference's, position by position
 * (the order within one position is not specified). */
static void
compare(harness *h, expect *e)
{
	qsort(h->out, h->nout, sizeof(*h->out), cmp_out);
	qsort(e->v, e->n, sizeof(*e->v), cmp_out);
	size_t i = 0;
	while (i < h->nout && i < e->n && cmp_out(&h->out[i], &e->v[i]) == 0)
		i++;
	if (i < h->nout || i < e->n) {
		fprintf(stderr,
		        "%zu results, %zu expected; first difference "
		        "at #%zu\n",
		        h->nout, e->n, i);
		if (i < h->nout)
			print_row(h, "got     ", &h->out[i]);
		if (i < e->n)
			print_row(h, "expected", &e->v[i]);
		fail();
	}
}

/* Generates a stream, runs it, compares with the reference; returns the
 * number of results. */
static size_t
check_random(const char *body, int parallelism, size_t cache_bytes,
             const gen_cfg *c, uint64_t seed, int reopen_at_frac)
{
	char *yaml = job_yaml(parallelism, 16, body);
	harness *h = harness_new(yaml, cache_bytes);
	stream s;
	expect e = {0};
	ref rf;
	rng_state = seed;
	gen_stream(h, c, &s);
	int reopen_at = -1;
	for (int i = reopen_at_frac > 0 ? s.nev / reopen_at_frac : s.nev;
	     i < s.nev && reopen_at < 0; i++)
		if (s.evs[i].is_wm)
			reopen_at = i;
	run(h, &s, reopen_at);
	ref_run(h, &s, &e, &rf);
	compare(h, &e);
	assert_int_equal((int64_t)wr_metric_value(h->late), rf.dropped);
	assert_int_equal((int64_t)wr_metric_value(h->invalid), rf.invalid);
	/* Everything fired and was cleaned up: no state is left. */
	assert_int_equal(state_entries(h), 0);
	for (int i = 0; cache_bytes > 0 && i < h->ntasks; i++) {
		wr_state_stats st;
		wr_state_get_stats(h->task[i].state, &st);
		assert_true(st.cache_misses > 1000); /* LMDB did the work */
	}
	for (int i = 0; i < h->ntasks; i++)
		assert_true(h->last_wm[i] == TM_WM_MAX);
	size_t nout = h->nout, refired = 0;
	for (size_t i = 0; i < nout; i++)
		refired += h->out[i].pos >= 0 && !s.evs[h->out[i].pos].is_wm;
	fprintf(stderr,
	        "  %d records: %zu results (%zu of them late updates), %lld "
	        "dropped as late, %lld without event time\n",
	        s.nrows, nout, refired, (long long)rf.dropped,
	        (long long)rf.invalid);
	/* The stream must exercise what it claims to. */
	assert_true(nout > 50);
	if (c->late_pct > 0)
		assert_true(rf.dropped > 0);
	if (h->n->allowed_lateness_ms > 0)
		assert_true(refired > 0);
	ref_free(&rf, &e);
	stream_free(&s);
	harness_free(h);
	free(yaml);
	return nout;
}

static const gen_cfg base_cfg = {
    .nrec = 4000,
    .nkeys = 6,
    .t0 = 1795325848148,
    .max_step = 200,
    .bound = 2000,
    .late_pct = 3,
    .late_extra = 50000,
    .pause_pct = 0,
    .wm_every = 25,
    .null_ts_pct = 1,
};

/* ---- randomized tests ---- */

static void
test_random_tumbling(void **state)
{
	(void)state;
	check_random("    window: { tumbling: 10s }\n"
	             "    aggregate: " AGGS "\n",
	             2, 0, &base_cfg, 0x1111, 0);
}

static void
test_random_tumbling_lateness(void **state)
{
	(void)state;
	gen_cfg c = base_cfg;
	c.t0 = -60000; /* windows before and after 1970 */
	check_random("    window: { tumbling: 5s }\n"
	             "    allowed_lateness: 4s\n"
	             "    aggregate: " AGGS "\n",
	             3, 0, &c, 0x2222, 0);
}

static void
test_random_sliding(void **state)
{
	(void)state;
	check_random("    window: { sliding: 30s, slide: 10s }\n"
	             "    allowed_lateness: 3s\n"
	             "    aggregate: " AGGS "\n",
	             2, 0, &base_cfg, 0x3333, 0);
}

/* Panes of gcd(25s, 10s) = 5s: a window is five panes, a slide two. */
static void
test_random_sliding_panes(void **state)
{
	(void)state;
	check_random("    window: { sliding: 25s, slide: 10s }\n"
	             "    aggregate: " AGGS "\n",
	             1, 0, &base_cfg, 0x4444, 0);
}

/* gcd(3001ms, 1000ms) = 1ms: 3001 panes a window is too many, so each
 * record updates its (3 or 4) windows directly. */
static void
test_random_sliding_per_window(void **state)
{
	(void)state;
	gen_cfg c = base_cfg;
	c.max_step = 20;
	c.bound = 300;
	c.late_extra = 5000;
	check_random("    window: { sliding: 3001ms, slide: 1000ms }\n"
	             "    allowed_lateness: 1500ms\n"
	             "    aggregate: " AGGS "\n",
	             2, 0, &c, 0x5555, 0);
}

static void
test_random_session(void **state)
{
	(void)state;
	gen_cfg c = base_cfg;
	c.max_step = 150;
	c.pause_pct = 4;
	c.pause_ms = 8000;
	check_random("    window: { session: 3s }\n"
	             "    aggregate: " AGGS "\n",
	             2, 0, &c, 0x6666, 0);
}

static void
test_random_session_lateness(void **state)
{
	(void)state;
	gen_cfg c = base_cfg;
	c.max_step = 150;
	c.pause_pct = 4;
	c.pause_ms = 8000;
	c.late_pct = 5;
	c.late_extra = 12000;
	check_random("    window: { session: 2s }\n"
	             "    allowed_lateness: 5s\n"
	             "    aggregate: " AGGS "\n",
	             2, 0, &c, 0x7777, 0);
}

/* A state cache of 4 KiB against hundreds of keys: nearly every access
 * goes to LMDB, and the results stay exact. */
static void
test_random_tiny_cache(void **state)
{
	(void)state;
	gen_cfg c = base_cfg;
	c.nkeys = 300;
	c.nrec = 6000;
	c.max_step = 40;
	check_random("    window: { sliding: 20s, slide: 5s }\n"
	             "    allowed_lateness: 2s\n"
	             "    aggregate: " AGGS "\n",
	             2, 4096, &c, 0x8888, 0);
	c.pause_pct = 3;
	c.pause_ms = 5000;
	check_random("    window: { session: 1s }\n"
	             "    allowed_lateness: 2s\n"
	             "    aggregate: " AGGS "\n",
	             1, 4096, &c, 0x9999, 0);
}

/* The operators are closed and rebuilt half-way on the same state: what
 * they know afterwards comes from state alone (timers included). */
static void
test_random_reopen(void **state)
{
	(void)state;
	check_random("    window: { sliding: 30s, slide: 10s }\n"
	             "    allowed_lateness: 3s\n"
	             "    aggregate: " AGGS "\n",
	             2, 0, &base_cfg, 0xaaaa, 2);
	gen_cfg c = base_cfg;
	c.pause_pct = 4;
	c.pause_ms = 8000;
	check_random("    window: { session: 3s }\n"
	             "    allowed_lateness: 1s\n"
	             "    aggregate: " AGGS "\n",
	             2, 0, &c, 0xbbbb, 2);
}

/* Reduce: one result per record, the running aggregate of its key. */
static void
test_random_reduce(void **state)
{
	(void)state;
	char *yaml = job_yaml(2, 16, "    reduce: " AGGS "\n");
	harness *h = harness_new(yaml, 0);
	stream s;
	expect e = {0};
	gen_cfg c = base_cfg;
	c.nrec = 2000;
	rng_state = 0xcccc;
	gen_stream(h, &c, &s);
	run(h, &s, -1);
	/* Reference: after each record, its key's records so far. */
	int *recs = malloc((size_t)s.nrows * sizeof(*recs));
	for (int i = 0; i < s.nev; i++) {
		if (s.evs[i].is_wm)
			continue;
		int r = s.evs[i].rec, n = 0;
		for (int j = 0; j <= r; j++)
			if (row_key(h, &s.rows[j]) == row_key(h, &s.rows[r]))
				recs[n++] = j;
		ref_emit(h, &e, i, s.rows, recs, n, 0, 0);
	}
	assert_int_equal(h->nout, (size_t)s.nrows);
	compare(h, &e);
	/* Watermarks pass through. */
	for (int i = 0; i < h->ntasks; i++)
		assert_true(h->last_wm[i] > TM_WM_MIN);
	free(recs);
	for (size_t i = 0; i < e.n; i++)
		free(e.v[i].bytes);
	free(e.v);
	stream_free(&s);
	harness_free(h);
	free(yaml);
}

/* ---- specific behaviours ---- */

/* A row of the input: key ("a" or "b", g 1), ts, l. */
static wr_row
mk(const harness *h, const char *k, int64_t ts, int64_t l)
{
	wr_row r;
	memset(&r, 0, sizeof(r));
	r.n = h->in->n;
	wr_value v = {.type = WR_T_STRING};
	v.u.s.p = k;
	v.u.s.len = (uint32_t)strlen(k);
	set_field(h, &r, "k", v);
	set_field(h, &r, "g", (wr_value){.type = WR_T_LONG, .u.i = 1});
	set_field(h, &r, "l", (wr_value){.type = WR_T_LONG, .u.i = l});
	set_field(h, &r, "ts", (wr_value){.type = WR_T_TIMESTAMP, .u.i = ts});
	return r;
}

/* Result i: field name of the output. */
static wr_value
res(const harness *h, size_t i, const char *name)
{
	wr_row r;
	size_t pos = 0;
	assert_true(i < h->nout);
	assert_int_equal(wr_row_decode((const uint8_t *)h->out[i].bytes,
	                               h->out[i].len, &pos, &r),
	                 WR_OK);
	int f = wr_schema_index(&h->n->out, name);
	assert_true(f >= 0);
	return r.v[f];
}

static void
assert_res(const harness *h, size_t i, const char *k, int64_t start,
           int64_t end, int64_t count, int64_t sum)
{
	wr_value v = res(h, i, "k");
	assert_int_equal(v.type, WR_T_STRING);
	assert_int_equal(v.u.s.len, strlen(k));
	assert_memory_equal(v.u.s.p, k, v.u.s.len);
	assert_int_equal(res(h, i, "window_start").u.i, start);
	assert_int_equal(res(h, i, "window_end").u.i, end);
	assert_int_equal(res(h, i, "n").u.i, count);
	assert_int_equal(res(h, i, "sl").u.i, sum);
}

static harness *
small_harness(const char *body)
{
	char *yaml = job_yaml(1, 8, body);
	harness *h = harness_new(yaml, 0);
	free(yaml);
	return h;
}

/* Results: key fields, window_start, window_end, aggregates; a window
 * fires when the watermark reaches its end - 1. */
static void
test_tumbling_fires_at_end(void **state)
{
	(void)state;
	harness *h =
	    small_harness("    window: { tumbling: 10s }\n"
	                  "    aggregate: { n: count(), sl: sum(l) }\n");
	assert_string_equal(h->n->out.fields[0].name, "k");
	assert_string_equal(h->n->out.fields[1].name, "g");
	assert_string_equal(h->n->out.fields[2].name, "window_start");
	assert_string_equal(h->n->out.fields[3].name, "window_end");
	assert_string_equal(h->n->out.fields[4].name, "n");
	wr_row r = mk(h, "a", 1000, 5);
	push(h, &r);
	r = mk(h, "a", 9999, 7);
	push(h, &r);
	r = mk(h, "b", 12000, 1);
	push(h, &r);
	watermark(h, 9998);
	assert_int_equal(h->nout, 0);
	watermark(h, 9999);
	assert_int_equal(h->nout, 1);
	assert_res(h, 0, "a", 0, 10000, 2, 12);
	finish(h); /* end of input: the rest fires */
	assert_int_equal(h->nout, 2);
	assert_res(h, 1, "b", 10000, 20000, 1, 1);
	assert_true(h->last_wm[0] == TM_WM_MAX);
	harness_free(h);
}

/* Allowed lateness: a late record within it fires its window again at
 * once with the updated result (also a window that had no data when it
 * was due); beyond it the record is dropped and counted. */
static void
test_lateness(void **state)
{
	(void)state;
	harness *h =
	    small_harness("    window: { tumbling: 10s }\n"
	                  "    allowed_lateness: 5s\n"
	                  "    aggregate: { n: count(), sl: sum(l) }\n");
	wr_row r = mk(h, "a", 1000, 1);
	push(h, &r);
	watermark(h, 9999);
	assert_int_equal(h->nout, 1);
	assert_res(h, 0, "a", 0, 10000, 1, 1);
	r = mk(h, "a", 2000, 10);
	push(h, &r);
	assert_int_equal(h->nout, 2);
	assert_res(h, 1, "a", 0, 10000, 2, 11);
	r = mk(h, "b", 5000, 100); /* no data when [0, 10s) was due */
	push(h, &r);
	assert_int_equal(h->nout, 3);
	assert_res(h, 2, "b", 0, 10000, 1, 100);
	watermark(h, 14998); /* end - 1 + lateness not reached */
	r = mk(h, "a", 3000, 1000);
	push(h, &r);
	assert_int_equal(h->nout, 4);
	assert_res(h, 3, "a", 0, 10000, 3, 1011);
	assert_true(wr_metric_value(h->late) == 0);
	watermark(h, 14999); /* past lateness: state goes */
	r = mk(h, "a", 4000, 1);
	push(h, &r);
	r = mk(h, "b", 9999, 1);
	push(h, &r);
	assert_int_equal(h->nout, 4);
	assert_true(wr_metric_value(h->late) == 2);
	/* The next window is unaffected. */
	r = mk(h, "a", 10000, 3);
	push(h, &r);
	finish(h);
	assert_int_equal(h->nout, 5);
	assert_res(h, 4, "a", 10000, 20000, 1, 3);
	assert_int_equal(state_entries(h), 0);
	harness_free(h);
}

/* Without allowed lateness, a record for a window that fired is late. */
static void
test_no_lateness_drops_after_firing(void **state)
{
	(void)state;
	harness *h =
	    small_harness("    window: { sliding: 10s, slide: 5s }\n"
	                  "    aggregate: { n: count(), sl: sum(l) }\n");
	wr_row r = mk(h, "a", 7000, 1); /* [0, 10s) and [5s, 15s) */
	push(h, &r);
	watermark(h, 9999);
	assert_int_equal(h->nout, 1);
	assert_res(h, 0, "a", 0, 10000, 1, 1);
	r = mk(h, "a", 8000, 2); /* too late for [0, 10s) only */
	push(h, &r);
	assert_int_equal(h->nout, 1);
	assert_true(wr_metric_value(h->late) == 0);
	r = mk(h, "a", 4000, 4); /* in [0, 10s) and [-5s, 5s): both fired */
	push(h, &r);
	assert_true(wr_metric_value(h->late) == 1);
	finish(h);
	assert_int_equal(h->nout, 2);
	assert_res(h, 1, "a", 5000, 15000, 2, 3);
	harness_free(h);
}

/* Sessions: records closer than the gap merge (touching ones too, as
 * Flink's TimeWindow.intersects); a session ends at last record + gap. */
static void
test_sessions(void **state)
{
	(void)state;
	harness *h =
	    small_harness("    window: { session: 5s }\n"
	                  "    aggregate: { n: count(), sl: sum(l) }\n");
	wr_row r = mk(h, "a", 4000, 1);
	push(h, &r);
	r = mk(h, "a", 1000, 2); /* out of order, same session */
	push(h, &r);
	r = mk(h, "a", 20000, 4);
	push(h, &r);
	r = mk(h, "a", 30000, 8);
	push(h, &r);
	r = mk(h, "a", 35000, 16); /* touches [30s, 35s) */
	push(h, &r);
	watermark(h, 8998);
	assert_int_equal(h->nout, 0);
	watermark(h, 8999);
	assert_int_equal(h->nout, 1);
	assert_res(h, 0, "a", 1000, 9000, 2, 3);
	/* A record bridging two pending sessions merges them. */
	r = mk(h, "a", 12000, 32);
	push(h, &r);
	r = mk(h, "a", 16000, 64);
	push(h, &r);
	/* Touching on the other side: [45s, 50s) meets [50s, 55s). */
	r = mk(h, "a", 50000, 128);
	push(h, &r);
	r = mk(h, "a", 45000, 256);
	push(h, &r);
	finish(h);
	assert_int_equal(h->nout, 4);
	assert_res(h, 1, "a", 12000, 25000, 3, 100);
	assert_res(h, 2, "a", 30000, 40000, 2, 24);
	assert_res(h, 3, "a", 45000, 55000, 2, 384);
	assert_int_equal(state_entries(h), 0);
	harness_free(h);
}

/* One key group, 10,000 keys whose windows end together: more timers due
 * at once than one scan collects (TM_WIN_TIMER_BATCH), all fire. */
static void
test_many_timers_at_once(void **state)
{
	(void)state;
	char *yaml = job_yaml(1, 1,
	                      "    window: { tumbling: 10s }\n"
	                      "    aggregate: { n: count(), sl: sum(l) }\n");
	harness *h = harness_new(yaml, 0);
	enum { NK = 10000 };
	static char names[NK][12];
	for (int i = 0; i < NK; i++) {
		snprintf(names[i], sizeof(names[i]), "key%d", i);
		wr_row r = mk(h, names[i], 1000 + i % 9000, i);
		push(h, &r);
		if (i % 2 == 0) { /* a second record, a second window */
			r = mk(h, names[i], 15000, 1);
			push(h, &r);
		}
	}
	watermark(h, 9999);
	assert_int_equal(h->nout, NK);
	int64_t sum = 0;
	for (int i = 0; i < NK; i++) {
		assert_int_equal(res(h, (size_t)i, "n").u.i, 1);
		assert_int_equal(res(h, (size_t)i, "window_end").u.i, 10000);
		sum += res(h, (size_t)i, "sl").u.i;
	}
	assert_int_equal(sum, (int64_t)NK * (NK - 1) / 2);
	finish(h);
	assert_int_equal(h->nout, NK + NK / 2);
	assert_int_equal(state_entries(h), 0);
	harness_free(h);
	free(yaml);
}

/* 6,000 keys over 128 key groups, each window ending at its own time:
 * more timers due at one watermark than a batch holds. All fire, in time
 * order across key groups (a batch never fires past a timer some key
 * group left in state). */
static void
test_timers_in_time_order(void **state)
{
	(void)state;
	char *yaml = job_yaml(1, 128,
	                      "    window: { tumbling: 1s }\n"
	                      "    aggregate: { n: count(), sl: sum(l) }\n");
	harness *h = harness_new(yaml, 0);
	enum { NK = 6000 };
	static char names[NK][12];
	for (int i = 0; i < NK; i++) {
		snprintf(names[i], sizeof(names[i]), "key%d", i);
		wr_row r = mk(h, names[i], (int64_t)i * 1000 + 500, i);
		push(h, &r);
	}
	watermark(h, (int64_t)NK * 1000);
	assert_int_equal(h->nout, NK);
	for (int i = 0; i < NK; i++) {
		assert_int_equal(res(h, (size_t)i, "window_end").u.i,
		                 (int64_t)(i + 1) * 1000);
		assert_int_equal(res(h, (size_t)i, "sl").u.i, i);
	}
	finish(h);
	assert_int_equal(h->nout, NK);
	assert_int_equal(state_entries(h), 0);
	harness_free(h);
	free(yaml);
}

/* Event time through a select that reorders fields; a select that drops
 * the event-time field is refused with a message naming it. */
static void
test_event_time_through_select(void **state)
{
	(void)state;
	const char *ok =
	    "name: wt\n"
	    "sources:\n"
	    "  src:\n"
	    "    file: { path: /dev/null }\n"
	    "    schema: { k: string, g: long, l: long, d: double, "
	    "s: string, b: bool, ts: timestamp }\n"
	    "    event_time: { field: ts }\n"
	    "nodes:\n"
	    "  - id: sel\n"
	    "    from: src\n"
	    "    select: { ts: ts, b: b, s: s, d: d, l: l * 2, g: g, k: k }\n"
	    "  - id: w\n"
	    "    from: sel\n"
	    "    key_by: [k, g]\n"
	    "    window: { tumbling: 10s }\n"
	    "    aggregate: { n: count(), sl: sum(l) }\n"
	    "  - id: out\n"
	    "    from: w\n"
	    "    sink: { stdout: {} }\n";
	harness *h = harness_new(ok, 0);
	assert_int_equal(wr_schema_index(h->in, "ts"), 0);
	wr_row r = mk(h, "a", 1000, 5);
	push(h, &r);
	finish(h);
	assert_int_equal(h->nout, 1);
	assert_res(h, 0, "a", 0, 10000, 1, 5);
	harness_free(h);

	char *bad = strdup(ok);
	char *at = strstr(bad, "ts: ts, ");
	memcpy(at, "zz: ts, ", 8); /* renamed */
	wr_jobspec *job;
	wr_plan *plan;
	char err[512];
	job = wrt_job(bad, 0);
	assert_int_equal(wr_plan_build(job, &plan, err, sizeof(err)), WR_OK);
	tm_server tm = {0};
	tm_task_spec spec = {.job_id = "j"};
	tm_task t = {.tm = &tm, .spec = &spec, .job = job, .plan = plan};
	int wn = wr_jobspec_find(job, "w");
	t.vertex = &plan->vertices[plan->node_vertex[wn]];
	tm_task_conf(&t);
	tm_ctx *op = NULL;
	assert_int_equal(tm_ctx_build(&t, wn, &op, err, sizeof(err)),
	                 WR_EINVAL);
	assert_non_null(strstr(err, "'ts'"));
	assert_non_null(strstr(err, "'sel'"));
	assert_null(t.state);
	assert_null(op);
	wr_plan_free(plan);
	wr_jobspec_free(job);
	free(bad);
}

/* A record without event time has no window: counted as invalid. A
 * record of another subtask's key group fails the task (the shuffle
 * routes by the same function, so this is a bug or corruption). */
static void
test_invalid_and_misrouted(void **state)
{
	(void)state;
	char *yaml = job_yaml(2, 8,
	                      "    window: { tumbling: 10s }\n"
	                      "    aggregate: { n: count(), sl: sum(l) }\n");
	harness *h = harness_new(yaml, 0);
	wr_row r = mk(h, "a", 1000, 1);
	r.v[wr_schema_index(h->in, "ts")].type = WR_T_NULL;
	push(h, &r);
	assert_true(wr_metric_value(h->invalid) == 1);
	r = mk(h, "a", 1000, 1);
	int other = 1 - route(h, &r);
	int rv = h->op[other]->process(h->op[other]->self, 0, &r);
	assert_int_equal(rv, WR_ECORRUPT);
	assert_non_null(strstr(h->task[other].failure, "key group"));
	finish(h);
	assert_int_equal(h->nout, 0);
	harness_free(h);
	free(yaml);
}

/* Keys longer than keyed state can hold fail the task with a message. */
static void
test_key_too_long(void **state)
{
	(void)state;
	harness *h = small_harness("    window: { tumbling: 10s }\n"
	                           "    aggregate: { n: count() }\n");
	char big[600];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	wr_row r = mk(h, big, 1000, 1);
	assert_int_equal(h->op[0]->process(h->op[0]->self, 0, &r), WR_ETOOBIG);
	assert_non_null(strstr(h->task[0].failure, "key of"));
	harness_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tumbling_fires_at_end),
	    cmocka_unit_test(test_lateness),
	    cmocka_unit_test(test_no_lateness_drops_after_firing),
	    cmocka_unit_test(test_sessions),
	    cmocka_unit_test(test_many_timers_at_once),
	    cmocka_unit_test(test_timers_in_time_order),
	    cmocka_unit_test(test_event_time_through_select),
	    cmocka_unit_test(test_invalid_and_misrouted),
	    cmocka_unit_test(test_key_too_long),
	    cmocka_unit_test(test_random_tumbling),
	    cmocka_unit_test(test_random_tumbling_lateness),
	    cmocka_unit_test(test_random_sliding),
	    cmocka_unit_test(test_random_sliding_panes),
	    cmocka_unit_test(test_random_sliding_per_window),
	    cmocka_unit_test(test_random_session),
	    cmocka_unit_test(test_random_session_lateness),
	    cmocka_unit_test(test_random_tiny_cache),
	    cmocka_unit_test(test_random_reopen),
	    cmocka_unit_test(test_random_reduce),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
