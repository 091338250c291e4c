/*
 * anomaly.c - the anomaly engine: a key's sliding history (values as state
 * entries, running Welford sums with exact recomputation) or its
 * exponentially weighted mean and variance, and the comparison of each
 * record with them. See anomaly.h and docs/anomaly.md.
 *
 * Numerics of the sliding mode: the header keeps Welford's (count, mean,
 * M2) of the values in the history, shifted by a value of the key (K, the
 * oldest value at the last exact computation): y = x - K. Adding is
 * Welford's update, removing its inverse; both work on deviations from the
 * mean and the shift keeps the mean near 0, so a large common offset (1e9
 * + noise) costs no precision: sums of x and x^2 would lose every digit,
 * and even Welford on x itself keeps the mean only to an ulp of 1e9
 * (1.2e-7), an error that M2 accumulates. Removal is the weak step:
 * taking a spike out leaves an
 * error of about eps * M2_before in M2_after, large against a small M2.
 * So M2 is recomputed exactly from the stored values (Welford again,
 * from scratch) when it falls below TM_ANOM_RESUM_DROP of its peak since
 * the last exact computation, when it goes negative, and after
 * max(n, TM_ANOM_RESUM_REMOVALS) removals (bounding the drift of the
 * mean), and when the values drifted far from K (|mean| above
 * TM_ANOM_RECENTER stddevs): amortised, at most one extra read per
 * removal. The EWMA keeps its mean shifted the same way, moving K to the
 * mean when it drifts as far.
 *
 * Records with the same ts as the key's last are not in each other's
 * history: the values of the last ts wait in a pending Welford triple of
 * the header and join the history (Chan's merge) when a later ts comes.
 */
#include "anomaly.h"

#include "err.h"
#include "mem.h"
#include "wr_limits.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Recompute M2 exactly when it drops below this share of its peak (20
 * bits of its precision may have gone into the cancellation). */
#define TM_ANOM_RESUM_DROP 0x1.0p-20
/* ... and after this many removals (or the history's count, if more),
 * whatever M2 did: the mean's drift stays within ~sqrt(this) ulps. */
#define TM_ANOM_RESUM_REMOVALS 65536
/* ... and when the shifted mean is this many stddevs from 0 (it costs
 * about log2 of it in bits of the deviations). */
#define TM_ANOM_RECENTER 1024.0
/* First byte of a header: its layout. */
#define TM_ANOM_SLIDING 1
#define TM_ANOM_EWMA    2
#define TM_ANOM_SEQ     8  /* bytes of a value entry's sequence number */
#define TM_ANOM_ENTRY   16 /* ts, value */
#define TM_ANOM_HEAD    (1 + 13 * 8)
/* What the expiry scan returns to stop (errors are positive). */
#define TM_ANOM_SCAN_STOP (-1)

/* A key's header. Sliding: (n, mean, m2) of the history, the peak of m2
 * since its last exact computation, (pn, pmean, pm2) of the pending
 * values (ts == last_ts), the entries [head, next) (the first n in the
 * history, the pn after them pending), the ts of entry head, removals
 * since the last exact computation; shift is K, and the means are of
 * x - K. EWMA: n values folded, mean (of x - K), m2 is the variance. */
typedef struct tm_anom_head {
	uint64_t n;
	double mean, m2, peak;
	uint64_t pn;
	double pmean, pm2;
	uint64_t head, next;
	int64_t last_ts, head_ts;
	uint64_t removals;
	double shift;
} tm_anom_head;

struct tm_anomaly {
	tm_anomaly_cfg cfg;
	wr_state *st;
	tm_anomaly_stats stats;
	uint8_t kbuf[WR_STATE_MAX_USER_KEY];
	size_t klen;
};

/* ---- encoding (little-endian, whatever the host) ------------------------ */

static void
tm_anom_put64(uint8_t **p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		(*p)[i] = (uint8_t)(v >> (8 * i));
	*p += 8;
}

