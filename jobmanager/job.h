/*
 * job.h - the JobManager's jobs: submission, scheduling onto slots,
 * deployment, task state tracking, cancellation and failure.
 *
 * A job is parsed and planned here with the same code the TaskManagers use
 * (common/job/jobspec, common/job/plan). Slots come from the
 * scheduler (scheduler.h). Every function runs on the JobManager's main
 * thread (@thread main) except where noted; other threads reach jobs
 * through commands (cmd.h) and read them in snapshots (snapshot.h).
 */
#ifndef JM_JOB_H
#define JM_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan.h"
#include "tmreg.h"
#include "wr_limits.h"

enum jm_job_state {
	JM_JOB_CREATED,
	JM_JOB_RUNNING,
	JM_JOB_FAILING,
	JM_JOB_CANCELLING,
	JM_JOB_RESTARTING,
	JM_JOB_CANCELED,
	JM_JOB_FAILED,
	JM_JOB_FINISHED,
};

/* Why a job restarted: weir_job_restarts_total's cause label. */
enum jm_restart_cause {
	JM_RESTART_TASK_FAILURE,
	JM_RESTART_TASKMANAGER_LOST,
	JM_RESTART_CHECKPOINT_FAILURE,
	JM_RESTART_DEPLOYMENT_FAILURE,
	JM_RESTART_NOT_ADOPTED,
	JM_RESTART_NCAUSES
};

enum jm_task_state {
	JM_TASK_DEPLOYING,
	JM_TASK_RUNNING,
	JM_TASK_FINISHED,
	JM_TASK_CANCELED,
	JM_TASK_FAILED,
};

/* Where asking a task that has not ended to stop stands (job.c). */
enum jm_task_stop {
	JM_STOP_NONE,  /* not asked */
	JM_STOP_SENT,  /* CancelTask queued, no answer yet */
	JM_STOP_TAKEN, /* its TaskManager took it; the task reports its end */
	/* Its TaskManager did not answer (or was not asked, being
	 * unreachable): the task may still run there. A restarting job
	 * redeploys no task elsewhere until the TaskManager is lost or
	 * answers the CancelTask sent again once it heartbeats. */
	JM_STOP_UNCONFIRMED,
};

/* What a task's TaskManager last reported of it in a heartbeat (REST's
 * vertex, back-pressure and watermark views). Ratios are shares of the
 * last second. */
typedef struct jm_task_stats {
	bool valid; /* a report of the current attempt arrived */
	uint64_t records_in, records_out;
	double backpressured, idle, busy;
	bool has_wm;
	int64_t wm;
} jm_task_stats;

typedef struct jm_task {
	int vertex, subtask;
	const jm_slot_ref *slot; /* into job->slots */
	enum jm_task_state state;
	enum jm_task_stop stop;
	int64_t start_ms, end_ms; /* wall: deployed, ended (0: not yet) */
	jm_task_stats stats;
} jm_task;

/* One failure of a job. */
typedef struct jm_job_failure {
	int64_t ts_ms; /* wall */
	char *cause;
	int vertex, subtask; /* the failed task, -1 when none */
	char tm_id[64];      /* where it ran, "" when unknown */
} jm_job_failure;

/* An entry of a job's exception history (JM_JOB_EXCEPTIONS_MAX newest
 * kept): the root cause that failed a running attempt, and the failures
 * that came while that attempt was ending (the first
 * JM_JOB_EXC_CONCURRENT_MAX). */
typedef struct jm_job_exc {
	jm_job_failure root;
	jm_job_failure concurrent[JM_JOB_EXC_CONCURRENT_MAX];
	int nconcurrent;
} jm_job_exc;

