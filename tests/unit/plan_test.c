/*
 * plan_test.c - operator chaining and edges: a straight line of forward
 * nodes is one vertex; key_by, a parallelism change and fan-out start new
 * vertices with HASH, REBALANCE and FORWARD edges; vertex names, slots and
 * the key-group arithmetic.
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

static char errbuf[4096];

typedef struct planned {
	wr_jobspec *spec;
	wr_plan *plan;
} planned;

static planned
build(const char *text)
{
	planned p = {NULL, NULL};

	p.spec = wrt_job(text, 0);
	if (wr_plan_build(p.spec, &p.plan, errbuf, sizeof(errbuf)) != WR_OK)
		fail_msg("plan: %s", errbuf);
	assert_ptr_equal(p.plan->spec, p.spec);
	return p;
}

static void
done(planned *p)
{
	wr_plan_free(p->plan);
	wr_jobspec_free(p->spec);
}

static void
assert_vertex(const wr_plan *plan, int v, const char *name, int parallelism)
{
	assert_true(v < plan->nvertices);
	assert_string_equal(plan->vertices[v].name, name);
	assert_int_equal(plan->vertices[v].parallelism, parallelism);
}

static const wr_edge *
edge_to(const wr_plan *plan, const char *to_node)
{
	int n = wr_jobspec_find(plan->spec, to_node);

	for (int e = 0; e < plan->nedges; e++)
		if (plan->edges[e].to_node == n)
			return &plan->edges[e];
	fail_msg("no edge into '%s'", to_node);
	return NULL;
}

#define HEAD                                                                   \
	"name: t\n"                                                            \
	"sources:\n"                                                           \
	"  s:\n"                                                               \
	"    kafka: { topic: in }\n"                                           \
	"    schema: { a: string, n: long, ts: timestamp }\n"                  \
	"    event_time: { field: ts }\n"

static void
test_straight_line_is_one_vertex(void **state)
{
	(void)state;
	planned p = build("parallelism: 3\n" HEAD "nodes:\n"
	                  "  - id: f\n"
	                  "    from: s\n"
	                  "    filter: n > 0\n"
	                  "  - id: sel\n"
	                  "    from: f\n"
	                  "    select: { a: a, n2: n * 2 }\n"
	                  "  - id: out\n"
	                  "    from: sel\n"
	                  "    sink: { stdout: {} }\n");

	assert_int_equal(p.plan->nvertices, 1);
	assert_int_equal(p.plan->nedges, 0);
	assert_vertex(p.plan, 0, "s -> f -> sel -> out", 3);
	assert_int_equal(p.plan->vertices[0].nnodes, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(p.plan->vertices[0].nodes[i], i);
		assert_int_equal(p.plan->node_vertex[i], 0);
	}
	assert_int_equal(wr_plan_slots_needed(p.plan), 3);
	done(&p);
}

static void
test_key_by_splits(void **state)
{
	(void)state;
	planned p = build(HEAD "nodes:\n"
	                       "  - id: f\n"
	                       "    from: s\n"
	                       "    filter: n > 0\n"
	                       "  - id: k\n"
	                       "    from: f\n"
	                       "    key_by: [a]\n"
	                       "  - id: w\n"
	                       "    from: k\n"
	                       "    key_by: [a]\n"
	                       "    window: { tumbling: 1m }\n"
	                       "    aggregate: { c: count() }\n"
	                       "  - id: out\n"
	                       "    from: w\n"
	                       "    sink: { stdout: {} }\n");
	const wr_edge *e;

	/* key_by alone repartitions; the window after it is keyed again
	 * (its own HASH edge) and the sink chains onto the window. */
	assert_int_equal(p.plan->nvertices, 3);
	assert_vertex(p.plan, 0, "s -> f", 1);
	assert_vertex(p.plan, 1, "k", 1);
	assert_vertex(p.plan, 2, "w -> out", 1);
	assert_int_equal(p.plan->nedges, 2);
	e = edge_to(p.plan, "k");
	assert_int_equal(e->kind, WR_EDGE_HASH);
	assert_int_equal(e->from_vertex, 0);
	assert_int_equal(e->to_vertex, 1);
	assert_int_equal(e->from_node, wr_jobspec_find(p.spec, "f"));
	assert_int_equal(e->input_index, 0);
	e = edge_to(p.plan, "w");
	assert_int_equal(e->kind, WR_EDGE_HASH);
	assert_int_equal(e->from_vertex, 1);
	assert_int_equal(e->to_vertex, 2);
	done(&p);
}

/* A node reading a window's late_output starts its own vertex on a side
 * edge, and does not stop the window's main consumer from chaining. */
