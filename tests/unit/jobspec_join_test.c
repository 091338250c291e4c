/*
 * jobspec_join_test.c - `tables:` and the three `join:` forms in the job
 * parser (docs/joins.md): inputs, keys, event time, bounds, output
 * schemas with renamed fields, the plan's two HASH edges on the join keys,
 * and broken files refused with "t.yaml:line:col: what".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wrtest.h"

#include "err.h"
#include "jobspec.h"
#include "plan.h"
#include "record.h"

/* Lines 1-19: two streams with event time, one without, a table. */
#define STREAMS                                                                \
	"name: t\n"                                                            \
	"sources:\n"                                                           \
	"  orders:\n"                                                          \
	"    kafka: { topic: orders }\n"                                       \
	"    schema: { order_id: string, product_id: string, amount: double, " \
	"ts: timestamp }\n"                                                    \
	"    event_time: { field: ts, max_out_of_orderness: 5s }\n"            \
	"  paid:\n"                                                            \
	"    kafka: { topic: paid }\n"                                         \
	"    schema: { user_id: long, ts: timestamp, amount: double }\n"       \
	"    event_time: { field: ts }\n"                                      \
	"  plain:\n"                                                           \
	"    kafka: { topic: plain }\n"                                        \
	"    schema: { user_id: long, x: string }\n"
#define TABLE                                                                  \
	"tables:\n"                                                            \
	"  catalog:\n"                                                         \
	"    kafka: { topic: catalog, startup: earliest }\n"                   \
	"    schema: { product_id: string, category: string, price: double, "  \
	"ts: timestamp }\n"                                                    \
	"    primary_key: [product_id]\n"                                      \
	"    event_time: { field: ts }\n"
#define HEAD STREAMS TABLE "nodes:\n"
/* The same lines without the table (a table nobody reads is refused). */
#define HEAD2 STREAMS "#\n#\n#\n#\n#\n#\nnodes:\n"
#define SINK(from)                                                             \
	"  - id: out\n"                                                        \
	"    from: " from "\n"                                                 \
	"    sink: { stdout: {} }\n"

static const wr_node_spec *
node(const wr_jobspec *spec, const char *id)
{
	int i = wr_jobspec_find(spec, id);
	if (i < 0)
		fail_msg("no node '%s'", id);
	return &spec->nodes[i];
}

static void
assert_fields(const wr_schema *s, const char *const *names)
{
	uint32_t i = 0;
	for (; names[i] != NULL; i++) {
		assert_true(i < s->n);
		assert_string_equal(s->fields[i].name, names[i]);
	}
	assert_int_equal(s->n, i);
}

/* The SPEC's stream-table join: inputs, keys, renamed fields. */
static void
test_table_join(void **state)
{
	(void)state;
	wr_jobspec *spec = wrt_job(
	    HEAD "  - id: enriched\n"
	         "    from: orders\n"
	         "    join: { table: catalog, on: [product_id], type: left, "
	         "as_of: event_time }\n" SINK("enriched"),
	    0);
	const wr_node_spec *t = node(spec, "catalog"),
	                   *j = node(spec, "enriched");
	static const char *const out[] = {
	    "order_id", "product_id", "amount",     "ts", "catalog_product_id",
	    "category", "price",      "catalog_ts", NULL};

	assert_int_equal(t->kind, WR_NODE_SOURCE);
	assert_true(t->source.table);
	assert_int_equal(t->source.npkeys, 1);
	assert_int_equal(t->source.pkeys[0], 0);
	assert_int_equal(t->source.time_field, 3);
	assert_string_equal(t->source.topic, "catalog");
	assert_int_equal(j->kind, WR_NODE_JOIN);
	assert_int_equal(j->join, WR_JOIN_TABLE);
	assert_true(j->join_left);
	assert_true(j->join_event_time);
	assert_int_equal(j->ninputs, 2);
	assert_int_equal(j->inputs[0], wr_jobspec_find(spec, "orders"));
	assert_int_equal(j->inputs[1], wr_jobspec_find(spec, "catalog"));
	assert_int_equal(j->njoin_keys, 1);
	assert_int_equal(j->join_keys[0][0], 1);
	assert_int_equal(j->join_keys[1][0], 0);
	assert_fields(&j->out, out);
	assert_int_equal(j->out.fields[6].type, WR_T_DOUBLE);
	/* The join's records carry the stream's event time. */
	wr_jobspec_free(spec);

	/* Defaults: inner, processing time; a table needs no event time
	 * then. */
	spec = wrt_job(HEAD "  - id: e\n"
	                    "    from: orders\n"
	                    "    join: { table: catalog, on: product_id }\n"
	                    "  - id: w\n"
	                    "    from: e\n"
	                    "    key_by: [category]\n"
	                    "    window: { tumbling: 1m }\n"
	                    "    aggregate: { n: count() }\n" SINK("w"),
	               0);
	j = node(spec, "e");
	assert_false(j->join_left);
	assert_false(j->join_event_time);
	wr_jobspec_free(spec);
}

