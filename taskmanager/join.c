/*
 * join.c - what the join engines share (join.h): configuration, keys and
 * key groups, row lists in keyed state, the time index and the watermark
 * loop that fires it, output rows. The forms themselves are in
 * join_kinds.c.
 *
 * State (docs/joins.md, "State"): every entry's user key starts with the
 * join key, encoded as a row of the key values (the binary row codec;
 * -0.0 and NaN made canonical so equal keys have equal bytes). A row list
 * is one value: a version byte, then entries of (event time, 8 bytes
 * little-endian; flags, 1 byte; the row, binary codec). The time index
 * holds (time, 8 bytes big-endian with the sign bit flipped so byte order
 * is time order; kind, 1 byte; key) with an empty value; a scan of one
 * key group visits its timers in time order.
 */
#include "join.h"
#include "join_int.h"

#include "buf.h"
#include "err.h"
#include "mem.h"
#include "plan.h"
#include "record.h"
#include "state.h"
#include "wr_limits.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A scan callback's "stop" (not an error code). */
#define TM_JOIN_SCAN_STOP 1

int
tm_join_fail(tm_join *j, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->err, sizeof(j->err), fmt, ap);
	va_end(ap);
	return rc;
}

static int
tm_join_state_fail(tm_join *j, int rc, const char *op)
{
	if (rc == WR_ETOOBIG)
		return tm_join_fail(j, rc,
		                    "keyed state %s: the rows one key holds "
		                    "exceed %u bytes",
		                    op, WR_STATE_MAX_VALUE_BYTES);
	return tm_join_fail(j, rc, "keyed state %s: %s", op, wr_strerror(rc));
}

/* ---- configuration ----------------------------------------------------- */

void
tm_join_cfg_from_spec(tm_join_cfg *cfg, const wr_jobspec *spec,
                      const wr_node_spec *n)
{
	cfg->kind = n->join;
	cfg->left_outer = n->join_left;
	cfg->event_time = n->join_event_time;
	cfg->lower_ms = n->join_lower_ms;
	cfg->upper_ms = n->join_upper_ms;
	cfg->window = n->window;
	cfg->size_ms = n->size_ms;
	cfg->slide_ms = n->window == WR_WIN_SLIDING ? n->slide_ms : n->size_ms;
	cfg->nkeys = n->njoin_keys;
	memcpy(cfg->keys, n->join_keys, sizeof(cfg->keys));
	for (int k = 0; k < 2; k++)
		cfg->width[k] = wr_jobspec_input_schema(spec, n, k)->n;
	cfg->max_parallelism = spec->max_parallelism;
}

static int
tm_join_check(const tm_join_cfg *c, char *errbuf, size_t errlen)
{
	uint32_t extra = c->kind == WR_JOIN_WINDOW ? 2 : 0;
	const char *why = NULL;

	if (c->nkeys < 1 || c->nkeys > WR_MAX_FIELDS)
		why = "the number of key fields";
	else if (c->width[0] + c->width[1] + extra > WR_MAX_FIELDS)
		why = "the output's width";
	else if (c->max_parallelism < 1 ||
	         c->max_parallelism > WR_JOB_MAX_KEY_GROUPS ||
	         c->kg_first < 0 || c->kg_first > c->kg_last ||
	         c->kg_last >= c->max_parallelism)
		why = "the key groups";
	else if (c->kind == WR_JOIN_WINDOW &&
	         (c->size_ms < 1 || c->slide_ms < 1 ||
	          c->size_ms > WR_JOB_MAX_WINDOW_MS ||
	          c->slide_ms > c->size_ms))
		why = "the window";
	else if (c->kind == WR_JOIN_INTERVAL &&
	         (c->lower_ms > c->upper_ms ||
	          c->lower_ms < -WR_JOB_MAX_WINDOW_MS ||
	          c->upper_ms > WR_JOB_MAX_WINDOW_MS))
		why = "the bounds";
	else if (c->st == NULL || c->emit == NULL)
		why = "the state backend or the output";
	for (int s = 0; why == NULL && s < 2; s++)
		for (int k = 0; k < c->nkeys; k++)
			if (c->keys[s][k] < 0 ||
			    (uint32_t)c->keys[s][k] >= c->width[s])
				why = "a key field";
	if (why == NULL)
		return WR_OK;
	snprintf(errbuf, errlen, "join engine: %s is out of range", why);
	return WR_EINVAL;
}

