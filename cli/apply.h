/*
 * apply.h - `weir apply`'s plan: from the job files of a directory (the
 * desired state) and the jobs that run (the actual state) to what to do
 * with each. A pure function (apply_plan.c), unit-tested without a
 * cluster; upgrade.c reads the directory, asks the JobManager and carries
 * the plan out.
 */
#ifndef CLI_APPLY_H
#define CLI_APPLY_H

#include <stdbool.h>
#include <stddef.h>

/* One job file of the directory. */
typedef struct cli_apply_file {
	const char *path;
	const char *name;  /* its job's name; NULL: it did not validate */
	const char *hash;  /* wr_content_hash of its bytes */
	const char *error; /* name NULL: why (file:line:column: ...) */
} cli_apply_file;

/* One job of the cluster that has not ended (RUNNING, RESTARTING, ...). */
typedef struct cli_apply_job {
	const char *id, *name, *state;
	const char *spec_hash; /* "" from a JobManager that keeps none */
} cli_apply_job;

enum cli_apply_action {
	CLI_APPLY_START,   /* no job of that name runs */
	CLI_APPLY_UPGRADE, /* its file changed */
	CLI_APPLY_KEEP,    /* unchanged */
	CLI_APPLY_STOP,    /* --prune: runs, but no file declares it */
	CLI_APPLY_ERROR,   /* nothing done: why */
};

typedef struct cli_apply_step {
	enum cli_apply_action action;
	int file; /* index into the files; -1 for STOP and some ERRORs */
	int job;  /* index into the jobs; -1 when none */
	char why[512];
} cli_apply_step;

/*
 * The plan, one step per file in the order given, then the STOPs (with
 * prune): a file that did not validate is an ERROR (and no job is pruned
 * then: its name is unknown, it may be the one that would be); two files
 * of one name are both ERRORs; a name two running jobs share is an ERROR
 * (nothing done to either). Returns the number of steps; *out is heap
 * (free), one step per file and per job at most.
 */
size_t cli_apply_plan(const cli_apply_file *files, size_t nfiles,
                      const cli_apply_job *jobs, size_t njobs, bool prune,
                      cli_apply_step **out);

/* "start", "upgrade", "unchanged", "stop", "error". */
const char *cli_apply_action_name(enum cli_apply_action a);

#endif
