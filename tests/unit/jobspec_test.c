/*
 * jobspec_test.c - the job file parser: the SPEC example, defaults (Flink's
 * max_parallelism rule, restart defaults), schemas flowing through select,
 * windows and reduce, aggregate types, the order of nodes, and broken
 * files refused with "t.yaml:line:col: what".
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
#include "record.h"

static char errbuf[4096];

static wr_jobspec *
parse(const char *text)
{
	return wrt_job(text, 0);
}

static void
assert_field(const wr_schema *s, uint32_t i, const char *name, enum wr_type t)
{
	assert_true(i < s->n);
	assert_string_equal(s->fields[i].name, name);
	assert_int_equal(s->fields[i].type, t);
}

static const wr_node_spec *
node(const wr_jobspec *spec, const char *id)
{
	int i = wr_jobspec_find(spec, id);
	if (i < 0)
		fail_msg("no node '%s'", id);
	return &spec->nodes[i];
}

/* The job of SPEC.md, "Job file", as written there. */
static const char spec_example[] =
    "name: order-analytics\n"
    "parallelism: 2                  # default for every node\n"
    "max_parallelism: 128            # number of key groups\n"
    "checkpointing: { interval: 10s, timeout: 60s, mode: exactly_once, "
    "min_pause: 0s, retained: 3 }\n"
    "restart: { strategy: exponential, initial_delay: 500ms, max_delay: "
    "30s, attempts: 100 }\n"
    "\n"
    "sources:\n"
    "  orders:\n"
    "    kafka: { topic: orders, bootstrap: \"127.0.0.1:9092\", startup: "
    "earliest }\n"
    "    format: json\n"
    "    schema: { order_id: string, product_id: string, amount: double, "
    "status: string, ts: timestamp }\n"
    "    event_time: { field: ts, max_out_of_orderness: 5s, idle_timeout: "
    "30s }\n"
    "    invalid: { policy: dead_letter, topic: orders-dlq }   # or: skip "
    "| fail\n"
    "\n"
    "nodes:\n"
    "  - id: paid                    # id is the operator uid\n"
    "    from: orders\n"
    "    filter: \"status == 'PAID' && amount > 0\"\n"
    "  - id: per_product\n"
    "    from: paid\n"
    "    key_by: [product_id]\n"
    "    window: { tumbling: 1m }    # or { sliding: 30s, slide: 10s }\n"
    "    allowed_lateness: 30s\n"
    "    late_output: late_orders    # a named side output\n"
    "    aggregate: { orders: count(), revenue: sum(amount), avg_amount: "
    "avg(amount), max_amount: max(amount) }\n"
    "  - id: to_kafka\n"
    "    from: per_product\n"
    "    sink: { kafka: { topic: order_analytics, semantic: exactly_once } "
    "}\n";

static void
test_spec_example(void **state)
{
	(void)state;
	wr_jobspec *spec = parse(spec_example);
	const wr_node_spec *src, *w, *sink;

	assert_string_equal(spec->name, "order-analytics");
	assert_string_equal(spec->file, "t.yaml");
	assert_string_equal(spec->text, spec_example);
	assert_int_equal(spec->parallelism, 2);
	assert_int_equal(spec->max_parallelism, 128);
	assert_int_equal(spec->checkpointing.interval_ms, 10000);
	assert_int_equal(spec->checkpointing.timeout_ms, 60000);
	assert_int_equal(spec->checkpointing.mode, WR_SEM_EXACTLY_ONCE);
	assert_int_equal(spec->checkpointing.min_pause_ms, 0);
	assert_int_equal(spec->checkpointing.retained, 3);
	assert_int_equal(spec->restart.kind, WR_RESTART_EXPONENTIAL);
	assert_int_equal(spec->restart.delay_ms, 500);
	assert_int_equal(spec->restart.max_delay_ms, 30000);
	assert_true(spec->restart.multiplier == 2.0);
	assert_int_equal(spec->restart.attempts, 100);
	assert_int_equal(spec->nnodes, 4);
	assert_string_equal(spec->nodes[0].id, "orders");
	assert_string_equal(spec->nodes[1].id, "paid");
	assert_string_equal(spec->nodes[2].id, "per_product");
	assert_string_equal(spec->nodes[3].id, "to_kafka");

	src = node(spec, "orders");
	assert_int_equal(src->kind, WR_NODE_SOURCE);
	assert_int_equal(src->line, 8);
	assert_int_equal(src->col, 3);
	assert_int_equal(src->source.kind, WR_SRC_KAFKA);
	assert_string_equal(src->source.topic, "orders");
	assert_string_equal(src->source.bootstrap, "127.0.0.1:9092");
	assert_int_equal(src->source.startup, WR_STARTUP_EARLIEST);
	assert_null(src->source.group);
	assert_false(src->source.allow_missing);
	assert_int_equal(src->source.schema.n, 5);
	assert_field(&src->out, 4, "ts", WR_T_TIMESTAMP);
	assert_int_equal(src->source.time_field, 4);
	assert_int_equal(src->source.max_out_of_orderness_ms, 5000);
	assert_int_equal(src->source.idle_timeout_ms, 30000);
	assert_int_equal(src->source.invalid, WR_INVALID_DLQ);
	assert_string_equal(src->source.dlq_topic, "orders-dlq");
	assert_int_equal(src->parallelism, 2);

	assert_int_equal(node(spec, "paid")->kind, WR_NODE_FILTER);
	assert_non_null(node(spec, "paid")->filter);
	assert_int_equal(node(spec, "paid")->inputs[0], 0);
	assert_int_equal(node(spec, "paid")->ninputs, 1);
	assert_int_equal(node(spec, "paid")->out.n, 5);

	w = node(spec, "per_product");
	assert_int_equal(w->kind, WR_NODE_WINDOW);
	assert_int_equal(w->window, WR_WIN_TUMBLING);
	assert_int_equal(w->size_ms, 60000);
	assert_int_equal(w->allowed_lateness_ms, 30000);
	assert_string_equal(w->late_output, "late_orders");
	assert_int_equal(w->nkeys, 1);
	assert_int_equal(w->keys[0], 1);
	assert_int_equal(w->naggs, 4);
	assert_int_equal(w->aggs[0].fn, WR_AGG_COUNT);
	assert_int_equal(w->aggs[0].arg, -1);
	assert_int_equal(w->aggs[1].fn, WR_AGG_SUM);
	assert_int_equal(w->aggs[1].arg, 2);
	assert_int_equal(w->aggs[2].fn, WR_AGG_AVG);
	assert_int_equal(w->aggs[3].fn, WR_AGG_MAX);
	assert_int_equal(w->out.n, 7);
	assert_field(&w->out, 0, "product_id", WR_T_STRING);
	assert_field(&w->out, 1, "window_start", WR_T_TIMESTAMP);
	assert_field(&w->out, 2, "window_end", WR_T_TIMESTAMP);
	assert_field(&w->out, 3, "orders", WR_T_LONG);
	assert_field(&w->out, 4, "revenue", WR_T_DOUBLE);
	assert_field(&w->out, 5, "avg_amount", WR_T_DOUBLE);
	assert_field(&w->out, 6, "max_amount", WR_T_DOUBLE);

	sink = node(spec, "to_kafka");
	assert_int_equal(sink->kind, WR_NODE_SINK);
	assert_int_equal(sink->sink.kind, WR_SINK_KAFKA);
	assert_string_equal(sink->sink.topic, "order_analytics");
	assert_null(sink->sink.bootstrap);
	assert_int_equal(sink->sink.semantic, WR_SEM_EXACTLY_ONCE);
	assert_int_equal(sink->sink.key_field, -1);
	assert_int_equal(sink->out.n, 0);
	assert_int_equal(wr_jobspec_find(spec, "nope"), -1);
	wr_jobspec_free(spec);
}

