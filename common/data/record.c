/*
 * record.c - rows: schemas, JSON encoding, the binary row codec, value
 * hashing and equality, ISO-8601 timestamps (JSON decoding is in
 * json_decode.c). docs/records.md describes the formats.
 */
#include "record.h"
#include "varint.h"

#include "err.h"
#include "mem.h"
#include "parse.h"
#include "wr_assert.h"
#include "wr_limits.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WR_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- types and schemas ---- */

static const char *const wr_type_names[] = {
    [WR_T_NULL] = "null", [WR_T_STRING] = "string",
    [WR_T_LONG] = "long", [WR_T_DOUBLE] = "double",
    [WR_T_BOOL] = "bool", [WR_T_TIMESTAMP] = "timestamp",
};

const char *
wr_type_name(enum wr_type t)
{
	if ((unsigned)t >= WR_NELEM(wr_type_names))
		return "unknown";
	return wr_type_names[t];
}

int
wr_type_parse(const char *s)
{
	/* "null" is a value's type, never a field's. */
	if (s == NULL)
		return -1;
	for (int t = WR_T_STRING; t <= WR_T_TIMESTAMP; t++)
		if (strcmp(s, wr_type_names[t]) == 0)
			return t;
	return -1;
}

int
wr_schema_index(const wr_schema *s, const char *name)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (strcmp(s->fields[i].name, name) == 0)
			return (int)i;
	return -1;
}

int
wr_schema_add(wr_schema *s, const char *name, enum wr_type type)
{
	if (type < WR_T_STRING || type > WR_T_TIMESTAMP || name == NULL)
		return WR_EINVAL;
	if (wr_schema_index(s, name) >= 0)
		return WR_EEXIST;
	if (s->n >= WR_MAX_FIELDS)
		return WR_EFULL;
	s->fields[s->n].name = wr_xstrdup(name);
	s->fields[s->n].type = type;
	s->n++;
	return WR_OK;
}

void
wr_schema_copy(wr_schema *dst, const wr_schema *src)
{
	WR_ASSERT(dst != src && src->n <= WR_MAX_FIELDS);
	dst->n = src->n;
	for (uint32_t i = 0; i < src->n; i++) {
		dst->fields[i].name = wr_xstrdup(src->fields[i].name);
		dst->fields[i].type = src->fields[i].type;
	}
}

void
wr_schema_fini(wr_schema *s)
{
	if (s == NULL)
		return;
	for (uint32_t i = 0; i < s->n; i++) {
		free(s->fields[i].name);
		s->fields[i].name = NULL;
	}
	s->n = 0;
}

/* ---- ISO-8601 timestamps ---- */

