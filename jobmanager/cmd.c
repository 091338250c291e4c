/*
 * cmd.c - commands to the JobManager's loop and the queue REST hands them
 * through (cmd.h).
 */
#include "cmd.h"

#include "ckpt.h"
#include "jm_int.h"
#include "snapshot.h"
#include "upgrade.h"

#include "clock.h"
#include "err.h"
#include "mem.h"
#include "rpc.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
jm_cmd_upgrade(jm_server *jm, jm_cmd *cmd)
{
	jm_upgrade_req r = {
	    .job_id = cmd->job_id,
	    .file = cmd->file,
	    .yaml = cmd->yaml,
	    .parallelism = cmd->parallelism,
	    .allow_non_restored = cmd->allow_non_restored,
	    .mode = (enum jm_upgrade_mode)cmd->mode,
	    .savepoint_dir = cmd->target_dir,
	};
	cmd->rv = jm_upgrade_start(jm, &r, &cmd->upgrade_id, cmd->err,
	                           sizeof(cmd->err));
}

static void
jm_cmd_upgrade_status(jm_server *jm, jm_cmd *cmd)
{
	const jm_upgrade *up = jm_upgrade_find(jm, cmd->upgrade_id);
	if (up == NULL) {
		snprintf(cmd->err, sizeof(cmd->err), "no upgrade %llu",
		         (unsigned long long)cmd->upgrade_id);
		cmd->rv = WR_ENOENT;
		return;
	}
	cmd->rv = WR_OK;
	cmd->done = up->phase == JM_UP_DONE;
	cmd->ok = up->ok;
	cmd->rolled_back = up->rolled_back;
	memcpy(cmd->new_job_id, up->job_id, sizeof(cmd->new_job_id));
	snprintf(cmd->url, sizeof(cmd->url), "%s",
	         up->state_url ? up->state_url : "");
	if (up->error != NULL)
		snprintf(cmd->err, sizeof(cmd->err), "%s", up->error);
}

void
jm_cmd_exec(jm_server *jm, jm_cmd *cmd)
{
	cmd->err[0] = '\0';
	switch (cmd->kind) {
	case JM_CMD_SUBMIT: {
		jm_submit_opts o = {
		    .file = cmd->file,
		    .yaml = cmd->yaml,
		    .parallelism_override = cmd->parallelism,
		    .from_savepoint = cmd->from_savepoint,
		    .allow_non_restored = cmd->allow_non_restored,
		};
		cmd->rv = jm_jobs_submit(jm->jobs, &o, cmd->new_job_id,
		                         cmd->err, sizeof(cmd->err));
		break;
	}
	case JM_CMD_CANCEL:
		cmd->rv = jm_jobs_cancel(jm->jobs, cmd->job_id, cmd->err,
		                         sizeof(cmd->err));
		break;
	case JM_CMD_SAVEPOINT:
		if (jm_jobs_find(jm->jobs, cmd->job_id) == NULL) {
			snprintf(cmd->err, sizeof(cmd->err), "no job %s",
			         cmd->job_id);
			cmd->rv = WR_ENOENT;
			break;
		}
		cmd->rv = jm_jobs_savepoint(
		    jm->jobs, cmd->job_id, cmd->target_dir, cmd->stop,
		    cmd->drain, &cmd->ckpt_id, cmd->url, sizeof(cmd->url),
		    cmd->err, sizeof(cmd->err));
		break;
	case JM_CMD_UPGRADE:
		jm_cmd_upgrade(jm, cmd);
		break;
	case JM_CMD_UPGRADE_STATUS:
		jm_cmd_upgrade_status(jm, cmd);
		break;
	}
	if (cmd->rv != WR_OK && cmd->err[0] == '\0')
		snprintf(cmd->err, sizeof(cmd->err), "%s",
		         wr_strerror(cmd->rv));
	if (jm->snap != NULL)
		jm_snap_publish(jm->snap, jm->jobs, wr_mono_ms());
}

/* A queued command with copies of its strings. */
typedef struct jm_cmdq_item {
	struct jm_cmdq_item *next;
	jm_cmd cmd;
	char *s[6];
	bool done;      /* @locks q->mu */
	bool abandoned; /* its caller gave up: whoever finishes frees it */
} jm_cmdq_item;

struct jm_cmdq {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a command was done */
	/* @locks mu */
	jm_cmdq_item *head, *tail;
	int n;
	bool closed;
};

jm_cmdq *
jm_cmdq_new(void)
{
	jm_cmdq *q = wr_xcalloc(1, sizeof(*q));
	pthread_condattr_t ca;
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
	return q;
}

