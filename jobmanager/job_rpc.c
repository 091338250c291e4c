/*
 * job_rpc.c - protobuf translation for jobs: the CLI's job requests
 * (submit, list, info, cancel), TaskManagers' task state reports, and the
 * DeployTask / CancelTask requests the JobManager sends.
 */
#include "jm_int.h"

#include "err.h"
#include "log.h"
#include "mem.h"
#include "rpc.h"
#include "weir.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deploy and cancel calls wait at most this long for a TaskManager. */
#define JM_TASK_RPC_TIMEOUT_MS 5000

wr_rpc_client *
jm_tm_client_get(jm_server *jm, const char *address)
{
	for (size_t i = 0; i < jm->nclients; i++)
		if (strcmp(jm->clients[i].address, address) == 0)
			return jm->clients[i].cli;
	if (jm->nclients == JM_MAX_TM_CLIENTS)
		return NULL;
	wr_rpc_client *cli;
	if (wr_rpc_client_new(address, 0, &cli) != WR_OK)
		return NULL;
	jm_tm_client *c = &jm->clients[jm->nclients++];
	snprintf(c->address, sizeof(c->address), "%s", address);
	c->cli = cli;
	return cli;
}

static void
jm_rpc_reply_ack(wr_rpc_req *req)
{
	Weir__Envelope rep = WEIR__ENVELOPE__INIT;
	Weir__Ack ack = WEIR__ACK__INIT;
	rep.body_case = WEIR__ENVELOPE__BODY_ACK;
	rep.ack = &ack;
	wr_rpc_req_reply(req, &rep);
}

static void
jm_rpc_submit(jm_server *jm, wr_rpc_req *req, const Weir__SubmitJob *m)
{
	char id[33], err[1024] = "";
	jm_submit_opts o = {
	    .file = m->file_name && *m->file_name ? m->file_name : "job",
	    .yaml = m->job_yaml,
	    .parallelism_override =
	        m->has_parallelism ? (int)m->parallelism : 0,
	    .from_savepoint = m->from_savepoint && *m->from_savepoint
	                          ? m->from_savepoint
	                          : NULL,
	    .allow_non_restored =
	        m->has_allow_non_restored_state && m->allow_non_restored_state,
	};
	int rv = jm_jobs_submit(jm->jobs, &o, id, err, sizeof(err));
	if (rv != WR_OK) {
		wr_rpc_req_reply_error(req, rv, "%s", err);
		return;
	}
	Weir__Envelope rep = WEIR__ENVELOPE__INIT;
	Weir__SubmitJobReply body = WEIR__SUBMIT_JOB_REPLY__INIT;
	body.job_id = id;
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
	int nv = job->plan->nvertices;
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
	body.n_vertices = (size_t)job->plan->nvertices;
	body.vertices = mem.vptrs;
	body.failure = job->failure;
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
	char err[512];
	int rv = jm_jobs_cancel(jm->jobs, m->job_id, err, sizeof(err));
	if (rv != WR_OK)
		wr_rpc_req_reply_error(req, rv, "%s", err);
	else
		jm_rpc_reply_ack(req);
}

static int
jm_rpc_task_state_parse(const char *s)
{
	for (int i = JM_TASK_DEPLOYING; i <= JM_TASK_FAILED; i++)
		if (strcmp(s, jm_task_state_name(i)) == 0)
			return i;
	return -1;
}

static void
jm_rpc_task_state(jm_server *jm, wr_rpc_req *req,
                  const Weir__TaskStateUpdate *m)
{
	int st = jm_rpc_task_state_parse(m->state);
	if (st < 0) {
		wr_rpc_req_reply_error(req, WR_EINVAL,
		                       "unknown task state '%s'", m->state);
		return;
	}
	/* Handle, then answer: the reply frees m. Handling a failure may
	 * call back into the reporting TaskManager (CancelTask); that is
	 * served by its main thread, not the task thread waiting here. */
	jm_jobs_task_state(jm->jobs, m->job_id,
	                   m->has_attempt ? (uint32_t)m->attempt : 0,
	                   m->task_id, (enum jm_task_state)st, m->failure);
	jm_rpc_reply_ack(req);
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
	default:
		return false;
	}
}

/* Packs the TaskSpec of task t into a heap buffer. */
static uint8_t *
jm_rpc_task_spec(jm_server *jm, const jm_job *job, const jm_task *t,
                 size_t *len)
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
	ts.kafka_bootstrap = jm->cfg.kafka_bootstrap;
	*len = weir__task_spec__get_packed_size(&ts);
	uint8_t *buf = wr_xmalloc(*len);
	weir__task_spec__pack(&ts, buf);
	free(lptrs);
	free(locs);
	return buf;
}

int
jm_rpc_deploy_task(jm_server *jm, const jm_job *job, const jm_task *t,
                   char *errbuf, size_t errlen)
{
	wr_rpc_client *cli = jm_tm_client_get(jm, t->slot->rpc_address);
	char task_id[32];
	if (cli == NULL) {
		snprintf(errbuf, errlen, "cannot reach TaskManager %s",
		         t->slot->tm_id);
		return WR_EUNREACHABLE;
	}
	snprintf(task_id, sizeof(task_id), "%d/%d", t->vertex, t->subtask);
	size_t len;
	uint8_t *spec = jm_rpc_task_spec(jm, job, t, &len);
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__DeployTask body = WEIR__DEPLOY_TASK__INIT;
	body.job_id = (char *)job->id;
	body.task_id = task_id;
	body.slot = t->slot->index;
	body.task_spec.data = spec;
	body.task_spec.len = len;
	body.has_attempt = 1;
	body.attempt = job->attempt;
	env.body_case = WEIR__ENVELOPE__BODY_DEPLOY_TASK;
	env.deploy_task = &body;
	wr_msg *rep = NULL;
	char err[512] = "";
	int rv = wr_rpc_call(cli, &env, JM_TASK_RPC_TIMEOUT_MS, &rep, err,
	                     sizeof(err));
	free(spec);
	wr_msg_free(rep);
	if (rv != WR_OK)
		snprintf(errbuf, errlen, "task %s on %s: %s%s%s", task_id,
		         t->slot->tm_id, wr_strerror(rv), err[0] ? ": " : "",
		         err);
	return rv;
}

int
jm_rpc_cancel_task(jm_server *jm, const jm_job *job, const jm_task *t)
{
	wr_rpc_client *cli = jm_tm_client_get(jm, t->slot->rpc_address);
	if (cli == NULL)
		return WR_EUNREACHABLE;
	char task_id[32], err[256] = "";
	snprintf(task_id, sizeof(task_id), "%d/%d", t->vertex, t->subtask);
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__CancelTask body = WEIR__CANCEL_TASK__INIT;
	body.job_id = (char *)job->id;
	body.task_id = task_id;
	env.body_case = WEIR__ENVELOPE__BODY_CANCEL_TASK;
	env.cancel_task = &body;
	wr_msg *rep = NULL;
	int rv = wr_rpc_call(cli, &env, JM_TASK_RPC_TIMEOUT_MS, &rep, err,
	                     sizeof(err));
	wr_msg_free(rep);
	if (rv != WR_OK)
		wr_log(WR_LOG_WARN, "JOB-CANCEL-TASK",
		       "job=%s task %s on %s: %s", job->id, task_id,
		       t->slot->tm_id, wr_strerror(rv));
	return rv;
}
