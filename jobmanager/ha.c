/*
 * ha.c - the JobManager's side of high availability (ha.h): the election,
 * the hand-over of its events to the loop, taking over and stepping down.
 *
 * The elector calls jm_ha_on_change on its own thread; that only records
 * the event and wakes the loop, which acts on it in jm_ha_tick (the loop
 * owns the jobs, the store and the TaskManager clients). Leadership as
 * other threads see it (REST, RPC answers) is wr_elector_is_leader itself
 * once the loop has taken over, so a leader past its lease deadline stops
 * answering as leader on every thread at that instant.
 */
#include "ha.h"

#include "jm_int.h"
#include "jobstore.h"

#include "elector.h"
#include "err.h"
#include "etcd.h"
#include "id.h"
#include "log.h"
#include "metrics.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bounds one etcd request to one endpoint: well under the lease, so a
 * leader whose etcd hangs still reaches its step-down deadline in time. */
#define JM_HA_ETCD_TIMEOUT_MS 1000

/* Runs on the elector's thread: record, wake the loop, nothing more. */
static void
jm_ha_on_change(void *arg, bool leader, int64_t epoch)
{
	jm_server *jm = arg;
	atomic_store(&jm->ha_event, leader ? epoch : -1);
	wr_rpc_server_wake(jm->rpc);
}

static void
jm_ha_set_gauge(jm_server *jm, int v)
{
	wr_metric_set(wr_metrics_get(jm->metrics, WR_METRIC_GAUGE,
	                             "weir_jobmanager_leader",
	                             "1 while this JobManager leads", NULL),
	              v);
}

int
jm_ha_start(jm_server *jm)
{
	char err[512] = "", prefix[WR_ADDR_BYTES], suffix[17];
	int rv;
	if (jm->cfg.ha_mode == WR_HA_NONE) {
		atomic_store(&jm->leading, true);
		jm_ha_set_gauge(jm, 1);
		return WR_OK;
	}
	jm_ha_set_gauge(jm, 0);
	rv = wr_etcd_new(jm->cfg.ha_etcd_endpoints, JM_HA_ETCD_TIMEOUT_MS,
	                 &jm->etcd, err, sizeof(err));
	if (rv != WR_OK) {
		wr_log(WR_LOG_ERROR, "JM-HA-ETCD",
		       "high_availability.etcd.endpoints: %s", err);
		return rv;
	}
	/* The address others dial, then a suffix: a restarted process is a
	 * new candidate, never mistaken for the leader it was. */
	wr_id_hex(suffix, sizeof(suffix), 8);
	snprintf(jm->identity, sizeof(jm->identity), "%s#%s",
	         jm->cfg.jm_address, suffix);
	snprintf(prefix, sizeof(prefix), "/weir/%s", jm->cfg.ha_cluster_id);
	wr_elector_cfg ec = {.kind = WR_ELECTOR_ETCD,
	                     .identity = jm->identity,
	                     .endpoints = jm->cfg.ha_etcd_endpoints,
	                     .prefix = prefix,
	                     .lease_ms = jm->cfg.ha_lease_ms,
	                     .renew_ms = jm->cfg.ha_renew_ms,
	                     .retry_ms = jm->cfg.ha_retry_ms,
	                     .on_change = jm_ha_on_change,
	                     .arg = jm};
	rv = wr_elector_start(&ec, &jm->elector, err, sizeof(err));
	if (rv != WR_OK) {
		wr_log(WR_LOG_ERROR, "JM-HA-ELECTOR", "%s", err);
		return rv;
	}
	wr_log(WR_LOG_INFO, "JM-HA-STANDBY",
	       "standby: campaigning as %s in etcd %s under %s (lease %lldms, "
	       "renew %lldms, retry %lldms)",
	       jm->identity, jm->cfg.ha_etcd_endpoints, prefix,
	       (long long)jm->cfg.ha_lease_ms, (long long)jm->cfg.ha_renew_ms,
	       (long long)jm->cfg.ha_retry_ms);
	return WR_OK;
}

