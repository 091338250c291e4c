/*
 * timers.c - the timer service: event-time and processing-time timers
 * per key, kept in the task's keyed state (so a checkpoint holds them and
 * a restore, also a rescaled one, brings back each key group's), fired in
 * time order through the operator's timer callback.
 *
 * A timer is the state entry (key group, domain's state id, time tag key)
 * with an empty value: time is 8 bytes big-endian with the sign bit
 * flipped, so a scan of one key group visits its timers in time order
 * (then by tag). The only memory of its own is, per key group this
 * subtask owns, the time of its earliest timer (unknown until scanned:
 * state may be restored), so that a watermark visits only the key groups
 * that have something to fire.
 *
 * A scan reads LMDB, so it first flushes the state cache (a transaction
 * commit). A round therefore collects every due timer of every key group
 * (up to a batch) with one flush, sorts them by time and fires them in
 * that order; a round a distinct time instead committed once per timer
 * when timers' times are all different (an anomaly or CEP buffer's: one
 * per record), which bounded the anomaly job at ~15 K records/s.
 *
 * @thread task
 */
#include "task_int.h"

#include "err.h"
#include "mem.h"
#include "state.h"
#include "wr_limits.h"

#include <stdlib.h>
#include <string.h>

/* Earliest timer of a key group: not known yet (scan it), or none. */
#define TM_TIMERS_KG_UNKNOWN INT64_MIN
#define TM_TIMERS_KG_NONE    INT64_MAX
/* What the scan callback returns to stop early (errors are positive). */
#define TM_TIMERS_SCAN_STOP (-1)

_Static_assert(TM_WIN_TIMER_BATCH > 0, "a scan collects timers");

/* A timer collected by a scan; its key in tm_timers.keys. */
typedef struct tm_timer_rec {
	int64_t ts;
	int kg;
	uint8_t tag;
	uint32_t off, len;
} tm_timer_rec;

struct tm_timers {
	tm_time_domain d;
	uint8_t id; /* its state id */
	struct wr_state *st;
	int kg_first, kg_last;
	int64_t *kg_next; /* earliest timer per owned key group */
	wr_buf sk;        /* state key scratch */
	tm_timer_rec *batch;
	size_t n;
	wr_buf keys;
	int64_t scan_limit, scan_next;
	size_t scan_cap; /* the batch's size at which a scan stops */
	bool scan_corrupt;
	/* While a batch fires: the time of its last timer, and whether the
	 * operator set a timer at or before it or deleted one, which ends
	 * the batch after the current timer (the rest is scanned again). */
	bool firing, cut;
	int64_t fire_last;
};

static void
tm_timers_put_time(wr_buf *b, int64_t ts)
{
	uint64_t u = (uint64_t)ts ^ (UINT64_C(1) << 63);
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(u >> (56 - 8 * i));
	wr_buf_append(b, x, sizeof(x));
}

static int64_t
tm_timers_get_time(const uint8_t *p)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u = (u << 8) | p[i];
	return (int64_t)(u ^ (UINT64_C(1) << 63));
}

void
tm_timers_free(struct tm_timers *tt)
{
	if (tt == NULL)
		return;
	free(tt->kg_next);
	free(tt->batch);
	wr_buf_fini(&tt->sk);
	wr_buf_fini(&tt->keys);
	free(tt);
}

/* c's timers of domain d, made on first use (with the keyed state). */
static int
tm_timers_get(tm_ctx *c, tm_time_domain d, struct tm_timers **out)
{
	if (c->timers[d] != NULL) {
		*out = c->timers[d];
		return WR_OK;
	}
	struct wr_state *st;
	int rv = tm_state(c, &st);
	if (rv != WR_OK)
		return rv;
	struct tm_timers *tt = wr_xcalloc(1, sizeof(*tt));
	tt->d = d;
	tt->id = d == TM_TIME_EVENT ? TM_STATE_ID_TIMER_EVENT
	                            : TM_STATE_ID_TIMER_PROC;
	tt->st = st;
	tm_key_groups(c, &tt->kg_first, &tt->kg_last);
	if (tt->kg_first < 0 || tt->kg_last > UINT16_MAX) {
		tm_timers_free(tt);
		tm_fail(
		    c, "node '%s': subtask %d of %d owns no key group of %d",
		    c->node->id, c->task->conf.subtask,
		    c->task->conf.parallelism, c->task->conf.max_parallelism);
		return WR_EINVAL;
	}
	int nkg = tt->kg_last - tt->kg_first + 1;
	tt->kg_next = wr_xmalloc((size_t)nkg * sizeof(*tt->kg_next));
	for (int i = 0; i < nkg; i++)
		tt->kg_next[i] = TM_TIMERS_KG_UNKNOWN;
	tt->batch = wr_xmalloc(TM_WIN_TIMER_BATCH * sizeof(*tt->batch));
	wr_buf_init(&tt->sk);
	wr_buf_init(&tt->keys);
	c->timers[d] = tt;
	*out = tt;
	return WR_OK;
}

