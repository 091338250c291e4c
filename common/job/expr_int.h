/*
 * expr_int.h - private to the expression module: expr.c (parser, type
 * checks, constant folding, compiler), expr_lex.c (tokens and the wording
 * of errors) and expr_eval.c (the stack machine that runs the program).
 */
#ifndef WR_EXPR_INT_H
#define WR_EXPR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expr.h"

/* ---- the compiled program ---- */

enum wr_expr_op {
	WR_EXPR_OP_CONST, /* push consts[arg] */
	WR_EXPR_OP_FIELD, /* push row field arg, declared type `type` */
	WR_EXPR_OP_REF,   /* push step reference arg, declared type `type` */
	WR_EXPR_OP_I2D,   /* top: long -> double */
	/* Binary: pop b, replace a with a op b; null if either is null. */
	WR_EXPR_OP_ADD_L, /* long arithmetic; result type `type` (long or */
	WR_EXPR_OP_SUB_L, /* timestamp: both are epoch ms in u.i) */
	WR_EXPR_OP_MUL_L,
	WR_EXPR_OP_DIV_L,
	WR_EXPR_OP_MOD_L,
	WR_EXPR_OP_ADD_D,
	WR_EXPR_OP_SUB_D,
	WR_EXPR_OP_MUL_D,
	WR_EXPR_OP_DIV_D,
	WR_EXPR_OP_MOD_D,
	WR_EXPR_OP_CONCAT,
	WR_EXPR_OP_CMP_L, /* arg: mask of the outcomes (<, ==, >) that give */
	WR_EXPR_OP_CMP_D, /* true, bit 0 for <, 1 for ==, 2 for > */
	WR_EXPR_OP_CMP_S,
	WR_EXPR_OP_CMP_B,
	WR_EXPR_OP_AND, /* SQL three-valued logic: not null-propagating */
	WR_EXPR_OP_OR,
	/* Unary: replace the top; null stays null. */
	WR_EXPR_OP_NEG_L,
	WR_EXPR_OP_NEG_D,
	WR_EXPR_OP_NOT,
	WR_EXPR_OP_ABS_L,
	WR_EXPR_OP_ABS_D,
	WR_EXPR_OP_FLOOR_D,
	WR_EXPR_OP_LOWER,
	WR_EXPR_OP_UPPER,
	WR_EXPR_OP_IN, /* arg: index in sets */
	/* Control. */
	WR_EXPR_OP_JFALSE, /* top is false: jump to arg, keeping it */
	WR_EXPR_OP_JTRUE,  /* top is true: jump to arg, keeping it */
	WR_EXPR_OP_JNOTNULL,
	WR_EXPR_OP_POP,
};

/* Outcome masks of the comparisons. */
#define WR_EXPR_LT 1
#define WR_EXPR_EQ 2
#define WR_EXPR_GT 4

struct wr_expr_ins {
	uint8_t op;
	uint8_t type; /* enum wr_type: result of arithmetic, field type */
	int32_t arg;
};

/* The literals of one `in (...)`, sorted for binary search. */
struct wr_expr_set {
	uint8_t type;  /* LONG (timestamps too), DOUBLE, STRING or BOOL */
	bool negate;   /* `not in` */
	bool has_null; /* null listed: no match gives null, not false */
	uint8_t bools; /* BOOL: bit 0 false listed, bit 1 true listed */
	size_t n, cap;
	int64_t *i;  /* LONG */
	double *d;   /* DOUBLE */
	wr_value *s; /* STRING */
};

struct wr_expr {
	uint8_t type; /* result type; WR_T_NULL: an untyped null */
	struct wr_expr_ins *code;
	size_t ncode, capcode;
	wr_value *consts;
	size_t nconsts, capconsts;
	struct wr_expr_set *sets;
	size_t nsets, capsets;
	char **strs; /* string literals and folded strings: owned */
	size_t nstrs, capstrs;
	wr_expr_ref *refs; /* step references (CEP), in OP_REF's arg order */
	size_t nrefs, caprefs;
};

/* ---- the parser's state ---- */

