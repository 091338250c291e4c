/*
 * shuffle.c - batches, the producer's outputs, the consumer's input gates
 * and local channels. The network half (wire format, data server, remote
 * fetches) is shuffle_net.c; shuffle_int.h has the structures and the
 * locking rules.
 *
 * Memory: producer batches come from a per-shuffle pool. Each output
 * channel reserves TM_CHAN_BATCHES of it when the output is created (the
 * most a channel can pin: open batch, queue, consumer credits), and the
 * reservations together stay under WR_SHUFFLE_MAX_BATCHES. So allocation
 * never fails for lack of budget, one channel cannot take another's
 * batches (barrier alignment cannot deadlock on memory), and back-pressure
 * is the per-channel queue bound. Batches are malloc'ed lazily and kept on
 * a free list. Remote consumers keep the nng reply itself as the batch,
 * bounded by their credits.
 */
#include "shuffle_int.h"

#include "clock.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "wr_assert.h"
#include "wr_limits.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
tm_now_ms(void)
{
	return wr_mono_ms();
}

static int64_t
tm_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
tm_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	/* Deadlines must not move with the wall clock. */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

/* Waits on cv until deadline_ms (monotonic) or a signal. */
static void
tm_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ms)
{
	struct timespec ts = {.tv_sec = deadline_ms / 1000,
	                      .tv_nsec = (deadline_ms % 1000) * 1000000};
	pthread_cond_timedwait(cv, mu, &ts);
}

/* ---- keys and the registry -------------------------------------------- */

static bool
tm_key_valid(const tm_chan_key *k)
{
	size_t n = strnlen(k->job_id, sizeof(k->job_id));
	if (n == 0 || n == sizeof(k->job_id))
		return false;
	for (size_t i = 0; i < n; i++)
		if (k->job_id[i] <= ' ' || k->job_id[i] > '~')
			return false;
	return true;
}

/* Same output: every field but to_subtask. */
static bool
tm_key_same_output(const tm_chan_key *a, const tm_chan_key *b)
{
	return a->attempt == b->attempt && a->edge == b->edge &&
	       a->from_subtask == b->from_subtask &&
	       strcmp(a->job_id, b->job_id) == 0;
}

static uint32_t
tm_key_bucket(const tm_chan_key *k)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const char *p = k->job_id; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ k->attempt) * 16777619u;
	h = (h ^ k->edge) * 16777619u;
	h = (h ^ k->from_subtask) * 16777619u;
	return h % TM_REG_BUCKETS;
}

/* @locks sh->mu */
static tm_output *
tm_reg_find_output(tm_shuffle *sh, const tm_chan_key *key)
{
	tm_output *o = sh->reg[tm_key_bucket(key)];
	while (o != NULL && !tm_key_same_output(&o->key, key))
		o = o->hnext;
	return o;
}

tm_out_chan *
tm_reg_find(tm_shuffle *sh, const tm_chan_key *key)
{
	tm_output *o = tm_reg_find_output(sh, key);
	if (o == NULL || key->to_subtask >= o->nchannels)
		return NULL;
	return &o->chans[key->to_subtask];
}

/* @locks sh->mu */
static void
tm_reg_remove(tm_shuffle *sh, tm_output *o)
{
	tm_output **pp = &sh->reg[tm_key_bucket(&o->key)];
	while (*pp != o)
		pp = &(*pp)->hnext;
	*pp = o->hnext;
	o->hnext = NULL;
}

/* ---- the batch pool ----------------------------------------------------- */

/* Takes a batch for a producer channel, within its reservation.
 * Errors: WR_ENOMEM. @locks none */
static int
tm_pool_get(tm_shuffle *sh, tm_sbatch **out)
{
	tm_sbatch *sb;
	pthread_mutex_lock(&sh->mu);
	if ((sb = sh->free) != NULL) {
		sh->free = sb->next;
		sh->nfree--;
	} else {
		/* Reservations bound what channels can pin. */
		WR_ASSERT(sh->nalloc < sh->reserved);
		sh->nalloc++;
	}
	if (sh->nalloc - sh->nfree > sh->alive_peak)
		sh->alive_peak = sh->nalloc - sh->nfree;
	pthread_mutex_unlock(&sh->mu);
	if (sb == NULL) {
		sb = malloc(sizeof(*sb) + TM_BATCH_BYTES);
		if (sb == NULL) {
			pthread_mutex_lock(&sh->mu);
			sh->nalloc--;
			pthread_mutex_unlock(&sh->mu);
			return WR_ENOMEM;
		}
		memset(sb, 0, sizeof(*sb));
		sb->origin = TM_SB_POOL;
		sb->b.data = (uint8_t *)(sb + 1);
	}
	sb->b.kind = TM_BATCH_DATA;
	sb->b.nrecords = 0;
	sb->b.len = 0;
	sb->next = NULL;
	*out = sb;
	return WR_OK;
}

