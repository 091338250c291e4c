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
	bool scan_corrupt;
	/* while a batch fires: the earliest timer the operator set, and
	 * whether it deleted one (either may touch the batch's unfired
	 * timers, so the batch stops and the next round scans again) */
	bool firing, deleted;
	int64_t set_min;
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
	if (tt->firing && ts < tt->set_min)
		tt->set_min = ts;
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
	if (tt->firing)
		tt->deleted = true;
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
	if (ts > tt->scan_limit || tt->n == TM_WIN_TIMER_BATCH) {
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

/* Collection order: time, then key group, then scan order (a key
 * group's timers by tag and key), so that a batch fires as rounds of one
 * time each (every key group holding it, in key group order) would. */
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

/* A collected timer that is not fired now stays in state: its key
 * group's earliest time goes back to it. */
static void
tm_timers_keep(struct tm_timers *tt, const tm_timer_rec *r)
{
	int64_t *next = &tt->kg_next[r->kg - tt->kg_first];
	if (r->ts < *next)
		*next = r->ts;
}

/* Fires the collected timers in order. The operator may set or delete
 * timers meanwhile: once it set one at or before the next collected
 * time, or deleted one (perhaps a collected one), the batch stops and
 * the next round scans again. */
static int
tm_timers_fire_batch(tm_ctx *c, struct tm_timers *tt)
{
	int rv = WR_OK;
	size_t i = 0;
	tt->firing = true;
	tt->deleted = false;
	tt->set_min = TM_TIMERS_KG_NONE;
	for (; i < tt->n; i++) {
		const tm_timer_rec *r = &tt->batch[i];
		if (i > 0 && (tt->deleted || tt->set_min <= r->ts))
			break;
		tm_timer tm = {.domain = tt->d,
		               .ts = r->ts,
		               .tag = r->tag,
		               .key_group = r->kg,
		               .key = tt->keys.data + r->off,
		               .klen = r->len};
		if ((rv = tm_timers_del(c, tt, r->kg, tm.key, tm.klen, tm.ts,
		                        tm.tag)) != WR_OK ||
		    (rv = c->vt->timer(c->self, &tm)) != WR_OK)
			break;
	}
	tt->firing = false;
	for (size_t j = i; rv == WR_OK && j < tt->n; j++)
		tm_timers_keep(tt, &tt->batch[j]);
	return rv;
}

/* The batch filled within a key group's timers at *limit + 1: the limit
 * comes down to before them, and the timers past it leave the batch. */
static void
tm_timers_shrink(struct tm_timers *tt, int64_t *limit, int64_t cut)
{
	size_t k = 0;
	*limit = cut - 1;
	for (size_t i = 0; i < tt->n; i++) {
		if (tt->batch[i].ts > *limit)
			tm_timers_keep(tt, &tt->batch[i]);
		else
			tt->batch[k++] = tt->batch[i];
	}
	tt->n = k;
}

/*
 * Collects, with one scan of each key group holding some, the timers at
 * or before *limit, sorted by time, key group, then scan order (a key
 * group's timers by tag and key): the order in which rounds of one time
 * each (every key group holding it, in key group order) would fire them.
 * When they do not all fit, *limit comes down to before the first that
 * did not (shrink), so the batch still holds every timer up to *limit;
 * without shrink the batch is every timer at *limit of the key groups
 * (in order) it has room for, the rest left to the next round.
 */
static int
tm_timers_collect(tm_ctx *c, struct tm_timers *tt, int64_t *limit, bool shrink)
{
	int nkg = tt->kg_last - tt->kg_first + 1;
	tt->n = 0;
	wr_buf_reset(&tt->keys);
	for (int i = 0; i < nkg && (shrink || tt->n < TM_WIN_TIMER_BATCH);
	     i++) {
		if (tt->kg_next[i] > *limit)
			continue;
		int rv = tm_timers_collect_kg(c, tt, tt->kg_first + i, *limit);
		if (rv != WR_OK)
			return rv;
		if (shrink && tt->n == TM_WIN_TIMER_BATCH &&
		    tt->kg_next[i] <= *limit)
			tm_timers_shrink(tt, limit, tt->kg_next[i]);
	}
	qsort(tt->batch, tt->n, sizeof(*tt->batch), tm_timers_rec_cmp);
	return WR_OK;
}

/* Each round fires every due timer (up to the limit, as many as a batch
 * holds) after one scan of each key group holding some. A scan flushes
 * the state cache's writes to LMDB (a transaction commit): a round per
 * distinct time, as before, committed once per buffered record in the
 * event-time sort buffer (a timer at each record's time). More timers
 * of one time than a batch holds: the round takes that time only, in
 * key group order, as many as fit. */
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
		int64_t when = TM_TIMERS_KG_NONE, upto = limit;
		for (int i = 0; i < nkg; i++)
			if (tt->kg_next[i] < when)
				when = tt->kg_next[i];
		if (when == TM_TIMERS_KG_NONE || when > limit)
			return WR_OK;
		rv = tm_timers_collect(c, tt, &upto, true);
		if (rv == WR_OK && tt->n == 0 && upto < when) {
			upto = when;
			rv = tm_timers_collect(c, tt, &upto, false);
		}
		if (rv != WR_OK || (rv = tm_timers_fire_batch(c, tt)) != WR_OK)
			return rv;
	}
}
