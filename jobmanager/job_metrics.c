/*
 * job_metrics.c - a job's series on the JobManager: weir_job_restarts_total
 * by cause, weir_job_status by state, weir_job_uptime_seconds
 * (job_metrics.h).
 */
#include "job_metrics.h"

#include "clock.h"
#include "metrics.h"

#include <stddef.h>

static const char *const jm_restart_cause_names[JM_RESTART_NCAUSES] = {
    [JM_RESTART_TASK_FAILURE] = "task_failure",
    [JM_RESTART_TASKMANAGER_LOST] = "taskmanager_lost",
    [JM_RESTART_CHECKPOINT_FAILURE] = "checkpoint_failure",
    [JM_RESTART_DEPLOYMENT_FAILURE] = "deployment_failure",
    [JM_RESTART_NOT_ADOPTED] = "not_adopted",
};

/* SPEC "Metrics": job_id and job_name, never "job" (Prometheus sets it). */
void
jm_job_metrics_hold(wr_metrics *reg, jm_job *job)
{
	for (int c = 0; c < JM_RESTART_NCAUSES; c++) {
		const char *labels[] = {"job_id",   job->id,
		                        "job_name", job->spec->name,
		                        "cause",    jm_restart_cause_names[c],
		                        NULL};
		job->m_restarts[c] = wr_metrics_get(
		    reg, WR_METRIC_COUNTER, "weir_job_restarts_total",
		    "Restarts of a job after failures, by cause", labels);
	}
	for (int s = 0; s <= JM_JOB_FINISHED; s++) {
		const char *labels[] = {"job_id",   job->id,
		                        "job_name", job->spec->name,
		                        "state",    jm_job_state_name(s),
		                        NULL};
		job->m_status[s] = wr_metrics_get(
		    reg, WR_METRIC_GAUGE, "weir_job_status",
		    "1 for the job's current state (REST's state), 0 for the "
		    "others",
		    labels);
	}
	const char *labels[] = {"job_id", job->id, "job_name", job->spec->name,
	                        NULL};
	job->m_uptime = wr_metrics_get(
	    reg, WR_METRIC_GAUGE, "weir_job_uptime_seconds",
	    "Time the job has been RUNNING since its last (re)start; 0 when "
	    "not running",
	    labels);
	jm_job_metrics_state(job, wr_mono_ms());
}

void
jm_job_metrics_drop(wr_metrics *reg, jm_job *job, int64_t grace)
{
	for (int c = 0; c < JM_RESTART_NCAUSES; c++) {
		wr_metrics_release(reg, job->m_restarts[c], grace);
		job->m_restarts[c] = NULL;
	}
	for (int s = 0; s <= JM_JOB_FINISHED; s++) {
		wr_metrics_release(reg, job->m_status[s], grace);
		job->m_status[s] = NULL;
	}
	wr_metrics_release(reg, job->m_uptime, grace);
	job->m_uptime = NULL;
}

void
jm_job_metrics_state(jm_job *job, int64_t now_ms)
{
	for (int s = 0; s <= JM_JOB_FINISHED; s++)
		wr_metric_set(job->m_status[s], s == (int)job->state);
	job->running_ms = job->state == JM_JOB_RUNNING ? now_ms : 0;
	jm_job_metrics_tick(job, now_ms);
}

void
jm_job_metrics_tick(jm_job *job, int64_t now_ms)
{
	wr_metric_set(job->m_uptime,
	              job->running_ms == 0
	                  ? 0.0
	                  : (double)(now_ms - job->running_ms) / 1000.0);
}

void
jm_job_metrics_restart(jm_job *job, enum jm_restart_cause cause)
{
	wr_metric_inc(job->m_restarts[cause]);
}
