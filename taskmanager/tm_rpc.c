/*
 * tm_rpc.c - translates control-plane Envelopes for the TaskManager: the
 * requests it sends to the JobManager and those it serves. The only
 * TaskManager file that sees protobuf types.
 */
#include "tm_int.h"

#include "err.h"
#include "mem.h"
#include "task.h"
#include "log.h"
#include "rpc.h"
#include "weir.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
tm_rpc_reply_ack(wr_rpc_req *req)
{
	Weir__Envelope rep = WEIR__ENVELOPE__INIT;
	Weir__Ack ack = WEIR__ACK__INIT;
	rep.body_case = WEIR__ENVELOPE__BODY_ACK;
	rep.ack = &ack;
	wr_rpc_req_reply(req, &rep);
}

/* Copies the TaskSpec into a plain struct; refuses what does not fit. */
static int
tm_rpc_task_spec(const Weir__DeployTask *d, tm_task_spec **out, char *errbuf,
                 size_t errlen)
{
	Weir__TaskSpec *ts =
	    weir__task_spec__unpack(NULL, d->task_spec.len, d->task_spec.data);
	if (ts == NULL || strlen(ts->job_id) >= sizeof((*out)->job_id) ||
	    strlen(d->task_id) >= sizeof((*out)->task_id)) {
		snprintf(errbuf, errlen, "malformed task spec");
		if (ts != NULL)
			weir__task_spec__free_unpacked(ts, NULL);
		return WR_EPROTO;
	}
	tm_task_spec *s = wr_xcalloc(1, sizeof(*s));
	snprintf(s->job_id, sizeof(s->job_id), "%s", ts->job_id);
	snprintf(s->task_id, sizeof(s->task_id), "%s", d->task_id);
	s->attempt = ts->attempt;
	s->slot = d->slot;
	s->job_yaml = wr_xstrdup(ts->job_yaml);
	s->file_name = wr_xstrdup(ts->file_name ? ts->file_name : "job");
	s->parallelism_override = (int)ts->parallelism_override;
	s->vertex = (int)ts->vertex;
	s->subtask = (int)ts->subtask;
	s->kafka_bootstrap =
	    ts->kafka_bootstrap ? wr_xstrdup(ts->kafka_bootstrap) : NULL;
	s->nlocs = (int)ts->n_locations;
	s->locs = wr_xcalloc(ts->n_locations, sizeof(*s->locs));
	for (size_t i = 0; i < ts->n_locations; i++) {
		const Weir__SubtaskLocation *l = ts->locations[i];
		s->locs[i].vertex = (int)l->vertex;
		s->locs[i].subtask = (int)l->subtask;
		snprintf(s->locs[i].data_address,
		         sizeof(s->locs[i].data_address), "%s",
		         l->data_address);
		snprintf(s->locs[i].taskmanager, sizeof(s->locs[i].taskmanager),
		         "%s", l->taskmanager);
	}
	weir__task_spec__free_unpacked(ts, NULL);
	*out = s;
	return WR_OK;
}

static void
tm_rpc_deploy(tm_server *tm, wr_rpc_req *req, const Weir__DeployTask *d)
{
	char err[512] = "";
	tm_task_spec *spec = NULL;
	int rv = tm_rpc_task_spec(d, &spec, err, sizeof(err));
	if (rv == WR_OK &&
	    (rv = tm_tasks_deploy(tm->tasks, spec, err, sizeof(err))) != WR_OK)
		tm_task_spec_free(spec);
	if (rv != WR_OK)
		wr_rpc_req_reply_error(req, rv, "%s", err);
	else
		tm_rpc_reply_ack(req);
}

void
tm_rpc_dispatch(tm_server *tm, wr_rpc_req *req)
{
	const Weir__Envelope *env = wr_rpc_req_env(req);
	switch (env->body_case) {
	case WEIR__ENVELOPE__BODY_PING: {
		Weir__Envelope rep = WEIR__ENVELOPE__INIT;
		Weir__Pong pong = WEIR__PONG__INIT;
		pong.tm_id = tm->id;
		rep.body_case = WEIR__ENVELOPE__BODY_PONG;
		rep.pong = &pong;
		wr_rpc_req_reply(req, &rep);
		return;
	}
	case WEIR__ENVELOPE__BODY_DEPLOY_TASK:
		tm_rpc_deploy(tm, req, env->deploy_task);
		return;
	case WEIR__ENVELOPE__BODY_CANCEL_TASK:
		if (tm_tasks_cancel(tm->tasks, env->cancel_task->job_id,
		                    env->cancel_task->task_id) != WR_OK)
			wr_rpc_req_reply_error(req, WR_ENOENT,
			                       "no task %s of job %s",
			                       env->cancel_task->task_id,
			                       env->cancel_task->job_id);
		else
			tm_rpc_reply_ack(req);
		return;
	default:
		wr_log(WR_LOG_WARN, "RPC-UNSUPPORTED",
		       "request kind %d is not served by this TaskManager",
		       (int)env->body_case);
		wr_rpc_req_reply_error(req, WR_ESTATE,
		                       "request kind %d is not served by this "
		                       "TaskManager",
		                       (int)env->body_case);
	}
}

