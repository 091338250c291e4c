/*
 * agg.c - accumulators of aggregate functions and their state encoding.
 *
 * Encoding of an accumulator (all integers are the varints of agg.h):
 *
 *   acc   = version:u8 (TM_AGG_FORMAT_VERSION)  slot{naggs}
 *   count           n
 *   sum, avg        n  lo  zigzag(hi)        longs: the 128-bit sum
 *                   n  bits:8 (little-endian)  doubles
 *   min, max        value
 *   first, last     value [zigzag(ts) unless value is NULL]
 *   count_distinct  count  (len bytes[len]){count}, strictly increasing
 *   value = type:u8 payload, as the row codec: string len bytes, long and
 *           timestamp zigzag, double 8 bytes little-endian, bool u8
 *
 * count_distinct's entries are canonical value encodings: -0.0 is stored
 * as 0.0 and every NaN as one NaN, so that two values are one entry
 * exactly when wr_value_equal says they are equal.
 */
#include "agg.h"

#include "varint.h"

#include "err.h"
#include "mem.h"
#include "wr_assert.h"

#include <stdlib.h>
#include <string.h>

void
tm_agg_put_u64(wr_buf *out, uint64_t v)
{
	wr_varint_put(out, v);
}

int
tm_agg_get_u64(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
	return wr_varint_get(p, len, pos, out);
}

void
tm_agg_put_i64(wr_buf *out, int64_t v)
{
	tm_agg_put_u64(out, ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0));
}

int
tm_agg_get_i64(const uint8_t *p, size_t len, size_t *pos, int64_t *out)
{
	uint64_t u;
	if (tm_agg_get_u64(p, len, pos, &u) != WR_OK)
		return WR_ECORRUPT;
	int64_t half = (int64_t)(u >> 1);
	*out = (u & 1) ? -half - 1 : half;
	return WR_OK;
}

static uint64_t
tm_agg_dbits(double d)
{
	uint64_t bits;
	memcpy(&bits, &d, sizeof(bits));
	return bits;
}

static double
tm_agg_dfrom(uint64_t bits)
{
	double d;
	memcpy(&d, &bits, sizeof(d));
	return d;
}

static void
tm_agg_put_u64le(wr_buf *out, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	wr_buf_append(out, b, sizeof(b));
}

static int
tm_agg_get_u64le(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
	if (len - *pos < 8)
		return WR_ECORRUPT;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[*pos + (size_t)i] << (8 * i);
	*pos += 8;
	*out = v;
	return WR_OK;
}

/* canonical: the count_distinct form (one encoding per equal value). */
static void
tm_agg_put_value(wr_buf *out, const wr_value *v, bool canonical)
{
	wr_value c = *v;
	/* Canonical: every NaN and both zeros encode alike, so equal values
	 * (wr_value_equal) have equal bytes in sorted sets. */
	if (canonical && c.type == WR_T_DOUBLE && c.u.d != c.u.d)
		c.u.d = __builtin_nan("");
	else if (canonical && c.type == WR_T_DOUBLE && c.u.d == 0.0)
		c.u.d = 0.0;
	wr_value_encode(&c, out);
}

/* Strings point into p. */
static int
tm_agg_get_value(const uint8_t *p, size_t len, size_t *pos, wr_value *v)
{
	memset(v, 0, sizeof(*v));
	return wr_value_decode(p, len, pos, v);
}

/* Java's Double.compare: -0.0 < 0.0, NaN above everything and equal to
 * itself, so min and max do not depend on the order of their inputs. */
static int
tm_agg_cmp_double(double a, double b)
{
	bool an = a != a, bn = b != b;
	if (an || bn)
		return an == bn ? 0 : an ? 1 : -1;
	if (a < b)
		return -1;
	if (a > b)
		return 1;
	bool as = __builtin_signbit(a) != 0, bs = __builtin_signbit(b) != 0;
	return as == bs ? 0 : as ? -1 : 1;
}

static int
tm_agg_cmp_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n > 0 ? memcmp(a, b, n) : 0;
	if (c != 0)
		return c < 0 ? -1 : 1;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* Orders two non-NULL values of one type. */
