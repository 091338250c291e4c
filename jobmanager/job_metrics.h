/*
 * job_metrics.h - a job's series on the JobManager: restarts by cause,
 * status and uptime (checkpoints' are ckpt.c's).
 */
#ifndef JM_JOB_METRICS_H
#define JM_JOB_METRICS_H

#include "job.h"

#include <stdint.h>

struct wr_metrics;

/* Holds the job's series; every cause's counter starts at 0, so a rate()
 * or an alert on it has a series from the start. */
void jm_job_metrics_hold(struct wr_metrics *reg, jm_job *job);
/* Releases them: they go grace ms later (a last scrape). Accepts a job
 * whose series are released. */
void jm_job_metrics_drop(struct wr_metrics *reg, jm_job *job, int64_t grace);
/* The job entered job->state: its status series and uptime. */
void jm_job_metrics_state(jm_job *job, int64_t now_ms);
/* Refreshes the uptime (now_ms monotonic). */
void jm_job_metrics_tick(jm_job *job, int64_t now_ms);
void jm_job_metrics_restart(jm_job *job, enum jm_restart_cause cause);

#endif
