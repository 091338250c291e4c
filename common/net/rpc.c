/*
 * rpc.c - request/reply over nng rep0/req0 with "WEIR" frames.
 *
 * Server: each of WR_RPC_SERVER_CONTEXTS nng contexts owns one receive aio
 * and one send aio. A context receives one request, hands it to the owning
 * thread through a bounded queue, and receives again only once that request
 * has been answered; so at most WR_RPC_SERVER_CONTEXTS requests are ever
 * queued and the queue cannot overflow (wr_limits.h asserts the depths). Bad
 * frames are answered by the context itself, on nng's thread.
 *
 * Client: one req0 socket; every call opens its own context, so threads may
 * share a client. Resends are off: a request may not be idempotent (submit a
 * job), so a lost connection fails the call instead of repeating it.
 *
 * nng 1.5.2 (Debian 12) can hang forever closing a pipe whose send of a
 * message larger than the socket buffer is between two partial writes: its
 * reaper thread, and then nng_close(), wait for an aio nobody finishes
 * (fixed upstream in 1.9.0, commit aac4dc36). Control messages of a few KiB
 * never hit it; multi-MiB frames can, if the peer drops the connection
 * while one is in flight.
 */
#include "rpc.h"

#include "addr.h"
#include "auth.h"
#include "buf.h"
#include "clock.h"
#include "err.h"
#include "wr_limits.h"
#include "log.h"
#include "mem.h"
#include "tls.h"
#include "metrics.h"
#include "wr_assert.h"

#include "weir.pb-c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct wr_rpc_srv_ctx wr_rpc_srv_ctx;

struct wr_rpc_req {
	wr_rpc_srv_ctx *sc;
	wr_msg *msg;
	uint32_t pipe; /* the connection it came on (nng pipe id) */
};

struct wr_rpc_srv_ctx {
	wr_rpc_server *srv;
	nng_ctx ctx;
	bool ctx_open;
	nng_aio *recv_aio;
	nng_aio *send_aio;
	/* The one request this context may hold (see the file comment). */
	wr_rpc_req req;
};

struct wr_rpc_server {
	nng_socket sock;
	bool sock_open;
	nng_listener lst;
	char *name;
	int port;
	_Atomic uint64_t bad_frames;
	/* The token every request must carry ("" = none): the process's,
	 * copied before the listener starts. */
	char token[WR_AUTH_TOKEN_MAX_BYTES + 1];
	wr_auth_gate gate; /* one AUTH-REFUSED line per connection */
	/* one RPC-BAD-FRAME and one RPC-VERSION-MISMATCH line per
	 * connection: each says something different */
	wr_auth_gate bad_gate, version_gate;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* @locks mu: the queue and closed. */
	wr_rpc_req *queue[WR_RPC_QUEUE_DEPTH];
	size_t q_head;
	size_t q_len;
	bool closed;
	bool woken; /* wr_rpc_server_wake: the next wait returns at once */

	wr_rpc_srv_ctx ctxs[WR_RPC_SERVER_CONTEXTS];
	/* wr_rpc_server_on_close */
	void (*on_close)(void *arg, uint32_t pipe);
	void *on_close_arg;
};

struct wr_rpc_client {
	nng_socket sock;
	char token[WR_AUTH_TOKEN_MAX_BYTES + 1]; /* sent with every call */
};

