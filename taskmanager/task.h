/*
 * task.h - tasks: one thread per deployed subtask, running its vertex's
 * operator chain. A source vertex's thread polls its source and pushes
 * each record through the chain; any other vertex's thread reads batches
 * from its input gate (shuffle.h). Chained operators call each other
 * directly; records leave the chain encoded once, into a network output or
 * a sink.
 */
#ifndef TM_TASK_H
#define TM_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wr_limits.h"

struct tm_server;

typedef struct tm_task_loc {
	int vertex, subtask;
	char data_address[WR_ADDR_BYTES];
	char taskmanager[WR_ADDR_BYTES];
} tm_task_loc;

/* What the JobManager sends to deploy one subtask (decoded in tm_rpc.c). */
typedef struct tm_task_spec {
	char job_id[33];
	char task_id[32]; /* "vertex/subtask" */
	uint32_t attempt;
	uint32_t slot;
	char *job_yaml;
	char *file_name;
	int parallelism_override;
	int vertex, subtask;
	tm_task_loc *locs;
	int nlocs;
	char *restore_url; /* checkpoint or savepoint to restore; NULL */
} tm_task_spec;

/* A checkpoint trigger from the JobManager, for a job's source tasks. */
typedef struct tm_ckpt_trigger {
	uint64_t id;
	char url[WR_URL_BYTES]; /* the checkpoint's directory */
	bool savepoint, stop, drain;
	bool has_attempt;
	uint32_t attempt; /* the job's, when has_attempt */
} tm_ckpt_trigger;

void tm_task_spec_free(tm_task_spec *spec);

typedef struct tm_tasks tm_tasks;

tm_tasks *tm_tasks_new(struct tm_server *tm);
/* Cancels every task and waits for their threads; the table stays (and
 * reads empty) for threads that still look at it. Accepts NULL. */
void tm_tasks_stop(tm_tasks *tasks);
/* tm_tasks_stop, then frees the table: nothing may use it after. */
void tm_tasks_free(tm_tasks *tasks);

/*
 * Starts a task thread. Takes spec on success. Errors: WR_EEXIST (this
 * task already runs), WR_EFULL (too many tasks). @thread main
 */
int tm_tasks_deploy(tm_tasks *tasks, tm_task_spec *spec, char *errbuf,
                    size_t errlen);

/* Asks a task to stop; it reports CANCELED. WR_ENOENT if unknown or its
 * end is already reported. */
int tm_tasks_cancel(tm_tasks *tasks, const char *job_id, const char *task_id);

/* Hands a checkpoint trigger to every source task of job_id here.
 * WR_ENOENT: no source task of job_id here. WR_EAGAIN: a task of job_id
 * here is starting or has ended (a bounded source done, its FINISHED
 * report on the way): not every task runs, nothing was triggered and the
 * JobManager skips this checkpoint. @thread any */
int tm_tasks_trigger(tm_tasks *tasks, const char *job_id,
                     const tm_ckpt_trigger *tr);

/* Checkpoint id of job_id is complete: its tasks commit. @thread any */
void tm_tasks_checkpoint_complete(tm_tasks *tasks, const char *job_id,
                                  uint64_t id);

/* A running task as a TaskManager reports it for adoption. */
typedef struct tm_task_ref {
	char job_id[33];
	char task_id[32];
	uint32_t attempt;
	uint32_t slot;
	/* what it did (the heartbeat's report): records so far, the last
	 * second's shares in per mille, the watermark (has_wm) */
	uint64_t records_in, records_out;
	int bp, idle, busy;
	bool has_wm;
	int64_t wm;
} tm_task_ref;

/* Copies the tasks that run and were not told to stop (up to max).
 * Returns how many. @thread any */
int tm_tasks_list(tm_tasks *tasks, tm_task_ref *out, int max);

/* A task that ended here (TM_ENDED_KEEP of them, for TM_ENDED_KEEP_MS), as
 * a registration reports it: a leader that took over while the end's
 * report had nowhere to go (or went to its predecessor only) learns it, and
 * a job whose tasks finished ends FINISHED instead of restarting. */
typedef struct tm_task_end {
	tm_task_ref ref;   /* job, task, attempt, slot */
	char state[16];    /* FINISHED CANCELED FAILED */
	char failure[256]; /* FAILED: why */
} tm_task_end;

/* Copies the tasks that ended in the last TM_ENDED_KEEP_MS, newest first
 * (up to max). Returns how many. @thread any */
int tm_tasks_ended(tm_tasks *tasks, tm_task_end *out, int max);

/*
 * Cancels a task as an orphan: no JobManager keeps it. Unlike a cancel
 * from the JobManager, its sinks write nothing more - no flush, no commit
 * (the attempt that replaces it restores from a checkpoint). Only the
 * task of ref's attempt; WR_ENOENT if it is not running. @thread any
 */
int tm_tasks_orphan(tm_tasks *tasks, const tm_task_ref *ref);
/* tm_tasks_orphan for every running task; returns how many. */
int tm_tasks_orphan_all(tm_tasks *tasks);

/* Joins finished task threads. @thread main */
void tm_tasks_reap(tm_tasks *tasks);

/* Slots occupied by running tasks (distinct slot indices). */
uint32_t tm_tasks_slots_used(tm_tasks *tasks);

#endif
