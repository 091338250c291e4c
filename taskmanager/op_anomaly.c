/*
 * op_anomaly.c - the anomaly operator (docs/anomaly.md): records wait in
 * the event-time sort buffer (evbuf.h) until the watermark passes them,
 * then go to the anomaly engine (anomaly.h) in event-time order per key;
 * the anomalous ones leave with mean, stddev and score.
 *
 * State ids (the task's backend; a keyed operator heads its vertex and
 * owns it, window.c): the engine's TM_ANOM_ST_ENGINE and + 1, the sort
 * buffer's TM_ANOM_ST_BUF and + 1, the timer service's (op.h). The
 * operator's own snapshot is the watermark it had at the barrier: after
 * a restore, records at or before it stay late, as they were.
 *
 * @thread task: an operator belongs to its task's thread.
 */
#include "op.h"

#include "anomaly.h"
#include "err.h"
#include "evbuf.h"
#include "mem.h"
#include "record.h"
#include "state.h"
#include "wr_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	TM_ANOM_ST_ENGINE = 8, /* and 9 (anomaly.h) */
	TM_ANOM_ST_BUF = 10,   /* and 11 (evbuf.h) */
};
_Static_assert(TM_ANOM_ST_ENGINE + 1 != TM_STATE_ID_TIMER_EVENT &&
                   TM_ANOM_ST_BUF + 1 != TM_STATE_ID_TIMER_PROC,
               "state ids apart from the timer service's");

typedef struct tm_anom {
	tm_ctx *ctx;
	const tm_op_conf *conf;
	const wr_node_spec *n;
	const wr_schema *in;
	wr_state *st;
	tm_evbuf *buf;
	tm_anomaly *eng;
	int tf; /* event-time field of the input */
	int maxp, kg_first, kg_last;
	int64_t wm;         /* the watermark handed to the operator */
	int64_t late_floor; /* restored: the watermark at the barrier */
	int64_t expired_at; /* watermark of the last expiry */
	wr_buf key;
	/* the timer being served: its key, for the engine */
	int tkg;
	const void *tkey;
	size_t tklen;
	const wr_row *cur; /* the record being fed */
} tm_anom;

/* A record too late to be ordered: the side output, else counted. */
static int
tm_anom_late(tm_anom *a, const wr_row *r)
{
	if (tm_has_side(a->ctx))
		return tm_emit_side(a->ctx, r);
	tm_count(a->ctx, TM_COUNT_LATE_DROPPED, 1);
	return WR_OK;
}

static int
tm_anom_fail(tm_anom *a, int rv, const char *what)
{
	tm_fail(a->ctx, "node '%s': %s: %s", a->n->id, what, wr_strerror(rv));
	return rv;
}

/* The record's value as a double; false: none (null or another type). */
static bool
tm_anom_value(const tm_anom *a, const wr_row *r, double *x)
{
	int i = a->n->anomaly.value;
	if ((uint32_t)i >= r->n)
		return false;
	if (r->v[i].type == WR_T_LONG)
		*x = (double)r->v[i].u.i;
	else if (r->v[i].type == WR_T_DOUBLE)
		*x = r->v[i].u.d;
	else
		return false;
	return true;
}

static int
tm_anom_process(void *self, int input, const wr_row *r)
{
	tm_anom *a = self;
	double x;
	bool late;
	int kg;
	(void)input;
	if ((uint32_t)a->tf >= r->n || r->v[a->tf].type != WR_T_TIMESTAMP ||
	    !tm_anom_value(a, r, &x)) {
		tm_count(a->ctx, TM_COUNT_INVALID, 1);
		return WR_OK;
	}
	int rv = tm_evbuf_key(a->n, r, a->maxp, &a->key, &kg);
	if (rv != WR_OK)
		return tm_anom_fail(a, rv, "a key too long for keyed state");
	if (kg < a->kg_first || kg > a->kg_last)
		return tm_anom_fail(a, WR_ECORRUPT,
		                    "a record of a key group this subtask does "
		                    "not own");
	int64_t wm = tm_current_watermark(a->ctx);
	if (wm < a->late_floor)
		wm = a->late_floor;
	rv = tm_evbuf_put(a->buf, kg, a->key.data, a->key.len, r->v[a->tf].u.i,
	                  wm, r, &late);
	if (rv != WR_OK)
		return tm_anom_fail(a, rv, "buffering a record");
	return late ? tm_anom_late(a, r) : WR_OK;
}

/* The engine found a->cur anomalous: its fields, mean, stddev, score. */
static int
tm_anom_hit(void *arg, const tm_anomaly_hit *h)
{
	tm_anom *a = arg;
	wr_row out;
	uint32_t n = a->in->n;
	for (uint32_t i = 0; i < n; i++) {
		if (i < a->cur->n)
			out.v[i] = a->cur->v[i];
		else
			out.v[i].type = WR_T_NULL;
	}
	out.v[n].type = WR_T_DOUBLE;
	out.v[n].u.d = h->mean;
	out.v[n + 1].type = WR_T_DOUBLE;
	out.v[n + 1].u.d = h->stddev;
	out.v[n + 2].type = h->score_null ? WR_T_NULL : WR_T_DOUBLE;
	out.v[n + 2].u.d = h->score;
	out.n = n + 3;
	return tm_emit(a->ctx, &out);
}

