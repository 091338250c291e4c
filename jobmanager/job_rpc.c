/*
 * job_rpc.c - protobuf translation for jobs: the CLI's job requests
 * (submit, cancel and savepoint become commands, cmd.h; list, info and
 * checkpoint history are read on the loop), TaskManagers' task state
 * reports, and the DeployTask / CancelTask requests the JobManager queues
 * on its TaskManager clients (tmclients.h).
 */
#include "ckpt.h"
#include "cmd.h"
#include "jm_int.h"
#include "upgrade.h"

#include "ckpt_json.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "rpc.h"
#include "weir.pb-c.h"
#include "wr_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
jm_rpc_submit(jm_server *jm, wr_rpc_req *req, const Weir__SubmitJob *m)
{
	jm_cmd cmd = {
	    .kind = JM_CMD_SUBMIT,
	    .file = m->file_name && *m->file_name ? m->file_name : "job",
	    .yaml = m->job_yaml,
	    .parallelism = m->has_parallelism ? (int)m->parallelism : 0,
	    .from_savepoint = m->from_savepoint && *m->from_savepoint
	                          ? m->from_savepoint
	                          : NULL,
	    .allow_non_restored =
	        m->has_allow_non_restored_state && m->allow_non_restored_state,
	};
	jm_cmd_exec(jm, &cmd);
	if (cmd.rv != WR_OK) {
		wr_rpc_req_reply_error(req, cmd.rv, "%s", cmd.err);
		return;
	}
	Weir__Envelope rep = WEIR__ENVELOPE__INIT;
	Weir__SubmitJobReply body = WEIR__SUBMIT_JOB_REPLY__INIT;
	body.job_id = cmd.new_job_id;
	rep.body_case = WEIR__ENVELOPE__BODY_SUBMIT_JOB_REPLY;
	rep.submit_job_reply = &body;
	wr_rpc_req_reply(req, &rep);
}

static void
jm_rpc_summary(const jm_job *job, Weir__JobSummary *s)
{
	weir__job_summary__init(s);
	s->id = (char *)job->id;
	s->name = job->name;
	s->state = (char *)jm_job_state_name(job->state);
	s->start_time_ms = (uint64_t)job->start_ms;
	s->has_end_time_ms = 1;
	s->end_time_ms = (uint64_t)job->end_ms;
	s->spec_hash = (char *)job->spec_hash;
}

static void
jm_rpc_list(jm_server *jm, wr_rpc_req *req, const Weir__ListJobs *m)
{
	size_t n = jm_jobs_count(jm->jobs), k = 0;
	Weir__JobSummary *sums = wr_xcalloc(n, sizeof(*sums));
	Weir__JobSummary **ptrs = wr_xcalloc(n, sizeof(*ptrs));
	for (size_t i = 0; i < n; i++) {
		const jm_job *job = jm_jobs_at(jm->jobs, i);
		if (!m->all && jm_job_state_terminal(job->state))
			continue;
		jm_rpc_summary(job, &sums[k]);
		ptrs[k] = &sums[k];
		k++;
	}
	Weir__Envelope rep = WEIR__ENVELOPE__INIT;
	Weir__JobList body = WEIR__JOB_LIST__INIT;
	body.n_jobs = k;
	body.jobs = ptrs;
	rep.body_case = WEIR__ENVELOPE__BODY_JOB_LIST;
	rep.job_list = &body;
	wr_rpc_req_reply(req, &rep);
	free(ptrs);
	free(sums);
}

/* Builds JobInfo's vertices; everything points into job or the arrays
 * returned, freed by the caller. */
typedef struct jm_info_mem {
	Weir__VertexInfo *verts;
	Weir__VertexInfo **vptrs;
	Weir__SubtaskInfo *subs;
	Weir__SubtaskInfo **sptrs;
	char (*ids)[16];
} jm_info_mem;