int
tm_join_new(const tm_join_cfg *cfg, tm_join **out, char *errbuf, size_t errlen)
{
	tm_join *j;
	int rc;

	*out = NULL;
	if ((rc = tm_join_check(cfg, errbuf, errlen)) != WR_OK)
		return rc;
	j = wr_xcalloc(1, sizeof(*j));
	j->c = *cfg;
	j->wm = INT64_MIN;
	j->kg_next = wr_xcalloc((size_t)(cfg->kg_last - cfg->kg_first + 1),
	                        sizeof(*j->kg_next));
	/* Unknown: state restored from a checkpoint is found by a scan. */
	for (int i = 0; i <= cfg->kg_last - cfg->kg_first; i++)
		j->kg_next[i] = TM_JOIN_KG_UNKNOWN;
	wr_buf_init(&j->key);
	wr_buf_init(&j->sk);
	wr_buf_init(&j->list[0]);
	wr_buf_init(&j->list[1]);
	wr_buf_init(&j->out);
	wr_buf_init(&j->tkeys);
	*out = j;
	return WR_OK;
}

void
tm_join_free(tm_join *j)
{
	if (j == NULL)
		return;
	wr_buf_fini(&j->key);
	wr_buf_fini(&j->sk);
	wr_buf_fini(&j->list[0]);
	wr_buf_fini(&j->list[1]);
	wr_buf_fini(&j->out);
	wr_buf_fini(&j->tkeys);
	free(j->kg_next);
	free(j);
}

int64_t
tm_join_watermark_delay(const tm_join_cfg *cfg)
{
	switch (cfg->kind) {
	case WR_JOIN_INTERVAL:
		return cfg->upper_ms > 0 ? cfg->upper_ms : 0;
	case WR_JOIN_WINDOW:
		return cfg->size_ms;
	case WR_JOIN_TABLE:
	default:
		return 0;
	}
}

uint64_t
tm_join_late_dropped(const tm_join *j)
{
	return j->late;
}

const char *
tm_join_error(const tm_join *j)
{
	return j->err;
}

/* ---- keys -------------------------------------------------------------- */

int
tm_join_set_key(tm_join *j, int input, const wr_row *r, bool *null)
{
	wr_row k;
	uint64_t h = 0;

	*null = false;
	k.n = (uint32_t)j->c.nkeys;
	for (int i = 0; i < j->c.nkeys; i++) {
		int f = j->c.keys[input][i];
		wr_value v = {.type = WR_T_NULL};
		if ((uint32_t)f < r->n)
			v = r->v[f];
		if (v.type == WR_T_NULL) {
			*null = true;
			return WR_OK;
		}
		h = wr_value_hash(&v, h);
		/* Equal doubles, equal bytes: one zero, one NaN. */
		if (v.type == WR_T_DOUBLE && v.u.d == 0)
			v.u.d = 0;
		if (v.type == WR_T_DOUBLE && isnan(v.u.d))
			v.u.d = NAN;
		k.v[i] = v;
	}
	wr_buf_reset(&j->key);
	wr_row_encode(&k, &j->key);
	if (j->key.len > TM_JOIN_MAX_KEY_BYTES)
		return tm_join_fail(
		    j, WR_ETOOBIG,
		    "a join key of %zu bytes (encoded) is longer "
		    "than keyed state allows (%d bytes)",
		    j->key.len, TM_JOIN_MAX_KEY_BYTES);
	j->kg = wr_key_group(h, j->c.max_parallelism);
	if (j->kg < j->c.kg_first || j->kg > j->c.kg_last)
		return tm_join_fail(j, WR_ECORRUPT,
		                    "a record of key group %d reached the join "
		                    "engine of key groups %d..%d",
		                    j->kg, j->c.kg_first, j->c.kg_last);
	return WR_OK;
}

