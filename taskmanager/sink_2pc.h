/*
 * sink_2pc.h - the two-phase-commit sink skeleton: the checkpoint protocol
 * of an exactly-once sink, with the backend (file, PostgreSQL, Kafka)
 * supplying its steps through tm_2pc_ops.
 *
 * The protocol (docs/sinks.md, "Two-phase commit"):
 *
 *   first record after a barrier  begin, then write each record
 *   barrier of checkpoint n        precommit the open transaction (it stays
 *                                  pending, recorded as (n, handle)), then
 *                                  encode the snapshot with every pending one
 *   checkpoint n complete          commit every pending transaction of n and
 *                                  earlier, oldest first (a lost completion
 *                                  is covered by the next one)
 *   end of bounded input           commit every pending one, then commit the
 *                                  open transaction directly
 *   cancel or failure              abort the open transaction; drop the
 *                                  pending ones (kept for a restore, or
 *                                  aborted when nothing could commit them)
 *   restore                        for every old subtask taken over: decode
 *                                  its snapshot, recover (commit what it
 *                                  pre-committed, abort what came after); if
 *                                  this subtask was not among them, abort
 *                                  its own leftovers
 *   start without restore          abort this subtask's leftovers (lazily,
 *                                  before the first record or barrier)
 *
 * The skeleton is the operator (its self is the tm_2pc: a sink's vtable
 * is its open plus TM_2PC_CALLBACKS), owns the pending list, the sticky failure
 * and the order of the steps; a backend owns its transactions and its snapshot
 * bytes. Everything runs on the task's thread (@thread task).
 */
#ifndef TM_SINK_2PC_H
#define TM_SINK_2PC_H

#include "op.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A subtask's transaction name prefix, NUL included: PostgreSQL's gid
 * prefix "weir:<job>:<node>:<subtask>:" is the longest (at most 5 + 32 +
 * 1 + 63 + 1 + 10 + 1 bytes). */
#define TM_2PC_NAME_BYTES 200
/* A snapshot's target (table or topic), NUL included: Kafka topics are
 * at most 249 bytes. */
#define TM_2PC_TARGET_BYTES 256

typedef struct tm_2pc tm_2pc;

/* A pre-committed transaction waiting for its checkpoint. */
typedef struct tm_2pc_txn {
	uint64_t ckpt; /* the checkpoint whose barrier pre-committed it */
	void *h;       /* the backend's handle (may be NULL) */
} tm_2pc_txn;

/*
 * What a snapshot says about the subtask that wrote it. The skeleton
 * fills one for this subtask before encode; a backend's decode fills one
 * from an old snapshot. name decides whether an old subtask is this one;
 * target whether it wrote where this one writes ("" when the format
 * records none).
 */
typedef struct tm_2pc_head {
	int subtask;
	uint64_t ckpt;
	char job_id[33];
	char node[WR_JOB_MAX_ID_BYTES];
	char target[TM_2PC_TARGET_BYTES];
	char name[TM_2PC_NAME_BYTES]; /* prefix of its transactions' names */
	int npending;        /* transactions it lists as pre-committed */
	const uint8_t *rest; /* backend-specific bytes after the head */
	size_t rest_len;
} tm_2pc_head;

/*
 * A backend's steps; b is the backend passed to tm_2pc_new. A step that
 * fails the task reports it with tm_2pc_fail (the failure then sticks);
 * an error returned without it (a flush that timed out) only declines
 * that call. Optional steps may be NULL.
 */
