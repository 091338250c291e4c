/*
 * http.c - wr_http_server on nng's HTTP server.
 *
 * Two things about nng 1.5.2 shape this file:
 *
 * - nng_http_server_hold() shares one server among every holder of the same
 *   host and port, and a server bound to port 0 keeps port 0 as its key
 *   until it is started. Two wr_http_servers on "127.0.0.1:0" created
 *   before either starts would silently become one server (and a duplicate
 *   /healthz would then fail to register). So a server is held only in
 *   wr_http_server_start, under wr_http_live_lock, until it is started and
 *   has its real port; and holding a server that another wr_http_server
 *   already uses fails with EADDRINUSE, as a second bind would.
 *
 * - nng's own body collection answers an oversized body with 400 and then
 *   keeps the connection open, reading the unread body as the next
 *   request. We therefore read bodies ourselves: 413 with
 *   "Connection: close" when Content-Length is over WR_HTTP_MAX_BODY_BYTES.
 *
 * - nng reads the request line and headers itself, with no timeout and no
 *   option for one: a client sending half a header holds its connection
 *   until it closes it. Bodies have our timeout (WR_HTTP_BODY_TIMEOUT_MS);
 *   docs/security.md lists the header as a limitation.
 */
#include "http.h"

#include "auth.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "tls.h"
#include "metrics.h"
#include "wr_assert.h"
#include "wr_limits.h"

#include <arpa/inet.h>
#include <errno.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Handler data, owned by the nng handler (freed by its destructor, which
 * may run late on nng's reaper thread). */
struct wr_http_route {
	wr_http_fn fn;
	void *arg;
	/* The server, for its token: handlers never run after free stops
	 * it. open: served without the token (/healthz, /readyz). */
	struct wr_http_server *srv;
	bool open;
};

/* One request whose body is being read. */
struct wr_http_call {
	nng_aio *cbaio; /* nng's handler aio, finished when we respond */
	nng_aio *rdaio; /* our body read */
	nng_http_req *req;
	const struct wr_http_route *route;
	char *body;
	size_t body_len;
};

struct wr_http_health {
	bool (*ready)(void *arg);
	void *arg;
};

/* A path routed (for the fallback's 405). */
struct wr_http_known {
	char *path;
	bool prefix;
};

struct wr_http_server {
	nng_url *url;
	/* Paths routed so far: a request nng matched to none of their
	 * methods comes to the fallback, which answers 405 for them and 404
	 * for the rest (JSON both). */
	pthread_mutex_t known_mu;
	struct wr_http_known *known; /* @locks known_mu */
	size_t nknown, known_cap;    /* @locks known_mu */
	nng_http_server *nsrv; /* held from a successful start until free */
	/* Handlers made before start; nsrv owns them once added. */
	nng_http_handler **pending;
	size_t npending;
	size_t cap;
	int port;
	struct wr_http_health health;
	/* Every route but the open ones wants "Authorization: Bearer
	 * TOKEN" ("" = no token configured): the process's, copied at
	 * creation. gate: refusals logged, at most, once a while (nng does
	 * not tell a handler who the peer is). */
	char token[WR_AUTH_TOKEN_MAX_BYTES + 1];
	wr_auth_gate gate;
	struct wr_http_server *next; /* in wr_http_live */
};

/* Started servers, to refuse sharing an nng server (see top of file). */
static pthread_mutex_t wr_http_live_lock = PTHREAD_MUTEX_INITIALIZER;
static wr_http_server *wr_http_live;

/* "host:port" with an explicit, numeric port (nng would default to 80). */
static bool
wr_http_addr_ok(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	if (colon == NULL || strstr(addr, "://") != NULL)
		return false;
	size_t n = strlen(colon + 1);
	if (n == 0 || n > 5 || strspn(colon + 1, "0123456789") != n)
		return false;
	return atoi(colon + 1) <= 65535;
}

/* Whether path is routed (for some method). */
static bool
wr_http_is_known(wr_http_server *srv, const char *path)
{
	bool hit = false;
	pthread_mutex_lock(&srv->known_mu);
	for (size_t i = 0; i < srv->nknown && !hit; i++) {
		const struct wr_http_known *k = &srv->known[i];
		size_t n = strlen(k->path);
		hit = strcmp(path, k->path) == 0 ||
		      (k->prefix && strncmp(path, k->path, n) == 0 &&
		       (path[n] == '/' || k->path[n - 1] == '/'));
	}
	pthread_mutex_unlock(&srv->known_mu);
	return hit;
}

