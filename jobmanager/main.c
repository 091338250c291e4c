/*
 * main.c - weir-jobmanager, the JobManager daemon.
 *
 * One main thread, the loop, owns the cluster state and never waits for
 * another process. Each turn it takes one RPC request from the server's
 * queue and answers it, then drains the completion events of its calls to
 * TaskManagers (tmclients.c), runs the commands REST queued (cmd.c),
 * declares lost the TaskManagers whose heartbeats stopped, moves jobs and
 * checkpoints on and republishes what REST GETs read (snapshot.c). Other
 * threads that queue work for it wake it (wr_rpc_server_wake). REST is
 * served by nng's threads; the call threads make the calls to
 * TaskManagers. At start it takes its epoch from the job store (jobstore.c)
 * and, once that machinery exists, recovers the jobs the store holds.
 */
#include "cmd.h"
#include "ha.h"
#include "jm_int.h"
#include "jobstore.h"
#include "upgrade.h"
#include "snapshot.h"

#include "objstore.h"

#include "addr.h"
#include "auth.h"
#include "clock.h"
#include "daemon.h"
#include "err.h"
#include "http.h"
#include "id.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "procstat.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often the main loop checks heartbeats when no request arrives: small
 * against heartbeat_timeout, so a lost TaskManager is declared within
 * timeout + this. */
#define JM_TICK_MS 100

static const char jm_usage[] =
    "usage: weir-jobmanager [--config FILE] [--rpc URL] "
    "[--rest HOST:PORT] [--address URL]\n"
    "                       [--advertise ADDR]\n"
    "\n"
    "The weir JobManager: keeps the registry of TaskManagers and "
    "their slots,\n"
    "serves the CLI over RPC and REST on --rest.\n"
    "\n"
    "  --config FILE     cluster config (weir.yaml); env WEIR_* "
    "overrides it\n"
    "  --rpc URL         RPC listen URL (jobmanager.rpc)\n"
    "  --rest HOST:PORT  REST listen address (jobmanager.rest)\n"
    "  --address URL     URL others dial to reach this JobManager "
    "(jobmanager.address;\n"
    "                    its own address when --advertise is not given)\n"
    "  --advertise ADDR  this JobManager's RPC address as other hosts "
    "reach it:\n"
    "                    host, host:port or tcp://host:port "
    "(jobmanager.advertise;\n"
    "                    with HA, its identity and what a standby points "
    "clients to)\n"
    "  --help            this text\n";

static const wr_daemon_flag jm_flags[] = {
    {"rpc", "jobmanager.rpc", NULL},
    {"rest", "jobmanager.rest", NULL},
    {"address", "jobmanager.address", NULL},
    {"advertise", "jobmanager.advertise", NULL},
    {NULL, NULL, NULL},
};

/* The job store in the checkpoint storage (mode none) and this
 * JobManager's epoch from its counter. */
static void
jm_open_jobstore(jm_server *jm)
{
	char err[512] = "";
	if (jm_jobstore_open_objstore(jm->cfg.ckpt_storage, &jm->jobstore, err,
	                              sizeof(err)) != WR_OK) {
		wr_log(WR_LOG_ERROR, "JM-JOBSTORE",
		       "job store in %s: %s; jobs will not survive a restart",
		       jm->cfg.ckpt_storage, err);
		jm->jobstore = NULL;
		return;
	}
	if (jm_jobstore_begin(jm->jobstore, &jm->epoch, err, sizeof(err)) !=
	    WR_OK) {
		/* As with storage that cannot be opened: jobs run (their
		 * checkpoints fail with the reason), not durably. */
		wr_log(WR_LOG_ERROR, "JM-JOBSTORE",
		       "job store in %s: cannot take an epoch: %s; no job "
		       "recovered, jobs will not survive a restart",
		       jm->cfg.ckpt_storage, err);
		jm_jobstore_close(jm->jobstore);
		jm->jobstore = NULL;
		return;
	}
	wr_log(WR_LOG_INFO, "JM-EPOCH", "epoch %llu (job store in %s)",
	       (unsigned long long)jm->epoch, jm->cfg.ckpt_storage);
}

/* The warnings about the listeners (daemon.h), and jm->advertised from
 * jobmanager.advertise (no port: the one the RPC listener bound), else
 * jobmanager.address. */
