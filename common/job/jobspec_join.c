/*
 * jobspec_join.c - `tables:` (keyed changelogs read from Kafka) and the
 * `join:` node forms (docs/joins.md): stream-table, interval and window
 * joins. Their shape is read in pass 3, their keys, event time and output
 * schema in pass 5 (jobspec_int.h describes the passes).
 *
 * A table is a source node with source.table set: it is read like a Kafka
 * source (same connector, format, schema, event_time and invalid keys)
 * plus its primary key, and only a table join's `table:` may read it. A
 * join node has two inputs: 0 is the left (stream) side, 1 the right side
 * or the table.
 */
#include "jobspec.h"
#include "jobspec_int.h"

#include "buf.h"
#include "err.h"
#include "mem.h"
#include "parse.h"
#include "record.h"
#include "wr_limits.h"
#include "wr_yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const wr_job_table_keys[] = {
    "kafka",   "format",     "schema",      "primary_key",
    "invalid", "event_time", "parallelism", NULL};
static const char *const wr_job_join_keys[] = {
    "table", "left",  "right",   "on",     "right_on",
    "type",  "as_of", "between", "window", NULL};
static const char *const wr_job_join_names[] = {"stream-table", "interval",
                                                "window"};

/* ---- tables (pass 2) --------------------------------------------------- */

/* primary_key: a non-empty list of the table's fields, each once. */
static int
wr_job_table_pkey(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m)
{
	const wr_yaml_node *v = wr_yaml_map_get(m, "primary_key");
	wr_source_spec *s = &n->source;
	size_t count;

	if (v == NULL)
		return wr_job_fail(p, m,
		                   "table '%s': primary_key is required (the "
		                   "fields that identify a row)",
		                   n->id);
	if (v->kind == WR_YAML_MAP ||
	    (v->kind == WR_YAML_SCALAR && v->is_null) ||
	    (v->kind == WR_YAML_SEQ && (v->n == 0 || v->n > WR_MAX_FIELDS)))
		return wr_job_fail(p, v,
		                   "table '%s': primary_key must be a list of "
		                   "1 to %d field names",
		                   n->id, WR_MAX_FIELDS);
	count = v->kind == WR_YAML_SEQ ? v->n : 1;
	for (size_t j = 0; j < count; j++) {
		const wr_yaml_node *it =
		    v->kind == WR_YAML_SEQ ? v->values[j] : v;
		int f = -1;
		if (it->kind == WR_YAML_SCALAR && !it->is_null)
			f = wr_schema_index(&s->schema, it->scalar);
		if (f < 0)
			return wr_job_fail(
			    p, it,
			    "table '%s': primary_key: the schema "
			    "has no field '%s'",
			    n->id,
			    it->kind == WR_YAML_SCALAR ? it->scalar : "?");
		for (int k = 0; k < s->npkeys; k++)
			if (s->pkeys[k] == f)
				return wr_job_fail(
				    p, it,
				    "table '%s': primary_key: '%s' "
				    "is listed twice",
				    n->id, it->scalar);
		s->pkeys[s->npkeys++] = f;
	}
	return WR_OK;
}

static int
wr_job_parse_table(wr_jp *p, const wr_yaml_node *id, const wr_yaml_node *m)
{
	char what[WR_JOB_WHERE_BYTES], where[WR_JOB_WHERE_BYTES];
	const wr_yaml_node *kafka;
	wr_node_spec *n;
	int64_t par = p->spec->parallelism;
	int rc;

	if ((rc = wr_job_add_node(p, id, m, &n)))
		return rc;
	n->kind = WR_NODE_SOURCE;
	n->source.kind = WR_SRC_KAFKA;
	n->source.table = true;
	snprintf(what, sizeof(what), "table '%s'", n->id);
	snprintf(where, sizeof(where), "in table '%s'", n->id);
	if ((rc = wr_job_need_map(p, m, what, false)) ||
	    (rc = wr_job_check_keys(p, m, wr_job_table_keys, where)))
		return rc;
	kafka = wr_job_key(m, "kafka");
	if (kafka == NULL)
		return wr_job_fail(p, m,
		                   "table '%s' needs 'kafka' (a table is read "
		                   "from a Kafka topic)",
		                   n->id);
	p->pos[p->spec->nnodes - 1].kind = kafka;
	n->parallelism_set = wr_yaml_map_get(m, "parallelism") != NULL;
	snprintf(what, sizeof(what), "table '%s': ", n->id);
	if ((rc = wr_job_int(p, m, "parallelism", what, 1,
	                     WR_JOB_MAX_PARALLELISM, &par)) ||
	    (rc = wr_job_parse_kafka_src(p, &n->source,
	                                 wr_yaml_map_get(m, "kafka"), n->id)) ||
	    (rc = wr_job_parse_payload(p, n, m)) ||
	    (rc = wr_job_table_pkey(p, n, m)))
		return rc;
	n->parallelism = (int)par;
	return WR_OK;
}

