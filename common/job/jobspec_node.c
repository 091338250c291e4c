/*
 * jobspec_node.c - the elements of `nodes:`: their shape (pass 3: kind,
 * `from:`, settings that need no schema) and their types (pass 5: the
 * schema flowing in checks expressions, keys, aggregates and sink keys,
 * and gives the node's output schema). See jobspec_int.h for the passes.
 *
 * Output schemas: filter and key_by pass their input's schema on; select
 * builds one from its expressions, in the order written; a window emits
 * the key fields, window_start, window_end (timestamps) and the
 * aggregates; reduce the key fields and the aggregates; a sink nothing.
 */
#include "jobspec.h"
#include "jobspec_int.h"

#include "buf.h"
#include "err.h"
#include "expr.h"
#include "mem.h"
#include "parse.h"
#include "record.h"
#include "wr_assert.h"
#include "wr_limits.h"
#include "wr_yaml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const wr_job_node_keys[] = {
    "id",          "from",   "parallelism", "filter", "select",
    "key_by",      "window", "aggregate",   "reduce", "allowed_lateness",
    "late_output", "join",   "pattern",     "sink",   "anomaly",
    NULL};
static const char *const wr_job_node_kinds[] = {
    "filter", "select", "key_by", "join", "pattern", "sink", NULL};
static const enum wr_node_kind wr_job_node_kind_of[] = {
    WR_NODE_FILTER, WR_NODE_SELECT,  WR_NODE_KEY_BY,
    WR_NODE_JOIN,   WR_NODE_PATTERN, WR_NODE_SINK};
/* Keys that only a key_by node takes. */
static const char *const wr_job_keyed_keys[] = {
    "window",      "aggregate", "reduce", "allowed_lateness",
    "late_output", "anomaly",   NULL};
static const char *const wr_job_window_keys[] = {
    "tumbling", "sliding", "slide", "session", "processing_time", NULL};
static const char *const wr_job_window_kinds[] = {"tumbling", "sliding",
                                                  "session", NULL};
static const char *const wr_job_sink_kinds[] = {
    "kafka", "file", "stdout", "postgres", "clickhouse", "blackhole", NULL};
static const char *const wr_job_kafka_sink_keys[] = {"topic", "bootstrap",
                                                     "semantic", "key", NULL};
static const char *const wr_job_file_sink_keys[] = {"path", NULL};
static const char *const wr_job_pg_sink_keys[] = {"dsn", "table", "mode", "key",
                                                  NULL};
static const char *const wr_job_ch_sink_keys[] = {
    "url",        "table",       "user",           "password_file",
    "batch_rows", "batch_bytes", "flush_interval", NULL};
static const char *const wr_job_no_keys[] = {NULL};
/* Indexed by enum wr_agg_fn. */
static const char *const wr_job_agg_names[] = {
    "count",          "sum",   "min",  "max", "avg",
    "count_distinct", "first", "last", NULL};

/* ---- shape (pass 3) ---------------------------------------------------- */

/* window, aggregate, reduce: which combination, for a key_by node. */
static int
wr_job_keyed_kind(wr_jp *p, wr_node_spec *n, const wr_yaml_node *map)
{
	const wr_yaml_node *win = wr_job_key(map, "window");
	const wr_yaml_node *agg = wr_job_key(map, "aggregate");
	const wr_yaml_node *red = wr_job_key(map, "reduce");
	const wr_yaml_node *late = wr_job_key(map, "allowed_lateness");

	if (wr_job_key(map, "anomaly") != NULL)
		return wr_job_anomaly_kind(p, n, map);
	if (late == NULL)
		late = wr_job_key(map, "late_output");
	if (win != NULL && red != NULL)
		return wr_job_fail(p, red,
		                   "node '%s': 'reduce' cannot be combined "
		                   "with 'window' (a window computes "
		                   "'aggregate')",
		                   n->id);
	if (win != NULL && agg == NULL)
		return wr_job_fail(p, win,
		                   "node '%s': 'window' needs 'aggregate' "
		                   "(what to compute per key and window)",
		                   n->id);
	if (agg != NULL && win == NULL)
		return wr_job_fail(p, agg,
		                   "node '%s': 'aggregate' needs a 'window' "
		                   "(for a running aggregate per key, use "
		                   "'reduce')",
		                   n->id);
	if (win == NULL && late != NULL)
		return wr_job_fail(p, late,
		                   "node '%s': '%s' applies only to windows",
		                   n->id, late->scalar);
	n->kind = win != NULL   ? WR_NODE_WINDOW
	          : red != NULL ? WR_NODE_REDUCE
	                        : WR_NODE_KEY_BY;
	return WR_OK;
}

/* Exactly one kind; window and friends only with key_by. */
static int
wr_job_node_kind(wr_jp *p, size_t i)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *map = p->pos[i].map, *first = NULL;
	int which = -1;

	if (wr_yaml_map_get(map, "pattern") != NULL)
		return wr_job_pattern_kind(p, i);

	/* In document order, so the second kind written is the one named. */
	for (size_t m = 0; m < map->n; m++) {
		const wr_yaml_node *k = map->keys[m];
		int j = wr_job_kind_index(wr_job_node_kinds, k);
		if (j < 0)
			continue;
		if (first != NULL)
			return wr_job_fail(
			    p, k,
			    "node '%s' has two kinds, '%s' (%d:%d) and '%s': a "
			    "node does one thing (chain nodes with 'from:')",
			    n->id, first->scalar, first->line, first->col,
			    k->scalar);
		first = k;
		which = j;
	}
	for (size_t m = 0; m < map->n; m++) {
		const wr_yaml_node *k = map->keys[m];
		if (wr_job_kind_index(wr_job_keyed_keys, k) >= 0 &&
		    (which < 0 || wr_job_node_kind_of[which] != WR_NODE_KEY_BY))
			return wr_job_fail(p, k,
			                   "node '%s': '%s' needs 'key_by'",
			                   n->id, k->scalar);
	}
	if (first == NULL)
		return wr_job_fail(
		    p, p->pos[i].id,
		    "node '%s' has no kind: give it one of "
		    "filter, select, key_by, join, pattern, sink",
		    n->id);
	p->pos[i].kind = first;
	n->kind = wr_job_node_kind_of[which];
	return n->kind == WR_NODE_KEY_BY ? wr_job_keyed_kind(p, n, map) : WR_OK;
}

