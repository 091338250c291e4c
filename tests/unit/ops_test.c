/*
 * ops_test.c - the operator API (taskmanager/op.h) driven directly: the
 * registry (kinds to vtables), the blackhole sink, and the timer service
 * (event-time and processing-time timers in keyed state: time order,
 * idempotent sets, timers set while firing, more due timers than a batch
 * holds over several key groups, the watermark TM_WM_MAX at the end of
 * input, timers surviving a reopen on the same state).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "wrtest.h"

#include "err.h"
#include "fsutil.h"
#include "mem.h"
#include "metrics.h"
#include "state.h"
#include "task_int.h"
#include "tm_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOB(SINK)                                                              \
	"name: ops\n"                                                          \
	"sources:\n"                                                           \
	"  src:\n"                                                             \
	"    file: { path: /dev/null }\n"                                      \
	"    schema: { ts: long, k: string, tag: long }\n"                     \
	"nodes:\n"                                                             \
	"  - id: out\n"                                                        \
	"    from: src\n"                                                      \
	"    sink: " SINK "\n"

/* The registry gives every runnable kind its vtable, and refuses the
 * ones without a runtime with the node's name. */
static void
test_registry(void **state)
{
	(void)state;
	wrt_op h;
	char err[256] = "";
	wrt_op_init(&h, JOB("{ blackhole: {} }"), "out", "job1", 0, 0);
	const tm_op_vt *vt =
	    tm_registry_op(h.op.node, &h.task.conf, err, sizeof(err));
	assert_non_null(vt);
	assert_string_equal(vt->name, "blackhole sink");
	const wr_node_spec *src = &h.job->nodes[wr_jobspec_find(h.job, "src")];
	vt = tm_registry_op(src, &h.task.conf, err, sizeof(err));
	assert_non_null(vt);
	assert_string_equal(vt->name, "forward");
	assert_false(tm_registry_keyed(WR_NODE_FILTER));
	assert_true(tm_registry_keyed(WR_NODE_WINDOW));
	assert_true(tm_registry_keyed(WR_NODE_JOIN));
	wr_node_spec join = {.id = "j", .kind = WR_NODE_JOIN};
	vt = tm_registry_op(&join, &h.task.conf, err, sizeof(err));
	assert_non_null(vt);
	assert_string_equal(vt->name, "join");
	/* a kind no table has */
	wr_node_spec odd = {.id = "x", .kind = (enum wr_node_kind)127};
	assert_null(tm_registry_op(&odd, &h.task.conf, err, sizeof(err)));
	assert_non_null(strstr(err, "node 'x'"));
	wrt_op_free(&h);

	/* exactly_once picks the transactional Kafka sink */
	wrt_op_init(
	    &h,
	    JOB("{ kafka: { topic: t, semantic: exactly_once } }") "checkpointi"
	                                                           "ng: { "
	                                                           "interval: "
	                                                           "1s }\n",
	    "out", "job1", 0, 0);
	vt = tm_registry_op(h.op.node, &h.task.conf, err, sizeof(err));
	assert_non_null(vt);
	assert_string_equal(vt->name, "kafka sink (exactly_once)");
	wrt_op_free(&h);
}

/* The blackhole counts every record as written and keeps none; the
 * counter is added to at its ticks and at finish, not every record; its
 * block takes no keys. */