int
wr_job_parse_tables(wr_jp *p, const wr_yaml_node *m)
{
	int rc;

	if (m == NULL)
		return WR_OK;
	if ((rc = wr_job_need_map(p, m, "'tables'", true)))
		return rc;
	for (size_t i = 0; m->kind == WR_YAML_MAP && i < m->n; i++)
		if ((rc = wr_job_parse_table(p, m->keys[i], m->values[i])))
			return rc;
	p->nsources = p->spec->nnodes;
	return WR_OK;
}

/* ---- shape (pass 3) ---------------------------------------------------- */

/* on / right_on: a field name or a non-empty list of them. */
static int
wr_job_join_fields(wr_jp *p, const wr_node_spec *n, const wr_yaml_node *v,
                   const char *key, size_t *count)
{
	*count = 0;
	if (v == NULL)
		return WR_OK;
	if (v->kind == WR_YAML_MAP ||
	    (v->kind == WR_YAML_SCALAR && v->is_null) ||
	    (v->kind == WR_YAML_SEQ && (v->n == 0 || v->n > WR_MAX_FIELDS)))
		return wr_job_fail(p, v,
		                   "node '%s': join.%s must be a list of 1 to "
		                   "%d field names",
		                   n->id, key, WR_MAX_FIELDS);
	*count = v->kind == WR_YAML_SEQ ? v->n : 1;
	return WR_OK;
}

/* A signed duration ("-5m", "0s", "10m") of between. */
static int
wr_job_join_bound(wr_jp *p, const wr_node_spec *n, const wr_yaml_node *v,
                  const char *which, int64_t *out)
{
	char shown[WR_JOB_WHERE_BYTES], lim[32];
	const char *s;
	bool neg;
	int64_t ms;
	int rc;

	if (v->kind != WR_YAML_SCALAR || v->is_null)
		return wr_job_fail(p, v,
		                   "node '%s': join.between: the %s bound must "
		                   "be a duration",
		                   n->id, which);
	s = v->scalar;
	neg = s[0] == '-';
	rc = wr_parse_duration_ms(s + (neg ? 1 : 0), &ms);
	wr_quote_for_msg(v->scalar, v->scalar_len, shown, sizeof(shown));
	if (rc == WR_OK && ms > WR_JOB_MAX_WINDOW_MS)
		rc = WR_ETOOBIG;
	if (rc == WR_ETOOBIG) {
		wr_format_duration(WR_JOB_MAX_WINDOW_MS, lim, sizeof(lim));
		return wr_job_fail(p, v,
		                   "node '%s': join.between: the %s bound '%s' "
		                   "is beyond +-%s",
		                   n->id, which, shown, lim);
	}
	if (rc != WR_OK)
		return wr_job_fail(p, v,
		                   "node '%s': join.between: the %s bound '%s' "
		                   "is not a duration (write -5m, 0s, 500ms, "
		                   "10s, 1h)",
		                   n->id, which, shown);
	*out = neg ? -ms : ms;
	return WR_OK;
}