static int
wr_job_node_from(wr_jp *p, size_t i, const char *pre)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *v = wr_yaml_map_get(p->pos[i].map, "from");
	int rc;

	if (n->kind == WR_NODE_JOIN)
		return wr_job_node_join(p, i, pre);
	if (v != NULL && v->kind == WR_YAML_SEQ)
		return wr_job_fail(p, v,
		                   "node '%s': 'from' takes the id of one "
		                   "source or node (a join names its inputs "
		                   "in join.left and join.right)",
		                   n->id);
	rc = wr_job_scalar(p, p->pos[i].map, "from", pre, true, &v);
	if (rc != WR_OK)
		return rc;
	p->pos[i].from[0] = v;
	n->ninputs = 1;
	return WR_OK;
}

/* A map of output names to scalars: select, aggregate, reduce. */
static int
wr_job_named_scalars(wr_jp *p, const wr_node_spec *n, const wr_yaml_node *m,
                     const char *key)
{
	char what[WR_JOB_WHERE_BYTES], name[WR_JOB_WHERE_BYTES];
	int rc;

	snprintf(what, sizeof(what), "node '%s': '%s'", n->id, key);
	if ((rc = wr_job_need_map(p, m, what, false)))
		return rc;
	if (m->n == 0)
		return wr_job_fail(p, m, "node '%s': %s is empty", n->id, key);
	if (m->n > WR_MAX_FIELDS)
		return wr_job_fail(p, m,
		                   "node '%s': %s has more than %d fields",
		                   n->id, key, WR_MAX_FIELDS);
	snprintf(what, sizeof(what), "node '%s': %s.", n->id, key);
	for (size_t j = 0; j < m->n; j++) {
		const wr_yaml_node *k = m->keys[j], *v;
		wr_quote_for_msg(k->scalar, k->scalar_len, name, sizeof(name));
		if (!wr_job_valid_field(k->scalar, k->scalar_len))
			return wr_job_fail(
			    p, k,
			    "node '%s': %s: '%s' is not a valid "
			    "field name (letters, digits and '_', "
			    "not starting with a digit)",
			    n->id, key, name);
		if ((rc = wr_job_scalar(p, m, k->scalar, what, true, &v)))
			return rc;
	}
	return WR_OK;
}

int
wr_job_node_window(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m)
{
	char what[WR_JOB_WHERE_BYTES], pre[WR_JOB_WHERE_BYTES];
	const wr_yaml_node *kind, *slide = wr_yaml_map_get(m, "slide");
	char a[32], b[32];
	int which, proc = 0, rc;

	snprintf(what, sizeof(what), "the window of node '%s'", n->id);
	snprintf(pre, sizeof(pre), "node '%s': window.", n->id);
	if ((rc = wr_job_need_map(p, m, "'window'", false)) ||
	    (rc = wr_job_check_keys(p, m, wr_job_window_keys, "in 'window'")) ||
	    (rc = wr_job_one_of(p, m, wr_job_window_kinds, what, &which,
	                        &kind)) ||
	    (rc = wr_job_enum(p, m, "processing_time", pre, "false|true",
	                      &proc)))
		return rc;
	n->window = (enum wr_window_kind)which;
	n->processing_time = proc == 1;
	if (n->processing_time && n->kind == WR_NODE_JOIN)
		return wr_job_fail(p, wr_job_key(m, "processing_time"),
		                   "%sprocessing_time: a window join runs in "
		                   "event time",
		                   pre);
	if (n->window != WR_WIN_SLIDING && slide != NULL)
		return wr_job_fail(p, wr_job_key(m, "slide"),
		                   "%sslide applies only to sliding windows",
		                   pre);
	if (n->window == WR_WIN_SESSION)
		return wr_job_dur(p, m, "session", pre, 1, WR_JOB_MAX_WINDOW_MS,
		                  false, &n->gap_ms);
	if ((rc = wr_job_dur(p, m, kind->scalar, pre, 1, WR_JOB_MAX_WINDOW_MS,
	                     false, &n->size_ms)))
		return rc;
	if (n->window == WR_WIN_TUMBLING)
		return WR_OK;
	if (slide == NULL)
		return wr_job_fail(p, m,
		                   "%sslide is required for a sliding "
		                   "window",
		                   pre);
	if ((rc = wr_job_dur(p, m, "slide", pre, 1, WR_JOB_MAX_WINDOW_MS, false,
	                     &n->slide_ms)))
		return rc;
	if ((n->size_ms + n->slide_ms - 1) / n->slide_ms >
	    WR_JOB_MAX_WINDOW_OVERLAP) {
		wr_format_duration(n->size_ms, a, sizeof(a));
		wr_format_duration(n->slide_ms, b, sizeof(b));
		return wr_job_fail(
		    p, slide,
		    "%sslide: a %s window sliding by %s puts "
		    "each record in %lld windows (at most %d)",
		    pre, a, b,
		    (long long)((n->size_ms + n->slide_ms - 1) / n->slide_ms),
		    WR_JOB_MAX_WINDOW_OVERLAP);
	}
	return WR_OK;
}

int
wr_job_node_key_by(wr_jp *p, const wr_node_spec *n, const wr_yaml_node *v)
{
	if (v->kind == WR_YAML_MAP || (v->kind == WR_YAML_SCALAR && v->is_null))
		return wr_job_fail(p, v,
		                   "node '%s': key_by must be a list of field "
		                   "names, not a %s",
		                   n->id,
		                   v->kind == WR_YAML_MAP ? "map" : "null");
	if (v->kind == WR_YAML_SEQ && v->n == 0)
		return wr_job_fail(p, v, "node '%s': key_by is empty", n->id);
	if (v->kind == WR_YAML_SEQ && v->n > WR_MAX_FIELDS)
		return wr_job_fail(p, v,
		                   "node '%s': key_by has more than %d "
		                   "fields",
		                   n->id, WR_MAX_FIELDS);
	return WR_OK;
}