static void
jm_cmdq_item_free(jm_cmdq_item *it)
{
	for (size_t i = 0; i < sizeof(it->s) / sizeof(it->s[0]); i++)
		free(it->s[i]);
	free(it);
}

/* Marks it done (its caller reads the result) or frees an abandoned one.
 * @locks q->mu held */
static void
jm_cmdq_finish(jm_cmdq *q, jm_cmdq_item *it)
{
	if (it->abandoned) {
		jm_cmdq_item_free(it);
		return;
	}
	it->done = true;
	pthread_cond_broadcast(&q->cv);
}

void
jm_cmdq_free(jm_cmdq *q)
{
	if (q == NULL)
		return;
	/* Every REST handler has returned (the HTTP server was freed
	 * first): what is left was abandoned or never waited for. */
	pthread_mutex_lock(&q->mu);
	q->closed = true;
	while (q->head != NULL) {
		jm_cmdq_item *it = q->head;
		q->head = it->next;
		it->cmd.rv = WR_ECLOSED;
		jm_cmdq_finish(q, it);
	}
	pthread_mutex_unlock(&q->mu);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

static const char *
jm_cmdq_dup(jm_cmdq_item *it, int i, const char *s)
{
	it->s[i] = s ? wr_xstrdup(s) : NULL;
	return it->s[i];
}

static jm_cmdq_item *
jm_cmdq_item_new(const jm_cmd *cmd)
{
	jm_cmdq_item *it = wr_xcalloc(1, sizeof(*it));
	it->cmd = *cmd;
	it->cmd.job_id = jm_cmdq_dup(it, 0, cmd->job_id);
	it->cmd.file = jm_cmdq_dup(it, 1, cmd->file);
	it->cmd.yaml = jm_cmdq_dup(it, 2, cmd->yaml);
	it->cmd.from_savepoint = jm_cmdq_dup(it, 3, cmd->from_savepoint);
	it->cmd.target_dir = jm_cmdq_dup(it, 4, cmd->target_dir);
	return it;
}

/* Copies the results of a command that ran into cmd. */
static void
jm_cmdq_results(jm_cmd *cmd, const jm_cmd *ran)
{
	cmd->rv = ran->rv;
	memcpy(cmd->err, ran->err, sizeof(cmd->err));
	memcpy(cmd->new_job_id, ran->new_job_id, sizeof(cmd->new_job_id));
	cmd->ckpt_id = ran->ckpt_id;
	memcpy(cmd->url, ran->url, sizeof(cmd->url));
	cmd->upgrade_id = ran->upgrade_id;
	cmd->done = ran->done;
	cmd->ok = ran->ok;
	cmd->rolled_back = ran->rolled_back;
}

int
jm_cmdq_call(jm_server *jm, jm_cmd *cmd)
{
	jm_cmdq *q = jm->cmdq;
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += JM_REST_CMD_TIMEOUT_MS / 1000;
	deadline.tv_nsec += (long)(JM_REST_CMD_TIMEOUT_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q->mu);
	if (q->closed || q->n >= JM_CMDQ_DEPTH) {
		int rv = q->closed ? WR_ECLOSED : WR_EFULL;
		pthread_mutex_unlock(&q->mu);
		return rv;
	}
	jm_cmdq_item *it = jm_cmdq_item_new(cmd);
	if (q->tail != NULL)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->n++;
	pthread_mutex_unlock(&q->mu);
	wr_rpc_server_wake(jm->rpc);
	pthread_mutex_lock(&q->mu);
	int rv = 0;
	while (!it->done && rv != ETIMEDOUT)
		rv = pthread_cond_timedwait(&q->cv, &q->mu, &deadline);
	if (!it->done) {
		it->abandoned = true; /* the loop frees it */
		pthread_mutex_unlock(&q->mu);
		return WR_ETIMEDOUT;
	}
	pthread_mutex_unlock(&q->mu);
	jm_cmdq_results(cmd, &it->cmd);
	jm_cmdq_item_free(it);
	return cmd->rv == WR_ECLOSED ? WR_ECLOSED : WR_OK;
}

int
jm_cmdq_run(jm_server *jm)
{
	jm_cmdq *q = jm->cmdq;
	int ran = 0;
	for (; ran < JM_CMDQ_BATCH; ran++) {
		pthread_mutex_lock(&q->mu);
		jm_cmdq_item *it = q->head;
		if (it != NULL) {
			q->head = it->next;
			if (q->head == NULL)
				q->tail = NULL;
			q->n--;
		}
		pthread_mutex_unlock(&q->mu);
		if (it == NULL)
			break;
		jm_cmd_exec(jm, &it->cmd);
		pthread_mutex_lock(&q->mu);
		jm_cmdq_finish(q, it);
		pthread_mutex_unlock(&q->mu);
	}
	return ran;
}