/* The examples/ files parse (they are also checked by test_validate.py);
 * the build runs tests from the build tree, so read them from the source
 * tree through __FILE__. */
static void
test_example_files(void **state)
{
	static const char *const files[] = {"order-analytics.yaml",
	                                    "orders-filter.yaml"};
	char path[4096];
	const char *slash = strrchr(__FILE__, '/');
	int dirlen = slash ? (int)(slash - __FILE__) : 0;

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		wr_jobspec *spec = NULL;
		snprintf(path, sizeof(path), "%.*s/../../examples/%s", dirlen,
		         __FILE__, files[i]);
		if (wr_jobspec_load_file(path, 0, &spec, errbuf,
		                         sizeof(errbuf)) != WR_OK)
			fail_msg("%s", errbuf);
		wr_jobspec_free(spec);
	}
	assert_int_equal(wr_jobspec_load_file("/nonexistent/x.yaml", 0,
	                                      &(wr_jobspec *){NULL}, errbuf,
	                                      sizeof(errbuf)),
	                 WR_ENOENT);
	assert_non_null(strstr(errbuf, "/nonexistent/x.yaml: "));
}

#define HEAD                                                                   \
	"name: t\n"                                                            \
	"sources:\n"                                                           \
	"  s:\n"                                                               \
	"    kafka: { topic: in }\n"                                           \
	"    schema: { a: string, n: long, d: double, b: bool, ts: "           \
	"timestamp }\n"
#define HEAD_ET HEAD "    event_time: { field: ts }\n"
#define SINK(from)                                                             \
	"  - id: out\n"                                                        \
	"    from: " from "\n"                                                 \
	"    sink: { stdout: {} }\n"

/* window: { processing_time: true }: no event time needed. */
static void
test_processing_time_window(void **state)
{
	(void)state;
	wr_jobspec *j =
	    wrt_job(HEAD "nodes:\n"
	                 "  - id: w\n"
	                 "    from: s\n"
	                 "    key_by: [a]\n"
	                 "    window: { sliding: 10s, slide: 5s, "
	                 "processing_time: true }\n"
	                 "    aggregate: { c: count() }\n" SINK("w"),
	            0);
	const wr_node_spec *w = node(j, "w");
	assert_true(w->processing_time);
	assert_int_equal(w->kind, WR_NODE_WINDOW);
	wr_jobspec_free(j);
}

/* kafka.allow_missing: a boolean, false unless set. */
static void
test_allow_missing(void **state)
{
	(void)state;
	wr_jobspec *spec =
	    parse("name: t\n"
	          "sources:\n"
	          "  s:\n"
	          "    kafka: { topic: in, allow_missing: true }\n"
	          "    schema: { a: string }\n"
	          "nodes:\n" SINK("s"));
	assert_true(node(spec, "s")->source.allow_missing);
	wr_jobspec_free(spec);
	wrt_job_bad("name: t\n"
	            "sources:\n"
	            "  s:\n"
	            "    kafka: { topic: in, allow_missing: maybe }\n"
	            "    schema: { a: string }\n"
	            "nodes:\n" SINK("s"),
	            "t.yaml:4:", "allow_missing");
}

static void
test_select_schema_flow(void **state)
{
	(void)state;
	wr_jobspec *spec =
	    parse(HEAD "nodes:\n"
	               "  - id: sel\n"
	               "    from: s\n"
	               "    select:\n"
	               "      eur: n * 0.92\n"
	               "      name: upper(a)\n"
	               "      big: \"n > 10\"\n"
	               "      n: n\n"
	               "  - id: f\n"
	               "    from: sel\n"
	               "    filter: big && eur > 1.5\n" SINK("f"));
	const wr_node_spec *sel = node(spec, "sel");

	assert_int_equal(sel->kind, WR_NODE_SELECT);
	assert_int_equal(sel->nselect, 4);
	assert_string_equal(sel->select[0].name, "eur");
	assert_non_null(sel->select[0].expr);
	assert_int_equal(sel->out.n, 4);
	assert_field(&sel->out, 0, "eur", WR_T_DOUBLE);
	assert_field(&sel->out, 1, "name", WR_T_STRING);
	assert_field(&sel->out, 2, "big", WR_T_BOOL);
	assert_field(&sel->out, 3, "n", WR_T_LONG);
	/* The filter after select sees the new schema. */
	assert_int_equal(node(spec, "f")->out.n, 4);
	assert_field(&node(spec, "f")->out, 0, "eur", WR_T_DOUBLE);
	wr_jobspec_free(spec);

	/* A field select dropped is gone downstream. */
	wrt_job_bad(HEAD "nodes:\n"
	                 "  - id: sel\n"
	                 "    from: s\n"
	                 "    select: { n: n }\n"
	                 "  - id: f\n"
	                 "    from: sel\n"
	                 "    filter: a == 'x'\n" SINK("f"),
	            "t.yaml:12:13: ", "node 'f': filter: ");
}

