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
 *
 * Mode etcd: the elector and the job store in etcd. Mode kubernetes: the
 * elector on a coordination.k8s.io Lease (epoch leaseTransitions + 1) and
 * the job store in the checkpoint storage, every write fenced by the
 * elector's deadline (jm_ha_holds) and the stored epoch (jobstore.c).
 */
#include "ha.h"

#include "jm_int.h"
#include "jobstore.h"

#include "elector.h"
#include "addr.h"
#include "err.h"
#include "etcd.h"
#include "id.h"
#include "k8s_lease.h"
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

/* Bounds the probe of a leader's RPC port: a refusal comes at once; no
 * answer in this time is not a refusal. */
#define JM_HA_PROBE_MS 100

/* Runs on the elector's thread: whether the leader named holder (its
 * identity, ADDR#SUFFIX) is gone. A leader at this JobManager's own address
 * is the process this one replaced (a supervisor's restart): it is gone for
 * certain, since this process holds the address now. Another is gone when
 * its RPC port refuses connections. */
static int
jm_ha_probe(void *arg, const char *holder)
{
	jm_server *jm = arg;
	char addr[WR_ADDR_BYTES], host[WR_ADDR_BYTES];
	int port;
	snprintf(addr, sizeof(addr), "%s", holder);
	char *hash = strchr(addr, '#');
	if (hash != NULL)
		*hash = '\0';
	if (strcmp(holder, jm->identity) != 0 &&
	    wr_addr_same(addr, jm->advertised))
		return WR_ENOENT;
	if (wr_addr_split(addr, host, sizeof(host), &port) != WR_OK)
		return WR_EINVAL;
	return wr_addr_probe_tcp(host, port, JM_HA_PROBE_MS);
}

static void
jm_ha_set_gauge(jm_server *jm, int v)
{
	wr_metric_set(wr_metrics_get(jm->metrics, WR_METRIC_GAUGE,
	                             "weir_jobmanager_leader",
	                             "1 while this JobManager leads", NULL),
	              v);
}

/* The etcd client of the job store, and the elector's settings. */
static int
jm_ha_cfg_etcd(jm_server *jm, wr_elector_cfg *ec, char *where, size_t len)
{
	char err[512] = "";
	int rv = wr_etcd_new(jm->cfg.ha_etcd_endpoints, JM_HA_ETCD_TIMEOUT_MS,
	                     &jm->etcd, err, sizeof(err));
	if (rv != WR_OK) {
		wr_log(WR_LOG_ERROR, "JM-HA-ETCD",
		       "high_availability.etcd.endpoints: %s", err);
		return rv;
	}
	ec->kind = WR_ELECTOR_ETCD;
	ec->endpoints = jm->cfg.ha_etcd_endpoints;
	snprintf(where, len, "etcd %s under /weir/%s",
	         jm->cfg.ha_etcd_endpoints, jm->cfg.ha_cluster_id);
	return WR_OK;
}

/* The Lease's settings; api must outlive the elector's start. */
static int
jm_ha_cfg_k8s(jm_server *jm, wr_elector_cfg *ec, char *api, size_t apilen,
              char *where, size_t len)
{
	char err[512] = "";
	if (wr_k8s_api_url(jm->cfg.ha_k8s_api, api, apilen, err, sizeof(err)) !=
	    WR_OK) {
		wr_log(WR_LOG_ERROR, "JM-HA-K8S", "%s", err);
		return WR_EINVAL;
	}
	ec->kind = WR_ELECTOR_KUBERNETES;
	ec->k8s_api = api;
	ec->k8s_namespace = jm->cfg.ha_k8s_namespace;
	ec->k8s_lease = jm->cfg.ha_k8s_lease;
	ec->k8s_token_file = jm->cfg.ha_k8s_token_file;
	ec->k8s_ca_file = jm->cfg.ha_k8s_ca_file;
	snprintf(where, len, "Lease %s/%s at %s", jm->cfg.ha_k8s_namespace,
	         jm->cfg.ha_k8s_lease, api);
	return WR_OK;
}

