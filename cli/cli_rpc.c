/*
 * cli_rpc.c - the CLI's protobuf translation: builds requests, copies
 * replies into plain structs. The only CLI file besides local_rpc.c that
 * sees protobuf types.
 */
#include "cli_rpc.h"

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
