/*
 * main.c - weir-taskmanager, the TaskManager daemon: offers its slots to
 * the JobManager, heartbeats, and serves /metrics, /healthz and /readyz.
 */
#include "tm_int.h"

#include "addr.h"
#include "clock.h"
#include "err.h"
#include "http.h"
#include "id.h"
#include "log.h"
#include "metrics.h"
#include "rpc.h"
#include "shuffle.h"
#include "task.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t tm_stop_signal;

static void
tm_on_signal(int sig)
{
	(void)sig;
	tm_stop_signal = 1;
}

static void
tm_usage(FILE *f)
{
	fprintf(f,
	        "usage: weir-taskmanager [--config FILE] [--jobmanager URL] "
	        "[--slots N]\n"
	        "                        [--rpc URL] [--metrics HOST:PORT]\n"
	        "\n"
	        "A weir TaskManager: registers its slots with the JobManager "
	        "and runs tasks.\n"
	        "\n"
	        "  --config FILE       cluster config (weir.yaml); env WEIR_* "
	        "overrides it\n"
	        "  --jobmanager URL    JobManager RPC address (env "
	        "WEIR_JOBMANAGER;\n"
	        "                      default jobmanager.address)\n"
	        "  --slots N           task slots offered "
	        "(taskmanager.slots)\n"
	        "  --rpc URL           RPC listen URL (taskmanager.rpc)\n"
	        "  --metrics HOST:PORT /metrics, /healthz, /readyz "
	        "(taskmanager.metrics)\n"
	        "  --help              this text\n");
}

/* Applies one command-line override; prints the error. */
static int
tm_set(tm_server *tm, const char *key, const char *value)
{
	char err[512];
	if (value == NULL)
		return 0;
	if (wr_cfg_set(&wr_cluster_config_table, &tm->cfg, key, value, err,
	               sizeof(err)) != WR_OK) {
		fprintf(stderr, "weir-taskmanager: %s\n", err);
		return 1;
	}
	return 0;
}

static int
tm_parse_args(tm_server *tm, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"jobmanager", required_argument, NULL, 'j'},
	    {"slots", required_argument, NULL, 's'},
	    {"rpc", required_argument, NULL, 'r'},
	    {"metrics", required_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *jmaddr = getenv("WEIR_JOBMANAGER");
	const char *slots = NULL, *rpc = NULL, *metrics = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'j':
			jmaddr = optarg;
			break;
		case 's':
			slots = optarg;
			break;
		case 'r':
			rpc = optarg;
			break;
		case 'm':
			metrics = optarg;
			break;
		case 'h':
			tm_usage(stdout);
			return -1;
		default:
			tm_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "weir-taskmanager: unexpected argument '%s'\n",
		        argv[optind]);
		return 2;
	}
	char err[512];
	if (wr_cluster_config_load(&tm->cfg, config, err, sizeof(err))) {
		fprintf(stderr, "weir-taskmanager: %s\n", err);
		return 1;
	}
	if (tm_set(tm, "jobmanager.address", jmaddr) ||
	    tm_set(tm, "taskmanager.slots", slots) ||
	    tm_set(tm, "taskmanager.rpc", rpc) ||
	    tm_set(tm, "taskmanager.metrics", metrics))
		return 1;
	return 0;
}

/* The host other processes reach this TaskManager at: taskmanager.host,
 * else the RPC listen host, else the local address that routes to the
 * JobManager. */
static int
tm_advertised_host(tm_server *tm, char *host, size_t hostlen)
{
	char h[WR_ADDR_BYTES];
	int port;
	if (tm->cfg.tm_host[0] != '\0') {
		snprintf(host, hostlen, "%s", tm->cfg.tm_host);
		return WR_OK;
	}
	if (wr_addr_split(tm->cfg.tm_rpc, h, sizeof(h), &port) == WR_OK &&
	    !wr_addr_is_wildcard(h)) {
		snprintf(host, hostlen, "%s", h);
		return WR_OK;
	}
	if (wr_addr_split(tm->cfg.jm_address, h, sizeof(h), &port) != WR_OK)
		return WR_EINVAL;
	return wr_addr_local_ip_toward(h, port, host, hostlen);
}

static void
tm_metrics_init(tm_server *tm)
{
	tm->metrics = wr_metrics_new();
	tm->m_registered = wr_metrics_get(
	    tm->metrics, WR_METRIC_GAUGE, "weir_taskmanager_registered",
	    "1 while registered with the JobManager", NULL);
	tm->m_registrations =
	    wr_metrics_get(tm->metrics, WR_METRIC_COUNTER,
	                   "weir_taskmanager_registrations_total",
	                   "Successful registrations with a JobManager", NULL);
	tm->m_hb_failures = wr_metrics_get(
	    tm->metrics, WR_METRIC_COUNTER,
	    "weir_taskmanager_heartbeat_failures_total",
	    "Heartbeats to the JobManager that got no reply", NULL);
	static const char *const sfree[] = {"state", "free", NULL};
	static const char *const sused[] = {"state", "used", NULL};
	const char *h = "Task slots of this TaskManager, by state";
	tm->m_slots_free = wr_metrics_get(tm->metrics, WR_METRIC_GAUGE,
	                                  "weir_taskmanager_slots", h, sfree);
	tm->m_slots_used = wr_metrics_get(tm->metrics, WR_METRIC_GAUGE,
	                                  "weir_taskmanager_slots", h, sused);
	wr_metric_set(tm->m_slots_free, tm->slots);
	wr_metric_set(tm->m_slots_used, 0);
}

