/*
 * shuffle_net.c - the data plane over nng: the wire format, the data
 * server (rep socket, contexts created on demand, long-poll parking) and
 * the consumer's fetches (req contexts on a cached socket per producer
 * TaskManager).
 *
 * Wire format, all integers big-endian. Every frame starts with
 *   magic "WRSH" | version u8 | type u8 | reserved u16 (0)
 * FETCH (consumer -> producer), 68 bytes and the token:
 *   job_id [32] NUL-padded | attempt u32 | edge u16 | from u16 | to u16 |
 *   reserved u16 | seq u64 (the batch wanted) | ack u64 (every seq below
 *   was received; the producer frees them) | token [rest of the frame:
 *   the cluster token, none without one]
 * A producer with a token answers a fetch without it (or with another)
 * STATUS UNAUTHORIZED, logs it once per connection and counts it
 * (docs/security.md); the consumer fails its input with that text.
 * BATCH (reply): kind u8 | reserved [3] | nrecords u32 | len u32 |
 *   seq u64 | payload [len]
 * STATUS (reply): status u16 | reserved u16 | version u32 (the server's) |
 *   seq u64 (echo) | eos_seq u64 | text_len u16 | text
 * A frame of another version is answered STATUS BAD_VERSION in this same
 * layout, so both sides can say which versions met.
 *
 * nng 1.5.2 notes (see common/net/rpc.c): NNG_OPT_RECVMAXSZ counts the SP
 * header, so it gets TM_SF_SP_SLACK bytes of slack; a req socket with
 * NNG_OPT_REQ_RESENDTIME infinite fails a request whose connection drops
 * (NNG_ECONNRESET) instead of resending it, and we resend ourselves with
 * the same seq; nng_close can hang when a send larger than the socket
 * buffer is cut mid-write, so no message exceeds one batch plus header,
 * but for a record over a batch, which travels alone (up to
 * WR_SHUFFLE_MAX_RECORD_BYTES): rare, and closes wait for replies anyway.
 * nng may run our callbacks synchronously at the end of its own (req0
 * does), never inside nng_ctx_send/recv; we never hold sh->mu across an
 * nng call that could wait for a callback.
 */
#include "shuffle_int.h"

#include "err.h"
#include "log.h"
#include "mem.h"
#include "tls.h"
#include "wr_assert.h"

#include <arpa/inet.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(((tm_chan_key *)0)->job_id) == TM_SF_JOB_BYTES + 1,
               "job ids travel in 32 bytes");
_Static_assert(TM_SF_STATUS_HDR + TM_SF_TEXT_MAX <=
                   TM_SF_BATCH_HDR + TM_BATCH_BYTES,
               "a status reply fits the consumer's receive limit");
_Static_assert(TM_SF_FETCH_BYTES + TM_SF_SP_SLACK <= TM_SF_SERVER_RECV_MAX,
               "a fetch fits the server's receive limit");

static void
tm_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
tm_put32(uint8_t *p, uint32_t v)
{
	tm_put16(p, (uint16_t)(v >> 16));
	tm_put16(p + 2, (uint16_t)v);
}

static void
tm_put64(uint8_t *p, uint64_t v)
{
	tm_put32(p, (uint32_t)(v >> 32));
	tm_put32(p + 4, (uint32_t)v);
}

static uint16_t
tm_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
tm_get32(const uint8_t *p)
{
	return ((uint32_t)tm_get16(p) << 16) | tm_get16(p + 2);
}

static uint64_t
tm_get64(const uint8_t *p)
{
	return ((uint64_t)tm_get32(p) << 32) | tm_get32(p + 4);
}

static void
tm_sf_header(uint8_t *p, uint8_t type)
{
	memcpy(p, TM_SF_MAGIC, TM_SF_MAGIC_LEN);
	p[4] = TM_SHUFFLE_PROTO_VERSION;
	p[5] = type;
	tm_put16(p + 6, 0);
}

void
tm_sf_fetch_encode(uint8_t *p, const tm_chan_key *k, uint64_t seq, uint64_t ack)
{
	memset(p, 0, TM_SF_FETCH_BYTES);
	tm_sf_header(p, TM_SF_FETCH);
	memcpy(p + 8, k->job_id, strnlen(k->job_id, TM_SF_JOB_BYTES));
	tm_put32(p + 40, k->attempt);
	tm_put16(p + 44, k->edge);
	tm_put16(p + 46, k->from_subtask);
	tm_put16(p + 48, k->to_subtask);
	tm_put64(p + 52, seq);
	tm_put64(p + 60, ack);
}

/* A job id from the wire: printable, NUL-padded. */
static bool
tm_sf_job_decode(const uint8_t *p, char *out)
{
	size_t n = 0;
	while (n < TM_SF_JOB_BYTES && p[n] != 0) {
		if (p[n] <= ' ' || p[n] > '~')
			return false;
		n++;
	}
	for (size_t i = n; i < TM_SF_JOB_BYTES; i++)
		if (p[i] != 0)
			return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return n > 0;
}

