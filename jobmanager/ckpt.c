/*
 * ckpt.c - the checkpoint coordinator of a job (ckpt.h has the protocol).
 *
 * One checkpoint at a time: trigger -> every task acks -> _metadata
 * written (complete) -> tasks told. Triggers and notices go through
 * jm->out and return at once; a trigger's answer comes back as an event
 * (jm_ckpt_call_done): a TaskManager that refused it fails the
 * checkpoint, one that answered "not every task runs" skips it once every
 * trigger was answered. Savepoints use the same path with
 * their own directory; one requested while a checkpoint runs waits for
 * it. Completed checkpoints (and savepoints) are listed oldest first for
 * recovery; the `retained` newest checkpoints are kept, older ones
 * deleted from storage. Savepoints are never deleted.
 */
#include "ckpt.h"
#include "jm_int.h"

#include "buf.h"
#include "ckpt_meta.h"
#include "clock.h"
#include "err.h"
#include "id.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "objstore.h"
#include "tmclients.h"
#include "wr_limits.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct jm_ckpt_done {
	uint64_t id;
	/* the oldest checkpoint directory its state lies in (incremental
	 * state shares pieces: wr_ckpt_meta_oldest) */
	uint64_t oldest;
	bool savepoint;
	char url[WR_URL_BYTES];
} jm_ckpt_done;

struct jm_ckpt_coord {
	jm_server *jm;
	jm_job *job;
	uint64_t next_id;
	uint64_t id_mark; /* ids below are reserved in the job store */
	jm_ckpt_info hist[JM_CKPT_HISTORY]; /* newest first */
	size_t nhist;
	/* the checkpoint in progress: hist[0] when pending */
	bool pending;
	bool p_stop, p_drain;
	int64_t p_start_ms; /* monotonic */
	uint64_t p_id;      /* the checkpoint jm_ckpt_send notifies */
	int p_triggers;     /* triggers not answered yet */
	char p_skip[512];   /* a "not every task runs" answer, if any */
	bool *acked;        /* per task */
	wr_ckpt_meta *meta;
	/* a savepoint waiting for the checkpoint in progress */
	bool sp_queued, sp_stop, sp_drain;
	uint64_t sp_id;
	char sp_url[WR_URL_BYTES];
	int64_t last_end_ms;     /* monotonic: min_pause counts from here */
	int64_t last_trigger_ms; /* monotonic: interval counts from here */
	int consecutive_failed;
	jm_ckpt_done done[JM_CKPT_DONE_MAX]; /* oldest first */
	size_t ndone;
	/* checkpoints no longer retained whose directories still hold
	 * pieces a retained one uses: deleted once none does */
	uint64_t linger[JM_CKPT_LINGER_MAX];
	size_t nlinger;
	jm_ckpt_stats stats;
	wr_metric *m_duration, *m_size, *m_align, *m_sync, *m_async;
	wr_metric *m_completed, *m_failed;
};

static const char *const jm_ckpt_statuses[] = {"IN_PROGRESS", "COMPLETED",
                                               "FAILED"};

const char *
jm_ckpt_status_name(enum jm_ckpt_status s)
{
	return jm_ckpt_statuses[s];
}

jm_ckpt_coord *
jm_ckpt_new(jm_server *jm, jm_job *job)
{
	jm_ckpt_coord *c = wr_xcalloc(1, sizeof(*c));
	c->jm = jm;
	c->job = job;
	c->next_id = 1;
	c->last_end_ms = c->last_trigger_ms = wr_mono_ms();
	const char *name = job->spec->name;
	const char *labels[] = {"job_id", job->id, "job_name", name, NULL};
	const char *done[] = {"job_id", job->id,     "job_name", name,
	                      "status", "completed", NULL};
	const char *failed[] = {"job_id", job->id,  "job_name", name,
	                        "status", "failed", NULL};
	/* No value before the first completed checkpoint. */
	c->m_duration = wr_metrics_get_empty(
	    jm->metrics, WR_METRIC_GAUGE, "weir_checkpoint_duration_seconds",
	    "Trigger to completion of the last completed checkpoint", labels);
	c->m_size = wr_metrics_get_empty(
	    jm->metrics, WR_METRIC_GAUGE, "weir_checkpoint_size_bytes",
	    "State size of the last completed checkpoint", labels);
	c->m_align = wr_metrics_get_empty(
	    jm->metrics, WR_METRIC_GAUGE, "weir_checkpoint_alignment_seconds",
	    "Longest barrier alignment of a task in the last checkpoint",
	    labels);
	c->m_sync = wr_metrics_get_empty(
	    jm->metrics, WR_METRIC_GAUGE,
	    "weir_checkpoint_sync_duration_seconds",
	    "Longest part of a task's snapshot that held the task (flushing "
	    "its state cache, fixing the state's view) in the last checkpoint",
	    labels);
	c->m_async = wr_metrics_get_empty(
	    jm->metrics, WR_METRIC_GAUGE,
	    "weir_checkpoint_async_duration_seconds",
	    "Longest state copy and upload of a task, beside the task, in the "
	    "last checkpoint",
	    labels);
	c->m_completed = wr_metrics_get(jm->metrics, WR_METRIC_COUNTER,
	                                "weir_checkpoints_total",
	                                "Checkpoints by outcome", done);
	c->m_failed = wr_metrics_get(jm->metrics, WR_METRIC_COUNTER,
	                             "weir_checkpoints_total",
	                             "Checkpoints by outcome", failed);
	return c;
}