typedef struct jm_job {
	char id[33];
	char *name;
	char *file;
	char *yaml;
	/* wr_content_hash of yaml: what `weir apply` compares (kept with the
	 * YAML in the job store, so it survives a JobManager failover) */
	char spec_hash[17];
	int parallelism_override;
	wr_jobspec *spec;
	wr_plan *plan;
	enum jm_job_state state;
	int64_t start_ms, end_ms; /* wall clock */
	char *failure;            /* first failure, NULL if none */
	uint32_t attempt;
	int nslots;
	jm_slot_ref *slots; /* allocated; released when the job ends */
	bool slots_held;
	int ntasks;
	jm_task *tasks; /* vertex-major: tasks of vertex 0, then 1, ... */
	int64_t cancel_deadline_ms; /* monotonic; cancellation gives up then */
	/* checkpoints and recovery */
	struct jm_ckpt_coord *ck; /* NULL when checkpointing is off */
	char *restore_url;        /* what the current attempt restores */
	char *savepoint_url;      /* submitted from this savepoint; NULL */
	uint64_t restarts;
	int64_t restart_at_ms; /* RESTARTING: redeploy then (monotonic) */
	bool stopping;         /* stop-with-savepoint: ends FINISHED */
	bool allow_non_restored;
	/* job_metrics.c: restarts by cause, the status (one series per
	 * state, 1 for the current one) and the uptime of the running
	 * attempt (since running_ms, monotonic; 0 when not running) */
	struct wr_metric *m_restarts[JM_RESTART_NCAUSES];
	struct wr_metric *m_status[JM_JOB_FINISHED + 1];
	struct wr_metric *m_uptime;
	int64_t running_ms;
	/* wall time each state was last entered (0: never): REST's
	 * "timestamps" */
	int64_t state_ms[JM_JOB_FINISHED + 1];
	/* failures, oldest first from exc[nexc % JM_JOB_EXCEPTIONS_MAX]
	 * once more than JM_JOB_EXCEPTIONS_MAX were seen */
	jm_job_exc exc[JM_JOB_EXCEPTIONS_MAX];
	uint64_t nexc;
	/* Recovered from the job store (jobstore.h) and not yet past the
	 * cancel of what the previous JobManager left running (job.c); NULL
	 * otherwise. */
	struct jm_recovery *recovery;
} jm_job;

struct jm_server;
typedef struct jm_jobs jm_jobs;

jm_jobs *jm_jobs_new(struct jm_server *jm);
void jm_jobs_free(jm_jobs *jobs);

const char *jm_job_state_name(enum jm_job_state s);
const char *jm_task_state_name(enum jm_task_state s);
/* The state named name (as jm_task_state_name); WR_EINVAL if none. */
int jm_task_state_parse(const char *name, enum jm_task_state *out);
bool jm_job_state_terminal(enum jm_job_state s);

/*
 * Validates, plans, allocates slots and deploys a job. On success writes
 * its id (33 bytes) into job_id. Errors (WR_EINVAL bad job, WR_EFULL not
 * enough slots, WR_ESTATE unsupported feature, deployment failures) come
 * with a message for the user.
 */
typedef struct jm_submit_opts {
	const char *file; /* name for messages */
	const char *yaml;
	int parallelism_override;   /* 0 = none */
	const char *from_savepoint; /* path or URL of a savepoint; NULL */
	bool allow_non_restored;    /* state no node claims is skipped */
} jm_submit_opts;

int jm_jobs_submit(jm_jobs *jobs, const jm_submit_opts *o, char *job_id,
                   char *errbuf, size_t errlen);

/* Cancels a job: its tasks are told to stop and it ends CANCELED. */
int jm_jobs_cancel(jm_jobs *jobs, const char *id, char *errbuf, size_t errlen);

jm_job *jm_jobs_find(jm_jobs *jobs, const char *id);
/* Jobs in submission order. */
size_t jm_jobs_count(const jm_jobs *jobs);
jm_job *jm_jobs_at(jm_jobs *jobs, size_t i);

