/*
 * jm_int.h - the JobManager's state, shared by its files (main loop, RPC
 * dispatch, REST). The main thread owns everything; REST handlers run on
 * nng's threads and read only what is safe from any thread (the registry
 * takes its own lock; the other fields are set before serving starts and
 * never change).
 */
#ifndef JM_INT_H
#define JM_INT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster_config.h"
#include "wr_limits.h"
#include "job.h"
#include "tmreg.h"

struct wr_rpc_server;
struct wr_rpc_req;
struct wr_http_server;
struct wr_metrics;
struct wr_rpc_client;

typedef struct jm_tm_client {
	char address[WR_ADDR_BYTES];
	struct wr_rpc_client *cli;
} jm_tm_client;

typedef struct jm_server {
	wr_cluster_config cfg;
	char instance[33];          /* changes on every start */
	char leader[WR_ADDR_BYTES]; /* the address clients should dial */
	/* The leader's epoch, on every message to TaskManagers (they refuse
	 * a lower one than they have seen); 0 = none, until HA sets it. */
	uint64_t epoch;
	int64_t start_wall_ms;
	struct wr_rpc_server *rpc;
	struct wr_http_server *http;
	struct wr_metrics *metrics;
	jm_tmreg *tms;
	jm_jobs *jobs;
	jm_tm_client *clients;
	size_t nclients;
	/* The REST handlers reach the main thread through RPC to this
	 * JobManager's own endpoint (thread-safe client). */
	struct wr_rpc_client *self;
	char self_address[WR_ADDR_BYTES];
	/* The checkpoint storage (checkpoints.storage), or NULL when it
	 * cannot be opened (logged at start). */
	struct wr_objstore *store;
} jm_server;

/* Answers one request. @thread main */
void jm_rpc_dispatch(jm_server *jm, struct wr_rpc_req *req);
/* Answers job requests (job_rpc.c); false if req is not one. */
bool jm_job_rpc_dispatch(jm_server *jm, struct wr_rpc_req *req);

/* Answers checkpoint acks and declines from tasks (ckpt_rpc.c). */
bool jm_ckpt_rpc_dispatch(jm_server *jm, struct wr_rpc_req *req);

/* Sends TriggerCheckpoint to every TaskManager running a source task of
 * job (WR_OK when all took it), CheckpointComplete to every TaskManager
 * running a task of it (failures logged). @thread main */
struct jm_ckpt_info;
int jm_rpc_trigger_checkpoint(jm_server *jm, const jm_job *job,
                              const struct jm_ckpt_info *ck, bool stop,
                              bool drain, char *errbuf, size_t errlen);
void jm_rpc_checkpoint_complete(jm_server *jm, const jm_job *job, uint64_t id);

/* False for a TaskManager that missed two heartbeats: the JobManager's
 * loop does not call it (each call could wait for its timeout). */
bool jm_tm_responsive(jm_server *jm, const char *tm_id);
/* False once a call to the TaskManager went unanswered, until its next
 * heartbeat (silence alone does not count). */
bool jm_tm_reachable(jm_server *jm, const char *tm_id);
/* Records a call's outcome: no answer marks the TaskManager unreachable
 * (jm_tmreg_set_unreachable). */
void jm_tm_call_failed(jm_server *jm, const char *tm_id, int rv);

/* Sends DeployTask / CancelTask to the task's TaskManager. @thread main */
int jm_rpc_deploy_task(jm_server *jm, const jm_job *job, const jm_task *t,
                       char *errbuf, size_t errlen);
int jm_rpc_cancel_task(jm_server *jm, const jm_job *job, const jm_task *t);

/* wr_rpc_call to a TaskManager, with env stamped with jm->epoch: the one
 * way the JobManager sends requests to TaskManagers. @thread main */
struct Weir__Envelope;
struct wr_msg;
int jm_tm_call(jm_server *jm, struct wr_rpc_client *cli,
               struct Weir__Envelope *env, int timeout_ms,
               struct wr_msg **reply, char *errbuf, size_t errlen);

/* The client for a TaskManager's rpc address (created on first use).
 * @thread main */
struct wr_rpc_client *jm_tm_client_get(jm_server *jm, const char *address);

/* Writes the job's graph and status to the checkpoint storage
 * (<storage>/<job-id>/job.yaml and status.json), so a later JobManager can
 * resume it. Failures are logged, not fatal. @thread main */
void jm_store_job(jm_server *jm, const jm_job *job);

/* Registers the REST routes on jm->http (rest.c), and those under /jobs
 * (rest_jobs.c). */
int jm_rest_init(jm_server *jm);
int jm_rest_jobs_init(jm_server *jm);

#endif