static void
test_aggregate_types(void **state)
{
	(void)state;
	wr_jobspec *spec = parse(
	    HEAD_ET "nodes:\n"
	            "  - id: w\n"
	            "    from: s\n"
	            "    key_by: [a, b]\n"
	            "    window: { sliding: 1m, slide: 10s }\n"
	            "    aggregate:\n"
	            "      c: count()\n"
	            "      sn: sum(n)\n"
	            "      sd: sum(d)\n"
	            "      an: avg( n )\n"
	            "      mina: min(a)\n"
	            "      maxts: max(ts)\n"
	            "      cd: count_distinct(a)\n"
	            "      fb: first(b)\n"
	            "      ld: last(d)\n"
	            "  - id: r\n"
	            "    from: s\n"
	            "    key_by: a\n"
	            "    reduce: { total: sum(n), last_ts: last(ts) }\n" SINK(
	                "w") "  - id: out2\n"
	                     "    from: r\n"
	                     "    sink: { file: { path: /tmp/x } }\n");
	const wr_node_spec *w = node(spec, "w"), *r = node(spec, "r");
	static const enum wr_type want[] = {
	    WR_T_LONG,      WR_T_LONG, WR_T_DOUBLE, WR_T_DOUBLE, WR_T_STRING,
	    WR_T_TIMESTAMP, WR_T_LONG, WR_T_BOOL,   WR_T_DOUBLE};

	assert_int_equal(w->window, WR_WIN_SLIDING);
	assert_int_equal(w->size_ms, 60000);
	assert_int_equal(w->slide_ms, 10000);
	assert_int_equal(w->nkeys, 2);
	assert_int_equal(w->keys[0], 0);
	assert_int_equal(w->keys[1], 3);
	assert_int_equal(w->naggs, 9);
	for (size_t i = 0; i < 9; i++)
		assert_int_equal(w->aggs[i].type, want[i]);
	assert_int_equal(w->aggs[3].fn, WR_AGG_AVG);
	assert_int_equal(w->aggs[3].arg, 1);
	assert_int_equal(w->out.n, 2 + 2 + 9);
	assert_field(&w->out, 0, "a", WR_T_STRING);
	assert_field(&w->out, 1, "b", WR_T_BOOL);
	assert_field(&w->out, 2, "window_start", WR_T_TIMESTAMP);
	assert_field(&w->out, 3, "window_end", WR_T_TIMESTAMP);
	assert_field(&w->out, 4, "c", WR_T_LONG);

	assert_int_equal(r->kind, WR_NODE_REDUCE);
	assert_int_equal(r->nkeys, 1);
	assert_int_equal(r->keys[0], 0);
	assert_int_equal(r->out.n, 3);
	assert_field(&r->out, 0, "a", WR_T_STRING);
	assert_field(&r->out, 1, "total", WR_T_LONG);
	assert_field(&r->out, 2, "last_ts", WR_T_TIMESTAMP);
	assert_int_equal(node(spec, "out2")->sink.kind, WR_SINK_FILE);
	assert_string_equal(node(spec, "out2")->sink.path, "/tmp/x");
	wr_jobspec_free(spec);

	/* Session windows, and key_by alone keeps its input's schema. */
	spec = parse(HEAD_ET "nodes:\n"
	                     "  - id: k\n"
	                     "    from: s\n"
	                     "    key_by: [n]\n"
	                     "  - id: w\n"
	                     "    from: k\n"
	                     "    key_by: [n]\n"
	                     "    window: { session: 5m }\n"
	                     "    aggregate: { c: count() }\n" SINK("w"));
	assert_int_equal(node(spec, "k")->kind, WR_NODE_KEY_BY);
	assert_int_equal(node(spec, "k")->out.n, 5);
	assert_int_equal(node(spec, "w")->window, WR_WIN_SESSION);
	assert_int_equal(node(spec, "w")->gap_ms, 300000);
	wr_jobspec_free(spec);
}

static const char minimal[] = HEAD "nodes:\n" SINK("s");

