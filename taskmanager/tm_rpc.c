/*
 * tm_rpc.c - translates control-plane Envelopes for the TaskManager: the
 * requests it sends to the JobManager and those it serves, and the epoch
 * check on everything a JobManager sends. The only TaskManager file that
 * sees protobuf types.
 */
#include "tm_int.h"

#include "ckpt_meta_pb.h"
#include "wr_limits.h"

#include "err.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "rpc.h"
#include "task.h"
#include "weir.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	s->restore_url = d->restore_checkpoint && *d->restore_checkpoint
	                     ? wr_xstrdup(d->restore_checkpoint)
	                     : NULL;
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
		wr_rpc_req_reply_ack(req);
}

/* Logs a stale epoch the first time it is seen. */
static void
tm_epoch_log_stale(tm_server *tm, uint64_t epoch, uint64_t seen)
{
	pthread_mutex_lock(&tm->stale_mu);
	bool logged = false;
	unsigned n = tm->nstale_logged < TM_STALE_EPOCHS_LOGGED
	                 ? tm->nstale_logged
	                 : TM_STALE_EPOCHS_LOGGED;
	for (unsigned i = 0; i < n && !logged; i++)
		logged = tm->stale_logged[i] == epoch;
	if (!logged)
		tm->stale_logged[tm->nstale_logged++ % TM_STALE_EPOCHS_LOGGED] =
		    epoch;
	pthread_mutex_unlock(&tm->stale_mu);
	if (!logged)
		wr_log(WR_LOG_WARN, "TM-STALE-EPOCH",
		       "refusing a JobManager of epoch %llu: this TaskManager "
		       "has seen epoch %llu (a deposed leader); logged once "
		       "per epoch, counted in "
		       "weir_taskmanager_stale_epoch_total",
		       (unsigned long long)epoch, (unsigned long long)seen);
}

int
tm_epoch_check(tm_server *tm, uint64_t epoch, char *errbuf, size_t errlen)
{
	uint64_t seen = atomic_load(&tm->epoch);
	while (epoch > seen) {
		if (atomic_compare_exchange_weak(&tm->epoch, &seen, epoch)) {
			wr_log(WR_LOG_INFO, "TM-EPOCH",
			       "leader epoch %llu (was %llu)",
			       (unsigned long long)epoch,
			       (unsigned long long)seen);
			return WR_OK;
		}
	}
	if (epoch == seen)
		return WR_OK;
	wr_metric_inc(tm->m_stale_epoch);
	tm_epoch_log_stale(tm, epoch, seen);
	snprintf(errbuf, errlen,
	         "stale epoch %llu: this TaskManager has seen epoch %llu",
	         (unsigned long long)epoch, (unsigned long long)seen);
	return WR_EPERM;
}

