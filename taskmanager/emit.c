/*
 * emit.c - the emit path and the operator context (op.h's tm_ctx calls):
 * chained operators are called directly; network routes encode the row
 * once and append it to the channel the edge's partitioner picks.
 */
#include "task_int.h"
#include "tm_int.h"

#include "err.h"
#include "mem.h"
#include "metrics.h"
#include "record.h"
#include "state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Cache of the keyed state backend: the hot entries of some 100,000
 * keys; colder state stays in LMDB's file-backed map. */
#define TM_STATE_CACHE_BYTES (16u * 1024u * 1024u)

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

/* Sends r on c's network routes whose side flag is side. */
static int
tm_ctx_send(tm_ctx *c, const wr_row *r, bool side)
{
	tm_task *t = c->task;
	int rv;
	for (int i = 0; i < c->nroutes; i++) {
		tm_route *rt = &c->routes[i];
		if (rt->side != side)
			continue;
		wr_buf_reset(&t->enc);
		wr_row_encode(r, &t->enc);
		int ch = tm_route_channel(rt, r, t->conf.subtask);
		rv = tm_output_append(rt->out, ch, t->enc.data, t->enc.len);
		if (rv == WR_ETOOBIG)
			/* The source refuses records over WR_RECORD_MAX_BYTES;
			 * only the job's own operators can grow one this far.
			 */
			tm_task_fail(
			    t,
			    "'%s' made a record of %zu bytes, over the "
			    "shuffle's limit of %u bytes",
			    c->node != NULL ? c->node->id : "?", t->enc.len,
			    WR_SHUFFLE_MAX_RECORD_BYTES);
		if (rv != WR_OK)
			return rv;
		wr_metric_inc(t->m_out);
		wr_metric_add(t->m_bytes_out, (double)t->enc.len);
	}
	return WR_OK;
}

int
tm_emit(tm_ctx *c, const wr_row *r)
{
	int rv;
	for (int i = 0; i < c->nnext; i++) {
		tm_ctx *n = c->next[i];
		/* The record was read; it reaches a sink only unfenced. */
		if (n->is_sink && !tm_task_sink_wait(c->task))
			return WR_ECLOSED;
		if ((rv = n->process(n->self, c->next_input[i], r)) != WR_OK)
			return rv;
	}
	return c->nroutes > 0 ? tm_ctx_send(c, r, false) : WR_OK;
}

bool
tm_has_side(const tm_ctx *c)
{
	return c->nside > 0;
}

