/*
 * expr.c - the expression language of `filter` and `select` (see expr.h and
 * docs/expressions.md).
 *
 * Parsing is recursive descent over tokens lexed on demand. Each AST node is
 * type-checked as it is built, and folded into a constant when its operands
 * are constants, so errors point at the token that caused them and literal
 * conversions (ISO-8601 strings compared with timestamps, longs mixed with
 * doubles) cost nothing per record. The AST is then compiled to postfix code
 * for the stack machine of expr_eval.c. Tokens and the wording of errors
 * are in expr_lex.c.
 */
#include "expr_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "mem.h"
#include "wr_limits.h"

/* ---- the parser ---- */

enum wr_expr_kind {
	WR_EXPR_N_CONST,
	WR_EXPR_N_FIELD,    /* row field arg */
	WR_EXPR_N_REF,      /* step reference arg (CEP) */
	WR_EXPR_N_UNARY,    /* op applied to a */
	WR_EXPR_N_BINARY,   /* a op b */
	WR_EXPR_N_AND,      /* a && b */
	WR_EXPR_N_OR,       /* a || b */
	WR_EXPR_N_IN,       /* a in sets[arg] */
	WR_EXPR_N_COALESCE, /* a and its `next` siblings */
};

struct wr_expr_node {
	uint8_t kind;
	uint8_t type;  /* what the parent sees; WR_T_NULL: untyped null */
	uint8_t itype; /* what the node's own op produces */
	uint8_t op;
	bool cast;     /* a long result converted to double for the parent */
	uint16_t need; /* stack values its evaluation needs */
	int32_t arg;
	int a, b, next;
	int up;       /* the node whose `a` this is: compiling chains */
	size_t off;   /* operator or name: where errors about it point */
	size_t start; /* first byte of the subexpression */
	wr_value v;   /* CONST */
};

enum wr_expr_fn {
	WR_EXPR_FN_ABS,
	WR_EXPR_FN_COALESCE,
	WR_EXPR_FN_FLOOR,
	WR_EXPR_FN_LOWER,
	WR_EXPR_FN_UPPER,
};

static const char *const wr_expr_fn_names[] = {
    [WR_EXPR_FN_ABS] = "abs",     [WR_EXPR_FN_COALESCE] = "coalesce",
    [WR_EXPR_FN_FLOOR] = "floor", [WR_EXPR_FN_LOWER] = "lower",
    [WR_EXPR_FN_UPPER] = "upper",
};

static int wr_expr_parse_or(wr_expr_parser *p);
static int wr_expr_parse_not(wr_expr_parser *p);
static int wr_expr_parse_unary(wr_expr_parser *p);
static void wr_expr_compile(wr_expr_parser *p, int n);

/* ---- small helpers ---- */

/* arr (of elem-byte items) grown to hold at least n + 1 items. Sizes are
 * bounded by WR_EXPR_MAX_NODES and WR_EXPR_MAX_BYTES. */
void *
wr_expr_grow(void *arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return arr;
	*cap = *cap == 0 ? 16 : *cap * 2;
	return wr_xrealloc(arr, *cap * elem);
}

static const char *
wr_expr_tname(int t)
{
	return wr_type_name((enum wr_type)t);
}

static bool
wr_expr_numeric(int t)
{
	return t == WR_T_LONG || t == WR_T_DOUBLE;
}

/* ---- nodes ---- */

static int
wr_expr_node_new(wr_expr_parser *p, int kind, size_t off, size_t start)
{
	struct wr_expr_node *x;

	if (p->nnodes >= WR_EXPR_MAX_NODES)
		return wr_expr_fail(
		    p, off,
		    "expression too long (more than %d operators "
		    "and operands)",
		    WR_EXPR_MAX_NODES);
	p->nodes =
	    wr_expr_grow(p->nodes, &p->capnodes, p->nnodes, sizeof(*p->nodes));
	x = &p->nodes[p->nnodes];
	memset(x, 0, sizeof(*x));
	x->kind = (uint8_t)kind;
	x->a = x->b = x->next = x->up = -1;
	x->need = 1;
	x->off = off;
	x->start = start;
	return (int)p->nnodes++;
}

/* Keeps a copy of n bytes owned by the expression. */
static char *
wr_expr_keep(wr_expr *e, const char *s, size_t n)
{
	char *copy = wr_xmalloc(n + 1);

	memcpy(copy, s, n);
	copy[n] = '\0';
	e->strs =
	    wr_expr_grow(e->strs, &e->capstrs, e->nstrs, sizeof(*e->strs));
	e->strs[e->nstrs++] = copy;
	return copy;
}

/* The unescaped contents of the string token t, kept by the expression. */
static void
wr_expr_unescape(wr_expr_parser *p, const struct wr_expr_tok *t, wr_value *v)
{
	char *s =
	    wr_expr_keep(p->e, p->src + t->start + 1, t->end - t->start - 2);
	size_t r = 0, w = 0, n = t->end - t->start - 2;

	/* The lexer checked that a byte follows every backslash. */
	while (r < n) {
		if (s[r] == '\\')
			r++;
		s[w++] = s[r++];
	}
	s[w] = '\0';
	v->type = WR_T_STRING;
	v->u.s.p = s;
	v->u.s.len = (uint32_t)w;
}

static int
wr_expr_const(wr_expr_parser *p, size_t start, const wr_value *v, int type)
{
	int n = wr_expr_node_new(p, WR_EXPR_N_CONST, start, start);

	if (n < 0)
		return -1;
	p->nodes[n].v = *v;
	p->nodes[n].type = p->nodes[n].itype = (uint8_t)type;
	return n;
}

static bool
wr_expr_is_const(const wr_expr_parser *p, int n)
{
	return p->nodes[n].kind == WR_EXPR_N_CONST;
}

static bool
wr_expr_is_str_const(const wr_expr_parser *p, int n)
{
	return wr_expr_is_const(p, n) && p->nodes[n].type == WR_T_STRING;
}

/* Gives an untyped null the type t (a no-op for typed nodes and for
 * t == WR_T_NULL). Returns the node's type. */
static int
wr_expr_set_type(wr_expr_parser *p, int n, int t)
{
	struct wr_expr_node *x = &p->nodes[n];

	if (x->type == WR_T_NULL)
		x->type = x->itype = (uint8_t)t;
	return x->type;
}