static void
test_defaults(void **state)
{
	(void)state;
	wr_jobspec *spec = parse(minimal);
	const wr_node_spec *src = node(spec, "s");

	assert_int_equal(spec->parallelism, 1);
	assert_int_equal(spec->max_parallelism, 128);
	assert_int_equal(spec->checkpointing.interval_ms, 0);
	assert_int_equal(spec->checkpointing.timeout_ms, 600000);
	assert_int_equal(spec->checkpointing.mode, WR_SEM_EXACTLY_ONCE);
	assert_int_equal(spec->checkpointing.min_pause_ms, 0);
	assert_int_equal(spec->checkpointing.retained, 1);
	assert_int_equal(spec->checkpointing.tolerable_failed, 0);
	assert_int_equal(spec->restart.kind, WR_RESTART_NONE);
	assert_int_equal(src->source.startup, WR_STARTUP_EARLIEST);
	assert_int_equal(src->source.invalid, WR_INVALID_FAIL);
	assert_null(src->source.dlq_topic);
	assert_int_equal(src->source.time_field, -1);
	assert_int_equal(src->parallelism, 1);
	assert_false(src->parallelism_set);
	assert_int_equal(node(spec, "out")->sink.kind, WR_SINK_STDOUT);
	wr_jobspec_free(spec);

	/* Checkpointing on: fixed-delay restarts without bound (Flink). */
	spec = parse("checkpointing: { interval: 1s }\n" HEAD "nodes:\n"
	             "  - id: out\n"
	             "    from: s\n"
	             "    sink: { kafka: { topic: o, key: a } }\n");
	assert_int_equal(spec->restart.kind, WR_RESTART_FIXED);
	assert_int_equal(spec->restart.attempts, -1);
	assert_int_equal(spec->restart.delay_ms, 1000);
	assert_int_equal(node(spec, "out")->sink.semantic,
	                 WR_SEM_AT_LEAST_ONCE);
	assert_int_equal(node(spec, "out")->sink.key_field, 0);
	wr_jobspec_free(spec);

	/* An explicit fixed_delay without checkpoints tries once (Flink). */
	spec = parse("restart: { strategy: fixed_delay, delay: 2s }\n" HEAD
	             "nodes:\n" SINK("s"));
	assert_int_equal(spec->restart.kind, WR_RESTART_FIXED);
	assert_int_equal(spec->restart.attempts, 1);
	assert_int_equal(spec->restart.delay_ms, 2000);
	wr_jobspec_free(spec);

	spec = parse("restart: { strategy: exponential, attempts: unbounded }\n"
	             "checkpointing: { interval: off }\n" HEAD
	             "nodes:\n" SINK("s"));
	assert_int_equal(spec->restart.kind, WR_RESTART_EXPONENTIAL);
	assert_int_equal(spec->restart.delay_ms, 1000);
	assert_int_equal(spec->restart.max_delay_ms, 300000);
	assert_true(spec->restart.multiplier == 2.0);
	assert_int_equal(spec->restart.attempts, -1);
	assert_int_equal(spec->checkpointing.interval_ms, 0);
	wr_jobspec_free(spec);

	/* The ClickHouse sink's batch defaults (wr_limits.h). */
	spec = parse(HEAD "nodes:\n"
	                  "  - id: out\n"
	                  "    from: s\n"
	                  "    sink: { clickhouse: { url: \"http://ch:8123\", "
	                  "table: db.t } }\n");
	const wr_sink_spec *ch = &node(spec, "out")->sink;
	assert_int_equal(ch->kind, WR_SINK_CLICKHOUSE);
	assert_string_equal(ch->url, "http://ch:8123");
	assert_string_equal(ch->table, "db.t");
	assert_null(ch->user);
	assert_null(ch->password_file);
	assert_int_equal(ch->batch_rows, WR_JOB_CH_DEFAULT_BATCH_ROWS);
	assert_int_equal(ch->batch_bytes, WR_JOB_CH_DEFAULT_BATCH_BYTES);
	assert_int_equal(ch->flush_ms, WR_JOB_CH_DEFAULT_FLUSH_MS);
	wr_jobspec_free(spec);
}

static void
test_max_parallelism_rule(void **state)
{
	static const struct {
		const char *text;
		int override, want;
	} cases[] = {
	    {"parallelism: 128\n" HEAD "nodes:\n" SINK("s"), 0, 128},
	    /* 1.5 x 200 = 300 -> 512 */
	    {"parallelism: 200\n" HEAD "nodes:\n" SINK("s"), 0, 512},
	    /* 1.5 x 1000 = 1500 -> 2048 */
	    {HEAD "nodes:\n" SINK("s"), 1000, 2048},
	    /* one node's parallelism decides */
	    {HEAD "nodes:\n"
	          "  - id: out\n"
	          "    from: s\n"
	          "    parallelism: 700\n"
	          "    sink: { stdout: }\n",
	     0, 2048},
	    {"max_parallelism: 16\nparallelism: 16\n" HEAD "nodes:\n" SINK("s"),
	     0, 16},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		wr_jobspec *spec = wrt_job(cases[i].text, cases[i].override);
		assert_int_equal(spec->max_parallelism, cases[i].want);
		wr_jobspec_free(spec);
	}
}

static void
test_parallelism_override(void **state)
{
	(void)state;
	wr_jobspec *spec = wrt_job("parallelism: 2\n" HEAD "nodes:\n"
	                           "  - id: f\n"
	                           "    from: s\n"
	                           "    parallelism: 3\n"
	                           "    filter: \"true\"\n" SINK("f"),
	                           4);
	assert_int_equal(spec->parallelism, 4);
	assert_int_equal(node(spec, "s")->parallelism, 4);
	assert_int_equal(node(spec, "f")->parallelism, 3);
	assert_true(node(spec, "f")->parallelism_set);
	assert_int_equal(node(spec, "out")->parallelism, 4);
	wr_jobspec_free(spec);

	spec = NULL;
	assert_int_equal(wr_jobspec_parse("t.yaml", minimal, strlen(minimal),
	                                  5000, &spec, errbuf, sizeof(errbuf)),
	                 WR_EINVAL);
	assert_null(spec);
	assert_non_null(strstr(errbuf, "t.yaml: parallelism 5000"));
}

/* Nodes written users-first come out inputs-first; file order is kept
 * where the graph allows. */
static void
test_topological_order(void **state)
{
	(void)state;
	wr_jobspec *spec = parse("name: t\n"
	                         "nodes:\n"
	                         "  - id: out\n"
	                         "    from: c\n"
	                         "    sink: { stdout: {} }\n"
	                         "  - id: c\n"
	                         "    from: b\n"
	                         "    filter: \"true\"\n"
	                         "  - id: x\n"
	                         "    from: g\n"
	                         "    sink: { stdout: {} }\n"
	                         "  - id: b\n"
	                         "    from: g\n"
	                         "    filter: \"true\"\n"
	                         "sources:\n"
	                         "  g: { datagen: { rate: 10, count: 5 } }\n"
	                         "  n: { nexmark: {} }\n");
	static const char *const want[] = {"g", "n", "x", "b", "c", "out"};

	assert_int_equal(spec->nnodes, 6);
	for (size_t i = 0; i < spec->nnodes; i++) {
		assert_string_equal(spec->nodes[i].id, want[i]);
		for (int k = 0; k < spec->nodes[i].ninputs; k++)
			assert_true(spec->nodes[i].inputs[k] < (int)i);
	}
	assert_int_equal(node(spec, "c")->inputs[0], 3);
	assert_int_equal(node(spec, "g")->source.kind, WR_SRC_DATAGEN);
	assert_int_equal(node(spec, "g")->source.rate, 10);
	assert_int_equal(node(spec, "g")->source.count, 5);
	assert_int_equal(node(spec, "g")->out.n, 6);
	assert_field(&node(spec, "g")->out, 0, "order_id", WR_T_STRING);
	assert_field(&node(spec, "g")->out, 3, "amount", WR_T_DOUBLE);
	assert_field(&node(spec, "g")->out, 5, "ts", WR_T_TIMESTAMP);
	assert_int_equal(node(spec, "n")->source.kind, WR_SRC_NEXMARK);
	assert_int_equal(node(spec, "n")->source.rate, 1000);
	assert_field(&node(spec, "n")->out, 0, "event_type", WR_T_STRING);
	assert_true(wr_schema_index(&node(spec, "n")->out, "auction_id") > 0);
	assert_true(wr_schema_index(&node(spec, "n")->out, "price") > 0);
	wr_jobspec_free(spec);
}

