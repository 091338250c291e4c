/*
 * shuffle_test.c - the data plane: local channels in one shuffle, remote
 * channels between two shuffles over loopback TCP (one plays the producer
 * TaskManager, the other the consumer). Exact per-channel order and totals
 * for a million records, events in order, back-pressure with a bounded
 * number of batches, a blocked channel, cancellation, consumers deployed
 * before producers, hostile frames on the data port, lost producers, and
 * connections cut mid-stream through a proxy (nothing lost, nothing twice).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "wrtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "shuffle.h"
#include "shuffle_int.h"

#define JOB       "job-shuffle-test"
#define MAX_CHANS 64
#define NEXT_MS   10000 /* a consumer's wait for the next batch */
#define DRAIN_MS  30000

static void
make_key(tm_chan_key *k, int edge, int from, int to)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->job_id, sizeof(k->job_id), "%s", JOB);
	k->attempt = 1;
	k->edge = (uint16_t)edge;
	k->from_subtask = (uint16_t)from;
	k->to_subtask = (uint16_t)to;
}

static void
make_url(char *out, size_t len, int port)
{
	snprintf(out, len, "tcp://127.0.0.1:%d", port);
}

static tm_shuffle *
new_shuffle(void)
{
	tm_shuffle *sh = NULL;
	assert_int_equal(tm_shuffle_new("tcp://127.0.0.1:0", &sh), WR_OK);
	assert_true(tm_shuffle_port(sh) > 0);
	return sh;
}

/* Input channels from producers 0..nprod-1 of edge to consumer `to`. */
static tm_input *
new_input(tm_shuffle *sh, int edge, int nprod, int to, const char *addr)
{
	tm_input_chan chans[MAX_CHANS];
	tm_input *in = NULL;
	memset(chans, 0, sizeof(chans));
	for (int j = 0; j < nprod; j++) {
		make_key(&chans[j].key, edge, j, to);
		chans[j].local = addr == NULL;
		if (addr != NULL)
			snprintf(chans[j].address, sizeof(chans[j].address),
			         "%s", addr);
	}
	assert_int_equal(tm_input_new(sh, chans, nprod, &in), WR_OK);
	return in;
}

/* ---- records ------------------------------------------------------------ */

/* A record: from u16 | to u16 | seq u32 | filler of (seq % 17) + pad
 * bytes, each (seq + i) & 0xff, so content and length are checked. */
static size_t
rec_encode(uint8_t *p, int from, int to, uint32_t seq, size_t pad)
{
	size_t n = 8 + seq % 17 + pad;
	p[0] = (uint8_t)(from >> 8);
	p[1] = (uint8_t)from;
	p[2] = (uint8_t)(to >> 8);
	p[3] = (uint8_t)to;
	p[4] = (uint8_t)(seq >> 24);
	p[5] = (uint8_t)(seq >> 16);
	p[6] = (uint8_t)(seq >> 8);
	p[7] = (uint8_t)seq;
	for (size_t i = 8; i < n; i++)
		p[i] = (uint8_t)(seq + i);
	return n;
}

typedef struct producer {
	tm_output *o;
	int from;
	int nchan;
	uint32_t per_chan;
	uint32_t wm_every; /* watermark after every so many rounds; 0: none */
	size_t pad;
	bool drain;
	bool eos;
	atomic_int done;
	int rv; /* WR_OK, or the first failure */
	pthread_t th;
} producer;

static void *
producer_main(void *arg)
{
	producer *p = arg;
	uint8_t rec[256];
	p->rv = WR_OK;
	for (uint32_t i = 0; i < p->per_chan && p->rv == WR_OK; i++) {
		for (int ch = 0; ch < p->nchan && p->rv == WR_OK; ch++) {
			size_t n = rec_encode(rec, p->from, ch, i, p->pad);
			p->rv = tm_output_append(p->o, ch, rec, n);
		}
		if (p->rv == WR_OK && p->wm_every != 0 &&
		    (i + 1) % p->wm_every == 0) {
			int64_t wm = (int64_t)i + 1; /* records per channel */
			p->rv = tm_output_event(p->o, TM_BATCH_WATERMARK, &wm,
			                        sizeof(wm));
		}
	}
	if (p->rv == WR_OK && p->eos)
		p->rv = tm_output_event(p->o, TM_BATCH_EOS, NULL, 0);
	if (p->rv == WR_OK && p->drain)
		p->rv = tm_output_drain(p->o, DRAIN_MS);
	atomic_store(&p->done, 1);
	return NULL;
}

static void
producer_start(producer *p, tm_output *o, int from, int nchan,
               uint32_t per_chan)
{
	memset(p, 0, sizeof(*p));
	p->o = o;
	p->from = from;
	p->nchan = nchan;
	p->per_chan = per_chan;
	p->drain = true;
	p->eos = true;
	atomic_init(&p->done, 0);
}

static void
producer_run(producer *p)
{
	assert_int_equal(pthread_create(&p->th, NULL, producer_main, p), 0);
}

static bool
producer_done(void *arg)
{
	return atomic_load(&((producer *)arg)->done) != 0;
}

typedef struct consumer {
	tm_input *in;
	int nchan;
	int from[MAX_CHANS]; /* what channel j carries: from -> to */
	int to[MAX_CHANS];
	uint32_t per_chan;
	int sleep_ms;         /* per batch: a slow consumer */
	tm_shuffle *bound_sh; /* if set, batches alive stay <= bound */
	uint32_t bound;
	uint32_t next[MAX_CHANS];
	uint64_t sum[MAX_CHANS];
	bool eos[MAX_CHANS];
	uint64_t count;
	uint64_t batches;
	int cur_ch;
	int rv;
	atomic_ullong progress; /* records seen, for other threads */
	pthread_t th;
} consumer;

static int
consumer_rec(void *arg, const uint8_t *p, size_t len)
{
	consumer *c = arg;
	int ch = c->cur_ch;
	WRT_CHECK(len >= 8);
	int from = (p[0] << 8) | p[1];
	int to = (p[2] << 8) | p[3];
	uint32_t seq = ((uint32_t)p[4] << 24) | ((uint32_t)p[5] << 16) |
	               ((uint32_t)p[6] << 8) | p[7];
	WRT_CHECK(from == c->from[ch]);
	WRT_CHECK(to == c->to[ch]);
	WRT_CHECK(seq == c->next[ch]); /* exact order, nothing lost or twice */
	WRT_CHECK(len >= 8 + seq % 17);
	for (size_t i = 8; i < len; i++)
		WRT_CHECK(p[i] == (uint8_t)(seq + i));
	c->next[ch]++;
	c->sum[ch] += seq;
	c->count++;
	return 0;
}

/* Checks one batch of channel ch. */
static void
consumer_batch(consumer *c, tm_batch *b, int ch)
{
	int64_t wm;
	WRT_CHECK(ch >= 0 && ch < c->nchan);
	WRT_CHECK(!c->eos[ch]); /* nothing after EOS */
	c->batches++;
	switch (b->kind) {
	case TM_BATCH_DATA:
		c->cur_ch = ch;
		WRT_CHECK(tm_batch_foreach(b, consumer_rec, c) == WR_OK);
		break;
	case TM_BATCH_WATERMARK:
		/* In order: exactly the records sent before it arrived. */
		WRT_CHECK(b->len == sizeof(wm));
		memcpy(&wm, b->data, sizeof(wm));
		WRT_CHECK(wm == (int64_t)c->next[ch]);
		break;
	case TM_BATCH_EOS:
		WRT_CHECK(c->next[ch] == c->per_chan);
		c->eos[ch] = true;
		break;
	default:
		WRT_CHECK(false);
	}
	atomic_store(&c->progress, c->count);
}

