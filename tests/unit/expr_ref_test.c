/*
 * expr_ref_test.c - step references in expressions (CEP): `step.field`,
 * `first(step.field)`, `count(step)` and the aggregates `sum`, `avg`,
 * `min`, `max` of a step's field parsed against a pattern's steps
 * into a table of distinct references, typed, evaluated from the values
 * the caller supplies, and refused where they do not belong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "wrtest.h"

#include "arena.h"
#include "err.h"
#include "expr.h"
#include "record.h"

static wr_schema in;
static const char *const names[] = {"pw", "buy", "later"};

static int
setup(void **state)
{
	(void)state;
	memset(&in, 0, sizeof(in));
	wr_schema_add(&in, "kind", WR_T_STRING);
	wr_schema_add(&in, "amount", WR_T_DOUBLE);
	wr_schema_add(&in, "n", WR_T_LONG);
	wr_schema_add(&in, "ts", WR_T_TIMESTAMP);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	wr_schema_fini(&in);
	return 0;
}

/* The scope of step `visible - 1`'s where (row) or of emit (!row). */
static wr_expr_steps
scope(int visible, bool row)
{
	return (wr_expr_steps){.names = names,
	                       .n = 3,
	                       .visible = visible,
	                       .fields = &in,
	                       .row = row};
}

static wr_expr *
parse_ok(const char *src, const wr_expr_steps *sc)
{
	char err[256];
	size_t off;
	wr_expr *e = NULL;

	if (wr_expr_parse_steps(src, &in, sc, &e, &off, err, sizeof(err)) !=
	    WR_OK)
		fail_msg("%s: at %zu: %s", src, off, err);
	return e;
}

static void
parse_bad(const char *src, const wr_expr_steps *sc, size_t want_off,
          const char *want)
{
	char err[256];
	size_t off = 99;
	wr_expr *e = NULL;

	assert_int_equal(
	    wr_expr_parse_steps(src, &in, sc, &e, &off, err, sizeof(err)),
	    WR_EINVAL);
	assert_null(e);
	if (strstr(err, want) == NULL || off != want_off)
		fail_msg("%s: got '%s' at %zu, wanted '%s' at %zu", src, err,
		         off, want, want_off);
}

/* `amount > 10 * pw.amount` in buy's where: one LAST reference, the
 * current event's field by plain name, null when pw has no event. */
static void
test_condition_on_earlier_step(void **state)
{
	(void)state;
	wr_expr_steps sc = scope(2, true);
	wr_expr *e = parse_ok("kind == 'BUY' && amount > 10 * pw.amount", &sc);
	size_t n;
	const wr_expr_ref *r = wr_expr_refs(e, &n);
	wr_row row = {.n = 4};
	wr_value refs[1];
	wr_arena arena;

	wr_arena_init(&arena, 1024);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].kind, WR_EXPR_REF_LAST);
	assert_int_equal(r[0].step, 0);
	assert_int_equal(r[0].field, 1);
	assert_int_equal(r[0].type, WR_T_DOUBLE);
	assert_int_equal(wr_expr_type(e), WR_T_BOOL);
	row.v[0] = wrt_vstr("BUY");
	row.v[1] = wrt_vdouble(101.0);
	row.v[2] = wrt_vlong(1);
	row.v[3] = wrt_vts(5);
	refs[0] = wrt_vdouble(10.0);
	wr_value out;
	assert_int_equal(wr_expr_eval_refs(e, &row, refs, &out, &arena), WR_OK);
	assert_true(out.type == WR_T_BOOL && out.u.b);
	refs[0] = wrt_vdouble(10.1);
	assert_int_equal(wr_expr_eval_refs(e, &row, refs, &out, &arena), WR_OK);
	assert_true(out.type == WR_T_BOOL && !out.u.b);
	/* A long where a double is declared reads as a double. */
	refs[0] = wrt_vlong(10);
	assert_int_equal(wr_expr_eval_refs(e, &row, refs, &out, &arena), WR_OK);
	assert_true(out.type == WR_T_BOOL && out.u.b);
	/* No event for pw: null, and the condition is not true. */
	refs[0] = wrt_vnull();
	assert_int_equal(wr_expr_eval_refs(e, &row, refs, &out, &arena), WR_OK);
	assert_int_equal(out.type, WR_T_NULL);
	/* A value of another type (a corrupt row) reads as null. */
	refs[0] = wrt_vstr("10");
	assert_int_equal(wr_expr_eval_refs(e, &row, refs, &out, &arena), WR_OK);
	assert_int_equal(out.type, WR_T_NULL);
	wr_expr_free(e);
	wr_arena_fini(&arena);
}

