/*
 * source_gen_test.c - the generator-source skeleton (taskmanager/
 * source_gen.c) driven directly, without processes: the pacing
 * arithmetic, then whole runs of a test generator on a task whose chain
 * is the source and a fake downstream operator that records what it is
 * given: every record once and in order, the position a checkpoint
 * stores, a restore resuming at a checkpoint's position and pacing as if
 * it had run from the start, watermarks from the event-time field, the
 * end after count, cancellation and a failing downstream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ckpt_meta.h"
#include "clock.h"
#include "err.h"
#include "jobspec.h"
#include "mem.h"
#include "metrics.h"
#include "plan.h"
#include "record.h"
#include "source_gen.h"
#include "task_int.h"
#include "watermark.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEEN 4096
#define T0_MS    1436918400000ll /* event time of record 0 */
#define OOO_MS   1000            /* the job's max_out_of_orderness */

/* ---- the pacing arithmetic ---- */

/* A pacer started at 50000 ms with rate, count and a restored position
 * (-1: none) holds next and start_ms; record `probe` is then due first
 * at due_ms (at rate 0: always) and is made only when `more`. */
static const struct pace_case {
	const char *what;
	int64_t rate, count, restored;
	int64_t next, start_ms;
	int64_t probe, due_ms;
	bool more;
} pace_cases[] = {
    {"fresh: record n is due n * 10 ms on", 100, 5, -1, 0, 50000, 3, 50030,
     true},
    {"bounded: count made, the end", 100, 5, -1, 0, 50000, 5, 50050, false},
    {"restored: the start lies as far back as 400 records at 200/s took", 200,
     0, 400, 400, 48000, 401, 50005, true},
    {"unbounded: never ends", 1000, 0, -1, 0, 50000, INT64_MAX / 1000,
     INT64_MAX / 1000 + 50000, true},
    {"unpaced: always due", 0, 10, 7, 7, 50000, 9, 0, true},
};

static void
test_pace(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pace_cases) / sizeof(pace_cases[0]);
	     i++) {
		const struct pace_case *c = &pace_cases[i];
		tm_gen_pace p;
		print_message("%s\n", c->what);
		tm_gen_pace_init(&p, c->rate, c->count, c->restored, 50000);
		assert_int_equal(p.next, c->next);
		assert_int_equal(p.start_ms, c->start_ms);
		/* The first record is due at once, restored or not. */
		assert_true(tm_gen_pace_due(&p, 50000));
		p.next = c->probe;
		assert_true(tm_gen_pace_due(&p, c->due_ms));
		assert_true(c->rate == 0 ||
		            !tm_gen_pace_due(&p, c->due_ms - 1));
		assert_true(tm_gen_pace_more(&p) == c->more);
	}
}

static void
test_splitmix64(void **state)
{
	(void)state;
	/* The reference sequence for seed 0 (Vigna's splitmix64.c). */
	uint64_t s = 0;
	assert_true(tm_gen_splitmix64(&s) == 0xe220a8397b1dcdafull);
	assert_true(tm_gen_splitmix64(&s) == 0x6e789e6aa1b965f4ull);
	assert_true(tm_gen_splitmix64(&s) == 0x06c45d188009454full);
}

/* ---- whole runs ---- */

typedef struct harness {
	wr_jobspec *job;
	wr_plan *plan;
	wr_metrics *reg;
	tm_task_spec spec;
	tm_task task;
	tm_ctx src, sink; /* the source node's operator, the fake sink */
	tm_src s;         /* the running source's context */
	/* what the sink was given */
	int64_t seen[MAX_SEEN];
	int64_t seen_ms[MAX_SEEN]; /* monotonic ms each arrived */
	int nseen;
	int64_t wm[MAX_SEEN];
	int64_t wm_before[MAX_SEEN]; /* the record it came before */
	int nwm;
	int64_t cancel_at; /* the sink cancels the task at this record */
	int64_t fail_at;   /* the sink fails at this record */
	int made;          /* calls of the generator */
	int64_t last_made; /* the record it made last */
} harness;

/* The test generator: record n carries n and event time T0 + 10 n. */
static void
gen_make(void *ctx, int64_t n, wr_row *r)
{
	harness *h = ctx;
	const wr_schema *s = &h->src.node->out;
	h->made++;
	h->last_made = n;
	r->n = s->n;
	for (uint32_t i = 0; i < s->n; i++) {
		wr_value *v = &r->v[i];
		v->type = (uint8_t)s->fields[i].type;
		if (strcmp(s->fields[i].name, "amount") == 0)
			v->u.d = (double)n;
		else if (strcmp(s->fields[i].name, "ts") == 0)
			v->u.i = T0_MS + 10 * n;
		else
			v->type = WR_T_NULL;
	}
}

