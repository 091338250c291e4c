/*
 * metrics.h - a registry of counters and gauges with Prometheus text
 * exposition (format 0.0.4).
 *
 * A family is a metric name with help text and type; a series is a family
 * plus label values. wr_metrics_get() finds or creates a series and returns a
 * stable pointer (valid until wr_metrics_free or wr_metrics_remove), so hot
 * paths look a series up once and then update it lock-free (atomics).
 * Registration and rendering take the registry's mutex.
 *
 * Series of something that ends (a job's) are released rather than removed:
 * each wr_metrics_get holds the series until its wr_metrics_release, and a
 * series nobody holds goes a grace period later (a last scrape sees its
 * final value). A series can have no value yet (wr_metrics_get_empty): it
 * is not rendered until its first set or add, so a graph shows a gap rather
 * than a made-up 0.
 */
#ifndef WR_METRICS_H
#define WR_METRICS_H

#include "buf.h"

#include <stdint.h>

enum wr_metric_type {
	WR_METRIC_COUNTER,
	WR_METRIC_GAUGE,
};

typedef struct wr_metrics wr_metrics;
typedef struct wr_metric wr_metric;

wr_metrics *wr_metrics_new(void);
/* Accepts NULL. */
void wr_metrics_free(wr_metrics *reg);

/*
 * Finds or creates the series name{labels}. labels is a NULL-terminated
 * array of alternating names and values ({"state", "free", NULL}) or NULL;
 * the order of the pairs is part of the identity. The strings are copied.
 * help is used when the family is first created. Asking for an existing
 * family with another type, or an invalid metric or label name, is a bug
 * (WR_ASSERT). Families and series render in creation order. @thread any.
 */
wr_metric *wr_metrics_get(wr_metrics *reg, enum wr_metric_type type,
                          const char *name, const char *help,
                          const char *const *labels);

/* As wr_metrics_get, but a series it creates has no value (not rendered)
 * until its first wr_metric_set or wr_metric_add. @thread any. */
wr_metric *wr_metrics_get_empty(wr_metrics *reg, enum wr_metric_type type,
                                const char *name, const char *help,
                                const char *const *labels);

/* Ends the caller's hold on m (one per wr_metrics_get): m is invalid to
 * the caller afterwards. Once no holder is left, the series is removed at
 * the first render or release grace_ms later; a wr_metrics_get of the
 * same series before then holds it again, value kept. Accepts NULL.
 * @thread any. */
void wr_metrics_release(wr_metrics *reg, wr_metric *m, int64_t grace_ms);

/* Removes and frees one series (a TaskManager that left); m is invalid
 * afterwards. A family with no series left is not rendered. Accepts NULL.
 * @thread any. */
void wr_metrics_remove(wr_metrics *reg, wr_metric *m);

/* Counters only go up: by must be >= 0 (WR_ASSERT); a gauge may be
 * added any amount. Updates accept NULL (a series already released) and
 * do nothing. @thread any, lock-free. */
void wr_metric_add(wr_metric *m, double by);
void wr_metric_inc(wr_metric *m);
/* Gauges. @thread any, lock-free. A series without a value reads NaN. */
void wr_metric_set(wr_metric *m, double v);
double wr_metric_value(const wr_metric *m);

/*
 * A function called at the start of every render, to refresh gauges that are
 * computed rather than counted (slots free, leader). Called with the
 * registry's lock NOT held, on the rendering thread; two concurrent renders
 * call it concurrently. One per registry; a later call replaces it (NULL
 * removes it).
 */
void wr_metrics_on_collect(wr_metrics *reg, void (*fn)(void *arg), void *arg);

/* Appends the whole registry in Prometheus text format. @thread any. */
void wr_metrics_render(wr_metrics *reg, wr_buf *out);

#endif