/* between: [lower, upper], lower <= upper. */
static int
wr_job_join_between(wr_jp *p, wr_node_spec *n, const wr_yaml_node *v)
{
	char a[32], b[32];
	int rc;

	if (v->kind != WR_YAML_SEQ || v->n != 2)
		return wr_job_fail(p, v,
		                   "node '%s': join.between must be a list "
		                   "[lower, upper] of two durations (right.ts "
		                   "within left.ts + lower .. left.ts + upper)",
		                   n->id);
	if ((rc = wr_job_join_bound(p, n, v->values[0], "lower",
	                            &n->join_lower_ms)) ||
	    (rc = wr_job_join_bound(p, n, v->values[1], "upper",
	                            &n->join_upper_ms)))
		return rc;
	if (n->join_lower_ms > n->join_upper_ms) {
		wr_format_duration(n->join_lower_ms < 0 ? -n->join_lower_ms
		                                        : n->join_lower_ms,
		                   a, sizeof(a));
		wr_format_duration(n->join_upper_ms < 0 ? -n->join_upper_ms
		                                        : n->join_upper_ms,
		                   b, sizeof(b));
		return wr_job_fail(p, v->values[0],
		                   "node '%s': join.between: the lower bound "
		                   "%s%s is above the upper bound %s%s",
		                   n->id, n->join_lower_ms < 0 ? "-" : "", a,
		                   n->join_upper_ms < 0 ? "-" : "", b);
	}
	return WR_OK;
}

/* The inputs: `from` + `table`, or `left` + `right` (no `from`). */
static int
wr_job_join_inputs(wr_jp *p, size_t i, const wr_yaml_node *m, const char *pre)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *from = wr_job_key(p->pos[i].map, "from");
	const wr_yaml_node *table = wr_job_key(m, "table");
	const wr_yaml_node *v[2];
	char jpre[WR_JOB_WHERE_BYTES];
	int rc;

	snprintf(jpre, sizeof(jpre), "%sjoin.", pre);
	if (table != NULL) {
		if ((rc = wr_job_scalar(p, p->pos[i].map, "from", pre, true,
		                        &v[0])) ||
		    (rc = wr_job_scalar(p, m, "table", jpre, true, &v[1])))
			return rc;
	} else {
		if (from != NULL)
			return wr_job_fail(p, from,
			                   "node '%s': a join of two streams "
			                   "names them in join.left and "
			                   "join.right, not in 'from'",
			                   n->id);
		if ((rc = wr_job_scalar(p, m, "left", jpre, true, &v[0])) ||
		    (rc = wr_job_scalar(p, m, "right", jpre, true, &v[1])))
			return rc;
	}
	p->pos[i].from[0] = v[0];
	p->pos[i].from[1] = v[1];
	n->ninputs = 2;
	return WR_OK;
}

/* Keys that belong to one form only. */
static int
wr_job_join_form_keys(wr_jp *p, const wr_node_spec *n, const wr_yaml_node *m)
{
	static const char *const only[] = {"left",  "right",   "table",
	                                   "as_of", "between", "window"};
	/* Which forms take each key of only[]: bits of enum wr_join_kind. */
	static const int forms[] = {6, 6, 1, 1, 2, 4};

	for (size_t k = 0; k < sizeof(only) / sizeof(only[0]); k++) {
		const wr_yaml_node *key = wr_job_key(m, only[k]);
		if (key != NULL && !(forms[k] & (1 << n->join)))
			return wr_job_fail(p, key,
			                   "node '%s': join.%s does not apply "
			                   "to a%s %s join",
			                   n->id, only[k],
			                   n->join == WR_JOIN_INTERVAL ? "n"
			                                               : "",
			                   wr_job_join_names[n->join]);
	}
	return WR_OK;
}

/* The form: table -> stream-table; left/right with between or window. */
static int
wr_job_join_form(wr_jp *p, wr_node_spec *n, const wr_yaml_node *m)
{
	const wr_yaml_node *between = wr_job_key(m, "between");
	const wr_yaml_node *window = wr_job_key(m, "window");

	if (wr_job_key(m, "table") != NULL) {
		n->join = WR_JOIN_TABLE;
	} else if (wr_job_key(m, "left") == NULL &&
	           wr_job_key(m, "right") == NULL) {
		return wr_job_fail(p, m,
		                   "node '%s': join needs 'table' (a "
		                   "stream-table join) or 'left' and 'right' "
		                   "(an interval or window join)",
		                   n->id);
	} else if (between != NULL && window != NULL) {
		return wr_job_fail(p, window,
		                   "node '%s': join has both 'between' "
		                   "(%d:%d) and 'window': give only one",
		                   n->id, between->line, between->col);
	} else if (between == NULL && window == NULL) {
		return wr_job_fail(p, m,
		                   "node '%s': a join of two streams needs "
		                   "'between: [lower, upper]' (an interval "
		                   "join) or 'window' (a window join)",
		                   n->id);
	} else {
		n->join = between != NULL ? WR_JOIN_INTERVAL : WR_JOIN_WINDOW;
	}
	return wr_job_join_form_keys(p, n, m);
}

