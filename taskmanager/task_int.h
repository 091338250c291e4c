/*
 * task_int.h - the inside of a task, shared by the task runtime only:
 * task.c, task_ckpt.c, emit.c (the emit path and the operator context),
 * timers.c (the timer service), sources.c (the source context) and
 * registry.c. Operators, sources and sinks see op.h instead. Everything
 * here belongs to the task's own thread unless marked otherwise.
 */
#ifndef TM_TASK_INT_H
#define TM_TASK_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "jobspec.h"
#include "op.h"
#include "plan.h"
#include "shuffle.h"
#include "task.h"
#include "wr_limits.h"

struct wr_metric;
struct tm_server;
struct tm_timers;

typedef struct tm_task tm_task;

/* A network output of an operator: one plan edge. */
typedef struct tm_route {
	const wr_edge *edge;
	tm_output *out;
	int nchannels;
	const int *keys; /* HASH: key fields (indices in the row) */
	int nkeys;
	int max_parallelism;
	uint64_t rr; /* REBALANCE: round-robin counter */
	bool side;   /* edge->side: carries side records (tm_emit_side) */
} tm_route;

/* An operator in its task (op.h's tm_ctx): its vtable and self, where its
 * records go, and its timers. */
struct tm_ctx {
	const wr_node_spec *node;
	tm_task *task;
	const tm_op_vt *vt;
	void *self;
	/* vt->process, copied: the emit path calls it directly */
	int (*process)(void *self, int input, const wr_row *r);
	bool is_sink; /* waits while sinks are fenced */
	tm_ctx *next[TM_MAX_NEXT];
	int next_input[TM_MAX_NEXT]; /* which input of next[i] this is */
	int nnext;
	/* Network outputs: main routes get tm_emit's records, side routes
	 * (a window's late_output; never chained) tm_emit_side's; both get
	 * watermarks and end of stream. */
	tm_route routes[TM_MAX_NEXT];
	int nroutes;
	int nside;  /* side routes among routes */
	int64_t wm; /* the last watermark handed to it */
	/* the timer service's per-domain timers (timers.c), on first use */
	struct tm_timers *timers[2];
};

/* The running source of a task (op.h's tm_src). */
struct tm_src {
	tm_task *task;
	tm_ctx *head; /* the source node's operator: records go after it */
	/* checkpoint hooks (tm_src_hooks) */
	void (*offsets)(void *arg, struct wr_ckpt_meta *part);
	void (*commit)(void *arg, uint64_t id);
	void *arg;
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
	tm_op_conf conf;               /* what operators see (op.h) */
	tm_ctx *ops[WR_JOB_MAX_NODES]; /* by node index; NULL if not ours */
	tm_ctx *head;                  /* the first operator of the chain */
	tm_src *src;                   /* the running source, or NULL */
	tm_output *outputs[TM_MAX_NEXT * WR_JOB_MAX_NODES];
	int noutputs;
	tm_input *input;
	int ninput_chans;
	int *chan_input; /* per input channel: its edge's input_index */
	int cur_input;   /* that of the batch being pushed */
	int depth;       /* > 0 while a record or watermark is processed */
	wr_arena arena;  /* per-record scratch */
	struct wr_state *state; /* keyed state (tm_state opens it), or NULL */
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
	int keyed_node; /* the node owning t->state; -1 = none */
	char failure[512];
	struct wr_metric *m_in, *m_out, *m_invalid, *m_late_dropped;
	struct wr_metric *m_cep_dropped;
	/* bytes read (source messages, network batches) and written
	 * (network, sinks that encode) */
	struct wr_metric *m_bytes_in, *m_bytes_out;
	/* seconds busy, idle and back-pressured (Flink's
	 * busy/idle/backPressuredTimeMsPerSecond as counters: rate() them)
	 * and the last second's busy and idle shares */
	struct wr_metric *m_busy_s, *m_idle_s, *m_bp_s;
	struct wr_metric *m_busy_ratio, *m_idle_ratio;
};

/* Parses a watermark event's payload. WR_ECORRUPT if malformed. */
int tm_wm_payload_parse(const uint8_t *p, size_t len, int64_t *wm, bool *idle);

/* The chain's input watermark advanced (or idleness changed): records it
 * and passes it through the chain from its head (task.c). */
int tm_task_watermark(tm_task *t, int64_t wm, bool idle);

/* Hands watermark wm to operator c: fires its event-time timers up to wm,
 * then its watermark callback (or passes wm on) (emit.c). */
int tm_ctx_watermark(tm_ctx *c, int64_t wm);

/* ---- registry.c: kinds -> vtables ---- */

/* The operator of node n (a sink's by its sink kind), or NULL with a
 * message in errbuf. */
const tm_op_vt *tm_registry_op(const wr_node_spec *n, const tm_op_conf *conf,
                               char *errbuf, size_t errlen);
/* The source of source node n, or NULL. */
const tm_source_vt *tm_registry_source(const wr_node_spec *n);
/* Whether nodes of kind keep keyed state (one such heads a vertex). */
bool tm_registry_keyed(enum wr_node_kind kind);

/* Builds the operator of node i with its routes unset (emit.c). */
int tm_ctx_build(tm_task *t, int node, tm_ctx **out, char *errbuf,
                 size_t errlen);
/* End of input at c: its event-time timers fire (the watermark
 * TM_WM_MAX, if it had not come), then its finish. */
int tm_ctx_finish(tm_ctx *c);
/* Closes c's operator and frees c. */
void tm_ctx_free(tm_ctx *c);

/* ---- timers.c: the timer service ---- */

/* Fires c's timers of domain d at or before limit, in time order across
 * the key groups this subtask owns. */
int tm_timers_fire(tm_ctx *c, tm_time_domain d, int64_t limit);
void tm_timers_free(struct tm_timers *tt);

/* Runs the source of the chain's head node until it ends, the task is
 * cancelled, or an error occurs. Returns WR_OK when the source finished
 * (bounded), WR_ECLOSED when cancelled. */
int tm_source_run(tm_task *t);

/* Fills t->conf, what its operators see of it (op.h), from its spec,
 * job, vertex and TaskManager. */
void tm_task_conf(tm_task *t);

/* Records a failure message for the task (first one wins). */
void tm_task_fail(tm_task *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tm_task_vfail(tm_task *t, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

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
/* The loop ended (rv): from now on a trigger is answered "not every task
 * runs" (tm_tasks_trigger); one a source took just before is still taken
 * here, its barrier ahead of the end of stream, so no trigger is lost. A
 * stop's barrier taken here is the last thing the task sends: it waits
 * for the cancel. Once per task; a source calls it through tm_src_end
 * while its offsets hook still gives its position. */
int tm_task_end_checkpoints(tm_task *t, int rv);
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
