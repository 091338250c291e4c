/*
 * rpc.h - request/reply over nng with protobuf Envelopes.
 *
 * Server: a rep socket with WR_RPC_SERVER_CONTEXTS nng contexts receiving in
 * parallel. Valid requests are queued (bounded, WR_RPC_QUEUE_DEPTH) for the
 * thread that owns the daemon's state, which takes them with
 * wr_rpc_server_next() and answers with wr_rpc_req_reply(). Frames that are
 * garbage, truncated, oversized or of another protocol version never reach
 * that thread: they are logged (RPC-BAD-FRAME, RPC-VERSION-MISMATCH), answered
 * with an Error envelope where the peer can read one, and the server keeps
 * serving.
 *
 * Client: a req socket. Each call uses its own nng context, so one client may
 * be shared by threads. Every call has a timeout. The socket reconnects with
 * exponential backoff (100 ms .. 5 s) when the peer goes away.
 *
 * Every socket sets NNG_OPT_RECVMAXSZ to WR_RPC_MAX_FRAME_BYTES.
 *
 * Authentication (auth.h): servers and clients copy the process's cluster
 * token when created. A client puts it into every request's envelope; a
 * server with a token answers a request without it (or with another) with
 * an Error WR_EPERM before the owning thread sees it, counts it and logs
 * AUTH-REFUSED once per connection. A token in the envelope, rather than
 * a handshake per connection: nng's req/rep has no hook to hold a pipe
 * until it has proven itself, and a few dozen bytes per control message
 * plus one constant-time compare cost nothing next to the protobuf.
 */
#ifndef WR_RPC_H
#define WR_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "metrics.h"

typedef struct wr_rpc_server wr_rpc_server;
typedef struct wr_rpc_req wr_rpc_req;
typedef struct wr_rpc_client wr_rpc_client;

/*
 * Listens on url ("tcp://0.0.0.0:6123"; port 0 picks a free port).
 * name appears in log lines ("jobmanager"). Errors: WR_EINVAL (bad url),
 * WR_ESYSERR|EADDRINUSE and other bind errors.
 */
int wr_rpc_server_new(const char *url, const char *name, wr_rpc_server **out);

/* The TCP port actually bound (useful with port 0). */
int wr_rpc_server_port(const wr_rpc_server *srv);

/*
 * Waits up to timeout_ms (0 = poll, <0 = forever) for the next request.
 * @thread the owning thread (one consumer). On success *out must be answered
 * with wr_rpc_req_reply() or wr_rpc_req_reply_error() (which free it).
 * Errors: WR_ETIMEDOUT, WR_ECLOSED.
 */
int wr_rpc_server_next(wr_rpc_server *srv, int timeout_ms, wr_rpc_req **out);

/*
 * Makes the owning thread's wait in wr_rpc_server_next (the current one,
 * or else the next) return WR_ETIMEDOUT at once: other threads that
 * queue work for the owner (events, commands) wake it so.
 * Thread-safe.
 */
void wr_rpc_server_wake(wr_rpc_server *srv);

/* The connection (nng pipe id) req came on: requests of one peer's
 * connection share it until it closes. */
uint32_t wr_rpc_req_pipe(const wr_rpc_req *req);

/*
 * Calls fn(arg, pipe) on an nng thread each time a connection to srv
 * closes (a peer's process died: its kernel closed the socket at once).
 * fn must not block; set it before requests arrive.
 */
int wr_rpc_server_on_close(wr_rpc_server *srv, void (*fn)(void *, uint32_t),
                           void *arg);

/* The request's envelope; owned by req. */
struct Weir__Envelope *wr_rpc_req_env(const wr_rpc_req *req);

/* Answers with an empty Ack, then frees req. */
void wr_rpc_req_reply_ack(wr_rpc_req *req);

/* Packs and sends reply (the caller keeps reply), then frees req. */
void wr_rpc_req_reply(wr_rpc_req *req, struct Weir__Envelope *reply);

/* Replies with an Error envelope {code, message}, then frees req. */
void wr_rpc_req_reply_error(wr_rpc_req *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Replaces the token srv requires (tests; daemons use the process's). */
void wr_rpc_server_set_token(wr_rpc_server *srv, const char *token);

/* Counters for tests and metrics: frames refused before reaching the owning
 * thread (garbage, truncated, too big to unpack, or of another version).
 * Thread-safe. */
uint64_t wr_rpc_server_bad_frames(const wr_rpc_server *srv);

/* Counts every server's bad frames of this process in reg as
 * weir_rpc_bad_frames_total (their log lines are once per connection).
 * Call before any server listens; NULL stops counting (before reg is
 * freed). */
void wr_rpc_register_metrics(wr_metrics *reg);

/*
 * Closes the socket; queued requests are dropped (their peers time out).
 * @thread the owning thread, after answering every request it took with
 * wr_rpc_server_next(). Accepts NULL.
 */
void wr_rpc_server_free(wr_rpc_server *srv);

enum {
	/* Fail wr_rpc_client_new at once if the peer cannot be connected
	 * (the CLI: exit code 3). Without it the client dials in the
	 * background and keeps retrying (daemons). */
	WR_RPC_DIAL_SYNC = 1,
};

/*
 * Connects a client to url. Errors: WR_EINVAL (bad url), and with
 * WR_RPC_DIAL_SYNC the dial error (WR_ECONNREFUSED, WR_EUNREACHABLE, ...).
 */
int wr_rpc_client_new(const char *url, int flags, wr_rpc_client **out);

/*
 * Sends req and waits up to timeout_ms for the reply. Thread-safe.
 * On WR_OK *reply is the caller's (wr_msg_free) and its body is never an
 * Error: an Error reply is returned as its code (or WR_EINTERNAL when the
 * code is not a weir code) with its message copied to errbuf.
 * Other errors: WR_ETIMEDOUT (no reply in time: peer absent or slow),
 * WR_EUNREACHABLE (the connection dropped after the request was sent; it is
 * never resent, as it may not be idempotent), WR_EPROTO (reply is not a
 * valid frame or of another version; errbuf says which), WR_ETOOBIG (req
 * exceeds WR_RPC_MAX_FRAME_BYTES), WR_ECLOSED. errbuf (may be NULL) always
 * gets a message on failure. timeout_ms < 0 waits forever (not for
 * daemons).
 */
int wr_rpc_call(wr_rpc_client *cli, struct Weir__Envelope *req, int timeout_ms,
                wr_msg **reply, char *errbuf, size_t errlen);

/* Replaces the token cli sends (tests; others send the process's). No
 * call may be in progress. */
void wr_rpc_client_set_token(wr_rpc_client *cli, const char *token);

/* Accepts NULL. No call may be in progress. */
void wr_rpc_client_free(wr_rpc_client *cli);

#endif
