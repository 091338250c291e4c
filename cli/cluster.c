/* cluster.c - `weir cluster`: TaskManagers, slots, health, the leader. */
#include "cli.h"
#include "cli_rpc.h"

#include "addr.h"
#include "buf.h"
#include "err.h"
#include "json.h"
#include "rpc.h"

#include <stdio.h>
#include <string.h>

static void
cli_cluster_usage(FILE *f)
{
	fprintf(f, "usage: weir cluster [-o table|json]\n\n"
	           "Lists the TaskManagers the JobManager knows, with their "
	           "slots and state\n(alive or lost), and the current "
	           "JobManager leader.\n");
}

static int
cli_cluster_rpc(wr_rpc_client *cli, int timeout_ms, void *arg, char *err,
                size_t errlen)
{
	return cli_rpc_cluster_info(cli, timeout_ms, arg, err, errlen);
}

static void
cli_cluster_print_json(const void *arg)
{
	const cli_cluster_info *ci = arg;
	wr_buf b;
	wr_json j;

	cli_json_begin(&b, &j);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "leader", ci->leader);
	wr_json_kv_int(&j, "epoch", (int64_t)ci->epoch);
	wr_json_key(&j, "jobmanagers");
	wr_json_arr_begin(&j);
	const cli_jm *jms;
	size_t njms = cli_jobmanagers(&jms);
	bool leader_listed = false;
	for (size_t i = 0; i < njms; i++) {
		wr_json_obj_begin(&j);
		wr_json_kv_str(&j, "address", jms[i].address);
		/* Not asked (one address given): it answered this call. */
		wr_json_kv_str(&j, "role",
		               jms[i].role[0] ? jms[i].role : ci->role);
		wr_json_obj_end(&j);
		leader_listed |= wr_addr_same(jms[i].address, ci->leader);
	}
	/* A leader not among the addresses given (a standby named it). */
	if (!leader_listed && ci->leader[0] != '\0') {
		wr_json_obj_begin(&j);
		wr_json_kv_str(&j, "address", ci->leader);
		wr_json_kv_str(&j, "role", "leader");
		wr_json_obj_end(&j);
	}
	wr_json_arr_end(&j);
	wr_json_key(&j, "taskmanagers");
	wr_json_arr_begin(&j);
	for (size_t i = 0; i < ci->n; i++) {
		const cli_tm *t = &ci->tms[i];
		wr_json_obj_begin(&j);
		wr_json_kv_str(&j, "id", t->id);
		wr_json_kv_str(&j, "address", t->address);
		wr_json_kv_str(&j, "state", t->state);
		wr_json_kv_int(&j, "slots_total", t->slots_total);
		wr_json_kv_int(&j, "slots_free", t->slots_free);
		wr_json_obj_end(&j);
	}
	wr_json_arr_end(&j);
	wr_json_obj_end(&j);
	cli_json_end(&b);
}

static void
cli_cluster_print_table(const void *arg)
{
	const cli_cluster_info *ci = arg;

	const cli_jm *jms;
	size_t njms = cli_jobmanagers(&jms);
	printf("leader: %s  epoch: %llu\n", ci->leader,
	       (unsigned long long)ci->epoch);
	for (size_t i = 0; i < njms; i++)
		printf("jobmanager: %s (%s)\n", jms[i].address,
		       jms[i].role[0] ? jms[i].role : ci->role);
	printf("\n");
	printf("%-32s %-26s %-6s %6s %6s %12s\n", "TASKMANAGER", "ADDRESS",
	       "STATE", "SLOTS", "FREE", "HEARTBEAT");
	for (size_t i = 0; i < ci->n; i++) {
		const cli_tm *t = &ci->tms[i];
		printf("%-32s %-26s %-6s %6u %6u %10llums\n", t->id, t->address,
		       t->state, t->slots_total, t->slots_free,
		       (unsigned long long)t->last_heartbeat_ms_ago);
	}
	if (ci->n == 0)
		printf("(no TaskManagers registered)\n");
}

static void
cli_cluster_fini(void *arg)
{
	cli_cluster_info_fini(arg);
}

const cli_verb cli_cluster_verb = {
    .name = "cluster",
    .summary = "TaskManagers, their slots and health; the leader",
    .usage = cli_cluster_usage,
    .opts_bytes = sizeof(cli_cluster_info),
    .request =
        {
            .call = cli_cluster_rpc,
            .print_table = cli_cluster_print_table,
            .print_json = cli_cluster_print_json,
            .fini = cli_cluster_fini,
        },
};