static void wr_rpc_errf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
wr_rpc_errf(char *errbuf, size_t errlen, const char *fmt, ...)
{
	if (errbuf == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

/* nng codes our enum does not name but callers test for. */
static int
wr_rpc_err_from_nng(int nng_rv)
{
	switch (nng_rv) {
	case NNG_EADDRINUSE:
		return wr_err_from_errno(EADDRINUSE);
	case NNG_ENOTSUP: /* unknown URL scheme */
		return WR_EINVAL;
	default:
		return wr_err_from_nng(nng_rv);
	}
}

/* Formats the remote address of the pipe msg came from, for log lines. */
static void
wr_rpc_peer(nng_msg *msg, char *out, size_t len)
{
	nng_sockaddr sa;
	char ip[INET6_ADDRSTRLEN];
	snprintf(out, len, "unknown peer");
	nng_pipe p = nng_msg_get_pipe(msg);
	if (nng_pipe_id(p) <= 0 ||
	    nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return;
	switch (sa.s_family) {
	case NNG_AF_INET:
		if (inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip)))
			snprintf(out, len, "%s:%u", ip,
			         (unsigned)ntohs(sa.s_in.sa_port));
		break;
	case NNG_AF_INET6:
		if (inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip)))
			snprintf(out, len, "[%s]:%u", ip,
			         (unsigned)ntohs(sa.s_in6.sa_port));
		break;
	case NNG_AF_IPC:
		snprintf(out, len, "ipc:%s", sa.s_ipc.sa_path);
		break;
	default:
		snprintf(out, len, "local peer");
		break;
	}
}

/* ---- server ------------------------------------------------------------ */

static void
wr_rpc_srv_recv(wr_rpc_srv_ctx *sc)
{
	nng_ctx_recv(sc->ctx, sc->recv_aio);
}

/*
 * Sends frame (a packed Envelope) on sc's context. msg, if not NULL, is the
 * request's nng message, reused for the reply. The send callback starts the
 * next receive whatever happens.
 */
static void
wr_rpc_srv_send(wr_rpc_srv_ctx *sc, const wr_buf *frame, nng_msg *msg)
{
	if (msg == NULL && nng_msg_alloc(&msg, 0) != 0)
		wr_panic(__FILE__, __LINE__, "out of memory for an RPC reply");
	nng_msg_clear(msg);
	if (nng_msg_append(msg, frame->data, frame->len) != 0)
		wr_panic(__FILE__, __LINE__, "out of memory for an RPC reply");
	nng_aio_set_msg(sc->send_aio, msg);
	nng_ctx_send(sc->ctx, sc->send_aio);
}

/* Answers the request on sc with an Error envelope {code, text}. */
static void
wr_rpc_srv_send_error(wr_rpc_srv_ctx *sc, nng_msg *msg, int code,
                      const char *text)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__Error err = WEIR__ERROR__INIT;
	err.code = code;
	err.message = (char *)text;
	env.body_case = WEIR__ENVELOPE__BODY_ERROR;
	env.error = &err;
	wr_buf frame;
	wr_buf_init(&frame);
	/* text is bounded by WR_RPC_ERRMSG_BYTES: this cannot be too big. */
	int rv = wr_frame_pack(&env, &frame);
	WR_ASSERT(rv == WR_OK);
	wr_rpc_srv_send(sc, &frame, msg);
	wr_buf_fini(&frame);
}

static void
wr_rpc_srv_send_cb(void *arg)
{
	wr_rpc_srv_ctx *sc = arg;
	if (nng_aio_result(sc->send_aio) != 0) {
		/* On failure the message is still ours. The peer has gone or
		 * stopped reading: nothing more to do for it. */
		nng_msg *msg = nng_aio_get_msg(sc->send_aio);
		nng_aio_set_msg(sc->send_aio, NULL);
		nng_msg_free(msg);
	}
	/* After nng_aio_stop() this receive does not start. */
	wr_rpc_srv_recv(sc);
}

static const char *
wr_rpc_frame_reason(const void *data, size_t len, int rv)
{
	if (rv == WR_ETOOBIG)
		return "frame exceeds the size or unpack limit";
	if (rv == WR_ENOMEM)
		return "out of memory unpacking the frame";
	if (len < WR_FRAME_MAGIC_LEN)
		return "frame shorter than the WEIR magic";
	if (memcmp(data, WR_FRAME_MAGIC, WR_FRAME_MAGIC_LEN) != 0)
		return "bad magic (not a weir frame)";
	return "not a valid Envelope or no body";
}

