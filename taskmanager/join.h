/*
 * join.h - the join engines (docs/joins.md): stream-table (temporal),
 * interval and window joins over keyed state, with no runtime attached.
 *
 * An engine owns nothing but a wr_state it is handed (its task's backend)
 * and a little memory that can be rebuilt from it. The operator that
 * drives it (the glue on the runtime's operator API) hands it records of
 * input 0 (the left / stream side) and input 1 (the right side / the
 * table's changelog) with their event times, and watermarks; the engine
 * calls emit for each output row. Everything that must survive a failure
 * lives in the state backend, keyed by key group (the same hash chain the
 * shuffle routes by, wr_value_hash from 0 over the key fields), so a
 * snapshot of the backend is a checkpoint and importing a range of key
 * groups into another backend is a rescale. That includes the timers:
 * each engine keeps a time index in state (state id TM_JOIN_ST_TIMER)
 * and fires it from tm_join_watermark. The glue may move them onto the
 * runtime's timer service once that exists; the engine's state ids are
 * then still its own.
 *
 * State ids (docs/joins.md has the layouts): 16 rows of input 0, 17 rows
 * of input 1 (table versions for a table join), 18 the time index. They
 * do not collide with the window operator's (1-5).
 *
 * The watermark is not in state: as in Flink, it restarts from nothing
 * after a restore and the glue hands the engine the first watermark it
 * sees. Late records (event time at or before the watermark) are dropped
 * and counted (tm_join_late_dropped), as Flink drops them.
 *
 * @thread one: an engine belongs to its task's thread, as its backend.
 */
#ifndef TM_JOIN_H
#define TM_JOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobspec.h"
#include "record.h"
#include "state.h"

enum {
	TM_JOIN_ST_ROWS0 = 16, /* input 0's rows per key (and window) */
	TM_JOIN_ST_ROWS1 = 17, /* input 1's rows, versions or current row */
	TM_JOIN_ST_TIMER = 18, /* the time index */
};

/* One output row and its event time: interval max(left.ts, right.ts),
 * table join the stream record's, window join the window's end - 1.
 * The row's strings are valid during the call only. A return other than
 * WR_OK stops the engine's call, which returns it. */
typedef int (*tm_join_emit_fn)(void *arg, const wr_row *row, int64_t ts);

typedef struct tm_join_cfg {
	/* the join (tm_join_cfg_from_spec fills these from a node) */
	enum wr_join_kind kind;
	bool left_outer; /* type: left: unmatched left rows with nulls */
	bool event_time; /* table join: as_of: event_time */
	int64_t lower_ms, upper_ms;
	enum wr_window_kind window; /* tumbling or sliding */
	int64_t size_ms, slide_ms;
	int nkeys;
	int keys[2][WR_MAX_FIELDS]; /* key fields of each input's rows */
	uint32_t width[2];          /* fields of each input's rows */
	/* where it runs */
	int max_parallelism;
	int kg_first, kg_last; /* the key groups this engine owns */
	wr_state *st;          /* not owned */
	tm_join_emit_fn emit;
	void *arg;
} tm_join_cfg;

typedef struct tm_join tm_join;

/* The join settings of join node n of spec into cfg (the rest untouched). */
void tm_join_cfg_from_spec(tm_join_cfg *cfg, const wr_jobspec *spec,
                           const wr_node_spec *n);

/* Errors: WR_EINVAL (a setting out of range) with the reason in errbuf. */
int tm_join_new(const tm_join_cfg *cfg, tm_join **out, char *errbuf,
                size_t errlen);
/* Accepts NULL. The state stays as it is (the task's to close). */
void tm_join_free(tm_join *j);

/*
 * A record of input 0 or 1 with its event time (a table join in
 * processing time ignores ts). For a table join, input 1 is the
 * changelog: row is the table's new row for its primary key (an upsert;
 * with as_of event_time a new version valid from ts). Output rows may be
 * emitted before it returns (interval join: each pair once, as soon as
 * both sides are there; processing-time table join: the lookup).
 * Errors: WR_ETOOBIG (a key longer than TM_JOIN_MAX_KEY_BYTES encoded, a
 * key's buffered rows beyond a state value), WR_ECORRUPT (a key of a key
 * group this engine does not own; corrupt state), the backend's, the
 * emit callback's; tm_join_error says what.
 */
int tm_join_add(tm_join *j, int input, const wr_row *row, int64_t ts);

/* A table's tombstone: row's key fields (input 1's) name the key, deleted
 * (from ts on, with as_of event_time). Errors as tm_join_add. */
int tm_join_delete(tm_join *j, const wr_row *row, int64_t ts);

/* Advances the watermark (a lower one is ignored): emits what it makes
 * final (held stream records of a temporal join, windows that end, left
 * rows of a left interval join that can no longer match) and removes the
 * state no later record can reach. Errors as tm_join_add. */
int tm_join_watermark(tm_join *j, int64_t wm);

/*
 * How far behind its input watermark the operator must forward it so that
 * no output row is late downstream, where event time is the left side's
 * event-time field (windows read it by name): an interval join emits a
 * pair whose left row is up to upper before the right row that completed
 * it (and a left join's null row once the watermark passes ts + upper),
 * a window join its window's left rows when the watermark reaches
 * end - 1; an event-time table join emits a record when the watermark
 * first reaches it, so needs no delay. Flink's interval join delays its
 * output watermark the same way. In ms, >= 0.
 */
int64_t tm_join_watermark_delay(const tm_join_cfg *cfg);

/* Records dropped as late so far (weir_late_records_dropped_total). */
uint64_t tm_join_late_dropped(const tm_join *j);

/* The last error's message ("" if none). */
const char *tm_join_error(const tm_join *j);

#endif