/* Interval join: bounds (negative allowed), right_on, renamed ids. */
static void
test_interval_join(void **state)
{
	(void)state;
	wr_jobspec *spec = wrt_job(
	    HEAD2 "  - id: paid-2\n"
	          "    from: paid\n"
	          "    filter: amount > 0\n"
	          "  - id: j\n"
	          "    join: { left: orders, right: paid-2, on: [amount], "
	          "between: [-5m, 10s], type: left }\n" SINK("j"),
	    0);
	const wr_node_spec *j = node(spec, "j");
	static const char *const out[] = {
	    "order_id", "product_id", "amount",        "ts",
	    "user_id",  "paid_2_ts",  "paid_2_amount", NULL};

	assert_int_equal(j->join, WR_JOIN_INTERVAL);
	assert_int_equal(j->join_lower_ms, -300000);
	assert_int_equal(j->join_upper_ms, 10000);
	assert_true(j->join_left);
	assert_int_equal(j->join_keys[0][0], 2);
	assert_int_equal(j->join_keys[1][0], 2);
	assert_fields(&j->out, out);
	wr_jobspec_free(spec);
}

/* Window join: right_on, window bounds appended; the plan's edges. */
static void
test_window_join_plan(void **state)
{
	(void)state;
	wr_jobspec *spec = wrt_job(
	    HEAD2 "  - id: j\n"
	          "    parallelism: 3\n"
	          "    join: { left: paid, right: orders, on: [amount], "
	          "right_on: [amount], window: { sliding: 10s, slide: "
	          "5s } }\n"
	          "  - id: f\n"
	          "    parallelism: 3\n"
	          "    from: j\n"
	          "    filter: user_id > 0\n" SINK("f"),
	    0);
	const wr_node_spec *j = node(spec, "j");
	static const char *const out[] = {"user_id",    "ts",
	                                  "amount",     "order_id",
	                                  "product_id", "orders_amount",
	                                  "orders_ts",  "window_start",
	                                  "window_end", NULL};
	wr_plan *plan = NULL;
	char err[256];
	int ji = wr_jobspec_find(spec, "j"), nin = 0;

	assert_int_equal(j->join, WR_JOIN_WINDOW);
	assert_int_equal(j->window, WR_WIN_SLIDING);
	assert_int_equal(j->size_ms, 10000);
	assert_int_equal(j->slide_ms, 5000);
	assert_fields(&j->out, out);
	assert_int_equal(wr_plan_build(spec, &plan, err, sizeof(err)), WR_OK);
	for (int e = 0; e < plan->nedges; e++) {
		const wr_edge *ed = &plan->edges[e];
		if (ed->to_node != ji)
			continue;
		nin++;
		assert_int_equal(ed->kind, WR_EDGE_HASH);
		assert_int_equal(ed->nkeys, 1);
		assert_int_equal(
		    ed->input_index,
		    ed->from_node == wr_jobspec_find(spec, "paid") ? 0 : 1);
		/* amount is field 2 of paid and of orders */
		assert_int_equal(ed->keys[0], 2);
		assert_int_not_equal(plan->node_vertex[ed->from_node],
		                     plan->node_vertex[ji]);
	}
	assert_int_equal(nin, 2);
	/* The filter after the join chains with it. */
	assert_int_equal(plan->node_vertex[wr_jobspec_find(spec, "f")],
	                 plan->node_vertex[ji]);
	wr_plan_free(plan);
	wr_jobspec_free(spec);
}

