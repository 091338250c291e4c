/*
 * jobspec_pattern_test.c - `pattern:` nodes in the job file: the SPEC's
 * card_fraud node and the seeds' password-change rule parsed (steps,
 * quantifiers, contiguity, within, skip, emit, the output schema, the
 * timeout side output read with `from:`), and broken patterns refused
 * with "t.yaml:line:col: what".
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
#include "expr.h"
#include "jobspec.h"
#include "plan.h"
#include "record.h"

#define HEAD                                                                   \
	"name: t\n"                                                            \
	"sources:\n"                                                           \
	"  auths:\n"                                                           \
	"    kafka: { topic: in }\n"                                           \
	"    schema: { card_id: string, status: string, amount: double, "      \
	"ts: timestamp }\n"                                                    \
	"    event_time: { field: ts }\n"                                      \
	"nodes:\n"
#define SINK(from)                                                             \
	"  - id: out\n"                                                        \
	"    from: " from "\n"                                                 \
	"    sink: { stdout: {} }\n"

static const wr_node_spec *
node(const wr_jobspec *spec, const char *id)
{
	int i = wr_jobspec_find(spec, id);
	assert_true(i >= 0);
	return &spec->nodes[i];
}

static void
assert_field(const wr_schema *s, uint32_t i, const char *name, enum wr_type t)
{
	assert_true(i < s->n);
	assert_string_equal(s->fields[i].name, name);
	assert_int_equal(s->fields[i].type, t);
}

/* The SPEC's card_fraud node, its timeouts read by another node. */
static void
test_card_fraud(void **state)
{
	(void)state;
	wr_jobspec *spec = wrt_job(
	    HEAD
	    "  - id: card_fraud\n"
	    "    from: auths\n"
	    "    key_by: [card_id]\n"
	    "    pattern:\n"
	    "      steps:\n"
	    "        - { name: declined, where: \"status == 'DECLINED'\", "
	    "times: 3 }\n"
	    "        - { name: approved, where: \"status == 'APPROVED'\" }\n"
	    "      contiguity: next\n"
	    "      within: 5m\n"
	    "      skip: past_last_event\n"
	    "      emit: { first_decline: \"first(declined.ts)\", amount: "
	    "\"approved.amount\", declines: \"count(declined)\" }\n"
	    "      timeout_output: fraud_timeouts\n" SINK(
	        "card_fraud") "  - id: t_out\n"
	                      "    from: fraud_timeouts\n"
	                      "    sink: { stdout: {} }\n",
	    0);
	const wr_node_spec *n = node(spec, "card_fraud");
	const wr_pattern_spec *ps = &n->pattern;

	assert_int_equal(n->kind, WR_NODE_PATTERN);
	assert_int_equal(n->nkeys, 1);
	assert_int_equal(ps->nsteps, 2);
	assert_string_equal(ps->steps[0].name, "declined");
	assert_int_equal(ps->steps[0].min, 3);
	assert_int_equal(ps->steps[0].max, 3);
	assert_false(ps->steps[0].optional);
	assert_int_equal(ps->steps[0].contiguity, WR_CONT_NEXT);
	assert_int_equal(ps->steps[1].min, 1);
	assert_int_equal(ps->steps[1].max, 1);
	assert_int_equal(ps->steps[1].contiguity, WR_CONT_NEXT);
	assert_non_null(ps->steps[1].where);
	assert_int_equal(ps->within_ms, 5 * 60 * 1000);
	assert_int_equal(ps->skip, WR_SKIP_PAST_LAST_EVENT);
	assert_string_equal(ps->timeout_output, "fraud_timeouts");
	assert_int_equal(ps->nemit, 3);
	assert_int_equal(n->out.n, 6);
	assert_field(&n->out, 0, "card_id", WR_T_STRING);
	assert_field(&n->out, 1, "match_start", WR_T_TIMESTAMP);
	assert_field(&n->out, 2, "match_end", WR_T_TIMESTAMP);
	assert_field(&n->out, 3, "first_decline", WR_T_TIMESTAMP);
	assert_field(&n->out, 4, "amount", WR_T_DOUBLE);
	assert_field(&n->out, 5, "declines", WR_T_LONG);
	/* The timeouts: a side input with the pattern's own schema. */
	const wr_node_spec *t = node(spec, "t_out");
	assert_true(t->input_side[0]);
	assert_int_equal(t->inputs[0], wr_jobspec_find(spec, "card_fraud"));
	assert_ptr_equal(wr_jobspec_input_schema(spec, t, 0), &n->out);
	/* Planned as a keyed node (a HASH edge in), its timeouts a side edge
	 * out. */
	wr_plan *plan = NULL;
	char err[256];
	int pn = wr_jobspec_find(spec, "card_fraud");
	int tn = wr_jobspec_find(spec, "t_out");
	bool hash_in = false, side_out = false;
	assert_int_equal(wr_plan_build(spec, &plan, err, sizeof(err)), WR_OK);
	for (int e = 0; e < plan->nedges; e++) {
		const wr_edge *ed = &plan->edges[e];
		hash_in |= ed->to_node == pn && ed->kind == WR_EDGE_HASH;
		side_out |=
		    ed->from_node == pn && ed->to_node == tn && ed->side;
	}
	assert_true(hash_in);
	assert_true(side_out);
	wr_plan_free(plan);
	wr_jobspec_free(spec);
}