/* Long (or untyped null) to double: folded for constants, else one I2D. */
static void
wr_expr_to_double(wr_expr_parser *p, int n)
{
	struct wr_expr_node *x = &p->nodes[n];

	if (x->type == WR_T_DOUBLE)
		return;
	if (x->kind == WR_EXPR_N_CONST || x->type == WR_T_NULL) {
		if (x->v.type == WR_T_LONG) {
			x->v.u.d = (double)x->v.u.i;
			x->v.type = WR_T_DOUBLE;
		}
		x->type = x->itype = WR_T_DOUBLE;
		return;
	}
	x->cast = true;
	x->type = WR_T_DOUBLE;
}

/* A string constant compared with a timestamp becomes a timestamp. */
static int
wr_expr_to_ts(wr_expr_parser *p, int n)
{
	struct wr_expr_node *x = &p->nodes[n];
	char why[160];
	int64_t ms;

	if (x->v.type == WR_T_STRING) {
		if (wr_ts_parse_iso8601(x->v.u.s.p, x->v.u.s.len, &ms, why,
		                        sizeof(why)) != WR_OK)
			return wr_expr_fail(p, x->start, "%s", why);
		x->v.type = WR_T_TIMESTAMP;
		x->v.u.i = ms;
	}
	x->type = x->itype = WR_T_TIMESTAMP;
	return 0;
}

/*
 * Replaces node n, whose operands are all constants, by the constant it
 * evaluates to: the evaluator itself runs on n's code at the end of the
 * program, so folding cannot disagree with evaluation.
 */
static void
wr_expr_fold(wr_expr_parser *p, int n)
{
	static const wr_row empty;
	wr_expr *e = p->e;
	size_t code0 = e->ncode, consts0 = e->nconsts;
	struct wr_expr_node *x;
	wr_arena arena;
	wr_value v;
	int rv;

	wr_expr_compile(p, n);
	/* A folded string is made of literals, so of at most len bytes. */
	wr_arena_init(&arena, p->len + 64);
	rv = wr_expr_run(e, code0, e->ncode, &empty, NULL, &v, &arena);
	e->ncode = code0;
	e->nconsts = consts0;
	if (rv == WR_OK) {
		x = &p->nodes[n];
		if (v.type == WR_T_STRING)
			v.u.s.p = wr_expr_keep(e, v.u.s.p, v.u.s.len);
		x->kind = WR_EXPR_N_CONST;
		x->v = v;
		x->itype = x->type;
		x->cast = false;
		x->need = 1;
		x->a = x->b = -1;
	}
	wr_arena_fini(&arena);
}

/* Sets need and folds; for every node with operands. */
static int
wr_expr_finish(wr_expr_parser *p, int n, unsigned need, bool consts)
{
	if (need > WR_EXPR_MAX_STACK)
		return wr_expr_fail(p, p->nodes[n].off,
		                    "expression too complex (its evaluation "
		                    "would hold more than %d values)",
		                    WR_EXPR_MAX_STACK);
	p->nodes[n].need = (uint16_t)need;
	if (consts)
		wr_expr_fold(p, n);
	return n;
}

static int
wr_expr_unary_node(wr_expr_parser *p, int op, int type, size_t off,
                   size_t start, int a)
{
	int n = wr_expr_node_new(p, WR_EXPR_N_UNARY, off, start);

	if (n < 0)
		return -1;
	p->nodes[n].op = (uint8_t)op;
	p->nodes[n].type = p->nodes[n].itype = (uint8_t)type;
	p->nodes[n].a = a;
	return wr_expr_finish(p, n, p->nodes[a].need, wr_expr_is_const(p, a));
}

static int
wr_expr_binary_node(wr_expr_parser *p, int kind, int op, int type, size_t off,
                    int a, int b, int32_t arg)
{
	int n = wr_expr_node_new(p, kind, off, p->nodes[a].start);
	unsigned na, nb;

	if (n < 0)
		return -1;
	p->nodes[n].op = (uint8_t)op;
	p->nodes[n].type = p->nodes[n].itype = (uint8_t)type;
	p->nodes[n].arg = arg;
	p->nodes[n].a = a;
	p->nodes[n].b = b;
	p->nodes[a].up = n;
	/* b is evaluated while a's value waits on the stack. */
	na = p->nodes[a].need;
	nb = p->nodes[b].need + 1u;
	return wr_expr_finish(p, n, na > nb ? na : nb,
	                      wr_expr_is_const(p, a) && wr_expr_is_const(p, b));
}

/* ---- type checking of operators ---- */

/* The type an untyped null next to a `t` operand of sym takes. */
static int
wr_expr_null_partner(char sym, int t, bool null_is_left)
{
	if (wr_expr_numeric(t))
		return t;
	if (sym == '+' && t == WR_T_STRING)
		return WR_T_STRING;
	if (sym == '+' && t == WR_T_TIMESTAMP)
		return WR_T_LONG;
	if (sym == '-' && t == WR_T_TIMESTAMP)
		return null_is_left ? WR_T_TIMESTAMP : WR_T_LONG;
	return WR_T_NULL;
}

static int
wr_expr_long_op(char sym)
{
	switch (sym) {
	case '+':
		return WR_EXPR_OP_ADD_L;
	case '-':
		return WR_EXPR_OP_SUB_L;
	case '*':
		return WR_EXPR_OP_MUL_L;
	case '/':
		return WR_EXPR_OP_DIV_L;
	default:
		return WR_EXPR_OP_MOD_L;
	}
}

/* + - * / % : numbers (long with double gives double), string
 * concatenation, timestamp +/- long and timestamp - timestamp. */
