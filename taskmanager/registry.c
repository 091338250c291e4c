/*
 * registry.c - the tables from kinds to implementations: node kinds to
 * operators, sink kinds to sinks, source kinds to sources. Adding one is
 * its own file (defining a tm_op_vt or tm_source_vt, op.h) plus a row
 * here; the runtime never switches on a kind.
 */
#include "task_int.h"

#include <stdio.h>

/* Operators (ops_basic.c, window.c, op_join.c, op_anomaly.c,
 * op_pattern.c). */
extern const tm_op_vt tm_filter_op, tm_select_op, tm_forward_op;
extern const tm_op_vt tm_window_op, tm_reduce_op, tm_join_op, tm_anomaly_op;
extern const tm_op_vt tm_pattern_op;
/* Sinks (sinks.c, sink_blackhole.c, sink_pg.c, sink_kafka_tx.c,
 * sink_clickhouse.c). */
extern const tm_op_vt tm_sink_stdout, tm_sink_file, tm_sink_file_2pc;
extern const tm_op_vt tm_sink_kafka, tm_sink_blackhole, tm_sink_pg;
extern const tm_op_vt tm_sink_kafka_tx, tm_sink_clickhouse;
extern const tm_op_vt tm_sink_clickhouse_plain;
/* Sources (sources.c, source_kafka.c, source_nexmark.c). */
extern const tm_source_vt tm_source_kafka, tm_source_datagen;
extern const tm_source_vt tm_source_nexmark;

static const struct {
	enum wr_node_kind kind;
	const tm_op_vt *vt;
	bool keyed; /* keeps keyed state: heads its vertex (a HASH edge) */
} tm_op_kinds[] = {
    {WR_NODE_SOURCE, &tm_forward_op, false},
    {WR_NODE_FILTER, &tm_filter_op, false},
    {WR_NODE_SELECT, &tm_select_op, false},
    {WR_NODE_KEY_BY, &tm_forward_op, false},
    {WR_NODE_WINDOW, &tm_window_op, true},
    {WR_NODE_REDUCE, &tm_reduce_op, true},
    {WR_NODE_JOIN, &tm_join_op, true},
    {WR_NODE_ANOMALY, &tm_anomaly_op, true},
    {WR_NODE_PATTERN, &tm_pattern_op, true},
};

/* With checkpoints, a sink commits on their completion. */
static bool
tm_when_checkpointing(const wr_node_spec *n, const tm_op_conf *c)
{
	(void)n;
	return c->checkpointing;
}

static bool
tm_when_exactly_once(const wr_node_spec *n, const tm_op_conf *c)
{
	(void)c;
	return n->sink.semantic == WR_SEM_EXACTLY_ONCE;
}

/* The first row of the sink's kind whose `when` holds (NULL: always). */
static const struct {
	enum wr_sink_kind kind;
	bool (*when)(const wr_node_spec *n, const tm_op_conf *c);
	const tm_op_vt *vt;
} tm_sink_kinds[] = {
    {WR_SINK_STDOUT, NULL, &tm_sink_stdout},
    {WR_SINK_FILE, tm_when_checkpointing, &tm_sink_file_2pc},
    {WR_SINK_FILE, NULL, &tm_sink_file},
    {WR_SINK_KAFKA, tm_when_exactly_once, &tm_sink_kafka_tx},
    {WR_SINK_KAFKA, NULL, &tm_sink_kafka},
    {WR_SINK_POSTGRES, NULL, &tm_sink_pg},
    {WR_SINK_CLICKHOUSE, tm_when_checkpointing, &tm_sink_clickhouse},
    {WR_SINK_CLICKHOUSE, NULL, &tm_sink_clickhouse_plain},
    {WR_SINK_BLACKHOLE, NULL, &tm_sink_blackhole},
};

static const struct {
	enum wr_src_kind kind;
	const tm_source_vt *vt;
} tm_source_kinds[] = {
    {WR_SRC_KAFKA, &tm_source_kafka},
    {WR_SRC_DATAGEN, &tm_source_datagen},
    {WR_SRC_NEXMARK, &tm_source_nexmark},
};

#define TM_NROWS(a) (sizeof(a) / sizeof((a)[0]))

const tm_op_vt *
tm_registry_op(const wr_node_spec *n, const tm_op_conf *conf, char *errbuf,
               size_t errlen)
{
	if (n->kind == WR_NODE_SINK) {
		for (size_t i = 0; i < TM_NROWS(tm_sink_kinds); i++)
			if (tm_sink_kinds[i].kind == n->sink.kind &&
			    (tm_sink_kinds[i].when == NULL ||
			     tm_sink_kinds[i].when(n, conf)))
				return tm_sink_kinds[i].vt;
		snprintf(errbuf, errlen, "sink '%s' cannot run yet", n->id);
		return NULL;
	}
	for (size_t i = 0; i < TM_NROWS(tm_op_kinds); i++)
		if (tm_op_kinds[i].kind == n->kind)
			return tm_op_kinds[i].vt;
	snprintf(errbuf, errlen,
	         "node '%s': this kind of node cannot run in this version",
	         n->id);
	return NULL;
}

const tm_source_vt *
tm_registry_source(const wr_node_spec *n)
{
	for (size_t i = 0; i < TM_NROWS(tm_source_kinds); i++)
		if (tm_source_kinds[i].kind == n->source.kind)
			return tm_source_kinds[i].vt;
	return NULL;
}

bool
tm_registry_keyed(enum wr_node_kind kind)
{
	for (size_t i = 0; i < TM_NROWS(tm_op_kinds); i++)
		if (tm_op_kinds[i].kind == kind)
			return tm_op_kinds[i].keyed;
	return false;
}
