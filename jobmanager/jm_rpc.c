/*
 * jm_rpc.c - translates control-plane Envelopes into JobManager calls and
 * back: TaskManager registration and heartbeats (with the adoption answer:
 * which reported tasks the JobManager keeps, by the loop's job state,
 * jm_jobs_keeps), the cluster overview; job and checkpoint requests go on
 * to job_rpc.c and ckpt_rpc.c. Requests to TaskManagers carry the epoch
 * from tmclients.c (jm_tmc_send); the replies here carry it too.
 */
#include "ha.h"
#include "jm_int.h"

#include "clock.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "rpc.h"
#include "weir.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies a peer-supplied string into a fixed field, refusing overlong ones
 * rather than truncating them silently. */
static int
jm_rpc_copy(char *dst, size_t dstlen, const char *src)
{
	if (src == NULL || strlen(src) >= dstlen)
		return WR_EINVAL;
	memcpy(dst, src, strlen(src) + 1);
	return WR_OK;
}

/* Replies to a TaskManager carry the epoch too: a TaskManager takes the
 * adoption answer only from a leader not older than one it has seen. */
static void
jm_rpc_reply_tm(jm_server *jm, wr_rpc_req *req, Weir__Envelope *rep)
{
	rep->has_epoch = jm->epoch != 0;
	rep->epoch = jm->epoch;
	wr_rpc_req_reply(req, rep);
}

/* What a heartbeat says a task did (not valid when it says nothing). */
static void
jm_rpc_task_stats(const Weir__SlotState *t, jm_task_stats *st)
{
	st->valid = t->has_records_in && t->has_records_out &&
	            t->has_backpressured_ratio && t->has_idle_ratio &&
	            t->has_busy_ratio;
	st->records_in = t->records_in;
	st->records_out = t->records_out;
	st->backpressured = t->backpressured_ratio;
	st->idle = t->idle_ratio;
	st->busy = t->busy_ratio;
	st->has_wm = t->has_watermark_ms;
	st->wm = t->watermark_ms;
}

/* The kept subset of tasks (pointers into the request); the caller
 * frees *out. Logs the others. */
static size_t
jm_rpc_keep_list(jm_server *jm, const char *tm_id, Weir__SlotState **tasks,
                 size_t n, Weir__SlotState ***out)
{
	size_t k = 0;
	*out = wr_xcalloc(n + 1, sizeof(**out));
	for (size_t i = 0; i < n; i++) {
		const Weir__SlotState *t = tasks[i];
		jm_task_report r = {.job_id = t->job_id,
		                    .task_id = t->task_id,
		                    .attempt = t->attempt,
		                    .slot = t->index};
		if (t->has_attempt && jm_jobs_keeps(jm->jobs, tm_id, &r)) {
			jm_rpc_task_stats(t, &r.stats);
			jm_jobs_task_stats(jm->jobs, &r);
			(*out)[k++] = tasks[i];
			continue;
		}
		wr_log(WR_LOG_WARN, "TM-TASK-NOT-KEPT",
		       "TaskManager %s runs task %s of job %s attempt %llu, "
		       "which this JobManager does not run there: it cancels "
		       "it",
		       tm_id, tasks[i]->task_id ? tasks[i]->task_id : "?",
		       tasks[i]->job_id ? tasks[i]->job_id : "?",
		       (unsigned long long)tasks[i]->attempt);
	}
	return k;
}

/* The tasks a registering TaskManager says ended there lately. */
static void
jm_rpc_ended(jm_server *jm, Weir__SlotState **ended, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const Weir__SlotState *t = ended[i];
		enum jm_task_state st;
		if (!t->has_attempt || t->end_state == NULL ||
		    jm_task_state_parse(t->end_state, &st) != WR_OK)
			continue;
		jm_task_report r = {.job_id = t->job_id,
		                    .task_id = t->task_id,
		                    .attempt = t->attempt,
		                    .slot = t->index};
		jm_jobs_task_ended(jm->jobs, &r, st, t->failure);
	}
}