static void
test_blackhole(void **state)
{
	(void)state;
	wrt_op h;
	char err[256] = "";
	wrt_op_init(&h, JOB("{ blackhole: }"), "out", "job1", 0, 0);
	wr_metrics *reg = wr_metrics_new();
	h.task.m_out = wr_metrics_get(reg, WR_METRIC_COUNTER,
	                              "weir_records_out_total", "out", NULL);
	const tm_op_vt *vt =
	    tm_registry_op(h.op.node, &h.task.conf, err, sizeof(err));
	assert_non_null(vt);
	assert_int_equal(wrt_op_open(&h, vt, err, sizeof(err)), WR_OK);
	wr_row r = {.n = 3};
	r.v[0] = wrt_vlong(1);
	r.v[1] = wrt_vstr("a");
	r.v[2] = wrt_vlong(0);
	for (int i = 0; i < 5; i++)
		wrt_op_push(&h, &r);
	assert_int_equal(vt->tick(h.op.self, 0), WR_OK);
	assert_true(wr_metric_value(h.task.m_out) == 5.0);
	for (int i = 0; i < 3; i++)
		wrt_op_push(&h, &r);
	assert_int_equal(vt->finish(h.op.self), WR_OK);
	assert_true(wr_metric_value(h.task.m_out) == 8.0);
	wrt_op_push(&h, &r);
	wrt_op_free(&h); /* close counts the rest */
	assert_true(wr_metric_value(h.task.m_out) == 9.0);
	wr_metrics_free(reg);

	wrt_job_bad(JOB("{ blackhole: { rows: 1 } }"), "t.yaml:", "rows");
}

/* ---- the timer service ---- */

#define MAX_FIRED 32

/* A test operator: each record (ts, k, tag) sets an event-time timer of
 * key k at ts; a fired timer of tag 1 sets another at ts + 2 with tag
 * 2. */
typedef struct timer_op {
	tm_ctx *ctx;
	char fired[MAX_FIRED][48];
	int nfired;
} timer_op;

static timer_op the_op;

static int
timer_open(tm_ctx *ctx, const wr_node_spec *node, void **self, char *errbuf,
           size_t errlen)
{
	(void)node;
	(void)errbuf;
	(void)errlen;
	memset(&the_op, 0, sizeof(the_op));
	the_op.ctx = ctx;
	*self = &the_op;
	return WR_OK;
}

/* Key groups by the first letter: all owned at parallelism 1. */
static int
kg_of(const char *k, size_t len)
{
	return len > 0 ? (unsigned char)k[0] % 8 : 0;
}

static int
timer_process(void *self, int input, const wr_row *r)
{
	timer_op *o = self;
	(void)input;
	const wr_value *k = &r->v[1];
	return tm_timer_set(o->ctx, TM_TIME_EVENT, kg_of(k->u.s.p, k->u.s.len),
	                    k->u.s.p, k->u.s.len, r->v[0].u.i,
	                    (uint8_t)r->v[2].u.i);
}

static int
timer_fired(void *self, const tm_timer *tm)
{
	timer_op *o = self;
	assert_true(o->nfired < MAX_FIRED);
	snprintf(o->fired[o->nfired++], sizeof(o->fired[0]), "%c%lld %.*s/%d",
	         tm->domain == TM_TIME_EVENT ? 'e' : 'p', (long long)tm->ts,
	         (int)tm->klen, (const char *)tm->key, tm->tag);
	if (tm->tag == 1)
		return tm_timer_set(o->ctx, tm->domain, tm->key_group, tm->key,
		                    tm->klen, tm->ts + 2, 2);
	return WR_OK;
}

static const tm_op_vt timer_vt = {
    .name = "timer test",
    .open = timer_open,
    .process = timer_process,
    .timer = timer_fired,
};

static void
push3(wrt_op *h, int64_t ts, const char *k, int tag)
{
	wr_row r = {.n = 3};
	r.v[0] = wrt_vlong(ts);
	r.v[1] = wrt_vstr(k);
	r.v[2] = wrt_vlong(tag);
	wrt_op_push(h, &r);
}

/* What fired since the last call, joined by ';'. */
static void
assert_fired(const char *want)
{
	char got[MAX_FIRED * 50] = "";
	for (int i = 0; i < the_op.nfired; i++) {
		strcat(got, the_op.fired[i]);
		strcat(got, ";");
	}
	the_op.nfired = 0;
	if (strcmp(got, want) != 0)
		fail_msg("fired:\n got: %s\nwant: %s", got, want);
}

