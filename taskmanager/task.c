/*
 * task.c - task lifecycle: build the chain of the vertex, connect its
 * network outputs and input gate, report RUNNING, run the source or the
 * input loop, then report FINISHED, CANCELED or FAILED to the JobManager.
 */
#include "task_int.h"
#include "tm_int.h"

#include "clock.h"
#include "err.h"
#include "fsutil.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "state.h"
#include "watermark.h"
#include "wr_limits.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Records of a partly filled batch wait at most this long (latency). */
#define TM_FLUSH_INTERVAL_MS 10
/* Per-record scratch memory (decoded strings, expression results). */
#define TM_TASK_ARENA_BYTES (4u * 1024u * 1024u)

struct tm_tasks {
	tm_server *tm;
	pthread_mutex_t lock;
	tm_task *v[TM_MAX_TASKS];
	int n;
	/* the tasks that ended, a ring (tm_tasks_ended) */
	tm_task_end ended[TM_ENDED_KEEP];
	int64_t ended_ms[TM_ENDED_KEEP]; /* monotonic */
	int ended_next, nended;
};

void
tm_task_vfail(tm_task *t, const char *fmt, va_list ap)
{
	if (t->failure[0] == '\0')
		vsnprintf(t->failure, sizeof(t->failure), fmt, ap);
}

void
tm_task_fail(tm_task *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tm_task_vfail(t, fmt, ap);
	va_end(ap);
}

void
tm_task_spec_free(tm_task_spec *spec)
{
	if (spec == NULL)
		return;
	free(spec->job_yaml);
	free(spec->file_name);
	free(spec->locs);
	free(spec->restore_url);
	free(spec);
}

static const tm_task_loc *
tm_task_loc_of(const tm_task *t, int vertex, int subtask)
{
	for (int i = 0; i < t->spec->nlocs; i++)
		if (t->spec->locs[i].vertex == vertex &&
		    t->spec->locs[i].subtask == subtask)
			return &t->spec->locs[i];
	return NULL;
}

static void
tm_task_key(const tm_task *t, int edge, int from, int to, tm_chan_key *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->job_id, t->spec->job_id, sizeof(k->job_id));
	k->attempt = t->spec->attempt;
	k->edge = (uint16_t)edge;
	k->from_subtask = (uint16_t)from;
	k->to_subtask = (uint16_t)to;
}

/* Creates the network output of edge e and attaches it to its operator. */
static int
tm_task_add_route(tm_task *t, int e, char *errbuf, size_t errlen)
{
	const wr_edge *edge = &t->plan->edges[e];
	tm_ctx *op = t->ops[edge->from_node];
	if (op == NULL || op->nroutes == TM_MAX_NEXT ||
	    t->noutputs == (int)(sizeof(t->outputs) / sizeof(t->outputs[0]))) {
		snprintf(errbuf, errlen, "edge %d: too many outputs", e);
		return WR_EINTERNAL;
	}
	tm_route *rt = &op->routes[op->nroutes];
	tm_chan_key key;
	tm_task_key(t, e, t->spec->subtask, 0, &key);
	rt->nchannels = t->plan->vertices[edge->to_vertex].parallelism;
	int rv = tm_output_new(t->tm->shuffle, &key, rt->nchannels, &rt->out);
	if (rv != WR_OK) {
		snprintf(errbuf, errlen, "edge %d: output: %s", e,
		         wr_strerror(rv));
		return rv;
	}
	rt->edge = edge;
	/* The edge's keys: a join's two inputs hash on their own keys. */
	rt->keys = edge->keys;
	rt->nkeys = edge->nkeys;
	rt->max_parallelism = t->job->max_parallelism;
	rt->side = edge->side;
	t->outputs[t->noutputs++] = rt->out;
	op->nroutes++;
	if (rt->side)
		op->nside++;
	return WR_OK;
}

/* The input gate: one channel per producer subtask of every edge in. */
static int
tm_task_add_input(tm_task *t, char *errbuf, size_t errlen)
{
	int v = (int)(t->vertex - t->plan->vertices), n = 0;
	tm_input_chan *chans = NULL;
	for (int e = 0; e < t->plan->nedges; e++) {
		const wr_edge *edge = &t->plan->edges[e];
		if (edge->to_vertex != v)
			continue;
		int np = t->plan->vertices[edge->from_vertex].parallelism;
		chans = wr_xrealloc(chans, (size_t)(n + np) * sizeof(*chans));
		t->chan_input = wr_xrealloc(
		    t->chan_input, (size_t)(n + np) * sizeof(*t->chan_input));
		for (int j = 0; j < np; j++) {
			t->chan_input[n] = edge->input_index;
			const tm_task_loc *loc =
			    tm_task_loc_of(t, edge->from_vertex, j);
			tm_input_chan *c = &chans[n++];
			memset(c, 0, sizeof(*c));
			tm_task_key(t, e, j, t->spec->subtask, &c->key);
			snprintf(c->address, sizeof(c->address), "%s",
			         loc ? loc->data_address : "");
			c->local =
			    loc != NULL &&
			    strcmp(loc->data_address, t->tm->data_address) == 0;
		}
	}
	t->ninput_chans = n;
	int rv = WR_OK;
	if (n > 0 &&
	    (rv = tm_input_new(t->tm->shuffle, chans, n, &t->input)) != WR_OK)
		snprintf(errbuf, errlen, "input gate: %s", wr_strerror(rv));
	free(chans);
	return rv;
}

