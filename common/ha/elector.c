/*
 * elector.c - the leader-election thread of elector.h: campaigns and
 * renewals through a backend (elector_etcd.c, elector_k8s.c), the
 * leadership's deadline, and the last leader seen.
 */
#include "elector_int.h"

#include "clock.h"
#include "err.h"
#include "log.h"
#include "mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct wr_elector {
	wr_elector_cfg cfg; /* its strings are not kept: see the backends */
	char *identity;
	char *name; /* what is elected, for logs */
	const wr_elect_backend *ops;
	void *backend;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;      /* @locks mu */
	bool leader;        /* @locks mu */
	int64_t deadline;   /* @locks mu: monotonic ms the leadership ends */
	int64_t epoch;      /* @locks mu: ours while leader */
	char seen[256];     /* @locks mu: last leader seen, "" if none */
	int64_t seen_epoch; /* @locks mu */
	int64_t last_warn;  /* elector thread only: rate limit of warnings */
	/* elector thread only: the leadership (epoch) whose process refused
	 * the probe, and in how many rounds in a row */
	int64_t refused_epoch;
	int refused;
};

static void
wr_elector_warn(wr_elector *el, const char *event, const char *what)
{
	int64_t now = wr_mono_ms();
	if (now - el->last_warn < 5000)
		return; /* one line per 5 s while the store is away */
	el->last_warn = now;
	wr_log(WR_LOG_WARN, event, "%s: %s", what,
	       el->ops->last_error(el->backend));
}

/* Sleeps up to ms unless stopped; returns false when stopping. */
static bool
wr_elector_wait(wr_elector *el, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&el->mu);
	while (!el->stopping &&
	       pthread_cond_timedwait(&el->cv, &el->mu, &ts) == 0)
		;
	bool go_on = !el->stopping;
	pthread_mutex_unlock(&el->mu);
	return go_on;
}

static void
wr_elector_set(wr_elector *el, bool leader, int64_t epoch, int64_t deadline)
{
	pthread_mutex_lock(&el->mu);
	bool changed = el->leader != leader;
	el->leader = leader;
	el->deadline = deadline;
	if (leader) {
		el->epoch = epoch;
		snprintf(el->seen, sizeof(el->seen), "%s", el->identity);
		el->seen_epoch = epoch;
	}
	pthread_mutex_unlock(&el->mu);
	if (!changed)
		return;
	if (leader)
		wr_log(WR_LOG_INFO, "HA-LEADER", "leader of %s at epoch %lld",
		       el->name, (long long)epoch);
	else
		wr_log(WR_LOG_WARN, "HA-STEP-DOWN",
		       "no longer leader of %s (epoch %lld)", el->name,
		       (long long)el->epoch);
	if (el->cfg.on_change != NULL)
		el->cfg.on_change(el->cfg.arg, leader, epoch);
}

static int64_t
wr_elector_valid_for(const wr_elector *el)
{
	return el->cfg.lease_ms - el->cfg.renew_ms / 2;
}

/* The number of rounds in a row a leader's process must refuse the probe
 * before its lease is revoked: one refusal may be a listener restarting. */
#define WR_ELECTOR_EVICT_ROUNDS 2

/* Probes the leader v names (elector.h, a dead leader); true once its
 * lease was revoked. */
static bool
wr_elector_evict(wr_elector *el, const wr_elect_view *v)
{
	if (el->cfg.probe == NULL || el->ops->evict == NULL ||
	    v->holder[0] == '\0')
		return false;
	int probe = el->cfg.probe(el->cfg.arg, v->holder);
	if (probe != WR_ECONNREFUSED && probe != WR_ENOENT) {
		el->refused = 0;
		return false;
	}
	if (el->refused_epoch != v->epoch)
		el->refused = 0;
	el->refused_epoch = v->epoch;
	if (probe == WR_ECONNREFUSED && ++el->refused < WR_ELECTOR_EVICT_ROUNDS)
		return false;
	el->refused = 0;
	int rv = el->ops->evict(el->backend, v->holder, v->epoch);
	if (rv != WR_OK)
		return false;
	wr_log(WR_LOG_WARN, "HA-LEADER-EVICTED",
	       "leader %s (epoch %lld) %s: its process is gone; its lease is "
	       "revoked",
	       v->holder, (long long)v->epoch,
	       probe == WR_ENOENT ? "was replaced by this process"
	                          : "refused connections in rounds in a row");
	return true;
}

/* One campaign round of a candidate. */
static void
wr_elector_campaign(wr_elector *el)
{
	int64_t t0 = wr_mono_ms();
	wr_elect_view v = {0};
	int rv = el->ops->campaign(el->backend, &v);
	if (rv != WR_OK) {
		if (rv != WR_EAGAIN)
			wr_elector_warn(el, "HA-STORE-UNAVAILABLE",
			                "cannot campaign");
		return;
	}
	/* A win whose deadline passed while the store answered late (a hung
	 * etcd resumed mid-campaign) would lead for no time and step down at
	 * once: the key stays ours, and the next round renews its lease and
	 * leads with a fresh deadline. */
	if (v.mine && wr_mono_ms() < t0 + wr_elector_valid_for(el)) {
		wr_elector_set(el, true, v.epoch,
		               t0 + wr_elector_valid_for(el));
		return;
	}
	pthread_mutex_lock(&el->mu);
	snprintf(el->seen, sizeof(el->seen), "%s", v.holder);
	el->seen_epoch = v.epoch;
	pthread_mutex_unlock(&el->mu);
	if (!v.mine && wr_elector_evict(el, &v))
		wr_elector_campaign(el); /* at once, not a round later */
}

