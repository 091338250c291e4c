/*
 * elector_k8s.c - the Kubernetes election backend: a coordination.k8s.io
 * Lease taken and renewed with optimistic concurrency, as client-go's
 * leaderelection does; leaseTransitions + 1 is the epoch.
 */
#include "elector_int.h"

#include "clock.h"
#include "err.h"
#include "k8s_lease.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wr_elect_k8s {
	wr_k8s_lease *lease;
	char *identity;
	int64_t lease_ms;
	wr_k8s_lease_rec seen; /* the Lease as last read or written */
	int64_t seen_at;       /* monotonic ms it last changed */
	bool have_seen;
} wr_elect_k8s;

static void
wr_elect_k8s_observe(wr_elect_k8s *b, const wr_k8s_lease_rec *rec)
{
	if (!b->have_seen || strcmp(rec->version, b->seen.version) != 0)
		b->seen_at = wr_mono_ms();
	b->seen = *rec;
	b->have_seen = true;
}

static void
wr_elect_k8s_view(const wr_elect_k8s *b, wr_elect_view *v)
{
	v->mine = strcmp(b->seen.holder, b->identity) == 0;
	v->epoch = b->seen.transitions + 1;
	snprintf(v->holder, sizeof(v->holder), "%s", b->seen.holder);
}

/* Writes rec; on success it is what we saw last. */
static int
wr_elect_k8s_write(wr_elect_k8s *b, wr_k8s_lease_rec *rec)
{
	int rv = wr_k8s_lease_write(b->lease, rec);
	if (rv == WR_OK)
		wr_elect_k8s_observe(b, rec);
	return rv;
}

/* Another candidate created the Lease first: its holder is the leader to
 * name now, not a retry period later. */
static int
wr_elect_k8s_lost_create(wr_elect_k8s *b, wr_elect_view *v)
{
	wr_k8s_lease_rec rec;
	int rv = wr_k8s_lease_get(b->lease, &rec);
	if (rv != WR_OK)
		return rv == WR_ENOENT ? WR_EAGAIN : rv; /* deleted meanwhile */
	wr_elect_k8s_observe(b, &rec);
	if (rec.holder[0] == '\0' || strcmp(rec.holder, b->identity) == 0)
		return WR_EAGAIN; /* released already: the next round */
	wr_elect_k8s_view(b, v);
	return WR_OK;
}

static int
wr_elect_k8s_campaign(void *arg, wr_elect_view *v)
{
	wr_elect_k8s *b = arg;
	wr_k8s_lease_rec rec;
	int rv = wr_k8s_lease_get(b->lease, &rec);
	if (rv == WR_ENOENT) {
		memset(&rec, 0, sizeof(rec));
		snprintf(rec.holder, sizeof(rec.holder), "%s", b->identity);
		rec.duration_s = (b->lease_ms + 999) / 1000;
		rv = wr_elect_k8s_write(b, &rec);
		if (rv == WR_EEXIST)
			return wr_elect_k8s_lost_create(b, v);
	} else if (rv == WR_OK) {
		wr_elect_k8s_observe(b, &rec);
		bool held = rec.holder[0] != '\0' &&
		            strcmp(rec.holder, b->identity) != 0;
		int64_t dur_ms = rec.duration_s * 1000;
		if (held && wr_mono_ms() - b->seen_at < dur_ms) {
			wr_elect_k8s_view(b, v); /* another leads */
			return WR_OK;
		}
		/* Free, expired, or ours from an earlier run: take it. */
		if (strcmp(rec.holder, b->identity) != 0)
			rec.transitions++;
		snprintf(rec.holder, sizeof(rec.holder), "%s", b->identity);
		rec.duration_s = (b->lease_ms + 999) / 1000;
		rv = wr_elect_k8s_write(b, &rec);
	}
	if (rv == WR_OK)
		wr_elect_k8s_view(b, v);
	return rv;
}

static int
wr_elect_k8s_renew(void *arg, wr_elect_view *v)
{
	wr_elect_k8s *b = arg;
	wr_k8s_lease_rec rec = b->seen;
	int rv = wr_elect_k8s_write(b, &rec);
	if (rv == WR_EAGAIN || rv == WR_ENOENT) {
		/* Changed or deleted behind us: whoever holds it now. */
		rv = wr_k8s_lease_get(b->lease, &rec);
		if (rv == WR_OK) {
			wr_elect_k8s_observe(b, &rec);
			wr_elect_k8s_view(b, v);
			/* Still ours (a label changed, say): the next renewal
			 * writes from the new version. */
			return WR_OK;
		}
		if (rv == WR_ENOENT) {
			memset(v, 0, sizeof(*v));
			b->have_seen = false;
			return WR_OK;
		}
		return rv;
	}
	if (rv == WR_OK)
		wr_elect_k8s_view(b, v);
	return rv;
}

/* Releases as client-go does: no holder, a one-second lease. */
static void
wr_elect_k8s_resign(void *arg)
{
	wr_elect_k8s *b = arg;
	if (!b->have_seen || strcmp(b->seen.holder, b->identity) != 0)
		return;
	wr_k8s_lease_rec rec = b->seen;
	rec.holder[0] = '\0';
	rec.duration_s = 1;
	wr_elect_k8s_write(b, &rec);
}

static const char *
wr_elect_k8s_last_error(void *arg)
{
	wr_elect_k8s *b = arg;
	return wr_k8s_lease_last_error(b->lease);
}

static void
wr_elect_k8s_free(void *arg)
{
	wr_elect_k8s *b = arg;
	wr_k8s_lease_free(b->lease);
	free(b->identity);
	free(b);
}

static const wr_elect_backend wr_elect_k8s_ops = {
    .campaign = wr_elect_k8s_campaign,
    .renew = wr_elect_k8s_renew,
    .resign = wr_elect_k8s_resign,
    .last_error = wr_elect_k8s_last_error,
    .free = wr_elect_k8s_free,
};

int
wr_elect_k8s_new(const wr_elector_cfg *cfg, const wr_elect_backend **ops,
                 void **out, char *err, size_t errlen)
{
	wr_elect_k8s *b = wr_xcalloc(1, sizeof(*b));
	int rv = wr_k8s_lease_new(cfg->k8s_api ? cfg->k8s_api : "",
	                          cfg->k8s_namespace ? cfg->k8s_namespace : "",
	                          cfg->k8s_lease ? cfg->k8s_lease : "",
	                          cfg->k8s_token_file, cfg->k8s_ca_file,
	                          (int)cfg->renew_ms, &b->lease, err, errlen);
	if (rv != WR_OK) {
		free(b);
		return rv;
	}
	b->identity = wr_xstrdup(cfg->identity);
	b->lease_ms = cfg->lease_ms;
	*ops = &wr_elect_k8s_ops;
	*out = b;
	return WR_OK;
}