/* Errors inside expressions point into the scalar. */
static void
test_expression_positions(void **state)
{
	(void)state;
	/* double-quoted: col 13 is the quote, 'nn' is at offset 12 */
	wrt_job_bad(HEAD "nodes:\n"
	                 "  - id: x\n"
	                 "    from: s\n"
	                 "    filter: \"a == 'x' && nn > 1\"\n" SINK("x"),
	            "t.yaml:9:26: ", "nn");
	/* single-quoted with '' escapes: two more source columns */
	wrt_job_bad(HEAD "nodes:\n"
	                 "  - id: x\n"
	                 "    from: s\n"
	                 "    filter: 'a == ''x'' && nn > 1'\n" SINK("x"),
	            "t.yaml:9:28: ", "nn");
	/* plain */
	wrt_job_bad(HEAD "nodes:\n"
	                 "  - id: x\n"
	                 "    from: s\n"
	                 "    filter: a == 'x' && nn > 1\n" SINK("x"),
	            "t.yaml:9:25: ", "nn");
	/* multi-line: the scalar's start */
	wrt_job_bad(HEAD "nodes:\n"
	                 "  - id: x\n"
	                 "    from: s\n"
	                 "    filter: a == 'x'\n"
	                 "      && nn > 1\n" SINK("x"),
	            "t.yaml:9:13: ", "nn");
	/* select in a flow map */
	wrt_job_bad(HEAD "nodes:\n"
	                 "  - id: x\n"
	                 "    from: s\n"
	                 "    select: { b: \"nn * 2\" }\n" SINK("x"),
	            "t.yaml:9:19: ", "node 'x': select.b: ");
}

typedef struct bad_case {
	const char *text;
	const char *prefix;
	const char *what;
} bad_case;

