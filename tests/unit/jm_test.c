/*
 * jm_test.c - the JobManager's job state machine, checkpoint coordinator,
 * scheduler, upgrades and recovery from the job store without processes: a
 * jm_server with a real registry of made-up TaskManagers, a real job store
 * in a temporary directory and a fake of the outbound calls (jm_out) that
 * records them; the tests play the TaskManagers' answers back as the
 * events and reports the loop would receive, and restart the JobManager
 * by building a new one on the same store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ckpt.h"
#include "ckpt_meta.h"
#include "clock.h"
#include "err.h"
#include "fsutil.h"
#include "jm_int.h"
#include "jobstore.h"
#include "metrics.h"
#include "objstore.h"
#include "rpc.h"
#include "scheduler.h"
#include "snapshot.h"
#include "upgrade.h"
#include "weir.pb-c.h"
#include "wrtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAKE_MAX_CALLS 256

typedef struct fake_call {
	jm_call_ref ref;
	bool stop, drain; /* trigger */
} fake_call;

typedef struct fixture {
	jm_server jm;
	char dir[128];
	fake_call calls[FAKE_MAX_CALLS];
	int ncalls;
} fixture;

static fixture *fx; /* the fakes' way back to the running test */

static void
fake_record(enum jm_call_kind kind, const jm_job *job, const char *tm_id,
            int vertex, int subtask, uint64_t id, bool orphan)
{
	assert_true(fx->ncalls < FAKE_MAX_CALLS);
	fake_call *c = &fx->calls[fx->ncalls++];
	memset(c, 0, sizeof(*c));
	c->ref.kind = kind;
	snprintf(c->ref.tm_id, sizeof(c->ref.tm_id), "%s", tm_id);
	memcpy(c->ref.job_id, job->id, sizeof(c->ref.job_id));
	c->ref.attempt = job->attempt;
	c->ref.vertex = vertex;
	c->ref.subtask = subtask;
	c->ref.ckpt_id = id;
	c->ref.orphan = orphan;
}

static int
fake_deploy(jm_server *jm, const jm_job *job, const jm_task *t)
{
	(void)jm;
	fake_record(JM_CALL_DEPLOY, job, t->slot->tm_id, t->vertex, t->subtask,
	            0, false);
	return WR_OK;
}

static int
fake_cancel(jm_server *jm, const jm_job *job, const jm_task *t, bool orphan)
{
	(void)jm;
	fake_record(JM_CALL_CANCEL, job, t->slot->tm_id, t->vertex, t->subtask,
	            0, orphan);
	return WR_OK;
}

static int
fake_leftover(jm_server *jm, const jm_job *job, const jm_tm *tm,
              const jm_task *t)
{
	(void)jm;
	fake_record(JM_CALL_CANCEL, job, tm->id, t->vertex, t->subtask, 0,
	            false);
	fx->calls[fx->ncalls - 1].ref.leftover = true;
	return WR_OK;
}

static int
fake_trigger(jm_server *jm, const jm_job *job, const jm_slot_ref *tm,
             const jm_ckpt_info *ck, bool stop, bool drain)
{
	(void)jm;
	fake_record(JM_CALL_TRIGGER, job, tm->tm_id, -1, -1, ck->id, false);
	fx->calls[fx->ncalls - 1].stop = stop;
	fx->calls[fx->ncalls - 1].drain = drain;
	return WR_OK;
}

static int
fake_notify(jm_server *jm, const jm_job *job, const jm_slot_ref *tm,
            uint64_t id)
{
	(void)jm;
	fake_record(JM_CALL_NOTIFY, job, tm->tm_id, -1, -1, id, false);
	return WR_OK;
}

static const jm_out fake_out = {
    .deploy = fake_deploy,
    .cancel = fake_cancel,
    .leftover = fake_leftover,
    .trigger = fake_trigger,
    .notify = fake_notify,
};

static void
add_tm(jm_server *jm, const char *id, uint32_t slots)
{
	jm_tm tm;
	memset(&tm, 0, sizeof(tm));
	snprintf(tm.id, sizeof(tm.id), "%s", id);
	snprintf(tm.rpc_address, sizeof(tm.rpc_address), "tcp://%s:1", id);
	snprintf(tm.data_address, sizeof(tm.data_address), "tcp://%s:2", id);
	tm.slots_total = tm.slots_free = slots;
	assert_int_equal(jm_tmreg_register(jm->tms, &tm, wr_mono_ms()), WR_OK);
}

/* The job store in the fixture's directory, as a JobManager start opens
 * it (one epoch more each time). */
static void
open_jobstore(fixture *f)
{
	char url[200], err[256] = "";
	snprintf(url, sizeof(url), "file://%s", f->dir);
	if (jm_jobstore_open_objstore(url, &f->jm.jobstore, err, sizeof(err)) !=
	        WR_OK ||
	    jm_jobstore_begin(f->jm.jobstore, &f->jm.epoch, err, sizeof(err)) !=
	        WR_OK)
		fail_msg("job store: %s", err);
}

static void
test_on_tm_lost(void *arg, const jm_tm *tm)
{
	jm_jobs_tm_lost(arg, tm);
}

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	char err[256];
	if (f == NULL || wrt_tmpdir(f->dir, sizeof(f->dir), "jm") != 0 ||
	    wr_cluster_config_load(&f->jm.cfg, NULL, err, sizeof(err)) != WR_OK)
		return -1;
	free(f->jm.cfg.ckpt_storage);
	char url[200];
	snprintf(url, sizeof(url), "file://%s", f->dir);
	f->jm.cfg.ckpt_storage = strdup(url);
	f->jm.metrics = wr_metrics_new();
	f->jm.tms = jm_tmreg_new(f->jm.metrics, 5000);
	f->jm.out = &fake_out;
	f->jm.jobs = jm_jobs_new(&f->jm);
	add_tm(&f->jm, "tm-a", 1);
	add_tm(&f->jm, "tm-b", 1);
	f->jm.upgrades = jm_upgrades_new();
	atomic_store(&f->jm.leading, true);
	fx = f;
	open_jobstore(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	jm_upgrades_free(f->jm.upgrades);
	jm_jobs_free(f->jm.jobs);
	jm_jobstore_close(f->jm.jobstore);
	jm_tmreg_free(f->jm.tms);
	wr_metrics_free(f->jm.metrics);
	wr_cluster_config_free(&f->jm.cfg);
	wr_rmtree(f->dir);
	free(f);
	fx = NULL;
	return 0;
}

/* Two vertices of two subtasks: 4 tasks in 2 slots, one per TaskManager. */
static const char job_yaml[] =
    "name: t\n"
    "parallelism: 2\n"
    "%s"
    "sources:\n"
    "  gen:\n"
    "    datagen: { rate: 10 }\n"
    "nodes:\n"
    "  - id: per_product\n"
    "    from: gen\n"
    "    key_by: [product_id]\n"
    "    reduce: { n: count() }\n"
    "  - id: out\n"
    "    from: per_product\n"
    "    sink: { file: { path: /tmp/weir-jm-test-out } }\n";

static jm_job *
submit(fixture *f, const char *extra)
{
	char yaml[2048], id[33], err[1024] = "";
	snprintf(yaml, sizeof(yaml), job_yaml, extra);
	jm_submit_opts o = {.file = WRT_JOB_FILE, .yaml = yaml};
	int rv = jm_jobs_submit(f->jm.jobs, &o, id, err, sizeof(err));
	if (rv != WR_OK)
		fail_msg("submit: %s", err);
	jm_job *job = jm_jobs_find(f->jm.jobs, id);
	assert_non_null(job);
	return job;
}

/* Calls of kind recorded from index from on; *last the last one. */
static int
count_calls(fixture *f, int from, enum jm_call_kind kind, fake_call **last)
{
	int n = 0;
	for (int i = from; i < f->ncalls; i++)
		if (f->calls[i].ref.kind == kind) {
			n++;
			if (last != NULL)
				*last = &f->calls[i];
		}
	return n;
}

/* Every deploy from index from on answered with rv. */
static void
answer_deploys(fixture *f, int from, int rv)
{
	for (int i = from; i < f->ncalls; i++) {
		if (f->calls[i].ref.kind != JM_CALL_DEPLOY)
			continue;
		jm_call_done d = {
		    .ref = f->calls[i].ref, .rv = rv, .called = true};
		jm_jobs_call_done(f->jm.jobs, &d);
	}
}

static void
report_all(fixture *f, jm_job *job, enum jm_task_state st)
{
	for (int i = 0; i < job->ntasks; i++) {
		char tid[16];
		snprintf(tid, sizeof(tid), "%d/%d", job->tasks[i].vertex,
		         job->tasks[i].subtask);
		jm_jobs_task_state(f->jm.jobs, job->id, job->attempt, tid, st,
		                   NULL);
	}
}

/* A job with `anomaly:` is accepted at submit (the operator is in the
 * runtime); a stream-table join is still refused (other tests). */
