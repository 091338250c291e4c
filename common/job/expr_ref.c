/*
 * expr_ref.c - step references of pattern expressions (CEP): `step.field`,
 * `first(step.field)`, `count(step)` and the aggregates `sum`, `avg`,
 * `min`, `max` of a step's field, parsed against the steps the
 * caller names (wr_expr_steps in expr.h) into the expression's table of
 * distinct references, which the evaluator reads from the values the
 * caller supplies (wr_expr_eval_refs).
 */
#include "expr_int.h"

#include <string.h>

#include "buf.h"
#include "mem.h"

/* Index of the step named by src[start, end), or -1. */
static int
wr_expr_step_index(const wr_expr_parser *p, size_t start, size_t end)
{
	const wr_expr_steps *s = p->steps;
	size_t len = end - start;

	for (int k = 0; k < s->n; k++)
		if (strncmp(s->names[k], p->src + start, len) == 0 &&
		    s->names[k][len] == '\0')
			return k;
	return -1;
}

static int
wr_expr_unknown_step(wr_expr_parser *p, const struct wr_expr_tok *t)
{
	char q[WR_EXPR_QUOTE_BYTES];
	wr_buf names;

	wr_expr_quote(p, t->start, t->end, q);
	wr_buf_init(&names);
	for (int k = 0; k < p->steps->n; k++)
		wr_buf_printf(&names, "%s%s", k > 0 ? ", " : "",
		              p->steps->names[k]);
	wr_expr_fail(p, t->start, "unknown step '%s' (steps: %s)", q,
	             names.data);
	wr_buf_fini(&names);
	return -1;
}

/* The step named by the current token, which may be referred to here;
 * consumes it. */
static int
wr_expr_step(wr_expr_parser *p)
{
	struct wr_expr_tok t = p->tok;
	char q[WR_EXPR_QUOTE_BYTES];
	int k;

	if (t.kind != WR_EXPR_TK_IDENT)
		return wr_expr_fail(p, t.start, "expected a step's name");
	if ((k = wr_expr_step_index(p, t.start, t.end)) < 0)
		return wr_expr_unknown_step(p, &t);
	wr_expr_quote(p, t.start, t.end, q);
	if (k >= p->steps->visible)
		return wr_expr_fail(p, t.start,
		                    "'%s' is a later step: a condition sees "
		                    "only the steps before it and its own",
		                    q);
	if ((p->steps->negated >> k) & 1u)
		return wr_expr_fail(p, t.start,
		                    "'%s' is a negated step: it matches no "
		                    "event to refer to",
		                    q);
	return wr_expr_next(p) < 0 ? -1 : k;
}

/* The field named by the current token in the steps' schema; consumes
 * it. *type gets its type. */
static int
wr_expr_step_field(wr_expr_parser *p, int step, int *type)
{
	const wr_schema *f = p->steps->fields;
	struct wr_expr_tok t = p->tok;
	char q[WR_EXPR_QUOTE_BYTES];
	size_t len = t.end - t.start;

	if (t.kind != WR_EXPR_TK_IDENT)
		return wr_expr_fail(p, t.start,
		                    "expected a field name after '%s.'",
		                    p->steps->names[step]);
	for (uint32_t i = 0; i < f->n; i++) {
		if (strncmp(f->fields[i].name, p->src + t.start, len) != 0 ||
		    f->fields[i].name[len] != '\0')
			continue;
		if (f->fields[i].type < WR_T_STRING ||
		    f->fields[i].type > WR_T_TIMESTAMP)
			return wr_expr_fail(p, t.start,
			                    "field '%s' has no usable type",
			                    f->fields[i].name);
		*type = f->fields[i].type;
		return wr_expr_next(p) < 0 ? -1 : (int)i;
	}
	wr_expr_quote(p, t.start, t.end, q);
	return wr_expr_fail(p, t.start, "step '%s' has no field '%s'",
	                    p->steps->names[step], q);
}

/* The index of (kind, step, field) in e's references, added if new. */
static int
wr_expr_ref_intern(wr_expr *e, int kind, int step, int field, int type)
{
	for (size_t k = 0; k < e->nrefs; k++)
		if (e->refs[k].kind == kind && e->refs[k].step == step &&
		    e->refs[k].field == field)
			return (int)k;
	e->refs =
	    wr_expr_grow(e->refs, &e->caprefs, e->nrefs, sizeof(*e->refs));
	e->refs[e->nrefs] = (wr_expr_ref){.kind = (uint8_t)kind,
	                                  .type = (uint8_t)type,
	                                  .step = step,
	                                  .field = field};
	return (int)e->nrefs++;
}

/* The type of aggregate kind over a field of type ft, or -1 when it
 * takes no such field (sum and avg add numbers; min and max order
 * numbers and timestamps). */
static int
wr_expr_ref_type(int kind, int ft)
{
	bool num = ft == WR_T_LONG || ft == WR_T_DOUBLE;

	switch (kind) {
	case WR_EXPR_REF_SUM:
		return num ? ft : -1;
	case WR_EXPR_REF_AVG:
		return num ? WR_T_DOUBLE : -1;
	case WR_EXPR_REF_MIN:
	case WR_EXPR_REF_MAX:
		return num || ft == WR_T_TIMESTAMP ? ft : -1;
	default:
		return ft;
	}
}

