/*
 * snapshot.h - what REST GETs read: the JSON bodies of GET /jobs,
 * GET /jobs/{id} and GET /jobs/{id}/checkpoints, rendered by the loop and
 * published whole, so that no GET ever waits for the loop (hundreds of
 * them at once cost the loop nothing).
 *
 * The loop republishes after a command changed a job (cmd.c, before the
 * command is answered) and otherwise at most JM_SNAP_MIN_INTERVAL_MS after
 * anything happened and at least every JM_SNAP_MAX_AGE_MS: a GET may see
 * the jobs as they were that long ago.
 */
#ifndef JM_SNAPSHOT_H
#define JM_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "job.h"

typedef struct jm_snap jm_snap;

jm_snap *jm_snap_new(void);
void jm_snap_free(jm_snap *s);

/* Renders every job and publishes the result. @thread main */
void jm_snap_publish(jm_snap *s, jm_jobs *jobs, int64_t now_ms);
/* Something may have changed a job. @thread main */
void jm_snap_touch(jm_snap *s);
/* Publishes when due (see above). @thread main */
void jm_snap_tick(jm_snap *s, jm_jobs *jobs, int64_t now_ms);

/* Appends a published body to out: GET /jobs; GET /jobs/{id} and
 * /jobs/{id}/checkpoints (WR_ENOENT: no such job, "no job ID" in errbuf).
 * @thread any */
void jm_snap_list(jm_snap *s, wr_buf *out);
int jm_snap_job(jm_snap *s, const char *id, bool checkpoints, wr_buf *out,
                char *errbuf, size_t errlen);

/* The other published bodies of a job (rest_flink.c). */
enum jm_snap_body {
	JM_SNAP_INFO,       /* GET /jobs/{id} */
	JM_SNAP_CKPTS,      /* GET /jobs/{id}/checkpoints */
	JM_SNAP_EXCEPTIONS, /* GET /jobs/{id}/exceptions */
	JM_SNAP_CKCFG,      /* GET /jobs/{id}/checkpoints/config */
};
/* Appends body `which` of job id to out. WR_ENOENT: no such job ("no job
 * ID" in errbuf) or no such body (checkpointing off: "checkpointing is
 * off"). @thread any */
int jm_snap_body(jm_snap *s, const char *id, enum jm_snap_body which,
                 wr_buf *out, char *errbuf, size_t errlen);

/* The id of job id's savepoint that waits for the checkpoint in progress
 * to end (not in its history yet); 0: none. @thread any */
uint64_t jm_snap_queued_savepoint(jm_snap *s, const char *id);

/* Jobs per state, as last published (/overview). @thread any */
void jm_snap_counts(jm_snap *s, int counts[JM_JOB_FINISHED + 1]);

/* Renderers of the Flink-shaped parts (snapshot_flink.c). @thread main */
struct wr_json;
/* Flink's keys of GET /jobs/{id}, into the open job object. */
void jm_snap_flink_job(struct wr_json *j, const jm_job *job, int64_t now);
/* Flink's keys of vertex v (its first task first), into its object. */
void jm_snap_flink_vertex(struct wr_json *j, const jm_job *job, int v,
                          int first, int64_t now);
/* Flink's keys of a job in GET /jobs/overview (and /jobs). */
void jm_snap_flink_overview(struct wr_json *j, const jm_job *job, int64_t now);
/* Flink's keys of a subtask, into its object. */
void jm_snap_flink_subtask(struct wr_json *j, const jm_job *job,
                           const jm_task *t, int64_t now);
/* GET /jobs/{id}/exceptions. */
void jm_snap_flink_exceptions(wr_buf *out, const jm_job *job);
/* GET /jobs/{id}/checkpoints/config; false when checkpointing is off. */
bool jm_snap_flink_ckcfg(wr_buf *out, const jm_job *job, const char *storage);

#endif