typedef struct tm_2pc_ops {
	/* Optional: a transaction begins: before its first record. */
	int (*begin)(void *b);
	/* One record into the open transaction. */
	int (*write)(void *b, const wr_row *r);
	/* Barrier of ckpt: flush the open transaction and pre-commit it.
	 * *made false: it held nothing to pre-commit; else *h is its
	 * handle. */
	int (*precommit)(void *b, uint64_t ckpt, bool *made, void **h);
	/* Commit a pre-committed transaction (and release its handle). */
	int (*commit)(void *b, const tm_2pc_txn *txn);
	/* End of input: commit the open transaction without a barrier. */
	int (*commit_open)(void *b);
	/* Optional: close without finish: roll back the open transaction. */
	void (*abort)(void *b);
	/* Optional: close without finish: a pending transaction nobody
	 * commits now; abort it or keep it for a restore, and release its
	 * handle. */
	void (*drop)(void *b, const tm_2pc_txn *txn);
	/* Appends the snapshot of this subtask (self) with its pending
	 * transactions, oldest first. */
	void (*encode)(void *b, const tm_2pc_head *self,
	               const tm_2pc_txn *pending, int npending, wr_buf *out);
	/* WR_ECORRUPT unless p is exactly one snapshot this backend wrote;
	 * fills head (zeroed by the caller). */
	int (*decode)(void *b, const uint8_t *p, size_t len, tm_2pc_head *head);
	/* Restore: settles the transactions of the old subtask head: commits
	 * what it pre-committed, aborts what it left after (unless
	 * same_target is false: then that is left to the old job). */
	int (*recover)(void *b, const tm_2pc_head *head, bool same_target);
	/* Aborts whatever this subtask of this job left (earlier attempts),
	 * none of it part of a restored checkpoint. */
	int (*abort_leftovers)(void *b);
	/* Optional: the task's tick, once started. */
	int (*tick)(void *b, int64_t now_ms);
	/* Frees b (after abort and drop). */
	void (*free)(void *b);
} tm_2pc_ops;

/*
 * A two-phase-commit sink over backend b for node, to be a sink's self
 * (its open returns it). what prefixes failures ("postgres sink
 * orders"); name is this subtask's transaction name prefix; target what
 * it writes to ("" if its snapshots record none). On return the skeleton
 * owns b (tm_2pc_close frees it through ops->free).
 */
tm_2pc *tm_2pc_new(tm_ctx *ctx, const wr_node_spec *node, const tm_2pc_ops *ops,
                   void *b, const char *what, const char *name,
                   const char *target);

/* The operator callbacks (op.h) of a tm_2pc self. */
int tm_2pc_process(void *self, int input, const wr_row *r);
int tm_2pc_tick(void *self, int64_t now_ms);
int tm_2pc_snapshot(void *self, uint64_t ckpt, wr_buf *out);
int tm_2pc_notify_complete(void *self, uint64_t ckpt);
int tm_2pc_restore(void *self, const tm_op_state *states, int n);
int tm_2pc_finish(void *self);
void tm_2pc_close(void *self);
/* A two-phase-commit sink's vtable: its own open, then these. */
#define TM_2PC_CALLBACKS                                                       \
	.process = tm_2pc_process, .snapshot = tm_2pc_snapshot,                \
	.restore = tm_2pc_restore, .notify_complete = tm_2pc_notify_complete,  \
	.tick = tm_2pc_tick, .finish = tm_2pc_finish, .close = tm_2pc_close

/* The backend of a tm_2pc operator (tests reach it through self). */
void *tm_2pc_backend(const tm_2pc *x);

/* Pre-committed transactions waiting for their checkpoints. */
int tm_2pc_npending(const tm_2pc *x);

/* Fails the task with "<what>: <message>" and makes rv stick: every
 * later call returns it. Returns rv. */
int tm_2pc_fail(tm_2pc *x, int rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The head most snapshots share (PostgreSQL's and Kafka's, after their
 * version byte): varint subtask, varint checkpoint id, then varint length
 * + bytes of the job id, the node id and the target. get reads it at *pos;
 * the target is [A-Za-z0-9] and target_chars, at most target_cap - 1
 * bytes. WR_ECORRUPT for anything else.
 */
void tm_2pc_head_put(wr_buf *out, const tm_2pc_head *h);
int tm_2pc_head_get(const uint8_t *p, size_t len, size_t *pos, tm_2pc_head *h,
                    const char *target_chars, size_t target_cap);

/* Names in snapshots (job ids, node ids, tables, topics) are [A-Za-z0-9]
 * and the bytes of extra, 1 to cap - 1 of them; anything else is corrupt.
 * Reads a varint length and such a name at *pos into out (cap bytes with
 * NUL). */
int tm_2pc_name_get(const uint8_t *p, size_t len, size_t *pos, char *out,
                    size_t cap, const char *extra);

#endif
