/*
 * expr_lex.c - tokens of the expression language, lexed on demand, and the
 * wording of parse errors (see expr_int.h).
 *
 * Identifiers are [A-Za-z_][A-Za-z0-9_]*; keywords are case-insensitive.
 * Strings take single or double quotes and escape only the quotes and the
 * backslash. Numbers are longs unless they have a fraction or an exponent.
 */
#include "expr_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "parse.h"

static bool
wr_expr_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
wr_expr_isword(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && wr_expr_isdigit(c));
}

bool
wr_expr_word_is(const char *s, size_t n, const char *word)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (word[i] == '\0' || c != word[i])
			return false;
	}
	return word[n] == '\0';
}

/* The first error wins: it is the cause. */
int
wr_expr_fail(wr_expr_parser *p, size_t off, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return -1;
	p->failed = true;
	*p->err_offset = off;
	if (p->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(p->errbuf, p->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void
wr_expr_quote(const wr_expr_parser *p, size_t start, size_t end,
              char out[WR_EXPR_QUOTE_BYTES])
{
	wr_quote_for_msg(p->src + start, end - start, out, WR_EXPR_QUOTE_BYTES);
}

const char *
wr_expr_tokdesc(const wr_expr_parser *p, const struct wr_expr_tok *t, char *out,
                size_t outlen)
{
	char q[WR_EXPR_QUOTE_BYTES];

	if (t->kind == WR_EXPR_TK_END)
		return "end of expression";
	wr_expr_quote(p, t->start, t->end, q);
	snprintf(out, outlen, "'%s'", q);
	return out;
}

/* Digits, an optional fraction and exponent; a letter, digit or dot
 * glued to it makes the whole run an invalid number. */
static int
wr_expr_lex_number(wr_expr_parser *p, struct wr_expr_tok *t)
{
	const char *s = p->src;
	size_t i = t->start, j;
	bool dbl = false;
	char q[WR_EXPR_QUOTE_BYTES];

	while (i < p->len && wr_expr_isdigit(s[i]))
		i++;
	if (i + 1 < p->len && s[i] == '.' && wr_expr_isdigit(s[i + 1])) {
		dbl = true;
		for (i++; i < p->len && wr_expr_isdigit(s[i]); i++)
			;
	}
	if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
		j = i + 1;
		if (j < p->len && (s[j] == '+' || s[j] == '-'))
			j++;
		if (j < p->len && wr_expr_isdigit(s[j])) {
			dbl = true;
			for (i = j; i < p->len && wr_expr_isdigit(s[i]); i++)
				;
		}
	}
	if (i < p->len && (wr_expr_isword(s[i], false) || s[i] == '.')) {
		while (i < p->len &&
		       (wr_expr_isword(s[i], false) || s[i] == '.'))
			i++;
		wr_expr_quote(p, t->start, i, q);
		return wr_expr_fail(p, t->start, "invalid number '%s'", q);
	}
	t->end = i;
	t->kind = dbl ? WR_EXPR_TK_DOUBLE : WR_EXPR_TK_INT;
	return 0;
}

/* The value of a number token. An integer may be 2^63 here: only a
 * preceding minus makes that a long, which the parser checks. */
static int
wr_expr_lex_value(wr_expr_parser *p, struct wr_expr_tok *t)
{
	char q[WR_EXPR_QUOTE_BYTES];
	char *copy;
	int rv = 0;

	wr_expr_quote(p, t->start, t->end, q);
	if (t->kind == WR_EXPR_TK_INT) {
		for (size_t i = t->start; i < t->end; i++) {
			uint64_t d = (uint64_t)(p->src[i] - '0');
			if (t->u > (WR_EXPR_INT_MAG - d) / 10)
				return wr_expr_fail(
				    p, t->start,
				    "integer %s is out of range "
				    "for long",
				    q);
			t->u = t->u * 10 + d;
		}
		return 0;
	}
	/* The token has the shape strtod reads in the C locale, which the
	 * daemons never change. */
	copy = wr_xstrndup(p->src + t->start, t->end - t->start);
	t->d = strtod(copy, NULL);
	if (!isfinite(t->d))
		rv = wr_expr_fail(p, t->start,
		                  "number %s is out of range for double", q);
	free(copy);
	return rv;
}

/* A quoted string: only the quotes and the backslash are escaped. */
static int
wr_expr_lex_string(wr_expr_parser *p, struct wr_expr_tok *t)
{
	char quote = p->src[t->start];

	for (size_t i = t->start + 1; i < p->len; i++) {
		char c = p->src[i];
		if (c == quote) {
			t->kind = WR_EXPR_TK_STRING;
			t->end = i + 1;
			return 0;
		}
		if (c != '\\')
			continue;
		if (i + 1 >= p->len)
			break;
		c = p->src[++i];
		if (c != '\\' && c != '\'' && c != '"') {
			char q[WR_EXPR_QUOTE_BYTES];
			wr_expr_quote(p, i - 1, i + 1, q);
			return wr_expr_fail(p, i - 1,
			                    "invalid escape '%s' (only \\\\, "
			                    "\\' and \\\" are escapes)",
			                    q);
		}
	}
	return wr_expr_fail(p, t->start, "unterminated string");
}

static const struct {
	const char *word;
	uint8_t kind;
} wr_expr_keywords[] = {
    {"true", WR_EXPR_TK_TRUE}, {"false", WR_EXPR_TK_FALSE},
    {"null", WR_EXPR_TK_NULL}, {"in", WR_EXPR_TK_IN},
    {"not", WR_EXPR_TK_NOT},   {"and", WR_EXPR_TK_AND},
    {"or", WR_EXPR_TK_OR},
};

static int
wr_expr_lex_word(wr_expr_parser *p, struct wr_expr_tok *t)
{
	size_t i = t->start;

	while (i < p->len && wr_expr_isword(p->src[i], false))
		i++;
	t->end = i;
	t->kind = WR_EXPR_TK_IDENT;
	for (size_t k = 0; k < WR_EXPR_NELEM(wr_expr_keywords); k++)
		if (wr_expr_word_is(p->src + t->start, i - t->start,
		                    wr_expr_keywords[k].word))
			t->kind = wr_expr_keywords[k].kind;
	return 0;
}

/* Longest match first. An entry with a hint is what people write from
 * other languages, refused with what to write instead. */
static const struct {
	const char *text;
	uint8_t kind;
	const char *hint;
} wr_expr_puncts[] = {
    {"||", WR_EXPR_TK_OR, NULL},
    {"&&", WR_EXPR_TK_AND, NULL},
    {"==", WR_EXPR_TK_EQ, NULL},
    {"!=", WR_EXPR_TK_NE, NULL},
    {"<=", WR_EXPR_TK_LE, NULL},
    {">=", WR_EXPR_TK_GE, NULL},
    {"<>", 0, "'!='"},
    {"=", 0, "'==' to compare"},
    {"&", 0, "'&&'"},
    {"|", 0, "'||'"},
    {"(", WR_EXPR_TK_LPAREN, NULL},
    {")", WR_EXPR_TK_RPAREN, NULL},
    {",", WR_EXPR_TK_COMMA, NULL},
    {".", WR_EXPR_TK_DOT, NULL},
    {"+", WR_EXPR_TK_PLUS, NULL},
    {"-", WR_EXPR_TK_MINUS, NULL},
    {"*", WR_EXPR_TK_STAR, NULL},
    {"/", WR_EXPR_TK_SLASH, NULL},
    {"%", WR_EXPR_TK_PERCENT, NULL},
    {"<", WR_EXPR_TK_LT, NULL},
    {">", WR_EXPR_TK_GT, NULL},
    {"!", WR_EXPR_TK_BANG, NULL},
};

static int
wr_expr_lex_punct(wr_expr_parser *p, struct wr_expr_tok *t)
{
	const char *s = p->src + t->start;
	size_t left = p->len - t->start;
	unsigned char c = (unsigned char)*s;

	for (size_t k = 0; k < WR_EXPR_NELEM(wr_expr_puncts); k++) {
		size_t n = strlen(wr_expr_puncts[k].text);
		if (n > left || memcmp(s, wr_expr_puncts[k].text, n) != 0)
			continue;
		if (wr_expr_puncts[k].hint != NULL)
			return wr_expr_fail(
			    p, t->start, "unexpected '%s' (use %s)",
			    wr_expr_puncts[k].text, wr_expr_puncts[k].hint);
		t->kind = wr_expr_puncts[k].kind;
		t->end = t->start + n;
		return 0;
	}
	if (c < 0x20 || c >= 0x7f)
		return wr_expr_fail(p, t->start, "unexpected byte 0x%02x", c);
	return wr_expr_fail(p, t->start, "unexpected character '%c'", c);
}

int
wr_expr_lex(wr_expr_parser *p, size_t pos, struct wr_expr_tok *t)
{
	const char *s = p->src;

	while (pos < p->len && (s[pos] == ' ' || s[pos] == '\t' ||
	                        s[pos] == '\n' || s[pos] == '\r'))
		pos++;
	memset(t, 0, sizeof(*t));
	t->start = t->end = pos;
	if (pos >= p->len) {
		t->kind = WR_EXPR_TK_END;
		return 0;
	}
	if (wr_expr_isdigit(s[pos]) || (s[pos] == '.' && pos + 1 < p->len &&
	                                wr_expr_isdigit(s[pos + 1]))) {
		if (wr_expr_lex_number(p, t) < 0)
			return -1;
		return wr_expr_lex_value(p, t);
	}
	if (s[pos] == '\'' || s[pos] == '"')
		return wr_expr_lex_string(p, t);
	if (wr_expr_isword(s[pos], true))
		return wr_expr_lex_word(p, t);
	return wr_expr_lex_punct(p, t);
}

int
wr_expr_next(wr_expr_parser *p)
{
	return wr_expr_lex(p, p->tok.end, &p->tok);
}
