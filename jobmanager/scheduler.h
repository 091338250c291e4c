/*
 * scheduler.h - where a job's tasks run: its slots, allocated from the
 * registry of TaskManagers, and the task -> slot placement.
 *
 * Flink's default slot sharing: slot i runs subtask i of every vertex, so
 * a job needs as many slots as its largest parallelism. Slots are spread
 * over the alive TaskManagers (each next slot on the one with the most
 * free), leaving out those a call just went unanswered to. All or
 * nothing. @thread main
 */
#ifndef JM_SCHEDULER_H
#define JM_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "tmreg.h"

struct jm_job;

/* Sizes job->slots for its plan and places every task (job->tasks, all
 * DEPLOYING) on them; nothing is allocated yet. */
void jm_sched_plan(struct jm_job *job);

/* Allocates job->nslots slots into job->slots. WR_EFULL when too few are
 * free: *free_slots says how many are; errbuf (may be NULL) gets the
 * user's message. */
int jm_sched_allocate(jm_tmreg *tms, struct jm_job *job, uint32_t *free_slots,
                      char *errbuf, size_t errlen);

/* Returns the job's slots, once (job->slots_held). */
void jm_sched_release(jm_tmreg *tms, struct jm_job *job);

#endif
