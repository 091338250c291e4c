/*
 * anomaly.h - the anomaly engine (docs/anomaly.md): per key, each value
 * against the mean and population standard deviation of the key's own
 * history, a sliding window of event time or an exponentially weighted
 * one, in keyed state. Pure: no task runtime; the anomaly operator feeds
 * it records in event-time order per key and turns what it emits into
 * rows.
 *
 * State (a wr_state the caller owns; key group as the caller computes it,
 * from the record's key):
 *   state_id      key -> the key's header: running numbers (both modes)
 *   state_id + 1  key ++ seq (8 bytes, big-endian) -> ts, value (16
 *                 bytes): the sliding history, oldest first (sliding
 *                 mode only)
 * Nothing lives in memory between calls, so a checkpoint is the backend's
 * (wr_state_snapshot / view) and a restore with rescaling is
 * wr_state_import of a range of key groups, then a new engine on it.
 *
 * @thread one: the backend's.
 */
#ifndef TM_ANOMALY_H
#define TM_ANOMALY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

typedef struct tm_anomaly tm_anomaly;

typedef struct tm_anomaly_cfg {
	int64_t history_ms; /* > 0: sliding history [ts - history, ts) */
	double ewma;        /* > 0 (and history_ms 0): weight, in (0, 1] */
	double threshold;   /* > 0 */
	int64_t min_count;  /* >= 1 */
	/* values one key's history keeps; 0 = WR_ANOMALY_MAX_HISTORY (at
	 * most that: tests use fewer) */
	uint32_t max_values;
	uint8_t state_id; /* uses state_id and state_id + 1 */
} tm_anomaly_cfg;

/* What feed emits for an anomalous record. */
typedef struct tm_anomaly_hit {
	double value;
	double mean, stddev; /* of the history (population stddev) */
	/* (value - mean) / stddev; with stddev 0 (a constant history) there
	 * is no finite score: score_null, and score is 0 */
	double score;
	bool score_null;
	uint64_t count; /* values in the history (ewma: values folded) */
} tm_anomaly_hit;

/* Returns WR_OK, or an error feed returns as is. */
typedef int (*tm_anomaly_emit_fn)(void *arg, const tm_anomaly_hit *hit);

typedef struct tm_anomaly_stats {
	uint64_t fed;
	uint64_t emitted;
	uint64_t warming;            /* fewer than min_count in the history */
	uint64_t out_of_order;       /* refused: ts before the key's last */
	uint64_t dropped_over_limit; /* evicted early: history at max_values */
	uint64_t resums;             /* exact recomputations (sliding) */
	uint64_t expired_keys;       /* keys whose whole history expired */
} tm_anomaly_stats;

/* Errors: WR_EINVAL (cfg out of range). st stays the caller's. */
int tm_anomaly_new(const tm_anomaly_cfg *cfg, wr_state *st, tm_anomaly **out);
/* Accepts NULL. */
void tm_anomaly_free(tm_anomaly *a);

/*
 * One record of key (klen bytes, the key's encoding) in key group kg:
 * evicts the key's values older than ts - history, compares value with
 * the history (emitting through fn when at least min_count values are in
 * it and |value - mean| > threshold * stddev), then adds value to the
 * history. Per key, ts must not go back: a ts before the key's last is
 * refused with WR_EINVAL (counted, state unchanged); equal ts are fine
 * (none is in the other's history). Errors: WR_ETOOBIG (key longer than
 * WR_STATE_MAX_USER_KEY - 8), those of the state backend, fn's.
 */
int tm_anomaly_feed(tm_anomaly *a, uint16_t kg, const void *key, size_t klen,
                    double value, int64_t ts, tm_anomaly_emit_fn fn, void *arg);

/*
 * Sliding mode: removes every key of key groups [kg_first, kg_last] whose
 * newest value is older than watermark - history (no record at or after
 * the watermark can see any of its values). Call it now and then, e.g.
 * every history / 2 of watermark progress: it scans the headers. EWMA
 * keys never expire (a few numbers each). *n (if not NULL) gets the keys
 * removed.
 */
int tm_anomaly_expire(tm_anomaly *a, uint16_t kg_first, uint16_t kg_last,
                      int64_t watermark, uint64_t *n);

void tm_anomaly_get_stats(const tm_anomaly *a, tm_anomaly_stats *out);

#endif