void
tm_rpc_dispatch(tm_server *tm, wr_rpc_req *req)
{
	const Weir__Envelope *env = wr_rpc_req_env(req);
	char err[160];
	if (tm_epoch_check(tm, env->has_epoch ? env->epoch : 0, err,
	                   sizeof(err)) != WR_OK) {
		wr_rpc_req_reply_error(req, WR_EPERM, "%s", err);
		return;
	}
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
			wr_rpc_req_reply_ack(req);
		return;
	case WEIR__ENVELOPE__BODY_TRIGGER_CHECKPOINT: {
		const Weir__TriggerCheckpoint *m = env->trigger_checkpoint;
		tm_ckpt_trigger tr = {
		    .id = m->checkpoint_id,
		    .savepoint = m->has_is_savepoint && m->is_savepoint,
		    .stop = m->has_stop && m->stop,
		    .drain = m->has_drain && m->drain,
		    .has_attempt = m->has_attempt,
		    .attempt = m->attempt,
		};
		snprintf(tr.url, sizeof(tr.url), "%s",
		         m->target_dir ? m->target_dir : "");
		int rv = tm_tasks_trigger(tm->tasks, m->job_id, &tr);
		if (rv == WR_EAGAIN)
			wr_rpc_req_reply_error(
			    req, rv,
			    "a task of job %s here is starting "
			    "or has ended: not every task runs",
			    m->job_id);
		else if (rv != WR_OK)
			wr_rpc_req_reply_error(req, rv,
			                       "no source task of job %s here",
			                       m->job_id);
		else
			wr_rpc_req_reply_ack(req);
		return;
	}
	case WEIR__ENVELOPE__BODY_CHECKPOINT_COMPLETE:
		tm_tasks_checkpoint_complete(
		    tm->tasks, env->checkpoint_complete->job_id,
		    env->checkpoint_complete->checkpoint_id);
		wr_rpc_req_reply_ack(req);
		return;
	case WEIR__ENVELOPE__BODY_ABORT_CHECKPOINT:
		wr_log(WR_LOG_INFO, "CKPT-ABORTED",
		       "job=%s checkpoint %llu: %s",
		       env->abort_checkpoint->job_id,
		       (unsigned long long)env->abort_checkpoint->checkpoint_id,
		       env->abort_checkpoint->reason
		           ? env->abort_checkpoint->reason
		           : "");
		wr_rpc_req_reply_ack(req);
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
	int rv = wr_rpc_call(tm_jm_cli(tm), &env, 5000, &rep, err, sizeof(err));
	wr_msg_free(rep);
	if (rv != WR_OK)
		wr_log(WR_LOG_WARN, "TASK-REPORT",
		       "job=%s task=%s %s: JobManager did not take it: %s %s",
		       spec->job_id, spec->task_id, state, wr_strerror(rv),
		       err);
}

/* What a task did, for REST's views of it on the JobManager. */
static void
tm_rpc_report_stats(const tm_task_ref *r, Weir__SlotState *s)
{
	s->has_records_in = s->has_records_out = 1;
	s->records_in = r->records_in;
	s->records_out = r->records_out;
	s->has_backpressured_ratio = s->has_idle_ratio = s->has_busy_ratio = 1;
	s->backpressured_ratio = r->bp / 1000.0;
	s->idle_ratio = r->idle / 1000.0;
	s->busy_ratio = r->busy / 1000.0;
	s->has_watermark_ms = r->has_wm;
	s->watermark_ms = r->wm;
}

/* The report's tasks as SlotStates (arrays of rep->n + 1, freed by the
 * caller). */
static Weir__SlotState **
tm_rpc_report(const tm_report *rep, Weir__SlotState **items)
{
	*items = wr_xcalloc((size_t)rep->n + 1, sizeof(**items));
	Weir__SlotState **ptrs = wr_xcalloc((size_t)rep->n + 1, sizeof(*ptrs));
	for (int i = 0; i < rep->n; i++) {
		Weir__SlotState *s = &(*items)[i];
		weir__slot_state__init(s);
		s->index = rep->tasks[i].slot;
		s->job_id = (char *)rep->tasks[i].job_id;
		s->task_id = (char *)rep->tasks[i].task_id;
		s->has_attempt = 1;
		s->attempt = rep->tasks[i].attempt;
		tm_rpc_report_stats(&rep->tasks[i], s);
		ptrs[i] = s;
	}
	return ptrs;
}

/* The tasks that ended here lately as SlotStates with end_state (arrays
 * freed by the caller; *ends too). */
static Weir__SlotState **
tm_rpc_ended(tm_server *tm, size_t *n, Weir__SlotState **items,
             tm_task_end **ends)
{
	*ends = wr_xcalloc(TM_ENDED_KEEP, sizeof(**ends));
	*n = (size_t)tm_tasks_ended(tm->tasks, *ends, TM_ENDED_KEEP);
	*items = wr_xcalloc(*n + 1, sizeof(**items));
	Weir__SlotState **ptrs = wr_xcalloc(*n + 1, sizeof(*ptrs));
	for (size_t i = 0; i < *n; i++) {
		tm_task_end *e = &(*ends)[i];
		Weir__SlotState *s = &(*items)[i];
		weir__slot_state__init(s);
		s->index = e->ref.slot;
		s->job_id = e->ref.job_id;
		s->task_id = e->ref.task_id;
		s->has_attempt = 1;
		s->attempt = e->ref.attempt;
		s->end_state = e->state;
		s->failure = e->failure[0] ? e->failure : NULL;
		ptrs[i] = s;
	}
	return ptrs;
}