static void *
consumer_main(void *arg)
{
	consumer *c = arg;
	for (;;) {
		tm_batch *b;
		int ch;
		int rv = tm_input_next(c->in, NEXT_MS, &b, &ch);
		if (rv == WR_ENOENT)
			break;
		if (rv != WR_OK) {
			c->rv = rv;
			return NULL;
		}
		consumer_batch(c, b, ch);
		tm_input_release(c->in, b);
		if (c->bound_sh != NULL)
			WRT_CHECK(tm_shuffle_batches_alive(c->bound_sh) <=
			          c->bound);
		if (c->sleep_ms > 0)
			wr_sleep_ms(c->sleep_ms);
	}
	for (int ch = 0; ch < c->nchan; ch++)
		WRT_CHECK(c->eos[ch]);
	c->rv = WR_OK;
	return NULL;
}

static void
consumer_init(consumer *c, tm_input *in, int to, int nchan, uint32_t per_chan)
{
	memset(c, 0, sizeof(*c));
	c->in = in;
	c->nchan = nchan;
	for (int j = 0; j < nchan; j++) {
		c->from[j] = j;
		c->to[j] = to;
	}
	c->per_chan = per_chan;
	c->rv = -1;
	atomic_init(&c->progress, 0);
}

static void
consumer_check_totals(const consumer *c)
{
	uint64_t n = c->per_chan;
	assert_int_equal(c->rv, WR_OK);
	assert_int_equal(c->count, n * (uint64_t)c->nchan);
	for (int ch = 0; ch < c->nchan; ch++) {
		assert_int_equal(c->next[ch], c->per_chan);
		assert_int_equal(c->sum[ch], n * (n - 1) / 2);
	}
}

/* ---- a million records over 4 x 4 channels ------------------------------ */

enum { NP = 4, NC = 4 };

/* 4 producers, each with 4 channels, to 4 consumers. addr NULL: local
 * channels in `prod`; else remote from `cons` to `prod` at addr. Inputs
 * are created first (consumers deployed before producers). */
static void
run_4x4(tm_shuffle *prod, tm_shuffle *cons, const char *addr)
{
	const uint32_t per_chan = 1000000 / (NP * NC); /* 62,500 */
	producer p[NP];
	consumer c[NC];
	tm_output *o[NP];
	for (int k = 0; k < NC; k++) {
		consumer_init(&c[k], new_input(cons, 0, NP, k, addr), k, NP,
		              per_chan);
		assert_int_equal(
		    pthread_create(&c[k].th, NULL, consumer_main, &c[k]), 0);
	}
	for (int j = 0; j < NP; j++) {
		tm_chan_key key;
		make_key(&key, 0, j, 0);
		assert_int_equal(tm_output_new(prod, &key, NC, &o[j]), WR_OK);
		producer_start(&p[j], o[j], j, NC, per_chan);
		p[j].wm_every = 5000;
		producer_run(&p[j]);
	}
	uint64_t total = 0;
	for (int k = 0; k < NC; k++) {
		pthread_join(c[k].th, NULL);
		consumer_check_totals(&c[k]);
		total += c[k].count;
	}
	assert_int_equal(total, 1000000);
	for (int j = 0; j < NP; j++) {
		pthread_join(p[j].th, NULL);
		assert_int_equal(p[j].rv, WR_OK); /* drained: all delivered */
		tm_output_free(o[j]);
	}
	for (int k = 0; k < NC; k++)
		tm_input_free(c[k].in);
	/* Never more batches alive than the channels can pin. */
	assert_true(tm_shuffle_batches_peak(prod) <= NP * NC * TM_CHAN_BATCHES);
	assert_int_equal(tm_shuffle_batches_alive(prod), 0);
}

static void
test_local_million(void **state)
{
	(void)state;
	tm_shuffle *sh = new_shuffle();
	run_4x4(sh, sh, NULL);
	tm_shuffle_free(sh);
}

static void
test_remote_million(void **state)
{
	(void)state;
	char url[64];
	tm_shuffle *prod = new_shuffle(), *cons = new_shuffle();
	make_url(url, sizeof(url), tm_shuffle_port(prod));
	run_4x4(prod, cons, url);
	tm_shuffle_free(cons);
	tm_shuffle_free(prod);
}

/* ---- back-pressure ------------------------------------------------------ */

typedef struct bp_watch {
	producer *p;
	uint64_t above;
} bp_watch;

static bool
bp_blocked_above(void *arg)
{
	bp_watch *w = arg;
	return tm_output_blocked_ms(w->p->o) > w->above;
}

/* A consumer sleeping per batch makes the producer block; blocked time
 * grows while it waits, and the batches alive stay within the bound. */
static void
run_slow_consumer(tm_shuffle *prod, tm_shuffle *cons, const char *addr)
{
	enum { NCH = 2 };
	const uint32_t per_chan = 12000; /* ~37 batches a channel */
	tm_output *o;
	tm_chan_key key;
	producer p;
	consumer c;
	make_key(&key, 1, 0, 0);
	assert_int_equal(tm_output_new(prod, &key, NCH, &o), WR_OK);
	/* One consumer reading both channels of producer 0. */
	tm_input_chan chans[NCH];
	tm_input *in;
	memset(chans, 0, sizeof(chans));
	for (int ch = 0; ch < NCH; ch++) {
		make_key(&chans[ch].key, 1, 0, ch);
		chans[ch].local = addr == NULL;
		if (addr != NULL)
			snprintf(chans[ch].address, sizeof(chans[ch].address),
			         "%s", addr);
	}
	assert_int_equal(tm_input_new(cons, chans, NCH, &in), WR_OK);
	consumer_init(&c, in, 0, NCH, per_chan);
	for (int ch = 0; ch < NCH; ch++) {
		c.from[ch] = 0;
		c.to[ch] = ch;
	}
	c.sleep_ms = 10;
	c.bound_sh = prod;
	c.bound = NCH * TM_CHAN_BATCHES;
	producer_start(&p, o, 0, NCH, per_chan);
	p.pad = 90; /* ~100-byte records */
	producer_run(&p);
	assert_int_equal(pthread_create(&c.th, NULL, consumer_main, &c), 0);
	bp_watch w = {.p = &p, .above = 50};
	assert_true(wrt_wait(bp_blocked_above, &w, 10000));
	assert_false(atomic_load(&p.done));
	w.above = tm_output_blocked_ms(o) + 50;
	/* Still blocked: the counter grows while it waits. */
	assert_true(wrt_wait(bp_blocked_above, &w, 10000));
	pthread_join(c.th, NULL);
	consumer_check_totals(&c);
	pthread_join(p.th, NULL);
	assert_int_equal(p.rv, WR_OK);
	assert_true(tm_output_blocked_ms(o) >= 100);
	assert_true(tm_shuffle_batches_peak(prod) <= c.bound);
	tm_input_free(in);
	tm_output_free(o);
}

