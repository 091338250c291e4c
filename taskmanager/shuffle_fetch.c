/*
 * shuffle_fetch.c - the consumer's side of remote channels: a req socket
 * per producer TaskManager (a peer, cached until the shuffle is freed) and
 * fetch slots, each an nng req context carrying one credit of a channel.
 *
 * A slot asks for one seq and acknowledges everything received so far; a
 * failed fetch (connection dropped: nng fails it, NNG_OPT_REQ_RESENDTIME
 * is infinite) is asked again with the same seq after a backoff, and the
 * producer still holds the batch because it was not acknowledged. Slots
 * belong to their peer: a freed input abandons them and each finishes its
 * request before it is reused, so a peer knows when no reply can arrive
 * and only then closes its socket (see tm_peer_close for the nng 1.5.2
 * hang this avoids).
 */
#include "shuffle_int.h"

#include "err.h"
#include "log.h"
#include "mem.h"
#include "tls.h"
#include "wr_assert.h"

#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- consumer: peers and fetch slots ----------------------------------- */

static void
tm_peer_pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	tm_peer *p = arg;
	tm_shuffle *sh = p->sh;
	uint32_t id = (uint32_t)nng_pipe_id(pipe);
	pthread_mutex_lock(&sh->mu);
	if (ev == NNG_PIPE_EV_ADD_POST) {
		p->up_pipe = id;
		p->last_alive_ms = tm_now_ms();
	} else if (p->up_pipe == id) {
		p->up_pipe = 0;
		p->last_alive_ms = tm_now_ms();
		/* Gates waiting on this peer start the unreachable clock;
		 * a shutdown waiting for replies stops waiting. */
		for (tm_input *in = sh->inputs; in != NULL; in = in->next)
			for (int i = 0; i < in->nchannels; i++)
				if (in->chans[i].peer == p) {
					tm_input_wake(in);
					break;
				}
		pthread_cond_broadcast(&sh->cv);
	}
	pthread_mutex_unlock(&sh->mu);
}

static int
tm_peer_dial(tm_peer *p)
{
	nng_dialer d;
	char url[WR_ADDR_BYTES + 8];
	if (wr_tls_url(p->addr, url, sizeof(url)) != WR_OK)
		return NNG_EINVAL;
	int rv = nng_dialer_create(&d, p->sock, url);
	if (rv != 0)
		return rv;
	if ((rv = wr_tls_dialer_setup(d, url)) != 0 ||
	    (rv = nng_dialer_set_size(d, NNG_OPT_RECVMAXSZ,
	                              TM_SF_CLIENT_RECV_MAX)) != 0 ||
	    (rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMINT,
	                            TM_PEER_RECONNECT_MIN_MS)) != 0 ||
	    (rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT,
	                            TM_PEER_RECONNECT_MAX_MS)) != 0)
		return rv;
	/* In the background: a producer TaskManager that is not up yet is
	 * dialled again with backoff. */
	return nng_dialer_start(d, NNG_FLAG_NONBLOCK);
}

