/*
 * expr_bench.c - the rate of one filter expression, `status == 'PAID' &&
 * amount > 0`, over rows of the orders schema (docs/expressions.md):
 * evaluations per second of one core, beside a hand-written C test of the
 * same condition. A benchmark program (STYLE.md), not a timed test.
 *   expr_bench [ITERATIONS]
 */
#include "arena.h"
#include "clock.h"
#include "err.h"
#include "expr.h"
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROWS = 4 };

static wr_value
vstr(const char *s)
{
	wr_value v = {.type = WR_T_STRING};
	v.u.s.p = s;
	v.u.s.len = (uint32_t)strlen(s);
	return v;
}

static wr_value
vdouble(double d)
{
	wr_value v = {.type = WR_T_DOUBLE};
	v.u.d = d;
	return v;
}

/* The hand-written condition on the same rows: the baseline. */
static bool
paid_and_positive(const wr_row *r)
{
	const wr_value *st = &r->v[1], *am = &r->v[0];
	return st->type == WR_T_STRING && st->u.s.len == 4 &&
	       memcmp(st->u.s.p, "PAID", 4) == 0 && am->type == WR_T_DOUBLE &&
	       am->u.d > 0;
}

int
main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 20000000L;
	const char *statuses[ROWS] = {"PAID", "NEW", "PAID", "CANCELED"};
	wr_schema s;
	wr_row rows[ROWS];
	wr_expr *e = NULL;
	wr_arena arena;
	char err[256];
	size_t off = 0;

	memset(&s, 0, sizeof(s));
	if (iters <= 0 || wr_schema_add(&s, "amount", WR_T_DOUBLE) != WR_OK ||
	    wr_schema_add(&s, "status", WR_T_STRING) != WR_OK ||
	    wr_expr_parse("status == 'PAID' && amount > 0", &s, &e, &off, err,
	                  sizeof(err)) != WR_OK) {
		fprintf(stderr, "expr_bench: setup failed: %s\n", err);
		return 1;
	}
	memset(rows, 0, sizeof(rows));
	for (int i = 0; i < ROWS; i++) {
		rows[i].n = 2;
		rows[i].v[0] = vdouble(i == 2 ? -1.0 : 10.0);
		rows[i].v[1] = vstr(statuses[i]);
	}
	wr_arena_init(&arena, 1u << 20);
	long kept = 0, kept_c = 0;
	int64_t t0 = wr_mono_ms();
	for (long i = 0; i < iters; i++)
		kept += wr_expr_test(e, &rows[i % ROWS], &arena);
	int64_t t1 = wr_mono_ms();
	for (long i = 0; i < iters; i++)
		kept_c +=
		    paid_and_positive((const wr_row *volatile)&rows[i % ROWS]);
	int64_t t2 = wr_mono_ms();
	if (kept != iters / ROWS || kept_c != kept) {
		fprintf(stderr, "expr_bench: kept %ld and %ld of %ld\n", kept,
		        kept_c, iters);
		return 1;
	}
	double weir = t1 > t0 ? iters / 1000.0 / (double)(t1 - t0) : 0;
	double base = t2 > t1 ? iters / 1000.0 / (double)(t2 - t1) : 0;
	printf("%-36s %12s %12s %7s\n", "expression", "weir M/s", "C loop M/s",
	       "ratio");
	printf("%-36s %12.1f %12.1f %7.2f\n", "status == 'PAID' && amount > 0",
	       weir, base, base > 0 ? weir / base : 0);
	wr_expr_free(e);
	wr_arena_fini(&arena);
	wr_schema_fini(&s);
	return 0;
}