static const bad_case bad_cases[] = {
    {HEAD "nodes:\n"
          "  - id: w\n"
          "    from: s\n"
          "    key_by: [a]\n"
          "    window: { tumbling: 1s, processing_time: true }\n"
          "    allowed_lateness: 1s\n"
          "    aggregate: { c: count() }\n" SINK("w"),
     "t.yaml:11:5: ",
     "node 'w': 'allowed_lateness' does not apply to a processing-time "
     "window"},
    {HEAD "nodes:\n"
          "  - id: w\n"
          "    from: s\n"
          "    key_by: [a]\n"
          "    window: { tumbling: 1s, processing_time: yes }\n"
          "    aggregate: { c: count() }\n" SINK("w"),
     "t.yaml:10:46: ",
     "node 'w': window.processing_time: 'yes' is not one of false, true"},
    {HEAD "nodes:\n"
          "  - id: w\n"
          "    from: s\n"
          "    key_by: [a]\n"
          "    window: { tumbling: 1s }\n"
          "    aggregate: { c: count() }\n" SINK("w"),
     "t.yaml:", "a window needs event time"},
    {HEAD "nodes:\n"
          "  - id: paid\n"
          "    from: s\n"
          "    filtr: \"a == 'x'\"\n" SINK("paid"),
     "t.yaml:9:5: ",
     "unknown key 'filtr' in node 'paid' (known: id, from, parallelism, "
     "filter, select, key_by, window, aggregate, reduce, allowed_lateness, "
     "late_output, join, pattern, sink"},
    {"nme: t\n" HEAD "nodes:\n" SINK("s"),
     "t.yaml:1:1: ", "unknown key 'nme' at the top level"},
    {"sources:\n  s: { datagen: {} }\nnodes:\n" SINK("s"),
     "t.yaml:1:1: ", "name is required"},
    {HEAD "nodes:\n" SINK("nope"), "t.yaml:8:11: ",
     "node 'out' reads from 'nope', which is neither a source nor a node "
     "(known: s)"},
    {HEAD "nodes:\n"
          "  - id: x\n"
          "    from: y\n"
          "    filter: \"true\"\n"
          "  - id: y\n"
          "    from: x\n"
          "    filter: \"true\"\n" SINK("x"),
     "t.yaml:8:11: ",
     "node 'x' is part of a cycle: 'x' reads from 'y', 'y' reads from 'x'"},
    {HEAD "nodes:\n"
          "  - id: s\n"
          "    from: s\n"
          "    filter: \"true\"\n" SINK("s"),
     "t.yaml:7:9: ", "duplicate id 's' (first at 3:3)"},
    {HEAD "nodes:\n"
          "  - id: x\n"
          "    from: s\n"
          "    filter: \"true\"\n"
          "    select: { b: a }\n" SINK("x"),
     "t.yaml:10:5: ", "node 'x' has two kinds, 'filter' (9:5) and 'select'"},
    {HEAD "nodes:\n"
          "  - id: w\n"
          "    from: s\n"
          "    window: { tumbling: 1m }\n"
          "    aggregate: { c: count() }\n" SINK("w"),
     "t.yaml:9:5: ", "node 'w': 'window' needs 'key_by'"},
    {HEAD "nodes:\n"
          "  - id: w\n"
          "    from: s\n"
          "    key_by: [a]\n"
          "    aggregate: { c: count() }\n" SINK("w"),
     "t.yaml:10:5: ", "node 'w': 'aggregate' needs a 'window'"},
    {HEAD "nodes:\n" SINK("s") "  - id: after\n"
                               "    from: out\n"
                               "    sink: { stdout: {} }\n",
     "t.yaml:11:11: ", "node 'after' reads from sink 'out'"},
    {HEAD "nodes:\n"
          "  - id: x\n"
          "    from: s\n"
          "    filter: \"true\"\n",
     "t.yaml:6:1: ", "the job has no sink"},
    {"checkpointing: { interval: 10x }\n" HEAD "nodes:\n" SINK("s"),
     "t.yaml:1:28: ", "checkpointing.interval: '10x' is not a duration"},
    {"parallelism: 0\n" HEAD "nodes:\n" SINK("s"),
     "t.yaml:1:14: ", "parallelism: 0 is below the minimum 1"},
    {"parallelism: 5000\n" HEAD "nodes:\n" SINK("s"),
     "t.yaml:1:14: ", "parallelism: 5000 is above the maximum 1024"},
    {"name: t\nsources:\n  s:\n    kafka: { topic: in }\n"
     "    schema: { a: str }\nnodes:\n" SINK("s"),
     "t.yaml:5:18: ", "source 's': field 'a': unknown type"},
    {HEAD "    event_time: { field: n }\nnodes:\n" SINK("s"), "t.yaml:6:26: ",
     "source 's': event_time.field: 'n' is a long, not a timestamp"},
    {HEAD_ET "nodes:\n"
             "  - id: w\n"
             "    from: s\n"
             "    key_by: [a]\n"
             "    window: { tumbling: 1m }\n"
             "    aggregate: { m: median(n) }\n" SINK("w"),
     "t.yaml:12:21: ", "unknown aggregate function 'median'"},
    {HEAD_ET "nodes:\n"
             "  - id: w\n"
             "    from: s\n"
             "    key_by: [a]\n"
             "    window: { tumbling: 1m }\n"
             "    aggregate: { m: sum(a) }\n" SINK("w"),
     "t.yaml:12:25: ",
     "node 'w': aggregate.m: sum needs a numeric (long or double) field; "
     "'a' is a string"},
    {HEAD_ET "nodes:\n"
             "  - id: w\n"
             "    from: s\n"
             "    key_by: [a]\n"
             "    reduce: { m: max(b) }\n" SINK("w"),
     "t.yaml:11:22: ", "max needs an ordered"},
    {HEAD_ET "nodes:\n"
             "  - id: w\n"
             "    from: s\n"
             "    key_by: [a]\n"
             "    reduce: { m: count(a) }\n" SINK("w"),
     "t.yaml:11:24: ", "count() takes no argument"},
    {HEAD_ET "nodes:\n"
             "  - id: w\n"
             "    from: s\n"
             "    key_by: [a]\n"
             "    reduce: { m: sum(zz) }\n" SINK("w"),
     "t.yaml:11:22: ",
     "node 'w': reduce.m: no field 'zz' in its input "
     "(fields: a, n, d, b, ts)"},
    {HEAD_ET "nodes:\n"
             "  - id: w\n"
             "    from: s\n"
             "    key_by: [a]\n"
             "    reduce: { m: sum n }\n" SINK("w"),
     "t.yaml:11:22: ", "expected function(field)"},
    {HEAD "nodes:\n"
          "  - id: x\n"
          "    from: s\n"
          "    filter: n + 1\n" SINK("x"),
     "t.yaml:9:13: ", "node 'x': filter must be bool, not long"},
    {HEAD "nodes:\n"
          "  - id: x\n"
          "    from: s\n"
          "    key_by: [zz]\n" SINK("x"),
     "t.yaml:9:14: ", "node 'x': key_by: no field 'zz' in its input"},
    {HEAD "nodes:\n"
          "  - id: x\n"
          "    from: s\n"
          "    key_by: [a, a]\n" SINK("x"),
     "t.yaml:9:17: ", "key_by: 'a' is listed twice"},
    {HEAD "nodes:\n"
          "  - id: j\n"
          "    from: s\n"
          "    join: {}\n" SINK("j"),
     "t.yaml:9:11: ", "node 'j': join needs 'table' (a stream-table join)"},
    {HEAD "nodes:\n"
          "  - id: x\n"
          "    from: s\n"
          "    pattern: {}\n" SINK("x"),
     "t.yaml:9:5: ", "node 'x': a pattern needs key_by"},
    {HEAD "nodes:\n"
          "  - id: out\n"
          "    from: s\n"
          "    sink: { postgres: { dsn: x, table: t, mode: upsert } }\n",
     "t.yaml:9:49: ", "mode: upsert needs 'key'"},
    {HEAD "nodes:\n"
          "  - id: out\n"
          "    from: s\n"
          "    sink: { clickhouse: { url: \"ch:8123\", table: t } }\n",
     "t.yaml:9:32: ", "url: 'ch:8123' is not an http:// or https:// URL"},
    {HEAD "nodes:\n"
          "  - id: out\n"
          "    from: s\n"
          "    sink: { clickhouse: { url: \"http://ch\", table: \"a-b\" } "
          "}\n",
     "t.yaml:9:52: ", "table: 'a-b' is not a table name"},
    {HEAD "nodes:\n"
          "  - id: out\n"
          "    from: s\n"
          "    sink: { clickhouse: { url: \"http://ch\", table: t, "
          "batch_rows: 0 } }\n",
     "t.yaml:9:", "batch_rows"},
    {HEAD "    invalid: { policy: dead_letter }\nnodes:\n" SINK("s"),
     "t.yaml:6:14: ", "invalid.topic is required for policy dead_letter"},
    {HEAD "    invalid: { policy: skip, topic: x }\nnodes:\n" SINK("s"),
     "t.yaml:6:30: ", "topic applies only to policy dead_letter"},
    {HEAD "nodes:\n"
          "  - id: out\n"
          "    from: s\n"
          "    sink: { kafka: { topic: o, semantic: exactly_once } }\n",
     "t.yaml:9:42: ", "exactly_once needs checkpointing"},
    {"max_parallelism: 4\nparallelism: 8\n" HEAD "nodes:\n" SINK("s"),
     "t.yaml:1:18: ",
     "max_parallelism 4 is below the parallelism 8 of source 's'"},
    {"restart: { strategy: fixed_delay, initial_delay: 1s }\n" HEAD
     "nodes:\n" SINK("s"),
     "t.yaml:1:35: ",
     "unknown key 'initial_delay' in 'restart' (strategy fixed_delay) "
     "(known: strategy, delay, attempts)"},
    {"restart: { strategy: exponential, initial_delay: 1m, "
     "max_delay: 10s }\n" HEAD "nodes:\n" SINK("s"),
     "t.yaml:1:65: ", "restart.max_delay 10s is below restart.initial_delay"},
    {"restart: { strategy: sometimes }\n" HEAD "nodes:\n" SINK("s"),
     "t.yaml:1:22: ",
     "restart.strategy: 'sometimes' is not one of none, fixed_delay, "
     "exponential"},
    {HEAD "nodes:\n"
          "  - id: \"a b\"\n"
          "    from: s\n" SINK("s"),
     "t.yaml:7:9: ", "id 'a b' is not valid"},
    {HEAD_ET "nodes:\n"
             "  - id: w\n"
             "    from: s\n"
             "    key_by: [a]\n"
             "    window: { tumbling: 1m }\n"
             "    late_output: late\n"
             "    aggregate: { c: count() }\n"
             "  - id: l\n"
             "    from: lates\n"
             "    sink: { stdout: {} }\n" SINK("w"),
     "t.yaml:15:11: ",
     "node 'l' reads from 'lates', which is neither a source, a "
     "late_output nor a node (known: s, w, late)"},
    {HEAD_ET "nodes:\n"
             "  - id: w\n"
             "    from: s\n"
             "    key_by: [a]\n"
             "    window: { tumbling: 1m }\n"
             "    late_output: s\n"
             "    aggregate: { c: count() }\n" SINK("w"),
     "t.yaml:12:18: ", "late_output 's' is already the id of a source"},
    {HEAD_ET "nodes:\n"
             "  - id: w\n"
             "    from: s\n"
             "    key_by: [a]\n"
             "    window: { sliding: 1m }\n"
             "    aggregate: { c: count() }\n" SINK("w"),
     "t.yaml:11:13: ", "node 'w': window.slide is required"},
    {HEAD_ET "nodes:\n"
             "  - id: w\n"
             "    from: s\n"
             "    key_by: [a]\n"
             "    window: { sliding: 1h, slide: 1s }\n"
             "    aggregate: { c: count() }\n" SINK("w"),
     "t.yaml:11:35: ", "puts each record in 3600 windows (at most 1000)"},
    {HEAD_ET "nodes:\n"
             "  - id: w\n"
             "    from: s\n"
             "    key_by: [a]\n"
             "    window: { tumbling: 1m, session: 1m }\n"
             "    aggregate: { c: count() }\n" SINK("w"),
     "t.yaml:11:29: ", "has both 'tumbling' (11:15) and 'session'"},
    {HEAD "    format: avro\nnodes:\n" SINK("s"), "t.yaml:6:13: ",
     "source 's': format: 'avro' is not supported (only json for now)"},
    {"name: t\nsources:\n  s:\n    kafka: { topic: in }\nnodes:\n" SINK("s"),
     "t.yaml:4:5: ", "source 's': schema is required"},
    {"name: t\nsources:\n  g:\n    datagen: {}\n    schema: { a: long }\n"
     "nodes:\n" SINK("g"),
     "t.yaml:5:5: ", "datagen has a fixed schema"},
    {"name: t\nsources:\n  s:\n    schema: { a: long }\nnodes:\n" SINK("s"),
     "t.yaml:4:5: ", "source 's' needs one of kafka, datagen, nexmark, file"},
    {HEAD "nodes:\n"
          "  - id: x\n"
          "    from: s\n" SINK("x"),
     "t.yaml:7:9: ", "node 'x' has no kind"},
    {HEAD "nodes:\n"
          "  - id: x\n"
          "    from: [s, s]\n"
          "    filter: \"true\"\n" SINK("x"),
     "t.yaml:8:11: ", "'from' takes the id of one source or node"},
    {HEAD "nodes:\n"
          "  - id: x\n"
          "    filter: \"true\"\n" SINK("x"),
     "t.yaml:7:5: ", "node 'x': from is required"},
    {HEAD "nodes:\n"
          "  - id: w\n"
          "    from: s\n"
          "    key_by: [a]\n"
          "    window: { tumbling: 1m }\n"
          "    aggregate: { c: count() }\n" SINK("w"),
     "t.yaml:10:5: ",
     "node 'w': a window needs event time, and source 's' has none"},
    {HEAD "nodes:\n"
          "  - id: out\n"
          "    from: s\n"
          "    sink: { kafka: { topic: o, key: zz } }\n",
     "t.yaml:9:37: ", "node 'out': sink.kafka.key: no field 'zz'"},
    {HEAD "nodes:\n"
          "  - id: out\n"
          "    from: s\n"
          "    sink: { kafka: { topic: \"a/b\" } }\n",
     "t.yaml:9:29: ", "a topic name has only letters"},
    {HEAD "nodes:\n"
          "  - id: x\n"
          "    from: s\n"
          "    select: { \"a b\": a }\n" SINK("x"),
     "t.yaml:9:15: ", "'a b' is not a valid field name"},
    {HEAD "nodes: { a: 1 }\n",
     "t.yaml:6:8: ", "'nodes' must be a list, not a map"},
    {HEAD "nodes:\n"
          "  - id: out\n"
          "    from: s\n"
          "    sink: { stdout: {}, file: { path: /x } }\n",
     "t.yaml:9:25: ", "has both 'stdout' (9:13) and 'file'"},
    {HEAD "nodes:\n"
          "  - id: out\n"
          "    from: s\n"
          "    sink: { stdout: { pretty: true } }\n",
     "t.yaml:9:23: ",
     "unknown key 'pretty' in the stdout sink of node 'out' (it takes no "
     "keys)"},
    {"checkpointing: { retained: many }\n" HEAD "nodes:\n" SINK("s"),
     "t.yaml:1:28: ", "checkpointing.retained: 'many' is not an integer"},
    {"checkpointing: 5s\n" HEAD "nodes:\n" SINK("s"),
     "t.yaml:1:16: ", "'checkpointing' must be a map, not a scalar"},
    {HEAD "nodes:\n"
          "  - id: out\n"
          "    from: s\n"
          "    sink: { file: { path: \"\" } }\n",
     "t.yaml:9:27: ", "node 'out': sink.file.path: missing value"},
    {HEAD "nodes:\n"
          "  - id: out\n"
          "    from: s\n"
          "    sink: { file: }\n",
     "t.yaml:9:19: ", "'file' must be a map, not a null"},
    {"- a\n- b\n",
     "t.yaml:1:1: ", "the top level must be a map, not a sequence"},
    {"name: t\nsources: [\n", "t.yaml:3:1: ", "did not find expected node"},
};