enum wr_expr_tk {
	WR_EXPR_TK_END,
	WR_EXPR_TK_INT,
	WR_EXPR_TK_DOUBLE,
	WR_EXPR_TK_STRING,
	WR_EXPR_TK_IDENT,
	WR_EXPR_TK_TRUE,
	WR_EXPR_TK_FALSE,
	WR_EXPR_TK_NULL,
	WR_EXPR_TK_IN,
	WR_EXPR_TK_NOT,  /* `not` */
	WR_EXPR_TK_BANG, /* `!` */
	WR_EXPR_TK_AND,  /* `&&` and `and` */
	WR_EXPR_TK_OR,   /* `||` and `or` */
	WR_EXPR_TK_LPAREN,
	WR_EXPR_TK_RPAREN,
	WR_EXPR_TK_COMMA,
	WR_EXPR_TK_DOT,
	WR_EXPR_TK_PLUS,
	WR_EXPR_TK_MINUS,
	WR_EXPR_TK_STAR,
	WR_EXPR_TK_SLASH,
	WR_EXPR_TK_PERCENT,
	WR_EXPR_TK_EQ,
	WR_EXPR_TK_NE,
	WR_EXPR_TK_LT,
	WR_EXPR_TK_LE,
	WR_EXPR_TK_GT,
	WR_EXPR_TK_GE,
};

struct wr_expr_tok {
	uint8_t kind;
	size_t start, end; /* bytes of src */
	uint64_t u;        /* INT: magnitude, at most 2^63 */
	double d;          /* DOUBLE */
};

struct wr_expr_node;

typedef struct wr_expr_parser {
	const char *src;
	size_t len;
	const wr_schema *in;
	const wr_expr_steps *steps; /* NULL: no step references */
	wr_expr *e;
	struct wr_expr_node *nodes;
	size_t nnodes, capnodes;
	struct wr_expr_tok tok; /* the current token */
	int depth;
	bool failed;
	size_t *err_offset;
	char *errbuf;
	size_t errlen;
} wr_expr_parser;

#define WR_EXPR_NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define WR_EXPR_INT_MAG  ((uint64_t)INT64_MAX + 1u)
/* Room for a token or a name quoted in a message. */
#define WR_EXPR_QUOTE_BYTES 48

/* ---- expr_lex.c ---- */

/* Reads the token starting at or after pos into *t. Lexical errors
 * ("unterminated string", "invalid number '12abc'") go through
 * wr_expr_fail; returns 0 or -1. */
int wr_expr_lex(wr_expr_parser *p, size_t pos, struct wr_expr_tok *t);
/* Moves p->tok to the next token. */
int wr_expr_next(wr_expr_parser *p);
/* Records the error at byte off of the source (the first error wins: it
 * is the cause) and returns -1. */
int wr_expr_fail(wr_expr_parser *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* src[start, end) made printable for a message. */
void wr_expr_quote(const wr_expr_parser *p, size_t start, size_t end,
                   char out[WR_EXPR_QUOTE_BYTES]);
/* "'x'" or "end of expression", for "found ..." in messages. */
const char *wr_expr_tokdesc(const wr_expr_parser *p,
                            const struct wr_expr_tok *t, char *out,
                            size_t outlen);
/* s[0, n) equals word (lowercase) ignoring ASCII case: keywords and
 * function names, as in SQL. */
bool wr_expr_word_is(const char *s, size_t n, const char *word);

/* ---- expr.c ---- */

/* A node pushing reference ref (of e->refs) of type type, at off; the
 * current token is consumed by the caller. Returns the node or -1. */
int wr_expr_ref_node(wr_expr_parser *p, size_t off, int ref, int type);
/* Grows arr (of elem-byte items) to hold at least n + 1 items. */
void *wr_expr_grow(void *arr, size_t *cap, size_t n, size_t elem);

/* ---- expr_ref.c: step references (CEP) ---- */

/* `step.field`; the current token is the step's name, a '.' follows. */
int wr_expr_parse_step_ref(wr_expr_parser *p);
/* Whether the current identifier (followed by '(') is first, count or
 * an aggregate (sum, avg, min, max) in a pattern; then
 * wr_expr_parse_ref_call parses the call. */
bool wr_expr_is_ref_call(const wr_expr_parser *p);
int wr_expr_parse_ref_call(wr_expr_parser *p);
/* A plain name where only step references may stand (emit). */
int wr_expr_no_row(wr_expr_parser *p);

/* ---- expr_eval.c ---- */

/* Byte-wise order, a prefix first: -1, 0 or 1. */
int wr_expr_strcmp(const wr_value *a, const wr_value *b);
/* Runs code[pc, end) of e on row r with step references refs (NULL when
 * e has none; also used to fold constants). */
int wr_expr_run(const wr_expr *e, size_t pc, size_t end, const wr_row *r,
                const wr_value *refs, wr_value *out, wr_arena *arena);

#endif