/* Checks magic, version and type; 0 or the status to answer. */
static int
tm_sf_check_header(const uint8_t *p, size_t len, uint8_t type, const char **why)
{
	if (len < TM_SF_HDR) {
		*why = "frame shorter than the header";
		return TM_ST_BAD_REQUEST;
	}
	if (memcmp(p, TM_SF_MAGIC, TM_SF_MAGIC_LEN) != 0) {
		*why = "bad magic (not a weir shuffle frame)";
		return TM_ST_BAD_REQUEST;
	}
	if (p[4] != TM_SHUFFLE_PROTO_VERSION) {
		*why = "another shuffle protocol version";
		return TM_ST_BAD_VERSION;
	}
	if (p[5] != type || tm_get16(p + 6) != 0) {
		*why = "unexpected frame type";
		return TM_ST_BAD_REQUEST;
	}
	return 0;
}

int
tm_sf_fetch_decode(const uint8_t *p, size_t len, tm_chan_key *k, uint64_t *seq,
                   uint64_t *ack, const char **why)
{
	int st = tm_sf_check_header(p, len, TM_SF_FETCH, why);
	if (st != 0)
		return st;
	if (len < TM_SF_FETCH_BYTES ||
	    len - TM_SF_FETCH_BYTES > WR_AUTH_TOKEN_MAX_BYTES) {
		*why = "fetch of the wrong length";
		return TM_ST_BAD_REQUEST;
	}
	memset(k, 0, sizeof(*k));
	if (!tm_sf_job_decode(p + 8, k->job_id)) {
		*why = "bad job id";
		return TM_ST_BAD_REQUEST;
	}
	k->attempt = tm_get32(p + 40);
	k->edge = tm_get16(p + 44);
	k->from_subtask = tm_get16(p + 46);
	k->to_subtask = tm_get16(p + 48);
	*seq = tm_get64(p + 52);
	*ack = tm_get64(p + 60);
	if (tm_get16(p + 50) != 0) {
		*why = "reserved field set";
		return TM_ST_BAD_REQUEST;
	}
	return 0;
}

static void
tm_sf_append(nng_msg *msg, const void *p, size_t n)
{
	if (nng_msg_append(msg, p, n) != 0)
		wr_panic(__FILE__, __LINE__,
		         "out of memory for a shuffle frame");
}

/* Turns msg into a status reply. */
static void
tm_sf_status(nng_msg *msg, int status, uint64_t seq, uint64_t eos_seq,
             const char *text)
{
	uint8_t h[TM_SF_STATUS_HDR];
	size_t n = text != NULL ? strnlen(text, TM_SF_TEXT_MAX) : 0;
	tm_sf_header(h, TM_SF_STATUS);
	tm_put16(h + 8, (uint16_t)status);
	tm_put16(h + 10, 0);
	tm_put32(h + 12, TM_SHUFFLE_PROTO_VERSION);
	tm_put64(h + 16, seq);
	tm_put64(h + 24, eos_seq);
	tm_put16(h + 32, (uint16_t)n);
	nng_msg_clear(msg);
	tm_sf_append(msg, h, sizeof(h));
	if (n > 0)
		tm_sf_append(msg, text, n);
}

/* Turns msg into a batch reply carrying sb. */
static void
tm_sf_batch(nng_msg *msg, const tm_sbatch *sb)
{
	uint8_t h[TM_SF_BATCH_HDR];
	tm_sf_header(h, TM_SF_BATCH);
	h[8] = sb->b.kind;
	h[9] = h[10] = h[11] = 0;
	tm_put32(h + 12, sb->b.nrecords);
	tm_put32(h + 16, sb->b.len);
	tm_put64(h + 20, sb->seq);
	nng_msg_clear(msg);
	tm_sf_append(msg, h, sizeof(h));
	if (sb->b.len > 0)
		tm_sf_append(msg, sb->b.data, sb->b.len);
}

static int
tm_sf_status_decode(const uint8_t *p, size_t len, tm_sf_reply *r,
                    const char **why)
{
	if (len < TM_SF_STATUS_HDR) {
		*why = "truncated status";
		return WR_EPROTO;
	}
	r->status = tm_get16(p + 8);
	r->version = tm_get32(p + 12);
	r->seq = tm_get64(p + 16);
	r->eos_seq = tm_get64(p + 24);
	size_t n = tm_get16(p + 32);
	if (n > TM_SF_TEXT_MAX || len != TM_SF_STATUS_HDR + n ||
	    r->status < TM_ST_UNKNOWN || r->status > TM_ST_UNAUTHORIZED) {
		*why = "malformed status";
		return WR_EPROTO;
	}
	for (size_t i = 0; i < n; i++) /* printable only, for the log */
		r->text[i] = p[TM_SF_STATUS_HDR + i] >= ' ' &&
		                     p[TM_SF_STATUS_HDR + i] <= '~'
		                 ? (char)p[TM_SF_STATUS_HDR + i]
		                 : '?';
	r->text[n] = '\0';
	return WR_OK;
}

