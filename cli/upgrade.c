/*
 * upgrade.c - `weir upgrade` and `weir apply`. The JobManager runs every
 * upgrade (jobmanager/upgrade.c: savepoint, last-state or stateless, and
 * the rollback); these verbs start one and print its steps as they
 * happen. `weir apply` reads a directory of job files, plans against the
 * jobs that run (apply_plan.c) and starts, upgrades and (--prune) stops
 * jobs; --watch does it again whenever the directory's job files change.
 */
#include "apply.h"
#include "cli.h"
#include "cli_rpc.h"

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "fsutil.h"
#include "id.h"
#include "jobspec.h"
#include "json.h"
#include "mem.h"
#include "plan.h"
#include "rpc.h"
#include "wr_limits.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* How often a client asks how an upgrade or a stop stands. */
#define CLI_UPGRADE_POLL_MS 200
/* How often `weir apply --watch` looks at the directory. */
#define CLI_APPLY_WATCH_MS 1000
/* How long `weir apply --prune` waits for a stop-with-savepoint. */
#define CLI_APPLY_STOP_WAIT_MS (10 * 60 * 1000)

static volatile sig_atomic_t cli_upgrade_stop_flag;

static void
cli_upgrade_on_signal(int sig)
{
	(void)sig;
	cli_upgrade_stop_flag = 1;
}

/* Sleeps ms, waking early on SIGINT/SIGTERM. */
static void
cli_upgrade_nap(int64_t ms)
{
	int64_t end = wr_mono_ms() + ms;
	int64_t left;
	while (!cli_upgrade_stop_flag && (left = end - wr_mono_ms()) > 0)
		wr_sleep_ms(left < 50 ? left : 50);
}

static void
cli_upgrade_usage(FILE *f)
{
	fprintf(f,
	        "usage: weir upgrade [--mode savepoint|last-state|stateless] "
	        "[-p N]\n"
	        "                    [--allow-non-restored-state] "
	        "[--savepoint-dir DIR]\n"
	        "                    [-o table|json] JOB NEW.yaml\n\n"
	        "Upgrades running job JOB to the job file NEW.yaml. The "
	        "JobManager runs the\nupgrade and this prints each step as it "
	        "happens:\n\n"
	        "  savepoint   (default) stop JOB with a savepoint, start NEW "
	        "from it;\n"
	        "  last-state  cancel JOB and start NEW from its latest "
	        "completed checkpoint\n"
	        "              (for a job too unhealthy to take a savepoint);\n"
	        "  stateless   cancel JOB and start NEW without state.\n\n"
	        "NEW counts as running once every task runs and it completed a "
	        "checkpoint.\nIf it cannot start, or fails before that, it is "
	        "cancelled and the old\nversion (as the JobManager kept it) "
	        "starts again from the same state: rolled\nback. Exit 0 only "
	        "when NEW runs; 1 when it was rolled back or nothing\nchanged "
	        "(the reason is printed). -o json prints {\"job_id\", "
	        "\"savepoint\",\n\"rolled_back\"}: the job running now and "
	        "the state it started from.\n\n"
	        "  -m, --mode MODE                 savepoint, last-state or "
	        "stateless\n"
	        "  -p, --parallelism N             default parallelism of "
	        "NEW's nodes (1 .. %d)\n"
	        "  -n, --allow-non-restored-state  allow state that maps to no "
	        "node of NEW\n"
	        "  -s, --savepoint-dir DIR         where the savepoint goes "
	        "(default: the\n"
	        "                                  cluster's "
	        "<checkpoints.storage>/savepoints)\n",
	        WR_JOB_MAX_PARALLELISM);
}

typedef struct cli_upgrade_opts {
	char id[WR_ID_BYTES];
	const char *path;
	const char *mode;
	int64_t parallelism;
	bool allow_non_restored;
	const char *dir_arg;
	char dir[WR_URL_BYTES];
} cli_upgrade_opts;