static void
timer_harness(wrt_op *h, char *dir, size_t len)
{
	char err[256] = "";
	assert_int_equal(wrt_tmpdir(dir, len, "ops"), 0);
	wrt_op_init(h, JOB("{ blackhole: {} }"), "out", "job1", 0, 0);
	h->tm.cfg.tm_state_dir = dir;
	h->task.keyed_node = wr_jobspec_find(h->job, "out");
	assert_int_equal(wrt_op_open(h, &timer_vt, err, sizeof(err)), WR_OK);
}

static void
timer_harness_close(wrt_op *h)
{
	wrt_op_destroy(h);
	tm_timers_free(h->op.timers[TM_TIME_EVENT]);
	tm_timers_free(h->op.timers[TM_TIME_PROC]);
	h->op.timers[TM_TIME_EVENT] = h->op.timers[TM_TIME_PROC] = NULL;
}

static void
test_timers_event(void **state)
{
	(void)state;
	wrt_op h;
	char dir[256];
	timer_harness(&h, dir, sizeof(dir));
	push3(&h, 30, "a", 0);
	push3(&h, 10, "b", 1);
	push3(&h, 20, "a", 0);
	push3(&h, 10, "a", 0);
	push3(&h, 10, "a", 0); /* again: still one timer */
	assert_int_equal(tm_ctx_watermark(&h.op, 9), WR_OK);
	assert_fired("");
	/* b's timer sets one at 12, within this watermark: it fires too */
	assert_int_equal(tm_ctx_watermark(&h.op, 15), WR_OK);
	assert_fired("e10 a/0;e10 b/1;e12 b/2;");
	assert_int_equal(tm_current_watermark(&h.op), 15);
	assert_int_equal(tm_ctx_watermark(&h.op, 15), WR_OK);
	assert_fired("");
	/* a deleted timer does not fire */
	assert_int_equal(
	    tm_timer_del(&h.op, TM_TIME_EVENT, kg_of("a", 1), "a", 1, 20, 0),
	    WR_OK);
	assert_int_equal(tm_ctx_watermark(&h.op, 25), WR_OK);
	assert_fired("");

	/* Closed and opened again on the same state, as after a restore:
	 * the timers come from state alone. */
	timer_harness_close(&h);
	char err[256] = "";
	assert_int_equal(wrt_op_open(&h, &timer_vt, err, sizeof(err)), WR_OK);
	h.op.wm = TM_WM_MIN;
	assert_int_equal(tm_ctx_watermark(&h.op, 25), WR_OK);
	assert_fired("");
	/* the end of input fires everything left */
	assert_int_equal(tm_ctx_finish(&h.op), WR_OK);
	assert_fired("e30 a/0;");

	/* a key group this subtask does not own fails the task */
	assert_int_equal(
	    tm_timer_set(&h.op, TM_TIME_EVENT, 99999, "a", 1, 1, 0), WR_EINVAL);
	assert_non_null(strstr(h.task.failure, "key group 99999"));
	timer_harness_close(&h);
	wr_state_close(h.task.state);
	wrt_op_free(&h);
	wr_rmtree(dir);
}

static void
test_timers_processing_time(void **state)
{
	(void)state;
	wrt_op h;
	char dir[256];
	timer_harness(&h, dir, sizeof(dir));
	assert_int_equal(
	    tm_timer_set(&h.op, TM_TIME_PROC, kg_of("x", 1), "x", 1, 100, 1),
	    WR_OK);
	assert_int_equal(
	    tm_timer_set(&h.op, TM_TIME_EVENT, kg_of("y", 1), "y", 1, 50, 0),
	    WR_OK);
	assert_int_equal(tm_timers_fire(&h.op, TM_TIME_PROC, 99), WR_OK);
	assert_fired("");
	/* the event-time watermark leaves processing-time timers alone */
	assert_int_equal(tm_ctx_watermark(&h.op, 200), WR_OK);
	assert_fired("e50 y/0;");
	assert_int_equal(tm_timers_fire(&h.op, TM_TIME_PROC, 150), WR_OK);
	assert_fired("p100 x/1;p102 x/2;");
	timer_harness_close(&h);
	wr_state_close(h.task.state);
	wrt_op_free(&h);
	wr_rmtree(dir);
}