/* A TaskManager reports a task's state ("v/s" task ids). */
void jm_jobs_task_state(jm_jobs *jobs, const char *job_id, uint32_t attempt,
                        const char *task_id, enum jm_task_state st,
                        const char *failure);

/* A task a TaskManager reports running (registration, heartbeat). */
typedef struct jm_task_report {
	const char *job_id, *task_id; /* "v/s"; NULL when missing */
	uint64_t attempt;
	uint32_t slot;
	jm_task_stats stats; /* valid: the heartbeat carried them */
} jm_task_report;

/*
 * Adoption: whether the JobManager keeps a task TaskManager tm_id reports
 * (the TaskManager cancels the others as orphans). A recovered job being
 * adopted keeps the reports of its stored attempt (jm_jobs_recover). Kept: a
 * task of a job that has not ended, at the job's current attempt, that has not
 * ended and runs there at that slot in the job's view - and was not asked to
 * stop without an answer (its restart waits for it to end).
 */
bool jm_jobs_keeps(jm_jobs *jobs, const char *tm_id, const jm_task_report *r);

/* A TaskManager's registration reports that a task ended there lately
 * (st terminal; failure: why it failed, or NULL). Only a job being adopted
 * at that attempt takes it: a FINISHED task counts as reported and ends
 * FINISHED once the job is adopted (its final output was committed, so a
 * restart from the checkpoint would write it twice); another end makes
 * the job restart. */
void jm_jobs_task_ended(jm_jobs *jobs, const jm_task_report *r,
                        enum jm_task_state st, const char *failure);

/* Records what a heartbeat reported of a task jm_jobs_keeps kept. */
void jm_jobs_task_stats(jm_jobs *jobs, const jm_task_report *r);

/* A TaskManager was declared lost: its tasks failed. */
void jm_jobs_tm_lost(jm_jobs *jobs, const jm_tm *tm);

/* Periodic work (cancellation deadlines). */
void jm_jobs_tick(jm_jobs *jobs, int64_t now_ms);

/* Fails a running job with reason (checkpoints failing: a restart of
 * cause checkpoint_failure): it restarts if its strategy allows,
 * else ends FAILED. */
void jm_jobs_fail(jm_jobs *jobs, jm_job *job, const char *reason);

/* A stop-with-savepoint completed: the tasks are cancelled and the job
 * ends FINISHED. */
void jm_jobs_stop_done(jm_jobs *jobs, jm_job *job);

struct jm_server *jm_jobs_server(jm_jobs *jobs);

/* The outcome of a call to a TaskManager (tmclients.h) the job state
 * machine or the checkpoint coordinator made. */
struct jm_call_done;
void jm_jobs_call_done(jm_jobs *jobs, const struct jm_call_done *d);

/* Re-creates a job from its job-store entry (a JobManager start): same id
 * and name. One stored RUNNING stays RUNNING while its TaskManagers report
 * its tasks (jm_jobs_keeps): all reported at the stored attempt, in
 * consistent slots, it is adopted as it runs; otherwise it restarts
 * (counted) as follows. The others are RESTARTING (CANCELLING / FAILING
 * when they were ending). Once the
 * TaskManagers of its stored attempt registered again (or a heartbeat
 * timeout passed), each of its tasks is cancelled on every live
 * TaskManager (queued calls: jm_out.leftover); once every cancel is
 * answered and the tasks a TaskManager held reported their end (or
 * JM_CANCEL_TIMEOUT_MS passed), it redeploys at attempt + 1 from the
 * entry's checkpoint when slots are free - or ends, when it was ending.
 * An entry that is corrupt or whose job no longer parses is listed FAILED
 * with the reason. */
struct jm_jobstore_entry;
void jm_jobs_recover(jm_jobs *jobs, const struct jm_jobstore_entry *e);

/* Counts per state, for /overview. @thread main */
void jm_jobs_counts(jm_jobs *jobs, int counts[JM_JOB_FINISHED + 1]);

#endif