static int
wr_job_node_keyed(wr_jp *p, size_t i, const char *pre)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *map = p->pos[i].map, *v;
	char shown[WR_JOB_WHERE_BYTES];
	int rc;

	if ((rc = wr_job_node_key_by(p, n, wr_yaml_map_get(map, "key_by"))))
		return rc;
	if (n->kind == WR_NODE_KEY_BY)
		return WR_OK;
	if (n->kind == WR_NODE_ANOMALY)
		return wr_job_parse_anomaly(p, i, pre);
	if (n->kind == WR_NODE_REDUCE)
		return wr_job_named_scalars(
		    p, n, wr_yaml_map_get(map, "reduce"), "reduce");
	if ((rc = wr_job_node_window(p, n, wr_yaml_map_get(map, "window"))) ||
	    (rc = wr_job_named_scalars(p, n, wr_yaml_map_get(map, "aggregate"),
	                               "aggregate")) ||
	    (rc = wr_job_dur(p, map, "allowed_lateness", pre, 0,
	                     WR_JOB_MAX_WINDOW_MS, false,
	                     &n->allowed_lateness_ms)) ||
	    (rc = wr_job_scalar(p, map, "late_output", pre, false, &v)))
		return rc;
	const wr_yaml_node *late = wr_job_key(map, "allowed_lateness");
	if (late == NULL)
		late = wr_job_key(map, "late_output");
	if (n->processing_time && late != NULL)
		return wr_job_fail(p, late,
		                   "node '%s': '%s' does not apply to a "
		                   "processing-time window (no record is late "
		                   "on the wall clock)",
		                   n->id, late->scalar);
	if (v == NULL)
		return WR_OK;
	wr_quote_for_msg(v->scalar, v->scalar_len, shown, sizeof(shown));
	if (!wr_job_valid_id(v->scalar, v->scalar_len))
		return wr_job_fail(p, v,
		                   "%slate_output: '%s' is not a valid name (1 "
		                   "to %d letters, digits, '_' or '-')",
		                   pre, shown, WR_JOB_MAX_ID_BYTES - 1);
	n->late_output = wr_xstrdup(v->scalar);
	return WR_OK;
}

static int
wr_job_node_kafka_sink(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m)
{
	wr_sink_spec *s = &n->sink;
	char where[WR_JOB_WHERE_BYTES], pre[WR_JOB_WHERE_BYTES];
	const wr_yaml_node *key;
	int sem = WR_SEM_AT_LEAST_ONCE, rc;

	snprintf(where, sizeof(where), "in the kafka sink of node '%s'", n->id);
	snprintf(pre, sizeof(pre), "node '%s': sink.kafka.", n->id);
	if ((rc = wr_job_need_map(p, m, "'kafka'", false)) ||
	    (rc = wr_job_check_keys(p, m, wr_job_kafka_sink_keys, where)) ||
	    (rc = wr_job_topic(p, m, "topic", pre, true, &s->topic)) ||
	    (rc = wr_job_str(p, m, "bootstrap", pre, false, &s->bootstrap)) ||
	    (rc = wr_job_enum(p, m, "semantic", pre,
	                      "none|at_least_once|exactly_once", &sem)) ||
	    (rc = wr_job_scalar(p, m, "key", pre, false, &key)))
		return rc;
	s->semantic = (enum wr_semantic)sem;
	/* Transactions commit on checkpoints: without them, exactly-once
	 * output would never become visible. */
	if (s->semantic == WR_SEM_EXACTLY_ONCE &&
	    p->spec->checkpointing.interval_ms == 0)
		return wr_job_fail(
		    p, wr_yaml_map_get(m, "semantic"),
		    "%ssemantic: exactly_once needs "
		    "checkpointing (set checkpointing.interval): "
		    "transactions commit on checkpoints",
		    pre);
	return WR_OK;
}

/* A PostgreSQL name as the sink quotes it: [A-Za-z_][A-Za-z0-9_$]*, at
 * most 63 bytes (NAMEDATALEN - 1), optionally "schema.table". */
static bool
wr_job_pg_table_ok(const char *s)
{
	for (int part = 0; part < 2; part++) {
		size_t n = 0;
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      *s == '_'))
			return false;
		while ((s[n] >= 'a' && s[n] <= 'z') ||
		       (s[n] >= 'A' && s[n] <= 'Z') ||
		       (s[n] >= '0' && s[n] <= '9') || s[n] == '_' ||
		       s[n] == '$')
			n++;
		if (n > 63)
			return false;
		s += n;
		if (*s == '\0')
			return true;
		if (*s++ != '.')
			return false;
	}
	return false;
}

/* Shape of sink.postgres; the key fields are checked against the input
 * schema in pass 5 (wr_job_type_pg_sink). */
static int
wr_job_node_pg_sink(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m)
{
	wr_sink_spec *s = &n->sink;
	char where[WR_JOB_WHERE_BYTES], pre[WR_JOB_WHERE_BYTES];
	char shown[WR_JOB_WHERE_BYTES];
	const wr_yaml_node *table, *key = wr_yaml_map_get(m, "key");
	int mode = 0, rc;

	snprintf(where, sizeof(where), "in the postgres sink of node '%s'",
	         n->id);
	snprintf(pre, sizeof(pre), "node '%s': sink.postgres.", n->id);
	if ((rc = wr_job_need_map(p, m, "'postgres'", false)) ||
	    (rc = wr_job_check_keys(p, m, wr_job_pg_sink_keys, where)) ||
	    (rc = wr_job_str(p, m, "dsn", pre, true, &s->dsn)) ||
	    (rc = wr_job_scalar(p, m, "table", pre, true, &table)) ||
	    (rc = wr_job_enum(p, m, "mode", pre, "append|upsert", &mode)))
		return rc;
	if (!wr_job_pg_table_ok(table->scalar)) {
		wr_quote_for_msg(table->scalar, table->scalar_len, shown,
		                 sizeof(shown));
		return wr_job_fail(
		    p, table,
		    "%stable: '%s' is not a table name (letters, "
		    "digits, '_' and '$', at most 63 bytes, "
		    "optionally schema.table; used as written, "
		    "case included)",
		    pre, shown);
	}
	s->table = wr_xstrdup(table->scalar);
	s->upsert = mode == 1;
	/* Without checkpoints each batch commits on its own. */
	s->semantic = p->spec->checkpointing.interval_ms > 0
	                  ? WR_SEM_EXACTLY_ONCE
	                  : WR_SEM_AT_LEAST_ONCE;
	if (s->upsert && key == NULL)
		return wr_job_fail(p, wr_yaml_map_get(m, "mode"),
		                   "%smode: upsert needs 'key' (the fields of "
		                   "the table's primary key or unique index)",
		                   pre);
	if (!s->upsert && key != NULL)
		return wr_job_fail(p, wr_job_key(m, "key"),
		                   "%skey applies only to mode: upsert", pre);
	if (key == NULL)
		return WR_OK;
	if (key->kind == WR_YAML_MAP ||
	    (key->kind == WR_YAML_SCALAR && key->is_null))
		return wr_job_fail(p, key,
		                   "%skey must be a list of field names, not a "
		                   "%s",
		                   pre,
		                   key->kind == WR_YAML_MAP ? "map" : "null");
	if (key->kind == WR_YAML_SEQ && key->n == 0)
		return wr_job_fail(p, key, "%skey is empty", pre);
	if (key->kind == WR_YAML_SEQ && key->n > WR_MAX_FIELDS)
		return wr_job_fail(p, key, "%skey has more than %d fields", pre,
		                   WR_MAX_FIELDS);
	return WR_OK;
}

