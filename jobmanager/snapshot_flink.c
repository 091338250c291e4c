/*
 * snapshot_flink.c - the parts of the published job bodies (snapshot.h)
 * that follow Flink's REST API: the keys Flink's GET /jobs/{id} has
 * (jid, start-time, timestamps, per-vertex status, tasks and metrics,
 * status-counts, plan), each subtask's TaskManager and what its last
 * heartbeat reported, the exception history and the checkpoint config.
 * Rendered by the loop; rest_flink.c serves and slices them.
 */
#include "snapshot.h"

#include "jm_int.h"

#include "json.h"

#include <stdio.h>
#include <string.h>

/* Flink's job states, in its order; weir's are a subset with the same
 * names. */
static const char *const jm_flink_job_states[] = {
    "INITIALIZING", "CREATED",    "RUNNING",     "FAILING",
    "FAILED",       "CANCELLING", "CANCELED",    "FINISHED",
    "RESTARTING",   "SUSPENDED",  "RECONCILING",
};
/* Flink's execution states (a subtask's and a vertex's status). */
static const char *const jm_flink_exec_states[] = {
    "CREATED",   "SCHEDULED", "DEPLOYING", "RUNNING",     "FINISHED",
    "CANCELING", "CANCELED",  "FAILED",    "RECONCILING", "INITIALIZING",
};
#define JM_FLINK_NJOB  (sizeof(jm_flink_job_states) / sizeof(char *))
#define JM_FLINK_NEXEC (sizeof(jm_flink_exec_states) / sizeof(char *))

static int64_t
jm_flink_duration(int64_t start, int64_t end, int64_t now)
{
	if (start <= 0)
		return -1;
	return (end > 0 ? end : now) - start;
}

/* A vertex's status from its subtasks' (Flink aggregates the same way:
 * any failed one fails the vertex, any running one makes it RUNNING). */
static const char *
jm_flink_vertex_status(const jm_job *job, int first, int n)
{
	int count[JM_TASK_FAILED + 1] = {0};
	for (int s = 0; s < n; s++)
		count[job->tasks[first + s].state]++;
	if (count[JM_TASK_FAILED] > 0)
		return "FAILED";
	if (count[JM_TASK_RUNNING] > 0)
		return "RUNNING";
	if (count[JM_TASK_DEPLOYING] > 0)
		return "DEPLOYING";
	if (count[JM_TASK_FINISHED] == n)
		return "FINISHED";
	return "CANCELED";
}

/* "metrics" of a subtask: Flink's names, those its last heartbeat
 * reported (none before the first). */
static void
jm_flink_task_metrics(wr_json *j, const jm_task *t)
{
	const jm_task_stats *st = &t->stats;
	wr_json_key(j, "metrics");
	wr_json_obj_begin(j);
	if (st->valid) {
		wr_json_key(j, "read-records");
		wr_json_uint(j, st->records_in);
		wr_json_kv_bool(j, "read-records-complete", true);
		wr_json_key(j, "write-records");
		wr_json_uint(j, st->records_out);
		wr_json_kv_bool(j, "write-records-complete", true);
		wr_json_key(j, "backPressuredTimeMsPerSecond");
		wr_json_double(j, st->backpressured * 1000.0);
		wr_json_key(j, "idleTimeMsPerSecond");
		wr_json_double(j, st->idle * 1000.0);
		wr_json_key(j, "busyTimeMsPerSecond");
		wr_json_double(j, st->busy * 1000.0);
		if (st->has_wm)
			wr_json_kv_int(j, "currentInputWatermark", st->wm);
	}
	wr_json_obj_end(j);
}

void
jm_snap_flink_subtask(wr_json *j, const jm_job *job, const jm_task *t,
                      int64_t now)
{
	wr_json_kv_int(j, "subtask", t->subtask);
	wr_json_kv_str(j, "status", jm_task_state_name(t->state));
	wr_json_kv_int(j, "attempt", job->attempt);
	wr_json_kv_str(j, "taskmanager-id", t->slot->tm_id);
	wr_json_kv_str(j, "endpoint", t->slot->data_address);
	wr_json_kv_int(j, "start-time", t->start_ms > 0 ? t->start_ms : -1);
	wr_json_kv_int(j, "end-time", t->end_ms > 0 ? t->end_ms : -1);
	wr_json_kv_int(j, "duration",
	               jm_flink_duration(t->start_ms, t->end_ms, now));
	jm_flink_task_metrics(j, t);
}

