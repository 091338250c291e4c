/*
 * main.c - weir, the command-line client. Global flags may stand before or
 * after the verb; everything else belongs to the verb.
 */
#include "cli.h"

#include "err.h"
#include "log.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_DEFAULT_JOBMANAGER "tcp://127.0.0.1:6123"

static const cli_verb cli_verbs[] = {
    {"local", cli_local,
     "start a whole cluster on this machine (embedded Kafka)"},
    {"run", cli_run, "validate and submit a job; attached until it ends"},
    {"list", cli_list, "running jobs (all with -a)"},
    {"info", cli_info, "a job's state, vertices and subtasks"},
    {"cancel", cli_cancel, "cancel a job"},
    {"savepoint", cli_savepoint,
     "take a savepoint of a job; prints its path when complete"},
    {"stop", cli_stop, "stop a job with a savepoint; prints its path"},
    {"checkpoints", cli_checkpoints,
     "a job's checkpoint history: status, duration, size, alignment"},
    {"cluster", cli_cluster,
     "TaskManagers, their slots and health; the leader"},
    {"produce", cli_produce, "write JSON lines from stdin to a Kafka topic"},
    {"consume", cli_consume, "print a Kafka topic's messages as lines"},
    {"gen", cli_gen, "generate test events (orders) into a Kafka topic"},
    {"topic", cli_topic, "create a topic in the embedded Kafka of weir local"},
    {"validate", cli_validate,
     "check a job file without submitting it (errors at file:line:col)"},
};

static void
cli_usage(FILE *f)
{
	fprintf(f, "usage: weir [--jobmanager ADDR] [--config FILE] "
	           "[-o table|json] VERB [ARGS]\n\nverbs:\n");
	for (size_t i = 0; i < sizeof(cli_verbs) / sizeof(cli_verbs[0]); i++)
		fprintf(f, "  %-12s %s\n", cli_verbs[i].name,
		        cli_verbs[i].summary);
	fprintf(f,
	        "\nglobal flags:\n"
	        "  --jobmanager ADDR  JobManager RPC address (env "
	        "WEIR_JOBMANAGER, default %s)\n"
	        "  --config FILE      cluster config (weir.yaml)\n"
	        "  -o table|json      output format (default table)\n"
	        "\n'weir VERB --help' describes a verb. Exit codes: 0 ok, 1 "
	        "failed, 2 usage, 3 JobManager unreachable.\n",
	        CLI_DEFAULT_JOBMANAGER);
}

/* Takes the global flags out of argv (wherever they stand) and returns the
 * new argc, or -1 on a usage error. */
static int
cli_global_flags(cli_ctx *ctx, int argc, char **argv)
{
	int k = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;
		const char *val = NULL;
		if (strcmp(a, "--jobmanager") == 0 ||
		    strcmp(a, "--config") == 0 || strcmp(a, "-o") == 0 ||
		    strcmp(a, "--output") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "weir: %s needs a value\n", a);
				return -1;
			}
			val = argv[++i];
		} else if (strncmp(a, "--jobmanager=", 13) == 0 ||
		           strncmp(a, "--config=", 9) == 0 ||
		           strncmp(a, "--output=", 9) == 0) {
			val = strchr(a, '=') + 1;
		} else {
			argv[k++] = argv[i];
			continue;
		}
		if (a[2] == 'j')
			dst = &ctx->jobmanager;
		else if (a[2] == 'c')
			dst = &ctx->config;
		if (dst != NULL) {
			*dst = val;
		} else if (strcmp(val, "json") == 0 ||
		           strcmp(val, "table") == 0) {
			ctx->json = strcmp(val, "json") == 0;
		} else {
			fprintf(stderr,
			        "weir: -o takes table or json, not '%s'\n",
			        val);
			return -1;
		}
	}
	argv[k] = NULL;
	return k;
}

int
main(int argc, char **argv)
{
	cli_ctx ctx = {0};
	wr_log_set_role("weir");
	wr_log_set_level(WR_LOG_WARN);
	wr_log_init_from_env();
	argc = cli_global_flags(&ctx, argc, argv);
	if (argc < 0)
		return CLI_USAGE;
	if (argc < 2) {
		cli_usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		cli_usage(stdout);
		return CLI_OK;
	}
	char err[512];
	if (wr_cluster_config_load(&ctx.cfg, ctx.config, err, sizeof(err))) {
		fprintf(stderr, "weir: %s\n", err);
		wr_cluster_config_free(&ctx.cfg);
		return CLI_USAGE;
	}
	if (ctx.jobmanager == NULL)
		ctx.jobmanager = getenv("WEIR_JOBMANAGER");
	if (ctx.jobmanager == NULL)
		ctx.jobmanager =
		    ctx.config ? ctx.cfg.jm_address : CLI_DEFAULT_JOBMANAGER;
	int rc = -1;
	for (size_t i = 0; i < sizeof(cli_verbs) / sizeof(cli_verbs[0]); i++)
		if (strcmp(argv[1], cli_verbs[i].name) == 0)
			rc = cli_verbs[i].fn(&ctx, argc - 1, argv + 1);
	if (rc < 0) {
		fprintf(stderr, "weir: unknown verb '%s' (see weir --help)\n",
		        argv[1]);
		rc = CLI_USAGE;
	}
	wr_cluster_config_free(&ctx.cfg);
	return rc;
}

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

int
cli_rpc_failed(const char *verb, const char *addr, int rv, const char *errbuf)
{
	if (rv == WR_ETIMEDOUT || rv == WR_ECLOSED || rv == WR_EUNREACHABLE ||
	    rv == WR_ECONNREFUSED) {
		fprintf(stderr,
		        "weir %s: the JobManager at %s did not answer: %s\n",
		        verb, addr, wr_strerror(rv));
		return CLI_UNREACHABLE;
	}
	fprintf(stderr, "weir %s: %s%s%s\n", verb, wr_strerror(rv),
	        errbuf[0] ? ": " : "", errbuf);
	return CLI_FAILED;
}

const char *
cli_bootstrap(cli_ctx *ctx, const char *flag)
{
	return flag ? flag : ctx->cfg.kafka_bootstrap;
}
