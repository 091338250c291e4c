/*
 * call.c - the one path of a JobManager request (connect, call, print the
 * reply as a table or as JSON, close), the one mapping of its errors to
 * exit codes, and the CLI's JSON output lines.
 */
#include "cli.h"

#include "buf.h"
#include "err.h"
#include "json.h"
#include "rpc.h"

#include <stdio.h>

/* Room for the JobManager's message in an error reply: its refusal of a
 * job file may list known keys or ids. */
#define CLI_CALL_ERR_BYTES 4096

int
cli_connect(cli_ctx *ctx, wr_rpc_client **out)
{
	*out = NULL;
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