static void
jm_rpc_info_vertices(const jm_job *job, jm_info_mem *m)
{
	/* no plan: a job the job store held but that cannot run again */
	int nv = job->plan != NULL ? job->plan->nvertices : 0;
	m->verts = wr_xcalloc((size_t)nv, sizeof(*m->verts));
	m->vptrs = wr_xcalloc((size_t)nv, sizeof(*m->vptrs));
	m->subs = wr_xcalloc((size_t)job->ntasks, sizeof(*m->subs));
	m->sptrs = wr_xcalloc((size_t)job->ntasks, sizeof(*m->sptrs));
	m->ids = wr_xcalloc((size_t)nv, sizeof(*m->ids));
	for (int i = 0; i < job->ntasks; i++) {
		const jm_task *t = &job->tasks[i];
		Weir__SubtaskInfo *s = &m->subs[i];
		weir__subtask_info__init(s);
		s->index = (uint32_t)t->subtask;
		s->state = (char *)jm_task_state_name(t->state);
		s->taskmanager = (char *)t->slot->tm_id;
		m->sptrs[i] = s;
	}
	int k = 0;
	for (int v = 0; v < nv; v++) {
		Weir__VertexInfo *vi = &m->verts[v];
		weir__vertex_info__init(vi);
		snprintf(m->ids[v], sizeof(m->ids[v]), "%d", v);
		vi->id = m->ids[v];
		vi->name = (char *)job->plan->vertices[v].name;
		vi->parallelism = (uint32_t)job->plan->vertices[v].parallelism;
		vi->n_subtasks = (size_t)job->plan->vertices[v].parallelism;
		vi->subtasks = &m->sptrs[k];
		k += job->plan->vertices[v].parallelism;
		m->vptrs[v] = vi;
	}
}

/* The id of the job's newest completed checkpoint or savepoint (a
 * recovered job's: the one it restarts from); false when it has none. */
static bool
jm_rpc_last_checkpoint(const jm_job *job, uint64_t *id)
{
	const char *url;
	bool savepoint;
	return jm_ckpt_latest(job->ck, id, &url, &savepoint);
}

static void
jm_rpc_info(jm_server *jm, wr_rpc_req *req, const Weir__JobInfoRequest *m)
{
	const jm_job *job = jm_jobs_find(jm->jobs, m->job_id);
	if (job == NULL) {
		wr_rpc_req_reply_error(req, WR_ENOENT, "no job %s", m->job_id);
		return;
	}
	jm_info_mem mem;
	jm_rpc_info_vertices(job, &mem);
	Weir__JobSummary sum;
	jm_rpc_summary(job, &sum);
	Weir__Envelope rep = WEIR__ENVELOPE__INIT;
	Weir__JobInfo body = WEIR__JOB_INFO__INIT;
	body.summary = &sum;
	body.n_vertices = job->plan != NULL ? (size_t)job->plan->nvertices : 0;
	body.vertices = mem.vptrs;
	body.failure = job->failure;
	body.has_last_checkpoint_id =
	    jm_rpc_last_checkpoint(job, &body.last_checkpoint_id);
	rep.body_case = WEIR__ENVELOPE__BODY_JOB_INFO;
	rep.job_info = &body;
	wr_rpc_req_reply(req, &rep);
	free(mem.verts);
	free(mem.vptrs);
	free(mem.subs);
	free(mem.sptrs);
	free(mem.ids);
}

static void
jm_rpc_cancel(jm_server *jm, wr_rpc_req *req, const Weir__CancelJob *m)
{
	jm_cmd cmd = {.kind = JM_CMD_CANCEL, .job_id = m->job_id};
	jm_cmd_exec(jm, &cmd);
	if (cmd.rv != WR_OK)
		wr_rpc_req_reply_error(req, cmd.rv, "%s", cmd.err);
	else
		wr_rpc_req_reply_ack(req);
}

