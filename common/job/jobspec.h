/*
 * jobspec.h - a job file (SPEC "Job file") parsed and validated into a
 * logical graph of sources and nodes.
 *
 * wr_jobspec_parse checks everything that can be checked without running:
 * unknown keys, types and ranges, durations, ids (unique, used as operator
 * uids), dangling `from:`, cycles, schemas, expressions (parsed and type
 * checked against the schema flowing into the node), key fields, aggregate
 * arguments, sink settings. Every error names file:line:col.
 *
 * Each node's output schema is computed here, so the JobManager and the
 * TaskManagers (which parse the same job text) agree on every schema.
 * The spec is immutable after parsing; it may be read from any thread.
 */
#ifndef WR_JOBSPEC_H
#define WR_JOBSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expr.h"
#include "record.h"
#include "wr_limits.h"

enum wr_src_kind { WR_SRC_KAFKA, WR_SRC_DATAGEN, WR_SRC_NEXMARK, WR_SRC_FILE };
enum wr_startup { WR_STARTUP_EARLIEST, WR_STARTUP_LATEST, WR_STARTUP_GROUP };
enum wr_invalid_policy { WR_INVALID_FAIL, WR_INVALID_SKIP, WR_INVALID_DLQ };

typedef struct wr_source_spec {
	enum wr_src_kind kind;
	/* kafka */
	char *topic;
	char *bootstrap; /* NULL = the cluster's kafka.bootstrap */
	enum wr_startup startup;
	char *group;        /* consumer group for offset commits (monitoring) */
	bool allow_missing; /* a missing topic is waited for, not an error */
	/* datagen / nexmark */
	int64_t rate;  /* events per second per subtask; 0 = unthrottled */
	int64_t count; /* events per subtask; 0 = unbounded */
	/* file */
	char *path;
	/* format and schema */
	wr_schema schema;
	/* event time; field -1 = no event time */
	int time_field;
	int64_t max_out_of_orderness_ms;
	int64_t idle_timeout_ms;
	/* bad records */
	enum wr_invalid_policy invalid;
	char *dlq_topic;
	/* a table (`tables:`, docs/joins.md): a keyed changelog read like a
	 * Kafka source, feeding only a join's `table:`; pkeys are the
	 * primary key's field indices, in the order written */
	bool table;
	int pkeys[WR_MAX_FIELDS];
	int npkeys;
} wr_source_spec;

enum wr_node_kind {
	WR_NODE_SOURCE,
	WR_NODE_FILTER,
	WR_NODE_SELECT,
	WR_NODE_KEY_BY, /* key_by alone: repartition */
	WR_NODE_WINDOW, /* key_by + window + aggregate */
	WR_NODE_REDUCE, /* key_by + reduce */
	WR_NODE_JOIN,
	WR_NODE_PATTERN,
	WR_NODE_ANOMALY, /* key_by + anomaly (docs/anomaly.md) */
	WR_NODE_SINK,
};

enum wr_window_kind { WR_WIN_TUMBLING, WR_WIN_SLIDING, WR_WIN_SESSION };

/* The join forms (docs/joins.md). */
enum wr_join_kind {
	WR_JOIN_TABLE,    /* join: { table, on, type, as_of } */
	WR_JOIN_INTERVAL, /* join: { left, right, on, between, type } */
	WR_JOIN_WINDOW,   /* join: { left, right, on, window, type } */
};

enum wr_agg_fn {
	WR_AGG_COUNT,
	WR_AGG_SUM,
	WR_AGG_MIN,
	WR_AGG_MAX,
	WR_AGG_AVG,
	WR_AGG_COUNT_DISTINCT,
	WR_AGG_FIRST,
	WR_AGG_LAST,
};

typedef struct wr_agg_spec {
	char *name; /* output field */
	enum wr_agg_fn fn;
	int arg;           /* input field index; -1 for count() */
	enum wr_type type; /* output type */
} wr_agg_spec;

typedef struct wr_select_item {
	char *name;
	wr_expr *expr;
} wr_select_item;