static void
wr_http_known_add(wr_http_server *srv, const char *path, bool prefix)
{
	pthread_mutex_lock(&srv->known_mu);
	if (srv->nknown == srv->known_cap) {
		srv->known_cap = srv->known_cap ? srv->known_cap * 2 : 16;
		srv->known = wr_xrealloc(srv->known,
		                         srv->known_cap * sizeof(*srv->known));
	}
	srv->known[srv->nknown].path = wr_xstrdup(path);
	srv->known[srv->nknown++].prefix = prefix;
	pthread_mutex_unlock(&srv->known_mu);
}

/* Every request no route takes: JSON errors, as the routes' own. */
static void
wr_http_fallback_fn(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	bool known = wr_http_is_known(arg, req->path);
	resp->status = known ? 405 : 404;
	wr_buf_puts(&resp->body, known ? "{\"errors\":[\"method not allowed\"]}"
	                               : "{\"errors\":[\"not found\"]}");
}

int
wr_http_server_new(const char *addr, wr_http_server **out)
{
	nng_url *url = NULL;
	if (addr == NULL || !wr_http_addr_ok(addr))
		return WR_EINVAL;
	/* https: nng's server then listens with TLS, given its config at
	 * start (wr_tls_http_setup). */
	char *s =
	    wr_xasprintf("%s://%s", wr_tls_has_cert() ? "https" : "http", addr);
	int nrv = nng_url_parse(&url, s);
	free(s);
	if (nrv != 0)
		return WR_EINVAL;
	if (url->u_path[0] != '\0' && strcmp(url->u_path, "/") != 0) {
		nng_url_free(url);
		return WR_EINVAL;
	}
	wr_http_server *srv = wr_xcalloc(1, sizeof(*srv));
	srv->url = url;
	snprintf(srv->token, sizeof(srv->token), "%s", wr_auth_token());
	wr_auth_gate_init(&srv->gate);
	pthread_mutex_init(&srv->known_mu, NULL);
	*out = srv;
	return WR_OK;
}

/* Reason phrases nng 1.5.2's table lacks ("413 Unknown HTTP Status"). */
static const char *
wr_http_reason(int status)
{
	switch (status) {
	case 413:
		return "Payload Too Large";
	case 422:
		return "Unprocessable Entity";
	case 502:
		return "Bad Gateway";
	default:
		return NULL;
	}
}

/* Finishes nng's handler aio with a response, with nhdr more headers. On
 * failure the aio fails and nng drops the connection, which is all we can
 * do without memory. */
static void
wr_http_respond_hdrs(nng_aio *aio, int status, const char *ctype,
                     const char *body, size_t len, bool close,
                     const wr_http_header *hdrs, size_t nhdr)
{
	nng_http_res *res = NULL;
	const char *reason = wr_http_reason(status);
	int nrv;
	WR_ASSERT(status >= 100 && status <= 599);
	if ((nrv = nng_http_res_alloc(&res)) != 0)
		goto fail;
	if ((nrv = nng_http_res_set_status(res, (uint16_t)status)) != 0 ||
	    (reason != NULL &&
	     (nrv = nng_http_res_set_reason(res, reason)) != 0) ||
	    (nrv = nng_http_res_set_header(res, "Content-Type", ctype)) != 0 ||
	    (len > 0 && (nrv = nng_http_res_copy_data(res, body, len)) != 0))
		goto free_res;
	for (size_t i = 0; i < nhdr; i++)
		if ((nrv = nng_http_res_set_header(res, hdrs[i].name,
		                                   hdrs[i].value)) != 0)
			goto free_res;
	/* The unread body would otherwise be parsed as the next request. */
	if (close &&
	    (nrv = nng_http_res_set_header(res, "Connection", "close")) != 0)
		goto free_res;
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
	return;
free_res:
	nng_http_res_free(res);
fail:
	nng_aio_finish(aio, nrv);
}

static void
wr_http_respond(nng_aio *aio, int status, const char *ctype, const char *body,
                size_t len, bool close)
{
	wr_http_respond_hdrs(aio, status, ctype, body, len, close, NULL, 0);
}

