/*
 * jobspec_anomaly.c - the `anomaly:` setting of a key_by node: its shape
 * (pass 3: value, history or ewma, threshold, min_count) and its types
 * (pass 5: the value field numeric, event time on the input, the output
 * schema: the input's fields then mean, stddev, score). docs/anomaly.md
 * has the semantics.
 */
#include "jobspec.h"
#include "jobspec_int.h"

#include "err.h"
#include "record.h"
#include "wr_limits.h"
#include "wr_yaml.h"

#include <math.h>
#include <stdio.h>

static const char *const wr_job_anomaly_keys[] = {
    "value", "history", "ewma", "threshold", "min_count", NULL};
/* The fields an anomaly node adds to its input's. */
static const char *const wr_job_anomaly_cols[] = {"mean", "stddev", "score"};

int
wr_job_anomaly_kind(wr_jp *p, wr_node_spec *n, const wr_yaml_node *map)
{
	static const char *const other[] = {"window", "aggregate", "reduce",
	                                    "allowed_lateness", "late_output"};

	for (size_t k = 0; k < sizeof(other) / sizeof(other[0]); k++)
		if (wr_job_key(map, other[k]) != NULL)
			return wr_job_fail(p, wr_job_key(map, other[k]),
			                   "node '%s': '%s' cannot be combined "
			                   "with 'anomaly' (chain another "
			                   "node with 'from:')",
			                   n->id, other[k]);
	n->kind = WR_NODE_ANOMALY;
	return WR_OK;
}

/* A number > 0 (threshold) or in (0, 1] (ewma); absent leaves *out. */
static int
wr_job_anomaly_num(wr_jp *p, const wr_yaml_node *m, const char *key,
                   const char *pre, double max, double *out)
{
	const wr_yaml_node *v = wr_yaml_map_get(m, key);
	int rc = wr_job_double(p, m, key, pre, -HUGE_VAL, HUGE_VAL, out);

	if (rc != WR_OK || v == NULL)
		return rc;
	if (!(*out > 0.0) || *out > max)
		return wr_job_fail(p, v, "%s%s: %s must be %s", pre, key,
		                   v->scalar,
		                   max < HUGE_VAL ? "in (0, 1] (the weight of "
		                                    "the newest value)"
		                                  : "above 0");
	return WR_OK;
}

int
wr_job_parse_anomaly(wr_jp *p, size_t i, const char *pre)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *k = wr_job_key(p->pos[i].map, "anomaly");
	const wr_yaml_node *m = wr_yaml_map_get(p->pos[i].map, "anomaly");
	const wr_yaml_node *hist, *ewma, *v;
	char path[WR_JOB_WHERE_BYTES];
	int rc;

	n->anomaly.line = k->line;
	n->anomaly.col = k->col;
	n->anomaly.min_count = WR_ANOMALY_DEFAULT_MIN_COUNT;
	snprintf(path, sizeof(path), "%sanomaly.", pre);
	if ((rc = wr_job_need_map(p, m, "'anomaly'", false)) ||
	    (rc = wr_job_check_keys(p, m, wr_job_anomaly_keys,
	                            "in 'anomaly'")) ||
	    (rc = wr_job_scalar(p, m, "value", path, true, &v)))
		return rc;
	hist = wr_job_key(m, "history");
	ewma = wr_job_key(m, "ewma");
	if (hist != NULL && ewma != NULL)
		return wr_job_fail(p, hist->line > ewma->line ? hist : ewma,
		                   "%shistory and ewma are two kinds of "
		                   "history: give one",
		                   path);
	if (hist == NULL && ewma == NULL)
		return wr_job_fail(p, m,
		                   "%sgive the history: 'history: 1m' (a "
		                   "sliding window) or 'ewma: 0.1' (an "
		                   "exponentially weighted one)",
		                   path);
	if (!wr_yaml_map_get(m, "threshold"))
		return wr_job_fail(p, m,
		                   "%sthreshold is required (emit when |value "
		                   "- mean| > threshold * stddev)",
		                   path);
	if ((rc = wr_job_dur(p, m, "history", path, 1, WR_JOB_MAX_WINDOW_MS,
	                     false, &n->anomaly.history_ms)) ||
	    (rc = wr_job_anomaly_num(p, m, "ewma", path, 1.0,
	                             &n->anomaly.ewma)) ||
	    (rc = wr_job_anomaly_num(p, m, "threshold", path, HUGE_VAL,
	                             &n->anomaly.threshold)))
		return rc;
	return wr_job_int(p, m, "min_count", path, 1, WR_ANOMALY_MAX_HISTORY,
	                  &n->anomaly.min_count);
}

/* The value numeric, event time, then the output schema. */
int
wr_job_type_anomaly(wr_jp *p, size_t i, const wr_schema *in)
{
	wr_node_spec *n = &p->spec->nodes[i];
	const wr_yaml_node *m = wr_yaml_map_get(p->pos[i].map, "anomaly");
	const wr_yaml_node *v = wr_yaml_map_get(m, "value");
	int f = wr_schema_index(in, v->scalar);

	if (f < 0)
		return wr_job_no_field(p, v->line, v->col, n->id,
		                       "anomaly.value", v->scalar,
		                       v->scalar_len, in);
	if (in->fields[f].type != WR_T_LONG &&
	    in->fields[f].type != WR_T_DOUBLE)
		return wr_job_fail(p, v,
		                   "node '%s': anomaly.value: '%s' is a %s; "
		                   "it must be a number (long or double)",
		                   n->id, v->scalar,
		                   wr_type_name(in->fields[f].type));
	n->anomaly.value = f;
	if (!wr_job_has_event_time(p->spec, i))
		return wr_job_failat(
		    p, n->anomaly.line, n->anomaly.col,
		    "node '%s': anomaly compares each record with the "
		    "history before it in event time, and source '%s' has "
		    "none: give it event_time: { field: ..., "
		    "max_out_of_orderness: ... }",
		    n->id,
		    p->spec->nodes[wr_job_no_time_source(p->spec, i)].id);
	wr_schema_copy(&n->out, in);
	for (int c = 0; c < 3; c++) {
		int rc =
		    wr_schema_add(&n->out, wr_job_anomaly_cols[c], WR_T_DOUBLE);
		if (rc == WR_EEXIST)
			return wr_job_failat(
			    p, n->anomaly.line, n->anomaly.col,
			    "node '%s': the input's field '%s' clashes with "
			    "the anomaly's own (mean, stddev, score): rename "
			    "it with a select before",
			    n->id, wr_job_anomaly_cols[c]);
		if (rc != WR_OK)
			return wr_job_failat(p, n->anomaly.line, n->anomaly.col,
			                     "node '%s': more than %d output "
			                     "fields",
			                     n->id, WR_MAX_FIELDS);
	}
	return WR_OK;
}