static void
tm_join_put_time(wr_buf *b, int64_t t)
{
	uint64_t u = (uint64_t)t ^ (UINT64_C(1) << 63);
	uint8_t x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(u >> (56 - 8 * i));
	wr_buf_append(b, x, sizeof(x));
}

static int64_t
tm_join_get_time(const uint8_t *p)
{
	uint64_t u = 0;

	for (int i = 0; i < 8; i++)
		u = u << 8 | p[i];
	return (int64_t)(u ^ (UINT64_C(1) << 63));
}

/* j->sk: the current key [+ the window's start]. */
static void
tm_join_rows_key(tm_join *j, int64_t window)
{
	wr_buf_reset(&j->sk);
	wr_buf_append(&j->sk, j->key.data, j->key.len);
	if (window != TM_JOIN_NO_WINDOW)
		tm_join_put_time(&j->sk, window);
}

/* ---- row lists --------------------------------------------------------- */

int
tm_join_load(tm_join *j, int side, int64_t window)
{
	const void *v;
	size_t vlen;
	int rc;

	tm_join_rows_key(j, window);
	wr_buf_reset(&j->list[side]);
	rc = wr_state_get(j->c.st, (uint16_t)j->kg,
	                  (uint8_t)(TM_JOIN_ST_ROWS0 + side), j->sk.data,
	                  j->sk.len, &v, &vlen);
	if (rc == WR_ENOENT)
		return WR_OK;
	if (rc != WR_OK)
		return tm_join_state_fail(j, rc, "read");
	if (vlen < 1 || *(const uint8_t *)v != TM_JOIN_LIST_VERSION)
		return tm_join_fail(
		    j, WR_ECORRUPT,
		    "corrupt row list in keyed state (key group "
		    "%d)",
		    j->kg);
	/* A copy: the backend's pointer dies at its next call. */
	wr_buf_append(&j->list[side], v, vlen);
	return WR_OK;
}

int
tm_join_store(tm_join *j, int side, int64_t window, const wr_buf *list)
{
	uint8_t id = (uint8_t)(TM_JOIN_ST_ROWS0 + side);
	int rc;

	tm_join_rows_key(j, window);
	if (list->len <= 1)
		rc = wr_state_del(j->c.st, (uint16_t)j->kg, id, j->sk.data,
		                  j->sk.len);
	else
		rc = wr_state_put(j->c.st, (uint16_t)j->kg, id, j->sk.data,
		                  j->sk.len, list->data, list->len);
	return rc == WR_OK ? WR_OK : tm_join_state_fail(j, rc, "write");
}

int
tm_join_next(const wr_buf *list, size_t *pos, tm_join_ent *e)
{
	const uint8_t *b = (const uint8_t *)list->data;
	uint64_t u = 0;

	if (*pos == 0)
		*pos = 1; /* the version byte */
	if (*pos >= list->len)
		return 0;
	if (list->len - *pos < 9)
		return -1;
	e->at = *pos;
	for (int i = 7; i >= 0; i--)
		u = u << 8 | b[*pos + (size_t)i];
	e->ts = (int64_t)u;
	e->flags_at = *pos + 8;
	e->flags = b[e->flags_at];
	*pos += 9;
	if (wr_row_decode(b, list->len, pos, &e->row) != WR_OK)
		return -1;
	return 1;
}

void
tm_join_append(wr_buf *list, int64_t ts, uint8_t flags, const wr_row *r)
{
	uint64_t u = (uint64_t)ts;
	uint8_t x[9];

	if (list->len == 0) {
		uint8_t v = TM_JOIN_LIST_VERSION;
		wr_buf_append(list, &v, 1);
	}
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(u >> (8 * i));
	x[8] = flags;
	wr_buf_append(list, x, sizeof(x));
	wr_row_encode(r, list);
}

void
tm_join_copy(wr_buf *list, const wr_buf *src, const tm_join_ent *e, size_t end)
{
	if (list->len == 0) {
		uint8_t v = TM_JOIN_LIST_VERSION;
		wr_buf_append(list, &v, 1);
	}
	wr_buf_append(list, src->data + e->at, end - e->at);
}