/* A ClickHouse name as the sink quotes it (backticks): [A-Za-z_]
 * [A-Za-z0-9_]*, at most 127 bytes, optionally "db.table". */
static bool
wr_job_ch_table_ok(const char *s)
{
	for (int part = 0; part < 2; part++) {
		size_t n = 0;
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      *s == '_'))
			return false;
		while ((s[n] >= 'a' && s[n] <= 'z') ||
		       (s[n] >= 'A' && s[n] <= 'Z') ||
		       (s[n] >= '0' && s[n] <= '9') || s[n] == '_')
			n++;
		if (n > 127)
			return false;
		s += n;
		if (*s == '\0')
			return true;
		if (*s++ != '.')
			return false;
	}
	return false;
}

/* sink.clickhouse.url: http:// or https://, a host, nothing to quote. */
static int
wr_job_ch_url(wr_jp *p, const wr_yaml_node *m, const char *pre, char **out)
{
	const wr_yaml_node *v;
	char shown[WR_JOB_WHERE_BYTES];
	int rc = wr_job_scalar(p, m, "url", pre, true, &v);
	if (rc != WR_OK)
		return rc;
	const char *u = v->scalar;
	size_t skip = strncmp(u, "http://", 7) == 0    ? 7
	              : strncmp(u, "https://", 8) == 0 ? 8
	                                               : 0;
	bool ok = skip > 0 && u[skip] != '\0' && u[skip] != '/' &&
	          v->scalar_len < WR_JOB_CH_MAX_URL_BYTES &&
	          strcspn(u, " \t\r\n?#") == v->scalar_len;
	if (!ok) {
		wr_quote_for_msg(u, v->scalar_len, shown, sizeof(shown));
		return wr_job_fail(p, v,
		                   "%surl: '%s' is not an http:// or https:// "
		                   "URL of ClickHouse's HTTP interface (e.g. "
		                   "http://host:8123; no query string, at most "
		                   "%d bytes)",
		                   pre, shown, WR_JOB_CH_MAX_URL_BYTES - 1);
	}
	*out = wr_xstrdup(u);
	return WR_OK;
}

/* Shape of sink.clickhouse. */
static int
wr_job_node_ch_sink(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m)
{
	wr_sink_spec *s = &n->sink;
	char where[WR_JOB_WHERE_BYTES], pre[WR_JOB_WHERE_BYTES];
	char shown[WR_JOB_WHERE_BYTES];
	const wr_yaml_node *table;
	int rc;

	snprintf(where, sizeof(where), "in the clickhouse sink of node '%s'",
	         n->id);
	snprintf(pre, sizeof(pre), "node '%s': sink.clickhouse.", n->id);
	s->batch_rows = WR_JOB_CH_DEFAULT_BATCH_ROWS;
	s->batch_bytes = WR_JOB_CH_DEFAULT_BATCH_BYTES;
	s->flush_ms = WR_JOB_CH_DEFAULT_FLUSH_MS;
	s->semantic = WR_SEM_AT_LEAST_ONCE;
	if ((rc = wr_job_need_map(p, m, "'clickhouse'", false)) ||
	    (rc = wr_job_check_keys(p, m, wr_job_ch_sink_keys, where)) ||
	    (rc = wr_job_ch_url(p, m, pre, &s->url)) ||
	    (rc = wr_job_scalar(p, m, "table", pre, true, &table)) ||
	    (rc = wr_job_str(p, m, "user", pre, false, &s->user)) ||
	    (rc = wr_job_str(p, m, "password_file", pre, false,
	                     &s->password_file)) ||
	    (rc = wr_job_int(p, m, "batch_rows", pre, 1,
	                     WR_JOB_CH_MAX_BATCH_ROWS, &s->batch_rows)) ||
	    (rc =
	         wr_job_int(p, m, "batch_bytes", pre, WR_JOB_CH_MIN_BATCH_BYTES,
	                    WR_JOB_CH_MAX_BATCH_BYTES, &s->batch_bytes)) ||
	    (rc = wr_job_dur(p, m, "flush_interval", pre, 1,
	                     WR_JOB_CH_MAX_FLUSH_MS, false, &s->flush_ms)))
		return rc;
	if (!wr_job_ch_table_ok(table->scalar)) {
		wr_quote_for_msg(table->scalar, table->scalar_len, shown,
		                 sizeof(shown));
		return wr_job_fail(
		    p, table,
		    "%stable: '%s' is not a table name (letters, "
		    "digits and '_', at most 127 bytes, "
		    "optionally database.table)",
		    pre, shown);
	}
	s->table = wr_xstrdup(table->scalar);
	return WR_OK;
}