void
jm_snap_flink_vertex(wr_json *j, const jm_job *job, int v, int first,
                     int64_t now)
{
	const wr_vertex *vx = &job->plan->vertices[v];
	int64_t start = 0, end = 0;
	uint64_t in = 0, out = 0;
	bool complete = true, ended = true;
	int counts[JM_TASK_FAILED + 1] = {0};
	for (int s = 0; s < vx->parallelism; s++) {
		const jm_task *t = &job->tasks[first + s];
		if (t->start_ms > 0 && (start == 0 || t->start_ms < start))
			start = t->start_ms;
		if (t->end_ms <= 0)
			ended = false;
		else if (t->end_ms > end)
			end = t->end_ms;
		complete = complete && t->stats.valid;
		in += t->stats.records_in;
		out += t->stats.records_out;
		counts[t->state]++;
	}
	if (!ended)
		end = 0; /* the vertex ends with its last subtask */
	wr_json_kv_int(j, "maxParallelism", job->spec->max_parallelism);
	wr_json_kv_str(j, "status",
	               jm_flink_vertex_status(job, first, vx->parallelism));
	wr_json_kv_int(j, "start-time", start > 0 ? start : -1);
	wr_json_kv_int(j, "end-time", end > 0 ? end : -1);
	wr_json_kv_int(j, "duration", jm_flink_duration(start, end, now));
	wr_json_key(j, "tasks");
	wr_json_obj_begin(j);
	for (size_t i = 0; i < JM_FLINK_NEXEC; i++) {
		int c = 0;
		for (int s = 0; s <= JM_TASK_FAILED; s++)
			if (strcmp(jm_task_state_name(s),
			           jm_flink_exec_states[i]) == 0)
				c = counts[s];
		wr_json_kv_int(j, jm_flink_exec_states[i], c);
	}
	wr_json_obj_end(j);
	wr_json_key(j, "metrics");
	wr_json_obj_begin(j);
	wr_json_key(j, "read-records");
	wr_json_uint(j, in);
	wr_json_kv_bool(j, "read-records-complete", complete);
	wr_json_key(j, "write-records");
	wr_json_uint(j, out);
	wr_json_kv_bool(j, "write-records-complete", complete);
	wr_json_obj_end(j);
}

static const char *
jm_flink_ship(enum wr_edge_kind k)
{
	return k == WR_EDGE_HASH        ? "HASH"
	       : k == WR_EDGE_REBALANCE ? "REBALANCE"
	                                : "FORWARD";
}

/* "plan": the vertices as Flink's JSON plan nodes, with their inputs. */
static void
jm_flink_plan(wr_json *j, const jm_job *job)
{
	wr_json_key(j, "plan");
	wr_json_obj_begin(j);
	wr_json_kv_str(j, "jid", job->id);
	wr_json_kv_str(j, "name", job->name);
	wr_json_kv_str(j, "type", "STREAMING");
	wr_json_key(j, "nodes");
	wr_json_arr_begin(j);
	int nv = job->plan != NULL ? job->plan->nvertices : 0;
	for (int v = 0; v < nv; v++) {
		const wr_vertex *vx = &job->plan->vertices[v];
		char id[16];
		snprintf(id, sizeof(id), "%d", v);
		wr_json_obj_begin(j);
		wr_json_kv_str(j, "id", id);
		wr_json_kv_int(j, "parallelism", vx->parallelism);
		wr_json_kv_str(j, "operator", "");
		wr_json_kv_str(j, "operator_strategy", "");
		wr_json_kv_str(j, "description", vx->name);
		wr_json_key(j, "inputs");
		wr_json_arr_begin(j);
		int num = 0;
		for (int e = 0; e < job->plan->nedges; e++) {
			const wr_edge *ed = &job->plan->edges[e];
			if (ed->to_vertex != v)
				continue;
			snprintf(id, sizeof(id), "%d", ed->from_vertex);
			wr_json_obj_begin(j);
			wr_json_kv_int(j, "num", num++);
			wr_json_kv_str(j, "id", id);
			wr_json_kv_str(j, "ship_strategy",
			               jm_flink_ship(ed->kind));
			wr_json_kv_str(j, "exchange", "pipelined_bounded");
			wr_json_obj_end(j);
		}
		wr_json_arr_end(j);
		wr_json_key(j, "optimizer_properties");
		wr_json_obj_begin(j);
		wr_json_obj_end(j);
		wr_json_obj_end(j);
	}
	wr_json_arr_end(j);
	wr_json_obj_end(j);
}