static uint64_t
tm_anom_get64(const uint8_t **p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)(*p)[i] << (8 * i);
	*p += 8;
	return v;
}

static void
tm_anom_putd(uint8_t **p, double d)
{
	uint64_t v;
	memcpy(&v, &d, 8);
	tm_anom_put64(p, v);
}

static double
tm_anom_getd(const uint8_t **p)
{
	uint64_t v = tm_anom_get64(p);
	double d;
	memcpy(&d, &v, 8);
	return d;
}

static void
tm_anom_head_encode(const tm_anom_head *h, uint8_t kind, uint8_t *out)
{
	uint8_t *p = out + 1;
	out[0] = kind;
	tm_anom_put64(&p, h->n);
	tm_anom_putd(&p, h->mean);
	tm_anom_putd(&p, h->m2);
	tm_anom_putd(&p, h->peak);
	tm_anom_put64(&p, h->pn);
	tm_anom_putd(&p, h->pmean);
	tm_anom_putd(&p, h->pm2);
	tm_anom_put64(&p, h->head);
	tm_anom_put64(&p, h->next);
	tm_anom_put64(&p, (uint64_t)h->last_ts);
	tm_anom_put64(&p, (uint64_t)h->head_ts);
	tm_anom_put64(&p, h->removals);
	tm_anom_putd(&p, h->shift);
}

static int
tm_anom_head_decode(const uint8_t *in, size_t len, uint8_t kind,
                    tm_anom_head *h)
{
	const uint8_t *p = in + 1;
	if (len != TM_ANOM_HEAD || in[0] != kind)
		return WR_ECORRUPT;
	h->n = tm_anom_get64(&p);
	h->mean = tm_anom_getd(&p);
	h->m2 = tm_anom_getd(&p);
	h->peak = tm_anom_getd(&p);
	h->pn = tm_anom_get64(&p);
	h->pmean = tm_anom_getd(&p);
	h->pm2 = tm_anom_getd(&p);
	h->head = tm_anom_get64(&p);
	h->next = tm_anom_get64(&p);
	h->last_ts = (int64_t)tm_anom_get64(&p);
	h->head_ts = (int64_t)tm_anom_get64(&p);
	h->removals = tm_anom_get64(&p);
	h->shift = tm_anom_getd(&p);
	return WR_OK;
}

/* ---- state ------------------------------------------------------------ */

static uint8_t
tm_anom_kind(const tm_anomaly *a)
{
	return a->cfg.history_ms > 0 ? TM_ANOM_SLIDING : TM_ANOM_EWMA;
}

/* The header of the current key (a->kbuf), or a fresh one: *found. */
static int
tm_anom_head_get(tm_anomaly *a, uint16_t kg, tm_anom_head *h, bool *found)
{
	const void *v;
	size_t vlen;
	int rc = wr_state_get(a->st, kg, a->cfg.state_id, a->kbuf, a->klen, &v,
	                      &vlen);

	memset(h, 0, sizeof(*h));
	h->last_ts = INT64_MIN;
	*found = rc == WR_OK;
	if (rc == WR_ENOENT)
		return WR_OK;
	if (rc != WR_OK)
		return rc;
	return tm_anom_head_decode(v, vlen, tm_anom_kind(a), h);
}

static int
tm_anom_head_put(tm_anomaly *a, uint16_t kg, const tm_anom_head *h)
{
	uint8_t buf[TM_ANOM_HEAD];
	tm_anom_head_encode(h, tm_anom_kind(a), buf);
	return wr_state_put(a->st, kg, a->cfg.state_id, a->kbuf, a->klen, buf,
	                    sizeof(buf));
}

/* Puts seq after the key in a->kbuf (room checked by feed). */
static void
tm_anom_seq_key(tm_anomaly *a, uint64_t seq)
{
	for (int i = 0; i < TM_ANOM_SEQ; i++)
		a->kbuf[a->klen + (size_t)i] =
		    (uint8_t)(seq >> (8 * (TM_ANOM_SEQ - 1 - i)));
}

