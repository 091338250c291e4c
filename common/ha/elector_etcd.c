/*
 * elector_etcd.c - the etcd election backend: a lease, a campaign by
 * transaction on the leader key, the key's create revision as the epoch.
 */
#include "elector_int.h"

#include "err.h"
#include "etcd.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wr_elect_etcd {
	wr_etcd *etcd;
	char *key;
	char *identity;
	int64_t ttl_s;
	int64_t lease; /* 0 when none is held */
} wr_elect_etcd;

static void
wr_elect_etcd_view(const wr_etcd_kv *h, int64_t lease, wr_elect_view *v)
{
	v->mine = h->lease == lease;
	v->epoch = h->create_rev;
	snprintf(v->holder, sizeof(v->holder), "%s", (char *)h->value);
}

static int
wr_elect_etcd_campaign(void *arg, wr_elect_view *v)
{
	wr_elect_etcd *b = arg;
	int64_t ttl = 0;
	if (b->lease != 0 &&
	    wr_etcd_lease_keepalive(b->etcd, b->lease, &ttl) != WR_OK)
		b->lease = 0; /* expired while etcd was away: a new one */
	int rv = WR_OK;
	if (b->lease == 0 &&
	    (rv = wr_etcd_lease_grant(b->etcd, b->ttl_s, &b->lease)) != WR_OK) {
		b->lease = 0;
		return rv;
	}
	wr_etcd_kv h = {0};
	rv = wr_etcd_campaign(b->etcd, b->key, b->identity, b->lease, &h);
	if (rv == WR_OK)
		wr_elect_etcd_view(&h, b->lease, v);
	wr_etcd_kv_fini(&h);
	return rv;
}

/* Keeps the lease and checks the key is still ours (an operator may have
 * deleted it). */
static int
wr_elect_etcd_renew(void *arg, wr_elect_view *v)
{
	wr_elect_etcd *b = arg;
	int64_t ttl = 0;
	wr_etcd_kv h = {0};
	int rv = wr_etcd_lease_keepalive(b->etcd, b->lease, &ttl);
	if (rv == WR_OK)
		rv = wr_etcd_get(b->etcd, b->key, &h);
	if (rv == WR_OK)
		wr_elect_etcd_view(&h, b->lease, v);
	wr_etcd_kv_fini(&h);
	if (rv == WR_ENOENT) { /* the lease or the key is gone */
		memset(v, 0, sizeof(*v));
		rv = WR_OK;
	}
	if (rv == WR_OK && !v->mine)
		b->lease = 0;
	return rv;
}

static void
wr_elect_etcd_resign(void *arg)
{
	wr_elect_etcd *b = arg;
	if (b->lease != 0)
		wr_etcd_lease_revoke(b->etcd, b->lease);
	b->lease = 0;
}

/* Revokes the lease of the leader key while holder at epoch holds it:
 * the key goes with it. */
static int
wr_elect_etcd_evict(void *arg, const char *holder, int64_t epoch)
{
	wr_elect_etcd *b = arg;
	wr_etcd_kv h = {0};
	int rv = wr_etcd_get(b->etcd, b->key, &h);
	if (rv == WR_OK && (h.create_rev != epoch || h.lease == 0 ||
	                    strcmp((char *)h.value, holder) != 0))
		rv = WR_ESTATE; /* another leadership by now */
	if (rv == WR_OK)
		rv = wr_etcd_lease_revoke(b->etcd, h.lease);
	wr_etcd_kv_fini(&h);
	return rv;
}

static const char *
wr_elect_etcd_last_error(void *arg)
{
	wr_elect_etcd *b = arg;
	return wr_etcd_last_error(b->etcd);
}

static void
wr_elect_etcd_free(void *arg)
{
	wr_elect_etcd *b = arg;
	wr_etcd_free(b->etcd);
	free(b->key);
	free(b->identity);
	free(b);
}

static const wr_elect_backend wr_elect_etcd_ops = {
    .campaign = wr_elect_etcd_campaign,
    .renew = wr_elect_etcd_renew,
    .resign = wr_elect_etcd_resign,
    .evict = wr_elect_etcd_evict,
    .last_error = wr_elect_etcd_last_error,
    .free = wr_elect_etcd_free,
};

int
wr_elect_etcd_new(const wr_elector_cfg *cfg, const wr_elect_backend **ops,
                  void **out, char *err, size_t errlen)
{
	wr_elect_etcd *b = wr_xcalloc(1, sizeof(*b));
	/* Each request is bounded by the renewal period, so a renewal that
	 * hangs cannot outlast the next one. */
	int rv = wr_etcd_new(cfg->endpoints, (int)cfg->renew_ms, &b->etcd, err,
	                     errlen);
	if (rv != WR_OK) {
		free(b);
		return rv;
	}
	b->key = wr_xasprintf("%s/leader", cfg->prefix);
	b->identity = wr_xstrdup(cfg->identity);
	b->ttl_s = (cfg->lease_ms + 999) / 1000;
	*ops = &wr_elect_etcd_ops;
	*out = b;
	return WR_OK;
}
