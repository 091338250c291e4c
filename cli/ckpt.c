/*
 * ckpt.c - the checkpoint verbs: `weir checkpoints` (a job's checkpoint
 * history), `weir savepoint` and `weir stop` (stop-with-savepoint).
 *
 * A savepoint is asynchronous on the JobManager: TriggerSavepoint answers
 * at once with the checkpoint id and the directory being written; these
 * verbs then poll the job's checkpoint history until that id is COMPLETED
 * or FAILED (or --timeout passes), and `weir stop` further waits for the
 * job to reach a terminal state, so a script may start the upgraded job as
 * soon as the verb returns.
 */
#include "cli.h"
#include "cli_rpc.h"

#include "clock.h"
#include "err.h"
#include "parse.h"
#include "record.h"
#include "rpc.h"
#include "wr_limits.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How often a waiting savepoint or stop asks for the checkpoint history. */
#define CLI_SP_POLL_MS 200
/* How long savepoint and stop wait by default (--timeout). */
#define CLI_SP_TIMEOUT_MS (10 * 60 * 1000)

static void
cli_checkpoints_usage(FILE *f)
{
	fprintf(f,
	        "usage: weir checkpoints [-o table|json] JOB\n\n"
	        "Shows a job's checkpoint history, newest first: id, status "
	        "(IN_PROGRESS,\nCOMPLETED, FAILED), checkpoint or savepoint, "
	        "trigger time (UTC), end-to-end\nduration, state size, the "
	        "longest alignment of a task, acknowledged tasks,\nand the "
	        "directory (or the failure). Above it: the counts, what the "
	        "job\nrestored from, and its restarts. With -o json it prints "
	        "the object of\nGET /jobs/{id}/checkpoints "
	        "(docs/operations.md). JOB "
	        "is a job id (32 hex characters).\n");
}

static void
cli_savepoint_usage(FILE *f)
{
	fprintf(f,
	        "usage: weir savepoint [--timeout D] [-o table|json] JOB "
	        "[DIR]\n\n"
	        "Triggers a savepoint of a running job (it needs "
	        "checkpointing: in its file)\nand waits until it is complete; "
	        "then prints its path (-o json: {\"path\"}).\nThe job keeps "
	        "running. The savepoint is written to\n"
	        "DIR/savepoint-<job-id-prefix>-<random>/; DIR is a local path "
	        "(made absolute\nhere), a file:// or an s3:// URL; without "
	        "it, the cluster's\n<checkpoints.storage>/savepoints. Start a "
	        "job from it with\n'weir run --from-savepoint PATH'. Exit 1 "
	        "when the savepoint fails or does not\ncomplete in time (it "
	        "may still complete: see weir checkpoints JOB).\n\n"
	        "While it waits, stderr shows its progress: subtasks "
	        "acknowledged, the bytes\nthey wrote, the time so far (one "
	        "line rewritten on a terminal, a line per\nchange otherwise, "
	        "none with -o json).\n\n"
	        "  --timeout D   how long to wait, e.g. 90s, 10m (default "
	        "10m)\n");
}

static void
cli_stop_usage(FILE *f)
{
	fprintf(f,
	        "usage: weir stop [-p DIR] [-d] [--timeout D] [-o table|json] "
	        "JOB\n\n"
	        "Stops a running job with a savepoint: the sources stop after "
	        "the savepoint's\nbarrier, every sink commits, the job ends "
	        "FINISHED. Waits for that, then\nprints the savepoint's path "
	        "(-o json: {\"path\"}). Upgrade the job by\nrunning its new "
	        "version with 'weir run --from-savepoint PATH'. While it "
	        "waits,\nstderr shows the savepoint's progress as 'weir "
	        "savepoint' does, then the\njob's state.\n\n"
	        "  -p, --savepoint-dir DIR  where to write it: a local path "
	        "(made absolute\n"
	        "                           here), a file:// or s3:// URL "
	        "(default\n"
	        "                           <checkpoints.storage>/savepoints)"
	        "; also\n"
	        "                           --savepointPath, as Flink spells "
	        "it\n"
	        "  -d, --drain              emit the final watermark first, so "
	        "every open\n"
	        "                           event-time window fires (use it "
	        "when the job will\n"
	        "                           not be resumed)\n"
	        "  --timeout D              how long to wait, e.g. 90s, 10m "
	        "(default 10m)\n");
}