/* Operators of this vertex, chained in plan order. */
static int
tm_task_build_chain(tm_task *t, char *errbuf, size_t errlen)
{
	const wr_vertex *vx = t->vertex;
	for (int i = 0; i < vx->nnodes; i++) {
		int node = vx->nodes[i];
		int rv = tm_ctx_build(t, node, &t->ops[node], errbuf, errlen);
		if (rv != WR_OK)
			return rv;
		const wr_node_spec *n = &t->job->nodes[node];
		if (i == 0) {
			t->head = t->ops[node];
			continue;
		}
		/* A chained node's input is in this vertex. */
		tm_ctx *up = t->ops[n->inputs[0]];
		if (up == NULL || up->nnext == TM_MAX_NEXT) {
			snprintf(errbuf, errlen, "node '%s': bad chain", n->id);
			return WR_EINTERNAL;
		}
		up->next_input[up->nnext] = 0; /* its input 0 is up */
		up->next[up->nnext++] = t->ops[node];
	}
	int v = (int)(vx - t->plan->vertices);
	for (int e = 0; e < t->plan->nedges; e++)
		if (t->plan->edges[e].from_vertex == v) {
			int rv = tm_task_add_route(t, e, errbuf, errlen);
			if (rv != WR_OK)
				return rv;
		}
	return tm_task_add_input(t, errbuf, errlen);
}

/* Bytes and where the task's time goes. */
static void
tm_task_metrics_time(tm_task *t, wr_metrics *reg, const char *const *labels)
{
	t->m_bytes_in = wr_metrics_get(
	    reg, WR_METRIC_COUNTER, "weir_bytes_in_total",
	    "Bytes a task read: source messages, network batches", labels);
	t->m_bytes_out = wr_metrics_get(
	    reg, WR_METRIC_COUNTER, "weir_bytes_out_total",
	    "Bytes a task sent on the network or wrote to a sink", labels);
	t->m_busy_s = wr_metrics_get(
	    reg, WR_METRIC_COUNTER, "weir_busy_time_seconds_total",
	    "Time a task worked (neither idle nor back-pressured)", labels);
	t->m_idle_s = wr_metrics_get(reg, WR_METRIC_COUNTER,
	                             "weir_idle_time_seconds_total",
	                             "Time a task waited for input", labels);
	t->m_bp_s = wr_metrics_get(
	    reg, WR_METRIC_COUNTER, "weir_backpressured_time_seconds_total",
	    "Time a task was blocked on full outputs", labels);
	t->m_busy_ratio =
	    wr_metrics_get(reg, WR_METRIC_GAUGE, "weir_busy_time_ratio",
	                   "Share of the last second the task worked", labels);
	t->m_idle_ratio = wr_metrics_get(
	    reg, WR_METRIC_GAUGE, "weir_idle_time_ratio",
	    "Share of the last second the task waited for input", labels);
}

/* Only a chain with a pattern node has partial matches to drop. */
static bool
tm_task_has_pattern(const tm_task *t)
{
	for (int i = 0; i < t->vertex->nnodes; i++)
		if (t->job->nodes[t->vertex->nodes[i]].kind == WR_NODE_PATTERN)
			return true;
	return false;
}

static void
tm_task_metrics(tm_task *t)
{
	char vertex[16], subtask[16];
	snprintf(vertex, sizeof(vertex), "%d", t->spec->vertex);
	snprintf(subtask, sizeof(subtask), "%d", t->spec->subtask);
	/* SPEC "Metrics": never "job", which Prometheus sets on a scrape. */
	const char *labels[] = {"job_id",      t->spec->job_id, "job_name",
	                        t->job->name,  "vertex",        vertex,
	                        "vertex_name", t->vertex->name, "subtask",
	                        subtask,       "task_manager",  t->tm->id,
	                        NULL};
	wr_metrics *reg = t->tm->metrics;
	t->m_in =
	    wr_metrics_get(reg, WR_METRIC_COUNTER, "weir_records_in_total",
	                   "Records a task received", labels);
	t->m_out =
	    wr_metrics_get(reg, WR_METRIC_COUNTER, "weir_records_out_total",
	                   "Records a task sent on or wrote", labels);
	t->m_invalid = wr_metrics_get(
	    reg, WR_METRIC_COUNTER, "weir_invalid_records_total",
	    "Records that failed to decode or match the schema", labels);
	t->m_late_dropped = wr_metrics_get(
	    reg, WR_METRIC_COUNTER, "weir_late_records_dropped_total",
	    "Records later than their window's allowed lateness", labels);
	if (tm_task_has_pattern(t))
		t->m_cep_dropped = wr_metrics_get(
		    reg, WR_METRIC_COUNTER,
		    "weir_cep_partial_matches_dropped_total",
		    "Partial matches of a pattern dropped over the per-key "
		    "bound",
		    labels);
	t->m_backpressure = wr_metrics_get(
	    reg, WR_METRIC_GAUGE, "weir_backpressured_time_ratio",
	    "Share of the last second the task was blocked on full outputs",
	    labels);
	/* No watermark before the first one (a job without event time has
	 * none): 0 would read as 56 years of lag. */
	t->m_watermark = wr_metrics_get_empty(
	    reg, WR_METRIC_GAUGE, "weir_current_watermark_ms",
	    "The task's input watermark (event time, epoch ms)", labels);
	tm_task_metrics_time(t, reg, labels);
}

/* Its series stay for a last scrape, then go (a later attempt of the
 * subtask here holds them again). */
static void
tm_task_metrics_release(tm_task *t)
{
	wr_metrics *reg = t->tm->metrics;
	int64_t grace = t->tm->cfg.metrics_ended_job_grace_ms;
	struct wr_metric *ms[] = {
	    t->m_in,           t->m_out,          t->m_invalid,
	    t->m_late_dropped, t->m_backpressure, t->m_watermark,
	    t->m_bytes_in,     t->m_bytes_out,    t->m_busy_s,
	    t->m_idle_s,       t->m_bp_s,         t->m_busy_ratio,
	    t->m_idle_ratio,   t->m_cep_dropped};
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
		wr_metrics_release(reg, ms[i], grace);
}

