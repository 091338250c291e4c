/*
 * task_incr.h - the chain of a task's incremental keyed-state checkpoints
 * (task_incr.c, docs/checkpoints.md): at each barrier, whether the keyed
 * state goes out whole or as a delta of the keys changed since the last
 * checkpoint this task knows complete, and which pieces the checkpoint's
 * handle names. Belongs to the task's thread.
 */
#ifndef TM_TASK_INCR_H
#define TM_TASK_INCR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

typedef struct tm_incr tm_incr;

/* What a barrier writes of the keyed state. */
typedef struct tm_incr_piece {
	bool full;               /* the whole state (a new base) */
	wr_state_changes *delta; /* !full: the keys to write; owned */
	/* the handle's pieces, "chk-<n>/<file>" relative to the job's
	 * directory, this checkpoint's own last; owned */
	char **chain;
	size_t nchain;
	char file[160]; /* this piece's name in the checkpoint directory */
} tm_incr_piece;

tm_incr *tm_incr_new(void);
void tm_incr_free(tm_incr *in);
void tm_incr_piece_fini(tm_incr_piece *p);

/*
 * At the barrier of checkpoint id (not a savepoint): changes are the keys
 * the view's backend recorded since the previous view (taken: owned from
 * here; NULL when it did not track). Fills out: a full snapshot when
 * there is no completed base yet, the chain is WR_CKPT_FOLD_DELTAS deltas
 * long, or some keys are unknown (a set overflowed); else a delta of every
 * key changed since the last completed checkpoint. name: the piece's file
 * name without extension ("<uid>-<subtask>").
 */
void tm_incr_plan(tm_incr *in, uint64_t id, wr_state_changes *changes,
                  const char *name, tm_incr_piece *out);

/* A savepoint's view (a self-contained copy): its changes (taken) go
 * into the next checkpoint's delta. */
void tm_incr_savepoint(tm_incr *in, uint64_t id, wr_state_changes *changes);

/* Checkpoint id completed: its chain is the base of the next delta. */
void tm_incr_complete(tm_incr *in, uint64_t id);

#endif