/* Opens the socket of a new peer. @locks none */
static int
tm_peer_open(tm_peer *p)
{
	int rv = nng_req0_open(&p->sock);
	if (rv != 0)
		return rv;
	/* Contexts copy this when opened. Infinite: a dropped connection
	 * fails the fetch (we resend it with the same seq) rather than nng
	 * resending it on a timer. */
	if ((rv = nng_socket_set_ms(p->sock, NNG_OPT_REQ_RESENDTIME,
	                            NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_size(p->sock, NNG_OPT_RECVMAXSZ,
	                              TM_SF_CLIENT_RECV_MAX)) != 0 ||
	    (rv = nng_pipe_notify(p->sock, NNG_PIPE_EV_ADD_POST,
	                          tm_peer_pipe_cb, p)) != 0 ||
	    (rv = nng_pipe_notify(p->sock, NNG_PIPE_EV_REM_POST,
	                          tm_peer_pipe_cb, p)) != 0 ||
	    (rv = tm_peer_dial(p)) != 0)
		nng_close(p->sock);
	return rv;
}

/* @locks sh->mu */
static tm_peer *
tm_peer_find(tm_shuffle *sh, const char *addr)
{
	tm_peer *p = sh->peers;
	while (p != NULL && strcmp(p->addr, addr) != 0)
		p = p->next;
	return p;
}

int
tm_peer_get(tm_shuffle *sh, const char *addr, tm_peer **out)
{
	pthread_mutex_lock(&sh->mu);
	tm_peer *p = tm_peer_find(sh, addr);
	bool full = sh->npeers >= WR_MAX_TASKMANAGERS;
	pthread_mutex_unlock(&sh->mu);
	if (p != NULL || full) {
		*out = p;
		return p != NULL ? WR_OK : WR_EFULL;
	}
	tm_peer *fresh = wr_xcalloc(1, sizeof(*fresh));
	fresh->sh = sh;
	fresh->last_alive_ms = tm_now_ms();
	snprintf(fresh->addr, sizeof(fresh->addr), "%s", addr);
	int rv = tm_peer_open(fresh);
	if (rv != 0) {
		free(fresh);
		return tm_err_from_nng(rv);
	}
	pthread_mutex_lock(&sh->mu);
	if ((p = tm_peer_find(sh, addr)) == NULL) { /* nobody raced us */
		fresh->next = sh->peers;
		sh->peers = fresh;
		sh->npeers++;
		p = fresh;
		fresh = NULL;
	}
	pthread_mutex_unlock(&sh->mu);
	if (fresh != NULL) {
		nng_close(fresh->sock); /* never sent a request */
		free(fresh);
	}
	*out = p;
	return WR_OK;
}

/* @locks sh->mu */
static bool
tm_peer_busy(const tm_peer *p)
{
	for (const tm_fetch *f = p->slots; f != NULL; f = f->pnext)
		if (f->state != TM_FETCH_IDLE)
			return true;
	return false;
}

/*
 * Closes p once no reply can arrive: nng 1.5.2 reads a message in two
 * steps (length, then body), and a pipe closed between them leaves a
 * receive that never finishes; nng's reaper thread then waits for it
 * forever, and with it every later close in the process (fixed upstream
 * in 1.9.0, aac4dc36). Slots are abandoned, never cancelled mid-request,
 * and parks are bounded by the poll period, so this wait is too.
 * @locks none
 */
static void
tm_peer_close(tm_peer *p, int64_t deadline_ms)
{
	tm_shuffle *sh = p->sh;
	pthread_mutex_lock(&sh->mu);
	for (;;) {
		int64_t now = tm_now_ms();
		if (!tm_peer_busy(p) || p->up_pipe == 0 || now >= deadline_ms)
			break;
		int64_t wake = now + TM_SHUFFLE_WAIT_SLICE_MS;
		struct timespec ts = {.tv_sec = wake / 1000,
		                      .tv_nsec = (wake % 1000) * 1000000};
		pthread_cond_timedwait(&sh->cv, &sh->mu, &ts);
	}
	tm_fetch *slots = p->slots;
	p->slots = NULL;
	pthread_mutex_unlock(&sh->mu);
	for (tm_fetch *f = slots; f != NULL; f = f->pnext)
		nng_aio_stop(f->aio);
	nng_close(p->sock); /* its pipe callbacks have returned */
	while (slots != NULL) {
		tm_fetch *f = slots;
		slots = f->pnext;
		/* A send that never started left its request. */
		nng_msg_free(nng_aio_get_msg(f->aio));
		nng_aio_free(f->aio);
		free(f);
	}
	free(p);
}

void
tm_peers_close(tm_shuffle *sh)
{
	pthread_mutex_lock(&sh->mu);
	tm_peer *p = sh->peers;
	sh->peers = NULL;
	sh->npeers = 0;
	int64_t deadline = tm_now_ms() + sh->poll_ms + 1000;
	pthread_mutex_unlock(&sh->mu);
	while (p != NULL) {
		tm_peer *next = p->next;
		tm_peer_close(p, deadline);
		p = next;
	}
}

static void tm_fetch_cb(void *arg);

/* A new slot on p. @locks none */
static int
tm_fetch_new(tm_peer *p, tm_fetch **out)
{
	tm_fetch *f = wr_xcalloc(1, sizeof(*f));
	f->peer = p;
	int rv = nng_aio_alloc(&f->aio, tm_fetch_cb, f);
	if (rv == 0 && (rv = nng_ctx_open(&f->ctx, p->sock)) != 0)
		nng_aio_free(f->aio);
	if (rv != 0) {
		free(f);
		return tm_err_from_nng(rv);
	}
	/* No timeout: a fetch waits for data (long poll, bounded by the
	 * producer's poll period); a lost producer shows in the peer's
	 * connection state instead. */
	*out = f;
	return WR_OK;
}

/* Gives c a free slot of its peer, if one is free. @locks sh->mu */
static bool
tm_in_chan_take_slot(tm_in_chan *c, int k)
{
	for (tm_fetch *f = c->peer->slots; f != NULL; f = f->pnext)
		if (f->c == NULL && f->state == TM_FETCH_IDLE) {
			f->c = c;
			f->final = false;
			f->backoff_ms = 0;
			c->fetch[k] = f;
			return true;
		}
	return false;
}

int
tm_in_chan_net_open(tm_in_chan *c)
{
	tm_shuffle *sh = c->in->sh;
	for (int k = 0; k < TM_SHUFFLE_CREDITS; k++) {
		pthread_mutex_lock(&sh->mu);
		bool have = tm_in_chan_take_slot(c, k);
		pthread_mutex_unlock(&sh->mu);
		if (have)
			continue;
		tm_fetch *f = NULL;
		int rv = tm_fetch_new(c->peer, &f);
		if (rv != WR_OK)
			return rv; /* the caller abandons what c took */
		pthread_mutex_lock(&sh->mu);
		f->c = c;
		f->pnext = c->peer->slots;
		c->peer->slots = f;
		c->fetch[k] = f;
		pthread_mutex_unlock(&sh->mu);
	}
	return WR_OK;
}

void
tm_in_chan_abandon(tm_in_chan *c)
{
	for (int k = 0; k < TM_SHUFFLE_CREDITS; k++) {
		tm_fetch *f = c->fetch[k];
		if (f == NULL)
			continue;
		f->c = NULL;
		f->final = false;
		c->fetch[k] = NULL;
	}
	pthread_cond_broadcast(&c->in->sh->cv);
}

/* Builds f's request (ack: everything received so far) and queues the
 * send. @locks sh->mu */
static void
tm_fetch_send(tm_fetch *f, tm_later *later)
{
	nng_msg *m;
	f->ack = f->c->recv_contig;
	f->state = TM_FETCH_SEND;
	const char *tok = f->c->in->sh->token;
	size_t toklen = strlen(tok);
	if (nng_msg_alloc(&m, TM_SF_FETCH_BYTES + toklen) != 0)
		wr_panic(__FILE__, __LINE__, "out of memory for a fetch");
	uint8_t *p = nng_msg_body(m);
	tm_sf_fetch_encode(p, &f->c->cfg.key, f->seq, f->ack);
	memcpy(p + TM_SF_FETCH_BYTES, tok, toklen);
	nng_aio_set_msg(f->aio, m);
	f->later_next = later->fetches;
	later->fetches = f;
}

/* Sends f again after a backoff. @locks sh->mu */
static void
tm_fetch_sleep(tm_fetch *f, tm_later *later)
{
	f->backoff_ms =
	    f->backoff_ms == 0 ? TM_FETCH_BACKOFF_MIN_MS : f->backoff_ms * 2;
	if (f->backoff_ms > TM_FETCH_BACKOFF_MAX_MS)
		f->backoff_ms = TM_FETCH_BACKOFF_MAX_MS;
	f->state = TM_FETCH_SLEEP;
	f->later_next = later->fetches;
	later->fetches = f;
}

static tm_fetch *
tm_in_chan_idle_fetch(tm_in_chan *c)
{
	for (int k = 0; k < TM_SHUFFLE_CREDITS; k++)
		if (c->fetch[k] != NULL && c->fetch[k]->state == TM_FETCH_IDLE)
			return c->fetch[k];
	return NULL;
}

void
tm_in_chan_pump(tm_in_chan *c, tm_later *later)
{
	tm_fetch *f;
	if (c->cfg.local || c->in->freeing || c->err != WR_OK)
		return;
	if (c->eos_received) {
		/* One last fetch acknowledges the EOS, so the producer
		 * knows everything arrived (tm_output_drain). */
		if (!c->final_sent && c->recv_contig > c->eos_seq &&
		    (f = tm_in_chan_idle_fetch(c)) != NULL) {
			c->final_sent = true;
			f->final = true;
			f->seq = c->eos_seq + 1;
			tm_fetch_send(f, later);
		}
		return;
	}
	/* A credit is a batch in flight, buffered or held by the task. */
	while (c->next_fetch - c->deliver_seq + (uint64_t)c->held <
	           TM_SHUFFLE_CREDITS &&
	       (f = tm_in_chan_idle_fetch(c)) != NULL) {
		f->final = false;
		f->seq = c->next_fetch++;
		f->backoff_ms = 0;
		tm_fetch_send(f, later);
	}
}

/* Fails channel c with err. @locks sh->mu */
static void
tm_in_chan_fail(tm_in_chan *c, int err, const char *why)
{
	if (c->err == WR_OK && !c->ended) {
		c->err = err;
		wr_log(WR_LOG_WARN, "TM-SHUFFLE-CHANNEL-FAILED",
		       "job=%s edge=%u from=%u to=%u address=%s: %s",
		       c->cfg.key.job_id, c->cfg.key.edge,
		       c->cfg.key.from_subtask, c->cfg.key.to_subtask,
		       c->cfg.address, why);
	}
	tm_input_wake(c->in);
}

/* Stores a batch reply for delivery; false if it breaks the protocol.
 * @locks sh->mu */
static bool
tm_in_chan_store(tm_in_chan *c, tm_fetch *f, const tm_sf_reply *r, nng_msg *msg)
{
	int k = 0, j = 0;
	if (f->final || (c->eos_received && f->seq > c->eos_seq))
		return false; /* nothing may follow an EOS */
	while (k < TM_SHUFFLE_CREDITS && c->rb[k].in_use)
		k++;
	while (j < TM_SHUFFLE_CREDITS && c->rbuf[j] != NULL)
		j++;
	if (k == TM_SHUFFLE_CREDITS || j == TM_SHUFFLE_CREDITS)
		return false;
	tm_sbatch *sb = &c->rb[k];
	sb->in_use = true;
	sb->msg = msg;
	sb->seq = r->seq;
	sb->b.kind = r->kind;
	sb->b.nrecords = r->nrecords;
	sb->b.len = r->len;
	sb->b.data = (uint8_t *)nng_msg_body(msg) + TM_SF_BATCH_HDR;
	c->rbuf[j] = sb;
	if (r->kind == TM_BATCH_EOS) {
		c->eos_received = true;
		c->eos_seq = r->seq;
	}
	for (bool more = true; more;) { /* bounded: rbuf has CREDITS slots */
		more = false;
		for (j = 0; j < TM_SHUFFLE_CREDITS; j++)
			if (c->rbuf[j] != NULL &&
			    c->rbuf[j]->seq == c->recv_contig) {
				c->recv_contig++;
				more = true;
			}
	}
	tm_input_wake(c->in);
	return true;
}

/* Handles a status reply. @locks sh->mu */
static void
tm_fetch_status(tm_fetch *f, const tm_sf_reply *r, tm_later *later)
{
	tm_in_chan *c = f->c;
	char why[TM_SF_TEXT_MAX + 64];
	f->state = TM_FETCH_IDLE;
	switch (r->status) {
	case TM_ST_AGAIN: /* the poll period ended without data */
		tm_fetch_send(f, later);
		break;
	case TM_ST_SHUTDOWN:
		/* The producer TaskManager is stopping: stay away long
		 * enough for it to close its socket in peace. */
		f->backoff_ms = TM_FETCH_BACKOFF_MAX_MS;
		c->in->sh->fetch_retries++;
		tm_fetch_sleep(f, later);
		break;
	case TM_ST_UNKNOWN:
	case TM_ST_BUSY:
		/* An unknown output after EOS is gone: nobody waits for
		 * the final acknowledgement. */
		if (f->final && r->status == TM_ST_UNKNOWN)
			break;
		c->in->sh->fetch_retries++;
		tm_fetch_sleep(f, later);
		break;
	case TM_ST_ENDED:
		if (r->eos_seq >= f->seq)
			tm_in_chan_fail(c, WR_EPROTO, "ended before the seq");
		break;
	case TM_ST_CLOSED:
		if (!c->eos_received)
			tm_in_chan_fail(
			    c, WR_EUNREACHABLE,
			    "producer output closed before its end");
		break;
	default:
		snprintf(why, sizeof(why),
		         "producer refused the fetch (%u): %s", r->status,
		         r->text);
		/* the task's failure then reads "permission denied", not
		 * "protocol error": a token that differs, not a bug */
		tm_in_chan_fail(
		    c, r->status == TM_ST_UNAUTHORIZED ? WR_EPERM : WR_EPROTO,
		    why);
		break;
	}
}

/* Handles f's reply; returns msg if it is not kept. @locks sh->mu */
static nng_msg *
tm_fetch_reply(tm_fetch *f, nng_msg *msg, tm_later *later)
{
	tm_in_chan *c = f->c;
	tm_sf_reply r;
	const char *why = NULL;
	int rv =
	    tm_sf_reply_decode(nng_msg_body(msg), nng_msg_len(msg), &r, &why);
	if (rv == WR_OK && r.seq != f->seq) {
		rv = WR_EPROTO;
		why = "reply for another seq";
	}
	if (rv == WR_OK && r.type == TM_SF_BATCH) {
		if (tm_in_chan_store(c, f, &r, msg)) {
			f->state = TM_FETCH_IDLE;
			f->backoff_ms = 0;
			msg = NULL;
		} else {
			rv = WR_EPROTO;
			why = "batch beyond the credits or the end";
		}
	} else if (rv == WR_OK) {
		tm_fetch_status(f, &r, later);
	}
	if (rv != WR_OK) {
		f->state = TM_FETCH_IDLE;
		tm_in_chan_fail(c, WR_EPROTO, why);
	}
	tm_in_chan_pump(c, later);
	return msg;
}

/* A fetch failed in nng (connection dropped, ...): ask again.
 * @locks sh->mu */
static void
tm_fetch_failed(tm_fetch *f, int rv, tm_later *later)
{
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
		f->state = TM_FETCH_IDLE;
		return;
	}
	f->c->in->sh->fetch_retries++;
	tm_fetch_sleep(f, later);
}