/* ---- the time index ---------------------------------------------------- */

/* j->sk: a timer's user key. */
static void
tm_join_timer_key(tm_join *j, int64_t t, uint8_t kind)
{
	wr_buf_reset(&j->sk);
	tm_join_put_time(&j->sk, t);
	wr_buf_append(&j->sk, &kind, 1);
	wr_buf_append(&j->sk, j->key.data, j->key.len);
}

int
tm_join_timer(tm_join *j, int64_t t, uint8_t kind)
{
	int64_t *next = &j->kg_next[j->kg - j->c.kg_first];
	int rc;

	tm_join_timer_key(j, t, kind);
	rc = wr_state_put(j->c.st, (uint16_t)j->kg, TM_JOIN_ST_TIMER,
	                  j->sk.data, j->sk.len, "", 0);
	if (rc != WR_OK)
		return tm_join_state_fail(j, rc, "write");
	/* An unknown key group stays unknown: its scan finds this one. */
	if (*next != TM_JOIN_KG_UNKNOWN && t < *next)
		*next = t;
	return WR_OK;
}

typedef struct tm_join_scan {
	tm_join *j;
	int64_t limit; /* timers at or before it are due */
	int64_t next;  /* the first timer after limit */
	size_t count;
	bool full, corrupt;
} tm_join_scan;

static int
tm_join_scan_cb(void *arg, uint16_t kg, const void *key, size_t klen,
                const void *val, size_t vlen)
{
	tm_join_scan *s = arg;
	uint32_t len = (uint32_t)klen;

	(void)kg;
	(void)val;
	(void)vlen;
	if (klen < TM_JOIN_KEY_EXTRA_BYTES) {
		s->corrupt = true;
		return TM_JOIN_SCAN_STOP;
	}
	int64_t t = tm_join_get_time(key);
	if (t > s->limit) {
		s->next = t;
		return TM_JOIN_SCAN_STOP;
	}
	if (s->count == TM_JOIN_TIMER_BATCH) {
		s->full = true;
		return TM_JOIN_SCAN_STOP;
	}
	wr_buf_append(&s->j->tkeys, &len, sizeof(len));
	wr_buf_append(&s->j->tkeys, key, klen);
	s->count++;
	return 0;
}

/* Fires one due timer (user key k): the form's handler, then it goes. */
static int
tm_join_fire_one(tm_join *j, const uint8_t *k, uint32_t klen)
{
	int64_t t = tm_join_get_time(k);
	uint8_t kind = k[8];
	int rc;

	wr_buf_reset(&j->key);
	wr_buf_append(&j->key, k + TM_JOIN_KEY_EXTRA_BYTES,
	              klen - TM_JOIN_KEY_EXTRA_BYTES);
	switch (j->c.kind) {
	case WR_JOIN_INTERVAL:
		rc = tm_join_interval_timer(j, t, kind);
		break;
	case WR_JOIN_TABLE:
		rc = tm_join_temporal_timer(j, t, kind);
		break;
	case WR_JOIN_WINDOW:
	default:
		rc = tm_join_window_timer(j, t, kind);
		break;
	}
	if (rc != WR_OK)
		return rc;
	rc = wr_state_del(j->c.st, (uint16_t)j->kg, TM_JOIN_ST_TIMER, k, klen);
	return rc == WR_OK ? WR_OK : tm_join_state_fail(j, rc, "delete");
}