static void
jm_rpc_savepoint(jm_server *jm, wr_rpc_req *req,
                 const Weir__TriggerSavepoint *m)
{
	jm_cmd cmd = {
	    .kind = JM_CMD_SAVEPOINT,
	    .job_id = m->job_id,
	    .target_dir = m->target_dir,
	    .stop = m->has_stop && m->stop,
	    .drain = m->has_drain && m->drain,
	};
	jm_cmd_exec(jm, &cmd);
	if (cmd.rv != WR_OK) {
		wr_rpc_req_reply_error(req, cmd.rv, "%s", cmd.err);
		return;
	}
	Weir__Envelope rep = WEIR__ENVELOPE__INIT;
	Weir__SavepointReply body = WEIR__SAVEPOINT_REPLY__INIT;
	body.path = cmd.url;
	body.has_checkpoint_id = 1;
	body.checkpoint_id = cmd.ckpt_id;
	rep.body_case = WEIR__ENVELOPE__BODY_SAVEPOINT_REPLY;
	rep.savepoint_reply = &body;
	wr_rpc_req_reply(req, &rep);
}

static void
jm_rpc_upgrade(jm_server *jm, wr_rpc_req *req, const Weir__UpgradeJob *m)
{
	enum jm_upgrade_mode mode;
	if (!jm_upgrade_mode_parse(m->mode, &mode)) {
		wr_rpc_req_reply_error(req, WR_EINVAL,
		                       "unknown upgrade mode '%s' (savepoint, "
		                       "last-state or stateless)",
		                       m->mode);
		return;
	}
	jm_cmd cmd = {
	    .kind = JM_CMD_UPGRADE,
	    .job_id = m->job_id,
	    .file = m->file_name && *m->file_name ? m->file_name : "job",
	    .yaml = m->job_yaml,
	    .parallelism = m->has_parallelism ? (int)m->parallelism : 0,
	    .allow_non_restored =
	        m->has_allow_non_restored_state && m->allow_non_restored_state,
	    .mode = (int)mode,
	    .target_dir = m->savepoint_dir,
	};
	jm_cmd_exec(jm, &cmd);
	if (cmd.rv != WR_OK) {
		wr_rpc_req_reply_error(req, cmd.rv, "%s", cmd.err);
		return;
	}
	const jm_upgrade *up = jm_upgrade_find(jm, cmd.upgrade_id);
	Weir__Envelope rep = WEIR__ENVELOPE__INIT;
	Weir__UpgradeStatus body = WEIR__UPGRADE_STATUS__INIT;
	body.upgrade_id = cmd.upgrade_id;
	body.n_steps = up->nsteps;
	body.steps = up->steps;
	rep.body_case = WEIR__ENVELOPE__BODY_UPGRADE_STATUS;
	rep.upgrade_status = &body;
	wr_rpc_req_reply(req, &rep);
}

static void
jm_rpc_upgrade_status(jm_server *jm, wr_rpc_req *req,
                      const Weir__UpgradeStatusRequest *m)
{
	const jm_upgrade *up = jm_upgrade_find(jm, m->upgrade_id);
	if (up == NULL) {
		wr_rpc_req_reply_error(req, WR_ENOENT,
		                       "no upgrade %llu on this JobManager (a "
		                       "failover loses it; see weir list)",
		                       (unsigned long long)m->upgrade_id);
		return;
	}
	Weir__Envelope rep = WEIR__ENVELOPE__INIT;
	Weir__UpgradeStatus body = WEIR__UPGRADE_STATUS__INIT;
	body.upgrade_id = up->id;
	body.n_steps = up->nsteps;
	body.steps = up->steps;
	body.has_done = body.has_ok = body.has_rolled_back = 1;
	body.done = up->phase == JM_UP_DONE;
	body.ok = up->ok;
	body.rolled_back = up->rolled_back;
	body.job_id = (char *)up->job_id;
	body.savepoint = up->state_url;
	body.error = up->error;
	rep.body_case = WEIR__ENVELOPE__BODY_UPGRADE_STATUS;
	rep.upgrade_status = &body;
	wr_rpc_req_reply(req, &rep);
}