static int
jm_advertise(jm_server *jm)
{
	const wr_daemon_listener l[] = {
	    {"jobmanager.rpc", jm->cfg.jm_rpc},
	    {"jobmanager.rest", jm->cfg.jm_rest},
	};
	char host[WR_ADDR_BYTES];
	int port;
	const char *adv = jm->cfg.jm_advertise;
	wr_daemon_warn_exposed(&jm->cfg, l, sizeof(l) / sizeof(l[0]));
	if (adv[0] == '\0') {
		/* With HA the address is this JobManager's identity: a list
		 * (a config shared with the TaskManagers) names none. */
		if (jm->cfg.ha_mode != WR_HA_NONE &&
		    strchr(jm->cfg.jm_address, ',') != NULL) {
			wr_log(WR_LOG_ERROR, "JM-ADVERTISE",
			       "jobmanager.address '%s' lists several "
			       "JobManagers: set jobmanager.advertise (or "
			       "--advertise, WEIR_JOBMANAGER_ADVERTISE) to "
			       "this one's address",
			       jm->cfg.jm_address);
			return WR_EINVAL;
		}
		snprintf(jm->advertised, sizeof(jm->advertised), "%s",
		         jm->cfg.jm_address);
		return WR_OK;
	}
	if (wr_addr_advertised_url(adv, wr_rpc_server_port(jm->rpc),
	                           jm->advertised,
	                           sizeof(jm->advertised)) != WR_OK) {
		wr_log(WR_LOG_ERROR, "JM-ADVERTISE",
		       "jobmanager.advertise '%s': give host, host:port or "
		       "tcp://host:port, not a wildcard",
		       adv);
		return WR_EINVAL;
	}
	wr_addr_split(jm->advertised, host, sizeof(host), &port);
	wr_daemon_warn_unreachable("jobmanager.advertise", host, l, 1);
	return WR_OK;
}

/* The REST handlers (rest.c) on jm->http. */
static int
jm_routes(void *arg, wr_http_server *srv)
{
	(void)srv;
	return jm_rest_init(arg);
}

/* Another thread queued work for the loop. */
static void
jm_wake(void *arg)
{
	jm_server *jm = arg;
	wr_rpc_server_wake(jm->rpc);
}

static void jm_pipe_closed(void *arg, uint32_t pipe);