static int
tm_agg_cmp(const wr_value *a, const wr_value *b)
{
	switch (a->type) {
	case WR_T_STRING:
		return tm_agg_cmp_bytes(a->u.s.p, a->u.s.len, b->u.s.p,
		                        b->u.s.len);
	case WR_T_DOUBLE:
		return tm_agg_cmp_double(a->u.d, b->u.d);
	case WR_T_BOOL:
		return (int)a->u.b - (int)b->u.b;
	default:
		return a->u.i < b->u.i ? -1 : a->u.i > b->u.i ? 1 : 0;
	}
}

/* Copies v into the slot, strings into the slot's own storage. */
static void
tm_agg_set_value(tm_agg_slot *s, const wr_value *v, int64_t ts)
{
	s->v = *v;
	s->ts = ts;
	if (v->type != WR_T_STRING)
		return;
	if (s->scap < v->u.s.len) {
		s->sbuf = wr_xrealloc(s->sbuf, v->u.s.len);
		s->scap = v->u.s.len;
	}
	if (v->u.s.len > 0)
		memcpy(s->sbuf, v->u.s.p, v->u.s.len);
	s->v.u.s.p = s->sbuf;
}

/* ---- count_distinct's set ---- */

static void
tm_agg_set_fini(tm_agg_set *set)
{
	wr_buf_fini(&set->bytes);
	free(set->ent);
	memset(set, 0, sizeof(*set));
}

static const uint8_t *
tm_agg_ent_bytes(const tm_agg_set *set, size_t i)
{
	return (const uint8_t *)set->bytes.data + set->ent[i].off;
}

/* Index of the first entry >= (p, len); *found when equal. */
static size_t
tm_agg_set_find(const tm_agg_set *set, const void *p, size_t len, bool *found)
{
	size_t lo = 0, hi = set->n;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = tm_agg_cmp_bytes(tm_agg_ent_bytes(set, mid),
		                         set->ent[mid].len, p, len);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Inserts the encoded value (p, len) unless present. WR_ETOOBIG past the
 * limits, the set unchanged. */
static int
tm_agg_set_insert(tm_agg_set *set, const void *p, size_t len)
{
	bool found;
	size_t at = tm_agg_set_find(set, p, len, &found);
	if (found)
		return WR_OK;
	if (set->n >= TM_AGG_MAX_DISTINCT ||
	    len > TM_AGG_MAX_DISTINCT_BYTES - set->bytes.len)
		return WR_ETOOBIG;
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 8;
		set->ent = wr_xrealloc(set->ent, set->cap * sizeof(*set->ent));
	}
	memmove(&set->ent[at + 1], &set->ent[at],
	        (set->n - at) * sizeof(*set->ent));
	set->ent[at].off = (uint32_t)set->bytes.len;
	set->ent[at].len = (uint32_t)len;
	wr_buf_append(&set->bytes, p, len);
	set->n++;
	return WR_OK;
}

/* ---- the accumulator ---- */

void
tm_acc_init(tm_acc *a, const wr_agg_spec *specs, size_t n, const wr_schema *in)
{
	memset(a, 0, sizeof(*a));
	a->specs = specs;
	a->in = in;
	a->n = n;
	a->slot = wr_xcalloc(n > 0 ? n : 1, sizeof(*a->slot));
	for (size_t i = 0; i < n; i++)
		wr_buf_init(&a->slot[i].set.bytes);
}

void
tm_acc_fini(tm_acc *a)
{
	for (size_t i = 0; a->slot != NULL && i < a->n; i++) {
		free(a->slot[i].sbuf);
		tm_agg_set_fini(&a->slot[i].set);
	}
	free(a->slot);
	memset(a, 0, sizeof(*a));
}

void
tm_acc_reset(tm_acc *a)
{
	for (size_t i = 0; i < a->n; i++) {
		tm_agg_slot *s = &a->slot[i];
		s->n = 0;
		s->lo = 0;
		s->hi = 0;
		s->d = 0.0;
		s->ts = 0;
		memset(&s->v, 0, sizeof(s->v));
		wr_buf_reset(&s->set.bytes);
		s->set.n = 0;
	}
}

/* Adds a 128-bit (hi, lo) to the slot's sum, wrapping at 2^128. */
static void
tm_agg_add128(tm_agg_slot *s, int64_t hi, uint64_t lo)
{
	uint64_t old = s->lo;
	s->lo += lo;
	uint64_t h = (uint64_t)s->hi + (uint64_t)hi + (s->lo < old ? 1 : 0);
	s->hi = (int64_t)h;
}

