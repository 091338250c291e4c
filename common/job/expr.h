/*
 * expr.h - expressions of `filter` and `select`: a parser with precedence
 * and type checking against the input schema, and an evaluator on rows.
 *
 * Grammar (lowest precedence first):
 *   or      := and ( "||" and )*
 *   and     := not ( "&&" not )*
 *   not     := "!" not | cmp
 *   cmp     := add ( ("==" | "!=" | "<" | "<=" | ">" | ">=") add
 *              | ["!"|"not"] "in" "(" literal ("," literal)* ")" )?
 *   add     := mul ( ("+" | "-") mul )*
 *   mul     := unary ( ("*" | "/" | "%") unary )*
 *   unary   := "-" unary | primary
 *   primary := NUMBER | 'string' | "string" | true | false | null
 *            | IDENT | IDENT "(" args ")" | "(" or ")"
 * Functions: abs(num), lower(str), upper(str), coalesce(a, b, ...),
 * floor(num). '+' also concatenates strings.
 *
 * In a pattern (CEP, docs/cep.md) expressions may also refer to the
 * steps matched so far: `step.field` (that step's last matched event),
 * `first(step.field)`, `count(step)` (a long), and the aggregates of a
 * field over the step's events `sum`, `avg` (numbers), `min`, `max`
 * (numbers, timestamps); a step with no event gives null (count gives
 * 0). The caller of wr_expr_eval_refs supplies
 * those values (wr_expr_refs lists what the expression needs).
 *
 * Types: long and double mix (the result is double); timestamps compare
 * with timestamps and with ISO-8601 string literals, and +/- a long (ms);
 * comparisons and logic yield bool; a filter must be bool. Null follows SQL:
 * arithmetic or comparison with null gives null, and a filter keeps a row
 * only when the result is true. Integer division by zero gives null.
 * Likewise long overflow, double division by zero and non-finite double
 * results give null (JSON has no infinity). Keywords and function names
 * are case-insensitive; field names are not. Limits: WR_EXPR_* in
 * wr_limits.h. Users' guide: docs/expressions.md.
 */
#ifndef WR_EXPR_H
#define WR_EXPR_H

#include <stddef.h>

#include "arena.h"
#include "record.h"

typedef struct wr_expr wr_expr;

/*
 * Parses and type-checks src against the input schema in. On error returns
 * WR_EINVAL, sets *err_offset to the 0-based byte offset in src where the
 * problem is, and writes the message without a position
 * ("unknown field 'amout'", "cannot compare string with double",
 * "filter must be bool, not long") into errbuf.
 */
int wr_expr_parse(const char *src, const wr_schema *in, wr_expr **out,
                  size_t *err_offset, char *errbuf, size_t errlen);

/* The result type (never WR_T_NULL: a bare `null` literal has the type the
 * context gives it, and is typed WR_T_BOOL on its own). */
enum wr_type wr_expr_type(const wr_expr *e);

/*
 * Evaluates e on row r. Strings produced (lower, upper, concatenation) are
 * allocated in arena; other strings in *out point into the row or into e's
 * constants, so *out lives as long as all three. Returns WR_OK or WR_EFULL
 * (arena exhausted, or NULL; *out is then null). A row value whose type
 * differs from the schema's (rows from the network) reads as null.
 * @thread any; e is immutable after parse.
 */
int wr_expr_eval(const wr_expr *e, const wr_row *r, wr_value *out,
                 wr_arena *arena);

/* For filters: true only when e evaluates to bool true (null is false).
 * An exhausted arena also gives false: a caller that must not drop rows
 * then uses wr_expr_eval and backs off on WR_EFULL. */
bool wr_expr_test(const wr_expr *e, const wr_row *r, wr_arena *arena);

/* Accepts NULL. */
void wr_expr_free(wr_expr *e);

/* ---- step references (CEP) ---- */

enum wr_expr_ref_kind {
	WR_EXPR_REF_LAST,  /* step.field */
	WR_EXPR_REF_FIRST, /* first(step.field) */
	WR_EXPR_REF_COUNT, /* count(step) */
	/* Aggregates of the field over the step's events (nulls left out;
	 * no value: null): */
	WR_EXPR_REF_SUM, /* sum(step.field): long or double, as the field */
	WR_EXPR_REF_AVG, /* avg(step.field): double */
	WR_EXPR_REF_MIN, /* min(step.field): the field's type */
	WR_EXPR_REF_MAX, /* max(step.field) */
};

/* One distinct reference of an expression; field is an index into the
 * steps' schema (-1 for COUNT), type its declared type. */
typedef struct wr_expr_ref {
	uint8_t kind;
	uint8_t type; /* enum wr_type */
	int step;
	int field;
} wr_expr_ref;

/* The steps an expression may name. Steps [0, visible) may be referred
 * to; a name among the later ones is refused as such ("refers to a later
 * step"), and so is a step in the negated mask (it matches no event).
 * fields is the schema of every step's events. row: plain names are the
 * current event's fields (a step's `where`); false: refused (`emit`). */
typedef struct wr_expr_steps {
	const char *const *names;
	int n;
	int visible;
	uint32_t negated;
	const wr_schema *fields;
	bool row;
} wr_expr_steps;

/* wr_expr_parse with step references (steps NULL: none, as wr_expr_parse).
 * Errors as wr_expr_parse ("unknown step 'declned' (steps: ...)",
 * "'approved' is a later step: a condition sees only the steps before
 * it and its own"). */
int wr_expr_parse_steps(const char *src, const wr_schema *in,
                        const wr_expr_steps *steps, wr_expr **out,
                        size_t *err_offset, char *errbuf, size_t errlen);

/* The distinct references of e, indexed as the refs array passed to
 * wr_expr_eval_refs expects them. *n gets their count. */
const wr_expr_ref *wr_expr_refs(const wr_expr *e, size_t *n);

/* wr_expr_eval with refs[k] the value of reference k (a value whose type
 * differs from the reference's reads as null, a long as a double where a
 * double is declared). refs may be NULL when e has none. */
int wr_expr_eval_refs(const wr_expr *e, const wr_row *r, const wr_value *refs,
                      wr_value *out, wr_arena *arena);

#endif
