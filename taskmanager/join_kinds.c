/*
 * join_kinds.c - the three join forms over join.c's row lists and time
 * index (docs/joins.md has the semantics, Flink's):
 *
 *  - interval: each side's rows per key; a row joins the other side's
 *    buffered rows at once (so each pair is emitted once, when its second
 *    row arrives) and is buffered until the watermark makes a match
 *    impossible: a left row at ts + upper, a right row at ts - lower.
 *    A left join emits an unmatched left row with nulls then.
 *  - table (temporal): in processing time, the table's current row per
 *    key, looked up when a stream record arrives; in event time, the
 *    table's versions per key and the stream's records held until the
 *    watermark passes them, then joined with the version of greatest
 *    ts <= theirs; versions no later record can reach are dropped.
 *  - window: each side's rows per key and window; when the watermark
 *    reaches the window's end - 1, every left row pairs with every right
 *    row (a left join: a left row of a window without right rows comes
 *    out with nulls), and the window's rows go.
 *
 * A row whose key has a NULL never matches (SQL's rule): a left join
 * emits it with nulls at once (a window join: once per window), an inner
 * join drops it, as does a table.
 */
#include "join.h"
#include "join_int.h"

#include "err.h"
#include "record.h"
#include "wr_limits.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static int
tm_join_corrupt(tm_join *j)
{
	return tm_join_fail(j, WR_ECORRUPT,
	                    "corrupt row list in keyed state (key group %d)",
	                    j->kg);
}

/* ---- interval ---------------------------------------------------------- */

/* When a buffered row of side can no longer match a later row. */
static int64_t
tm_join_interval_end(const tm_join *j, int side, int64_t ts)
{
	return side == 0 ? ts + j->c.upper_ms : ts - j->c.lower_ms;
}

/* Joins r (side s, at ts) with the other side's rows of its key; *matched
 * tells whether any pairs. Marks the left rows it matches (left join). */
static int
tm_join_interval_probe(tm_join *j, int s, const wr_row *r, int64_t ts,
                       bool *matched)
{
	int o = 1 - s, g, rc;
	bool changed = false;
	size_t pos = 0;
	tm_join_ent e;

	*matched = false;
	if ((rc = tm_join_load(j, o, TM_JOIN_NO_WINDOW)))
		return rc;
	while ((g = tm_join_next(&j->list[o], &pos, &e)) > 0) {
		int64_t lt = s == 0 ? ts : e.ts, rt = s == 0 ? e.ts : ts;
		if (rt - lt < j->c.lower_ms || rt - lt > j->c.upper_ms)
			continue;
		*matched = true;
		rc = tm_join_emit(j, s == 0 ? r : &e.row, s == 0 ? &e.row : r,
		                  TM_JOIN_NO_WINDOW, lt > rt ? lt : rt);
		if (rc != WR_OK)
			return rc;
		if (o == 0 && j->c.left_outer &&
		    !(e.flags & TM_JOIN_F_MATCHED)) {
			j->list[o].data[e.flags_at] |= (char)TM_JOIN_F_MATCHED;
			changed = true;
		}
	}
	if (g < 0)
		return tm_join_corrupt(j);
	return changed ? tm_join_store(j, o, TM_JOIN_NO_WINDOW, &j->list[o])
	               : WR_OK;
}

int
tm_join_interval_add(tm_join *j, int s, const wr_row *r, int64_t ts)
{
	bool null, matched;
	int rc;

	if (ts <= j->wm) {
		j->late++;
		return WR_OK;
	}
	if ((rc = tm_join_set_key(j, s, r, &null)))
		return rc;
	if (null)
		return s == 0 && j->c.left_outer
		           ? tm_join_emit(j, r, NULL, TM_JOIN_NO_WINDOW, ts)
		           : WR_OK;
	if ((rc = tm_join_interval_probe(j, s, r, ts, &matched)) ||
	    (rc = tm_join_load(j, s, TM_JOIN_NO_WINDOW)))
		return rc;
	tm_join_append(&j->list[s], ts,
	               s == 0 && matched ? TM_JOIN_F_MATCHED : 0, r);
	if ((rc = tm_join_store(j, s, TM_JOIN_NO_WINDOW, &j->list[s])))
		return rc;
	return tm_join_timer(j, tm_join_interval_end(j, s, ts), (uint8_t)s);
}

/* Drops the rows of side (the timer's kind) that can no longer match;
 * a left join emits its unmatched left rows with nulls. */
