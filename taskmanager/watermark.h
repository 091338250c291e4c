/*
 * watermark.h - event-time progress.
 *
 * A source keeps, per partition it reads, the largest event time seen; its
 * watermark is the minimum over partitions of (max ts - out-of-orderness).
 * A partition silent for idle_timeout (processing time) is idle: it no
 * longer holds the watermark back, and is active again with its next
 * record. When every partition is idle the source says so downstream, so
 * idle inputs do not stall windows (Flink's withIdleness).
 *
 * An operator with several input channels takes the minimum over channels
 * that are not idle and have not ended. Watermarks travel through the
 * shuffle as events in order with the records.
 */
#ifndef TM_WATERMARK_H
#define TM_WATERMARK_H

#include <stdbool.h>
#include <stdint.h>

/* No watermark yet (Flink's Long.MIN_VALUE). */
#define TM_WM_MIN INT64_MIN
/* End of input: every window may fire. */
#define TM_WM_MAX INT64_MAX
/* How often, at most, sources emit a watermark that advanced. Flink's
 * default auto-watermark interval is 200 ms, but an operator that waits
 * for the watermark (the event-time sort buffer of CEP and anomaly, a
 * window's end) then waits 100 ms on average and 200 ms at worst on
 * this step alone: the fraud row's 100 ms target cannot be met with it
 * (docs/benchmarks.md, "Fraud latency"). A watermark is a few bytes on
 * each channel, and timers fire in one round per watermark, so 50 a
 * second per source subtask cost next to nothing. */
#define TM_WM_INTERVAL_MS 20

typedef struct tm_wm_input {
	int64_t wm;
	int64_t max_ts;
	int64_t last_ms; /* processing time of the last record */
	bool idle;
	bool went_idle; /* since the last combination (tm_wm_combined) */
	bool ended;
} tm_wm_input;

/* A set of inputs (source partitions or input channels) and the combined
 * watermark emitted so far. */
typedef struct tm_wm_tracker {
	tm_wm_input *in;
	int n;
	int64_t out_of_orderness_ms; /* sources only */
	int64_t idle_timeout_ms;     /* 0 = never idle (sources only) */
	int64_t emitted;
	bool emitted_idle;
	int64_t last_emit_ms;
} tm_wm_tracker;

void tm_wm_init(tm_wm_tracker *w, int n, int64_t out_of_orderness_ms,
                int64_t idle_timeout_ms, int64_t now_ms);
void tm_wm_fini(tm_wm_tracker *w);

/* A source saw event time ts on input i. */
void tm_wm_record(tm_wm_tracker *w, int i, int64_t ts, int64_t now_ms);

/* An input channel reported watermark wm (or idleness: wm is then the
 * upstream's last combined watermark, still a valid bound). */
void tm_wm_channel(tm_wm_tracker *w, int i, int64_t wm, bool idle);
/* An input channel ended (its watermark no longer counts). */
void tm_wm_end(tm_wm_tracker *w, int i);

/*
 * Whether a new watermark should go downstream now: true when the combined
 * watermark advanced or the idle state changed (sources: at most every
 * TM_WM_INTERVAL_MS; pass force for channels). *wm is the combined
 * watermark, *idle whether every input is idle.
 */
bool tm_wm_poll(tm_wm_tracker *w, int64_t now_ms, bool force, int64_t *wm,
                bool *idle);

#endif