static int
wr_expr_arith(wr_expr_parser *p, const struct wr_expr_tok *op, int a, int b)
{
	char sym = p->src[op->start];
	int ta = p->nodes[a].type, tb = p->nodes[b].type;
	int lop = wr_expr_long_op(sym);
	size_t off = op->start;

	if (ta == WR_T_NULL)
		ta =
		    wr_expr_set_type(p, a, wr_expr_null_partner(sym, tb, true));
	if (tb == WR_T_NULL)
		tb = wr_expr_set_type(p, b,
		                      wr_expr_null_partner(sym, ta, false));
	if (ta == WR_T_NULL && tb == WR_T_NULL)
		return wr_expr_binary_node(p, WR_EXPR_N_BINARY, lop, WR_T_NULL,
		                           off, a, b, 0);
	if (ta == WR_T_LONG && tb == WR_T_LONG)
		return wr_expr_binary_node(p, WR_EXPR_N_BINARY, lop, WR_T_LONG,
		                           off, a, b, 0);
	if (wr_expr_numeric(ta) && wr_expr_numeric(tb)) {
		wr_expr_to_double(p, a);
		wr_expr_to_double(p, b);
		return wr_expr_binary_node(p, WR_EXPR_N_BINARY,
		                           lop - WR_EXPR_OP_ADD_L +
		                               WR_EXPR_OP_ADD_D,
		                           WR_T_DOUBLE, off, a, b, 0);
	}
	if (sym == '+' && ta == WR_T_STRING && tb == WR_T_STRING)
		return wr_expr_binary_node(p, WR_EXPR_N_BINARY,
		                           WR_EXPR_OP_CONCAT, WR_T_STRING, off,
		                           a, b, 0);
	if ((sym == '+' && ta == WR_T_TIMESTAMP && tb == WR_T_LONG) ||
	    (sym == '+' && ta == WR_T_LONG && tb == WR_T_TIMESTAMP) ||
	    (sym == '-' && ta == WR_T_TIMESTAMP && tb == WR_T_LONG))
		return wr_expr_binary_node(p, WR_EXPR_N_BINARY, lop,
		                           WR_T_TIMESTAMP, off, a, b, 0);
	if (sym == '-' && ta == WR_T_TIMESTAMP && tb == WR_T_TIMESTAMP)
		return wr_expr_binary_node(p, WR_EXPR_N_BINARY, lop, WR_T_LONG,
		                           off, a, b, 0);
	return wr_expr_fail(p, off, "'%c' needs %s, not %s and %s", sym,
	                    sym == '+' ? "numbers or strings" : "numbers",
	                    wr_expr_tname(ta), wr_expr_tname(tb));
}

/*
 * Makes a and b comparable and returns their common type through *out:
 * an untyped null takes the other's type, long meets double as double, a
 * string constant meets a timestamp as a timestamp. Errors point at `at`.
 */
static int
wr_expr_unify(wr_expr_parser *p, size_t at, int a, int b, int *out)
{
	int ta = p->nodes[a].type, tb = p->nodes[b].type;

	if (ta == WR_T_NULL)
		ta = wr_expr_set_type(p, a, tb);
	else if (tb == WR_T_NULL)
		tb = wr_expr_set_type(p, b, ta);
	*out = ta;
	if (ta == tb)
		return 0;
	if (wr_expr_numeric(ta) && wr_expr_numeric(tb)) {
		wr_expr_to_double(p, a);
		wr_expr_to_double(p, b);
		*out = WR_T_DOUBLE;
		return 0;
	}
	*out = WR_T_TIMESTAMP;
	if (ta == WR_T_TIMESTAMP && wr_expr_is_str_const(p, b))
		return wr_expr_to_ts(p, b);
	if (tb == WR_T_TIMESTAMP && wr_expr_is_str_const(p, a))
		return wr_expr_to_ts(p, a);
	return wr_expr_fail(p, at, "cannot compare %s with %s",
	                    wr_expr_tname(ta), wr_expr_tname(tb));
}

static int
wr_expr_compare(wr_expr_parser *p, const struct wr_expr_tok *op, int a, int b)
{
	static const int32_t masks[] = {
	    [WR_EXPR_TK_EQ] = WR_EXPR_EQ,
	    [WR_EXPR_TK_NE] = WR_EXPR_LT | WR_EXPR_GT,
	    [WR_EXPR_TK_LT] = WR_EXPR_LT,
	    [WR_EXPR_TK_LE] = WR_EXPR_LT | WR_EXPR_EQ,
	    [WR_EXPR_TK_GT] = WR_EXPR_GT,
	    [WR_EXPR_TK_GE] = WR_EXPR_GT | WR_EXPR_EQ,
	};
	int t, code;

	if (wr_expr_unify(p, op->start, a, b, &t) < 0)
		return -1;
	if (t == WR_T_BOOL && op->kind != WR_EXPR_TK_EQ &&
	    op->kind != WR_EXPR_TK_NE)
		return wr_expr_fail(p, op->start,
		                    "'%.*s' does not apply to bool (only == "
		                    "and != do)",
		                    (int)(op->end - op->start),
		                    p->src + op->start);
	switch (t) {
	case WR_T_DOUBLE:
		code = WR_EXPR_OP_CMP_D;
		break;
	case WR_T_STRING:
		code = WR_EXPR_OP_CMP_S;
		break;
	case WR_T_BOOL:
		code = WR_EXPR_OP_CMP_B;
		break;
	default: /* long, timestamp, or two untyped nulls */
		code = WR_EXPR_OP_CMP_L;
		break;
	}
	return wr_expr_binary_node(p, WR_EXPR_N_BINARY, code, WR_T_BOOL,
	                           op->start, a, b, masks[op->kind]);
}

static int
wr_expr_logic(wr_expr_parser *p, const struct wr_expr_tok *op, int a, int b)
{
	bool is_and = op->kind == WR_EXPR_TK_AND;
	int ta = wr_expr_set_type(p, a, WR_T_BOOL);
	int tb = wr_expr_set_type(p, b, WR_T_BOOL);

	if (ta != WR_T_BOOL || tb != WR_T_BOOL)
		return wr_expr_fail(
		    p, op->start, "'%.*s' needs bool operands, not %s and %s",
		    (int)(op->end - op->start), p->src + op->start,
		    wr_expr_tname(ta), wr_expr_tname(tb));
	return wr_expr_binary_node(p, is_and ? WR_EXPR_N_AND : WR_EXPR_N_OR,
	                           is_and ? WR_EXPR_OP_AND : WR_EXPR_OP_OR,
	                           WR_T_BOOL, op->start, a, b, 0);
}

/* ---- in-lists ---- */

static int
wr_expr_cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return (a > b) - (a < b);
}