static void
test_submit_anomaly_accepted(void **state)
{
	fixture *f = *state;
	static const char yaml[] =
	    "name: t\n"
	    "sources:\n"
	    "  gen:\n"
	    "    datagen: { rate: 10 }\n"
	    "    event_time: { field: ts, max_out_of_orderness: 1s }\n"
	    "nodes:\n"
	    "  - id: spikes\n"
	    "    from: gen\n"
	    "    key_by: [product_id]\n"
	    "    anomaly: { value: amount, history: 1m, threshold: 3 }\n"
	    "  - id: out\n"
	    "    from: spikes\n"
	    "    sink: { stdout: {} }\n";
	char id[33], err[1024] = "";
	jm_submit_opts o = {.file = WRT_JOB_FILE, .yaml = yaml};

	assert_int_equal(jm_jobs_submit(f->jm.jobs, &o, id, err, sizeof(err)),
	                 WR_OK);
	assert_string_equal(err, "");
}

/* A job with `pattern:` is accepted at submit (the operator is in the
 * runtime, op_pattern.c) and deployed. */
static void
test_submit_pattern_accepted(void **state)
{
	fixture *f = *state;
	char id[33], err[1024] = "";
	jm_submit_opts o = {
	    .file = WRT_JOB_FILE,
	    .yaml = "name: t\n"
	            "sources:\n"
	            "  auths:\n"
	            "    kafka: { topic: auths }\n"
	            "    schema: { card: string, ok: bool, ts: timestamp }\n"
	            "    event_time: { field: ts }\n"
	            "nodes:\n"
	            "  - id: fraud\n"
	            "    from: auths\n"
	            "    key_by: [card]\n"
	            "    pattern: { contiguity: next, steps: [ { name: no, "
	            "where: \"!ok\", times: 3 }, { name: yes, where: ok } ] }\n"
	            "  - id: out\n"
	            "    from: fraud\n"
	            "    sink: { stdout: {} }\n"};

	assert_int_equal(jm_jobs_submit(f->jm.jobs, &o, id, err, sizeof(err)),
	                 WR_OK);
	assert_string_equal(err, "");
	assert_true(count_calls(f, 0, JM_CALL_DEPLOY, NULL) > 0);
}

static void
test_submit_deploy_running(void **state)
{
	fixture *f = *state;
	jm_job *job = submit(f, "");
	assert_int_equal(job->ntasks, 4);
	assert_int_equal(job->state, JM_JOB_RUNNING);
	/* submit queued a deploy per task and waited for none */
	assert_int_equal(count_calls(f, 0, JM_CALL_DEPLOY, NULL), 4);
	assert_int_equal(job->tasks[0].state, JM_TASK_DEPLOYING);
	answer_deploys(f, 0, WR_OK);
	assert_int_equal(job->tasks[0].state, JM_TASK_DEPLOYING);
	report_all(f, job, JM_TASK_RUNNING);
	assert_int_equal(job->state, JM_JOB_RUNNING);
	for (int i = 0; i < job->ntasks; i++)
		assert_int_equal(job->tasks[i].state, JM_TASK_RUNNING);
	/* one slot on each TaskManager */
	assert_string_not_equal(job->slots[0].tm_id, job->slots[1].tm_id);
	jm_tmreg_totals t = jm_tmreg_get_totals(f->jm.tms);
	assert_int_equal(t.slots_free, 0);
}

static void
test_failure_restarts_and_redeploys(void **state)
{
	fixture *f = *state;
	jm_job *job = submit(
	    f, "restart: { strategy: fixed_delay, delay: 0s, attempts: 3 }\n");
	answer_deploys(f, 0, WR_OK);
	report_all(f, job, JM_TASK_RUNNING);
	int mark = f->ncalls;
	jm_jobs_task_state(f->jm.jobs, job->id, job->attempt, "1/0",
	                   JM_TASK_FAILED, "boom");
	assert_int_equal(job->state, JM_JOB_RESTARTING);
	assert_int_equal(job->restarts, 1);
	assert_non_null(strstr(job->failure, "boom"));
	/* the three others are told to stop */
	assert_int_equal(count_calls(f, mark, JM_CALL_CANCEL, NULL), 3);
	assert_int_equal(count_calls(f, mark, JM_CALL_DEPLOY, NULL), 0);
	/* not before every task ended */
	jm_jobs_tick(f->jm.jobs, wr_mono_ms() + 1);
	assert_int_equal(job->state, JM_JOB_RESTARTING);
	uint32_t attempt = job->attempt;
	report_all(f, job, JM_TASK_CANCELED);
	mark = f->ncalls;
	jm_jobs_tick(f->jm.jobs, wr_mono_ms() + 1);
	assert_int_equal(job->state, JM_JOB_RUNNING);
	assert_int_equal(job->attempt, attempt + 1);
	fake_call *last = NULL;
	assert_int_equal(count_calls(f, mark, JM_CALL_DEPLOY, &last), 4);
	assert_int_equal(last->ref.attempt, attempt + 1);
	/* a late answer of the first attempt changes nothing */
	jm_call_done d = {.ref = f->calls[0].ref, .rv = WR_ETIMEDOUT};
	jm_jobs_call_done(f->jm.jobs, &d);
	assert_int_equal(job->state, JM_JOB_RUNNING);
	assert_int_equal(job->tasks[0].state, JM_TASK_DEPLOYING);
}

/* A TaskManager stopping on SIGTERM cancels its tasks itself and reports
 * them CANCELED: for a running job that is a failure (restart), not an
 * end; a job left RUNNING with its tasks CANCELED never ended. */
static void
test_unasked_cancel_restarts(void **state)
{
	fixture *f = *state;
	jm_job *job = submit(
	    f, "restart: { strategy: fixed_delay, delay: 0s, attempts: 3 }\n");
	answer_deploys(f, 0, WR_OK);
	report_all(f, job, JM_TASK_RUNNING);
	jm_jobs_task_state(f->jm.jobs, job->id, job->attempt, "0/0",
	                   JM_TASK_CANCELED, NULL);
	assert_int_equal(job->state, JM_JOB_RESTARTING);
	assert_int_equal(job->restarts, 1);
	assert_non_null(strstr(job->failure, "unasked"));
	/* a cancel the JobManager asked for is an end, not a failure */
	report_all(f, job, JM_TASK_CANCELED);
	assert_int_equal(job->restarts, 1);
}

static void
test_deploy_timeout_cancels_the_task(void **state)
{
	fixture *f = *state;
	jm_job *job = submit(f, "restart: { strategy: none }\n");
	int mark = f->ncalls;
	/* task 0/1's deploy got no answer, the others went through */
	for (int i = 0; i < mark; i++) {
		jm_call_done d = {.ref = f->calls[i].ref, .called = true};
		bool late = d.ref.vertex == 0 && d.ref.subtask == 1;
		d.rv = late ? WR_ETIMEDOUT : WR_OK;
		jm_jobs_call_done(f->jm.jobs, &d);
	}
	/* that task is cancelled on its TaskManager (an orphan otherwise),
	 * and the attempt failed as before */
	int orphans = 0;
	for (int i = mark; i < f->ncalls; i++)
		if (f->calls[i].ref.kind == JM_CALL_CANCEL &&
		    f->calls[i].ref.orphan) {
			orphans++;
			assert_int_equal(f->calls[i].ref.vertex, 0);
			assert_int_equal(f->calls[i].ref.subtask, 1);
			assert_string_equal(f->calls[i].ref.tm_id,
			                    job->slots[1].tm_id);
		}
	assert_int_equal(orphans, 1);
	assert_int_equal(job->state, JM_JOB_FAILING);
	assert_non_null(strstr(job->failure, "deployment failed: task 0/1"));
	assert_non_null(strstr(job->failure, wr_strerror(WR_ETIMEDOUT)));
	/* the others confirm: FAILED, slots back */
	report_all(f, job, JM_TASK_CANCELED);
	assert_int_equal(job->state, JM_JOB_FAILED);
	assert_int_equal(jm_tmreg_get_totals(f->jm.tms).slots_free, 2);
}

static void
test_cancel_unanswered_counts_task_gone(void **state)
{
	fixture *f = *state;
	jm_job *job = submit(f, "");
	answer_deploys(f, 0, WR_OK);
	report_all(f, job, JM_TASK_RUNNING);
	int mark = f->ncalls;
	char err[128];
	assert_int_equal(jm_jobs_cancel(f->jm.jobs, job->id, err, sizeof(err)),
	                 WR_OK);
	assert_int_equal(job->state, JM_JOB_CANCELLING);
	assert_int_equal(count_calls(f, mark, JM_CALL_CANCEL, NULL), 4);
	for (int i = mark; i < f->ncalls; i++) {
		jm_call_done d = {.ref = f->calls[i].ref, .called = true};
		d.rv = strcmp(d.ref.tm_id, "tm-a") == 0 ? WR_ETIMEDOUT : WR_OK;
		jm_jobs_call_done(f->jm.jobs, &d);
	}
	/* tm-a's tasks are gone with it; tm-b's report */
	assert_int_equal(job->state, JM_JOB_CANCELLING);
	for (int i = 0; i < job->ntasks; i++)
		if (strcmp(job->tasks[i].slot->tm_id, "tm-b") == 0) {
			char tid[16];
			snprintf(tid, sizeof(tid), "%d/%d",
			         job->tasks[i].vertex, job->tasks[i].subtask);
			jm_jobs_task_state(f->jm.jobs, job->id, job->attempt,
			                   tid, JM_TASK_CANCELED, NULL);
		}
	assert_int_equal(job->state, JM_JOB_CANCELED);
}