static bool
cli_upgrade_mode(const cli_verb *v, const char *arg, void *field)
{
	if (strcmp(arg, "savepoint") != 0 && strcmp(arg, "last-state") != 0 &&
	    strcmp(arg, "stateless") != 0) {
		cli_error(v->name,
		          "--mode takes savepoint, last-state or stateless, "
		          "not '%s'",
		          arg);
		return false;
	}
	*(const char **)field = arg;
	return true;
}

static const cli_flag cli_upgrade_flags[] = {
    CLI_FLAG_PARSE("mode", 'm', cli_upgrade_opts, mode, cli_upgrade_mode),
    CLI_FLAG_RANGE("parallelism", 'p', cli_upgrade_opts, parallelism, 1,
                   WR_JOB_MAX_PARALLELISM),
    CLI_FLAG("allow-non-restored-state", 'n', CLI_FLAG_BOOL, cli_upgrade_opts,
             allow_non_restored),
    CLI_FLAG("allowNonRestoredState", 0, CLI_FLAG_BOOL, cli_upgrade_opts,
             allow_non_restored),
    CLI_FLAG("savepoint-dir", 's', CLI_FLAG_STR, cli_upgrade_opts, dir_arg),
    CLI_FLAGS_END,
};

static bool
cli_upgrade_args(const cli_verb *v, void *opts, int argc, char **argv)
{
	cli_upgrade_opts *o = opts;
	(void)argc;
	if (!cli_job_id_arg(v->name, argv[0], o->id))
		return false;
	o->path = argv[1];
	return o->dir_arg == NULL ||
	       cli_sp_dir(v->name, o->dir_arg, o->dir, sizeof(o->dir));
}

/* Loads and plans a job file as the JobManager will; NULL with the error
 * (file:line:column) in err. */
static wr_jobspec *
cli_upgrade_load(const char *path, int parallelism, char *err, size_t errlen)
{
	wr_jobspec *spec = NULL;
	wr_plan *plan = NULL;
	if (wr_jobspec_load_file(path, parallelism, &spec, err, errlen) !=
	        WR_OK ||
	    wr_plan_build(spec, &plan, err, errlen) != WR_OK) {
		wr_jobspec_free(spec);
		return NULL;
	}
	wr_plan_free(plan);
	return spec;
}

/* Prints the steps from *shown on, each once, with the time since t0. */
static void
cli_upgrade_steps(FILE *msg, const char *prefix, const cli_upgrade_status *st,
                  size_t *shown, int64_t t0)
{
	char el[32];
	for (; *shown < st->nsteps; (*shown)++) {
		cli_format_elapsed(wr_mono_ms() - t0, el, sizeof(el));
		fprintf(msg, "%s[%6s] %s\n", prefix, el, st->steps[*shown]);
	}
	fflush(msg);
}

/*
 * Starts the upgrade req on the JobManager and follows it to its end,
 * printing each step on msg (prefixed). *st is its last status (the
 * caller finis it). Returns CLI_OK when the new version runs, CLI_FAILED
 * when it does not (rolled back, or nothing changed; the reason printed),
 * CLI_UNREACHABLE when the JobManager stopped answering.
 */
static int
cli_upgrade_follow(cli_ctx *ctx, wr_rpc_client *cli, const cli_upgrade_req *req,
                   const char *prefix, cli_upgrade_status *st)
{
	char err[4096] = "";
	FILE *msg = cli_msg(ctx);
	int timeout = (int)ctx->cfg.jm_rpc_timeout_ms, misses = 0;
	int64_t t0 = wr_mono_ms();
	size_t shown = 0;
	int rv = cli_rpc_upgrade(cli, timeout, req, st, err, sizeof(err));
	if (rv != WR_OK)
		return cli_rpc_failed(ctx->verb->name, ctx->jobmanager, rv,
		                      err);
	uint64_t id = st->id;
	cli_upgrade_steps(msg, prefix, st, &shown, t0);
	while (!st->done) {
		cli_upgrade_nap(CLI_UPGRADE_POLL_MS);
		if (cli_upgrade_stop_flag) {
			cli_error(ctx->verb->name,
			          "interrupted: upgrade %llu goes on in the "
			          "JobManager (weir list shows its outcome)",
			          (unsigned long long)id);
			return CLI_FAILED;
		}
		cli_upgrade_status next;
		rv = cli_rpc_upgrade_status(cli, timeout, id, &next, err,
		                            sizeof(err));
		if (rv != WR_OK) {
			if (cli_rpc_transient(rv) &&
			    ++misses < CLI_UPGRADE_MAX_MISSES)
				continue;
			return cli_rpc_failed(ctx->verb->name, ctx->jobmanager,
			                      rv, err);
		}
		misses = 0;
		cli_upgrade_status_fini(st);
		*st = next;
		cli_upgrade_steps(msg, prefix, st, &shown, t0);
	}
	if (st->ok)
		return CLI_OK;
	cli_error(ctx->verb->name, "%s",
	          st->error ? st->error : "the upgrade failed");
	return CLI_FAILED;
}

