/*
 * main.c - weir, the command-line client: the global flags (they may stand
 * before or after the verb), the cluster config, then the verb (verb.c).
 */
#include "cli.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_DEFAULT_JOBMANAGER "tcp://127.0.0.1:6123"

static void
cli_usage(FILE *f)
{
	fprintf(f, "usage: weir [--jobmanager ADDR] [--config FILE] "
	           "[-o table|json] VERB [ARGS]\n\nverbs:\n");
	cli_verb_list_all(f);
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
	const cli_verb *v = cli_verb_find(argv[1]);
	int rc = CLI_USAGE;
	if (v != NULL)
		rc = cli_verb_dispatch(&ctx, v, argc - 1, argv + 1);
	else
		fprintf(stderr, "weir: unknown verb '%s' (see weir --help)\n",
		        argv[1]);
	wr_cluster_config_free(&ctx.cfg);
	return rc;
}
