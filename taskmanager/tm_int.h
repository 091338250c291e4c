/*
 * tm_int.h - the TaskManager's state, shared by its files. The main thread
 * serves the TaskManager's own RPC endpoint (requests from the JobManager);
 * the link thread (jmlink.c) registers with the JobManager and heartbeats.
 * Fields below are set before either thread starts and then only read,
 * except those marked atomic or guarded by a mutex.
 */
#ifndef TM_INT_H
#define TM_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster_config.h"
#include "task.h"
#include "wr_limits.h"

struct wr_rpc_server;
struct wr_rpc_req;
struct wr_rpc_client;
struct wr_http_server;
struct wr_metrics;
struct wr_metric;
struct tm_shuffle;

typedef struct tm_server {
	wr_cluster_config cfg;
	char id[WR_ADDR_BYTES];
	char rpc_address[WR_ADDR_BYTES];  /* advertised */
	char data_address[WR_ADDR_BYTES]; /* advertised shuffle endpoint */
	char metrics_address[WR_ADDR_BYTES];
	uint32_t slots;
	int64_t start_wall_ms;
	struct wr_rpc_server *rpc;
	struct wr_http_server *http;
	struct wr_metrics *metrics;
	struct wr_metric *m_registered, *m_hb_failures, *m_registrations;
	struct wr_metric *m_slots_free, *m_slots_used;
	struct wr_metric *m_stale_epoch, *m_not_adopted;
	struct tm_shuffle *shuffle;
	struct tm_tasks *tasks;
	/* The JobManagers given (jobmanager.address, comma-separated: with
	 * HA every candidate) and a client of each; jm_cur indexes the one
	 * believed to lead, which the link thread moves (jmlink.c). For task
	 * state reports too: wr_rpc_call is thread-safe, so every task
	 * thread uses tm_jm_cli(). */
	char jm_addrs[WR_MAX_JOBMANAGERS][WR_ADDR_BYTES];
	struct wr_rpc_client *jm_clis[WR_MAX_JOBMANAGERS];
	size_t n_jm;
	atomic_size_t jm_cur;

	/* link thread */
	pthread_t link;
	pthread_mutex_t link_mu;
	pthread_cond_t link_cv;
	atomic_bool stop;
	atomic_bool registered;

	/* Fencing (tm_rpc.c): the highest leader epoch seen; a message
	 * with a lower one is refused. The stale epochs already logged (once
	 * per sender: a deposed leader is known by its epoch). */
	_Atomic uint64_t epoch;
	pthread_mutex_t stale_mu;
	uint64_t stale_logged[TM_STALE_EPOCHS_LOGGED];
	unsigned nstale_logged;
	/* Adoption (jmlink.c): the monotonic time the last exchange a
	 * JobManager confirmed was sent (it knew this TaskManager and said
	 * which tasks it keeps), and until when sinks may write: that time
	 * plus the JobManager's heartbeat timeout, before which it cannot
	 * have declared this TaskManager lost. */
	_Atomic int64_t confirmed_ms;
	_Atomic int64_t write_until_ms;
} tm_server;

/* True while sinks may write: a JobManager confirmed this TaskManager
 * less than its heartbeat timeout ago (by the monotonic clock, so a
 * process resumed after SIGSTOP knows at once). @thread any */
bool tm_sinks_open(tm_server *tm);

/* Cancels every task no JobManager adopted within
 * taskmanager.adoption_grace of the last confirmation. @thread main */
void tm_link_grace(tm_server *tm);

/* Checks an epoch from a JobManager (a request's or a reply's): a lower
 * one than the highest seen is refused (WR_EPERM, message in errbuf;
 * logged TM-STALE-EPOCH once per epoch, counted); a higher one becomes
 * the highest. @thread any */
int tm_epoch_check(tm_server *tm, uint64_t epoch, char *errbuf, size_t errlen);

/* Answers one request from the JobManager. @thread main */
void tm_rpc_dispatch(tm_server *tm, struct wr_rpc_req *req);

typedef struct tm_jm_view {
	char instance[64];
	int64_t heartbeat_interval_ms;
	int64_t heartbeat_timeout_ms;
	bool known;
} tm_jm_view;

/* The tasks a registration or heartbeat reports, and which of them the
 * JobManager's answer keeps. */
typedef struct tm_report {
	tm_task_ref tasks[TM_MAX_TASKS];
	bool keep[TM_MAX_TASKS];
	int n;
} tm_report;

/* Registers with the JobManager, reporting rep's tasks; rep->keep comes
 * back. @thread link */
int tm_rpc_register(tm_server *tm, struct wr_rpc_client *cli, int timeout_ms,
                    tm_report *rep, tm_jm_view *out, char *errbuf,
                    size_t errlen);
/* Sends one heartbeat reporting rep's tasks; out->known, out->instance
 * and rep->keep (when known) come back. @thread link */
int tm_rpc_heartbeat(tm_server *tm, struct wr_rpc_client *cli, int timeout_ms,
                     tm_report *rep, tm_jm_view *out, char *errbuf,
                     size_t errlen);

/* Reports a task's state to the JobManager ("RUNNING", "FINISHED",
 * "CANCELED", "FAILED"); failures are logged. @thread any */
void tm_report_task_state(tm_server *tm, const struct tm_task_spec *spec,
                          const char *state, const char *failure);

/* How long a task's snapshot took, ms: its alignment, the part that
 * held the task (sync: operators' snapshots, flushing the state cache,
 * opening the state view) and the part that ran beside it (async: the
 * state copy and its upload). */
typedef struct tm_ckpt_times {
	uint64_t align_ms, sync_ms, async_ms;
} tm_ckpt_times;

/* Acknowledges (decline == NULL) or declines checkpoint id for a task:
 * part holds its state handles and source offsets. @thread any */
struct wr_ckpt_meta;
int tm_report_checkpoint(tm_server *tm, const struct tm_task_spec *spec,
                         uint64_t id, const struct wr_ckpt_meta *part,
                         const tm_ckpt_times *times, uint64_t size_bytes,
                         const char *decline);

/* Starts and stops the link thread. */
int tm_link_start(tm_server *tm);
void tm_link_stop(tm_server *tm);

/* The client of the JobManager believed to lead. Any thread. */
static inline struct wr_rpc_client *
tm_jm_cli(tm_server *tm)
{
	return tm->jm_clis[atomic_load(&tm->jm_cur)];
}

/* Its address. Any thread. */
static inline const char *
tm_jm_addr(tm_server *tm)
{
	return tm->jm_addrs[atomic_load(&tm->jm_cur)];
}

#endif