static void
test_late_output_side_edge(void **state)
{
	(void)state;
	planned p = build(HEAD "nodes:\n"
	                       "  - id: w\n"
	                       "    from: s\n"
	                       "    key_by: [a]\n"
	                       "    window: { tumbling: 1m }\n"
	                       "    late_output: late\n"
	                       "    aggregate: { c: count() }\n"
	                       "  - id: out\n"
	                       "    from: w\n"
	                       "    sink: { stdout: {} }\n"
	                       "  - id: late_out\n"
	                       "    from: late\n"
	                       "    sink: { stdout: {} }\n");
	const wr_edge *e;

	assert_int_equal(p.plan->nvertices, 3);
	assert_vertex(p.plan, 0, "s", 1);
	assert_vertex(p.plan, 1, "w -> out", 1);
	assert_vertex(p.plan, 2, "late_out", 1);
	assert_int_equal(p.plan->nedges, 2);
	e = edge_to(p.plan, "w");
	assert_false(e->side);
	assert_int_equal(e->kind, WR_EDGE_HASH);
	e = edge_to(p.plan, "late_out");
	assert_true(e->side);
	assert_int_equal(e->kind, WR_EDGE_FORWARD);
	assert_int_equal(e->from_vertex, 1);
	assert_int_equal(e->to_vertex, 2);
	assert_int_equal(e->from_node, wr_jobspec_find(p.spec, "w"));
	assert_int_equal(e->input_index, 0);
	done(&p);
}

/* Alone, a side consumer still does not chain (same parallelism, the
 * window's only reader). */
static void
test_late_output_only_reader(void **state)
{
	(void)state;
	planned p = build(HEAD "nodes:\n"
	                       "  - id: w\n"
	                       "    from: s\n"
	                       "    key_by: [a]\n"
	                       "    window: { tumbling: 1m }\n"
	                       "    late_output: late\n"
	                       "    aggregate: { c: count() }\n"
	                       "  - id: f\n"
	                       "    from: late\n"
	                       "    filter: n > 0\n"
	                       "  - id: late_out\n"
	                       "    from: f\n"
	                       "    sink: { stdout: {} }\n");

	assert_int_equal(p.plan->nvertices, 3);
	assert_vertex(p.plan, 1, "w", 1);
	assert_vertex(p.plan, 2, "f -> late_out", 1);
	assert_true(edge_to(p.plan, "f")->side);
	done(&p);
}

static void
test_parallelism_change(void **state)
{
	(void)state;
	planned p = build("parallelism: 2\n" HEAD "nodes:\n"
	                  "  - id: f\n"
	                  "    from: s\n"
	                  "    parallelism: 4\n"
	                  "    filter: n > 0\n"
	                  "  - id: g\n"
	                  "    from: f\n"
	                  "    parallelism: 4\n"
	                  "    filter: n > 1\n"
	                  "  - id: out\n"
	                  "    from: g\n"
	                  "    parallelism: 1\n"
	                  "    sink: { file: { path: /tmp/o } }\n");

	assert_int_equal(p.plan->nvertices, 3);
	assert_vertex(p.plan, 0, "s", 2);
	assert_vertex(p.plan, 1, "f -> g", 4);
	assert_vertex(p.plan, 2, "out", 1);
	assert_int_equal(edge_to(p.plan, "f")->kind, WR_EDGE_REBALANCE);
	assert_int_equal(edge_to(p.plan, "out")->kind, WR_EDGE_REBALANCE);
	assert_int_equal(edge_to(p.plan, "out")->from_node,
	                 wr_jobspec_find(p.spec, "g"));
	assert_int_equal(wr_plan_slots_needed(p.plan), 4);
	done(&p);
}

static void
test_fan_out(void **state)
{
	(void)state;
	planned p = build("parallelism: 2\n" HEAD "nodes:\n"
	                  "  - id: a\n"
	                  "    from: s\n"
	                  "    filter: n > 0\n"
	                  "  - id: b\n"
	                  "    from: s\n"
	                  "    parallelism: 3\n"
	                  "    filter: n < 0\n"
	                  "  - id: c\n"
	                  "    from: s\n"
	                  "    key_by: [a]\n"
	                  "  - id: out_a\n"
	                  "    from: a\n"
	                  "    sink: { stdout: {} }\n"
	                  "  - id: out_b\n"
	                  "    from: b\n"
	                  "    parallelism: 3\n"
	                  "    sink: { stdout: {} }\n"
	                  "  - id: out_c\n"
	                  "    from: c\n"
	                  "    sink: { stdout: {} }\n");

	/* s feeds three nodes: none chains onto it; each chain continues
	 * with its own single consumer. */
	assert_int_equal(p.plan->nvertices, 4);
	assert_vertex(p.plan, 0, "s", 2);
	assert_vertex(p.plan, 1, "a -> out_a", 2);
	assert_vertex(p.plan, 2, "b -> out_b", 3);
	assert_vertex(p.plan, 3, "c -> out_c", 2);
	assert_int_equal(p.plan->nedges, 3);
	assert_int_equal(edge_to(p.plan, "a")->kind, WR_EDGE_FORWARD);
	assert_int_equal(edge_to(p.plan, "b")->kind, WR_EDGE_REBALANCE);
	assert_int_equal(edge_to(p.plan, "c")->kind, WR_EDGE_HASH);
	for (int e = 0; e < p.plan->nedges; e++)
		assert_int_equal(p.plan->edges[e].from_vertex, 0);
	assert_int_equal(wr_plan_slots_needed(p.plan), 3);
	done(&p);
}