void
jm_ckpt_metrics_release(jm_ckpt_coord *c, int64_t grace_ms)
{
	if (c == NULL)
		return;
	struct wr_metric **ms[] = {&c->m_duration, &c->m_size,  &c->m_align,
	                           &c->m_sync,     &c->m_async, &c->m_completed,
	                           &c->m_failed};
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		wr_metrics_release(c->jm->metrics, *ms[i], grace_ms);
		*ms[i] = NULL; /* a late outcome counts nowhere */
	}
}

void
jm_ckpt_free(jm_ckpt_coord *c)
{
	if (c == NULL)
		return;
	free(c->acked);
	wr_ckpt_meta_free(c->meta);
	free(c);
}

/* A new history entry (newest first). */
static jm_ckpt_info *
jm_ckpt_hist_push(jm_ckpt_coord *c)
{
	if (c->nhist == JM_CKPT_HISTORY)
		c->nhist--;
	memmove(&c->hist[1], &c->hist[0], c->nhist * sizeof(c->hist[0]));
	c->nhist++;
	memset(&c->hist[0], 0, sizeof(c->hist[0]));
	return &c->hist[0];
}

static void
jm_ckpt_end_pending(jm_ckpt_coord *c)
{
	c->pending = false;
	c->p_triggers = 0;
	c->p_skip[0] = '\0';
	free(c->acked);
	c->acked = NULL;
	wr_ckpt_meta_free(c->meta);
	c->meta = NULL;
	c->last_end_ms = wr_mono_ms();
}

/* Ends the checkpoint in progress as FAILED in the history and counts. */
static void
jm_ckpt_end_failed(jm_ckpt_coord *c, const char *reason)
{
	jm_ckpt_info *ck = &c->hist[0];
	ck->status = JM_CKPT_FAILED;
	ck->duration_ms = wr_mono_ms() - c->p_start_ms;
	snprintf(ck->failure, sizeof(ck->failure), "%s", reason);
	c->stats.failed++;
	c->stats.in_progress = 0;
	wr_metric_inc(c->m_failed);
	if (ck->stop)
		c->job->stopping = false; /* the job keeps running */
	jm_ckpt_end_pending(c);
}

/* A trigger the TaskManager never got (it is not there, or did not answer
 * in time) says nothing about the checkpoint: whether the TaskManager is
 * lost is the heartbeat's call, which fails the job with the right cause.
 * As Flink's TRIGGER_CHECKPOINT_FAILURE it does not count against
 * tolerable_failed. */
static bool
jm_ckpt_transport_err(int rv)
{
	return rv == WR_EUNREACHABLE || rv == WR_ECONNREFUSED ||
	       rv == WR_ETIMEDOUT || rv == WR_ECLOSED;
}

static void
jm_ckpt_fail(jm_jobs *jobs, jm_ckpt_coord *c, const char *reason, bool count)
{
	if (!c->pending)
		return;
	jm_ckpt_info *ck = &c->hist[0];
	wr_log(WR_LOG_WARN, "CKPT-FAILED", "job=%s %s %llu: %s", c->job->id,
	       ck->is_savepoint ? "savepoint" : "checkpoint",
	       (unsigned long long)ck->id, reason);
	bool savepoint = ck->is_savepoint;
	jm_ckpt_end_failed(c, reason);
	if (!count || savepoint || jobs == NULL)
		return;
	c->consecutive_failed++;
	int tol = c->job->spec->checkpointing.tolerable_failed;
	if (c->consecutive_failed > tol) {
		char why[512];
		snprintf(why, sizeof(why),
		         "%d consecutive checkpoints failed (tolerable_failed "
		         "is %d); the last: %s",
		         c->consecutive_failed, tol, reason);
		c->consecutive_failed = 0;
		jm_jobs_fail(jobs, c->job, why);
	}
}

/* A TaskManager answered the trigger that not every task runs (a bounded
 * source ended, its FINISHED report still on the way): the checkpoint
 * cannot complete, but nothing failed. As Flink's pre-flight decline
 * (NOT_ALL_REQUIRED_TASKS_RUNNING) it is listed as FAILED and does not
 * count against tolerable_failed; the next interval tries again. */
static void
jm_ckpt_skip(jm_ckpt_coord *c, const char *reason)
{
	if (!c->pending)
		return;
	jm_ckpt_info *ck = &c->hist[0];
	char why[600];
	snprintf(why, sizeof(why), "skipped: %s", reason);
	wr_log(WR_LOG_INFO, "CKPT-SKIPPED",
	       "job=%s %s %llu: %s (not counted against tolerable_failed)",
	       c->job->id, ck->is_savepoint ? "savepoint" : "checkpoint",
	       (unsigned long long)ck->id, reason);
	jm_ckpt_end_failed(c, why);
}