/* Back-pressure: the share of the last second the task's outputs spent
 * blocked on full queues (Flink's backPressuredTimeMsPerSecond / 1000);
 * idle and busy as Flink defines them: busy is the rest of the time
 * (neither waiting for input nor blocked on outputs). The same split of
 * the elapsed time goes to the seconds counters. */
static void
tm_task_backpressure(tm_task *t, int64_t now)
{
	if (now - t->bp_last_ms < 1000)
		return;
	uint64_t blocked = 0;
	for (int i = 0; i < t->noutputs; i++)
		blocked += tm_output_blocked_ms(t->outputs[i]);
	double span = (double)(now - t->bp_last_ms);
	double bp_ms =
	    t->bp_last_ms == 0 ? 0.0 : (double)(blocked - t->bp_last_blocked);
	double idle_ms =
	    t->bp_last_ms == 0 ? 0.0 : (double)(t->idle_ms - t->idle_last_ms);
	if (t->bp_last_ms != 0) {
		if (bp_ms > span)
			bp_ms = span;
		if (idle_ms > span - bp_ms)
			idle_ms = span - bp_ms;
		wr_metric_add(t->m_bp_s, bp_ms / 1000.0);
		wr_metric_add(t->m_idle_s, idle_ms / 1000.0);
		wr_metric_add(t->m_busy_s, (span - bp_ms - idle_ms) / 1000.0);
	}
	double ratio = t->bp_last_ms == 0 ? 0.0 : bp_ms / span;
	double idle = t->bp_last_ms == 0 ? 0.0 : idle_ms / span;
	wr_metric_set(t->m_backpressure, ratio);
	wr_metric_set(t->m_idle_ratio, idle);
	int bp = (int)(ratio * 1000.0 + 0.5), id = (int)(idle * 1000.0 + 0.5);
	int busy = 1000 - bp - id < 0 ? 0 : 1000 - bp - id;
	wr_metric_set(t->m_busy_ratio, busy / 1000.0);
	atomic_store(&t->st_bp, bp);
	atomic_store(&t->st_idle, id);
	atomic_store(&t->st_busy, busy);
	t->bp_last_ms = now;
	t->bp_last_blocked = blocked;
	t->idle_last_ms = t->idle_ms;
}

void
tm_task_idle(tm_task *t, int64_t ms)
{
	if (ms > 0)
		t->idle_ms += ms;
}

bool
tm_task_sinks_may_write(tm_task *t)
{
	return !atomic_load(&t->orphan) && tm_sinks_open(t->tm);
}

bool
tm_task_sink_wait(tm_task *t)
{
	bool logged = false;
	while (!tm_task_sinks_may_write(t)) {
		if (atomic_load(&t->orphan) || atomic_load(&t->cancel))
			return false;
		if (!logged)
			wr_log(WR_LOG_WARN, "TASK-FENCED",
			       "%s: no JobManager confirmed this TaskManager "
			       "within its heartbeat timeout: sinks wait",
			       t->label);
		logged = true;
		wr_sleep_ms(TM_FENCE_POLL_MS);
	}
	if (logged)
		wr_log(WR_LOG_INFO, "TASK-UNFENCED", "%s: sinks write again",
		       t->label);
	return true;
}

/* After a stop-with-savepoint barrier a source emits nothing more - no
 * record, no watermark, no end of stream, even at the end of its input:
 * it waits here for the cancel that ends the job, committing the
 * savepoint when it completes. */
static void
tm_task_stopped_wait(tm_task *t)
{
	while (t->ck_stopped && !t->tick_failed && !atomic_load(&t->cancel)) {
		for (int i = 0; i < t->noutputs; i++)
			tm_output_flush(t->outputs[i]);
		if (tm_task_ckpt_poll(t) != WR_OK)
			t->tick_failed = true;
		wr_sleep_ms(TM_FLUSH_INTERVAL_MS);
	}
}

bool
tm_task_tick(tm_task *t)
{
	int64_t now = wr_mono_ms();
	if (now - t->tick_last_ms >= TM_FLUSH_INTERVAL_MS) {
		t->tick_last_ms = now;
		for (int i = 0; i < t->noutputs; i++)
			tm_output_flush(t->outputs[i]);
		for (int i = 0; t->vertex != NULL && i < t->vertex->nnodes;
		     i++) {
			tm_ctx *op = t->ops[t->vertex->nodes[i]];
			if (op == NULL)
				continue;
			/* Processing-time timers, on the wall clock; not from
			 * a tick inside a record's processing (a sink waiting
			 * on a full queue), which would re-enter operators. */
			if (op->vt->timer != NULL && t->depth == 0 &&
			    tm_timers_fire(op, TM_TIME_PROC, wr_wall_ms()) !=
			        WR_OK) {
				t->tick_failed = true;
				continue;
			}
			/* A fenced sink neither rolls nor publishes. */
			if (op->is_sink && !tm_task_sinks_may_write(t))
				continue;
			/* A failing tick (a sink that cannot write) has
			 * recorded its failure; the task stops as FAILED. */
			if (op->vt->tick != NULL &&
			    op->vt->tick(op->self, now) != WR_OK)
				t->tick_failed = true;
		}
		tm_task_backpressure(t, now);
		if (!t->tick_failed && tm_task_ckpt_poll(t) != WR_OK)
			t->tick_failed = true;
	}
	tm_task_stopped_wait(t);
	return !t->tick_failed && !atomic_load(&t->cancel);
}