/* "A purchase above 10x the customer's average within 1 minute of a
 * password change": a condition on an earlier step's field; defaults
 * (followed_by, no_skip) and quantifiers. */
static void
test_password_change(void **state)
{
	(void)state;
	wr_jobspec *spec = wrt_job(
	    HEAD "  - id: takeover\n"
	         "    from: auths\n"
	         "    key_by: card_id\n"
	         "    pattern:\n"
	         "      within: 1m\n"
	         "      steps:\n"
	         "        - name: pw\n"
	         "          where: \"status == 'PASSWORD_CHANGE'\"\n"
	         "        - { name: small, optional: true, times: [1, 4], "
	         "contiguity: followed_by_any }\n"
	         "        - { name: nope, where: \"status == 'LOGOUT'\", "
	         "contiguity: not_followed_by }\n"
	         "        - name: big\n"
	         "          where: \"status == 'PURCHASE' && amount > 10 * "
	         "pw.amount\"\n"
	         "          one_or_more: true\n"
	         "      emit: { changed: \"pw.ts\", n: \"count(big)\" }\n" SINK(
	             "takeover"),
	    0);
	const wr_pattern_spec *ps = &node(spec, "takeover")->pattern;

	assert_int_equal(ps->nsteps, 4);
	assert_int_equal(ps->skip, WR_SKIP_NO_SKIP);
	assert_null(ps->timeout_output);
	assert_int_equal(ps->steps[0].contiguity, WR_CONT_FOLLOWED_BY);
	assert_null(ps->steps[1].where);
	assert_true(ps->steps[1].optional);
	assert_int_equal(ps->steps[1].min, 1);
	assert_int_equal(ps->steps[1].max, 4);
	assert_int_equal(ps->steps[1].contiguity, WR_CONT_FOLLOWED_BY_ANY);
	assert_int_equal(ps->steps[2].contiguity, WR_CONT_NOT_FOLLOWED_BY);
	assert_int_equal(ps->steps[3].min, 1);
	assert_int_equal(ps->steps[3].max, WR_PATTERN_UNBOUNDED);
	/* big's condition refers to pw.amount. */
	size_t nrefs;
	const wr_expr_ref *refs = wr_expr_refs(ps->steps[3].where, &nrefs);
	assert_int_equal(nrefs, 1);
	assert_int_equal(refs[0].kind, WR_EXPR_REF_LAST);
	assert_int_equal(refs[0].step, 0);
	assert_int_equal(refs[0].field, 2);
	wr_jobspec_free(spec);
}

