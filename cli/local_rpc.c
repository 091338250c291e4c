/*
 * local_rpc.c - the admin endpoint of `weir local`: requests for the
 * embedded Kafka (topic creation and deletion), translated from protobuf
 * here.
 */
#include "local.h"

#include "err.h"
#include "local_kafka.h"
#include "rpc.h"
#include "weir.pb-c.h"

void
cli_local_dispatch(cli_lkafka *k, wr_rpc_req *req)
{
	const Weir__Envelope *env = wr_rpc_req_env(req);
	char err[512];
	int rv;

	switch (env->body_case) {
	case WEIR__ENVELOPE__BODY_CREATE_TOPIC:
		rv = cli_lkafka_create_topic(k, env->create_topic->name,
		                             env->create_topic->partitions, err,
		                             sizeof(err));
		break;
	case WEIR__ENVELOPE__BODY_DELETE_TOPIC:
		rv = cli_lkafka_delete_topic(k, env->delete_topic->name, err,
		                             sizeof(err));
		break;
	default:
		wr_rpc_req_reply_error(req, WR_ESTATE,
		                       "weir local serves only topic creation "
		                       "and deletion here (request kind %d)",
		                       (int)env->body_case);
		return;
	}
	if (rv != WR_OK) {
		wr_rpc_req_reply_error(req, rv, "%s", err);
		return;
	}
	Weir__Envelope rep = WEIR__ENVELOPE__INIT;
	Weir__Ack ack = WEIR__ACK__INIT;
	rep.body_case = WEIR__ENVELOPE__BODY_ACK;
	rep.ack = &ack;
	wr_rpc_req_reply(req, &rep);
}