void
jm_ckpt_abort(jm_job *job, const char *reason)
{
	if (job->ck != NULL)
		jm_ckpt_fail(NULL, job->ck, reason, false);
	if (job->ck != NULL && job->ck->sp_queued) {
		job->ck->sp_queued = false;
		jm_ckpt_info *ck = jm_ckpt_hist_push(job->ck);
		ck->id = job->ck->sp_id;
		ck->status = JM_CKPT_FAILED;
		ck->is_savepoint = true;
		ck->trigger_wall_ms = wr_wall_ms();
		snprintf(ck->url, sizeof(ck->url), "%s", job->ck->sp_url);
		snprintf(ck->failure, sizeof(ck->failure), "%s", reason);
		job->ck->stats.failed++;
	}
}

/* The directory URL of checkpoint id under the storage root. */
static int
jm_ckpt_url(const jm_ckpt_coord *c, uint64_t id, char *url, size_t len)
{
	char rel[128];
	snprintf(rel, sizeof(rel), "%s/chk-%llu", c->job->id,
	         (unsigned long long)id);
	return wr_objstore_url_join(c->jm->cfg.ckpt_storage, rel, url, len);
}

static bool
jm_ckpt_all_running(const jm_job *job)
{
	for (int i = 0; i < job->ntasks; i++)
		if (job->tasks[i].state != JM_TASK_RUNNING)
			return false;
	return true;
}

/* Sends TriggerCheckpoint (ck != NULL) to every TaskManager running a
 * source task of the job, or CheckpointComplete of id to every one
 * running a task of it, once per TaskManager. A TaskManager that missed
 * its heartbeats is not called: for a trigger that fails the checkpoint
 * (the first such error, in errbuf, is returned); the answers come to
 * jm_ckpt_call_done. */
static int
jm_ckpt_send(jm_ckpt_coord *c, const jm_ckpt_info *ck, bool stop, bool drain,
             char *errbuf, size_t errlen)
{
	jm_job *job = c->job;
	const char *seen[WR_MAX_TASKMANAGERS];
	size_t nseen = 0;
	int first = WR_OK;
	for (int i = 0; i < job->ntasks; i++) {
		const jm_task *t = &job->tasks[i];
		const wr_vertex *v = &job->plan->vertices[t->vertex];
		if (ck != NULL &&
		    job->spec->nodes[v->nodes[0]].kind != WR_NODE_SOURCE)
			continue;
		bool dup = false;
		for (size_t k = 0; k < nseen && !dup; k++)
			dup = strcmp(seen[k], t->slot->rpc_address) == 0;
		if (dup || nseen == WR_MAX_TASKMANAGERS)
			continue;
		seen[nseen++] = t->slot->rpc_address;
		int rv = WR_EUNREACHABLE;
		if (jm_tm_responsive(c->jm, t->slot->tm_id))
			rv = ck != NULL
			         ? c->jm->out->trigger(c->jm, job, t->slot, ck,
			                               stop, drain)
			         : c->jm->out->notify(c->jm, job, t->slot,
			                              c->p_id);
		if (rv == WR_OK) {
			c->p_triggers += ck != NULL;
			continue;
		}
		if (first == WR_OK) {
			first = rv;
			snprintf(errbuf, errlen, "TaskManager %s: %s",
			         t->slot->tm_id, wr_strerror(rv));
		}
	}
	return first;
}

/* Tells every TaskManager of the job that checkpoint id is complete (its
 * sinks commit); a TaskManager not told is logged. */
static void
jm_ckpt_notify(jm_ckpt_coord *c, uint64_t id)
{
	char err[512] = "";
	c->p_id = id;
	if (jm_ckpt_send(c, NULL, false, false, err, sizeof(err)) != WR_OK)
		wr_log(WR_LOG_WARN, "CKPT-NOTIFY", "job=%s checkpoint %llu: %s",
		       c->job->id, (unsigned long long)id, err);
}

