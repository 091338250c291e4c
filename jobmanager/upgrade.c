/*
 * upgrade.c - a running job's upgrade to a new version of its job file
 * (upgrade.h): savepoint, last-state or stateless, with a rollback to the
 * old version from the same state when the new one does not run.
 */
#include "upgrade.h"

#include "ckpt.h"
#include "ha.h"
#include "jm_int.h"

#include "clock.h"
#include "err.h"
#include "jobspec.h"
#include "log.h"
#include "mem.h"
#include "plan.h"
#include "wr_limits.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jm_upgrades {
	jm_upgrade **v;
	size_t n, cap;
	uint64_t next_id;
};

static const char *const jm_upgrade_modes[] = {"savepoint", "last-state",
                                               "stateless"};

bool
jm_upgrade_mode_parse(const char *s, enum jm_upgrade_mode *out)
{
	if (s == NULL || s[0] == '\0') {
		*out = JM_UPGRADE_SAVEPOINT;
		return true;
	}
	for (int i = 0; i <= JM_UPGRADE_STATELESS; i++)
		if (strcmp(s, jm_upgrade_modes[i]) == 0) {
			*out = (enum jm_upgrade_mode)i;
			return true;
		}
	return false;
}

jm_upgrades *
jm_upgrades_new(void)
{
	jm_upgrades *u = wr_xcalloc(1, sizeof(*u));
	u->next_id = 1;
	return u;
}

static void
jm_upgrade_free(jm_upgrade *up)
{
	free(up->file);
	free(up->yaml);
	free(up->old_file);
	free(up->old_yaml);
	free(up->savepoint_dir);
	free(up->state_url);
	free(up->why);
	free(up->error);
	for (size_t i = 0; i < up->nsteps; i++)
		free(up->steps[i]);
	free(up->steps);
	free(up);
}

void
jm_upgrades_free(jm_upgrades *u)
{
	if (u == NULL)
		return;
	for (size_t i = 0; i < u->n; i++)
		jm_upgrade_free(u->v[i]);
	free(u->v);
	free(u);
}

const jm_upgrade *
jm_upgrade_find(jm_server *jm, uint64_t id)
{
	jm_upgrades *u = jm->upgrades;
	for (size_t i = 0; u != NULL && i < u->n; i++)
		if (u->v[i]->id == id)
			return u->v[i];
	return NULL;
}

