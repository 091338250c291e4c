/*
 * job.c - the job verbs: `weir run`, `weir list`, `weir info` and
 * `weir cancel`. The JobManager owns the jobs; these verbs only ask it
 * (cli_rpc.c does the protobuf). `weir run` validates the file locally
 * first, with the parser the JobManager runs, so a broken file is reported
 * at file:line:col without a round trip.
 */
#include "cli.h"
#include "cli_rpc.h"

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "jobspec.h"
#include "json.h"
#include "parse.h"
#include "plan.h"
#include "rpc.h"
#include "wr_limits.h"

#include <ctype.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* Job ids are 16 random bytes in hex (wr_id_hex), as Flink's JobIDs. */
#define CLI_JOB_ID_CHARS 32
/* How often an attached `weir run` asks for the job's state. */
#define CLI_RUN_POLL_MS 500
/* Room for a job file error (it may list known keys or ids). */
#define CLI_JOB_ERR_BYTES 4096

static volatile sig_atomic_t cli_job_interrupted;

static void
cli_job_on_sigint(int sig)
{
	(void)sig;
	cli_job_interrupted = 1;
}

static void
cli_run_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: weir run [-d] [-p N] [--from-savepoint PATH] "
	    "[--allow-non-restored-state]\n"
	    "                [-o table|json] JOB.yaml\n\n"
	    "Validates JOB.yaml locally (errors name file:line:column), "
	    "submits it to the\nJobManager and prints the job id. Without "
	    "-d it stays attached until the job\nends: exit 0 when it "
	    "FINISHED, 1 when it FAILED or was CANCELED. Ctrl-C\ndetaches "
	    "and leaves the job running.\n\n"
	    "  -d, --detached                  print the job id and return\n"
	    "  -p, --parallelism N             default parallelism of "
	    "nodes that do not set\n"
	    "                                  one (1 .. %d)\n"
	    "  -s, --from-savepoint PATH       restore the job's state "
	    "from a savepoint\n"
	    "  -n, --allow-non-restored-state  allow savepoint state that "
	    "maps to no operator\n",
	    WR_JOB_MAX_PARALLELISM);
}

static void
cli_list_usage(FILE *f)
{
	fprintf(f,
	        "usage: weir list [-a] [-o table|json]\n\n"
	        "Lists the running jobs (all jobs with -a, finished ones "
	        "included): id, name,\nstate and start time (UTC). With -o "
	        "json, start_time is in epoch milliseconds.\n\n"
	        "  -a, --all   include FINISHED, FAILED and CANCELED jobs\n");
}

static void
cli_info_usage(FILE *f)
{
	fprintf(f, "usage: weir info [-o table|json] JOB\n\n"
	           "Shows a job: its state, the failure if it failed, its "
	           "vertices (operator\nchains) with their parallelism, every "
	           "subtask's state and TaskManager, and\nthe last completed "
	           "checkpoint. JOB is a job id (32 hex characters).\n");
}

static void
cli_cancel_usage(FILE *f)
{
	fprintf(f, "usage: weir cancel [-o table|json] JOB\n\n"
	           "Cancels a job: its tasks stop and its slots are freed. JOB "
	           "is a job id\n(32 hex characters, see weir list).\n");
}

bool
cli_job_id_arg(const char *verb, const char *arg, char out[WR_ID_BYTES])
{
	size_t n = strlen(arg);
	bool ok = n == CLI_JOB_ID_CHARS;
	for (size_t i = 0; ok && i < n; i++)
		ok = isxdigit((unsigned char)arg[i]) != 0;
	if (!ok) {
		fprintf(stderr,
		        "weir %s: '%s' is not a job id (%d hex characters, "
		        "see weir list)\n",
		        verb, arg, CLI_JOB_ID_CHARS);
		return false;
	}
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)arg[i]);
	return true;
}

int
cli_job_id_flags(const char *verb, void (*usage)(FILE *), int argc, char **argv,
                 char id[WR_ID_BYTES])
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return -1;
		}
		usage(stderr);
		return CLI_USAGE;
	}
	if (optind != argc - 1) {
		usage(stderr);
		return CLI_USAGE;
	}
	return cli_job_id_arg(verb, argv[optind], id) ? CLI_OK : CLI_USAGE;
}

