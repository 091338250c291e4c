/*
 * json_decode.c - wr_row_from_json: a one-pass JSON decoder from bytes
 * straight into a schema's row, with no tree. It validates the whole input
 * (RFC 8259, strict UTF-8) the way jansson did before it (the same
 * accept/reject decisions, error classes and messages), notes where each
 * schema field's value lies, and converts those values afterwards in
 * schema order. docs/records.md has the rules and the figures.
 */
#include "record.h"

#include "err.h"
#include "parse.h"
#include "wr_assert.h"
#include "wr_limits.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Doubles hold every integer up to 2^53 exactly: an integral real beyond
 * that may already have been rounded, so it is not taken as a long. */
#define WR_EXACT_INT_DOUBLE 9007199254740992.0

/* Number tokens up to this long are copied to the stack for strtod. */
#define WR_JD_NUM_STACK 64

enum wr_jd_kind {
	WR_JD_NONE = 0, /* key absent */
	WR_JD_STRING,
	WR_JD_INT, /* integer token (no fraction, no exponent) */
	WR_JD_REAL,
	WR_JD_TRUE,
	WR_JD_FALSE,
	WR_JD_NULL,
	WR_JD_OBJECT,
	WR_JD_ARRAY,
};

enum wr_jd_err { WR_JD_OK = 0, WR_JD_TRUNC, WR_JD_BAD, WR_JD_FULL };

/* Where a value lies: strings without their quotes. */
typedef struct wr_jd_span {
	size_t start, end;
	int64_t ival; /* WR_JD_INT within int64 */
	uint8_t kind; /* enum wr_jd_kind */
	bool esc;     /* string: has a backslash */
	bool fits;    /* WR_JD_INT: ival is the value */
	bool nul;     /* string: \u0000 inside */
} wr_jd_span;

typedef struct wr_jd {
	const char *p;
	size_t len, i;
	wr_arena *arena; /* for number tokens too long for the stack */
	int err;         /* enum wr_jd_err */
	size_t errpos;   /* jansson's convention: offending byte's index + 1 */
	char why[96];
} wr_jd;

static int
wr_jd_bad(wr_jd *jd, size_t at, const char *why)
{
	jd->err = WR_JD_BAD;
	jd->errpos = at + 1;
	snprintf(jd->why, sizeof(jd->why), "%s", why);
	return -1;
}

static int
wr_jd_trunc(wr_jd *jd)
{
	jd->err = WR_JD_TRUNC;
	jd->errpos = jd->len;
	return -1;
}

static int wr_jd_string(wr_jd *jd, struct wr_jd_span *sp);

/* A token was expected at jd->i and is not there. jansson reads the token
 * before it looks at it, so a string there that is itself malformed or cut
 * short is reported as such; and a NUL byte there is the end of the input
 * to jansson (its lexer keeps no text for it). The same record gets the
 * same class of error. */
static int
wr_jd_expected(wr_jd *jd, const char *why)
{
	struct wr_jd_span sp;
	size_t at = jd->i;

	if (jd->p[at] == '"' && wr_jd_string(jd, &sp) != 0)
		return -1;
	jd->i = at;
	if (jd->p[at] != '\0')
		return wr_jd_bad(jd, at, why);
	jd->err = WR_JD_TRUNC;
	jd->errpos = at + 1;
	return -1;
}

static void
wr_jd_ws(wr_jd *jd)
{
	while (jd->i < jd->len) {
		char c = jd->p[jd->i];
		if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
			return;
		jd->i++;
	}
}