/* `from:` a late_output: the window node, marked as a side input, with
 * the window's input schema (the records as they arrived). */
static void
test_late_output_input(void **state)
{
	(void)state;
	wr_jobspec *spec =
	    parse(HEAD_ET "nodes:\n"
	                  "  - id: l\n"
	                  "    from: late\n"
	                  "    filter: n > 0\n"
	                  "  - id: w\n"
	                  "    from: s\n"
	                  "    key_by: [a]\n"
	                  "    window: { tumbling: 1m }\n"
	                  "    late_output: late\n"
	                  "    aggregate: { c: count() }\n"
	                  "  - id: ls\n"
	                  "    from: l\n"
	                  "    sink: { stdout: {} }\n" SINK("w"));
	int w = wr_jobspec_find(spec, "w");
	const wr_node_spec *l = node(spec, "l"), *out = node(spec, "out");

	assert_true(w >= 0);
	assert_int_equal(wr_jobspec_find(spec, "late"), -1);
	/* l comes after w once ordered: it reads from it. */
	assert_true(wr_jobspec_find(spec, "l") > w);
	assert_int_equal(l->ninputs, 1);
	assert_int_equal(l->inputs[0], w);
	assert_true(l->input_side[0]);
	assert_int_equal(l->out.n, 5);
	assert_field(&l->out, 0, "a", WR_T_STRING);
	assert_field(&l->out, 4, "ts", WR_T_TIMESTAMP);
	assert_ptr_equal(wr_jobspec_input_schema(spec, l, 0),
	                 &spec->nodes[0].out);
	assert_int_equal(out->inputs[0], w);
	assert_false(out->input_side[0]);
	assert_ptr_equal(wr_jobspec_input_schema(spec, out, 0),
	                 &spec->nodes[w].out);
	wr_jobspec_free(spec);

	/* A window reading a late output has that schema as its input, and
	 * so does a reader of its own late output. */
	spec = parse(HEAD_ET "nodes:\n"
	                     "  - id: w\n"
	                     "    from: s\n"
	                     "    key_by: [a]\n"
	                     "    window: { tumbling: 1m }\n"
	                     "    late_output: late\n"
	                     "    aggregate: { c: count() }\n"
	                     "  - id: w2\n"
	                     "    from: late\n"
	                     "    key_by: [a]\n"
	                     "    window: { tumbling: 1h }\n"
	                     "    late_output: late2\n"
	                     "    aggregate: { c: count() }\n"
	                     "  - id: l2\n"
	                     "    from: late2\n"
	                     "    sink: { stdout: {} }\n" SINK("w2"));
	l = node(spec, "l2");
	assert_true(l->input_side[0]);
	assert_int_equal(l->inputs[0], wr_jobspec_find(spec, "w2"));
	assert_ptr_equal(wr_jobspec_input_schema(spec, l, 0),
	                 &spec->nodes[0].out);
	assert_int_equal(node(spec, "w2")->out.n, 4);
	wr_jobspec_free(spec);
}