/* More due timers than a batch holds (TM_WIN_TIMER_BATCH), over 8 key
 * groups: they all fire, each once, in (time, key group, tag, key) order
 * (a key group's state order within a time), also those a firing sets
 * within the watermark. */
#define MANY_TIMERS (TM_WIN_TIMER_BATCH + TM_WIN_TIMER_BATCH / 2)

static struct {
	int64_t ts;
	int kg, tag;
	char key[8];
} order_seen[MANY_TIMERS + 16];
static int order_n;

static int
order_fired(void *self, const tm_timer *tm)
{
	timer_op *o = self;
	assert_true(order_n < MANY_TIMERS + 16 && tm->klen < 8);
	order_seen[order_n].ts = tm->ts;
	order_seen[order_n].kg = tm->key_group;
	order_seen[order_n].tag = tm->tag;
	memcpy(order_seen[order_n].key, tm->key, tm->klen);
	order_seen[order_n++].key[tm->klen] = '\0';
	if (tm->tag == 1)
		return tm_timer_set(o->ctx, tm->domain, tm->key_group, tm->key,
		                    tm->klen, tm->ts + 2, 2);
	return WR_OK;
}

static const tm_op_vt order_vt = {
    .name = "timer order test",
    .open = timer_open,
    .process = timer_process,
    .timer = order_fired,
};

static void
test_timers_many_in_order(void **state)
{
	(void)state;
	wrt_op h;
	char dir[256], err[256] = "", key[8];
	assert_int_equal(wrt_tmpdir(dir, sizeof(dir), "ops"), 0);
	wrt_op_init(&h, JOB("{ blackhole: {} }"), "out", "job1", 0, 0);
	h.tm.cfg.tm_state_dir = dir;
	h.task.keyed_node = wr_jobspec_find(h.job, "out");
	assert_int_equal(wrt_op_open(&h, &order_vt, err, sizeof(err)), WR_OK);
	order_n = 0;
	int sets = 0;
	for (int i = 0; i < MANY_TIMERS; i++) {
		snprintf(key, sizeof(key), "%c%05d", 'a' + i % 8, i);
		/* times repeat across keys; some late ones set one 2 later
		 * (the batches before them are cut by the batch's size) */
		int64_t ts = (i * 7919) % 3001;
		int tag = ts > 2000 && i % 500 == 7;
		sets += tag;
		push3(&h, ts, key, tag);
	}
	assert_int_equal(tm_ctx_watermark(&h.op, 5000), WR_OK);
	assert_int_equal(order_n, MANY_TIMERS + sets);
	for (int i = 1; i < order_n; i++) {
		int64_t a = order_seen[i - 1].ts, b = order_seen[i].ts;
		int ka = order_seen[i - 1].kg, kb = order_seen[i].kg;
		int ta = order_seen[i - 1].tag, tb = order_seen[i].tag;
		bool in_order =
		    a < b || (a == b &&
		              (ka < kb ||
		               (ka == kb &&
		                (ta < tb || (ta == tb &&
		                             strcmp(order_seen[i - 1].key,
		                                    order_seen[i].key) < 0)))));
		if (!in_order)
			fail_msg(
			    "timer %d: (%lld, %d, %s) after (%lld, %d, %s)", i,
			    (long long)b, kb, order_seen[i].key, (long long)a,
			    ka, order_seen[i - 1].key);
	}
	assert_int_equal(tm_ctx_watermark(&h.op, 6000), WR_OK);
	assert_int_equal(order_n, MANY_TIMERS + sets);
	timer_harness_close(&h);
	wr_state_close(h.task.state);
	wrt_op_free(&h);
	wr_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registry),
	    cmocka_unit_test(test_blackhole),
	    cmocka_unit_test(test_timers_event),
	    cmocka_unit_test(test_timers_processing_time),
	    cmocka_unit_test(test_timers_many_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