int
tm_join_interval_timer(tm_join *j, int64_t t, uint8_t side)
{
	bool dropped = false;
	size_t pos = 0;
	tm_join_ent e;
	int g, rc;

	(void)t;
	if (side > 1)
		return tm_join_corrupt(j);
	if ((rc = tm_join_load(j, side, TM_JOIN_NO_WINDOW)))
		return rc;
	wr_buf_reset(&j->out);
	while ((g = tm_join_next(&j->list[side], &pos, &e)) > 0) {
		if (tm_join_interval_end(j, side, e.ts) > j->wm) {
			tm_join_copy(&j->out, &j->list[side], &e, pos);
			continue;
		}
		dropped = true;
		if (side == 0 && j->c.left_outer &&
		    !(e.flags & TM_JOIN_F_MATCHED) &&
		    (rc = tm_join_emit(j, &e.row, NULL, TM_JOIN_NO_WINDOW,
		                       e.ts)))
			return rc;
	}
	if (g < 0)
		return tm_join_corrupt(j);
	return dropped ? tm_join_store(j, side, TM_JOIN_NO_WINDOW, &j->out)
	               : WR_OK;
}

/* ---- table (temporal) -------------------------------------------------- */

/* The version of greatest ts <= at in j->list[1] into *best; false when
 * there is none (or the list is corrupt: *bad). */
static bool
tm_join_version(tm_join *j, int64_t at, tm_join_ent *best, bool *bad)
{
	tm_join_ent e;
	size_t pos = 0;
	bool found = false;
	int g;

	while ((g = tm_join_next(&j->list[1], &pos, &e)) > 0)
		if (e.ts <= at && (!found || e.ts > best->ts)) {
			*best = e;
			found = true;
		}
	*bad = g < 0;
	return found && !*bad;
}

/* A stream record in processing time: the current row, now. */
static int
tm_join_lookup_now(tm_join *j, const wr_row *r, int64_t ts)
{
	tm_join_ent e;
	size_t pos = 0;
	int g, rc;

	if ((rc = tm_join_load(j, 1, TM_JOIN_NO_WINDOW)))
		return rc;
	g = tm_join_next(&j->list[1], &pos, &e);
	if (g < 0)
		return tm_join_corrupt(j);
	if (g > 0 && !(e.flags & TM_JOIN_F_TOMB))
		return tm_join_emit(j, r, &e.row, TM_JOIN_NO_WINDOW, ts);
	return j->c.left_outer ? tm_join_emit(j, r, NULL, TM_JOIN_NO_WINDOW, ts)
	                       : WR_OK;
}

/* A table change: processing time keeps the current row only; event
 * time adds a version (replacing one of the same ts). */
static int
tm_join_table_change(tm_join *j, const wr_row *r, int64_t ts, bool tomb)
{
	uint8_t flags = tomb ? TM_JOIN_F_TOMB : 0;
	tm_join_ent e;
	size_t pos = 0;
	int g, rc;

	wr_buf_reset(&j->out);
	if (!j->c.event_time) {
		if (!tomb)
			tm_join_append(&j->out, ts, 0, r);
		return tm_join_store(j, 1, TM_JOIN_NO_WINDOW, &j->out);
	}
	/* A late version could land below a dropped one (or a tombstone
	 * already gone) and change what later records see: dropped, as a
	 * late stream record. */
	if (ts <= j->wm) {
		j->late++;
		return WR_OK;
	}
	if ((rc = tm_join_load(j, 1, TM_JOIN_NO_WINDOW)))
		return rc;
	while ((g = tm_join_next(&j->list[1], &pos, &e)) > 0)
		if (e.ts != ts)
			tm_join_copy(&j->out, &j->list[1], &e, pos);
	if (g < 0)
		return tm_join_corrupt(j);
	tm_join_append(&j->out, ts, flags, r);
	if ((rc = tm_join_store(j, 1, TM_JOIN_NO_WINDOW, &j->out)))
		return rc;
	/* Compacted once the watermark passes it. */
	return tm_join_timer(j, ts, 1);
}

int
tm_join_temporal_add(tm_join *j, int input, const wr_row *r, int64_t ts,
                     bool tomb)
{
	bool null;
	int rc;

	if ((rc = tm_join_set_key(j, input, r, &null)))
		return rc;
	if (input == 1)
		return null ? WR_OK : tm_join_table_change(j, r, ts, tomb);
	if (j->c.event_time && ts <= j->wm) {
		j->late++;
		return WR_OK;
	}
	if (null)
		return j->c.left_outer
		           ? tm_join_emit(j, r, NULL, TM_JOIN_NO_WINDOW, ts)
		           : WR_OK;
	if (!j->c.event_time)
		return tm_join_lookup_now(j, r, ts);
	if ((rc = tm_join_load(j, 0, TM_JOIN_NO_WINDOW)))
		return rc;
	tm_join_append(&j->list[0], ts, 0, r);
	if ((rc = tm_join_store(j, 0, TM_JOIN_NO_WINDOW, &j->list[0])))
		return rc;
	return tm_join_timer(j, ts, 0);
}

