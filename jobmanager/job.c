/*
 * job.c - job lifecycle on the JobManager: submit -> plan -> allocate slots
 * (scheduler.c) -> deploy -> RUNNING; task reports drive FINISHED / FAILED;
 * cancel sends CancelTask to every task and ends CANCELED. Calls to
 * TaskManagers go through jm->out and return at once; their outcomes come
 * back as events (jm_jobs_call_done): a deployment that fails or gets no
 * answer fails the attempt, and one that got no answer is followed by a
 * CancelTask of that task, so that no orphan is left running. A failed task or
 * a lost TaskManager moves the job to RESTARTING when its restart strategy
 * allows (every task cancelled, slots allocated again after the delay, every
 * task redeployed from the newest readable checkpoint; docs/checkpoints.md),
 * otherwise it fails the job and frees its slots. Every change is written
 * to the job store (jobstore.c) first; a JobManager start re-creates the
 * stored jobs and adopts the running tasks of those whose tasks all report
 * in; the others cancel what the previous JobManager left running (queued
 * calls, answers as events: jm_recovery) before they run again.
 */
#include "job.h"
#include "job_metrics.h"

#include "ckpt.h"
#include "clock.h"
#include "err.h"
#include "id.h"
#include "jm_int.h"
#include "jobstore.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "scheduler.h"
#include "tmclients.h"
#include "wr_limits.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jm_jobs {
	jm_server *jm;
	jm_job **v;
	size_t n, cap;
};

/*
 * A recovered job's cancel of what the previous JobManager left running
 * (its attempt may still run - and commit - on any TaskManager; it must
 * not beside the next one). Once the TaskManagers of the stored attempt
 * registered again (at most until wait_until), every task of the job is
 * cancelled on every live TaskManager, by queued calls whose answers come
 * back as events; the loop never waits. A task some TaskManager took the
 * cancel of is then waited for like any cancelled task (its CANCELED
 * report carries the stored attempt); the others count as ended.
 */
typedef struct jm_recovery {
	int64_t wait_until; /* monotonic */
	char **tms;         /* the stored attempt's TaskManagers */
	size_t ntms;
	bool started;
	/* TaskManagers every cancel was queued to; more: a full call queue
	 * stopped the round, the next tick goes on */
	char (*sent)[WR_ADDR_BYTES];
	size_t nsent, capsent;
	bool more;
	int outstanding; /* queued, not answered */
	bool *held;      /* per task: a TaskManager took its cancel */
	/* Adoption (a job stored RUNNING): the TaskManagers' reports of
	 * the stored attempt's tasks are taken as they come (jm_jobs_keeps);
	 * once every task reported, the job goes on as it runs. seen: per
	 * task; claimed: per slot, taken from the registry; why: what made
	 * adoption impossible (the job then restarts). */
	bool adopting;
	bool *seen, *claimed;
	bool *finished; /* per task: reported ended FINISHED */
	char why[300];
	int64_t t0; /* monotonic, the recovery */
} jm_recovery;

static void
jm_recovery_free(jm_recovery *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->ntms; i++)
		free(r->tms[i]);
	free(r->tms);
	free(r->sent);
	free(r->held);
	free(r->seen);
	free(r->claimed);
	free(r->finished);
	free(r);
}

static void jm_recovery_step(jm_jobs *jobs, jm_job *job, int64_t now_ms);
static void jm_recovery_cancel_done(jm_job *job, jm_task *t,
                                    const jm_call_done *d);
static bool jm_recovery_adopt_report(jm_jobs *jobs, jm_job *job, jm_task *t,
                                     const char *tm_id,
                                     const jm_task_report *rep);
static void jm_recovery_adopt_start(jm_job *job);
static void jm_recovery_adopt_ended(jm_job *job, jm_task *t,
                                    enum jm_task_state st, const char *failure);
static bool jm_recovery_adopt_step(jm_jobs *jobs, jm_job *job, int64_t now_ms);
static void jm_recovery_adopt_fail(jm_job *job, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *const jm_job_states[] = {
    "CREATED",    "RUNNING",  "FAILING", "CANCELLING",
    "RESTARTING", "CANCELED", "FAILED",  "FINISHED",
};
static const char *const jm_task_states[] = {
    "DEPLOYING", "RUNNING", "FINISHED", "CANCELED", "FAILED",
};

const char *
jm_job_state_name(enum jm_job_state s)
{
	return jm_job_states[s];
}

const char *
jm_task_state_name(enum jm_task_state s)
{
	return jm_task_states[s];
}

int
jm_task_state_parse(const char *name, enum jm_task_state *out)
{
	for (int i = JM_TASK_DEPLOYING; i <= JM_TASK_FAILED; i++)
		if (strcmp(name, jm_task_states[i]) == 0) {
			*out = (enum jm_task_state)i;
			return WR_OK;
		}
	return WR_EINVAL;
}

bool
jm_job_state_terminal(enum jm_job_state s)
{
	return s == JM_JOB_CANCELED || s == JM_JOB_FAILED ||
	       s == JM_JOB_FINISHED;
}

static bool
jm_task_terminal(enum jm_task_state s)
{
	return s == JM_TASK_FINISHED || s == JM_TASK_CANCELED ||
	       s == JM_TASK_FAILED;
}

jm_jobs *
jm_jobs_new(jm_server *jm)
{
	jm_jobs *jobs = wr_xcalloc(1, sizeof(*jobs));
	jobs->jm = jm;
	return jobs;
}

static void
jm_job_free(jm_job *job)
{
	if (job == NULL)
		return;
	jm_ckpt_free(job->ck);
	free(job->restore_url);
	free(job->savepoint_url);
	wr_plan_free(job->plan);
	wr_jobspec_free(job->spec);
	free(job->name);
	free(job->file);
	free(job->yaml);
	free(job->failure);
	for (size_t i = 0; i < JM_JOB_EXCEPTIONS_MAX; i++) {
		free(job->exc[i].root.cause);
		for (int k = 0; k < job->exc[i].nconcurrent; k++)
			free(job->exc[i].concurrent[k].cause);
	}
	free(job->slots);
	free(job->tasks);
	jm_recovery_free(job->recovery);
	free(job);
}

void
jm_jobs_free(jm_jobs *jobs)
{
	if (jobs == NULL)
		return;
	for (size_t i = 0; i < jobs->n; i++)
		jm_job_free(jobs->v[i]);
	free(jobs->v);
	free(jobs);
}

jm_job *
jm_jobs_find(jm_jobs *jobs, const char *id)
{
	for (size_t i = 0; i < jobs->n; i++)
		if (strcmp(jobs->v[i]->id, id) == 0)
			return jobs->v[i];
	return NULL;
}

size_t
jm_jobs_count(const jm_jobs *jobs)
{
	return jobs->n;
}

jm_job *
jm_jobs_at(jm_jobs *jobs, size_t i)
{
	return i < jobs->n ? jobs->v[i] : NULL;
}

void
jm_jobs_counts(jm_jobs *jobs, int counts[JM_JOB_FINISHED + 1])
{
	memset(counts, 0, sizeof(int) * (JM_JOB_FINISHED + 1));
	for (size_t i = 0; i < jobs->n; i++)
		counts[jobs->v[i]->state]++;
}

/* Refuses what this version cannot run, naming the node. */
static int
jm_job_check_runnable(const wr_jobspec *spec, char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < spec->nnodes; i++) {
		const wr_node_spec *n = &spec->nodes[i];
		const char *what = NULL;
		if (n->kind == WR_NODE_SOURCE &&
		    n->source.kind != WR_SRC_KAFKA &&
		    n->source.kind != WR_SRC_DATAGEN &&
		    n->source.kind != WR_SRC_NEXMARK)
			what = "only kafka, datagen and nexmark sources run "
			       "today";
		if (what != NULL) {
			snprintf(errbuf, errlen, "%s:%d:%d: node '%s': %s",
			         spec->file, n->line, n->col, n->id, what);
			return WR_ESTATE;
		}
	}
	return WR_OK;
}