int
wr_job_node_join(wr_jp *p, size_t i, const char *pre)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *m = wr_yaml_map_get(p->pos[i].map, "join");
	char where[WR_JOB_WHERE_BYTES], jpre[WR_JOB_WHERE_BYTES];
	size_t non, nright;
	int type = 0, asof = 0, rc;

	snprintf(where, sizeof(where), "in the join of node '%s'", n->id);
	snprintf(jpre, sizeof(jpre), "%sjoin.", pre);
	if ((rc = wr_job_need_map(p, m, "'join'", false)) ||
	    (rc = wr_job_check_keys(p, m, wr_job_join_keys, where)) ||
	    (rc = wr_job_join_form(p, n, m)) ||
	    (rc = wr_job_join_inputs(p, i, m, pre)) ||
	    (rc = wr_job_enum(p, m, "type", jpre, "inner|left", &type)) ||
	    (rc = wr_job_enum(p, m, "as_of", jpre, "processing_time|event_time",
	                      &asof)))
		return rc;
	n->join_left = type == 1;
	n->join_event_time = asof == 1;
	if (wr_yaml_map_get(m, "on") == NULL)
		return wr_job_fail(p, m,
		                   "%son is required (the key fields the two "
		                   "sides must have equal)",
		                   jpre);
	if ((rc = wr_job_join_fields(p, n, wr_yaml_map_get(m, "on"), "on",
	                             &non)) ||
	    (rc = wr_job_join_fields(p, n, wr_yaml_map_get(m, "right_on"),
	                             "right_on", &nright)))
		return rc;
	if (nright > 0 && nright != non)
		return wr_job_fail(p, wr_yaml_map_get(m, "right_on"),
		                   "%sright_on has %zu fields and on has %zu: "
		                   "they pair up in order",
		                   jpre, nright, non);
	if (n->join == WR_JOIN_INTERVAL)
		return wr_job_join_between(p, n, wr_yaml_map_get(m, "between"));
	if (n->join != WR_JOIN_WINDOW)
		return WR_OK;
	if ((rc = wr_job_node_window(p, n, wr_yaml_map_get(m, "window"))))
		return rc;
	if (n->window == WR_WIN_SESSION)
		return wr_job_fail(
		    p, wr_job_key(wr_yaml_map_get(m, "window"), "session"),
		    "%swindow: a window join takes tumbling or "
		    "sliding windows",
		    jpre);
	return WR_OK;
}

/* ---- the graph (pass 4) ------------------------------------------------ */

/* A table feeds only a table join's `table:`, which reads only a table;
 * a table nobody reads is a mistake (the job parser refuses it, so the
 * JobManager's refusal of joins covers every job with tables). */
int
wr_job_check_tables(wr_jp *p)
{
	const wr_jobspec *spec = p->spec;
	bool read[WR_JOB_MAX_NODES] = {false};

	for (size_t i = p->nsources; i < spec->nnodes; i++)
		for (int k = 0; k < spec->nodes[i].ninputs; k++)
			read[spec->nodes[i].inputs[k]] = true;
	for (size_t i = 0; i < p->nsources; i++)
		if (spec->nodes[i].source.table && !read[i])
			return wr_job_fail(p, p->pos[i].id,
			                   "table '%s' is not read by any join "
			                   "(join: { table: %s, ... })",
			                   spec->nodes[i].id,
			                   spec->nodes[i].id);

	for (size_t i = p->nsources; i < spec->nnodes; i++) {
		const wr_node_spec *n = &spec->nodes[i];
		for (int k = 0; k < n->ninputs; k++) {
			const wr_node_spec *in = &spec->nodes[n->inputs[k]];
			bool is_table = !n->input_side[k] &&
			                in->kind == WR_NODE_SOURCE &&
			                in->source.table;
			bool want = n->kind == WR_NODE_JOIN &&
			            n->join == WR_JOIN_TABLE && k == 1;
			if (is_table && !want)
				return wr_job_fail(
				    p, p->pos[i].from[k],
				    "node '%s' reads table '%s': a table "
				    "feeds only a join's 'table:' (a "
				    "stream-table join)",
				    n->id, in->id);
			if (!is_table && want)
				return wr_job_fail(
				    p, p->pos[i].from[k],
				    "node '%s': join.table: '%s' is not a "
				    "table (declare it under 'tables:')",
				    n->id, p->pos[i].from[k]->scalar);
		}
	}
	return WR_OK;
}

