/*
 * store.c - what a JobManager keeps outside its memory: for each job, the
 * submitted job file and its status, under the checkpoint storage
 * (<storage>/<job-id>/job.yaml, <storage>/<job-id>/status.json), written
 * atomically. A later JobManager (high availability, a later issue) resumes
 * jobs from here. Only file:// storage is written today; S3 comes with the
 * checkpoint issue.
 */
#include "jm_int.h"

#include "buf.h"
#include "err.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static void
jm_store_status_json(const jm_job *job, wr_buf *b)
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
	const char *root = wr_file_url_path(jm->cfg.ckpt_storage);
	char dir[PATH_MAX - 32], path[PATH_MAX];
	int rv;
	if (root == NULL)
		return; /* only file:// today; see the top of this file */
	snprintf(dir, sizeof(dir), "%s/%s", root, job->id);
	if ((rv = wr_mkdirs(dir, 0755)) != WR_OK)
		goto fail;
	snprintf(path, sizeof(path), "%s/job.yaml", dir);
	if (job->state == JM_JOB_CREATED &&
	    (rv = wr_write_file_atomic(path, job->yaml, strlen(job->yaml))) !=
	        WR_OK)
		goto fail;
	wr_buf b;
	wr_buf_init(&b);
	jm_store_status_json(job, &b);
	snprintf(path, sizeof(path), "%s/status.json", dir);
	rv = wr_write_file_atomic(path, b.data, b.len);
	wr_buf_fini(&b);
	if (rv == WR_OK)
		return;
fail:
	wr_log(WR_LOG_ERROR, "JOB-STORE", "job=%s: cannot write under %s: %s",
	       job->id, dir, wr_strerror(rv));
}