/* The functions of references, by kind (LAST has none). */
static const char *const wr_expr_ref_fns[] = {
    [WR_EXPR_REF_FIRST] = "first", [WR_EXPR_REF_COUNT] = "count",
    [WR_EXPR_REF_SUM] = "sum",     [WR_EXPR_REF_AVG] = "avg",
    [WR_EXPR_REF_MIN] = "min",     [WR_EXPR_REF_MAX] = "max"};

/* The kind of reference function the current token names, or -1. */
static int
wr_expr_ref_fn(const wr_expr_parser *p)
{
	const char *s = p->src + p->tok.start;
	size_t n = p->tok.end - p->tok.start;

	for (size_t k = 0; k < WR_EXPR_NELEM(wr_expr_ref_fns); k++)
		if (wr_expr_ref_fns[k] != NULL &&
		    wr_expr_word_is(s, n, wr_expr_ref_fns[k]))
			return (int)k;
	return -1;
}

/* step "." field, at the current token; kind LAST, FIRST or an
 * aggregate, whose field's type it checks. */
static int
wr_expr_ref_dotted(wr_expr_parser *p, int kind, size_t off)
{
	int step, field, type = WR_T_NULL, ref;
	size_t at;

	if ((step = wr_expr_step(p)) < 0)
		return -1;
	if (p->tok.kind != WR_EXPR_TK_DOT)
		return wr_expr_fail(p, p->tok.start,
		                    "expected '.' and a field after the step "
		                    "'%s'",
		                    p->steps->names[step]);
	if (wr_expr_next(p) < 0)
		return -1;
	at = p->tok.start;
	if ((field = wr_expr_step_field(p, step, &type)) < 0)
		return -1;
	if (wr_expr_ref_type(kind, type) < 0)
		return wr_expr_fail(
		    p, at, "%s takes a %s field: '%s.%s' is a %s",
		    wr_expr_ref_fns[kind],
		    kind == WR_EXPR_REF_SUM || kind == WR_EXPR_REF_AVG
		        ? "long or double"
		        : "long, double or timestamp",
		    p->steps->names[step], p->steps->fields->fields[field].name,
		    wr_type_name((enum wr_type)type));
	type = wr_expr_ref_type(kind, type);
	ref = wr_expr_ref_intern(p->e, kind, step, field, type);
	return wr_expr_ref_node(p, off, ref, type);
}

int
wr_expr_parse_step_ref(wr_expr_parser *p)
{
	char q[WR_EXPR_QUOTE_BYTES];

	if (p->steps == NULL) {
		wr_expr_quote(p, p->tok.start, p->tok.end, q);
		return wr_expr_fail(p, p->tok.start,
		                    "'%s.': step references exist only in a "
		                    "pattern's where and emit",
		                    q);
	}
	return wr_expr_ref_dotted(p, WR_EXPR_REF_LAST, p->tok.start);
}

bool
wr_expr_is_ref_call(const wr_expr_parser *p)
{
	return p->steps != NULL && wr_expr_ref_fn(p) >= 0;
}

/* count "(" step ")" | FN "(" step "." field ")", FN first or an
 * aggregate */
int
wr_expr_parse_ref_call(wr_expr_parser *p)
{
	size_t off = p->tok.start;
	int kind = wr_expr_ref_fn(p);
	bool count = kind == WR_EXPR_REF_COUNT;
	int n, step, ref;

	if (wr_expr_next(p) < 0 || wr_expr_next(p) < 0)
		return -1;
	if (count) {
		if ((step = wr_expr_step(p)) < 0)
			return -1;
		ref = wr_expr_ref_intern(p->e, WR_EXPR_REF_COUNT, step, -1,
		                         WR_T_LONG);
		n = wr_expr_ref_node(p, off, ref, WR_T_LONG);
	} else {
		n = wr_expr_ref_dotted(p, kind, off);
	}
	if (n < 0)
		return -1;
	if (p->tok.kind != WR_EXPR_TK_RPAREN) {
		if (count)
			return wr_expr_fail(p, p->tok.start,
			                    "expected ')': count takes one "
			                    "step, as in count(declined)");
		return wr_expr_fail(p, p->tok.start,
		                    "expected ')': %s takes one step's field, "
		                    "as in %s(declined.amount)",
		                    wr_expr_ref_fns[kind],
		                    wr_expr_ref_fns[kind]);
	}
	return wr_expr_next(p) < 0 ? -1 : n;
}

int
wr_expr_no_row(wr_expr_parser *p)
{
	char q[WR_EXPR_QUOTE_BYTES];

	wr_expr_quote(p, p->tok.start, p->tok.end, q);
	return wr_expr_fail(p, p->tok.start,
	                    "'%s' names no step: write step.%s (a match's "
	                    "fields come from its steps)",
	                    q, q);
}
