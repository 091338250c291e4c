/*
 * main.c - weir-taskmanager, the TaskManager daemon: offers its slots to
 * the JobManager, heartbeats, and serves /metrics, /healthz and /readyz.
 */
#include "tm_int.h"

#include "addr.h"
#include "auth.h"
#include "clock.h"
#include "daemon.h"
#include "err.h"
#include "http.h"
#include "id.h"
#include "log.h"
#include "metrics.h"
#include "procstat.h"
#include "rpc.h"
#include "shuffle.h"
#include "task.h"

#include <stdio.h>
#include <string.h>

/* How often finished tasks are reaped when no request arrives. */
#define TM_TICK_MS 100

static const char tm_usage[] =
    "usage: weir-taskmanager [--config FILE] [--jobmanager URL] "
    "[--slots N]\n"
    "                        [--rpc URL] [--data URL] [--metrics HOST:PORT]\n"
    "                        [--advertise HOST]\n"
    "\n"
    "A weir TaskManager: registers its slots with the JobManager "
    "and runs tasks.\n"
    "\n"
    "  --config FILE       cluster config (weir.yaml); env WEIR_* "
    "overrides it\n"
    "  --jobmanager URL    JobManager RPC address, or several "
    "comma-separated\n"
    "                      (HA: the leader is found; env "
    "WEIR_JOBMANAGER;\n"
    "                      default jobmanager.address)\n"
    "  --slots N           task slots offered "
    "(taskmanager.slots)\n"
    "  --rpc URL           RPC listen URL (taskmanager.rpc)\n"
    "  --data URL          record batch listen URL (taskmanager.data)\n"
    "  --advertise HOST    host other hosts reach this TaskManager at\n"
    "                      (taskmanager.advertise; env "
    "WEIR_TASKMANAGER_ADVERTISE)\n"
    "  --metrics HOST:PORT /metrics, /healthz, /readyz "
    "(taskmanager.metrics)\n"
    "  --help              this text\n";

static const wr_daemon_flag tm_flags[] = {
    {"jobmanager", "jobmanager.address", "WEIR_JOBMANAGER"},
    {"slots", "taskmanager.slots", NULL},
    {"rpc", "taskmanager.rpc", NULL},
    {"data", "taskmanager.data", NULL},
    {"metrics", "taskmanager.metrics", NULL},
    {"advertise", "taskmanager.advertise", NULL},
    {NULL, NULL, NULL},
};

/* taskmanager.advertise, else the deprecated taskmanager.host, checked
 * to be one host; "" when neither is set. */
static int
tm_advertise_setting(tm_server *tm, char *host, size_t hostlen)
{
	const char *key = "taskmanager.advertise", *v = tm->cfg.tm_advertise;
	host[0] = '\0';
	if (v[0] == '\0' && tm->cfg.tm_host[0] != '\0') {
		key = "taskmanager.host";
		v = tm->cfg.tm_host;
		wr_log(WR_LOG_WARN, "TM-HOST-DEPRECATED",
		       "taskmanager.host is deprecated: set "
		       "taskmanager.advertise (WEIR_TASKMANAGER_ADVERTISE)");
	}
	if (v[0] == '\0')
		return WR_OK;
	if (wr_addr_host_only(v, host, hostlen) != WR_OK) {
		wr_log(WR_LOG_ERROR, "TM-ADVERTISE",
		       "%s '%s': give one host name or IP, without scheme or "
		       "port (a wildcard cannot be dialed)",
		       key, v);
		return WR_EINVAL;
	}
	return WR_OK;
}

/* The host other processes reach this TaskManager at, for its RPC, data
 * and metrics addresses alike: taskmanager.advertise, else the RPC
 * listen host, else the local address that routes to the JobManager. */