/* Marks the reported tasks the answer keeps. */
static void
tm_rpc_keep(tm_report *rep, Weir__SlotState *const *keep, size_t n)
{
	for (int i = 0; i < rep->n; i++) {
		const tm_task_ref *r = &rep->tasks[i];
		rep->keep[i] = false;
		for (size_t k = 0; k < n && !rep->keep[i]; k++)
			rep->keep[i] =
			    keep[k]->job_id && keep[k]->task_id &&
			    strcmp(keep[k]->job_id, r->job_id) == 0 &&
			    strcmp(keep[k]->task_id, r->task_id) == 0 &&
			    keep[k]->has_attempt &&
			    keep[k]->attempt == r->attempt &&
			    keep[k]->index == r->slot;
	}
}

/* The reply of a registration or heartbeat: of kind want, from a leader
 * not older than one seen. */
static int
tm_rpc_reply_check(tm_server *tm, const Weir__Envelope *r, int want,
                   char *errbuf, size_t errlen)
{
	if ((int)r->body_case != want) {
		snprintf(errbuf, errlen, "unexpected reply kind %d",
		         (int)r->body_case);
		return WR_EPROTO;
	}
	return tm_epoch_check(tm, r->has_epoch ? r->epoch : 0, errbuf, errlen);
}

int
tm_rpc_register(tm_server *tm, wr_rpc_client *cli, int timeout_ms,
                tm_report *rep, tm_jm_view *out, char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__RegisterTaskManager reg = WEIR__REGISTER_TASK_MANAGER__INIT;
	Weir__SlotState *items;
	reg.tm_id = tm->id;
	reg.rpc_address = tm->rpc_address;
	reg.data_address = tm->data_address;
	reg.slots = tm->slots;
	reg.metrics_address = tm->metrics_address;
	reg.has_start_time_ms = 1;
	reg.start_time_ms = (uint64_t)tm->start_wall_ms;
	reg.n_tasks = (size_t)rep->n;
	reg.tasks = tm_rpc_report(rep, &items);
	Weir__SlotState *ended_items;
	tm_task_end *ends;
	reg.ended = tm_rpc_ended(tm, &reg.n_ended, &ended_items, &ends);
	env.body_case = WEIR__ENVELOPE__BODY_REGISTER_TM;
	env.register_tm = &reg;
	wr_msg *msg = NULL;
	int rv = wr_rpc_call(cli, &env, timeout_ms, &msg, errbuf, errlen);
	free(reg.tasks);
	free(items);
	free(reg.ended);
	free(ended_items);
	free(ends);
	if (rv != WR_OK)
		return rv;
	const Weir__Envelope *r = wr_msg_env(msg);
	rv = tm_rpc_reply_check(tm, r, WEIR__ENVELOPE__BODY_REGISTER_REPLY,
	                        errbuf, errlen);
	if (rv != WR_OK)
		goto done;
	tm_rpc_keep(rep, r->register_reply->keep, r->register_reply->n_keep);
	snprintf(out->instance, sizeof(out->instance), "%s",
	         r->register_reply->jm_instance);
	out->heartbeat_interval_ms =
	    (int64_t)r->register_reply->heartbeat_interval_ms;
	out->heartbeat_timeout_ms =
	    (int64_t)r->register_reply->heartbeat_timeout_ms;
	out->known = true;
done:
	wr_msg_free(msg);
	return rv;
}