static void
jm_ckpt_start(jm_jobs *jobs, jm_ckpt_coord *c, uint64_t id, const char *url,
              bool savepoint, bool stop, bool drain)
{
	jm_job *job = c->job;
	jm_ckpt_info *ck = jm_ckpt_hist_push(c);
	ck->id = id;
	ck->status = JM_CKPT_IN_PROGRESS;
	ck->is_savepoint = savepoint;
	ck->stop = stop;
	ck->trigger_wall_ms = wr_wall_ms();
	ck->tasks = job->ntasks;
	snprintf(ck->url, sizeof(ck->url), "%s", url);
	c->pending = true;
	c->p_stop = stop;
	c->p_drain = drain;
	c->p_start_ms = wr_mono_ms();
	c->last_trigger_ms = c->p_start_ms;
	c->acked = wr_xcalloc((size_t)job->ntasks, sizeof(bool));
	c->meta = wr_ckpt_meta_new(job->id, job->name, id, ck->trigger_wall_ms,
	                           savepoint, job->spec->max_parallelism);
	c->stats.in_progress = 1;
	char err[512] = "";
	int rv = jm_ckpt_send(c, ck, stop, drain, err, sizeof(err));
	if (rv != WR_OK) {
		char why[600];
		snprintf(why, sizeof(why), "trigger failed: %s", err);
		jm_ckpt_fail(jobs, c, why, !jm_ckpt_transport_err(rv));
		return;
	}
	wr_log(WR_LOG_DEBUG, "CKPT-TRIGGERED", "job=%s %s %llu -> %s", job->id,
	       savepoint ? "savepoint" : "checkpoint", (unsigned long long)id,
	       url);
}

/* Checkpoint ids are reserved in the job store in blocks of this many
 * before they are used: a restarted JobManager continues above every id
 * its predecessor may have triggered, at the cost of one store write per
 * block. */
#define JM_CKPT_ID_BLOCK 64

/* Reserves the next id (and the block after it) unless it already is.
 * False when the job store cannot be written. */
static bool
jm_ckpt_reserve(jm_ckpt_coord *c)
{
	if (c->next_id < c->id_mark)
		return true;
	uint64_t old = c->id_mark;
	c->id_mark = c->next_id + JM_CKPT_ID_BLOCK;
	if (jm_store_job(c->jm, c->job, NULL, 0) == WR_OK)
		return true;
	c->id_mark = old;
	return false;
}

void
jm_ckpt_tick(jm_jobs *jobs, jm_job *job, int64_t now_ms)
{
	jm_ckpt_coord *c = job->ck;
	if (c == NULL || job->state != JM_JOB_RUNNING)
		return;
	const wr_checkpoint_spec *cs = &job->spec->checkpointing;
	if (c->pending) {
		if (now_ms - c->p_start_ms > cs->timeout_ms) {
			char why[128];
			snprintf(why, sizeof(why),
			         "expired: not complete within %lld ms "
			         "(checkpointing.timeout)",
			         (long long)cs->timeout_ms);
			jm_ckpt_fail(jobs, c, why, true);
		}
		return;
	}
	if (!jm_ckpt_all_running(job))
		return;
	if (c->sp_queued) {
		c->sp_queued = false;
		jm_ckpt_start(jobs, c, c->sp_id, c->sp_url, true, c->sp_stop,
		              c->sp_drain);
		return;
	}
	if (cs->interval_ms <= 0 ||
	    now_ms - c->last_end_ms < cs->min_pause_ms ||
	    now_ms - c->last_trigger_ms < cs->interval_ms)
		return;
	char url[WR_URL_BYTES];
	if (!jm_ckpt_reserve(c))
		return; /* logged; the next interval tries again */
	uint64_t id = c->next_id++;
	if (jm_ckpt_url(c, id, url, sizeof(url)) != WR_OK)
		return;
	jm_ckpt_start(jobs, c, id, url, false, false, false);
}

static void
jm_ckpt_delete_dir(jm_ckpt_coord *c, uint64_t id)
{
	char rel[128], err[256] = "";
	snprintf(rel, sizeof(rel), "%s/chk-%llu/", c->job->id,
	         (unsigned long long)id);
	if (c->jm->store != NULL &&
	    wr_objstore_delete_prefix(c->jm->store, rel, err, sizeof(err)) !=
	        WR_OK)
		wr_log(WR_LOG_WARN, "CKPT-DELETE", "job=%s %s: %s", c->job->id,
		       rel, err);
}

/* A checkpoint no longer retained whose directory a retained one still
 * needs waits in linger (forgotten, its directory left, when full). */
static void
jm_ckpt_linger(jm_ckpt_coord *c, uint64_t id)
{
	if (c->nlinger == JM_CKPT_LINGER_MAX) {
		wr_log(WR_LOG_WARN, "CKPT-DELETE",
		       "job=%s chk-%llu: left in the storage (%d checkpoints "
		       "already wait for their shared state to be released)",
		       c->job->id, (unsigned long long)id, JM_CKPT_LINGER_MAX);
		return;
	}
	c->linger[c->nlinger++] = id;
}

/* Deletes completed checkpoints beyond `retained` (never savepoints, never
 * the newest). Incremental state (docs/checkpoints.md): a retained
 * checkpoint may use pieces in the directories of older ones, back to its
 * `oldest`; a directory goes only once it is below every retained
 * checkpoint's oldest. */