static int
tm_advertised_host(tm_server *tm, char *host, size_t hostlen)
{
	char h[WR_ADDR_BYTES];
	int port, rv = tm_advertise_setting(tm, host, hostlen);
	if (rv != WR_OK || host[0] != '\0')
		return rv;
	if (wr_addr_split(tm->cfg.tm_rpc, h, sizeof(h), &port) == WR_OK &&
	    !wr_addr_is_wildcard(h)) {
		snprintf(host, hostlen, "%s", h);
		return WR_OK;
	}
	rv = wr_addr_split(tm->jm_addrs[0], h, sizeof(h), &port);
	if (rv == WR_OK)
		rv = wr_addr_local_ip_toward(h, port, host, hostlen);
	if (rv != WR_OK)
		wr_log(WR_LOG_ERROR, "TM-HOST",
		       "cannot tell which address to advertise (set "
		       "taskmanager.advertise): %s",
		       wr_strerror(rv));
	return rv;
}

/* The warnings about listeners at start (daemon.h), before the first
 * listener opens. */
static void
tm_warn_listeners(tm_server *tm)
{
	const wr_daemon_listener l[] = {
	    {"taskmanager.rpc", tm->cfg.tm_rpc},
	    {"taskmanager.data", tm->cfg.tm_data},
	    {"taskmanager.metrics", tm->cfg.tm_metrics},
	};
	size_t n = sizeof(l) / sizeof(l[0]);
	const char *adv = tm->cfg.tm_advertise[0] != '\0' ? tm->cfg.tm_advertise
	                                                  : tm->cfg.tm_host;
	wr_daemon_warn_exposed(&tm->cfg, l, n);
	wr_daemon_warn_unreachable(tm->cfg.tm_advertise[0] != '\0'
	                               ? "taskmanager.advertise"
	                               : "taskmanager.host",
	                           adv, l, n);
}

static void
tm_metrics_init(tm_server *tm)
{
	tm->metrics = wr_metrics_new();
	wr_proc_metrics_install(tm->metrics);
	wr_auth_register_metrics(tm->metrics);
	wr_rpc_register_metrics(tm->metrics);
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
	tm->m_stale_epoch = wr_metrics_get(
	    tm->metrics, WR_METRIC_COUNTER,
	    "weir_taskmanager_stale_epoch_total",
	    "Messages refused for a leader epoch lower than one seen", NULL);
	tm->m_not_adopted = wr_metrics_get(
	    tm->metrics, WR_METRIC_COUNTER,
	    "weir_taskmanager_tasks_not_adopted_total",
	    "Tasks cancelled because no JobManager kept them", NULL);
}

static bool
tm_ready(void *arg)
{
	tm_server *tm = arg;
	return atomic_load(&tm->registered);
}

/* /metrics, /healthz and /readyz (ready once registered). */
static int
tm_routes(void *arg, wr_http_server *srv)
{
	tm_server *tm = arg;
	int rv = wr_http_serve_metrics(srv, tm->metrics);
	return rv != WR_OK ? rv : wr_http_serve_health(srv, tm_ready, tm);
}

static int
tm_start_http(tm_server *tm, const char *host)
{
	int rv =
	    wr_daemon_serve_http(tm->cfg.tm_metrics, "/metrics",
	                         "TM-METRICS-LISTEN", tm_routes, tm, &tm->http);
	if (rv != WR_OK)
		return rv;
	char url[WR_ADDR_BYTES];
	wr_addr_tcp_url(host, wr_http_server_port(tm->http), url, sizeof(url));
	/* host:port, without the scheme */
	snprintf(tm->metrics_address, sizeof(tm->metrics_address), "%s",
	         url + strlen("tcp://"));
	return WR_OK;
}