static void
jm_rpc_register(jm_server *jm, wr_rpc_req *req,
                const Weir__RegisterTaskManager *m)
{
	jm_tm tm;
	memset(&tm, 0, sizeof(tm));
	if (m->slots == 0 || m->slots > WR_MAX_SLOTS_PER_TM ||
	    jm_rpc_copy(tm.id, sizeof(tm.id), m->tm_id) != WR_OK ||
	    m->tm_id[0] == '\0' ||
	    jm_rpc_copy(tm.rpc_address, sizeof(tm.rpc_address),
	                m->rpc_address) != WR_OK ||
	    jm_rpc_copy(tm.data_address, sizeof(tm.data_address),
	                m->data_address) != WR_OK ||
	    jm_rpc_copy(tm.metrics_address, sizeof(tm.metrics_address),
	                m->metrics_address ? m->metrics_address : "") !=
	        WR_OK) {
		wr_log(WR_LOG_WARN, "TM-REGISTER-REFUSED",
		       "invalid registration (slots=%u)", m->slots);
		wr_rpc_req_reply_error(req, WR_EINVAL,
		                       "invalid registration: slots must be "
		                       "1..%d, ids and addresses non-empty and "
		                       "shorter than %d bytes",
		                       WR_MAX_SLOTS_PER_TM, WR_ADDR_BYTES);
		return;
	}
	tm.slots_total = m->slots;
	tm.slots_free = m->slots;
	tm.registered_wall_ms = wr_wall_ms();
	tm.pipe = wr_rpc_req_pipe(req);
	int rv = jm_tmreg_register(jm->tms, &tm, wr_mono_ms());
	if (rv != WR_OK) {
		wr_rpc_req_reply_error(req, rv, "cannot register %s: %s", tm.id,
		                       wr_strerror(rv));
		return;
	}
	Weir__Envelope rep = WEIR__ENVELOPE__INIT;
	Weir__RegisterReply body = WEIR__REGISTER_REPLY__INIT;
	body.jm_instance = jm->instance;
	body.heartbeat_interval_ms = (uint64_t)jm->cfg.jm_heartbeat_interval_ms;
	body.heartbeat_timeout_ms = (uint64_t)jm->cfg.jm_heartbeat_timeout_ms;
	body.n_keep =
	    jm_rpc_keep_list(jm, tm.id, m->tasks, m->n_tasks, &body.keep);
	jm_rpc_ended(jm, m->ended, m->n_ended);
	rep.body_case = WEIR__ENVELOPE__BODY_REGISTER_REPLY;
	rep.register_reply = &body;
	jm_rpc_reply_tm(jm, req, &rep);
	free(body.keep);
}

static void
jm_rpc_heartbeat(jm_server *jm, wr_rpc_req *req, const Weir__Heartbeat *m)
{
	bool known = jm_tmreg_heartbeat(jm->tms, m->tm_id, wr_mono_ms());
	if (known)
		jm_tmreg_set_pipe(jm->tms, m->tm_id, wr_rpc_req_pipe(req));
	uint64_t in = 0, out = 0;
	for (size_t i = 0; i < m->n_slots; i++) {
		in += m->slots[i]->records_in;
		out += m->slots[i]->records_out;
	}
	if (known)
		jm_tmreg_set_load(jm->tms, m->tm_id, (uint32_t)m->n_slots, in,
		                  out);
	Weir__Envelope rep = WEIR__ENVELOPE__INIT;
	Weir__HeartbeatReply body = WEIR__HEARTBEAT_REPLY__INIT;
	body.jm_instance = jm->instance;
	body.known = known;
	/* An unknown TaskManager registers again and is answered then. */
	body.n_keep = known ? jm_rpc_keep_list(jm, m->tm_id, m->slots,
	                                       m->n_slots, &body.keep)
	                    : 0;
	rep.body_case = WEIR__ENVELOPE__BODY_HEARTBEAT_REPLY;
	rep.heartbeat_reply = &body;
	jm_rpc_reply_tm(jm, req, &rep);
	free(body.keep);
}

