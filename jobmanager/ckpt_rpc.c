/*
 * ckpt_rpc.c - protobuf translation for checkpoints on the JobManager:
 * triggers and completion notices to TaskManagers, acks and declines from
 * tasks.
 */
#include "ckpt.h"
#include "jm_int.h"

#include "ckpt_meta_pb.h"
#include "clock.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "rpc.h"
#include "weir.pb-c.h"
#include "wr_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Calls fn once per distinct TaskManager of the tasks pick selects. */
static int
jm_ckpt_each_tm(jm_server *jm, const jm_job *job, bool sources_only,
                Weir__Envelope *env, char *errbuf, size_t errlen)
{
	const char *seen[WR_MAX_TASKMANAGERS];
	size_t nseen = 0;
	int first = WR_OK;
	for (int i = 0; i < job->ntasks; i++) {
		const jm_task *t = &job->tasks[i];
		const wr_vertex *v = &job->plan->vertices[t->vertex];
		if (sources_only &&
		    job->spec->nodes[v->nodes[0]].kind != WR_NODE_SOURCE)
			continue;
		bool dup = false;
		for (size_t k = 0; k < nseen && !dup; k++)
			dup = strcmp(seen[k], t->slot->rpc_address) == 0;
		if (dup || nseen == WR_MAX_TASKMANAGERS)
			continue;
		seen[nseen++] = t->slot->rpc_address;
		wr_rpc_client *cli =
		    jm_tm_responsive(jm, t->slot->tm_id)
		        ? jm_tm_client_get(jm, t->slot->rpc_address)
		        : NULL;
		char err[256] = "";
		wr_msg *rep = NULL;
		int rv = cli == NULL
		             ? WR_EUNREACHABLE
		             : jm_tm_call(jm, cli, env, JM_CKPT_RPC_TIMEOUT_MS,
		                          &rep, err, sizeof(err));
		wr_msg_free(rep);
		/* a silent TaskManager counts as one that did not answer */
		jm_tm_call_failed(jm, t->slot->tm_id, rv);
		/* A real failure outranks "not every task runs" */
		if (rv != WR_OK && (first == WR_OK ||
		                    (first == WR_EAGAIN && rv != WR_EAGAIN))) {
			first = rv;
			snprintf(errbuf, errlen, "TaskManager %s: %s%s%s",
			         t->slot->tm_id, wr_strerror(rv),
			         err[0] ? ": " : "", err);
		}
	}
	return first;
}

int
jm_rpc_trigger_checkpoint(jm_server *jm, const jm_job *job,
                          const jm_ckpt_info *ck, bool stop, bool drain,
                          char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__TriggerCheckpoint body = WEIR__TRIGGER_CHECKPOINT__INIT;
	body.job_id = (char *)job->id;
	body.checkpoint_id = ck->id;
	body.timestamp_ms = (uint64_t)ck->trigger_wall_ms;
	body.has_is_savepoint = body.has_stop = body.has_drain = 1;
	body.is_savepoint = ck->is_savepoint;
	body.stop = stop;
	body.drain = drain;
	body.target_dir = (char *)ck->url;
	env.body_case = WEIR__ENVELOPE__BODY_TRIGGER_CHECKPOINT;
	env.trigger_checkpoint = &body;
	return jm_ckpt_each_tm(jm, job, true, &env, errbuf, errlen);
}

void
jm_rpc_checkpoint_complete(jm_server *jm, const jm_job *job, uint64_t id)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__CheckpointComplete body = WEIR__CHECKPOINT_COMPLETE__INIT;
	body.job_id = (char *)job->id;
	body.checkpoint_id = id;
	env.body_case = WEIR__ENVELOPE__BODY_CHECKPOINT_COMPLETE;
	env.checkpoint_complete = &body;
	char err[512] = "";
	if (jm_ckpt_each_tm(jm, job, false, &env, err, sizeof(err)) != WR_OK)
		wr_log(WR_LOG_WARN, "CKPT-NOTIFY", "job=%s checkpoint %llu: %s",
		       job->id, (unsigned long long)id, err);
}

static wr_ckpt_meta *
jm_ckpt_rpc_part(const Weir__AckCheckpoint *m)
{
	wr_ckpt_meta *part =
	    wr_ckpt_meta_new(m->job_id, "", m->checkpoint_id, 0, false, 1);
	for (size_t i = 0; i < m->n_state; i++)
		wr_ckpt_meta_add_pb_handle(part, m->state[i]);
	for (size_t i = 0; i < m->n_offsets; i++)
		wr_ckpt_meta_add_pb_offset(part, m->offsets[i]);
	return part;
}

bool
jm_ckpt_rpc_dispatch(jm_server *jm, wr_rpc_req *req)
{
	const Weir__Envelope *env = wr_rpc_req_env(req);
	switch (env->body_case) {
	case WEIR__ENVELOPE__BODY_ACK_CHECKPOINT: {
		const Weir__AckCheckpoint *m = env->ack_checkpoint;
		wr_ckpt_meta *part = jm_ckpt_rpc_part(m);
		jm_ckpt_ack(jm->jobs, m->job_id, m->task_id, m->checkpoint_id,
		            part, m->alignment_ms, m->size_bytes);
		wr_ckpt_meta_free(part);
		wr_rpc_req_reply_ack(req);
		return true;
	}
	case WEIR__ENVELOPE__BODY_DECLINE_CHECKPOINT: {
		const Weir__DeclineCheckpoint *m = env->decline_checkpoint;
		jm_ckpt_decline(jm->jobs, m->job_id, m->task_id,
		                m->checkpoint_id, m->reason);
		wr_rpc_req_reply_ack(req);
		return true;
	}
	default:
		return false;
	}
}

void
jm_tm_call_failed(jm_server *jm, const char *tm_id, int rv)
{
	if (rv == WR_ETIMEDOUT || rv == WR_EUNREACHABLE ||
	    rv == WR_ECONNREFUSED) {
		jm_tmreg_set_unreachable(jm->tms, tm_id);
		wr_log(WR_LOG_WARN, "TM-UNREACHABLE",
		       "%s did not answer (%s): not called again before its "
		       "next heartbeat",
		       tm_id, wr_strerror(rv));
	}
}

bool
jm_tm_reachable(jm_server *jm, const char *tm_id)
{
	return jm_tmreg_responsive(jm->tms, tm_id, 0, 0);
}

bool
jm_tm_responsive(jm_server *jm, const char *tm_id)
{
	return jm_tmreg_responsive(jm->tms, tm_id, wr_mono_ms(),
	                           2 * jm->cfg.jm_heartbeat_interval_ms + 200);
}