/* Folds in the non-NULL value v of record time ts. */
static int
tm_agg_slot_add(tm_agg_slot *s, const wr_agg_spec *sp, const wr_value *v,
                int64_t ts, wr_buf *scratch)
{
	switch (sp->fn) {
	case WR_AGG_SUM:
	case WR_AGG_AVG:
		s->n++;
		if (v->type == WR_T_DOUBLE)
			s->d += v->u.d;
		else
			tm_agg_add128(s, v->u.i < 0 ? -1 : 0, (uint64_t)v->u.i);
		return WR_OK;
	case WR_AGG_MIN:
	case WR_AGG_MAX: {
		int c = s->v.type == WR_T_NULL ? 0 : tm_agg_cmp(v, &s->v);
		if (s->v.type == WR_T_NULL || (sp->fn == WR_AGG_MIN && c < 0) ||
		    (sp->fn == WR_AGG_MAX && c > 0))
			tm_agg_set_value(s, v, 0);
		return WR_OK;
	}
	case WR_AGG_FIRST:
		if (s->v.type == WR_T_NULL || ts < s->ts)
			tm_agg_set_value(s, v, ts);
		return WR_OK;
	case WR_AGG_LAST:
		if (s->v.type == WR_T_NULL || ts >= s->ts)
			tm_agg_set_value(s, v, ts);
		return WR_OK;
	case WR_AGG_COUNT_DISTINCT:
		wr_buf_reset(scratch);
		tm_agg_put_value(scratch, v, true);
		return tm_agg_set_insert(&s->set, scratch->data, scratch->len);
	case WR_AGG_COUNT:
	default:
		return WR_OK;
	}
}

/* Whether inserting v (encoded into scratch) would pass the set's limits:
 * checked up front so that a failing record leaves the accumulator
 * unchanged. */
static bool
tm_agg_set_would_overflow(const tm_agg_set *set, const wr_value *v,
                          wr_buf *scratch)
{
	bool found;
	wr_buf_reset(scratch);
	tm_agg_put_value(scratch, v, true);
	tm_agg_set_find(set, scratch->data, scratch->len, &found);
	return !found &&
	       (set->n >= TM_AGG_MAX_DISTINCT ||
	        scratch->len > TM_AGG_MAX_DISTINCT_BYTES - set->bytes.len);
}

/* Every value of r the aggregates read has its field's type (or is
 * NULL), and count_distinct has room: WR_OK, or what tm_acc_add
 * returns. */
static int
tm_acc_check(const tm_acc *a, const wr_row *r, wr_buf *scratch)
{
	for (size_t i = 0; i < a->n; i++) {
		const wr_agg_spec *sp = &a->specs[i];
		if (sp->arg < 0)
			continue;
		/* A row shorter than its schema ends in NULLs. */
		if ((uint32_t)sp->arg >= r->n ||
		    r->v[sp->arg].type == WR_T_NULL)
			continue;
		const wr_value *v = &r->v[sp->arg];
		if (v->type != (uint8_t)a->in->fields[sp->arg].type)
			return WR_ECORRUPT;
		if (sp->fn == WR_AGG_COUNT_DISTINCT &&
		    tm_agg_set_would_overflow(&a->slot[i].set, v, scratch))
			return WR_ETOOBIG;
	}
	return WR_OK;
}

int
tm_acc_add(tm_acc *a, const wr_row *r, int64_t ts)
{
	wr_buf scratch;
	wr_buf_init(&scratch);
	int rv = tm_acc_check(a, r, &scratch);
	for (size_t i = 0; i < a->n && rv == WR_OK; i++) {
		const wr_agg_spec *sp = &a->specs[i];
		if (sp->fn == WR_AGG_COUNT) {
			a->slot[i].n++;
			continue;
		}
		if ((uint32_t)sp->arg >= r->n)
			continue;
		const wr_value *v = &r->v[sp->arg];
		if (v->type != WR_T_NULL)
			rv = tm_agg_slot_add(&a->slot[i], sp, v, ts, &scratch);
	}
	wr_buf_fini(&scratch);
	return rv;
}