/*
 * A failed task fails its job as soon as every other task has ended, not
 * at the cancel deadline: the others, told to stop, end CANCELED - or
 * FAILED themselves (a producer whose consumer vanished), a report that
 * comes while the job is FAILING already - or are unknown to their
 * TaskManager by then ("no such task").
 */
static void
test_failed_task_fails_job_at_once(void **state)
{
	fixture *f = *state;
	jm_job *job = submit(f, "restart: { strategy: none }\n");
	answer_deploys(f, 0, WR_OK);
	report_all(f, job, JM_TASK_RUNNING);
	int mark = f->ncalls;
	jm_jobs_task_state(f->jm.jobs, job->id, job->attempt, "1/0",
	                   JM_TASK_FAILED, "boom");
	assert_int_equal(job->state, JM_JOB_FAILING);
	assert_int_equal(count_calls(f, mark, JM_CALL_CANCEL, NULL), 3);
	for (int i = mark; i < f->ncalls; i++) {
		bool gone = f->calls[i].ref.vertex == 1;
		jm_call_done d = {.ref = f->calls[i].ref,
		                  .called = true,
		                  .rv = gone ? WR_ENOENT : WR_OK};
		jm_jobs_call_done(f->jm.jobs, &d);
	}
	assert_int_equal(job->state, JM_JOB_FAILING);
	jm_jobs_task_state(f->jm.jobs, job->id, job->attempt, "0/0",
	                   JM_TASK_CANCELED, NULL);
	assert_int_equal(job->state, JM_JOB_FAILING);
	/* the last one fails too: FAILED now, with the first reason */
	jm_jobs_task_state(f->jm.jobs, job->id, job->attempt, "0/1",
	                   JM_TASK_FAILED, "its consumer went away");
	assert_int_equal(job->state, JM_JOB_FAILED);
	assert_non_null(strstr(job->failure, "boom"));
	assert_int_equal(jm_tmreg_get_totals(f->jm.tms).slots_free, 2);
}

/* A running job on tm-a and tm-b restarts after task 1/0 failed; the
 * CancelTasks of the others are queued from index *mark on. */
static jm_job *
running_then_restarting(fixture *f, int *mark)
{
	jm_job *job = submit(
	    f, "restart: { strategy: fixed_delay, delay: 0s, attempts: 3 }\n");
	answer_deploys(f, 0, WR_OK);
	report_all(f, job, JM_TASK_RUNNING);
	*mark = f->ncalls;
	jm_jobs_task_state(f->jm.jobs, job->id, job->attempt, "1/0",
	                   JM_TASK_FAILED, "boom");
	assert_int_equal(job->state, JM_JOB_RESTARTING);
	return job;
}

/* Reports st for every task of the job on tm_id. */
static void
report_tm(fixture *f, jm_job *job, const char *tm_id, enum jm_task_state st)
{
	for (int i = 0; i < job->ntasks; i++) {
		char tid[16];
		if (strcmp(job->tasks[i].slot->tm_id, tm_id) != 0)
			continue;
		snprintf(tid, sizeof(tid), "%d/%d", job->tasks[i].vertex,
		         job->tasks[i].subtask);
		jm_jobs_task_state(f->jm.jobs, job->id, job->attempt, tid, st,
		                   NULL);
	}
}

/* The first task of the job running on tm_id, or NULL. */
static jm_task *
live_task_on(jm_job *job, const char *tm_id)
{
	for (int i = 0; i < job->ntasks; i++)
		if (strcmp(job->tasks[i].slot->tm_id, tm_id) == 0 &&
		    job->tasks[i].state == JM_TASK_RUNNING)
			return &job->tasks[i];
	return NULL;
}

/* Whether the JobManager keeps task t as tm_id reports it. */
static bool
keeps(fixture *f, jm_job *job, const jm_task *t, const char *tm_id,
      uint64_t attempt)
{
	char tid[16];
	snprintf(tid, sizeof(tid), "%d/%d", t->vertex, t->subtask);
	jm_task_report r = {.job_id = job->id,
	                    .task_id = tid,
	                    .attempt = attempt,
	                    .slot = t->slot->index};
	return jm_jobs_keeps(f->jm.jobs, tm_id, &r);
}

/*
 * The redeploy-before-lost gap: a CancelTask that got no answer leaves a
 * task that may still run (and write) on its TaskManager, so the restart
 * does not redeploy it elsewhere - not even past the cancel deadline -
 * until that TaskManager answers: it heartbeats again, the next heartbeat
 * answer does not keep the task, and the CancelTask sent again is taken.
 */
static void
test_restart_waits_for_unanswered_cancel(void **state)
{
	fixture *f = *state;
	int mark;
	jm_job *job = running_then_restarting(f, &mark);
	uint32_t attempt = job->attempt;
	assert_int_equal(count_calls(f, mark, JM_CALL_CANCEL, NULL), 3);
	/* tm-a does not answer (the call thread marks it unreachable) */
	jm_tmreg_set_unreachable(f->jm.tms, "tm-a");
	for (int i = mark; i < f->ncalls; i++) {
		jm_call_done d = {.ref = f->calls[i].ref, .called = true};
		d.rv = strcmp(d.ref.tm_id, "tm-a") == 0 ? WR_ETIMEDOUT : WR_OK;
		jm_jobs_call_done(f->jm.jobs, &d);
	}
	report_tm(f, job, "tm-b", JM_TASK_CANCELED);
	jm_task *t = live_task_on(job, "tm-a");
	assert_non_null(t);
	assert_int_equal(t->stop, JM_STOP_UNCONFIRMED);
	/* past the cancel deadline: still waiting, nothing redeployed */
	int64_t later = wr_mono_ms() + JM_CANCEL_TIMEOUT_MS + 1;
	mark = f->ncalls;
	jm_jobs_tick(f->jm.jobs, later);
	assert_int_equal(job->state, JM_JOB_RESTARTING);
	assert_int_equal(job->attempt, attempt);
	assert_int_equal(f->ncalls, mark); /* tm-a is not called either */
	/* tm-a heartbeats: the answer does not keep the task ... */
	assert_true(jm_tmreg_heartbeat(f->jm.tms, "tm-a", wr_mono_ms()));
	assert_false(keeps(f, job, t, "tm-a", attempt));
	/* ... and the next turn asks it again */
	jm_jobs_tick(f->jm.jobs, later);
	fake_call *last = NULL;
	assert_int_equal(count_calls(f, mark, JM_CALL_CANCEL, &last), 1);
	assert_string_equal(last->ref.tm_id, "tm-a");
	assert_int_equal(count_calls(f, mark, JM_CALL_DEPLOY, NULL), 0);
	assert_int_equal(job->state, JM_JOB_RESTARTING);
	/* taken: the task is stopping there; past the deadline it counts as
	 * ended, and only then is the job redeployed */
	jm_call_done d = {.ref = last->ref, .called = true, .rv = WR_OK};
	jm_jobs_call_done(f->jm.jobs, &d);
	assert_int_equal(t->stop, JM_STOP_TAKEN);
	jm_jobs_tick(f->jm.jobs, later);
	assert_int_equal(job->state, JM_JOB_RUNNING);
	assert_int_equal(job->attempt, attempt + 1);
	assert_int_equal(count_calls(f, mark, JM_CALL_DEPLOY, NULL), 4);
	assert_int_equal(job->tasks[0].stop, JM_STOP_NONE);
}

/* A TaskManager already unreachable when the job restarts is not asked;
 * its task is redeployed elsewhere once it is declared lost. */
static void
test_restart_redeploys_after_tm_lost(void **state)
{
	fixture *f = *state;
	add_tm(&f->jm, "tm-c", 1); /* where tm-a's task goes */
	jm_job *job = submit(
	    f, "restart: { strategy: fixed_delay, delay: 0s, attempts: 3 }\n");
	answer_deploys(f, 0, WR_OK);
	report_all(f, job, JM_TASK_RUNNING);
	char tm_lost[WR_ADDR_BYTES], tm_ok[WR_ADDR_BYTES];
	snprintf(tm_lost, sizeof(tm_lost), "%s", job->slots[0].tm_id);
	snprintf(tm_ok, sizeof(tm_ok), "%s", job->slots[1].tm_id);
	jm_tmreg_set_unreachable(f->jm.tms, tm_lost);
	int mark = f->ncalls;
	char tid[16];
	jm_task *failed = live_task_on(job, tm_ok);
	snprintf(tid, sizeof(tid), "%d/%d", failed->vertex, failed->subtask);
	jm_jobs_task_state(f->jm.jobs, job->id, job->attempt, tid,
	                   JM_TASK_FAILED, "boom");
	assert_int_equal(job->state, JM_JOB_RESTARTING);
	/* only the reachable TaskManager's task is asked */
	fake_call *last = NULL;
	assert_int_equal(count_calls(f, mark, JM_CALL_CANCEL, &last), 1);
	assert_string_equal(last->ref.tm_id, tm_ok);
	report_tm(f, job, tm_ok, JM_TASK_CANCELED);
	jm_task *t = live_task_on(job, tm_lost);
	assert_non_null(t);
	assert_int_equal(t->stop, JM_STOP_UNCONFIRMED);
	assert_false(keeps(f, job, t, tm_lost, job->attempt));
	int64_t later = wr_mono_ms() + JM_CANCEL_TIMEOUT_MS + 1;
	jm_jobs_tick(f->jm.jobs, later);
	assert_int_equal(job->state, JM_JOB_RESTARTING);
	assert_int_equal(count_calls(f, mark, JM_CALL_DEPLOY, NULL), 0);
	/* declared lost: the others heartbeated, it did not */
	int64_t t_lost = wr_mono_ms() + 5001;
	assert_true(jm_tmreg_heartbeat(f->jm.tms, tm_ok, t_lost));
	assert_true(jm_tmreg_heartbeat(f->jm.tms, "tm-c", t_lost));
	assert_int_equal(
	    jm_tmreg_expire(f->jm.tms, t_lost, test_on_tm_lost, f->jm.jobs), 1);
	jm_jobs_tick(f->jm.jobs, later);
	assert_int_equal(job->state, JM_JOB_RUNNING);
	assert_int_equal(count_calls(f, mark, JM_CALL_DEPLOY, NULL), 4);
	for (int i = 0; i < job->nslots; i++)
		assert_string_not_equal(job->slots[i].tm_id, tm_lost);
}