const char *
wr_http_req_header(const wr_http_req *req, const char *name)
{
	return nng_http_req_get_header((nng_http_req *)req->raw, name);
}

void
wr_http_resp_header(wr_http_resp *resp, const char *name, const char *value)
{
	WR_ASSERT(resp->nheaders < WR_HTTP_MAX_RESP_HEADERS);
	resp->headers[resp->nheaders].name = name;
	resp->headers[resp->nheaders++].value = value;
}

/* Refuses a request without reading its body, then closes. */
static void
wr_http_refuse(nng_aio *aio, int status, const char *why)
{
	char body[160];
	int n = snprintf(body, sizeof(body), "{\"errors\":[\"%s\"]}", why);
	wr_log(WR_LOG_INFO, "HTTP-REFUSED", "status=%d why=\"%s\"", status,
	       why);
	wr_http_respond(aio, status, "application/json", body, (size_t)n, true);
}

/* Calls the route's function and sends what it produced. */
static void
wr_http_dispatch(nng_aio *aio, nng_http_req *nreq,
                 const struct wr_http_route *route, const char *body,
                 size_t body_len)
{
	const char *uri = nng_http_req_get_uri(nreq);
	/* RFC 7230 5.3.2: a request may name the whole URL; skip to the path
	 * (nng matched handlers on the path too). */
	if (strncmp(uri, "http://", 7) == 0 ||
	    strncmp(uri, "https://", 8) == 0) {
		const char *p = strchr(strstr(uri, "://") + 3, '/');
		uri = p != NULL ? p : "/";
	}
	const char *q = strchr(uri, '?');
	char *path =
	    q != NULL ? wr_xstrndup(uri, (size_t)(q - uri)) : wr_xstrdup(uri);
	wr_http_req req = {
	    .raw = nreq,
	    .method = nng_http_req_get_method(nreq),
	    .path = path,
	    .query = q != NULL ? q + 1 : "",
	    .body = body,
	    .body_len = body_len,
	};
	wr_http_resp resp = {.status = 200, .content_type = NULL};
	wr_buf_init(&resp.body);

	route->fn(route->arg, &req, &resp);

	wr_http_respond_hdrs(aio, resp.status,
	                     resp.content_type != NULL ? resp.content_type
	                                               : "application/json",
	                     resp.body.data != NULL ? resp.body.data : "",
	                     resp.body.len, false, resp.headers, resp.nheaders);
	wr_buf_fini(&resp.body);
	free(path);
}

static void
wr_http_call_free(struct wr_http_call *call)
{
	free(call->body);
	free(call);
}

/* The body read finished. @thread nng's. */
static void
wr_http_body_done(void *arg)
{
	struct wr_http_call *call = arg;
	int nrv = nng_aio_result(call->rdaio);
	if (nrv == 0) {
		wr_http_dispatch(call->cbaio, call->req, call->route,
		                 call->body, call->body_len);
	} else {
		/* A half-read body leaves nothing to answer: nng closes. */
		wr_log(WR_LOG_DEBUG, "HTTP-BODY-FAILED", "err=%s",
		       nng_strerror(nrv));
		nng_aio_finish(call->cbaio, nrv);
	}
	/* Not nng_aio_free: that waits for this very callback. */
	nng_aio_reap(call->rdaio);
	wr_http_call_free(call);
}

/* Reads len body bytes, then dispatches. The server stopping closes the
 * connection, which fails the read and so finishes nng's aio. */
static void
wr_http_body_start(nng_aio *aio, nng_http_req *req, nng_http_conn *conn,
                   const struct wr_http_route *route, size_t len)
{
	struct wr_http_call *call = wr_xcalloc(1, sizeof(*call));
	int nrv;
	call->cbaio = aio;
	call->req = req;
	call->route = route;
	call->body = wr_xmalloc(len + 1);
	call->body[len] = '\0';
	call->body_len = len;
	if ((nrv = nng_aio_alloc(&call->rdaio, wr_http_body_done, call)) != 0)
		goto free_call;
	nng_iov iov = {.iov_buf = call->body, .iov_len = len};
	if ((nrv = nng_aio_set_iov(call->rdaio, 1, &iov)) != 0)
		goto free_aio;
	nng_aio_set_timeout(call->rdaio, WR_HTTP_BODY_TIMEOUT_MS);
	nng_http_conn_read_all(conn, call->rdaio);
	return;
free_aio:
	nng_aio_free(call->rdaio);
free_call:
	wr_http_call_free(call);
	nng_aio_finish(aio, nrv);
}

