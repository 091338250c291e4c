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
#include <stdint.h>

#include "cluster_config.h"
#include "wr_limits.h"
#include "tmreg.h"

struct wr_rpc_server;
struct wr_rpc_req;
struct wr_http_server;
struct wr_metrics;

typedef struct jm_server {
	wr_cluster_config cfg;
	char instance[33];          /* changes on every start */
	char leader[WR_ADDR_BYTES]; /* the address clients should dial */
	int64_t start_wall_ms;
	struct wr_rpc_server *rpc;
	struct wr_http_server *http;
	struct wr_metrics *metrics;
	jm_tmreg *tms;
} jm_server;

/* Answers one request. @thread main */
void jm_rpc_dispatch(jm_server *jm, struct wr_rpc_req *req);

/* Registers the REST routes on jm->http. */
int jm_rest_init(jm_server *jm);

#endif
