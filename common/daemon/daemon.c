/*
 * daemon.c - a weir daemon's start-up and life (daemon.h): command line,
 * config, logging, signals, the RPC serve loop, listeners.
 */
#include "daemon.h"

#include "addr.h"
#include "auth.h"
#include "tls.h"
#include "buf.h"
#include "err.h"
#include "log.h"
#include "mem.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

/* getopt_long's value for d->flags[i]: above every character. */
#define WR_DAEMON_FLAG_VAL 256

static volatile sig_atomic_t wr_daemon_stop;

static void
wr_daemon_on_signal(int sig)
{
	(void)sig;
	wr_daemon_stop = 1;
}

static size_t
wr_daemon_nflags(const wr_daemon *d)
{
	size_t n = 0;
	while (d->flags != NULL && d->flags[n].name != NULL)
		n++;
	return n;
}

/* Loads the config, then applies each flag given (or its environment
 * variable) in the order of d->flags. Returns 0 or exit code 1. */
static int
wr_daemon_config(const wr_daemon *d, const char *config, const char **values)
{
	char err[512];
	int rv = wr_cluster_config_load(d->cfg, config, err, sizeof(err));
	for (size_t i = 0; rv == WR_OK && i < wr_daemon_nflags(d); i++) {
		const wr_daemon_flag *f = &d->flags[i];
		const char *v = values[i];
		if (v == NULL && f->env != NULL)
			v = getenv(f->env);
		if (v != NULL)
			rv = wr_cfg_set(&wr_cluster_config_table, d->cfg,
			                f->key, v, err, sizeof(err));
	}
	if (rv != WR_OK) {
		fprintf(stderr, "%s: %s\n", d->prog, err);
		return 1;
	}
	return 0;
}

/* Parses the command line into the config. Returns 0 to run, -1 after
 * --help, or an exit code. */
static int
wr_daemon_parse_args(const wr_daemon *d, int argc, char **argv)
{
	size_t n = wr_daemon_nflags(d);
	struct option *opts = wr_xcalloc(n + 3, sizeof(*opts));
	const char **values = wr_xcalloc(n + 1, sizeof(*values));
	const char *config = NULL;
	int c, rc = 0;

	opts[0] = (struct option){"config", required_argument, NULL, 'c'};
	for (size_t i = 0; i < n; i++)
		opts[i + 1] =
		    (struct option){d->flags[i].name, required_argument, NULL,
		                    WR_DAEMON_FLAG_VAL + (int)i};
	opts[n + 1] = (struct option){"help", no_argument, NULL, 'h'};
	while (rc == 0 &&
	       (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'c') {
			config = optarg;
		} else if (c >= WR_DAEMON_FLAG_VAL) {
			values[c - WR_DAEMON_FLAG_VAL] = optarg;
		} else if (c == 'h') {
			fputs(d->usage, stdout);
			rc = -1;
		} else {
			fputs(d->usage, stderr);
			rc = 2;
		}
	}
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", d->prog,
		        argv[optind]);
		rc = 2;
	}
	if (rc == 0)
		rc = wr_daemon_config(d, config, values);
	free(values);
	free(opts);
	return rc;
}

/* Serves requests until a signal arrives or the RPC server fails. */
static void
wr_daemon_serve(const wr_daemon *d)
{
	while (!wr_daemon_stop) {
		wr_rpc_req *req;
		int rv = wr_rpc_server_next(*d->rpc, d->tick_ms, &req);
		if (rv == WR_OK)
			d->dispatch(d->arg, req);
		else if (rv != WR_ETIMEDOUT)
			break;
		d->tick(d->arg);
	}
}

/* Loads security.token_file, when set, as the process's token: before
 * start opens any listener, so none serves without it. */
static int
wr_daemon_load_token(const wr_daemon *d)
{
	char tok[WR_AUTH_TOKEN_MAX_BYTES + 1], err[512 + WR_ADDR_BYTES];
	if (d->cfg->token_file[0] == '\0')
		return WR_OK;
	int rv = wr_auth_load(d->cfg->token_file, tok, err, sizeof(err));
	if (rv != WR_OK) {
		wr_log(WR_LOG_ERROR, "AUTH-TOKEN-FILE",
		       "cannot start: security.token_file: %s", err);
		return rv;
	}
	wr_auth_set_token(tok);
	return WR_OK;
}

/* Sets security.tls up, when set: before start opens any listener, so
 * none serves in clear. A daemon listens, so it needs its own cert. */