/* Adoption by the loop's job state: what a TaskManager reports is kept
 * only as the job runs it now. */
static void
test_keep_list(void **state)
{
	fixture *f = *state;
	jm_job *job = submit(f, "");
	answer_deploys(f, 0, WR_OK);
	report_all(f, job, JM_TASK_RUNNING);
	const jm_task *t = &job->tasks[0];
	const char *here = t->slot->tm_id;
	const char *other = job->slots[1].tm_id;
	assert_true(keeps(f, job, t, here, job->attempt));
	assert_false(keeps(f, job, t, other, job->attempt));
	assert_false(keeps(f, job, t, here, job->attempt + 1));
	jm_task_report r = {.job_id = "0123456789abcdef0123456789abcdef",
	                    .task_id = "0/0",
	                    .attempt = job->attempt,
	                    .slot = t->slot->index};
	assert_false(jm_jobs_keeps(f->jm.jobs, here, &r)); /* unknown job */
	r.job_id = job->id;
	r.task_id = "9/9";
	assert_false(jm_jobs_keeps(f->jm.jobs, here, &r)); /* no such task */
	r.task_id = "0/0x";
	assert_false(jm_jobs_keeps(f->jm.jobs, here, &r));
	r.task_id = NULL;
	assert_false(jm_jobs_keeps(f->jm.jobs, here, &r));
	/* a task being cancelled (asked, no answer yet) is kept: its
	 * CancelTask ends it, committing what its sinks hold */
	char err[128];
	assert_int_equal(jm_jobs_cancel(f->jm.jobs, job->id, err, sizeof(err)),
	                 WR_OK);
	assert_true(keeps(f, job, t, here, job->attempt));
	/* an ended job keeps nothing */
	report_all(f, job, JM_TASK_CANCELED);
	assert_int_equal(job->state, JM_JOB_CANCELED);
	assert_false(keeps(f, job, t, here, job->attempt));
}

/* Collects one completion (jm_tmc_drain). */
static void
on_done(void *arg, const jm_call_done *d)
{
	*(jm_call_done *)arg = *d;
}

/* The JobManager's requests to a TaskManager answered by a server here:
 * each carries the epoch the loop had when it queued the call, through
 * the real jm_out and call threads (tmclients.c). */
static void
test_calls_carry_epoch(void **state)
{
	fixture *f = *state;
	wr_rpc_server *srv;
	assert_int_equal(wr_rpc_server_new("tcp://127.0.0.1:0", "tm", &srv),
	                 WR_OK);
	jm_slot_ref slot;
	memset(&slot, 0, sizeof(slot));
	snprintf(slot.tm_id, sizeof(slot.tm_id), "tm-a");
	snprintf(slot.rpc_address, sizeof(slot.rpc_address),
	         "tcp://127.0.0.1:%d", wr_rpc_server_port(srv));
	f->jm.tmc = jm_tmc_new(f->jm.tms, NULL, NULL);
	jm_job *job = submit(f, "");
	jm_task t = {.vertex = 0, .subtask = 1, .slot = &slot};
	for (uint64_t epoch = 0; epoch <= 7; epoch += 7) {
		f->jm.epoch = epoch;
		assert_int_equal(jm_out_rpc.cancel(&f->jm, job, &t, false),
		                 WR_OK);
		assert_int_equal(jm_out_rpc.notify(&f->jm, job, &slot, 3),
		                 WR_OK);
		f->jm.epoch = 99; /* stamped when queued, not when sent */
		for (int i = 0; i < 2; i++) {
			wr_rpc_req *req;
			assert_int_equal(wr_rpc_server_next(srv, 10000, &req),
			                 WR_OK);
			const Weir__Envelope *env = wr_rpc_req_env(req);
			assert_int_equal(env->has_epoch, epoch != 0);
			assert_int_equal(env->epoch, epoch);
			wr_rpc_req_reply_ack(req);
		}
		jm_call_done d = {.rv = -1};
		int64_t deadline = wr_mono_ms() + 10000;
		size_t n = 0;
		while (n < 2 && wr_mono_ms() < deadline) {
			n += jm_tmc_drain(f->jm.tmc, on_done, &d);
			if (n < 2)
				wr_sleep_ms(5);
		}
		assert_int_equal(n, 2);
		assert_int_equal(d.rv, WR_OK);
		assert_int_equal(d.ref.epoch, epoch);
	}
	jm_tmc_free(f->jm.tmc);
	f->jm.tmc = NULL;
	wr_rpc_server_free(srv);
}

/* Every task acks checkpoint id. */
static void
ack_all(fixture *f, jm_job *job, uint64_t id)
{
	for (int i = 0; i < job->ntasks; i++) {
		char tid[16];
		snprintf(tid, sizeof(tid), "%d/%d", job->tasks[i].vertex,
		         job->tasks[i].subtask);
		wr_ckpt_meta *part =
		    wr_ckpt_meta_new(job->id, "", id, 0, false, 1);
		jm_ckpt_ack(f->jm.jobs, job->id, tid, id, part,
		            &(jm_ckpt_times){3, 1, 2}, 10);
		wr_ckpt_meta_free(part);
	}
}

static const jm_ckpt_info *
newest(fixture *f, jm_job *job)
{
	const jm_ckpt_info *v;
	size_t n;
	jm_ckpt_stats st;
	char err[64];
	assert_int_equal(jm_jobs_checkpoints(f->jm.jobs, job->id, &v, &n, &st,
	                                     err, sizeof(err)),
	                 WR_OK);
	assert_true(n > 0);
	return &v[0];
}

static void
test_checkpoint_trigger_ack_complete_notify(void **state)
{
	fixture *f = *state;
	jm_job *job = submit(f, "checkpointing: { interval: 100ms }\n");
	answer_deploys(f, 0, WR_OK);
	report_all(f, job, JM_TASK_RUNNING);
	int mark = f->ncalls;
	jm_jobs_tick(f->jm.jobs, wr_mono_ms() + 150);
	/* one trigger per TaskManager running a source task */
	fake_call *trig = NULL;
	assert_int_equal(count_calls(f, mark, JM_CALL_TRIGGER, &trig), 2);
	uint64_t id = trig->ref.ckpt_id;
	assert_int_equal(newest(f, job)->status, JM_CKPT_IN_PROGRESS);
	for (int i = mark; i < f->ncalls; i++) {
		jm_call_done d = {.ref = f->calls[i].ref, .rv = WR_OK};
		jm_jobs_call_done(f->jm.jobs, &d);
	}
	mark = f->ncalls;
	ack_all(f, job, id);
	const jm_ckpt_info *ck = newest(f, job);
	assert_int_equal(ck->status, JM_CKPT_COMPLETED);
	assert_int_equal(ck->acks, 4);
	assert_int_equal(ck->size_bytes, 40);
	/* complete only once _metadata is written; then every TaskManager
	 * is told */
	char path[512];
	snprintf(path, sizeof(path), "%s/%s/chk-%llu/_metadata", f->dir,
	         job->id, (unsigned long long)id);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	fclose(fp);
	fake_call *n = NULL;
	assert_int_equal(count_calls(f, mark, JM_CALL_NOTIFY, &n), 2);
	assert_int_equal(n->ref.ckpt_id, id);
}

/* One checkpoint: triggered, answered, acked by every task; task 0's
 * ack names the shared pieces in pieces (may be NULL). */