static int
tm_sf_batch_decode(const uint8_t *p, size_t len, tm_sf_reply *r,
                   const char **why)
{
	if (len < TM_SF_BATCH_HDR) {
		*why = "truncated batch";
		return WR_EPROTO;
	}
	r->kind = p[8];
	r->nrecords = tm_get32(p + 12);
	r->len = tm_get32(p + 16);
	r->seq = tm_get64(p + 20);
	if (p[9] != 0 || p[10] != 0 || p[11] != 0 || r->kind < TM_BATCH_DATA ||
	    r->kind > TM_BATCH_EOS ||
	    r->len > (r->kind == TM_BATCH_DATA && r->nrecords == 1
	                  ? TM_BATCH_MAX_BYTES
	                  : TM_BATCH_BYTES) ||
	    r->len != len - TM_SF_BATCH_HDR ||
	    (r->kind == TM_BATCH_DATA ? r->nrecords > r->len
	                              : r->nrecords != 0)) {
		*why = "malformed batch header";
		return WR_EPROTO;
	}
	return WR_OK;
}

int
tm_sf_reply_decode(const uint8_t *p, size_t len, tm_sf_reply *r,
                   const char **why)
{
	memset(r, 0, sizeof(*r));
	if (len < TM_SF_HDR || memcmp(p, TM_SF_MAGIC, TM_SF_MAGIC_LEN) != 0) {
		*why = "not a weir shuffle frame";
		return WR_EPROTO;
	}
	r->type = p[5];
	if (p[4] != TM_SHUFFLE_PROTO_VERSION) {
		*why = "producer speaks another shuffle protocol version";
		return WR_EPROTO;
	}
	if (tm_get16(p + 6) != 0) {
		*why = "reserved field set";
		return WR_EPROTO;
	}
	if (r->type == TM_SF_STATUS)
		return tm_sf_status_decode(p, len, r, why);
	if (r->type == TM_SF_BATCH)
		return tm_sf_batch_decode(p, len, r, why);
	*why = "unexpected frame type";
	return WR_EPROTO;
}

/* Formats the remote address of pipe id for log lines. @locks none */
static void
tm_sf_peer(uint32_t pipe_id, char *out, size_t len)
{
	nng_sockaddr sa;
	char ip[INET6_ADDRSTRLEN];
	nng_pipe p = NNG_PIPE_INITIALIZER;
	p.id = pipe_id;
	snprintf(out, len, "unknown peer");
	if (pipe_id == 0 || nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return;
	if (sa.s_family == NNG_AF_INET &&
	    inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip)) != NULL)
		snprintf(out, len, "%s:%u", ip,
		         (unsigned)ntohs(sa.s_in.sa_port));
	else if (sa.s_family == NNG_AF_INET6 &&
	         inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip)) != NULL)
		snprintf(out, len, "[%s]:%u", ip,
		         (unsigned)ntohs(sa.s_in6.sa_port));
}

int
tm_err_from_nng(int rv)
{
	return rv == NNG_ENOTSUP ? WR_EINVAL : wr_err_from_nng(rv);
}

/* ---- deferred nng work -------------------------------------------------- */

static void tm_srv_spawn(tm_shuffle *sh, int n);

void
tm_later_run(tm_later *l)
{
	tm_srv_ctx *sc, *snext;
	tm_fetch *f, *fnext;
	/* Read the link before starting the operation: its callback may
	 * run at once and reuse the object. */
	for (sc = l->replies; sc != NULL; sc = snext) {
		snext = sc->later_next;
		nng_ctx_send(sc->ctx, sc->aio);
	}
	for (sc = l->recvs; sc != NULL; sc = snext) {
		snext = sc->later_next;
		nng_ctx_recv(sc->ctx, sc->aio);
	}
	for (f = l->fetches; f != NULL; f = fnext) {
		fnext = f->later_next;
		if (f->state == TM_FETCH_SLEEP)
			nng_sleep_aio(f->backoff_ms, f->aio);
		else
			nng_ctx_send(f->ctx, f->aio);
	}
	if (l->spawn > 0)
		tm_srv_spawn(l->sh, l->spawn);
	l->replies = l->recvs = NULL;
	l->fetches = NULL;
	l->spawn = 0;
}

/* ---- server: live pipes ------------------------------------------------- */

/* @locks sh->mu */
static bool
tm_pipe_live(tm_shuffle *sh, uint32_t id)
{
	for (tm_pipe_ent *e = sh->pipes[id % TM_PIPE_BUCKETS]; e; e = e->next)
		if (e->id == id)
			return true;
	return false;
}

/* @locks sh->mu */
static void
tm_pipe_remove(tm_shuffle *sh, uint32_t id)
{
	tm_pipe_ent **pp = &sh->pipes[id % TM_PIPE_BUCKETS];
	while (*pp != NULL && (*pp)->id != id)
		pp = &(*pp)->next;
	if (*pp != NULL) {
		tm_pipe_ent *e = *pp;
		*pp = e->next;
		free(e);
	}
}