static int
wr_job_node_sink(wr_jp *p, size_t i)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *m = wr_yaml_map_get(p->pos[i].map, "sink"), *kind;
	char what[WR_JOB_WHERE_BYTES], where[WR_JOB_WHERE_BYTES];
	char pre[WR_JOB_WHERE_BYTES];
	const wr_yaml_node *v;
	int which, rc;

	snprintf(what, sizeof(what), "the sink of node '%s'", n->id);
	snprintf(where, sizeof(where), "in the sink of node '%s'", n->id);
	if ((rc = wr_job_need_map(p, m, "'sink'", false)) ||
	    (rc = wr_job_check_keys(p, m, wr_job_sink_kinds, where)) ||
	    (rc = wr_job_one_of(p, m, wr_job_sink_kinds, what, &which, &kind)))
		return rc;
	n->sink.kind = (enum wr_sink_kind)which;
	v = wr_yaml_map_get(m, kind->scalar);
	snprintf(pre, sizeof(pre), "node '%s': sink.%s.", n->id, kind->scalar);
	snprintf(where, sizeof(where), "in the %s sink of node '%s'",
	         kind->scalar, n->id);
	switch (n->sink.kind) {
	case WR_SINK_KAFKA:
		return wr_job_node_kafka_sink(p, n, v);
	case WR_SINK_FILE:
		if ((rc = wr_job_need_map(p, v, "'file'", false)) ||
		    (rc =
		         wr_job_check_keys(p, v, wr_job_file_sink_keys, where)))
			return rc;
		return wr_job_str(p, v, "path", pre, true, &n->sink.path);
	case WR_SINK_STDOUT:
		if ((rc = wr_job_need_map(p, v, "'stdout'", true)))
			return rc;
		return wr_job_check_keys(p, v, wr_job_no_keys, where);
	case WR_SINK_BLACKHOLE:
		if ((rc = wr_job_need_map(p, v, "'blackhole'", true)))
			return rc;
		return wr_job_check_keys(p, v, wr_job_no_keys, where);
	case WR_SINK_POSTGRES:
		return wr_job_node_pg_sink(p, n, v);
	case WR_SINK_CLICKHOUSE:
		return wr_job_node_ch_sink(p, n, v);
	}
	wr_panic(__FILE__, __LINE__, "sink kind %d", (int)n->sink.kind);
}

int
wr_job_parse_node(wr_jp *p, const wr_yaml_node *map, size_t idx)
{
	char where[WR_JOB_WHERE_BYTES], pre[WR_JOB_WHERE_BYTES];
	const wr_yaml_node *id = wr_yaml_map_get(map, "id"), *v;
	wr_node_spec *n;
	size_t i = p->spec->nnodes;
	int64_t par = p->spec->parallelism;
	int rc;

	if (map->kind != WR_YAML_MAP)
		return wr_job_fail(p, map, "node #%zu must be a map, not a %s",
		                   idx + 1, wr_yaml_kind_name(map->kind));
	if (id == NULL)
		return wr_job_fail(p, map,
		                   "node #%zu has no id (every node needs one: "
		                   "it is the operator uid)",
		                   idx + 1);
	if (id->kind != WR_YAML_SCALAR || id->is_null)
		return wr_job_fail(p, id, "node #%zu: id must be a name",
		                   idx + 1);
	if ((rc = wr_job_add_node(p, id, map, &n)))
		return rc;
	snprintf(where, sizeof(where), "in node '%s'", n->id);
	snprintf(pre, sizeof(pre), "node '%s': ", n->id);
	n->parallelism_set = wr_yaml_map_get(map, "parallelism") != NULL;
	if ((rc = wr_job_check_keys(p, map, wr_job_node_keys, where)) ||
	    (rc = wr_job_node_kind(p, i)) ||
	    (rc = wr_job_node_from(p, i, pre)) ||
	    (rc = wr_job_int(p, map, "parallelism", pre, 1,
	                     WR_JOB_MAX_PARALLELISM, &par)))
		return rc;
	n->parallelism = (int)par;
	switch (n->kind) {
	case WR_NODE_FILTER:
		return wr_job_scalar(p, map, "filter", pre, true, &v);
	case WR_NODE_SELECT:
		return wr_job_named_scalars(
		    p, n, wr_yaml_map_get(map, "select"), "select");
	case WR_NODE_KEY_BY:
	case WR_NODE_WINDOW:
	case WR_NODE_REDUCE:
	case WR_NODE_ANOMALY:
		return wr_job_node_keyed(p, i, pre);
	case WR_NODE_SINK:
		return wr_job_node_sink(p, i);
	case WR_NODE_PATTERN:
		return wr_job_parse_pattern(p, i, pre);
	case WR_NODE_JOIN: /* read with its inputs (wr_job_node_from) */
		return WR_OK;
	default:
		wr_panic(__FILE__, __LINE__, "node kind %d", (int)n->kind);
	}
}

/* ---- positions inside scalars ----------------------------------------- */

/* Byte offset in text of (line, col), counting columns in characters as
 * libyaml does; -1 when the text is shorter. */
static long
wr_job_text_offset(const char *text, size_t len, int line, int col)
{
	size_t i = 0;

	for (int l = 1; l < line; l++) {
		while (i < len && text[i] != '\n' && text[i] != '\r')
			i++;
		if (i >= len)
			return -1;
		i += text[i] == '\r' && i + 1 < len && text[i + 1] == '\n' ? 2
		                                                           : 1;
	}
	for (int c = 1; c < col; c++) {
		if (i >= len || text[i] == '\n' || text[i] == '\r')
			return -1;
		i++;
		while (i < len && ((unsigned char)text[i] & 0xc0) == 0x80)
			i++;
	}
	return (long)i;
}

/* One step of walking a scalar's source (at s) against its value (at
 * val): how many source bytes stand for the next value byte, or 0 when
 * the walk cannot follow (a line break, an escape other than '' \" \\). */
static size_t
wr_job_src_step(const char *s, const char *end, char q, char val)
{
	if (s >= end || *s == '\n' || *s == '\r')
		return 0;
	if (q == '\'' && *s == '\'')
		return s + 1 < end && s[1] == '\'' && val == '\'' ? 2 : 0;
	if (q == '"' && *s == '\\')
		return s + 1 < end && (s[1] == '"' || s[1] == '\\') &&
		               s[1] == val
		           ? 2
		           : 0;
	return *s == val ? 1 : 0;
}

/* The line and column of byte off of scalar v's value in the job text:
 * exact for single-line plain and quoted scalars, v's own position for
 * block and multi-line scalars and escapes the walk cannot follow. */