static void
jm_rpc_cluster_info(jm_server *jm, wr_rpc_req *req)
{
	static jm_tm snap[WR_MAX_TASKMANAGERS]; /* main thread only */
	size_t n = jm_tmreg_snapshot(jm->tms, snap, WR_MAX_TASKMANAGERS);
	Weir__TaskManagerInfo *infos = wr_xcalloc(n, sizeof(*infos));
	Weir__TaskManagerInfo **ptrs = wr_xcalloc(n, sizeof(*ptrs));
	int64_t now = wr_mono_ms();
	for (size_t i = 0; i < n; i++) {
		Weir__TaskManagerInfo *t = &infos[i];
		weir__task_manager_info__init(t);
		t->id = snap[i].id;
		t->address = snap[i].rpc_address;
		t->state = snap[i].alive ? "alive" : "lost";
		t->slots_total = snap[i].slots_total;
		t->slots_free = snap[i].alive ? snap[i].slots_free : 0;
		t->data_address = snap[i].data_address;
		t->metrics_address = snap[i].metrics_address;
		t->has_last_heartbeat_ms_ago = 1;
		t->last_heartbeat_ms_ago =
		    (uint64_t)(now - snap[i].last_heartbeat_ms);
		ptrs[i] = t;
	}
	Weir__Envelope rep = WEIR__ENVELOPE__INIT;
	Weir__ClusterInfo body = WEIR__CLUSTER_INFO__INIT;
	char leader[WR_ADDR_BYTES];
	jm_ha_leader(jm, leader, sizeof(leader));
	body.leader = leader;
	body.jm_instance = jm->instance;
	body.has_epoch = jm_ha_leading(jm);
	body.epoch = jm->epoch;
	body.role = jm_ha_leading(jm) ? "leader" : "standby";
	body.n_taskmanagers = n;
	body.taskmanagers = ptrs;
	rep.body_case = WEIR__ENVELOPE__BODY_CLUSTER_INFO;
	rep.cluster_info = &body;
	wr_rpc_req_reply(req, &rep);
	free(ptrs);
	free(infos);
}

void
jm_rpc_dispatch(jm_server *jm, wr_rpc_req *req)
{
	const Weir__Envelope *env = wr_rpc_req_env(req);
	/* A standby serves only ClusterInfo (who leads); everything else is
	 * pointed at the leader, whose address clients parse (ha.h). */
	if (!jm_ha_leading(jm) &&
	    env->body_case != WEIR__ENVELOPE__BODY_CLUSTER_INFO_REQ) {
		char msg[WR_ADDR_BYTES + 64];
		jm_ha_not_leader(jm, msg, sizeof(msg));
		wr_rpc_req_reply_error(req, WR_EAGAIN, "%s", msg);
		return;
	}
	switch (env->body_case) {
	case WEIR__ENVELOPE__BODY_REGISTER_TM:
		jm_rpc_register(jm, req, env->register_tm);
		break;
	case WEIR__ENVELOPE__BODY_HEARTBEAT:
		jm_rpc_heartbeat(jm, req, env->heartbeat);
		break;
	case WEIR__ENVELOPE__BODY_CLUSTER_INFO_REQ:
		jm_rpc_cluster_info(jm, req);
		break;
	default:
		if (jm_job_rpc_dispatch(jm, req) ||
		    jm_ckpt_rpc_dispatch(jm, req))
			break;
		wr_log(WR_LOG_WARN, "RPC-UNSUPPORTED",
		       "request kind %d is not served by this JobManager",
		       (int)env->body_case);
		wr_rpc_req_reply_error(req, WR_ESTATE,
		                       "request kind %d is not served by this "
		                       "JobManager",
		                       (int)env->body_case);
	}
}
