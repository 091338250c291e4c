/*
 * ckpt.h - the checkpoint coordinator of a job (ckpt.c) and its messages
 * to and from TaskManagers (ckpt_rpc.c).
 *
 * Every `interval` (and no sooner than `min_pause` after the previous
 * checkpoint ended) the coordinator triggers checkpoint n at the source
 * tasks; barriers flow with the records; every task snapshots its state
 * into <storage>/<job-id>/chk-<n>/ and acks with its state handles. When
 * every task has acked, the coordinator writes chk-<n>/_metadata (the
 * checkpoint is complete only then) and tells every task, whose sinks
 * commit. A checkpoint not complete within `timeout`, or declined by a
 * task, fails; `tolerable_failed` consecutive failures are tolerated, one
 * more fails the job. A trigger that races with a task ending or starting
 * (a TaskManager answers "not every task runs") skips the checkpoint:
 * listed as failed, not counted against tolerable_failed. The `retained` newest
 * completed checkpoints are kept, older ones deleted. A savepoint is a
 * checkpoint written to a directory of the user's choice, never deleted by
 * weir.
 *
 * @thread main, like job.c.
 */
#ifndef JM_CKPT_H
#define JM_CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wr_limits.h"

struct jm_job;
struct jm_jobs;
struct jm_server;

enum jm_ckpt_status {
	JM_CKPT_IN_PROGRESS,
	JM_CKPT_COMPLETED,
	JM_CKPT_FAILED,
};

const char *jm_ckpt_status_name(enum jm_ckpt_status s);

typedef struct jm_ckpt_info {
	uint64_t id;
	enum jm_ckpt_status status;
	bool is_savepoint;
	bool stop;               /* stop-with-savepoint */
	int64_t trigger_wall_ms; /* wall clock */
	int64_t duration_ms;     /* trigger -> complete (or failed) */
	uint64_t size_bytes;     /* state written by every task */
	uint64_t alignment_ms;   /* the longest alignment of one task */
	uint64_t sync_ms;        /* the longest snapshot part holding a task */
	uint64_t async_ms;       /* the longest state copy + upload of one */
	char url[WR_URL_BYTES];  /* the checkpoint's directory */
	char failure[256];
	int acks, tasks;
} jm_ckpt_info;

typedef struct jm_ckpt_stats {
	uint64_t completed, failed, in_progress;
	uint64_t restarts;               /* the job's restarts */
	uint64_t restored_id;            /* 0: started empty */
	char restored_url[WR_URL_BYTES]; /* what the job restored from */
} jm_ckpt_stats;

/*
 * Triggers a savepoint of a RUNNING job into target_dir (a path or a
 * file:// or s3:// URL; NULL or "" = <storage>/savepoints). The savepoint
 * is written to <target>/savepoint-<job-id-prefix>-<random>. On WR_OK *id
 * is its checkpoint id and url its directory; it completes later: follow
 * it with jm_jobs_checkpoints. stop: once it completes the job stops
 * (FINISHED); drain: the sources first emit the final watermark, so every
 * window fires. Errors: WR_ENOENT (no such job), WR_ESTATE (not RUNNING,
 * checkpointing off, a savepoint already in progress).
 */
int jm_jobs_savepoint(struct jm_jobs *jobs, const char *job_id,
                      const char *target_dir, bool stop, bool drain,
                      uint64_t *id, char *url, size_t urllen, char *errbuf,
                      size_t errlen);

/*
 * The job's checkpoint history, newest first: *v points into the job (valid
 * until the next call into jobs on the main thread), *n entries.
 * WR_ENOENT when there is no such job.
 */
int jm_jobs_checkpoints(struct jm_jobs *jobs, const char *job_id,
                        const jm_ckpt_info **v, size_t *n, jm_ckpt_stats *st,
                        char *errbuf, size_t errlen);

/* ---- inside the JobManager (job.c, ckpt_rpc.c) ---- */

struct wr_ckpt_meta;
typedef struct jm_ckpt_coord jm_ckpt_coord;

/* The coordinator of a job that takes checkpoints. */
jm_ckpt_coord *jm_ckpt_new(struct jm_server *jm, struct jm_job *job);
void jm_ckpt_free(jm_ckpt_coord *c);
/* The job ended: its checkpoint series go grace_ms later (metrics.h,
 * wr_metrics_release); later outcomes are not counted. Accepts NULL. */
void jm_ckpt_metrics_release(jm_ckpt_coord *c, int64_t grace_ms);

/* Triggers when due, expires what ran out of time. Only while every task
 * of the job runs. */
void jm_ckpt_tick(struct jm_jobs *jobs, struct jm_job *job, int64_t now_ms);

/* The job stops running (failure, cancel): the checkpoint in progress
 * fails with reason, without counting against tolerable_failed. */
void jm_ckpt_abort(struct jm_job *job, const char *reason);

/* Where a restart restores from: the newest completed checkpoint or
 * savepoint whose _metadata reads back; a corrupt or missing one is
 * logged (CKPT-CORRUPT) and skipped for the one before. WR_ENOENT when
 * there is none. */
int jm_ckpt_restore_point(struct jm_job *job, char *url, size_t len);

/* A savepoint triggered but waiting for the checkpoint in progress (not
 * in the history yet): true with its id. NULL c: none. */
bool jm_ckpt_queued_savepoint(const jm_ckpt_coord *c, uint64_t *id);

/* For the job store: the newest completed checkpoint or savepoint (false
 * when there is none) and the first id no checkpoint may have used yet
 * (ids are reserved in blocks before they are handed out). */
bool jm_ckpt_latest(const jm_ckpt_coord *c, uint64_t *id, const char **url,
                    bool *savepoint);
uint64_t jm_ckpt_next_id(const jm_ckpt_coord *c);

/* A job recovered from the job store: restores from checkpoint id at url
 * (id 0 / url NULL: none) and hands out ids from next_id on, above every
 * id the previous JobManager used. */
void jm_ckpt_recover(jm_ckpt_coord *c, uint64_t id, const char *url,
                     bool savepoint, uint64_t next_id);

/* The job was submitted from the savepoint at url (for the history). */
void jm_ckpt_restored(jm_ckpt_coord *c, const char *url);

/* A task's snapshot times, ms (taskmanager/tm_int.h's tm_ckpt_times). */
typedef struct jm_ckpt_times {
	uint64_t align_ms, sync_ms, async_ms;
} jm_ckpt_times;

/* A task acknowledged or declined checkpoint id. */
void jm_ckpt_ack(struct jm_jobs *jobs, const char *job_id, const char *task_id,
                 uint64_t id, const struct wr_ckpt_meta *part,
                 const jm_ckpt_times *times, uint64_t size_bytes);
void jm_ckpt_decline(struct jm_jobs *jobs, const char *job_id,
                     const char *task_id, uint64_t id, const char *reason);

/* The answer to a TriggerCheckpoint or CheckpointComplete (job.c passes
 * them on). */
struct jm_call_done;
void jm_ckpt_call_done(struct jm_jobs *jobs, const struct jm_call_done *d);

/* Reads and checks a savepoint (or checkpoint) directory for a job being
 * submitted from it: every operator with state must map to a node of
 * spec unless allow_non_restored, max_parallelism must match. On WR_OK
 * url holds its normalised URL. */
struct wr_jobspec;
int jm_ckpt_check_savepoint(struct jm_server *jm, const char *path,
                            const struct wr_jobspec *spec,
                            bool allow_non_restored, char *url, size_t urllen,
                            char *errbuf, size_t errlen);

#endif