static void
test_local_slow_consumer(void **state)
{
	(void)state;
	tm_shuffle *sh = new_shuffle();
	run_slow_consumer(sh, sh, NULL);
	tm_shuffle_free(sh);
}

static void
test_remote_slow_consumer(void **state)
{
	(void)state;
	char url[64];
	tm_shuffle *prod = new_shuffle(), *cons = new_shuffle();
	make_url(url, sizeof(url), tm_shuffle_port(prod));
	run_slow_consumer(prod, cons, url);
	tm_shuffle_free(cons);
	tm_shuffle_free(prod);
}

/* ---- a blocked channel -------------------------------------------------- */

typedef struct chan_drain {
	tm_input *in;
	consumer *c;
	int want_ch; /* read until this channel's EOS */
} chan_drain;

/* Reads batches into c until channel want_ch ended; no batch of a
 * blocked channel may come. */
static void
read_until_eos(tm_input *in, consumer *c, int want_ch, int blocked_ch)
{
	while (!c->eos[want_ch]) {
		tm_batch *b;
		int ch;
		assert_int_equal(tm_input_next(in, NEXT_MS, &b, &ch), WR_OK);
		assert_int_not_equal(ch, blocked_ch);
		consumer_batch(c, b, ch);
		tm_input_release(in, b);
	}
}

static void
run_blocked_channel(tm_shuffle *prod, tm_shuffle *cons, const char *addr)
{
	tm_output *o[2];
	producer p[2];
	consumer c;
	const uint32_t n[2] = {5000, 30000};
	for (int j = 0; j < 2; j++) {
		tm_chan_key key;
		make_key(&key, 2, j, 0);
		assert_int_equal(tm_output_new(prod, &key, 1, &o[j]), WR_OK);
		producer_start(&p[j], o[j], j, 1, n[j]);
		p[j].pad = 90;
	}
	tm_input *in = new_input(cons, 2, 2, 0, addr);
	consumer_init(&c, in, 0, 2, 0);
	tm_input_block(in, 0, true);
	producer_run(&p[0]);
	producer_run(&p[1]);
	/* Channel 1 flows to its end while channel 0 is held. */
	c.per_chan = n[1];
	read_until_eos(in, &c, 1, 0);
	assert_int_equal(c.next[1], n[1]);
	assert_int_equal(c.next[0], 0);
	/* Producer 0 is blocked on its full queue, its data kept. */
	bp_watch w = {.p = &p[0], .above = 20};
	assert_true(wrt_wait(bp_blocked_above, &w, 10000));
	assert_false(atomic_load(&p[0].done));
	tm_input_block(in, 0, false);
	c.per_chan = n[0];
	read_until_eos(in, &c, 0, -1);
	assert_int_equal(c.next[0], n[0]);
	assert_int_equal(c.sum[0], (uint64_t)n[0] * (n[0] - 1) / 2);
	tm_batch *b;
	int ch;
	assert_int_equal(tm_input_next(in, 1000, &b, &ch), WR_ENOENT);
	for (int j = 0; j < 2; j++) {
		pthread_join(p[j].th, NULL);
		assert_int_equal(p[j].rv, WR_OK);
		tm_output_free(o[j]);
	}
	tm_input_free(in);
}

static void
test_local_blocked_channel(void **state)
{
	(void)state;
	tm_shuffle *sh = new_shuffle();
	run_blocked_channel(sh, sh, NULL);
	tm_shuffle_free(sh);
}

static void
test_remote_blocked_channel(void **state)
{
	(void)state;
	char url[64];
	tm_shuffle *prod = new_shuffle(), *cons = new_shuffle();
	make_url(url, sizeof(url), tm_shuffle_port(prod));
	run_blocked_channel(prod, cons, url);
	tm_shuffle_free(cons);
	tm_shuffle_free(prod);
}

/* ---- cancellation ------------------------------------------------------- */

static void
test_close_wakes_blocked_producer(void **state)
{
	(void)state;
	tm_shuffle *sh = new_shuffle();
	tm_output *o;
	tm_chan_key key;
	producer p;
	make_key(&key, 3, 0, 0);
	assert_int_equal(tm_output_new(sh, &key, 1, &o), WR_OK);
	/* Nobody consumes: the producer fills its queue and blocks. */
	producer_start(&p, o, 0, 1, 1000000);
	p.pad = 90;
	producer_run(&p);
	bp_watch w = {.p = &p, .above = 50};
	assert_true(wrt_wait(bp_blocked_above, &w, 10000));
	assert_false(atomic_load(&p.done));
	int64_t t0 = wr_mono_ms();
	tm_output_close(o);
	assert_true(wrt_wait(producer_done, &p, 2000));
	assert_true(wr_mono_ms() - t0 < 2000);
	pthread_join(p.th, NULL);
	assert_int_equal(p.rv, WR_ECLOSED);
	uint8_t rec[8] = {0};
	assert_int_equal(tm_output_append(o, 0, rec, sizeof(rec)), WR_ECLOSED);
	assert_int_equal(tm_output_drain(o, 10), WR_ECLOSED);
	assert_true(tm_shuffle_batches_peak(sh) <= TM_CHAN_BATCHES);
	tm_output_free(o);
	assert_int_equal(tm_shuffle_batches_alive(sh), 0);
	tm_shuffle_free(sh);
}

/* ---- consumer before producer ------------------------------------------- */

typedef struct counter_watch {
	tm_shuffle *sh;
	uint64_t (*get)(tm_shuffle *);
	uint64_t at_least;
} counter_watch;

static bool
counter_reached(void *arg)
{
	counter_watch *w = arg;
	return w->get(w->sh) >= w->at_least;
}

static uint64_t
server_contexts(tm_shuffle *sh)
{
	return (uint64_t)tm_shuffle_server_contexts(sh);
}

static void
test_remote_consumer_first(void **state)
{
	(void)state;
	char url[64];
	tm_shuffle *prod = new_shuffle(), *cons = new_shuffle();
	make_url(url, sizeof(url), tm_shuffle_port(prod));
	/* Short parks: the "unknown channel" answer and retry happen. */
	tm_shuffle_set_unknown_park_ms(prod, 50);
	consumer c;
	consumer_init(&c, new_input(cons, 4, 2, 0, url), 0, 2, 20000);
	assert_int_equal(pthread_create(&c.th, NULL, consumer_main, &c), 0);
	counter_watch w = {prod, tm_shuffle_unknown_replies, 4};
	assert_true(wrt_wait(counter_reached, &w, 10000));
	w = (counter_watch){cons, tm_shuffle_fetch_retries, 4};
	assert_true(wrt_wait(counter_reached, &w, 10000));
	tm_output *o[2];
	producer p[2];
	for (int j = 0; j < 2; j++) {
		tm_chan_key key;
		make_key(&key, 4, j, 0);
		assert_int_equal(tm_output_new(prod, &key, 1, &o[j]), WR_OK);
		producer_start(&p[j], o[j], j, 1, 20000);
		producer_run(&p[j]);
	}
	pthread_join(c.th, NULL);
	consumer_check_totals(&c);
	for (int j = 0; j < 2; j++) {
		pthread_join(p[j].th, NULL);
		assert_int_equal(p[j].rv, WR_OK);
		tm_output_free(o[j]);
	}
	tm_input_free(c.in);
	tm_shuffle_free(cons);
	tm_shuffle_free(prod);
}