static void
jm_ckpt_retain(jm_ckpt_coord *c)
{
	int keep = c->job->spec->checkpointing.retained;
	if (keep < 1)
		keep = 1;
	int nchk = 0;
	uint64_t floor = UINT64_MAX;
	for (size_t i = c->ndone; i-- > 0;) {
		if (c->done[i].savepoint || nchk == keep)
			continue;
		nchk++;
		if (c->done[i].oldest < floor)
			floor = c->done[i].oldest;
	}
	nchk = 0;
	for (size_t i = 0; i < c->ndone; i++)
		nchk += !c->done[i].savepoint;
	for (size_t i = 0; i < c->ndone && nchk > keep;) {
		if (c->done[i].savepoint) {
			i++;
			continue;
		}
		if (c->done[i].id < floor)
			jm_ckpt_delete_dir(c, c->done[i].id);
		else
			jm_ckpt_linger(c, c->done[i].id);
		memmove(&c->done[i], &c->done[i + 1],
		        (c->ndone - i - 1) * sizeof(c->done[0]));
		c->ndone--;
		nchk--;
	}
	for (size_t i = 0; i < c->nlinger;) {
		if (c->linger[i] >= floor) {
			i++;
			continue;
		}
		jm_ckpt_delete_dir(c, c->linger[i]);
		c->linger[i] = c->linger[--c->nlinger];
	}
}

/* Remembers the checkpoint for recovery and records it in the job store
 * before any sink commits: a JobManager that crashes after the notice
 * recovers from this one. False (nothing remembered) when the store
 * cannot be written. */
static bool
jm_ckpt_record_done(jm_ckpt_coord *c, const jm_ckpt_info *ck, char *err,
                    size_t errlen)
{
	if (c->ndone == JM_CKPT_DONE_MAX) {
		memmove(&c->done[0], &c->done[1],
		        (c->ndone - 1) * sizeof(c->done[0]));
		c->ndone--;
	}
	jm_ckpt_done *d = &c->done[c->ndone++];
	d->id = ck->id;
	d->oldest = wr_ckpt_meta_oldest(c->meta);
	d->savepoint = ck->is_savepoint;
	snprintf(d->url, sizeof(d->url), "%s", ck->url);
	if (jm_store_job(c->jm, c->job, err, errlen) == WR_OK)
		return true;
	c->ndone--;
	return false;
}

static void
jm_ckpt_complete(jm_jobs *jobs, jm_ckpt_coord *c)
{
	jm_ckpt_info *ck = &c->hist[0];
	wr_objstore *os = NULL;
	char err[512] = "", why[700];
	wr_buf b;
	wr_buf_init(&b);
	wr_ckpt_meta_encode(c->meta, &b);
	int rv = wr_objstore_open(ck->url, &os, err, sizeof(err));
	if (rv == WR_OK)
		rv = wr_objstore_put(os, WR_CKPT_META_NAME, b.data, b.len, err,
		                     sizeof(err));
	wr_objstore_close(os);
	wr_buf_fini(&b);
	if (rv != WR_OK) {
		snprintf(why, sizeof(why), "cannot write _metadata: %s", err);
		jm_ckpt_fail(jobs, c, why, true);
		return;
	}
	if (!jm_ckpt_record_done(c, ck, err, sizeof(err))) {
		snprintf(why, sizeof(why), "cannot record in the job store: %s",
		         err);
		/* The store failed, not the job: restarting its tasks cannot
		 * help, and while etcd is away they must keep running until
		 * this leader steps down (a new one adopts them). */
		jm_ckpt_fail(jobs, c, why, false);
		return;
	}
	/* Durable: the checkpoint is complete. */
	ck->status = JM_CKPT_COMPLETED;
	ck->duration_ms = wr_mono_ms() - c->p_start_ms;
	c->stats.completed++;
	c->stats.in_progress = 0;
	c->consecutive_failed = 0;
	wr_metric_inc(c->m_completed);
	wr_metric_set(c->m_duration, (double)ck->duration_ms / 1000.0);
	wr_metric_set(c->m_size, (double)ck->size_bytes);
	wr_metric_set(c->m_align, (double)ck->alignment_ms / 1000.0);
	wr_metric_set(c->m_sync, (double)ck->sync_ms / 1000.0);
	wr_metric_set(c->m_async, (double)ck->async_ms / 1000.0);
	bool stop = c->p_stop;
	uint64_t id = ck->id;
	wr_log(WR_LOG_INFO, "CKPT-COMPLETED",
	       "job=%s %s %llu: %llu bytes, %lld ms, alignment %llu ms, sync "
	       "%llu ms, async %llu ms -> %s",
	       c->job->id, ck->is_savepoint ? "savepoint" : "checkpoint",
	       (unsigned long long)id, (unsigned long long)ck->size_bytes,
	       (long long)ck->duration_ms, (unsigned long long)ck->alignment_ms,
	       (unsigned long long)ck->sync_ms,
	       (unsigned long long)ck->async_ms, ck->url);
	jm_ckpt_end_pending(c);
	jm_ckpt_notify(c, id);
	jm_ckpt_retain(c);
	if (stop)
		jm_jobs_stop_done(jobs, c->job);
}