typedef struct bad_case {
	const char *text;
	const char *prefix;
	const char *what;
} bad_case;

#define NODE                                                                   \
	"  - id: p\n"                                                          \
	"    from: auths\n"                                                    \
	"    key_by: [card_id]\n"
#define STEPS2                                                                 \
	"      steps:\n"                                                       \
	"        - { name: a, where: \"status == 'A'\" }\n"                    \
	"        - { name: b, where: \"status == 'B'\" }\n"

static const bad_case bad_cases[] = {
    {HEAD "  - id: p\n"
          "    from: auths\n"
          "    pattern: { within: 1m, steps: [ { name: a } ] }\n" SINK("p"),
     "t.yaml:10:5: ", "node 'p': a pattern needs key_by"},
    {HEAD NODE
     "    pattern:\n"
     "      within: 1m\n"
     "      steps:\n"
     "        - { name: a }\n"
     "        - { name: b, where: \"amount > 2 * c.amount\" }\n" SINK("p"),
     "t.yaml:15:43: ",
     "node 'p': step 'b': where: unknown step 'c' (steps: "
     "a, b)"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      steps:\n"
               "        - { name: a, where: \"b.amount > 1\" }\n"
               "        - { name: b }\n" SINK("p"),
     "t.yaml:14:30: ", "'b' is a later step"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      steps:\n"
               "        - { name: a, times: 0 }\n"
               "        - { name: b }\n" SINK("p"),
     "t.yaml:14:29: ", "pattern.steps[0].times: '0' is not a count from 1"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      steps:\n"
               "        - { name: a, times: [3, 2] }\n"
               "        - { name: b }\n" SINK("p"),
     "t.yaml:14:33: ", "times: [3, 2]: max is below min"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      steps:\n"
               "        - { name: a, times: [3] }\n"
               "        - { name: b }\n" SINK("p"),
     "t.yaml:14:29: ", "times: a range is [min, max], not 1 values"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      steps:\n"
               "        - { name: a, times: 2, one_or_more: true }\n"
               "        - { name: b }\n" SINK("p"),
     "t.yaml:14:32: ", "one_or_more cannot be combined with times"},
    {HEAD NODE "    pattern:\n"
               "      contiguity: followed_by\n" STEPS2 SINK("p"),
     "t.yaml:13:7: ", "pattern.within is required"},
    {HEAD NODE "    pattern:\n"
               "      within: 0s\n" STEPS2 SINK("p"),
     "t.yaml:12:15: ", "within"},
    {HEAD NODE "    pattern:\n"
               "      contiguity: next\n"
               "      timeout_output: late\n" STEPS2 SINK("p"),
     "t.yaml:13:7: ", "timeout_output needs within"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      steps:\n"
               "        - { name: a, contiguity: not_next }\n"
               "        - { name: b }\n" SINK("p"),
     "t.yaml:14:22: ", "a negated step stands between two steps, not first"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      steps:\n"
               "        - { name: a }\n"
               "        - { name: b, contiguity: not_followed_by }\n" SINK("p"),
     "t.yaml:15:22: ", "not last"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      steps:\n"
               "        - { name: a }\n"
               "        - { name: n, contiguity: not_next, times: 2 }\n"
               "        - { name: b }\n" SINK("p"),
     "t.yaml:15:44: ", "a negated step (not_next) matches no event"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      steps:\n"
               "        - { name: a }\n"
               "        - { name: n, contiguity: not_next }\n"
               "        - { name: b, where: \"n.amount > 1\" }\n" SINK("p"),
     "t.yaml:16:30: ", "'n' is a negated step"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      steps:\n"
               "        - { name: a }\n"
               "        - { name: b, optional: true }\n" SINK("p"),
     "t.yaml:15:22: ", "the last step cannot be optional"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      steps:\n"
               "        - { name: a }\n"
               "        - { name: a }\n" SINK("p"),
     "t.yaml:15:19: ", "name: step 'a' is already step 1 (14:11)"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n" STEPS2
               "      emit: { x: \"amount\" }\n" SINK("p"),
     "t.yaml:16:19: ", "emit.x: 'amount' names no step: write step.amount"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n" STEPS2
               "      emit: { card_id: \"a.card_id\" }\n" SINK("p"),
     "t.yaml:16:15: ", "emit 'card_id' clashes with a key field"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      steps:\n"
               "        - { name: a, where: \"amount\" }\n"
               "        - { name: b }\n" SINK("p"),
     "t.yaml:14:29: ", "step 'a': where must be bool, not double"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      skip: past_first_event\n" STEPS2 SINK("p"),
     "t.yaml:13:13: ",
     "skip: 'past_first_event' is not one of no_skip, past_last_event, "
     "skip_to_next"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      contiguity: not_next\n" STEPS2 SINK("p"),
     "t.yaml:13:19: ", "contiguity: 'not_next' is not one of next"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      steps:\n"
               "        - { name: a, wher: x }\n"
               "        - { name: b }\n" SINK("p"),
     "t.yaml:14:22: ", "unknown key 'wher' in step 1 of node 'p'"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n"
               "      timeout_output: out\n" STEPS2 SINK("p"),
     "t.yaml:13:23: ", "timeout_output 'out' is already the id of a node"},
    {HEAD NODE "    window: { tumbling: 1m }\n"
               "    pattern:\n"
               "      within: 1m\n" STEPS2 SINK("p"),
     "t.yaml:11:5: ", "two kinds, 'pattern' (12:5) and 'window'"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n" STEPS2
               "      emit: { x: \"first(a)\" }\n" SINK("p"),
     "t.yaml:16:26: ", "expected '.' and a field after the step 'a'"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n" STEPS2
               "      emit: { x: \"b.nope\" }\n" SINK("p"),
     "t.yaml:16:21: ", "step 'b' has no field 'nope'"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n" STEPS2
               "      emit: { x: \"avg(c.amount)\" }\n" SINK("p"),
     "t.yaml:16:23: ", "unknown step 'c' (steps: a, b)"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n" STEPS2
               "      emit: { x: \"sum(b.nope)\" }\n" SINK("p"),
     "t.yaml:16:25: ", "step 'b' has no field 'nope'"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n" STEPS2
               "      emit: { x: \"avg(b.status)\" }\n" SINK("p"),
     "t.yaml:16:25: ",
     "avg takes a long or double field: 'b.status' is a string"},
    {HEAD NODE
     "    pattern:\n"
     "      within: 1m\n"
     "      steps:\n"
     "        - { name: a, where: \"status == 'A'\" }\n"
     "        - { name: b, where: \"amount > max(a.status)\" }\n" SINK("p"),
     "t.yaml:15:45: ", "max takes a long, double or timestamp field"},
    {HEAD NODE "    pattern:\n"
               "      within: 1m\n" STEPS2 "  - id: f\n"
               "    from: p\n"
               "    filter: \"a.amount > 1\"\n" SINK("f"),
     "t.yaml:18:14: ", "'a.': step references exist only in a pattern"},
    {"name: t\n"
     "sources:\n"
     "  auths:\n"
     "    kafka: { topic: in }\n"
     "    schema: { card_id: string, status: string }\n"
     "nodes:\n" NODE "    pattern:\n"
     "      within: 1m\n" STEPS2 SINK("p"),
     "t.yaml:10:5: ", "a pattern matches in event time order"},
};

static void
test_bad_patterns(void **state)
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
	    cmocka_unit_test(test_card_fraud),
	    cmocka_unit_test(test_password_change),
	    cmocka_unit_test(test_bad_patterns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