static int
tm_agg_slot_merge(tm_agg_slot *d, const tm_agg_slot *s, const wr_agg_spec *sp)
{
	switch (sp->fn) {
	case WR_AGG_COUNT:
		d->n += s->n;
		return WR_OK;
	case WR_AGG_SUM:
	case WR_AGG_AVG:
		d->n += s->n;
		d->d += s->d;
		tm_agg_add128(d, s->hi, s->lo);
		return WR_OK;
	case WR_AGG_COUNT_DISTINCT:
		for (size_t j = 0; j < s->set.n; j++) {
			int rv = tm_agg_set_insert(&d->set,
			                           tm_agg_ent_bytes(&s->set, j),
			                           s->set.ent[j].len);
			if (rv != WR_OK)
				return rv;
		}
		return WR_OK;
	default:
		break;
	}
	if (s->v.type == WR_T_NULL)
		return WR_OK;
	if (d->v.type == WR_T_NULL)
		tm_agg_set_value(d, &s->v, s->ts);
	else if (sp->fn == WR_AGG_FIRST  ? s->ts < d->ts
	         : sp->fn == WR_AGG_LAST ? s->ts >= d->ts
	         : sp->fn == WR_AGG_MIN  ? tm_agg_cmp(&s->v, &d->v) < 0
	                                 : tm_agg_cmp(&s->v, &d->v) > 0)
		tm_agg_set_value(d, &s->v, s->ts);
	return WR_OK;
}

int
tm_acc_merge(tm_acc *dst, const tm_acc *src)
{
	WR_ASSERT(dst->n == src->n);
	for (size_t i = 0; i < dst->n; i++) {
		int rv = tm_agg_slot_merge(&dst->slot[i], &src->slot[i],
		                           &dst->specs[i]);
		if (rv != WR_OK)
			return rv;
	}
	return WR_OK;
}

static void
tm_agg_slot_encode(const tm_agg_slot *s, const wr_agg_spec *sp, enum wr_type in,
                   wr_buf *out)
{
	switch (sp->fn) {
	case WR_AGG_COUNT:
		tm_agg_put_u64(out, (uint64_t)s->n);
		return;
	case WR_AGG_SUM:
	case WR_AGG_AVG:
		tm_agg_put_u64(out, (uint64_t)s->n);
		if (in == WR_T_DOUBLE) {
			tm_agg_put_u64le(out, tm_agg_dbits(s->d));
		} else {
			tm_agg_put_u64(out, s->lo);
			tm_agg_put_i64(out, s->hi);
		}
		return;
	case WR_AGG_COUNT_DISTINCT:
		tm_agg_put_u64(out, s->set.n);
		for (size_t j = 0; j < s->set.n; j++) {
			tm_agg_put_u64(out, s->set.ent[j].len);
			wr_buf_append(out, tm_agg_ent_bytes(&s->set, j),
			              s->set.ent[j].len);
		}
		return;
	default:
		tm_agg_put_value(out, &s->v, false);
		if ((sp->fn == WR_AGG_FIRST || sp->fn == WR_AGG_LAST) &&
		    s->v.type != WR_T_NULL)
			tm_agg_put_i64(out, s->ts);
		return;
	}
}

void
tm_acc_encode(const tm_acc *a, wr_buf *out)
{
	uint8_t version = TM_AGG_FORMAT_VERSION;
	wr_buf_append(out, &version, 1);
	for (size_t i = 0; i < a->n; i++) {
		const wr_agg_spec *sp = &a->specs[i];
		enum wr_type in =
		    sp->arg >= 0 ? a->in->fields[sp->arg].type : WR_T_NULL;
		tm_agg_slot_encode(&a->slot[i], sp, in, out);
	}
}

/* count_distinct's entries, which must be strictly increasing. */
static int
tm_agg_set_decode(tm_agg_set *set, const uint8_t *p, size_t len, size_t *pos)
{
	uint64_t n, elen;
	if (tm_agg_get_u64(p, len, pos, &n) != WR_OK || n > TM_AGG_MAX_DISTINCT)
		return WR_ECORRUPT;
	for (uint64_t j = 0; j < n; j++) {
		if (tm_agg_get_u64(p, len, pos, &elen) != WR_OK ||
		    elen > len - *pos)
			return WR_ECORRUPT;
		const uint8_t *e = p + *pos;
		if (set->n > 0 &&
		    tm_agg_cmp_bytes(tm_agg_ent_bytes(set, set->n - 1),
		                     set->ent[set->n - 1].len, e, elen) >= 0)
			return WR_ECORRUPT;
		if (tm_agg_set_insert(set, e, (size_t)elen) != WR_OK)
			return WR_ECORRUPT;
		*pos += (size_t)elen;
	}
	return WR_OK;
}