/* ---- server: answering -------------------------------------------------- */

/* Sends sc's msg (already a reply) after unlocking. @locks sh->mu */
static void
tm_srv_answer(tm_srv_ctx *sc, tm_later *later)
{
	sc->state = TM_SRV_SEND;
	nng_aio_set_msg(sc->aio, sc->msg);
	sc->msg = NULL;
	sc->later_next = later->replies;
	later->replies = sc;
}

/* @locks sh->mu */
static void
tm_srv_answer_status(tm_srv_ctx *sc, int status, uint64_t eos_seq,
                     const char *text, tm_later *later)
{
	tm_sf_status(sc->msg, status, sc->seq, eos_seq, text);
	tm_srv_answer(sc, later);
}

/* @locks sh->mu */
static void
tm_srv_unpark(tm_srv_ctx *sc)
{
	tm_shuffle *sh = sc->sh;
	tm_srv_ctx **head = sc->chan != NULL ? &sc->chan->parked : &sh->unknown;
	if (sc->prev != NULL)
		sc->prev->next = sc->next;
	else
		*head = sc->next;
	if (sc->next != NULL)
		sc->next->prev = sc->prev;
	if (sc->chan == NULL)
		sh->nunknown--;
	sc->prev = sc->next = NULL;
	sc->chan = NULL;
}

/* Whether one more fetch may park: creates contexts so that spares keep
 * receiving, up to what registered channels can need, and never parks the
 * last receiver. @locks sh->mu */
static bool
tm_srv_can_park(tm_shuffle *sh, tm_later *later)
{
	int64_t need = 2 * WR_SHUFFLE_SERVER_CTX_SPARE +
	               WR_SHUFFLE_UNKNOWN_PARKS_MAX +
	               (int64_t)sh->nout_chans * TM_SHUFFLE_CREDITS;
	int allowed = need < WR_SHUFFLE_SERVER_CTX_MAX
	                  ? (int)need
	                  : WR_SHUFFLE_SERVER_CTX_MAX;
	while (sh->nrecv + sh->nspawn < WR_SHUFFLE_SERVER_CTX_SPARE &&
	       sh->nctx + sh->nspawn < allowed && !sh->closing) {
		sh->nspawn++;
		later->spawn++;
	}
	return sh->nrecv > 0 || sh->nspawn > 0;
}

/* Parks sc on c (or on the unknown list if c is NULL), or answers it when
 * it cannot wait. @locks sh->mu */
static void
tm_srv_park(tm_srv_ctx *sc, tm_out_chan *c, tm_later *later)
{
	tm_shuffle *sh = sc->sh;
	if (!tm_pipe_live(sh, sc->pipe)) {
		/* Its connection is gone: the answer goes nowhere, but it
		 * returns the context to receiving. */
		tm_srv_answer_status(sc, TM_ST_CLOSED, 0, "gone", later);
		return;
	}
	if (c == NULL && sh->nunknown >= WR_SHUFFLE_UNKNOWN_PARKS_MAX) {
		sh->unknown_replies++;
		tm_srv_answer_status(sc, TM_ST_UNKNOWN, 0, "no such channel",
		                     later);
		return;
	}
	if (!tm_srv_can_park(sh, later)) {
		tm_srv_answer_status(sc, TM_ST_BUSY, 0, "no context free",
		                     later);
		return;
	}
	tm_srv_ctx **head = c != NULL ? &c->parked : &sh->unknown;
	sc->state = TM_SRV_PARKED;
	sc->chan = c;
	sc->prev = NULL;
	sc->next = *head;
	if (*head != NULL)
		(*head)->prev = sc;
	*head = sc;
	if (c == NULL)
		sh->nunknown++;
	sc->deadline_ms =
	    tm_now_ms() + (c == NULL ? sh->unknown_park_ms : sh->poll_ms);
}

/* @locks sh->mu */
static void
tm_srv_send_batch(tm_out_chan *c, tm_srv_ctx *sc, tm_later *later)
{
	tm_sbatch *sb = c->ring[sc->seq % TM_OUT_RING];
	WR_ASSERT(sb != NULL && sb->seq == sc->seq);
	tm_sf_batch(sc->msg, sb);
	if (c->sent_hi < sc->seq + 1) {
		c->sent_hi = sc->seq + 1;
		tm_out_chan_progress(c);
	}
	tm_srv_answer(sc, later);
}

static void
tm_srv_refuse(tm_srv_ctx *sc, int status, const char *why, tm_later *later)
{
	sc->sh->bad_frames++;
	wr_log(WR_LOG_WARN, "TM-SHUFFLE-BAD-FETCH",
	       "job=%s edge=%u from=%u to=%u seq=%llu ack=%llu: %s",
	       sc->key.job_id, sc->key.edge, sc->key.from_subtask,
	       sc->key.to_subtask, (unsigned long long)sc->seq,
	       (unsigned long long)sc->ack, why);
	tm_srv_answer_status(sc, status, 0, why, later);
}