/* One renewal of a leader. */
static void
wr_elector_renew(wr_elector *el)
{
	int64_t t0 = wr_mono_ms();
	wr_elect_view v = {0};
	int rv = el->ops->renew(el->backend, &v);
	if (rv == WR_OK && v.mine) {
		wr_elector_set(el, true, v.epoch,
		               t0 + wr_elector_valid_for(el));
		return;
	}
	if (rv == WR_OK) { /* someone else may lead already */
		wr_elector_set(el, false, 0, 0);
		return;
	}
	wr_elector_warn(el, "HA-RENEW-FAILED", "leader lease not renewed");
	pthread_mutex_lock(&el->mu);
	bool expired = wr_mono_ms() >= el->deadline;
	pthread_mutex_unlock(&el->mu);
	if (expired)
		wr_elector_set(el, false, 0, 0);
}

static void *
wr_elector_main(void *arg)
{
	wr_elector *el = arg;
	for (;;) {
		bool leader = wr_elector_is_leader(el, NULL);
		pthread_mutex_lock(&el->mu);
		bool was_leader = el->leader;
		pthread_mutex_unlock(&el->mu);
		if (was_leader && !leader)
			wr_elector_set(el, false, 0, 0); /* deadline passed */
		if (leader)
			wr_elector_renew(el);
		else
			wr_elector_campaign(el);
		leader = wr_elector_is_leader(el, NULL);
		if (!wr_elector_wait(el, leader ? el->cfg.renew_ms
		                                : el->cfg.retry_ms))
			break;
	}
	wr_elector_set(el, false, 0, 0);
	el->ops->resign(el->backend);
	return NULL;
}

int
wr_elector_start(const wr_elector_cfg *cfg, wr_elector **out, char *err,
                 size_t errlen)
{
	/* renewals must come before the leader's own deadline (valid_for) */
	if (cfg->lease_ms < 1000 || cfg->renew_ms <= 0 || cfg->retry_ms <= 0 ||
	    3 * cfg->renew_ms >= 2 * cfg->lease_ms) {
		snprintf(
		    err, errlen,
		    "high availability: lease_duration must be at least 1s "
		    "and renew_interval less than 2/3 of it");
		return WR_EINVAL;
	}
	wr_elector *el = wr_xcalloc(1, sizeof(*el));
	int rv = WR_EINVAL;
	if (cfg->kind == WR_ELECTOR_ETCD)
		rv =
		    wr_elect_etcd_new(cfg, &el->ops, &el->backend, err, errlen);
	else if (cfg->kind == WR_ELECTOR_KUBERNETES)
		rv = wr_elect_k8s_new(cfg, &el->ops, &el->backend, err, errlen);
	else
		snprintf(err, errlen, "unknown election backend %d", cfg->kind);
	if (rv != WR_OK) {
		free(el);
		return rv;
	}
	el->cfg = *cfg;
	el->identity = wr_xstrdup(cfg->identity);
	el->name = cfg->kind == WR_ELECTOR_ETCD
	               ? wr_xasprintf("%s/leader", cfg->prefix)
	               : wr_xasprintf("lease %s/%s", cfg->k8s_namespace,
	                              cfg->k8s_lease);
	pthread_mutex_init(&el->mu, NULL);
	pthread_cond_init(&el->cv, NULL);
	if (pthread_create(&el->thread, NULL, wr_elector_main, el) != 0) {
		snprintf(err, errlen, "cannot start the elector thread");
		el->ops->free(el->backend);
		free(el->identity);
		free(el->name);
		free(el);
		return WR_ENOMEM;
	}
	*out = el;
	return WR_OK;
}

void
wr_elector_stop(wr_elector *el)
{
	if (el == NULL)
		return;
	pthread_mutex_lock(&el->mu);
	el->stopping = true;
	pthread_cond_broadcast(&el->cv);
	pthread_mutex_unlock(&el->mu);
	pthread_join(el->thread, NULL);
	el->ops->free(el->backend);
	pthread_cond_destroy(&el->cv);
	pthread_mutex_destroy(&el->mu);
	free(el->identity);
	free(el->name);
	free(el);
}

bool
wr_elector_is_leader(wr_elector *el, int64_t *epoch)
{
	pthread_mutex_lock(&el->mu);
	bool leader = el->leader && wr_mono_ms() < el->deadline;
	if (leader && epoch != NULL)
		*epoch = el->epoch;
	pthread_mutex_unlock(&el->mu);
	return leader;
}

int
wr_elector_leader(wr_elector *el, char *addr, size_t addrlen, int64_t *epoch)
{
	pthread_mutex_lock(&el->mu);
	int rv = el->seen[0] != '\0' ? WR_OK : WR_ENOENT;
	if (rv == WR_OK) {
		snprintf(addr, addrlen, "%s", el->seen);
		*epoch = el->seen_epoch;
	}
	pthread_mutex_unlock(&el->mu);
	return rv;
}