static jm_job *
jm_ckpt_job_of(jm_jobs *jobs, const char *job_id, uint64_t id,
               const char *task_id, int *task)
{
	jm_job *job = jm_jobs_find(jobs, job_id);
	if (job == NULL || job->ck == NULL || !job->ck->pending ||
	    job->ck->hist[0].id != id)
		return NULL;
	int v, s;
	char tail;
	if (sscanf(task_id, "%d/%d%c", &v, &s, &tail) != 2)
		return NULL;
	for (int i = 0; i < job->ntasks; i++)
		if (job->tasks[i].vertex == v && job->tasks[i].subtask == s) {
			*task = i;
			return job;
		}
	return NULL;
}

void
jm_ckpt_ack(jm_jobs *jobs, const char *job_id, const char *task_id, uint64_t id,
            const wr_ckpt_meta *part, const jm_ckpt_times *times,
            uint64_t size_bytes)
{
	int ti;
	jm_job *job = jm_ckpt_job_of(jobs, job_id, id, task_id, &ti);
	if (job == NULL) {
		wr_log(WR_LOG_DEBUG, "CKPT-STALE-ACK",
		       "job=%s task %s checkpoint %llu: not in progress",
		       job_id, task_id, (unsigned long long)id);
		return;
	}
	jm_ckpt_coord *c = job->ck;
	if (c->acked[ti])
		return;
	c->acked[ti] = true;
	jm_ckpt_info *ck = &c->hist[0];
	ck->acks++;
	ck->size_bytes += size_bytes;
	if (times->align_ms > ck->alignment_ms)
		ck->alignment_ms = times->align_ms;
	if (times->sync_ms > ck->sync_ms)
		ck->sync_ms = times->sync_ms;
	if (times->async_ms > ck->async_ms)
		ck->async_ms = times->async_ms;
	const wr_vertex *v = &job->plan->vertices[job->tasks[ti].vertex];
	for (int i = 0; i < v->nnodes; i++)
		wr_ckpt_meta_add_op(c->meta, job->spec->nodes[v->nodes[i]].id,
		                    v->parallelism);
	for (size_t i = 0; i < part->nhandles; i++)
		wr_ckpt_meta_add_handle(c->meta, &part->handles[i]);
	for (size_t i = 0; i < part->noffsets; i++)
		wr_ckpt_meta_add_offset(c->meta, &part->offsets[i]);
	if (ck->acks == ck->tasks)
		jm_ckpt_complete(jobs, c);
}

void
jm_ckpt_decline(jm_jobs *jobs, const char *job_id, const char *task_id,
                uint64_t id, const char *reason)
{
	int ti;
	jm_job *job = jm_ckpt_job_of(jobs, job_id, id, task_id, &ti);
	if (job == NULL)
		return;
	char why[600];
	snprintf(why, sizeof(why), "declined by task %s: %s", task_id, reason);
	jm_ckpt_fail(jobs, job->ck, why, true);
}

/* Reads url/_metadata. */
static int
jm_ckpt_read_meta(const char *url, wr_ckpt_meta **out, char *err, size_t errlen)
{
	wr_objstore *os = NULL;
	wr_buf b;
	wr_buf_init(&b);
	int rv = wr_objstore_open(url, &os, err, errlen);
	if (rv == WR_OK)
		rv = wr_objstore_get(os, WR_CKPT_META_NAME,
		                     WR_CKPT_META_MAX_BYTES, &b, err, errlen);
	if (rv == WR_ENOENT)
		snprintf(err, errlen, "no %s", WR_CKPT_META_NAME);
	if (rv == WR_OK)
		rv = wr_ckpt_meta_decode(b.data, b.len, out, err, errlen);
	wr_objstore_close(os);
	wr_buf_fini(&b);
	return rv;
}

int
jm_ckpt_restore_point(jm_job *job, char *url, size_t len)
{
	jm_ckpt_coord *c = job->ck;
	while (c != NULL && c->ndone > 0) {
		jm_ckpt_done *d = &c->done[c->ndone - 1];
		wr_ckpt_meta *m = NULL;
		char err[512] = "";
		int rv = jm_ckpt_read_meta(d->url, &m, err, sizeof(err));
		wr_ckpt_meta_free(m);
		if (rv == WR_OK) {
			snprintf(url, len, "%s", d->url);
			c->stats.restored_id = d->id;
			snprintf(c->stats.restored_url,
			         sizeof(c->stats.restored_url), "%s", d->url);
			return WR_OK;
		}
		wr_log(WR_LOG_ERROR, "CKPT-CORRUPT",
		       "job=%s checkpoint %llu at %s cannot be restored (%s); "
		       "trying the one before",
		       job->id, (unsigned long long)d->id, d->url, err);
		c->ndone--;
	}
	if (job->savepoint_url != NULL) {
		snprintf(url, len, "%s", job->savepoint_url);
		return WR_OK;
	}
	return WR_ENOENT;
}

/* A user's path or URL as a storage URL: plain paths become file://
 * URLs of their absolute form. */