/* ---- weir checkpoints -------------------------------------------------- */

/* What `weir checkpoints` asks the JobManager, and its answer. */
typedef struct cli_checkpoints_call {
	cli_job_opts job; /* first: cli_job_id_args reads the id into it */
	cli_ckpt_list l;
} cli_checkpoints_call;

static int
cli_checkpoints_rpc(wr_rpc_client *cli, int timeout_ms, void *arg, char *err,
                    size_t errlen)
{
	cli_checkpoints_call *c = arg;
	return cli_rpc_checkpoints(cli, timeout_ms, c->job.id, &c->l, err,
	                           errlen);
}

static void
cli_checkpoints_print_table(const void *arg)
{
	const cli_ckpt_list *l = &((const cli_checkpoints_call *)arg)->l;
	char when[32], size[32];

	printf("Checkpoints: %llu completed, %llu failed, %llu in progress; "
	       "restarts: %llu\n",
	       (unsigned long long)l->completed, (unsigned long long)l->failed,
	       (unsigned long long)l->in_progress,
	       (unsigned long long)l->restarts);
	if (l->restored_id > 0)
		printf("Restored:    checkpoint %llu from %s\n",
		       (unsigned long long)l->restored_id,
		       l->restored_path ? l->restored_path : "?");
	else
		printf("Restored:    none\n");
	if (l->n == 0) {
		printf("No checkpoints.\n");
		return;
	}
	printf("\n%-6s %-11s %-10s %-24s %9s %10s %9s %7s  %s\n", "ID",
	       "STATUS", "TYPE", "TRIGGERED", "DURATION", "SIZE", "ALIGNMENT",
	       "ACKS", "PATH / FAILURE");
	for (size_t i = 0; i < l->n; i++) {
		const cli_ckpt *c = &l->v[i];
		char acks[24], dur[24], align[24];
		if (!wr_ts_format_iso8601((int64_t)c->trigger_time_ms, when))
			snprintf(when, sizeof(when), "-");
		cli_format_bytes(c->size_bytes, size, sizeof(size));
		snprintf(acks, sizeof(acks), "%u/%u", c->acks, c->tasks);
		snprintf(dur, sizeof(dur), "%llums",
		         (unsigned long long)c->duration_ms);
		snprintf(align, sizeof(align), "%llums",
		         (unsigned long long)c->alignment_ms);
		printf("%-6llu %-11s %-10s %-24s %9s %10s %9s %7s  %s\n",
		       (unsigned long long)c->id, c->status,
		       c->is_savepoint ? "savepoint" : "checkpoint", when, dur,
		       size, align, acks,
		       c->failure   ? c->failure
		       : c->path[0] ? c->path
		                    : "-");
	}
}

static void
cli_checkpoints_print_json(const void *arg)
{
	const cli_checkpoints_call *c = arg;
	printf("%s\n", c->l.json);
}

static void
cli_checkpoints_fini(void *arg)
{
	cli_checkpoints_call *c = arg;
	cli_ckpt_list_fini(&c->l);
}

const cli_verb cli_checkpoints_verb = {
    .name = "checkpoints",
    .summary = "a job's checkpoint history: status, duration, size, "
               "alignment",
    .usage = cli_checkpoints_usage,
    .min_args = 1,
    .max_args = 1,
    .opts_bytes = sizeof(cli_checkpoints_call),
    .args = cli_job_id_args,
    .request =
        {
            .call = cli_checkpoints_rpc,
            .print_table = cli_checkpoints_print_table,
            .print_json = cli_checkpoints_print_json,
            .fini = cli_checkpoints_fini,
        },
};

/* ---- weir savepoint / weir stop ---------------------------------------- */

