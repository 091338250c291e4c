/*
 * ckpt_rpc.c - protobuf translation for checkpoints on the JobManager:
 * triggers and completion notices to TaskManagers (queued on the
 * TaskManager clients, tmclients.h), acks and declines from tasks.
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

static void
jm_rpc_ckpt_ref(const jm_server *jm, const jm_job *job, const jm_slot_ref *tm,
                enum jm_call_kind kind, uint64_t id, jm_call_ref *ref)
{
	memset(ref, 0, sizeof(*ref));
	ref->kind = kind;
	ref->epoch = jm->epoch;
	snprintf(ref->tm_id, sizeof(ref->tm_id), "%s", tm->tm_id);
	memcpy(ref->job_id, job->id, sizeof(ref->job_id));
	ref->attempt = job->attempt;
	ref->ckpt_id = id;
}

int
jm_rpc_trigger_checkpoint(jm_server *jm, const jm_job *job,
                          const jm_slot_ref *tm, const jm_ckpt_info *ck,
                          bool stop, bool drain)
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
	body.has_attempt = 1;
	body.attempt = job->attempt;
	env.body_case = WEIR__ENVELOPE__BODY_TRIGGER_CHECKPOINT;
	env.trigger_checkpoint = &body;
	jm_call_ref ref;
	jm_rpc_ckpt_ref(jm, job, tm, JM_CALL_TRIGGER, ck->id, &ref);
	return jm_tmc_send(jm->tmc, tm->rpc_address, &ref, &env,
	                   JM_CKPT_RPC_TIMEOUT_MS, true);
}

int
jm_rpc_checkpoint_complete(jm_server *jm, const jm_job *job,
                           const jm_slot_ref *tm, uint64_t id)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__CheckpointComplete body = WEIR__CHECKPOINT_COMPLETE__INIT;
	body.job_id = (char *)job->id;
	body.checkpoint_id = id;
	env.body_case = WEIR__ENVELOPE__BODY_CHECKPOINT_COMPLETE;
	env.checkpoint_complete = &body;
	jm_call_ref ref;
	jm_rpc_ckpt_ref(jm, job, tm, JM_CALL_NOTIFY, id, &ref);
	return jm_tmc_send(jm->tmc, tm->rpc_address, &ref, &env,
	                   JM_CKPT_RPC_TIMEOUT_MS, true);
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
		jm_ckpt_ack(
		    jm->jobs, m->job_id, m->task_id, m->checkpoint_id, part,
		    &(jm_ckpt_times){m->alignment_ms, m->sync_ms, m->async_ms},
		    m->size_bytes);
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