/* Queues sc's request for the owning thread. @thread nng callback. */
static void
wr_rpc_srv_enqueue(wr_rpc_srv_ctx *sc, wr_msg *m)
{
	wr_rpc_server *srv = sc->srv;
	pthread_mutex_lock(&srv->mu);
	if (srv->closed) {
		pthread_mutex_unlock(&srv->mu);
		wr_msg_free(m);
		return;
	}
	/* Each context holds at most one request: the queue has room. */
	WR_ASSERT(srv->q_len < WR_RPC_QUEUE_DEPTH);
	sc->req.msg = m;
	srv->queue[(srv->q_head + srv->q_len) % WR_RPC_QUEUE_DEPTH] = &sc->req;
	srv->q_len++;
	pthread_cond_signal(&srv->cv);
	pthread_mutex_unlock(&srv->mu);
}

/* True when m carries srv's token; otherwise counts the refusal and logs
 * it once per connection (a retrying peer must not flood the log). */
static bool
wr_rpc_srv_authentic(wr_rpc_server *srv, nng_msg *msg, const wr_msg *m)
{
	const char *got = wr_msg_env(m)->token;
	size_t len = got != NULL ? strlen(got) : 0;
	if (wr_auth_check(srv->token, got, len))
		return true;
	wr_auth_count(WR_AUTH_RPC);
	uint32_t pipe = (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg));
	if (wr_auth_gate_first(&srv->gate, pipe)) {
		char peer[128];
		wr_rpc_peer(msg, peer, sizeof(peer));
		wr_log(WR_LOG_WARN, "AUTH-REFUSED",
		       "%s: refused %s from %s: %s cluster token (logged once "
		       "per connection; weir_auth_failures_total counts "
		       "each)",
		       srv->name, "an RPC request", peer,
		       len == 0 ? "no" : "wrong");
	}
	return false;
}

/* Every bad frame of this process, for weir_rpc_bad_frames_total. */
static _Atomic(wr_metric *) wr_rpc_bad_metric;

/* Counts one refused frame and logs it once per connection: a peer that
 * keeps sending garbage (a scanner, an unauthenticated client of another
 * version) must not flood the log. */
static void
wr_rpc_srv_bad(wr_rpc_server *srv, nng_msg *msg, wr_auth_gate *gate,
               const char *event, const char *what)
{
	atomic_fetch_add(&srv->bad_frames, 1);
	wr_metric *m = atomic_load(&wr_rpc_bad_metric);
	if (m != NULL)
		wr_metric_inc(m);
	uint32_t pipe = (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg));
	if (!wr_auth_gate_first(gate, pipe))
		return;
	char peer[128];
	wr_rpc_peer(msg, peer, sizeof(peer));
	wr_log(WR_LOG_WARN, event,
	       "%s: %s from %s (logged once per connection; "
	       "weir_rpc_bad_frames_total counts each)",
	       srv->name, what, peer);
}

/*
 * Handles one received message. Anything but a valid frame of our version
 * is answered here and never reaches the owning thread.
 */
static void
wr_rpc_srv_handle(wr_rpc_srv_ctx *sc, nng_msg *msg)
{
	wr_rpc_server *srv = sc->srv;
	const void *body = nng_msg_body(msg);
	size_t len = nng_msg_len(msg);
	char what[WR_RPC_ERRMSG_BYTES + 64];
	char text[WR_RPC_ERRMSG_BYTES];
	wr_msg *m = NULL;

	int rv = wr_frame_unpack(body, len, &m);
	if (rv != WR_OK) {
		const char *why = wr_rpc_frame_reason(body, len, rv);
		snprintf(what, sizeof(what), "a bad frame of %zu bytes (%s)",
		         len, why);
		wr_rpc_srv_bad(srv, msg, &srv->bad_gate, "RPC-BAD-FRAME", what);
		snprintf(text, sizeof(text), "bad frame: %s", why);
		wr_rpc_srv_send_error(sc, msg, WR_EPROTO, text);
		return;
	}
	if (wr_frame_version_ok(m, srv->name, text, sizeof(text)) != WR_OK) {
		wr_msg_free(m);
		wr_rpc_srv_bad(srv, msg, &srv->version_gate,
		               "RPC-VERSION-MISMATCH", text);
		wr_rpc_srv_send_error(sc, msg, WR_EPROTO, text);
		return;
	}
	if (!wr_rpc_srv_authentic(srv, msg, m)) {
		wr_msg_free(m);
		wr_rpc_srv_send_error(
		    sc, msg, WR_EPERM,
		    "authentication failed: no or the wrong "
		    "cluster token (the CLI reads it from "
		    "--token-file or WEIR_TOKEN_FILE, daemons "
		    "from security.token_file)");
		return;
	}
	sc->req.pipe = (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg));
	nng_msg_free(msg);
	wr_rpc_srv_enqueue(sc, m);
}

