/*
 * fuzz_expr.c - libFuzzer harness for the expression language: the input
 * is an expression over a schema with one field of each type; it is
 * refused with a message and an offset inside it, or parsed and evaluated
 * on a row of ordinary values and a row of nulls within a small arena.
 */
#include "expr.h"
#include "record.h"

#include "arena.h"
#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_schema(wr_schema *s)
{
	memset(s, 0, sizeof(*s));
	wr_schema_add(s, "s", WR_T_STRING);
	wr_schema_add(s, "n", WR_T_LONG);
	wr_schema_add(s, "d", WR_T_DOUBLE);
	wr_schema_add(s, "b", WR_T_BOOL);
	wr_schema_add(s, "ts", WR_T_TIMESTAMP);
}

static void
fuzz_rows(wr_row *full, wr_row *nulls)
{
	memset(full, 0, sizeof(*full));
	memset(nulls, 0, sizeof(*nulls));
	full->n = nulls->n = 5;
	full->v[0].type = WR_T_STRING;
	full->v[0].u.s.p = "Berlin";
	full->v[0].u.s.len = 6;
	full->v[1].type = WR_T_LONG;
	full->v[1].u.i = INT64_MIN;
	full->v[2].type = WR_T_DOUBLE;
	full->v[2].u.d = -0.0;
	full->v[3].type = WR_T_BOOL;
	full->v[3].u.b = true;
	full->v[4].type = WR_T_TIMESTAMP;
	full->v[4].u.i = INT64_MAX;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0; /* job files bound expressions far below this */
	char *src = malloc(size + 1);
	memcpy(src, data, size);
	src[size] = '\0';
	wr_schema s;
	fuzz_schema(&s);
	wr_expr *e = NULL;
	size_t off = 0;
	char err[512] = "";
	int rv = wr_expr_parse(src, &s, &e, &off, err, sizeof(err));
	if (rv != WR_OK) {
		if (err[0] == '\0' || off > size)
			abort(); /* a refusal says why, and where */
	} else {
		wr_row full, nulls;
		fuzz_rows(&full, &nulls);
		wr_arena a;
		wr_arena_init(&a, 64 * 1024);
		wr_value v;
		wr_expr_eval(e, &full, &v, &a);
		wr_arena_reset(&a);
		wr_expr_eval(e, &nulls, &v, &a);
		wr_arena_reset(&a);
		wr_expr_test(e, &full, &a);
		wr_arena_fini(&a);
		wr_expr_free(e);
	}
	wr_schema_fini(&s);
	free(src);
	return 0;
}
