/*
 * main.c - weir-jobmanager, the JobManager daemon.
 *
 * One main thread owns the cluster state: it takes RPC requests from the
 * server's queue, answers them, and every tick declares lost the
 * TaskManagers whose heartbeats stopped. REST is served by nng's threads.
 */
#include "jm_int.h"

#include "objstore.h"

#include "addr.h"
#include "clock.h"
#include "err.h"
#include "http.h"
#include "id.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "rpc.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often the main loop checks heartbeats when no request arrives: small
 * against heartbeat_timeout, so a lost TaskManager is declared within
 * timeout + this. */
#define JM_TICK_MS 100

static volatile sig_atomic_t jm_stop;

static void
jm_on_signal(int sig)
{
	(void)sig;
	jm_stop = 1;
}

static void
jm_usage(FILE *f)
{
	fprintf(f,
	        "usage: weir-jobmanager [--config FILE] [--rpc URL] "
	        "[--rest HOST:PORT]\n"
	        "\n"
	        "The weir JobManager: keeps the registry of TaskManagers and "
	        "their slots,\n"
	        "serves the CLI over RPC and REST on --rest.\n"
	        "\n"
	        "  --config FILE     cluster config (weir.yaml); env WEIR_* "
	        "overrides it\n"
	        "  --rpc URL         RPC listen URL (jobmanager.rpc)\n"
	        "  --rest HOST:PORT  REST listen address (jobmanager.rest)\n"
	        "  --help            this text\n");
}

/* Parses the command line into the config. Returns 0 to run, or an exit
 * code. */
static int
jm_parse_args(jm_server *jm, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"rpc", required_argument, NULL, 'r'},
	    {"rest", required_argument, NULL, 'R'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *rpc = NULL, *rest = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'r':
			rpc = optarg;
			break;
		case 'R':
			rest = optarg;
			break;
		case 'h':
			jm_usage(stdout);
			return -1;
		default:
			jm_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "weir-jobmanager: unexpected argument '%s'\n",
		        argv[optind]);
		return 2;
	}
	char err[512];
	if (wr_cluster_config_load(&jm->cfg, config, err, sizeof(err)) !=
	        WR_OK ||
	    (rpc && wr_cfg_set(&wr_cluster_config_table, &jm->cfg,
	                       "jobmanager.rpc", rpc, err, sizeof(err))) ||
	    (rest && wr_cfg_set(&wr_cluster_config_table, &jm->cfg,
	                        "jobmanager.rest", rest, err, sizeof(err)))) {
		fprintf(stderr, "weir-jobmanager: %s\n", err);
		return 1;
	}
	return 0;
}

/* The REST handlers' way to the main thread: a client of our own RPC
 * endpoint, on loopback unless the listener is bound to one address. */
static int
jm_self_client(jm_server *jm)
{
	char host[WR_ADDR_BYTES - 32];
	int port;
	if (wr_addr_split(jm->cfg.jm_rpc, host, sizeof(host), &port) != WR_OK ||
	    wr_addr_is_wildcard(host))
		snprintf(host, sizeof(host), "127.0.0.1");
	snprintf(jm->self_address, sizeof(jm->self_address), "tcp://%s:%d",
	         host, wr_rpc_server_port(jm->rpc));
	return wr_rpc_client_new(jm->self_address, 0, &jm->self);
}