static int
tm_task_push_record(void *arg, const uint8_t *rec, size_t len)
{
	tm_task *t = arg;
	wr_row row;
	size_t pos = 0;
	if (wr_row_decode(rec, len, &pos, &row) != WR_OK || pos != len) {
		tm_task_fail(t, "corrupt record from the network");
		return WR_ECORRUPT;
	}
	wr_metric_inc(t->m_in);
	wr_metric_add(t->m_bytes_in, (double)len);
	tm_ctx *h = t->head;
	if (h->is_sink && !tm_task_sink_wait(t))
		return WR_ECLOSED;
	t->depth++;
	int rv = h->process(h->self, t->cur_input, &row);
	t->depth--;
	wr_arena_reset(&t->arena);
	return rv;
}

int
tm_task_watermark(tm_task *t, int64_t wm, bool idle)
{
	t->watermark = wm;
	t->wm_idle = idle;
	if (wm != TM_WM_MIN && wm != TM_WM_MAX) {
		wr_metric_set(t->m_watermark, (double)wm);
		atomic_store(&t->st_wm, wm);
	}
	t->depth++;
	int rv = tm_ctx_watermark(t->head, wm);
	t->depth--;
	return rv;
}

/* An event batch on channel ch: watermarks combine over channels. */
static int
tm_task_input_event(tm_task *t, tm_wm_tracker *wmt, const tm_batch *b, int ch)
{
	if (b->kind == TM_BATCH_WATERMARK) {
		int64_t wm;
		bool idle;
		if (tm_wm_payload_parse(b->data, b->len, &wm, &idle) != WR_OK) {
			tm_task_fail(t, "corrupt watermark from the network");
			return WR_ECORRUPT;
		}
		tm_wm_channel(wmt, ch, wm, idle);
	} else if (b->kind == TM_BATCH_EOS) {
		tm_wm_end(wmt, ch);
		int rv = tm_task_ckpt_chan_ended(t, ch);
		if (rv != WR_OK)
			return rv;
	} else if (b->kind == TM_BATCH_BARRIER) {
		return tm_task_ckpt_barrier(t, b, ch);
	} else {
		return WR_OK;
	}
	int64_t wm;
	bool idle;
	if (tm_wm_poll(wmt, wr_mono_ms(), true, &wm, &idle))
		return tm_task_watermark(t, wm, idle);
	return WR_OK;
}

/*
 * An input channel failed. When its producer was cancelled - the job is
 * being cancelled or restarted, and the JobManager's cancels reach
 * TaskManagers in no set order - this task's own cancel follows within
 * moments: it is waited for (TM_INPUT_FAIL_GRACE_MS), so the task ends
 * CANCELED, its sinks keeping what they hold, instead of FAILED with its
 * in-progress output dropped. Otherwise the failure is the task's.
 */
static void
tm_task_input_failed(tm_task *t, int rv)
{
	int64_t until = wr_mono_ms() + TM_INPUT_FAIL_GRACE_MS;
	while (!atomic_load(&t->cancel) && wr_mono_ms() < until)
		wr_sleep_ms(TM_FENCE_POLL_MS);
	if (!atomic_load(&t->cancel))
		tm_task_fail(t, "input: %s", wr_strerror(rv));
}

/* Reads the input gate until every channel ended or the task stops. */
static int
tm_task_input_loop(tm_task *t)
{
	tm_wm_tracker wmt;
	int rv;
	tm_wm_init(&wmt, t->ninput_chans, 0, 0, wr_mono_ms());
	for (;;) {
		if (!tm_task_tick(t)) {
			rv = WR_ECLOSED;
			break;
		}
		tm_batch *b;
		int ch;
		int64_t t0 = wr_mono_ms();
		rv = tm_input_next(t->input, TM_FLUSH_INTERVAL_MS, &b, &ch);
		tm_task_idle(t, wr_mono_ms() - t0);
		if (rv == WR_ETIMEDOUT)
			continue;
		if (rv == WR_ENOENT) {
			rv = WR_OK; /* every producer sent end of stream */
			break;
		}
		if (rv != WR_OK) {
			tm_task_input_failed(t, rv);
			break;
		}
		if (b->kind == TM_BATCH_DATA) {
			t->cur_input = t->chan_input[ch];
			rv = tm_batch_foreach(b, tm_task_push_record, t);
		} else
			rv = tm_task_input_event(t, &wmt, b, ch);
		tm_input_release(t->input, b);
		if (rv != WR_OK)
			break;
	}
	tm_wm_fini(&wmt);
	return rv;
}

/* End of input: operators flush in chain order, then end of stream goes
 * downstream. */
static int
tm_task_finish(tm_task *t)
{
	for (int i = 0; i < t->vertex->nnodes; i++) {
		tm_ctx *op = t->ops[t->vertex->nodes[i]];
		if (op->is_sink && !tm_task_sink_wait(t))
			return WR_ECLOSED;
		int rv = tm_ctx_finish(op);
		if (rv != WR_OK)
			return rv;
	}
	for (int i = 0; i < t->noutputs; i++) {
		int rv = tm_output_event(t->outputs[i], TM_BATCH_EOS, NULL, 0);
		if (rv != WR_OK)
			return rv;
	}
	/* Wait until consumers took everything, or freeing the outputs would
	 * drop what they have not fetched yet. */
	for (int i = 0; i < t->noutputs; i++) {
		int rv;
		while ((rv = tm_output_drain(t->outputs[i], 100)) ==
		       WR_ETIMEDOUT)
			if (atomic_load(&t->cancel))
				return WR_ECLOSED;
		if (rv != WR_OK)
			return rv;
	}
	return WR_OK;
}