/* Builds the state key of a timer in tt->sk; checks kg and klen. */
static int
tm_timers_key(tm_ctx *c, struct tm_timers *tt, int kg, const void *key,
              size_t klen, int64_t ts, uint8_t tag)
{
	if (klen > TM_WIN_MAX_KEY_BYTES || kg < tt->kg_first ||
	    kg > tt->kg_last) {
		tm_fail(c,
		        "node '%s': a timer of key group %d with a key of %zu "
		        "bytes (this subtask owns key groups %d..%d, keys "
		        "take at most %d bytes)",
		        c->node->id, kg, klen, tt->kg_first, tt->kg_last,
		        TM_WIN_MAX_KEY_BYTES);
		return WR_EINVAL;
	}
	wr_buf_reset(&tt->sk);
	tm_timers_put_time(&tt->sk, ts);
	wr_buf_append(&tt->sk, &tag, 1);
	wr_buf_append(&tt->sk, key, klen);
	return WR_OK;
}

static int
tm_timers_state_fail(tm_ctx *c, int rv, const char *what)
{
	tm_fail(c, "node '%s': keyed state %s: %s", c->node->id, what,
	        wr_strerror(rv));
	return rv;
}

int
tm_timer_set(tm_ctx *c, tm_time_domain d, int kg, const void *key, size_t klen,
             int64_t ts, uint8_t tag)
{
	struct tm_timers *tt;
	int rv = tm_timers_get(c, d, &tt);
	if (rv == WR_OK)
		rv = tm_timers_key(c, tt, kg, key, klen, ts, tag);
	if (rv != WR_OK)
		return rv;
	rv = wr_state_put(tt->st, (uint16_t)kg, tt->id, tt->sk.data, tt->sk.len,
	                  NULL, 0);
	if (rv != WR_OK)
		return tm_timers_state_fail(c, rv, "write");
	int64_t *next = &tt->kg_next[kg - tt->kg_first];
	if (ts < *next)
		*next = ts;
	if (tt->firing && ts <= tt->fire_last)
		tt->cut = true;
	return WR_OK;
}

static int
tm_timers_del(tm_ctx *c, struct tm_timers *tt, int kg, const void *key,
              size_t klen, int64_t ts, uint8_t tag)
{
	int rv = tm_timers_key(c, tt, kg, key, klen, ts, tag);
	if (rv != WR_OK)
		return rv;
	rv =
	    wr_state_del(tt->st, (uint16_t)kg, tt->id, tt->sk.data, tt->sk.len);
	return rv == WR_OK ? WR_OK : tm_timers_state_fail(c, rv, "delete");
}

int
tm_timer_del(tm_ctx *c, tm_time_domain d, int kg, const void *key, size_t klen,
             int64_t ts, uint8_t tag)
{
	struct tm_timers *tt;
	int rv = tm_timers_get(c, d, &tt);
	if (rv != WR_OK)
		return rv;
	/* It may be one of the batch's, collected but not fired yet. */
	if (tt->firing)
		tt->cut = true;
	return tm_timers_del(c, tt, kg, key, klen, ts, tag);
}

/* Collects the timers of one key group up to scan_limit. */
static int
tm_timers_scan_cb(void *arg, uint16_t key_group, const void *key, size_t klen,
                  const void *val, size_t vlen)
{
	struct tm_timers *tt = arg;
	const uint8_t *k = key;
	(void)val;
	(void)vlen;
	if (klen < TM_WIN_KEY_EXTRA_BYTES) {
		tt->scan_corrupt = true;
		return TM_TIMERS_SCAN_STOP;
	}
	int64_t ts = tm_timers_get_time(k);
	if (ts > tt->scan_limit || tt->n == tt->scan_cap) {
		tt->scan_next = ts;
		return TM_TIMERS_SCAN_STOP;
	}
	tm_timer_rec *r = &tt->batch[tt->n++];
	r->ts = ts;
	r->kg = key_group;
	r->tag = k[8];
	r->off = (uint32_t)tt->keys.len;
	r->len = (uint32_t)(klen - TM_WIN_KEY_EXTRA_BYTES);
	wr_buf_append(&tt->keys, k + TM_WIN_KEY_EXTRA_BYTES, r->len);
	return 0;
}

/* Collects the timers of key group kg due at or before limit, in time
 * order, after those tt->batch holds already (as many as fit). */
static int
tm_timers_collect_kg(tm_ctx *c, struct tm_timers *tt, int kg, int64_t limit)
{
	tt->scan_limit = limit;
	tt->scan_next = TM_TIMERS_KG_NONE;
	tt->scan_corrupt = false;
	int rv = wr_state_scan(tt->st, tt->id, (uint16_t)kg, (uint16_t)kg,
	                       tm_timers_scan_cb, tt);
	if (tt->scan_corrupt) {
		tm_fail(c, "node '%s': corrupt timer in keyed state",
		        c->node->id);
		return WR_ECORRUPT;
	}
	if (rv != WR_OK && rv != TM_TIMERS_SCAN_STOP)
		return tm_timers_state_fail(c, rv, "scan");
	tt->kg_next[kg - tt->kg_first] = tt->scan_next;
	return WR_OK;
}