/* A fetch parked for an unknown channel is served when the producer
 * registers within the park, without a retry. */
static void
test_remote_consumer_first_parked(void **state)
{
	(void)state;
	char url[64];
	tm_shuffle *prod = new_shuffle(), *cons = new_shuffle();
	make_url(url, sizeof(url), tm_shuffle_port(prod));
	consumer c;
	tm_output *o;
	producer p;
	tm_chan_key key;
	consumer_init(&c, new_input(cons, 5, 1, 0, url), 0, 1, 1000);
	assert_int_equal(pthread_create(&c.th, NULL, consumer_main, &c), 0);
	/* Both credits of the consumer wait on the producer's side. */
	counter_watch w = {prod, tm_shuffle_parked_unknown, TM_SHUFFLE_CREDITS};
	assert_true(wrt_wait(counter_reached, &w, 10000));
	make_key(&key, 5, 0, 0);
	assert_int_equal(tm_output_new(prod, &key, 1, &o), WR_OK);
	producer_start(&p, o, 0, 1, 1000);
	producer_run(&p);
	pthread_join(c.th, NULL);
	consumer_check_totals(&c);
	assert_int_equal(tm_shuffle_unknown_replies(prod), 0);
	pthread_join(p.th, NULL);
	assert_int_equal(p.rv, WR_OK);
	tm_output_free(o);
	tm_input_free(c.in);
	tm_shuffle_free(cons);
	tm_shuffle_free(prod);
}

/* ---- hostile frames on the data port ------------------------------------ */

enum { FETCH_BYTES = 68 };

static void
put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t
get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* The wire format of a fetch, written independently of shuffle_net.c. */
static void
fetch_frame(uint8_t *f, const tm_chan_key *k, uint64_t seq, uint64_t ack)
{
	memset(f, 0, FETCH_BYTES);
	memcpy(f, "WRSH", 4);
	f[4] = 1; /* version */
	f[5] = 1; /* FETCH */
	memcpy(f + 8, k->job_id, strlen(k->job_id));
	put_be(f + 40, k->attempt, 4);
	put_be(f + 44, k->edge, 2);
	put_be(f + 46, k->from_subtask, 2);
	put_be(f + 48, k->to_subtask, 2);
	put_be(f + 52, seq, 8);
	put_be(f + 60, ack, 8);
}

/* Sends frame on a raw req socket; returns the reply's status (0 for a
 * batch) and its version field. */
static int
raw_exchange(nng_socket s, const void *frame, size_t len, uint32_t *version)
{
	nng_msg *m;
	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	assert_int_equal(nng_msg_append(m, frame, len), 0);
	assert_int_equal(nng_sendmsg(s, m, 0), 0);
	assert_int_equal(nng_recvmsg(s, &m, 0), 0);
	const uint8_t *r = nng_msg_body(m);
	size_t n = nng_msg_len(m);
	assert_true(n >= 8);
	assert_memory_equal(r, "WRSH", 4);
	int st = 0;
	if (r[5] == 3) {
		assert_true(n >= 34);
		st = (int)get_be(r + 8, 2);
		if (version != NULL)
			*version = (uint32_t)get_be(r + 12, 4);
	} else {
		assert_int_equal(r[5], 2);
	}
	nng_msg_free(m);
	return st;
}

/* Connects to port, writes junk, and expects the server to hang up. */
static void
raw_tcp_junk(int port)
{
	int fd = wrt_tcp_connect(port);
	assert_true(fd >= 0);
	char junk[512];
	memset(junk, 'x', sizeof(junk));
	assert_int_equal(send(fd, junk, sizeof(junk), MSG_NOSIGNAL),
	                 (ssize_t)sizeof(junk));
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	char buf[64];
	bool closed = false;
	int64_t deadline = wr_mono_ms() + 5000;
	while (!closed && wr_mono_ms() < deadline) {
		if (poll(&pfd, 1, 100) > 0)
			closed = recv(fd, buf, sizeof(buf), 0) <= 0;
	}
	assert_true(closed);
	close(fd);
}

static void
test_garbage_frames(void **state)
{
	(void)state;
	char url[64];
	tm_shuffle *prod = new_shuffle(), *cons = new_shuffle();
	make_url(url, sizeof(url), tm_shuffle_port(prod));
	tm_output *o;
	tm_chan_key key;
	make_key(&key, 6, 0, 0);
	assert_int_equal(tm_output_new(prod, &key, 1, &o), WR_OK);

	nng_socket s;
	assert_int_equal(nng_req0_open(&s), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000), 0);
	assert_int_equal(nng_dial(s, url, NULL, 0), 0);
	/* room for a fetch with a token over the limit */
	uint8_t f[FETCH_BYTES + WR_AUTH_TOKEN_MAX_BYTES + 1];
	uint32_t version = 0;
	assert_int_equal(raw_exchange(s, "hello", 5, NULL), 7);
	assert_int_equal(raw_exchange(s, "WR", 2, NULL), 7);
	fetch_frame(f, &key, 0, 0);
	f[4] = 99; /* another version */
	assert_int_equal(raw_exchange(s, f, FETCH_BYTES, &version), 8);
	assert_int_equal(version, TM_SHUFFLE_PROTO_VERSION);
	fetch_frame(f, &key, 0, 0);
	assert_int_equal(raw_exchange(s, f, FETCH_BYTES - 1, NULL), 7);
	memset(f + FETCH_BYTES, 'x', WR_AUTH_TOKEN_MAX_BYTES + 1);
	assert_int_equal(raw_exchange(s, f, sizeof(f), NULL), 7);
	f[5] = 2; /* a reply type sent as a request */
	assert_int_equal(raw_exchange(s, f, FETCH_BYTES, NULL), 7);
	fetch_frame(f, &key, 0, 0);
	f[8] = 0x01; /* unprintable job id */
	assert_int_equal(raw_exchange(s, f, FETCH_BYTES, NULL), 7);
	fetch_frame(f, &key, 0, 0);
	f[50] = 1; /* reserved */
	assert_int_equal(raw_exchange(s, f, FETCH_BYTES, NULL), 7);
	fetch_frame(f, &key, 5, 0); /* beyond the credits */
	assert_int_equal(raw_exchange(s, f, FETCH_BYTES, NULL), 7);
	fetch_frame(f, &key, 3, 3); /* acknowledges what was never sent */
	assert_int_equal(raw_exchange(s, f, FETCH_BYTES, NULL), 7);
	fetch_frame(f, &key, UINT64_MAX, UINT64_MAX - 1);
	assert_int_equal(raw_exchange(s, f, FETCH_BYTES, NULL), 7);
	assert_true(tm_shuffle_bad_frames(prod) >= 11);
	nng_close(s);
	raw_tcp_junk(tm_shuffle_port(prod));

	/* The server still serves a real consumer. */
	consumer c;
	producer p;
	consumer_init(&c, new_input(cons, 6, 1, 0, url), 0, 1, 5000);
	producer_start(&p, o, 0, 1, 5000);
	producer_run(&p);
	consumer_main(&c);
	consumer_check_totals(&c);
	pthread_join(p.th, NULL);
	assert_int_equal(p.rv, WR_OK);
	tm_input_free(c.in);
	tm_output_free(o);
	tm_shuffle_free(cons);
	tm_shuffle_free(prod);
}