void
tm_pool_put(tm_shuffle *sh, tm_sbatch *sb)
{
	WR_DASSERT(sb->origin == TM_SB_POOL);
	if (sb->lender != NULL) {
		tm_out_chan *c = sb->lender;
		for (int i = 0; i < TM_SHUFFLE_CREDITS; i++)
			if (c->lent[i] == sb)
				c->lent[i] = NULL;
		sb->lender = NULL;
	} else if (sb->orphan) {
		/* Its output kept one unit reserved for it. */
		sb->orphan = false;
		sh->reserved--;
	}
	if (sb->b.data != (uint8_t *)(sb + 1)) {
		/* An oversized record's own buffer (tm_output_append_big). */
		free(sb->b.data);
		sb->b.data = (uint8_t *)(sb + 1);
	}
	sb->ichan = NULL;
	sb->next = sh->free;
	sh->free = sb;
	sh->nfree++;
}

/* Returns a batch from the producer thread. @locks none */
static void
tm_pool_put_unlocked(tm_shuffle *sh, tm_sbatch *sb)
{
	pthread_mutex_lock(&sh->mu);
	tm_pool_put(sh, sb);
	pthread_mutex_unlock(&sh->mu);
}

/* ---- producer side ------------------------------------------------------ */

void
tm_out_chan_progress(tm_out_chan *c)
{
	pthread_cond_broadcast(&c->o->cv);
}

void
tm_out_chan_ack(tm_out_chan *c, uint64_t ack)
{
	if (ack <= c->base)
		return;
	while (c->base < ack) {
		tm_sbatch **slot = &c->ring[c->base % TM_OUT_RING];
		WR_ASSERT(*slot != NULL);
		tm_pool_put(c->o->sh, *slot);
		*slot = NULL;
		c->base++;
	}
	if (c->sent_hi < c->base)
		c->sent_hi = c->base;
	tm_out_chan_progress(c);
}

/* Room for one more batch: the unsent ones stay under the queue bound and
 * everything retained fits the ring. @locks sh->mu */
static bool
tm_out_room(const tm_out_chan *c)
{
	uint64_t sent = c->sent_hi > c->base ? c->sent_hi : c->base;
	return c->next_seq - sent < TM_SHUFFLE_QUEUE &&
	       c->next_seq - c->base < TM_OUT_RING;
}

/* Waits for room on c, counting the time as back-pressure. Returns WR_OK
 * or WR_ECLOSED. @locks sh->mu held (released while waiting) */
static int
tm_out_wait_room(tm_output *o, tm_out_chan *c)
{
	int rv = WR_OK;
	int64_t start = 0;
	while (!tm_out_room(c)) {
		if (atomic_load(&o->closed)) {
			rv = WR_ECLOSED;
			break;
		}
		if (start == 0) {
			start = tm_now_ns();
			o->blocked_since_ns = start;
		}
		tm_cond_wait_until(&o->cv, &o->sh->mu,
		                   tm_now_ms() + TM_SHUFFLE_WAIT_SLICE_MS);
	}
	if (start != 0) {
		o->blocked_ns += tm_now_ns() - start;
		o->blocked_since_ns = 0;
	}
	return rv;
}

/* Queues sb on c as its next seq, after waiting for room; on WR_ECLOSED
 * the caller keeps sb. @thread producer */
static int
tm_out_push(tm_output *o, tm_out_chan *c, tm_sbatch *sb)
{
	tm_shuffle *sh = o->sh;
	tm_later later = {.sh = sh};
	pthread_mutex_lock(&sh->mu);
	int rv = tm_out_wait_room(o, c);
	if (rv == WR_OK) {
		sb->seq = c->next_seq++;
		c->ring[sb->seq % TM_OUT_RING] = sb;
		if (sb->b.kind == TM_BATCH_EOS) {
			c->eos = true;
			c->eos_seq = sb->seq;
		}
		if (c->local != NULL)
			tm_input_wake(c->local->in);
		tm_srv_on_push(c, &later);
	}
	pthread_mutex_unlock(&sh->mu);
	tm_later_run(&later);
	return rv;
}

/* Attaches local consumer channel ic to producer channel c.
 * @locks sh->mu */
static void
tm_in_chan_attach(tm_in_chan *ic, tm_out_chan *c)
{
	if (c->mode == TM_MODE_REMOTE || c->local != NULL) {
		/* Two consumers of one channel: a deployment bug. */
		ic->err = WR_ESTATE;
		wr_log(WR_LOG_ERROR, "TM-SHUFFLE-CONFLICT",
		       "job=%s edge=%u from=%u to=%u already has a consumer",
		       ic->cfg.key.job_id, ic->cfg.key.edge,
		       ic->cfg.key.from_subtask, ic->cfg.key.to_subtask);
	} else {
		c->mode = TM_MODE_LOCAL;
		c->local = ic;
		ic->src = c;
	}
	tm_input_wake(ic->in);
}