/* Leadership ended: nothing of it may act any more. _exit, not exit: no
 * atexit handler, no flush of anything the leadership buffered. */
static void __attribute__((noreturn))
jm_ha_deposed(jm_server *jm, const char *why)
{
	wr_log(WR_LOG_ERROR, "JM-HA-DEPOSED",
	       "epoch %llu: %s; exiting with %d so a supervisor restarts "
	       "this JobManager as a standby",
	       (unsigned long long)jm->epoch, why, JM_EXIT_DEPOSED);
	_exit(JM_EXIT_DEPOSED);
}

/* This candidate won: the store of this epoch, then its jobs. */
static void
jm_ha_take_over(jm_server *jm, int64_t epoch)
{
	char err[512] = "", key[WR_ADDR_BYTES];
	snprintf(key, sizeof(key), "/weir/%s/leader", jm->cfg.ha_cluster_id);
	jm->epoch = (uint64_t)epoch;
	if (jm_jobstore_open_etcd(jm->etcd, jm->cfg.ha_cluster_id, key, epoch,
	                          &jm->jobstore, err, sizeof(err)) != WR_OK ||
	    jm_jobstore_begin(jm->jobstore, &jm->epoch, err, sizeof(err)) !=
	        WR_OK) {
		/* A leader without its store would run jobs nobody can
		 * recover: give the leadership up instead. */
		jm_ha_deposed(jm, err);
	}
	atomic_store(&jm->leading, true);
	jm_ha_set_gauge(jm, 1);
	wr_log(WR_LOG_INFO, "JM-HA-LEADER",
	       "leader: epoch %lld, job store in etcd under /weir/%s/jobs/",
	       (long long)epoch, jm->cfg.ha_cluster_id);
	jm_store_recover(jm);
}

void
jm_ha_tick(jm_server *jm)
{
	if (jm->elector == NULL)
		return;
	int64_t ev = atomic_exchange(&jm->ha_event, 0);
	bool was = atomic_load(&jm->leading);
	if (ev < 0 && was)
		jm_ha_deposed(jm, "the elector reports the leadership lost");
	if (was && !wr_elector_is_leader(jm->elector, NULL))
		jm_ha_deposed(jm, "the lease deadline passed");
	if (ev > 0 && !was)
		jm_ha_take_over(jm, ev);
}

bool
jm_ha_leading(jm_server *jm)
{
	if (jm->elector == NULL)
		return atomic_load(&jm->leading);
	return atomic_load(&jm->leading) &&
	       wr_elector_is_leader(jm->elector, NULL);
}

void
jm_ha_leader(jm_server *jm, char *addr, size_t len)
{
	int64_t epoch;
	if (jm_ha_leading(jm)) {
		snprintf(addr, len, "%s", jm->cfg.jm_address);
		return;
	}
	if (jm->elector == NULL ||
	    wr_elector_leader(jm->elector, addr, len, &epoch) != WR_OK) {
		snprintf(addr, len, "%s", "");
		return;
	}
	/* The identity is ADDR#SUFFIX: clients dial ADDR. */
	char *hash = strchr(addr, '#');
	if (hash != NULL)
		*hash = '\0';
}

void
jm_ha_not_leader(jm_server *jm, char *msg, size_t len)
{
	char addr[WR_ADDR_BYTES];
	jm_ha_leader(jm, addr, sizeof(addr));
	if (addr[0] == '\0' || strcmp(addr, jm->cfg.jm_address) == 0)
		snprintf(msg, len, "%sno leader is elected yet",
		         JM_HA_NOT_LEADER);
	else
		snprintf(msg, len, "%s%s%s", JM_HA_NOT_LEADER, JM_HA_LEADER_IS,
		         addr);
}

void
jm_ha_stop(jm_server *jm)
{
	wr_elector_stop(jm->elector);
	jm->elector = NULL;
	wr_etcd_free(jm->etcd);
	jm->etcd = NULL;
}