/* With a cluster token, a fetch without it or with another is refused
 * (status 11), counted, and a consumer that has it is served. */
static void
test_token(void **state)
{
	(void)state;
	char url[64];
	wr_auth_set_token("s3cret");
	tm_shuffle *prod = new_shuffle(), *cons = new_shuffle();
	wr_auth_set_token("");
	make_url(url, sizeof(url), tm_shuffle_port(prod));
	tm_output *o;
	tm_chan_key key;
	make_key(&key, 12, 0, 0);
	assert_int_equal(tm_output_new(prod, &key, 1, &o), WR_OK);

	uint64_t before = wr_auth_failures(WR_AUTH_DATA);
	nng_socket s;
	assert_int_equal(nng_req0_open(&s), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000), 0);
	assert_int_equal(nng_dial(s, url, NULL, 0), 0);
	uint8_t f[FETCH_BYTES + 6];
	fetch_frame(f, &key, 0, 0);
	assert_int_equal(raw_exchange(s, f, FETCH_BYTES, NULL), 11);
	memcpy(f + FETCH_BYTES, "s3cre7", 6);
	assert_int_equal(raw_exchange(s, f, FETCH_BYTES + 6, NULL), 11);
	memcpy(f + FETCH_BYTES, "s3cret", 6);
	assert_int_equal(raw_exchange(s, f, FETCH_BYTES + 5, NULL), 11);
	assert_int_equal(wr_auth_failures(WR_AUTH_DATA), before + 3);
	nng_close(s);

	/* cons carries the token: served as without one */
	consumer c;
	producer p;
	consumer_init(&c, new_input(cons, 12, 1, 0, url), 0, 1, 5000);
	producer_start(&p, o, 0, 1, 5000);
	producer_run(&p);
	consumer_main(&c);
	consumer_check_totals(&c);
	pthread_join(p.th, NULL);
	assert_int_equal(p.rv, WR_OK);
	assert_int_equal(wr_auth_failures(WR_AUTH_DATA), before + 3);
	tm_input_free(c.in);
	tm_output_free(o);

	/* a consumer with another token: its input fails, WR_EPERM */
	wr_auth_set_token("0ther");
	tm_shuffle *other = new_shuffle();
	wr_auth_set_token("");
	make_key(&key, 13, 0, 0);
	assert_int_equal(tm_output_new(prod, &key, 1, &o), WR_OK);
	tm_input *in = new_input(other, 13, 1, 0, url);
	tm_batch *b;
	int ch;
	assert_int_equal(tm_input_next(in, NEXT_MS, &b, &ch), WR_EPERM);
	assert_true(wr_auth_failures(WR_AUTH_DATA) > before + 3);
	tm_input_free(in);
	tm_output_free(o);
	tm_shuffle_free(other);
	tm_shuffle_free(cons);
	tm_shuffle_free(prod);
}

/* ---- lost producers ----------------------------------------------------- */

/* The producer's output goes away without EOS while the consumer waits:
 * the consumer hears at once, not after the unreachable timeout. */
static void
test_remote_output_freed(void **state)
{
	(void)state;
	char url[64];
	tm_shuffle *prod = new_shuffle(), *cons = new_shuffle();
	make_url(url, sizeof(url), tm_shuffle_port(prod));
	tm_output *o;
	tm_chan_key key;
	make_key(&key, 7, 0, 0);
	assert_int_equal(tm_output_new(prod, &key, 1, &o), WR_OK);
	tm_input *in = new_input(cons, 7, 1, 0, url);
	uint8_t rec[32];
	size_t n = rec_encode(rec, 0, 0, 0, 0);
	assert_int_equal(tm_output_append(o, 0, rec, n), WR_OK);
	assert_int_equal(tm_output_flush(o), WR_OK);
	tm_batch *b;
	int ch;
	assert_int_equal(tm_input_next(in, NEXT_MS, &b, &ch), WR_OK);
	assert_int_equal(b->nrecords, 1);
	tm_input_release(in, b);
	int64_t t0 = wr_mono_ms();
	tm_output_free(o); /* answers the parked fetches "closed" */
	assert_int_equal(tm_input_next(in, NEXT_MS, &b, &ch), WR_EUNREACHABLE);
	assert_true(wr_mono_ms() - t0 < TM_SHUFFLE_UNREACHABLE_MS / 2);
	tm_input_free(in);
	tm_shuffle_free(cons);
	tm_shuffle_free(prod);
}

static bool
parked_unknown(void *arg)
{
	return tm_shuffle_parked_unknown(arg) > 0;
}

/* The producer TaskManager's shuffle goes away while a consumer waits on
 * it: after the (shortened) unreachable timeout, WR_EUNREACHABLE. */
static void
test_remote_producer_shuffle_freed(void **state)
{
	(void)state;
	char url[64];
	tm_shuffle *prod = new_shuffle(), *cons = new_shuffle();
	make_url(url, sizeof(url), tm_shuffle_port(prod));
	tm_shuffle_set_unreachable_ms(cons, 500);
	tm_input *in = new_input(cons, 8, 1, 0, url);
	assert_true(wrt_wait(parked_unknown, prod, 10000));
	tm_batch *b;
	int ch;
	/* Connected: waiting is not a loss. */
	assert_int_equal(tm_input_next(in, 700, &b, &ch), WR_ETIMEDOUT);
	int64_t t0 = wr_mono_ms();
	tm_shuffle_free(prod);
	int64_t t1 = wr_mono_ms();
	assert_int_equal(tm_input_next(in, NEXT_MS, &b, &ch), WR_EUNREACHABLE);
	int64_t dt = wr_mono_ms() - t0;
	if (dt < 400 || dt >= 5000)
		fail_msg("WR_EUNREACHABLE after %lld ms, free took %lld ms",
		         (long long)dt, (long long)(t1 - t0));
	/* It stays failed. */
	assert_int_equal(tm_input_next(in, 0, &b, &ch), WR_EUNREACHABLE);
	tm_input_free(in);
	tm_shuffle_free(cons);
}

/* A local producer whose output is freed before its EOS is lost too. */
static void
test_local_output_freed(void **state)
{
	(void)state;
	tm_shuffle *sh = new_shuffle();
	tm_output *o;
	tm_chan_key key;
	make_key(&key, 9, 0, 0);
	assert_int_equal(tm_output_new(sh, &key, 1, &o), WR_OK);
	tm_input *in = new_input(sh, 9, 1, 0, NULL);
	tm_batch *b;
	int ch;
	assert_int_equal(tm_input_next(in, 50, &b, &ch), WR_ETIMEDOUT);
	tm_output_free(o);
	assert_int_equal(tm_input_next(in, NEXT_MS, &b, &ch), WR_EUNREACHABLE);
	tm_input_free(in);
	tm_shuffle_free(sh);
}

/* ---- connections cut mid-stream ----------------------------------------- */

enum { PROXY_PAIRS = 16 };