static int64_t
row_n(const harness *h, const wr_row *r)
{
	const wr_schema *s = &h->src.node->out;
	for (uint32_t i = 0; i < s->n; i++)
		if (strcmp(s->fields[i].name, "amount") == 0)
			return (int64_t)r->v[i].u.d;
	fail_msg("no amount field");
	return -1;
}

/* The position a checkpoint would store now, read the way task_ckpt.c
 * reads it: the source's offsets callback. */
static int64_t
snapshot_position(harness *h)
{
	tm_task *t = &h->task;
	assert_non_null(t->src->offsets);
	wr_ckpt_meta *m = wr_ckpt_meta_new("job1", "gt", 1, 0, false, 128);
	t->src->offsets(t->src->arg, m);
	assert_int_equal(m->noffsets, 1);
	const wr_ckpt_offset *o = &m->offsets[0];
	assert_string_equal(o->uid, "g");
	assert_string_equal(o->topic, "");
	assert_int_equal(o->subtask, t->spec->subtask);
	assert_int_equal(o->partition, t->spec->subtask);
	int64_t pos = o->offset;
	wr_ckpt_meta_free(m);
	return pos;
}

static int
sink_push(void *self, int input, const wr_row *r)
{
	harness *h = self;
	assert_int_equal(input, 0);
	int64_t n = row_n(h, r);
	assert_true(h->nseen < MAX_SEEN);
	/* While record n is on its way the position is n: a checkpoint
	 * (taken between records) resumes after the last whole one. */
	assert_int_equal(snapshot_position(h), n);
	h->seen_ms[h->nseen] = wr_mono_ms();
	h->seen[h->nseen++] = n;
	if (n == h->cancel_at)
		atomic_store(&h->task.cancel, true);
	return n == h->fail_at ? WR_EFULL : WR_OK;
}

static int
sink_watermark(void *self, int64_t wm)
{
	harness *h = self;
	assert_true(h->nwm < MAX_SEEN);
	h->wm_before[h->nwm] = h->last_made;
	h->wm[h->nwm++] = wm;
	return WR_OK;
}

static const tm_op_vt src_vt = {.name = "source"};
static const tm_op_vt sink_vt = {
    .name = "test sink",
    .process = sink_push,
    .watermark = sink_watermark,
};

/* A task of a job whose source 'g' (parallelism 2, subtask 1) has the
 * given rate and count, chained to the fake sink. */
static harness *
harness_new(int64_t rate, int64_t count)
{
	harness *h = calloc(1, sizeof(*h));
	char err[512] = "";
	char *yaml = wr_xasprintf(
	    "name: gt\n"
	    "parallelism: 2\n"
	    "sources:\n"
	    "  g:\n"
	    "    datagen: { rate: %lld, count: %lld }\n"
	    "    event_time: { field: ts, max_out_of_orderness: %ds }\n"
	    "nodes:\n"
	    "  - id: out\n"
	    "    from: g\n"
	    "    sink: { stdout: {} }\n",
	    (long long)rate, (long long)count, OOO_MS / 1000);
	int rv = wr_jobspec_parse("gt.yaml", yaml, strlen(yaml), 0, &h->job,
	                          err, sizeof(err));
	free(yaml);
	if (rv != WR_OK)
		fail_msg("job: %s", err);
	assert_int_equal(wr_plan_build(h->job, &h->plan, err, sizeof(err)),
	                 WR_OK);
	int g = wr_jobspec_find(h->job, "g");
	h->reg = wr_metrics_new();
	tm_task *t = &h->task;
	h->spec.vertex = h->plan->node_vertex[g];
	h->spec.subtask = 1;
	t->spec = &h->spec;
	t->job = h->job;
	t->plan = h->plan;
	t->vertex = &h->plan->vertices[h->spec.vertex];
	t->watermark = TM_WM_MIN;
	pthread_mutex_init(&t->ck_mu, NULL);
	t->m_in = wr_metrics_get(h->reg, WR_METRIC_COUNTER, "in", "in", NULL);
	t->m_watermark =
	    wr_metrics_get(h->reg, WR_METRIC_GAUGE, "wm", "wm", NULL);
	t->m_backpressure =
	    wr_metrics_get(h->reg, WR_METRIC_GAUGE, "bp", "bp", NULL);
	t->conf.subtask = h->spec.subtask;
	h->src.node = &h->job->nodes[g];
	h->src.task = t;
	h->src.vt = &src_vt;
	h->src.wm = TM_WM_MIN;
	h->src.next[0] = &h->sink;
	h->src.nnext = 1;
	h->sink.vt = &sink_vt;
	h->sink.process = sink_push;
	h->sink.self = h;
	h->sink.task = t;
	h->sink.wm = TM_WM_MIN;
	t->head = &h->src;
	h->s = (tm_src){.task = t, .head = &h->src};
	t->src = &h->s;
	h->cancel_at = h->fail_at = -1;
	return h;
}