/* A node fed by a fan-out but further down a chain: only the node right
 * after the fan-out starts a vertex. */
static void
test_fan_out_mid_chain(void **state)
{
	(void)state;
	planned p = build(HEAD "nodes:\n"
	                       "  - id: f\n"
	                       "    from: s\n"
	                       "    filter: n > 0\n"
	                       "  - id: o1\n"
	                       "    from: f\n"
	                       "    sink: { stdout: {} }\n"
	                       "  - id: o2\n"
	                       "    from: f\n"
	                       "    sink: { kafka: { topic: x } }\n");

	assert_int_equal(p.plan->nvertices, 3);
	assert_vertex(p.plan, 0, "s -> f", 1);
	assert_vertex(p.plan, 1, "o1", 1);
	assert_vertex(p.plan, 2, "o2", 1);
	assert_int_equal(edge_to(p.plan, "o1")->kind, WR_EDGE_FORWARD);
	assert_int_equal(edge_to(p.plan, "o2")->kind, WR_EDGE_FORWARD);
	done(&p);
}

/* The SPEC example: the filter chains onto the source; the window is
 * keyed; the sink chains onto the window. */
static void
test_spec_example_plan(void **state)
{
	char path[4096];
	const char *slash = strrchr(__FILE__, '/');
	int dirlen = slash ? (int)(slash - __FILE__) : 0;
	wr_jobspec *spec = NULL;
	wr_plan *plan = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%.*s/../../examples/order-analytics.yaml",
	         dirlen, __FILE__);
	if (wr_jobspec_load_file(path, 0, &spec, errbuf, sizeof(errbuf)) !=
	    WR_OK)
		fail_msg("%s", errbuf);
	assert_int_equal(wr_plan_build(spec, &plan, errbuf, sizeof(errbuf)),
	                 WR_OK);
	assert_int_equal(plan->nvertices, 2);
	assert_vertex(plan, 0, "orders -> paid", 2);
	assert_vertex(plan, 1, "per_product -> to_kafka", 2);
	assert_int_equal(plan->nedges, 1);
	assert_int_equal(plan->edges[0].kind, WR_EDGE_HASH);
	assert_int_equal(wr_plan_slots_needed(plan), 2);
	wr_plan_free(plan);
	wr_jobspec_free(spec);
}

/* Names longer than a vertex name's room end in "...". */
static void
test_long_names(void **state)
{
	char text[8192], ids[12][64];
	int len;

	(void)state;
	len = snprintf(text, sizeof(text), HEAD "nodes:\n");
	for (int i = 0; i < 12; i++) {
		snprintf(ids[i], sizeof(ids[i]),
		         "a_rather_long_node_identifier_number_%02d", i);
		len += snprintf(text + len, sizeof(text) - (size_t)len,
		                "  - id: %s\n    from: %s\n    filter: n > "
		                "%d\n",
		                ids[i], i == 0 ? "s" : ids[i - 1], i);
	}
	snprintf(text + len, sizeof(text) - (size_t)len,
	         "  - id: out\n    from: %s\n    sink: { stdout: {} }\n",
	         ids[11]);
	planned p = build(text);
	const char *name = p.plan->vertices[0].name;

	assert_int_equal(p.plan->nvertices, 1);
	assert_int_equal(p.plan->vertices[0].nnodes, 14);
	assert_int_equal(strlen(name), sizeof(p.plan->vertices[0].name) - 1);
	assert_string_equal(name + strlen(name) - 3, "...");
	assert_memory_equal(name,
	                    "s -> a_rather_long_node_identifier_number_00", 44);
	done(&p);
}

static void
test_key_groups(void **state)
{
	(void)state;
	/* Every key group maps to a subtask in range, contiguously, and the
	 * subtasks share the groups evenly (Flink's ranges). */
	for (int par = 1; par <= 7; par++) {
		int count[7] = {0}, prev = 0;
		for (int kg = 0; kg < 128; kg++) {
			int st = wr_key_group_subtask(kg, 128, par);
			assert_true(st >= 0 && st < par);
			assert_true(st >= prev);
			prev = st;
			count[st]++;
		}
		for (int st = 0; st < par; st++)
			assert_true(count[st] >= 128 / par &&
			            count[st] <= 128 / par + 1);
	}
	assert_int_equal(wr_key_group(129, 128), 1);
	assert_int_equal(wr_key_group(UINT64_MAX, 128), 127);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_straight_line_is_one_vertex),
	    cmocka_unit_test(test_key_by_splits),
	    cmocka_unit_test(test_late_output_side_edge),
	    cmocka_unit_test(test_late_output_only_reader),
	    cmocka_unit_test(test_parallelism_change),
	    cmocka_unit_test(test_fan_out),
	    cmocka_unit_test(test_fan_out_mid_chain),
	    cmocka_unit_test(test_spec_example_plan),
	    cmocka_unit_test(test_long_names),
	    cmocka_unit_test(test_key_groups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
