/*
 * call.c - the one path of a JobManager request (connect, call, print the
 * reply as a table or as JSON, close), the one mapping of its errors to
 * exit codes and messages (an unresolvable host, nobody answering), and
 * the CLI's JSON output and error lines.
 */
#include "cli.h"
#include "cli_rpc.h"

#include "addr.h"
#include "buf.h"
#include "err.h"
#include "json.h"
#include "rpc.h"
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Room for the JobManager's message in an error reply: its refusal of a
 * job file may list known keys or ids. */
#define CLI_CALL_ERR_BYTES 4096

/* How long the CLI's own probe of an address that nng could not dial waits
 * for a TCP connection (cli_why_unreachable). */
#define CLI_PROBE_MS 1000

bool cli_json_errors;

/* The JobManagers given and the leader a standby named (cli_connect). */
static cli_jm cli_jms[WR_MAX_JOBMANAGERS];
static size_t cli_njms;
static char cli_named_leader[WR_ADDR_BYTES];

size_t
cli_jobmanagers(const cli_jm **v)
{
	*v = cli_jms;
	return cli_njms;
}

/* Splits the list into cli_jms (wr_addr_list_split). */
static void
cli_jm_split(const char *list)
{
	char addrs[WR_MAX_JOBMANAGERS][WR_ADDR_BYTES];
	size_t n = wr_addr_list_split(list, addrs, WR_MAX_JOBMANAGERS);
	if (n > WR_MAX_JOBMANAGERS) {
		fprintf(stderr,
		        "weir: more than %d JobManagers given; using the "
		        "first %d\n",
		        WR_MAX_JOBMANAGERS, WR_MAX_JOBMANAGERS);
		n = WR_MAX_JOBMANAGERS;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(cli_jms[i].address, sizeof(cli_jms[i].address), "%s",
		         addrs[i]);
		cli_jms[i].role[0] = '\0';
	}
	cli_njms = n;
}

/* Asks each JobManager given who leads: the address to dial. */
static const char *
cli_jm_find_leader(int timeout_ms, bool ask_all)
{
	const char *named = NULL;
	for (size_t i = 0; i < cli_njms; i++) {
		char err[256];
		cli_cluster_info ci;
		wr_rpc_client *c = NULL;
		snprintf(cli_jms[i].role, sizeof(cli_jms[i].role), "%s",
		         "unreachable");
		if (wr_rpc_client_new(cli_jms[i].address, WR_RPC_DIAL_SYNC,
		                      &c) != WR_OK)
			continue;
		if (cli_rpc_cluster_info(c, timeout_ms, &ci, err,
		                         sizeof(err)) == WR_OK) {
			snprintf(cli_jms[i].role, sizeof(cli_jms[i].role), "%s",
			         ci.role);
			bool leads = strcmp(ci.role, "leader") == 0;
			if (named == NULL && ci.leader[0] != '\0') {
				snprintf(cli_named_leader,
				         sizeof(cli_named_leader), "%s",
				         ci.leader);
				named = cli_named_leader;
			}
			cli_cluster_info_fini(&ci);
			if (leads && !ask_all) {
				/* found: a stopped JobManager further on
				 * must not hold every command up */
				wr_rpc_client_free(c);
				return cli_jms[i].address;
			}
		}
		wr_rpc_client_free(c);
	}
	for (size_t i = 0; i < cli_njms; i++)
		if (strcmp(cli_jms[i].role, "leader") == 0)
			return cli_jms[i].address;
	return named != NULL ? named : cli_jms[0].address;
}

/* Splits tcp://host:port (host maybe [v6]) into host and port; false for
 * another kind of address. */
static bool
cli_addr_host_port(const char *addr, char *host, size_t hlen, char *port,
                   size_t plen)
{
	if (strncmp(addr, "tcp://", 6) != 0)
		return false;
	const char *h = addr + 6, *colon = strrchr(h, ':');
	if (colon == NULL || colon == h)
		return false;
	size_t n = (size_t)(colon - h);
	if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	snprintf(host, hlen, "%.*s", (int)n, h);
	snprintf(port, plen, "%s", colon + 1);
	return true;
}

/* errno of a TCP connect to ai within CLI_PROBE_MS (0: it connected). */
static int
cli_probe(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errno;
	int e = 0;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		e = errno;
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (e == EINPROGRESS) {
			socklen_t len = sizeof(e);
			if (poll(&p, 1, CLI_PROBE_MS) == 1)
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
			else
				e = ETIMEDOUT;
		}
	}
	close(fd);
	return e;
}

/*
 * Why addr could not be dialled (nng said rv), in words an operator acts
 * on: a host that does not resolve, or what a plain TCP connect gets
 * (refused, no route, timed out) - nng's own codes say "invalid argument"
 * and "protocol error" for those.
 */
static void
cli_why_unreachable(const char *addr, int rv, char *buf, size_t len)
{
	char host[WR_ADDR_BYTES], port[16];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	if (!cli_addr_host_port(addr, host, sizeof(host), port, sizeof(port))) {
		snprintf(buf, len, "no JobManager answers at %s (%s)", addr,
		         wr_strerror(rv));
		return;
	}
	int g = getaddrinfo(host, port, &hints, &ai);
	if (g != 0) {
		snprintf(buf, len, "cannot resolve host %s (%s)", host,
		         gai_strerror(g));
		return;
	}
	int e = rv == WR_ECONNREFUSED ? ECONNREFUSED : cli_probe(ai);
	freeaddrinfo(ai);
	if (e == 0 && wr_tls_on())
		snprintf(
		    buf, len,
		    "no JobManager answers at %s (the TLS handshake failed: "
		    "%s; its certificate is not signed by the CA of "
		    "--tls-ca or security.tls.ca, or does not name host %s, "
		    "or it refused this CLI's certificate, or it does not "
		    "serve TLS)",
		    addr, wr_strerror(rv), host);
	else if (e == 0)
		snprintf(
		    buf, len,
		    "no JobManager answers at %s (something accepts TCP "
		    "connections there but does not speak weir's RPC: %s; "
		    "if the cluster serves TLS, give the CLI --tls-ca, see "
		    "docs/security.md)",
		    addr, wr_strerror(rv));
	else
		snprintf(buf, len, "no JobManager answers at %s (%s)", addr,
		         e == ECONNREFUSED ? "connection refused"
		                           : strerror(e));
}

