/*
 * validate.c - `weir validate [-p N] JOB.yaml`: parses and plans a job
 * without submitting it, with the same code the JobManager runs, so a file
 * that validates here is accepted by `weir run` (slots permitting).
 */
#include "cli.h"

#include "buf.h"
#include "err.h"
#include "jobspec.h"
#include "json.h"
#include "parse.h"
#include "plan.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

/* Room for a validation message (it may list known keys or ids). */
#define CLI_VALIDATE_ERR_BYTES 4096

static void
cli_validate_usage(FILE *f)
{
	fprintf(f,
	        "usage: weir validate [-p N] [-o table|json] JOB.yaml\n\n"
	        "Checks a job file without submitting it: keys, values, ids, "
	        "'from:'\nreferences, schemas, expressions and aggregates, as "
	        "`weir run` does.\nErrors name file:line:column. Prints the "
	        "job's vertices (operator chains)\nand the slots it needs.\n\n"
	        "  -p, --parallelism N  default parallelism of nodes that do "
	        "not set one\n                       (as weir run -p; 1 .. "
	        "%d)\n",
	        WR_JOB_MAX_PARALLELISM);
}

static void
cli_validate_print_json(const wr_jobspec *spec, const wr_plan *plan,
                        size_t nsources)
{
	wr_buf b;
	wr_json j;

	wr_buf_init(&b);
	wr_json_init(&j, &b);
	wr_json_obj_begin(&j);
	wr_json_kv_bool(&j, "valid", true);
	wr_json_kv_str(&j, "name", spec->name);
	wr_json_kv_int(&j, "sources", (int64_t)nsources);
	wr_json_kv_int(&j, "nodes", (int64_t)(spec->nnodes - nsources));
	wr_json_key(&j, "vertices");
	wr_json_arr_begin(&j);
	for (int v = 0; v < plan->nvertices; v++) {
		wr_json_obj_begin(&j);
		wr_json_kv_str(&j, "name", plan->vertices[v].name);
		wr_json_kv_int(&j, "parallelism",
		               plan->vertices[v].parallelism);
		wr_json_obj_end(&j);
	}
	wr_json_arr_end(&j);
	wr_json_kv_int(&j, "slots", wr_plan_slots_needed(plan));
	wr_json_obj_end(&j);
	printf("%s\n", b.data);
	wr_buf_fini(&b);
}

static void
cli_validate_print_error(bool json, const char *err)
{
	wr_buf b;
	wr_json j;

	fprintf(stderr, "%s\n", err);
	if (!json)
		return;
	wr_buf_init(&b);
	wr_json_init(&j, &b);
	wr_json_obj_begin(&j);
	wr_json_kv_bool(&j, "valid", false);
	wr_json_kv_str(&j, "error", err);
	wr_json_obj_end(&j);
	printf("%s\n", b.data);
	wr_buf_fini(&b);
}

/* Parses the flags; returns CLI_OK, or CLI_USAGE (printed), or -1 for
 * --help (printed). */
static int
cli_validate_flags(int argc, char **argv, int *parallelism)
{
	static const struct option opts[] = {
	    {"parallelism", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int64_t v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
		if (c == 'h') {
			cli_validate_usage(stdout);
			return -1;
		}
		if (c != 'p') {
			cli_validate_usage(stderr);
			return CLI_USAGE;
		}
		if (wr_parse_int64(optarg, &v) != WR_OK || v < 1 ||
		    v > WR_JOB_MAX_PARALLELISM) {
			fprintf(stderr,
			        "weir validate: -p takes 1 .. %d, not '%s'\n",
			        WR_JOB_MAX_PARALLELISM, optarg);
			return CLI_USAGE;
		}
		*parallelism = (int)v;
	}
	if (optind != argc - 1) {
		cli_validate_usage(stderr);
		return CLI_USAGE;
	}
	return CLI_OK;
}

int
cli_validate(cli_ctx *ctx, int argc, char **argv)
{
	char err[CLI_VALIDATE_ERR_BYTES] = "";
	wr_jobspec *spec = NULL;
	wr_plan *plan = NULL;
	const char *path;
	size_t nsources = 0;
	int parallelism = 0;
	int rc = cli_validate_flags(argc, argv, &parallelism);

	if (rc != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	path = argv[optind];
	if (wr_jobspec_load_file(path, parallelism, &spec, err, sizeof(err)) !=
	        WR_OK ||
	    wr_plan_build(spec, &plan, err, sizeof(err)) != WR_OK) {
		cli_validate_print_error(ctx->json, err);
		rc = CLI_FAILED;
		goto free_spec;
	}
	while (nsources < spec->nnodes &&
	       spec->nodes[nsources].kind == WR_NODE_SOURCE)
		nsources++;
	if (ctx->json)
		cli_validate_print_json(spec, plan, nsources);
	else
		printf("%s: ok (job '%s': %zu sources, %zu nodes, %d vertices, "
		       "needs %d slots)\n",
		       path, spec->name, nsources, spec->nnodes - nsources,
		       plan->nvertices, wr_plan_slots_needed(plan));
	wr_plan_free(plan);
free_spec:
	wr_jobspec_free(spec);
	return rc;
}