/* Attaches waiting local consumers of o. @locks sh->mu */
static void
tm_output_attach_locals(tm_shuffle *sh, tm_output *o)
{
	for (tm_input *in = sh->inputs; in != NULL; in = in->next)
		for (int i = 0; i < in->nchannels; i++) {
			tm_in_chan *ic = &in->chans[i];
			if (!ic->cfg.local || ic->src != NULL || ic->src_gone ||
			    ic->err != WR_OK ||
			    !tm_key_same_output(&ic->cfg.key, &o->key) ||
			    ic->cfg.key.to_subtask >= o->nchannels)
				continue;
			tm_in_chan_attach(ic,
			                  &o->chans[ic->cfg.key.to_subtask]);
		}
}

/* Registers o, reserving its batches. @locks sh->mu */
static int
tm_output_register(tm_shuffle *sh, tm_output *o, tm_later *later)
{
	uint32_t need = (uint32_t)o->nchannels * TM_CHAN_BATCHES;
	if (sh->closing)
		return WR_ECLOSED;
	if (tm_reg_find_output(sh, &o->key) != NULL)
		return WR_EEXIST;
	if (need > WR_SHUFFLE_MAX_BATCHES - sh->reserved)
		return WR_EFULL;
	sh->reserved += need;
	uint32_t b = tm_key_bucket(&o->key);
	o->hnext = sh->reg[b];
	sh->reg[b] = o;
	sh->noutputs++;
	sh->nout_chans += o->nchannels;
	tm_output_attach_locals(sh, o);
	tm_srv_on_register(o, later);
	return WR_OK;
}

int
tm_output_new(tm_shuffle *sh, const tm_chan_key *key, int nchannels,
              tm_output **out)
{
	*out = NULL;
	if (sh == NULL || key == NULL || !tm_key_valid(key) || nchannels <= 0 ||
	    nchannels > UINT16_MAX)
		return WR_EINVAL;
	tm_output *o =
	    wr_xcalloc(1, sizeof(*o) + (size_t)nchannels * sizeof(o->chans[0]));
	o->sh = sh;
	o->key = *key;
	o->key.to_subtask = 0;
	o->nchannels = nchannels;
	tm_cond_init(&o->cv);
	atomic_init(&o->closed, false);
	for (int i = 0; i < nchannels; i++) {
		o->chans[i].o = o;
		o->chans[i].to = (uint16_t)i;
	}
	tm_later later = {.sh = sh};
	pthread_mutex_lock(&sh->mu);
	int rv = tm_output_register(sh, o, &later);
	pthread_mutex_unlock(&sh->mu);
	tm_later_run(&later);
	if (rv != WR_OK) {
		pthread_cond_destroy(&o->cv);
		free(o);
		return rv;
	}
	*out = o;
	return WR_OK;
}

