/*
 * call.c - the one path of a JobManager request (connect, call, print the
 * reply as a table or as JSON, close), the one mapping of its errors to
 * exit codes, and the CLI's JSON output lines.
 */
#include "cli.h"
#include "cli_rpc.h"

#include "addr.h"
#include "buf.h"
#include "err.h"
#include "json.h"
#include "rpc.h"

#include <stdio.h>
#include <string.h>

/* Room for the JobManager's message in an error reply: its refusal of a
 * job file may list known keys or ids. */
#define CLI_CALL_ERR_BYTES 4096

/* The JobManagers given and the leader a standby named (cli_connect). */
static cli_jm cli_jms[WR_MAX_JOBMANAGERS];
static size_t cli_njms;
static char cli_named_leader[WR_ADDR_BYTES];

size_t
cli_jobmanagers(const cli_jm **v)
{
	*v = cli_jms;
	return cli_njms;
}

/* Splits the list into cli_jms (wr_addr_list_split). */
static void
cli_jm_split(const char *list)
{
	char addrs[WR_MAX_JOBMANAGERS][WR_ADDR_BYTES];
	size_t n = wr_addr_list_split(list, addrs, WR_MAX_JOBMANAGERS);
	if (n > WR_MAX_JOBMANAGERS) {
		fprintf(stderr,
		        "weir: more than %d JobManagers given; using the "
		        "first %d\n",
		        WR_MAX_JOBMANAGERS, WR_MAX_JOBMANAGERS);
		n = WR_MAX_JOBMANAGERS;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(cli_jms[i].address, sizeof(cli_jms[i].address), "%s",
		         addrs[i]);
		cli_jms[i].role[0] = '\0';
	}
	cli_njms = n;
}

/* Asks each JobManager given who leads: the address to dial. */
static const char *
cli_jm_find_leader(int timeout_ms, bool ask_all)
{
	const char *named = NULL;
	for (size_t i = 0; i < cli_njms; i++) {
		char err[256];
		cli_cluster_info ci;
		wr_rpc_client *c = NULL;
		snprintf(cli_jms[i].role, sizeof(cli_jms[i].role), "%s",
		         "unreachable");
		if (wr_rpc_client_new(cli_jms[i].address, WR_RPC_DIAL_SYNC,
		                      &c) != WR_OK)
			continue;
		if (cli_rpc_cluster_info(c, timeout_ms, &ci, err,
		                         sizeof(err)) == WR_OK) {
			snprintf(cli_jms[i].role, sizeof(cli_jms[i].role), "%s",
			         ci.role);
			bool leads = strcmp(ci.role, "leader") == 0;
			if (named == NULL && ci.leader[0] != '\0') {
				snprintf(cli_named_leader,
				         sizeof(cli_named_leader), "%s",
				         ci.leader);
				named = cli_named_leader;
			}
			cli_cluster_info_fini(&ci);
			if (leads && !ask_all) {
				/* found: a stopped JobManager further on
				 * must not hold every command up */
				wr_rpc_client_free(c);
				return cli_jms[i].address;
			}
		}
		wr_rpc_client_free(c);
	}
	for (size_t i = 0; i < cli_njms; i++)
		if (strcmp(cli_jms[i].role, "leader") == 0)
			return cli_jms[i].address;
	return named != NULL ? named : cli_jms[0].address;
}

int
cli_connect(cli_ctx *ctx, wr_rpc_client **out)
{
	*out = NULL;
	if (cli_njms == 0) {
		cli_jm_split(ctx->jobmanager);
		if (cli_njms > 1) {
			/* Each asked briefly: a dead one must not hold up
			 * finding the leader. */
			int t = (int)ctx->cfg.jm_rpc_timeout_ms;
			/* `weir cluster` shows every JobManager's role:
			 * it asks them all; other verbs stop at the
			 * leader. */
			bool all = ctx->verb != NULL &&
			           strcmp(ctx->verb->name, "cluster") == 0;
			ctx->jobmanager =
			    cli_jm_find_leader(t < 2000 ? t : 2000, all);
		} else if (cli_njms == 1)
			ctx->jobmanager = cli_jms[0].address;
	}
	int rv = wr_rpc_client_new(ctx->jobmanager, WR_RPC_DIAL_SYNC, out);
	if (rv != WR_OK) {
		fprintf(stderr, "weir: cannot reach the JobManager at %s: %s\n",
		        ctx->jobmanager, wr_strerror(rv));
		return CLI_UNREACHABLE;
	}
	return CLI_OK;
}

bool
cli_rpc_transient(int rv)
{
	return rv == WR_ETIMEDOUT || rv == WR_EUNREACHABLE ||
	       rv == WR_ECONNREFUSED || rv == WR_ECLOSED;
}

int
cli_rpc_failed(const char *verb, const char *addr, int rv, const char *errbuf)
{
	if (cli_rpc_transient(rv)) {
		fprintf(stderr,
		        "weir %s: the JobManager at %s did not answer: %s\n",
		        verb, addr, wr_strerror(rv));
		return CLI_UNREACHABLE;
	}
	fprintf(stderr, "weir %s: %s%s%s\n", verb, wr_strerror(rv),
	        errbuf[0] ? ": " : "", errbuf);
	return CLI_FAILED;
}

int
cli_call(cli_ctx *ctx, const cli_request *r, void *arg)
{
	char err[CLI_CALL_ERR_BYTES] = "";
	wr_rpc_client *cli;
	int rc = cli_connect(ctx, &cli);

	if (rc != CLI_OK)
		return rc;
	int rv = r->call(cli, (int)ctx->cfg.jm_rpc_timeout_ms, arg, err,
	                 sizeof(err));
	if (rv != WR_OK) {
		rc = cli_rpc_failed(ctx->verb->name, ctx->jobmanager, rv, err);
		goto close;
	}
	if (ctx->json && r->print_json != NULL)
		r->print_json(arg);
	else if (!ctx->json && r->print_table != NULL)
		r->print_table(arg);
	/* Before the verb goes on (run stays attached): a reader of stdout
	 * sees the reply now. */
	fflush(stdout);
	if (r->then != NULL)
		rc = r->then(ctx, cli, arg);
	if (r->fini != NULL)
		r->fini(arg);
close:
	wr_rpc_client_free(cli);
	return rc;
}

FILE *
cli_msg(const cli_ctx *ctx)
{
	return ctx->json ? stderr : stdout;
}

void
cli_json_begin(wr_buf *b, wr_json *j)
{
	wr_buf_init(b);
	wr_json_init(j, b);
}

void
cli_json_end(wr_buf *b)
{
	printf("%s\n", b->data);
	wr_buf_fini(b);
}

void
cli_json_print_str(const char *key, const char *value)
{
	wr_buf b;
	wr_json j;

	cli_json_begin(&b, &j);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, key, value);
	wr_json_obj_end(&j);
	cli_json_end(&b);
}