void
wr_job_scalar_at(const wr_jp *p, const wr_yaml_node *v, size_t off, int *line,
                 int *col)
{
	long start = wr_job_text_offset(p->text, p->len, v->line, v->col);
	const char *end = p->text + p->len, *s;
	int c = 0, at = 0;
	char q = '\0';

	*line = v->line;
	*col = v->col;
	if (start < 0)
		return;
	s = p->text + start;
	if (v->quoted) {
		if (*s != '\'' && *s != '"')
			return; /* block scalar or tagged: its start */
		q = *s++;
		c = 1;
	}
	/* Walk the whole value: a scalar that spans lines is reported at
	 * its start, wherever the offset falls. */
	for (size_t i = 0; i <= v->scalar_len; i++) {
		size_t step;
		if (i == off)
			at = c;
		if (i == v->scalar_len)
			break;
		step = wr_job_src_step(s, end, q, v->scalar[i]);
		if (step == 0)
			return;
		for (size_t k = 0; k < step; k++)
			c += ((unsigned char)s[k] & 0xc0) != 0x80;
		s += step;
	}
	*col = v->col + at;
}

/* ---- types (pass 5) ---------------------------------------------------- */

/* "node 'x': what: no field 'y' in its input (fields: a, b)" at
 * (line, col). */
int
wr_job_no_field(wr_jp *p, int line, int col, const char *id, const char *what,
                const char *name, size_t len, const wr_schema *in)
{
	char shown[WR_JOB_WHERE_BYTES];
	wr_buf list;
	int rc;

	wr_quote_for_msg(name, len, shown, sizeof(shown));
	wr_buf_init(&list);
	for (uint32_t f = 0; f < in->n; f++)
		wr_buf_printf(&list, "%s%s", f ? ", " : "", in->fields[f].name);
	rc = wr_job_failat(p, line, col,
	                   "node '%s': %s: no field '%s' in its input "
	                   "(fields: %s)",
	                   id, what, shown, list.data);
	wr_buf_fini(&list);
	return rc;
}

/* Parses the expression in scalar v against in; errors point into v. */
static int
wr_job_expr(wr_jp *p, const wr_yaml_node *v, const wr_schema *in,
            const char *what, wr_expr **out)
{
	char msg[WR_JOB_WHERE_BYTES * 2];
	size_t off = 0;
	int line, col;

	*out = NULL;
	msg[0] = '\0';
	if (wr_expr_parse(v->scalar, in, out, &off, msg, sizeof(msg)) == WR_OK)
		return WR_OK;
	wr_job_scalar_at(p, v, off < v->scalar_len ? off : v->scalar_len, &line,
	                 &col);
	return wr_job_failat(p, line, col, "%s: %s", what, msg);
}

static int
wr_job_type_filter(wr_jp *p, size_t i, const wr_schema *in)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *v = wr_yaml_map_get(p->pos[i].map, "filter");
	char what[WR_JOB_WHERE_BYTES];
	enum wr_type t;
	int rc;

	snprintf(what, sizeof(what), "node '%s': filter", n->id);
	if ((rc = wr_job_expr(p, v, in, what, &n->filter)))
		return rc;
	t = wr_expr_type(n->filter);
	if (t != WR_T_BOOL)
		return wr_job_fail(p, v, "%s must be bool, not %s", what,
		                   wr_type_name(t));
	wr_schema_copy(&n->out, in);
	return WR_OK;
}

static int
wr_job_type_select(wr_jp *p, size_t i, const wr_schema *in)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *m = wr_yaml_map_get(p->pos[i].map, "select");
	char what[WR_JOB_WHERE_BYTES];
	int rc;

	n->select = wr_xcalloc(m->n, sizeof(*n->select));
	for (size_t j = 0; j < m->n; j++) {
		const wr_yaml_node *k = m->keys[j];
		wr_select_item *it = &n->select[n->nselect];
		snprintf(what, sizeof(what), "node '%s': select.%s", n->id,
		         k->scalar);
		if ((rc = wr_job_expr(p, m->values[j], in, what, &it->expr)))
			return rc;
		it->name = wr_xstrdup(k->scalar);
		n->nselect++;
		/* Names are unique (YAML) and at most WR_MAX_FIELDS. */
		WR_ASSERT(wr_schema_add(&n->out, k->scalar,
		                        wr_expr_type(it->expr)) == WR_OK);
	}
	return WR_OK;
}

/*
 * A list of input fields: `what: [a, b]`, or `what: a` for one (v NULL:
 * none). Each must name a field of in, once; their indexes are appended
 * to idx, counted in *n (the structure check bounded the list).
 */
int
wr_job_field_list(wr_jp *p, const char *node, const char *what,
                  const wr_yaml_node *v, const wr_schema *in, int *idx, int *n)
{
	size_t count = v == NULL ? 0 : v->kind == WR_YAML_SEQ ? v->n : 1;

	for (size_t j = 0; j < count; j++) {
		const wr_yaml_node *it =
		    v->kind == WR_YAML_SEQ ? v->values[j] : v;
		int f;
		if (it->kind != WR_YAML_SCALAR || it->is_null)
			return wr_job_fail(p, it,
			                   "node '%s': %s: a key is a field "
			                   "name, not a %s",
			                   node, what,
			                   wr_yaml_kind_name(it->kind));
		f = wr_schema_index(in, it->scalar);
		if (f < 0)
			return wr_job_no_field(p, it->line, it->col, node, what,
			                       it->scalar, it->scalar_len, in);
		for (int k = 0; k < *n; k++)
			if (idx[k] == f)
				return wr_job_fail(
				    p, it,
				    "node '%s': %s: '%s' is listed "
				    "twice",
				    node, what, it->scalar);
		idx[(*n)++] = f;
	}
	return WR_OK;
}

int
wr_job_type_keys(wr_jp *p, size_t i, const wr_schema *in)
{
	wr_node_spec *n = &p->spec->nodes[i];
	return wr_job_field_list(p, n->id, "key_by",
	                         wr_yaml_map_get(p->pos[i].map, "key_by"), in,
	                         n->keys, &n->nkeys);
}

/* Skips blanks in s from *i. */
static void
wr_job_skip_blanks(const char *s, size_t *i)
{
	while (s[*i] == ' ' || s[*i] == '\t')
		(*i)++;
}

/* Length of the name ([A-Za-z0-9_]*) at s. */
static size_t
wr_job_name_len(const char *s)
{
	size_t n = 0;

	while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
	       (s[n] >= '0' && s[n] <= '9') || s[n] == '_')
		n++;
	return n;
}