/* emit: first/last/count, each distinct reference once, types. */
static void
test_emit_references(void **state)
{
	(void)state;
	wr_expr_steps sc = scope(3, false);
	wr_expr *e;
	size_t n;
	const wr_expr_ref *r;
	wr_value refs[2] = {wrt_vlong(3), wrt_vlong(1)}, out;
	wr_arena arena;

	wr_arena_init(&arena, 1024);
	/* count is a keyword-like function: its case does not matter, and
	 * the step's name is case-sensitive ("BUY" is not a step). */
	parse_bad("count(buy) + count(BUY)", &sc, 19,
	          "unknown step 'BUY' (steps: pw, buy, later)");
	e = parse_ok("COUNT(buy) * 2 + count(pw)", &sc);
	r = wr_expr_refs(e, &n);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].kind, WR_EXPR_REF_COUNT);
	assert_int_equal(r[0].step, 1);
	assert_int_equal(r[0].field, -1);
	assert_int_equal(wr_expr_type(e), WR_T_LONG);
	assert_int_equal(wr_expr_eval_refs(e, NULL, refs, &out, &arena), WR_OK);
	assert_int_equal(out.u.i, 7);
	wr_expr_free(e);

	e = parse_ok("later.ts - first(pw.ts)", &sc);
	r = wr_expr_refs(e, &n);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].kind, WR_EXPR_REF_LAST);
	assert_int_equal(r[0].step, 2);
	assert_int_equal(r[1].kind, WR_EXPR_REF_FIRST);
	assert_int_equal(r[1].step, 0);
	assert_int_equal(r[1].field, 3);
	assert_int_equal(wr_expr_type(e), WR_T_LONG);
	refs[0] = wrt_vts(5000);
	refs[1] = wrt_vts(1250);
	assert_int_equal(wr_expr_eval_refs(e, NULL, refs, &out, &arena), WR_OK);
	assert_int_equal(out.u.i, 3750);
	wr_expr_free(e);

	/* The same reference twice is one entry. */
	e = parse_ok("pw.amount + pw.amount * first(pw.amount)", &sc);
	wr_expr_refs(e, &n);
	assert_int_equal(n, 2);
	wr_expr_free(e);
	wr_arena_fini(&arena);
}

/* A step sees its own events (the loop so far) and earlier steps. */
static void
test_visibility(void **state)
{
	(void)state;
	wr_expr_steps sc = scope(2, true);

	wr_expr_free(parse_ok("amount > buy.amount && count(buy) < 3", &sc));
	parse_bad("amount > later.amount", &sc, 9,
	          "'later' is a later step: a condition sees only the steps "
	          "before it and its own");
	sc.negated = 1u << 0;
	parse_bad("pw.n == 1", &sc, 0, "'pw' is a negated step");
	sc = scope(3, false);
	parse_bad("amount", &sc, 0,
	          "'amount' names no step: write step.amount");
	parse_bad("pw.nope", &sc, 3, "step 'pw' has no field 'nope'");
	parse_bad("pw", &sc, 0, "'pw' names no step");
	parse_bad("pw.", &sc, 3, "expected a field name after 'pw.'");
	parse_bad("first(pw)", &sc, 8,
	          "expected '.' and a field after the "
	          "step 'pw'");
	parse_bad("first(pw.n, 2)", &sc, 10, "expected ')': first takes one");
	parse_bad("count(pw.n)", &sc, 8, "expected ')': count takes one step");
	parse_bad("count(3)", &sc, 6, "expected a step's name");
}

/* Aggregates over a step's events: kinds, result types (avg double, sum
 * as its field, min/max as theirs), and the fields each one takes. */