static void
jm_job_metrics(jm_jobs *jobs, jm_job *job)
{
	jm_job_metrics_hold(jobs->jm->metrics, job);
}

/* An ended job's series stay grace ms for a last scrape, then go. */
static void
jm_job_metrics_release(jm_jobs *jobs, jm_job *job, int64_t grace)
{
	jm_job_metrics_drop(jobs->jm->metrics, job, grace);
	jm_ckpt_metrics_release(job->ck, grace);
}

static void
jm_job_set_state(jm_jobs *jobs, jm_job *job, enum jm_job_state st)
{
	if (job->state == st)
		return;
	wr_log(st == JM_JOB_FAILED ? WR_LOG_WARN : WR_LOG_INFO, "JOB-STATE",
	       "job=%s name=%s %s -> %s%s%s", job->id, job->name,
	       jm_job_state_name(job->state), jm_job_state_name(st),
	       job->failure && st == JM_JOB_FAILED ? ": " : "",
	       job->failure && st == JM_JOB_FAILED ? job->failure : "");
	job->state = st;
	job->state_ms[st] = wr_wall_ms();
	jm_job_metrics_state(job, wr_mono_ms());
	if (jm_job_state_terminal(st)) {
		job->end_ms = wr_wall_ms();
		jm_sched_release(jobs->jm->tms, job);
		jm_job_metrics_release(
		    jobs, job, jobs->jm->cfg.metrics_ended_job_grace_ms);
	}
	jm_store_job(jobs->jm, job, NULL, 0);
}

/* A task of a restarting job whose TaskManager did not answer may still
 * run (and write) there: it is redeployed elsewhere only once that
 * TaskManager is lost or answers a CancelTask (the fence of sinks holds
 * only so; docs/architecture.md, adoption). */
static void
jm_task_unconfirmed(jm_job *job, jm_task *t)
{
	if (t->stop == JM_STOP_UNCONFIRMED)
		return;
	t->stop = JM_STOP_UNCONFIRMED;
	wr_log(WR_LOG_WARN, "JOB-STOP-UNCONFIRMED",
	       "job=%s task %d/%d on %s may still run there: not redeployed "
	       "before that TaskManager answers or is declared lost",
	       job->id, t->vertex, t->subtask, t->slot->tm_id);
}

/* Asks one task to stop; the answer comes as an event. A TaskManager
 * that did not answer an earlier call is not asked: the task counts as
 * gone with it, unless the job restarts. */
static void
jm_task_stop(jm_jobs *jobs, jm_job *job, jm_task *t)
{
	if (jm_tm_reachable(jobs->jm, t->slot->tm_id) &&
	    jobs->jm->out->cancel(jobs->jm, job, t, false) == WR_OK) {
		t->stop = JM_STOP_SENT;
		return;
	}
	if (job->state == JM_JOB_RESTARTING)
		jm_task_unconfirmed(job, t);
	else
		t->state = JM_TASK_CANCELED; /* TM gone */
}

/* Asks every task that has not ended, and was not asked yet, to stop. */
static void
jm_job_cancel_tasks(jm_jobs *jobs, jm_job *job)
{
	/* Downstream first (tasks are vertex-major and vertices are in
	 * topological order): a task told to stop before its producers go
	 * away ends CANCELED, committing what its sink holds, instead of
	 * failing on a vanished input. A recovered job's are cancelled
	 * with its leftovers (jm_recovery_send). */
	if (job->recovery != NULL)
		return;
	for (int i = job->ntasks - 1; i >= 0; i--) {
		jm_task *t = &job->tasks[i];
		if (!jm_task_terminal(t->state) && t->stop != JM_STOP_SENT &&
		    t->stop != JM_STOP_TAKEN)
			jm_task_stop(jobs, job, t);
	}
	job->cancel_deadline_ms = wr_mono_ms() + JM_CANCEL_TIMEOUT_MS;
}

/* Moves a FAILING/CANCELLING/RUNNING job on once its tasks have ended (a
 * RESTARTING one moves on in jm_jobs_tick). */
static void
jm_job_settle(jm_jobs *jobs, jm_job *job)
{
	if (job->recovery != NULL)
		return; /* its leftovers first (jm_recovery_finish) */
	int ended = 0, finished = 0;
	for (int i = 0; i < job->ntasks; i++) {
		ended += jm_task_terminal(job->tasks[i].state);
		finished += job->tasks[i].state == JM_TASK_FINISHED;
	}
	if (ended < job->ntasks)
		return;
	if (job->state == JM_JOB_FAILING)
		jm_job_set_state(jobs, job, JM_JOB_FAILED);
	else if (job->state == JM_JOB_CANCELLING)
		jm_job_set_state(jobs, job,
		                 job->stopping ? JM_JOB_FINISHED
		                               : JM_JOB_CANCELED);
	else if (job->state == JM_JOB_RUNNING && finished == job->ntasks)
		jm_job_set_state(jobs, job, JM_JOB_FINISHED);
}

/* The restart strategy's delay before restart number n (from 1). */
static int64_t
jm_job_restart_delay(const wr_restart_spec *r, uint64_t n)
{
	if (r->kind != WR_RESTART_EXPONENTIAL)
		return r->delay_ms;
	double d =
	    (double)r->delay_ms * pow(r->multiplier > 1.0 ? r->multiplier : 2.0,
	                              (double)(n > 0 ? n - 1 : 0));
	if (r->max_delay_ms > 0 && d > (double)r->max_delay_ms)
		d = (double)r->max_delay_ms;
	return (int64_t)d;
}

static bool
jm_job_can_restart(const jm_job *job)
{
	const wr_restart_spec *r = &job->spec->restart;
	return job->state == JM_JOB_RUNNING && !job->stopping &&
	       r->kind != WR_RESTART_NONE &&
	       (r->attempts < 0 || job->restarts < (uint64_t)r->attempts);
}

static void jm_job_cancel_tasks(jm_jobs *jobs, jm_job *job);

/* A failure the restart strategy absorbs: stop every task, then
 * redeploy them all from the latest checkpoint (jm_jobs_tick). */
static void
jm_job_restart(jm_jobs *jobs, jm_job *job, const char *reason,
               enum jm_restart_cause cause)
{
	free(job->failure);
	job->failure = wr_xstrdup(reason);
	job->restarts++;
	jm_job_metrics_restart(job, cause);
	int64_t delay =
	    jm_job_restart_delay(&job->spec->restart, job->restarts);
	job->restart_at_ms = wr_mono_ms() + delay;
	wr_log(WR_LOG_WARN, "JOB-RESTART",
	       "job=%s restart %llu in %lld ms after: %s", job->id,
	       (unsigned long long)job->restarts, (long long)delay, reason);
	jm_ckpt_abort(job, "the job is restarting");
	jm_job_set_state(jobs, job, JM_JOB_RESTARTING);
	jm_job_cancel_tasks(jobs, job);
}