static void
wr_rpc_srv_recv_cb(void *arg)
{
	wr_rpc_srv_ctx *sc = arg;
	int rv = nng_aio_result(sc->recv_aio);
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return; /* shutting down */
	if (rv != 0) {
		wr_log(WR_LOG_WARN, "RPC-RECV-ERROR", "%s: %s", sc->srv->name,
		       nng_strerror(rv));
		wr_rpc_srv_recv(sc);
		return;
	}
	nng_msg *msg = nng_aio_get_msg(sc->recv_aio);
	nng_aio_set_msg(sc->recv_aio, NULL);
	wr_rpc_srv_handle(sc, msg);
}

/* Opens the contexts and their aios; receiving starts later. */
static int
wr_rpc_srv_ctxs_open(wr_rpc_server *srv)
{
	for (int i = 0; i < WR_RPC_SERVER_CONTEXTS; i++) {
		wr_rpc_srv_ctx *sc = &srv->ctxs[i];
		sc->srv = srv;
		sc->req.sc = sc;
		int rv = nng_ctx_open(&sc->ctx, srv->sock);
		if (rv != 0)
			return rv;
		sc->ctx_open = true;
		if ((rv = nng_aio_alloc(&sc->recv_aio, wr_rpc_srv_recv_cb,
		                        sc)) != 0 ||
		    (rv = nng_aio_alloc(&sc->send_aio, wr_rpc_srv_send_cb,
		                        sc)) != 0)
			return rv;
		nng_aio_set_timeout(sc->send_aio, WR_RPC_REPLY_SEND_TIMEOUT_MS);
	}
	return 0;
}

static int
wr_rpc_srv_listen(wr_rpc_server *srv, const char *addr)
{
	char url[WR_ADDR_BYTES + 8];
	if (wr_tls_url(addr, url, sizeof(url)) != WR_OK)
		return NNG_EINVAL;
	int rv = nng_listener_create(&srv->lst, srv->sock, url);
	if (rv != 0)
		return rv;
	if ((rv = wr_tls_listener_setup(srv->lst, url)) != 0 ||
	    (rv = nng_listener_set_size(srv->lst, NNG_OPT_RECVMAXSZ,
	                                WR_RPC_RECV_MAX_BYTES)) != 0 ||
	    (rv = nng_listener_start(srv->lst, 0)) != 0)
		return rv;
	/* Only TCP has a port; other transports report 0. */
	if (nng_listener_get_int(srv->lst, NNG_OPT_TCP_BOUND_PORT,
	                         &srv->port) != 0)
		srv->port = 0;
	return 0;
}

static void
wr_rpc_srv_sync_init(wr_rpc_server *srv)
{
	pthread_condattr_t ca;
	pthread_mutex_init(&srv->mu, NULL);
	pthread_condattr_init(&ca);
	/* Deadlines must not move with the wall clock. */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->cv, &ca);
	pthread_condattr_destroy(&ca);
}

