/*
 * jm_int.h - the JobManager's state, shared by its files (main loop, RPC
 * dispatch, REST). The main thread owns everything; REST handlers run on
 * nng's threads and touch only what is safe from any thread: the registry
 * and the snapshot take their own locks, commands go through the command
 * queue, the other fields are set before serving starts and never change.
 */
#ifndef JM_INT_H
#define JM_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster_config.h"
#include "wr_limits.h"
#include "job.h"
#include "policy.h"
#include "tmclients.h"
#include "tmreg.h"

struct wr_rpc_server;
struct wr_rpc_req;
struct wr_http_server;
struct wr_metrics;
struct wr_elector;
struct wr_etcd;
struct jm_ckpt_info;
struct jm_cmdq;
struct jm_snap;
struct jm_server;

/*
 * What the job state machine and the checkpoint coordinator send to
 * TaskManagers (job_rpc.c and ckpt_rpc.c queue them on tmclients; unit
 * tests put fakes here). Each returns at once: WR_OK when the call was
 * queued - its outcome comes back to jm_jobs_call_done - or why it could
 * not be. orphan: the cancel follows a deployment that got no answer.
 * leftover: a recovered job's task (jm_jobs_recover) is cancelled on a
 * TaskManager the previous JobManager may have left it running on.
 */
typedef struct jm_out {
	int (*deploy)(struct jm_server *jm, const jm_job *job,
	              const jm_task *t);
	int (*cancel)(struct jm_server *jm, const jm_job *job, const jm_task *t,
	              bool orphan);
	int (*leftover)(struct jm_server *jm, const jm_job *job,
	                const jm_tm *tm, const jm_task *t);
	int (*trigger)(struct jm_server *jm, const jm_job *job,
	               const jm_slot_ref *tm, const struct jm_ckpt_info *ck,
	               bool stop, bool drain);
	int (*notify)(struct jm_server *jm, const jm_job *job,
	              const jm_slot_ref *tm, uint64_t id);
} jm_out;

/* The real calls, on jm->tmc (job_rpc.c; the checkpoint ones are in
 * ckpt_rpc.c). */
extern const jm_out jm_out_rpc;
int jm_rpc_trigger_checkpoint(struct jm_server *jm, const jm_job *job,
                              const jm_slot_ref *tm,
                              const struct jm_ckpt_info *ck, bool stop,
                              bool drain);
int jm_rpc_checkpoint_complete(struct jm_server *jm, const jm_job *job,
                               const jm_slot_ref *tm, uint64_t id);

/* A TaskManager whose connection closed: its port is probed for a
 * while (jm_check_closed_pipes in main.c). */
typedef struct jm_tm_suspect {
	char id[WR_ADDR_BYTES];
	char rpc_address[WR_ADDR_BYTES];
	uint32_t pipe;
	int64_t until; /* monotonic */
} jm_tm_suspect;

/* Connections to the RPC port that closed, for the loop to look at. */
typedef struct jm_closed_pipes {
	pthread_mutex_t mu;
	uint32_t v[JM_CLOSED_PIPES_MAX]; /* @locks mu */
	int n;                           /* @locks mu */
	/* the loop's own */
	jm_tm_suspect suspects[JM_CLOSED_PIPES_MAX];
	int nsuspects;
} jm_closed_pipes;