/* ---- types (pass 5) ---------------------------------------------------- */

/* The id of input k, as a message names it. */
static const char *
wr_job_join_input_id(const wr_jp *p, const wr_node_spec *n, int k)
{
	const wr_node_spec *in = &p->spec->nodes[n->inputs[k]];

	return n->input_side[k] ? in->late_output : in->id;
}

/* The right side's key fields: right_on, else the names of on. */
static int
wr_job_join_right_keys(wr_jp *p, size_t i, const wr_yaml_node *m,
                       const wr_schema *in1)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *v = wr_yaml_map_get(m, "right_on");
	const char *key = v != NULL ? "right_on" : "on";
	char what[WR_JOB_WHERE_BYTES];
	int count = 0;

	if (v == NULL)
		v = wr_yaml_map_get(m, "on");
	snprintf(what, sizeof(what), "join.%s (in '%s')", key,
	         wr_job_join_input_id(p, n, 1));
	return wr_job_field_list(p, n->id, what, v, in1, n->join_keys[1],
	                         &count);
}

/* Pairwise equal types; for a table, exactly its primary key. */
static int
wr_job_join_key_types(wr_jp *p, size_t i, const wr_yaml_node *m,
                      const wr_schema *in0, const wr_schema *in1)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *on = wr_yaml_map_get(m, "on");
	const wr_node_spec *right = &p->spec->nodes[n->inputs[1]];

	for (int k = 0; k < n->njoin_keys; k++) {
		const wr_field *a = &in0->fields[n->join_keys[0][k]];
		const wr_field *b = &in1->fields[n->join_keys[1][k]];
		const wr_yaml_node *at =
		    on->kind == WR_YAML_SEQ ? on->values[k] : on;
		if (a->type != b->type)
			return wr_job_fail(
			    p, at,
			    "node '%s': join key '%s' is a %s on the left "
			    "and '%s' a %s in '%s': keys must have the same "
			    "type on both sides",
			    n->id, a->name, wr_type_name(a->type), b->name,
			    wr_type_name(b->type),
			    wr_job_join_input_id(p, n, 1));
	}
	if (n->join != WR_JOIN_TABLE)
		return WR_OK;
	/* Fields are listed once on each side, so equal counts and each
	 * key in the primary key make the two sets equal. */
	bool ok = n->njoin_keys == right->source.npkeys;
	for (int k = 0; ok && k < n->njoin_keys; k++) {
		bool in_pk = false;
		for (int j = 0; j < right->source.npkeys; j++)
			in_pk = in_pk ||
			        right->source.pkeys[j] == n->join_keys[1][k];
		ok = in_pk;
	}
	if (ok)
		return WR_OK;
	wr_buf pk;
	wr_buf_init(&pk);
	for (int j = 0; j < right->source.npkeys; j++)
		wr_buf_printf(&pk, "%s%s", j ? ", " : "",
		              in1->fields[right->source.pkeys[j]].name);
	int rc = wr_job_fail(p, on,
	                     "node '%s': join.on must match the primary key "
	                     "of table '%s' (%s), field for field",
	                     n->id, right->id, pk.data);
	wr_buf_fini(&pk);
	return rc;
}

/* Event time where the form needs it. */
static int
wr_job_join_time(wr_jp *p, size_t i, const wr_yaml_node *m)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_jobspec *spec = p->spec;
	const wr_yaml_node *at =
	    wr_job_key(m, n->join == WR_JOIN_TABLE      ? "as_of"
	                  : n->join == WR_JOIN_INTERVAL ? "between"
	                                                : "window");

	if (n->join == WR_JOIN_TABLE && !n->join_event_time)
		return WR_OK;
	for (int k = 0; k < 2; k++) {
		int in = n->inputs[k];
		bool et = n->join == WR_JOIN_TABLE && k == 1
		              ? spec->nodes[in].source.time_field >= 0
		              : wr_job_has_event_time(spec, (size_t)in);
		if (et)
			continue;
		return wr_job_fail(
		    p, at,
		    "node '%s': %s needs event time on both sides, and "
		    "'%s' has none: give its source (or table) event_time: "
		    "{ field: ... }",
		    n->id,
		    n->join == WR_JOIN_TABLE    ? "as_of: event_time"
		    : n->join == WR_JOIN_WINDOW ? "a window join"
		                                : "an interval join",
		    wr_job_join_input_id(p, n, k));
	}
	return WR_OK;
}