int
wr_rpc_server_new(const char *url, const char *name, wr_rpc_server **out)
{
	*out = NULL;
	if (url == NULL)
		return WR_EINVAL;
	wr_rpc_server *srv = wr_xcalloc(1, sizeof(*srv));
	srv->name = wr_xstrdup(name != NULL ? name : "rpc server");
	atomic_init(&srv->bad_frames, 0);
	snprintf(srv->token, sizeof(srv->token), "%s", wr_auth_token());
	wr_auth_gate_init(&srv->gate);
	wr_auth_gate_init(&srv->bad_gate);
	wr_auth_gate_init(&srv->version_gate);
	wr_rpc_srv_sync_init(srv);

	int rv = nng_rep0_open(&srv->sock);
	if (rv != 0)
		goto free_srv;
	srv->sock_open = true;
	if ((rv = nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ,
	                              WR_RPC_RECV_MAX_BYTES)) != 0 ||
	    (rv = wr_rpc_srv_ctxs_open(srv)) != 0)
		goto free_srv;
	/* Contexts wait for requests before anyone can connect. */
	for (int i = 0; i < WR_RPC_SERVER_CONTEXTS; i++)
		wr_rpc_srv_recv(&srv->ctxs[i]);
	if ((rv = wr_rpc_srv_listen(srv, url)) != 0)
		goto free_srv;
	*out = srv;
	return WR_OK;

free_srv:
	wr_rpc_server_free(srv);
	return wr_rpc_err_from_nng(rv);
}

int
wr_rpc_server_port(const wr_rpc_server *srv)
{
	return srv->port;
}

int
wr_rpc_server_next(wr_rpc_server *srv, int timeout_ms, wr_rpc_req **out)
{
	struct timespec deadline;
	bool timed_out = false;
	int rv;

	*out = NULL;
	if (timeout_ms > 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&srv->mu);
	for (;;) {
		if (srv->closed) {
			rv = WR_ECLOSED;
			break;
		}
		if (srv->q_len > 0) {
			*out = srv->queue[srv->q_head];
			srv->q_head = (srv->q_head + 1) % WR_RPC_QUEUE_DEPTH;
			srv->q_len--;
			rv = WR_OK;
			break;
		}
		if (timeout_ms == 0 || timed_out || srv->woken) {
			srv->woken = false;
			rv = WR_ETIMEDOUT;
			break;
		}
		if (timeout_ms < 0)
			pthread_cond_wait(&srv->cv, &srv->mu);
		else
			timed_out =
			    pthread_cond_timedwait(&srv->cv, &srv->mu,
			                           &deadline) == ETIMEDOUT;
	}
	pthread_mutex_unlock(&srv->mu);
	return rv;
}

struct Weir__Envelope *
wr_rpc_req_env(const wr_rpc_req *req)
{
	return wr_msg_env(req->msg);
}

void
wr_rpc_req_reply(wr_rpc_req *req, struct Weir__Envelope *reply)
{
	wr_rpc_srv_ctx *sc = req->sc;
	wr_buf frame;
	wr_buf_init(&frame);
	int rv = wr_frame_pack(reply, &frame);
	wr_msg_free(req->msg);
	req->msg = NULL;
	if (rv != WR_OK) {
		/* The peer must hear something, or it waits for its timeout. */
		wr_log(WR_LOG_ERROR, "RPC-REPLY-UNPACKABLE", "%s: %s",
		       sc->srv->name, wr_strerror(rv));
		char text[WR_RPC_ERRMSG_BYTES];
		snprintf(text, sizeof(text), "%s could not pack its reply: %s",
		         sc->srv->name, wr_strerror(rv));
		wr_rpc_srv_send_error(sc, NULL, WR_EINTERNAL, text);
	} else {
		wr_rpc_srv_send(sc, &frame, NULL);
	}
	wr_buf_fini(&frame);
}

void
wr_rpc_req_reply_ack(wr_rpc_req *req)
{
	Weir__Envelope rep = WEIR__ENVELOPE__INIT;
	Weir__Ack ack = WEIR__ACK__INIT;
	rep.body_case = WEIR__ENVELOPE__BODY_ACK;
	rep.ack = &ack;
	wr_rpc_req_reply(req, &rep);
}

void
wr_rpc_req_reply_error(wr_rpc_req *req, int code, const char *fmt, ...)
{
	char text[WR_RPC_ERRMSG_BYTES];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	wr_msg_free(req->msg);
	req->msg = NULL;
	wr_rpc_srv_send_error(req->sc, NULL, code, text);
}