static int
wr_jd_hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	for (int k = 0; k < 4; k++) {
		char c = p[k];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Length of the valid UTF-8 sequence at p[0..n) (n >= 1), 0 if invalid or
 * cut short (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
static size_t
wr_jd_utf8(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t need;

	if (c < 0xc2 || c > 0xf4)
		return 0;
	need = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < need || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t k = 2; k < need; k++)
		if (p[k] < 0x80 || p[k] > 0xbf)
			return 0;
	return need;
}

/* One escape at s[*i] (the backslash), already validated: its UTF-8 bytes
 * into out[0..4), the count returned. */
static size_t
wr_jd_unescape_one(const char *s, size_t *i, char out[4])
{
	unsigned u, lo;
	char c = s[*i + 1];

	*i += 2;
	switch (c) {
	case 'b':
		out[0] = '\b';
		return 1;
	case 'f':
		out[0] = '\f';
		return 1;
	case 'n':
		out[0] = '\n';
		return 1;
	case 'r':
		out[0] = '\r';
		return 1;
	case 't':
		out[0] = '\t';
		return 1;
	case 'u':
		break;
	default: /* " \ / */
		out[0] = c;
		return 1;
	}
	(void)wr_jd_hex4(s + *i, &u);
	*i += 4;
	if (u >= 0xd800 && u <= 0xdbff) {
		(void)wr_jd_hex4(s + *i + 2, &lo);
		*i += 6;
		u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (u < 0x80) {
		out[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		out[0] = (char)(0xc0 | u >> 6);
		out[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	if (u < 0x10000) {
		out[0] = (char)(0xe0 | u >> 12);
		out[1] = (char)(0x80 | (u >> 6 & 0x3f));
		out[2] = (char)(0x80 | (u & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | u >> 18);
	out[1] = (char)(0x80 | (u >> 12 & 0x3f));
	out[2] = (char)(0x80 | (u >> 6 & 0x3f));
	out[3] = (char)(0x80 | (u & 0x3f));
	return 4;
}

/* Unescapes a validated string span into dst (NULL: only counts); the
 * unescaped length. */
static size_t
wr_jd_unescape(const char *s, size_t start, size_t end, char *dst)
{
	size_t i = start, n = 0;

	while (i < end) {
		size_t run = i;
		char u[4];
		size_t k;

		while (i < end && s[i] != '\\')
			i++;
		if (dst != NULL)
			memcpy(dst + n, s + run, i - run);
		n += i - run;
		if (i == end)
			break;
		k = wr_jd_unescape_one(s, &i, u);
		if (dst != NULL)
			memcpy(dst + n, u, k);
		n += k;
	}
	return n;
}

/* The \u escapes of a string whose syntax is checked: a high surrogate
 * must come with a low one, a low one never alone. jansson checks this
 * after the whole string was read, so a string cut short is truncated
 * whatever its escapes. */
static int
wr_jd_surrogates(wr_jd *jd, wr_jd_span *sp)
{
	const char *p = jd->p;
	size_t i = sp->start;
	unsigned u, lo;

	while (i < sp->end) {
		if (p[i] != '\\') {
			i++;
			continue;
		}
		if (p[i + 1] != 'u') {
			i += 2;
			continue;
		}
		(void)wr_jd_hex4(p + i + 2, &u);
		i += 6;
		if (u >= 0xdc00 && u <= 0xdfff)
			return wr_jd_bad(jd, i - 1,
			                 "invalid Unicode low surrogate");
		if (u >= 0xd800 && u <= 0xdbff) {
			if (i + 6 > sp->end || p[i] != '\\' || p[i + 1] != 'u')
				return wr_jd_bad(
				    jd, i - 1,
				    "invalid Unicode surrogate pair");
			(void)wr_jd_hex4(p + i + 2, &lo);
			if (lo < 0xdc00 || lo > 0xdfff)
				return wr_jd_bad(
				    jd, i + 5,
				    "invalid Unicode surrogate pair");
			i += 6;
		}
		if (u == 0)
			sp->nul = true;
	}
	return 0;
}

/* A string at jd->i (the opening quote): validated, its span noted. */
static int
wr_jd_string(wr_jd *jd, wr_jd_span *sp)
{
	const unsigned char *p = (const unsigned char *)jd->p;
	size_t i = jd->i + 1, n = jd->len;
	bool uesc = false;
	unsigned u;
	char why[40];

	sp->kind = WR_JD_STRING;
	sp->esc = sp->nul = false;
	sp->start = i;
	for (;;) {
		/* The common case: plain ASCII. */
		while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' &&
		       p[i] != '\\')
			i++;
		if (i == n)
			return wr_jd_trunc(jd);
		if (p[i] == '"')
			break;
		if (p[i] == '\\') {
			sp->esc = true;
			if (i + 1 == n)
				return wr_jd_bad(jd, i, "invalid escape");
			if (p[i + 1] == 'u') {
				if (n - i < 6 ||
				    wr_jd_hex4((const char *)p + i + 2, &u) !=
				        0)
					return wr_jd_bad(jd, i + 1,
					                 "invalid escape");
				uesc = true;
				i += 6;
			} else if (strchr("\"\\/bfnrt", p[i + 1]) != NULL &&
			           p[i + 1] != '\0') {
				i += 2;
			} else {
				return wr_jd_bad(jd, i + 1, "invalid escape");
			}
			continue;
		}
		if (p[i] < 0x20) {
			snprintf(why, sizeof(why), "control character 0x%x",
			         p[i]);
			return wr_jd_bad(jd, i, why);
		}
		size_t k = wr_jd_utf8(p + i, n - i);
		if (k == 0) {
			snprintf(why, sizeof(why), "unable to decode byte 0x%x",
			         p[i]);
			return wr_jd_bad(jd, i, why);
		}
		i += k;
	}
	sp->end = i;
	jd->i = i + 1;
	return uesc ? wr_jd_surrogates(jd, sp) : 0;
}

/* The number token p[0..n) as a double: WR_OK, -1 when it overflows (jansson
 * refuses that, even in fields weir ignores), or WR_EFULL when a token too
 * long for the stack finds no room in the arena (data-plane memory is
 * budgeted). */
static int
wr_jd_strtod(wr_arena *arena, const char *p, size_t n, double *d)
{
	char stack[WR_JD_NUM_STACK];
	char *buf = stack;

	*d = 0;
	if (n >= sizeof(stack) && (buf = wr_arena_alloc(arena, n + 1)) == NULL)
		return WR_EFULL;
	memcpy(buf, p, n);
	buf[n] = '\0';
	*d = strtod(buf, NULL); /* a validated JSON number: all of it */
	return isinf(*d) ? -1 : WR_OK;
}

/* A number at jd->i: RFC 8259's grammar; integers exact within int64. */
static int
wr_jd_number(wr_jd *jd, wr_jd_span *sp)
{
	const char *p = jd->p;
	size_t i = jd->i, n = jd->len;
	bool neg = false, real = false, exp = false;
	uint64_t u = 0, lim;
	double d;
	int rv;

	sp->start = i;
	sp->fits = true;
	if (p[i] == '-') {
		neg = true;
		i++;
	}
	if (i == n || p[i] < '0' || p[i] > '9')
		return wr_jd_bad(jd, i < n ? i : n - 1, "invalid token");
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (p[i] == '0') {
		i++;
		if (i < n && p[i] >= '0' && p[i] <= '9')
			return wr_jd_bad(jd, i, "invalid token");
	} else {
		for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
			unsigned dig = (unsigned)(p[i] - '0');
			if (u > (lim - dig) / 10)
				sp->fits = false;
			else
				u = u * 10 + dig;
		}
	}
	if (i < n && p[i] == '.') {
		real = true;
		if (++i == n || p[i] < '0' || p[i] > '9')
			return wr_jd_bad(jd, i < n ? i : n - 1,
			                 "invalid token");
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		real = exp = true;
		if (++i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (i == n || p[i] < '0' || p[i] > '9')
			return wr_jd_bad(jd, i < n ? i : n - 1,
			                 "invalid token");
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	}
	sp->end = i;
	sp->kind = real ? WR_JD_REAL : WR_JD_INT;
	sp->ival = neg ? (int64_t)(0 - u) : (int64_t)u;
	/* Only an exponent or ~309 digits can overflow a double. */
	rv = exp || i - sp->start > 300
	         ? wr_jd_strtod(jd->arena, p + sp->start, i - sp->start, &d)
	         : WR_OK;
	if (rv == WR_EFULL) {
		jd->err = WR_JD_FULL;
		return -1;
	}
	if (rv != WR_OK)
		return wr_jd_bad(jd, i - 1, "real number overflow");
	jd->i = i;
	return 0;
}

/* true, false or null at jd->i. */
static int
wr_jd_literal(wr_jd *jd, wr_jd_span *sp)
{
	static const struct {
		const char *word;
		size_t len;
		uint8_t kind;
	} lits[] = {{"true", 4, WR_JD_TRUE},
	            {"false", 5, WR_JD_FALSE},
	            {"null", 4, WR_JD_NULL}};
	const char *p = jd->p + jd->i;
	size_t left = jd->len - jd->i;

	for (size_t k = 0; k < sizeof(lits) / sizeof(lits[0]); k++) {
		if (left < lits[k].len ||
		    memcmp(p, lits[k].word, lits[k].len) != 0)
			continue;
		/* jansson reads a run of letters as one word: "truex". */
		if (left > lits[k].len && ((p[lits[k].len] | 0x20) >= 'a' &&
		                           (p[lits[k].len] | 0x20) <= 'z'))
			break;
		sp->kind = lits[k].kind;
		sp->start = jd->i;
		jd->i += lits[k].len;
		sp->end = jd->i;
		return 0;
	}
	return wr_jd_expected(jd, "invalid token");
}

/* A scalar at jd->i (not at the end). */
static int
wr_jd_scalar(wr_jd *jd, wr_jd_span *sp)
{
	char c = jd->p[jd->i];

	if (c == '"')
		return wr_jd_string(jd, sp);
	if (c == '-' || (c >= '0' && c <= '9'))
		return wr_jd_number(jd, sp);
	return wr_jd_literal(jd, sp);
}

/* A key, the colon and the whitespace after it, at jd->i. */
static int
wr_jd_key(wr_jd *jd, wr_jd_span *key)
{
	if (jd->i == jd->len)
		return wr_jd_trunc(jd);
	if (jd->p[jd->i] != '"')
		return wr_jd_expected(jd, "string or '}' expected");
	if (wr_jd_string(jd, key) != 0)
		return -1;
	if (key->nul)
		return wr_jd_bad(jd, jd->i - 1,
		                 "NUL byte in object key not supported");
	wr_jd_ws(jd);
	if (jd->i == jd->len)
		return wr_jd_trunc(jd);
	if (jd->p[jd->i] != ':')
		return wr_jd_expected(jd, "':' expected");
	jd->i++;
	wr_jd_ws(jd);
	return 0;
}

/* Skips the object or array at jd->i, whose nesting level is depth + 1
 * (the record is level 1, its fields' values level 2, ...), without
 * recursion: one bit per open container says object or array. */
static int
wr_jd_skip_nested(wr_jd *jd, unsigned depth)
{
	uint64_t obj[WR_JSON_DECODE_MAX_DEPTH / 64 + 1];
	unsigned top = 0;
	wr_jd_span sp;

	for (;;) {
		char c;

		if (jd->i == jd->len)
			return wr_jd_trunc(jd);
		c = jd->p[jd->i];
		/* jansson counts every value's level, scalars included. */
		if (depth + top + 1 > WR_JSON_DECODE_MAX_DEPTH)
			return wr_jd_bad(jd, jd->i,
			                 "maximum parsing depth reached");
		if (c == '{' || c == '[') {
			if (c == '{')
				obj[top / 64] |= UINT64_C(1) << (top % 64);
			else
				obj[top / 64] &= ~(UINT64_C(1) << (top % 64));
			top++;
			jd->i++;
			wr_jd_ws(jd);
			if (jd->i == jd->len)
				return wr_jd_trunc(jd);
			if (jd->p[jd->i] == (c == '{' ? '}' : ']')) {
				jd->i++;
				top--;
			} else {
				if (c == '{' && wr_jd_key(jd, &sp) != 0)
					return -1;
				continue;
			}
		} else if (wr_jd_scalar(jd, &sp) != 0) {
			return -1;
		}
		/* After a value: close containers or go to the next value. */
		for (;;) {
			bool is_obj;

			if (top == 0)
				return 0;
			is_obj = obj[(top - 1) / 64] >> ((top - 1) % 64) & 1;
			wr_jd_ws(jd);
			if (jd->i == jd->len)
				return wr_jd_trunc(jd);
			c = jd->p[jd->i];
			if (c == (is_obj ? '}' : ']')) {
				jd->i++;
				top--;
				continue;
			}
			if (c != ',')
				return wr_jd_expected(jd, is_obj
				                              ? "'}' expected"
				                              : "']' expected");
			jd->i++;
			wr_jd_ws(jd);
			if (is_obj && wr_jd_key(jd, &sp) != 0)
				return -1;
			break;
		}
	}
}

/* Any value at jd->i (not at the end); containers are skipped. */
static int
wr_jd_value(wr_jd *jd, wr_jd_span *sp, unsigned depth)
{
	char c = jd->p[jd->i];

	if (c == '{' || c == '[') {
		sp->kind = c == '{' ? WR_JD_OBJECT : WR_JD_ARRAY;
		return wr_jd_skip_nested(jd, depth);
	}
	return wr_jd_scalar(jd, sp);
}

/* Does the key span equal name (after unescaping)? */
static bool
wr_jd_key_is(const char *p, const wr_jd_span *key, const char *name)
{
	size_t i = key->start, k = 0;

	if (!key->esc) {
		size_t n = key->end - key->start;
		return strncmp(name, p + i, n) == 0 && name[n] == '\0';
	}
	while (i < key->end) {
		char u[4];
		size_t m = 1;

		if (p[i] == '\\')
			m = wr_jd_unescape_one(p, &i, u);
		else
			u[0] = p[i++];
		for (size_t j = 0; j < m; j++, k++)
			if (name[k] != u[j])
				return false;
	}
	return name[k] == '\0';
}

/* The schema index of a key, -1 if none; fields usually come in schema
 * order, so the search starts after the previous match. */
static int
wr_jd_lookup(const wr_schema *s, const char *p, const wr_jd_span *key,
             uint32_t *hint)
{
	for (uint32_t k = 0; k < s->n; k++) {
		uint32_t f = (*hint + k) % s->n;
		if (wr_jd_key_is(p, key, s->fields[f].name)) {
			*hint = f + 1;
			return (int)f;
		}
	}
	return -1;
}

/* The top-level object at jd->i ('{'): each schema field's last value. */
static int
wr_jd_object(wr_jd *jd, const wr_schema *s, wr_jd_span *vals)
{
	uint32_t hint = 0;
	wr_jd_span key, v;

	jd->i++;
	wr_jd_ws(jd);
	if (jd->i < jd->len && jd->p[jd->i] == '}') {
		jd->i++;
		return 0;
	}
	for (;;) {
		int f;

		if (wr_jd_key(jd, &key) != 0)
			return -1;
		if (jd->i == jd->len)
			return wr_jd_trunc(jd);
		if (wr_jd_value(jd, &v, 1) != 0)
			return -1;
		if (s->n > 0 && (f = wr_jd_lookup(s, jd->p, &key, &hint)) >= 0)
			vals[f] = v; /* duplicate keys: the last one wins */
		wr_jd_ws(jd);
		if (jd->i == jd->len)
			return wr_jd_trunc(jd);
		if (jd->p[jd->i] == '}') {
			jd->i++;
			return 0;
		}
		if (jd->p[jd->i] != ',')
			return wr_jd_expected(jd, "'}' expected");
		jd->i++;
		wr_jd_ws(jd);
	}
}

static const char *
wr_jd_kind_name(uint8_t kind)
{
	switch (kind) {
	case WR_JD_OBJECT:
		return "object";
	case WR_JD_ARRAY:
		return "array";
	case WR_JD_STRING:
		return "string";
	case WR_JD_INT:
	case WR_JD_REAL:
		return "number";
	case WR_JD_TRUE:
	case WR_JD_FALSE:
		return "bool";
	default:
		return "null";
	}
}

/* Validates the whole input; fills vals. Error messages as before. */
static int
wr_jd_scan(wr_jd *jd, const wr_schema *s, wr_jd_span *vals, char *errbuf,
           size_t errlen)
{
	wr_jd_span top = {0}, next;
	char why[sizeof(jd->why)];
	int rv = 0;

	wr_jd_ws(jd);
	if (jd->i == jd->len) {
		snprintf(errbuf, errlen, "empty record (no JSON value)");
		return WR_EINVAL;
	}
	if (jd->p[jd->i] == '{') {
		top.kind = WR_JD_OBJECT;
		rv = wr_jd_object(jd, s, vals);
	} else {
		rv = wr_jd_value(jd, &top, 0);
	}
	if (rv == 0) {
		wr_jd_ws(jd);
		/* jansson lexes what follows first (see wr_jd_expected). */
		if (jd->i != jd->len &&
		    (jd->p[jd->i] != '"' || wr_jd_string(jd, &next) == 0))
			wr_jd_bad(jd, jd->i, "end of file expected");
	}
	if (jd->err == WR_JD_FULL) {
		snprintf(errbuf, errlen,
		         "record of %zu bytes needs more than the %zu bytes of "
		         "per-record memory left to decode",
		         jd->len, jd->arena->cap - jd->arena->used);
		return WR_EFULL;
	}
	if (jd->err == WR_JD_TRUNC) {
		snprintf(errbuf, errlen, "truncated at byte %zu", jd->errpos);
		return WR_EINVAL;
	}
	if (jd->err == WR_JD_BAD) {
		wr_quote_for_msg(jd->why, strlen(jd->why), why, sizeof(why));
		snprintf(errbuf, errlen, "malformed JSON at byte %zu: %s",
		         jd->errpos, why);
		return WR_EINVAL;
	}
	if (top.kind != WR_JD_OBJECT) {
		snprintf(errbuf, errlen, "not a JSON object (got %s)",
		         wr_jd_kind_name(top.kind));
		return WR_EINVAL;
	}
	return WR_OK;
}

/* A number token as a double (overflow was refused by the scan). */
static int
wr_jd_double(const wr_field *f, const char *p, const wr_jd_span *sp, double *d,
             wr_arena *arena, char *errbuf, size_t errlen)
{
	size_t n = sp->end - sp->start;

	if (wr_jd_strtod(arena, p + sp->start, n, d) != WR_EFULL)
		return WR_OK;
	snprintf(errbuf, errlen,
	         "field '%s': number of %zu bytes exceeds the per-record "
	         "memory",
	         f->name, n);
	return WR_EFULL;
}

/* A number that must be integral and within int64 (long, timestamp). */
static int
wr_jd_integral(const wr_field *f, const char *p, const wr_jd_span *sp,
               int64_t *out, wr_arena *arena, char *errbuf, size_t errlen)
{
	double d;

	if (sp->kind == WR_JD_INT && sp->fits) {
		*out = sp->ival;
		return WR_OK;
	}
	if (wr_jd_double(f, p, sp, &d, arena, errbuf, errlen) != WR_OK)
		return WR_EFULL;
	if (d != floor(d)) {
		snprintf(
		    errbuf, errlen,
		    "field '%s': expected %s, got non-integral number %.17g",
		    f->name, wr_type_name(f->type), d);
		return WR_EINVAL;
	}
	/* Integers beyond int64 land here too, as jansson read them. */
	if (sp->kind == WR_JD_INT || fabs(d) > WR_EXACT_INT_DOUBLE) {
		snprintf(errbuf, errlen,
		         "field '%s': number %.17g is out of range for %s",
		         f->name, d, wr_type_name(f->type));
		return WR_EINVAL;
	}
	*out = (int64_t)d;
	return WR_OK;
}

/* A string, unescaped into the arena (the row must outlive the input). */
static int
wr_jd_arena_string(const wr_field *f, const char *p, const wr_jd_span *sp,
                   wr_value *v, wr_arena *arena, char *errbuf, size_t errlen)
{
	size_t len = sp->esc ? wr_jd_unescape(p, sp->start, sp->end, NULL)
	                     : sp->end - sp->start;
	char *dst;

	if (len > UINT32_MAX) {
		snprintf(errbuf, errlen,
		         "field '%s': string of %zu bytes is over 4 GiB",
		         f->name, len);
		return WR_EINVAL;
	}
	v->u.s.len = (uint32_t)len;
	v->u.s.p = "";
	if (len == 0)
		return WR_OK;
	if ((dst = wr_arena_alloc(arena, len)) == NULL) {
		snprintf(
		    errbuf, errlen,
		    "field '%s': string of %zu bytes exceeds the per-record "
		    "memory",
		    f->name, len);
		return WR_EFULL;
	}
	if (sp->esc)
		wr_jd_unescape(p, sp->start, sp->end, dst);
	else
		memcpy(dst, p + sp->start, len);
	v->u.s.p = dst;
	return WR_OK;
}

/* An ISO-8601 string, unescaped first if need be (on the stack when it
 * is short enough to be valid, so a timestamp costs no arena). */
static int
wr_jd_iso8601(const char *p, const wr_jd_span *sp, int64_t *out,
              wr_arena *arena, char *why, size_t whylen)
{
	char stack[WR_JD_NUM_STACK];
	size_t len;
	char *buf;

	if (!sp->esc)
		return wr_ts_parse_iso8601(p + sp->start, sp->end - sp->start,
		                           out, why, whylen);
	len = wr_jd_unescape(p, sp->start, sp->end, NULL);
	buf = len <= sizeof(stack) ? stack : wr_arena_alloc(arena, len);
	if (buf == NULL) {
		snprintf(why, whylen,
		         "string of %zu bytes exceeds the per-record memory",
		         len);
		return WR_EFULL;
	}
	wr_jd_unescape(p, sp->start, sp->end, buf);
	return wr_ts_parse_iso8601(buf, len, out, why, whylen);
}

/* A timestamp: epoch milliseconds or an ISO-8601 string, within years
 * 0000..9999: out of range, it would poison event time (a watermark at
 * INT64_MAX drops every later record as late). */
static int
wr_jd_timestamp(const wr_field *f, const char *p, const wr_jd_span *sp,
                wr_value *v, wr_arena *arena, char *errbuf, size_t errlen)
{
	char why[160];
	int rv;

	v->type = WR_T_TIMESTAMP;
	if (sp->kind == WR_JD_STRING) {
		rv = wr_jd_iso8601(p, sp, &v->u.i, arena, why, sizeof(why));
		if (rv != WR_OK)
			snprintf(errbuf, errlen, "field '%s': %s", f->name,
			         why);
	} else {
		rv = wr_jd_integral(f, p, sp, &v->u.i, arena, errbuf, errlen);
	}
	if (rv == WR_OK && (v->u.i < WR_TS_MIN_MS || v->u.i > WR_TS_MAX_MS)) {
		snprintf(errbuf, errlen,
		         "field '%s': timestamp %lld is outside years "
		         "0000..9999 (%lld .. %lld epoch ms)",
		         f->name, (long long)v->u.i, (long long)WR_TS_MIN_MS,
		         (long long)WR_TS_MAX_MS);
		rv = WR_EINVAL;
	}
	return rv;
}

/* Field f's value from its span (kind WR_JD_NONE when the key is absent). */
static int
wr_jd_field(const wr_field *f, const char *p, const wr_jd_span *sp, wr_value *v,
            wr_arena *arena, char *errbuf, size_t errlen)
{
	bool num = sp->kind == WR_JD_INT || sp->kind == WR_JD_REAL;

	if (sp->kind == WR_JD_NONE || sp->kind == WR_JD_NULL) {
		v->type = WR_T_NULL;
		return WR_OK;
	}
	switch (f->type) {
	case WR_T_STRING:
		v->type = WR_T_STRING;
		if (sp->kind == WR_JD_STRING)
			return wr_jd_arena_string(f, p, sp, v, arena, errbuf,
			                          errlen);
		break;
	case WR_T_LONG:
		v->type = WR_T_LONG;
		if (num)
			return wr_jd_integral(f, p, sp, &v->u.i, arena, errbuf,
			                      errlen);
		break;
	case WR_T_DOUBLE:
		v->type = WR_T_DOUBLE;
		if (sp->kind == WR_JD_INT && sp->fits) {
			v->u.d = (double)sp->ival; /* as jansson: -0 is 0 */
			return WR_OK;
		}
		if (num)
			return wr_jd_double(f, p, sp, &v->u.d, arena, errbuf,
			                    errlen);
		break;
	case WR_T_BOOL:
		v->type = WR_T_BOOL;
		v->u.b = sp->kind == WR_JD_TRUE;
		if (sp->kind == WR_JD_TRUE || sp->kind == WR_JD_FALSE)
			return WR_OK;
		break;
	case WR_T_TIMESTAMP:
		if (num || sp->kind == WR_JD_STRING)
			return wr_jd_timestamp(f, p, sp, v, arena, errbuf,
			                       errlen);
		break;
	default:
		break;
	}
	snprintf(errbuf, errlen, "field '%s': expected %s, got %s", f->name,
	         wr_type_name(f->type), wr_jd_kind_name(sp->kind));
	return WR_EINVAL;
}

int
wr_row_from_json(const wr_schema *s, const char *json, size_t len, wr_row *out,
                 wr_arena *arena, char *errbuf, size_t errlen)
{
	wr_jd_span vals[WR_MAX_FIELDS];
	wr_jd jd = {.p = json, .len = len, .arena = arena};
	int rv;

	WR_ASSERT(s->n <= WR_MAX_FIELDS);
	out->n = 0;
	for (uint32_t k = 0; k < s->n; k++)
		vals[k].kind = WR_JD_NONE;
	rv = wr_jd_scan(&jd, s, vals, errbuf, errlen);
	for (uint32_t k = 0; k < s->n && rv == WR_OK; k++)
		rv = wr_jd_field(&s->fields[k], json, &vals[k], &out->v[k],
		                 arena, errbuf, errlen);
	if (rv == WR_OK)
		out->n = s->n;
	return rv;
}
