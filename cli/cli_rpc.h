/* cli_rpc.h - the CLI's requests, translated from/to protobuf in cli_rpc.c. */
#ifndef CLI_RPC_H
#define CLI_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wr_limits.h"

struct wr_rpc_client;

typedef struct cli_tm {
	char id[WR_ADDR_BYTES];
	char address[WR_ADDR_BYTES];
	char state[16];
	uint32_t slots_total, slots_free;
	uint64_t last_heartbeat_ms_ago;
} cli_tm;

typedef struct cli_cluster_info {
	char leader[WR_ADDR_BYTES];
	char role[16];  /* its role: leader|standby */
	uint64_t epoch; /* the leadership's; 0 when unknown */
	size_t n;
	cli_tm *tms; /* heap; cli_cluster_info_fini */
} cli_cluster_info;

int cli_rpc_cluster_info(struct wr_rpc_client *cli, int timeout_ms,
                         cli_cluster_info *out, char *errbuf, size_t errlen);
void cli_cluster_info_fini(cli_cluster_info *ci);

/* Asks the `weir local` admin endpoint to create a topic. */
int cli_rpc_create_topic(struct wr_rpc_client *cli, int timeout_ms,
                         const char *name, int partitions, char *errbuf,
                         size_t errlen);

/* Asks the `weir local` admin endpoint to delete a topic. */
int cli_rpc_delete_topic(struct wr_rpc_client *cli, int timeout_ms,
                         const char *name, char *errbuf, size_t errlen);

/* ---- jobs (weir run, list, info, cancel) ---- */

/* Longest job state name ("CANCELLING") and task state, NUL included. */
#define CLI_STATE_BYTES 16

typedef struct cli_job_summary {
	char id[WR_ID_BYTES];
	char *name; /* heap */
	char state[CLI_STATE_BYTES];
	uint64_t start_time_ms;
	uint64_t end_time_ms; /* 0 while the job runs */
	char spec_hash[17];   /* of its YAML; "" from an older JobManager */
} cli_job_summary;

typedef struct cli_job_list {
	size_t n;
	cli_job_summary *jobs; /* heap; cli_job_list_fini */
} cli_job_list;

typedef struct cli_subtask {
	uint32_t index;
	char state[CLI_STATE_BYTES];
	char taskmanager[WR_ADDR_BYTES]; /* "" until scheduled */
} cli_subtask;

typedef struct cli_vertex {
	char *id;   /* heap */
	char *name; /* heap; "" when the JobManager sent none */
	uint32_t parallelism;
	size_t nsubtasks;
	cli_subtask *subtasks; /* heap */
} cli_vertex;

typedef struct cli_job_info {
	cli_job_summary summary;
	char *failure; /* heap, or NULL when the job has not failed */
	bool has_last_checkpoint;
	uint64_t last_checkpoint_id;
	size_t nvertices;
	cli_vertex *vertices; /* heap; cli_job_info_fini */
} cli_job_info;

/* What `weir run` submits. Strings are borrowed for the call. */
typedef struct cli_submit {
	const char *job_yaml;
	const char *file_name;
	uint32_t parallelism;       /* 0 = as in the file */
	const char *from_savepoint; /* NULL = none */
	bool allow_non_restored_state;
} cli_submit;

/*
 * The job RPCs. Each returns WR_OK or the error of wr_rpc_call (an Error
 * reply's code with its message in errbuf, e.g. WR_ENOENT "no job ID"), or
 * WR_EPROTO for a reply of the wrong kind. On success the caller owns *out
 * and frees it with the matching _fini; on failure *out holds nothing to
 * free (fini is still safe).
 */
int cli_rpc_submit_job(struct wr_rpc_client *cli, int timeout_ms,
                       const cli_submit *req, char job_id[WR_ID_BYTES],
                       char *errbuf, size_t errlen);
int cli_rpc_list_jobs(struct wr_rpc_client *cli, int timeout_ms, bool all,
                      cli_job_list *out, char *errbuf, size_t errlen);