typedef struct cli_sp_opts {
	char id[WR_ID_BYTES];
	const char *dir_arg;    /* DIR or --savepoint-dir as given, or NULL */
	char dir[WR_URL_BYTES]; /* dir_arg made absolute; "" = the default */
	bool stop, drain;
	int64_t timeout_ms;
} cli_sp_opts;

/*
 * The target directory as the JobManager should see it: a URL (file://,
 * s3://) as given, a local path made absolute (the JobManager's working
 * directory is not ours). false, with the reason printed, when it is
 * neither.
 */
bool
cli_sp_dir(const char *verb, const char *arg, char *out, size_t outlen)
{
	char cwd[PATH_MAX], real[PATH_MAX];
	int n;

	if (arg[0] == '\0') {
		cli_error(verb, "the savepoint directory is empty");
		return false;
	}
	if (strstr(arg, "://") != NULL) {
		if (strncmp(arg, "file://", 7) != 0 &&
		    strncmp(arg, "s3://", 5) != 0) {
			cli_error(verb,
			          "'%s': a savepoint directory is a path, a "
			          "file:// or an s3:// URL",
			          arg);
			return false;
		}
		n = snprintf(out, outlen, "%s", arg);
	} else if (realpath(arg, real) != NULL) {
		n = snprintf(out, outlen, "%s", real);
	} else if (arg[0] == '/') {
		n = snprintf(out, outlen, "%s", arg);
	} else if (getcwd(cwd, sizeof(cwd)) != NULL) {
		/* Not there yet: the JobManager creates it. */
		n = snprintf(out, outlen, "%s/%s", cwd, arg);
	} else {
		cli_error(verb,
		          "cannot make '%s' absolute (working directory "
		          "unknown); give an absolute path",
		          arg);
		return false;
	}
	if (n < 0 || (size_t)n >= outlen) {
		cli_error(verb, "the savepoint directory is too long");
		return false;
	}
	return true;
}

static bool
cli_sp_timeout(const cli_verb *v, const char *arg, void *field)
{
	int64_t *ms = field;

	if (wr_parse_duration_ms(arg, ms) != WR_OK || *ms <= 0) {
		cli_error(
		    v->name,
		    "--timeout takes a duration such as 90s or 10m, not '%s'",
		    arg);
		return false;
	}
	return true;
}

static const cli_flag cli_savepoint_flags[] = {
    CLI_FLAG_PARSE("timeout", 0, cli_sp_opts, timeout_ms, cli_sp_timeout),
    CLI_FLAGS_END,
};

static const cli_flag cli_stop_flags[] = {
    CLI_FLAG_PARSE("timeout", 0, cli_sp_opts, timeout_ms, cli_sp_timeout),
    CLI_FLAG("savepoint-dir", 'p', CLI_FLAG_STR, cli_sp_opts, dir_arg),
    /* Flink's spelling */
    CLI_FLAG("savepointPath", 0, CLI_FLAG_STR, cli_sp_opts, dir_arg),
    CLI_FLAG("drain", 'd', CLI_FLAG_BOOL, cli_sp_opts, drain),
    CLI_FLAGS_END,
};

/* JOB, and savepoint's DIR. */
static bool
cli_sp_args(const cli_verb *v, void *opts, int argc, char **argv)
{
	cli_sp_opts *o = opts;

	if (!cli_job_id_arg(v->name, argv[0], o->id))
		return false;
	if (argc == 2)
		o->dir_arg = argv[1];
	return o->dir_arg == NULL ||
	       cli_sp_dir(v->name, o->dir_arg, o->dir, sizeof(o->dir));
}

/* The state of the wait for one savepoint. */
typedef struct cli_sp_wait {
	cli_ctx *ctx;
	wr_rpc_client *cli;
	const char *verb; /* "savepoint" or "stop" */
	const cli_sp_opts *o;
	uint64_t cid;            /* the savepoint's checkpoint id */
	char path[WR_URL_BYTES]; /* where it is written */
	int64_t deadline_ms;     /* monotonic */
	int misses;
	char state[CLI_STATE_BYTES]; /* the job's, last seen */
	char *failure;               /* the job's, heap or NULL */
	/* Progress (stderr): the savepoint's entry in the history, last
	 * seen; bytes are those of the subtasks that acknowledged. */
	cli_progress prog;
	uint32_t acks, tasks;
	uint64_t bytes;
	uint64_t before; /* a checkpoint in progress it waits for; 0 none */
} cli_sp_wait;