static void
jm_rpc_checkpoint_info(const jm_ckpt_info *c, Weir__CheckpointInfo *o)
{
	weir__checkpoint_info__init(o);
	o->id = c->id;
	o->status = (char *)jm_ckpt_status_name(c->status);
	o->has_is_savepoint = 1;
	o->is_savepoint = c->is_savepoint;
	o->has_trigger_time_ms = 1;
	o->trigger_time_ms =
	    c->trigger_wall_ms > 0 ? (uint64_t)c->trigger_wall_ms : 0;
	o->has_duration_ms = 1;
	o->duration_ms = c->duration_ms > 0 ? (uint64_t)c->duration_ms : 0;
	o->has_size_bytes = 1;
	o->size_bytes = c->size_bytes;
	o->has_alignment_ms = 1;
	o->alignment_ms = c->alignment_ms;
	o->has_sync_ms = o->has_async_ms = 1;
	o->sync_ms = c->sync_ms;
	o->async_ms = c->async_ms;
	o->path = (char *)c->url;
	o->failure = c->failure[0] ? (char *)c->failure : NULL;
	o->has_acks = 1;
	o->acks = c->acks > 0 ? (uint32_t)c->acks : 0;
	o->has_tasks = 1;
	o->tasks = c->tasks > 0 ? (uint32_t)c->tasks : 0;
}

/* The CheckpointList of a job's history; *infos and *ptrs are the
 * caller's to free. */
static void
jm_rpc_ckpt_list(const jm_ckpt_info *v, size_t n, const jm_ckpt_stats *st,
                 Weir__CheckpointList *body, Weir__CheckpointInfo **infos,
                 Weir__CheckpointInfo ***ptrs)
{
	*infos = wr_xcalloc(n ? n : 1, sizeof(**infos));
	*ptrs = wr_xcalloc(n ? n : 1, sizeof(**ptrs));
	for (size_t i = 0; i < n; i++) {
		jm_rpc_checkpoint_info(&v[i], &(*infos)[i]);
		(*ptrs)[i] = &(*infos)[i];
	}
	weir__checkpoint_list__init(body);
	body->n_checkpoints = n;
	body->checkpoints = *ptrs;
	body->has_completed = body->has_failed = body->has_in_progress = 1;
	body->completed = st->completed;
	body->failed = st->failed;
	body->in_progress = st->in_progress;
	body->has_restored_id = body->has_restarts = 1;
	body->restored_id = st->restored_id;
	body->restored_path =
	    st->restored_url[0] ? (char *)st->restored_url : NULL;
	body->restarts = st->restarts;
}

void
jm_rpc_ckpt_list_json(wr_json *j, const jm_ckpt_info *v, size_t n,
                      const jm_ckpt_stats *st)
{
	Weir__CheckpointList body;
	Weir__CheckpointInfo *infos, **ptrs;
	jm_rpc_ckpt_list(v, n, st, &body, &infos, &ptrs);
	wr_ckpt_list_json(j, &body);
	free(ptrs);
	free(infos);
}

static void
jm_rpc_checkpoints(jm_server *jm, wr_rpc_req *req,
                   const Weir__CheckpointListRequest *m)
{
	const jm_ckpt_info *v = NULL;
	jm_ckpt_stats st = {0};
	size_t n = 0;
	char err[1024] = "";

	if (jm_jobs_find(jm->jobs, m->job_id) == NULL) {
		wr_rpc_req_reply_error(req, WR_ENOENT, "no job %s", m->job_id);
		return;
	}
	int rv = jm_jobs_checkpoints(jm->jobs, m->job_id, &v, &n, &st, err,
	                             sizeof(err));
	if (rv != WR_OK) {
		wr_rpc_req_reply_error(req, rv, "%s",
		                       err[0] ? err : wr_strerror(rv));
		return;
	}
	Weir__CheckpointInfo *infos, **ptrs;
	Weir__Envelope rep = WEIR__ENVELOPE__INIT;
	Weir__CheckpointList body;
	jm_rpc_ckpt_list(v, n, &st, &body, &infos, &ptrs);
	rep.body_case = WEIR__ENVELOPE__BODY_CHECKPOINT_LIST;
	rep.checkpoint_list = &body;
	wr_rpc_req_reply(req, &rep);
	free(ptrs);
	free(infos);
}

