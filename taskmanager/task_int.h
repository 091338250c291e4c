/*
 * task_int.h - the inside of a task, shared by task.c, ops.c, the sources
 * and the sinks. Everything here belongs to the task's own thread unless
 * marked otherwise.
 */
#ifndef TM_TASK_INT_H
#define TM_TASK_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "jobspec.h"
#include "plan.h"
#include "shuffle.h"
#include "task.h"
#include "wr_limits.h"

struct wr_metric;
struct tm_server;

typedef struct tm_task tm_task;
typedef struct tm_op tm_op;

/* One restored operator snapshot (tm_op.restore). */
typedef struct tm_op_state {
	int subtask;   /* the subtask of the previous run that wrote it */
	uint64_t ckpt; /* the checkpoint it was taken for */
	const uint8_t *data;
	size_t len;
} tm_op_state;

/* A network output of an operator: one plan edge. */
typedef struct tm_route {
	const wr_edge *edge;
	tm_output *out;
	int nchannels;
	const int *keys; /* HASH: key fields (indices in the row) */
	int nkeys;
	int max_parallelism;
	uint64_t rr; /* REBALANCE: round-robin counter */
	bool side;   /* edge->side: carries side records (tm_op_emit_side) */
} tm_route;

struct tm_op {
	const wr_node_spec *node;
	tm_task *task;
	/* Processes one record. Returns WR_OK or an error that fails the
	 * task. */
	int (*push)(tm_op *op, const wr_row *r);
	/* End of input: flush everything (sinks commit what they hold). */
	int (*finish)(tm_op *op);
	void (*destroy)(tm_op *op);
	/* Optional: called every flush interval, also when no record comes
	 * (sinks make written data visible and roll files by age). */
	int (*tick)(tm_op *op, int64_t now_ms);
	/* Optional: the event-time watermark reached wm (ms). Operators with
	 * timers fire them, then pass the watermark on with
	 * tm_op_emit_watermark. NULL = pass it on unchanged. */
	int (*watermark)(tm_op *op, int64_t wm);
	/*
	 * Checkpoints (all optional; docs/checkpoints.md). Called on the
	 * task's thread, in chain order.
	 *
	 * snapshot: the barrier of checkpoint ckpt reached this operator:
	 * every record it was given before belongs to ckpt, none after. A
	 * transactional sink pre-commits here (flushes, prepares) and appends
	 * to out what it needs to finish or abort that pre-commit after a
	 * restore; out ends up in the checkpoint's metadata (keep it small:
	 * at most TM_OP_STATE_MAX_BYTES).
	 *
	 * commit: checkpoint ckpt is complete (its _metadata is durable):
	 * commit everything pre-committed for ckpt and earlier. A
	 * notification may be skipped (a lost message, a checkpoint that
	 * completed while the next barrier was already in flight); a later
	 * one covers it.
	 *
	 * restore: before the first record of a task restored from a
	 * checkpoint: states[i] are the snapshots of the previous run's
	 * subtasks this subtask takes over (old subtask j goes to new
	 * subtask j mod parallelism, so every one is taken over exactly
	 * once, also after rescaling). A sink commits what those
	 * checkpointed pre-commits hold (they are part of the restored
	 * checkpoint) and aborts anything else those old subtasks left.
	 *
	 * A task cancelled or failed while checkpointing is on does not call
	 * finish on its sinks: destroy must abort the open transaction
	 * without committing it (pre-committed ones stay for the restore).
	 * finish is still called at the end of bounded input, and then
	 * commits everything.
	 */
	int (*snapshot)(tm_op *op, uint64_t ckpt, wr_buf *out);
	int (*commit)(tm_op *op, uint64_t ckpt);
	int (*restore)(tm_op *op, const struct tm_op_state *states, int n);
	tm_op *next[TM_MAX_NEXT];
	int nnext;
	/* Network outputs: main routes get tm_op_emit's records, side routes
	 * (a window's late_output; never chained) tm_op_emit_side's; both
	 * get watermarks and end of stream. */
	tm_route routes[TM_MAX_NEXT];
	int nroutes;
	int nside; /* side routes among routes */
	void *impl;
};