static void
test_bad_inputs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		print_message("case %zu\n", i);
		wrt_job_bad(bad_cases[i].text, bad_cases[i].prefix,
		            bad_cases[i].what);
	}
}

/* Mutated copies of the SPEC example (a fixed seed, so a failure
 * reproduces): every one parses or is refused with a positioned message;
 * none crashes (the ASan build checks memory too). */
static void
test_mutations(void **state)
{
	static const char junk[] = " \n:{}[],-#'\"&*!|>%@`0aZ_";
	size_t len = strlen(spec_example);
	char *text = malloc(len * 2 + 1);
	uint32_t seed = 12345;

	(void)state;
	for (int round = 0; round < 3000; round++) {
		size_t n = len;
		memcpy(text, spec_example, len);
		for (int k = 0; k < 1 + round % 4; k++) {
			size_t at;
			seed = seed * 1103515245u + 12345u;
			at = (seed >> 8) % n;
			switch ((seed >> 4) % 3) {
			case 0: /* replace */
				text[at] =
				    junk[(seed >> 16) % (sizeof(junk) - 1)];
				break;
			case 1: /* delete */
				memmove(text + at, text + at + 1, n - at - 1);
				n--;
				break;
			default: /* duplicate a run */
				if (n + 16 <= len * 2 && at + 16 <= n) {
					memmove(text + at + 16, text + at,
					        n - at);
					n += 16;
				}
				break;
			}
		}
		text[n] = '\0';
		wr_jobspec *spec = NULL;
		errbuf[0] = '\0';
		int rc = wr_jobspec_parse("t.yaml", text, n, 0, &spec, errbuf,
		                          sizeof(errbuf));
		if (rc == WR_OK) {
			assert_non_null(spec);
			wr_jobspec_free(spec);
			continue;
		}
		assert_null(spec);
		if (rc != WR_EINVAL || strncmp(errbuf, "t.yaml:", 7) != 0)
			fail_msg("round %d: rc %d, '%s' for:\n%s", round, rc,
			         errbuf, text);
	}
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_example),
	    cmocka_unit_test(test_example_files),
	    cmocka_unit_test(test_allow_missing),
	    cmocka_unit_test(test_select_schema_flow),
	    cmocka_unit_test(test_aggregate_types),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_max_parallelism_rule),
	    cmocka_unit_test(test_parallelism_override),
	    cmocka_unit_test(test_topological_order),
	    cmocka_unit_test(test_expression_positions),
	    cmocka_unit_test(test_late_output_input),
	    cmocka_unit_test(test_processing_time_window),
	    cmocka_unit_test(test_bad_inputs),
	    cmocka_unit_test(test_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
