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
#include "plan.h"
#include "rpc.h"
#include "wr_limits.h"

#include <ctype.h>
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
	    "                                  (also --fromSavepoint, as "
	    "Flink spells it)\n"
	    "  -n, --allow-non-restored-state  allow savepoint state that "
	    "maps to no operator\n"
	    "                                  (also "
	    "--allowNonRestoredState)\n",
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
		cli_error(
		    verb,
		    "'%s' is not a job id (%d hex characters, see weir list)",
		    arg, CLI_JOB_ID_CHARS);
		return false;
	}
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)arg[i]);
	return true;
}

bool
cli_job_id_args(const cli_verb *v, void *opts, int argc, char **argv)
{
	cli_job_opts *o = opts;

	(void)argc;
	return cli_job_id_arg(v->name, argv[0], o->id);
}

bool
cli_job_state_terminal(const char *state)
{
	return strcmp(state, "FINISHED") == 0 || strcmp(state, "FAILED") == 0 ||
	       strcmp(state, "CANCELED") == 0;
}

/* ---- weir run ---------------------------------------------------------- */

typedef struct cli_run_opts {
	const char *path; /* first: cli_verb_arg_str */
	bool detached;
	int64_t parallelism; /* 0 = as in the file */
	const char *from_savepoint;
	bool allow_non_restored;
} cli_run_opts;

static const cli_flag cli_run_flags[] = {
    CLI_FLAG("detached", 'd', CLI_FLAG_BOOL, cli_run_opts, detached),
    CLI_FLAG_RANGE("parallelism", 'p', cli_run_opts, parallelism, 1,
                   WR_JOB_MAX_PARALLELISM),
    CLI_FLAG("from-savepoint", 's', CLI_FLAG_STR, cli_run_opts, from_savepoint),
    /* Flink's spellings */
    CLI_FLAG("fromSavepoint", 0, CLI_FLAG_STR, cli_run_opts, from_savepoint),
    CLI_FLAG("allowNonRestoredState", 0, CLI_FLAG_BOOL, cli_run_opts,
             allow_non_restored),
    CLI_FLAG("allow-non-restored-state", 'n', CLI_FLAG_BOOL, cli_run_opts,
             allow_non_restored),
    CLI_FLAGS_END,
};

/* Parses and plans the job as the JobManager will; on failure prints
 * file:line:col and returns NULL. */
