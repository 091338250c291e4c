/*
 * expr_eval.c - the stack machine that runs a compiled expression (see
 * expr_int.h for the instruction set).
 *
 * Instructions are specialized by type at compile time, so a step checks
 * for null and does its work; the stack is a fixed array on the C stack
 * (WR_EXPR_MAX_STACK, checked at parse time), and only produced strings
 * (lower, upper, concatenation) take arena memory.
 */
#include "expr_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "wr_assert.h"
#include "wr_limits.h"

int
wr_expr_strcmp(const wr_value *a, const wr_value *b)
{
	uint32_t n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
	int c = n > 0 ? memcmp(a->u.s.p, b->u.s.p, n) : 0;

	if (c != 0)
		return c < 0 ? -1 : 1;
	return (a->u.s.len > b->u.s.len) - (a->u.s.len < b->u.s.len);
}

/* v (NULL: absent) as the type the instruction declares. */
static void
wr_expr_load_value(const wr_value *v, const struct wr_expr_ins *in,
                   wr_value *dst)
{
	if (v == NULL) {
		dst->type = WR_T_NULL;
	} else if (v->type == in->type) {
		*dst = *v;
	} else if (v->type == WR_T_LONG && in->type == WR_T_DOUBLE) {
		dst->type = WR_T_DOUBLE;
		dst->u.d = (double)v->u.i;
	} else {
		dst->type = WR_T_NULL;
	}
}

/* Rows decoded from the network carry their own types: a value that does
 * not match the schema reads as null rather than as garbage. */
static void
wr_expr_load(const wr_row *r, const struct wr_expr_ins *in, wr_value *dst)
{
	wr_expr_load_value((uint32_t)in->arg < r->n ? &r->v[in->arg] : NULL, in,
	                   dst);
}

/* Overflow gives null, like division by zero. */
static void
wr_expr_arith_l(const struct wr_expr_ins *in, wr_value *a, const wr_value *b)
{
	int64_t x = a->u.i, y = b->u.i, r = 0;
	bool bad;

	switch (in->op) {
	case WR_EXPR_OP_ADD_L:
		bad = __builtin_add_overflow(x, y, &r);
		break;
	case WR_EXPR_OP_SUB_L:
		bad = __builtin_sub_overflow(x, y, &r);
		break;
	case WR_EXPR_OP_MUL_L:
		bad = __builtin_mul_overflow(x, y, &r);
		break;
	case WR_EXPR_OP_DIV_L:
		bad = y == 0 || (x == INT64_MIN && y == -1);
		r = bad ? 0 : x / y;
		break;
	default: /* MOD_L; INT64_MIN % -1 traps on x86 but is 0 */
		bad = y == 0;
		r = bad || y == -1 ? 0 : x % y;
		break;
	}
	a->type = bad ? WR_T_NULL : in->type;
	a->u.i = r;
}

/* Doubles stay finite: JSON has no infinity or NaN, so a division by zero
 * or an overflow gives null. */
static void
wr_expr_arith_d(const struct wr_expr_ins *in, wr_value *a, const wr_value *b)
{
	double x = a->u.d, y = b->u.d, r;

	switch (in->op) {
	case WR_EXPR_OP_ADD_D:
		r = x + y;
		break;
	case WR_EXPR_OP_SUB_D:
		r = x - y;
		break;
	case WR_EXPR_OP_MUL_D:
		r = x * y;
		break;
	case WR_EXPR_OP_DIV_D:
		r = y == 0 ? NAN : x / y;
		break;
	default: /* MOD_D */
		r = y == 0 ? NAN : fmod(x, y);
		break;
	}
	a->type = isfinite(r) ? WR_T_DOUBLE : WR_T_NULL;
	a->u.d = r;
}

static int
wr_expr_concat(wr_value *a, const wr_value *b, wr_arena *arena)
{
	size_t n = (size_t)a->u.s.len + b->u.s.len;
	char *s;

	if (b->u.s.len == 0)
		return WR_OK;
	if (a->u.s.len == 0) {
		*a = *b;
		return WR_OK;
	}
	if (n > UINT32_MAX || arena == NULL ||
	    (s = wr_arena_alloc(arena, n)) == NULL)
		return WR_EFULL;
	memcpy(s, a->u.s.p, a->u.s.len);
	memcpy(s + a->u.s.len, b->u.s.p, b->u.s.len);
	a->u.s.p = s;
	a->u.s.len = (uint32_t)n;
	return WR_OK;
}