typedef struct proxy {
	int lfd;
	int port;
	int upstream;
	atomic_bool stop;
	atomic_int cut_req;
	atomic_int cuts_done;
	int pair[PROXY_PAIRS][2];
	pthread_t th;
} proxy;

static void
proxy_close_pair(proxy *px, int i)
{
	close(px->pair[i][0]);
	close(px->pair[i][1]);
	px->pair[i][0] = px->pair[i][1] = -1;
}

static void
proxy_accept(proxy *px)
{
	int a = accept(px->lfd, NULL, NULL);
	if (a < 0)
		return;
	int u = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)px->upstream)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (u < 0 || connect(u, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(a);
		if (u >= 0)
			close(u);
		return;
	}
	for (int i = 0; i < PROXY_PAIRS; i++)
		if (px->pair[i][0] < 0) {
			px->pair[i][0] = a;
			px->pair[i][1] = u;
			return;
		}
	close(a);
	close(u);
}

/* Moves what fd `from` has to `to`; false when the pair is done. */
static bool
proxy_pump(int from, int to)
{
	char buf[65536];
	ssize_t n = recv(from, buf, sizeof(buf), MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return false;
	for (ssize_t off = 0; n > 0 && off < n;) {
		ssize_t w =
		    send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
		if (w < 0 && errno != EINTR)
			return false;
		off += w > 0 ? w : 0;
	}
	return true;
}

static void *
proxy_main(void *arg)
{
	proxy *px = arg;
	while (!atomic_load(&px->stop)) {
		struct pollfd pfd[1 + 2 * PROXY_PAIRS];
		int n = 0, idx[1 + 2 * PROXY_PAIRS];
		if (atomic_load(&px->cut_req) > atomic_load(&px->cuts_done)) {
			for (int i = 0; i < PROXY_PAIRS; i++)
				if (px->pair[i][0] >= 0)
					proxy_close_pair(px, i);
			atomic_fetch_add(&px->cuts_done, 1);
		}
		pfd[n++] = (struct pollfd){.fd = px->lfd, .events = POLLIN};
		for (int i = 0; i < PROXY_PAIRS; i++)
			for (int s = 0; s < 2 && px->pair[i][0] >= 0; s++) {
				idx[n] = i * 2 + s;
				pfd[n++] = (struct pollfd){.fd = px->pair[i][s],
				                           .events = POLLIN};
			}
		if (poll(pfd, (nfds_t)n, 20) <= 0)
			continue;
		if (pfd[0].revents & POLLIN)
			proxy_accept(px);
		for (int k = 1; k < n; k++) {
			int i = idx[k] / 2, s = idx[k] % 2;
			if (pfd[k].revents == 0 || px->pair[i][0] < 0)
				continue;
			if (!proxy_pump(px->pair[i][s], px->pair[i][1 - s]))
				proxy_close_pair(px, i);
		}
	}
	for (int i = 0; i < PROXY_PAIRS; i++)
		if (px->pair[i][0] >= 0)
			proxy_close_pair(px, i);
	return NULL;
}

static void
proxy_start(proxy *px, int upstream)
{
	memset(px, 0, sizeof(*px));
	for (int i = 0; i < PROXY_PAIRS; i++)
		px->pair[i][0] = px->pair[i][1] = -1;
	px->upstream = upstream;
	px->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(px->lfd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(px->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(px->lfd, 16), 0);
	assert_int_equal(getsockname(px->lfd, (struct sockaddr *)&sa, &sl), 0);
	px->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&px->th, NULL, proxy_main, px), 0);
}

static void
proxy_stop(proxy *px)
{
	atomic_store(&px->stop, true);
	pthread_join(px->th, NULL);
	close(px->lfd);
}

static bool
proxy_cut_done(void *arg)
{
	proxy *px = arg;
	return atomic_load(&px->cuts_done) >= atomic_load(&px->cut_req);
}

typedef struct progress_watch {
	consumer *c;
	uint64_t at_least;
} progress_watch;

static bool
progress_reached(void *arg)
{
	progress_watch *w = arg;
	return atomic_load(&w->c->progress) >= w->at_least || w->c->rv != -1;
}

static void
test_remote_reconnect(void **state)
{
	(void)state;
	char url[64];
	enum { NCH = 2 };
	const uint32_t per_chan = 150000;
	tm_shuffle *prod = new_shuffle(), *cons = new_shuffle();
	proxy px;
	proxy_start(&px, tm_shuffle_port(prod));
	make_url(url, sizeof(url), px.port);
	tm_output *o[NCH];
	producer p[NCH];
	consumer c;
	consumer_init(&c, new_input(cons, 10, NCH, 0, url), 0, NCH, per_chan);
	c.sleep_ms = 1; /* keep the stream long enough to cut it */
	c.bound_sh = prod;
	c.bound = NCH * TM_CHAN_BATCHES;
	assert_int_equal(pthread_create(&c.th, NULL, consumer_main, &c), 0);
	for (int j = 0; j < NCH; j++) {
		tm_chan_key key;
		make_key(&key, 10, j, 0);
		assert_int_equal(tm_output_new(prod, &key, 1, &o[j]), WR_OK);
		producer_start(&p[j], o[j], j, 1, per_chan);
		p[j].wm_every = 997;
		p[j].pad = 40;
		producer_run(&p[j]);
	}
	/* At least 3 cuts, then more until one has failed a fetch in flight
	 * (its retry is what this tests): a consumer descheduled at a cut
	 * holds every credit, so no fetch was on the wire (a loaded machine
	 * showed 2 runs in 87 with no retry after 3 cuts). */
	for (int cut = 1; cut <= 7; cut++) {
		progress_watch w = {&c, (uint64_t)per_chan * NCH * cut / 8};
		assert_true(wrt_wait(progress_reached, &w, 30000));
		atomic_fetch_add(&px.cut_req, 1);
		assert_true(wrt_wait(proxy_cut_done, &px, 5000));
		if (cut >= 3 && tm_shuffle_fetch_retries(cons) > 0)
			break;
	}
	pthread_join(c.th, NULL);
	consumer_check_totals(&c); /* nothing lost, nothing twice */
	assert_true(tm_shuffle_fetch_retries(cons) > 0);
	for (int j = 0; j < NCH; j++) {
		pthread_join(p[j].th, NULL);
		assert_int_equal(p[j].rv, WR_OK);
		tm_output_free(o[j]);
	}
	tm_input_free(c.in);
	tm_shuffle_free(cons);
	tm_shuffle_free(prod);
	proxy_stop(&px);
}

/* ---- many channels: server contexts grow on demand ---------------------- */

