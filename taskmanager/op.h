/*
 * op.h - the operator API: the only runtime header operators, sources and
 * sinks include. An operator is a vtable (tm_op_vt) plus a context the
 * runtime hands it (tm_ctx: emit, side output, watermarks, keyed state,
 * timers, configuration, counters, sink fencing, fail); a source is a run
 * function plus its own context (tm_src). Both are registered by kind in
 * registry.c: adding one is a new file and one table row.
 *
 * Threading: everything here runs on the task's thread (@thread task);
 * an operator needs no locks for its own state.
 *
 * Writing a keyed operator (a join, a CEP pattern, an anomaly detector):
 *   - it heads its vertex (a HASH edge leads to it), so every record it is
 *     given has a key group this subtask owns (tm_key_groups); compute the
 *     group as the shuffle does: h = 0, h = wr_value_hash(&v, h) over the
 *     node's key fields in order, kg = wr_key_group(h, max_parallelism);
 *   - its key is the key fields' values encoded as a row (wr_row_encode:
 *     canonical, so equal keys have equal bytes; at most
 *     TM_WIN_MAX_KEY_BYTES); the schema of input i is
 *     wr_jobspec_input_schema(tm_conf(ctx)->job, node, i);
 *   - it keeps everything it buffers in keyed state (tm_state, then
 *     state.h's wr_state_get/put/del/scan): a record is put under (kg,
 *     one of its state ids, key + whatever orders it, e.g. the event time
 *     big-endian); the checkpoint of the backend then holds it, and a
 *     restore (also after rescaling) gives each subtask exactly its key
 *     groups back; nothing it keeps in memory survives a restore;
 *   - it sets an event-time timer per key for when the watermark passes
 *     what it waits for (tm_timer_set, TM_TIME_EVENT) and does its work in
 *     the timer callback: emit what is complete, delete the state it no
 *     longer needs. Timers live in keyed state too, so they survive a
 *     restore; the runtime fires them in time order before it hands the
 *     operator the watermark that passed them;
 *   - process() sees input 0 or 1 (the plan edge's input_index: a join's
 *     left and right); a record at or before tm_current_watermark() is
 *     late: to tm_emit_side when tm_has_side(), else counted
 *     (TM_COUNT_LATE_DROPPED);
 *   - strings in a record point into the input (or the per-record arena):
 *     what it emits from a timer comes from state, decoded into its own
 *     row (wr_row_decode) and emitted with tm_emit before the callback
 *     returns.
 */
#ifndef TM_OP_H
#define TM_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "jobspec.h"
#include "plan.h" /* wr_key_group */
#include "record.h"

struct wr_state;
struct wr_metric;
struct wr_ckpt_meta;

/* An operator's place in its task (opaque: only the calls below). */
typedef struct tm_ctx tm_ctx;
/* A running source's place in its task. */
typedef struct tm_src tm_src;

/* Watermarks: before the first one, and at the end of input. */
#ifndef TM_WM_MIN
#define TM_WM_MIN INT64_MIN
#define TM_WM_MAX INT64_MAX
#endif

/* ---- configuration ---- */

/* What an operator may know of its task; the same for every operator of
 * the task, valid from open to close. */
typedef struct tm_op_conf {
	const char *job_id;    /* 32 hex characters */
	const char *job_name;  /* the job's name */
	const wr_jobspec *job; /* the parsed job (nodes, schemas) */
	const char *label;     /* "job=abcd1234 task=0/1", for logs */
	const char *tm_id;     /* this TaskManager's id */
	int vertex;            /* the vertex this task runs */
	const char *vertex_name;
	int subtask, parallelism, max_parallelism;
	uint32_t attempt;   /* the job's attempt (restarts count up) */
	bool checkpointing; /* checkpointing.interval > 0: sinks commit on
	                     * checkpoint completion, not before */
	/* This TaskManager's kafka.bootstrap (weir.yaml,
	 * WEIR_KAFKA_BOOTSTRAP); see tm_conf_kafka_bootstrap. */
	const char *kafka_bootstrap;
	int64_t kafka_fetch_wait_ms; /* kafka.fetch_wait: sources */
	int64_t kafka_linger_ms;     /* kafka.linger: sinks */
	const char *state_dir;       /* taskmanager.state_dir */
} tm_op_conf;

