/*
 * apply_plan.c - `weir apply`'s plan from desired files and running jobs
 * (apply.h); no I/O.
 */
#include "apply.h"

#include "mem.h"

#include <stdio.h>
#include <string.h>

const char *
cli_apply_action_name(enum cli_apply_action a)
{
	static const char *const names[] = {"start", "upgrade", "unchanged",
	                                    "stop", "error"};
	return names[a];
}

/* How many running jobs are named name; *first the index of the first. */
static int
cli_apply_jobs_named(const cli_apply_job *jobs, size_t njobs, const char *name,
                     int *first)
{
	int n = 0;
	*first = -1;
	for (size_t i = 0; i < njobs; i++)
		if (strcmp(jobs[i].name, name) == 0) {
			if (n++ == 0)
				*first = (int)i;
		}
	return n;
}

/* The other file declaring the same name, or -1. */
static int
cli_apply_dup_file(const cli_apply_file *files, size_t nfiles, size_t i)
{
	for (size_t k = 0; k < nfiles; k++)
		if (k != i && files[k].name != NULL &&
		    strcmp(files[k].name, files[i].name) == 0)
			return (int)k;
	return -1;
}

/* The step of file i. */
static void
cli_apply_file_step(const cli_apply_file *files, size_t nfiles, size_t i,
                    const cli_apply_job *jobs, size_t njobs, cli_apply_step *s)
{
	const cli_apply_file *f = &files[i];
	s->file = (int)i;
	s->job = -1;
	if (f->name == NULL) {
		s->action = CLI_APPLY_ERROR;
		snprintf(s->why, sizeof(s->why), "%s",
		         f->error ? f->error : "the file does not validate");
		return;
	}
	int dup = cli_apply_dup_file(files, nfiles, i);
	if (dup >= 0) {
		s->action = CLI_APPLY_ERROR;
		snprintf(s->why, sizeof(s->why),
		         "%s: job name '%s' is declared by %s too", f->path,
		         f->name, files[dup].path);
		return;
	}
	int j, n = cli_apply_jobs_named(jobs, njobs, f->name, &j);
	if (n > 1) {
		s->action = CLI_APPLY_ERROR;
		snprintf(s->why, sizeof(s->why),
		         "%d running jobs are named '%s' (%s, ...): cancel all "
		         "but one (weir list)",
		         n, f->name, jobs[j].id);
		return;
	}
	s->job = j;
	if (n == 0)
		s->action = CLI_APPLY_START;
	else if (strcmp(jobs[j].spec_hash, f->hash) == 0)
		s->action = CLI_APPLY_KEEP;
	else
		s->action = CLI_APPLY_UPGRADE;
}

/* Whether job j is claimed by a file (so not pruned), or its name is one
 * the plan could not settle. */
static bool
cli_apply_claimed(const cli_apply_file *files, size_t nfiles,
                  const cli_apply_job *job)
{
	for (size_t k = 0; k < nfiles; k++)
		if (files[k].name != NULL &&
		    strcmp(files[k].name, job->name) == 0)
			return true;
	return false;
}

size_t
cli_apply_plan(const cli_apply_file *files, size_t nfiles,
               const cli_apply_job *jobs, size_t njobs, bool prune,
               cli_apply_step **out)
{
	cli_apply_step *v = wr_xcalloc(nfiles + njobs + 1, sizeof(*v));
	size_t n = 0;
	bool all_valid = true;
	for (size_t i = 0; i < nfiles; i++) {
		cli_apply_file_step(files, nfiles, i, jobs, njobs, &v[n++]);
		all_valid = all_valid && files[i].name != NULL;
	}
	for (size_t i = 0; prune && all_valid && i < njobs; i++) {
		if (cli_apply_claimed(files, nfiles, &jobs[i]))
			continue;
		int first, same = cli_apply_jobs_named(jobs, njobs,
		                                       jobs[i].name, &first);
		cli_apply_step *s = &v[n++];
		s->file = -1;
		s->job = (int)i;
		s->action = CLI_APPLY_STOP;
		if (same > 1)
			snprintf(s->why, sizeof(s->why),
			         "one of %d running jobs named '%s'", same,
			         jobs[i].name);
	}
	*out = v;
	return n;
}