/* Serves fetch sc on registered channel c. @locks sh->mu */
static void
tm_srv_fetch(tm_out_chan *c, tm_srv_ctx *sc, tm_later *later)
{
	if (c->mode == TM_MODE_LOCAL) {
		tm_srv_refuse(sc, TM_ST_CONFLICT, "channel consumed locally",
		              later);
		return;
	}
	if (sc->ack > sc->seq || sc->seq - sc->ack >= TM_SHUFFLE_CREDITS) {
		tm_srv_refuse(sc, TM_ST_BAD_REQUEST, "seq beyond the credits",
		              later);
		return;
	}
	if (sc->ack > c->next_seq) {
		tm_srv_refuse(sc, TM_ST_BAD_REQUEST, "acknowledges unsent seqs",
		              later);
		return;
	}
	c->mode = TM_MODE_REMOTE;
	tm_out_chan_ack(c, sc->ack);
	if (sc->seq < c->base)
		tm_srv_refuse(sc, TM_ST_GONE, "seq already acknowledged",
		              later);
	else if (c->eos && sc->seq > c->eos_seq)
		tm_srv_answer_status(sc, TM_ST_ENDED, c->eos_seq, NULL, later);
	else if (sc->seq < c->next_seq)
		tm_srv_send_batch(c, sc, later);
	else
		tm_srv_park(sc, c, later);
}

void
tm_srv_on_push(tm_out_chan *c, tm_later *later)
{
	uint64_t seq = c->next_seq - 1;
	tm_srv_ctx *sc = c->parked, *next;
	for (; sc != NULL; sc = next) {
		next = sc->next;
		if (sc->seq == seq) {
			tm_srv_unpark(sc);
			tm_srv_send_batch(c, sc, later);
		} else if (c->eos && sc->seq > c->eos_seq) {
			tm_srv_unpark(sc);
			tm_srv_answer_status(sc, TM_ST_ENDED, c->eos_seq, NULL,
			                     later);
		}
	}
}

void
tm_srv_on_register(tm_output *o, tm_later *later)
{
	tm_shuffle *sh = o->sh;
	tm_srv_ctx *sc = sh->unknown, *next;
	for (; sc != NULL; sc = next) {
		next = sc->next;
		if (!(sc->key.attempt == o->key.attempt &&
		      sc->key.edge == o->key.edge &&
		      sc->key.from_subtask == o->key.from_subtask &&
		      strcmp(sc->key.job_id, o->key.job_id) == 0))
			continue;
		tm_srv_unpark(sc);
		if (sc->key.to_subtask < o->nchannels) {
			tm_srv_fetch(&o->chans[sc->key.to_subtask], sc, later);
		} else {
			sh->unknown_replies++;
			tm_srv_answer_status(sc, TM_ST_UNKNOWN, 0,
			                     "no such channel", later);
		}
	}
}

void
tm_srv_on_unregister(tm_out_chan *c, tm_later *later)
{
	while (c->parked != NULL) {
		tm_srv_ctx *sc = c->parked;
		tm_srv_unpark(sc);
		tm_srv_answer_status(sc, TM_ST_CLOSED, 0, "output closed",
		                     later);
	}
}

/* Routes a decoded fetch. @locks sh->mu */
static void
tm_srv_dispatch(tm_srv_ctx *sc, tm_later *later)
{
	tm_out_chan *c = tm_reg_find(sc->sh, &sc->key);
	if (c != NULL)
		tm_srv_fetch(c, sc, later);
	else
		tm_srv_park(sc, NULL, later);
}

/* ---- server: contexts --------------------------------------------------- */

static void tm_srv_cb(void *arg);

/* Opens a context; receiving starts later. @locks none */
static int
tm_srv_ctx_new(tm_shuffle *sh, tm_srv_ctx **out)
{
	tm_srv_ctx *sc = wr_xcalloc(1, sizeof(*sc));
	sc->sh = sh;
	int rv = nng_aio_alloc(&sc->aio, tm_srv_cb, sc);
	if (rv == 0 && (rv = nng_ctx_open(&sc->ctx, sh->sock)) != 0)
		nng_aio_free(sc->aio);
	if (rv != 0) {
		free(sc);
		return tm_err_from_nng(rv);
	}
	nng_aio_set_timeout(sc->aio, TM_SHUFFLE_REPLY_SEND_TIMEOUT_MS);
	*out = sc;
	return WR_OK;
}

/* @locks none; no operation runs on sc */
static void
tm_srv_ctx_free(tm_srv_ctx *sc)
{
	nng_ctx_close(sc->ctx);
	nng_msg_free(nng_aio_get_msg(sc->aio));
	nng_aio_free(sc->aio);
	nng_msg_free(sc->msg);
	free(sc);
}