static int
jm_ckpt_norm_url(const char *path, char *url, size_t len)
{
	if (strncmp(path, "file://", 7) == 0 ||
	    strncmp(path, "s3://", 5) == 0) {
		snprintf(url, len, "%s", path);
	} else if (path[0] == '/') {
		snprintf(url, len, "file://%s", path);
	} else {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return WR_EINVAL;
		snprintf(url, len, "file://%s/%s", cwd, path);
	}
	size_t n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
	return WR_OK;
}

int
jm_ckpt_check_savepoint(jm_server *jm, const char *path, const wr_jobspec *spec,
                        bool allow_non_restored, char *url, size_t urllen,
                        char *errbuf, size_t errlen)
{
	(void)jm;
	wr_ckpt_meta *m = NULL;
	char err[512] = "";
	if (jm_ckpt_norm_url(path, url, urllen) != WR_OK) {
		snprintf(errbuf, errlen, "bad savepoint path %s", path);
		return WR_EINVAL;
	}
	int rv = jm_ckpt_read_meta(url, &m, err, sizeof(err));
	if (rv != WR_OK) {
		snprintf(errbuf, errlen, "cannot restore from %s: %s", url,
		         err);
		return rv == WR_ENOENT ? WR_ENOENT : WR_EINVAL;
	}
	if (m->max_parallelism != spec->max_parallelism) {
		snprintf(errbuf, errlen,
		         "savepoint %s has max_parallelism %d, the job %d: key "
		         "groups cannot change over the life of the state",
		         url, m->max_parallelism, spec->max_parallelism);
		wr_ckpt_meta_free(m);
		return WR_EINVAL;
	}
	rv = WR_OK;
	for (size_t i = 0; i < m->nhandles + m->noffsets && rv == WR_OK; i++) {
		const char *uid = i < m->nhandles
		                      ? m->handles[i].uid
		                      : m->offsets[i - m->nhandles].uid;
		if (wr_jobspec_find(spec, uid) >= 0 || allow_non_restored)
			continue;
		snprintf(errbuf, errlen,
		         "savepoint %s holds state of operator '%s', which "
		         "maps to no node of the job (keep its id, or pass "
		         "--allow-non-restored-state to drop that state)",
		         url, uid);
		rv = WR_EINVAL;
	}
	wr_ckpt_meta_free(m);
	return rv;
}

int
jm_jobs_savepoint(jm_jobs *jobs, const char *job_id, const char *target_dir,
                  bool stop, bool drain, uint64_t *id, char *url, size_t urllen,
                  char *errbuf, size_t errlen)
{
	jm_job *job = jm_jobs_find(jobs, job_id);
	if (job == NULL) {
		snprintf(errbuf, errlen, "no job %s", job_id);
		return WR_ENOENT;
	}
	jm_ckpt_coord *c = job->ck;
	if (c == NULL) {
		snprintf(errbuf, errlen,
		         "job %s does not take checkpoints: savepoints need "
		         "checkpointing (set checkpointing.interval)",
		         job_id);
		return WR_ESTATE;
	}
	if (job->state != JM_JOB_RUNNING) {
		snprintf(errbuf, errlen, "job %s is %s, not RUNNING", job_id,
		         jm_job_state_name(job->state));
		return WR_ESTATE;
	}
	if (c->sp_queued || (c->pending && c->hist[0].is_savepoint) ||
	    job->stopping) {
		snprintf(errbuf, errlen,
		         "job %s: a savepoint is already in progress", job_id);
		return WR_ESTATE;
	}
	char base[WR_URL_BYTES], rnd[13], rel[64];
	if (target_dir != NULL && target_dir[0] != '\0') {
		if (jm_ckpt_norm_url(target_dir, base, sizeof(base)) != WR_OK) {
			snprintf(errbuf, errlen, "bad directory %s",
			         target_dir);
			return WR_EINVAL;
		}
		int rv = jm_policy_check_url(&jm_jobs_server(jobs)->policy,
		                             "savepoint directory", base,
		                             errbuf, errlen);
		if (rv != WR_OK)
			return rv;
	} else if (wr_objstore_url_join(jm_jobs_server(jobs)->cfg.ckpt_storage,
	                                "savepoints", base,
	                                sizeof(base)) != WR_OK) {
		snprintf(errbuf, errlen, "storage URL too long");
		return WR_EINVAL;
	}
	wr_id_hex(rnd, sizeof(rnd), 6);
	snprintf(rel, sizeof(rel), "savepoint-%.6s-%s", job->id, rnd);
	if (wr_objstore_url_join(base, rel, url, urllen) != WR_OK) {
		snprintf(errbuf, errlen, "directory URL too long");
		return WR_EINVAL;
	}
	if (!jm_ckpt_reserve(c)) {
		snprintf(errbuf, errlen,
		         "cannot reserve a checkpoint id in the job store "
		         "(see the JobManager's log)");
		return WR_ESTATE;
	}
	*id = c->next_id++;
	if (stop)
		job->stopping = true;
	if (c->pending || !jm_ckpt_all_running(job)) {
		c->sp_queued = true;
		c->sp_id = *id;
		c->sp_stop = stop;
		c->sp_drain = drain;
		snprintf(c->sp_url, sizeof(c->sp_url), "%s", url);
		return WR_OK;
	}
	jm_ckpt_start(jobs, c, *id, url, true, stop, drain);
	if (!c->pending && c->hist[0].status == JM_CKPT_FAILED) {
		job->stopping = false;
		snprintf(errbuf, errlen, "savepoint failed: %s",
		         c->hist[0].failure);
		return WR_ESTATE;
	}
	return WR_OK;
}