/* An error at byte off of the aggregate's scalar. */
static int __attribute__((format(printf, 4, 5)))
wr_job_agg_fail(wr_jp *p, const wr_yaml_node *v, size_t off, const char *fmt,
                ...)
{
	char msg[WR_JOB_WHERE_BYTES * 2];
	va_list ap;
	int line, col;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wr_job_scalar_at(p, v, off, &line, &col);
	return wr_job_failat(p, line, col, "%s", msg);
}

/* "fn(arg)": the function's index, and the argument's offset and length
 * (0 for "count()"). */
static int
wr_job_agg_syntax(wr_jp *p, const wr_yaml_node *v, const char *what, int *fn,
                  size_t *arg, size_t *arglen)
{
	const char *s = v->scalar;
	size_t i = 0, f0, flen;

	wr_job_skip_blanks(s, &i);
	f0 = i;
	flen = wr_job_name_len(s + i);
	i += flen;
	wr_job_skip_blanks(s, &i);
	if (flen == 0 || s[i] != '(')
		goto syntax;
	i++;
	wr_job_skip_blanks(s, &i);
	*arg = i;
	*arglen = wr_job_name_len(s + i);
	i += *arglen;
	wr_job_skip_blanks(s, &i);
	if (s[i] != ')')
		goto syntax;
	i++;
	wr_job_skip_blanks(s, &i);
	if (s[i] != '\0')
		goto syntax;
	for (*fn = 0; wr_job_agg_names[*fn] != NULL; (*fn)++)
		if (strlen(wr_job_agg_names[*fn]) == flen &&
		    memcmp(wr_job_agg_names[*fn], s + f0, flen) == 0)
			return WR_OK;
	return wr_job_agg_fail(p, v, f0,
	                       "%s: unknown aggregate function '%.*s' (known: "
	                       "count, sum, min, max, avg, count_distinct, "
	                       "first, last)",
	                       what, (int)flen, s + f0);
syntax:
	return wr_job_agg_fail(p, v, i,
	                       "%s: expected function(field), as in "
	                       "sum(amount) or count()",
	                       what);
}

/* The output type of fn over a field of type t, or WR_T_NULL when fn
 * does not take that type. */
static enum wr_type
wr_job_agg_type(enum wr_agg_fn fn, enum wr_type t)
{
	switch (fn) {
	case WR_AGG_COUNT:
	case WR_AGG_COUNT_DISTINCT:
		return WR_T_LONG;
	case WR_AGG_SUM:
		return t == WR_T_LONG || t == WR_T_DOUBLE ? t : WR_T_NULL;
	case WR_AGG_AVG:
		return t == WR_T_LONG || t == WR_T_DOUBLE ? WR_T_DOUBLE
		                                          : WR_T_NULL;
	case WR_AGG_MIN:
	case WR_AGG_MAX:
		return t == WR_T_BOOL ? WR_T_NULL : t;
	case WR_AGG_FIRST:
	case WR_AGG_LAST:
		return t;
	}
	return WR_T_NULL;
}

/* One entry of aggregate or reduce; label names it ("aggregate.revenue")
 * in node id. */
static int
wr_job_parse_agg(wr_jp *p, const wr_yaml_node *v, const char *id,
                 const char *label, const wr_schema *in, wr_agg_spec *a)
{
	char field[WR_JOB_MAX_ID_BYTES], what[WR_JOB_WHERE_BYTES];
	size_t arg = 0, arglen = 0;
	int fn = 0, rc;
	enum wr_type t;

	snprintf(what, sizeof(what), "node '%.63s': %.80s", id, label);
	if ((rc = wr_job_agg_syntax(p, v, what, &fn, &arg, &arglen)))
		return rc;
	a->fn = (enum wr_agg_fn)fn;
	a->arg = -1;
	a->type = WR_T_LONG;
	if (a->fn == WR_AGG_COUNT && arglen > 0)
		return wr_job_agg_fail(p, v, arg,
		                       "%s: count() takes no argument (it "
		                       "counts records)",
		                       what);
	if (a->fn == WR_AGG_COUNT)
		return WR_OK;
	if (arglen == 0)
		return wr_job_agg_fail(p, v, arg,
		                       "%s: %s needs a field, as in "
		                       "%s(amount)",
		                       what, wr_job_agg_names[fn],
		                       wr_job_agg_names[fn]);
	if (arglen < sizeof(field)) {
		memcpy(field, v->scalar + arg, arglen);
		field[arglen] = '\0';
		a->arg = wr_schema_index(in, field);
	}
	if (a->arg < 0) {
		int line, col;
		wr_job_scalar_at(p, v, arg, &line, &col);
		return wr_job_no_field(p, line, col, id, label, v->scalar + arg,
		                       arglen, in);
	}
	t = in->fields[a->arg].type;
	a->type = wr_job_agg_type(a->fn, t);
	if (a->type == WR_T_NULL)
		return wr_job_agg_fail(
		    p, v, arg, "%s: %s needs %s field; '%s' is a %s", what,
		    wr_job_agg_names[fn],
		    a->fn == WR_AGG_SUM || a->fn == WR_AGG_AVG
		        ? "a numeric (long or double)"
		        : "an ordered (long, double, string, timestamp)",
		    in->fields[a->arg].name, wr_type_name(t));
	return WR_OK;
}

/* aggregate or reduce (key): one wr_agg_spec per entry, in order. */
static int
wr_job_type_aggs(wr_jp *p, size_t i, const char *key, const wr_schema *in)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *m = wr_yaml_map_get(p->pos[i].map, key);
	char label[WR_JOB_WHERE_BYTES];
	int rc;

	n->aggs = wr_xcalloc(m->n, sizeof(*n->aggs));
	for (size_t j = 0; j < m->n; j++) {
		wr_agg_spec *a = &n->aggs[n->naggs];
		snprintf(label, sizeof(label), "%s.%s", key,
		         m->keys[j]->scalar);
		if ((rc = wr_job_parse_agg(p, m->values[j], n->id, label, in,
		                           a)))
			return rc;
		a->name = wr_xstrdup(m->keys[j]->scalar);
		n->naggs++;
	}
	return WR_OK;
}

/* Key fields, then (windows) window_start and window_end, then the
 * aggregates: the output of a window or reduce. */
