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
#include "plan.h"

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

	cli_json_begin(&b, &j);
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
	cli_json_end(&b);
}

static void
cli_validate_print_error(bool json, const char *err)
{
	wr_buf b;
	wr_json j;

	cli_error_bare(err);
	if (!json)
		return;
	cli_json_begin(&b, &j);
	wr_json_obj_begin(&j);
	wr_json_kv_bool(&j, "valid", false);
	wr_json_kv_str(&j, "error", err);
	wr_json_obj_end(&j);
	cli_json_end(&b);
}

typedef struct cli_validate_opts {
	const char *path;    /* first: cli_verb_arg_str */
	int64_t parallelism; /* 0 = as in the file */
} cli_validate_opts;

static const cli_flag cli_validate_flags[] = {
    CLI_FLAG_RANGE("parallelism", 'p', cli_validate_opts, parallelism, 1,
                   WR_JOB_MAX_PARALLELISM),
    CLI_FLAGS_END,
};

static int
cli_validate(cli_ctx *ctx, void *opts)
{
	const cli_validate_opts *o = opts;
	char err[CLI_VALIDATE_ERR_BYTES] = "";
	wr_jobspec *spec = NULL;
	wr_plan *plan = NULL;
	size_t nsources = 0;
	int rc = CLI_OK;

	if (wr_jobspec_load_file(o->path, (int)o->parallelism, &spec, err,
	                         sizeof(err)) != WR_OK ||
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
		       o->path, spec->name, nsources, spec->nnodes - nsources,
		       plan->nvertices, wr_plan_slots_needed(plan));
	wr_plan_free(plan);
free_spec:
	wr_jobspec_free(spec);
	return rc;
}

const cli_verb cli_validate_verb = {
    .name = "validate",
    .summary = "check a job file without submitting it (errors at "
               "file:line:col)",
    .usage = cli_validate_usage,
    .flags = cli_validate_flags,
    .min_args = 1,
    .max_args = 1,
    .opts_bytes = sizeof(cli_validate_opts),
    .args = cli_verb_arg_str,
    .run = cli_validate,
};