struct tm_task {
	struct tm_server *tm;
	tm_task_spec *spec;
	wr_jobspec *job;
	wr_plan *plan;
	const wr_vertex *vertex;
	char label[96]; /* "job=abcd1234 task=0/1" for logs */
	pthread_t thread;
	atomic_bool cancel;
	atomic_bool orphan; /* no JobManager keeps it: its sinks are shut */
	atomic_bool done;   /* the thread has ended (reap it) */
	atomic_bool ready;  /* outputs are built and no longer change */
	atomic_bool ended;  /* its loop ended; set under ck_mu (task.c) */
	/* Its end is reported (or being): a CancelTask finds no such task,
	 * so that a JobManager does not wait for a report that went before
	 * its cancel (an orphan's, say). */
	atomic_bool reported;
	tm_op *ops[WR_JOB_MAX_NODES]; /* by node index; NULL if not ours */
	tm_op *head;                  /* the first operator of the chain */
	tm_output *outputs[TM_MAX_NEXT * WR_JOB_MAX_NODES];
	int noutputs;
	tm_input *input;
	int ninput_chans;
	wr_arena arena;         /* per-record scratch */
	struct wr_state *state; /* keyed state (window.c opens it), or NULL */
	int64_t watermark;      /* last watermark passed down the chain */
	bool wm_idle;           /* every input is idle */
	struct wr_metric *m_watermark, *m_backpressure;
	int64_t tick_last_ms; /* tm_task_tick's flush timer */
	bool tick_failed;     /* an operator's tick failed: FAILED */
	int64_t bp_last_ms;   /* back-pressure ratio: last sample */
	uint64_t bp_last_blocked;
	int64_t idle_ms;      /* waiting for input so far (tm_task_idle) */
	int64_t idle_last_ms; /* idle_ms at the last sample */
	/* The last second's shares (per mille) and the watermark, for the
	 * heartbeat's report (tm_tasks_list reads them on the link thread). */
	_Atomic int st_bp, st_idle, st_busy;
	_Atomic int64_t st_wm; /* TM_WM_MIN before the first */
	wr_buf enc;            /* encoding scratch */

	/* Checkpoints (task_ckpt.c). The trigger comes from the RPC thread
	 * under ck_mu; everything else is the task thread's. */
	pthread_mutex_t ck_mu;
	bool ck_trig_pending;
	tm_ckpt_trigger ck_trig;
	_Atomic uint64_t ck_complete; /* highest id reported complete */
	uint64_t ck_committed;        /* highest id the chain committed */
	uint64_t ck_last;             /* highest id snapshotted */
	uint64_t ck_align_id;         /* aligning this one; 0 = none */
	int64_t ck_align_start;       /* monotonic ms */
	tm_ckpt_trigger ck_align;     /* the barrier being aligned */
	bool *ck_align_got;           /* per input channel */
	bool *ck_chan_ended;          /* per input channel */
	bool ck_stopped; /* a stop-with-savepoint barrier left: wait */
	struct tm_ckpt_upload *ck_up; /* the snapshot being stored */
	struct tm_incr *ck_incr;      /* incremental chain (task_incr.h) */
	/* The checkpoint restored from (until the task ends). */
	struct wr_ckpt_meta *restore;
	bool state_owned; /* t->state opened by the restore */
	int keyed_node;   /* the node owning t->state; -1 = none */
	/* The running source: src_offsets appends its position (a Kafka
	 * source's partitions' next offsets, a generator's next record) to
	 * a checkpoint; src_commit commits those of checkpoint id to a
	 * Kafka consumer group (monitoring). */
	void (*src_offsets)(tm_task *t, struct wr_ckpt_meta *part);
	void (*src_commit)(tm_task *t, uint64_t id);
	void *src_impl;
	char failure[512];
	struct wr_metric *m_in, *m_out, *m_invalid, *m_late_dropped;
	/* bytes read (source messages, network batches) and written
	 * (network, sinks that encode) */
	struct wr_metric *m_bytes_in, *m_bytes_out;
	/* seconds busy, idle and back-pressured (Flink's
	 * busy/idle/backPressuredTimeMsPerSecond as counters: rate() them)
	 * and the last second's busy and idle shares */
	struct wr_metric *m_busy_s, *m_idle_s, *m_bp_s;
	struct wr_metric *m_busy_ratio, *m_idle_ratio;
};

/* Pushes r to every chained operator and main network route of op. */
int tm_op_emit(tm_op *op, const wr_row *r);

/* Sends r (a late record, as it arrived) to op's side routes: the nodes
 * reading its late_output. Call only when op->nside > 0. */
int tm_op_emit_side(tm_op *op, const wr_row *r);

/* Passes watermark wm to every chained operator (their watermark
 * callback, or on) and broadcasts it on op's network routes. */
int tm_op_emit_watermark(tm_op *op, int64_t wm);

/* Parses a watermark event's payload. WR_ECORRUPT if malformed. */
int tm_wm_payload_parse(const uint8_t *p, size_t len, int64_t *wm, bool *idle);

/* The chain's input watermark advanced (or idleness changed): records it
 * and passes it through the chain from its head (task.c). */
int tm_task_watermark(tm_task *t, int64_t wm, bool idle);

/* Windows and reduce (window.c): sets push, watermark, finish, destroy
 * of op for a WR_NODE_WINDOW or WR_NODE_REDUCE node; opens the task's
 * keyed state on first use. */
int tm_window_build(tm_task *t, tm_op *op, char *errbuf, size_t errlen);

/* Builds the operator of node i (filter, select, key_by, sink) with its
 * routes unset. Sources are driven by tm_source_run instead. */
int tm_op_build(tm_task *t, int node, tm_op **out, char *errbuf, size_t errlen);

