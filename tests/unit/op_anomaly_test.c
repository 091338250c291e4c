/*
 * op_anomaly_test.c - the anomaly operator in its task context (built as
 * the runtime builds it, tm_ctx_build, with the runtime's timer service):
 * nothing leaves before the watermark passes a record; out-of-order
 * records are judged in event-time order per key; the output row is the
 * record's fields then mean, stddev and score; late and invalid records
 * are counted; results reach the sink before the watermark that released
 * them; after a restart on the same state with the operator's snapshot,
 * waiting records still come out and records at or before the snapshot's
 * watermark are late.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "wrtest.h"

#include "err.h"
#include "fsutil.h"
#include "jobspec.h"
#include "metrics.h"
#include "plan.h"
#include "record.h"
#include "state.h"
#include "task_int.h"
#include "tm_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char job_yaml[] =
    "name: at\n"
    "parallelism: 1\n"
    "sources:\n"
    "  src:\n"
    "    file: { path: /dev/null }\n"
    "    schema: { k: string, x: double, ts: timestamp }\n"
    "    event_time: { field: ts, max_out_of_orderness: 1s }\n"
    "nodes:\n"
    "  - id: a\n"
    "    from: src\n"
    "    key_by: [k]\n"
    "    anomaly: { value: x, history: 100ms, threshold: 2, min_count: 3 }\n"
    "  - id: out\n"
    "    from: a\n"
    "    sink: { stdout: {} }\n";

#define MAXOUT 64

/* A result: (k, x, ts, mean, stddev, score). */
typedef struct out_row {
	char k[8];
	int64_t ts;
	double x, mean, sd, score;
	bool score_null;
	int64_t wm_before; /* the sink's watermark when it came */
} out_row;

typedef struct hx {
	char dir[256];
	wr_jobspec *job;
	wr_plan *plan;
	int node;
	tm_server tm;
	tm_task_spec spec;
	tm_task task;
	tm_ctx *op;
	tm_ctx sink;
	wr_metrics *reg;
	wr_metric *late, *invalid;
	out_row out[MAXOUT]; /* what reached the sink */
	int nout;
	int64_t wm; /* the sink's last watermark */
} hx;

static int
sink_push(void *self, int input, const wr_row *r)
{
	hx *h = self;
	(void)input;
	assert_int_equal(r->n, 6);
	assert_true(h->nout < MAXOUT);
	out_row *o = &h->out[h->nout++];
	snprintf(o->k, sizeof(o->k), "%.*s", (int)r->v[0].u.s.len,
	         r->v[0].u.s.p);
	o->x = r->v[1].u.d;
	o->ts = r->v[2].u.i;
	o->mean = r->v[3].u.d;
	o->sd = r->v[4].u.d;
	o->score_null = r->v[5].type == WR_T_NULL;
	o->score = r->v[5].u.d;
	o->wm_before = h->wm;
	return WR_OK;
}

static int
sink_watermark(void *self, int64_t wm)
{
	hx *h = self;
	assert_true(wm >= h->wm);
	h->wm = wm;
	return WR_OK;
}

static const tm_op_vt sink_vt = {
    .name = "test sink",
    .process = sink_push,
    .watermark = sink_watermark,
};

/* Builds the operator (again, after a restart: same state directory). */
static void
build(hx *h)
{
	char err[512] = "";
	h->task.watermark = TM_WM_MIN;
	assert_int_equal(
	    tm_ctx_build(&h->task, h->node, &h->op, err, sizeof(err)), WR_OK);
	h->op->next[0] = &h->sink;
	h->op->nnext = 1;
}

static int
setup(void **state)
{
	hx *h = calloc(1, sizeof(*h));
	char err[512] = "";
	if (h == NULL || wrt_tmpdir(h->dir, sizeof(h->dir), "opanom") != 0)
		return -1;
	h->job = wrt_job(job_yaml, 0);
	assert_int_equal(wr_plan_build(h->job, &h->plan, err, sizeof(err)),
	                 WR_OK);
	h->node = wr_jobspec_find(h->job, "a");
	h->tm.cfg.tm_state_dir = h->dir;
	h->reg = wr_metrics_new();
	h->late =
	    wr_metrics_get(h->reg, WR_METRIC_COUNTER,
	                   "weir_late_records_dropped_total", "late", NULL);
	h->invalid = wr_metrics_get(h->reg, WR_METRIC_COUNTER,
	                            "weir_invalid_records_total", "i", NULL);
	snprintf(h->spec.job_id, sizeof(h->spec.job_id), "job1");
	h->spec.vertex = h->plan->node_vertex[h->node];
	h->task.tm = &h->tm;
	h->task.spec = &h->spec;
	h->task.job = h->job;
	h->task.plan = h->plan;
	h->task.vertex = &h->plan->vertices[h->spec.vertex];
	h->task.m_late_dropped = h->late;
	h->task.m_invalid = h->invalid;
	h->task.keyed_node = h->node;
	tm_task_conf(&h->task);
	h->sink.vt = &sink_vt;
	h->sink.process = sink_push;
	h->sink.self = h;
	h->sink.task = &h->task;
	h->sink.wm = TM_WM_MIN;
	h->wm = TM_WM_MIN;
	build(h);
	*state = h;
	return 0;
}

