/*
 * agg.h - accumulators of the aggregate functions of a window or reduce
 * node (count, sum, min, max, avg, count_distinct, first, last).
 *
 * A tm_acc holds one accumulator per aggregate of the node, in the node's
 * order. It is built up record by record (tm_acc_add), combined with
 * another one (tm_acc_merge: window panes, merged sessions), stored as a
 * compact blob in keyed state (tm_acc_encode / tm_acc_decode) and read
 * out as values of the node's output types (tm_acc_result).
 *
 * NULL inputs are ignored, as in SQL: count() counts rows, every other
 * function looks at non-NULL values only and is NULL when it saw none
 * (count_distinct is then 0). sum of longs wraps around on overflow as
 * Java's (and so Flink's) long arithmetic does; avg of longs keeps a
 * 128-bit sum. min and max order doubles as Java's Double.compare (-0.0
 * below 0.0, NaN above everything) and strings by their bytes (UTF-8 code
 * point order). first and last go by event time; on equal event times
 * first keeps the earlier arrival and last takes the later one.
 *
 * @thread one: an accumulator belongs to its task's thread.
 */
#ifndef TM_AGG_H
#define TM_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "jobspec.h"
#include "record.h"
#include "wr_limits.h"

/* First byte of every encoded accumulator: the state format's version, so
 * a later format can read (or refuse) state written by this one. */
#define TM_AGG_FORMAT_VERSION 1

_Static_assert(TM_AGG_MAX_DISTINCT_BYTES < UINT32_MAX,
               "set offsets are 32-bit");

/* The distinct values of count_distinct: canonical encodings of values
 * (see agg.c), kept sorted by their bytes. */
typedef struct tm_agg_set {
	wr_buf bytes;
	struct tm_agg_ent {
		uint32_t off, len;
	} * ent; /* sorted */
	size_t n, cap;
} tm_agg_set;

typedef struct tm_agg_slot {
	int64_t n;   /* count: rows; sum, avg: non-NULL values */
	uint64_t lo; /* sum, avg of longs: 128-bit two's complement sum */
	int64_t hi;
	double d;   /* sum, avg of doubles */
	wr_value v; /* min, max, first, last; WR_T_NULL = none yet */
	int64_t ts; /* first, last: event time of v */
	char *sbuf; /* owned storage of v's string */
	size_t scap;
	tm_agg_set set; /* count_distinct */
} tm_agg_slot;

typedef struct tm_acc {
	const wr_agg_spec *specs; /* not owned: the node's aggregates */
	const wr_schema *in;      /* not owned: the node's input schema */
	size_t n;
	tm_agg_slot *slot;
} tm_acc;

/* An empty accumulator for the n aggregates specs over rows of schema in
 * (both must outlive it). */
void tm_acc_init(tm_acc *a, const wr_agg_spec *specs, size_t n,
                 const wr_schema *in);
/* Frees what a holds. Accepts a zeroed tm_acc. */
void tm_acc_fini(tm_acc *a);
/* Back to empty; memory is kept for reuse. */
void tm_acc_reset(tm_acc *a);

/*
 * Adds one record with event time ts. Errors: WR_ECORRUPT when a value's
 * type is not its field's (rows come from the network), WR_ETOOBIG when
 * count_distinct would pass its limits (a is unchanged then).
 */
int tm_acc_add(tm_acc *a, const wr_row *r, int64_t ts);

/* Adds src into dst (same aggregates); on equal event times src counts as
 * the later arrival. Errors: WR_ETOOBIG as tm_acc_add; dst is then partly
 * merged (the caller fails its task). */
int tm_acc_merge(tm_acc *dst, const tm_acc *src);

/* Appends the accumulator's encoding to out. */
void tm_acc_encode(const tm_acc *a, wr_buf *out);

/* Replaces a's content with the encoding at p (len bytes, exactly one
 * accumulator). Copies what it keeps: p may go away afterwards. Errors:
 * WR_ECORRUPT (malformed, another version, or values beyond the limits);
 * a is empty then. */
int tm_acc_decode(tm_acc *a, const void *p, size_t len);

/* The result of aggregate i, typed as the node's output field. A string
 * points into a, valid until a changes. */
void tm_acc_result(const tm_acc *a, size_t i, wr_value *out);

/* Varints (unsigned LEB128, minimal) and zigzag, for state encodings of
 * the window operator too. tm_agg_get_u64 returns WR_ECORRUPT on a
 * truncated, overlong or non-minimal varint. */
void tm_agg_put_u64(wr_buf *out, uint64_t v);
int tm_agg_get_u64(const uint8_t *p, size_t len, size_t *pos, uint64_t *out);
void tm_agg_put_i64(wr_buf *out, int64_t v);
int tm_agg_get_i64(const uint8_t *p, size_t len, size_t *pos, int64_t *out);

#endif