/* Points ctx->jobmanager at the JobManager to dial: the one given, or the
 * leader among those given. */
static void
cli_jm_choose(cli_ctx *ctx)
{
	/* a copy: ctx->jobmanager may point into cli_jms (a verb connected
	 * before in this process: the unit tests) */
	char given[WR_MAX_JOBMANAGERS * WR_ADDR_BYTES];
	snprintf(given, sizeof(given), "%s", ctx->jobmanager);
	cli_jm_split(given);
	if (cli_njms > 1) {
		/* Each asked briefly: a dead one must not hold up finding
		 * the leader. */
		int t = (int)ctx->cfg.jm_rpc_timeout_ms;
		/* `weir cluster` shows every JobManager's role: it asks
		 * them all; other verbs stop at the leader. */
		bool all = ctx->verb != NULL &&
		           strcmp(ctx->verb->name, "cluster") == 0;
		ctx->jobmanager = cli_jm_find_leader(t < 2000 ? t : 2000, all);
	} else if (cli_njms == 1) {
		ctx->jobmanager = cli_jms[0].address;
	}
}

int
cli_connect(cli_ctx *ctx, wr_rpc_client **out)
{
	*out = NULL;
	cli_jm_choose(ctx);
	int rv = wr_rpc_client_new(ctx->jobmanager, WR_RPC_DIAL_SYNC, out);
	if (rv != WR_OK) {
		char why[WR_ADDR_BYTES + 128];
		cli_why_unreachable(ctx->jobmanager, rv, why, sizeof(why));
		cli_error(ctx->verb ? ctx->verb->name : NULL, "%s", why);
		return CLI_UNREACHABLE;
	}
	return CLI_OK;
}

bool
cli_rpc_transient(int rv)
{
	return rv == WR_ETIMEDOUT || rv == WR_EUNREACHABLE ||
	       rv == WR_ECONNREFUSED || rv == WR_ECLOSED;
}

int
cli_rpc_failed(const char *verb, const char *addr, int rv, const char *errbuf)
{
	if (cli_rpc_transient(rv)) {
		cli_error(verb, "the JobManager at %s did not answer: %s", addr,
		          wr_strerror(rv));
		return CLI_UNREACHABLE;
	}
	cli_error(verb, "%s%s%s", wr_strerror(rv), errbuf[0] ? ": " : "",
	          errbuf);
	return CLI_FAILED;
}

int
cli_call(cli_ctx *ctx, const cli_request *r, void *arg)
{
	char err[CLI_CALL_ERR_BYTES] = "";
	wr_rpc_client *cli;
	int rc = cli_connect(ctx, &cli);

	if (rc != CLI_OK)
		return rc;
	int rv = r->call(cli, (int)ctx->cfg.jm_rpc_timeout_ms, arg, err,
	                 sizeof(err));
	if (rv != WR_OK) {
		rc = cli_rpc_failed(ctx->verb->name, ctx->jobmanager, rv, err);
		goto close;
	}
	if (ctx->json && r->print_json != NULL)
		r->print_json(arg);
	else if (!ctx->json && r->print_table != NULL)
		r->print_table(arg);
	/* Before the verb goes on (run stays attached): a reader of stdout
	 * sees the reply now. */
	fflush(stdout);
	if (r->then != NULL)
		rc = r->then(ctx, cli, arg);
	if (r->fini != NULL)
		r->fini(arg);
close:
	wr_rpc_client_free(cli);
	return rc;
}

FILE *
cli_msg(const cli_ctx *ctx)
{
	return ctx->json ? stderr : stdout;
}

void
cli_json_begin(wr_buf *b, wr_json *j)
{
	wr_buf_init(b);
	wr_json_init(j, b);
}

void
cli_json_end(wr_buf *b)
{
	printf("%s\n", b->data);
	wr_buf_fini(b);
}

void
cli_json_print_str(const char *key, const char *value)
{
	wr_buf b;
	wr_json j;

	cli_json_begin(&b, &j);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, key, value);
	wr_json_obj_end(&j);
	cli_json_end(&b);
}

void
cli_error(const char *verb, const char *fmt, ...)
{
	char msg[CLI_CALL_ERR_BYTES + 256];
	va_list ap;
	cli_progress_break();
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!cli_json_errors)
		fprintf(stderr, "weir%s%s: %s\n", verb ? " " : "",
		        verb ? verb : "", msg);
	else
		cli_error_bare(msg);
}

void
cli_error_bare(const char *msg)
{
	cli_progress_break();
	if (!cli_json_errors) {
		fprintf(stderr, "%s\n", msg);
		return;
	}
	wr_buf b;
	wr_json j;
	cli_json_begin(&b, &j);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "error", msg);
	wr_json_obj_end(&j);
	fprintf(stderr, "%s\n", b.data);
	wr_buf_fini(&b);
}