/* Input 1's field f under its output name: as is, or prefixed with the
 * input's id (or table name; '-' becomes '_') when input 0 has it. */
static int
wr_job_join_add_right(wr_jp *p, size_t i, const wr_yaml_node *m,
                      const wr_field *f)
{
	wr_node_spec *n = &p->spec->nodes[i];
	char name[2 * WR_JOB_MAX_ID_BYTES + 2];
	const char *src = wr_job_join_input_id(p, n, 1);
	const wr_yaml_node *at =
	    wr_job_key(m, n->join == WR_JOIN_TABLE ? "table" : "right");
	int rc;

	if (wr_schema_index(&n->out, f->name) < 0) {
		snprintf(name, sizeof(name), "%s", f->name);
	} else {
		snprintf(name, sizeof(name), "%s_%s", src, f->name);
		for (char *c = name; *c != '\0'; c++)
			if (*c == '-')
				*c = '_';
		if (strlen(name) >= WR_JOB_MAX_ID_BYTES)
			return wr_job_fail(
			    p, at,
			    "node '%s': the joined field '%s' (field '%s' of "
			    "'%s', whose name the left side has) is longer "
			    "than %d bytes: rename one side's field with a "
			    "select",
			    n->id, name, f->name, src, WR_JOB_MAX_ID_BYTES - 1);
	}
	rc = wr_schema_add(&n->out, name, f->type);
	if (rc == WR_EEXIST)
		return wr_job_fail(p, at,
		                   "node '%s': the joined field '%s' (field "
		                   "'%s' of '%s') is already a field of the "
		                   "left side: rename it with a select",
		                   n->id, name, f->name, src);
	if (rc != WR_OK)
		return wr_job_fail(p, at,
		                   "node '%s': the join has more than %d "
		                   "output fields",
		                   n->id, WR_MAX_FIELDS);
	return WR_OK;
}

/* Left fields, right fields, then (window join) the window's bounds. */
static int
wr_job_join_out(wr_jp *p, size_t i, const wr_yaml_node *m, const wr_schema *in0,
                const wr_schema *in1)
{
	wr_node_spec *n = &p->spec->nodes[i];
	static const char *const wcols[] = {"window_start", "window_end"};
	int rc;

	wr_schema_copy(&n->out, in0);
	for (uint32_t f = 0; f < in1->n; f++)
		if ((rc = wr_job_join_add_right(p, i, m, &in1->fields[f])))
			return rc;
	for (int w = 0; n->join == WR_JOIN_WINDOW && w < 2; w++) {
		rc = wr_schema_add(&n->out, wcols[w], WR_T_TIMESTAMP);
		if (rc != WR_OK)
			return wr_job_fail(p, wr_job_key(m, "window"),
			                   "node '%s': %s the window join's "
			                   "own field %s",
			                   n->id,
			                   rc == WR_EEXIST
			                       ? "an input field clashes with"
			                       : "no room for",
			                   wcols[w]);
	}
	return WR_OK;
}

int
wr_job_type_join(wr_jp *p, size_t i)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *m = wr_yaml_map_get(p->pos[i].map, "join");
	const wr_schema *in0 = wr_jobspec_input_schema(p->spec, n, 0);
	const wr_schema *in1 = wr_jobspec_input_schema(p->spec, n, 1);
	int rc;

	n->njoin_keys = 0;
	if ((rc = wr_job_field_list(p, n->id, "join.on",
	                            wr_yaml_map_get(m, "on"), in0,
	                            n->join_keys[0], &n->njoin_keys)) ||
	    (rc = wr_job_join_right_keys(p, i, m, in1)) ||
	    (rc = wr_job_join_key_types(p, i, m, in0, in1)) ||
	    (rc = wr_job_join_time(p, i, m)))
		return rc;
	return wr_job_join_out(p, i, m, in0, in1);
}