/* The brokers a Kafka source or sink connects to: its own `bootstrap`
 * when the job sets one (own != NULL), else the TaskManager's: the
 * TaskManager is the one that connects, so its view counts. */
const char *tm_conf_kafka_bootstrap(const tm_op_conf *c, const char *own);

/* ---- operators ---- */

/* One restored operator snapshot (tm_op_vt.restore). */
typedef struct tm_op_state {
	int subtask;   /* the subtask of the previous run that wrote it */
	uint64_t ckpt; /* the checkpoint it was taken for */
	const uint8_t *data;
	size_t len;
} tm_op_state;

/* Timer domains: event time (fired by watermarks) and processing time
 * (fired by the wall clock, on the task's tick: every ~10 ms). */
typedef enum tm_time_domain {
	TM_TIME_EVENT = 0,
	TM_TIME_PROC = 1
} tm_time_domain;

/* A timer that fired (tm_op_vt.timer). key is valid during the call. */
typedef struct tm_timer {
	tm_time_domain domain;
	int64_t ts;  /* the time it was set for */
	uint8_t tag; /* the operator's: what the timer is for */
	int key_group;
	const void *key; /* the key bytes it was set with */
	size_t klen;
} tm_timer;

/*
 * An operator. self is what open made; every callback but open gets it.
 * Return WR_OK, or an error that fails the task (call tm_fail first with
 * the reason: the first message is the task's failure). Optional ones may
 * be NULL.
 */
typedef struct tm_op_vt {
	const char *name; /* "filter", "window", "file sink": for messages */
	/* Builds the operator of node (errbuf: why not). The context stays
	 * valid until close: keep it in self. */
	int (*open)(tm_ctx *ctx, const wr_node_spec *node, void **self,
	            char *errbuf, size_t errlen);
	/* One record on input `input` (0, or 1 for a node's second input).
	 * r and its strings are valid during the call only: copy what you
	 * keep (into keyed state). */
	int (*process)(void *self, int input, const wr_row *r);
	/* Optional: the watermark reached wm (ms; TM_WM_MAX at the end of
	 * input). Event-time timers at or before wm have fired already. An
	 * operator that holds the watermark back (it buffers records it has
	 * not emitted yet) passes on its own with tm_emit_watermark. NULL:
	 * passed on unchanged. */
	int (*watermark)(void *self, int64_t wm);
	/* Optional (required once the operator sets timers): a timer of
	 * tm_timer_set fired; it is deleted already, and may be set again.
	 * Never called from inside the operator's own process or watermark:
	 * event-time timers fire before the watermark callback, processing-
	 * time ones from the task's tick between records. */
	int (*timer)(void *self, const tm_timer *tm);
	/*
	 * Optional: checkpoints (docs/checkpoints.md), in chain order.
	 * snapshot: the barrier of ckpt reached the operator: every record it
	 * was given before belongs to ckpt, none after. Keyed state needs
	 * nothing here (the runtime snapshots the backend); a transactional
	 * sink pre-commits and appends to out what it needs to finish or
	 * abort that after a restore (at most TM_OP_STATE_MAX_BYTES; it goes
	 * to the checkpoint's metadata).
	 * restore: before the first record of a restored task: states[i] are
	 * the snapshots of the old subtasks this one takes over (old subtask
	 * j goes to new subtask j mod parallelism).
	 * notify_complete: checkpoint ckpt is durable: commit everything
	 * pre-committed for it and earlier. One may be skipped; a later one
	 * covers it.
	 */
	int (*snapshot)(void *self, uint64_t ckpt, wr_buf *out);
	int (*restore)(void *self, const tm_op_state *states, int n);
	int (*notify_complete)(void *self, uint64_t ckpt);
	/* Optional: every ~10 ms, also when no record comes (processing
	 * time: a sink makes written data visible, rolls files). Not called
	 * on a sink while it is fenced. */
	int (*tick)(void *self, int64_t now_ms);
	/* Optional: end of bounded input (after the watermark TM_WM_MAX):
	 * emit and commit everything. A task cancelled or failed while
	 * checkpointing is on does not call finish on its sinks. */
	int (*finish)(void *self);
	/* Optional: frees self. Without finish before it, a sink aborts its
	 * open transaction (pre-committed ones stay for the restore). */
	void (*close)(void *self);
} tm_op_vt;