static int
wr_expr_cmp_f64(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

static int
wr_expr_cmp_str(const void *x, const void *y)
{
	return wr_expr_strcmp(x, y);
}

/* Adds v (an in-list literal at offset at) to the set of type s->type. */
static int
wr_expr_set_add(wr_expr_parser *p, struct wr_expr_set *s, wr_value v, size_t at)
{
	char why[160];
	int t = s->type;
	int64_t ms;

	if (v.type == WR_T_NULL) {
		s->has_null = true;
		return 0;
	}
	if (t == WR_T_TIMESTAMP && v.type == WR_T_STRING) {
		if (wr_ts_parse_iso8601(v.u.s.p, v.u.s.len, &ms, why,
		                        sizeof(why)) != WR_OK)
			return wr_expr_fail(p, at, "%s", why);
		v.type = WR_T_TIMESTAMP;
		v.u.i = ms;
	}
	if (t == WR_T_DOUBLE && v.type == WR_T_LONG) {
		v.u.d = (double)v.u.i;
		v.type = WR_T_DOUBLE;
	}
	if (t == WR_T_LONG && v.type == WR_T_DOUBLE) {
		/* Only an integral double can equal a long. */
		if (v.u.d != floor(v.u.d) || v.u.d < -0x1p63 || v.u.d >= 0x1p63)
			return 0;
		v.u.i = (int64_t)v.u.d;
		v.type = WR_T_LONG;
	}
	if (v.type != t)
		return wr_expr_fail(p, at, "cannot compare %s with %s",
		                    wr_expr_tname(t), wr_expr_tname(v.type));
	if (t == WR_T_BOOL) {
		s->bools |= (uint8_t)(1u << v.u.b);
		return 0;
	}
	s->s = wr_expr_grow(s->s, &s->cap, s->n, sizeof(*s->s));
	s->s[s->n++] = v;
	return 0;
}

/* Sorts arr and drops duplicates; returns the new count. */
static size_t
wr_expr_sort_unique(void *arr, size_t n, size_t size,
                    int (*cmp)(const void *, const void *))
{
	char *a = arr;
	size_t w = 0;

	if (n == 0)
		return 0;
	qsort(a, n, size, cmp);
	for (size_t k = 0; k < n; k++)
		if (w == 0 || cmp(a + (w - 1) * size, a + k * size) != 0)
			memmove(a + w++ * size, a + k * size, size);
	return w;
}

/* Moves numbers into a dense array (8 bytes each, for the cache), then
 * sorts and dedupes what the evaluator searches. */
static void
wr_expr_set_seal(struct wr_expr_set *s)
{
	if (s->type == WR_T_STRING) {
		s->n = wr_expr_sort_unique(s->s, s->n, sizeof(*s->s),
		                           wr_expr_cmp_str);
		return;
	}
	if (s->type == WR_T_DOUBLE) {
		s->d = wr_xmalloc((s->n + 1) * sizeof(*s->d));
		for (size_t k = 0; k < s->n; k++)
			s->d[k] = s->s[k].u.d;
		s->n = wr_expr_sort_unique(s->d, s->n, sizeof(*s->d),
		                           wr_expr_cmp_f64);
	} else if (s->type != WR_T_BOOL) {
		/* Timestamps are searched as the longs they are. */
		s->i = wr_xmalloc((s->n + 1) * sizeof(*s->i));
		for (size_t k = 0; k < s->n; k++)
			s->i[k] = s->s[k].u.i;
		s->n = wr_expr_sort_unique(s->i, s->n, sizeof(*s->i),
		                           wr_expr_cmp_i64);
		s->type = WR_T_LONG;
	}
	free(s->s);
	s->s = NULL;
}

/* ---- recursive descent ---- */

/* Nesting guard around recursion on user input. */
static int
wr_expr_enter(wr_expr_parser *p, size_t off)
{
	if (++p->depth > WR_EXPR_MAX_DEPTH)
		return wr_expr_fail(p, off,
		                    "expression nested too deeply (more than "
		                    "%d levels)",
		                    WR_EXPR_MAX_DEPTH);
	return 0;
}

/* The current number token as a value, negated when neg. */
static int
wr_expr_num_value(wr_expr_parser *p, bool neg, wr_value *v)
{
	const struct wr_expr_tok *t = &p->tok;
	char q[WR_EXPR_QUOTE_BYTES];

	memset(v, 0, sizeof(*v));
	if (t->kind == WR_EXPR_TK_DOUBLE) {
		v->type = WR_T_DOUBLE;
		v->u.d = neg ? -t->d : t->d;
		return 0;
	}
	v->type = WR_T_LONG;
	if (t->u == WR_EXPR_INT_MAG && neg) {
		v->u.i = INT64_MIN;
		return 0;
	}
	if (t->u == WR_EXPR_INT_MAG) {
		wr_expr_quote(p, t->start, t->end, q);
		return wr_expr_fail(p, t->start,
		                    "integer %s is out of range for long", q);
	}
	v->u.i = neg ? -(int64_t)t->u : (int64_t)t->u;
	return 0;
}

/* One literal of an in-list into *v, consumed; *at is where it starts. */
static int
wr_expr_in_item(wr_expr_parser *p, wr_value *v, size_t *at)
{
	char d[WR_EXPR_QUOTE_BYTES + 2];
	bool neg = false;

	*at = p->tok.start;
	memset(v, 0, sizeof(*v));
	if (p->tok.kind == WR_EXPR_TK_MINUS) {
		if (wr_expr_next(p) < 0)
			return -1;
		neg = true;
		if (p->tok.kind != WR_EXPR_TK_INT &&
		    p->tok.kind != WR_EXPR_TK_DOUBLE)
			return wr_expr_fail(
			    p, p->tok.start,
			    "expected a number after '-', found %s",
			    wr_expr_tokdesc(p, &p->tok, d, sizeof(d)));
	}
	switch (p->tok.kind) {
	case WR_EXPR_TK_INT:
	case WR_EXPR_TK_DOUBLE:
		if (wr_expr_num_value(p, neg, v) < 0)
			return -1;
		break;
	case WR_EXPR_TK_STRING:
		wr_expr_unescape(p, &p->tok, v);
		break;
	case WR_EXPR_TK_TRUE:
	case WR_EXPR_TK_FALSE:
		v->type = WR_T_BOOL;
		v->u.b = p->tok.kind == WR_EXPR_TK_TRUE;
		break;
	case WR_EXPR_TK_NULL:
		break;
	default:
		return wr_expr_fail(p, p->tok.start,
		                    "'in' lists take only literals, not %s",
		                    wr_expr_tokdesc(p, &p->tok, d, sizeof(d)));
	}
	return wr_expr_next(p);
}

/* `left [not] in (literal, ...)`; the current token follows `in`. */
static int
wr_expr_parse_in(wr_expr_parser *p, int left, bool negate, size_t off)
{
	char d[WR_EXPR_QUOTE_BYTES + 2];
	int t = p->nodes[left].type, n;
	size_t si, at;
	wr_value v;

	if (p->tok.kind != WR_EXPR_TK_LPAREN)
		return wr_expr_fail(p, p->tok.start,
		                    "expected '(' after 'in', found %s",
		                    wr_expr_tokdesc(p, &p->tok, d, sizeof(d)));
	p->e->sets = wr_expr_grow(p->e->sets, &p->e->capsets, p->e->nsets,
	                          sizeof(*p->e->sets));
	si = p->e->nsets++;
	memset(&p->e->sets[si], 0, sizeof(p->e->sets[si]));
	p->e->sets[si].negate = negate;
	p->e->sets[si].type = (uint8_t)t;
	do {
		if (wr_expr_next(p) < 0 || wr_expr_in_item(p, &v, &at) < 0)
			return -1;
		/* `null in (...)`: the list gives the type. */
		if (t == WR_T_NULL && v.type != WR_T_NULL)
			p->e->sets[si].type =
			    (uint8_t)(t = wr_expr_set_type(p, left, v.type));
		if (wr_expr_set_add(p, &p->e->sets[si], v, at) < 0)
			return -1;
	} while (p->tok.kind == WR_EXPR_TK_COMMA);
	if (p->tok.kind != WR_EXPR_TK_RPAREN)
		return wr_expr_fail(p, p->tok.start,
		                    "expected ',' or ')', found %s",
		                    wr_expr_tokdesc(p, &p->tok, d, sizeof(d)));
	if (wr_expr_next(p) < 0)
		return -1;
	wr_expr_set_seal(&p->e->sets[si]);
	n = wr_expr_node_new(p, WR_EXPR_N_IN, off, p->nodes[left].start);
	if (n < 0)
		return -1;
	p->nodes[n].op = WR_EXPR_OP_IN;
	p->nodes[n].type = p->nodes[n].itype = WR_T_BOOL;
	p->nodes[n].a = left;
	p->nodes[n].arg = (int32_t)si;
	return wr_expr_finish(p, n, p->nodes[left].need,
	                      wr_expr_is_const(p, left));
}

static int
wr_expr_unknown_field(wr_expr_parser *p, const struct wr_expr_tok *t)
{
	char q[WR_EXPR_QUOTE_BYTES];
	wr_buf names;

	wr_expr_quote(p, t->start, t->end, q);
	if (p->in->n == 0)
		return wr_expr_fail(p, t->start,
		                    "unknown field '%s' (the input has no "
		                    "fields)",
		                    q);
	wr_buf_init(&names);
	for (uint32_t i = 0; i < p->in->n; i++)
		wr_buf_printf(&names, "%s%s", i > 0 ? ", " : "",
		              p->in->fields[i].name);
	wr_expr_fail(p, t->start, "unknown field '%s' (fields: %s)", q,
	             names.data);
	wr_buf_fini(&names);
	return -1;
}

static int
wr_expr_parse_field(wr_expr_parser *p)
{
	const struct wr_expr_tok *t = &p->tok;
	size_t len = t->end - t->start;
	int n;

	for (uint32_t i = 0; i < p->in->n; i++) {
		const wr_field *f = &p->in->fields[i];
		if (strncmp(f->name, p->src + t->start, len) != 0 ||
		    f->name[len] != '\0')
			continue;
		if (f->type < WR_T_STRING || f->type > WR_T_TIMESTAMP)
			return wr_expr_fail(p, t->start,
			                    "field '%s' has no usable type",
			                    f->name);
		n = wr_expr_node_new(p, WR_EXPR_N_FIELD, t->start, t->start);
		if (n < 0)
			return -1;
		p->nodes[n].type = p->nodes[n].itype = (uint8_t)f->type;
		p->nodes[n].arg = (int32_t)i;
		return wr_expr_next(p) < 0 ? -1 : n;
	}
	return wr_expr_unknown_field(p, t);
}

int
wr_expr_ref_node(wr_expr_parser *p, size_t off, int ref, int type)
{
	int n = wr_expr_node_new(p, WR_EXPR_N_REF, off, off);

	if (n < 0)
		return -1;
	p->nodes[n].type = p->nodes[n].itype = (uint8_t)type;
	p->nodes[n].arg = (int32_t)ref;
	return n;
}

static int
wr_expr_coalesce_mismatch(wr_expr_parser *p, int at, int t1, int t2)
{
	return wr_expr_fail(p, p->nodes[at].start,
	                    "coalesce arguments must have one type, not %s "
	                    "and %s",
	                    wr_expr_tname(t1), wr_expr_tname(t2));
}

/* coalesce(a, ...): one common type; string constants become timestamps
 * when the others are timestamps. */
static int
wr_expr_coalesce(wr_expr_parser *p, size_t off, int first, int nargs)
{
	int t = WR_T_NULL, n, c;
	unsigned need = 1;
	bool consts = true;

	if (nargs < 1)
		return wr_expr_fail(p, off,
		                    "coalesce takes at least 1 argument");
	for (c = first; c >= 0; c = p->nodes[c].next) {
		int tc = p->nodes[c].type;
		if (tc == WR_T_NULL || wr_expr_is_str_const(p, c) || tc == t)
			continue;
		if (wr_expr_numeric(t) && wr_expr_numeric(tc))
			t = WR_T_DOUBLE;
		else if (t == WR_T_NULL)
			t = tc;
		else
			return wr_expr_coalesce_mismatch(p, c, t, tc);
	}
	for (c = first; c >= 0; c = p->nodes[c].next) {
		if (!wr_expr_is_str_const(p, c) || t == WR_T_STRING)
			continue;
		if (t == WR_T_NULL)
			t = WR_T_STRING;
		else if (t != WR_T_TIMESTAMP)
			return wr_expr_coalesce_mismatch(p, c, t, WR_T_STRING);
		else if (wr_expr_to_ts(p, c) < 0)
			return -1;
	}
	for (c = first; c >= 0; c = p->nodes[c].next) {
		wr_expr_set_type(p, c, t);
		if (t == WR_T_DOUBLE)
			wr_expr_to_double(p, c);
		need = p->nodes[c].need > need ? p->nodes[c].need : need;
		consts = consts && wr_expr_is_const(p, c);
	}
	if ((n = wr_expr_node_new(p, WR_EXPR_N_COALESCE, off, off)) < 0)
		return -1;
	p->nodes[n].type = p->nodes[n].itype = (uint8_t)t;
	p->nodes[n].a = first;
	return wr_expr_finish(p, n, need, consts);
}

/* A one-argument function applied to node a. */
static int
wr_expr_call1(wr_expr_parser *p, int fn, size_t off, int a)
{
	const char *name = wr_expr_fn_names[fn];
	int t = p->nodes[a].type, op;

	if (fn == WR_EXPR_FN_LOWER || fn == WR_EXPR_FN_UPPER) {
		if (wr_expr_set_type(p, a, WR_T_STRING) != WR_T_STRING)
			return wr_expr_fail(p, p->nodes[a].start,
			                    "%s needs a string, not %s", name,
			                    wr_expr_tname(t));
		op = fn == WR_EXPR_FN_LOWER ? WR_EXPR_OP_LOWER
		                            : WR_EXPR_OP_UPPER;
		return wr_expr_unary_node(p, op, WR_T_STRING, off, off, a);
	}
	if (t != WR_T_NULL && !wr_expr_numeric(t))
		return wr_expr_fail(p, p->nodes[a].start,
		                    "%s needs a number, not %s", name,
		                    wr_expr_tname(t));
	/* abs(null) is null, and a long is its own floor. */
	if (t == WR_T_NULL || (fn == WR_EXPR_FN_FLOOR && t == WR_T_LONG)) {
		p->nodes[a].start = off;
		return a;
	}
	if (fn == WR_EXPR_FN_FLOOR)
		op = WR_EXPR_OP_FLOOR_D;
	else
		op = t == WR_T_LONG ? WR_EXPR_OP_ABS_L : WR_EXPR_OP_ABS_D;
	return wr_expr_unary_node(p, op, t, off, off, a);
}

static int
wr_expr_fn_lookup(wr_expr_parser *p, const struct wr_expr_tok *name)
{
	char q[WR_EXPR_QUOTE_BYTES];

	for (size_t k = 0; k < WR_EXPR_NELEM(wr_expr_fn_names); k++)
		if (wr_expr_word_is(p->src + name->start,
		                    name->end - name->start,
		                    wr_expr_fn_names[k]))
			return (int)k;
	wr_expr_quote(p, name->start, name->end, q);
	return wr_expr_fail(p, name->start,
	                    "unknown function '%s' (functions: abs, coalesce, "
	                    "floor, lower, upper)",
	                    q);
}

/* NAME "(" args ")"; the current token is the name. */
static int
wr_expr_parse_call(wr_expr_parser *p)
{
	struct wr_expr_tok name = p->tok;
	char d[WR_EXPR_QUOTE_BYTES + 2];
	int fn, first = -1, last = -1, nargs = 0, a;

	if (wr_expr_is_ref_call(p))
		return wr_expr_parse_ref_call(p);
	if ((fn = wr_expr_fn_lookup(p, &name)) < 0 ||
	    wr_expr_enter(p, name.start) < 0 || wr_expr_next(p) < 0 ||
	    wr_expr_next(p) < 0)
		return -1;
	while (p->tok.kind != WR_EXPR_TK_RPAREN) {
		if ((a = wr_expr_parse_or(p)) < 0)
			return -1;
		if (last >= 0)
			p->nodes[last].next = a;
		else
			first = a;
		last = a;
		nargs++;
		if (p->tok.kind != WR_EXPR_TK_COMMA)
			break;
		if (wr_expr_next(p) < 0)
			return -1;
		if (p->tok.kind == WR_EXPR_TK_RPAREN)
			return wr_expr_fail(p, p->tok.start,
			                    "expected a value, found ')'");
	}
	if (p->tok.kind != WR_EXPR_TK_RPAREN)
		return wr_expr_fail(p, p->tok.start,
		                    "expected ',' or ')', found %s",
		                    wr_expr_tokdesc(p, &p->tok, d, sizeof(d)));
	p->depth--;
	if (wr_expr_next(p) < 0)
		return -1;
	if (fn == WR_EXPR_FN_COALESCE)
		return wr_expr_coalesce(p, name.start, first, nargs);
	if (nargs != 1)
		return wr_expr_fail(p, name.start,
		                    "%s takes 1 argument, not %d",
		                    wr_expr_fn_names[fn], nargs);
	return wr_expr_call1(p, fn, name.start, first);
}

static int
wr_expr_parse_paren(wr_expr_parser *p)
{
	size_t open = p->tok.start;
	int n;

	if (wr_expr_enter(p, open) < 0 || wr_expr_next(p) < 0 ||
	    (n = wr_expr_parse_or(p)) < 0)
		return -1;
	p->depth--;
	if (p->tok.kind != WR_EXPR_TK_RPAREN)
		return wr_expr_fail(p, p->tok.start, "expected ')'");
	p->nodes[n].start = open;
	return wr_expr_next(p) < 0 ? -1 : n;
}

static int
wr_expr_parse_primary(wr_expr_parser *p)
{
	struct wr_expr_tok t = p->tok, after;
	char d[WR_EXPR_QUOTE_BYTES + 2];
	wr_value v;
	int n;

	memset(&v, 0, sizeof(v));
	switch (t.kind) {
	case WR_EXPR_TK_INT:
	case WR_EXPR_TK_DOUBLE:
		if (wr_expr_num_value(p, false, &v) < 0)
			return -1;
		break;
	case WR_EXPR_TK_STRING:
		wr_expr_unescape(p, &t, &v);
		break;
	case WR_EXPR_TK_TRUE:
	case WR_EXPR_TK_FALSE:
		v.type = WR_T_BOOL;
		v.u.b = t.kind == WR_EXPR_TK_TRUE;
		break;
	case WR_EXPR_TK_NULL:
		break;
	case WR_EXPR_TK_LPAREN:
		return wr_expr_parse_paren(p);
	case WR_EXPR_TK_IDENT:
		if (wr_expr_lex(p, t.end, &after) < 0)
			return -1;
		if (after.kind == WR_EXPR_TK_DOT)
			return wr_expr_parse_step_ref(p);
		if (after.kind == WR_EXPR_TK_LPAREN)
			return wr_expr_parse_call(p);
		if (p->steps != NULL && !p->steps->row)
			return wr_expr_no_row(p);
		return wr_expr_parse_field(p);
	default:
		return wr_expr_fail(p, t.start, "expected a value, found %s",
		                    wr_expr_tokdesc(p, &t, d, sizeof(d)));
	}
	if ((n = wr_expr_const(p, t.start, &v, v.type)) < 0 ||
	    wr_expr_next(p) < 0)
		return -1;
	return n;
}

static int
wr_expr_parse_unary(wr_expr_parser *p)
{
	struct wr_expr_tok op = p->tok;
	wr_value v;
	int a, t;

	if (op.kind != WR_EXPR_TK_MINUS)
		return wr_expr_parse_primary(p);
	if (wr_expr_next(p) < 0)
		return -1;
	if (p->tok.kind == WR_EXPR_TK_INT || p->tok.kind == WR_EXPR_TK_DOUBLE) {
		/* A negative literal, so that -9223372036854775808 is a
		 * long. */
		if (wr_expr_num_value(p, true, &v) < 0 ||
		    (a = wr_expr_const(p, op.start, &v, v.type)) < 0 ||
		    wr_expr_next(p) < 0)
			return -1;
		return a;
	}
	if (wr_expr_enter(p, op.start) < 0 || (a = wr_expr_parse_unary(p)) < 0)
		return -1;
	p->depth--;
	t = p->nodes[a].type;
	if (t == WR_T_NULL)
		return a;
	if (!wr_expr_numeric(t))
		return wr_expr_fail(p, op.start, "'-' needs a number, not %s",
		                    wr_expr_tname(t));
	return wr_expr_unary_node(
	    p, t == WR_T_LONG ? WR_EXPR_OP_NEG_L : WR_EXPR_OP_NEG_D, t,
	    op.start, op.start, a);
}

static int
wr_expr_parse_mul(wr_expr_parser *p)
{
	int a = wr_expr_parse_unary(p), b;

	while (a >= 0 && (p->tok.kind == WR_EXPR_TK_STAR ||
	                  p->tok.kind == WR_EXPR_TK_SLASH ||
	                  p->tok.kind == WR_EXPR_TK_PERCENT)) {
		struct wr_expr_tok op = p->tok;
		if (wr_expr_next(p) < 0 || (b = wr_expr_parse_unary(p)) < 0)
			return -1;
		a = wr_expr_arith(p, &op, a, b);
	}
	return a;
}

static int
wr_expr_parse_add(wr_expr_parser *p)
{
	int a = wr_expr_parse_mul(p), b;

	while (a >= 0 && (p->tok.kind == WR_EXPR_TK_PLUS ||
	                  p->tok.kind == WR_EXPR_TK_MINUS)) {
		struct wr_expr_tok op = p->tok;
		if (wr_expr_next(p) < 0 || (b = wr_expr_parse_mul(p)) < 0)
			return -1;
		a = wr_expr_arith(p, &op, a, b);
	}
	return a;
}

static bool
wr_expr_is_cmp(int kind)
{
	return kind >= WR_EXPR_TK_EQ && kind <= WR_EXPR_TK_GE;
}

/* After `not` or `!` in comparison position only `in` may follow. */
static int
wr_expr_parse_not_in(wr_expr_parser *p, int a)
{
	struct wr_expr_tok op = p->tok, t;
	char d[WR_EXPR_QUOTE_BYTES + 2];

	if (wr_expr_lex(p, op.end, &t) < 0)
		return -1;
	if (t.kind != WR_EXPR_TK_IN)
		return wr_expr_fail(p, t.start,
		                    "expected 'in' after '%.*s', found %s",
		                    (int)(op.end - op.start), p->src + op.start,
		                    wr_expr_tokdesc(p, &t, d, sizeof(d)));
	if (wr_expr_next(p) < 0 || wr_expr_next(p) < 0)
		return -1;
	return wr_expr_parse_in(p, a, true, op.start);
}

static int
wr_expr_parse_cmp(wr_expr_parser *p)
{
	struct wr_expr_tok op;
	int a = wr_expr_parse_add(p), b, n;

	if (a < 0)
		return -1;
	op = p->tok;
	if (wr_expr_is_cmp(op.kind)) {
		if (wr_expr_next(p) < 0 || (b = wr_expr_parse_add(p)) < 0)
			return -1;
		n = wr_expr_compare(p, &op, a, b);
	} else if (op.kind == WR_EXPR_TK_IN) {
		if (wr_expr_next(p) < 0)
			return -1;
		n = wr_expr_parse_in(p, a, false, op.start);
	} else if (op.kind == WR_EXPR_TK_NOT || op.kind == WR_EXPR_TK_BANG) {
		n = wr_expr_parse_not_in(p, a);
	} else {
		return a;
	}
	if (n >= 0 &&
	    (wr_expr_is_cmp(p->tok.kind) || p->tok.kind == WR_EXPR_TK_IN))
		return wr_expr_fail(p, p->tok.start,
		                    "comparisons do not chain (combine them "
		                    "with '&&')");
	return n;
}

static int
wr_expr_parse_not(wr_expr_parser *p)
{
	struct wr_expr_tok op = p->tok;
	int a, t;

	if (op.kind != WR_EXPR_TK_NOT && op.kind != WR_EXPR_TK_BANG)
		return wr_expr_parse_cmp(p);
	if (wr_expr_enter(p, op.start) < 0 || wr_expr_next(p) < 0 ||
	    (a = wr_expr_parse_not(p)) < 0)
		return -1;
	p->depth--;
	t = wr_expr_set_type(p, a, WR_T_BOOL);
	if (t != WR_T_BOOL)
		return wr_expr_fail(p, op.start, "'%.*s' needs bool, not %s",
		                    (int)(op.end - op.start), p->src + op.start,
		                    wr_expr_tname(t));
	return wr_expr_unary_node(p, WR_EXPR_OP_NOT, WR_T_BOOL, op.start,
	                          op.start, a);
}

static int
wr_expr_parse_and(wr_expr_parser *p)
{
	int a = wr_expr_parse_not(p), b;

	while (a >= 0 && p->tok.kind == WR_EXPR_TK_AND) {
		struct wr_expr_tok op = p->tok;
		if (wr_expr_next(p) < 0 || (b = wr_expr_parse_not(p)) < 0)
			return -1;
		a = wr_expr_logic(p, &op, a, b);
	}
	return a;
}

static int
wr_expr_parse_or(wr_expr_parser *p)
{
	int a = wr_expr_parse_and(p), b;

	while (a >= 0 && p->tok.kind == WR_EXPR_TK_OR) {
		struct wr_expr_tok op = p->tok;
		if (wr_expr_next(p) < 0 || (b = wr_expr_parse_and(p)) < 0)
			return -1;
		a = wr_expr_logic(p, &op, a, b);
	}
	return a;
}

static int
wr_expr_parse_root(wr_expr_parser *p)
{
	char d[WR_EXPR_QUOTE_BYTES + 2];
	int root;

	if (wr_expr_lex(p, 0, &p->tok) < 0)
		return -1;
	if (p->tok.kind == WR_EXPR_TK_END)
		return wr_expr_fail(p, 0, "empty expression");
	root = wr_expr_parse_or(p);
	if (root >= 0 && p->tok.kind != WR_EXPR_TK_END)
		return wr_expr_fail(p, p->tok.start,
		                    "unexpected %s after the expression",
		                    wr_expr_tokdesc(p, &p->tok, d, sizeof(d)));
	return root;
}

/* ---- compiler ---- */

static size_t
wr_expr_emit(wr_expr *e, int op, int type, int32_t arg)
{
	e->code =
	    wr_expr_grow(e->code, &e->capcode, e->ncode, sizeof(*e->code));
	e->code[e->ncode].op = (uint8_t)op;
	e->code[e->ncode].type = (uint8_t)type;
	e->code[e->ncode].arg = arg;
	return e->ncode++;
}

static void
wr_expr_emit_const(wr_expr *e, const wr_value *v)
{
	e->consts = wr_expr_grow(e->consts, &e->capconsts, e->nconsts,
	                         sizeof(*e->consts));
	e->consts[e->nconsts] = *v;
	wr_expr_emit(e, WR_EXPR_OP_CONST, v->type, (int32_t)e->nconsts++);
}

static void
wr_expr_compile_coalesce(wr_expr_parser *p, int n)
{
	wr_expr *e = p->e;
	int32_t patch = -1;

	for (int c = p->nodes[n].a; c >= 0; c = p->nodes[c].next) {
		wr_expr_compile(p, c);
		if (p->nodes[c].next < 0)
			break;
		patch = (int32_t)wr_expr_emit(e, WR_EXPR_OP_JNOTNULL, 0, patch);
		wr_expr_emit(e, WR_EXPR_OP_POP, 0, 0);
	}
	/* Each jump held the previous one's index; all go to the end. */
	while (patch >= 0) {
		int32_t prev = e->code[patch].arg;
		e->code[patch].arg = (int32_t)e->ncode;
		patch = prev;
	}
}

static bool
wr_expr_is_chain(const struct wr_expr_node *x)
{
	return x->kind == WR_EXPR_N_BINARY || x->kind == WR_EXPR_N_AND ||
	       x->kind == WR_EXPR_N_OR;
}

/* A node that is not a binary operator. */
static void
wr_expr_compile_head(wr_expr_parser *p, int n)
{
	const struct wr_expr_node *x = &p->nodes[n];

	switch (x->kind) {
	case WR_EXPR_N_CONST:
		wr_expr_emit_const(p->e, &x->v);
		break;
	case WR_EXPR_N_FIELD:
		wr_expr_emit(p->e, WR_EXPR_OP_FIELD, x->itype, x->arg);
		break;
	case WR_EXPR_N_REF:
		wr_expr_emit(p->e, WR_EXPR_OP_REF, x->itype, x->arg);
		break;
	case WR_EXPR_N_COALESCE:
		wr_expr_compile_coalesce(p, n);
		break;
	default: /* unary operators, functions, in */
		wr_expr_compile(p, x->a);
		wr_expr_emit(p->e, x->op, x->itype, x->arg);
		break;
	}
}

/* The rest of binary node n once its left operand is on the stack. */
static void
wr_expr_compile_tail(wr_expr_parser *p, int n)
{
	const struct wr_expr_node *x = &p->nodes[n];
	wr_expr *e = p->e;
	size_t jump = SIZE_MAX;

	/* && and || skip their right operand when the left one decides. */
	if (x->kind == WR_EXPR_N_AND)
		jump = wr_expr_emit(e, WR_EXPR_OP_JFALSE, 0, 0);
	else if (x->kind == WR_EXPR_N_OR)
		jump = wr_expr_emit(e, WR_EXPR_OP_JTRUE, 0, 0);
	wr_expr_compile(p, x->b);
	wr_expr_emit(e, x->op, x->itype, x->arg);
	if (jump != SIZE_MAX)
		e->code[jump].arg = (int32_t)e->ncode;
}

/*
 * Appends postfix code for node n. Chains (`a || b || c`, `a + b + c`)
 * lean left, as deep as they are long, so the left spine is walked with a
 * loop (down through `a`, back up through `up`) and recursion only goes
 * into right operands and arguments, which the parser's depth bounds.
 */
static void
wr_expr_compile(wr_expr_parser *p, int n)
{
	int m = n;

	while (wr_expr_is_chain(&p->nodes[m]))
		m = p->nodes[m].a;
	for (;;) {
		if (wr_expr_is_chain(&p->nodes[m]))
			wr_expr_compile_tail(p, m);
		else
			wr_expr_compile_head(p, m);
		if (p->nodes[m].cast)
			wr_expr_emit(p->e, WR_EXPR_OP_I2D, WR_T_DOUBLE, 0);
		if (m == n)
			break;
		m = p->nodes[m].up;
	}
}

/* ---- public ---- */

int
wr_expr_parse(const char *src, const wr_schema *in, wr_expr **out,
              size_t *err_offset, char *errbuf, size_t errlen)
{
	return wr_expr_parse_steps(src, in, NULL, out, err_offset, errbuf,
	                           errlen);
}

int
wr_expr_parse_steps(const char *src, const wr_schema *in,
                    const wr_expr_steps *steps, wr_expr **out,
                    size_t *err_offset, char *errbuf, size_t errlen)
{
	static const wr_schema no_fields;
	wr_expr_parser p;
	size_t ignored;
	int root = -1, rv = WR_EINVAL;

	memset(&p, 0, sizeof(p));
	p.err_offset = err_offset != NULL ? err_offset : &ignored;
	*p.err_offset = 0;
	p.errbuf = errbuf;
	p.errlen = errbuf != NULL ? errlen : 0;
	if (p.errlen > 0)
		errbuf[0] = '\0';
	p.in = in != NULL ? in : &no_fields;
	p.steps = steps;
	p.src = src != NULL ? src : "";
	/* Bounded: the source may be anything a job file holds. */
	while (p.len <= WR_EXPR_MAX_BYTES && p.src[p.len] != '\0')
		p.len++;
	p.e = wr_xcalloc(1, sizeof(*p.e));
	if (out == NULL)
		wr_expr_fail(&p, 0, "no place for the result");
	else if (p.len > WR_EXPR_MAX_BYTES)
		wr_expr_fail(&p, WR_EXPR_MAX_BYTES,
		             "expression longer than %u bytes",
		             WR_EXPR_MAX_BYTES);
	else if (p.in->n > WR_MAX_FIELDS)
		wr_expr_fail(&p, 0, "input schema has more than %d fields",
		             WR_MAX_FIELDS);
	if (out != NULL)
		*out = NULL;
	if (p.failed || (root = wr_expr_parse_root(&p)) < 0)
		goto leave;
	wr_expr_compile(&p, root);
	p.e->type = p.nodes[root].type;
	*out = p.e;
	p.e = NULL;
	rv = WR_OK;
leave:
	wr_expr_free(p.e);
	free(p.nodes);
	return rv;
}