/* Emits the held stream records at or before the watermark. */
static int
tm_join_temporal_emit(tm_join *j)
{
	tm_join_ent e, best;
	bool removed = false, bad = false;
	size_t pos = 0;
	int g, rc;

	wr_buf_reset(&j->out);
	while ((g = tm_join_next(&j->list[0], &pos, &e)) > 0) {
		if (e.ts > j->wm) {
			tm_join_copy(&j->out, &j->list[0], &e, pos);
			continue;
		}
		removed = true;
		if (tm_join_version(j, e.ts, &best, &bad) &&
		    !(best.flags & TM_JOIN_F_TOMB))
			rc = tm_join_emit(j, &e.row, &best.row,
			                  TM_JOIN_NO_WINDOW, e.ts);
		else if (bad)
			rc = tm_join_corrupt(j);
		else
			rc = j->c.left_outer
			         ? tm_join_emit(j, &e.row, NULL,
			                        TM_JOIN_NO_WINDOW, e.ts)
			         : WR_OK;
		if (rc != WR_OK)
			return rc;
	}
	if (g < 0)
		return tm_join_corrupt(j);
	return removed ? tm_join_store(j, 0, TM_JOIN_NO_WINDOW, &j->out)
	               : WR_OK;
}

/* Keeps the versions a later record can reach: those after the
 * watermark and the last one at or before it (unless a tombstone). */
static int
tm_join_temporal_compact(tm_join *j)
{
	tm_join_ent e, best;
	bool found, bad, dropped = false;
	size_t pos = 0;
	int g;

	found = tm_join_version(j, j->wm, &best, &bad);
	if (bad)
		return tm_join_corrupt(j);
	wr_buf_reset(&j->out);
	while ((g = tm_join_next(&j->list[1], &pos, &e)) > 0) {
		bool keep = e.ts > j->wm || (found && e.at == best.at &&
		                             !(e.flags & TM_JOIN_F_TOMB));
		if (keep)
			tm_join_copy(&j->out, &j->list[1], &e, pos);
		else
			dropped = true;
	}
	if (g < 0)
		return tm_join_corrupt(j);
	return dropped ? tm_join_store(j, 1, TM_JOIN_NO_WINDOW, &j->out)
	               : WR_OK;
}

/* Any due timer of a key settles that key: held records out, then the
 * versions compacted (later timers of the key then find less to do). */
int
tm_join_temporal_timer(tm_join *j, int64_t t, uint8_t kind)
{
	int rc;

	(void)t;
	(void)kind;
	if ((rc = tm_join_load(j, 0, TM_JOIN_NO_WINDOW)) ||
	    (rc = tm_join_load(j, 1, TM_JOIN_NO_WINDOW)) ||
	    (rc = tm_join_temporal_emit(j)))
		return rc;
	return tm_join_temporal_compact(j);
}

/* ---- window ------------------------------------------------------------ */

static int64_t
tm_join_floor(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return a % b != 0 && (a < 0) != (b < 0) ? q - 1 : q;
}

int
tm_join_window_add(tm_join *j, int s, const wr_row *r, int64_t ts)
{
	int64_t size = j->c.size_ms, slide = j->c.slide_ms;
	int64_t last = tm_join_floor(ts, slide) * slide;
	bool null, any = false;
	int rc;

	if ((rc = tm_join_set_key(j, s, r, &null)))
		return rc;
	for (int64_t start = last; start > ts - size; start -= slide) {
		int64_t t = start + size - 1;
		if (t <= j->wm)
			continue; /* that window has fired */
		any = true;
		if (null) {
			if (s == 0 && j->c.left_outer &&
			    (rc = tm_join_emit(j, r, NULL, start, t)))
				return rc;
			continue;
		}
		if ((rc = tm_join_load(j, s, start)))
			return rc;
		tm_join_append(&j->list[s], ts, 0, r);
		if ((rc = tm_join_store(j, s, start, &j->list[s])) ||
		    (rc = tm_join_timer(j, t, 0)))
			return rc;
	}
	if (!any)
		j->late++;
	return WR_OK;
}

/* The window ending at t + 1: every pair, then its rows go. */
int
tm_join_window_timer(tm_join *j, int64_t t, uint8_t kind)
{
	int64_t start = t - j->c.size_ms + 1;
	tm_join_ent l, r;
	size_t lp = 0;
	int g, h = 0, rc;

	(void)kind;
	if ((rc = tm_join_load(j, 0, start)) ||
	    (rc = tm_join_load(j, 1, start)))
		return rc;
	while ((g = tm_join_next(&j->list[0], &lp, &l)) > 0) {
		size_t rp = 0;
		bool matched = false;
		while ((h = tm_join_next(&j->list[1], &rp, &r)) > 0) {
			matched = true;
			if ((rc = tm_join_emit(j, &l.row, &r.row, start, t)))
				return rc;
		}
		if (h < 0)
			break;
		if (!matched && j->c.left_outer &&
		    (rc = tm_join_emit(j, &l.row, NULL, start, t)))
			return rc;
	}
	if (g < 0 || h < 0)
		return tm_join_corrupt(j);
	wr_buf_reset(&j->out);
	if ((rc = tm_join_store(j, 0, start, &j->out)))
		return rc;
	return tm_join_store(j, 1, start, &j->out);
}