/* Passes r to every chained operator and network route after this one. */
int tm_emit(tm_ctx *c, const wr_row *r);
/* Whether a node reads this operator's side output (late_output). */
bool tm_has_side(const tm_ctx *c);
/* Sends r to the side output's readers (call only when tm_has_side). */
int tm_emit_side(tm_ctx *c, const wr_row *r);
/* Passes watermark wm on (chained operators, network routes). */
int tm_emit_watermark(tm_ctx *c, int64_t wm);

/* The task's configuration. */
const tm_op_conf *tm_conf(const tm_ctx *c);
/* Per-record scratch memory, reset after each record the task reads. */
wr_arena *tm_arena(tm_ctx *c);

/* Records a failure of the task (the first one wins). */
void tm_fail(tm_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* True once the task is told to stop: a long wait gives up. */
bool tm_cancelled(const tm_ctx *c);
/* Housekeeping from inside a long wait (a full producer queue): flushes
 * outputs, takes checkpoints, commits. False once the task stops. */
bool tm_yield(tm_ctx *c);

/* Counters of the task (SPEC "Metrics"). */
typedef enum tm_counter {
	TM_COUNT_IN,           /* weir_records_in_total */
	TM_COUNT_BYTES_IN,     /* weir_bytes_in_total */
	TM_COUNT_OUT,          /* weir_records_out_total: a sink's writes */
	TM_COUNT_BYTES_OUT,    /* weir_bytes_out_total */
	TM_COUNT_INVALID,      /* weir_invalid_records_total */
	TM_COUNT_LATE_DROPPED, /* weir_late_records_dropped_total */
	/* weir_cep_partial_matches_dropped_total: a pattern's partial
	 * matches over TM_CEP_MAX_PARTIALS for their key */
	TM_COUNT_CEP_DROPPED,
} tm_counter;
void tm_count(tm_ctx *c, tm_counter which, double n);

/*
 * Fencing of sinks (docs/architecture.md, TaskManager): a sink writes,
 * flushes or commits only while this TaskManager is confirmed by a
 * JobManager and the task is no orphan. The runtime waits before it hands
 * a sink a record; a sink that writes from elsewhere (a background flush,
 * a commit) asks tm_sink_may_write, or waits with tm_sink_wait (false:
 * it never will - cancelled or orphaned).
 */
bool tm_sink_may_write(tm_ctx *c);
bool tm_sink_wait(tm_ctx *c);

/* ---- keyed state and timers ---- */

/* The task's keyed state (state.h), opened on first use. Its state ids
 * TM_STATE_ID_TIMER_EVENT and TM_STATE_ID_TIMER_PROC are the timer
 * service's; an operator's own entries use other ids in [1, 127]. */
#define TM_STATE_ID_TIMER_EVENT 2
#define TM_STATE_ID_TIMER_PROC  6
int tm_state(tm_ctx *c, struct wr_state **out);
/* The key groups [first, last] this subtask owns. */
void tm_key_groups(const tm_ctx *c, int *first, int *last);

/* Sets a timer of key (klen <= TM_WIN_MAX_KEY_BYTES) in key group kg at
 * ts with the operator's tag; setting it again is a no-op. Timers fire in
 * time order (at one time: by key group, then tag, then key bytes), each
 * once, through the timer callback. An event-time timer at or before the
 * current watermark fires with the next watermark. */
int tm_timer_set(tm_ctx *c, tm_time_domain d, int kg, const void *key,
                 size_t klen, int64_t ts, uint8_t tag);
/* Deletes such a timer (none: no-op). */
int tm_timer_del(tm_ctx *c, tm_time_domain d, int kg, const void *key,
                 size_t klen, int64_t ts, uint8_t tag);
/* The last watermark the operator was handed (TM_WM_MIN before one). */
int64_t tm_current_watermark(const tm_ctx *c);

/* ---- sources ---- */

/*
 * A source: run reads or makes records until its input ends (WR_OK: a
 * bounded source), the task is cancelled (WR_ECLOSED: tm_src_tick
 * returned false) or an error occurs (after tm_src_fail). It calls
 * tm_src_tick often (every few ms, also while it waits), emits each
 * record with tm_src_emit, resets the arena after it, and sends its
 * watermark with tm_src_watermark.
 */
typedef struct tm_source_vt {
	const char *name;
	int (*run)(tm_src *s, const wr_node_spec *node);
} tm_source_vt;

/* Pushes r down the chain (the operators after the source). */
int tm_src_emit(tm_src *s, const wr_row *r);
/* The source's watermark advanced (or its idleness changed). */
int tm_src_watermark(tm_src *s, int64_t wm, bool idle);
/* Housekeeping: flushes, checkpoints (the hooks below run from here),
 * commits. False once the task stops. */
bool tm_src_tick(tm_src *s);
/* The source waited ms for input (the idle and busy ratios). */
void tm_src_idle(tm_src *s, int64_t ms);

/*
 * Checkpoint hooks, set while the source runs (NULL to clear): offsets
 * appends the source's position (wr_ckpt_meta_add_offset: a Kafka
 * source's partitions' next offsets, a generator's next record) to a
 * checkpoint being taken; commit tells it that checkpoint id completed
 * (a Kafka source commits its offsets to the consumer group).
 */
void tm_src_hooks(tm_src *s,
                  void (*offsets)(void *arg, struct wr_ckpt_meta *part),
                  void (*commit)(void *arg, uint64_t id), void *arg);
/* The restored next offset of topic/partition, or -1. Generators use
 * topic "" and their subtask as the partition. */
int64_t tm_src_restored_offset(const tm_src *s, const char *topic,
                               int32_t partition);
/* The end of a bounded input, called before the hooks are cleared: a
 * checkpoint triggered just before is taken now, with the position. After
 * a stop's barrier it returns once the task is cancelled. */
int tm_src_end(tm_src *s, int rv);
/* A stop-with-savepoint barrier left: the source emits nothing more. */
bool tm_src_stopped(const tm_src *s);
/* The highest checkpoint reported complete. */
uint64_t tm_src_completed(const tm_src *s);

const tm_op_conf *tm_src_conf(const tm_src *s);
wr_arena *tm_src_arena(tm_src *s);
void tm_src_fail(tm_src *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tm_src_count(tm_src *s, tm_counter which, double n);
/* A gauge of the task's series with two more labels (a partition's
 * lag), without a value until set; released when the source ends. */
struct wr_metric *tm_src_gauge(tm_src *s, const char *name, const char *help,
                               const char *label1, const char *value1,
                               const char *label2, const char *value2);
void tm_src_gauge_release(tm_src *s, struct wr_metric *m);

/* ---- table changelogs (docs/joins.md) ---- */

/*
 * A table's tombstone (a Kafka record with a null value) travels as a row
 * one field wider than the table's schema (width fields): the key's fields
 * set (and, for a table with event time, its time field: the record's
 * Kafka timestamp), the others NULL, and one more field, BOOL true, past
 * the schema. The row codec carries any width, so it crosses the shuffle
 * as it is. Only a table source makes one and only a stream-table join
 * reads a table (the job parser allows nothing else), so no other
 * operator ever sees one. width < WR_MAX_FIELDS: a join's output holds
 * the table's fields and at least one of the stream's.
 */
static inline void
tm_row_mark_delete(wr_row *r, uint32_t width)
{
	for (uint32_t f = r->n; f < width; f++)
		r->v[f].type = WR_T_NULL;
	r->v[width] = (wr_value){.type = WR_T_BOOL, .u.b = true};
	r->n = width + 1;
}

static inline bool
tm_row_is_delete(const wr_row *r, uint32_t width)
{
	return width < WR_MAX_FIELDS && r->n == width + 1 &&
	       r->v[width].type == WR_T_BOOL && r->v[width].u.b;
}

#endif
