/*
 * window.c - keyed event-time windows (tumbling, sliding, session) and
 * reduce (a running aggregate per key), on the task's keyed state.
 *
 * Everything a window keeps lives in the state backend (state.h): pane
 * accumulators, session lists and accumulators, and its event-time
 * timers (the runtime's timer service, op.h), so state larger than memory
 * works and a checkpoint of the backend holds all of it.
 *
 * docs/windows.md has the semantics (alignment, firing, lateness, panes,
 * sessions, results) and the state layout.
 *
 * @thread task: an operator belongs to its task's thread.
 */
#include "op.h"

#include "agg.h"
#include "clock.h"
#include "err.h"
#include "evbuf.h"
#include "mem.h"
#include "record.h"
#include "state.h"
#include "wr_limits.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* State ids of the operator's entries. A keyed operator heads its vertex
 * (a HASH edge leads to it) and a task runs one vertex, so one keyed
 * operator owns the task's backend and fixed ids do (its timers are the
 * timer service's, TM_STATE_ID_TIMER_EVENT). */
enum tm_win_state_id {
	TM_WIN_ST_UNIT = 1,        /* key, start -> pane (or window) acc */
	TM_WIN_ST_SESSIONS = 3,    /* key -> the key's session list */
	TM_WIN_ST_SESSION_ACC = 4, /* key, session id -> acc */
	TM_WIN_ST_REDUCE = 5,      /* key -> acc */
};

/* Timer tags; at one time a window fires before it is cleaned. */
enum tm_win_timer_kind { TM_WIN_FIRE = 0, TM_WIN_CLEAN = 1 };

/* First byte of a session list: its format version. */
#define TM_WIN_SESSIONS_VERSION 1

_Static_assert(TM_WIN_MAX_KEY_BYTES >= 64, "keys need room");

typedef struct tm_win_session {
	int64_t start, end; /* [start, end), end = last event time + gap */
	uint64_t id;        /* names its accumulator */
} tm_win_session;

typedef struct tm_win {
	tm_ctx *ctx;
	const tm_op_conf *conf;
	const wr_node_spec *n;
	const wr_schema *in; /* the node's input schema */
	wr_state *st;
	int tf;     /* event-time field of the input; -1: reduce */
	int64_t wm; /* the watermark fired up to */
	/* window: { processing_time: true }: the wall clock when a record
	 * arrives is its time; processing-time timers; w->wm stays at its
	 * minimum (nothing is late) */
	bool proc;
	int64_t size, slide, pane, gap, late;
	bool per_window; /* one accumulator per window instead of panes */
	int maxp, kg_first, kg_last;
	tm_acc acc, part;
	wr_buf key; /* the current key, encoded (a row of the key values) */
	wr_buf sk;  /* state key scratch */
	wr_buf val; /* state value scratch */
	/* the current key's sessions, sorted by start */
	tm_win_session *sess;
	size_t nsess;
	uint64_t next_id;
} tm_win;