/* Adds n receiving contexts (counted in sh->nspawn by the caller).
 * @locks none */
static void
tm_srv_spawn(tm_shuffle *sh, int n)
{
	for (int i = 0; i < n; i++) {
		tm_srv_ctx *sc = NULL;
		int rv = tm_srv_ctx_new(sh, &sc);
		pthread_mutex_lock(&sh->mu);
		sh->nspawn--;
		if (rv == WR_OK && !sh->closing &&
		    sh->nctx < WR_SHUFFLE_SERVER_CTX_MAX) {
			sh->ctxs[sh->nctx++] = sc;
			sc->state = TM_SRV_RECV;
			sh->nrecv++;
		} else if (rv == WR_OK) {
			rv = WR_ECLOSED;
		}
		pthread_mutex_unlock(&sh->mu);
		if (rv == WR_OK) {
			nng_ctx_recv(sc->ctx, sc->aio);
		} else if (sc != NULL) {
			tm_srv_ctx_free(sc);
		} else {
			wr_log(WR_LOG_WARN, "TM-SHUFFLE-CONTEXT",
			       "cannot open a server context: %s",
			       wr_strerror(rv));
		}
	}
}

/* Decodes the fetch in msg outside the lock; 0 or a status to answer. */
static int
tm_srv_decode(tm_srv_ctx *sc, nng_msg *msg, uint32_t pipe, tm_chan_key *key,
              uint64_t *seq, uint64_t *ack, const char **why)
{
	const uint8_t *body = nng_msg_body(msg);
	size_t len = nng_msg_len(msg);
	int st = tm_sf_fetch_decode(body, len, key, seq, ack, why);
	if (st == 0 && !wr_auth_check(sc->sh->token, body + TM_SF_FETCH_BYTES,
	                              len - TM_SF_FETCH_BYTES)) {
		*why = "authentication failed: no or the wrong cluster token "
		       "(security.token_file)";
		wr_auth_count(WR_AUTH_DATA);
		if (wr_auth_gate_first(&sc->sh->gate, pipe)) {
			char peer[64];
			tm_sf_peer(pipe, peer, sizeof(peer));
			wr_log(WR_LOG_WARN, "AUTH-REFUSED",
			       "data port %d: refused a shuffle fetch from "
			       "%s: %s cluster token (logged once per "
			       "connection; weir_auth_failures_total counts "
			       "each)",
			       sc->sh->port, peer,
			       len == TM_SF_FETCH_BYTES ? "no" : "wrong");
		}
		return TM_ST_UNAUTHORIZED;
	}
	if (st != 0) {
		char peer[64];
		tm_sf_peer(pipe, peer, sizeof(peer));
		wr_log(WR_LOG_WARN, "TM-SHUFFLE-BAD-FRAME",
		       "data port %d: %zu bytes from %s: %s", sc->sh->port,
		       nng_msg_len(msg), peer, *why);
	}
	return st;
}

/* A request arrived on sc. @locks sh->mu */
static void
tm_srv_request(tm_srv_ctx *sc, nng_msg *msg, int st, const char *why,
               tm_later *later)
{
	sc->msg = msg;
	sc->sh->last_request_ms = tm_now_ms();
	if (sc->sh->closing) {
		tm_srv_answer_status(sc, TM_ST_SHUTDOWN, 0, "shutting down",
		                     later);
	} else if (st == TM_ST_UNAUTHORIZED) {
		/* a well-formed fetch: its seq is echoed, so the consumer
		 * reads the refusal rather than a reply for another seq */
		tm_srv_answer_status(sc, st, 0, why, later);
	} else if (st != 0) {
		sc->sh->bad_frames++;
		sc->seq = 0;
		tm_srv_answer_status(sc, st, 0, why, later);
	} else {
		tm_srv_dispatch(sc, later);
	}
}

/* Back to receiving (a stopped aio does not start). @locks sh->mu */
static void
tm_srv_rearm(tm_srv_ctx *sc, tm_later *later)
{
	sc->state = TM_SRV_RECV;
	sc->sh->nrecv++;
	sc->later_next = later->recvs;
	later->recvs = sc;
}

static void
tm_srv_cb(void *arg)
{
	tm_srv_ctx *sc = arg;
	tm_shuffle *sh = sc->sh;
	tm_later later = {.sh = sh};
	int rv = nng_aio_result(sc->aio);
	nng_msg *msg = nng_aio_get_msg(sc->aio);
	nng_aio_set_msg(sc->aio, NULL);
	tm_chan_key key;
	uint64_t seq = 0, ack = 0;
	const char *why = NULL;
	int st = 0;
	uint32_t pipe = 0;
	memset(&key, 0, sizeof(key));
	/* Only this context's callback changes it out of RECV/SEND. */
	bool receiving = sc->state == TM_SRV_RECV;
	if (receiving && rv == 0) {
		pipe = (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg));
		st = tm_srv_decode(sc, msg, pipe, &key, &seq, &ack, &why);
	}
	pthread_mutex_lock(&sh->mu);
	if (receiving)
		sh->nrecv--;
	if (receiving && rv == 0) {
		sc->pipe = pipe;
		sc->key = key;
		sc->seq = seq;
		sc->ack = ack;
		tm_srv_request(sc, msg, st, why, &later);
		msg = NULL;
	} else if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
		sc->state = TM_SRV_IDLE; /* shutting down */
	} else {
		/* A send that failed or timed out keeps its batch on the
		 * producer until acknowledged; a failed receive retries. */
		tm_srv_rearm(sc, &later);
	}
	pthread_mutex_unlock(&sh->mu);
	nng_msg_free(msg);
	tm_later_run(&later);
}