static void
cli_upgrade_print(const cli_ctx *ctx, const cli_upgrade_status *st)
{
	if (!ctx->json) {
		if (st->ok)
			printf(
			    "Job upgraded: job %s runs the new version%s%s\n",
			    st->job_id, st->savepoint[0] ? " from " : "",
			    st->savepoint);
		return;
	}
	wr_buf b;
	wr_json j;
	cli_json_begin(&b, &j);
	wr_json_obj_begin(&j);
	wr_json_key(&j, "job_id");
	if (st->job_id[0])
		wr_json_str(&j, st->job_id);
	else
		wr_json_null(&j);
	wr_json_key(&j, "savepoint");
	if (st->savepoint[0])
		wr_json_str(&j, st->savepoint);
	else
		wr_json_null(&j);
	wr_json_kv_bool(&j, "rolled_back", st->rolled_back);
	wr_json_obj_end(&j);
	cli_json_end(&b);
}

/* SIGINT and SIGTERM set cli_upgrade_stop_flag (no SA_RESTART). */
static void
cli_upgrade_signals(struct sigaction old[2])
{
	struct sigaction sa = {0};
	sa.sa_handler = cli_upgrade_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old[0]);
	sigaction(SIGTERM, &sa, &old[1]);
}

static int
cli_upgrade_run(cli_ctx *ctx, void *opts)
{
	cli_upgrade_opts *o = opts;
	char err[4096];
	wr_rpc_client *cli = NULL;
	cli_upgrade_status st = {0};
	struct sigaction old[2];
	wr_jobspec *spec =
	    cli_upgrade_load(o->path, (int)o->parallelism, err, sizeof(err));
	if (spec == NULL) {
		cli_error_bare(err);
		return CLI_FAILED;
	}
	int rc = cli_connect(ctx, &cli);
	if (rc != CLI_OK)
		goto out;
	cli_upgrade_req req = {
	    .job_id = o->id,
	    .job_yaml = spec->text,
	    .file_name = o->path,
	    .mode = o->mode,
	    .parallelism = (uint32_t)o->parallelism,
	    .allow_non_restored_state = o->allow_non_restored,
	    .savepoint_dir = o->dir[0] ? o->dir : NULL,
	};
	cli_upgrade_signals(old);
	rc = cli_upgrade_follow(ctx, cli, &req, "", &st);
	sigaction(SIGINT, &old[0], NULL);
	sigaction(SIGTERM, &old[1], NULL);
	if (rc != CLI_UNREACHABLE && st.id != 0)
		cli_upgrade_print(ctx, &st);
out:
	cli_upgrade_status_fini(&st);
	wr_rpc_client_free(cli);
	wr_jobspec_free(spec);
	return rc;
}

const cli_verb cli_upgrade_verb = {
    .name = "upgrade",
    .summary = "upgrade a running job to a new job file (savepoint, "
               "rollback)",
    .usage = cli_upgrade_usage,
    .flags = cli_upgrade_flags,
    .min_args = 2,
    .max_args = 2,
    .opts_bytes = sizeof(cli_upgrade_opts),
    .args = cli_upgrade_args,
    .run = cli_upgrade_run,
};

/* ---- weir apply -------------------------------------------------------- */

