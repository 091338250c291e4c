/*
 * jobspec_anomaly_test.c - `anomaly:` in a job file: both forms parsed
 * (sliding history, ewma), defaults, the output schema, a key group
 * edge into it, and every broken form refused with "t.yaml:line:col:
 * what".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "wrtest.h"

#include "jobspec.h"
#include "plan.h"
#include "record.h"
#include "wr_limits.h"

/* Lines 1-8: a source of readings with event time; nodes start at 9. */
#define HEAD                                                                   \
	"name: t\n"                                                            \
	"sources:\n"                                                           \
	"  r:\n"                                                               \
	"    kafka: { topic: readings }\n"                                     \
	"    schema: { sensor_id: string, temperature: double, n: long, "      \
	"site: string, ts: timestamp }\n"                                      \
	"    event_time: { field: ts, max_out_of_orderness: 1s }\n"            \
	"  # spacer\n"                                                         \
	"nodes:\n"
#define SINK(from)                                                             \
	"  - id: out\n"                                                        \
	"    from: " from "\n"                                                 \
	"    sink: { stdout: {} }\n"
#define SPIKES(anomaly)                                                        \
	HEAD "  - id: spikes\n"                                                \
	     "    from: r\n"                                                   \
	     "    key_by: [sensor_id]\n"                                       \
	     "    anomaly: " anomaly "\n" SINK("spikes")

static const wr_node_spec *
node(const wr_jobspec *spec, const char *id)
{
	int i = wr_jobspec_find(spec, id);
	if (i < 0)
		fail_msg("no node '%s'", id);
	return &spec->nodes[i];
}

/* The SPEC's form: a sliding history; the output is the input's fields,
 * then mean, stddev, score. */
static void
test_sliding(void **state)
{
	(void)state;
	wr_jobspec *spec = wrt_job(SPIKES("{ value: temperature, history: 1m, "
	                                  "threshold: 3.0, min_count: 20 }"),
	                           0);
	const wr_node_spec *n = node(spec, "spikes");
	const char *names[] = {"sensor_id", "temperature", "n",      "site",
	                       "ts",        "mean",        "stddev", "score"};

	assert_int_equal(n->kind, WR_NODE_ANOMALY);
	assert_int_equal(n->nkeys, 1);
	assert_int_equal(n->keys[0], 0);
	assert_int_equal(n->anomaly.value, 1);
	assert_int_equal(n->anomaly.history_ms, 60000);
	assert_true(n->anomaly.ewma == 0.0);
	assert_true(n->anomaly.threshold == 3.0);
	assert_int_equal(n->anomaly.min_count, 20);
	assert_int_equal(n->anomaly.line, 12);
	assert_int_equal(n->anomaly.col, 5);
	assert_int_equal(n->out.n, 8);
	for (uint32_t f = 0; f < n->out.n; f++) {
		assert_string_equal(n->out.fields[f].name, names[f]);
		if (f >= 5)
			assert_int_equal(n->out.fields[f].type, WR_T_DOUBLE);
	}
	assert_int_equal(n->out.fields[4].type, WR_T_TIMESTAMP);

	/* keyed: the node heads its own vertex, fed by key group */
	wr_plan *plan = NULL;
	char err[256];
	assert_int_equal(wr_plan_build(spec, &plan, err, sizeof(err)), 0);
	int v = plan->node_vertex[wr_jobspec_find(spec, "spikes")];
	assert_int_equal(plan->vertices[v].nodes[0],
	                 wr_jobspec_find(spec, "spikes"));
	for (int e = 0; e < plan->nedges; e++)
		if (plan->edges[e].to_vertex == v)
			assert_int_equal(plan->edges[e].kind, WR_EDGE_HASH);
	wr_plan_free(plan);
	wr_jobspec_free(spec);
}

/* ewma, a long value, min_count's default. */
static void
test_ewma(void **state)
{
	(void)state;
	wr_jobspec *spec =
	    wrt_job(SPIKES("{ value: n, ewma: 0.1, threshold: 2 }"), 0);
	const wr_node_spec *n = node(spec, "spikes");

	assert_int_equal(n->kind, WR_NODE_ANOMALY);
	assert_int_equal(n->anomaly.value, 2);
	assert_int_equal(n->anomaly.history_ms, 0);
	assert_true(n->anomaly.ewma == 0.1);
	assert_true(n->anomaly.threshold == 2.0);
	assert_int_equal(n->anomaly.min_count, WR_ANOMALY_DEFAULT_MIN_COUNT);
	wr_jobspec_free(spec);

	spec = wrt_job(SPIKES("{ value: n, ewma: 1, threshold: 0.5, "
	                      "min_count: 1 }"),
	               0);
	assert_true(node(spec, "spikes")->anomaly.ewma == 1.0);
	assert_int_equal(node(spec, "spikes")->anomaly.min_count, 1);
	wr_jobspec_free(spec);
}