static int tm_win_failf(tm_win *w, int rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fails the task with "node 'id': what" and returns rv. */
static int
tm_win_failf(tm_win *w, int rv, const char *fmt, ...)
{
	char what[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	tm_fail(w->ctx, "node '%s': %s", w->n->id, what);
	return rv;
}

static int
tm_win_state_fail(tm_win *w, int rv, const char *op)
{
	return tm_win_failf(w, rv, "keyed state %s: %s", op, wr_strerror(rv));
}

/* ---- encodings ---- */

/* Big-endian with the sign bit flipped: byte order is time order, also
 * for times before 1970. */
static void
tm_win_put_time(wr_buf *b, int64_t ts)
{
	uint64_t u = (uint64_t)ts ^ (UINT64_C(1) << 63);
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(u >> (56 - 8 * i));
	wr_buf_append(b, x, sizeof(x));
}

static const wr_value tm_win_null = {.type = WR_T_NULL};

/* Field i of r; a row shorter than its schema ends in NULLs. */
static const wr_value *
tm_win_field(const wr_row *r, int i)
{
	return (uint32_t)i < r->n ? &r->v[i] : &tm_win_null;
}

/* Encodes r's key into w->key and finds its key group the way the
 * shuffle routed it (emit.c: wr_value_hash chained from 0). */
static int
tm_win_key(tm_win *w, const wr_row *r, int *kg)
{
	const wr_node_spec *n = w->n;
	wr_row k;
	uint64_t h = 0;

	k.n = (uint32_t)n->nkeys;
	for (int i = 0; i < n->nkeys; i++) {
		k.v[i] = *tm_win_field(r, n->keys[i]);
		h = wr_value_hash(&k.v[i], h);
	}
	wr_buf_reset(&w->key);
	wr_row_encode(&k, &w->key);
	if (w->key.len > TM_WIN_MAX_KEY_BYTES)
		return tm_win_failf(w, WR_ETOOBIG,
		                    "a key of %zu bytes (encoded) is longer "
		                    "than keyed state allows (%d bytes)",
		                    w->key.len, TM_WIN_MAX_KEY_BYTES);
	*kg = wr_key_group(h, w->maxp);
	if (*kg < w->kg_first || *kg > w->kg_last)
		return tm_win_failf(w, WR_ECORRUPT,
		                    "a record of key group %d reached subtask "
		                    "%d, which owns key groups %d..%d",
		                    *kg, w->conf->subtask, w->kg_first,
		                    w->kg_last);
	return WR_OK;
}

/* State key: the current key, then a time (unit start, session id). */
static void
tm_win_key_then(tm_win *w, uint64_t x, bool as_time)
{
	wr_buf_reset(&w->sk);
	wr_buf_append(&w->sk, w->key.data, w->key.len);
	if (as_time) {
		tm_win_put_time(&w->sk, (int64_t)x);
		return;
	}
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(x >> (56 - 8 * i));
	wr_buf_append(&w->sk, b, sizeof(b));
}

/* ---- accumulators in state ---- */

/* Reads the accumulator at (kg, id, w->sk) into acc; *found false (acc
 * empty) when there is none. */
static int
tm_win_acc_get(tm_win *w, int kg, uint8_t id, tm_acc *acc, bool *found)
{
	const void *v;
	size_t vlen;
	int rv = wr_state_get(w->st, (uint16_t)kg, id, w->sk.data, w->sk.len,
	                      &v, &vlen);
	*found = rv == WR_OK;
	if (rv == WR_ENOENT) {
		tm_acc_reset(acc);
		return WR_OK;
	}
	if (rv != WR_OK)
		return tm_win_state_fail(w, rv, "read");
	if (tm_acc_decode(acc, v, vlen) != WR_OK)
		return tm_win_failf(w, WR_ECORRUPT,
		                    "corrupt accumulator in keyed state "
		                    "(key group %d)",
		                    kg);
	return WR_OK;
}

static int
tm_win_acc_put(tm_win *w, int kg, uint8_t id, const tm_acc *acc)
{
	wr_buf_reset(&w->val);
	tm_acc_encode(acc, &w->val);
	int rv = wr_state_put(w->st, (uint16_t)kg, id, w->sk.data, w->sk.len,
	                      w->val.data, w->val.len);
	return rv == WR_OK ? WR_OK : tm_win_state_fail(w, rv, "write");
}

static int
tm_win_del(tm_win *w, int kg, uint8_t id)
{
	int rv = wr_state_del(w->st, (uint16_t)kg, id, w->sk.data, w->sk.len);
	return rv == WR_OK ? WR_OK : tm_win_state_fail(w, rv, "delete");
}

/* Adds r to w->acc, explaining a failure. */
static int
tm_win_acc_add(tm_win *w, const wr_row *r, int64_t ts)
{
	int rv = tm_acc_add(&w->acc, r, ts);
	if (rv == WR_ETOOBIG)
		return tm_win_failf(w, rv,
		                    "count_distinct: more than %d distinct "
		                    "values (or %u bytes of them) for one key "
		                    "and window",
		                    TM_AGG_MAX_DISTINCT,
		                    TM_AGG_MAX_DISTINCT_BYTES);
	if (rv != WR_OK)
		return tm_win_failf(w, rv,
		                    "a record's value does not have its "
		                    "field's type");
	return WR_OK;
}

static int
tm_win_acc_merge(tm_win *w)
{
	int rv = tm_acc_merge(&w->acc, &w->part);
	if (rv != WR_OK)
		return tm_win_failf(w, rv,
		                    "count_distinct: more than %d distinct "
		                    "values for one key and window",
		                    TM_AGG_MAX_DISTINCT);
	return WR_OK;
}

/* ---- timers (the runtime's timer service) ---- */

/* Registers a timer of the current key (idempotent). */
static int
tm_win_timer_set(tm_win *w, int kg, int64_t ts, uint8_t kind)
{
	return tm_timer_set(w->ctx, w->proc ? TM_TIME_PROC : TM_TIME_EVENT, kg,
	                    w->key.data, w->key.len, ts, kind);
}

static int
tm_win_timer_del(tm_win *w, int kg, int64_t ts, uint8_t kind)
{
	return tm_timer_del(w->ctx, w->proc ? TM_TIME_PROC : TM_TIME_EVENT, kg,
	                    w->key.data, w->key.len, ts, kind);
}

/* ---- results ---- */

/* Emits the current key's result for window [start, end) from acc. */
static int
tm_win_emit(tm_win *w, int64_t start, int64_t end, const tm_acc *acc)
{
	wr_row out;
	size_t pos = 0;
	if (wr_row_decode((const uint8_t *)w->key.data, w->key.len, &pos,
	                  &out) != WR_OK ||
	    pos != w->key.len || out.n != (uint32_t)w->n->nkeys)
		return tm_win_failf(w, WR_ECORRUPT,
		                    "corrupt key in keyed state");
	uint32_t i = out.n;
	if (w->n->kind == WR_NODE_WINDOW) {
		out.v[i].type = WR_T_TIMESTAMP;
		out.v[i++].u.i = start;
		out.v[i].type = WR_T_TIMESTAMP;
		out.v[i++].u.i = end;
	}
	for (size_t a = 0; a < w->n->naggs; a++)
		tm_acc_result(acc, a, &out.v[i++]);
	out.n = i;
	return tm_emit(w->ctx, &out);
}

/* A record too late for every window it belongs to: to the late_output
 * when a node reads it, else dropped and counted. */
static int
tm_win_late_record(tm_win *w, const wr_row *r)
{
	if (tm_has_side(w->ctx))
		return tm_emit_side(w->ctx, r);
	tm_count(w->ctx, TM_COUNT_LATE_DROPPED, 1);
	return WR_OK;
}

/* ---- tumbling and sliding windows ---- */

/* Floor of ts to a multiple of m (windows are aligned to epoch 0). */
static int64_t
tm_win_floor(int64_t ts, int64_t m)
{
	int64_t r = ts % m;
	return ts - (r < 0 ? r + m : r);
}

/* Adds r to the unit (pane, or window) starting at u; *created when the
 * unit did not exist. */
static int
tm_win_unit_add(tm_win *w, int kg, int64_t u, const wr_row *r, int64_t ts,
                bool *created)
{
	bool found;
	int rv;
	tm_win_key_then(w, (uint64_t)u, true);
	if ((rv = tm_win_acc_get(w, kg, TM_WIN_ST_UNIT, &w->acc, &found)) ||
	    (rv = tm_win_acc_add(w, r, ts)))
		return rv;
	*created = !found;
	return tm_win_acc_put(w, kg, TM_WIN_ST_UNIT, &w->acc);
}

/* Merges the units of window [s, s + size) into w->acc and emits it if
 * any held data. */
static int
tm_win_fire_window(tm_win *w, int kg, int64_t s)
{
	int64_t step = w->per_window ? w->size : w->pane;
	bool any = false, found;
	int rv;
	tm_acc_reset(&w->acc);
	for (int64_t u = s; u < s + w->size; u += step) {
		tm_win_key_then(w, (uint64_t)u, true);
		if ((rv = tm_win_acc_get(w, kg, TM_WIN_ST_UNIT, &w->part,
		                         &found)))
			return rv;
		if (found && (rv = tm_win_acc_merge(w)))
			return rv;
		any = any || found;
	}
	return any ? tm_win_emit(w, s, s + w->size, &w->acc) : WR_OK;
}

/* Window s is past allowed lateness: drop the units no later window
 * uses, [s, s + slide). */
static int
tm_win_clean_window(tm_win *w, int kg, int64_t s)
{
	int64_t step = w->per_window ? w->slide : w->pane;
	for (int64_t u = s; u < s + w->slide; u += step) {
		tm_win_key_then(w, (uint64_t)u, true);
		int rv = tm_win_del(w, kg, TM_WIN_ST_UNIT);
		if (rv != WR_OK)
			return rv;
	}
	return WR_OK;
}

/* A record reached window s (not late); created: its unit is new, so
 * the window may have no timer yet. */
static int
tm_win_touched(tm_win *w, int kg, int64_t s, bool created)
{
	int64_t end1 = s + w->size - 1;
	int rv;
	if (end1 > w->wm)
		return created ? tm_win_timer_set(w, kg, end1, TM_WIN_FIRE)
		               : WR_OK;
	/* Fired already, within allowed lateness: fire again now (Flink).
	 * A window that had no data when it was due has no cleanup timer
	 * yet. */
	if (created &&
	    (rv = tm_win_timer_set(w, kg, end1 + w->late, TM_WIN_CLEAN)))
		return rv;
	return tm_win_fire_window(w, kg, s);
}

static int
tm_win_push_sliced(tm_win *w, int kg, const wr_row *r, int64_t ts)
{
	int64_t last = tm_win_floor(ts, w->slide);
	bool created = false;
	int rv;
	/* The latest window of ts ends last: if it is late, all are. */
	if (last + w->size - 1 + w->late <= w->wm)
		return tm_win_late_record(w, r);
	if (!w->per_window &&
	    (rv = tm_win_unit_add(w, kg, tm_win_floor(ts, w->pane), r, ts,
	                          &created)))
		return rv;
	for (int64_t s = last; s > ts - w->size; s -= w->slide) {
		if (s + w->size - 1 + w->late <= w->wm)
			break; /* late here, and in every earlier window */
		if (w->per_window &&
		    (rv = tm_win_unit_add(w, kg, s, r, ts, &created)))
			return rv;
		if ((rv = tm_win_touched(w, kg, s, created)))
			return rv;
	}
	return WR_OK;
}

static int
tm_win_timer_sliced(tm_win *w, int kg, const tm_timer *tm)
{
	if (tm->tag == TM_WIN_CLEAN)
		return tm_win_clean_window(w, kg,
		                           tm->ts + 1 - w->late - w->size);
	int64_t s = tm->ts + 1 - w->size;
	int rv = tm_win_fire_window(w, kg, s);
	if (rv != WR_OK)
		return rv;
	if (w->late > 0)
		return tm_win_timer_set(w, kg, tm->ts + w->late, TM_WIN_CLEAN);
	return tm_win_clean_window(w, kg, s);
}

/* ---- session windows ---- */

/* Loads the current key's session list into w->sess. */
static int
tm_win_sessions_load(tm_win *w, int kg)
{
	const void *v;
	size_t vlen, pos = 1;
	uint64_t n;
	w->nsess = 0;
	w->next_id = 0;
	int rv = wr_state_get(w->st, (uint16_t)kg, TM_WIN_ST_SESSIONS,
	                      w->key.data, w->key.len, &v, &vlen);
	if (rv == WR_ENOENT)
		return WR_OK;
	if (rv != WR_OK)
		return tm_win_state_fail(w, rv, "read");
	const uint8_t *p = v;
	if (vlen < 1 || p[0] != TM_WIN_SESSIONS_VERSION ||
	    tm_agg_get_u64(p, vlen, &pos, &w->next_id) != WR_OK ||
	    tm_agg_get_u64(p, vlen, &pos, &n) != WR_OK ||
	    n > TM_WIN_MAX_SESSIONS)
		goto corrupt;
	for (uint64_t i = 0; i < n; i++) {
		tm_win_session *s = &w->sess[i];
		if (tm_agg_get_i64(p, vlen, &pos, &s->start) != WR_OK ||
		    tm_agg_get_i64(p, vlen, &pos, &s->end) != WR_OK ||
		    tm_agg_get_u64(p, vlen, &pos, &s->id) != WR_OK ||
		    s->start >= s->end ||
		    (i > 0 && s->start <= w->sess[i - 1].end))
			goto corrupt;
	}
	if (pos != vlen)
		goto corrupt;
	w->nsess = (size_t)n;
	return WR_OK;
corrupt:
	w->nsess = 0;
	return tm_win_failf(w, WR_ECORRUPT,
	                    "corrupt session list in keyed state (key group "
	                    "%d)",
	                    kg);
}

static int
tm_win_sessions_store(tm_win *w, int kg)
{
	if (w->nsess == 0) {
		int rv = wr_state_del(w->st, (uint16_t)kg, TM_WIN_ST_SESSIONS,
		                      w->key.data, w->key.len);
		return rv == WR_OK ? WR_OK : tm_win_state_fail(w, rv, "delete");
	}
	uint8_t version = TM_WIN_SESSIONS_VERSION;
	wr_buf_reset(&w->val);
	wr_buf_append(&w->val, &version, 1);
	tm_agg_put_u64(&w->val, w->next_id);
	tm_agg_put_u64(&w->val, w->nsess);
	for (size_t i = 0; i < w->nsess; i++) {
		tm_agg_put_i64(&w->val, w->sess[i].start);
		tm_agg_put_i64(&w->val, w->sess[i].end);
		tm_agg_put_u64(&w->val, w->sess[i].id);
	}
	int rv = wr_state_put(w->st, (uint16_t)kg, TM_WIN_ST_SESSIONS,
	                      w->key.data, w->key.len, w->val.data, w->val.len);
	return rv == WR_OK ? WR_OK : tm_win_state_fail(w, rv, "write");
}

/* Folds session i (merged into a new one) into w->acc and removes its
 * accumulator and timers from state. */
static int
tm_win_session_absorb(tm_win *w, int kg, const tm_win_session *s)
{
	bool found;
	int rv;
	tm_win_key_then(w, s->id, false);
	if ((rv = tm_win_acc_get(w, kg, TM_WIN_ST_SESSION_ACC, &w->part,
	                         &found)))
		return rv;
	if (!found)
		return tm_win_failf(w, WR_ECORRUPT,
		                    "a session's accumulator is missing from "
		                    "keyed state (key group %d)",
		                    kg);
	if ((rv = tm_win_acc_merge(w)) ||
	    (rv = tm_win_del(w, kg, TM_WIN_ST_SESSION_ACC)) ||
	    (rv = tm_win_timer_del(w, kg, s->end - 1, TM_WIN_FIRE)))
		return rv;
	return tm_win_timer_del(w, kg, s->end - 1 + w->late, TM_WIN_CLEAN);
}

/* Replaces sessions [first, first + cnt) (cnt may be 0: insert at first)
 * with s. */
static void
tm_win_sessions_splice(tm_win *w, size_t first, size_t cnt,
                       const tm_win_session *s)
{
	size_t tail = w->nsess - first - cnt;
	memmove(&w->sess[first + 1], &w->sess[first + cnt],
	        tail * sizeof(*w->sess));
	w->sess[first] = *s;
	w->nsess = w->nsess - cnt + 1;
}

/* The new session of this record: [ts, ts + gap) merged with every
 * session it overlaps or touches (Flink's TimeWindow.intersects), which
 * are a run [first, first + cnt) of the sorted, disjoint list. */
static int
tm_win_push_session(tm_win *w, int kg, const wr_row *r, int64_t ts)
{
	tm_win_session m = {.start = ts, .end = ts + w->gap};
	size_t first = 0, cnt = 0;
	int rv = tm_win_sessions_load(w, kg);
	if (rv != WR_OK)
		return rv;
	while (first < w->nsess && w->sess[first].end < m.start)
		first++;
	while (first + cnt < w->nsess && w->sess[first + cnt].start <= m.end)
		cnt++;
	if (cnt == 0 && m.end - 1 + w->late <= w->wm)
		return tm_win_late_record(w, r);
	if (cnt == 0 && w->nsess == TM_WIN_MAX_SESSIONS)
		return tm_win_failf(w, WR_EFULL,
		                    "a key has %d sessions waiting to fire or "
		                    "within allowed lateness (the limit)",
		                    TM_WIN_MAX_SESSIONS);
	tm_acc_reset(&w->acc);
	for (size_t i = first; i < first + cnt; i++) {
		const tm_win_session *s = &w->sess[i];
		m.start = s->start < m.start ? s->start : m.start;
		m.end = s->end > m.end ? s->end : m.end;
		if ((rv = tm_win_session_absorb(w, kg, s)))
			return rv;
	}
	/* After the merges: on equal event times this record is the latest
	 * arrival. */
	if ((rv = tm_win_acc_add(w, r, ts)))
		return rv;
	m.id = w->next_id++;
	tm_win_sessions_splice(w, first, cnt, &m);
	tm_win_key_then(w, m.id, false);
	if ((rv = tm_win_acc_put(w, kg, TM_WIN_ST_SESSION_ACC, &w->acc)) ||
	    (rv = tm_win_sessions_store(w, kg)))
		return rv;
	if (m.end - 1 > w->wm)
		return tm_win_timer_set(w, kg, m.end - 1, TM_WIN_FIRE);
	/* Due already (a late record within allowed lateness): now. */
	if ((rv = tm_win_timer_set(w, kg, m.end - 1 + w->late, TM_WIN_CLEAN)))
		return rv;
	return tm_win_emit(w, m.start, m.end, &w->acc);
}

/* Removes session i of the current key: accumulator and list entry. */
static int
tm_win_session_drop(tm_win *w, int kg, size_t i)
{
	tm_win_key_then(w, w->sess[i].id, false);
	int rv = tm_win_del(w, kg, TM_WIN_ST_SESSION_ACC);
	if (rv != WR_OK)
		return rv;
	memmove(&w->sess[i], &w->sess[i + 1],
	        (w->nsess - i - 1) * sizeof(*w->sess));
	w->nsess--;
	return tm_win_sessions_store(w, kg);
}

static int
tm_win_timer_session(tm_win *w, int kg, const tm_timer *tm)
{
	int64_t end = tm->ts + 1 - (tm->tag == TM_WIN_CLEAN ? w->late : 0);
	size_t i = 0;
	bool found;
	int rv = tm_win_sessions_load(w, kg);
	if (rv != WR_OK)
		return rv;
	while (i < w->nsess && w->sess[i].end != end)
		i++;
	if (i == w->nsess)
		return WR_OK; /* merged into another session meanwhile */
	if (tm->tag == TM_WIN_CLEAN)
		return tm_win_session_drop(w, kg, i);
	tm_win_key_then(w, w->sess[i].id, false);
	if ((rv =
	         tm_win_acc_get(w, kg, TM_WIN_ST_SESSION_ACC, &w->acc, &found)))
		return rv;
	if (found &&
	    (rv = tm_win_emit(w, w->sess[i].start, w->sess[i].end, &w->acc)))
		return rv;
	if (w->late > 0)
		return tm_win_timer_set(w, kg, tm->ts + w->late, TM_WIN_CLEAN);
	return tm_win_session_drop(w, kg, i);
}

/* ---- firing ---- */

/* A timer of the current watermark's: the key it was set for becomes
 * the current key. */
static int
tm_win_timer(void *self, const tm_timer *tm)
{
	tm_win *w = self;
	wr_buf_reset(&w->key);
	wr_buf_append(&w->key, tm->key, tm->klen);
	return w->n->window == WR_WIN_SESSION
	           ? tm_win_timer_session(w, tm->key_group, tm)
	           : tm_win_timer_sliced(w, tm->key_group, tm);
}

/* The runtime fired every timer due at wm already. */
static int
tm_win_watermark(void *self, int64_t wm)
{
	tm_win *w = self;
	if (wm > w->wm && !w->proc)
		w->wm = wm;
	/* Also when it did not advance: idleness may have changed. */
	return tm_emit_watermark(w->ctx, w->wm);
}

/* ---- records ---- */

static int
tm_win_push(void *self, int input, const wr_row *r)
{
	tm_win *w = self;
	int kg;
	(void)input;
	int64_t ts;
	if (w->proc) {
		ts = wr_wall_ms();
	} else {
		const wr_value *tv = tm_win_field(r, w->tf);
		/* Without an event time (or beyond the supported range) a
		 * record has no window: it is invalid here. */
		if (tv->type != WR_T_TIMESTAMP || tv->u.i > TM_WIN_MAX_ABS_TS ||
		    tv->u.i < -TM_WIN_MAX_ABS_TS) {
			tm_count(w->ctx, TM_COUNT_INVALID, 1);
			return WR_OK;
		}
		ts = tv->u.i;
	}
	int rv = tm_win_key(w, r, &kg);
	if (rv != WR_OK)
		return rv;
	if (w->n->window == WR_WIN_SESSION)
		return tm_win_push_session(w, kg, r, ts);
	return tm_win_push_sliced(w, kg, r, ts);
}

/* Reduce: first and last go by arrival (a running aggregate has no
 * event-time frame; Flink SQL's unwindowed FIRST_VALUE does the same). */
static int
tm_win_reduce_push(void *self, int input, const wr_row *r)
{
	tm_win *w = self;
	bool found;
	int kg;
	(void)input;
	int rv = tm_win_key(w, r, &kg);
	if (rv != WR_OK)
		return rv;
	wr_buf_reset(&w->sk);
	wr_buf_append(&w->sk, w->key.data, w->key.len);
	if ((rv = tm_win_acc_get(w, kg, TM_WIN_ST_REDUCE, &w->acc, &found)) ||
	    (rv = tm_win_acc_add(w, r, 0)) ||
	    (rv = tm_win_acc_put(w, kg, TM_WIN_ST_REDUCE, &w->acc)))
		return rv;
	return tm_win_emit(w, 0, 0, &w->acc);
}

/* ---- building ---- */

static void
tm_win_destroy(void *self)
{
	tm_win *w = self;
	if (w == NULL)
		return;
	tm_acc_fini(&w->acc);
	tm_acc_fini(&w->part);
	wr_buf_fini(&w->key);
	wr_buf_fini(&w->sk);
	wr_buf_fini(&w->val);
	free(w->sess);
	free(w);
}

static int64_t
tm_win_gcd(int64_t a, int64_t b)
{
	while (b != 0) {
		int64_t r = a % b;
		a = b;
		b = r;
	}
	return a;
}

/* Window lengths, and panes: a window [s, s + size) is the union of the
 * panes of length gcd(size, slide) in it. */
static void
tm_win_geometry(tm_win *w)
{
	const wr_node_spec *n = w->n;
	w->late = n->allowed_lateness_ms;
	w->gap = n->gap_ms;
	w->size = n->size_ms;
	w->slide = n->window == WR_WIN_SLIDING ? n->slide_ms : n->size_ms;
	if (n->window == WR_WIN_SESSION || n->kind != WR_NODE_WINDOW) {
		w->size = w->slide = w->pane = 1; /* unused */
		return;
	}
	w->pane = tm_win_gcd(w->size, w->slide);
	w->per_window = w->size / w->pane > TM_WIN_MAX_PANES;
}

/* The key groups this subtask owns (the shuffle's mapping). */
static int
tm_win_key_groups(tm_win *w, char *errbuf, size_t errlen)
{
	w->maxp = w->conf->max_parallelism;
	tm_key_groups(w->ctx, &w->kg_first, &w->kg_last);
	if (w->kg_first < 0 || w->maxp > UINT16_MAX + 1) {
		snprintf(errbuf, errlen,
		         "node '%s': subtask %d of %d owns no key group of %d",
		         w->n->id, w->conf->subtask, w->conf->parallelism,
		         w->maxp);
		return WR_EINVAL;
	}
	return WR_OK;
}

static int
tm_win_open(tm_ctx *ctx, const wr_node_spec *n, void **self, char *errbuf,
            size_t errlen)
{
	tm_win *w = wr_xcalloc(1, sizeof(*w));
	w->ctx = ctx;
	w->conf = tm_conf(ctx);
	w->n = n;
	w->in = wr_jobspec_input_schema(w->conf->job, n, 0);
	w->wm = TM_WM_MIN;
	w->tf = -1;
	tm_acc_init(&w->acc, n->aggs, n->naggs, w->in);
	tm_acc_init(&w->part, n->aggs, n->naggs, w->in);
	wr_buf_init(&w->key);
	wr_buf_init(&w->sk);
	wr_buf_init(&w->val);
	tm_win_geometry(w);
	int rv = WR_OK;
	w->proc = n->kind == WR_NODE_WINDOW && n->processing_time;
	if (n->kind == WR_NODE_WINDOW && !w->proc) {
		w->tf = tm_evbuf_time_field(w->conf->job, n, w->in, "window",
		                            errbuf, errlen);
		if (w->tf < 0)
			rv = WR_EINVAL;
	}
	if (rv == WR_OK)
		rv = tm_win_key_groups(w, errbuf, errlen);
	/* The keyed state now: a backend that cannot open fails the
	 * deployment, not the first record. */
	if (rv == WR_OK && (rv = tm_state(ctx, &w->st)) != WR_OK)
		snprintf(errbuf, errlen,
		         "node '%s': cannot open keyed state: %s", n->id,
		         wr_strerror(rv));
	if (rv != WR_OK) {
		tm_win_destroy(w);
		return rv;
	}
	if (n->kind == WR_NODE_WINDOW && n->window == WR_WIN_SESSION)
		w->sess = wr_xmalloc(TM_WIN_MAX_SESSIONS * sizeof(*w->sess));
	*self = w;
	return WR_OK;
}

/* Windows fire on their event-time timers; a reduce emits on every
 * record and passes watermarks on. */
const tm_op_vt tm_window_op = {
    .name = "window",
    .open = tm_win_open,
    .process = tm_win_push,
    .watermark = tm_win_watermark,
    .timer = tm_win_timer,
    .close = tm_win_destroy,
};

const tm_op_vt tm_reduce_op = {
    .name = "reduce",
    .open = tm_win_open,
    .process = tm_win_reduce_push,
    .close = tm_win_destroy,
};