/* The table's edge hashes its primary key in the order of `on`. */
static void
test_table_join_plan(void **state)
{
	(void)state;
	wr_jobspec *spec = wrt_job(
	    "name: t\n"
	    "sources:\n"
	    "  s: { kafka: { topic: s }, schema: { a: string, b: long } }\n"
	    "tables:\n"
	    "  tb:\n"
	    "    kafka: { topic: tb }\n"
	    "    schema: { v: double, y: long, x: string }\n"
	    "    primary_key: [x, y]\n"
	    "nodes:\n"
	    "  - id: j\n"
	    "    from: s\n"
	    "    join: { table: tb, on: [b, a], right_on: [y, x] }\n" SINK("j"),
	    0);
	wr_plan *plan = NULL;
	char err[256];
	int ji = wr_jobspec_find(spec, "j");

	assert_int_equal(wr_plan_build(spec, &plan, err, sizeof(err)), WR_OK);
	for (int e = 0; e < plan->nedges; e++) {
		const wr_edge *ed = &plan->edges[e];
		if (ed->to_node != ji)
			continue;
		assert_int_equal(ed->kind, WR_EDGE_HASH);
		assert_int_equal(ed->nkeys, 2);
		if (ed->input_index == 0) {
			assert_int_equal(ed->keys[0], 1);
			assert_int_equal(ed->keys[1], 0);
		} else {
			assert_int_equal(ed->from_node,
			                 wr_jobspec_find(spec, "tb"));
			assert_int_equal(ed->keys[0], 1);
			assert_int_equal(ed->keys[1], 2);
		}
	}
	wr_plan_free(plan);
	wr_jobspec_free(spec);
}

typedef struct bad_case {
	const char *text;
	const char *prefix;
	const char *what;
} bad_case;