static int
wr_job_keyed_out(wr_jp *p, size_t i, const char *key, const wr_schema *in)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *m = wr_yaml_map_get(p->pos[i].map, key);
	static const char *const wcols[] = {"window_start", "window_end"};

	/* Input names are unique and at most WR_MAX_FIELDS. */
	for (int k = 0; k < n->nkeys; k++)
		WR_ASSERT(wr_schema_add(&n->out, in->fields[n->keys[k]].name,
		                        in->fields[n->keys[k]].type) == WR_OK);
	for (int w = 0; n->kind == WR_NODE_WINDOW && w < 2; w++)
		if (wr_schema_add(&n->out, wcols[w], WR_T_TIMESTAMP) != WR_OK)
			return wr_job_fail(
			    p, wr_job_key(p->pos[i].map, "key_by"),
			    "node '%s': the key field '%s' "
			    "clashes with the window's own field",
			    n->id, wcols[w]);
	for (size_t j = 0; j < n->naggs; j++) {
		int rc =
		    wr_schema_add(&n->out, n->aggs[j].name, n->aggs[j].type);
		if (rc == WR_EEXIST)
			return wr_job_fail(
			    p, m->keys[j],
			    "node '%s': %s '%s' clashes with a key "
			    "field%s",
			    n->id, key, n->aggs[j].name,
			    n->kind == WR_NODE_WINDOW
			        ? " or window_start/window_end"
			        : "");
		if (rc != WR_OK)
			return wr_job_fail(
			    p, m->keys[j],
			    "node '%s': more than %d output fields", n->id,
			    WR_MAX_FIELDS);
	}
	return WR_OK;
}

/* Event time of node i: a source's event_time, or that of all inputs.
 * Nodes are in topological order, so one pass up to i settles it. */
bool
wr_job_has_event_time(const wr_jobspec *spec, size_t i)
{
	bool et[WR_JOB_MAX_NODES];

	for (size_t j = 0; j <= i; j++) {
		const wr_node_spec *n = &spec->nodes[j];
		if (n->kind == WR_NODE_SOURCE) {
			et[j] = n->source.time_field >= 0;
			continue;
		}
		et[j] = n->ninputs > 0;
		for (int k = 0; k < n->ninputs; k++)
			et[j] = et[j] && et[n->inputs[k]];
		/* A stream-table join's records are the stream's. */
		if (n->kind == WR_NODE_JOIN && n->join == WR_JOIN_TABLE)
			et[j] = et[n->inputs[0]];
	}
	return et[i];
}

size_t
wr_job_no_time_source(const wr_jobspec *spec, size_t i)
{
	size_t x = i;

	while (spec->nodes[x].kind != WR_NODE_SOURCE) {
		const wr_node_spec *n = &spec->nodes[x];
		int k = 0;
		while (k + 1 < n->ninputs &&
		       wr_job_has_event_time(spec, (size_t)n->inputs[k]))
			k++;
		x = (size_t)n->inputs[k];
	}
	return x;
}

/* Windows fire on watermarks: refuse them upstream of a source without
 * event time, where they would never fire (a classic Flink trap). */
static int
wr_job_need_event_time(wr_jp *p, size_t i)
{
	const wr_jobspec *spec = p->spec;

	if (wr_job_has_event_time(spec, i))
		return WR_OK;
	size_t x = wr_job_no_time_source(spec, i);
	return wr_job_fail(p, wr_job_key(p->pos[i].map, "window"),
	                   "node '%s': a window needs event time, and source "
	                   "'%s' has none: give it event_time: { field: ..., "
	                   "max_out_of_orderness: ... }",
	                   spec->nodes[i].id, spec->nodes[x].id);
}

/* sink.postgres.key: fields of the input, each once. */
static int
wr_job_type_pg_sink(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m,
                    const wr_schema *in)
{
	return wr_job_field_list(
	    p, n->id, "sink.postgres.key",
	    wr_yaml_map_get(wr_yaml_map_get(m, "postgres"), "key"), in,
	    n->sink.pg_keys, &n->sink.npg_keys);
}

static int
wr_job_type_sink(wr_jp *p, size_t i, const wr_schema *in)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *m = wr_yaml_map_get(p->pos[i].map, "sink");
	const wr_yaml_node *key =
	    wr_yaml_map_get(wr_yaml_map_get(m, "kafka"), "key");

	if (n->sink.kind == WR_SINK_POSTGRES)
		return wr_job_type_pg_sink(p, n, m, in);
	if (n->sink.kind != WR_SINK_KAFKA || key == NULL)
		return WR_OK;
	n->sink.key_field = wr_schema_index(in, key->scalar);
	if (n->sink.key_field < 0)
		return wr_job_no_field(p, key->line, key->col, n->id,
		                       "sink.kafka.key", key->scalar,
		                       key->scalar_len, in);
	return WR_OK;
}

int
wr_job_type_node(wr_jp *p, size_t i)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_schema *in = wr_jobspec_input_schema(p->spec, n, 0);
	int rc;

	switch (n->kind) {
	case WR_NODE_FILTER:
		return wr_job_type_filter(p, i, in);
	case WR_NODE_SELECT:
		return wr_job_type_select(p, i, in);
	case WR_NODE_KEY_BY:
		if ((rc = wr_job_type_keys(p, i, in)))
			return rc;
		wr_schema_copy(&n->out, in);
		return WR_OK;
	case WR_NODE_WINDOW:
		if ((rc = wr_job_type_keys(p, i, in)) ||
		    (!n->processing_time &&
		     (rc = wr_job_need_event_time(p, i))) ||
		    (rc = wr_job_type_aggs(p, i, "aggregate", in)))
			return rc;
		return wr_job_keyed_out(p, i, "aggregate", in);
	case WR_NODE_REDUCE:
		if ((rc = wr_job_type_keys(p, i, in)) ||
		    (rc = wr_job_type_aggs(p, i, "reduce", in)))
			return rc;
		return wr_job_keyed_out(p, i, "reduce", in);
	case WR_NODE_ANOMALY:
		if ((rc = wr_job_type_keys(p, i, in)))
			return rc;
		return wr_job_type_anomaly(p, i, in);
	case WR_NODE_SINK:
		return wr_job_type_sink(p, i, in);
	case WR_NODE_PATTERN:
		return wr_job_type_pattern(p, i, in);
	case WR_NODE_JOIN:
		return wr_job_type_join(p, i);
	default: /* sources are typed in pass 2 */
		wr_panic(__FILE__, __LINE__, "node kind %d", (int)n->kind);
	}
}