static void
test_remote_many_channels(void **state)
{
	(void)state;
	enum { NCH = 64 };
	char url[64];
	tm_shuffle *prod = new_shuffle(), *cons = new_shuffle();
	make_url(url, sizeof(url), tm_shuffle_port(prod));
	tm_output *o;
	tm_chan_key key;
	make_key(&key, 11, 0, 0);
	assert_int_equal(tm_output_new(prod, &key, NCH, &o), WR_OK);
	tm_input *in[NCH];
	consumer c[NCH];
	for (int k = 0; k < NCH; k++) {
		in[k] = new_input(cons, 11, 1, k, url);
		consumer_init(&c[k], in[k], k, 1, 300);
	}
	/* Every credit of every consumer waits for data. */
	counter_watch w = {prod, server_contexts, NCH * TM_SHUFFLE_CREDITS};
	assert_true(wrt_wait(counter_reached, &w, 10000));
	producer p;
	producer_start(&p, o, 0, NCH, 300);
	producer_run(&p);
	for (int k = 0; k < NCH; k++) {
		consumer_main(&c[k]);
		consumer_check_totals(&c[k]);
	}
	pthread_join(p.th, NULL);
	assert_int_equal(p.rv, WR_OK);
	assert_true(tm_shuffle_server_contexts(prod) <=
	            2 * WR_SHUFFLE_SERVER_CTX_SPARE +
	                WR_SHUFFLE_UNKNOWN_PARKS_MAX +
	                NCH * TM_SHUFFLE_CREDITS);
	for (int k = 0; k < NCH; k++)
		tm_input_free(in[k]);
	tm_output_free(o);
	tm_shuffle_free(cons);
	tm_shuffle_free(prod);
}

/* ---- small things ------------------------------------------------------- */

static int
count_rec(void *arg, const uint8_t *rec, size_t len)
{
	(void)rec;
	(void)len;
	(*(int *)arg)++;
	return 0;
}

static int
stop_rec(void *arg, const uint8_t *rec, size_t len)
{
	(void)rec;
	(void)len;
	(*(int *)arg)++;
	return WR_EINTERNAL;
}

static void
test_batch_foreach_corrupt(void **state)
{
	(void)state;
	uint8_t d[16] = {2, 'a', 'b', 0, 3, 'x', 'y', 'z'};
	tm_batch b = {
	    .kind = TM_BATCH_DATA, .nrecords = 3, .len = 8, .data = d};
	int n = 0;
	assert_int_equal(tm_batch_foreach(&b, count_rec, &n), WR_OK);
	assert_int_equal(n, 3);
	n = 0;
	assert_int_equal(tm_batch_foreach(&b, stop_rec, &n), WR_EINTERNAL);
	assert_int_equal(n, 1);
	/* Each corruption is caught before any record is delivered. */
	b.nrecords = 4; /* more records than bytes hold */
	n = 0;
	assert_int_equal(tm_batch_foreach(&b, count_rec, &n), WR_ECORRUPT);
	b.nrecords = 2; /* trailing bytes */
	assert_int_equal(tm_batch_foreach(&b, count_rec, &n), WR_ECORRUPT);
	b.nrecords = 3;
	d[4] = 9; /* a length past the end */
	assert_int_equal(tm_batch_foreach(&b, count_rec, &n), WR_ECORRUPT);
	memset(d, 0xff, sizeof(d)); /* a varint that never ends */
	b.nrecords = 1;
	b.len = sizeof(d);
	assert_int_equal(tm_batch_foreach(&b, count_rec, &n), WR_ECORRUPT);
	b.nrecords = 2; /* only one record alone may exceed a batch */
	b.len = TM_BATCH_BYTES + 1;
	assert_int_equal(tm_batch_foreach(&b, count_rec, &n), WR_ECORRUPT);
	b.nrecords = 1;
	b.len = TM_BATCH_MAX_BYTES + 1;
	assert_int_equal(tm_batch_foreach(&b, count_rec, &n), WR_ECORRUPT);
	assert_int_equal(n, 0);
	b.kind = TM_BATCH_EOS;
	assert_int_equal(tm_batch_foreach(&b, count_rec, &n), WR_EINVAL);
}

/* ---- records over a batch ------------------------------------------- */

/* Sizes of the records test_big_records sends, in order: small ones
 * around records that need a batch of their own (one just over a batch
 * with its prefix, one at the shuffle's limit). */
static const size_t big_sizes[] = {10,   TM_BATCH_BYTES - 2,
                                   20,   WR_SHUFFLE_MAX_RECORD_BYTES,
                                   1,    TM_BATCH_BYTES + 100,
                                   3000, 3000,
                                   3000, 3000,
                                   3000, 3000,
                                   3000, 3000,
                                   3000, 3000,
                                   3000, WR_SHUFFLE_MAX_RECORD_BYTES,
                                   5};
#define NBIG (sizeof(big_sizes) / sizeof(big_sizes[0]))

typedef struct big_check {
	size_t next; /* index in big_sizes of the next record expected */
	bool bad;
} big_check;

static uint8_t
big_byte(size_t rec, size_t i)
{
	return (uint8_t)(rec * 31 + i * 7 + (i >> 13));
}

static void *
big_producer_main(void *arg)
{
	producer *p = arg;
	uint8_t *rec = malloc(WR_SHUFFLE_MAX_RECORD_BYTES);
	p->rv = rec != NULL ? WR_OK : WR_ENOMEM;
	for (size_t r = 0; r < NBIG && p->rv == WR_OK; r++) {
		for (size_t i = 0; i < big_sizes[r]; i++)
			rec[i] = big_byte(r, i);
		p->rv = tm_output_append(p->o, 0, rec, big_sizes[r]);
	}
	if (p->rv == WR_OK)
		p->rv = tm_output_event(p->o, TM_BATCH_EOS, NULL, 0);
	if (p->rv == WR_OK)
		p->rv = tm_output_drain(p->o, DRAIN_MS);
	free(rec);
	atomic_store(&p->done, 1);
	return NULL;
}

static int
big_check_rec(void *arg, const uint8_t *rec, size_t len)
{
	big_check *bc = arg;
	size_t r = bc->next++;
	if (r >= NBIG || len != big_sizes[r]) {
		bc->bad = true;
		return WR_OK;
	}
	for (size_t i = 0; i < len; i++)
		if (rec[i] != big_byte(r, i)) {
			bc->bad = true;
			break;
		}
	return WR_OK;
}

/* Records over a batch (up to WR_SHUFFLE_MAX_RECORD_BYTES) travel alone,
 * in order with the small ones around them, locally and over the
 * network; one byte more is refused. The pool's batch count stays within
 * the channel's reservation. */
static void
big_records(bool remote)
{
	char url[64];
	tm_shuffle *prod = new_shuffle(), *cons = remote ? new_shuffle() : prod;
	make_url(url, sizeof(url), tm_shuffle_port(prod));
	tm_chan_key key;
	make_key(&key, 20, 0, 0);
	tm_output *o;
	assert_int_equal(tm_output_new(prod, &key, 1, &o), WR_OK);
	tm_input *in = new_input(cons, 20, 1, 0, remote ? url : NULL);
	producer p;
	producer_start(&p, o, 0, 1, 0);
	assert_int_equal(pthread_create(&p.th, NULL, big_producer_main, &p), 0);
	big_check bc = {0};
	tm_batch *b;
	int ch, rv, batches = 0;
	while ((rv = tm_input_next(in, NEXT_MS, &b, &ch)) == WR_OK) {
		if (b->kind == TM_BATCH_DATA) {
			assert_int_equal(
			    tm_batch_foreach(b, big_check_rec, &bc), WR_OK);
			batches++;
		}
		tm_input_release(in, b);
	}
	assert_int_equal(rv, WR_ENOENT);
	pthread_join(p.th, NULL);
	assert_int_equal(p.rv, WR_OK);
	assert_false(bc.bad);
	assert_int_equal(bc.next, NBIG);
	assert_true(batches >= 6); /* each oversized record alone */
	assert_true(tm_shuffle_batches_peak(prod) <= TM_CHAN_BATCHES);
	tm_input_free(in);
	tm_output_free(o);
	if (remote)
		tm_shuffle_free(cons);
	tm_shuffle_free(prod);
}