static void
wr_expr_compare_values(const struct wr_expr_ins *in, wr_value *a,
                       const wr_value *b)
{
	int c;

	switch (in->op) {
	case WR_EXPR_OP_CMP_L:
		c = (a->u.i > b->u.i) - (a->u.i < b->u.i);
		break;
	case WR_EXPR_OP_CMP_D:
		c = (a->u.d > b->u.d) - (a->u.d < b->u.d);
		break;
	case WR_EXPR_OP_CMP_B:
		c = (int)a->u.b - (int)b->u.b;
		break;
	default: /* CMP_S; equality needs no order: lengths decide first */
		if ((in->arg == WR_EXPR_EQ ||
		     in->arg == (WR_EXPR_LT | WR_EXPR_GT)) &&
		    a->u.s.len != b->u.s.len)
			c = 1;
		else
			c = wr_expr_strcmp(a, b);
		break;
	}
	a->type = WR_T_BOOL;
	a->u.b = (in->arg >> (c + 1)) & 1;
}

/* SQL's three-valued && and ||: false && null is false, true || null is
 * true, and otherwise null wins. */
static void
wr_expr_logic_values(int op, wr_value *a, const wr_value *b)
{
	bool decides = op == WR_EXPR_OP_OR;

	if ((a->type == WR_T_BOOL && a->u.b == decides) ||
	    (b->type == WR_T_BOOL && b->u.b == decides)) {
		a->type = WR_T_BOOL;
		a->u.b = decides;
	} else if (a->type == WR_T_NULL || b->type == WR_T_NULL) {
		a->type = WR_T_NULL;
	} else {
		a->type = WR_T_BOOL;
		a->u.b = !decides;
	}
}

static int
wr_expr_binary(const struct wr_expr_ins *in, wr_value *a, const wr_value *b,
               wr_arena *arena)
{
	if (in->op == WR_EXPR_OP_AND || in->op == WR_EXPR_OP_OR) {
		wr_expr_logic_values(in->op, a, b);
		return WR_OK;
	}
	if (a->type == WR_T_NULL || b->type == WR_T_NULL) {
		a->type = WR_T_NULL;
		return WR_OK;
	}
	if (in->op <= WR_EXPR_OP_MOD_L)
		wr_expr_arith_l(in, a, b);
	else if (in->op <= WR_EXPR_OP_MOD_D)
		wr_expr_arith_d(in, a, b);
	else if (in->op == WR_EXPR_OP_CONCAT)
		return wr_expr_concat(a, b, arena);
	else
		wr_expr_compare_values(in, a, b);
	return WR_OK;
}

/* lower/upper change ASCII letters only: other bytes (UTF-8 sequences
 * included) pass through. A string with nothing to change is shared. */
static int
wr_expr_case(wr_value *a, bool upper, wr_arena *arena)
{
	char from = upper ? 'a' : 'A';
	uint32_t n = a->u.s.len, i;
	char *s;

	for (i = 0; i < n; i++)
		if (a->u.s.p[i] >= from && a->u.s.p[i] <= from + 25)
			break;
	if (i == n)
		return WR_OK;
	if (arena == NULL || (s = wr_arena_alloc(arena, n)) == NULL)
		return WR_EFULL;
	memcpy(s, a->u.s.p, n);
	for (; i < n; i++)
		if (s[i] >= from && s[i] <= from + 25)
			s[i] = (char)(s[i] ^ 0x20);
	a->u.s.p = s;
	return WR_OK;
}