static int
jm_start(jm_server *jm)
{
	int rv;
	wr_id_hex(jm->instance, sizeof(jm->instance), 16);
	jm->start_wall_ms = wr_wall_ms();
	jm->metrics = wr_metrics_new();
	jm->tms = jm_tmreg_new(jm->metrics, jm->cfg.jm_heartbeat_timeout_ms);
	jm->jobs = jm_jobs_new(jm);
	char serr[512] = "";
	if ((rv = wr_objstore_open(jm->cfg.ckpt_storage, &jm->store, serr,
	                           sizeof(serr))) != WR_OK) {
		/* Jobs run; checkpoints fail with the reason. */
		wr_log(WR_LOG_ERROR, "JM-STORAGE", "checkpoint storage %s: %s",
		       jm->cfg.ckpt_storage, serr);
		jm->store = NULL;
	}
	jm->clients = wr_xcalloc(JM_MAX_TM_CLIENTS, sizeof(jm_tm_client));
	wr_metric_set(wr_metrics_get(jm->metrics, WR_METRIC_GAUGE,
	                             "weir_jobmanager_leader",
	                             "1 while this JobManager leads", NULL),
	              1);
	if ((rv = wr_rpc_server_new(jm->cfg.jm_rpc, "JobManager", &jm->rpc))) {
		wr_log(WR_LOG_ERROR, "JM-RPC-LISTEN", "cannot listen on %s: %s",
		       jm->cfg.jm_rpc, wr_strerror(rv));
		return rv;
	}
	snprintf(jm->leader, sizeof(jm->leader), "%s", jm->cfg.jm_address);
	if ((rv = jm_self_client(jm)) != WR_OK)
		return rv;
	if ((rv = wr_http_server_new(jm->cfg.jm_rest, &jm->http)) ||
	    (rv = jm_rest_init(jm)) || (rv = wr_http_server_start(jm->http))) {
		wr_log(WR_LOG_ERROR, "JM-REST-LISTEN",
		       "cannot serve REST on %s: %s", jm->cfg.jm_rest,
		       wr_strerror(rv));
		return rv;
	}
	wr_log(WR_LOG_INFO, "JM-STARTED",
	       "rpc=%s port=%d rest=%s port=%d instance=%s heartbeat=%lldms/"
	       "%lldms",
	       jm->cfg.jm_rpc, wr_rpc_server_port(jm->rpc), jm->cfg.jm_rest,
	       wr_http_server_port(jm->http), jm->instance,
	       (long long)jm->cfg.jm_heartbeat_interval_ms,
	       (long long)jm->cfg.jm_heartbeat_timeout_ms);
	return WR_OK;
}

static void
jm_on_tm_lost(void *arg, const jm_tm *tm)
{
	jm_server *jm = arg;
	jm_jobs_tm_lost(jm->jobs, tm);
}

static void
jm_run(jm_server *jm)
{
	while (!jm_stop) {
		wr_rpc_req *req;
		int rv = wr_rpc_server_next(jm->rpc, JM_TICK_MS, &req);
		if (rv == WR_OK)
			jm_rpc_dispatch(jm, req);
		else if (rv != WR_ETIMEDOUT)
			break;
		int64_t now = wr_mono_ms();
		jm_tmreg_expire(jm->tms, now, jm_on_tm_lost, jm);
		jm_jobs_tick(jm->jobs, now);
	}
}

static void
jm_stop_all(jm_server *jm)
{
	wr_http_server_free(jm->http);
	wr_rpc_client_free(jm->self);
	for (size_t i = 0; i < jm->nclients; i++)
		wr_rpc_client_free(jm->clients[i].cli);
	free(jm->clients);
	jm_jobs_free(jm->jobs);
	wr_objstore_close(jm->store);
	wr_rpc_server_free(jm->rpc);
	jm_tmreg_free(jm->tms);
	wr_metrics_free(jm->metrics);
	wr_cluster_config_free(&jm->cfg);
}

int
main(int argc, char **argv)
{
	static jm_server jm;
	wr_log_set_role("jobmanager");
	wr_log_init_from_env();
	int rc = jm_parse_args(&jm, argc, argv);
	if (rc != 0) {
		wr_cluster_config_free(&jm.cfg);
		return rc < 0 ? 0 : rc;
	}
	if (getenv("WEIR_LOG_LEVEL") == NULL)
		wr_log_set_level(jm.cfg.log_level);
	struct sigaction sa = {.sa_handler = jm_on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (jm_start(&jm) != WR_OK) {
		jm_stop_all(&jm);
		return 1;
	}
	jm_run(&jm);
	wr_log(WR_LOG_INFO, "JM-STOPPING", "shutting down");
	jm_stop_all(&jm);
	return 0;
}
