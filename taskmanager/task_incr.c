/*
 * task_incr.c - the chain of a task's incremental keyed-state checkpoints
 * (task_incr.h).
 *
 * A chain is a full snapshot followed by deltas, each delta holding the
 * values, at its barrier, of every key changed since the barrier of the
 * checkpoint before it in the chain. Only checkpoints this task was told
 * are complete extend a chain: a failed checkpoint's directory may be
 * gone, so a delta never builds on it. Between the last completed
 * checkpoint c and a barrier k there may be others still in flight (their
 * completion not yet heard) or failed: k's delta then carries their keys
 * too, so that chain(k) = chain(c) + [delta of every key changed since
 * c's barrier]. Each barrier's change set is kept until a checkpoint at or
 * after it completes.
 */
#include "task_incr.h"

#include "mem.h"
#include "wr_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tm_incr_pending {
	uint64_t id;
	wr_state_changes *changes; /* since the barrier before; owned */
	char **chain;              /* NULL: a savepoint (no chain) */
	size_t nchain;
} tm_incr_pending;

struct tm_incr {
	uint64_t base_id; /* the last completed checkpoint; 0: none */
	char **chain;     /* its chain */
	size_t nchain;
	tm_incr_pending pending[TM_INCR_MAX_PENDING]; /* oldest first */
	int npending;
};

static char **
tm_incr_copy(char **v, size_t n, size_t extra)
{
	char **c = wr_xcalloc(n + extra, sizeof(*c));
	for (size_t i = 0; i < n; i++)
		c[i] = wr_xstrdup(v[i]);
	return c;
}

static void
tm_incr_strv_free(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

static void
tm_incr_drop(tm_incr *in, int i)
{
	wr_state_changes_free(in->pending[i].changes);
	tm_incr_strv_free(in->pending[i].chain, in->pending[i].nchain);
	memmove(&in->pending[i], &in->pending[i + 1],
	        (size_t)(in->npending - i - 1) * sizeof(in->pending[0]));
	in->npending--;
}

/* Forgets the chain: the next barrier writes a full snapshot. */
static void
tm_incr_reset(tm_incr *in)
{
	while (in->npending > 0)
		tm_incr_drop(in, 0);
	tm_incr_strv_free(in->chain, in->nchain);
	in->chain = NULL;
	in->nchain = 0;
	in->base_id = 0;
}

tm_incr *
tm_incr_new(void)
{
	return wr_xcalloc(1, sizeof(tm_incr));
}

void
tm_incr_free(tm_incr *in)
{
	if (in == NULL)
		return;
	tm_incr_reset(in);
	free(in);
}

void
tm_incr_piece_fini(tm_incr_piece *p)
{
	wr_state_changes_free(p->delta);
	tm_incr_strv_free(p->chain, p->nchain);
	memset(p, 0, sizeof(*p));
}

/* Keeps a barrier's change set (and chain) until a completion covers
 * it. */
static void
tm_incr_keep(tm_incr *in, uint64_t id, wr_state_changes *changes, char **chain,
             size_t nchain)
{
	if (in->npending == TM_INCR_MAX_PENDING) {
		/* nothing completes: stop keeping keys, start over */
		wr_state_changes_free(changes);
		tm_incr_strv_free(chain, nchain);
		tm_incr_reset(in);
		return;
	}
	in->pending[in->npending++] = (tm_incr_pending){
	    .id = id, .changes = changes, .chain = chain, .nchain = nchain};
}

/* The keys changed since the base's barrier, up to changes; NULL when
 * some are unknown. */
static wr_state_changes *
tm_incr_delta(tm_incr *in, const wr_state_changes *changes)
{
	if (wr_state_changes_overflowed(changes))
		return NULL;
	wr_state_changes *d = wr_state_changes_new();
	for (int i = 0; i < in->npending; i++)
		if (in->pending[i].id > in->base_id)
			wr_state_changes_merge(d, in->pending[i].changes);
	wr_state_changes_merge(d, changes);
	if (wr_state_changes_overflowed(d)) {
		wr_state_changes_free(d);
		return NULL;
	}
	return d;
}

void
tm_incr_plan(tm_incr *in, uint64_t id, wr_state_changes *changes,
             const char *name, tm_incr_piece *out)
{
	memset(out, 0, sizeof(*out));
	if (in->base_id != 0 && in->nchain <= WR_CKPT_FOLD_DELTAS)
		out->delta = tm_incr_delta(in, changes);
	out->full = out->delta == NULL;
	snprintf(out->file, sizeof(out->file), "%s.%s", name,
	         out->full ? "mdb" : "delta");
	size_t keep = out->full ? 0 : in->nchain;
	out->chain = tm_incr_copy(in->chain, keep, 1);
	out->chain[keep] =
	    wr_xasprintf("chk-%llu/%s", (unsigned long long)id, out->file);
	out->nchain = keep + 1;
	tm_incr_keep(in, id, changes, tm_incr_copy(out->chain, out->nchain, 0),
	             out->nchain);
}

void
tm_incr_savepoint(tm_incr *in, uint64_t id, wr_state_changes *changes)
{
	tm_incr_keep(in, id, changes, NULL, 0);
}

void
tm_incr_complete(tm_incr *in, uint64_t id)
{
	int at = -1;
	for (int i = 0; i < in->npending; i++)
		if (in->pending[i].id == id && in->pending[i].chain != NULL)
			at = i;
	if (at < 0)
		return; /* a savepoint, or not this task's: nothing changes */
	tm_incr_strv_free(in->chain, in->nchain);
	in->chain = in->pending[at].chain;
	in->nchain = in->pending[at].nchain;
	in->pending[at].chain = NULL;
	in->base_id = id;
	while (in->npending > 0 && in->pending[0].id <= id)
		tm_incr_drop(in, 0);
}