static int
tm_anom_entry_get(tm_anomaly *a, uint16_t kg, uint64_t seq, int64_t *ts,
                  double *x)
{
	const void *v;
	size_t vlen;
	const uint8_t *p;
	int rc;

	tm_anom_seq_key(a, seq);
	rc = wr_state_get(a->st, kg, a->cfg.state_id + 1, a->kbuf,
	                  a->klen + TM_ANOM_SEQ, &v, &vlen);
	if (rc == WR_ENOENT || (rc == WR_OK && vlen != TM_ANOM_ENTRY))
		return WR_ECORRUPT; /* the header promised it */
	if (rc != WR_OK)
		return rc;
	p = v;
	*ts = (int64_t)tm_anom_get64(&p);
	*x = tm_anom_getd(&p);
	return WR_OK;
}

static int
tm_anom_entry_put(tm_anomaly *a, uint16_t kg, uint64_t seq, int64_t ts,
                  double x)
{
	uint8_t buf[TM_ANOM_ENTRY], *p = buf;
	tm_anom_put64(&p, (uint64_t)ts);
	tm_anom_putd(&p, x);
	tm_anom_seq_key(a, seq);
	return wr_state_put(a->st, kg, a->cfg.state_id + 1, a->kbuf,
	                    a->klen + TM_ANOM_SEQ, buf, sizeof(buf));
}

static int
tm_anom_entry_del(tm_anomaly *a, uint16_t kg, uint64_t seq)
{
	tm_anom_seq_key(a, seq);
	return wr_state_del(a->st, kg, a->cfg.state_id + 1, a->kbuf,
	                    a->klen + TM_ANOM_SEQ);
}

/* ---- Welford ------------------------------------------------------------ */

static void
tm_anom_add(uint64_t *n, double *mean, double *m2, double x)
{
	double d = x - *mean;
	(*n)++;
	*mean += d / (double)*n;
	*m2 += d * (x - *mean);
}

static void
tm_anom_remove(uint64_t *n, double *mean, double *m2, double x)
{
	if (*n <= 1) {
		*n = 0;
		*mean = *m2 = 0.0;
		return;
	}
	double m = *mean - (x - *mean) / (double)(*n - 1);
	*m2 -= (x - *mean) * (x - m);
	*mean = m;
	(*n)--;
}

/* Chan et al.'s merge of the pending values into the history. */
static void
tm_anom_merge_pending(tm_anom_head *h)
{
	uint64_t n = h->n + h->pn;
	double d = h->pmean - h->mean;

	h->mean += d * (double)h->pn / (double)n;
	h->m2 += h->pm2 + d * d * (double)h->n * (double)h->pn / (double)n;
	h->n = n;
	h->pn = 0;
	h->pmean = h->pm2 = 0.0;
	h->peak = h->m2 > h->peak ? h->m2 : h->peak;
}

/* Exact (n, mean, m2) of the history and of the pending values from the
 * entries, shifted by the oldest value. */
static int
tm_anom_resum(tm_anomaly *a, uint16_t kg, tm_anom_head *h)
{
	uint64_t n = 0, pn = 0;
	double mean = 0.0, m2 = 0.0, pmean = 0.0, pm2 = 0.0, x;
	int64_t ts;

	for (uint64_t s = h->head; s < h->next; s++) {
		int rc = tm_anom_entry_get(a, kg, s, &ts, &x);
		if (rc != WR_OK)
			return rc;
		if (s == h->head)
			h->shift = x;
		if (s < h->head + h->n)
			tm_anom_add(&n, &mean, &m2, x - h->shift);
		else
			tm_anom_add(&pn, &pmean, &pm2, x - h->shift);
	}
	h->mean = mean;
	h->m2 = m2;
	h->pmean = pmean;
	h->pm2 = pm2;
	h->peak = m2;
	h->removals = 0;
	a->stats.resums++;
	return WR_OK;
}

