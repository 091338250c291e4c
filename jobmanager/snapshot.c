/*
 * snapshot.c - the job bodies REST GETs read (snapshot.h). The JSON is
 * what rest_jobs.c rendered from RPC replies before: `weir list -o json`,
 * `weir info -o json` and `weir checkpoints -o json` print the same.
 */
#include "snapshot.h"

#include "ckpt.h"
#include "jm_int.h"

#include "clock.h"
#include "err.h"
#include "json.h"
#include "mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jm_snap_entry {
	char id[33];
	char *info, *ckpts; /* NUL-terminated bodies */
	char *exc, *ckcfg;  /* ckcfg NULL: checkpointing is off */
	uint64_t sp_queued; /* a savepoint waiting to start; 0: none */
} jm_snap_entry;

typedef struct jm_snap_data {
	char *list;
	jm_snap_entry *jobs;
	size_t njobs;
	int counts[JM_JOB_FINISHED + 1]; /* jobs per state */
} jm_snap_data;

struct jm_snap {
	pthread_mutex_t mu;
	jm_snap_data *cur; /* @locks mu */
	/* the loop's own */
	bool dirty;
	int64_t last_ms;
};

static void
jm_snap_data_free(jm_snap_data *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->njobs; i++) {
		free(d->jobs[i].info);
		free(d->jobs[i].ckpts);
		free(d->jobs[i].exc);
		free(d->jobs[i].ckcfg);
	}
	free(d->jobs);
	free(d->list);
	free(d);
}

jm_snap *
jm_snap_new(void)
{
	jm_snap *s = wr_xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	s->cur = wr_xcalloc(1, sizeof(jm_snap_data));
	s->cur->list = wr_xstrdup("{\"jobs\":[]}");
	return s;
}