static void
jm_job_failure_set(jm_job_failure *f, const char *reason, const jm_task *t,
                   const char *tm_id)
{
	free(f->cause);
	f->cause = wr_xstrdup(reason);
	f->ts_ms = wr_wall_ms();
	f->vertex = t != NULL ? t->vertex : -1;
	f->subtask = t != NULL ? t->subtask : -1;
	if (tm_id == NULL && t != NULL)
		tm_id = t->slot->tm_id;
	snprintf(f->tm_id, sizeof(f->tm_id), "%s", tm_id ? tm_id : "");
}

/* Keeps a failure in the job's exception history: a new entry when it
 * fails a running attempt (the oldest entry goes), else beside the newest
 * entry's root cause, as a failure that came while the attempt ended. */
static void
jm_job_exc_add(jm_job *job, const char *reason, const jm_task *t,
               const char *tm_id, bool root)
{
	if (!root) {
		if (job->nexc == 0)
			return;
		jm_job_exc *e =
		    &job->exc[(job->nexc - 1) % JM_JOB_EXCEPTIONS_MAX];
		if (e->nconcurrent < JM_JOB_EXC_CONCURRENT_MAX)
			jm_job_failure_set(&e->concurrent[e->nconcurrent++],
			                   reason, t, tm_id);
		return;
	}
	jm_job_exc *e = &job->exc[job->nexc++ % JM_JOB_EXCEPTIONS_MAX];
	for (int k = 0; k < e->nconcurrent; k++) {
		free(e->concurrent[k].cause);
		e->concurrent[k].cause = NULL;
	}
	e->nconcurrent = 0;
	jm_job_failure_set(&e->root, reason, t, tm_id);
}

/* Fails a job: records the first reason, stops the other tasks - or
 * restarts it when its strategy allows. A further failure of a FAILING
 * job may be the end of its last task: it settles (FAILED now, not at the
 * cancel deadline). */
static void
jm_job_fail_at(jm_jobs *jobs, jm_job *job, const char *reason, const jm_task *t,
               const char *tm_id, enum jm_restart_cause cause)
{
	if (jm_job_state_terminal(job->state))
		return;
	/* a root cause fails a running attempt; what fails while it ends
	 * (cancelled tasks, their TaskManagers) comes with it */
	jm_job_exc_add(job, reason, t, tm_id,
	               job->state == JM_JOB_RUNNING ||
	                   job->state == JM_JOB_CREATED);
	if (job->state == JM_JOB_RESTARTING)
		return;
	if (job->state == JM_JOB_FAILING) {
		jm_job_settle(jobs, job);
		return;
	}
	if (jm_job_can_restart(job)) {
		jm_job_restart(jobs, job, reason, cause);
		return;
	}
	jm_ckpt_abort(job, "the job failed");
	if (job->failure == NULL)
		job->failure = wr_xstrdup(reason);
	if (job->state != JM_JOB_CANCELLING) {
		jm_job_set_state(jobs, job, JM_JOB_FAILING);
		jm_job_cancel_tasks(jobs, job);
	}
	jm_job_settle(jobs, job);
}

static void
jm_job_fail(jm_jobs *jobs, jm_job *job, const char *reason,
            enum jm_restart_cause cause)
{
	jm_job_fail_at(jobs, job, reason, NULL, NULL, cause);
}

/* Queues DeployTask for every task of the job's current attempt; the
 * outcomes come to jm_job_deploy_done. A call that cannot even be queued
 * fails the attempt at once. */
static void
jm_job_deploy(jm_jobs *jobs, jm_job *job)
{
	for (int i = 0; i < job->ntasks; i++) {
		jm_task *t = &job->tasks[i];
		t->start_ms = wr_wall_ms();
		t->end_ms = 0;
		memset(&t->stats, 0, sizeof(t->stats));
		int rv = jobs->jm->out->deploy(jobs->jm, job, t);
		if (rv != WR_OK) {
			char reason[700];
			t->state = JM_TASK_FAILED;
			snprintf(reason, sizeof(reason),
			         "deployment failed: task %d/%d on %s: %s",
			         t->vertex, t->subtask, t->slot->tm_id,
			         wr_strerror(rv));
			jm_job_fail(jobs, job, reason,
			            JM_RESTART_DEPLOYMENT_FAILURE);
			return;
		}
	}
}

/* Parses, checks and plans; allocates slots. On success *out is a CREATED
 * job holding its slots. */
static int
jm_job_create(jm_jobs *jobs, const jm_submit_opts *o, jm_job **out,
              char *errbuf, size_t errlen)
{
	const char *file = o->file, *yaml = o->yaml;
	int p = o->parallelism_override;
	char url[WR_URL_BYTES] = "";
	jm_job *job = wr_xcalloc(1, sizeof(*job));
	uint32_t free_slots = 0;
	int rv = wr_jobspec_parse(file, yaml, strlen(yaml), p, &job->spec,
	                          errbuf, errlen);
	if (rv != WR_OK ||
	    (rv = jm_job_check_runnable(job->spec, errbuf, errlen)) != WR_OK ||
	    (rv = jm_policy_check_job(&jobs->jm->policy, job->spec, errbuf,
	                              errlen)) != WR_OK ||
	    (rv = wr_plan_build(job->spec, &job->plan, errbuf, errlen)) !=
	        WR_OK)
		goto fail;
	/* The savepoint first: a bad path is the user's first problem. */
	if (o->from_savepoint != NULL &&
	    (rv = jm_policy_check_url(&jobs->jm->policy, "savepoint to restore",
	                              o->from_savepoint, errbuf, errlen)) !=
	        WR_OK)
		goto fail;
	if (o->from_savepoint != NULL &&
	    (rv = jm_ckpt_check_savepoint(
	         jobs->jm, o->from_savepoint, job->spec, o->allow_non_restored,
	         url, sizeof(url), errbuf, errlen)) != WR_OK)
		goto fail;
	if (url[0] != '\0') {
		job->savepoint_url = wr_xstrdup(url);
		job->restore_url = wr_xstrdup(url);
	}
	jm_sched_plan(job);
	if ((rv = jm_sched_allocate(jobs->jm->tms, job, &free_slots, errbuf,
	                            errlen)) != WR_OK)
		goto fail;
	wr_id_hex(job->id, sizeof(job->id), 16);
	if (job->spec->checkpointing.interval_ms > 0)
		job->ck = jm_ckpt_new(jobs->jm, job);
	jm_job_metrics(jobs, job);
	job->name = wr_xstrdup(job->spec->name);
	job->file = wr_xstrdup(file);
	job->yaml = wr_xstrdup(yaml);
	wr_content_hash(yaml, strlen(yaml), job->spec_hash);
	job->parallelism_override = p;
	job->allow_non_restored = o->allow_non_restored;
	job->start_ms = wr_wall_ms();
	job->state = JM_JOB_CREATED;
	job->state_ms[JM_JOB_CREATED] = job->start_ms;
	*out = job;
	return WR_OK;
fail:
	jm_job_free(job);
	return rv;
}

static void
jm_job_push(jm_jobs *jobs, jm_job *job)
{
	if (jobs->n == jobs->cap) {
		jobs->cap = jobs->cap ? 2 * jobs->cap : 16;
		jobs->v = wr_xrealloc(jobs->v, jobs->cap * sizeof(*jobs->v));
	}
	jobs->v[jobs->n++] = job;
}