static bool
tm_ready(void *arg)
{
	tm_server *tm = arg;
	return atomic_load(&tm->registered);
}

static int
tm_start_http(tm_server *tm, const char *host)
{
	int rv;
	if ((rv = wr_http_server_new(tm->cfg.tm_metrics, &tm->http)) ||
	    (rv = wr_http_serve_metrics(tm->http, tm->metrics)) ||
	    (rv = wr_http_serve_health(tm->http, tm_ready, tm)) ||
	    (rv = wr_http_server_start(tm->http))) {
		wr_log(WR_LOG_ERROR, "TM-METRICS-LISTEN",
		       "cannot serve /metrics on %s: %s", tm->cfg.tm_metrics,
		       wr_strerror(rv));
		return rv;
	}
	snprintf(tm->metrics_address, sizeof(tm->metrics_address), "%s:%d",
	         host, wr_http_server_port(tm->http));
	return WR_OK;
}

static int
tm_start(tm_server *tm)
{
	int rv;
	char host[WR_ADDR_BYTES - 48], suffix[7];
	tm->slots = (uint32_t)tm->cfg.tm_slots;
	tm->start_wall_ms = wr_wall_ms();
	tm_metrics_init(tm);
	if ((rv = wr_rpc_server_new(tm->cfg.tm_rpc, "TaskManager", &tm->rpc))) {
		wr_log(WR_LOG_ERROR, "TM-RPC-LISTEN", "cannot listen on %s: %s",
		       tm->cfg.tm_rpc, wr_strerror(rv));
		return rv;
	}
	if ((rv = tm_advertised_host(tm, host, sizeof(host))) != WR_OK) {
		wr_log(WR_LOG_ERROR, "TM-HOST",
		       "cannot tell which address to advertise (set "
		       "taskmanager.host): %s",
		       wr_strerror(rv));
		return rv;
	}
	int port = wr_rpc_server_port(tm->rpc);
	snprintf(tm->rpc_address, sizeof(tm->rpc_address), "tcp://%s:%d", host,
	         port);
	wr_id_hex(suffix, sizeof(suffix), 3);
	snprintf(tm->id, sizeof(tm->id), "%s:%d-%s", host, port, suffix);
	if ((rv = tm_shuffle_new(tm->cfg.tm_data, &tm->shuffle)) != WR_OK) {
		wr_log(WR_LOG_ERROR, "TM-DATA-LISTEN",
		       "cannot listen on %s: %s", tm->cfg.tm_data,
		       wr_strerror(rv));
		return rv;
	}
	snprintf(tm->data_address, sizeof(tm->data_address), "tcp://%s:%d",
	         host, tm_shuffle_port(tm->shuffle));
	tm->tasks = tm_tasks_new(tm);
	if ((rv = wr_rpc_client_new(tm->cfg.jm_address, 0, &tm->jm_cli)) !=
	    WR_OK)
		return rv;
	if ((rv = tm_start_http(tm, host)) != WR_OK)
		return rv;
	wr_log(WR_LOG_INFO, "TM-STARTED",
	       "id=%s rpc=%s data=%s slots=%u metrics=%s jobmanager=%s", tm->id,
	       tm->rpc_address, tm->data_address, tm->slots,
	       tm->metrics_address, tm->cfg.jm_address);
	return tm_link_start(tm);
}

int
main(int argc, char **argv)
{
	static tm_server tm;
	wr_log_set_role("taskmanager");
	wr_log_init_from_env();
	int rc = tm_parse_args(&tm, argc, argv);
	if (rc != 0) {
		wr_cluster_config_free(&tm.cfg);
		return rc < 0 ? 0 : rc;
	}
	if (getenv("WEIR_LOG_LEVEL") == NULL)
		wr_log_set_level(tm.cfg.log_level);
	struct sigaction sa = {.sa_handler = tm_on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	bool linked = false;
	if (tm_start(&tm) != WR_OK) {
		rc = 1;
		goto stop;
	}
	linked = true;
	while (!tm_stop_signal) {
		wr_rpc_req *req;
		int rv = wr_rpc_server_next(tm.rpc, 100, &req);
		if (rv == WR_OK)
			tm_rpc_dispatch(&tm, req);
		else if (rv != WR_ETIMEDOUT)
			break;
		tm_tasks_reap(tm.tasks);
	}
	wr_log(WR_LOG_INFO, "TM-STOPPING", "id=%s shutting down", tm.id);
stop:
	tm_tasks_stop(tm.tasks); /* heartbeats go on while tasks end */
	if (linked)
		tm_link_stop(&tm);
	tm_tasks_free(tm.tasks);
	wr_rpc_client_free(tm.jm_cli);
	tm_shuffle_free(tm.shuffle);
	wr_http_server_free(tm.http);
	wr_rpc_server_free(tm.rpc);
	wr_metrics_free(tm.metrics);
	wr_cluster_config_free(&tm.cfg);
	return rc;
}