/*
 * Drops values from the head while the oldest of the history is older
 * than cut, or more than keep values are stored; a value of the pending
 * ones (the history empty) goes only for keep. Each dropped entry is read
 * once, and the new head once (its ts is the header's head_ts; when only
 * pending values remain it is their ts, last_ts). *dropped counts the
 * drops for keep alone.
 */
static int
tm_anom_trim(tm_anomaly *a, uint16_t kg, tm_anom_head *h, int64_t cut,
             uint64_t keep, uint64_t *dropped)
{
	bool have = false; /* x holds entry head's value */
	double x = 0.0;
	int64_t t;
	int rc;

	for (;;) {
		bool old = h->n > 0 && h->head_ts < cut;
		if (!old && h->n + h->pn <= keep)
			return WR_OK;
		if (!have && (rc = tm_anom_entry_get(a, kg, h->head, &t, &x)))
			return rc;
		if ((rc = tm_anom_entry_del(a, kg, h->head)))
			return rc;
		if (h->n > 0)
			tm_anom_remove(&h->n, &h->mean, &h->m2, x - h->shift);
		else
			tm_anom_remove(&h->pn, &h->pmean, &h->pm2,
			               x - h->shift);
		h->head++;
		h->removals++;
		*dropped += !old;
		have = false;
		if (h->n == 0) {
			h->head_ts = h->last_ts;
			continue;
		}
		if ((rc = tm_anom_entry_get(a, kg, h->head, &h->head_ts, &x)))
			return rc;
		have = true;
	}
}

/* Removes the values older than ts - history, then makes the sums exact
 * again when removals may have cost them precision. */
static int
tm_anom_evict(tm_anomaly *a, uint16_t kg, tm_anom_head *h, int64_t ts)
{
	int64_t cut = ts < INT64_MIN + a->cfg.history_ms
	                  ? INT64_MIN
	                  : ts - a->cfg.history_ms;
	uint64_t none = 0;
	int rc = tm_anom_trim(a, kg, h, cut, UINT64_MAX, &none);

	if (rc != WR_OK)
		return rc;
	/* Removals (these, or past the limit before) are what lose
	 * precision; without any the sums are as good as adds make them. */
	if (h->removals == 0 || h->n == 0)
		return WR_OK;
	if (h->m2 < 0.0 || h->m2 < h->peak * TM_ANOM_RESUM_DROP ||
	    (h->removals >= TM_ANOM_RESUM_REMOVALS && h->removals >= h->n) ||
	    fabs(h->mean) > TM_ANOM_RECENTER * sqrt(h->m2 / (double)h->n))
		return tm_anom_resum(a, kg, h);
	return WR_OK;
}

/* ---- the comparison ----------------------------------------------------- */

/* Emits when the history is warm and value is off by more than the
 * threshold. mean and y are shifted by K: their difference is exact. */
static int
tm_anom_judge(tm_anomaly *a, uint64_t n, double shift, double mean, double var,
              double x, tm_anomaly_emit_fn fn, void *arg)
{
	tm_anomaly_hit hit = {.value = x, .mean = shift + mean, .count = n};
	double dev = (x - shift) - mean;

	if (n < (uint64_t)a->cfg.min_count) {
		a->stats.warming++;
		return WR_OK;
	}
	hit.stddev = sqrt(var > 0.0 ? var : 0.0);
	if (!(fabs(dev) > a->cfg.threshold * hit.stddev))
		return WR_OK;
	if (hit.stddev > 0.0)
		hit.score = dev / hit.stddev;
	else
		hit.score_null = true;
	a->stats.emitted++;
	return fn(arg, &hit);
}