static size_t
tm_varint_len(size_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static size_t
tm_varint_put(uint8_t *p, size_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Queues c's open batch. @thread producer */
static int
tm_out_queue_open(tm_output *o, tm_out_chan *c)
{
	int rv = tm_out_push(o, c, c->open);
	if (rv == WR_OK)
		c->open = NULL;
	return rv;
}

/* A record over a batch travels alone: the open batch is queued first
 * (order), then a pool batch whose data is a buffer of the record's own
 * size, freed when the batch returns to the pool. So a channel still pins
 * at most TM_CHAN_BATCHES batches, each at most one record of
 * WR_SHUFFLE_MAX_RECORD_BYTES. @thread producer */
static int
tm_output_append_big(tm_output *o, tm_out_chan *c, const void *rec, size_t len)
{
	size_t need = tm_varint_len(len) + len;
	uint8_t *buf = malloc(need);
	tm_sbatch *sb;
	int rv;
	if (buf == NULL)
		return WR_ENOMEM;
	if ((c->open != NULL && c->open->b.nrecords > 0 &&
	     (rv = tm_out_queue_open(o, c)) != WR_OK) ||
	    (rv = tm_pool_get(o->sh, &sb)) != WR_OK) {
		free(buf);
		return rv;
	}
	sb->b.data = buf;
	uint8_t *p = buf + tm_varint_put(buf, len);
	memcpy(p, rec, len);
	sb->b.len = (uint32_t)need;
	sb->b.nrecords = 1;
	if ((rv = tm_out_push(o, c, sb)) != WR_OK)
		tm_pool_put_unlocked(o->sh, sb);
	return rv;
}

int
tm_output_append(tm_output *o, int ch, const void *rec, size_t len)
{
	if (ch < 0 || ch >= o->nchannels || (rec == NULL && len > 0))
		return WR_EINVAL;
	if (atomic_load_explicit(&o->closed, memory_order_relaxed))
		return WR_ECLOSED;
	if (o->ended)
		return WR_ESTATE;
	if (len > WR_SHUFFLE_MAX_RECORD_BYTES)
		return WR_ETOOBIG;
	size_t need = tm_varint_len(len) + len;
	tm_out_chan *c = &o->chans[ch];
	if (need > TM_BATCH_BYTES)
		return tm_output_append_big(o, c, rec, len);
	int rv;
	if (c->open != NULL && c->open->b.len + need > TM_BATCH_BYTES &&
	    (rv = tm_out_queue_open(o, c)) != WR_OK)
		return rv;
	if (c->open == NULL && (rv = tm_pool_get(o->sh, &c->open)) != WR_OK)
		return rv;
	tm_batch *b = &c->open->b;
	uint8_t *p = b->data + b->len;
	p += tm_varint_put(p, len);
	if (len > 0)
		memcpy(p, rec, len);
	b->len += (uint32_t)need;
	b->nrecords++;
	return WR_OK;
}

int
tm_output_flush(tm_output *o)
{
	for (int i = 0; i < o->nchannels; i++) {
		tm_out_chan *c = &o->chans[i];
		if (c->open == NULL || c->open->b.nrecords == 0)
			continue;
		int rv = tm_out_queue_open(o, c);
		if (rv != WR_OK)
			return rv;
	}
	return WR_OK;
}

int
tm_output_event(tm_output *o, enum tm_batch_kind kind, const void *payload,
                size_t len)
{
	if ((kind != TM_BATCH_WATERMARK && kind != TM_BATCH_BARRIER &&
	     kind != TM_BATCH_EOS) ||
	    (payload == NULL && len > 0))
		return WR_EINVAL;
	if (len > TM_BATCH_BYTES)
		return WR_ETOOBIG;
	if (o->ended)
		return WR_ESTATE;
	int rv = tm_output_flush(o);
	if (rv != WR_OK)
		return rv;
	if (kind == TM_BATCH_EOS)
		o->ended = true; /* nothing may follow, even if this fails */
	for (int i = 0; i < o->nchannels; i++) {
		tm_sbatch *sb;
		if ((rv = tm_pool_get(o->sh, &sb)) != WR_OK)
			return rv;
		sb->b.kind = (uint8_t)kind;
		sb->b.len = (uint32_t)len;
		if (len > 0)
			memcpy(sb->b.data, payload, len);
		if ((rv = tm_out_push(o, &o->chans[i], sb)) != WR_OK) {
			tm_pool_put_unlocked(o->sh, sb);
			return rv;
		}
	}
	return WR_OK;
}

uint64_t
tm_output_blocked_ms(const tm_output *o)
{
	tm_shuffle *sh = o->sh;
	pthread_mutex_lock(&sh->mu);
	int64_t ns = o->blocked_ns;
	if (o->blocked_since_ns != 0)
		ns += tm_now_ns() - o->blocked_since_ns; /* blocked right now */
	pthread_mutex_unlock(&sh->mu);
	return (uint64_t)(ns / 1000000);
}

/* Every queued batch was taken (local) or acknowledged (remote).
 * @locks sh->mu */
static bool
tm_output_drained(const tm_output *o)
{
	for (int i = 0; i < o->nchannels; i++) {
		const tm_out_chan *c = &o->chans[i];
		if (c->base != c->next_seq)
			return false;
	}
	return true;
}

int
tm_output_drain(tm_output *o, int timeout_ms)
{
	int rv = tm_output_flush(o);
	if (rv != WR_OK)
		return rv;
	tm_shuffle *sh = o->sh;
	int64_t deadline = tm_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	pthread_mutex_lock(&sh->mu);
	for (;;) {
		if (tm_output_drained(o))
			break;
		int64_t now = tm_now_ms();
		if (atomic_load(&o->closed)) {
			rv = WR_ECLOSED;
			break;
		}
		if (now >= deadline) {
			rv = WR_ETIMEDOUT;
			break;
		}
		int64_t wake = now + TM_SHUFFLE_WAIT_SLICE_MS;
		tm_cond_wait_until(&o->cv, &sh->mu,
		                   wake < deadline ? wake : deadline);
	}
	pthread_mutex_unlock(&sh->mu);
	return rv;
}

void
tm_output_close(tm_output *o)
{
	if (o == NULL)
		return;
	atomic_store(&o->closed, true);
	pthread_mutex_lock(&o->sh->mu);
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->sh->mu);
}

/* Drops c's batches and detaches its consumers; returns how many batches
 * a local consumer still holds (they stay reserved until released).
 * @locks sh->mu */
static uint32_t
tm_out_chan_fini(tm_out_chan *c, tm_later *later)
{
	tm_shuffle *sh = c->o->sh;
	uint32_t orphans = 0;
	tm_srv_on_unregister(c, later);
	if (c->local != NULL) {
		c->local->src = NULL;
		c->local->src_gone = true;
		tm_input_wake(c->local->in);
		c->local = NULL;
	}
	for (uint64_t s = c->base; s < c->next_seq; s++) {
		tm_pool_put(sh, c->ring[s % TM_OUT_RING]);
		c->ring[s % TM_OUT_RING] = NULL;
	}
	if (c->open != NULL)
		tm_pool_put(sh, c->open);
	c->open = NULL;
	for (int i = 0; i < TM_SHUFFLE_CREDITS; i++) {
		tm_sbatch *sb = c->lent[i];
		if (sb == NULL)
			continue;
		sb->lender = NULL;
		sb->orphan = true;
		c->lent[i] = NULL;
		orphans++;
	}
	return orphans;
}

void
tm_output_free(tm_output *o)
{
	if (o == NULL)
		return;
	tm_shuffle *sh = o->sh;
	tm_later later = {.sh = sh};
	uint32_t keep = 0;
	pthread_mutex_lock(&sh->mu);
	tm_reg_remove(sh, o);
	sh->noutputs--;
	sh->nout_chans -= o->nchannels;
	for (int i = 0; i < o->nchannels; i++)
		keep += tm_out_chan_fini(&o->chans[i], &later);
	sh->reserved -= (uint32_t)o->nchannels * TM_CHAN_BATCHES - keep;
	pthread_mutex_unlock(&sh->mu);
	tm_later_run(&later);
	pthread_cond_destroy(&o->cv);
	free(o);
}

/* ---- consumer side ------------------------------------------------------ */

void
tm_input_wake(tm_input *in)
{
	pthread_cond_broadcast(&in->cv);
}

static int
tm_input_check_args(const tm_input_chan *chans, int nchannels)
{
	if (chans == NULL || nchannels <= 0 || nchannels > UINT16_MAX)
		return WR_EINVAL;
	for (int i = 0; i < nchannels; i++) {
		const tm_input_chan *c = &chans[i];
		if (!tm_key_valid(&c->key))
			return WR_EINVAL;
		size_t n = strnlen(c->address, sizeof(c->address));
		if (!c->local && (n == 0 || n == sizeof(c->address)))
			return WR_EINVAL;
	}
	return WR_OK;
}

/* Gives up in's fetch slots and frees the replies it holds. No fetch
 * callback reaches in afterwards. @locks none */
static void
tm_input_net_fini(tm_input *in)
{
	tm_shuffle *sh = in->sh;
	pthread_mutex_lock(&sh->mu);
	for (int i = 0; i < in->nchannels; i++)
		if (!in->chans[i].cfg.local)
			tm_in_chan_abandon(&in->chans[i]);
	pthread_mutex_unlock(&sh->mu);
	for (int i = 0; i < in->nchannels; i++)
		for (int k = 0; k < TM_SHUFFLE_CREDITS; k++) {
			nng_msg_free(in->chans[i].rb[k].msg);
			in->chans[i].rb[k].msg = NULL;
		}
}

static tm_input *
tm_input_alloc(tm_shuffle *sh, const tm_input_chan *chans, int nchannels)
{
	tm_input *in = wr_xcalloc(1, sizeof(*in) + (size_t)nchannels *
	                                               sizeof(in->chans[0]));
	in->sh = sh;
	in->nchannels = nchannels;
	tm_cond_init(&in->cv);
	for (int i = 0; i < nchannels; i++) {
		tm_in_chan *c = &in->chans[i];
		c->in = in;
		c->idx = i;
		c->cfg = chans[i];
		c->cfg.address[sizeof(c->cfg.address) - 1] = '\0';
		for (int k = 0; k < TM_SHUFFLE_CREDITS; k++) {
			c->rb[k].origin = TM_SB_NET;
			c->rb[k].ichan = c;
		}
	}
	return in;
}

/* Links in and starts its channels. @locks sh->mu */
static int
tm_input_start(tm_shuffle *sh, tm_input *in, tm_later *later)
{
	if (sh->closing)
		return WR_ECLOSED;
	in->next = sh->inputs;
	if (sh->inputs != NULL)
		sh->inputs->prev = in;
	sh->inputs = in;
	for (int i = 0; i < in->nchannels; i++) {
		tm_in_chan *c = &in->chans[i];
		if (!c->cfg.local) {
			tm_in_chan_pump(c, later);
			continue;
		}
		tm_out_chan *src = tm_reg_find(sh, &c->cfg.key);
		if (src != NULL)
			tm_in_chan_attach(c, src);
		/* else tm_output_new attaches it when the producer comes */
	}
	return WR_OK;
}

int
tm_input_new(tm_shuffle *sh, const tm_input_chan *chans, int nchannels,
             tm_input **out)
{
	*out = NULL;
	if (sh == NULL)
		return WR_EINVAL;
	int rv = tm_input_check_args(chans, nchannels);
	if (rv != WR_OK)
		return rv;
	tm_input *in = tm_input_alloc(sh, chans, nchannels);
	for (int i = 0; i < nchannels; i++) {
		tm_in_chan *c = &in->chans[i];
		if (c->cfg.local)
			continue;
		if ((rv = tm_peer_get(sh, c->cfg.address, &c->peer)) != WR_OK ||
		    (rv = tm_in_chan_net_open(c)) != WR_OK)
			goto free_input;
	}
	tm_later later = {.sh = sh};
	pthread_mutex_lock(&sh->mu);
	rv = tm_input_start(sh, in, &later);
	pthread_mutex_unlock(&sh->mu);
	if (rv != WR_OK)
		goto free_input;
	tm_later_run(&later);
	*out = in;
	return WR_OK;

free_input:
	tm_input_net_fini(in);
	pthread_cond_destroy(&in->cv);
	free(in);
	return rv;
}

/* Marks c failed with err (first reason wins). @locks sh->mu */
static int
tm_in_chan_lost(tm_in_chan *c, const char *why)
{
	c->err = WR_EUNREACHABLE;
	wr_log(WR_LOG_WARN, "TM-SHUFFLE-PRODUCER-LOST",
	       "job=%s edge=%u from=%u to=%u address=%s: %s", c->cfg.key.job_id,
	       c->cfg.key.edge, c->cfg.key.from_subtask, c->cfg.key.to_subtask,
	       c->cfg.local ? "local" : c->cfg.address, why);
	return c->err;
}

/* A channel that cannot go on: failed, or its producer is lost. Narrows
 * *wake to when a peer's silence becomes a loss. @locks sh->mu */
static int
tm_input_check(tm_input *in, int64_t now, int64_t *wake)
{
	int unreachable_ms = in->sh->unreachable_ms;
	for (int i = 0; i < in->nchannels; i++) {
		tm_in_chan *c = &in->chans[i];
		if (c->ended)
			continue;
		if (c->err != WR_OK)
			return c->err;
		if (c->cfg.local) {
			if (c->src_gone)
				return tm_in_chan_lost(
				    c, "producer output freed before its end");
			continue;
		}
		if (c->eos_received || c->peer->up_pipe != 0)
			continue;
		int64_t t = c->peer->last_alive_ms + unreachable_ms;
		if (now >= t)
			return tm_in_chan_lost(c, "no connection");
		if (t < *wake)
			*wake = t;
	}
	return WR_OK;
}

/* The next batch of local channel c, if it has one and a credit.
 * @locks sh->mu */
static tm_sbatch *
tm_in_chan_take_local(tm_in_chan *c)
{
	tm_out_chan *s = c->src;
	if (s == NULL || c->held >= TM_SHUFFLE_CREDITS ||
	    s->base == s->next_seq)
		return NULL;
	tm_sbatch *sb = s->ring[s->base % TM_OUT_RING];
	s->ring[s->base % TM_OUT_RING] = NULL;
	s->base++;
	if (s->sent_hi < s->base)
		s->sent_hi = s->base;
	int k = 0, j = 0;
	while (k < TM_SHUFFLE_CREDITS && s->lent[k] != NULL)
		k++;
	while (j < TM_SHUFFLE_CREDITS && c->lheld[j] != NULL)
		j++;
	/* Lent and held count the same batches, fewer than the credits. */
	WR_ASSERT(k < TM_SHUFFLE_CREDITS && j < TM_SHUFFLE_CREDITS);
	s->lent[k] = sb;
	c->lheld[j] = sb;
	sb->lender = s;
	sb->ichan = c;
	c->held++;
	tm_out_chan_progress(s);
	return sb;
}

/* The next batch in order of remote channel c, if received.
 * @locks sh->mu */
static tm_sbatch *
tm_in_chan_take_remote(tm_in_chan *c)
{
	for (int k = 0; k < TM_SHUFFLE_CREDITS; k++) {
		tm_sbatch *sb = c->rbuf[k];
		if (sb != NULL && sb->seq == c->deliver_seq) {
			c->rbuf[k] = NULL;
			c->deliver_seq++;
			c->held++;
			return sb;
		}
	}
	return NULL;
}

/* Round robin over deliverable channels. @locks sh->mu */
static tm_sbatch *
tm_input_take(tm_input *in, int *ch)
{
	for (int i = 0; i < in->nchannels; i++) {
		int idx = (in->rr + i) % in->nchannels;
		tm_in_chan *c = &in->chans[idx];
		if (c->ended || c->blocked)
			continue;
		tm_sbatch *sb = c->cfg.local ? tm_in_chan_take_local(c)
		                             : tm_in_chan_take_remote(c);
		if (sb == NULL)
			continue;
		in->rr = (idx + 1) % in->nchannels;
		if (sb->b.kind == TM_BATCH_EOS) {
			c->ended = true;
			in->nended++;
		}
		*ch = idx;
		return sb;
	}
	return NULL;
}

int
tm_input_next(tm_input *in, int timeout_ms, tm_batch **out, int *ch)
{
	tm_shuffle *sh = in->sh;
	int rv;
	int64_t deadline = tm_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	*out = NULL;
	*ch = -1;
	pthread_mutex_lock(&sh->mu);
	for (;;) {
		int64_t now = tm_now_ms(), wake = deadline;
		if (in->closed) {
			rv = WR_ECLOSED;
			break;
		}
		if ((rv = tm_input_check(in, now, &wake)) != WR_OK)
			break;
		tm_sbatch *sb = tm_input_take(in, ch);
		if (sb != NULL) {
			*out = &sb->b;
			break;
		}
		if (in->nended == in->nchannels) {
			rv = WR_ENOENT;
			break;
		}
		if (now >= deadline) {
			rv = WR_ETIMEDOUT;
			break;
		}
		tm_cond_wait_until(&in->cv, &sh->mu, wake);
	}
	pthread_mutex_unlock(&sh->mu);
	return rv;
}

void
tm_input_release(tm_input *in, tm_batch *b)
{
	if (b == NULL)
		return;
	tm_sbatch *sb = (tm_sbatch *)b;
	tm_shuffle *sh = in->sh;
	tm_in_chan *c = sb->ichan;
	tm_later later = {.sh = sh};
	nng_msg *msg = NULL;
	WR_ASSERT(c != NULL && c->in == in);
	pthread_mutex_lock(&sh->mu);
	WR_ASSERT(c->held > 0);
	c->held--;
	if (sb->origin == TM_SB_POOL) {
		for (int j = 0; j < TM_SHUFFLE_CREDITS; j++)
			if (c->lheld[j] == sb)
				c->lheld[j] = NULL;
		tm_pool_put(sh, sb);
	} else {
		msg = sb->msg;
		sb->msg = NULL;
		sb->in_use = false;
		tm_in_chan_pump(c, &later);
	}
	pthread_mutex_unlock(&sh->mu);
	nng_msg_free(msg);
	tm_later_run(&later);
}

void
tm_input_block(tm_input *in, int ch, bool blocked)
{
	if (ch < 0 || ch >= in->nchannels)
		return;
	pthread_mutex_lock(&in->sh->mu);
	in->chans[ch].blocked = blocked;
	pthread_mutex_unlock(&in->sh->mu);
}

void
tm_input_close(tm_input *in)
{
	if (in == NULL)
		return;
	pthread_mutex_lock(&in->sh->mu);
	in->closed = true;
	tm_input_wake(in);
	pthread_mutex_unlock(&in->sh->mu);
}

/* Unlinks in and returns the local batches it holds. @locks sh->mu */
static void
tm_input_unlink(tm_shuffle *sh, tm_input *in)
{
	in->freeing = true;
	if (in->prev != NULL)
		in->prev->next = in->next;
	else
		sh->inputs = in->next;
	if (in->next != NULL)
		in->next->prev = in->prev;
	for (int i = 0; i < in->nchannels; i++) {
		tm_in_chan *c = &in->chans[i];
		if (c->src != NULL) {
			c->src->local = NULL;
			c->src = NULL;
		}
		for (int j = 0; j < TM_SHUFFLE_CREDITS; j++)
			if (c->lheld[j] != NULL) {
				tm_pool_put(sh, c->lheld[j]);
				c->lheld[j] = NULL;
			}
	}
}

void
tm_input_free(tm_input *in)
{
	if (in == NULL)
		return;
	tm_shuffle *sh = in->sh;
	pthread_mutex_lock(&sh->mu);
	tm_input_unlink(sh, in);
	pthread_mutex_unlock(&sh->mu);
	/* Does not wait: fetches still out finish on their peer. */
	tm_input_net_fini(in);
	pthread_cond_destroy(&in->cv);
	free(in);
}

/* ---- reading batches ---------------------------------------------------- */

/* Reads one length prefix at *pos. Returns false if it is malformed or
 * runs past end. */
static bool
tm_varint_get(const uint8_t *p, size_t end, size_t *pos, size_t *v)
{
	size_t val = 0;
	for (int i = 0; i < TM_VARINT_MAX; i++) {
		if (*pos >= end)
			return false;
		uint8_t byte = p[(*pos)++];
		val |= (size_t)(byte & 0x7f) << (7 * i);
		if ((byte & 0x80) == 0) {
			*v = val;
			return true;
		}
	}
	return false;
}

/* Checks that b holds exactly nrecords well-formed records. */
static int
tm_batch_check(const tm_batch *b)
{
	size_t pos = 0, len;
	/* Only a batch of one record may be larger than a batch. */
	if (b->len > (b->nrecords == 1 ? TM_BATCH_MAX_BYTES : TM_BATCH_BYTES) ||
	    b->nrecords > b->len)
		return WR_ECORRUPT;
	for (uint32_t i = 0; i < b->nrecords; i++) {
		if (!tm_varint_get(b->data, b->len, &pos, &len) ||
		    len > b->len - pos)
			return WR_ECORRUPT;
		pos += len;
	}
	return pos == b->len ? WR_OK : WR_ECORRUPT;
}

int
tm_batch_foreach(const tm_batch *b,
                 int (*fn)(void *arg, const uint8_t *rec, size_t len),
                 void *arg)
{
	if (b == NULL || fn == NULL || b->kind != TM_BATCH_DATA)
		return WR_EINVAL;
	/* Checked whole first: a corrupt batch delivers nothing. */
	int rv = tm_batch_check(b);
	size_t pos = 0, len = 0;
	for (uint32_t i = 0; rv == WR_OK && i < b->nrecords; i++) {
		tm_varint_get(b->data, b->len, &pos, &len);
		rv = fn(arg, b->data + pos, len);
		pos += len;
	}
	return rv;
}

/* ---- the shuffle -------------------------------------------------------- */

int
tm_shuffle_new(const char *listen_url, tm_shuffle **out)
{
	*out = NULL;
	if (listen_url == NULL)
		return WR_EINVAL;
	tm_shuffle *sh = wr_xcalloc(1, sizeof(*sh));
	pthread_mutex_init(&sh->mu, NULL);
	tm_cond_init(&sh->cv);
	sh->ctxs = wr_xcalloc(WR_SHUFFLE_SERVER_CTX_MAX, sizeof(sh->ctxs[0]));
	sh->unreachable_ms = TM_SHUFFLE_UNREACHABLE_MS;
	sh->unknown_park_ms = TM_SHUFFLE_UNKNOWN_PARK_MS;
	sh->poll_ms = TM_SHUFFLE_POLL_MS;
	snprintf(sh->token, sizeof(sh->token), "%s", wr_auth_token());
	wr_auth_gate_init(&sh->gate);
	int rv = tm_srv_start(sh, listen_url);
	if (rv != WR_OK) {
		tm_srv_stop(sh);
		wr_auth_gate_fini(&sh->gate);
		free(sh->ctxs);
		pthread_cond_destroy(&sh->cv);
		pthread_mutex_destroy(&sh->mu);
		free(sh);
		return rv;
	}
	*out = sh;
	return WR_OK;
}

int
tm_shuffle_port(const tm_shuffle *sh)
{
	return sh->port;
}

void
tm_shuffle_free(tm_shuffle *sh)
{
	if (sh == NULL)
		return;
	pthread_mutex_lock(&sh->mu);
	/* The caller's contract: outputs and inputs go first. */
	WR_ASSERT(sh->noutputs == 0 && sh->inputs == NULL);
	pthread_mutex_unlock(&sh->mu);
	tm_peers_close(sh);
	tm_srv_stop(sh);
	/* Orphans are released with their inputs, so all came back. */
	WR_ASSERT(sh->nfree == sh->nalloc);
	while (sh->free != NULL) {
		tm_sbatch *sb = sh->free;
		sh->free = sb->next;
		free(sb);
	}
	free(sh->ctxs);
	wr_auth_gate_fini(&sh->gate);
	pthread_cond_destroy(&sh->cv);
	pthread_mutex_destroy(&sh->mu);
	free(sh);
}

/* ---- tests -------------------------------------------------------------- */

void
tm_shuffle_set_unreachable_ms(tm_shuffle *sh, int ms)
{
	pthread_mutex_lock(&sh->mu);
	sh->unreachable_ms = ms;
	pthread_mutex_unlock(&sh->mu);
}

void
tm_shuffle_set_unknown_park_ms(tm_shuffle *sh, int ms)
{
	pthread_mutex_lock(&sh->mu);
	sh->unknown_park_ms = ms;
	pthread_mutex_unlock(&sh->mu);
}

void
tm_shuffle_set_poll_ms(tm_shuffle *sh, int ms)
{
	pthread_mutex_lock(&sh->mu);
	sh->poll_ms = ms;
	pthread_mutex_unlock(&sh->mu);
}

uint32_t
tm_shuffle_batches_alive(tm_shuffle *sh)
{
	pthread_mutex_lock(&sh->mu);
	uint32_t n = sh->nalloc - sh->nfree;
	pthread_mutex_unlock(&sh->mu);
	return n;
}

uint32_t
tm_shuffle_batches_peak(tm_shuffle *sh)
{
	pthread_mutex_lock(&sh->mu);
	uint32_t n = sh->alive_peak;
	pthread_mutex_unlock(&sh->mu);
	return n;
}