static int
tm_start(void *arg)
{
	tm_server *tm = arg;
	int rv;
	char host[WR_ADDR_BYTES - 48], suffix[7];
	tm->slots = (uint32_t)tm->cfg.tm_slots;
	tm->start_wall_ms = wr_wall_ms();
	pthread_mutex_init(&tm->stale_mu, NULL);
	/* The adoption grace of tasks counts from the start at the latest. */
	atomic_store(&tm->confirmed_ms, wr_mono_ms());
	tm->n_jm = wr_addr_list_split(tm->cfg.jm_address, tm->jm_addrs,
	                              WR_MAX_JOBMANAGERS);
	if (tm->n_jm == 0 || tm->n_jm > WR_MAX_JOBMANAGERS) {
		wr_log(WR_LOG_ERROR, "TM-JM-ADDRESS",
		       "jobmanager address '%s': give 1 to %d addresses",
		       tm->cfg.jm_address, WR_MAX_JOBMANAGERS);
		return WR_EINVAL;
	}
	tm_metrics_init(tm);
	tm_warn_listeners(tm);
	if ((rv = wr_daemon_listen_rpc(tm->cfg.tm_rpc, "TaskManager",
	                               "TM-RPC-LISTEN", &tm->rpc)) != WR_OK)
		return rv;
	if ((rv = tm_advertised_host(tm, host, sizeof(host))) != WR_OK)
		return rv;
	int port = wr_rpc_server_port(tm->rpc);
	wr_addr_tcp_url(host, port, tm->rpc_address, sizeof(tm->rpc_address));
	wr_id_hex(suffix, sizeof(suffix), 3);
	snprintf(tm->id, sizeof(tm->id), "%s:%d-%s", host, port, suffix);
	if ((rv = tm_shuffle_new(tm->cfg.tm_data, &tm->shuffle)) != WR_OK) {
		wr_log(WR_LOG_ERROR, "TM-DATA-LISTEN",
		       "cannot listen on %s: %s", tm->cfg.tm_data,
		       wr_strerror(rv));
		return rv;
	}
	wr_addr_tcp_url(host, tm_shuffle_port(tm->shuffle), tm->data_address,
	                sizeof(tm->data_address));
	tm->tasks = tm_tasks_new(tm);
	for (size_t i = 0; i < tm->n_jm; i++)
		if ((rv = wr_rpc_client_new(tm->jm_addrs[i], 0,
		                            &tm->jm_clis[i])) != WR_OK)
			return rv;
	if ((rv = tm_start_http(tm, host)) != WR_OK)
		return rv;
	wr_log(WR_LOG_INFO, "TM-STARTED",
	       "id=%s rpc=%s data=%s slots=%u metrics=%s jobmanager=%s", tm->id,
	       tm->rpc_address, tm->data_address, tm->slots,
	       tm->metrics_address, tm->cfg.jm_address);
	return tm_link_start(tm);
}

static void
tm_dispatch(void *arg, wr_rpc_req *req)
{
	tm_rpc_dispatch(arg, req);
}

static void
tm_tick(void *arg)
{
	tm_server *tm = arg;
	tm_tasks_reap(tm->tasks);
	tm_link_grace(tm);
	uint32_t used = tm_tasks_slots_used(tm->tasks);
	wr_metric_set(tm->m_slots_used, used);
	wr_metric_set(tm->m_slots_free,
	              used < tm->slots ? tm->slots - used : 0);
}

static void
tm_stop(void *arg, bool started)
{
	tm_server *tm = arg;
	if (started)
		wr_log(WR_LOG_INFO, "TM-STOPPING", "id=%s shutting down",
		       tm->id);
	tm_tasks_stop(tm->tasks); /* heartbeats go on while tasks end */
	if (started)
		tm_link_stop(tm);
	tm_tasks_free(tm->tasks);
	for (size_t i = 0; i < tm->n_jm; i++)
		wr_rpc_client_free(tm->jm_clis[i]);
	tm_shuffle_free(tm->shuffle);
	wr_http_server_free(tm->http);
	wr_rpc_server_free(tm->rpc);
	wr_metrics_free(tm->metrics);
}

int
main(int argc, char **argv)
{
	static tm_server tm;
	const wr_daemon d = {.prog = "weir-taskmanager",
	                     .role = "taskmanager",
	                     .usage = tm_usage,
	                     .flags = tm_flags,
	                     .cfg = &tm.cfg,
	                     .arg = &tm,
	                     .start = tm_start,
	                     .rpc = &tm.rpc,
	                     .dispatch = tm_dispatch,
	                     .tick_ms = TM_TICK_MS,
	                     .tick = tm_tick,
	                     .stop = tm_stop};
	return wr_daemon_main(&d, argc, argv);
}