enum wr_sink_kind {
	WR_SINK_KAFKA,
	WR_SINK_FILE,
	WR_SINK_STDOUT,
	WR_SINK_POSTGRES,
	WR_SINK_CLICKHOUSE,
	WR_SINK_BLACKHOLE /* counts and discards (Nexmark's measure) */
};
enum wr_semantic { WR_SEM_NONE, WR_SEM_AT_LEAST_ONCE, WR_SEM_EXACTLY_ONCE };

typedef struct wr_sink_spec {
	enum wr_sink_kind kind;
	char *topic;     /* kafka */
	char *bootstrap; /* kafka; NULL = cluster default */
	enum wr_semantic semantic;
	int key_field; /* kafka: -1 = no key */
	char *path;    /* file: directory */
	char *dsn;     /* postgres: libpq connection string */
	char *table;   /* postgres, clickhouse: "table" or "db.table" */
	bool upsert;   /* postgres: mode upsert (else append) */
	/* postgres upsert: the key's input field indices */
	int pg_keys[WR_MAX_FIELDS];
	int npg_keys;
	/* clickhouse: the HTTP interface's base URL, the user (NULL: the
	 * server's default), a file on the TaskManager holding the password
	 * (NULL: none), and when a batch is sent: rows, bytes, age (ms) */
	char *url;
	char *user;
	char *password_file;
	int64_t batch_rows, batch_bytes, flush_ms;
} wr_sink_spec;

/* anomaly: a value against its key's own history (docs/anomaly.md);
 * exactly one of history_ms and ewma is set (the other is 0). */
typedef struct wr_anomaly_spec {
	int value;          /* input field index (long or double) */
	int64_t history_ms; /* sliding history [ts - history, ts) */
	double ewma;        /* weight of the newest value, in (0, 1] */
	double threshold;   /* emit when |value - mean| > threshold * stddev */
	int64_t min_count;  /* values in the history before any emit */
	int line, col;      /* where `anomaly:` is written */
} wr_anomaly_spec;
/* How a pattern step's events follow the previous matched event (Flink's
 * next, followedBy, followedByAny, notNext, notFollowedBy). */
enum wr_contiguity {
	WR_CONT_NEXT,            /* strict: the key's very next event */
	WR_CONT_FOLLOWED_BY,     /* relaxed: skips events that do not match */
	WR_CONT_FOLLOWED_BY_ANY, /* non-deterministic: skips any event */
	WR_CONT_NOT_NEXT,        /* negated: the next event does not match */
	WR_CONT_NOT_FOLLOWED_BY, /* negated: no event in between matches */
};
enum wr_skip { WR_SKIP_NO_SKIP, WR_SKIP_PAST_LAST_EVENT, WR_SKIP_TO_NEXT };

/* A pattern step takes min..max events, or none when optional; a negated
 * step (WR_CONT_NOT_*) takes none: it forbids events. */
typedef struct wr_pattern_step {
	char *name;
	wr_expr *where;    /* NULL: every event; may refer to earlier steps */
	uint32_t min, max; /* max WR_PATTERN_UNBOUNDED: one_or_more */
	bool optional;
	enum wr_contiguity contiguity;
	int line, col; /* where the step is written */
} wr_pattern_step;

#define WR_PATTERN_UNBOUNDED UINT32_MAX

typedef struct wr_pattern_spec {
	wr_pattern_step *steps;
	int nsteps;
	int64_t within_ms; /* 0: no bound (every step strict) */
	enum wr_skip skip;
	wr_select_item *emit; /* over step references only */
	size_t nemit;
	/* side output of partial matches that expired (within), or NULL; its
	 * records have the node's output schema */
	char *timeout_output;
} wr_pattern_spec;