/* ---- server: timer and pipes -------------------------------------------- */

static int
tm_srv_timer_period(const tm_shuffle *sh)
{
	int park = sh->unknown_park_ms < sh->poll_ms ? sh->unknown_park_ms
	                                             : sh->poll_ms;
	int ms = park / 4;
	return ms < 10 ? 10 : ms > 1000 ? 1000 : ms;
}

/* Answers fetches whose park ran out: "again" on a known channel (the
 * consumer asks again at once), "unknown" on an unknown one. */
static void
tm_srv_timer_cb(void *arg)
{
	tm_shuffle *sh = arg;
	tm_later later = {.sh = sh};
	if (nng_aio_result(sh->timer) != 0)
		return; /* stopped */
	pthread_mutex_lock(&sh->mu);
	int64_t now = tm_now_ms();
	int period = tm_srv_timer_period(sh);
	for (int i = 0; i < sh->nctx; i++) {
		tm_srv_ctx *sc = sh->ctxs[i];
		if (sc->state != TM_SRV_PARKED || sc->deadline_ms > now)
			continue;
		bool known = sc->chan != NULL;
		tm_srv_unpark(sc);
		if (!known)
			sh->unknown_replies++;
		tm_srv_answer_status(sc, known ? TM_ST_AGAIN : TM_ST_UNKNOWN, 0,
		                     known ? NULL : "no such channel", &later);
	}
	pthread_mutex_unlock(&sh->mu);
	tm_later_run(&later);
	nng_sleep_aio(period, sh->timer); /* does not start after a stop */
}

/* Tracks live connections; fetches parked from a closed one are
 * released (their answers go nowhere). */
static void
tm_srv_pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	tm_shuffle *sh = arg;
	tm_later later = {.sh = sh};
	uint32_t id = (uint32_t)nng_pipe_id(pipe);
	pthread_mutex_lock(&sh->mu);
	if (ev == NNG_PIPE_EV_ADD_PRE) {
		tm_pipe_ent *e = wr_xmalloc(sizeof(*e));
		e->id = id;
		e->next = sh->pipes[id % TM_PIPE_BUCKETS];
		sh->pipes[id % TM_PIPE_BUCKETS] = e;
	} else {
		tm_pipe_remove(sh, id);
		for (int i = 0; i < sh->nctx; i++) {
			tm_srv_ctx *sc = sh->ctxs[i];
			if (sc->state != TM_SRV_PARKED || sc->pipe != id)
				continue;
			tm_srv_unpark(sc);
			tm_srv_answer_status(sc, TM_ST_CLOSED, 0, "gone",
			                     &later);
		}
	}
	pthread_mutex_unlock(&sh->mu);
	tm_later_run(&later);
}

static int
tm_srv_listen(tm_shuffle *sh, const char *addr)
{
	char url[WR_ADDR_BYTES + 8];
	if (wr_tls_url(addr, url, sizeof(url)) != WR_OK)
		return NNG_EINVAL;
	int rv = nng_listener_create(&sh->lst, sh->sock, url);
	if (rv != 0)
		return rv;
	if ((rv = wr_tls_listener_setup(sh->lst, url)) != 0 ||
	    (rv = nng_listener_set_size(sh->lst, NNG_OPT_RECVMAXSZ,
	                                TM_SF_SERVER_RECV_MAX)) != 0 ||
	    (rv = nng_listener_start(sh->lst, 0)) != 0)
		return rv;
	if (nng_listener_get_int(sh->lst, NNG_OPT_TCP_BOUND_PORT, &sh->port) !=
	    0)
		sh->port = 0;
	return 0;
}