static const bad_case bad_cases[] = {
    {HEAD2 "  - id: j\n"
           "    from: orders\n"
           "    join: { table: nope, on: [product_id] }\n" SINK("j"),
     "t.yaml:23:20: ", "node 'j' reads from 'nope', which is neither"},
    {HEAD2 "  - id: j\n"
           "    from: orders\n"
           "    join: { table: paid, on: [user_id] }\n" SINK("j"),
     "t.yaml:23:20: ", "join.table: 'paid' is not a table"},
    {HEAD "  - id: j\n"
          "    join: { left: orders, right: catalog, on: [product_id], "
          "between: [0s, 1s] }\n" SINK("j"),
     "t.yaml:22:34: ", "node 'j' reads table 'catalog': a table feeds only"},
    {HEAD SINK("catalog"), "t.yaml:22:11: ", "node 'out' reads table"},
    {HEAD2 "  - id: j\n"
           "    join: { left: orders, right: nope, on: [x], between: [0s, "
           "1s] }\n" SINK("j"),
     "t.yaml:22:34: ", "reads from 'nope', which is neither"},
    {HEAD "  - id: j\n"
          "    from: orders\n"
          "    join: { table: catalog, on: [category] }\n" SINK("j"),
     "t.yaml:23:34: ", "join.on: no field 'category' in its input"},
    {HEAD
     "  - id: j\n"
     "    from: orders\n"
     "    join: { table: catalog, on: [amount], right_on: [price] }\n" SINK(
         "j"),
     "t.yaml:23:33: ",
     "join.on must match the primary key of table "
     "'catalog' (product_id)"},
    {HEAD2 "  - id: j\n"
           "    join: { left: orders, right: paid, on: [amount], "
           "right_on: [user_id], between: [0s, 1s] }\n" SINK("j"),
     "t.yaml:22:45: ",
     "join key 'amount' is a double on the left and "
     "'user_id' a long in 'paid'"},
    {HEAD2 "  - id: j\n"
           "    join: { left: orders, right: paid, on: [user_id], "
           "between: [0s, 1s] }\n" SINK("j"),
     "t.yaml:22:45: ", "join.on: no field 'user_id' in its input"},
    {HEAD2 "  - id: j\n"
           "    join: { left: paid, right: orders, on: [user_id], "
           "between: [0s, 1s] }\n" SINK("j"),
     "t.yaml:22:45: ", "join.on (in 'orders'): no field 'user_id'"},
    {HEAD2 "  - id: j\n"
           "    join: { left: paid, right: plain, on: [user_id], "
           "between: [0s, 1s] }\n" SINK("j"),
     "t.yaml:22:54: ",
     "an interval join needs event time on both sides, "
     "and 'plain' has none"},
    {HEAD2 "  - id: j\n"
           "    join: { left: plain, right: paid, on: [user_id], "
           "window: { tumbling: 1s } }\n" SINK("j"),
     "t.yaml:22:54: ",
     "a window join needs event time on both sides, and "
     "'plain' has none"},
    {HEAD "  - id: j\n"
          "    from: plain\n"
          "    join: { table: catalog, on: [x], right_on: [product_id], "
          "as_of: event_time }\n" SINK("j"),
     "t.yaml:23:62: ",
     "as_of: event_time needs event time on both sides, "
     "and 'plain' has none"},
    {HEAD2 "  - id: j\n"
           "    join: { left: orders, right: paid, on: [amount], "
           "between: [10s, 1s] }\n" SINK("j"),
     "t.yaml:22:64: ", "the lower bound 10s is above the upper bound 1s"},
    {HEAD2 "  - id: j\n"
           "    join: { left: orders, right: paid, on: [amount], "
           "between: [0s, 10 minutes] }\n" SINK("j"),
     "t.yaml:22:68: ", "the upper bound '10 minutes' is not a duration"},
    {HEAD2 "  - id: j\n"
           "    join: { left: orders, right: paid, on: [amount], "
           "between: [-8d, 0s] }\n" SINK("j"),
     "t.yaml:22:64: ", "the lower bound '-8d' is beyond +-7d"},
    {HEAD2 "  - id: j\n"
           "    join: { left: orders, right: paid, on: [amount], "
           "between: 5s }\n" SINK("j"),
     "t.yaml:22:63: ", "join.between must be a list [lower, upper]"},
    {HEAD2 "  - id: j\n"
           "    join: { left: orders, right: paid, on: [amount], "
           "window: { session: 5s } }\n" SINK("j"),
     "t.yaml:22:64: ", "a window join takes tumbling or sliding windows"},
    {HEAD2 "  - id: j\n"
           "    join: { left: orders, right: paid, on: [amount], "
           "window: { tumbling: 0s } }\n" SINK("j"),
     "t.yaml:22:74: ", "window.tumbling: 0s is below the minimum"},
    {HEAD2 "  - id: j\n"
           "    join: { left: orders, right: paid, on: [amount], "
           "between: [0s, 1s], window: { tumbling: 1s } }\n" SINK("j"),
     "t.yaml:22:73: ", "join has both 'between' (22:54) and 'window'"},
    {HEAD2 "  - id: j\n"
           "    join: { left: orders, right: paid, on: [amount] }\n" SINK("j"),
     "t.yaml:22:11: ", "needs 'between: [lower, upper]'"},
    {HEAD2 "  - id: j\n"
           "    from: orders\n"
           "    join: {}\n" SINK("j"),
     "t.yaml:23:11: ", "join needs 'table' (a stream-table join) or 'left'"},
    {HEAD2 "  - id: j\n"
           "    from: orders\n"
           "    join: { left: orders, right: paid, on: [amount], "
           "between: [0s, 1s] }\n" SINK("j"),
     "t.yaml:22:5: ", "a join of two streams names them in join.left"},
    {HEAD
     "  - id: j\n"
     "    join: { left: orders, on: [amount], between: [0s, 1s] }\n" SINK("j"),
     "t.yaml:22:11: ", "node 'j': join.right is required"},
    {HEAD "  - id: j\n"
          "    join: { table: catalog, on: [product_id] }\n" SINK("j"),
     "t.yaml:21:5: ", "node 'j': from is required"},
    {HEAD "  - id: j\n"
          "    from: orders\n"
          "    join: { table: catalog, on: [product_id], between: [0s, "
          "1s] }\n" SINK("j"),
     "t.yaml:23:47: ", "join.between does not apply to a stream-table join"},
    {HEAD2 "  - id: j\n"
           "    join: { left: orders, right: paid, on: [amount], "
           "between: [0s, 1s], as_of: event_time }\n" SINK("j"),
     "t.yaml:22:73: ", "join.as_of does not apply to an interval join"},
    {HEAD
     "  - id: j\n"
     "    from: orders\n"
     "    join: { table: catalog, on: [product_id], type: outer }\n" SINK("j"),
     "t.yaml:23:53: ", "join.type: 'outer' is not one of inner, left"},
    {HEAD "  - id: j\n"
          "    from: orders\n"
          "    join: { table: catalog }\n" SINK("j"),
     "t.yaml:23:11: ", "join.on is required"},
    {HEAD2 "  - id: j\n"
           "    join: { left: orders, right: paid, on: [amount], "
           "right_on: [amount, ts], between: [0s, 1s] }\n" SINK("j"),
     "t.yaml:22:64: ", "right_on has 2 fields and on has 1"},
    {HEAD
     "  - id: j\n"
     "    from: orders\n"
     "    join: { table: catalog, on: [product_id], smurf: 1 }\n" SINK("j"),
     "t.yaml:23:47: ", "unknown key 'smurf' in the join of node 'j'"},
    /* A window join's own fields must not clash with an input's. */
    {HEAD2 "  - id: s2\n"
           "    from: paid\n"
           "    select: { user_id: user_id, ts: ts, window_end: ts }\n"
           "  - id: j\n"
           "    join: { left: paid, right: s2, on: [user_id], window: { "
           "tumbling: 1s } }\n" SINK("j"),
     "t.yaml:25:51: ",
     "an input field clashes with the window join's own "
     "field window_end"},
    /* tables */
    {"name: t\n"
     "sources: { s: { kafka: { topic: s }, schema: { a: long } } }\n"
     "tables:\n"
     "  tb: { kafka: { topic: t }, schema: { a: long } }\n"
     "nodes:\n" SINK("s"),
     "t.yaml:4:7: ", "table 'tb': primary_key is required"},
    {"name: t\n"
     "sources: { s: { kafka: { topic: s }, schema: { a: long } } }\n"
     "tables:\n"
     "  tb: { kafka: { topic: t }, schema: { a: long }, primary_key: [b] }\n"
     "nodes:\n" SINK("s"),
     "t.yaml:4:65: ", "table 'tb': primary_key: the schema has no field 'b'"},
    {"name: t\n"
     "sources: { s: { kafka: { topic: s }, schema: { a: long } } }\n"
     "tables:\n"
     "  tb: { file: { path: x }, schema: { a: long }, primary_key: [a] }\n"
     "nodes:\n" SINK("s"),
     "t.yaml:4:9: ", "unknown key 'file' in table 'tb'"},
    {"name: t\n"
     "sources: { s: { kafka: { topic: s }, schema: { a: long } } }\n"
     "tables:\n"
     "  tb: { schema: { a: long }, primary_key: [a] }\n"
     "nodes:\n" SINK("s"),
     "t.yaml:4:7: ", "table 'tb' needs 'kafka'"},
    {"name: t\n"
     "sources: { s: { kafka: { topic: s }, schema: { a: long } } }\n"
     "tables:\n"
     "  s: { kafka: { topic: t }, schema: { a: long }, primary_key: [a] }\n"
     "nodes:\n" SINK("s"),
     "t.yaml:4:3: ", "duplicate id 's'"},
    {"name: t\n"
     "sources: { s: { kafka: { topic: s }, schema: { a: long } } }\n"
     "tables:\n"
     "  tb: { kafka: { topic: t }, schema: { a: long }, primary_key: [a] }\n"
     "nodes:\n" SINK("s"),
     "t.yaml:4:3: ", "table 'tb' is not read by any join"},
};

static void
test_bad_joins(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		print_message("case %zu\n", i);
		wrt_job_bad(bad_cases[i].text, bad_cases[i].prefix,
		            bad_cases[i].what);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_join),
	    cmocka_unit_test(test_interval_join),
	    cmocka_unit_test(test_window_join_plan),
	    cmocka_unit_test(test_table_join_plan),
	    cmocka_unit_test(test_bad_joins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