/* The body length announced by req, or an HTTP status refusing it. */
static int
wr_http_body_len(nng_http_req *req, size_t *len)
{
	const char *te = nng_http_req_get_header(req, "Transfer-Encoding");
	const char *cl = nng_http_req_get_header(req, "Content-Length");
	*len = 0;
	if (te != NULL)
		return 411; /* chunked bodies: not needed by any client */
	if (cl == NULL)
		return 0;
	size_t n = strlen(cl);
	if (n == 0 || strspn(cl, "0123456789") != n)
		return 400;
	/* More digits than the limit has cannot be within it (and cannot
	 * overflow the sum below). */
	if (n > 10)
		return 413;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint64_t)(cl[i] - '0');
	if (v > WR_HTTP_MAX_BODY_BYTES)
		return 413;
	*len = (size_t)v;
	return 0;
}

/* True when req carries "Authorization: Bearer TOKEN" with srv's token
 * (or srv has none). The scheme is case-insensitive (RFC 7235). */
static bool
wr_http_authentic(const wr_http_server *srv, nng_http_req *req)
{
	if (srv->token[0] == '\0')
		return true;
	const char *v = nng_http_req_get_header(req, "Authorization");
	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
		return false;
	v += 7;
	while (*v == ' ')
		v++;
	size_t n = strlen(v);
	while (n > 0 && v[n - 1] == ' ')
		n--;
	return wr_auth_check(srv->token, v, n);
}

/* 401 in REST's error shape, without reading the body; counted, and
 * logged at most once a while. */
static void
wr_http_refuse_auth(nng_aio *aio, wr_http_server *srv, nng_http_req *req)
{
	static const char body[] =
	    "{\"errors\": [\"authentication required: send "
	    "'Authorization: Bearer TOKEN' with the cluster token "
	    "(security.token_file)\"]}";
	bool sent = nng_http_req_get_header(req, "Authorization") != NULL;
	wr_auth_count(WR_AUTH_HTTP);
	if (wr_auth_gate_first(&srv->gate, 0))
		wr_log(WR_LOG_WARN, "AUTH-REFUSED",
		       "http %s:%d: refused %s %.100s: %s bearer token (logged "
		       "at most every %d s; weir_auth_failures_total counts "
		       "each)",
		       srv->url->u_hostname, srv->port,
		       nng_http_req_get_method(req), nng_http_req_get_uri(req),
		       sent ? "wrong or malformed" : "no",
		       WR_AUTH_ANON_LOG_MS / 1000);
	static const wr_http_header www = {"WWW-Authenticate",
	                                   "Bearer realm=\"weir\""};
	wr_http_respond_hdrs(aio, 401, "application/json", body,
	                     sizeof(body) - 1, true, &www, 1);
}

/* nng's handler callback for every route. @thread nng's. */
static void
wr_http_on_request(nng_aio *aio)
{
	nng_http_req *req = nng_aio_get_input(aio, 0);
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	nng_http_conn *conn = nng_aio_get_input(aio, 2);
	const struct wr_http_route *route = nng_http_handler_get_data(h);
	size_t len;
	if (!route->open && !wr_http_authentic(route->srv, req)) {
		wr_http_refuse_auth(aio, route->srv, req);
		return;
	}
	int status = wr_http_body_len(req, &len);
	if (status == 411)
		wr_http_refuse(aio, status, "chunked bodies are not supported");
	else if (status == 400)
		wr_http_refuse(aio, status, "bad Content-Length");
	else if (status == 413)
		wr_http_refuse(aio, status, "request body too large");
	else if (len == 0)
		wr_http_dispatch(aio, req, route, "", 0);
	else
		wr_http_body_start(aio, req, conn, route, len);
}

static void
wr_http_pending_push(wr_http_server *srv, nng_http_handler *h)
{
	if (srv->npending == srv->cap) {
		srv->cap = srv->cap ? srv->cap * 2 : 8;
		srv->pending =
		    wr_xrealloc(srv->pending, srv->cap * sizeof(*srv->pending));
	}
	srv->pending[srv->npending++] = h;
}