/* Sinks keep what they were given when the task is cancelled: files are
 * committed, Kafka messages flushed (at-least-once without checkpoints) -
 * unless the sinks are fenced (an orphan, or no JobManager confirmed this
 * TaskManager lately). */
static void
tm_task_finish_sinks(tm_task *t)
{
	if (!tm_task_sinks_may_write(t))
		return;
	for (int i = 0; i < t->vertex->nnodes; i++) {
		tm_ctx *op = t->ops[t->vertex->nodes[i]];
		if (op != NULL && op->is_sink && op->vt->finish != NULL)
			op->vt->finish(op->self);
	}
}

void
tm_task_conf(tm_task *t)
{
	tm_op_conf *c = &t->conf;
	c->job_id = t->spec->job_id;
	c->job_name = t->job->name;
	c->job = t->job;
	c->label = t->label;
	c->tm_id = t->tm->id;
	c->vertex = t->spec->vertex;
	c->vertex_name = t->vertex->name;
	c->subtask = t->spec->subtask;
	c->parallelism = t->vertex->parallelism;
	c->max_parallelism = t->job->max_parallelism;
	c->attempt = t->spec->attempt;
	c->checkpointing = t->job->checkpointing.interval_ms > 0;
	c->kafka_bootstrap = t->tm->cfg.kafka_bootstrap;
	c->kafka_fetch_wait_ms = t->tm->cfg.kafka_fetch_wait_ms;
	c->kafka_linger_ms = t->tm->cfg.kafka_linger_ms;
	c->state_dir = t->tm->cfg.tm_state_dir;
}