static int
tm_anom_feed_sliding(tm_anomaly *a, uint16_t kg, tm_anom_head *h, double x,
                     int64_t ts, tm_anomaly_emit_fn fn, void *arg)
{
	uint64_t n;
	double mean, var, shift;
	int rc;

	if (ts > h->last_ts && h->pn > 0)
		tm_anom_merge_pending(h);
	if ((rc = tm_anom_evict(a, kg, h, ts)))
		return rc;
	n = h->n;
	mean = h->mean;
	shift = h->shift;
	var = n > 0 ? h->m2 / (double)n : 0.0;
	/* Room for the new value: the oldest goes past the limit. */
	if ((rc = tm_anom_trim(a, kg, h, INT64_MIN, a->cfg.max_values - 1,
	                       &a->stats.dropped_over_limit)))
		return rc;
	if (h->head == h->next) {
		h->head_ts = ts;
		h->shift = x; /* nothing stored: a fresh start */
	}
	if ((rc = tm_anom_entry_put(a, kg, h->next, ts, x)))
		return rc;
	h->next++;
	tm_anom_add(&h->pn, &h->pmean, &h->pm2, x - h->shift);
	h->last_ts = ts;
	if ((rc = tm_anom_head_put(a, kg, h)))
		return rc;
	return tm_anom_judge(a, n, shift, mean, var, x, fn, arg);
}

/*
 * West's / Finch's exponentially weighted update (Finch, "Incremental
 * calculation of weighted mean and variance", 2009): with weight a,
 * d = x - mean; mean += a * d; var = (1 - a) * (var + a * d * d). The
 * first value starts it (mean = x, var = 0). On x - K, as the sliding
 * mode; K moves to the mean when the mean drifts TM_ANOM_RECENTER
 * stddevs away.
 */
static int
tm_anom_feed_ewma(tm_anomaly *a, uint16_t kg, tm_anom_head *h, double x,
                  int64_t ts, tm_anomaly_emit_fn fn, void *arg)
{
	uint64_t n = h->n;
	double mean = h->mean, var = h->m2, shift = h->shift;
	double w = a->cfg.ewma;
	int rc;

	if (h->n == 0) {
		h->shift = x;
		h->mean = h->m2 = 0.0;
	} else {
		double d = (x - h->shift) - h->mean;
		h->mean += w * d;
		h->m2 = (1.0 - w) * (h->m2 + w * d * d);
	}
	if (fabs(h->mean) > TM_ANOM_RECENTER * sqrt(h->m2)) {
		double k = h->shift + h->mean;
		h->mean -= k - h->shift;
		h->shift = k;
	}
	h->n += h->n < UINT64_MAX;
	h->last_ts = ts;
	if ((rc = tm_anom_head_put(a, kg, h)))
		return rc;
	return tm_anom_judge(a, n, shift, mean, var, x, fn, arg);
}

int
tm_anomaly_feed(tm_anomaly *a, uint16_t kg, const void *key, size_t klen,
                double value, int64_t ts, tm_anomaly_emit_fn fn, void *arg)
{
	tm_anom_head h;
	bool found;
	int rc;

	if (klen > sizeof(a->kbuf) - TM_ANOM_SEQ)
		return WR_ETOOBIG;
	memcpy(a->kbuf, key, klen);
	a->klen = klen;
	if ((rc = tm_anom_head_get(a, kg, &h, &found)))
		return rc;
	if (found && ts < h.last_ts) {
		a->stats.out_of_order++;
		return WR_EINVAL;
	}
	a->stats.fed++;
	if (a->cfg.history_ms > 0)
		return tm_anom_feed_sliding(a, kg, &h, value, ts, fn, arg);
	return tm_anom_feed_ewma(a, kg, &h, value, ts, fn, arg);
}

/* ---- expiry ------------------------------------------------------------- */

/* Keys found expired by one scan: their key group and bytes. */
typedef struct tm_anom_dead {
	tm_anomaly *a;
	int64_t cut;
	size_t n;
	uint16_t kg[TM_ANOMALY_EXPIRE_BATCH];
	uint16_t klen[TM_ANOMALY_EXPIRE_BATCH];
	uint8_t *keys; /* TM_ANOMALY_EXPIRE_BATCH x WR_STATE_MAX_USER_KEY */
	int rc;
} tm_anom_dead;