static void
cli_apply_usage(FILE *f)
{
	fprintf(
	    f, "usage: weir apply [--prune] [--dry-run] [--watch] "
	       "[--savepoint-dir DIR]\n"
	       "                  [-o table|json] DIR\n\n"
	       "Makes the jobs that run match the job files in DIR (*.yaml, "
	       "*.yml; names\nstarting with '.' are skipped). Each file is the "
	       "desired state of the job\nwith its `name`:\n\n"
	       "  no job of that name runs     it is started;\n"
	       "  the file changed             the job is upgraded as `weir "
	       "upgrade` does\n"
	       "                               (savepoint mode, rollback on "
	       "failure);\n"
	       "  unchanged                    it is left alone (its id and "
	       "attempt stay);\n"
	       "  --prune: a running job no file declares is stopped with a "
	       "savepoint.\n\n"
	       "Changed means the file's bytes differ from those the job was "
	       "submitted with\n(the JobManager keeps their hash: spec_hash in "
	       "`weir info -o json`). A file\nthat does not validate is "
	       "reported (file:line:column) and nothing is done\nfor it, nor "
	       "is any job pruned; two running jobs of one name are refused.\n"
	       "Exit 0 when everything was applied, 1 otherwise.\n\n"
	       "  --prune               stop running jobs that no file in DIR "
	       "declares\n"
	       "  --dry-run             print the plan; change nothing\n"
	       "  --watch               apply again whenever DIR's job files "
	       "change (checked\n"
	       "                        every second by content, so a "
	       "Kubernetes ConfigMap\n"
	       "                        mount's ..data swap counts), until "
	       "SIGTERM or SIGINT\n"
	       "  -s, --savepoint-dir DIR  where --prune and upgrades put "
	       "savepoints (default:\n"
	       "                        the cluster's "
	       "<checkpoints.storage>/savepoints)\n");
}

typedef struct cli_apply_opts {
	const char *dir; /* first: cli_verb_arg_str */
	bool prune, dry_run, watch;
	const char *sp_arg;
	char sp_dir[WR_URL_BYTES];
} cli_apply_opts;

static const cli_flag cli_apply_flags[] = {
    CLI_FLAG("prune", 0, CLI_FLAG_BOOL, cli_apply_opts, prune),
    CLI_FLAG("dry-run", 0, CLI_FLAG_BOOL, cli_apply_opts, dry_run),
    CLI_FLAG("watch", 0, CLI_FLAG_BOOL, cli_apply_opts, watch),
    CLI_FLAG("savepoint-dir", 's', CLI_FLAG_STR, cli_apply_opts, sp_arg),
    CLI_FLAGS_END,
};

static bool
cli_apply_args(const cli_verb *v, void *opts, int argc, char **argv)
{
	cli_apply_opts *o = opts;
	(void)argc;
	o->dir = argv[0];
	return o->sp_arg == NULL ||
	       cli_sp_dir(v->name, o->sp_arg, o->sp_dir, sizeof(o->sp_dir));
}

/* The job files of a directory, loaded. */
typedef struct cli_apply_dir {
	size_t n;
	cli_apply_file files[CLI_APPLY_MAX_FILES];
	wr_jobspec *specs[CLI_APPLY_MAX_FILES];
	char hashes[CLI_APPLY_MAX_FILES][WR_CONTENT_HASH_BYTES];
	char *paths[CLI_APPLY_MAX_FILES];
	char *errors[CLI_APPLY_MAX_FILES];
} cli_apply_dir;

static void
cli_apply_dir_fini(cli_apply_dir *d)
{
	for (size_t i = 0; i < d->n; i++) {
		wr_jobspec_free(d->specs[i]);
		free(d->paths[i]);
		free(d->errors[i]);
	}
	d->n = 0;
}

static bool
cli_apply_is_job_file(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' &&
	       ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	        (n > 4 && strcmp(name + n - 4, ".yml") == 0));
}

