/*
 * op_join.c - the join operator: the glue between the runtime's operator
 * API (op.h) and the join engines (join.h) for interval, window and
 * stream-table joins.
 *
 * A join heads its vertex: two HASH edges lead to it (input_index 0, the
 * left side, and 1, the right side), each keyed on its own side's join
 * keys, and the runtime's input gate hands process() the input of each
 * record's channel and the minimum watermark over all channels of both
 * inputs. The engine lives on the task's keyed state and key groups, so
 * the runtime's checkpoint of the backend holds every buffered row and
 * time-index entry, and a restore (also after rescaling) hands each
 * subtask its key groups back; the engine finds restored timers by a scan.
 *
 * Event time: a record's time is its input's event-time field (the field
 * named as the upstream source's event_time). An output row's event time
 * is its left row's (a window downstream reads that field by name), so the
 * operator forwards its input watermark less tm_join_watermark_delay, and
 * no row it emits is behind the watermark it forwarded (docs/joins.md).
 *
 * A stream-table join's input 1 is the table's changelog, straight from
 * its table source (hashed on the primary key): upserts, and tombstones
 * as delete rows (op.h tm_row_is_delete) for tm_join_delete. In
 * processing time neither side needs an event time.
 *
 * @thread task: an operator belongs to its task's thread.
 */
#include "op.h"

#include "err.h"
#include "join.h"
#include "mem.h"
#include "record.h"
#include "state.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct tm_jop {
	tm_ctx *ctx;
	const wr_node_spec *n;
	tm_join *j;
	int tf[2];       /* each input's event-time field; -1: none needed */
	uint32_t width1; /* the table's fields (a delete row has one more) */
	int64_t delay;   /* tm_join_watermark_delay */
	int64_t wm_out;  /* the watermark forwarded last */
	uint64_t late;   /* late drops already counted */
} tm_jop;

static int
tm_join_op_emit(void *arg, const wr_row *row, int64_t ts)
{
	tm_jop *o = arg;
	(void)ts; /* the row's time is its left row's event-time field */
	return tm_emit(o->ctx, row);
}

/* Fails the task with the engine's message; returns rv. */
static int
tm_join_op_fail(tm_jop *o, int rv)
{
	tm_fail(o->ctx, "node '%s': join: %s", o->n->id,
	        tm_join_error(o->j)[0] ? tm_join_error(o->j) : wr_strerror(rv));
	return rv;
}

/* Counts the records the engine dropped as late since the last call. */
static void
tm_join_op_count_late(tm_jop *o)
{
	uint64_t late = tm_join_late_dropped(o->j);
	if (late > o->late)
		tm_count(o->ctx, TM_COUNT_LATE_DROPPED,
		         (double)(late - o->late));
	o->late = late;
}

static int
tm_join_op_process(void *self, int input, const wr_row *r)
{
	tm_jop *o = self;
	if (input < 0 || input > 1) {
		tm_fail(o->ctx, "node '%s': a record of input %d", o->n->id,
		        input);
		return WR_EINTERNAL;
	}
	int tf = o->tf[input];
	int64_t ts = 0; /* a processing-time table join has no time */
	/* Without an event time a record cannot be placed: invalid here,
	 * as for a window. */
	if (tf >= 0) {
		if ((uint32_t)tf >= r->n || r->v[tf].type != WR_T_TIMESTAMP) {
			tm_count(o->ctx, TM_COUNT_INVALID, 1);
			return WR_OK;
		}
		ts = r->v[tf].u.i;
	}
	int rv;
	if (input == 1 && o->n->join == WR_JOIN_TABLE &&
	    tm_row_is_delete(r, o->width1)) {
		wr_row key = *r;
		key.n = o->width1;
		rv = tm_join_delete(o->j, &key, ts);
	} else {
		rv = tm_join_add(o->j, input, r, ts);
	}
	if (rv != WR_OK)
		return tm_join_op_fail(o, rv);
	tm_join_op_count_late(o);
	return WR_OK;
}

/* The watermark forwarded for input watermark wm (never lower than the
 * last one: the delay is fixed, so it only moves with wm). */
static int64_t
tm_join_op_out_wm(const tm_jop *o, int64_t wm)
{
	if (wm == TM_WM_MAX || wm == TM_WM_MIN)
		return wm;
	if (wm < TM_WM_MIN + o->delay)
		return TM_WM_MIN;
	return wm - o->delay;
}