/* Fires the timers of key group kg due at j->wm, a batch at a time. */
static int
tm_join_fire_kg(tm_join *j, int kg)
{
	int64_t *next = &j->kg_next[kg - j->c.kg_first];
	tm_join_scan s;
	int rc;

	do {
		if (*next != TM_JOIN_KG_UNKNOWN && *next > j->wm)
			return WR_OK;
		s = (tm_join_scan){
		    .j = j, .limit = j->wm, .next = TM_JOIN_KG_NONE};
		wr_buf_reset(&j->tkeys);
		rc = wr_state_scan(j->c.st, TM_JOIN_ST_TIMER, (uint16_t)kg,
		                   (uint16_t)kg, tm_join_scan_cb, &s);
		if (s.corrupt)
			return tm_join_fail(j, WR_ECORRUPT,
			                    "corrupt timer in keyed state (key "
			                    "group %d)",
			                    kg);
		if (rc != WR_OK && rc != TM_JOIN_SCAN_STOP)
			return tm_join_state_fail(j, rc, "scan");
		*next = s.full ? TM_JOIN_KG_UNKNOWN : s.next;
		/* The collected keys are a copy: firing may write state. */
		for (size_t off = 0; off < j->tkeys.len;) {
			uint32_t klen;
			memcpy(&klen, j->tkeys.data + off, sizeof(klen));
			off += sizeof(klen);
			j->kg = kg;
			rc = tm_join_fire_one(
			    j, (const uint8_t *)j->tkeys.data + off, klen);
			if (rc != WR_OK)
				return rc;
			off += klen;
		}
	} while (s.full);
	return WR_OK;
}

int
tm_join_watermark(tm_join *j, int64_t wm)
{
	int rc;

	if (wm <= j->wm)
		return WR_OK;
	j->wm = wm;
	/* A processing-time table join keeps no timers. */
	if (j->c.kind == WR_JOIN_TABLE && !j->c.event_time)
		return WR_OK;
	for (int kg = j->c.kg_first; kg <= j->c.kg_last; kg++)
		if ((rc = tm_join_fire_kg(j, kg)) != WR_OK)
			return rc;
	return WR_OK;
}

/* ---- records and output ------------------------------------------------ */

int
tm_join_add(tm_join *j, int input, const wr_row *row, int64_t ts)
{
	if (input < 0 || input > 1)
		return tm_join_fail(j, WR_EINVAL, "join input %d", input);
	if (ts < -TM_JOIN_MAX_ABS_TS || ts > TM_JOIN_MAX_ABS_TS)
		return tm_join_fail(j, WR_EINVAL,
		                    "event time %lld is out of range",
		                    (long long)ts);
	switch (j->c.kind) {
	case WR_JOIN_INTERVAL:
		return tm_join_interval_add(j, input, row, ts);
	case WR_JOIN_TABLE:
		return tm_join_temporal_add(j, input, row, ts, false);
	case WR_JOIN_WINDOW:
	default:
		return tm_join_window_add(j, input, row, ts);
	}
}

int
tm_join_delete(tm_join *j, const wr_row *row, int64_t ts)
{
	if (j->c.kind != WR_JOIN_TABLE)
		return tm_join_fail(
		    j, WR_EINVAL, "a tombstone reached a join of two streams");
	if (ts < -TM_JOIN_MAX_ABS_TS || ts > TM_JOIN_MAX_ABS_TS)
		return tm_join_fail(j, WR_EINVAL,
		                    "event time %lld is out of range",
		                    (long long)ts);
	return tm_join_temporal_add(j, 1, row, ts, true);
}

/* Copies r's first width fields into out from at (missing: NULL). */
static void
tm_join_put_row(wr_row *out, uint32_t at, const wr_row *r, uint32_t width)
{
	for (uint32_t f = 0; f < width; f++) {
		out->v[at + f].type = WR_T_NULL;
		if (r != NULL && f < r->n)
			out->v[at + f] = r->v[f];
	}
}

int
tm_join_emit(tm_join *j, const wr_row *left, const wr_row *right,
             int64_t window, int64_t ts)
{
	wr_row *o = &j->orow;
	uint32_t w0 = j->c.width[0], w1 = j->c.width[1];

	tm_join_put_row(o, 0, left, w0);
	tm_join_put_row(o, w0, right, w1);
	o->n = w0 + w1;
	if (window != TM_JOIN_NO_WINDOW) {
		o->v[o->n].type = WR_T_TIMESTAMP;
		o->v[o->n++].u.i = window;
		o->v[o->n].type = WR_T_TIMESTAMP;
		o->v[o->n++].u.i = window + j->c.size_ms;
	}
	int rc = j->c.emit(j->c.arg, o, ts);
	if (rc != WR_OK)
		return tm_join_fail(j, rc, "join output: %s", wr_strerror(rc));
	return WR_OK;
}