/* What one step of the wait says besides an exit code. */
enum {
	CLI_SP_AGAIN = -1,    /* not there yet, or a transient failure */
	CLI_SP_ANSWERED = -2, /* the RPC answered */
};

/* One RPC of the wait: CLI_SP_ANSWERED, CLI_SP_AGAIN after a transient
 * failure worth another try, or the exit code to give up with (printed). */
static int
cli_sp_rpc_result(cli_sp_wait *w, int rv, const char *err)
{
	if (rv == WR_OK) {
		w->misses = 0;
		return CLI_SP_ANSWERED;
	}
	if (cli_rpc_transient(rv) && ++w->misses < CLI_SP_MAX_MISSES)
		return CLI_SP_AGAIN;
	return cli_rpc_failed(w->verb, w->ctx->jobmanager, rv, err);
}

/* Asks for the job's state into w->state (and w->failure); returns as
 * cli_sp_rpc_result. */
static int
cli_sp_job_state(cli_sp_wait *w)
{
	char err[1024] = "";
	cli_job_info ji;
	int rv = cli_rpc_job_info(w->cli, (int)w->ctx->cfg.jm_rpc_timeout_ms,
	                          w->o->id, &ji, err, sizeof(err));
	int r = cli_sp_rpc_result(w, rv, err);

	if (rv == WR_OK) {
		snprintf(w->state, sizeof(w->state), "%s", ji.summary.state);
		free(w->failure);
		w->failure = ji.failure;
		ji.failure = NULL;
		cli_job_info_fini(&ji);
	}
	return r;
}

/* Shows where the savepoint is: acknowledged subtasks, bytes, time. */
static void
cli_sp_show(cli_sp_wait *w, bool changed, bool done)
{
	char bytes[32], el[32];

	cli_format_bytes(w->bytes, bytes, sizeof(bytes));
	cli_format_elapsed(cli_progress_elapsed_ms(&w->prog), el, sizeof(el));
	if (w->before > 0 && w->tasks == 0)
		cli_progress_show(&w->prog, changed, false,
		                  "Savepoint %llu: waiting for checkpoint %llu "
		                  "to end first, %s",
		                  (unsigned long long)w->cid,
		                  (unsigned long long)w->before, el);
	else
		cli_progress_show(&w->prog, changed, done,
		                  "Savepoint %llu%s: %u/%u subtasks "
		                  "acknowledged, %s written, %s",
		                  (unsigned long long)w->cid,
		                  done ? " complete" : "", w->acks, w->tasks,
		                  bytes, el);
}

/* Takes the progress of the savepoint (c, NULL when not listed yet) from
 * history l and shows it. */
static void
cli_sp_note(cli_sp_wait *w, const cli_ckpt_list *l, const cli_ckpt *c)
{
	bool changed = false;

	if (c == NULL) {
		/* Not triggered yet: it waits for the checkpoint running. */
		uint64_t before = 0;
		for (size_t i = 0; before == 0 && i < l->n; i++)
			if (strcmp(l->v[i].status, "IN_PROGRESS") == 0)
				before = l->v[i].id;
		changed = before != w->before;
		w->before = before;
	} else {
		changed = c->acks != w->acks || c->tasks != w->tasks ||
		          c->size_bytes != w->bytes;
		w->acks = c->acks;
		w->tasks = c->tasks;
		w->bytes = c->size_bytes;
	}
	cli_sp_show(w, changed,
	            c != NULL && strcmp(c->status, "COMPLETED") == 0);
}

/*
 * Looks the savepoint up in the history: CLI_OK when it completed
 * (w->path updated), CLI_SP_AGAIN while it is in progress (or after a
 * transient failure), otherwise the exit code (printed). job_ended: the
 * job was seen over before this call.
 */
