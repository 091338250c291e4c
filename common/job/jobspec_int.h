/*
 * jobspec_int.h - private to the job parser (jobspec*.c): the parser's
 * context and the helpers that read typed values out of the YAML tree with
 * "file:line:col: " messages.
 *
 * Parsing runs in passes, each over the whole file, so that errors come in
 * an order a user can follow:
 *   1. top level, checkpointing, restart (jobspec.c)
 *   2. sources: connector, format, schema, event time (jobspec.c), then
 *      tables (jobspec_join.c)
 *   3. nodes, structurally: id, kind, from, parallelism, settings that need
 *      no schema (jobspec_node.c)
 *   4. the graph: ids resolved, sinks not read from, no cycles, then the
 *      nodes reordered so inputs come first (jobspec.c)
 *   5. schemas, in that order: expressions, keys, aggregates, sink keys
 *      checked against the schema flowing in (jobspec_node.c)
 *   6. max_parallelism against every node's parallelism (jobspec.c)
 * The YAML tree stays alive through all passes; each node remembers where
 * it was written (wr_job_pos) for messages.
 */
#ifndef WR_JOBSPEC_INT_H
#define WR_JOBSPEC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobspec.h"
#include "wr_yaml.h"

/* Where a source or node was written. */
typedef struct wr_job_pos {
	const wr_yaml_node *map;     /* its map */
	const wr_yaml_node *id;      /* the id (the key, for a source) */
	const wr_yaml_node *from[2]; /* scalars naming its inputs */
	const wr_yaml_node *kind;    /* the key naming its kind */
} wr_job_pos;

typedef struct wr_jp {
	const char *file; /* name for messages */
	const char *text; /* the job text, to place offsets in scalars */
	size_t len;
	char *errbuf;
	size_t errlen;
	int parallelism_override;
	wr_jobspec *spec;
	const wr_yaml_node *root;
	wr_job_pos pos[WR_JOB_MAX_NODES]; /* parallel to spec->nodes */
	size_t nsources;
} wr_jp;

/* Room for a "where" phrase or a quoted value in a message. */
#define WR_JOB_WHERE_BYTES 160

