/*
 * store.c - what a JobManager keeps outside its memory: for each job, the
 * submitted job file and its status, under the checkpoint storage
 * (<storage>/<job-id>/job.yaml, <storage>/<job-id>/status.json), written
 * through the object store (file:// or s3://, each put whole or not at
 * all). Nothing reads them back yet: they are there for a JobManager that
 * resumes jobs after a failover (high availability, not built yet).
 */
#include "ckpt.h"
#include "jm_int.h"
#include "objstore.h"

#include "buf.h"
#include "err.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static void
jm_store_status_json(jm_server *jm, const jm_job *job, wr_buf *b)
{
	wr_json j;
	wr_json_init(&j, b);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "id", job->id);
	wr_json_kv_str(&j, "name", job->name);
	wr_json_kv_str(&j, "state", jm_job_state_name(job->state));
	wr_json_kv_int(&j, "start_time", job->start_ms);
	wr_json_kv_int(&j, "end_time", job->end_ms);
	wr_json_kv_int(&j, "attempt", job->attempt);
	wr_json_kv_str(&j, "file", job->file);
	wr_json_kv_int(&j, "parallelism_override", job->parallelism_override);
	wr_json_kv_int(&j, "restarts", (int64_t)job->restarts);
	/* what a resumed job restores from: the newest completed checkpoint
	 * at the time of writing */
	wr_json_key(&j, "restore_from");
	const jm_ckpt_info *v;
	size_t n = 0;
	jm_ckpt_stats st;
	char e[64];
	const char *latest = job->restore_url;
	if (jm_jobs_checkpoints(jm->jobs, job->id, &v, &n, &st, e, sizeof(e)) ==
	    WR_OK)
		for (size_t i = 0; i < n; i++)
			if (v[i].status == JM_CKPT_COMPLETED) {
				latest = v[i].url;
				break;
			}
	if (latest)
		wr_json_str(&j, latest);
	else
		wr_json_null(&j);
	wr_json_key(&j, "failure");
	if (job->failure)
		wr_json_str(&j, job->failure);
	else
		wr_json_null(&j);
	wr_json_obj_end(&j);
	wr_buf_putc(b, '\n');
}

void
jm_store_job(jm_server *jm, const jm_job *job)
{
	char key[128], err[512] = "";
	int rv = WR_OK;
	if (jm->store == NULL)
		return; /* logged at start */
	snprintf(key, sizeof(key), "%s/job.yaml", job->id);
	if (job->state == JM_JOB_CREATED &&
	    (rv = wr_objstore_put(jm->store, key, job->yaml, strlen(job->yaml),
	                          err, sizeof(err))) != WR_OK)
		goto fail;
	wr_buf b;
	wr_buf_init(&b);
	jm_store_status_json(jm, job, &b);
	snprintf(key, sizeof(key), "%s/status.json", job->id);
	rv = wr_objstore_put(jm->store, key, b.data, b.len, err, sizeof(err));
	wr_buf_fini(&b);
	if (rv == WR_OK)
		return;
fail:
	wr_log(WR_LOG_ERROR, "JOB-STORE", "job=%s: cannot write %s: %s",
	       job->id, key, err[0] ? err : wr_strerror(rv));
}