/* wr_http_server_handle; open routes are served without the token. */
static int
wr_http_route_add(wr_http_server *srv, const char *method, const char *path,
                  bool prefix, wr_http_fn fn, void *arg, bool open)
{
	nng_http_handler *h = NULL;
	int nrv;
	WR_ASSERT(fn != NULL);
	if (path == NULL || path[0] != '/')
		return WR_EINVAL;
	if ((nrv = nng_http_handler_alloc(&h, path, wr_http_on_request)) != 0)
		return wr_err_from_nng(nrv);
	if (fn != wr_http_fallback_fn)
		wr_http_known_add(srv, path, prefix);
	struct wr_http_route *route = wr_xmalloc(sizeof(*route));
	route->fn = fn;
	route->arg = arg;
	route->srv = srv;
	route->open = open;
	if ((nrv = nng_http_handler_set_data(h, route, free)) != 0) {
		free(route);
		goto free_handler;
	}
	/* We read bodies ourselves (see top of file). */
	if ((nrv = nng_http_handler_collect_body(h, false, 0)) != 0 ||
	    (nrv = nng_http_handler_set_method(h, method)) != 0 ||
	    (prefix && (nrv = nng_http_handler_set_tree(h)) != 0))
		goto free_handler;
	if (srv->nsrv == NULL) {
		wr_http_pending_push(srv, h);
		return WR_OK;
	}
	if ((nrv = nng_http_server_add_handler(srv->nsrv, h)) != 0)
		goto free_handler;
	return WR_OK;
free_handler:
	nng_http_handler_free(h); /* frees route too, through the dtor */
	return nrv == NNG_EADDRINUSE ? WR_EEXIST : wr_err_from_nng(nrv);
}

int
wr_http_server_handle(wr_http_server *srv, const char *method, const char *path,
                      bool prefix, wr_http_fn fn, void *arg)
{
	return wr_http_route_add(srv, method, path, prefix, fn, arg, false);
}

int
wr_http_server_handle_open(wr_http_server *srv, const char *method,
                           const char *path, bool prefix, wr_http_fn fn,
                           void *arg)
{
	return wr_http_route_add(srv, method, path, prefix, fn, arg, true);
}

void
wr_http_server_set_token(wr_http_server *srv, const char *token)
{
	snprintf(srv->token, sizeof(srv->token), "%s", token);
}