/* Records a step (logged too) for the client to print. */
static void __attribute__((format(printf, 2, 3)))
jm_upgrade_step(jm_upgrade *up, const char *fmt, ...)
{
	char line[WR_URL_BYTES + 1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	wr_log(WR_LOG_INFO, "JOB-UPGRADE", "upgrade %llu of job %s: %s",
	       (unsigned long long)up->id, up->old_id, line);
	up->steps = wr_xrealloc(up->steps, (up->nsteps + 1) * sizeof(char *));
	up->steps[up->nsteps++] = wr_xstrdup(line);
}

static void
jm_upgrade_done(jm_upgrade *up, bool ok, const char *error)
{
	up->phase = JM_UP_DONE;
	up->ok = ok;
	up->done_ms = wr_mono_ms();
	if (error != NULL) {
		free(up->error);
		up->error = wr_xstrdup(error);
	}
	jm_upgrade_step(up, "%s", ok ? "done: the new version runs" : error);
}

/* The old version again, from the same state: the new one did not run
 * (up->why). */
static void
jm_upgrade_rollback(jm_server *jm, jm_upgrade *up)
{
	char err[1024] = "", msg[3000];
	char id[33];
	jm_submit_opts o = {
	    .file = up->old_file,
	    .yaml = up->old_yaml,
	    .parallelism_override = up->old_parallelism,
	    .from_savepoint = up->state_url,
	    .allow_non_restored = up->old_allow_non_restored,
	};
	jm_upgrade_step(up, "rolling back: starting the old version from %s",
	                up->state_url ? up->state_url : "no state");
	if (jm_jobs_submit(jm->jobs, &o, id, err, sizeof(err)) != WR_OK) {
		snprintf(msg, sizeof(msg),
		         "the new version did not run (%s), and the rollback "
		         "to the old version failed too: %s",
		         up->why, err);
		jm_upgrade_done(up, false, msg);
		return;
	}
	memcpy(up->job_id, id, sizeof(up->job_id));
	up->rolled_back = true;
	snprintf(msg, sizeof(msg),
	         "rolled back: the new version did not run (%s); the old "
	         "version runs again as job %s",
	         up->why, id);
	jm_upgrade_done(up, false, msg);
}

/* The new version did not run: cancel it (if it was started), then
 * roll back. */
static void
jm_upgrade_abort(jm_server *jm, jm_upgrade *up, const char *why)
{
	char err[256];
	free(up->why);
	up->why = wr_xstrdup(why);
	jm_upgrade_step(up, "the new version did not run: %s", why);
	up->job_id[0] = '\0';
	jm_job *nj = up->new_id[0] ? jm_jobs_find(jm->jobs, up->new_id) : NULL;
	if (nj != NULL && !jm_job_state_terminal(nj->state)) {
		jm_jobs_cancel(jm->jobs, nj->id, err, sizeof(err));
		jm_upgrade_step(up, "cancelling job %s", nj->id);
		up->phase = JM_UP_ABORTING;
		up->deadline_ms =
		    wr_mono_ms() + JM_CANCEL_TIMEOUT_MS + JM_UPGRADE_GRACE_MS;
		return;
	}
	jm_upgrade_rollback(jm, up);
}

/* How long the new version has to run and complete a checkpoint. */
static int64_t
jm_upgrade_start_wait_ms(const jm_job *job)
{
	const wr_checkpoint_spec *c = &job->spec->checkpointing;
	if (c->interval_ms <= 0)
		return JM_UPGRADE_GRACE_MS;
	return JM_UPGRADE_GRACE_MS + 2 * c->interval_ms + c->timeout_ms;
}

/* Starts the new version from up->state_url; rolls back when it cannot
 * be submitted. */
static void
jm_upgrade_start_new(jm_server *jm, jm_upgrade *up)
{
	char err[1024] = "", why[1100];
	jm_submit_opts o = {
	    .file = up->file,
	    .yaml = up->yaml,
	    .parallelism_override = up->parallelism,
	    .from_savepoint = up->state_url,
	    .allow_non_restored = up->allow_non_restored,
	};
	if (jm_jobs_submit(jm->jobs, &o, up->new_id, err, sizeof(err)) !=
	    WR_OK) {
		up->new_id[0] = '\0';
		snprintf(why, sizeof(why), "cannot start it: %s", err);
		jm_upgrade_abort(jm, up, why);
		return;
	}
	memcpy(up->job_id, up->new_id, sizeof(up->job_id));
	jm_job *nj = jm_jobs_find(jm->jobs, up->new_id);
	up->phase = JM_UP_STARTING;
	up->deadline_ms = wr_mono_ms() + jm_upgrade_start_wait_ms(nj);
	jm_upgrade_step(up,
	                "started the new version as job %s from %s; waiting "
	                "for it to run%s",
	                up->new_id, up->state_url ? up->state_url : "no state",
	                nj->ck != NULL ? " and complete a checkpoint" : "");
}

/* The savepoint's entry in the job's history, or NULL (not started). */
static const jm_ckpt_info *
jm_upgrade_sp_info(jm_server *jm, const jm_upgrade *up)
{
	const jm_ckpt_info *v;
	jm_ckpt_stats st;
	size_t n;
	char err[128];
	if (jm_jobs_checkpoints(jm->jobs, up->old_id, &v, &n, &st, err,
	                        sizeof(err)) != WR_OK)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (v[i].id == up->sp_ckpt_id)
			return &v[i];
	return NULL;
}

/* savepoint mode: the savepoint completes and the job ends FINISHED; or
 * it fails, and nothing changed. */
static void
jm_upgrade_stopping(jm_server *jm, jm_upgrade *up, int64_t now_ms)
{
	char msg[1200];
	jm_job *old = jm_jobs_find(jm->jobs, up->old_id);
	const jm_ckpt_info *sp = jm_upgrade_sp_info(jm, up);
	if (sp != NULL && sp->status == JM_CKPT_FAILED) {
		snprintf(msg, sizeof(msg),
		         "the savepoint failed: %s; nothing changed, job %s "
		         "keeps running (--mode last-state upgrades from its "
		         "latest checkpoint instead)",
		         sp->failure, up->old_id);
		memcpy(up->job_id, up->old_id, sizeof(up->job_id));
		jm_upgrade_done(up, false, msg);
		return;
	}
	bool ended = old == NULL || jm_job_state_terminal(old->state);
	if (sp != NULL && sp->status == JM_CKPT_COMPLETED && ended) {
		jm_upgrade_step(up, "savepoint %llu completed: %s; job %s %s",
		                (unsigned long long)sp->id, sp->url, up->old_id,
		                old ? jm_job_state_name(old->state) : "gone");
		jm_upgrade_start_new(jm, up);
		return;
	}
	if ((ended && (sp == NULL || sp->status != JM_CKPT_COMPLETED)) ||
	    now_ms >= up->deadline_ms) {
		snprintf(msg, sizeof(msg),
		         "job %s %s before its savepoint completed; nothing "
		         "was started",
		         up->old_id,
		         ended ? (old ? jm_job_state_name(old->state) : "ended")
		               : "did not stop in time");
		jm_upgrade_done(up, false, msg);
	}
}

/* The new version runs once every task runs and (with checkpointing) it
 * completed a checkpoint; it failed when it left RUNNING or restarted. */
static void
jm_upgrade_starting(jm_server *jm, jm_upgrade *up, int64_t now_ms)
{
	char why[1200];
	jm_job *nj = jm_jobs_find(jm->jobs, up->new_id);
	if (nj == NULL) {
		jm_upgrade_abort(jm, up, "the new job disappeared");
		return;
	}
	if (nj->state == JM_JOB_FINISHED) {
		jm_upgrade_step(up, "job %s FINISHED", nj->id);
		jm_upgrade_done(up, true, NULL);
		return;
	}
	if (nj->state != JM_JOB_RUNNING || nj->restarts > 0) {
		snprintf(why, sizeof(why), "job %s %s: %s", nj->id,
		         nj->restarts > 0 && nj->state == JM_JOB_RUNNING
		             ? "restarted"
		             : jm_job_state_name(nj->state),
		         nj->failure ? nj->failure : "(no reason given)");
		jm_upgrade_abort(jm, up, why);
		return;
	}
	bool all = nj->recovery == NULL;
	for (int i = 0; all && i < nj->ntasks; i++)
		all = nj->tasks[i].state == JM_TASK_RUNNING;
	const jm_ckpt_info *v;
	jm_ckpt_stats st;
	size_t n;
	char err[128];
	bool ck = nj->ck != NULL &&
	          jm_jobs_checkpoints(jm->jobs, nj->id, &v, &n, &st, err,
	                              sizeof(err)) == WR_OK &&
	          st.completed > 0;
	if (all && (nj->ck == NULL || ck)) {
		jm_upgrade_step(up, "job %s RUNNING%s", nj->id,
		                ck ? ", a checkpoint completed" : "");
		jm_upgrade_done(up, true, NULL);
		return;
	}
	if (now_ms >= up->deadline_ms) {
		snprintf(why, sizeof(why),
		         "job %s did not run%s within %lld ms", nj->id,
		         nj->ck ? " and complete a checkpoint" : "",
		         (long long)jm_upgrade_start_wait_ms(nj));
		jm_upgrade_abort(jm, up, why);
	}
}

/* Whether a job the upgrade cancelled ended (or is gone). */
static bool
jm_upgrade_ended(jm_server *jm, const char *id)
{
	jm_job *job = jm_jobs_find(jm->jobs, id);
	return job == NULL || jm_job_state_terminal(job->state);
}

static void
jm_upgrade_advance(jm_server *jm, jm_upgrade *up, int64_t now_ms)
{
	switch (up->phase) {
	case JM_UP_STOPPING:
		jm_upgrade_stopping(jm, up, now_ms);
		break;
	case JM_UP_CANCELLING:
		if (jm_upgrade_ended(jm, up->old_id)) {
			jm_upgrade_step(up, "job %s ended", up->old_id);
			jm_upgrade_start_new(jm, up);
		}
		break;
	case JM_UP_STARTING:
		jm_upgrade_starting(jm, up, now_ms);
		break;
	case JM_UP_ABORTING:
		/* past the deadline the job's own cancel timeout has
		 * declared it CANCELED */
		if (jm_upgrade_ended(jm, up->new_id) ||
		    now_ms >= up->deadline_ms)
			jm_upgrade_rollback(jm, up);
		break;
	case JM_UP_DONE:
		break;
	}
}

void
jm_upgrades_tick(jm_server *jm, int64_t now_ms)
{
	jm_upgrades *u = jm->upgrades;
	if (u == NULL)
		return;
	bool leading = jm_ha_leading(jm);
	for (size_t i = 0; i < u->n;) {
		jm_upgrade *up = u->v[i];
		if (up->phase != JM_UP_DONE && !leading)
			jm_upgrade_done(up, false,
			                "this JobManager lost its leadership "
			                "during the upgrade; see weir list");
		else if (up->phase != JM_UP_DONE)
			jm_upgrade_advance(jm, up, now_ms);
		if (up->phase == JM_UP_DONE &&
		    now_ms - up->done_ms > JM_UPGRADE_KEEP_MS) {
			jm_upgrade_free(up);
			u->v[i] = u->v[--u->n];
			continue;
		}
		i++;
	}
}

/* Parses and plans the new version, so that a broken file changes
 * nothing. */
static int
jm_upgrade_check_new(const jm_upgrade_req *r, char *errbuf, size_t errlen)
{
	wr_jobspec *spec = NULL;
	wr_plan *plan = NULL;
	int rv = wr_jobspec_parse(r->file, r->yaml, strlen(r->yaml),
	                          r->parallelism, &spec, errbuf, errlen);
	if (rv == WR_OK)
		rv = wr_plan_build(spec, &plan, errbuf, errlen);
	wr_plan_free(plan);
	wr_jobspec_free(spec);
	return rv;
}

static jm_upgrade *
jm_upgrade_new(jm_upgrades *u, const jm_upgrade_req *r, const jm_job *old)
{
	jm_upgrade *up = wr_xcalloc(1, sizeof(*up));
	up->id = u->next_id++;
	up->mode = r->mode;
	memcpy(up->old_id, old->id, sizeof(up->old_id));
	up->file = wr_xstrdup(r->file);
	up->yaml = wr_xstrdup(r->yaml);
	up->parallelism = r->parallelism;
	up->allow_non_restored = r->allow_non_restored;
	if (r->savepoint_dir != NULL && r->savepoint_dir[0] != '\0')
		up->savepoint_dir = wr_xstrdup(r->savepoint_dir);
	up->old_file = wr_xstrdup(old->file);
	up->old_yaml = wr_xstrdup(old->yaml);
	up->old_parallelism = old->parallelism_override;
	up->old_allow_non_restored = old->allow_non_restored;
	return up;
}

/* The first step of the mode: WR_OK once taken, or why not (nothing
 * changed). */
static int
jm_upgrade_first(jm_server *jm, jm_upgrade *up, jm_job *old, char *errbuf,
                 size_t errlen)
{
	char url[WR_URL_BYTES] = "";
	int rv;
	if (up->mode == JM_UPGRADE_SAVEPOINT) {
		rv = jm_jobs_savepoint(jm->jobs, old->id, up->savepoint_dir,
		                       true, false, &up->sp_ckpt_id, url,
		                       sizeof(url), errbuf, errlen);
		if (rv != WR_OK)
			return rv;
		up->state_url = wr_xstrdup(url);
		up->phase = JM_UP_STOPPING;
		up->deadline_ms = wr_mono_ms() +
		                  old->spec->checkpointing.timeout_ms +
		                  JM_CANCEL_TIMEOUT_MS + JM_UPGRADE_GRACE_MS;
		jm_upgrade_step(
		    up, "stopping job %s with savepoint %llu into %s", old->id,
		    (unsigned long long)up->sp_ckpt_id, url);
		return WR_OK;
	}
	if (up->mode == JM_UPGRADE_LAST_STATE) {
		uint64_t id;
		const char *u;
		bool sp;
		if (!jm_ckpt_latest(old->ck, &id, &u, &sp)) {
			snprintf(
			    errbuf, errlen,
			    "job %s has no completed checkpoint to "
			    "upgrade from (--mode stateless starts without "
			    "state)",
			    old->id);
			return WR_ESTATE;
		}
		up->state_url = wr_xstrdup(u);
		jm_upgrade_step(up, "latest completed %s %llu: %s",
		                sp ? "savepoint" : "checkpoint",
		                (unsigned long long)id, u);
	}
	up->phase = JM_UP_CANCELLING;
	if (!jm_job_state_terminal(old->state)) {
		/* a cancel keeps the checkpoints: only `retained` deletes */
		if ((rv = jm_jobs_cancel(jm->jobs, old->id, errbuf, errlen)) !=
		    WR_OK)
			return rv;
		jm_upgrade_step(up, "cancelling job %s", old->id);
	}
	return WR_OK;
}

int
jm_upgrade_start(jm_server *jm, const jm_upgrade_req *r, uint64_t *id,
                 char *errbuf, size_t errlen)
{
	jm_upgrades *u = jm->upgrades;
	jm_job *old = jm_jobs_find(jm->jobs, r->job_id);
	if (u == NULL) { /* a JobManager not started as a daemon (tests) */
		snprintf(errbuf, errlen, "this JobManager runs no upgrades");
		return WR_ESTATE;
	}
	if (old == NULL) {
		snprintf(errbuf, errlen, "no job %s", r->job_id);
		return WR_ENOENT;
	}
	for (size_t i = 0; i < u->n; i++)
		if (u->v[i]->phase != JM_UP_DONE &&
		    (strcmp(u->v[i]->old_id, old->id) == 0 ||
		     strcmp(u->v[i]->job_id, old->id) == 0)) {
			snprintf(errbuf, errlen,
			         "job %s is being upgraded already (upgrade "
			         "%llu)",
			         old->id, (unsigned long long)u->v[i]->id);
			return WR_ESTATE;
		}
	if (old->plan == NULL || (r->mode != JM_UPGRADE_LAST_STATE &&
	                          jm_job_state_terminal(old->state))) {
		snprintf(errbuf, errlen, "job %s is %s: nothing to upgrade",
		         old->id, jm_job_state_name(old->state));
		return WR_ESTATE;
	}
	int rv = jm_upgrade_check_new(r, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	jm_upgrade *up = jm_upgrade_new(u, r, old);
	jm_upgrade_step(up, "upgrading job %s (%s) to %s, mode %s", old->id,
	                old->name, r->file, jm_upgrade_modes[r->mode]);
	if ((rv = jm_upgrade_first(jm, up, old, errbuf, errlen)) != WR_OK) {
		jm_upgrade_free(up);
		return rv;
	}
	if (u->n == u->cap) {
		u->cap = u->cap ? 2 * u->cap : 8;
		u->v = wr_xrealloc(u->v, u->cap * sizeof(*u->v));
	}
	u->v[u->n++] = up;
	*id = up->id;
	return WR_OK;
}