static int
cli_apply_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The job file paths of dir, sorted (a symlink counts by what it points
 * to: a ConfigMap mount's files are links into ..data). */
static int
cli_apply_list(const char *dir, char **paths, size_t *n, char *err,
               size_t errlen)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	*n = 0;
	if (dp == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", dir,
		         strerror(errno));
		return WR_ENOENT;
	}
	while ((de = readdir(dp)) != NULL) {
		char path[PATH_MAX];
		struct stat sb;
		if (!cli_apply_is_job_file(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		if (*n == CLI_APPLY_MAX_FILES) {
			snprintf(err, errlen, "%s holds more than %d job files",
			         dir, CLI_APPLY_MAX_FILES);
			closedir(dp);
			for (size_t i = 0; i < *n; i++)
				free(paths[i]);
			*n = 0;
			return WR_ETOOBIG;
		}
		paths[(*n)++] = wr_xstrdup(path);
	}
	closedir(dp);
	qsort(paths, *n, sizeof(char *), cli_apply_cmp);
	return WR_OK;
}

/* Reads every job file of dir into d. */
static int
cli_apply_read(const char *dir, cli_apply_dir *d, char *err, size_t errlen)
{
	int rv = cli_apply_list(dir, d->paths, &d->n, err, errlen);
	if (rv != WR_OK)
		return rv;
	for (size_t i = 0; i < d->n; i++) {
		char e[4096] = "";
		cli_apply_file *f = &d->files[i];
		f->path = d->paths[i];
		d->specs[i] = cli_upgrade_load(f->path, 0, e, sizeof(e));
		if (d->specs[i] == NULL) {
			d->errors[i] = wr_xstrdup(e);
			f->error = d->errors[i];
			continue;
		}
		const char *t = d->specs[i]->text;
		wr_content_hash(t, strlen(t), d->hashes[i]);
		f->name = d->specs[i]->name;
		f->hash = d->hashes[i];
	}
	return WR_OK;
}

/* One run of apply: the connection, what it found and what it did. */
typedef struct cli_apply_run {
	cli_ctx *ctx;
	const cli_apply_opts *o;
	wr_rpc_client *cli;
	FILE *msg;
	cli_apply_dir *d;
	cli_job_list jobs;
	cli_apply_job *aj;
	wr_buf jb; /* -o json: the actions */
	wr_json j;
	bool failed;
} cli_apply_run;

/* Stops job id with a savepoint and waits until it ended; the savepoint's
 * path in path. false with the reason in err. */
static bool
cli_apply_stop(cli_apply_run *r, const char *id, char *path, size_t pathlen,
               char *err, size_t errlen)
{
	int timeout = (int)r->ctx->cfg.jm_rpc_timeout_ms, misses = 0;
	const char *dir = r->o->sp_dir[0] ? r->o->sp_dir : NULL;
	uint64_t cid;
	int rv = cli_rpc_savepoint(r->cli, timeout, id, dir, true, false, &cid,
	                           path, pathlen, err, errlen);
	if (rv != WR_OK)
		return false;
	int64_t deadline = wr_mono_ms() + CLI_APPLY_STOP_WAIT_MS;
	while (wr_mono_ms() < deadline && !cli_upgrade_stop_flag) {
		cli_ckpt_list l;
		cli_job_info ji;
		cli_upgrade_nap(CLI_UPGRADE_POLL_MS);
		rv = cli_rpc_checkpoints(r->cli, timeout, id, &l, err, errlen);
		if (rv != WR_OK) {
			if (cli_rpc_transient(rv) &&
			    ++misses < CLI_UPGRADE_MAX_MISSES)
				continue;
			return false;
		}
		const char *status = "IN_PROGRESS";
		for (size_t i = 0; i < l.n; i++)
			if (l.v[i].id == cid) {
				status = l.v[i].status;
				if (l.v[i].failure)
					snprintf(err, errlen,
					         "the savepoint failed: %s",
					         l.v[i].failure);
			}
		bool failed = strcmp(status, "FAILED") == 0;
		bool completed = strcmp(status, "COMPLETED") == 0;
		cli_ckpt_list_fini(&l);
		if (failed)
			return false;
		if (!completed || cli_rpc_job_info(r->cli, timeout, id, &ji,
		                                   err, errlen) != WR_OK)
			continue;
		bool ended = cli_job_state_terminal(ji.summary.state);
		cli_job_info_fini(&ji);
		if (ended)
			return true;
	}
	snprintf(err, errlen, "job %s did not stop in time", id);
	return false;
}

/* Records one action for -o json. */
static void
cli_apply_json(cli_apply_run *r, const cli_apply_step *s, const char *job_id,
               const char *savepoint, const char *error)
{
	const cli_apply_file *f = s->file >= 0 ? &r->d->files[s->file] : NULL;
	const char *name = f && f->name  ? f->name
	                   : s->job >= 0 ? r->aj[s->job].name
	                                 : NULL;
	wr_json *j = &r->j;
	wr_json_obj_begin(j);
	wr_json_kv_str(j, "action", cli_apply_action_name(s->action));
	wr_json_key(j, "name");
	name ? wr_json_str(j, name) : wr_json_null(j);
	wr_json_key(j, "file");
	f ? wr_json_str(j, f->path) : wr_json_null(j);
	wr_json_key(j, "job_id");
	job_id &&job_id[0] ? wr_json_str(j, job_id) : wr_json_null(j);
	wr_json_key(j, "savepoint");
	savepoint &&savepoint[0] ? wr_json_str(j, savepoint) : wr_json_null(j);
	wr_json_key(j, "error");
	error ? wr_json_str(j, error) : wr_json_null(j);
	wr_json_obj_end(j);
}

static void
cli_apply_start(cli_apply_run *r, const cli_apply_step *s)
{
	const cli_apply_file *f = &r->d->files[s->file];
	char id[WR_ID_BYTES] = "", err[4096] = "";
	fprintf(r->msg, "start      %s (%s)\n", f->name, f->path);
	fflush(r->msg);
	if (r->o->dry_run) {
		cli_apply_json(r, s, NULL, NULL, NULL);
		return;
	}
	cli_submit req = {.job_yaml = r->d->specs[s->file]->text,
	                  .file_name = f->path};
	int rv = cli_rpc_submit_job(r->cli, (int)r->ctx->cfg.jm_rpc_timeout_ms,
	                            &req, id, err, sizeof(err));
	if (rv != WR_OK) {
		cli_error(r->ctx->verb->name, "%s: cannot start: %s", f->path,
		          err);
		r->failed = true;
		cli_apply_json(r, s, NULL, NULL, err);
		return;
	}
	fprintf(r->msg, "           started as job %s\n", id);
	cli_apply_json(r, s, id, NULL, NULL);
}

static void
cli_apply_upgrade(cli_apply_run *r, const cli_apply_step *s)
{
	const cli_apply_file *f = &r->d->files[s->file];
	const cli_apply_job *job = &r->aj[s->job];
	cli_upgrade_status st = {0};
	fprintf(r->msg, "upgrade    %s: job %s (%s changed)\n", f->name,
	        job->id, f->path);
	fflush(r->msg);
	if (r->o->dry_run) {
		cli_apply_json(r, s, job->id, NULL, NULL);
		return;
	}
	cli_upgrade_req req = {
	    .job_id = job->id,
	    .job_yaml = r->d->specs[s->file]->text,
	    .file_name = f->path,
	    .savepoint_dir = r->o->sp_dir[0] ? r->o->sp_dir : NULL,
	};
	int rc = cli_upgrade_follow(r->ctx, r->cli, &req, "           ", &st);
	if (rc != CLI_OK)
		r->failed = true;
	cli_apply_json(r, s, st.job_id, st.savepoint,
	               rc == CLI_OK ? NULL
	               : st.error   ? st.error
	                            : "the upgrade failed");
	cli_upgrade_status_fini(&st);
}

static void
cli_apply_prune(cli_apply_run *r, const cli_apply_step *s)
{
	const cli_apply_job *job = &r->aj[s->job];
	char path[WR_URL_BYTES] = "", err[4096] = "";
	fprintf(r->msg, "stop       %s: job %s (no file in %s%s%s)\n",
	        job->name, job->id, r->o->dir, s->why[0] ? "; " : "", s->why);
	fflush(r->msg);
	if (r->o->dry_run) {
		cli_apply_json(r, s, job->id, NULL, NULL);
		return;
	}
	if (!cli_apply_stop(r, job->id, path, sizeof(path), err, sizeof(err))) {
		cli_error(r->ctx->verb->name, "cannot stop job %s: %s", job->id,
		          err);
		r->failed = true;
		cli_apply_json(r, s, job->id, path, err);
		return;
	}
	fprintf(r->msg, "           stopped; savepoint %s\n", path);
	cli_apply_json(r, s, job->id, path, NULL);
}

static void
cli_apply_step_run(cli_apply_run *r, const cli_apply_step *s)
{
	switch (s->action) {
	case CLI_APPLY_START:
		cli_apply_start(r, s);
		break;
	case CLI_APPLY_UPGRADE:
		cli_apply_upgrade(r, s);
		break;
	case CLI_APPLY_KEEP:
		fprintf(r->msg, "unchanged  %s: job %s (%s)\n",
		        r->d->files[s->file].name, r->aj[s->job].id,
		        r->d->files[s->file].path);
		cli_apply_json(r, s, r->aj[s->job].id, NULL, NULL);
		break;
	case CLI_APPLY_STOP:
		cli_apply_prune(r, s);
		break;
	case CLI_APPLY_ERROR:
		cli_error_bare(s->why);
		r->failed = true;
		cli_apply_json(r, s, NULL, NULL, s->why);
		break;
	}
	fflush(r->msg);
}

/* The plan of r's files against the jobs that run, carried out. */
static void
cli_apply_plan_run(cli_apply_run *r)
{
	cli_apply_step *steps;
	r->aj = wr_xcalloc(r->jobs.n + 1, sizeof(*r->aj));
	for (size_t i = 0; i < r->jobs.n; i++) {
		const cli_job_summary *s = &r->jobs.jobs[i];
		r->aj[i] = (cli_apply_job){.id = s->id,
		                           .name = s->name,
		                           .state = s->state,
		                           .spec_hash = s->spec_hash};
	}
	size_t n = cli_apply_plan(r->d->files, r->d->n, r->aj, r->jobs.n,
	                          r->o->prune, &steps);
	bool invalid = false;
	for (size_t i = 0; i < r->d->n; i++)
		invalid = invalid || r->d->files[i].name == NULL;
	if (r->o->prune && invalid)
		fprintf(stderr,
		        "weir apply: not pruning: a job file did not validate "
		        "(its job may be one that would be stopped)\n");
	for (size_t i = 0; i < n && !cli_upgrade_stop_flag; i++)
		cli_apply_step_run(r, &steps[i]);
	free(steps);
}

/* One apply of o->dir; the exit code. */
static int
cli_apply_once(cli_ctx *ctx, const cli_apply_opts *o, wr_rpc_client *cli)
{
	char err[4096] = "";
	cli_apply_run r = {.ctx = ctx, .o = o, .cli = cli, .msg = cli_msg(ctx)};
	r.d = wr_xcalloc(1, sizeof(*r.d));
	if (cli_apply_read(o->dir, r.d, err, sizeof(err)) != WR_OK) {
		cli_error(ctx->verb->name, "%s", err);
		free(r.d);
		return CLI_FAILED;
	}
	int rv = cli_rpc_list_jobs(cli, (int)ctx->cfg.jm_rpc_timeout_ms, false,
	                           &r.jobs, err, sizeof(err));
	int rc;
	if (rv != WR_OK) {
		rc = cli_rpc_failed(ctx->verb->name, ctx->jobmanager, rv, err);
		goto out;
	}
	if (o->dry_run)
		fprintf(r.msg, "Plan for %s (dry run: nothing changes):\n",
		        o->dir);
	cli_json_begin(&r.jb, &r.j);
	wr_json_obj_begin(&r.j);
	wr_json_kv_bool(&r.j, "dry_run", o->dry_run);
	wr_json_key(&r.j, "actions");
	wr_json_arr_begin(&r.j);
	cli_apply_plan_run(&r);
	wr_json_arr_end(&r.j);
	wr_json_obj_end(&r.j);
	if (ctx->json)
		cli_json_end(&r.jb);
	else
		wr_buf_fini(&r.jb);
	rc = r.failed ? CLI_FAILED : CLI_OK;
out:
	cli_job_list_fini(&r.jobs);
	free(r.aj);
	cli_apply_dir_fini(r.d);
	free(r.d);
	return rc;
}

/* What the directory's job files hold: their paths and content hashes
 * (content, not mtimes: a ConfigMap mount swaps a ..data symlink and
 * every file changes at once, with whatever mtime). */
static void
cli_apply_fingerprint(const char *dir, char out[WR_CONTENT_HASH_BYTES])
{
	char *paths[CLI_APPLY_MAX_FILES], err[256];
	size_t n;
	wr_buf b;
	wr_buf_init(&b);
	if (cli_apply_list(dir, paths, &n, err, sizeof(err)) != WR_OK)
		wr_buf_puts(&b, err);
	for (size_t i = 0; i < n; i++) {
		char *data = NULL, h[WR_CONTENT_HASH_BYTES];
		size_t len = 0;
		if (wr_read_file(paths[i], WR_YAML_MAX_FILE_BYTES, &data,
		                 &len) != WR_OK)
			len = 0;
		wr_content_hash(data ? data : "", len, h);
		wr_buf_puts(&b, paths[i]);
		wr_buf_puts(&b, h);
		free(data);
		free(paths[i]);
	}
	wr_content_hash(b.data ? b.data : "", b.len, out);
	wr_buf_fini(&b);
}

/* One apply on a connection of its own (a JobManager failover between
 * two applies finds the new leader); CLI_UNREACHABLE said why. */
static int
cli_apply_connected(cli_ctx *ctx, const cli_apply_opts *o)
{
	wr_rpc_client *cli = NULL;
	int rc = cli_connect(ctx, &cli);
	if (rc == CLI_OK)
		rc = cli_apply_once(ctx, o, cli);
	wr_rpc_client_free(cli);
	return rc;
}

/* --watch: applies, then again whenever the fingerprint changes, until
 * SIGTERM or SIGINT (exit 0). An apply that fails is not retried until
 * the files change again; one that could not reach the JobManager is,
 * every CLI_APPLY_WATCH_MS. */
static int
cli_apply_watch(cli_ctx *ctx, const cli_apply_opts *o)
{
	char last[WR_CONTENT_HASH_BYTES] = "", now[WR_CONTENT_HASH_BYTES];
	FILE *msg = cli_msg(ctx);
	while (!cli_upgrade_stop_flag) {
		cli_apply_fingerprint(o->dir, now);
		if (strcmp(now, last) != 0) {
			fprintf(msg, "Applying %s\n", o->dir);
			fflush(msg);
			int rc = cli_apply_connected(ctx, o);
			if (rc != CLI_UNREACHABLE) {
				memcpy(last, now, sizeof(last));
				fprintf(msg,
				        "Applied %s (%s); watching for "
				        "changes\n",
				        o->dir,
				        rc == CLI_OK ? "ok" : "with errors");
				fflush(msg);
			}
		}
		cli_upgrade_nap(CLI_APPLY_WATCH_MS);
	}
	fprintf(msg, "weir apply: stopped watching %s\n", o->dir);
	return CLI_OK;
}

static int
cli_apply_verb_run(cli_ctx *ctx, void *opts)
{
	const cli_apply_opts *o = opts;
	struct sigaction old[2];
	cli_upgrade_signals(old);
	int rc =
	    o->watch ? cli_apply_watch(ctx, o) : cli_apply_connected(ctx, o);
	sigaction(SIGINT, &old[0], NULL);
	sigaction(SIGTERM, &old[1], NULL);
	return rc;
}

const cli_verb cli_apply_verb = {
    .name = "apply",
    .summary = "make running jobs match a directory of job files",
    .usage = cli_apply_usage,
    .flags = cli_apply_flags,
    .min_args = 1,
    .max_args = 1,
    .opts_bytes = sizeof(cli_apply_opts),
    .args = cli_apply_args,
    .run = cli_apply_verb_run,
};