int
jm_jobs_submit(jm_jobs *jobs, const jm_submit_opts *o, char *job_id,
               char *errbuf, size_t errlen)
{
	jm_job *job;
	int rv = jm_job_create(jobs, o, &job, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	if (job->ck != NULL && job->savepoint_url != NULL)
		jm_ckpt_restored(job->ck, job->savepoint_url);
	/* Durable before it is acknowledged: a JobManager that crashes next
	 * recovers it. */
	char serr[512] = "";
	if ((rv = jm_store_job(jobs->jm, job, serr, sizeof(serr))) != WR_OK) {
		snprintf(errbuf, errlen,
		         "cannot record the job in the job "
		         "store: %s",
		         serr);
		jm_sched_release(jobs->jm->tms, job);
		jm_job_metrics_release(jobs, job, 0); /* it never ran */
		jm_job_free(job);
		return rv;
	}
	jm_job_push(jobs, job);
	memcpy(job_id, job->id, sizeof(job->id));
	wr_log(WR_LOG_INFO, "JOB-SUBMITTED",
	       "job=%s name=%s vertices=%d tasks=%d slots=%d", job->id,
	       job->name, job->plan->nvertices, job->ntasks, job->nslots);
	jm_job_set_state(jobs, job, JM_JOB_RUNNING);
	jm_job_deploy(jobs, job);
	return WR_OK;
}

int
jm_jobs_cancel(jm_jobs *jobs, const char *id, char *errbuf, size_t errlen)
{
	jm_job *job = jm_jobs_find(jobs, id);
	if (job == NULL) {
		snprintf(errbuf, errlen, "no job %s", id);
		return WR_ENOENT;
	}
	if (jm_job_state_terminal(job->state)) {
		snprintf(errbuf, errlen, "job %s is already %s", id,
		         jm_job_state_name(job->state));
		return WR_ESTATE;
	}
	jm_ckpt_abort(job, "the job was cancelled");
	job->stopping = false;
	if (job->state != JM_JOB_CANCELLING) {
		jm_job_set_state(jobs, job, JM_JOB_CANCELLING);
		jm_job_cancel_tasks(jobs, job);
	}
	jm_job_settle(jobs, job);
	return WR_OK;
}

static jm_task *
jm_job_task(jm_job *job, const char *task_id)
{
	int v, s;
	char tail;
	if (sscanf(task_id, "%d/%d%c", &v, &s, &tail) != 2)
		return NULL;
	for (int i = 0; i < job->ntasks; i++)
		if (job->tasks[i].vertex == v && job->tasks[i].subtask == s)
			return &job->tasks[i];
	return NULL;
}

void
jm_jobs_task_state(jm_jobs *jobs, const char *job_id, uint32_t attempt,
                   const char *task_id, enum jm_task_state st,
                   const char *failure)
{
	jm_job *job = jm_jobs_find(jobs, job_id);
	jm_task *t = job ? jm_job_task(job, task_id) : NULL;
	if (t != NULL && attempt == job->attempt && job->recovery != NULL &&
	    job->recovery->adopting && jm_task_terminal(st))
		jm_recovery_adopt_ended(job, t, st, failure);
	if (t == NULL || attempt != job->attempt) {
		wr_log(WR_LOG_WARN, "JOB-STALE-UPDATE",
		       "ignoring task %s of job %s attempt %u: unknown",
		       task_id, job_id, attempt);
		return;
	}
	if (jm_task_terminal(t->state))
		return;
	/* A task of a running job cancelled unasked: its TaskManager is
	 * stopping (SIGTERM cancels its tasks and reports them while its
	 * heartbeats go on). Taken as CANCELED, the TaskManager's loss
	 * would find no live task and the job would run on without it. */
	if (st == JM_TASK_CANCELED && t->stop == JM_STOP_NONE &&
	    job->state == JM_JOB_RUNNING) {
		st = JM_TASK_FAILED;
		failure = "cancelled by its TaskManager, unasked (the "
		          "TaskManager is stopping)";
	}
	/* A task finishing while others run ends checkpointing for this
	 * attempt; that is fine for bounded jobs. */
	t->state = st;
	if (jm_task_terminal(st))
		t->end_ms = wr_wall_ms();
	if (st == JM_TASK_FAILED) {
		char reason[1024];
		snprintf(reason, sizeof(reason),
		         "task %s (%s) on %s failed: %s", task_id,
		         job->plan->vertices[t->vertex].name, t->slot->tm_id,
		         failure ? failure : "no reason given");
		jm_job_fail_at(jobs, job, reason, t, NULL,
		               JM_RESTART_TASK_FAILURE);
		return;
	}
	jm_job_settle(jobs, job);
}

bool
jm_jobs_keeps(jm_jobs *jobs, const char *tm_id, const jm_task_report *r)
{
	jm_job *job = r->job_id ? jm_jobs_find(jobs, r->job_id) : NULL;
	jm_task *t =
	    job != NULL && r->task_id ? jm_job_task(job, r->task_id) : NULL;
	if (t != NULL && job->recovery != NULL)
		return jm_recovery_adopt_report(jobs, job, t, tm_id, r);
	return t != NULL && !jm_job_state_terminal(job->state) &&
	       r->attempt == job->attempt && !jm_task_terminal(t->state) &&
	       t->stop != JM_STOP_UNCONFIRMED &&
	       strcmp(t->slot->tm_id, tm_id) == 0 && t->slot->index == r->slot;
}

void
jm_jobs_task_ended(jm_jobs *jobs, const jm_task_report *r,
                   enum jm_task_state st, const char *failure)
{
	jm_job *job = r->job_id ? jm_jobs_find(jobs, r->job_id) : NULL;
	jm_task *t =
	    job != NULL && r->task_id ? jm_job_task(job, r->task_id) : NULL;
	if (t != NULL && job->recovery != NULL && job->recovery->adopting &&
	    r->attempt == job->attempt && jm_task_terminal(st))
		jm_recovery_adopt_ended(job, t, st, failure);
}

void
jm_jobs_task_stats(jm_jobs *jobs, const jm_task_report *r)
{
	jm_job *job = jm_jobs_find(jobs, r->job_id);
	jm_task *t = job != NULL ? jm_job_task(job, r->task_id) : NULL;
	if (t != NULL && r->stats.valid && r->attempt == job->attempt)
		t->stats = r->stats;
}

void
jm_jobs_tm_lost(jm_jobs *jobs, const jm_tm *tm)
{
	for (size_t i = 0; i < jobs->n; i++) {
		jm_job *job = jobs->v[i];
		if (jm_job_state_terminal(job->state))
			continue;
		bool hit = false;
		for (int k = 0; k < job->ntasks; k++) {
			jm_task *t = &job->tasks[k];
			if (strcmp(t->slot->tm_id, tm->id) == 0 &&
			    !jm_task_terminal(t->state)) {
				t->state = JM_TASK_FAILED;
				hit = true;
			}
		}
		if (hit) {
			char reason[512];
			snprintf(reason, sizeof(reason),
			         "TaskManager %s was lost", tm->id);
			jm_job_fail_at(jobs, job, reason, NULL, tm->id,
			               JM_RESTART_TASKMANAGER_LOST);
		}
	}
}

/* Redeploys every task of a RESTARTING job whose tasks all ended, from
 * the latest checkpoint, once the restart delay passed and slots are
 * free (on the remaining TaskManagers or returning ones). */
static void
jm_job_redeploy(jm_jobs *jobs, jm_job *job, int64_t now_ms)
{
	for (int k = 0; k < job->ntasks; k++)
		if (!jm_task_terminal(job->tasks[k].state))
			return;
	if (now_ms < job->restart_at_ms)
		return;
	jm_sched_release(jobs->jm->tms, job);
	uint32_t free_slots = 0;
	if (jm_sched_allocate(jobs->jm->tms, job, &free_slots, NULL, 0) !=
	    WR_OK) {
		if (now_ms - job->cancel_deadline_ms > 5000) {
			wr_log(WR_LOG_WARN, "JOB-RESTART-WAIT",
			       "job=%s needs %d slots, %u free: waiting for "
			       "TaskManagers",
			       job->id, job->nslots, free_slots);
			job->cancel_deadline_ms = now_ms;
		}
		return;
	}
	job->attempt++;
	for (int k = 0; k < job->ntasks; k++) {
		job->tasks[k].state = JM_TASK_DEPLOYING;
		job->tasks[k].stop = JM_STOP_NONE;
	}
	char url[WR_URL_BYTES];
	free(job->restore_url);
	job->restore_url = NULL;
	if (jm_ckpt_restore_point(job, url, sizeof(url)) == WR_OK)
		job->restore_url = wr_xstrdup(url);
	wr_log(WR_LOG_INFO, "JOB-REDEPLOY", "job=%s attempt %u from %s",
	       job->id, job->attempt,
	       job->restore_url ? job->restore_url : "nothing (no checkpoint)");
	jm_job_set_state(jobs, job, JM_JOB_RUNNING);
	jm_job_deploy(jobs, job);
}

void
jm_jobs_fail(jm_jobs *jobs, jm_job *job, const char *reason)
{
	jm_job_fail(jobs, job, reason, JM_RESTART_CHECKPOINT_FAILURE);
}

void
jm_jobs_stop_done(jm_jobs *jobs, jm_job *job)
{
	if (jm_job_state_terminal(job->state))
		return;
	job->stopping = true;
	if (job->state != JM_JOB_CANCELLING) {
		jm_job_set_state(jobs, job, JM_JOB_CANCELLING);
		jm_job_cancel_tasks(jobs, job);
	}
	jm_job_settle(jobs, job);
}

jm_server *
jm_jobs_server(jm_jobs *jobs)
{
	return jobs->jm;
}

/*
 * The tasks a restarting job waits for: a CancelTask that went unanswered
 * is sent again once the TaskManager is reachable (it heartbeated since);
 * past the cancel deadline, a task whose TaskManager took the CancelTask
 * counts as ended. One whose TaskManager never answered does not: it ends
 * with that TaskManager's answer, its own report, or the TaskManager
 * declared lost (jm_jobs_tm_lost).
 */
static void
jm_job_restart_stops(jm_jobs *jobs, jm_job *job, int64_t now_ms)
{
	for (int k = 0; k < job->ntasks; k++) {
		jm_task *t = &job->tasks[k];
		if (jm_task_terminal(t->state))
			continue;
		if (t->stop == JM_STOP_UNCONFIRMED) {
			if (jm_tm_reachable(jobs->jm, t->slot->tm_id) &&
			    jobs->jm->out->cancel(jobs->jm, job, t, false) ==
			        WR_OK)
				t->stop = JM_STOP_SENT;
		} else if (t->stop == JM_STOP_TAKEN &&
		           now_ms >= job->cancel_deadline_ms) {
			t->state = JM_TASK_CANCELED;
		}
	}
}

void
jm_jobs_tick(jm_jobs *jobs, int64_t now_ms)
{
	for (size_t i = 0; i < jobs->n; i++) {
		jm_job *job = jobs->v[i];
		jm_job_metrics_tick(job, now_ms);
		if (job->recovery != NULL)
			jm_recovery_step(jobs, job, now_ms);
		if (job->recovery != NULL || jm_job_state_terminal(job->state))
			continue;
		if (job->state == JM_JOB_RUNNING)
			jm_ckpt_tick(jobs, job, now_ms);
		if (job->state == JM_JOB_RESTARTING) {
			jm_job_restart_stops(jobs, job, now_ms);
			jm_job_redeploy(jobs, job, now_ms);
			continue;
		}
		if ((job->state != JM_JOB_CANCELLING &&
		     job->state != JM_JOB_FAILING) ||
		    now_ms < job->cancel_deadline_ms)
			continue;
		for (int k = 0; k < job->ntasks; k++)
			if (!jm_task_terminal(job->tasks[k].state))
				job->tasks[k].state = JM_TASK_CANCELED;
		wr_log(WR_LOG_WARN, "JOB-CANCEL-TIMEOUT",
		       "job=%s: tasks did not confirm within %d ms", job->id,
		       JM_CANCEL_TIMEOUT_MS);
		jm_job_settle(jobs, job);
	}
}

/* A DeployTask's outcome. One that failed fails the attempt, as before;
 * one that got no answer may still have started the task: it is
 * cancelled (the CancelTask queues behind the DeployTask), and until that
 * is answered the task counts as running there. */
static void
jm_job_deploy_done(jm_jobs *jobs, jm_job *job, jm_task *t,
                   const jm_call_done *d)
{
	if (d->rv == WR_OK)
		return; /* the task reports RUNNING itself */
	if (jm_tm_no_answer(d->rv)) {
		wr_log(WR_LOG_WARN, "JOB-DEPLOY-NO-ANSWER",
		       "job=%s task %d/%d on %s: %s; cancelling it there",
		       job->id, t->vertex, t->subtask, d->ref.tm_id,
		       wr_strerror(d->rv));
		if (jobs->jm->out->cancel(jobs->jm, job, t, true) == WR_OK) {
			t->stop = JM_STOP_SENT;
		} else {
			wr_log(WR_LOG_WARN, "JOB-ORPHAN",
			       "job=%s task %d/%d on %s: cannot queue its "
			       "CancelTask",
			       job->id, t->vertex, t->subtask, d->ref.tm_id);
			t->stop = JM_STOP_UNCONFIRMED;
		}
	}
	if (jm_task_terminal(t->state))
		return;
	if (!jm_tm_no_answer(d->rv))
		t->state = JM_TASK_FAILED; /* refused: it does not run */
	char reason[700];
	snprintf(reason, sizeof(reason),
	         "deployment failed: task %d/%d on %s: %s%s%s", t->vertex,
	         t->subtask, d->ref.tm_id, wr_strerror(d->rv),
	         d->err[0] ? ": " : "", d->err);
	jm_job_fail(jobs, job, reason, JM_RESTART_DEPLOYMENT_FAILURE);
}

/* A CancelTask's outcome. Taken: the task reports its end itself. Refused
 * (the TaskManager does not run it): it ended. No answer: the task counts
 * as gone with its TaskManager - unless the job restarts, which waits for
 * that TaskManager to answer or be lost (jm_job_restart_stops). */
static void
jm_job_cancel_done(jm_jobs *jobs, jm_job *job, jm_task *t,
                   const jm_call_done *d)
{
	if (jm_task_terminal(t->state))
		return;
	if (d->rv == WR_OK) {
		t->stop = JM_STOP_TAKEN;
		return;
	}
	wr_log(WR_LOG_WARN, d->ref.orphan ? "JOB-ORPHAN" : "JOB-CANCEL-TASK",
	       "job=%s task %d/%d on %s: %s%s%s", job->id, t->vertex,
	       t->subtask, d->ref.tm_id, wr_strerror(d->rv),
	       d->err[0] ? ": " : "", d->err);
	if (jm_tm_no_answer(d->rv) && job->state == JM_JOB_RESTARTING) {
		jm_task_unconfirmed(job, t);
		return;
	}
	t->state = JM_TASK_CANCELED;
	jm_job_settle(jobs, job);
}

void
jm_jobs_call_done(jm_jobs *jobs, const jm_call_done *d)
{
	if (d->ref.kind == JM_CALL_TRIGGER || d->ref.kind == JM_CALL_NOTIFY) {
		jm_ckpt_call_done(jobs, d);
		return;
	}
	jm_job *job = jm_jobs_find(jobs, d->ref.job_id);
	char task_id[32];
	snprintf(task_id, sizeof(task_id), "%d/%d", d->ref.vertex,
	         d->ref.subtask);
	jm_task *t = job ? jm_job_task(job, task_id) : NULL;
	if (t != NULL && d->ref.leftover) {
		jm_recovery_cancel_done(job, t, d);
		return;
	}
	if (t == NULL || d->ref.attempt != job->attempt) {
		/* an earlier attempt: its tasks were cancelled with it */
		if (d->rv != WR_OK)
			wr_log(WR_LOG_INFO, "JOB-STALE-CALL",
			       "job=%.32s attempt %u task %s on %s: %s",
			       d->ref.job_id, d->ref.attempt, task_id,
			       d->ref.tm_id, wr_strerror(d->rv));
		return;
	}
	if (d->ref.kind == JM_CALL_DEPLOY)
		jm_job_deploy_done(jobs, job, t, d);
	else
		jm_job_cancel_done(jobs, job, t, d);
}

/* ---- recovery from the job store ---- */

/* A job the store holds but this JobManager cannot run again: listed
 * FAILED with the reason; its entry stays for the operator to read. */
static void
jm_job_recover_failed(jm_jobs *jobs, const jm_jobstore_entry *e,
                      const char *reason)
{
	jm_job *job = wr_xcalloc(1, sizeof(*job));
	memcpy(job->id, e->id, sizeof(job->id));
	job->name = wr_xstrdup(e->name ? e->name : "(unknown)");
	job->file = wr_xstrdup(e->file ? e->file : "");
	job->yaml = wr_xstrdup(e->yaml ? e->yaml : "");
	wr_content_hash(job->yaml, strlen(job->yaml), job->spec_hash);
	job->start_ms = e->start_ms;
	job->end_ms = wr_wall_ms();
	job->attempt = e->attempt;
	job->failure = wr_xstrdup(reason);
	job->state = JM_JOB_FAILED;
	wr_log(WR_LOG_ERROR, "JOB-RECOVER-FAILED", "job=%s: %s", job->id,
	       reason);
	jm_job_push(jobs, job);
}

/* How long a recovered job waits for the TaskManagers of its stored
 * attempt. A TaskManager retries its registration at a backoff of up to
 * TM_LINK_BACKOFF_MAX_MS, over a connection nng redials at up to
 * WR_RPC_RECONNECT_MAX_MS, so one that lost the previous JobManager a
 * while ago may take that long to come back; and a task none reports may
 * still write for a heartbeat timeout (docs/architecture.md, adoption). */
static int64_t
jm_recovery_wait_ms(const wr_cluster_config *cfg)
{
	int64_t back = TM_LINK_BACKOFF_MAX_MS > WR_RPC_RECONNECT_MAX_MS
	                   ? TM_LINK_BACKOFF_MAX_MS
	                   : WR_RPC_RECONNECT_MAX_MS;
	int64_t wait = back + 2 * cfg->jm_heartbeat_interval_ms;
	return wait > cfg->jm_heartbeat_timeout_ms
	           ? wait
	           : cfg->jm_heartbeat_timeout_ms;
}

/* The parts of a recovered job that come from its entry; its tasks, of
 * the stored attempt, count as ended until the cancel of the leftovers
 * starts (a report before then changes nothing). */
static void
jm_job_recover_fields(jm_jobs *jobs, jm_job *job, const jm_jobstore_entry *e)
{
	memcpy(job->id, e->id, sizeof(job->id));
	jm_sched_plan(job);
	if (job->spec->checkpointing.interval_ms > 0)
		job->ck = jm_ckpt_new(jobs->jm, job);
	jm_job_metrics(jobs, job);
	job->name = wr_xstrdup(job->spec->name);
	job->file = wr_xstrdup(e->file);
	job->yaml = wr_xstrdup(e->yaml);
	wr_content_hash(job->yaml, strlen(job->yaml), job->spec_hash);
	job->parallelism_override = e->parallelism_override;
	job->allow_non_restored = e->allow_non_restored;
	if (e->from_savepoint != NULL)
		job->savepoint_url = wr_xstrdup(e->from_savepoint);
	job->start_ms = e->start_ms;
	job->attempt = e->attempt;
	/* weir_job_restarts_total counts this process's restarts (a
	 * counter starts at 0 in a new process; REST has the total) */
	job->restarts = e->restarts;
	if (e->failure != NULL)
		job->failure = wr_xstrdup(e->failure);
	if (job->ck != NULL)
		jm_ckpt_recover(job->ck, e->checkpoint_id, e->checkpoint_url,
		                e->checkpoint_is_savepoint,
		                e->next_checkpoint_id);
	for (int k = 0; k < job->ntasks; k++)
		job->tasks[k].state = JM_TASK_CANCELED;
	jm_recovery *r = wr_xcalloc(1, sizeof(*r));
	r->wait_until = wr_mono_ms() + jm_recovery_wait_ms(&jobs->jm->cfg);
	r->tms = wr_xcalloc(e->ntms + 1, sizeof(char *));
	for (size_t i = 0; i < e->ntms; i++)
		r->tms[r->ntms++] = wr_xstrdup(e->tms[i]);
	r->held = wr_xcalloc((size_t)job->ntasks, sizeof(bool));
	r->t0 = wr_mono_ms();
	job->recovery = r;
}

void
jm_jobs_recover(jm_jobs *jobs, const jm_jobstore_entry *e)
{
	char err[1024] = "", why[1200];
	if (e->corrupt != NULL) {
		jm_job_recover_failed(jobs, e, e->corrupt);
		return;
	}
	if (jm_jobs_find(jobs, e->id) != NULL)
		return;
	jm_job *job = wr_xcalloc(1, sizeof(*job));
	int rv = wr_jobspec_parse(e->file, e->yaml, strlen(e->yaml),
	                          e->parallelism_override, &job->spec, err,
	                          sizeof(err));
	if (rv == WR_OK)
		rv = jm_job_check_runnable(job->spec, err, sizeof(err));
	if (rv == WR_OK)
		rv = wr_plan_build(job->spec, &job->plan, err, sizeof(err));
	if (rv != WR_OK) {
		jm_job_free(job);
		snprintf(why, sizeof(why), "cannot recover the job: %s", err);
		jm_job_recover_failed(jobs, e, why);
		return;
	}
	jm_job_recover_fields(jobs, job, e);
	jm_job_push(jobs, job);
	/* One that was ending ends once its leftovers are cancelled; it
	 * does not run again. The others restart. */
	if (strcmp(e->state, "CANCELLING") == 0)
		job->state = JM_JOB_CANCELLING;
	else if (strcmp(e->state, "FAILING") == 0)
		job->state = JM_JOB_FAILING;
	else if (strcmp(e->state, "RUNNING") == 0)
		jm_recovery_adopt_start(job);
	else
		job->state = JM_JOB_RESTARTING;
	job->restart_at_ms = wr_mono_ms();
	uint64_t ck_id = 0;
	const char *ck_url = NULL;
	bool sp;
	jm_ckpt_latest(job->ck, &ck_id, &ck_url, &sp);
	wr_log(WR_LOG_INFO, "JOB-RECOVERED",
	       "job=%s name=%s was %s (epoch %llu), attempt %u; %s from %s; "
	       "checkpoint ids from %llu",
	       job->id, job->name, e->state, (unsigned long long)e->epoch,
	       job->attempt,
	       job->state == JM_JOB_RUNNING ? "adopts its tasks, else restarts"
	       : job->state == JM_JOB_RESTARTING ? "restarts"
	                                         : "ends, was",
	       ck_url ? ck_url : "nothing (no checkpoint)",
	       (unsigned long long)jm_ckpt_next_id(job->ck));
	jm_store_job(jobs->jm, job, NULL, 0); /* stamped with our epoch */
}

/* The TaskManagers of the stored attempt are back (they register again
 * within a heartbeat of a JobManager restart), or waiting is over. */
static bool
jm_recovery_ready(jm_jobs *jobs, const jm_recovery *r, int64_t now_ms)
{
	if (now_ms >= r->wait_until)
		return true;
	for (size_t i = 0; i < r->ntms; i++)
		if (!jm_tmreg_responsive(jobs->jm->tms, r->tms[i], 0, 0))
			return false;
	return true;
}

static bool
jm_recovery_was_sent(const jm_recovery *r, const char *tm_id)
{
	for (size_t i = 0; i < r->nsent; i++)
		if (strcmp(r->sent[i], tm_id) == 0)
			return true;
	return false;
}

/* Queues the cancel of every task not known to have ended on one live
 * TaskManager. False when the queue is full (some may be queued: a
 * second cancel of a task is answered "no such task"). */
static bool
jm_recovery_send_tm(jm_jobs *jobs, jm_job *job, const jm_tm *tm)
{
	jm_recovery *r = job->recovery;
	for (int k = 0; k < job->ntasks; k++) {
		if (jm_task_terminal(job->tasks[k].state))
			continue;
		int rv =
		    jobs->jm->out->leftover(jobs->jm, job, tm, &job->tasks[k]);
		if (rv == WR_EFULL)
			return false;
		if (rv != WR_OK) { /* it cannot be called: nothing to wait */
			wr_log(WR_LOG_WARN, "JOB-LEFTOVERS",
			       "job=%s: cannot call %s: %s", job->id, tm->id,
			       wr_strerror(rv));
			break;
		}
		r->outstanding++;
	}
	if (r->nsent == r->capsent) {
		r->capsent = r->capsent ? 2 * r->capsent : 8;
		r->sent = wr_xrealloc(r->sent, r->capsent * sizeof(*r->sent));
	}
	snprintf(r->sent[r->nsent++], sizeof(r->sent[0]), "%s", tm->id);
	return true;
}

/* Queues the cancels on every live TaskManager not done yet; at a full
 * call queue, r->more: the next tick goes on. */
static void
jm_recovery_send(jm_jobs *jobs, jm_job *job)
{
	jm_recovery *r = job->recovery;
	jm_tm *tms = wr_xcalloc(WR_MAX_TASKMANAGERS, sizeof(*tms));
	size_t n = jm_tmreg_snapshot(jobs->jm->tms, tms, WR_MAX_TASKMANAGERS);
	r->more = false;
	for (size_t i = 0; i < n && !r->more; i++)
		if (tms[i].alive && !tms[i].unreachable &&
		    !jm_recovery_was_sent(r, tms[i].id))
			r->more = !jm_recovery_send_tm(jobs, job, &tms[i]);
	free(tms);
}

/* Every cancel answered: a task no TaskManager held has ended; those
 * held are waited for (their reports, or JM_CANCEL_TIMEOUT_MS) as any
 * cancelled task is. The job then moves on as its state says. */
static void
jm_recovery_finish(jm_jobs *jobs, jm_job *job, int64_t now_ms)
{
	jm_recovery *r = job->recovery;
	int held = 0;
	for (int k = 0; k < job->ntasks; k++) {
		held += r->held[k];
		if (!r->held[k] && !jm_task_terminal(job->tasks[k].state))
			job->tasks[k].state = JM_TASK_CANCELED;
		else if (r->held[k])
			/* its TaskManager took the cancel: waited for like
			 * any task of a restart whose cancel was taken (its
			 * report, or the cancel deadline) */
			job->tasks[k].stop = JM_STOP_TAKEN;
	}
	wr_log(WR_LOG_INFO, "JOB-LEFTOVERS",
	       "job=%s: %d task(s) of attempt %u the previous JobManager left "
	       "running cancelled (%zu TaskManager(s) asked)",
	       job->id, held, job->attempt, r->nsent);
	jm_recovery_free(r);
	job->recovery = NULL;
	job->cancel_deadline_ms = now_ms + JM_CANCEL_TIMEOUT_MS;
	jm_job_settle(jobs, job);
}

/* ---- adoption: a new leader takes over the tasks as they run ---- */

/* A job stored RUNNING: it stays RUNNING while its TaskManagers report
 * its tasks (jm_recovery_adopt_report); its tasks count as ended until
 * then, so nothing is sent to them and no checkpoint is triggered. */
static void
jm_recovery_adopt_start(jm_job *job)
{
	jm_recovery *r = job->recovery;
	job->state = JM_JOB_RUNNING;
	r->adopting = true;
	r->seen = wr_xcalloc((size_t)job->ntasks, sizeof(bool));
	r->claimed = wr_xcalloc((size_t)job->nslots, sizeof(bool));
	r->finished = wr_xcalloc((size_t)job->ntasks, sizeof(bool));
}

/* A task of the stored attempt ended while no JobManager took its report
 * (jm_jobs_task_ended), or ends while the job is being adopted. FINISHED:
 * it counts as reported, and ends FINISHED once the job is adopted (its
 * slot is not claimed: the TaskManager freed it). Anything else: the job
 * restarts. */
static void
jm_recovery_adopt_ended(jm_job *job, jm_task *t, enum jm_task_state st,
                        const char *failure)
{
	jm_recovery *r = job->recovery;
	if (!r->adopting || r->why[0] != '\0' || r->started)
		return;
	if (st != JM_TASK_FINISHED) {
		jm_recovery_adopt_fail(
		    job, "task %d/%d ended %s%s%s", t->vertex, t->subtask,
		    jm_task_state_name(st), failure ? ": " : "",
		    failure ? failure : "");
		return;
	}
	r->seen[t - job->tasks] = true;
	r->finished[t - job->tasks] = true;
}

/* Adoption is off: the first reason stays, for the log and the job's
 * failure (jm_recovery_adopt_step restarts it). */
static void
jm_recovery_adopt_fail(jm_job *job, const char *fmt, ...)
{
	jm_recovery *r = job->recovery;
	if (!r->adopting || r->why[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
}

/*
 * A TaskManager reports task t of a recovered job (registration,
 * heartbeat). While the job is being adopted, a report of the stored
 * attempt is kept and its slot claimed; slot sharing puts subtask s of
 * every vertex in one slot, so the reports must agree on it. Anything
 * else makes the job restart (the TaskManager then cancels the task, or
 * the cancel of the leftovers does).
 */
static bool
jm_recovery_adopt_report(jm_jobs *jobs, jm_job *job, jm_task *t,
                         const char *tm_id, const jm_task_report *rep)
{
	jm_recovery *r = job->recovery;
	if (!r->adopting || r->why[0] != '\0' || r->started)
		return false;
	if (rep->attempt != job->attempt) {
		jm_recovery_adopt_fail(job,
		                       "%s runs task %s at attempt %llu, "
		                       "not the stored attempt %u",
		                       tm_id, rep->task_id,
		                       (unsigned long long)rep->attempt,
		                       job->attempt);
		return false;
	}
	size_t si = (size_t)(t->slot - job->slots);
	jm_slot_ref *s = &job->slots[si];
	if (r->claimed[si]) {
		if (strcmp(s->tm_id, tm_id) != 0 || s->index != rep->slot) {
			jm_recovery_adopt_fail(
			    job,
			    "task %s reported in slot %u of %s, its slot "
			    "is %u of %s",
			    rep->task_id, rep->slot, tm_id, s->index, s->tm_id);
			return false;
		}
	} else {
		int rv = jm_tmreg_claim(jobs->jm->tms, tm_id, rep->slot, s);
		if (rv != WR_OK) {
			jm_recovery_adopt_fail(
			    job, "slot %u of %s for task %s: %s", rep->slot,
			    tm_id, rep->task_id,
			    rv == WR_EFULL ? "no such free slot"
			                   : "not a live TaskManager");
			return false;
		}
		r->claimed[si] = true;
	}
	r->seen[t - job->tasks] = true;
	return true;
}

/* Every task reported: the job goes on at its attempt, its slots held,
 * checkpoints from the recovered id on (the next completed one commits
 * what the sinks pre-committed meanwhile). */
static void
jm_recovery_adopted(jm_job *job, int64_t now_ms)
{
	jm_recovery *r = job->recovery;
	size_t ntms = 0;
	for (int s = 0; s < job->nslots; s++) {
		bool first = r->claimed[s];
		for (int p = 0; p < s && first; p++)
			first = strcmp(job->slots[p].tm_id,
			               job->slots[s].tm_id) != 0;
		ntms += first;
	}
	int finished = 0;
	for (int k = 0; k < job->ntasks; k++) {
		jm_task *t = &job->tasks[k];
		t->state = r->finished[k] ? JM_TASK_FINISHED : JM_TASK_RUNNING;
		t->stop = JM_STOP_NONE;
		if (r->finished[k])
			t->end_ms = wr_wall_ms();
		finished += r->finished[k];
	}
	/* a slot only finished tasks ran in was not claimed: nothing to
	 * give back for it */
	for (int s = 0; s < job->nslots; s++)
		if (!r->claimed[s])
			memset(&job->slots[s], 0, sizeof(job->slots[s]));
	job->slots_held = true;
	wr_log(WR_LOG_INFO, "JOB-ADOPTED",
	       "job=%s attempt %u: %d task(s) on %zu TaskManager(s) adopted "
	       "as they run (%d of them finished meanwhile), %lld ms after "
	       "recovery; no restart; checkpoint ids from %llu",
	       job->id, job->attempt, job->ntasks, ntms, finished,
	       (long long)(now_ms - r->t0),
	       (unsigned long long)(job->ck ? jm_ckpt_next_id(job->ck) : 0));
	jm_recovery_free(r);
	job->recovery = NULL;
}

/* Adoption gives up: its claimed slots go back, and the job restarts from
 * its checkpoint through the cancel of the leftovers (a restart: counted). */
static void
jm_recovery_not_adopted(jm_jobs *jobs, jm_job *job)
{
	jm_recovery *r = job->recovery;
	r->adopting = false;
	for (int s = 0; s < job->nslots; s++) {
		if (r->claimed[s])
			jm_tmreg_release(jobs->jm->tms, &job->slots[s]);
		r->claimed[s] = false;
		memset(&job->slots[s], 0, sizeof(job->slots[s]));
	}
	wr_log(WR_LOG_WARN, "JOB-NOT-ADOPTED",
	       "job=%s attempt %u: restarts from its checkpoint: %s", job->id,
	       job->attempt, r->why);
	if (job->state != JM_JOB_RUNNING)
		return; /* cancelled or failed meanwhile: it ends */
	char reason[400];
	snprintf(reason, sizeof(reason),
	         "not adopted after a JobManager "
	         "failover: %s",
	         r->why);
	free(job->failure);
	job->failure = wr_xstrdup(reason);
	job->restarts++;
	jm_job_metrics_restart(job, JM_RESTART_NOT_ADOPTED);
	jm_job_set_state(jobs, job, JM_JOB_RESTARTING);
}

/* Moves adoption on. True while it waits for reports or once the job is
 * adopted; false once it gave up (the leftovers' cancel goes on). */
static bool
jm_recovery_adopt_step(jm_jobs *jobs, jm_job *job, int64_t now_ms)
{
	jm_recovery *r = job->recovery;
	int missing = 0;
	for (int k = 0; k < job->ntasks; k++)
		missing += !r->seen[k];
	for (int s = 0; s < job->nslots; s++)
		if (r->claimed[s] &&
		    !jm_tmreg_responsive(jobs->jm->tms, job->slots[s].tm_id, 0,
		                         0))
			jm_recovery_adopt_fail(job, "TaskManager %s is gone",
			                       job->slots[s].tm_id);
	if (job->state != JM_JOB_RUNNING)
		jm_recovery_adopt_fail(job, "the job is %s",
		                       jm_job_state_name(job->state));
	if (r->why[0] == '\0') {
		if (missing == 0) {
			jm_recovery_adopted(job, now_ms);
			jm_job_settle(jobs,
			              job); /* every task may have ended */
			return true;
		}
		if (!jm_recovery_ready(jobs, r, now_ms))
			return true;
		jm_recovery_adopt_fail(job,
		                       "%d of %d task(s) reported by no "
		                       "TaskManager",
		                       missing, job->ntasks);
	}
	jm_recovery_not_adopted(jobs, job);
	return false;
}

/* Moves a recovered job's cancel of its leftovers on (jm_jobs_tick). */
static void
jm_recovery_step(jm_jobs *jobs, jm_job *job, int64_t now_ms)
{
	jm_recovery *r = job->recovery;
	if (!r->started) {
		if (r->adopting && jm_recovery_adopt_step(jobs, job, now_ms))
			return;
		if (!jm_recovery_ready(jobs, r, now_ms))
			return;
		r->started = true;
		/* from now on a report of the stored attempt counts */
		for (int k = 0; k < job->ntasks; k++)
			job->tasks[k].state = JM_TASK_RUNNING;
		jm_recovery_send(jobs, job);
	} else if (r->more) {
		jm_recovery_send(jobs, job);
	}
	if (r->outstanding == 0 && !r->more)
		jm_recovery_finish(jobs, job, now_ms);
}

/* A leftover cancel's answer: a TaskManager that took it ran the task
 * (it reports CANCELED once the task ended); "no such task" and no answer
 * leave nothing to wait for there. */
static void
jm_recovery_cancel_done(jm_job *job, jm_task *t, const jm_call_done *d)
{
	jm_recovery *r = job->recovery;
	if (r == NULL || r->outstanding == 0)
		return;
	r->outstanding--;
	if (d->rv == WR_OK)
		r->held[t - job->tasks] = true;
	else if (d->rv != WR_ENOENT)
		wr_log(WR_LOG_WARN, "JOB-LEFTOVERS",
		       "job=%s task %d/%d on %s: %s%s%s", job->id, t->vertex,
		       t->subtask, d->ref.tm_id, wr_strerror(d->rv),
		       d->err[0] ? ": " : "", d->err);
}
