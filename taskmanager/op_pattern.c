/*
 * op_pattern.c - the pattern (CEP) operator (docs/cep.md): records wait in
 * the event-time sort buffer (evbuf.h) until the watermark passes them,
 * then go to the matching engine (cep.h) in event-time order per key;
 * matches leave on the main output, partial matches `within` expired on
 * the timeout_output side output when a node reads it.
 *
 * State ids (the task's backend; a keyed operator heads its vertex and
 * owns it, window.c): the engine's TM_CEP_ST_KEYS and TM_CEP_ST_TIMERS
 * (cep.h), the sort buffer's TM_PAT_ST_BUF and + 1, the timer service's
 * (op.h). The operator's own snapshot is the watermark it had at the
 * barrier: after a restore, records at or before it stay late, as they
 * were, so that no key is fed an event older than one it was fed.
 *
 * @thread task: an operator belongs to its task's thread.
 */
#include "op.h"

#include "cep.h"
#include "clock.h"
#include "err.h"
#include "evbuf.h"
#include "log.h"
#include "mem.h"
#include "record.h"
#include "state.h"
#include "wr_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The sort buffer's, and + 1 (evbuf.h). */
#define TM_PAT_ST_BUF 18
_Static_assert(TM_PAT_ST_BUF > (int)TM_CEP_ST_TIMERS &&
                   TM_PAT_ST_BUF != TM_STATE_ID_TIMER_EVENT &&
                   TM_PAT_ST_BUF + 1 != TM_STATE_ID_TIMER_PROC,
               "state ids apart from the engine's and the timer service's");

typedef struct tm_pat {
	tm_ctx *ctx;
	const tm_op_conf *conf;
	const wr_node_spec *n;
	const wr_schema *in;
	wr_state *st;
	tm_evbuf *buf;
	tm_cep *eng;
	int tf; /* event-time field of the input */
	int maxp, kg_first, kg_last;
	int64_t wm;          /* the watermark handed to the operator */
	int64_t late_floor;  /* restored: the watermark at the barrier */
	int64_t advanced_to; /* the last watermark given the engine */
	wr_buf key;
	/* the timer being served: its key, for the engine */
	int tkg;
	const void *tkey;
	size_t tklen;
	/* partial matches dropped (tm_cep_stats) already counted, and when
	 * the last warning said so (0: never) */
	uint64_t dropped;
	int64_t dropped_warned_ms;
} tm_pat;

static int
tm_pat_fail(tm_pat *a, int rv, const char *what)
{
	if (rv == WR_EPROTO)
		tm_fail(a->ctx,
		        "node '%s': %s: the restored partial matches were "
		        "written before aggregates (state format 1) and hold "
		        "none for this pattern's sum/avg/min/max: start the "
		        "job without that state",
		        a->n->id, what);
	else
		tm_fail(a->ctx, "node '%s': %s: %s", a->n->id, what,
		        wr_strerror(rv));
	return rv;
}

/* Partial matches the engine dropped since the last call (over its key's
 * TM_CEP_MAX_PARTIALS): counted, and a warning at most every
 * TM_CEP_DROPPED_WARN_MS, since a loose pattern drops on every event. */
static void
tm_pat_dropped(tm_pat *a)
{
	tm_cep_stats st;
	tm_cep_get_stats(a->eng, &st);
	if (st.dropped == a->dropped)
		return;
	tm_count(a->ctx, TM_COUNT_CEP_DROPPED,
	         (double)(st.dropped - a->dropped));
	a->dropped = st.dropped;
	int64_t now = wr_mono_ms();
	if (a->dropped_warned_ms != 0 &&
	    now - a->dropped_warned_ms < TM_CEP_DROPPED_WARN_MS)
		return;
	a->dropped_warned_ms = now;
	wr_log(WR_LOG_WARN, "TM-CEP-PARTIALS-DROPPED",
	       "%s node '%s': %llu partial matches dropped so far: a key "
	       "held %d (docs/cep.md, limits); tighten the conditions or "
	       "`within`",
	       a->conf->label, a->n->id, (unsigned long long)st.dropped,
	       TM_CEP_MAX_PARTIALS);
}

/* Too late to be ordered: counted. The node's side output is its
 * timeouts, so a late record has nowhere else to go. */
static void
tm_pat_late(tm_pat *a)
{
	tm_count(a->ctx, TM_COUNT_LATE_DROPPED, 1);
}

static int
tm_pat_process(void *self, int input, const wr_row *r)
{
	tm_pat *a = self;
	bool late;
	int kg;
	(void)input;
	if ((uint32_t)a->tf >= r->n || r->v[a->tf].type != WR_T_TIMESTAMP) {
		tm_count(a->ctx, TM_COUNT_INVALID, 1);
		return WR_OK;
	}
	int rv = tm_evbuf_key(a->n, r, a->maxp, &a->key, &kg);
	if (rv != WR_OK)
		return tm_pat_fail(a, rv, "a key too long for keyed state");
	if (kg < a->kg_first || kg > a->kg_last)
		return tm_pat_fail(a, WR_ECORRUPT,
		                   "a record of a key group this subtask does "
		                   "not own");
	int64_t wm = tm_current_watermark(a->ctx);
	if (wm < a->late_floor)
		wm = a->late_floor;
	rv = tm_evbuf_put(a->buf, kg, a->key.data, a->key.len, r->v[a->tf].u.i,
	                  wm, r, &late);
	if (rv != WR_OK)
		return tm_pat_fail(a, rv, "buffering a record");
	if (late)
		tm_pat_late(a);
	return WR_OK;
}

static int
tm_pat_match(void *arg, const wr_row *out)
{
	tm_pat *a = arg;
	return tm_emit(a->ctx, out);
}

