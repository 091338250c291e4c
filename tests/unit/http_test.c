/*
 * http_test.c - the HTTP server, driven by a plain socket client so the
 * test sees exactly the bytes on the wire.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "wrtest.h"

#include "auth.h"
#include "buf.h"
#include "err.h"
#include "http.h"
#include "mem.h"
#include "metrics.h"
#include "wr_limits.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Every socket wait is bounded: a hung server fails the test. */
#define IO_TIMEOUT_S 10

struct resp {
	int status;
	char *head; /* status line and headers */
	char *body;
	size_t body_len;
};

static void
resp_fini(struct resp *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static int
client_connect(int port)
{
	int fd = wrt_tcp_connect(port);
	assert_true(fd >= 0);
	struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		assert_true(k > 0);
		p += k;
		n -= (size_t)k;
	}
}

/* Reads until the server closes (requests say "Connection: close"). A
 * reset after the response (the server refusing an unread body) ends the
 * read like a close. */
static void
recv_all(int fd, wr_buf *out)
{
	char tmp[4096];
	for (;;) {
		ssize_t k = recv(fd, tmp, sizeof(tmp), 0);
		if (k == 0 || (k < 0 && errno == ECONNRESET && out->len > 0))
			return;
		assert_true(k > 0); /* k < 0: timed out or failed */
		wr_buf_append(out, tmp, (size_t)k);
	}
}

/* Splits the first response in raw into r; returns where the next one
 * starts. Relies on Content-Length, which nng always sends. */
static const char *
parse_resp(const char *raw, struct resp *r)
{
	const char *eoh = strstr(raw, "\r\n\r\n");
	assert_non_null(eoh);
	r->head = wr_xstrndup(raw, (size_t)(eoh - raw));
	assert_int_equal(sscanf(raw, "HTTP/1.1 %d", &r->status), 1);
	const char *cl = strcasestr(r->head, "\r\nContent-Length: ");
	assert_non_null(cl);
	r->body_len = strtoul(cl + 18, NULL, 10);
	r->body = wr_xstrndup(eoh + 4, r->body_len);
	assert_int_equal(strlen(eoh + 4) >= r->body_len, 1);
	return eoh + 4 + r->body_len;
}

/* One request on a fresh connection. */
static void
do_raw(int port, const char *req, size_t req_len, struct resp *r)
{
	wr_buf raw;
	wr_buf_init(&raw);
	int fd = client_connect(port);
	send_all(fd, req, req_len);
	recv_all(fd, &raw);
	close(fd);
	assert_true(raw.len > 0);
	parse_resp(raw.data, r);
	wr_buf_fini(&raw);
}

static void
do_req(int port, const char *method, const char *target, const char *body,
       struct resp *r)
{
	char *req = wr_xasprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                         "Connection: close\r\n"
	                         "Content-Length: %zu\r\n\r\n%s",
	                         method, target, body ? strlen(body) : 0,
	                         body ? body : "");
	do_raw(port, req, strlen(req), r);
	free(req);
}

static const char *
header(const struct resp *r, const char *name)
{
	static __thread char val[256];
	char key[64];
	snprintf(key, sizeof(key), "\r\n%s: ", name);
	const char *p = strcasestr(r->head, key);
	if (p == NULL)
		return NULL;
	p += strlen(key);
	size_t n = strcspn(p, "\r");
	snprintf(val, sizeof(val), "%.*s", (int)n, p);
	return val;
}

/* What the custom handler saw; handlers run on nng's threads. */
struct seen {
	pthread_mutex_t lock;
	int calls;
	char method[16];
	char path[128];
	char query[128];
	size_t body_len;
	char *body;
};

struct fixture {
	wr_http_server *srv;
	wr_metrics *reg;
	atomic_bool ready;
	struct seen seen;
	int port;
};

static bool
is_ready(void *arg)
{
	struct fixture *f = arg;
	return atomic_load(&f->ready);
}

static void
jobs_fn(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	struct seen *s = arg;
	pthread_mutex_lock(&s->lock);
	s->calls++;
	snprintf(s->method, sizeof(s->method), "%s", req->method);
	snprintf(s->path, sizeof(s->path), "%s", req->path);
	snprintf(s->query, sizeof(s->query), "%s", req->query);
	free(s->body);
	s->body = wr_xmalloc(req->body_len + 1);
	memcpy(s->body, req->body, req->body_len + 1); /* with its NUL */
	s->body_len = req->body_len;
	pthread_mutex_unlock(&s->lock);
	resp->status = 201;
	wr_buf_printf(&resp->body, "{\"len\":%zu}", req->body_len);
}

