/*
 * upgrade.h - upgrading a running job to a new version of its job file:
 * the one implementation behind `weir upgrade`, `weir apply` (through the
 * UpgradeJob RPC) and POST /jobs/{id}/upgrade.
 *
 * An upgrade is a small state machine the loop advances every turn; it
 * never waits. Modes (as the Flink Kubernetes Operator's upgradeMode):
 *   savepoint   stop the job with a savepoint, start the new version from it;
 *   last-state  cancel the job, start the new version from its newest
 *               completed checkpoint (a job too unhealthy for a savepoint;
 *               checkpoints are never deleted by a cancel, ckpt.c);
 *   stateless   cancel the job, start the new version without state.
 * The new version counts as running once every task runs and it completed
 * a checkpoint (or, without checkpointing, once every task runs). If it
 * cannot be submitted, fails or restarts before that, or does not get
 * there in time, it is cancelled and the old version - the YAML, -p and
 * allow-non-restored-state the JobManager kept with the job - starts
 * again from the same state: rolled back. Each step is recorded as it
 * happens, for the client to print.
 *
 * Upgrades live in this JobManager's memory: one that a JobManager
 * failover interrupts is lost (both jobs are in the job store, so what
 * ran keeps running; the client reports the upgrade unknown).
 *
 * @thread main, like job.c.
 */
#ifndef JM_UPGRADE_H
#define JM_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jm_server;

enum jm_upgrade_mode {
	JM_UPGRADE_SAVEPOINT,
	JM_UPGRADE_LAST_STATE,
	JM_UPGRADE_STATELESS,
};

/* "savepoint", "last-state", "stateless" (NULL or "": savepoint); false
 * for anything else. */
bool jm_upgrade_mode_parse(const char *s, enum jm_upgrade_mode *out);

typedef struct jm_upgrade_req {
	const char *job_id;
	const char *file; /* the new version: name for messages */
	const char *yaml;
	int parallelism; /* 0 = as in the file */
	bool allow_non_restored;
	enum jm_upgrade_mode mode;
	const char *savepoint_dir; /* NULL or "" = the cluster's default */
} jm_upgrade_req;

enum jm_upgrade_phase {
	JM_UP_STOPPING,   /* savepoint: waiting for it and the job to end */
	JM_UP_CANCELLING, /* last-state, stateless: waiting for the cancel */
	JM_UP_STARTING,   /* the new version: waiting for it to run */
	JM_UP_ABORTING,   /* the new version failed: waiting for its cancel */
	JM_UP_DONE,
};

typedef struct jm_upgrade {
	uint64_t id;
	enum jm_upgrade_mode mode;
	enum jm_upgrade_phase phase;
	char old_id[33], new_id[33];
	char job_id[33]; /* the job running now: new, or rolled back; "" */
	/* the new version, and the old one as the JobManager kept it */
	char *file, *yaml, *old_file, *old_yaml;
	int parallelism, old_parallelism;
	bool allow_non_restored, old_allow_non_restored;
	char *savepoint_dir;
	uint64_t sp_ckpt_id; /* savepoint mode: its checkpoint id */
	char *state_url;     /* what both versions start from; NULL */
	char *why;           /* the new version did not run: why */
	int64_t deadline_ms; /* monotonic: the phase gives up then */
	int64_t done_ms;     /* monotonic */
	bool ok, rolled_back;
	char *error; /* done and not ok: the message for the user */
	char **steps;
	size_t nsteps;
} jm_upgrade;

typedef struct jm_upgrades jm_upgrades;

jm_upgrades *jm_upgrades_new(void);
void jm_upgrades_free(jm_upgrades *u);

/* Checks the request and takes the first step. WR_OK with *id the
 * upgrade's (follow it with jm_upgrade_find); errors, with nothing
 * changed: WR_ENOENT no such job, WR_EINVAL a new job file that does not
 * parse (file:line:column), WR_ESTATE the job cannot be upgraded now (an
 * upgrade of it runs, no savepoint possible, no checkpoint to start
 * from). */
int jm_upgrade_start(struct jm_server *jm, const jm_upgrade_req *r,
                     uint64_t *id, char *errbuf, size_t errlen);

/* Advances every upgrade; forgets those done JM_UPGRADE_KEEP_MS ago. */
void jm_upgrades_tick(struct jm_server *jm, int64_t now_ms);

/* The upgrade id, or NULL (never started here, or forgotten). */
const jm_upgrade *jm_upgrade_find(struct jm_server *jm, uint64_t id);

#endif
