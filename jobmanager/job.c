/*
 * job.c - job lifecycle on the JobManager: submit -> plan -> allocate slots
 * -> deploy -> RUNNING; task reports drive FINISHED / FAILED; cancel sends
 * CancelTask to every task and ends CANCELED. A failed task or a lost
 * TaskManager moves the job to RESTARTING when its restart strategy allows
 * (every task cancelled, slots allocated again after the delay, every task
 * redeployed from the newest readable checkpoint; docs/checkpoints.md),
 * otherwise it fails the job and frees its slots.
 */
#include "job.h"

#include "ckpt.h"
#include "clock.h"
#include "err.h"
#include "id.h"
#include "jm_int.h"
#include "jobstore.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "wr_limits.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jm_jobs {
	jm_server *jm;
	jm_job **v;
	size_t n, cap;
};

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
	free(job->slots);
	free(job->tasks);
	for (size_t i = 0; i < job->nrecover_tms; i++)
		free(job->recover_tms[i]);
	free(job->recover_tms);
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
		if (n->kind == WR_NODE_JOIN || n->kind == WR_NODE_PATTERN)
			what = "joins and patterns are not supported yet";
		else if (n->kind == WR_NODE_SOURCE &&
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
jm_job_set_tasks(jm_job *job)
{
	const wr_plan *p = job->plan;
	job->ntasks = 0;
	for (int v = 0; v < p->nvertices; v++)
		job->ntasks += p->vertices[v].parallelism;
	job->tasks = wr_xcalloc((size_t)job->ntasks, sizeof(jm_task));
	int k = 0;
	for (int v = 0; v < p->nvertices; v++)
		for (int s = 0; s < p->vertices[v].parallelism; s++) {
			jm_task *t = &job->tasks[k++];
			t->vertex = v;
			t->subtask = s;
			t->slot = &job->slots[s]; /* slot sharing */
			t->state = JM_TASK_DEPLOYING;
		}
}

static void
jm_job_release_slots(jm_jobs *jobs, jm_job *job)
{
	if (!job->slots_held)
		return;
	for (int i = 0; i < job->nslots; i++)
		jm_tmreg_release(jobs->jm->tms, &job->slots[i]);
	job->slots_held = false;
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
	if (jm_job_state_terminal(st)) {
		job->end_ms = wr_wall_ms();
		jm_job_release_slots(jobs, job);
	}
	jm_store_job(jobs->jm, job, NULL, 0);
}

/* Asks every task that has not ended to stop. */
static void
jm_job_cancel_tasks(jm_jobs *jobs, jm_job *job)
{
	/* Downstream first (tasks are vertex-major and vertices are in
	 * topological order): a task told to stop before its producers go
	 * away ends CANCELED, committing what its sink holds, instead of
	 * failing on a vanished input. */
	const char *gone[WR_MAX_TASKMANAGERS];
	size_t ngone = 0;
	for (int i = job->ntasks - 1; i >= 0; i--) {
		jm_task *t = &job->tasks[i];
		if (jm_task_terminal(t->state))
			continue;
		bool skip = !jm_tm_reachable(jobs->jm, t->slot->tm_id);
		for (size_t k = 0; k < ngone && !skip; k++)
			skip = strcmp(gone[k], t->slot->tm_id) == 0;
		/* A TaskManager that did not answer is not asked again:
		 * each call would wait for the RPC timeout. */
		if (skip || jm_rpc_cancel_task(jobs->jm, job, t) != WR_OK) {
			t->state = JM_TASK_CANCELED; /* TM gone */
			if (!skip && ngone < WR_MAX_TASKMANAGERS)
				gone[ngone++] = t->slot->tm_id;
		}
	}
	job->cancel_deadline_ms = wr_mono_ms() + JM_CANCEL_TIMEOUT_MS;
}

/* Moves a FAILING/CANCELLING/RUNNING job on once its tasks have ended (a
 * RESTARTING one moves on in jm_jobs_tick). */
static void
jm_job_settle(jm_jobs *jobs, jm_job *job)
{
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
jm_job_restart(jm_jobs *jobs, jm_job *job, const char *reason)
{
	free(job->failure);
	job->failure = wr_xstrdup(reason);
	job->restarts++;
	wr_metric_inc(job->m_restarts);
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

/* Fails a job: records the first reason, stops the other tasks - or
 * restarts it when its strategy allows. */
static void
jm_job_fail(jm_jobs *jobs, jm_job *job, const char *reason)
{
	if (jm_job_state_terminal(job->state) || job->state == JM_JOB_FAILING ||
	    job->state == JM_JOB_RESTARTING)
		return;
	if (jm_job_can_restart(job)) {
		jm_job_restart(jobs, job, reason);
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

static int
jm_job_deploy(jm_jobs *jobs, jm_job *job, char *errbuf, size_t errlen)
{
	for (int i = 0; i < job->ntasks; i++) {
		jm_task *t = &job->tasks[i];
		int rv = jm_rpc_deploy_task(jobs->jm, job, t, errbuf, errlen);
		if (rv != WR_OK) {
			t->state = JM_TASK_FAILED;
			return rv;
		}
	}
	return WR_OK;
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
	    (rv = wr_plan_build(job->spec, &job->plan, errbuf, errlen)) !=
	        WR_OK)
		goto fail;
	/* The savepoint first: a bad path is the user's first problem. */
	if (o->from_savepoint != NULL &&
	    (rv = jm_ckpt_check_savepoint(
	         jobs->jm, o->from_savepoint, job->spec, o->allow_non_restored,
	         url, sizeof(url), errbuf, errlen)) != WR_OK)
		goto fail;
	if (url[0] != '\0') {
		job->savepoint_url = wr_xstrdup(url);
		job->restore_url = wr_xstrdup(url);
	}
	job->nslots = wr_plan_slots_needed(job->plan);
	job->slots = wr_xcalloc((size_t)job->nslots, sizeof(jm_slot_ref));
	rv = jm_tmreg_allocate(jobs->jm->tms, job->nslots, job->slots,
	                       &free_slots);
	if (rv != WR_OK) {
		jm_tmreg_totals t = jm_tmreg_get_totals(jobs->jm->tms);
		snprintf(errbuf, errlen,
		         "job '%s' needs %d slots but only %u are free (%u "
		         "TaskManagers, %u slots in all): add TaskManagers or "
		         "lower the parallelism",
		         job->spec->name, job->nslots, free_slots, t.alive,
		         t.slots_total);
		goto fail;
	}
	job->slots_held = true;
	wr_id_hex(job->id, sizeof(job->id), 16);
	if (job->spec->checkpointing.interval_ms > 0)
		job->ck = jm_ckpt_new(jobs->jm, job);
	const char *labels[] = {"job", job->id, NULL};
	job->m_restarts = wr_metrics_get(
	    jobs->jm->metrics, WR_METRIC_COUNTER, "weir_job_restarts_total",
	    "Restarts of a job after failures", labels);
	job->name = wr_xstrdup(job->spec->name);
	job->file = wr_xstrdup(file);
	job->yaml = wr_xstrdup(yaml);
	job->parallelism_override = p;
	job->allow_non_restored = o->allow_non_restored;
	job->start_ms = wr_wall_ms();
	job->state = JM_JOB_CREATED;
	jm_job_set_tasks(job);
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
		jm_job_release_slots(jobs, job);
		jm_job_free(job);
		return rv;
	}
	jm_job_push(jobs, job);
	jobs->cap = jobs->cap ? 2 * jobs->cap : 16;
	memcpy(job_id, job->id, sizeof(job->id));
	wr_log(WR_LOG_INFO, "JOB-SUBMITTED",
	       "job=%s name=%s vertices=%d tasks=%d slots=%d", job->id,
	       job->name, job->plan->nvertices, job->ntasks, job->nslots);
	char derr[512] = "";
	jm_job_set_state(jobs, job, JM_JOB_RUNNING);
	if (jm_job_deploy(jobs, job, derr, sizeof(derr)) != WR_OK) {
		char reason[700];
		snprintf(reason, sizeof(reason), "deployment failed: %s", derr);
		jm_job_fail(jobs, job, reason);
	}
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
	if (t == NULL || attempt != job->attempt) {
		wr_log(WR_LOG_WARN, "JOB-STALE-UPDATE",
		       "ignoring task %s of job %s attempt %u: unknown",
		       task_id, job_id, attempt);
		return;
	}
	if (jm_task_terminal(t->state))
		return;
	/* A task finishing while others run ends checkpointing for this
	 * attempt; that is fine for bounded jobs. */
	t->state = st;
	if (st == JM_TASK_FAILED) {
		char reason[1024];
		snprintf(reason, sizeof(reason),
		         "task %s (%s) on %s failed: %s", task_id,
		         job->plan->vertices[t->vertex].name, t->slot->tm_id,
		         failure ? failure : "no reason given");
		jm_job_fail(jobs, job, reason);
		return;
	}
	jm_job_settle(jobs, job);
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
			jm_job_fail(jobs, job, reason);
		}
	}
}

/* A recovered job waits for the TaskManagers its previous attempt ran on
 * (they register again within a heartbeat of a JobManager restart), at
 * most until its deadline: then it takes whatever slots are free. */
static bool
jm_job_recovery_ready(jm_jobs *jobs, const jm_job *job, int64_t now_ms)
{
	if (!job->recovered || now_ms >= job->recover_deadline_ms)
		return true;
	for (size_t i = 0; i < job->nrecover_tms; i++)
		if (!jm_tmreg_responsive(jobs->jm->tms, job->recover_tms[i], 0,
		                         0))
			return false;
	return true;
}

/* The previous JobManager's attempt of a recovered job must not keep
 * running (or committing) beside the next one: its tasks are cancelled
 * and waited for as a restart waits for its tasks (their CANCELED reports
 * carry that attempt; JM_CANCEL_TIMEOUT_MS at most). True while some
 * are still ending. */
static bool
jm_job_cancel_leftovers(jm_jobs *jobs, jm_job *job, int64_t now_ms)
{
	if (!job->recovered)
		return false;
	job->recovered = false;
	bool *ending = wr_xcalloc((size_t)job->ntasks, sizeof(bool));
	jm_rpc_cancel_leftovers(jobs->jm, job, ending);
	bool any = false;
	for (int k = 0; k < job->ntasks; k++)
		if (ending[k]) {
			job->tasks[k].state = JM_TASK_RUNNING;
			any = true;
		}
	free(ending);
	job->cancel_deadline_ms = now_ms + JM_CANCEL_TIMEOUT_MS;
	return any;
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
	if (now_ms < job->restart_at_ms ||
	    !jm_job_recovery_ready(jobs, job, now_ms) ||
	    jm_job_cancel_leftovers(jobs, job, now_ms))
		return;
	jm_job_release_slots(jobs, job);
	uint32_t free_slots = 0;
	if (jm_tmreg_allocate(jobs->jm->tms, job->nslots, job->slots,
	                      &free_slots) != WR_OK) {
		if (now_ms - job->cancel_deadline_ms > 5000) {
			wr_log(WR_LOG_WARN, "JOB-RESTART-WAIT",
			       "job=%s needs %d slots, %u free: waiting for "
			       "TaskManagers",
			       job->id, job->nslots, free_slots);
			job->cancel_deadline_ms = now_ms;
		}
		return;
	}
	job->slots_held = true;
	job->attempt++;
	for (int k = 0; k < job->ntasks; k++)
		job->tasks[k].state = JM_TASK_DEPLOYING;
	char url[WR_URL_BYTES];
	free(job->restore_url);
	job->restore_url = NULL;
	if (jm_ckpt_restore_point(job, url, sizeof(url)) == WR_OK)
		job->restore_url = wr_xstrdup(url);
	wr_log(WR_LOG_INFO, "JOB-REDEPLOY", "job=%s attempt %u from %s",
	       job->id, job->attempt,
	       job->restore_url ? job->restore_url : "nothing (no checkpoint)");
	jm_job_set_state(jobs, job, JM_JOB_RUNNING);
	char derr[512] = "";
	if (jm_job_deploy(jobs, job, derr, sizeof(derr)) != WR_OK) {
		char reason[700];
		snprintf(reason, sizeof(reason), "deployment failed: %s", derr);
		jm_job_fail(jobs, job, reason);
	}
}

void
jm_jobs_fail(jm_jobs *jobs, jm_job *job, const char *reason)
{
	jm_job_fail(jobs, job, reason);
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

void
jm_jobs_tick(jm_jobs *jobs, int64_t now_ms)
{
	for (size_t i = 0; i < jobs->n; i++) {
		jm_job *job = jobs->v[i];
		if (job->state == JM_JOB_RUNNING)
			jm_ckpt_tick(jobs, job, now_ms);
		if (job->state == JM_JOB_RESTARTING) {
			if (now_ms >= job->cancel_deadline_ms)
				for (int k = 0; k < job->ntasks; k++)
					if (!jm_task_terminal(
					        job->tasks[k].state))
						job->tasks[k].state =
						    JM_TASK_CANCELED;
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
	job->start_ms = e->start_ms;
	job->end_ms = wr_wall_ms();
	job->attempt = e->attempt;
	job->failure = wr_xstrdup(reason);
	job->state = JM_JOB_FAILED;
	wr_log(WR_LOG_ERROR, "JOB-RECOVER-FAILED", "job=%s: %s", job->id,
	       reason);
	jm_job_push(jobs, job);
}

/* The parts of a recovered job that come from its entry. */
static void
jm_job_recover_fields(jm_jobs *jobs, jm_job *job, const jm_jobstore_entry *e)
{
	memcpy(job->id, e->id, sizeof(job->id));
	job->nslots = wr_plan_slots_needed(job->plan);
	job->slots = wr_xcalloc((size_t)job->nslots, sizeof(jm_slot_ref));
	if (job->spec->checkpointing.interval_ms > 0)
		job->ck = jm_ckpt_new(jobs->jm, job);
	const char *labels[] = {"job", job->id, NULL};
	job->m_restarts = wr_metrics_get(
	    jobs->jm->metrics, WR_METRIC_COUNTER, "weir_job_restarts_total",
	    "Restarts of a job after failures", labels);
	job->name = wr_xstrdup(job->spec->name);
	job->file = wr_xstrdup(e->file);
	job->yaml = wr_xstrdup(e->yaml);
	job->parallelism_override = e->parallelism_override;
	job->allow_non_restored = e->allow_non_restored;
	if (e->from_savepoint != NULL)
		job->savepoint_url = wr_xstrdup(e->from_savepoint);
	job->start_ms = e->start_ms;
	job->attempt = e->attempt;
	job->restarts = e->restarts;
	if (e->failure != NULL)
		job->failure = wr_xstrdup(e->failure);
	if (job->ck != NULL)
		jm_ckpt_recover(job->ck, e->checkpoint_id, e->checkpoint_url,
		                e->checkpoint_is_savepoint,
		                e->next_checkpoint_id);
	job->recover_tms = wr_xcalloc(e->ntms + 1, sizeof(char *));
	for (size_t i = 0; i < e->ntms; i++)
		job->recover_tms[job->nrecover_tms++] = wr_xstrdup(e->tms[i]);
	jm_job_set_tasks(job);
	for (int k = 0; k < job->ntasks; k++)
		job->tasks[k].state = JM_TASK_CANCELED;
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
	int64_t now = wr_mono_ms();
	job->state = JM_JOB_RESTARTING;
	uint64_t ck_id = 0;
	const char *ck_url = NULL;
	bool sp;
	jm_ckpt_latest(job->ck, &ck_id, &ck_url, &sp);
	wr_log(WR_LOG_INFO, "JOB-RECOVERED",
	       "job=%s name=%s was %s (epoch %llu), attempt %u; restarts "
	       "from %s; checkpoint ids from %llu",
	       job->id, job->name, e->state, (unsigned long long)e->epoch,
	       job->attempt, ck_url ? ck_url : "nothing (no checkpoint)",
	       (unsigned long long)jm_ckpt_next_id(job->ck));
	if (strcmp(e->state, "CANCELLING") == 0 ||
	    strcmp(e->state, "FAILING") == 0) {
		/* it was ending: it ends, it does not run again */
		jm_job_set_state(jobs, job,
		                 e->state[0] == 'C' ? JM_JOB_CANCELED
		                                    : JM_JOB_FAILED);
		return;
	}
	job->recovered = true;
	job->restart_at_ms = job->cancel_deadline_ms = now;
	job->recover_deadline_ms = now + jobs->jm->cfg.jm_heartbeat_timeout_ms;
	jm_store_job(jobs->jm, job, NULL, 0);
}