static void
any_fn(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	(void)arg;
	wr_buf_printf(&resp->body, "%s %s", req->method, req->path);
	resp->content_type = "text/plain";
}

static int
setup(void **state)
{
	struct fixture *f = wr_xcalloc(1, sizeof(*f));
	pthread_mutex_init(&f->seen.lock, NULL);
	atomic_init(&f->ready, false);
	f->reg = wr_metrics_new();
	wr_metric_add(wr_metrics_get(f->reg, WR_METRIC_COUNTER,
	                             "weir_job_restarts_total", "Restarts.",
	                             NULL),
	              3);
	assert_int_equal(wr_http_server_new("127.0.0.1:0", &f->srv), WR_OK);
	assert_int_equal(wr_http_serve_health(f->srv, is_ready, f), WR_OK);
	assert_int_equal(wr_http_serve_metrics(f->srv, f->reg), WR_OK);
	assert_int_equal(wr_http_server_handle(f->srv, "POST", "/jobs", true,
	                                       jobs_fn, &f->seen),
	                 WR_OK);
	assert_int_equal(
	    wr_http_server_handle(f->srv, NULL, "/any", false, any_fn, NULL),
	    WR_OK);
	assert_int_equal(wr_http_server_start(f->srv), WR_OK);
	f->port = wr_http_server_port(f->srv);
	assert_true(f->port > 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	wr_http_server_free(f->srv);
	wr_metrics_free(f->reg);
	free(f->seen.body);
	pthread_mutex_destroy(&f->seen.lock);
	free(f);
	return 0;
}

static void
test_healthz(void **state)
{
	struct fixture *f = *state;
	struct resp r = {0};
	do_req(f->port, "GET", "/healthz", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ok\n");
	resp_fini(&r);
}

static void
test_readyz(void **state)
{
	struct fixture *f = *state;
	struct resp r = {0};
	do_req(f->port, "GET", "/readyz", NULL, &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "not ready\n");
	resp_fini(&r);
	atomic_store(&f->ready, true);
	do_req(f->port, "GET", "/readyz", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ready\n");
	resp_fini(&r);
}

static void
test_metrics(void **state)
{
	struct fixture *f = *state;
	struct resp r = {0};
	do_req(f->port, "GET", "/metrics", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Type"),
	                    "text/plain; version=0.0.4; charset=utf-8");
	assert_string_equal(r.body, "# HELP weir_job_restarts_total Restarts.\n"
	                            "# TYPE weir_job_restarts_total counter\n"
	                            "weir_job_restarts_total 3\n");
	resp_fini(&r);
}

static void
test_prefix_query_body(void **state)
{
	struct fixture *f = *state;
	struct resp r = {0};
	do_req(f->port, "POST", "/jobs/abc/savepoints?mode=cancel&x=1",
	       "name: wordcount\n", &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(header(&r, "Content-Type"), "application/json");
	assert_string_equal(r.body, "{\"len\":16}");
	resp_fini(&r);
	pthread_mutex_lock(&f->seen.lock);
	assert_string_equal(f->seen.method, "POST");
	assert_string_equal(f->seen.path, "/jobs/abc/savepoints");
	assert_string_equal(f->seen.query, "mode=cancel&x=1");
	assert_int_equal(f->seen.body_len, 16);
	assert_string_equal(f->seen.body, "name: wordcount\n");
	pthread_mutex_unlock(&f->seen.lock);

	/* The prefix itself, no query, no body. */
	do_req(f->port, "POST", "/jobs", NULL, &r);
	assert_int_equal(r.status, 201);
	resp_fini(&r);
	pthread_mutex_lock(&f->seen.lock);
	assert_string_equal(f->seen.path, "/jobs");
	assert_string_equal(f->seen.query, "");
	assert_string_equal(f->seen.body, "");
	assert_int_equal(f->seen.body_len, 0);
	pthread_mutex_unlock(&f->seen.lock);
}

static void
test_any_method(void **state)
{
	struct fixture *f = *state;
	struct resp r = {0};
	do_req(f->port, "PATCH", "/any?mode=cancel", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "PATCH /any");
	assert_string_equal(header(&r, "Content-Type"), "text/plain");
	resp_fini(&r);
	do_req(f->port, "GET", "/any", NULL, &r);
	assert_string_equal(r.body, "GET /any");
	resp_fini(&r);
	/* Not a prefix route. */
	do_req(f->port, "GET", "/any/more", NULL, &r);
	assert_int_equal(r.status, 404);
	resp_fini(&r);
}

static void
test_not_found(void **state)
{
	struct fixture *f = *state;
	struct resp r = {0};
	do_req(f->port, "GET", "/nope", NULL, &r);
	assert_int_equal(r.status, 404);
	/* JSON, as the routes' own errors */
	assert_string_equal(r.body, "{\"errors\":[\"not found\"]}");
	assert_string_equal(header(&r, "Content-Type"), "application/json");
	resp_fini(&r);
	do_req(f->port, "DELETE", "/deep/er/path", NULL, &r);
	assert_int_equal(r.status, 404);
	resp_fini(&r);
	do_req(f->port, "GET", "/healthzz", NULL, &r);
	assert_int_equal(r.status, 404);
	resp_fini(&r);
	/* A known path with another method. */
	do_req(f->port, "GET", "/jobs", NULL, &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.body, "{\"errors\":[\"method not allowed\"]}");
	resp_fini(&r);
}

static void
test_oversized_body(void **state)
{
	struct fixture *f = *state;
	struct resp r = {0};
	pthread_mutex_lock(&f->seen.lock);
	int calls = f->seen.calls;
	pthread_mutex_unlock(&f->seen.lock);
	/* Refused on the header alone: the body is never sent. */
	char *req = wr_xasprintf("POST /jobs HTTP/1.1\r\nHost: x\r\n"
	                         "Content-Length: %u\r\n\r\n",
	                         WR_HTTP_MAX_BODY_BYTES + 1);
	do_raw(f->port, req, strlen(req), &r);
	free(req);
	assert_int_equal(r.status, 413);
	assert_non_null(strstr(r.head, "413 Payload Too Large\r\n"));
	assert_string_equal(header(&r, "Connection"), "close");
	/* The same shape as every other REST error (SPEC "REST"). */
	assert_string_equal(r.body,
	                    "{\"errors\":[\"request body too large\"]}");
	resp_fini(&r);

	req = "POST /jobs HTTP/1.1\r\nHost: x\r\n"
	      "Content-Length: 99999999999999999999999\r\n\r\n";
	do_raw(f->port, req, strlen(req), &r);
	assert_int_equal(r.status, 413);
	resp_fini(&r);
	req = "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n";
	do_raw(f->port, req, strlen(req), &r);
	assert_int_equal(r.status, 400);
	resp_fini(&r);
	req = "POST /jobs HTTP/1.1\r\nHost: x\r\n"
	      "Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n";
	do_raw(f->port, req, strlen(req), &r);
	assert_int_equal(r.status, 411);
	assert_string_equal(
	    r.body, "{\"errors\":[\"chunked bodies are not supported\"]}");
	resp_fini(&r);
	pthread_mutex_lock(&f->seen.lock);
	assert_int_equal(f->seen.calls, calls); /* none reached the handler */
	pthread_mutex_unlock(&f->seen.lock);
}

/* A body of exactly the limit arrives whole, over many TCP segments. */
static void
test_body_at_limit(void **state)
{
	struct fixture *f = *state;
	struct resp r = {0};
	size_t n = WR_HTTP_MAX_BODY_BYTES;
	char *body = wr_xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	body[n] = '\0';
	do_req(f->port, "POST", "/jobs/big", body, &r);
	assert_int_equal(r.status, 201);
	resp_fini(&r);
	pthread_mutex_lock(&f->seen.lock);
	assert_int_equal(f->seen.body_len, n);
	assert_memory_equal(f->seen.body, body, n + 1);
	pthread_mutex_unlock(&f->seen.lock);
	free(body);
}

/* After a request with a body, the same connection serves the next
 * request: the body was consumed exactly. */
static void
test_keep_alive(void **state)
{
	struct fixture *f = *state;
	const char req[] = "POST /jobs/a HTTP/1.1\r\nHost: x\r\n"
	                   "Content-Length: 5\r\n\r\nhello"
	                   "GET /healthz HTTP/1.1\r\nHost: x\r\n"
	                   "Connection: close\r\n\r\n";
	wr_buf raw;
	wr_buf_init(&raw);
	int fd = client_connect(f->port);
	send_all(fd, req, sizeof(req) - 1);
	recv_all(fd, &raw);
	close(fd);
	struct resp r1 = {0}, r2 = {0};
	const char *next = parse_resp(raw.data, &r1);
	parse_resp(next, &r2);
	assert_int_equal(r1.status, 201);
	assert_string_equal(r1.body, "{\"len\":5}");
	assert_int_equal(r2.status, 200);
	assert_string_equal(r2.body, "ok\n");
	resp_fini(&r1);
	resp_fini(&r2);
	wr_buf_fini(&raw);
}

static void
test_bad_addresses(void **state)
{
	(void)state;
	wr_http_server *srv = NULL;
	const char *bad[] = {"",
	                     "127.0.0.1",
	                     "127.0.0.1:",
	                     "127.0.0.1:x",
	                     "127.0.0.1:70000",
	                     "http://127.0.0.1:80",
	                     "127.0.0.1:80/path"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(wr_http_server_new(bad[i], &srv), WR_EINVAL);
	assert_int_equal(wr_http_server_new(NULL, &srv), WR_EINVAL);
	wr_http_server_free(NULL);
}

/* nng shares one server per host:port; port 0 must still give two. */
static void
test_two_ephemeral_servers(void **state)
{
	(void)state;
	wr_http_server *a, *b, *c, *d;
	assert_int_equal(wr_http_server_new("127.0.0.1:0", &a), WR_OK);
	assert_int_equal(wr_http_server_new("127.0.0.1:0", &b), WR_OK);
	assert_int_equal(wr_http_serve_health(a, NULL, NULL), WR_OK);
	assert_int_equal(wr_http_serve_health(b, NULL, NULL), WR_OK);
	assert_int_equal(wr_http_server_start(a), WR_OK);
	assert_int_equal(wr_http_server_start(b), WR_OK);
	int pa = wr_http_server_port(a), pb = wr_http_server_port(b);
	assert_true(pa > 0 && pb > 0 && pa != pb);

	/* A route added after start is served. */
	assert_int_equal(
	    wr_http_server_handle(b, NULL, "/any", false, any_fn, NULL), WR_OK);
	assert_int_equal(
	    wr_http_server_handle(b, NULL, "/any", false, any_fn, NULL),
	    WR_EEXIST);
	struct resp r = {0};
	do_req(pb, "GET", "/any", NULL, &r);
	assert_string_equal(r.body, "GET /any");
	resp_fini(&r);
	do_req(pa, "GET", "/any", NULL, &r);
	assert_int_equal(r.status, 404);
	resp_fini(&r);

	/* The same explicit port twice is a bind conflict, not a share. */
	char *addr = wr_xasprintf("127.0.0.1:%d", pa);
	assert_int_equal(wr_http_server_new(addr, &c), WR_OK);
	assert_int_equal(wr_http_server_start(c), WR_ESYSERR | EADDRINUSE);
	wr_http_server_free(c);
	assert_int_equal(wr_http_server_new("0.0.0.0:0", &d), WR_OK);
	assert_int_equal(wr_http_server_start(d), WR_OK);
	wr_http_server_free(d);

	wr_http_server_free(a);
	do_req(pb, "GET", "/healthz", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_fini(&r);
	wr_http_server_free(b);

	/* The port is free again once its server is gone. */
	assert_int_equal(wr_http_server_new(addr, &c), WR_OK);
	assert_int_equal(wr_http_serve_health(c, NULL, NULL), WR_OK);
	assert_int_equal(wr_http_server_start(c), WR_OK);
	do_req(pa, "GET", "/healthz", NULL, &r);
	assert_string_equal(r.body, "ok\n");
	resp_fini(&r);
	wr_http_server_free(c);
	free(addr);
}

/* Two routes for one method and path fail the start; free still frees
 * the routes that were never added. */
static void
test_duplicate_route(void **state)
{
	(void)state;
	wr_http_server *srv;
	assert_int_equal(wr_http_server_new("127.0.0.1:0", &srv), WR_OK);
	assert_int_equal(
	    wr_http_server_handle(srv, "GET", "/a", false, any_fn, NULL),
	    WR_OK);
	assert_int_equal(
	    wr_http_server_handle(srv, "POST", "/a", false, any_fn, NULL),
	    WR_OK);
	assert_int_equal(
	    wr_http_server_handle(srv, "GET", "/a/", true, any_fn, NULL),
	    WR_OK); /* nng tells "/a/" from "/a" */
	assert_int_equal(
	    wr_http_server_handle(srv, "GET", "/a", false, any_fn, NULL),
	    WR_OK);
	assert_int_equal(
	    wr_http_server_handle(srv, "GET", "a", false, any_fn, NULL),
	    WR_EINVAL);
	assert_int_equal(wr_http_server_start(srv), WR_EEXIST);
	assert_int_equal(wr_http_server_port(srv), 0);
	wr_http_server_free(srv);
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Free does not wait for a client stuck halfway through its body. */
static void
test_free_with_stalled_client(void **state)
{
	(void)state;
	wr_http_server *srv;
	struct seen seen = {.calls = 0};
	pthread_mutex_init(&seen.lock, NULL);
	assert_int_equal(wr_http_server_new("127.0.0.1:0", &srv), WR_OK);
	assert_int_equal(
	    wr_http_server_handle(srv, "POST", "/jobs", true, jobs_fn, &seen),
	    WR_OK);
	assert_int_equal(wr_http_server_start(srv), WR_OK);
	int fd = client_connect(wr_http_server_port(srv));
	const char req[] = "POST /jobs HTTP/1.1\r\nHost: x\r\n"
	                   "Content-Length: 100\r\n\r\nonly a part";
	send_all(fd, req, sizeof(req) - 1);
	usleep(100 * 1000); /* let the server start reading the body */
	double t0 = now_s();
	wr_http_server_free(srv);
	assert_true(now_s() - t0 < 5.0);
	/* The connection was closed without a response. */
	char tmp[64];
	assert_true(recv(fd, tmp, sizeof(tmp), 0) <= 0);
	close(fd);
	assert_int_equal(seen.calls, 0);
	pthread_mutex_destroy(&seen.lock);
}

/* GET target with an Authorization header (NULL: none). */
static void
do_auth(int port, const char *target, const char *auth, struct resp *r)
{
	char *req = wr_xasprintf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                         "Connection: close\r\n"
	                         "Content-Length: 0\r\n%s%s%s\r\n",
	                         target, auth ? "Authorization: " : "",
	                         auth ? auth : "", auth ? "\r\n" : "");
	do_raw(port, req, strlen(req), r);
	free(req);
}

/* With a token (the process's when the server was made), every route but
 * /healthz and /readyz wants "Authorization: Bearer TOKEN": 401 in REST's
 * {"errors": [...]} shape otherwise, before the body is read. */
static void
test_token_required(void **state)
{
	(void)state;
	wr_http_server *srv = NULL;
	wr_metrics *reg = wr_metrics_new();
	wr_auth_register_metrics(reg);
	struct seen seen = {0};
	struct resp r = {0};
	pthread_mutex_init(&seen.lock, NULL);
	wr_auth_set_token("s3cret");
	assert_int_equal(wr_http_server_new("127.0.0.1:0", &srv), WR_OK);
	wr_auth_set_token("");
	assert_int_equal(wr_http_serve_health(srv, NULL, NULL), WR_OK);
	assert_int_equal(wr_http_serve_metrics(srv, reg), WR_OK);
	assert_int_equal(
	    wr_http_server_handle(srv, "POST", "/jobs", true, jobs_fn, &seen),
	    WR_OK);
	assert_int_equal(wr_http_server_start(srv), WR_OK);
	int port = wr_http_server_port(srv);
	uint64_t fails = wr_auth_failures(WR_AUTH_HTTP);

	do_auth(port, "/healthz", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_fini(&r);
	do_auth(port, "/readyz", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_fini(&r);
	do_auth(port, "/metrics", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.body, "{\"errors\": [\""));
	assert_non_null(header(&r, "WWW-Authenticate"));
	resp_fini(&r);
	const char *bad[] = {"Bearer s3cre7", "Bearer s3cretX", "Basic s3cret",
	                     "Bearer", "s3cret"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		do_auth(port, "/metrics", bad[i], &r);
		assert_int_equal(r.status, 401);
		resp_fini(&r);
	}
	do_auth(port, "/metrics", "Bearer s3cret", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(
	    strstr(r.body, "weir_auth_failures_total{listener=\"http\"} "));
	resp_fini(&r);
	do_auth(port, "/metrics", "bearer  s3cret ", &r);
	assert_int_equal(r.status, 200);
	resp_fini(&r);
	/* a body is never read, the handler never called */
	do_req(port, "POST", "/jobs", "name: x\n", &r);
	assert_int_equal(r.status, 401);
	resp_fini(&r);
	assert_int_equal(seen.calls, 0);
	assert_int_equal(wr_auth_failures(WR_AUTH_HTTP), fails + 7);
	wr_http_server_free(srv);
	wr_metrics_free(reg);
	free(seen.body);
	pthread_mutex_destroy(&seen.lock);
}

/* An open page at "/": headers of its own, 304 on its ETag. */
static void
page_fn(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	(void)arg;
	resp->content_type = "text/html; charset=utf-8";
	wr_http_resp_header(resp, "ETag", "\"v1\"");
	wr_http_resp_header(resp, "Cache-Control", "no-cache");
	const char *inm = wr_http_req_header(req, "If-None-Match");
	if (inm != NULL && strcmp(inm, "\"v1\"") == 0)
		resp->status = 304;
	else
		wr_buf_puts(&resp->body, "<p>page</p>");
}

/* GET "/" can be routed (the JSON fallback, a tree on "/", comes after
 * it), open without the token, with headers of its own; every other path
 * keeps the fallback's JSON errors and the token. */
static void
test_open_root(void **state)
{
	(void)state;
	wr_http_server *srv = NULL;
	struct resp r = {0};
	/* refusals are counted: in a registry alive for this test */
	wr_metrics *reg = wr_metrics_new();
	wr_auth_register_metrics(reg);
	wr_auth_set_token("s3cret");
	assert_int_equal(wr_http_server_new("127.0.0.1:0", &srv), WR_OK);
	wr_auth_set_token("");
	assert_int_equal(
	    wr_http_server_handle_open(srv, "GET", "/", false, page_fn, NULL),
	    WR_OK);
	assert_int_equal(wr_http_server_start(srv), WR_OK);
	int port = wr_http_server_port(srv);

	do_auth(port, "/", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Type"),
	                    "text/html; charset=utf-8");
	assert_string_equal(header(&r, "ETag"), "\"v1\"");
	assert_string_equal(header(&r, "Cache-Control"), "no-cache");
	assert_string_equal(r.body, "<p>page</p>");
	resp_fini(&r);
	/* a 304 has no body: nng must still send it */
	static const char inm[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                          "Connection: close\r\n"
	                          "If-None-Match: \"v1\"\r\n\r\n";
	wr_buf raw;
	wr_buf_init(&raw);
	int fd = client_connect(port);
	send_all(fd, inm, sizeof(inm) - 1);
	recv_all(fd, &raw);
	close(fd);
	wr_buf_putc(&raw, '\0');
	assert_true(strncmp(raw.data, "HTTP/1.1 304 ", 13) == 0);
	assert_non_null(strcasestr(raw.data, "\r\nETag: \"v1\"\r\n"));
	wr_buf_fini(&raw);

	do_auth(port, "/nope", NULL, &r);
	assert_int_equal(r.status, 401);
	resp_fini(&r);
	do_auth(port, "/nope", "Bearer s3cret", &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.body, "{\"errors\":[\"not found\"]}");
	resp_fini(&r);
	char *post = wr_xasprintf("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                          "Connection: close\r\nContent-Length: 0\r\n"
	                          "Authorization: Bearer s3cret\r\n\r\n");
	do_raw(port, post, strlen(post), &r);
	free(post);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.body, "{\"errors\":[\"method not allowed\"]}");
	resp_fini(&r);
	wr_http_server_free(srv);
	wr_metrics_free(reg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_healthz),
	    cmocka_unit_test(test_readyz),
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_prefix_query_body),
	    cmocka_unit_test(test_any_method),
	    cmocka_unit_test(test_not_found),
	    cmocka_unit_test(test_oversized_body),
	    cmocka_unit_test(test_body_at_limit),
	    cmocka_unit_test(test_keep_alive),
	};
	const struct CMUnitTest solo[] = {
	    cmocka_unit_test(test_bad_addresses),
	    cmocka_unit_test(test_two_ephemeral_servers),
	    cmocka_unit_test(test_duplicate_route),
	    cmocka_unit_test(test_free_with_stalled_client),
	    cmocka_unit_test(test_token_required),
	    cmocka_unit_test(test_open_root),
	};
	int failed =
	    cmocka_run_group_tests_name("server", tests, setup, teardown);
	failed += cmocka_run_group_tests_name("lifecycle", solo, NULL, NULL);
	/* Drains nng's reaper so leak checkers see a clean exit. */
	nng_fini();
	return failed;
}
