/*
 * elector_int.h - what an election backend (elector_etcd.c,
 * elector_k8s.c) supplies to the elector's thread (elector.c).
 */
#ifndef WR_ELECTOR_INT_H
#define WR_ELECTOR_INT_H

#include "elector.h"

/* What a backend saw in one campaign or renewal. */
typedef struct wr_elect_view {
	bool mine;        /* this candidate holds the leadership */
	char holder[256]; /* the holder's identity, "" if none */
	int64_t epoch;    /* the holder's epoch */
} wr_elect_view;

/* All calls come from the elector's thread; each is bounded by the
 * backend's request timeout. */
typedef struct wr_elect_backend {
	/* Tries to become leader (or stay it). WR_OK with *v filled; another
	 * code when the store could not answer (nothing is known). */
	int (*campaign)(void *b, wr_elect_view *v);
	/* Renews a held leadership. WR_OK with v->mine false when it is
	 * gone; another code when the store could not answer. */
	int (*renew)(void *b, wr_elect_view *v);
	/* Gives the leadership up so another can take it at once. */
	void (*resign)(void *b);
	/* Ends the leadership of holder at epoch, whose process is gone
	 * (elector.h), if it still holds it. NULL: not supported. */
	int (*evict)(void *b, const char *holder, int64_t epoch);
	const char *(*last_error)(void *b);
	void (*free)(void *b);
} wr_elect_backend;

int wr_elect_etcd_new(const wr_elector_cfg *cfg, const wr_elect_backend **ops,
                      void **b, char *err, size_t errlen);
int wr_elect_k8s_new(const wr_elector_cfg *cfg, const wr_elect_backend **ops,
                     void **b, char *err, size_t errlen);

#endif