static int
tm_anom_dead_scan(void *arg, uint16_t kg, const void *key, size_t klen,
                  const void *val, size_t vlen)
{
	tm_anom_dead *d = arg;
	tm_anom_head h;

	d->rc = tm_anom_head_decode(val, vlen, TM_ANOM_SLIDING, &h);
	if (d->rc != WR_OK)
		return TM_ANOM_SCAN_STOP;
	if (h.last_ts >= d->cut)
		return 0;
	d->kg[d->n] = kg;
	d->klen[d->n] = (uint16_t)klen;
	memcpy(d->keys + d->n * WR_STATE_MAX_USER_KEY, key, klen);
	return ++d->n == TM_ANOMALY_EXPIRE_BATCH ? TM_ANOM_SCAN_STOP : 0;
}

/* Deletes key i of d: its values, then its header. */
static int
tm_anom_dead_del(tm_anom_dead *d, size_t i)
{
	tm_anomaly *a = d->a;
	tm_anom_head h;
	bool found;
	int rc;

	memcpy(a->kbuf, d->keys + i * WR_STATE_MAX_USER_KEY, d->klen[i]);
	a->klen = d->klen[i];
	if ((rc = tm_anom_head_get(a, d->kg[i], &h, &found)))
		return rc;
	for (uint64_t s = h.head; s < h.next; s++)
		if ((rc = tm_anom_entry_del(a, d->kg[i], s)))
			return rc;
	a->stats.expired_keys++;
	return wr_state_del(a->st, d->kg[i], a->cfg.state_id, a->kbuf, a->klen);
}

int
tm_anomaly_expire(tm_anomaly *a, uint16_t kg_first, uint16_t kg_last,
                  int64_t watermark, uint64_t *n)
{
	tm_anom_dead *d;
	int rc = WR_OK;

	if (n != NULL)
		*n = 0;
	if (a->cfg.history_ms <= 0)
		return WR_OK;
	d = wr_xcalloc(1, sizeof(*d));
	d->a = a;
	d->keys = wr_xcalloc(TM_ANOMALY_EXPIRE_BATCH, WR_STATE_MAX_USER_KEY);
	d->cut = watermark < INT64_MIN + a->cfg.history_ms
	             ? INT64_MIN
	             : watermark - a->cfg.history_ms;
	do {
		d->n = 0;
		d->rc = WR_OK;
		rc = wr_state_scan(a->st, a->cfg.state_id, kg_first, kg_last,
		                   tm_anom_dead_scan, d);
		rc = d->rc != WR_OK            ? d->rc
		     : rc == TM_ANOM_SCAN_STOP ? WR_OK
		                               : rc;
		for (size_t i = 0; rc == WR_OK && i < d->n; i++)
			rc = tm_anom_dead_del(d, i);
		if (n != NULL && rc == WR_OK)
			*n += d->n;
	} while (rc == WR_OK && d->n == TM_ANOMALY_EXPIRE_BATCH);
	free(d->keys);
	free(d);
	return rc;
}

/* ---- life --------------------------------------------------------------- */

int
tm_anomaly_new(const tm_anomaly_cfg *cfg, wr_state *st, tm_anomaly **out)
{
	bool sliding = cfg->history_ms > 0;

	if (sliding == (cfg->ewma > 0.0) || cfg->ewma > 1.0 ||
	    !(cfg->threshold > 0.0) || cfg->min_count < 1 ||
	    cfg->max_values > WR_ANOMALY_MAX_HISTORY || cfg->state_id == 255)
		return WR_EINVAL;
	tm_anomaly *a = wr_xcalloc(1, sizeof(*a));
	a->cfg = *cfg;
	if (a->cfg.max_values == 0)
		a->cfg.max_values = WR_ANOMALY_MAX_HISTORY;
	a->st = st;
	*out = a;
	return WR_OK;
}

void
tm_anomaly_free(tm_anomaly *a)
{
	free(a);
}

void
tm_anomaly_get_stats(const tm_anomaly *a, tm_anomaly_stats *out)
{
	*out = a->stats;
}
