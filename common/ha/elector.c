/*
 * elector.c - the leader-election thread of elector.h over etcd.c.
 */
#include "elector.h"

#include "clock.h"
#include "err.h"
#include "etcd.h"
#include "log.h"
#include "mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct wr_elector {
	wr_elector_cfg cfg; /* strings owned below */
	char *endpoints, *identity, *key;
	wr_etcd *etcd;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;      /* @locks mu */
	bool leader;        /* @locks mu */
	int64_t deadline;   /* @locks mu: monotonic ms the leadership ends */
	int64_t epoch;      /* @locks mu: ours while leader */
	char seen[256];     /* @locks mu: last leader seen, "" if none */
	int64_t seen_epoch; /* @locks mu */
	int64_t lease;      /* elector thread only */
	int64_t last_warn;  /* elector thread only: rate limit of warnings */
};

static void
wr_elector_warn(wr_elector *el, const char *event, const char *what)
{
	int64_t now = wr_mono_ms();
	if (now - el->last_warn < 5000)
		return; /* one line per 5 s while etcd is away */
	el->last_warn = now;
	wr_log(WR_LOG_WARN, event, "%s: %s", what,
	       wr_etcd_last_error(el->etcd));
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
		       el->key, (long long)epoch);
	else
		wr_log(WR_LOG_WARN, "HA-STEP-DOWN",
		       "no longer leader of %s (epoch %lld)", el->key,
		       (long long)el->epoch);
	if (el->cfg.on_change != NULL)
		el->cfg.on_change(el->cfg.arg, leader, epoch);
}

static int64_t
wr_elector_valid_for(const wr_elector *el)
{
	return el->cfg.lease_ms - el->cfg.renew_ms / 2;
}

/* One campaign round of a candidate. */
static void
wr_elector_campaign(wr_elector *el)
{
	int64_t ttl = 0;
	int64_t t0 = wr_mono_ms();
	if (el->lease != 0 &&
	    wr_etcd_lease_keepalive(el->etcd, el->lease, &ttl) != WR_OK)
		el->lease = 0; /* expired while etcd was away: a new one */
	if (el->lease == 0 &&
	    wr_etcd_lease_grant(el->etcd, (el->cfg.lease_ms + 999) / 1000,
	                        &el->lease) != WR_OK) {
		el->lease = 0;
		wr_elector_warn(el, "HA-ETCD-UNAVAILABLE", "cannot campaign");
		return;
	}
	wr_etcd_kv h = {0};
	int rv =
	    wr_etcd_campaign(el->etcd, el->key, el->identity, el->lease, &h);
	if (rv != WR_OK) {
		if (rv != WR_EAGAIN)
			wr_elector_warn(el, "HA-ETCD-UNAVAILABLE",
			                "campaign failed");
		return;
	}
	if (h.lease == el->lease) {
		wr_elector_set(el, true, h.create_rev,
		               t0 + wr_elector_valid_for(el));
	} else {
		pthread_mutex_lock(&el->mu);
		snprintf(el->seen, sizeof(el->seen), "%s", (char *)h.value);
		el->seen_epoch = h.create_rev;
		pthread_mutex_unlock(&el->mu);
	}
	wr_etcd_kv_fini(&h);
}

/* One renewal of a leader: keep the lease and check the key is still
 * ours (an operator may have deleted it). */
static void
wr_elector_renew(wr_elector *el)
{
	int64_t t0 = wr_mono_ms(), ttl = 0;
	int rv = wr_etcd_lease_keepalive(el->etcd, el->lease, &ttl);
	wr_etcd_kv h = {0};
	if (rv == WR_OK)
		rv = wr_etcd_get(el->etcd, el->key, &h);
	bool ours = rv == WR_OK && h.lease == el->lease;
	int64_t epoch = h.create_rev;
	wr_etcd_kv_fini(&h);
	if (ours) {
		wr_elector_set(el, true, epoch, t0 + wr_elector_valid_for(el));
		return;
	}
	if (rv == WR_ENOENT || (rv == WR_OK && !ours)) {
		/* The lease or key is gone: someone else may lead already. */
		wr_elector_set(el, false, 0, 0);
		el->lease = 0;
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
	if (wr_elector_is_leader(el, NULL) || el->lease != 0) {
		wr_elector_set(el, false, 0, 0);
		wr_etcd_lease_revoke(el->etcd, el->lease);
	}
	return NULL;
}

int
wr_elector_start(const wr_elector_cfg *cfg, wr_elector **out, char *err,
                 size_t errlen)
{
	if (cfg->lease_ms < 1000 || cfg->renew_ms <= 0 || cfg->retry_ms <= 0 ||
	    cfg->renew_ms >= cfg->lease_ms) {
		snprintf(
		    err, errlen,
		    "high availability: lease_duration must be at least 1s "
		    "and renew_interval shorter than it");
		return WR_EINVAL;
	}
	wr_elector *el = wr_xcalloc(1, sizeof(*el));
	int rv = wr_etcd_new(cfg->endpoints, (int)cfg->renew_ms, &el->etcd, err,
	                     errlen);
	if (rv != WR_OK) {
		free(el);
		return rv;
	}
	el->cfg = *cfg;
	el->endpoints = wr_xstrdup(cfg->endpoints);
	el->identity = wr_xstrdup(cfg->identity);
	el->key = wr_xasprintf("%s/leader", cfg->prefix);
	pthread_mutex_init(&el->mu, NULL);
	pthread_cond_init(&el->cv, NULL);
	if (pthread_create(&el->thread, NULL, wr_elector_main, el) != 0) {
		snprintf(err, errlen, "cannot start the elector thread");
		wr_etcd_free(el->etcd);
		free(el->endpoints);
		free(el->identity);
		free(el->key);
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
	wr_etcd_free(el->etcd);
	pthread_cond_destroy(&el->cv);
	pthread_mutex_destroy(&el->mu);
	free(el->endpoints);
	free(el->identity);
	free(el->key);
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
