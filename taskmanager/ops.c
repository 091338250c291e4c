/*
 * ops.c - the stateless operators (filter, select, key_by) and the emit
 * path: chained operators are called directly; network routes encode the
 * row once and append it to the channel the edge's partitioner picks.
 */
#include "task_int.h"

#include "err.h"
#include "expr.h"
#include "mem.h"
#include "metrics.h"
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The channel of route for row r. */
static int
tm_route_channel(tm_route *rt, const wr_row *r, int subtask)
{
	switch (rt->edge->kind) {
	case WR_EDGE_FORWARD:
		return subtask % rt->nchannels;
	case WR_EDGE_REBALANCE:
		return (int)(rt->rr++ % (uint64_t)rt->nchannels);
	case WR_EDGE_HASH:
	default: {
		uint64_t h = 0;
		for (int k = 0; k < rt->nkeys; k++)
			h = wr_value_hash(&r->v[rt->keys[k]], h);
		int kg = wr_key_group(h, rt->max_parallelism);
		return wr_key_group_subtask(kg, rt->max_parallelism,
		                            rt->nchannels);
	}
	}
}

/* Sends r on op's network routes whose side flag is side. */
static int
tm_op_send(tm_op *op, const wr_row *r, bool side)
{
	tm_task *t = op->task;
	int rv;
	for (int i = 0; i < op->nroutes; i++) {
		tm_route *rt = &op->routes[i];
		if (rt->side != side)
			continue;
		wr_buf_reset(&t->enc);
		wr_row_encode(r, &t->enc);
		int ch = tm_route_channel(rt, r, t->spec->subtask);
		rv = tm_output_append(rt->out, ch, t->enc.data, t->enc.len);
		if (rv == WR_ETOOBIG)
			/* The source refuses records over WR_RECORD_MAX_BYTES;
			 * only the job's own operators can grow one this far.
			 */
			tm_task_fail(
			    t,
			    "'%s' made a record of %zu bytes, over the "
			    "shuffle's limit of %u bytes",
			    op->node != NULL ? op->node->id : "?", t->enc.len,
			    WR_SHUFFLE_MAX_RECORD_BYTES);
		if (rv != WR_OK)
			return rv;
		wr_metric_inc(t->m_out);
		wr_metric_add(t->m_bytes_out, (double)t->enc.len);
	}
	return WR_OK;
}

int
tm_op_emit(tm_op *op, const wr_row *r)
{
	int rv;
	for (int i = 0; i < op->nnext; i++) {
		tm_op *n = op->next[i];
		/* The record was read; it reaches a sink only unfenced (a
		 * unit test's collector has no node). */
		if (n->node != NULL && n->node->kind == WR_NODE_SINK &&
		    !tm_task_sink_wait(op->task))
			return WR_ECLOSED;
		if ((rv = n->push(n, r)) != WR_OK)
			return rv;
	}
	return tm_op_send(op, r, false);
}

int
tm_op_emit_side(tm_op *op, const wr_row *r)
{
	return tm_op_send(op, r, true);
}

/* Watermark events on the wire: int64 little-endian + idle flag. */
static void
tm_wm_payload(int64_t wm, bool idle, uint8_t out[9])
{
	uint64_t u = (uint64_t)wm;
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(u >> (8 * i));
	out[8] = idle ? 1 : 0;
}

int
tm_wm_payload_parse(const uint8_t *p, size_t len, int64_t *wm, bool *idle)
{
	if (len != 9 || p[8] > 1)
		return WR_ECORRUPT;
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u |= (uint64_t)p[i] << (8 * i);
	*wm = (int64_t)u;
	*idle = p[8] == 1;
	return WR_OK;
}

int
tm_op_emit_watermark(tm_op *op, int64_t wm)
{
	tm_task *t = op->task;
	int rv;
	for (int i = 0; i < op->nnext; i++) {
		tm_op *n = op->next[i];
		rv = n->watermark ? n->watermark(n, wm)
		                  : tm_op_emit_watermark(n, wm);
		if (rv != WR_OK)
			return rv;
	}
	if (op->nroutes == 0)
		return WR_OK;
	uint8_t payload[9];
	tm_wm_payload(wm, t->wm_idle, payload);
	for (int i = 0; i < op->nroutes; i++)
		if ((rv = tm_output_event(op->routes[i].out, TM_BATCH_WATERMARK,
		                          payload, sizeof(payload))) != WR_OK)
			return rv;
	return WR_OK;
}

static int
tm_op_filter_push(tm_op *op, const wr_row *r)
{
	if (!wr_expr_test(op->node->filter, r, &op->task->arena))
		return WR_OK;
	return tm_op_emit(op, r);
}

static int
tm_op_select_push(tm_op *op, const wr_row *r)
{
	const wr_node_spec *n = op->node;
	wr_row out;
	out.n = (uint32_t)n->nselect;
	for (size_t i = 0; i < n->nselect; i++) {
		int rv = wr_expr_eval(n->select[i].expr, r, &out.v[i],
		                      &op->task->arena);
		if (rv != WR_OK) {
			tm_task_fail(op->task,
			             "select '%s' in node '%s': %s (a record "
			             "needs more than the per-record memory)",
			             n->select[i].name, n->id, wr_strerror(rv));
			return rv;
		}
	}
	return tm_op_emit(op, &out);
}

/* key_by alone: the shuffle already routed by key; pass records on. */
static int
tm_op_forward_push(tm_op *op, const wr_row *r)
{
	return tm_op_emit(op, r);
}

static int
tm_op_nothing(tm_op *op)
{
	(void)op;
	return WR_OK;
}

int
tm_op_build(tm_task *t, int node, tm_op **out, char *errbuf, size_t errlen)
{
	const wr_node_spec *n = &t->job->nodes[node];
	tm_op *op = wr_xcalloc(1, sizeof(*op));
	op->node = n;
	op->task = t;
	op->finish = tm_op_nothing;
	int rv = WR_OK;
	switch (n->kind) {
	case WR_NODE_SOURCE:
		op->push = tm_op_forward_push;
		break;
	case WR_NODE_FILTER:
		op->push = tm_op_filter_push;
		break;
	case WR_NODE_SELECT:
		op->push = tm_op_select_push;
		break;
	case WR_NODE_KEY_BY:
		op->push = tm_op_forward_push;
		break;
	case WR_NODE_SINK:
		rv = tm_sink_new(t, op, errbuf, errlen);
		break;
	case WR_NODE_WINDOW:
	case WR_NODE_REDUCE:
		rv = tm_window_build(t, op, errbuf, errlen);
		break;
	default:
		snprintf(errbuf, errlen,
		         "node '%s': this kind of node cannot run in this "
		         "version",
		         n->id);
		rv = WR_ESTATE;
	}
	if (rv != WR_OK) {
		free(op);
		return rv;
	}
	*out = op;
	return WR_OK;
}