/* Time, then key group, then the order the scans found them in. */
static int
tm_timers_rec_cmp(const void *pa, const void *pb)
{
	const tm_timer_rec *a = pa, *b = pb;
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	if (a->kg != b->kg)
		return a->kg < b->kg ? -1 : 1;
	return a->off < b->off ? -1 : a->off > b->off;
}

/* Fires the first n collected timers (sorted) in order, until the
 * operator cuts the batch; the key groups of those left unfired go back
 * to at most their time, so the next round scans them again. */
static int
tm_timers_fire_batch(tm_ctx *c, struct tm_timers *tt, size_t n)
{
	int rv = WR_OK;
	size_t i = 0;
	tt->firing = true;
	tt->cut = false;
	tt->fire_last = n > 0 ? tt->batch[n - 1].ts : TM_TIMERS_KG_NONE;
	for (; i < n && !tt->cut && rv == WR_OK; i++) {
		const tm_timer_rec *r = &tt->batch[i];
		tm_timer tm = {.domain = tt->d,
		               .ts = r->ts,
		               .tag = r->tag,
		               .key_group = r->kg,
		               .key = tt->keys.data + r->off,
		               .klen = r->len};
		rv =
		    tm_timers_del(c, tt, r->kg, tm.key, tm.klen, tm.ts, tm.tag);
		if (rv == WR_OK)
			rv = c->vt->timer(c->self, &tm);
	}
	tt->firing = false;
	for (; i < tt->n; i++) {
		int64_t *next = &tt->kg_next[tt->batch[i].kg - tt->kg_first];
		if (tt->batch[i].ts < *next)
			*next = tt->batch[i].ts;
	}
	return rv;
}

/* Collects the due timers (at or before limit) of every key group, the
 * one holding the earliest (`when`) first so that the batch has it. Each
 * key group takes at most its share of the room left: what fires is
 * bounded by the earliest timer any key group leaves in state, so one key
 * group filling the batch would leave the others' at `when` and fire
 * little. */
static int
tm_timers_collect(tm_ctx *c, struct tm_timers *tt, int64_t when, int64_t limit)
{
	int nkg = tt->kg_last - tt->kg_first + 1, first = 0, due = 0;
	for (int i = 0; i < nkg; i++)
		due += tt->kg_next[i] <= limit;
	while (tt->kg_next[first] != when)
		first++;
	tt->n = 0;
	wr_buf_reset(&tt->keys);
	for (int j = 0; j < nkg && tt->n < TM_WIN_TIMER_BATCH; j++) {
		int i = (first + j) % nkg;
		if (tt->kg_next[i] > limit)
			continue;
		/* the room left, shared by the due key groups left */
		size_t share = (TM_WIN_TIMER_BATCH - tt->n) / (size_t)due--;
		tt->scan_cap = tt->n + (share > 0 ? share : 1);
		int rv = tm_timers_collect_kg(c, tt, tt->kg_first + i, limit);
		if (rv != WR_OK)
			return rv;
	}
	return WR_OK;
}

/* Each round collects the due timers of every key group (one state
 * flush), sorts them by time and fires those before any timer left in
 * state (a full batch leaves some: the earliest of any key group's
 * next bounds what fires), in time order across key groups. */
int
tm_timers_fire(tm_ctx *c, tm_time_domain d, int64_t limit)
{
	struct tm_timers *tt = c->timers[d];
	tm_task *t = c->task;
	/* Timers live in the keyed node's state: another operator has
	 * none until it sets one. */
	if (tt == NULL &&
	    (t->keyed_node < 0 || c->node != &t->job->nodes[t->keyed_node]))
		return WR_OK;
	int rv;
	if (tt == NULL && (rv = tm_timers_get(c, d, &tt)) != WR_OK)
		return rv;
	int nkg = tt->kg_last - tt->kg_first + 1;
	for (;;) {
		int64_t when = TM_TIMERS_KG_NONE;
		for (int i = 0; i < nkg; i++)
			if (tt->kg_next[i] < when)
				when = tt->kg_next[i];
		if (when == TM_TIMERS_KG_NONE || when > limit)
			return WR_OK;
		if ((rv = tm_timers_collect(c, tt, when, limit)) != WR_OK)
			return rv;
		int64_t left = TM_TIMERS_KG_NONE;
		for (int i = 0; i < nkg; i++)
			if (tt->kg_next[i] < left)
				left = tt->kg_next[i];
		qsort(tt->batch, tt->n, sizeof(*tt->batch), tm_timers_rec_cmp);
		size_t n = 0;
		while (n < tt->n && tt->batch[n].ts <= left)
			n++;
		if ((rv = tm_timers_fire_batch(c, tt, n)) != WR_OK)
			return rv;
	}
}