static bool
wr_expr_set_has(const struct wr_expr_set *s, const wr_value *v)
{
	size_t lo = 0, hi = s->n;

	if (s->type == WR_T_BOOL)
		return (s->bools >> (v->u.b ? 1 : 0)) & 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c;
		if (s->type == WR_T_STRING)
			c = wr_expr_strcmp(&s->s[mid], v);
		else if (s->type == WR_T_DOUBLE)
			c = (s->d[mid] > v->u.d) - (s->d[mid] < v->u.d);
		else
			c = (s->i[mid] > v->u.i) - (s->i[mid] < v->u.i);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* a is not null. */
static int
wr_expr_unary(const wr_expr *e, const struct wr_expr_ins *in, wr_value *a,
              wr_arena *arena)
{
	const struct wr_expr_set *s;

	switch (in->op) {
	case WR_EXPR_OP_NEG_L:
	case WR_EXPR_OP_ABS_L:
		if (a->u.i == INT64_MIN)
			a->type = WR_T_NULL; /* overflow */
		else if (in->op == WR_EXPR_OP_NEG_L || a->u.i < 0)
			a->u.i = -a->u.i;
		break;
	case WR_EXPR_OP_NEG_D:
		a->u.d = -a->u.d;
		break;
	case WR_EXPR_OP_ABS_D:
		a->u.d = fabs(a->u.d);
		break;
	case WR_EXPR_OP_FLOOR_D:
		a->u.d = floor(a->u.d);
		break;
	case WR_EXPR_OP_NOT:
		a->u.b = !a->u.b;
		break;
	case WR_EXPR_OP_LOWER:
	case WR_EXPR_OP_UPPER:
		return wr_expr_case(a, in->op == WR_EXPR_OP_UPPER, arena);
	default: /* IN: no match with null listed is null, as in SQL */
		s = &e->sets[in->arg];
		if (wr_expr_set_has(s, a)) {
			a->type = WR_T_BOOL;
			a->u.b = !s->negate;
		} else if (s->has_null) {
			a->type = WR_T_NULL;
		} else {
			a->type = WR_T_BOOL;
			a->u.b = s->negate;
		}
		break;
	}
	return WR_OK;
}

/* The stack need was bounded at parse time. */
int
wr_expr_run(const wr_expr *e, size_t pc, size_t end, const wr_row *r,
            const wr_value *refs, wr_value *out, wr_arena *arena)
{
	wr_value st[WR_EXPR_MAX_STACK];
	wr_value *sp = st; /* the next free slot */
	int rv = WR_OK;

	while (pc < end && rv == WR_OK) {
		const struct wr_expr_ins *in = &e->code[pc++];
		switch (in->op) {
		case WR_EXPR_OP_CONST:
			*sp++ = e->consts[in->arg];
			break;
		case WR_EXPR_OP_FIELD:
			wr_expr_load(r, in, sp++);
			break;
		case WR_EXPR_OP_REF:
			wr_expr_load_value(refs != NULL ? &refs[in->arg] : NULL,
			                   in, sp++);
			break;
		case WR_EXPR_OP_I2D:
			if (sp[-1].type == WR_T_LONG) {
				sp[-1].u.d = (double)sp[-1].u.i;
				sp[-1].type = WR_T_DOUBLE;
			}
			break;
		case WR_EXPR_OP_JFALSE:
		case WR_EXPR_OP_JTRUE:
			if (sp[-1].type == WR_T_BOOL &&
			    sp[-1].u.b == (in->op == WR_EXPR_OP_JTRUE))
				pc = (size_t)in->arg;
			break;
		case WR_EXPR_OP_JNOTNULL:
			if (sp[-1].type != WR_T_NULL)
				pc = (size_t)in->arg;
			break;
		case WR_EXPR_OP_POP:
			sp--;
			break;
		default:
			if (in->op < WR_EXPR_OP_NEG_L) {
				sp--;
				rv = wr_expr_binary(in, sp - 1, sp, arena);
			} else if (sp[-1].type != WR_T_NULL) {
				rv = wr_expr_unary(e, in, sp - 1, arena);
			}
			break;
		}
		WR_DASSERT(sp >= st && sp <= st + WR_EXPR_MAX_STACK);
	}
	WR_DASSERT(rv != WR_OK || sp == st + 1);
	*out = st[0];
	if (rv != WR_OK)
		out->type = WR_T_NULL;
	return rv;
}

enum wr_type
wr_expr_type(const wr_expr *e)
{
	return e->type == WR_T_NULL ? WR_T_BOOL : (enum wr_type)e->type;
}

int
wr_expr_eval(const wr_expr *e, const wr_row *r, wr_value *out, wr_arena *arena)
{
	static const wr_row no_values;

	r = r != NULL ? r : &no_values;
	/* A bare field (most select columns) skips the interpreter's loop
	 * and stack: ~40 % of such an evaluation (callgrind, Nexmark q1). */
	if (e->ncode == 1 && e->code[0].op == WR_EXPR_OP_FIELD) {
		wr_expr_load(r, &e->code[0], out);
		return WR_OK;
	}
	return wr_expr_run(e, 0, e->ncode, r, NULL, out, arena);
}

int
wr_expr_eval_refs(const wr_expr *e, const wr_row *r, const wr_value *refs,
                  wr_value *out, wr_arena *arena)
{
	static const wr_row no_values;

	return wr_expr_run(e, 0, e->ncode, r != NULL ? r : &no_values, refs,
	                   out, arena);
}

const wr_expr_ref *
wr_expr_refs(const wr_expr *e, size_t *n)
{
	*n = e->nrefs;
	return e->refs;
}

bool
wr_expr_test(const wr_expr *e, const wr_row *r, wr_arena *arena)
{
	wr_value v;

	return wr_expr_eval(e, r, &v, arena) == WR_OK && v.type == WR_T_BOOL &&
	       v.u.b;
}

void
wr_expr_free(wr_expr *e)
{
	if (e == NULL)
		return;
	for (size_t k = 0; k < e->nsets; k++) {
		free(e->sets[k].i);
		free(e->sets[k].d);
		free(e->sets[k].s);
	}
	for (size_t k = 0; k < e->nstrs; k++)
		free(e->strs[k]);
	free(e->sets);
	free(e->strs);
	free(e->refs);
	free(e->consts);
	free(e->code);
	free(e);
}