void
wr_rpc_server_set_token(wr_rpc_server *srv, const char *token)
{
	snprintf(srv->token, sizeof(srv->token), "%s", token);
}

uint64_t
wr_rpc_server_bad_frames(const wr_rpc_server *srv)
{
	return atomic_load(&srv->bad_frames);
}

void
wr_rpc_register_metrics(wr_metrics *reg)
{
	atomic_store(&wr_rpc_bad_metric,
	             reg == NULL
	                 ? NULL
	                 : wr_metrics_get(reg, WR_METRIC_COUNTER,
	                                  "weir_rpc_bad_frames_total",
	                                  "RPC frames refused unread: garbage, "
	                                  "truncated, too large or of another "
	                                  "protocol version.",
	                                  NULL));
}

void
wr_rpc_server_wake(wr_rpc_server *srv)
{
	pthread_mutex_lock(&srv->mu);
	srv->woken = true;
	pthread_cond_signal(&srv->cv);
	pthread_mutex_unlock(&srv->mu);
}

void
wr_rpc_server_free(wr_rpc_server *srv)
{
	if (srv == NULL)
		return;
	pthread_mutex_lock(&srv->mu);
	srv->closed = true;
	pthread_cond_broadcast(&srv->cv);
	pthread_mutex_unlock(&srv->mu);

	/* Waits for running callbacks; later operations on these aios do not
	 * start, so no callback touches srv after this loop. */
	for (int i = 0; i < WR_RPC_SERVER_CONTEXTS; i++) {
		nng_aio_stop(srv->ctxs[i].recv_aio);
		nng_aio_stop(srv->ctxs[i].send_aio);
	}
	if (srv->sock_open)
		nng_close(srv->sock); /* closes listener and contexts */
	for (int i = 0; i < WR_RPC_SERVER_CONTEXTS; i++) {
		/* A reply started after the stop never left its aio. */
		if (srv->ctxs[i].send_aio != NULL)
			nng_msg_free(nng_aio_get_msg(srv->ctxs[i].send_aio));
		nng_aio_free(srv->ctxs[i].recv_aio);
		nng_aio_free(srv->ctxs[i].send_aio);
	}
	while (srv->q_len > 0) {
		wr_rpc_req *req = srv->queue[srv->q_head];
		srv->q_head = (srv->q_head + 1) % WR_RPC_QUEUE_DEPTH;
		srv->q_len--;
		wr_msg_free(req->msg);
	}
	pthread_cond_destroy(&srv->cv);
	pthread_mutex_destroy(&srv->mu);
	wr_auth_gate_fini(&srv->gate);
	wr_auth_gate_fini(&srv->bad_gate);
	wr_auth_gate_fini(&srv->version_gate);
	free(srv->name);
	free(srv);
}

/* ---- client ------------------------------------------------------------ */

/* A synchronous dial of a tcp:// URL: a TCP connection tried first,
 * within WR_RPC_CONNECT_TIMEOUT_MS, since nng's own dial would wait out
 * the kernel's SYN retries (minutes) for a host that is down. WR_OK to
 * dial. */
static int
wr_rpc_client_probe(const char *url)
{
	char host[WR_ADDR_BYTES];
	int port;
	if (strncmp(url, "tls+", 4) == 0)
		url += 4; /* the TCP connection under it */
	if (strncmp(url, "tcp://", 6) != 0 ||
	    wr_addr_split(url, host, sizeof(host), &port) != WR_OK)
		return WR_OK; /* nng reports what is wrong with it */
	return wr_addr_probe_tcp(host, port, WR_RPC_CONNECT_TIMEOUT_MS);
}