static int
tm_join_op_watermark(void *self, int64_t wm)
{
	tm_jop *o = self;
	int rv = tm_join_watermark(o->j, wm);
	if (rv != WR_OK)
		return tm_join_op_fail(o, rv);
	int64_t out = tm_join_op_out_wm(o, wm);
	if (out > o->wm_out)
		o->wm_out = out;
	/* Also when it did not advance: idleness may have changed. */
	if (o->wm_out == TM_WM_MIN)
		return WR_OK;
	return tm_emit_watermark(o->ctx, o->wm_out);
}

/* Input k's event-time field: the field named as its upstream source's
 * event_time, in the join's input schema of side k. */
static int
tm_join_op_time_field(tm_jop *o, const wr_jobspec *job, int k, char *errbuf,
                      size_t errlen)
{
	int i = o->n->inputs[k];
	for (int hops = 0; i >= 0 && hops < WR_JOB_MAX_NODES &&
	                   job->nodes[i].kind != WR_NODE_SOURCE;
	     hops++)
		i = job->nodes[i].inputs[0];
	const wr_node_spec *src = i >= 0 ? &job->nodes[i] : NULL;
	if (src == NULL || src->kind != WR_NODE_SOURCE ||
	    src->source.time_field < 0) {
		snprintf(errbuf, errlen,
		         "node '%s': input %d of the join has no event time",
		         o->n->id, k);
		return WR_EINVAL;
	}
	const char *name =
	    src->source.schema.fields[src->source.time_field].name;
	const wr_schema *in = wr_jobspec_input_schema(job, o->n, k);
	o->tf[k] = wr_schema_index(in, name);
	if (o->tf[k] < 0 || in->fields[o->tf[k]].type != WR_T_TIMESTAMP) {
		snprintf(errbuf, errlen,
		         "node '%s': the join takes input %d's event time from "
		         "field '%s' (source '%s', event_time), which that "
		         "input %s; keep that field, unrenamed, in every "
		         "select between them",
		         o->n->id, k, name, src->id,
		         o->tf[k] < 0 ? "does not have"
		                      : "has as another type");
		return WR_EINVAL;
	}
	return WR_OK;
}

static void
tm_join_op_close(void *self)
{
	tm_jop *o = self;
	if (o == NULL)
		return;
	tm_join_free(o->j);
	free(o);
}

static int
tm_join_op_open(tm_ctx *ctx, const wr_node_spec *n, void **self, char *errbuf,
                size_t errlen)
{
	const tm_op_conf *conf = tm_conf(ctx);
	tm_jop *o = wr_xcalloc(1, sizeof(*o));
	tm_join_cfg c = {0};
	int rv = WR_EINVAL;
	o->ctx = ctx;
	o->n = n;
	o->wm_out = TM_WM_MIN;
	o->tf[0] = o->tf[1] = -1;
	/* A processing-time table join places no record in time. */
	if ((n->join != WR_JOIN_TABLE || n->join_event_time) &&
	    ((rv = tm_join_op_time_field(o, conf->job, 0, errbuf, errlen)) ||
	     (rv = tm_join_op_time_field(o, conf->job, 1, errbuf, errlen))))
		goto fail;
	tm_join_cfg_from_spec(&c, conf->job, n);
	o->width1 = c.width[1];
	tm_key_groups(ctx, &c.kg_first, &c.kg_last);
	if ((rv = tm_state(ctx, &c.st)) != WR_OK) {
		snprintf(errbuf, errlen,
		         "node '%s': cannot open keyed state: %s", n->id,
		         wr_strerror(rv));
		goto fail;
	}
	c.emit = tm_join_op_emit;
	c.arg = o;
	if ((rv = tm_join_new(&c, &o->j, errbuf, errlen)) != WR_OK)
		goto fail;
	o->delay = tm_join_watermark_delay(&c);
	*self = o;
	return WR_OK;
fail:
	tm_join_op_close(o);
	return rv;
}

/* Interval, window and stream-table joins (docs/joins.md). Their timers
 * are the engine's own time index in keyed state, fired from the
 * watermark. */
const tm_op_vt tm_join_op = {
    .name = "join",
    .open = tm_join_op_open,
    .process = tm_join_op_process,
    .watermark = tm_join_op_watermark,
    .close = tm_join_op_close,
};