static int
cli_sp_status(cli_sp_wait *w, bool job_ended)
{
	char err[1024] = "";
	cli_ckpt_list l;
	int rv = cli_rpc_checkpoints(w->cli, (int)w->ctx->cfg.jm_rpc_timeout_ms,
	                             w->o->id, &l, err, sizeof(err));
	int r = cli_sp_rpc_result(w, rv, err);

	if (r != CLI_SP_ANSWERED)
		return r;
	const cli_ckpt *c = NULL;
	for (size_t i = 0; c == NULL && i < l.n; i++)
		if (l.v[i].id == w->cid)
			c = &l.v[i];
	if (c == NULL || strcmp(c->status, "FAILED") != 0)
		cli_sp_note(w, &l, c);
	if (c != NULL && strcmp(c->status, "COMPLETED") == 0) {
		if (c->path[0] != '\0')
			snprintf(w->path, sizeof(w->path), "%s", c->path);
		r = CLI_OK;
	} else if (c != NULL && strcmp(c->status, "FAILED") == 0) {
		cli_error(w->verb, "savepoint %llu failed: %s",
		          (unsigned long long)w->cid,
		          c->failure ? c->failure : "(no reason given)");
		r = CLI_FAILED;
	} else if (job_ended) {
		/* Over before this answer, and still not complete: never. */
		cli_error(w->verb,
		          "job %s ended %s before savepoint %llu completed%s%s",
		          w->o->id, w->state, (unsigned long long)w->cid,
		          w->failure ? ": " : "", w->failure ? w->failure : "");
		r = CLI_FAILED;
	} else {
		r = CLI_SP_AGAIN;
	}
	cli_ckpt_list_fini(&l);
	return r;
}

static void
cli_sp_nap(const cli_sp_wait *w)
{
	int64_t left = w->deadline_ms - wr_mono_ms();
	wr_sleep_ms(left < CLI_SP_POLL_MS ? (left > 0 ? left : 0)
	                                  : CLI_SP_POLL_MS);
}

static int
cli_sp_timed_out(const cli_sp_wait *w, const char *what)
{
	char d[32];
	wr_format_duration(w->o->timeout_ms, d, sizeof(d));
	cli_error(w->verb,
	          "%s within %s (--timeout); savepoint %llu may still "
	          "complete: weir checkpoints %s",
	          what, d, (unsigned long long)w->cid, w->o->id);
	return CLI_FAILED;
}

/* Polls until the savepoint completes (CLI_OK) or fails (printed). The
 * job's state is read before the history, so a job seen over with the
 * savepoint not complete afterwards means it never will be. */
static int
cli_sp_wait_complete(cli_sp_wait *w)
{
	for (;;) {
		int r = cli_sp_job_state(w);
		if (r == CLI_SP_ANSWERED)
			r = cli_sp_status(w, cli_job_state_terminal(w->state));
		if (r != CLI_SP_AGAIN)
			return r;
		if (wr_mono_ms() >= w->deadline_ms)
			return cli_sp_timed_out(w, "the savepoint did not "
			                           "complete");
		cli_sp_nap(w);
	}
}

/* stop: after the savepoint, polls until the job is over; CLI_OK when it
 * FINISHED. */
static int
cli_sp_wait_stopped(cli_sp_wait *w)
{
	char shown[CLI_STATE_BYTES] = "";

	for (;;) {
		int r = cli_sp_job_state(w);
		if (r == CLI_SP_ANSWERED && strcmp(w->state, "FINISHED") == 0)
			return CLI_OK;
		if (r == CLI_SP_ANSWERED) {
			char el[32];
			cli_format_elapsed(cli_progress_elapsed_ms(&w->prog),
			                   el, sizeof(el));
			cli_progress_show(
			    &w->prog, strcmp(shown, w->state) != 0, false,
			    "Savepoint %llu complete; job %s, "
			    "waiting for it to finish, %s",
			    (unsigned long long)w->cid, w->state, el);
			snprintf(shown, sizeof(shown), "%s", w->state);
		}
		if (r == CLI_SP_ANSWERED && cli_job_state_terminal(w->state)) {
			cli_error(
			    "stop",
			    "savepoint %s is complete but job %s ended %s%s%s",
			    w->path, w->o->id, w->state, w->failure ? ": " : "",
			    w->failure ? w->failure : "");
			return CLI_FAILED;
		}
		if (r != CLI_SP_ANSWERED && r != CLI_SP_AGAIN)
			return r;
		if (wr_mono_ms() >= w->deadline_ms)
			return cli_sp_timed_out(w, "the job did not stop");
		cli_sp_nap(w);
	}
}