static int
teardown(void **state)
{
	hx *h = *state;
	tm_ctx_free(h->op);
	wr_state_close(h->task.state);
	wr_plan_free(h->plan);
	wr_jobspec_free(h->job);
	wr_metrics_free(h->reg);
	wr_rmtree(h->dir);
	free(h);
	return 0;
}

static void
push(hx *h, const char *k, double x, int64_t ts)
{
	wr_row r = {.n = 3};
	r.v[0] = wrt_vstr(k);
	r.v[1] = wrt_vdouble(x);
	r.v[2] = wrt_vts(ts);
	assert_int_equal(h->op->process(h->op->self, 0, &r), WR_OK);
}

static void
watermark(hx *h, int64_t wm)
{
	h->task.watermark = wm;
	assert_int_equal(tm_ctx_watermark(h->op, wm), WR_OK);
}

/* Key a: 10, 12, 11 (out of order), then 30 and 11; key b: 5 then 50.
 * History [ts - 100, ts), min_count 3, threshold 2. */
static void
test_order_output_lateness(void **state)
{
	hx *h = *state;
	push(h, "a", 12, 1020);
	push(h, "a", 10, 1010);
	push(h, "b", 5, 1015);
	push(h, "a", 30, 1040); /* before 11 in event time */
	push(h, "a", 11, 1030);
	wr_row bad = {.n = 3};
	bad.v[0] = wrt_vstr("a");
	bad.v[1] = wrt_vnull(); /* no value: invalid */
	bad.v[2] = wrt_vts(1031);
	assert_int_equal(h->op->process(h->op->self, 0, &bad), WR_OK);
	assert_int_equal(wr_metric_value(h->invalid), 1);
	watermark(h, 1039);
	assert_int_equal(h->nout, 0); /* 30 at 1040 is not released yet */
	push(h, "a", 99, 1039);       /* at the watermark: late */
	push(h, "b", 99, 1000);       /* behind it: late */
	assert_int_equal(wr_metric_value(h->late), 2);
	watermark(h, 1040);
	/* 30 against {10, 12, 11}: mean 11, population sd sqrt(2/3) */
	assert_int_equal(h->nout, 1);
	assert_string_equal(h->out[0].k, "a");
	assert_int_equal(h->out[0].ts, 1040);
	assert_true(h->out[0].x == 30);
	assert_true(fabs(h->out[0].mean - 11) < 1e-12);
	assert_true(fabs(h->out[0].sd - sqrt(2.0 / 3)) < 1e-12);
	assert_true(fabs(h->out[0].score - 19 / sqrt(2.0 / 3)) < 1e-9);
	assert_int_equal(h->out[0].wm_before, 1039); /* before 1040 */
	assert_int_equal(h->wm, 1040);
	/* b has one value: 50 is below min_count, not emitted */
	push(h, "b", 50, 1050);
	watermark(h, 2000);
	assert_int_equal(h->nout, 1);
}

/* A restart on the same state with the operator's snapshot: a record
 * that waited comes out after it; one at or before the snapshot's
 * watermark is late although the new context starts with none. */
static void
test_restart_keeps_buffer_and_lateness(void **state)
{
	hx *h = *state;
	wr_buf snap;
	wr_buf_init(&snap);
	for (int i = 0; i < 4; i++)
		push(h, "c", 7 + i % 2, 2000 + i);
	watermark(h, 2003);
	push(h, "c", 100, 2010); /* waits: the watermark is at 2003 */
	assert_int_equal(h->op->vt->snapshot(h->op->self, 1, &snap), WR_OK);
	assert_int_equal(snap.len, 8);
	assert_int_equal(wr_state_flush(h->task.state), WR_OK);
	tm_ctx_free(h->op);
	assert_int_equal(h->nout, 0);

	build(h);
	tm_op_state st = {.subtask = 0,
	                  .ckpt = 1,
	                  .data = (const uint8_t *)snap.data,
	                  .len = snap.len};
	assert_int_equal(h->op->vt->restore(h->op->self, &st, 1), WR_OK);
	/* at the restored watermark: late (a key the engine never saw, so
	 * only the restored watermark can tell) */
	push(h, "d", 500, 2003);
	assert_int_equal(wr_metric_value(h->late), 1);
	watermark(h, 2010);
	assert_int_equal(h->nout, 1);
	assert_int_equal(h->out[0].ts, 2010);
	assert_true(fabs(h->out[0].mean - 7.5) < 1e-12);
	assert_true(fabs(h->out[0].sd - 0.5) < 1e-12);
	wr_buf_fini(&snap);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_order_output_lateness, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_restart_keeps_buffer_and_lateness, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