static int
wr_daemon_load_tls(const wr_daemon *d)
{
	char err[512 + 3 * WR_ADDR_BYTES];
	const wr_cluster_config *c = d->cfg;
	int rv = WR_EINVAL;
	if (c->tls_cert[0] == '\0' && c->tls_ca[0] != '\0')
		snprintf(
		    err, sizeof(err),
		    "security.tls.ca is set without cert and key: a daemon "
		    "needs a certificate of its own to serve TLS");
	else
		rv = wr_tls_setup(c->tls_cert, c->tls_key, c->tls_ca, err,
		                  sizeof(err));
	if (rv != WR_OK) {
		wr_log(WR_LOG_ERROR, "TLS-CONFIG", "cannot start: %s", err);
		return rv;
	}
	if (wr_tls_on())
		wr_log(WR_LOG_INFO, "TLS-ON",
		       "every listener serves TLS, every dialer uses it; "
		       "peers %s",
		       wr_tls_verifies() ? "verified against security.tls.ca"
		                         : "NOT verified (no security.tls.ca)");
	return WR_OK;
}

int
wr_daemon_main(const wr_daemon *d, int argc, char **argv)
{
	wr_log_set_role(d->role);
	wr_log_init_from_env();
	int rc = wr_daemon_parse_args(d, argc, argv);
	if (rc != 0) {
		wr_cluster_config_free(d->cfg);
		return rc < 0 ? 0 : rc;
	}
	if (getenv("WEIR_LOG_LEVEL") == NULL)
		wr_log_set_level(d->cfg->log_level);
	if (getenv("WEIR_LOG_FORMAT") == NULL)
		wr_log_set_format(d->cfg->log_format);
	if (wr_daemon_load_token(d) != WR_OK ||
	    wr_daemon_load_tls(d) != WR_OK) {
		wr_cluster_config_free(d->cfg);
		return 1;
	}
	wr_daemon_stop = 0;
	struct sigaction sa = {.sa_handler = wr_daemon_on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	bool started = d->start(d->arg) == WR_OK;
	if (started)
		wr_daemon_serve(d);
	d->stop(d->arg, started);
	wr_cluster_config_free(d->cfg);
	return started ? 0 : 1;
}

int
wr_daemon_listen_rpc(const char *url, const char *name, const char *event,
                     wr_rpc_server **out)
{
	int rv = wr_rpc_server_new(url, name, out);
	if (rv != WR_OK)
		wr_log(WR_LOG_ERROR, event, "cannot listen on %s: %s", url,
		       wr_strerror(rv));
	return rv;
}

int
wr_daemon_serve_http(const char *addr, const char *what, const char *event,
                     int (*routes)(void *arg, wr_http_server *srv), void *arg,
                     wr_http_server **out)
{
	int rv;
	if ((rv = wr_http_server_new(addr, out)) != WR_OK ||
	    (rv = routes(arg, *out)) != WR_OK ||
	    (rv = wr_http_server_start(*out)) != WR_OK)
		wr_log(WR_LOG_ERROR, event, "cannot serve %s on %s: %s", what,
		       addr, wr_strerror(rv));
	return rv;
}

/* The bind host of a listener, "" when addr cannot be read. */
static void
wr_daemon_bind_host(const char *addr, char *host, size_t len)
{
	int port;
	if (wr_addr_split(addr, host, len, &port) != WR_OK)
		host[0] = '\0';
}

bool
wr_daemon_warn_exposed(const wr_cluster_config *cfg,
                       const wr_daemon_listener *l, size_t n)
{
	char host[WR_ADDR_BYTES];
	wr_buf b;
	if (cfg->token_file[0] != '\0')
		return false;
	wr_buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		wr_daemon_bind_host(l[i].addr, host, sizeof(host));
		if (!wr_addr_is_loopback(host))
			wr_buf_printf(&b, "%s%s=%s", b.len ? " " : "", l[i].key,
			              l[i].addr);
	}
	bool warn = b.len > 0;
	if (warn)
		wr_log(WR_LOG_WARN, "DAEMON-EXPOSED",
		       "listening beyond loopback without security.token_file "
		       "(%s): whoever reaches these ports can run and cancel "
		       "jobs; keep them on a private network",
		       b.data);
	wr_buf_fini(&b);
	return warn;
}

bool
wr_daemon_warn_unreachable(const char *adv_key, const char *adv,
                           const wr_daemon_listener *l, size_t n)
{
	char host[WR_ADDR_BYTES];
	wr_buf b;
	if (adv[0] == '\0' || wr_addr_is_loopback(adv))
		return false;
	wr_buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		wr_daemon_bind_host(l[i].addr, host, sizeof(host));
		if (wr_addr_is_loopback(host))
			wr_buf_printf(&b, "%s%s=%s", b.len ? " " : "", l[i].key,
			              l[i].addr);
	}
	bool warn = b.len > 0;
	if (warn)
		wr_log(
		    WR_LOG_WARN, "DAEMON-ADVERTISE",
		    "%s is %s but %s listen on loopback only: other hosts "
		    "cannot reach them (bind 0.0.0.0 or this host's address)",
		    adv_key, adv, b.data);
	wr_buf_fini(&b);
	return warn;
}
