/*
 * tm_rpc.c - translates control-plane Envelopes for the TaskManager: the
 * requests it sends to the JobManager and those it serves. The only
 * TaskManager file that sees protobuf types.
 */
#include "tm_int.h"

#include "err.h"
#include "log.h"
#include "rpc.h"
#include "weir.pb-c.h"

#include <stdio.h>
#include <string.h>

void
tm_rpc_dispatch(tm_server *tm, wr_rpc_req *req)
{
	const Weir__Envelope *env = wr_rpc_req_env(req);
	if (env->body_case == WEIR__ENVELOPE__BODY_PING) {
		Weir__Envelope rep = WEIR__ENVELOPE__INIT;
		Weir__Pong pong = WEIR__PONG__INIT;
		pong.tm_id = tm->id;
		rep.body_case = WEIR__ENVELOPE__BODY_PONG;
		rep.pong = &pong;
		wr_rpc_req_reply(req, &rep);
		return;
	}
	wr_log(WR_LOG_WARN, "RPC-UNSUPPORTED",
	       "request kind %d is not served by this TaskManager",
	       (int)env->body_case);
	wr_rpc_req_reply_error(req, WR_ESTATE,
	                       "request kind %d is not served by this "
	                       "TaskManager",
	                       (int)env->body_case);
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
	hb.slots_free = tm->slots; /* no tasks run yet: every slot is free */
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