static void
jm_rpc_task_state(jm_server *jm, wr_rpc_req *req,
                  const Weir__TaskStateUpdate *m)
{
	enum jm_task_state st;
	if (jm_task_state_parse(m->state, &st) != WR_OK) {
		wr_rpc_req_reply_error(req, WR_EINVAL,
		                       "unknown task state '%s'", m->state);
		return;
	}
	/* Handle, then answer: the reply frees m. Handling a failure may
	 * call back into the reporting TaskManager (CancelTask); that is
	 * served by its main thread, not the task thread waiting here. */
	jm_jobs_task_state(jm->jobs, m->job_id,
	                   m->has_attempt ? (uint32_t)m->attempt : 0,
	                   m->task_id, st, m->failure);
	wr_rpc_req_reply_ack(req);
}

bool
jm_job_rpc_dispatch(jm_server *jm, wr_rpc_req *req)
{
	const Weir__Envelope *env = wr_rpc_req_env(req);
	switch (env->body_case) {
	case WEIR__ENVELOPE__BODY_SUBMIT_JOB:
		jm_rpc_submit(jm, req, env->submit_job);
		return true;
	case WEIR__ENVELOPE__BODY_LIST_JOBS:
		jm_rpc_list(jm, req, env->list_jobs);
		return true;
	case WEIR__ENVELOPE__BODY_JOB_INFO_REQ:
		jm_rpc_info(jm, req, env->job_info_req);
		return true;
	case WEIR__ENVELOPE__BODY_CANCEL_JOB:
		jm_rpc_cancel(jm, req, env->cancel_job);
		return true;
	case WEIR__ENVELOPE__BODY_TASK_STATE:
		jm_rpc_task_state(jm, req, env->task_state);
		return true;
	case WEIR__ENVELOPE__BODY_TRIGGER_SAVEPOINT:
		jm_rpc_savepoint(jm, req, env->trigger_savepoint);
		return true;
	case WEIR__ENVELOPE__BODY_CHECKPOINT_LIST_REQ:
		jm_rpc_checkpoints(jm, req, env->checkpoint_list_req);
		return true;
	case WEIR__ENVELOPE__BODY_UPGRADE_JOB:
		jm_rpc_upgrade(jm, req, env->upgrade_job);
		return true;
	case WEIR__ENVELOPE__BODY_UPGRADE_STATUS_REQ:
		jm_rpc_upgrade_status(jm, req, env->upgrade_status_req);
		return true;
	default:
		return false;
	}
}

/* Packs the TaskSpec of task t into a heap buffer. */
static uint8_t *
jm_rpc_task_spec(const jm_job *job, const jm_task *t, size_t *len)
{
	Weir__TaskSpec ts = WEIR__TASK_SPEC__INIT;
	Weir__SubtaskLocation *locs =
	    wr_xcalloc((size_t)job->ntasks, sizeof(*locs));
	Weir__SubtaskLocation **lptrs =
	    wr_xcalloc((size_t)job->ntasks, sizeof(*lptrs));
	for (int i = 0; i < job->ntasks; i++) {
		weir__subtask_location__init(&locs[i]);
		locs[i].vertex = (uint32_t)job->tasks[i].vertex;
		locs[i].subtask = (uint32_t)job->tasks[i].subtask;
		locs[i].data_address = (char *)job->tasks[i].slot->data_address;
		locs[i].taskmanager = (char *)job->tasks[i].slot->tm_id;
		lptrs[i] = &locs[i];
	}
	ts.job_id = (char *)job->id;
	ts.attempt = job->attempt;
	ts.job_yaml = job->yaml;
	ts.file_name = job->file;
	ts.has_parallelism_override = 1;
	ts.parallelism_override = (uint32_t)job->parallelism_override;
	ts.vertex = (uint32_t)t->vertex;
	ts.subtask = (uint32_t)t->subtask;
	ts.n_locations = (size_t)job->ntasks;
	ts.locations = lptrs;
	*len = weir__task_spec__get_packed_size(&ts);
	uint8_t *buf = wr_xmalloc(*len);
	weir__task_spec__pack(&ts, buf);
	free(lptrs);
	free(locs);
	return buf;
}