/* An expired partial match: to timeout_output when a node reads it. */
static int
tm_pat_timeout(void *arg, const wr_row *out)
{
	tm_pat *a = arg;
	return tm_has_side(a->ctx) ? tm_emit_side(a->ctx, out) : WR_OK;
}

/* A buffered record, in (ts, arrival) order of its key. */
static int
tm_pat_feed(void *arg, int64_t ts, const wr_row *r)
{
	tm_pat *a = arg;
	int rv =
	    tm_cep_feed(a->eng, (uint16_t)a->tkg, a->tkey, a->tklen, r, ts);
	tm_pat_dropped(a);
	return rv;
}

static int
tm_pat_timer(void *self, const tm_timer *tm)
{
	tm_pat *a = self;
	a->tkg = tm->key_group;
	a->tkey = tm->key;
	a->tklen = tm->klen;
	int rv = tm_evbuf_release(a->buf, tm->key_group, tm->key, tm->klen,
	                          tm->ts, tm_pat_feed, a);
	if (rv != WR_OK && rv != WR_ECLOSED)
		return tm_pat_fail(a, rv, "matching released records");
	return rv;
}

/* The timers up to wm fired already (the records at or before it are
 * fed); now the partial matches only such records could extend expire.
 * The matches and timeouts leave before the watermark that passed them. */
static int
tm_pat_watermark(void *self, int64_t wm)
{
	tm_pat *a = self;
	if (wm > a->wm)
		a->wm = wm;
	if (a->wm != TM_WM_MIN && a->wm > a->advanced_to) {
		int rv = tm_cep_advance(a->eng, a->wm);
		if (rv != WR_OK && rv != WR_ECLOSED)
			return tm_pat_fail(a, rv, "expiring partial matches");
		if (rv != WR_OK)
			return rv;
		a->advanced_to = a->wm;
	}
	return tm_emit_watermark(a->ctx, a->wm);
}

/* The watermark at the barrier (8 bytes, little-endian). */
static int
tm_pat_snapshot(void *self, uint64_t ckpt, wr_buf *out)
{
	tm_pat *a = self;
	(void)ckpt;
	tm_evbuf_wm_snapshot(out, a->wm);
	return WR_OK;
}

/* The highest of the old subtasks' watermarks (rescaled: any of them may
 * have fed a key this subtask takes over up to its watermark, and the
 * engine takes a key's events in time order only). */
static int
tm_pat_restore(void *self, const tm_op_state *states, int n)
{
	tm_pat *a = self;
	tm_evbuf_wm_restore(states, n, true, &a->late_floor);
	return WR_OK;
}

static void
tm_pat_close(void *self)
{
	tm_pat *a = self;
	if (a == NULL)
		return;
	tm_cep_free(a->eng);
	tm_evbuf_free(a->buf);
	wr_buf_fini(&a->key);
	free(a);
}

/* The engine and the buffer on the task's keyed state. */
static int
tm_pat_engine(tm_pat *a, char *errbuf, size_t errlen)
{
	int rv = tm_state(a->ctx, &a->st);
	if (rv != WR_OK) {
		snprintf(errbuf, errlen,
		         "node '%s': cannot open keyed state: %s", a->n->id,
		         wr_strerror(rv));
		return rv;
	}
	tm_cep_opts o = {.node = a->n,
	                 .st = a->st,
	                 .kg_first = (uint16_t)a->kg_first,
	                 .kg_last = (uint16_t)a->kg_last,
	                 .on_match = tm_pat_match,
	                 .on_timeout = tm_pat_timeout,
	                 .arg = a};
	if ((rv = tm_cep_new(&o, &a->eng)) != WR_OK) {
		snprintf(errbuf, errlen, "node '%s': pattern refused: %s",
		         a->n->id, wr_strerror(rv));
		return rv;
	}
	tm_evbuf_cfg bc = {.state_id = TM_PAT_ST_BUF,
	                   .timer_tag = 0,
	                   .timer_set = tm_evbuf_timer_set,
	                   .timer_arg = a->ctx};
	a->buf = tm_evbuf_new(&bc, a->st);
	return WR_OK;
}

static int
tm_pat_open(tm_ctx *ctx, const wr_node_spec *n, void **self, char *errbuf,
            size_t errlen)
{
	tm_pat *a = wr_xcalloc(1, sizeof(*a));
	a->ctx = ctx;
	a->conf = tm_conf(ctx);
	a->n = n;
	a->in = wr_jobspec_input_schema(a->conf->job, n, 0);
	a->wm = a->late_floor = a->advanced_to = TM_WM_MIN;
	wr_buf_init(&a->key);
	int rv = WR_EINVAL;
	a->maxp = a->conf->max_parallelism;
	tm_key_groups(ctx, &a->kg_first, &a->kg_last);
	a->tf = tm_evbuf_time_field(a->conf->job, n, a->in, "pattern", errbuf,
	                            errlen);
	if (a->tf < 0)
		goto fail;
	if (a->kg_first < 0 || a->kg_last > UINT16_MAX) {
		snprintf(errbuf, errlen,
		         "node '%s': subtask %d owns no key group", n->id,
		         a->conf->subtask);
		goto fail;
	}
	if ((rv = tm_pat_engine(a, errbuf, errlen)) != WR_OK)
		goto fail;
	*self = a;
	return WR_OK;
fail:
	tm_pat_close(a);
	return rv;
}

const tm_op_vt tm_pattern_op = {
    .name = "pattern",
    .open = tm_pat_open,
    .process = tm_pat_process,
    .watermark = tm_pat_watermark,
    .timer = tm_pat_timer,
    .snapshot = tm_pat_snapshot,
    .restore = tm_pat_restore,
    .close = tm_pat_close,
};
