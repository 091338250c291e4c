/*
 * tm_int.h - the TaskManager's state, shared by its files. The main thread
 * serves the TaskManager's own RPC endpoint (requests from the JobManager);
 * the link thread (jmlink.c) registers with the JobManager and heartbeats.
 * Fields below are set before either thread starts and then only read,
 * except those marked atomic.
 */
#ifndef TM_INT_H
#define TM_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster_config.h"
#include "wr_limits.h"

struct wr_rpc_server;
struct wr_rpc_req;
struct wr_rpc_client;
struct wr_http_server;
struct wr_metrics;
struct wr_metric;
struct tm_shuffle;
struct tm_tasks;
struct tm_task_spec;

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
} tm_server;

/* Answers one request from the JobManager. @thread main */
void tm_rpc_dispatch(tm_server *tm, struct wr_rpc_req *req);

typedef struct tm_jm_view {
	char instance[64];
	int64_t heartbeat_interval_ms;
	int64_t heartbeat_timeout_ms;
	bool known;
} tm_jm_view;

/* Registers with the JobManager. @thread link */
int tm_rpc_register(tm_server *tm, struct wr_rpc_client *cli, int timeout_ms,
                    tm_jm_view *out, char *errbuf, size_t errlen);
/* Sends one heartbeat; out->known and out->instance come back.
 * @thread link */
int tm_rpc_heartbeat(tm_server *tm, struct wr_rpc_client *cli, int timeout_ms,
                     tm_jm_view *out, char *errbuf, size_t errlen);

/* Reports a task's state to the JobManager ("RUNNING", "FINISHED",
 * "CANCELED", "FAILED"); failures are logged. @thread any */
void tm_report_task_state(tm_server *tm, const struct tm_task_spec *spec,
                          const char *state, const char *failure);

/* Acknowledges (decline == NULL) or declines checkpoint id for a task:
 * part holds its state handles and source offsets. @thread any */
struct wr_ckpt_meta;
int tm_report_checkpoint(tm_server *tm, const struct tm_task_spec *spec,
                         uint64_t id, const struct wr_ckpt_meta *part,
                         uint64_t alignment_ms, uint64_t size_bytes,
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