void cli_job_list_fini(cli_job_list *l);
int cli_rpc_job_info(struct wr_rpc_client *cli, int timeout_ms,
                     const char *job_id, cli_job_info *out, char *errbuf,
                     size_t errlen);
void cli_job_info_fini(cli_job_info *ji);
int cli_rpc_cancel_job(struct wr_rpc_client *cli, int timeout_ms,
                       const char *job_id, char *errbuf, size_t errlen);

/* ---- checkpoints (weir checkpoints, savepoint, stop) ---- */

typedef struct cli_ckpt {
	uint64_t id;
	char status[CLI_STATE_BYTES]; /* IN_PROGRESS COMPLETED FAILED */
	bool is_savepoint;
	uint64_t trigger_time_ms; /* wall clock */
	uint64_t duration_ms, size_bytes, alignment_ms;
	uint32_t acks, tasks;
	char *path;    /* heap; "" when the JobManager sent none */
	char *failure; /* heap, or NULL */
} cli_ckpt;

typedef struct cli_ckpt_list {
	uint64_t completed, failed, in_progress, restarts;
	uint64_t restored_id; /* 0: the job started without state */
	char *restored_path;  /* heap, or NULL */
	size_t n;
	cli_ckpt *v; /* heap, newest first */
	/* heap: the object of GET /jobs/{id}/checkpoints
	 * (common/storage/ckpt_json.h), which `weir checkpoints -o json` prints
	 */
	char *json;
} cli_ckpt_list;

/* The job's checkpoint history (CheckpointListRequest); errors as above
 * (WR_ENOENT: no such job). */
int cli_rpc_checkpoints(struct wr_rpc_client *cli, int timeout_ms,
                        const char *job_id, cli_ckpt_list *out, char *errbuf,
                        size_t errlen);
void cli_ckpt_list_fini(cli_ckpt_list *l);

/*
 * Triggers a savepoint (TriggerSavepoint) into dir (an absolute path or a
 * URL; NULL = the cluster's default); stop: stop-with-savepoint, drain:
 * the final watermark first. On WR_OK *id is its checkpoint id and path
 * where it is being written; it completes later (cli_rpc_checkpoints).
 * Errors as above (WR_ENOENT no job, WR_ESTATE not possible now).
 */
int cli_rpc_savepoint(struct wr_rpc_client *cli, int timeout_ms,
                      const char *job_id, const char *dir, bool stop,
                      bool drain, uint64_t *id, char *path, size_t pathlen,
                      char *errbuf, size_t errlen);

/* ---- upgrades (weir upgrade, weir apply) ---- */

typedef struct cli_upgrade_req {
	const char *job_id, *job_yaml, *file_name;
	const char *mode; /* savepoint last-state stateless; NULL = default */
	uint32_t parallelism; /* 0 = as in the file */
	bool allow_non_restored_state;
	const char *savepoint_dir; /* NULL = the cluster's default */
} cli_upgrade_req;

typedef struct cli_upgrade_status {
	uint64_t id;
	size_t nsteps;
	char **steps; /* heap */
	bool done, ok, rolled_back;
	char job_id[WR_ID_BYTES];     /* the job running now; "" */
	char savepoint[WR_URL_BYTES]; /* the state started from; "" */
	char *error;                  /* heap, or NULL */
} cli_upgrade_status;

/* Starts an upgrade the JobManager runs (UpgradeJob); *out holds its id
 * and first steps. Errors as above (WR_EINVAL the new file, WR_ESTATE not
 * now, with nothing changed). */
int cli_rpc_upgrade(struct wr_rpc_client *cli, int timeout_ms,
                    const cli_upgrade_req *req, cli_upgrade_status *out,
                    char *errbuf, size_t errlen);
/* Where upgrade id stands (UpgradeStatusRequest). */
int cli_rpc_upgrade_status(struct wr_rpc_client *cli, int timeout_ms,
                           uint64_t id, cli_upgrade_status *out, char *errbuf,
                           size_t errlen);
void cli_upgrade_status_fini(cli_upgrade_status *st);

#endif