void
jm_snap_flink_job(wr_json *j, const jm_job *job, int64_t now)
{
	wr_json_kv_str(j, "jid", job->id);
	wr_json_kv_str(j, "job-type", "STREAMING");
	wr_json_kv_int(j, "start-time", job->start_ms);
	wr_json_kv_int(j, "end-time", job->end_ms > 0 ? job->end_ms : -1);
	wr_json_kv_int(j, "duration",
	               jm_flink_duration(job->start_ms, job->end_ms, now));
	wr_json_kv_int(j, "now", now);
	/* stop-with-savepoint (POST /jobs/{id}/stop) needs checkpointing */
	wr_json_kv_bool(j, "isStoppable",
	                job->state == JM_JOB_RUNNING && job->ck != NULL);
	wr_json_kv_int(j, "maxParallelism",
	               job->spec ? job->spec->max_parallelism : -1);
	wr_json_key(j, "timestamps");
	wr_json_obj_begin(j);
	for (size_t i = 0; i < JM_FLINK_NJOB; i++) {
		int64_t ts = 0;
		for (int s = 0; s <= JM_JOB_FINISHED; s++)
			if (strcmp(jm_job_state_name(s),
			           jm_flink_job_states[i]) == 0)
				ts = job->state_ms[s];
		wr_json_kv_int(j, jm_flink_job_states[i], ts);
	}
	wr_json_obj_end(j);
	/* vertices per status */
	wr_json_key(j, "status-counts");
	wr_json_obj_begin(j);
	int nv = job->plan != NULL ? job->plan->nvertices : 0;
	for (size_t i = 0; i < JM_FLINK_NEXEC; i++) {
		int c = 0;
		for (int v = 0, k = 0; v < nv; v++) {
			int p = job->plan->vertices[v].parallelism;
			c += strcmp(jm_flink_vertex_status(job, k, p),
			            jm_flink_exec_states[i]) == 0;
			k += p;
		}
		wr_json_kv_int(j, jm_flink_exec_states[i], c);
	}
	wr_json_obj_end(j);
	jm_flink_plan(j, job);
}

void
jm_snap_flink_overview(wr_json *j, const jm_job *job, int64_t now)
{
	wr_json_kv_str(j, "jid", job->id);
	wr_json_kv_str(j, "status", jm_job_state_name(job->state));
	wr_json_kv_int(j, "start-time", job->start_ms);
	wr_json_kv_int(j, "end-time", job->end_ms > 0 ? job->end_ms : -1);
	wr_json_kv_int(j, "duration",
	               jm_flink_duration(job->start_ms, job->end_ms, now));
	int64_t last = job->start_ms;
	for (int s = 0; s <= JM_JOB_FINISHED; s++)
		last = job->state_ms[s] > last ? job->state_ms[s] : last;
	wr_json_kv_int(j, "last-modification", last);
	int counts[JM_TASK_FAILED + 1] = {0};
	for (int k = 0; k < job->ntasks; k++)
		counts[job->tasks[k].state]++;
	wr_json_key(j, "tasks");
	wr_json_obj_begin(j);
	wr_json_kv_int(j, "total", job->ntasks);
	for (size_t i = 0; i < JM_FLINK_NEXEC; i++) {
		char key[32];
		int c = 0;
		for (int s = 0; s <= JM_TASK_FAILED; s++)
			if (strcmp(jm_task_state_name(s),
			           jm_flink_exec_states[i]) == 0)
				c = counts[s];
		size_t n = 0;
		for (const char *p = jm_flink_exec_states[i];
		     *p && n + 1 < sizeof(key); p++)
			key[n++] =
			    (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		key[n] = '\0';
		wr_json_kv_int(j, key, c);
	}
	wr_json_obj_end(j);
}

/* The kind of a failure, as Flink names an exception's class. */
static const char *
jm_flink_exc_name(const jm_job_failure *e)
{
	if (e->vertex >= 0)
		return "weir.TaskFailure";
	if (e->tm_id[0] != '\0')
		return "weir.TaskManagerLost";
	return "weir.JobFailure";
}

static void
jm_flink_exc_task(const jm_job *job, const jm_job_failure *e, char *out,
                  size_t outlen)
{
	if (e->vertex >= 0 && job->plan != NULL &&
	    e->vertex < job->plan->nvertices)
		snprintf(out, outlen, "%s (%d/%d)",
		         job->plan->vertices[e->vertex].name, e->subtask + 1,
		         job->plan->vertices[e->vertex].parallelism);
	else
		out[0] = '\0';
}

static void
jm_flink_str_or_null(wr_json *j, const char *key, const char *s)
{
	wr_json_key(j, key);
	if (s[0] != '\0')
		wr_json_str(j, s);
	else
		wr_json_null(j);
}

/* One entry of "exceptionHistory" (history) or "all-exceptions"; conc:
 * the failures that came while its attempt ended (history: its
 * "concurrentExceptions"; NULL in those themselves). */
static void
jm_flink_exc_entry(wr_json *j, const jm_job *job, const jm_job_failure *e,
                   bool history, const jm_job_exc *conc)
{
	char task[WR_JOB_MAX_NAME_BYTES + 160];
	jm_flink_exc_task(job, e, task, sizeof(task));
	wr_json_obj_begin(j);
	if (history) {
		wr_json_kv_str(j, "exceptionName", jm_flink_exc_name(e));
		wr_json_kv_str(j, "stacktrace", e->cause);
	} else {
		wr_json_kv_str(j, "exception", e->cause);
	}
	wr_json_kv_int(j, "timestamp", e->ts_ms);
	jm_flink_str_or_null(j, history ? "taskName" : "task", task);
	jm_flink_str_or_null(j, "taskManagerId", e->tm_id);
	jm_flink_str_or_null(j, history ? "endpoint" : "location", e->tm_id);
	if (history) {
		wr_json_key(j, "failureLabels");
		wr_json_obj_begin(j);
		wr_json_obj_end(j);
	}
	if (history && conc != NULL) {
		wr_json_key(j, "concurrentExceptions");
		wr_json_arr_begin(j);
		for (int k = 0; k < conc->nconcurrent; k++)
			jm_flink_exc_entry(j, job, &conc->concurrent[k], true,
			                   NULL);
		wr_json_arr_end(j);
	}
	wr_json_obj_end(j);
}

void
jm_snap_flink_exceptions(wr_buf *out, const jm_job *job)
{
	uint64_t n = job->nexc < JM_JOB_EXCEPTIONS_MAX ? job->nexc
	                                               : JM_JOB_EXCEPTIONS_MAX;
	bool truncated = job->nexc > JM_JOB_EXCEPTIONS_MAX;
	const jm_job_failure *newest =
	    n > 0 ? &job->exc[(job->nexc - 1) % JM_JOB_EXCEPTIONS_MAX].root
	          : NULL;
	wr_json j;
	wr_json_init(&j, out);
	wr_json_obj_begin(&j);
	wr_json_key(&j, "root-exception");
	if (newest)
		wr_json_str(&j, newest->cause);
	else
		wr_json_null(&j);
	wr_json_key(&j, "timestamp");
	if (newest)
		wr_json_int(&j, newest->ts_ms);
	else
		wr_json_null(&j);
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			wr_json_key(&j, "exceptionHistory");
			wr_json_obj_begin(&j);
		}
		wr_json_key(&j, pass ? "entries" : "all-exceptions");
		wr_json_arr_begin(&j);
		for (uint64_t i = 0; i < n; i++) { /* newest first */
			const jm_job_exc *e = &job->exc[(job->nexc - 1 - i) %
			                                JM_JOB_EXCEPTIONS_MAX];
			jm_flink_exc_entry(&j, job, &e->root, pass == 1, e);
		}
		wr_json_arr_end(&j);
		wr_json_kv_bool(&j, "truncated", truncated);
	}
	wr_json_obj_end(&j);
	wr_json_obj_end(&j);
}