int
tm_srv_start(tm_shuffle *sh, const char *url)
{
	int rv = nng_rep0_open(&sh->sock);
	if (rv != 0)
		return tm_err_from_nng(rv);
	sh->sock_open = true;
	if ((rv = nng_socket_set_size(sh->sock, NNG_OPT_RECVMAXSZ,
	                              TM_SF_SERVER_RECV_MAX)) != 0 ||
	    (rv = nng_pipe_notify(sh->sock, NNG_PIPE_EV_ADD_PRE, tm_srv_pipe_cb,
	                          sh)) != 0 ||
	    (rv = nng_pipe_notify(sh->sock, NNG_PIPE_EV_REM_POST,
	                          tm_srv_pipe_cb, sh)) != 0 ||
	    (rv = nng_aio_alloc(&sh->timer, tm_srv_timer_cb, sh)) != 0)
		return tm_err_from_nng(rv);
	pthread_mutex_lock(&sh->mu);
	sh->nspawn += WR_SHUFFLE_SERVER_CTX_SPARE;
	pthread_mutex_unlock(&sh->mu);
	/* Contexts wait for requests before anyone can connect. */
	tm_srv_spawn(sh, WR_SHUFFLE_SERVER_CTX_SPARE);
	pthread_mutex_lock(&sh->mu);
	int nctx = sh->nctx;
	int period = tm_srv_timer_period(sh);
	pthread_mutex_unlock(&sh->mu);
	if (nctx == 0)
		return WR_ENOMEM;
	nng_sleep_aio(period, sh->timer);
	if ((rv = tm_srv_listen(sh, url)) != 0)
		return tm_err_from_nng(rv);
	return WR_OK;
}

/*
 * Tells every waiting and arriving consumer to back off, then waits until
 * no fetch arrived for TM_SHUFFLE_QUIET_MS: nng 1.5.2 can hang forever
 * closing a pipe while it receives a message (see tm_peer_close), so the
 * socket is closed when nothing is arriving. Consumers that heard
 * "shutdown" stay away for TM_FETCH_BACKOFF_MAX_MS. @locks none
 */
static void
tm_srv_quiesce(tm_shuffle *sh)
{
	tm_later later = {.sh = sh};
	pthread_mutex_lock(&sh->mu);
	sh->closing = true; /* no context is added from now on */
	for (int i = 0; i < sh->nctx; i++) {
		tm_srv_ctx *sc = sh->ctxs[i];
		if (sc->state != TM_SRV_PARKED)
			continue;
		tm_srv_unpark(sc);
		tm_srv_answer_status(sc, TM_ST_SHUTDOWN, 0, "shutting down",
		                     &later);
	}
	pthread_mutex_unlock(&sh->mu);
	tm_later_run(&later);
	int64_t deadline = tm_now_ms() + TM_SHUFFLE_QUIET_MAX_MS;
	pthread_mutex_lock(&sh->mu);
	for (;;) {
		int64_t now = tm_now_ms();
		if (now - sh->last_request_ms >= TM_SHUFFLE_QUIET_MS ||
		    now >= deadline)
			break;
		int64_t wake = sh->last_request_ms + TM_SHUFFLE_QUIET_MS;
		struct timespec ts = {.tv_sec = wake / 1000,
		                      .tv_nsec = (wake % 1000) * 1000000};
		pthread_cond_timedwait(&sh->cv, &sh->mu, &ts);
	}
	pthread_mutex_unlock(&sh->mu);
}

void
tm_srv_stop(tm_shuffle *sh)
{
	if (sh->sock_open)
		tm_srv_quiesce(sh);
	pthread_mutex_lock(&sh->mu);
	sh->closing = true;
	int n = sh->nctx; /* no context is added once closing */
	pthread_mutex_unlock(&sh->mu);
	/* Waits for running callbacks; later operations on these aios do
	 * not start, so no callback touches sh afterwards. */
	nng_aio_stop(sh->timer);
	for (int i = 0; i < n; i++)
		nng_aio_stop(sh->ctxs[i]->aio);
	/* Closes the listener and every pipe; pipe callbacks have returned
	 * when this does. */
	if (sh->sock_open)
		nng_close(sh->sock);
	sh->sock_open = false;
	for (int i = 0; i < n; i++)
		tm_srv_ctx_free(sh->ctxs[i]);
	sh->nctx = 0;
	nng_aio_free(sh->timer);
	sh->timer = NULL;
	for (int b = 0; b < TM_PIPE_BUCKETS; b++)
		while (sh->pipes[b] != NULL)
			tm_pipe_remove(sh, sh->pipes[b]->id);
}

/* ---- tests -------------------------------------------------------------- */

uint64_t
tm_shuffle_bad_frames(tm_shuffle *sh)
{
	pthread_mutex_lock(&sh->mu);
	uint64_t n = sh->bad_frames;
	pthread_mutex_unlock(&sh->mu);
	return n;
}

uint64_t
tm_shuffle_unknown_replies(tm_shuffle *sh)
{
	pthread_mutex_lock(&sh->mu);
	uint64_t n = sh->unknown_replies;
	pthread_mutex_unlock(&sh->mu);
	return n;
}

int
tm_shuffle_server_contexts(tm_shuffle *sh)
{
	pthread_mutex_lock(&sh->mu);
	int n = sh->nctx;
	pthread_mutex_unlock(&sh->mu);
	return n;
}

uint64_t
tm_shuffle_parked_unknown(tm_shuffle *sh)
{
	pthread_mutex_lock(&sh->mu);
	uint64_t n = (uint64_t)sh->nunknown;
	pthread_mutex_unlock(&sh->mu);
	return n;
}
