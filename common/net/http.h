/*
 * http.h - a small HTTP server on nng's HTTP support, for REST, /metrics,
 * /healthz and /readyz.
 *
 * With a cluster token (auth.h; the process's, copied at creation) every
 * route but /healthz, /readyz and those added by wr_http_server_handle_open
 * wants "Authorization: Bearer TOKEN" and answers 401 {"errors": [...]}
 * without it, before reading the body.
 *
 * Handlers run on nng's threads: they must only touch state that is safe to
 * read from any thread (take the owner's lock, or read a snapshot).
 */
#ifndef WR_HTTP_H
#define WR_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "wr_limits.h"

struct wr_metrics;

typedef struct wr_http_server wr_http_server;

typedef struct wr_http_req {
	const void *raw;    /* nng's request, for wr_http_req_header */
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* without the query string: "/jobs/abc" (as sent:
	                       not percent-decoded) */
	const char *query;  /* after '?', "" if none: "mode=cancel" */
	const char *body;   /* NUL-terminated copy of the body ("" if none) */
	size_t body_len;
} wr_http_req;

typedef struct wr_http_header {
	const char *name, *value;
} wr_http_header;

typedef struct wr_http_resp {
	int status;               /* default 200 */
	const char *content_type; /* default "application/json" */
	wr_buf body;
	/* More headers (wr_http_resp_header) */
	wr_http_header headers[WR_HTTP_MAX_RESP_HEADERS];
	size_t nheaders;
} wr_http_resp;

/* A request header's value, NULL when it has none. */
const char *wr_http_req_header(const wr_http_req *req, const char *name);

/* Adds a response header. name and value must outlive the handler's call
 * (string literals, or data the handler's arg owns). At most
 * WR_HTTP_MAX_RESP_HEADERS. */
void wr_http_resp_header(wr_http_resp *resp, const char *name,
                         const char *value);

typedef void (*wr_http_fn)(void *arg, const wr_http_req *req,
                           wr_http_resp *resp);

/*
 * Creates a server for addr ("0.0.0.0:8081", "127.0.0.1:0"). Nothing listens
 * until wr_http_server_start. Errors: WR_EINVAL (bad address).
 */
int wr_http_server_new(const char *addr, wr_http_server **out);

/*
 * Routes method+path to fn. With prefix, every path below path matches
 * ("/jobs" also serves "/jobs/abc/checkpoints"). method NULL = any method.
 * Bodies larger than WR_HTTP_MAX_BODY_BYTES are refused with 413, chunked
 * bodies with 411. Unknown paths get 404, a known path with another method
 * 405, both with a JSON body {"errors": [...]} (a fallback route, a tree on
 * "/", answers them; "/" itself may be routed for one method, exact, as the
 * dashboard's page is). May be called before or after start.
 * Errors: WR_EINVAL (path does not start with '/'), WR_EEXIST (same method and
 * path again; before start it is reported by wr_http_server_start).
 */
int wr_http_server_handle(wr_http_server *srv, const char *method,
                          const char *path, bool prefix, wr_http_fn fn,
                          void *arg);

/*
 * As wr_http_server_handle, but served without the token: for what holds
 * no secret and must load before a client can ask for one (the dashboard's
 * page, which then asks for the token and sends it on its API calls).
 */
int wr_http_server_handle_open(wr_http_server *srv, const char *method,
                               const char *path, bool prefix, wr_http_fn fn,
                               void *arg);

/* Replaces the token srv requires (tests). Before start. */
void wr_http_server_set_token(wr_http_server *srv, const char *token);

/* Serves GET /metrics from reg (text/plain; version=0.0.4). */
int wr_http_serve_metrics(wr_http_server *srv, struct wr_metrics *reg);

/*
 * Serves GET /healthz (200 "ok" while the process runs) and GET /readyz
 * (200 when ready(arg) returns true, else 503). ready NULL = always ready.
 */
int wr_http_serve_health(wr_http_server *srv, bool (*ready)(void *arg),
                         void *arg);

/*
 * Binds and starts serving; call once. Errors: bind failures
 * (WR_ESYSERR|EADDRINUSE, also when another wr_http_server of this process
 * serves the same address), WR_EEXIST (duplicate routes).
 */
int wr_http_server_start(wr_http_server *srv);

/* The TCP port bound (after start; useful with port 0). */
int wr_http_server_port(const wr_http_server *srv);

/*
 * Stops and frees. Closes every connection and waits for running handlers:
 * none runs after it returns, so handler args may be freed then. Must not
 * be called from a handler. Accepts NULL.
 */
void wr_http_server_free(wr_http_server *srv);

#endif