/* Sinks (sinks.c). */
int tm_sink_new(tm_task *t, tm_op *op, char *errbuf, size_t errlen);
/* The PostgreSQL sink (sink_pg.c) and the Kafka sink with
 * semantic: exactly_once (sink_kafka_tx.c), both on the two-phase-commit
 * skeleton (sink_2pc.h): set every callback of op, including destroy, and
 * own op->impl. */
int tm_sink_pg_new(tm_task *t, tm_op *op, char *errbuf, size_t errlen);
int tm_sink_kafka_tx_new(tm_task *t, tm_op *op, char *errbuf, size_t errlen);
/* The ClickHouse sink (sink_clickhouse.c): at-least-once over HTTP, every
 * batch acknowledged before a barrier is; sets every callback of op. */
int tm_sink_clickhouse_new(tm_task *t, tm_op *op, char *errbuf, size_t errlen);

/* A Kafka message key: the value as text in buf (truncated to len - 1);
 * returns its length (0: no key). */
size_t tm_sink_kafka_key(const wr_value *v, char *buf, size_t len);

/* True when the task's job takes checkpoints (checkpointing.interval >
 * 0): sinks then commit on checkpoint completion, not before. */
bool tm_task_checkpointing(const tm_task *t);

/* The brokers a Kafka source or sink of the task connects to: its own
 * `bootstrap` when the job sets one, else this TaskManager's
 * kafka.bootstrap (weir.yaml, WEIR_KAFKA_BOOTSTRAP): the TaskManager is
 * the one that connects, so its view of the address is the one that
 * counts. Errors from Kafka name them. */
const char *tm_task_kafka_bootstrap(const tm_task *t, const char *own);

/* Runs the source of the chain's head node until it ends, the task is
 * cancelled, or an error occurs (sources.c, source_kafka.c). Returns
 * WR_OK when the source finished (bounded), WR_ECLOSED when cancelled. */
int tm_source_run(tm_task *t, tm_op *src);
/* The Kafka source: partition p is read by subtask p mod parallelism,
 * assigned directly (no consumer-group rebalancing decides who reads
 * what). */
int tm_source_kafka_run(tm_task *t, tm_op *src);
/* The nexmark source (source_nexmark.c): Nexmark's persons, auctions and
 * bids, deterministic per subtask. Generators run on the skeleton of
 * source_gen.h. */
int tm_source_nexmark_run(tm_task *t, tm_op *src);

/* Records a failure message for the task (first one wins). */
void tm_task_fail(tm_task *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Fencing of sinks (docs/architecture.md, TaskManager): a sink writes,
 * flushes or commits only while tm_sinks_open() and the task is no
 * orphan. tm_task_sinks_may_write says whether it may now;
 * tm_task_sink_wait holds the task until it may (a JobManager confirms
 * its TaskManager again), and returns false when it never will (cancelled
 * or orphaned). Checked after a record was read and before it reaches a
 * sink, so nothing read after a fence closed is written.
 */
bool tm_task_sinks_may_write(tm_task *t);
bool tm_task_sink_wait(tm_task *t);

/* Periodic housekeeping from inside long loops: flushes outputs on the
 * latency timer, takes checkpoints at sources, commits completed ones.
 * Returns false once the task is cancelled. */
bool tm_task_tick(tm_task *t);
/* The task waited ms for input (a source with nothing to read, an empty
 * input gate): its idle time (the report's idle and busy ratios). */
void tm_task_idle(tm_task *t, int64_t ms);

/* ---- checkpoints (task_ckpt.c) ---- */

/* <state_dir>/<job>/<vertex>-<subtask>-a<attempt>: the task's keyed
 * state. */
void tm_task_state_dir(const tm_task *t, char *buf, size_t len);
/* Before the chain is built: reads the checkpoint to restore (if any)
 * and fills the task's keyed state from it. */
int tm_task_restore_state(tm_task *t, char *errbuf, size_t errlen);
/* After the chain is built: hands restored operator states to the
 * operators' restore hooks. */
int tm_task_restore_ops(tm_task *t, char *errbuf, size_t errlen);
/* The restored next offset of topic/partition for the source node, or
 * -1 when the checkpoint has none. Generators use topic "" and their
 * subtask as the partition. */
int64_t tm_task_restored_offset(const tm_task *t, const char *topic,
                                int32_t partition);
/* From tm_task_tick: a source task takes a triggered checkpoint; every
 * task commits completed ones. Returns WR_OK or a failure. */
int tm_task_ckpt_poll(tm_task *t);
/* A barrier batch arrived on input channel ch (alignment). */
int tm_task_ckpt_barrier(tm_task *t, const tm_batch *b, int ch);
/* Input channel ch ended: it no longer holds up an alignment. */
int tm_task_ckpt_chan_ended(tm_task *t, int ch);
/* The task ends: commits what was reported complete (commit), frees
 * restore data. */
void tm_task_ckpt_fini(tm_task *t, bool commit);

#endif