static uint64_t
checkpoint_with(fixture *f, jm_job *job, char **pieces, size_t npieces)
{
	int mark = f->ncalls;
	jm_jobs_tick(f->jm.jobs, wr_mono_ms() + 100000);
	fake_call *trig = NULL;
	assert_true(count_calls(f, mark, JM_CALL_TRIGGER, &trig) > 0);
	uint64_t id = trig->ref.ckpt_id;
	for (int i = mark; i < f->ncalls; i++) {
		jm_call_done d = {.ref = f->calls[i].ref, .rv = WR_OK};
		jm_jobs_call_done(f->jm.jobs, &d);
	}
	for (int i = 0; i < job->ntasks; i++) {
		char tid[16];
		snprintf(tid, sizeof(tid), "%d/%d", job->tasks[i].vertex,
		         job->tasks[i].subtask);
		wr_ckpt_meta *part =
		    wr_ckpt_meta_new(job->id, "", id, 0, false, 128);
		wr_ckpt_handle h = {.uid = "per_product",
		                    .kind = WR_CKPT_KEYED,
		                    .path = "",
		                    .kg_first = 0,
		                    .kg_last = 63,
		                    .shared = pieces,
		                    .nshared = npieces};
		if (i == 0 && npieces > 0)
			wr_ckpt_meta_add_handle(part, &h);
		jm_ckpt_ack(f->jm.jobs, job->id, tid, id, part,
		            &(jm_ckpt_times){3, 1, 2}, 10);
		wr_ckpt_meta_free(part);
	}
	assert_int_equal(newest(f, job)->status, JM_CKPT_COMPLETED);
	return id;
}

static bool
chk_dir_exists(fixture *f, jm_job *job, uint64_t id)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s/chk-%llu", f->dir, job->id,
	         (unsigned long long)id);
	return access(path, F_OK) == 0;
}

/* retained: 1 with incremental state: a checkpoint's directory stays
 * while the retained one's pieces lie in it, and goes once a newer base
 * no longer needs it. */
static void
test_checkpoint_retention_keeps_shared(void **state)
{
	fixture *f = *state;
	f->jm.store = NULL;
	char err[256];
	assert_int_equal(wr_objstore_open(f->jm.cfg.ckpt_storage, &f->jm.store,
	                                  err, sizeof(err)),
	                 WR_OK);
	jm_job *job = submit(f, "checkpointing: { interval: 100ms, "
	                        "retained: 1 }\n");
	answer_deploys(f, 0, WR_OK);
	report_all(f, job, JM_TASK_RUNNING);
	uint64_t c1 = checkpoint_with(f, job, NULL, 0); /* self-contained */
	char b[64], d1[64], d2[64], nb[64];
	uint64_t c2 = c1 + 1, c3 = c1 + 2, c4 = c1 + 3;
	snprintf(b, sizeof(b), "chk-%llu/agg-0.mdb", (unsigned long long)c2);
	snprintf(d1, sizeof(d1), "chk-%llu/agg-0.delta",
	         (unsigned long long)c3);
	snprintf(d2, sizeof(d2), "chk-%llu/agg-0.delta",
	         (unsigned long long)c4);
	char *p2[] = {b}, *p3[] = {b, d1}, *p4[] = {b, d1, d2};
	assert_int_equal(checkpoint_with(f, job, p2, 1), c2);
	assert_false(chk_dir_exists(f, job, c1)); /* beyond retained */
	assert_int_equal(checkpoint_with(f, job, p3, 2), c3);
	assert_true(chk_dir_exists(f, job, c2)); /* c3's base lies there */
	assert_int_equal(checkpoint_with(f, job, p4, 3), c4);
	assert_true(chk_dir_exists(f, job, c2));
	assert_true(chk_dir_exists(f, job, c3));
	/* a new base: everything before it goes */
	uint64_t c5 = c1 + 4;
	snprintf(nb, sizeof(nb), "chk-%llu/agg-0.mdb", (unsigned long long)c5);
	char *p5[] = {nb};
	assert_int_equal(checkpoint_with(f, job, p5, 1), c5);
	assert_false(chk_dir_exists(f, job, c2));
	assert_false(chk_dir_exists(f, job, c3));
	assert_false(chk_dir_exists(f, job, c4));
	assert_true(chk_dir_exists(f, job, c5));
	wr_objstore_close(f->jm.store);
	f->jm.store = NULL;
}

static void
test_checkpoint_trigger_answers(void **state)
{
	fixture *f = *state;
	jm_job *job = submit(
	    f, "checkpointing: { interval: 100ms, tolerable_failed: 5 }\n");
	answer_deploys(f, 0, WR_OK);
	report_all(f, job, JM_TASK_RUNNING);
	int64_t now = wr_mono_ms();
	/* "not every task runs" from one TaskManager: skipped once both
	 * answered, not counted */
	int mark = f->ncalls;
	jm_jobs_tick(f->jm.jobs, now + 150);
	assert_int_equal(count_calls(f, mark, JM_CALL_TRIGGER, NULL), 2);
	jm_call_done d = {.ref = f->calls[mark].ref, .rv = WR_EAGAIN};
	snprintf(d.err, sizeof(d.err), "not every task runs");
	jm_jobs_call_done(f->jm.jobs, &d);
	assert_int_equal(newest(f, job)->status, JM_CKPT_IN_PROGRESS);
	d.ref = f->calls[mark + 1].ref;
	d.rv = WR_OK;
	jm_jobs_call_done(f->jm.jobs, &d);
	const jm_ckpt_info *ck = newest(f, job);
	assert_int_equal(ck->status, JM_CKPT_FAILED);
	assert_non_null(strstr(ck->failure, "skipped"));
	assert_non_null(strstr(ck->failure, "not every task runs"));
	/* a refused trigger fails the next one at once */
	mark = f->ncalls;
	jm_jobs_tick(f->jm.jobs, now + 400);
	assert_int_equal(count_calls(f, mark, JM_CALL_TRIGGER, NULL), 2);
	d.ref = f->calls[mark].ref;
	d.rv = WR_EINVAL;
	snprintf(d.err, sizeof(d.err), "disk full");
	jm_jobs_call_done(f->jm.jobs, &d);
	ck = newest(f, job);
	assert_int_equal(ck->status, JM_CKPT_FAILED);
	assert_non_null(strstr(ck->failure, "trigger failed"));
	assert_non_null(strstr(ck->failure, "disk full"));
	assert_int_equal(job->state, JM_JOB_RUNNING);
}

/* A trigger that never reached its TaskManager does not count against
 * tolerable_failed (the heartbeat decides whether the TaskManager is lost);
 * one the TaskManager refused does. */
static void
test_checkpoint_trigger_unreachable(void **state)
{
	fixture *f = *state;
	jm_job *job = submit(
	    f, "checkpointing: { interval: 100ms, tolerable_failed: 0 }\n");
	answer_deploys(f, 0, WR_OK);
	report_all(f, job, JM_TASK_RUNNING);
	int64_t now = wr_mono_ms();
	int mark = f->ncalls;
	jm_jobs_tick(f->jm.jobs, now + 150);
	assert_int_equal(count_calls(f, mark, JM_CALL_TRIGGER, NULL), 2);
	jm_call_done d = {.ref = f->calls[mark].ref, .rv = WR_EUNREACHABLE};
	jm_jobs_call_done(f->jm.jobs, &d);
	const jm_ckpt_info *ck = newest(f, job);
	assert_int_equal(ck->status, JM_CKPT_FAILED);
	assert_non_null(strstr(ck->failure, "trigger failed"));
	assert_int_equal(job->state, JM_JOB_RUNNING);
	mark = f->ncalls;
	jm_jobs_tick(f->jm.jobs, now + 400);
	assert_int_equal(count_calls(f, mark, JM_CALL_TRIGGER, NULL), 2);
	d.ref = f->calls[mark].ref;
	d.rv = WR_EINVAL;
	snprintf(d.err, sizeof(d.err), "disk full");
	jm_jobs_call_done(f->jm.jobs, &d);
	assert_int_not_equal(job->state, JM_JOB_RUNNING);
}

static void
test_scheduler(void **state)
{
	fixture *f = *state;
	add_tm(&f->jm, "tm-c", 4);
	jm_job job;
	memset(&job, 0, sizeof(job));
	wr_jobspec spec = {.name = "s"};
	job.spec = &spec;
	job.nslots = 3;
	jm_slot_ref slots[7];
	job.slots = slots;
	uint32_t free_slots;
	char err[256] = "";
	/* spread: the TaskManager with the most free slots first */
	assert_int_equal(
	    jm_sched_allocate(f->jm.tms, &job, &free_slots, err, sizeof(err)),
	    WR_OK);
	assert_true(job.slots_held);
	assert_string_equal(slots[0].tm_id, "tm-c");
	assert_string_equal(slots[1].tm_id, "tm-c");
	assert_int_equal(slots[1].index, 1);
	assert_int_equal(jm_tmreg_get_totals(f->jm.tms).slots_free, 3);
	jm_sched_release(f->jm.tms, &job);
	jm_sched_release(f->jm.tms, &job); /* once */
	assert_int_equal(jm_tmreg_get_totals(f->jm.tms).slots_free, 6);
	/* a TaskManager that did not answer is left out; all or nothing */
	jm_tmreg_set_unreachable(f->jm.tms, "tm-c");
	assert_int_equal(
	    jm_sched_allocate(f->jm.tms, &job, &free_slots, err, sizeof(err)),
	    WR_EFULL);
	assert_int_equal(free_slots, 2);
	assert_non_null(strstr(err, "needs 3 slots but only 2 are free"));
	assert_int_equal(jm_tmreg_get_totals(f->jm.tms).slots_free, 6);
	job.nslots = 2;
	assert_int_equal(
	    jm_sched_allocate(f->jm.tms, &job, &free_slots, NULL, 0), WR_OK);
	assert_string_not_equal(slots[0].tm_id, "tm-c");
	assert_string_not_equal(slots[1].tm_id, "tm-c");
	jm_sched_release(f->jm.tms, &job);
}