static void
test_local_big_records(void **state)
{
	(void)state;
	big_records(false);
}

static void
test_remote_big_records(void **state)
{
	(void)state;
	big_records(true);
}

static void
test_api_errors(void **state)
{
	(void)state;
	tm_shuffle *sh = new_shuffle(), *bad = NULL;
	tm_output *o, *dup = NULL;
	tm_chan_key key;
	make_key(&key, 12, 0, 0);
	assert_int_not_equal(tm_shuffle_new("nope://x", &bad), WR_OK);
	assert_null(bad);
	assert_int_equal(tm_output_new(sh, &key, 0, &o), WR_EINVAL);
	tm_chan_key nokey = key;
	nokey.job_id[0] = '\0';
	assert_int_equal(tm_output_new(sh, &nokey, 1, &o), WR_EINVAL);
	assert_int_equal(tm_output_new(sh, &key, 2, &o), WR_OK);
	assert_int_equal(tm_output_new(sh, &key, 2, &dup), WR_EEXIST);
	/* Past the batch budget: refused up front. */
	tm_chan_key big = key;
	big.edge = 13;
	assert_int_equal(tm_output_new(sh, &big, 60000, &dup), WR_EFULL);
	static uint8_t huge[WR_SHUFFLE_MAX_RECORD_BYTES + 1];
	assert_int_equal(tm_output_append(o, 0, huge, sizeof(huge)),
	                 WR_ETOOBIG);
	assert_int_equal(tm_output_append(o, 2, huge, 1), WR_EINVAL);
	/* The largest record that fits a batch: 3 bytes of length prefix. */
	assert_int_equal(tm_output_append(o, 0, huge, TM_BATCH_BYTES - 3),
	                 WR_OK);
	assert_int_equal(tm_output_event(o, TM_BATCH_DATA, NULL, 0), WR_EINVAL);
	assert_int_equal(tm_output_event(o, TM_BATCH_EOS, NULL, 0), WR_OK);
	assert_int_equal(tm_output_append(o, 0, huge, 1), WR_ESTATE);
	assert_int_equal(tm_output_event(o, TM_BATCH_EOS, NULL, 0), WR_ESTATE);
	/* No consumer: the drain times out. */
	assert_int_equal(tm_output_drain(o, 50), WR_ETIMEDOUT);
	tm_output_free(o);
	tm_shuffle_free(sh);
}

/* Gates over an output that already queued its batches and EOS. */
static void
test_input_api(void **state)
{
	(void)state;
	tm_shuffle *sh = new_shuffle();
	tm_output *o;
	tm_chan_key key;
	static uint8_t rec[64];
	make_key(&key, 12, 0, 0);
	assert_int_equal(tm_output_new(sh, &key, 2, &o), WR_OK);
	assert_int_equal(tm_output_append(o, 0, rec, sizeof(rec)), WR_OK);
	assert_int_equal(tm_output_event(o, TM_BATCH_EOS, NULL, 0), WR_OK);

	/* Two gates, one per channel, each a single local channel. */
	tm_input_chan ch;
	tm_input *in = NULL, *in1 = NULL;
	memset(&ch, 0, sizeof(ch));
	ch.key = key;
	/* Remote without an address. */
	assert_int_equal(tm_input_new(sh, &ch, 1, &in), WR_EINVAL);
	ch.local = true;
	assert_int_equal(tm_input_new(sh, &ch, 0, &in), WR_EINVAL);
	assert_int_equal(tm_input_new(sh, &ch, 1, &in), WR_OK);
	tm_batch *b;
	int c;
	assert_int_equal(tm_input_next(in, 0, &b, &c), WR_OK);
	assert_int_equal(b->kind, TM_BATCH_DATA);
	assert_int_equal(b->nrecords, 1);
	tm_input_release(in, b);
	assert_int_equal(tm_input_next(in, 0, &b, &c), WR_OK);
	assert_int_equal(b->kind, TM_BATCH_EOS);
	tm_input_release(in, b);
	assert_int_equal(tm_input_next(in, 0, &b, &c), WR_ENOENT);
	/* Channel 1 has its EOS still queued. */
	assert_int_equal(tm_output_drain(o, 50), WR_ETIMEDOUT);
	ch.key.to_subtask = 1;
	assert_int_equal(tm_input_new(sh, &ch, 1, &in1), WR_OK);
	assert_int_equal(tm_input_next(in1, 0, &b, &c), WR_OK);
	assert_int_equal(b->kind, TM_BATCH_EOS);
	tm_input_release(in1, b);
	tm_input_free(in1);
	assert_int_equal(tm_output_drain(o, 1000), WR_OK);
	tm_input_close(in);
	assert_int_equal(tm_input_next(in, 1000, &b, &c), WR_ECLOSED);
	tm_input_free(in);
	tm_output_free(o);
	tm_output_free(NULL);
	tm_input_free(NULL);
	tm_shuffle_free(sh);
}

/* A channel with nothing to deliver times out on time. */
static void
test_next_timeout(void **state)
{
	(void)state;
	tm_shuffle *sh = new_shuffle();
	tm_input *in = new_input(sh, 14, 1, 0, NULL); /* producer absent */
	tm_batch *b;
	int ch;
	int64_t t0 = wr_mono_ms();
	assert_int_equal(tm_input_next(in, 100, &b, &ch), WR_ETIMEDOUT);
	int64_t dt = wr_mono_ms() - t0;
	assert_true(dt >= 100 && dt < 2000);
	assert_null(b);
	tm_input_free(in);
	tm_shuffle_free(sh);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_batch_foreach_corrupt),
	    cmocka_unit_test(test_api_errors),
	    cmocka_unit_test(test_local_big_records),
	    cmocka_unit_test(test_remote_big_records),
	    cmocka_unit_test(test_input_api),
	    cmocka_unit_test(test_next_timeout),
	    cmocka_unit_test(test_local_million),
	    cmocka_unit_test(test_remote_million),
	    cmocka_unit_test(test_local_slow_consumer),
	    cmocka_unit_test(test_remote_slow_consumer),
	    cmocka_unit_test(test_local_blocked_channel),
	    cmocka_unit_test(test_remote_blocked_channel),
	    cmocka_unit_test(test_close_wakes_blocked_producer),
	    cmocka_unit_test(test_remote_consumer_first),
	    cmocka_unit_test(test_remote_consumer_first_parked),
	    cmocka_unit_test(test_garbage_frames),
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_remote_output_freed),
	    cmocka_unit_test(test_remote_producer_shuffle_freed),
	    cmocka_unit_test(test_local_output_freed),
	    cmocka_unit_test(test_remote_reconnect),
	    cmocka_unit_test(test_remote_many_channels),
	};
	/* SHUFFLE_TEST=name runs one test (to loop on it). */
	if (getenv("SHUFFLE_TEST") != NULL)
		cmocka_set_test_filter(getenv("SHUFFLE_TEST"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