int
jm_ha_start(jm_server *jm)
{
	char err[512] = "", prefix[WR_ADDR_BYTES], suffix[17];
	char api[WR_URL_BYTES], where[WR_URL_BYTES + WR_ADDR_BYTES];
	int rv;
	if (jm->cfg.ha_mode == WR_HA_NONE) {
		atomic_store(&jm->leading, true);
		jm_ha_set_gauge(jm, 1);
		return WR_OK;
	}
	jm_ha_set_gauge(jm, 0);
	/* The address others dial, then a suffix: a restarted process is a
	 * new candidate, never mistaken for the leader it was. */
	wr_id_hex(suffix, sizeof(suffix), 8);
	snprintf(jm->identity, sizeof(jm->identity), "%s#%s", jm->advertised,
	         suffix);
	snprintf(prefix, sizeof(prefix), "/weir/%s", jm->cfg.ha_cluster_id);
	wr_elector_cfg ec = {.identity = jm->identity,
	                     .prefix = prefix,
	                     .lease_ms = jm->cfg.ha_lease_ms,
	                     .renew_ms = jm->cfg.ha_renew_ms,
	                     .retry_ms = jm->cfg.ha_retry_ms,
	                     .on_change = jm_ha_on_change,
	                     .arg = jm,
	                     .probe = jm_ha_probe};
	rv =
	    jm->cfg.ha_mode == WR_HA_KUBERNETES
	        ? jm_ha_cfg_k8s(jm, &ec, api, sizeof(api), where, sizeof(where))
	        : jm_ha_cfg_etcd(jm, &ec, where, sizeof(where));
	if (rv != WR_OK)
		return rv;
	rv = wr_elector_start(&ec, &jm->elector, err, sizeof(err));
	if (rv != WR_OK) {
		wr_log(WR_LOG_ERROR, "JM-HA-ELECTOR", "%s", err);
		return rv;
	}
	wr_log(WR_LOG_INFO, "JM-HA-STANDBY",
	       "standby: campaigning as %s in %s (lease %lldms, renew %lldms, "
	       "retry %lldms)",
	       jm->identity, where, (long long)jm->cfg.ha_lease_ms,
	       (long long)jm->cfg.ha_renew_ms, (long long)jm->cfg.ha_retry_ms);
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

/* The fence of the job store in mode kubernetes: this JobManager still
 * leads at epoch by its own lease deadline (the loop's thread). */
static bool
jm_ha_holds(void *arg, uint64_t epoch)
{
	jm_server *jm = arg;
	int64_t cur = 0;
	return wr_elector_is_leader(jm->elector, &cur) &&
	       (uint64_t)cur == epoch;
}

/* The store of this leadership: in etcd fenced by the leader key's
 * revision, or in the checkpoint storage fenced by the Lease. */
static int
jm_ha_open_store(jm_server *jm, int64_t epoch, char *where, size_t wlen,
                 char *err, size_t errlen)
{
	char key[WR_ADDR_BYTES];
	if (jm->cfg.ha_mode == WR_HA_KUBERNETES) {
		snprintf(where, wlen, "in %s", jm->cfg.ckpt_storage);
		return jm_jobstore_open_objstore_fenced(
		    jm->cfg.ckpt_storage, (uint64_t)epoch, jm_ha_holds, jm,
		    &jm->jobstore, err, errlen);
	}
	snprintf(where, wlen, "in etcd under /weir/%s/jobs/",
	         jm->cfg.ha_cluster_id);
	snprintf(key, sizeof(key), "/weir/%s/leader", jm->cfg.ha_cluster_id);
	return jm_jobstore_open_etcd(jm->etcd, jm->cfg.ha_cluster_id, key,
	                             epoch, &jm->jobstore, err, errlen);
}

/* This candidate won: the store of this epoch, then its jobs. */
static void
jm_ha_take_over(jm_server *jm, int64_t epoch)
{
	char err[512] = "", where[WR_URL_BYTES];
	jm->epoch = (uint64_t)epoch;
	if (jm_ha_open_store(jm, epoch, where, sizeof(where), err,
	                     sizeof(err)) != WR_OK ||
	    jm_jobstore_begin(jm->jobstore, &jm->epoch, err, sizeof(err)) !=
	        WR_OK) {
		/* A leader without its store would run jobs nobody can
		 * recover: give the leadership up instead. */
		jm_ha_deposed(jm, err);
	}
	atomic_store(&jm->leading, true);
	jm_ha_set_gauge(jm, 1);
	wr_log(WR_LOG_INFO, "JM-HA-LEADER", "leader: epoch %lld, job store %s",
	       (long long)epoch, where);
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
		snprintf(addr, len, "%s", jm->advertised);
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
	if (addr[0] == '\0' || wr_addr_same(addr, jm->advertised))
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