int
tm_rpc_heartbeat(tm_server *tm, wr_rpc_client *cli, int timeout_ms,
                 tm_report *rep, tm_jm_view *out, char *errbuf, size_t errlen)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__Heartbeat hb = WEIR__HEARTBEAT__INIT;
	Weir__SlotState *items;
	hb.tm_id = tm->id;
	hb.has_slots_free = 1;
	uint32_t used = tm_tasks_slots_used(tm->tasks);
	hb.slots_free = used < tm->slots ? tm->slots - used : 0;
	hb.n_slots = (size_t)rep->n;
	hb.slots = tm_rpc_report(rep, &items);
	env.body_case = WEIR__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	wr_msg *msg = NULL;
	int rv = wr_rpc_call(cli, &env, timeout_ms, &msg, errbuf, errlen);
	free(hb.slots);
	free(items);
	if (rv != WR_OK)
		return rv;
	const Weir__Envelope *r = wr_msg_env(msg);
	rv = tm_rpc_reply_check(tm, r, WEIR__ENVELOPE__BODY_HEARTBEAT_REPLY,
	                        errbuf, errlen);
	if (rv != WR_OK)
		goto done;
	snprintf(out->instance, sizeof(out->instance), "%s",
	         r->heartbeat_reply->jm_instance);
	out->known = r->heartbeat_reply->known;
	tm_rpc_keep(rep, r->heartbeat_reply->keep, r->heartbeat_reply->n_keep);
done:
	wr_msg_free(msg);
	return rv;
}

int
tm_report_checkpoint(tm_server *tm, const tm_task_spec *spec, uint64_t id,
                     const wr_ckpt_meta *part, const tm_ckpt_times *times,
                     uint64_t size_bytes, const char *decline)
{
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__AckCheckpoint ack = WEIR__ACK_CHECKPOINT__INIT;
	Weir__DeclineCheckpoint dec = WEIR__DECLINE_CHECKPOINT__INIT;
	size_t nh = part ? part->nhandles : 0, no = part ? part->noffsets : 0;
	Weir__StateHandle *hs = wr_xcalloc(nh + 1, sizeof(*hs));
	Weir__StateHandle **hsp = wr_xcalloc(nh + 1, sizeof(*hsp));
	Weir__SourceOffset *os = wr_xcalloc(no + 1, sizeof(*os));
	Weir__SourceOffset **osp = wr_xcalloc(no + 1, sizeof(*osp));
	if (decline != NULL) {
		dec.job_id = (char *)spec->job_id;
		dec.checkpoint_id = id;
		dec.task_id = (char *)spec->task_id;
		dec.reason = (char *)decline;
		env.body_case = WEIR__ENVELOPE__BODY_DECLINE_CHECKPOINT;
		env.decline_checkpoint = &dec;
	} else {
		for (size_t i = 0; i < nh; i++) {
			wr_ckpt_pb_handle(&part->handles[i], &hs[i]);
			hsp[i] = &hs[i];
		}
		for (size_t i = 0; i < no; i++) {
			wr_ckpt_pb_offset(&part->offsets[i], &os[i]);
			osp[i] = &os[i];
		}
		ack.job_id = (char *)spec->job_id;
		ack.checkpoint_id = id;
		ack.task_id = (char *)spec->task_id;
		ack.n_state = nh;
		ack.state = hsp;
		ack.n_offsets = no;
		ack.offsets = osp;
		ack.has_alignment_ms = ack.has_size_bytes = 1;
		ack.has_sync_ms = ack.has_async_ms = 1;
		ack.alignment_ms = times->align_ms;
		ack.sync_ms = times->sync_ms;
		ack.async_ms = times->async_ms;
		ack.size_bytes = size_bytes;
		env.body_case = WEIR__ENVELOPE__BODY_ACK_CHECKPOINT;
		env.ack_checkpoint = &ack;
	}
	wr_msg *rep = NULL;
	char err[256] = "";
	int rv = wr_rpc_call(tm_jm_cli(tm), &env, TM_CKPT_RPC_TIMEOUT_MS, &rep,
	                     err, sizeof(err));
	wr_msg_free(rep);
	free(hs);
	free(hsp);
	free(os);
	free(osp);
	if (rv != WR_OK)
		wr_log(WR_LOG_WARN, "CKPT-REPORT",
		       "job=%s task=%s checkpoint %llu: JobManager did not "
		       "take it: %s %s",
		       spec->job_id, spec->task_id, (unsigned long long)id,
		       wr_strerror(rv), err);
	return rv;
}