/* The call of savepoint and stop: says what it does, then triggers the
 * savepoint. */
static int
cli_sp_trigger(wr_rpc_client *cli, int timeout_ms, void *arg, char *err,
               size_t errlen)
{
	cli_sp_wait *w = arg;
	const cli_sp_opts *o = w->o;
	FILE *msg = cli_msg(w->ctx);

	cli_progress_init(&w->prog, w->ctx, 0); /* a line per change */
	w->deadline_ms = wr_mono_ms() + o->timeout_ms;
	if (o->stop)
		fprintf(msg, "Stopping job %s with a savepoint%s%s.\n", o->id,
		        o->dir[0] ? " into " : "", o->dir);
	else
		fprintf(msg, "Triggering a savepoint of job %s%s%s.\n", o->id,
		        o->dir[0] ? " into " : "", o->dir);
	return cli_rpc_savepoint(
	    cli, timeout_ms, o->id, o->dir[0] ? o->dir : NULL, o->stop,
	    o->drain, &w->cid, w->path, sizeof(w->path), err, errlen);
}

/* Waits for the savepoint (and for stop, the job's end); prints its path
 * when it is complete. */
static int
cli_sp_then(cli_ctx *ctx, wr_rpc_client *cli, void *arg)
{
	cli_sp_wait *w = arg;
	FILE *msg = cli_msg(ctx);

	w->cli = cli;
	fprintf(msg, "Savepoint %llu is being written to %s.\n",
	        (unsigned long long)w->cid, w->path);
	fflush(msg);
	int rc = cli_sp_wait_complete(w);
	if (rc == CLI_OK && w->o->stop)
		rc = cli_sp_wait_stopped(w);
	cli_progress_done(&w->prog);
	if (rc != CLI_OK)
		return rc;
	if (ctx->json)
		cli_json_print_str("path", w->path);
	else
		printf("Savepoint completed. Path: %s\n", w->path);
	fflush(stdout);
	return CLI_OK;
}

static const cli_request cli_sp_request = {
    .call = cli_sp_trigger,
    .then = cli_sp_then,
};

static int
cli_sp_run(cli_ctx *ctx, void *opts)
{
	cli_sp_wait w = {.ctx = ctx, .verb = ctx->verb->name, .o = opts};
	int rc = cli_call(ctx, &cli_sp_request, &w);

	free(w.failure);
	return rc;
}

static const cli_sp_opts cli_savepoint_defaults = {.timeout_ms =
                                                       CLI_SP_TIMEOUT_MS};
static const cli_sp_opts cli_stop_defaults = {.stop = true,
                                              .timeout_ms = CLI_SP_TIMEOUT_MS};

const cli_verb cli_savepoint_verb = {
    .name = "savepoint",
    .summary = "take a savepoint of a job; prints its path when complete",
    .usage = cli_savepoint_usage,
    .flags = cli_savepoint_flags,
    .min_args = 1,
    .max_args = 2,
    .opts_bytes = sizeof(cli_sp_opts),
    .defaults = &cli_savepoint_defaults,
    .args = cli_sp_args,
    .run = cli_sp_run,
};

const cli_verb cli_stop_verb = {
    .name = "stop",
    .summary = "stop a job with a savepoint; prints its path",
    .usage = cli_stop_usage,
    .flags = cli_stop_flags,
    .min_args = 1,
    .max_args = 1,
    .opts_bytes = sizeof(cli_sp_opts),
    .defaults = &cli_stop_defaults,
    .args = cli_sp_args,
    .run = cli_sp_run,
};