static void
test_aggregates(void **state)
{
	(void)state;
	wr_expr_steps sc = scope(3, true);
	wr_expr *e;
	size_t n;
	const wr_expr_ref *r;
	wr_value refs[2], out;
	wr_arena arena;

	wr_arena_init(&arena, 1024);
	e = parse_ok("amount > 10 * AVG(buy.amount) && sum(buy.n) > 2", &sc);
	r = wr_expr_refs(e, &n);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].kind, WR_EXPR_REF_AVG);
	assert_int_equal(r[0].type, WR_T_DOUBLE);
	assert_int_equal(r[0].step, 1);
	assert_int_equal(r[0].field, 1);
	assert_int_equal(r[1].kind, WR_EXPR_REF_SUM);
	assert_int_equal(r[1].type, WR_T_LONG);
	wr_row row = {.n = 4};
	row.v[1] = wrt_vdouble(101.0);
	refs[0] = wrt_vdouble(10.0);
	refs[1] = wrt_vlong(3);
	assert_int_equal(wr_expr_eval_refs(e, &row, refs, &out, &arena), WR_OK);
	assert_true(out.type == WR_T_BOOL && out.u.b);
	/* No event yet: null, and the condition is not true. */
	refs[0] = wrt_vnull();
	assert_int_equal(wr_expr_eval_refs(e, &row, refs, &out, &arena), WR_OK);
	assert_true(out.type != WR_T_BOOL || !out.u.b);
	wr_expr_free(e);

	e = parse_ok("max(pw.ts) - min(pw.ts)", &sc);
	r = wr_expr_refs(e, &n);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].kind, WR_EXPR_REF_MAX);
	assert_int_equal(r[0].type, WR_T_TIMESTAMP);
	assert_int_equal(r[1].kind, WR_EXPR_REF_MIN);
	assert_int_equal(wr_expr_type(e), WR_T_LONG);
	wr_expr_free(e);
	e = parse_ok("avg(buy.n) + sum(buy.amount)", &sc);
	assert_int_equal(wr_expr_type(e), WR_T_DOUBLE);
	wr_expr_free(e);

	parse_bad("sum(buy.ts) > 0", &sc, 8,
	          "sum takes a long or double field: 'buy.ts' is a timestamp");
	parse_bad("avg(buy.kind)", &sc, 8,
	          "avg takes a long or double field: 'buy.kind' is a string");
	parse_bad("min(buy.kind)", &sc, 8,
	          "min takes a long, double or timestamp field");
	parse_bad("max(buy.nope)", &sc, 8, "step 'buy' has no field 'nope'");
	parse_bad("avg(byu.amount)", &sc, 4,
	          "unknown step 'byu' (steps: pw, buy, later)");
	parse_bad("avg(buy)", &sc, 7, "expected '.' and a field after");
	parse_bad("sum(buy.n, 2)", &sc, 9,
	          "expected ')': sum takes one step's field, as in "
	          "sum(declined.amount)");
	sc = scope(1, true);
	parse_bad("amount > avg(buy.amount)", &sc, 13, "'buy' is a later step");
	wr_arena_fini(&arena);
}

/* Outside a pattern there are no steps: `a.b` is refused, and first and
 * count are unknown functions; filters are unchanged. */
static void
test_no_steps(void **state)
{
	(void)state;
	char err[256];
	size_t off = 0;
	wr_expr *e = NULL;

	assert_int_equal(
	    wr_expr_parse("pw.amount > 1", &in, &e, &off, err, sizeof(err)),
	    WR_EINVAL);
	assert_int_equal(off, 0);
	assert_non_null(strstr(err, "'pw.': step references exist only in a "
	                            "pattern's where and emit"));
	assert_int_equal(
	    wr_expr_parse("count(n) > 1", &in, &e, &off, err, sizeof(err)),
	    WR_EINVAL);
	assert_non_null(strstr(err, "unknown function 'count'"));
	assert_int_equal(
	    wr_expr_parse("avg(n) > 1", &in, &e, &off, err, sizeof(err)),
	    WR_EINVAL);
	assert_non_null(strstr(err, "unknown function 'avg'"));
	/* A number with a fraction still lexes as one. */
	assert_int_equal(
	    wr_expr_parse("amount > .5", &in, &e, &off, err, sizeof(err)),
	    WR_OK);
	wr_expr_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_condition_on_earlier_step),
	    cmocka_unit_test(test_emit_references),
	    cmocka_unit_test(test_visibility),
	    cmocka_unit_test(test_aggregates),
	    cmocka_unit_test(test_no_steps),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
