/* cluster.c - `weir cluster`: TaskManagers, slots, health, the leader. */
#include "cli.h"
#include "cli_rpc.h"

#include "buf.h"
#include "err.h"
#include "json.h"
#include "rpc.h"

#include <getopt.h>
#include <stdio.h>

static void
cli_cluster_usage(FILE *f)
{
	fprintf(f, "usage: weir cluster [-o table|json]\n\n"
	           "Lists the TaskManagers the JobManager knows, with their "
	           "slots and state\n(alive or lost), and the current "
	           "JobManager leader.\n");
}

static void
cli_cluster_print_json(const cli_cluster_info *ci)
{
	wr_buf b;
	wr_buf_init(&b);
	wr_json j;
	wr_json_init(&j, &b);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "leader", ci->leader);
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
	printf("%s\n", b.data);
	wr_buf_fini(&b);
}

static void
cli_cluster_print_table(const cli_cluster_info *ci)
{
	printf("leader: %s\n\n", ci->leader);
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

int
cli_cluster(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			cli_cluster_usage(stdout);
			return CLI_OK;
		}
		cli_cluster_usage(stderr);
		return CLI_USAGE;
	}
	if (optind < argc) {
		cli_cluster_usage(stderr);
		return CLI_USAGE;
	}
	wr_rpc_client *cli;
	int rc = cli_connect(ctx, &cli);
	if (rc != CLI_OK)
		return rc;
	cli_cluster_info ci;
	char err[512] = "";
	int rv = cli_rpc_cluster_info(cli, (int)ctx->cfg.jm_rpc_timeout_ms, &ci,
	                              err, sizeof(err));
	if (rv != WR_OK) {
		rc = cli_rpc_failed("cluster", ctx->jobmanager, rv, err);
		goto close;
	}
	if (ctx->json)
		cli_cluster_print_json(&ci);
	else
		cli_cluster_print_table(&ci);
	cli_cluster_info_fini(&ci);
close:
	wr_rpc_client_free(cli);
	return rc;
}