void
tm_report_task_state(tm_server *tm, const tm_task_spec *spec, const char *state,
                     const char *failure)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__TaskStateUpdate body = WEIR__TASK_STATE_UPDATE__INIT;
	body.job_id = (char *)spec->job_id;
	body.task_id = (char *)spec->task_id;
	body.state = (char *)state;
	body.failure = (char *)failure;
	body.has_attempt = 1;
	body.attempt = spec->attempt;
	env.body_case = WEIR__ENVELOPE__BODY_TASK_STATE;
	env.task_state = &body;
	wr_msg *rep = NULL;
	char err[256] = "";
	int rv = wr_rpc_call(tm->jm_cli, &env, 5000, &rep, err, sizeof(err));
	wr_msg_free(rep);
	if (rv != WR_OK)
		wr_log(WR_LOG_WARN, "TASK-REPORT",
		       "job=%.8s task=%s %s: JobManager did not take it: %s %s",
		       spec->job_id, spec->task_id, state, wr_strerror(rv),
		       err);
}

int
tm_rpc_register(tm_server *tm, wr_rpc_client *cli, int timeout_ms,
                tm_jm_view *out, char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__RegisterTaskManager reg = WEIR__REGISTER_TASK_MANAGER__INIT;
	reg.tm_id = tm->id;
	reg.rpc_address = tm->rpc_address;
	reg.data_address = tm->data_address;
	reg.slots = tm->slots;
	reg.metrics_address = tm->metrics_address;
	reg.has_start_time_ms = 1;
	reg.start_time_ms = (uint64_t)tm->start_wall_ms;
	env.body_case = WEIR__ENVELOPE__BODY_REGISTER_TM;
	env.register_tm = &reg;
	wr_msg *rep = NULL;
	int rv = wr_rpc_call(cli, &env, timeout_ms, &rep, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	const Weir__Envelope *r = wr_msg_env(rep);
	if (r->body_case != WEIR__ENVELOPE__BODY_REGISTER_REPLY) {
		snprintf(errbuf, errlen, "unexpected reply kind %d",
		         (int)r->body_case);
		rv = WR_EPROTO;
		goto done;
	}
	snprintf(out->instance, sizeof(out->instance), "%s",
	         r->register_reply->jm_instance);
	out->heartbeat_interval_ms =
	    (int64_t)r->register_reply->heartbeat_interval_ms;
	out->heartbeat_timeout_ms =
	    (int64_t)r->register_reply->heartbeat_timeout_ms;
	out->known = true;
done:
	wr_msg_free(rep);
	return rv;
}

int
tm_rpc_heartbeat(tm_server *tm, wr_rpc_client *cli, int timeout_ms,
                 tm_jm_view *out, char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__Heartbeat hb = WEIR__HEARTBEAT__INIT;
	hb.tm_id = tm->id;
	hb.has_slots_free = 1;
	uint32_t used = tm_tasks_slots_used(tm->tasks);
	hb.slots_free = used < tm->slots ? tm->slots - used : 0;
	env.body_case = WEIR__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	wr_msg *rep = NULL;
	int rv = wr_rpc_call(cli, &env, timeout_ms, &rep, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	const Weir__Envelope *r = wr_msg_env(rep);
	if (r->body_case != WEIR__ENVELOPE__BODY_HEARTBEAT_REPLY) {
		snprintf(errbuf, errlen, "unexpected reply kind %d",
		         (int)r->body_case);
		rv = WR_EPROTO;
		goto done;
	}
	snprintf(out->instance, sizeof(out->instance), "%s",
	         r->heartbeat_reply->jm_instance);
	out->known = r->heartbeat_reply->known;
done:
	wr_msg_free(rep);
	return rv;
}
