/*
 * cmd.h - the typed commands that change jobs (submit, cancel, savepoint
 * and stop, upgrade and its outcome), which RPC (job_rpc.c) and REST
 * (rest_jobs.c) both hand to the JobManager's loop, and the bounded queue REST
 * hands them through.
 *
 * RPC requests already run on the loop: they build a jm_cmd and call
 * jm_cmd_exec. REST handlers run on nng's threads: jm_cmdq_call queues the
 * command, wakes the loop, and waits a bounded time for the answer. A full
 * queue answers at once (WR_EFULL: 503), so no request waits behind
 * hundreds of others and none blocks heartbeats. What GETs read never goes
 * through here (snapshot.h).
 */
#ifndef JM_CMD_H
#define JM_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "wr_limits.h"

struct jm_server;

enum jm_cmd_kind {
	JM_CMD_SUBMIT,
	JM_CMD_CANCEL,
	JM_CMD_SAVEPOINT, /* also stop-with-savepoint (stop) */
	JM_CMD_UPGRADE,   /* starts an upgrade (upgrade.h) */
	JM_CMD_UPGRADE_STATUS,
};

typedef struct jm_cmd {
	enum jm_cmd_kind kind;
	/* in (the strings are owned by whoever built the command) */
	const char *job_id; /* cancel, savepoint, upgrade */
	const char *file;   /* submit, upgrade: the name in messages */
	const char *yaml;
	int parallelism;            /* 0 = none */
	const char *from_savepoint; /* NULL = none */
	bool allow_non_restored;
	const char *target_dir; /* savepoint, upgrade: NULL = default */
	bool stop, drain;
	int mode;            /* upgrade: enum jm_upgrade_mode */
	uint64_t upgrade_id; /* upgrade: out; upgrade status: in */
	/* out */
	int rv;
	char err[1024];
	char new_job_id[33];    /* submit */
	uint64_t ckpt_id;       /* savepoint */
	char url[WR_URL_BYTES]; /* savepoint; upgrade status: its state */
	/* upgrade status (new_job_id: the job running now; err: why it
	 * failed) */
	bool done, ok, rolled_back;
} jm_cmd;

/* Runs cmd: its rv and err (on failure) or results are set. A command that
 * changed a job publishes the snapshot before it returns, so a GET after
 * its answer sees the change. @thread main */
void jm_cmd_exec(struct jm_server *jm, jm_cmd *cmd);

typedef struct jm_cmdq jm_cmdq;

jm_cmdq *jm_cmdq_new(void);
/* Answers what is still queued with WR_ECLOSED. Accepts NULL. */
void jm_cmdq_free(jm_cmdq *q);

/* Runs cmd on the loop: WR_OK once it ran (cmd's results set), WR_EFULL
 * when JM_CMDQ_DEPTH commands wait already, WR_ETIMEDOUT when the loop
 * did not run it within JM_REST_CMD_TIMEOUT_MS (it may still run),
 * WR_ECLOSED when the JobManager stops. The strings cmd points to are
 * copied. @thread any but main */
int jm_cmdq_call(struct jm_server *jm, jm_cmd *cmd);

/* Runs up to JM_CMDQ_BATCH queued commands. Returns how many. @thread main */
int jm_cmdq_run(struct jm_server *jm);

#endif