static void
jm_rpc_task_ref(const jm_server *jm, const jm_job *job, const jm_task *t,
                enum jm_call_kind kind, jm_call_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
	ref->kind = kind;
	ref->epoch = jm->epoch;
	snprintf(ref->tm_id, sizeof(ref->tm_id), "%s", t->slot->tm_id);
	memcpy(ref->job_id, job->id, sizeof(ref->job_id));
	ref->attempt = job->attempt;
	ref->vertex = t->vertex;
	ref->subtask = t->subtask;
}

static int
jm_rpc_deploy_task(jm_server *jm, const jm_job *job, const jm_task *t)
{
	char task_id[32];
	snprintf(task_id, sizeof(task_id), "%d/%d", t->vertex, t->subtask);
	size_t len;
	uint8_t *spec = jm_rpc_task_spec(job, t, &len);
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__DeployTask body = WEIR__DEPLOY_TASK__INIT;
	body.job_id = (char *)job->id;
	body.task_id = task_id;
	body.slot = t->slot->index;
	body.task_spec.data = spec;
	body.task_spec.len = len;
	body.has_attempt = 1;
	body.attempt = job->attempt;
	body.restore_checkpoint = job->restore_url;
	env.body_case = WEIR__ENVELOPE__BODY_DEPLOY_TASK;
	env.deploy_task = &body;
	jm_call_ref ref;
	jm_rpc_task_ref(jm, job, t, JM_CALL_DEPLOY, &ref);
	/* always sent: the scheduler placed it on a reachable TaskManager */
	int rv = jm_tmc_send(jm->tmc, t->slot->rpc_address, &ref, &env,
	                     JM_TASK_RPC_TIMEOUT_MS, false);
	free(spec);
	return rv;
}

/* Queues a CancelTask of task vertex/subtask of job at address. */
static int
jm_rpc_send_cancel(jm_server *jm, const char *address, const jm_call_ref *ref,
                   bool fail_fast)
{
	char task_id[32];
	snprintf(task_id, sizeof(task_id), "%d/%d", ref->vertex, ref->subtask);
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__CancelTask body = WEIR__CANCEL_TASK__INIT;
	body.job_id = (char *)ref->job_id;
	body.task_id = task_id;
	env.body_case = WEIR__ENVELOPE__BODY_CANCEL_TASK;
	env.cancel_task = &body;
	/* Shorter than a deployment's wait: a TaskManager that is gone
	 * (killed, not yet declared lost) holds up its queue. */
	return jm_tmc_send(jm->tmc, address, ref, &env,
	                   JM_TASK_RPC_TIMEOUT_MS / 3, fail_fast);
}

static int
jm_rpc_cancel_task(jm_server *jm, const jm_job *job, const jm_task *t,
                   bool orphan)
{
	jm_call_ref ref;
	jm_rpc_task_ref(jm, job, t, JM_CALL_CANCEL, &ref);
	ref.orphan = orphan;
	/* The cancel of a possible orphan is sent even to a TaskManager that
	 * went silent: it may only be slow. */
	return jm_rpc_send_cancel(jm, t->slot->rpc_address, &ref, !orphan);
}

static int
jm_rpc_cancel_leftover(jm_server *jm, const jm_job *job, const jm_tm *tm,
                       const jm_task *t)
{
	jm_call_ref ref;
	jm_rpc_task_ref(jm, job, t, JM_CALL_CANCEL, &ref);
	snprintf(ref.tm_id, sizeof(ref.tm_id), "%s", tm->id);
	ref.leftover = true;
	return jm_rpc_send_cancel(jm, tm->rpc_address, &ref, true);
}

const jm_out jm_out_rpc = {
    .deploy = jm_rpc_deploy_task,
    .cancel = jm_rpc_cancel_task,
    .leftover = jm_rpc_cancel_leftover,
    .trigger = jm_rpc_trigger_checkpoint,
    .notify = jm_rpc_checkpoint_complete,
};
