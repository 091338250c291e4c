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

#endif