void
jm_snap_free(jm_snap *s)
{
	if (s == NULL)
		return;
	jm_snap_data_free(s->cur);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static char *
jm_snap_take(wr_buf *b)
{
	wr_buf_putc(b, '\0');
	char *p = wr_xstrdup(b->data);
	wr_buf_fini(b);
	return p;
}

static void
jm_snap_summary(wr_json *j, const jm_job *job)
{
	wr_json_kv_str(j, "id", job->id);
	wr_json_kv_str(j, "name", job->name);
	wr_json_kv_str(j, "state", jm_job_state_name(job->state));
	wr_json_kv_int(j, "start_time", job->start_ms);
}

static void
jm_snap_vertices(wr_json *j, const jm_job *job, int64_t now)
{
	wr_json_key(j, "vertices");
	wr_json_arr_begin(j);
	int k = 0;
	/* no plan: a job the job store held that cannot run again */
	int nv = job->plan != NULL ? job->plan->nvertices : 0;
	for (int v = 0; v < nv; v++) {
		const wr_vertex *vx = &job->plan->vertices[v];
		wr_json_obj_begin(j);
		char id[16];
		snprintf(id, sizeof(id), "%d", v);
		wr_json_kv_str(j, "id", id);
		wr_json_kv_str(j, "name", vx->name);
		wr_json_kv_int(j, "parallelism", vx->parallelism);
		jm_snap_flink_vertex(j, job, v, k, now);
		wr_json_key(j, "subtasks");
		wr_json_arr_begin(j);
		for (int s = 0; s < vx->parallelism; s++, k++) {
			const jm_task *t = &job->tasks[k];
			wr_json_obj_begin(j);
			wr_json_kv_int(j, "index", t->subtask);
			wr_json_kv_str(j, "state",
			               jm_task_state_name(t->state));
			wr_json_kv_str(j, "taskmanager", t->slot->tm_id);
			jm_snap_flink_subtask(j, job, t, now);
			wr_json_obj_end(j);
		}
		wr_json_arr_end(j);
		wr_json_obj_end(j);
	}
	wr_json_arr_end(j);
}

/* GET /jobs/{id} and /jobs/{id}/checkpoints of one job. */
static void
jm_snap_render_job(jm_jobs *jobs, const jm_job *job, jm_snap_entry *out)
{
	const jm_ckpt_info *v = NULL;
	jm_ckpt_stats st;
	size_t n = 0;
	char err[128];
	jm_jobs_checkpoints(jobs, job->id, &v, &n, &st, err, sizeof(err));
	wr_buf b;
	wr_json j;
	wr_buf_init(&b);
	wr_json_init(&j, &b);
	int64_t now = wr_wall_ms();
	wr_json_obj_begin(&j);
	jm_snap_summary(&j, job);
	jm_snap_flink_job(&j, job, now);
	wr_json_kv_str(&j, "spec_hash", job->spec_hash);
	wr_json_kv_int(&j, "end_time", job->end_ms);
	wr_json_key(&j, "failure");
	if (job->failure)
		wr_json_str(&j, job->failure);
	else
		wr_json_null(&j);
	jm_snap_vertices(&j, job, now);
	/* a recovered job's: the one it restarts from, before it completes
	 * one of its own */
	wr_json_key(&j, "last_checkpoint");
	uint64_t last;
	const char *url;
	bool sp;
	if (jm_ckpt_latest(job->ck, &last, &url, &sp))
		wr_json_uint(&j, last);
	else
		wr_json_null(&j);
	wr_json_obj_end(&j);
	memcpy(out->id, job->id, sizeof(out->id));
	out->info = jm_snap_take(&b);
	wr_buf_init(&b);
	wr_json_init(&j, &b);
	jm_rpc_ckpt_list_json(&j, v, n, &st);
	out->ckpts = jm_snap_take(&b);
	wr_buf_init(&b);
	jm_snap_flink_exceptions(&b, job);
	out->exc = jm_snap_take(&b);
	if (!jm_ckpt_queued_savepoint(job->ck, &out->sp_queued))
		out->sp_queued = 0;
	wr_buf_init(&b);
	if (jm_snap_flink_ckcfg(&b, job,
	                        jm_jobs_server(jobs)->cfg.ckpt_storage))
		out->ckcfg = jm_snap_take(&b);
	else
		wr_buf_fini(&b);
}

void
jm_snap_publish(jm_snap *s, jm_jobs *jobs, int64_t now_ms)
{
	jm_snap_data *d = wr_xcalloc(1, sizeof(*d));
	d->njobs = jm_jobs_count(jobs);
	d->jobs = wr_xcalloc(d->njobs ? d->njobs : 1, sizeof(jm_snap_entry));
	wr_buf b;
	wr_json j;
	wr_buf_init(&b);
	wr_json_init(&j, &b);
	wr_json_obj_begin(&j);
	wr_json_key(&j, "jobs");
	wr_json_arr_begin(&j);
	for (size_t i = 0; i < d->njobs; i++) {
		const jm_job *job = jm_jobs_at(jobs, i);
		/* Flink's keys: "id" and "status" of its /jobs, the rest of
		 * its /jobs/overview (weir's start_time went: no client read
		 * it) */
		wr_json_obj_begin(&j);
		wr_json_kv_str(&j, "id", job->id);
		wr_json_kv_str(&j, "name", job->name);
		wr_json_kv_str(&j, "state", jm_job_state_name(job->state));
		jm_snap_flink_overview(&j, job, wr_wall_ms());
		wr_json_obj_end(&j);
		d->counts[job->state]++;
		jm_snap_render_job(jobs, job, &d->jobs[i]);
	}
	wr_json_arr_end(&j);
	wr_json_obj_end(&j);
	d->list = jm_snap_take(&b);
	pthread_mutex_lock(&s->mu);
	jm_snap_data *old = s->cur;
	s->cur = d;
	pthread_mutex_unlock(&s->mu);
	jm_snap_data_free(old);
	s->dirty = false;
	s->last_ms = now_ms;
}

void
jm_snap_touch(jm_snap *s)
{
	s->dirty = true;
}

void
jm_snap_tick(jm_snap *s, jm_jobs *jobs, int64_t now_ms)
{
	int64_t age = now_ms - s->last_ms;
	if ((s->dirty && age >= JM_SNAP_MIN_INTERVAL_MS) ||
	    age >= JM_SNAP_MAX_AGE_MS)
		jm_snap_publish(s, jobs, now_ms);
}

void
jm_snap_list(jm_snap *s, wr_buf *out)
{
	pthread_mutex_lock(&s->mu);
	wr_buf_puts(out, s->cur->list);
	pthread_mutex_unlock(&s->mu);
}

int
jm_snap_job(jm_snap *s, const char *id, bool checkpoints, wr_buf *out,
            char *errbuf, size_t errlen)
{
	return jm_snap_body(s, id, checkpoints ? JM_SNAP_CKPTS : JM_SNAP_INFO,
	                    out, errbuf, errlen);
}

int
jm_snap_body(jm_snap *s, const char *id, enum jm_snap_body which, wr_buf *out,
             char *errbuf, size_t errlen)
{
	const char *body = NULL;
	bool found = false;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->cur->njobs && !found; i++) {
		const jm_snap_entry *sj = &s->cur->jobs[i];
		if (strcmp(sj->id, id) != 0)
			continue;
		found = true;
		body = which == JM_SNAP_INFO         ? sj->info
		       : which == JM_SNAP_CKPTS      ? sj->ckpts
		       : which == JM_SNAP_EXCEPTIONS ? sj->exc
		                                     : sj->ckcfg;
		if (body != NULL)
			wr_buf_puts(out, body);
	}
	pthread_mutex_unlock(&s->mu);
	if (!found)
		snprintf(errbuf, errlen, "no job %s", id);
	else if (body == NULL)
		snprintf(errbuf, errlen, "checkpointing is off for job %s", id);
	return body != NULL ? WR_OK : WR_ENOENT;
}

uint64_t
jm_snap_queued_savepoint(jm_snap *s, const char *id)
{
	uint64_t n = 0;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->cur->njobs; i++)
		if (strcmp(s->cur->jobs[i].id, id) == 0)
			n = s->cur->jobs[i].sp_queued;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void
jm_snap_counts(jm_snap *s, int counts[JM_JOB_FINISHED + 1])
{
	pthread_mutex_lock(&s->mu);
	memcpy(counts, s->cur->counts, sizeof(s->cur->counts));
	pthread_mutex_unlock(&s->mu);
}