int
jm_jobs_checkpoints(jm_jobs *jobs, const char *job_id, const jm_ckpt_info **v,
                    size_t *n, jm_ckpt_stats *st, char *errbuf, size_t errlen)
{
	jm_job *job = jm_jobs_find(jobs, job_id);
	if (job == NULL) {
		snprintf(errbuf, errlen, "no job %s", job_id);
		return WR_ENOENT;
	}
	memset(st, 0, sizeof(*st));
	*v = NULL;
	*n = 0;
	if (job->ck != NULL) {
		*st = job->ck->stats;
		*v = job->ck->hist;
		*n = job->ck->nhist;
	}
	st->restarts = job->restarts;
	return WR_OK;
}

void
jm_ckpt_restored(jm_ckpt_coord *c, const char *url)
{
	wr_ckpt_meta *m = NULL;
	char err[256];
	if (jm_ckpt_read_meta(url, &m, err, sizeof(err)) == WR_OK)
		c->stats.restored_id = m->id;
	snprintf(c->stats.restored_url, sizeof(c->stats.restored_url), "%s",
	         url);
	wr_ckpt_meta_free(m);
}

/* A trigger's answer: a refusal fails the checkpoint in progress (if it is
 * still the one triggered); "not every task runs" skips it once every
 * trigger was answered. A notice that got no answer is logged. */
void
jm_ckpt_call_done(jm_jobs *jobs, const jm_call_done *d)
{
	jm_job *job = jm_jobs_find(jobs, d->ref.job_id);
	char why[800];
	snprintf(why, sizeof(why), "TaskManager %s: %s%s%s", d->ref.tm_id,
	         wr_strerror(d->rv), d->err[0] ? ": " : "", d->err);
	if (d->ref.kind == JM_CALL_NOTIFY) {
		if (d->rv != WR_OK)
			wr_log(WR_LOG_WARN, "CKPT-NOTIFY",
			       "job=%.32s checkpoint %llu: %s", d->ref.job_id,
			       (unsigned long long)d->ref.ckpt_id, why);
		return;
	}
	jm_ckpt_coord *c = job != NULL ? job->ck : NULL;
	if (c == NULL || !c->pending || c->hist[0].id != d->ref.ckpt_id)
		return; /* it ended meanwhile */
	c->p_triggers--;
	if (d->rv == WR_EAGAIN && c->p_skip[0] == '\0')
		snprintf(c->p_skip, sizeof(c->p_skip), "%s", why);
	if (d->rv != WR_OK && d->rv != WR_EAGAIN) {
		char reason[900];
		snprintf(reason, sizeof(reason), "trigger failed: %s", why);
		jm_ckpt_fail(jobs, c, reason, !jm_ckpt_transport_err(d->rv));
		return;
	}
	if (c->p_triggers == 0 && c->p_skip[0] != '\0') {
		char skip[sizeof(c->p_skip)];
		memcpy(skip, c->p_skip, sizeof(skip));
		jm_ckpt_skip(c, skip); /* a task ended or starts */
	}
}

bool
jm_ckpt_queued_savepoint(const jm_ckpt_coord *c, uint64_t *id)
{
	if (c == NULL || !c->sp_queued)
		return false;
	*id = c->sp_id;
	return true;
}

bool
jm_ckpt_latest(const jm_ckpt_coord *c, uint64_t *id, const char **url,
               bool *savepoint)
{
	if (c == NULL || c->ndone == 0)
		return false;
	const jm_ckpt_done *d = &c->done[c->ndone - 1];
	*id = d->id;
	*url = d->url;
	*savepoint = d->savepoint;
	return true;
}

uint64_t
jm_ckpt_next_id(const jm_ckpt_coord *c)
{
	if (c == NULL)
		return 0;
	return c->id_mark > c->next_id ? c->id_mark : c->next_id;
}

void
jm_ckpt_recover(jm_ckpt_coord *c, uint64_t id, const char *url, bool savepoint,
                uint64_t next_id)
{
	if (url != NULL && url[0] != '\0') {
		jm_ckpt_done *d = &c->done[0];
		d->id = id;
		/* its pieces in older directories are not known here: they
		 * stay (the next checkpoints' metadata name what they use) */
		d->oldest = id;
		d->savepoint = savepoint;
		snprintf(d->url, sizeof(d->url), "%s", url);
		c->ndone = 1;
	}
	if (next_id <= id)
		next_id = id + 1;
	if (next_id > c->next_id)
		c->next_id = next_id;
	c->id_mark = c->next_id; /* the first trigger reserves a block */
}