/* A JobManager restart: the old one's memory is gone (jobs, registry), the
 * TaskManagers register again, the new one takes the next epoch and
 * recovers what the job store holds. */
static void
restart_jm(fixture *f)
{
	uint64_t epoch = f->jm.epoch;
	jm_jobs_free(f->jm.jobs);
	jm_tmreg_free(f->jm.tms);
	jm_jobstore_close(f->jm.jobstore);
	f->jm.tms = jm_tmreg_new(f->jm.metrics, 5000);
	f->jm.jobs = jm_jobs_new(&f->jm);
	add_tm(&f->jm, "tm-a", 1);
	add_tm(&f->jm, "tm-b", 1);
	open_jobstore(f);
	assert_int_equal(f->jm.epoch, epoch + 1);
	jm_store_recover(&f->jm);
}

/* Answers the leftover cancels recorded from index from on: rv_of(call)
 * each. */
static void
answer_leftovers(fixture *f, int from, int (*rv_of)(const fake_call *))
{
	for (int i = from; i < f->ncalls; i++) {
		if (!f->calls[i].ref.leftover)
			continue;
		jm_call_done d = {.ref = f->calls[i].ref, .called = true};
		d.rv = rv_of(&f->calls[i]);
		jm_jobs_call_done(f->jm.jobs, &d);
	}
}

/* Where test_recovery_* placed the old attempt: subtask 0 of every vertex
 * on tm-a (slot sharing), which answers; tm-b gives no answer. */
static int
old_placement(const fake_call *c)
{
	if (strcmp(c->ref.tm_id, "tm-b") == 0)
		return WR_ETIMEDOUT;
	return c->ref.subtask == 0 ? WR_OK : WR_ENOENT;
}

static int
none_there(const fake_call *c)
{
	(void)c;
	return WR_ENOENT;
}

static void
report_task(fixture *f, jm_job *job, const char *tid, enum jm_task_state st)
{
	jm_jobs_task_state(f->jm.jobs, job->id, job->attempt, tid, st, NULL);
}

/* A running job with a completed checkpoint; its id in *ck_id, its URL in
 * url. The job store has its entry since the submit. */
static jm_job *
running_with_checkpoint(fixture *f, uint64_t *ck_id, char *url, size_t len)
{
	jm_job *job = submit(f, "checkpointing: { interval: 100ms }\n");
	jm_jobstore_entry *v = NULL;
	size_t n = 0;
	char err[256];
	assert_int_equal(
	    jm_jobstore_load(f->jm.jobstore, &v, &n, err, sizeof(err)), WR_OK);
	assert_int_equal(n, 1); /* written before the submit returned */
	jm_jobstore_entries_free(v, n);
	answer_deploys(f, 0, WR_OK);
	report_all(f, job, JM_TASK_RUNNING);
	int mark = f->ncalls;
	jm_jobs_tick(f->jm.jobs, wr_mono_ms() + 150);
	fake_call *trig = NULL;
	assert_int_equal(count_calls(f, mark, JM_CALL_TRIGGER, &trig), 2);
	*ck_id = trig->ref.ckpt_id;
	ack_all(f, job, *ck_id);
	assert_int_equal(newest(f, job)->status, JM_CKPT_COMPLETED);
	snprintf(url, len, "%s", newest(f, job)->url);
	/* old_placement's assumption */
	assert_string_equal(job->slots[0].tm_id, "tm-a");
	return job;
}

static void
test_recovery_cancels_leftovers_then_redeploys(void **state)
{
	fixture *f = *state;
	uint64_t ck_id;
	char url[512], id[33];
	jm_job *job = running_with_checkpoint(f, &ck_id, url, sizeof(url));
	uint32_t attempt = job->attempt;
	memcpy(id, job->id, sizeof(id));
	restart_jm(f);
	job = jm_jobs_find(f->jm.jobs, id);
	assert_non_null(job);
	/* RUNNING while its tasks may be adopted */
	assert_int_equal(job->state, JM_JOB_RUNNING);
	assert_int_equal(job->attempt, attempt);
	/* the first turn: both TaskManagers registered and reported none of
	 * its tasks - a restart; every task cancelled on both, nothing
	 * deployed */
	int mark = f->ncalls;
	jm_jobs_tick(f->jm.jobs, wr_mono_ms());
	assert_int_equal(job->state, JM_JOB_RESTARTING);
	assert_int_equal(job->restarts, 1);
	assert_int_equal(count_calls(f, mark, JM_CALL_CANCEL, NULL), 8);
	assert_int_equal(count_calls(f, mark, JM_CALL_DEPLOY, NULL), 0);
	for (int i = mark; i < f->ncalls; i++)
		assert_true(f->calls[i].ref.leftover);
	/* one held task ends before its cancel's answer arrives */
	report_task(f, job, "0/0", JM_TASK_CANCELED);
	answer_leftovers(f, mark, old_placement);
	jm_jobs_tick(f->jm.jobs, wr_mono_ms());
	/* tm-a held 0/0 and 1/0: 1/0 has not reported its end */
	assert_int_equal(count_calls(f, mark, JM_CALL_DEPLOY, NULL), 0);
	assert_int_equal(job->state, JM_JOB_RESTARTING);
	report_task(f, job, "1/0", JM_TASK_CANCELED);
	jm_jobs_tick(f->jm.jobs, wr_mono_ms());
	/* attempt + 1 from the stored checkpoint, ids above it */
	assert_int_equal(job->state, JM_JOB_RUNNING);
	assert_int_equal(job->attempt, attempt + 1);
	fake_call *last = NULL;
	assert_int_equal(count_calls(f, mark, JM_CALL_DEPLOY, &last), 4);
	assert_int_equal(last->ref.attempt, attempt + 1);
	assert_non_null(job->restore_url);
	assert_string_equal(job->restore_url, url);
	assert_true(jm_ckpt_next_id(job->ck) > ck_id);
}

static void
test_recovery_waits_for_cancel_answers(void **state)
{
	fixture *f = *state;
	uint64_t ck_id;
	char url[512], id[33];
	jm_job *job = running_with_checkpoint(f, &ck_id, url, sizeof(url));
	memcpy(id, job->id, sizeof(id));
	restart_jm(f);
	job = jm_jobs_find(f->jm.jobs, id);
	int mark = f->ncalls;
	jm_jobs_tick(f->jm.jobs, wr_mono_ms());
	/* every answer but the last: no deploy, however long it takes (each
	 * call is bounded by its own timeout) */
	for (int i = mark; i < f->ncalls - 1; i++) {
		jm_call_done d = {
		    .ref = f->calls[i].ref, .rv = WR_ENOENT, .called = true};
		jm_jobs_call_done(f->jm.jobs, &d);
	}
	int end = f->ncalls;
	jm_jobs_tick(f->jm.jobs, wr_mono_ms() + 2 * JM_CANCEL_TIMEOUT_MS);
	assert_int_equal(count_calls(f, end, JM_CALL_DEPLOY, NULL), 0);
	assert_int_equal(job->state, JM_JOB_RESTARTING);
	jm_call_done d = {
	    .ref = f->calls[end - 1].ref, .rv = WR_ENOENT, .called = true};
	jm_jobs_call_done(f->jm.jobs, &d);
	jm_jobs_tick(f->jm.jobs, wr_mono_ms());
	assert_int_equal(count_calls(f, end, JM_CALL_DEPLOY, NULL), 4);
	assert_int_equal(job->state, JM_JOB_RUNNING);
}

/* Where each task of job runs: its slot (slot sharing), copied. */
static void
placement(const jm_job *job, jm_slot_ref *slots)
{
	memcpy(slots, job->slots, (size_t)job->nslots * sizeof(*slots));
}

/* The TaskManagers report task k (from..to) as the old placement has it;
 * how many were kept. */
static int
report_placed(fixture *f, jm_job *job, const jm_slot_ref *slots,
              uint32_t attempt, int from, int to)
{
	int kept = 0;
	for (int k = from; k < to; k++) {
		const jm_task *t = &job->tasks[k];
		char tid[16];
		snprintf(tid, sizeof(tid), "%d/%d", t->vertex, t->subtask);
		jm_task_report r = {.job_id = job->id,
		                    .task_id = tid,
		                    .attempt = attempt,
		                    .slot = slots[t->subtask].index};
		kept += jm_jobs_keeps(f->jm.jobs, slots[t->subtask].tm_id, &r);
	}
	return kept;
}

/* A running job with a completed checkpoint (its id in *ck_id), the
 * JobManager restarted: the recovered job, its stored attempt in
 * *attempt and its old placement in slots (2). */