bool
cli_job_state_terminal(const char *state)
{
	return strcmp(state, "FINISHED") == 0 || strcmp(state, "FAILED") == 0 ||
	       strcmp(state, "CANCELED") == 0;
}

static void
cli_job_print_json_id(const char *key, const char *id)
{
	wr_buf b;
	wr_json j;

	wr_buf_init(&b);
	wr_json_init(&j, &b);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, key, id);
	wr_json_obj_end(&j);
	printf("%s\n", b.data);
	fflush(stdout);
	wr_buf_fini(&b);
}

/* ---- weir run ---------------------------------------------------------- */

typedef struct cli_run_opts {
	const char *path;
	bool detached;
	int parallelism; /* 0 = as in the file */
	const char *from_savepoint;
	bool allow_non_restored;
} cli_run_opts;

/* Returns CLI_OK, CLI_USAGE (printed) or -1 after --help. */
static int
cli_run_flags(int argc, char **argv, cli_run_opts *o)
{
	static const struct option opts[] = {
	    {"detached", no_argument, NULL, 'd'},
	    {"parallelism", required_argument, NULL, 'p'},
	    {"from-savepoint", required_argument, NULL, 's'},
	    {"allow-non-restored-state", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int64_t v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "dp:s:nh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->detached = true;
			break;
		case 'p':
			if (wr_parse_int64(optarg, &v) != WR_OK || v < 1 ||
			    v > WR_JOB_MAX_PARALLELISM) {
				fprintf(
				    stderr,
				    "weir run: -p takes 1 .. %d, not '%s'\n",
				    WR_JOB_MAX_PARALLELISM, optarg);
				return CLI_USAGE;
			}
			o->parallelism = (int)v;
			break;
		case 's':
			o->from_savepoint = optarg;
			break;
		case 'n':
			o->allow_non_restored = true;
			break;
		case 'h':
			cli_run_usage(stdout);
			return -1;
		default:
			cli_run_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc - 1) {
		cli_run_usage(stderr);
		return CLI_USAGE;
	}
	o->path = argv[optind];
	return CLI_OK;
}

/* Parses and plans the job as the JobManager will; on failure prints
 * file:line:col and returns NULL. */
static wr_jobspec *
cli_run_validate(const cli_run_opts *o)
{
	char err[CLI_JOB_ERR_BYTES] = "";
	wr_jobspec *spec = NULL;
	wr_plan *plan = NULL;

	if (wr_jobspec_load_file(o->path, o->parallelism, &spec, err,
	                         sizeof(err)) != WR_OK ||
	    wr_plan_build(spec, &plan, err, sizeof(err)) != WR_OK) {
		fprintf(stderr, "%s\n", err);
		wr_jobspec_free(spec);
		return NULL;
	}
	wr_plan_free(plan);
	return spec;
}

/* Prints how a job that reached a terminal state ended; the exit code. */
static int
cli_run_ended(FILE *msg, const cli_job_info *ji)
{
	const cli_job_summary *s = &ji->summary;

	if (strcmp(s->state, "FINISHED") == 0) {
		fprintf(msg, "Job with JobID %s has finished.\n", s->id);
		if (s->end_time_ms >= s->start_time_ms && s->end_time_ms > 0)
			fprintf(msg, "Job Runtime: %llu ms\n",
			        (unsigned long long)(s->end_time_ms -
			                             s->start_time_ms));
		return CLI_OK;
	}
	if (strcmp(s->state, "FAILED") == 0)
		fprintf(stderr, "weir run: job %s FAILED: %s\n", s->id,
		        ji->failure ? ji->failure : "(no reason given)");
	else
		fprintf(stderr, "weir run: job %s was %s%s%s\n", s->id,
		        s->state, ji->failure ? ": " : "",
		        ji->failure ? ji->failure : "");
	return CLI_FAILED;
}

/* Sleeps ms, waking early on Ctrl-C. */
static void
cli_run_nap(int64_t ms)
{
	int64_t end = wr_mono_ms() + ms;
	int64_t left;

	while (!cli_job_interrupted && (left = end - wr_mono_ms()) > 0)
		wr_sleep_ms(left < 50 ? left : 50);
}

bool
cli_rpc_transient(int rv)
{
	return rv == WR_ETIMEDOUT || rv == WR_EUNREACHABLE ||
	       rv == WR_ECONNREFUSED || rv == WR_ECLOSED;
}

/*
 * Polls the job every CLI_RUN_POLL_MS until it ends (its exit code) or
 * Ctrl-C (CLI_OK: the job keeps running). State changes go to msg.
 */
static int
cli_run_attach(cli_ctx *ctx, wr_rpc_client *cli, const char *id, FILE *msg)
{
	char last[CLI_STATE_BYTES] = "", err[1024];
	int misses = 0, rc = -1; /* -1: still attached */
	cli_job_info ji;

	while (rc < 0 && !cli_job_interrupted) {
		err[0] = '\0';
		int rv = cli_rpc_job_info(cli, (int)ctx->cfg.jm_rpc_timeout_ms,
		                          id, &ji, err, sizeof(err));
		if (rv != WR_OK) {
			if (!cli_rpc_transient(rv) ||
			    ++misses >= CLI_RUN_MAX_MISSES)
				rc = cli_rpc_failed("run", ctx->jobmanager, rv,
				                    err);
			else
				cli_run_nap(CLI_RUN_POLL_MS);
			continue;
		}
		misses = 0;
		if (strcmp(last, ji.summary.state) != 0) {
			snprintf(last, sizeof(last), "%s", ji.summary.state);
			fprintf(msg, "Job %s: %s\n", id, last);
			fflush(msg);
		}
		if (cli_job_state_terminal(ji.summary.state))
			rc = cli_run_ended(msg, &ji);
		cli_job_info_fini(&ji);
		if (rc < 0)
			cli_run_nap(CLI_RUN_POLL_MS);
	}
	if (rc < 0) {
		fprintf(stderr,
		        "\nweir run: detached from job %s; it keeps running "
		        "(weir cancel %s stops it)\n",
		        id, id);
		rc = CLI_OK;
	}
	return rc;
}

static int
cli_run_submit(cli_ctx *ctx, const cli_run_opts *o, const wr_jobspec *spec)
{
	char id[WR_ID_BYTES], err[CLI_JOB_ERR_BYTES] = "";
	cli_submit req = {.job_yaml = spec->text,
	                  .file_name = o->path,
	                  .parallelism = (uint32_t)o->parallelism,
	                  .from_savepoint = o->from_savepoint,
	                  .allow_non_restored_state = o->allow_non_restored};
	FILE *msg = ctx->json ? stderr : stdout;
	wr_rpc_client *cli;
	int rc = cli_connect(ctx, &cli);

	if (rc != CLI_OK)
		return rc;
	int rv = cli_rpc_submit_job(cli, (int)ctx->cfg.jm_rpc_timeout_ms, &req,
	                            id, err, sizeof(err));
	if (rv != WR_OK) {
		rc = cli_rpc_failed("run", ctx->jobmanager, rv, err);
		goto close;
	}
	if (ctx->json)
		cli_job_print_json_id("job_id", id);
	else
		printf("Job has been submitted with JobID %s\n", id);
	fflush(stdout);
	if (!o->detached)
		rc = cli_run_attach(ctx, cli, id, msg);
close:
	wr_rpc_client_free(cli);
	return rc;
}

int
cli_run(cli_ctx *ctx, int argc, char **argv)
{
	cli_run_opts o = {0};
	struct sigaction sa = {0}, old;
	int rc = cli_run_flags(argc, argv, &o);

	if (rc != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	wr_jobspec *spec = cli_run_validate(&o);
	if (spec == NULL)
		return CLI_FAILED;
	/* No SA_RESTART: Ctrl-C only sets a flag the attach loop reads. */
	sa.sa_handler = cli_job_on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	rc = cli_run_submit(ctx, &o, spec);
	sigaction(SIGINT, &old, NULL);
	wr_jobspec_free(spec);
	return rc;
}

/* ---- weir list --------------------------------------------------------- */

static void
cli_list_print_json(const cli_job_list *l)
{
	wr_buf b;
	wr_json j;

	wr_buf_init(&b);
	wr_json_init(&j, &b);
	wr_json_obj_begin(&j);
	wr_json_key(&j, "jobs");
	wr_json_arr_begin(&j);
	for (size_t i = 0; i < l->n; i++) {
		const cli_job_summary *s = &l->jobs[i];
		wr_json_obj_begin(&j);
		wr_json_kv_str(&j, "id", s->id);
		wr_json_kv_str(&j, "name", s->name);
		wr_json_kv_str(&j, "state", s->state);
		wr_json_kv_int(&j, "start_time", (int64_t)s->start_time_ms);
		wr_json_obj_end(&j);
	}
	wr_json_arr_end(&j);
	wr_json_obj_end(&j);
	printf("%s\n", b.data);
	wr_buf_fini(&b);
}

static void
cli_list_print_table(const cli_job_list *l, bool all)
{
	int wname = 4;
	char when[32];

	if (l->n == 0) {
		printf(all ? "No jobs.\n" : "No running jobs.\n");
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		int n = (int)strlen(l->jobs[i].name);
		wname = n > wname ? n : wname;
	}
	printf("%-*s  %-*s  %-10s  %s\n", CLI_JOB_ID_CHARS, "ID", wname, "NAME",
	       "STATE", "START TIME");
	for (size_t i = 0; i < l->n; i++) {
		const cli_job_summary *s = &l->jobs[i];
		wr_ts_format_iso8601((int64_t)s->start_time_ms, when);
		printf("%-*s  %-*s  %-10s  %s\n", CLI_JOB_ID_CHARS, s->id,
		       wname, s->name, s->state, when);
	}
}

/* Returns CLI_OK, CLI_USAGE (printed) or -1 after --help. */
static int
cli_list_flags(int argc, char **argv, bool *all)
{
	static const struct option opts[] = {{"all", no_argument, NULL, 'a'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "ah", opts, NULL)) != -1) {
		if (c == 'a') {
			*all = true;
		} else if (c == 'h') {
			cli_list_usage(stdout);
			return -1;
		} else {
			cli_list_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc) {
		cli_list_usage(stderr);
		return CLI_USAGE;
	}
	return CLI_OK;
}

int
cli_list(cli_ctx *ctx, int argc, char **argv)
{
	char err[1024] = "";
	bool all = false;
	wr_rpc_client *cli;
	cli_job_list l;
	int rc = cli_list_flags(argc, argv, &all);

	if (rc != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	rc = cli_connect(ctx, &cli);
	if (rc != CLI_OK)
		return rc;
	int rv = cli_rpc_list_jobs(cli, (int)ctx->cfg.jm_rpc_timeout_ms, all,
	                           &l, err, sizeof(err));
	if (rv != WR_OK) {
		rc = cli_rpc_failed("list", ctx->jobmanager, rv, err);
		goto close;
	}
	if (ctx->json)
		cli_list_print_json(&l);
	else
		cli_list_print_table(&l, all);
	cli_job_list_fini(&l);
close:
	wr_rpc_client_free(cli);
	return rc;
}

/* ---- weir info --------------------------------------------------------- */

/* The object of GET /jobs/{id} (jobmanager/rest_jobs.c). */
static void
cli_info_print_json(const cli_job_info *ji)
{
	const cli_job_summary *s = &ji->summary;
	wr_buf b;
	wr_json j;

	wr_buf_init(&b);
	wr_json_init(&j, &b);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "id", s->id);
	wr_json_kv_str(&j, "name", s->name);
	wr_json_kv_str(&j, "state", s->state);
	wr_json_kv_int(&j, "start_time", (int64_t)s->start_time_ms);
	wr_json_kv_int(&j, "end_time", (int64_t)s->end_time_ms);
	wr_json_key(&j, "failure");
	if (ji->failure != NULL)
		wr_json_str(&j, ji->failure);
	else
		wr_json_null(&j);
	wr_json_key(&j, "vertices");
	wr_json_arr_begin(&j);
	for (size_t v = 0; v < ji->nvertices; v++) {
		const cli_vertex *vx = &ji->vertices[v];
		wr_json_obj_begin(&j);
		wr_json_kv_str(&j, "id", vx->id);
		wr_json_kv_str(&j, "name", vx->name);
		wr_json_kv_int(&j, "parallelism", vx->parallelism);
		wr_json_key(&j, "subtasks");
		wr_json_arr_begin(&j);
		for (size_t k = 0; k < vx->nsubtasks; k++) {
			wr_json_obj_begin(&j);
			wr_json_kv_int(&j, "index", vx->subtasks[k].index);
			wr_json_kv_str(&j, "state", vx->subtasks[k].state);
			wr_json_kv_str(&j, "taskmanager",
			               vx->subtasks[k].taskmanager);
			wr_json_obj_end(&j);
		}
		wr_json_arr_end(&j);
		wr_json_obj_end(&j);
	}
	wr_json_arr_end(&j);
	wr_json_key(&j, "last_checkpoint");
	if (ji->has_last_checkpoint)
		wr_json_uint(&j, ji->last_checkpoint_id);
	else
		wr_json_null(&j);
	wr_json_obj_end(&j);
	printf("%s\n", b.data);
	wr_buf_fini(&b);
}

static void
cli_info_print_table(const cli_job_info *ji)
{
	const cli_job_summary *s = &ji->summary;
	char when[32];

	printf("Job:             %s\nName:            %s\nState:           "
	       "%s\n",
	       s->id, s->name, s->state);
	wr_ts_format_iso8601((int64_t)s->start_time_ms, when);
	printf("Started:         %s\n", when);
	if (s->end_time_ms > 0) {
		wr_ts_format_iso8601((int64_t)s->end_time_ms, when);
		printf("Ended:           %s\n", when);
	}
	if (ji->failure != NULL)
		printf("Failure:         %s\n", ji->failure);
	if (ji->has_last_checkpoint)
		printf("Last checkpoint: %llu\n",
		       (unsigned long long)ji->last_checkpoint_id);
	else
		printf("Last checkpoint: none\n");
	for (size_t v = 0; v < ji->nvertices; v++) {
		const cli_vertex *vx = &ji->vertices[v];
		printf("\nVertex %s: %s (parallelism %u)\n", vx->id, vx->name,
		       vx->parallelism);
		printf("  %-8s %-10s %s\n", "SUBTASK", "STATE", "TASKMANAGER");
		for (size_t k = 0; k < vx->nsubtasks; k++)
			printf("  %-8u %-10s %s\n", vx->subtasks[k].index,
			       vx->subtasks[k].state,
			       vx->subtasks[k].taskmanager[0]
			           ? vx->subtasks[k].taskmanager
			           : "-");
	}
}

int
cli_info(cli_ctx *ctx, int argc, char **argv)
{
	char id[WR_ID_BYTES], err[1024] = "";
	wr_rpc_client *cli;
	cli_job_info ji;
	int rc = cli_job_id_flags("info", cli_info_usage, argc, argv, id);

	if (rc != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	rc = cli_connect(ctx, &cli);
	if (rc != CLI_OK)
		return rc;
	int rv = cli_rpc_job_info(cli, (int)ctx->cfg.jm_rpc_timeout_ms, id, &ji,
	                          err, sizeof(err));
	if (rv != WR_OK) {
		rc = cli_rpc_failed("info", ctx->jobmanager, rv, err);
		goto close;
	}
	if (ctx->json)
		cli_info_print_json(&ji);
	else
		cli_info_print_table(&ji);
	cli_job_info_fini(&ji);
close:
	wr_rpc_client_free(cli);
	return rc;
}

/* ---- weir cancel ------------------------------------------------------- */

int
cli_cancel(cli_ctx *ctx, int argc, char **argv)
{
	char id[WR_ID_BYTES], err[1024] = "";
	wr_rpc_client *cli;
	int rc = cli_job_id_flags("cancel", cli_cancel_usage, argc, argv, id);

	if (rc != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	rc = cli_connect(ctx, &cli);
	if (rc != CLI_OK)
		return rc;
	int rv = cli_rpc_cancel_job(cli, (int)ctx->cfg.jm_rpc_timeout_ms, id,
	                            err, sizeof(err));
	if (rv != WR_OK)
		rc = cli_rpc_failed("cancel", ctx->jobmanager, rv, err);
	else if (ctx->json)
		cli_job_print_json_id("job_id", id);
	else
		printf("Cancelled job %s\n", id);
	wr_rpc_client_free(cli);
	return rc;
}