#define WR_MS_PER_DAY INT64_C(86400000)

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil: exact for any year, no libc, no locale). */
static int64_t
wr_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse of wr_days_from_civil. */
static void
wr_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned
wr_days_in_month(unsigned y, unsigned m)
{
	static const unsigned char days[] = {31, 28, 31, 30, 31, 30,
	                                     31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads n decimal digits at p (no sign, no blanks). */
static bool
wr_iso_digits(const char *p, unsigned n, unsigned *out)
{
	unsigned v = 0;
	for (unsigned i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*out = v;
	return true;
}

/* The date and time of day, "YYYY-MM-DDTHH:MM:SS" (19 bytes), as epoch ms
 * of that wall-clock time in UTC. NULL or the reason it is wrong. */
static const char *
wr_iso_datetime(const char *s, int64_t *ms)
{
	unsigned y, mo, d, h, mi, sec;

	if (!wr_iso_digits(s, 4, &y) || s[4] != '-' ||
	    !wr_iso_digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !wr_iso_digits(s + 8, 2, &d) || s[10] != 'T' ||
	    !wr_iso_digits(s + 11, 2, &h) || s[13] != ':' ||
	    !wr_iso_digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !wr_iso_digits(s + 17, 2, &sec))
		return "expected YYYY-MM-DDTHH:MM:SS";
	if (mo < 1 || mo > 12)
		return "month out of range";
	if (d < 1 || d > wr_days_in_month(y, mo))
		return "day out of range for the month";
	if (h > 23 || mi > 59 || sec > 59)
		return "time of day out of range";
	*ms = wr_days_from_civil(y, mo, d) * WR_MS_PER_DAY +
	      ((int64_t)h * 3600 + mi * 60 + sec) * 1000;
	return NULL;
}

/* ".SSS..." (1 to 9 digits) at s[*i], cut to milliseconds. */
static const char *
wr_iso_fraction(const char *s, size_t len, size_t *i, int64_t *ms)
{
	size_t start;
	unsigned ndigits = 0, frac = 0;

	if (*i >= len || s[*i] != '.')
		return NULL;
	start = ++*i;
	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		if (ndigits < 3)
			frac = frac * 10 + (unsigned)(s[*i] - '0');
		ndigits++;
		++*i;
	}
	if (*i == start || *i - start > 9)
		return "fractional seconds need 1 to 9 digits";
	for (unsigned k = ndigits; k < 3; k++)
		frac *= 10;
	*ms += frac;
	return NULL;
}

/* "Z", "+hh:mm" or "-hh:mm" ending the string: the offset from UTC. */
static const char *
wr_iso_zone(const char *s, size_t len, size_t i, int64_t *offset_ms)
{
	unsigned h, m;

	if (i == len)
		return "missing time zone (Z or +hh:mm)";
	if (s[i] == 'Z') {
		*offset_ms = 0;
		return i + 1 == len ? NULL
		                    : "trailing characters after the zone";
	}
	if (s[i] != '+' && s[i] != '-')
		return "missing time zone (Z or +hh:mm)";
	if (len - i != 6 || !wr_iso_digits(s + i + 1, 2, &h) ||
	    s[i + 3] != ':' || !wr_iso_digits(s + i + 4, 2, &m))
		return "zone offset must be +hh:mm or -hh:mm";
	if (h > 23 || m > 59)
		return "zone offset out of range";
	*offset_ms = ((int64_t)h * 60 + m) * 60000;
	if (s[i] == '-')
		*offset_ms = -*offset_ms;
	return NULL;
}

int
wr_ts_parse_iso8601(const char *s, size_t len, int64_t *out_ms, char *errbuf,
                    size_t errlen)
{
	const char *why = NULL;
	size_t i = 19;
	int64_t ms = 0, offset_ms = 0;
	char quoted[48];

	if (len < 19)
		why = "expected YYYY-MM-DDTHH:MM:SS";
	if (why == NULL)
		why = wr_iso_datetime(s, &ms);
	if (why == NULL)
		why = wr_iso_fraction(s, len, &i, &ms);
	if (why == NULL)
		why = wr_iso_zone(s, len, i, &offset_ms);
	if (why != NULL) {
		wr_quote_for_msg(s, len, quoted, sizeof(quoted));
		snprintf(errbuf, errlen, "invalid ISO-8601 timestamp '%s': %s",
		         quoted, why);
		return WR_EINVAL;
	}
	/* Local time = UTC + offset. */
	*out_ms = ms - offset_ms;
	return WR_OK;
}

/* Floor division and modulo for possibly negative epoch ms. */
static int64_t
wr_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Writes v as n decimal digits, zero-padded (v < 10^n). */
static void
wr_put_digits(char *p, unsigned v, unsigned n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

bool
wr_ts_format_iso8601(int64_t epoch_ms, char out[WR_TS_ISO_BYTES])
{
	int64_t days = wr_floor_div(epoch_ms, WR_MS_PER_DAY);
	unsigned in_day = (unsigned)(epoch_ms - days * WR_MS_PER_DAY);
	int64_t y;
	unsigned m, d;

	wr_civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return false;
	memcpy(out, "0000-00-00T00:00:00.000Z", WR_TS_ISO_BYTES);
	wr_put_digits(out, (unsigned)y, 4);
	wr_put_digits(out + 5, m, 2);
	wr_put_digits(out + 8, d, 2);
	wr_put_digits(out + 11, in_day / 3600000, 2);
	wr_put_digits(out + 14, in_day / 60000 % 60, 2);
	wr_put_digits(out + 17, in_day / 1000 % 60, 2);
	wr_put_digits(out + 20, in_day % 1000, 3);
	return true;
}

/* ---- JSON encoding ---- */

/* Appends p[0..len) as a JSON string: quotes, backslashes and control
 * characters escaped, every other byte (UTF-8 included) as is. */
static void
wr_json_put_str(wr_buf *out, const char *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	wr_buf_reserve(out, len + 2);
	wr_buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		wr_buf_append(out, p + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			n = 6;
		}
		wr_buf_append(out, esc, n);
	}
	wr_buf_append(out, p + run, len - run);
	wr_buf_putc(out, '"');
}

/* The shortest of %.15g, %.16g, %.17g that reads back as the same double
 * (17 digits always do). JSON has no NaN or infinities: null. */
static void
wr_json_put_double(wr_buf *out, double d)
{
	char tmp[32];

	if (!isfinite(d)) {
		wr_buf_puts(out, "null");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	wr_buf_puts(out, tmp);
}

static void
wr_json_put_value(wr_buf *out, const wr_value *v)
{
	char ts[WR_TS_ISO_BYTES];

	switch (v->type) {
	case WR_T_STRING:
		wr_json_put_str(out, v->u.s.p, v->u.s.len);
		break;
	case WR_T_LONG:
		wr_buf_printf(out, "%lld", (long long)v->u.i);
		break;
	case WR_T_DOUBLE:
		wr_json_put_double(out, v->u.d);
		break;
	case WR_T_BOOL:
		wr_buf_puts(out, v->u.b ? "true" : "false");
		break;
	case WR_T_TIMESTAMP:
		/* Outside years 0000..9999 (only arithmetic makes one: sources
		 * refuse them) no ISO-8601 string exists and no source would
		 * read epoch ms back: null, as for a double's NaN. */
		if (wr_ts_format_iso8601(v->u.i, ts))
			wr_json_put_str(out, ts, strlen(ts));
		else
			wr_buf_puts(out, "null");
		break;
	case WR_T_NULL:
	default:
		wr_buf_puts(out, "null");
		break;
	}
}

void
wr_row_to_json(const wr_schema *s, const wr_row *r, wr_buf *out)
{
	static const wr_value null_value = {.type = WR_T_NULL};

	wr_buf_putc(out, '{');
	for (uint32_t i = 0; i < s->n; i++) {
		const char *name = s->fields[i].name;
		/* A row shorter than its schema (from a peer) ends in NULLs. */
		const wr_value *v = i < r->n ? &r->v[i] : &null_value;

		if (i > 0)
			wr_buf_putc(out, ',');
		wr_json_put_str(out, name, strlen(name));
		wr_buf_putc(out, ':');
		wr_json_put_value(out, v);
	}
	wr_buf_putc(out, '}');
}

/* ---- binary row codec ---- */

/* Varints and doubles little-endian whatever the host, so rows travel
 * between machines. */

static uint64_t
wr_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
}

static int64_t
wr_unzigzag(uint64_t u)
{
	int64_t half = (int64_t)(u >> 1);
	return (u & 1) ? -half - 1 : half;
}

static uint64_t
wr_double_bits(double d)
{
	uint64_t bits;
	memcpy(&bits, &d, sizeof(bits));
	return bits;
}

/* The most bytes v's encoding takes: type, then a length varint and the
 * bytes, a varint, 8 bytes or 1. */
static size_t
wr_value_bound(const wr_value *v)
{
	return 1 + WR_VARINT_MAX_BYTES +
	       (v->type == WR_T_STRING ? v->u.s.len : 0);
}

static uint8_t *
wr_varint_write(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Writes v at p, which has wr_value_bound(v) bytes; returns the end. */
static uint8_t *
wr_value_write(const wr_value *v, uint8_t *p)
{
	uint64_t bits;

	WR_DASSERT(v->type <= WR_T_TIMESTAMP);
	*p++ = v->type;
	switch (v->type) {
	case WR_T_STRING:
		p = wr_varint_write(p, v->u.s.len);
		if (v->u.s.len > 0)
			memcpy(p, v->u.s.p, v->u.s.len);
		return p + v->u.s.len;
	case WR_T_LONG:
	case WR_T_TIMESTAMP:
		return wr_varint_write(p, wr_zigzag(v->u.i));
	case WR_T_DOUBLE:
		bits = wr_double_bits(v->u.d);
		for (int i = 0; i < 8; i++)
			*p++ = (uint8_t)(bits >> (8 * i));
		return p;
	case WR_T_BOOL:
		*p++ = v->u.b ? 1 : 0;
		return p;
	default:
		return p;
	}
}

void
wr_value_encode(const wr_value *v, wr_buf *out)
{
	wr_buf_reserve(out, wr_value_bound(v));
	uint8_t *p = (uint8_t *)out->data + out->len;
	out->len += (size_t)(wr_value_write(v, p) - p);
	out->data[out->len] = '\0';
}

/* One reservation and direct writes: the shuffle encodes every record
 * that crosses a network edge, and a value at a time through
 * wr_buf_append cost ~3x the instructions (callgrind, Nexmark q5). */
void
wr_row_encode(const wr_row *r, wr_buf *out)
{
	size_t bound = WR_VARINT_MAX_BYTES;

	WR_ASSERT(r->n <= WR_MAX_FIELDS);
	for (uint32_t i = 0; i < r->n; i++)
		bound += wr_value_bound(&r->v[i]);
	wr_buf_reserve(out, bound);
	uint8_t *start = (uint8_t *)out->data + out->len;
	uint8_t *p = wr_varint_write(start, r->n);
	for (uint32_t i = 0; i < r->n; i++)
		p = wr_value_write(&r->v[i], p);
	out->len += (size_t)(p - start);
	out->data[out->len] = '\0';
}

/* One value at *pos; lengths are checked against what is left. */
int
wr_value_decode(const uint8_t *buf, size_t len, size_t *pos, wr_value *v)
{
	uint64_t u = 0;

	if (*pos >= len || buf[*pos] > WR_T_TIMESTAMP)
		return WR_ECORRUPT;
	v->type = buf[(*pos)++];
	switch (v->type) {
	case WR_T_STRING:
		if (wr_varint_get(buf, len, pos, &u) != WR_OK ||
		    u > len - *pos || u > UINT32_MAX)
			return WR_ECORRUPT;
		v->u.s.p = (const char *)buf + *pos;
		v->u.s.len = (uint32_t)u;
		*pos += (size_t)u;
		return WR_OK;
	case WR_T_LONG:
	case WR_T_TIMESTAMP:
		if (wr_varint_get(buf, len, pos, &u) != WR_OK)
			return WR_ECORRUPT;
		v->u.i = wr_unzigzag(u);
		return WR_OK;
	case WR_T_DOUBLE:
		if (len - *pos < 8)
			return WR_ECORRUPT;
		for (int i = 7; i >= 0; i--)
			u = u << 8 | buf[*pos + (size_t)i];
		memcpy(&v->u.d, &u, sizeof(u));
		*pos += 8;
		return WR_OK;
	case WR_T_BOOL:
		if (*pos >= len || buf[*pos] > 1)
			return WR_ECORRUPT;
		v->u.b = buf[(*pos)++] == 1;
		return WR_OK;
	default:
		return WR_OK; /* WR_T_NULL: the type byte is all */
	}
}

int
wr_row_decode(const uint8_t *buf, size_t len, size_t *pos, wr_row *out)
{
	size_t p = *pos;
	uint64_t n;

	out->n = 0;
	if (p > len || wr_varint_get(buf, len, &p, &n) != WR_OK ||
	    n > WR_MAX_FIELDS)
		return WR_ECORRUPT;
	for (uint64_t i = 0; i < n; i++)
		if (wr_value_decode(buf, len, &p, &out->v[i]) != WR_OK)
			return WR_ECORRUPT;
	out->n = (uint32_t)n;
	*pos = p;
	return WR_OK;
}

/* ---- equality and hashing ---- */

bool
wr_value_equal(const wr_value *a, const wr_value *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case WR_T_STRING:
		return a->u.s.len == b->u.s.len &&
		       (a->u.s.len == 0 ||
		        memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0);
	case WR_T_LONG:
	case WR_T_TIMESTAMP:
		return a->u.i == b->u.i;
	case WR_T_DOUBLE:
		return a->u.d == b->u.d || (isnan(a->u.d) && isnan(b->u.d));
	case WR_T_BOOL:
		return a->u.b == b->u.b;
	case WR_T_NULL:
	default:
		return true;
	}
}

#define WR_FNV64_OFFSET UINT64_C(0xcbf29ce484222325)
#define WR_FNV64_PRIME  UINT64_C(0x100000001b3)

static uint64_t
wr_fnv_bytes(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= WR_FNV64_PRIME;
	}
	return h;
}

/* The nbytes low bytes of v, least significant first. */
static uint64_t
wr_fnv_le(uint64_t h, uint64_t v, unsigned nbytes)
{
	for (unsigned i = 0; i < nbytes; i++) {
		h ^= (uint8_t)(v >> (8 * i));
		h *= WR_FNV64_PRIME;
	}
	return h;
}

/* MurmurHash3's fmix64: FNV-1a's low bits are weak, and key groups are
 * hash % max_parallelism. */
static uint64_t
wr_fmix64(uint64_t h)
{
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

uint64_t
wr_value_hash(const wr_value *v, uint64_t h)
{
	uint64_t bits;

	h = wr_fnv_le(h ^ WR_FNV64_OFFSET, v->type, 1);
	switch (v->type) {
	case WR_T_STRING:
		/* The length first, so ("ab","c") and ("a","bc") differ. */
		h = wr_fnv_le(h, v->u.s.len, 4);
		h = wr_fnv_bytes(h, v->u.s.p, v->u.s.len);
		break;
	case WR_T_LONG:
	case WR_T_TIMESTAMP:
		h = wr_fnv_le(h, (uint64_t)v->u.i, 8);
		break;
	case WR_T_DOUBLE:
		/* Equal doubles hash equally: one NaN, one zero. */
		bits = isnan(v->u.d)   ? UINT64_C(0x7ff8000000000000)
		       : v->u.d == 0.0 ? 0
		                       : wr_double_bits(v->u.d);
		h = wr_fnv_le(h, bits, 8);
		break;
	case WR_T_BOOL:
		h = wr_fnv_le(h, v->u.b ? 1 : 0, 1);
		break;
	case WR_T_NULL:
	default:
		break;
	}
	return wr_fmix64(h);
}