static jm_job *
recovered(fixture *f, uint64_t *ck_id, uint32_t *attempt, jm_slot_ref *slots)
{
	char url[512], id[33];
	jm_job *job = running_with_checkpoint(f, ck_id, url, sizeof(url));
	*attempt = job->attempt;
	placement(job, slots);
	memcpy(id, job->id, sizeof(id));
	restart_jm(f);
	job = jm_jobs_find(f->jm.jobs, id);
	assert_non_null(job);
	return job;
}

/* A new JobManager whose TaskManagers report every task of the stored
 * attempt where it runs adopts the job: no call to a task, same attempt,
 * no restart, slots counted, checkpoints on with higher ids. */
static void
test_recovery_adopts_running_tasks(void **state)
{
	fixture *f = *state;
	uint64_t ck_id;
	uint32_t attempt;
	jm_slot_ref slots[2];
	jm_job *job = recovered(f, &ck_id, &attempt, slots);
	assert_int_equal(job->state, JM_JOB_RUNNING);
	int mark = f->ncalls;
	assert_int_equal(report_placed(f, job, slots, attempt, 0, 4), 4);
	jm_jobs_tick(f->jm.jobs, wr_mono_ms());
	assert_null(job->recovery);
	assert_int_equal(job->state, JM_JOB_RUNNING);
	assert_int_equal(job->attempt, attempt);
	assert_int_equal(job->restarts, 0);
	/* nothing deployed or cancelled (a checkpoint may be triggered: the
	 * 100 ms interval runs on the real clock, which a loaded machine
	 * passes before this tick) */
	assert_int_equal(count_calls(f, mark, JM_CALL_DEPLOY, NULL), 0);
	assert_int_equal(count_calls(f, mark, JM_CALL_CANCEL, NULL), 0);
	for (int k = 0; k < job->ntasks; k++)
		assert_int_equal(job->tasks[k].state, JM_TASK_RUNNING);
	/* heartbeats keep them; the registry counts their slots */
	assert_int_equal(report_placed(f, job, slots, attempt, 0, 4), 4);
	assert_int_equal(jm_tmreg_get_totals(f->jm.tms).slots_free, 0);
	/* checkpoints go on, above the stored id */
	jm_jobs_tick(f->jm.jobs, wr_mono_ms() + 150);
	fake_call *trig = NULL;
	assert_int_equal(count_calls(f, mark, JM_CALL_TRIGGER, &trig), 2);
	assert_true(trig->ref.ckpt_id > ck_id);
	ack_all(f, job, trig->ref.ckpt_id);
	assert_int_equal(newest(f, job)->status, JM_CKPT_COMPLETED);
	assert_int_equal(count_calls(f, mark, JM_CALL_NOTIFY, NULL), 2);
}

/* The TaskManagers report task k (from..to) as ended in state st (a
 * registration's ended list). */
static void
report_ended(fixture *f, jm_job *job, const jm_slot_ref *slots,
             uint32_t attempt, int from, int to, enum jm_task_state st)
{
	for (int k = from; k < to; k++) {
		const jm_task *t = &job->tasks[k];
		char tid[16];
		snprintf(tid, sizeof(tid), "%d/%d", t->vertex, t->subtask);
		jm_task_report r = {.job_id = job->id,
		                    .task_id = tid,
		                    .attempt = attempt,
		                    .slot = slots[t->subtask].index};
		jm_jobs_task_ended(f->jm.jobs, &r, st,
		                   st == JM_TASK_FAILED ? "boom" : NULL);
	}
}

/* Tasks that finished while there was no JobManager (their reports went
 * nowhere) are reported ended at registration: the job is adopted with
 * them FINISHED and ends FINISHED once the others finish - no restart, so
 * the output they committed is not written again. An ended report of
 * another attempt is ignored; a FAILED one makes the job restart. */
static void
test_recovery_finished_tasks_adopted(void **state)
{
	fixture *f = *state;
	uint64_t ck_id;
	uint32_t attempt;
	jm_slot_ref slots[2];
	jm_job *job = recovered(f, &ck_id, &attempt, slots);
	int mark = f->ncalls;
	/* tasks 0..1 run, 2..3 finished; an older attempt's end is noise */
	report_ended(f, job, slots, attempt + 7, 0, 4, JM_TASK_FAILED);
	assert_int_equal(report_placed(f, job, slots, attempt, 0, 2), 2);
	report_ended(f, job, slots, attempt, 2, 4, JM_TASK_FINISHED);
	jm_jobs_tick(f->jm.jobs, wr_mono_ms());
	assert_null(job->recovery);
	assert_int_equal(job->state, JM_JOB_RUNNING);
	assert_int_equal(job->restarts, 0);
	assert_int_equal(job->tasks[2].state, JM_TASK_FINISHED);
	assert_int_equal(job->tasks[3].state, JM_TASK_FINISHED);
	assert_int_equal(count_calls(f, mark, JM_CALL_DEPLOY, NULL), 0);
	assert_int_equal(count_calls(f, mark, JM_CALL_CANCEL, NULL), 0);
	for (int k = 0; k < 2; k++) {
		char tid[16];
		snprintf(tid, sizeof(tid), "%d/%d", job->tasks[k].vertex,
		         job->tasks[k].subtask);
		jm_jobs_task_state(f->jm.jobs, job->id, attempt, tid,
		                   JM_TASK_FINISHED, NULL);
	}
	assert_int_equal(job->state, JM_JOB_FINISHED);
	assert_int_equal(job->restarts, 0);
	assert_int_equal(count_calls(f, mark, JM_CALL_DEPLOY, NULL), 0);
}

/* Every task finished while there was no JobManager: the job ends
 * FINISHED as it is adopted. One that failed meanwhile: it restarts. */
static void
test_recovery_ended_tasks(void **state)
{
	fixture *f = *state;
	uint64_t ck_id;
	uint32_t attempt;
	jm_slot_ref slots[2];
	jm_job *job = recovered(f, &ck_id, &attempt, slots);
	report_ended(f, job, slots, attempt, 0, 4, JM_TASK_FINISHED);
	jm_jobs_tick(f->jm.jobs, wr_mono_ms());
	assert_int_equal(job->state, JM_JOB_FINISHED);
	assert_int_equal(job->restarts, 0);
	assert_int_equal(jm_tmreg_get_totals(f->jm.tms).slots_free, 2);

	job = recovered(f, &ck_id, &attempt, slots);
	assert_int_equal(report_placed(f, job, slots, attempt, 0, 3), 3);
	report_ended(f, job, slots, attempt, 3, 4, JM_TASK_FAILED);
	jm_jobs_tick(f->jm.jobs, wr_mono_ms());
	assert_int_equal(job->state, JM_JOB_RESTARTING);
	assert_int_equal(job->restarts, 1);
	assert_non_null(strstr(job->failure, "ended FAILED: boom"));
}

/* A task no TaskManager reports (both registered): the job restarts from
 * its checkpoint - counted - and the slots claimed for the reported ones
 * go back. */
static void
test_recovery_missing_task_restarts(void **state)
{
	fixture *f = *state;
	uint64_t ck_id;
	uint32_t attempt;
	jm_slot_ref slots[2];
	jm_job *job = recovered(f, &ck_id, &attempt, slots);
	assert_int_equal(report_placed(f, job, slots, attempt, 0, 3), 3);
	int mark = f->ncalls;
	jm_jobs_tick(f->jm.jobs, wr_mono_ms());
	assert_int_equal(job->state, JM_JOB_RESTARTING);
	assert_int_equal(job->restarts, 1);
	assert_non_null(strstr(job->failure, "1 of 4 task(s)"));
	assert_int_equal(jm_tmreg_get_totals(f->jm.tms).slots_free, 2);
	assert_int_equal(count_calls(f, mark, JM_CALL_CANCEL, NULL), 8);
	/* no longer kept: the TaskManagers cancel them too */
	assert_int_equal(report_placed(f, job, slots, attempt, 0, 4), 0);
	answer_leftovers(f, mark, none_there);
	jm_jobs_tick(f->jm.jobs, wr_mono_ms());
	assert_int_equal(job->state, JM_JOB_RUNNING);
	assert_int_equal(job->attempt, attempt + 1);
	assert_int_equal(count_calls(f, mark, JM_CALL_DEPLOY, NULL), 4);
}

/* Reports that disagree with slot sharing (subtask 0 of two vertices in
 * two slots) or come from another attempt are not kept: the job
 * restarts. */
static void
test_recovery_disagreeing_reports_restart(void **state)
{
	fixture *f = *state;
	uint64_t ck_id;
	uint32_t attempt;
	jm_slot_ref slots[2], swapped[2];
	jm_job *job = recovered(f, &ck_id, &attempt, slots);
	assert_int_equal(report_placed(f, job, slots, attempt, 0, 1), 1);
	swapped[0] = slots[1];
	swapped[1] = slots[0];
	/* task 1 is 0/1: the other slot - fine; task 2 is 1/0 reported in
	 * subtask 1's slot - not */
	assert_int_equal(report_placed(f, job, swapped, attempt, 2, 3), 0);
	assert_int_equal(report_placed(f, job, slots, attempt + 1, 1, 2), 0);
	jm_jobs_tick(f->jm.jobs, wr_mono_ms());
	assert_int_equal(job->state, JM_JOB_RESTARTING);
	assert_non_null(strstr(job->failure, "its slot is"));
	assert_int_equal(jm_tmreg_get_totals(f->jm.tms).slots_free, 2);
}

