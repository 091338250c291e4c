/*
 * scheduler.c - slots for a job's tasks (scheduler.h).
 */
#include "scheduler.h"

#include "job.h"

#include "err.h"
#include "mem.h"

#include <stdio.h>

void
jm_sched_plan(jm_job *job)
{
	const wr_plan *p = job->plan;
	job->nslots = wr_plan_slots_needed(p);
	job->slots = wr_xcalloc((size_t)job->nslots, sizeof(jm_slot_ref));
	job->ntasks = 0;
	for (int v = 0; v < p->nvertices; v++)
		job->ntasks += p->vertices[v].parallelism;
	job->tasks = wr_xcalloc((size_t)job->ntasks, sizeof(jm_task));
	int k = 0;
	for (int v = 0; v < p->nvertices; v++)
		for (int s = 0; s < p->vertices[v].parallelism; s++) {
			jm_task *t = &job->tasks[k++];
			t->vertex = v;
			t->subtask = s;
			t->slot = &job->slots[s]; /* slot sharing */
			t->state = JM_TASK_DEPLOYING;
		}
}

int
jm_sched_allocate(jm_tmreg *tms, jm_job *job, uint32_t *free_slots,
                  char *errbuf, size_t errlen)
{
	*free_slots = 0;
	int rv = jm_tmreg_allocate(tms, job->nslots, job->slots, free_slots);
	if (rv == WR_OK) {
		job->slots_held = true;
		return WR_OK;
	}
	if (errbuf != NULL) {
		jm_tmreg_totals t = jm_tmreg_get_totals(tms);
		snprintf(errbuf, errlen,
		         "job '%s' needs %d slots but only %u are free (%u "
		         "TaskManagers, %u slots in all): add TaskManagers or "
		         "lower the parallelism",
		         job->spec->name, job->nslots, *free_slots, t.alive,
		         t.slots_total);
	}
	return rv;
}

void
jm_sched_release(jm_tmreg *tms, jm_job *job)
{
	if (!job->slots_held)
		return;
	for (int i = 0; i < job->nslots; i++)
		jm_tmreg_release(tms, &job->slots[i]);
	job->slots_held = false;
}