typedef struct wr_node_spec {
	char *id; /* operator uid */
	enum wr_node_kind kind;
	int line, col; /* where the node is defined */
	int inputs[2]; /* indices into spec->nodes; -1 = none */
	/* input k is the late_output (side output) of window node inputs[k],
	 * not its main output: its records are that node's input records */
	bool input_side[2];
	int ninputs;
	int parallelism;      /* resolved (node, else job default) */
	bool parallelism_set; /* written in the file */
	wr_schema out;        /* schema of the records it emits */
	/* filter */
	wr_expr *filter;
	/* select */
	wr_select_item *select;
	size_t nselect;
	/* key_by (window, reduce, key_by alone): input field indices */
	int keys[WR_MAX_FIELDS];
	int nkeys;
	/* window */
	enum wr_window_kind window;
	int64_t size_ms, slide_ms, gap_ms;
	int64_t allowed_lateness_ms;
	/* window: { ..., processing_time: true }: windows of the wall clock
	 * when records arrive, fired by it; no event time, no lateness */
	bool processing_time;
	char *late_output; /* side-output name or NULL */
	/* window aggregate / reduce */
	wr_agg_spec *aggs;
	size_t naggs;
	/* anomaly */
	wr_anomaly_spec anomaly;
	/* pattern (key_by + pattern): keys above; output: the key fields,
	 * match_start, match_end, the emit fields */
	wr_pattern_spec pattern;
	/* join (docs/joins.md): input 0 is the left (stream) side, input 1
	 * the right side or the table. join_keys[k] are input k's key field
	 * indices (on, right_on or the table's primary key, in the order of
	 * `on`), njoin_keys of them, of equal types pairwise. The output is
	 * input 0's fields, then input 1's (a name taken by input 0 gets
	 * input 1's id or table name and '_' in front), then for a window
	 * join window_start and window_end. A window join's window is in
	 * window, size_ms, slide_ms (tumbling or sliding). */
	enum wr_join_kind join;
	bool join_left;       /* type: left (else inner) */
	bool join_event_time; /* table join: as_of: event_time */
	int64_t join_lower_ms, join_upper_ms; /* interval: between */
	int join_keys[2][WR_MAX_FIELDS];
	int njoin_keys;
	/* sink */
	wr_sink_spec sink;
	/* source */
	wr_source_spec source;
} wr_node_spec;

typedef struct wr_checkpoint_spec {
	int64_t interval_ms; /* 0 = checkpointing off */
	int64_t timeout_ms;
	int64_t min_pause_ms;
	enum wr_semantic mode;
	int retained;
	int tolerable_failed;
	/* keyed state: upload what changed since the previous checkpoint
	 * (docs/checkpoints.md); false: the whole state every time */
	bool incremental;
} wr_checkpoint_spec;

enum wr_restart_kind {
	WR_RESTART_NONE,
	WR_RESTART_FIXED,
	WR_RESTART_EXPONENTIAL
};

typedef struct wr_restart_spec {
	enum wr_restart_kind kind;
	int64_t delay_ms; /* fixed_delay; initial for exponential */
	int64_t max_delay_ms;
	double multiplier;
	int64_t attempts; /* -1 = unbounded */
} wr_restart_spec;

typedef struct wr_jobspec {
	char *file; /* name used in messages */
	char *text; /* the job file's text, as submitted */
	char *name;
	int parallelism;
	int max_parallelism;
	wr_checkpoint_spec checkpointing;
	wr_restart_spec restart;
	/* sources first (in file order), then nodes (file order); a node's
	 * inputs always come before it once validated (no cycles). */
	wr_node_spec *nodes;
	size_t nnodes;
} wr_jobspec;

/*
 * Parses and validates a job. name is used in messages ("orders.yaml").
 * parallelism_override > 0 replaces the job's default parallelism (weir run
 * -p) for nodes that do not set their own. On error returns WR_EINVAL with
 * "name:line:col: what is wrong" in errbuf.
 */
int wr_jobspec_parse(const char *name, const char *text, size_t len,
                     int parallelism_override, wr_jobspec **out, char *errbuf,
                     size_t errlen);
int wr_jobspec_load_file(const char *path, int parallelism_override,
                         wr_jobspec **out, char *errbuf, size_t errlen);

/* Index of the node with this id, or -1. */
int wr_jobspec_find(const wr_jobspec *spec, const char *id);

/* The schema of the records on input k of n: the input node's output,
 * or for a side input (a window's late_output) the window's own input. */
const wr_schema *wr_jobspec_input_schema(const wr_jobspec *spec,
                                         const wr_node_spec *n, int k);

/* Accepts NULL. */
void wr_jobspec_free(wr_jobspec *spec);

#endif