bool
jm_snap_flink_ckcfg(wr_buf *out, const jm_job *job, const char *storage)
{
	if (job->spec == NULL || job->spec->checkpointing.interval_ms <= 0)
		return false;
	const wr_checkpoint_spec *c = &job->spec->checkpointing;
	wr_json j;
	wr_json_init(&j, out);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "mode",
	               c->mode == WR_SEM_EXACTLY_ONCE ? "exactly_once"
	                                              : "at_least_once");
	wr_json_kv_int(&j, "interval", c->interval_ms);
	wr_json_kv_int(&j, "timeout", c->timeout_ms);
	wr_json_kv_int(&j, "min_pause", c->min_pause_ms);
	wr_json_kv_int(&j, "max_concurrent", 1);
	wr_json_key(&j, "externalization");
	wr_json_obj_begin(&j);
	/* completed checkpoints stay in the storage (retained of them) */
	wr_json_kv_bool(&j, "enabled", true);
	wr_json_kv_bool(&j, "delete_on_cancellation", false);
	wr_json_obj_end(&j);
	wr_json_kv_str(&j, "state_backend", "weir");
	wr_json_kv_str(&j, "checkpoint_storage", storage ? storage : "");
	wr_json_kv_bool(&j, "unaligned_checkpoints", false);
	wr_json_kv_int(&j, "tolerable_failed_checkpoints", c->tolerable_failed);
	wr_json_kv_int(&j, "aligned_checkpoint_timeout", 0);
	wr_json_kv_bool(&j, "checkpoints_after_tasks_finish", false);
	wr_json_kv_bool(&j, "state_changelog_enabled", false);
	wr_json_kv_int(&j, "retained", c->retained);
	wr_json_obj_end(&j);
	return true;
}
