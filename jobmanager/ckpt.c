/*
 * ckpt.c - the checkpoint coordinator (being written).
 */
#include "ckpt.h"
#include "jm_int.h"

#include "err.h"

#include <stdio.h>

static const char *const jm_ckpt_statuses[] = {"IN_PROGRESS", "COMPLETED",
                                               "FAILED"};

const char *
jm_ckpt_status_name(enum jm_ckpt_status s)
{
	return jm_ckpt_statuses[s];
}

int
jm_jobs_savepoint(jm_jobs *jobs, const char *job_id, const char *target_dir,
                  bool stop, bool drain, uint64_t *id, char *url, size_t urllen,
                  char *errbuf, size_t errlen)
{
	(void)jobs, (void)job_id, (void)target_dir, (void)stop, (void)drain;
	(void)id, (void)url, (void)urllen;
	snprintf(errbuf, errlen, "savepoints are being written");
	return WR_ESTATE;
}

int
jm_jobs_checkpoints(jm_jobs *jobs, const char *job_id, const jm_ckpt_info **v,
                    size_t *n, jm_ckpt_stats *st, char *errbuf, size_t errlen)
{
	(void)jobs, (void)v, (void)n, (void)st;
	snprintf(errbuf, errlen, "no job %s", job_id);
	return WR_ENOENT;
}