static int
wr_rpc_client_dial(wr_rpc_client *cli, const char *addr, int flags)
{
	nng_dialer d;
	char url[WR_ADDR_BYTES + 8];
	if (wr_tls_url(addr, url, sizeof(url)) != WR_OK)
		return NNG_EINVAL;
	int rv = nng_dialer_create(&d, cli->sock, url);
	if (rv != 0)
		return rv;
	if ((rv = wr_tls_dialer_setup(d, url)) != 0 ||
	    (rv = nng_dialer_set_size(d, NNG_OPT_RECVMAXSZ,
	                              WR_RPC_RECV_MAX_BYTES)) != 0 ||
	    (rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMINT,
	                            WR_RPC_RECONNECT_MIN_MS)) != 0 ||
	    (rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT,
	                            WR_RPC_RECONNECT_MAX_MS)) != 0)
		return rv;
	/* Non-blocking: a failed first attempt is retried in the background
	 * with the backoff above. */
	return nng_dialer_start(
	    d, (flags & WR_RPC_DIAL_SYNC) ? 0 : NNG_FLAG_NONBLOCK);
}

int
wr_rpc_client_new(const char *url, int flags, wr_rpc_client **out)
{
	*out = NULL;
	if (url == NULL)
		return WR_EINVAL;
	if (flags & WR_RPC_DIAL_SYNC) {
		int prv = wr_rpc_client_probe(url);
		if (prv != WR_OK)
			return prv;
	}
	wr_rpc_client *cli = wr_xcalloc(1, sizeof(*cli));
	snprintf(cli->token, sizeof(cli->token), "%s", wr_auth_token());
	int rv = nng_req0_open(&cli->sock);
	if (rv != 0)
		goto free_cli;
	/* Contexts copy this when opened. Infinite also makes nng fail a
	 * call whose connection drops (NNG_ECONNRESET) instead of sending
	 * it again on the next connection. */
	if ((rv = nng_socket_set_ms(cli->sock, NNG_OPT_REQ_RESENDTIME,
	                            NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_size(cli->sock, NNG_OPT_RECVMAXSZ,
	                              WR_RPC_RECV_MAX_BYTES)) != 0 ||
	    (rv = wr_rpc_client_dial(cli, url, flags)) != 0)
		goto close_sock;
	*out = cli;
	return WR_OK;

close_sock:
	nng_close(cli->sock);
free_cli:
	free(cli);
	return wr_rpc_err_from_nng(rv);
}

/* Keeps only codes of our enum: a peer must not make us return garbage. */
static int
wr_rpc_code_from_wire(int32_t code)
{
	int32_t low = code & 0xffff;
	if (code > WR_OK && code <= WR_EINTERNAL)
		return code;
	if ((code & ~0xffff) == WR_ESYSERR && low != 0)
		return code;
	if ((code & ~0xffff) == WR_ENNGERR && low != 0)
		return code;
	return WR_EINTERNAL;
}

/* Turns the reply message into the caller's result. */
static int
wr_rpc_call_result(nng_msg *msg, wr_msg **reply, char *errbuf, size_t errlen)
{
	wr_msg *m = NULL;
	int rv = wr_frame_unpack(nng_msg_body(msg), nng_msg_len(msg), &m);
	if (rv != WR_OK) {
		wr_rpc_errf(errbuf, errlen, "reply is not a valid frame: %s",
		            wr_strerror(rv));
		return WR_EPROTO;
	}
	if (wr_frame_version_ok(m, "client", errbuf, errlen) != WR_OK) {
		wr_msg_free(m);
		return WR_EPROTO;
	}
	Weir__Envelope *env = wr_msg_env(m);
	if (env->body_case == WEIR__ENVELOPE__BODY_ERROR) {
		rv = wr_rpc_code_from_wire(env->error->code);
		wr_rpc_errf(errbuf, errlen, "%s",
		            env->error->message ? env->error->message : "");
		wr_msg_free(m);
		return rv;
	}
	*reply = m;
	return WR_OK;
}

/* Sends msg on ctx and waits for the reply until deadline_ms. */
static int
wr_rpc_call_exchange(nng_ctx ctx, nng_aio *aio, nng_msg *msg, int timeout_ms,
                     nng_msg **rep)
{
	int64_t deadline_ms = wr_mono_ms() + timeout_ms;
	nng_aio_set_timeout(aio, timeout_ms < 0 ? NNG_DURATION_INFINITE
	                                        : (nng_duration)timeout_ms);
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	int rv = nng_aio_result(aio);
	if (rv != 0) {
		/* On failure the message is still ours. */
		nng_msg_free(nng_aio_get_msg(aio));
		return rv;
	}
	if (timeout_ms >= 0) {
		int64_t left = deadline_ms - wr_mono_ms();
		nng_aio_set_timeout(aio, left > 0 ? (nng_duration)left
		                                  : NNG_DURATION_ZERO);
	}
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) == 0)
		*rep = nng_aio_get_msg(aio);
	return rv;
}