static int
tm_task_prepare(tm_task *t, char *errbuf, size_t errlen)
{
	const tm_task_spec *s = t->spec;
	int rv =
	    wr_jobspec_parse(s->file_name, s->job_yaml, strlen(s->job_yaml),
	                     s->parallelism_override, &t->job, errbuf, errlen);
	if (rv == WR_OK)
		rv = wr_plan_build(t->job, &t->plan, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	if (s->vertex < 0 || s->vertex >= t->plan->nvertices ||
	    s->subtask < 0 ||
	    s->subtask >= t->plan->vertices[s->vertex].parallelism) {
		snprintf(errbuf, errlen, "no subtask %d/%d in this plan",
		         s->vertex, s->subtask);
		return WR_EINVAL;
	}
	t->vertex = &t->plan->vertices[s->vertex];
	t->watermark = TM_WM_MIN;
	tm_task_conf(t);
	tm_task_metrics(t);
	if ((rv = tm_task_restore_state(t, errbuf, errlen)) != WR_OK ||
	    (rv = tm_task_build_chain(t, errbuf, errlen)) != WR_OK)
		return rv;
	return tm_task_restore_ops(t, errbuf, errlen);
}

static void
tm_task_destroy_chain(tm_task *t)
{
	for (int i = 0; i < t->noutputs; i++)
		tm_output_close(t->outputs[i]);
	tm_input_free(t->input);
	for (int i = 0; i < t->noutputs; i++)
		tm_output_free(t->outputs[i]);
	for (int i = 0; i < WR_JOB_MAX_NODES; i++) {
		tm_ctx_free(t->ops[i]);
		t->ops[i] = NULL;
	}
	free(t->chan_input);
	t->chan_input = NULL;
	wr_state_close(t->state);
	t->state = NULL;
	wr_plan_free(t->plan);
	wr_jobspec_free(t->job);
}

/* A task's local keyed state is worth nothing once it ends: a later
 * attempt restores from a checkpoint, never from what a task left. Remove
 * it so the disk does not fill. */
static void
tm_task_drop_state(tm_task *t)
{
	char dir[4096];
	tm_task_state_dir(t, dir, sizeof(dir));
	int rv = wr_rmtree(dir);
	if (rv != WR_OK)
		wr_log(WR_LOG_WARN, "TASK-STATE-DROP",
		       "%s: cannot remove %s: %s", t->label, dir,
		       wr_strerror(rv));
	snprintf(dir, sizeof(dir), "%s/%s", t->tm->cfg.tm_state_dir,
	         t->spec->job_id);
	rmdir(dir); /* the job's directory, once its last task is gone */
}

/*
 * Fault points for tests (debug builds only): the environment variable
 * env holds the task that many milliseconds there (logged as code).
 * WEIR_FAULT_SOURCE_END_MS: a source that reached the end of its input,
 * before its last trigger poll, so a trigger sent meanwhile is taken at
 * the end of input. WEIR_FAULT_FINISHED_REPORT_MS: a task's FINISHED
 * report, so the JobManager still counts the ended task as running and
 * triggers checkpoints at it.
 */
static void
tm_task_fault_hold(const char *env, const char *code)
{
#ifndef NDEBUG
	const char *e = getenv(env);
	int ms = e ? atoi(e) : 0;
	if (ms > 0) {
		wr_log(WR_LOG_INFO, code, "holding the task %d ms (%s)", ms,
		       env);
		wr_sleep_ms(ms);
	}
#else
	(void)env;
	(void)code;
#endif
}

int
tm_task_end_checkpoints(tm_task *t, int rv)
{
	if (atomic_load(&t->ended))
		return rv; /* a source ended its input itself (tm_src_end) */
	if (rv == WR_OK && t->head->node->kind == WR_NODE_SOURCE)
		tm_task_fault_hold("WEIR_FAULT_SOURCE_END_MS",
		                   "FAULT-SOURCE-END");
	pthread_mutex_lock(&t->ck_mu);
	atomic_store(&t->ended, true);
	pthread_mutex_unlock(&t->ck_mu);
	if (rv == WR_OK && !atomic_load(&t->cancel) && !t->tick_failed &&
	    t->head->node->kind == WR_NODE_SOURCE)
		rv = tm_task_ckpt_poll(t);
	/* A stop's barrier taken here, at the end of the input: the end of
	 * stream must not follow it, or the final watermark would fire the
	 * windows the savepoint holds and the sinks commit them at their
	 * finish - the job resumed from the savepoint fires them again. */
	if (rv == WR_OK && t->ck_stopped) {
		tm_task_stopped_wait(t);
		if (t->tick_failed)
			rv = WR_ECLOSED; /* the failure is recorded */
	}
	return rv;
}

/* Keeps t's end for registrations (tm_tasks_ended). */
static void
tm_tasks_remember_end(tm_tasks *tasks, const tm_task *t, const char *state)
{
	pthread_mutex_lock(&tasks->lock);
	tm_task_end *e = &tasks->ended[tasks->ended_next];
	memset(e, 0, sizeof(*e));
	snprintf(e->ref.job_id, sizeof(e->ref.job_id), "%s", t->spec->job_id);
	snprintf(e->ref.task_id, sizeof(e->ref.task_id), "%s",
	         t->spec->task_id);
	e->ref.attempt = t->spec->attempt;
	e->ref.slot = t->spec->slot;
	snprintf(e->state, sizeof(e->state), "%s", state);
	if (strcmp(state, "FAILED") == 0)
		snprintf(e->failure, sizeof(e->failure), "%s", t->failure);
	tasks->ended_ms[tasks->ended_next] = wr_mono_ms();
	tasks->ended_next = (tasks->ended_next + 1) % TM_ENDED_KEEP;
	if (tasks->nended < TM_ENDED_KEEP)
		tasks->nended++;
	pthread_mutex_unlock(&tasks->lock);
}

int
tm_tasks_ended(tm_tasks *tasks, tm_task_end *out, int max)
{
	int n = 0;
	int64_t now = wr_mono_ms();
	pthread_mutex_lock(&tasks->lock);
	for (int k = 1; k <= tasks->nended && n < max; k++) {
		int i = (tasks->ended_next - k + TM_ENDED_KEEP) % TM_ENDED_KEEP;
		if (now - tasks->ended_ms[i] > TM_ENDED_KEEP_MS)
			break; /* older ones are older still */
		out[n++] = tasks->ended[i];
	}
	pthread_mutex_unlock(&tasks->lock);
	return n;
}

static void *
tm_task_main(void *arg)
{
	tm_task *t = arg;
	char err[512] = "";
	const char *state = "FAILED";
	int rv = tm_task_prepare(t, err, sizeof(err));
	if (rv != WR_OK) {
		tm_task_fail(t, "%s", err);
		goto report;
	}
	atomic_store(&t->ready, true);
	tm_report_task_state(t->tm, t->spec, "RUNNING", NULL);
	if (t->head->node->kind == WR_NODE_SOURCE)
		rv = tm_source_run(t);
	else
		rv = tm_task_input_loop(t);
	rv = tm_task_end_checkpoints(t, rv);
	if (rv == WR_OK && !atomic_load(&t->cancel))
		rv = tm_task_finish(t);
	if (atomic_load(&t->cancel) && !t->tick_failed) {
		/* With checkpoints, sinks commit on checkpoints only. */
		if (!t->conf.checkpointing)
			tm_task_finish_sinks(t);
		state = "CANCELED";
	} else if (rv == WR_OK) {
		state = "FINISHED";
	} else if (t->failure[0] == '\0') {
		tm_task_fail(t, "%s", wr_strerror(rv));
	}
report:
	wr_log(strcmp(state, "FAILED") == 0 ? WR_LOG_WARN : WR_LOG_INFO,
	       "TASK-END", "%s %s%s%s", t->label, state,
	       strcmp(state, "FAILED") == 0 ? ": " : "",
	       strcmp(state, "FAILED") == 0 ? t->failure : "");
	tm_task_ckpt_fini(t, strcmp(state, "FAILED") != 0);
	atomic_store(&t->ready, false);
	pthread_mutex_lock(&t->tm->tasks->lock); /* no cancel closes now */
	pthread_mutex_unlock(&t->tm->tasks->lock);
	tm_task_destroy_chain(t);
	tm_task_drop_state(t);
	if (strcmp(state, "FINISHED") == 0)
		tm_task_fault_hold("WEIR_FAULT_FINISHED_REPORT_MS",
		                   "FAULT-FINISHED-REPORT");
	tm_tasks_remember_end(t->tm->tasks, t, state);
	atomic_store(&t->reported, true);
	tm_report_task_state(t->tm, t->spec, state,
	                     strcmp(state, "FAILED") == 0 ? t->failure : NULL);
	atomic_store(&t->done, true);
	return NULL;
}

tm_tasks *
tm_tasks_new(tm_server *tm)
{
	tm_tasks *tasks = wr_xcalloc(1, sizeof(*tasks));
	tasks->tm = tm;
	pthread_mutex_init(&tasks->lock, NULL);
	return tasks;
}

static tm_task *
tm_tasks_find(tm_tasks *tasks, const char *job_id, const char *task_id)
{
	for (int i = 0; i < tasks->n; i++)
		if (strcmp(tasks->v[i]->spec->job_id, job_id) == 0 &&
		    strcmp(tasks->v[i]->spec->task_id, task_id) == 0)
			return tasks->v[i];
	return NULL;
}

/* @locks tasks->lock held */
static void
tm_task_stop(tm_task *t)
{
	atomic_store(&t->cancel, true);
	/* Wake an append blocked on back-pressure. */
	if (atomic_load(&t->ready))
		for (int i = 0; i < t->noutputs; i++)
			tm_output_close(t->outputs[i]);
}

int
tm_tasks_deploy(tm_tasks *tasks, tm_task_spec *spec, char *errbuf,
                size_t errlen)
{
	int rv = WR_OK;
	pthread_mutex_lock(&tasks->lock);
	tm_task *old = tm_tasks_find(tasks, spec->job_id, spec->task_id);
	/* An earlier attempt still ending (its cancel may not have come):
	 * stop it and give it a moment. */
	for (int i = 0; old != NULL && !atomic_load(&old->done) &&
	                old->spec->attempt < spec->attempt && i < 300;
	     i++) {
		tm_task_stop(old);
		pthread_mutex_unlock(&tasks->lock);
		wr_sleep_ms(10);
		pthread_mutex_lock(&tasks->lock);
		old = tm_tasks_find(tasks, spec->job_id, spec->task_id);
	}
	if (old != NULL && !atomic_load(&old->done)) {
		snprintf(errbuf, errlen, "task %s of job %s already runs",
		         spec->task_id, spec->job_id);
		rv = WR_EEXIST;
		goto unlock;
	}
	if (tasks->n == TM_MAX_TASKS) {
		snprintf(errbuf, errlen,
		         "this TaskManager runs %d tasks already",
		         TM_MAX_TASKS);
		rv = WR_EFULL;
		goto unlock;
	}
	tm_task *t = wr_xcalloc(1, sizeof(*t));
	t->tm = tasks->tm;
	t->spec = spec;
	snprintf(t->label, sizeof(t->label), "job=%s task=%s", spec->job_id,
	         spec->task_id);
	wr_arena_init(&t->arena, TM_TASK_ARENA_BYTES);
	wr_buf_init(&t->enc);
	pthread_mutex_init(&t->ck_mu, NULL);
	t->keyed_node = -1;
	atomic_init(&t->st_wm, TM_WM_MIN);
	if ((rv = pthread_create(&t->thread, NULL, tm_task_main, t)) != 0) {
		snprintf(errbuf, errlen, "cannot start a thread: %s",
		         wr_strerror(wr_err_from_errno(rv)));
		wr_arena_fini(&t->arena);
		free(t);
		rv = WR_EFULL;
		goto unlock;
	}
	tasks->v[tasks->n++] = t;
	wr_log(WR_LOG_INFO, "TASK-DEPLOYED", "%s slot=%u", t->label,
	       spec->slot);
unlock:
	pthread_mutex_unlock(&tasks->lock);
	return rv;
}

int
tm_tasks_cancel(tm_tasks *tasks, const char *job_id, const char *task_id)
{
	int rv = WR_ENOENT;
	pthread_mutex_lock(&tasks->lock);
	tm_task *t = tm_tasks_find(tasks, job_id, task_id);
	if (t != NULL && !atomic_load(&t->reported)) {
		tm_task_stop(t);
		rv = WR_OK;
	}
	pthread_mutex_unlock(&tasks->lock);
	return rv;
}

/* Running: not ended and not told to stop. @locks tasks->lock held */
static bool
tm_task_running(tm_task *t)
{
	return !atomic_load(&t->done) && !atomic_load(&t->cancel);
}

int
tm_tasks_list(tm_tasks *tasks, tm_task_ref *out, int max)
{
	int n = 0;
	pthread_mutex_lock(&tasks->lock);
	for (int i = 0; i < tasks->n && n < max; i++) {
		const tm_task *t = tasks->v[i];
		if (!tm_task_running(tasks->v[i]))
			continue;
		tm_task_ref *r = &out[n++];
		memcpy(r->job_id, t->spec->job_id, sizeof(r->job_id));
		memcpy(r->task_id, t->spec->task_id, sizeof(r->task_id));
		r->attempt = t->spec->attempt;
		r->slot = t->spec->slot;
		/* the counters exist once the task is ready */
		bool ready = atomic_load(&t->ready);
		r->records_in = ready ? (uint64_t)wr_metric_value(t->m_in) : 0;
		r->records_out =
		    ready ? (uint64_t)wr_metric_value(t->m_out) : 0;
		r->bp = atomic_load(&t->st_bp);
		r->idle = atomic_load(&t->st_idle);
		r->busy = atomic_load(&t->st_busy);
		r->wm = atomic_load(&t->st_wm);
		r->has_wm = r->wm != TM_WM_MIN;
	}
	pthread_mutex_unlock(&tasks->lock);
	return n;
}

/* @locks tasks->lock held */
static void
tm_task_orphan(tm_task *t)
{
	/* orphan before cancel: the task sees its sinks shut when it sees
	 * the cancel, and skips the flush a cancel does. */
	atomic_store(&t->orphan, true);
	tm_task_stop(t);
	wr_metric_inc(t->tm->m_not_adopted);
	wr_log(WR_LOG_WARN, "TASK-ORPHAN",
	       "%s attempt %u: no JobManager keeps it: cancelled, its sinks "
	       "write nothing more",
	       t->label, t->spec->attempt);
}

int
tm_tasks_orphan(tm_tasks *tasks, const tm_task_ref *ref)
{
	int rv = WR_ENOENT;
	pthread_mutex_lock(&tasks->lock);
	for (int i = 0; i < tasks->n && rv != WR_OK; i++) {
		tm_task *t = tasks->v[i];
		if (strcmp(t->spec->job_id, ref->job_id) == 0 &&
		    strcmp(t->spec->task_id, ref->task_id) == 0 &&
		    t->spec->attempt == ref->attempt && tm_task_running(t)) {
			tm_task_orphan(t);
			rv = WR_OK;
		}
	}
	pthread_mutex_unlock(&tasks->lock);
	return rv;
}

int
tm_tasks_orphan_all(tm_tasks *tasks)
{
	int n = 0;
	pthread_mutex_lock(&tasks->lock);
	for (int i = 0; i < tasks->n; i++)
		if (tm_task_running(tasks->v[i])) {
			tm_task_orphan(tasks->v[i]);
			n++;
		}
	pthread_mutex_unlock(&tasks->lock);
	return n;
}

static void
tm_task_free(tm_task *t)
{
	pthread_join(t->thread, NULL);
	tm_task_metrics_release(t);
	wr_arena_fini(&t->arena);
	wr_buf_fini(&t->enc);
	pthread_mutex_destroy(&t->ck_mu);
	tm_task_spec_free(t->spec);
	free(t);
}

void
tm_tasks_reap(tm_tasks *tasks)
{
	pthread_mutex_lock(&tasks->lock);
	for (int i = 0; i < tasks->n; i++) {
		if (!atomic_load(&tasks->v[i]->done))
			continue;
		tm_task_free(tasks->v[i]);
		tasks->v[i] = tasks->v[--tasks->n];
		i--;
	}
	pthread_mutex_unlock(&tasks->lock);
}

int
tm_tasks_trigger(tm_tasks *tasks, const char *job_id, const tm_ckpt_trigger *tr)
{
	tm_task *src[TM_MAX_TASKS];
	int n = 0;
	bool busy = false;
	pthread_mutex_lock(&tasks->lock);
	for (int i = 0; i < tasks->n; i++) {
		tm_task *t = tasks->v[i];
		if (strcmp(t->spec->job_id, job_id) != 0)
			continue;
		/* Done ones have reported their end, cancelled ones go; one
		 * of the triggered attempt that ended may not be ended in the
		 * JobManager's view yet (its report and this trigger crossed):
		 * not every task runs, as for one that is ending. */
		if (atomic_load(&t->done) || atomic_load(&t->cancel)) {
			if (tr->has_attempt &&
			    t->spec->attempt == tr->attempt &&
			    atomic_load(&t->done))
				busy = true;
			continue;
		}
		/* The chain (head) stays while we hold the lock. */
		if (!atomic_load(&t->ready) || atomic_load(&t->ended))
			busy = true;
		else if (t->head->node->kind == WR_NODE_SOURCE)
			src[n++] = t;
	}
	/* Under ck_mu: a source either takes the trigger before its loop
	 * ends (tm_task_end_checkpoints) or is seen ended here. */
	for (int i = 0; i < n && !busy; i++) {
		pthread_mutex_lock(&src[i]->ck_mu);
		busy = atomic_load(&src[i]->ended);
		if (!busy) {
			src[i]->ck_trig = *tr;
			src[i]->ck_trig_pending = true;
		}
		pthread_mutex_unlock(&src[i]->ck_mu);
	}
	pthread_mutex_unlock(&tasks->lock);
	return busy ? WR_EAGAIN : n == 0 ? WR_ENOENT : WR_OK;
}

void
tm_tasks_checkpoint_complete(tm_tasks *tasks, const char *job_id, uint64_t id)
{
	pthread_mutex_lock(&tasks->lock);
	for (int i = 0; i < tasks->n; i++) {
		tm_task *t = tasks->v[i];
		if (strcmp(t->spec->job_id, job_id) != 0)
			continue;
		uint64_t cur = atomic_load(&t->ck_complete);
		while (cur < id &&
		       !atomic_compare_exchange_weak(&t->ck_complete, &cur, id))
			;
	}
	pthread_mutex_unlock(&tasks->lock);
}

uint32_t
tm_tasks_slots_used(tm_tasks *tasks)
{
	uint64_t seen[WR_MAX_SLOTS_PER_TM / 64 + 1] = {0};
	uint32_t n = 0;
	pthread_mutex_lock(&tasks->lock);
	for (int i = 0; i < tasks->n; i++) {
		uint32_t s = tasks->v[i]->spec->slot;
		if (atomic_load(&tasks->v[i]->done) || s >= WR_MAX_SLOTS_PER_TM)
			continue;
		if (!(seen[s / 64] & (1ull << (s % 64)))) {
			seen[s / 64] |= 1ull << (s % 64);
			n++;
		}
	}
	pthread_mutex_unlock(&tasks->lock);
	return n;
}

void
tm_tasks_stop(tm_tasks *tasks)
{
	tm_task *v[TM_MAX_TASKS];
	int n;
	if (tasks == NULL)
		return;
	pthread_mutex_lock(&tasks->lock);
	for (int i = 0; i < tasks->n; i++)
		atomic_store(&tasks->v[i]->cancel, true);
	for (int i = 0; i < tasks->n; i++)
		if (atomic_load(&tasks->v[i]->ready))
			for (int k = 0; k < tasks->v[i]->noutputs; k++)
				tm_output_close(tasks->v[i]->outputs[k]);
	/* Out of the table first: the link thread counts slots from it
	 * while these end. */
	n = tasks->n;
	memcpy(v, tasks->v, (size_t)n * sizeof(v[0]));
	tasks->n = 0;
	pthread_mutex_unlock(&tasks->lock);
	/* Joining without the lock: ending tasks take it briefly. */
	for (int i = 0; i < n; i++)
		tm_task_free(v[i]);
}

void
tm_tasks_free(tm_tasks *tasks)
{
	if (tasks == NULL)
		return;
	tm_tasks_stop(tasks); /* nothing left if it was called before */
	pthread_mutex_destroy(&tasks->lock);
	free(tasks);
}