static const struct {
	const char *text, *prefix, *what;
} bad_cases[] = {
    {SPIKES("{ history: 1m, threshold: 3 }"),
     "t.yaml:12:14: ", "node 'spikes': anomaly.value is required"},
    {SPIKES("{ value: nope, history: 1m, threshold: 3 }"), "t.yaml:12:23: ",
     "anomaly.value: no field 'nope' in its input (fields: sensor_id,"},
    {SPIKES("{ value: site, history: 1m, threshold: 3 }"), "t.yaml:12:23: ",
     "anomaly.value: 'site' is a string; it must be a number"},
    {SPIKES("{ value: ts, history: 1m, threshold: 3 }"),
     "t.yaml:12:23: ", "'ts' is a timestamp; it must be a number"},
    {SPIKES("{ value: n, history: 1m, ewma: 0.1, threshold: 3 }"),
     "t.yaml:12:39: ", "history and ewma are two kinds of history"},
    {SPIKES("{ value: n, threshold: 3 }"),
     "t.yaml:12:14: ", "give the history: 'history: 1m'"},
    {SPIKES("{ value: n, ewma: 0, threshold: 3 }"),
     "t.yaml:12:32: ", "anomaly.ewma: 0 must be in (0, 1]"},
    {SPIKES("{ value: n, ewma: 1.5, threshold: 3 }"),
     "t.yaml:12:32: ", "anomaly.ewma: 1.5 must be in (0, 1]"},
    {SPIKES("{ value: n, ewma: x, threshold: 3 }"),
     "t.yaml:12:32: ", "anomaly.ewma: 'x' is not a number"},
    {SPIKES("{ value: n, ewma: 0.5, threshold: 0 }"),
     "t.yaml:12:48: ", "anomaly.threshold: 0 must be above 0"},
    {SPIKES("{ value: n, ewma: 0.5, threshold: -1 }"),
     "t.yaml:12:48: ", "anomaly.threshold: -1 must be above 0"},
    {SPIKES("{ value: n, ewma: 0.5 }"),
     "t.yaml:12:14: ", "anomaly.threshold is required"},
    {SPIKES("{ value: n, ewma: 0.5, threshold: 1, min_count: 0 }"),
     "t.yaml:12:62: ", "anomaly.min_count"},
    {SPIKES("{ value: n, ewma: 0.5, threshold: 1, min_count: 100001 }"),
     "t.yaml:12:62: ", "anomaly.min_count"},
    {SPIKES("{ value: n, history: 0s, threshold: 1 }"),
     "t.yaml:12:35: ", "anomaly.history"},
    {SPIKES("{ value: n, history: 1m, threshold: 1, bogus: 2 }"),
     "t.yaml:12:53: ", "unknown key 'bogus' in 'anomaly'"},
    {SPIKES("[value, n]"), "t.yaml:12:14: ", "'anomaly' must be a map"},
    /* anomaly needs key_by */
    {HEAD
     "  - id: spikes\n"
     "    from: r\n"
     "    anomaly: { value: n, history: 1m, threshold: 1 }\n" SINK("spikes"),
     "t.yaml:11:5: ", "node 'spikes': 'anomaly' needs 'key_by'"},
    /* nothing else beside it */
    {HEAD "  - id: spikes\n"
          "    from: r\n"
          "    key_by: [sensor_id]\n"
          "    anomaly: { value: n, history: 1m, threshold: 1 }\n"
          "    reduce: { c: count() }\n" SINK("spikes"),
     "t.yaml:13:5: ", "'reduce' cannot be combined with 'anomaly'"},
    /* no event time on the way in */
    {"name: t\n"
     "sources:\n"
     "  r:\n"
     "    kafka: { topic: readings }\n"
     "    schema: { sensor_id: string, temperature: double }\n"
     "nodes:\n"
     "  - id: spikes\n"
     "    from: r\n"
     "    key_by: [sensor_id]\n"
     "    anomaly: { value: temperature, history: 1m, threshold: 3 }\n" SINK(
         "spikes"),
     "t.yaml:10:5: ", "and source 'r' has none: give it event_time"},
    /* a clash with the fields it adds */
    {HEAD
     "  - id: renamed\n"
     "    from: r\n"
     "    select: { sensor_id: sensor_id, mean: temperature, ts: ts }\n"
     "  - id: spikes\n"
     "    from: renamed\n"
     "    key_by: [sensor_id]\n"
     "    anomaly: { value: mean, history: 1m, threshold: 1 }\n" SINK("spikes"),
     "t.yaml:15:5: ", "the input's field 'mean' clashes with the anomaly's"},
};

static void
test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		print_message("case %zu\n", i);
		wrt_job_bad(bad_cases[i].text, bad_cases[i].prefix,
		            bad_cases[i].what);
	}
}

/* key_by naming a field the input lacks, with anomaly. */
static void
test_bad_key(void **state)
{
	(void)state;
	wrt_job_bad(HEAD "  - id: spikes\n"
	                 "    from: r\n"
	                 "    key_by: [nope]\n"
	                 "    anomaly: { value: n, history: 1m, threshold: 1 "
	                 "}\n" SINK("spikes"),
	            "t.yaml:11:14: ",
	            "node 'spikes': key_by: no field 'nope' in its input");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sliding),
	    cmocka_unit_test(test_ewma),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_bad_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