static void
test_recovery_ending_job_ends(void **state)
{
	fixture *f = *state;
	jm_job *job = submit(f, "");
	answer_deploys(f, 0, WR_OK);
	report_all(f, job, JM_TASK_RUNNING);
	char id[33], err[128];
	memcpy(id, job->id, sizeof(id));
	assert_int_equal(jm_jobs_cancel(f->jm.jobs, id, err, sizeof(err)),
	                 WR_OK);
	/* the JobManager dies before the tasks confirm */
	restart_jm(f);
	job = jm_jobs_find(f->jm.jobs, id);
	assert_int_equal(job->state, JM_JOB_CANCELLING);
	int mark = f->ncalls;
	jm_jobs_tick(f->jm.jobs, wr_mono_ms());
	assert_int_equal(count_calls(f, mark, JM_CALL_CANCEL, NULL), 8);
	answer_leftovers(f, mark, none_there);
	jm_jobs_tick(f->jm.jobs, wr_mono_ms());
	assert_int_equal(job->state, JM_JOB_CANCELED);
	assert_int_equal(count_calls(f, mark, JM_CALL_DEPLOY, NULL), 0);
	/* a terminal job's entry is removed */
	jm_jobstore_entry *v = NULL;
	size_t n = 9;
	assert_int_equal(
	    jm_jobstore_load(f->jm.jobstore, &v, &n, err, sizeof(err)), WR_OK);
	assert_int_equal(n, 0);
}

static void
test_recovery_corrupt_entry_failed(void **state)
{
	fixture *f = *state;
	const char *id = "00112233445566778899aabbccddeeff";
	char path[512];
	snprintf(path, sizeof(path), "%s/jobstore/jobs", f->dir);
	assert_int_equal(wr_mkdirs(path, 0755), WR_OK);
	snprintf(path, sizeof(path), "%s/jobstore/jobs/%s.json", f->dir, id);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("{\"format\": 1, \"id\": ", fp); /* cut short */
	fclose(fp);
	restart_jm(f);
	jm_job *job = jm_jobs_find(f->jm.jobs, id);
	assert_non_null(job);
	assert_int_equal(job->state, JM_JOB_FAILED);
	assert_non_null(strstr(job->failure, "unreadable"));
	jm_jobs_tick(f->jm.jobs, wr_mono_ms());
	assert_int_equal(f->ncalls, 0);
	/* REST lists it, without a plan */
	jm_snap *snap = jm_snap_new();
	jm_snap_publish(snap, f->jm.jobs, wr_mono_ms());
	wr_buf b;
	wr_buf_init(&b);
	char err[128];
	assert_int_equal(jm_snap_job(snap, id, false, &b, err, sizeof(err)),
	                 WR_OK);
	wr_buf_putc(&b, '\0');
	assert_non_null(strstr((char *)b.data, "\"state\":\"FAILED\""));
	assert_non_null(strstr((char *)b.data, "unreadable"));
	wr_buf_fini(&b);
	jm_snap_free(snap);
	/* the entry stays for the operator */
	assert_int_equal(access(path, F_OK), 0);
}

/* Every call from index from on answered: deploys with rv, the rest OK. */
static void
answer_all(fixture *f, int from, int deploy_rv)
{
	for (int i = from; i < f->ncalls; i++) {
		jm_call_done d = {.ref = f->calls[i].ref, .called = true};
		d.rv = d.ref.kind == JM_CALL_DEPLOY ? deploy_rv : WR_OK;
		jm_jobs_call_done(f->jm.jobs, &d);
	}
}

/*
 * An upgrade (upgrade.c): a new file that does not parse, or last-state
 * without a checkpoint, changes nothing; stateless cancels the job, starts
 * the new version once the old one ended, and when that cannot deploy,
 * cancels it and starts the old YAML again: rolled back.
 */
static void
test_upgrade_stateless_rollback(void **state)
{
	fixture *f = *state;
	jm_job *old = submit(f, "restart: { strategy: none }\n");
	answer_all(f, 0, WR_OK);
	report_all(f, old, JM_TASK_RUNNING);
	char old_id[33], err[1024];
	memcpy(old_id, old->id, sizeof(old_id));
	uint64_t id;
	jm_upgrade_req r = {.job_id = old_id,
	                    .file = "new.yaml",
	                    .yaml = "name: t\nbogus: 1\n"};
	assert_int_equal(jm_upgrade_start(&f->jm, &r, &id, err, sizeof(err)),
	                 WR_EINVAL);
	assert_non_null(strstr(err, "new.yaml:2:1"));
	char yaml[2048];
	snprintf(yaml, sizeof(yaml), job_yaml,
	         "restart: { strategy: none }\nmax_parallelism: 64\n");
	r.yaml = yaml;
	r.mode = JM_UPGRADE_LAST_STATE;
	assert_int_equal(jm_upgrade_start(&f->jm, &r, &id, err, sizeof(err)),
	                 WR_ESTATE);
	assert_non_null(strstr(err, "no completed checkpoint"));
	assert_int_equal(old->state, JM_JOB_RUNNING);

	r.mode = JM_UPGRADE_STATELESS;
	int mark = f->ncalls;
	assert_int_equal(jm_upgrade_start(&f->jm, &r, &id, err, sizeof(err)),
	                 WR_OK);
	const jm_upgrade *up = jm_upgrade_find(&f->jm, id);
	assert_int_equal(old->state, JM_JOB_CANCELLING);
	answer_all(f, mark, WR_OK);
	report_all(f, old, JM_TASK_CANCELED);
	assert_int_equal(old->state, JM_JOB_CANCELED);
	mark = f->ncalls;
	jm_upgrades_tick(&f->jm, wr_mono_ms());
	assert_int_equal(up->phase, JM_UP_STARTING);
	jm_job *nj = jm_jobs_find(f->jm.jobs, up->new_id);
	assert_non_null(nj);
	assert_non_null(strstr(nj->yaml, "max_parallelism: 64"));
	/* the new version cannot deploy: it fails, is cancelled, and the
	 * old YAML runs again */
	answer_all(f, mark, WR_EPROTO);
	report_all(f, nj, JM_TASK_CANCELED);
	jm_upgrades_tick(&f->jm, wr_mono_ms());
	if (up->phase == JM_UP_ABORTING) {
		report_all(f, nj, JM_TASK_CANCELED);
		jm_upgrades_tick(&f->jm, wr_mono_ms());
	}
	assert_int_equal(up->phase, JM_UP_DONE);
	assert_false(up->ok);
	assert_true(up->rolled_back);
	assert_non_null(strstr(up->error, "deployment failed"));
	jm_job *back = jm_jobs_find(f->jm.jobs, up->job_id);
	assert_non_null(back);
	assert_string_equal(back->yaml, old->yaml);
	assert_string_equal(back->spec_hash, old->spec_hash);
	assert_string_not_equal(back->id, old_id);
	assert_int_equal(back->state, JM_JOB_RUNNING);
}

/* A stream-table join runs since the table source is in the runtime
 * (docs/joins.md): the JobManager no longer refuses it. */
static void
test_submit_accepts_table_join(void **state)
{
	fixture *f = *state;
	static const char yaml[] =
	    "name: t\n"
	    "sources:\n"
	    "  s: { kafka: { topic: s }, schema: { a: string } }\n"
	    "tables:\n"
	    "  tb: { kafka: { topic: t }, schema: { a: string }, "
	    "primary_key: [a] }\n"
	    "nodes:\n"
	    "  - id: j\n"
	    "    from: s\n"
	    "    join: { table: tb, on: [a] }\n"
	    "  - id: out\n"
	    "    from: j\n"
	    "    sink: { stdout: {} }\n";
	jm_submit_opts o = {.file = "j.yaml", .yaml = yaml};
	char id[33], err[1024] = "";

	assert_int_equal(jm_jobs_submit(f->jm.jobs, &o, id, err, sizeof(err)),
	                 WR_OK);
	assert_string_equal(err, "");
	assert_int_equal(jm_jobs_count(f->jm.jobs), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_upgrade_stateless_rollback,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_submit_deploy_running, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_submit_anomaly_accepted, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_unasked_cancel_restarts, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_failure_restarts_and_redeploys,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_deploy_timeout_cancels_the_task, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_cancel_unanswered_counts_task_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_restart_waits_for_unanswered_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_restart_redeploys_after_tm_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_task_fails_job_at_once,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keep_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_calls_carry_epoch, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_checkpoint_trigger_ack_complete_notify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoint_trigger_unreachable,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoint_trigger_answers,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scheduler, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_recovery_cancels_leftovers_then_redeploys, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_recovery_waits_for_cancel_answers, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_recovery_finished_tasks_adopted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_ended_tasks, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_checkpoint_retention_keeps_shared, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_adopts_running_tasks,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_missing_task_restarts,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_recovery_disagreeing_reports_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_ending_job_ends,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_corrupt_entry_failed,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_submit_pattern_accepted, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_submit_accepts_table_join,
	                                    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