static int
jm_start(void *arg)
{
	jm_server *jm = arg;
	int rv;
	char perr[512] = "";
	if ((rv = jm_policy_init(&jm->policy, jm->cfg.allowed_paths,
	                         jm->cfg.allowed_kafka, jm->cfg.allowed_hosts,
	                         perr, sizeof(perr))) != WR_OK) {
		wr_log(WR_LOG_ERROR, "JM-CONFIG", "%s", perr);
		return rv;
	}
	wr_id_hex(jm->instance, sizeof(jm->instance), 16);
	jm->start_wall_ms = wr_wall_ms();
	jm->metrics = wr_metrics_new();
	wr_proc_metrics_install(jm->metrics);
	wr_auth_register_metrics(jm->metrics);
	wr_rpc_register_metrics(jm->metrics);
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
	/* modes etcd, kubernetes: the store of the leadership, once won
	 * (ha.c). */
	if (jm->cfg.ha_mode == WR_HA_NONE)
		jm_open_jobstore(jm);
	if ((rv = wr_daemon_listen_rpc(jm->cfg.jm_rpc, "JobManager",
	                               "JM-RPC-LISTEN", &jm->rpc)) != WR_OK ||
	    (rv = jm_advertise(jm)) != WR_OK)
		return rv;
	pthread_mutex_init(&jm->closed.mu, NULL);
	if ((rv = wr_rpc_server_on_close(jm->rpc, jm_pipe_closed, jm)) != WR_OK)
		return rv;
	if ((rv = jm_ha_start(jm)) != WR_OK)
		return rv;
	jm->out = &jm_out_rpc;
	jm->tmc = jm_tmc_new(jm->tms, jm_wake, jm);
	jm->cmdq = jm_cmdq_new();
	jm->snap = jm_snap_new();
	jm->upgrades = jm_upgrades_new();
	/* With the machinery above: a recovered job queues its calls on
	 * jm->tmc from the first turn on, and the first snapshot lists it. */
	if (jm->cfg.ha_mode == WR_HA_NONE)
		jm_store_recover(jm);
	jm_snap_publish(jm->snap, jm->jobs, wr_mono_ms());
	rv = wr_daemon_serve_http(jm->cfg.jm_rest, "REST", "JM-REST-LISTEN",
	                          jm_routes, jm, &jm->http);
	if (rv != WR_OK)
		return rv;
	wr_log(WR_LOG_INFO, "JM-STARTED",
	       "rpc=%s port=%d advertise=%s rest=%s port=%d instance=%s "
	       "heartbeat=%lldms/%lldms",
	       jm->cfg.jm_rpc, wr_rpc_server_port(jm->rpc), jm->advertised,
	       jm->cfg.jm_rest, wr_http_server_port(jm->http), jm->instance,
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
jm_dispatch(void *arg, wr_rpc_req *req)
{
	jm_server *jm = arg;
	jm_rpc_dispatch(jm, req);
	jm_snap_touch(jm->snap);
}

/* A call to a TaskManager ended. */
static void
jm_on_call_done(void *arg, const jm_call_done *d)
{
	jm_server *jm = arg;
	jm_tm_call_failed(d);
	jm_jobs_call_done(jm->jobs, d);
}

/* Bounds the probe of a TaskManager whose connection closed: a refusal
 * comes at once; a host that does not answer is left to the heartbeat
 * timeout. */
#define JM_TM_PROBE_MS 100
/* How long a TaskManager whose connection closed is probed for. */
#define JM_TM_SUSPECT_MS 1000

/* A connection to the RPC port closed. @thread nng */
static void
jm_pipe_closed(void *arg, uint32_t pipe)
{
	jm_server *jm = arg;
	pthread_mutex_lock(&jm->closed.mu);
	if (jm->closed.n < JM_CLOSED_PIPES_MAX)
		jm->closed.v[jm->closed.n++] = pipe;
	pthread_mutex_unlock(&jm->closed.mu);
	wr_rpc_server_wake(jm->rpc);
}

/*
 * A TaskManager whose process died closed its connections at once: when
 * the one its heartbeats came on closes and its RPC port refuses a
 * connection, it is lost now, not a heartbeat timeout later. A dying
 * process may close that connection before its listening socket, so the
 * port is probed again every JM_TICK_MS for JM_TM_SUSPECT_MS. Anything
 * else (a reconnect, a host that does not answer, a stopped process whose
 * kernel still accepts) waits for the timeout.
 */
static void
jm_check_closed_pipes(jm_server *jm, int64_t now)
{
	jm_closed_pipes *cp = &jm->closed;
	uint32_t v[JM_CLOSED_PIPES_MAX];
	pthread_mutex_lock(&cp->mu);
	int n = cp->n;
	memcpy(v, cp->v, (size_t)n * sizeof(v[0]));
	cp->n = 0;
	pthread_mutex_unlock(&cp->mu);
	for (int i = 0; i < n && cp->nsuspects < JM_CLOSED_PIPES_MAX; i++) {
		jm_tm tm;
		if (!jm_tmreg_by_pipe(jm->tms, v[i], &tm))
			continue; /* a CLI's, or an old connection */
		jm_tm_suspect *x = &cp->suspects[cp->nsuspects++];
		snprintf(x->id, sizeof(x->id), "%s", tm.id);
		snprintf(x->rpc_address, sizeof(x->rpc_address), "%s",
		         tm.rpc_address);
		x->pipe = v[i];
		x->until = now + JM_TM_SUSPECT_MS;
	}
	for (int i = 0; i < cp->nsuspects; i++) {
		jm_tm_suspect *x = &cp->suspects[i];
		jm_tm tm;
		char host[WR_ADDR_BYTES];
		int port;
		bool drop = now > x->until ||
		            !jm_tmreg_by_pipe(jm->tms, x->pipe, &tm) ||
		            wr_addr_split(x->rpc_address, host, sizeof(host),
		                          &port) != WR_OK;
		if (!drop && wr_addr_probe_tcp(host, port, JM_TM_PROBE_MS) ==
		                 WR_ECONNREFUSED) {
			jm_tmreg_lose(
			    jm->tms, x->id,
			    "closed its connection and its port "
			    "refuses connections: its process is gone",
			    now, jm_on_tm_lost, jm);
			drop = true;
		}
		if (drop)
			cp->suspects[i--] = cp->suspects[--cp->nsuspects];
	}
}

/* The rest of a turn, after each request and each JM_TICK_MS without
 * one: events, commands, heartbeats, jobs, the snapshot. */
static void
jm_tick(void *arg)
{
	jm_server *jm = arg;
	jm_ha_tick(jm);
	if (jm_tmc_drain(jm->tmc, jm_on_call_done, jm) > 0)
		jm_snap_touch(jm->snap);
	if (jm_cmdq_run(jm) == JM_CMDQ_BATCH)
		wr_rpc_server_wake(jm->rpc); /* more wait: the next turn */
	int64_t now = wr_mono_ms();
	jm_check_closed_pipes(jm, now);
	jm_tmreg_expire(jm->tms, now, jm_on_tm_lost, jm);
	jm_jobs_tick(jm->jobs, now);
	jm_upgrades_tick(jm, now);
	jm_snap_tick(jm->snap, jm->jobs, now);
}

static void
jm_stop(void *arg, bool started)
{
	jm_server *jm = arg;
	if (started)
		wr_log(WR_LOG_INFO, "JM-STOPPING", "shutting down");
	/* REST first (no handler runs after), then the call threads (they
	 * wake the loop through jm->rpc), then what they pointed into. */
	wr_http_server_free(jm->http);
	jm_cmdq_free(jm->cmdq);
	jm_tmc_free(jm->tmc);
	jm_snap_free(jm->snap);
	jm_upgrades_free(jm->upgrades);
	jm_jobs_free(jm->jobs);
	jm_jobstore_close(jm->jobstore);
	jm_ha_stop(jm);
	wr_objstore_close(jm->store);
	wr_rpc_server_free(jm->rpc);
	jm_tmreg_free(jm->tms);
	wr_metrics_free(jm->metrics);
	jm_policy_fini(&jm->policy);
}

int
main(int argc, char **argv)
{
	static jm_server jm;
	const wr_daemon d = {.prog = "weir-jobmanager",
	                     .role = "jobmanager",
	                     .usage = jm_usage,
	                     .flags = jm_flags,
	                     .cfg = &jm.cfg,
	                     .arg = &jm,
	                     .start = jm_start,
	                     .rpc = &jm.rpc,
	                     .dispatch = jm_dispatch,
	                     .tick_ms = JM_TICK_MS,
	                     .tick = jm_tick,
	                     .stop = jm_stop};
	return wr_daemon_main(&d, argc, argv);
}
