/*
 * join_int.h - private to join.c (keys, row lists, the time index, the
 * watermark loop) and join_kinds.c (the three join forms).
 */
#ifndef TM_JOIN_INT_H
#define TM_JOIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "join.h"
#include "record.h"

/* A row list's first byte: its format. Another value is refused as
 * corrupt rather than misread. */
#define TM_JOIN_LIST_VERSION 1
/* Entry flags: a left row that matched (left interval join); a table
 * version that is a tombstone. */
#define TM_JOIN_F_MATCHED 1u
#define TM_JOIN_F_TOMB    2u
/* kg_next: unknown (scan to learn), no timer at all. */
#define TM_JOIN_KG_UNKNOWN INT64_MIN
#define TM_JOIN_KG_NONE    INT64_MAX
/* No window (the rows' state key has no window start). */
#define TM_JOIN_NO_WINDOW INT64_MIN

struct tm_join {
	tm_join_cfg c;
	int64_t wm;
	uint64_t late;
	int64_t *kg_next; /* per owned key group: earliest timer time */
	wr_buf key;       /* the current key, encoded */
	int kg;           /* its key group */
	wr_buf sk;        /* a state key being built */
	wr_buf list[2];   /* copies of the current key's row lists */
	wr_buf out;       /* a row list being rewritten */
	wr_buf tkeys;     /* timers collected by a scan */
	wr_row orow;      /* the output row being built */
	char err[256];
};

/* One entry of a row list: event time, flags, the row (its strings point
 * into the list); at is the entry's offset, flags_at its flags' offset. */
typedef struct tm_join_ent {
	int64_t ts;
	uint8_t flags;
	wr_row row;
	size_t at, flags_at;
} tm_join_ent;

/* Formats the error into j->err; returns rc. */
int tm_join_fail(tm_join *j, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets j->key and j->kg from input's key fields of r; *null true (key
 * left alone) when a key field is NULL: such a row never matches. */
int tm_join_set_key(tm_join *j, int input, const wr_row *r, bool *null);

/* The current key's row list of side (0, 1) and window (or
 * TM_JOIN_NO_WINDOW) into j->list[side]: empty when there is none. */
int tm_join_load(tm_join *j, int side, int64_t window);
/* Stores list (j->list[side] or j->out) as that row list; an empty
 * list (no entries) deletes it. */
int tm_join_store(tm_join *j, int side, int64_t window, const wr_buf *list);

/* Walks a row list: *pos starts at 0; 1 with the next entry, 0 at the
 * end, WR_ECORRUPT (as a negative: -1) on a malformed list. */
int tm_join_next(const wr_buf *list, size_t *pos, tm_join_ent *e);
/* Appends an entry to list (a fresh list gets its version byte). */
void tm_join_append(wr_buf *list, int64_t ts, uint8_t flags, const wr_row *r);
/* Appends the bytes of entry e of src to list (as tm_join_append). */
void tm_join_copy(wr_buf *list, const wr_buf *src, const tm_join_ent *e,
                  size_t end);

/* Registers a timer of kind at t for the current key. */
int tm_join_timer(tm_join *j, int64_t t, uint8_t kind);

/* Emits left + right (NULL: nulls) [+ window bounds when window !=
 * TM_JOIN_NO_WINDOW] at ts. */
int tm_join_emit(tm_join *j, const wr_row *left, const wr_row *right,
                 int64_t window, int64_t ts);

/* join_kinds.c: a record, a tombstone, and a due timer of the current key
 * (time t, kind) for each form. */
int tm_join_interval_add(tm_join *j, int input, const wr_row *r, int64_t ts);
int tm_join_interval_timer(tm_join *j, int64_t t, uint8_t kind);
int tm_join_temporal_add(tm_join *j, int input, const wr_row *r, int64_t ts,
                         bool tomb);
int tm_join_temporal_timer(tm_join *j, int64_t t, uint8_t kind);
int tm_join_window_add(tm_join *j, int input, const wr_row *r, int64_t ts);
int tm_join_window_timer(tm_join *j, int64_t t, uint8_t kind);

#endif