/* An abandoned slot finishes its request, then is free. Its reply is
 * dropped. @locks sh->mu; returns true to receive the reply */
static bool
tm_fetch_orphan(tm_fetch *f, int rv)
{
	if (f->state == TM_FETCH_SEND && rv == 0) {
		f->state = TM_FETCH_RECV;
		return true;
	}
	f->state = TM_FETCH_IDLE;
	pthread_cond_broadcast(&f->peer->sh->cv);
	return false;
}

static void
tm_fetch_cb(void *arg)
{
	tm_fetch *f = arg;
	tm_shuffle *sh = f->peer->sh;
	tm_later later = {.sh = sh};
	bool recv = false;
	int rv = nng_aio_result(f->aio);
	/* A reply, or a request nng gave back; else NULL. */
	nng_msg *msg = nng_aio_get_msg(f->aio);
	nng_aio_set_msg(f->aio, NULL);
	pthread_mutex_lock(&sh->mu);
	if (f->c == NULL) {
		recv = tm_fetch_orphan(f, rv);
	} else if (f->state == TM_FETCH_SEND && rv == 0) {
		f->state = TM_FETCH_RECV;
		recv = true;
	} else if (f->state == TM_FETCH_RECV && rv == 0) {
		msg = tm_fetch_reply(f, msg, &later);
	} else if (f->state == TM_FETCH_SLEEP && rv == 0) {
		tm_fetch_send(f, &later);
	} else {
		tm_fetch_failed(f, rv, &later);
	}
	pthread_mutex_unlock(&sh->mu);
	nng_msg_free(msg);
	if (recv)
		nng_ctx_recv(f->ctx, f->aio);
	tm_later_run(&later);
}

/* ---- tests -------------------------------------------------------------- */

uint64_t
tm_shuffle_fetch_retries(tm_shuffle *sh)
{
	pthread_mutex_lock(&sh->mu);
	uint64_t n = sh->fetch_retries;
	pthread_mutex_unlock(&sh->mu);
	return n;
}