int
tm_emit_side(tm_ctx *c, const wr_row *r)
{
	return tm_ctx_send(c, r, true);
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
tm_ctx_watermark(tm_ctx *c, int64_t wm)
{
	if (wm > c->wm) {
		c->wm = wm;
		if (c->vt->timer != NULL) {
			int rv = tm_timers_fire(c, TM_TIME_EVENT, wm);
			/* End of input (or a drain): what waits for the wall
			 * clock fires now too, or it would be lost. */
			if (rv == WR_OK && wm == TM_WM_MAX)
				rv = tm_timers_fire(c, TM_TIME_PROC, TM_WM_MAX);
			if (rv != WR_OK)
				return rv;
		}
	}
	/* Also when it did not advance: idleness may have changed. */
	if (c->vt->watermark != NULL)
		return c->vt->watermark(c->self, wm);
	return tm_emit_watermark(c, wm);
}

int
tm_emit_watermark(tm_ctx *c, int64_t wm)
{
	tm_task *t = c->task;
	int rv;
	for (int i = 0; i < c->nnext; i++)
		if ((rv = tm_ctx_watermark(c->next[i], wm)) != WR_OK)
			return rv;
	if (c->nroutes == 0)
		return WR_OK;
	uint8_t payload[9];
	tm_wm_payload(wm, t->wm_idle, payload);
	for (int i = 0; i < c->nroutes; i++)
		if ((rv = tm_output_event(c->routes[i].out, TM_BATCH_WATERMARK,
		                          payload, sizeof(payload))) != WR_OK)
			return rv;
	return WR_OK;
}

int64_t
tm_current_watermark(const tm_ctx *c)
{
	return c->wm;
}

/* ---- the rest of the context ---- */

const tm_op_conf *
tm_conf(const tm_ctx *c)
{
	return &c->task->conf;
}

const char *
tm_conf_kafka_bootstrap(const tm_op_conf *c, const char *own)
{
	return own != NULL ? own : c->kafka_bootstrap;
}

wr_arena *
tm_arena(tm_ctx *c)
{
	return &c->task->arena;
}

void
tm_fail(tm_ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tm_task_vfail(c->task, fmt, ap);
	va_end(ap);
}

bool
tm_cancelled(const tm_ctx *c)
{
	return atomic_load(&c->task->cancel);
}

bool
tm_yield(tm_ctx *c)
{
	return tm_task_tick(c->task);
}

/* The task's counter of which (NULL in unit tests' bare tasks). */
static struct wr_metric *
tm_task_counter(tm_task *t, tm_counter which)
{
	switch (which) {
	case TM_COUNT_IN:
		return t->m_in;
	case TM_COUNT_BYTES_IN:
		return t->m_bytes_in;
	case TM_COUNT_OUT:
		return t->m_out;
	case TM_COUNT_BYTES_OUT:
		return t->m_bytes_out;
	case TM_COUNT_INVALID:
		return t->m_invalid;
	case TM_COUNT_CEP_DROPPED:
		return t->m_cep_dropped;
	case TM_COUNT_LATE_DROPPED:
	default:
		return t->m_late_dropped;
	}
}

void
tm_count(tm_ctx *c, tm_counter which, double n)
{
	struct wr_metric *m = tm_task_counter(c->task, which);
	if (m != NULL)
		wr_metric_add(m, n);
}

bool
tm_sink_may_write(tm_ctx *c)
{
	return tm_task_sinks_may_write(c->task);
}

bool
tm_sink_wait(tm_ctx *c)
{
	return tm_task_sink_wait(c->task);
}

int
tm_state(tm_ctx *c, struct wr_state **out)
{
	tm_task *t = c->task;
	if (t->state == NULL) {
		char dir[4096];
		tm_task_state_dir(t, dir, sizeof(dir));
		wr_state_opts o = {.cache_bytes = TM_STATE_CACHE_BYTES};
		int rv = wr_state_open(dir, &o, &t->state);
		if (rv != WR_OK) {
			tm_fail(c,
			        "node '%s': cannot open keyed state in %s: %s",
			        c->node->id, dir, wr_strerror(rv));
			return rv;
		}
	}
	*out = t->state;
	return WR_OK;
}

void
tm_key_groups(const tm_ctx *c, int *first, int *last)
{
	const tm_op_conf *cf = &c->task->conf;
	*first = -1;
	*last = -2;
	for (int kg = 0; kg < cf->max_parallelism; kg++)
		if (wr_key_group_subtask(kg, cf->max_parallelism,
		                         cf->parallelism) == cf->subtask) {
			if (*first < 0)
				*first = kg;
			*last = kg;
		}
}

/* ---- building ---- */

int
tm_ctx_build(tm_task *t, int node, tm_ctx **out, char *errbuf, size_t errlen)
{
	const wr_node_spec *n = &t->job->nodes[node];
	const tm_op_vt *vt = tm_registry_op(n, &t->conf, errbuf, errlen);
	if (vt == NULL)
		return WR_ESTATE;
	tm_ctx *c = wr_xcalloc(1, sizeof(*c));
	c->node = n;
	c->task = t;
	c->vt = vt;
	c->process = vt->process;
	c->is_sink = n->kind == WR_NODE_SINK;
	c->wm = TM_WM_MIN;
	int rv = vt->open(c, n, &c->self, errbuf, errlen);
	if (rv != WR_OK) {
		free(c);
		return rv;
	}
	*out = c;
	return WR_OK;
}

int
tm_ctx_finish(tm_ctx *c)
{
	if (c->vt->timer != NULL && c->wm != TM_WM_MAX) {
		int rv = tm_ctx_watermark(c, TM_WM_MAX);
		if (rv != WR_OK)
			return rv;
	}
	return c->vt->finish != NULL ? c->vt->finish(c->self) : WR_OK;
}

void
tm_ctx_free(tm_ctx *c)
{
	if (c == NULL)
		return;
	if (c->vt->close != NULL && c->self != NULL)
		c->vt->close(c->self);
	tm_timers_free(c->timers[TM_TIME_EVENT]);
	tm_timers_free(c->timers[TM_TIME_PROC]);
	free(c);
}
