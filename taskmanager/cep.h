/*
 * cep.h - the pattern-matching engine of a `pattern:` node (CEP,
 * docs/cep.md): per key, the partial matches of the node's steps,
 * advanced by each event of the key in event-time order, emitting a row
 * per match and per timed-out partial match.
 *
 * The engine is pure: no task, no threads, no clock. Its operator feeds
 * it each key's events in event-time order (it buffers records and
 * releases them, sorted, as the watermark passes them) and then calls
 * tm_cep_advance with the watermark, which expires the partial matches
 * `within` has passed. The partial matches live in the keyed state
 * backend the caller passes (one entry per key, and one timer per key
 * with any partial match when the pattern has `within`), so a checkpoint
 * of that backend (wr_state_snapshot / view) holds them and a restore
 * (wr_state_import of a key-group range) brings them back, rescaled by
 * key group. State ids: TM_CEP_ST_KEYS and TM_CEP_ST_TIMERS below.
 *
 * @thread one: the operator's (the backend's) thread.
 */
#ifndef TM_CEP_H
#define TM_CEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobspec.h"
#include "record.h"
#include "state.h"

/* State ids of the engine's entries. A keyed operator heads its vertex and
 * owns its task's backend (as the window operator, whose ids are 1 to 5);
 * the CEP ids are distinct from those all the same, so that a backend
 * listing shows whose entries it holds.
 *   KEYS:   key -> the key's partial matches (format in cep.c)
 *   TIMERS: the earliest expiry of the key's partial matches (8 bytes,
 *           big-endian, sign flipped, so that keys sort by time), key
 *           -> nothing */
enum tm_cep_state_id { TM_CEP_ST_KEYS = 16, TM_CEP_ST_TIMERS = 17 };

typedef struct tm_cep tm_cep;

/*
 * A match or a timed-out partial match, as a row of the node's output
 * schema: the key fields, match_start, match_end (the first and last
 * matched events' times) and the emit fields (a step without an event
 * gives null, count gives 0). Strings point into memory valid during the
 * call only. A non-zero return stops the feed or advance, which returns
 * it (the operator then fails the task; the state may hold the event's
 * effect in part, which the restore from the last checkpoint undoes).
 */
typedef int (*tm_cep_emit_fn)(void *arg, const wr_row *out);

typedef struct tm_cep_opts {
	/* WR_NODE_PATTERN (rows fed have its input schema); outlives the
	 * engine */
	const wr_node_spec *node;
	wr_state *st;               /* the backend; outlives the engine */
	uint16_t kg_first, kg_last; /* the key groups fed (advance scans) */
	tm_cep_emit_fn on_match;
	tm_cep_emit_fn on_timeout; /* NULL: expired partials just go */
	void *arg;
} tm_cep_opts;

typedef struct tm_cep_stats {
	uint64_t matches;  /* rows given to on_match */
	uint64_t timeouts; /* rows given to on_timeout */
	/* partial matches not kept because their key already held
	 * TM_CEP_MAX_PARTIALS (docs/cep.md: limits) */
	uint64_t dropped;
} tm_cep_stats;

/* Compiles the node's pattern. The backend may already hold the engine's
 * entries (a restore). Errors: WR_EINVAL (not a pattern node). */
int tm_cep_new(const tm_cep_opts *o, tm_cep **out);
/* Accepts NULL. Leaves the state as it is. */
void tm_cep_free(tm_cep *c);

/*
 * The next event of key (klen bytes; its key group kg, in the engine's
 * range) at event time ts, row of the input schema. Events of one key
 * come in ts order (ties in arrival order); before it, partial matches
 * that ts puts past `within` expire (timeouts). Errors: WR_ETOOBIG (key
 * over TM_CEP_MAX_KEY_BYTES), WR_EINVAL (kg out of range), WR_ECORRUPT
 * (an unreadable state entry), WR_EPROTO (an entry of format 1, written
 * before aggregates, for a pattern with aggregates: it lacks them), the
 * state backend's, a callback's.
 */
int tm_cep_feed(tm_cep *c, uint16_t kg, const void *key, size_t klen,
                const wr_row *row, int64_t ts);

/* The watermark reached wm: no event with ts <= wm comes any more, so
 * every partial match that only such events could extend expires (its
 * first event's ts + within - 1 <= wm). Errors as tm_cep_feed. */
int tm_cep_advance(tm_cep *c, int64_t wm);

void tm_cep_get_stats(const tm_cep *c, tm_cep_stats *out);

#endif