/* Makes the task restore from a checkpoint whose position for the
 * source is pos (and one for another subtask that must not count). */
static void
harness_restore(harness *h, int64_t pos)
{
	wr_ckpt_meta *m = wr_ckpt_meta_new("job1", "gt", 7, 0, false, 128);
	wr_ckpt_offset o = {.uid = "g",
	                    .subtask = 0,
	                    .topic = "",
	                    .partition = 0,
	                    .offset = pos + 1000};
	wr_ckpt_meta_add_offset(m, &o);
	o.subtask = o.partition = 1;
	o.offset = pos;
	wr_ckpt_meta_add_offset(m, &o);
	h->task.restore = m;
}

static void
harness_free(harness *h)
{
	wr_ckpt_meta_free(h->task.restore);
	wr_arena_fini(&h->task.arena);
	pthread_mutex_destroy(&h->task.ck_mu);
	wr_plan_free(h->plan);
	wr_jobspec_free(h->job);
	wr_metrics_free(h->reg);
	free(h);
}

static void
check_seen(const harness *h, int64_t from, int64_t to)
{
	assert_int_equal(h->nseen, to - from);
	for (int i = 0; i < h->nseen; i++)
		assert_int_equal(h->seen[i], from + i);
}

static void
test_run_bounded(void **state)
{
	(void)state;
	harness *h = harness_new(0, 1000);
	assert_int_equal(tm_gen_run(&h->s, h->src.node, gen_make, h), WR_OK);
	check_seen(h, 0, 1000);
	assert_int_equal(h->made, 1000);
	assert_true(wr_metric_value(h->task.m_in) == 1000.0);
	/* The position is the run's only while it runs. */
	assert_null(h->s.offsets);
	assert_null(h->s.arg);
	harness_free(h);
}

static void
test_run_restored_paced(void **state)
{
	(void)state;
	/* 100 records left at 1000 per second: about 100 ms. */
	harness *h = harness_new(1000, 300);
	harness_restore(h, 200);
	int64_t t0 = wr_mono_ms();
	assert_int_equal(tm_gen_run(&h->s, h->src.node, gen_make, h), WR_OK);
	check_seen(h, 200, 300);
	/* On time from the first record: the start lies 200 ms back (were
	 * it now, record 200 would wait 200 ms). Record 200 + i is due i ms
	 * after the run began, not before. */
	assert_true(h->seen_ms[0] - t0 < 150);
	for (int i = 0; i < h->nseen; i++)
		assert_true(h->seen_ms[i] - t0 >= i);
	/* A watermark came first (its interval had passed at the back-dated
	 * start): each is the event time of the record it precedes less
	 * out-of-orderness, less 1 (that record's time is still to come),
	 * and they only go forward. */
	assert_true(h->nwm >= 1);
	assert_int_equal(h->wm_before[0], 200);
	for (int i = 0; i < h->nwm; i++) {
		assert_int_equal(h->wm[i],
		                 T0_MS + 10 * h->wm_before[i] - OOO_MS - 1);
		assert_true(i == 0 || h->wm[i] > h->wm[i - 1]);
	}
	assert_true(h->task.watermark == h->wm[h->nwm - 1]);
	harness_free(h);
}

static void
test_run_restored_at_end(void **state)
{
	(void)state;
	harness *h = harness_new(0, 50);
	harness_restore(h, 50);
	assert_int_equal(tm_gen_run(&h->s, h->src.node, gen_make, h), WR_OK);
	assert_int_equal(h->made, 0);
	harness_free(h);
}

static void
test_run_cancel(void **state)
{
	(void)state;
	harness *h = harness_new(0, 0);
	h->cancel_at = 300;
	/* The skeleton looks every 256 records: it stops at 512. */
	assert_int_equal(tm_gen_run(&h->s, h->src.node, gen_make, h),
	                 WR_ECLOSED);
	check_seen(h, 0, 512);
	harness_free(h);
}

static void
test_run_downstream_fails(void **state)
{
	(void)state;
	harness *h = harness_new(0, 0);
	harness_restore(h, 10);
	h->fail_at = 42;
	assert_int_equal(tm_gen_run(&h->s, h->src.node, gen_make, h), WR_EFULL);
	check_seen(h, 10, 43);
	harness_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pace),
	    cmocka_unit_test(test_splitmix64),
	    cmocka_unit_test(test_run_bounded),
	    cmocka_unit_test(test_run_restored_paced),
	    cmocka_unit_test(test_run_restored_at_end),
	    cmocka_unit_test(test_run_cancel),
	    cmocka_unit_test(test_run_downstream_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