/* Writes "file:line:col: " + fmt into errbuf; returns WR_EINVAL. */
int wr_job_failat(wr_jp *p, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same at a YAML node's position. */
int wr_job_fail(wr_jp *p, const wr_yaml_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The key node of key in map (for positions), or NULL. */
const wr_yaml_node *wr_job_key(const wr_yaml_node *map, const char *key);

/* Refuses anything but a map; what names the value ("'checkpointing'").
 * A null value (a key with nothing after it) is accepted as an empty map
 * only when null_ok. */
int wr_job_need_map(wr_jp *p, const wr_yaml_node *n, const char *what,
                    bool null_ok);

/* Refuses keys of map not in known (NULL-terminated), naming where
 * ("node 'paid'") and listing the known keys. */
int wr_job_check_keys(wr_jp *p, const wr_yaml_node *map,
                      const char *const *known, const char *where);

/*
 * Typed values of key in map. path is the prefix that names the key in a
 * message ("checkpointing." gives "checkpointing.interval: ..."). An absent
 * key leaves *out as it is (the default), unless required. A value must be
 * a non-null scalar.
 */
int wr_job_scalar(wr_jp *p, const wr_yaml_node *map, const char *key,
                  const char *path, bool required, const wr_yaml_node **out);
int wr_job_str(wr_jp *p, const wr_yaml_node *map, const char *key,
               const char *path, bool required, char **out);
/* off_ok: "off" and "0" mean 0 (disabled) even when min > 0. */
int wr_job_dur(wr_jp *p, const wr_yaml_node *map, const char *key,
               const char *path, int64_t min, int64_t max, bool off_ok,
               int64_t *out);
int wr_job_int(wr_jp *p, const wr_yaml_node *map, const char *key,
               const char *path, int64_t min, int64_t max, int64_t *out);
int wr_job_double(wr_jp *p, const wr_yaml_node *map, const char *key,
                  const char *path, double min, double max, double *out);
/* names: "exactly_once|at_least_once"; *out is the index. */
int wr_job_enum(wr_jp *p, const wr_yaml_node *map, const char *key,
                const char *path, const char *names, int *out);

/* A Kafka topic name ([A-Za-z0-9._-], at most 249 bytes), as wr_job_str. */
int wr_job_topic(wr_jp *p, const wr_yaml_node *map, const char *key,
                 const char *path, bool required, char **out);
/* Index of key in names (NULL-terminated), or -1. */
int wr_job_kind_index(const char *const *names, const wr_yaml_node *key);
/* Exactly one of kinds (NULL-terminated) among map's keys: *which is its
 * index, *key its key node. what names the map ("sink of node 'x'"). */
int wr_job_one_of(wr_jp *p, const wr_yaml_node *map, const char *const *kinds,
                  const char *what, int *which, const wr_yaml_node **key);

/* Appends a source or node named by the scalar id, after checking the id
 * (valid, not taken). The node's fields are zero but for inputs, time and
 * key fields (-1); its position is recorded. */
int wr_job_add_node(wr_jp *p, const wr_yaml_node *id, const wr_yaml_node *map,
                    wr_node_spec **out);

/* True for [A-Za-z0-9_-]+ of at most WR_JOB_MAX_ID_BYTES - 1 bytes. */
bool wr_job_valid_id(const char *s, size_t len);
/* True for [A-Za-z_][A-Za-z0-9_]* of at most WR_JOB_MAX_ID_BYTES - 1 bytes:
 * a name expressions can refer to. */
bool wr_job_valid_field(const char *s, size_t len);

/* Pass 3 (jobspec_node.c): one element of `nodes:`; idx is its place in
 * the list (for messages about a node without an id). */
int wr_job_parse_node(wr_jp *p, const wr_yaml_node *map, size_t idx);
/* Pass 5 (jobspec_node.c): output schema and typed settings of node i,
 * whose inputs are already typed. */
int wr_job_type_node(wr_jp *p, size_t i);

/* Shared by the node parsers (jobspec_node.c and the files of one kind of
 * node): "node 'x': what: no field 'y' in its input (fields: ...)" at
 * (line, col); whether node i's records carry event time. */
int wr_job_no_field(wr_jp *p, int line, int col, const char *id,
                    const char *what, const char *name, size_t len,
                    const wr_schema *in);
bool wr_job_has_event_time(const wr_jobspec *spec, size_t i);
/* The first source on the way up from node i that has no event time
 * (node i itself lacking it). */
size_t wr_job_no_time_source(const wr_jobspec *spec, size_t i);

/* anomaly (jobspec_anomaly.c): the kind of a key_by node with `anomaly:`
 * (pass 3, refusing window and friends beside it), its settings (pass 3)
 * and its types and output schema (pass 5). */
int wr_job_anomaly_kind(wr_jp *p, wr_node_spec *n, const wr_yaml_node *map);
int wr_job_parse_anomaly(wr_jp *p, size_t i, const char *pre);
int wr_job_type_anomaly(wr_jp *p, size_t i, const wr_schema *in);
/* Shared by jobspec_node.c and the node kinds in their own files. */
/* key_by's shape: a non-empty list of at most WR_MAX_FIELDS names. */
int wr_job_node_key_by(wr_jp *p, const wr_node_spec *n, const wr_yaml_node *v);
/* key_by's fields in the input schema in (pass 5). */
int wr_job_type_keys(wr_jp *p, size_t i, const wr_schema *in);
/* The line and column of byte off of scalar v's value in the job text. */
void wr_job_scalar_at(const wr_jp *p, const wr_yaml_node *v, size_t off,
                      int *line, int *col);

/* jobspec_pattern.c: a pattern node (key_by + pattern). Its kind (pass 3,
 * from wr_job_node_kind when the node has `pattern:`), shape (pass 3) and
 * types (pass 5); wr_job_pattern_fini frees what they filled in. */
int wr_job_pattern_kind(wr_jp *p, size_t i);
int wr_job_parse_pattern(wr_jp *p, size_t i, const char *pre);
int wr_job_type_pattern(wr_jp *p, size_t i, const wr_schema *in);
void wr_job_pattern_fini(wr_pattern_spec *ps);

/* Shared with jobspec_join.c. jobspec.c: a source's kafka map into s (id
 * names it in messages); its format, schema, event_time and invalid keys
 * (the output schema is the schema). jobspec_node.c: a `window:` map into
 * n->window, size_ms, slide_ms, gap_ms; a list of input fields (see
 * there); whether node i has event time (all its inputs do). */
int wr_job_parse_kafka_src(wr_jp *p, wr_source_spec *s, const wr_yaml_node *m,
                           const char *id);
int wr_job_parse_payload(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m);
int wr_job_node_window(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m);
int wr_job_field_list(wr_jp *p, const char *node, const char *what,
                      const wr_yaml_node *v, const wr_schema *in, int *idx,
                      int *n);

/* jobspec_join.c (docs/joins.md). Pass 2: `tables:` (after `sources:`).
 * Pass 3: the join map of node i and its two inputs (instead of `from`).
 * Pass 4: tables feed only table joins, which read only tables. Pass 5:
 * keys, event time and output schema of join node i. */
int wr_job_parse_tables(wr_jp *p, const wr_yaml_node *m);
int wr_job_node_join(wr_jp *p, size_t i, const char *pre);
int wr_job_check_tables(wr_jp *p);
int wr_job_type_join(wr_jp *p, size_t i);

#endif