static void
wr_http_metrics_fn(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	(void)req;
	wr_metrics_render(arg, &resp->body);
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

int
wr_http_serve_metrics(wr_http_server *srv, struct wr_metrics *reg)
{
	WR_ASSERT(reg != NULL);
	return wr_http_server_handle(srv, "GET", "/metrics", false,
	                             wr_http_metrics_fn, reg);
}

static void
wr_http_healthz_fn(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	(void)arg;
	(void)req;
	wr_buf_puts(&resp->body, "ok\n");
	resp->content_type = "text/plain; charset=utf-8";
}

static void
wr_http_readyz_fn(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	const struct wr_http_health *health = arg;
	(void)req;
	bool ready = health->ready == NULL || health->ready(health->arg);
	resp->status = ready ? 200 : 503;
	wr_buf_puts(&resp->body, ready ? "ready\n" : "not ready\n");
	resp->content_type = "text/plain; charset=utf-8";
}

int
wr_http_serve_health(wr_http_server *srv, bool (*ready)(void *arg), void *arg)
{
	int rv;
	/* srv->health outlives the handlers' calls: free stops the server,
	 * which waits for running handlers, before freeing srv. */
	srv->health.ready = ready;
	srv->health.arg = arg;
	/* Open: kubelet probes carry no token, and these say nothing
	 * but "up" and "ready" (docs/security.md). */
	if ((rv = wr_http_route_add(srv, "GET", "/healthz", false,
	                            wr_http_healthz_fn, NULL, true)) != WR_OK)
		return rv;
	return wr_http_route_add(srv, "GET", "/readyz", false,
	                         wr_http_readyz_fn, &srv->health, true);
}

/* Adds the pending handlers; on failure takes back those added.
 * @locks wr_http_live_lock held. */
static int
wr_http_add_pending(wr_http_server *srv, nng_http_server *nsrv)
{
	int nrv = 0;
	size_t i;
	for (i = 0; i < srv->npending; i++)
		if ((nrv = nng_http_server_add_handler(nsrv, srv->pending[i])))
			break;
	if (nrv == 0)
		return 0;
	while (i-- > 0)
		nng_http_server_del_handler(nsrv, srv->pending[i]);
	return nrv;
}

/* @locks wr_http_live_lock held. */
static bool
wr_http_is_live(const nng_http_server *nsrv)
{
	for (const wr_http_server *s = wr_http_live; s != NULL; s = s->next)
		if (s->nsrv == nsrv)
			return true;
	return false;
}

static int
wr_http_bound_port(nng_http_server *nsrv)
{
	nng_sockaddr sa;
	if (nng_http_server_get_addr(nsrv, &sa) != 0)
		return 0;
	if (sa.s_family == NNG_AF_INET)
		return ntohs(sa.s_in.sa_port);
	if (sa.s_family == NNG_AF_INET6)
		return ntohs(sa.s_in6.sa_port);
	return 0;
}

int
wr_http_server_start(wr_http_server *srv)
{
	nng_http_server *nsrv = NULL;
	int rv, nrv;
	WR_ASSERT(srv->nsrv == NULL); /* started once */
	/* "/" as a tree, any method: nng tries longer paths first, and of
	 * paths as long those added first, so this one, added last, gets
	 * only what no other route takes (a GET on "/" routed before start
	 * comes first). */
	if ((rv = wr_http_server_handle(srv, NULL, "/", true,
	                                wr_http_fallback_fn, srv)) != WR_OK)
		return rv;
	pthread_mutex_lock(&wr_http_live_lock);
	if ((nrv = nng_http_server_hold(&nsrv, srv->url)) != 0) {
		rv = wr_err_from_nng(nrv);
		goto unlock;
	}
	if (wr_http_is_live(nsrv)) {
		rv = wr_err_from_errno(EADDRINUSE);
		goto release;
	}
	if (strcmp(srv->url->u_scheme, "https") == 0 &&
	    (nrv = wr_tls_http_setup(nsrv)) != 0) {
		rv = wr_err_from_nng(nrv);
		goto release;
	}
	if ((nrv = wr_http_add_pending(srv, nsrv)) != 0) {
		/* nng's word for two routes on one method and path */
		rv = nrv == NNG_EADDRINUSE ? WR_EEXIST : wr_err_from_nng(nrv);
		goto release;
	}
	if ((nrv = nng_http_server_start(nsrv)) != 0) {
		rv = wr_err_from_nng(nrv);
		goto del_handlers;
	}
	srv->npending = 0; /* nsrv owns them now */
	srv->nsrv = nsrv;
	srv->port = wr_http_bound_port(nsrv);
	srv->next = wr_http_live;
	wr_http_live = srv;
	pthread_mutex_unlock(&wr_http_live_lock);
	wr_log(WR_LOG_DEBUG, "HTTP-LISTENING", "host=%s port=%d",
	       srv->url->u_hostname, srv->port);
	return WR_OK;
del_handlers:
	for (size_t i = srv->npending; i-- > 0;)
		nng_http_server_del_handler(nsrv, srv->pending[i]);
release:
	nng_http_server_release(nsrv);
unlock:
	pthread_mutex_unlock(&wr_http_live_lock);
	return rv;
}

int
wr_http_server_port(const wr_http_server *srv)
{
	return srv->port;
}

void
wr_http_server_free(wr_http_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->nsrv != NULL) {
		/* Under the lock so no start can hold this nng server between
		 * our unlinking it and its closing. */
		pthread_mutex_lock(&wr_http_live_lock);
		wr_http_server **pp = &wr_http_live;
		while (*pp != srv)
			pp = &(*pp)->next;
		*pp = srv->next;
		/* Closes every connection and waits for running handlers. */
		nng_http_server_stop(srv->nsrv);
		/* The last hold: nng frees the handlers (and routes). */
		nng_http_server_release(srv->nsrv);
		pthread_mutex_unlock(&wr_http_live_lock);
	}
	for (size_t i = 0; i < srv->npending; i++)
		nng_http_handler_free(srv->pending[i]);
	free(srv->pending);
	for (size_t i = 0; i < srv->nknown; i++)
		free(srv->known[i].path);
	free(srv->known);
	pthread_mutex_destroy(&srv->known_mu);
	nng_url_free(srv->url);
	wr_auth_gate_fini(&srv->gate);
	free(srv);
}