typedef struct jm_server {
	wr_cluster_config cfg;
	jm_closed_pipes closed;
	jm_policy policy;  /* what a job may touch (security.allowed_*) */
	char instance[33]; /* changes on every start */
	/* The RPC URL others reach this JobManager at: jobmanager.advertise
	 * (its port defaulting to the one bound), else jobmanager.address.
	 * The HA identity and the leader address handed out. */
	char advertised[WR_ADDR_BYTES];
	char leader[WR_ADDR_BYTES]; /* the address clients should dial */
	/* This JobManager's epoch, on every message to TaskManagers (they
	 * refuse a lower one than they have seen): mode none, the job
	 * store's counter, one more on every start; 0 without a store. */
	uint64_t epoch;
	int64_t start_wall_ms;
	struct wr_rpc_server *rpc;
	struct wr_http_server *http;
	struct wr_metrics *metrics;
	jm_tmreg *tms;
	jm_jobs *jobs;
	const jm_out *out;
	jm_tmc *tmc;
	/* REST's ways to the loop: commands it runs, the jobs it publishes */
	struct jm_cmdq *cmdq;
	struct jm_snap *snap;
	/* Upgrades under way and recently done (upgrade.h). */
	struct jm_upgrades *upgrades;
	/* The checkpoint storage (checkpoints.storage), or NULL when it
	 * cannot be opened (logged at start). */
	struct wr_objstore *store;
	/* The job store (jobstore.h), NULL when the storage cannot be
	 * opened. */
	struct jm_jobstore *jobstore;
	/* High availability (ha.c): the elector and (mode etcd) its etcd
	 * client, this candidate's identity (ADDR#suffix); ha_event is the
	 * elector's last event for the loop (epoch > 0: won, -1: lost, 0:
	 * none); leading is set by the loop once it took over (mode none:
	 * at start). */
	struct wr_elector *elector;
	struct wr_etcd *etcd;
	char identity[WR_ADDR_BYTES + 20];
	_Atomic int64_t ha_event;
	atomic_bool leading;
} jm_server;

/* Answers one request. @thread main */
void jm_rpc_dispatch(jm_server *jm, struct wr_rpc_req *req);
/* Answers job requests (job_rpc.c); false if req is not one. */
bool jm_job_rpc_dispatch(jm_server *jm, struct wr_rpc_req *req);

/* Answers checkpoint acks and declines from tasks (ckpt_rpc.c). */
bool jm_ckpt_rpc_dispatch(jm_server *jm, struct wr_rpc_req *req);

/* Renders a job's checkpoint history as `weir checkpoints -o json` does
 * (the protobuf CheckpointList through ckpt_json.h). */
struct wr_json;
struct jm_ckpt_stats;
void jm_rpc_ckpt_list_json(struct wr_json *j, const struct jm_ckpt_info *v,
                           size_t n, const struct jm_ckpt_stats *st);

/* Writes the job's entry to the job store (jobstore.h), or removes it
 * once the job is terminal, so a later JobManager recovers it. Failures
 * are logged and returned (reason in err when not NULL). @thread main */
int jm_store_job(jm_server *jm, const jm_job *job, char *err, size_t errlen);

/* Recovers every job of the job store (a JobManager start, once jm->out
 * and jm->tmc exist: recovered jobs queue calls from the next turn on).
 * @thread main */
void jm_store_recover(jm_server *jm);

/* Registers the REST routes on jm->http (rest.c), and those under /jobs
 * (rest_jobs.c). */
int jm_rest_init(jm_server *jm);
int jm_rest_jobs_init(jm_server *jm);

/* REST helpers (rest_jobs.c): an {"errors": [msg]} response; the value of
 * a query parameter, percent-decoded (false if absent; "\x01" when it
 * does not decode). */
struct wr_http_req;
struct wr_http_resp;
void jm_rest_error(struct wr_http_resp *resp, int status, const char *msg);
bool jm_rest_query(const char *query, const char *key, char *out,
                   size_t outlen);

/* rest_flink.c: whether every query parameter of req is one of allowed
 * (NULL-terminated; NULL: none is), else false with a 400 in resp. */
bool jm_rest_query_only(const struct wr_http_req *req,
                        const char *const *allowed, struct wr_http_resp *resp);
/* Serves GET /jobs/{id}/{sub} for Flink's paths (plan, exceptions,
 * vertices/..., checkpoints/config, checkpoints/details/{n},
 * savepoints/{trigger-id}); false when sub is none of them. */
bool jm_rest_flink_job(jm_server *jm, const char *id, const char *sub,
                       const struct wr_http_req *req,
                       struct wr_http_resp *resp);
/* Flink's back-pressure level of a ratio: "ok" (<= 0.10), "low" (<= 0.5)
 * or "high". */
const char *jm_backpressure_level(double ratio);

#endif
