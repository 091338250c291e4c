/*
 * evbuf.h - the event-time sort buffer of keyed operators (anomaly, and
 * CEP next): records of a key wait in keyed state until the watermark
 * passes their event time, then come back in (ts, arrival) order.
 *
 * Contract:
 *   - tm_evbuf_put: a record of key (in key group kg) at ts. When ts is at
 *     or before the watermark wm the operator was last handed, it is late:
 *     *late is set and nothing is kept (the operator sends it to its side
 *     output when tm_has_side, else counts TM_COUNT_LATE_DROPPED, op.h).
 *     Otherwise the record (the record codec, record.h) is stored and an
 *     event-time timer (key, ts) with the buffer's tag is set through
 *     cfg.timer_set (tm_evbuf_timer_set in an operator: tm_timer_set).
 *   - when that timer fires (the watermark reached ts), the operator
 *     calls tm_evbuf_release(kg, key, ts): every record of the key at
 *     ts, in arrival order, goes to fn and is deleted. The timer service
 *     fires a key's timers in time order, so the key's records come back
 *     in (ts, arrival) order, each once.
 *   - nothing stays in memory between calls: a checkpoint of the backend
 *     holds every waiting record with its timer, and a restore (also with
 *     rescaling: wr_state_import of a range of key groups) gives them
 *     back; the sequence numbers go with them.
 *
 * State (key group kg, then):
 *   state_id      key ++ ts (8 bytes, big-endian, sign bit flipped) ++
 *                 seq (8 bytes, big-endian) -> the record (record codec)
 *   state_id + 1  key ++ ts (as above) -> records waiting at (key, ts)
 *                 (8 bytes, little-endian): the next seq; deleted on
 *                 release, so seqs restart at 0 for a ts seen again
 * The key is the operator's (tm_evbuf_key: the key values as a row, the
 * record codec), at most TM_EVBUF_MAX_KEY_BYTES.
 *
 * @thread one: the backend's (the task's).
 */
#ifndef TM_EVBUF_H
#define TM_EVBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "jobspec.h"
#include "record.h"
#include "state.h"

typedef struct tm_evbuf tm_evbuf;

/* Sets an event-time timer of key in kg at ts with tag (idempotent). */
typedef int (*tm_evbuf_timer_fn)(void *arg, int kg, const void *key,
                                 size_t klen, int64_t ts, uint8_t tag);

typedef struct tm_evbuf_cfg {
	uint8_t state_id; /* uses state_id and state_id + 1 */
	uint8_t timer_tag;
	tm_evbuf_timer_fn timer_set;
	void *timer_arg; /* an operator: its tm_ctx */
} tm_evbuf_cfg;

/* A released record: r and its strings are valid during the call. */
typedef int (*tm_evbuf_fn)(void *arg, int64_t ts, const wr_row *r);

/* st stays the caller's. */
tm_evbuf *tm_evbuf_new(const tm_evbuf_cfg *cfg, wr_state *st);
/* Accepts NULL. */
void tm_evbuf_free(tm_evbuf *b);

/* Errors: WR_ETOOBIG (key over TM_EVBUF_MAX_KEY_BYTES, record over a
 * state value), the backend's, the timer function's. */
int tm_evbuf_put(tm_evbuf *b, int kg, const void *key, size_t klen, int64_t ts,
                 int64_t wm, const wr_row *r, bool *late);

/* The timer (kg, key, ts) fired. Errors: WR_ECORRUPT (a record that does
 * not decode), the backend's, fn's (the records before it are gone). */
int tm_evbuf_release(tm_evbuf *b, int kg, const void *key, size_t klen,
                     int64_t ts, tm_evbuf_fn fn, void *arg);

/* What this buffer did since tm_evbuf_new (not carried by restores). */
typedef struct tm_evbuf_stats {
	uint64_t put, late, released;
} tm_evbuf_stats;
void tm_evbuf_get_stats(const tm_evbuf *b, tm_evbuf_stats *out);

/* ---- what keyed operators share ---- */

/* The timer function of an operator: arg is its tm_ctx (op.h). */
int tm_evbuf_timer_set(void *ctx, int kg, const void *key, size_t klen,
                       int64_t ts, uint8_t tag);

/* Encodes r's key (node's key fields, as a row) into key and finds its
 * key group as the shuffle routes it (wr_value_hash chained from 0).
 * WR_ETOOBIG: the key is over TM_EVBUF_MAX_KEY_BYTES. */
int tm_evbuf_key(const wr_node_spec *n, const wr_row *r, int max_parallelism,
                 wr_buf *key, int *kg);

/* The index in node's input (schema in) of the event-time field: the
 * field named as its source's event_time field. -1 with errbuf (naming
 * the operator as what, "window"): none. */
int tm_evbuf_time_field(const wr_jobspec *job, const wr_node_spec *n,
                        const wr_schema *in, const char *what, char *errbuf,
                        size_t errlen);

/* An operator's watermark as its snapshot (8 bytes, little-endian). */
void tm_evbuf_wm_snapshot(wr_buf *out, int64_t wm);
/* The lowest (highest: the highest) of the watermarks in the restored
 * snapshots into *wm; those of another length (none, an empty snapshot)
 * are skipped, and *wm is left as it is when no snapshot has one. */
struct tm_op_state;
void tm_evbuf_wm_restore(const struct tm_op_state *states, int n, bool highest,
                         int64_t *wm);

#endif