/* A buffered record, in (ts, arrival) order of its key. */
static int
tm_anom_feed(void *arg, int64_t ts, const wr_row *r)
{
	tm_anom *a = arg;
	tm_anomaly_stats before, after;
	double x;
	if (!tm_anom_value(a, r, &x))
		return WR_ECORRUPT; /* checked before it was buffered */
	a->cur = r;
	tm_anomaly_get_stats(a->eng, &before);
	int rv = tm_anomaly_feed(a->eng, (uint16_t)a->tkg, a->tkey, a->tklen, x,
	                         ts, tm_anom_hit, a);
	tm_anomaly_get_stats(a->eng, &after);
	/* Behind the key's last fed record: possible only after a restore
	 * to an earlier watermark than the one that ordered it (late). */
	if (rv == WR_EINVAL && after.out_of_order > before.out_of_order)
		return tm_anom_late(a, r);
	return rv;
}

static int
tm_anom_timer(void *self, const tm_timer *tm)
{
	tm_anom *a = self;
	a->tkg = tm->key_group;
	a->tkey = tm->key;
	a->tklen = tm->klen;
	int rv = tm_evbuf_release(a->buf, tm->key_group, tm->key, tm->klen,
	                          tm->ts, tm_anom_feed, a);
	if (rv != WR_OK && rv != WR_ECLOSED)
		return tm_anom_fail(a, rv, "releasing buffered records");
	return rv;
}

/* Timers up to wm fired already; keys whose history ended are removed
 * every history / 2 of watermark progress (anomaly.h). */
static int
tm_anom_watermark(void *self, int64_t wm)
{
	tm_anom *a = self;
	if (wm > a->wm)
		a->wm = wm;
	int64_t h = a->n->anomaly.history_ms;
	/* wm >= expired_at: the unsigned difference cannot overflow */
	if (h > 0 && a->wm != TM_WM_MIN &&
	    (a->expired_at == TM_WM_MIN ||
	     (uint64_t)a->wm - (uint64_t)a->expired_at >= (uint64_t)h / 2)) {
		int rv = tm_anomaly_expire(a->eng, (uint16_t)a->kg_first,
		                           (uint16_t)a->kg_last, a->wm, NULL);
		if (rv != WR_OK)
			return tm_anom_fail(a, rv, "expiring histories");
		a->expired_at = a->wm;
	}
	return tm_emit_watermark(a->ctx, a->wm);
}

/* The watermark at the barrier (8 bytes, little-endian). */
static int
tm_anom_snapshot(void *self, uint64_t ckpt, wr_buf *out)
{
	tm_anom *a = self;
	(void)ckpt;
	tm_evbuf_wm_snapshot(out, a->wm);
	return WR_OK;
}

/* The lowest of the old subtasks' watermarks (rescaled: any of them may
 * have ordered a key this subtask takes over). */
static int
tm_anom_restore(void *self, const tm_op_state *states, int n)
{
	tm_anom *a = self;
	tm_evbuf_wm_restore(states, n, false, &a->late_floor);
	return WR_OK;
}

static void
tm_anom_close(void *self)
{
	tm_anom *a = self;
	if (a == NULL)
		return;
	tm_anomaly_free(a->eng);
	tm_evbuf_free(a->buf);
	wr_buf_fini(&a->key);
	free(a);
}

/* The engine and the buffer on the task's keyed state. */
static int
tm_anom_engine(tm_anom *a, char *errbuf, size_t errlen)
{
	const wr_anomaly_spec *s = &a->n->anomaly;
	tm_anomaly_cfg cfg = {.history_ms = s->history_ms,
	                      .ewma = s->ewma,
	                      .threshold = s->threshold,
	                      .min_count = s->min_count,
	                      .state_id = TM_ANOM_ST_ENGINE};
	int rv = tm_state(a->ctx, &a->st);
	if (rv != WR_OK) {
		snprintf(errbuf, errlen,
		         "node '%s': cannot open keyed state: %s", a->n->id,
		         wr_strerror(rv));
		return rv;
	}
	if ((rv = tm_anomaly_new(&cfg, a->st, &a->eng)) != WR_OK) {
		snprintf(errbuf, errlen, "node '%s': anomaly settings refused",
		         a->n->id);
		return rv;
	}
	tm_evbuf_cfg bc = {.state_id = TM_ANOM_ST_BUF,
	                   .timer_tag = 0,
	                   .timer_set = tm_evbuf_timer_set,
	                   .timer_arg = a->ctx};
	a->buf = tm_evbuf_new(&bc, a->st);
	return WR_OK;
}

static int
tm_anom_open(tm_ctx *ctx, const wr_node_spec *n, void **self, char *errbuf,
             size_t errlen)
{
	tm_anom *a = wr_xcalloc(1, sizeof(*a));
	a->ctx = ctx;
	a->conf = tm_conf(ctx);
	a->n = n;
	a->in = wr_jobspec_input_schema(a->conf->job, n, 0);
	a->wm = a->late_floor = a->expired_at = TM_WM_MIN;
	wr_buf_init(&a->key);
	int rv = WR_EINVAL;
	a->maxp = a->conf->max_parallelism;
	tm_key_groups(ctx, &a->kg_first, &a->kg_last);
	a->tf = tm_evbuf_time_field(a->conf->job, n, a->in, "anomaly detection",
	                            errbuf, errlen);
	if (a->tf < 0)
		goto fail;
	if (a->kg_first < 0 || a->maxp > UINT16_MAX + 1) {
		snprintf(errbuf, errlen,
		         "node '%s': subtask %d owns no key group", n->id,
		         a->conf->subtask);
		goto fail;
	}
	if ((rv = tm_anom_engine(a, errbuf, errlen)) != WR_OK)
		goto fail;
	*self = a;
	return WR_OK;
fail:
	tm_anom_close(a);
	return rv;
}

const tm_op_vt tm_anomaly_op = {
    .name = "anomaly",
    .open = tm_anom_open,
    .process = tm_anom_process,
    .watermark = tm_anom_watermark,
    .timer = tm_anom_timer,
    .snapshot = tm_anom_snapshot,
    .restore = tm_anom_restore,
    .close = tm_anom_close,
};
