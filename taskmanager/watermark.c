/*
 * watermark.c - event-time progress per partition and per input channel,
 * with idleness (watermark.h).
 */
#include "watermark.h"

#include "mem.h"

#include <stdlib.h>

void
tm_wm_init(tm_wm_tracker *w, int n, int64_t ooo_ms, int64_t idle_ms,
           int64_t now_ms)
{
	w->n = n;
	w->in = wr_xcalloc(n > 0 ? (size_t)n : 1, sizeof(tm_wm_input));
	for (int i = 0; i < n; i++) {
		w->in[i].wm = TM_WM_MIN;
		w->in[i].max_ts = TM_WM_MIN;
		w->in[i].last_ms = now_ms;
	}
	w->out_of_orderness_ms = ooo_ms;
	w->idle_timeout_ms = idle_ms;
	w->emitted = TM_WM_MIN;
	w->emitted_idle = false;
	w->last_emit_ms = now_ms;
}

void
tm_wm_fini(tm_wm_tracker *w)
{
	free(w->in);
	w->in = NULL;
}

void
tm_wm_record(tm_wm_tracker *w, int i, int64_t ts, int64_t now_ms)
{
	tm_wm_input *in = &w->in[i];
	in->last_ms = now_ms;
	in->idle = in->went_idle = false;
	/* A watermark W says no record with a time <= W follows, so it stays
	 * below the newest time: another record may carry that time too (as
	 * Flink's bounded out-of-orderness, max - bound - 1). At W = newest
	 * time, the window ending right after it fired before its last
	 * record arrived, and dropped it as late. */
	if (ts > in->max_ts) {
		in->max_ts = ts;
		in->wm = ts - w->out_of_orderness_ms - 1;
	}
}

void
tm_wm_channel(tm_wm_tracker *w, int i, int64_t wm, bool idle)
{
	tm_wm_input *in = &w->in[i];
	if (idle && !in->idle)
		in->went_idle = true;
	in->idle = idle;
	if (wm > in->wm)
		in->wm = wm;
}

void
tm_wm_end(tm_wm_tracker *w, int i)
{
	w->in[i].ended = true;
}

/*
 * Minimum over active inputs; *all_idle when none is active. Inputs that
 * go idle between two combinations (timed out at this poll, or channels
 * that said so) went idle one after the other: had a combination come
 * between, the one that went idle last would have been the minimum and
 * its watermark emitted. So when the last active inputs all go idle at
 * once, the combined watermark is that of the one with the newest record
 * (the lowest of those on a tie), not the last one emitted (a silent
 * partition and the one with data timing out within one poll lost the
 * data's final windows).
 */
static int64_t
tm_wm_combined(tm_wm_tracker *w, int64_t now_ms, bool *all_idle)
{
	int64_t m = TM_WM_MAX, last_wm = w->emitted, last_at = INT64_MIN;
	int active = 0;
	for (int i = 0; i < w->n; i++) {
		tm_wm_input *in = &w->in[i];
		if (in->ended)
			continue;
		if (!in->idle && w->idle_timeout_ms > 0 &&
		    now_ms - in->last_ms >= w->idle_timeout_ms)
			in->idle = in->went_idle = true;
		if (in->went_idle &&
		    (in->last_ms > last_at ||
		     (in->last_ms == last_at && in->wm < last_wm))) {
			last_at = in->last_ms;
			last_wm = in->wm;
		}
		in->went_idle = false;
		if (in->idle)
			continue;
		active++;
		if (in->wm < m)
			m = in->wm;
	}
	*all_idle = active == 0;
	if (active > 0)
		return m;
	return last_wm > w->emitted ? last_wm : w->emitted;
}

bool
tm_wm_poll(tm_wm_tracker *w, int64_t now_ms, bool force, int64_t *wm,
           bool *idle)
{
	if (!force && now_ms - w->last_emit_ms < TM_WM_INTERVAL_MS)
		return false;
	bool all_idle;
	int64_t m = tm_wm_combined(w, now_ms, &all_idle);
	bool ended = true;
	for (int i = 0; i < w->n; i++)
		ended &= w->in[i].ended;
	if (ended && w->n > 0) {
		m = TM_WM_MAX;
		all_idle = false;
	}
	if (m <= w->emitted && all_idle == w->emitted_idle)
		return false;
	w->last_emit_ms = now_ms;
	if (m > w->emitted)
		w->emitted = m;
	w->emitted_idle = all_idle;
	*wm = w->emitted;
	*idle = all_idle;
	return true;
}
