/*
 * cli_rpc.c - the CLI's protobuf translation: builds requests, copies
 * replies into plain structs. The only CLI file besides local_rpc.c that
 * sees protobuf types.
 */
#include "cli_rpc.h"

#include "buf.h"
#include "ckpt_json.h"
#include "err.h"
#include "mem.h"
#include "rpc.h"
#include "weir.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
cli_copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

int
cli_rpc_cluster_info(wr_rpc_client *cli, int timeout_ms, cli_cluster_info *out,
                     char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__ClusterInfoRequest body = WEIR__CLUSTER_INFO_REQUEST__INIT;
	env.body_case = WEIR__ENVELOPE__BODY_CLUSTER_INFO_REQ;
	env.cluster_info_req = &body;
	wr_msg *rep = NULL;
	memset(out, 0, sizeof(*out));
	int rv = wr_rpc_call(cli, &env, timeout_ms, &rep, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	const Weir__Envelope *r = wr_msg_env(rep);
	if (r->body_case != WEIR__ENVELOPE__BODY_CLUSTER_INFO) {
		snprintf(errbuf, errlen, "unexpected reply kind %d",
		         (int)r->body_case);
		wr_msg_free(rep);
		return WR_EPROTO;
	}
	const Weir__ClusterInfo *ci = r->cluster_info;
	cli_copy(out->leader, sizeof(out->leader), ci->leader);
	/* A JobManager without HA fields leads (there is no other). */
	cli_copy(out->role, sizeof(out->role), ci->role ? ci->role : "leader");
	out->epoch = ci->has_epoch ? ci->epoch : 0;
	out->n = ci->n_taskmanagers;
	out->tms = wr_xcalloc(out->n, sizeof(cli_tm));
	for (size_t i = 0; i < out->n; i++) {
		const Weir__TaskManagerInfo *t = ci->taskmanagers[i];
		cli_tm *o = &out->tms[i];
		cli_copy(o->id, sizeof(o->id), t->id);
		cli_copy(o->address, sizeof(o->address), t->address);
		cli_copy(o->state, sizeof(o->state), t->state);
		o->slots_total = t->slots_total;
		o->slots_free = t->slots_free;
		o->last_heartbeat_ms_ago = t->last_heartbeat_ms_ago;
	}
	wr_msg_free(rep);
	return WR_OK;
}

void
cli_cluster_info_fini(cli_cluster_info *ci)
{
	free(ci->tms);
	ci->tms = NULL;
	ci->n = 0;
}

int
cli_rpc_create_topic(wr_rpc_client *cli, int timeout_ms, const char *name,
                     int partitions, char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__CreateTopic body = WEIR__CREATE_TOPIC__INIT;
	body.name = (char *)name;
	body.partitions = partitions;
	env.body_case = WEIR__ENVELOPE__BODY_CREATE_TOPIC;
	env.create_topic = &body;
	wr_msg *rep = NULL;
	int rv = wr_rpc_call(cli, &env, timeout_ms, &rep, errbuf, errlen);
	wr_msg_free(rep);
	return rv;
}

int
cli_rpc_delete_topic(wr_rpc_client *cli, int timeout_ms, const char *name,
                     char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__DeleteTopic body = WEIR__DELETE_TOPIC__INIT;
	body.name = (char *)name;
	env.body_case = WEIR__ENVELOPE__BODY_DELETE_TOPIC;
	env.delete_topic = &body;
	wr_msg *rep = NULL;
	int rv = wr_rpc_call(cli, &env, timeout_ms, &rep, errbuf, errlen);
	wr_msg_free(rep);
	return rv;
}

/* Calls the JobManager and checks the reply's kind. On WR_OK *rep is the
 * caller's; on failure there is nothing to free. */
static int
cli_rpc_expect(wr_rpc_client *cli, Weir__Envelope *env, int timeout_ms,
               Weir__Envelope__BodyCase want, wr_msg **rep, char *errbuf,
               size_t errlen)
{
	*rep = NULL;
	int rv = wr_rpc_call(cli, env, timeout_ms, rep, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	Weir__Envelope__BodyCase got = wr_msg_env(*rep)->body_case;
	if (got != want) {
		snprintf(errbuf, errlen, "unexpected reply kind %d (wanted %d)",
		         (int)got, (int)want);
		wr_msg_free(*rep);
		*rep = NULL;
		return WR_EPROTO;
	}
	return WR_OK;
}

int
cli_rpc_submit_job(wr_rpc_client *cli, int timeout_ms, const cli_submit *req,
                   char job_id[WR_ID_BYTES], char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__SubmitJob body = WEIR__SUBMIT_JOB__INIT;
	body.job_yaml = (char *)req->job_yaml;
	body.file_name = (char *)req->file_name;
	body.has_parallelism = req->parallelism > 0;
	body.parallelism = req->parallelism;
	body.from_savepoint = (char *)req->from_savepoint;
	body.has_allow_non_restored_state = req->allow_non_restored_state;
	body.allow_non_restored_state = req->allow_non_restored_state;
	env.body_case = WEIR__ENVELOPE__BODY_SUBMIT_JOB;
	env.submit_job = &body;
	wr_msg *rep;
	job_id[0] = '\0';
	int rv = cli_rpc_expect(cli, &env, timeout_ms,
	                        WEIR__ENVELOPE__BODY_SUBMIT_JOB_REPLY, &rep,
	                        errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	cli_copy(job_id, WR_ID_BYTES,
	         wr_msg_env(rep)->submit_job_reply->job_id);
	wr_msg_free(rep);
	return WR_OK;
}

static void
cli_rpc_summary(const Weir__JobSummary *s, cli_job_summary *o)
{
	cli_copy(o->id, sizeof(o->id), s->id);
	o->name = wr_xstrdup(s->name ? s->name : "");
	cli_copy(o->state, sizeof(o->state), s->state);
	o->start_time_ms = s->start_time_ms;
	o->end_time_ms = s->has_end_time_ms ? s->end_time_ms : 0;
	cli_copy(o->spec_hash, sizeof(o->spec_hash), s->spec_hash);
}

int
cli_rpc_list_jobs(wr_rpc_client *cli, int timeout_ms, bool all,
                  cli_job_list *out, char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__ListJobs body = WEIR__LIST_JOBS__INIT;
	body.has_all = all;
	body.all = all;
	env.body_case = WEIR__ENVELOPE__BODY_LIST_JOBS;
	env.list_jobs = &body;
	wr_msg *rep;
	memset(out, 0, sizeof(*out));
	int rv =
	    cli_rpc_expect(cli, &env, timeout_ms, WEIR__ENVELOPE__BODY_JOB_LIST,
	                   &rep, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	const Weir__JobList *l = wr_msg_env(rep)->job_list;
	out->n = l->n_jobs;
	out->jobs = wr_xcalloc(out->n, sizeof(cli_job_summary));
	for (size_t i = 0; i < out->n; i++)
		cli_rpc_summary(l->jobs[i], &out->jobs[i]);
	wr_msg_free(rep);
	return WR_OK;
}

void
cli_job_list_fini(cli_job_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->jobs[i].name);
	free(l->jobs);
	l->jobs = NULL;
	l->n = 0;
}

static void
cli_rpc_vertex(const Weir__VertexInfo *vi, cli_vertex *o)
{
	o->id = wr_xstrdup(vi->id ? vi->id : "");
	o->name = wr_xstrdup(vi->name ? vi->name : "");
	o->parallelism = vi->parallelism;
	o->nsubtasks = vi->n_subtasks;
	o->subtasks = wr_xcalloc(o->nsubtasks, sizeof(cli_subtask));
	for (size_t s = 0; s < o->nsubtasks; s++) {
		const Weir__SubtaskInfo *si = vi->subtasks[s];
		cli_subtask *d = &o->subtasks[s];
		d->index = si->index;
		cli_copy(d->state, sizeof(d->state), si->state);
		cli_copy(d->taskmanager, sizeof(d->taskmanager),
		         si->taskmanager);
	}
}

int
cli_rpc_job_info(wr_rpc_client *cli, int timeout_ms, const char *job_id,
                 cli_job_info *out, char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__JobInfoRequest body = WEIR__JOB_INFO_REQUEST__INIT;
	body.job_id = (char *)job_id;
	env.body_case = WEIR__ENVELOPE__BODY_JOB_INFO_REQ;
	env.job_info_req = &body;
	wr_msg *rep;
	memset(out, 0, sizeof(*out));
	int rv =
	    cli_rpc_expect(cli, &env, timeout_ms, WEIR__ENVELOPE__BODY_JOB_INFO,
	                   &rep, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	const Weir__JobInfo *ji = wr_msg_env(rep)->job_info;
	cli_rpc_summary(ji->summary, &out->summary);
	if (ji->failure != NULL && ji->failure[0] != '\0')
		out->failure = wr_xstrdup(ji->failure);
	out->has_last_checkpoint = ji->has_last_checkpoint_id;
	out->last_checkpoint_id = ji->last_checkpoint_id;
	out->nvertices = ji->n_vertices;
	out->vertices = wr_xcalloc(out->nvertices, sizeof(cli_vertex));
	for (size_t v = 0; v < out->nvertices; v++)
		cli_rpc_vertex(ji->vertices[v], &out->vertices[v]);
	wr_msg_free(rep);
	return WR_OK;
}

void
cli_job_info_fini(cli_job_info *ji)
{
	for (size_t v = 0; v < ji->nvertices; v++) {
		free(ji->vertices[v].id);
		free(ji->vertices[v].name);
		free(ji->vertices[v].subtasks);
	}
	free(ji->vertices);
	free(ji->summary.name);
	free(ji->failure);
	memset(ji, 0, sizeof(*ji));
}

int
cli_rpc_cancel_job(wr_rpc_client *cli, int timeout_ms, const char *job_id,
                   char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__CancelJob body = WEIR__CANCEL_JOB__INIT;
	body.job_id = (char *)job_id;
	env.body_case = WEIR__ENVELOPE__BODY_CANCEL_JOB;
	env.cancel_job = &body;
	wr_msg *rep;
	int rv = cli_rpc_expect(cli, &env, timeout_ms, WEIR__ENVELOPE__BODY_ACK,
	                        &rep, errbuf, errlen);
	wr_msg_free(rep);
	return rv;
}

int
cli_rpc_savepoint(wr_rpc_client *cli, int timeout_ms, const char *job_id,
                  const char *dir, bool stop, bool drain, uint64_t *id,
                  char *path, size_t pathlen, char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__TriggerSavepoint body = WEIR__TRIGGER_SAVEPOINT__INIT;
	body.job_id = (char *)job_id;
	body.target_dir = (char *)dir;
	body.has_stop = body.has_drain = 1;
	body.stop = stop;
	body.drain = drain;
	env.body_case = WEIR__ENVELOPE__BODY_TRIGGER_SAVEPOINT;
	env.trigger_savepoint = &body;
	wr_msg *rep;
	*id = 0;
	path[0] = '\0';
	int rv = cli_rpc_expect(cli, &env, timeout_ms,
	                        WEIR__ENVELOPE__BODY_SAVEPOINT_REPLY, &rep,
	                        errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	const Weir__SavepointReply *sp = wr_msg_env(rep)->savepoint_reply;
	cli_copy(path, pathlen, sp->path);
	*id = sp->checkpoint_id;
	wr_msg_free(rep);
	return WR_OK;
}

static void
cli_rpc_ckpt(const Weir__CheckpointInfo *c, cli_ckpt *o)
{
	o->id = c->id;
	cli_copy(o->status, sizeof(o->status), c->status);
	o->is_savepoint = c->has_is_savepoint && c->is_savepoint;
	o->trigger_time_ms = c->trigger_time_ms;
	o->duration_ms = c->duration_ms;
	o->size_bytes = c->size_bytes;
	o->alignment_ms = c->alignment_ms;
	o->acks = c->acks;
	o->tasks = c->tasks;
	o->path = wr_xstrdup(c->path ? c->path : "");
	if (c->failure != NULL && c->failure[0] != '\0')
		o->failure = wr_xstrdup(c->failure);
}

int
cli_rpc_checkpoints(wr_rpc_client *cli, int timeout_ms, const char *job_id,
                    cli_ckpt_list *out, char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__CheckpointListRequest body = WEIR__CHECKPOINT_LIST_REQUEST__INIT;
	body.job_id = (char *)job_id;
	env.body_case = WEIR__ENVELOPE__BODY_CHECKPOINT_LIST_REQ;
	env.checkpoint_list_req = &body;
	wr_msg *rep;
	memset(out, 0, sizeof(*out));
	int rv = cli_rpc_expect(cli, &env, timeout_ms,
	                        WEIR__ENVELOPE__BODY_CHECKPOINT_LIST, &rep,
	                        errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	const Weir__CheckpointList *l = wr_msg_env(rep)->checkpoint_list;
	out->completed = l->completed;
	out->failed = l->failed;
	out->in_progress = l->in_progress;
	out->restarts = l->restarts;
	out->restored_id = l->restored_id;
	if (l->restored_path != NULL && l->restored_path[0] != '\0')
		out->restored_path = wr_xstrdup(l->restored_path);
	out->n = l->n_checkpoints;
	out->v = wr_xcalloc(out->n, sizeof(cli_ckpt));
	for (size_t i = 0; i < out->n; i++)
		cli_rpc_ckpt(l->checkpoints[i], &out->v[i]);
	wr_buf b;
	wr_json j;
	wr_buf_init(&b);
	wr_json_init(&j, &b);
	wr_ckpt_list_json(&j, l);
	out->json = wr_buf_steal(&b);
	wr_buf_fini(&b);
	wr_msg_free(rep);
	return WR_OK;
}

void
cli_ckpt_list_fini(cli_ckpt_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].failure);
	}
	free(l->v);
	free(l->restored_path);
	free(l->json);
	memset(l, 0, sizeof(*l));
}

static void
cli_rpc_upgrade_copy(const Weir__UpgradeStatus *u, cli_upgrade_status *o)
{
	o->id = u->upgrade_id;
	o->nsteps = u->n_steps;
	o->steps = wr_xcalloc(o->nsteps + 1, sizeof(char *));
	for (size_t i = 0; i < o->nsteps; i++)
		o->steps[i] = wr_xstrdup(u->steps[i] ? u->steps[i] : "");
	o->done = u->has_done && u->done;
	o->ok = u->has_ok && u->ok;
	o->rolled_back = u->has_rolled_back && u->rolled_back;
	cli_copy(o->job_id, sizeof(o->job_id), u->job_id);
	cli_copy(o->savepoint, sizeof(o->savepoint), u->savepoint);
	if (u->error != NULL && u->error[0] != '\0')
		o->error = wr_xstrdup(u->error);
}

static int
cli_rpc_upgrade_call(wr_rpc_client *cli, Weir__Envelope *env, int timeout_ms,
                     cli_upgrade_status *out, char *errbuf, size_t errlen)
{
	wr_msg *rep;
	memset(out, 0, sizeof(*out));
	int rv = cli_rpc_expect(cli, env, timeout_ms,
	                        WEIR__ENVELOPE__BODY_UPGRADE_STATUS, &rep,
	                        errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	cli_rpc_upgrade_copy(wr_msg_env(rep)->upgrade_status, out);
	wr_msg_free(rep);
	return WR_OK;
}

int
cli_rpc_upgrade(wr_rpc_client *cli, int timeout_ms, const cli_upgrade_req *req,
                cli_upgrade_status *out, char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__UpgradeJob body = WEIR__UPGRADE_JOB__INIT;
	body.job_id = (char *)req->job_id;
	body.job_yaml = (char *)req->job_yaml;
	body.file_name = (char *)req->file_name;
	body.mode = (char *)req->mode;
	body.has_parallelism = req->parallelism > 0;
	body.parallelism = req->parallelism;
	body.has_allow_non_restored_state = req->allow_non_restored_state;
	body.allow_non_restored_state = req->allow_non_restored_state;
	body.savepoint_dir = (char *)req->savepoint_dir;
	env.body_case = WEIR__ENVELOPE__BODY_UPGRADE_JOB;
	env.upgrade_job = &body;
	return cli_rpc_upgrade_call(cli, &env, timeout_ms, out, errbuf, errlen);
}

int
cli_rpc_upgrade_status(wr_rpc_client *cli, int timeout_ms, uint64_t id,
                       cli_upgrade_status *out, char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__UpgradeStatusRequest body = WEIR__UPGRADE_STATUS_REQUEST__INIT;
	body.upgrade_id = id;
	env.body_case = WEIR__ENVELOPE__BODY_UPGRADE_STATUS_REQ;
	env.upgrade_status_req = &body;
	return cli_rpc_upgrade_call(cli, &env, timeout_ms, out, errbuf, errlen);
}

void
cli_upgrade_status_fini(cli_upgrade_status *st)
{
	for (size_t i = 0; i < st->nsteps; i++)
		free(st->steps[i]);
	free(st->steps);
	free(st->error);
	memset(st, 0, sizeof(*st));
}