static int
tm_agg_slot_decode(tm_agg_slot *s, const wr_agg_spec *sp, enum wr_type in,
                   const uint8_t *p, size_t len, size_t *pos)
{
	uint64_t u;
	wr_value v;

	switch (sp->fn) {
	case WR_AGG_COUNT:
	case WR_AGG_SUM:
	case WR_AGG_AVG:
		if (tm_agg_get_u64(p, len, pos, &u) != WR_OK || u > INT64_MAX)
			return WR_ECORRUPT;
		s->n = (int64_t)u;
		if (sp->fn == WR_AGG_COUNT)
			return WR_OK;
		if (in == WR_T_DOUBLE) {
			if (tm_agg_get_u64le(p, len, pos, &u) != WR_OK)
				return WR_ECORRUPT;
			s->d = tm_agg_dfrom(u);
			return WR_OK;
		}
		if (tm_agg_get_u64(p, len, pos, &s->lo) != WR_OK)
			return WR_ECORRUPT;
		return tm_agg_get_i64(p, len, pos, &s->hi);
	case WR_AGG_COUNT_DISTINCT:
		return tm_agg_set_decode(&s->set, p, len, pos);
	default:
		break;
	}
	if (tm_agg_get_value(p, len, pos, &v) != WR_OK ||
	    (v.type != WR_T_NULL && v.type != (uint8_t)in))
		return WR_ECORRUPT;
	int64_t ts = 0;
	if ((sp->fn == WR_AGG_FIRST || sp->fn == WR_AGG_LAST) &&
	    v.type != WR_T_NULL && tm_agg_get_i64(p, len, pos, &ts) != WR_OK)
		return WR_ECORRUPT;
	if (v.type != WR_T_NULL)
		tm_agg_set_value(s, &v, ts);
	return WR_OK;
}

int
tm_acc_decode(tm_acc *a, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t pos = 1;

	tm_acc_reset(a);
	if (len < 1 || p[0] != TM_AGG_FORMAT_VERSION)
		return WR_ECORRUPT;
	for (size_t i = 0; i < a->n; i++) {
		const wr_agg_spec *sp = &a->specs[i];
		enum wr_type in =
		    sp->arg >= 0 ? a->in->fields[sp->arg].type : WR_T_NULL;
		if (tm_agg_slot_decode(&a->slot[i], sp, in, p, len, &pos) !=
		    WR_OK) {
			tm_acc_reset(a);
			return WR_ECORRUPT;
		}
	}
	if (pos != len) {
		tm_acc_reset(a);
		return WR_ECORRUPT;
	}
	return WR_OK;
}

/* The 128-bit sum as a double (exact while it fits in 53 bits). */
static double
tm_agg_sum128_double(const tm_agg_slot *s)
{
	if ((s->hi == 0 && s->lo <= INT64_MAX) ||
	    (s->hi == -1 && s->lo > INT64_MAX))
		return (double)(int64_t)s->lo;
	return (double)s->hi * 18446744073709551616.0 + (double)s->lo;
}

void
tm_acc_result(const tm_acc *a, size_t i, wr_value *out)
{
	const wr_agg_spec *sp = &a->specs[i];
	const tm_agg_slot *s = &a->slot[i];

	memset(out, 0, sizeof(*out));
	switch (sp->fn) {
	case WR_AGG_COUNT:
		out->type = WR_T_LONG;
		out->u.i = s->n;
		return;
	case WR_AGG_COUNT_DISTINCT:
		out->type = WR_T_LONG;
		out->u.i = (int64_t)s->set.n;
		return;
	case WR_AGG_SUM:
		if (s->n == 0)
			return;
		out->type = (uint8_t)sp->type;
		if (sp->type == WR_T_DOUBLE)
			out->u.d = s->d;
		else
			out->u.i = (int64_t)s->lo; /* wraps, as Java's long */
		return;
	case WR_AGG_AVG:
		if (s->n == 0)
			return;
		out->type = WR_T_DOUBLE;
		out->u.d = (a->in->fields[sp->arg].type == WR_T_DOUBLE
		                ? s->d
		                : tm_agg_sum128_double(s)) /
		           (double)s->n;
		return;
	default:
		*out = s->v;
		return;
	}
}