static wr_jobspec *
cli_run_validate(const cli_run_opts *o)
{
	char err[CLI_JOB_ERR_BYTES] = "";
	wr_jobspec *spec = NULL;
	wr_plan *plan = NULL;

	if (wr_jobspec_load_file(o->path, (int)o->parallelism, &spec, err,
	                         sizeof(err)) != WR_OK ||
	    wr_plan_build(spec, &plan, err, sizeof(err)) != WR_OK) {
		cli_error_bare(err);
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
		cli_error("run", "job %s FAILED: %s", s->id,
		          ji->failure ? ji->failure : "(no reason given)");
	else
		cli_error("run", "job %s was %s%s%s", s->id, s->state,
		          ji->failure ? ": " : "",
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
				rc = cli_rpc_failed(ctx->verb->name,
				                    ctx->jobmanager, rv, err);
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

/* What `weir run` asks the JobManager, and its answer. */
typedef struct cli_run_call {
	const cli_run_opts *o;
	wr_jobspec *spec;
	char id[WR_ID_BYTES]; /* the job's, once submitted */
} cli_run_call;

static int
cli_run_rpc(wr_rpc_client *cli, int timeout_ms, void *arg, char *err,
            size_t errlen)
{
	cli_run_call *c = arg;
	cli_submit req = {.job_yaml = c->spec->text,
	                  .file_name = c->o->path,
	                  .parallelism = (uint32_t)c->o->parallelism,
	                  .from_savepoint = c->o->from_savepoint,
	                  .allow_non_restored_state = c->o->allow_non_restored};

	return cli_rpc_submit_job(cli, timeout_ms, &req, c->id, err, errlen);
}

static void
cli_run_print_table(const void *arg)
{
	const cli_run_call *c = arg;
	printf("Job has been submitted with JobID %s\n", c->id);
}

static void
cli_run_print_json(const void *arg)
{
	const cli_run_call *c = arg;
	cli_json_print_str("job_id", c->id);
}

static int
cli_run_then(cli_ctx *ctx, wr_rpc_client *cli, void *arg)
{
	const cli_run_call *c = arg;
	return c->o->detached ? CLI_OK
	                      : cli_run_attach(ctx, cli, c->id, cli_msg(ctx));
}

static const cli_request cli_run_request = {
    .call = cli_run_rpc,
    .print_table = cli_run_print_table,
    .print_json = cli_run_print_json,
    .then = cli_run_then,
};

static int
cli_run(cli_ctx *ctx, void *opts)
{
	cli_run_call c = {.o = opts};
	struct sigaction sa = {0}, old;

	c.spec = cli_run_validate(c.o);
	if (c.spec == NULL)
		return CLI_FAILED;
	/* No SA_RESTART: Ctrl-C only sets a flag the attach loop reads. */
	sa.sa_handler = cli_job_on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	int rc = cli_call(ctx, &cli_run_request, &c);
	sigaction(SIGINT, &old, NULL);
	wr_jobspec_free(c.spec);
	return rc;
}

const cli_verb cli_run_verb = {
    .name = "run",
    .summary = "validate and submit a job; attached until it ends",
    .usage = cli_run_usage,
    .flags = cli_run_flags,
    .min_args = 1,
    .max_args = 1,
    .opts_bytes = sizeof(cli_run_opts),
    .args = cli_verb_arg_str,
    .run = cli_run,
};

/* ---- weir list --------------------------------------------------------- */

/* What `weir list` asks the JobManager, and its answer. */
typedef struct cli_list_call {
	bool all; /* -a: finished jobs too */
	cli_job_list l;
} cli_list_call;

static const cli_flag cli_list_flags[] = {
    CLI_FLAG("all", 'a', CLI_FLAG_BOOL, cli_list_call, all),
    CLI_FLAGS_END,
};

static int
cli_list_rpc(wr_rpc_client *cli, int timeout_ms, void *arg, char *err,
             size_t errlen)
{
	cli_list_call *c = arg;
	return cli_rpc_list_jobs(cli, timeout_ms, c->all, &c->l, err, errlen);
}

static void
cli_list_print_json(const void *arg)
{
	const cli_job_list *l = &((const cli_list_call *)arg)->l;
	wr_buf b;
	wr_json j;

	cli_json_begin(&b, &j);
	wr_json_obj_begin(&j);
	wr_json_key(&j, "jobs");
	wr_json_arr_begin(&j);
	for (size_t i = 0; i < l->n; i++) {
		const cli_job_summary *s = &l->jobs[i];
		wr_json_obj_begin(&j);
		wr_json_kv_str(&j, "job_id", s->id);
		wr_json_kv_str(&j, "name", s->name);
		wr_json_kv_str(&j, "state", s->state);
		wr_json_kv_int(&j, "start_time", (int64_t)s->start_time_ms);
		wr_json_obj_end(&j);
	}
	wr_json_arr_end(&j);
	wr_json_obj_end(&j);
	cli_json_end(&b);
}

static void
cli_list_print_table(const void *arg)
{
	const cli_list_call *c = arg;
	const cli_job_list *l = &c->l;
	int wname = 4;
	char when[32];

	if (l->n == 0) {
		printf(c->all ? "No jobs.\n" : "No running jobs.\n");
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

static void
cli_list_fini(void *arg)
{
	cli_list_call *c = arg;
	cli_job_list_fini(&c->l);
}

const cli_verb cli_list_verb = {
    .name = "list",
    .summary = "running jobs (all with -a)",
    .usage = cli_list_usage,
    .flags = cli_list_flags,
    .opts_bytes = sizeof(cli_list_call),
    .request =
        {
            .call = cli_list_rpc,
            .print_table = cli_list_print_table,
            .print_json = cli_list_print_json,
            .fini = cli_list_fini,
        },
};

/* ---- weir info --------------------------------------------------------- */

/* What `weir info` asks the JobManager, and its answer. */
typedef struct cli_info_call {
	cli_job_opts job; /* first: cli_job_id_args reads the id into it */
	cli_job_info ji;
} cli_info_call;

static int
cli_info_rpc(wr_rpc_client *cli, int timeout_ms, void *arg, char *err,
             size_t errlen)
{
	cli_info_call *c = arg;
	return cli_rpc_job_info(cli, timeout_ms, c->job.id, &c->ji, err,
	                        errlen);
}

/* The object of GET /jobs/{id} (jobmanager/rest_jobs.c). */
static void
cli_info_print_json(const void *arg)
{
	const cli_job_info *ji = &((const cli_info_call *)arg)->ji;
	const cli_job_summary *s = &ji->summary;
	wr_buf b;
	wr_json j;

	cli_json_begin(&b, &j);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "id", s->id);
	wr_json_kv_str(&j, "name", s->name);
	wr_json_kv_str(&j, "state", s->state);
	wr_json_kv_int(&j, "start_time", (int64_t)s->start_time_ms);
	wr_json_kv_str(&j, "spec_hash", s->spec_hash);
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
	cli_json_end(&b);
}

static void
cli_info_print_table(const void *arg)
{
	const cli_job_info *ji = &((const cli_info_call *)arg)->ji;
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

static void
cli_info_fini(void *arg)
{
	cli_info_call *c = arg;
	cli_job_info_fini(&c->ji);
}

const cli_verb cli_info_verb = {
    .name = "info",
    .summary = "a job's state, vertices and subtasks",
    .usage = cli_info_usage,
    .min_args = 1,
    .max_args = 1,
    .opts_bytes = sizeof(cli_info_call),
    .args = cli_job_id_args,
    .request =
        {
            .call = cli_info_rpc,
            .print_table = cli_info_print_table,
            .print_json = cli_info_print_json,
            .fini = cli_info_fini,
        },
};

/* ---- weir cancel ------------------------------------------------------- */

static int
cli_cancel_rpc(wr_rpc_client *cli, int timeout_ms, void *arg, char *err,
               size_t errlen)
{
	const cli_job_opts *o = arg;
	return cli_rpc_cancel_job(cli, timeout_ms, o->id, err, errlen);
}

static void
cli_cancel_print_table(const void *arg)
{
	const cli_job_opts *o = arg;
	printf("Cancelled job %s\n", o->id);
}

static void
cli_cancel_print_json(const void *arg)
{
	const cli_job_opts *o = arg;
	cli_json_print_str("job_id", o->id);
}

const cli_verb cli_cancel_verb = {
    .name = "cancel",
    .summary = "cancel a job",
    .usage = cli_cancel_usage,
    .min_args = 1,
    .max_args = 1,
    .opts_bytes = sizeof(cli_job_opts),
    .args = cli_job_id_args,
    .request =
        {
            .call = cli_cancel_rpc,
            .print_table = cli_cancel_print_table,
            .print_json = cli_cancel_print_json,
        },
};