static nng_msg *
wr_rpc_msg_from_buf(const wr_buf *b)
{
	nng_msg *msg;
	if (nng_msg_alloc(&msg, 0) != 0 ||
	    nng_msg_append(msg, b->data, b->len) != 0)
		wr_panic(__FILE__, __LINE__, "out of memory for an RPC call");
	return msg;
}

int
wr_rpc_call(wr_rpc_client *cli, struct Weir__Envelope *req, int timeout_ms,
            wr_msg **reply, char *errbuf, size_t errlen)
{
	nng_aio *aio = NULL;
	nng_ctx ctx;
	nng_msg *rep = NULL;
	wr_buf frame;

	*reply = NULL;
	wr_rpc_errf(errbuf, errlen, "%s", "");
	wr_buf_init(&frame);
	/* The caller keeps req as it gave it: the token is lent for the
	 * packing only. */
	char *caller_token = req->token;
	if (cli->token[0] != '\0')
		req->token = cli->token;
	int rv = wr_frame_pack(req, &frame);
	req->token = caller_token;
	if (rv != WR_OK) {
		wr_rpc_errf(errbuf, errlen, "request not sent: %s",
		            wr_strerror(rv));
		goto free_frame;
	}
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0 ||
	    (rv = nng_ctx_open(&ctx, cli->sock)) != 0) {
		rv = wr_rpc_err_from_nng(rv);
		wr_rpc_errf(errbuf, errlen, "%s", wr_strerror(rv));
		goto free_aio;
	}
	rv = wr_rpc_call_exchange(ctx, aio, wr_rpc_msg_from_buf(&frame),
	                          timeout_ms, &rep);
	if (rv != 0) {
		rv = wr_rpc_err_from_nng(rv);
		if (rv == WR_ETIMEDOUT)
			wr_rpc_errf(errbuf, errlen, "no reply within %d ms",
			            timeout_ms);
		else
			wr_rpc_errf(errbuf, errlen, "%s", wr_strerror(rv));
		goto close_ctx;
	}
	rv = wr_rpc_call_result(rep, reply, errbuf, errlen);
	nng_msg_free(rep);

close_ctx:
	nng_ctx_close(ctx);
free_aio:
	nng_aio_free(aio);
free_frame:
	wr_buf_fini(&frame);
	return rv;
}

void
wr_rpc_client_set_token(wr_rpc_client *cli, const char *token)
{
	snprintf(cli->token, sizeof(cli->token), "%s", token);
}

void
wr_rpc_client_free(wr_rpc_client *cli)
{
	if (cli == NULL)
		return;
	nng_close(cli->sock);
	free(cli);
}

uint32_t
wr_rpc_req_pipe(const wr_rpc_req *req)
{
	return req->pipe;
}

/* A connection to srv closed. @thread nng */
static void
wr_rpc_srv_pipe_closed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)ev;
	wr_rpc_server *srv = arg;
	srv->on_close(srv->on_close_arg, (uint32_t)nng_pipe_id(p));
}

int
wr_rpc_server_on_close(wr_rpc_server *srv, void (*fn)(void *, uint32_t),
                       void *arg)
{
	srv->on_close = fn;
	srv->on_close_arg = arg;
	return wr_rpc_err_from_nng(nng_pipe_notify(
	    srv->sock, NNG_PIPE_EV_REM_POST, wr_rpc_srv_pipe_closed, srv));
}
